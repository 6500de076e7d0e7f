"""Benchmark of consolidation, printed as figures (not asserted; machines are noisy).

    .venv/bin/python scripts/bench_consolidate.py [--national N]

1. Long An end to end: 215 received files -> 15 districts -> province with 11 departments, including
   writing every output (consolidated workbooks, JSON, facts, returned copies, the reports).
   Target: under 5 s on 2 cores.
2. National scale: a synthetic two-level plan (one top unit over N communes, default 10,600),
   N commune workbooks read + checked + aggregated in one consolidation with 2 worker processes.
   Targets: under 30 s and under 1 GB (the main process and its workers together: the sum of each
   one's peak RSS, an upper bound, and the largest sampled sum of their PSS, each shared page once,
   sampled in a second run: the sampling costs CPU the timed run would lose).
Both are compared with python-calamine's bare read of the same files, in the same run; the national
run also with python-calamine reading only the sheets xhht reads (not the guide nor the hidden lists
sheet), the floor of any reader built on it. Figures,
not assertions: the machine is noisy, so run it several times. The national run also prints its CPU
time (the main process's and the workers', from ``getrusage``): on a machine shared with other work
the wall clock counts the waits for a core, CPU time does not.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

from python_calamine import CalamineWorkbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from xhht_xl import demo, layout, read, synth
from xhht_xl import plan as plan_mod
from xhht_xl.consolidation import consolidate


def bare_read(paths: list[Path], cpu: list[float] | None = None, only: set[str] | None = None) -> float:
    """Seconds for python-calamine to read every sheet of every file (the floor), or with ``only``
    just those sheets of each file (opened all the same); its CPU seconds are appended to ``cpu``
    when given."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for p in paths:
        wb = CalamineWorkbook.from_path(str(p))
        for name in wb.sheet_names:
            if only is None or name in only:
                wb.get_sheet_by_name(name).to_python()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    """User + system seconds of this process (or of its finished children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB of this process (or the largest of its finished children)."""
    return resource.getrusage(who).ru_maxrss / 1024


class PssSampler:
    """The largest sum of proportional set sizes (PSS: each shared page divided among the processes
    sharing it) of process ``root`` (default: this one) and all its descendants, sampled every ``every`` s from
    ``/proc/<pid>/smaps_rollup`` (Linux) while running as a context. Summing each process's own peak
    RSS (``rss_mb``) counts the pages a forked worker shares with its parent once per process: an
    upper bound; this is what the processes hold together, but between samples a short peak can be
    missed. ``peak_mb`` is None where /proc does not tell."""

    def __init__(self, root: int | None = None, every: float = 0.2):
        self.root, self.every, self.peak_mb = root or os.getpid(), every, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PssSampler:
        if Path(f"/proc/{self.root}/smaps_rollup").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(_pss_kb(pid) for pid in _tree(self.root)) / 1024
            self.peak_mb = max(self.peak_mb or 0.0, total)
            self._stop.wait(self.every)


