"""The intake gate: decide what a received file is before any spreadsheet parser sees it.

Files sent by communes and districts are untrusted. ``inspect`` reads the file's bytes
once (bounded by ``Limits.max_bytes``), sniffs magic bytes, checks ZIP containers using
the central directory only (``ZipInfo`` sizes, nothing inflated) and CFB/OLE containers
by their stream names, and either returns a ``FileInfo`` for a workbook the readers can
open (.xlsx, .xlsm, .xls, .ods) or raises ``UnreadableFile`` with a stable ``code`` and a
Vietnamese one-line ``message`` that names the file and tells the clerk what to do.

Macros and external links are reported, never run or followed. Every XML part this
module parses goes through ``safe_xml`` (lxml without entities, network or DTD loading, DTDs
refused, bounded read; large OpenDocument content is streamed through defusedxml).
Nothing here writes to the inspected file.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, NoReturn
from xml.etree.ElementTree import Element, ParseError

from zlib_ng import zlib_ng

from xhht_xl import messages
from xhht_xl.ooxml import col_letter

MB = 1024 * 1024

WORKBOOK_KINDS = ("xlsx", "xlsm", "xls", "ods")

# Magic bytes.
_ZIP = b"PK\x03\x04"
_ZIP_EMPTY = b"PK\x05\x06"
_ZIP_SPANNED = b"PK\x07\x08"
_CFB = bytes.fromhex("D0CF11E0A1B11AE1")
_PDF = b"%PDF-"
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")
_IMAGES = (_PNG, _JPEG, *_GIFS, b"BM", b"II*\x00", b"MM\x00*", b"RIFF")  # BMP, TIFF, WebP
_ARCHIVES = (b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")  # RAR, 7z, gzip
# BIFF2-BIFF8 BOF record types of a bare (not CFB-wrapped) Excel 2.x-4.x file.
_BARE_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04")

# OOXML / ODF vocabulary.
_NS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_NS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_NS_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
_NS_XLINK = "http://www.w3.org/1999/xlink"
_ODF_SPREADSHEET = "application/vnd.oasis.opendocument.spreadsheet"
_MACRO_CT = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_TEMPLATE_CTS = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "application/vnd.ms-excel.addin.macroEnabled.main+xml",
)

# BIFF record types used to spot a password-protected .xls.
_BIFF_FILEPASS = 0x002F
_BIFF_BOUNDSHEET = 0x0085


@dataclass(frozen=True)
class Limits:
    """Bounds applied to a received file before anything parses it."""

    max_bytes: int = 20 * MB  # size of the file on disk
    max_members: int = 2_000  # entries in a ZIP container
    max_unzipped: int = 200 * MB  # sum of the declared uncompressed sizes
    max_ratio: float = 200.0  # uncompressed / compressed, per member
    ratio_floor: int = 1 * MB  # the ratio is only checked for members inflating beyond this
    max_xml_bytes: int = 64 * MB  # one XML part parsed by this module
    head_bytes: int = 4096  # bytes of each XML part scanned for a DTD


class UnreadableFile(Exception):
    """A received file that must not (or cannot) be read as a workbook.

    ``code`` is a stable English id (also the key of the message in
    ``messages/safety.toml``), ``file`` the path as given, ``message`` the Vietnamese
    one-liner naming the file by its base name; ``str(exc)`` is the message.
    """

    def __init__(self, code: str, file: str | Path, **values: object) -> None:
        self.code = code
        self.file = str(file)
        self.values = values
        self.message = messages.text(f"safety.{code}", file=_display_name(file), **values)
        super().__init__(self.message)

    def __reduce__(self):  # keep the exception picklable across worker processes
        return (_rebuild_unreadable, (self.code, self.file, self.values))


def _rebuild_unreadable(code: str, file: str, values: dict) -> UnreadableFile:
    return UnreadableFile(code, file, **values)


@dataclass(frozen=True)
class FileInfo:
    """What ``inspect`` learnt about a workbook the readers may open."""

    path: Path
    kind: str  # "xlsx" | "xlsm" | "xls" | "ods"
    size: int
    sha256: str
    has_macros: bool = False
    external_links: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sheet_parts: dict[str, str] = field(default_factory=dict)  # .xlsx/.xlsm: sheet name -> zip part
    non_utf8: list[str] = field(default_factory=list)  # .xlsx/.xlsm: XML parts in another encoding
    # .xlsx/.xlsm: {workbook part: its bytes up to </sheets>, closed}, as inspect parsed them: what
    # python-calamine is given of that part (its cells need nothing further; the hundreds of defined
    # names that follow took 60 % of its open)
    workbook_head: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    data: bytes = field(default=b"", repr=False, compare=False)  # the bytes that were inspected
    # the package over ``data``, left open for the reader (ZIP formats), so it is parsed once
    zip: zipfile.ZipFile | None = field(default=None, repr=False, compare=False)


def _display_name(file: str | Path | None) -> str:
    if file is None:
        return "?"
    name = Path(str(file)).name
    return name or str(file)


# --------------------------------------------------------------------------- defusedxml


@cache
def require_defusedxml() -> None:
    """Fail loudly unless XML parsing is protected by defusedxml, also inside openpyxl.

    openpyxl switches to defusedxml only when it is importable and the environment
    variable ``OPENPYXL_DEFUSEDXML`` is not set to something other than ``True``; without
    it an entity-expansion bomb loads silently. Cached once it has succeeded.
    """
    try:
        import defusedxml.ElementTree  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "defusedxml is not installed: received workbooks cannot be read safely "
            "(install the 'defusedxml' package)"
        ) from exc
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise RuntimeError(
            "openpyxl is not using defusedxml (openpyxl.DEFUSEDXML is False; is "
            "OPENPYXL_DEFUSEDXML set to something other than 'True'?): received "
            "workbooks cannot be read safely"
        )


# --------------------------------------------------------------------------- XML parts


def read_member(zf: zipfile.ZipFile, member: str | zipfile.ZipInfo, max_bytes: int, file: str) -> bytes:
    """Inflate at most ``max_bytes`` of one member; more than that is ``part-too-big``, damaged
    data ``zip-corrupt`` (``UnreadableFile``); a missing member raises ``KeyError``.

    A sound member of a package held in memory (``inspect``'s) is inflated straight from its
    bytes (:func:`_inflated`); anything unusual about it goes through ``zipfile``, which then
    decides, so both ways give the same bytes or the same error."""
    info = member if isinstance(member, zipfile.ZipInfo) else zf.getinfo(member)  # KeyError if missing
    data = _inflated(zf, info, max_bytes)
    if data is not None:
        return data
    try:
        with zf.open(info) as fh:
            data = fh.read(max_bytes + 1)
    except KeyError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError):
        # RuntimeError: an encrypted member; the rest: damaged data or CRC mismatch.
        raise UnreadableFile("zip-corrupt", file) from None
    if len(data) > max_bytes:
        raise UnreadableFile("part-too-big", file)
    return data


# General purpose flags of a member the in-memory path inflates: deflate options (bits 1-2), sizes in
# a data descriptor (bit 3, the central directory has them too), UTF-8 name (bit 11). Any other
# (encryption, patched data...) goes through ``zipfile``.
_PLAIN_FLAGS = 0x2 | 0x4 | 0x8 | 0x800


def member_body(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, strict: bool = True) -> memoryview | None:
    """A member's stored or compressed bytes, straight from the package's bytes in memory
    (``inspect``'s), after the checks ``ZipExtFile`` makes of its local header (signature, name,
    length); None when the package is not in memory or anything is unusual about the member (an
    encrypted or patched one, another method, a local header that disagrees). The caller releases
    the view (``with``).

    ``strict=False`` (``ooxml.rebuild``'s copy): the bytes python-calamine would read from the
    package itself, whatever the flags and the local header's name say (only its signature and the
    length are checked); a member nobody reads must not stop the file, nor be inflated to be copied."""
    getbuffer = getattr(zf.fp, "getbuffer", None)
    if (
        getbuffer is None
        or (strict and info.flag_bits & ~_PLAIN_FLAGS)
        or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    ):
        return None
    buf = getbuffer()
    start = info.header_offset
    if start < 0 or len(buf) < start + 30 or bytes(buf[start : start + 4]) != b"PK\x03\x04":
        buf.release()
        return None
    name_len, extra_len = struct.unpack_from("<HH", buf, start + 26)
    name = info.orig_filename
    try:
        encoded = name.encode("utf-8" if info.flag_bits & 0x800 else "ascii" if name.isascii() else "cp437")
    except UnicodeError:
        encoded = None
    begin = start + 30 + name_len + extra_len
    body = buf[begin : begin + info.compress_size]
    named = not strict or (encoded is not None and bytes(buf[start + 30 : start + 30 + name_len]) == encoded)
    if not named or len(body) != info.compress_size:
        body.release()
        buf.release()
        return None
    buf.release()
    return body


_PAST_DECLARED = 64 * 1024  # bytes inflated past a member's declared size, looking for damage


def _inflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes | None:
    """A member's bytes inflated straight from the package's bytes in memory, with the checks
    ``ZipExtFile`` makes (local header signature and name, size, CRC-32); None when the package
    is not in memory or anything is unusual (the caller then reads it through ``zipfile``, ~3x
    the per-member cost: a workbook has 15 parts or so, read on every file).

    Inflated by zlib-ng (``zlib_ng``, the same API as ``zlib``): with the CRC, 2.4x zlib's speed
    on the demo's parts (~0.2 ms of a commune workbook's 3.3 ms). The stream stops at the
    declared size. (``zlib.decompress`` into a buffer of that size is a
    third faster, but it does not stop there: a 63 KB member declaring 130 bytes inflates to 64 MB
    before its length is found wrong, and a 17 MB package of 280 such relationships took 108 s
    and 220 MB to inspect instead of 0.5 s.)"""
    if not 0 < info.file_size <= max_bytes:  # (zlib reads a limit of 0 as no limit)
        return None
    body = member_body(zf, info)
    if body is None:
        return None
    with body:
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                data = bytes(body) if info.compress_size == info.file_size else None
            else:  # at most the declared size, as ZipExtFile gives
                inflate = zlib_ng.decompressobj(-15)
                data = inflate.decompress(body, info.file_size)
                if not inflate.eof:  # (a sound part ends here)
                    # A stream going on past the declared size: zipfile inflates further (4 KB and
                    # more at a time) and refuses damage it meets there, then takes the declared
                    # bytes. So does this, up to _PAST_DECLARED bytes further (memory stays bounded):
                    # damage met raises zlib_ng.error below, and zipfile (which meets it too) decides.
                    inflate.decompress(inflate.unconsumed_tail, _PAST_DECLARED)
        except zlib_ng.error:
            data = None
    if data is None or len(data) != info.file_size or zlib_ng.crc32(data) != info.CRC:
        return None
    return data


def _parse_xml(data: bytes, file: str) -> Element:
    """One XML part parsed by lxml with entities, network access, DTD loading and huge trees off
    (``ooxml._safe_tree``, the package's one safe parse); a part that declares a DTD is refused
    (``xml-unsafe``), one that is not well-formed is ``file-corrupt``. libxml2 does in C what
    defusedxml's expat handlers do in Python, ~3x faster on the small parts every file has."""
    from .ooxml import PartError, _safe_tree

    try:
        return _safe_tree(data).getroot()
    except PartError as exc:
        raise UnreadableFile(exc.code, file) from None
    except (ValueError, UnicodeError, RecursionError):
        raise UnreadableFile("file-corrupt", file) from None


def safe_xml(
    zf: zipfile.ZipFile, member: str | zipfile.ZipInfo, max_bytes: int, *, file: str | Path | None = None
) -> Element:
    """Parse one XML member of ``zf`` safely (:func:`_parse_xml`), inflating at most ``max_bytes``.

    A DTD, entity declaration or external reference raises ``UnreadableFile``
    (``xml-unsafe``); a member inflating beyond ``max_bytes`` raises ``part-too-big``
    (the declared ``file_size`` is not trusted, the read itself is bounded); damaged data
    raises ``zip-corrupt`` / ``file-corrupt``. A missing member raises ``KeyError``.
    """
    name = str(file) if file is not None else (zf.filename or "?")
    return _parse_xml(read_member(zf, member, max_bytes, name), name)


class _BoundedReader(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes were read."""

    def __init__(self, raw: IO[bytes], limit: int, file: str) -> None:
        self._raw, self._left, self._file = raw, limit, file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise UnreadableFile("part-too-big", self._file)
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _iter_xml(zf: zipfile.ZipFile, member: str, max_bytes: int, file: str) -> Iterator[tuple[str, Element]]:
    """Stream-parse a (possibly large) XML member with defusedxml: yields (event, elem)."""
    import defusedxml
    import defusedxml.ElementTree as DET

    try:
        with zf.open(member) as raw:
            stream = _BoundedReader(raw, max_bytes, file)
            yield from DET.iterparse(
                stream, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
            )
    except KeyError:
        raise
    except UnreadableFile:
        raise
    except defusedxml.DefusedXmlException:
        raise UnreadableFile("xml-unsafe", file) from None
    except (ParseError, ValueError, UnicodeError, RecursionError):
        raise UnreadableFile("file-corrupt", file) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError):
        raise UnreadableFile("zip-corrupt", file) from None


def _head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> bytes:
    """The first ``size`` inflated bytes of a member, straight from the archive's bytes when
    they are in memory (``inspect`` has them): far cheaper than ``ZipFile.open`` per part."""
    data = getattr(zf.fp, "getbuffer", None)
    if data is not None:
        buf = data()
        start = info.header_offset
        if bytes(buf[start : start + 4]) == b"PK\x03\x04":
            name_len, extra_len = struct.unpack_from("<HH", buf, start + 26)
            body = buf[
                start + 30 + name_len + extra_len : start + 30 + name_len + extra_len + info.compress_size
            ]
            if info.compress_type == zipfile.ZIP_STORED:
                return bytes(body[:size])
            if info.compress_type == zipfile.ZIP_DEFLATED:
                return zlib_ng.decompressobj(-15).decompress(body, size)
    with zf.open(info) as fh:
        return fh.read(size)


# What inflating a damaged member raises (zipfile's own errors, zlib's and zlib-ng's, a short read...)
_DAMAGED = (zipfile.BadZipFile, zlib.error, zlib_ng.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError)  # fmt: skip


def _scan_for_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, file: str) -> bool:
    """Reject an XML part whose prolog declares a DTD (the parsers downstream are not
    all ours). Reads at most ``limits.head_bytes`` inflated bytes of the part. Returns whether
    the part is UTF-8 (python-calamine misreads other encodings)."""
    try:
        head = _head(zf, info, limits.head_bytes)
    except _DAMAGED:
        raise UnreadableFile("zip-corrupt", file) from None
    from .ooxml import is_utf8

    utf8 = is_utf8(head)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2] in (b"<\x00", b"\x00<"):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    if b"<!" in head:  # (a memchr: most parts have no markup declaration, nor a comment)
        lowered = head.lower()
        if b"<!doctype" in lowered or b"<!entity" in lowered:
            raise UnreadableFile("xml-unsafe", file)
    return utf8


def _local(tag) -> str:
    """The local name of an element's tag ("" for a comment or processing instruction)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# --------------------------------------------------------------------------- inspect


def inspect(path: str | Path, limits: Limits = Limits(), *, data: bytes | None = None) -> FileInfo:
    """Decide what ``path`` is before any spreadsheet parser runs.

    Returns a ``FileInfo`` for an .xlsx/.xlsm/.xls/.ods workbook; raises
    ``UnreadableFile`` for anything else (see ``messages/safety.toml`` for the codes).
    ``data``: the file's bytes, already read with :func:`read_bounded` (intake hashes and
    archives exactly these); otherwise the file is read here, once.
    Raises ``RuntimeError`` if the environment cannot read XML safely.
    """
    require_defusedxml()
    p = Path(path)
    file = str(path)
    data = read_bounded(p, limits) if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    parts: dict[str, str] = {}
    non_utf8: list[str] = []
    opened: list[zipfile.ZipFile] = []
    heads: dict[str, bytes] = {}
    head = data[:8]

    if head.startswith(_ZIP):
        kind, has_macros, links = _inspect_zip(data, file, limits, notes, parts, non_utf8, opened, heads)
    elif head.startswith(_CFB):
        kind, has_macros, links = _inspect_cfb(data, file, notes)
    else:
        _reject_other(data, file)  # always raises

    ext = p.suffix.lower().lstrip(".")
    if ext != kind and not (ext in ("xlsx", "xlsm") and kind in ("xlsx", "xlsm")):
        notes.append(
            messages.text("safety.note-extension", file=_display_name(file), ext=p.suffix, kind=kind)
        )
    if has_macros:
        notes.append(messages.text("safety.note-macros", file=_display_name(file)))
    if links:
        notes.append(messages.text("safety.note-external-links", file=_display_name(file), count=len(links)))
    return FileInfo(
        path=p,
        kind=kind,
        size=len(data),
        sha256=digest,
        has_macros=has_macros,
        external_links=links,
        notes=notes,
        sheet_parts=parts,
        non_utf8=non_utf8,
        workbook_head=heads,
        data=data,
        zip=opened[0] if opened else None,
    )


def read_bounded(path: str | Path, limits: Limits = Limits(), *, follow: bool = True) -> bytes:
    """The bytes of a regular file, at most ``limits.max_bytes`` of them (nothing is read of a
    larger one). Raises ``UnreadableFile``: ``file-missing``, ``file-unreadable`` (also a
    directory, FIFO or device, and with ``follow=False`` a symbolic link), ``file-empty``,
    ``file-too-big``. The size is checked on the open file, so a file replaced between the
    check and the read cannot slip a larger content through."""
    p, file = Path(path), str(path)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
        if p.is_symlink():
            raise UnreadableFile("file-unreadable", file)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise UnreadableFile("file-missing", file) from None
    except OSError:
        raise UnreadableFile("file-unreadable", file) from None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # a directory, FIFO or device: never read it
                raise UnreadableFile("file-unreadable", file)
            if st.st_size == 0:
                raise UnreadableFile("file-empty", file)
            if st.st_size > limits.max_bytes:
                raise _too_big(file, st.st_size, limits)
            # as many bytes as the file has, and one more: a buffer of the bound's size (20 MB)
            # cost ~0.15 ms a file; a file that grew since is read on up to the bound
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:
                data += fh.read(limits.max_bytes + 1 - len(data))
    except OSError:
        raise UnreadableFile("file-unreadable", file) from None
    if not data:
        raise UnreadableFile("file-empty", file)
    if len(data) > limits.max_bytes:  # grew since stat
        raise _too_big(file, len(data), limits)
    return data


def _too_big(file: str, size: int, limits: Limits) -> UnreadableFile:
    return UnreadableFile(
        "file-too-big", file, size_mb=f"{size / MB:.1f}", limit_mb=f"{limits.max_bytes / MB:g}"
    )


def _reject_other(data: bytes, file: str) -> NoReturn:
    """Classify a file that is neither a ZIP nor a CFB container, and raise."""
    if data.startswith(_PDF) or data[:1024].lstrip().startswith(_PDF):
        raise UnreadableFile("pdf", file)
    if data.startswith(_IMAGES):
        if not data.startswith(b"RIFF") or data[8:12] == b"WEBP":
            raise UnreadableFile("image", file)
    if data.startswith(_ARCHIVES) or data.startswith((_ZIP_EMPTY, _ZIP_SPANNED)):
        raise UnreadableFile("archive" if not data.startswith(_ZIP_SPANNED) else "zip-corrupt", file)
    if data[:2] in _BARE_BIFF_BOF and len(data) >= 4 and struct.unpack_from("<H", data, 2)[0] < 0x100:
        raise UnreadableFile("old-excel", file)
    text = _as_text(data[:8192])
    if text is not None:
        low = text.lstrip().lower()
        if low.startswith("<?xml") and "urn:schemas-microsoft-com:office:spreadsheet" in low:
            raise UnreadableFile("xml-spreadsheet", file)
        if (
            low.startswith(("<!doctype html", "<html", "<table", "<meta", "mime-version:"))
            or "<html" in low[:2048]
            or "<table" in low[:2048]
        ):
            raise UnreadableFile("html", file)
        if low.startswith("<"):
            raise UnreadableFile("not-a-workbook", file)
        raise UnreadableFile("text", file)
    raise UnreadableFile("not-a-workbook", file)


def _as_text(head: bytes) -> str | None:
    """The head of the file as text if it looks like text (any common encoding)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    else:
        if b"\x00" in head:
            return None
        text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if not text:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    replaced = text.count("\ufffd")
    # Allow a legacy 8-bit code page (TCVN3/VNI/1258 text) to show as replacement chars.
    if printable / len(text) < 0.95 or replaced / len(text) > 0.3:
        return None
    return text


# --------------------------------------------------------------------------- ZIP


def _inspect_zip(
    data: bytes,
    file: str,
    limits: Limits,
    notes: list[str],
    parts: dict[str, str],
    non_utf8: list[str],
    opened: list[zipfile.ZipFile],
    heads: dict[str, bytes],
) -> tuple[str, bool, list[str]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError):
        raise UnreadableFile("zip-corrupt", file) from None

    # Bounds from the central directory only: nothing is inflated before these pass.
    if len(infos) > limits.max_members:
        raise UnreadableFile("too-many-parts", file, count=len(infos), limit=limits.max_members)
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):  # readers disagree on which duplicate they take
        raise UnreadableFile("zip-corrupt", file)
    if sum(i.file_size for i in infos) > limits.max_unzipped:
        raise UnreadableFile("zip-bomb", file)
    for info in infos:
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnreadableFile("zip-bomb", file)
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableFile("encrypted", file)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnreadableFile("zip-corrupt", file)

    by_lower = {n.lower(): n for n in names}
    try:
        result = _inspect_members(zf, infos, by_lower, file, limits, notes, parts, non_utf8, heads)
    except BaseException:
        zf.close()
        raise
    opened.append(zf)  # accepted: the reader goes on with this open package
    return result


def _inspect_members(
    zf: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    by_lower: dict[str, str],
    file: str,
    limits: Limits,
    notes: list[str],
    parts: dict[str, str],
    non_utf8: list[str],
    heads: dict[str, bytes],
) -> tuple[str, bool, list[str]]:
    """What kind of package an accepted ZIP is (ODF or OOXML, and which OOXML), or raise."""
    if "mimetype" in by_lower and "[content_types].xml" not in by_lower:
        return _inspect_odf(zf, by_lower, file, limits, notes)
    main = _ooxml_main_part(zf, by_lower, file, limits)
    low_main = main.lower() if main else ""
    if low_main.endswith(".bin") or "xl/workbook.bin" in by_lower:
        raise UnreadableFile("xlsb", file)
    if low_main.startswith("word/") or "word/document.xml" in by_lower:
        raise UnreadableFile("word-document", file)
    if low_main.startswith("ppt/") or "ppt/presentation.xml" in by_lower:
        raise UnreadableFile("presentation", file)
    if main is None and "xl/workbook.xml" in by_lower:
        main = by_lower["xl/workbook.xml"]
    if main is not None and main.lower() in by_lower:
        return _inspect_ooxml(
            zf, infos, by_lower, by_lower[main.lower()], file, limits, notes, parts, non_utf8, heads
        )
    if any(n.endswith((".xlsx", ".xlsm", ".xls", ".ods", ".xlsb", ".csv")) for n in by_lower):
        raise UnreadableFile("archive", file)
    if main is not None or "[content_types].xml" in by_lower:
        raise UnreadableFile("zip-corrupt", file)  # an OOXML package missing its main part
    raise UnreadableFile("not-a-workbook", file)


def _ooxml_main_part(zf: zipfile.ZipFile, by_lower: dict[str, str], file: str, limits: Limits) -> str | None:
    """The package's main part from ``_rels/.rels`` (officeDocument relationship)."""
    rels = by_lower.get("_rels/.rels")
    if rels is None:
        return None
    return _seen(zf, rels, ("main", limits.max_xml_bytes),
                 lambda: _main_target(safe_xml(zf, rels, limits.max_xml_bytes, file=file)))  # fmt: skip


def _main_target(root: Element) -> str | None:
    for rel in root.iterchildren("{*}Relationship"):  # any namespace, or none (lxml's tag filter, in C)
        if rel.get("Type", "").endswith("/officeDocument"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            return (
                posixpath.normpath(target.lstrip("/"))
                if target.startswith("/")
                else posixpath.normpath(target)
            )
    return None


def _inspect_ooxml(
    zf: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    by_lower: dict[str, str],
    main: str,
    file: str,
    limits: Limits,
    notes: list[str],
    parts: dict[str, str],
    parts_non_utf8: list[str],
    heads: dict[str, bytes],
) -> tuple[str, bool, list[str]]:
    non_utf8 = []
    for info in infos:
        low = info.filename.lower()
        # worksheets are checked by ooxml.scan_sheet before python-calamine reads any of them
        if low.endswith((".xml", ".rels", ".vml")) and not low.startswith("xl/worksheets/"):
            if not _seen(zf, info.filename, ("dtd", limits.head_bytes),
                         lambda info=info: _scan_for_dtd(zf, info, limits, file)):  # fmt: skip
                non_utf8.append(info.filename)

    ct_name = by_lower.get("[content_types].xml")
    if ct_name is None:
        raise UnreadableFile("zip-corrupt", file)
    main_ct = _seen(zf, ct_name, ("type", limits.max_xml_bytes, main.lower()),
                    lambda: _content_type(safe_xml(zf, ct_name, limits.max_xml_bytes, file=file), main))  # fmt: skip

    parts.update(_sheet_parts(zf, by_lower, main, file, limits, heads))

    lowered = list(by_lower)
    has_macros = any(
        n.endswith("vbaproject.bin") or n.startswith(("xl/macrosheets/", "xl/dialogsheets/")) for n in lowered
    )
    kind = "xlsm" if (main_ct == _MACRO_CT or "macroenabled" in main_ct.lower()) else "xlsx"
    if main_ct in _TEMPLATE_CTS:
        notes.append(messages.text("safety.note-template", file=_display_name(file)))
    if any(n.startswith(("xl/activex/", "xl/embeddings/")) for n in lowered):
        notes.append(messages.text("safety.note-embedded", file=_display_name(file)))
    parts_non_utf8.extend(non_utf8)
    return kind, has_macros, _ooxml_external_links(zf, by_lower, file, limits)


def _content_type(types: Element, part: str) -> str:
    """The content type ``[Content_Types].xml`` gives a part by an Override ("" if none)."""
    found = ""
    for node in types.iterchildren("{*}Override"):
        if node.get("PartName", "").lstrip("/").lower() == part.lower():
            found = node.get("ContentType", "")
    return found


_EXTERNAL_LINK = re.compile(r"^xl/externallinks/(externallink[^/]*\.xml)$")


def _ooxml_external_links(
    zf: zipfile.ZipFile, by_lower: dict[str, str], file: str, limits: Limits
) -> list[str]:
    """Targets of ``xl/externalLinks/*`` read from their relationships (never followed)."""
    links: list[str] = []
    for low in sorted(by_lower):
        m = _EXTERNAL_LINK.match(low)
        if not m:
            continue
        rels = by_lower.get(f"xl/externallinks/_rels/{m.group(1)}.rels")
        targets: list[str] = []
        if rels is not None:
            root = safe_xml(zf, rels, limits.max_xml_bytes, file=file)
            targets = [
                rel.get("Target", "")
                for rel in root
                if _local(rel.tag) == "Relationship" and rel.get("Target")
            ]
        links.extend(targets or [by_lower[low]])  # no target: report the part itself
    return links


# --------------------------------------------------------------------------- ODF


def _inspect_odf(
    zf: zipfile.ZipFile, by_lower: dict[str, str], file: str, limits: Limits, notes: list[str]
) -> tuple[str, bool, list[str]]:
    mimetype = read_member(zf, by_lower["mimetype"], 256, file).decode("ascii", errors="replace").strip()
    if mimetype.startswith("application/vnd.oasis.opendocument.text"):
        raise UnreadableFile("word-document", file)
    if mimetype.startswith("application/vnd.oasis.opendocument.presentation"):
        raise UnreadableFile("presentation", file)
    if not mimetype.startswith(_ODF_SPREADSHEET):  # also accepts -template (.ots)
        raise UnreadableFile("not-a-workbook", file)
    if mimetype != _ODF_SPREADSHEET:
        notes.append(messages.text("safety.note-template", file=_display_name(file)))

    for low, name in by_lower.items():
        if low.endswith((".xml", ".rdf")):
            _scan_for_dtd(zf, zf.getinfo(name), limits, file)

    manifest = by_lower.get("meta-inf/manifest.xml")
    if manifest is not None:
        root = safe_xml(zf, manifest, limits.max_xml_bytes, file=file)
        if any(_local(e.tag) == "encryption-data" for e in root.iter()):
            raise UnreadableFile("encrypted", file)
    if "content.xml" not in by_lower:
        raise UnreadableFile("zip-corrupt", file)

    links: list[str] = []
    saw_spreadsheet = False
    href = f"{{{_NS_XLINK}}}href"
    for event, elem in _iter_xml(zf, by_lower["content.xml"], limits.max_xml_bytes, file):
        if event == "start":
            if elem.tag == f"{{{_NS_OFFICE}}}spreadsheet":
                saw_spreadsheet = True
            continue
        local = _local(elem.tag)
        if local in ("table-source", "cell-range-source") and elem.get(href):
            links.append(elem.get(href, ""))
        elif local == "dde-source":
            links.append(elem.get(f"{{{_NS_OFFICE}}}dde-application", "DDE"))
        if local == "table-row":
            elem.clear()  # keep memory flat on large sheets
    if not saw_spreadsheet:
        raise UnreadableFile("not-a-workbook", file)
    has_macros = any(low.startswith(("basic/", "scripts/")) and not low.endswith("/") for low in by_lower)
    return "ods", has_macros, links


# --------------------------------------------------------------------------- CFB / OLE


def _inspect_cfb(data: bytes, file: str, notes: list[str]) -> tuple[str, bool, list[str]]:
    try:
        import olefile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "olefile is needed to inspect .xls / encrypted files (pip install olefile)"
        ) from exc

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:  # olefile raises many kinds on hostile headers
        raise UnreadableFile("file-corrupt", file) from None
    try:
        try:
            entries = ole.listdir(streams=True, storages=False)
        except Exception:
            raise UnreadableFile("file-corrupt", file) from None
        paths = {"/".join(e).lower(): "/".join(e) for e in entries}
        top = {p for p in paths if "/" not in p}
        if "encryptioninfo" in top and "encryptedpackage" in top:
            raise UnreadableFile("encrypted", file)
        book = next((paths[n] for n in ("workbook", "book") if n in top), None)
        if book is not None:
            if _biff_is_encrypted(ole, book, file):
                raise UnreadableFile("encrypted", file)
            if book.lower() == "book":
                notes.append(messages.text("safety.note-excel95", file=_display_name(file)))
            has_macros = any(p.startswith(("_vba_project_cur/", "_vba_project/")) for p in paths)
            if any(p.startswith("mbd") for p in paths):  # embedded OLE objects
                notes.append(messages.text("safety.note-embedded", file=_display_name(file)))
            return "xls", has_macros, []
        if "worddocument" in top:
            raise UnreadableFile("word-document", file)
        if "powerpoint document" in top:
            raise UnreadableFile("presentation", file)
        raise UnreadableFile("not-a-workbook", file)
    finally:
        ole.close()


def _biff_is_encrypted(ole, stream: str, file: str) -> bool:
    """True when the workbook globals carry a FILEPASS record (password to open).

    FILEPASS follows the first BOF record; the scan stops at the first BOUNDSHEET or
    after a few dozen records, reading at most 16 KiB of the stream.
    """
    try:
        head = ole.openstream(stream).read(16 * 1024)
    except Exception:
        raise UnreadableFile("file-corrupt", file) from None
    pos = 0
    for _ in range(64):
        if pos + 4 > len(head):
            break
        rtype, size = struct.unpack_from("<HH", head, pos)
        if rtype == _BIFF_FILEPASS:
            return True
        if rtype == _BIFF_BOUNDSHEET:
            break
        pos += 4 + size
    return False


# --------------------------------------------------------------------------- names & properties


def defined_names(
    path: str | Path,
    kind: str,
    *,
    include_builtin: bool = False,
    include_local: bool = False,
    limits: Limits = Limits(),
    data: bytes = b"",
) -> dict[str, tuple[str, str]]:
    """Workbook-scope defined names that point at one cell or one rectangular range.

    Returns ``{name: (sheet, range)}`` with ``$`` removed (``("Kết quả", "E5")``).
    Names whose value is a formula, a constant, a reference into another workbook,
    several areas or ``#REF!`` are skipped. ``_xlnm.*`` built-ins (print area, filter
    database...) are skipped unless ``include_builtin``; sheet-scoped names are skipped
    unless ``include_local``, in which case they are keyed ``"<sheet>!<name>"``.
    For .xls returns ``{}`` (python-calamine does not expose names).
    Call after ``inspect`` accepted the file; ``data`` (the bytes it read) spares reading the file
    again, which may have been replaced since.
    """
    file = str(path)
    if kind in ("xlsx", "xlsm"):
        return _ooxml_names(Path(path), file, include_builtin, include_local, limits, data)
    if kind == "ods":
        return _ods_names(Path(path), file, include_local, limits, data)
    return {}


def _open_zip(p: Path, file: str, data: bytes = b"") -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data) if data else p)
    except FileNotFoundError:
        raise UnreadableFile("file-missing", file) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise UnreadableFile("zip-corrupt", file) from None


