"""The pure parts of stacks: a normalized compose config seen by the one policy, host-file keys,
names, secret masking and diffs (no engine: core/stacks.py's functions that take no Engine)."""

from __future__ import annotations

import pytest
import yaml

from core import policy, stacks
from core.engine.compose import env_variables, reserved_env_lines
from core.errors import InvalidInput
from core.roles import Role

NORMALIZED = """
services:
  web:
    image: app
    privileged: true
    cap_add: [NET_ADMIN]
    network_mode: host
    volumes:
    - data:/data:rw
    - ./conf:/conf:ro
    - source: /etc
      target: /hostetc
      type: bind
  side:
    image: app
    pid: container:other
    ipc: host
    devices: ["/dev/sda:/dev/sda"]
    security_opt: ["seccomp:unconfined"]
    volumes_from: ["container:db", "service:web"]
    secrets: [{source: s}]
    volumes:
    - cache:/cache
    - nfs:/nfs
  plain:
    image: app
    volumes: [data:/data, /anonymous]
volumes:
  data: {}
  cache:
    driver_opts: {type: none, o: bind, device: /srv}
  nfs:
    driver: rexray
secrets:
  s:
    file: ./secret.txt
"""


def _refusals(service: str) -> list[policy.Refusal]:
    found = {name: w for name, w, _ in stacks.workloads("proj", yaml.safe_load(NORMALIZED))}
    return list(policy.refusals(found[service], Role.OPERATOR))


def _fields(service: str) -> set[str]:
    return {r.field for r in _refusals(service)}


def test_privileged_caps_and_host_network_are_refused_by_field():
    assert {"privileged", "cap_add", "network"} <= _fields("web")


def test_short_and_long_bind_mounts_are_refused_naming_the_path():
    messages = " ".join(r.message for r in _refusals("web") if r.field == "volumes")
    assert "./conf" in messages
    assert "/etc" in messages


def test_namespaces_devices_security_opt_and_volumes_from_are_refused():
    assert {"pid", "ipc", "devices", "security_opt", "volumes_from"} <= _fields("side")


def test_volumes_from_another_service_of_the_stack_is_not_counted():
    message = next(r.message for r in _refusals("side") if r.field == "volumes_from")
    assert "container:db" in message
    assert "service:web" not in message


def test_volume_with_bind_driver_options_and_a_non_local_driver_are_refused():
    messages = " ".join(r.message for r in _refusals("side") if r.field == "volumes")
    assert "proj_cache" in messages
    assert "rexray" in messages


def test_a_file_secret_counts_as_a_bind_mount_of_the_host():
    messages = " ".join(r.message for r in _refusals("side") if r.field == "volumes")
    assert "./secret.txt" in messages


def test_named_and_anonymous_volumes_of_the_project_are_allowed():
    assert _refusals("plain") == []


def test_named_volumes_resolve_to_their_engine_names():
    found = {name: w for name, w, _ in stacks.workloads("proj", yaml.safe_load(NORMALIZED))}
    assert found["plain"].volume_names == ("proj_data",)


def test_external_and_named_volumes_keep_their_own_names():
    config = {
        "services": {"a": {"image": "x", "volumes": ["ext:/e", "named:/n"]}},
        "volumes": {"ext": {"external": True}, "named": {"name": "exact-name"}},
    }
    ((_, workload, _),) = stacks.workloads("proj", config)
    assert workload.volume_names == ("ext", "exact-name")


def test_networks_resolve_to_engine_names():
    config = {
        "services": {"a": {"image": "x", "networks": {"front": None, "outside": None}}},
        "networks": {"front": {}, "outside": {"external": True, "name": "shared"}},
    }
    ((_, _, networks),) = stacks.workloads("proj", config)
    assert networks == ("proj_front", "shared")


def test_admin_gets_no_policy_refusals():
    found = {name: w for name, w, _ in stacks.workloads("proj", yaml.safe_load(NORMALIZED))}
    assert policy.refusals(found["web"], Role.ADMIN) == ()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("services:\n  a:\n    image: x\n    env_file: /etc/shadow\n", "env_file"),
        ("services:\n  a:\n    build: /etc\n", "build"),
        ("services:\n  a:\n    extends: {file: /x.yml, service: b}\n", "extends"),
        ("services:\n  a: {image: x}\nsecrets:\n  s: {file: /root/.ssh/id_rsa}\n", "secrets"),
    ],
)
def test_keys_that_read_the_dashboard_hosts_files_are_named(text, needle):
    found = stacks._host_file_refusals(yaml.safe_load(text))
    assert found
    assert needle in found[0]


@pytest.mark.parametrize("name", ["web", "a-b_c", "x1", "0app"])
def test_valid_stack_names(name):
    assert stacks.valid_name(name)


@pytest.mark.parametrize("name", ["", "Web", "-x", "a b", "a/b", "a.b", "new", "jobs", "x" * 64, "é"])
def test_invalid_stack_names(name):
    assert not stacks.valid_name(name)


