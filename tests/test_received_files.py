"""Received files as they really arrive: none can stop, poison or be misread in a run.

Each case is built from a clean commune workbook by changing only what the case says; the right
value is the original one. (Issue 11: far cells, typed formulas, dimension and XML variants,
control characters, escape sequences, archive, links, received-at files, rows past the table,
stale locks, long names, the tool's own outputs, junk.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from helpers import clean_values, write_book

from xhht_xl import cli, intake, layout, messages, read, safety, validate
from xhht_xl.consolidation import consolidate

T = messages.text
DISTRICT = "798"
REPO = Path(__file__).resolve().parent.parent
KEY = ("kq", "GDHT", 2020, "num")


def _rewrite(src: Path, dst: Path, fn, parts=lambda name: name == "xl/worksheets/sheet3.xml") -> Path:
    """A copy of ``src`` with the bytes of some zip parts changed by ``fn`` (the rest as they are)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, fn(data) if parts(info.filename) else data)
    return dst


def _values(sub) -> dict:
    return {k: e.value for k, e in sub.entries.items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory, plan):
    folder = tmp_path_factory.mktemp("clean")
    path = write_book(folder / "27712.xlsx", plan, "xa", clean_values(plan))
    v = validate(path, plan)
    assert v.report.issues == []
    return path, _values(v.submission)


def _cell(plan, key=KEY):
    return layout.build(plan, "chung").inputs[key]


# -- 1. far cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["XFD1048576", "A1048576", "DA5", "A1000"])
def test_one_far_cell_is_a_warning_at_that_cell(tmp_path, plan, clean, ref):
    src, want = clean
    row = int(re.sub(r"[A-Z]", "", ref))
    far = f'<row r="{row}"><c r="{ref}"><v>5</v></c></row></sheetData>'.encode()
    path = _rewrite(src, tmp_path / "xa.xlsx", lambda d: d.replace(b"</sheetData>", far))
    v = validate(path, plan)
    assert _values(v.submission) == want
    assert v.report.flatten(("sheet", "cell", "code")) == [("Kết quả", ref, "cell-far")]


def test_far_cell_costs_what_a_normal_file_costs(tmp_path, plan, clean):
    """Peak memory of a whole process reading the file (a child process: nothing else counts)."""
    src, _ = clean
    far = b'<row r="1048576"><c r="A1048576"><v>5</v></c></row></sheetData>'
    path = _rewrite(src, tmp_path / "xa.xlsx", lambda d: d.replace(b"</sheetData>", far))

    def peak(target: Path) -> int:
        code = (
            "import resource; from xhht_xl import validate; "
            f"assert validate({str(target)!r}).submission is not None; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    assert peak(path) < 1.5 * peak(src)  # KiB; reading the whole declared grid took ~1 GB


def test_far_cells_in_xls_and_ods(soffice, tmp_path, plan):
    from xhht_xl import lo

    lay = layout.build(plan, "chung")
    values = clean_values(plan)

    def far(wb):
        wb[lay.sheets["results"]]["IV65536"] = 5

    src = write_book(tmp_path / "src.xlsx", plan, "xa", values, far)
    want = _values(validate(write_book(tmp_path / "ok.xlsx", plan, "xa", values), plan).submission)
    saved = lo.convert_each([src], ["xls", "ods"], tmp_path / "lo", tmp_path)  # one load, both formats
    for fmt, ref in (("xls", "IV65536"), ("ods", "IV65536")):
        (out,) = saved[fmt]
        v = validate(out, plan)
        assert _values(v.submission) == want, fmt
        assert ("Kết quả", ref, "cell-far") in v.report.flatten(("sheet", "cell", "code")), fmt


# -- 2. formulas typed into input cells --------------------------------------------------------------


def _formula(src: Path, dst: Path, ref: str, body: bytes) -> Path:
    pattern = re.compile(rb'<c r="%s"([^>]*)>.*?</c>' % ref.encode())
    return _rewrite(
        src, dst, lambda d: pattern.sub(rb'<c r="%s"\1>%s</c>' % (ref.encode(), body), d, count=1)
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<f>1200+2033</f>", "formula-in-input"),  # no cached value (openpyxl, LibreOffice unsaved)
        (b"<f>1200+2033</f><v>0</v>", "formula-in-input-cached"),  # a cached 0 (XlsxWriter)
        (b"<f>1200+2033</f><v>3233</v>", "formula-in-input"),  # Excel: the right cached value
        (b"<f>1200+2033</f><v>1</v>", "formula-in-input-cached"),  # a wrong cached value is not trusted
        (b"<f>SUM(1200,2000,33)</f>", "formula-in-input"),
    ],
)
def test_formula_in_an_input_cell_is_evaluated(tmp_path, plan, clean, body, code):
    src, want = clean
    cell = _cell(plan)
    den = ("kq", "GDHT", 2020, "den")
    path = _formula(src, tmp_path / "f.xlsx", cell.ref, body)
    path = _formula(path, tmp_path / "f2.xlsx", _cell(plan, den).ref, b"<v>5000</v>")
    v = validate(path, plan)
    sub = v.submission
    assert sub.value(KEY) == 3233 and sub.number(KEY) == 3233
    assert {k: x for k, x in _values(sub).items() if k not in (KEY, den)} == {
        k: x for k, x in want.items() if k not in (KEY, den)
    }
    assert v.report.flatten(("cell", "code", "severity")) == [(cell.ref, code, "warning")]
    assert "3.233" in v.report.issues[0].message


