"""Forms for containers: create/run (with the non-admin policy), commit, rename, stop/kill options.

Every line-based field is parsed here into the engine module's spec types, with the line number in
the error, so the engine only ever sees validated input.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable

from django import forms

from core import policy, references
from core.engine.containers import CreateSpec, HealthSpec, NetworkSpec, PortSpec, VolumeSpec
from core.roles import Role

# A network mode: a network name, or container:<ref> / host / none (so ":" is allowed).
NETWORK_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$")
ENV_KEY_RE = re.compile(r"^[^=\s]+$")
RESTART_RE = re.compile(r"^(no|always|unless-stopped|on-failure(:(\d{1,4}))?)$")
SIGNAL_RE = re.compile(r"^(SIG)?[A-Z0-9+-]{1,12}$|^\d{1,2}$")
CAPABILITY_RE = re.compile(r"^(CAP_)?[A-Z_]{2,32}$|^ALL$")
COMMIT_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR")
RESTART_CHOICES = "no, on-failure[:N], always, unless-stopped"


def _object_name(name: str) -> str:
    """A container name by Docker's grammar (core.references), the engine's leading ``/`` dropped."""
    try:
        return references.validate_object_name(name)
    except references.BadReference:
        raise forms.ValidationError(
            "A name is letters, digits, _ . - (at least two, starting alphanumeric)."
        ) from None


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _split(text: str, field: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise forms.ValidationError(f"The {field} could not be split into words: {exc}.") from exc


def parse_key_values(text: str, what: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` lines; a line without ``=`` is refused with its number."""
    pairs = []
    for number, line in _lines(text):
        key, sep, value = line.partition("=")
        if not sep or not key or not ENV_KEY_RE.match(key):
            raise forms.ValidationError(f"Line {number}: “{line}” is not KEY=VALUE (a {what} needs an =).")
        pairs.append((key, value))
    return tuple(pairs)


def _port_number(text: str, line: str, number: int) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise forms.ValidationError(
            f"Line {number}: “{line}”: {text or 'an empty port'} is not a port 1-65535."
        )
    return int(text)


def parse_ports(text: str) -> tuple[PortSpec, ...]:
    """Lines ``80``, ``8080:80``, ``127.0.0.1:8080:80/udp``, ``127.0.0.1::80`` (any free host port)."""
    specs = []
    for number, line in _lines(text):
        rest, _, protocol = line.partition("/")
        protocol = protocol or "tcp"
        if protocol not in ("tcp", "udp", "sctp"):
            raise forms.ValidationError(f"Line {number}: “{line}”: the protocol must be tcp, udp or sctp.")
        if rest.startswith("["):  # [::1]:8080:80
            close = rest.find("]")
            host_ip, rest = rest[1:close], rest[close + 2 :] if close > 0 else ""
            parts = [host_ip, *rest.split(":")]
        else:
            parts = rest.split(":")
        if len(parts) > 3 or not parts[-1]:
            raise forms.ValidationError(
                f"Line {number}: “{line}” is not a port mapping (HOST:CONTAINER, IP:HOST:CONTAINER[/udp])."
            )
        container_port = _port_number(parts[-1], line, number)
        host_port = None
        host_ip = ""
        if len(parts) >= 2 and parts[-2]:
            host_port = _port_number(parts[-2], line, number)
        if len(parts) == 3:
            try:
                host_ip = str(ipaddress.ip_address(parts[0]))
            except ValueError as exc:
                raise forms.ValidationError(f"Line {number}: “{parts[0]}” is not an IP address.") from exc
        specs.append(
            PortSpec(container_port=container_port, protocol=protocol, host_ip=host_ip, host_port=host_port)
        )
    return tuple(specs)


