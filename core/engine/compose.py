"""Compose stacks: the compose CLI (the ONE module that knows its spellings) and stacks from labels.

docker-py has no compose, so stacks run the real CLI: ``docker compose`` (the v2 plugin) when the
docker CLI has it, else ``docker-compose`` (v1.29, Debian's package). :func:`cli` detects which once
per process; every difference between the two lives here.

Safety rules of every CLI run:

- no shell: a fixed argument list; the project name is validated by the caller (:data:`NAME_RE`);
- the endpoint of the request, explicitly, in the environment (:func:`endpoint_env`): ``DOCKER_HOST``
  from the :class:`EndpointRef`, its TLS certificates written into the run's own private temp dir
  (``write_tls_files``) which is ``DOCKER_CERT_PATH``; every connection variable set, so a stack's
  ``.env`` cannot set one (docker-compose v1 reads them from it); ssh as the CLI does;
- a minimal environment (``settings.COMPOSE_INHERITED_ENV`` and the endpoint): the dashboard's own
  variables (its SECRET_KEY ...) can never be interpolated into a compose file;
- the compose file and ``.env`` of a managed stack are written to a private temp dir (mode 0700) per
  run, which is the project directory, and removed after;
- bounded: each output line is cut at :data:`MAX_LINE` bytes, ``config`` output at
  :data:`MAX_CONFIG_BYTES`, and every run has a timeout after which its process group is killed.

Swarm stacks run the docker CLI's ``docker stack`` (deploy, rm; ``config`` where the CLI has it,
else the compose CLI's ``config`` normalizes) under the same rules: :func:`stack_cli` detects it,
:func:`stack_config` and :func:`stack_run` run it. ``docker stack deploy`` reads no ``.env``: the
stack's variables reach it as the process environment, and names the CLI itself reads (``DOCKER_*``,
``PATH`` ...) are refused (:func:`env_variables`). Images are never resolved against a registry
(``--resolve-image never``): the engine's nodes pull what they need as for any service.

The stack list is ONE engine call: ``/containers/json?all=1`` filtered by the project label.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core.engine import snapshots, swarm
from core.engine._client import EndpointRef, Engine, engine_call, side_call, tls_failure, write_tls_files
from core.engine.containers import ContainerSummary, _summary
from core.engine.swarm import STACK_LABEL, ServiceSummary
from core.errors import EngineRefused, InvalidInput

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
# What both CLIs accept as a project name (v1 would silently drop anything else).
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
COMPOSE_FILE = "docker-compose.yml"
MAX_LINE = 4000  # bytes of one output line kept
MAX_CONFIG_BYTES = 1 << 20  # a normalized compose file larger than this is refused
MAX_ERROR_LINES = 40  # the tail of a failed run's output kept in its error message
CONFIG_TIMEOUT = 60.0
RUN_TIMEOUT = 1800.0  # up/pull/down may pull images: generous, but bounded


@dataclass(frozen=True)
class Cli:
    """The compose CLI this process uses: ``kind`` is ``v2`` (docker compose), ``v1`` or ``""`` (none)."""

    kind: str
    argv: tuple[str, ...]
    version: str

    @property
    def available(self) -> bool:
        return bool(self.kind)

    def __str__(self) -> str:
        if not self.available:
            return "no compose CLI found (install docker-compose or the docker compose plugin)"
        name = "docker compose" if self.kind == "v2" else "docker-compose"
        return f"{name} {self.version}"


def _version_of(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            [*argv, "version", "--short"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""


@functools.cache
def cli() -> Cli:
    """The compose CLI (detected once per process): the v2 plugin first, then docker-compose v1."""
    docker_cli = shutil.which("docker")
    if docker_cli and (version := _version_of([docker_cli, "compose"])):
        return Cli("v2", (docker_cli, "compose"), version.lstrip("v"))
    v1 = shutil.which("docker-compose")
    if v1 and (version := _version_of([v1])):
        return Cli("v1", (v1,), version)
    return Cli("", (), "")


@dataclass(frozen=True)
class StackCli:
    """The docker CLI's ``stack`` commands (swarm stacks); ``has_config``: it has ``stack config``
    (newer CLIs; Debian's 20.10 has not)."""

    argv: tuple[str, ...]
    version: str
    has_config: bool

    @property
    def available(self) -> bool:
        return bool(self.argv)

    def __str__(self) -> str:
        if not self.available:
            return "no docker CLI found (swarm stacks need it: install docker.io)"
        return f"docker stack (docker CLI {self.version})"


@functools.cache
def stack_cli() -> StackCli:
    """The docker CLI for swarm stacks (detected once per process, without asking any engine)."""
    docker_cli = shutil.which("docker")
    if not docker_cli:
        return StackCli((), "", False)
    outputs = []
    for args in (["--version"], ["stack", "--help"]):
        try:
            done = subprocess.run(
                [docker_cli, *args], capture_output=True, timeout=20, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired):
            return StackCli((), "", False)
        outputs.append(done.stdout.decode("utf-8", "replace"))
    version = re.search(r"version ([^,\s]+)", outputs[0])
    if version is None:
        return StackCli((), "", False)
    has_config = re.search(r"^\s+config\s", outputs[1], re.MULTILINE) is not None
    return StackCli((docker_cli,), version.group(1), has_config)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables the docker CLI (or what it runs) reads itself: a stack's .env may not set them.
RESERVED_ENV = re.compile(
    r"^(DOCKER_|COMPOSE_|BUILDKIT_|LC_)|^(PATH|HOME|LANG|SSH_AUTH_SOCK|TMPDIR|(HTTPS?|NO|ALL)_PROXY)$",
    re.IGNORECASE,
)


def reserved_env_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, name)`` of each ``.env`` line that sets a variable the CLI reads itself
    (:data:`RESERVED_ENV`: ``COMPOSE_FILE``, ``DOCKER_*`` ...). docker-compose v1 reads such names
    from a project's ``.env`` whenever the process leaves them unset."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key = stripped.removeprefix("export ").partition("=")[0].strip()
        if RESERVED_ENV.match(key):
            found.append((number, key))
    return found