def _sheet_parts(
    zf: zipfile.ZipFile,
    by_lower: dict[str, str],
    name: str,
    file: str,
    limits: Limits,
    heads: dict[str, bytes] | None = None,
) -> dict[str, str]:
    """``{sheet: part}`` from the workbook part, streamed only up to ``</sheets>``, and its rels.

    A main part that is not a <workbook> with at least one <sheet> is ``not-a-workbook``.
    """
    rids, head = _seen(zf, name, ("sheets", limits.max_xml_bytes), lambda: _workbook_sheets(zf, name, file, limits))
    if head is not None and heads is not None:
        heads[name] = head
    if name != "xl/workbook.xml" and "xl/workbook.xml" in zf.NameToInfo:
        raise UnreadableFile("file-corrupt", file)
    folder, _, base = name.rpartition("/")
    rels_name = by_lower.get(f"{folder}/_rels/{base}.rels".lower())
    targets: dict[str, str] = {}
    if rels_name is not None:
        found = _seen(zf, rels_name, ("targets", limits.max_xml_bytes, folder),
                      lambda: _part_targets(safe_xml(zf, rels_name, limits.max_xml_bytes, file=file), folder))  # fmt: skip
        for rid, full in found:
            targets[rid] = by_lower.get(full.lower(), full)
    return {sheet: targets[rid] for sheet, rid in rids if rid in targets}


