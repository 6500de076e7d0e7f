"""End to end: `xhht demo` finds every planted fault, flags nothing else, and adds up right."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from docx import Document
from python_calamine import CalamineWorkbook

from xhht_xl import cli, layout, lo, messages
from xhht_xl.consolidation import unit_issue_counts
from xhht_xl.demo import all_issues
from xhht_xl.plan import round_rate

T = messages.text

# A planted fault and the issue codes that report it (the gate names the PDF precisely).
CODES = {"not-a-workbook": {"not-a-workbook", "pdf"}}


def _allowed(manifest):
    """(code, unit) pairs an error may have: the planted faults and their direct consequences."""
    allowed = set()
    for f in manifest.faults:
        if f.code is None:
            continue
        for code in CODES.get(f.code, {f.code}):
            for unit in (f.unit, *f.related):
                allowed.add((code, unit))
        if f.kind == "duplicate-nominee":  # the copied nominee also works outside the copier's district
            allowed.add(("nominee-outside", f.unit))
    return allowed


def test_every_planted_fault_is_reported(demo_run):
    issues = all_issues(demo_run)
    found = {(i.code, i.unit) for i in issues}
    by_file = {(i.code, i.file.rsplit("/", 1)[-1]) for i in issues}
    for f in demo_run.manifest.faults:
        if f.code is None:
            continue
        codes = CODES.get(f.code, {f.code})
        if f.code == "not-a-workbook":  # a PDF carries no unit code: it is found by its file
            assert any((c, f.file.rsplit("/", 1)[-1]) in by_file for c in codes), f
        else:
            assert any((c, f.unit) in found for c in codes), (f.kind, f.unit, f.code)


def test_nothing_else_is_an_error(demo_run):
    allowed = _allowed(demo_run.manifest)
    pdf = {f.file.rsplit("/", 1)[-1] for f in demo_run.manifest.faults if f.code == "not-a-workbook"}
    for i in all_issues(demo_run):
        if i.severity != "error":
            continue
        assert (i.code, i.unit) in allowed or i.file.rsplit("/", 1)[-1] in pdf, i.message


def test_files_saved_by_libreoffice_read_cleanly(demo_run):
    issues = all_issues(demo_run)
    for f in demo_run.manifest.faults:
        if f.kind in ("lo-xlsx", "lo-xls"):
            mine = [i for i in issues if i.unit == f.unit and i.severity in ("error", "warning")]
            assert not mine, mine
            assert demo_run.districts[demo_run.manifest.truth.plan.units[f.unit].parent].chosen[
                f.unit
            ].sub.kind == ("xls" if f.kind == "lo-xls" else "xlsx")


def test_late_and_missing(demo_run):
    m = demo_run.manifest
    status = {}
    for c in demo_run.districts.values():
        status.update(dict(zip(c.status["unit"], c.status["state"], strict=True)))
    for f in m.fault("late"):
        assert status[f.unit] == "late"
    for f in m.fault("missing"):
        assert status[f.unit] == "missing"
    province = dict(zip(demo_run.province.status["unit"], demo_run.province.status["state"], strict=True))
    assert set(province.values()) == {"on_time"}
    assert len(province) == 15 + 11
    # ... but the province knows, through the districts' workbooks, every commune's state
    below = dict(zip(demo_run.province.below["unit"], demo_run.province.below["state"], strict=True))
    assert len(below) == 188
    assert {u for u, s in below.items() if s == "missing"} == {f.unit for f in m.fault("missing")}
    assert {u for u, s in below.items() if s == "late"} == {f.unit for f in m.fault("late")}


def test_missing_communes_are_named_at_the_province(demo_run):
    """Planted: two communes never send. The province's outputs say 186/188 and name them."""
    m, p = demo_run.manifest, demo_run.province
    plan = m.truth.plan
    missing = sorted(f.unit for f in m.fault("missing"))
    xa = next(lv for lv in p.coverage_by_level() if lv["level"] == "xa")
    assert (xa["received"], xa["expected"], sorted(xa["missing_units"])) == (188 - len(missing), 188, missing)
    found = {(i.code, i.unit) for i in p.report}
    for code in missing:
        assert ("below-missing", plan.units[code].parent) in found
    names = [plan.units[code].name for code in missing]
    wb = openpyxl.load_workbook(demo_run.outputs["province"], read_only=True)
    # the notes above the tables sit in their first printed column (Tổng hợp prints from its column B)
    status = next(next(v for v in r if v) for r in wb[T("out.sheet-status")].iter_rows(min_row=3, max_row=3,
                                                                                        values_only=True))
    totals = next(next(v for v in r if v) for r in wb[T("out.sheet-totals")].iter_rows(min_row=2, max_row=2,
                                                                                        values_only=True))
    report = "\n".join(par.text for par in Document(demo_run.outputs["report"]).paragraphs)
    for text in (status, totals, report, demo_run.summary):
        assert f"{188 - len(missing)}/188" in text and all(n in text for n in names), text[:300]
    data = json.loads(demo_run.outputs["province_json"].read_text(encoding="utf-8"))
    assert sorted(next(lv for lv in data["coverage"] if lv["level"] == "xa")["missing_units"]) == missing
    # no commune-fed figure claims more communes than sent it
    fed = p.totals[p.totals["leaf_level"] == "xa"]
    assert len(fed) and (fed["leaves_covered"] <= 188 - len(missing)).all()
    assert (fed["leaves_expected"] == 188).all()