def _tree(root: int) -> list[int]:
    """``root`` and every process descended from it (from each process's parent in /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _when_said(said: dict[str, float], line: str) -> None:
    said.setdefault(line, time.perf_counter())


def province(tmp: Path) -> None:
    plan = plan_mod.load()
    manifest = synth.demo(tmp / "nhan", plan=plan, workers=2)
    files = [tmp / "nhan" / f.path for f in manifest.files if f.format in ("xlsx", "xls")]
    province_line = demo.T("demo.step-province", districts=len(plan.units_at("huyen")),
                           departments=len(plan.units_at("so_nganh")))  # fmt: skip
    runs = []
    for i in range(3):
        base = bare_read(files)
        out = tmp / f"ket_qua_{i}"
        said: dict[str, float] = {}
        cpu = cpu_s() + cpu_s(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        demo.consolidate_all(plan, tmp / "nhan", manifest, out,
                             say=functools.partial(_when_said, said))  # fmt: skip
        took = time.perf_counter() - start
        cpu = cpu_s() + cpu_s(resource.RUSAGE_CHILDREN) - cpu  # the worker processes have ended
        runs.append((took, base, said[province_line] - start, cpu))
    total = statistics.median(r[0] for r in runs)
    base = statistics.median(r[1] for r in runs)
    print("Long An end to end (188 communes -> 15 districts -> province + 11 departments, all outputs)")
    print(f"  files read              {len(files)} received + 15 district workbooks")
    print(
        f"  end to end              {total:6.2f} s   (target <= 5 s)   runs: {', '.join(f'{r[0]:.2f}' for r in runs)}"
    )
    print(f"  of which the districts  runs: {', '.join(f'{r[2]:.2f}' for r in runs)} s; the province (its "
          f"consolidation, then its workbook and report side by side, with the districts' returned copies and "
          f"report beside them): "
          f"{', '.join(f'{r[0] - r[2]:.2f}' for r in runs)} s")  # fmt: skip
    print(f"  CPU time                runs: {', '.join(f'{r[3]:.2f}' for r in runs)} s (this process and its "
          f"workers; on 2 cores at best half of it as wall clock)")  # fmt: skip
    print(f"  calamine bare read      {base:6.2f} s   ratio {total / base:.1f}x")


def national_plan(tmp: Path, n: int) -> plan_mod.Plan:
    """The Long An plan reshaped to two levels: one top unit over ``n`` communes."""
    src = plan_mod.default_folder()
    dst = tmp / "plan_national"
    shutil.copytree(src, dst)
    toml = (dst / "plan.toml").read_text(encoding="utf-8")
    toml = toml.replace('id = "long_an_2020"', 'id = "national_bench"').replace(
        'standing_body = "SGDDT"', 'standing_body = "80"'
    )
    toml = re.sub(r'\[\[levels\]\]\ncode = "huyen".*?template = "chung"\n\n', "", toml, flags=re.S)
    toml = toml.replace('code = "xa"\nname = "Cấp xã"\nunit_noun = "xã, phường, thị trấn"\nparent = "huyen"',
                        'code = "xa"\nname = "Cấp xã"\nunit_noun = "xã, phường, thị trấn"\nparent = "tinh"')  # fmt: skip
    toml = re.sub(r'\[\[deadlines\]\]\nlevel = "huyen".*?\n\n', "", toml, flags=re.S)
    toml = re.sub(r'\[\[report\.documents\]\]\nlevel = "huyen".*?(?=\n\[|\Z)', "", toml, flags=re.S)
    # the cover letter is issued by a department this plan does not have
    toml = re.sub(r'\[\[report\.documents\]\]\nlevel = "tinh"\nkind = "cover".*?(?=\n\[|\Z)', "", toml, flags=re.S)
    toml = re.sub(r'\[\[quotas\]\]\naward = "CTUBND"\nproposer_level = "huyen".*?\n\n', "", toml, flags=re.S)
    (dst / "plan.toml").write_text(toml, encoding="utf-8")
    rows = [
        "code,name,type,level,parent,role,contact_person,contact_phone,topic",
        "80,Toàn quốc,tinh,tinh,,,,,",
    ]
    rows += [f"{10000 + i},Xã {10000 + i},xa,xa,80,,,," for i in range(n)]
    (dst / "units.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (dst / "unit_changes.csv").write_text(
        "old_code,old_name,parent,new_code,new_name,change,effective,basis,certainty\n"
    )
    with open(dst / "indicators.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        levels = [lv for lv in row["levels"].split(";") if lv in ("xa", "tinh")]
        row["levels"] = ";".join(levels)
        row["departments"] = ""
        if row["measure"] == "amount" and levels:
            row["authority"] = "tinh=self+xa"
        elif row["authority"]:
            row["authority"] = "tinh=xa" if "xa" in levels else "tinh=self"
    with open(dst / "indicators.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return plan_mod.load(dst)


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    """A member compressed as ``zipfile.ZIP_DEFLATED`` does it: (raw deflate, CRC-32, size)."""
    z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush(), zlib.crc32(data), len(data)


_STAMP = (0, (2020 - 1980) << 9 | 8 << 5 | 10)  # DOS time and date: 10/08/2020 00:00


def _zip(members: list[tuple[str, tuple[bytes, int, int]]]) -> bytes:
    """A zip of already deflated members (APPNOTE 4.3: local headers, central directory, end
    record), as ``zipfile`` writes one: each file's unchanged parts are compressed once, not
    once per file."""
    body, central = bytearray(), bytearray()
    for name, (data, crc, size) in members:
        raw = name.encode("ascii")
        head = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, zipfile.ZIP_DEFLATED, *_STAMP, crc, len(data),
                           size, len(raw), 0)  # fmt: skip
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, zipfile.ZIP_DEFLATED, *_STAMP, crc,
                               len(data), size, len(raw), 0, 0, 0, 0, 0o600 << 16, len(body)) + raw  # fmt: skip
        body += head + raw + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0)
    return bytes(body + central + end)


def write_communes(plan: plan_mod.Plan, folder: Path) -> list[Path]:
    """Every commune's workbook, filled as the demo fills one (``synth.commune_entries``: its own
    results, funding, officer, narrative and nominations; each file's values differ) into its own
    template (the per-unit template: its unit in the dropdown list). Written as ``synth.LevelWriter``
    writes them, but a sheet part is compressed in two pieces: what may change, up to the part's last
    slot, per file, then what follows it, once (``xlsxcopy.Package.tail``): a deflate stream may go on
    with blocks compressed on their own."""
    units = plan.units_at("xa")
    deadline = plan.deadline("xa").date
    entries = [synth.commune_entries(plan, u, random.Random(f"national/{u.code}"), deadline)[0] for u in units]
    writer = synth.LevelWriter(plan, "xa", units[0], entries)
    package = writer.package
    names = [info.filename for info in package.infos]
    first = package.filled({})
    fixed = {name: _deflated(data) for name, data in package.parts.items() if name not in first}
    tails = {name: package.tail(name) for name in first}
    ends = {name: _deflated(tail)[0] for name, tail in tails.items()}
    files = []
    for unit, values in zip(units, entries, strict=True):
        filled = package.filled(writer.cells(unit, values))
        members = []
        for name in names:
            if name not in filled:
                members.append((name, fixed[name]))
                continue
            data, tail = filled[name], tails[name]
            head = data[: len(data) - len(tail)]
            z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            body = z.compress(head) + z.flush(zlib.Z_SYNC_FLUSH) + ends[name]
            members.append((name, (body, zlib.crc32(tail, zlib.crc32(head)), len(data))))
        path = folder / f"{len(files) // 500:02d}" / f"xa_{unit.code}.xlsx"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(_zip(members))
        files.append(path)
    return files


def national(tmp: Path, n: int) -> None:
    plan = national_plan(tmp, n)
    folder = tmp / "national"
    folder.mkdir()
    start = time.perf_counter()
    files = write_communes(plan, folder)
    made = time.perf_counter() - start
    # written to disk before anything is timed: files received days ago are not being written back
    # while they are read (the kernel's writeback of them would run on the measured cores)
    os.sync()
    for path in files:  # same page cache for both measurements
        path.read_bytes()
    sample = files[:: max(1, n // 1000)]  # the floor per workbook, measured on about 1,000 files
    base_cpu: list[float] = []
    base_s = bare_read(sample, base_cpu) * n / len(sample)
    base_cpu_s = base_cpu[0] * n / len(sample)
    # the sheets xhht reads (read.READ_ROLES and _meta; not the guide nor the lists sheet _ds)
    lay = layout.build(plan, plan.levels["xa"].template)
    read_by_us = {lay.sheets[role] for role in (*read.READ_ROLES, "meta")}
    bare_read(sample, base_cpu, only=read_by_us)
    needed_cpu_s = base_cpu[1] * n / len(sample)
    # timed in a process of its own, as ``xhht`` runs it: this one holds the generator's data, which
    # the consolidation's forked workers would inherit (and its page-table walk on every fork)
    timed = json.loads(subprocess.run([sys.executable, __file__, "--time-national", str(tmp), str(n)], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1])  # fmt: skip
    took, cpu_main, cpu_workers = timed["took"], timed["cpu_main"], timed["cpu_workers"]
    main_peak, worker_peak, facts_rows = timed["main_peak"], timed["worker_peak"], timed["facts_rows"]
    # The PSS is sampled in a second run, not in the timed one: reading /proc/<pid>/smaps_rollup
    # walks the process's page tables (~8 ms of CPU for 700 MB), ~2 s of CPU over a run sampled
    # every 0.2 s, taken from the two cores the consolidation runs on.
    again = subprocess.Popen([sys.executable, __file__, "--time-national", str(tmp), str(n), "--again"],
                             stdout=subprocess.DEVNULL)  # fmt: skip
    with PssSampler(again.pid) as sampled:
        if again.wait() != 0:
            raise SystemExit(f"the second national run (for the PSS) failed: exit code {again.returncode}")
    print(f"National scale ({n} commune workbooks, two-level plan; files made in {made:.1f} s)")
    print(
        f"  read + check + aggregate {took:6.1f} s   (target <= 30 s)   {took / n * 1000:.2f} ms per workbook"
    )
    print(f"  CPU time                 {cpu_main + cpu_workers:6.1f} s   main process {cpu_main:.1f} s + workers "
          f"{cpu_workers:.1f} s ({cpu_workers / n * 1000:.2f} ms per workbook); on 2 cores at best "
          f"{max(cpu_main, (cpu_main + cpu_workers) / 2):.1f} s of wall clock")  # fmt: skip
    print(f"  calamine bare read       {base_s:6.1f} s   {base_s / n * 1000:.2f} ms per workbook (every sheet; sampled), "
          f"ratio {took / base_s:.2f}x (2 worker processes vs 1); by CPU time "
          f"{base_cpu_s:.1f} s, ratio {(cpu_main + cpu_workers) / base_cpu_s:.2f}x")  # fmt: skip
    print(f"  calamine, the sheets read  {needed_cpu_s:6.1f} s of CPU  {needed_cpu_s / n * 1000:.2f} ms per workbook "
          f"(open + the {len(read_by_us)} sheets xhht reads, sampled): on 2 cores at best {needed_cpu_s / 2:.1f} s "
          f"of wall clock before any checking; ratio by CPU time {(cpu_main + cpu_workers) / needed_cpu_s:.2f}x")  # fmt: skip
    print(f"  peak memory              {main_peak + 2 * worker_peak:6.0f} MB at most (target < 1024 MB): main "
          f"process {main_peak:.0f} MB + 2 workers x {worker_peak:.0f} MB (the larger's peak); "
          f"facts rows {facts_rows}")  # fmt: skip
    if sampled.peak_mb is not None:
        print(f"  peak memory, sampled     {sampled.peak_mb:6.0f} MB   the processes' proportional set sizes (PSS) "
              f"summed every {sampled.every} s in a second, untimed run: what they hold together, each shared "
              f"page once")  # fmt: skip


def time_national(tmp: Path, n: int, again: bool) -> None:
    """The national consolidation of ``national``'s files, timed in this fresh process; one JSON
    line of figures on stdout."""
    plan = plan_mod.load(tmp / "plan_national")
    cpu_main, cpu_workers = cpu_s(), cpu_s(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    c = consolidate(tmp / "national", plan, "tinh", "80", store=tmp / ("store-again" if again else "store"),
                    workers=2)  # fmt: skip
    took = time.perf_counter() - start
    cpu_main, cpu_workers = cpu_s() - cpu_main, cpu_s(resource.RUSAGE_CHILDREN) - cpu_workers
    row = c.totals[(c.totals.indicator == "GDHT") & (c.totals.milestone == 2020)].iloc[0]
    assert row.units_covered == n, row
    print(json.dumps({"took": took, "cpu_main": cpu_main, "cpu_workers": cpu_workers, "main_peak": rss_mb(),
                      "worker_peak": rss_mb(resource.RUSAGE_CHILDREN), "facts_rows": len(c.facts)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--national", type=int, default=10_600)
    parser.add_argument("--skip-province", action="store_true")
    parser.add_argument("--time-national", nargs=2, metavar=("FOLDER", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_national:
        time_national(Path(args.time_national[0]), int(args.time_national[1]), args.again)
        return
    if not args.skip_province:
        with tempfile.TemporaryDirectory() as tmp:
            province(Path(tmp) / "p")
    if args.national:  # its figures come from processes of their own (time_national), not from this one's
        with tempfile.TemporaryDirectory() as tmp:
            national(Path(tmp) / "n", args.national)


if __name__ == "__main__":
    main()
