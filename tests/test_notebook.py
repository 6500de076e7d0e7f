"""examples/phan_tich.ipynb, run as an analyst runs it: in a real Jupyter kernel (ipykernel of
this venv, driven by nbclient) over the session's demo. Its key figures must be the ones the
consolidated workbook of the demo holds."""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import nbformat
import openpyxl
import pytest
from helpers import own_copy
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from xhht_xl import messages
from xhht_xl.aggregate import verdict_of
from xhht_xl.outputs import STATE

T = messages.text
NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "phan_tich.ipynb"
KERNEL = "xhht-test"
MARK = "XHHT-FIGURES:"

# Appended to the notebook in memory only: what the analyst's cells computed, as JSON.
PROBE = f"""
import json as _json
_f = {{
    "totals": [[r.indicator, int(r.milestone), r.num, r.den, r.rate, r.verdict]
               for r in chi_tieu.astype(object).where(chi_tieu.notna(), None).itertuples()],
    "targets_chart": [[t.get_text() for t in ax.get_yticklabels()],
                      [b.get_width() for b in ax.containers[0]], [b.get_width() for b in ax.containers[1]]],
    "coverage_chart": [[b.get_height() for b in bars] for bars in ax_nop.containers],
    "status": [[r.unit, r.state, int(r.days_late)] for r in tinh.status.itertuples()],
    "rejected": [[r.unit, r.measure, r.typed_value, r.issue] for r in loai.astype(object).itertuples()],
    "compared": [len(so_sanh), bool((so_sanh["communes_sum"] == so_sanh["district_figure"]).all())],
    "late_below": len(f["below"].query("state == 'late'")),
}}
print({MARK!r} + _json.dumps(_f, default=float))
"""


def _kernel_manager(folder: Path, env: dict[str, str]) -> KernelManager:
    """A kernel of this venv's Python (not whatever kernel the machine has installed)."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "xhht_xl (test)", "language": "python", "env": env}),
        encoding="utf-8",
    )
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    transport = "ipc" if sys.platform != "win32" else "tcp"  # a socket file: nothing listens on the network
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs, transport=transport,
                         ip=str(folder / "kernel") if transport == "ipc" else "127.0.0.1")


@pytest.fixture(scope="module")
def executed(demo_run, tmp_path_factory):
    work = tmp_path_factory.mktemp("notebook")
    out = work / "phan_tich"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    demo = own_copy(demo_run.folder, work / "demo")  # the notebook consolidates its folders
    env = {"XHHT_DEMO": str(demo), "XHHT_OUT": str(out), "IPYTHONDIR": str(work / "ipython"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # fmt: skip
    km = _kernel_manager(work, env)
    client = NotebookClient(nb, km=km, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    return nb, out


def _figures(nb) -> dict:
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    line = next(x for x in text.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK) :])


def _rows(ws, first: int) -> list[tuple]:
    return [r for r in ws.iter_rows(min_row=first, values_only=True) if r and r[0] is not None]


def test_the_committed_notebook_is_stripped_and_vietnamese():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Phân tích" in prose and "chỉ tiêu" in prose


def test_the_notebook_shows_the_consolidated_workbooks_figures(executed, demo_run):
    nb, _ = executed
    got = _figures(nb)
    book = openpyxl.load_workbook(demo_run.outputs["province"], read_only=True)
    year = max(demo_run.province.plan.milestones)
    # «Tổng hợp»: every indicator of the last milestone, its numbers, rate and verdict
    ws = book[T("out.sheet-totals")]
    heads = next(ws.iter_rows(min_row=3, max_row=3, values_only=True))
    verdict_col = heads.index(T("out.col-verdict"))
    want = [[r[0], r[2], r[3], r[4], r[5], verdict_of(r[verdict_col])] for r in _rows(ws, 4) if r[2] == year]
    assert len(want) > 10 and got["totals"] == want
    # «Biểu đồ»: the attainment table and the status table behind the two native charts
    ws = book[T("out.sheet-charts")]
    charts = [r for r in ws.iter_rows(min_row=1, values_only=True)]
    n = len(got["targets_chart"][0])
    table = charts[1 : n + 1]
    assert got["targets_chart"] == [[r[0] for r in table], [r[1] for r in table], [r[2] for r in table]]
    states = charts[n + 4 : n + 8]
    assert [r[0] for r in states] == [T(STATE[s]) for s in ("on_time", "late", "missing", "pending")]
    # one series per level, direct units first, then the communes below (their totals cover them)
    levels = [h for h in charts[n + 3][1:] if h is not None]
    assert len(levels) >= 2 and len(got["coverage_chart"]) == len(levels)
    assert got["coverage_chart"] == [[r[col] for r in states] for col in range(1, len(levels) + 1)]
    # «Tình hình nộp»: each direct unit's state and days late (received times from the files, not "now")
    ws = book[T("out.sheet-status")]
    state = {T(v): k for k, v in STATE.items()}
    assert got["status"] == [[str(r[0]), state[r[3]], r[6] or 0] for r in _rows(ws, 5)]
    assert {s for _, s, _ in got["status"]} <= {"on_time", "late", "missing"}
    assert max(d for _, _, d in got["status"]) < 60  # judged on the files' arrival, not on today
    coverage_line = next(ws.iter_rows(min_row=3, max_row=3, values_only=True))[0]
    shown = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any(html.escape(coverage_line.split(":")[0]) in h and "186/188" in h for h in shown)


def test_the_notebook_shows_what_was_rejected_and_joins_runs(executed, demo_run):
    nb, out = executed
    got = _figures(nb)
    fault = next(f for f in demo_run.manifest.faults if f.code == "num-exceeds-den")
    pair = {m: (v, issue) for u, m, v, issue in got["rejected"] if u == fault.unit and issue == "num-exceeds-den"}
    assert set(pair) == {"num", "den"} and pair["num"][0] > pair["den"][0] > 0
    count, equal = got["compared"]
    assert count > 20 and equal
    assert got["late_below"] == int((demo_run.province.below["state"] == "late").sum()) > 0
    # the two charts were drawn in the kernel (inline PNG) and the first also saved by the notebook
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2
    assert (out / "chi_tieu_theo_don_vi.png").read_bytes().startswith(b"\x89PNG")
