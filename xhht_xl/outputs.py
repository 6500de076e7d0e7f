"""Writers of a consolidation: the consolidated workbook, the JSON report and the facts CSV.

The workbook is the official template of the level, with the consolidated values in the same
input cells (so the level above reads it as a submission), plus sheets a clerk needs: totals
with coverage, submission status, issues (hyperlinked to the source cells), per-unit detail,
nominations with quota verdicts, cross-checks, resubmission changes and native charts.
Every value copied from a sender is written as a value, never as a formula.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime as dt
import functools
import json
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.text import RichText, Text
from openpyxl.chart.title import Title
from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties, RegularTextRun
from openpyxl.drawing.text import Font as DrawingFont
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from . import aggregate, cleaning, coverage, layout, messages, templates, textnorm, xlsxcopy, xlsxrules
from .fileio import mark_output, save_workbook, write_text
from .pipeline import collector_paused_during
from .plan import SELF, round_rate
from .read import DETAIL_BOUND
from .templates import BORDER, CENTER, F_HEAD, F_TITLE, FILL_BAD, FILL_HEAD, FILL_OK, FILL_WARN, WRAP_TOP

T = messages.text
STATE = {"on_time": "consolidate.state-on_time", "late": "consolidate.state-late",
         "missing": "consolidate.state-missing", "pending": "consolidate.state-pending",
         "unknown": "consolidate.state-unknown"}  # fmt: skip
NAMES_SHOWN = 20  # units named in a coverage line; the JSON lists them all
ROW_CM = 0.53  # default row height in cm, to place a chart below another
# The detail sheet is also read back by the level above (communes' figures reach the province).
DETAIL_COLUMNS = (
    "unit",
    "name",
    "level",
    "indicator",
    "milestone",
    "num",
    "den",
    "rate",
    "verdict",
    "state",
    "file",
)


def _tuples(frame: pd.DataFrame):
    """``frame.itertuples()``: the same rows, the same values (Python scalars, Timestamps, NA), at a
    fraction of the cost for the small frames written here (pandas takes each column by position)."""
    row = collections.namedtuple("Row", ["Index", *map(str, frame.columns)], rename=True)
    return map(row._make, zip(frame.index.tolist(), *(frame[col].tolist() for col in frame.columns), strict=True))


def _clean(v):
    if v is None:
        return None
    if isinstance(v, str):
        return cleaning.for_cell(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


# -- what a clerk reads: labels for the codes of the frames -----------------------------------


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def source_label(plan, source: str) -> str:
    """Where a figure comes from, as a clerk says it: "Báo cáo cấp huyện", "Sở Nội vụ", "Số liệu
    của chính đơn vị"; several sources ("self+SNV") joined."""
    labels = []
    for part in str(source or "").split("+"):
        if not part:
            continue
        if part == SELF:
            labels.append(T("out.source-self"))
        elif part in plan.levels:
            labels.append(T("out.source-level", level=_lower_first(plan.levels[part].name)))
        else:
            unit = plan.unit(part)
            labels.append(unit.name if unit is not None else part)
    return "; ".join(labels)


def verified_label(verified: str) -> str:
    """Whether a target's source was verified (targets.csv ``verified``), in words."""
    return T(f"out.verified-{'na' if verified == 'n/a' else verified}") if verified else ""


_AWARD_FIELD_LABELS = {"priority": "layout.col-priority", "award": "layout.col-award", "kind": "layout.col-kind",
                       "name": "layout.col-name", "position": "layout.col-position",
                       "unit": "layout.col-nominee-unit", "summary": "layout.col-summary",
                       "previous": "layout.col-previous", "note": "layout.col-note"}  # fmt: skip


def entry_label(plan, key: str) -> str:
    """What a data cell holds, from its entry key ("kq/GDHT/2020/num" -> "Tử số của chỉ số «…» năm
    2020", "unit/date" -> "Ngày báo cáo"), for the changes sheet."""
    parts = str(key).split("/")
    kind, rest = parts[0], parts[1:]
    if kind == "unit" and rest and f"field.{rest[0]}" in messages.table():
        return T(f"field.{rest[0]}")
    if kind == "kq" and len(rest) == 3 and rest[2] in ("num", "den") and rest[0] in plan.indicators:
        return T("field.count-of", part=T(f"field.{rest[2]}"), indicator=plan.indicators[rest[0]].name,
                 milestone=rest[1])  # fmt: skip
    if kind == "kp" and len(rest) == 2 and rest[0] in plan.indicators:
        return T("out.entry-funding", source=plan.indicators[rest[0]].name, year=rest[1])
    if kind == "kt" and len(rest) == 2 and rest[0].isdigit() and rest[1] in _AWARD_FIELD_LABELS:
        return T("out.entry-nomination", n=int(rest[0]) + 1, field=_lower_first(T(_AWARD_FIELD_LABELS[rest[1]])))
    if kind == "bc" and rest:
        if rest[0] == layout.TOPIC_ITEM:
            return T("out.entry-topic")
        return T("out.entry-narrative", item=rest[0])
    return T("out.entry-other")


_INT = re.compile(r"-?\d+")
_DEC = re.compile(r"-?\d+\.(\d+)")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


def _typed(value) -> tuple[object, str | None]:
    """A value of the changes frame as a cell (number, date or text) with its number format: the
    frame may hold what the reader typed shown as text ("2020-08-13", "1234.5")."""
    if isinstance(value, bool) or value is None:
        return value, None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None, None
        return value, _number_format(value)
    if isinstance(value, dt.datetime):
        return value, "dd/mm/yyyy hh:mm"
    if isinstance(value, dt.date):
        return value, "dd/mm/yyyy"
    text = str(value)
    if _INT.fullmatch(text) and len(text) < 16:
        return int(text), "#,##0"
    m = _DEC.fullmatch(text)
    if m and len(text) < 17:
        return float(text), _number_format(float(text))
    try:
        if _ISO_DAY.fullmatch(text):
            return dt.date.fromisoformat(text), "dd/mm/yyyy"
        if _ISO_TIME.fullmatch(text):
            return dt.datetime.fromisoformat(text), "dd/mm/yyyy hh:mm"
    except ValueError:
        pass
    return text, None


def _number_format(value: float) -> str:
    """Thousands grouped, as many decimals as the value has (up to 3)."""
    if float(value).is_integer():
        return "#,##0"
    decimals = min(3, len(repr(float(value)).split(".")[1].rstrip("0")))
    return "#,##0." + "0" * decimals


# -- printing -----------------------------------------------------------------------------------

