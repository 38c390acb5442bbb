#!/usr/bin/env python3
"""The adversarial pass of the test command: schemathesis against a real Taskgate.

Starts the `taskgate` binary on a free loopback port with a fresh SQLite database, creates
a few objects for the fuzzer to find, then runs `st run` with every check against the
served OpenAPI document (settings in scripts/schemathesis.toml). Any 5xx, schema
violation or crash fails the run; the server's log is kept beside the reports, and the
server must still answer /healthz afterwards.

    python3 scripts/api_fuzz.py [--binary target/debug/taskgate] [--report-dir DIR]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_PASSWORD = "fuzz-admin-password-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def must(answer, status=(200, 201)):
    code, body = answer
    if code not in status:
        sys.exit(f"fixture setup failed: {code} {body}")
    return body


def wait_healthy(base, server, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"taskgate exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("taskgate did not answer /healthz in time")


def fixtures(base):
    """Objects with known ids, so that `{id}` paths reach real rows. Templates run only
    `local` steps with fixed bodies: fuzzed arguments reach a shell (quoted), fuzzed
    shell text never does, and nothing connects anywhere."""
    admin = must(call(base, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD}))
    session = admin["token"]
    # The fuzzer authenticates with an API token: it survives the fuzzer changing the
    # admin's password (which ends sessions).
    token = must(call(base, "POST", "/api/v1/tokens", session, {"name": "fuzzer"}))["token"]
    must(call(base, "POST", "/api/v1/users", token,
              {"username": "olga", "password": "olga-password-1", "role": "operator"}))
    olga = must(call(base, "POST", "/api/v1/auth/login", body={"username": "olga", "password": "olga-password-1"}))
    operator_token = must(call(base, "POST", "/api/v1/tokens", olga["token"], {"name": "fuzzer"}))["token"]
    must(call(base, "POST", "/api/v1/aliases", token, {"key": "TAG", "label": "Tag", "default": "v1"}))
    cmd = must(call(base, "POST", "/api/v1/commands", token, {"name": "report", "body": "echo report {{ TAG }}"}))
    tpl = must(call(base, "POST", "/api/v1/templates", token, {
        "name": "local report",
        "steps": [{"name": "report", "group": "local", "command_id": cmd["id"]},
                  {"name": "hold", "group": "local", "script": "true", "trigger": "manual"}],
    }))
    # And one that takes no parameter: what is submitted of it needs no argument, whatever
    # the fuzzer does to the aliases.
    must(call(base, "POST", "/api/v1/templates", token, {
        "name": "local noop", "steps": [{"name": "noop", "group": "local", "script": "true"}],
    }))
    cred = must(call(base, "POST", "/api/v1/credentials", token,
                     {"name": "pw", "kind": "password", "secret": "not-a-real-password"}))
    must(call(base, "POST", "/api/v1/hosts", token, {
        "name": "web-1", "address": "127.0.0.1", "port": 9, "user": "deploy",
        "credential_id": cred["id"], "host_key_fingerprint": "SHA256:" + "A" * 43,
    }))
    # A task that ran, one waiting for approval and one due far ahead.
    ran = must(call(base, "POST", "/api/v1/tasks", token, {"template_id": tpl["id"], "schedule": "ready"}))
    must(call(base, "POST", "/api/v1/tasks", token, {"template_id": tpl["id"], "schedule": "new"}))
    must(call(base, "POST", "/api/v1/tasks", token,
              {"template_id": tpl["id"], "schedule": "ready", "exec_time": "2035-01-01 00:00:00"}))
    must(call(base, "POST", "/api/v1/schedules", token, {
        "name": "nightly", "cron": "30 2 * * *", "timezone": "UTC", "template_id": tpl["id"], "schedule": "new",
    }))
    must(call(base, "POST", "/api/v1/gitlab/rules", token, {
        "name": "qa", "project": "group/app", "tag_pattern": "^qa-", "template_id": tpl["id"],
        "schedule": "new", "secret": "fuzz-webhook-secret-0123",
    }))
    # Let the first task reach its manual step, so run actions find a live run.
    for _ in range(100):
        run = must(call(base, "GET", f"/api/v1/tasks/{ran['id']}/run", token))
        if any(p["status"] == "waiting" for p in run["pairs"]):
            break
        time.sleep(0.1)
    return token, operator_token


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "taskgate"))
    parser.add_argument("--report-dir", default=os.path.join(ROOT, "test-artifacts", "schemathesis"))
    args = parser.parse_args()
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        sys.exit("schemathesis is not installed: python3 -m pip install schemathesis")
    # The module, not the `st` script: a fresh pip install may not be on PATH yet.
    st = [sys.executable, "-m", "schemathesis.cli"]
    shutil.rmtree(args.report_dir, ignore_errors=True)
    os.makedirs(args.report_dir)
    work = tempfile.mkdtemp(prefix="taskgate-fuzz-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ,
               TASKGATE_BIND=f"127.0.0.1:{port}",
               DATABASE_URL=f"sqlite://{work}/taskgate.db",
               TASKGATE_DATA_DIR=work,
               TASKGATE_ADMIN_PASSWORD=ADMIN_PASSWORD,
               TASKGATE_LOGIN_MAX_FAILURES="1000",
               RUST_LOG="warn")
    log_path = os.path.join(args.report_dir, "server.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen([args.binary, "serve", "--static-dir", os.path.join(ROOT, "static")],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    code = 1
    try:
        wait_healthy(base, server)
        token, operator_token = fixtures(base)
        started = time.monotonic()
        result = subprocess.run([
            *st, "--config-file", os.path.join(ROOT, "scripts", "schemathesis.toml"), "--no-color", "run",
            f"{base}/api/openapi.json",
            "--report", "junit,ndjson", "--report-dir", args.report_dir,
        ], env=dict(os.environ, TASKGATE_FUZZ_TOKEN=token, TASKGATE_FUZZ_OPERATOR_TOKEN=operator_token,
                    SCHEMATHESIS_HOOKS=os.path.join(ROOT, "scripts", "schemathesis_hooks.py")))
        code = result.returncode
        print(f"schemathesis finished in {time.monotonic() - started:.0f} s with exit code {code}")
        if server.poll() is not None:
            print(f"taskgate crashed during the run (exit {server.returncode}); see {log_path}")
            code = code or 1
        else:
            wait_healthy(base, server, seconds=10)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)
    with open(log_path) as f:
        panics = [line for line in f if "panicked" in line]
    if panics:
        print("taskgate panicked during the run:\n" + "".join(panics[:10]))
        code = code or 1
    sys.exit(code)


if __name__ == "__main__":
    main()
