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
from core.engine.containers import CreateSpec, PortSpec, VolumeSpec
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
    """Lines ``name:/path``, ``/host:/path:ro``; a line without ``:`` is refused."""
    specs = []
    for number, line in _lines(text):
        parts = line.split(":")
        if len(parts) < 2:
            raise forms.ValidationError(
                f"Line {number}: “{line}” needs SOURCE:TARGET (a volume name or host path, a colon, "
                "then the path in the container)."
            )
        if len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise forms.ValidationError(
                f"Line {number}: “{line}”: the mode after the target must be ro or rw."
            )
        source, target = parts[0], parts[1]
        if not target.startswith("/"):
            raise forms.ValidationError(f"Line {number}: the target “{target}” must be an absolute path.")
        if not source.startswith("/") and not references.is_object_name(source):
            raise forms.ValidationError(
                f"Line {number}: “{source}” is neither a volume name nor an absolute host path."
            )
        specs.append(VolumeSpec(source=source, target=target, read_only=len(parts) == 3 and parts[2] == "ro"))
    return tuple(specs)


class CreateContainerForm(forms.Form):
    """``docker create`` / ``docker run -d``; what non-admins may ask for is core/policy.py's call."""

    image = forms.CharField(max_length=512)
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
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="name:/path or /host:/path:ro"
    )
    restart = forms.CharField(max_length=32, required=False, initial="no", help_text=RESTART_CHOICES)
    tty = forms.BooleanField(required=False)
    interactive = forms.BooleanField(required=False)
    labels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="KEY=VALUE lines"
    )
    network = forms.CharField(max_length=256, required=False)
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
        return [self[name] for name in ("env", "ports", "volumes", "labels")]

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
            network=data.get("network") or "",
            pid=data.get("pid") or "",
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
        workload = self.workload()
        facts = None
        if self.facts is not None and self.role < Role.ADMIN:
            facts = self.facts(workload)
        self.refusals = policy.refusals(workload, self.role, facts)
        for refusal in self.refusals:
            self.add_error(refusal.field if refusal.field in self.fields else None, refusal.message)
        return cleaned

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
