"""A real IMAP server for the tests: Dovecot, private to one test session.

Started from a configuration written into a temporary folder (its own base_dir, state_dir and log;
loopback ports only; no system service, nothing installed or created system-wide). Run as root
(CI, the developers' machines), its login processes run as Debian's ``dovenull`` and ``dovecot``
users and mail is stored as ``nobody`` (a uid >= first_valid_uid); run as another user, every
process runs as that user. Any user name logs in with :data:`PASSWORD` (a static passdb), so each
test takes a fresh user: a fresh, empty mailbox. TLS (implicit on one port, STARTTLS on the
other) uses a throwaway self-signed certificate for 127.0.0.1 made with ``openssl``.

Readiness is waited for by reading the server's greeting on both ports; ports are chosen free
and the start is retried on a port clash; the server is stopped (its own process, by pid) and
its folder removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

HOST = "127.0.0.1"
PASSWORD = 'Tong-ket"2020\\ok'  # a quote and a backslash: the client must quote it right
SOCKET_TIMEOUT = 20.0
START_TRIES = 5
READY_WITHIN = 60.0  # seconds to wait for the greeting before giving up (a bound, not a measurement)


def dovecot_binary() -> str | None:
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class DovecotError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Dovecot:
    """One private Dovecot: ``port`` (plain, STARTTLS offered), ``ssl_port`` (implicit TLS),
    ``cafile`` (the certificate a client must trust)."""

    def __init__(self, binary: str):
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="xhht-dovecot-"))
        os.chmod(self.root, 0o755)  # the mail processes (another uid) walk through it
        self.proc: subprocess.Popen | None = None
        self.port = self.ssl_port = 0
        self.cafile = self.root / "cert.pem"
        self.tls = False

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> Dovecot:
        self.tls = self._certificate()
        last = ""
        for _ in range(START_TRIES):
            self.port, self.ssl_port = _free_port(), _free_port()
            if self.port == self.ssl_port:
                continue
            self._write_config()
            log = self.root / "dovecot.log"
            if log.exists():
                log.unlink()
            out = open(self.root / "stdout.txt", "wb")
            self.proc = subprocess.Popen([self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            out.close()
            if self._wait_ready():
                return self
            last = self._logs()
            self._terminate()
            if "in use" not in last:  # not a port clash: retrying will not help
                break
        raise DovecotError(f"Dovecot did not start:\n{last}")

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def _terminate(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_WITHIN
        ports = [self.port] + ([self.ssl_port] if self.tls else [])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if all(self._greets(p, p == self.ssl_port) for p in ports):
                return True
            time.sleep(0.05)
        return False

    def _greets(self, port: int, tls: bool) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=2) as sock:
                if tls:
                    ctx = ssl.create_default_context(cafile=str(self.cafile))
                    with ctx.wrap_socket(sock, server_hostname=HOST) as s:
                        return s.recv(64).startswith(b"* OK")
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _logs(self) -> str:
        parts = []
        for name in ("stdout.txt", "dovecot.log"):
            with contextlib.suppress(OSError):
                parts.append((self.root / name).read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def _certificate(self) -> bool:
        openssl = shutil.which("openssl")
        if openssl is None:
            return False
        key = self.root / "key.pem"
        done = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
             str(self.cafile), "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"],
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0:
            return False
        os.chmod(key, 0o600)
        return True

    def _write_config(self) -> None:
        root = self.root
        for d in ("run", "state", "home"):
            (root / d).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            mail = pwd.getpwnam("nobody") if _has_user("nobody") else None
            uid, gid = (mail.pw_uid, mail.pw_gid) if mail else (65534, 65534)
            os.chown(root / "home", uid, gid)
            users = "default_login_user = dovenull\ndefault_internal_user = dovecot\nfirst_valid_uid = 500\n"
            chroot = ""
        else:  # everything as this user (Dovecot's "rootless" setup)
            me = pwd.getpwuid(os.getuid())
            uid, gid = me.pw_uid, me.pw_gid
            users = (f"default_login_user = {me.pw_name}\ndefault_internal_user = {me.pw_name}\n"
                     f"first_valid_uid = {uid}\nfirst_valid_gid = {gid}\n")  # fmt: skip
            chroot = "  chroot =\n"
        ssl_part = (
            f"ssl = yes\nssl_cert = <{self.cafile}\nssl_key = <{root / 'key.pem'}\n"
            if self.tls
            else "ssl = no\n"
        )
        imaps = (f"  inet_listener imaps {{\n    address = {HOST}\n    port = {self.ssl_port}\n    ssl = yes\n  }}\n"
                 if self.tls else "  inet_listener imaps {\n    port = 0\n  }\n")  # fmt: skip
        (root / "dovecot.conf").write_text(
            f"""base_dir = {root / "run"}