def parse_volumes(text: str) -> tuple[VolumeSpec, ...]:
    """Lines ``name:/path``, ``/host:/path:ro``, or ``/path`` alone (an anonymous volume, ``-v /data``)."""
    specs: list[VolumeSpec] = []
    targets: dict[str, int] = {}
    for number, line in _lines(text):
        parts = line.split(":")
        if len(parts) == 1 and not line.startswith("/"):
            raise forms.ValidationError(
                f"Line {number}: “{line}” needs SOURCE:TARGET (a volume name or host path, a colon, "
                "then the path in the container), or an absolute path alone for an anonymous volume."
            )
        if len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise forms.ValidationError(
                f"Line {number}: “{line}”: the mode after the target must be ro or rw."
            )
        source, target = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        if not target.startswith("/"):
            raise forms.ValidationError(f"Line {number}: the target “{target}” must be an absolute path.")
        if target.rstrip("/") == "":
            raise forms.ValidationError(f"Line {number}: the target may not be the container's root “/”.")
        if source and not source.startswith("/") and not references.is_object_name(source):
            raise forms.ValidationError(
                f"Line {number}: “{source}” is neither a volume name nor an absolute host path."
            )
        key = target.rstrip("/")
        if key in targets:
            raise forms.ValidationError(
                f"Line {number}: {target} is already mounted by line {targets[key]} (one mount a path)."
            )
        targets[key] = number
        specs.append(VolumeSpec(source=source, target=target, read_only=len(parts) == 3 and parts[2] == "ro"))
    return tuple(specs)


# --------------------------------------------------------------------------- limits, health, logs

SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
DURATION_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
LOG_DRIVER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
LOG_OPT_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOG_OPTS_MAX = 32  # lines of the "other log options" field
LOG_OPTS_MAX_CHARS = 8000
MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses less


def parse_size(text: str, what: str) -> int | None:
    """``512m``, ``1g``, ``1.5GiB``, ``1048576`` (bytes) as bytes; empty is None."""
    text = text.strip()
    if not text:
        return None
    match = SIZE_RE.match(text)
    if not match:
        raise forms.ValidationError(f"“{text}” is not a size for the {what} (e.g. 512m, 1g, 1048576).")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def parse_duration(text: str, what: str) -> int:
    """``30s``, ``1m30s``, ``500ms``, ``10`` (seconds) as nanoseconds; empty is 0 (the engine's default)."""
    text = text.strip()
    if not text:
        return 0
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return int(float(text) * 10**9)
    parts = DURATION_PART_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise forms.ValidationError(f"“{text}” is not a duration for the {what} (e.g. 30s, 1m30s, 500ms).")
    return int(sum(float(n) * DURATION_UNITS[u] for n, u in parts))


def format_size(value: int | None) -> str:
    """Bytes back to the form's notation (the largest unit that divides exactly)."""
    if not value:
        return ""
    for unit in ("g", "m", "k"):
        if value % SIZE_UNITS[unit] == 0:
            return f"{value // SIZE_UNITS[unit]}{unit}"
    return str(value)


def format_duration(value: int) -> str:
    """Nanoseconds back to the form's notation."""
    if not value:
        return ""
    for unit in ("h", "m", "s", "ms"):
        if value % DURATION_UNITS[unit] == 0:
            return f"{value // DURATION_UNITS[unit]}{unit}"
    return f"{value}ns"


def parse_networks(text: str) -> tuple[NetworkSpec, ...]:
    """Lines ``NETWORK [alias alias ...]``: the networks to join and the aliases on each."""
    specs: list[NetworkSpec] = []
    for number, line in _lines(text):
        name, *aliases = line.split()
        if not NETWORK_RE.match(name) or ":" in name:
            raise forms.ValidationError(f"Line {number}: “{name}” is not a network name.")
        if name.lower() in ("host", "none"):
            raise forms.ValidationError(
                f"Line {number}: {name} is a network mode, not a network to join: put it in Network."
            )
        for alias in aliases:
            if not NETWORK_RE.match(alias) or ":" in alias:
                raise forms.ValidationError(
                    f"Line {number}: “{alias}” is not an alias (letters, digits, _ . -)."
                )
        if any(spec.name == name for spec in specs):
            raise forms.ValidationError(f"Line {number}: the network {name} is listed twice.")
        specs.append(NetworkSpec(name=name, aliases=tuple(dict.fromkeys(aliases))))
    return tuple(specs)


