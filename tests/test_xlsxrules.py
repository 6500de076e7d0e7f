"""The rule set of every written workbook: each rule is caught on the XML, saves are refused,
cached formula results are what a reader that does not calculate (a mail preview) shows."""

from __future__ import annotations

import copy
import datetime as dt
import io
import itertools
import random
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from helpers import entries_with_faults
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineWorkbook

from xhht_xl import fileio, layout, templates, xlsxrules

RED = PatternFill("solid", fgColor="FF0000")
GREEN = PatternFill("solid", fgColor="00FF00")


_CHAR_REF = re.compile(rb"&#([0-9]+);")


def _written(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about some of the faults made on purpose
        wb.save(buf)
    return buf.getvalue()


def _patched(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    """The package with one text replaced in one part (faults openpyxl refuses to write)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename == part:
                assert old in raw
                raw = raw.replace(old, new)
            zout.writestr(info, raw)
    return out.getvalue()


def _rules(data: bytes) -> list[str]:
    return sorted({p.rule for p in xlsxrules.problems(data)})


def _base() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Kết quả"
    ws["A1"] = "Chỉ số"
    ws.merge_cells("A1:B1")
    dv = DataValidation(type="custom", formula1="ISNUMBER(C3)")
    dv.add("C3:C9")
    ws.add_data_validation(dv)
    ws.conditional_formatting.add("C3:C9", FormulaRule(formula=["C3<0"], fill=RED))
    ws.conditional_formatting.add("C3:C9", FormulaRule(formula=["C3>=0"], fill=GREEN))  # another rule
    ws.conditional_formatting.add("D3:D9", FormulaRule(formula=["D3<0"], fill=RED))  # same rule, elsewhere
    return wb


def test_a_clean_workbook_passes():
    assert xlsxrules.problems(_written(_base())) == []


def _two_validations(wb):
    dv = DataValidation(type="whole", operator="greaterThan", formula1="0")
    dv.add("C9:C12")
    wb.active.add_data_validation(dv)


def _translated_duplicate(wb):
    # the old template fault: runs E7:E8 and E8:E9, each formula anchored on its own first row
    ws = wb.active
    ws.conditional_formatting.add("E7:E8", FormulaRule(formula=["AND(E7<>\"\",E7<0)"], fill=RED))
    ws.conditional_formatting.add("E8:E9", FormulaRule(formula=["AND(E8<>\"\",E8<0)"], fill=RED))


def _long_validation(wb):
    dv = DataValidation(type="custom", formula1="OR(" + ",".join(f"F1={i}" for i in range(60)) + ")")
    dv.add("F1")
    wb.active.add_data_validation(dv)


def _long_error(wb):
    dv = DataValidation(type="custom", formula1="TRUE", error="Nhập lại. " * 30, showErrorMessage=True)
    dv.add("G1")
    wb.active.add_data_validation(dv)


FAULTS = {
    "cell-under-two-validations": _two_validations,
    "duplicate-conditional-format": _translated_duplicate,
    "merged-ranges-overlap": lambda wb: wb.active.merge_cells("B1:C2"),
    "validation-formula-too-long": _long_validation,
    "validation-text-too-long": _long_error,
    "sheet-name-length": lambda wb: setattr(wb.active, "title", "Khen thưởng (định mức) của cấp tỉnh"),
    "defined-name-illegal": lambda wb: wb.defined_names.add(DefinedName("KQ1", attr_text="'Kết quả'!$A$1")),
    "formula-without-cached-value": lambda wb: wb.active.cell(3, 8, "=SUM(C3:C9)"),
    "row-too-tall": lambda wb: setattr(wb.active.row_dimensions[5], "height", 420),
    "column-too-wide": lambda wb: setattr(wb.active.column_dimensions["K"], "width", 300),
}


@pytest.mark.parametrize("rule", sorted(FAULTS))
def test_each_rule_is_caught(rule):
    wb = _base()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl's own warning on a long sheet name
        FAULTS[rule](wb)
    assert _rules(_written(wb)) == [rule]


@pytest.mark.parametrize(
    ("name", "rule"),
    [("Khac[1]", "sheet-name-illegal"), ("'Khac", "sheet-name-illegal"), ("Khac?", "sheet-name-illegal"),
     ("History", "sheet-name-illegal"), ("KET QUA", "sheet-name-duplicate"), ("", "sheet-name-length")],
)  # fmt: skip
def test_sheet_names_openpyxl_would_refuse(name, rule):
    wb = _base()
    wb.active.title = "Ket qua"
    wb.create_sheet("Khac")
    data = _patched(_written(wb), "xl/workbook.xml", b'name="Khac"', f'name="{name}"'.encode())
    assert _rules(data) == [rule]


def test_the_sheet_that_opens_is_visible():
    """(openpyxl itself moves the active tab off a hidden sheet; another writer may not.)"""
    wb = _base()
    wb.active.title = "Ket qua"
    wb.create_sheet("Khac")
    data = _patched(_written(wb), "xl/workbook.xml", b'"Ket qua" sheetId="1" state="visible"',
                    b'"Ket qua" sheetId="1" state="hidden"')  # fmt: skip
    assert _rules(data) == ["active-sheet-hidden"]


def test_merge_of_one_cell():
    data = _patched(_written(_base()), "xl/worksheets/sheet1.xml", b'ref="A1:B1"', b'ref="A1:A1"')
    assert _rules(data) == ["merge-single-cell"]


@pytest.mark.parametrize(
    ("name", "legal"),
    [
        ("KQ_GDHT_2020_TS", True), ("DS_DONVI", True), ("_xlnm.Print_Titles", True), ("Tên_vùng", True),
        ("XFE1", True), ("\\ghi_chu", True), ("A1", False), ("xfd1048576", False), ("R1C1", False),
        ("r", False), ("C", False), ("R2", False), ("có dấu cách", False), ("1KQ", False), ("KQ-1", False),
        ("", False), ("K" * 256, False),
    ],
)  # fmt: skip
def test_defined_name_legality(name, legal):
    assert xlsxrules.name_is_legal(name) is legal


@given(st.lists(st.integers(1, 60), max_size=40))
def test_runs_are_disjoint_and_cover_each_row_once(rows):
    runs = templates._runs(rows)
    covered = [r for first, last in runs for r in range(first, last + 1)]
    assert covered == sorted(set(rows))
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(runs))


def test_a_broken_workbook_of_ours_is_never_saved(tmp_path):
    target = tmp_path / "mau.xlsx"
    target.write_bytes(b"the previous file")
    wb = templates.new_workbook()
    wb.active.merge_cells("A1:B2")
    wb.active.merge_cells("B2:C3")
    with pytest.raises(fileio.OutputError, match="merged-ranges-overlap"):
        fileio.save_workbook(wb, target)
    assert target.read_bytes() == b"the previous file"
    assert [p.name for p in tmp_path.iterdir()] == ["mau.xlsx"]


def test_a_workbook_we_did_not_build_is_saved_as_it_is(tmp_path):
    """The add-in saves a clerk's own workbook: its faults are not ours to refuse."""
    wb = _base()
    _two_validations(wb)
    path = fileio.save_workbook(wb, tmp_path / "cua_xa.xlsx")
    assert _rules(path.read_bytes()) == ["cell-under-two-validations"]


def test_cached_values_are_what_a_reader_that_does_not_calculate_sees(plan, tmp_path):
    """calamine, like a mail or phone preview, shows stored formula results: they are there and right."""
    lay = layout.build(plan, "chung")
    values = entries_with_faults(plan, random.Random(3))
    path = fileio.save_workbook(templates.build_workbook(plan, "xa", values=values), tmp_path / "xa.xlsx")
    book = CalamineWorkbook.from_path(str(path))
    grids = {s: book.get_sheet_by_name(s).to_python(skip_empty_area=False) for s in lay.sheets.values()}

    def at(sheet: str, ref: str):
        row, col = _rc(ref)
        return grids[sheet][row - 1][col - 1]

    checked = 0
    for ind in plan.rate_indicators():
        previous = None
        for m in plan.milestones:
            num, den = values.get(("kq", ind.code, m, "num")), values.get(("kq", ind.code, m, "den"))
            rate = templates.rate_value(num, den)
            verdict = templates.verdict_value(plan.target(ind.code, m), rate, previous)
            previous = rate
            got_rate = at(lay.sheets["results"], lay.formulas[("kq", ind.code, m, "rate")].ref)
            assert got_rate == (rate if rate != "" else ""), (ind.code, m, num, den)
            assert at(lay.sheets["results"], lay.formulas[("kq", ind.code, m, "verdict")].ref) == verdict
            checked += rate != ""
    assert checked > 10  # some rows do have a rate
    total = lay.formulas[("kp", "KP_XHH", "total")]
    amounts = [values.get(("kp", "KP_XHH", y)) for y in plan.settings.funding_years]
    assert at(total.sheet, total.ref) == templates.sum_value(amounts)
    name = at(lay.sheets["unit"], f"B{lay.unit_rows['unit_name']}")
    assert name == plan.unit("27712").name + " (" + plan.unit(plan.unit("27712").parent).name + ")"


def _rc(ref: str) -> tuple[int, int]:
    m = re.match(r"([A-Z]+)(\d+)$", ref)
    assert m is not None
    return int(m.group(2)), layout.col_number(m.group(1))


def test_caching_changes_only_the_formula_cells(plan):
    wb = templates.build_workbook(plan, "xa", values={("kq", "GDHT", 2020, "num"): 5, ("kq", "GDHT", 2020, "den"): 8})
    raw = _written(wb)
    cached = xlsxrules.write_cached(raw, xlsxrules.cached_values(wb))
    with zipfile.ZipFile(io.BytesIO(raw)) as a, zipfile.ZipFile(io.BytesIO(cached)) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            before, after = a.read(name), b.read(name)
            if not name.startswith("xl/worksheets/"):
                assert before == after, name
                continue
            assert _without_results(before) == _without_results(after), name


def _without_results(xml: bytes) -> list:
    """Each element as (tag, attributes, text), formula cells' result and type left out."""
    root = ET.fromstring(xml)
    out = []
    for el in root.iter():
        attrs = dict(el.attrib)
        text = el.text
        if el.tag.endswith("}c") and el.find("{*}f") is not None:
            attrs.pop("t", None)
        if el.tag.endswith("}v"):
            text = None
        out.append((el.tag, sorted(attrs.items()), text))
    return out


def test_every_template_kind_passes(plan, official_templates, district_templates):
    """The official set and one per district, as ``templates.write_templates`` writes them (once per
    session: tests/conftest.py)."""
    paths = official_templates + district_templates
    assert len(paths) == 14 + len(plan.units_at("huyen"))
    for path in paths:
        assert xlsxrules.problems(Path(path)) == [], path.name


def test_every_workbook_the_demo_writes_passes(demo_run):
    """Templates, the districts' and the province's consolidated workbooks, returned copies and the
    award list, as written: no rule broken, every formula with its cached result."""
    folder = demo_run.folder
    kinds = {
        "templates": sorted((folder / "mau_bieu").glob("*.xlsx")),
        "district": sorted(demo_run.outputs["districts"].glob("*_tong_hop.xlsx")),
        "province": [demo_run.outputs["province"]],
        "returned": sorted(demo_run.outputs["returned"].rglob("*.xlsx")),
        "awards": [demo_run.outputs["awards"]],
    }
    for kind, paths in kinds.items():
        assert paths, kind
        for path in paths:
            assert xlsxrules.problems(path) == [], (kind, path.name)


def test_a_formula_changed_after_it_was_written_gets_no_cached_value(plan):
    """Nor does a formula depending on it: a cached result is never a guess."""
    lay = layout.build(plan, "chung")
    wb = templates.build_workbook(plan, "xa", values={("kq", "GDHT", 2020, "num"): 5, ("kq", "GDHT", 2020, "den"): 8})
    rate, verdict = (lay.formulas[("kq", "GDHT", 2020, p)] for p in ("rate", "verdict"))
    before = xlsxrules.cached_values(wb)[rate.sheet]
    assert before[rate.ref] == 62.5 and before[verdict.ref] != ""
    wb[rate.sheet][rate.ref] = "=1/3"
    after = xlsxrules.cached_values(wb)[rate.sheet]
    assert rate.ref not in after and verdict.ref not in after
    assert after[lay.formulas[("kq", "GDHT", 2015, "rate")].ref] == ""  # the others still known


# -- rows written into the sheet XML at save time (xlsxcopy.defer_rows) --------------------------

_PLAIN_ROWS = [
    ["A-1", 2020, 12.5, None, True, dt.date(2020, 8, 10), "=SUM(A1:A2)", " lead and trail ", "Xã Mỹ Yên & <Bến>"],
    ["", 0, -0.125, 1e-9, False, dt.datetime(2020, 8, 31, 17, 5), "+1", "a\r\nb", 123456789012345],
    [None, None, None, None, None, None, None, None, None],
    ["x", 3, float("inf"), 7, None, None, "'quoted", "tab\there", 2.0],
    # values met before in their column, NaN (which equals no other NaN) in a styled and an unstyled column
    ["x", 2020, float("nan"), 7, True, dt.date(2020, 8, 10), float("nan"), " lead and trail ", 2.0],
    ["A-1", 3, float("nan"), 1e-9, True, None, float("nan"), "a\r\nb", 2.0],
]
_PLAIN_FORMATS = [None, "0", "#,##0.0", "#,##0", None, "dd/mm/yyyy", None, None, "#,##0"]


def _sheet_data(data: bytes, title: str) -> tuple[bytes, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        xml = zf.read(xlsxrules._sheet_parts(zf)[title])
    return re.search(rb"<dimension[^>]*>", xml).group(0), re.search(rb"<sheetData>.*</sheetData>", xml, re.S).group(0)


def test_deferred_rows_are_the_cells_openpyxl_writes(tmp_path):
    """The same header and rows written by openpyxl cell by cell and by ``defer_rows``: the sheet
    XML is byte for byte the same (styles, types, dates, escaping, spaces, the dimension), and a
    "=..." text stays text on both paths."""
    from xhht_xl import xlsxcopy

    written = {}
    for how in ("openpyxl", "deferred"):
        wb = Workbook()
        ws = wb.active
        ws.title = "Chi tiết"
        ws.append([f"cột {i}" for i in range(1, 10)])
        if how == "openpyxl":
            for r, row in enumerate(_PLAIN_ROWS, start=2):
                ws.append(row)
                for c, fmt in enumerate(_PLAIN_FORMATS, start=1):
                    if isinstance(row[c - 1], str):
                        ws.cell(r, c).data_type = "s"
                    if fmt:
                        ws.cell(r, c).number_format = fmt
        else:
            styles = [xlsxcopy.column_style(ws, number_format=f) if f else None for f in _PLAIN_FORMATS]
            xlsxcopy.defer_rows(ws, 2, _PLAIN_ROWS, styles)
        fileio.save_workbook(wb, tmp_path / f"{how}.xlsx")
        written[how] = (tmp_path / f"{how}.xlsx").read_bytes()
    assert _sheet_data(written["deferred"], "Chi tiết") == _sheet_data(written["openpyxl"], "Chi tiết")
    assert b'<dimension ref="A1:I7"/>' in _sheet_data(written["deferred"], "Chi tiết")[0]
    rows = CalamineWorkbook.from_path(str(tmp_path / "deferred.xlsx")).get_sheet_by_name("Chi tiết").to_python()
    assert rows[1][0] == "A-1" and rows[1][6] == "=SUM(A1:A2)" and rows[2][6] == "+1"
    assert rows[1][5] == dt.date(2020, 8, 10) and rows[1][7] == " lead and trail "
    assert xlsxrules.problems(written["deferred"]) == []


def test_deferred_rows_drop_what_xml_cannot_hold_and_never_collide(tmp_path):
    from xhht_xl import xlsxcopy

    wb = Workbook()
    ws = wb.active
    ws.append(["head"])
    xlsxcopy.defer_rows(ws, 2, [["a\x01b\x1f" + "x" * 40_000]], [None])
    with pytest.raises(ValueError):
        xlsxcopy.defer_rows(ws, 3, [["again"]], [None])  # one block a sheet
    ws.title = "Đổi tên"  # the rows follow the sheet, not the title it had
    fileio.save_workbook(wb, tmp_path / "ok.xlsx")
    value = CalamineWorkbook.from_path(str(tmp_path / "ok.xlsx")).get_sheet_by_name("Đổi tên").to_python()[1][0]
    assert value.startswith("abx") and len(value) == xlsxcopy.TEXT_MAX
    wb = Workbook()
    ws = wb.active
    ws.append(["head"])
    xlsxcopy.defer_rows(ws, 2, [["row"]], [None])
    ws["A2"] = "placed after"  # a cell openpyxl writes where the rows go: refused, not overwritten
    with pytest.raises(ValueError):
        fileio.save_workbook(wb, tmp_path / "collide.xlsx")
    assert not (tmp_path / "collide.xlsx").exists()


def test_deferred_rows_drop_the_noncharacters_and_surrogates_xml_cannot_hold(tmp_path):
    """U+FFFE, U+FFFF and lone surrogates are no XML characters either: written as they are, the
    sheet is not well-formed (openpyxl cannot load it, LibreOffice shows the sheet empty) or, in
    UTF-8, the save fails; ``defer_rows`` drops them as it drops control characters."""
    import openpyxl

    from xhht_xl import xlsxcopy

    wb = Workbook()
    ws = wb.active
    ws.append(["head"])
    xlsxcopy.defer_rows(ws, 2, [["a\ufffeb\uffffc\ud800d\udfffe", "Tiếng 😀"]], [None, None])
    fileio.save_workbook(wb, tmp_path / "ok.xlsx")
    assert openpyxl.load_workbook(tmp_path / "ok.xlsx").active["A2"].value == "abcde"
    rows = CalamineWorkbook.from_path(str(tmp_path / "ok.xlsx")).get_sheet_by_name(ws.title).to_python()
    assert rows[1] == ["abcde", "Tiếng 😀"]


_STAMP = re.compile(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>")


def _parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: _STAMP.sub(b"", zf.read(name)) for name in zf.namelist()}


def test_one_pass_save_is_openpyxl_save_then_finished(plan):
    """``fileio.workbook_bytes`` (sheets serialised in memory, edited on their way into the zip)
    gives every part, in the same order, that openpyxl's save followed by ``finished_bytes`` gives:
    a template with cached formula results, plus a sheet of rows written at save time. (Each
    workbook is saved once: openpyxl's save changes the workbook, a second one differs.)"""
    from xhht_xl import xlsxcopy

    values = entries_with_faults(plan, random.Random(3))

    def book():
        wb = templates.build_workbook(plan, "xa", values=values)
        ws = wb.create_sheet("Chi tiết")
        ws.append([f"cột {i}" for i in range(1, 10)])
        styles = [xlsxcopy.column_style(ws, number_format=f) if f else None for f in _PLAIN_FORMATS]
        xlsxcopy.defer_rows(ws, 2, _PLAIN_ROWS, styles)
        return wb

    one_pass = fileio.workbook_bytes(book(), "x.xlsx")
    wb = book()
    two_passes = fileio.finished_bytes(wb, _written(wb), "x.xlsx")
    a, b = _parts_of(one_pass), _parts_of(two_passes)
    assert list(a) == list(b)
    # ours writes worksheets in UTF-8, openpyxl in ASCII with a character reference per other letter
    sheets = [name for name in a if name.startswith("xl/worksheets/")]
    assert sheets and not any(re.search(rb"&#(?:1[2-9][0-9]|[2-9][0-9]{2}|[0-9]{4,});", a[n]) for n in sheets)
    assert sum(map(len, (a[n] for n in sheets))) < sum(map(len, (b[n] for n in sheets)))
    utf8 = {n: _CHAR_REF.sub(lambda m: chr(int(m[1])).encode() if int(m[1]) > 127 else m[0], b[n]) for n in sheets}
    assert [name for name in a if a[name] != utf8.get(name, b[name])] == []
    assert xlsxrules.problems(one_pass) == []
    wb = book()
    wb["_meta"].merge_cells("K1:L2")
    wb["_meta"].merge_cells("L2:M3")
    with pytest.raises(fileio.OutputError, match="merged-ranges-overlap"):  # checked on the parts written
        fileio.workbook_bytes(wb, "x.xlsx")


def test_deferred_styled_rows_are_the_cells_openpyxl_writes(tmp_path):
    """A styled table (each column's style, some cells marked with a fill or a number format of
    their own, rows with heights) written by openpyxl cell by cell and by ``defer_rows``: the same
    sheet XML and the same cell formats (styles numbered as openpyxl numbers them)."""
    from openpyxl.styles import Alignment, Border, Side

    from xhht_xl import xlsxcopy

    thin = Side(style="thin")
    written = {}
    for how in ("openpyxl", "deferred"):
        wb = Workbook()
        ws = wb.active
        ws.title = "Tổng hợp"
        ws.append([f"cột {i}" for i in range(1, 10)])
        ws["A1"].fill = GREEN
        protos = [xlsxcopy.cell_style(ws, border=Border(left=thin, bottom=thin), alignment=Alignment(wrap_text=i % 2 == 0),
                                      **({"number_format": f} if f else {})) for i, f in enumerate(_PLAIN_FORMATS)]  # fmt: skip
        marks = {(2, 3): {"fill": RED}, (4, 3): {"fill": GREEN}, (5, 2): {"number_format": "0.00"}, (3, 9): {"fill": RED}}
        marked = {rc: xlsxcopy.cell_style(ws, base=protos[rc[1] - 1], **attrs) for rc, attrs in marks.items()}
        heights = {2: 30.5, 4: 409.5}
        if how == "openpyxl":
            for r, row in enumerate(_PLAIN_ROWS, start=2):
                ws.append(row)
                for c in range(1, 10):
                    cell = ws.cell(r, c)
                    if isinstance(row[c - 1], str):
                        cell.data_type = "s"
                    cell._style = copy.copy(marked.get((r, c), protos[c - 1]))
                if r in heights:
                    ws.row_dimensions[r].height = heights[r]
        else:
            xlsxcopy.defer_rows(ws, 2, _PLAIN_ROWS, protos, heights, marked)
        fileio.save_workbook(wb, tmp_path / f"{how}.xlsx")
        written[how] = (tmp_path / f"{how}.xlsx").read_bytes()
    assert _sheet_data(written["deferred"], "Tổng hợp") == _sheet_data(written["openpyxl"], "Tổng hợp")
    xfs = [re.search(rb"<cellXfs.*</cellXfs>", _parts_of(written[how])["xl/styles.xml"]).group(0) for how in written]
    assert xfs[0] == xfs[1] and xfs[0].count(b"<xf ") > 10
    assert b' ht="30.5" customHeight="1"' in _sheet_data(written["deferred"], "Tổng hợp")[1]
