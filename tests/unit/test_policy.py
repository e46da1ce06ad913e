"""The one workload policy (core/policy.py) and the create form that uses it: pure, no engine."""

from __future__ import annotations

import pytest

from core import policy
from core.container_forms import CreateContainerForm
from core.policy import Facts, Mount, VolumeFacts, Workload
from core.roles import Role


def fields(workload: Workload, role: Role = Role.OPERATOR, facts: Facts | None = None) -> list[str]:
    return [r.field for r in policy.refusals(workload, role, facts)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("network", "host"),
        ("network", "HOST"),
        ("network", "container:abc"),
        ("network", "Container:abc"),
        ("pid", "host"),
        ("pid", "Host"),
        ("pid", "container:abc"),
        ("ipc", "host"),
        ("ipc", "container:abc"),
        ("uts", "host"),
    ],
)
def test_host_and_container_namespaces_are_refused_for_an_operator(name, value):
    assert fields(Workload(**{name: value})) == [name]


@pytest.mark.parametrize(
    ("name", "value"),
    [("network", "host"), ("network", "container:abc"), ("pid", "host"), ("ipc", "host"), ("uts", "host")],
)
def test_host_namespaces_are_allowed_for_an_admin(name, value):
    assert fields(Workload(**{name: value}), Role.ADMIN) == []


@pytest.mark.parametrize("value", ["", "bridge", "none", "my-net", "app_default"])
def test_ordinary_networks_are_allowed_for_an_operator(value):
    assert fields(Workload(network=value)) == []


def test_the_host_network_named_by_its_id_is_refused():
    facts = Facts(network_driver="host")
    assert fields(Workload(network="3f2a9c1b7d6e"), facts=facts) == ["network"]


@pytest.mark.parametrize(
    ("workload", "field"),
    [
        (Workload(privileged=True), "privileged"),
        (Workload(cap_add=("NET_ADMIN",)), "cap_add"),
        (Workload(devices=("/dev/sda",)), "devices"),
        (Workload(security_opt=("apparmor=unconfined",)), "security_opt"),
        (Workload(sysctls=("net.ipv4.ip_forward=1",)), "sysctls"),
        (Workload(mounts=(Mount("/etc", "/x", kind="bind"),)), "volumes"),
        (Workload(mounts=(Mount("\\\\.\\pipe\\docker", "/x", kind="npipe"),)), "volumes"),
    ],
)
def test_privileged_requests_are_refused_for_an_operator_and_allowed_for_an_admin(workload, field):
    assert fields(workload) == [field]
    assert fields(workload, Role.ADMIN) == []


@pytest.mark.parametrize(
    ("driver", "options"),
    [
        ("local", (("type", "none"), ("o", "bind"), ("device", "/etc"))),
        ("local", (("device", "/etc"),)),
        ("local", (("o", "rbind,ro"),)),
        ("local", (("TYPE", "None"),)),
        ("local", (("o", "BIND"),)),
        ("nfs-plugin", ()),
        ("LOCAL2", ()),
    ],
)
def test_an_existing_volume_with_bind_options_or_another_driver_is_refused(driver, options):
    facts = Facts(volumes={"data": VolumeFacts("data", driver=driver, options=options)})
    assert fields(Workload(mounts=(Mount("data", "/data", read_only=True),)), facts=facts) == ["volumes"]


def test_a_volume_the_mount_would_create_with_bind_options_is_refused():
    mount = Mount("data", "/data", driver="local", driver_options=(("o", "bind"), ("device", "/")))
    assert fields(Workload(mounts=(mount,))) == ["volumes"]


def test_a_plain_local_volume_with_tmpfs_options_is_allowed():
    facts = Facts(volumes={"scratch": VolumeFacts("scratch", options=(("type", "tmpfs"), ("o", "size=64m")))})
    assert fields(Workload(mounts=(Mount("scratch", "/s"),)), facts=facts) == []


def test_a_new_volume_is_allowed():
    assert fields(Workload(mounts=(Mount("fresh", "/data"),))) == []


def test_another_applications_volume_is_refused_read_write():
    facts = Facts(volumes={"db": VolumeFacts("db", used_by=("postgres",))})
    assert fields(Workload(mounts=(Mount("db", "/data"),)), facts=facts) == ["volumes"]


def test_another_applications_volume_is_allowed_read_only():
    facts = Facts(volumes={"db": VolumeFacts("db", used_by=("postgres",))})
    assert fields(Workload(mounts=(Mount("db", "/data", read_only=True),)), facts=facts) == []


