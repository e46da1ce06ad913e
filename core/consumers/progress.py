"""Progress websocket consumers."""

websocket_urlpatterns: list = []
