#!/usr/bin/env python3
"""bench/dispatch: a burst of ready tasks due in the same second. Submits N tasks (one
`local` step `true` each) whose exec_time is one whole second, waits until every one has
run, and reads from the database, per task, when it was claimed (its run's start) and when
its first step started, against its exec_time; checks that each ran exactly once (one
attempt, one start record, one pair). Beside it, the limit: the same claims as bare SQL
(the dispatcher's UPDATE, in batches of the same size, one transaction each) on the same
database, with nothing else running. SQLite, and PostgreSQL with one and two instances.
Writes its section of docs/benchmarks.md."""

import argparse
import base64
import concurrent.futures
import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fanout"))
import fanout  # noqa: E402

BATCH = 500  # the dispatcher's CLAIM_BATCH
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def psql(url, sql):
    return subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True).stdout.strip()


class Database:
    """A fresh SQLite file or PostgreSQL database, queried with the same SQL."""

    def __init__(self, kind, work):
        self.kind = kind
        if kind == "postgres":
            self.name = f"taskgate_dispatch_{uuid.uuid4().hex[:12]}"
            psql(ADMIN, f"CREATE DATABASE {self.name}")
            self.url = ADMIN.rsplit("/", 1)[0] + "/" + self.name
        else:
            self.path = os.path.join(work, "dispatch.db")
            self.url = f"sqlite://{self.path}"

    def rows(self, sql):
        if self.kind == "postgres":
            out = psql(self.url, sql)
            return [tuple(int(v) if v.lstrip("-").isdigit() else v for v in line.split("|")) for line in out.splitlines() if line]
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def drop(self):
        if self.kind == "postgres":
            psql(ADMIN, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Instance(fanout.Taskgate):
    """A `taskgate serve` on a shared database and secret key."""

    def __init__(self, binary, work, db, key, node):
        os.environ.update(DATABASE_URL=db.url, TASKGATE_SECRET_KEY=key, TASKGATE_NODE_ID=node)
        try:
            # The default limit of hosts worked on at once (2,000).
            super().__init__(binary, os.path.join(work, node), 2000)
        finally:
            for k in ("DATABASE_URL", "TASKGATE_SECRET_KEY", "TASKGATE_NODE_ID"):
                os.environ.pop(k, None)


def submit_all(tg, tpl, n, at, clients=16):
    body = {"template_id": tpl, "schedule": "ready", "exec_time": at}

    def one(_):
        req = urllib.request.Request(tg.base + "/api/v1/tasks", method="POST", data=json.dumps(body).encode())
        req.add_header("content-type", "application/json")
        req.add_header("authorization", "Bearer " + tg.token)
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())["id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(n)))


PER_TASK = """SELECT t.id, t.exec_time, t.started_at, t.attempt, t.status,
    (SELECT MIN(a.detail) FROM audit_events a WHERE a.action = 'task.start' AND a.object_id = CAST(t.id AS TEXT)),
    (SELECT MIN(p.started_at) FROM task_pairs p WHERE p.task_id = t.id),
    (SELECT COUNT(*) FROM task_pairs p WHERE p.task_id = t.id),
    (SELECT COUNT(*) FROM audit_events a WHERE a.action = 'task.start' AND a.object_id = CAST(t.id AS TEXT))
    FROM tasks t ORDER BY t.id"""

LIMIT_RESET = "UPDATE tasks SET status = 'ready', claimed_by = NULL, attempt = 0, started_at = NULL"
LIMIT_CLAIM = f"""UPDATE tasks SET status = 'running', claimed_by = 'limit', heartbeat_at = 1, lease_until = 2,
    started_at = 1, finished_at = NULL, attempt = attempt + 1, abort_requested = 0, updated_at = 1, event_seq = event_seq + 1
    WHERE id IN (SELECT id FROM tasks WHERE status = 'ready' AND due_at <= 9000000000000 ORDER BY due_at, id LIMIT {BATCH})
    AND status = 'ready'"""


def limit_seconds(db, n):
    """The claims alone: the dispatcher's UPDATE in batches, each its own durable commit."""
    db.rows(LIMIT_RESET) if db.kind == "sqlite" else psql(db.url, LIMIT_RESET)
    batches = -(-n // BATCH)
    if db.kind == "postgres":
        script = "\n".join([LIMIT_CLAIM + ";"] * batches)
        start = time.monotonic()
        subprocess.run(["psql", db.url, "-q"], input=script, text=True, check=True, capture_output=True)
        took = time.monotonic() - start
        claimed = db.rows("SELECT COUNT(*) FROM tasks WHERE claimed_by = 'limit'")[0][0]
    else:
        conn = sqlite3.connect(db.path, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        start = time.monotonic()
        for _ in range(batches):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(LIMIT_CLAIM)
            conn.execute("COMMIT")
        took = time.monotonic() - start
        claimed = conn.execute("SELECT COUNT(*) FROM tasks WHERE claimed_by = 'limit'").fetchone()[0]
        conn.close()
    assert claimed == n, f"the limit run claimed {claimed} of {n}"
    return took


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def run(binary, kind, instances, n):
    with tempfile.TemporaryDirectory() as work:
        db = Database(kind, work)
        key = base64.b64encode(os.urandom(32)).decode()
        tgs = []
        try:
            tgs = [Instance(binary, work, db, key, f"bench-{i}") for i in range(instances)]
            tg = tgs[0]
            tpl = tg.call("POST", "/api/v1/templates", {"name": "noop", "steps": [{"name": "noop", "group": "local", "script": "true"}]})["id"]
            # One whole second far enough ahead for every submission to be in before it.
            at_s = int(time.time()) + 10 + n // 400
            at = datetime.datetime.fromtimestamp(at_s, datetime.timezone.utc).isoformat(timespec="milliseconds")
            t0 = time.monotonic()
            submit_all(tg, tpl, n, at)
            submitted = time.monotonic() - t0
            assert time.time() < at_s - 1, "the submissions ran into the exec_time: raise the margin"
            deadline = time.time() + 600
            while time.time() < deadline:
                left = db.rows("SELECT COUNT(*) FROM tasks WHERE status IN ('ready', 'running')")[0][0]
                if left == 0:
                    break
                time.sleep(0.5)
            rss = [t.peak_rss_mb() for t in tgs]
        finally:
            for t in tgs:
                t.stop()
                # BENCH_KEEP_LOGS=DIR keeps each instance's log (TG_LOG sets its level).
                if os.environ.get("BENCH_KEEP_LOGS"):
                    os.makedirs(os.environ["BENCH_KEEP_LOGS"], exist_ok=True)
                    shutil.copy(os.path.join(t.work, "log"), os.path.join(os.environ["BENCH_KEEP_LOGS"], f"{kind}-{instances}-{os.path.basename(os.path.dirname(t.work))}.log"))
        try:
            rows = db.rows(PER_TASK)
            assert len(rows) == n, f"{len(rows)} tasks of {n}"
            bad = [r for r in rows if r[3] != 1 or r[4] != "success" or r[7] != 1 or r[8] != 1]
            assert not bad, f"{len(bad)} tasks did not run exactly once: {bad[:3]}"
            claim = [r[2] - r[1] for r in rows]
            first = [r[6] - r[1] for r in rows]
            nodes = {}
            for r in rows:
                node = json.loads(r[5])["node"]  # who claimed it, from its task.start record
                nodes[node] = nodes.get(node, 0) + 1
            span = (max(r[2] for r in rows) - min(r[2] for r in rows)) / 1000
            limit = limit_seconds(db, n)
        finally:
            db.drop()
    res = {
        "db": kind, "instances": instances, "n": n, "submit_s": submitted,
        "early": sum(1 for x in claim if x < 0) + sum(1 for x in first if x < 0),
        "claim": (pct(claim, 50), pct(claim, 99), max(claim)), "first": (pct(first, 50), pct(first, 99), max(first)),
        "claims_per_s": n / max(span, 0.001), "limit_s": limit, "nodes": sorted(nodes.values(), reverse=True), "rss": max(rss),
    }
    print(json.dumps(res), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--runs", default="sqlite:1,postgres:1,postgres:2", help="database:instances, comma-separated")
    ap.add_argument("--taskgate", default=os.path.join(fanout.ROOT, "target", "release", "taskgate"))
    a = ap.parse_args()
    binary = os.path.abspath(a.taskgate)
    results = [run(binary, spec.split(":")[0], int(spec.split(":")[1]), a.tasks) for spec in a.runs.split(",")]
    m = fanout.machine()
    load = open("/proc/loadavg").read().split()[:3]
    pg = psql(ADMIN, "SHOW server_version") if any(r["db"] == "postgres" for r in results) else "(not run)"
    lines = [
        "## dispatch: a burst of ready tasks due in the same second",
        "",
        f"Command: `python3 bench/dispatch/dispatch.py --tasks {a.tasks} --runs {a.runs}` (release build); measured "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; load average before the run "
        f"{' '.join(load)}; SQLite (WAL, synchronous=FULL); PostgreSQL {pg} on loopback TCP.",
        "",
        f"{a.tasks:,} tasks (one `local` step `true` each) are submitted with the same exec_time, a whole second far "
        "enough ahead for all to be in; every one must run once. Claim lateness is the run's start (the dispatcher's "
        "claim) minus exec_time; first step is the first pair's start minus exec_time. \"Claims/s\" is the tasks over "
        "the time from the first claim to the last. The limit is the dispatcher's claim UPDATE alone, in batches of "
        f"{BATCH} (one durable commit each), on the same database afterwards with nothing else running.",
        "",
        "| database | instances | claim p50 | claim p99 | claim max | first step p50 | p99 | max | claims/s | limit: bare claims | started early | tasks per instance | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        c, f = r["claim"], r["first"]
        lines.append(
            f"| {r['db']} | {r['instances']} | {c[0]} ms | {c[1]} ms | {c[2]} ms | {f[0]} ms | {f[1]} ms | {f[2]} ms | "
            f"{r['claims_per_s']:,.0f} | {r['limit_s'] * 1000:.0f} ms ({r['n'] / r['limit_s']:,.0f}/s) | {r['early']} | "
            f"{' + '.join(str(x) for x in r['nodes'])} | {r['rss']:.0f} MB |")
    fanout.write_section("\n".join(lines), "dispatch")


if __name__ == "__main__":
    main()
