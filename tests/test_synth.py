"""The synthetic province: deterministic, consistent, exactly the planted faults, files that round-trip."""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from xhht_xl import layout, synth, templates, xlsxcopy

DEADLINE_XA = dt.date(2020, 8, 20)


@pytest.fixture(scope="module")
def province(plan) -> synth.Province:
    p = synth.make_province(plan)
    synth.plant_faults(p)
    return p


@pytest.fixture(scope="module")
def manifest(plan, tmp_path_factory, synth_cache) -> synth.Manifest:
    """The written province (a copy of the session cache; ``test_writing_twice_gives_the_same_bytes``
    writes it afresh and compares every file)."""
    return synth.cached_demo(tmp_path_factory.mktemp("subs"), synth_cache, plan=plan, workers=2)


def _numbers(values: dict, key_prefix: tuple) -> int:
    return sum(v for k, v in values.items() if k[: len(key_prefix)] == key_prefix and isinstance(v, int))


def _input_values(plan, path: Path, lay: layout.Layout | None = None) -> dict[tuple, object]:
    lay = lay or layout.build(plan)
    wb = openpyxl.load_workbook(path)
    out = {}
    for key, cell in lay.inputs.items():
        value = wb[cell.sheet].cell(cell.row, cell.col).value
        if value is not None:
            out[key] = value.date() if isinstance(value, dt.datetime) else value
    return out


def _expected_cells(plan, values: dict[tuple, object]) -> dict[tuple, object]:
    out = dict(values)
    u = plan.unit(str(out[("unit", "unit")]))
    if u is not None:
        out[("unit", "unit")] = layout.unit_option(plan, u)
    return out


# -- generation ----------------------------------------------------------------------------------


def test_same_seed_same_values_other_seed_other_values(plan, province):
    again = synth.make_province(plan)
    synth.plant_faults(again)
    assert again.truth == province.truth
    assert again.entries == province.entries
    assert again.faults == province.faults
    assert again.file_names == province.file_names
    other = synth.make_province(plan, seed=7)
    fixed = set(synth.lo_units(plan).values())
    changed = [c for c in other.truth if other.truth[c] != province.truth[c]]
    assert len(changed) > 200
    assert not fixed & set(changed), "the LibreOffice-saved units must not depend on the seed"


def test_every_unit_has_entries(plan, province):
    assert set(province.truth) == {
        u.code for u in plan.units.values() if u.level in ("xa", "huyen", "so_nganh", "tinh")
    }
    items = [("bc", i.code) for i in plan.narrative_items()]
    lay = {t: layout.build(plan, t) for t in ("chung", "so_nganh")}
    for code, values in province.truth.items():
        unit = plan.units[code]
        assert set(values) <= set(lay[layout.template_for(plan, unit.level)].inputs), code
        for field in ("unit", "reporter", "position", "phone", "email", "date"):
            assert values[("unit", field)], (code, field)
        for key in items:
            assert isinstance(values[key], str) and len(values[key]) > 40, (code, key)
        if unit.level == "so_nganh":
            assert unit.name in values[("bc", layout.TOPIC_ITEM)]
        if unit.level in ("xa", "huyen"):
            assert synth.place_name(unit) in " ".join(str(values[k]) for k in items), code
    # varied texts, not one template for everybody
    texts = {" ".join(province.truth[u.code][k] for k in items) for u in plan.units_at("xa")}
    assert len(texts) == len(plan.units_at("xa"))
    assert len({province.truth[u.code][("bc", "I.1")] for u in plan.units_at("xa")}) > 150


def test_commune_numbers_are_plausible(plan, province):
    for unit in plan.units_at("xa"):
        v = province.truth[unit.code]
        pop = province.population[unit.code][2020]
        assert 4000 <= pop <= 40000
        d = v[("kq", "XMC_BC_15_35", 2020, "den")]
        assert 0.30 * pop <= d <= 0.36 * pop
        assert 97.0 <= v[("kq", "XMC_BC_15_35", 2020, "num")] / d * 100 <= 100
        assert 4 <= v[("kq", "CDHT_AP", 2020, "den")] <= 14
        assert 10 <= v[("kq", "DHHT", 2020, "den")] <= 60
        assert 8 <= v[("kq", "DVHT", 2020, "den")] <= 40
        hh = v[("kq", "GDHT", 2020, "den")]
        assert 0.5 <= v[("kq", "GDHT", 2020, "num")] / hh <= 0.95
        for src in plan.settings.funding_sources:
            for year in plan.settings.funding_years:
                amount = v[("kp", src, year)]
                assert isinstance(amount, float) and 2 <= amount <= 300 and round(amount, 1) == amount
        noms = synth.nominations(v)
        assert len(noms) <= 2
        ctubnd = plan.award("CTUBND").name
        assert all(r["award"] == ctubnd for r in noms)
    flags = Counter(
        province.truth[u.code][("kq", "XMC_XA_DAT_CHUAN", 2020, "num")] for u in plan.units_at("xa")
    )
    assert flags[1] > 170 and flags[0] >= 0
    na = sum(
        province.truth[u.code][("kq", "XMC_BC_DTTS_15_60", 2020, "den")] == synth.NA
        for u in plan.units_at("xa")
    )
    assert na > 100


