"""The draft as plain data: what the synthesis says, before any Word formatting.

``synthesis`` builds a :class:`Draft` from a consolidation; ``render`` lays it out as .docx.
Keeping the two apart lets tests read what the report says (every sentence, every table cell)
without parsing Word, and lets the layout change without touching what is said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .chart import Chart

ParaKind = Literal["body", "note", "quote", "bullet", "own", "annex"]
Align = Literal["left", "center", "right"]


@dataclass
class Run:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class Para:
    """A paragraph: ``body`` (justified, first-line indent), ``own`` (the issuer's own text, as body),
    ``note`` (italic, smaller), ``quote`` (a unit's sentence, indented), ``bullet`` ("- " item),
    ``annex`` (a unit's text in an annex, smaller)."""

    runs: list[Run]
    kind: ParaKind = "body"

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


def para(text: str, kind: ParaKind = "body", **style: bool) -> Para:
    return Para([Run(text, **style)], kind)


@dataclass
class Heading:
    text: str
    level: int  # 1 = I., 2 = 1., 3 = 3.1.
    code: str = ""  # outline item code ("" for headings outside the outline)


@dataclass
class Row:
    cells: list[str]
    kind: Literal["data", "group", "total"] = "data"
    shade: dict[int, str] = field(default_factory=dict)  # column -> RRGGBB
    merge_up: tuple[int, ...] = ()  # columns merged with the same column of the row above
    keep_with_next: bool = False


@dataclass
class Table:
    caption: str
    heads: list[str]
    widths: list[float]  # mm
    aligns: list[Align]
    rows: list[Row]
    font_pt: float = 11.0
    note: str = ""  # a line under the table


@dataclass
class Figure:
    caption: str
    chart: Chart
    width_mm: float
    height_mm: float
    note: str = ""


Block = Heading | Para | Table | Figure


@dataclass
class Annex:
    number: str  # "I", "II"
    title: str
    blocks: list[Block]


@dataclass
class Letterhead:
    """The NĐ 30/2020 parts around the content: issuing body, number, place and date, type and
    summary of the document, addressee, closing, recipients and signature."""

    parent: str  # cơ quan chủ quản line ("UBND TỈNH LONG AN") or ""
    body: list[str]  # cơ quan ban hành, in capitals, one or two lines
    number: str  # "Số:      /BC-UBND"
    place_date: str
    kind: str  # "BÁO CÁO", "TỜ TRÌNH"
    summary: list[str]  # trích yếu lines
    addressee: str  # "Kính gửi: …" or ""
    draft_note: str
    closing: str
    recipients: list[str]
    signer: list[str]
    sign_name: str
    attached: str  # the line under an annex title: "(Kèm theo Báo cáo số … của …)"


@dataclass
class Draft:
    head: Letterhead
    blocks: list[Block]
    annexes: list[Annex] = field(default_factory=list)
    title: str = ""  # document properties
