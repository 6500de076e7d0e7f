"""``xhht validate``: lines per issue, summaries, JSON, returned copies and exit codes."""

from __future__ import annotations

import json

import pytest
from helpers import clean_values, write_book

from xhht_xl import cli, messages

T = messages.text


@pytest.fixture(scope="module")
def books(tmp_path_factory, plan):
    """A clean commune file, one with a warning only, one with an error, two unreadable files."""
    folder = tmp_path_factory.mktemp("cli")
    clean = write_book(folder / "sach.xlsx", plan, "xa", clean_values(plan))
    warn_values = clean_values(plan)
    warn_values[("kq", "GDHT", 2020, "den")] = "1.234.567"
    warn_values[("kq", "GDHT", 2020, "num")] = 1000
    warning = write_book(folder / "canh_bao.xlsx", plan, "xa", warn_values)
    err_values = clean_values(plan)
    err_values[("kq", "GDHT", 2020, "num")] = -3
    error = write_book(folder / "loi.xlsx", plan, "xa", err_values)
    empty = folder / "rong.xlsx"
    empty.write_bytes(b"")
    pdf = folder / "bao_cao.xlsx"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF")
    return {"clean": clean, "warning": warning, "error": error, "empty": empty, "pdf": pdf}


def run(capsys, *args):
    code = cli.main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.splitlines()


def test_clean_file_exit_0(capsys, books):
    code, out, err = run(capsys, books["clean"])
    assert code == 0 and err == []
    assert out == [T("validate.summary-clean", file="sach.xlsx")]


def test_warnings_count_only_with_strict(capsys, books):
    code, out, _ = run(capsys, books["warning"])
    assert code == 0
    assert out[0].startswith(T("validate.warning") + ": ") and "«1.234.567»" in out[0]
    assert out[-1] == T("validate.summary", file="canh_bao.xlsx", errors=0, warnings=1, infos=0)
    code, _, _ = run(capsys, "--strict", books["warning"])
    assert code == 1


def test_errors_exit_1_one_line_per_issue(capsys, books):
    code, out, _ = run(capsys, books["clean"], books["error"], books["warning"])
    assert code == 1
    errors = [line for line in out if line.startswith(T("validate.error") + ": ")]
    assert len(errors) == 1 and "loi.xlsx" in errors[0] and "không được âm" in errors[0]
    summaries = [line for line in out if line.startswith("Tệp ") and line.endswith(".")]
    assert len(summaries) == 3


def test_unreadable_files_exit_1_one_line_each(capsys, books):
    """An unreadable file is a data problem of that file (exit 1, as consolidate says it): the run
    went on and checked the others; 2 is for a run that could not be made."""
    code, out, err = run(capsys, books["error"], books["empty"], books["pdf"], books["clean"])
    assert code == 1 and err == []
    code, _, err = run(capsys, books["pdf"])  # the only file given, unreadable: still the file's data
    assert code == 1 and err == []
    for name in ("rong.xlsx", "bao_cao.xlsx"):
        lines = [line for line in out if name in line]
        assert len(lines) == 1, lines
        assert lines[0].startswith(T("validate.error") + ": ")
    missing = books["clean"].parent / "khong_co.xlsx"
    code, out, err = run(capsys, missing)  # a mistyped name: the clerk's, one line on stderr
    assert code == 2 and out == [] and len(err) == 1 and "khong_co.xlsx" in err[0]


def test_json_and_returned_copies(capsys, books, tmp_path):
    report, copies = tmp_path / "ket_qua" / "loi.json", tmp_path / "tra_lai"
    files = [books["clean"], books["warning"], books["error"], books["pdf"]]
    code, out, _ = run(capsys, *files, "--json", report, "--return-copy", copies)
    assert code == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert [set(d) for d in data] == [{"code", "severity", "unit", "file", "sheet", "cell", "message"}] * len(
        data
    )
    by_file = {d["file"]: d for d in data}
    assert set(by_file) == {"canh_bao.xlsx", "loi.xlsx", "bao_cao.xlsx"}
    assert by_file["loi.xlsx"]["code"] == "count-negative" and by_file["loi.xlsx"]["severity"] == "error"
    assert by_file["loi.xlsx"]["unit"] == "27712" and by_file["loi.xlsx"]["sheet"] == "Kết quả"
    assert by_file["canh_bao.xlsx"]["severity"] == "warning"
    assert by_file["bao_cao.xlsx"]["severity"] == "error" and not by_file["bao_cao.xlsx"]["sheet"]
    # a returned copy for each readable file with issues, none for the clean or unreadable file
    assert sorted(p.name for p in copies.iterdir()) == ["canh_bao_tra_lai.xlsx", "loi_tra_lai.xlsx"]
    assert sum(1 for line in out if str(copies) in line) == 2
    assert not list(report.parent.glob(".~xhht-*")), "atomic writes leave no temporary file"


