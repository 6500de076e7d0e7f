"""The official template workbooks, written from the plan and the layout with openpyxl.

Everything a commune needs works without Python or macros: dropdowns, data validation,
conditional formatting that turns a wrong entry red, formulas for rates and Đạt/Không đạt/Vượt,
locked labels (sheet protection without a password) and A4 print setup.

``build_workbook`` can also pre-fill values (a per-unit template, a returned copy, a
consolidated appendix); a value is always written as a value, a sender's text never as a formula.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.cell.cell import MergedCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.merge import MergedCellRange
from openpyxl.worksheet.worksheet import Worksheet

from . import __version__, cleaning, layout, messages, textnorm, xlsxcopy, xlsxrules
from .fileio import save_workbook
from .layout import Cell, Layout, col_letter
from .ooxml import split_ref
from .plan import Plan, Target, Unit

FONT = "Times New Roman"
CREATED = dt.datetime(2020, 6, 18, 8, 0, 0)  # KH 137 date: fixed so builds are reproducible

_thin = Side(style="thin", color="808080")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
F_TITLE = Font(name=FONT, size=13, bold=True)
F_HEAD = Font(name=FONT, size=11, bold=True)
F_BODY = Font(name=FONT, size=11)
F_SMALL = Font(name=FONT, size=10, italic=True)
F_CODE = Font(name=FONT, size=10)
F_GROUP = Font(name=FONT, size=11, bold=True)
FILL_HEAD = PatternFill("solid", fgColor="D9E1F2")
FILL_GROUP = PatternFill("solid", fgColor="EDEDED")
FILL_INPUT = PatternFill("solid", fgColor="FFFFE0")
FILL_GREY = PatternFill("solid", fgColor="BFBFBF")
FILL_CALC = PatternFill("solid", fgColor="F2F2F2")
FILL_BAD = PatternFill("solid", fgColor="FF9999")
FILL_OK = PatternFill("solid", fgColor="C6EFCE")
FILL_WARN = PatternFill("solid", fgColor="FFC7CE")
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT_TOP = Alignment(horizontal="left", vertical="top")
RIGHT_TOP = Alignment(horizontal="right", vertical="top")  # one object: found by identity (_StyleList)
MARGIN_SIDE = 0.4  # inches (1 cm): the page width goes to the columns
MARGIN_TOP = 0.6  # inches, top and bottom; the footer sits in the bottom margin
CHARS_PER_WIDTH = 1.05  # Times New Roman 11 pt characters per unit of column width, word wrap included
UNLOCKED = Protection(locked=False)
LOCKED = Protection(locked=True)

T = messages.text


def _na_check(ref: str) -> str:
    return f'OR({ref}="{T("layout.na-text")}",{ref}="{T("layout.na-short")}")'


def count_rule(cell: str, num: str, den: str) -> str:
    """Excel condition: ``cell`` is "không áp dụng", or a whole number >= 0 and, when both of the
    pair are numbers, num <= den. IF keeps a text entry away from INT (#VALUE!, not FALSE)."""
    return (
        f"IF(ISNUMBER({cell}),AND({cell}>=0,{cell}=INT({cell}),"
        f"IF(AND(ISNUMBER({num}),ISNUMBER({den})),{num}<={den},TRUE)),{_na_check(cell)})"
    )


def amount_rule(cell: str) -> str:
    return f"IF(ISNUMBER({cell}),{cell}>=0,{_na_check(cell)})"


def rate_formula(num: str, den: str) -> str:
    """Tỷ lệ (%): blank unless both entries pass ``count_rule`` and den > 0, so a row the checks
    reject never shows a rate (nor, through it, a verdict)."""
    valid = f"AND({den}>0,{num}>=0,{num}<={den},{num}=INT({num}),{den}=INT({den}))"
    return f'=IF(AND(ISNUMBER({num}),ISNUMBER({den})),IF({valid},{num}/{den}*100,""),"")'


def rate_value(num: object, den: object) -> float | str:
    """What ``rate_formula`` evaluates to (its cached value)."""
    n, d = xlsxrules.excel_number(num), xlsxrules.excel_number(den)
    if n is None or d is None or not (d > 0 and 0 <= n <= d and n.is_integer() and d.is_integer()):
        return ""
    return n / d * 100


def verdict_formula(rate: str, kind: str, low: str, high: str, previous: str | None) -> str:
    """Đạt / Không đạt / Vượt, the same rule as ``plan.Target.verdict`` (half-up to 0.1 point)."""
    dat, khong, vuot = T("verdict.dat"), T("verdict.khong-dat"), T("verdict.vuot")
    r = f"ROUND({rate},1)"
    if previous:
        increase = f'IF({previous}="","",IF({r}>ROUND({previous},1),"{dat}","{khong}"))'
    else:
        increase = '""'
    return (
        f'=IF(OR({rate}="",{kind}="",{kind}="none"),"",IF({kind}="increase",{increase},'
        f'IF({r}<{low},"{khong}",IF({r}<=IF({high}="",{low},{high}),"{dat}","{vuot}"))))'
    )


def verdict_value(target: Target, rate: object, previous: object) -> str:
    """What ``verdict_formula`` evaluates to (its cached value)."""
    r = xlsxrules.excel_number(rate)
    p = xlsxrules.excel_number(previous)
    if r is None or target.kind == "none" or (target.kind == "increase" and p is None):
        return ""
    verdict = target.verdict(r, p)
    return T(f"verdict.{verdict}") if verdict else ""


def sum_value(values: Iterable[object]) -> float | str:
    """What ``=IF(COUNT(span)=0,"",SUM(span))`` evaluates to over the cells' ``values``."""
    numbers = [n for v in values if (n := xlsxrules.excel_number(v)) is not None]
    return sum(numbers) if numbers else ""


def put(ws: Worksheet, cell: Cell | tuple[int, int], value: object, font: Font = F_BODY, **style) -> None:
    """Write a value; text is always stored as text (never turned into a formula)."""
    row, col = (cell.row, cell.col) if isinstance(cell, Cell) else cell
    c = ws.cell(row=row, column=col)
    _put_value(c, value, formula=style.pop("formula", False))
    c.font = font
    for key, val in style.items():
        setattr(c, key, val)


def _put_value(c, value: object, formula: bool = False) -> None:
    if isinstance(value, str) and not formula:
        value = cleaning.for_cell(value)
    c.value = value
    if isinstance(value, str) and value.startswith("=") and not formula:
        c.data_type = "s"


_SIDES = ("top", "left", "right", "bottom")
_SUMS: dict[tuple[int, int], tuple[Border, Border, Border]] = {}  # ids of two borders -> both and their sum


def _plus(a: Border, b: Border) -> Border:
    """``a + b`` (openpyxl's sum of borders), made once per pair of border objects: the same sum
    object is then found by identity in the workbook's list of borders (``_StyleList``)."""
    found = _SUMS.get((id(a), id(b)))
    if found is None or found[0] is not a or found[1] is not b:
        found = _SUMS[(id(a), id(b))] = (a, b, a + b)  # the pair is kept: its ids are never reused
    return found[2]


_EDGES: dict[tuple[int, str], Border] = {}


def merge(ws: Worksheet, start_row: int, start_column: int, end_row: int, end_column: int) -> None:
    """``ws.merge_cells(...)``, the same cells, borders and protections, made faster: openpyxl's
    ``MergedCellRange.format`` adds an edge border to every edge cell as a new border object,
    which the workbook then compares field by field with every border it holds; here each sum of
    two borders is made once (:func:`_plus`)."""
    rng = MergedCellRange(ws, CellRange(min_col=start_column, min_row=start_row, max_col=end_column,
                                        max_row=end_row).coord)  # fmt: skip (sets the top-left's border)
    ws.merged_cells.add(rng)
    cells = rng.cells
    next(cells)
    for row, col in cells:
        ws._cells[row, col] = MergedCell(ws, row, col)
    borders = ws.parent._borders
    start = rng.start_cell.border
    for name in _SIDES:  # MergedCellRange.format, with the sums made once
        side = getattr(start, name)
        if side and side.style is None:
            continue
        edge = _EDGES.get((id(side), name))
        if edge is None or getattr(edge, name) is not side:
            edge = _EDGES[(id(side), name)] = Border(**{name: side})
        for coord in getattr(rng, name):
            cell = ws._cells.get(coord)
            if cell is None:
                cell = ws._cells[coord] = MergedCell(ws, *coord)
            held = borders[cell._style.borderId if cell._style else 0]  # (cell.border: a new proxy each time)
            cell.border = _plus(held, edge)
    protection = copy.copy(rng.start_cell.protection)
    for coord in rng.cells:
        cell = ws._cells.get(coord)
        if cell is None:
            cell = ws._cells[coord] = MergedCell(ws, *coord)
        cell.protection = protection


def _formula(ws: Worksheet, cell: Cell, text: str, mirror: xlsxrules.Mirror, **style) -> None:
    """Write one of our formulas with its Python ``mirror``, whose result is cached at save time."""
    put(ws, cell, text, formula=True, **style)
    xlsxrules.known(ws, cell.ref, mirror)


def _protect(ws: Worksheet) -> None:
    """Protect without a password: labels stay put, columns/rows can still be resized."""
    p = ws.protection
    p.sheet = True
    p.formatColumns = False
    p.formatRows = False
    p.formatCells = False
    p.selectLockedCells = False
    p.selectUnlockedCells = False


def page_setup(ws: Worksheet, landscape: bool, title_rows: str | None, footer: str | None = None) -> None:
    """A4, fit to the page width, 1 cm side margins, ``title_rows`` repeated on every page and
    ``footer`` (default «Trang x/y», CLERK.md) centred at the foot: every sheet this package writes
    for printing. Column widths are chosen so that the fitted scale keeps every font at 9 pt or more
    on paper (``tests/test_print.py`` measures it on LibreOffice's PDF)."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = MARGIN_SIDE
    ws.page_margins.top = ws.page_margins.bottom = MARGIN_TOP
    ws.oddFooter.center.text = footer if footer is not None else T("templates.footer")  # "Trang 2/5" on paper
    if title_rows:
        ws.print_title_rows = title_rows


def row_height(texts: Iterable[tuple], base: float = 15.0) -> float:
    """Row height (points) for wrapped texts given as (text, column width in characters[, font])."""
    height = base
    for text, width, *font in texts:
        f = font[0] if font else F_BODY
        pt = f.size or 11
        per_line = max(1, int(width * CHARS_PER_WIDTH * 11 / pt / (1.1 if f.bold else 1)))
        lines = sum(max(1, -(-_text_length(para) // per_line)) for para in str(text).split("\n"))
        height = max(height, lines * base * pt / 11)
    return height


def _text_length(text: str) -> int:
    """Length in average characters: capitals are about a third wider."""
    return len(text) + sum(ch.isupper() for ch in text) // 3


def _runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Disjoint runs of consecutive row numbers, each row once: [6,4,5,5,9] -> [(4,6),(9,9)]."""
    out: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if out and r == out[-1][1] + 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def _span(col: int, first: int, last: int) -> str:
    top = f"{col_letter(col)}{first}"
    return top if first == last else f"{top}:{col_letter(col)}{last}"


def _validate_runs(
    ws: Worksheet, col: int, rows: Iterable[int], make_rule, error: str, marked: Collection[int] = ()
) -> None:
    """Custom validation over each run of rows of one column, and the red conditional format over
    each run of the rows not ``marked`` (a returned copy colours those cells itself)."""
    rows = set(rows)
    for first, last in _runs(rows):
        dv = DataValidation(type="custom", formula1=make_rule(first), allow_blank=True, showErrorMessage=True,
                            errorTitle=T("templates.invalid-entry"), error=error)  # fmt: skip
        dv.add(_span(col, first, last))
        ws.add_data_validation(dv)
    for first, last in _runs(rows - set(marked)):
        top = f"{col_letter(col)}{first}"
        ws.conditional_formatting.add(
            _span(col, first, last), FormulaRule(formula=[f'AND({top}<>"",NOT({make_rule(first)}))'], fill=FILL_BAD)
        )


def _list_validation(ws: Worksheet, rng: str, name: str, prompt: str | None = None) -> None:
    dv = DataValidation(type="list", formula1=f"={name}", allow_blank=True, showErrorMessage=True,
                        errorTitle=T("templates.invalid-entry"), error=T("templates.invalid-list"),
                        showInputMessage=prompt is not None, prompt=prompt)  # fmt: skip
    dv.add(rng)
    ws.add_data_validation(dv)


class _StyleList(IndexedList):
    """openpyxl's list of a workbook's fonts (fills, borders...) that finds an object it has seen
    by identity first. openpyxl hashes a style object field by field, recursively, on every
    assignment to a cell (two thirds of a template's build time); our writers assign the same
    few module-level objects thousands of times. Like openpyxl's own list, it assumes a style
    object is not changed once assigned (openpyxl's styles are copied, never mutated)."""

    def __init__(self, iterable=None):
        super().__init__(iterable)
        self._seen: dict[int, tuple[object, int]] = {}

    def add(self, value) -> int:
        hit = self._seen.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        index = super().add(value)
        self._seen[id(value)] = (value, index)  # the object is kept: its id is never reused
        return index


# Not `_cell_styles`: a cell's StyleArray is changed in place by every assignment.
_STYLE_LISTS = ("_fonts", "_fills", "_borders", "_alignments", "_protections", "_number_formats")


def new_workbook() -> Workbook:
    """An empty workbook of ours: checked on save (``xlsxrules.own``), Times New Roman as its
    default font. Excel and LibreOffice size columns by the default font's digit width: with
    Calibri absent, LibreOffice falls back to a wider font and prints everything smaller than Excel
    would; Times New Roman (Liberation Serif in LibreOffice) has the same digit width as Calibri."""
    wb = xlsxrules.own(Workbook())
    for name in _STYLE_LISTS:
        setattr(wb, name, _StyleList(getattr(wb, name)))
    wb._fonts = _StyleList([F_BODY])  # font 0: the font of unstyled cells and of the Normal style
    wb._named_styles["Normal"].font = F_BODY
    return wb


def build_workbook(
    plan: Plan,
    level: str,
    unit: Unit | None = None,
    values: Mapping[tuple, object] | None = None,
    lay: Layout | None = None,
    marked: Collection[Cell] = (),
) -> Workbook:
    """An official template for ``level`` (optionally for one ``unit``, pre-filled with ``values``).

    ``marked`` cells get no conditional format: the caller colours them (a returned copy's legend).
    """
    template = layout.template_for(plan, level)
    lay = lay or layout.build(plan, template)
    values = dict(values or {})
    if unit is not None:
        values.setdefault(("unit", "unit"), unit.code)
    wb = new_workbook()
    wb.remove(wb.active)
    wb.properties.creator = "xhht_xl"
    wb.properties.title = plan.settings.short_title
    wb.properties.created = CREATED
    wb.properties.lastModifiedBy = "xhht_xl"

    s = lay.sheets
    guide = wb.create_sheet(s["guide"])
    unit_ws = wb.create_sheet(s["unit"])
    results = wb.create_sheet(s["results"])
    funding = wb.create_sheet(s["funding"])
    awards = wb.create_sheet(s["awards"])
    narrative = wb.create_sheet(s["narrative"])
    lists = wb.create_sheet(s["lists"])
    meta = wb.create_sheet(s["meta"])
    lists.sheet_state = "veryHidden"
    meta.sheet_state = "veryHidden"

    for cell, text in lay.labels.items():
        put(wb[cell.sheet], cell, text)

    _lists(wb, lists, plan, level, unit)
    _guide(guide, plan, level, unit, lay)
    _unit_sheet(unit_ws, plan, level, unit, lay)
    _results_sheet(results, plan, level, unit, lay, marked)
    _funding_sheet(funding, plan, lay, marked)
    _awards_sheet(awards, lay)
    _narrative_sheet(narrative, plan, unit, lay)
    _meta(meta, plan, level, unit, lay)

    for name, ref in lay.names.items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref.absolute)

    _fill(wb, plan, lay, values)
    wb.security = WorkbookProtection(lockStructure=True)
    wb.active = 1
    return wb


