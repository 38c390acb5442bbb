#!/usr/bin/env python3
"""What the task page did during its long tasks: reads the file bench/ui/watch.mjs writes
with WATCH_PROFILE=FILE (a CDP sampled profile, the long tasks, and performance.now() just
after the profiler started) and prints, per long task and over all of them, the share of
samples by the function on top of the stack: JavaScript and wasm functions by name,
"(program)" for the browser's own work (style, layout, paint, parsing the stream),
"(garbage collector)", and "(idle)" (the thread was not running: another process had the
core). Build the UI with TASKGATE_UI_NAMES=1 first to see the wasm functions' names."""

import collections
import json
import sys

d = json.load(open(sys.argv[1]))
prof, spans, t0 = d["profile"], d["spans"], d["t0"]
nodes = {n["id"]: n for n in prof["nodes"]}


def name(n):
    f = n["callFrame"]
    return f["functionName"] or f"({f['url'].rsplit('/', 1)[-1]}:{f['lineNumber']})"


# Sample times as performance.now() (ms): the profile's clock starts at its startTime, taken
# just before t0 (within a round trip of the DevTools protocol).
t, times = prof["startTime"], []
for delta in prof["timeDeltas"]:
    t += delta
    times.append((t0 or 0) + (t - prof["startTime"]) / 1000)
samples = list(zip(prof["samples"], times))
overall = collections.Counter()
if t0 is None:
    # A profile of opening the page (WATCH_PROFILE_OPEN): every sample but the idle ones.
    print("long tasks (ms): " + ", ".join(f"{d:.0f}" for _, d in spans))
    overall.update(name(nodes[s]) for s, _ in samples if name(nodes[s]) != "(idle)")
    spans = []
for start, dur in spans:
    inside = [sid for sid, ms in samples if start <= ms <= start + dur]
    c = collections.Counter(name(nodes[s]) for s in inside)
    overall.update(c)
    top = ", ".join(f"{k} {100 * v / max(1, len(inside)):.0f}%" for k, v in c.most_common(4))
    print(f"long task at {start:.0f} ms, {dur:.0f} ms, {len(inside)} samples: {top}")
total = sum(overall.values()) or 1
print("all long tasks, by the function on top of the stack:")
for k, v in overall.most_common(30):
    print(f"  {100 * v / total:5.1f}%  {k}")
