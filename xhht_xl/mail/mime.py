"""One received e-mail read as data: who sent it, when, and every workbook it carries.

Real mail from communes' and districts' clients: attachment names in RFC 2231 (``filename*=``,
with continuations) and RFC 2047 encoded words (also inside quotes, unquoted, split, in a wrong
or missing charset, raw 8-bit UTF-8 or Windows-1258, percent-encoded, NFD), attachments sent as
``application/octet-stream`` or with no name, Outlook's ``winmail.dat`` (TNEF, MS-OXTNEF, read
with ``tnefparse``), ``.zip`` attachments (bounded like every received ZIP:
``safety.Limits``), forwarded messages (``message/rfc822``), several units' files in one
message. Parsing uses the standard library's ``email`` package (``policy.default``); every name
found is data (the original file name), never a path: the pull stores files under names it
derives itself (``pull.stored_name``).

Nothing here touches the network or the disk.
"""

from __future__ import annotations

import datetime as dt
import email
import email.errors
import email.header
import email.headerregistry
import email.policy
import email.utils
import io
import re
import unicodedata
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from .. import cleaning, messages, safety
from ..intake import LOCAL_TZ

T = messages.text
WORKBOOK_SUFFIXES = tuple(f".{k}" for k in safety.WORKBOOK_KINDS)
ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip",
                       "multipart/x-zip"})  # fmt: skip
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78 little-endian (MS-OXTNEF 2.1.3.1)
# Workbook content types a client may send without a file name (RFC 4288 registrations).
WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": "xlsm",
    "application/vnd.ms-excel": "xls",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
MAX_DEPTH = 4  # containers within containers: forwarded message > winmail.dat > zip > zip
LIMITS = safety.Limits()  # the intake gate's bounds
OTHER_ARCHIVES = (".rar", ".7z", ".gz", ".tar", ".tgz", ".bz2", ".xz")


@dataclass
class Found:
    """A workbook found in a message.

    ``name``: its original file name, decoded (NFC, no control characters) — data, never a path;
    ``via``: the containers it came out of, outermost first (a forwarded message's subject, a
    ``.zip`` or ``winmail.dat`` name); ``kind``: the workbook kind the intake gate found
    (``safety.inspect``), "" when the gate refused it; ``gate``: the gate's refusal code
    ("" = accepted). A file with a workbook suffix is kept even when refused: the consolidation
    then reports it with the gate's Vietnamese line, as for a file saved by hand."""

    name: str
    data: bytes = field(repr=False)
    via: tuple[str, ...] = ()
    kind: str = ""
    gate: str = ""


@dataclass
class Problem:
    """Something about a message a clerk must know: ``code`` is an issue code (``check.<code>``
    in ``messages/mail.toml``), ``values`` fill its message."""

    code: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Letter:
    """One message as data. Times are naive Vietnam time (``intake.LOCAL_TZ``); ``date`` is the
    Date header (ISO when it parses, else its text); ``attachments`` counts every attached file
    found at any depth (workbook or not); ``others``: names of the attachments that are not
    workbooks (a .pdf, a .docx)."""

    sender: str = ""
    sender_address: str = ""
    reply_to: str = ""
    subject: str = ""
    date: str = ""
    message_id: str = ""
    references: str = ""
    workbooks: list[Found] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    attachments: int = 0


