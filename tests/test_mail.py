"""The official mailbox as a source (issue 17), against a real IMAP server: Dovecot, started by the
``dovecot`` fixture (tests/mailserver.py) and seeded by APPEND with the mail communes and districts
really send — names in RFC 2231 and RFC 2047 (also broken forms), octet-stream, winmail.dat, zip,
forwarded messages, no attachment, the same file twice, a message after the deadline."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.headerregistry
import email.policy
import email.utils
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import unicodedata
import urllib.parse
import zipfile
from pathlib import Path

import pytest
from helpers import clean_values, write_book
from mailserver import HOST, PASSWORD, seed, state, tnef

from xhht_xl import cli, intake, messages
from xhht_xl.mail import imap, mime, stored_name

T = messages.text
VN = dt.timezone(dt.timedelta(hours=7))
DISTRICT = "794"
OFFICE = "phonggd.tanan@longan.edu.vn"


def at(day: int, hour: int, minute: int = 0, month: int = 8) -> dt.datetime:
    return dt.datetime(2020, month, day, hour, minute, tzinfo=VN)


# -- building the mail ---------------------------------------------------------------------------------


def workbook(plan, tmp: Path, unit: str, *, bad: bool = False, seed_: int = 1) -> bytes:
    values = clean_values(plan, "xa", unit, seed=seed_)
    if bad:  # a numerator larger than its denominator: an error the sender must fix
        key = next(k for k in values if k[0] == "kq" and k[3] == "num")
        values[key] = values[(*key[:3], "den")] + 5
    return write_book(tmp / f"{unit}.xlsx", plan, "xa", values).read_bytes()


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def part(data: bytes, disposition: bytes, ctype: bytes = b"application/octet-stream") -> bytes:
    return (b"Content-Type: " + ctype + b"\r\n" + disposition + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + _b64(data))  # fmt: skip


def named(data: bytes, name: str, form: str = "2231", ctype: bytes = b"application/octet-stream") -> bytes:
    """An attachment whose name is written the way one kind of client writes it."""
    utf8 = name.encode()
    if form == "2231":  # RFC 2231, as Thunderbird and Python write it
        disp = b"Content-Disposition: attachment; filename*=utf-8''" + urllib.parse.quote(utf8).encode()
    elif form == "2231-split":  # RFC 2231 continuations
        q = urllib.parse.quote(utf8)
        disp = (b"Content-Disposition: attachment;\r\n filename*0*=utf-8''" + q[:20].encode()
                + b";\r\n filename*1*=" + q[20:].encode())  # fmt: skip
    elif form == "2047":  # an encoded word in quotes, as Gmail and Outlook write it
        word = b"=?UTF-8?B?" + base64.b64encode(utf8) + b"?="
        disp = b'Content-Disposition: attachment; filename="' + word + b'"'
        ctype += b'; name="' + word + b'"'
    elif form == "2047-bare":  # an unquoted encoded word (a broken form some webmails send)
        disp = b"Content-Disposition: attachment; filename==?utf-8?B?" + base64.b64encode(utf8) + b"?="
    elif form == "8bit":  # raw UTF-8 in the header (RFC 6532 style, or just careless)
        disp = b'Content-Disposition: attachment; filename="' + utf8 + b'"'
    elif form == "nfd":  # macOS Mail: decomposed Unicode
        disp = b"Content-Disposition: attachment; filename*=utf-8''" + urllib.parse.quote(
            unicodedata.normalize("NFD", name).encode()).encode()  # fmt: skip
    else:
        raise ValueError(form)
    return part(data, disp, ctype)


def message(sender: str | tuple[str, str], subject: str, sent: dt.datetime, parts: list[bytes], *, msgid: str,
            text: str = "Kính gửi Phòng GD&ĐT, đơn vị gửi báo cáo tổng kết.", boundary: str = "") -> bytes:  # fmt: skip
    boundary = boundary or "=_xhht_" + hashlib.sha1(msgid.encode()).hexdigest()[:16]
    if isinstance(sender, tuple):  # a name in RFC 2047, as every client writes it
        sender = email.utils.formataddr(sender, charset="utf-8")
    head = (f"From: {sender}\r\nTo: {OFFICE}\r\nSubject: {email.header.Header(subject, 'utf-8').encode()}\r\n"
            f"Date: {email.utils.format_datetime(sent)}\r\nMessage-ID: <{msgid}>\r\nMIME-Version: 1.0\r\n")  # fmt: skip
    if not parts:
        return (head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                + text + "\r\n").encode()  # fmt: skip
    body = (f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"{text}\r\n").encode()  # fmt: skip
    for p in parts:
        body += f"--{boundary}\r\n".encode() + p
    return head.encode() + body + f"--{boundary}--\r\n".encode()


def zipped(files: list[tuple[str, bytes]], *, utf8_flag: bool) -> bytes:
    """A .zip as Windows' "Send to > Compressed folder" writes it (names as bytes of the OEM code
    page, here 1258, without the UTF-8 flag) or as 7-Zip does (UTF-8, flagged)."""
    buf = io.BytesIO()
    renames: list[tuple[bytes, bytes]] = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(files):
            if not utf8_flag:  # zipfile flags any non-ASCII name as UTF-8: write a stand-in, then the bytes
                raw = windows_1258(name)
                stand_in = f"~{i:0{len(raw) - 1}d}".encode()
                renames.append((stand_in, raw))
                name = stand_in.decode()
            info = zipfile.ZipInfo(name, date_time=(2020, 8, 19, 10, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    out = buf.getvalue()
    for stand_in, raw in renames:  # same length: offsets and CRCs stay right
        assert out.count(stand_in) == 2
        out = out.replace(stand_in, raw)
    return out


TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


def windows_1258(text: str) -> bytes:
    """Vietnamese text as Windows writes it in code page 1258: letters with their breve, circumflex
    or horn precomposed, the tone as a combining mark after them."""
    out = []
    for ch in text:
        d = unicodedata.normalize("NFD", ch)
        out.append(unicodedata.normalize("NFC", "".join(c for c in d if c not in TONES)))
        out.append("".join(c for c in d if c in TONES))
    return "".join(out).encode("cp1258")


def sender(code: str, plan) -> tuple[str, str]:
    return f"UBND {plan.units[code].name}", f"vhxh{code}@longan.gov.vn"


def shown(code: str, plan) -> str:
    """How the sender reads in the clerk's outputs: ``UBND Phường 2 <vhxh27688@longan.gov.vn>``."""
    name, addr = sender(code, plan)
    return str(email.headerregistry.Address(display_name=name, addr_spec=addr))