def _workbook_sheets(zf: zipfile.ZipFile, name: str, file: str, limits: Limits) -> tuple[tuple, bytes | None]:
    """((sheet, relationship id), ...) of the workbook part, in order, and the head parsed
    (:func:`_workbook_head`). Raises ``not-a-workbook`` (no sheet) or ``file-corrupt``."""
    rids: dict[str, str] = {}
    root, head = _workbook_head(zf, name, file, limits)
    if _local(root.tag) == "workbook":
        for elem in root.iter("{*}sheet"):  # any namespace, or none (lxml's tag filter, in C)
            ids = [v for k, v in elem.attrib.items() if k == "id" or k.endswith("}id")]  # local name id
            sheet = elem.get("name", "")
            # The part scanned must be the part python-calamine reads (it reads xl/workbook.xml, the
            # first sheet of a name, the id written r:id): a sheet named twice, or given two ids,
            # could have a harmless part scanned and a far cell read (the process aborts).
            if sheet in rids or len(ids) > 1:
                raise UnreadableFile("file-corrupt", file)
            rids[sheet] = ids[0] if ids else ""
    if not rids:
        raise UnreadableFile("not-a-workbook", file)
    return tuple(rids.items()), head


def _part_targets(root: Element, folder: str) -> tuple[tuple[str, str], ...]:
    """((Id, target part as named from the package root), ...) of a part's relationships, the
    external ones left out."""
    out = []
    for rel in root.iter("{*}Relationship"):
        if rel.get("TargetMode") != "External":
            target = rel.get("Target", "")
            full = target.lstrip("/") if target.startswith("/") else f"{folder}/{target}"
            if "/." in full or "//" in full or full.startswith(".") or full.endswith("/"):
                full = posixpath.normpath(full)  # (~3 us a call: only where it changes something)
            out.append((rel.get("Id", ""), full))
    return tuple(out)


