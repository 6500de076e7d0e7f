"""Intake ("pull"): find received files, read and check them, identify their unit, archive
every version by SHA-256 and keep a receipt in an SQLite ledger.

The store (archive + ledger) lives on local disk beside the output: SQLite is unsafe on network
shares. A lock file guards it, so two people running a consolidation at once cannot corrupt it.
Received files are only ever read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import multiprocessing
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import messages, textnorm
from .issues import Issue, make
from .pipeline import Validation, validate
from .plan import Plan, Unit

T = messages.text
SKIP_PREFIXES = ("~$", ".~", "._")  # Office lock files, our temp files, macOS resource forks
STORE_NAME = "xhht_intake"
LOCK_STALE_SECONDS = 15 * 60

Progress = Callable[[int, int, str], None]

# Evidence of when a file was received, strongest first. A mailbox's received time (the server's
# INTERNALDATE, added by the mailbox intake) will rank above the file's own modification time.
GIVEN, MAILBOX, MTIME, FIRST_SEEN = "given", "mailbox", "mtime", "first_seen"
EVIDENCE = (GIVEN, MAILBOX, MTIME, FIRST_SEEN)


class IntakeError(Exception):
    """Intake cannot run; ``str()`` is one Vietnamese line."""


@dataclass
class Received:
    """One file found in the folder, read and checked."""

    path: Path
    rel: str  # path relative to the scanned folder, "/"-separated
    validation: Validation
    sha256: str
    first_seen: dt.datetime
    received_at: dt.datetime
    received_source: str = FIRST_SEEN  # which evidence gave ``received_at`` (one of EVIDENCE)
    unit: str = ""  # today's code of the unit it belongs to ("" = unassigned)
    assigned_by: str = ""  # "code" | "name" | ""
    used: bool = False
    issues: list[Issue] = field(default_factory=list)  # intake's own findings about this file
    parts: list[Received] = field(default_factory=list)  # other files of the same unit to add (mergers)
    # set by ``choose`` on the version used: when the unit's report first arrived (its earliest
    # version; for a unit reporting in parts, the last part's earliest), and the evidence for it
    arrived_at: dt.datetime | None = None
    arrived_source: str = ""

    @property
    def sub(self):
        return self.validation.submission


def scan(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (any names), skipping lock/temp files and our store."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != STORE_NAME and not d.startswith("."))
        for name in sorted(files):
            if name.startswith(SKIP_PREFIXES) or name.startswith("."):
                continue
            path = Path(root) / name
            if path.is_file():
                out.append(path)
    return out


def read_received_at(path: Path | None) -> dict[str, dt.datetime]:
    """``file,received_at`` CSV (e.g. the e-mails' dates): key is the relative path or the file name."""
    if path is None:
        return {}
    out: dict[str, dt.datetime] = {}
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise IntakeError(T("intake.received-at-unreadable", file=path, reason=exc.strerror or exc)) from None
    for line_no, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            when = dt.datetime.fromisoformat(row["received_at"].strip())
            out[textnorm.nfc(row["file"].strip().replace("\\", "/"))] = when
        except (KeyError, ValueError, AttributeError):
            raise IntakeError(T("intake.received-at-bad", file=Path(path).name, row=line_no)) from None
    return out


@contextlib.contextmanager
def locked(store: Path) -> Iterator[None]:
    """Hold the store's lock file; a lock older than 15 minutes is considered abandoned."""
    store.mkdir(parents=True, exist_ok=True)
    lock = store / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > LOCK_STALE_SECONDS:
                lock.unlink(missing_ok=True)
                continue
            raise IntakeError(T("intake.locked", folder=store)) from None
    else:  # pragma: no cover - lost a race twice
        raise IntakeError(T("intake.locked", folder=store))
    try:
        os.write(fd, f"{os.getpid()} {dt.datetime.now().isoformat()}".encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


class Ledger:
    """Receipts of every file version seen, and which version each consolidation used."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS receipts (
                sha256 TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, unit TEXT, level TEXT,
                template_version TEXT, first_seen TEXT NOT NULL, received_at TEXT, status TEXT,
                errors INTEGER, warnings INTEGER, archive TEXT,
                PRIMARY KEY (sha256, path));
            CREATE TABLE IF NOT EXISTS used (
                consolidation TEXT NOT NULL, unit TEXT NOT NULL, sha256 TEXT NOT NULL, run_at TEXT NOT NULL,
                PRIMARY KEY (consolidation, unit, sha256));
            """
        )

    def first_seen(self, sha256: str, now: dt.datetime) -> dt.datetime:
        row = self.db.execute("SELECT MIN(first_seen) FROM receipts WHERE sha256 = ?", (sha256,)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else now

    def record(self, r: Received, archive: str) -> None:
        sub = r.sub
        report = r.validation.report
        status = "unreadable" if sub is None else ("errors" if report.errors else "ok")
        self.db.execute(
            """INSERT INTO receipts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(sha256, path) DO UPDATE SET unit=excluded.unit, level=excluded.level,
               received_at=excluded.received_at, status=excluded.status, errors=excluded.errors,
               warnings=excluded.warnings""",
            (
                r.sha256,
                r.rel,
                r.path.stat().st_size,
                r.unit,
                sub.level if sub else "",
                sub.template_version if sub else "",
                r.first_seen.isoformat(),
                r.received_at.isoformat(),
                status,
                len(report.errors),
                len(report.warnings),
                archive,
            ),
        )

    def last_used(self, consolidation: str, unit: str) -> tuple[str, str] | None:
        """(sha256, archive) of the version of ``unit`` the previous run of this consolidation used."""
        row = self.db.execute(
            """SELECT u.sha256, r.archive FROM used u JOIN receipts r ON r.sha256 = u.sha256
               WHERE u.consolidation = ? AND u.unit = ? ORDER BY u.run_at DESC LIMIT 1""",
            (consolidation, unit),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def mark_used(self, consolidation: str, unit: str, sha256: str, run_at: dt.datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO used VALUES (?,?,?,?)", (consolidation, unit, sha256, run_at.isoformat())
        )

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]

    def close(self) -> None:
        self.db.commit()
        self.db.close()


def archive(store: Path, path: Path, sha256: str) -> Path:
    """A copy of a received version, named by its hash (copied once, never modified)."""
    target = store / "files" / sha256[:2] / f"{sha256}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return target


def identify(r: Received, plan: Plan, expected: dict[str, Unit]) -> None:
    """Which expected unit a file belongs to: its code, else exactly one name match, else none."""
    sub = r.sub
    if sub is not None and sub.unit_code and plan.unit(sub.unit_code) is not None:
        r.unit, r.assigned_by = sub.unit_code, "code"
        return
    texts = [sub.unit_text] if sub is not None and sub.unit_text else []
    texts.append(Path(r.rel).stem)
    for text in texts:
        key = f" {textnorm.match_key(text)} "
        hits = [u for u in expected.values() if f" {textnorm.match_key(u.name)} " in key]
        if len(hits) == 1:
            r.unit, r.assigned_by = hits[0].code, "name"
            return


def pull(
    folder: Path,
    plan: Plan,
    expected: dict[str, Unit],
    store: Path,
    received_at: dict[str, dt.datetime] | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
    mailbox: dict[str, dt.datetime] | None = None,
) -> list[Received]:
    """Read, check, identify, archive and record every file under ``folder``.

    ``received_at``: times the clerk supplied (``--received-at``); ``mailbox``: the mail
    server's received times of attachments saved into ``folder`` (by relative path). See
    :func:`received_time` for the order of evidence. Large folders are read by ``workers``
    processes (default: up to 2 from 64 files on).
    """
    received_at = received_at or {}
    now = now or dt.datetime.now().replace(microsecond=0)
    files = scan(folder)
    rels = [textnorm.nfc(path.relative_to(folder).as_posix()) for path in files]
    out: list[Received] = []
    ledger = Ledger(store / "ledger.sqlite")
    try:
        for i, (path, rel, validation) in enumerate(_validations(files, rels, plan, workers), start=1):
            if progress:
                progress(i, len(files), rel)
            sha = validation.submission.sha256 if validation.submission else _sha256(path)
            first_seen = ledger.first_seen(sha, now)
            when, source = received_time(path, rel, first_seen, received_at, mailbox)
            r = Received(path, rel, validation, sha, first_seen, when, source)
            identify(r, plan, expected)
            ledger.record(r, str(archive(store, path, sha).relative_to(store)))
            out.append(r)
        ledger.db.commit()
    finally:
        ledger.close()
    return out


PARALLEL_FROM = 64
_worker_plan: Plan | None = None


def _init_worker(plan: Plan) -> None:
    global _worker_plan
    _worker_plan = plan


def _validate_job(job: tuple[Path, str]) -> Validation:
    path, rel = job
    return validate(path, _worker_plan, file=rel)


def _validations(files: list[Path], rels: list[str], plan: Plan, workers: int | None) -> Iterator[tuple]:
    """(path, rel, Validation) in file order, read in worker processes when it pays off."""
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(files) < PARALLEL_FROM:
        for path, rel in zip(files, rels, strict=True):
            yield path, rel, validate(path, plan, file=rel)
        return
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(plan,)) as pool:
        results = pool.map(_validate_job, zip(files, rels, strict=True), chunksize=16)
        yield from zip(files, rels, results, strict=True)


def local_time(when: dt.datetime) -> dt.datetime:
    """A time as naive local time of this machine (a time given with a UTC offset is converted),
    so that times from every source compare and deadlines are judged on the local date."""
    if when.tzinfo is not None:
        when = when.astimezone().replace(tzinfo=None)
    return when.replace(microsecond=0)


def received_time(
    path: Path,
    rel: str,
    first_seen: dt.datetime,
    given: dict[str, dt.datetime] | None = None,
    mailbox: dict[str, dt.datetime] | None = None,
) -> tuple[dt.datetime, str]:
    """When ``rel`` was received and on what evidence (one of :data:`EVIDENCE`), strongest first:

    1. ``given``: the time the clerk supplied for this file (``--received-at``, e.g. the e-mail's date);
    2. ``mailbox``: the mail server's received time of the message the file came in;
    3. the file's modification time, unless it is later than when the store first saw this
       content (then the file was copied or touched after it arrived);
    4. when the store first saw this content (its ledger), at worst the moment of this run.

    Never the order of file names: two downloads of one attachment are named "X.xlsx" and
    "X (1).xlsx" in whatever order they were saved.
    """
    for source, times in ((GIVEN, given), (MAILBOX, mailbox)):
        when = _lookup_time(times or {}, rel)
        if when is not None:
            return local_time(when), source
    try:
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
    except (OSError, OverflowError, ValueError):
        mtime = None
    if mtime is not None and mtime <= first_seen:
        return mtime, MTIME
    return first_seen, FIRST_SEEN


def _lookup_time(times: dict[str, dt.datetime], rel: str) -> dt.datetime | None:
    """The supplied received time of a file: by its relative path, by a longer path ending with it
    (the CSV may be relative to a parent folder), or by its bare name when that is unique."""
    if rel in times:
        return times[rel]
    longer = [t for key, t in times.items() if key.endswith("/" + rel)]
    if len(longer) == 1:
        return longer[0]
    name = rel.rsplit("/", 1)[-1]
    same_name = [t for key, t in times.items() if key.rsplit("/", 1)[-1] == name]
    return same_name[0] if len(same_name) == 1 else None


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def choose(received: list[Received], expected: dict[str, Unit], plan: Plan) -> dict[str, Received]:
    """The version used for each expected unit: the readable one received last.

    Versions are ordered by their received time (:func:`received_time`), never by file name.
    Versions received at the same time cannot be ordered: the one whose own date cell
    ("Ngày báo cáo") is later is used, with a warning that says so (content decides only when
    the dates are equal too, and the warning asks the clerk to remove the wrong file). The
    version used records when the unit's report first arrived (``arrived_at``): timeliness is
    judged on the first version, a later correction does not make a unit late.
    Other versions are listed (superseded or duplicate); files of no expected unit are unassigned.
    """
    by_unit: dict[str, list[Received]] = {}
    for r in received:
        if r.unit in expected:
            by_unit.setdefault(r.unit, []).append(r)
        elif r.sub is not None:
            unit = plan.unit(r.unit) if r.unit else None
            reason = T("intake.not-expected", code=r.unit, name=unit.name) if unit else T("intake.no-unit")
            r.issues.append(make("unassigned", file=r.rel, unit=r.unit, reason=reason))
    chosen: dict[str, Received] = {}
    for unit, versions in by_unit.items():
        readable = [r for r in versions if r.sub is not None]
        # Communes merged on 01/01/2020 may still report separately under their old codes: each
        # old code is a part of the new commune (their figures add up), not a version of it.
        parts: dict[str, list[Received]] = {}
        for r in readable:
            given = r.sub.unit_code_given
            part = given if given and given != unit and plan.resolve_code(given)[0] == unit else unit
            parts.setdefault(part, []).append(r)
        used: list[Received] = []
        arrivals: list[Received] = []
        for part_versions in parts.values():
            best = _latest(part_versions, unit)
            best.used = True
            used.append(best)
            arrivals.append(min(part_versions, key=lambda r: r.received_at))
            seen = {best.sha256}
            for r in sorted(part_versions, key=lambda r: (r.received_at, r.sha256)):
                if r is best:
                    continue
                if r.sha256 in seen:
                    r.issues.append(make("duplicate-unit", file=r.rel, unit=unit, other=best.rel))
                elif r.received_at < best.received_at:
                    r.issues.append(make("superseded", file=r.rel, unit=unit, code=unit, newer=best.rel,
                                         at=_hm(r.received_at), newer_at=_hm(best.received_at)))  # fmt: skip
                seen.add(r.sha256)
        if used:
            used.sort(key=lambda r: (r.received_at, r.sha256))
            chosen[unit] = used[-1]
            chosen[unit].parts = used[:-1]
            arrived = max(arrivals, key=lambda r: r.received_at)  # the unit is complete with its last part
            chosen[unit].arrived_at, chosen[unit].arrived_source = arrived.received_at, arrived.received_source
    return chosen


def _latest(versions: list[Received], unit: str) -> Received:
    """The version received last; a tie is broken by the later date cell, then by content
    (never by file name), with a warning on the version used."""
    last = max(r.received_at for r in versions)
    tied = [r for r in versions if r.received_at == last]
    if len({r.sha256 for r in tied}) == 1:
        return tied[0]
    day = dt.date.min

    def dated(r: Received) -> tuple[dt.date, str]:
        return (r.sub.report_date or day, r.sha256)

    tied.sort(key=dated)
    best = tied[-1]
    others = [r for r in tied[:-1] if r.sha256 != best.sha256]
    listed = ", ".join(f"{r.rel} ({_day(r.sub.report_date)})" for r in others)
    by_date = all((r.sub.report_date or day) < (best.sub.report_date or day) for r in others)
    best.issues.append(
        make(
            "versions-unordered" if by_date else "versions-unordered-same-date",
            file=best.rel,
            unit=unit,
            code=unit,
            at=_hm(last),
            source=T(f"evidence.{best.received_source}"),
            date=_day(best.sub.report_date),
            others=listed,
        )
    )
    return best


def _hm(when: dt.datetime) -> str:
    return when.strftime("%H:%M %d/%m/%Y")


def _day(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else T("evidence.no-date")