def test_counts_never_exceed_denominators_in_clean_data(plan, province):
    checked = 0
    for code, values in province.truth.items():
        for key, num in values.items():
            if key[0] == "kq" and key[3] == "num" and isinstance(num, int):
                den = values[(*key[:3], "den")]
                assert isinstance(den, int) and 0 <= num <= den, (code, key, num, den)
                checked += 1
    assert checked > 188 * 30


def test_nominations_follow_quotas(plan, province):
    def count(values, award):
        name = plan.award(award).name
        rows = [r for r in synth.nominations(values) if r["award"] == name]
        return (
            sum(r["kind"] == synth.COLLECTIVE for r in rows),
            sum(r["kind"] == synth.INDIVIDUAL for r in rows),
        )

    for unit in plan.units_at("huyen"):
        q = plan.quota("CTUBND", "huyen")
        assert count(province.truth[unit.code], "CTUBND") == (q.collective, q.individual)
        own = {layout.unit_option(plan, u) for u in [unit, *plan.children(unit.code, "xa")]}
        assert all(r["unit"] in own for r in synth.nominations(province.truth[unit.code]))
    top = province.truth[plan.province.code]
    for award in ("TTG", "BGDDT", "CTUBND"):
        q = plan.quota(award, "tinh")
        assert count(top, award) == (q.collective, q.individual)
    people = [
        (r["name"], r["unit"])
        for v in province.truth.values()
        for r in synth.nominations(v)
        if r["kind"] == synth.INDIVIDUAL
    ]
    assert len(people) == len(set(people)), "clean data has no duplicate nominee"


def test_sums_follow_the_authority_rules(plan, province):
    truth = synth.Truth(plan, province.truth)
    communes = plan.units_at("xa")
    for ind in plan.rate_indicators():
        if ind.authority.get("huyen") != ("xa",):
            continue
        for m in plan.milestones:
            for part in ("num", "den"):
                key = ("kq", ind.code, m, part)
                for d in plan.units_at("huyen"):
                    assert truth.total(d.code, key) == sum(
                        v
                        for c in plan.children(d.code, "xa")
                        if isinstance(v := truth.value(c.code, key), int)
                    )
                whole = sum(v for c in communes if isinstance(v := truth.value(c.code, key), int))
                assert truth.total("80", key) == whole, key
                # the departments reporting it give the same figure
                for dep in plan.units_at("so_nganh"):
                    if plan.entered_by(ind, "so_nganh", dep):
                        assert truth.value(dep.code, key) == whole, (dep.code, key)
    key = ("kq", "CBCCVC_UD_CNTT", 2020, "den")  # tinh = SNV: provincial staff + districts
    assert truth.total("80", key) > sum(truth.value(d.code, key) for d in plan.units_at("huyen"))
    for year in plan.settings.funding_years:
        key = ("kp", "KP_NSDP", year)
        expect = sum(truth.value(c.code, key) for c in communes)
        expect += sum(truth.value(u.code, key) for u in (*plan.units_at("huyen"), *plan.units_at("so_nganh")))
        assert truth.total("80", key) == pytest.approx(expect)


# -- faults --------------------------------------------------------------------------------------


EXPECTED_CODES = {
    "late": ("late", "warning"),
    "missing": ("missing", "error"),
    "num-exceeds-den": ("num-exceeds-den", "error"),
    "count-negative": ("count-negative", "error"),
    "number-as-text": ("number-as-text", "warning"),
    "lo-xlsx": (None, None),
    "lo-xls": (None, None),
    "formula-replaced": ("formula-replaced", "warning"),
    "quota-exceeded": ("quota-exceeded", "error"),
    "duplicate-nominee": ("duplicate-nominee", "error"),
    "resubmission": ("superseded", "info"),
    "not-a-workbook": ("not-a-workbook", "error"),
    "old-code": ("unit-old-code", "warning"),
}


