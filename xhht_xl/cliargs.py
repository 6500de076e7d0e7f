"""What the ``xhht`` command line takes from a clerk, the way Windows' ``cmd`` hands it over.

``cmd`` expands no wildcards and a clerk names folders, not lists of files: :func:`input_files`
expands ``*.xlsx`` and folders itself and skips Office lock files (``~$x.xlsx``) silently.
:func:`output_file` checks that a name given with ``-o`` ends as what is written. argparse's own
texts (usage, errors, section titles) are shown in Vietnamese from the messages table
(:func:`vietnamese_argparse`).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import messages
from .cleaning import for_terminal

T = messages.text
WILDCARDS = frozenset("*?[")


class InputError(Exception):
    """A path on the command line names nothing (one Vietnamese line; the command exits 2)."""


def has_wildcard(text: str) -> bool:
    return any(ch in WILDCARDS for ch in text)


def input_files(args: Sequence[str | Path], notes: list | None = None) -> list[Path]:
    """The files a clerk means by ``args``: a file as given; a folder: every file under it (as
    ``intake.scan`` lists a consolidation's folder); a pattern (``*.xlsx``, ``nhan\\79*\\*.xls?``,
    ``**`` for any depth) expanded here, since ``cmd`` does not. Lock and temporary files of Office
    (``~$x.xlsx``), Thumbs.db and the like are skipped silently, also when named. The order is the
    order of ``args``, each expansion sorted; a file named twice is kept once.

    Raises :class:`InputError` naming the first argument that matches nothing: a mistyped name is
    the clerk's to correct, before any file is read. ``notes`` (if given) gets, per folder that
    had some, the ``files-skipped`` issue a consolidation of that folder reports (empty files,
    junk, links out of it), so no file a clerk put there goes unmentioned.
    """
    from .intake import is_junk, scan_noted

    out: list[Path] = []
    for arg in args:
        text = str(arg)
        path = Path(text)
        if path.is_dir():
            out += scan_noted(path, notes)
        elif path.exists() or os.path.lexists(text):
            if not is_junk(path.name):
                out.append(path)
        elif has_wildcard(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(T("cli.no-match", pattern=for_terminal(text)))
            for match in matches:
                found = Path(match)
                if found.is_dir():
                    out += scan_noted(found, notes)
                elif not is_junk(found.name):
                    out.append(found)
        else:
            raise InputError(T("cli.not-found", path=for_terminal(text)))
    return list(dict.fromkeys(out))


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """An argparse ``type`` for a file the command writes as ``suffixes[0]``: a name ending
    otherwise (``-o f.csv`` for a workbook) is refused in one Vietnamese line (argparse exits 2),
    since the file would not open in what its name promises."""

    def check(text: str) -> Path:
        path = Path(text)
        if path.suffix.lower() not in suffixes and not path.is_dir():  # a folder: the usual one line later
            example = path.with_suffix(suffixes[0]).name if path.stem else f"KET_QUA{suffixes[0]}"
            raise argparse.ArgumentTypeError(
                T("cli.bad-suffix", path=for_terminal(text), suffix=suffixes[0], example=for_terminal(example))
            )
        return path

    check.__name__ = suffixes[0]  # argparse names the type in its own errors
    return check


def _translated(msgid: str) -> str:
    """argparse's text ``msgid`` in Vietnamese (``argparse.<msgid>`` of the messages table), or
    as it is when the table has none (a text of a newer Python)."""
    return messages.table().get(f"argparse.{msgid}", msgid)


def _ntranslated(singular: str, plural: str, n: int) -> str:
    return _translated(singular if n == 1 else plural)


@contextlib.contextmanager
def vietnamese_argparse() -> Iterator[None]:
    """While building parsers and parsing, argparse's own texts come from the messages table.

    argparse looks its texts up through its module's ``_``/``ngettext`` (gettext) at the time it
    builds a parser and reports an error; they are pointed at the table for the duration and put
    back after, so nothing else in the process is changed.
    """
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _translated, _ntranslated  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]
