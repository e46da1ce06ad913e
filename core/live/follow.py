"""The follow-across-restart decision (pure): after a followed log stream ended, what now?

Given what the engine says about the container now (or why it could not say), decide between
following again (it restarted: a new start time), ending with a reason (removed, stopped, engine
gone), or waiting a little longer (a container with a restart policy is briefly not running).
"""

from __future__ import annotations

from dataclasses import dataclass

FOLLOW, END, WAIT = "follow", "end", "wait"


@dataclass(frozen=True)
class Decision:
    action: str  # FOLLOW, END or WAIT
    reason: str = ""


def after_stream_end(
    *,
    running: bool | None,
    started_at: str,
    previous_started_at: str,
    status: str = "",
    exit_code: int | None = None,
    problem: str = "",
    waited: float,
    grace: float,
) -> Decision:
    """Args: ``running`` None when the engine could not answer (``problem`` says why)."""
    if running is None:
        return Decision(END, problem)
    if running and started_at != previous_started_at:
        return Decision(FOLLOW)
    if running:
        return Decision(END, "the engine closed the log stream while the container kept running")
    if waited < grace:
        return Decision(WAIT)
    code = f", exit code {exit_code}" if exit_code is not None else ""
    return Decision(END, f"the container stopped ({status}{code})")
