"""Issue 18, reach and feedback, in Debian's chromium against the live daphne and the real engine:
Attach beside Terminal, "Logs of selected" and a compose project's logs, since/until and a Download
that carries the page's choices, the docker command of the run/pull/push forms, busy buttons, bulk
actions as a job with a row per container, charts with scales, pickers, the explicit Docker Hub
search and the prune explanation. Screenshots at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

import pytest

from tests.support import RUN_ID, TEST_LABEL, screenshot, screenshot_both, unique, wait_for

pytestmark = pytest.mark.browser


def test_attach_sits_beside_terminal_only_for_interactive_containers(page, login, live, make_container):
    interactive = make_container(command="sh", tty=True, stdin_open=True)
    plain = make_container()
    login(page, "operator")
    page.goto(f"{live.url}/containers/{plain['Id'][:12]}/")
    assert page.locator('[data-action="terminal"]').count() == 1
    assert page.locator('[data-action="attach"]').count() == 0
    page.goto(f"{live.url}/containers/{interactive['Id'][:12]}/")
    attach = page.locator('[data-action="attach"]')
    assert attach.get_attribute("href") == f"/containers/{interactive['Id'][:12]}/attach/"
    screenshot_both(page, "ux-attach-button")
    attach.click()
    page.wait_for_url(f"**/containers/{interactive['Id'][:12]}/attach/")
    assert page.problems == []


def test_logs_of_selected_and_a_projects_logs_open_the_merged_view(page, login, live, make_container):
    project = unique("proj")
    names = [unique("merge") for _ in range(2)]
    for name in names:
        make_container(
            name=name,
            command=["sh", "-c", f"echo hello from {name}; sleep 300"],
            labels={"com.docker.compose.project": project},
        )
    login(page, "operator")
    page.goto(f"{live.url}/containers/?q={RUN_ID}")
    for name in names:
        page.locator(f'input[name="ids"][aria-label="Select {name}"]').check()
    page.click("[data-bulk-logs]")
    page.wait_for_url("**/logs/?containers=*")
    for name in names:
        page.wait_for_selector(f'.logview .line:has-text("hello from {name}")')
    assert sorted(page.locator("[data-ctr-legend]").all_inner_texts()) == sorted(names)
    screenshot_both(page, "ux-logs-of-selected")

    page.goto(f"{live.url}/containers/?q={project}")
    page.locator('[data-testid="project-logs"]').first.click()
    page.wait_for_url(f"**/logs/?project={project}")
    for name in names:
        page.wait_for_selector(f'.logview .line:has-text("hello from {name}")')
    assert page.problems == []


def _local_input(page, iso: str) -> str:
    """An engine timestamp as the browser's datetime-local value (its own time zone, seconds)."""
    return page.evaluate(
        """(iso) => { const d = new Date(iso); const p = (n) => String(n).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
          + `T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }""",
        iso,
    )


