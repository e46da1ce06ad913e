"""The forms of the image actions (pull, push, build, load, import, tag): validation only.

Each checks its input against the one reference grammar (core.references) before anything reaches
the engine; a view re-renders the same form, input kept, with the errors (status 400).
"""

from __future__ import annotations

from django import forms

from core import references
from core.models import Registry

MAX_DOCKERFILE = 256 * 1024  # characters of a pasted Dockerfile
# Input bounds, generous on purpose: the grammar gives the precise reason ("at most 128 characters").
MAX_REFERENCE = 1024
MAX_NAME = 1024


def _grammar(check, value: str):
    """Run a core.references check; its refusal becomes the field's error."""
    try:
        return check(value)
    except references.BadReference as exc:
        raise forms.ValidationError(str(exc)) from None


class _Form(forms.Form):
    """Element ids ``<ids>-<field>`` (``pull-reference``, ``tag-repository``...) as the pages use."""

    ids = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.ids}-%s")
        super().__init__(*args, **kwargs)


class _RegistryChoice(_Form):
    """A reference and, optionally, a linked registry whose host it must name (credentials are only
    sent to their own registry). ``cleaned_data["reference"]`` is the full reference string."""

    reference = forms.CharField(max_length=MAX_REFERENCE, strip=True)
    registry = forms.ModelChoiceField(
        queryset=Registry.objects.all(), required=False, empty_label="none (anonymous)"
    )

    def clean(self) -> dict:
        data = super().clean()
        text, registry = data.get("reference"), data.get("registry")
        if text is None:
            return data
        try:
            ref = references.parse(text)
            if registry is not None and not ref.registry:
                ref = references.parse(f"{registry.host}/{text}")
        except references.BadReference as exc:
            self.add_error("reference", str(exc))
            return data
        if registry is not None and ref.registry != registry.host:
            self.add_error(
                "reference",
                f"The reference names the registry {ref.registry or 'Docker Hub'}, not the linked "
                f"{registry.host}; credentials are only sent to their own registry.",
            )
            return data
        data["reference"] = str(ref)
        return data

    def auth_config(self) -> dict | None:
        registry = self.cleaned_data.get("registry")
        return registry.auth_config() if registry is not None else None


class PullForm(_RegistryChoice):
    ids = "pull"
    reference = forms.CharField(
        max_length=MAX_REFERENCE,
        label="Image reference",
        widget=forms.TextInput(attrs={"placeholder": "registry.example.com:5000/team/app:1.0"}),
    )


class PushForm(_RegistryChoice):
    ids = "push"
    reference = forms.CharField(max_length=MAX_REFERENCE, label="Reference in a registry")


class BuildForm(_Form):
    ids = "build"
    tag = forms.CharField(
        max_length=MAX_REFERENCE,
        required=False,
        label="Tag (optional)",
        widget=forms.TextInput(attrs={"placeholder": "team/app:1.0"}),
    )
    context = forms.FileField(
        required=False, label="Context tarball (Dockerfile at its root; .tar or .tar.gz)"
    )
    dockerfile = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_DOCKERFILE,
        label="…or paste a Dockerfile",
        widget=forms.Textarea(attrs={"rows": 10, "placeholder": "FROM busybox\nRUN echo hello"}),
    )

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"]
        return str(_grammar(references.parse, tag)) if tag else ""

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("context") and not (data.get("dockerfile") or "").strip() and not self.errors:
            raise forms.ValidationError("Upload a context tarball or paste a Dockerfile.")
        return data


class LoadForm(_Form):
    ids = "load"
    archive = forms.FileField(label="Archive made by docker save (.tar)")


class ImportForm(_Form):
    ids = "import"
    archive = forms.FileField(label="Root filesystem tarball (.tar or .tar.gz)")
    repository = forms.CharField(max_length=MAX_NAME)
    tag = forms.CharField(max_length=MAX_NAME, required=False, initial="latest")
    message = forms.CharField(max_length=2000, required=False, label="Message (optional)")

    def clean_repository(self) -> str:
        repository = self.cleaned_data["repository"]
        _grammar(references.split_repository, repository)
        return repository

    def clean_tag(self) -> str:
        return _grammar(references.validate_tag, self.cleaned_data["tag"] or "latest")


class TagForm(_Form):
    ids = "tag"
    repository = forms.CharField(
        max_length=MAX_NAME,
        widget=forms.TextInput(attrs={"placeholder": "registry:5000/team/app"}),
    )
    tag = forms.CharField(max_length=MAX_NAME, required=False, initial="latest")

    def clean_repository(self) -> str:
        repository = self.cleaned_data["repository"]
        _grammar(references.split_repository, repository)
        return repository

    def clean_tag(self) -> str:
        return _grammar(references.validate_tag, self.cleaned_data["tag"] or "latest")
