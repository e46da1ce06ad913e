"""Networks on the real engine: list, create with a subnet, connect with an alias, refusals, prune."""

from __future__ import annotations

import ipaddress
import re
import secrets

import docker
import pytest

from core.models import AuditEvent
from tests.support import RUN_ID, TEST_LABEL, finished_job, unique


def _free_subnet(engine) -> str:
    """A /24 in 10.213.0.0/16 that no network on the engine uses (the engine never routes it out)."""
    taken = []
    for network in engine.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                taken.append(ipaddress.ip_network(config.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    for _ in range(200):
        candidate = ipaddress.ip_network(f"10.213.{secrets.randbelow(250) + 1}.0/24")
        if not any(candidate.overlaps(t) for t in taken if t.version == 4):
            return str(candidate)
    raise AssertionError("no free test subnet")


@pytest.fixture
def network(engine):
    """Make labelled networks; containers are disconnected and the networks removed at teardown."""
    made: list[str] = []

    def make(name: str | None = None, **kwargs) -> dict:
        created = engine.api.create_network(name or unique("net"), labels={TEST_LABEL: RUN_ID}, **kwargs)
        made.append(created["Id"])
        return engine.api.inspect_network(created["Id"])

    yield make
    for network_id in made:
        try:
            for container_id in engine.api.inspect_network(network_id).get("Containers") or {}:
                engine.api.disconnect_container_from_network(container_id, network_id, force=True)
            engine.api.remove_network(network_id)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def created_by_dashboard(engine):
    names: list[str] = []
    yield names
    for name in names:
        try:
            engine.api.remove_network(name)
        except docker.errors.NotFound:
            pass


def test_list_shows_subnet_and_attached_container(viewer_client, engine, network, make_container):
    subnet = _free_subnet(engine)
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    net = network(ipam=ipam)
    container = make_container()
    engine.api.connect_container_to_network(container["Id"], net["Id"])
    page = viewer_client.get(f"/networks/?q={net['Name']}").content.decode()
    row = page[page.index(f'data-id="{net["Id"]}"') :]
    row = row[: row.index("</tr>")]
    assert subnet in row
    assert container["Name"].lstrip("/") in row


def test_create_with_subnet_then_connect_with_alias_shows_the_assigned_address(
    operator_client, engine, make_container, created_by_dashboard
):
    name = unique("net")
    subnet = _free_subnet(engine)
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    response = operator_client.post(
        "/networks/new/",
        {
            "name": name,
            "driver": "bridge",
            "subnet": subnet,
            "gateway": gateway,
            "labels": f"{TEST_LABEL}={RUN_ID}",
        },
    )
    created_by_dashboard.append(name)
    assert response.status_code == 302
    raw = engine.api.inspect_network(name)
    assert raw["IPAM"]["Config"][0]["Subnet"] == subnet
    container = make_container()
    response = operator_client.post(
        f"/networks/{raw['Id'][:12]}/connect/",
        {"container": container["Name"].lstrip("/"), "aliases": "db, primary"},
    )
    assert response.status_code == 302
    assigned = engine.api.inspect_container(container["Id"])["NetworkSettings"]["Networks"][name]
    detail = operator_client.get(f"/networks/{raw['Id'][:12]}/").content.decode()
    assert assigned["IPAddress"] in detail
    assert "db, primary" in detail or "primary, db" in detail
    assert AuditEvent.objects.filter(action="network.connect", outcome="ok").exists()
    engine.api.disconnect_container_from_network(container["Id"], name, force=True)


def test_disconnect_from_the_network_page(operator_client, engine, network, make_container):
    net = network()
    container = make_container()
    engine.api.connect_container_to_network(container["Id"], net["Id"])
    response = operator_client.post(f"/networks/{net['Id'][:12]}/disconnect/", {"container": container["Id"]})
    assert response.status_code == 302
    assert net["Name"] not in engine.api.inspect_container(container["Id"])["NetworkSettings"]["Networks"]


def test_connect_from_the_container_page_goes_back_there(operator_client, engine, network, make_container):
    net = network()
    container = make_container()
    name = container["Name"].lstrip("/")
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/connect/", {"container": name, "next": "container"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/containers/{name}/")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subnet": "10.213.0.0/33"}, "is not a subnet"),
        ({"subnet": "10.213.250.0/24", "gateway": "10.99.0.1"}, "outside the subnet"),
        ({"subnet": "10.213.250.0/24", "ip_range": "10.213.0.0/16"}, "outside the subnet"),
        ({"gateway": "10.213.250.1"}, "needs a subnet"),
        ({"name": "bad name!"}, "is not a network name"),
    ],
)
def test_bad_addresses_are_refused_with_the_input_kept(operator_client, engine, fields, message):
    data = {"name": unique("net"), "driver": "bridge", **fields}
    response = operator_client.post("/networks/new/", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body
    assert data["name"].replace("!", "") in body.replace("!", "")
    assert not engine.api.networks(names=[data["name"]])


def test_an_operators_macvlan_network_on_a_host_interface_is_refused_and_audited_as_denied(
    operator_client, engine
):
    name = unique("net")
    data = {"name": name, "driver": "macvlan", "options": "parent=eth0"}
    response = operator_client.post("/networks/new/", data)
    assert response.status_code == 400
    assert "Only an admin may attach a macvlan network to a host interface" in response.content.decode()
    assert not engine.api.networks(names=[name])
    event = AuditEvent.objects.filter(action="network.create").latest("pk")
    assert event.outcome == "denied"
    assert "parent=eth0" in event.message


def test_the_network_form_lets_an_admin_name_a_parent_interface():
    from core.roles import Role
    from core.volume_forms import NetworkForm

    data = {"name": "lan", "driver": "ipvlan", "options": "parent=eth0"}
    assert NetworkForm(data, role=Role.ADMIN).is_valid()
    assert not NetworkForm(data, role=Role.OPERATOR).is_valid()


def test_overlapping_subnet_names_the_other_network(operator_client, engine, network):
    subnet = _free_subnet(engine)
    existing = network(ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
    name = unique("net")
    response = operator_client.post("/networks/new/", {"name": name, "driver": "bridge", "subnet": subnet})
    assert response.status_code == 400
    assert existing["Name"] in response.content.decode()
    assert not engine.api.networks(names=[name])


def test_delete_in_use_network_names_the_containers(admin_client, engine, network, make_container):
    net = network()
    container = make_container()
    engine.api.connect_container_to_network(container["Id"], net["Id"])
    response = admin_client.post(f"/networks/{net['Id'][:12]}/delete/")
    assert response.status_code == 409
    assert container["Name"].lstrip("/") in response.content.decode()
    assert engine.api.inspect_network(net["Id"])["Id"] == net["Id"]


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_networks_cannot_be_deleted(admin_client, engine, name):
    network_id = engine.api.inspect_network(name)["Id"]
    response = admin_client.post(f"/networks/{network_id[:12]}/delete/")
    assert response.status_code == 409
    assert engine.api.inspect_network(name)["Id"] == network_id


def test_delete_unused_network_is_audited(admin_client, engine, network):
    net = network()
    assert admin_client.post(f"/networks/{net['Id'][:12]}/delete/").status_code == 302
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_network(net["Id"])
    assert AuditEvent.objects.filter(action="network.delete", outcome="ok").exists()


@pytest.mark.django_db(transaction=True)  # the prune is a job: rows written from its thread
def test_prune_preview_then_only_confirmed_unused_networks_go(admin_client, engine, network, make_container):
    unused, used = network(), network()
    engine.api.connect_container_to_network(make_container()["Id"], used["Id"])
    preview = admin_client.get("/networks/prune/").content.decode()
    assert f'data-id="{unused["Id"]}"' in preview
    assert f'data-id="{used["Id"]}"' not in preview
    job = finished_job(admin_client.post("/networks/prune/", {"names": f"{unused['Id']} {used['Id']}"}))
    rows = {row["id"]: row for row in job.snapshot()["layers"]}
    assert rows[unused["Name"]]["outcome"] == "ok"
    assert rows[used["Id"][:12]]["outcome"] == "skipped"
    assert job.message == "Removed 1 unused network. Kept 1 that is in use now or gone."
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_network(unused["Id"])
    assert engine.api.inspect_network(used["Id"])["Id"] == used["Id"]


def test_roles(viewer_client, operator_client, network):
    net = network()
    assert viewer_client.get("/networks/").status_code == 200
    assert viewer_client.post("/networks/new/", {"name": unique("net")}).status_code == 403
    assert operator_client.post(f"/networks/{net['Id'][:12]}/delete/").status_code == 403
    assert viewer_client.post(f"/networks/{net['Id'][:12]}/connect/", {"container": "x"}).status_code == 403


# --------------------------------------------------------------------------- from the container's page


def test_container_page_links_its_networks_and_disconnects_there(
    operator_client, engine, network, make_container
):
    net = network()
    container = make_container()
    name = container["Name"].lstrip("/")
    engine.api.connect_container_to_network(container["Id"], net["Id"])
    page = operator_client.get(f"/containers/{name}/").content.decode()
    assert f'href="/networks/{net["Id"]}/" data-testid="network-link"' in page
    assert f'action="/networks/{net["Id"]}/disconnect/"' in page
    response = operator_client.post(
        f"/networks/{net['Id']}/disconnect/", {"container": name, "next": "container"}
    )
    assert response["Location"].endswith(f"/containers/{name}/")
    assert net["Name"] not in engine.api.inspect_container(container["Id"])["NetworkSettings"]["Networks"]


def test_container_page_offers_the_networks_it_can_join(operator_client, network, make_container):
    net = network()
    name = make_container()["Name"].lstrip("/")
    page = operator_client.get(f"/containers/{name}/").content.decode()
    offer = page[page.index('data-testid="connect-network"') :]
    assert f'formaction="/networks/{net["Name"]}/connect/"' in offer
    assert 'formaction="/networks/host/connect/"' not in offer


def test_viewer_sees_no_connect_form_on_the_container_page(viewer_client, network, make_container):
    network()
    page = viewer_client.get(f"/containers/{make_container()['Name'].lstrip('/')}/").content.decode()
    assert 'data-testid="connect-network"' not in page


def test_create_form_offers_existing_networks(operator_client, network):
    net = network()
    page = operator_client.get("/containers/new/").content.decode()
    choices = page[page.index('<datalist id="network-choices">') :]
    assert f'<option value="{net["Name"]}"' in choices[: choices.index("</datalist>")]
    assert 'list="network-choices"' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"aliases": "bad alias!"}, "not a valid alias"),
        ({"ipv4_address": "10.0.0.300"}, "not an IP address"),
        ({"ipv4_address": "::1"}, "not an IPv4 address"),
    ],
)
def test_bad_connect_input_from_the_container_page_changes_nothing(
    operator_client, engine, network, make_container, fields, message
):
    net = network()
    container = make_container()
    name = container["Name"].lstrip("/")
    data = {"container": name, "next": "container", **fields}
    response = operator_client.post(f"/networks/{net['Id'][:12]}/connect/", data, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/containers/{name}/")
    assert message in response.content.decode()
    assert net["Name"] not in engine.api.inspect_container(container["Id"])["NetworkSettings"]["Networks"]
    assert AuditEvent.objects.filter(action="network.connect", outcome="failed").exists()


# --------------------------------------------------------------------------- a network that vanished


def test_a_vanished_network_is_a_clear_404(admin_client, engine, network):
    net = network()
    engine.api.remove_network(net["Id"])
    for response in (
        admin_client.get(f"/networks/{net['Id'][:12]}/"),
        admin_client.get(f"/networks/{net['Id'][:12]}/delete/"),
        admin_client.post(f"/networks/{net['Id'][:12]}/delete/"),
    ):
        assert response.status_code == 404
        assert net["Id"][:12] in response.content.decode()


@pytest.mark.parametrize("action", ["connect", "disconnect"])
def test_a_vanished_network_says_so_on_the_list(operator_client, engine, network, make_container, action):
    net = network()
    engine.api.remove_network(net["Id"])
    container = make_container()
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/{action}/", {"container": container["Id"]}, follow=True
    )
    assert response.redirect_chain[-1][0].endswith("/networks/")
    body = response.content.decode()
    assert "not found" in body
    assert f"Network “{net['Id'][:12]}” was not found" in body