def test_since_until_and_a_download_that_carries_the_choices(page, login, live, make_container, engine):
    container = make_container(
        command=[
            "sh",
            "-c",
            "echo early-out; echo early-err >&2; sleep 3; echo late-out; echo late-err >&2; sleep 300",
        ]
    )
    ref = container["Id"][:12]
    wait_for(lambda: b"late-err" in engine.api.logs(ref, stderr=True), timeout=15, message="the late lines")
    stamped = engine.api.logs(ref, timestamps=True, stdout=True, stderr=True).decode().splitlines()
    late_ts = next(line.split()[0] for line in stamped if line.endswith("late-out"))
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{ref}/logs/")
    page.wait_for_selector('.logview .line:has-text("early-out")')
    page.select_option("[data-log-since]", "at")
    # since the late lines' second: the early ones (3 s before) are left out
    page.fill("[data-log-since-at]", _local_input(page, late_ts))
    page.dispatch_event("[data-log-since-at]", "change")
    page.wait_for_selector('.logview .line:has-text("late-out")')
    assert page.locator('.logview .line:has-text("early-out")').count() == 0
    screenshot_both(page, "ux-logs-since")

    page.select_option("[data-log-since]", "")
    page.wait_for_selector('.logview .line:has-text("early-out")')
    page.uncheck('[data-log-toggle="stderr"]')
    page.fill("[data-log-filter]", "OUT")
    href = page.get_attribute("[data-log-download]", "href")
    assert "stream=stdout" in href
    assert "grep=%28%3Fi%29OUT" in href
    with page.expect_download() as info:
        page.click("[data-log-download]")
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["early-out", "late-out"]

    # until a moment before the late lines: the view ends there instead of following
    page.fill("[data-log-filter]", "")
    page.check('[data-log-toggle="stderr"]')
    before = _local_input(page, late_ts.split(".")[0] + "Z")
    page.fill("[data-log-until]", before)
    page.dispatch_event("[data-log-until]", "change")
    page.wait_for_selector('[data-log-status="ended"]')
    # the status changes as the end frame arrives; its lines are drawn at the next animation frame
    page.wait_for_selector('.logview .line:has-text("early-err")')
    assert page.locator('.logview .line:has-text("early-err")').count() == 1
    assert page.locator('.logview .line:has-text("late-out")').count() == 0
    assert "until=" in page.get_attribute("[data-log-download]", "href")
    assert page.problems == []


def test_create_form_shows_the_docker_command_and_offers_pickers(page, login, live, base_image):
    login(page, "operator")
    page.goto(f"{live.url}/containers/new/")
    page.fill("#id_image", base_image)
    page.fill("#id_name", "web-1")
    page.fill("#id_command", "sh -c 'echo it'\"'\"'s here'")
    page.fill("#id_env", "GREETING=hello world\nMODE=prod")
    page.fill("#id_ports", "127.0.0.1:8080:80")
    page.fill("#id_restart", "unless-stopped")
    command = page.inner_text("#cli-run")
    assert command == (
        "docker run -d --name web-1 --restart unless-stopped -e 'GREETING=hello world' -e MODE=prod "
        f"-p 127.0.0.1:8080:80 {base_image} sh -c 'echo it'\\''s here'"
    )
    restart = page.locator("#restart-choices option").evaluate_all("(os) => os.map((o) => o.value)")
    assert restart == ["no", "on-failure", "on-failure:3", "unless-stopped", "always"]
    drivers = page.locator("#log-driver-choices option").evaluate_all("(os) => os.map((o) => o.value)")
    assert "json-file" in drivers
    assert "none" in drivers
    page.uncheck("#id_start")
    assert page.inner_text("#cli-run").startswith("docker create --name web-1 ")
    page.click("details.runtime > summary")
    screenshot_both(page, "ux-create-cli")
    assert page.problems == []


def test_pull_and_push_forms_show_the_docker_command(page, login, live, base_image, engine):
    login(page, "admin")
    page.goto(f"{live.url}/images/")
    page.click("text=Pull an image")
    page.fill("#pull-reference", "127.0.0.1:5000/team/app:1.0")
    assert page.inner_text("#cli-pull") == "docker pull 127.0.0.1:5000/team/app:1.0"
    image_id = engine.images.get(base_image).id.removeprefix("sha256:")[:12]
    page.goto(f"{live.url}/images/{image_id}/")
    push = page.locator('[data-testid="push-form"]')
    push.locator('input[name="reference"]').fill("127.0.0.1:5000/team/it's:1")
    quoted = "'127.0.0.1:5000/team/it'\\''s:1'"
    assert page.inner_text("#cli-push") == (f"docker tag {image_id} {quoted} && docker push {quoted}")
    screenshot_both(page, "ux-push-cli")
    assert page.problems == []