# The communes of Tân An (794) in the case set, and the one message each arrives in.
C = ["27685", "27688", "27691", "27692", "27694", "27697", "27698", "27700", "27703", "27706", "27709"]


@pytest.fixture(scope="module")
def case_set(plan, tmp_path_factory):
    """Every kind of real-world message, as (raw, INTERNALDATE, flags), and what each carries."""
    tmp = tmp_path_factory.mktemp("mail-books")
    wb = {code: workbook(plan, tmp, code, bad=code in ("27688", "27703"), seed_=i) for i, code in enumerate(C)}
    n = plan.units
    m = []
    # 1. RFC 2231 name (Thunderbird); \Seen already (the clerk read it)
    m.append((message(sender(C[0], plan), f"Báo cáo tổng kết XHHT {n[C[0]].name}", at(18, 9, 30),
                      [named(wb[C[0]], f"Báo cáo tổng kết {n[C[0]].name}.xlsx", "2231")], msgid="m1@longan.gov.vn"),
              at(18, 9, 31), [b"\\Seen"]))  # fmt: skip
    # 2. RFC 2047 in quotes (Gmail), an error in the workbook
    m.append((message(sender(C[1], plan), "Gửi báo cáo tổng kết", at(18, 14, 5),
                      [named(wb[C[1]], f"BC tổng kết {n[C[1]].name}.xlsx", "2047")], msgid="m2@gmail.com"),
              at(18, 14, 6), []))  # fmt: skip
    # 3. an unquoted encoded word and application/octet-stream
    m.append((message(sender(C[2], plan), "bao cao", at(19, 8, 0),
                      [named(wb[C[2]], f"Tổng kết {n[C[2]].name}.xlsx", "2047-bare")], msgid="m3@yahoo.com"),
              at(19, 8, 1), [b"\\Flagged"]))  # fmt: skip
    # 4. Outlook's winmail.dat (TNEF), the name in Windows-1258
    dat = tnef([(f"Báo cáo {n[C[3]].name}.xlsx", wb[C[3]])])
    m.append((message(sender(C[3], plan), "Báo cáo tổng kết", at(19, 9, 15),
                      [part(dat, b'Content-Disposition: attachment; filename="winmail.dat"', b"application/ms-tnef")],
                      msgid="m4@outlook.longan.gov.vn"), at(19, 9, 16), []))  # fmt: skip
    # 5. a .zip made by Windows with two communes' files (names in code page 1258)
    z = zipped([(f"{n[C[4]].name}.xlsx", wb[C[4]]), (f"{n[C[5]].name}.xlsx", wb[C[5]])], utf8_flag=False)
    m.append((message(sender(C[4], plan), "Báo cáo 2 phường", at(19, 10, 0),
                      [named(z, "Bao cao.zip", "2231", b"application/x-zip-compressed")], msgid="m5@longan.gov.vn"),
              at(19, 10, 1), []))  # fmt: skip
    # 6. a forwarded message carrying a commune's workbook (RFC 2231 split name inside)
    inner = message(sender(C[6], plan), "Báo cáo phường 7", at(17, 16, 0),
                    [named(wb[C[6]], f"Báo cáo tổng kết XHHT năm 2020 - {n[C[6]].name}.xlsx", "2231-split")],
                    msgid="inner6@longan.gov.vn")  # fmt: skip
    fwd = b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + inner
    m.append((message(sender(C[0], plan), "Fwd: Báo cáo phường 7", at(19, 11, 0), [fwd], msgid="m6@longan.gov.vn"),
              at(19, 11, 1), []))  # fmt: skip
    # 7. no attachment: the sender forgot it
    m.append((message(sender(C[7], plan), "Báo cáo tổng kết Phường 6", at(19, 15, 0), [], msgid="m7@longan.gov.vn",
                      text="Kính gửi, đơn vị gửi báo cáo (quên đính kèm)."), at(19, 15, 1), []))  # fmt: skip
    # 8. the same file as message 1, sent again
    m.append((message(sender(C[0], plan), "Gửi lại báo cáo", at(20, 8, 0),
                      [named(wb[C[0]], "bao_cao_gui_lai.xlsx", "8bit")], msgid="m8@longan.gov.vn"),
              at(20, 8, 1), []))  # fmt: skip
    # 9. after the communes' deadline (20/08/2020)
    m.append((message(sender(C[8], plan), "Báo cáo (trễ)", at(24, 9, 0),
                      [named(wb[C[8]], f"{n[C[8]].name}.xlsx", "nfd")], msgid="m9@longan.gov.vn"),
              at(24, 9, 1), []))  # fmt: skip
    # 10. one message with two communes' files, one sent with no name as an .xls content type
    m.append((message(sender(C[9], plan), "Báo cáo của hai xã", at(20, 16, 0),
                      [named(wb[C[9]], f"{n[C[9]].name}.xlsx", "2231"),
                       part(wb[C[10]], b"Content-Disposition: attachment", b"application/octet-stream")],
                      msgid="m10@longan.gov.vn"), at(20, 16, 1), []))  # fmt: skip
    # 11. only a PDF
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    m.append((message(sender(C[7], plan), "Báo cáo bản PDF", at(20, 9, 0),
                      [named(pdf, "Báo cáo.pdf", "2231", b"application/pdf")], msgid="m11@longan.gov.vn"),
              at(20, 9, 1), []))  # fmt: skip
    # 12. a broken message: multipart whose boundary never appears
    broken = message(sender(C[7], plan), "Báo cáo hỏng", at(20, 10, 0),
                     [named(wb[C[7]], "x.xlsx", "2231")], msgid="m12@longan.gov.vn")  # fmt: skip
    broken = broken.replace(b'boundary="=_xhht_', b'boundary="=_other_', 1)
    m.append((broken, at(20, 10, 1), []))
    # 13. a zip bomb beside a good file: the bomb is refused, the message still read
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bom.xlsx", b"\0" * (4 * 1024 * 1024))  # inflates 1000-fold: over the gate's ratio
    m.append((message(sender(C[10], plan), "Báo cáo nén", at(20, 11, 0),
                      [named(bomb.getvalue(), "nen.zip", "2231", b"application/zip")], msgid="m13@longan.gov.vn"),
              at(20, 11, 1), []))  # fmt: skip
    return {"messages": m, "books": wb}


