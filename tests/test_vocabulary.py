"""One vocabulary where a clerk reads (CLERK.md, "Words"): no internal token (issue codes, level
codes, indicator and department codes alone, yes/no/partial/missing/n/a, ISO dates, data keys)
in any string cell of a workbook the demo writes, nor in a console line of the demo or of the
CLI, except in a column headed «Mã …» or in brackets after its name."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import own_copy
from vocabulary import line_offences, tokens, workbook_offences

from xhht_xl import cli


def _written_workbooks(folder: Path) -> list[Path]:
    """What the demo wrote for people to read: templates, consolidated workbooks, returned copies,
    the award list (not the received files, which senders wrote, nor the archive of them)."""
    out = sorted((folder / "mau_bieu").glob("*.xlsx"))
    out += sorted(p for p in (folder / "ket_qua").rglob("*.xlsx") if "xhht_intake" not in p.parts)
    return out


def test_the_scanner_finds_what_it_must(plan):
    for text in ("num-exceeds-den: 1", "Nguồn: huyen", "yes", "Không đạt: XMC_BC_15_35", "kq/GDHT/2020/num",
                 "2020-08-13", "Đơn vị không thuộc cấp «huyen»", "Lỗi (count-negative: 1, pdf: 2)"):  # fmt: skip
        assert tokens(text, plan), text
    for text in ("«Tỷ lệ người biết chữ» (XMC_BC_15_35)", "Báo cáo cấp huyện", "13/08/2020",
                 "SNV - Sở Nội vụ", "hãy gõ --level huyen (cấp huyện)", "tệp bao-cao-xa.xlsx", "tinh thần"):  # fmt: skip
        assert not tokens(text, plan), text


def test_every_workbook_the_demo_writes_speaks_the_clerks_words(demo_run, plan):
    books = _written_workbooks(demo_run.folder)
    kinds = {p.parent.name for p in books}
    assert {"mau_bieu", "tinh", "huyen"} <= kinds and any("tra_lai" in p.parts for p in books)
    assert any("khen_thuong" in p.name for p in books)
    offences = [o for p in books for o in workbook_offences(p, plan)]
    assert not offences, "\n".join(offences[:30])


def test_the_demos_console_speaks_the_clerks_words(demo_run, plan):
    offences = list(line_offences(demo_run.summary.splitlines(), plan))
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("args", [
    ["validate"], ["frob"], ["validate", "--level", "thon", "x.xlsx"], ["validate", "khong_co.xlsx"],
    ["consolidate", "NHAN", "--level", "huyenx", "-o", "a.xlsx"],
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "80", "-o", "a.xlsx"],
    ["consolidate", "NHAN", "--level", "xa", "-o", "a.xlsx"],
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "794", "-o", "a.csv"],
    ["consolidate", "NHAN", "--level", "huyen", "--unit", "794", "-o", "a.xlsx", "--as-of", "31/13/2020"],
    ["templates", "--plan", "khong_co"],
])  # fmt: skip
def test_cli_errors_speak_the_clerks_words(demo_run, plan, capsys, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    args = [str(demo_run.folder / "nhan") if a == "NHAN" else a for a in args]
    try:
        code = cli.main(args)
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    assert code == 2 and err.strip() and "Traceback" not in err
    offences = list(line_offences((out + err).splitlines(), plan))
    assert not offences, "\n".join(offences)


def test_consolidate_lists_its_errors_in_words(demo_run, plan, capsys, tmp_path):
    district = own_copy(demo_run.folder / "nhan" / "xa" / "807_huyen_can_giuoc", tmp_path / "807")
    code = cli.main(["consolidate", str(district), "--level", "huyen", "--unit", "807", "-o",
                     str(tmp_path / "th.xlsx"), "--as-of", "05/09/2020"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    lines = out.splitlines()
    listed = [line for line in lines if line.startswith("  - ")]
    assert listed and len(listed) <= cli.ERRORS_SHOWN  # which errors, not only how many
    offences = list(line_offences(lines, plan))
    assert not offences, "\n".join(offences)
