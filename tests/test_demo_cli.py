"""`xhht demo` through the command line, run again over the session's finished demo.

A module of its own (not in tests/test_demo.py): its one test is a whole demo, so README's
``--dist loadscope`` can give it to the worker that did not run the session's demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from xhht_xl import cli, messages

T = messages.text


def test_demo_cli_twice_gives_the_same_results(demo_run, tmp_path, capsys):
    """The command run again over a finished demo's folder gives the same results and prints the
    same summary (the first run is the session's demo, run in one process: the command's, with its
    worker processes, must give the same)."""
    folder = tmp_path / "a"
    shutil.copytree(demo_run.folder, folder)
    result = folder / "ket_qua/tinh/80_bao_cao.json"
    first = _same_run_results(result, demo_run.folder)
    capsys.readouterr()
    assert cli.main(["demo", str(folder)]) == 0
    assert _same_run_results(result, folder) == first
    out = capsys.readouterr().out
    assert T("demo.step-templates", folder=folder / "mau_bieu") in out
    # the summary but its last line (the run's time), naming this run's folder
    summary = demo_run.summary.rsplit("\n", 1)[0].replace(str(demo_run.folder), str(folder))
    assert summary in out


def _same_run_results(path, folder) -> dict:
    """The province's JSON results without what names this run: the received folder (checked to be
    the run's own) and the districts' workbooks' hashes (written again, with their writing time)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert Path(data.pop("folder")) == (folder / "ket_qua" / "gui_tinh").resolve()
    for f in data["files"]:
        if f["file"].endswith("_tong_hop.xlsx"):
            assert len(f.pop("sha256")) == 64
    return data
