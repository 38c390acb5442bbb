#!/usr/bin/env python3
"""What the task page's long tasks were made of: reads a Chromium trace that bench/ui/watch.mjs
writes with WATCH_TRACE_OPEN=FILE (opening the page) and prints each main-thread task of the
renderer over 50 ms with the time of its parts by trace event name (self time: a part's
children are counted under their own names): script (FunctionCall, EvaluateScript,
v8.compile…), style (UpdateLayoutTree), layout (Layout), paint, and so on."""

import collections
import json
import sys

events = json.load(open(sys.argv[1]))
events = events["traceEvents"] if isinstance(events, dict) else events
# The renderer's main thread: the one that ran the page's script.
threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
main = [k for k, n in threads.items() if n == "CrRendererMain"]
limit = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
for key in main:
    mine = sorted((e for e in events if (e.get("pid"), e.get("tid")) == key and e.get("ph") == "X" and "dur" in e),
                  key=lambda e: (e["ts"], -e["dur"]))
    tasks = [e for e in mine if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask") and e["dur"] >= limit * 1000]
    for t in tasks:
        end = t["ts"] + t["dur"]
        inside = [e for e in mine if t["ts"] <= e["ts"] and e["ts"] + e["dur"] <= end and e is not t]
        # Self time: each event's duration less its direct children's.
        parts = collections.Counter()
        stack = []
        for e in inside:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                parts[stack[-1]["name"]] -= e["dur"]
            parts[e["name"]] += e["dur"]
            stack.append(e)
        top = ", ".join(f"{k} {v / 1000:.1f}" for k, v in parts.most_common(10) if v > 500)
        print(f"task of {t['dur'] / 1000:.1f} ms (pid {key[0]}): {top}")
