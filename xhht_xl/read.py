"""Read one received workbook into a :class:`Submission`, safely and fast.

Order: the intake gate (``safety.inspect``: size, zip bomb, encryption, disguised formats); for
.xlsx/.xlsm each worksheet part is checked by ``ooxml.scan_sheet`` (formula cells; a canonical copy
when python-calamine would misread or over-allocate the original); python-calamine for cell values
(.xlsx/.xlsm/.xls/.ods, ~10x faster than openpyxl), never asked for more than ``ooxml.BOUND`` of
any sheet; the workbook XML (defusedxml) for defined names. Cells are found by defined name first,
then by the row labels (indicator codes, outline items) when names were lost or rows inserted,
then at the layout's own address. A formula typed into an input cell is evaluated
(``formula.py``), its cached value never trusted. Sender text is cleaned here, once
(``cleaning.clean_cell``). Nothing is judged here except how a cell parses and what lies where
the template has no cell: ``checks.py`` turns entries into issues.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from python_calamine import CalamineWorkbook

from . import cleaning, messages, ooxml, safety, textnorm
from . import formula as formula_mod
from . import layout as layout_mod
from .issues import Issue, make
from .layout import Layout, col_letter, col_number
from .plan import Plan
from .submission import (
    AMBIGUOUS,
    EMPTY,
    INVALID,
    LEGACY,
    NA,
    NOT_APPLICABLE,
    OK,
    TEXT_NUMBER,
    Entry,
    FormulaCell,
    Submission,
)

ROLES = ("guide", "unit", "results", "funding", "awards", "narrative")
READ_ROLES = ("unit", "results", "funding", "awards", "narrative")
# Which column of each sheet holds the label that identifies a row (survives inserted rows).
ANCHOR_COL = {"unit": 1, "results": 2, "funding": 2, "narrative": 1, "awards": 1}
_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")
_UNIT_CODE = re.compile(r"^\s*([0-9A-Za-z_]+)\s*(?:[-–—:]|$)")
_LISTED = 5  # cells or rows named in one message before "…"
QUOTED = 60  # characters of a sender's text a message quotes (it names the cell, which holds the rest)
# Errors python-calamine may raise for damaged content, including pyo3's PanicException (a
# BaseException): everything but the interpreter's own exits.
_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)
# A sheet's part larger than this (inflated) is not prefetched by a Book: a sheet nobody reads
# (a clerk's own, a large list) is then never inflated. The templates' largest is ~90 KB.
PREFETCH_MAX = 2 * 1024 * 1024


def read(
    path: str | Path,
    plan: Plan,
    *,
    file: str | None = None,
    limits: safety.Limits | None = None,
    data: bytes | None = None,
) -> Submission:
    """Read ``path`` into a :class:`Submission` (entries keyed as in ``layout``, with the issues met
    while reading). Raises ``safety.UnreadableFile`` (one Vietnamese line) if it cannot be read at
    all. Only the bytes ``safety.inspect`` read and hashed (or ``data``, read by the caller with
    ``safety.read_bounded``) are parsed: the file is opened once."""
    path = Path(path)
    limits = limits or safety.Limits()
    info = safety.inspect(path, limits, data=data)
    label = file or path.name
    sub = Submission(
        path=path,
        file=label,
        kind=info.kind,
        sha256=info.sha256,
        size=info.size,
        has_macros=info.has_macros,
        external_links=list(info.external_links),
        # macros and links become their own issues; the other notes are kept as they are
        notes=[n for n in info.notes if n not in _flag_notes(info)],
    )
    book = Book(info, limits, prefetch=[s for s in info.sheet_parts if s in _read_sheets(plan)])
    _Reader(sub, plan, book).run()
    sub.sent_up = _sent_up(book, info, limits)
    return sub


@cache
def _read_sheets(plan: Plan) -> frozenset[str]:
    """The sheets :class:`_Reader` reads of any template and layout version of ``plan`` (``_meta``
    included, the guide and the lists not): what :func:`read` has its Book scan up front. A sheet
    the sender renamed is scanned when read."""
    return frozenset(
        layout_mod.build(plan, template, version).sheets[role]
        for template in ("chung", "so_nganh")
        for version in layout_mod.SUPPORTED_VERSIONS
        for role in (*READ_ROLES, "meta")
    )


# The sheets of a consolidated workbook written by xhht_xl that the level above reads back, and how
# much of each: «Chi tiết» (outputs.read_detail: the communes' figures reach the province through the
# districts' workbooks) and the very hidden ``_coverage`` (coverage.read).
COVERAGE_SHEET = "_coverage"
COVERAGE_BOUND = (500_000, 16)  # far beyond a country's units x figures; a figure row has 13 cells
DETAIL_BOUND = (200_000, 12)  # a national plan's district: ~10,000 rows; outputs.DETAIL_COLUMNS + 1


def sent_up_bounds() -> dict[str, tuple[int, int]]:
    """``{sheet name: (rows, columns) read}`` of the sheets a consolidated workbook carries up."""
    return {T("out.sheet-detail"): DETAIL_BOUND, COVERAGE_SHEET: COVERAGE_BOUND}


def _sent_up(book: Book, info: safety.FileInfo, limits: safety.Limits) -> dict[str, list[list] | None]:
    """The values of the sheets in :func:`sent_up_bounds` this workbook has, read while its bytes
    are at hand (in the intake worker that read the file, not once more by the consolidation):
    exactly what :func:`sheet_rows` returns for each (None: damaged)."""
    bounds = {s: b for s, b in sent_up_bounds().items() if s in book.sheet_names}
    if not bounds:
        return {}
    if not book.ooxml or any(s in book.scans or s in book.grids for s in bounds):
        # .xls and .ods are cut to their bounds when the book is made; a sheet already read was cut
        # to the reader's: a book of their own, as sheet_rows makes
        try:
            book = Book(info, limits, bounds, prefetch=bounds)
        except safety.UnreadableFile:
            return dict.fromkeys(bounds)
    else:
        book.bounds.update(bounds)  # an .xlsx sheet is cut when it is first scanned
    out: dict[str, list[list] | None] = {}
    for sheet, (rows, columns) in bounds.items():
        try:
            grid = book.grid(sheet)
        except safety.UnreadableFile:
            out[sheet] = None
            continue
        out[sheet] = [line[:columns] for line in grid[:rows]]
    return out


def output_marks(data: bytes, limits: safety.Limits | None = None) -> dict[str, str]:
    """The ``xhht_*`` custom document properties this tool writes into its own outputs
    (``fileio.mark_output``), from a package's bytes; {} when there are none or it is no package.
    Cheap for other files: the member's name is looked for in the bytes first."""
    if b"docProps/custom.xml" not in data:
        return {}
    limits = limits or safety.Limits()
    out: dict[str, str] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for prop in safety.safe_xml(zf, "docProps/custom.xml", limits.max_xml_bytes):
                name = prop.get("name", "")
                if name.startswith("xhht_") and len(prop):
                    out[name] = _clean(prop[0].text or "")
    except (zipfile.BadZipFile, KeyError, OSError, safety.UnreadableFile):
        return {}
    return out


