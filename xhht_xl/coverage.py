"""Coverage: which units a consolidated figure stands for, carried up the hierarchy.

A total covers some of the units that report to the consolidating unit directly (the communes
of a district; the districts and departments of the province) and, through them, some *leaf*
units: the units that typed the figure themselves (the communes under the districts, a district
for what it types itself, a department). KH 137 mục II and VI.3.1: communes report to their
district, districts and departments to the province, so a provincial figure is only as
complete as the communes under it.

A consolidated workbook written by xhht_xl carries this in a very hidden sheet ``_coverage``
(a very hidden sheet survives Excel, LibreOffice and openpyxl round trips; see FACTS.md):

- one ``figure`` row per consolidated figure (indicator x milestone, funding source x year)
  with the values the tool wrote and their direct and leaf coverage;
- one ``unit`` row per unit below the consolidating unit (its direct units and, recursively,
  those the direct units' own workbooks carried), with the submission state.

The level above reads it back (:func:`read`) to count leaves, to name the units missing inside
a lower unit's file, and to tell the tool's own partial sums from figures a clerk typed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .plan import SELF, Plan
from .read import COVERAGE_BOUND, COVERAGE_SHEET

SHEET = COVERAGE_SHEET
FORMAT = "xhht-coverage/1"
FIGURE_FIELDS = ("indicator", "milestone", "num", "den", "covered", "na", "rejected", "expected",
                 "leaves_covered", "leaves_expected", "leaves_unknown")  # fmt: skip
UNIT_FIELDS = ("unit", "level", "via", "state", "received_at", "days_late", "received_source")
# states of a unit below the direct level: the four of the status sheet, and "unknown" when the
# unit's report would reach us through a workbook that does not say (missing, or not ours)
STATES = ("on_time", "late", "missing", "pending", "unknown")
MAX_ROWS, MAX_COLUMNS = COVERAGE_BOUND  # far beyond a country's units x figures; a figure row: 13 cells


@dataclass(frozen=True)
class Figure:
    """Coverage of one figure as its workbook says: values written and units behind them."""

    num: float  # the numerator, or the amount of a funding figure (NaN when none)
    den: float  # the denominator (NaN for amounts)
    covered: int  # direct units with data
    na: int
    rejected: int
    expected: int  # direct units that should report it
    leaves_covered: int
    leaves_expected: int
    leaves_unknown: int  # leaves behind figures whose own coverage is not known

    def same_values(self, num: float, den: float) -> bool:
        """The figure read from the workbook's cells is the one the tool wrote (not retyped)."""
        return _same(self.num, num) and _same(self.den, den)

    @property
    def complete(self) -> bool:
        return (
            self.covered == self.expected
            and self.leaves_covered == self.leaves_expected
            and self.leaves_unknown == 0
        )


@dataclass
class Carried:
    """What a consolidated workbook written by xhht_xl says about its own coverage."""

    unit: str
    level: str
    figures: dict[tuple[str, int], Figure] = field(default_factory=dict)
    units: list[dict] = field(default_factory=list)  # UNIT_FIELDS, received_at as datetime|None


def _same(a: float, b: float) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return abs(float(a) - float(b)) < 1e-6


# -- leaves expected -----------------------------------------------------------------------


def _sources(plan: Plan, indicator: str, level: str) -> tuple[str, ...]:
    ind = plan.indicators.get(indicator)
    return ind.authority.get(level, (SELF,)) if ind is not None else (SELF,)


