"""Websocket consumers, one module per feature; core/routing.py joins their routes."""