def env_variables(text: str) -> dict[str, str]:
    """A ``.env`` text as variables (``KEY=value`` lines, ``#`` comments, optional ``export`` and
    quotes), for ``docker stack`` which reads no ``.env`` file.

    Raises:
        InvalidInput: a line that is not ``KEY=value``, or a name the docker CLI reads itself.
    """
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _ENV_NAME.match(key):
            raise InvalidInput(f".env line {number}: expected KEY=value.")
        if RESERVED_ENV.match(key):
            raise InvalidInput(
                f".env line {number}: {key} is read by the docker CLI itself; use another name."
            )
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
    return found


# --------------------------------------------------------------------------- projects and runs


@dataclass(frozen=True)
class Project:
    """What a CLI run is about: a managed stack's text, or an adopted stack's files on this host."""

    name: str
    compose: str = ""
    env: str = ""
    config_files: tuple[str, ...] = ()  # adopted: the host's files (read by the CLI where they are)
    working_dir: str = ""

    def __repr__(self) -> str:  # never print the env (secrets)
        return f"Project({self.name!r})"


def endpoint_env(ref: EndpointRef, directory: Path) -> dict[str, str]:
    """The variables that aim every CLI run at ``ref``: ``DOCKER_HOST`` and, for a TLS endpoint, its
    material as ``DOCKER_CERT_PATH`` (``directory`` holds ca.pem, cert.pem, key.pem) with
    ``DOCKER_TLS_VERIFY`` when it has a CA.

    docker-compose v1 ignores the ``--tls*`` flags unless ``-H`` is given too and takes TLS from
    these variables only; and it reads them, and ``COMPOSE_TLS_VERSION``/``COMPOSE_PARAMIKO_SSH``,
    from the project's ``.env`` whenever the process leaves them unset. So each is always set here,
    empty when not used: a stack's ``.env`` can never change how or where the CLI connects.
    """
    return {
        "DOCKER_HOST": ref.url,
        "DOCKER_TLS_VERIFY": "1" if ref.uses_tls and ref.tls_ca else "",
        "DOCKER_CERT_PATH": str(directory) if ref.uses_tls else "",
        "COMPOSE_TLS_VERSION": "",
        "COMPOSE_PARAMIKO_SSH": "0",
    }