def test_formula_referring_to_other_cells_and_shared_formulas(tmp_path, plan, clean):
    src, _ = clean
    num15, den15 = _cell(plan, ("kq", "GDHT", 2015, "num")), _cell(plan, ("kq", "GDHT", 2015, "den"))
    num20 = _cell(plan, KEY)
    # 2015's numerator typed as a formula on the denominator beside it; 2020's is the shared
    # follower of a formula whose master is 2015's (ECMA-376 18.3.1.40)
    path = _formula(src, tmp_path / "a.xlsx", den15.ref, b"<v>4000</v>")
    rel = f"{den15.ref}/2"
    master = f'<f t="shared" ref="{num15.ref}:{num20.ref}" si="0">{rel}</f>'.encode()
    path = _formula(path, tmp_path / "b.xlsx", num15.ref, master + b"<v>2000</v>")
    path = _formula(path, tmp_path / "c.xlsx", num20.ref, b'<f t="shared" si="0"/><v>0</v>')
    den20 = _cell(plan, ("kq", "GDHT", 2020, "den"))
    path = _formula(path, tmp_path / "d.xlsx", den20.ref, b"<v>6000</v>")
    sub = validate(path, plan).submission
    assert sub.value(("kq", "GDHT", 2015, "num")) == 2000
    assert sub.value(KEY) == 3000  # =K32/2 moved from J-column master: the 2020 denominator / 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<f>[1]Sheet1!A1</f><v>7</v>", "formula-external"),
        (b"<f>FOOBAR(1)</f><v>7</v>", "formula-function"),
        (b"<f>1/0</f><v>7</v>", "formula-error"),
        (b"<f>TODAY()</f><v>7</v>", "formula-function"),
        # functions the engine knows by name but cannot run: the message names the function, never the
        # engine's own text ("Failed DISPATCHING '%s' due to:", a repr of NotImplementedError())
        (b'<f>WEBSERVICE("http://x")</f><v>7</v>', "formula-function"),
        (b'<f>1+LEN(WEBSERVICE("http://x"))</f><v>7</v>', "formula-function"),
    ],
)
def test_formula_that_cannot_be_evaluated_is_an_error_never_a_zero(tmp_path, plan, clean, body, reason):
    src, _ = clean
    cell = _cell(plan)
    v = validate(_formula(src, tmp_path / "f.xlsx", cell.ref, body), plan)
    assert v.report.flatten(("cell", "code", "severity")) == [(cell.ref, "formula-unevaluable", "error")]
    message = v.report.issues[0].message
    assert T(f"read.{reason}", detail="x").split(":")[0].split("{")[0][:12] in message
    if b"WEBSERVICE" in body:
        assert "chưa hỗ trợ: WEBSERVICE)" in message
    reason_given = message.split("không tính được", 1)[1]  # after the formula as typed
    assert not re.search(r"Failed|DISPATCH|Error\b|\(\)|'%s'|\\n", reason_given), message
    assert v.submission.number(KEY) is None and v.submission.value(KEY) is None  # missing, not 7, not 0


# -- 3, 4. XML the spec allows -----------------------------------------------------------------------


def test_row_zero_dimension_reads_the_same(tmp_path, plan, clean):
    src, want = clean
    path = _rewrite(
        src, tmp_path / "a0.xlsx", lambda d: re.sub(rb'<dimension ref="A1:', b'<dimension ref="A0:', d),
        parts=lambda n: "worksheets/" in n,
    )  # fmt: skip
    v = validate(path, plan)
    assert v.report.issues == [] and _values(v.submission) == want


def test_cells_without_r_read_the_same_and_no_formula_looks_deleted(tmp_path, plan, clean):
    src, want = clean
    path = _rewrite(
        src, tmp_path / "nor.xlsx", lambda d: re.sub(rb'(<c) r="[A-Z]+[0-9]+"', rb"\1", d),
        parts=lambda n: "worksheets/" in n,
    )  # fmt: skip
    v = validate(path, plan)
    assert v.report.issues == [] and _values(v.submission) == want
    assert all(f.has_formula for f in v.submission.formulas.values())


def test_utf16_parts_read_the_same(tmp_path, plan, clean):
    src, want = clean

    def utf16(d: bytes) -> bytes:
        text = d.decode("utf-8")
        text = re.sub(r"^<\?xml[^>]*\?>", "", text)
        return ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16")

    path = _rewrite(
        src, tmp_path / "u16.xlsx", utf16, parts=lambda n: n.startswith("xl/") and n.endswith(".xml")
    )
    v = validate(path, plan)
    assert v.report.issues == [] and _values(v.submission) == want


# -- 5, 6. control characters and escape sequences ------------------------------------------------