def test_env_text_masks_secret_looking_values_only():
    masked = policy.masked_env_text("GREETING=hello\nDB_PASSWORD=hunter2\n# API_TOKEN=x\nexport AUTH_KEY=k")
    assert masked.splitlines() == [
        "GREETING=hello",
        "DB_PASSWORD=***",
        "# API_TOKEN=x",
        "export AUTH_KEY=***",
    ]


def test_compose_text_masks_secret_looking_assignments():
    text = "    environment:\n      DB_PASSWORD: hunter2\n      - SECRET_TOKEN=abc\n      PLAIN: visible\n"
    masked = policy.masked_compose_text(text)
    assert "hunter2" not in masked
    assert "abc" not in masked
    assert "PLAIN: visible" in masked


def test_diff_names_the_changed_lines():
    changed = stacks.diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "compose file")
    assert "-b: 2" in changed.splitlines()
    assert "+b: 3" in changed.splitlines()


def test_diff_of_equal_texts_is_empty():
    assert stacks.diff("a: 1\n", "a: 1\n", "x") == ""


# --------------------------------------------------------------------------- policy additions (issue 16)


def _workload(service: dict, extra: dict | None = None) -> policy.Workload:
    config = {"services": {"a": service, "web": {"image": "x"}}, **(extra or {})}
    found = {name: w for name, w, _ in stacks.workloads("proj", config)}
    return found["a"]


def _operator_fields(service: dict) -> set[str]:
    return {r.field for r in policy.refusals(_workload(service), Role.OPERATOR)}


def test_userns_mode_is_refused_for_an_operator():
    assert _operator_fields({"image": "x", "userns_mode": "host"}) == {"userns_mode"}


def test_cgroup_parent_is_refused_for_an_operator():
    assert _operator_fields({"image": "x", "cgroup_parent": "/system.slice"}) == {"cgroup_parent"}


@pytest.mark.parametrize("driver", ["syslog", "gelf", "fluentd", "splunk", "awslogs"])
def test_log_drivers_that_ship_logs_elsewhere_are_refused(driver):
    service = {"image": "x", "logging": {"driver": driver, "options": {"syslog-address": "udp://1.2.3.4"}}}
    refusals = policy.refusals(_workload(service), Role.OPERATOR)
    by_field = {r.field: r.message for r in refusals}
    assert set(by_field) == {"logging", "log_opts"}
    assert driver in by_field["logging"]
    assert "syslog-address" in by_field["log_opts"]


def test_stack_log_options_follow_the_container_rule():
    rotating = {"image": "x", "logging": {"driver": "json-file", "options": {"max-size": "10m", "tag": "t"}}}
    assert _operator_fields(rotating) == set()
    shipping = {"image": "x", "logging": {"driver": "json-file", "options": {"gelf-address": "udp://h:1"}}}
    assert _operator_fields(shipping) == {"log_opts"}


@pytest.mark.parametrize("driver", ["json-file", "local", "none", "journald"])
def test_log_drivers_that_keep_logs_on_the_engine_are_allowed(driver):
    assert _operator_fields({"image": "x", "logging": {"driver": driver}}) == set()


def test_an_admin_may_use_userns_cgroup_parent_and_any_log_driver():
    service = {"image": "x", "userns_mode": "host", "cgroup_parent": "/c", "logging": {"driver": "syslog"}}
    assert policy.refusals(_workload(service), Role.ADMIN) == ()


@pytest.mark.parametrize("key", ["network_mode", "pid", "ipc"])
def test_joining_a_sibling_service_namespace_is_allowed(key):
    assert _operator_fields({"image": "x", key: "service:web"}) == set()


@pytest.mark.parametrize("key", ["network_mode", "pid", "ipc"])
def test_joining_a_service_that_is_not_in_the_project_is_refused(key):
    field = "network" if key == "network_mode" else key
    assert _operator_fields({"image": "x", key: "service:elsewhere"}) == {field}


def test_a_macvlan_network_on_a_host_interface_is_refused_naming_the_network():
    config = {
        "services": {"a": {"image": "x"}},
        "networks": {"lan": {"driver": "macvlan", "driver_opts": {"parent": "eth0"}}},
    }
    found = stacks.network_refusals(config, Role.OPERATOR)
    assert len(found) == 1
    assert "“lan”" in found[0]
    assert "parent=eth0" in found[0]


@pytest.mark.parametrize(
    ("driver", "options", "role", "refused"),
    [
        ("ipvlan", {"parent": "ens3"}, Role.OPERATOR, True),
        ("macvlan", {"parent": "eth0"}, Role.ADMIN, False),
        ("macvlan", {}, Role.OPERATOR, False),  # no parent: a dummy interface of its own
        ("bridge", {"parent": "eth0"}, Role.OPERATOR, False),
    ],
)
def test_network_refusals_by_driver_option_and_role(driver, options, role, refused):
    assert bool(policy.network_refusals(driver, options.items(), role)) is refused


def test_an_external_network_is_not_checked_as_created():
    config = {"networks": {"lan": {"external": True, "driver": "macvlan", "driver_opts": {"parent": "eth0"}}}}
    assert stacks.network_refusals(config, Role.OPERATOR) == []


