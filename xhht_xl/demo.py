"""``xhht demo``: the whole review of Long An 2020 on synthetic data, as the README's main job.

Writes the templates, the synthetic submissions as they would arrive, consolidates every
district from its communes and the province from the districts and departments, writes every
output, and ends with a short summary in Vietnamese. Deterministic: it supplies its own
received times and "as of" dates, so two runs give the same results.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import pickle
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

from . import messages, synth
from .consolidation import Consolidation, consolidate
from .pipeline import collector_paused
from .plan import Plan, load

T = messages.text
DISTRICT_AS_OF = dt.date(2020, 8, 28)  # the districts consolidate after the communes' deadline
PROVINCE_AS_OF = dt.date(2020, 9, 5)  # the province after 31/8/2020
NOW = dt.datetime(2020, 9, 5, 17, 0)
WORKERS = 2  # processes for the templates, the synthetic files and the districts (2 cores are common)


@dataclass
class DemoResult:
    folder: Path
    manifest: synth.Manifest
    districts: dict[str, Consolidation]
    province: Consolidation
    outputs: dict[str, Path] = field(default_factory=dict)
    summary: str = ""
    seconds: float = 0.0


def run(
    folder: str | Path,
    plan: Plan | None = None,
    say: Callable[[str], None] = print,
    progress: Callable[[int, int, str], None] | None = None,
    cache: str | Path | None = None,
    workers: int = WORKERS,
) -> DemoResult:
    """The whole demo into ``folder``; ``say`` gets each stage's line, ``progress(i, n, file)``
    each file written (default: a line that rewrites itself when stderr is a terminal).
    ``cache``: a folder where the synthetic province's files are kept and reused across runs
    (tests); the demo itself always writes them afresh. ``workers``: processes for the templates,
    the synthetic files and the consolidations (1: all in this process, the least CPU in all, for a
    caller already running others side by side, such as a test session's workers)."""
    start = time.perf_counter()
    plan = plan or load()
    progress = progress or _progress_line
    folder = Path(folder)
    for sub in ("mau_bieu", "nhan", "ket_qua"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    say(T("demo.step-templates", folder=folder / "mau_bieu"))
    builds = synth.TemplateBuilds(plan)  # a department's template is also what it fills and sends
    written = builds.write_official(folder / "mau_bieu", workers=workers)
    say(T("demo.step-templates-done", count=len(written), seconds=_seconds(time.perf_counter() - start)))

    received = folder / "nhan"
    count = {level: len(plan.units_at(level)) for level in ("xa", "huyen", "so_nganh")}
    say(T("demo.step-synth", communes=count["xa"], districts=count["huyen"], departments=count["so_nganh"],
          folder=received))  # fmt: skip
    if cache is not None:
        manifest = synth.cached_demo(
            received, cache, plan=plan, progress=progress, builds=builds, workers=workers
        )
    else:
        manifest = synth.demo(received, plan=plan, progress=progress, builds=builds, workers=workers)
    del builds
    say(T("demo.step-synth-done", count=len(manifest.files), seconds=_seconds(manifest.seconds)))

    districts, province, outputs = consolidate_all(plan, received, manifest, folder / "ket_qua", say, workers)
    result = DemoResult(folder, manifest, districts, province, outputs)
    result.seconds = time.perf_counter() - start
    result.summary = summary(result, plan)
    say(result.summary)
    return result


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}".replace(".", ",")


def _progress_line(i: int, n: int, file: str) -> None:
    """One line that rewrites itself on a terminal (nothing when the output is a file or a pipe)."""
    if sys.stderr.isatty():
        line = T("demo.progress", i=i, n=n, file=file)[:100]
        print(
            "\r" + line.ljust(100), end="" if i < n else "\r" + " " * 100 + "\r", file=sys.stderr, flush=True
        )


def _district_job(job: tuple) -> Consolidation:
    """One district's consolidation and the outputs the province needs from it (run in a worker
    process): its consolidated workbook, which it sends up, and its JSON. Its returned copies and
    draft report are written later, while the province is consolidated (``_district_extras``)."""
    plan, folder, code, own, times, out = job
    c = consolidate(folder, plan, "huyen", code, into=own, received_at=times, as_of=DISTRICT_AS_OF,
                    store=out / "xhht_intake" / code, now=NOW)  # fmt: skip
    c.write_workbook(out / f"{code}_tong_hop.xlsx")
    c.write_json(out / f"{code}_bao_cao.json")
    return c


def _district_extras(districts: dict[str, Consolidation], out: Path, report: str) -> None:
    """The districts' outputs nobody waits for: each district's returned copies, and the draft report
    of the district ``report`` (the demo drafts one district's, beside the province's)."""
    from .report import write_report

    for code, c in districts.items():
        write_returned(c, out / "tra_lai" / code)
    write_report(districts[report], _district_report(out / "huyen", report))


def _district_report(out: Path, code: str) -> Path:
    return out / f"{code}_bao_cao_tong_ket.docx"


def write_returned(c: Consolidation, folder: Path) -> list[Path]:
    """A marked copy for every sender whose used workbook has errors or warnings."""
    from .returned import write_returned_copy

    written = []
    for r in c.chosen.values():
        if any(i.severity in ("error", "warning") for i in r.validation.report):
            written.append(write_returned_copy(r.validation, c.plan, folder))
    return written


def consolidate_all(
    plan: Plan, received: Path, manifest: synth.Manifest, out: Path, say=print, workers: int = WORKERS
):
    """Every district from its communes (in parallel: they are independent), then the province
    from the districts' consolidated workbooks and the departments' workbooks."""
    times = synth.read_received(manifest.received_csv)
    say(T("demo.step-districts"))
    own = {f.unit: received / f.path for f in manifest.files if f.level == "huyen"}
    sent_at = {f.unit: f.received_at for f in manifest.files if f.level == "huyen"}
    first = plan.units_at("huyen")[0].code  # its draft report too
    jobs = [(plan, _district_folder(received, d.code), d.code, own.get(d.code), times, out / "huyen")
            for d in plan.units_at("huyen")]  # fmt: skip
    (out / "huyen").mkdir(parents=True, exist_ok=True)
    to_province = out / "gui_tinh"
    to_province.mkdir(parents=True, exist_ok=True)
    up_times: dict[str, dt.datetime] = {}  # what the province receives, and when
    districts: dict[str, Consolidation] = {}
    with contextlib.ExitStack() as stack:
        if workers > 1:
            ctx = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            )
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=ctx))
            # Largest first, so that no worker is left alone with a large district at the end; the
            # lines still come in the plan's order.
            order = sorted(range(len(jobs)), key=lambda i: -len(list(jobs[i][1].iterdir())))
            futures = {i: pool.submit(_district_job, jobs[i]) for i in order}
            results = (futures[i].result() for i in range(len(jobs)))
        else:
            results = map(_district_job, jobs)
        # Each district's line as soon as it (and those before it) are done, not all at the end;
        # unpickling each consolidation makes ~10^5 objects, none in a cycle: no collections
        stack.enter_context(collector_paused())
        for district, c in zip(plan.units_at("huyen"), results, strict=True):
            _district_done(district, c, out, to_province, sent_at, up_times, say)
            districts[district.code] = c
    with _Started([(_district_extras, (districts, out, first))], workers) as extras:
        # the districts' returned copies and report, side by side with the province, which does
        # not keep both cores busy all along (its own workbook and report are waited for below)
        for f in manifest.files:
            if f.level == "so_nganh":
                target = to_province / Path(f.path).name
                shutil.copyfile(received / f.path, target)
                up_times[target.name] = f.received_at
                _arrived(target, f.received_at)
        own_province = next(received / f.path for f in manifest.files if f.level == "tinh")
        say(
            T(
                "demo.step-province",
                districts=len(plan.units_at("huyen")),
                departments=len(plan.units_at("so_nganh")),
            )
        )
        province = consolidate(to_province, plan, "tinh", plan.province.code, into=own_province,
                               received_at=up_times, as_of=PROVINCE_AS_OF, store=out / "tinh" / "xhht_intake",
                               now=NOW, workers=workers)  # fmt: skip
        # the workbook and the documents are independent: written side by side
        with _Started([(_province_outputs, (province, out)), (_report_outputs, (province, out))], workers) as parts:
            written, drafted = parts.wait()
        outputs = {"districts": out / "huyen", "returned": out / "tra_lai", **written, **drafted,
                   "district_report": _district_report(out / "huyen", first)}  # fmt: skip
        extras.wait()  # raises what the process raised
    return districts, province, outputs