@pytest.fixture(scope="module")
def pulled(dovecot, case_set, tmp_path_factory):
    """The case set seeded into a fresh mailbox and pulled once through the CLI."""
    user = dovecot.new_user()
    seed(dovecot, user, case_set["messages"])
    before = state(dovecot, user)
    out = tmp_path_factory.mktemp("pulled") / "nhan_qua_thu"
    code, lines = run_cli(["mail", "pull", str(out), "--server", f"{HOST}:{dovecot.port}", "--user", user,
                           "--security", "none"])  # fmt: skip
    return {"user": user, "out": out, "code": code, "lines": lines, "before": before,
            "after": state(dovecot, user), **case_set}  # fmt: skip


def run_cli(args: list[str], env: dict | None = None) -> tuple[int, str]:
    """The real ``xhht`` command in its own process (the password from the environment only)."""
    full = {**os.environ, "XHHT_MAIL_PASSWORD": PASSWORD, "PYTHONIOENCODING": "utf-8", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "xhht_xl.cli", *args], capture_output=True, env=full,
                          timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def run_here(args: list[str], env: dict | None = None) -> tuple[int, str]:
    """``run_cli`` in this process: the same ``cli.main`` with the same environment (the password
    from it only) and what it printed on stdout and stderr, for commands whose own process does not
    matter here (each real process costs a Python start-up and the package's imports, ~0.7 s)."""
    import contextlib
    import io

    from xhht_xl import cli

    saved = dict(os.environ)
    os.environ.update({"XHHT_MAIL_PASSWORD": PASSWORD, **(env or {})})
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = cli.main(args)
            except SystemExit as done:
                code = done.code
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue()


_CASES_CHILD = """
import contextlib, io, json, os, sys
from xhht_xl import cli
results = []
for args, env in json.loads(sys.stdin.read()):
    saved = dict(os.environ)
    os.environ.update(env)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = cli.main(args)
        except SystemExit as done:
            code = done.code
    os.environ.clear()
    os.environ.update(saved)
    results.append((code, out.getvalue()))
sys.stdout.write(json.dumps(results))
"""


def run_cli_cases(cases: list[tuple[list[str], dict]]) -> list[tuple[int, str]]:
    """``run_cli`` for several independent commands in one process of their own (one start-up of
    Python and the package instead of one per case): each case's exit code and what it printed on
    stdout and stderr (Python's, so warnings and log lines too), each with its own environment."""
    full = {**os.environ, "XHHT_MAIL_PASSWORD": PASSWORD, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-c", _CASES_CHILD], input=json.dumps(cases).encode(),
                          capture_output=True, env=full, timeout=600)  # fmt: skip
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    return [(code, text) for code, text in json.loads(done.stdout)]


def ledger(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / intake.STORE_NAME / intake.LEDGER_NAME)


def listing(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder`` (size, time, hash), but the store's lock file (empty when free)."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(
        p.read_bytes()).hexdigest()) for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}  # fmt: skip


# -- the pull --------------------------------------------------------------------------------------------


def test_every_workbook_is_saved_once_under_a_derived_name(pulled, plan):
    out = pulled["out"]
    assert pulled["code"] == 1, pulled["lines"]  # some messages need the clerk's attention
    books = {p.name: p.read_bytes() for p in out.glob("*.xlsx")}
    by_hash = {hashlib.sha256(b).hexdigest(): name for name, b in books.items()}
    # every commune's workbook once, whatever container or encoding it came in; the bomb not at all
    assert {hashlib.sha256(b).hexdigest() for b in pulled["books"].values()} - {
        hashlib.sha256(pulled["books"]["27700"]).hexdigest()} == set(by_hash)  # fmt: skip
    assert len(books) == len(by_hash) == 10
    names: dict[str, str] = {}
    for sha, name in ledger(out).execute("SELECT sha256, name FROM mail_files ORDER BY uid, part"):
        names.setdefault(sha, name)  # as first received
    n = plan.units
    expected = {  # the sender's original name, decoded, kept as data
        C[0]: f"Báo cáo tổng kết {n[C[0]].name}.xlsx", C[1]: f"BC tổng kết {n[C[1]].name}.xlsx",
        C[2]: f"Tổng kết {n[C[2]].name}.xlsx", C[3]: f"Báo cáo {n[C[3]].name}.xlsx",
        C[4]: f"{n[C[4]].name}.xlsx", C[5]: f"{n[C[5]].name}.xlsx",
        C[6]: f"Báo cáo tổng kết XHHT năm 2020 - {n[C[6]].name}.xlsx", C[8]: f"{n[C[8]].name}.xlsx",
        C[9]: f"{n[C[9]].name}.xlsx",
    }  # fmt: skip
    for code, name in expected.items():
        sha = hashlib.sha256(pulled["books"][code]).hexdigest()
        assert names[sha] == name
        assert by_hash[sha] == stored_name(name, "xlsx", sha)  # the stored name is derived, never the sender's
    nameless = hashlib.sha256(pulled["books"][C[10]]).hexdigest()
    assert names[nameless] == T("mail.unnamed")  # sent with no name at all: found by its content
    assert by_hash[nameless] == stored_name(T("mail.unnamed"), "xlsx", nameless)
    vias = dict(ledger(out).execute("SELECT sha256, via FROM mail_files"))
    assert vias[hashlib.sha256(pulled["books"][C[3]]).hexdigest()] == "winmail.dat"
    assert vias[hashlib.sha256(pulled["books"][C[4]]).hexdigest()] == "Bao cao.zip"
    assert vias[hashlib.sha256(pulled["books"][C[6]]).hexdigest()] == T("mail.via-forwarded",
                                                                          subject="Báo cáo phường 7")  # fmt: skip


