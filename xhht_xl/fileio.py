"""Writing outputs safely: a temp file in the target folder, then an atomic rename; several
outputs of one run as one set (all replaced, or none); marks that tell this tool's own outputs.

Every file-system failure becomes :class:`OutputError` with one Vietnamese line (disk full,
no permission, file open in Excel...), never an English errno text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from . import messages

# Custom document properties stamped on workbooks this tool writes (read back by read.Book).
OUTPUT_KINDS = ("consolidated", "returned", "award-list")
_TEMP = ".~xhht-"  # temporary files beside their target (intake skips names starting ".~")


class OutputError(Exception):
    """An output cannot be written; the previous file, if any, is left intact."""


def os_reason(exc: OSError) -> str:
    """The Vietnamese reason of a file-system error (``io.errno-*``), for one-line messages."""
    key = {
        errno.ENOSPC: "full",
        getattr(errno, "EDQUOT", -1): "full",
        errno.EACCES: "denied",
        errno.EPERM: "denied",
        errno.EROFS: "read-only",
        errno.ENOENT: "missing",
        errno.ENOTDIR: "missing",
        errno.EISDIR: "is-folder",
        errno.ENAMETOOLONG: "too-long",
        errno.EBUSY: "busy",
    }.get(exc.errno or 0, "other")
    return messages.text(f"io.errno-{key}", code=exc.errno or "?")


def _error(target: Path, exc: OSError) -> OutputError:
    if isinstance(exc, PermissionError) and target.exists() and not target.is_dir():
        return OutputError(messages.text("io.locked", file=target))
    return OutputError(messages.text("io.cannot-write", file=target, reason=os_reason(exc)))


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.
    A ``target`` that is already a temporary path of an :func:`output_set` is written directly
    (the set replaces it with the others)."""
    if Path(target).name.startswith(_TEMP):
        yield Path(target)
        return
    with output_set() as stage:
        yield stage(target)


@contextlib.contextmanager
def output_set() -> Iterator[Callable[[str | Path], Path]]:
    """Write several outputs as one set: ``stage(target)`` gives a temporary path beside each
    target; when the block ends without error every target is replaced, and if one replacement
    fails those already made are rolled back, so the set stays the old one or becomes the new
    one. Raises :class:`OutputError` (one Vietnamese line); temporary files never remain."""
    staged: list[tuple[Path, Path]] = []

    def stage(target: str | Path) -> Path:
        target = Path(target)
        if target.is_dir():
            reason = messages.text("io.errno-is-folder")
            raise OutputError(messages.text("io.cannot-write", file=target, reason=reason))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TEMP, suffix=target.suffix, dir=target.parent)
            os.close(fd)
        except OSError as exc:
            raise _error(target, exc) from None
        staged.append((target, Path(tmp)))
        return Path(tmp)

    backups: list[tuple[Path, Path | None]] = []
    try:
        try:
            yield stage
        except OSError as exc:  # a writer failed while writing its temporary file (disk full...)
            raise _error(staged[-1][0] if staged else Path("."), exc) from None
        for target, tmp in staged:
            try:
                os.chmod(tmp, 0o666 & ~_umask())
                backup = None
                if target.exists():
                    fd, name = tempfile.mkstemp(prefix=".~xhht-old-", dir=target.parent)
                    os.close(fd)
                    backup = Path(name)
                    os.replace(target, backup)
                backups.append((target, backup))
                os.replace(tmp, target)
            except OSError as exc:
                _roll_back(backups)
                backups = []
                raise _error(target, exc) from None
        for _target, backup in backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
    finally:
        for _target, tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _roll_back(backups: list[tuple[Path, Path | None]]) -> None:
    for target, backup in reversed(backups):
        with contextlib.suppress(OSError):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def mark_output(
    wb, kind: str, *, unit: str = "", level: str = "", source: str = "", values: str = ""
) -> None:
    """Stamp an openpyxl workbook as this tool's ``kind`` of output (for ``unit`` at ``level``,
    made from the file whose SHA-256 is ``source``, holding data whose ``Submission.fingerprint``
    is ``values``), so intake recognises it wherever it is found later."""
    from openpyxl.packaging.custom import StringProperty

    assert kind in OUTPUT_KINDS, kind
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    marks = {"xhht_output": kind, "xhht_unit": unit, "xhht_level": level, "xhht_source": source,
             "xhht_values": values, "xhht_written": now.isoformat()}  # fmt: skip
    for name, value in marks.items():
        if value:
            wb.custom_doc_props.append(StringProperty(name=name, value=value))
    wb.properties.created = now