class RuntimeFields(forms.Form):
    """Resource limits, healthcheck and log options (their own fieldset of the create/edit form)."""

    memory = forms.CharField(max_length=32, required=False, help_text="hard limit, e.g. 512m, 1g")
    memory_reservation = forms.CharField(max_length=32, required=False, help_text="soft limit, e.g. 256m")
    cpus = forms.DecimalField(
        required=False, min_value=0.01, max_value=1024, decimal_places=2, help_text="e.g. 0.5, 2"
    )
    cpu_shares = forms.IntegerField(
        required=False, min_value=2, max_value=262144, help_text="relative weight (1024)"
    )
    pids_limit = forms.IntegerField(
        required=False, min_value=-1, max_value=4_194_304, help_text="-1: unlimited"
    )
    health_cmd = forms.CharField(
        max_length=2000,
        required=False,
        help_text="shell command (exit 0 = healthy); NONE disables the image's",
    )
    health_interval = forms.CharField(max_length=32, required=False, help_text="e.g. 30s")
    health_timeout = forms.CharField(max_length=32, required=False, help_text="e.g. 5s")
    health_retries = forms.IntegerField(required=False, min_value=0, max_value=1000)
    health_start_period = forms.CharField(max_length=32, required=False, help_text="e.g. 10s")
    log_driver = forms.CharField(
        max_length=64,
        required=False,
        help_text="json-file, local, none ... (empty: the engine's)",
        widget=forms.TextInput(attrs={"list": "log-driver-choices", "autocomplete": "off"}),
    )
    log_max_size = forms.CharField(max_length=32, required=False, help_text="e.g. 10m")
    log_max_file = forms.IntegerField(required=False, min_value=1, max_value=1000)
    log_opts = forms.CharField(
        max_length=LOG_OPTS_MAX_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Other log options",
        help_text="KEY=value per line, as --log-opt (e.g. labels=app, tag={{.Name}})",
    )

    RUNTIME_FIELDS = (
        ("Resources", ("memory", "memory_reservation", "cpus", "cpu_shares", "pids_limit")),
        (
            "Healthcheck",
            ("health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period"),
        ),
        ("Logs", ("log_driver", "log_max_size", "log_max_file", "log_opts")),
    )

    def runtime_fieldsets(self) -> list[tuple[str, list]]:
        return [(title, [self[name] for name in names]) for title, names in self.RUNTIME_FIELDS]

    def runtime_errors(self) -> bool:
        return any(name in self.errors for _, names in self.RUNTIME_FIELDS for name in names)

    def clean_memory(self) -> int | None:
        value = parse_size(self.cleaned_data["memory"], "memory limit")
        if value is not None and value < MIN_MEMORY:
            raise forms.ValidationError("The memory limit must be at least 6m (the engine refuses less).")
        return value

    def clean_memory_reservation(self) -> int | None:
        return parse_size(self.cleaned_data["memory_reservation"], "memory reservation")

    def clean_health_interval(self) -> int:
        return parse_duration(self.cleaned_data["health_interval"], "health interval")

    def clean_health_timeout(self) -> int:
        return parse_duration(self.cleaned_data["health_timeout"], "health timeout")

    def clean_health_start_period(self) -> int:
        return parse_duration(self.cleaned_data["health_start_period"], "health start period")

    def clean_log_driver(self) -> str:
        driver = self.cleaned_data["log_driver"].strip()
        if driver and not LOG_DRIVER_RE.match(driver):
            raise forms.ValidationError(f"“{driver}” is not a log driver name.")
        return driver

    def clean_log_max_size(self) -> str:
        text = self.cleaned_data["log_max_size"].strip()
        if text:
            parse_size(text, "log max-size")
        return text

    def clean_log_opts(self) -> tuple[tuple[str, str], ...]:
        options: dict[str, str] = {}
        lines = _lines(self.cleaned_data["log_opts"])
        if len(lines) > LOG_OPTS_MAX:
            raise forms.ValidationError(f"At most {LOG_OPTS_MAX} log options.")
        for number, line in lines:
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not LOG_OPT_KEY_RE.match(key):
                raise forms.ValidationError(f"Line {number}: “{line[:80]}” is not KEY=value (a log option).")
            if key in ("max-size", "max-file"):
                raise forms.ValidationError(f"Line {number}: {key} has its own field above.")
            if key in options:
                raise forms.ValidationError(f"Line {number}: {key} is given twice.")
            options[key] = value.strip()
        return tuple(options.items())

    def clean_runtime(self) -> None:
        """Cross-field checks; called from the form's ``clean``."""
        data = self.cleaned_data
        memory, reservation = data.get("memory"), data.get("memory_reservation")
        if memory and reservation and reservation > memory:
            self.add_error("memory_reservation", "The reservation must not be above the memory limit.")
        health_set = any(
            data.get(name)
            for name in ("health_interval", "health_timeout", "health_retries", "health_start_period")
        )
        if health_set and not (data.get("health_cmd") or "").strip():
            self.add_error("health_cmd", "Give the healthcheck's command (interval, timeout ... need one).")
        if (data.get("health_cmd") or "").strip().upper() == "NONE" and health_set:
            self.add_error("health_cmd", "NONE disables the healthcheck: leave its other fields empty.")
        for name, nanos in (
            ("health_interval", data.get("health_interval")),
            ("health_start_period", data.get("health_start_period")),
        ):
            if nanos and nanos < 10**6:
                self.add_error(name, "At least 1ms (the engine refuses shorter).")
        if data.get("log_driver") == "none" and (
            data.get("log_max_size") or data.get("log_max_file") or data.get("log_opts")
        ):
            self.add_error("log_driver", "The none driver keeps no logs: log options do not apply.")

    def runtime_spec(self) -> dict:
        """The :class:`CreateSpec` keywords of this fieldset (after cleaning)."""
        data = self.cleaned_data
        cpus = data.get("cpus")
        command = (data.get("health_cmd") or "").strip()
        health = None
        if command.upper() == "NONE":
            health = HealthSpec(test=("NONE",))
        elif command:
            health = HealthSpec(
                test=("CMD-SHELL", command),
                interval=data.get("health_interval") or 0,
                timeout=data.get("health_timeout") or 0,
                retries=data.get("health_retries") or 0,
                start_period=data.get("health_start_period") or 0,
            )
        log_options = []
        if data.get("log_max_size"):
            log_options.append(("max-size", data["log_max_size"]))
        if data.get("log_max_file"):
            log_options.append(("max-file", str(data["log_max_file"])))
        log_options.extend(data.get("log_opts") or ())
        return {
            "memory": data.get("memory"),
            "memory_reservation": data.get("memory_reservation"),
            "nano_cpus": int(cpus * 10**9) if cpus else None,
            "cpu_shares": data.get("cpu_shares"),
            "pids_limit": data.get("pids_limit"),
            "healthcheck": health,
            "log_driver": data.get("log_driver") or "",
            "log_options": tuple(log_options),
        }


