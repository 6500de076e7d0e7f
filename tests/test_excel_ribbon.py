"""The ribbon handlers on the synthetic province, through the file-backed book (no Excel).

One demo run per session gives real received folders and district workbooks; every handler runs
once (module fixture ``run``) on copies, and the tests look at what a clerk would see: sheets,
colours, notes, hyperlinks, backups, files written. LibreOffice then opens the results.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest

from xhht_xl import coverage, demo, layout, lo, messages, read, templates
from xhht_xl.excel import registry, ribbon, udfs
from xhht_xl.excel.book import OpenpyxlBook
from xhht_xl.outputs import NOMINATION_HEADS, read_detail
from xhht_xl.pipeline import validate

T = messages.text
ERROR_VALUES = ("#VALUE!", "#REF!", "#NAME?", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "Err:")


@pytest.fixture(scope="session")
def province(demo_run):
    """The shared demo run (tests/conftest.py)."""
    return demo_run


def _district_book(province, code: str) -> Path:
    nhan = province.folder / "nhan"
    (f,) = [f for f in province.manifest.files if f.level == "huyen" and f.unit == code]
    return nhan / f.path


def _issue(province, code: str):
    return next(i for c in province.districts.values() for i in c.report if i.code == code and i.cell)


@dataclass
class Run:
    root: Path
    books: dict[str, OpenpyxlBook] = field(default_factory=dict)
    results: dict[str, bool] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def _copy_received(province, code: str, dst: Path) -> Path:
    src = demo._district_folder(province.folder / "nhan", code)
    shutil.copytree(src, dst / src.name, ignore=shutil.ignore_patterns(ribbon.RECEIVED_CSV, "xhht_intake"))
    # the received times of the files copied (every row of a received-at file must name a file)
    lines = (province.folder / "nhan" / ribbon.RECEIVED_CSV).read_text(encoding="utf-8").splitlines()
    rel = src.relative_to(province.folder / "nhan").as_posix() + "/"
    kept = [lines[0]] + [ln.replace(rel, src.name + "/", 1) for ln in lines[1:] if ln.startswith(rel)]
    (dst / ribbon.RECEIVED_CSV).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return dst / src.name


@pytest.fixture(scope="module")
def run(province, tmp_path_factory, plan) -> Run:
    root = tmp_path_factory.mktemp("ribbon")
    mp = pytest.MonkeyPatch()
    mp.setenv("LOCALAPPDATA", str(root / "appdata"))
    r = Run(root)
    bad = _issue(province, "num-exceeds-den")
    district = bad.unit and plan.units[bad.unit].parent
    received = _copy_received(province, district, root / "nhan")
    r.files.update(received=received, bad_file=received / bad.file)

    def press(tag: str, path: Path, **kw) -> OpenpyxlBook:
        book = OpenpyxlBook(path, **kw)
        r.results[tag] = ribbon.dispatch(tag, book)
        r.books[tag] = book
        return book

    # Kiểm tra: a commune's workbook with a planted error, opened by its clerk
    check = root / "xa" / bad.file
    check.parent.mkdir()
    shutil.copyfile(r.files["bad_file"], check)
    r.files.update(check=check, check_original=check.read_bytes())
    press("kiem_tra", check)
    # the district's own workbook for the buttons that consolidate
    for tag in ("lay_bao_cao", "tong_hop", "khen_thuong", "bao_cao", "huong_dan"):
        book = root / tag / f"{district}.xlsx"
        book.parent.mkdir()
        shutil.copyfile(_district_book(province, district), book)
        r.files[tag] = book
        press(tag, book, folders=received)
    # quotas: a district whose nominations exceed the quota
    over = next(code for code, c in province.districts.items() if "quota-exceeded" in c.report.codes())
    quota_received = _copy_received(province, over, root / "nhan_quota")
    r.files["quota"] = root / "quota" / f"{over}.xlsx"
    r.files["quota"].parent.mkdir()
    shutil.copyfile(_district_book(province, over), r.files["quota"])
    b = OpenpyxlBook(r.files["quota"], folders=quota_received)
    r.results["quota"], r.books["quota"] = ribbon.dispatch("khen_thuong", b), b
    r.files["templates"] = root / "mau"
    r.files["templates"].mkdir()
    press("tao_mau", r.files["lay_bao_cao"], folders=r.files["templates"])
    r.files["returned"] = root / "tra_lai"
    r.files["returned"].mkdir()
    press("tra_lai", r.files["lay_bao_cao"], folders={"received": received, "returned": r.files["returned"]})
    mp.undo()
    return r


def _wb(path: Path):
    return openpyxl.load_workbook(path)


def test_every_handler_finished(run):
    failed = {tag: run.books[tag].errors for tag, ok in run.results.items() if not ok}
    if "bao_cao" in failed and not _has_report():
        failed.pop("bao_cao")
    assert not failed
    for tag, book in run.books.items():
        assert all("\n" not in m for m in book.messages + book.errors), tag


def _has_report() -> bool:
    try:
        from xhht_xl import report  # noqa: F401
    except ImportError:
        return False
    return True


def test_kiem_tra_marks_cells_links_them_and_keeps_a_backup(run, province):
    bad = _issue(province, "num-exceeds-den")
    wb = _wb(run.files["check"])
    cell = wb[bad.sheet][bad.cell]
    assert cell.fill.fgColor.rgb.endswith(ribbon.COLORS["error"])
    assert cell.comment is not None and "tử số" in cell.comment.text
    ws = wb[T("excel.sheet-check")]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert [bad.sheet, bad.cell, "FFFFE0"] == [rows[0][2], rows[0][3], rows[0][5]]
    link = ws.cell(4, 4).hyperlink
    assert link is not None and link.location == f"'{bad.sheet}'!{bad.cell}"
    assert wb.active.title == T("excel.sheet-check")
    backups = list(run.files["check"].parent.glob("*_sao_luu_*.xlsx"))
    assert len(backups) == 1 and backups[0].read_bytes() == run.files["check_original"]
    assert run.files["bad_file"].read_bytes() == run.files["check_original"]  # the received file is untouched
    assert run.books["kiem_tra"].errors and "1 lỗi" in run.books["kiem_tra"].errors[0]


def test_kiem_tra_again_after_the_fix_clears_the_marks(run, province, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    bad = _issue(province, "num-exceeds-den")
    path = tmp_path / run.files["check"].name
    shutil.copyfile(run.files["check"], path)
    book = OpenpyxlBook(path)
    assert ribbon.dispatch("kiem_tra", book)  # twice: the same single mark, not two
    wb = _wb(path)
    assert wb[bad.sheet][bad.cell].fill.fgColor.rgb.endswith(ribbon.COLORS["error"])
    assert wb[T("excel.sheet-check")].max_row == 4
    col = layout.col_letter(layout.col_number("".join(ch for ch in bad.cell if ch.isalpha())) + 1)
    wb[bad.sheet][f"{col}{bad.cell.lstrip('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"] = 10**6  # a big enough denominator
    wb.save(path)
    book = OpenpyxlBook(path)
    assert ribbon.dispatch("kiem_tra", book)
    wb = _wb(path)
    assert wb[bad.sheet][bad.cell].fill.fgColor.rgb.endswith("FFFFE0")
    assert wb[bad.sheet][bad.cell].comment is None
    assert book.messages and "0 lỗi" in book.messages[0]


def test_lay_bao_cao_writes_the_status_sheet(run, province, plan):
    wb = _wb(run.files["lay_bao_cao"])
    ws = wb[T("out.sheet-status")]
    district = Path(run.files["lay_bao_cao"]).stem
    expected = [u.code for u in plan.children(district, "xa")]
    rows = [r for r in ws.iter_rows(min_row=5) if r[0].value]
    assert [str(r[0].value) for r in rows] == expected
    states = {r[3].value for r in rows}
    assert states <= {T(k) for k in ("consolidate.state-on_time", "consolidate.state-late",
                                     "consolidate.state-missing", "consolidate.state-pending")}  # fmt: skip
    linked = [r[9] for r in rows if r[9].value]
    assert linked and all(c.hyperlink is not None for c in linked)
    for c in linked:  # relative links that resolve from the workbook's folder
        assert (run.files["lay_bao_cao"].parent / c.hyperlink.target).is_file()
    on_time = [r[3] for r in rows if r[3].value == T("consolidate.state-on_time")]
    assert on_time and all(c.fill.fgColor.rgb.endswith(ribbon.STATE_COLORS["on_time"]) for c in on_time)
    # the template sheets are untouched
    assert read.read(run.files["lay_bao_cao"], plan).entries.keys() == read.read(
        _district_book(province, district), plan).entries.keys()  # fmt: skip


def test_tong_hop_fills_the_appendix_like_the_cli_and_adds_the_sheets(run, province, plan):
    path = run.files["tong_hop"]
    district = path.stem
    assert list(path.parent.glob(f"{district}_sao_luu_*.xlsx"))
    ours = read.read(path, plan)
    reference = read.read(province.folder / "ket_qua" / "huyen" / f"{district}_tong_hop.xlsx", plan)
    keys = [k for k in reference.entries if k[0] in ("kq", "kp")]
    assert keys
    assert {k: ours.value(k) for k in keys} == {k: reference.value(k) for k in keys}
    wb = _wb(path)
    for key in ("totals", "status", "issues", "detail", "nominations", "cross", "changes"):
        assert T(f"out.sheet-{key}") in wb.sheetnames
    assert wb.sheetnames[-2:] == ["_ds", "_meta"]
    assert not read_detail(path, plan).empty  # the province reads the communes through it
    # the coverage the level above reads back, very hidden, the same as the CLI's workbook carries
    assert wb[coverage.SHEET].sheet_state == "veryHidden"
    carried = coverage.read(path)
    reference_cov = coverage.read(province.folder / "ket_qua" / "huyen" / f"{district}_tong_hop.xlsx")
    assert carried is not None and carried.unit == district
    same = {k: repr(v) for k, v in carried.figures.items()}  # repr: nan equals nan
    assert same == {k: repr(v) for k, v in reference_cov.figures.items()}
    assert sorted(u["unit"] for u in carried.units) == sorted(u["unit"] for u in reference_cov.units)
    v = validate(path, plan, expected_level="huyen")
    assert v.readable and v.submission.unit_code == district
    data = json.loads(path.with_name(T("excel.json-name", stem=district)).read_text(encoding="utf-8"))
    assert data["unit"] == district and data["totals"]


def test_tong_hop_issue_links_point_at_the_received_files(run):
    wb = _wb(run.files["tong_hop"])
    ws = wb[T("out.sheet-issues")]
    links = [c.hyperlink for row in ws.iter_rows(min_row=4) for c in row if c.hyperlink is not None]
    assert links
    for h in links:
        assert (run.files["tong_hop"].parent / h.target).is_file()


def test_khen_thuong_colours_the_quota_verdicts(run):
    ws = _wb(run.files["quota"])[T("excel.sheet-awards")]
    col = len(NOMINATION_HEADS) - 1  # the verdict is the last column
    verdicts = [r[col] for r in ws.iter_rows(min_row=5) if r[col].value in (T("quota.over"), T("quota.within"))]
    over = [c for c in verdicts if c.value == T("quota.over")]
    assert over and all(c.fill.fgColor.rgb.endswith("FF9999") for c in over)
    (message,) = run.books["quota"].errors  # problems found: shown as an error box
    assert f"{len(over)} vượt định mức" in message


def test_tao_mau_and_tra_lai_write_their_files(run, plan):
    names = sorted(p.name for p in run.files["templates"].iterdir())
    assert names == sorted(n for n, _, _ in templates.official_files(plan))
    returned = list(run.files["returned"].iterdir())
    bad = run.files["bad_file"]
    assert bad.stem + "_tra_lai.xlsx" in [p.name for p in returned]
    ws = _wb(run.files["lay_bao_cao"])[T("excel.sheet-returned")]
    links = [c.hyperlink.target for row in ws.iter_rows(min_row=4) for c in row if c.hyperlink is not None]
    assert any(t.endswith(bad.stem + "_tra_lai.xlsx") for t in links)


def test_tra_lai_refuses_an_output_folder_inside_the_received_one(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    inside = run.files["received"] / "tra_lai"
    inside.mkdir(exist_ok=True)
    book = OpenpyxlBook(
        run.files["lay_bao_cao"], folders={"received": run.files["received"], "returned": inside}
    )
    assert not ribbon.dispatch("tra_lai", book)
    assert book.errors == [T("excel.returned-inside", folder=inside)]


def test_bao_cao_writes_the_docx_next_to_the_workbook(run):
    pytest.importorskip(
        "xhht_xl.report", reason="xhht_xl/report.py (write_report) is not in this checkout yet"
    )
    path = run.files["bao_cao"]
    assert run.results["bao_cao"], run.books["bao_cao"].errors
    assert path.with_name(T("excel.report-name", stem=path.stem)).stat().st_size > 0


def test_huong_dan_lists_every_button_and_function(run):
    ws = _wb(run.files["huong_dan"])[T("excel.sheet-help")]
    text = "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)
    for b in registry.BUTTONS:
        assert T(b.label_key) in text
    for name in udfs.FUNCTIONS:
        assert name in text


def test_cancel_stops_between_files_without_saving(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    path = tmp_path / "book.xlsx"
    shutil.copyfile(run.files["khen_thuong"], path)
    before = path.read_bytes()
    book = OpenpyxlBook(path, folders=run.files["received"], cancel_after=2)
    assert not ribbon.dispatch("tong_hop", book)
    assert book.errors == [T("excel.cancelled")]
    assert path.read_bytes() == before and not book.saved
    assert 2 <= len([s for s in book.statuses if s]) <= 4  # progress shown until Esc


def test_not_a_consolidating_workbook_is_one_line(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    book = OpenpyxlBook(run.files["bad_file"], folders=run.files["received"])
    assert not ribbon.dispatch("tong_hop", book)
    assert book.errors == [T("excel.not-consolidating", file=run.files["bad_file"].name)]


def test_udf_consolidated_values_from_json_and_workbook(run, province):
    path = run.files["tong_hop"]
    district = path.stem
    c = province.districts[district]
    row = c.totals.dropna(subset=["rate"]).iloc[0]
    json_path = path.with_name(T("excel.json-name", stem=district))
    got = udfs.XHHT_SO_LIEU(str(json_path), district, row.indicator, float(row.milestone))
    assert got == pytest.approx(row.rate)
    assert (
        udfs.XHHT_SO_LIEU(str(json_path), float(district), row.indicator, row.milestone, "tu_so") == row.num
    )
    assert udfs.XHHT_SO_LIEU(str(path), district, row.indicator, row.milestone, "Mẫu số") == row.den
    detail = c.detail.dropna(subset=["rate"]).iloc[0]
    assert udfs.XHHT_SO_LIEU(str(path), detail.unit, detail.indicator, detail.milestone) == pytest.approx(
        detail.rate, abs=0.01)  # fmt: skip
    assert udfs.XHHT_SO_LIEU(str(json_path), detail.unit, detail.indicator, detail.milestone) == udfs.NA
    assert udfs.XHHT_SO_LIEU(str(path.with_name("none.json")), district, row.indicator, 2020) == udfs.NA
    assert udfs.XHHT_SO_LIEU(str(json_path), district, row.indicator, 2020, "cân nặng") == udfs.VALUE
    assert udfs.XHHT_SO_LIEU(str(run.files["templates"]), district, row.indicator, 2020) == udfs.VALUE


@pytest.mark.libreoffice
def test_results_open_in_libreoffice_without_formula_errors(run, soffice, tmp_path):
    books = [run.files[k] for k in ("check", "lay_bao_cao", "tong_hop", "khen_thuong", "huong_dan")]
    books += list(run.files["returned"].iterdir())
    inputs = []
    for i, p in enumerate(books):  # distinct names: LibreOffice names outputs after the input stem
        inputs.append(tmp_path / "in" / f"{i}_{p.name}")
        inputs[-1].parent.mkdir(exist_ok=True)
        shutil.copyfile(p, inputs[-1])
    out = lo.convert(inputs, "xlsx", tmp_path / "out", tmp_path / "work")
    for src, converted in zip(books, out, strict=True):
        wb = openpyxl.load_workbook(converted, data_only=True, read_only=True)  # values only: no styles to bind
        errors = [(ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                  if isinstance(c.value, str) and c.value.startswith(ERROR_VALUES)]  # fmt: skip
        wb.close()
        assert not errors, (src.name, errors[:5])
        names = openpyxl.load_workbook(src, read_only=True).sheetnames  # workbook.xml's list, as in full mode
        assert [n for n in wb.sheetnames if n in names] == names
