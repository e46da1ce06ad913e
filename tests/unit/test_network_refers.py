"""Which networks a container names (core.engine.networks.refers / _users_by_network): one rule for
the list, the detail, delete and prune, whatever state the container is in. Pure, no engine."""

from __future__ import annotations

import pytest

from core.engine.networks import _users_by_network, refers

NET_ID = "df9b4eb267e972c25f39339783633220f255b9a7735de8b98b6689edea8e44a1"
OTHER_ID = "09b57880ee2c2709c87323909470b749a530c87a6c859b1d667fc36320d9e016"


@pytest.mark.parametrize(
    ("key", "endpoint", "expected"),
    [
        ("app-net", {"NetworkID": NET_ID}, True),  # ran once (running or stopped): by id
        ("app-net", {"NetworkID": ""}, True),  # never started: by the key, the network's name
        ("app-net", None, True),
        (NET_ID, {"NetworkID": ""}, True),  # the key is the id
        (NET_ID[:12], {"NetworkID": ""}, True),  # an id prefix
        (NET_ID[:6], {"NetworkID": ""}, False),  # too short to tell from a name
        ("bridge", {"NetworkID": OTHER_ID}, False),
        ("other", {"NetworkID": ""}, False),
        ("", {"NetworkID": ""}, False),
        ("app-net", {"NetworkID": OTHER_ID}, True),  # stale id, same name: its start looks the name up
    ],
)
def test_refers(key, endpoint, expected):
    assert refers(key, endpoint, NET_ID, "app-net") is expected


def _container(cid: str, state: str, networks: dict) -> dict:
    return {"Id": cid, "Names": [f"/{cid}"], "State": state, "NetworkSettings": {"Networks": networks}}


def test_users_by_network_agrees_with_refers_for_every_state():
    networks = [{"Id": NET_ID, "Name": "app-net"}, {"Id": OTHER_ID, "Name": "bridge"}]
    containers = [
        _container(
            "running", "running", {"app-net": {"NetworkID": NET_ID}, "bridge": {"NetworkID": OTHER_ID}}
        ),
        _container("exited", "exited", {"app-net": {"NetworkID": NET_ID}}),
        _container("created", "created", {"app-net": {"NetworkID": ""}}),
        _container("by-prefix", "created", {NET_ID[:12]: {"NetworkID": ""}}),
        _container("elsewhere", "created", {"missing-net": {"NetworkID": ""}}),
        _container("none", "created", {}),
    ]
    users = _users_by_network(containers, networks)
    assert sorted(u.name for u, _ in users[NET_ID]) == ["by-prefix", "created", "exited", "running"]
    assert [u.name for u, _ in users[OTHER_ID]] == ["running"]
    for raw in containers:
        for key, settings in raw["NetworkSettings"]["Networks"].items():
            for network in networks:
                named = any(u.id == raw["Id"] for u, _ in users.get(network["Id"], ()))
                assert named or not refers(key, settings, network["Id"], network["Name"])
