"""Workbook XML written directly where openpyxl's cell-by-cell writer is the cost.

Copies of one saved .xlsx package with a few cells rewritten (:class:`Package`), and plain rows
added to a sheet at save time (:func:`defer_rows`).

The synthetic province's received files are one template with different values in its input
cells. Building and saving each through openpyxl costs ~0.15 s a file; :class:`Package` parses a
saved template once, cuts each sheet's XML around the cells that change ("slots"), and writes a
copy by joining the unchanged pieces with the new cells' XML and zipping: every other byte is the
template's own, so data validations, defined names, formulas and styles are kept as written.

Only for packages our own code wrote (openpyxl's output): a received file is never parsed here.

A consolidated workbook's «Chi tiết» sheet holds one row per unit, indicator and milestone (90,000
cells at the province); openpyxl spends ~20 µs a cell building, then serialising, a Cell object.
:func:`defer_rows` keeps such rows as values with one style index per column, and
:func:`with_rows` writes them into the saved sheet's XML (``fileio.finished_bytes`` does it): the
same ``<c>`` elements openpyxl writes, at a tenth of the cost.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import itertools
import re
import weakref
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from openpyxl.cell.cell import Cell
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.packaging.relationship import RelationshipList
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import xmlfile

from .cleaning import CELL_MAX_CHARS, for_cell
from .ooxml import col_letter, split_ref

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

    def filled(self, cells: Mapping[tuple[str, str], bytes]) -> dict[str, bytes]:
        """The sheet parts that have slots (part name -> XML), with ``cells`` (``(sheet, ref) -> <c>
        element``) in their slots and the template's own cell in the others. Raises ``KeyError``
        for a cell that is not a slot."""
        unknown = set(cells) - self.original.keys()
        if unknown:
            raise KeyError(f"not a slot of this template: {sorted(unknown)}")
        out = {}
        for name, (chunks, order) in self._pieces.items():
            pieces = [chunks[0]]
            for slot, chunk in zip(order, chunks[1:], strict=True):
                pieces.append(cells.get(slot) or self.original[slot])
                pieces.append(chunk)
            out[name] = b"".join(pieces)
        return out

    def tail(self, part: str) -> bytes:
        """What follows the last slot of a sheet part with slots: the same bytes in every copy."""
        return self._pieces[part][0][-1]

    def copy(
        self,
        cells: Mapping[tuple[str, str], bytes],
        parts: Mapping[str, bytes] | None = None,
        date_time: dt.datetime | None = None,
    ) -> bytes:
        """The package with ``cells`` (``(sheet, ref) -> <c> element``) and whole ``parts`` replaced;
        ``date_time`` stamps the zip entries (the template's stamps otherwise)."""
        filled = self.filled(cells)
        parts = parts or {}
        stamp = date_time.timetuple()[:6] if date_time is not None else None
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as z:
            for info in self.infos:
                name = info.filename
                data = filled[name] if name in filled else parts.get(name, self.parts[name])
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
    """Text content escaped as lxml writes it in UTF-8 (:class:`_WorksheetWriter`)."""
    return escape(text).replace("\r", "&#13;").encode("utf-8")


# -- plain rows written at save time ------------------------------------------------------------

TEXT_MAX = CELL_MAX_CHARS  # characters in a cell (Excel's limit; openpyxl cuts there too)


@dataclass(frozen=True)
class Rows:
    """Rows of values to be written below everything openpyxl holds of a sheet: ``first`` is the
    number of the first row, ``styles`` the style of each column: a style index of the workbook, a
    style (:func:`cell_style`, given its index when the sheet is written, in the order openpyxl
    would register it) or None (unstyled); ``heights`` row number -> height in points;
    ``cells`` (row, column) -> the style of that cell instead of its column's."""

    first: int
    rows: Sequence[Sequence[object]]
    styles: tuple[int | StyleArray | None, ...]
    heights: Mapping[int, float] = field(default_factory=dict)
    cells: Mapping[tuple[int, int], StyleArray] = field(default_factory=dict)


# workbook -> the sheets with rows to write (the sheet object, so a renamed sheet keeps its rows)
_PENDING: weakref.WeakKeyDictionary[Workbook, list[tuple[Worksheet, Rows]]] = weakref.WeakKeyDictionary()


def cell_style(ws: Worksheet, base: StyleArray | None = None, **style) -> StyleArray:
    """The style of a cell styled with ``style`` (openpyxl cell attributes: ``number_format``,
    ``font``, ``border``, ``alignment``, ``fill``; on top of ``base`` if given), its parts registered
    in ``ws``'s workbook without placing a cell in the sheet. A cell takes it as ``cell._style =
    copy.copy(...)``: one copy instead of a style setter per attribute, which hashes the style
    objects each time."""
    cell = Cell(ws)
    if base is not None:
        cell._style = copy.copy(base)
    for name, value in style.items():
        setattr(cell, name, value)
    return cell._style


def column_style(ws: Worksheet, **style) -> int:
    """The workbook's style index of :func:`cell_style` (for :func:`defer_rows`)."""
    return ws.parent._cell_styles.add(cell_style(ws, **style))


def defer_rows(ws: Worksheet, first: int, rows: Sequence[Sequence[object]],
               styles: Sequence[int | StyleArray | None], heights: Mapping[int, float] | None = None,
               cells: Mapping[tuple[int, int], StyleArray] | None = None) -> None:  # fmt: skip
    """Write ``rows`` (lists of None, text, numbers, booleans, dates; one value per column) into
    ``ws`` from row ``first`` when its workbook is saved through ``fileio.save_workbook``; column
    ``i`` gets style ``styles[i]`` (an index from :func:`column_style`, or a :func:`cell_style`),
    row ``r`` the height ``heights[r]`` (points), cell (row, column) the style ``cells[(row,
    column)]`` if given. Text is always text (a "=..." is never a formula), without the characters
    XML cannot hold, cut at ``TEXT_MAX``. The cells are the ones openpyxl writes for the same
    values and styles (a styled table of a few thousand cells costs a tenth).

    Raises ValueError when ``ws`` already has rows pending, or when openpyxl holds a cell at or
    below ``first`` (the rows would collide)."""
    pending = _PENDING.setdefault(ws.parent, [])
    if any(sheet is ws for sheet, _ in pending):
        raise ValueError(f"sheet {ws.title!r} already has rows to write")
    if ws.max_row >= first and ws._cells:
        raise ValueError(f"sheet {ws.title!r} has cells at row {ws.max_row}, not above row {first}")
    pending.append((ws, Rows(first, rows, tuple(styles), dict(heights or {}), dict(cells or {}))))


def pending_rows(wb: Workbook) -> dict[str, Rows]:
    """Sheet title (as it is now) -> the rows :func:`defer_rows` keeps for that sheet of ``wb``
    (empty when none)."""
    return {ws.title: block for ws, block in _PENDING.get(wb, []) if ws in wb.worksheets}


def with_rows(xml: bytes, block: Rows, epoch: dt.datetime, register: Callable[[StyleArray], int] | None = None) -> bytes:
    """The sheet ``xml`` (as openpyxl wrote it) with ``block``'s rows appended to its sheetData and
    its dimension widened to them; ``epoch`` is the workbook's date system, ``register`` gives a
    style's index in the workbook (``wb._cell_styles.add``: needed when ``block`` holds styles)."""
    head, sep, tail = xml.partition(b"</sheetData>")  # openpyxl writes the end tag even when empty
    if not sep:
        raise ValueError("no </sheetData> in the sheet")
    for m in _ROW_NUMBER.finditer(head):
        if int(m.group(1)) >= block.first:
            raise ValueError(f"row {int(m.group(1))} already written, at or below row {block.first}")
    letters = [col_letter(i) for i in range(1, len(block.styles) + 1)]
    numbered: dict[int, str] = {}  # id of a style -> its s attribute, given when first written

    def attribute(style) -> str:
        if style is None:
            return ""
        if isinstance(style, int):
            return f' s="{style}"'
        found = numbered.get(id(style))
        if found is None:
            if register is None:
                raise ValueError("rows with styles to register, and no register")
            found = numbered[id(style)] = f' s="{register(style)}"'
        return found

    ends: dict[tuple[type, object], str] = {}  # each distinct value serialised once (1, 1.0, True differ)

    def end_of(value: object) -> str:  # what follows the reference and style in openpyxl's element
        key = (type(value), value)
        end = ends.get(key)
        if end is None:
            end = ends[key] = element("A1", None, *_kind(value), epoch).decode("utf-8")[len('<c r="A1"') :]
        return end

    width = len(letters)
    rows = [f'<row r="{r}">' if (h := block.heights.get(r)) is None else
            f'<row r="{r}" ht="{safe_string(float(h))}" customHeight="1">'
            for r in range(block.first, block.first + len(block.rows))]  # fmt: skip
    r = block.first + len(block.rows) - 1
    if block.rows and not block.cells and all(len(row) == width for row in block.rows):
        # column by column (the values of a column repeat), then joined row by row; a column's one
        # style is first met in the first row, so styles are registered in openpyxl's order
        # each row is one str.format of a pattern made once: '{0}<c r="A{1}" s="3"{2}...</row>' with
        # the row's tag, number and each cell's end (a cell per f-string cost ~1.7 µs: ~0.15 s for
        # the province's 90,000 detail cells)
        columns, pattern = [], ["{0}"]
        numbers = range(block.first, block.first + len(block.rows))
        for k, (letter, style, values) in enumerate(
            zip(letters, block.styles, zip(*block.rows, strict=True), strict=True), start=2
        ):
            s = attribute(style)
            keys = list(zip(map(type, values), values, strict=True))  # as end_of keys them
            found = list(map(ends.get, keys))
            if None in found:  # values not met before: each made once, then the column looked up again
                # (a NaN is found again too: each is its own key, and a key holding the same object
                # is equal to it)
                for key in dict.fromkeys(key for key, end in zip(keys, found, strict=True) if end is None):
                    end_of(key[1])
                found = list(map(ends.get, keys))
            if style is None:  # an unstyled empty cell is not written: the whole cell is the argument
                found = [f'<c r="{letter}{n}"{end}' if v is not None else ""
                         for n, end, v in zip(numbers, found, values, strict=True)]  # fmt: skip
                pattern.append(f"{{{k}}}")
            else:
                pattern.append(f'<c r="{letter}{{1}}"{s}{{{k}}}')
            columns.append(found)
        cells = list(itertools.starmap("".join([*pattern, "</row>"]).format, zip(rows, numbers, *columns, strict=True)))
    else:
        cells = []
        for r, (tag, row) in enumerate(zip(rows, block.rows, strict=True), start=block.first):
            cells.append(tag)
            for c, (letter, style, value) in enumerate(zip(letters, block.styles, row, strict=False), start=1):
                if block.cells:
                    style = block.cells.get((r, c), style)
                if value is None and style is None:
                    continue
                cells.append(f'<c r="{letter}{r}"{attribute(style)}{end_of(value)}')
            cells.append("</row>")
    out = b"".join([head, "".join(cells).encode("utf-8"), b"</sheetData>", tail])
    if block.rows:
        out = _DIMENSION.sub(lambda m: _widened(m, len(letters), r), out, count=1)
    return out


def _widened(m: re.Match, columns: int, last_row: int) -> bytes:
    """A dimension element's ``ref`` grown to ``columns`` columns and ``last_row`` rows."""
    start = m.group(2).decode("ascii")
    end = (m.group(3) or m.group(2)).decode("ascii")
    _row, col = split_ref(end)
    ref = f"{start}:{col_letter(max(col, columns, 1))}{last_row}"
    return m.group(1) + ref.encode("ascii") + m.group(4)


_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\br="([0-9]+)"')
_DIMENSION = re.compile(rb'(<dimension\b[^>]*?\bref=")([A-Z]+[0-9]+)(?::([A-Z]+[0-9]+))?(")')


def _kind(value: object) -> tuple[str, object]:
    """openpyxl's data type of a value and the value as ``element`` takes it."""
    if value is None:
        return "n", None
    if isinstance(value, str):
        return "s", for_cell(value)
    if isinstance(value, bool):
        return "b", int(value)
    if isinstance(value, Integral):
        return "n", int(value)
    if isinstance(value, Real):
        return "n", float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return "d", value
    raise ValueError(f"cannot write a {type(value).__name__} in a plain row")


# -- saving in one pass -------------------------------------------------------------------------

SheetEdit = Callable[[Worksheet, bytes], bytes]


class _Archive(zipfile.ZipFile):
    """The zip openpyxl's writer fills, keeping a copy of the parts ``keep`` names."""

    def __init__(self, file, keep: Callable[[str], bool]):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
        self._keep = keep
        self.kept: dict[str, bytes] = {}

    def writestr(self, zinfo_or_arcname, data, *args, **kwargs):
        name = zinfo_or_arcname if isinstance(zinfo_or_arcname, str) else zinfo_or_arcname.filename
        if self._keep(name):
            self.kept[name] = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)


