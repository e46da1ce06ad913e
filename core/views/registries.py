"""Registries pages and actions."""

urlpatterns: list = []
