"""Path converters for Docker refs in URLs, registered once (core.apps.CoreConfig.ready).

A URL segment that is not a Docker name or id never reaches a view, so never the engine: Django
answers 404 when the pattern does not match or ``to_python`` raises ``ValueError`` (the grammar's
``BadReference`` is one). ``/containers/%2e%2e/`` is ``..`` once unquoted: a 404, not
``GET /containers/../json`` on the engine.

- ``<ref:...>``: a container, volume, network, service or node: a name or a (short) hex id.
- ``<image_id:...>``: an image id or id prefix, ``sha256:`` optional.
"""

from __future__ import annotations

from django.urls import register_converter

from core import references


class DockerRefConverter:
    # A coarse pre-filter; to_python applies the grammar itself (length, control characters).
    regex = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"

    def to_python(self, value: str) -> str:
        return references.validate_object_ref(value)

    def to_url(self, value: str) -> str:
        return references.validate_object_ref(str(value).removeprefix("/"))


class ImageIdConverter:
    regex = r"(?:sha256:)?[0-9a-f]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        if references.image_id_prefix(str(value)) is None:
            raise ValueError(f"{value!r} is not an image id")
        return str(value)


def register() -> None:
    """Register the converters (called once, from the app's ``ready``)."""
    register_converter(DockerRefConverter, "ref")
    register_converter(ImageIdConverter, "image_id")