A4_POINTS = {"landscape": (841.9, 595.3), "portrait": (595.3, 841.9)}
MARGIN_SIDE = templates.MARGIN_SIDE  # inches
MIN_PRINT_PT = 9.0  # the smallest text on paper (CLERK.md)
LINE_PT = 12.7  # one line of 11 pt Times New Roman in a wrapped cell


def column_points(width: float) -> float:
    """Printed width (points, at 100 %) of a column ``width`` characters wide in the default font,
    Times New Roman 11 (Excel: 7 pixels a character and 5 pixels of padding, at 96 dpi)."""
    return (width * 7 + 5) * 0.75


def print_scale(widths, orientation: str = "landscape") -> float:
    """The scale at which columns of ``widths`` fit the width of an A4 page."""
    usable = A4_POINTS[orientation][0] - 2 * 72 * MARGIN_SIDE
    return min(1.0, usable / sum(column_points(w) for w in widths))


# Advance widths of Times New Roman (the same as Liberation Serif, which LibreOffice uses in its
# place), in thousandths of an em, for the characters " " to "~"; the others take their base letter's.
_TNR = tuple(int(w) for w in (
    "250,333,408,500,500,833,777,180,333,333,500,563,250,333,250,277,500,500,500,500,500,500,500,500,500,500,"
    "277,277,563,563,563,443,920,722,666,666,722,610,556,722,722,333,389,722,610,889,722,722,556,722,666,556,"
    "610,722,722,943,722,722,610,333,277,333,469,500,333,443,500,443,500,443,333,500,500,277,277,500,277,777,"
    "500,500,500,500,333,389,277,500,500,722,500,500,443,479,200,479,541").split(","))  # fmt: skip
_TNR_BOLD = 1.1  # bold text is about this much wider (with LibreOffice's rounding)
_WIDE = {"ơ": 528, "Ơ": 722, "ư": 541, "Ư": 722, "–": 500, "—": 1000, "…": 1000, "≥": 548, "≤": 548, "đ": 500,
         "Đ": 722, "«": 500, "»": 500}  # fmt: skip


@functools.cache
def _char_em(ch: str) -> int:
    if ch in _WIDE:
        return _WIDE[ch]
    base = unicodedata.normalize("NFD", ch)[0]
    code = ord(base)
    return _TNR[code - 32] if 32 <= code < 127 else 600


@functools.lru_cache(maxsize=1 << 16)
def _word_em(word: str) -> int:
    """Width of ``word`` in thousandths of an em (the same words recur in every row of a table)."""
    return sum(_char_em(ch) for ch in word)


def text_lines(text: str, width: float, font: Font = templates.F_BODY) -> int:
    """Lines that ``text`` takes, word-wrapped in a column ``width`` characters wide (a word
    longer than the line is broken, as Excel and LibreOffice do)."""
    size = (font.size or 11) * (_TNR_BOLD if font.bold else 1.0) / 1000
    avail = column_points(width) - 6  # the cell's inner margins, and a little for rounding of widths
    space = _char_em(" ") * size
    lines = 0
    for para in str(text).split("\n"):
        lines += 1
        used = 0.0
        for word in para.split(" "):
            w = _word_em(word) * size
            if used and used + space + w <= avail:
                used += space + w
                continue
            if used:
                lines += 1
            while w > avail:
                lines += 1
                w -= avail
            used = w
    return lines


def row_height(texts) -> float:
    """Row height (points) for wrapped texts given as (text, column width in characters[, font]):
    the most lines any of them takes, 12.7 pt a line of 11 pt, plus padding; at most Excel's 409.5."""
    height = LINE_PT
    for text, width, *font in texts:
        f = font[0] if font else templates.F_BODY
        height = max(height, text_lines(text, width, f) * LINE_PT * (f.size or 11) / 11)
    return min(height + 3, xlsxrules.ROW_HEIGHT_MAX)


def print_setup(ws: Worksheet, *, landscape: bool = True, title_rows: str | None = None, area: str | None = None,
                one_page: bool = False) -> None:  # fmt: skip
    """The templates' page setup (``templates.page_setup``: A4, fit to the page width, 1 cm side
    margins, the header row repeated on every page) with the sheet's name beside the page number
    in the footer; fit to one page high too with ``one_page``."""
    templates.page_setup(ws, landscape, title_rows, footer=T("out.footer"))
    if one_page:
        ws.page_setup.fitToHeight = 1
    ws.page_margins.header = ws.page_margins.footer = 0.3
    if area:
        ws.print_area = area


def no_print(ws: Worksheet) -> None:
    """Nothing of ``ws`` is printed with the workbook: its print area is one blank cell beyond its
    content (Excel and LibreOffice print no page for a blank area). For sheets that are for the
    screen: raw per-unit detail, an empty table, the template's how-to-fill guide."""
    ws.print_area = f"{layout.col_letter(ws.max_column + 2)}1"


@dataclass(frozen=True)
class Col:
    """A column of a table sheet: header (``out.col-<key>``), width in characters, number format
    and whether its text wraps."""

    key: str
    width: float
    fmt: str | None = None
    wrap: bool = False


TOP = Alignment(vertical="top")