class _WorksheetWriter(WorksheetWriter):
    """openpyxl's worksheet writer, its XML in UTF-8. openpyxl's own is ASCII, each letter outside it a
    character reference ("Kết quả" is ``K&#7871;t qu&#7843;``): a template's results sheet is 13 %
    larger, and python-calamine takes ~30 % longer to read a filled template's sheets (measured on
    the national benchmark's workbooks: 2.0 -> 1.4 ms a workbook). Excel and LibreOffice write UTF-8.
    The elements and their escaping are lxml's in both encodings (no XML declaration either way)."""

    def get_stream(self):  # openpyxl's protocol: True asks for the writer, None is skipped
        with xmlfile(self.out, encoding="utf-8") as xf:
            with xf.element("worksheet", xmlns=SHEET_MAIN_NS):
                try:
                    while True:
                        sent = yield
                        if sent is True:
                            yield xf
                        elif sent is not None:
                            xf.write(sent)
                except GeneratorExit:
                    pass


class _Writer(ExcelWriter):
    """openpyxl's package writer with each worksheet serialised in memory (openpyxl writes each to
    a temporary file, ~1 ms a sheet) and passed through ``edit`` before it goes into the zip."""

    def __init__(self, wb: Workbook, archive: _Archive, edit: SheetEdit | None):
        super().__init__(wb, archive)
        self._edit = edit

    def write_worksheet(self, ws):  # the steps of ExcelWriter.write_worksheet, without the file
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        made = _WRITTEN.get(ws)
        if made is not None:
            if ws._charts or ws._images or ws._hyperlinks or ws._tables or ws.legacy_drawing is not None:
                raise ValueError(f"sheet {ws.title!r} has parts its own writer would lose")
            xml = made(ws)
            ws._rels = RelationshipList()
        else:
            writer = _WorksheetWriter(ws, out=io.BytesIO())
            writer.write()
            ws._rels = writer._rels
            xml = writer.read()
        if self._edit is not None:
            xml = self._edit(ws, xml)
        self._archive.writestr(ws.path[1:], xml)
        self.manifest.append(ws)