class CreateContainerForm(RuntimeFields, forms.Form):
    """``docker create`` / ``docker run -d``; what non-admins may ask for is core/policy.py's call."""

    image = forms.CharField(max_length=512, widget=forms.TextInput(attrs={"list": "image-choices"}))
    name = forms.CharField(max_length=128, required=False)
    command = forms.CharField(max_length=4000, required=False)
    entrypoint = forms.CharField(max_length=4000, required=False)
    env = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="KEY=VALUE lines"
    )
    ports = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="8080:80 or 127.0.0.1:8080:80/udp"
    )
    volumes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="name:/path, /host:/path:ro, or /path alone for an anonymous volume",
    )
    restart = forms.CharField(
        max_length=32,
        required=False,
        initial="no",
        help_text=RESTART_CHOICES,
        widget=forms.TextInput(attrs={"list": "restart-choices", "autocomplete": "off"}),
    )
    tty = forms.BooleanField(required=False)
    interactive = forms.BooleanField(required=False)
    labels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="KEY=VALUE lines"
    )
    network = forms.CharField(
        max_length=256, required=False, widget=forms.TextInput(attrs={"list": "network-choices"})
    )
    networks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="NETWORK alias alias ... a line: networks to join (and the aliases there)",
    )
    workdir = forms.CharField(max_length=1024, required=False)
    user = forms.CharField(max_length=256, required=False)
    start = forms.BooleanField(required=False, initial=True)
    privileged = forms.BooleanField(required=False)
    cap_add = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="one capability a line (NET_ADMIN)",
    )
    pid = forms.CharField(max_length=128, required=False, help_text="host, or empty")

    def __init__(
        self,
        *args,
        role: Role,
        facts: Callable[[policy.Workload], policy.Facts] | None = None,
        **kwargs,
    ):
        """``facts`` gathers what the engine knows about the named volumes and network (non-admins)."""
        super().__init__(*args, **kwargs)
        self.role = role
        self.facts = facts
        self.refusals: tuple[policy.Refusal, ...] = ()

    def main_fields(self) -> list:
        names = ("image", "name", "command", "entrypoint", "restart", "network", "workdir", "user")
        return [self[name] for name in names]

    def line_fields(self) -> list:
        return [self[name] for name in ("env", "ports", "volumes", "labels", "networks")]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        return _object_name(name) if name else name

    def clean_image(self) -> str:
        image = self.cleaned_data["image"].strip()
        if not image or any(c.isspace() for c in image):
            raise forms.ValidationError("Give an image reference without spaces, e.g. busybox:latest.")
        return image

    def clean_command(self) -> tuple[str, ...]:
        return _split(self.cleaned_data["command"], "command")

    def clean_entrypoint(self) -> tuple[str, ...] | None:
        text = self.cleaned_data["entrypoint"]
        return _split(text, "entrypoint") if text.strip() else None

    def clean_env(self) -> tuple[tuple[str, str], ...]:
        return parse_key_values(self.cleaned_data["env"], "variable")

    def clean_labels(self) -> tuple[tuple[str, str], ...]:
        return parse_key_values(self.cleaned_data["labels"], "label")

    def clean_ports(self) -> tuple[PortSpec, ...]:
        return parse_ports(self.cleaned_data["ports"])

    def clean_volumes(self) -> tuple[VolumeSpec, ...]:
        return parse_volumes(self.cleaned_data["volumes"])

    def clean_restart(self) -> str:
        restart = self.cleaned_data["restart"].strip() or "no"
        if not RESTART_RE.match(restart):
            raise forms.ValidationError(
                f"“{restart}” is not a restart policy; use one of: {RESTART_CHOICES}."
            )
        return restart

    def clean_network(self) -> str:
        network = self.cleaned_data["network"].strip()
        if network and not NETWORK_RE.match(network):
            raise forms.ValidationError(f"“{network}” is not a network name.")
        return network

    def clean_networks(self) -> tuple[NetworkSpec, ...]:
        return parse_networks(self.cleaned_data["networks"])

    def clean_cap_add(self) -> tuple[str, ...]:
        caps = tuple(line.upper() for _, line in _lines(self.cleaned_data["cap_add"]))
        for cap in caps:
            if not CAPABILITY_RE.match(cap):
                raise forms.ValidationError(f"“{cap}” is not a capability name.")
        return caps

    def clean_pid(self) -> str:
        pid = self.cleaned_data["pid"].strip()
        if pid and pid.lower() != "host" and not pid.lower().startswith("container:"):
            raise forms.ValidationError("The pid namespace is empty, host, or container:NAME.")
        return pid

    def workload(self) -> policy.Workload:
        """What this form asks of the host, for :func:`core.policy.refusals` (after field cleaning)."""
        data = self.cleaned_data
        return policy.Workload(
            privileged=bool(data.get("privileged")),
            cap_add=tuple(data.get("cap_add") or ()),
            network=data.get("network") or next((n.name for n in data.get("networks") or ()), ""),
            pid=data.get("pid") or "",
            log_options=tuple(data.get("log_opts") or ()),
            mounts=tuple(
                policy.Mount(
                    source=v.source,
                    target=v.target,
                    kind="bind" if v.is_bind else "volume",
                    read_only=v.read_only,
                )
                for v in data.get("volumes") or ()
            ),
            unknown_fields=policy.unknown_fields(self.data.keys(), self.fields),
        )

    def clean(self) -> dict:
        """The one workload policy (core/policy.py): each refusal goes to its field, or the form."""
        cleaned = super().clean()
        self.clean_runtime()
        workload = self.workload()
        facts = None
        if self.facts is not None and self.role < Role.ADMIN:
            facts = self.facts(workload)
        self.refusals = policy.refusals(workload, self.role, facts)
        if self.role < Role.ADMIN:
            self.refusals += self._extra_network_refusals(workload.network)
        for refusal in self.refusals:
            self.add_error(refusal.field if refusal.field in self.fields else None, refusal.message)
        return cleaned

    def _extra_network_refusals(self, primary: str) -> tuple[policy.Refusal, ...]:
        """The networks joined besides the primary one pass the same network rule (a host-driver
        network named by its id is refused here too)."""
        found: list[policy.Refusal] = []
        for network in self.cleaned_data.get("networks") or ():
            if network.name == primary:
                continue
            workload = policy.Workload(network=network.name)
            facts = self.facts(workload) if self.facts is not None else None
            found += [
                policy.Refusal("networks", r.message) for r in policy.refusals(workload, self.role, facts)
            ]
        return tuple(found)

    def refused_fields(self) -> list[str]:
        """The fields that were refused (``__all__`` for the form as a whole), for the audit trail."""
        return sorted(self.errors)

    def spec(self) -> CreateSpec:
        """The validated :class:`CreateSpec` (call after ``is_valid()``)."""
        data = self.cleaned_data
        restart, _, retries = data["restart"].partition(":")
        return CreateSpec(
            image=data["image"],
            name=data["name"],
            command=data["command"],
            entrypoint=data["entrypoint"],
            env=data["env"],
            ports=data["ports"],
            volumes=data["volumes"],
            restart=restart,
            restart_retries=int(retries or 0),
            tty=data["tty"],
            interactive=data["interactive"],
            labels=data["labels"],
            network=data["network"],
            workdir=data["workdir"],
            user=data["user"],
            privileged=data["privileged"],
            cap_add=data["cap_add"],
            pid=data["pid"],
            networks=data["networks"],
            **self.runtime_spec(),
        )

    def audit_parameters(self) -> dict:
        """What goes to the audit trail: env values are not stored, only their keys."""
        data = dict(self.data.items())
        data.pop("csrfmiddlewaretoken", None)
        if self.is_bound and hasattr(self, "cleaned_data") and "env" in self.cleaned_data:
            data["env"] = [key for key, _ in self.cleaned_data["env"]]
        else:
            data["env"] = "(not parsed)" if data.get("env") else ""
        return data