class Book:
    """The cells of an accepted workbook, from python-calamine, bounded by ``ooxml.BOUND``.

    For .xlsx/.xlsm every worksheet part is scanned before calamine sees it (``ooxml.scan_sheet``);
    a part it would misread or over-allocate is replaced by its canonical form in an in-memory copy
    of the package. Cells cut that held data are listed in ``far[sheet]``.

    ``prefetch``: sheets scanned before python-calamine opens the package (.xlsx/.xlsm, parts up to
    :data:`PREFETCH_MAX`), which is then given their inflated bytes, stored: the scan had to inflate
    them, and python-calamine would inflate them again (~0.25 ms of a commune workbook's ~1.6 ms
    read). A prefetched sheet that cannot be scanned is left to be scanned, and to fail, when read.
    Other sheets are scanned when first read.
    """

    def __init__(
        self,
        info: safety.FileInfo,
        limits: safety.Limits,
        bounds: dict[str, tuple[int, int]] | None = None,
        prefetch: Iterable[str] = (),
    ):
        self.info, self.limits = info, limits
        self.bounds = bounds or {}  # sheet -> (rows, columns) read, instead of ooxml.BOUND
        self.path = info.path
        self.ooxml = info.kind in ("xlsx", "xlsm")
        self.zf = (info.zip or zipfile.ZipFile(io.BytesIO(info.data))) if self.ooxml else None
        self.replaced: dict[str, bytes] = {}  # part -> canonical form (for python-calamine)
        self.inflated: dict[str, bytes] = {}  # part -> its bytes as the scan read them
        self.scans: dict[str, ooxml.SheetScan] = {}
        self.far: dict[str, list[str]] = {}
        self.grids: dict[str, list[list]] = {}
        self._formulas: dict[str, dict[str, ooxml.Formula]] = {}
        self.wb: CalamineWorkbook | None = None
        if self.ooxml:
            sheets = set(info.sheet_parts.values())
            for part in info.non_utf8:  # parts calamine would misread: re-encoded as UTF-8
                if part not in sheets:
                    try:  # a part calamine does not read may stay as it is, even damaged
                        self.replaced[part] = ooxml.canonical_xml(self._part(part))
                    except ooxml.PartError:
                        pass
            for part, head in info.workbook_head.items():  # its sheets, without the defined names
                self.replaced.setdefault(part, head)
            for sheet in prefetch:
                part = info.sheet_parts.get(sheet)
                member = self.zf.NameToInfo.get(part) if part is not None else None
                if member is not None and member.file_size <= PREFETCH_MAX:
                    try:
                        self.scan(sheet)
                    except safety.UnreadableFile:
                        pass
        self.data = info.data
        if info.kind == "xls" and info.data:  # cut far cells before calamine allocates up to them
            patched, far = safety.xls_bound(info.data, ooxml.BOUND, self.bounds)
            self.data = patched or info.data
            self.far.update(far)
        elif info.kind == "ods" and info.data:
            zf = info.zip or zipfile.ZipFile(io.BytesIO(info.data))
            content = self._guard(
                lambda: ooxml.odf_bound(self._part("content.xml", zf), ooxml.BOUND, self.bounds)
            )
            if content[0] is not None:
                self.data = ooxml.rebuild(zf, {"content.xml": content[0]})
            self.far.update(content[1])
        self.wb = self._open()
        try:
            self.sheet_names = list(self.wb.sheet_names)
        except BaseException as exc:
            if isinstance(exc, _EXITS):
                raise
            raise safety.UnreadableFile("file-corrupt", self.path) from None

    def _open(self) -> CalamineWorkbook:
        try:
            data = self.data
            if self.replaced or self.inflated:
                data = ooxml.rebuild(self.zf, self.replaced, inflated=self.inflated)
            if data:
                return CalamineWorkbook.from_filelike(io.BytesIO(data))
            return CalamineWorkbook.from_path(str(self.path))
        except BaseException as exc:
            if isinstance(exc, _EXITS):
                raise
            raise safety.UnreadableFile("file-corrupt", self.path) from None

    def _part(self, part: str, zf: zipfile.ZipFile | None = None) -> bytes:
        return safety.read_member(zf or self.zf, part, self.limits.max_xml_bytes, str(self.path))

    def _guard(self, fn):
        try:
            return fn()
        except ooxml.PartError as exc:
            raise safety.UnreadableFile(exc.code, self.path) from None

    def scan(self, sheet: str) -> ooxml.SheetScan | None:
        """The scan of a sheet's part (.xlsx/.xlsm), None for other formats or an unknown part."""
        if not self.ooxml:
            return None
        if sheet not in self.scans:
            part = self.info.sheet_parts.get(sheet)
            if part is None or part not in self.zf.NameToInfo:
                return None
            bound = self.bounds.get(sheet, ooxml.BOUND)
            data = self._part(part)
            scan = self._guard(lambda: ooxml.scan_sheet(data, bound))
            self.scans[sheet] = scan
            if scan.far:
                self.far[sheet] = scan.far
            if scan.canonical is not None:
                self.replaced[part] = scan.canonical
                if self.wb is not None:
                    self.wb = self._open()
            else:
                self.inflated[part] = data
            if scan.formulas is not None:
                self._formulas[sheet] = scan.formulas
        return self.scans[sheet]

    def formula_refs(self, sheet: str) -> frozenset[str] | None:
        """Cells of ``sheet`` holding a formula; None when the format does not tell (.xls, .ods)."""
        scan = self.scan(sheet)
        return None if scan is None else scan.formula_refs

    def formulas(self, sheet: str) -> dict[str, ooxml.Formula]:
        """Every formula of a sheet with its text (parsed on first use: few files need it)."""
        if sheet not in self._formulas:
            part = self.info.sheet_parts.get(sheet)
            found = {}
            if self.ooxml and part is not None:
                data = self.inflated.get(part)
                found = self._guard(lambda: ooxml.formula_texts(data if data is not None else self._part(part)))
            self._formulas[sheet] = found
        return self._formulas[sheet]

    def grid(self, sheet: str) -> list[list]:
        grid = self.grids.get(sheet)
        if grid is None:
            self.scan(sheet)
            try:
                grid = self.wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except BaseException as exc:
                if isinstance(exc, _EXITS):
                    raise
                raise safety.UnreadableFile("file-corrupt", self.path) from None
            self.grids[sheet] = grid
        return grid


