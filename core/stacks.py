"""Compose stacks as a service between the views and the engine: validation (the compose CLI's
``config``, then the ONE workload policy on its normalized output), versions, and deploy jobs.

A stack is a compose project on an endpoint. *Managed* stacks have a :class:`core.models.Stack` row
whose versions hold the compose file and ``.env``; *adopted* ones were started outside the dashboard
and are known from their containers' labels only. An adopted stack whose files this process can read
(on a local endpoint) gets every action through those files; otherwise lifecycle works by label.

Deploys (new, edit, rollback, import) run ``up -d`` as a job. When it fails and an earlier version
was running, the job deploys that version again: a failed edit does not take the stack down.

A *swarm* stack (``Stack.mode``, on a swarm manager endpoint) is deployed with ``docker stack
deploy`` instead, and the job waits until every service runs its new spec (or fails, and the
previous version is deployed again). For non-admins its normalized file may only use the keys of
:data:`SWARM_SERVICE_KEYS`, which the policy checks or which are harmless.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from django.db import transaction

from core import audit, policy
from core.engine import Engine, jobs
from core.engine.compose import (
    NAME_RE,
    Project,
    StackSummary,
    cli,
    env_variables,
    reserved_env_lines,
    stack_cli,
)
from core.errors import EngineRefused, InvalidInput, Refused
from core.models import Stack, StackVersion
from core.roles import Role

MAX_COMPOSE = 256 * 1024
MAX_ENV = 64 * 1024
# Keys that make the compose CLI read files of the DASHBOARD's host (or send them to the engine):
# refused for non-admins before ``config`` even runs, since ``config`` itself would read them.
HOST_FILE_KEYS = {
    "build": "builds from a directory of the dashboard's host",
    "env_file": "reads a file of the dashboard's host",
    "extends": "reads another compose file",
    "include": "reads other compose files",
}
COMPOSE, SWARM = Stack.Mode.COMPOSE, Stack.Mode.SWARM
# Service keys of a swarm stack a non-admin may use: harmless, or checked by the policy below.
# Anything else in the normalized file (credential_spec, isolation, links ...) is refused: the
# policy cannot vouch for what it does not know.
SWARM_SERVICE_KEYS = {
    *("image", "command", "entrypoint", "environment", "deploy", "ports", "expose", "networks"),
    *("volumes", "tmpfs", "labels", "healthcheck", "working_dir", "user", "hostname", "domainname"),
    *("stop_grace_period", "stop_signal", "tty", "stdin_open", "read_only", "init", "ulimits"),
    *("extra_hosts", "dns", "dns_search", "cap_drop", "depends_on", "restart", "container_name"),
    *("secrets", "configs", "logging"),
    # checked by the policy
    *("privileged", "cap_add", "devices", "security_opt", "sysctls", "network_mode", "pid", "ipc"),
    *("userns_mode", "cgroup_parent"),
}
SWARM_TOP_KEYS = {"version", "services", "networks", "volumes", "secrets", "configs"}
CONVERGE_TIMEOUT = 120.0  # a swarm deploy that has not converged by then failed
RM_RETRY_SECONDS = 2.0  # between two ``docker stack rm`` while a stopping task holds a network
_RM_RACES = ("is in use by task", "not found")  # docker stack rm's races with the manager
CONVERGE_FAILURES = 3  # tasks of the new spec that failed: the deploy failed, do not wait longer


@dataclass(frozen=True)
class Checked:
    """A compose file after validation: ``errors`` (each a sentence) or the normalized config."""

    errors: tuple[str, ...]
    normalized: str = ""
    denied: bool = False  # refused by the policy (the role), not because the file is wrong

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- validation


def _service_items(document: Any) -> list[tuple[str, dict]]:
    services = document.get("services") if isinstance(document, dict) else None
    return [(str(k), v) for k, v in (services or {}).items() if isinstance(v, dict)]


def _host_file_refusals(document: Any) -> list[str]:
    """What in the raw file would read the dashboard host's files (checked before ``config``)."""
    found = []
    if isinstance(document, dict) and "include" in document:
        found.append(f"include: {HOST_FILE_KEYS['include']}; only an admin may use it.")
    for name, service in _service_items(document):
        for key, why in HOST_FILE_KEYS.items():
            if key in service:
                found.append(f"Service “{name}”, {key}: {why}; only an admin may use it.")
    for section in ("secrets", "configs"):
        entries = document.get(section) if isinstance(document, dict) else None
        for name, entry in (entries or {}).items():
            if isinstance(entry, dict) and "file" in entry:
                found.append(
                    f"{section} “{name}”, file: a file of the dashboard's host; only an admin may use it."
                )
    return found


