"""What a restore archive may hold (core/engine/volumes.check_archive): checked before anything reaches
the engine, whose extraction follows links the archive itself made."""

from __future__ import annotations

import io
import tarfile

import pytest

from core.engine import volumes
from core.errors import InvalidInput


def archive(*members: tuple[str, str, str]) -> io.BytesIO:
    """(name, kind, data or link target) -> a tar in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.SYMTYPE
                info.linkname = value
                tar.addfile(info)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    "members",
    [
        [("esc", "link", "/"), ("esc/pwned.txt", "file", "x")],
        [("./esc", "link", "/etc"), ("./esc/sub/deeper.txt", "file", "x")],
        [("a", "dir", ""), ("a/up", "link", "../.."), ("a/up/x", "file", "x")],
        [("inside", "link", "real"), ("inside/x", "file", "x")],  # even to a folder of the volume
    ],
)
def test_a_member_under_a_link_the_archive_made_is_refused(members):
    with pytest.raises(InvalidInput, match="writes through a symbolic link"):
        volumes.check_archive(archive(*members))


def test_links_themselves_and_files_beside_them_are_fine():
    count = volumes.check_archive(
        archive(
            ("etc-link", "link", "/etc"),
            ("etc-linked.txt", "file", "x"),  # a sibling whose name starts like the link
            ("real", "dir", ""),
            ("real/x", "file", "x"),
            ("inside", "link", "real"),
        )
    )
    assert count == 5


def test_a_link_replaced_by_a_folder_is_a_folder_again():
    """The engine's extraction removes a link a later folder member replaces."""
    count = volumes.check_archive(archive(("d", "link", "/"), ("d", "dir", ""), ("d/x", "file", "x")))
    assert count == 3


def test_the_links_remembered_are_bounded(monkeypatch):
    monkeypatch.setattr(volumes, "MAX_ARCHIVE_LINKS", 3)
    with pytest.raises(InvalidInput, match="more than 3 symbolic links"):
        volumes.check_archive(archive(*((f"l{n}", "link", "x") for n in range(4))))
