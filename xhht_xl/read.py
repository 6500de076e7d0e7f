"""Read one received workbook into a :class:`Submission`, safely and fast.

Order: the intake gate (``safety.inspect``: size, zip bomb, encryption, disguised formats);
python-calamine for cell values (.xlsx/.xlsm/.xls/.ods, ~10x faster than openpyxl); the
workbook XML (defusedxml) for defined names and, in .xlsx, which cells still hold formulas.
Cells are found by defined name first, then by the row labels (indicator codes, outline
items) when names were lost or rows inserted, then at the layout's own address. Nothing is
judged here except how a cell parses: ``checks.py`` turns entries into issues.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import re
import unicodedata
from functools import cache
from pathlib import Path

from python_calamine import CalamineWorkbook

from . import layout as layout_mod
from . import messages, safety, textnorm
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
# In an .xlsx sheet part: a cell element whose first child is a formula.
_FORMULA_CELL = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3}[0-9]+)"[^>]*>\s*<(?:\w+:)?f\b')
# The same for the usual unprefixed markup, about twice as fast.
_FORMULA_CELL_PLAIN = re.compile(rb'<c [^>]*?r="([A-Z]{1,3}[0-9]+)"[^>]*><f[ >/]')


def formula_refs(xml: bytes) -> set[str]:
    """Cells of a sheet part whose first child is a formula."""
    pattern = _FORMULA_CELL_PLAIN if b"<c " in xml else _FORMULA_CELL
    return {m.decode() for m in pattern.findall(xml)}


def read(
    path: str | Path, plan: Plan, *, file: str | None = None, limits: safety.Limits | None = None
) -> Submission:
    """Read ``path``; raises ``safety.UnreadableFile`` (one Vietnamese line) if it cannot be read at all."""
    path = Path(path)
    limits = limits or safety.Limits()
    info = safety.inspect(path, limits)
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
    try:
        wb = (
            CalamineWorkbook.from_filelike(io.BytesIO(info.data))
            if info.data
            else CalamineWorkbook.from_path(str(path))
        )
        sheet_names = list(wb.sheet_names)
    except Exception:  # calamine raises its own error types for damaged content
        raise safety.UnreadableFile("file-corrupt", path) from None
    reader = _Reader(sub, plan, wb, sheet_names, limits)
    reader.sheet_parts, reader.data = info.sheet_parts, info.data
    reader.run()
    return sub


class _Reader:
    def __init__(self, sub: Submission, plan: Plan, wb: CalamineWorkbook, sheet_names: list[str], limits):
        self.sub, self.plan, self.wb, self.sheet_names, self.limits = sub, plan, wb, sheet_names, limits
        self.grids: dict[str, list[list]] = {}
        self.actual: dict[str, str] = {}  # role -> sheet name in this file
        self.row_maps: dict[str, dict[int, int]] = {}
        self.sorted_anchors: dict[str, list[int]] = {}
        self.names: dict[str, tuple[str, str]] = {}
        self.sheet_parts: dict[str, str] = {}
        self.data = b""
        self.moved = False

    def issue(self, code: str, /, sheet: str = "", cell: str = "", **values) -> None:
        self.sub.issues.append(make(code, file=self.sub.file, sheet=sheet, cell=cell, **values))

    def grid(self, sheet: str) -> list[list]:
        if sheet not in self.grids:
            try:
                self.grids[sheet] = self.wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except Exception:
                raise safety.UnreadableFile("file-corrupt", self.sub.path) from None
        return self.grids[sheet]

    def at(self, sheet: str, row: int, col: int) -> object:
        grid = self.grids.get(sheet)
        if grid is None:
            grid = self.grid(sheet)
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
            self.names = safety.defined_names(sub.path, sub.kind, limits=self.limits)
            if not any(n in self.names for n in ("DV_UNIT", "KP_KP_NSDP_TONG")):
                self.issue("names-lost")
        self.read_inputs(lay)
        self.read_formulas(lay)
        self.read_unit()

    def identify(self) -> Layout | None:
        """Template id, version and level from ``_meta``; else recognise the layout by its sheets."""
        sub, plan = self.sub, self.plan
        meta: dict[str, str] = {}
        if "_meta" in self.sheet_names:
            for row in self.grid("_meta"):
                if len(row) >= 2 and isinstance(row[0], str) and row[0]:
                    meta[row[0].strip()] = _as_text(row[1])
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

    def check_labels(self, lay: Layout) -> bool:
        """Report labels that differ from the template; True when any did."""
        changed = False
        roles = _roles(lay)
        for cell, text in lay.labels.items():
            role = roles[cell.sheet]
            sheet = self.actual.get(role)
            if sheet is None or role == "guide":
                continue
            row = self.row_of(role, cell.row)
            grid = self.grids.get(sheet) or self.grid(sheet)
            line = grid[row - 1] if 0 < row <= len(grid) else ()
            got = line[cell.col - 1] if cell.col <= len(line) else ""
            if got == text:
                continue
            got_text = _as_text(got)
            if got_text == text or _norm(got_text) == _norm(text):
                continue
            changed = True
            self.issue(
                "label-changed",
                sheet=sheet,
                cell=f"{col_letter(cell.col)}{row}",
                expected=text,
                got=got_text or "(trống)",
            )
        return changed

    def read_inputs(self, lay: Layout) -> None:
        entries, locations = self.sub.entries, self.sub.locations
        roles = _roles(lay)
        plain = not self.names and not self.moved  # the usual file: every cell where the layout says
        for key, cell in lay.inputs.items():
            if plain:
                sheet = self.actual.get(roles[cell.sheet])
                if sheet is None:
                    continue
                row, col = cell.row, cell.col
            else:
                where = self.locate(lay, key, cell)
                if where is None:
                    continue
                sheet, row, col = where
            raw = self.at(sheet, row, col)
            kind = key[0]
            ref = cell.ref if plain else f"{col_letter(col)}{row}"
            if kind in ("kt", "bc", "unit") and (raw is None or raw == ""):
                if kind != "kt":  # where an empty required cell is, for messages
                    locations[key] = (sheet, ref)
                continue
            if kind == "kq":
                value, status = parse_count(raw)
            elif kind == "kp":
                value, status = parse_amount(raw)
            elif key == ("unit", "date"):
                value, status = parse_date(raw)
            else:
                value, status = parse_text(raw)
            entries[key] = Entry(key, value, sheet, ref, raw, status)

    def read_formulas(self, lay: Layout) -> None:
        refs: dict[str, set[str]] | None = None
        if self.sub.kind in ("xlsx", "xlsm"):
            parts = self.sheet_parts
            wanted = {parts[self.actual[r]] for r in ("results", "funding") if self.actual.get(r) in parts}
            raw = safety.read_parts(self.sub.path, sorted(wanted), limits=self.limits, data=self.data)
            refs = {sheet: formula_refs(raw.get(part, b"")) for sheet, part in parts.items() if part in raw}
        roles = _roles(lay)
        plain = not self.names and not self.moved
        for key, cell in lay.formulas.items():
            if plain:
                sheet = self.actual.get(roles[cell.sheet])
                if sheet is None:
                    continue
                row, col, ref = cell.row, cell.col, cell.ref
            else:
                where = self.locate(lay, key, cell)
                if where is None:
                    continue
                sheet, row, col = where
                ref = f"{col_letter(col)}{row}"
            has = None if refs is None else ref in refs.get(sheet, ())
            self.sub.formulas[key] = FormulaCell(key, sheet, ref, self.at(sheet, row, col), has)

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


def _role_of(lay: Layout, sheet: str) -> str:
    return _roles(lay)[sheet]


@cache
def _roles(lay: Layout) -> dict[str, str]:
    return {name: role for role, name in lay.sheets.items()}


def unreadable_issue(exc: safety.UnreadableFile, file: str, unit: str = "") -> Issue:
    """A file that could not be read, as an error issue carrying the intake gate's code (``pdf``,
    ``encrypted``, ``zip-bomb``...) and its one-line message."""
    return Issue(exc.code, "error", exc.message, unit=unit, file=file)
