"""Exec websocket consumers."""

websocket_urlpatterns: list = []
