#!/usr/bin/env python3
"""bench/biglog: a step that prints a lot. Server memory must stay flat while every line
is stored: peak RSS is measured for 64 MiB and for 1 GiB of output (1 KiB lines), and
the lines stored are counted, on SQLite and (with `--dbs sqlite,postgres`) on PostgreSQL
(a database of its own per run on `BENCH_POSTGRES_URL`, default
postgres://postgres@127.0.0.1:5432/postgres). Writes its section of docs/benchmarks.md."""

import argparse
import os
import sqlite3
import subprocess
import sys
import uuid
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fanout"))
import fanout  # noqa: E402  (shares the server handling and the report writer)


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


COUNT = "SELECT COUNT(*), MAX(seq), SUM(LENGTH(body)) FROM task_events WHERE kind = 'log' AND stream = 'stdout'"


def psql(url, sql):
    return subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True).stdout.strip()


def run(binary, mib, db):
    admin = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"taskgate_biglog_{uuid.uuid4().hex[:12]}"
    url = admin.rsplit("/", 1)[0] + "/" + name
    if db == "postgres":
        psql(admin, f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = url
    with tempfile.TemporaryDirectory() as work:
        try:
            tg = fanout.Taskgate(binary, work, 1)
        finally:
            os.environ.pop("DATABASE_URL", None)
        try:
            lines = mib * 1024
            script = f"head -c {lines * 1023} /dev/zero | tr '\\0' x | fold -w 1023"
            tpl = tg.call("POST", "/api/v1/templates", {"name": "loud", "steps": [{"name": "print", "group": "local", "script": script, "timeout_secs": 3600}]})
            idle = rss_mb(tg.proc.pid)
            peak, done = [idle], threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_mb(tg.proc.pid))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample)
            sampler.start()
            start = time.monotonic()
            task = tg.call("POST", "/api/v1/tasks", {"template_id": tpl["id"], "schedule": "ready"})
            while tg.call("GET", f"/api/v1/tasks/{task['id']}")["status"] in ("ready", "running"):
                time.sleep(0.5)
            took = time.monotonic() - start
            done.set()
            sampler.join()
            status = tg.call("GET", f"/api/v1/tasks/{task['id']}")["status"]
            if db == "postgres":
                stored, last_seq, size = (int(v) for v in psql(url, COUNT).split("|"))
            else:
                conn = sqlite3.connect(os.path.join(tg.work, "taskgate.db"))
                stored, last_seq, size = conn.execute(COUNT).fetchone()
                conn.close()
            assert status == "success" and stored == lines == last_seq, f"{status}: {stored} of {lines} lines stored"
            return {"db": db, "mib": mib, "seconds": took, "idle_mb": idle, "peak_mb": peak[0], "lines": stored, "bytes": size}
        finally:
            tg.stop()
            if db == "postgres":
                psql(admin, f"DROP DATABASE IF EXISTS {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,1024", help="MiB of output per run")
    ap.add_argument("--dbs", default="sqlite", help="sqlite, postgres or both")
    ap.add_argument("--taskgate", default=os.path.join(fanout.ROOT, "target", "release", "taskgate"))
    a = ap.parse_args()
    binary = os.path.abspath(a.taskgate)
    results = []
    for db in a.dbs.split(","):
        for mib in [int(s) for s in a.sizes.split(",")]:
            r = run(binary, mib, db)
            results.append(r)
            print(f"{db} {mib} MiB: {r['lines']} lines in {r['seconds']:.1f} s, RSS idle {r['idle_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB", flush=True)
    m = fanout.machine()
    lines = [
        "## biglog: a step that prints a gigabyte",
        "",
        f"Command: `bash bench/biglog/run.sh --sizes {a.sizes} --dbs {a.dbs}`; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; SQLite (WAL, synchronous=FULL); "
        f"PostgreSQL {psql(os.environ.get('BENCH_POSTGRES_URL', 'postgres://postgres@127.0.0.1:5432/postgres'), 'SHOW server_version') if 'postgres' in a.dbs else '(not run)'} on loopback TCP.",
        "",
        "A `local` step prints 1 KiB lines (`head -c … /dev/zero | tr '\\0' x | fold -w 1023`). Every line is stored "
        "(counted in the database afterwards); peak RSS is sampled every 0.2 s from /proc.",
        "",
        "| database | output | lines stored | time | throughput | server RSS idle | server RSS peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['db']} | {r['mib']} MiB | {r['lines']} | {r['seconds']:.1f} s | {r['bytes'] / r['seconds'] / 1e6:.1f} MB/s | "
                     f"{r['idle_mb']:.0f} MB | {r['peak_mb']:.0f} MB |")
    fanout.write_section("\n".join(lines), "biglog")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