def _docker_cli_tls_args(ref: EndpointRef, directory: Path) -> list[str]:
    """The docker CLI's own TLS flags (``docker compose``, ``docker stack``): its environment alone
    cannot say "TLS with a client certificate but no CA" on every CLI version."""
    if not ref.uses_tls:
        return []
    args = ["--tlscert", str(directory / "cert.pem"), "--tlskey", str(directory / "key.pem")]
    return args + (["--tlsverify", "--tlscacert", str(directory / "ca.pem")] if ref.tls_ca else ["--tls"])


@contextmanager
def _private_dir(engine: Engine) -> Iterator[tuple[Path, dict[str, str]]]:
    """A private temp dir (0700), removed after, holding the endpoint's TLS material (if any), and
    the minimal environment aimed at the endpoint (:func:`endpoint_env`)."""
    directory = Path(tempfile.mkdtemp(prefix="dashboard-compose-"))
    try:
        directory.chmod(0o700)
        if engine.ref.uses_tls:
            write_tls_files(engine.ref, directory)
        env = dict(settings.COMPOSE_INHERITED_ENV)
        env.update(endpoint_env(engine.ref, directory))
        yield directory, env
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_project(directory: Path, project: Project) -> Path:
    """The managed stack's compose file and ``.env`` (0600) in ``directory/project``: its project dir."""
    project_dir = directory / "project"
    project_dir.mkdir(mode=0o700)
    for name, text in ((COMPOSE_FILE, project.compose), (".env", project.env)):
        path = project_dir / name
        path.touch(mode=0o600)
        path.write_text(text)
    return project_dir


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidInput(f"“{name}” is not a valid stack name.")


@contextmanager
def _workspace(engine: Engine, project: Project) -> Iterator[tuple[list[str], dict[str, str], Path]]:
    """The compose CLI's run: yields the argument list up to the compose sub-command, the
    environment, and the working directory (the project's files and TLS material in a private dir)."""
    tool = cli()
    if not tool.available:
        raise EngineRefused(str(tool))
    _check_name(project.name)
    with _private_dir(engine) as (directory, env):
        env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
        if tool.kind == "v1":  # TLS from the environment only (endpoint_env)
            argv = [tool.argv[0], "--ansi", "never", "-p", project.name]
        else:
            tls_args = _docker_cli_tls_args(engine.ref, directory)
            argv = [tool.argv[0], *tls_args, "compose", "--ansi", "never", "--progress", "plain"]
            argv += ["-p", project.name]
        if project.config_files:
            for path in project.config_files:
                argv += ["-f", path]
            argv += ["--project-directory", project.working_dir or str(Path(project.config_files[0]).parent)]
            cwd = Path(project.working_dir or Path(project.config_files[0]).parent)
        else:
            cwd = _write_project(directory, project)
            argv += ["-f", str(cwd / COMPOSE_FILE), "--project-directory", str(cwd)]
        yield argv, env, cwd


@contextmanager
def _stack_workspace(engine: Engine, project: Project) -> Iterator[tuple[list[str], dict[str, str], Path]]:
    """``docker stack``'s run: like :func:`_workspace`, with the ``.env`` variables in the
    environment and a docker config dir of its own (the dashboard user's contexts and credentials
    are never read). The compose file is ``docker-compose.yml`` in the working directory."""
    tool = stack_cli()
    if not tool.available:
        raise EngineRefused(str(tool))
    _check_name(project.name)
    if project.config_files:
        raise InvalidInput("A swarm stack is deployed from its stored file only.")
    variables = env_variables(project.env)
    with _private_dir(engine) as (directory, env):
        cwd = _write_project(directory, project)
        env = {**variables, **env, "DOCKER_CONFIG": str(directory / "docker-config")}
        yield [tool.argv[0], *_docker_cli_tls_args(engine.ref, directory), "stack"], env, cwd


