"""Links to another endpoint (core.endpoints.reverse_on): from any endpoint, to any endpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import get_script_prefix, set_script_prefix

from core.endpoints import reverse_on
from core.engine import EndpointRef

DEFAULT = EndpointRef(slug="default", name="default", url="unix:///x.sock", is_default=True)
BETA = EndpointRef(slug="beta", name="beta", url="tcp://127.0.0.1:1")
GAMMA = EndpointRef(slug="gamma", name="gamma", url="tcp://127.0.0.1:2")


@pytest.fixture
def on():
    """Pretend the request is on ``endpoint``, as EndpointMiddleware leaves the script prefix."""
    original = get_script_prefix()

    def request_on(endpoint: EndpointRef) -> SimpleNamespace:
        set_script_prefix("/" if endpoint.is_default else f"/e/{endpoint.slug}/")
        return SimpleNamespace(endpoint=endpoint)

    yield request_on
    set_script_prefix(original)


def test_from_the_default_endpoint_to_another(on):
    assert reverse_on(on(DEFAULT), BETA, "overview") == "/e/beta/"


def test_from_another_endpoint_to_the_default(on):
    assert reverse_on(on(BETA), DEFAULT, "container_list") == "/containers/"


def test_from_one_endpoint_to_a_third(on):
    assert reverse_on(on(BETA), GAMMA, "container_list") == "/e/gamma/containers/"


def test_the_request_keeps_its_own_prefix(on):
    reverse_on(on(BETA), GAMMA, "overview")
    assert get_script_prefix() == "/e/beta/"
