"""Logs pages and actions."""

urlpatterns: list = []
