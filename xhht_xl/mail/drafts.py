"""``xhht mail drafts``: a reply draft for every unit whose received workbook has errors, with the
returned, marked copy attached and the problems listed in Vietnamese; the clerk reviews and sends
it from their own mail client. Nothing is ever sent from here.

Input: the JSON report of ``xhht consolidate --json`` (``outputs.report_dict``: the received
folder, every file with its hash and the message it came in). Each file used for a unit is read
again from that folder — only when its content is still the one consolidated (SHA-256) — and
checked; the draft answers the message the file first arrived in (In-Reply-To and References,
RFC 5322 3.6.4), to its Reply-To or From. Drafts go to the mailbox's Drafts folder (RFC 6154
``\\Drafts``, else a folder named Drafts) with the ``\\Draft`` flag, or with ``eml`` into a folder
as ``.eml`` files. A draft carries ``X-Xhht-Source: <hash>``: a rerun adds no second draft for
the same file.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from .. import cleaning, intake, messages, safety
from ..fileio import output_set
from ..plan import Plan
from . import imap

T = messages.text
SOURCE_HEADER = "X-Xhht-Source"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Draft:
    """One reply draft: for ``unit``'s file ``file`` (its content hash ``sha256``)."""

    unit: str
    file: str
    sha256: str
    to: str
    subject: str
    copy_name: str
    errors: int
    warnings: int
    message: EmailMessage = field(repr=False)

    def as_bytes(self) -> bytes:
        return self.message.as_bytes(policy=email.policy.SMTP)


