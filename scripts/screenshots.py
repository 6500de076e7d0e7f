"""Render the pictures shown in README through LibreOffice headless (developer tool).

.venv/bin/python scripts/screenshots.py      # writes docs/*.png
.venv/bin/python scripts/screenshots.py --notebook  # only docs/phan_tich_chi_tieu.png, from the notebook
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from pathlib import Path

import openpyxl

from xhht_xl import demo, lo, report, templates
from xhht_xl import plan as plan_mod

DOCS = Path(__file__).resolve().parent.parent / "docs"
LOCALE = "vi-VN"  # numbers and dates as a Vietnamese clerk's Excel shows them


def filled_commune(plan, rng: random.Random) -> dict:
    values = {("unit", "unit"): "27712", ("unit", "reporter"): "Nguyễn Thị Minh Thư"}
    for ind in plan.rate_indicators():
        if not plan.entered_by(ind, "xa"):
            continue
        for m in plan.milestones:
            den = (
                1 if ind.code.endswith(("_XA", "_CO", "_CHUAN", "_MUC2", "_TOT")) else rng.randint(300, 4000)
            )
            share = rng.uniform(0.55, 1.0) if m == 2015 else rng.uniform(0.65, 1.0)
            values[("kq", ind.code, m, "num")] = min(den, round(den * share))
            values[("kq", ind.code, m, "den")] = den
    return values


def main() -> None:
    plan = plan_mod.load()
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "mau_xa_dien_mau.xlsx"
        templates.build_workbook(plan, "xa", values=filled_commune(plan, random.Random(5))).save(src)
        (pdf,) = lo.convert([src], "pdf", tmp / "pdf", tmp / "work", locale=LOCALE)
        png = lo.render_png(pdf, tmp / "page", page=3, dpi=90)
        shutil.copy(png, DOCS / "mau_ket_qua.png")
        print("docs/mau_ket_qua.png")
        province(tmp)


def province(tmp: Path) -> None:
    """The demo's consolidated provincial workbook (appendix page, charts sheet) and report page 1."""
    result = demo.run(tmp / "demo", say=lambda _line: None)
    book = result.outputs["province"]
    only = tmp / "sheets"
    only.mkdir()
    for sheet, name in (("Kết quả", "tong_hop_tinh"), ("Biểu đồ", "bieu_do")):
        wb = openpyxl.load_workbook(book)
        wb.active = wb.sheetnames.index(sheet)
        for ws in wb.worksheets:  # hidden, not deleted: formulas still reach the other sheets
            ws.sheet_view.tabSelected = ws.title == sheet
            if ws.title != sheet:
                ws.sheet_state = "hidden"
        wb.save(only / f"{name}.xlsx")
        (pdf,) = lo.convert([only / f"{name}.xlsx"], "pdf", tmp / "pdf2", tmp / "work", locale=LOCALE)
        shutil.copy(lo.render_png(pdf, tmp / name, page=1, dpi=80), DOCS / f"{name}.png")
        print(f"docs/{name}.png")
    report_page(DOCS / "bao_cao.png", result.province, tmp / "report")
    print("docs/bao_cao.png")
    notebook_chart(result.folder, tmp / "notebook", DOCS / "phan_tich_chi_tieu.png")
    print("docs/phan_tich_chi_tieu.png")


def notebook_chart(demo_folder: Path, work: Path, png_path: Path) -> Path:
    """Run examples/phan_tich.ipynb over the demo in a kernel of this Python (nbclient; the
    ``notebook`` and ``test`` extras) and keep the chart it saves (README's analyst section)."""
    import json

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    out = work / "phan_tich"
    spec = work / "kernels" / "xhht"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {"XHHT_DEMO": str(demo_folder), "XHHT_OUT": str(out)}
    kernel = {"argv": argv, "display_name": "xhht_xl", "language": "python", "env": env}
    spec.joinpath("kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    km = KernelManager(kernel_name="xhht", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(work / "kernels")]))
    nb = nbformat.read(Path(__file__).resolve().parent.parent / "examples" / "phan_tich.ipynb", as_version=4)
    NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(work)}}).execute()
    shutil.copy(out / "chi_tieu_theo_don_vi.png", png_path)
    return png_path


def report_pages(c, folder: Path, dpi: int = 85, first: int = 1, last: int | None = None) -> list[Path]:
    """Pages of the draft report of consolidation ``c`` as PNG, through LibreOffice (Vietnamese
    locale, so chart numbers read 98,1 and 1.417) and pdftoppm; for README and for looking at
    every page before calling the report done."""
    folder.mkdir(parents=True, exist_ok=True)
    docx = report.write_report(c, folder / "bao_cao_tong_ket.docx")
    (pdf,) = lo.convert([docx], "pdf", folder / "pdf", folder, locale="vi-VN")
    pages = []
    end = last or first
    for page in range(first, end + 1):
        pages.append(lo.render_png(pdf, folder / f"trang_{page:02d}", page=page, dpi=dpi))
    return pages


def report_page(png_path: Path, c, work: Path) -> Path:
    """Page 1 of the draft report of ``c`` as ``png_path`` (docs/bao_cao.png)."""
    (page,) = report_pages(c, work)
    shutil.copy(page, png_path)
    return png_path


if __name__ == "__main__":
    if sys.argv[1:] == ["--notebook"]:  # only the notebook's chart (no LibreOffice needed)
        with tempfile.TemporaryDirectory() as tmp:
            run = demo.run(Path(tmp) / "demo", say=lambda _line: None)
            notebook_chart(run.folder, Path(tmp) / "notebook", DOCS / "phan_tich_chi_tieu.png")
            print("docs/phan_tich_chi_tieu.png")
    else:
        main()