@pytest.mark.parametrize("action", ["connect", "disconnect"])
def test_a_missing_container_named_like_a_network_stays_on_the_network_page(operator_client, network, action):
    """Only the network's own absence sends the form back to the list: a missing container whose
    name says "network" is the network page with the engine's reason."""
    net = network()
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/{action}/", {"container": "network-no-such-container"}
    )
    body = response.content.decode() if response.status_code != 302 else ""
    if response.status_code == 302:
        assert response["Location"].endswith(f"/networks/{net['Id'][:12]}/")
        body = operator_client.get(response["Location"]).content.decode()
    else:
        assert response.status_code == 404
    assert "network-no-such-container" in body
    assert f"/networks/{net['Id'][:12]}/" in body


def test_a_prune_post_that_confirms_nothing_is_the_preview_again(admin_client, engine, network):
    unused = network()
    response = admin_client.post("/networks/prune/", {"names": ""})
    assert response.status_code == 200
    assert "Nothing was confirmed" in response.content.decode()
    assert engine.api.inspect_network(unused["Id"])["Id"] == unused["Id"]


# --------------------------------------------------------------------------- containers that are not running
# A network's inspect lists only running endpoints; "in use" counts every container that names it.


def _subnet_network(engine, network) -> tuple[dict, ipaddress.IPv4Network]:
    subnet = ipaddress.ip_network(_free_subnet(engine))
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
    return network(ipam=ipam), subnet


