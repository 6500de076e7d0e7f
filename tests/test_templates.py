"""The official templates: committed files current, structure, protection, sender text safety."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest

from xhht_xl import cli, layout, safety, templates
from xhht_xl.layout import TOPIC_ITEM

REPO = Path(__file__).resolve().parent.parent
WORKBOOKS = REPO / "workbooks"
_MODIFIED = re.compile(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>")


def _parts(path: Path) -> dict[str, bytes]:
    """Each part's bytes, without the saved time."""
    with zipfile.ZipFile(path) as zf:
        return {name: _MODIFIED.sub(b"", zf.read(name)) for name in zf.namelist()}


def _same_part(name: str, a: bytes, b: bytes) -> bool:
    """The same bytes, or for XML the same canonical XML (openpyxl serialises differently with and
    without lxml; canonicalising every part of every template took most of the test's time)."""
    if a == b:
        return True
    if not name.endswith((".xml", ".rels")):
        return False
    return ET.canonicalize(a.decode("utf-8"), strip_text=True) == ET.canonicalize(b.decode("utf-8"), strip_text=True)


@pytest.fixture(scope="module")
def generated(official_templates) -> Path:
    """The folder the session's ``write_templates`` wrote (tests/conftest.py), read only."""
    (folder,) = {p.parent for p in official_templates}
    return folder


def test_committed_workbooks_are_current(generated):
    """workbooks/ must be what the code writes now: run `xhht templates workbooks` after a change."""
    fresh = sorted(p.name for p in generated.glob("*.xlsx"))
    committed = sorted(p.name for p in WORKBOOKS.glob("*.xlsx"))
    assert committed == fresh
    for name in fresh:
        a, b = _parts(WORKBOOKS / name), _parts(generated / name)
        assert sorted(a) == sorted(b), name
        stale = [part for part in a if not _same_part(part, a[part], b[part])]
        assert not stale, f"{name}: parts differ {stale}; regenerate with `xhht templates workbooks`"


def test_official_set(generated, plan):
    names = sorted(p.name for p in generated.glob("*.xlsx"))
    assert {"mau_xa.xlsx", "mau_huyen.xlsx", "mau_tinh.xlsx"} <= set(names)
    assert len([n for n in names if n.startswith("mau_so_nganh_")]) == len(plan.units_at("so_nganh"))


def test_structure_meta_and_names(generated, plan):
    path = generated / "mau_xa.xlsx"
    lay = layout.build(plan, "chung")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(lay.sheets.values())
    assert wb["_meta"].sheet_state == "veryHidden" and wb["_ds"].sheet_state == "veryHidden"
    meta = {r[0]: r[1] for r in wb["_meta"].iter_rows(values_only=True)}
    assert meta["template_id"] == "xhht/long_an_2020/chung"
    assert meta["level"] == "xa" and meta["unit"] is None
    assert meta["plan_fingerprint"] == plan.fingerprint and meta["layout_fingerprint"] == lay.fingerprint
    assert wb.security.lockStructure
    names = safety.defined_names(path, "xlsx")
    for name, cell in lay.names.items():
        assert name in names, name
        sheet, _ref = names[name]
        assert sheet == cell.sheet
    assert names["KQ_GDHT_2020_TS"] == (lay.sheets["results"], lay.inputs[("kq", "GDHT", 2020, "num")].ref)
    for ds in ("DS_DONVI", "DS_HINHTHUC", "DS_LOAI", "DS_DONVI_TATCA"):
        assert names[ds][0] == "_ds"
    dropdown = [r[0] for r in wb["_ds"].iter_rows(min_row=2, max_col=1, values_only=True) if r[0]]
    assert len(dropdown) == 188 and dropdown[0].startswith("27685 - Phường 5")
    for ws in wb.worksheets:  # what a clerk may print says which page of how many (CLERK.md)
        if ws.sheet_state == "visible":
            assert ws.oddFooter.center.text == "Trang &P/&N", ws.title


def test_inputs_unlocked_labels_and_greyed_rows_locked(generated, plan):
    lay = layout.build(plan, "chung")
    wb = openpyxl.load_workbook(generated / "mau_xa.xlsx")
    results = wb[lay.sheets["results"]]
    assert results.protection.sheet and not results.protection.password
    for code in ("GDHT", "XMC_BC_15_35"):  # communes enter these
        c = lay.inputs[("kq", code, 2020, "num")]
        assert results[c.ref].protection.locked is False
    for code in ("CNLD_CNTT_NN", "XMC_HUYEN_DAT_CHUAN"):  # not at commune level: grey and locked
        c = lay.inputs[("kq", code, 2020, "num")]
        assert results[c.ref].protection.locked is True
        assert results[c.ref].fill.fgColor.rgb.endswith("BFBFBF")
    for cell in lay.labels:
        assert wb[cell.sheet][cell.ref].protection.locked is not False, cell
    rate = lay.formulas[("kq", "GDHT", 2020, "rate")]
    assert str(results[rate.ref].value).startswith("=IF(AND(ISNUMBER(")
    dvs = results.data_validations.dataValidation
    assert any(dv.type == "custom" for dv in dvs)
    assert results.print_title_rows and int(results.page_setup.paperSize) == 9


def test_department_template_has_its_rows_and_topic(generated, plan):
    lay = layout.build(plan, "so_nganh")
    wb = openpyxl.load_workbook(generated / "mau_so_nganh_SNV.xlsx")
    results = wb[lay.sheets["results"]]
    assert results[lay.inputs[("kq", "CBCCVC_UD_CNTT", 2020, "num")].ref].protection.locked is False
    assert results[lay.inputs[("kq", "GDHT", 2020, "num")].ref].protection.locked is True
    row = lay.narrative_rows[TOPIC_ITEM]
    assert plan.unit("SNV").topic in wb[lay.sheets["narrative"]].cell(row, 2).value
    unit_cell = lay.inputs[("unit", "unit")]
    assert wb[unit_cell.sheet][unit_cell.ref].value.startswith("SNV - Sở Nội vụ")