def _table(ws: Worksheet, title: str, cols: list[Col], rows: list[list], *, first_row: int = 3,
           printed: tuple[int, int] | None = None, styled: bool = True,
           marks: Mapping[tuple[int, int], dict] | None = None, cells: bool = False) -> int:  # fmt: skip
    """A titled table: header row styled, repeated on printed pages and frozen; a filter; number
    formats on every number column. ``printed`` (first and last column, default all) makes the
    print area: a code column or figures for sorting may stay off the paper. ``styled`` rows get
    borders, wrapped text and heights sized to it (a very long table, which is for filtering, not
    printing, skips them; its rows are taken as they are: None for an empty cell, no NaN, no pandas
    types). ``marks`` (row, column) -> cell attributes (``fill``, ``number_format``)
    on top of the column's style. The title (and any ``_note``) sits in the first printed column.
    Returns the header row.

    The rows are written into the sheet's XML at save (``xlsxcopy.defer_rows``: the cells openpyxl
    writes, at a tenth of the cost); with ``cells`` they are openpyxl cells, for a caller that adds
    what only a cell holds (a hyperlink)."""
    first, last = printed or (1, len(cols))
    width = sum(c.width for c in cols[first - 1 : last])
    templates.put(ws, (1, first), title, font=F_TITLE, alignment=WRAP_TOP)
    templates.merge(ws, 1, first, 1, last)
    ws.row_dimensions[1].height = row_height([(title, width, F_TITLE)])
    for col, spec in enumerate(cols, start=1):
        templates.put(ws, (first_row, col), T(f"out.col-{spec.key}"), font=F_HEAD, fill=FILL_HEAD,
                      alignment=CENTER, border=BORDER)  # fmt: skip
        ws.column_dimensions[layout.col_letter(col)].width = spec.width
    ws.row_dimensions[first_row].height = row_height([(T(f"out.col-{c.key}"), c.width, F_HEAD) for c in cols])
    wrap_cols = [i for i, c in enumerate(cols) if c.wrap and first - 1 <= i < last]
    if not styled:
        if rows:  # plain rows taken as they are (None for an empty cell; no NaN, no pandas types)
            styles = [xlsxcopy.column_style(ws, number_format=c.fmt) if c.fmt else None for c in cols]
            xlsxcopy.defer_rows(ws, first_row + 1, rows, styles)
    else:
        # each column's style made once (xlsxcopy.cell_style), a marked cell's once per mark
        protos = [xlsxcopy.cell_style(ws, border=BORDER, alignment=WRAP_TOP if c.wrap else TOP,
                                      **({"number_format": c.fmt} if c.fmt else {})) for c in cols]  # fmt: skip
        marked: dict[tuple[int, int], object] = {}
        made: dict[tuple, object] = {}
        for (r, c), attrs in sorted((marks or {}).items()):
            key = (c, *sorted((k, id(v)) for k, v in attrs.items()))
            if key not in made:
                made[key] = xlsxcopy.cell_style(ws, base=protos[c - 1], **attrs)
            marked[(r, c)] = made[key]
        values = [[_clean(v) for v in row] for row in rows]
        heights = {}
        for r, row in enumerate(values, start=first_row + 1):
            height = row_height([(row[i], cols[i].width) for i in wrap_cols if row[i] not in (None, "")])
            if height > LINE_PT + 3:
                heights[r] = height
        if values and not cells:
            xlsxcopy.defer_rows(ws, first_row + 1, values, protos, heights, marked)
        for r, row in enumerate(values if cells else (), start=first_row + 1):
            ws.append(row)  # rows follow the header (append is the fast path of openpyxl)
            for c, (value, style) in enumerate(zip(row, protos, strict=True), start=1):
                cell = ws.cell(r, c)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # a sender's text stays text
                cell._style = copy.copy(marked.get((r, c), style))
            if r in heights:
                ws.row_dimensions[r].height = heights[r]
    end = first_row + len(rows)
    if rows:
        ws.auto_filter.ref = f"A{first_row}:{layout.col_letter(len(cols))}{end}"
    else:
        templates.put(ws, (first_row + 1, first), T("out.no-rows"))
        end += 1
    ws.freeze_panes = f"A{first_row + 1}"
    area = None if (first, last) == (1, len(cols)) else f"{layout.col_letter(first)}1:{layout.col_letter(last)}{end}"
    print_setup(ws, title_rows=f"{first_row}:{first_row}", area=area)
    if not rows:  # "(không có)" on screen; no page of it on paper
        no_print(ws)
    return first_row


# -- the consolidated workbook ------------------------------------------------------------------


@collector_paused_during  # ~10^5 objects that die together; half the province's time went to collections
def write_workbook(c, path: Path) -> Path:
    """The consolidated workbook of ``c`` (a ``Consolidation``), written atomically."""
    return _write_workbook(c, path)


def _write_workbook(c, path: Path, prebuilt: bool = True) -> Path:
    plan = c.plan
    lay = layout.build(plan, layout.template_for(plan, c.scope.level))
    wb = _template_workbook(c, lay, prebuilt)
    mark_output(wb, "consolidated", unit=c.scope.unit, level=c.scope.level)  # intake skips it when found
    _printable_rows(wb, plan, lay)
    index = len(lay.sheets) - 2  # before _ds, _meta
    sheets = {}
    for key in ("totals", "status", "issues", "detail", "nominations", "cross", "changes", "charts"):
        sheets[key] = wb.create_sheet(T(f"out.sheet-{key}"), index)
        index += 1
    levels = c.coverage_by_level()  # pandas over every unit below: once, for the three sheets showing it
    _totals(sheets["totals"], c, levels)
    _status(sheets["status"], c, levels)
    _issues(sheets["issues"], c, path)
    _detail(sheets["detail"], c)
    _nominations(sheets["nominations"], c)
    _cross(sheets["cross"], c)
    _changes(sheets["changes"], c)
    _charts(sheets["charts"], c, levels)
    coverage.write(wb, c)  # read back by the level above: coverage travels up
    wb.active = wb.sheetnames.index(T("out.sheet-totals"))  # opens (and Ctrl+P prints) the summary
    for ws in wb.worksheets:
        ws.sheet_view.tabSelected = ws.title == T("out.sheet-totals")
    return save_workbook(wb, path)


def _template_workbook(c, lay, prebuilt: bool = True):
    """The level's template filled with the consolidated values, as a report prints it: written
    again at the XML level from one prebuilt per process (``templates.Prebuilt``), or built with
    openpyxl when a value needs it or ``prebuilt`` is false (the same bytes either way)."""
    plan, level = c.plan, c.scope.level
    if prebuilt:
        with contextlib.suppress(xlsxcopy.NotWritable):
            return templates.prebuilt(plan, level, c.unit, finish=_printable_frame).workbook(c.unit, c.appendix)
    wb = templates.build_workbook(plan, level, unit=c.unit, values=c.appendix, lay=lay)
    _printable_frame(wb, plan, lay)
    return wb


def _printable_frame(wb, plan, lay) -> None:
    """The template's sheets as a report prints them, whatever their values: not the how-to-fill
    guide, the sheet's name in every footer; none is the selected tab (the totals sheet is)."""
    for ws in wb.worksheets:
        if ws.sheet_state == "visible":
            ws.oddFooter.center.text = T("out.footer")
        ws.sheet_view.tabSelected = False
    if lay.sheets.get("guide") in wb.sheetnames:
        no_print(wb[lay.sheets["guide"]])


