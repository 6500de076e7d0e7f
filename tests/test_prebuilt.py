"""Templates written again at the XML level (``templates.Prebuilt``) and the consolidated workbooks
made from them: byte for byte what openpyxl builds and saves, for every unit of a kind."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import io
import random
import re
import zipfile
from collections import defaultdict

import pytest
from helpers import clean_values, entries_with_faults
from openpyxl.utils.exceptions import IllegalCharacterError

from xhht_xl import fileio, layout, outputs, templates, xlsxcopy

_STAMPS = (
    re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>"),  # the time of each save
    re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"),  # mark_output's xhht_written
)


def _parts(data: bytes) -> dict[str, bytes]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            raw = zf.read(name)
            if name.startswith("docProps/"):
                for stamp in _STAMPS:
                    raw = stamp.sub(b"", raw)
            out[name] = raw
    return out


def _same(a: bytes, b: bytes) -> None:
    pa, pb = _parts(a), _parts(b)
    assert list(pa) == list(pb)
    assert [name for name in pa if pa[name] != pb[name]] == []


def _odd_values(plan, unit: str | None = None) -> dict:
    """Entries with faults, and what a sender may type where text goes: a formula-looking text,
    spaces kept, a date in a text cell (openpyxl gives that cell a date format of its own)."""
    values = entries_with_faults(plan, random.Random(7))
    if unit is None:
        values.pop(("unit", "unit"))
    else:
        values[("unit", "unit")] = unit
    values[("unit", "date")] = dt.datetime(2020, 8, 14, 16, 30)
    values[("kt", 0, "name")] = "=HYPERLINK(\"http://x\")"
    values[("kt", 0, "note")] = dt.date(2020, 8, 1)
    values[("kt", 1, "summary")] = "  hai dòng\ncách  "
    values[("kt", 2, "note")] = 3  # a number where text goes
    values[("bc", "I.1")] = "Đã thực hiện: 1.234 lớp & <b>; ‘trích’"
    return values


def _bytes_both_ways(plan, level, unit, values, marked=(), made_for=None):
    """``save_workbook``'s bytes of the template built by openpyxl and written again from a
    prebuilt one (made for ``made_for``, another unit of the same kind, or ``unit`` itself)."""
    built = fileio.workbook_bytes(templates.build_workbook(plan, level, unit, values, marked=marked), "a.xlsx")
    pre = templates.Prebuilt(plan, level, made_for or unit, marked)
    return built, fileio.workbook_bytes(pre.workbook(unit, values), "b.xlsx")


def test_level_template_without_unit(plan):
    _same(*_bytes_both_ways(plan, "xa", None, _odd_values(plan)))


def test_every_district_from_one_prebuilt(plan):
    """The kind of template a district's consolidated workbook holds: one prebuilt serves every
    district (its list item, its meta record, its unit cell and what the formulas show of it)."""
    first, *others = plan.units_at("huyen")
    for i, unit in enumerate([first, *others]):
        values = clean_values(plan, level="huyen", unit=unit.code, seed=i)
        values.update({k: v for k, v in _odd_values(plan).items() if k[0] in ("kt", "bc")})
        _same(*_bytes_both_ways(plan, "huyen", unit, values, made_for=first))


def test_communes_and_departments(plan):
    """A commune's template from another commune's; each department from one of its kind (its own
    indicators and topic: departments of the same kind share one)."""
    a, b = plan.units_at("xa")[:2]
    _same(*_bytes_both_ways(plan, "xa", b, _odd_values(plan, b.code), made_for=a))
    lay = layout.build(plan, "so_nganh")
    kinds = defaultdict(list)
    for unit in plan.units_at("so_nganh"):
        kinds[templates.template_shape(plan, "so_nganh", unit, lay)].append(unit)
    for units in kinds.values():
        unit = units[-1]
        values = _odd_values(plan, unit.code)
        values[("bc", layout.TOPIC_ITEM)] = "Báo cáo chuyên đề của " + unit.name
        _same(*_bytes_both_ways(plan, "so_nganh", unit, values, made_for=units[0]))


def test_marked_cells_of_a_returned_copy(plan):
    lay = layout.build(plan, "chung")
    marked = [lay.inputs[("kq", code, 2020, part)] for code in list(lay.result_rows)[:5] for part in ("num", "den")]
    marked.append(lay.inputs[("kp", plan.settings.funding_sources[0], plan.settings.funding_years[0])])
    a, b = plan.units_at("xa")[2:4]
    _same(*_bytes_both_ways(plan, "xa", b, _odd_values(plan, b.code), marked=marked, made_for=a))


def test_what_the_xml_path_refuses(plan):
    """A unit of another kind, a value of a type only openpyxl writes, text XML cannot hold (refused
    as openpyxl refuses it) and a value without an input cell."""
    first, second = plan.units_at("huyen")[:2]
    pre = templates.Prebuilt(plan, "huyen", first)
    with pytest.raises(ValueError, match="kind"):
        pre.workbook(plan.units_at("so_nganh")[1])  # types its own indicators
    with pytest.raises(ValueError, match="kind"):
        pre.workbook(None)
    with pytest.raises(xlsxcopy.NotWritable):
        pre.workbook(second, {("kq", "GDHT", 2020, "num"): decimal.Decimal("12.5")})
    with pytest.raises(IllegalCharacterError):
        pre.workbook(second, {("bc", "I.1"): "a\x01b"})
    with pytest.raises(KeyError):
        pre.workbook(second, {("kq", "KHONG", 2020, "num"): 1})


def test_template_sheets_are_read_and_resized_through_the_prebuilt(plan):
    unit = plan.units_at("huyen")[0]
    lay = layout.build(plan, "chung")
    cell = lay.inputs[("unit", "reporter")]
    wb = templates.Prebuilt(plan, "huyen", unit).workbook(unit, {("unit", "reporter"): "Lê Văn A"})
    assert templates.cell_value(wb, cell.sheet, cell.row, cell.col) == "Lê Văn A"
    title = layout.build(plan, "chung").labels[layout.Cell(cell.sheet, 1, 1)]
    assert templates.cell_value(wb, cell.sheet, 1, 1) == title and wb[cell.sheet]._cells == {}
    templates.set_row_height(wb, cell.sheet, cell.row, 33.5)
    data = fileio.workbook_bytes(wb, "x.xlsx")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert f'<row r="{cell.row}" ht="33.5" customHeight="1">'.encode() in zf.read("xl/worksheets/sheet2.xml")


def test_consolidated_workbooks_both_ways(demo_run, tmp_path):
    """Every district's and the province's consolidated workbook from the prebuilt template and from
    openpyxl's build: the same bytes; so with a value only openpyxl writes (the prebuilt path falls
    back to the build)."""
    for c in [*demo_run.districts.values(), demo_run.province]:
        fast = outputs._write_workbook(c, tmp_path / "a" / "tong_hop.xlsx").read_bytes()
        slow = outputs._write_workbook(c, tmp_path / "b" / "tong_hop.xlsx", prebuilt=False).read_bytes()
        _same(fast, slow)
    c = copy.copy(demo_run.province)
    key = next(k for k, v in c.appendix.items() if k[0] == "kp" and isinstance(v, float))
    c.appendix = {**c.appendix, key: decimal.Decimal(repr(c.appendix[key]))}
    fallback = outputs._write_workbook(c, tmp_path / "a" / "tong_hop.xlsx").read_bytes()
    _same(fallback, outputs._write_workbook(c, tmp_path / "b" / "tong_hop.xlsx", prebuilt=False).read_bytes())
