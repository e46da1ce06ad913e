"""Overview across 3 endpoints (one stopped) vs the slowest single endpoint alone (target <= 1.3x).

The endpoints: the local engine, the same engine behind a unix-socket proxy (a second address), and a
stopped one (its socket gone: connection refused). Health is probed concurrently, so the page should
cost about as much as its slowest live endpoint.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import dashboard, median
from tests.support import UnixSocketProxy

ROUNDS = 30


def timed(server, path: str) -> float:
    samples = []
    for _ in range(ROUNDS):
        status, seconds, _ = server.get(path)
        assert status == 200, status
        samples.append(seconds)
    return median(samples)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dash-bench-ep-"))
    proxy = UnixSocketProxy("/var/run/docker.sock", str(workdir / "proxy.sock"))
    proxy.start()
    try:
        with dashboard() as server:
            timed(server, "/")  # warm up (imports, first connections)
            single = timed(server, "/")  # only the default endpoint exists: no side-by-side probes
            server.manage(
                "shell",
                "-c",
                "from core.models import Endpoint\n"
                f"Endpoint.objects.create(name='proxied', slug='proxied', url='{proxy.url}')\n"
                f"Endpoint.objects.create(name='stopped', slug='stopped', url='unix://{workdir}/stopped.sock')\n",
            )
            three = timed(server, "/")
            server.manage(
                "shell",
                "-c",
                "from core.models import Endpoint\nEndpoint.objects.filter(is_default=False).delete()",
            )
            single = (single + timed(server, "/")) / 2  # before and after, against drift on a busy machine
            print(f"overview, 1 endpoint:  median {single * 1000:.1f} ms over {ROUNDS} requests")
            print(f"overview, 3 endpoints (1 stopped): median {three * 1000:.1f} ms")
            print(f"ratio 3 endpoints / slowest single: {three / single:.2f}x (target <= 1.3x)")
    finally:
        proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
