"""The reference grammar (core.references): pure, no engine, no database."""

from __future__ import annotations

import pytest

from core import references
from core.references import BadReference, Reference

SHA = "sha256:" + "a" * 64

# reference -> (registry, path, tag, digest) as parsed with the default tag "latest"
VALID_REFERENCES = [
    ("nginx", ("", "nginx", "latest", "")),
    ("nginx:1.27", ("", "nginx", "1.27", "")),
    ("library/nginx", ("", "library/nginx", "latest", "")),
    ("me/app_x.y__z-w---v", ("", "me/app_x.y__z-w---v", "latest", "")),
    ("localhost/app", ("localhost", "app", "latest", "")),
    ("localhost:5000/a/b", ("localhost:5000", "a/b", "latest", "")),
    ("reg.example.com/team/app:1.0", ("reg.example.com", "team/app", "1.0", "")),
    ("reg:5000/app", ("reg:5000", "app", "latest", "")),
    ("[::1]:5000/app", ("[::1]:5000", "app", "latest", "")),
    (f"app@{SHA}", ("", "app", "", SHA)),
    (f"ghcr.io/o/app:v1@{SHA}", ("ghcr.io", "o/app", "v1", SHA)),
    ("app:" + "t" * 128, ("", "app", "t" * 128, "")),
    ("app:_x", ("", "app", "_x", "")),
    ("  padded:1  ", ("", "padded", "1", "")),
]

INVALID_REFERENCES = [
    "",
    "   ",
    "Nginx",
    "Upper/app",
    "app:",
    "app:-x",
    "app:.x",
    "app:" + "t" * 129,
    "app:t/x",
    "app@sha256:abc",
    "app@sha256:" + "A" * 64,
    "app@" + "a" * 64,
    "a//b",
    "a/",
    "/a",
    "a..b",
    "a-",
    "-a",
    "../etc",
    "app\nx",
    "app\x1b[31m",
    "reg_host.example.com/app",
    "a/" + "b" * 255,
    "ap p",
    "app:tag with space",
]


@pytest.mark.parametrize(("text", "parts"), VALID_REFERENCES)
def test_valid_reference_parses_into_its_parts(text: str, parts: tuple[str, str, str, str]) -> None:
    parsed = references.parse(text)
    assert (parsed.registry, parsed.path, parsed.tag, parsed.digest) == parts


@pytest.mark.parametrize("text", INVALID_REFERENCES)
def test_invalid_reference_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(BadReference, match=r"\w"):
        references.parse(text)


def test_reference_round_trips_through_str() -> None:
    assert str(references.parse(f"localhost:5000/a/b:v2@{SHA}")) == f"localhost:5000/a/b:v2@{SHA}"


def test_default_tag_can_be_left_out() -> None:
    assert references.parse("app", default_tag="").tag == ""


@pytest.mark.parametrize(
    ("component", "is_host"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("example.com", True),
        ("reg:5000", True),
        ("Upper", False),
        ("library", False),
        ("me", False),
        ("local", False),
    ],
)
def test_registry_host_is_told_from_a_path_component(component: str, is_host: bool) -> None:
    assert references.is_registry_host(component) is is_host


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("me/app:1", "docker.io/me/app:1"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("localhost:5000/nginx", "localhost:5000/nginx:latest"),
    ],
)
def test_normalized_spells_docker_hub_in_full(text: str, canonical: str) -> None:
    assert str(references.parse(text).normalized()) == canonical


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("docker.io/library/nginx:1", "nginx:1"),
        ("docker.io/me/app:1", "me/app:1"),
        ("localhost:5000/library/x:1", "localhost:5000/library/x:1"),
    ],
)
def test_familiar_is_the_short_spelling(text: str, short: str) -> None:
    assert str(references.parse(text).familiar()) == short


def test_repository_includes_the_registry_host() -> None:
    assert Reference(registry="localhost:5000", path="a/b").repository == "localhost:5000/a/b"


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "1", "_", "A-b.c_d", "x" * 128])
def test_valid_tags(tag: str) -> None:
    assert references.validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "x" * 129, "a:b", "a/b", "é", "a\n", "a b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(BadReference):
        references.validate_tag(tag)


@pytest.mark.parametrize(
    "digest",
    [
        SHA,
        "sha512:" + "0" * 128,
        "multihash+base58:" + "Q" * 40,
        "sha256+b64u:" + "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g",
    ],
)
def test_valid_digests(digest: str) -> None:
    assert references.validate_digest(digest) == digest


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 64,
        "SHA256:" + "a" * 64,
        ":abc",
    ],
)
def test_invalid_digests(digest: str) -> None:
    with pytest.raises(BadReference):
        references.validate_digest(digest)


@pytest.mark.parametrize("repository", ["a", "a/b/c", "a.b/c", "a__b", "a---b"])
def test_valid_registry_repository_paths(repository: str) -> None:
    assert references.validate_repository_path(repository) == repository


@pytest.mark.parametrize("repository", ["A", "a__", "a/../b", "..", "a///b", "a" * 256])
def test_invalid_registry_repository_paths(repository: str) -> None:
    with pytest.raises(BadReference):
        references.validate_repository_path(repository)


VALID_OBJECT_REFS = ["web", "my_app.1-x", "a1", "0abc", "f" * 64, "a", "3", "Web-Server"]
INVALID_OBJECT_REFS = [
    "",
    "..",
    ".",
    "-x",
    "_x",
    ".hidden",
    "a/b",
    "a b",
    "a\nb",
    "a\x1b",
    "a\x00",
    "x" * 256,
    "%2e%2e",
    "é",
]


@pytest.mark.parametrize("ref", VALID_OBJECT_REFS)
def test_valid_container_volume_network_refs(ref: str) -> None:
    assert references.validate_object_ref(ref) == ref


@pytest.mark.parametrize("ref", INVALID_OBJECT_REFS)
def test_invalid_container_volume_network_refs(ref: str) -> None:
    with pytest.raises(BadReference):
        references.validate_object_ref(ref)


@pytest.mark.parametrize(("name", "bare"), [("web", "web"), ("/web", "web"), ("a.b_c-d", "a.b_c-d")])
def test_new_object_name_drops_the_engine_slash(name: str, bare: str) -> None:
    assert references.validate_object_name(name) == bare


@pytest.mark.parametrize("name", ["a", "", "//web", "-web", "we b", "web\n"])
def test_invalid_new_object_names(name: str) -> None:
    with pytest.raises(BadReference):
        references.validate_object_name(name)


@pytest.mark.parametrize(
    ("text", "prefix"),
    [("abc123", "abc123"), (SHA, "a" * 64), ("sha256:0f", "0f"), ("nginx", None), ("ABC", None)],
)
def test_image_id_prefix(text: str, prefix: str | None) -> None:
    assert references.image_id_prefix(text) == prefix


def test_control_characters_are_named_visibly_in_the_message() -> None:
    with pytest.raises(BadReference, match=r"\\x1b"):
        references.validate_object_ref("a\x1b[2J")


@pytest.mark.parametrize(
    ("text", "has"), [("alice", False), ("al\nice", True), ("a\tb", True), ("a\x7f", True), ("é", False)]
)
def test_has_control_characters(text: str, has: bool) -> None:
    assert references.has_control_characters(text) is has


@pytest.mark.parametrize(
    ("text", "ok"), [("web", True), ("abc123", True), ("a", True), ("..", False), ("a/b", False)]
)
def test_is_object_ref(text: str, ok: bool) -> None:
    assert references.is_object_ref(text) is ok