class CommitForm(forms.Form):
    repository = forms.CharField(max_length=255, required=False)
    tag = forms.CharField(max_length=128, required=False)
    message = forms.CharField(max_length=2000, required=False)
    author = forms.CharField(max_length=255, required=False)
    pause = forms.CharField(required=False)
    changes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_repository(self) -> str:
        repository = self.cleaned_data["repository"].strip()
        if repository:
            try:
                references.split_repository(repository)
            except references.BadReference:
                raise forms.ValidationError(
                    f"“{repository}” is not a repository name (lowercase, e.g. me/app)."
                ) from None
        return repository

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"].strip()
        if tag and not references.is_tag(tag):
            raise forms.ValidationError(f"“{tag}” is not a tag (letters, digits, _ . -; at most 128).")
        if tag and not self.cleaned_data.get("repository") and "repository" not in self.errors:
            raise forms.ValidationError("A tag needs a repository.")
        return tag

    def clean_pause(self) -> bool:
        """On unless the last value sent says off (the form sends a hidden ``0`` before the checkbox)."""
        values = self.data.getlist("pause") if hasattr(self.data, "getlist") else [self.data.get("pause")]
        values = [v for v in values if v is not None]
        return not values or values[-1].lower() not in ("0", "off", "false", "no", "")

    def clean_changes(self) -> tuple[str, ...]:
        changes = []
        for number, line in _lines(self.cleaned_data["changes"]):
            instruction = line.split(None, 1)[0].upper()
            if instruction not in COMMIT_INSTRUCTIONS:
                raise forms.ValidationError(
                    f"Line {number}: {instruction} cannot be applied by commit; use one of "
                    f"{', '.join(COMMIT_INSTRUCTIONS)}."
                )
            changes.append(line)
        return tuple(changes)


