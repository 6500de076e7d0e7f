"""The returned copy: a fresh template with the sender's values, issue cells marked, a list sheet."""

from __future__ import annotations

import os
import re
import zipfile

import openpyxl
import pytest
from helpers import clean_values, write_book

from xhht_xl import layout, lo, messages, validate
from xhht_xl.returned import FILLS, ReturnError, place_issues, write_returned_copy

SHEET = messages.text("returned.sheet")
NARRATIVE_FORMULA = '=HYPERLINK("http://example.vn/bao-cao","Xem báo cáo") và =1+1'
COLOURS = {f.fgColor.rgb[-6:] for f in FILLS.values()}
ERROR_TEXTS = ("#VALUE!", "#REF!", "#NAME?", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "Err:")


def faulty_values(plan) -> dict:
    """A commune's submission with errors, warnings and an empty narrative item."""
    values = clean_values(plan)
    values[("kq", "GDHT", 2020, "num")] = -3  # count-negative (error)
    values[("kq", "DHHT", 2015, "num")] = 900  # num-exceeds-den (error)
    values[("kq", "DHHT", 2015, "den")] = 100
    values[("kq", "GDHT", 2015, "den")] = "1.234.567"  # number-as-text (warning)
    values[("kq", "GDHT", 2015, "num")] = 1000
    values[("kp", "KP_XHH", 2016)] = "nhiều"  # value-invalid (error)
    values[("bc", "I.1")] = NARRATIVE_FORMULA  # a sender's text that looks like a formula
    values.pop(("bc", "III.4"))  # narrative-empty (warning), reported at the layout address
    values.pop(("unit", "phone"))  # unit-info-missing (warning)
    return values


def _inserted_rows(plan):
    lay = layout.build(plan, "chung")

    def mutate(wb):
        wb.security.lockStructure = False
        for role, row, n in (("results", 8, 2), ("narrative", 5, 1)):
            ws = wb[lay.sheets[role]]
            ws.protection.sheet = False
            ws.insert_rows(row, amount=n)
        wb[lay.sheets["funding"]].title = "KP"

    return mutate


def _template_cells(wb):
    """Every cell of the template sheets (not the list) that carries a mark or a comment."""
    filled, commented = set(), set()
    for ws in wb.worksheets[1:]:
        for row in ws.iter_rows():
            for c in row:
                if c.fill is not None and c.fill.fill_type == "solid" and c.fill.fgColor.rgb[-6:] in COLOURS:
                    filled.add((ws.title, c.coordinate))
                if c.comment is not None:
                    commented.add((ws.title, c.coordinate))
    return filled, commented


def _links(ws):
    """Rows of the list sheet: (severity, sheet, cell, text, link location or None)."""
    out = []
    for row in ws.iter_rows(min_row=5):
        if row[0].value is None:
            continue
        link = row[3].hyperlink.location if row[3].hyperlink is not None else None
        assert all((c.hyperlink.location if c.hyperlink else None) == link for c in row[:4] if c.value)
        out.append((row[0].value, row[1].value, row[2].value, row[3].value, link))
    return out


def _target(wb, location):
    m = re.fullmatch(r"'([^']+)'!([A-Z]+[0-9]+)", location)
    assert m, location
    assert m.group(1) in wb.sheetnames
    return wb[m.group(1)][m.group(2)]


