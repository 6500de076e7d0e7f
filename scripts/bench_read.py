"""Benchmark: reading and checking received workbooks against a bare calamine read and pandas.

    .venv/bin/python scripts/bench_read.py [--copies 5] [--pandas 100] [--profile]

Writes the synthetic province (``synth.demo``) into a temporary folder, takes its commune
workbooks (~200, replicated by copying to ~1,000 files so the page cache and the allocator see a
realistic batch), warms up, then measures per workbook, interleaved (a, b, a, b, ...) so machine
noise hits both alike:

(a) python-calamine's bare read: ``CalamineWorkbook.from_path`` + ``to_python()`` of every sheet;
(b) ``xhht_xl.validate(p, plan)``: the intake gate, read and every check;
(c) ``pandas.read_excel(p, sheet_name=None)`` with openpyxl, on a subset (it is slow).

Then (a) and (b) again over district consolidated workbooks (what the province reads: the
template's sheets plus the consolidation's own sheets), made by consolidating each district's
synthetic communes (``--districts`` of them) and copied ``--copies`` times.

Prints median and total per measure, the ratios (b)/(a) (target <= 2.0) and (c)/(b) (target >= 8)
and the peak RSS. ``--profile`` adds a cProfile of (b) over the commune files.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

import xhht_xl
from xhht_xl import plan as plan_mod
from xhht_xl import synth


def bare_calamine(path: Path) -> None:
    wb = CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()


def district_workbooks(plan, folder: Path, count: int, copies: int) -> list[Path]:
    """Consolidated workbooks of the first ``count`` districts over the synthetic communes."""
    from xhht_xl import demo
    from xhht_xl.consolidation import consolidate

    out = folder / "districts"
    made = []
    for district in plan.units_at("huyen")[:count]:
        c = consolidate(demo._district_folder(folder / "demo", district.code), plan, "huyen", district.code,
                        store=folder / "stores" / district.code)  # fmt: skip
        made.append(c.write_workbook(out / f"{district.code}_tong_hop.xlsx"))
    files = []
    for i in range(copies):
        dest = folder / f"dcopy{i}"
        dest.mkdir()
        for p in made:
            shutil.copyfile(p, dest / p.name)
            files.append(dest / p.name)
    return files


def timed(fn, path) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def row(label: str, times: list[float]) -> str:
    med = statistics.median(times) * 1000
    return f"| {label:<44} | {len(times):>5} | {med:>9.2f} | {sum(times):>8.2f} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=5, help="replicas of each commune file (default 5)")
    ap.add_argument("--pandas", type=int, default=100, help="files for the pandas measure (default 100)")
    ap.add_argument("--districts", type=int, default=15, help="districts consolidated for (d) (default 15)")
    ap.add_argument("--profile", action="store_true", help="cProfile validate() on the commune files")
    args = ap.parse_args()

    plan = plan_mod.load()
    with tempfile.TemporaryDirectory(prefix="xhht-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        synth.demo(folder / "demo")
        made = time.perf_counter() - start
        originals = sorted(p for p in (folder / "demo" / "xa").rglob("*") if p.suffix in (".xlsx", ".xls"))
        originals = [p for p in originals if p.read_bytes()[:2] in (b"PK", b"\xd0\xcf")]  # no planted PDF
        files: list[Path] = []
        for i in range(args.copies):
            dest = folder / f"copy{i}"
            dest.mkdir()
            for j, p in enumerate(originals):
                target = dest / f"{j:03d}{p.suffix}"
                shutil.copyfile(p, target)
                files.append(target)
        kinds = {s: sum(1 for f in files if f.suffix == s) for s in (".xlsx", ".xls")}
        print(f"synthetic province written in {made:.1f} s; {len(originals)} commune workbooks "
              f"x {args.copies} = {len(files)} files ({kinds['.xlsx']} .xlsx, {kinds['.xls']} .xls), "
              f"median size {statistics.median(f.stat().st_size for f in files) / 1024:.0f} KiB")  # fmt: skip

        def validate(p: Path) -> None:
            xhht_xl.validate(p, plan)

        def pandas_read(p: Path) -> None:
            pd.read_excel(p, sheet_name=None, engine="openpyxl" if p.suffix == ".xlsx" else None)

        for p in originals[:20]:  # warm up: imports, caches (layout, plan lookups), page cache
            bare_calamine(p)
            validate(p)
        pd.read_excel(originals[0], sheet_name=None, engine="openpyxl")

        a: list[float] = []
        b: list[float] = []
        for p in files:  # interleaved
            a.append(timed(bare_calamine, p))
            b.append(timed(validate, p))
        xlsx = [f for f in files if f.suffix == ".xlsx"]
        subset = xlsx[:: max(1, len(xlsx) // args.pandas)][: args.pandas]
        c: list[float] = []
        b_subset: list[float] = []
        for p in subset:
            c.append(timed(pandas_read, p))
            b_subset.append(timed(validate, p))

        print()
        print(f"| {'measure (per workbook)':<44} | {'files':>5} | {'median ms':>9} | {'total s':>8} |")
        print(f"|{'-' * 46}|{'-' * 7}|{'-' * 11}|{'-' * 10}|")
        print(row("(a) calamine bare read, all sheets", a))
        print(row("(b) xhht_xl.validate (read + check)", b))
        print(row("(c) pandas.read_excel(openpyxl), subset", c))
        print(row("(b) on the same subset", b_subset))
        ba = statistics.median(b) / statistics.median(a)
        cb = statistics.median(c) / statistics.median(b_subset)
        print()
        print(f"(b)/(a) = {ba:.2f}  (target <= 2.0: {'ok' if ba <= 2.0 else 'MISSED'}); "
              f"totals {sum(b) / sum(a):.2f}")  # fmt: skip
        index = {p: i for i, p in enumerate(files)}
        cb_main = statistics.median(c) / statistics.median(b[index[p]] for p in subset)
        print(f"(c)/(b) = {cb:.1f}  (target >= 8: {'ok' if cb >= 8 else 'MISSED'}); "
              f"totals {sum(c) / sum(b_subset):.1f}; against (b) of the main run {cb_main:.1f}")  # fmt: skip
        if args.districts:
            district_files = district_workbooks(plan, folder, args.districts, args.copies)
            for p in district_files[:3]:
                bare_calamine(p)
                validate(p)
            da: list[float] = []
            db: list[float] = []
            for p in district_files:  # interleaved
                da.append(timed(bare_calamine, p))
                db.append(timed(validate, p))
            print()
            print(f"district consolidated workbooks: {len(district_files) // args.copies} x {args.copies} = "
                  f"{len(district_files)} files, median size "
                  f"{statistics.median(f.stat().st_size for f in district_files) / 1024:.0f} KiB")  # fmt: skip
            print(f"| {'measure (per workbook)':<44} | {'files':>5} | {'median ms':>9} | {'total s':>8} |")
            print(f"|{'-' * 46}|{'-' * 7}|{'-' * 11}|{'-' * 10}|")
            print(row("(a) calamine bare read, all sheets", da))
            print(row("(b) xhht_xl.validate (read + check)", db))
            print(f"(b)/(a) = {statistics.median(db) / statistics.median(da):.2f} on district workbooks; "
                  f"totals {sum(db) / sum(da):.2f}")  # fmt: skip

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mib = peak / 1024 / (1024 if sys.platform == "darwin" else 1)
        print(f"peak RSS {peak_mib:.0f} MiB")

        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for p in originals:
                validate(p)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
