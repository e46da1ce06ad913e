"""Image updates: "check now" (one HEAD per reference) and "update all with updates available" (one job)."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core import audit, engine, updates
from core.engine import jobs
from core.engine.recreate import RecreateFailed, Report
from core.errors import DashboardError, EngineUnavailable
from core.roles import Role, require_role
from core.views.container_edit import refusals_for, registry_auth

BULK_UPDATE_LIMIT = 100  # containers one "update all" job takes


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        target = reverse("container_list")
    return redirect(target)


@require_role(Role.OPERATOR, action="updates.check")
@require_POST
def updates_check(request: HttpRequest) -> HttpResponse:
    """Ask the registries now (one HEAD per distinct reference of the containers and local tags),
    then back to the page."""
    with audit.action(request, "updates.check") as details:
        found, tags = updates.check_now(request)
        counts = {
            state: sum(1 for s in found.values() if s.state == state)
            for state in (updates.AVAILABLE, updates.CURRENT, updates.UNKNOWN)
        }
        outdated_tags = sum(1 for s in tags.values() if s.available)
        details["message"] = ", ".join(f"{n} {state}" for state, n in counts.items())
        details["message"] += f"; tags: {outdated_tags} of {len(tags)} with an update"
    messages.success(
        request,
        f"Checked {len(found)} container(s): {counts['available']} with an update, {counts['current']} up to "
        f"date, {counts['unknown']} unknown; {outdated_tags} of {len(tags)} local tag(s) with an update.",
    )
    return _back(request)


@require_role(Role.OPERATOR, action="container.update")
@require_POST
def updates_apply(request: HttpRequest) -> HttpResponse:
    """Update (pull + recreate) every container with an update available, as ONE job reporting each."""
    docker = engine.for_request(request)
    found = updates.for_endpoint(request)
    targets = [cid for cid, status in found.items() if status.available][:BULK_UPDATE_LIMIT]
    if not targets:
        message = "No container has an update available (check now first)."
        audit.record(
            request, "container.update", parameters={"bulk": True}, outcome=audit.FAILED, message=message
        )
        messages.error(request, message)
        return _back(request)
    plans, skipped = [], []
    for cid in targets:
        try:
            current = docker.containers.current_spec(ref=cid)
        except EngineUnavailable:
            raise
        except DashboardError as error:
            skipped.append(f"{cid[:12]}: {error.message}")
            continue
        refused = refusals_for(request, current)
        if refused or current.unsupported:
            why = " ".join(r.message for r in refused) or f"uses {', '.join(current.unsupported)}"
            skipped.append(f"{current.name}: skipped ({why})")
            audit.record(
                request,
                "container.update",
                target=current.name,
                outcome=audit.DENIED if refused else audit.FAILED,
                message=why,
            )
            continue
        plans.append(current)
    who = audit.who(request)
    outcomes: list[str] = list(skipped)

    def work(docker: engine.Engine, job: jobs.Job) -> Iterator[dict]:
        for line in skipped:
            yield {"status": line}
        failed = 0
        for current in plans:
            report = Report(name=current.name)
            yield {"status": f"— {current.name}: updating {current.spec.image}"}
            try:
                for message in docker.recreate.run(
                    current=current,
                    spec=current.spec,
                    report=report,
                    pull=True,
                    auth_config=registry_auth(current.spec.image),
                ):
                    if "id" not in message:  # step lines only: one job, many pulls
                        yield message
                line, outcome = f"{current.name}: updated (image {report.new_image_id[7:19]})", audit.OK
            except EngineUnavailable:
                raise
            except (RecreateFailed, DashboardError) as error:
                failed += 1
                line, outcome = f"{current.name}: FAILED: {error.message}", audit.FAILED
            outcomes.append(line)
            yield {"status": line}
            audit.record(
                who,
                "container.update",
                target=f"{current.name} ({current.id[:12]})",
                parameters={"pull": True, "bulk": True, **report.audit()},
                outcome=outcome,
                message=line,
            )
        if failed or skipped:
            raise DashboardError(
                f"{len(plans) - failed} updated, {failed} failed, {len(skipped)} skipped: "
                + "; ".join(o for o in outcomes if "updated" not in o)
            )

    job = docker.jobs.start(
        "update-all",
        f"{len(plans)} container(s)",
        work,
        required_role=Role.OPERATOR.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        success_message=lambda job: f"Updated {len(plans)} container(s): " + "; ".join(outcomes),
    )
    return redirect("job", job_id=job.id)


urlpatterns = [
    path("updates/check/", updates_check, name="updates_check"),
    path("updates/apply/", updates_apply, name="updates_apply"),
]
