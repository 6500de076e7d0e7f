"""Copies of one saved .xlsx package with a few cells rewritten, at the XML level.

The synthetic province's received files are one template with different values in its input
cells. Building and saving each through openpyxl costs ~0.15 s a file; :class:`Package` parses a
saved template once, cuts each sheet's XML around the cells that change ("slots"), and writes a
copy by joining the unchanged pieces with the new cells' XML and zipping: every other byte is the
template's own, so data validations, defined names, formulas and styles are kept as written.

Only for packages our own code wrote (openpyxl's output): a received file is never parsed here.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from openpyxl.compat import safe_string
from openpyxl.utils.datetime import to_excel

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
# One cell element, empty or with content; text inside a cell cannot hold "</c>" (it is escaped).
# zlib level 1: half the time of the default level 6 for files ~20 % larger (49 KB, not 41 KB).
COMPRESS_LEVEL = 1
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*?(?:/>|>.*?</c>)', re.S)


class Package:
    """A saved workbook and the cells (``{sheet name: [A1 refs]}``) each copy may rewrite."""

    def __init__(self, data: bytes, slots: Mapping[str, Iterable[str]]):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            self.infos = z.infolist()
            self.parts = {i.filename: z.read(i) for i in self.infos}
        paths = self.sheet_parts()
        self.original: dict[tuple[str, str], bytes] = {}  # (sheet, ref) -> the template's cell XML
        self._pieces: dict[str, tuple[list[bytes], list[tuple[str, str]]]] = {}
        for sheet, refs in slots.items():
            part = paths[sheet]
            xml = self.parts[part]
            start, end = xml.find(b"<sheetData"), xml.find(b"</sheetData>")
            wanted = set(refs)
            chunks: list[bytes] = []
            order: list[tuple[str, str]] = []
            pos = 0
            for m in _CELL.finditer(xml, max(start, 0), max(end, 0)):
                ref = m.group(1).decode("ascii")
                if ref in wanted:
                    chunks.append(xml[pos : m.start()])
                    order.append((sheet, ref))
                    self.original[(sheet, ref)] = m.group(0)
                    pos = m.end()
            chunks.append(xml[pos:])
            missing = wanted - {ref for _, ref in order}
            if missing:
                raise ValueError(f"cells {sorted(missing)} of sheet {sheet!r} are not in the template")
            self._pieces[part] = (chunks, order)

    def sheet_parts(self) -> dict[str, str]:
        """Sheet name -> its part's name in the zip (from workbook.xml and its relationships)."""
        book = ElementTree.fromstring(self.parts["xl/workbook.xml"])
        rels = ElementTree.fromstring(self.parts["xl/_rels/workbook.xml.rels"])
        targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{{{_PKG_REL}}}Relationship")}
        out = {}
        for sheet in book.iter(f"{{{_MAIN}}}sheet"):
            target = targets[sheet.get(f"{{{_DOC_REL}}}id")]
            out[sheet.get("name")] = target.lstrip("/") if target.startswith("/") else "xl/" + target
        return out

    def copy(
        self,
        cells: Mapping[tuple[str, str], bytes],
        parts: Mapping[str, bytes] | None = None,
        date_time: dt.datetime | None = None,
    ) -> bytes:
        """The package with ``cells`` (``(sheet, ref) -> <c> element``) and whole ``parts`` replaced;
        ``date_time`` stamps the zip entries (the template's stamps otherwise)."""
        unknown = set(cells) - self.original.keys()
        if unknown:
            raise KeyError(f"not a slot of this template: {sorted(unknown)}")
        parts = parts or {}
        stamp = date_time.timetuple()[:6] if date_time is not None else None
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as z:
            for info in self.infos:
                name = info.filename
                if name in self._pieces:
                    chunks, order = self._pieces[name]
                    pieces = [chunks[0]]
                    for slot, chunk in zip(order, chunks[1:], strict=True):
                        pieces.append(cells.get(slot) or self.original[slot])
                        pieces.append(chunk)
                    data = b"".join(pieces)
                else:
                    data = parts.get(name, self.parts[name])
                entry = zipfile.ZipInfo(name, stamp or info.date_time)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = info.external_attr
                z.writestr(entry, data)
        return out.getvalue()


def element(ref: str, style: int | None, kind: str, value: object, epoch: dt.datetime) -> bytes:
    """The ``<c>`` element openpyxl writes for a cell at ``ref`` with this style index, data type
    (openpyxl's ``data_type``: "s", "n", "b", "d", "f") and value; ``epoch`` is the workbook's.

    Covers what a filled template holds: text (inline), numbers, booleans, dates and plain
    formulas; anything else raises rather than being written differently from openpyxl.
    """
    attrs = f'r="{ref}"' if style is None else f'r="{ref}" s="{style}"'
    if kind == "d":
        value, kind = to_excel(value, epoch), "n"
    if kind == "s":
        attrs += ' t="inlineStr"'
    elif kind != "f":
        attrs += f' t="{kind}"'
    if value is None or value == "":
        return f"<c {attrs}></c>".encode("ascii")
    if not isinstance(value, str | int | float):
        raise ValueError(f"{ref}: cannot write a {type(value).__name__}")
    if kind == "s":
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f"<c {attrs}><is><t{space}>".encode("ascii") + _text(value) + b"</t></is></c>"
    if kind == "f":
        return f"<c {attrs}><f>".encode("ascii") + _text(value[1:]) + b"</f><v></v></c>"
    return f"<c {attrs}><v>".encode("ascii") + _text(safe_string(value)) + b"</v></c>"


def _text(text: str) -> bytes:
    """Text content escaped as lxml writes it in openpyxl's ASCII output."""
    return escape(text).replace("\r", "&#13;").encode("ascii", "xmlcharrefreplace")
