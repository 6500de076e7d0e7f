"""Benchmark: reading and checking workbooks against python-calamine's bare read, and pandas.

    .venv/bin/python scripts/bench_read.py [--copies 5] [--rounds 3] [--pandas 100] [--profile]

Runs the demo (``xhht demo``) into a temporary folder, then measures three sets of workbooks,
each replicated by copying so the page cache and the allocator see a realistic batch:

* communes: the received commune workbooks (~186 .xlsx/.xls, x ``--copies``);
* districts: the 15 districts' consolidated workbooks, which the province reads;
* templates: the official templates (empty workbooks).

For each set, per workbook (median):

(a) python-calamine's bare read (``CalamineWorkbook.from_path`` + ``to_python()`` of every sheet)
    in a tight loop: the floor;
(a') the same read interleaved with (b) (a, b, a, b, ...): what the floor looks like when both
    share the machine's caches; printed so the ratio cannot be flattered by the method;
(b) ``xhht_xl.validate(p, plan)`` in this process, interleaved with (a');
(d) ``xhht validate`` through the command line, marginal: the run over 2N files minus the run over
    N files, divided by N (start-up and imports cancel out); ``--rounds`` rounds of the two runs,
    the median of the rounds' differences;
(a") the floor measured as (d) is: (a)'s tight loop in a fresh process over the same N and 2N
    files, marginal, in the same round as (d) (floor N, CLI N, CLI 2N, floor 2N). (a) is measured
    once, before every CLI run; on a machine whose speed drifts (a shared VM: (a) was seen between
    3.6 and 5.6 ms on the same files within minutes) (d)/(a) moves with the drift, while (d)/(a")
    compares two runs made seconds apart. Both are printed; the target counts the larger.

Each is measured twice: by the wall clock, and by CPU time (this process's ``time.process_time``
for (a), the child's user + system time from ``getrusage(RUSAGE_CHILDREN)`` for (d)). On a machine
shared with other work the wall clock counts the waits for a core; CPU time does not, so the CPU
ratio is the one to quote there (both use the same kind of clock for floor and product).

Ratios printed: (d)/(a) and (d)/(a") by wall clock and by CPU time (target <= 2.0, aim 1.5),
(b)/(a), and the old interleaved ratio (b)/(a').
Then (c) ``pandas.read_excel(sheet_name=None)`` with openpyxl on a subset of the commune files,
against (b) on the same files (target >= 8). Figures, not assertions: the machine is noisy, so
run it several times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

import xhht_xl
from xhht_xl import demo
from xhht_xl import plan as plan_mod


def bare_calamine(path: Path) -> None:
    wb = CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()


def timed(fn, path) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def cpu_timed(fn, path) -> float:
    start = time.process_time()
    fn(path)
    return time.process_time() - start


def children_cpu() -> float:
    """User + system seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replicate(originals: list[Path], folder: Path, at_least: int) -> list[Path]:
    """Copies of ``originals`` (renamed, so no two share a name) until there are ``at_least``."""
    folder.mkdir(parents=True)
    files: list[Path] = []
    i = 0
    while len(files) < max(at_least, len(originals)):
        p = originals[i % len(originals)]
        target = folder / f"{i:05d}{p.suffix}"
        shutil.copyfile(p, target)
        files.append(target)
        i += 1
    return files


# (a") the floor as (d) is measured: python-calamine's bare read of every sheet of FILES... in a
# fresh process, a tight loop (the same as bare_calamine)
_FLOOR_PROCESS = """
import sys
from python_calamine import CalamineWorkbook
for path in sys.argv[1:]:
    wb = CalamineWorkbook.from_path(path)
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()
"""