class _Process:
    """One CLI process: stdout+stderr merged, read a bounded line at a time, killed at the timeout."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float, workdir: Path):
        self.workdir = str(workdir)
        self.timed_out = False
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the timeout kills what it started too
        )
        self.timer = threading.Timer(timeout, self.kill)
        self.timer.daemon = True
        self.timer.start()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def lines(self) -> Iterator[str]:
        """Output lines, decoded, each cut at MAX_LINE bytes, temp paths shown as ``.``."""
        assert self.proc.stdout is not None
        skipping = False
        for raw in iter(lambda: self.proc.stdout.readline(MAX_LINE), b""):
            whole = raw.endswith(b"\n")
            if not skipping:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                yield text.replace(self.workdir, ".") + ("" if whole else " …")
            skipping = not whole

    def close(self) -> int:
        """Wait for the exit (the timer still bounds it); a reader that stopped early kills it."""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            if self.proc.stdout.read(1):  # stopped before the end of its output: stop the process
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.stdout.close()
        code = self.proc.wait()
        self.timer.cancel()
        return code


@dataclass(frozen=True)
class Config:
    """The result of ``config``: the normalized YAML, or the CLI's error (with its line numbers)."""

    ok: bool
    normalized: str = ""
    error: str = ""


@engine_call
def config(engine: Engine, *, project: Project) -> Config:
    """``compose config``: validate and normalize the project's file (nothing runs).

    Returns:
        A :class:`Config`; ``error`` is the CLI's own message (YAML line/column, unknown keys ...).

    Raises:
        EngineRefused: no compose CLI, or it ran past its timeout.
    """
    with _workspace(engine, project) as (argv, env, cwd):
        return _config_of([*argv, "config"], env, cwd, "compose config")


@engine_call
def stack_config(engine: Engine, *, project: Project) -> Config:
    """Validate and normalize a swarm stack's file: ``docker stack config`` where the docker CLI
    has it (with the ``.env`` variables), else the compose CLI's ``config`` (same interpolation).

    Raises:
        InvalidInput: the ``.env`` is not ``KEY=value`` lines or sets a variable the CLI reads.
        EngineRefused: no CLI to do it, or it ran past its timeout.
    """
    if not stack_cli().has_config:
        return config(engine, project=project)
    with _stack_workspace(engine, project) as (argv, env, cwd):
        return _config_of([*argv, "config", "-c", COMPOSE_FILE], env, cwd, "docker stack config")


def _config_of(argv: list[str], env: dict[str, str], cwd: Path, label: str) -> Config:
    process = _Process(argv, env, cwd, CONFIG_TIMEOUT, cwd)
    out: list[str] = []
    size = 0
    try:
        for line in process.lines():
            size += len(line) + 1
            if size > MAX_CONFIG_BYTES:
                process.kill()
                return Config(False, error="The normalized compose file is larger than 1 MiB.")
            out.append(line)
    finally:
        code = process.close()
    if process.timed_out:
        raise EngineRefused(f"{label} did not finish within {CONFIG_TIMEOUT:.0f} s.")
    text = "\n".join(out)
    return Config(True, normalized=text) if code == 0 else Config(False, error=text.strip() or f"exit {code}")


# Sub-commands the stack pages run, spelled for each CLI (``up`` recreates what changed).
COMMANDS = {
    "up": ["up", "-d", "--remove-orphans"],
    "pull": ["pull"],
    "stop": ["stop"],
    "start": ["start"],
    "restart": ["restart"],
    "down": ["down", "--remove-orphans"],
    "down-volumes": ["down", "--remove-orphans", "--volumes"],
}


@engine_call
def run(engine: Engine, *, project: Project, command: str, timeout: float = RUN_TIMEOUT) -> Iterator[dict]:
    """Run one of :data:`COMMANDS` and yield its output as job messages (``{"stream": line}``).

    A generator: the temp dir lives until it is exhausted or closed.

    Raises:
        EngineRefused: the CLI failed (the message ends with its last lines) or timed out.
    """
    args = COMMANDS[command]
    return _run(engine, project, args, timeout)


