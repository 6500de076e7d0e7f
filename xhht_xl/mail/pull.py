"""``xhht mail pull``: save every workbook the official mailbox received into a folder, with the
mail server's received time, without changing the mailbox.

Read-only by construction: the mailbox is opened with EXAMINE (RFC 3501 6.3.2: no change to its
state, not even ``\\Recent``), bodies are fetched with ``BODY.PEEK`` (no ``\\Seen``), and no
STORE, COPY, MOVE, EXPUNGE or APPEND is ever sent here.

What it leaves in the folder: each workbook once (by content), under a name derived here from
its original name and its hash (:func:`stored_name`: never the sender's name as a path), its
modification time set to the server's received time; and in ``<folder>/xhht_intake/ledger.sqlite``
(the intake ledger, ``intake.MAIL_SCHEMA``) every message pulled — UIDVALIDITY/UID, the
server's INTERNALDATE, Date, From, Reply-To, Subject, Message-ID, References — and every file it
carried (original name, containers, hash, where it is stored, the gate's verdict). A
consolidation of the folder finds these records by itself (``intake.mail_records``).

A rerun fetches only UIDs it has not recorded for the mailbox's UIDVALIDITY. Each message is
recorded with all its files in one transaction, after the files are written atomically: a run
stopped half-way leaves whole files and whole records, and the next run goes on from there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import cleaning, intake, messages, safety
from ..fileio import OutputError, os_reason, write_bytes
from ..issues import Issue, make
from . import imap, mime

T = messages.text
STEM_MAX = 60  # characters of the original name kept in a stored name (Windows paths stay short)
BATCH_BYTES = 16 * safety.MB  # bodies fetched per FETCH command, at most (roughly)
BATCH_COUNT = 25
LIMITS = mime.LIMITS
MAX_MESSAGE = 3 * LIMITS.max_bytes  # a message larger than this is listed, not fetched
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$", re.I)  # Windows device names
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


@dataclass
class Saved:
    """A workbook of a pulled message: ``path`` relative to the folder (where it is, a name this
    module made), ``name`` the sender's original name, ``new`` False when the same content was
    already there (stored once, recorded for both messages), ``gate`` the gate's refusal code."""

    path: str
    name: str
    sha256: str
    new: bool
    gate: str = ""
    via: tuple[str, ...] = ()


@dataclass
class Pulled:
    """One message pulled in this run."""

    uid: int
    origin: intake.MailOrigin
    status: str  # ok | no-attachment | no-workbook | unparseable | too-big
    files: list[Saved] = field(default_factory=list)
    problems: list[mime.Problem] = field(default_factory=list)

    def issues(self) -> list[Issue]:
        """The message's problems as issues (one Vietnamese line each, naming sender, time, subject)."""
        o = self.origin
        return [make(p.code, sender=o.sender or "?", subject=o.subject, date=o.date,
                     when=_hm(o.received_at), **p.values) for p in self.problems]  # fmt: skip


@dataclass
class PullResult:
    folder: Path
    account: imap.Account
    mailbox: str
    uidvalidity: int
    messages: list[Pulled] = field(default_factory=list)
    known: int = 0  # messages of the mailbox (in the --since window) pulled by earlier runs

    @property
    def saved(self) -> list[Saved]:
        return [f for m in self.messages for f in m.files if f.new]

    @property
    def duplicates(self) -> list[Saved]:
        return [f for m in self.messages for f in m.files if not f.new]

    def issues(self) -> list[Issue]:
        return [i for m in self.messages for i in m.issues()]