def _fill(wb: Workbook, plan: Plan, lay: Layout, values: Mapping[tuple, object]) -> None:
    for cell, value in _filled(plan, lay, values):
        store(wb[cell.sheet].cell(row=cell.row, column=cell.col), value)


def _filled(plan: Plan, lay: Layout, values: Mapping[tuple, object]) -> Iterator[tuple[Cell, object]]:
    """The input cells ``values`` fills, each with what it holds (the unit as its dropdown text)."""
    for key, value in values.items():
        if value is None:
            continue
        cell = lay.inputs.get(key)
        if cell is None:
            raise KeyError(f"no input cell for {key!r}")
        if key == ("unit", "unit"):
            u = plan.unit(str(value))
            value = layout.unit_option(plan, u) if u is not None else value
        yield cell, value


def store(c, value: object) -> None:
    """Put ``value`` into openpyxl cell ``c`` as a filled input: text stays text (a sender's "=..."
    never becomes a formula), a date shows as dd/mm/yyyy."""
    c.value = value
    if isinstance(value, str):
        c.data_type = "s"
    elif isinstance(value, dt.date):
        c.number_format = "dd/mm/yyyy"


def _list_columns(plan: Plan, level: str, unit: Unit | None) -> dict[str, list[str]]:
    """The dropdown lists of the hidden lists sheet, by defined name, one column each.

    The nominees' units (``DS_DONVI_TATCA``) are every unit of the plan, but in the template of a
    unit with none under it (a commune's own): only that unit, the one its nominations may name
    (``Plan.nominee_scope``; any other is a ``nominee-outside`` error), not 10,600 communes in
    every commune's workbook at national scale (~85 % of its bytes). A unit with units under it
    keeps the whole list, so that the templates of one level differ only in the unit's own cells."""
    own = [unit] if unit is not None else plan.units_at(level)
    alone = unit is not None and plan.nominee_scope(unit.code) == {unit.code}
    named = [unit] if alone else list(plan.units.values())
    return {
        "DS_DONVI": [layout.unit_option(plan, u) for u in own],
        "DS_HINHTHUC": [a.name for a in plan.settings.award_levels],
        "DS_LOAI": [T("layout.kind-collective"), T("layout.kind-individual")],
        "DS_DONVI_TATCA": [layout.unit_option(plan, u) for u in named],
    }