def _printable_rows(wb, plan, lay) -> None:
    """What printing the filled template depends on its values: Phụ lục 3 up to its last filled row
    (not twenty empty input rows), each of its rows and each narrative row as tall as its text."""
    value = functools.partial(templates.cell_value, wb)
    block = lay.award_block
    if block is not None and block.sheet in wb.sheetnames:
        filled = [r for r in range(block.first_row, block.last_row + 1)
                  if any(value(block.sheet, r, col) not in (None, "") for fld, col in lay.award_cols.items()
                         if fld != "priority")]  # fmt: skip
        last = max(filled, default=block.first_row)
        for r in range(block.first_row, last + 1):  # sized to the text; the empty rows stay for typing
            texts = [(v, templates.AWARD_WIDTHS[fld]) for fld, col in lay.award_cols.items()
                     if isinstance(v := value(block.sheet, r, col), str)]  # fmt: skip
            templates.set_row_height(wb, block.sheet, r, max(30.0, row_height(texts)))
        wb[block.sheet].print_area = f"A1:{layout.col_letter(block.last_col)}{last}"
    narrative = lay.sheets.get("narrative")
    if narrative in wb.sheetnames and lay.narrative_rows:
        widths = templates.NARRATIVE_WIDTHS
        for code, row in lay.narrative_rows.items():
            if ("bc", code) not in lay.inputs:
                continue  # headings and "see Phụ lục …" rows are sized by the template
            texts = [(v, widths[col - 1]) for col in (2, 3) if isinstance(v := value(narrative, row, col), str)]
            templates.set_row_height(wb, narrative, row, max(30.0, row_height(texts)))


def coverage_text(plan, covered: int, expected: int, unknown: int, leaf_level: str) -> str:
    """"186/188 xã, phường, thị trấn" (with "(chưa rõ N)" when some leaves are unknown)."""
    noun = plan.levels[leaf_level].unit_noun if leaf_level in plan.levels else T("coverage.noun-any")
    if unknown:
        return T("coverage.of-unknown", covered=covered, expected=expected, noun=noun, unknown=unknown)
    return T("coverage.of", covered=covered, expected=expected, noun=noun)


def _names(c, codes: list[str]) -> str:
    plan = c.plan
    shown = []
    for code in codes[:NAMES_SHOWN]:
        unit = plan.unit(code)
        parent = plan.unit(unit.parent) if unit is not None and unit.parent else None
        if unit is None:
            shown.append(code)
        elif parent is not None and parent.code != c.scope.unit:
            shown.append(T("coverage.unit-in", code=code, name=unit.name, parent=parent.name))
        else:
            shown.append(f"{code} - {unit.name}")
    text = ", ".join(shown)
    if len(codes) > NAMES_SHOWN:
        text = T("coverage.more", names=text, count=len(codes) - NAMES_SHOWN)
    return text


def coverage_lines(c, direct: bool = False, levels: list[dict] | None = None) -> list[str]:
    """Who reported into this consolidation, per level: with ``direct`` the direct units too, then
    every level below ("Cấp xã, theo báo cáo tổng hợp của cấp trên trực tiếp: 186/188 …"),
    naming the missing and late units. The same lines go to the status sheet, the totals sheet
    and the report, computed from ``c.coverage_by_level()`` (or ``levels``, what it returned)."""
    lines = []
    unknown = False
    for lv in c.coverage_by_level() if levels is None else levels:
        if lv["direct"] and not direct:
            continue
        level = c.plan.levels[lv["level"]]
        key = "coverage.direct-line" if lv["direct"] else "coverage.below-line"
        lines.append(T(key, level=level.name, noun=level.unit_noun, **{k: lv[k] for k in (
            "received", "expected", "on_time", "late", "missing", "pending", "unknown")}))  # fmt: skip
        if lv["missing_units"]:
            lines.append(T("coverage.missing-names", names=_names(c, lv["missing_units"])))
        if lv["late_units"] and not lv["direct"]:
            lines.append(T("coverage.late-names", names=_names(c, lv["late_units"])))
        unknown = unknown or lv["unknown"] > 0
    if unknown:
        lines.append(T("coverage.unknown-note"))
    return lines


TOTALS_COLUMNS = [
    Col("indicator", 15, wrap=True), Col("indicator-name", 47, wrap=True), Col("milestone", 5, "0"),
    Col("num", 9, "#,##0"), Col("den", 9, "#,##0"), Col("rate", 6, "0.0"), Col("target", 9, wrap=True),
    Col("verdict", 9, wrap=True), Col("covered", 7, "#,##0"), Col("expected", 7, "#,##0"), Col("na", 7, "#,##0"),
    Col("rejected", 7, "#,##0"), Col("source", 12, wrap=True), Col("verified", 13, wrap=True),
    Col("coverage", 16, wrap=True),
    # the figures behind «Phạm vi số liệu», for sorting and filtering
    Col("leaves-covered", 10, "#,##0"), Col("leaves-expected", 10, "#,##0"), Col("leaves-unknown", 10, "#,##0"),
]  # fmt: skip
TOTALS_PRINTED = (2, 15)  # the indicator's name to the coverage: the code and the leaf counts stay on screen


def _totals(ws: Worksheet, c, levels: list[dict]) -> None:
    plan = c.plan
    rows = []
    for r in _tuples(c.totals):
        target = plan.targets[(r.indicator, r.milestone)]
        rows.append([r.indicator, plan.indicators[r.indicator].name, r.milestone, r.num, r.den, r.rate,
                     layout.target_text(target),
                     aggregate.verdict_text(r.verdict, r.partial),
                     r.units_covered, r.units_expected, r.units_na,
                     r.units_rejected, source_label(plan, r.source), verified_label(target.verified),
                     coverage_text(plan, r.leaves_covered, r.leaves_expected, r.leaves_unknown, r.leaf_level),
                     r.leaves_covered, r.leaves_expected, r.leaves_unknown])  # fmt: skip
    fills = {"dat": FILL_OK, "vuot": FILL_OK, "khong-dat": FILL_BAD}
    marks = {(i, 8): {"fill": fills[v]} for i, v in enumerate(c.totals["verdict"], start=4) if v in fills}
    _table(ws, T("out.title-totals", unit=c.unit.name.upper()), TOTALS_COLUMNS, rows, printed=TOTALS_PRINTED,
           marks=marks)  # fmt: skip
    _note(ws, 2, T("coverage.totals-note", lines=" ".join(coverage_lines(c, levels=levels))).strip(), TOTALS_PRINTED)


def _note(ws: Worksheet, row: int, text: str, cols: tuple[int, int] | None = None) -> None:
    """A line of text above a table, wrapped across the table's printed columns (``cols``: first
    and last, default all)."""
    first, last = cols or (1, max(ws.max_column, 1))
    templates.put(ws, (row, first), text, alignment=WRAP_TOP)
    templates.merge(ws, row, first, row, last)
    width = sum((ws.column_dimensions[layout.col_letter(c)].width or 9) for c in range(first, last + 1))
    ws.row_dimensions[row].height = row_height([(text, width)])


def _pct(n: int, total: int) -> str:
    """n of total in percent, rounded by the one rule: "98,1%"."""
    return f"{round_rate(n / total * 100 if total else 0)}%".replace(".", ",")