def _created_on(engine, make_container, net: dict, ipv4: str = "", **kwargs) -> dict:
    """A container created with ``--network NET [--ip IPV4]`` and never started."""
    endpoint = engine.api.create_endpoint_config(ipv4_address=ipv4 or None)
    return make_container(
        start=False,
        **kwargs,
        host_config=engine.api.create_host_config(network_mode=net["Name"]),
        networking_config=engine.api.create_networking_config({net["Name"]: endpoint}),
    )


def _networks_of(engine, container: dict) -> dict:
    return engine.api.inspect_container(container["Id"])["NetworkSettings"]["Networks"]


def _row(page: str, key: str) -> str:
    row = page[page.index(f'data-id="{key}"') :]
    return row[: row.index("</tr>")]


@pytest.mark.django_db(transaction=True)  # the prune is a job: rows written from its thread
def test_a_network_only_never_started_containers_name_is_in_use_everywhere(
    admin_client, engine, network, make_container
):
    net, subnet = _subnet_network(engine, network)
    requested = str(subnet.network_address + 9)
    first = _created_on(engine, make_container, net, ipv4=requested)
    second = make_container(start=False)
    engine.api.connect_container_to_network(second["Id"], net["Id"])  # created, then connected
    assert engine.api.inspect_network(net["Id"])["Containers"] == {}  # the engine's own view: unused
    names = sorted(c["Name"].lstrip("/") for c in (first, second))

    row = _row(admin_client.get(f"/networks/?q={net['Name']}").content.decode(), net["Id"])
    assert '<span class="count">2</span>' in row
    assert all(name in row for name in names)

    detail = admin_client.get(f"/networks/{net['Id'][:12]}/").content.decode()
    assert "No container is attached" not in detail
    for container in (first, second):
        cells = _row(detail, container["Id"])
        assert container["Name"].lstrip("/") in cells
        assert ">created</span>" in cells
    assert f"<code>{requested}</code> <span" in _row(detail, first["Id"])  # shown as requested
    assert "requested" in _row(detail, first["Id"])

    assert 'data-testid="in-use"' in admin_client.get(f"/networks/{net['Id'][:12]}/delete/").content.decode()
    response = admin_client.post(f"/networks/{net['Id'][:12]}/delete/")
    assert response.status_code == 409
    assert all(name in response.content.decode() for name in names)

    preview = admin_client.get("/networks/prune/").content.decode()
    hidden = re.search(r'name="names" value="([^"]*)"', preview)
    assert hidden is None or net["Id"] not in hidden.group(1)  # not among what the confirm removes
    kept = preview[preview.index('data-testid="prune-kept"') :]
    assert all(name in _row(kept, net["Id"]) for name in names)  # listed as kept, naming them
    job = finished_job(admin_client.post("/networks/prune/", {"names": net["Id"]}))
    assert {r["id"]: r for r in job.snapshot()["layers"]}[net["Id"][:12]]["outcome"] == "skipped"

    assert engine.api.inspect_network(net["Id"])["Id"] == net["Id"]
    engine.api.start(first["Id"])  # the network is still there: the start works
    assert _networks_of(engine, first)[net["Name"]]["IPAddress"] == requested


