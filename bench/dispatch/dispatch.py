#!/usr/bin/env python3
"""bench/dispatch: how late ready tasks start after their exec_time. Submits tasks due
over the next seconds and compares each task's start (its claim) with its exec_time.
Writes its section of docs/benchmarks.md."""

import argparse
import datetime
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fanout"))
import fanout  # noqa: E402


def ms(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--taskgate", default=os.path.join(fanout.ROOT, "target", "release", "taskgate"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        tg = fanout.Taskgate(os.path.abspath(a.taskgate), work, 1)
        try:
            tpl = tg.call("POST", "/api/v1/templates", {"name": "noop", "steps": [{"name": "noop", "group": "local", "script": "true"}]})
            base = time.time() + 3
            ids = []
            for i in range(a.tasks):
                at = datetime.datetime.fromtimestamp(base + i * 0.1, datetime.timezone.utc).isoformat(timespec="milliseconds")
                ids.append(tg.call("POST", "/api/v1/tasks", {"template_id": tpl["id"], "schedule": "ready", "exec_time": at})["id"])
            late = []
            for i in ids:
                while True:
                    t = tg.call("GET", f"/api/v1/tasks/{i}")
                    if t["status"] not in ("ready", "running"):
                        break
                    time.sleep(0.1)
                run = tg.call("GET", f"/api/v1/tasks/{i}/run")
                late.append(ms(run["started_at"]) - ms(t["exec_time"]))
        finally:
            tg.stop()
    late.sort()
    pct = lambda p: late[min(len(late) - 1, int(p / 100 * len(late)))]
    early = sum(1 for x in late if x < 0)
    print(f"{len(late)} tasks: lateness p50 {pct(50):.0f} ms, p99 {pct(99):.0f} ms, max {late[-1]:.0f} ms, started early: {early}")
    m = fanout.machine()
    text = "\n".join([
        "## dispatch: ready tasks start at their exec_time",
        "",
        f"Command: `python3 bench/dispatch/dispatch.py --tasks {a.tasks}` (release build); measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB; SQLite.",
        "",
        f"{a.tasks} ready tasks with exec_time spread 100 ms apart, 3 s ahead. Lateness is the task's start (the "
        "dispatcher's claim) minus its exec_time.",
        "",
        "| tasks | started early | lateness p50 | p99 | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {len(late)} | {early} | {pct(50):.0f} ms | {pct(99):.0f} ms | {late[-1]:.0f} ms |",
    ])
    fanout.write_section(text, "dispatch")


if __name__ == "__main__":
    main()
