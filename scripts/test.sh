#!/usr/bin/env bash
# Runs every Taskgate test, on SQLite and on PostgreSQL.
#
# First installs whatever the tests need and is missing (cargo-nextest, Python's requests and aiosmtpd,
# OpenSSH, PostgreSQL, Chromium, Node.js and the browser test's npm packages), builds the web UI,
# starts PostgreSQL on 127.0.0.1:5432 when it is down, then checks formatting and lints and
# runs all tests with cargo-nextest from one shared target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

say "tools"
if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi
if ! python3 -c 'import requests' >/dev/null 2>&1; then
    say "installing Python requests (for the CODO script test)"
    python3 -m pip install --quiet requests || apt_install python3-requests
fi
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
    say "installing schemathesis (the adversarial pass against the served OpenAPI document)"
    python3 -m pip install --quiet 'schemathesis==4.32.5'
fi
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    say "installing Python aiosmtpd (the mail tests' SMTP server)"
    python3 -m pip install --quiet aiosmtpd || apt_install python3-aiosmtpd
fi

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    say "installing OpenSSH (executor tests start their own sshd on loopback)"
    apt_install openssh-server openssh-client
fi

if ! command -v busybox >/dev/null 2>&1 || ! command -v zsh >/dev/null 2>&1 || ! command -v mksh >/dev/null 2>&1; then
    say "installing busybox, zsh and mksh (the placeholder escaping is proved under each shell)"
    apt_install busybox zsh mksh
fi

# Test hosts whose /bin/sh and login shell are dash, bash or busybox ash: the executor's
# kill and quoting are proved under each (busybox runs as `ash` through a symlink).
as_root mkdir -p /usr/local/lib/taskgate-test
as_root ln -sf /usr/bin/busybox /usr/local/lib/taskgate-test/ash
for pair in dash:/usr/bin/dash bash:/usr/bin/bash ash:/usr/local/lib/taskgate-test/ash; do
    name="taskgate-sh-${pair%%:*}"
    if ! id "$name" >/dev/null 2>&1; then
        say "creating the account $name (login shell ${pair#*:})"
        as_root useradd --create-home --shell "${pair#*:}" "$name"
    fi
    # No password (key logins only), but not locked: sshd refuses locked accounts.
    as_root usermod -p '*' "$name"
done

if ! id taskgate-ssh-test >/dev/null 2>&1; then
    say "creating the account taskgate-ssh-test (password login tests against the test sshd)"
    as_root useradd --create-home --shell /bin/bash taskgate-ssh-test
    echo 'taskgate-ssh-test:Tg-ssh-test-pass-1' | as_root chpasswd
fi

if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium (the web UI test drives it)"
    apt_install chromium
fi
if ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then
    say "installing a Chinese font (the Chinese pages' screenshots are read by people)"
    apt_install fonts-wqy-microhei fontconfig
fi
if ! command -v node >/dev/null 2>&1; then
    say "installing Node.js (it runs the browser test and wasm-opt)"
    apt_install nodejs
fi
if ! command -v npm >/dev/null 2>&1; then
    # NodeSource's nodejs ships npm; Debian's does not.
    apt_install npm
fi
if [ ! -d frontend/e2e/node_modules/playwright-core ]; then
    say "installing the browser test's npm packages (playwright-core, binaryen)"
    npm ci --prefix frontend/e2e --no-audit --no-fund || npm install --prefix frontend/e2e --no-audit --no-fund
fi

say "web UI bundle (static/pkg)"
bash scripts/build-ui.sh

say "PostgreSQL on 127.0.0.1:5432"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql postgresql-client
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
fi
if ! psql "$TEST_POSTGRES_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
    # A fresh Debian cluster asks for a password on TCP: give the postgres role one.
    as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    export TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
    psql "$TEST_POSTGRES_URL" -qtAc 'SELECT 1' >/dev/null
fi
echo "using $TEST_POSTGRES_URL"

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --exclude taskgate-ui --all-targets -- -D warnings
# The UI only builds for the browser.
cargo clippy -p taskgate-ui --target wasm32-unknown-unknown -- -D warnings

say "tests (SQLite and PostgreSQL, and the web UI in Chromium)"
status=0
cargo nextest run --workspace --exclude taskgate-ui --profile ci || status=$?

# Every check schemathesis has, against the real server and its served OpenAPI document:
# any 5xx, schema violation, crash or panic fails the build (reports in
# test-artifacts/schemathesis/). Runs after the tests even when some failed, so that one
# run shows both.
say "adversarial pass: schemathesis against the served OpenAPI document"
cargo build -p taskgate --bin taskgate
python3 scripts/api_fuzz.py || status=$?
exit "$status"
