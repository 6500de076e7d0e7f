"""The returned copy ("bản trả lại"): what goes back to a sender whose workbook has issues.

A FRESH workbook of the template the sender used (``templates.build_workbook``), filled with the
sender's values exactly as they were typed (``Entry.raw``: "1.234" stays that text, a text starting
with "=" stays text), the cells to fix highlighted (red: error, orange: warning) and commented with
the Vietnamese message, and a new first sheet listing every issue with a link to its cell.

Issue cells name the sender's file, which may have inserted rows or a renamed sheet: an issue is
mapped back to its entry key through ``submission.entries``/``submission.formulas`` (same sheet and
cell), then to the layout cell of the fresh workbook. The received file is only read, never written.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook import Workbook
from openpyxl.worksheet.hyperlink import Hyperlink

from . import cleaning, messages, templates, textnorm
from . import layout as layout_mod
from .fileio import mark_output, save_workbook, write_error_log
from .issues import Issue
from .layout import Cell, Layout
from .pipeline import collector_paused_during
from .plan import Plan, Unit
from .submission import Submission

T = messages.text

FILLS = {
    "error": PatternFill("solid", fgColor="FF6B6B"),
    "warning": PatternFill("solid", fgColor="FFB84D"),
    "info": PatternFill("solid", fgColor="BDD7EE"),
}
RANK = {"error": 0, "warning": 1, "info": 2}
# Checks that report an input left empty place the issue at the layout address (the reader keeps
# no entry for an empty unit/narrative cell): for these, the layout address decides first.
AT_EMPTY_INPUT = frozenset({"unit-missing", "unit-info-missing", "narrative-empty"})

_FONT = templates.FONT
_thin = Side(style="thin", color="808080")
_BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
_LINK_FONT = Font(name=_FONT, size=11, color="0563C1", underline="single")
_WIDTHS = {1: 12, 2: 16, 3: 8, 4: 110}


class ReturnError(ValueError):
    """No returned copy can be made for this validation (one Vietnamese line)."""


@dataclass(frozen=True)
class Placed:
    """An issue and where it sits in the returned copy (``cell`` None: file or sheet level)."""

    issue: Issue
    text: str  # the message without the "Tệp …, trang …, ô …:" prefix
    sheet: str  # sheet of the returned copy ("" when the issue names no sheet of ours)
    cell: Cell | None
    key: tuple | None


NAME_MAX = 255  # bytes of one file name (ext4, APFS: UTF-8) and UTF-16 units (NTFS): the smaller


def returned_name(path: str | Path, taken: Iterable[str] = ()) -> str:
    """``bao_cao.xls`` -> ``bao_cao_tra_lai.xlsx``; ``_tra_lai_2``, ``_3``… while the name is in
    ``taken``. The sender's stem is shortened (whole characters, no dangling tone mark) so the name
    stays within :data:`NAME_MAX` bytes in UTF-8 and UTF-16 units, the limits of common file
    systems: a legal long received name never makes an illegal derived one. Line breaks, escapes
    and bidi overrides of the received name do not pass into the copy's (``cleaning.for_terminal``:
    the name printed is the name written)."""
    stem = cleaning.for_terminal(Path(path).stem).strip() or "_"
    taken = set(taken)
    n = 1
    while True:
        extra = "" if n == 1 else f"_{n}"
        name = _fit(stem, extra)
        if name not in taken:
            return name
        n += 1


def _fit(stem: str, extra: str) -> str:
    import unicodedata

    def size(text: str) -> int:
        return max(len(text.encode("utf-8")), len(text.encode("utf-16-le")) // 2)

    def name(cut: str) -> str:
        full = Path(T("returned.file-name", stem=cut))
        return f"{full.stem}{extra}{full.suffix}"

    cut = stem
    while cut and size(name(cut)) > NAME_MAX:
        cut = cut[:-1]
        while cut and unicodedata.combining(cut[-1]):
            cut = cut[:-1]
    return name(cut.rstrip(" .") if cut != stem else cut)


@collector_paused_during
def write_returned_copy(
    validation, plan: Plan, folder: str | Path, *, level: str | None = None, name: str | None = None
) -> Path:
    """Write the returned copy of ``validation`` into ``folder``; returns its path.

    ``level`` is used when neither the file (``_meta``) nor its unit tells the level; ``name``
    overrides the file name (default ``<stem>_tra_lai.xlsx``). Raises :class:`ReturnError` for an
    unreadable file or an unknown level, ``fileio.OutputError`` when the copy cannot be written.
    """
    sub: Submission | None = validation.submission
    source = Path(validation.path)
    if sub is None:
        raise ReturnError(T("returned.unreadable", file=source.name))
    target = Path(folder) / (name or returned_name(source))
    if target.resolve() == source.resolve():
        raise ReturnError(T("returned.same-file", file=target))
    try:
        wb = build_returned(sub, plan, validation.report, level=level)
    except ReturnError:
        raise
    except Exception as exc:  # a defect met by this one file's copy: named, and the caller goes on
        log = write_error_log(traceback.format_exc())
        raise ReturnError(T("returned.failed", file=cleaning.for_terminal(sub.file),
                            log=log or T("cli.no-log"))) from exc  # fmt: skip
    return save_workbook(wb, target)


def build_returned(
    sub: Submission, plan: Plan, issues: Iterable[Issue], *, level: str | None = None
) -> Workbook:
    """The returned copy as an openpyxl workbook (not saved)."""
    lv = template_level(sub, plan, level)
    lay = layout_mod.build(plan, layout_mod.template_for(plan, lv))
    unit = _template_unit(sub, plan, lv)
    placed = place_issues(sub, plan, lay, issues)
    # The marked cells carry no conditional format of the template: its red "invalid entry" or
    # green verdict would cover the legend's colour (an orange warning shown red).
    marked = {p.cell for p in placed if p.cell is not None}
    wb = templates.build_workbook(plan, lv, unit, values=sender_values(sub, lay), lay=lay, marked=marked)
    # intake skips it while it holds the sender's values unchanged
    mark_output(wb, "returned", level=lv, source=sub.sha256, values=sub.fingerprint())
    _restore_unit_cell(wb, sub, lay)
    _mark_cells(wb, placed)
    _issue_sheet(wb, sub, placed)
    return wb


# -- what goes in -----------------------------------------------------------------------------


def template_level(sub: Submission, plan: Plan, fallback: str | None = None) -> str:
    """The level of the template the sender used: from ``_meta``, else the unit's, else ``fallback``."""
    unit = plan.unit(sub.unit_code) if sub.unit_code else None
    for lv in (sub.level, unit.level if unit is not None else None, fallback):
        if lv and lv in plan.levels:
            if not sub.template or layout_mod.template_for(plan, lv) == sub.template:
                return lv
    raise ReturnError(T("returned.no-level", file=sub.file))


