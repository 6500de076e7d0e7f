"""Intake ("pull"): find received files, read and check them, identify their unit, keep every
version by SHA-256 and a receipt of each file in an SQLite ledger.

The store (the ledger, holding the versions' bytes, and its lock) lives on local disk beside the
output: SQLite is unsafe on network shares. A lock file guards it, so two people running a
consolidation at once cannot corrupt it. Received files are only ever read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import multiprocessing
import os
import re
import socket
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from . import cleaning, messages, safety, textnorm
from .errors import DataError
from .issues import Issue, Report, make
from .pipeline import Validation, validate
from .plan import Plan, Unit

T = messages.text
SKIP_PREFIXES = ("~$", ".~", "._")  # Office lock files, our temp files, macOS resource forks
# Files that operating systems and editors leave in any folder: never a submission.
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db", "icon\r", ".directory"})
JUNK_SUFFIXES = (".tmp", ".temp", ".bak", ".lnk", ".crdownload", ".part", ".partial", ".swp")
STORE_NAME = "xhht_intake"
LOCK_STALE_SECONDS = 15 * 60  # a lock held from another computer is taken over after this
# Received times are Vietnam's (UTC+7), as the plan's deadlines are: a time given with another
# UTC offset is converted.
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7))

Progress = Callable[[int, int, str], None]

# Evidence of when a file was received, strongest first. A mailbox's received time (the server's
# INTERNALDATE, recorded by ``xhht mail pull``) ranks above the file's own modification time.
GIVEN, MAILBOX, MTIME, FIRST_SEEN = "given", "mailbox", "mtime", "first_seen"
EVIDENCE = (GIVEN, MAILBOX, MTIME, FIRST_SEEN)
LEDGER_NAME = "ledger.sqlite"
# What ``receipts.archive`` records for a version kept in the ledger's ``versions`` table. Stores
# written before kept each version as a file, ``files/<2 hex>/<sha256><suffix>``: still read.
KEPT = "versions"


@dataclass(frozen=True)
class MailOrigin:
    """The message a file came in, as the mailbox intake (``xhht_xl.mail``) recorded it.

    ``received_at``: the mail server's received time (IMAP INTERNALDATE, RFC 3501 2.3.3) as naive
    Vietnam time (:data:`LOCAL_TZ`); ``sender``: the From header as display text
    (``Tên <địa chỉ>``); ``reply_to``: where a reply goes (Reply-To, else From); ``date``: the
    message's own Date header (ISO, as the sender's computer claimed it); ``message_id`` and
    ``references``: for threading a reply (RFC 5322 3.6.4); ``name``: the file's own name in that
    message (as the sender named it; the stored file has a name the pull derived)."""

    received_at: dt.datetime
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    date: str = ""
    reply_to: str = ""
    references: str = ""
    name: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"received_at": self.received_at.isoformat(), "sender": self.sender, "subject": self.subject,
                "message_id": self.message_id, "date": self.date, "reply_to": self.reply_to,
                "references": self.references, "name": self.name}  # fmt: skip


class IntakeError(DataError):
    """Intake cannot run; ``str()`` is one Vietnamese line (a :class:`DataError`, the one type
    of bad input an analyst catches)."""


@dataclass
class Received:
    """One file found in the folder, read and checked. The submission of a file with neither
    error nor warning keeps its entries but not its formula cells nor the places of its empty
    inputs (what only a returned copy reads: :func:`_keep_needed`)."""

    path: Path
    rel: str  # path relative to the scanned folder, "/"-separated
    validation: Validation
    sha256: str
    first_seen: dt.datetime
    received_at: dt.datetime
    received_source: str = FIRST_SEEN  # which evidence gave ``received_at`` (one of EVIDENCE)
    size: int = 0  # bytes read (the size on disk of a file refused before reading)
    archive: str = ""  # where the bytes read are kept (:data:`KEPT`, an older store's file; "" = not kept)
    skipped: bool = False  # not a submission: junk, a link out of the folder, our own output
    unit: str = ""  # today's code of the unit it belongs to ("" = unassigned)
    assigned_by: str = ""  # "code" | "name" | ""
    used: bool = False
    issues: list[Issue] = field(default_factory=list)  # intake's own findings about this file
    parts: list[Received] = field(default_factory=list)  # other files of the same unit to add (mergers)
    # set by ``choose`` on the version used: when the unit's report first arrived (its earliest
    # version; for a unit reporting in parts, the last part's earliest), and the evidence for it
    arrived_at: dt.datetime | None = None
    arrived_source: str = ""
    mail: MailOrigin | None = None  # the message the file came in, when its time is the mailbox's
    arrived_mail: MailOrigin | None = None  # set by ``choose``: the message of the first arrival

    @property
    def sub(self):
        return self.validation.submission


def scan(folder: Path, skipped: Counter | None = None) -> list[Path]:
    """Every regular file under ``folder`` (any names), in a stable order, skipping our store, hidden
    folders and junk (:func:`is_junk`: Office lock files, Thumbs.db, desktop.ini, .DS_Store, .tmp,
    empty files). ``skipped`` (if given) counts what was skipped, by reason: ``junk``, ``empty``,
    ``link`` (a symbolic link whose target lies outside ``folder``, never followed).
    """
    out = []
    skipped = skipped if skipped is not None else Counter()
    root_real = os.path.realpath(folder)
    for root, dirs, files in os.walk(folder):
        kept = []
        for d in sorted(dirs):
            if d == STORE_NAME or d.startswith("."):
                continue
            if os.path.islink(os.path.join(root, d)):  # os.walk does not follow it: say so
                skipped["link"] += 1
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            path = Path(root) / name
            if is_junk(name):
                skipped["junk"] += 1
                continue
            if path.is_symlink():
                target = os.path.realpath(path)
                if os.path.commonpath([root_real, target]) != root_real or not os.path.isfile(target):
                    skipped["link"] += 1
                    continue
            try:
                st = path.stat()
            except OSError:
                out.append(path)  # unreadable: reported by the reader with its name
                continue
            if not path.is_file():  # a FIFO, a device, a socket: the reader refuses it, naming it
                out.append(path)
                continue
            if st.st_size == 0:
                skipped["empty"] += 1
                continue
            out.append(path)
    return out


def scan_noted(folder: Path, notes: list[Issue] | None) -> list[Path]:
    """:func:`scan`, and the ``files-skipped`` note of what the folder held that is no report (empty
    files, junk, links out of it) added to ``notes`` (if given) when there was some: what a
    consolidation and ``xhht validate`` of a folder both say."""
    skipped: Counter = Counter()
    files = scan(folder, skipped)
    if notes is not None and skipped:
        notes.append(make("files-skipped", junk=skipped["junk"], empty=skipped["empty"], links=skipped["link"],
                          folder=folder.name or str(folder)))  # fmt: skip
    return files


def is_junk(name: str) -> bool:
    """Files nobody sends on purpose: lock and temporary files of Office, LibreOffice and this tool,
    macOS and Windows folder metadata."""
    low = name.lower()
    return (
        name.startswith(SKIP_PREFIXES)
        or name.startswith(".")
        or low in JUNK_NAMES
        or low.endswith(JUNK_SUFFIXES)
        or (low.startswith(".~lock.") and low.endswith("#"))
    )


def read_received_at(path: Path | None) -> dict[str, dt.datetime]:
    """The received times a clerk supplies (e.g. the e-mails' dates), from a two-column CSV
    ``file,received_at``: key is the relative path or the file name (NFC), value a naive time in
    Vietnam time (:data:`LOCAL_TZ`).

    Accepts what Excel writes on a Vietnamese Windows: UTF-8 with or without BOM, UTF-16 (with BOM),
    Windows-1258; comma, semicolon or tab; ISO times with or without seconds and UTC offset, or
    dd/mm/yyyy [HH:MM[:SS]]. Raises :class:`IntakeError` (one Vietnamese line naming the file and
    row) for a file it cannot read; nothing else has run by then.
    """
    if path is None:
        return {}
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        from .fileio import os_reason

        raise IntakeError(T("intake.received-at-unreadable", file=path, reason=os_reason(exc))) from None
    text = _decode_csv(raw)
    lines = text.splitlines()
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(lines, dialect))
    header = [textnorm.nfc(h).lower() for h in (rows[0] if rows else [])]
    if "file" not in header or "received_at" not in header:
        raise IntakeError(T("intake.received-at-bad", file=path.name, row=1))
    i_file, i_when = header.index("file"), header.index("received_at")
    out: dict[str, dt.datetime] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        when = parse_when(row[i_when]) if len(row) > max(i_file, i_when) else None
        name = row[i_file].strip().replace("\\", "/") if len(row) > i_file else ""
        if when is None or not name:
            raise IntakeError(T("intake.received-at-bad", file=path.name, row=line_no))
        out[textnorm.nfc(name)] = when
    return out


def _decode_csv(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1258", errors="replace")  # Excel's "CSV" on a Vietnamese Windows


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_when(text: str) -> dt.datetime | None:
    """A date-time as clerks write it: ISO 8601 (``2020-08-31T16:30``, ``2020-08-31 16:30:05+07:00``,
    ``…Z``) or Vietnamese ``31/08/2020 16:30`` (day first); a bare date means its start. A time with
    a UTC offset is converted to Vietnam time. None when it is neither."""
    text = text.strip()
    if not text:
        return None
    m = _DMY.match(text)
    try:
        if m:
            d, mo, y, h, mi, sec = m.groups()
            return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0))
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return when


def parse_day(text: str) -> dt.date | None:
    """A date given by a clerk (``--as-of``, ``--deadline``): ``2020-08-31`` or ``31/08/2020``."""
    when = parse_when(text)
    return when.date() if when is not None and when.time() == dt.time() else None


@contextlib.contextmanager
def locked(store: Path, notes: list[Issue] | None = None) -> Iterator[None]:
    """Hold the store's lock while a consolidation uses it (SQLite ledger and archive).

    The lock is an operating-system lock on ``store/.lock`` (``flock``; ``msvcrt.locking`` on
    Windows), released by the system when its process ends, even when killed: a run that died never
    locks others out. The file tells who holds it (process, computer, since when); when a dead run
    left that text, the lock is taken over at once and ``notes`` (if given) gets an info issue.
    Where the file system has no such locks (some network shares), the file itself is the lock, and
    one whose process is gone (same computer) or older than 15 minutes is taken over.
    Raises :class:`IntakeError` (one line: who holds it since when, and how to clear it).
    """
    store.mkdir(parents=True, exist_ok=True)
    lock = store / ".lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": dt.datetime.now().replace(microsecond=0)}
    fh = open(lock, "a+b")
    try:
        try:
            _os_lock(fh)
            held = True
        except BlockingIOError:
            raise IntakeError(_held_message(lock, _lock_owner(fh))) from None
        except OSError:
            held = False  # no OS locks here: fall back on the file's own content
        previous = _lock_owner(fh)
        if not held and previous and _owner_alive(previous):
            raise IntakeError(_held_message(lock, previous))
        if previous and notes is not None:
            notes.append(make("lock-recovered", pid=previous.get("pid", "?"), host=previous.get("host", "?"),
                              since=previous.get("since", "?")))  # fmt: skip
        fh.seek(0)
        fh.truncate()
        fh.write(f"{me['pid']} {me['host']} {me['since'].isoformat()}\n".encode())
        fh.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()  # an empty lock file is a released lock
                fh.flush()
    finally:
        fh.close()  # releases the OS lock


def _os_lock(fh) -> None:
    """Take an exclusive, non-blocking OS lock; BlockingIOError when another process holds it."""
    if os.name == "nt":  # pragma: no cover - Windows only
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from None
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_owner(fh) -> dict:
    """``{"pid", "host", "since"}`` from a lock file's text ("" fields when unknown); {} if empty."""
    fh.seek(0)
    words = fh.read(512).decode("utf-8", errors="replace").split()
    if not words:
        return {}
    owner = {"pid": words[0], "host": "", "since": ""}
    if len(words) >= 3:
        owner["host"], owner["since"] = words[1], words[2]
    elif len(words) == 2:  # the format of earlier versions: "pid iso-time"
        owner["since"] = words[1]
    with contextlib.suppress(ValueError):
        owner["since"] = dt.datetime.fromisoformat(owner["since"]).strftime("%H:%M %d/%m/%Y")
    return owner


def _owner_alive(owner: dict) -> bool:
    """Whether a lock's owner may still run: same computer and its process exists, or another
    computer and the lock is younger than :data:`LOCK_STALE_SECONDS`."""
    if owner.get("host") in ("", socket.gethostname()):
        try:
            return _pid_alive(int(owner["pid"]))
        except ValueError:
            return False
    try:
        since = dt.datetime.strptime(owner["since"], "%H:%M %d/%m/%Y")
    except ValueError:
        return False
    return (dt.datetime.now() - since).total_seconds() < LOCK_STALE_SECONDS


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _held_message(lock: Path, owner: dict) -> str:
    if not owner:
        return T("intake.locked", folder=lock.parent, lock=lock)
    return T("intake.locked-by", folder=lock.parent, lock=lock, pid=owner.get("pid", "?"),
             host=owner.get("host") or "?", since=owner.get("since") or "?")  # fmt: skip


@contextlib.contextmanager
def store_errors(store: Path) -> Iterator[None]:
    """SQLite and file-system failures of the store (disk full, read-only, damaged ledger) as one
    Vietnamese line (:class:`IntakeError`)."""
    try:
        yield
    except sqlite3.Error as exc:
        text = str(exc).lower()
        reason = (
            T("io.errno-full")
            if "full" in text
            else T("intake.store-damaged", text=cleaning.for_terminal(str(exc)))
        )
        raise IntakeError(T("intake.store-failed", store=store, reason=reason)) from None
    except OSError as exc:
        from .fileio import os_reason

        raise IntakeError(T("intake.store-failed", store=store, reason=os_reason(exc))) from None


class Ledger:
    """Receipts of every file version seen, and which version each consolidation used."""

    def __init__(self, path: Path):
        self.path = path
        with store_errors(path.parent):
            self._open(path)

    def _open(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        have = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
        if have >= LEDGER_TABLES:
            return  # a ledger of this version (the script would cost ~5 ms each time it is opened)
        # in the transaction the first receipts go into, left open: each statement on its own was a
        # commit, and each commit waits for the disk (~20 ms on this machine's ext4)
        self.db.executescript(
            """
            BEGIN;
            CREATE TABLE IF NOT EXISTS receipts (
                sha256 TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, unit TEXT, level TEXT,
                template_version TEXT, first_seen TEXT NOT NULL, received_at TEXT, status TEXT,
                errors INTEGER, warnings INTEGER, archive TEXT,
                PRIMARY KEY (sha256, path));
            CREATE TABLE IF NOT EXISTS used (
                consolidation TEXT NOT NULL, unit TEXT NOT NULL, sha256 TEXT NOT NULL, run_at TEXT NOT NULL,
                PRIMARY KEY (consolidation, unit, sha256));
            CREATE TABLE IF NOT EXISTS versions (
                sha256 TEXT PRIMARY KEY, suffix TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
            """
            + MAIL_SCHEMA
        )

    def first_seen(self, sha256: str, now: dt.datetime) -> dt.datetime:
        if not sha256:  # a file that was not read (too big, unreadable): nothing to recognise
            return now
        row = self.db.execute("SELECT MIN(first_seen) FROM receipts WHERE sha256 = ?", (sha256,)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else now

    def receive(self, r: Received, data: bytes | None, suffix: str) -> None:
        """Keep the version ``data`` (the bytes read, None when nothing was: :meth:`keep`; sets
        ``r.archive``) and write the receipt of ``r`` (:meth:`record`), both or neither: a run that
        stops (a failing store) leaves neither a version without its receipt nor a receipt without
        its version, while the run's receipts still share one transaction (one wait for the disk).
        Raises ``sqlite3.Error``."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN")  # the savepoint nests in it: releasing it does not commit
        self.db.execute("SAVEPOINT receipt")
        try:
            r.archive = self.keep(r.sha256, suffix, data) if data is not None else ""
            self.record(r, r.archive)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back all (disk full)
                self.db.execute("ROLLBACK TO receipt")
                self.db.execute("RELEASE receipt")
            raise
        self.db.execute("RELEASE receipt")

    def record(self, r: Received, archive: str) -> None:
        """Receipt of one file version: ``status`` is ``ok``, ``errors``, ``skipped:<why>`` (junk or
        this tool's own output) or ``unreadable:<code>`` (the intake gate's code, e.g.
        ``file-too-big``: such a file is neither hashed whole nor kept, ``archive`` is "")."""
        sub = r.sub
        report = r.validation.report
        if sub is None:
            code = report.issues[0].code if report.issues else "?"
            status = f"skipped:{code}" if r.skipped else f"unreadable:{code}"
        else:
            status = "errors" if report.errors else "ok"
        self.db.execute(
            """INSERT INTO receipts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(sha256, path) DO UPDATE SET unit=excluded.unit, level=excluded.level,
               received_at=excluded.received_at, status=excluded.status, errors=excluded.errors,
               warnings=excluded.warnings""",
            (
                r.sha256,
                r.rel,
                r.size,
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

    def keep(self, sha256: str, suffix: str, data: bytes) -> str:
        """Keep a received version in the ledger, named by its hash: exactly ``data``, the bytes that
        were hashed and read (never the path again: a file replaced meanwhile must not land under
        another hash). Kept once; a version kept before stays as it was. Returns what the receipt
        records as its ``archive`` (:data:`KEPT`). Raises ``sqlite3.Error`` (the caller reports the
        store, :func:`store_errors`).

        In the ledger, in the transaction of its receipt (one row, ~0.04 ms), rather than a file of
        its own per version: creating a file costs 0.4-1 ms of system time on ext4 (measured on the
        2-core machine), paid 10,600 times by a national consolidation; and a run that stops
        leaves neither a version without its receipt nor a receipt without its version."""
        self.db.execute(
            "INSERT OR IGNORE INTO versions VALUES (?,?,?,?)", (sha256, _safe_suffix(suffix), len(data), data)
        )
        return KEPT

    def version(self, sha256: str, archive: str) -> bytes | None:
        """The bytes of a kept version (``archive`` as its receipt records it; see :func:`kept`)."""
        return _version(self.db, sha256) if archive == KEPT else _kept_file(self.path.parent, archive)

    def last_used(self, consolidation: str, unit: str, other_than: str = "") -> tuple[str, str, str] | None:
        """(sha256, archive, path) of the version of ``unit`` the latest run of this consolidation
        used, other than ``other_than`` (the version used now: an identical rerun compares with the
        same earlier version, so it shows the same changes); ``path``: where it was received."""
        row = self.db.execute(
            """SELECT u.sha256, r.archive, r.path FROM used u JOIN receipts r ON r.sha256 = u.sha256
               WHERE u.consolidation = ? AND u.unit = ? AND u.sha256 != ? AND r.archive != ''
               ORDER BY u.run_at DESC, u.rowid DESC, r.archive, r.path LIMIT 1""",
            (consolidation, unit, other_than),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def mark_used(self, consolidation: str, unit: str, sha256: str, run_at: dt.datetime) -> None:
        """This run of ``consolidation`` used this version of ``unit``: a version used again (a clerk
        went back to an earlier file) is the latest used from now on (:meth:`last_used`)."""
        self.db.execute(
            "INSERT OR REPLACE INTO used VALUES (?,?,?,?)", (consolidation, unit, sha256, run_at.isoformat())
        )

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]

    # -- the mailbox intake (xhht_xl.mail) --------------------------------------------------------

    def mail_uids(self, account: str, mailbox: str, uidvalidity: int) -> set[int]:
        """UIDs of the messages of ``mailbox`` already pulled (RFC 3501 2.3.1.1: a UID names the
        same message only while the mailbox's UIDVALIDITY is unchanged)."""
        rows = self.db.execute(
            "SELECT uid FROM mail_messages WHERE account = ? AND mailbox = ? AND uidvalidity = ?",
            (account, mailbox, uidvalidity),
        )
        return {row[0] for row in rows}

    def mail_file(self, sha256: str) -> str:
        """Where the pull stored a content before (path relative to the store's folder; "" = never)."""
        row = self.db.execute(
            "SELECT path FROM mail_files WHERE sha256 = ? ORDER BY rowid LIMIT 1", (sha256,)
        ).fetchone()
        return row[0] if row else ""

    def record_mail(self, message: dict, files: list[dict]) -> None:
        """One pulled message and the workbook files it carried, in one transaction: a message is
        recorded with all of its files or not at all (a rerun then pulls it again). Keys are the
        columns of ``mail_messages`` and ``mail_files`` (:data:`MAIL_SCHEMA`)."""
        with self.db:
            _insert(self.db, "mail_messages", message)
            for f in files:
                _insert(self.db, "mail_files", f)

    def close(self) -> None:
        try:
            with store_errors(self.path.parent):
                self.db.commit()
        finally:
            self.db.close()


LEDGER_TABLES = frozenset({"receipts", "used", "versions", "mail_messages", "mail_files", "mail_files_sha"})  # and index
# Compatible extension: older ledgers gain these tables when opened, and their other tables are
# untouched. Times are ISO text in Vietnam time; ``problems`` is a JSON list of
# {"code", "values"} (messages ``check.mail-*``).
MAIL_SCHEMA = """
    CREATE TABLE IF NOT EXISTS mail_messages (
        account TEXT NOT NULL, mailbox TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
        internaldate TEXT NOT NULL, date_header TEXT, sender TEXT, reply_to TEXT, subject TEXT,
        message_id TEXT, refs TEXT, size INTEGER, status TEXT NOT NULL, problems TEXT,
        pulled_at TEXT NOT NULL,
        PRIMARY KEY (account, mailbox, uidvalidity, uid));
    CREATE TABLE IF NOT EXISTS mail_files (
        account TEXT NOT NULL, mailbox TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
        part INTEGER NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL, name TEXT, via TEXT,
        size INTEGER, gate TEXT,
        PRIMARY KEY (account, mailbox, uidvalidity, uid, part));
    CREATE INDEX IF NOT EXISTS mail_files_sha ON mail_files (sha256);
"""


def _insert(db: sqlite3.Connection, table: str, row: dict) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))


@dataclass
class MailRecords:
    """What mailbox pulls into a folder recorded (:func:`mail_records`): the message each content
    first arrived in, by SHA-256, and run-level notes about messages that brought no workbook."""

    by_sha: dict[str, MailOrigin] = field(default_factory=dict)
    notes: list[Issue] = field(default_factory=list)


def mail_records(folder: Path) -> MailRecords:
    """The mailbox records that ``xhht mail pull`` left for ``folder``: the ledgers in
    ``folder/xhht_intake`` and in the ``xhht_intake`` of its subfolders (notes and times), and in
    those of its two parent folders (times only: a file sorted into a subfolder after the pull
    keeps its time). Files are matched by content (SHA-256), so a file renamed or moved after
    the pull keeps its mailbox time; a content that came in several messages gets the earliest.
    Ledgers are opened read-only; one that cannot be read is left out with a note."""
    out = MailRecords()
    stores = [d for d in (folder.parent / STORE_NAME, folder.parent.parent / STORE_NAME) if d.is_dir()]
    own: list[Path] = []
    for root, dirs, _files in os.walk(folder):
        if STORE_NAME in dirs:
            own.append(Path(root) / STORE_NAME)
        dirs[:] = [d for d in dirs if d != STORE_NAME and not d.startswith(".")]
    for store in [*own, *stores]:
        ledger = store / LEDGER_NAME
        if not ledger.is_file():
            continue
        try:
            db = sqlite3.connect(ledger.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                _read_mail(db, out, notes=store in own)
            finally:
                db.close()
        except sqlite3.Error as exc:
            if "no such table" not in str(exc):  # a ledger of a version before the mailbox intake
                out.notes.append(make("mail-ledger-unreadable", file=_shown_path(ledger, folder),
                                      reason=cleaning.for_terminal(str(exc))[:200]))  # fmt: skip
    return out


def _shown_path(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def _read_mail(db: sqlite3.Connection, out: MailRecords, notes: bool) -> None:
    import json

    rows = db.execute(
        """SELECT f.sha256, m.internaldate, m.sender, m.subject, m.message_id, m.date_header, m.reply_to,
                  m.refs, f.name
           FROM mail_files f JOIN mail_messages m USING (account, mailbox, uidvalidity, uid)
           ORDER BY m.internaldate, m.uid"""
    )
    for sha, when, sender, subject, message_id, date, reply_to, refs, name in rows:
        origin = MailOrigin(dt.datetime.fromisoformat(when), sender or "", subject or "", message_id or "",
                            date or "", reply_to or "", refs or "", name or "")  # fmt: skip
        known = out.by_sha.get(sha)
        if known is None or origin.received_at < known.received_at:
            out.by_sha[sha] = origin
    if not notes:
        return
    rows = db.execute(
        """SELECT internaldate, sender, subject, date_header, problems FROM mail_messages
           WHERE problems IS NOT NULL AND problems != '[]' ORDER BY internaldate, uid"""
    )
    for when, sender, subject, date, problems in rows:
        for p in json.loads(problems):
            values = {k: cleaning.for_terminal(str(v)) for k, v in p.get("values", {}).items()}
            out.notes.append(make(p["code"], sender=sender or "?", subject=subject or "", date=date or "",
                                  when=_hm(dt.datetime.fromisoformat(when)), **values))  # fmt: skip


def kept(store: Path, sha256: str, archive: str) -> bytes | None:
    """The bytes of a version the store keeps (``archive`` as its receipt records it: :data:`KEPT`,
    or an older store's file), read from a ledger opened read-only here; None when it is not kept
    (any more). For a caller without the ledger open: :meth:`Ledger.version` otherwise."""
    if archive != KEPT:
        return _kept_file(store, archive)
    try:
        db = sqlite3.connect(f"{(store / LEDGER_NAME).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _version(db, sha256)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def _version(db: sqlite3.Connection, sha256: str) -> bytes | None:
    row = db.execute("SELECT data FROM versions WHERE sha256 = ?", (sha256,)).fetchone()
    return bytes(row[0]) if row else None


# The name an older store gave a version's file (``files/<2 hex>/<sha256><suffix>``, the suffix as
# :func:`_safe_suffix` made it): the only ledger entry read as a file.
_KEPT_FILE = re.compile(r"files/([0-9a-f]{2})/\1[0-9a-f]{62}\.[a-z0-9]{1,5}")


def _kept_file(store: Path, archive: str) -> bytes | None:
    """A version an older store kept as a file, read through the intake gate's bounded read; None if
    it is gone, if the ledger names anything but such a file (edited by hand: ``..``, a NUL) or if
    a link is on the way (``files``, its folder or the file itself: nothing outside the store)."""
    if not _KEPT_FILE.fullmatch(archive):
        return None
    folder = store / "files"
    try:
        if folder.is_symlink() or (folder / archive[6:8]).is_symlink():
            return None
        return safety.read_bounded(store / archive, follow=False)
    except (safety.UnreadableFile, OSError):
        return None


def _safe_suffix(suffix: str) -> str:
    suffix = suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".bin"


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
    *,
    own: tuple[str, str] | None = None,
    notes: list[Issue] | None = None,
    ledger: Ledger | None = None,
) -> list[Received]:
    """Read, check, identify, archive and record every file under ``folder``.

    ``received_at``: times the clerk supplied (``--received-at``); ``mailbox``: the mail
    server's received times of attachments saved into ``folder`` (by relative path; a time or a
    :class:`MailOrigin`). Without it, the records that ``xhht mail pull`` left for this folder
    are used (:func:`mail_records`, matched by content), and their notes about messages that
    brought no workbook go to ``notes``. See :func:`received_time` for the order of evidence. Large folders are read by ``workers``
    processes (default: up to 2 from 64 files on; ``workers`` given: from 16 files on). One file never stops the others: whatever
    goes wrong with it (reading, checking, archiving, even a crash of native code in a worker)
    becomes an issue naming it. ``own`` = (level, unit) of the consolidation: workbooks this tool
    wrote for it are skipped with a note. ``notes`` (if given) receives run-level notes (junk
    files skipped, by kind). ``ledger``: the store's ledger, opened by the caller, who commits the
    receipts with what it records next (one transaction); by default opened, committed and closed here.
    """
    received_at = received_at or {}
    now = now or dt.datetime.now().replace(microsecond=0)
    mail = MailRecords() if mailbox is not None else mail_records(folder)
    if notes is not None:
        notes += mail.notes
    files = scan_noted(folder, notes)
    # records name files exactly as on disk (a control character, which Windows forbids anyway,
    # would break every workbook the name is written into: only those are dropped)
    rels = [cleaning.clean_cell(path.relative_to(folder).as_posix())[0] for path in files]
    out: list[Received] = []
    store.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if ledger is None:
            ledger = Ledger(store / LEDGER_NAME)
            stack.callback(ledger.close)
        jobs = _validations(files, rels, plan, workers, own)
        for i, (path, rel, got) in enumerate(jobs, start=1):
            if progress:
                progress(i, len(files), rel)
            validation, sha = got.validation, got.sha256
            first_seen = ledger.first_seen(sha, now)
            box = mailbox if sha not in mail.by_sha else {rel: mail.by_sha[sha]}
            when, source = received_time(path, rel, first_seen, received_at, box)
            r = Received(path, rel, validation, sha, first_seen, when, source)
            if source == MAILBOX:
                found = _lookup_time(box or {}, textnorm.nfc(rel))
                r.mail = found if isinstance(found, MailOrigin) else None
            r.size, r.skipped = got.size, got.skipped
            r.issues += got.issues
            if not r.skipped:
                identify(r, plan, expected)
            with store_errors(store):
                ledger.receive(r, got.data, path.suffix)
            out.append(r)
    return out


@dataclass
class Got:
    """What intake got from one file: its validation, the hash, size and bytes read (``data``, for
    the ledger to keep: :meth:`Ledger.keep`; None when nothing was read), and intake's own findings
    (own output...)."""

    validation: Validation
    sha256: str = ""
    size: int = 0
    data: bytes | None = None
    skipped: bool = False
    issues: list[Issue] = field(default_factory=list)


def take(path: Path, rel: str, plan: Plan, own: tuple[str, str] | None = None) -> Got:
    """Read one received file once (bounded), hash those bytes, read and check them; the bytes
    come back in ``Got.data`` for the ledger to keep (in the process that holds it, :func:`pull`).
    Never raises for a problem of the file: it becomes an issue naming ``rel``."""
    from . import read as read_mod

    try:
        data = safety.read_bounded(path)
    except safety.UnreadableFile as exc:
        size = 0
        with contextlib.suppress(OSError):
            size = path.lstat().st_size
        return Got(Validation(path, None, Report([read_mod.unreadable_issue(exc, rel)])), size=size)
    validation = validate(path, plan, file=rel, data=data)
    sub = validation.submission
    # the reader hashed these very bytes (safety.inspect); only a file it refused is hashed here
    sha = sub.sha256 if sub is not None else hashlib.sha256(data).hexdigest()
    got = Got(validation, sha, len(data), data)
    if sub is not None and own is not None:
        kind = own_output(sub, own, data)
        if kind:
            got.skipped = True
            note = make("own-output", file=rel, kind=T(f"intake.output-{kind}"))
            got.validation = Validation(path, None, Report([note]))
    _keep_needed(got.validation)
    return got


def _keep_needed(validation: Validation) -> None:
    """A submission with neither error nor warning drops its formula cells and the places of its
    empty inputs: only a returned copy reads them after the checks, and such a file gets none
    (``returned``, ``demo.write_returned``). A national consolidation keeps 10,600 submissions:
    this is ~15 KB of each."""
    sub = validation.submission
    if sub is not None and not any(i.severity in ("error", "warning") for i in validation.report):
        sub.formulas = {}
        sub.locations = {}


def own_output(sub, own: tuple[str, str], data: bytes) -> str:
    """Which of this tool's outputs for ``own`` = (level, unit) the workbook is ("" = none): its
    consolidated output or the unit's own workbook (``_meta`` or the output marks name the same unit
    and level), the award list, or a returned copy whose values nobody has changed (a sender who
    corrects it and sends it back has made a submission). ``data``: the file's bytes, for the
    marks this tool writes into its outputs (``read.output_marks``)."""
    from .read import output_marks

    level, unit = own
    if sub.level == level and sub.meta_unit == unit:
        consolidated = output_marks(data).get("xhht_output") == "consolidated"
        return "consolidated" if consolidated else "own"
    marks = output_marks(data)
    kind = marks.get("xhht_output", "")
    if kind == "award-list":
        return "award-list"
    if kind == "returned" and marks.get("xhht_values") == sub.fingerprint():
        return "returned"
    if kind == "consolidated" and (marks.get("xhht_level"), marks.get("xhht_unit")) == own:
        return "consolidated"
    return ""


def _reason(exc: BaseException) -> str:
    from .fileio import os_reason

    if isinstance(exc, OSError):
        return os_reason(exc)
    return cleaning.for_terminal(str(exc))[:200] or type(exc).__name__


PARALLEL_FROM = 64
CHUNK = 8  # files per task sent to a worker
_worker: tuple | None = None


def _init_worker(plan: Plan, own) -> None:
    global _worker
    _worker = (plan, own)


def _take_chunk(jobs: list[tuple[Path, str]]) -> list[Got]:
    plan, own = _worker
    return [_guarded_take(path, rel, plan, own) for path, rel in jobs]


def _guarded_take(path: Path, rel: str, plan: Plan, own) -> Got:
    try:
        return take(path, rel, plan, own)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a bug met by this file, or a native panic: the others go on
        return _failed(path, rel, exc)


def _failed(path: Path, rel: str, exc: BaseException | None) -> Got:
    reason = T("intake.crashed") if exc is None else f"{type(exc).__name__}: {_reason(exc)}"[:200]
    issue = make("file-failed", file=rel, reason=reason)
    return Got(Validation(path, None, Report([issue])))


def _validations(
    files: list[Path], rels: list[str], plan: Plan, workers: int | None, own=None
) -> Iterator[tuple[Path, str, Got]]:
    """(path, rel, Got) in file order, read in worker processes when it pays off.

    A worker that dies (native code aborting) takes only its files down: the tasks in flight are
    retried one file per process, the file that kills its process gets a ``file-failed`` issue,
    and the rest go on in a new pool."""
    # chosen by us: worker processes from PARALLEL_FROM files; asked for: whenever each gets a chunk
    least = PARALLEL_FROM if workers is None else 2 * CHUNK
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(files) < least:
        for path, rel in zip(files, rels, strict=True):
            yield path, rel, _guarded_take(path, rel, plan, own)
        return
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    jobs = list(zip(files, rels, strict=True))
    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    done: dict[int, list[Got]] = {}
    nxt = 0  # next chunk to yield
    todo = list(range(len(chunks)))
    while todo:
        broken: list[int] = []
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(plan, own)) as pool:  # fmt: skip
            window = 2 * workers
            pending: dict = {}  # future -> chunk, in chunk order
            queue = list(todo)
            todo = []
            try:
                while queue or pending:
                    while queue and len(pending) < window:
                        pending[pool.submit(_take_chunk, chunks[queue[0]])] = queue[0]
                        queue.pop(0)
                    future = next(iter(pending))  # in order: results are yielded in file order
                    done[pending[future]] = future.result()
                    del pending[future]
                    while nxt in done:
                        for (path, rel), got in zip(chunks[nxt], done.pop(nxt), strict=True):
                            yield path, rel, got
                        nxt += 1
            except BrokenProcessPool:  # raised by result() or by submit(), whichever comes first
                broken = [*pending.values(), *queue]
        if broken:
            suspects, todo = broken[: 2 * workers], broken[2 * workers :]
            for k in suspects:
                done[k] = [_isolated(ctx, plan, own, path, rel) for path, rel in chunks[k]]
            while nxt in done:
                for (path, rel), got in zip(chunks[nxt], done.pop(nxt), strict=True):
                    yield path, rel, got
                nxt += 1


def _isolated(ctx, plan: Plan, own, path: Path, rel: str) -> Got:
    """One file in a process of its own: if it dies, the file is named in a ``file-failed`` issue."""
    with ProcessPoolExecutor(
        1, mp_context=ctx, initializer=_init_worker, initargs=(plan, own)
    ) as pool:
        try:
            return pool.submit(_take_chunk, [(path, rel)]).result()[0]
        except BrokenProcessPool:
            return _failed(path, rel, None)


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
    mailbox: dict[str, dt.datetime | MailOrigin] | None = None,
) -> tuple[dt.datetime, str]:
    """When ``rel`` was received and on what evidence (one of :data:`EVIDENCE`), strongest first:

    1. ``given``: the time the clerk supplied for this file (``--received-at``, e.g. the e-mail's date);
    2. ``mailbox``: the mail server's received time of the message the file came in (a time or
       a :class:`MailOrigin`);
    3. the file's modification time, unless it is later than when the store first saw this
       content (then the file was copied or touched after it arrived);
    4. when the store first saw this content (its ledger), at worst the moment of this run.

    Never the order of file names: two downloads of one attachment are named "X.xlsx" and
    "X (1).xlsx" in whatever order they were saved.
    """
    key = textnorm.nfc(rel)  # supplied names are compared in NFC; records keep the name on disk
    for source, times in ((GIVEN, given), (MAILBOX, mailbox)):
        when = _lookup_time(times or {}, key)
        if isinstance(when, MailOrigin):
            when = when.received_at
        if when is not None:
            return local_time(when), source
    try:
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
    except (OSError, OverflowError, ValueError):
        mtime = None
    if mtime is not None and mtime <= first_seen:
        return mtime, MTIME
    return first_seen, FIRST_SEEN


def _lookup_time(times: dict, rel: str):
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
            chosen[unit].arrived_mail = arrived.mail
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