def test_province_totals_equal_the_communes_sums(demo_run):
    """For every indicator the communes feed, the province's numbers are the sums of the communes'
    clean values, leaving out missing communes and cells a check rejected (never as zeros)."""
    m, p = demo_run.manifest, demo_run.province
    plan = m.truth.plan
    missing = {f.unit for f in m.fault("missing")}
    rejected = {(f.unit, f.key[:3]) for f in m.faults if f.code in ("num-exceeds-den", "count-negative")}
    totals = {(r.indicator, r.milestone): r for r in p.totals.itertuples()}
    checked = 0
    for ind in plan.rate_indicators():
        if ind.authority.get("tinh") != ("huyen",) or ind.authority.get("huyen") != ("xa",):
            continue
        for mile in plan.milestones:
            skip = set(missing) | {u for u, k in rejected if k == ("kq", ind.code, mile)}
            for part in ("num", "den"):
                want = m.truth.total("80", ("kq", ind.code, mile, part), skip=skip)
                got = getattr(totals[(ind.code, mile)], part)
                assert (want or 0) == pytest.approx(0 if got != got else got), (ind.code, mile, part)
            r = totals[(ind.code, mile)]
            if r.den and r.den == r.den:
                assert r.rate == float(round_rate(r.num / r.den * 100))
            checked += 1
    assert checked > 20


def test_outputs_exist_and_summary_names_them(demo_run):
    for key in ("province", "province_json", "facts"):
        assert demo_run.outputs[key].exists(), key
    assert str(demo_run.outputs["province"]) in demo_run.summary
    data = json.loads(demo_run.outputs["province_json"].read_text(encoding="utf-8"))
    assert data["unit"] == "80" and data["summary"]["expected"] == 26
    district = json.loads((demo_run.outputs["districts"] / "807_bao_cao.json").read_text(encoding="utf-8"))
    calls = {r["unit"]: r for r in district["call_list"]}
    assert "28168" in calls and calls["28168"]["state"] == "missing"


def test_province_workbook_reads_back_as_a_submission(demo_run):
    from xhht_xl import validate

    v = validate(demo_run.outputs["province"], demo_run.province.plan, expected_level="tinh")
    assert v.submission.unit_code == "80"
    assert [i.code for i in v.report if i.severity == "error"] == []
    lay = layout.build(demo_run.province.plan, "chung")
    for r in demo_run.province.totals.itertuples():
        if r.units_covered and r.source != "self":
            assert v.submission.number(("kq", r.indicator, r.milestone, "num")) == pytest.approx(r.num)
    assert lay.inputs  # the appendix has the template's cells


@pytest.mark.libreoffice
def test_province_workbook_in_libreoffice(demo_run, soffice, lo_work, tmp_path):
    (out,) = lo.convert([demo_run.outputs["province"]], "xlsx", tmp_path / "x", lo_work)
    wb = openpyxl.load_workbook(out, data_only=True)
    bad = [
        (ws.title, c.coordinate)
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith(("#VALUE", "#NAME", "#REF", "#DIV", "Err:"))
    ]
    assert not bad
    charts = wb["Biểu đồ"]._charts  # openpyxl reads the charts with the values (data_only)
    assert len(charts) == 2
    plan = demo_run.province.plan
    results = wb[layout.build(plan, "chung").sheets["results"]]
    lay = layout.build(plan, "chung")
    for r in demo_run.province.totals.itertuples():
        if r.units_covered and r.source != "self" and r.den:
            # the template's own formula, shown at one decimal, is the rate of every other sheet
            shown = results[lay.formulas[("kq", r.indicator, r.milestone, "rate")].ref].value
            assert float(round_rate(shown)) == r.rate