def sheet_rows(
    path: str | Path,
    sheet: str,
    *,
    bound: tuple[int, int],
    limits: safety.Limits | None = None,
    data: bytes | None = None,
) -> list[list] | None:
    """The values of one sheet of a workbook this tool may read (through the intake gate), at most
    ``bound`` = (rows, columns) of them (also before python-calamine runs); None when the file cannot
    be read or has no such sheet. ``data``: the file's bytes, already read (``path`` then names it)."""
    limits = limits or safety.Limits()
    try:
        book = Book(safety.inspect(path, limits, data=data), limits, {sheet: bound}, [sheet])
        if sheet not in book.sheet_names:
            return None
        rows = book.grid(sheet)
    except safety.UnreadableFile:
        return None
    return [line[: bound[1]] for line in rows[: bound[0]]]


class _Reader:
    def __init__(self, sub: Submission, plan: Plan, book: Book):
        self.sub, self.plan, self.book = sub, plan, book
        self.sheet_names = book.sheet_names
        self.grids = book.grids
        self.actual: dict[str, str] = {}  # role -> sheet name in this file
        self.row_maps: dict[str, dict[int, int]] = {}
        self.sorted_anchors: dict[str, list[int]] = {}
        self.names: dict[str, tuple[str, str]] = {}
        self.moved = False
        self.evaluating: list[tuple[str, str]] = []  # formula cells being evaluated (cycles)
        self.evaluated: dict[tuple[str, str], object] = {}

    def issue(self, code: str, /, sheet: str = "", cell: str = "", **values) -> None:
        values = {k: (_clean(v) if isinstance(v, str) else v) for k, v in values.items()}
        self.sub.issues.append(make(code, file=self.sub.file, sheet=_clean(sheet), cell=cell, **values))

    def grid(self, sheet: str) -> list[list]:
        return self.grids.get(sheet) or self.book.grid(sheet)

    def at(self, sheet: str, row: int, col: int) -> object:
        grid = self.grids.get(sheet)
        if grid is None:
            grid = self.book.grid(sheet)
        if 0 < row <= len(grid):
            line = grid[row - 1]
            if 0 < col <= len(line):
                return line[col - 1]
        return ""

    # -- steps ---------------------------------------------------------------------------
    def run(self) -> None:
        sub = self.sub
        lay = self.identify()
        if lay is None:
            return
        if not self.resolve_sheets(lay):
            return
        for role in READ_ROLES:
            if role in self.actual:
                self.row_maps[role] = self.map_rows(lay, role)
        moved = self.check_labels(lay) or any(r != a for m in self.row_maps.values() for r, a in m.items())
        self.moved = moved
        if moved and sub.kind != "xls":
            # Labels moved (rows or columns inserted): the defined names, which Excel and
            # LibreOffice keep pointing at the right cells, decide. Untouched files skip this parse.
            self.names = safety.defined_names(
                sub.path, sub.kind, limits=self.book.limits, data=self.book.info.data
            )
            if not any(n in self.names for n in ("DV_UNIT", "KP_KP_NSDP_TONG")):
                self.issue("names-lost")
        self.read_inputs(lay)
        self.read_formulas(lay)
        self.read_unit()
        self.check_extent(lay)

    def identify(self) -> Layout | None:
        """Template id, version and level from ``_meta``; else recognise the layout by its sheets."""
        sub, plan = self.sub, self.plan
        meta: dict[str, str] = {}
        if "_meta" in self.sheet_names:
            for row in self.grid("_meta"):
                if len(row) >= 2 and isinstance(row[0], str) and row[0]:
                    meta[row[0].strip()] = _clean(_as_text(row[1]))
        template_id = meta.get("template_id", "")
        parts = template_id.split("/")
        if len(parts) == 3 and parts[0] == "xhht":
            sub.plan_id, sub.template = parts[1], parts[2]
            if sub.plan_id != plan.id:
                self.issue("template-other-plan", plan=sub.plan_id, expected=plan.id)
                sub.template = ""
                return None
        else:
            sub.template = self.guess_template()
            if not sub.template:
                self.issue("template-unknown")
                return None
            self.issue("meta-missing")
        sub.template_id = template_id or f"xhht/{plan.id}/{sub.template}"
        sub.template_version = meta.get("template_version", "")
        sub.level = meta.get("level", "")
        sub.meta_unit = meta.get("unit", "")
        try:
            sub.layout_version = int(float(meta.get("layout_version") or layout_mod.VERSION))
        except ValueError:
            sub.layout_version = layout_mod.VERSION
        if sub.layout_version not in layout_mod.SUPPORTED_VERSIONS or sub.template not in (
            "chung",
            "so_nganh",
        ):
            self.issue("template-unknown")
            sub.template = ""
            return None
        if sub.template_version and sub.template_version != plan.settings.template_version:
            self.issue(
                "template-version", version=sub.template_version, current=plan.settings.template_version
            )
        return layout_mod.build(plan, sub.template, sub.layout_version)

    def guess_template(self) -> str:
        """Without ``_meta``: our results sheet with indicator codes in its code column."""
        lay = layout_mod.build(self.plan, "chung")
        results = lay.sheets["results"]
        if results not in self.sheet_names:
            return ""
        codes = {_as_text(r[lay.code_col - 1]) for r in self.grid(results) if len(r) >= lay.code_col}
        if len(codes & set(lay.result_rows)) < len(lay.result_rows) // 2:
            return ""
        narrative = lay.sheets["narrative"]
        if narrative in self.sheet_names:
            items = {_as_text(r[0]) for r in self.grid(narrative) if r}
            if layout_mod.TOPIC_ITEM in items:
                return "so_nganh"
        return "chung"

    def resolve_sheets(self, lay: Layout) -> bool:
        expected = {lay.sheets[r] for r in ROLES}
        for index, role in enumerate(ROLES):
            name = lay.sheets[role]
            if name in self.sheet_names:
                self.actual[role] = name
                continue
            # renamed: the sheet at the same position, if it is none of ours
            candidate = self.sheet_names[index] if index < len(self.sheet_names) else None
            if candidate is not None and candidate not in expected and not candidate.startswith("_"):
                self.actual[role] = candidate
                self.issue("sheet-renamed", sheet=candidate, expected=name)
            elif role != "guide":
                self.issue("sheet-missing", expected=name)
        return "results" in self.actual or "unit" in self.actual

    def map_rows(self, lay: Layout, role: str) -> dict[int, int]:
        """Layout row -> row in this file, anchored on the labels of the sheet's key column."""
        col = ANCHOR_COL[role]
        anchors = _anchors(lay, role)
        grid = self.grid(self.actual[role])
        found: dict[str, int] = {}
        for r, line in enumerate(grid, start=1):
            if len(line) >= col:
                value = line[col - 1]
                if isinstance(value, str) and value:
                    found.setdefault(value, r)
        mapping: dict[int, int] = {}
        normalised: dict[str, int] | None = None
        for row, text in anchors.items():
            actual = found.get(text)
            if actual is None:  # retyped label (case, spaces, tone marks): compare normalised
                if normalised is None:
                    normalised = {}
                    for value, r in found.items():
                        normalised.setdefault(_norm(value), r)
                actual = normalised.get(_norm(text))
            if actual is not None:
                mapping[row] = actual
        return mapping

    def row_of(self, role: str, row: int) -> int:
        """Where a layout row is in this file: its own anchor, else shifted like the anchor above."""
        mapping = self.row_maps.get(role, {})
        if row in mapping:
            return mapping[row]
        anchors = self.sorted_anchors.get(role)
        if anchors is None:
            anchors = self.sorted_anchors[role] = sorted(mapping)
        i = bisect.bisect_left(anchors, row)
        if i == 0:
            return row
        nearest = anchors[i - 1]
        return row + mapping[nearest] - nearest

    def locate(self, lay: Layout, key: tuple, cell) -> tuple[str, int, int] | None:
        role = _role_of(lay, cell.sheet)
        sheet = self.actual.get(role)
        if sheet is None:
            return None
        row = self.row_of(role, cell.row)
        named = self.names.get(lay.name_of(key)) if self.names and key[0] != "kt" else None
        if named is not None and named[0] == sheet:
            m = _REF.match(named[1])
            if m:
                named_row, named_col = int(m.group(2)), col_number(m.group(1))
                # Trust a name only where the row's label agrees (a tool may move rows
                # without updating names); a moved column is only known from the name.
                label = _anchors(lay, role).get(cell.row)
                if (
                    label is None
                    or named_row == row
                    or _norm(_as_text(self.at(sheet, named_row, ANCHOR_COL[role]))) == _norm(label)
                ):
                    return sheet, named_row, named_col
        return sheet, row, cell.col

    def shifted(self, role: str) -> bool:
        """Whether rows of a sheet lie elsewhere than in the template (an anchor label moved):
        otherwise :meth:`row_of` is the identity for every row of it."""
        return any(r != a for r, a in self.row_maps.get(role, {}).items())

    def check_labels(self, lay: Layout) -> bool:
        """Report labels that differ from the template; True when any did."""
        changed = False
        grids: dict[str, list[list] | None] = {}  # role -> grid (None: no such sheet, or the guide)
        shifted: dict[str, bool] = {}
        current = grid = None  # the role's grid and whether its rows moved, looked up when the role changes
        moved = False
        rows = 0
        for role, row, col, text in _label_cells(lay):
            if role is not current:
                current, grid = role, grids.get(role, False)
                if grid is False:
                    sheet = self.actual.get(role)
                    grid = grids[role] = None if sheet is None or role == "guide" else self.grid(sheet)
                    shifted[role] = self.shifted(role)
                moved, rows = shifted[role], len(grid) if grid is not None else 0
            if grid is None:
                continue
            if moved:
                row = self.row_of(role, row)
            line = grid[row - 1] if 0 < row <= rows else ()
            got = line[col - 1] if col <= len(line) else ""
            if got == text:
                continue
            sheet = self.actual[role]
            got_text = _as_text(got)
            if got_text == text or _norm(got_text) == _norm(text):
                continue
            changed = True
            self.issue(
                "label-changed",
                sheet=sheet,
                cell=f"{col_letter(col)}{row}",
                expected=text,
                got=got_text or "(trống)",
            )
        return changed

    def read_inputs(self, lay: Layout) -> None:
        entries, locations = self.sub.entries, self.sub.locations
        plain = not self.names and not self.moved  # the usual file: every cell where the layout says
        # cells holding a formula, per sheet (None: the format does not tell; usually no input has one)
        formula_refs = {
            self.actual[r]: self.book.formula_refs(self.actual[r]) for r in READ_ROLES if r in self.actual
        }
        sheets = self.actual
        # the nomination rows left empty (most of them), when no cell of the sheet holds a formula:
        # their cells give no entry, as each would one by one below
        awards = sheets.get("awards") if plain else None
        empty = self.empty_rows(awards, _nomination_cells(lay)) if awards and not formula_refs.get(awards) else ()
        # the sheet, its grid and formula cells, looked up when the sheet changes (the layout's cells come
        # sheet by sheet), not for each of a workbook's ~340 cells
        sheet = grid = refs = None
        rows = 0
        for key, role, row, col, ref, kind in _input_cells(lay):
            if kind == "kt" and row in empty:
                continue
            if plain:
                at = sheets.get(role)
                if at is None:
                    continue
            else:
                where = self.locate(lay, key, lay.inputs[key])
                if where is None:
                    continue
                at, row, col = where
                ref = f"{col_letter(col)}{row}"
            if at is not sheet:
                sheet, grid, refs = at, self.grid(at), formula_refs.get(at)
                rows = len(grid)
            line = grid[row - 1] if 0 < row <= rows else ()
            raw = line[col - 1] if 0 < col <= len(line) else ""
            if refs and ref in refs:
                raw = self.input_formula(sheet, ref, raw, numeric=kind in ("kq", "kp"))
                if raw is _FAILED:  # counted as missing, the error is already at the cell
                    entries[key] = Entry(key, None, sheet, ref, None, REJECTED)
                    continue
            cls = raw.__class__
            if kind == "kq" or kind == "kp":  # a count or an amount (parse_count, parse_amount)
                if cls is float:  # the usual cells, as _parse_number takes them
                    entries[key] = Entry(key, int(raw) if raw.is_integer() else raw, sheet, ref, raw, OK)
                    continue
                if cls is str and raw == "":
                    entries[key] = Entry(key, None, sheet, ref, raw, EMPTY)
                    continue
                if cls is str and not raw.isprintable():  # only "\n" in a usual cell
                    raw = self.cleaned(raw, sheet, ref)
                value, status = _parse_number(raw)
            elif (kind == "kt" or kind == "bc" or kind == "unit") and (raw is None or raw == ""):
                if kind != "kt":  # where an empty required cell is, for messages
                    locations[key] = (sheet, ref)
                continue
            else:
                if cls is str and not raw.isprintable():
                    raw = self.cleaned(raw, sheet, ref)
                value, status = parse_date(raw) if key == _DATE_KEY else parse_text(raw)
            entries[key] = Entry(key, value, sheet, ref, raw, status)

    def empty_rows(self, sheet: str, area: tuple[int, int, int, int] | None) -> frozenset[int]:
        """The rows of ``area`` (first row, last row, first column, last column) whose cells in
        ``sheet`` hold nothing (None or ""), read where the layout puts them."""
        if area is None:
            return frozenset()
        first_row, last_row, first_col, last_col = area
        grid = self.grid(sheet)
        out = []
        for row in range(first_row, min(last_row, len(grid)) + 1):
            cells = grid[row - 1][first_col - 1 : last_col]
            if cells.count("") + cells.count(None) == len(cells):
                out.append(row)
        out.extend(range(max(first_row, len(grid) + 1), last_row + 1))  # beyond the sheet
        return frozenset(out)

    def cleaned(self, raw: str, sheet: str, ref: str) -> str:
        """Sender text without control characters (``cleaning.clean_cell``), noted at the cell."""
        raw, changed = cleaning.clean_cell(raw)
        if changed:
            self.issue("text-cleaned", sheet=sheet, cell=ref)
        return raw

    def input_formula(self, sheet: str, ref: str, cached: object, *, numeric: bool = True) -> object:
        """The evaluated value of a formula typed into an input cell (never its cached value),
        with a warning at the cell; :data:`_FAILED` (and an error there) if it cannot be evaluated.
        ``numeric``: the cell takes a count or an amount (the advice says to type the number), else
        a text or a date (to type the content)."""
        typed = T("read.type-number") if numeric else T("read.type-content")
        f = self.book.formulas(sheet).get(ref)
        text = _formula_text(self.book.formulas(sheet), ref, f)
        try:
            value = self.cell_value(sheet, ref)
        except formula_mod.Unevaluable as exc:
            key = "formula-shape" if exc.reason == "function" and not exc.detail else f"formula-{exc.reason}"
            reason = T(f"read.{key}", detail=_clean(exc.detail)[:80])
            self.issue("formula-unevaluable", sheet=sheet, cell=ref, formula=_short(text), reason=reason, typed=typed)
            return _FAILED
        if _differs(cached, value):
            shown = "(trống)" if cached in (None, "") else _shown(cached)
            self.issue("formula-in-input-cached", sheet=sheet, cell=ref, formula=_short(text),
                       value=_shown(value), cached=shown)  # fmt: skip
        else:
            self.issue("formula-in-input", sheet=sheet, cell=ref, formula=_short(text), value=_shown(value),
                       typed=typed)  # fmt: skip
        return value

    def cell_value(self, sheet: str, ref: str) -> object:
        """A cell's value as Excel computes it: a formula cell is evaluated (recursively), any
        other cell gives what it holds. Raises ``formula.Unevaluable``."""
        key = (sheet, ref)
        if key in self.evaluated:
            return self.evaluated[key]
        formulas = self.book.formulas(sheet) if self.book.ooxml else {}
        f = formulas.get(ref)
        if f is None:
            row, col = ooxml.split_ref(ref)
            value = self.at(sheet, row, col)
            return cleaning.clean_cell(value)[0] if isinstance(value, str) else value
        if key in self.evaluating:
            raise formula_mod.Unevaluable("cycle", ref)
        if len(self.evaluating) > 50:
            raise formula_mod.Unevaluable("cycle", ref)
        text = _formula_text(formulas, ref, f)
        if f.kind == "dataTable" or not text:
            raise formula_mod.Unevaluable("function", f.kind)
        self.evaluating.append(key)
        try:
            value = formula_mod.evaluate(text, lambda s, r: self.resolve(sheet, s, r))
        finally:
            self.evaluating.pop()
        self.evaluated[key] = value
        return value

    def resolve(self, own: str, sheet: str, ref: str) -> object:
        """A reference of a formula on sheet ``own``: one value, or rows of values for a range."""
        target = own
        if sheet:
            folded = sheet.casefold()
            target = next((n for n in self.sheet_names if n.casefold() == folded), "")
            if not target:
                raise formula_mod.Unevaluable("external", sheet)
        ref = ref.replace("$", "").upper()
        first, _, last = ref.partition(":")
        if not last:
            return self.cell_value(target, first)
        (r1, c1), (r2, c2) = ooxml.split_ref(first), ooxml.split_ref(last)
        r1, r2, c1, c2 = min(r1, r2), max(r1, r2), min(c1, c2), max(c1, c2)
        r2, c2 = min(r2, ooxml.BOUND[0] - 1), min(c2, ooxml.BOUND[1])  # whole columns/rows
        return [
            [self.cell_value(target, f"{col_letter(c)}{r}") for c in range(c1, c2 + 1)]
            for r in range(r1, r2 + 1)
        ]

    def read_formulas(self, lay: Layout) -> None:
        plain = not self.names and not self.moved
        formulas = self.sub.formulas
        sheet = grid = found = None  # looked up when the sheet changes, as in read_inputs
        rows = 0
        for key, role, row, col, ref, cell in _formula_cells(lay):
            if plain:
                at = self.actual.get(role)
                if at is None:
                    continue
            else:
                where = self.locate(lay, key, cell)
                if where is None:
                    continue
                at, row, col = where
                ref = f"{col_letter(col)}{row}"
            if at is not sheet:
                sheet, grid, found = at, self.grid(at), self.book.formula_refs(at)
                rows = len(grid)
            has = None if found is None else ref in found
            line = grid[row - 1] if 0 < row <= rows else ()  # as self.at(sheet, row, col)
            formulas[key] = FormulaCell(key, sheet, ref, line[col - 1] if 0 < col <= len(line) else "", has)

    def check_extent(self, lay: Layout) -> None:
        """Data where the template has no cell: rows past a table's end (an error in the
        nominations table: those nominations would be lost), cells beside it, and cells beyond
        ``ooxml.BOUND`` that were cut before reading."""
        for role in READ_ROLES:
            sheet = self.actual.get(role)
            if sheet is None:
                continue
            far = self.book.far.get(sheet)
            if far:
                self.issue("cell-far", sheet=sheet, cell=far[0], cells=listed(far), count=len(far))
            last_row, last_col = _area(lay, role)
            last_row = self.row_of(role, last_row)
            grid = self.grid(sheet)
            rows: list[int] = []
            cells: list[str] = []
            for r, line in enumerate(grid, start=1):
                if r > last_row:
                    if any(v not in (None, "") for v in line):
                        rows.append(r)
                elif len(line) > last_col:
                    cells += [f"{col_letter(c)}{r}" for c, v in enumerate(line[last_col:], start=last_col + 1)
                              if v not in (None, "")]  # fmt: skip
            if rows and role == "awards":
                self.issue("rows-beyond-table", sheet=sheet, cell=f"A{rows[0]}", rows=listed(rows),
                           count=len(rows), last=last_row)  # fmt: skip
            elif rows:
                first = next(c for c, v in enumerate(grid[rows[0] - 1], start=1) if v not in (None, ""))
                cells = [f"{col_letter(first)}{rows[0]}", *cells]
                self.issue("data-outside", sheet=sheet, cell=cells[0], rows=listed(rows), count=len(rows))
                cells = cells[1:]
            if cells:
                self.issue("cells-outside", sheet=sheet, cell=cells[0], cells=listed(cells), count=len(cells))

    def read_unit(self) -> None:
        sub = self.sub
        entry = sub.entries.get(("unit", "unit"))
        text = _as_text(entry.value) if entry is not None else ""
        sub.unit_text = text
        code = unit_code_of(text, self.plan) or sub.meta_unit
        sub.unit_code_given = code
        if code:
            sub.unit_code = self.plan.resolve_code(code)[0]