class Leaves:
    """Leaf units expected behind a figure of ``unit`` at ``level`` (memoised per plan)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._count: dict[tuple[str, str, str], int] = {}
        self._levels: dict[tuple[str, str, str], frozenset[str]] = {}

    def count(self, unit: str, level: str, indicator: str) -> int:
        """How many leaves a figure of ``unit`` stands for when every one of them reports."""
        key = (unit, level, indicator)
        if key not in self._count:
            n = 0
            for source in _sources(self.plan, indicator, level):
                if source == SELF:
                    n += 1
                elif source in self.plan.levels:
                    n += sum(self.count(c.code, source, indicator) for c in self.plan.children(unit, source))
                else:  # a department named as the source
                    n += 1
            self._count[key] = n
        return self._count[key]

    def levels(self, unit: str, level: str, indicator: str) -> frozenset[str]:
        """The levels of those leaves (one level gives the coverage its noun: "xã, phường, thị trấn")."""
        key = (unit, level, indicator)
        if key not in self._levels:
            out: set[str] = set()
            for source in _sources(self.plan, indicator, level):
                if source == SELF:
                    out.add(level)
                elif source in self.plan.levels:
                    for c in self.plan.children(unit, source):
                        out |= self.levels(c.code, source, indicator)
                else:
                    dept = self.plan.unit(source)
                    out.add(dept.level if dept is not None else source)
            self._levels[key] = frozenset(out)
        return self._levels[key]

    def total(self, units: list[str], level: str, indicator: str) -> tuple[int, frozenset[str]]:
        """:meth:`count` summed and :meth:`levels` joined over ``units`` of ``level``; when the
        level types the figure itself (its only source), one leaf of ``level`` per unit, without
        looking at each (10,600 communes x 37 indicators at national scale)."""
        if _sources(self.plan, indicator, level) == (SELF,):
            return len(units), frozenset((level,) if units else ())
        levels: set[str] = set()
        for unit in units:
            levels |= self.levels(unit, level, indicator)
        return sum(self.count(unit, level, indicator) for unit in units), frozenset(levels)

    def below(self, unit: str, levels: tuple[str, ...]) -> list[str]:
        """Codes of every unit under ``unit`` whose level is not one of ``levels`` (the direct ones)."""
        return [u.code for u in self.plan.descendants(unit) if u.level not in levels]


# -- writing and reading the hidden sheet -----------------------------------------------------


def write(wb, c) -> None:
    """Add the very hidden ``_coverage`` sheet of consolidation ``c`` to openpyxl workbook ``wb``
    (its rows are written when ``wb`` is saved through ``fileio.save_workbook``)."""
    from . import xlsxcopy

    ws = wb.create_sheet(SHEET)
    ws.sheet_state = "veryHidden"
    rows: list[list] = [["format", FORMAT, c.scope.unit, c.scope.level]]
    for r in c.totals.itertuples():
        rows.append(["figure", r.indicator, int(r.milestone), _num(r.num), _num(r.den), int(r.units_covered),
                     int(r.units_na), int(r.units_rejected), int(r.units_expected), int(r.leaves_covered),
                     int(r.leaves_expected), int(r.leaves_unknown)])  # fmt: skip
    for r in c.funding.itertuples():
        rows.append(["figure", r.source, int(r.year), _num(r.amount), None, int(r.units_covered), 0, 0,
                     int(r.units_expected), int(r.leaves_covered), int(r.leaves_expected),
                     int(r.leaves_unknown)])  # fmt: skip
    for frame in (c.status, c.below):
        for r in frame.itertuples():
            received = r.received_at if isinstance(r.received_at, dt.datetime) and not pd.isna(r.received_at) else None
            rows.append(["unit", str(r.unit), r.level, str(getattr(r, "via", "") or ""), r.state,
                         received.isoformat() if received else "", int(r.days_late or 0),
                         str(r.received_source or "")])  # fmt: skip
    # written into the sheet's XML at save; codes and dates stay text
    xlsxcopy.defer_rows(ws, 1, rows, [None] * max(len(row) for row in rows))


def _num(x) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(x)


def read(path: str | Path) -> Carried | None:
    """The coverage a workbook written by xhht_xl carries, or None (no such sheet, damaged).

    Read with python-calamine like every other sheet of a received workbook (.xlsx, .xls, .ods
    saved by any spreadsheet keep a very hidden sheet); memoised per file version. A workbook
    already read by ``read.read`` need not be read again: :func:`of`.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return None
    return _read(str(path), st.st_mtime_ns, st.st_size)


def of(sub, path: str | Path | None = None, *, data: bytes | None = None) -> Carried | None:
    """The coverage the workbook of submission ``sub`` carries: from the sheet its reader kept
    (``Submission.sent_up``), else read from ``data`` (the bytes that were read, as the store keeps
    them) or ``path`` (default: ``sub.path``). Same result as :func:`read`."""
    if sub.sent_up is not None:
        return parse(sub.sent_up.get(SHEET))
    path = path if path is not None else sub.path
    if data is not None:
        return parse(_sheet(path, data))
    return read(path)


@lru_cache(maxsize=256)
def _read(path: str, _mtime_ns: int, _size: int) -> Carried | None:
    return parse(_sheet(path))


def _sheet(path: str | Path, data: bytes | None = None) -> list[list] | None:
    from .read import sheet_rows

    # through the intake gate and bounded before python-calamine runs, like every received sheet
    return sheet_rows(path, SHEET, bound=(MAX_ROWS, MAX_COLUMNS), data=data)