def test_addin_commands(tmp_path, capsys):
    """(The ``report`` command over the demo's folder: tests/test_report.py, cli_writes_report.)"""
    startup = tmp_path / "Nguyễn Văn Bình" / "XLSTART"
    assert cli.main(["addin", "install", "--startup-dir", str(startup)]) == 0
    assert (startup / "xhht_xl.xlam").exists()
    assert cli.main(["addin", "uninstall", "--startup-dir", str(startup)]) == 0
    assert not (startup / "xhht_xl.xlam").exists()
    assert cli.main(["addin", "build", "-o", str(tmp_path / "x.xlam")]) == 0
    assert "Traceback" not in capsys.readouterr().err


# -- one truth across every output --------------------------------------------------------------


def _number_rows(wb: CalamineWorkbook, sheet: str, first: int) -> list[tuple]:
    """The rows from ``first`` whose first cell is not empty, as openpyxl's read-only reader gives
    them (None for an empty cell, int for a whole number), read by python-calamine: openpyxl took
    ~8 s over the demo's Tổng hợp, Chi tiết and Đối chiếu sheets and ~1.5 s over Vấn đề and Tình hình
    nộp. For sheets without formulas; a date without a time comes as a ``date`` (openpyxl: midnight)."""
    rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)[first - 1 :]
    rows = [tuple(None if v == "" else int(v) if isinstance(v, float) and v.is_integer() else v for v in r)
            for r in rows]  # fmt: skip
    return [r for r in rows if r and r[0] is not None]


def _check_rate(num, den, rate, where) -> None:
    """A stored rate is the rate of its numbers after the one rounding rule, at most one decimal."""
    if rate is None or rate != rate:
        assert not (isinstance(den, (int, float)) and den == den and den > 0), where
        return
    assert float(round_rate(num / den * 100)) == rate, where
    assert Decimal(repr(float(rate))).as_tuple().exponent >= -1, where


def test_every_rate_is_the_same_number_everywhere(demo_run):
    """Tổng hợp, Chi tiết and Đối chiếu of every workbook, the JSON, the facts CSV and Bảng 2 of
    the report: each rate is num/den rounded half-up to 0.1, and the same figure everywhere."""
    p, plan = demo_run.province, demo_run.manifest.truth.plan
    want = {(r.indicator, int(r.milestone)): r.rate for r in p.totals.itertuples()}
    books = [(demo_run.outputs["province"], p)] + [
        (demo_run.outputs["districts"] / f"{code}_tong_hop.xlsx", c) for code, c in demo_run.districts.items()
    ]
    checked = 0
    for path, c in books:
        wb = CalamineWorkbook.from_path(str(path))
        totals = _number_rows(wb, T("out.sheet-totals"), 4)
        assert len(totals) == len(c.totals)
        for row in totals:
            _check_rate(row[3], row[4], row[5], (path.name, row[0], row[2]))
            mine = c.totals[(c.totals.indicator == row[0]) & (c.totals.milestone == row[2])].iloc[0]
            assert (row[5] if row[5] is not None else float("nan")) == pytest.approx(mine.rate, nan_ok=True)
            checked += 1
        for row in _number_rows(wb, T("out.sheet-detail"), 4):
            _check_rate(row[5], row[6], row[7], (path.name, row[0], row[3], row[4]))
            checked += 1
        used = c.totals.set_index(["indicator", "milestone"])["rate"]
        for row in _number_rows(wb, T("out.sheet-cross"), 4):  # code, name, milestone, source, num, den, rate, …
            if row[2] is None:  # "(không có)"
                continue
            _check_rate(row[4], row[5], row[6], (path.name, "cross", row[0], row[2]))
            assert (float("nan") if row[9] is None else row[9]) == pytest.approx(used[(row[0], row[2])], nan_ok=True)
    assert checked > 5000
    data = json.loads(demo_run.outputs["province_json"].read_text(encoding="utf-8"))
    for t in data["totals"]:
        _check_rate(t["num"], t["den"], t["rate"], ("json", t["indicator"], t["milestone"]))
        if t["rate"] is not None:
            assert t["rate"] == want[(t["indicator"], t["milestone"])]
    # the facts CSV holds the districts' figures: they add up to the province's numbers
    facts = pd.read_csv(demo_run.outputs["facts"], encoding="utf-8-sig", dtype={"unit": str})
    fed = facts[(facts["level"] == "huyen") & (facts["state"] == "ok")]
    sums = fed.groupby(["indicator", "milestone", "measure"])["value"].sum()
    for r in p.totals[p.totals["source"] == "huyen"].itertuples():
        if r.units_covered:
            assert (sums[(r.indicator, r.milestone, "num")], sums[(r.indicator, r.milestone, "den")]) == (r.num, r.den)
            if r.den:
                assert float(round_rate(r.num / r.den * 100)) == r.rate
    # Bảng 2 of the report
    doc = Document(demo_run.outputs["report"])
    heads = [T(f"report.col-{k}") for k in ("stt", "indicator", "milestone", "num", "den", "rate")]
    (table,) = [t for t in doc.tables if [c.text for c in t.rows[0].cells][:6] == heads]
    by_name = {i.name: i.code for i in plan.rate_indicators()}
    seen = 0
    for row in table.rows[1:]:
        cells = [cell.text for cell in row.cells]
        if cells[2].isdigit():
            rate = want[(by_name[cells[1]], int(cells[2]))]
            assert cells[5] == ("" if rate != rate else str(round_rate(rate)).replace(".", ","))
            seen += 1
    assert seen == len(p.totals)


