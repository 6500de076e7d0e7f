"""Writing outputs safely: a temp file in the target folder, then an atomic rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import messages


class OutputError(Exception):
    """An output cannot be written; the previous file, if any, is left intact."""


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".~xhht-", suffix=target.suffix, dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(messages.text("io.cannot-write", file=target, reason=exc.strerror or exc)) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, target)
        except PermissionError:
            raise OutputError(messages.text("io.locked", file=target)) from None
        except OSError as exc:
            raise OutputError(
                messages.text("io.cannot-write", file=target, reason=exc.strerror or exc)
            ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_workbook(wb, target: str | Path) -> Path:
    """Save an openpyxl workbook atomically.

    A workbook the project built (``xlsxrules.own``) gets the known results of its formulas cached
    and is checked against Excel's structural rules on the written XML before it replaces ``target``.
    """
    from . import xlsxrules  # openpyxl is loaded whenever there is a workbook to save

    with atomic_path(target) as tmp:
        wb.save(tmp)
        if xlsxrules.owned(wb):
            data = xlsxrules.write_cached(tmp.read_bytes(), xlsxrules.cached_values(wb))
            found = xlsxrules.problems(data, cells=False)
            if found:
                raise OutputError(messages.text("io.broken-workbook", file=target, problem=found[0]))
            tmp.write_bytes(data)
    return Path(target)


def write_bytes(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))