def workbook_bytes(
    wb: Workbook, edit: SheetEdit | None = None, keep: Callable[[str], bool] = lambda _name: False
) -> tuple[bytes, dict[str, bytes]]:
    """``wb`` as openpyxl saves it, each worksheet's XML passed through ``edit(ws, xml)`` on its way
    into the zip (one pass, no second zip), and the XML of the parts ``keep`` names (to check them
    without reading the zip back). Styles that ``edit`` registers in ``wb`` are written: the
    stylesheet is written after the worksheets."""
    if wb.read_only or wb.write_only:
        raise ValueError("only a workbook openpyxl holds in memory is written here")
    out = io.BytesIO()
    archive = _Archive(out, keep)
    wb.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)  # as openpyxl's save
    try:
        _Writer(wb, archive, edit).save()
    except BaseException:
        archive.close()
        raise
    return out.getvalue(), archive.kept


# -- a saved sheet written again with other cells ------------------------------------------------

_ROW_ELEMENT = re.compile(rb"<row\b[^>]*?(?:/>|>.*?</row>)", re.S)
_STYLED = re.compile(rb'^(<c r="[A-Z]+[0-9]+")(?: s="([0-9]+)")?')
_ATTR = re.compile(rb'\s([A-Za-z:]+)="([^"]*)"')
_FORMULA_REST = re.compile(rb">(<f>[^<]*</f>)<v(?:></v>|/>)</c>")
# the attributes of a row element in the order openpyxl writes them (RowDimension.__fields__)
_ROW_ATTRS = (b"r", b"hidden", b"outlineLevel", b"collapsed", b"ht", b"customFormat", b"customHeight", b"s",
              b"thickBot", b"thickTop")  # fmt: skip


