"""A source-only VBA project ([MS-OVBA]) as the tree of streams that ``cfb.write`` serialises.

What is written: ``PROJECT`` (2.3.1), ``PROJECTwm`` (2.3.3), ``VBA/dir`` (2.3.4.2, compressed),
``VBA/_VBA_PROJECT`` = ``cc 61 ff ff 00 01 00`` (version 0xFFFF: no compiled cache, so the
host compiles the source text), one stream per module holding its compressed source at
MODULEOFFSET 0. Everything is derived from the inputs, so the same modules give the same bytes.

The project code page is 1252: module source must be ASCII (Vietnamese text belongs on the
Python side, which owns the messages).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CODE_PAGE = 1252
LCID = 0x0409
VBA_PROJECT_STREAM = bytes.fromhex("cc61ffff000100")
_CHUNK = 4096
_HOST_EXTENDER = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
_STDOLE = (
    "stdole",
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\\Windows\\System32\\stdole2.tlb#OLE Automation",
)
# Attributes of the document module of a workbook (base class Excel.Workbook) and of a worksheet.
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"


class OvbaError(ValueError):
    """Input that cannot become a VBA project (non-ASCII source, bad names, corrupt data)."""


# ---------------------------------------------------------------- compression (2.4.1)


def _copy_token_bits(position: int) -> int:
    """Bits of a CopyToken used for the offset at ``position`` within the chunk (2.4.1.3.19.1)."""
    return max((position - 1).bit_length(), 4)


def _compress_chunk(chunk: bytes) -> bytes:
    out = bytearray()
    seen: dict[bytes, list[int]] = {}
    pos, end = 0, len(chunk)

    def remember(upto: int) -> None:
        nonlocal indexed
        while indexed < upto and indexed + 3 <= end:
            seen.setdefault(chunk[indexed : indexed + 3], []).append(indexed)
            indexed += 1

    indexed = 0
    while pos < end:
        flag_at = len(out)
        out.append(0)
        for bit in range(8):
            if pos >= end:
                break
            bits = _copy_token_bits(pos)
            max_len = min((0xFFFF >> bits) + 3, end - pos)
            best_len = best_at = 0
            if max_len >= 3:
                for cand in reversed(seen.get(chunk[pos : pos + 3], [])[-256:]):
                    n = 3
                    while n < max_len and chunk[cand + n] == chunk[pos + n]:
                        n += 1
                    if n > best_len:
                        best_len, best_at = n, cand
                        if n == max_len:
                            break
            if best_len >= 3:
                token = ((pos - best_at - 1) << (16 - bits)) | (best_len - 3)
                out += struct.pack("<H", token)
                out[flag_at] |= 1 << bit
                pos += best_len
            else:
                out.append(chunk[pos])
                pos += 1
            remember(pos)
    return bytes(out)


def compress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 compression. An incompressible 4,096-byte chunk is stored raw; a raw
    final chunk is padded with zeros to 4,096 bytes, as the format requires."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        packed = _compress_chunk(chunk)
        if len(packed) <= _CHUNK:
            out += struct.pack("<H", 0xB000 | (len(packed) + 2 - 3)) + packed
        else:
            out += struct.pack("<H", 0x3FFF) + chunk.ljust(_CHUNK, b"\x00")
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 decompression of a CompressedContainer."""
    if not data or data[0] != 1:
        raise OvbaError("compressed container must start with 0x01")
    out = bytearray()
    pos = 1
    while pos < len(data):
        if pos + 2 > len(data):
            raise OvbaError("truncated chunk header")
        (header,) = struct.unpack_from("<H", data, pos)
        if (header >> 12) & 0x7 != 0b011:
            raise OvbaError(f"bad chunk signature at byte {pos}")
        chunk_end = min(pos + (header & 0xFFF) + 3, len(data))
        pos += 2
        start = len(out)
        if not header & 0x8000:
            out += data[pos : pos + _CHUNK]
            pos += _CHUNK
            continue
        while pos < chunk_end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not flags >> bit & 1:
                    out.append(data[pos])
                    pos += 1
                    continue
                (token,) = struct.unpack_from("<H", data, pos)
                pos += 2
                bits = _copy_token_bits(len(out) - start)
                length = (token & (0xFFFF >> bits)) + 3
                source = len(out) - ((token >> (16 - bits)) + 1)
                if source < start:
                    raise OvbaError("copy token points before its chunk")
                for i in range(length):
                    out.append(out[source + i])
    return bytes(out)


# ---------------------------------------------------------------- data encryption (2.4.3)