def _volume_engine_name(project: str, key: str, declared: dict) -> str:
    entry = declared.get(key) or {}
    if isinstance(entry, dict) and entry.get("name"):
        return str(entry["name"])
    external = entry.get("external") if isinstance(entry, dict) else None
    if isinstance(external, dict) and external.get("name"):
        return str(external["name"])
    return key if external else f"{project}_{key}"


def _mount(project: str, spec: Any, declared: dict) -> policy.Mount:
    """A service's volume entry (short ``src:dst[:mode]`` or long syntax) as a policy Mount."""
    if isinstance(spec, dict):
        kind = str(spec.get("type") or "volume")
        source = str(spec.get("source") or "")
        read_only = bool(spec.get("read_only"))
        target = str(spec.get("target") or "")
    else:
        parts = str(spec).split(":")
        if len(parts) == 1:  # an anonymous volume
            return policy.Mount(source="", target=parts[0])
        source, target = parts[0], parts[1]
        read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    if kind != "volume" or not source:
        return policy.Mount(source=source, target=target, kind=kind, read_only=read_only)
    entry = declared.get(source) or {}
    entry = entry if isinstance(entry, dict) else {}
    options = tuple((str(k), str(v)) for k, v in (entry.get("driver_opts") or {}).items())
    return policy.Mount(
        source=_volume_engine_name(project, source, declared),
        target=target,
        read_only=read_only,
        driver=str(entry.get("driver") or "") if not entry.get("external") else "",
        driver_options=options if not entry.get("external") else (),
    )


def _log_options(service: dict) -> tuple[tuple[str, str], ...]:
    """The service's ``logging.options`` as (key, value) pairs, for the policy's log option rule."""
    options = (service.get("logging") or {}).get("options") or {}
    if not isinstance(options, dict):
        return (("options", str(options)),)
    return tuple((str(k), str(v)) for k, v in sorted(options.items()))


def _listed(value: Any) -> tuple[str, ...]:
    if isinstance(value, dict):
        return tuple(f"{k}={v}" for k, v in value.items())
    return tuple(str(v) for v in value or ())