def test_control_character_is_removed_and_noted_at_the_cell(tmp_path, plan, clean):
    src, _ = clean
    reporter = layout.build(plan, "chung").inputs[("unit", "reporter")]
    path = _rewrite(src, tmp_path / "c.xlsx", lambda d: d.replace(b"Nguy", b"_x0001_Ng\x1b[2Juy"),
                    parts=lambda n: n == "xl/worksheets/sheet2.xml")  # fmt: skip
    v = validate(path, plan)
    assert v.report.flatten(("sheet", "cell", "code")) == [(reporter.sheet, reporter.ref, "text-cleaned")]
    assert v.submission.value(("unit", "reporter")) == "Ng[2Juyễn Thị Minh Thư"
    assert v.submission.entries[("unit", "reporter")].raw == "Ng[2Juyễn Thị Minh Thư"


def test_escape_sequences_never_reach_the_terminal(tmp_path, plan, capsys):
    values = clean_values(plan)
    values[("kt", 0, "name")] = "x"
    lay = layout.build(plan, "chung")
    label = next(c for c, t in lay.labels.items() if c.sheet == lay.sheets["results"] and t)

    def mutate(wb):
        wb[label.sheet][label.ref].value = "PLACEHOLDER"

    src = write_book(tmp_path / "src.xlsx", plan, "xa", values, mutate)
    escaped = "_x001B_[2J_x001B_[H\u009b2J0 lỗi, 0 cảnh báo".encode()  # as Excel stores ESC
    path = _rewrite(src, tmp_path / "x\x1b[31m.xlsx", lambda d: d.replace(b"PLACEHOLDER", escaped),
                    parts=lambda n: "worksheets/" in n)  # fmt: skip
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "\x1b" not in out + err and "\x9b" not in out + err
    assert "0 lỗi, 0 cảnh báo" in out  # the text is shown, harmless


# -- 7, 8. the archive ------------------------------------------------------------------------------


def test_archive_holds_exactly_the_bytes_hashed_even_if_the_file_is_replaced(tmp_path, plan, monkeypatch):
    """A sync client replaces the file (atomic rename) right after intake read it."""
    folder, store = tmp_path / "in", tmp_path / "store"
    first = clean_values(plan, unit="27712", seed=1)
    path = write_book(folder / "27712.xlsx", plan, "xa", first)
    original = path.read_bytes()
    other = write_book(tmp_path / "v2.xlsx", plan, "xa", clean_values(plan, unit="27712", seed=2))
    real = safety.read_bounded

    def read_then_replaced(p, *args, **kwargs):
        data = real(p, *args, **kwargs)
        if Path(p) == path:
            os.replace(other, path)  # the second version lands while the first is being read
        return data

    monkeypatch.setattr(safety, "read_bounded", read_then_replaced)
    (r,) = intake.pull(folder, plan, {}, store)
    sha = hashlib.sha256(original).hexdigest()
    assert r.sha256 == sha and r.sub.sha256 == sha
    assert intake.kept(store, r.sha256, r.archive) == original
    assert r.sub.value(KEY) == first[KEY]


def test_links_out_of_the_folder_and_giants_are_never_archived(tmp_path, plan):
    folder, store = tmp_path / "in", tmp_path / "store"
    write_book(folder / "27712.xlsx", plan, "xa", clean_values(plan))
    secret = tmp_path / "secret.txt"
    secret.write_text("PASSWORD=hunter2\n")
    (folder / "passwd.xlsx").symlink_to("/etc/passwd")
    (folder / "secret.xlsx").symlink_to(secret)
    (folder / "inside.xlsx").symlink_to(folder / "27712.xlsx")  # a link within the folder is read
    with open(folder / "giant.xlsx", "wb") as fh:  # 25 MB (sparse): over the 20 MB gate
        fh.truncate(25 * 1024 * 1024)
    notes: list = []
    received = intake.pull(folder, plan, {}, store, notes=notes)
    names = sorted(r.rel for r in received)
    assert names == ["27712.xlsx", "giant.xlsx", "inside.xlsx"]
    assert [n.code for n in notes] == ["files-skipped"] and "2 liên kết" in notes[0].message
    giant = next(r for r in received if r.rel == "giant.xlsx")
    assert giant.archive == "" and giant.validation.report.codes() == ["file-too-big"]
    db = sqlite3.connect(store / "ledger.sqlite")
    stored = [row[0] for row in db.execute("SELECT data FROM versions")]
    assert len(stored) == 1 and sum(map(len, stored)) < 1024 * 1024  # 27712.xlsx and its link: one version
    assert all(b"hunter2" not in data and b"root:" not in data for data in stored)
    assert sorted(p.name for p in store.iterdir()) == ["ledger.sqlite"]  # nothing else written
    assert db.execute("SELECT status, archive FROM receipts WHERE path = 'giant.xlsx'").fetchone() == (
        "unreadable:file-too-big",
        "",
    )


