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

import numpy as np
import pandas as pd

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


def facts(members: Iterable[Member], issues: Iterable[Issue] = ()) -> pd.DataFrame:
    """Every count and amount of every member as one long table (columns, not objects).

    Nothing is hidden: ``raw`` is the cell as the sender typed it (text; a formula's result),
    ``typed_value`` the number read from it, ``value`` the number used (only when ``state`` is
    ok), ``issue`` the code of the most severe of ``issues`` at that cell (a rejected cell of a
    pair without one of its own takes its partner's: tử số 59 > mẫu số 53 rejects both).
    Dtypes are given by the consolidation (``frames.schema("facts")``)."""
    at = _issues_at(issues)
    cols: dict[str, list] = {c: [] for c in FACT_COLUMNS}
    for m in members:
        sub = m.sub
        for key, entry in sub.entries.items():
            kind = key[0]
            if kind == "kq":
                indicator, milestone, measure = key[1], key[2], key[3]
            elif kind == "kp":
                indicator, milestone, measure = key[1], key[2], "amount"
            else:
                continue
            value = entry.value
            number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
            if entry.status == "rejected":
                state = REJECTED
            elif value is NA:
                state = NA_STATE
            elif number == number:  # not NaN
                state = OK
            else:
                state = EMPTY
            issue = at.get((m.unit, entry.sheet, entry.cell))
            cols["unit"].append(m.unit)
            cols["level"].append("self" if m.own else m.level)
            cols["indicator"].append(indicator)
            cols["milestone"].append(milestone)
            cols["measure"].append(measure)
            cols["raw"].append(_raw_text(entry.raw))
            cols["typed_value"].append(number)
            cols["value"].append(number if state == OK else np.nan)
            cols["state"].append(state)
            cols["issue"].append(issue.code if issue is not None else None)
            cols["file"].append(sub.file)
            cols["sha256"].append(sub.sha256)
            cols["sheet"].append(entry.sheet)
            cols["cell"].append(entry.cell)
    _partner_issues(cols)
    frame = pd.DataFrame(cols)
    for c in ("unit", "level", "indicator", "measure", "state", "sheet"):
        frame[c] = frame[c].astype("category")
    frame["milestone"] = frame["milestone"].astype("int32")
    return frame


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


def _partner_issues(cols: dict[str, list]) -> None:
    """A rejected cell of a num/den pair with no issue of its own takes its partner's."""
    pair: dict[tuple, str] = {}
    n = len(cols["unit"])
    for i in range(n):
        if cols["state"][i] == REJECTED and cols["issue"][i] and cols["measure"][i] in ("num", "den"):
            pair.setdefault((cols["unit"][i], cols["level"][i], cols["indicator"][i], cols["milestone"][i]),
                            cols["issue"][i])  # fmt: skip
    for i in range(n):
        if cols["state"][i] == REJECTED and not cols["issue"][i] and cols["measure"][i] in ("num", "den"):
            cols["issue"][i] = pair.get((cols["unit"][i], cols["level"][i], cols["indicator"][i], cols["milestone"][i]))


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


def _pairs(f: pd.DataFrame) -> pd.DataFrame:
    """One row per unit x indicator x milestone with num, den and the state of the pair.

    Rows sorted by unit, level, indicator (their categories' order) and milestone; a measure given
    twice takes its first state and its first value that is not NaN (as pandas' ``first``). One
    pass over plain arrays: a pivot table cost ~50 ms per call, paid by every consolidation."""
    rates = f[f["measure"].isin(["num", "den"])]
    if rates.empty:
        return pd.DataFrame(columns=["unit", "level", "indicator", "milestone", "num", "den", "state"])
    coded = ("unit", "level", "indicator")
    keys = zip(*(rates[k].cat.codes.to_numpy() for k in coded), rates["milestone"].to_numpy(), strict=True)
    found: dict[tuple, list] = {}  # key -> [num, its state, den, its state]
    for key, measure, value, state in zip(
        keys, rates["measure"].to_numpy(), rates["value"].to_numpy(), rates["state"].to_numpy(), strict=True
    ):
        i = 0 if measure == "num" else 2
        row = found.get(key)
        if row is None:
            row = found[key] = [np.nan, None, np.nan, None]
        if row[i + 1] is None:
            row[i], row[i + 1] = value, state
        elif row[i] != row[i] and value == value:
            row[i] = value
    order = sorted(found)
    out = pd.DataFrame(
        {
            **{k: pd.Categorical.from_codes([key[j] for key in order], dtype=rates[k].dtype)
               for j, k in enumerate(coded)},
            "milestone": np.array([key[3] for key in order], dtype=rates["milestone"].dtype),
        }
    )  # fmt: skip
    rows = [found[key] for key in order]
    num = np.array([r[0] for r in rows], dtype=float)
    den = np.array([r[2] for r in rows], dtype=float)
    sn = np.array([r[1] for r in rows], dtype=object)
    sd = np.array([r[3] for r in rows], dtype=object)
    state = np.where(~np.isnan(num) & ~np.isnan(den), OK, EMPTY)
    state = np.where((sn == NA_STATE) | (sd == NA_STATE), NA_STATE, state)
    state = np.where((sn == REJECTED) | (sd == REJECTED), REJECTED, state)
    ok = state == OK
    out["num"] = np.where(ok, num, np.nan)
    out["den"] = np.where(ok, den, np.nan)
    out["state"] = state
    return out