@pytest.mark.parametrize("moved", [False, True], ids=["as-issued", "rows-inserted"])
def test_returned_copy(tmp_path, plan, moved):
    values = faulty_values(plan)
    src = write_book(
        tmp_path / "in" / "bao_cao.xlsx", plan, "xa", values, _inserted_rows(plan) if moved else None
    )
    before = (src.read_bytes(), os.stat(src).st_mtime_ns)
    v = validate(src, plan)
    codes = set(v.report.codes())
    assert {"count-negative", "num-exceeds-den", "number-as-text", "value-invalid", "narrative-empty",
            "unit-info-missing"} <= codes  # fmt: skip
    if moved:  # the issue cells name the sender's (shifted) cells
        issue = next(i for i in v.report if i.code == "count-negative")
        assert issue.cell != layout.build(plan, "chung").inputs[("kq", "GDHT", 2020, "num")].ref

    out = write_returned_copy(v, plan, tmp_path / "out")
    assert out == tmp_path / "out" / "bao_cao_tra_lai.xlsx"
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before, "the received file is never touched"

    lay = layout.build(plan, "chung")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == SHEET and wb.active.title == SHEET
    assert wb.sheetnames[1:7] == [
        lay.sheets[r] for r in ("guide", "unit", "results", "funding", "awards", "narrative")
    ]
    # every sheet a clerk may print, the list of issues included: A4, fit to width, «Trang x/y» (CLERK.md)
    for ws in wb.worksheets:
        if ws.sheet_state == "visible":
            assert ws.oddFooter.center.text == "Trang &P/&N", ws.title
            assert (int(ws.page_setup.paperSize), int(ws.page_setup.fitToWidth)) == (9, 1), ws.title  # A4
    assert wb[SHEET].print_title_rows == "$4:$4"
    rows = _links(wb[SHEET])
    assert len(rows) == len(v.report)
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), key=["Lỗi", "Cảnh báo", "Ghi chú"].index)

    # Every issue tied to an input lands on the layout cell of that input in the copy.
    expected_at = {
        "count-negative": ("kq", "GDHT", 2020, "num"),
        "num-exceeds-den": ("kq", "DHHT", 2015, "num"),
        "number-as-text": ("kq", "GDHT", 2015, "den"),
        "value-invalid": ("kp", "KP_XHH", 2016),
        "narrative-empty": ("bc", "III.4"),
        "unit-info-missing": ("unit", "phone"),
    }
    linked = {}
    for (_sev, sheet, ref, text, link), issue in zip(rows, _sorted(v.report), strict=True):
        assert text and "\n" not in text and not text.startswith("Tệp ")
        if not issue.cell:
            assert ref is None
        if link is None:
            assert not issue.cell
            continue
        target = _target(wb, link)
        if issue.cell:
            assert (sheet, ref) == (target.parent.title, target.coordinate)
        linked.setdefault(issue.code, set()).add((target.parent.title, target.coordinate))
    for code, key in expected_at.items():
        cell = lay.inputs[key]
        assert (cell.sheet, cell.ref) in linked[code], (code, linked.get(code))

    # The sender's values, as typed, in the cells the links point to.
    sub = v.submission
    for key in ("count-negative", "number-as-text", "value-invalid"):
        k = expected_at[key]
        cell = lay.inputs[k]
        assert wb[cell.sheet][cell.ref].value == sub.entries[k].raw
    den = lay.inputs[("kq", "GDHT", 2015, "den")]
    assert wb[den.sheet][den.ref].value == "1.234.567" and wb[den.sheet][den.ref].data_type == "s"
    narrative = lay.inputs[("bc", "I.1")]
    c = wb[narrative.sheet][narrative.ref]
    assert (c.value, c.data_type) == (NARRATIVE_FORMULA, "s")

    # Highlighted and commented cells are exactly the issue cells; red beats orange.
    marked = {p for links in linked.values() for p in links if p[0] != SHEET}
    marked = {p for p in marked if not p[1] == "A1"}  # sheet-level issues link to A1, unmarked
    filled, commented = _template_cells(wb)
    assert filled == commented == marked
    neg = lay.inputs[("kq", "GDHT", 2020, "num")]
    assert wb[neg.sheet][neg.ref].fill.fgColor.rgb[-6:] == FILLS["error"].fgColor.rgb[-6:]
    assert "không được âm" in wb[neg.sheet][neg.ref].comment.text
    phone = lay.inputs[("unit", "phone")]
    assert wb[phone.sheet][phone.ref].fill.fgColor.rgb[-6:] == FILLS["warning"].fgColor.rgb[-6:]
    # No conditional format of the template over a marked cell: its colour is the legend's.
    for sheet, ref in marked:
        covering = [str(cf.sqref) for cf in wb[sheet].conditional_formatting if ref in cf.sqref]
        assert not covering, (sheet, ref, covering)
    unmarked = lay.inputs[("kq", "DHHT", 2015, "den")]  # red by the template's own format, still
    assert any(unmarked.ref in cf.sqref for cf in wb[unmarked.sheet].conditional_formatting)

    # Still a protected template (no password), and the copy reads back as the same submission.
    for role in ("unit", "results", "funding", "narrative"):
        ws = wb[lay.sheets[role]]
        assert ws.protection.sheet and not ws.protection.password
    again = validate(out, plan).submission
    assert {k: e.value for k, e in again.entries.items()} == {k: e.value for k, e in sub.entries.items()}
    assert again.entries[("bc", "I.1")].value == NARRATIVE_FORMULA


