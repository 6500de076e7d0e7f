"""Worksheet functions: plain Python on Linux (``@xw.func`` is a no-op), Excel error texts for bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from xhht_xl import layout, messages, templates
from xhht_xl.excel import udfs

T = messages.text
DAT, KHONG, VUOT = T("verdict.dat"), T("verdict.khong-dat"), T("verdict.vuot")


def test_names_are_exported_upper_snake_case_with_vietnamese_help():
    for name in udfs.FUNCTIONS:
        fn = getattr(udfs, name)
        assert callable(fn) and name.startswith("XHHT_") and name == name.upper()
        assert fn.__doc__ == T(f"excel.fn-{name}")


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (3, 4, 75.0),
        (3.0, 4.0, 75.0),
        ("1.234", "2.468", 50.0),  # typed the Vietnamese way
        (0, 5, 0.0),
        (3, 0, udfs.DIV0),
        (None, 4, udfs.NA),
        (3, "", udfs.NA),
        ("không áp dụng", 4, udfs.NA),
        ("ba", 4, udfs.VALUE),
        (True, 4, udfs.VALUE),
        (-1, 4, udfs.NUM),
    ],
)
def test_rate(num, den, expected):
    assert udfs.XHHT_TY_LE(num, den) == expected


@pytest.mark.parametrize(
    ("rate", "target", "expected"),
    [
        (97.94, "≥ 98", KHONG),
        (97.95, "≥ 98", DAT),  # half-up to 0.1, as ROUND(x,1) in the template
        (100, "≥ 98", VUOT),
        (98, ">= 98", DAT),
        (98, "≥98%", DAT),
        (12, "10 - 15", DAT),
        (15.04, "10 - 15", DAT),
        (15.05, "10 - 15", VUOT),
        (9.9, "10–15", KHONG),
        (97.5, "97,5", DAT),
        (50, 60, KHONG),
        (60.0, 60.0, DAT),
        (50, "", ""),
        (None, "≥ 98", udfs.NA),
        ("nhiều", "≥ 98", udfs.VALUE),
        (50, "khá", udfs.VALUE),
        (50, None, udfs.NA),
    ],
)
def test_verdict(rate, target, expected):
    assert udfs.XHHT_DANH_GIA(rate, target) == expected


def test_verdict_of_an_increase_target_needs_the_previous_rate():
    increase = T("layout.target-increase")
    assert udfs.XHHT_DANH_GIA(60, increase, 50) == DAT
    assert udfs.XHHT_DANH_GIA(50, increase, 50) == KHONG
    assert udfs.XHHT_DANH_GIA(50, increase) == udfs.NA


def test_verdict_agrees_with_the_plan_for_every_printed_target(plan):
    """The text the template prints, parsed back, gives Target.verdict's answer."""
    seen = 0
    for t in plan.targets.values():
        if t.kind in ("min", "range"):
            for rate in (
                t.low - 0.06,
                t.low - 0.04,
                t.low,
                (t.high or t.low) + 0.04,
                (t.high or t.low) + 0.06,
            ):
                code = t.verdict(rate)
                assert udfs.XHHT_DANH_GIA(rate, layout.target_text(t)) == T(f"verdict.{code}"), (t, rate)
            seen += 1
    assert seen


