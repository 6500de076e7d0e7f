"""A minimal writer for Compound File Binary files ([MS-CFB] version 3, 512-byte sectors).

Enough to hold a VBA project (``vbaProject.bin``): a tree of storages and streams, the
FAT, the MiniFAT for streams shorter than 4,096 bytes, no DIFAT sectors (files up to
about 6.8 MB). The output is deterministic: no timestamps, no CLSIDs, sorted entries.

A tree is a ``dict`` mapping an entry name to ``bytes`` (a stream) or to another ``dict``
(a storage). ``olefile`` reads the result back.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
_MAX_HEADER_FAT = 109

Tree = Mapping[str, "bytes | Tree"]


class CfbError(ValueError):
    """The tree cannot be written as a compound file."""


def _key(name: str) -> tuple[int, str]:
    # [MS-CFB] 2.6.4: shorter names first, then code point by code point, upper-cased.
    return (len(name), name.upper())


class _Entry:
    def __init__(self, name: str, kind: int, data: bytes = b"") -> None:
        if not 0 < len(name) <= 31 or any(c in name for c in "/\\:!"):
            raise CfbError(f"invalid compound file entry name {name!r}")
        self.name, self.kind, self.data = name, kind, data  # kind: 1 storage, 2 stream, 5 root
        self.left = self.right = self.child = NOSTREAM
        self.red = False
        self.start, self.size = ENDOFCHAIN, 0
        self.index = 0

    def pack(self) -> bytes:
        raw = self.name.encode("utf-16-le") + b"\x00\x00"
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            raw,
            len(raw),
            self.kind,
            0 if self.red else 1,
            self.left,
            self.right,
            self.child,
            b"\x00" * 16,
            0,
            0,
            0,
            self.start,
            self.size,
        )


def _balanced(children: list[_Entry], depth: int, out: list[tuple[_Entry, int]]) -> int:
    """Link ``children`` (sorted) into a balanced binary tree; return its root index or NOSTREAM."""
    if not children:
        return NOSTREAM
    mid = len(children) // 2
    node = children[mid]
    out.append((node, depth))
    node.left = _balanced(children[:mid], depth + 1, out)
    node.right = _balanced(children[mid + 1 :], depth + 1, out)
    return node.index


def _colour(children: list[_Entry]) -> int:
    """Make a valid red-black tree: balanced, with the nodes of an incomplete last level red."""
    placed: list[tuple[_Entry, int]] = []
    root = _balanced(children, 0, placed)
    if placed:
        deepest = max(depth for _, depth in placed)
        if len(placed) != 2 ** (deepest + 1) - 1:
            for node, depth in placed:
                node.red = depth == deepest
    return root


def _flatten(tree: Tree, parent: _Entry, entries: list[_Entry]) -> None:
    kids: list[_Entry] = []
    names: set[str] = set()
    for name in sorted(tree, key=_key):
        if name.upper() in names:
            raise CfbError(f"duplicate entry name {name!r}")
        names.add(name.upper())
        value = tree[name]
        entry = _Entry(
            name, 1 if isinstance(value, Mapping) else 2, b"" if isinstance(value, Mapping) else bytes(value)
        )
        entry.index = len(entries)
        entries.append(entry)
        kids.append(entry)
    parent.child = _colour(kids)
    for entry in kids:
        value = tree[entry.name]
        if isinstance(value, Mapping):
            _flatten(value, entry, entries)


def _sectors(n_bytes: int, size: int) -> int:
    return -(-n_bytes // size)


def write(tree: Tree) -> bytes:
    """Serialise ``tree`` as a CFB v3 file and return its bytes."""
    root = _Entry("Root Entry", 5)
    entries = [root]
    _flatten(tree, root, entries)

    # Small streams go into the mini stream, in directory order.
    ministream = bytearray()
    minifat: list[int] = []
    large: list[_Entry] = []
    for entry in entries:
        if entry.kind != 2:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            continue
        if entry.size >= MINI_CUTOFF:
            large.append(entry)
            continue
        count = _sectors(entry.size, MINI_SECTOR)
        entry.start = len(minifat)
        minifat.extend(range(entry.start + 1, entry.start + count))
        minifat.append(ENDOFCHAIN)
        ministream += entry.data.ljust(count * MINI_SECTOR, b"\x00")

    # Sector layout: FAT | directory | MiniFAT | mini stream | large streams.
    n_dir = _sectors(len(entries) * 128, SECTOR)
    n_minifat = _sectors(len(minifat) * 4, SECTOR)
    n_mini = _sectors(len(ministream), SECTOR)
    n_large = [_sectors(e.size, SECTOR) for e in large]
    content = n_dir + n_minifat + n_mini + sum(n_large)
    n_fat = 1
    while n_fat * (SECTOR // 4) < content + n_fat:
        n_fat += 1
    if n_fat > _MAX_HEADER_FAT:
        raise CfbError("compound file too large for a writer without DIFAT sectors")

    fat: list[int] = [FATSECT] * n_fat
    body = bytearray()

    def chain(n: int) -> int:
        if n == 0:
            return ENDOFCHAIN
        first = len(fat)
        fat.extend(range(first + 1, first + n))
        fat.append(ENDOFCHAIN)
        return first

    dir_start = chain(n_dir)
    minifat_start = chain(n_minifat)
    root.start = chain(n_mini)
    root.size = len(ministream)
    for entry, n in zip(large, n_large, strict=True):
        entry.start = chain(n)

    padding = n_dir * (SECTOR // 128) - len(entries)
    body += b"".join(e.pack() for e in entries) + _empty_entry() * padding
    body += b"".join(struct.pack("<I", x) for x in minifat).ljust(n_minifat * SECTOR, b"\xff")
    body += bytes(ministream).ljust(n_mini * SECTOR, b"\x00")
    for entry, n in zip(large, n_large, strict=True):
        body += entry.data.ljust(n * SECTOR, b"\x00")

    fat_bytes = b"".join(struct.pack("<I", x) for x in fat).ljust(n_fat * SECTOR, b"\xff")
    difat = list(range(n_fat)) + [FREESECT] * (_MAX_HEADER_FAT - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"\x00" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\x00" * 6,
        0,
        n_fat,
        dir_start,
        0,
        MINI_CUTOFF,
        minifat_start if n_minifat else ENDOFCHAIN,
        n_minifat,
        ENDOFCHAIN,
        0,
    ) + struct.pack("<109I", *difat)
    assert len(header) == SECTOR
    return header + fat_bytes + bytes(body)


def _empty_entry() -> bytes:
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"", 0, 0, 0, 0, 0)