_inherited: dict[int, list[tuple[Callable, tuple]]] = {}  # jobs a forked process finds in its copy of memory
_batches = itertools.count()


def _run_job(conn, batch: int, i: int, job: tuple[Callable, tuple] | None) -> None:
    """In a process of its own: one job of ``_Started``, its result or its exception sent back."""
    try:
        fn, args = _inherited[batch][i] if job is None else job
        reply = ("ok", fn(*args), "")
    except BaseException as exc:
        reply = ("error", exc, traceback.format_exc())
    try:
        data = ForkingPickler.dumps(reply)
        if reply[0] == "error":
            pickle.loads(data)  # an exception whose __init__ is not its args pickles, but does not unpickle
    except Exception as exc:  # sent as its own text, one line (the CLI prints it), its trace as the cause
        bad = reply[1] if reply[0] == "error" else exc
        text = " ".join(str(bad).split()) or type(bad).__name__
        data = ForkingPickler.dumps(("error", RuntimeError(text), reply[2] or traceback.format_exc()))
    with contextlib.suppress(OSError):  # nobody listens any more (the caller was interrupted)
        conn.send_bytes(data)
    conn.close()


def _reply(proc: multiprocessing.process.BaseProcess, conn) -> bytes:
    """The reply of a job of ``_Started`` as sent; EOFError when its process ended without one.
    Its end is looked for, not only the pipe's: a process the job started by fork keeps copies of
    the pipe and of the process's sentinel open after the job's process died."""
    while not conn.poll(0.1):
        if proc.exitcode is not None and not conn.poll():  # a reply is sent before the end
            raise EOFError
    return conn.recv_bytes()


