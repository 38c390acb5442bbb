#!/usr/bin/env python3
"""bench/accept: how many tasks a second the server accepts, durable before each answer.
Concurrent clients (bench/accept/accept.mjs, Node.js, kept-alive connections) post tasks
with a long-lived API token to `POST /api/v1/tasks` and to the CODO endpoint
(`/api/task/accept`), on SQLite and on PostgreSQL. Beside them, the limits: the disk's
rate of durable commits one after another (fsync of the database's directory, what a
commit per task without sharing would cost) and the server's rate for a request that
does no work (`GET /healthz`, same clients). Checks afterwards that the database holds
exactly the tasks that were answered. Writes its section of docs/benchmarks.md."""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fanout"))
import fanout  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def psql(url, sql):
    return subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True).stdout.strip()


def load(base, token, body, clients, seconds, path, method="POST"):
    out = subprocess.run(["node", os.path.join(HERE, "accept.mjs"), base, token, json.dumps(body), str(clients), str(seconds), path, method],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def fsyncs_per_s(directory, seconds=2.0):
    """Appends 4 KiB and fsyncs, one after another: the rate of unshared durable commits."""
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    n, end = 0, time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < end:
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        n += 1
    took = time.monotonic() - start
    os.close(fd)
    os.unlink(path)
    return n / took


def run(binary, db, clients, seconds):
    name = f"taskgate_accept_{uuid.uuid4().hex[:12]}"
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    if db == "postgres":
        psql(ADMIN, f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = url
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_WORK")) as work:
        try:
            tg = fanout.Taskgate(binary, work, 1)
        finally:
            os.environ.pop("DATABASE_URL", None)
        try:
            tpl = tg.call("POST", "/api/v1/templates", {"name": "release", "steps": [
                {"name": "deploy", "group": "1", "script": "deploy {{ APP }} {{ TAG }}"}]})["id"]
            token = tg.call("POST", "/api/v1/tokens", {"name": "bench", "scopes": ["task:submit"]})["token"]
            api = {"template_id": tpl, "schedule": "new", "args": {"APP": "web", "TAG": "v1.2.3"},
                   "hosts": {"1": ["10.0.0.7", "10.0.0.8"]}}
            codo = {"task_name": "release", "temp_id": tpl, "args": {"APP": "web", "TAG": "v1.2.3"},
                    "hosts": {"1": "10.0.0.7,10.0.0.8"}, "schedule": "new"}
            # Warm-up (connections, caches), not counted.
            load(tg.base, token, api, clients, 1, "/api/v1/tasks")
            for label, body, path in (("POST /api/v1/tasks", api, "/api/v1/tasks"), ("CODO /api/task/accept", codo, "/api/task/accept")):
                r = load(tg.base, token, body, clients, seconds, path)
                assert r["accepted"] > 0 and not r["failures"], f"{label}: {r['failures']}"
                results.append(dict(r, db=db, clients=clients, endpoint=label))
                print(json.dumps(results[-1]), flush=True)
            # The answered tasks are all there (no more, no fewer).
            answered = sum(r["accepted"] for r in results)
            count_sql = "SELECT COUNT(*) FROM tasks"
            if db == "postgres":
                stored = int(psql(url, count_sql))
            else:
                conn = sqlite3.connect(os.path.join(tg.work, "taskgate.db"))
                stored = conn.execute(count_sql).fetchone()[0]
                conn.close()
            warm = stored - answered
            assert 0 <= warm, f"{stored} tasks stored, {answered} answered"
            health = load(tg.base, token, {}, clients, 3, "/healthz", "GET")
            for r in results:
                r["warmup"] = warm
            fsync = fsyncs_per_s(tg.work)
            for r in results:
                r["fsync_per_s"] = fsync
        finally:
            tg.stop()
            if db == "postgres":
                psql(ADMIN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return results, health


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--clients", default="16,64")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--taskgate", default=os.path.join(fanout.ROOT, "target", "release", "taskgate"))
    a = ap.parse_args()
    binary = os.path.abspath(a.taskgate)
    load_avg = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = []
    for db in a.dbs.split(","):
        for c in (int(x) for x in a.clients.split(",")):
            res, health = run(binary, db, c, a.seconds)
            rows += [(r, health) for r in res]
    m = fanout.machine()
    pg = psql(ADMIN, "SHOW server_version") if "postgres" in a.dbs else "(not run)"
    lines = [
        "## accept: tasks accepted per second, durable before the answer",
        "",
        f"Command: `python3 bench/accept/accept.py --dbs {a.dbs} --clients {a.clients} --seconds {a.seconds}` (release "
        f"build); measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; load average before the run "
        f"{load_avg}; SQLite (WAL, synchronous=FULL); PostgreSQL {pg} on loopback TCP (synchronous_commit on); the "
        "clients (Node.js) run on the same two cores.",
        "",
        f"Each client posts one task after another for {a.seconds} s with a long-lived API token (scope `task:submit`); "
        "every task waits for approval (`schedule: new`) with two arguments and two hosts. The database holds every answered task "
        "afterwards (checked). Limits beside each: the disk's durable commits one after another (fsync of 4 KiB in "
        "the data directory: a commit per task without sharing could not go faster on SQLite), and the server's rate "
        "for a request with no work (`GET /healthz`, the same clients).",
        "",
        "| database | clients | endpoint | tasks/s | p50 | p99 | max | errors | limit: fsyncs/s | limit: /healthz/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, h in rows:
        errors = sum(r["failures"].values())
        lines.append(
            f"| {r['db']} | {r['clients']} | {r['endpoint']} | {r['per_s']:,.0f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | "
            f"{r['max']:.0f} ms | {errors} | {r['fsync_per_s']:,.0f} | {h['per_s']:,.0f} |")
    fanout.write_section("\n".join(lines), "accept")


if __name__ == "__main__":
    main()