# -- parts seen before ---------------------------------------------------------------------------
# The package parts the gate parses (relationships, content types, the workbook part's sheets) are
# byte for byte the same in most files of one template: what the gate found in one is kept, by the
# part's exact local record (header and stored bytes) and directory entry, and used for the next file
# with those (~0.15 ms of a commune workbook's ~3.3 ms). What the gate found is a function of
# those: the same compressed bytes inflate to the same content, and the same declared size and CRC
# are checked against it with the same outcome. A part the gate refused is not kept (its error
# names the file); a member :func:`member_body` finds anything odd about is parsed every time.
_SEEN: dict[tuple, object] = {}
_SEEN_MAX = 256  # parts kept (the oldest goes first): a few templates' worth
_SEEN_PART_MAX = 32 * 1024  # stored bytes of a part kept: the kept keys hold 8 MB at most
_SEEN_LOCK = threading.Lock()


def _part_key(zf: zipfile.ZipFile, name: str, extra: tuple) -> tuple | None:
    """The key a part's findings are kept by: its central directory entry's name, flags, method,
    sizes and CRC-32, and its local record (header but its time, name, extra field, stored bytes)
    exactly: ``zipfile``, which reads a member the in-memory path refuses, reads the local header's
    flags and name too. None when the package is not in memory, the part is larger than
    :data:`_SEEN_PART_MAX`, or :func:`member_body` finds the member odd."""
    info = zf.NameToInfo.get(name)
    if info is None or info.compress_size > _SEEN_PART_MAX:
        return None
    body = member_body(zf, info)  # (its checks: a member it finds odd is not kept)
    if body is None:
        return None
    body.release()
    buf = zf.fp.getbuffer()
    try:
        start = info.header_offset
        name_len, extra_len = struct.unpack_from("<HH", buf, start + 26)
        # the local header but its modification time and date (bytes 10-13: nothing reads them, and
        # each file saved at another minute has others), its name, extra field and stored bytes
        end = start + 30 + name_len + extra_len + info.compress_size
        record = bytes(buf[start : start + 10]) + bytes(buf[start + 14 : end])
    finally:
        buf.release()
    entry = (info.filename, info.orig_filename, info.flag_bits, info.compress_type, info.compress_size,
             info.file_size, info.CRC)  # fmt: skip
    return entry, extra, record


