"""Where every input of a template lives: sheets, cells and defined names, per layout version.

This is the contract between the template writer (``templates.py``) and the reader (``read.py``):
both ask this module, neither knows the other. Cell positions depend on the plan (its indicators,
milestones, funding years and outline) and on the layout version, never on the level: a commune's,
a district's and the province's appendix have the same cells, so a consolidated workbook can be
read as a submission one level up. Departments use the same cells plus a topic item.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache, cached_property

from . import messages, ooxml
from .ooxml import col_letter
from .plan import Plan, Target, Unit

VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# Labels that changed between versions: a file keeps being read with the labels it was issued with.
#   2: the unit cell's label no longer says "(chọn trong danh sách)" (a per-unit template locks it)
_LABELS_V1 = {"field-unit": "field-unit-v1"}

# Entry keys (tuples) used by writer, reader and everything downstream:
#   ("unit", field)                      field in UNIT_FIELDS
#   ("kq", indicator, milestone, part)   part in num, den (inputs), rate, verdict (formulas)
#   ("kp", source, year)                 funding input; ("kp", source, "total") formula
#   ("kt", index, field)                 nomination row index (0-based), field in AWARD_FIELDS
#   ("bc", item)                         narrative item code ("I.1" ... and "CD" for the topic)
UNIT_FIELDS = ("unit", "reporter", "position", "phone", "email", "date")
AWARD_FIELDS = ("priority", "award", "kind", "name", "position", "unit", "summary", "previous", "note")
AWARD_ROWS = 20
TOPIC_ITEM = "CD"

META_KEYS = (
    "template_id",
    "template_version",
    "layout_version",
    "plan_id",
    "plan_fingerprint",
    "layout_fingerprint",
    "level",
    "unit",
    "generator",
)


def col_number(letters: str) -> int:
    """``"aa"`` or ``"AA"`` -> 27."""
    return ooxml.col_number(letters.upper())


@dataclass(frozen=True, order=True)
class Cell:
    sheet: str
    row: int
    col: int

    @cached_property
    def ref(self) -> str:
        return f"{col_letter(self.col)}{self.row}"

    @property
    def absolute(self) -> str:
        return f"'{self.sheet}'!${col_letter(self.col)}${self.row}"


@dataclass(frozen=True)
class Block:
    """A rectangular range (the nominations table)."""

    sheet: str
    first_row: int
    first_col: int
    last_row: int
    last_col: int

    @property
    def absolute(self) -> str:
        return (
            f"'{self.sheet}'!${col_letter(self.first_col)}${self.first_row}:"
            f"${col_letter(self.last_col)}${self.last_row}"
        )


@dataclass(frozen=True)
class ResultColumns:
    """Columns of one milestone in the results sheet (visible and hidden helper columns)."""

    num: int
    den: int
    rate: int
    target: int
    verdict: int
    kind: int
    low: int
    high: int


@dataclass(eq=False)
class Layout:
    version: int
    template: str  # "chung" (communes, districts, province) or "so_nganh" (departments)
    template_id: str
    sheets: dict[str, str]  # role -> sheet name, in workbook order
    inputs: dict[tuple, Cell] = field(default_factory=dict)
    formulas: dict[tuple, Cell] = field(default_factory=dict)
    names: dict[str, Cell | Block] = field(default_factory=dict)
    labels: dict[Cell, str] = field(default_factory=dict)  # locked texts a reader can verify
    result_rows: dict[str, int] = field(default_factory=dict)
    group_rows: dict[str, int] = field(default_factory=dict)
    result_cols: dict[int, ResultColumns] = field(default_factory=dict)
    result_header_rows: tuple[int, int] = (4, 5)
    funding_rows: dict[str, int] = field(default_factory=dict)
    funding_cols: dict[int, int] = field(default_factory=dict)
    funding_total_row: int = 0
    funding_total_col: int = 0
    award_block: Block | None = None
    award_cols: dict[str, int] = field(default_factory=dict)
    narrative_rows: dict[str, int] = field(default_factory=dict)
    narrative_col: int = 3
    unit_rows: dict[str, int] = field(default_factory=dict)
    code_col: int = 2  # results: indicator code column, the fallback key when names are lost

    @property
    def fingerprint(self) -> str:
        """Hash of the structure: sheet names, cell map, names and label texts."""
        shape = {
            "version": self.version,
            "template": self.template,
            "sheets": self.sheets,
            "inputs": sorted((list(map(str, k)), c.sheet, c.ref) for k, c in self.inputs.items()),
            "formulas": sorted((list(map(str, k)), c.sheet, c.ref) for k, c in self.formulas.items()),
            "labels": sorted((c.sheet, c.ref, t) for c, t in self.labels.items()),
        }
        blob = json.dumps(shape, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def name_of(self, key: tuple) -> str:
        """The defined name of an input or formula key (stable across versions)."""
        return key_name(key)


def key_name(key: tuple) -> str:
    kind = key[0]
    if kind == "unit":
        return f"DV_{key[1].upper()}"
    if kind == "kq":
        part = {"num": "TS", "den": "MS", "rate": "TL", "verdict": "DG"}[key[3]]
        return f"KQ_{key[1]}_{key[2]}_{part}"
    if kind == "kp":
        return f"KP_{key[1]}_{'TONG' if key[2] == 'total' else key[2]}"
    if kind == "bc":
        return "BC_" + key[1].replace(".", "_")
    raise ValueError(key)


def unit_option(plan: Plan, unit: Unit) -> str:
    """The dropdown text of a unit: code first (what a reader parses), then name and parent."""
    parent = plan.unit(unit.parent)
    if unit.level == "xa" and parent is not None:
        return f"{unit.code} - {unit.name} ({parent.name})"
    return f"{unit.code} - {unit.name}"


def target_text(target: Target) -> str:
    """The target as printed in the template's "Chỉ tiêu" column."""

    def num(x: float | None) -> str:
        return "" if x is None else f"{x:g}".replace(".", ",")

    key = {"min": "target-min", "range": "target-range", "increase": "target-increase", "none": "target-none"}
    return messages.text(f"layout.{key[target.kind]}", low=num(target.low), high=num(target.high))