def test_a_network_a_stopped_container_names_is_listed_and_cannot_be_deleted(
    admin_client, engine, network, make_container
):
    net = network()
    container = make_container(host_config=engine.api.create_host_config(network_mode=net["Name"]))
    engine.api.stop(container["Id"], timeout=0)
    name = container["Name"].lstrip("/")
    assert name in _row(admin_client.get(f"/networks/?q={net['Name']}").content.decode(), net["Id"])
    detail = admin_client.get(f"/networks/{net['Id'][:12]}/").content.decode()
    assert ">exited</span>" in _row(detail, container["Id"])
    response = admin_client.post(f"/networks/{net['Id'][:12]}/delete/")
    assert response.status_code == 409
    assert f"{name} (exited)" in response.content.decode()
    assert engine.api.inspect_network(net["Id"])["Id"] == net["Id"]


def test_list_and_detail_agree_after_a_failed_start(admin_client, engine, network, make_container):
    net = network()
    container = _created_on(engine, make_container, net, command="/no/such/command")
    with pytest.raises(docker.errors.APIError):
        engine.api.start(container["Id"])  # a missing command: the start fails
    list_row = _row(admin_client.get(f"/networks/?q={net['Name']}").content.decode(), net["Id"])
    detail = admin_client.get(f"/networks/{net['Id'][:12]}/").content.decode()
    assert container["Name"].lstrip("/") in list_row
    assert container["Id"] in detail
    assert "No container is attached" not in detail


