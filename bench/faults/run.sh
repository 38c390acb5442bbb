#!/usr/bin/env bash
# bench/faults: kill -9 during a burst (SQLite, PostgreSQL with two instances) and a
# frozen instance (PostgreSQL). Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and psql.
# Builds the release binary and writes its figures to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p taskgate --bin taskgate
python3 bench/faults/faults.py --command "bash bench/faults/run.sh $*" "$@"
