"""The plan as data: contents, cross-checks with one-line errors, targets and verdicts."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xhht_xl import plan as plan_mod
from xhht_xl.plan import PlanError, Target

NINE = {"SVHTTDL", "STTTT", "LDLD", "HKH", "SLDTBXH", "SNNPTNT", "SNV", "TINHDOAN", "HLHPN"}


def test_units_of_long_an(plan):
    assert plan.province.code == "80"
    assert len(plan.units_at("huyen")) == 15
    assert len(plan.units_at("xa")) == 188
    counts = {}
    for u in plan.units_at("xa"):
        counts[u.type] = counts.get(u.type, 0) + 1
    assert counts == {"xa": 161, "phuong": 12, "thi_tran": 15}
    assert {u.code for u in plan.units_at("huyen")} == {str(c) for c in range(794, 809)}
    departments = {u.code: u for u in plan.units_at("so_nganh")}
    assert NINE <= set(departments)
    assert all(departments[c].topic for c in NINE), "the nine departments of VI.1.4 carry their topic"
    assert departments["SGDDT"].role == "thuong_truc"
    assert plan.settings.standing_body == "SGDDT"
    for district in plan.units_at("huyen"):
        assert plan.children(district.code, "xa"), district.code


def test_commune_change_table(plan):
    assert plan.resolve_code("28069")[0] == "28072"
    assert plan.resolve_code("28171")[0] == "28159"
    code, change = plan.resolve_code("27712")
    assert (code, change) == ("27712", None)
    assert all(plan.unit(c.new_code) for c in plan.changes.values())


def test_every_target_has_kind_source_and_verification(plan):
    for ind in plan.indicators.values():
        for m in plan.milestones:
            t = plan.target(ind.code, m)
            assert t.source, (ind.code, m)
            assert t.verified in {"yes", "partial", "no", "missing", "n/a"}
    # unknown targets stay empty, never invented
    t = plan.target("CBCCVC_UD_CNTT", 2020)
    assert (t.kind, t.low, t.high, t.verified) == ("none", None, None, "missing")
    assert plan.target("TV_TY_LE_DAN_SD", 2020).kind == "range"
    assert plan.target("CNLD_CNTT_NN", 2020).kind == "increase"
    assert plan.target("XMC_BC_15_60", 2020).verified == "yes"
    assert plan.target("XMC_BC_15_60", 2015).verified == "no"


def test_timetable_and_quotas(plan):
    assert str(plan.deadline("huyen").date) == "2020-08-31"
    assert str(plan.deadline("so_nganh").date) == "2020-08-31"
    assert str(plan.deadline("tinh").date) == "2020-10-10"
    assert plan.deadline("xa").overridable
    q = {(q.award, q.proposer_level): (q.collective, q.individual) for q in plan.settings.quotas}
    assert q == {
        ("TTG", "tinh"): (1, 1),
        ("BGDDT", "tinh"): (2, 2),
        ("CTUBND", "huyen"): (2, 2),
        ("CTUBND", "tinh"): (2, 2),
    }


@pytest.mark.parametrize(
    ("kind", "low", "high", "rate", "previous", "expected"),
    [
        ("min", 98, None, 97.95, None, "dat"),  # rounds half-up to 98.0
        ("min", 98, None, 97.949, None, "khong-dat"),
        ("min", 98, None, 98.05, None, "vuot"),
        ("min", 98, None, 98.04, None, "dat"),
        ("min", 100, None, 100.0, None, "dat"),
        ("range", 10, 15, 9.95, None, "dat"),
        ("range", 10, 15, 15.04, None, "dat"),
        ("range", 10, 15, 15.05, None, "vuot"),
        ("range", 10, 15, 9.9, None, "khong-dat"),
        ("increase", None, None, 50.0, 49.9, "dat"),
        ("increase", None, None, 50.0, 50.04, "khong-dat"),
        ("increase", None, None, 50.0, None, None),
        ("none", None, None, 50.0, None, None),
    ],
)
def test_verdict_rules(kind, low, high, rate, previous, expected):
    t = Target(indicator="X", milestone=2020, kind=kind, low=low, high=high, verified="yes")
    assert t.verdict(rate, previous) == expected
    assert t.verdict(None) is None


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(0, 1000))
def test_verdict_matches_decimal_rule(num, den, low_tenths):
    rate = num / den * 100
    low = low_tenths / 10
    t = Target(indicator="X", milestone=2020, kind="min", low=low, verified="yes")
    r = plan_mod.round_rate(rate)
    expected = "khong-dat" if r < Decimal(str(low)) else ("dat" if r == Decimal(str(low)) else "vuot")
    assert t.verdict(rate) == expected


@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.integers(0, 10**6).map(lambda n: n / 20),
                          st.tuples(st.integers(0, 10**5), st.integers(1, 10**5)).map(lambda t: t[0] / t[1] * 100)),
                max_size=50))  # fmt: skip
def test_the_column_rounding_is_the_one_rule(values):
    """``rounded_array`` (numpy fast path) gives exactly ``round_rate``'s value, ties included."""
    import numpy as np

    got = plan_mod.rounded_array(values)
    want = [plan_mod.rounded(v) for v in values]
    assert np.array_equal(got, np.array(want, dtype=float), equal_nan=True)
    for v, g in zip(values, got, strict=True):
        if v == v:
            assert g == float(plan_mod.round_rate(v))
            assert plan_mod.round_rate(float(plan_mod.round_rate(v))) == plan_mod.round_rate(v)  # idempotent


