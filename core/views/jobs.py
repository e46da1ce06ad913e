"""The live page of a background job (pull, push, build, recreate, bulk actions, single slow
container actions, prunes): ``jobs/<id>/``; the older ``images/jobs/<id>/`` is the same view."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, get_script_prefix, path, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET

from core.engine import jobs
from core.roles import ROLE_GROUPS, Role, forbidden, require_role
from core.routing import ws_path

ITEM_KINDS = ("containers", "volumes", "networks", "images")  # jobs with a row per resource
SECTIONS = {"recreate": "containers", "update": "containers"}  # the rest (pull, push, build): images
BACK_LABELS = {  # url name of the ``back`` page: the link's words
    "container_detail": "Back to the container",
    "container_delete": "Back to the container",
    "container_list": "Back to the containers",
    "image-list": "Back to the images",
    "image-prune": "Back to the images",
    "volume_list": "Back to the volumes",
    "network_list": "Back to the networks",
}


def _local(back: str) -> str:
    """``back`` when it is a path on this site (the page a job was started from), else ""."""
    if not back.startswith("/") or not url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        return ""
    return back


def back_label(back: str) -> str:
    """The words of the link back to ``back`` (a local path, under this request's script prefix)."""
    prefix = get_script_prefix()
    bare = "/" + back.split("?")[0].removeprefix(prefix) if back.startswith(prefix) else back
    try:
        name = resolve(bare).url_name
    except Resolver404:
        name = ""
    return BACK_LABELS.get(name, "Back")


def job_url(job_id: str, back: str = "") -> str:
    """The job's page, with ``back`` (a local path) to offer when it is done."""
    url = reverse("job", args=[job_id])
    return f"{url}?{urlencode({'back': back})}" if back else url


def started(request: HttpRequest, job: jobs.Job, *, back: str, doing: str) -> HttpResponse:
    """The answer to a POST that started ``job``: for htmx, an empty 200 whose ``HX-Trigger`` hands
    the page the job to follow in place (static/js/jobs.js: the button stays busy, the row's words
    show, then the outcome by name); for everyone else, a redirect to the job's page."""
    if not request.htmx:
        return redirect(job_url(job.id, back))
    detail = {"url": job_url(job.id, back), "ws": ws_path("ws-job", job.id), "doing": doing}
    response = HttpResponse("", content_type="text/plain")
    response["HX-Trigger"] = json.dumps({"dashboard:job": detail})
    return response


@require_role(Role.VIEWER)
@require_GET
def job_page(request: HttpRequest, job_id: str) -> HttpResponse:
    """The live progress of a job from any server process (the job is a row); only people allowed
    to start a job of that kind see it. ``back``: a local path to offer when it is done."""
    row = jobs.load(job_id)
    if row is None:
        raise Http404("No such job.")
    if not jobs.may_watch(request.user, row):
        return forbidden(request, ROLE_GROUPS[row.required_role])
    back = _local(request.GET.get("back", ""))
    context = {
        "job": jobs.snapshot_of(row),
        "back": back,
        "back_label": back_label(back) if back else "",
        "items": row.kind in ITEM_KINDS,
        "section": row.kind if row.kind in ITEM_KINDS else SECTIONS.get(row.kind, "images"),
    }
    return render(request, "jobs/job.html", context)


urlpatterns = [
    path("jobs/<str:job_id>/", job_page, name="job"),
    path("images/jobs/<str:job_id>/", job_page, name="image-job"),
]