def _sorted(report):
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(report, key=lambda i: rank[i.severity])


def test_formula_looking_text_is_stored_as_text(tmp_path, plan):
    """In the file itself: a shared/inline string, no <f> element anywhere near the narrative."""
    values = clean_values(plan)
    values[("bc", "I.1")] = NARRATIVE_FORMULA
    values[("unit", "reporter")] = "=1+1"
    values[("kq", "GDHT", 2020, "num")] = -1
    src = write_book(tmp_path / "x.xlsx", plan, "xa", values)
    out = write_returned_copy(validate(src, plan), plan, tmp_path)
    lay = layout.build(plan, "chung")
    with zipfile.ZipFile(out) as z:
        xml = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    assert b"HYPERLINK" in xml  # the text is there, as a string ...
    assert not re.search(rb"<f>[^<]*(HYPERLINK|1\+1)", xml)  # ... never as a formula
    wb = openpyxl.load_workbook(out)
    for key, text in ((("bc", "I.1"), NARRATIVE_FORMULA), (("unit", "reporter"), "=1+1")):
        cell = lay.inputs[key]
        assert (wb[cell.sheet][cell.ref].value, wb[cell.sheet][cell.ref].data_type) == (text, "s")


def test_unit_typed_as_bare_code_stays_as_typed(tmp_path, plan):
    values = clean_values(plan)
    values[("kq", "GDHT", 2020, "num")] = -1

    def mutate(wb):
        cell = layout.build(plan, "chung").inputs[("unit", "unit")]
        wb[cell.sheet][cell.ref].value = "27712"

    src = write_book(tmp_path / "x.xlsx", plan, "xa", values, mutate)
    out = write_returned_copy(validate(src, plan), plan, tmp_path / "out")
    cell = layout.build(plan, "chung").inputs[("unit", "unit")]
    assert openpyxl.load_workbook(out)[cell.sheet][cell.ref].value == "27712"


