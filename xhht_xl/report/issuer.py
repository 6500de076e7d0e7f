"""Who issues a document of the review, from the plan's ``[report]`` data.

Kế hoạch 137 (mục III.2.2, VI.2.1) has Sở GD&ĐT compile the provincial report and submit it to
UBND tỉnh, which sends it to the Ministry; a district's report is its UBND's, sent to Sở GD&ĐT
(mục VI.3.4). ``plan.toml`` says so in ``[[report.documents]]``; a level without an entry gets
its people's committee's report with the default signature and recipients of
``messages/report.toml``. The heading follows Nghị định 30/2020/NĐ-CP, Phụ lục I, mục II.3: the
issuing body in full ("ỦY BAN NHÂN DÂN" / "THÀNH PHỐ TÂN AN"); above a body that is not the
committee, its direct superior ("UBND TỈNH LONG AN", where the abbreviation UBND is allowed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .. import messages
from ..plan import Plan, ReportDocument, Unit

T = messages.text
COMMITTEE = "committee"


@dataclass(frozen=True)
class Issuer:
    """One document's issuing side. ``body`` lines are printed in capitals under ``parent``;
    ``name`` is the body in a sentence ("Ủy ban nhân dân tỉnh Long An")."""

    parent: str
    body: tuple[str, ...]
    name: str
    abbr: str  # after "/BC-": "UBND", "SGDĐT"
    place: str  # of the date line: the locality's name ("Long An", "Tân An")
    doc: ReportDocument


def strip_prefix(name: str) -> str:
    """"Thành phố Tân An" -> "Tân An" (the place of the date line, NĐ 30 Phụ lục I mục II.5)."""
    for prefix in T("report.unit-prefixes").split("|"):
        if name.startswith(prefix + " "):
            return name[len(prefix) + 1 :]
    return name


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def abbreviation(name: str) -> str:
    """Initials of a body's name as on number lines: "Sở Giáo dục và Đào tạo" -> "SGDĐT"."""
    skip = set(T("report.abbr-skip").split("|"))
    return "".join(w[0].upper() for w in name.split() if w not in skip and w[0].isalpha())


def document(plan: Plan, level: str, kind: str) -> ReportDocument | None:
    """The plan's entry for the ``kind`` document ("report", "cover") of ``level``; a report
    always exists (a default one when the plan has no entry), a cover only when declared."""
    for d in plan.settings.report.documents:
        if d.level == level and d.kind == kind:
            return d
    if kind == "report":
        return ReportDocument(level=level, kind="report")
    return None


def party_committee(unit: Unit) -> str:
    """The Party committee named in recipients ("Huyện ủy", "Thành ủy", "Thị ủy", "Tỉnh ủy")."""
    table = dict(part.split("=", 1) for part in T("report.party-committees").split("|"))
    for prefix, name in table.items():
        if unit.name.startswith(prefix + " "):
            return name
    return T("report.party-committee-default")


def issuer(plan: Plan, unit: Unit, doc: ReportDocument) -> Issuer:
    """Heading lines, name and number suffix of ``doc`` issued for consolidating ``unit``."""
    place = strip_prefix(unit.name)
    if doc.issuer == COMMITTEE:
        return Issuer("", (T("report.committee"), unit.name.upper()),
                      T("report.committee-name", name=lower_first(unit.name)), T("report.committee-abbr"),
                      place, doc)  # fmt: skip
    body = plan.units[doc.issuer]
    superior = plan.unit(body.parent) if body.parent else None
    parent = T("report.committee-short", name=superior.name.upper()) if superior else ""
    return Issuer(parent, (body.name.upper(),), body.name, abbreviation(body.name), place, doc)


def date_line(place: str, date: dt.date | None, year: int) -> str:
    """"Long An, ngày 05 tháng 9 năm 2020" (NĐ 30: day and month below 10 with a leading zero for
    day 1–9 and months 1–2); blanks for the clerk when no date is given."""
    if date is None:
        blank = T("report.blank")
        return T("report.place-date", place=place, day=blank, month=blank, year=year)
    month = f"{date.month:02d}" if date.month < 3 else str(date.month)
    return T("report.place-date", place=place, day=f"{date.day:02d}", month=month, year=date.year)