@dataclass
class Drafted:
    """What :func:`build` made and what it left out (one Vietnamese line per file left out)."""

    drafts: list[Draft] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_result(path: str | Path) -> dict:
    """The JSON report of ``xhht consolidate --json``. Raises :class:`imap.MailError` (one line)
    when it cannot be read or is not such a report (or one written before the mailbox intake)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        from ..fileio import os_reason

        raise imap.MailError(T("mail.result-unreadable", file=path, reason=os_reason(exc))) from None
    except (UnicodeDecodeError, ValueError):
        raise imap.MailError(T("mail.result-not-json", file=path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) or "status" not in data:
        raise imap.MailError(T("mail.result-not-report", file=path))
    if "folder" not in data:
        raise imap.MailError(T("mail.result-old", file=path))
    return data


def build(result: dict, plan: Plan, *, sender: str, now: dt.datetime | None = None) -> Drafted:
    """The reply drafts for a consolidation's JSON report ``result`` (:func:`load_result`).

    A draft is made for every unit whose used file came by mail and has errors when checked
    again; ``sender`` is the draft's From. Files that did not come by mail, that changed or
    went missing since the consolidation, or that cannot be read again are listed in
    ``skipped`` (one Vietnamese line each). Raises :class:`imap.MailError` when ``result``
    belongs to another plan."""
    from ..pipeline import validate
    from ..returned import ReturnError, returned_name, write_returned_copy

    if result.get("plan") not in (None, plan.id):
        raise imap.MailError(T("mail.result-other-plan", plan=cleaning.for_terminal(str(result.get("plan")))))
    now = now or dt.datetime.now().replace(microsecond=0)
    folder = Path(str(result["folder"]))
    files = {f.get("file"): f for f in result["files"] if isinstance(f, dict) and f.get("used")}
    out = Drafted()
    for row in result.get("status") or []:
        unit, rel = str(row.get("unit") or ""), row.get("file") or ""
        if not rel or unit not in plan.units:
            continue
        entry = files.get(rel) or {}
        name = plan.units[unit].name
        mail = entry.get("mail")
        if not mail or not (mail.get("reply_to") or mail.get("sender")):
            if row.get("errors"):
                out.skipped.append(T("mail.draft-not-by-mail", unit=unit, name=name, file=rel))
            continue
        path = folder / rel
        try:
            data = safety.read_bounded(path)
        except safety.UnreadableFile:
            out.skipped.append(T("mail.draft-file-gone", unit=unit, name=name, file=rel))
            continue
        sha = hashlib.sha256(data).hexdigest()
        if entry.get("sha256") and sha != entry["sha256"]:
            out.skipped.append(T("mail.draft-file-changed", unit=unit, name=name, file=rel))
            continue
        validation = validate(path, plan, file=rel, data=data)
        issues = sorted((i for i in validation.report if i.severity in ("error", "warning")),
                        key=lambda i: RANK[i.severity])  # fmt: skip
        errors = sum(1 for i in issues if i.severity == "error")
        if not errors:
            continue
        copy_name = returned_name(mail.get("name") or rel)  # the name the sender knows their file by
        with tempfile.TemporaryDirectory(prefix="xhht-draft-") as tmp:
            try:
                copy = write_returned_copy(validation, plan, tmp, name=copy_name).read_bytes()
            except ReturnError as exc:
                out.skipped.append(T("mail.draft-no-copy", unit=unit, name=name, file=rel, reason=str(exc)))
                continue
        origin = intake.MailOrigin(dt.datetime.fromisoformat(mail["received_at"]), mail.get("sender", ""),
                                   mail.get("subject", ""), mail.get("message_id", ""), mail.get("date", ""),
                                   mail.get("reply_to", ""), mail.get("references", ""),
                                   mail.get("name", ""))  # fmt: skip
        out.drafts.append(_draft(unit, name, rel, sha, origin, issues, copy, copy_name, sender, now))
    return out


def _draft(unit: str, name: str, rel: str, sha: str, origin: intake.MailOrigin, issues, copy: bytes,
           copy_name: str, sender: str, now: dt.datetime) -> Draft:  # fmt: skip
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    to = origin.reply_to or origin.sender
    try:
        msg["To"] = to
    except (ValueError, IndexError, TypeError):
        to = email.utils.parseaddr(to)[1]
        msg["To"] = to
    subject = origin.subject.strip()
    reply = subject if subject.lower().startswith(("re:", "tl:", "trả lời:")) else (
        f"Re: {subject}" if subject else T("mail.draft-subject", unit=unit, name=name))  # fmt: skip
    msg["Subject"] = reply
    msg["Date"] = email.utils.format_datetime(now.replace(tzinfo=intake.LOCAL_TZ))
    domain = sender.rpartition("@")[2].strip(" >") or "xhht.invalid"
    msg["Message-ID"] = email.utils.make_msgid("xhht", domain=domain)
    if origin.message_id:
        msg["In-Reply-To"] = origin.message_id
        msg["References"] = " ".join(filter(None, [origin.references, origin.message_id]))
    msg[SOURCE_HEADER] = sha
    lines = [
        T("mail.draft-greeting", unit=unit, name=name),
        "",
        T("mail.draft-intro", file=rel, subject=origin.subject or T("mail.no-subject"),
          when=origin.received_at.strftime("%H:%M %d/%m/%Y"), errors=errors, warnings=warnings),
        "",
        *(T("mail.draft-line", n=n, severity=T(f"out.severity-{i.severity}"), message=i.message)
          for n, i in enumerate(issues, start=1)),
        "",
        T("mail.draft-outro", copy=copy_name),
        "",
        T("mail.draft-closing"),
    ]
    msg.set_content("\n".join(cleaning.for_terminal(line) for line in lines) + "\n", charset="utf-8")
    msg.add_attachment(copy, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=copy_name)
    return Draft(unit, rel, sha, to, reply, copy_name, errors, warnings, msg)


def append(drafts: list[Draft], client, acc: imap.Account, mailbox: str | None = None,
           now: dt.datetime | None = None) -> tuple[list[Draft], list[Draft]]:  # fmt: skip
    """Put the drafts into the Drafts folder (``mailbox``, else the RFC 6154 ``\\Drafts`` one,
    else one named Drafts) with the flags ``\\Draft`` and ``\\Seen``. A draft already there for
    the same file (``X-Xhht-Source``) is not added again. Returns (added, already there)."""
    from imapclient import DRAFT, SEEN

    target = mailbox or client.find_special_folder(rb"\Drafts")
    if target is None:
        raise imap.MailError(T("mail.no-drafts", account=acc.label))
    imap.require_mailbox(client, acc, target)
    client.select_folder(target, readonly=True)
    added, present = [], []
    for d in drafts:
        if client.search(["HEADER", SOURCE_HEADER, d.sha256]):
            present.append(d)
            continue
        when = (now or dt.datetime.now()).replace(microsecond=0, tzinfo=intake.LOCAL_TZ)
        client.append(target, d.as_bytes(), flags=(DRAFT, SEEN), msg_time=when)
        added.append(d)
    return added, present


def write_eml(drafts: list[Draft], folder: str | Path) -> list[Path]:
    """The drafts as ``.eml`` files (RFC 5322, CRLF) in ``folder``, named by unit code; written
    as one set (all or none). Raises ``fileio.OutputError``."""
    folder = Path(folder)
    paths = []
    with output_set() as stage:
        for d in drafts:
            target = folder / T("mail.eml-name", unit=d.unit)
            stage(target).write_bytes(d.as_bytes())
            paths.append(target)
    return paths
