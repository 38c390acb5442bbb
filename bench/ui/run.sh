#!/usr/bin/env bash
# bench/ui: the task page watched in headless Chromium on a live run of N loopback hosts,
# beside a bare page receiving the same event stream. Installs what it needs (sshd,
# Chromium, playwright-core), builds the release server and the UI, runs, and writes its
# figures to docs/benchmarks.md. Sizes: --sizes 1000,5000 (the default).
set -euo pipefail
cd "$(dirname "$0")/../.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/bin/chromium ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq openssh-server openssh-client chromium >/dev/null
fi
if ! id taskgate-bench >/dev/null 2>&1; then
    # A plain /bin/sh login, so that no shell start-up file is timed.
    as_root useradd --create-home --shell /bin/sh taskgate-bench
    as_root usermod -p '*' taskgate-bench
fi
if [ ! -d frontend/e2e/node_modules/playwright-core ]; then
    npm ci --prefix frontend/e2e --no-audit --no-fund
fi
bash scripts/build-ui.sh
cargo build --release -p taskgate
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
python3 bench/ui/ui.py "$@"