# -- cell parsing (pure) ------------------------------------------------------------------


T = messages.text
_FAILED = object()  # an input formula that could not be evaluated
REJECTED = "rejected"  # as checks.REJECTED: left out of totals (counted as missing)


def _clean(text: str) -> str:
    return cleaning.clean_cell(text)[0]


def _formula_text(formulas: dict[str, ooxml.Formula], ref: str, f: ooxml.Formula | None) -> str:
    """The text of the formula at ``ref``; for a follower of a shared formula (ECMA-376 Part 1,
    18.3.1.40: only the group's first cell holds the text) the master's text moved to ``ref``."""
    if f is None:
        return ""
    if f.text or f.kind != "shared":
        return f.text
    master = next(
        ((r, g) for r, g in formulas.items() if g.kind == "shared" and g.si == f.si and g.text), None
    )
    if master is None:
        return ""
    from openpyxl.formula.translate import Translator, TranslatorError

    try:
        return Translator("=" + master[1].text, origin=master[0]).translate_formula(ref)[1:]
    except TranslatorError:
        return ""


def quoted(text: object) -> str:
    """A sender's text as a message quotes it: at most :data:`QUOTED` characters, cut with «…»."""
    text = str(text)
    return text if len(text) <= QUOTED else text[: QUOTED - 1] + "…"