def test_unreadable_file_has_no_returned_copy(tmp_path, plan):
    bad = tmp_path / "rong.xlsx"
    bad.write_bytes(b"")
    with pytest.raises(ReturnError):
        write_returned_copy(validate(bad, plan), plan, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def lo_copies(tmp_path_factory, plan, soffice):
    """Returned copies of the same submission received as .xlsx, .xls and .ods, then re-saved by
    LibreOffice (which recalculates every formula on load)."""
    work = tmp_path_factory.mktemp("returned-lo")
    src = write_book(work / "src" / "bao_cao.xlsx", plan, "xa", faulty_values(plan))
    saved = lo.convert_each([src], ["xls", "ods"], work / "lo", work)  # one load, both formats
    (xls,), (ods,) = saved["xls"], saved["ods"]
    copies, validations = [], []
    for path in (src, xls, ods):
        stamp = (path.read_bytes(), os.stat(path).st_mtime_ns)
        v = validate(path, plan)
        copies.append(write_returned_copy(v, plan, work / f"copy-{path.suffix[1:]}"))
        assert (path.read_bytes(), os.stat(path).st_mtime_ns) == stamp
        validations.append(v)
    return validations, copies, _convert_each(copies, work)


def _convert_each(copies, work):
    """One soffice run for all copies (they share a file name, so link them under distinct names)."""
    staged = []
    for i, c in enumerate(copies):
        dst = work / "stage" / f"ban_{i}.xlsx"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(c, dst)
        staged.append(dst)
    return lo.convert(staged, "xlsx", work / "resaved", work)


@pytest.mark.libreoffice
def test_returned_copy_of_xls_and_ods(plan, lo_copies):
    validations, copies, _ = lo_copies
    lay = layout.build(plan, "chung")
    first = None
    for v, copy in zip(validations, copies, strict=True):
        assert v.submission.kind in ("xlsx", "xls", "ods")
        assert copy.name == "bao_cao_tra_lai.xlsx"
        wb = openpyxl.load_workbook(copy)
        rows = _links(wb[SHEET])
        assert len(rows) == len(v.report)
        den = lay.inputs[("kq", "GDHT", 2015, "den")]
        assert wb[den.sheet][den.ref].value == "1.234.567"
        narrative = lay.inputs[("bc", "I.1")]
        assert (wb[narrative.sheet][narrative.ref].value, wb[narrative.sheet][narrative.ref].data_type) == (
            NARRATIVE_FORMULA,
            "s",
        )
        cells = sorted((r[1], r[2]) for r in rows if r[4])
        if first is None:
            first = cells
        assert cells == first, v.submission.kind  # same issues, same cells whatever the format


@pytest.mark.libreoffice
def test_returned_copy_opens_in_libreoffice(plan, lo_copies):
    validations, _, resaved = lo_copies
    lay = layout.build(plan, "chung")
    for v, path in zip(validations, resaved, strict=True):
        wb = openpyxl.load_workbook(path, data_only=True)
        assert wb.sheetnames[0] == SHEET
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                for value in row:
                    assert not (isinstance(value, str) and value.startswith(ERROR_TEXTS)), (ws.title, value)
        # Values computed by LibreOffice: a clean row's rate and the typed values are there.
        sub = v.submission
        rate = lay.formulas[("kq", "XMC_BC_15_35", 2015, "rate")]
        num, den = (
            sub.number(("kq", "XMC_BC_15_35", 2015, "num")),
            sub.number(("kq", "XMC_BC_15_35", 2015, "den")),
        )
        assert wb[rate.sheet][rate.ref].value == pytest.approx(num / den * 100)
        narrative = lay.inputs[("bc", "I.1")]
        assert wb[narrative.sheet][narrative.ref].value == NARRATIVE_FORMULA


@pytest.mark.libreoffice
def test_rejected_rows_show_no_rate_in_the_returned_copy(plan, lo_copies):
    """Recalculated by LibreOffice, a row with an error on its counts has no rate and no verdict."""
    validations, _, resaved = lo_copies
    lay = layout.build(plan, "chung")
    for v, path in zip(validations, resaved, strict=True):
        wb = openpyxl.load_workbook(path, data_only=True)
        rows = set()
        for p in place_issues(v.submission, plan, lay, v.report):
            if p.key is not None and p.key[0] == "kq" and p.issue.severity == "error":
                rows.add(p.key[1:3])
        assert {("GDHT", 2020), ("DHHT", 2015)} <= rows
        for code, m in rows:
            for part in ("rate", "verdict"):
                cell = lay.formulas[("kq", code, m, part)]
                assert wb[cell.sheet][cell.ref].value in (None, ""), (v.submission.kind, code, m, part)


def _html_cells(html: str) -> list[tuple[str, str]]:
    """(background colour, text) of each cell LibreOffice exported (conditional formats applied)."""
    out = []
    for m in re.finditer(r"<td([^>]*)>(.*?)</td>", html, re.S):
        colour = re.search(r'bgcolor="#([0-9A-Fa-f]{6})"', m.group(1))
        text = " ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split())
        out.append(((colour.group(1).upper() if colour else ""), text))
    return out


@pytest.mark.libreoffice
def test_returned_copy_colours_match_its_legend(plan, lo_copies, tmp_path):
    """As LibreOffice paints it: a warning cell is orange (not the template's red), an error red."""
    _, copies, _ = lo_copies
    (html,) = lo.convert([copies[0]], "html", tmp_path / "html", tmp_path / "work", locale="vi-VN")
    cells = _html_cells(html.read_text(encoding="utf-8", errors="replace"))
    colour = {s: f.fgColor.rgb[-6:].upper() for s, f in FILLS.items()}
    warning = messages.text("returned.severity-warning")
    error = messages.text("returned.severity-error")
    typed = [c for c in cells if c[1].endswith("1.234.567")]  # the sender's text (after its note): a warning
    assert typed and all(bg == colour["warning"] for bg, _ in typed), typed
    marked = [c for c in cells if f"{warning}:" in c[1] or f"{error}:" in c[1]]
    assert len(marked) >= 6
    for bg, text in marked:
        worst = "error" if f"{error}:" in text else "warning"
        assert bg == colour[worst], (bg, text)