class NotWritable(ValueError):
    """A sheet or a value :class:`SheetXml` cannot write as openpyxl would."""


@dataclass(frozen=True)
class Put:
    """What goes into one cell of a :class:`SheetXml` instead of the saved one: a value of
    openpyxl's data type ``kind`` ("s", "n", "b", "d", "f") and its style (None: unstyled)."""

    style: StyleArray | None
    kind: str
    value: object


class SheetXml:
    """A worksheet part as openpyxl wrote it, cut into rows and cells, to be written again with
    some cells and row heights replaced and its style indices renumbered for another workbook.

    Every other byte is openpyxl's own (views, columns, merges, validations, conditional formats,
    protection, page setup); a replaced cell is the ``<c>`` element openpyxl writes for it
    (:func:`element`), so the result is what openpyxl would write for the same sheet holding the
    replaced values. Raises :class:`NotWritable` for what it cannot write that way: rows or columns
    with a style of their own."""

    def __init__(self, xml: bytes):
        start, end = xml.find(b"<sheetData>"), xml.rfind(b"</sheetData>")
        if start < 0 or end < start:
            if b"<sheetData/>" not in xml:
                raise NotWritable("no sheetData in the sheet")
            start = end = xml.index(b"<sheetData/>")
            self.head, self.tail = xml[:start] + b"<sheetData>", b"</sheetData>" + xml[start + len(b"<sheetData/>") :]
        else:
            self.head, self.tail = xml[: start + len(b"<sheetData>")], xml[end:]
        if re.search(rb"<col\b[^>]*\bstyle=", self.head):
            raise NotWritable("a column with a style of its own")
        # rows: (number, attributes as written, closing, {column: (cell before its style, style index, after)})
        self.rows: list[tuple[int, dict[bytes, bytes], bool, dict[int, tuple[bytes, int | None, bytes]]]] = []
        for m in _ROW_ELEMENT.finditer(xml, start, end):
            el = m.group(0)
            open_end = el.index(b">") + 1
            attrs = dict(_ATTR.findall(el[:open_end]))
            if b"s" in attrs or set(attrs) - set(_ROW_ATTRS):
                raise NotWritable(f"row {attrs.get(b'r')!r} has attributes this writer does not keep")
            cells: dict[int, tuple[bytes, int | None, bytes]] = {}
            for c in _CELL.finditer(el, open_end):
                cell = c.group(0)
                s = _STYLED.match(cell)
                if s is None:
                    raise NotWritable(f"cell {c.group(1)!r} is not written as openpyxl writes cells")
                _row, col = split_ref(c.group(1).decode("ascii"))
                style = int(s.group(2)) if s.group(2) is not None else None
                cells[col] = (s.group(1), style, cell[s.end() :])
            self.rows.append((int(attrs[b"r"]), attrs, el.endswith(b"/>") and open_end == len(el), cells))
        self.cells = {(r, col) for r, _a, _e, cells in self.rows for col in cells}
        # formula cells as openpyxl writes them, no type and no result: (row, column) -> <f> element
        self.formulas: dict[tuple[int, int], bytes] = {}
        for r, _a, _e, cells in self.rows:
            for col, (_head, _style, rest) in cells.items():
                m = _FORMULA_REST.fullmatch(rest)
                if m is not None:
                    self.formulas[(r, col)] = m.group(1)

    def render(self, styles: Sequence[StyleArray], register: Callable[[StyleArray], int], epoch: dt.datetime,
               puts: Mapping[tuple[int, int], Put] | None = None,
               heights: Mapping[int, float] | None = None,
               results: Mapping[tuple[int, int], object] | None = None) -> bytes:  # fmt: skip
        """The sheet with the cells of ``puts`` ((row, column) -> :class:`Put`, each a cell the saved
        sheet has) and the row heights of ``heights`` (row -> points) replaced, and ``results``
        ((row, column) -> value) cached in those formula cells (``xlsxrules.with_cached``'s
        element). A saved cell's style ``i`` becomes ``register(styles[i])``, called in the order
        openpyxl registers styles while writing (cell by cell, row by row), so the other workbook's
        style list grows as if openpyxl had written the sheet into it. Raises :class:`NotWritable`
        for a result of a cell that is not one of :attr:`formulas`."""
        from .xlsxrules import cached_formula

        puts = puts or {}
        heights = heights or {}
        results = results or {}
        if not results.keys() <= self.formulas.keys():
            raise NotWritable(f"results for cells that are not formulas: {sorted(results.keys() - self.formulas.keys())}")
        unknown = set(puts) - self.cells
        if unknown:
            raise ValueError(f"cells {sorted(unknown)} are not in the saved sheet")
        index: dict[int, bytes] = {}
        out = [self.head]
        for r, attrs, empty, cells in self.rows:
            if r in heights:
                attrs = {**attrs, b"ht": safe_string(float(heights[r])).encode("ascii"), b"customHeight": b"1"}
            out.append(b"<row" + b"".join(b" %s=\"%s\"" % (k, attrs[k]) for k in _ROW_ATTRS if k in attrs))
            if empty and not cells:
                out.append(b"/>")
                continue
            out.append(b">")
            for col, (head, style, rest) in cells.items():
                put = puts.get((r, col))
                if put is not None:
                    number = register(put.style) if put.style is not None else None
                    out.append(element(f"{col_letter(col)}{r}", number, put.kind, put.value, epoch))
                    continue
                if style is None:
                    if (r, col) in results:
                        out.append(cached_formula(head, self.formulas[(r, col)], results[(r, col)]))
                    else:
                        out.append(head + rest)
                    continue
                s = index.get(style)
                if s is None:
                    s = index[style] = b' s="%d"' % register(copy.copy(styles[style]))
                if (r, col) in results:
                    out.append(cached_formula(head + s, self.formulas[(r, col)], results[(r, col)]))
                else:
                    out.append(head + s + rest)
            out.append(b"</row>")
        out.append(self.tail)
        return b"".join(out)


# worksheet -> what writes its XML instead of openpyxl (a sheet of a template written again)
_WRITTEN: weakref.WeakKeyDictionary[Worksheet, Callable[[Worksheet], bytes]] = weakref.WeakKeyDictionary()


def write_with(ws: Worksheet, writer: Callable[[Worksheet], bytes]) -> None:
    """When ``ws``'s workbook is saved through ``fileio.save_workbook``, ``writer(ws)`` gives the
    sheet's XML instead of openpyxl's serialisation of it (whatever cells ``ws`` holds are not
    written). The writer registers in the workbook the styles its XML refers to; the sheet may have
    no drawing, comment, hyperlink or table (their relationships would be lost)."""
    _WRITTEN[ws] = writer