def test_each_file_carries_the_servers_received_time(pulled):
    out = pulled["out"]
    rows = ledger(out).execute(
        """SELECT f.path, m.internaldate, m.sender, m.message_id, m.uid, m.uidvalidity, m.date_header
           FROM mail_files f JOIN mail_messages m USING (account, mailbox, uidvalidity, uid) ORDER BY m.uid"""
    ).fetchall()
    first = {}
    for path, when, _sender, msgid, uid, validity, date in rows:
        first.setdefault(path, when)
        assert uid > 0 and validity > 0 and msgid.startswith("<") and date
    m1 = rows[0]
    assert m1[1] == "2020-08-18T09:31:00"  # INTERNALDATE, Vietnam time; not the Date header (09:30)
    assert m1[6] == "2020-08-18T09:30:00"
    for path, when in first.items():  # the file's own time is its first arrival
        assert dt.datetime.fromtimestamp((out / path).stat().st_mtime, VN).replace(tzinfo=None) == \
            dt.datetime.fromisoformat(when)  # fmt: skip


def test_the_same_file_twice_is_stored_once_and_both_messages_are_recorded(pulled):
    sha = hashlib.sha256(pulled["books"][C[0]]).hexdigest()
    rows = ledger(pulled["out"]).execute(
        "SELECT m.message_id, f.path FROM mail_files f JOIN mail_messages m USING (account, mailbox, uidvalidity, uid)"
        " WHERE f.sha256 = ? ORDER BY m.uid", (sha,)).fetchall()  # fmt: skip
    assert [r[0] for r in rows] == ["<m1@longan.gov.vn>", "<m8@longan.gov.vn>"]
    assert len({r[1] for r in rows}) == 1
    assert T("mail.pull-file-again", file=rows[0][1], name="bao_cao_gui_lai.xlsx", sender=shown(C[0], _plan()),
             when="08:01 20/08/2020") in pulled["lines"]  # fmt: skip


def _plan():
    from xhht_xl import plan

    return plan.load()


def test_messages_without_a_workbook_are_listed_with_sender_time_and_subject(pulled, plan):
    lines = pulled["lines"]
    s7 = shown(C[7], plan)
    assert T("check.mail-no-attachment", sender=s7, when="15:01 19/08/2020", subject="Báo cáo tổng kết Phường 6") \
        in lines  # fmt: skip
    assert T("check.mail-no-workbook", sender=s7, when="09:01 20/08/2020", subject="Báo cáo bản PDF",
             names="Báo cáo.pdf") in lines  # fmt: skip
    assert T("check.mail-unparseable", sender=s7, date="2020-08-20T10:00:00", subject="Báo cáo hỏng",
             reason=T("mail.structure-broken"), when="") in lines  # fmt: skip
    assert "nen.zip" in lines and "bom.xlsx" not in " ".join(p.name for p in pulled["out"].iterdir())
    statuses = dict(ledger(pulled["out"]).execute("SELECT message_id, status FROM mail_messages"))
    assert statuses["<m7@longan.gov.vn>"] == "no-attachment"
    assert statuses["<m11@longan.gov.vn>"] == "no-workbook"
    assert statuses["<m12@longan.gov.vn>"] == "unparseable"
    assert statuses["<m1@longan.gov.vn>"] == "ok"


def test_the_mailbox_is_unchanged_by_a_pull(pulled):
    assert pulled["before"] == pulled["after"]
    count, _validity, _next, rows = pulled["after"]
    assert count == len(pulled["messages"])
    flags = {u: f for u, f, _ in rows}
    assert flags[1] == (b"\\Recent", b"\\Seen") and flags[2] == (b"\\Recent",)  # not \Seen, \Recent kept


def test_a_rerun_changes_nothing(dovecot, pulled):
    out = pulled["out"]
    files = listing(out)
    rows = ledger(out).execute("SELECT * FROM mail_messages ORDER BY uid").fetchall()
    code, lines = run_here(["mail", "pull", str(out), "--server", f"{HOST}:{dovecot.port}", "--user", pulled["user"],
                            "--security", "none"])  # fmt: skip
    assert code == 0, lines
    assert T("mail.pull-nothing", mailbox="INBOX", account=dovecot.account(pulled["user"]).label,
             known=len(pulled["messages"]), folder=out) in lines  # fmt: skip
    assert listing(out) == files
    assert ledger(out).execute("SELECT * FROM mail_messages ORDER BY uid").fetchall() == rows
    assert state(dovecot, pulled["user"]) == pulled["before"]