def rate(num, den) -> np.ndarray:
    """Rates in percent from numerators and denominators, rounded half-up to 0.1 point
    (``plan.round_rate``, the templates' ROUND(x, 1)): the one value every output shows.
    NaN where the denominator is 0 or missing."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(den > 0, num / np.where(den > 0, den, 1) * 100, np.nan)
    return rounded_array(raw)


def unit_rates(f: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Per unit: num, den, rate (rounded, see :func:`rate`) and verdict of every indicator and
    milestone it reported."""
    pairs = _pairs(f)
    if pairs.empty:
        return pairs.assign(rate=[], verdict=[])
    pairs["rate"] = rate(pairs["num"], pairs["den"])
    pairs = pairs.sort_values(["unit", "indicator", "milestone"]).reset_index(drop=True)
    pairs["verdict"] = _verdicts(pairs, plan)
    return pairs


def _verdicts(rows: pd.DataFrame, plan: Plan) -> list[str | None]:
    """Verdict of each row; "increase" targets compare with the same unit's previous milestone."""
    milestones = list(plan.milestones)
    by = {(r.unit if "unit" in rows else None, r.indicator, r.milestone): r.rate for r in rows.itertuples()}
    out = []
    known: dict[tuple, str | None] = {}  # rates are rounded: many rows share a verdict's inputs
    for r in rows.itertuples():
        rate = None if pd.isna(r.rate) else float(r.rate)
        previous = None
        i = milestones.index(r.milestone) if r.milestone in milestones else -1
        if i > 0:
            p = by.get((r.unit if "unit" in rows else None, r.indicator, milestones[i - 1]))
            previous = None if p is None or pd.isna(p) else float(p)
        key = (r.indicator, r.milestone, rate, previous)
        if key not in known:
            target = plan.targets.get((r.indicator, r.milestone))
            known[key] = target.verdict(rate, previous) if target is not None else None
        out.append(known[key])
    return out


@dataclass
class Scope:
    """What a consolidation covers: the consolidating unit, its level and the expected sub-units."""

    unit: str
    level: str
    expected: dict[str, list[str]]  # child level (or "so_nganh") -> expected unit codes


def _source_keys(frame: pd.DataFrame, scope: Scope) -> tuple[list[str], list[str]]:
    """For each row, the source names it can stand for: its level (for an expected sub-unit, or
    "self" for the own workbook) and its unit code (a named department)."""
    expected = {(lv, u) for lv, units in scope.expected.items() for u in units}
    by_level, by_unit = [], []
    for level, unit in zip(frame["level"], frame["unit"], strict=True):
        if level == SELF:
            by_level.append(SELF)
            by_unit.append("")
        else:
            by_level.append(level if (level, unit) in expected else "")
            by_unit.append(unit)
    return by_level, by_unit


