"""The error hierarchy and the engine wrapper's translation: pure, no engine, no database."""

from __future__ import annotations

import docker.errors
import pytest
import requests
import urllib3.exceptions

from core import errors
from core.engine._client import translate, translated

HOST = "unix:///nowhere/docker.sock"


class _Answer:
    """What docker-py's APIError reads from an HTTP answer: its status code and reason."""

    def __init__(self, status: int):
        self.status_code = status
        self.reason = "refused"


def test_refused_and_unavailable_are_siblings() -> None:
    assert not issubclass(errors.Unavailable, errors.Refused)


def test_engine_unavailable_is_not_a_refusal() -> None:
    assert not issubclass(errors.EngineUnavailable, errors.Refused)


@pytest.mark.parametrize(
    "cls",
    [errors.NotFound, errors.Conflict, errors.InvalidInput, errors.InvalidReference, errors.EngineRefused],
)
def test_engine_refusals_are_refused(cls: type) -> None:
    assert issubclass(cls, errors.Refused)


@pytest.mark.parametrize("cls", [errors.RegistryRefused, errors.RegistryAuthFailed, errors.RegistryNotFound])
def test_registry_refusals_are_refused(cls: type) -> None:
    assert issubclass(cls, errors.Refused)


def test_registry_not_found_renders_as_not_found() -> None:
    assert issubclass(errors.RegistryNotFound, errors.NotFound)


def test_registry_unavailable_is_unavailable() -> None:
    assert issubclass(errors.RegistryUnavailable, errors.Unavailable)


def test_unavailable_names_what_it_tried() -> None:
    assert errors.EngineUnavailable(tried=HOST).message == f"The Docker engine at {HOST} is not answering."


def test_a_bug_inside_an_engine_call_stays_a_bug() -> None:
    with pytest.raises(KeyError), translated(HOST):
        {}["missing"]


def test_a_type_error_inside_an_engine_call_is_not_translated() -> None:
    with pytest.raises(TypeError), translated(HOST):
        len(None)  # type: ignore[arg-type]


def test_our_own_errors_pass_unchanged() -> None:
    refusal = errors.Conflict("taken")
    with pytest.raises(errors.Conflict) as caught, translated(HOST):
        raise refusal
    assert caught.value is refusal


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("connection refused"),
        requests.Timeout("read timed out"),
        urllib3.exceptions.ProtocolError("connection reset"),
        FileNotFoundError(2, "No such file or directory"),
        docker.errors.DockerException("Error while fetching server API version: Connection aborted"),
    ],
)
def test_no_answer_is_engine_unavailable_naming_the_host(exc: Exception) -> None:
    with pytest.raises(errors.EngineUnavailable) as caught, translated(HOST):
        raise exc
    assert caught.value.tried == HOST


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, errors.NotFound),
        (409, errors.Conflict),
        (400, errors.InvalidInput),
        (500, errors.EngineRefused),
    ],
)
def test_an_engine_answer_becomes_a_refusal_by_status(status: int, cls: type) -> None:
    exc = docker.errors.APIError("refused", response=_Answer(status), explanation="the engine's reason")
    translated_error = translate(exc, host=HOST)
    assert type(translated_error) is cls


def test_the_engine_explanation_is_the_message() -> None:
    exc = docker.errors.APIError("refused", response=_Answer(409), explanation="name is already in use")
    assert translate(exc, host=HOST).message == "name is already in use"


def test_an_sdk_refusal_before_any_request_is_not_unavailability() -> None:
    exc = docker.errors.InvalidArgument("bad port spec")
    assert isinstance(translate(exc, host=HOST), errors.EngineRefused)


def test_a_bad_reference_inside_an_engine_call_is_invalid_reference() -> None:
    from core import references

    with pytest.raises(errors.InvalidReference), translated(HOST):
        references.parse("Not A Reference")