class RenameForm(forms.Form):
    name = forms.CharField(max_length=128)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        return _object_name(name)


class TimeoutForm(forms.Form):
    timeout = forms.IntegerField(min_value=0, max_value=600, required=False)


class KillForm(forms.Form):
    signal = forms.CharField(max_length=16, required=False)

    def clean_signal(self) -> str:
        signal = self.cleaned_data["signal"].strip().upper() or "SIGKILL"
        if not SIGNAL_RE.match(signal):
            raise forms.ValidationError(f"“{signal}” is not a signal (e.g. SIGTERM, SIGHUP, 9).")
        return signal


class DeleteForm(forms.Form):
    force = forms.BooleanField(required=False)
    volumes = forms.BooleanField(required=False)


# --------------------------------------------------------------------------- edit, duplicate, recreate


def _port_line(port: PortSpec) -> str:
    suffix = "" if port.protocol == "tcp" else f"/{port.protocol}"
    if port.host_port is None and not port.host_ip:
        return f"{port.container_port}{suffix}"
    ip = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
    host = "" if port.host_port is None else str(port.host_port)
    return f"{ip}:{host}:{port.container_port}{suffix}" if ip else f"{host}:{port.container_port}{suffix}"


def initial_from_spec(spec: CreateSpec, *, mask_env: bool = True) -> dict:
    """The create form's fields for ``spec`` (the inverse of :meth:`CreateContainerForm.spec`).

    Env values are shown as ``***`` unless ``mask_env`` is off: a ``KEY=***`` line posted back keeps
    the container's current value (:func:`restore_masked_env`), so the form never shows secrets.
    """
    health = spec.healthcheck
    log = dict(spec.log_options)
    restart = (
        spec.restart
        if spec.restart != "on-failure" or not spec.restart_retries
        else (f"on-failure:{spec.restart_retries}")
    )
    return {
        "image": spec.image,
        "name": spec.name,
        "command": shlex.join(spec.command),
        "entrypoint": shlex.join(spec.entrypoint) if spec.entrypoint is not None else "",
        "env": "\n".join(f"{k}={policy.MASK if mask_env else v}" for k, v in spec.env),
        "ports": "\n".join(_port_line(p) for p in spec.ports),
        "volumes": "\n".join(f"{v.source}:{v.target}{':ro' if v.read_only else ''}" for v in spec.volumes),
        "restart": restart or "no",
        "tty": spec.tty,
        "interactive": spec.interactive,
        "labels": "\n".join(f"{k}={v}" for k, v in spec.labels),
        "network": spec.network,
        "networks": "\n".join(" ".join((n.name, *n.aliases)) for n in spec.networks),
        "workdir": spec.workdir,
        "user": spec.user,
        "start": True,
        "privileged": spec.privileged,
        "cap_add": "\n".join(spec.cap_add),
        "pid": spec.pid,
        "memory": format_size(spec.memory),
        "memory_reservation": format_size(spec.memory_reservation),
        "cpus": f"{spec.nano_cpus / 10**9:g}" if spec.nano_cpus else "",
        "cpu_shares": spec.cpu_shares or "",
        "pids_limit": spec.pids_limit if spec.pids_limit is not None else "",
        "health_cmd": _health_command(health),
        "health_interval": format_duration(health.interval) if health else "",
        "health_timeout": format_duration(health.timeout) if health else "",
        "health_retries": health.retries or "" if health else "",
        "health_start_period": format_duration(health.start_period) if health else "",
        "log_driver": spec.log_driver,
        "log_max_size": log.get("max-size", ""),
        "log_max_file": log.get("max-file", ""),
        "log_opts": "\n".join(
            f"{k}={v}" for k, v in sorted(spec.log_options) if k not in ("max-size", "max-file")
        ),
    }


