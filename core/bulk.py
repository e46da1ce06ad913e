"""Jobs over several resources (bulk container actions, prunes): one row per resource with its
outcome, one audit event per resource as it is done, the engine away stops the run.

The rows are the job's items (``core.engine.jobs.Job.feed`` with ``{"item": ...}``), shown by the job
page (templates/images/job.html) with a bar of how many are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core import audit
from core.engine import Engine
from core.errors import DashboardError, Refused


@dataclass(frozen=True)
class Item:
    ref: str  # what the engine call takes
    name: str  # what a person reads (the row)
    short_id: str  # shown on hover

    @property
    def target(self) -> str:
        """The audit target: ``name (id12)`` when both are known."""
        return f"{self.name} ({self.short_id})" if self.short_id and self.name != self.short_id else self.ref


def work(
    who: dict[str, Any],
    action: str,
    items: list[Item],
    call: Callable[[Engine, str], object],
    *,
    parameters: dict[str, Any],
    words: tuple[str, str],
) -> Callable[[Engine, Any], Iterator[dict[str, Any]]]:
    """The job's work: ``call(engine, item.ref)`` for each item in order, audited as ``action``.

    ``words``: (while it runs, when it is done), e.g. ("stopping", "stopped"). A refusal marks the
    row failed and the run goes on; at the end, any failure makes the job an error naming them.
    """
    doing, done = words

    def run(docker: Engine, job) -> Iterator[dict[str, Any]]:
        for item in items:
            yield {"item": item.name, "title": item.short_id, "status": "waiting", "outcome": "waiting"}
        failed: list[str] = []
        for item in items:
            yield {"item": item.name, "status": f"{doing}…", "outcome": "running"}
            try:
                call(docker, item.ref)
            except DashboardError as error:
                audit.record(
                    who, action, target=item.target, parameters=parameters,
                    outcome=audit.FAILED, message=error.message,
                )  # fmt: skip
                if not isinstance(error, Refused):
                    raise  # the engine away: the rest is not tried
                failed.append(item.name)
                line = f"{item.name}: {error.message}"
                yield {"item": item.name, "status": error.message, "outcome": "failed", "line": line}
                continue
            audit.record(who, action, target=item.target, parameters=parameters)
            yield {"item": item.name, "status": done, "outcome": "ok"}
        if failed:
            more = " …" if len(failed) > 10 else ""
            raise Refused(
                f"{done.capitalize()} {len(items) - len(failed)} of {len(items)}; "
                f"not {', '.join(failed[:10])}{more} (see each row)."
            )

    return run
