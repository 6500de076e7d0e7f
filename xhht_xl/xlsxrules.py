"""Rules every workbook xhht_xl writes must satisfy, checked on the written XML; cached formula values.

Excel refuses, or "repairs" with a prompt that strips parts of the file, workbooks that openpyxl
writes without complaint: a cell under two data validations, two identical conditional formats
on one cell, overlapping merged ranges, an illegal sheet or defined name, a validation formula
longer than 255 characters, a row taller than 409 points. ``problems`` reads a written package and
lists every such violation; ``fileio.save_workbook`` runs it on each workbook the project builds
before the file replaces its target, so a violation never reaches a clerk (tests write every kind).

openpyxl writes formulas without a result, so a mail or phone preview (which does not calculate)
shows those cells empty. A writer that knows what one of its formulas evaluates to registers a
Python mirror of it with ``known``; at save time the mirrors are evaluated against the final cell
values and the results are written into the sheet XML as the formulas' cached values (Excel still
recalculates on open: openpyxl sets ``fullCalcOnLoad``).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import posixpath
import re
import weakref
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from xml.parsers import expat
from xml.sax.saxutils import escape as xml_escape

from defusedxml.ElementTree import fromstring as safe_fromstring
from openpyxl.formula.translate import Translator
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from .ooxml import col_letter, col_number, split_ref

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_M = f"{{{MAIN}}}"

# Excel's limits (Microsoft: "Excel specifications and limits"; the data validation dialog).
SHEET_NAME_MAX = 31
SHEET_NAME_FORBIDDEN = set("[]:*?/\\")
DEFINED_NAME_MAX = 255
VALIDATION_FORMULA_MAX = 255
VALIDATION_TITLE_MAX = 32
VALIDATION_ERROR_MAX = 225
VALIDATION_PROMPT_MAX = 255
ROW_HEIGHT_MAX = 409.5
COLUMN_WIDTH_MAX = 255
MAX_ROW, MAX_COL = 1_048_576, 16_384

_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_R1C1 = re.compile(r"^[Rr](\d*)([Cc](\d*))?$|^[Cc](\d*)$")
_NAME = re.compile(r"^[^\W\d.]|^\\")  # first character: a letter, "_" or "\"
_NAME_CHARS = re.compile(r"^[\w.\\]+$")  # then letters, digits, "_", "." and "\"


@dataclass(frozen=True)
class Problem:
    part: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.part}: {self.rule}: {self.detail}"


# -- cached values --------------------------------------------------------------------------------

Getter = Callable[[Worksheet, str], object]
Mirror = Callable[[Getter], object]
# Workbooks built by the project (``own``), with the mirrors of their formulas: (sheet id, cell) ->
# (sheet, the formula as written, mirror).
_OWNED: weakref.WeakKeyDictionary[Workbook, dict[tuple[int, str], tuple[Worksheet, str, Mirror]]] = (
    weakref.WeakKeyDictionary()
)


def own(wb: Workbook) -> Workbook:
    """Mark ``wb`` as built by the project: its save is refused if it breaks a rule."""
    _OWNED.setdefault(wb, {})
    return wb


def owned(wb: Workbook) -> bool:
    return wb in _OWNED


def known(ws: Worksheet, ref: str, mirror: Mirror) -> None:
    """The formula now in ``ws[ref]`` evaluates to ``mirror(get)``, ``get(ws, ref)`` giving any cell's
    value (a formula cell's through its own mirror). Evaluated when the workbook is saved."""
    _OWNED.setdefault(ws.parent, {})[(id(ws), ref)] = (ws, ws[ref].value, mirror)


def excel_number(value: object) -> float | None:
    """The number Excel stores for a cell value (ISNUMBER is true), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return float(to_excel(value))
    return None


class _Unknown(Exception):
    """A formula depends on a formula whose value we do not know."""


_ABSENT = object()


def cached_values(
    wb: Workbook, values: Mapping[tuple[str, str], object] | None = None
) -> dict[str, dict[str, object]]:
    """Sheet title -> cell -> value of every registered formula still as it was written (a formula
    changed since, or depending on a formula without a mirror, gets no cached value).

    ``values`` ((sheet title, cell) -> value) stand in for those cells' own: the results of the
    workbook's formulas when its cells hold these values instead (a template written again for
    other values at the XML level, ``templates.Prebuilt``); a formula cell given a value is a value."""
    mirrors = _OWNED.get(wb, {})
    memo: dict[tuple[int, str], object] = {}
    given = values or {}

    def get(ws: Worksheet, ref: str) -> object:
        value = given.get((ws.title, ref), _ABSENT)
        if value is not _ABSENT:
            return value
        cell = ws._cells.get(split_ref(ref))  # (ws[ref] would make a cell for an empty reference)
        if cell is None:
            return None
        if cell.data_type != "f":
            return cell.value
        key = (id(ws), ref)
        entry = mirrors.get(key)
        if entry is None or entry[1] != cell.value:
            raise _Unknown(ref)
        if key not in memo:
            memo[key] = _Unknown  # a cycle: unknown
            memo[key] = entry[2](get)
        if memo[key] is _Unknown:
            raise _Unknown(ref)
        return memo[key]

    out: dict[str, dict[str, object]] = {}
    sheets = {id(ws) for ws in wb.worksheets}
    for (key, ref), (ws, _formula, _mirror) in mirrors.items():
        if key in sheets and (ws.title, ref) not in given:
            try:
                out.setdefault(ws.title, {})[ref] = get(ws, ref)
            except _Unknown:
                continue
    return out


def _cached(value: object) -> tuple[str | None, str]:
    """(t attribute, <v> text) of a cached formula result."""
    if value is None:
        return "str", ""
    if isinstance(value, bool):
        return "b", "1" if value else "0"
    number = excel_number(value)
    if number is not None:
        if not math.isfinite(number):
            return "e", "#NUM!"
        return None, repr(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return "str", str(value)


def write_cached(data: bytes, values: dict[str, dict[str, object]]) -> bytes:
    """The package ``data`` with ``values`` (sheet title -> cell -> value) as cached formula results."""
    return edit_sheets(data, {title: functools.partial(with_cached, cells=cells) for title, cells in values.items()})


def edit_sheets(data: bytes, edits: dict[str, Callable[[bytes], bytes]]) -> bytes:
    """The package ``data`` with the XML of each sheet titled in ``edits`` passed through its
    function (``bytes -> bytes``); every other part kept byte for byte. One pass over the zip."""
    if not edits:
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        parts = _sheet_parts(zin)
        by_part = {parts[title]: fn for title, fn in edits.items() if title in parts}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                raw = zin.read(info)
                if info.filename in by_part:
                    raw = by_part[info.filename](raw)
                zout.writestr(info, raw, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def with_cached(xml: bytes, cells: dict[str, object]) -> bytes:
    """``xml`` with the cells' cached results spliced in; every other byte is kept as written."""
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement), byte offsets
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    open_cell: dict | None = None

    def local(name: str) -> str:
        return name.rpartition(":")[2]

    def start(name: str, attrs: list[str]) -> None:
        nonlocal open_cell
        at = parser.CurrentByteIndex
        if local(name) == "c":
            pairs = list(zip(attrs[::2], attrs[1::2], strict=True))
            ref = dict(pairs).get("r")
            open_cell = {"name": name, "at": at, "attrs": pairs, "first": None, "v": None, "f": False}
            if ref not in cells:
                open_cell = None
            if open_cell is not None:
                open_cell["ref"] = ref
        elif open_cell is not None:
            if open_cell["first"] is None:
                open_cell["first"] = at
            if local(name) == "v":
                open_cell["v"] = (name, at)
            elif local(name) == "f":
                open_cell["f"] = True

    def end(name: str) -> None:
        nonlocal open_cell
        if open_cell is None:
            return
        at = parser.CurrentByteIndex
        if local(name) == "v" and open_cell["v"] is not None and len(open_cell["v"]) == 2:
            vname, v_at = open_cell["v"]
            open_cell["v"] = (vname, v_at, xml.index(b">", at) + 1)
        elif local(name) == "c":
            _splice_cell(xml, open_cell, at, cells[open_cell["ref"]], edits)
            open_cell = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(xml, True)
    out = bytearray(xml)
    for start_at, end_at, text in sorted(edits, reverse=True):
        out[start_at:end_at] = text
    return bytes(out)