def pull(
    folder: str | Path,
    acc: imap.Account,
    secret: str,
    *,
    mailbox: str = "INBOX",
    since: dt.date | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    now: dt.datetime | None = None,
    limits: safety.Limits = LIMITS,
) -> PullResult:
    """Save the workbooks of every message of ``mailbox`` not pulled before (received on or after
    ``since``, by the server's date, when given) into ``folder`` and record them in its ledger.

    Returns what this run pulled. Raises :class:`imap.MailError` (one Vietnamese line: password,
    server, certificate, missing mailbox, connection lost) — before anything is written when the
    server or the mailbox cannot be used — and ``intake.IntakeError`` when the folder's store is
    locked by another run or cannot be written. A message that cannot be parsed, or whose
    attachment is refused, is recorded with a problem naming its sender, date and subject; the
    pull goes on.
    """
    folder = Path(folder)
    now = now or dt.datetime.now().replace(microsecond=0)
    if folder.exists() and not folder.is_dir():
        raise imap.MailError(T("mail.folder-is-file", folder=folder))
    with imap.session(acc, secret) as client, imap.errors(acc):
        imap.require_mailbox(client, acc, mailbox)
        selected = client.select_folder(mailbox, readonly=True)  # EXAMINE
        uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        criteria = ["SINCE", since] if since is not None else ["ALL"]
        uids = sorted(client.search(criteria))
        store = folder / intake.STORE_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise imap.MailError(T("mail.folder-failed", folder=folder, reason=os_reason(exc))) from None
        result = PullResult(folder, acc, mailbox, uidvalidity)
        with intake.locked(store), intake.store_errors(store):
            ledger = intake.Ledger(store / intake.LEDGER_NAME)
            try:
                known = ledger.mail_uids(acc.key, mailbox, uidvalidity)
                new = [u for u in uids if u not in known]
                result.known = len(uids) - len(new)
                _pull_new(client, ledger, result, new, now, limits, progress)
            finally:
                ledger.close()
    return result


def _pull_new(client, ledger, result: PullResult, uids: list[int], now: dt.datetime,
              limits: safety.Limits, progress) -> None:  # fmt: skip
    done = 0
    for start in range(0, len(uids), 200):
        chunk = uids[start : start + 200]
        meta = client.fetch(chunk, ["INTERNALDATE", "RFC822.SIZE", "BODYSTRUCTURE"])
        plans: list[tuple[int, str]] = []  # (uid, what to fetch: "body" | "header")
        for uid in chunk:
            item = meta.get(uid, {})
            size = int(item.get(b"RFC822.SIZE", 0) or 0)
            full = size <= MAX_MESSAGE and _may_carry_files(item.get(b"BODYSTRUCTURE"))
            plans.append((uid, "body" if full else "header"))
        for batch in _batches(plans, meta):
            kind = batch[0][1]
            key = b"BODY[]" if kind == "body" else b"BODY[HEADER]"
            got = client.fetch([u for u, _ in batch], ["BODY.PEEK[]" if kind == "body" else "BODY.PEEK[HEADER]"])
            for uid, _ in batch:
                item = meta.get(uid, {})
                raw = got.get(uid, {}).get(key) or b""
                pulled = _one(result, ledger, uid, item, raw, kind, now, limits)
                result.messages.append(pulled)
                done += 1
                if progress:
                    progress(done, len(uids), pulled.origin.subject or pulled.origin.sender)


def _batches(plans: list[tuple[int, str]], meta: dict) -> list[list[tuple[int, str]]]:
    """Consecutive messages of the same kind, at most :data:`BATCH_COUNT` and about
    :data:`BATCH_BYTES` per FETCH (memory stays bounded by the largest message)."""
    out: list[list[tuple[int, str]]] = []
    size = 0
    for uid, kind in plans:
        weight = int(meta.get(uid, {}).get(b"RFC822.SIZE", 0) or 0) if kind == "body" else 0
        if not out or out[-1][0][1] != kind or len(out[-1]) >= BATCH_COUNT or size + weight > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append((uid, kind))
        size += weight
    return out


