"""Stats websocket consumers."""

websocket_urlpatterns: list = []
