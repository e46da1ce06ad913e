"""The unit tier: pure logic, no Docker engine (``make check`` runs it with a dead DOCKER_HOST)."""