def test_a_version_is_kept_with_its_receipt_or_not_at_all(tmp_path, plan, monkeypatch):
    """The ledger keeps a version in its receipt's transaction: a run stopped by a failing store
    (here the receipt of the second file cannot be written) leaves receipts and versions that
    match, and a file of the store's folder is never written for a version."""
    folder, store = tmp_path / "in", tmp_path / "store"
    for i, unit in enumerate(("27712", "27715")):
        write_book(folder / f"{unit}.xlsx", plan, "xa", clean_values(plan, unit=unit, seed=i))
    real = intake.Ledger.record
    calls = []

    def failing(self, r, archive):
        calls.append(r.rel)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, r, archive)

    monkeypatch.setattr(intake.Ledger, "record", failing)
    with pytest.raises(intake.IntakeError, match="đầy"):
        intake.pull(folder, plan, {}, store)
    db = sqlite3.connect(store / intake.LEDGER_NAME)
    receipts = {row[0] for row in db.execute("SELECT sha256 FROM receipts")}
    versions = {row[0] for row in db.execute("SELECT sha256 FROM versions")}
    db.close()
    assert receipts == versions and len(receipts) <= 1
    assert sorted(p.name for p in store.iterdir()) == [intake.LEDGER_NAME]


# -- 9. received-at files as Excel writes them ------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "text", "want"),
    [
        ("utf-8", "file,received_at\na.xlsx,2020-08-31T08:00:00+07:00\n", dt.datetime(2020, 8, 31, 8, 0)),
        ("utf-8", "file,received_at\na.xlsx,2020-08-31T01:00:00Z\n", dt.datetime(2020, 8, 31, 8, 0)),
        ("utf-8-sig", "file,received_at\na.xlsx,2020-08-31 16:30\n", dt.datetime(2020, 8, 31, 16, 30)),
        # Windows-1258 has no "ã": Excel writes "a" and the combining tilde
        (
            "cp1258",
            "file;received_at\nBáo cáo xa\u0303.xlsx;31/08/2020 16:30\n",
            dt.datetime(2020, 8, 31, 16, 30),
        ),
        ("utf-16", "file\treceived_at\na.xlsx\t31/08/2020\n", dt.datetime(2020, 8, 31)),
        ("utf-8", "file;received_at\r\na.xlsx;1/9/2020 07:05:09\r\n", dt.datetime(2020, 9, 1, 7, 5, 9)),
    ],
)
def test_received_at_as_excel_writes_it(tmp_path, encoding, text, want):
    path = tmp_path / "ngay.csv"
    path.write_bytes(text.encode(encoding))
    ((name, when),) = intake.read_received_at(path).items()
    assert when == want and when.tzinfo is None
    assert name in ("a.xlsx", "Báo cáo xã.xlsx")


def test_bad_received_at_is_one_line_before_any_intake(tmp_path, plan, capsys):
    folder = tmp_path / "in"
    write_book(folder / "27712.xlsx", plan, "xa", clean_values(plan))
    csv = tmp_path / "ngay.csv"
    csv.write_text("file,received_at\n27712.xlsx,2020-08-31\nx.xlsx,31/13/2020\n", encoding="utf-8")
    out = tmp_path / "out" / "th.xlsx"
    code = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", "794", "-o", str(out),
                     "--received-at", str(csv)])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "ngay.csv" in err and "dòng 3" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "xhht_intake").exists(), "nothing ran"


def test_a_number_no_cell_holds_is_invalid_at_its_cell_and_the_run_goes_on(tmp_path, plan, capsys):
    """400 digits typed as text into a count: no spreadsheet number (beyond 9.99999999999999E+307) and no
    float; it stopped the whole district's consolidation (int too large to convert to float in facts).
    Now it is invalid at its cell, the unit's figure is missing, and the other communes are consolidated."""
    folder = tmp_path / "in"
    cell = layout.build(plan, "chung").inputs[("kq", "GDHT", 2020, "num")]
    values = clean_values(plan)
    values[("kq", "GDHT", 2020, "num")] = "1" * 400
    write_book(folder / "27712.xlsx", plan, "xa", values)
    write_book(folder / "27685.xlsx", plan, "xa", clean_values(plan, unit="27685"))
    v = validate(folder / "27712.xlsx", plan)
    issue = next(i for i in v.report if i.cell == cell.ref)
    assert (issue.code, issue.severity, issue.sheet) == ("value-invalid", "error", cell.sheet)
    assert "1" * 59 + "…" in issue.message and "1" * 61 not in issue.message  # quoted, not 400 digits
    assert v.submission.number(("kq", "GDHT", 2020, "num")) is None
    out = tmp_path / "out" / "th.xlsx"
    code = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", "794", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and out.exists() and "Traceback" not in err
    c = consolidate(folder, plan, "huyen", "794", store=tmp_path / "store")
    rows = c.facts[(c.facts.indicator == "GDHT") & (c.facts.milestone == 2020) & (c.facts.measure == "num")]
    assert dict(zip(rows.unit.astype(str), rows.state.astype(str), strict=True)) == {"27712": "rejected", "27685": "ok"}


