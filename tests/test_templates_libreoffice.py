"""The templates as a person sees them: opened and recalculated by LibreOffice headless."""

from __future__ import annotations

import random

import openpyxl
import pytest

from xhht_xl import fileio, layout, lo, messages, templates

pytestmark = pytest.mark.libreoffice
ERRORS = ("#VALUE!", "#NAME?", "#REF!", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "Err:")
VERDICT_TEXT = {None: None, "dat": "Đạt", "khong-dat": "Không đạt", "vuot": "Vượt"}


def _all_values(wb):
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            yield from (v for v in row if v is not None)


@pytest.fixture(scope="module")
def converted(soffice, plan, official_templates, tmp_path_factory):
    """Every official template (``templates.write_templates``, once per session: tests/conftest.py)
    and the filled workbooks of the tests below, re-saved by LibreOffice in one soffice run."""
    src = tmp_path_factory.mktemp("lo-src")
    filled = [src / "filled.xlsx", src / "rejected.xlsx"]
    templates.build_workbook(plan, "tinh", values=_filled_values(plan, random.Random(7))[0]).save(filled[0])
    fileio.save_workbook(templates.build_workbook(plan, "xa", values=_faulty_values(plan)), filled[1])
    paths = [*official_templates, *filled]
    out = lo.convert(paths, "xlsx", tmp_path_factory.mktemp("lo-out"), tmp_path_factory.mktemp("lo-work"))
    return {p.name: (p, o) for p, o in zip(paths, out, strict=True)}


def _faulty_values(plan):
    from helpers import entries_with_faults

    return entries_with_faults(plan, random.Random(11))


def test_every_template_opens_without_formula_errors(converted, plan):
    lay = layout.build(plan, "chung")
    for name, (_src, path) in converted.items():
        if not name.startswith("mau_"):
            continue  # the filled workbooks of the tests below
        # one full load for LibreOffice's computed values and the validations it kept (a read-only
        # load for the values and a second one for the validations cost twice as much)
        wb = openpyxl.load_workbook(path, data_only=True)
        bad = [v for v in _all_values(wb) if isinstance(v, str) and v.startswith(ERRORS)]
        assert not bad, (name, bad[:5])
        assert wb.sheetnames[:6] == [
            lay.sheets[r] for r in ("guide", "unit", "results", "funding", "awards", "narrative")
        ]
        results = wb[lay.sheets["results"]]
        funding = wb[lay.sheets["funding"]]
        assert len(funding.data_validations.dataValidation) == len(plan.settings.funding_years), name
        if not name.startswith("mau_so_nganh_"):
            assert len(results.data_validations.dataValidation) >= 4, name
        unit = wb[lay.sheets["unit"]]
        lists = [dv.formula1 for dv in unit.data_validations.dataValidation if dv.type == "list"]
        if name.startswith("mau_so_nganh_"):
            assert not lists  # the department is chosen and locked
        else:
            assert lists and "DS_DONVI" in lists[0], name


def _filled_values(plan, rng):
    values, expected = {}, {}
    for ind in plan.rate_indicators():
        for m in plan.milestones:
            den = rng.choice([0, 1, 7, 1999, 2000, 4321])
            num = rng.randint(0, den) if den else 0
            values[("kq", ind.code, m, "num")] = num
            values[("kq", ind.code, m, "den")] = den
    # rounding boundaries against the targets (rounded half-up to 0.1 point)
    values.update(
        {("kq", "XMC_BC_15_60", 2020, "num"): 1959, ("kq", "XMC_BC_15_60", 2020, "den"): 2000}
    )  # 97.95 -> Đạt
    values.update(
        {("kq", "XMC_BC_15_35", 2020, "num"): 19989, ("kq", "XMC_BC_15_35", 2020, "den"): 20000}
    )  # 99.945 -> Vượt
    values.update(
        {("kq", "TV_TY_LE_DAN_SD", 2020, "num"): 301, ("kq", "TV_TY_LE_DAN_SD", 2020, "den"): 2000}
    )  # 15.05 -> Vượt
    values.update({("kq", "CNLD_CNTT_NN", 2015, "num"): 40, ("kq", "CNLD_CNTT_NN", 2015, "den"): 100})
    values.update(
        {("kq", "CNLD_CNTT_NN", 2020, "num"): 401, ("kq", "CNLD_CNTT_NN", 2020, "den"): 1000}
    )  # 40.1 > 40
    values[("kq", "GDHT", 2015, "num")] = messages.text("layout.na-text")
    values[("kq", "DHHT", 2015, "den")] = None
    for key in [k for k, v in values.items() if v is None]:
        del values[key]
    for ind in plan.rate_indicators():
        previous = None
        for m in plan.milestones:
            num = values.get(("kq", ind.code, m, "num"))
            den = values.get(("kq", ind.code, m, "den"))
            rate = num / den * 100 if isinstance(num, int) and isinstance(den, int) and den > 0 else None
            expected[(ind.code, m)] = (rate, plan.target(ind.code, m).verdict(rate, previous))
            previous = rate
    return values, expected


