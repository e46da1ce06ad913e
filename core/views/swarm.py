"""Swarm pages and actions (nodes, services, tasks) for an endpoint that is a Swarm manager."""

urlpatterns: list = []