def _seen(zf: zipfile.ZipFile, name: str, extra: tuple, compute: Callable[[], object]):
    """``compute()`` of part ``name`` of ``zf``, or what it gave for a part seen before with the same
    :func:`_part_key`. ``extra``: which finding (its first item, one per kind of finding: a part may
    be parsed for two, the package's relationships named as its workbook part) and whatever else it
    depends on (the limits...). Values are immutable (tuples, strings, bytes)."""
    key = _part_key(zf, name, extra)
    if key is None:
        return compute()
    found = _SEEN.get(key, _SEEN)
    if found is not _SEEN:
        return found
    value = compute()
    with _SEEN_LOCK:
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.pop(next(iter(_SEEN)), None)
        _SEEN[key] = value
    return value


_SHEETS_END = re.compile(rb"</(?:([A-Za-z_][\w.-]*):)?sheets\s*>")
_ROOT_START = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?workbook[\s>]")


def _workbook_head(zf: zipfile.ZipFile, name: str, file: str, limits: Limits) -> tuple[Element, bytes | None]:
    """The workbook part parsed only up to ``</sheets>`` (the defined names that follow can be many),
    and the bytes parsed (None when the whole part was).

    The cut is closed with the root's end tag and parsed (:func:`_parse_xml`); if the part does not
    look as expected, the whole part is parsed instead.
    """
    data = read_member(zf, name, limits.max_xml_bytes, file)
    end, root = _SHEETS_END.search(data), _ROOT_START.search(data)
    if end is not None and root is not None:
        prefix = root.group(1)
        closing = b"</" + (prefix + b":" if prefix else b"") + b"workbook>"
        head = data[: end.end()] + closing
        try:
            return _parse_xml(head, file), head
        except UnreadableFile as exc:
            if exc.code == "xml-unsafe":
                raise
    return _parse_xml(data, file), None