def test_an_unused_existing_volume_is_allowed_read_write():
    facts = Facts(volumes={"db": VolumeFacts("db")})
    assert fields(Workload(mounts=(Mount("db", "/data"),)), facts=facts) == []


def test_unknown_fields_are_refused_even_for_an_admin():
    assert fields(Workload(unknown_fields=("devices",)), Role.ADMIN) == [""]


def test_unknown_fields_ignore_the_csrf_token():
    assert policy.unknown_fields(["image", "csrfmiddlewaretoken", "ipc"], ["image"]) == ("ipc",)


def test_gather_facts_asks_only_for_named_volumes_and_a_network_name():
    asked: list[str] = []

    def inspect_volume(*, name):
        asked.append(name)
        return VolumeFacts(name) if name == "old" else None

    facts = policy.gather_facts(
        Workload(
            network="container:x",
            mounts=(Mount("old", "/a"), Mount("/etc", "/b", kind="bind"), Mount("new", "/c")),
        ),
        inspect_volume=inspect_volume,
        network_driver=lambda *, name: pytest.fail("container: is not a network name"),
    )
    assert asked == ["old", "new"]
    assert list(facts.volumes) == ["old"]


def test_bind_options_names_the_option():
    assert "device=/etc" in policy.bind_options("local", [("device", "/etc")])


# --------------------------------------------------------------------------- masking


def test_masked_env_hides_values_and_keeps_keys():
    assert policy.masked_env(["A=1", "B=x=y", "C"]) == ("A=***", "B=***", "C")


def test_masked_document_masks_container_image_and_service_env():
    doc = {
        "Config": {"Env": ["PASSWORD=hunter2"]},
        "ContainerConfig": {"Env": ["TOKEN=t"]},
        "Spec": {"TaskTemplate": {"ContainerSpec": {"Env": ["KEY=k"]}}},
        "PreviousSpec": {"TaskTemplate": {"ContainerSpec": {"Env": ["OLD=o"]}}},
    }
    masked = policy.masked_document(doc)
    assert masked["Config"]["Env"] == ["PASSWORD=***"]
    assert masked["ContainerConfig"]["Env"] == ["TOKEN=***"]
    assert masked["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["KEY=***"]
    assert masked["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["OLD=***"]


def test_masked_document_leaves_the_original_alone():
    doc = {"Config": {"Env": ["A=1"]}}
    policy.masked_document(doc)
    assert doc["Config"]["Env"] == ["A=1"]


def test_masked_document_copes_with_null_sections():
    assert policy.masked_document({"Config": None, "Spec": {"TaskTemplate": None}}) == {
        "Config": None,
        "Spec": {"TaskTemplate": None},
    }


# --------------------------------------------------------------------------- the create form


def form(data: dict, role: Role = Role.OPERATOR, facts=None) -> CreateContainerForm:
    f = CreateContainerForm({"image": "busybox", **data}, role=role, facts=facts)
    f.is_valid()
    return f


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"privileged": "on"}, "privileged"),
        ({"cap_add": "NET_ADMIN"}, "cap_add"),
        ({"pid": "HOST"}, "pid"),
        ({"network": "Host"}, "network"),
        ({"network": "container:abc"}, "network"),
        ({"volumes": "/etc:/x"}, "volumes"),
    ],
)
def test_the_form_refuses_an_operator_on_the_field(data, field):
    assert form(data).refused_fields() == [field]


@pytest.mark.parametrize(
    "data",
    [
        {"privileged": "on"},
        {"cap_add": "NET_ADMIN"},
        {"pid": "host"},
        {"network": "host"},
        {"volumes": "/etc:/x"},
    ],
)
def test_the_form_allows_an_admin(data):
    assert form(data, Role.ADMIN).errors == {}


@pytest.mark.parametrize("name", ["devices", "security_opt", "ipc", "uts", "sysctls"])
def test_the_form_refuses_fields_it_does_not_know(name):
    f = form({name: "x"}, Role.ADMIN)
    assert name in f.non_field_errors()[0]


def test_the_form_asks_the_facts_for_non_admins_only():
    facts = Facts(volumes={"db": VolumeFacts("db", used_by=("postgres",))})
    assert form({"volumes": "db:/data"}, Role.ADMIN, facts=lambda w: pytest.fail("asked")).errors == {}
    assert form({"volumes": "db:/data"}, facts=lambda w: facts).refused_fields() == ["volumes"]
