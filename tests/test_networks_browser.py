"""Networks in a real browser against the live daphne: the list and a network's page at desktop and
phone width (one-line dates, addresses and buttons), and the create form's plan for the Networks
lines."""

from __future__ import annotations

import ipaddress
import re

import docker
import pytest

from tests.support import PHONE, RUN_ID, TEST_LABEL, screenshot, unique

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture
def network_with_containers(engine, make_container):
    """A labelled network with a subnet, a running container on it (alias ``web17``) and one created
    with a requested address, never started."""
    name = unique("net")
    subnet = None
    for third in range(60, 250):
        candidate = ipaddress.ip_network(f"10.213.{third}.0/24")
        taken = [
            ipaddress.ip_network(c["Subnet"], strict=False)
            for n in engine.api.networks()
            for c in (n.get("IPAM") or {}).get("Config") or []
            if c.get("Subnet")
        ]
        if not any(candidate.overlaps(t) for t in taken if t.version == 4):
            subnet = candidate
            break
    assert subnet is not None
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
    net = engine.api.create_network(name, labels={TEST_LABEL: RUN_ID}, ipam=ipam)
    running = make_container(start=False)
    engine.api.connect_container_to_network(running["Id"], net["Id"], aliases=["web17"])
    engine.api.start(running["Id"])
    endpoint = engine.api.create_endpoint_config(ipv4_address=str(subnet.network_address + 9))
    created = make_container(
        start=False,
        host_config=engine.api.create_host_config(network_mode=name),
        networking_config=engine.api.create_networking_config({name: endpoint}),
    )
    yield engine.api.inspect_network(net["Id"]), running, created
    for container in (running, created):
        try:
            engine.api.remove_container(container["Id"], force=True)
        except docker.errors.NotFound:
            pass
    try:
        engine.api.remove_network(net["Id"])
    except docker.errors.NotFound:
        pass


def _one_line(locator) -> bool:
    """The element's text is laid out on one line: every box of its contents starts above the bottom
    of every other (boxes of another font size on the same line differ by a pixel or two)."""
    return locator.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " const boxes = [...r.getClientRects()].filter(b => b.width > 0);"
        " const bottom = Math.min(...boxes.map(b => b.bottom));"
        " return boxes.every(b => b.top < bottom); }"
    )


def test_list_and_detail_read_well_at_desktop_and_phone_width(page, login, live, network_with_containers):
    net, running, created = network_with_containers
    login(page, "operator")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live.url}/networks/?q={net['Name']}")
    row = page.locator(f'tr[data-id="{net["Id"]}"]')
    created_cell = row.locator("td").nth(6)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", created_cell.inner_text().strip())
    assert _one_line(created_cell)
    assert row.locator("td .count").inner_text() == "2"
    screenshot(page, "networks-list-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, "networks-list-390")
    box = row.locator("td .count").bounding_box()  # the containers count is on screen, not scrolled off
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live.url}/networks/{net['Id'][:12]}/")
    table = page.locator("[data-testid=attachments]")
    assert table.locator(f'tr[data-id="{created["Id"]}"] [data-testid=state]').inner_text() == "created"
    assert "requested" in table.locator(f'tr[data-id="{created["Id"]}"]').inner_text()
    assert "web17" in table.locator(f'tr[data-id="{running["Id"]}"]').inner_text()
    screenshot(page, "networks-detail-1280")
    page.set_viewport_size(PHONE)
    screenshot(page, "networks-detail-390")
    row = table.locator(f'tr[data-id="{running["Id"]}"]')
    button = row.locator("button", has_text="Disconnect")
    assert button.inner_text() == "Disconnect"
    assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1")  # not clipped to "Disc"
    for cell in (0, 1, 2, 4):  # name, state, IPv4, MAC
        assert _one_line(row.locator("td").nth(cell))
    assert _one_line(table.locator(f'tr[data-id="{created["Id"]}"] td').nth(2))  # "10.x.y.9 requested"
    assert page.problems == []


def test_create_form_plan_warns_about_missing_networks_in_the_networks_lines(page, login, live, engine):
    present = unique("net")
    engine.api.create_network(present, labels={TEST_LABEL: RUN_ID})
    try:
        login(page, "operator")
        page.goto(f"{live.url}/containers/new/")
        page.fill("#id_image", "busybox:latest")
        page.fill("#id_networks", f"{present} db\n{RUN_ID}-missing-net web")
        texts = page.locator("[data-plan]").all_inner_texts()
        assert any(f"joins the network {present} (bridge)" in t for t in texts)
        assert any(f"there is no network {RUN_ID}-missing-net" in t for t in texts)
        screenshot(page, "containers-new-networks-plan")
        assert page.problems == []
    finally:
        engine.api.remove_network(present)
