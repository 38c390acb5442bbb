#!/usr/bin/env bash
# bench/biglog: server memory while a step prints a gigabyte. Writes docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p taskgate
python3 bench/biglog/biglog.py "$@"