def _authority_rows(frame: pd.DataFrame, plan: Plan, scope: Scope, key: str) -> pd.DataFrame:
    """Tag each row with the authoritative source it counts for (``used``) or none."""
    frame = frame.copy()
    by_level, by_unit = _source_keys(frame, scope)
    used = []
    for code, lv, un in zip(frame[key], by_level, by_unit, strict=True):
        sources = authority(plan, code, scope.level) if code in plan.indicators else ()
        used.append(lv if lv in sources else (un if un and un in sources else ""))
    frame["used"] = used
    frame["by_level"], frame["by_unit"] = by_level, by_unit
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
    cols = [used[c] for c in ("unit", "level", key, "milestone", *values)]
    for unit, level, code, m, *vals in zip(*cols, strict=True):
        k = (code, m)
        if level == SELF or authority(plan, code, level) == (SELF,):
            covered[k] = covered.get(k, 0) + 1
            continue
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
            for unit in scope.expected[source]:
                n += leaves.count(unit, source, code)
                levels |= leaves.levels(unit, source, code)
        else:
            n += 1
            dept = plan.unit(source)
            levels.add(dept.level if dept is not None else source)
    return n, (next(iter(levels)) if len(levels) == 1 else "")


TOTALS_COLUMNS = ["indicator", "milestone", "num", "den", "units_covered", "units_na", "units_rejected", "units_expected",
                  "source", "leaves_covered", "leaves_expected", "leaves_unknown", "leaf_level", "rate", "verdict",
                  "target"]  # fmt: skip
FUNDING_COLUMNS = ["source", "year", "amount", "units_covered", "units_expected", "leaves_covered", "leaves_expected",
                   "leaves_unknown", "leaf_level"]  # fmt: skip


def totals(
    f: pd.DataFrame, plan: Plan, scope: Scope, carried: dict[str, Carried] | None = None
) -> pd.DataFrame:
    """One row per rate indicator and milestone at the consolidating level, with coverage.

    Direct coverage (``units_*``) counts the units reporting to this level; leaf coverage
    (``leaves_*``, ``leaf_level``) counts the units that typed the figures, through the lower
    consolidated workbooks' carried coverage (``carried``: unit -> :class:`coverage.Carried`).
    ``rate`` is rounded once here (:func:`rate`); every writer shows this value.
    """
    carried = carried or {}
    leaves = Leaves(plan)
    pairs = _authority_rows(_pairs(f), plan, scope, "indicator")
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
    out = pd.DataFrame(rows, columns=TOTALS_COLUMNS[:-3])
    out["rate"] = rate(out["num"], out["den"])
    out["verdict"] = _verdicts(out.assign(unit=None), plan)
    out["target"] = [plan.targets[(r.indicator, r.milestone)].kind for r in out.itertuples()]
    return out


def funding(
    f: pd.DataFrame, plan: Plan, scope: Scope, carried: dict[str, Carried] | None = None
) -> pd.DataFrame:
    """Funding by source and year summed over the authoritative sources (own + sub-units), in
    triệu đồng rounded half-up to 0.1 (``plan.round_half_up``), with direct and leaf coverage."""
    carried = carried or {}
    leaves = Leaves(plan)
    amounts = _authority_rows(f[f["measure"] == "amount"], plan, scope, "indicator")
    used = amounts[amounts["used"] != ""]
    ok = used[used["state"] == OK]
    sums = ok.groupby(["indicator", "milestone"], observed=True)["value"].agg(["sum", "size"])
    leaf_covered, leaf_unknown = _leaf_counts(ok, plan, "indicator", ("value",), carried, leaves)
    rows = []
    for code in plan.settings.funding_sources:
        sources = authority(plan, code, scope.level) if code in plan.indicators else (SELF,)
        leaf_expected, leaf_level = _leaf_expected(plan, scope, code, leaves)
        for year in plan.settings.funding_years:
            have = (code, year) in sums.index
            rows.append(
                {
                    "source": code,
                    "year": year,
                    "amount": float(sums.loc[(code, year), "sum"]) if have else np.nan,
                    "units_covered": int(sums.loc[(code, year), "size"]) if have else 0,
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


def cross_checks(f: pd.DataFrame, plan: Plan, scope: Scope, used: pd.DataFrame) -> pd.DataFrame:
    """Figures for an indicator from sources that are not its authority, beside the value used."""
    pairs = _authority_rows(_pairs(f), plan, scope, "indicator")
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
    used_by = used.set_index(["indicator", "milestone"])
    g["used_source"] = [
        used_by.loc[(i, m), "source"] for i, m in zip(g["indicator"], g["milestone"], strict=True)
    ]
    g["used_rate"] = [
        used_by.loc[(i, m), "rate"] for i, m in zip(g["indicator"], g["milestone"], strict=True)
    ]
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