class _Started:
    """``[fn(*args) for fn, args in jobs]``, each started in a process of its own on entering;
    ``wait`` returns their results (and raises what a job raised: one that cannot be sent back as
    it is, such as an exception whose ``__init__`` is not its args, as a RuntimeError of its text,
    its trace as the cause), leaving waits for them all and reads what they send.

    Forked processes find the jobs in the memory they share with this one: a consolidation is not
    pickled (the province's is ~1.6 MB: ~0.05 s to pickle here and ~0.15 s to unpickle in each
    process); spawned ones get them pickled. Plain processes, not a pool: a pool's thread would
    still run here when the next processes are forked. With ``workers`` = 1 the jobs run in this
    process, on entering."""

    def __init__(self, jobs: list[tuple[Callable, tuple]], workers: int):
        self.jobs, self.workers = jobs, workers
        self.batch = next(_batches)
        self.running: list[tuple[multiprocessing.process.BaseProcess, object]] = []
        self._results: list | None = None

    def __enter__(self) -> _Started:
        if self.workers <= 1:
            self._results = [fn(*args) for fn, args in self.jobs]
            return self
        fork = "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        if fork:
            _inherited[self.batch] = self.jobs
        for i, job in enumerate(self.jobs):
            here, there = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_run_job, args=(there, self.batch, i, None if fork else job))
            proc.start()
            there.close()
            self.running.append((proc, here))
        return self

    def wait(self) -> list:
        if self._results is None:
            replies = [pickle.loads(data) if data is not None else
                       ("error", RuntimeError(f"worker process ended with code {code}"), "")
                       for data, code in self._end()]  # fmt: skip
            for kind, value, text in replies:
                if kind == "error":
                    raise value from (RuntimeError(text) if text else None)
            self._results = [value for _, value, _ in replies]
        return self._results

    def __exit__(self, *exc) -> None:
        self._end()  # left early (an error here): the jobs still end, what they send is dropped

    def _end(self) -> list[tuple[bytes | None, int | None]]:
        """Each running job's reply as sent (None: its process ended without one, killed or out of
        memory) and its process's exit code. Each reply is read before its process is joined: a
        large one would keep the process from ending."""
        ended = []
        for proc, conn in self.running:
            try:
                data = _reply(proc, conn)
            except (EOFError, OSError):
                data = None
            conn.close()
            proc.join()
            ended.append((data, proc.exitcode))
        self.running = []
        _inherited.pop(self.batch, None)
        return ended


def _arrived(path: Path, when: dt.datetime) -> None:
    """Give a file sent up the modification time of its arrival (the received-time evidence an
    analyst's own run over ``gui_tinh`` finds without a --received-at file)."""
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def _district_done(district, c: Consolidation, out: Path, to_province: Path, sent_at, up_times, say) -> None:
    """Send a district's consolidated workbook up to the province, and say how it went."""
    name = f"{district.code}_tong_hop.xlsx"
    shutil.copyfile(out / "huyen" / name, to_province / name)  # what the district sends up
    up_times[name] = sent_at.get(district.code, NOW)
    _arrived(to_province / name, up_times[name])
    s = c.status["state"].value_counts()
    say(T("demo.step-district", code=district.code, name=district.name, communes=len(c.status),
          ok=int(s.get("on_time", 0)), late=int(s.get("late", 0)), missing=int(s.get("missing", 0)),
          errors=len(c.report.errors)))  # fmt: skip


