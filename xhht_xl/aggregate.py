"""Roll-up of submissions into totals: pure pandas, no files.

Counts are summed; every rate is recomputed from the summed numerator and denominator, never
averaged. Each indicator takes its value at a level from its authoritative sources (plan
``authority``: "self", a child level, or a department); other sources appear only as
cross-checks. A unit that is missing, marked "không áp dụng", or whose cell was rejected by a
check is not a zero: totals say how many units they cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pandas as pd

from . import messages
from .coverage import Carried, Leaves
from .issues import Issue
from .plan import SELF, Plan, rounded_array
from .submission import NA, Submission

FACT_COLUMNS = ["unit", "level", "indicator", "milestone", "measure", "raw", "typed_value", "value", "state", "issue",
                "file", "sha256", "sheet", "cell"]  # fmt: skip
# states of a fact
OK, NA_STATE, EMPTY, REJECTED = "ok", "na", "empty", "rejected"


@dataclass
class Member:
    """A submission taking part in a consolidation, with the role it plays."""

    unit: str  # today's unit code
    level: str  # the unit's level
    sub: Submission
    own: bool = False  # the consolidating unit's own workbook (--into)


_PLAIN_VALUES = frozenset((int, float, type(None), type(NA)))  # values facts turns into floats in numpy


def facts(members: Iterable[Member], issues: Iterable[Issue] = ()) -> pd.DataFrame:
    """Every count and amount of every member as one long table (columns, not objects).

    Nothing is hidden: ``raw`` is the cell as the sender typed it (text; a formula's result),
    ``typed_value`` the number read from it, ``value`` the number used (only when ``state`` is
    ok), ``issue`` the code of the most severe of ``issues`` at that cell (a rejected cell of a
    pair without one of its own takes its partner's: tử số 59 > mẫu số 53 rejects both).
    Dtypes are given by the consolidation (``frames.schema("facts")``).

    Each member's cells are gathered in short lists and copied into arrays made once for all
    (no list of every cell: ~200 MB at 10,600 workbooks, and an equal copy to turn it into
    arrays); code-like columns are kept as small integer codes from the start; a number's text
    is made once per distinct number; the member's own columns are repeated per member. What
    depends only on a member's entry keys (which entries are facts, their indicator, milestone
    and measure) is worked out once per distinct sequence of keys (:class:`_Shape`: the
    workbooks of one template share it), and so are the sheets' codes while the cells sit on
    the same sheets; only the values are visited cell by cell (~35 % less time at 10,600
    workbooks)."""
    members = list(members)
    at = _issues_at(issues)
    flagged = {k[0] for k in at}  # units with an issue at some cell: only their cells are looked up
    room = sum(m.sub.entry_count() for m in members)  # at least the cells to come
    typed = np.empty(room, dtype=float)
    milestone = np.empty(room, dtype=np.int32)
    raw_col, cell_col, issue_col = (np.empty(room, dtype=object) for _ in range(3))
    coded = {name: (np.empty(room, dtype=np.int32), {}) for name in ("indicator", "measure", "state", "sheet")}
    sheet_codes, sheet_found = coded["sheet"]
    state_codes, state_found = coded["state"]
    # every state has a code from the start; those never met are dropped at the end
    rejected, na, ok, empty = (state_found.setdefault(s, len(state_found)) for s in (REJECTED, NA_STATE, OK, EMPTY))
    shapes: dict[tuple, _Shape] = {}
    last_keys, shape = None, None  # the previous member's keys and shape: most members share them
    texts: dict[float, str] = {}  # a number's text, made once per distinct number (and kept once)
    per_member: list[tuple[str, str, str, str, int]] = []  # unit, level, file, sha256, cell count
    nan = np.nan
    pos = 0
    for m in members:
        sub = m.sub
        c = sub.columns()  # one member's at a time (of a submission from a worker: the ones it holds)
        unit = m.unit
        keys = c.keys
        # (one object for submissions from workers; else equal keys are shared objects, compared by identity)
        if keys is not last_keys and keys != last_keys:
            shape = shapes.get(keys)
            if shape is None:
                shape = shapes[keys] = _Shape(keys, coded)
            last_keys = keys
        pick = shape.pick
        end = pos + shape.n
        values, raws, statuses = pick(c.values), pick(c.raws), pick(c.statuses)
        if shape.n and _PLAIN_VALUES.issuperset(map(type, values)):
            # numbers, empty and not applicable cells only (most members): numpy reads None as NaN
            not_applicable = [i for i, value in enumerate(values) if value is NA]
            if not_applicable:
                values = list(values)
                for i in not_applicable:
                    values[i] = None
            numbers = np.array(values, dtype=float)
            typed[pos:end] = numbers
            states = np.where(numbers == numbers, ok, empty)
            states[not_applicable] = na
            if REJECTED in statuses:  # (before "not applicable", as below)
                states[[i for i, status in enumerate(statuses) if status == REJECTED]] = rejected
            state_codes[pos:end] = states
        else:
            c_num, c_state = [], []
            for value, status in zip(values, statuses, strict=True):  # once per cell
                typ = type(value)  # the two usual types first
                if typ is float:
                    number = value
                elif typ is int:
                    number = float(value)
                elif value is None:  # an empty cell (a third of a commune's)
                    number = nan
                else:
                    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else nan
                if status == REJECTED:
                    c_state.append(rejected)
                elif value is NA:
                    c_state.append(na)
                elif number == number:  # not NaN
                    c_state.append(ok)
                else:
                    c_state.append(empty)
                c_num.append(number)
            typed[pos:end] = c_num
            state_codes[pos:end] = c_state
        c_raw = []
        for raw in raws:  # once per cell
            typ = type(raw)
            if typ is float:
                text = texts.get(raw)
                if text is None:
                    text = texts[raw] = str(int(raw)) if raw.is_integer() else repr(raw)  # as _raw_text
                raw = text
            elif typ is str:
                if not raw:
                    raw = None  # an empty cell (as _raw_text)
            elif raw is not None:
                raw = _raw_text(raw)
            c_raw.append(raw)
        raw_col[pos:end] = c_raw
        cells = pick(c.cells)
        cell_col[pos:end] = cells
        sheets = pick(c.sheets)
        if sheets == shape.sheets:
            sheet_codes[pos:end] = shape.sheet_codes
        else:  # another layout of the same keys (rows moved to another sheet), or the first member
            codes = [sheet_found.setdefault(v, len(sheet_found)) for v in sheets]
            sheet_codes[pos:end] = codes
            if shape.sheets is None:
                shape.sheets, shape.sheet_codes = sheets, np.array(codes, dtype=np.int32)
        if unit in flagged:
            issue_col[pos:end] = [None if (i := at.get((unit, sh, ce))) is None else i.code for sh, ce in zip(sheets, cells, strict=True)]
        else:
            issue_col[pos:end] = None
        coded["indicator"][0][pos:end] = shape.indicators
        coded["measure"][0][pos:end] = shape.measures
        milestone[pos:end] = shape.milestones
        pos = end
        per_member.append((unit, "self" if m.own else m.level, sub.file, sub.sha256, shape.n))
    total = pos
    typed, milestone, raw_col, cell_col, issue_col = (a[:total] for a in (typed, milestone, raw_col, cell_col, issue_col))
    met = np.unique(state_codes[:total])  # the states met, as codes; the others are not categories
    renumber = np.zeros(len(state_found), dtype=np.int32)
    renumber[met] = np.arange(len(met), dtype=np.int32)
    names = list(state_found)
    state_codes, state_found = renumber[state_codes[:total]], {names[c]: i for i, c in enumerate(met.tolist())}
    counts = np.array([p[4] for p in per_member], dtype=np.intp)
    state = np.array(list(state_found), dtype=object)[state_codes] if total else np.array([], dtype=object)
    cols = {"measure": _CodedColumn(*coded["measure"], total), "indicator": _CodedColumn(*coded["indicator"], total),
            "milestone": milestone}  # fmt: skip
    _partner_issues(issue_col, state, cols, np.repeat(np.arange(len(per_member)), counts), per_member)
    unit_codes, unit_cats = _member_codes([p[0] for p in per_member])
    level_codes, level_cats = _member_codes([p[1] for p in per_member])
    built = {
        "unit": pd.Categorical.from_codes(np.repeat(unit_codes, counts), categories=unit_cats),
        "level": pd.Categorical.from_codes(np.repeat(level_codes, counts), categories=level_cats),
        "indicator": _categorical(*coded["indicator"], total),
        "milestone": milestone,
        "measure": _categorical(*coded["measure"], total),
        "raw": raw_col,
        "typed_value": typed,
        "value": np.where(state == OK, typed, np.nan),
        "state": _categorical(state_codes, state_found, total),
        "issue": issue_col,
        "file": np.repeat(np.array([p[2] for p in per_member], dtype=object), counts),
        "sha256": np.repeat(np.array([p[3] for p in per_member], dtype=object), counts),
        "sheet": _categorical(*coded["sheet"], total),
        "cell": cell_col,
    }
    del state, coded, cols
    return pd.DataFrame(built, columns=FACT_COLUMNS, copy=False)  # the arrays above are its own


class _Shape:
    """What ``facts`` takes from a sequence of entry keys, once: which entries are facts
    (``pick``, a function of a column's list), how many (``n``), their indicator and measure
    codes (into ``facts``'s coded columns) and milestones; and the sheets of the first member
    that had these keys, with their codes."""

    __slots__ = ("indicators", "measures", "milestones", "n", "pick", "sheet_codes", "sheets")

    def __init__(self, keys: tuple, coded: dict):
        where, indicators, milestones, measures = [], [], [], []
        for i, key in enumerate(keys):
            kind = key[0]
            if kind in ("kq", "kp"):  # a count (kq, indicator, milestone, measure) or an amount
                where.append(i)
                indicators.append(key[1])
                milestones.append(key[2])
                measures.append(key[3] if kind == "kq" else "amount")
        self.n = len(where)
        self.pick = itemgetter(*where) if len(where) > 1 else lambda entries: [entries[i] for i in where]
        for attr, name, values in (("indicators", "indicator", indicators), ("measures", "measure", measures)):
            found = coded[name][1]
            setattr(self, attr, np.array([found.setdefault(v, len(found)) for v in values], dtype=np.int32))
        self.milestones = np.array(milestones, dtype=np.int32)
        self.sheets: list[str] | None = None
        self.sheet_codes: np.ndarray | None = None


def _categorical(codes: np.ndarray, found: dict, total: int) -> pd.Categorical:
    """Codes in the order values were met (``found``: value -> code) as a categorical whose
    categories are sorted, as ``pd.Categorical(values)`` makes them."""
    cats = sorted(found)
    order = np.empty(len(found), dtype=np.int32)
    for new, value in enumerate(cats):
        order[found[value]] = new
    return pd.Categorical.from_codes(order[codes[:total]] if len(found) else codes[:total], categories=cats)


class _CodedColumn:
    """Item access to a coded column's values (what ``_partner_issues`` reads of a few rows)."""

    def __init__(self, codes: np.ndarray, found: dict, total: int):
        self.codes, self.values = codes, list(found)

    def __getitem__(self, i: int):
        return self.values[self.codes[i]]


def _member_codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes of per-member values into their sorted distinct values (``astype("category")``'s order)."""
    cats = sorted(set(values))
    where = {v: i for i, v in enumerate(cats)}
    return np.array([where[v] for v in values], dtype=np.int64), cats


_RANK = {"error": 0, "warning": 1, "info": 2}


def _issues_at(issues: Iterable[Issue]) -> dict[tuple[str, str, str], Issue]:
    """The most severe issue at each (unit, sheet, cell); the first one among equals."""
    at: dict[tuple[str, str, str], Issue] = {}
    for i in issues:
        if i.cell:
            key = (i.unit, i.sheet, i.cell)
            have = at.get(key)
            if have is None or _RANK[i.severity] < _RANK[have.severity]:
                at[key] = i
    return at


def _partner_issues(issue: np.ndarray, state: np.ndarray, cols: dict[str, list], owner: np.ndarray,
                    per_member: list[tuple]) -> None:
    """A rejected cell of a num/den pair with no issue of its own takes its partner's (``issue``
    changed in place). Only rejected cells are visited; ``owner`` is each cell's member index."""
    rejected = np.flatnonzero(state == REJECTED)
    pair: dict[tuple, str] = {}
    keys = {}
    for i in rejected:
        if cols["measure"][i] in ("num", "den"):
            m = per_member[owner[i]]
            keys[i] = (m[0], m[1], cols["indicator"][i], cols["milestone"][i])
            if issue[i]:
                pair.setdefault(keys[i], issue[i])
    for i, key in keys.items():
        if not issue[i]:
            issue[i] = pair.get(key)


def _raw_text(raw: object) -> str | None:
    """A cell's content as text: numbers in full (1234.5), booleans as Excel shows them."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return str(raw)


def authority(plan: Plan, indicator: str, level: str) -> tuple[str, ...]:
    """Where ``indicator`` comes from at ``level``: default is the level's own entry."""
    return plan.indicators[indicator].authority.get(level, (SELF,))


def _distinct(columns: list) -> tuple[np.ndarray, list[tuple]]:
    """For rows of equal-length ``columns`` (Series or arrays): each row's index into the distinct
    combinations of their values, and those combinations (NaN and None are values like any
    other). What is decided per combination is then computed once per combination, not per row."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return np.zeros(0, dtype=np.intp), []
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for col in columns:
        codes, uniques = pd.factorize(col, use_na_sentinel=False)
        if size * max(len(uniques), 1) >= 2**62:  # keep the combined key in 64 bits
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            size = int(key.max()) + 1
        key = key * len(uniques) + codes
        size *= max(len(uniques), 1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    values = [_values_at(col, first) for col in columns]
    return inverse.reshape(-1), list(zip(*values, strict=True))


def _values_at(col, rows: np.ndarray) -> list:
    """``col``'s values at ``rows`` as Python objects, as ``np.asarray(col, dtype=object)``
    gives them. A numpy array's own items are those already (no copy of the whole column as
    objects); a pandas array that is not a Series is not: numpy would turn its Timestamps into
    datetimes and its <NA> into NaN."""
    if isinstance(col, pd.Series):
        return col.iloc[rows].tolist()
    if isinstance(col, np.ndarray):
        return col[rows].tolist()
    return np.asarray(col, dtype=object)[rows].tolist()


def pairs(f: pd.DataFrame) -> pd.DataFrame:
    """One row per unit x level x indicator x milestone of the facts ``f`` with num, den and the
    state of the pair (ok only when both are numbers and neither is rejected or "không áp dụng").

    Rows sorted by unit, level, indicator (their categories' order) and milestone; a measure given
    twice takes its first state and its first value that is not NaN (as pandas' ``first``).
    Vectorised over integer keys made of the categories' codes: per-row Python cost ~2 s per
    call at national scale (~1.3 M cells of rates), paid three times by every consolidation."""
    # the rows of numerators and denominators, as arrays of codes (no frame of them is made)
    rows = np.flatnonzero(_equals(f["measure"], "num") | _equals(f["measure"], "den"))
    if not len(rows):
        return pd.DataFrame(columns=["unit", "level", "indicator", "milestone", "num", "den", "state"])
    coded = ("unit", "level", "indicator")
    dtypes = {k: f[k].dtype for k in (*coded, "milestone")}
    sizes = [len(f[k].cat.categories) + 1 for k in coded]  # +1: a missing code (-1) sorts first
    mvalues, mcodes = np.unique(f["milestone"].to_numpy()[rows], return_inverse=True)
    key = np.zeros(len(rows), dtype=np.int64)
    for k, size in zip(coded, sizes, strict=True):
        key *= size
        key += f[k].cat.codes.to_numpy()[rows]
        key += 1
    key *= len(mvalues)
    key += mcodes.reshape(-1)
    del mcodes
    # one stable sort: each key's rows side by side, in the facts' order
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.empty(len(key), dtype=bool)
    starts[0] = True
    np.not_equal(key[1:], key[:-1], out=starts[1:])
    found = key[starts]
    group = np.cumsum(starts) - 1  # each sorted row's key, as its index in ``found``
    del key, starts
    rows = rows[order]  # the facts' row of each sorted row
    del order
    is_num = _equals(f["measure"], "num")[rows]
    value = f["value"].to_numpy(dtype=float)[rows]
    state_na, state_rejected = _equals(f["state"], NA_STATE)[rows], _equals(f["state"], REJECTED)[rows]
    del rows

    def first(mask: np.ndarray, of: np.ndarray, empty) -> np.ndarray:
        """Per key, ``of`` at its first row (in the facts' order) where ``mask`` holds."""
        return _first_per_group(found, group, mask, of, empty)

    has = ~np.isnan(value)
    num, den = first(is_num & has, value, np.nan), first(~is_num & has, value, np.nan)
    # the first state of each measure: "không áp dụng"? rejected? (a missing measure: neither)
    na_num, na_den = first(is_num, state_na, False), first(~is_num, state_na, False)
    rejected_num, rejected_den = first(is_num, state_rejected, False), first(~is_num, state_rejected, False)
    rest, mpos = np.divmod(found, len(mvalues))
    parts = []
    for size in reversed(sizes):
        rest, code = np.divmod(rest, size)
        parts.append(code - 1)
    parts.reverse()
    out = pd.DataFrame(
        {
            **{k: pd.Categorical.from_codes(parts[j], dtype=dtypes[k]) for j, k in enumerate(coded)},
            "milestone": mvalues[mpos].astype(dtypes["milestone"]),
        }
    )
    code = np.where(~np.isnan(num) & ~np.isnan(den), 0, 1)
    code = np.where(na_num | na_den, 2, code)
    code = np.where(rejected_num | rejected_den, 3, code)
    ok = code == 0
    out["num"] = np.where(ok, num, np.nan)
    out["den"] = np.where(ok, den, np.nan)
    out["state"] = _STATES[code]  # the four strings shared, not one new string per row
    return out


_pairs = pairs


def _first_per_group(found: np.ndarray, group: np.ndarray, mask: np.ndarray, of: np.ndarray, empty) -> np.ndarray:
    """Per group (``group``: each row's group, rows sorted by group, stable), ``of`` at the group's
    first row where ``mask`` holds; ``empty`` for a group without one."""
    out = np.full(len(found), empty, dtype=of.dtype)
    where = np.flatnonzero(mask)
    g = group[where]
    lead = np.empty(len(g), dtype=bool)
    if len(g):
        lead[0] = True
        np.not_equal(g[1:], g[:-1], out=lead[1:])
    out[g[lead]] = of[where[lead]]
    return out


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """``column == value`` as a boolean array; on a categorical, by its codes (no array of the
    values is made: ~14 MB per column at national scale)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = column.cat.categories
        codes = column.cat.codes.to_numpy()
        return codes == cats.get_loc(value) if value in cats else np.zeros(len(column), dtype=bool)
    return np.asarray(column, dtype=object) == value
_STATES = np.array([OK, EMPTY, NA_STATE, REJECTED], dtype=object)
_PAIR_INPUT = ("unit", "level", "indicator", "milestone", "measure", "value", "state")


def partial(units_covered, units_na, units_expected) -> bool:
    """Whether a total holds the figures of some but not all of the units expected to give one: a
    unit whose figure is missing, late or rejected is not in it, one that reported "không áp dụng"
    lacks nothing. Its rate and verdict are those of the units covered, a provisional result
    (CLERK.md: never overstate; a figure says what it covers): :func:`verdict_text` marks it."""
    covered, na, expected = int(units_covered), int(units_na), int(units_expected)
    return covered > 0 and covered + na < expected


VERDICTS = {"dat": "verdict.dat", "khong-dat": "verdict.khong-dat", "vuot": "verdict.vuot"}


def verdict_text(code, provisional: bool = False) -> str:
    """A verdict as a clerk reads it («Đạt», «Không đạt», «Vượt»; "" for none), marked «(tạm tính)»
    when it judges a :func:`partial` total: the one label of every output that shows a verdict."""
    if not isinstance(code, str) or code not in VERDICTS:
        return ""
    text = messages.text(VERDICTS[code])
    return messages.text("verdict.provisional", verdict=text) if provisional else text


def verdict_of(text) -> str | None:
    """The verdict code of a label :func:`verdict_text` wrote (provisional or not); None for any
    other value (a workbook read back: «Tổng hợp», «Chi tiết»)."""
    if not isinstance(text, str):
        return None
    for code, key in VERDICTS.items():
        label = messages.text(key)
        if text in (label, messages.text("verdict.provisional", verdict=label)):
            return code
    return None


def rate(num, den) -> np.ndarray:
    """Rates in percent from numerators and denominators, rounded half-up to 0.1 point
    (``plan.round_rate``, the templates' ROUND(x, 1)): the one value every output shows.
    NaN where the denominator is 0 or missing."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(den > 0, num / np.where(den > 0, den, 1) * 100, np.nan)
    return rounded_array(raw)


def unit_rates(f: pd.DataFrame | None, plan: Plan, *, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per unit: num, den, rate (rounded, see :func:`rate`) and verdict of every indicator and
    milestone it reported, from the facts ``f`` or their :func:`pairs` already made."""
    pairs = (_pairs(f) if pairs is None else pairs).copy(deep=False)  # its columns added here only
    if pairs.empty:
        return pairs.assign(rate=[], verdict=[])
    pairs["rate"] = rate(pairs["num"], pairs["den"])
    pairs = pairs.sort_values(["unit", "indicator", "milestone"]).reset_index(drop=True)
    pairs["verdict"] = _verdicts(pairs, plan)
    return pairs


def _verdicts(rows: pd.DataFrame, plan: Plan) -> list[str | None]:
    """Verdict of each row; "increase" targets compare with the same unit's previous milestone
    (the row of the plan's milestone before, the last such row when there are several).

    Judged once per distinct (indicator, milestone, rate, previous rate): rates are rounded, so
    ~1.3 M rows at national scale share a few thousand verdicts' inputs."""
    n = len(rows)
    if n == 0:
        return []
    milestones = list(plan.milestones)
    unit = rows["unit"] if "unit" in rows else pd.Series([None] * n)
    group, _ = _distinct([unit, rows["indicator"]])
    mcodes, mvalues = pd.factorize(rows["milestone"])
    slot = np.array([milestones.index(m) + 1 if m in milestones else 0 for m in mvalues], dtype=np.int64)[mcodes]
    width = len(milestones) + 1
    rate_of = rows["rate"].to_numpy(dtype=float)
    here = pd.Series(rate_of, index=group * width + slot)
    here = here[~here.index.duplicated(keep="last")]
    previous = here.reindex(np.where(slot > 1, group * width + slot - 1, -1)).to_numpy()
    inverse, combos = _distinct([rows["indicator"], rows["milestone"], rate_of, previous])
    judged = []
    for indicator, milestone, rate_, prev in combos:
        target = plan.targets.get((indicator, milestone))
        rate_ = None if rate_ != rate_ else float(rate_)
        prev = None if prev != prev else float(prev)
        judged.append(target.verdict(rate_, prev) if target is not None else None)
    return np.array(judged, dtype=object)[inverse].tolist()


@dataclass
class Scope:
    """What a consolidation covers: the consolidating unit, its level and the expected sub-units."""

    unit: str
    level: str
    expected: dict[str, list[str]]  # child level (or "so_nganh") -> expected unit codes


def _authority_rows(frame: pd.DataFrame, plan: Plan, scope: Scope, key: str) -> pd.DataFrame:
    """Tag each row with the authoritative source it counts for (``used``) or none, and the
    source names it can stand for: ``by_level`` (its level for an expected sub-unit, "self" for
    the own workbook) and ``by_unit`` (its unit code: a named department). What a row stands for
    is decided once per distinct (level, unit), each ``key``'s sources once per code, and which
    of them counts in arrays (a national consolidation has ~250,000 distinct (unit, indicator))."""
    frame = frame.copy(deep=False)  # columns added to this frame only (pandas' copy on write)
    expected = {(lv, u) for lv, units in scope.expected.items() for u in units}
    at, members = _distinct([frame["level"], frame["unit"]])  # each row's (level, unit)
    of_code, codes = _distinct([frame[key]])
    by_level = [SELF if level == SELF else (level if (level, unit) in expected else "") for level, unit in members]
    by_unit = ["" if level == SELF else unit for level, unit in members]
    sources = [authority(plan, code, scope.level) if code in plan.indicators else () for (code,) in codes]
    # the level a row stands for counts where it is among its code's sources (few levels x codes)
    levels = sorted(set(by_level))
    level_at = np.array([levels.index(lv) for lv in by_level], dtype=np.intp)[at]
    counts = np.array([[lv in src for src in sources] for lv in levels], dtype=bool).reshape(len(levels), len(sources))
    by_level_rows = np.array(by_level, dtype=object)[at]
    used = np.where(counts[level_at, of_code], by_level_rows, "")  # objects, as by_level_rows
    # else its unit, where a code's sources name it (a department): those few rows one by one
    named = {u for src in sources for u in src}
    unit_named = np.array([bool(u) and u in named for u in by_unit], dtype=bool)
    if unit_named.any():
        for row in np.flatnonzero(unit_named[at] & (used == "")):
            unit = by_unit[at[row]]
            if unit in sources[of_code[row]]:
                used[row] = unit
    frame["used"] = used
    frame["by_level"] = by_level_rows
    frame["by_unit"] = np.array(by_unit, dtype=object)[at]
    return frame


def _expected_total(sources: tuple[str, ...], scope: Scope) -> int:
    return sum(len(scope.expected[s]) if s in scope.expected else 1 for s in sources)


def _leaf_counts(
    used: pd.DataFrame, plan: Plan, key: str, values: tuple[str, ...], carried: dict[str, Carried], leaves: Leaves
) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """Leaves covered and leaves of unknown coverage behind each figure (``key`` x milestone),
    from the authoritative rows with data: a unit that typed the figure itself is one leaf; a
    consolidated workbook written by xhht_xl says how many leaves its figure holds (when its cells
    still hold what the tool wrote); any other consolidated figure counts its leaves as unknown."""
    covered: dict[tuple, int] = {}
    unknown: dict[tuple, int] = {}
    if used.empty:
        return covered, unknown
    # a figure typed by the unit itself is one leaf: decided per distinct (level, indicator)
    inverse, combos = _distinct([used["level"], used[key]])
    typed = np.array([lv == SELF or authority(plan, code, lv) == (SELF,) for lv, code in combos], dtype=bool)[inverse]
    if typed.any():
        n = used[typed].groupby([key, "milestone"], observed=True).size()
        covered.update({k: int(v) for k, v in n.items() if v})
    rest = used[~typed]
    cols = [rest[c] for c in ("unit", "level", key, "milestone", *values)]
    for unit, level, code, m, *vals in zip(*cols, strict=True):
        k = (code, m)
        c = carried.get(unit)
        fig = c.figures.get((code, int(m))) if c is not None else None
        if fig is not None and fig.same_values(*(vals + [np.nan] * (2 - len(vals)))):
            covered[k] = covered.get(k, 0) + fig.leaves_covered
            unknown[k] = unknown.get(k, 0) + fig.leaves_unknown
        else:
            unknown[k] = unknown.get(k, 0) + leaves.count(unit, level, code)
    return covered, unknown


def _leaf_expected(plan: Plan, scope: Scope, code: str, leaves: Leaves) -> tuple[int, str]:
    """Leaves expected behind the scope's figure of ``code`` and their level ("" when mixed)."""
    n, levels = 0, set()
    for source in authority(plan, code, scope.level) if code in plan.indicators else (SELF,):
        if source == SELF:
            n += 1
            levels.add(scope.level)
        elif source in scope.expected:
            count, found = leaves.total(scope.expected[source], source, code)
            n += count
            levels |= found
        else:
            n += 1
            dept = plan.unit(source)
            levels.add(dept.level if dept is not None else source)
    return n, (next(iter(levels)) if len(levels) == 1 else "")


TOTALS_COLUMNS = ["indicator", "milestone", "num", "den", "units_covered", "units_na", "units_rejected", "units_expected",
                  "source", "leaves_covered", "leaves_expected", "leaves_unknown", "leaf_level", "rate", "verdict",
                  "target", "partial"]  # fmt: skip
FUNDING_COLUMNS = ["source", "year", "amount", "units_covered", "units_expected", "leaves_covered", "leaves_expected",
                   "leaves_unknown", "leaf_level"]  # fmt: skip


def totals(
    f: pd.DataFrame | None, plan: Plan, scope: Scope, carried: dict[str, Carried] | None = None,
    *, pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per rate indicator and milestone at the consolidating level, with coverage.

    Direct coverage (``units_*``) counts the units reporting to this level; leaf coverage
    (``leaves_*``, ``leaf_level``) counts the units that typed the figures, through the lower
    consolidated workbooks' carried coverage (``carried``: unit -> :class:`coverage.Carried`).
    ``rate`` is rounded once here (:func:`rate`); every writer shows this value. ``pairs``: the
    facts' :func:`pairs` when already made (``f`` is then not read).
    """
    carried = carried or {}
    leaves = Leaves(plan)
    pairs = _authority_rows(_pairs(f) if pairs is None else pairs, plan, scope, "indicator")
    used = pairs[pairs["used"] != ""]
    ok = used[used["state"] == OK]
    g = ok.groupby(["indicator", "milestone"], observed=True)[["num", "den"]].sum()
    sums = dict(zip(g.index, zip(g["num"].to_numpy(), g["den"].to_numpy(), strict=True), strict=True))
    counts = used.groupby(["indicator", "milestone", "state"], observed=True).size().to_dict()
    leaf_covered, leaf_unknown = _leaf_counts(ok, plan, "indicator", ("num", "den"), carried, leaves)
    rows = []
    for ind in plan.rate_indicators():
        sources = authority(plan, ind.code, scope.level)
        leaf_expected, leaf_level = _leaf_expected(plan, scope, ind.code, leaves)
        for m in plan.milestones:
            covered = int(counts.get((ind.code, m, OK), 0))
            num, den = sums[(ind.code, m)] if covered else (np.nan, np.nan)
            rows.append(
                {
                    "indicator": ind.code,
                    "milestone": m,
                    "num": num,
                    "den": den,
                    "units_covered": covered,
                    "units_na": int(counts.get((ind.code, m, NA_STATE), 0)),
                    "units_rejected": int(counts.get((ind.code, m, REJECTED), 0)),
                    "units_expected": _expected_total(sources, scope),
                    "source": "+".join(sources),
                    "leaves_covered": leaf_covered.get((ind.code, m), 0),
                    "leaves_expected": leaf_expected,
                    "leaves_unknown": leaf_unknown.get((ind.code, m), 0),
                    "leaf_level": leaf_level,
                }
            )
    out = pd.DataFrame(rows, columns=TOTALS_COLUMNS[:-4])
    out["rate"] = rate(out["num"], out["den"])
    out["verdict"] = _verdicts(out.assign(unit=None), plan)
    out["target"] = [plan.targets[(r.indicator, r.milestone)].kind for r in out.itertuples()]
    # decided once here: every output marks a verdict on such a total provisional (verdict_text)
    out["partial"] = [partial(r.units_covered, r.units_na, r.units_expected) for r in out.itertuples()]
    return out


def funding(
    f: pd.DataFrame, plan: Plan, scope: Scope, carried: dict[str, Carried] | None = None
) -> pd.DataFrame:
    """Funding by source and year summed over the authoritative sources (own + sub-units), in
    triệu đồng rounded half-up to 0.1 (``plan.round_half_up``), with direct and leaf coverage."""
    carried = carried or {}
    leaves = Leaves(plan)
    amounts = _authority_rows(f.loc[(f["measure"] == "amount").to_numpy(), list(_PAIR_INPUT)], plan, scope, "indicator")
    used = amounts[amounts["used"] != ""]
    ok = used[used["state"] == OK]
    g = ok.groupby(["indicator", "milestone"], observed=True)["value"].agg(["sum", "size"])
    sums = dict(zip(g.index, zip(g["sum"].to_numpy(), g["size"].to_numpy(), strict=True), strict=True))
    leaf_covered, leaf_unknown = _leaf_counts(ok, plan, "indicator", ("value",), carried, leaves)
    rows = []
    for code in plan.settings.funding_sources:
        sources = authority(plan, code, scope.level) if code in plan.indicators else (SELF,)
        leaf_expected, leaf_level = _leaf_expected(plan, scope, code, leaves)
        for year in plan.settings.funding_years:
            total, size = sums.get((code, year), (np.nan, 0))
            rows.append(
                {
                    "source": code,
                    "year": year,
                    "amount": float(total),
                    "units_covered": int(size),
                    "units_expected": _expected_total(sources, scope),
                    "leaves_covered": leaf_covered.get((code, year), 0),
                    "leaves_expected": leaf_expected,
                    "leaves_unknown": leaf_unknown.get((code, year), 0),
                    "leaf_level": leaf_level,
                }
            )
    out = pd.DataFrame(rows, columns=FUNDING_COLUMNS)
    out["amount"] = rounded_array(out["amount"])
    return out


def cross_checks(
    f: pd.DataFrame | None, plan: Plan, scope: Scope, used: pd.DataFrame, *, pairs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Figures for an indicator from sources that are not its authority, beside the value used
    (``used``: the :func:`totals` frame; ``pairs``: the facts' :func:`pairs` when already made)."""
    pairs = _authority_rows(_pairs(f) if pairs is None else pairs, plan, scope, "indicator")
    other = pairs[(pairs["used"] == "") & (pairs["state"] == OK)].copy()
    departments = {u for u in scope.expected.get("so_nganh", [])}
    # a department is its own source; a sub-unit of another level counts with its level
    other["source"] = [
        un if un in departments else lv for lv, un in zip(other["by_level"], other["by_unit"], strict=True)
    ]
    other = other[other["source"] != ""]
    columns = ["indicator", "milestone", "source", "num", "den", "rate", "units", "used_source", "used_rate"]
    if other.empty:
        return pd.DataFrame(columns=columns)
    g = other.groupby(["indicator", "milestone", "source"], observed=True).agg(
        num=("num", "sum"), den=("den", "sum"), units=("num", "size")
    )
    g = g.reset_index()
    g["rate"] = rate(g["num"], g["den"])
    # the used figure of each (indicator, milestone), looked up in a dict (``.loc`` on a MultiIndex
    # cost ~0.1 ms a row); a pair missing from ``used`` raises KeyError, as ``.loc`` did
    used_by = {(i, int(m)): (s, r) for i, m, s, r in zip(used["indicator"].tolist(), used["milestone"].tolist(),
                                                         used["source"].tolist(), used["rate"].tolist(), strict=True)}  # fmt: skip
    found = [used_by[(i, int(m))] for i, m in zip(g["indicator"].tolist(), g["milestone"].tolist(), strict=True)]
    g["used_source"] = [s for s, _r in found]
    g["used_rate"] = [r for _s, r in found]
    return g[columns]


def appendix_values(
    totals_frame: pd.DataFrame, funding_frame: pd.DataFrame, plan: Plan, scope: Scope, own: Submission | None
) -> dict[tuple, object]:
    """Values for the consolidated appendix (same cells as a template): sums where the sub-units
    feed a row, the level's own entries elsewhere."""
    values: dict[tuple, object] = {}
    if own is not None:
        for key, entry in own.entries.items():
            if entry.value is not None and entry.status != "rejected":
                values[key] = (
                    entry.raw if key[0] in ("kq", "kp") and entry.status == "text-number" else entry.value
                )
        for key in list(values):
            if values[key] is NA:
                values[key] = "không áp dụng"
    for r in totals_frame.itertuples():
        if authority(plan, r.indicator, scope.level) == (SELF,):
            continue  # the level types it itself: keep its own entry
        if r.units_covered:
            values[("kq", r.indicator, r.milestone, "num")] = _int(r.num)
            values[("kq", r.indicator, r.milestone, "den")] = _int(r.den)
        elif r.units_na and not r.units_rejected:
            values[("kq", r.indicator, r.milestone, "num")] = "không áp dụng"
            values[("kq", r.indicator, r.milestone, "den")] = "không áp dụng"
        else:
            values.pop(("kq", r.indicator, r.milestone, "num"), None)
            values.pop(("kq", r.indicator, r.milestone, "den"), None)
    for r in funding_frame.itertuples():
        if authority(plan, r.source, scope.level) == (SELF,):
            continue
        key = ("kp", r.source, r.year)
        if pd.isna(r.amount):
            values.pop(key, None)
        else:
            values[key] = float(r.amount)
    return values


def _int(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)