def _lists(wb: Workbook, ws: Worksheet, plan: Plan, level: str, unit: Unit | None) -> None:
    columns = _list_columns(plan, level, unit)
    for col, (name, items) in enumerate(columns.items(), start=1):
        put(ws, (1, col), name)
        for row, item in enumerate(items, start=2):
            put(ws, (row, col), item)
        letter = col_letter(col)
        ref = f"'{ws.title}'!${letter}$2:${letter}${len(items) + 1}"
        wb.defined_names[name] = DefinedName(name, attr_text=ref)


def _level_text(plan: Plan, level: str) -> str:
    """"Cấp xã (xã, phường, thị trấn)", but "Cấp tỉnh" (the noun would only repeat the name)."""
    lv = plan.levels[level]
    if not lv.unit_noun or lv.unit_noun.casefold() in lv.name.casefold():
        return lv.name
    return T("templates.level-with-noun", level=lv.name, noun=lv.unit_noun)


def _join(items: list[str]) -> str:
    """"a", "a và b", "a, b và c"."""
    if len(items) < 2:
        return "".join(items)
    return T("templates.join-last", first=", ".join(items[:-1]), last=items[-1])


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _send_text(plan: Plan, level: str) -> str:
    """Where this level's file goes (KH 137 III.2, VI): the level above, the standing body, or
    (for the top level) nowhere by mail: the standing body itself consolidates and reports upward."""
    lv = plan.levels[level]
    body = plan.unit(plan.settings.standing_body)
    body_name = body.name if body is not None else ""
    if not lv.parent:
        children = [_lower_first(x.name) for x in plan.levels.values() if x.parent == level]
        return T("templates.guide-send-top", level=_lower_first(lv.name), body=body_name, children=_join(children))
    parent = plan.levels[lv.parent]
    if not parent.parent:
        return T("templates.guide-send-body", body=body_name, email=plan.settings.submit_email,
                 address=plan.settings.submit_address)  # fmt: skip
    return T("templates.guide-send-parent", parent=_lower_first(_level_text(plan, parent.code)),
             parent_level=_lower_first(parent.name))  # fmt: skip


