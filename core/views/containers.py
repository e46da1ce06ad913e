"""Containers pages and actions."""

urlpatterns: list = []