def test_only_new_messages_are_pulled(dovecot, plan, tmp_path, case_set):
    user = dovecot.new_user()
    seed(dovecot, user, case_set["messages"][:2])
    acc = dovecot.account(user)
    first = imap_pull(tmp_path, acc)
    assert [m.uid for m in first.messages] == [1, 2]
    seed(dovecot, user, case_set["messages"][2:3])
    again = imap_pull(tmp_path, acc)
    assert [m.uid for m in again.messages] == [3] and again.known == 2
    since = imap_pull(tmp_path / "since", acc, since=dt.date(2020, 8, 19))  # the server's date
    assert [m.uid for m in since.messages] == [3]


def imap_pull(folder: Path, acc, **kw):
    from xhht_xl.mail import pull

    return pull(folder, acc, PASSWORD, **kw)


def test_the_password_is_written_nowhere(pulled, tmp_path):
    secret = PASSWORD.encode()
    for path in pulled["out"].rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    assert PASSWORD not in pulled["lines"]


# -- consolidation uses the mailbox's time ----------------------------------------------------------------


@pytest.fixture(scope="module")
def consolidated(pulled, plan, tmp_path_factory):
    from xhht_xl.consolidation import consolidate

    out = pulled["out"]
    for path in out.glob("*.xlsx"):  # the files' own times say nothing: the server's time must decide
        os.utime(path, (dt.datetime(2020, 9, 1, 8, 0).timestamp(),) * 2)
    c = consolidate(out, plan, "huyen", DISTRICT, as_of=dt.date(2020, 8, 28), now=dt.datetime(2020, 8, 28, 17),
                    store=tmp_path_factory.mktemp("store") / "xhht_intake")  # fmt: skip
    return c


def test_consolidation_takes_the_servers_time_with_no_flag(consolidated):
    c = consolidated
    used = {code: r for code, r in c.chosen.items()}
    assert set(C) - {C[7]} <= set(used)
    assert {r.received_source for r in used.values()} == {intake.MAILBOX}
    assert used[C[0]].arrived_at == dt.datetime(2020, 8, 18, 9, 31)  # the first of the two messages
    assert used[C[8]].arrived_at == dt.datetime(2020, 8, 24, 9, 1)
    late = c.status[c.status["state"] == "late"]["unit"].tolist()
    assert late == [C[8]]
    assert c.status.set_index("unit").loc[C[7], "state"] == "missing"  # its mail had no workbook


def test_status_sheet_says_received_by_mail_with_the_sender(consolidated, plan):
    from xhht_xl.outputs import STATUS_HEADS, status_rows

    rows = {r[0]: r for r in status_rows(consolidated)}
    col = STATUS_HEADS.index("received-source")
    assert rows[C[8]][col] == T("evidence.mailbox-from", when="09:01 24/08/2020", sender=shown(C[8], plan))
    assert rows[C[0]][col] == T("evidence.mailbox-from", when="09:31 18/08/2020", sender=shown(C[0], plan))


def test_consolidation_lists_the_messages_that_brought_no_workbook(consolidated, plan):
    codes = [i.code for i in consolidated.report]
    assert codes.count("mail-no-attachment") == 1 and codes.count("mail-no-workbook") == 1
    assert codes.count("mail-unparseable") == 1 and codes.count("mail-attachment-refused") == 1
    note = next(i for i in consolidated.report if i.code == "mail-no-attachment")
    assert shown(C[7], plan) in note.message and "15:01 19/08/2020" in note.message


def test_a_given_received_time_still_wins(pulled, plan, tmp_path):
    from xhht_xl.consolidation import consolidate

    name = next(iter(sorted(p.name for p in pulled["out"].glob("*.xlsx"))))
    c = consolidate(pulled["out"], plan, "huyen", DISTRICT, received_at={name: dt.datetime(2020, 8, 30, 8)},
                    as_of=dt.date(2020, 8, 28), store=tmp_path / "xhht_intake")  # fmt: skip
    r = next(r for r in c.received if r.rel == name)
    assert (r.received_source, r.received_at) == (intake.GIVEN, dt.datetime(2020, 8, 30, 8))
    others = {r.received_source for r in c.received if r.rel != name and r.sub is not None}
    assert others == {intake.MAILBOX}


# -- errors: one line, exit 2, nothing written ---------------------------------------------------------


def test_connection_errors_are_one_vietnamese_line_and_write_nothing(dovecot, tmp_path):
    user = dovecot.new_user()
    out = tmp_path / "out"
    closed = _closed_port()
    cases = [
        (["--server", f"{HOST}:{dovecot.port}", "--security", "none"], {"XHHT_MAIL_PASSWORD": "sai"},
         T("mail.login-failed", account=dovecot.account(user).label)),
        (["--server", f"{HOST}:{dovecot.ssl_port}", "--security", "ssl"], {},
         T("mail.certificate", host=HOST, reason="self-signed certificate")),
        (["--server", f"{HOST}:{closed}", "--security", "none"], {},
         T("mail.refused", account=imap.account(f"{HOST}:{closed}", user, "none").label)),
        (["--server", f"{HOST}:{dovecot.port}", "--security", "none", "--mailbox", "Báo cáo"], {},
         T("mail.mailbox-missing", mailbox="Báo cáo", account=dovecot.account(user).label, names="")[:-2]),
        (["--server", "máy chủ/sai", "--security", "none"], {}, T("mail.bad-server", server="máy chủ/sai")),
    ]  # fmt: skip
    ran = run_cli_cases([(["mail", "pull", str(out), "--user", user, *args], env) for args, env, _ in cases])
    for (code, lines), (_args, _env, expected) in zip(ran, cases, strict=True):
        assert code == 2, lines
        assert expected in lines, lines
        assert len(lines.strip().splitlines()) == 1, lines
        assert not out.exists()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]  # closed again when the test connects