def workloads(project: str, config: dict) -> list[tuple[str, policy.Workload, tuple[str, ...]]]:
    """Each service of a normalized config as (name, :class:`policy.Workload`, engine network names)."""
    declared_volumes = config.get("volumes") or {}
    declared_networks = config.get("networks") or {}
    siblings = {name for name, _ in _service_items(config)}

    def namespace(value: Any) -> str:
        """``service:<x>`` joins a service of this same project: harmless, so no namespace asked."""
        text = str(value or "")
        return "" if text.startswith("service:") and text.removeprefix("service:") in siblings else text

    out = []
    for name, service in _service_items(config):
        mounts = [_mount(project, spec, declared_volumes) for spec in service.get("volumes") or ()]
        for section in ("secrets", "configs"):  # file-based ones are bind mounts of the host
            for ref in service.get(section) or ():
                key = ref.get("source") if isinstance(ref, dict) else ref
                entry = (config.get(section) or {}).get(key) or {}
                if isinstance(entry, dict) and entry.get("file"):
                    mounts.append(policy.Mount(source=str(entry["file"]), target=str(key), kind="bind"))
        networks = service.get("networks") or {}
        engine_networks = []
        for key in networks:
            entry = declared_networks.get(key) or {}
            entry = entry if isinstance(entry, dict) else {}
            external = entry.get("external")
            if entry.get("name"):
                engine_networks.append(str(entry["name"]))
            elif isinstance(external, dict) and external.get("name"):
                engine_networks.append(str(external["name"]))
            else:
                engine_networks.append(str(key) if external else f"{project}_{key}")
        volumes_from = tuple(
            str(v) for v in service.get("volumes_from") or () if not str(v).startswith("service:")
        )
        workload = policy.Workload(
            privileged=bool(service.get("privileged")),
            cap_add=_listed(service.get("cap_add")),
            network=namespace(service.get("network_mode")),
            pid=namespace(service.get("pid")),
            ipc=namespace(service.get("ipc")),
            uts=str(service.get("uts") or ""),
            mounts=tuple(mounts),
            devices=_listed(service.get("devices")),
            security_opt=_listed(service.get("security_opt")),
            sysctls=_listed(service.get("sysctls")),
            volumes_from=volumes_from,
            userns=str(service.get("userns_mode") or ""),
            cgroup_parent=str(service.get("cgroup_parent") or ""),
            log_driver=str((service.get("logging") or {}).get("driver") or ""),
            log_options=_log_options(service),
        )
        out.append((name, workload, tuple(engine_networks)))
    return out


def network_refusals(config: dict, role: Role) -> list[str]:
    """The networks the file creates that a non-admin may not (macvlan/ipvlan on a host interface)."""
    found = []
    for key, entry in (config.get("networks") or {}).items():
        if not isinstance(entry, dict) or entry.get("external"):
            continue
        options = [(str(k), str(v)) for k, v in (entry.get("driver_opts") or {}).items()]
        for refusal in policy.network_refusals(str(entry.get("driver") or ""), options, role):
            found.append(f"Network “{key}”, {refusal.field}: {refusal.message}")
    return found


def swarm_key_refusals(config: dict) -> list[str]:
    """What a non-admin's swarm stack uses that the policy cannot check (or that reads swarm
    objects it was not given: existing secrets/configs, config templates)."""
    found = [
        f"{key}: not allowed in a swarm stack for non-admins." for key in config if key not in SWARM_TOP_KEYS
    ]
    for name, service in _service_items(config):
        for key in sorted(service):
            if key not in SWARM_SERVICE_KEYS and not key.startswith("x-"):
                found.append(
                    f"Service “{name}”, {key}: the policy cannot check it; only an admin may use it."
                )
    for section in ("secrets", "configs"):
        for key, entry in (config.get(section) or {}).items():
            entry = entry if isinstance(entry, dict) else {}
            if entry.get("external"):
                found.append(
                    f"{section} “{key}”, external: an existing swarm object; only an admin may use it."
                )
            if entry.get("template_driver"):
                found.append(
                    f"{section} “{key}”, template_driver: can read other secrets; only an admin may use it."
                )
    return found


def policy_refusals(docker: Engine, project: str, config: dict, role: Role, mode: str = COMPOSE) -> list[str]:
    """The policy's refusals for every service and network, each naming it and the field."""
    if role >= Role.ADMIN:
        return []
    found = swarm_key_refusals(config) if mode == SWARM else []
    found += network_refusals(config, role)
    own = set(docker.compose.container_names(name=project, swarm=mode == SWARM))

    def inspect_volume(*, name: str) -> policy.VolumeFacts | None:
        found = docker.volumes.volume_facts(name=name)
        if found is None:
            return None
        return dataclasses.replace(found, used_by=tuple(u for u in found.used_by if u not in own))

    for service, workload, networks in workloads(project, config):
        facts = policy.gather_facts(
            workload, inspect_volume=inspect_volume, network_driver=docker.networks.network_driver
        )
        refusals = list(policy.refusals(workload, role, facts))
        for network in networks:
            driver = docker.networks.network_driver(name=network)
            refusals += policy.refusals(
                policy.Workload(network=network), role, policy.Facts(network_driver=driver)
            )
        found += [f"Service “{service}”, {r.field or 'file'}: {r.message}" for r in refusals]
    return found


