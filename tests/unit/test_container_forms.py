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


def test_a_path_alone_is_an_anonymous_volume():
    (spec,) = parse_volumes("/data")
    assert spec.anonymous is True
    assert spec.target == "/data"


def test_an_operator_may_ask_for_an_anonymous_volume():
    form = _form(Role.OPERATOR, volumes="/data\n/cache")
    assert form.errors == {}
    assert [m.kind for m in form.workload().mounts] == ["volume", "volume"]


def test_an_anonymous_volume_does_not_hide_a_refused_bind():
    assert "volumes" in _form(Role.OPERATOR, volumes="/data\n/etc:/host-etc").errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("relative", "absolute path alone"),
        ("/", "root"),
        ("data:/", "root"),
        ("/data\ncache:/data/", "already mounted by line 1"),
        ("/data:ro", "must be an absolute path"),
    ],
)
def test_bad_mount_lines_say_why(text, message):
    with pytest.raises(Exception, match=message):
        parse_volumes(text)


# --------------------------------------------------------------------------- limits, healthcheck, logs


def test_resource_limits_become_engine_units():
    form = _form(
        Role.OPERATOR,
        memory="512m",
        memory_reservation="256m",
        cpus="1.5",
        cpu_shares="512",
        pids_limit="100",
    )
    spec = form.spec()
    assert (spec.memory, spec.memory_reservation) == (512 << 20, 256 << 20)
    assert spec.nano_cpus == 1_500_000_000
    assert (spec.cpu_shares, spec.pids_limit) == (512, 100)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory", "lots"),
        ("memory", "1k"),  # below the engine's minimum
        ("cpus", "0"),
        ("cpus", "abc"),
        ("cpu_shares", "1"),
        ("pids_limit", "-5"),
        ("health_interval", "soon"),
        ("health_retries", "-1"),
        ("log_driver", "bad driver!"),
        ("log_max_size", "big"),
        ("log_max_file", "0"),
    ],
)
def test_a_bad_runtime_value_is_a_field_error_with_the_input_kept(field, value):
    form = _form(Role.ADMIN, **{field: value}, health_cmd="true")
    assert field in form.errors
    assert form[field].value() == value


def test_a_reservation_above_the_limit_is_refused():
    assert "memory_reservation" in _form(Role.ADMIN, memory="64m", memory_reservation="1g").errors


def test_a_healthcheck_becomes_a_shell_test_with_nanoseconds():
    form = _form(
        Role.OPERATOR,
        health_cmd="wget -q -O- localhost",
        health_interval="1m30s",
        health_timeout="500ms",
        health_retries="3",
        health_start_period="10",
    )
    health = form.spec().healthcheck
    assert health.test == ("CMD-SHELL", "wget -q -O- localhost")
    assert (health.interval, health.timeout, health.start_period) == (90 * 10**9, 5 * 10**8, 10 * 10**9)
    assert health.retries == 3


def test_health_timings_without_a_command_are_refused():
    assert "health_cmd" in _form(Role.OPERATOR, health_interval="5s").errors


def test_none_disables_the_image_healthcheck():
    assert _form(Role.OPERATOR, health_cmd="none").spec().healthcheck.test == ("NONE",)


def test_log_options_go_with_their_driver():
    spec = _form(Role.OPERATOR, log_driver="json-file", log_max_size="10m", log_max_file="3").spec()
    assert (spec.log_driver, spec.log_options) == ("json-file", (("max-size", "10m"), ("max-file", "3")))


def test_sizes_and_durations_round_trip_through_the_form_notation():
    from core.container_forms import format_duration, format_size, parse_duration, parse_size

    for text in ("512m", "1g", "3k", "1000"):
        assert format_size(parse_size(text, "x")) == ("1000" if text == "1000" else text)
    for text in ("30s", "1m", "2h", "500ms"):
        assert format_duration(parse_duration(text, "x")) == text


def test_networks_lines_carry_aliases_and_refuse_host():
    spec = _form(Role.OPERATOR, networks="front web www\nback").spec()
    assert [(n.name, n.aliases) for n in spec.networks] == [("front", ("web", "www")), ("back", ())]
    assert "networks" in _form(Role.ADMIN, networks="host").errors


def test_other_log_options_are_key_value_lines_after_max_size_and_max_file():
    spec = _form(
        Role.OPERATOR, log_driver="json-file", log_max_size="10m", log_opts="labels=app\n\nenv=MODE\n"
    ).spec()
    assert spec.log_options == (("max-size", "10m"), ("labels", "app"), ("env", "MODE"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("labels", "not KEY=value"),
        ("=x", "not KEY=value"),
        ("bad key=x", "not KEY=value"),
        ("max-size=1m", "its own field"),
        ("tag=a\ntag=b", "twice"),
        ("\n".join(f"k{n}=v" for n in range(33)), "At most 32"),
    ],
)
def test_bad_log_option_lines_are_field_errors(text, why):
    form = _form(Role.ADMIN, log_opts=text)
    assert why in " ".join(form.errors["log_opts"])


def test_the_none_driver_takes_no_log_options():
    assert "log_driver" in _form(Role.OPERATOR, log_driver="none", log_opts="tag=x").errors


def test_an_operator_may_shape_logs_but_not_send_them_elsewhere():
    assert _form(Role.OPERATOR, log_driver="json-file", log_opts="labels=a\ntag=x").errors == {}
    refused = _form(Role.OPERATOR, log_driver="syslog", log_opts="syslog-address=udp://127.0.0.1:514")
    assert "syslog-address" in " ".join(refused.errors["log_opts"])
    admin = _form(Role.ADMIN, log_driver="syslog", log_opts="syslog-address=udp://127.0.0.1:514")
    assert admin.errors == {}


def test_every_log_option_round_trips_through_the_edit_form():
    from core.container_forms import initial_from_spec, spec_diff

    spec = _form(
        Role.ADMIN, log_driver="syslog", log_max_size="", log_opts="tag=x\nlabels=a\nsyslog-format=rfc5424"
    ).spec()
    initial = initial_from_spec(spec)
    assert initial["log_opts"] == "labels=a\nsyslog-format=rfc5424\ntag=x"
    again = _form(Role.ADMIN, **{k: v for k, v in initial.items() if v not in ("", None, False)})
    assert again.errors == {}
    assert dict(again.spec().log_options) == dict(spec.log_options)
    assert [row for row in spec_diff(spec, again.spec()) if row[0].startswith("log")] == []