def _guide(ws: Worksheet, plan: Plan, level: str, unit: Unit | None, lay: Layout) -> None:
    d = plan.deadline(level)
    # the level, not the unit: a per-unit template differs from its level's only in the unit cell
    who = _level_text(plan, level)
    lines = [
        (T("templates.guide-title"), F_TITLE),
        (T("templates.guide-basis", basis=plan.settings.basis), F_BODY),
        (T("templates.guide-level", who=who), F_BODY),
    ]
    if d is not None:
        key = "templates.guide-deadline-set" if d.overridable else "templates.guide-deadline"
        lines.append((T(key, date=d.date.strftime("%d/%m/%Y"), basis=d.basis), F_BODY))
    s = lay.sheets
    unit_step = "templates.step-unit-fixed" if unit is not None else "templates.step-unit-choose"
    lines.append(
        (
            T(
                "templates.guide-steps",
                unit_step=T(unit_step, unit_sheet=s["unit"]),
                results_sheet=s["results"],
                funding_sheet=s["funding"],
                awards_sheet=s["awards"],
                narrative_sheet=s["narrative"],
                na=T("layout.na-text"),
                na_short=T("layout.na-short"),
                funding_unit=plan.settings.funding_unit,
            ),
            F_BODY,
        )
    )
    lines.append((_send_text(plan, level), F_BODY))
    lines.append((T("templates.guide-version", basis=plan.settings.basis, version=plan.settings.template_version),
                  F_SMALL))  # fmt: skip
    width = 80
    ws.column_dimensions["A"].width = width
    for row, (text, font) in enumerate(lines, start=1):
        put(ws, (row, 1), text, font=font, alignment=WRAP_TOP)
        ws.row_dimensions[row].height = row_height([(text, width, font)], base=16)
    _protect(ws)
    page_setup(ws, landscape=False, title_rows=None)


def _unit_sheet(ws: Worksheet, plan: Plan, level: str, unit: Unit | None, lay: Layout) -> None:
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 66
    put(ws, (1, 1), ws.cell(1, 1).value, font=F_TITLE)
    rows = lay.unit_rows
    for name, row in rows.items():
        label = ws.cell(row, 1)
        label.font = F_HEAD
        label.border = BORDER
        label.alignment = WRAP_TOP
        c = ws.cell(row, 2)
        c.border = BORDER
        c.alignment = WRAP_TOP
        c.font = F_BODY
        if ("unit", name) in lay.inputs:
            c.fill = FILL_INPUT
            c.protection = UNLOCKED
    unit_ref = f"B{rows['unit']}"
    if unit is not None:
        ws[unit_ref].protection = LOCKED
        ws[unit_ref].fill = FILL_CALC
    else:
        _list_validation(ws, unit_ref, "DS_DONVI", prompt=T("templates.choose-unit"))
    _formula(ws, Cell(ws.title, rows["unit_name"], 2), f'=IFERROR(MID({unit_ref},FIND(" - ",{unit_ref})+3,250),"")',
             lambda get: _unit_name(get(ws, unit_ref)), fill=FILL_CALC)  # fmt: skip
    put(ws, (rows["level"], 2), plan.levels[level].name, fill=FILL_CALC, border=BORDER)
    d = plan.deadline(level)
    if d is not None:
        put(ws, (rows["deadline"], 2), d.date, fill=FILL_CALC, border=BORDER, number_format="dd/mm/yyyy",
            alignment=LEFT_TOP)  # fmt: skip
    info = T("layout.template-info", template=_lower_first(plan.levels[level].name),
             version=plan.settings.template_version)  # fmt: skip
    put(ws, (rows["template"], 2), info, fill=FILL_CALC, border=BORDER)
    date_cell = f"B{rows['date']}"
    ws[date_cell].number_format = "dd/mm/yyyy"
    ws[date_cell].alignment = LEFT_TOP
    dv = DataValidation(type="date", operator="between", formula1="DATE(2020,1,1)", formula2="DATE(2021,12,31)",
                        allow_blank=True, showErrorMessage=True, errorTitle=T("templates.invalid-entry"),
                        error=T("templates.invalid-date"))  # fmt: skip
    dv.add(date_cell)
    ws.add_data_validation(dv)
    for r in (rows["phone"],):
        ws.cell(r, 2).number_format = "@"
    for row in rows.values():
        ws.row_dimensions[row].height = 18
    _protect(ws)
    page_setup(ws, landscape=False, title_rows=None)


def _unit_name(value: object) -> str:
    """What the unit-name formula gives: the text after the first " - " of the unit cell."""
    if not isinstance(value, str):
        return ""
    at = value.find(" - ")
    return "" if at < 0 else value[at + 3 : at + 3 + 250]


# Kết quả: visible widths (characters) chosen so that A4 landscape fits at about 90 % (counts up to
# 9.999.999 shown whole).
RESULT_WIDTHS = {"stt": 5, "name": 34, "how": 28, "num": 10, "den": 10, "rate": 7, "target": 8, "verdict": 9}


