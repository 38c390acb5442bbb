#!/usr/bin/env python3
"""bench/biglog: a step that prints a lot. Server memory must stay flat while every line
is stored: peak RSS is measured for 64 MiB and for 1 GiB of output (1 KiB lines), and
the lines stored are counted. Writes its section of docs/benchmarks.md."""

import argparse
import os
import sqlite3
import sys
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


def run(binary, mib):
    with tempfile.TemporaryDirectory() as work:
        tg = fanout.Taskgate(binary, work, 1)
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
            db = sqlite3.connect(os.path.join(tg.work, "taskgate.db"))
            stored, last_seq, size = db.execute(
                "SELECT COUNT(*), MAX(seq), SUM(LENGTH(body)) FROM task_events WHERE kind = 'log' AND stream = 'stdout'").fetchone()
            db.close()
            assert status == "success" and stored == lines == last_seq, f"{status}: {stored} of {lines} lines stored"
            return {"mib": mib, "seconds": took, "idle_mb": idle, "peak_mb": peak[0], "lines": stored, "bytes": size}
        finally:
            tg.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,1024", help="MiB of output per run")
    ap.add_argument("--taskgate", default=os.path.join(fanout.ROOT, "target", "release", "taskgate"))
    a = ap.parse_args()
    binary = os.path.abspath(a.taskgate)
    results = []
    for mib in [int(s) for s in a.sizes.split(",")]:
        r = run(binary, mib)
        results.append(r)
        print(f"{mib} MiB: {r['lines']} lines in {r['seconds']:.1f} s, RSS idle {r['idle_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB", flush=True)
    m = fanout.machine()
    lines = [
        "## biglog: a step that prints a gigabyte",
        "",
        f"Command: `bash bench/biglog/run.sh` (sizes {a.sizes} MiB); measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; SQLite (WAL, synchronous=FULL).",
        "",
        "A `local` step prints 1 KiB lines (`head -c … /dev/zero | tr '\\0' x | fold -w 1023`). Every line is stored "
        "(counted in the database afterwards); peak RSS is sampled every 0.2 s from /proc.",
        "",
        "| output | lines stored | time | throughput | server RSS idle | server RSS peak |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['mib']} MiB | {r['lines']} | {r['seconds']:.1f} s | {r['bytes'] / r['seconds'] / 1e6:.1f} MB/s | "
                     f"{r['idle_mb']:.0f} MB | {r['peak_mb']:.0f} MB |")
    fanout.write_section("\n".join(lines), "biglog")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