def test_filled_template_computes_like_python(converted, plan):
    lay = layout.build(plan, "chung")
    _values, expected = _filled_values(plan, random.Random(7))
    _src, out = converted["filled.xlsx"]  # the tinh template filled with those values, re-saved by LibreOffice
    ws = openpyxl.load_workbook(out, data_only=True)[lay.sheets["results"]]
    checked = 0
    for (code, m), (rate, verdict) in expected.items():
        got_rate = ws[lay.formulas[("kq", code, m, "rate")].ref].value
        got_verdict = ws[lay.formulas[("kq", code, m, "verdict")].ref].value
        if rate is None:
            assert got_rate in (None, ""), (code, m, got_rate)
        else:
            assert got_rate == pytest.approx(rate, rel=1e-12), (code, m)
        assert (got_verdict or None) == VERDICT_TEXT[verdict], (code, m, rate, got_verdict)
        checked += 1
    assert checked == len(plan.rate_indicators()) * len(plan.milestones)
    for code, verdict in (
        ("XMC_BC_15_60", "Đạt"),
        ("XMC_BC_15_35", "Vượt"),
        ("TV_TY_LE_DAN_SD", "Vượt"),
        ("CNLD_CNTT_NN", "Đạt"),
    ):
        assert ws[lay.formulas[("kq", code, 2020, "verdict")].ref].value == verdict


def test_results_sheet_renders(soffice, official_templates, tmp_path):
    (xa,) = [p for p in official_templates if p.name == "mau_xa.xlsx"]  # write_templates(levels=["xa"])'s file
    (pdf,) = lo.convert([xa], "pdf", tmp_path / "pdf", tmp_path / "w")
    png = lo.render_png(pdf, tmp_path / "page", page=3)
    assert png.stat().st_size > 20_000


REJECTED = {"count-negative", "count-not-integer", "num-exceeds-den", "value-invalid", "number-ambiguous"}


def _rejected_rows(v, lay) -> set[tuple[str, int]]:
    """(indicator, milestone) of every result row an error of the checks rejects."""
    at = {(c.sheet, c.ref): key for key, c in lay.inputs.items() if key[0] == "kq"}
    return {at[(i.sheet, i.cell)][1:3] for i in v.report if i.code in REJECTED and (i.sheet, i.cell) in at}


def test_rejected_entries_show_no_rate_and_cached_values_are_recalculated_ones(converted, plan):
    """A row the checks reject (num > den, negative, not whole, text) shows neither a rate nor a
    verdict once LibreOffice recalculates it; every result cached by the writer is LibreOffice's."""
    from xhht_xl import validate

    lay = layout.build(plan, "chung")
    src, out = converted["rejected.xlsx"]  # the xa template with _faulty_values, re-saved by LibreOffice
    rejected = _rejected_rows(validate(src, plan), lay)
    assert len(rejected) > 5
    ours = openpyxl.load_workbook(src, data_only=True)
    recalculated = openpyxl.load_workbook(out, data_only=True)
    formulas = openpyxl.load_workbook(src)
    compared = 0
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type != "f":
                    continue
                cached, fresh = ours[ws.title][c.coordinate].value, recalculated[ws.title][c.coordinate].value
                if isinstance(fresh, float):
                    assert cached == pytest.approx(fresh, rel=1e-12), (ws.title, c.coordinate)
                else:
                    assert (cached or None) == (fresh or None), (ws.title, c.coordinate, c.value)
                compared += 1
    assert compared == len(lay.formulas) + 2 + len(plan.settings.funding_years) + 1  # + unit name, subtitle, totals
    results = recalculated[lay.sheets["results"]]
    shown = 0
    for ind in plan.rate_indicators():
        for m in plan.milestones:
            rate = results[lay.formulas[("kq", ind.code, m, "rate")].ref].value
            verdict = results[lay.formulas[("kq", ind.code, m, "verdict")].ref].value
            if (ind.code, m) in rejected:
                assert (rate or None, verdict or None) == (None, None), (ind.code, m, rate, verdict)
            shown += rate not in (None, "")
    assert shown > 10