def _results_sheet(
    ws: Worksheet, plan: Plan, level: str, unit: Unit | None, lay: Layout, marked: Collection[Cell]
) -> None:
    h1, h2 = lay.result_header_rows
    w = RESULT_WIDTHS
    last_col = max(c.verdict for c in lay.result_cols.values())
    merge(ws, start_row=1, start_column=1, end_row=1, end_column=last_col)
    put(ws, (1, 1), ws.cell(1, 1).value, font=F_TITLE, alignment=CENTER)
    ws.row_dimensions[1].height = 36
    # "Đơn vị báo cáo: <the unit chosen on the unit sheet>" in one cell across the label columns
    unit_ref = f"B{lay.unit_rows['unit']}"
    unit_ws = ws.parent[lay.sheets["unit"]]
    subtitle = T("layout.subtitle")
    merge(ws, start_row=2, start_column=1, end_row=2, end_column=4)
    _formula(ws, Cell(ws.title, 2, 1), f"=\"{subtitle} \"&'{unit_ws.title}'!{unit_ref}",
             lambda get: f"{subtitle} {_text(get(unit_ws, unit_ref))}", font=F_HEAD)  # fmt: skip
    widths = {1: w["stt"], 2: 14, 3: w["name"], 4: w["how"]}
    ws.column_dimensions["B"].hidden = True  # indicator codes: the reader's anchor, not for clerks
    for cols in lay.result_cols.values():
        widths.update({cols.num: w["num"], cols.den: w["den"], cols.rate: w["rate"], cols.target: w["target"],
                       cols.verdict: w["verdict"]})  # fmt: skip
        for c in (cols.kind, cols.low, cols.high):
            ws.column_dimensions[col_letter(c)].hidden = True
            widths[c] = 8
        merge(ws, start_row=h1, start_column=cols.num, end_row=h1, end_column=cols.verdict)
    for col in range(1, 5):
        merge(ws, start_row=h1, start_column=col, end_row=h2, end_column=col)
    for col, width in widths.items():
        ws.column_dimensions[col_letter(col)].width = width
    ws.row_dimensions[h1].height = 18
    ws.row_dimensions[h2].height = 32
    for row in (h1, h2):
        for col in range(1, last_col + 1):
            c = ws.cell(row, col)
            c.font, c.fill, c.alignment, c.border = F_HEAD, FILL_HEAD, CENTER, BORDER

    for row in lay.group_rows.values():
        for col in range(1, last_col + 1):
            c = ws.cell(row, col)
            c.font, c.fill, c.border = F_GROUP, FILL_GROUP, BORDER
        merge(ws, start_row=row, start_column=3, end_row=row, end_column=last_col)
        ws.cell(row, 1).alignment = CENTER
        ws.cell(row, 3).alignment = WRAP_TOP

    entered: list[int] = []
    milestones = list(lay.result_cols)
    stt = 0
    last_group = None
    for code, row in lay.result_rows.items():
        ind = plan.indicators[code]
        if ind.group != last_group:
            stt, last_group = 0, ind.group
        stt += 1
        put(ws, (row, 1), stt, alignment=CENTER, border=BORDER)
        ws.cell(row, 2).font = F_CODE
        ws.cell(row, 2).alignment = WRAP_TOP
        ws.cell(row, 2).border = BORDER
        ws.cell(row, 3).alignment = WRAP_TOP
        ws.cell(row, 3).border = BORDER
        how = T("layout.formula-text", numerator=ind.numerator, denominator=ind.denominator)
        put(ws, (row, 4), how, font=F_SMALL, alignment=WRAP_TOP, border=BORDER)
        texts = [(ind.name, w["name"]), (how, w["how"], F_SMALL)]
        is_input = plan.entered_by(ind, level, unit)
        if is_input:
            entered.append(row)
        for i, m in enumerate(milestones):
            cols = lay.result_cols[m]
            target = plan.target(code, m)
            num, den = f"{col_letter(cols.num)}{row}", f"{col_letter(cols.den)}{row}"
            rate = f"{col_letter(cols.rate)}{row}"
            for col in (cols.num, cols.den):
                c = ws.cell(row, col)
                c.border, c.font = BORDER, F_BODY
                c.number_format = "#,##0"
                c.alignment = RIGHT_TOP
                c.fill = FILL_INPUT if is_input else FILL_GREY
                c.protection = UNLOCKED if is_input else LOCKED
            _formula(ws, Cell(ws.title, row, cols.rate), rate_formula(num, den),
                     lambda get, num=num, den=den: rate_value(get(ws, num), get(ws, den)), fill=FILL_CALC,
                     border=BORDER, number_format="0.0", alignment=RIGHT_TOP)  # fmt: skip
            target_text = layout.target_text(target)
            texts.append((target_text, w["target"]))
            put(ws, (row, cols.target), target_text, alignment=CENTER, border=BORDER)
            put(ws, (row, cols.kind), target.kind)
            put(ws, (row, cols.low), target.low)
            put(ws, (row, cols.high), target.high)
            prev = None
            if i > 0:
                prev = f"{col_letter(lay.result_cols[milestones[i - 1]].rate)}{row}"
            formula = verdict_formula(
                rate,
                f"{col_letter(cols.kind)}{row}",
                f"{col_letter(cols.low)}{row}",
                f"{col_letter(cols.high)}{row}",
                prev,
            )
            _formula(
                ws,
                Cell(ws.title, row, cols.verdict),
                formula,
                lambda get, t=target, rate=rate, prev=prev: verdict_value(
                    t, get(ws, rate), get(ws, prev) if prev else None
                ),
                fill=FILL_CALC,
                border=BORDER,
                alignment=CENTER,
            )
        ws.row_dimensions[row].height = row_height(texts)

    result_rows = sorted(lay.result_rows.values())
    count_error = T("templates.invalid-count", na=T("layout.na-text"))
    for m in milestones:
        cols = lay.result_cols[m]
        n, d = col_letter(cols.num), col_letter(cols.den)
        for col, c in ((cols.num, n), (cols.den, d)):
            _validate_runs(ws, col, entered, lambda r, c=c, n=n, d=d: count_rule(f"{c}{r}", f"{n}{r}", f"{d}{r}"),
                           count_error, _marked_rows(marked, ws.title, col))  # fmt: skip
        v = col_letter(cols.verdict)
        for first, last in _runs(set(result_rows) - set(_marked_rows(marked, ws.title, cols.verdict))):
            rng = _span(cols.verdict, first, last)
            ws.conditional_formatting.add(
                rng, FormulaRule(formula=[f'{v}{first}="{T("verdict.khong-dat")}"'], fill=FILL_WARN)
            )
            ws.conditional_formatting.add(
                rng,
                FormulaRule(
                    formula=[f'OR({v}{first}="{T("verdict.dat")}",{v}{first}="{T("verdict.vuot")}")'],
                    fill=FILL_OK,
                ),
            )
    ws.freeze_panes = f"E{h2 + 1}"
    _protect(ws)
    page_setup(ws, landscape=True, title_rows=f"{h1}:{h2}")
    ws.print_area = f"A1:{col_letter(last_col)}{max(result_rows)}"


def _marked_rows(marked: Collection[Cell], sheet: str, col: int) -> list[int]:
    return [c.row for c in marked if c.sheet == sheet and c.col == col]


