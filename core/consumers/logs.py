"""Logs websocket consumers."""

websocket_urlpatterns: list = []