def test_per_unit_templates(district_templates, plan):
    paths = district_templates  # templates.write_templates(plan, folder, per_unit=True, levels=["huyen"])
    assert len(paths) == 15
    lay = layout.build(plan, "chung")
    cell = lay.inputs[("unit", "unit")]
    by_name = {p.name: p for p in paths}
    path = by_name["mau_huyen_798_huyen_moc_hoa.xlsx"]
    wb = openpyxl.load_workbook(path)
    ws = wb[cell.sheet]
    assert ws[cell.ref].value == "798 - Huyện Mộc Hóa"
    assert ws[cell.ref].protection.locked is True
    meta = {r[0]: r[1] for r in wb["_meta"].iter_rows(values_only=True)}
    assert meta["unit"] == "798"


def test_sender_text_is_never_a_formula(tmp_path, plan):
    lay = layout.build(plan, "chung")
    values = {
        ("bc", "I.1"): '=HYPERLINK("http://example.invalid","bấm vào đây")',
        ("kt", 0, "name"): "=1+1",
        ("kt", 0, "summary"): "-2+3",
        ("kq", "GDHT", 2020, "num"): 5,
    }
    wb = templates.build_workbook(plan, "xa", values=values)
    out = tmp_path / "filled.xlsx"
    wb.save(out)
    back = openpyxl.load_workbook(out)
    for key in (("bc", "I.1"), ("kt", 0, "name")):
        cell = lay.inputs[key]
        c = back[cell.sheet][cell.ref]
        assert c.data_type == "s" and c.value == values[key], key
    with zipfile.ZipFile(out) as zf:
        xml = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert b"HYPERLINK" in xml and not re.search(rb"<f>[^<]*HYPERLINK", xml)  # text, not a <f> formula


def test_cli_templates(tmp_path):
    assert cli.main(["templates", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.xlsx"))) == 14


def test_merge_is_openpyxl_merge_cells(tmp_path):
    """``templates.merge`` leaves the cells, borders and protections ``ws.merge_cells`` leaves: the
    saved sheet and stylesheet are byte for byte the same (ranges over bordered, partly bordered,
    locked and empty cells; two workbooks in a row, as the sums of borders are kept between them)."""
    from openpyxl.styles import Border, Side

    from xhht_xl import fileio

    thick = Side(style="thick", color="FF0000")
    written = {}
    for how in ("openpyxl", "merge", "merge again"):
        wb = templates.new_workbook()
        wb.properties.created = templates.CREATED  # not the second each workbook was made in
        ws = wb.active
        for row in range(1, 9):
            for col in range(1, 7):
                c = ws.cell(row, col, f"{row}/{col}" if (row + col) % 3 else None)
                if row % 2:
                    c.border = templates.BORDER
                if col == 6:
                    c.border = Border(right=thick, bottom=thick)
                if row == 5:
                    c.protection = templates.UNLOCKED
        for rows, cols in (((1, 1), (1, 6)), ((2, 4), (1, 1)), ((2, 3), (2, 6)), ((5, 8), (3, 5)), ((6, 7), (6, 6))):
            if how == "openpyxl":
                ws.merge_cells(start_row=rows[0], start_column=cols[0], end_row=rows[1], end_column=cols[1])
            else:
                templates.merge(ws, rows[0], cols[0], rows[1], cols[1])
        written[how] = _parts_of_bytes(fileio.workbook_bytes(wb, tmp_path / "x.xlsx"))
    for how in ("merge", "merge again"):
        assert [p for p in written[how] if written[how][p] != written["openpyxl"][p]] == []
    assert written["merge"]["xl/worksheets/sheet1.xml"].count(b"<mergeCell ") == 5


def _parts_of_bytes(data: bytes) -> dict[str, bytes]:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: _MODIFIED.sub(b"", zf.read(n)) for n in zf.namelist()}


def test_nominee_units_offered_are_those_a_nomination_may_name(plan):
    """The nominees' unit dropdown (``DS_DONVI_TATCA``): in a commune's own template only the commune,
    the one unit its nominations may name (any other is a nominee-outside error); every unit in the
    level templates, in a district's own and in a department's."""
    from openpyxl.workbook.defined_name import DefinedName

    def offered(level, unit):
        wb = templates.build_workbook(plan, level, unit)
        name: DefinedName = wb.defined_names["DS_DONVI_TATCA"]
        (sheet, ref), = name.destinations
        return [c.value for row in wb[sheet][ref.replace("$", "")] for c in row if c.value]

    everyone = [layout.unit_option(plan, u) for u in plan.units.values()]
    commune, district = plan.units_at("xa")[5], plan.units_at("huyen")[2]
    department = plan.units_at("so_nganh")[0]
    assert offered("xa", commune) == [layout.unit_option(plan, commune)]
    assert plan.nominee_scope(commune.code) == {commune.code}
    assert offered("xa", None) == everyone and offered("huyen", None) == everyone
    assert offered("huyen", district) == everyone and offered("so_nganh", department) == everyone
    # the units the check (quotas: nominee-outside) lets each name
    assert plan.nominee_scope(district.code) == {district.code, *(u.code for u in plan.descendants(district.code))}
    assert plan.nominee_scope(department.code) is None and plan.nominee_scope("tinh_khong_co") is None
