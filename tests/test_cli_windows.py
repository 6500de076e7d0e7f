"""The command line as a Windows clerk uses it: folders and wildcards expanded by ``xhht`` itself
(``cmd`` expands none), Office lock files skipped, output names checked against what is written,
argparse's own texts in Vietnamese, one line per mistake saying what to type."""

from __future__ import annotations

import pytest
from helpers import clean_values, write_book

from xhht_xl import cli, messages

T = messages.text


@pytest.fixture(scope="module")
def folder(tmp_path_factory, plan):
    """Two communes' files in a folder and a subfolder, an Excel lock file beside them."""
    root = tmp_path_factory.mktemp("nhan")
    write_book(root / "27685 Phường 1.xlsx", plan, "xa", clean_values(plan, unit="27685"))
    bad = clean_values(plan, unit="27712")
    bad[("kq", "GDHT", 2020, "num")] = -3
    write_book(root / "con" / "27712.xlsx", plan, "xa", bad)
    (root / "~$27685 Phường 1.xlsx").write_bytes(b"\x00lock")  # what Excel leaves while a file is open
    return root


def run(capsys, *args):
    code = cli.main([*map(str, args)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.splitlines()


def _summaries(out):
    return sorted(line for line in out if line.startswith("Tệp "))


def test_validate_a_folder(capsys, folder):
    code, out, err = run(capsys, "validate", folder)
    assert code == 1 and err == []  # the negative count is an error; the lock file is no file at all
    assert _summaries(out) == sorted([
        T("validate.summary-clean", file="27685 Phường 1.xlsx"),
        T("validate.summary", file="27712.xlsx", errors=1, warnings=0, infos=0),
    ])  # fmt: skip


def test_validate_expands_wildcards_itself(capsys, folder, monkeypatch):
    monkeypatch.chdir(folder)
    code, out, err = run(capsys, "validate", "*.xlsx")  # as cmd passes it: unexpanded
    assert code == 0 and err == [] and _summaries(out) == [T("validate.summary-clean", file="27685 Phường 1.xlsx")]
    code, out, _ = run(capsys, "validate", "**/*.xlsx")
    assert code == 1 and len(_summaries(out)) == 2
    code, out, err = run(capsys, "validate", "~$27685 Phường 1.xlsx", "*.xlsx")  # named: still skipped
    assert code == 0 and err == [] and len(_summaries(out)) == 1


def test_a_mistyped_path_says_what_to_check_and_stops(capsys, folder):
    code, out, err = run(capsys, "validate", folder / "27685 Phường 1.xlsx", folder / "khong_co.xlsx")
    assert code == 2 and out == [] and len(err) == 1
    assert "khong_co.xlsx" in err[0] and "gửi lại" not in err[0]  # the clerk's own typing: no sender to blame
    code, out, err = run(capsys, "validate", folder / "*.xls")
    assert code == 2 and len(err) == 1 and "*.xls" in err[0] and "gửi lại" not in err[0]


@pytest.mark.parametrize("args", [
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "794", "-o", "tong_hop.csv"],
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "794", "-o", "th.xlsx", "--json", "r.csv"],
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "794", "-o", "th.xlsx", "--facts", "f.xlsx"],
    ["report", "NHAN", "--level", "huyen", "--unit", "794", "-o", "bao_cao.pdf"],
    ["report", "NHAN", "--level", "huyen", "--unit", "794", "-o", "bc.docx", "--awards", "kt.csv"],
    ["validate", "NHAN", "--json", "loi.xlsx"],
])  # fmt: skip
def test_output_name_must_end_as_what_is_written(capsys, folder, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    args = [str(folder) if a == "NHAN" else a for a in args]
    line = _one_error_line(capsys, args)
    assert "đuôi ." in line, line
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing started


@pytest.mark.parametrize("args", [
    ["validate"], ["consolidate", "x"], ["frob"], ["validate", "--bogus", "x.xlsx"], [],
    ["consolidate", "x", "--level", "huyen", "-o", "a.xlsx", "--as-of", "31/13/2020"],
])  # fmt: skip
def test_argparse_speaks_vietnamese_in_one_line(capsys, args):
    line = _one_error_line(capsys, args)
    assert "--help" in line, line
    for english in ("usage", "error", "required", "argument", "invalid", "unrecognized", "choose from"):
        assert english not in line, line


def _one_error_line(capsys, args) -> str:
    """The command refused with exit code 2, nothing on stdout, one "Lỗi: …" line on stderr."""
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    out, err = capsys.readouterr()
    assert done.value.code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Lỗi: "), lines
    return lines[0]


def test_help_sections_in_vietnamese(capsys):
    with pytest.raises(SystemExit):
        cli.main(["consolidate", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("Cách dùng: xhht consolidate")
    for english in ("usage:", "options:", "positional arguments", "show this help"):
        assert english not in out


def test_levels_named_and_typed_the_same_way(capsys, folder, tmp_path):
    code, _out, err = run(capsys, "consolidate", folder, "--level", "huyen", "--unit", "80", "-o", tmp_path / "a.xlsx")
    assert code == 2 and len(err) == 1
    assert "cấp huyện" in err[0] and "«huyen»" not in err[0] and "--unit 794" in err[0]
    code, _out, err = run(capsys, "consolidate", folder, "--level", "xa", "-o", tmp_path / "a.xlsx")
    assert code == 2 and "Cấp xã" in err[0] and "--level huyen" in err[0] and "--level tinh" in err[0]
    code, _out, err = run(capsys, "validate", "--level", "thon", folder)
    assert code == 2 and "«thon»" in err[0] and "xa (Cấp xã)" in err[0]


def test_plan_error_not_prefixed_twice(capsys, tmp_path):
    code, _out, err = run(capsys, "templates", tmp_path / "mau", "--plan", tmp_path / "khong_co")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("Lỗi dữ liệu kế hoạch:") and err[0].count("Lỗi") == 1