def _short(text: str) -> str:
    return "=" + quoted(_clean(text))


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        from .checks import fmt  # checks imports this module: imported when needed

        return fmt(value)
    return _clean(str(value))[:60]


def _differs(cached: object, value: object) -> bool:
    """Whether a cell's cached value (if it has one) is not what its formula gives."""
    if cached is None or cached == "":
        return False
    if isinstance(cached, bool) or isinstance(value, bool):
        return cached != value
    if isinstance(cached, (int, float)) and isinstance(value, (int, float)):
        return abs(cached - value) > 1e-9 * max(1.0, abs(value))
    return (cached if cached is not None else "") != value


def listed(items: list, most: int = _LISTED) -> str:
    """Cells or rows a message names: the first ``most``, then «…» if there are more."""
    shown = ", ".join(str(i) for i in items[:most])
    return shown + (", …" if len(items) > most else "")


@cache
def _area(lay: Layout, role: str) -> tuple[int, int]:
    """The last row and column the template uses on a sheet (results: with its hidden helpers)."""
    sheet = lay.sheets[role]
    cells = [c for c in (*lay.inputs.values(), *lay.formulas.values(), *lay.labels) if c.sheet == sheet]
    last_row = max((c.row for c in cells), default=0)
    last_col = max((c.col for c in cells), default=0)
    if role == "results":
        last_col = max([last_col] + [max(vars(rc).values()) for rc in lay.result_cols.values()])
    return last_row, last_col