def _main_name(zf: zipfile.ZipFile, by_lower: dict[str, str], file: str, limits: Limits) -> str:
    main = _ooxml_main_part(zf, by_lower, file, limits) or "xl/workbook.xml"
    name = by_lower.get(main.lower())
    if name is None:
        raise UnreadableFile("not-a-workbook", file)
    return name


def _ooxml_names(
    p: Path, file: str, include_builtin: bool, include_local: bool, limits: Limits, data: bytes = b""
) -> dict[str, tuple[str, str]]:
    with _open_zip(p, file, data) as zf:
        by_lower = {n.lower(): n for n in zf.namelist()}
        root = safe_xml(zf, _main_name(zf, by_lower, file, limits), limits.max_xml_bytes, file=file)
    return _names_from_root(root, include_builtin, include_local)


def _names_from_root(root: Element, include_builtin: bool, include_local: bool) -> dict[str, tuple[str, str]]:
    sheets = [e.get("name", "") for e in root.iter("{*}sheet")]
    out: dict[str, tuple[str, str]] = {}
    for elem in root.iter("{*}definedName"):
        name = elem.get("name", "")
        if not name or (name.lower().startswith("_xlnm.") and not include_builtin):
            continue
        ref = _parse_a1_ref(elem.text or "")
        if ref is None:
            continue
        local_id = elem.get("localSheetId")
        if local_id is not None:
            if not include_local:
                continue
            try:
                scope = sheets[int(local_id)]
            except (ValueError, IndexError):
                continue
            name = f"{scope}!{name}"
        out[name] = ref
    return out