@pytest.mark.django_db(transaction=True)  # the prune is a job: rows written from its thread
def test_a_prune_confirm_keeps_a_network_a_container_named_after_the_preview(
    admin_client, engine, network, make_container
):
    net = network()
    preview = admin_client.get("/networks/prune/").content.decode()
    assert f'data-id="{net["Id"]}"' in preview  # unused when previewed
    _created_on(engine, make_container, net)
    job = finished_job(admin_client.post("/networks/prune/", {"names": net["Id"]}))
    assert {r["id"]: r for r in job.snapshot()["layers"]}[net["Id"][:12]]["outcome"] == "skipped"
    assert engine.api.inspect_network(net["Id"])["Id"] == net["Id"]


def test_the_engine_remove_refuses_a_network_a_created_container_names(engine, network, make_container):
    """The check the prune's job makes before each removal, so one named meanwhile stays."""
    from core.engine import Engine
    from core.errors import Conflict
    from tests.support import default_endpoint_ref

    net = network()
    container = _created_on(engine, make_container, net)
    with pytest.raises(Conflict, match=container["Name"].lstrip("/")):
        Engine(default_endpoint_ref()).networks.remove_network(ref=net["Id"])
    assert engine.api.inspect_network(net["Id"])["Id"] == net["Id"]


# --------------------------------------------------------------------------- connect: what 20.10 leaves out


@pytest.mark.parametrize("next_page", ["network", "container"])
def test_connect_to_a_vanished_network_changes_nothing_on_a_stopped_container(
    operator_client, engine, network, make_container, next_page
):
    net = network()
    engine.api.remove_network(net["Id"])
    container = make_container(start=False)
    before = _networks_of(engine, container)
    data = {"container": container["Name"].lstrip("/")} | (
        {"next": "container"} if next_page == "container" else {}
    )
    response = operator_client.post(f"/networks/{net['Name']}/connect/", data, follow=True)
    body = response.content.decode()
    assert f"Network “{net['Name']}” was not found" in body
    assert "Connected" not in body
    assert _networks_of(engine, container) == before
    event = AuditEvent.objects.filter(action="network.connect").latest("pk")
    assert event.outcome == "failed"
    assert "was not found" in event.message


