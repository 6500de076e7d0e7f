"""End to end: `xhht demo` finds every planted fault, flags nothing else, and adds up right."""

from __future__ import annotations

import json
import shutil

import openpyxl
import pytest

from xhht_xl import cli, layout, lo
from xhht_xl.demo import all_issues

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
                assert r.rate == pytest.approx(r.num / r.den * 100)
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
    assert demo_run.seconds > 0  # printed by the demo, never asserted: the machine may be busy


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
    charts = openpyxl.load_workbook(out)["Biểu đồ"]._charts
    assert len(charts) == 2
    plan = demo_run.province.plan
    results = wb[layout.build(plan, "chung").sheets["results"]]
    lay = layout.build(plan, "chung")
    for r in demo_run.province.totals.itertuples():
        if r.units_covered and r.source != "self" and r.den:
            assert results[lay.formulas[("kq", r.indicator, r.milestone, "rate")].ref].value == pytest.approx(
                r.rate
            )


def test_demo_cli_twice_gives_the_same_results(demo_run, tmp_path):
    """The command run again over a finished demo's folder gives the same results (the first
    run is the session's demo, which the command runs the same way)."""
    shutil.copytree(demo_run.folder, tmp_path / "a")
    first = json.loads((tmp_path / "a/ket_qua/tinh/80_bao_cao.json").read_text(encoding="utf-8"))
    assert cli.main(["demo", str(tmp_path / "a")]) == 0
    second = json.loads((tmp_path / "a/ket_qua/tinh/80_bao_cao.json").read_text(encoding="utf-8"))
    assert first == second


def test_analyst_example_runs_on_the_demo(demo_run, capsys, monkeypatch):
    import runpy
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "phan_tich.py"
    monkeypatch.setattr(sys, "argv", [str(example), str(demo_run.folder)])
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "Huyện Mộc Hóa" in out and "% chỉ tiêu đạt hoặc vượt" in out


def test_report_and_addin_commands(demo_run, tmp_path, capsys):
    out = tmp_path / "bao_cao.docx"
    rc = cli.main(["report", str(demo_run.folder / "ket_qua" / "gui_tinh"), "--level", "tinh", "--as-of", "2020-09-05",
                   "-o", str(out), "--awards", str(tmp_path / "khen_thuong.xlsx")])  # fmt: skip
    assert rc in (0, 1) and out.exists() and (tmp_path / "khen_thuong.xlsx").exists()
    startup = tmp_path / "Nguyễn Văn Bình" / "XLSTART"
    assert cli.main(["addin", "install", "--startup-dir", str(startup)]) == 0
    assert (startup / "xhht_xl.xlam").exists()
    assert cli.main(["addin", "uninstall", "--startup-dir", str(startup)]) == 0
    assert not (startup / "xhht_xl.xlam").exists()
    assert cli.main(["addin", "build", "-o", str(tmp_path / "x.xlam")]) == 0
    assert "Traceback" not in capsys.readouterr().err
