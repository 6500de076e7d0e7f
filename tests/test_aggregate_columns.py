"""The consolidation's per-column paths (issue 15, national scale) give what the per-row rules say.

``aggregate.pairs``, ``_verdicts``, ``_authority_rows`` and ``_distinct`` decide per distinct
combination or over integer keys; each is checked here against the rule written row by row
(the code they replaced) on generated frames with duplicates, gaps, NaN, "không áp dụng" and
rejected cells. The figures on the demo are guarded by test_truth / test_consolidate.
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xhht_xl import aggregate
from xhht_xl.aggregate import EMPTY, NA_STATE, OK, REJECTED, Scope
from xhht_xl.consolidation import ConsolidationError, consolidate

STATES = (OK, EMPTY, NA_STATE, REJECTED)


def _facts(draw, plan, indicators: list[str] | None = None) -> pd.DataFrame:
    units = draw(st.lists(st.sampled_from(["27685", "27688", "794", "SGDDT", "SNV", "80001"]), min_size=1, max_size=4,
                          unique=True))  # fmt: skip
    indicators = indicators or [i.code for i in plan.rate_indicators()][:6]
    rows = draw(st.lists(st.tuples(st.sampled_from(units), st.sampled_from(["xa", "huyen", "self", "so_nganh"]),
                                   st.sampled_from(indicators), st.sampled_from([2015, 2020, 1999]),
                                   st.sampled_from(["num", "den", "amount"]),
                                   st.one_of(st.just(np.nan), st.integers(0, 50).map(float)),
                                   st.sampled_from(STATES)), max_size=80))  # fmt: skip
    f = pd.DataFrame(rows, columns=["unit", "level", "indicator", "milestone", "measure", "value", "state"])
    for c in ("unit", "level", "indicator", "measure", "state"):
        f[c] = f[c].astype(object).astype("category")
    f["milestone"] = f["milestone"].astype("int32")
    f["value"] = f["value"].astype(float)
    return f


def _pairs_by_row(f: pd.DataFrame) -> pd.DataFrame:
    """The rule row by row: first state, first value that is not NaN, per measure."""
    rates = f[f["measure"].isin(["num", "den"])]
    found: dict[tuple, list] = {}
    coded = ("unit", "level", "indicator")
    for key, measure, value, state in zip(
        zip(*(rates[k].cat.codes for k in coded), rates["milestone"], strict=True),
        rates["measure"], rates["value"], rates["state"], strict=True,
    ):  # fmt: skip
        i = 0 if measure == "num" else 2
        row = found.setdefault(key, [np.nan, None, np.nan, None])
        if row[i + 1] is None:
            row[i], row[i + 1] = value, state
        elif row[i] != row[i] and value == value:
            row[i] = value
    out = []
    for key in sorted(found):
        num, sn, den, sd = found[key]
        if REJECTED in (sn, sd):
            state = REJECTED
        elif NA_STATE in (sn, sd):
            state = NA_STATE
        else:
            state = OK if num == num and den == den else EMPTY
        labels = tuple(rates[k].cat.categories[key[j]] if key[j] >= 0 else None for j, k in enumerate(coded))
        out.append((*labels, int(key[3]), num if state == OK else np.nan, den if state == OK else np.nan, state))
    return pd.DataFrame(out, columns=["unit", "level", "indicator", "milestone", "num", "den", "state"])


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_pairs_follow_the_row_rule(plan, data):
    f = _facts(data.draw, plan)
    got = aggregate.pairs(f)
    want = _pairs_by_row(f)
    assert len(got) == len(want)
    if len(want):
        for c in ("unit", "level", "indicator"):
            assert got[c].astype(object).tolist() == want[c].tolist()
        assert got["milestone"].tolist() == want["milestone"].tolist()
        np.testing.assert_array_equal(got["num"].to_numpy(float), want["num"].to_numpy(float))
        np.testing.assert_array_equal(got["den"].to_numpy(float), want["den"].to_numpy(float))
        assert [str(s) for s in got["state"]] == want["state"].tolist()
        assert isinstance(got["unit"].dtype, pd.CategoricalDtype)
        assert list(got["unit"].cat.categories) == list(f["unit"].cat.categories)


def _verdicts_by_row(rows: pd.DataFrame, plan) -> list:
    milestones = list(plan.milestones)
    by = {(r.unit, r.indicator, r.milestone): r.rate for r in rows.itertuples()}  # the last row of a key wins
    out = []
    for r in rows.itertuples():
        rate = None if pd.isna(r.rate) else float(r.rate)
        i = milestones.index(r.milestone) if r.milestone in milestones else -1
        p = by.get((r.unit, r.indicator, milestones[i - 1])) if i > 0 else None
        previous = None if p is None or pd.isna(p) else float(p)
        target = plan.targets.get((r.indicator, r.milestone))
        out.append(target.verdict(rate, previous) if target is not None else None)
    return out


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_verdicts_follow_the_row_rule(plan, data):
    increase = sorted({k[0] for k, t in plan.targets.items() if t.kind == "increase"})
    assert increase  # the plan has targets judged against the previous milestone
    indicators = [*increase, *(i.code for i in plan.rate_indicators() if i.code not in increase)][:6]
    milestones = [*plan.milestones, 1999]
    rows = data.draw(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from(indicators),
                                        st.sampled_from(milestones),
                                        st.one_of(st.just(np.nan), st.integers(0, 1100).map(lambda x: x / 10))),
                              max_size=60))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["unit", "indicator", "milestone", "rate"])
    frame["rate"] = frame["rate"].astype(float)
    assert aggregate._verdicts(frame, plan) == _verdicts_by_row(frame, plan)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_authority_rows_follow_the_row_rule(plan, data):
    """At a district, and at the province, where some indicators come from a named department
    (HSSV_KNS from SGDDT, CBCCVC_UD_CNTT from SNV) and others from a level or the own workbook."""
    if data.draw(st.booleans()):
        f = _facts(data.draw, plan)
        scope = Scope(plan.units_at("huyen")[0].code, "huyen", {"xa": ["27685", "27688"], "so_nganh": ["SGDDT"]})
    else:
        f = _facts(data.draw, plan, ["HSSV_KNS", "CBCCVC_UD_CNTT", "XMC_BC_15_35", "KP_NSDP"])
        scope = Scope(plan.province.code, "tinh", {"huyen": ["794"], "so_nganh": ["SGDDT", "SNV"]})
    _follows_the_row_rule(aggregate._authority_rows(aggregate.pairs(f), plan, scope, "indicator"), plan, scope)


def test_authority_rows_of_each_kind_of_source(plan):
    """One row counted for each kind of source at the province: a department named by the
    indicator, another department's row not counted, a district, the own workbook, a unit not
    expected."""
    rows = [("SGDDT", "so_nganh", "HSSV_KNS"), ("SNV", "so_nganh", "HSSV_KNS"), ("SNV", "so_nganh", "CBCCVC_UD_CNTT"),
            ("794", "huyen", "XMC_BC_15_35"), ("795", "huyen", "XMC_BC_15_35"), ("80", "self", "KP_NSDP"),
            ("SGDDT", "so_nganh", "KP_NSDP")]  # fmt: skip
    f = pd.DataFrame([(u, lv, ind, 2020, "amount", 5.0, OK) for u, lv, ind in rows],
                     columns=["unit", "level", "indicator", "milestone", "measure", "value", "state"])  # fmt: skip
    scope = Scope(plan.province.code, "tinh", {"huyen": ["794"], "so_nganh": ["SGDDT", "SNV"]})
    got = aggregate._authority_rows(f, plan, scope, "indicator")
    assert got["used"].tolist() == ["SGDDT", "", "SNV", "huyen", "", "self", "so_nganh"]
    assert got["by_level"].tolist() == ["so_nganh", "so_nganh", "so_nganh", "huyen", "", "self", "so_nganh"]
    assert got["by_unit"].tolist() == ["SGDDT", "SNV", "SNV", "794", "795", "", "SGDDT"]
    _follows_the_row_rule(got, plan, scope)
    assert aggregate._authority_rows(f.iloc[:0], plan, scope, "indicator")["used"].tolist() == []


def _follows_the_row_rule(got: pd.DataFrame, plan, scope: Scope) -> None:
    expected = {(lv, u) for lv, units in scope.expected.items() for u in units}
    for r in got.itertuples():
        lv, un = (("self", "") if r.level == "self" else (r.level if (r.level, r.unit) in expected else "", r.unit))
        sources = aggregate.authority(plan, r.indicator, scope.level)
        assert (r.by_level, r.by_unit) == (lv, un)
        assert r.used == (lv if lv in sources else (un if un and un in sources else ""))


def test_distinct_keeps_missing_values_apart_and_survives_wide_keys():
    a = pd.Series(["x", None, "x", "y", None], dtype=object)
    b = np.array([1.0, np.nan, 1.0, np.nan, np.nan])
    inverse, combos = aggregate._distinct([a, b])
    assert [combos[i][0] for i in inverse] == a.tolist()
    second = [combos[i][1] for i in inverse]
    assert second[0] == 1.0 and np.isnan(second[1])
    assert inverse[0] == inverse[2] and inverse[1] == inverse[4] and len(combos) == 3
    # four columns of 70,000 values each: their product does not fit 64 bits
    rng = np.random.default_rng(7)
    cols = [rng.permutation(70_000) for _ in range(4)]
    inverse, combos = aggregate._distinct(cols)
    assert len(combos) == 70_000
    assert all(combos[inverse[i]] == tuple(int(c[i]) for c in cols) for i in range(0, 70_000, 997))


def test_distinct_gives_each_column_s_own_values():
    """A combination holds each column's values as that column gives them as objects
    (``np.asarray(col, dtype=object)``, as before issue 15): pandas arrays that are not Series
    keep their Timestamp, Timedelta and <NA>, not numpy's datetime and float; numpy arrays
    give the same Python scalars either way."""
    cols = [pd.DatetimeIndex(["2020-01-01", None, "2020-01-01"]), pd.array([1, None, 1], dtype="Int64"),
            pd.TimedeltaIndex(["1D", "1D", None]), pd.array([1.5, None, 1.5], dtype="Float64"),
            pd.Categorical(pd.DatetimeIndex(["2020-01-01", None, None])), np.array([0.5, np.nan, 0.5]),
            np.array([3, 1, 3], dtype=np.int32), np.array(["2020-01-01", "NaT", "2020-01-01"], dtype="datetime64[ns]"),
            np.array([True, False, True]), np.array(["a", None, "a"], dtype=object)]  # fmt: skip
    for col in cols:
        inverse, combos = aggregate._distinct([col])
        got = [combos[i][0] for i in inverse]
        want = np.asarray(col, dtype=object).tolist()
        assert [type(v) for v in got] == [type(v) for v in want], col
        assert [repr(v) for v in got] == [repr(v) for v in want], col


def test_consolidate_leaves_the_cycle_collector_as_it_was(plan, tmp_path):
    (tmp_path / "in").mkdir()
    assert gc.isenabled()
    with pytest.raises(ConsolidationError):
        consolidate(tmp_path / "missing", plan, "huyen", plan.units_at("huyen")[0].code)
    assert gc.isenabled()
    consolidate(tmp_path / "in", plan, "huyen", plan.units_at("huyen")[0].code, store=tmp_path / "store")
    assert gc.isenabled()
    gc.disable()
    try:
        consolidate(tmp_path / "in", plan, "huyen", plan.units_at("huyen")[0].code, store=tmp_path / "store")
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_increase_compares_with_the_last_row_of_the_previous_milestone(plan):
    code = sorted(k[0] for k, t in plan.targets.items() if t.kind == "increase")[0]
    first, last = plan.milestones[0], plan.milestones[1]
    rows = pd.DataFrame({"unit": ["a", "a", "a", "b"], "indicator": [code] * 4,
                         "milestone": [first, first, last, last], "rate": [10.0, 50.0, 30.0, 30.0]})  # fmt: skip
    got = aggregate._verdicts(rows, plan)
    assert got == _verdicts_by_row(rows, plan)
    assert got[2] != got[3] or got[2] is None  # unit a has a previous rate (50), unit b none


def test_an_older_ledger_gains_the_missing_tables_and_keeps_its_rows(tmp_path):
    import sqlite3

    from xhht_xl import intake

    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)  # a ledger from before the mailbox intake: no mail tables, no index
    db.executescript("""
        CREATE TABLE receipts (sha256 TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, unit TEXT, level TEXT,
            template_version TEXT, first_seen TEXT NOT NULL, received_at TEXT, status TEXT, errors INTEGER,
            warnings INTEGER, archive TEXT, PRIMARY KEY (sha256, path));
        CREATE TABLE used (consolidation TEXT NOT NULL, unit TEXT NOT NULL, sha256 TEXT NOT NULL,
            run_at TEXT NOT NULL, PRIMARY KEY (consolidation, unit, sha256));
        INSERT INTO receipts VALUES ('ab', 'x.xlsx', 1, '', '', '', '2020-08-01T00:00:00', '', 'ok', 0, 0, '');
    """)
    db.close()

    def names() -> set[str]:
        with sqlite3.connect(path) as c:
            return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}

    assert not names() >= intake.LEDGER_TABLES
    ledger = intake.Ledger(path)
    ledger.close()
    assert names() >= intake.LEDGER_TABLES
    ledger = intake.Ledger(path)  # a current ledger: opened as it is
    assert ledger.count() == 1 and ledger.mail_file("ab") == ""
    ledger.close()
