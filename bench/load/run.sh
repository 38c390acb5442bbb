#!/usr/bin/env bash
# bench/load: a cold load of the web UI on a throttled link in headless Chromium.
# Builds the release server and the UI, runs, and writes docs/benchmarks.md's section.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d frontend/e2e/node_modules/playwright-core ]; then
    npm ci --prefix frontend/e2e --no-audit --no-fund
fi
bash scripts/build-ui.sh
cargo build --release -p taskgate
python3 bench/load/load.py "$@"