def cached_formula(head: bytes, formula: bytes, value: object) -> bytes:
    """The ``<c>`` element :func:`with_cached` makes of a formula cell openpyxl wrote as ``head``
    (``<c r="…" s="…"``, no ``t``), its ``<f>`` element ``formula`` and an empty ``<v>``, caching
    ``value``."""
    t, text = _cached(value)
    kind = f' t="{xml_escape(t, _QUOTE)}"'.encode() if t is not None else b""
    return b"".join((head, kind, b">", formula, b"<v>", xml_escape(text).encode(), b"</v></c>"))


def _splice_cell(xml: bytes, cell: dict, end_at: int, value: object, edits: list) -> None:
    if not cell["f"]:  # no longer a formula: nothing to cache
        return
    t, text = _cached(value)
    attrs = [(k, v) for k, v in cell["attrs"] if k != "t"]
    if t is not None:
        attrs.append(("t", t))
    head = "<" + cell["name"] + "".join(f' {k}="{xml_escape(v, _QUOTE)}"' for k, v in attrs) + ">"
    edits.append((cell["at"], xml.rindex(b">", cell["at"], cell["first"]) + 1, head.encode("utf-8")))
    prefix = cell["name"][: -len("c")]
    if cell["v"] is not None:
        vname, v_at, v_end = cell["v"]
        edits.append((v_at, v_end, f"<{vname}>{xml_escape(text)}</{vname}>".encode()))
    else:
        edits.append((end_at, end_at, f"<{prefix}v>{xml_escape(text)}</{prefix}v>".encode()))


