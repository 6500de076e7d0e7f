"""The official mailbox: where it is, the password, and an IMAP session that fails in one line.

IMAP through ``imapclient`` (a well-kept client over the standard library's ``imaplib``: it parses
FETCH responses, INTERNALDATE, BODYSTRUCTURE and modified UTF-7 mailbox names, which ``imaplib``
leaves to its caller). TLS uses the system's certificate store (``ssl.create_default_context``,
which also honours ``SSL_CERT_FILE``), or a PEM file given with ``cafile``.

The password never comes from the command line: the environment variable
:data:`PASSWORD_VARIABLE`, else the system keyring (``keyring``: Windows Credential Manager,
macOS Keychain, Secret Service), else a prompt on a terminal. It is never written anywhere
by this package.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import messages
from ..cleaning import for_terminal

T = messages.text
SECURITY = ("ssl", "starttls", "none")
PORTS = {"ssl": 993, "starttls": 143, "none": 143}  # RFC 8314 (implicit TLS), RFC 9051
PASSWORD_VARIABLE = "XHHT_MAIL_PASSWORD"
KEYRING_SERVICE = "xhht_xl imap {host}"  # one keyring entry per server, the user name as its user
TIMEOUT = 60.0  # seconds for connecting and for each read: a dead server never hangs a clerk's Excel


class MailError(Exception):
    """The mailbox cannot be used; ``str()`` is one Vietnamese line (wrong password, server
    unreachable, certificate, mailbox missing…). Nothing has been half-written when it is raised."""


@dataclass(frozen=True)
class Account:
    """An IMAP account: ``host``, ``port``, ``user`` and ``security`` (``ssl``: implicit TLS,
    RFC 8314; ``starttls``: RFC 3501 6.2.1; ``none``: plain text, for a server on the same
    machine or network only). ``cafile``: a PEM file of certificates to trust instead of the
    system's (a province's own mail server with its own certificate authority)."""

    host: str
    port: int
    user: str
    security: str = "ssl"
    cafile: str | None = None
    timeout: float = TIMEOUT

    @property
    def key(self) -> str:
        """How the ledger names this account (no secret in it)."""
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def label(self) -> str:
        return T("mail.account", user=self.user, host=self.host, port=self.port)


def account(server: str, user: str, security: str = "ssl", cafile: str | None = None,
            timeout: float = TIMEOUT) -> Account:  # fmt: skip
    """An :class:`Account` from ``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` (the port defaults to
    993 for ``ssl``, 143 otherwise). Raises :class:`MailError` for a malformed server or user."""
    server = server.strip()
    if security not in SECURITY:
        raise MailError(T("mail.bad-security", value=for_terminal(security), allowed=", ".join(SECURITY)))
    host, port = server, PORTS[security]
    if server.startswith("["):
        end = server.find("]")
        host, rest = server[1:end], server[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and not rest.startswith(":")):
            raise MailError(T("mail.bad-server", server=for_terminal(server)))
        if rest:
            port = _port(rest[1:], server)
    elif server.count(":") == 1:
        host, text = server.split(":")
        port = _port(text, server)
    if not host or any(ch.isspace() or ch in "/@" for ch in host):
        raise MailError(T("mail.bad-server", server=for_terminal(server)))
    if not user.strip() or any(ch in "\r\n\x00" for ch in user):
        raise MailError(T("mail.bad-user"))
    if cafile is not None and not os.path.isfile(cafile):
        raise MailError(T("mail.cafile-missing", file=for_terminal(str(cafile))))
    return Account(host, port, user.strip(), security, cafile, timeout)


def _port(text: str, server: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise MailError(T("mail.bad-server", server=for_terminal(server)))
    return int(text)


# -- the password ----------------------------------------------------------------------------------


def password(acc: Account, *, prompt: Callable[[str], str] | None = None, interactive: bool | None = None) -> str:
    """The account's password: :data:`PASSWORD_VARIABLE`, else the keyring entry saved by
    :func:`save_password`, else asked on the terminal (``prompt``, default ``getpass``; only when
    ``interactive``, default: standard input is a terminal). Raises :class:`MailError` when
    there is none."""
    secret = os.environ.get(PASSWORD_VARIABLE)
    if secret:
        return secret
    secret = _from_keyring(acc)
    if secret:
        return secret
    interactive = sys.stdin is not None and sys.stdin.isatty() if interactive is None else interactive
    if interactive:
        try:
            secret = (prompt or getpass.getpass)(T("mail.password-prompt", account=acc.label))
        except (EOFError, KeyboardInterrupt):
            secret = ""
        if secret:
            return secret
    raise MailError(T("mail.no-password", account=acc.label, variable=PASSWORD_VARIABLE,
                      server=acc.host, user=acc.user))  # fmt: skip


def _from_keyring(acc: Account) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - a dependency of the package
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE.format(host=acc.host), acc.user)
    except (KeyringError, RuntimeError, OSError):  # no keyring on this machine, or it is locked
        return None


def save_password(acc: Account, secret: str) -> str:
    """Keep the password in the system keyring for this server and user; returns the keyring's
    name. Raises :class:`MailError` when this machine has no usable keyring."""
    try:
        import keyring
        from keyring.errors import KeyringError

        backend = keyring.get_keyring()
        keyring.set_password(KEYRING_SERVICE.format(host=acc.host), acc.user, secret)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise MailError(T("mail.keyring-failed", reason=for_terminal(str(exc))[:160] or type(exc).__name__,
                          variable=PASSWORD_VARIABLE)) from None  # fmt: skip
    return getattr(backend, "name", type(backend).__name__)


# -- the session -------------------------------------------------------------------------------------


@contextlib.contextmanager
def session(acc: Account, secret: str) -> Iterator:
    """A logged-in ``imapclient.IMAPClient`` (logged out at the end). Every failure, while
    connecting or later, is a :class:`MailError` with one Vietnamese line."""
    from imapclient import IMAPClient

    with errors(acc):
        context = ssl.create_default_context(cafile=acc.cafile) if acc.security != "none" else None
        client = IMAPClient(acc.host, acc.port, ssl=acc.security == "ssl", ssl_context=context,
                            timeout=acc.timeout)  # fmt: skip
        try:
            if acc.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise MailError(T("mail.no-starttls", account=acc.label))
                client.starttls(context)
            client.login(acc.user, secret)
            client.normalise_times = False  # INTERNALDATE with its zone: converted to Vietnam time here
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()


@contextlib.contextmanager
def errors(acc: Account) -> Iterator[None]:
    """Network, TLS and IMAP failures as :class:`MailError` (one Vietnamese line each)."""
    from imapclient import exceptions as imap_errors

    try:
        yield
    except MailError:
        raise
    except imap_errors.LoginError:
        raise MailError(T("mail.login-failed", account=acc.label)) from None
    except ssl.SSLCertVerificationError as exc:
        reason = for_terminal(exc.verify_message or str(exc))[:160]
        raise MailError(T("mail.certificate", host=acc.host, reason=reason)) from None
    except ssl.SSLError as exc:
        raise MailError(T("mail.tls-failed", account=acc.label, reason=for_terminal(str(exc))[:160])) from None
    except socket.gaierror:
        raise MailError(T("mail.unknown-host", host=acc.host)) from None
    except TimeoutError:
        raise MailError(T("mail.timeout", account=acc.label, seconds=f"{acc.timeout:g}")) from None
    except ConnectionRefusedError:
        raise MailError(T("mail.refused", account=acc.label)) from None
    except (ConnectionError, imap_errors.IMAPClientAbortError, EOFError):
        raise MailError(T("mail.connection-lost", account=acc.label)) from None
    except imap_errors.IMAPClientError as exc:
        raise MailError(T("mail.server-said", account=acc.label, text=_server_text(exc))) from None
    except OSError as exc:
        raise MailError(T("mail.unreachable", account=acc.label, reason=for_terminal(str(exc))[:160])) from None


def _server_text(exc: Exception) -> str:
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return for_terminal(str(text))[:200]


def require_mailbox(client, acc: Account, mailbox: str) -> None:
    """Raise :class:`MailError` naming the mailboxes there are when ``mailbox`` is not one."""
    if client.folder_exists(mailbox):
        return
    names = [for_terminal(str(name)) for _flags, _sep, name in client.list_folders()]
    raise MailError(T("mail.mailbox-missing", mailbox=for_terminal(mailbox), account=acc.label,
                      names=", ".join(names[:20]) or "—"))  # fmt: skip
