#!/usr/bin/env bash
# bench/fanout: Taskgate vs parallel-ssh vs ansible-playbook on N loopback hosts.
# Installs what it needs (pssh, ansible-core in bench/.venv, openssh-server), builds the
# release binary, runs, and writes its figures to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v parallel-ssh >/dev/null || [ ! -x /usr/sbin/sshd ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pssh openssh-server openssh-client >/dev/null
fi
if ! id taskgate-bench >/dev/null 2>&1; then
    # The benchmark logs in with a plain /bin/sh so that no shell start-up file is timed.
    as_root useradd --create-home --shell /bin/sh taskgate-bench
    # '*': no password, yet not locked (sshd refuses even key logins to locked accounts).
    as_root usermod -p '*' taskgate-bench
fi
if [ ! -x bench/.venv/bin/ansible-playbook ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q ansible-core==2.19.14
fi
cargo build --release -p taskgate
# Many connections at once need many file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
python3 bench/fanout/fanout.py "$@"
