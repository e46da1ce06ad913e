"""Forms of the stack pages: deploy (name, compose, env), edit/import (compose, env), down (volumes)."""

from __future__ import annotations

from typing import Any

from django import forms

from core.models import Stack
from core.stacks import MAX_COMPOSE, MAX_ENV, valid_name

NAME_HELP = "Lowercase letters, digits, - and _; starts with a letter or digit (at most 63)."


class _Files(forms.Form):
    compose = forms.CharField(
        label="Compose file (YAML)",
        max_length=MAX_COMPOSE,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "mono"}),
    )
    env = forms.CharField(
        label=".env",
        required=False,
        max_length=MAX_ENV,
        strip=False,
        help_text="KEY=value lines, used in the file as ${KEY}. Stored encrypted.",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"}),
    )

    def audit_parameters(self) -> dict[str, Any]:
        """What the audit trail keeps: sizes, never the text (a compose file may hold secrets)."""
        data = self.data
        return {
            "name": str(data.get("name", ""))[:100],
            "mode": str(data.get("mode", "") or "compose")[:10],
            "compose_bytes": len(str(data.get("compose", ""))),
            "env_lines": len([line for line in str(data.get("env", "")).splitlines() if line.strip()]),
        }


class StackForm(_Files):
    """A new stack: a compose project, or (on a swarm manager endpoint) a swarm stack."""

    name = forms.CharField(max_length=63, help_text=NAME_HELP)
    mode = forms.ChoiceField(
        choices=[
            (Stack.Mode.COMPOSE, "Compose project (compose up, on this engine)"),
            (Stack.Mode.SWARM, "Swarm stack (docker stack deploy, services on the swarm)"),
        ],
        required=False,
        initial=Stack.Mode.COMPOSE,
        widget=forms.RadioSelect,
    )
    field_order = ["name", "mode", "compose", "env"]

    def __init__(self, *args, swarm: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.swarm = swarm
        if not swarm:  # not a swarm manager: compose only, and the choice is not shown
            self.fields["mode"].widget = forms.HiddenInput()

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"] or Stack.Mode.COMPOSE
        if mode == Stack.Mode.SWARM and not self.swarm:
            raise forms.ValidationError(
                "This endpoint is not a swarm manager: swarm stacks cannot be deployed here."
            )
        return mode

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not valid_name(name):
            raise forms.ValidationError(f"“{name}” is not a valid stack name. {NAME_HELP}")
        return name


class EditForm(_Files):
    """A new version of a stack (edit, import): shown with its diff first, deployed on ``confirm``."""

    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class DownForm(forms.Form):
    volumes = forms.BooleanField(required=False, label="Also remove the stack's named volumes (data)")
