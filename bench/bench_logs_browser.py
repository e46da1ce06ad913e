"""Log view in the browser under a `yes` flood (issue 12): the longest main-thread task and how fast
Pause reacts, measured by the page itself in headless chromium.

- longest task: a PerformanceObserver on ``longtask`` for FLOOD_SECONDS of following the flood;
- Pause: a real mouse click (input events through the browser, not a synthetic ``click()``), timed
  by the Event Timing API (from the input's timestamp to the next paint after its handlers ran);
- DOM: line rows and elements in the page while it follows the flood (the window is bounded).

Runs its own daphne and labelled container (removed afterwards); chromium is Debian's.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import docker
from _live import ROOT, base_image, browser_login, run_container

sys.path.insert(0, str(ROOT))

from tests.support import dashboard_server

FLOOD_SECONDS = 5
ROUNDS = 3

OBSERVE = """() => {
  window.__longest = 0; window.__long = 0; window.__events = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) {
    window.__longest = Math.max(window.__longest, e.duration); window.__long++; } })
    .observe({type: "longtask"});
  new PerformanceObserver((list) => { for (const e of list.getEntries()) {
    window.__events.push([e.name, e.duration, e.processingStart - e.startTime]); } })
    .observe({type: "event", durationThreshold: 16, buffered: true});
}"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    api = docker.APIClient(version="auto", timeout=120)
    with base_image(api) as image, tempfile.TemporaryDirectory() as tmp:
        with dashboard_server(Path(tmp), roles=("viewer",), DATA_DIR=tmp) as server, sync_playwright() as pw:
            flood = run_container(api, image, ["sh", "-c", "yes flood"])
            browser, page = browser_login(pw, server)
            for _ in range(ROUNDS):
                page.goto(f"{server.url}/containers/{flood}/logs/")
                page.wait_for_selector(".logview .line")
                page.evaluate(OBSERVE)
                page.wait_for_timeout(FLOOD_SECONDS * 1000)
                rows = page.locator(".logview .line").count()
                nodes = page.evaluate("() => document.getElementsByTagName('*').length")
                box = page.locator("[data-log-pause]").bounding_box()
                page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                started = time.monotonic()
                page.wait_for_selector("[data-log-pause][aria-pressed=true]")
                seen_ms = (time.monotonic() - started) * 1000
                page.wait_for_timeout(300)
                longest, count, events = page.evaluate(
                    "() => [window.__longest, window.__long, window.__events]"
                )
                clicks = [e for e in events if e[0] in ("click", "pointerup", "mouseup", "pointerdown")]
                pause_ms = max((e[1] for e in clicks), default=0.0)  # below 16 ms no entry is made
                print(
                    f"yes flood {FLOOD_SECONDS}s: longest task {longest:.0f} ms ({count} tasks > 50 ms; "
                    f"goal <= 50); Pause click to paint {pause_ms:.0f} ms (goal <= 100; 0 = under 16) "
                    f"[seen by Playwright after {seen_ms:.0f} ms]; {rows} line rows, {nodes} elements"
                )
            browser.close()
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