_QUOTE = {'"': "&quot;"}


# -- the checker ---------------------------------------------------------------------------------


def problems(source: str | bytes | io.BytesIO | object, cells: bool = True) -> list[Problem]:
    """Every structural rule the written package ``source`` (path, bytes or file) breaks.

    ``cells=False`` leaves out the cells' own rule (a cached value for each formula), which needs
    every cell of every sheet parsed: 1.5 s for a province workbook, too slow for each save. Row
    heights are still checked."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with zipfile.ZipFile(source) as zf:
        names = set(zf.namelist())
        return package_problems(lambda part: zf.read(part) if part in names else None, cells)


def package_problems(read: Callable[[str], bytes | None], cells: bool = True) -> list[Problem]:
    """:func:`problems` of a package whose parts ``read(name)`` gives (None for a missing part):
    a writer checks the XML it has just written without reading its zip back."""
    book_xml = read("xl/workbook.xml") or b""
    found: list[Problem] = list(_book_problems(book_xml))
    book = safe_fromstring(book_xml)
    for title, part in _part_names(book, safe_fromstring(read("xl/_rels/workbook.xml.rels") or b"")).items():
        xml = read(part)
        if xml is not None:
            found += [Problem(f"{part} ({title})", r, d) for r, d in _sheet_problems(xml, cells)]
    return found


@functools.lru_cache(maxsize=16)
def _book_problems(xml: bytes) -> tuple[Problem, ...]:
    book = safe_fromstring(xml)
    return (*_sheet_names(book), *_defined_names(book))


def _sheet_parts(zf: zipfile.ZipFile, book: ET.Element | None = None) -> dict[str, str]:
    """Sheet title -> part name of every worksheet, from the workbook and its relationships."""
    if book is None:
        book = safe_fromstring(zf.read("xl/workbook.xml"))
    return _part_names(book, safe_fromstring(zf.read("xl/_rels/workbook.xml.rels")))


def _part_names(book: ET.Element, rels: ET.Element) -> dict[str, str]:
    targets = {}
    for rel in rels.iter(f"{{{PKG_REL}}}Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = path
    out = {}
    for sheet in book.iter(f"{_M}sheet"):
        part = targets.get(sheet.get(f"{{{REL}}}id"), "")
        if part.startswith("xl/worksheets/"):
            out[sheet.get("name", "")] = part
    return out


def _sheet_names(book: ET.Element) -> Iterator[Problem]:
    sheets = list(book.iter(f"{_M}sheet"))
    seen: set[str] = set()
    for s in sheets:
        name = s.get("name", "")
        bad = sorted(SHEET_NAME_FORBIDDEN & set(name))
        if not name or len(name) > SHEET_NAME_MAX:
            yield Problem("xl/workbook.xml", "sheet-name-length", f"«{name}» has {len(name)} characters")
        if bad or name.startswith("'") or name.endswith("'") or name.casefold() == "history":
            yield Problem("xl/workbook.xml", "sheet-name-illegal", f"«{name}»")
        if name.casefold() in seen:
            yield Problem("xl/workbook.xml", "sheet-name-duplicate", f"«{name}»")
        seen.add(name.casefold())
    visible = [i for i, s in enumerate(sheets) if s.get("state", "visible") == "visible"]
    if sheets and not visible:
        yield Problem("xl/workbook.xml", "no-visible-sheet", "every sheet is hidden")
    view = book.find(f"{_M}bookViews/{_M}workbookView")
    active = int(view.get("activeTab", "0")) if view is not None else 0
    if sheets and active not in visible:
        yield Problem("xl/workbook.xml", "active-sheet-hidden", f"activeTab={active}")


def name_is_legal(name: str) -> bool:
    """Excel's rules for a defined name (built-in ``_xlnm.`` names included)."""
    if not name or len(name) > DEFINED_NAME_MAX or not _NAME.match(name):
        return False
    if not _NAME_CHARS.match(name):
        return False
    if name.casefold() in ("r", "c") or _R1C1.match(name):
        return False
    m = _CELL_REF.match(name)
    if m is not None:
        col = col_number(m.group(1).upper())
        if col <= MAX_COL and 1 <= int(m.group(2)) <= MAX_ROW:
            return False
    return True