def check(docker: Engine, *, name: str, compose: str, env: str, role: Role, mode: str = COMPOSE) -> Checked:
    """Validate a compose file for ``role``: YAML, host files (non-admins), ``config``, the policy.
    A swarm stack's is normalized by ``docker stack config`` (or the compose CLI's) instead."""
    try:
        document = yaml.safe_load(compose)
    except yaml.YAMLError as exc:
        return Checked((f"The compose file is not valid YAML: {exc}",))
    if not isinstance(document, dict) or not _service_items(document):
        return Checked(("The compose file defines no services.",))
    if role < Role.ADMIN and (host := _host_file_refusals(document)):
        return Checked(tuple(host), denied=True)
    if role < Role.ADMIN and mode != SWARM and (reserved := reserved_env_lines(env)):
        return Checked(
            tuple(
                f".env line {number}: {key} is read by the compose CLI itself; only an admin may set it."
                for number, key in reserved
            ),
            denied=True,
        )
    project = Project(name=name, compose=compose, env=env)
    if mode == SWARM:
        try:
            env_variables(env)
            result = docker.compose.stack_config(project=project)
        except InvalidInput as exc:
            return Checked((exc.message,))
    else:
        result = docker.compose.config(project=project)
    if not result.ok:
        return Checked((f"compose config refused the file:\n{result.error}",))
    return check_normalized(docker, name=name, normalized=result.normalized, role=role, mode=mode)


def check_normalized(
    docker: Engine, *, name: str, normalized: str, role: Role, mode: str = COMPOSE
) -> Checked:
    """The policy applied to the CLI's normalized output (what will really be deployed)."""
    try:
        config = yaml.safe_load(normalized) or {}
    except yaml.YAMLError as exc:  # the CLI's own output: a bug if it happens
        return Checked((f"Could not read the normalized compose file: {exc}",))
    refusals = policy_refusals(docker, name, config, role, mode)
    return Checked(tuple(refusals), normalized=normalized, denied=bool(refusals))