def test_same_name_in_two_folders(capsys, books, tmp_path, plan):
    values = clean_values(plan, unit="27685")
    values[("kq", "GDHT", 2020, "num")] = -1
    other = write_book(tmp_path / "huyen_khac" / "loi.xlsx", plan, "xa", values)
    copies = tmp_path / "tra_lai"
    code, out, _ = run(capsys, books["error"], other, "--return-copy", copies)
    assert code == 1
    assert sorted(p.name for p in copies.iterdir()) == ["loi_tra_lai.xlsx", "loi_tra_lai_2.xlsx"]
    assert any(str(other) in line for line in out)  # messages name the path, not just "loi.xlsx"


def test_expected_level(capsys, books):
    code, out, _ = run(capsys, "--level", "huyen", books["clean"])
    assert code == 1 and "phải là báo cáo của Cấp huyện" in out[0] and out[0].startswith(T("validate.error"))
    code, out, err = run(capsys, "--level", "thon", books["clean"])
    assert code == 2 and out == [] and len(err) == 1


def test_a_file_name_a_cell_cannot_hold_neither_stops_the_run_nor_reaches_a_cell(capsys, books, tmp_path, plan):
    """A received file's name may hold characters an .xlsx cell cannot (a newline, ESC, a bidi
    override: Linux allows them in names): its returned copy's title drops them (openpyxl raised
    IllegalCharacterError there and the whole run stopped, exit 2, the next files unchecked and no
    JSON written); the console shows none of them."""
    import openpyxl

    odd = tmp_path / "nhan" / "loi\n\x1b[31mDO\u202egnp.xlsx"
    odd.parent.mkdir()
    odd.write_bytes(books["error"].read_bytes())
    copies, report = tmp_path / "tra_lai", tmp_path / "loi.json"
    code, out, err = run(capsys, odd, books["warning"], "--return-copy", copies, "--json", report)
    assert code == 1 and err == []
    assert report.exists() and {d["file"] for d in json.loads(report.read_text(encoding="utf-8"))} >= {"canh_bao.xlsx"}
    written = sorted(copies.iterdir())
    assert len(written) == 2 and all(p.parent == copies for p in written)
    for copy in written:
        ws = openpyxl.load_workbook(copy).worksheets[0]
        assert not any(ch in str(ws["A1"].value) for ch in "\n\x1b\u202e"), repr(ws["A1"].value)
    assert not any(ch in line for line in out for ch in "\x1b\u202e")
    assert not any(ch in p.name for p in written for ch in "\n\x1b\u202e")  # the name printed is the name written
    assert any(str(p) in line for p in written for line in out)


def test_a_defect_met_by_one_returned_copy_names_that_file_and_the_run_goes_on(capsys, books, tmp_path, monkeypatch):
    """Whatever goes wrong while one copy is made becomes one Vietnamese line naming that file
    (the trace in the user's error log); the next files get theirs, the JSON is written."""
    from xhht_xl import returned

    real = returned._issue_sheet

    def fails_for_one(wb, sub, placed):
        if sub.file == "loi.xlsx":
            raise RuntimeError("a defect")
        return real(wb, sub, placed)

    monkeypatch.setattr(returned, "_issue_sheet", fails_for_one)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    copies, report = tmp_path / "tra_lai", tmp_path / "loi.json"
    code, out, err = run(capsys, books["error"], books["warning"], "--return-copy", copies, "--json", report)
    assert code == 1 and err == [] and report.exists()
    assert [p.name for p in copies.iterdir()] == ["canh_bao_tra_lai.xlsx"]
    log = tmp_path / "state" / "xhht_xl" / "error.log"
    skipped = [line for line in out if "loi.xlsx" in line and "bản trả lại" in line]
    assert len(skipped) == 1 and str(log) in skipped[0] and "RuntimeError" not in skipped[0], out
    assert "RuntimeError: a defect" in log.read_text(encoding="utf-8")


def test_a_folder_s_empty_files_and_fifos_are_said_not_dropped(capsys, books, tmp_path):
    """What a folder holds that is no report is said (helper-36: an empty .xlsx beside a good one was
    dropped without a word, exit 0): an empty file in the same «bỏ qua» line a consolidation of the
    folder gives, a FIFO named as a file that cannot be read (exit 1)."""
    import os

    folder = tmp_path / "nhan"
    folder.mkdir()
    (folder / "sach.xlsx").write_bytes(books["clean"].read_bytes())
    (folder / "rong.xlsx").write_bytes(b"")
    os.mkfifo(folder / "ong.xlsx")
    report = tmp_path / "kq.json"
    code, out, err = run(capsys, folder, "--json", report)
    assert code == 1 and err == []
    said = [line for line in out if "1 tệp rỗng (0 byte)" in line]
    assert len(said) == 1 and said[0].startswith(T("validate.info") + ": ")
    assert any("ong.xlsx" in line and line.startswith(T("validate.error") + ": ") for line in out)
    codes = {d["code"] for d in json.loads(report.read_text(encoding="utf-8"))}
    assert "files-skipped" in codes