state_dir = {root / "state"}
instance_name = xhht-test-{uuid.uuid4().hex[:8]}
protocols = imap
listen = {HOST}
log_path = {root / "dovecot.log"}
{users}{ssl_part}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root / "home"}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
{imaps}}}
service anvil {{
{chroot}  # no authentication penalty (Dovecot's doubling delay per IP after a failed login): a test
  # that fails a login on purpose would slow every later login from 127.0.0.1 by 2-15 s
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        )

    # -- for tests -----------------------------------------------------------------------------------

    def client(self, user: str):
        """A plain IMAP session as ``user`` (seeding and checking the mailbox)."""
        from imapclient import IMAPClient

        c = IMAPClient(HOST, self.port, ssl=False, timeout=SOCKET_TIMEOUT)
        c.login(user, PASSWORD)
        c.normalise_times = False
        return c

    def account(self, user: str, security: str = "none", **kw):
        from xhht_xl.mail import account

        port = self.ssl_port if security == "ssl" else self.port
        return account(f"{HOST}:{port}", user, security, timeout=SOCKET_TIMEOUT, **kw)

    def new_user(self) -> str:
        return f"u{uuid.uuid4().hex[:12]}"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def seed(server: Dovecot, user: str, messages, mailbox: str = "INBOX") -> None:
    """APPEND ``(raw bytes, INTERNALDATE, flags)`` messages, in order."""
    c = server.client(user)
    try:
        for raw, when, flags in messages:
            c.append(mailbox, raw, flags=flags, msg_time=when)
    finally:
        c.logout()


def state(server: Dovecot, user: str, mailbox: str = "INBOX") -> tuple:
    """What a pull must not change, read with EXAMINE (which changes nothing, not even \\Recent):
    the message count, UIDVALIDITY, UIDNEXT, and every message's UID, flags and INTERNALDATE."""
    c = server.client(user)
    try:
        info = c.select_folder(mailbox, readonly=True)
        uids = c.search(["ALL"])
        data = c.fetch(uids, ["FLAGS", "INTERNALDATE"]) if uids else {}
        rows = [(u, tuple(sorted(data[u][b"FLAGS"])), data[u][b"INTERNALDATE"]) for u in sorted(data)]
        return info[b"EXISTS"], info[b"UIDVALIDITY"], info[b"UIDNEXT"], rows
    finally:
        c.logout()


# -- Outlook's winmail.dat (TNEF, MS-OXTNEF), written here so tnefparse reads an independent file --


def _attr(level: int, ident: int, data: bytes) -> bytes:
    import struct

    return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef(files: list[tuple[str, bytes]], codepage: int = 1258) -> bytes:
    """A winmail.dat carrying ``files`` as Outlook writes them: attTnefVersion, attOemCodepage,
    attMessageClass, then per file attAttachRendData, attAttachTitle (8-bit name in the code page),
    attAttachData and attAttachment with PR_ATTACH_LONG_FILENAME (PT_UNICODE)."""
    import struct

    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += _attr(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion (dword)
    out += _attr(1, 0x00069007, struct.pack("<II", codepage, 0))  # attOemCodepage (byte)
    out += _attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\x00")  # attMessageClass (word)
    for name, data in files:
        out += _attr(2, 0x00069002, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))  # attAttachRendData
        short = _short(name, codepage) + b"\x00"
        out += _attr(2, 0x00018010, short)  # attAttachTitle (string)
        out += _attr(2, 0x0006800F, data)  # attAttachData (byte)
        long_name = name.encode("utf-16-le") + b"\x00\x00"
        padded = long_name + b"\x00" * (-len(long_name) % 4)
        props = struct.pack("<I", 1) + struct.pack("<HHII", 0x001F, 0x3707, 1, len(long_name)) + padded
        out += _attr(2, 0x00069005, props)  # attAttachment: PR_ATTACH_LONG_FILENAME
    return out


def _short(name: str, codepage: int) -> bytes:
    """The 8-bit name Outlook writes beside the Unicode one: code page 1258 keeps the tone marks
    as combining characters after precomposed base letters."""
    import unicodedata

    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = []
    for ch in name:
        d = unicodedata.normalize("NFD", ch)
        out.append(unicodedata.normalize("NFC", "".join(c for c in d if c not in tones)) + "".join(
            c for c in d if c in tones))  # fmt: skip
    return "".join(out).encode(f"cp{codepage}", errors="replace")