def test_fault_list(plan, province):
    faults = province.faults
    assert Counter(f.kind for f in faults) == synth.FAULT_COUNTS
    involved = [u for f in faults for u in (f.unit, *f.related)]
    assert len(involved) == len(set(involved)), "each fault in a different unit"
    for f in faults:
        assert (f.code, f.severity) == EXPECTED_CODES[f.kind], f
        assert f.description and f.description[0].isupper()
        assert plan.units[f.unit].level == (
            "huyen" if f.kind in ("quota-exceeded", "duplicate-nominee") else "xa"
        )
    with pytest.raises(ValueError):  # planting twice is refused
        synth.plant_faults(province)


def test_nothing_else_differs_from_truth(plan, province):
    cell_faults = {f.unit: f for f in province.faults if f.key is not None and f.kind != "old-code"}
    for code, values in province.entries.items():
        diff = {
            k for k in set(values) | set(province.truth[code]) if values.get(k) != province.truth[code].get(k)
        }
        f = cell_faults.get(code)
        if f is None:
            assert not diff, code
        elif f.kind in ("num-exceeds-den", "count-negative", "number-as-text"):
            assert diff == {f.key}
        elif f.kind == "formula-replaced":
            assert not diff  # tampered in the file only
    neg = province.fault("count-negative")[0]
    assert province.entries[neg.unit][neg.key] < 0
    big = province.fault("num-exceeds-den")[0]
    assert province.entries[big.unit][big.key] > province.truth[big.unit][(*big.key[:3], "den")]
    text = province.fault("number-as-text")[0]
    assert synth.textnorm.parse_number(text.value).value == province.truth[text.unit][text.key]
    re = province.fault("resubmission")[0]
    first = province.first_entries[re.unit]
    assert any(
        isinstance(v, int) and k[3] == "num" and v > first[(*k[:3], "den")]
        for k, v in first.items()
        if k[0] == "kq"
    )


# -- files ---------------------------------------------------------------------------------------


def test_written_files(plan, province, manifest):
    folder = manifest.folder
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted([f.path for f in manifest.files] + ["received_at.csv"])
    received = synth.read_received(manifest.received_csv)
    assert set(received) == {f.path for f in manifest.files}
    missing = {f.unit for f in manifest.fault("missing")}
    late = {f.unit for f in manifest.fault("late")}
    senders = {f.unit for f in manifest.files}
    assert senders == set(province.truth) - missing
    assert len(manifest.files) == len(senders) + 2  # + superseded first file + the PDF
    for f in manifest.files:
        assert f.received_at == received[f.path]
        values = province.first_entries[f.unit] if f.superseded else province.entries[f.unit]
        assert values[("unit", "date")] <= f.received_at.date(), f
        if f.level == "xa":
            assert f.path.startswith(f"xa/{plan.units[f.unit].parent}_")
            assert (f.received_at.date() > DEADLINE_XA) == (f.unit in late), f
        elif f.level in ("huyen", "so_nganh"):
            assert f.path.startswith(f.level + "/") and f.received_at.date() <= dt.date(2020, 8, 31)
        else:
            assert f.path.startswith("tinh/")
    assert manifest.expected["794"] == [u.code for u in plan.children("794", "xa")]
    assert len(manifest.expected["80"]) == 15 + 11
    names = [f.path for f in manifest.files]
    assert any(n != n.encode("ascii", "ignore").decode() for n in names)  # some with diacritics
    assert any(n.isascii() for n in names)


def test_every_workbook_opens_except_the_pdf(plan, manifest):
    pdf = manifest.fault("not-a-workbook")[0]
    for f in manifest.files:
        path = manifest.folder / f.path
        if f.path == pdf.file:
            assert path.read_bytes().startswith(b"%PDF-") and not zipfile.is_zipfile(path)
        elif f.format == "xls":
            python_calamine.CalamineWorkbook.from_path(str(path))
        else:
            openpyxl.load_workbook(path, read_only=True).close()


def test_values_round_trip(plan, province, manifest):
    by_unit = {f.unit: f for f in manifest.files if not f.superseded and f.format != "pdf"}
    faulted = {f.unit for f in province.faults}
    sample = [u.code for u in plan.units_at("xa") if u.code not in faulted][:2]
    sample += [plan.units_at("huyen")[3].code, "SNV", plan.province.code]
    sample += [province.fault("number-as-text")[0].unit, province.fault("count-negative")[0].unit]
    for code in sample:
        unit = plan.units[code]
        lay = layout.build(plan, layout.template_for(plan, unit.level))
        got = _input_values(plan, manifest.folder / by_unit[code].path, lay)
        assert got == _expected_cells(plan, province.entries[code]), code