STATUS_STATES = ("on_time", "late", "missing", "pending")  # a submission's states, in the charts' order


def status_summary(c) -> dict[str, int | str]:
    """Counts of the direct units' status; ``with_errors`` counts units with an error in the
    issue list (the status frame's ``errors`` column is computed from it)."""
    s = c.status
    total = len(s)
    counts = {
        k: int((s["state"] == k).sum()) if total else 0 for k in STATUS_STATES
    }
    return {
        "expected": total,
        **counts,
        "with_errors": int((s["errors"] > 0).sum()) if total else 0,
        **{f"{k}_pct": _pct(v, total) for k, v in counts.items()},
    }


STATUS_HEADS = ("unit", "unit-name", "level", "state", "deadline", "received", "days-late", "errors", "warnings",
                "file", "contact", "phone", "received-source", "note")  # fmt: skip
STATUS_WIDTHS = (9, 28, 14, 13, 11, 16, 9, 8, 10, 40, 22, 14, 18, 40)
# the verdict stays the last column (the ribbon colours it); the reason comes just before it
NOMINATION_HEADS = ("proposer", "priority", "award", "kind", "name", "position", "nominee-unit", "summary",
                    "previous", "reason", "quota")  # fmt: skip
NOMINATION_WIDTHS = (26, 7, 26, 10, 24, 20, 26, 46, 20, 36, 16)


def status_rows(c) -> list[list]:
    """The submission status as rows (same columns as ``STATUS_HEADS``): workbook and ribbon. A
    direct unit without a report reads «Chưa có báo cáo đọc được» when some received file could not
    be read (``Consolidation.unreadable``: it may be that unit's; the note names it)."""
    labels = {s: T(key) for s, key in STATE.items()}
    if c.unreadable:
        labels["missing"] = T("consolidate.state-no-readable")
    return [
        [r.unit, r.name, c.plan.levels[r.level].name, labels[r.state], r.deadline, _clean(r.received_at),
         r.days_late or None, r.errors, r.warnings, r.file, r.contact, r.phone,
         received_source_text(r.received_source, c.chosen.get(r.unit)), r.note]
        for r in _tuples(c.status)
    ]  # fmt: skip


def received_source_text(source: str, r) -> str:
    """The "Nguồn ngày nhận" cell: the evidence's label, or for a report received by mail
    "nhận qua thư lúc … của …" (the server's received time and the sender of its first arrival)."""
    mail = getattr(r, "arrived_mail", None) if r is not None else None
    if source == "mailbox" and mail is not None:
        return T("evidence.mailbox-from", when=mail.received_at.strftime("%H:%M %d/%m/%Y"),
                 sender=mail.sender or "?")  # fmt: skip
    return T(f"evidence.{source}") if source else ""


def nomination_rows(c) -> list[list]:
    """The nominations with their quota verdicts (columns of ``NOMINATION_HEADS``)."""
    rows = []
    for r in _tuples(c.nominations):
        proposer = c.plan.unit(r.proposer)
        rows.append([f"{r.proposer} - {proposer.name}" if proposer else r.proposer, r.priority, r.award_name,
                     T(f"out.kind-{r.kind}") if r.kind else "", r.name, r.position, r.unit_text, r.summary,
                     r.previous, r.reason, r.verdict])  # fmt: skip
    return rows


def heads(names) -> list[str]:
    return [T(f"out.col-{h}") for h in names]


# printed widths (the add-in writes the same columns with STATUS_WIDTHS, for the screen)
STATUS_COLUMNS = [
    Col("unit", 9), Col("unit-name", 18, wrap=True), Col("level", 8, wrap=True), Col("state", 9, wrap=True),
    Col("deadline", 11, "dd/mm/yyyy"), Col("received", 16, "dd/mm/yyyy hh:mm"), Col("days-late", 5, "0"),
    Col("errors", 5, "0"), Col("warnings", 7, "0"), Col("file", 24, wrap=True), Col("contact", 14, wrap=True),
    Col("phone", 14, wrap=True), Col("received-source", 13, wrap=True), Col("note", 13, wrap=True),
]  # fmt: skip


def _status(ws: Worksheet, c, levels: list[dict]) -> None:
    assert [col.key for col in STATUS_COLUMNS] == list(STATUS_HEADS)
    fills = {"late": FILL_WARN, "missing": FILL_BAD, "on_time": FILL_OK}
    marks = {(i, 4): {"fill": fills[state]} for i, state in enumerate(c.status["state"], start=5) if state in fills}
    _table(ws, T("out.title-status", as_of=c.as_of.strftime("%d/%m/%Y")), STATUS_COLUMNS, status_rows(c),
           first_row=4, marks=marks)  # fmt: skip
    _note(ws, 2, T("out.summary-status", **status_summary(c)))
    below = coverage_lines(c, levels=levels)
    if below:
        _note(ws, 3, " ".join(below))


ISSUE_COLUMNS = [
    Col("severity", 9, wrap=True), Col("issue-kind", 18, wrap=True), Col("code", 14, wrap=True), Col("unit", 9),
    Col("file", 18, wrap=True), Col("sheet", 10, wrap=True), Col("cell", 6), Col("message", 65, wrap=True),
]  # fmt: skip


def issue_kind(code: str) -> str:
    """The short Vietnamese name of an issue code (``issue-kind.<code>`` of messages/frames.toml)."""
    key = f"issue-kind.{code}"
    return T(key) if key in messages.table() else T("out.issue-kind-other")


def _issues(ws: Worksheet, c, out_path: Path) -> None:
    rows = [[T(f"out.severity-{i.severity}"), issue_kind(i.code), i.code, i.unit, i.file, i.sheet, i.cell, i.message]
            for i in c.report]  # fmt: skip
    _table(ws, T("out.title-issues"), ISSUE_COLUMNS, rows, cells=True)  # cells: a file's hyperlink
    out_dir = out_path.resolve().parent
    for r, issue in enumerate(c.report, start=4):
        ws.cell(r, 1).fill = (
            FILL_BAD if issue.severity == "error" else (FILL_WARN if issue.severity == "warning" else FILL_OK)
        )
        if issue.file:
            source = (c.folder / issue.file).resolve()
            if source.exists():
                target = Path(os.path.relpath(source, out_dir)).as_posix()
                if issue.sheet and issue.cell:
                    target += f"#'{issue.sheet}'!{issue.cell}"
                ws.cell(r, 5).hyperlink = target
                ws.cell(r, 5).font = Font(name=templates.FONT, color="0563C1", underline="single")