def _health_command(health: HealthSpec | None) -> str:
    if health is None:
        return ""
    if health.test[:1] == ("NONE",):
        return "NONE"
    if health.test[:1] == ("CMD-SHELL",):
        return " ".join(health.test[1:])
    return shlex.join(health.test[1:])  # CMD form: shown as a shell line


def restore_masked_env(
    posted: tuple[tuple[str, str], ...], current: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """``KEY=***`` lines of an edit form keep the container's current value of KEY."""
    values = dict(current)
    return tuple((k, values[k] if v == policy.MASK and k in values else v) for k, v in posted)


DIFF_LABELS = {"cap_add": "capabilities", "pid": "PID namespace", "cpus": "CPUs"}


def spec_diff(old: CreateSpec, new: CreateSpec) -> list[tuple[str, str, str]]:
    """What changes from ``old`` to ``new``: ``(field, before, after)`` in the form's notation.

    Env values never appear: a changed variable is shown as ``KEY=*** (changed)``.
    """
    before, after = initial_from_spec(old), initial_from_spec(new)
    rows = []
    for key in before:
        if key in ("start", "env"):
            continue
        if str(before[key]) != str(after[key]):
            rows.append((DIFF_LABELS.get(key, key.replace("_", " ")), str(before[key]), str(after[key])))
    old_env, new_env = dict(old.env), dict(new.env)
    gone = [k for k in old_env if k not in new_env]
    added = [k for k in new_env if k not in old_env]
    changed = [k for k in new_env if k in old_env and new_env[k] != old_env[k]]
    if gone or added or changed:
        rows.append(
            (
                "env",
                "\n".join(f"{k}={policy.MASK}" for k in gone + changed),
                "\n".join(
                    [f"{k}={policy.MASK} (new)" for k in added]
                    + [f"{k}={policy.MASK} (changed)" for k in changed]
                ),
            )
        )
    return rows


class RecreateForm(forms.Form):
    """The recreate/update options besides the (optional) spec fields: re-pull the image first, and
    how long to wait for the new container's healthcheck."""

    pull = forms.BooleanField(required=False)
    health_wait = forms.IntegerField(required=False, min_value=1, max_value=600, initial=60)


class EditContainerForm(CreateContainerForm):
    """The create form of an edit: the same fields, plus the recreate options it posts along."""

    pull = forms.BooleanField(required=False)
    health_wait = forms.IntegerField(required=False, min_value=1, max_value=600)