def parse(rows: list[list] | None) -> Carried | None:
    """The coverage in the values of a ``_coverage`` sheet (``read.sheet_rows``), or None (no
    sheet, damaged, or not this format). A damaged row is skipped; the others still count."""
    if rows is None:  # no such sheet, or damaged: it says nothing; the reader reports a damaged file
        return None
    if not rows or len(rows[0]) < 4 or rows[0][0] != "format" or rows[0][1] != FORMAT:
        return None
    out = Carried(unit=_text(rows[0][2]), level=_text(rows[0][3]))
    for row in rows[1:]:
        if not row or row[0] not in ("figure", "unit"):
            continue
        try:
            if row[0] == "figure":
                rec = dict(zip(FIGURE_FIELDS, row[1:], strict=False))
                ints = [_count(rec.get(k)) for k in FIGURE_FIELDS[4:]]
                out.figures[(_text(rec["indicator"]), int(rec["milestone"]))] = Figure(
                    _float(rec.get("num")), _float(rec.get("den")), *ints
                )
            else:
                rec = dict(zip(UNIT_FIELDS, row[1:], strict=False))
                state = _text(rec.get("state"))
                if state not in STATES:
                    continue
                when = _text(rec.get("received_at"))
                out.units.append({
                    "unit": _text(rec["unit"]),
                    "level": _text(rec.get("level")),
                    "via": _text(rec.get("via")),
                    "state": state,
                    "received_at": dt.datetime.fromisoformat(when) if when else None,
                    "days_late": _count(rec.get("days_late")),
                    "received_source": _text(rec.get("received_source")),
                })  # fmt: skip
        except (KeyError, TypeError, ValueError, OverflowError):
            continue  # a damaged row says nothing; the others still count
    return out


_COUNT_LIMIT = 10**9  # more units or days than any plan has: a cell typed over, not a count


def _count(v) -> int:
    """A count or a number of days a row holds (empty: 0); ValueError for one no count is (1E+308
    or 400 digits typed over it stopped the province's consolidation: int64 holds neither)."""
    n = int(v or 0)
    if abs(n) >= _COUNT_LIMIT:
        raise ValueError(v)
    return n


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _float(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


# -- units below the direct level ------------------------------------------------------------

BELOW_COLUMNS = ["unit", "name", "level", "parent", "via", "state", "received_at", "days_late", "received_source"]


def below(plan: Plan, direct_levels: tuple[str, ...], status: pd.DataFrame, carried: dict[str, Carried]) -> pd.DataFrame:
    """Every unit under the direct units, with the state their workbooks carry ("unknown" when a
    direct unit's workbook is missing or does not carry coverage).

    ``status``: the direct units' status frame; ``carried``: direct unit -> its coverage.
    """
    rows = []
    # plain values: itertuples fetched each of a national plan's 10,600 rows cell by cell from pandas' arrays
    for direct, state in zip(status["unit"].tolist(), status["state"].tolist(), strict=True):
        known: dict[str, dict] = {}
        c = carried.get(direct)
        if c is not None and state in ("on_time", "late"):
            known = {u["unit"]: u for u in c.units}
        for unit in plan.descendants(direct):
            if unit.level in direct_levels:
                continue
            u = known.get(unit.code)
            rows.append({
                "unit": unit.code,
                "name": unit.name,
                "level": unit.level,
                "parent": unit.parent,
                "via": direct,
                "state": u["state"] if u else "unknown",
                "received_at": u["received_at"] if u else None,
                "days_late": u["days_late"] if u else 0,
                "received_source": u["received_source"] if u else "",
            })  # fmt: skip
    return pd.DataFrame(rows, columns=BELOW_COLUMNS)


def by_level(plan: Plan, status: pd.DataFrame, below_frame: pd.DataFrame) -> list[dict]:
    """Per level (direct levels first, then those below, each in plan order), the submission
    counts of every unit that reports into this total:
    ``[{"level", "expected", "on_time", "late", "missing", "pending", "unknown", "direct",
    "missing_units": [codes], "late_units": [codes]}]``."""
    out = []
    for frame, direct in ((status, True), (below_frame, False)):
        if frame.empty:
            continue
        # one pass over plain values: every output asks, and masks per level and state cost ~5 ms
        by_level: dict[object, list[tuple[object, object]]] = {}
        for level, state, unit in zip(frame["level"].tolist(), frame["state"].tolist(), frame["unit"].tolist(),
                                      strict=True):  # fmt: skip
            by_level.setdefault(level, []).append((state, unit))
        for lv in plan.levels:
            rows = by_level.get(lv)
            if not rows:
                continue
            counts = dict.fromkeys(STATES, 0)
            for state, _unit in rows:
                if state in counts:
                    counts[state] += 1
            out.append({
                "level": lv,
                "direct": direct,
                "expected": len(rows),
                **counts,
                "received": counts["on_time"] + counts["late"],
                "missing_units": [unit for state, unit in rows if state == "missing"],
                "late_units": [unit for state, unit in rows if state == "late"],
            })  # fmt: skip
    return out