DETAIL_WIDTHS = {"unit": 8, "name": 24, "level": 10, "indicator": 14, "milestone": 6, "num": 10, "den": 10,
                 "rate": 7, "verdict": 9, "state": 12, "file": 30}  # fmt: skip
DETAIL_FORMATS = {"milestone": "0", "num": "#,##0", "den": "#,##0", "rate": "0.0"}


def _detail(ws: Worksheet, c) -> None:
    """Every unit's figures, one row per unit, indicator and milestone: for filtering and sorting
    (and read back by the level above, by position: ``read_detail``). At the province it has
    thousands of rows, so it is not printed with the workbook (``no_print``); a note above it says
    how to print a filtered part."""
    plan = c.plan
    d = c.detail

    def column(name: str, text=_clean) -> list:  # each distinct value made once (a province: 90,000 cells)
        values = d[name].tolist()
        made = {v: text(v) for v in set(values)}
        return [made[v] for v in values]

    def level_name(level):
        return plan.levels[level].name if level in plan.levels else level

    def indicator_name(code):
        return plan.indicators[code].name if code in plan.indicators else ""

    figures = [[None if v != v else v for v in d[name].tolist()] for name in ("num", "den", "rate")]  # NaN: empty
    rows = list(zip(column("unit"), column("name"), column("level", level_name), column("indicator"),
                    column("milestone"), *figures, column("verdict", aggregate.verdict_text),
                    column("state", lambda s: T(f"out.state-{s}")), column("file"),
                    column("indicator", indicator_name), strict=True))  # fmt: skip
    # the column headers are the texts of DETAIL_COLUMNS ("name" and "state" have their own labels)
    labels = {"name": "unit-name", "state": "data-state"}
    cols = [Col(labels.get(k, k), DETAIL_WIDTHS[k], DETAIL_FORMATS.get(k)) for k in DETAIL_COLUMNS]
    cols.append(Col("indicator-name", 60))  # after the columns the level above reads
    _table(ws, T("out.title-detail"), cols, rows, printed=(1, len(DETAIL_COLUMNS)), styled=False)
    note = T("out.detail-note", rows=f"{len(rows):,}".replace(",", "."))
    _note(ws, 2, note, (1, len(DETAIL_COLUMNS)))
    no_print(ws)


# printed widths (the add-in writes the same columns with NOMINATION_WIDTHS, for the screen)
NOMINATION_COLUMNS = [
    Col("proposer", 17, wrap=True), Col("priority", 5, "0"), Col("award", 19, wrap=True), Col("kind", 8, wrap=True),
    Col("name", 19, wrap=True), Col("position", 15, wrap=True), Col("nominee-unit", 18, wrap=True),
    Col("summary", 40, wrap=True), Col("previous", 18, wrap=True), Col("reason", 26, wrap=True),
    Col("quota", 14, wrap=True),
]  # fmt: skip


NOMINATION_DETAILS = ("summary", "previous")  # in the award list in full; here folded (the [+] above opens them)


def _nominations(ws: Worksheet, c) -> None:
    assert [col.key for col in NOMINATION_COLUMNS] == list(NOMINATION_HEADS)
    col = len(NOMINATION_HEADS)
    marks = {(i, col): {"fill": FILL_OK if code == "within" else
                        FILL_WARN if code in ("proposal", "no-quota", "invalid") else FILL_BAD}
             for i, code in enumerate(c.nominations["verdict_code"], start=4)}  # fmt: skip
    _table(ws, T("out.title-nominations"), NOMINATION_COLUMNS, nomination_rows(c), marks=marks)
    first, last = (layout.col_letter(NOMINATION_HEADS.index(k) + 1) for k in NOMINATION_DETAILS)
    ws.column_dimensions.group(first, last, outline_level=1, hidden=True)


CROSS_COLUMNS = [
    Col("indicator", 15, wrap=True), Col("indicator-name", 44, wrap=True), Col("milestone", 6, "0"),
    Col("cross-source", 16, wrap=True), Col("num", 10, "#,##0"), Col("den", 10, "#,##0"), Col("rate", 7, "0.0"),
    Col("units", 7, "#,##0"), Col("used-source", 16, wrap=True), Col("used-rate", 10, "0.0"),
]  # fmt: skip


def _cross(ws: Worksheet, c) -> None:
    plan = c.plan
    rows = [[r.indicator, plan.indicators[r.indicator].name if r.indicator in plan.indicators else "", r.milestone,
             source_label(plan, r.source), r.num, r.den, r.rate, r.units, source_label(plan, r.used_source),
             r.used_rate] for r in _tuples(c.cross)]  # fmt: skip
    _table(ws, T("out.title-cross"), CROSS_COLUMNS, rows, printed=(2, len(CROSS_COLUMNS)))


CHANGE_COLUMNS = [
    Col("unit", 9), Col("unit-name", 18, wrap=True), Col("entry", 33, wrap=True), Col("sheet", 10, wrap=True),
    Col("cell", 6), Col("before", 14, wrap=True), Col("after", 14, wrap=True), Col("file", 20, wrap=True),
    Col("previous-file", 20, wrap=True),
]  # fmt: skip


def _changes(ws: Worksheet, c) -> None:
    plan = c.plan
    rows, formats = [], []
    for r in _tuples(c.changes):
        unit = plan.unit(r.unit)
        (before, before_fmt), (after, after_fmt) = _typed(r.before), _typed(r.after)
        rows.append([r.unit, unit.name if unit is not None else "", entry_label(plan, r.key), r.sheet, r.cell,
                     before, after, r.file, r.previous_file])  # fmt: skip
        formats.append((before_fmt, after_fmt))
    marks = {(i, col): {"number_format": fmt} for i, fmts in enumerate(formats, start=4)
             for col, fmt in zip((6, 7), fmts, strict=True) if fmt}  # fmt: skip
    _table(ws, T("out.title-changes"), CHANGE_COLUMNS, rows, marks=marks)


CHART_PT = 1100  # chart text size (hundredths of a point): 9 pt or more on paper at the sheet's scale
CHART_COLUMN = 8.5  # characters: 8 such columns (~13.4 cm in LibreOffice) hold the 13 cm chart and a gap


def _chart_text(bold: bool = False, size: int = CHART_PT) -> RichText:
    props = CharacterProperties(sz=size, b=bold, latin=DrawingFont(typeface=templates.FONT))
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def _chart_title(text: str) -> Title:
    props = CharacterProperties(sz=CHART_PT + 100, b=True, latin=DrawingFont(typeface=templates.FONT))
    run = RegularTextRun(rPr=props, t=text)
    return Title(tx=Text(rich=RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), r=[run])])),
                 overlay=False)  # fmt: skip