def _flag_notes(info: safety.FileInfo) -> set[str]:
    name = Path(info.path).name
    return {
        messages.text("safety.note-macros", file=name),
        messages.text("safety.note-external-links", file=name, count=len(info.external_links)),
    }


def parse_count(raw: object) -> tuple[object, str]:
    """A count cell: number, text number, "không áp dụng" or empty; no range judgement here."""
    return _parse_number(raw)


def parse_amount(raw: object) -> tuple[object, str]:
    return _parse_number(raw)


def _parse_number(raw: object) -> tuple[object, str]:
    if raw is None or raw == "":
        return None, EMPTY
    if isinstance(raw, bool):
        return raw, INVALID
    if isinstance(raw, int):
        return raw, OK
    if isinstance(raw, float):
        return (int(raw) if raw.is_integer() else raw), OK
    if isinstance(raw, str):
        parsed = textnorm.parse_number(raw)
        if parsed.status == "ok":
            if parsed.percent:
                return raw, INVALID
            return parsed.value, TEXT_NUMBER
        if parsed.status == "empty":
            return None, EMPTY
        if parsed.status == "not_applicable":
            return NA, NOT_APPLICABLE
        return raw, AMBIGUOUS if parsed.status == "ambiguous" else INVALID
    return raw, INVALID  # a date or time typed into a count


