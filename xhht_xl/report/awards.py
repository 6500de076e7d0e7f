"""Award proposals: which nominations go on the official list, which do not and why.

One function, :func:`selection`, reads the consolidation's ``nominations`` frame and is used both
by section IV of the report and by the award list workbook, so the two always hold the same
people. A nomination is proposed when ``quotas.passing`` keeps it (verdict "Trong định mức": the
quotas of KH 137 mục IV.2 and every check of ``quotas.check``); every other nomination is listed
with the consolidation's ``reason`` for leaving it out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl.styles import Font

from .. import layout, messages, quotas, templates, textnorm
from ..fileio import mark_output, save_workbook
from ..pipeline import collector_paused_during
from ..plan import Plan
from .text import clean

T = messages.text
LETTERS = "abcdefghijklmnopqrstuvwxyz"
F_SUBTITLE = Font(name=templates.FONT, size=11, italic=True)  # the sheet prints at ~86 %: 10 pt would be under 9 pt on paper


@dataclass(frozen=True)
class Nominee:
    kind: str  # "collective", "individual" or ""
    name: str
    position: str
    unit: str  # where the nominee works, as the plan names it
    summary: str
    previous: str
    proposer: str  # the proposing unit's name
    award: str  # the award's name
    reason: str  # the verdict ("Trong định mức" for a proposed one)

    @property
    def kind_text(self) -> str:
        return T(f"out.kind-{self.kind}") if self.kind else ""

    @property
    def where(self) -> str:
        """Position and workplace in one cell: "Chủ tịch Hội Khuyến học, Xã Bình Tâm"."""
        return ", ".join(p for p in (self.position, self.unit) if p)


@dataclass(frozen=True)
class AwardGroup:
    award: str
    nominees: tuple[Nominee, ...]

    def count(self, kind: str) -> int:
        return sum(1 for n in self.nominees if n.kind == kind)

    def label(self, i: int) -> str:
        """"a) Bằng khen của Thủ tướng Chính phủ: 01 tập thể, 01 cá nhân"."""
        return T("report.awards-level", letter=LETTERS[i % 26], award=self.award,
                 collectives=f"{self.count('collective'):02d}", individuals=f"{self.count('individual'):02d}")  # fmt: skip


@dataclass(frozen=True)
class Selection:
    groups: tuple[AwardGroup, ...]  # proposed, per award level in plan order
    excluded: tuple[Nominee, ...]  # left out, with the reason, in proposer then priority order

    @property
    def proposed(self) -> list[Nominee]:
        return [n for g in self.groups for n in g.nominees]

    def count(self, kind: str) -> int:
        return sum(g.count(kind) for g in self.groups)


def _workplace(plan: Plan, code: str, fallback: str) -> str:
    u = plan.unit(code) if code else None
    if u is None:
        return clean(fallback)
    parent = plan.unit(u.parent) if u.parent else None
    if parent is not None and parent.parent:  # below a district: name the district too
        return f"{u.name}, {parent.name}"
    return u.name


def _nominee(plan: Plan, r) -> Nominee:
    proposer = plan.unit(r.proposer)
    return Nominee(
        kind=r.kind or "", name=clean(r.name).strip(), position=clean(r.position).strip(),
        unit=_workplace(plan, r.unit, r.unit_text), summary=clean(r.summary).strip(),
        previous=clean(r.previous).strip(), proposer=proposer.name if proposer else clean(r.proposer),
        award=clean(r.award_name), reason=clean(getattr(r, "reason", "") or r.verdict),
    )  # fmt: skip


def selection(c) -> Selection:
    """The nominations of consolidation ``c`` split into the proposed ones (verdict "Trong định
    mức"), grouped by award level in the plan's order with collectives first and then in the
    proposers' priority order, and the excluded ones with their verdict as the reason."""
    plan: Plan = c.plan
    noms: pd.DataFrame = c.nominations
    if noms.empty:
        return Selection((), ())
    order = {a.code: i for i, a in enumerate(plan.settings.award_levels)}
    frame = noms.assign(_pos=range(len(noms)))
    passing = frame.index.isin(quotas.passing(frame).index)
    ok = frame[passing].copy()
    ok["_award"] = ok["award"].map(order).fillna(len(order))
    ok["_kind"] = (ok["kind"] != "collective").astype(int)
    ok = ok.sort_values(["_award", "_kind", "_pos"])
    groups = []
    for _award, part in ok.groupby("_award", sort=True):
        nominees = tuple(_nominee(plan, r) for r in part.itertuples())
        groups.append(AwardGroup(nominees[0].award, nominees))
    excluded = tuple(_nominee(plan, r) for r in frame[~passing].itertuples())
    return Selection(tuple(groups), excluded)


# -- the award list workbook ----------------------------------------------------------------

LIST_HEADS = ("col-stt", "col-kind", "col-name", "col-position", "col-unit", "col-summary", "col-previous",
              "col-proposer")  # fmt: skip
# at most ~170 characters in all: fit to an A4 landscape width (1 cm margins) at 86 %, 11 pt prints
# at 9 pt or more (CLERK.md; at 178 it printed at 8.8 pt)
LIST_WIDTHS = (5, 9, 22, 18, 22, 48, 24, 20)
OUT_HEADS = ("col-stt", "col-name", "col-kind", "col-award", "col-proposer", "col-reason")
OUT_WIDTHS = (6, 30, 11, 34, 28, 40)


def _put_row(ws, r: int, values, widths) -> None:
    """``values`` in row ``r`` (wrapped, bordered), the row as tall as its longest wrapped text, so
    no line prints over the next row (Excel and LibreOffice keep a row's stored height when printing)."""
    from ..outputs import row_height

    for col, value in enumerate(values, start=1):
        templates.put(ws, (r, col), value, alignment=templates.WRAP_TOP, border=templates.BORDER)
    ws.row_dimensions[r].height = row_height([(v, w) for v, w in zip(values, widths, strict=True)
                                              if isinstance(v, str) and v])  # fmt: skip


def _sheet_setup(ws, heads: list[str], widths, title: str, subtitle: str) -> int:
    last = layout.col_letter(len(heads))
    templates.put(ws, (1, 1), title, font=templates.F_TITLE, alignment=templates.CENTER)
    ws.merge_cells(f"A1:{last}1")
    ws.row_dimensions[1].height = 36
    templates.put(ws, (2, 1), subtitle, font=F_SUBTITLE, alignment=templates.CENTER)
    ws.merge_cells(f"A2:{last}2")
    header = 4
    for col, (text, width) in enumerate(zip(heads, widths, strict=True), start=1):
        templates.put(ws, (header, col), text, font=templates.F_HEAD, fill=templates.FILL_HEAD,
                      alignment=templates.CENTER, border=templates.BORDER)  # fmt: skip
        ws.column_dimensions[layout.col_letter(col)].width = width
    ws.row_dimensions[header].height = 32
    ws.freeze_panes = f"A{header + 1}"
    ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = templates.MARGIN_SIDE
    ws.oddFooter.center.text = T("report.footer-pages")
    return header + 1


@collector_paused_during
def write_award_list(c, path: str | Path, body: str = "") -> Path:
    """The award list of consolidation ``c`` as .xlsx at ``path`` (atomic): sheet 1 the proposed
    nominations per award level (the official list, no internal columns), sheet 2 those left out
    with the reason. Text from senders stays text (never a formula). ``body`` names the issuer in
    the subtitle (default: the people's committee of the consolidating unit)."""
    from .issuer import document, issuer

    sel = selection(c)
    if not body:
        body = issuer(c.plan, c.unit, document(c.plan, c.scope.level, "report")).name
    wb = templates.new_workbook()  # checked against Excel's structural rules when saved
    mark_output(wb, "award-list", unit=c.scope.unit, level=c.scope.level)  # intake skips it when found
    ws = wb.active
    ws.title = T("report.award-list-sheet")
    heads = [T(f"report.{k}") for k in LIST_HEADS]
    r = _sheet_setup(ws, heads, LIST_WIDTHS, T("report.award-list-title"),
                     T("report.award-list-subtitle", body=body))  # fmt: skip
    for i, g in enumerate(sel.groups):
        for col in range(1, len(heads) + 1):
            templates.put(ws, (r, col), g.label(i) if col == 1 else None, font=templates.F_GROUP,
                          fill=templates.FILL_GROUP, border=templates.BORDER)  # fmt: skip
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(heads))
        r += 1
        for k, n in enumerate(g.nominees, start=1):
            values = [k, n.kind_text, n.name, n.position, n.unit, n.summary, n.previous, n.proposer]
            _put_row(ws, r, values, LIST_WIDTHS)
            r += 1
    if not sel.groups:
        templates.put(ws, (r, 1), T("report.no-awards"))
    out = wb.create_sheet(T("report.award-out-sheet"))
    heads = [T(f"report.{k}") for k in OUT_HEADS]
    r = _sheet_setup(out, heads, OUT_WIDTHS, T("report.award-out-title"), T("report.award-out-subtitle"))
    for k, n in enumerate(sel.excluded, start=1):
        _put_row(out, r, [k, n.name, n.kind_text, n.award, n.proposer, textnorm.capitalized(n.reason)], OUT_WIDTHS)
        r += 1
    if not sel.excluded:
        templates.put(out, (r, 1), T("report.no-excluded"))
    wb.properties.creator = "xhht_xl"
    wb.properties.created = wb.properties.modified = dt.datetime.combine(c.as_of, dt.time(0, 0))
    return save_workbook(wb, path)