def test_half_up_examples():
    assert [str(plan_mod.round_rate(x)) for x in (93.548387, 12.25, 0.05, 99.95, 2.675 * 10)] == [
        "93.5", "12.3", "0.1", "100.0", "26.8"]  # fmt: skip
    assert str(plan_mod.round_half_up(2.675, 2)) == "2.68"


def test_fingerprint_ignores_target_values_but_not_structure(plan_copy):
    base = plan_mod.load(plan_copy).fingerprint
    targets = plan_copy / "targets.csv"
    targets.write_text(
        targets.read_text(encoding="utf-8").replace(
            "XMC_BC_15_35,2020,min,99,", "XMC_BC_15_35,2020,min,98.5,"
        ),
        encoding="utf-8",
    )
    assert plan_mod.load(plan_copy).target("XMC_BC_15_35", 2020).low == 98.5
    assert plan_mod.load(plan_copy).fingerprint == base
    indicators = plan_copy / "indicators.csv"
    indicators.write_text(
        indicators.read_text(encoding="utf-8").replace("Tỷ lệ hộ gia đình", "Tỷ lệ các hộ gia đình"),
        encoding="utf-8",
    )
    assert plan_mod.load(plan_copy).fingerprint != base


def _break(folder, name, old, new, count=1):
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "old", "new", "expect"),
    [
        ("units.csv", "27688,Phường 2,", "27685,Phường 2,", ["units.csv", "dòng 18", "27685", "trùng"]),
        (
            "units.csv",
            "27703,Xã Hướng Thọ Phú,xa,xa,794",
            "27703,Xã Hướng Thọ Phú,xa,xa,999",
            ["units.csv", "dòng 26", "999"],
        ),
        (
            "units.csv",
            "27703,Xã Hướng Thọ Phú,xa,xa,794",
            "27703,Xã Hướng Thọ Phú,xa,xa,80",
            ["units.csv", "dòng 26", "cấp trên"],
        ),
        (
            "targets.csv",
            "XMC_BC_15_35,2020,min,99,",
            "XMC_BC_15_35,2020,min,9x9,",
            ["targets.csv", "dòng 3", "9x9", "không phải là số"],
        ),
        (
            "targets.csv",
            "XMC_BC_15_35,2020,min,99,",
            "XMC_BC_15_35,2020,range,99,",
            ["targets.csv", "dòng 3", "range"],
        ),
        (
            "targets.csv",
            "XMC_BC_15_35,2020,min,99,",
            "XMC_BC_15_35,2015,min,99,",
            ["targets.csv", "dòng 3", "trùng"],
        ),
        ("indicators.csv", "GDHT,MO_HINH_HOC_TAP,", "GDHT,MO_HINH,", ["indicators.csv", "GDHT", "MO_HINH"]),
        (
            "indicators.csv",
            "huyen=xa;tinh=huyen",
            "huyen=xa;tinh",
            ["indicators.csv", "dòng 2", "nguồn số liệu"],
        ),
        ("indicators.csv", ",SNV,huyen=self", ",SNVX,huyen=self", ["indicators.csv", "SNVX"]),
        ("plan.toml", 'award = "TTG"', 'award = "TTGX"', ["plan.toml", "TTGX"]),
        ("plan.toml", "milestones = [2015, 2020]", "milestones = [2015, 2020", ["plan.toml", "TOML"]),
    ],
)
def test_bad_plan_stops_with_one_line(plan_copy, name, old, new, expect):
    _break(plan_copy, name, old, new)
    with pytest.raises(PlanError) as info:
        plan_mod.load(plan_copy)
    message = str(info.value)
    assert "\n" not in message
    for part in expect:
        assert part in message, (part, message)


def test_missing_target_row(plan_copy):
    path = plan_copy / "targets.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(
        "\n".join(line for line in lines if not line.startswith("GDHT,2015")) + "\n", encoding="utf-8"
    )
    with pytest.raises(PlanError, match="GDHT"):
        plan_mod.load(plan_copy)


def test_cli_reports_bad_plan_without_traceback(plan_copy, tmp_path):
    _break(plan_copy, "units.csv", "27688,Phường 2,", "27685,Phường 2,")
    proc = subprocess.run(
        [sys.executable, "-m", "xhht_xl.cli", "templates", str(tmp_path / "out"), "--plan", str(plan_copy)],
        capture_output=True, text=True, encoding="utf-8",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "units.csv" in proc.stderr and "dòng 18" in proc.stderr
    assert not (tmp_path / "out").exists()