def test_planted_file_faults(plan, province, manifest):
    lay = layout.build(plan)
    tampered = manifest.fault("formula-replaced")[0]
    cell = lay.formulas[tampered.key]
    wb = openpyxl.load_workbook(manifest.folder / tampered.file)
    assert wb[cell.sheet].cell(cell.row, cell.col).value == tampered.value
    other = cell.__class__(cell.sheet, cell.row + 1, cell.col)
    assert str(wb[cell.sheet].cell(other.row, other.col).value).startswith("=IF(")
    assert _input_values(plan, manifest.folder / tampered.file) == _expected_cells(
        plan, province.entries[tampered.unit]
    )

    old = manifest.fault("old-code")[0]
    got = _input_values(plan, manifest.folder / old.file)
    assert str(got[("unit", "unit")]).startswith(f"{old.value} - ")
    assert plan.resolve_code(old.value)[0] == old.unit != old.value

    resub = manifest.fault("resubmission")[0]
    first, second = manifest.file(resub.file), manifest.file(resub.other_files[0])
    assert first.superseded and not second.superseded
    assert second.received_at - first.received_at == dt.timedelta(days=2)
    assert _input_values(plan, manifest.folder / second.path) == _expected_cells(
        plan, province.truth[resub.unit]
    )
    assert _input_values(plan, manifest.folder / first.path) == _expected_cells(
        plan, province.first_entries[resub.unit]
    )

    quota = manifest.fault("quota-exceeded")[0]
    rows = synth.nominations(province.entries[quota.unit])
    assert sum(r["kind"] == synth.COLLECTIVE for r in rows) == 3
    dup = manifest.fault("duplicate-nominee")[0]
    a = {(r["name"], r["unit"]) for r in synth.nominations(province.entries[dup.related[0]])}
    b = {(r["name"], r["unit"]) for r in synth.nominations(province.entries[dup.unit])}
    assert len(a & b) == 1


def test_shipped_libreoffice_files_hold_the_generated_values(plan, province, manifest):
    lay = layout.build(plan)
    xls = manifest.fault("lo-xls")[0]
    assert xls.file.endswith(".xls")
    book = python_calamine.CalamineWorkbook.from_path(str(manifest.folder / xls.file))
    sheets = {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}
    expected = _expected_cells(plan, province.entries[xls.unit])
    for key, cell in lay.inputs.items():
        rows = sheets[cell.sheet]
        row = rows[cell.row - 1] if cell.row - 1 < len(rows) else []
        value = row[cell.col - 1] if cell.col - 1 < len(row) else ""
        assert value == expected.get(key, ""), key
    lo = manifest.fault("lo-xlsx")[0]
    assert _input_values(plan, manifest.folder / lo.file) == _expected_cells(plan, province.entries[lo.unit])
    assert (synth.data_folder() / synth.shipped_name("lo-xls", xls.unit)).is_file()


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_fast_writer_equals_build_workbook(plan, province, tmp_path):
    communes = plan.units_at("xa")
    unit = communes[10]
    values = dict(province.entries[unit.code])
    # text a naive writer gets wrong: spaces kept, markup and a formula-like text escaped, CR, emoji
    values[("unit", "reporter")] = '  Nguyễn Văn <An> & "Bình" '
    values[("unit", "position")] = "=1+2"
    values[("bc", "I.1")] = "Dòng một\r\nDòng hai\n😀 ≥ 98 %"
    entries = [province.entries[u.code] for u in communes] + [values]
    rate = ("kq", "XMC_BC_15_35", 2020, "rate")  # a clerk types a number over a formula
    writer = synth.LevelWriter(plan, "xa", communes[0], entries, typed=[{rate: 97.3}])
    writer.write(communes[3], province.entries[communes[3].code], tmp_path / "x.xlsx", typed={rate: 97.3})
    saved_at = dt.datetime(2020, 8, 14, 9, 30, 5)
    fast = writer.write(unit, values, tmp_path / "fast.xlsx", saved_at=saved_at, typed={rate: 98.1})
    slow = tmp_path / "slow.xlsx"
    wb = templates.build_workbook(plan, "xa", unit, values)
    cell = layout.build(plan).formulas[rate]
    wb[cell.sheet].cell(cell.row, cell.col).value = 98.1
    slow.write_bytes(xlsxcopy.workbook_bytes(wb)[0])  # openpyxl's save, its sheets in UTF-8 as ours
    a, b = openpyxl.load_workbook(fast), openpyxl.load_workbook(slow)
    assert a.sheetnames == b.sheetnames
    assert sorted(a.defined_names) == sorted(b.defined_names)
    assert a.properties.modified == saved_at and a.properties.creator == b.properties.creator
    for ws in a.worksheets:
        other = b[ws.title]
        assert ws.max_row == other.max_row and ws.max_column == other.max_column
        for row in ws.iter_rows():
            for c in row:
                o = other.cell(c.row, c.column)
                assert (c.value, c.number_format, c.protection.locked) == (
                    o.value,
                    o.number_format,
                    o.protection.locked,
                ), (ws.title, c.coordinate)
                style = [repr(getattr(c, k)) for k in ("font", "fill", "border", "alignment", "protection")]
                assert [c.data_type, *style] == [
                    o.data_type, *(repr(getattr(o, k)) for k in ("font", "fill", "border", "alignment", "protection"))
                ], (ws.title, c.coordinate)  # fmt: skip
    # Part by part: the same parts, each byte for byte but the time stamp and the numbering of
    # cell styles (compared above through openpyxl, which resolves them).
    pa, pb = _parts(fast), _parts(slow)
    assert sorted(pa) == sorted(pb)
    for name in pa:
        if name in ("docProps/core.xml", "xl/styles.xml"):
            continue
        if name.startswith("xl/worksheets/"):
            assert re.sub(rb' s="\d+"', b"", pa[name]) == re.sub(rb' s="\d+"', b"", pb[name]), name
        else:
            assert pa[name] == pb[name], name