def _province_outputs(province: Consolidation, out: Path) -> dict[str, Path]:
    from .report.awards import write_award_list

    return {
        "province": province.write_workbook(out / "tinh" / "80_tong_hop_tinh.xlsx"),
        "province_json": province.write_json(out / "tinh" / "80_bao_cao.json"),
        "facts": province.write_facts(out / "tinh" / "80_du_lieu.csv"),
        # here rather than beside the report, the longer of the two
        "awards": write_award_list(province, out / "tinh" / "80_danh_sach_khen_thuong.xlsx"),
    }


def _report_outputs(province: Consolidation, out: Path) -> dict[str, Path]:
    from . import report

    return {"report": report.write_report(province, out / "tinh" / "80_bao_cao_tong_ket.docx")}


def _district_folder(received: Path, code: str) -> Path:
    matches = [d for d in (received / "xa").iterdir() if d.is_dir() and d.name.split("_", 1)[0] == code]
    return matches[0]


def all_issues(result: DemoResult):
    """Every issue of the run: the districts' and the province's, each once."""
    seen, out = set(), []
    for c in (*result.districts.values(), result.province):
        for i in c.report:
            key = (i.code, i.unit, i.sheet, i.cell)  # the province sees a district's issue in its workbook
            if key not in seen:
                seen.add(key)
                out.append(i)
    return out


def summary(result: DemoResult, plan: Plan) -> str:
    issues = all_issues(result)
    p = result.province
    late = [i.unit for i in issues if i.code == "late"]
    missing = [i.unit for i in issues if i.code == "missing"]
    year = max(plan.milestones)
    last = p.totals[p.totals["milestone"] == year]
    met = int(last["verdict"].isin(["dat", "vuot"]).sum())
    not_met = last[last["verdict"] == "khong-dat"]["indicator"].tolist()
    errors = [i for i in issues if i.severity == "error"]
    by_code: dict[str, int] = {}
    for i in errors:
        by_code[i.code] = by_code.get(i.code, 0) + 1

    def names(codes):
        return ", ".join(f"{c} - {plan.units[c].name}" for c in dict.fromkeys(codes) if c in plan.units) or T(
            "demo.none"
        )

    unreadable = [i.file for i in issues if i.severity == "error" and not i.sheet and i.code not in
                  ("missing", "quota-exceeded", "duplicate-nominee", "nominee-outside")]  # fmt: skip
    from .outputs import coverage_lines, issue_kind

    noms = p.nominations
    excluded = noms[noms["verdict_code"] != "within"] if not noms.empty else noms
    reasons = ", ".join(f"{v}: {n}" for v, n in excluded["verdict"].value_counts(sort=False).items()) if len(
        excluded) else T("demo.none")  # fmt: skip
    lines = [
        T("demo.title"),
        T("demo.late", items=names(late)),
        T("demo.missing", items=names(missing)),
        T("demo.coverage", lines=" ".join(coverage_lines(p)) or T("demo.none")),
        T("demo.awards", within=len(noms) - len(excluded), excluded=len(excluded), reasons=reasons),
        T("demo.targets", year=year, met=met, not_met=len(not_met), none=len(last) - met - len(not_met)),
        T("demo.targets-not-met", items="; ".join(T("demo.indicator", name=plan.indicators[i].name, code=i)
                                                  for i in not_met) or T("demo.none")),
        T("demo.quotas", items=names(i.unit for i in issues if i.code == "quota-exceeded")),
        T("demo.duplicates", items=names(i.unit for i in issues if i.code == "duplicate-nominee")),
        T("demo.unreadable", items=", ".join(unreadable) or T("demo.none")),
        T(
            "demo.errors",
            count=len(errors),
            items="; ".join(f"{issue_kind(k)}: {v}" for k, v in sorted(by_code.items())) or "0",
            warnings=sum(1 for i in issues if i.severity == "warning"),
        ),
        T("demo.outputs", folder=result.folder / "ket_qua"),
        T("demo.output-province", file=result.outputs["province"]),
        T("demo.output-districts", folder=result.outputs["districts"]),
        T(
            "demo.output-returned",
            folder=result.outputs["returned"],
            count=sum(1 for _ in result.outputs["returned"].rglob("*.xlsx")),
        ),
        T("demo.output-report", file=result.outputs["report"]),
        T("demo.seconds", seconds=f"{result.seconds:.1f}".replace(".", ",")),
    ]
    return "\n".join(lines)
