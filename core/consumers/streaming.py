"""The per-user cap on live streams (the pumps themselves are core/live/bridge.py)."""

from __future__ import annotations

import os

from django.conf import settings

STREAMS_PER_USER = int(
    getattr(settings, "LIVE_STREAMS_PER_USER", os.environ.get("LIVE_STREAMS_PER_USER", 25))
)

# Live streams per user id in this process; only touched from the event loop, so no lock.
_open_streams: dict[int, int] = {}


def acquire_stream_slot(user_id: int) -> bool:
    """Count one more live stream for the user, unless they are at the cap."""
    if _open_streams.get(user_id, 0) >= STREAMS_PER_USER:
        return False
    _open_streams[user_id] = _open_streams.get(user_id, 0) + 1
    return True


def release_stream_slot(user_id: int) -> None:
    left = _open_streams.get(user_id, 0) - 1
    if left > 0:
        _open_streams[user_id] = left
    else:
        _open_streams.pop(user_id, None)