def _text(value: object) -> str:
    """A cell value as Excel's "&" turns it into text (enough for the unit cell: text or a code)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    number = xlsxrules.excel_number(value)
    if number is not None:
        return repr(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _funding_sheet(ws: Worksheet, plan: Plan, lay: Layout, marked: Collection[Cell]) -> None:
    header = min(lay.funding_rows.values()) - 1
    total_col, total_row = lay.funding_total_col, lay.funding_total_row
    merge(ws, start_row=1, start_column=1, end_row=1, end_column=total_col)
    put(ws, (1, 1), ws.cell(1, 1).value, font=F_TITLE, alignment=CENTER)
    ws.row_dimensions[1].height = 24
    for col in range(1, total_col + 1):
        c = ws.cell(header, col)
        c.font, c.fill, c.alignment, c.border = F_HEAD, FILL_HEAD, CENTER, BORDER
        ws.column_dimensions[col_letter(col)].width = 11
    ws.column_dimensions["A"].width = 5
    ws.column_dimensions["B"].width = 14
    ws.column_dimensions["B"].hidden = True  # source codes: the reader's anchor, not for clerks
    ws.column_dimensions["C"].width = 40
    ws.column_dimensions[col_letter(total_col)].width = 13
    first_year_col, last_year_col = min(lay.funding_cols.values()), max(lay.funding_cols.values())
    for i, (code, row) in enumerate(lay.funding_rows.items(), start=1):
        put(ws, (row, 1), i, alignment=CENTER, border=BORDER)
        ws.cell(row, 2).font = F_CODE
        ws.cell(row, 2).border = BORDER
        ws.cell(row, 3).alignment = WRAP_TOP
        ws.cell(row, 3).border = BORDER
        ws.row_dimensions[row].height = row_height([(plan.indicators[code].name, 40)])
        for col in lay.funding_cols.values():
            c = ws.cell(row, col)
            c.fill, c.protection, c.border, c.number_format = FILL_INPUT, UNLOCKED, BORDER, "#,##0.0"
            c.font = F_BODY
        refs = [f"{col_letter(col)}{row}" for col in range(first_year_col, last_year_col + 1)]
        span = f"{refs[0]}:{refs[-1]}"
        _formula(ws, Cell(ws.title, row, total_col), f'=IF(COUNT({span})=0,"",SUM({span}))',
                 lambda get, refs=refs: sum_value(get(ws, r) for r in refs), fill=FILL_CALC, border=BORDER,
                 number_format="#,##0.0", font=F_HEAD)  # fmt: skip
    rows = sorted(lay.funding_rows.values())
    for col in range(first_year_col, total_col + 1):
        letter = col_letter(col)
        refs = [f"{letter}{r}" for r in range(rows[0], rows[-1] + 1)]
        span = f"{refs[0]}:{refs[-1]}"
        _formula(ws, Cell(ws.title, total_row, col), f'=IF(COUNT({span})=0,"",SUM({span}))',
                 lambda get, refs=refs: sum_value(get(ws, r) for r in refs), fill=FILL_CALC, border=BORDER,
                 number_format="#,##0.0", font=F_HEAD)  # fmt: skip
    for col in (1, 2, 3):
        ws.cell(total_row, col).border = BORDER
        ws.cell(total_row, col).font = F_HEAD
    error = T("templates.invalid-amount", funding_unit=plan.settings.funding_unit, na=T("layout.na-text"))
    for col in lay.funding_cols.values():
        letter = col_letter(col)
        _validate_runs(ws, col, rows, lambda r, letter=letter: amount_rule(f"{letter}{r}"), error,
                       _marked_rows(marked, ws.title, col))  # fmt: skip
    _protect(ws)
    page_setup(ws, landscape=True, title_rows=f"{header}:{header}")


AWARD_WIDTHS = {"priority": 8, "award": 22, "kind": 10, "name": 22, "position": 15, "unit": 24, "summary": 38,
                "previous": 18, "note": 11}  # fmt: skip


def _awards_sheet(ws: Worksheet, lay: Layout) -> None:
    block = lay.award_block
    assert block is not None
    header = block.first_row - 1
    merge(ws, start_row=1, start_column=1, end_row=1, end_column=block.last_col)
    put(ws, (1, 1), ws.cell(1, 1).value, font=F_TITLE, alignment=CENTER)
    ws.row_dimensions[1].height = 24
    for fld, col in lay.award_cols.items():
        ws.column_dimensions[col_letter(col)].width = AWARD_WIDTHS[fld]
        c = ws.cell(header, col)
        c.font, c.fill, c.alignment, c.border = F_HEAD, FILL_HEAD, CENTER, BORDER
    ws.row_dimensions[header].height = row_height(
        [(ws.cell(header, col).value, AWARD_WIDTHS[fld], F_HEAD) for fld, col in lay.award_cols.items()]
    )
    for idx, row in enumerate(range(block.first_row, block.last_row + 1), start=1):
        ws.row_dimensions[row].height = 45
        for fld, col in lay.award_cols.items():
            c = ws.cell(row, col)
            c.border, c.alignment, c.font = BORDER, WRAP_TOP, F_BODY
            if fld == "priority":
                c.value = idx
                c.alignment = CENTER
            else:
                c.fill, c.protection = FILL_INPUT, UNLOCKED
    first, last = block.first_row, block.last_row
    for fld, name in (("award", "DS_HINHTHUC"), ("kind", "DS_LOAI"), ("unit", "DS_DONVI_TATCA")):
        letter = col_letter(lay.award_cols[fld])
        _list_validation(ws, f"{letter}{first}:{letter}{last}", name)
    ws.freeze_panes = f"B{block.first_row}"
    _protect(ws)
    page_setup(ws, landscape=True, title_rows=f"{header}:{header}")


NARRATIVE_WIDTHS = (6, 34, 64)


def _narrative_sheet(ws: Worksheet, plan: Plan, unit: Unit | None, lay: Layout) -> None:
    header = min(lay.narrative_rows.values()) - 1
    merge(ws, start_row=1, start_column=1, end_row=1, end_column=3)
    put(ws, (1, 1), ws.cell(1, 1).value, font=F_TITLE, alignment=CENTER)
    ws.row_dimensions[1].height = 36
    title_width = NARRATIVE_WIDTHS[1]
    for col, width in enumerate(NARRATIVE_WIDTHS, start=1):
        ws.column_dimensions[col_letter(col)].width = width
        c = ws.cell(header, col)
        c.font, c.fill, c.alignment, c.border = F_HEAD, FILL_HEAD, CENTER, BORDER
    kinds = {o.code: o.kind for o in plan.settings.outline}
    for code, row in lay.narrative_rows.items():
        kind = kinds.get(code, "text")
        for col in (1, 2, 3):
            c = ws.cell(row, col)
            c.border, c.alignment = BORDER, WRAP_TOP
            c.font = F_HEAD if kind == "heading" else F_BODY
        text_cell = ws.cell(row, 3)
        if kind == "heading":
            for col in (1, 2, 3):
                ws.cell(row, col).fill = FILL_GROUP
            ws.row_dimensions[row].height = row_height([(ws.cell(row, 2).value, title_width, F_HEAD)])
        elif kind == "text":
            text_cell.fill, text_cell.protection = FILL_INPUT, UNLOCKED
            ws.row_dimensions[row].height = 110
        else:
            note = "layout.see-appendix" if kind == "appendix" else "layout.see-awards"
            sheet = lay.sheets["results" if kind == "appendix" else "awards"]
            put(ws, (row, 3), T(note, sheet=sheet), font=F_SMALL, fill=FILL_CALC, border=BORDER)
            ws.row_dimensions[row].height = row_height([(ws.cell(row, 2).value, title_width)])
    if layout.TOPIC_ITEM in lay.narrative_rows:
        row = lay.narrative_rows[layout.TOPIC_ITEM]
        topic = unit.topic if unit is not None and unit.topic else "…"
        title = T("layout.topic-title", topic=topic)
        put(ws, (row, 2), title, font=F_HEAD, alignment=WRAP_TOP, border=BORDER)
        ws.row_dimensions[row].height = max(150, row_height([(title, title_width, F_HEAD)]))
    _protect(ws)
    page_setup(ws, landscape=False, title_rows=f"{header}:{header}")


def _meta(ws: Worksheet, plan: Plan, level: str, unit: Unit | None, lay: Layout) -> None:
    values = _meta_values(plan, level, unit, lay)
    for row, key in enumerate(layout.META_KEYS, start=1):
        put(ws, (row, 1), key)
        put(ws, (row, 2), values[key])
    _protect(ws)


def _meta_values(plan: Plan, level: str, unit: Unit | None, lay: Layout) -> dict[str, str]:
    return {
        "template_id": lay.template_id,
        "template_version": plan.settings.template_version,
        "layout_version": str(lay.version),
        "plan_id": plan.id,
        "plan_fingerprint": plan.fingerprint,
        "layout_fingerprint": lay.fingerprint,
        "level": level,
        "unit": unit.code if unit is not None else "",
        "generator": f"xhht_xl {__version__}",
    }


# -- a template written again for another unit and values ----------------------------------------


class Prebuilt:
    """One kind of template (plan, level and what of the unit shapes it) built and saved once, to
    be written again for any unit of that kind and any values at the XML level
    (``xlsxcopy.SheetXml``): what ``build_workbook`` and ``fileio.save_workbook`` make, cell for
    cell and byte for byte, for a fraction of the cost (a district's consolidated workbook holds its
    template; building one is ~0.1 s of CPU, saving its sheets ~0.05 s).

    ``finish(wb, plan, lay)``, if given, changes the built template before it is saved (what a
    caller does to every workbook of this kind, e.g. print settings of a consolidated workbook).
    Get one through :func:`prebuilt` (one per process and kind); :meth:`workbook` makes the
    workbook to save."""

    def __init__(self, plan: Plan, level: str, unit: Unit | None, marked: Collection[Cell] = (), finish=None):
        self.plan, self.level = plan, level
        self.lay = layout.build(plan, layout.template_for(plan, level))
        self.shape = template_shape(plan, level, unit, self.lay, marked)
        wb = build_workbook(plan, level, unit, None, self.lay, marked)
        if finish is not None:
            finish(wb, plan, self.lay)
        _data, parts = xlsxcopy.workbook_bytes(wb, keep=lambda name: name.startswith("xl/worksheets/"))
        self.book = wb
        self.sheets = {ws.title: xlsxcopy.SheetXml(parts[ws.path[1:]]) for ws in wb.worksheets}
        self.styles = list(wb._cell_styles)  # what the saved sheets' style numbers stand for
        for title, cells in xlsxrules.cached_values(wb).items():  # every formula whose result is cached
            missing = {split_ref(ref) for ref in cells} - self.sheets[title].formulas.keys()
            if missing:
                raise xlsxcopy.NotWritable(f"{title}: formulas not written as expected at {sorted(missing)}")

    def workbook(self, unit: Unit | None, values: Mapping[tuple, object] | None = None) -> Workbook:
        """The workbook ``build_workbook(plan, level, unit, values)`` (then ``finish``) makes, to be
        saved through ``fileio.save_workbook``; ``unit`` is of this kind (``template_shape``).

        Its template sheets hold no openpyxl cells: read and resize them through
        :func:`cell_value` and :func:`set_row_height`; sheets added to it are written by openpyxl
        as usual. Raises ``xlsxcopy.NotWritable`` for a value this path cannot write as openpyxl
        does (the caller builds the workbook instead), KeyError for a value with no input cell."""
        if template_shape(self.plan, self.level, unit, self.lay, self.shape[-1]) != self.shape:
            raise ValueError(f"unit {getattr(unit, 'code', None)!r} is not of this template's kind")
        src = self.book
        wb = new_workbook()
        wb.remove(wb.active)
        for name in _STYLE_LISTS:  # the fonts, fills... the template's cells refer to, in its order
            setattr(wb, name, _StyleList(list(getattr(src, name))))
        wb._differential_styles = copy.deepcopy(src._differential_styles)  # conditional formats' styles
        wb._date_formats, wb._timedelta_formats = dict(src._date_formats), dict(src._timedelta_formats)
        wb.properties = copy.copy(src.properties)
        for ws0 in src.worksheets:  # what the workbook part says of each sheet
            ws = wb.create_sheet(ws0.title)
            ws.sheet_state = ws0.sheet_state
            ws._print_rows, ws._print_cols = copy.copy(ws0._print_rows), copy.copy(ws0._print_cols)
            ws._print_area = copy.deepcopy(ws0._print_area)
            ws.auto_filter.ref = ws0.auto_filter.ref
            for name, dn in ws0.defined_names.items():
                ws.defined_names[name] = copy.copy(dn)
        for name, dn in src.defined_names.items():  # shared, not copied (~350 of them): never changed
            wb.defined_names[name] = dn
        wb.security = copy.copy(src.security)
        wb.calculation = copy.copy(src.calculation)
        wb.active = src._active_sheet_index
        filled = _Filled(self, wb, unit, values or {})
        for ws in wb.worksheets:
            xlsxcopy.write_with(ws, filled.write)
        _FILLED[wb] = filled
        return wb


def template_shape(plan: Plan, level: str, unit: Unit | None, lay: Layout, marked: Collection[Cell] = ()) -> tuple:
    """What of ``unit`` decides the structure of its template (not its values): whether there is a
    unit, which indicators it types (a department's own), its topic (a department's item), and the
    cells a returned copy colours itself. Units of one shape share a :class:`Prebuilt`."""
    entered = tuple(plan.entered_by(plan.indicators[code], level, unit) for code in lay.result_rows)
    topic = (unit.topic if unit is not None else None) if layout.TOPIC_ITEM in lay.narrative_rows else None
    return level, unit is None, entered, topic, frozenset(marked)


_CONTENT: weakref.WeakKeyDictionary[Plan, str] = weakref.WeakKeyDictionary()


def plan_content(plan: Plan) -> str:
    """A hash of everything in ``plan`` (settings, units, changes, groups, indicators, targets):
    equal for two copies of one plan. ``Plan.fingerprint`` leaves out targets, which a template
    shows. ~1 ms, once per plan object."""
    found = _CONTENT.get(plan)
    if found is None:
        models = [plan.settings, *(m for d in (plan.units, plan.changes, plan.groups, plan.indicators, plan.targets)
                                   for m in d.values())]  # fmt: skip
        found = _CONTENT[plan] = hashlib.sha256("\n".join(m.model_dump_json() for m in models).encode()).hexdigest()
    return found


_PREBUILT: dict[tuple, Prebuilt] = {}
_PREBUILT_MAX = 8  # kinds kept per process (a built template each, ~2.5 MB)


def prebuilt(plan: Plan, level: str, unit: Unit | None, marked: Collection[Cell] = (), finish=None) -> Prebuilt:
    """The :class:`Prebuilt` of ``unit``'s kind of template, made at its first use in this process
    for a plan of the same content (each job sent to a worker process brings its own copy)."""
    lay = layout.build(plan, layout.template_for(plan, level))
    key = (plan_content(plan), finish, template_shape(plan, level, unit, lay, marked))
    found = _PREBUILT.get(key)
    if found is None:
        if len(_PREBUILT) >= _PREBUILT_MAX:
            _PREBUILT.pop(next(iter(_PREBUILT)))
        found = _PREBUILT[key] = Prebuilt(plan, level, unit, marked, finish)
    return found


class _Filled:
    """The cells of one unit's template that differ from the prebuilt one: its unit, its values."""

    def __init__(self, pre: Prebuilt, wb: Workbook, unit: Unit | None, values: Mapping[tuple, object]):
        self.pre = pre
        plan, lay, src = pre.plan, pre.lay, pre.book
        values = dict(values)
        if unit is not None:
            values.setdefault(("unit", "unit"), unit.code)
        cells: list[tuple[str, int, int, object, bool]] = []  # sheet, row, column, value, an input's
        for col, items in enumerate(_list_columns(plan, pre.level, unit).values(), start=1):
            cells += [(lay.sheets["lists"], row, col, item, False) for row, item in enumerate(items, start=2)]
        meta = _meta_values(plan, pre.level, unit, lay)
        cells += [(lay.sheets["meta"], row, 2, meta[key], False) for row, key in enumerate(layout.META_KEYS, start=1)]
        cells += [(cell.sheet, cell.row, cell.col, value, True) for cell, value in _filled(plan, lay, values)]
        self.puts: dict[str, dict[tuple[int, int], xlsxcopy.Put]] = {}
        self.values: dict[tuple[str, str], object] = {}  # (sheet, ref) -> the value put there
        self.heights: dict[str, dict[int, float]] = {}
        built = {ws.title: ws for ws in src.worksheets}
        sheets = {ws.title: ws for ws in wb.worksheets}
        for sheet, row, col, value, is_input in cells:
            before = built[sheet]._cells.get((row, col))
            if not is_input and before is not None and type(before.value) is type(value) and before.value == value:
                continue  # the same text as in the prebuilt template
            if (row, col) not in pre.sheets[sheet].cells:
                raise xlsxcopy.NotWritable(f"{sheet}!{col_letter(col)}{row} is not a cell of the template")
            c = XlCell(sheets[sheet], row=row, column=col)
            if before is not None:
                c._style = copy.copy(before._style)
            if is_input:
                store(c, value)
            else:
                _put_value(c, value)
            put = xlsxcopy.Put(c._style if c.has_style else None, c.data_type, c._value)
            try:
                xlsxcopy.element("A1", None, put.kind, put.value, wb.epoch)
            except ValueError as exc:  # a type openpyxl writes and element does not (Decimal...)
                raise xlsxcopy.NotWritable(f"{sheet}!{col_letter(col)}{row}: {exc}") from None
            self.puts.setdefault(sheet, {})[(row, col)] = put
            self.values[(sheet, f"{col_letter(col)}{row}")] = c._value
        self._cached: dict[str, dict[str, object]] | None = None

    def value(self, sheet: str, row: int, col: int) -> object:
        put = self.puts.get(sheet, {}).get((row, col))
        if put is not None:
            return self.values[(sheet, f"{col_letter(col)}{row}")]
        c = self.pre.book[sheet]._cells.get((row, col))
        return c.value if c is not None else None

    def write(self, ws: Worksheet) -> bytes:
        """The XML of template sheet ``ws`` (``xlsxcopy.write_with``): formula results cached."""
        if self._cached is None:
            self._cached = xlsxrules.cached_values(self.pre.book, self.values)
        wb = ws.parent
        sheet = self.pre.sheets[ws.title]
        results = {split_ref(ref): value for ref, value in self._cached.get(ws.title, {}).items()}
        return sheet.render(self.pre.styles, wb._cell_styles.add, wb.epoch, self.puts.get(ws.title),
                            self.heights.get(ws.title), results)  # fmt: skip