@pytest.mark.parametrize("milestone", ["năm 2020", 1e308, dt.datetime(2020, 1, 1), "#N/A", None])
def test_a_district_workbook_edited_by_hand_in_its_detail_is_a_warning_and_the_province_goes_on(
    tmp_path, plan, capsys, milestone
):
    """A district's consolidated workbook with a «Chi tiết» milestone typed over (text, 1E+308, a date,
    an error, cleared): the province's consolidation stopped (invalid literal for int(), Python int
    too large to convert to C long; exit 2). Now the row is left out and a warning names the cell."""
    import openpyxl

    book = _district_book(tmp_path, plan, "27712", "27685")
    district = book.parent
    wb = openpyxl.load_workbook(book)
    ws = wb[T("out.sheet-detail")]
    assert ws["E4"].value in plan.milestones and ws["A4"].value in ("27712", "27685")
    if milestone == "#N/A":
        ws["E4"].value, ws["E4"].data_type = milestone, "e"
    else:
        ws["E4"].value = milestone
    wb.save(book)
    _province_goes_on(tmp_path, district, capsys)
    c = consolidate(district, plan, "tinh", "80", store=tmp_path / "store")
    issue = next(i for i in c.report if i.code == "detail-row-invalid")
    assert (issue.severity, issue.unit, issue.sheet, issue.cell) == ("warning", "794", T("out.sheet-detail"), "E4")
    assert "794_tong_hop.xlsx" in issue.message and "1 dòng" in issue.message
    communes_rows = c.detail[c.detail.unit.isin(["27712", "27685"])]
    assert len(communes_rows) == ws.max_row - 3 - 1  # every other row of the district's detail
    assert set(communes_rows.milestone) == set(plan.milestones)


@pytest.mark.parametrize("days", [1e308, "9" * 400])
def test_a_district_coverage_row_typed_over_says_nothing_and_the_province_goes_on(tmp_path, plan, capsys, days):
    """A district's workbook whose hidden _coverage sheet holds 1E+308 or 400 digits as a unit's days late
    stopped the province's consolidation (Python int too large to convert to C long; int too large to
    convert to float: exit 2). The damaged row says nothing, as any damaged coverage row."""
    import openpyxl

    book = _district_book(tmp_path, plan, "27712")
    wb = openpyxl.load_workbook(book)
    ws = wb["_coverage"]
    row = next(r for r in ws.iter_rows() if r[0].value == "unit" and r[1].value == "27712")
    row[6].value = days  # UNIT_FIELDS' days_late
    wb.save(book)
    _province_goes_on(tmp_path, book.parent, capsys)


def _district_book(tmp_path: Path, plan, *communes: str) -> Path:
    """District 794's consolidated workbook of these communes' clean workbooks, alone in its folder."""
    folder, book = tmp_path / "xa", tmp_path / "huyen" / "794_tong_hop.xlsx"
    for code in communes:
        write_book(folder / f"{code}.xlsx", plan, "xa", clean_values(plan, unit=code))
    assert cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", "794", "-o", str(book)]) in (0, 1)
    return book


