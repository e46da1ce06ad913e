"""Websocket routes: each feature module keeps its own ``websocket_urlpatterns``, joined here.

Every route has a name; :func:`ws_path` reverses one like ``reverse()`` does a page (the script
prefix carries `/e/<slug>/`), and the ``{% ws_url %}`` template tag renders it.
"""

from django.urls import reverse

from core.consumers import events, exec, logs, overview, progress, stats

websocket_urlpatterns = [
    *overview.websocket_urlpatterns,
    *progress.websocket_urlpatterns,
    *events.websocket_urlpatterns,
    *stats.websocket_urlpatterns,
    *logs.websocket_urlpatterns,
    *exec.websocket_urlpatterns,
]
urlpatterns = websocket_urlpatterns  # so that reverse(urlconf="core.routing") finds them


def ws_path(name: str, *args: object, query: str = "") -> str:
    """The path of the websocket route ``name`` on the current endpoint, e.g. `/e/b/ws/overview/`."""
    path = reverse(name, urlconf="core.routing", args=args)
    return f"{path}?{query}" if query else path