@engine_call
def stack_run(
    engine: Engine, *, project: Project, command: str, timeout: float = RUN_TIMEOUT
) -> Iterator[dict]:
    """``docker stack deploy`` (``command="deploy"``: prune services no longer in the file, never
    resolve images against a registry) or ``docker stack rm`` (``"rm"``) of a swarm stack, as job
    messages. Both return once the manager has the change; the caller waits for convergence.

    Raises:
        EngineRefused: the CLI failed (the message ends with its last lines) or timed out.
    """
    if command == "deploy":
        args = ["deploy", "--prune", "--resolve-image", "never", "-c", COMPOSE_FILE, project.name]
    elif command == "rm":
        args = ["rm", project.name]
    else:
        raise ValueError(f"unknown docker stack command {command!r}")
    return _run(engine, project, args, timeout, workspace=_stack_workspace, label="docker stack")


def _run(
    engine: Engine,
    project: Project,
    args: list[str],
    timeout: float,
    *,
    workspace: Callable = _workspace,
    label: str = "compose",
) -> Iterator[dict]:
    with workspace(engine, project) as (argv, env, cwd):
        process = _Process([*argv, *args], env, cwd, timeout, cwd)
        tail: list[str] = []
        try:
            for line in process.lines():
                tail = [*tail[-(MAX_ERROR_LINES - 1) :], line]
                yield {"stream": line}
        finally:
            code = process.close()
        if process.timed_out:
            raise EngineRefused(f"{label} {args[0]} did not finish within {timeout:.0f} s and was stopped.")
        if code != 0:
            raise EngineRefused(f"{label} {args[0]} failed (exit {code}): {failure_summary(tail)}")


def failure_summary(lines: Sequence[str]) -> str:
    """The end of a failed run's output for its error message (the whole output stays in the job):
    a failed TLS handshake as a sentence; a Python traceback (docker-compose v1 prints one when it
    cannot reach the engine) without its frames; else the last 8 non-empty lines."""
    if tls := tls_failure("\n".join(lines)):
        return f"the engine refused the connection: {tls}."
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        lines = [line for line in lines if line.strip() and not line[0].isspace()]
        lines = [line for line in lines if not line.startswith("Traceback")][-3:]
    return "\n".join(line for line in lines[-8:] if line.strip())


# --------------------------------------------------------------------------- stacks from labels


@dataclass(frozen=True)
class StackSummary:
    """One compose project on the engine, from its containers' labels."""

    name: str
    containers: tuple[ContainerSummary, ...]
    config_files: tuple[str, ...]
    working_dir: str

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({c.labels.get(SERVICE_LABEL, "") for c in self.containers} - {""}))

    @property
    def running(self) -> int:
        return sum(1 for c in self.containers if c.state == "running")

    @property
    def total(self) -> int:
        return len(self.containers)

    @property
    def status(self) -> str:
        return project_status(self.running, self.total)


def project_status(running: int, total: int) -> str:
    """down (no containers), running (all), stopped (none running) or partial."""
    if not total:
        return "down"
    if running == total:
        return "running"
    return "stopped" if running == 0 else "partial"


def _stack(name: str, containers: list[ContainerSummary]) -> StackSummary:
    labels = containers[0].labels if containers else {}
    return StackSummary(
        name=name,
        containers=tuple(sorted(containers, key=lambda c: (c.labels.get(SERVICE_LABEL, ""), c.name))),
        config_files=_config_files(labels),
        working_dir=str(labels.get(WORKING_DIR_LABEL) or ""),
    )


@dataclass(frozen=True)
class ProjectCounts:
    """A compose project's line in the stack list: what its containers' labels and states add up to
    (no per-container objects: the list of 500 containers needs only these)."""

    name: str
    services: tuple[str, ...]
    running: int
    total: int
    config_files: tuple[str, ...]

    @property
    def status(self) -> str:
        return project_status(self.running, self.total)


def _config_files(labels: dict) -> tuple[str, ...]:
    files = str(labels.get(CONFIG_FILES_LABEL) or "")
    working_dir = str(labels.get(WORKING_DIR_LABEL) or "")
    # v1 labels the file as it was named (``docker-compose.yml``): relative to the working dir
    return tuple(str(Path(working_dir, f)) if working_dir else f for f in files.split(",") if f)