_FILLED: weakref.WeakKeyDictionary[Workbook, _Filled] = weakref.WeakKeyDictionary()


def cell_value(wb: Workbook, sheet: str, row: int, col: int) -> object:
    """The value of a cell of ``wb``, also of a template sheet of a :meth:`Prebuilt.workbook`."""
    filled = _FILLED.get(wb)
    if filled is not None and sheet in filled.pre.sheets:
        return filled.value(sheet, row, col)
    c = wb[sheet]._cells.get((row, col))
    return c.value if c is not None else None


def set_row_height(wb: Workbook, sheet: str, row: int, height: float) -> None:
    """Set a row's height (points) in ``wb``, also in a template sheet of a :meth:`Prebuilt.workbook`."""
    filled = _FILLED.get(wb)
    if filled is not None and sheet in filled.pre.sheets:
        filled.heights.setdefault(sheet, {})[row] = height
    else:
        wb[sheet].row_dimensions[row].height = height


# -- writing files --------------------------------------------------------------------------


def level_file_name(level: str) -> str:
    return T("templates.level-file", level=level)


def unit_file_name(unit: Unit) -> str:
    slug = "_".join(textnorm.ascii_key(unit.name).split())
    return T("templates.unit-file", level=unit.level, code=unit.code, slug=slug)


def official_files(plan: Plan) -> list[tuple[str, str, Unit | None]]:
    """(file name, level, unit) of every official template: one per level, one per department."""
    out: list[tuple[str, str, Unit | None]] = []
    for lv in plan.settings.levels:
        if lv.template == "so_nganh":
            for unit in plan.units_at(lv.code):
                out.append((T("templates.department-file", code=unit.code), lv.code, unit))
        else:
            out.append((level_file_name(lv.code), lv.code, None))
    return out


def write_templates(
    plan: Plan, folder: str | Path, per_unit: bool = False, levels: Iterable[str] | None = None
) -> list[Path]:
    """Write the official templates into ``folder`` (with ``per_unit``: one file per unit)."""
    folder = Path(folder)
    wanted = set(levels) if levels else None
    written: list[Path] = []
    if per_unit:
        jobs = [
            (unit_file_name(u), u.level, u)
            for u in plan.units.values()
            if (wanted is None or u.level in wanted) and u.level in plan.levels
        ]
    else:
        jobs = [j for j in official_files(plan) if wanted is None or j[1] in wanted]
    for name, level, unit in jobs:
        written.append(save_workbook(build_workbook(plan, level, unit), folder / name))
    return written
