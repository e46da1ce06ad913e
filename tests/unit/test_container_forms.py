"""The create-container form's policy: non-admins get no host access (privileged, binds, caps, pid ...)."""

from __future__ import annotations

import pytest

from core.container_forms import CreateContainerForm, parse_key_values, parse_ports, parse_volumes
from core.roles import Role


def _form(role: Role, **fields) -> CreateContainerForm:
    form = CreateContainerForm({"image": "busybox:latest", **fields}, role=role)
    form.is_valid()
    return form


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("privileged", "on"),
        ("volumes", "/etc:/host-etc"),
        ("volumes", "/:/host:ro"),
        ("cap_add", "SYS_ADMIN"),
        ("cap_add", "ALL"),
        ("network", "host"),
        ("pid", "host"),
        ("pid", "container:other"),
    ],
)
def test_an_operator_is_refused_host_access(field, value):
    assert field in _form(Role.OPERATOR, **{field: value}).errors


@pytest.mark.parametrize(
    ("field", "value"),
    [("privileged", "on"), ("volumes", "/etc:/host-etc:ro"), ("cap_add", "NET_ADMIN"), ("network", "host")],
)
def test_an_admin_may_use_host_access(field, value):
    assert _form(Role.ADMIN, **{field: value}).errors == {}


def test_an_operator_may_mount_a_named_volume():
    assert _form(Role.OPERATOR, volumes="data:/data").errors == {}


def test_the_bind_refusal_names_the_path():
    assert "/etc" in _form(Role.OPERATOR, volumes="/etc:/x").errors["volumes"][0]


def test_an_operator_plain_container_is_valid():
    assert _form(Role.OPERATOR, name="web", ports="8080:80", env="A=1").errors == {}


def test_a_bad_capability_name_is_refused_even_for_admins():
    assert "cap_add" in _form(Role.ADMIN, cap_add="not a cap").errors


def test_a_pid_mode_that_is_not_host_or_container_is_refused():
    assert "pid" in _form(Role.ADMIN, pid="weird").errors


def test_env_values_are_not_audited_only_their_keys():
    form = _form(Role.OPERATOR, env="PASSWORD=hunter2\nMODE=x")
    assert form.audit_parameters()["env"] == ["PASSWORD", "MODE"]


def test_a_key_value_line_without_equals_names_its_line():
    with pytest.raises(Exception, match="Line 2"):
        parse_key_values("A=1\nnope", "variable")


def test_ports_accept_ip_host_container_protocol():
    (spec,) = parse_ports("127.0.0.1:8080:80/udp")
    assert (spec.host_ip, spec.host_port, spec.container_port, spec.protocol) == (
        "127.0.0.1",
        8080,
        80,
        "udp",
    )


@pytest.mark.parametrize("line", ["70000", "80/icmp", "a:b:c:d"])
def test_bad_port_lines_are_refused(line):
    with pytest.raises(Exception, match="Line 1"):
        parse_ports(line)


def test_a_relative_volume_target_is_refused():
    with pytest.raises(Exception, match="absolute path"):
        parse_volumes("data:relative")


def test_a_read_only_bind_is_parsed():
    (spec,) = parse_volumes("/srv:/srv:ro")
    assert spec.read_only is True