def project_counts(raw: list[dict]) -> list[ProjectCounts]:
    """``/containers/json`` items grouped by compose project (items without the label are skipped)."""
    grouped: dict[str, tuple[set[str], list[int], dict]] = {}
    for item in raw:
        labels = item.get("Labels") or {}
        project = labels.get(PROJECT_LABEL)
        if not project or not isinstance(project, str):
            continue
        entry = grouped.get(project)
        if entry is None:
            entry = grouped[project] = (set(), [0, 0], labels)
        if service := labels.get(SERVICE_LABEL):
            entry[0].add(str(service))
        entry[1][1] += 1
        if item.get("State") == "running":
            entry[1][0] += 1
    return [
        ProjectCounts(name, tuple(sorted(services)), counts[0], counts[1], _config_files(labels))
        for name, (services, counts, labels) in grouped.items()
    ]


@engine_call
def _projects(engine: Engine) -> tuple[ProjectCounts, ...]:
    """The compose projects on the engine; kept between pages while the engine's event stream
    reports no container change (core/engine/snapshots.py): the rows use only the containers'
    state and compose labels, and every change of those is an event."""
    return snapshots.read_kept(engine, "compose-projects", lambda: _read_projects(engine))


def _read_projects(engine: Engine) -> tuple[ProjectCounts, ...]:
    return tuple(project_counts(engine.api.containers(all=True, filters={"label": PROJECT_LABEL})))


@engine_call
def start_list_stacks(engine: Engine) -> Callable[[], tuple[Sequence[ProjectCounts], list[ServiceSummary]]]:
    """Every stack on the engine, read from NOW on: its compose projects (containers filtered by the
    project label) and its swarm stacks' services (none, from one quick 503, unless a swarm manager)
    as two concurrent requests in the engine side pool. Returns the function that waits for both
    and gives ``(projects, services)`` (or raises what either raised), so the caller can do its own
    work (database, the page around the table) while the engine answers."""
    _ = engine.api  # the client (and its version handshake, when new) once, before two threads want it
    projects = side_call(_projects, engine)
    services = side_call(swarm.stack_services, engine)

    def result() -> tuple[Sequence[ProjectCounts], list[ServiceSummary]]:
        try:
            return projects.result(), services.result()
        except BaseException:
            projects.cancel()
            services.cancel()
            raise

    return result


@engine_call
def list_stacks(engine: Engine) -> tuple[Sequence[ProjectCounts], list[ServiceSummary]]:
    """``start_list_stacks()`` waited for at once."""
    return start_list_stacks(engine)()


@engine_call
def stack(engine: Engine, *, name: str) -> StackSummary:
    """One project's containers (none: a stack that is down or does not exist)."""
    raw = engine.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={name}"})
    return _stack(name, [_summary(item) for item in raw])


@engine_call
def container_names(engine: Engine, *, name: str, swarm: bool = False) -> list[str]:
    """The names of a project's containers (a swarm stack's task containers on this engine): one call."""
    label = f"{STACK_LABEL if swarm else PROJECT_LABEL}={name}"
    raw = engine.api.containers(all=True, filters={"label": label})
    return [_summary(item).name for item in raw]


@engine_call
def label_action(engine: Engine, *, name: str, action: str, volumes: bool = False) -> int:
    """Lifecycle of a project whose file the dashboard cannot read, by its label: ``stop``,
    ``start``, ``restart`` or ``down`` (remove its containers and networks, and its volumes when
    ``volumes``). Returns how many containers it acted on."""
    try:
        return _label_action(engine.api, name, action, volumes)
    finally:
        snapshots.invalidate(engine)


def _label_action(api, name: str, action: str, volumes: bool) -> int:
    label = {"label": f"{PROJECT_LABEL}={name}"}
    containers = api.containers(all=True, filters=label)
    for item in containers:
        if action == "stop" and item.get("State") == "running":
            api.stop(item["Id"])
        elif action == "start" and item.get("State") != "running":
            api.start(item["Id"])
        elif action == "restart":
            api.restart(item["Id"])
        elif action == "down":
            api.remove_container(item["Id"], force=True)
    if action == "down":
        for network in api.networks(filters=label):
            api.remove_network(network["Id"])
        if volumes:
            for volume in api.volumes(filters=label).get("Volumes") or []:
                api.remove_volume(volume["Name"])
    return len(containers)