def read_letter(raw: bytes, limits: safety.Limits = LIMITS) -> Letter:
    """The sender, subject, Date, Message-ID and every workbook of the message ``raw`` (RFC 5322
    bytes), looking into forwarded messages, ``winmail.dat`` and ``.zip`` attachments.

    An attachment that cannot be opened (a ZIP bomb, an encrypted ZIP, a damaged TNEF, a file over
    ``limits.max_bytes``) becomes a :class:`Problem` naming it; the rest of the message is read.
    Raises :class:`Unparseable` for a message whose structure cannot be read (a multipart body
    whose boundary is missing or never found: its attachments cannot be told apart, so saying
    "no attachment" would be wrong), and whatever the ``email`` package raises on input it cannot
    parse; the caller records such a message with :func:`read_headers`."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    letter = _headers(msg)
    _walk(msg, (), 0, letter, limits)
    return letter


class Unparseable(ValueError):
    """The MIME structure of a message cannot be read (RFC 2046 5.1.1 boundaries)."""


# Defects that leave a multipart body unreadable (email.errors): its parts cannot be found.
_BROKEN = (email.errors.StartBoundaryNotFoundDefect, email.errors.NoBoundaryInMultipartDefect,
           email.errors.MultipartInvariantViolationDefect)  # fmt: skip


def read_headers(raw: bytes) -> Letter:
    """Sender, subject, Date and Message-ID of a message, as far as they can be read at all
    (a header that cannot be decoded is kept as its raw text): for a message whose body could
    not be read, or whose body was not fetched. Never raises."""
    try:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        msg = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)
    except Exception:  # pragma: no cover - compat32 parses any bytes
        return Letter()
    letter = Letter()
    letter.subject = _header_text(msg, "Subject")
    sender = _header_text(msg, "From")
    letter.sender = sender
    letter.sender_address = email.utils.parseaddr(sender)[1]
    letter.reply_to = _header_text(msg, "Reply-To") or sender
    date = _header_text(msg, "Date")
    letter.date = _date_text(date)
    letter.message_id = _header_text(msg, "Message-ID")
    letter.references = _header_text(msg, "References")
    return letter


# -- headers ---------------------------------------------------------------------------------------


def _headers(msg: EmailMessage) -> Letter:
    letter = Letter()
    letter.subject = _safe(lambda: fix_text(str(msg["Subject"] or "")))
    sender = _safe(lambda: _address(msg, "From"))
    letter.sender, letter.sender_address = sender or ("", "")
    reply = _safe(lambda: _address(msg, "Reply-To"))
    letter.reply_to = reply[0] if reply else letter.sender
    letter.date = _safe(lambda: _date_text(str(msg["Date"] or ""))) or ""
    letter.message_id = _safe(lambda: _one_line(str(msg["Message-ID"] or ""))) or ""
    letter.references = _safe(lambda: _one_line(str(msg["References"] or ""))) or ""
    return letter


def _safe(fn):
    """A header's value, or None when the ``email`` package fails on it (a known class of bugs in
    its header parser on malformed input): the message is still read."""
    try:
        return fn()
    except Exception:
        return None


def _address(msg: EmailMessage, name: str) -> tuple[str, str] | None:
    """(display text, address) of the first address in header ``name``; display text is
    ``Tên <địa chỉ>`` quoted as RFC 5322 needs, so it can be used again as a header."""
    header = msg[name]
    if header is None:
        return None
    addresses = getattr(header, "addresses", ())
    if not addresses:
        text = fix_text(str(header))
        return (text, email.utils.parseaddr(text)[1]) if text else None
    first = addresses[0]
    display = fix_text(first.display_name or "")
    addr = fix_text(first.addr_spec or "")
    return address_text(display, addr), addr


def address_text(display: str, addr: str) -> str:
    """``Tên <địa chỉ>`` as a person reads it (no RFC 2047 encoding), quoted where RFC 5322 needs
    it, so it is also a valid header value again; the bare address when there is no name."""
    if not display:
        return addr
    try:
        return str(email.headerregistry.Address(display_name=display, addr_spec=addr))
    except (ValueError, IndexError, TypeError, email.errors.HeaderParseError):
        return f'"{display.replace(chr(34), "")}" <{addr}>'



def _header_text(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    try:
        text = str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # a broken encoded word: keep the text as it came
        pass
    return fix_text(text)


def _date_text(text: str) -> str:
    """The Date header as ISO Vietnam time when it parses (RFC 5322 3.3, obsolete forms too),
    else its text."""
    text = _one_line(text)
    if not text:
        return ""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return text
    if when.tzinfo is None:  # "-0000": the sender's zone is unknown; read it as UTC (RFC 5322 3.3)
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat()


def _one_line(text: str) -> str:
    return " ".join(cleaning.for_terminal(text).split())


# -- names -------------------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_RAW_PARAM = re.compile(r"""(?:^|;)\s*(file)?name\s*=\s*("(?:[^"\\]|\\.)*"|[^;]+)""", re.I)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def fix_text(text: str) -> str:
    """Text from a header or a file name as the sender meant it: raw 8-bit bytes (kept by the
    parser as surrogates) decoded as UTF-8, else Windows-1258; encoded words a client left
    undecoded (RFC 2047 inside quotes, unquoted, split); UTF-8 read as Latin-1 ("BÃ¡o") undone;
    NFC; no control characters; one line."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1258", errors="replace")
    if _ENCODED_WORD.search(text):
        text = _decode_words(text)
    text = _undo_mojibake(text)
    text = unicodedata.normalize("NFC", text)
    return " ".join(cleaning.clean_cell(cleaning.for_terminal(text))[0].split())


def _decode_words(text: str) -> str:
    parts = []
    try:
        pieces = email.header.decode_header(text)
    except Exception:
        return text
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        for codec in (charset or "utf-8", "utf-8", "cp1258"):
            try:
                parts.append(chunk.decode(_codec(codec)))
                break
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            parts.append(chunk.decode("utf-8", errors="replace"))
    return "".join(parts)


def _codec(charset: str) -> str:
    charset = charset.lower().strip()
    return {"utf8": "utf-8", "unicode-1-1-utf-8": "utf-8", "x-unknown": "utf-8"}.get(charset, charset)


def _undo_mojibake(text: str) -> str:
    """UTF-8 bytes that a client labelled Latin-1 or Windows-1252 ("BÃ¡o cÃ¡o") back to text."""
    if text.isascii() or any(ord(ch) > 0x2122 for ch in text):
        return text
    for codec in ("latin-1", "cp1252"):
        try:
            fixed = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text:
            return fixed
    return text


def attachment_name(part: Message) -> str:
    """The original file name of a MIME part ("" when it has none): the parser's reading of
    Content-Disposition ``filename`` and Content-Type ``name`` (RFC 2231, RFC 2047), and where
    it gives nothing, the raw parameter text decoded by :func:`fix_text` (a client may put an
    unquoted encoded word there); percent-encoded UTF-8 without RFC 2231's ``*`` is decoded.
    Only the last path component is kept: a name is data, never a place."""
    name = _safe(part.get_filename) or ""
    if not name or "\ufffd" in name:  # none, or 8-bit bytes the parser could not decode: the raw text
        parsed, name = name, ""
        raw = {key.lower(): str(value) for key, value in part.raw_items()}
        for header in ("content-disposition", "content-type"):
            for prefix, value in _RAW_PARAM.findall(raw.get(header, "")):
                if prefix or header == "content-type":
                    name = value.strip().strip('"')
                    break
            if name:
                break
        name = name or parsed
    if name and _PERCENT.search(name) and "%" in name:
        try:
            decoded = urllib.parse.unquote(name, errors="strict")
        except UnicodeDecodeError:
            decoded = name
        if not decoded.isascii():
            name = decoded
    name = fix_text(name)
    return re.split(r"[\\/]", name)[-1].strip()


# -- the walk ----------------------------------------------------------------------------------------


def _walk(part: Message, via: tuple[str, ...], depth: int, letter: Letter, limits: safety.Limits) -> None:
    broken = [d for d in getattr(part, "defects", ()) if isinstance(d, _BROKEN)]
    if broken:
        raise Unparseable(T("mail.structure-broken"))
    ctype = part.get_content_type().lower()
    if part.is_multipart() and ctype != "message/rfc822":
        for sub in part.get_payload() or ():
            if isinstance(sub, Message):
                _walk(sub, via, depth, letter, limits)
        return
    if ctype == "message/rfc822":  # a forwarded message (the email package calls it multipart too)
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message) and depth < MAX_DEPTH:
            subject = _safe(lambda: fix_text(str(inner.get("Subject") or ""))) or ""
            _walk(inner, (*via, T("mail.via-forwarded", subject=subject)), depth + 1, letter, limits)
        return
    name = attachment_name(part)
    disposition = (_safe(part.get_content_disposition) or "").lower()
    if not name and disposition != "attachment":
        if ctype.startswith(("text/", "image/", "multipart/")) or ctype not in (
            *WORKBOOK_TYPES, *ZIP_TYPES, *TNEF_TYPES, "application/octet-stream"
        ):
            return  # the message's text, an inline picture (a signature's logo)
    try:
        data = part.get_payload(decode=True) or b""
    except Exception:
        data = b""
    if not name and ctype in WORKBOOK_TYPES:
        name = T("mail.unnamed") + "." + WORKBOOK_TYPES[ctype]
    take(name, data, ctype, via, depth, letter, limits)


def take(name: str, data: bytes, ctype: str, via: tuple[str, ...], depth: int, letter: Letter,
         limits: safety.Limits) -> None:  # fmt: skip
    """Classify one attached file: a TNEF container, a ZIP archive, a workbook (by suffix, or by
    content for a nameless or ``octet-stream`` one), or something else (listed by name)."""
    letter.attachments += 1
    low = name.lower()
    shown = name or T("mail.unnamed")
    if ctype in TNEF_TYPES or low == "winmail.dat" or data.startswith(TNEF_SIGNATURE):
        _tnef(shown, data, via, depth, letter, limits)
        return
    if len(data) > limits.max_bytes:
        if low.endswith((*WORKBOOK_SUFFIXES, ".zip")):
            reason = safety.UnreadableFile("file-too-big", shown, size_mb=f"{len(data) / safety.MB:.1f}",
                                           limit_mb=f"{limits.max_bytes / safety.MB:g}").message  # fmt: skip
            letter.problems.append(Problem("mail-attachment-refused", {"name": _path(via, shown), "reason": reason}))
        else:
            letter.others.append(_path(via, shown))
        return
    if low.endswith(".zip") or ctype in ZIP_TYPES or (
        not low.endswith(WORKBOOK_SUFFIXES) and data.startswith(b"PK\x03\x04") and _plain_zip(data)
    ):
        _unzip(shown, data, via, depth, letter, limits)
        return
    if low.endswith(OTHER_ARCHIVES):
        reason = safety.UnreadableFile("archive", shown).message
        letter.problems.append(Problem("mail-attachment-refused", {"name": _path(via, shown), "reason": reason}))
        return
    if low.endswith(WORKBOOK_SUFFIXES):
        letter.workbooks.append(_gated(name, data, via, limits))
        return
    if data.startswith((b"PK\x03\x04", bytes.fromhex("D0CF11E0A1B11AE1"))):
        found = _gated(name or T("mail.unnamed"), data, via, limits)
        if found.kind:  # a workbook sent as octet-stream, or with another name
            letter.workbooks.append(found)
            return
    letter.others.append(_path(via, shown))


def _path(via: tuple[str, ...], name: str) -> str:
    return " › ".join((*via, name))


def _gated(name: str, data: bytes, via: tuple[str, ...], limits: safety.Limits) -> Found:
    """A workbook candidate through the intake gate (``safety.inspect`` on these very bytes)."""
    found = Found(name, data, via)
    try:
        info = safety.inspect(name or "tep", limits, data=data)
    except safety.UnreadableFile as exc:
        found.gate = exc.code
        return found
    if info.zip is not None:
        info.zip.close()
    found.kind = info.kind
    return found


def _plain_zip(data: bytes) -> bool:
    """A ZIP that is an archive of files, not an OOXML/ODF package (checked on names only)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = {n.lower() for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False
    return "[content_types].xml" not in names and "mimetype" not in names


def _unzip(name: str, data: bytes, via: tuple[str, ...], depth: int, letter: Letter,
           limits: safety.Limits) -> None:  # fmt: skip
    """The files of a ``.zip`` attachment, within the intake gate's ZIP bounds (number of members,
    declared total size and ratio from the central directory before anything is inflated,
    encryption); each member read bounded by ``limits.max_bytes``."""

    def refuse(code: str, **values) -> None:
        reason = safety.UnreadableFile(code, name, **values).message
        letter.problems.append(Problem("mail-attachment-refused", {"name": _path(via, name), "reason": reason}))

    if depth >= MAX_DEPTH:
        refuse("archive")
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        refuse("zip-corrupt")
        return
    with zf:
        if len(infos) > limits.max_members:
            refuse("too-many-parts", count=len(infos), limit=limits.max_members)
            return
        if sum(i.file_size for i in infos) > limits.max_unzipped or any(
            i.file_size > limits.ratio_floor and i.file_size > limits.max_ratio * max(i.compress_size, 1)
            for i in infos
        ):
            refuse("zip-bomb")
            return
        inner = (*via, name)
        for info in infos:
            if info.is_dir():
                continue
            member = _member_name(info)
            base = member.rsplit("/", 1)[-1]
            low = base.lower()
            if member.lower().startswith("__macosx/") or base.startswith(("._", "~$")) or low in (
                "thumbs.db", "desktop.ini", ".ds_store"
            ):
                continue
            wanted = low.endswith((*WORKBOOK_SUFFIXES, ".zip", ".dat")) or not low.rpartition(".")[1]
            if not wanted:
                letter.attachments += 1
                letter.others.append(_path(inner, base))
                continue
            if info.flag_bits & 0x1:
                refuse("encrypted")
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                refuse("zip-corrupt")
                continue
            try:
                content = safety.read_member(zf, info, limits.max_bytes, base)
            except safety.UnreadableFile as exc:
                letter.problems.append(Problem("mail-attachment-refused", {"name": _path(inner, base),
                                                                           "reason": exc.message}))  # fmt: skip
                continue
            take(base, content, "application/octet-stream", inner, depth + 1, letter, limits)


def _member_name(info: zipfile.ZipInfo) -> str:
    """A ZIP member's name as its maker meant it: UTF-8 when flagged (APPNOTE 4.4.4 bit 11), else
    the OEM code page, which on a Vietnamese Windows is 1258 (Python reads it as CP437)."""
    name = info.filename
    if not info.flag_bits & 0x800:
        raw = name.encode("cp437", errors="replace")
        for codec in ("utf-8", "cp1258"):
            try:
                name = raw.decode(codec)
                break
            except UnicodeDecodeError:
                continue
    return fix_text(name.replace("\\", "/"))


def _tnef(name: str, data: bytes, via: tuple[str, ...], depth: int, letter: Letter,
          limits: safety.Limits) -> None:  # fmt: skip
    """The files inside Outlook's ``winmail.dat`` (TNEF, MS-OXTNEF), read with ``tnefparse``."""
    from tnefparse import TNEF

    if depth >= MAX_DEPTH:
        letter.others.append(_path(via, name))
        return
    try:
        tnef = TNEF(data, do_checksum=False)
        attachments = list(tnef.attachments)
    except Exception:  # a damaged container: tnefparse raises whatever its reading meets
        reason = T("mail.tnef-broken", name=name)
        letter.problems.append(Problem("mail-attachment-refused", {"name": _path(via, name), "reason": reason}))
        return
    letter.attachments -= 1  # the container is not itself a file the sender attached
    for att in attachments:
        inner_name = _tnef_name(att, tnef)
        content = att.data if isinstance(att.data, bytes) else b""
        take(inner_name, content, "application/octet-stream", (*via, name), depth + 1, letter, limits)


def _tnef_name(att, tnef) -> str:
    """An attachment's long file name (PR_ATTACH_LONG_FILENAME), else its short title, decoded in
    the container's code page (Windows-1258 on a Vietnamese Outlook)."""
    for getter in (att.long_filename, lambda: att.name):
        try:
            value = getter()
        except Exception:
            continue
        if isinstance(value, bytes):
            value = value.decode(tnef.codepage or "cp1252", errors="replace")
        if value:
            return fix_text(value.strip("\x00"))
    raw = getattr(att, "_name", b"")
    if isinstance(raw, bytes) and raw:
        return fix_text(raw.decode(tnef.codepage or "cp1258", errors="replace").strip("\x00"))
    return ""
