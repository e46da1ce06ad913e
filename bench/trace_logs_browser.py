"""What the long main-thread tasks of the log view under a `yes` flood are (issue 12): a Chrome trace
of each round (devtools.timeline, v8, GC), then the renderer main thread's tasks over 50 ms with their
wall and thread (CPU) time and the child events inside them, by name.

A task whose thread time is far below its wall time was mostly waiting for a CPU (the flood, daphne
and the browser share two cores), not working. Usage: python bench/trace_logs_browser.py [rounds]
[--keep DIR] (keep the trace JSON files for chrome://tracing / Perfetto).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import docker
from _live import ROOT, base_image, browser_login, run_container

sys.path.insert(0, str(ROOT))

from tests.support import dashboard_server

FLOOD_SECONDS = 5
LONG_MS = 50
CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "v8.execute",
    "disabled-by-default-v8.gc",
    "blink",
    "blink.user_timing",
    "loading",
    "toplevel",
]
TASKS = {"ThreadControllerImpl::RunTask"}
GROUPS = {  # what a task of the log view can be made of
    "message handler": {"EventDispatch", "HandlePostMessage"},
    "rAF": {"FireAnimationFrame"},
    "script": {"FunctionCall", "v8.callFunction", "EvaluateScript", "v8.compile"},
    "GC": {
        "MajorGC",
        "MinorGC",
        "V8.GCScavenger",
        "V8.GCFinalizeMC",
        "V8.GCIncrementalMarking",
        "BlinkGC.AtomicPhase",
        "V8.GC_MARK_COMPACTOR",
        "V8.GC_SCAVENGER",
    },
    "style/layout": {"UpdateLayoutTree", "Layout", "LocalFrameView::UpdateStyleAndLayout"},
    "prepaint": {"PrePaint"},
    "paint": {"Paint"},
    "commit": {"Commit"},
}


def analyse(path: Path) -> None:
    """Print the renderer main thread's long tasks and what ran inside them."""
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
    }
    spans = defaultdict(list)  # (pid, tid) -> [(start, end, name, tdur)]
    open_ = defaultdict(list)
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key not in main:
            continue
        if e.get("ph") == "X" and "dur" in e:
            spans[key].append((e["ts"], e["ts"] + e["dur"], e["name"], e.get("tdur")))
        elif e.get("ph") == "B":
            open_[key].append(e)
        elif e.get("ph") == "E" and open_[key]:
            b = open_[key].pop()
            spans[key].append((b["ts"], e["ts"], b["name"], None))
    origin = min(e["ts"] for e in events if e.get("ts"))
    for key, items in spans.items():
        items.sort(key=lambda s: (s[0], -s[1]))
        flood = max(s[1] for s in items) - FLOOD_SECONDS * 1_000_000  # the last FLOOD_SECONDS
        tasks = [s for s in items if s[2] in TASKS and s[0] >= flood]
        frames = [s for s in items if s[2] == "WebFrameWidgetImpl::BeginMainFrame" and s[0] >= flood]
        cpu = sum(s[3] or 0 for s in tasks) / 1000
        print(
            f"  renderer {key}, last {FLOOD_SECONDS} s: {len(frames)} frames, main-thread CPU {cpu:.0f} ms "
            f"in {len(tasks)} tasks"
        )
        long_tasks = [s for s in items if s[2] in TASKS and s[1] - s[0] > LONG_MS * 1000]
        if not long_tasks:
            continue
        print(f"  renderer {key}: {len(long_tasks)} tasks > {LONG_MS} ms")
        for start, end, _name, tdur in long_tasks:
            wall = (end - start) / 1000
            cpu = f"{tdur / 1000:.1f}" if tdur is not None else "?"
            parts = []
            for label, names in GROUPS.items():
                inner = [s for s in items if start <= s[0] and s[1] <= end and s[2] in names]
                inner = [
                    s
                    for s in inner
                    if not any(o is not s and o[2] in names and o[0] <= s[0] and s[1] <= o[1] for o in inner)
                ]  # outermost only
                if inner:
                    w = sum(s[1] - s[0] for s in inner) / 1000
                    t = sum(s[3] or 0 for s in inner) / 1000
                    parts.append(f"{label} {w:.0f}/{t:.1f}")
            at = (start - origin) / 1e6
            print(
                f"    at {at:5.2f} s: task {wall:.0f} ms wall / {cpu} ms thread; inside (wall/thread ms): "
                + ", ".join(parts)
            )


def main() -> None:
    from playwright.sync_api import sync_playwright

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 3
    keep = Path(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else None
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        with dashboard_server(Path(tmp), roles=("viewer",), DATA_DIR=tmp) as server, sync_playwright() as pw:
            flood = run_container(api, image, ["sh", "-c", "yes flood"])
            browser, page = browser_login(pw, server)
            for n in range(rounds):
                browser.start_tracing(page=page, categories=CATEGORIES)
                page.goto(f"{server.url}/containers/{flood}/logs/")
                page.wait_for_selector(".logview .line")
                page.evaluate(  # as bench_logs_browser.py measures: from the first line on
                    "() => { window.__long = []; new PerformanceObserver((l) => { for (const e of"
                    " l.getEntries()) { window.__long.push(Math.round(e.duration)); } })"
                    ".observe({type: 'longtask'}); }"
                )
                page.wait_for_timeout(FLOOD_SECONDS * 1000)
                observed = page.evaluate("() => window.__long")
                path = out / f"trace-{n}.json"
                path.write_bytes(browser.stop_tracing())
                print(
                    f"round {n}: longtask observer (ms): {observed}; trace from before the page load: {path}"
                )
                analyse(path)
            browser.close()
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