def _province_goes_on(tmp_path: Path, district: Path, capsys) -> None:
    """The province consolidates the districts' folder to its end: no exit 2, no traceback."""
    capsys.readouterr()
    out = tmp_path / "tinh" / "th.xlsx"
    code = cli.main(["consolidate", str(district), "--level", "tinh", "--unit", "80", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code in (0, 1) and out.exists() and "Traceback" not in err, err


# -- 10. rows past the table ----------------------------------------------------------------------


def test_nominations_past_the_table_are_an_error_naming_the_rows(tmp_path, plan):
    lay = layout.build(plan, "chung")
    block = lay.award_block
    values = clean_values(plan)
    for i in range(layout.AWARD_ROWS):
        values[("kt", i, "name")] = f"Người {i + 1}"

    def two_more(wb):
        ws = wb[block.sheet]
        for extra in (1, 2):
            ws.cell(block.last_row + extra, 5).value = f"Người {layout.AWARD_ROWS + extra}"

    v = validate(write_book(tmp_path / "kt.xlsx", plan, "xa", values, two_more), plan)
    issue = next(i for i in v.report if i.code == "rows-beyond-table")
    assert issue.severity == "error" and issue.sheet == block.sheet
    assert f"{block.last_row + 1}, {block.last_row + 2}" in issue.message


# -- 11. locks --------------------------------------------------------------------------------------


def test_a_killed_run_does_not_lock_others_out(tmp_path):
    store = tmp_path / "store"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from xhht_xl import intake
            with intake.locked(Path({str(store)!r})):
                print("held", flush=True)
                time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(intake.IntakeError) as exc:  # alive: its holder is named
            with intake.locked(store):
                pass
        assert str(child.pid) in str(exc.value) and ".lock" in str(exc.value)
        child.send_signal(signal.SIGKILL)
        child.wait()
        notes: list = []
        with intake.locked(store, notes):  # dead: taken over at once, with a note
            pass
        assert [n.code for n in notes] == ["lock-recovered"] and str(child.pid) in notes[0].message
        notes.clear()
        with intake.locked(store, notes):  # released cleanly: no note
            pass
        assert notes == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# -- 12. long names ---------------------------------------------------------------------------------


def test_long_names_give_returned_copies_within_limits_and_later_files_are_checked(tmp_path, plan, capsys):
    values = clean_values(plan)
    values[KEY] = -3
    stem = "Báo cáo tổng kết xã hội học tập " * 8  # ~250 bytes in UTF-8
    stem = stem.encode("utf-8")[:245].decode("utf-8", errors="ignore").strip()
    first = write_book(tmp_path / "in" / f"{stem}.xlsx", plan, "xa", values)
    second = write_book(tmp_path / "in" / "loi.xlsx", plan, "xa", values)
    copies = tmp_path / "tra_lai"
    code = cli.main(["validate", str(first), str(second), "--return-copy", str(copies)])
    out, _ = capsys.readouterr()
    assert code == 1
    names = sorted(p.name for p in copies.iterdir())
    assert len(names) == 2 and all(len(n.encode("utf-8")) <= 255 for n in names)
    assert "loi_tra_lai.xlsx" in names and out.count(T("validate.returned-done", path="").strip()[:6]) == 2


# -- 13, 14. own outputs, junk, file-system errors -------------------------------------------------


@pytest.fixture
def communes(tmp_path, plan):
    folder = tmp_path / "nhận"
    codes = [u.code for u in plan.children(DISTRICT, "xa")]
    for i, code in enumerate(codes):
        write_book(folder / f"{code}.xlsx", plan, "xa", clean_values(plan, unit=code, seed=i))
    return folder, codes


def test_own_outputs_in_the_input_folder_are_skipped(tmp_path, plan, communes, capsys):
    folder, _ = communes
    args = ["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "--as-of", "2020-08-20"]
    first = tmp_path / "a" / "th.xlsx"
    assert cli.main([*args, "-o", str(first)]) == 0
    inside = folder / "tong_hop_798.xlsx"  # the clerk writes the output into the input folder
    assert cli.main([*args, "-o", str(inside)]) == 0
    awards = folder / "khen_thuong.xlsx"
    assert cli.main(["report", *args[1:], "-o", str(tmp_path / "bc.docx"), "--awards", str(awards)]) == 0
    capsys.readouterr()
    rerun = consolidate(folder, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=tmp_path / "k")
    codes = [i.code for i in rerun.report]
    assert codes.count("own-output") == 2
    assert not {"unit-info-missing", "narrative-empty", "unassigned", "template-unknown"} & set(codes)
    before = consolidate(folder.parent / "nhận", plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20),
                         store=tmp_path / "k2")  # fmt: skip
    assert rerun.totals.equals(before.totals)


def test_returned_copy_is_skipped_until_a_sender_saves_it(soffice, tmp_path, plan):
    from xhht_xl import lo, returned

    values = clean_values(plan)
    values[KEY] = -3
    src = write_book(tmp_path / "src" / "27712.xlsx", plan, "xa", values)
    copy = returned.write_returned_copy(validate(src, plan), plan, tmp_path / "in", level="xa")

    def kind(path):
        return intake.own_output(validate(path, plan).submission, ("huyen", DISTRICT), path.read_bytes())

    assert kind(copy) == "returned"
    (saved,) = lo.convert([copy], "xlsx", tmp_path / "saved", tmp_path)  # saved, nothing changed
    assert kind(saved) == "returned"
    import openpyxl

    wb = openpyxl.load_workbook(saved)  # the sender corrects the number and saves
    cell = _cell(plan)
    wb[cell.sheet][cell.ref].value = 30
    wb.save(saved)
    assert kind(saved) == ""


def test_junk_is_skipped_and_counted_not_errors(tmp_path, plan, communes):
    folder, _ = communes
    (folder / "Thumbs.db").write_bytes(b"\0" * 100)
    (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "~$27712.xlsx").write_bytes(b"\0" * 165)
    (folder / "bao_cao.tmp").write_bytes(b"x")
    for i in range(30):
        (folder / f"rong_{i}.xlsx").write_bytes(b"")
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=tmp_path / "k")
    assert [i.code for i in c.report if i.severity == "error"] == []
    (note,) = [i for i in c.report if i.code == "files-skipped"]
    assert "5 tệp rác" in note.message and "30 tệp rỗng" in note.message


def test_out_naming_a_folder_fails_before_intake(tmp_path, communes, capsys):
    folder, _ = communes
    out = tmp_path / "ket_qua"
    out.mkdir()
    code = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1 and "thư mục" in err
    assert not (tmp_path / "xhht_intake").exists()


def test_full_disk_is_one_line_and_leaves_the_old_set(tmp_path, communes, capsys):
    folder, _ = communes
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("needs permission to mount a small tmpfs")
    try:
        out, report = disk / "th.xlsx", disk / "th.json"
        out.write_bytes(b"old workbook")
        report.write_bytes(b"old json")
        args = ["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "-o", str(out),
                "--json", str(report)]  # fmt: skip
        # the store goes beside the output: on the full disk too
        code = cli.main(args)
        _, err = capsys.readouterr()
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "đầy" in err and "Errno" not in err and "Traceback" not in err and "No space" not in err
        assert str(out) in err or "xhht_intake" in err  # the file it could not write, not a temp file
        assert (out.read_bytes(), report.read_bytes()) == (b"old workbook", b"old json")
        assert not [p for p in disk.iterdir() if p.name.startswith(".~xhht")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_error_log_is_in_the_users_state_folder_and_never_follows_a_link(tmp_path, monkeypatch, capsys):
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("LOCALAPPDATA", str(state))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (state / "xhht_xl").mkdir(parents=True)
    (state / "xhht_xl" / "error.log").symlink_to(victim)
    monkeypatch.setattr(cli, "cmd_templates", lambda args: 1 / 0)  # an unforeseen defect
    assert cli.main(["templates", str(tmp_path / "m")]) == 2
    _, err = capsys.readouterr()
    log = state / "xhht_xl" / "error.log"
    assert str(log) in err and victim.read_text() == "keep me"
    assert not log.is_symlink() and "ZeroDivisionError" in log.read_text()


# -- per-file isolation ---------------------------------------------------------------------------


def test_a_worker_dying_names_its_file_and_the_run_goes_on(tmp_path, plan, monkeypatch):
    """A native abort in a worker process (as python-calamine did on XFD1048576)."""
    folder = tmp_path / "in"
    codes = [u.code for u in plan.children(DISTRICT, "xa")]
    src = write_book(tmp_path / "one.xlsx", plan, "xa", clean_values(plan, unit=codes[0]))
    for i in range(intake.PARALLEL_FROM + 6):
        (folder / f"{i:03d}.xlsx").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:03d}.xlsx").write_bytes(src.read_bytes())
    real = intake.take

    def take(path, rel, *args, **kwargs):
        if rel == "017.xlsx":
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies at once, as with a native crash
        return real(path, rel, *args, **kwargs)

    monkeypatch.setattr(intake, "take", take)  # inherited by the forked workers
    received = intake.pull(folder, plan, {}, tmp_path / "store", workers=2)
    assert len(received) == intake.PARALLEL_FROM + 6
    failed = [(r.rel, i.code) for r in received for i in r.validation.report if i.severity == "error"]
    assert failed == [("017.xlsx", "file-failed")]
    assert sum(r.sub is not None for r in received) == intake.PARALLEL_FROM + 5


def test_a_defect_met_by_one_file_is_an_issue_naming_it(tmp_path, plan, clean, monkeypatch):
    src, _ = clean

    def broken(*args, **kwargs):
        raise KeyError("unexpected")

    monkeypatch.setattr(read, "parse_text", broken)
    v = validate(src, plan)
    assert v.submission is None and v.report.flatten(("file", "code")) == [(src.name, "file-failed")]


# -- everything at once ---------------------------------------------------------------------------


def test_a_folder_of_every_bad_file_beside_normal_communes(tmp_path, plan, capsys):
    """Every kind of bad file beside normal communes: the run finishes, each bad file has its issue,
    every writer copes with the cleaned text, and the communes' totals are those of the clean files."""
    codes = [u.code for u in plan.children(DISTRICT, "xa")]
    clean_dir, bad_dir = tmp_path / "sach", tmp_path / "nhận"
    lay = layout.build(plan, "chung")
    den = ("kq", "GDHT", 2020, "den")
    names = {}
    for i, code in enumerate(codes):
        values = clean_values(plan, unit=code, seed=i)
        values[("kt", 0, "award")] = "Bằng khen của Chủ tịch UBND tỉnh"
        values[("kt", 0, "kind")] = "Cá nhân"
        values[("kt", 0, "name")] = "NOMINEE"
        values[("kt", 0, "position")] = "Chủ tịch Hội Khuyến học"
        values[("kt", 0, "unit")] = layout.unit_option(plan, plan.unit(code))
        values[("kt", 0, "summary")] = "Vận động xây dựng gia đình học tập."
        src = write_book(clean_dir / f"{code}.xlsx", plan, "xa", values)
        names[code] = src
    variants = {
        # each commune's file, changed in one way that must not change its values
        codes[0]: lambda d: d.replace(
            b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>9</v></c></row></sheetData>'
        ),
        codes[1]: lambda d: re.sub(rb'(<c) r="[A-Z]+[0-9]+"', rb"\1", d),
        codes[2]: lambda d: re.sub(rb'<dimension ref="A1:', b'<dimension ref="A0:', d),
    }
    for code, src in names.items():
        target = bad_dir / ("x" * 200 + ".xlsx" if code == codes[3] else f"{code}.xlsx")
        if code in variants:
            _rewrite(src, target, variants[code], parts=lambda n: n == "xl/worksheets/sheet3.xml")
        elif code == codes[4]:  # the denominator typed as a formula, cached 0 (XlsxWriter)
            cell = lay.inputs[den]
            value = clean_values(plan, unit=code, seed=4)[den]
            _formula(src, target, cell.ref, f"<f>{value - 1}+1</f><v>0</v>".encode())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    # control characters and terminal escapes in a reporter's and a nominee's name
    for path in (bad_dir / f"{codes[5]}.xlsx", clean_dir / f"{codes[5]}.xlsx"):
        escaped = b"_x0001_Nguy\xe1\xbb\x85n_x001B_[2J" if "nhận" in str(path) else b"Nguy\xe1\xbb\x85n[2J"
        _rewrite(path, path.with_suffix(".tmp.xlsx"), lambda d, e=escaped: d.replace(b"NOMINEE", e),
                 parts=lambda n: "worksheets/" in n)  # fmt: skip
        path.with_suffix(".tmp.xlsx").replace(path)
    # files that are no submission at all
    (bad_dir / "Thumbs.db").write_bytes(b"\0" * 64)
    (bad_dir / "~$27685.xlsx").write_bytes(b"\0" * 165)
    (bad_dir / "rong.xlsx").write_bytes(b"")
    (bad_dir / "scan.xlsx").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF")
    (bad_dir / "passwd.xlsx").symlink_to("/etc/passwd")
    with open(bad_dir / "giant.xlsx", "wb") as fh:
        fh.truncate(21 * 1024 * 1024)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", b"<" * (60 * 1024 * 1024))
    (bad_dir / "bomb.xlsx").write_bytes(bomb.getvalue())
    # the district's own narrative, with a control character, given with --into
    own = write_book(tmp_path / "own.xlsx", plan, "huyen", clean_values(plan, level="huyen", unit=DISTRICT))
    own_bad = _rewrite(own, tmp_path / "own_bad.xlsx", lambda d: d.replace("Nội dung".encode(), b"N_x0007_\xe1\xbb\x99i dung"),
                       parts=lambda n: "worksheets/" in n)  # fmt: skip
    as_of = "2020-08-20"

    def run(folder: Path, out: Path, into: Path) -> tuple[int, str]:
        args = [str(folder), "--level", "huyen", "--unit", DISTRICT, "--as-of", as_of, "--into", str(into)]
        code = cli.main(["consolidate", *args, "-o", str(out), "--json", str(out.with_suffix(".json")),
                         "--facts", str(out.with_suffix(".csv"))])  # fmt: skip
        code2 = cli.main(["report", *args, "-o", str(out.with_suffix(".docx")), "--awards",
                          str(out.parent / "khen.xlsx")])  # fmt: skip
        out_text, err = capsys.readouterr()
        assert code == code2 and code in (0, 1) and "Traceback" not in out_text + err, err
        assert "\x1b" not in out_text + err and "\x07" not in out_text + err
        return code, out_text

    run(clean_dir, tmp_path / "a" / "th.xlsx", own)
    run(bad_dir, tmp_path / "b" / "th.xlsx", own_bad)
    want = consolidate(clean_dir, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=tmp_path / "k1")
    got = consolidate(bad_dir, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=tmp_path / "k2")
    assert got.totals.equals(want.totals)
    assert got.funding.equals(want.funding)
    by_file = {}
    for issue in got.report:
        by_file.setdefault(issue.file, set()).add(issue.code)
    assert "cell-far" in by_file[f"{codes[0]}.xlsx"]
    assert "formula-in-input-cached" in by_file[f"{codes[4]}.xlsx"]
    assert "text-cleaned" in by_file[f"{codes[5]}.xlsx"]
    for name, code in (("scan.xlsx", "pdf"), ("giant.xlsx", "file-too-big"), ("bomb.xlsx", "zip-bomb")):
        assert code in by_file[name], (name, by_file.get(name))
    assert "files-skipped" in by_file[""]
    for ext in (".xlsx", ".json", ".csv", ".docx"):
        assert (tmp_path / "b" / f"th{ext}").stat().st_size > 0
    noms = read.sheet_rows(tmp_path / "b" / "th.xlsx", T("out.sheet-nominations"), bound=(100, 12))
    assert any("Nguyễn[2J" in str(v) for row in noms for v in row)


def test_records_keep_exact_names_and_identical_reruns_show_the_same_changes(tmp_path, plan):
    folder = tmp_path / "nhận"
    codes = [u.code for u in plan.children(DISTRICT, "xa")]
    name = "Báo cáo  xã   {}.xlsx"  # runs of spaces, as clerks type them
    for i, code in enumerate(codes):
        write_book(folder / name.format(code), plan, "xa", clean_values(plan, unit=code, seed=i))
    store = tmp_path / "k"
    consolidate(folder, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=store)
    values = clean_values(plan, unit=codes[0], seed=0)
    values[KEY] = values[KEY] // 2
    write_book(folder / name.format(codes[0]), plan, "xa", values)  # sent again, corrected
    runs = [
        consolidate(folder, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 20), store=store)
        for _ in range(2)
    ]
    assert list(runs[0].changes["key"]) == ["kq/GDHT/2020/num"]
    assert runs[0].changes.equals(runs[1].changes)
    files = set(runs[0].status["file"])
    assert name.format(codes[0]) in files and all((folder / f).exists() for f in files)
    db = sqlite3.connect(store / "ledger.sqlite")
    assert {p for (p,) in db.execute("SELECT path FROM receipts")} == {name.format(c) for c in codes}


def test_a_formula_in_a_text_cell_asks_for_the_text_not_a_number(tmp_path, plan):
    """The advice of a formula typed into an input cell fits the cell: a count asks for the number,
    the reporter's name for the content (it said «Nên nhập thẳng con số» for a name)."""
    from helpers import clean_values, write_book

    values = clean_values(plan)
    reporter, count = _cell(plan, ("unit", "reporter")), _cell(plan, KEY)

    def mutate(wb):
        wb[reporter.sheet][reporter.ref].value = '="Nguyễn "&"Văn An"'
        wb[count.sheet][count.ref].value = "=1200+2033"

    v = validate(write_book(tmp_path / "x.xlsx", plan, "xa", values, mutate), plan)
    by_cell = {(i.sheet, i.cell): i for i in v.report.issues if i.code == "formula-in-input"}
    assert by_cell[(reporter.sheet, reporter.ref)].message.endswith("Nên nhập thẳng nội dung.")
    assert by_cell[(count.sheet, count.ref)].message.endswith("Nên nhập thẳng con số.")
    assert v.submission.value(("unit", "reporter")) == "Nguyễn Văn An"
