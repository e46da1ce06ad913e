"""Update detection's comparison and a container's spec from inspect: pure, no engine, no registry."""

from __future__ import annotations

from core.engine.containers import spec_from_inspect
from core.registry import DOCKER_MANIFEST, OCI_INDEX, ManifestHead
from core.updates import (
    AVAILABLE,
    CURRENT,
    UNKNOWN,
    Details,
    Remote,
    compare,
    pinned_or_invalid,
    registry_target,
)

INDEX_A, INDEX_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
PLATFORM = "sha256:" + "c" * 64


def _remote(digest: str, media_type: str) -> Remote:
    return Remote(ManifestHead(digest, media_type), checked_at=1.0)


def test_the_index_digest_served_and_recorded_locally_is_up_to_date():
    assert compare("r:t", (INDEX_A,), _remote(INDEX_A, OCI_INDEX)).state == CURRENT


def test_any_local_digest_matching_counts_not_only_the_first():
    assert compare("r:t", (PLATFORM, INDEX_A), _remote(INDEX_A, OCI_INDEX)).state == CURRENT


def test_a_new_single_platform_manifest_is_an_update():
    status = compare("r:t", (INDEX_A,), _remote(INDEX_B, DOCKER_MANIFEST))
    assert status.state == AVAILABLE
    assert status.remote_digest == INDEX_B


def test_a_new_index_is_an_update_when_the_local_digest_was_an_index():
    status = compare("r:t", (INDEX_A,), _remote(INDEX_B, OCI_INDEX), local_type=lambda d: OCI_INDEX)
    assert status.state == AVAILABLE


def test_a_platform_digest_against_an_index_is_unknown_not_outdated():
    status = compare("r:t", (PLATFORM,), _remote(INDEX_B, OCI_INDEX), local_type=lambda d: DOCKER_MANIFEST)
    assert status.state == UNKNOWN
    assert "platform" in status.why


def test_no_local_digest_is_unknown_never_up_to_date():
    status = compare("r:t", (), _remote(INDEX_A, OCI_INDEX))
    assert status.state == UNKNOWN
    assert "locally" in status.why


def test_an_unreachable_registry_is_unknown_with_why():
    status = compare("r:t", (INDEX_A,), Remote(None, error="the registry could not be asked: timeout"))
    assert (status.state, status.why) == (UNKNOWN, "the registry could not be asked: timeout")


def test_digest_pinned_and_id_references_are_not_checked():
    assert "pinned" in pinned_or_invalid(f"app@{INDEX_A}")
    assert pinned_or_invalid(INDEX_A)
    assert pinned_or_invalid("127.0.0.1:5000/app:v1") == ""


def test_docker_hub_references_go_to_its_registry_with_library():
    assert registry_target("busybox") == ("docker.io", "https://registry-1.docker.io", "library/busybox")
    assert registry_target("127.0.0.1:5000/team/app:v1") == (
        "127.0.0.1:5000",
        "https://127.0.0.1:5000",
        "team/app",
    )


def _inspect(**overrides) -> dict:
    raw = {
        "Id": "f" * 64,
        "Name": "/web",
        "Image": INDEX_A,
        "State": {"Running": True},
        "Config": {
            "Image": "app:1",
            "Cmd": ["serve"],
            "Env": ["PATH=/bin", "TOKEN=x"],
            "Labels": {"from.image": "1", "mine": "yes"},
            "Hostname": "f" * 12,
        },
        "HostConfig": {
            "NetworkMode": "front",
            "PortBindings": {
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "", "HostPort": ""}],
            },
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
            "Memory": 64 << 20,
            "NanoCpus": 500_000_000,
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        },
        "Mounts": [
            {"Type": "volume", "Name": "data", "Destination": "/data", "RW": True},
            {"Type": "volume", "Name": "e" * 64, "Destination": "/anon", "RW": True},
            {"Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": False},
        ],
        "NetworkSettings": {
            "Networks": {"front": {"Aliases": ["web-alias", "f" * 12]}, "back": {"Aliases": None}}
        },
    }
    raw.update(overrides)
    return raw


IMAGE = {"Config": {"Cmd": ["serve"], "Env": ["PATH=/bin"], "Labels": {"from.image": "1"}}}


def test_the_spec_leaves_out_the_image_defaults():
    spec = spec_from_inspect(_inspect(), IMAGE).spec
    assert spec.command == ()
    assert spec.env == (("TOKEN", "x"),)
    assert spec.labels == (("mine", "yes"),)


def test_the_spec_keeps_volumes_ports_networks_limits_and_logs():
    current = spec_from_inspect(_inspect(), IMAGE)
    spec = current.spec
    assert [(v.source, v.target, v.read_only) for v in spec.volumes] == [
        ("data", "/data", False),
        ("e" * 64, "/anon", False),
        ("/srv", "/srv", True),
    ]
    assert current.anonymous_volumes == ("e" * 64,)
    assert {(p.container_port, p.host_ip, p.host_port) for p in spec.ports} == {
        (80, "127.0.0.1", 8080),
        (53, "0.0.0.0", None),
    }
    assert [(n.name, n.aliases) for n in spec.networks] == [("back", ()), ("front", ("web-alias",))]
    assert (spec.restart, spec.restart_retries, spec.memory, spec.nano_cpus) == (
        "on-failure",
        2,
        64 << 20,
        500_000_000,
    )
    assert spec.log_options == (("max-size", "1m"),)
    assert current.unsupported == ()


def test_settings_the_form_cannot_carry_are_named():
    raw = _inspect()
    raw["HostConfig"]["Devices"] = [{"PathOnHost": "/dev/fuse"}]
    raw["HostConfig"]["Tmpfs"] = {"/run": ""}
    assert spec_from_inspect(raw, IMAGE).unsupported == ("Devices", "Tmpfs")