def test_fast_writer_refuses_what_it_was_not_prepared_for(plan, province, tmp_path):
    communes = plan.units_at("xa")
    writer = synth.LevelWriter(plan, "xa", communes[0], [province.entries[u.code] for u in communes])
    values = dict(province.entries[communes[1].code])
    with pytest.raises(KeyError):
        writer.workbook_bytes(communes[1], {**values, ("kq", "NO_SUCH", 2020, "num"): 1})
    with pytest.raises(TypeError):  # a type no entry held: its cell style was never learnt
        writer.workbook_bytes(communes[1], {**values, ("unit", "reporter"): dt.date(2020, 1, 1)})
    with pytest.raises(TypeError):  # nor a number typed over a formula the writer was not told of
        writer.workbook_bytes(communes[1], values, typed={("kq", "GDHT", 2020, "rate"): 50.0})


def test_writing_twice_gives_the_same_bytes(plan, province, manifest, tmp_path):
    """Written again, by two processes this time, every file is the same to the byte."""
    seen = []
    again = synth.write_submissions(plan, province, tmp_path, workers=2, progress=lambda *a: seen.append(a))
    assert [i for i, _n, _p in seen] == list(range(1, len(manifest.files) + 1))
    assert {p for _i, _n, p in seen} == {f.path for f in manifest.files}
    assert [(f.path, f.received_at) for f in again.files] == [(f.path, f.received_at) for f in manifest.files]
    assert again.received_csv.read_bytes() == manifest.received_csv.read_bytes()
    # Every file the same to the byte (each is stamped with its own saved time, nothing depends on
    # the clock): stronger than the same cells, which this test compared before on every 23rd file.
    for f in manifest.files:
        assert (again.folder / f.path).read_bytes() == (manifest.folder / f.path).read_bytes(), f.path
    with pytest.raises(FileExistsError):
        synth.write_submissions(plan, province, tmp_path)


def test_cache_reuses_only_the_same_province(plan, manifest, synth_cache, tmp_path):
    key = synth.generator_key(plan)
    assert (synth_cache / key).is_dir()
    assert synth.generator_key(plan, seed=7) != key
    copy = synth.cached_demo(tmp_path / "copy", synth_cache, plan=plan)
    assert [f.path for f in copy.files] == [f.path for f in manifest.files]
    for f in copy.files:
        assert (copy.folder / f.path).read_bytes() == (manifest.folder / f.path).read_bytes(), f.path
    # the generator's own modules are part of the key, found by following its imports
    names = {p.name for p in synth._own_modules()}
    assert {"synth.py", "templates.py", "layout.py", "xlsxcopy.py", "plan.py", "messages.py"} <= names
    assert "read.py" not in names


def _fails(report) -> None:
    report("first.xlsx")
    raise ValueError("disk full")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_failing_second_writer_is_reported_not_hidden():
    side = synth._Side(_fails)
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="disk full"):
        side.wait(seen.append)
    side.stop()
    assert seen == ["first.xlsx"]
