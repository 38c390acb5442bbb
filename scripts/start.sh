#!/usr/bin/env bash
# Builds and starts Taskgate: the server and its web UI, with SQLite under ./data/.
# Prints the URL and how to log in. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building the web UI"
bash scripts/build-ui.sh
echo "==> building Taskgate (release; the first build takes several minutes)"
cargo build --release -p taskgate
echo "==> starting on ${TASKGATE_BIND:-127.0.0.1:8080}"
exec ./target/release/taskgate serve