def encrypt(data: bytes, project_id: str, seed: int) -> str:
    """Encode ``data`` for CMG/DPB/GC (MS-OVBA 2.4.3.2) with a given ``seed``; hex text."""
    proj_key = sum(project_id.encode("ascii")) & 0xFF
    version_enc = seed ^ 2
    out = bytearray([seed, version_enc, seed ^ proj_key])
    unenc1, enc1, enc2 = proj_key, out[2], version_enc
    ignored = bytes(((seed * 7 + i * 13) & 0xFF) for i in range((seed & 6) // 2))
    for byte in ignored + struct.pack("<I", len(data)) + data:
        enc = byte ^ ((enc2 + unenc1) & 0xFF)
        out.append(enc)
        enc2, enc1, unenc1 = enc1, enc, byte
    return out.hex().upper()


def decrypt(text: str) -> tuple[int, int, bytes]:
    """Decode CMG/DPB/GC hex text; return ``(version, proj_key, data)``."""
    raw = bytes.fromhex(text)
    seed, version_enc, proj_key_enc = raw[0], raw[1], raw[2]
    proj_key = seed ^ proj_key_enc
    unenc1, enc1, enc2 = proj_key, proj_key_enc, version_enc
    plain = bytearray()
    for enc in raw[3:]:
        byte = enc ^ ((enc2 + unenc1) & 0xFF)
        plain.append(byte)
        enc2, enc1, unenc1 = enc1, enc, byte
    skip = (seed & 6) // 2
    (length,) = struct.unpack_from("<I", plain, skip)
    return seed ^ version_enc, proj_key, bytes(plain[skip + 4 : skip + 4 + length])


# ---------------------------------------------------------------- project


@dataclass(frozen=True)
class Module:
    """One VBA module: ``name``, its source text (CRLF lines) and whether it is a document module."""

    name: str
    source: str
    document: bool = False


def document_module(name: str, base: str, code: str = "") -> Module:
    """A workbook or worksheet document module: the attribute lines Excel stores, then ``code``
    (CRLF lines, e.g. a ``Workbook_Open`` handler); attributes only when ``code`` is empty."""
    lines = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{base}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return Module(name, "\r\n".join(lines) + "\r\n" + code, document=True)


def module_from_bas(text: str, origin: str = "<text>") -> Module:
    """A standard module from the text of an exported ``.bas`` file (its ``Attribute VB_Name``)."""
    check_source(text, origin)
    first = text.split("\r\n", 1)[0]
    prefix = 'Attribute VB_Name = "'
    if not (first.startswith(prefix) and first.endswith('"')):
        raise OvbaError(f'{origin}: first line must be {prefix}<Name>"')
    return Module(first[len(prefix) : -1], text)


def check_source(text: str, origin: str) -> None:
    """Refuse what code page 1252 VBA would garble: non-ASCII characters and bare LF line ends."""
    for lineno, line in enumerate(text.split("\n"), 1):
        bad = next((c for c in line if ord(c) > 0x7E or (ord(c) < 0x20 and c not in "\t\r")), None)
        if bad is not None:
            raise OvbaError(
                f"{origin}, line {lineno}: character {bad!r} (U+{ord(bad):04X}) is not allowed in VBA source; "
                "keep VBA ASCII-only and let Python supply Vietnamese text"
            )
    if "\n" in text.replace("\r\n", "") or "\r" in text.replace("\r\n", ""):
        raise OvbaError(f"{origin}: VBA source must use CRLF line endings")


def _is_identifier(name: str) -> bool:
    return 0 < len(name) <= 31 and name.isascii() and name[0].isalpha() and name.replace("_", "a").isalnum()


def project_id(name: str) -> str:
    """The deterministic project GUID (``{XXXXXXXX-...}``) derived from the project name."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:xhht_xl:vba-project:{name}")).upper() + "}"


def _seed(name: str, field: str) -> int:
    return hashlib.sha256(f"{name}/{field}".encode()).digest()[0]


def _rec(rid: int, data: bytes = b"") -> bytes:
    return struct.pack("<HI", rid, len(data)) + data


def _mbcs(text: str) -> bytes:
    return text.encode("cp1252")


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def dir_stream(name: str, modules: list[Module]) -> bytes:
    """The decompressed ``dir`` stream: information, references, modules (2.3.4.2)."""
    out = bytearray()
    out += _rec(0x01, struct.pack("<I", 1))  # PROJECTSYSKIND: Win32 (as Excel writes)
    out += _rec(0x02, struct.pack("<I", LCID))  # PROJECTLCID
    out += _rec(0x14, struct.pack("<I", LCID))  # PROJECTLCIDINVOKE
    out += _rec(0x03, struct.pack("<H", CODE_PAGE))  # PROJECTCODEPAGE
    out += _rec(0x04, _mbcs(name))  # PROJECTNAME
    out += _rec(0x05) + _rec(0x40)  # PROJECTDOCSTRING
    out += _rec(0x06) + _rec(0x3D)  # PROJECTHELPFILEPATH
    out += _rec(0x07, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _rec(0x08, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x09, 4, 1, 0)  # PROJECTVERSION: Reserved=4, major 1, minor 0
    out += _rec(0x0C) + _rec(0x3C)  # PROJECTCONSTANTS
    ref_name, libid = _STDOLE
    out += _rec(0x16, _mbcs(ref_name)) + _rec(0x3E, _utf16(ref_name))  # REFERENCENAME
    libid_bytes = _mbcs(libid)
    out += _rec(0x0D, struct.pack("<I", len(libid_bytes)) + libid_bytes + struct.pack("<IH", 0, 0))
    out += _rec(0x0F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _rec(0x13, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for m in modules:
        out += _rec(0x19, _mbcs(m.name)) + _rec(0x47, _utf16(m.name))  # MODULENAME
        out += _rec(0x1A, _mbcs(m.name)) + _rec(0x32, _utf16(m.name))  # MODULESTREAMNAME
        out += _rec(0x1C) + _rec(0x48)  # MODULEDOCSTRING
        out += _rec(0x31, struct.pack("<I", 0))  # MODULEOFFSET: source starts the stream
        out += _rec(0x1E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _rec(0x2C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += _rec(0x22 if m.document else 0x21)  # MODULETYPE
        out += _rec(0x2B)  # terminator
    out += _rec(0x10)  # dir terminator
    return bytes(out)


def project_stream(name: str, modules: list[Module]) -> bytes:
    """The ``PROJECT`` stream (2.3.1): properties, host extender info, workspace."""
    pid = project_id(name)
    cmg = encrypt(bytes(4), pid, _seed(name, "CMG"))  # not protected
    dpb = encrypt(b"\x00", pid, _seed(name, "DPB"))  # no password
    gc = encrypt(b"\xff", pid, _seed(name, "GC"))  # visible
    lines = [f'ID="{pid}"']
    for m in modules:
        lines.append(f"Document={m.name}/&H00000000" if m.document else f"Module={m.name}")
    lines += [
        f'Name="{name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{cmg}"',
        f'DPB="{dpb}"',
        f'GC="{gc}"',
        "",
        "[Host Extender Info]",
        _HOST_EXTENDER,
        "",
        "[Workspace]",
    ]
    lines += [f"{m.name}=0, 0, 0, 0, C" for m in modules]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def projectwm_stream(modules: list[Module]) -> bytes:
    """The ``PROJECTwm`` stream (2.3.3): module names in MBCS and UTF-16."""
    out = bytearray()
    for m in modules:
        out += _mbcs(m.name) + b"\x00" + _utf16(m.name) + b"\x00\x00"
    return bytes(out + b"\x00\x00")


def project_tree(name: str, modules: Iterable[Module]) -> dict:
    """The storages and streams of a VBA project, ready for ``cfb.write``."""
    mods = list(modules)
    if not _is_identifier(name):
        raise OvbaError(f"project name {name!r} is not a VBA identifier")
    seen: set[str] = set()
    for m in mods:
        if not _is_identifier(m.name):
            raise OvbaError(f"module name {m.name!r} is not a VBA identifier")
        if m.name.lower() in seen or m.name.lower() == name.lower():
            raise OvbaError(f"module name {m.name!r} is used twice")
        seen.add(m.name.lower())
        check_source(m.source, m.name)
    vba = {
        "_VBA_PROJECT": VBA_PROJECT_STREAM,
        "dir": compress(dir_stream(name, mods)),
        **{m.name: compress(m.source.encode("ascii")) for m in mods},
    }
    return {
        "PROJECT": project_stream(name, mods),
        "PROJECTwm": projectwm_stream(mods),
        "VBA": vba,
    }


def dir_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Split a decompressed ``dir`` stream into ``(record id, payload)`` (PROJECTVERSION aware)."""
    pos = 0
    while pos < len(data):
        rid, size = struct.unpack_from("<HI", data, pos)
        if rid == 0x09:  # PROJECTVERSION: the size field is Reserved (4), payload is 6 bytes
            size = 6
        yield rid, data[pos + 6 : pos + 6 + size]
        pos += 6 + size