def test_tls_with_the_servers_certificate(dovecot, tmp_path, case_set):
    user = dovecot.new_user()
    seed(dovecot, user, case_set["messages"][:1])
    for security in ("ssl", "starttls"):
        acc = dovecot.account(user, security, cafile=str(dovecot.cafile))
        result = imap_pull(tmp_path / security, acc)
        assert len(result.saved) == 1


@pytest.fixture
def own_keyring(monkeypatch):
    """keyring's process-wide backend, restored after the test; no XHHT_MAIL_PASSWORD."""
    import keyring

    monkeypatch.delenv("XHHT_MAIL_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    yield keyring
    keyring.set_keyring(previous)


def test_no_password_anywhere_is_one_line(dovecot, own_keyring):
    from keyring.backends import fail

    own_keyring.set_keyring(fail.Keyring())  # a headless machine: no keyring at all
    acc = dovecot.account("ai_do")
    with pytest.raises(imap.MailError) as err:
        imap.password(acc, interactive=False)
    assert str(err.value) == T("mail.no-password", account=acc.label, variable="XHHT_MAIL_PASSWORD", server=HOST,
                               user="ai_do")  # fmt: skip
    assert imap.password(acc, interactive=True, prompt=lambda _p: "tu-ban-phim") == "tu-ban-phim"
    with pytest.raises(imap.MailError):
        imap.save_password(acc, "x")  # one Vietnamese line, not keyring's English error


class MemoryKeyring:
    """A keyring backend kept in memory (keyring's own backend API), for machines without one."""

    def __init__(self):
        from keyring.backend import KeyringBackend

        store: dict = {}

        class _Memory(KeyringBackend):
            priority = 1

            def get_password(self, service, username):
                return store.get((service, username))

            def set_password(self, service, username, password):
                store[(service, username)] = password

            def delete_password(self, service, username):
                store.pop((service, username), None)

        self.backend = _Memory()
        self.store = store


def test_password_from_the_keyring(dovecot, tmp_path, monkeypatch, case_set, own_keyring):
    memory = MemoryKeyring()
    own_keyring.set_keyring(memory.backend)
    user = dovecot.new_user()
    acc = dovecot.account(user)
    monkeypatch.setattr("getpass.getpass", lambda _prompt: PASSWORD)
    assert cli.main(["mail", "password", "--server", f"{HOST}:{dovecot.port}", "--user", user,
                     "--security", "none"]) == 0  # fmt: skip
    assert memory.store == {(imap.KEYRING_SERVICE.format(host=HOST), user): PASSWORD}
    assert imap.password(acc, interactive=False) == PASSWORD
    seed(dovecot, user, case_set["messages"][:1])
    assert cli.main(["mail", "pull", str(tmp_path), "--server", f"{HOST}:{dovecot.port}", "--user", user,
                     "--security", "none"]) == 0  # fmt: skip
    assert len(list(tmp_path.glob("*.xlsx"))) == 1


# -- reply drafts -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result_json(pulled, tmp_path_factory):
    out = tmp_path_factory.mktemp("result")
    code, lines = run_here(["consolidate", str(pulled["out"]), "--level", "huyen", "--unit", DISTRICT,
                            "-o", str(out / "794_tong_hop.xlsx"), "--json", str(out / "794.json"),
                            "--as-of", "28/08/2020"])  # fmt: skip
    assert code == 1, lines
    return out / "794.json"


def test_drafts_reply_to_the_senders_of_files_with_errors(dovecot, pulled, result_json, plan):
    user = pulled["user"]
    inbox = state(dovecot, user)
    args = ["mail", "drafts", str(result_json), "--server", f"{HOST}:{dovecot.port}", "--user", user,
            "--security", "none", "--from", OFFICE]  # fmt: skip
    code, lines = run_cli(args)
    assert code == 0, lines
    c = dovecot.client(user)
    try:
        c.select_folder("Drafts", readonly=True)
        uids = c.search(["ALL"])
        got = c.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
    finally:
        c.logout()
    drafts = [email.message_from_bytes(got[u][b"BODY[]"], policy=email.policy.default) for u in uids]
    assert all(b"\\Draft" in got[u][b"FLAGS"] for u in uids)
    by_reply = {d["In-Reply-To"]: d for d in drafts}
    # the two communes whose files have errors, each answered in its own thread; clean files get none
    assert sorted(by_reply) == ["<m2@gmail.com>", "<m9@longan.gov.vn>"] and len(drafts) == 2
    d = by_reply["<m2@gmail.com>"]
    assert d["To"] == shown(C[1], plan) and d["Subject"] == "Re: Gửi báo cáo tổng kết"
    assert d["References"] == "<m2@gmail.com>" and d["From"] == OFFICE
    body = d.get_body(("plain",)).get_content()
    assert T("mail.draft-greeting", unit=C[1], name=plan.units[C[1]].name) in body
    numbered = [line for line in body.splitlines() if line[:1].isdigit()]
    assert numbered and numbered[0].startswith(f"1. [{T('out.severity-error')}] ")
    assert "num" not in numbered[0] and " ô " in numbered[0]  # a Vietnamese line naming the cell
    attachments = list(d.iter_attachments())
    assert len(attachments) == 1
    copy = attachments[0]  # named after the sender's own file, not the stored name
    assert copy.get_filename() == f"BC tổng kết {plan.units[C[1]].name}_tra_lai.xlsx"
    from xhht_xl.read import output_marks

    marks = output_marks(copy.get_content())
    assert marks["xhht_output"] == "returned"
    assert marks["xhht_source"] == hashlib.sha256(pulled["books"][C[1]]).hexdigest()
    assert state(dovecot, user) == inbox  # the INBOX is untouched
    code, again = run_here(args)  # a rerun adds no second draft
    assert code == 0, again
    assert T("mail.drafts-done", added=0, present=2, account=dovecot.account(user).label, mailbox="Drafts") in again


def test_drafts_as_eml_files(pulled, result_json, tmp_path, plan):
    code, lines = run_here(["mail", "drafts", str(result_json), "--eml", str(tmp_path), "--from", OFFICE])
    assert code == 0, lines
    files = sorted(tmp_path.glob("*.eml"))
    assert files
    d = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert d["In-Reply-To"] and d["X-Xhht-Source"] and list(d.iter_attachments())
    assert json.loads(result_json.read_text())["folder"] == str(pulled["out"].resolve())


# -- reading mail without a server ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["2231", "2231-split", "2047", "2047-bare", "8bit", "nfd"])
def test_vietnamese_names_in_every_form(form):
    name = "Báo cáo tổng kết Xã Bình Tâm (27712) - bản sửa lần 2.xlsx"
    raw = message("a@b.vn", "x", at(1, 8), [named(b"PK\x03\x04rest", name, form)], msgid=f"{form}@t")
    letter = mime.read_letter(raw)
    assert [f.name for f in letter.workbooks] == [name]


def test_a_latin1_label_on_utf8_bytes_and_raw_windows_1258_are_read():
    for disp in (b"Content-Disposition: attachment; filename*=iso-8859-1''B%C3%A1o%20c%C3%A1o.xlsx",
                 b'Content-Disposition: attachment; filename="B\xe1o c\xe1o.xlsx"'):  # fmt: skip
        raw = message("a@b.vn", "x", at(1, 8), [part(b"PK\x03\x04", disp)], msgid="l@t")
        assert [f.name for f in mime.read_letter(raw).workbooks] == ["Báo cáo.xlsx"]


def test_zip_limits_and_encrypted_members(plan, tmp_path):
    good = workbook(plan, tmp_path, "27712")
    many = zipped([(f"{i}.txt", b"x") for i in range(2100)], utf8_flag=True)
    letter = mime.read_letter(message("a@b.vn", "x", at(1, 8), [named(many, "nhieu.zip")], msgid="z@t"))
    assert [p.code for p in letter.problems] == ["mail-attachment-refused"] and not letter.workbooks
    enc = bytearray(zipped([("a.xlsx", good)], utf8_flag=True))
    enc[6] |= 1  # the local header's encryption flag
    cd = enc.rfind(b"PK\x01\x02")
    enc[cd + 8] |= 1  # and the central directory's
    letter = mime.read_letter(message("a@b.vn", "x", at(1, 8), [named(bytes(enc), "mat_khau.zip")], msgid="e@t"))
    assert not letter.workbooks and letter.problems[0].values["reason"].startswith("Tệp mat_khau.zip")
    nested = zipped([("trong.zip", zipped([("Xã Bình Tâm.xlsx", good)], utf8_flag=True))], utf8_flag=True)
    letter = mime.read_letter(message("a@b.vn", "x", at(1, 8), [named(nested, "ngoai.zip")], msgid="n@t"))
    assert [(f.name, f.via, f.kind) for f in letter.workbooks] == [("Xã Bình Tâm.xlsx", ("ngoai.zip", "trong.zip"),
                                                                     "xlsx")]  # fmt: skip


def test_a_damaged_winmail_dat_is_a_problem_not_a_crash():
    raw = message("a@b.vn", "x", at(1, 8), [part(b"\x78\x9f\x3e\x22\x01\x00\x01\x06\x90\x08\x00\xff\xff\xff",
                                                  b'Content-Disposition: attachment; filename="winmail.dat"',
                                                  b"application/ms-tnef")], msgid="t@t")  # fmt: skip
    letter = mime.read_letter(raw)
    assert not letter.workbooks


def test_a_workbook_as_octet_stream_without_a_suffix_is_found(plan, tmp_path):
    good = workbook(plan, tmp_path, "27712")
    raw = message("a@b.vn", "x", at(1, 8), [named(good, "baocao", "2231")], msgid="o@t")
    letter = mime.read_letter(raw)
    assert [(f.name, f.kind) for f in letter.workbooks] == [("baocao", "xlsx")]
    assert stored_name("baocao", "xlsx", "ab" * 32) == "baocao_abababab.xlsx"


@pytest.mark.parametrize(
    "original",
    ["../../etc/passwd.xlsx", "..\\..\\Windows\\x.xlsx", "CON.xlsx", "~$bao cao.xlsx", ".an.xlsx", "a\x00b\x1b[2J.xls",
     "x" * 300 + ".xlsx", "Tỉnh" * 40 + ".ods", "  .xlsx", "a:b*c?.xlsm", "bảng.exe"],
)
def test_stored_names_are_safe(original):
    sha = hashlib.sha256(original.encode()).hexdigest()
    name = stored_name(original, "xlsx", sha)
    assert "/" not in name and "\\" not in name and not name.startswith((".", "~"))
    assert name.isprintable() and len(name) <= 80 and not intake.is_junk(name)
    assert name.rsplit(".", 1)[1] in ("xlsx", "xls", "xlsm", "ods")
    assert name.split(".")[0].upper() not in ("CON", "PRN", "AUX", "NUL")
    assert sha[:8] in name


# -- the demo, delivered by mail ----------------------------------------------------------------------------


def _deliver(dovecot, plan, c, folder: Path) -> None:
    """Every file consolidation ``c`` read, sent as one message whose INTERNALDATE is the file's
    planted received time, then pulled into ``folder`` (the files' own times then say nothing)."""
    sent = sorted((r for r in c.received if not r.skipped), key=lambda r: (r.received_at, r.rel))
    user = dovecot.new_user()
    mails = []
    for i, r in enumerate(sent):
        unit = plan.unit(r.unit)
        who = (unit.name if unit else "Đơn vị", f"bc{r.unit or i}@longan.gov.vn")
        arrived = r.received_at.replace(tzinfo=VN)
        raw = message(who, f"Báo cáo tổng kết XHHT - {who[0]}", arrived - dt.timedelta(minutes=3),
                      [named((c.folder / r.rel).read_bytes(), Path(r.rel).name, "2047")], msgid=f"d{i}@longan.gov.vn")
        mails.append((raw, arrived, []))
    seed(dovecot, user, mails)
    result = imap_pull(folder, dovecot.account(user))
    assert len(result.messages) == len(sent)
    for path in folder.glob("*.*"):
        os.utime(path, (dt.datetime(2020, 9, 4, 8, 0).timestamp(),) * 2)


def _states(c) -> dict:
    return {row.unit: (row.state, row.received_at, row.days_late) for row in c.status.itertuples()}


def test_demo_by_mail_finds_the_late_units_from_the_servers_times_alone(dovecot, demo_run, plan, tmp_path):
    """The demo's files as they arrive by mail: a district's communes' reports (some late) and
    what the province receives, each message's INTERNALDATE its planted received time; pulled and
    consolidated with no received-at file, the same units are late, on time or missing."""
    from xhht_xl import demo
    from xhht_xl.consolidation import consolidate

    code, d = max(demo_run.districts.items(), key=lambda kv: (kv[1].status["state"] == "late").sum())
    assert (d.status["state"] == "late").any()
    _deliver(dovecot, plan, d, tmp_path / "huyen")
    own = next(demo_run.folder / "nhan" / f.path for f in demo_run.manifest.files if f.level == "huyen" and
               f.unit == code)  # fmt: skip
    c = consolidate(tmp_path / "huyen", plan, "huyen", code, into=own, as_of=demo.DISTRICT_AS_OF, now=demo.NOW,
                    store=tmp_path / "store_huyen")  # fmt: skip
    assert _states(c) == _states(d)
    assert {r.received_source for r in c.chosen.values()} == {intake.MAILBOX}

    p = demo_run.province
    _deliver(dovecot, plan, p, tmp_path / "tinh")
    own = next(demo_run.folder / "nhan" / f.path for f in demo_run.manifest.files if f.level == "tinh")
    c = consolidate(tmp_path / "tinh", plan, "tinh", plan.province.code, into=own, as_of=demo.PROVINCE_AS_OF,
                    now=demo.NOW, store=tmp_path / "store_tinh")  # fmt: skip
    assert _states(c) == _states(p)
    assert {r.received_source for r in c.chosen.values()} == {intake.MAILBOX}


# -- the ribbon's Lấy báo cáo with the configured mailbox ------------------------------------------------------


@pytest.fixture
def district_book(plan, tmp_path):
    from xhht_xl import templates

    path = tmp_path / "794_bao_cao_huyen.xlsx"
    templates.build_workbook(plan, "huyen", unit=plan.unit(DISTRICT)).save(path)
    return path


def test_ribbon_pulls_the_configured_mailbox_then_reads_the_folder(dovecot, district_book, tmp_path, monkeypatch,
                                                                   case_set, own_keyring, plan):  # fmt: skip
    from xhht_xl.excel import ribbon
    from xhht_xl.excel.book import OpenpyxlBook

    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    memory = MemoryKeyring()
    own_keyring.set_keyring(memory.backend)
    user = dovecot.new_user()
    imap.save_password(dovecot.account(user), PASSWORD)  # as `xhht mail password` leaves it
    seed(dovecot, user, case_set["messages"][:3])
    settings = {"MAIL_SERVER": f"{HOST}:{dovecot.port}", "MAIL_USER": user, "MAIL_SECURITY": "none"}
    folder = tmp_path / "thu"
    folder.mkdir()
    book = OpenpyxlBook(district_book, folders={"received": folder}, settings=settings, answers=[True])
    assert ribbon.dispatch("lay_bao_cao", book), book.errors
    assert book.questions == [T("mail.ribbon-source", account=dovecot.account(user).label)]
    assert len(list(folder.glob("*.xlsx"))) == 3
    ws = openpyxl_sheet(district_book, T("out.sheet-status"))
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value]
    assert T("evidence.mailbox-from", when="09:31 18/08/2020", sender=shown(C[0], plan)) in texts

    cancelled = OpenpyxlBook(district_book, folders={"received": tmp_path / "khac"}, settings=settings,
                             answers=[None])  # fmt: skip
    assert not ribbon.dispatch("lay_bao_cao", cancelled)
    assert not (tmp_path / "khac").exists()


def test_ribbon_without_a_password_is_one_line(dovecot, district_book, tmp_path, monkeypatch, own_keyring):
    from keyring.backends import fail

    from xhht_xl.excel import ribbon
    from xhht_xl.excel.book import OpenpyxlBook

    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "appdata"))
    own_keyring.set_keyring(fail.Keyring())
    folder = tmp_path / "thu"
    folder.mkdir()
    settings = {"MAIL_SERVER": f"{HOST}:{dovecot.port}", "MAIL_USER": "khong_co", "MAIL_SECURITY": "none"}
    book = OpenpyxlBook(district_book, folders={"received": folder}, settings=settings, answers=[True])
    assert not ribbon.dispatch("lay_bao_cao", book)
    acc = dovecot.account("khong_co")
    assert book.errors == [T("mail.no-password", account=acc.label, variable="XHHT_MAIL_PASSWORD", server=HOST,
                             user="khong_co")]  # fmt: skip
    assert list(folder.iterdir()) == []


def openpyxl_sheet(path: Path, name: str):
    import openpyxl

    return openpyxl.load_workbook(path)[name]
