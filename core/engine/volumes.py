"""Volumes: list (with who uses each), inspect, create, remove, sizes, and the files inside one.

The list is TWO concurrent requests (``/volumes`` and ``/containers/json?all=1``, for "used by");
sizes come from ``/system/df``, which can take long on a big host (moby #17832), so they are a
separate call the page loads after the table.

Files are read WITHOUT running anything: a helper container that mounts the volume is created
(never started) and the engine's archive API reads through it; the helper is removed afterwards,
whatever happens. Its image is the dashboard's own image of one empty folder (made on the engine
when first needed), or ``settings.VOLUME_HELPER_IMAGE`` when set.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import IO, NoReturn, TypeVar

import docker
from django.conf import settings

from core.engine import snapshots
from core.engine._client import Engine, both, engine_call
from core.engine.streams import Body, open_body
from core.errors import Conflict, InvalidInput, NotFound
from core.policy import VolumeFacts

log = logging.getLogger(__name__)
T = TypeVar("T")

HELPER_LABEL = "org.dockerdashboard.helper"
HELPER_PREFIX = "dashboard-volume-helper-"
MOUNT_POINT = "/volume"
ARCHIVE_CHUNK_BYTES = 1 << 20
GO_MODE_DIR = 1 << 31  # Go's os.ModeDir, in the archive API's stat header
GO_MODE_SYMLINK = 1 << 27  # os.ModeSymlink
# The engine gzips archives for clients that accept it: ask for the plain tar (no engine CPU spent
# compressing, and a download is the .tar it says it is).
PLAIN = {"Accept-Encoding": "identity"}
LIST_MAX_ENTRIES = 2000  # direct children shown by the file browser
LIST_MAX_SCANNED = 50_000  # tar members read before the listing says it is incomplete
MAX_ARCHIVE_LINKS = 100_000  # symbolic links a restore archive may hold (their paths are remembered)


# --------------------------------------------------------------------------- data


def engine_time(text: str) -> datetime | None:
    """An engine's RFC 3339 time (``CreatedAt``, ``Created``) as a datetime; None when it is not one."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ContainerUse:
    """A container that mounts a volume or is attached to a network."""

    id: str
    name: str
    state: str
    image: str = ""
    read_only: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "restarting")


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    scope: str
    created: str
    mountpoint: str
    labels: dict[str, str] = field(hash=False)
    options: dict[str, str] = field(hash=False)
    used_by: tuple[ContainerUse, ...] = ()

    @property
    def in_use(self) -> bool:
        return bool(self.used_by)

    @property
    def anonymous(self) -> bool:
        """A volume the engine named (``docker run -v /data``): 64 hex characters."""
        return len(self.name) == 64 and all(c in "0123456789abcdef" for c in self.name)

    @property
    def created_at(self) -> datetime | None:
        return engine_time(self.created)


@dataclass(frozen=True)
class FileEntry:
    name: str
    kind: str  # file, dir, link, other
    size: int
    mode: str
    modified: datetime
    target: str = ""  # a link's target
    openable: bool = True  # False: a name no path here can ask for (not UTF-8, control characters)


@dataclass(frozen=True)
class Listing:
    path: str
    entries: tuple[FileEntry, ...]
    complete: bool  # False when the folder was larger than the browser reads


# --------------------------------------------------------------------------- helpers


def _users_by_volume(containers: list[dict]) -> dict[str, tuple[ContainerUse, ...]]:
    """Who uses which volume (by volume name; each volume's users by name)."""
    users: dict[str, list[ContainerUse]] = {}
    for raw in containers:
        names = raw.get("Names") or []
        name = names[0].lstrip("/") if names else raw.get("Id", "")[:12]
        for mount in raw.get("Mounts") or []:
            if mount.get("Type") != "volume" or not mount.get("Name"):
                continue
            users.setdefault(mount["Name"], []).append(
                ContainerUse(
                    id=str(raw.get("Id", "")),
                    name=name,
                    state=str(raw.get("State", "")),
                    image=str(raw.get("Image", "")),
                    read_only=not mount.get("RW", True),
                )
            )
    return {
        name: (uses[0],) if len(uses) == 1 else tuple(sorted(uses, key=_by_name))
        for name, uses in users.items()
    }