def template_for(plan: Plan, level: str) -> str:
    return plan.levels[level].template


@cache
def _build(plan: Plan, template: str, version: int) -> Layout:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported layout version {version}")
    t = lambda key, **kw: messages.text(key, **kw)  # noqa: E731
    sheets = {
        role: t(f"sheet.{role}") for role in ("guide", "unit", "results", "funding", "awards", "narrative")
    }
    sheets.update({"lists": "_ds", "meta": "_meta"})
    lay = Layout(
        version=version,
        template=template,
        template_id=f"xhht/{plan.id}/{template}",
        sheets=sheets,
    )

    # Unit sheet: label in A, value in B.
    s = sheets["unit"]
    lay.labels[Cell(s, 1, 1)] = t("layout.unit-title")
    fields = [
        ("unit", "field-unit"),
        ("unit_name", "field-unit-name"),
        ("level", "field-level"),
        ("reporter", "field-reporter"),
        ("position", "field-position"),
        ("phone", "field-phone"),
        ("email", "field-email"),
        ("date", "field-date"),
        ("deadline", "field-deadline"),
        ("template", "field-template"),
    ]
    for row, (name, label) in enumerate(fields, start=3):
        lay.unit_rows[name] = row
        if version == 1:
            label = _LABELS_V1.get(label, label)
        lay.labels[Cell(s, row, 1)] = t(f"layout.{label}")
        if name in UNIT_FIELDS:
            lay.inputs[("unit", name)] = Cell(s, row, 2)

    # Results sheet.
    s = sheets["results"]
    lay.labels[Cell(s, 1, 1)] = t("layout.results-title")
    h1, h2 = lay.result_header_rows
    for col, key in ((1, "col-stt"), (2, "col-code"), (3, "col-indicator"), (4, "col-formula")):
        lay.labels[Cell(s, h1, col)] = t(f"layout.{key}")
    first = 5
    n_visible = 5
    hidden_start = first + n_visible * len(plan.milestones) + 1
    for i, m in enumerate(plan.milestones):
        c0 = first + i * n_visible
        h0 = hidden_start + i * 3
        lay.result_cols[m] = ResultColumns(c0, c0 + 1, c0 + 2, c0 + 3, c0 + 4, h0, h0 + 1, h0 + 2)
        lay.labels[Cell(s, h1, c0)] = t("layout.col-year", year=m)
        for off, key in enumerate(("col-num", "col-den", "col-rate", "col-target", "col-verdict")):
            lay.labels[Cell(s, h2, c0 + off)] = t(f"layout.{key}")
    row = h2 + 1
    group_no = 0
    for group in plan.groups.values():
        members = [i for i in plan.rate_indicators() if i.group == group.code]
        if not members:
            continue
        group_no += 1
        lay.group_rows[group.code] = row
        lay.labels[Cell(s, row, 1)] = _roman(group_no)
        lay.labels[Cell(s, row, 3)] = group.name
        row += 1
        for ind in members:
            lay.result_rows[ind.code] = row
            lay.labels[Cell(s, row, lay.code_col)] = ind.code
            lay.labels[Cell(s, row, 3)] = ind.name
            for m, cols in lay.result_cols.items():
                lay.inputs[("kq", ind.code, m, "num")] = Cell(s, row, cols.num)
                lay.inputs[("kq", ind.code, m, "den")] = Cell(s, row, cols.den)
                lay.formulas[("kq", ind.code, m, "rate")] = Cell(s, row, cols.rate)
                lay.formulas[("kq", ind.code, m, "verdict")] = Cell(s, row, cols.verdict)
            row += 1

    # Funding sheet: sources down, years across, totals right and below.
    s = sheets["funding"]
    lay.labels[Cell(s, 1, 1)] = t("layout.funding-title", unit=plan.settings.funding_unit)
    header = 3
    for col, key in ((1, "col-stt"), (2, "col-source-code"), (3, "col-source")):
        lay.labels[Cell(s, header, col)] = t(f"layout.{key}")
    for i, year in enumerate(plan.settings.funding_years):
        lay.funding_cols[year] = 4 + i
        lay.labels[Cell(s, header, 4 + i)] = str(year)
    lay.funding_total_col = 4 + len(plan.settings.funding_years)
    lay.labels[Cell(s, header, lay.funding_total_col)] = t("layout.col-total")
    for i, code in enumerate(plan.settings.funding_sources):
        r = header + 1 + i
        lay.funding_rows[code] = r
        lay.labels[Cell(s, r, 2)] = code
        lay.labels[Cell(s, r, 3)] = plan.indicators[code].name
        for year, col in lay.funding_cols.items():
            lay.inputs[("kp", code, year)] = Cell(s, r, col)
        lay.formulas[("kp", code, "total")] = Cell(s, r, lay.funding_total_col)
    lay.funding_total_row = header + 1 + len(plan.settings.funding_sources)
    lay.labels[Cell(s, lay.funding_total_row, 3)] = t("layout.row-total")

    # Awards sheet: a fixed block of rows in priority order.
    s = sheets["awards"]
    lay.labels[Cell(s, 1, 1)] = t("layout.awards-title")
    header = 3
    heads = ("col-priority", "col-award", "col-kind", "col-name", "col-position", "col-nominee-unit",
             "col-summary", "col-previous", "col-note")  # fmt: skip
    for i, (fld, key) in enumerate(zip(AWARD_FIELDS, heads, strict=True), start=1):
        lay.award_cols[fld] = i
        lay.labels[Cell(s, header, i)] = t(f"layout.{key}")
    lay.award_block = Block(s, header + 1, 1, header + AWARD_ROWS, len(AWARD_FIELDS))
    for idx in range(AWARD_ROWS):
        for fld, col in lay.award_cols.items():
            if fld != "priority":
                lay.inputs[("kt", idx, fld)] = Cell(s, header + 1 + idx, col)

    # Narrative sheet: one row per outline item; text items get an input cell.
    s = sheets["narrative"]
    lay.labels[Cell(s, 1, 1)] = t("layout.narrative-title")
    header = 3
    for col, key in ((1, "col-item"), (2, "col-content"), (3, "col-report")):
        lay.labels[Cell(s, header, col)] = t(f"layout.{key}")
    r = header + 1
    for item in plan.settings.outline:
        lay.narrative_rows[item.code] = r
        lay.labels[Cell(s, r, 1)] = item.code
        lay.labels[Cell(s, r, 2)] = item.title
        if item.kind == "text":
            lay.inputs[("bc", item.code)] = Cell(s, r, lay.narrative_col)
        r += 1
    if template == "so_nganh":
        lay.narrative_rows[TOPIC_ITEM] = r
        lay.labels[Cell(s, r, 1)] = TOPIC_ITEM
        lay.inputs[("bc", TOPIC_ITEM)] = Cell(s, r, lay.narrative_col)

    for key, cell in (*lay.inputs.items(), *lay.formulas.items()):
        if key[0] != "kt":
            lay.names[key_name(key)] = cell
    lay.names["KT_BANG"] = lay.award_block
    return lay


def build(plan: Plan, template: str = "chung", version: int = VERSION) -> Layout:
    """The layout of ``template`` ("chung" or "so_nganh") for ``plan`` at ``version``."""
    return _build(plan, template, version)


def _roman(n: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, letters in numerals:
        while n >= value:
            out += letters
            n -= value
    return out
