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
    with pytest.raises(InvalidInput, match="writes through or over a symbolic link"):
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


def test_a_link_the_archive_made_may_not_be_replaced_or_linked_to():
    """A folder over the link made the engine fail part-way; a hard link to a link is a link."""
    with pytest.raises(InvalidInput, match="over a symbolic link"):
        volumes.check_archive(archive(("d", "link", "/"), ("d", "dir", ""), ("d/x", "file", "x")))
    hard = io.BytesIO()
    with tarfile.open(fileobj=hard, mode="w") as tar:
        for name, kind, target in (("a", tarfile.SYMTYPE, "/"), ("h", tarfile.LNKTYPE, "a")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
        info = tarfile.TarInfo("h/x")
        tar.addfile(info, io.BytesIO(b""))
    hard.seek(0)
    with pytest.raises(InvalidInput, match="writes through or over a symbolic link"):
        volumes.check_archive(hard)


def test_what_the_engine_gets_is_the_archive_as_python_read_it():
    """One member with a PAX path and a GNU long name: Python reads one, Go (the engine) the other.
    The rewritten archive names each member once, as it was checked."""
    pax = tarfile.TarInfo._create_pax_generic_header({"path": "b/x"}, tarfile.XHDTYPE, "utf-8")
    gnu = tarfile.TarInfo._create_gnu_long_header("target/x", tarfile.GNUTYPE_LONGNAME, "utf-8", "strict")
    body = tarfile.TarInfo("short")
    body.size = 4
    raw = pax + gnu + body.tobuf(tarfile.USTAR_FORMAT) + b"data".ljust(512, b"\0") + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        (read_as,) = tar.getnames()
    rewritten = b"".join(volumes._rewritten(io.BytesIO(raw)))
    assert b"target/x" not in rewritten or read_as == "target/x"
    with tarfile.open(fileobj=io.BytesIO(rewritten)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [read_as]
        assert tar.extractfile(members[0]).read() == b"data"
    blocks = [rewritten[i : i + 512] for i in range(0, len(rewritten), 512)]
    assert not any(block[156:157] in (b"L", b"K") for block in blocks)  # no GNU long names


def test_the_rewritten_archive_holds_what_was_sent_in_pieces_of_bounded_size():
    big = "x" * (3 * volumes.ARCHIVE_CHUNK_BYTES + 17)
    source = archive(
        ("./dir/", "dir", ""),
        ("./dir//big.bin", "file", big),
        ("dir/link", "link", "big.bin"),
        ("small.txt", "file", "s"),
    )
    pieces = list(volumes._rewritten(source))
    assert max(len(p) for p in pieces) <= 2 * volumes.ARCHIVE_CHUNK_BYTES
    with tarfile.open(fileobj=io.BytesIO(b"".join(pieces))) as tar:
        got = {m.name: (m.type, tar.extractfile(m).read() if m.isfile() else m.linkname) for m in tar}
    assert got == {
        "dir": (tarfile.DIRTYPE, ""),
        "dir/big.bin": (tarfile.REGTYPE, big.encode()),
        "dir/link": (tarfile.SYMTYPE, "big.bin"),
        "small.txt": (tarfile.REGTYPE, b"s"),
    }


def test_the_links_remembered_are_bounded(monkeypatch):
    monkeypatch.setattr(volumes, "MAX_ARCHIVE_LINKS", 3)
    with pytest.raises(InvalidInput, match="more than 3 symbolic links"):
        volumes.check_archive(archive(*((f"l{n}", "link", "x") for n in range(4))))


def raw_member(name: bytes, kind: bytes = b"0", data: bytes = b"") -> bytes:
    """One ustar header block for ``name`` (any bytes), then its data."""
    info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
    info.type, info.size = kind, len(data)
    header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    return header + data + b"\0" * (-len(data) % 512)


@pytest.mark.parametrize(
    "raw",
    [
        raw_member(b"bad\xff/../x"),
        raw_member(b"dev\xff", tarfile.CHRTYPE),
        raw_member(b"l", tarfile.SYMTYPE) + raw_member(b"l/\xffx"),
    ],
)
def test_a_refusal_names_the_member_as_text_whatever_its_bytes(raw):
    """The raw name (surrogates) in the message made the audit record and the page fail: a 500."""
    with pytest.raises(InvalidInput) as refused:
        volumes.check_archive(io.BytesIO(raw + b"\0" * 1024))
    refused.value.message.encode("utf-8")  # a page and the audit log can hold it
    assert "\ufffd" in refused.value.message


def test_only_a_folder_may_stand_for_the_volumes_own_folder():
    with pytest.raises(InvalidInput, match="the volume's own folder"):
        volumes.check_archive(archive(("./", "link", "/")))
    assert volumes.check_archive(archive(("./", "dir", ""), ("x", "file", "x"))) == 2


def test_extended_attributes_and_exact_times_go_along_and_nothing_else():
    """A download carries file capabilities (SCHILY.xattr.security.capability): a restore of it must
    keep them, as the engine's own extraction of the upload did."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("bin/tool")
        info.size = 2
        info.pax_headers = {
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "SCHILY.xattr.user.note": "kept",
            "mtime": "1700000000.123456789",
            "comment": "dropped",
        }
        tar.addfile(info, io.BytesIO(b"hi"))
    buffer.seek(0)
    with tarfile.open(fileobj=io.BytesIO(b"".join(volumes._rewritten(buffer)))) as tar:
        (member,) = tar.getmembers()
    assert member.pax_headers["SCHILY.xattr.user.note"] == "kept"
    assert member.pax_headers["SCHILY.xattr.security.capability"] == "\x01\x00\x00\x02"
    assert member.pax_headers["mtime"] == "1700000000.123456789"
    assert "comment" not in member.pax_headers


def test_an_extended_header_too_big_for_a_name_is_refused_before_it_is_read(monkeypatch):
    """A 400 MB PAX record in a 407 KB .tar.gz took 1.3 GB to read (a review)."""
    monkeypatch.setattr(volumes, "MAX_TAR_EXTENSION", 4096)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "y" * 10_000}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidInput, match="extended header larger"):
        volumes.check_archive(buffer)


def test_members_read_are_not_held():
    many = archive(*((f"f{n}", "file", "") for n in range(2000)))
    with volumes._open_upload(many) as tar:
        held = max(len(tar.members) for _ in volumes._checked_members(tar, 10_000))
    assert held <= 1