def _may_carry_files(structure) -> bool:
    """Whether a message may carry files, by its BODYSTRUCTURE (RFC 3501 7.4.2): anything but a
    plain text message or a multipart/alternative of texts with no named part is fetched whole
    (a "mixed" message whose boundary is broken shows no parts to the server either). Unknown:
    True (fetch it)."""
    if structure is None:
        return True
    try:
        return _structure_has_files(structure)
    except Exception:
        return True


def _structure_has_files(part) -> bool:
    if getattr(part, "is_multipart", False):
        subtype = part[1].lower() if isinstance(part[1], bytes) else b""
        return subtype != b"alternative" or any(_structure_has_files(p) for p in part[0])
    maintype = part[0].lower() if isinstance(part[0], bytes) else b""
    if maintype != b"text":
        return True
    params = part[2] if len(part) > 2 and isinstance(part[2], tuple) else ()
    names = {params[i].lower() for i in range(0, len(params) - 1, 2) if isinstance(params[i], bytes)}
    return bool(names & {b"name", b"name*"})


def _one(result: PullResult, ledger, uid: int, item: dict, raw: bytes, kind: str, now: dt.datetime,
         limits: safety.Limits) -> Pulled:  # fmt: skip
    """Read, save and record one message."""
    received = _vietnam_time(item.get(b"INTERNALDATE"), now)
    size = int(item.get(b"RFC822.SIZE", 0) or 0)
    problems: list[mime.Problem] = []
    if kind == "header":
        letter = mime.read_headers(raw)
        if size > MAX_MESSAGE:
            status = "too-big"
            problems.append(mime.Problem("mail-too-big", {"size_mb": f"{size / safety.MB:.1f}",
                                                          "limit_mb": f"{MAX_MESSAGE / safety.MB:g}"}))  # fmt: skip
        else:
            status = "no-attachment"
    else:
        try:
            letter = mime.read_letter(raw, limits)
        except Exception as exc:  # the email package met something it cannot parse: the pull goes on
            letter = mime.read_headers(raw)
            reason = str(exc) if isinstance(exc, mime.Unparseable) else _reason(exc)
            letter.problems.append(mime.Problem("mail-unparseable", {"reason": reason}))
            status = "unparseable"
        else:
            status = "ok" if letter.workbooks else "no-workbook" if letter.attachments else "no-attachment"
    problems += letter.problems
    if status == "no-attachment":
        problems.append(mime.Problem("mail-no-attachment"))
    elif status == "no-workbook" and (letter.others or not letter.problems):  # refusals speak for themselves
        problems.append(mime.Problem("mail-no-workbook", {"names": ", ".join(letter.others[:10])}))
    origin = intake.MailOrigin(received, letter.sender, letter.subject, letter.message_id, letter.date,
                               letter.reply_to or letter.sender, letter.references)  # fmt: skip
    pulled = Pulled(uid, origin, status, problems=problems)
    seen: set[str] = set()
    rows = []
    for part, found in enumerate(letter.workbooks):
        saved = _save(result.folder, ledger, found, received, seen)
        pulled.files.append(saved)
        seen.add(saved.sha256)
        rows.append({
            "account": result.account.key, "mailbox": result.mailbox, "uidvalidity": result.uidvalidity,
            "uid": uid, "part": part, "sha256": saved.sha256, "path": saved.path, "name": found.name,
            "via": " › ".join(found.via), "size": len(found.data), "gate": found.gate,
        })  # fmt: skip
    message = {
        "account": result.account.key, "mailbox": result.mailbox, "uidvalidity": result.uidvalidity, "uid": uid,
        "internaldate": received.isoformat(), "date_header": letter.date, "sender": letter.sender,
        "reply_to": origin.reply_to, "subject": letter.subject, "message_id": letter.message_id,
        "refs": letter.references, "size": size, "status": status,
        "problems": json.dumps([{"code": p.code, "values": p.values} for p in problems], ensure_ascii=False),
        "pulled_at": now.isoformat(),
    }  # fmt: skip
    ledger.record_mail(message, rows)
    return pulled