def _chart_fonts(chart: BarChart, title: str) -> None:
    chart.title = _chart_title(title)
    chart.x_axis.txPr = _chart_text()
    chart.y_axis.txPr = _chart_text()
    chart.x_axis.delete = chart.y_axis.delete = False
    if chart.legend is not None:
        chart.legend.txPr = _chart_text()


def level_series(plan, level: dict) -> str:
    """The name of one level's series in the status chart and its table ("Xã, phường, thị trấn
    (188)"): ``level`` is one item of ``Consolidation.coverage_by_level()``."""
    noun = plan.levels[level["level"]].unit_noun
    return T("out.series-level", noun=textnorm.capitalized(noun), count=level["expected"])


def _charts(ws: Worksheet, c, levels: list[dict]) -> None:
    """Native Excel charts over small tables on this sheet (they stay live in Excel), side by side
    on one A4 landscape page: targets met per unit, and the submission status."""
    year = max(c.plan.milestones)
    widths = (21, 10, 10)
    for col, (key, width) in enumerate(zip(("out.col-unit-name", "out.series-met", "out.series-not-met"), widths,
                                           strict=True), start=1):  # fmt: skip
        templates.put(ws, (1, col), T(key), font=F_HEAD, fill=FILL_HEAD, alignment=CENTER, border=BORDER)
        ws.column_dimensions[layout.col_letter(col)].width = width
    ws.column_dimensions["E"].width = 2  # a gap between the tables (the status table may use D) and the charts
    # The first chart lies within F:M, the second starts at N. The tables (~11.4 cm), F:M (~13.4 cm)
    # and the second chart (8 cm) make the page's width, ~33 cm, which A4 landscape (27.7 cm between
    # the margins) prints at ~84 %: 11 pt text prints at 9.2 pt (CLERK.md: 9 pt or more; with the
    # default column width and a 10 cm second chart, 35.6 cm printed it at 8.5 pt).
    for col in range(6, 14):
        ws.column_dimensions[layout.col_letter(col)].width = CHART_COLUMN
    ws.row_dimensions[1].height = row_height([(T(k), w, F_HEAD) for k, w in (("out.series-met", 10),
                                                                          ("out.series-not-met", 10))])  # fmt: skip
    # the figures of plot.targets() too: one function counts them
    units = [(r.name, int(r.met), int(r.not_met)) for r in _tuples(c.attainment(year))]
    for i, (name, met, not_met) in enumerate(units, start=2):
        templates.put(ws, (i, 1), name, alignment=WRAP_TOP, border=BORDER)
        templates.put(ws, (i, 2), met, number_format="0", alignment=TOP, border=BORDER)
        templates.put(ws, (i, 3), not_met, number_format="0", alignment=TOP, border=BORDER)
        if text_lines(name, widths[0]) > 1:
            ws.row_dimensions[i].height = row_height([(name, widths[0])])
    if units:
        chart = BarChart()
        chart.type = "bar"
        chart.grouping = "stacked"
        chart.overlap = 100
        data = Reference(ws, min_col=2, max_col=3, min_row=1, max_row=len(units) + 1)
        cats = Reference(ws, min_col=1, min_row=2, max_row=len(units) + 1)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        chart.x_axis.scaling.orientation = "maxMin"  # the units in the table's order, top down
        chart.legend.position = "b"
        _chart_fonts(chart, T("out.chart-attainment", year=year))
        chart.height = max(8, 0.55 * len(units) + 4)
        chart.width = 13  # within F:M, 8 columns of CHART_COLUMN characters (narrower, LibreOffice drops every other unit name)
        ws.add_chart(chart, "F1")
    # submission status per level, direct units and every level below (coverage.by_level: the
    # figures of "186/188 xã" everywhere), so the chart never shows only the units that reported
    start = len(units) + 4
    # every unit of a level in one state: those whose state is unknown (below a unit whose workbook
    # could not be read) have their row, or the column would not add up to «(188)» above it
    states = STATUS_STATES + (("unknown",) if any(lv["unknown"] for lv in levels) else ())
    templates.put(ws, (start, 1), T("out.col-state"), font=F_HEAD, fill=FILL_HEAD, alignment=CENTER, border=BORDER)
    for col, lv in enumerate(levels, start=2):
        templates.put(ws, (start, col), level_series(c.plan, lv), font=F_HEAD, fill=FILL_HEAD, alignment=CENTER, border=BORDER)
        for i, state in enumerate(states, start=start + 1):
            templates.put(ws, (i, col), lv[state], number_format="0", border=BORDER)
    ws.row_dimensions[start].height = row_height([(level_series(c.plan, lv), 12, F_HEAD) for lv in levels])
    for i, state in enumerate(states, start=start + 1):
        templates.put(ws, (i, 1), T(STATE[state]), border=BORDER)
    for col in range(2, 2 + len(levels)):  # the level names wrap in columns of the first table's width
        letter = layout.col_letter(col)
        ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, 12)
    chart = BarChart()
    chart.type = "col"
    chart.add_data(Reference(ws, min_col=2, max_col=1 + max(1, len(levels)), min_row=start,
                             max_row=start + len(states)), titles_from_data=True)  # fmt: skip
    chart.set_categories(Reference(ws, min_col=1, min_row=start + 1, max_row=start + len(states)))
    chart.legend.position = "b"
    _chart_fonts(chart, T("out.chart-status"))
    chart.width, chart.height = 8, 9
    ws.add_chart(chart, "N1")  # to the right of the first chart (13 cm within columns F to M)
    print_setup(ws)


# -- JSON and facts -----------------------------------------------------------------------


def _records(frame: pd.DataFrame, dates: tuple[str, ...] = ()) -> list[dict]:
    """Rows as JSON-ready dicts; columns in ``dates`` (days held as datetime64 at 00:00) as dates."""
    out = []
    names = list(frame.columns)
    columns = [frame[k].tolist() for k in names]  # (to_dict takes each column by position: slow)
    for values in zip(*columns, strict=True):
        clean = {}
        for k, v in zip(names, values, strict=True):
            v = _clean(v)
            if k in dates and isinstance(v, dt.datetime):
                v = v.date()
            if isinstance(v, (dt.date, dt.datetime)):
                v = v.isoformat()
            elif hasattr(v, "item"):
                v = v.item()
            clean[k] = v
        out.append(clean)
    return out