def parse_text(raw: object) -> tuple[object, str]:
    if raw is None or raw == "":
        return None, EMPTY
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw)), OK
    if not isinstance(raw, str):
        return str(raw), OK
    text, encoding = textnorm.fix_text(raw)
    return text, (LEGACY if encoding else OK)


_DATE_TEXT = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\s*$")


def parse_date(raw: object) -> tuple[object, str]:
    if raw is None or raw == "":
        return None, EMPTY
    if isinstance(raw, dt.datetime):
        return raw.date(), OK
    if isinstance(raw, dt.date):
        return raw, OK
    if isinstance(raw, str):
        m = _DATE_TEXT.match(raw)
        if m:
            try:
                return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))), TEXT_NUMBER
            except ValueError:
                pass
    return raw, INVALID


def unit_code_of(text: str, plan: Plan) -> str:
    """The unit code at the start of a dropdown text ("27685 - Phường 5 (…)"), if any."""
    m = _UNIT_CODE.match(text or "")
    if not m:
        return ""
    code = m.group(1)
    if plan.unit(code) is not None or code in plan.changes or code.isdigit():
        return code
    return ""


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _norm(text: str) -> str:
    """Cheap comparison key for labels: NFC, case and whitespace folded."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@cache
def _anchors(lay: Layout, role: str) -> dict[int, str]:
    """Layout row -> label text of the cells that identify rows of a sheet."""
    sheet, col = lay.sheets[role], ANCHOR_COL[role]
    if role == "awards" and lay.award_block is not None:
        header = lay.award_block.first_row - 1
        return {
            c.row: t for c, t in lay.labels.items() if c.sheet == sheet and c.row == header and c.col == 1
        }
    return {c.row: t for c, t in lay.labels.items() if c.sheet == sheet and c.col == col}


@cache
def _input_cells(lay: Layout) -> list[tuple[tuple, str, int, int, str, str]]:
    """Every input cell of a layout, derived once per layout: (key, role, row, column, reference,
    kind)."""
    roles = _roles(lay)
    return [(key, roles[c.sheet], c.row, c.col, c.ref, key[0]) for key, c in lay.inputs.items()]


@cache
def _nomination_cells(lay: Layout) -> tuple[int, int, int, int] | None:
    """The area of a layout's nomination inputs: (first row, last row, first column, last column)."""
    cells = [(c.row, c.col) for key, c in lay.inputs.items() if key[0] == "kt"]
    if not cells:
        return None
    rows, cols = [r for r, _ in cells], [c for _, c in cells]
    return min(rows), max(rows), min(cols), max(cols)


