"""Forms of the volume and network pages: every field named as the issue's interface names it."""

from __future__ import annotations

import ipaddress
import re

from django import forms

from core.container_forms import parse_key_values
from core.policy import bind_options, network_refusals
from core.roles import Role

VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
VOLUME_DRIVER_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:/-]{0,127}$")
NETWORK_DRIVERS = (
    ("bridge", "bridge"),
    ("overlay", "overlay (swarm managers)"),
    ("macvlan", "macvlan"),
    ("ipvlan", "ipvlan"),
)
ALIAS_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
CONTAINER_REF_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")


class VolumeForm(forms.Form):
    """``docker volume create [NAME] [--driver D] [--opt k=v] [--label k=v]``."""

    name = forms.CharField(max_length=255, required=False, help_text="Leave empty to let the engine name it.")
    driver = forms.CharField(max_length=128, required=False, initial="local")
    driver_opts = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One key=value a line, e.g. type=tmpfs.",
    )
    labels = forms.CharField(
        required=False,
        max_length=8000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One key=value a line.",
    )

    def __init__(self, *args, role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name and not VOLUME_NAME_RE.match(name):
            raise forms.ValidationError(
                f"“{name}” is not a volume name: letters, digits, _ . - (starting with a letter or digit)."
            )
        return name

    def clean_driver(self) -> str:
        driver = self.cleaned_data["driver"].strip() or "local"
        if not VOLUME_DRIVER_RE.match(driver):
            raise forms.ValidationError(f"“{driver}” is not a volume driver name.")
        return driver

    def clean_driver_opts(self) -> dict[str, str]:
        return dict(parse_key_values(self.cleaned_data["driver_opts"], "driver option"))

    def clean_labels(self) -> dict[str, str]:
        return dict(parse_key_values(self.cleaned_data["labels"], "label"))

    def clean(self) -> dict:
        data = super().clean()
        if self.role < Role.ADMIN and "driver" in data and "driver_opts" in data:
            why = bind_options(data["driver"], data["driver_opts"].items())
            if why:
                raise forms.ValidationError(f"Only an admin may create a volume with {why}.")
        return data


class DeleteVolumeForm(forms.Form):
    force = forms.BooleanField(required=False)


class RestoreForm(forms.Form):
    archive = forms.FileField(
        help_text="A tar archive (e.g. one downloaded from this page); extracted at the volume's root."
    )
    force = forms.BooleanField(required=False, help_text="Also when a running container uses the volume.")


class PruneForm(forms.Form):
    """The names confirmed on the preview: only those go, and only if still unused."""

    names = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.cleaned_data["names"].split() if n)


def _address(value: str, label: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise forms.ValidationError(f"“{value}” is not an IP address ({label}).") from None


def _cidr(value: str, label: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise forms.ValidationError(
            f"“{value}” is not a {label} in CIDR form (e.g. 10.20.0.0/24): {exc}."
        ) from None


class NetworkForm(forms.Form):
    """``docker network create`` with the fields people use."""

    name = forms.CharField(max_length=255)
    driver = forms.ChoiceField(choices=NETWORK_DRIVERS, initial="bridge")
    subnet = forms.CharField(
        max_length=64, required=False, help_text="CIDR, e.g. 10.20.0.0/24. Empty: the engine picks one."
    )
    gateway = forms.CharField(max_length=64, required=False)
    ip_range = forms.CharField(
        max_length=64, required=False, help_text="Addresses handed to containers, inside the subnet."
    )
    internal = forms.BooleanField(required=False, help_text="No traffic to or from outside the network.")
    attachable = forms.BooleanField(required=False, help_text="Overlay: plain containers may join.")
    ipv6 = forms.BooleanField(required=False)
    labels = forms.CharField(
        required=False,
        max_length=8000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One key=value a line.",
    )
    options = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Driver options, one key=value a line (e.g. com.docker.network.bridge.name=br-app).",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not NETWORK_NAME_RE.match(name):
            raise forms.ValidationError(
                f"“{name}” is not a network name: letters, digits, _ . - (starting with a letter or digit)."
            )
        return name

    def clean_subnet(self) -> str:
        return _cidr(self.cleaned_data["subnet"], "subnet")

    def clean_gateway(self) -> str:
        return _address(self.cleaned_data["gateway"], "gateway")

    def clean_ip_range(self) -> str:
        return _cidr(self.cleaned_data["ip_range"], "IP range")

    def clean_labels(self) -> dict[str, str]:
        return dict(parse_key_values(self.cleaned_data["labels"], "label"))

    def __init__(self, *args, role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role

    def clean_options(self) -> dict[str, str]:
        return dict(parse_key_values(self.cleaned_data["options"], "driver option"))

    def clean(self) -> dict:
        data = super().clean()
        if "driver" in data and "options" in data:
            for refusal in network_refusals(data["driver"], data["options"].items(), self.role):
                raise forms.ValidationError(refusal.message)
        return data


class ConnectForm(forms.Form):
    container = forms.CharField(max_length=255)
    aliases = forms.CharField(max_length=1000, required=False, help_text="Space- or comma-separated names.")
    ipv4_address = forms.CharField(max_length=64, required=False)

    def clean_container(self) -> str:
        ref = self.cleaned_data["container"].strip().lstrip("/")
        if not CONTAINER_REF_RE.match(ref):
            raise forms.ValidationError(f"“{ref}” is not a container name or id.")
        return ref

    def clean_aliases(self) -> tuple[str, ...]:
        aliases = tuple(a for a in re.split(r"[\s,]+", self.cleaned_data["aliases"]) if a)
        for alias in aliases:
            if not ALIAS_RE.match(alias):
                raise forms.ValidationError(
                    f"“{alias}” is not a valid alias (a DNS name: letters, digits, _ . -)."
                )
        return aliases

    def clean_ipv4_address(self) -> str:
        value = _address(self.cleaned_data["ipv4_address"], "IPv4 address")
        if value and ipaddress.ip_address(value).version != 4:
            raise forms.ValidationError(f"“{value}” is not an IPv4 address.")
        return value


class DisconnectForm(forms.Form):
    container = forms.CharField(max_length=255)
    force = forms.BooleanField(required=False)

    def clean_container(self) -> str:
        ref = self.cleaned_data["container"].strip().lstrip("/")
        if not CONTAINER_REF_RE.match(ref):
            raise forms.ValidationError(f"“{ref}” is not a container name or id.")
        return ref
