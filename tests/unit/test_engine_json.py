"""The engine client's JSON decoding (orjson): the same objects docker-py's own decoding gives."""

from __future__ import annotations

import json

import docker
import docker.errors
import pytest
import requests

from core.engine._client import _result

API = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")


def _response(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = "http+docker://localhost/v1.41/containers/json"
    response.reason = "OK" if status == 200 else "Not Found"
    return response


def test_lists_decode_to_what_the_stdlib_gives():
    items = [
        {
            "Id": "a" * 64,
            "Names": ["/web"],
            "Labels": {"é": "😀", "q": '"\\\u2028'},
            "Created": 1_700_000_000,
        },
        {"Id": "b" * 64, "Names": None, "Labels": {}, "SizeRw": 1.5, "Flag": False, "Ports": []},
    ]
    body = json.dumps(items).encode()
    assert _result(API, _response(body), json=True) == json.loads(body)


def test_every_64_bit_integer_the_engine_can_send_is_exact():
    # Go's int64 and uint64: orjson keeps them exact (it turns only wider ones into floats).
    body = json.dumps({"Min": -(2**63), "Max": 2**64 - 1, "Zero": 0}).encode()
    decoded = _result(API, _response(body), json=True)
    assert decoded == {"Min": -(2**63), "Max": 2**64 - 1, "Zero": 0}
    assert all(isinstance(v, int) for v in decoded.values())


def test_a_body_orjson_refuses_is_decoded_by_requests_as_before():
    body = b'{"Name": "bad \xff byte"}'
    assert _result(API, _response(body), json=True) == _response(body).json()


def test_text_and_binary_results_are_unchanged():
    assert _result(API, _response(b"OK"), json=False) == "OK"
    assert _result(API, _response(b"\x00\x01"), binary=True) == b"\x00\x01"


def test_an_engine_error_status_still_raises_the_docker_error():
    with pytest.raises(docker.errors.NotFound):
        _result(API, _response(b'{"message": "No such container: x"}', status=404), json=True)