def _template_unit(sub: Submission, plan: Plan, level: str) -> Unit | None:
    """The unit of a per-unit template (``_meta`` names it), so its fixed texts come back too."""
    unit = plan.unit(sub.meta_unit) if sub.meta_unit else None
    return unit if unit is not None and unit.level == level else None


def _as_typed(raw: object) -> object:
    if isinstance(raw, str):
        # Characters an .xlsx cannot hold (openpyxl refuses control characters); drop only those.
        return cleaning.for_cell(raw)
    return raw


def sender_values(sub: Submission, lay: Layout) -> dict[tuple, object]:
    """Input key -> the value as the sender typed it (not the parsed value)."""
    out: dict[tuple, object] = {}
    for key, entry in sub.entries.items():
        if key not in lay.inputs or entry.raw is None or entry.raw == "":
            continue
        out[key] = _as_typed(entry.raw)
    return out


def _restore_unit_cell(wb: Workbook, sub: Submission, lay: Layout) -> None:
    """``build_workbook`` turns a bare unit code into the dropdown text: put back what was typed."""
    key = ("unit", "unit")
    cell = lay.inputs[key]
    entry = sub.entries.get(key)
    c = wb[cell.sheet].cell(cell.row, cell.col)
    c.value = _as_typed(entry.raw) if entry is not None and entry.raw not in (None, "") else None
    if isinstance(c.value, str):
        c.data_type = "s"


# -- where each issue goes ----------------------------------------------------------------------


def _strip_place(issue: Issue) -> str:
    """The message without the file/sheet/cell prefix that ``issues.make`` put in front."""
    message = issue.message
    candidates = []
    if issue.file and issue.sheet and issue.cell:
        candidates.append(
            T("common.file-sheet-cell", file=issue.file, sheet=issue.sheet, cell=issue.cell, text="")
        )
    if issue.file and issue.sheet:
        candidates.append(T("common.file-sheet", file=issue.file, sheet=issue.sheet, text=""))
    if issue.file:
        candidates.append(T("common.file-only", file=issue.file, text=""))
    for prefix in candidates:
        if prefix and message.startswith(prefix):
            message = message[len(prefix) :]
            break
    return textnorm.capitalized(message)


def place_issues(sub: Submission, plan: Plan, lay: Layout, issues: Iterable[Issue]) -> list[Placed]:
    """Each issue with the sheet and cell it refers to in the returned copy (``lay``'s addresses)."""
    by_entry = {(e.sheet, e.cell): key for key, e in sub.entries.items()}
    by_formula = {(f.sheet, f.cell): key for key, f in sub.formulas.items()}
    # Empty inputs have no entry: the reader records where it found them (``sub.locations``);
    # the layout address of the template the file was read with is the fallback.
    read_lay = (
        layout_mod.build(plan, sub.template, sub.layout_version or layout_mod.VERSION)
        if sub.template
        else lay
    )
    by_empty = {
        (c.sheet, c.ref): key
        for key, c in read_lay.inputs.items()
        if key not in sub.entries or sub.entries[key].raw in (None, "")
    }
    by_empty.update({where: key for key, where in sub.locations.items()})  # where the reader found them
    # The sender's sheet names (a renamed sheet) -> the sheet names of the copy.
    sheet_of = dict(zip(lay.sheets.values(), lay.sheets.values(), strict=True))
    for e in sub.entries.values():
        cell = lay.inputs.get(e.key)
        if cell is not None:
            sheet_of.setdefault(e.sheet, cell.sheet)

    out: list[Placed] = []
    for issue in issues:
        key = None
        if issue.sheet and issue.cell:
            where = (issue.sheet, issue.cell)
            order = (by_empty, by_entry, by_formula) if issue.code in AT_EMPTY_INPUT else (
                by_entry, by_formula, by_empty)  # fmt: skip
            key = next((m[where] for m in order if where in m), None)
        cell = None
        if key is not None:
            cell = lay.inputs.get(key) or lay.formulas.get(key)
        sheet = cell.sheet if cell is not None else sheet_of.get(issue.sheet, "")
        out.append(Placed(issue, _strip_place(issue), sheet, cell, key if cell is not None else None))
    return out


