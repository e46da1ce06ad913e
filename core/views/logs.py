"""Log viewer, log download, merged logs, and the exec/attach terminal pages."""

from __future__ import annotations

import json
import re

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse

from core import engine
from core.consumers.logs import MAX_MERGED
from core.engine.streams import ContainerFacts, parse_since
from core.errors import InvalidInput, Refused
from core.live.bridge import Feed, Pump, aiter_body
from core.roles import Role, require_role
from core.routing import ws_path

MAX_GREP = 200


def _facts(request: HttpRequest, container_id: str) -> ContainerFacts:
    return engine.for_request(request).streams.container_facts(container_id)  # NotFound: 404 page


@require_role(Role.VIEWER)
def container_logs(request: HttpRequest, container_id: str) -> HttpResponse:
    """The live log viewer of one container."""
    container = _facts(request, container_id)
    return render(
        request,
        "logs/logs.html",
        {
            "containers": [container],
            "title": container.name,
            "ws_path": ws_path("ws-container-logs", container.id),
            "download": reverse("container-logs-download", args=[container.id]),
        },
    )


@require_role(Role.VIEWER)
def merged_logs(request: HttpRequest) -> HttpResponse:
    """Several containers' logs in one stream, interleaved by time (``?containers=a,b``, or
    ``?project=name``: a compose project's containers)."""
    ids = [part.strip() for part in request.GET.get("containers", "").split(",") if part.strip()]
    if project := request.GET.get("project", "").strip():
        ids += project_containers(engine.for_request(request), project)
    if not ids:
        context = {"containers": [], "title": "Merged logs", "project": project}
        return render(request, "logs/logs.html", context, status=400)
    containers = [_facts(request, container_id) for container_id in dict.fromkeys(ids)]
    joined = ",".join(container.id for container in containers)
    return render(
        request,
        "logs/logs.html",
        {
            "containers": containers,
            "title": ", ".join(container.name for container in containers),
            "ws_path": ws_path("ws-logs", query=f"containers={joined}"),
            "merged": True,
        },
    )


def project_containers(docker: engine.Engine, project: str) -> list[str]:
    """The ids of a compose project's containers (running first, then by name; at most MAX_MERGED)."""
    every = docker.containers.list_containers(include_stopped=True)
    rows = [c for c in every if c.compose_project == project]
    rows.sort(key=lambda c: (c.state != "running", c.name))
    return [c.id for c in rows[:MAX_MERGED]]


def _as_text(line: dict, timestamps: bool) -> str:
    return f"{line['ts']} {line['text']}\n" if timestamps else line["text"] + "\n"


def _as_ndjson(line: dict, timestamps: bool) -> str:
    return json.dumps({"stream": line["stream"], "ts": line["ts"], "text": line["text"]}) + "\n"


def log_pump(
    docker: engine.Engine,
    container: ContainerFacts,
    *,
    since,
    until,
    timestamps,
    pattern,
    tail: str = "all",
    ndjson: bool = False,
    stream: str = "",
) -> Pump[bytes]:
    """The log (the last ``tail`` lines, or all) as text or NDJSON, read through the bridge
    (blocking policy): constant memory. The page's download and the API's both use it.
    ``stream``: ``stdout`` or ``stderr`` keeps only that one (``""``: both)."""
    render = _as_ndjson if ndjson else _as_text

    def produce(feed: Feed[bytes]) -> None:
        log = docker.streams.open_logs(
            container.id,
            tail=tail,
            since=since,
            until=until,
            follow=False,
            tty=container.tty,
            timestamps=bool(timestamps or ndjson),  # NDJSON lines always carry "ts"
        )
        if not feed.attach(log):
            return
        try:
            for batch in log.batches():
                out = [
                    render(line, timestamps)
                    for line in batch
                    if (pattern is None or pattern.search(line["text"]))
                    and (not stream or line["stream"] == stream)
                ]
                if out and not feed.put("".join(out).encode()):
                    return
        finally:
            feed.detach(log)
            log.close()

    return Pump(produce, maxsize=8, name="logs-download")


@require_role(Role.VIEWER)
def download_logs(request: HttpRequest, container_id: str) -> HttpResponse:
    """The whole log as text/plain, streamed (``since``, ``until``, ``timestamps``, ``stream``,
    ``grep`` applied here)."""
    container = _facts(request, container_id)
    try:
        since = parse_since(request.GET.get("since"))
        until = parse_since(request.GET.get("until"))
        grep = request.GET.get("grep", "")[:MAX_GREP]
        stream = request.GET.get("stream", "")
        if stream not in ("", "stdout", "stderr"):
            raise InvalidInput("stream is stdout or stderr (or absent for both).")
        try:
            pattern = re.compile(grep) if grep else None
        except re.error as exc:
            raise InvalidInput(f"grep is not a valid regular expression: {exc}.") from exc
    except Refused as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(
        aiter_body(
            log_pump(
                engine.for_request(request),
                container,
                since=since,
                until=until,
                timestamps=request.GET.get("timestamps") == "1",
                pattern=pattern,
                stream=stream,
            )
        ),
        content_type="text/plain; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{container.name or container.id[:12]}.log"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_role(Role.OPERATOR)
def terminal(request: HttpRequest, container_id: str) -> HttpResponse:
    """The exec terminal (xterm.js) of a running container."""
    container = _facts(request, container_id)
    return render(
        request,
        "terminal/terminal.html",
        {"container": container, "mode": "exec", "ws_path": ws_path("ws-exec", container.id)},
    )


@require_role(Role.OPERATOR)
def attach(request: HttpRequest, container_id: str) -> HttpResponse:
    """``docker attach`` in the browser: the main process's terminal; closing the tab detaches."""
    container = _facts(request, container_id)
    return render(
        request,
        "terminal/terminal.html",
        {
            "container": container,
            "mode": "attach",
            "ws_path": ws_path("ws-attach", container.id),
        },
    )


urlpatterns = [
    path("containers/<ref:container_id>/logs/", container_logs, name="container-logs"),
    path("containers/<ref:container_id>/logs/download/", download_logs, name="container-logs-download"),
    path("logs/", merged_logs, name="merged-logs"),
    path("containers/<ref:container_id>/terminal/", terminal, name="container-terminal"),
    path("containers/<ref:container_id>/attach/", attach, name="container-attach"),
]
