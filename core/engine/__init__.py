"""The engine boundary: the only package that imports the docker SDK (shared/STYLE.md).

Each module covers one resource (``system``, ``images``, ``containers``, ``streams`` ...) with plain,
typed functions that return frozen dataclasses, never SDK objects. Every SDK/requests failure leaves
this package as a :mod:`core.errors` exception, through :func:`translated`.
"""

from core.engine._client import client, engine_call, forget_client, translated

__all__ = ["client", "engine_call", "forget_client", "translated"]