# -- what comes out -----------------------------------------------------------------------------


def _mark_cells(wb: Workbook, placed: list[Placed]) -> None:
    by_cell: dict[Cell, list[Placed]] = {}
    for p in placed:
        if p.cell is not None:
            by_cell.setdefault(p.cell, []).append(p)
    for cell, items in by_cell.items():
        worst = min((p.issue.severity for p in items), key=RANK.__getitem__)
        c = wb[cell.sheet].cell(cell.row, cell.col)
        c.fill = FILLS[worst]
        text = "\n".join(f"{T('returned.severity-' + p.issue.severity)}: {p.text}" for p in items)
        comment = Comment(text, T("returned.author"))
        lines = sum(max(1, math.ceil(len(line) / 48)) for line in text.split("\n"))
        comment.width = 340
        comment.height = min(600, 24 + 16 * lines)
        c.comment = comment


def _issue_sheet(wb: Workbook, sub: Submission, placed: list[Placed]) -> None:
    ws = wb.create_sheet(T("returned.sheet"), 0)
    counts = {s: sum(1 for p in placed if p.issue.severity == s) for s in RANK}
    unit = sub.unit_text or T("returned.unit-unknown")
    ws.merge_cells("A1:D1")
    ws.merge_cells("A2:D2")
    # the file's name as received, on one line (a name may hold line breaks, escapes, bidi overrides)
    title = T("returned.title", file=cleaning.for_terminal(sub.file))
    templates.put(ws, (1, 1), title, font=Font(name=_FONT, size=13, bold=True),
                  alignment=Alignment(wrap_text=True, vertical="center"))  # fmt: skip
    ws.row_dimensions[1].height = 24
    summary = T("returned.summary", unit=unit, errors=counts["error"], warnings=counts["warning"],
                infos=counts["info"])  # fmt: skip
    templates.put(ws, (2, 1), summary, alignment=templates.WRAP_TOP)
    ws.row_dimensions[2].height = 15 * _lines(summary, sum(_WIDTHS.values()))
    header = 4
    for col, key in enumerate(("col-severity", "col-sheet", "col-cell", "col-message"), start=1):
        templates.put(ws, (header, col), T(f"returned.{key}"), font=Font(name=_FONT, size=11, bold=True),
                      fill=templates.FILL_HEAD, border=_BORDER, alignment=templates.CENTER)  # fmt: skip
    for col, width in _WIDTHS.items():
        ws.column_dimensions[chr(64 + col)].width = width
    ordered = sorted(placed, key=lambda p: RANK[p.issue.severity])  # stable: report order within a level
    for row, p in enumerate(ordered, start=header + 1):
        ref = p.cell.ref if p.cell is not None else p.issue.cell
        values = (T(f"returned.severity-{p.issue.severity}"), p.sheet or p.issue.sheet, ref, p.text)
        link = None
        if p.cell is not None:
            link = f"'{p.cell.sheet}'!{p.cell.ref}"
        elif p.sheet and p.sheet in wb.sheetnames:
            link = f"'{p.sheet}'!A1"
        for col, value in enumerate(values, start=1):
            templates.put(ws, (row, col), value or None, border=_BORDER, alignment=templates.WRAP_TOP)
            if link is not None and value:  # (openpyxl would write the link into an empty cell)
                c = ws.cell(row, col)
                c.hyperlink = Hyperlink(ref=c.coordinate, location=link)
        ws.cell(row, 1).fill = FILLS[p.issue.severity]
        if link is not None:
            ws.cell(row, 3).font = _LINK_FONT
            ws.cell(row, 4).font = _LINK_FONT
        ws.row_dimensions[row].height = 15 * _lines(p.text, _WIDTHS[4])
    ws.freeze_panes = ws.cell(header + 1, 1)
    templates.page_setup(ws, landscape=True, title_rows=f"{header}:{header}")  # as the template's sheets: «Trang x/y»
    # Open on the list: only the first sheet selected (two selected tabs would group them in Excel).
    for sheet in wb.worksheets:
        sheet.sheet_view.tabSelected = False
    ws.sheet_view.tabSelected = True
    wb.active = 0


def _lines(text: str, width: float) -> int:
    return sum(max(1, math.ceil(len(part) / max(1, width * 1.1))) for part in text.split("\n"))