def _defined_names(book: ET.Element) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for dn in book.iter(f"{_M}definedName"):
        name, scope = dn.get("name", ""), dn.get("localSheetId", "")
        if not name_is_legal(name):
            yield Problem("xl/workbook.xml", "defined-name-illegal", f"«{name}»")
        if (name.casefold(), scope) in seen:
            yield Problem("xl/workbook.xml", "defined-name-duplicate", f"«{name}»")
        seen.add((name.casefold(), scope))
        if not (dn.text or "").strip():
            yield Problem("xl/workbook.xml", "defined-name-empty", f"«{name}»")


Rect = tuple[int, int, int, int]  # min_row, min_col, max_row, max_col


def _rect(ref: str) -> Rect:
    ends = []
    for part in ref.replace("$", "").split(":"):
        m = re.match(r"^([A-Za-z]{1,3})?(\d+)?$", part)
        if m is None or not (m.group(1) or m.group(2)):
            raise ValueError(ref)
        col = col_number((m.group(1) or "").upper())
        ends.append((int(m.group(2)) if m.group(2) else 0, col))
    (r1, c1), (r2, c2) = ends[0], ends[-1]
    # whole columns ("A:A") or rows ("1:1")
    r1, r2 = (r1 or 1), (r2 or MAX_ROW)
    c1, c2 = (c1 or 1), (c2 or MAX_COL)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _rects(sqref: str) -> list[Rect]:
    return [_rect(r) for r in sqref.split()]


def _meet(a: Rect, b: Rect) -> Rect | None:
    r1, c1, r2, c2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (r1, c1, r2, c2) if r1 <= r2 and c1 <= c2 else None


def _first_meet(a: Iterable[Rect], b: Iterable[Rect]) -> tuple[int, int] | None:
    b = list(b)
    cells = [m for x in a for y in b if (m := _meet(x, y)) is not None]
    return min((m[0], m[1]) for m in cells) if cells else None


def _ref(row: int, col: int) -> str:
    return f"{col_letter(col)}{row}"


@dataclass
class _CfRule:
    rects: list[Rect]
    signature: tuple
    formulas: list[str]
    sqref: str