_CELL = r"\$?[A-Za-z]{1,3}\$?\d{1,7}|\$?[A-Za-z]{1,3}|\$?\d{1,7}"
_A1_REF = re.compile(
    rf"^(?:'(?P<quoted>(?:[^']|'')+)'|(?P<bare>[^'!\[\]:*?/\\]+))!(?P<a>{_CELL})(?::(?P<b>{_CELL}))?$"
)


def _parse_a1_ref(text: str) -> tuple[str, str] | None:
    """``'Kết quả'!$E$5`` -> ``("Kết quả", "E5")``; None for anything else."""
    m = _A1_REF.match(text.strip())
    if not m:
        return None
    sheet = m.group("quoted").replace("''", "'") if m.group("quoted") is not None else m.group("bare")
    cells = [m.group("a")] + ([m.group("b")] if m.group("b") else [])
    return sheet, ":".join(c.replace("$", "").upper() for c in cells)


# An ODF reference always names a column and a row, and a bare sheet name never starts
# with a digit, so the constant expression "0.5" is not read as sheet "0", row 5.
_ODS_PART = re.compile(
    r"^\$?(?:'(?P<quoted>(?:[^']|'')*)'|(?P<bare>(?:[^.'\s\d][^.'\s]*)?))"
    r"\.(?P<cell>\$?[A-Za-z]{1,3}\$?\d{1,7})$"
)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quoted = [], [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _parse_ods_ref(text: str) -> tuple[str, str] | None:
    """``$'Kết quả'.$E$5`` or ``$S.$A$1:.$B$2`` -> ``(sheet, "E5")``; None otherwise."""
    text = text.strip()
    if text.startswith("of:="):
        text = text[4:]
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts = _split_outside_quotes(text, ":")
    if not 1 <= len(parts) <= 2:
        return None
    sheet: str | None = None
    cells = []
    for part in parts:
        m = _ODS_PART.match(part)
        if not m:
            return None
        name = m.group("quoted").replace("''", "'") if m.group("quoted") is not None else m.group("bare")
        if name:
            if sheet is not None and name != sheet:
                return None  # a 3-D range
            sheet = name
        cells.append(m.group("cell").replace("$", "").upper())
    if not sheet:
        return None
    return sheet, ":".join(cells)


def _ods_names(
    p: Path, file: str, include_local: bool, limits: Limits, data: bytes = b""
) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    t_name = f"{{{_NS_TABLE}}}name"
    table = f"{{{_NS_TABLE}}}table"
    range_attr = f"{{{_NS_TABLE}}}cell-range-address"
    expr_attr = f"{{{_NS_TABLE}}}expression"
    current_table: str | None = None
    with _open_zip(p, file, data) as zf:
        for event, elem in _iter_xml(zf, "content.xml", limits.max_xml_bytes, file):
            if elem.tag == table:
                current_table = elem.get(t_name) if event == "start" else None
                continue
            if event != "end":
                continue
            local = _local(elem.tag)
            if local == "table-row":
                elem.clear()
            elif local in ("named-range", "named-expression") and elem.get(t_name):
                raw = elem.get(range_attr) if local == "named-range" else elem.get(expr_attr)
                ref = _parse_ods_ref(raw or "")
                if ref is None:
                    continue
                name = elem.get(t_name, "")
                if current_table is not None:
                    if not include_local:
                        continue
                    name = f"{current_table}!{name}"
                out[name] = ref
    return out


def custom_properties(path: str | Path, kind: str | None = None, *, limits: Limits = Limits()) -> dict:
    """Custom document properties: ``docProps/custom.xml`` (OOXML) or
    ``meta:user-defined`` in ``meta.xml`` (ODS). Values are str, int, float or bool
    (dates stay as their ISO text). Empty for .xls or when absent."""
    file = str(path)
    p = Path(path)
    if kind == "xls":
        return {}
    with _open_zip(p, file) as zf:
        by_lower = {n.lower(): n for n in zf.namelist()}
        if "docprops/custom.xml" in by_lower:
            root = safe_xml(zf, by_lower["docprops/custom.xml"], limits.max_xml_bytes, file=file)
            out: dict = {}
            for prop in root:
                if _local(prop.tag) != "property" or not prop.get("name") or len(prop) == 0:
                    continue
                value = prop[0]
                out[prop.get("name")] = _typed(_local(value.tag), value.text or "")
            return out
        if "meta.xml" in by_lower:
            root = safe_xml(zf, by_lower["meta.xml"], limits.max_xml_bytes, file=file)
            out = {}
            for elem in root.iter(f"{{{_NS_META}}}user-defined"):
                name = elem.get(f"{{{_NS_META}}}name")
                if name:
                    vtype = elem.get(f"{{{_NS_META}}}value-type", "string")
                    out[name] = _typed(
                        {"float": "r8", "boolean": "bool"}.get(vtype, "lpwstr"), elem.text or ""
                    )
            return out
    return {}


def _typed(vtype: str, text: str) -> str | int | float | bool:
    try:
        if vtype in ("i1", "i2", "i4", "i8", "int", "ui1", "ui2", "ui4", "ui8", "uint"):
            return int(text)
        if vtype in ("r4", "r8", "decimal"):
            value = float(text)
            return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
        if vtype == "bool":
            return text.strip().lower() in ("true", "1")
    except ValueError:
        pass
    return text


def read_parts(
    path: str | Path, members: list[str], *, limits: Limits = Limits(), data: bytes = b""
) -> dict[str, bytes]:
    """Raw bytes of some zip parts of an accepted workbook, each bounded by ``max_xml_bytes``
    (from ``data``, the bytes ``inspect`` read, when given: the file is not read again).

    For scanning, not parsing: callers must not feed these bytes to an XML parser (use ``safe_xml``).
    """
    p, file = Path(path), str(path)
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) if data else _open_zip(p, file) as zf:
        names = set(zf.namelist())
        for member in members:
            if member in names:
                out[member] = read_member(zf, member, limits.max_xml_bytes, file)
    return out