@pytest.mark.parametrize("start", [False, True])
def test_an_address_outside_the_subnets_is_a_form_error_and_changes_nothing(
    operator_client, engine, network, make_container, start
):
    net, subnet = _subnet_network(engine, network)
    container = make_container(start=start)
    outside = "10.214.0.5" if not str(subnet).startswith("10.214.") else "10.215.0.5"
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/connect/",
        {"container": container["Name"].lstrip("/"), "ipv4_address": outside},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert f"The IPv4 address {outside} is outside the subnet of network “{net['Name']}” ({subnet})" in body
    assert f'value="{outside}"' in body  # the input kept
    assert net["Name"] not in _networks_of(engine, container)
    assert (
        AuditEvent.objects.filter(action="network.connect", outcome="failed").latest("pk").target
        == net["Id"][:12]
    )


def test_an_address_outside_the_subnets_from_the_container_page(
    operator_client, engine, network, make_container
):
    net, _ = _subnet_network(engine, network)
    container = make_container(start=False)
    name = container["Name"].lstrip("/")
    response = operator_client.post(
        f"/networks/{net['Name']}/connect/",
        {"container": name, "ipv4_address": "192.0.2.7", "next": "container"},
        follow=True,
    )
    assert response.redirect_chain[-1][0].endswith(f"/containers/{name}/")
    assert "is outside the subnet" in response.content.decode()
    assert net["Name"] not in _networks_of(engine, container)


def test_an_address_inside_the_subnet_on_a_stopped_container_is_used_at_start(
    operator_client, engine, network, make_container
):
    net, subnet = _subnet_network(engine, network)
    container = make_container(start=False)
    address = str(subnet.network_address + 20)
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/connect/",
        {"container": container["Id"], "ipv4_address": address, "aliases": "web17"},
    )
    assert response.status_code == 302
    engine.api.start(container["Id"])
    assert _networks_of(engine, container)[net["Name"]]["IPAddress"] == address
    event = AuditEvent.objects.filter(action="network.connect", outcome="ok").latest("pk")
    assert event.parameters["aliases"] == ["web17"]  # a list of strings, not "('web17',)"


@pytest.mark.parametrize("start", [False, True])
def test_connecting_a_container_that_is_already_connected_is_refused(
    operator_client, engine, network, make_container, start
):
    net = network()
    container = make_container(start=False)
    engine.api.connect_container_to_network(container["Id"], net["Id"], aliases=["first"])
    if start:
        engine.api.start(container["Id"])
    before = _networks_of(engine, container)[net["Name"]]
    response = operator_client.post(
        f"/networks/{net['Id'][:12]}/connect/", {"container": container["Id"], "aliases": "second"}
    )
    assert response.status_code == 409
    assert f"is already connected to network “{net['Name']}”" in response.content.decode()
    assert _networks_of(engine, container)[net["Name"]]["Aliases"] == before["Aliases"]
    assert AuditEvent.objects.filter(action="network.connect").latest("pk").outcome == "failed"


def test_already_connected_from_the_container_page(operator_client, engine, network, make_container):
    net = network()
    container = make_container(start=False)
    name = container["Name"].lstrip("/")
    engine.api.connect_container_to_network(container["Id"], net["Id"])
    response = operator_client.post(
        f"/networks/{net['Name']}/connect/", {"container": name, "next": "container"}, follow=True
    )
    assert response.redirect_chain[-1][0].endswith(f"/containers/{name}/")
    assert "already connected" in response.content.decode()


# --------------------------------------------------------------------------- small things


def test_the_list_shows_the_created_time_with_a_space(viewer_client, network):
    net = network()
    row = _row(viewer_client.get(f"/networks/?q={net['Name']}").content.decode(), net["Id"])
    assert re.search(r'<td class="small nowrap" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d</td>', row)


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_the_delete_confirmation_of_a_predefined_network_has_a_disabled_button(admin_client, name):
    page = admin_client.get(f"/networks/{name}/delete/").content.decode()
    button = page[page.index('data-testid="confirm-delete"') :]
    assert " disabled " in button[: button.index(">")]
    assert "Predefined networks cannot be deleted." in page
