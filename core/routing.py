"""Websocket routes: each feature module keeps its own ``websocket_urlpatterns``, joined here."""

from core.consumers import events, exec, logs, overview, progress, stats

websocket_urlpatterns = [
    *overview.websocket_urlpatterns,
    *progress.websocket_urlpatterns,
    *events.websocket_urlpatterns,
    *stats.websocket_urlpatterns,
    *logs.websocket_urlpatterns,
    *exec.websocket_urlpatterns,
]