def save_workbook(wb, target: str | Path) -> Path:
    """Save an openpyxl workbook atomically.

    A workbook the project built (``xlsxrules.own``) gets the known results of its formulas cached
    and is checked against Excel's structural rules on the written XML before it replaces ``target``.
    """
    data = workbook_bytes(wb, target)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def workbook_bytes(wb, target: str | Path) -> bytes:
    """The bytes :func:`save_workbook` writes for ``wb``, made in one pass (``xlsxcopy.workbook_bytes``):
    what :func:`finished_bytes` makes of openpyxl's own save, without zipping the package twice.
    Raises ``OutputError`` naming ``target`` when the workbook breaks one of Excel's rules."""
    from . import xlsxcopy, xlsxrules  # openpyxl is loaded whenever there is a workbook to save

    owned = xlsxrules.owned(wb)
    rows = xlsxcopy.pending_rows(wb)
    cached = xlsxrules.cached_values(wb) if owned else {}

    def edit(ws, xml: bytes) -> bytes:
        if ws.title in rows:
            xml = xlsxcopy.with_rows(xml, rows[ws.title], wb.epoch, wb._cell_styles.add)
        if ws.title in cached:
            xml = xlsxrules.with_cached(xml, cached[ws.title])
        return xml

    keep = (lambda name: name.startswith("xl/")) if owned else (lambda _name: False)
    data, parts = xlsxcopy.workbook_bytes(wb, edit, keep=keep)
    found = xlsxrules.package_problems(parts.get, cells=False) if owned else []
    if found:
        raise OutputError(messages.text("io.broken-workbook", file=target, problem=found[0]))
    return data


def finished_bytes(wb, saved: bytes, target: str | Path) -> bytes | None:
    """``saved`` (what openpyxl wrote for ``wb``) as the project delivers it: the rows kept for
    writing at save time (``xlsxcopy.defer_rows``) added; for a workbook the project built
    (``xlsxrules.own``), its formulas' known results cached and Excel's structural rules checked
    (``OutputError`` naming ``target`` if one is broken). None when there is nothing to change."""
    from . import xlsxcopy, xlsxrules  # openpyxl is loaded whenever there is a workbook to save

    owned = xlsxrules.owned(wb)
    rows = xlsxcopy.pending_rows(wb)
    if not owned and not rows:
        return None
    edits: dict[str, Callable[[bytes], bytes]] = {
        title: functools.partial(xlsxcopy.with_rows, block=block, epoch=wb.epoch, register=wb._cell_styles.add)
        for title, block in rows.items()
    }
    if owned:
        for title, cells in xlsxrules.cached_values(wb).items():
            edits[title] = _then(edits.get(title), functools.partial(xlsxrules.with_cached, cells=cells))
    data = xlsxrules.edit_sheets(saved, edits)
    found = xlsxrules.problems(data, cells=False) if owned else []
    if found:
        raise OutputError(messages.text("io.broken-workbook", file=target, problem=found[0]))
    return data


def _then(first: Callable[[bytes], bytes] | None, second: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return second if first is None else (lambda xml: second(first(xml)))


def write_bytes(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def state_dir() -> Path:
    """The user's own folder for this tool's state and logs: %LOCALAPPDATA%\\xhht_xl on Windows,
    ~/Library/Logs/xhht_xl on macOS, $XDG_STATE_HOME/xhht_xl (~/.local/state/xhht_xl) elsewhere
    (XDG Base Directory Specification 0.8)."""
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Logs")
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "xhht_xl"


def write_error_log(text: str) -> Path | None:
    """The trace of an unexpected error (English, for a developer), in the user's own state folder
    (never a shared /tmp path a planted link could redirect): written atomically (a link in its
    place is replaced, not followed). None when even that fails. The clerk gets one Vietnamese
    line naming this file."""
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return write_text(folder / "error.log", text)
    except (OSError, OutputError):
        return None
