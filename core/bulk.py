"""Jobs over several resources (bulk container actions, prunes): one row per resource with its
outcome, one audit event per resource as it is done, the engine away stops the run.

The rows are the job's items (``core.engine.jobs.Job.feed`` with ``{"item": ...}``), shown by the job
page (templates/jobs/job.html) with a bar of how many are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.template.defaultfilters import filesizeformat

from core import audit, engine
from core.engine import Engine
from core.errors import DashboardError, Refused
from core.roles import Role

KEPT = "in use now, or gone"  # a prune's row for what it leaves alone


@dataclass(frozen=True)
class Item:
    ref: str  # what the engine call takes
    name: str  # what a person reads (the row)
    short_id: str  # shown on hover
    skip: str = ""  # why it is left alone (a prune's item that is in use now): no call, no audit

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
    row failed and the run goes on; at the end, any failure makes the job an error naming them (a
    job of one item ends with that item's own message). An item with ``skip`` (a prune's item in use
    now) is shown as skipped: no call, no audit event.
    """
    doing, done = words

    def run(docker: Engine, job) -> Iterator[dict[str, Any]]:
        for item in items:
            yield {"item": item.name, "title": item.short_id, "status": "waiting", "outcome": "waiting"}
        failed: list[str] = []
        for item in items:
            if item.skip:
                yield {"item": item.name, "status": item.skip, "outcome": "skipped"}
                continue
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
                if len(items) == 1:
                    raise
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


def done_count(job, outcome: str = "ok") -> int:
    """How many of a job's item rows ended with ``outcome``."""
    return sum(1 for row in job.layers.values() if row.get("item") and row.get("outcome") == outcome)


def prune_images(
    who: dict[str, Any], *, dangling_only: bool, label: str
) -> tuple[Callable[[Engine, Any], Iterator[dict[str, Any]]], Callable[[Any], str]]:
    """``docker image prune`` as a job: a row per image the preview names (deleted, or kept because
    it is in use now or changed), audited as ONE ``image.prune`` event as before; the engine's
    "reclaimed" figure explained in the log. Returns (work, success message)."""
    found: dict[str, Any] = {}

    def run(docker: Engine, job) -> Iterator[dict[str, Any]]:
        parameters = {"all": not dangling_only, "label": label}
        with audit.action(who, "image.prune", target=label or "all", parameters=parameters) as details:
            preview = docker.images.prune_preview(dangling_only=dangling_only, label=label)
            names = {c.id: (c.tags[0] if c.tags else c.short_id) for c in preview.images}
            for candidate in preview.images:
                yield {"item": names[candidate.id], "title": candidate.short_id, "status": "pruning…",
                       "outcome": "running"}  # fmt: skip
            result = docker.images.prune(dangling_only=dangling_only, label=label)
            details["message"] = f"{len(result.deleted)} deleted, {result.reclaimed} bytes"
        found["result"] = result
        deleted = set(result.deleted)
        for candidate in preview.images:
            gone = candidate.id in deleted
            yield {
                "item": names[candidate.id],
                "status": "deleted" if gone else "kept: in use now, or changed since the preview",
                "outcome": "ok" if gone else "skipped",
            }
        yield {"status": (
            f"Deleted {len(result.deleted)} layer(s), untagged {len(result.untagged)}; the engine reports "
            f"{result.reclaimed} bytes reclaimed: the layers it actually deleted from its storage, often "
            "less than the preview's “up to” (a layer shared with a kept image stays, an image that "
            "only lost a tag frees nothing, a layer of several pruned images counts once here)."
        )}  # fmt: skip

    def message(job) -> str:
        result = found["result"]
        return (
            f"Pruned {len(result.deleted)} image layer(s); the engine reports "
            f"{filesizeformat(result.reclaimed)} reclaimed (the layers it deleted, see below)."
        )

    return run, message


def prune_summary(noun: str) -> Callable[[Any], str]:
    """The success message of a prune job: how many ``noun``s were removed, how many were kept."""

    def message(job) -> str:
        removed, kept = done_count(job), done_count(job, "skipped")
        text = f"Removed {removed} unused {noun}{'s' if removed != 1 else ''}."
        if kept:
            text += f" Kept {kept} that {'is' if kept == 1 else 'are'} in use now or gone."
        return text

    return message


def start_prune(request, *, noun: str, items: list[Item], remove: Callable[[Engine, str], Any]):
    """Start the prune job of ``noun``s (volume, network): one row and one ``<noun>.prune`` audit
    event per item, admin-only to watch, summed up by :func:`prune_summary`."""
    return engine.for_request(request).jobs.start(
        f"{noun}s",
        f"prune {len(items)} {noun}{'s' if len(items) != 1 else ''}",
        work(
            audit.who(request),
            f"{noun}.prune",
            items,
            remove,
            parameters={},
            words=("removing", "removed"),
        ),
        required_role=Role.ADMIN.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        success_message=prune_summary(noun),
    )