class _SheetScan:
    """One pass of expat over a worksheet part (no element tree: sheets can hold 100,000 cells)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []
        self.validations: list[tuple[str, list[Rect]]] = []
        self.cf_rules: list[_CfRule] = []
        self.merges: list[tuple[str, list[Rect]]] = []
        self.cell: dict | None = None  # the <c> being read: ref, t, has f, v text
        self.text: list[str] | None = None  # characters of the element being collected
        self.dv: tuple[str, dict] | None = None
        self.cf_sqref = ""
        self.rule: dict | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        handler = _STARTS.get(name)
        if handler is not None:
            handler(self, attrs)
        elif self.rule is not None:  # the parts of a rule other than its formulas (dxf, colours...)
            self.rule["rest"].append((name, tuple(sorted(attrs.items()))))

    def end(self, name: str) -> None:
        handler = _ENDS.get(name)
        if handler is not None:
            handler(self)

    def chars(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def _c(self, attrs: dict[str, str]) -> None:
        self.cell = {"r": attrs.get("r", "?"), "t": attrs.get("t"), "f": False, "v": ""}

    def _f(self, attrs: dict[str, str]) -> None:
        if self.cell is not None:
            self.cell["f"] = True

    def _collect(self, attrs: dict[str, str]) -> None:
        self.text = []

    def _row(self, attrs: dict[str, str]) -> None:
        ht = attrs.get("ht")
        if ht is not None and float(ht) > ROW_HEIGHT_MAX:
            self.found.append(("row-too-tall", f"row {attrs.get('r')}: {ht} pt"))

    def _col(self, attrs: dict[str, str]) -> None:
        width = attrs.get("width")
        if width is not None and float(width) > COLUMN_WIDTH_MAX:
            self.found.append(("column-too-wide", f"columns {attrs.get('min')}-{attrs.get('max')}: {width}"))

    def _merge(self, attrs: dict[str, str]) -> None:
        ref = attrs.get("ref", "")
        rect = _rect(ref)
        if rect[0] == rect[2] and rect[1] == rect[3]:
            self.found.append(("merge-single-cell", ref))
        self.merges.append((ref, [rect]))

    def _dv(self, attrs: dict[str, str]) -> None:
        sqref = attrs.get("sqref", "")
        self.validations.append((sqref, _rects(sqref)))
        self.dv = (sqref, attrs)
        for attr, limit in (("errorTitle", VALIDATION_TITLE_MAX), ("promptTitle", VALIDATION_TITLE_MAX),
                            ("error", VALIDATION_ERROR_MAX), ("prompt", VALIDATION_PROMPT_MAX)):  # fmt: skip
            if len(attrs.get(attr, "")) > limit:
                self.found.append(("validation-text-too-long", f"{sqref}: {attr} has {len(attrs[attr])} characters"))

    def _cf(self, attrs: dict[str, str]) -> None:
        self.cf_sqref = attrs.get("sqref", "")

    def _rule(self, attrs: dict[str, str]) -> None:
        self.rule = {"attrs": tuple(sorted((k, v) for k, v in attrs.items() if k != "priority")),
                     "rest": [], "formulas": []}  # fmt: skip

    def _rule_formula(self, attrs: dict[str, str]) -> None:
        if self.rule is not None:
            self.text = []

    def _end_v(self) -> None:
        if self.cell is not None and self.text is not None:
            self.cell["v"] = "".join(self.text)
        self.text = None

    def _end_c(self) -> None:
        c = self.cell
        if c is not None and c["f"] and c["t"] not in ("str", "b", "e") and not c["v"]:
            self.found.append(("formula-without-cached-value", c["r"]))
        self.cell = None

    def _end_dv_formula(self) -> None:
        if self.dv is not None and self.text is not None:
            text = "".join(self.text)
            if len(text) > VALIDATION_FORMULA_MAX:
                self.found.append(("validation-formula-too-long", f"{self.dv[0]}: {len(text)} characters"))
        self.text = None

    def _end_dv(self) -> None:
        self.dv = None

    def _end_rule_formula(self) -> None:
        if self.rule is not None and self.text is not None:
            self.rule["formulas"].append("".join(self.text))
        self.text = None

    def _end_rule(self) -> None:
        r = self.rule
        if r is not None:
            self.cf_rules.append(_CfRule(_rects(self.cf_sqref), (r["attrs"], tuple(r["rest"])), r["formulas"],
                                         self.cf_sqref))  # fmt: skip
        self.rule = None


_STARTS = {f"{MAIN} {tag}": fn for tag, fn in (
    ("c", _SheetScan._c), ("f", _SheetScan._f), ("v", _SheetScan._collect), ("row", _SheetScan._row),
    ("col", _SheetScan._col), ("mergeCell", _SheetScan._merge), ("dataValidation", _SheetScan._dv),
    ("formula1", _SheetScan._collect), ("formula2", _SheetScan._collect), ("conditionalFormatting", _SheetScan._cf),
    ("cfRule", _SheetScan._rule), ("formula", _SheetScan._rule_formula))}  # fmt: skip
_ENDS = {f"{MAIN} {tag}": fn for tag, fn in (
    ("v", _SheetScan._end_v), ("c", _SheetScan._end_c), ("formula1", _SheetScan._end_dv_formula),
    ("formula2", _SheetScan._end_dv_formula), ("dataValidation", _SheetScan._end_dv),
    ("formula", _SheetScan._end_rule_formula), ("cfRule", _SheetScan._end_rule))}  # fmt: skip


_ROW_TAG = re.compile(rb"<row\b[^>]*>")
_ATTR = re.compile(rb'\s(r|ht)="([^"]*)"')


def _sheet_problems(xml: bytes, cells: bool = True) -> list[tuple[str, str]]:
    start, end = xml.find(b"<sheetData"), xml.rfind(b"</sheetData>")
    if cells or not 0 <= start < end:  # (unprefixed markup, as openpyxl writes it; else parse it all)
        return _scan(xml)
    heights = _SheetScan()
    for tag in _ROW_TAG.findall(xml, start, end):
        if b' ht="' in tag:
            heights._row({k.decode(): v.decode() for k, v in _ATTR.findall(tag)})
    return heights.found + list(_structure(xml[:start] + b"<sheetData/>" + xml[end + len(b"</sheetData>") :]))


@functools.lru_cache(maxsize=64)
def _structure(xml: bytes) -> tuple[tuple[str, str], ...]:
    """A sheet without its cells: the same bytes at every save of one template, so checked once."""
    return tuple(_scan(xml))


def _scan(xml: bytes) -> list[tuple[str, str]]:
    scan = _SheetScan()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.chars
    parser.EntityDeclHandler = _no_entities
    parser.Parse(xml, True)
    return [
        *scan.found,
        *_overlaps("merged-ranges-overlap", scan.merges),
        *_overlaps("cell-under-two-validations", scan.validations),
        *_duplicate_formats(scan.cf_rules),
    ]


def _no_entities(*_args) -> None:
    raise ValueError("entity declarations are not allowed in a workbook part")


def _overlaps(rule: str, items: list[tuple[str, list[Rect]]]) -> Iterator[tuple[str, str]]:
    for i, (ref_a, rects_a) in enumerate(items):
        for ref_b, rects_b in items[i + 1 :]:
            cell = _first_meet(rects_a, rects_b)
            if cell is not None:
                yield rule, f"{ref_a} and {ref_b} share {_ref(*cell)}"


def _duplicate_formats(rules: list[_CfRule]) -> Iterator[tuple[str, str]]:
    """Two rules with the same format and, at a cell both cover, the same formula."""
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            if a.signature != b.signature or len(a.formulas) != len(b.formulas):
                continue
            cell = _first_meet(a.rects, b.rects)
            if cell is None:
                continue
            at = _ref(*cell)
            if all(_at(fa, a.rects, at) == _at(fb, b.rects, at) for fa, fb in zip(a.formulas, b.formulas, strict=True)):
                yield "duplicate-conditional-format", f"{a.sqref} and {b.sqref} at {at}"


def _at(formula: str, rects: list[Rect], cell: str) -> str:
    """A conditional format formula as evaluated at ``cell`` (its relative references moved there)."""
    anchor = _ref(min(r[0] for r in rects), min(r[1] for r in rects))
    try:
        return Translator("=" + formula, origin=anchor).translate_formula(cell)
    except Exception:  # a formula the translator cannot parse compares as written
        return formula