# --------------------------------------------------------------------------- swarm stacks


def test_swarm_keys_the_policy_cannot_check_are_refused_naming_service_and_key():
    config = {"services": {"a": {"image": "x", "credential_spec": {"file": "c.json"}, "x-note": 1}}}
    assert stacks.swarm_key_refusals(config) == [
        "Service “a”, credential_spec: the policy cannot check it; only an admin may use it."
    ]


def test_swarm_external_secrets_and_config_templates_are_refused():
    config = {
        "services": {"a": {"image": "x"}},
        "secrets": {"db": {"external": True}},
        "configs": {"c": {"content": "x", "template_driver": "golang"}},
    }
    found = " ".join(stacks.swarm_key_refusals(config))
    assert "secrets “db”, external" in found
    assert "configs “c”, template_driver" in found


def test_a_plain_swarm_stack_has_no_key_refusals():
    config = {
        "version": "3.13",
        "services": {"a": {"image": "x", "deploy": {"replicas": 2}, "ports": [{"target": 80}]}},
        "networks": {"n": {"driver": "overlay"}},
    }
    assert stacks.swarm_key_refusals(config) == []


def test_env_text_becomes_variables_for_docker_stack():
    text = "# comment\nGREETING=hello world\nexport QUOTED='a b'\n\nEMPTY=\n"
    assert env_variables(text) == {"GREETING": "hello world", "QUOTED": "a b", "EMPTY": ""}


@pytest.mark.parametrize("line", ["DOCKER_HOST=tcp://x", "PATH=/tmp", "docker_config=/x", "HTTPS_PROXY=h"])
def test_env_names_the_docker_cli_reads_itself_are_refused(line):
    with pytest.raises(InvalidInput, match="line 1"):
        env_variables(line)


def test_compose_env_lines_the_cli_reads_itself_are_found_with_their_numbers():
    text = "A=1\n# COMPOSE_FILE=/x\nexport COMPOSE_FILE=/etc/passwd\ndocker_host=tcp://h\nB=2\n"
    assert reserved_env_lines(text) == [(3, "COMPOSE_FILE"), (4, "docker_host")]


def test_an_operator_compose_env_may_not_set_what_the_cli_reads():
    """Refused before anything runs (no engine is touched: None would fail if it were)."""
    compose = "services:\n  a:\n    image: x\n"
    checked = stacks.check(
        None, name="s", compose=compose, env="COMPOSE_HTTP_TIMEOUT=1\n", role=Role.OPERATOR
    )
    assert checked.denied and "line 1: COMPOSE_HTTP_TIMEOUT" in checked.errors[0]


def test_an_env_line_without_an_equals_sign_is_refused_with_its_number():
    with pytest.raises(InvalidInput, match="line 2"):
        env_variables("A=1\nnot a variable\n")


def test_a_task_runs_the_current_spec_whatever_the_api_adds_to_the_template():
    from core.engine.swarm import _same_spec

    task = {"ContainerSpec": {"Image": "x", "Args": ["a"]}, "ForceUpdate": 0, "Resources": {}}
    assert _same_spec(task, {**task, "Runtime": "container"})
    assert not _same_spec(task, {**task, "ContainerSpec": {"Image": "x", "Args": ["b"]}})
    assert not _same_spec(task, {**task, "ForceUpdate": 1})


def _item(project, service, state="running", **labels):
    base = {"com.docker.compose.project": project, "com.docker.compose.service": service}
    return {"Id": f"{project}-{service}", "State": state, "Labels": {**base, **labels}}


def test_project_counts_group_containers_by_project_with_services_and_states():
    from core.engine.compose import project_counts

    files = {
        "com.docker.compose.project.config_files": "docker-compose.yml,override.yml",
        "com.docker.compose.project.working_dir": "/srv/shop",
    }
    raw = [
        _item("shop", "web", **files),
        _item("shop", "web", state="exited", **files),
        _item("shop", "db", **files),
        _item("blog", "app", state="exited"),
        {"Id": "loose", "State": "running", "Labels": {"other": "x"}},  # not a compose container
        {"Id": "nolabels", "State": "running", "Labels": None},
        {"Id": "odd", "State": "running", "Labels": {"com.docker.compose.project": ""}},
    ]
    counts = {p.name: p for p in project_counts(raw)}
    assert set(counts) == {"shop", "blog"}
    shop, blog = counts["shop"], counts["blog"]
    assert (shop.services, shop.running, shop.total, shop.status) == (("db", "web"), 2, 3, "partial")
    assert shop.config_files == ("/srv/shop/docker-compose.yml", "/srv/shop/override.yml")
    assert (blog.services, blog.running, blog.total, blog.status) == (("app",), 0, 1, "stopped")
    assert blog.config_files == ()


def test_project_counts_status_of_all_running_and_of_none():
    from core.engine.compose import ProjectCounts, project_counts

    (only,) = project_counts([_item("p", "a"), _item("p", "b")])
    assert only.status == "running"
    assert ProjectCounts("gone", (), 0, 0, ()).status == "down"
