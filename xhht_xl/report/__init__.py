"""The draft review report (Báo cáo tổng kết, .docx), its covering submission and the award list.

Split by concern: ``synthesis`` says what the data shows (sections I–VI of the plan's outline,
annexes), ``render`` lays it out as an administrative document (Nghị định 30/2020/NĐ-CP),
``chart`` writes native Word charts, ``awards`` selects the award proposals (report section IV
and the award list workbook), ``issuer`` reads from the plan who issues what, ``text`` holds
number formatting and near-duplicate detection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .. import messages
from ..fileio import atomic_path
from ..pipeline import collector_paused_during
from . import synthesis
from .awards import selection, write_award_list
from .issuer import document
from .render import render
from .synthesis import results_rows, synthesise

T = messages.text

__all__ = ["build_report", "cover_path", "results_rows", "selection", "synthesise", "write_award_list",
           "write_cover", "write_report"]  # fmt: skip


def build_report(c, *, number: str = "", date: dt.date | None = None):
    """The report of consolidation ``c`` as a python-docx ``Document`` (not saved)."""
    return render(synthesise(c, number=number, date=date), c.as_of)


def cover_path(c, report: str | Path) -> Path | None:
    """Where the covering submission goes beside ``report`` ("…_to_trinh.docx"), or None when the
    plan asks for none at ``c``'s level."""
    if document(c.plan, c.scope.level, "cover") is None:
        return None
    report = Path(report)
    return report.with_name(T("report.cover-file", stem=report.stem))


def write_cover(c, path: str | Path, *, number: str = "", date: dt.date | None = None) -> Path | None:
    """The covering submission (tờ trình) of consolidation ``c`` as .docx at ``path``, written
    atomically; None (nothing written) when the plan declares no cover for ``c``'s level."""
    draft = synthesis.cover(c, number=number, date=date)
    if draft is None:
        return None
    return _write(draft, c.as_of, path)


def _write(draft, as_of: dt.date, path: str | Path) -> Path:
    """``draft`` rendered (``render``) and saved as .docx at ``path``, atomically."""
    doc = render(draft, as_of)
    with atomic_path(path) as tmp:
        doc.save(str(tmp))
    return Path(path)


@collector_paused_during
def write_report(
    c, path: str | Path, *, number: str = "", date: dt.date | None = None, cover: str | Path | bool = True
) -> Path:
    """The draft review report of consolidation ``c`` as .docx at ``path``, written atomically.

    ``number`` fills the number line ("Số: 123/BC-UBND") and ``date`` the place-date line; both
    are left blank for the clerk when not given. When the plan asks ``c``'s level for a covering
    submission (``[[report.documents]]`` with ``kind = "cover"``), it is written too: at ``cover``
    if a path, beside the report (``cover_path``) if True, not at all if False. Returns the
    report's path; raises ``fileio.OutputError`` (one Vietnamese line) when a file cannot be written.
    """
    target = None if cover is False else cover_path(c, path) if cover is True else Path(cover)
    if target is None:
        draft, covering = synthesise(c, number=number, date=date), None
    else:  # the cover from the report's own synthesis: what write_cover(c, target) writes
        draft, covering = synthesis.report_and_cover(c, number=number, date=date)
    _write(draft, c.as_of, path)
    if covering is not None:
        _write(covering, c.as_of, target)
    return Path(path)