def report_dict(c) -> dict:
    return {
        "plan": c.plan.id,
        "unit": c.scope.unit,
        "level": c.scope.level,
        "run_at": c.run_at.isoformat(),
        "as_of": c.as_of.isoformat(),
        "deadlines": {k: v.isoformat() for k, v in c.deadlines.items()},
        "summary": status_summary(c),
        # who reported, per level, down to the leaves: {"level", "direct", "expected", "received", …}
        "coverage": c.coverage_by_level(),
        "issues": [i.as_dict() for i in c.report],
        "status": _records(c.status, dates=("deadline",)),
        "below": _records(c.below),
        "folder": str(Path(c.folder).resolve()),  # the received files' folder: "file" is relative to it
        # every file read, with the received time used and its evidence (and the message it came in)
        "files": [
            {"file": r.rel, "unit": r.unit, "received_at": r.received_at.isoformat(),
             "received_source": r.received_source, "used": r.used, "sha256": r.sha256,
             "mail": r.mail.as_dict() if r.mail is not None else None}
            for r in c.received
        ],
        # whom to call: late and missing units with the contact the plan or their last workbook gives
        "call_list": _records(
            c.status[c.status["state"].isin(["late", "missing"])][
                ["unit", "name", "state", "days_late", "contact", "phone"]
            ]
        ),
        "totals": _records(c.totals),
        "funding": _records(c.funding),
        "nominations": _records(c.nominations),
        "cross_checks": _records(c.cross),
        "changes": _records(c.changes),
    }


@collector_paused_during
def write_json(c, path: Path) -> Path:
    return write_text(path, json.dumps(report_dict(c), ensure_ascii=False, indent=1))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Text starting with these is written with one more apostrophe in front (the apostrophe itself
# too, so that a reader takes exactly one off: ``analysis.load_facts``).
QUOTED_START = (*_FORMULA_START, "'")
FACTS_FORMAT = "xhht-facts/1"  # the "format" of a facts JSON file


@collector_paused_during
def write_facts(c, path: Path) -> Path:
    """The facts frame of ``c`` (schema ``facts``: every cell as typed and as used, with its
    state, issue, plan and consolidation) as a file ``xx.load_facts`` reads back.

    ``.json``: ``{"format": "xhht-facts/1", "columns": [...], "data": [[...], ...]}``, values as
    typed (NaN as null). Any other suffix: CSV, UTF-8 with BOM so Excel shows Vietnamese; text
    a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, tab, CR) or that starts
    with an apostrophe gets one apostrophe in front."""
    from .frames import schema

    frame = c.facts
    if path.suffix.lower() == ".json":
        split = json.loads(frame.to_json(orient="split", index=False, force_ascii=False, double_precision=15))
        payload = {"format": FACTS_FORMAT, "columns": split["columns"], "data": split["data"]}
        return write_text(path, json.dumps(payload, ensure_ascii=False))
    frame = frame.copy()
    for col in schema("facts").columns:
        if col.kind == "text":
            frame[col.name] = [("'" + v) if isinstance(v, str) and v.startswith(QUOTED_START) else v
                               for v in frame[col.name]]  # fmt: skip
    return write_text(path, "\ufeff" + frame.to_csv(index=False))


def read_detail(path: Path, plan, bad: list[str] | None = None, *, data: bytes | None = None) -> pd.DataFrame:
    """The per-unit detail of a consolidated workbook sent up by the level below (or an empty frame).

    This is how the communes' figures reach the province through the districts' workbooks. A
    workbook already read by ``read.read`` need not be read again: :func:`detail_of`. ``data``: the
    file's bytes, already read (``path`` then only names it).
    """
    from .read import sheet_rows

    return detail_frame(sheet_rows(path, T("out.sheet-detail"), bound=DETAIL_BOUND, data=data), plan, bad)


def detail_of(
    sub, plan, path: Path | None = None, bad: list[str] | None = None, *, data: bytes | None = None
) -> pd.DataFrame:
    """:func:`read_detail` of the workbook of submission ``sub``: from the sheet its reader kept
    (``Submission.sent_up``), else read from ``data`` (the bytes that were read, as the store keeps
    them) or ``path`` (default: ``sub.path``). ``bad``: as in :func:`detail_frame`."""
    if sub.sent_up is not None:
        return detail_frame(sub.sent_up.get(T("out.sheet-detail")), plan, bad)
    return read_detail(path if path is not None else sub.path, plan, bad, data=data)


_DETAIL_MILESTONE_COLUMN = "E"  # where «Chi tiết» holds the milestone (DETAIL_COLUMNS' fifth)


def _detail_milestone(value, plan) -> int | None:
    """The milestone a «Chi tiết» cell holds, or None: not a number (text, a date, an error,
    empty) or not one of the plan's milestones (a fraction, NaN, 1E+308 typed over it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in plan.milestones:
        return None
    return int(value)


def _detail_unit(value) -> str | None:
    """The unit code a «Chi tiết» cell holds as text, or None (a number no code is: 1E+308, NaN)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else None
    return str(value)


def detail_frame(rows: list[list] | None, plan, bad: list[str] | None = None) -> pd.DataFrame:
    """The detail frame (columns :data:`DETAIL_COLUMNS`) from the values of a «Chi tiết» sheet
    (``read.sheet_rows``; None: no such sheet or damaged, an empty frame).

    A row whose milestone is not one of the plan's (text, a date, an error, 1E+308 typed over
    it) or whose unit code is no code is left out, and its cell (``E12``) is added to ``bad`` when
    given: a district's workbook edited by hand must not stop the province's consolidation."""
    if rows is None:  # no such sheet, or damaged: it must not stop the consolidation
        return pd.DataFrame(columns=list(DETAIL_COLUMNS))
    levels = {lv.name: lv.code for lv in plan.levels.values()}
    states = {T(f"out.state-{s}"): s for s in ("ok", "na", "empty", "rejected")}
    out = []
    for number, row in enumerate(rows[3:], start=4):
        if len(row) < len(DETAIL_COLUMNS) or not row[0]:
            continue
        rec = dict(zip(DETAIL_COLUMNS, row, strict=False))
        milestone, unit = _detail_milestone(rec["milestone"], plan), _detail_unit(rec["unit"])
        if milestone is None or unit is None:
            if bad is not None:
                bad.append(f"{_DETAIL_MILESTONE_COLUMN if milestone is None else 'A'}{number}")
            continue
        rec["unit"], rec["milestone"] = unit, milestone
        rec["level"] = levels.get(rec["level"], rec["level"])
        rec["verdict"] = aggregate.verdict_of(rec["verdict"])
        rec["state"] = states.get(rec["state"], "ok")
        for col in ("num", "den", "rate"):
            rec[col] = float(rec[col]) if isinstance(rec[col], (int, float)) else float("nan")
        out.append(rec)
    return pd.DataFrame(out, columns=list(DETAIL_COLUMNS))
