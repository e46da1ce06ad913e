"""Websocket routes: each feature module keeps its own ``websocket_urlpatterns``, joined here."""

from core.consumers import events, exec, logs, overview, progress, stats, unknown

websocket_urlpatterns = [
    *overview.websocket_urlpatterns,
    *progress.websocket_urlpatterns,
    *events.websocket_urlpatterns,
    *stats.websocket_urlpatterns,
    *logs.websocket_urlpatterns,
    *exec.websocket_urlpatterns,
]
# What the ASGI router serves: the routes above, then a clean refusal for any other path.
routed_urlpatterns = [*websocket_urlpatterns, *unknown.websocket_urlpatterns]