# --------------------------------------------------------------------------- the shared cache


def _shared_caches(monkeypatch, location: str):
    """Two cache clients of one store (as two server processes with one Redis), and a counting
    stand-in for the registry's HEAD."""
    import itertools

    from django.core.cache.backends.locmem import LocMemCache

    from core import updates

    asked: list[str] = []
    digests = itertools.count()

    def ask(reference, registries):
        asked.append(reference)
        return Remote(ManifestHead(f"sha256:{next(digests):064x}", DOCKER_MANIFEST), checked_at=1.0)

    monkeypatch.setattr(updates, "_ask", ask)
    first = updates._Cache(LocMemCache(location, {"OPTIONS": {"MAX_ENTRIES": 100}}))
    second = updates._Cache(LocMemCache(location, {"OPTIONS": {"MAX_ENTRIES": 100}}))
    return updates, first, second, asked


def _subjects(updates, n: int = 4):
    return [
        updates.Subject(f"c{i}", f"127.0.0.1:5000/app{i % 2}:v1", (f"127.0.0.1:5000/app{i % 2}@{INDEX_A}",))
        for i in range(n)
    ]


def test_one_process_s_answers_serve_the_other_within_the_ttl(monkeypatch, settings):
    settings.UPDATE_CHECK_TTL = 60
    updates, first, second, asked = _shared_caches(monkeypatch, "unit-shared-1")
    monkeypatch.setattr(updates, "cache", first)
    found_a = updates.statuses("ep", _subjects(updates))
    assert sorted(asked) == ["127.0.0.1:5000/app0:v1", "127.0.0.1:5000/app1:v1"]  # one per reference
    monkeypatch.setattr(updates, "cache", second)
    assert second.has_endpoint("ep")
    found_b = updates.statuses("ep", _subjects(updates))
    assert len(asked) == 2  # the other process asked nothing
    assert {k: s.remote_digest for k, s in found_b.items()} == {
        k: s.remote_digest for k, s in found_a.items()
    }


def test_an_expired_answer_is_asked_again_but_still_shown_to_pages(monkeypatch, settings):
    settings.UPDATE_CHECK_TTL = -1  # expired as soon as stored
    updates, first, _, asked = _shared_caches(monkeypatch, "unit-shared-2")
    monkeypatch.setattr(updates, "cache", first)
    updates.statuses("ep", _subjects(updates, 1))
    shown = updates.statuses("ep", _subjects(updates, 1), cached_only=True)
    assert shown["c0"].remote_digest == f"sha256:{0:064x}"
    assert len(asked) == 1
    updates.statuses("ep", _subjects(updates, 1))
    assert len(asked) == 2


def test_a_recheck_drops_the_answer_and_asks_once(monkeypatch, settings):
    settings.UPDATE_CHECK_TTL = 60
    updates, first, _, asked = _shared_caches(monkeypatch, "unit-shared-3")
    monkeypatch.setattr(updates, "cache", first)
    updates.statuses("ep", _subjects(updates, 1))
    updates.recheck("ep", "127.0.0.1:5000/app0:v1", registries=[])
    assert len(asked) == 2
    assert first.get("ep", "127.0.0.1:5000/app0:v1").head.digest == f"sha256:{1:064x}"
    updates.recheck("other-endpoint", "127.0.0.1:5000/app0:v1", registries=[])
    assert len(asked) == 2  # never checked there: no request of its own


def test_spellings_of_one_reference_share_one_entry():
    from core.updates import canonical

    assert (
        canonical("busybox") == canonical("docker.io/library/busybox:latest") == canonical("busybox:latest")
    )
    assert canonical("127.0.0.1:5000/app:v1") != canonical("127.0.0.1:5000/app:v2")


def test_details_read_for_a_digest_survive_a_recheck_that_finds_the_same_digest():
    from core.updates import _carry_details

    details = Details(INDEX_B, created="2026-12-01T10:00:00Z")
    old = Remote(ManifestHead(INDEX_B, DOCKER_MANIFEST), details=details)
    assert _carry_details(old, _remote(INDEX_B, DOCKER_MANIFEST)).details == details
    assert _carry_details(old, _remote(INDEX_A, DOCKER_MANIFEST)).details is None


def test_oci_labels_show_old_and_new_for_either_side():
    from core.updates import label_changes

    details = Details(INDEX_B, labels=(("org.opencontainers.image.version", "2"),))
    old = {"org.opencontainers.image.version": "1", "org.opencontainers.image.source": "https://x"}
    assert label_changes(details, old) == [("version", "1", "2"), ("source", "https://x", "")]
    assert label_changes(None, {}) == []


def test_the_pushed_time_is_the_config_s_created():
    assert Details(INDEX_B, created="2026-12-01T10:00:00.123456789Z").created_at.year == 2026
    assert Details(INDEX_B, created="yesterday").created_at is None


def test_the_details_come_from_the_engine_s_platform_entry():
    from core.registry import Descriptor, Platform
    from core.updates import _pick

    entries = [
        Descriptor(DOCKER_MANIFEST, INDEX_A, 1, Platform("linux", "arm", "v6")),
        Descriptor(DOCKER_MANIFEST, INDEX_B, 1, Platform("linux", "arm", "v7")),
        Descriptor(DOCKER_MANIFEST, PLATFORM, 1, Platform("linux", "amd64")),
    ]
    assert _pick(entries, "linux/arm/v7").digest == INDEX_B
    assert _pick(entries, "linux/amd64").digest == PLATFORM
    assert _pick(entries, "linux/s390x") is None


def test_docker_hub_details_are_not_read():
    from core.updates import read_details

    details = read_details("busybox:latest", INDEX_B, [], "linux/amd64")
    assert "Docker Hub" in details.error