def diff(old: str, new: str, label: str) -> str:
    """A unified diff of two texts ('' when equal)."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"{label} (running)", f"{label} (new)", lineterm=""
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- stacks and sources


@dataclass(frozen=True)
class Source:
    """Where a stack's files come from: a managed version, the host's files, or nowhere (by label)."""

    kind: str  # "dashboard", "files", "labels"
    project: Project | None
    label: str  # for display

    @property
    def has_files(self) -> bool:
        return self.project is not None


def row_of(endpoint: str, name: str) -> Stack | None:
    return Stack.objects.filter(endpoint=endpoint, name=name).first()


def _readable(docker: Engine, summary: StackSummary) -> bool:
    """Files on this host only mean the stack's files when the endpoint is this host's engine."""
    if not docker.url.startswith("unix://") or not summary.config_files:
        return False
    return all(os.path.isfile(f) and os.access(f, os.R_OK) for f in summary.config_files)


def source_of(docker: Engine, row: Stack | None, summary: StackSummary) -> Source:
    if row is not None:
        version = row.running_version or row.versions.first()
        if version is not None:
            project = Project(name=row.name, compose=version.compose, env=version.env)
            return Source("dashboard", project, f"dashboard (version {version.number})")
    if _readable(docker, summary):
        project = Project(
            name=summary.name, config_files=summary.config_files, working_dir=summary.working_dir
        )
        return Source("files", project, ", ".join(summary.config_files))
    where = ", ".join(summary.config_files) or "unknown"
    return Source("labels", None, f"{where} (not readable here)")


def read_files(source: Source) -> str:
    """The first compose file of an adopted stack (for import and edit), '' when unreadable."""
    if source.project is None or not source.project.config_files:
        return ""
    try:
        with open(source.project.config_files[0], encoding="utf-8") as handle:
            return handle.read(MAX_COMPOSE + 1)[:MAX_COMPOSE]
    except OSError:
        return ""


def is_up(docker: Engine, name: str) -> bool:
    """Something of a stack ``name`` is on the engine: containers of the project, or swarm services."""
    return docker.compose.stack(name=name).total > 0 or bool(docker.swarm.stack_services(name=name))


def name_taken(docker: Engine, endpoint: str, name: str) -> str:
    """Why /stacks/new/ may not deploy ``name`` ('' when it may). A managed stack that was brought
    down may: its history continues with the new version."""
    row = row_of(endpoint, name)
    if is_up(docker, name):
        return f"A stack named “{name}” exists on this endpoint."
    if row is not None and row.versions.filter(status=StackVersion.Status.RUNNING).exists():
        return f"A deploy of stack “{name}” is under way."
    return ""


def swarm_available(docker: Engine) -> bool:
    """Swarm stacks can be deployed here: the endpoint is a swarm manager and a docker CLI exists."""
    return stack_cli().available and docker.swarm.swarm_state().is_manager


RESERVED_NAMES = {"new", "jobs"}  # /stacks/new/ and /stacks/jobs/ are pages


def valid_name(name: str) -> bool:
    """A project name both CLIs keep as it is (and no page's address)."""
    return bool(NAME_RE.match(name)) and name not in RESERVED_NAMES


# --------------------------------------------------------------------------- jobs


def start_job(
    request: Any,
    docker: Engine,
    *,
    name: str,
    action: str,
    work: Callable[[Engine, jobs.Job], Iterator[dict]],
    role: Role,
    parameters: dict | None = None,
    version: StackVersion | None = None,
) -> jobs.Job:
    """Run a stack action as a job; its end is audited as ``stack.<action>`` and, for a deploy,
    stored on its version (deployed or failed, with the message)."""
    who = audit.who(request)
    parameters = dict(parameters or {})

    def on_done(job: jobs.Job) -> None:
        ok = job.status == jobs.SUCCESS
        if version is not None:
            status = StackVersion.Status.DEPLOYED if ok else StackVersion.Status.FAILED
            StackVersion.objects.filter(pk=version.pk).update(status=status, message=job.message[:4000])
        outcome = audit.OK if ok else audit.FAILED
        audit.record(
            who, f"stack.{action}", target=name, parameters=parameters, outcome=outcome, message=job.message
        )

    job = docker.jobs.start(
        f"stack {action}",
        name,
        work,
        required_role=role.label,
        user=request.user,
        endpoint=request.endpoint.slug,
        on_done=on_done,
        success_message=lambda job: f"{action.capitalize()} of stack {name} finished.",
    )
    if version is not None:
        StackVersion.objects.filter(pk=version.pk).update(job_id=job.id)
    return job


def new_version(
    request: Any, row: Stack, *, compose: str, env: str, origin: str, rolled_back_from: int | None = None
) -> StackVersion:
    with transaction.atomic():
        last = row.versions.select_for_update().order_by("-number").first()
        version = StackVersion(
            stack=row,
            number=(last.number + 1) if last else 1,
            compose=compose,
            origin=origin,
            rolled_back_from=rolled_back_from,
            user=request.user,
            username=request.user.get_username(),
        )
        version.env = env
        version.save()
    return version


def converge(docker: Engine, name: str, timeout: float = CONVERGE_TIMEOUT) -> Iterator[dict]:
    """Wait until every service of the swarm stack runs its current spec, telling how far it is.

    Raises:
        EngineRefused: tasks of the new spec keep failing, or it did not converge within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    said = ""
    yield {"stream": f"Waiting until every service of {name} runs its new spec (at most {timeout:.0f} s)."}
    while True:
        states = docker.swarm.stack_convergence(name=name)
        line = "; ".join(f"{c.service}: {c.ready}/{c.desired} running" for c in states)
        if line != said:
            yield {"stream": line or "no services yet"}
            said = line
        if states and all(c.done for c in states):
            return
        failing = [c for c in states if c.failed >= CONVERGE_FAILURES]
        late = time.monotonic() > deadline
        if failing or late:
            errors = "; ".join(f"{c.service}: {c.error}" for c in states if c.error)
            why = "tasks keep failing" if failing else f"not running after {timeout:.0f} s"
            raise EngineRefused(f"The swarm stack {name} did not converge ({why}). {errors}".strip())
        time.sleep(1.0)


def _up(docker: Engine, mode: str, project: Project) -> Iterator[dict]:
    """Deploy ``project``: ``compose up -d``, or ``docker stack deploy`` and wait for the services."""
    if mode == SWARM:
        yield from docker.compose.stack_run(project=project, command="deploy")
        yield from converge(docker, project.name)
    else:
        yield from docker.compose.run(project=project, command="up")


def remove_swarm_stack(docker: Engine, name: str, timeout: float = CONVERGE_TIMEOUT) -> Iterator[dict]:
    """``docker stack rm``, then wait until its services and networks are gone (the CLI does not).

    The CLI removes the services, then at once their networks, and races the manager: a task still
    shutting down holds its network ("... is in use by task"), or the network went meanwhile ("...
    not found"). Neither is a failed removal: what went is gone, and ``rm`` again (once the tasks
    are gone) removes what is left (1 run in 6 on this machine's 20.10, a red CI run once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            yield from docker.compose.stack_run(project=Project(name=name), command="rm")
            break
        except EngineRefused as exc:
            if not any(race in exc.message for race in _RM_RACES):
                raise
            if docker.swarm.stack_leftovers(name=name) == 0:
                break
            if time.monotonic() > deadline:
                raise
            yield {"stream": "A network is still in use by a stopping task; removing it again shortly."}
            time.sleep(RM_RETRY_SECONDS)
    while (left := docker.swarm.stack_leftovers(name=name)) > 0:
        if time.monotonic() > deadline:
            raise EngineRefused(
                f"{left} service(s)/network(s) of {name} were still there after {timeout:.0f} s."
            )
        time.sleep(0.5)
    yield {"stream": f"Stack {name} removed (its volumes stay on the nodes)."}


def deploy(request: Any, docker: Engine, row: Stack, version: StackVersion, *, action: str) -> jobs.Job:
    """``up -d`` (or ``docker stack deploy``) of ``version`` as a job; on failure the version that
    ran before is deployed again."""
    previous = row.running_version
    target = Project(name=row.name, compose=version.compose, env=version.env)
    fallback = (
        Project(name=row.name, compose=previous.compose, env=previous.env)
        if previous is not None and previous.pk != version.pk
        else None
    )
    number = previous.number if previous is not None else 0

    mode = row.mode
    tool = stack_cli() if mode == SWARM else cli()

    def work(docker: Engine, job: jobs.Job) -> Iterator[dict]:
        yield {"stream": f"Deploying version {version.number} of {row.name} with {tool}"}
        try:
            yield from _up(docker, mode, target)
        except Refused as failed:
            if fallback is None:
                raise
            yield {"stream": f"--- the deploy failed: deploying version {number} again ---"}
            try:
                yield from _up(docker, mode, fallback)
            except Refused as again:
                raise EngineRefused(
                    f"{failed.message}\nDeploying version {number} again failed too: {again.message}"
                ) from again
            raise EngineRefused(
                f"{failed.message}\nVersion {number} was deployed again and runs."
            ) from failed

    parameters = {"version": version.number, "origin": version.origin}
    return start_job(
        request,
        docker,
        name=row.name,
        action=action,
        work=work,
        role=Role.OPERATOR,
        parameters=parameters,
        version=version,
    )