def _volume(raw: dict, users: Mapping[str, tuple[ContainerUse, ...]]) -> Volume:
    # Called for every volume of the list (1,000 on the bench host) before any filter, so it does
    # only what it must: the engine's JSON is read-only here (kept between pages, never copied), its
    # fields are strings or null, and its users come sorted (bench/profile_page.py: 2.1 -> 1.2 ms).
    name = raw.get("Name") or ""
    return Volume(
        name,
        raw.get("Driver") or "",
        raw.get("Scope") or "",
        raw.get("CreatedAt") or "",
        raw.get("Mountpoint") or "",
        raw.get("Labels") or {},
        raw.get("Options") or {},
        users.get(name, ()),
    )


def _by_name(use: ContainerUse) -> str:
    return use.name


# --------------------------------------------------------------------------- reads


def with_containers(api, first: Callable[[], T]) -> tuple[T, list[dict]]:
    """``first()`` and ``/containers/json?all=1`` at the same time (a list and who uses what): the
    page waits for the slower of the two, not for both in turn. Errors of either are raised here."""
    return both(first, lambda: api.containers(all=True))


@engine_call
def list_volumes(engine: Engine) -> list[Volume]:
    """``docker volume ls`` with who uses each volume, in two concurrent requests whatever the count;
    each kept between pages while the engine's event stream reports no change to it
    (core/engine/snapshots.py).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    return list(_read_volumes(engine))


# The list's two engine reads are kept apart, each dropped by its own events only: a container
# starting re-reads /containers/json (~1 ms with 1,000 volumes), not /volumes (~10 ms). What is kept
# of the containers is who uses which volume, not the whole list. ContainerUse.image is
# /containers/json's Image, which an image tag event can change.
VOLUME_EVENTS = ("volume", "plugin")
CONTAINER_EVENTS = ("container", "image")
# The last join per endpoint, by the identity of its two parts: served again while both parts are
# the same kept answers, so it is exactly as fresh as they are (a kept join of its own could hold a
# part past its own age limit). The next join reuses the rows that did not change (_rejoined).
_joins: dict[object, tuple[tuple, Mapping, tuple[Volume, ...]]] = {}
_joins_lock = threading.Lock()
MAX_JOINS = 16


def _read_volumes(engine: Engine) -> tuple[Volume, ...]:
    raw, users = both(
        lambda: snapshots.read_kept(
            engine,
            "volumes:raw",
            lambda: _engine_volumes(engine.api),
            keep=_all_local,
            depends=VOLUME_EVENTS,
            patch=lambda volumes, names: _patched_volumes(engine.api, volumes, names),
        ),
        lambda: snapshots.read_kept(
            engine, "volume-users", lambda: _engine_volume_users(engine.api), depends=CONTAINER_EVENTS
        ),
    )
    key = engine.ref.cache_key
    with _joins_lock:
        last = _joins.get(key)
    if last is not None and last[0] is raw and last[1] is users:
        return last[2]
    if last is None:
        volumes = tuple(_volume(v, users) for v in raw)
    else:
        volumes = _rejoined(raw, users, last)
    with _joins_lock:
        if len(_joins) >= MAX_JOINS:
            _joins.clear()
        _joins[key] = (raw, users, volumes)
    return volumes


def _rejoined(raw: tuple[dict, ...], users: Mapping, last: tuple[tuple, Mapping, tuple[Volume, ...]]):
    """``raw`` joined with ``users``, reusing the rows of the ``last`` join that did not change: a
    volume the same answer's dict (a mended /volumes shares the unnamed ones' dicts) with the same
    users (a container change touches a few volumes' users, not 1,000: 1.2 -> ~0.3 ms)."""
    joined = {id(v): row for v, row in zip(last[0], last[2], strict=True)}  # alive: held by ``last``
    same_users = last[1] is users
    rows = []
    for v in raw:
        row = joined.get(id(v))
        if row is None or not (same_users or row.used_by == users.get(row.name, ())):
            row = _volume(v, users)
        rows.append(row)
    return tuple(rows)


def _engine_volumes(api) -> tuple[dict, ...]:
    """``GET /volumes``: the raw list (read-only from here on: it may be kept)."""
    return tuple(api.volumes().get("Volumes") or ())


def _patched_volumes(api, volumes: tuple[dict, ...], changed: Mapping[str, bool]) -> tuple[dict, ...] | None:
    """A kept ``/volumes`` answer mended for the volumes ``changed`` names (created or removed since,
    by name: True when the engine said it is gone): gone ones left out, the others re-read one by
    one, as the engine shows them now; None when re-reading them would cost more than the whole
    list (~0.85 ms a volume, ~10 ms for 1,000)."""
    if sum(not gone for gone in changed.values()) > max(2, len(volumes) // 100):
        return None
    by_name = {v.get("Name"): v for v in volumes}
    for name in sorted(changed):
        if changed[name]:
            by_name.pop(name, None)
            continue
        try:
            by_name[name] = api.inspect_volume(name)
        except docker.errors.NotFound:
            by_name.pop(name, None)
    return tuple(by_name.values())


def _engine_volume_users(api) -> Mapping[str, tuple[ContainerUse, ...]]:
    """``GET /containers/json?all=1`` as who uses which volume (read-only: it may be kept)."""
    return MappingProxyType(_users_by_volume(api.containers(all=True)))


def _all_local(volumes: tuple[dict, ...]) -> bool:
    """Kept between pages only when every volume is the local driver's: a plugin's volumes may be
    made or removed elsewhere (another host of the same storage) without an event on this engine."""
    return all(v.get("Driver") == "local" for v in volumes)


@engine_call
def inspect_volume(engine: Engine, *, name: str) -> Volume:
    """One volume with the containers that mount it.

    Raises:
        NotFound: no such volume.
    """
    api = engine.api
    raw = api.inspect_volume(name)
    users = _users_by_volume(api.containers(all=True, filters={"volume": name}))
    return _volume(raw, users)


@engine_call
def volume_sizes(engine: Engine) -> dict[str, int]:
    """Bytes used by each local volume (``/system/df``; -1 where the engine does not know).

    Slow on big hosts: call it apart from the list.
    """
    from core.engine.system import _system_df

    sizes = {}
    for raw in _system_df(engine.api).get("Volumes") or []:
        usage = raw.get("UsageData") or {}
        size = usage.get("Size")
        sizes[str(raw.get("Name", ""))] = int(size) if isinstance(size, int) else -1
    return sizes


# --------------------------------------------------------------------------- changes


@engine_call
def create_volume(
    engine: Engine,
    *,
    name: str = "",
    driver: str = "local",
    driver_opts: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Volume:
    """``docker volume create``; an empty ``name`` lets the engine choose one.

    Raises:
        Conflict: a volume of that name exists with other options.
        InvalidInput: the engine refused the driver or options.
    """
    api = engine.api
    if name:
        try:
            api.inspect_volume(name)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
        else:  # the engine would silently return the existing volume: say so instead
            raise Conflict(f"A volume named “{name}” already exists.")
    raw = None
    try:
        raw = api.create_volume(
            name=name or None,
            driver=driver or "local",
            driver_opts=driver_opts or None,
            labels=labels or None,
        )
    finally:  # the list re-reads the one volume (or everything, when the engine was to name it)
        made = raw.get("Name") if isinstance(raw, dict) else name
        snapshots.invalidate(engine, "volume", made if isinstance(made, str) else None)
    return _volume(raw, {})


@engine_call
def remove_volume(engine: Engine, *, name: str, force: bool = False) -> None:
    """``docker volume rm [-f]``. A volume in use is refused, naming the containers.

    The engine refuses any volume a container references, running or not; ``force`` is
    ``docker volume rm -f`` (also remove when the volume driver reports an error), never "in use".

    Raises:
        Conflict: containers use the volume (their names are in the message).
        NotFound: no such volume.
    """
    users = _users_by_volume(engine.api.containers(all=True, filters={"volume": name})).get(name, [])
    if users:
        names = ", ".join(u.name for u in users)
        raise Conflict(f"Volume “{name}” is in use by {names}: remove or change those containers first.")
    try:
        engine.api.remove_volume(name, force=force)
    finally:  # the list re-reads it (a 404 leaves it out)
        snapshots.invalidate(engine, "volume", name)


# --------------------------------------------------------------------------- files


HELPER_IMAGE = "dashboard-volume-helper:1"  # bump the tag when its content changes
_helper_image_lock = threading.Lock()


def _helper_image(engine: Engine) -> str:
    """The image for a never-started helper container: ``VOLUME_HELPER_IMAGE`` when set and on the
    engine, else the dashboard's own (:func:`_own_helper_image`).

    Not the image of a container that uses the volume (as it once was): a review showed what that
    brings along. Its files were what a link in the volume reached (the engine resolves links
    within the helper's filesystem, and a path checked part by part can still be swapped for a link
    before the engine reads it); its own ``/volume`` was copied into an empty volume; its ``VOLUME``
    lines mounted other volumes inside the one read; a removed image left no helper at all."""
    api = engine.api
    configured = settings.VOLUME_HELPER_IMAGE
    if configured:
        try:
            return str(api.inspect_image(configured)["Id"])
        except docker.errors.NotFound:
            log.warning("VOLUME_HELPER_IMAGE %r is not on the engine: using %s", configured, HELPER_IMAGE)
    return _own_helper_image(api)


def _own_helper_image(api) -> str:
    """An image of one empty folder, ``/volume``, made on the engine the first time it is needed
    (``docker import``: nothing is pulled, an offline engine too) and labelled as the helpers are.
    A link in a volume leads nowhere in it but to the volume itself."""
    try:
        return str(api.inspect_image(HELPER_IMAGE)["Id"])
    except docker.errors.NotFound:
        pass
    with _helper_image_lock:  # one import per process (two would leave an untagged image behind)
        try:
            return str(api.inspect_image(HELPER_IMAGE)["Id"])
        except docker.errors.NotFound:
            pass
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            folder = tarfile.TarInfo(MOUNT_POINT.lstrip("/"))
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
        repository, tag = HELPER_IMAGE.rsplit(":", 1)
        api.import_image_from_data(
            buffer.getvalue(), repository=repository, tag=tag, changes=[f"LABEL {HELPER_LABEL}=image"]
        )
        made = str(api.inspect_image(HELPER_IMAGE)["Id"])
        # Another process importing at the same moment took the tag from one of the two: that one
        # is left untagged (each import is an image of its own). Not forced: one in use stays.
        for stray in api.images(filters={"dangling": True, "label": f"{HELPER_LABEL}=image"}):
            try:
                api.remove_image(stray["Id"])
            except docker.errors.APIError:
                pass
        return made


class _Helper:
    """A created, never started container that mounts one volume at /volume; removed on close."""

    def __init__(self, engine: Engine, volume: Volume, *, read_only: bool):
        api = engine.api
        self.api = api
        image = _helper_image(engine)
        # nocopy: the engine copies an image's folder into an empty volume mounted over it; the
        # helper only reads (or restores) what the volume holds.
        config = api.create_host_config(
            binds={volume.name: {"bind": MOUNT_POINT, "mode": "ro,nocopy" if read_only else "rw,nocopy"}},
            network_mode="none",
        )
        try:
            try:
                created = self._create(image, config)
            except docker.errors.ImageNotFound:  # removed since it was looked up (an image prune)
                created = self._create(_helper_image(engine), config)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:  # its text names host paths: in the log only
            log.warning("volume helper for %r (image %s) not created: %s", volume.name, image, exc)
            raise InvalidInput(
                f"The engine could not create the helper container that reads volume “{volume.name}” "
                f"(image {image[:19]}): see the dashboard's log."
            ) from None
        self.id = created["Id"]

    def _create(self, image: str, config: dict) -> dict:
        return self.api.create_container(
            image,
            command=["true"],
            entrypoint=[],
            name=f"{HELPER_PREFIX}{secrets.token_hex(6)}",
            labels={HELPER_LABEL: "volume"},
            host_config=config,
            network_disabled=True,
        )

    def close(self) -> None:
        try:
            # v: the anonymous volumes an image's VOLUME lines made for the helper go with it; the
            # volume it mounts by name stays (the engine removes only unnamed ones).
            self.api.remove_container(self.id, force=True, v=True)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                raise


class NotAFolder(InvalidInput):
    """The files page was asked for a file: ``path`` and its ``size``, to offer its download."""

    def __init__(self, path: str, size: int):
        super().__init__(f"“{path}” is a file, not a folder: download it instead.")
        self.path = path
        self.size = size


class LinkInVolume(InvalidInput):
    """A path went through a link whose target is in the volume (``target``: that path in it)."""

    def __init__(self, message: str, target: str):
        super().__init__(message)
        self.target = target


def clean_path(path: str) -> str:
    """A path inside the volume, normalised: '/' for the root; refuses '..' and NUL.

    Raises:
        InvalidInput: the path escapes the volume or is not a path.
    """
    raw = (path or "/").replace("\\", "/")
    if "\0" in raw or any(ord(c) < 32 for c in raw):
        raise InvalidInput("That path contains control characters.")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput("A path inside a volume may not contain “..”.")
    if len(raw) > 4096:
        raise InvalidInput("That path is too long.")
    return "/" + "/".join(parts)


def _kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.isfile():
        return "file"
    if member.issym() or member.islnk():
        return "link"
    return "other"


class _ResponseReader:
    """A file-like view of a streamed engine response for ``tarfile`` in stream mode."""

    def __init__(self, response):
        self.raw = response.raw

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size if size and size > 0 else ARCHIVE_CHUNK_BYTES)


@engine_call
def list_files(engine: Engine, *, name: str, path: str = "/", volume: Volume | None = None) -> Listing:
    """The direct children of ``path`` in volume ``name`` (name, kind, size, mode, modified).

    Reads the folder's tar stream through a never-started helper container; stops after
    ``LIST_MAX_SCANNED`` members (the listing then says it is incomplete). ``volume``: the volume
    as the caller just inspected it (else it is inspected here).

    Raises:
        NotFound: no such volume, or no such path in it.
        InvalidInput: bad path, a file instead of a folder, or no image to read through.
    """
    path = clean_path(path)
    if volume is None or volume.name != name:
        volume = inspect_volume(engine, name=name)
    helper = _Helper(engine, volume, read_only=True)
    try:
        api = engine.api
        info = _through_no_links(api, helper.id, path, last=True)
        if not int(info.get("mode", 0)) & GO_MODE_DIR:
            raise NotAFolder(path, int(info.get("size") or 0))
        response = api._get(
            api._url("/containers/{0}/archive", helper.id),
            params={"path": MOUNT_POINT + path.rstrip("/") + "/."},
            headers=PLAIN,
            stream=True,
        )
        if response.status_code == 404:
            response.close()
            raise NotFound(f"There is no folder “{path}” in volume “{name}”.")
        if response.status_code >= 400:
            with response:
                _unreadable(path, response.status_code, response.text)
        entries: list[FileEntry] = []
        complete = True
        try:
            with tarfile.open(fileobj=_ResponseReader(response), mode="r|") as archive:
                for scanned, member in enumerate(archive):
                    if scanned >= LIST_MAX_SCANNED or len(entries) >= LIST_MAX_ENTRIES:
                        complete = False
                        break
                    parts = [p for p in member.name.split("/") if p not in ("", ".")]
                    if len(parts) != 1:
                        continue  # the folder itself, or deeper
                    shown = _readable(parts[0])
                    entries.append(
                        FileEntry(
                            name=shown,
                            kind=_kind(member),
                            size=member.size if member.isfile() else 0,
                            mode=stat.filemode(member.mode | _type_bits(member)),
                            modified=datetime.fromtimestamp(member.mtime).astimezone(),
                            target=_readable(member.linkname) if member.issym() else "",
                            openable=shown == parts[0] and not any(ord(c) < 32 for c in shown),
                        )
                    )
        except tarfile.ReadError as exc:
            if "empty" not in str(exc):
                raise InvalidInput(f"“{path}” is not a folder.") from exc
        finally:
            response.close()
        entries.sort(key=lambda e: (e.kind != "dir", e.name.lower()))
        return Listing(path=path, entries=tuple(entries), complete=complete)
    finally:
        helper.close()


def _readable(name: str) -> str:
    """A name from a tar as text a page can hold: bytes that are not UTF-8 (tarfile keeps them as
    surrogates, which no page or URL can encode) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _type_bits(member: tarfile.TarInfo) -> int:
    if member.isdir():
        return stat.S_IFDIR
    if member.issym():
        return stat.S_IFLNK
    return stat.S_IFREG if member.isfile() else 0


def _unreadable(path: str, status: int, said: str) -> NoReturn:
    """An archive read the engine refused: a fixed text (the engine's names the host's overlay
    paths), what it said in the log."""
    log.info("volume archive read of %r refused (%s): %s", path, status, said[:500])
    raise InvalidInput(
        f"“{path}” cannot be read in this volume: a link that leads nowhere, or a file where a folder "
        "was expected."
    )


def _stat(api, container_id: str, path: str) -> dict:
    """The archive API's stat of ``path`` in the volume (a last part that is a link: the link itself):
    ``name``, ``size``, ``mode`` (Go's FileMode bits), ``linkTarget`` (a link's target, resolved)."""
    if path == "/":
        return {"mode": GO_MODE_DIR}
    response = api.head(  # docker-py has no HEAD helper: its session's, with its timeout
        api._url("/containers/{0}/archive", container_id),
        params={"path": MOUNT_POINT + path},
        timeout=api.timeout,
    )
    if response.status_code == 404:
        raise NotFound(f"There is no “{path}” in this volume.")
    if response.status_code >= 400:
        _unreadable(path, response.status_code, response.text)
    header = response.headers.get("X-Docker-Container-Path-Stat", "")
    try:
        info = json.loads(base64.b64decode(header)) if header else {}
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise InvalidInput(f"The engine's description of “{path}” could not be read.")
    return info


def _through_no_links(api, container_id: str, path: str, *, last: bool, follow_inside: bool = False) -> dict:
    """The stat of ``path`` (when ``last``, else of its folder), each part of which was checked from
    the top: a part that is a symbolic link (the last one too when ``last``) is refused. The engine
    follows links (within the helper's filesystem, which is an image's: a link to / would list and
    send that image's files), and the text of a path cannot tell. A last part that is a link is
    archived as the link itself. A link whose target is in the volume is followed when
    ``follow_inside``, else refused with that target (:class:`LinkInVolume`: the page goes there)."""
    info: dict = {"mode": GO_MODE_DIR}
    parts = [p for p in path.split("/") if p]
    walked = ""
    for part in parts if last else parts[:-1]:
        walked += "/" + part
        info = _stat(api, container_id, walked)
        if not int(info.get("mode", 0)) & GO_MODE_SYMLINK:
            continue
        target = str(info.get("linkTarget") or "")
        if target == MOUNT_POINT or target.startswith(MOUNT_POINT + "/"):
            if follow_inside:  # resolved inside the volume; the parts after it are checked in turn
                continue
            inside = (target[len(MOUNT_POINT) :] or "/").rstrip("/") + path[len(walked) :]
            raise LinkInVolume(
                f"“{walked}” is a link to “{target[len(MOUNT_POINT) :] or '/'}” in this volume: that is what "
                "is shown.",
                inside or "/",
            )
        raise InvalidInput(f"“{walked}” is a link that points outside the volume: it is not followed.")
    return info


class ArchiveStream:
    """The chunks of an archive download. ``close()`` may come from any thread (the event loop
    included): it only shuts the engine connection, which wakes a blocked read; the helper container
    is removed by a short thread once reading stops (or never began)."""

    def __init__(self, engine: Engine, body: Body, helper: _Helper):
        self._engine = engine
        self._body = body
        self._helper = helper
        self._lock = threading.Lock()
        self._started = False
        self._removed = False

    def __iter__(self) -> Iterator[bytes]:
        with self._lock:
            self._started = True
        try:
            with self._engine.translated():
                read = self._body.read
                pieces: list[bytes] = []
                held = 0
                while data := read():
                    pieces.append(data)
                    held += len(data)
                    if held >= ARCHIVE_CHUNK_BYTES:  # 1 MiB hand-overs: fewer event-loop wake-ups
                        yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                        pieces, held = [], 0
                if pieces:
                    yield b"".join(pieces)
        finally:
            self._body.close()
            # Off the download's path: the body ends with its last byte, not after the removal
            # (~50-100 ms of engine time per helper).
            threading.Thread(target=self._remove_helper, name="volume-helper-remove", daemon=True).start()

    def _remove_helper(self) -> None:
        with self._lock:
            if self._removed:
                return
            self._removed = True
        try:
            self._helper.close()
        except Exception:  # the engine went away: sweep_helpers() finds it later
            log.warning("could not remove volume helper %s", self._helper.id[:12], exc_info=True)

    def close(self) -> None:
        with self._lock:
            started = self._started
        if started:
            self._body.shutdown()  # the reading thread closes it and removes the helper
            return
        self._body.close()
        threading.Thread(target=self._remove_helper, name="volume-helper-remove", daemon=True).start()


@engine_call
def download(
    engine: Engine, *, name: str, path: str = "/", volume: Volume | None = None
) -> tuple[str, ArchiveStream]:
    """A file or folder of the volume as a tar stream: ``(file name, chunks)``.

    The helper container lives until the returned generator is closed or exhausted. ``volume``: the
    volume as the caller just inspected it (else it is inspected here).

    Raises:
        NotFound: no such volume or path.
    """
    path = clean_path(path)
    if volume is None or volume.name != name:
        volume = inspect_volume(engine, name=name)
    helper = _Helper(engine, volume, read_only=True)
    try:
        api = engine.api
        _through_no_links(api, helper.id, path, last=False, follow_inside=True)  # a last link: the link
        source = MOUNT_POINT + path if path != "/" else MOUNT_POINT + "/."
        try:
            url = api._url("/containers/{0}/archive", helper.id)
            body = open_body(api, url, {"path": source}, size=ARCHIVE_CHUNK_BYTES)
        except docker.errors.NotFound:
            raise NotFound(f"There is no “{path}” in volume “{name}”.") from None
        except docker.errors.APIError as exc:
            _unreadable(path, exc.status_code or 0, str(exc))
    except BaseException:
        helper.close()
        raise
    base = path.rstrip("/").rsplit("/", 1)[-1] or name
    return f"{base}.tar", ArchiveStream(engine, body, helper)


@engine_call
def restore(engine: Engine, *, name: str, archive: IO[bytes]) -> int:
    """Extract a tar archive into the root of volume ``name`` (existing files are overwritten);
    the number of entries. The archive is checked first (:func:`check_archive`), then written again
    as it was read (:func:`_rewritten`) and streamed to the engine, never read into memory.

    Raises:
        NotFound: no such volume.
        InvalidInput: not a plain tar of relative paths, or the engine could not extract it.
    """
    members = check_archive(archive)
    volume = inspect_volume(engine, name=name)
    helper = _Helper(engine, volume, read_only=False)
    try:
        api = engine.api
        response = api._put(
            api._url("/containers/{0}/archive", helper.id),
            params={"path": MOUNT_POINT, "noOverwriteDirNonDir": "true"},
            data=_rewritten(archive),
            headers={"Content-Type": "application/x-tar"},
            timeout=None,
        )
        api._raise_for_status(response)
    finally:
        helper.close()
    return members


def check_archive(archive: IO[bytes], *, max_members: int = 1_000_000) -> int:
    """Refuse what is not a plain tar of relative paths; the number of members.

    Raises:
        InvalidInput: not a tar, absolute or ``..`` paths, device files, a member at or under a
            symbolic link an earlier member made (the engine would write where the link points),
            too many members or links.
    """
    count = 0
    try:
        with _open_upload(archive) as tar:
            for _ in _checked_members(tar, max_members):
                count += 1
    except tarfile.TarError as exc:
        raise InvalidInput("That file is not a tar archive.") from exc
    if count == 0:
        raise InvalidInput("That archive is empty.")
    archive.seek(0)
    return count


class _BoundedTarInfo(tarfile.TarInfo):
    """A member whose extended header (PAX record, GNU long name) is over ``MAX_TAR_EXTENSION`` is
    refused before tarfile reads it whole into memory (a 400 MB PAX record in a 407 KB .tar.gz took
    1.3 GB)."""

    def _proc_member(self, tarfile_):  # tarfile's own hook, called for each header it reads
        if self.type in _EXTENSIONS and self.size > MAX_TAR_EXTENSION:
            raise InvalidInput("The archive has an extended header larger than a name or attribute needs.")
        return super()._proc_member(tarfile_)


_EXTENSIONS = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
MAX_TAR_EXTENSION = 1 << 20


def _open_upload(archive: IO[bytes]) -> tarfile.TarFile:
    archive.seek(0)
    return tarfile.open(fileobj=archive, mode="r|*", tarinfo=_BoundedTarInfo)


def _checked_members(
    tar: tarfile.TarFile, max_members: int
) -> Iterator[tuple[tuple[str, ...], tarfile.TarInfo]]:
    """Each member of ``tar`` as ``(its path's parts, member)``, refused as :func:`check_archive` says.
    Messages carry names as text (an archive's names may be any bytes)."""
    links: set[tuple[str, ...]] = set()  # the symbolic links the archive made so far, by path
    for count, member in enumerate(tar, 1):
        tar.members.clear()  # a stream: nothing looks back (1,000,000 members held took 530 MB)
        shown = _readable(member.name)
        if count > max_members:
            raise InvalidInput(f"The archive has more than {max_members} entries.")
        path = _member_path(member.name, shown)
        if member.ischr() or member.isblk() or member.isfifo():
            raise InvalidInput(f"The archive contains a device or pipe: “{shown}”.")
        if not path and not member.isdir():
            raise InvalidInput(
                f"The archive replaces the volume's own folder with something else: “{shown}”."
            )
        if links and any(path[:end] in links for end in range(1, len(path) + 1)):
            raise InvalidInput(f"The archive writes through or over a symbolic link it made: “{shown}”.")
        linked = False
        if member.islnk():  # a hard link to a link is a link: what comes under it goes where that one points
            target = _member_path(member.linkname, shown, hard=True)
            linked = any(target[:end] in links for end in range(1, len(target) + 1))
        if member.issym() or linked:
            if len(links) >= MAX_ARCHIVE_LINKS:
                raise InvalidInput(f"The archive has more than {MAX_ARCHIVE_LINKS} symbolic links.")
            links.add(path)
        yield path, member


def _member_path(name: str, shown: str, *, hard: bool = False) -> tuple[str, ...]:
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        kind = "a hard link outside the volume" if hard else "a path outside the volume"
        raise InvalidInput(f"The archive contains {kind}: “{shown}”.")
    return tuple(p for p in parts if p not in ("", "."))


def _rewritten(archive: IO[bytes], *, max_members: int = 1_000_000) -> Iterator[bytes]:
    """The checked archive written again by Python, member by member (in ~1 MiB pieces): the engine
    extracts exactly what :func:`check_archive` read. Readers differ: with a PAX path and a GNU long
    name on one member, Python's tarfile reads one and Go's (the engine's) the other; a review got a
    member checked as ``b/x`` written through a link as ``target/x``. Names and link names go out
    normalised, in PAX format; of the member's extended headers only its extended attributes and
    exact time go along (each header is at most MAX_TAR_EXTENSION)."""
    held = bytearray()
    with _open_upload(archive) as tar:
        for path, member in _checked_members(tar, max_members):
            info = tarfile.TarInfo("/".join(path) or ".")
            info.mode, info.mtime = member.mode, member.mtime
            # Kept as they came: extended attributes (file capabilities: a download carries them)
            # and the exact time; nothing else of the member's own extended headers.
            info.pax_headers = {
                key: value
                for key, value in member.pax_headers.items()
                if key.startswith("SCHILY.xattr.") or key == "mtime"
            }
            info.uid, info.gid, info.uname, info.gname = member.uid, member.gid, member.uname, member.gname
            if member.isdir():
                info.type = tarfile.DIRTYPE
            elif member.issym():
                info.type, info.linkname = tarfile.SYMTYPE, member.linkname
            elif member.islnk():
                info.type = tarfile.LNKTYPE
                info.linkname = "/".join(_member_path(member.linkname, member.name, hard=True))
            else:  # a regular file (contiguous and sparse ones included: read back whole)
                info.type, info.size = tarfile.REGTYPE, member.size
            held += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if info.size:
                source = tar.extractfile(member)
                left = info.size
                while left:
                    data = source.read(min(ARCHIVE_CHUNK_BYTES, left))
                    if not data:
                        raise InvalidInput(f"The archive ends inside “{member.name}”.")
                    held += data
                    left -= len(data)
                    if len(held) >= ARCHIVE_CHUNK_BYTES:
                        yield bytes(held)
                        held.clear()
                held += b"\0" * (-info.size % tarfile.BLOCKSIZE)
            if len(held) >= ARCHIVE_CHUNK_BYTES:
                yield bytes(held)
                held.clear()
    held += b"\0" * (2 * tarfile.BLOCKSIZE)
    yield bytes(held)


@engine_call
def sweep_helpers(engine: Engine, *, older_than: float = 3600) -> int:
    """Remove helper containers a crashed process left behind (never started; older than
    ``older_than`` seconds, so a download still running elsewhere keeps its helper)."""
    api = engine.api
    cutoff = time.time() - older_than
    helpers = api.containers(all=True, filters={"label": f"{HELPER_LABEL}=volume"})
    stale = [raw for raw in helpers if int(raw.get("Created") or 0) < cutoff]
    for raw in stale:
        try:
            api.remove_container(raw["Id"], force=True, v=True)  # as _Helper.close
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
    return len(stale)


@engine_call
def volume_facts(engine: Engine, *, name: str) -> VolumeFacts | None:
    """``docker volume inspect`` plus the containers mounting it, or None when it does not exist.

    Args:
        name: the volume's name.

    Returns:
        A :class:`core.policy.VolumeFacts`, or None (a mount of that name would create it).

    Raises:
        EngineUnavailable: the engine does not answer.
    """
    api = engine.api
    try:
        raw = api.inspect_volume(name)
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise
    users = api.containers(all=True, filters={"volume": raw.get("Name") or name})
    return VolumeFacts(
        name=str(raw.get("Name") or name),
        driver=str(raw.get("Driver") or "local"),
        options=tuple(sorted((str(k), str(v)) for k, v in (raw.get("Options") or {}).items())),
        used_by=tuple(sorted(str((c.get("Names") or ["?"])[0]).lstrip("/") for c in users)),
    )