def _reason(exc: BaseException) -> str:
    return cleaning.for_terminal(f"{type(exc).__name__}: {exc}")[:160]


def _vietnam_time(when, now: dt.datetime) -> dt.datetime:
    """The server's INTERNALDATE as naive Vietnam time (the zone of the plan's deadlines)."""
    if not isinstance(when, dt.datetime):
        return now
    if when.tzinfo is None:
        when = when.astimezone()  # imapclient gave local time: this machine's zone
    return when.astimezone(intake.LOCAL_TZ).replace(tzinfo=None, microsecond=0)


def _save(folder: Path, ledger, found: mime.Found, received: dt.datetime, seen: set[str]) -> Saved:
    """Store one workbook's bytes once (by content) under a name derived here; set its
    modification time to the server's received time. ``seen``: contents this message already
    stored."""
    sha = hashlib.sha256(found.data).hexdigest()
    before = ledger.mail_file(sha)
    if before and _holds(folder / before, sha):
        return Saved(before, found.name, sha, False, found.gate, found.via)
    if sha in seen:
        name = stored_name(found.name, found.kind, sha)
        return Saved(name, found.name, sha, False, found.gate, found.via)
    name = stored_name(found.name, found.kind, sha)
    target = folder / name
    if target.exists() and not _holds(target, sha):  # a file of the clerk's with our name
        name = stored_name(found.name, found.kind, sha, digits=16)
        target = folder / name
    if not (target.exists() and _holds(target, sha)):
        try:
            write_bytes(target, found.data)
        except OutputError as exc:
            raise imap.MailError(str(exc)) from None
        stamp = received.replace(tzinfo=intake.LOCAL_TZ).timestamp()
        try:
            os.utime(target, (stamp, stamp))
        except OSError:
            pass  # the time is kept in the ledger anyway
    return Saved(name, found.name, sha, True, found.gate, found.via)


def _holds(path: Path, sha: str) -> bool:
    try:
        return hashlib.sha256(safety.read_bounded(path, follow=False)).hexdigest() == sha
    except safety.UnreadableFile:
        return False


def stored_name(original: str, kind: str, sha256: str, *, digits: int = 8) -> str:
    """The file name a pulled workbook is stored under: the sender's name made safe (NFC, no
    path separators, control or Windows-forbidden characters, no leading dot or ``~$`` that
    intake would skip as junk, no device name such as ``CON``, at most :data:`STEM_MAX`
    characters, cut between whole characters), ``_`` and the first ``digits`` hex digits of
    the content's SHA-256 (two senders' ``BaoCao.xlsx`` never collide; the same content always
    gets the same name), and a workbook suffix: the original one when it is a workbook's, else
    the kind the gate found, else ``.xlsx``."""
    original = unicodedata.normalize("NFC", original or "")
    base = re.split(r"[\\/]", original)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = suffix.lower()
    if f".{suffix}" not in mime.WORKBOOK_SUFFIXES:
        stem = base if suffix else stem
        suffix = kind if kind in safety.WORKBOOK_KINDS else "xlsx"
    stem = _FORBIDDEN.sub("_", cleaning.for_terminal(stem))
    stem = " ".join(stem.split()).lstrip(".~$ ").rstrip(". ")
    if not stem or _RESERVED.match(stem):
        stem = f"{T('mail.unnamed')}{'_' + stem if stem else ''}".replace(" ", "_")
    if len(stem) > STEM_MAX:
        stem = stem[:STEM_MAX]
        while stem and unicodedata.combining(stem[-1]):
            stem = stem[:-1]
        stem = stem.rstrip(". ")
    name = f"{stem}_{sha256[:digits]}.{suffix}"
    assert not intake.is_junk(name), name
    return name


def _hm(when: dt.datetime) -> str:
    return when.strftime("%H:%M %d/%m/%Y")
