"""Events websocket consumers."""

websocket_urlpatterns: list = []