def test_target_unit_name_and_deadline(plan):
    (ind, year), t = next((k, t) for k, t in plan.targets.items() if t.kind == "min")
    assert udfs.XHHT_CHI_TIEU(ind, float(year)) == layout.target_text(t)
    assert udfs.XHHT_CHI_TIEU(ind, 1999) == udfs.NA
    assert udfs.XHHT_CHI_TIEU("KHONG_CO", year) == udfs.NA
    assert udfs.XHHT_CHI_TIEU(ind, "năm nay") == udfs.VALUE
    assert udfs.XHHT_CHI_TIEU(None, year) == udfs.NA
    commune = plan.units_at("xa")[0]
    assert udfs.XHHT_TEN_DON_VI(float(commune.code)) == commune.name
    assert udfs.XHHT_TEN_DON_VI(layout.unit_option(plan, commune)) == commune.name
    assert udfs.XHHT_TEN_DON_VI("99999") == udfs.NA
    assert udfs.XHHT_TEN_DON_VI(None) == udfs.NA
    if plan.changes:
        change = next(c for c in plan.changes.values() if c.old_code != c.new_code)
        assert udfs.XHHT_TEN_DON_VI(change.old_code) == plan.units[change.new_code].name
    for level in plan.levels.values():
        d = plan.deadline(level.code)
        if d is not None:
            expected = dt.datetime.combine(d.date, dt.time())
            assert udfs.XHHT_HAN_NOP(level.code) == expected
            assert udfs.XHHT_HAN_NOP(level.name.upper()) == expected
    assert udfs.XHHT_HAN_NOP("thôn") == udfs.NA
    assert udfs.XHHT_HAN_NOP(None) == udfs.NA


def test_consolidated_value_is_cached_by_mtime(tmp_path, monkeypatch):
    import json
    import os

    path = tmp_path / "r.json"
    totals = [{"indicator": "A", "milestone": 2020, "num": 1, "den": 4, "rate": 25.0, "verdict": "khong-dat"}]
    path.write_text(json.dumps({"unit": "794", "totals": totals}), encoding="utf-8")
    assert udfs.XHHT_SO_LIEU(str(path), 794, "A", 2020) == 25.0
    assert udfs.XHHT_SO_LIEU(str(path), "794", "A", 2020, "danh_gia") == T("verdict.khong-dat")
    calls = []
    real = udfs._table_from_json
    monkeypatch.setattr(udfs, "_table_from_json", lambda p: calls.append(p) or real(p))
    assert udfs.XHHT_SO_LIEU(str(path), "794", "A", 2020, "ts") == 1
    assert calls == []  # unchanged file: the cache answers
    totals[0]["rate"] = 30.0
    path.write_text(json.dumps({"unit": "794", "totals": totals}), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert udfs.XHHT_SO_LIEU(str(path), "794", "A", 2020) == 30.0
    assert len(calls) == 1
    path.write_text("{not json", encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert udfs.XHHT_SO_LIEU(str(path), "794", "A", 2020) == udfs.VALUE
    assert udfs.XHHT_SO_LIEU(None, "794", "A", 2020) == udfs.NA


def test_functions_never_raise_on_odd_cells():
    odd = [None, "", " ", "abc", True, 0, -1.5, 1e308, float("nan"), dt.datetime(2020, 1, 1), [[1]]]
    for name in udfs.FUNCTIONS:
        fn = getattr(udfs, name)
        n = fn.__code__.co_argcount - len(fn.__defaults__ or ())
        for value in odd:
            result = fn(*([value] * n))
            assert result is not None
            assert not isinstance(result, str) or result in (udfs.NA, udfs.VALUE, udfs.DIV0, udfs.NUM, "") or (
                name in ("XHHT_TEN_DON_VI", "XHHT_CHI_TIEU", "XHHT_DANH_GIA")), (name, value, result)  # fmt: skip


def test_template_rate_column_text_is_what_xhht_chi_tieu_returns(plan):
    """XHHT_CHI_TIEU gives the same text as the template's "Chỉ tiêu" column, so both can be compared."""
    wb = templates.build_workbook(plan, "xa")
    lay = layout.build(plan, layout.template_for(plan, "xa"))
    ws = wb[lay.sheets["results"]]
    checked = 0
    for ind, row in lay.result_rows.items():
        for year, cols in lay.result_cols.items():
            printed = ws.cell(row, cols.target).value
            if printed:
                assert udfs.XHHT_CHI_TIEU(ind, year) == printed
                checked += 1
    assert checked