def test_award_list_holds_no_nominee_with_an_error(demo_run):
    """Planted: a nominee proposed by two districts (one outside its area). Neither row is
    "Trong định mức"; the award list holds only nominations without an error on their row."""
    m, p = demo_run.manifest, demo_run.province
    wb = openpyxl.load_workbook(demo_run.outputs["awards"], read_only=True)
    listed = [r for r in wb.active.iter_rows(min_row=5, values_only=True) if isinstance(r[0], int)]
    within = p.nominations[p.nominations["verdict_code"] == "within"]
    assert sorted(r[2] for r in listed) == sorted(within["name"]) and len(listed)
    erroneous = {(i.file, i.sheet, int(re.sub(r"\D", "", i.cell))) for i in p.report
                 if i.severity == "error" and i.sheet and i.cell}  # fmt: skip
    for r in within.itertuples():
        assert (r.file, r.sheet, int(re.sub(r"\D", "", r.cell))) not in erroneous, r.name
    for f in m.fault("duplicate-nominee"):
        rows = p.nominations[p.nominations["name"] == f.value]
        assert len(rows) == 2 and set(rows["verdict_code"]) <= {"duplicate", "outside"}
        assert all(rows["reason"]) and f.value not in {r[2] for r in listed}
    for f in m.fault("quota-exceeded"):
        assert (p.nominations[p.nominations["proposer"] == f.unit]["verdict_code"] == "over").sum() == 1


def test_per_unit_error_counts_equal_the_issue_list(demo_run):
    """Tình hình nộp, the JSON and the Vấn đề sheet count the same errors for every unit."""
    error = T("out.severity-error")
    warning = T("out.severity-warning")
    books = [(demo_run.outputs["province"], demo_run.province, demo_run.outputs["province_json"])] + [
        (demo_run.outputs["districts"] / f"{code}_tong_hop.xlsx", c,
         demo_run.outputs["districts"] / f"{code}_bao_cao.json") for code, c in demo_run.districts.items()
    ]  # fmt: skip
    for path, c, json_path in books:
        wb = CalamineWorkbook.from_path(str(path))
        issues = _number_rows(wb, T("out.sheet-issues"), 4)
        errors = Counter(str(r[3]) for r in issues if r[0] == error)  # severity, kind, code, unit, …
        warnings = Counter(str(r[3]) for r in issues if r[0] == warning)
        status = _number_rows(wb, T("out.sheet-status"), 5)
        assert len(status) == len(c.status)
        for r in status:
            assert (r[7], r[8]) == (errors.get(str(r[0]), 0), warnings.get(str(r[0]), 0)), (path.name, r[0])
        data = json.loads(json_path.read_text(encoding="utf-8"))
        counts = unit_issue_counts(c.report)
        for r in data["status"]:
            assert (r["errors"], r["warnings"]) == counts.get(r["unit"], (0, 0))
        assert data["summary"]["with_errors"] == sum(1 for r in data["status"] if errors.get(r["unit"]))
    # the province: the districts whose nominations are wrong have errors
    p = demo_run.province
    bad = {f.unit for f in demo_run.manifest.faults if f.code in ("quota-exceeded", "duplicate-nominee")}
    assert bad and all(p.status.set_index("unit").loc[u, "errors"] > 0 for u in bad)