def test_stop_button_is_busy_while_its_request_runs(page, login, live, make_container, engine):
    container = make_container()  # busybox sleep as PID 1 ignores SIGTERM: stop waits the timeout
    login(page, "operator")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/")
    page.fill('form:has(button[data-action="stop"]) input[name="timeout"]', "3")
    # Read the button 100 ms after the click, in the page (the stop itself takes ~3 s).
    state = page.evaluate(
        """() => new Promise((done) => {
            const button = document.querySelector('button[data-action="stop"]');
            button.click();
            const read = () => [button.disabled, button.getAttribute("aria-busy"), button.textContent];
            setTimeout(() => done(read()), 100);
        })"""
    )
    assert state == [True, "true", "Stop…"]
    screenshot(page, "ux-busy-stop-1400")
    page.wait_for_selector('[data-testid="container-state"]:has-text("exited")', timeout=20000)
    message = page.locator("#messages .msg").first  # the stop's job, followed in place (jobs.js)
    assert message.inner_text() == f"Stopped {container['Name'].lstrip('/')}. (job details)"
    assert message.locator("[title]").get_attribute("title") == container["Id"][:12]
    assert page.problems == []


def test_bulk_restart_is_a_job_with_a_row_per_container(page, login, live, make_container):
    containers = [make_container(command="sleep 300") for _ in range(2)]
    names = [c["Name"].lstrip("/") for c in containers]
    login(page, "operator")
    page.goto(f"{live.url}/containers/?q={RUN_ID}")
    for name in names:
        page.locator(f'input[name="ids"][aria-label="Select {name}"]').check()
    page.click('button[name="action"][value="restart"]')
    page.wait_for_url(lambda url: "/jobs/" in url)
    page.wait_for_selector('[data-testid="job-status"][data-job-status="success"]', timeout=60000)
    for name in names:
        row = page.locator(f'.layer.item:has(.layer-id:text-is("{name}"))')
        assert row.get_attribute("data-outcome") == "ok"
        assert row.locator(".layer-status").inner_text() == "restarted"
    assert page.inner_text("[data-job-items-count]") == "2 of 2 done"
    assert page.inner_text('[data-testid="job-message"]') == "Restarted 2 containers."
    screenshot_both(page, "ux-bulk-job")
    page.click('[data-testid="job-back"]')
    page.wait_for_url(lambda url: f"/containers/?q={RUN_ID}&" in url)  # the list's own filter, kept
    assert page.problems == []


def test_live_stats_have_fixed_scales_axes_and_hover_values(page, login, live, make_container, engine):
    container = make_container(host_config=engine.api.create_host_config(mem_limit="64m"))
    cpus = engine.info()["NCPU"]
    login(page, "viewer")
    page.goto(f"{live.url}/containers/{container['Id'][:12]}/")
    page.wait_for_selector('[data-stats-ws][data-samples="4"]', timeout=20000)
    cpu = page.locator('canvas[data-chart="cpu"]')
    assert f"scale 0 to {100 * cpus} %" in cpu.get_attribute("aria-label")
    assert "scale 0 to 64.0 MiB" in page.get_attribute('canvas[data-chart="memory"]', "aria-label")
    assert " of 64.0 MiB (" in page.inner_text('[data-stat="memory"]')
    box = cpu.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 12, box["y"] + box["height"] / 2)
    tip = page.locator('.stat:has(canvas[data-chart="cpu"]) .chart-tip')
    assert tip.is_visible()
    assert "CPU " in tip.inner_text() and "%" in tip.inner_text()
    screenshot_both(page, "ux-stats-charts")
    assert page.problems == []


def test_hub_search_is_an_explicit_choice_and_prune_explains_its_figures(page, login, live):
    login(page, "admin")
    page.goto(f"{live.url}/registries/search/?q=busybox")
    assert page.locator('[data-testid="hub-not-searched"]').is_visible()
    assert page.locator('[data-testid="search-hub"]').is_checked() is False
    screenshot_both(page, "ux-registry-search")
    page.goto(f"{live.url}/images/prune/?label={TEST_LABEL}%3D{RUN_ID}-none")
    assert "The engine frees only the layers no kept image uses" in page.inner_text(
        '[data-testid="prune-preview-explain"]'
    )
    screenshot_both(page, "ux-prune-explain")
    assert page.problems == []