# --------------------------------------------------------------------------- .xls extent

# BIFF8 cell records (MS-XLS 2.4): row and column are the first two 16-bit fields; MULRK and
# MULBLANK end with their last column.
_XLS_CELLS = {0x0006, 0x00D6, 0x00FD, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E}
_XLS_MULTI = {0x00BD, 0x00BE}
_XLS_EMPTY = {0x0201, 0x00BE}  # BLANK, MULBLANK: formatting only
_XLS_NEUTRAL = 0x7FFF  # a record type no reader knows: the record is skipped, the stream unchanged


def xls_bound(
    data: bytes, bound: tuple[int, int], per_sheet: dict[str, tuple[int, int]] | None = None
) -> tuple[bytes | None, dict[str, list[str]]]:
    """Cut the cells of an .xls beyond ``bound`` = (rows, columns) before python-calamine sees it
    (it allocates every cell up to the farthest one). Returns the patched file (None when nothing
    lies beyond) and, per sheet name, the cells that held data there. Each far cell record keeps
    its size and gets a record type no reader knows, so no stream offset moves (MS-XLS 2.1.4)."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
        name = next(n for n in ("Workbook", "Book") if ole.exists(n))
        stream = bytearray(ole.openstream(name).read())
        ole.close()
    except Exception:  # damaged: python-calamine decides (inspect already accepted the container)
        return None, {}
    per_sheet = per_sheet or {}
    max_row, max_col = bound
    sheets: dict[int, str] = {}
    current = ""
    far: dict[str, list[str]] = {}
    patched = False
    pos = 0
    while pos + 4 <= len(stream):
        rtype, size = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if rtype == _BIFF_BOUNDSHEET and size >= 8:
            offset = struct.unpack_from("<I", stream, body)[0]
            sheets[offset] = _biff_sheet_name(bytes(stream[body + 6 : body + size]))
        elif rtype == 0x0809:  # BOF: a sheet's substream starts here
            current = sheets.get(pos, current)
            max_row, max_col = per_sheet.get(current, bound)
        elif (rtype in _XLS_CELLS or rtype in _XLS_MULTI) and size >= 4:
            row, col = struct.unpack_from("<HH", stream, body)
            last = struct.unpack_from("<H", stream, body + size - 2)[0] if rtype in _XLS_MULTI else col
            if row + 1 >= max_row or last + 1 > max_col:
                struct.pack_into("<H", stream, pos, _XLS_NEUTRAL)
                patched = True
                if rtype not in _XLS_EMPTY:
                    far.setdefault(current, []).append(
                        f"{col_letter(max(col, min(last, max_col)) + 1)}{row + 1}"
                    )
        pos = body + size
    if not patched:
        return None, {}
    out = io.BytesIO(data)
    ole = olefile.OleFileIO(out, write_mode=True)
    ole.write_stream(name, bytes(stream))
    ole.close()
    return out.getvalue(), far


def _biff_sheet_name(raw: bytes) -> str:
    """The name in a BOUNDSHEET body after its offset and flags (ShortXLUnicodeString)."""
    if len(raw) < 2:
        return ""
    count, flags = raw[0], raw[1]
    text = raw[2:]
    try:
        return text[: 2 * count].decode("utf-16-le") if flags & 1 else text[:count].decode("latin-1")
    except UnicodeDecodeError:
        return ""