def cli_seconds(files: list[Path], floor: bool = False) -> tuple[float, float]:
    """Wall time and CPU time of ``xhht validate FILES...`` in a fresh process (its output
    discarded); with ``floor``, of python-calamine's bare read of the same files in a fresh process."""
    script = Path(sys.executable).with_name("xhht")
    if floor:
        command = [sys.executable, "-c", _FLOOR_PROCESS]
    else:
        command = [str(script), "validate"] if script.exists() else [
            sys.executable, "-c", "from xhht_xl.cli import main; main()", "validate"]  # fmt: skip
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run([*command, *map(str, files)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)  # fmt: skip
    took, took_cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode not in (0, 1):  # 1 = the data has errors, expected for the demo's files
        raise RuntimeError(f"{command[-1][:40]!r} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return took, took_cpu


def _ratio(product: float, floor: float) -> float:
    """``product / floor``; NaN when either difference is not positive (too few files for the
    machine's noise: the 2N run was not slower than the N run), so no target is judged on it."""
    return product / floor if product > 0 and floor > 0 else float("nan")


def _median_measured(values) -> float:
    """The median of the values that are numbers (NaN: not measured); NaN when none is."""
    found = [v for v in values if v == v]
    return statistics.median(found) if found else float("nan")


def measure(label: str, files: list[Path], plan, rounds: int) -> dict[str, float]:
    def validate(p: Path) -> None:
        xhht_xl.validate(p, plan)

    for p in files[:20]:  # warm up: imports, caches (layout, plan lookups), page cache
        bare_calamine(p)
        validate(p)
    tight = [timed(bare_calamine, p) for _ in range(rounds) for p in files]
    tight_cpu = [cpu_timed(bare_calamine, p) for _ in range(rounds) for p in files]
    a: list[float] = []
    b: list[float] = []
    for p in files:  # interleaved
        a.append(timed(bare_calamine, p))
        b.append(timed(validate, p))
    half = files[: len(files) // 2]
    small, big, floor_small, floor_big = [], [], [], []
    for _ in range(rounds):  # alternated, so a slow spell of the machine hits both
        floor_small.append(cli_seconds(half, floor=True))
        small.append(cli_seconds(half))
        big.append(cli_seconds(files[: 2 * len(half)]))
        floor_big.append(cli_seconds(files[: 2 * len(half)], floor=True))
    # per round (N then 2N, one after the other), so a slow spell of a shared machine hits both runs
    # it compares; the median over rounds
    marginal = statistics.median(b[0] - s[0] for s, b in zip(small, big, strict=True)) / len(half)
    marginal_cpu = statistics.median(b[1] - s[1] for s, b in zip(small, big, strict=True)) / len(half)
    # (d)/(a") per round: the product and its floor measured the same way, minutes apart at most
    paired = [(_ratio(b[0] - s[0], fb[0] - fs[0]), _ratio(b[1] - s[1], fb[1] - fs[1]))
              for s, b, fs, fb in zip(small, big, floor_small, floor_big, strict=True)]  # fmt: skip
    out = {
        "tight": statistics.median(tight),
        "interleaved": statistics.median(a),
        "validate": statistics.median(b),
        "cli": marginal,
        "tight_cpu": statistics.median(tight_cpu),
        "cli_cpu": marginal_cpu,
        "paired": _median_measured(p[0] for p in paired),
        "paired_cpu": _median_measured(p[1] for p in paired),
    }
    ms = {k: v * 1000 for k, v in out.items()}
    print(f"| {label:<10} | {len(files):>5} | {ms['tight']:>8.2f} | {ms['interleaved']:>8.2f} | "
          f"{ms['validate']:>8.2f} | {ms['cli']:>8.2f} | {out['cli'] / out['tight']:>6.2f} | "
          f"{out['validate'] / out['tight']:>6.2f} | {out['validate'] / out['interleaved']:>6.2f} | "
          f"{ms['tight_cpu']:>8.2f} | {ms['cli_cpu']:>8.2f} | {out['cli_cpu'] / out['tight_cpu']:>6.2f} |")  # fmt: skip
    print(f"|            | N = {len(half)}: CLI runs {', '.join(f'{w:.2f} s ({c:.2f} s CPU)' for w, c in small)}; "
          f"2N: {', '.join(f'{w:.2f} s ({c:.2f} s CPU)' for w, c in big)}")  # fmt: skip
    print(f"|            | (a\") calamine in a fresh process, N: {', '.join(f'{w:.2f} s' for w, _ in floor_small)}; "
          f"2N: {', '.join(f'{w:.2f} s' for w, _ in floor_big)}; (d)/(a\") per round "
          f"{', '.join(f'{w:.2f}' for w, _ in paired)} (CPU {', '.join(f'{c:.2f}' for _, c in paired)})")  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=5, help="replicas of each commune file (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="tight-loop passes and CLI runs (default 3)")
    ap.add_argument("--pandas", type=int, default=100, help="files for the pandas measure (default 100)")
    ap.add_argument("--profile", action="store_true", help="cProfile validate() on the commune files")
    args = ap.parse_args()

    plan = plan_mod.load()
    with tempfile.TemporaryDirectory(prefix="xhht-bench-") as tmp:
        folder = Path(tmp)
        start, cpu = time.perf_counter(), time.process_time()
        result = demo.run(folder / "demo", plan, say=lambda _line: None, progress=lambda *_a: None)
        print(f"xhht demo: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU in "
              f"the main process; synthetic province written in {result.manifest.seconds:.1f} s")  # fmt: skip
        communes = sorted(
            p for p in (folder / "demo" / "nhan" / "xa").rglob("*") if p.suffix in (".xlsx", ".xls")
        )
        communes = [p for p in communes if p.read_bytes()[:2] in (b"PK", b"\xd0\xcf")]  # no planted PDF
        districts = sorted((folder / "demo" / "ket_qua" / "huyen").glob("*_tong_hop.xlsx"))
        official = sorted((folder / "demo" / "mau_bieu").glob("*.xlsx"))
        sets = {
            "communes": replicate(communes, folder / "communes", len(communes) * args.copies),
            "districts": replicate(districts, folder / "districts", 300),
            "templates": replicate(official, folder / "templates", 280),
        }
        sizes = {k: statistics.median(p.stat().st_size for p in v) / 1024 for k, v in sets.items()}
        print("median sizes: " + ", ".join(f"{k} {v:.0f} KiB" for k, v in sizes.items()))
        print()
        print("per workbook, ms (median)")
        print("| set        | files | (a) calamine tight | (a') calamine interleaved | (b) validate in-process "
              "| (d) xhht validate CLI, marginal | (d)/(a) | (b)/(a) | (b)/(a') | (a) CPU | (d) CPU "
              "| (d)/(a) CPU |")  # fmt: skip
        print("|------------|-------|----------|----------|----------|----------|--------|--------|--------|"
              "----------|----------|--------|")  # fmt: skip
        got = {label: measure(label, files, plan, args.rounds) for label, files in sets.items()}
        print()
        for clock, d, a, p in (("wall clock", "cli", "tight", "paired"), ("CPU time", "cli_cpu", "tight_cpu",
                                                                             "paired_cpu")):  # fmt: skip
            ratio = _ratio(got["communes"][d], got["communes"][a])
            paired = got["communes"][p]
            verdict = "not measured" if ratio != ratio or paired != paired else (
                "ok" if max(ratio, paired) <= 2.0 else "MISSED")  # fmt: skip
            print(f"communes: (d)/(a) by {clock} = {ratio:.2f}; (d)/(a\"), paired per round = {paired:.2f}  "
                  f"(target <= 2.0, aim 1.5: {verdict})")  # fmt: skip

        xlsx = [f for f in sets["communes"] if f.suffix == ".xlsx"]
        subset = xlsx[:: max(1, len(xlsx) // args.pandas)][: args.pandas]
        pd.read_excel(subset[0], sheet_name=None, engine="openpyxl")
        c = [timed(lambda p: pd.read_excel(p, sheet_name=None, engine="openpyxl"), p) for p in subset]
        b = [timed(lambda p: xhht_xl.validate(p, plan), p) for p in subset]
        cb = statistics.median(c) / statistics.median(b)
        print(f"(c) pandas.read_excel(openpyxl) {statistics.median(c) * 1000:.1f} ms vs (b) "
              f"{statistics.median(b) * 1000:.2f} ms on the same {len(subset)} files: (c)/(b) = {cb:.1f} "
              f"(target >= 8: {'ok' if cb >= 8 else 'MISSED'})")  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS {peak / 1024 / (1024 if sys.platform == 'darwin' else 1):.0f} MiB")

        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for p in communes:
                xhht_xl.validate(p, plan)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