@cache
def _label_cells(lay: Layout) -> list[tuple[str, int, int, str]]:
    """Every label of a layout, in its order: (role, row, column, text)."""
    roles = _roles(lay)
    return [(roles[c.sheet], c.row, c.col, text) for c, text in lay.labels.items()]


@cache
def _formula_cells(lay: Layout) -> list[tuple[tuple, str, int, int, str, object]]:
    """Every formula cell of a layout, in its order: (key, role, row, column, reference, cell)."""
    roles = _roles(lay)
    return [(key, roles[c.sheet], c.row, c.col, c.ref, c) for key, c in lay.formulas.items()]


_DATE_KEY = ("unit", "date")


def _role_of(lay: Layout, sheet: str) -> str:
    return _roles(lay)[sheet]


@cache
def _roles(lay: Layout) -> dict[str, str]:
    return {name: role for role, name in lay.sheets.items()}


def failed_issue(exc: BaseException, file: str) -> Issue:
    """A file whose reading or checking failed in an unforeseen way: one error naming it (with the
    error's kind, for the developers), so the run goes on with the other files."""
    detail = cleaning.for_terminal(str(exc))[:120]
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return make("file-failed", file=file, reason=reason)


def unreadable_issue(exc: safety.UnreadableFile, file: str, unit: str = "") -> Issue:
    """A file that could not be read, as an error issue carrying the intake gate's code (``pdf``,
    ``encrypted``, ``zip-bomb``...) and its one-line message."""
    return Issue(exc.code, "error", exc.message, unit=unit, file=file)
