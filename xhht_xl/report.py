"""The draft review report (Báo cáo tổng kết, .docx) and the award list (.xlsx) of a consolidation.

``write_report`` follows the plan's outline (Đề cương, KH 137) item by item in the official form
of an administrative document (Nghị định 30/2020/NĐ-CP: national heading, issuing body, number
and place-date lines, A4 margins, Times New Roman, recipients and signature blocks). Under each
narrative item come the texts the units wrote, each attributed to its unit, for an editor to
condense; the results table (III.1) has the same numbers as the consolidated workbook, with a
bar chart drawn by a tiny PNG writer (no plotting dependency); section IV lists the nominations
within quota, the same table ``write_award_list`` writes as a workbook.

Text from units is cleaned of XML-illegal control characters only; everything else (very long
lines, text starting with "=") is written verbatim as text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
import tempfile
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from openpyxl import Workbook
from openpyxl.styles import Alignment

from . import layout, messages, outputs, templates
from .fileio import atomic_path, mark_output, save_workbook
from .plan import Plan, round_rate

T = messages.text
FONT = "Times New Roman"
BODY_PT = 14
TABLE_PT = 11
# Nghị định 30/2020/NĐ-CP, Phụ lục I: A4, top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm.
PAGE = {"width": 210, "height": 297, "top": 20, "bottom": 20, "left": 30, "right": 15}
TEXT_WIDTH = PAGE["width"] - PAGE["left"] - PAGE["right"]  # mm, portrait
WIDE_WIDTH = PAGE["height"] - PAGE["left"] - PAGE["right"]  # mm, landscape
VERDICT = {"dat": "verdict.dat", "khong-dat": "verdict.khong-dat", "vuot": "verdict.vuot"}
SHADE_HEAD = "D9E1F2"
SHADE_GROUP = "EDEDED"
SHADE_BAD = "F8CBCB"
# Bar colours of the chart (RGB): met, not met, no verdict; target marks; grid.
C_MET, C_NOT_MET, C_OTHER = (84, 130, 53), (192, 0, 0), (166, 166, 166)
C_MARK, C_GRID, C_AXIS, C_BG = (0, 0, 0), (217, 217, 217), (89, 89, 89), (255, 255, 255)

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def clean(value: object) -> str:
    """Text as Word and openpyxl accept it: XML-illegal control characters removed, line ends
    normalised to ``\\n``; nothing else is changed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _ILLEGAL.sub("", text)


# -- names of the issuing body --------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """Who issues the report: heading lines, the body's name in running text, number suffix,
    place of the date line and which recipients/signature block applies."""

    parent: str  # upper line of the heading ("UBND TỈNH LONG AN") or ""
    body: str  # the body's line in capitals ("SỞ GIÁO DỤC VÀ ĐÀO TẠO")
    body_text: str  # the body in a sentence ("Sở Giáo dục và Đào tạo")
    abbr: str  # after "/BC-"
    place: str  # "Long An"
    level: str  # plan level code of the consolidation


def _strip_prefix(name: str) -> str:
    for prefix in T("report.unit-prefixes").split("|"):
        if name.startswith(prefix + " "):
            return name[len(prefix) + 1 :]
    return name


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def abbreviation(name: str) -> str:
    """Initials of a body's name as on number lines: "Sở Giáo dục và Đào tạo" -> "SGDĐT"."""
    skip = set(T("report.abbr-skip").split("|"))
    return "".join(w[0].upper() for w in name.split() if w not in skip and w[0].isalpha())


def issuer(c) -> Issuer:
    plan: Plan = c.plan
    unit = c.unit
    committee = T("report.committee", name=unit.name.upper())
    place = _strip_prefix(unit.name)  # Nghị định 30: the place is the issuing unit's own name
    if not unit.parent and plan.settings.standing_body and plan.unit(plan.settings.standing_body):
        # the province: the standing body drafts the report for the people's committee
        body = plan.unit(plan.settings.standing_body)
        return Issuer(committee, body.name.upper(), body.name, abbreviation(body.name), place, unit.level)
    return Issuer(
        "", committee, T("report.committee-text", name=_lower_first(unit.name)),
        T("report.number-committee"), place, unit.level,
    )  # fmt: skip


# -- low-level Word helpers -----------------------------------------------------------------


def _fonts(rpr_parent, size: float | None = None) -> None:
    """Times New Roman for every script (ascii, hAnsi, east Asian, complex), no theme fonts."""
    rpr = rpr_parent.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)


def _setup_styles(doc) -> None:
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    _fonts(normal.element)
    pf = normal.paragraph_format
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(6), 1.1
    for level, (size, italic) in {1: (BODY_PT, False), 2: (BODY_PT, False), 3: (BODY_PT, True)}.items():
        style = doc.styles[f"Heading {level}"]
        style.font.name = FONT
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.italic = italic
        style.font.all_caps = level == 1
        style.font.color.rgb = RGBColor(0, 0, 0)
        _fonts(style.element)
        hf = style.paragraph_format
        hf.space_before, hf.space_after, hf.keep_with_next = Pt(6), Pt(6), True
        hf.first_line_indent = Mm(0) if level == 1 else Mm(10)
        hf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        hf.line_spacing = 1.1


def _para(container, text: str = "", *, bold=False, italic=False, size=None, align=None, indent=True,
          after=None, before=None, caps=False, keep=False):  # fmt: skip
    p = container.add_paragraph()
    pf = p.paragraph_format
    if keep:
        pf.keep_with_next = True
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY if align is None else align
    if indent and align is None:
        pf.first_line_indent = Mm(10)
    if after is not None:
        pf.space_after = Pt(after)
    if before is not None:
        pf.space_before = Pt(before)
    if text:
        _run(p, text, bold=bold, italic=italic, size=size, caps=caps)
    return p


def _run(p, text: str, *, bold=False, italic=False, size=None, caps=False):
    r = p.add_run(clean(text))
    r.bold, r.italic = bold or None, italic or None
    if caps:
        r.font.all_caps = True
    if size:
        r.font.size = Pt(size)
    return r


def _rule(container, width_mm: float, cell_mm: float, after: float = 0):
    """A short centred horizontal line: an empty paragraph with a bottom border, narrowed by indents."""
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.alignment = WD_ALIGN_PARAGRAPH.CENTER
    side = max(0.0, (cell_mm - width_mm) / 2)
    pf.left_indent, pf.right_indent = Mm(side), Mm(side)
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(after), Pt(5)
    ppr = p._p.get_or_add_pPr()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{k}"), v)
    border.append(bottom)
    ppr.append(border)
    r = p.add_run()
    r.font.size = Pt(2)
    return p


def _shade(cell, hex_color: str) -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), hex_color)
    tcpr.append(shd)


def _repeat_header(row) -> None:
    trpr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    trpr.append(el)


def _no_split(row) -> None:
    trpr = row._tr.get_or_add_trPr()
    trpr.append(OxmlElement("w:cantSplit"))


def _cell(cell, text: object, *, bold=False, italic=False, align=WD_ALIGN_PARAGRAPH.LEFT, size=TABLE_PT):
    p = cell.paragraphs[0]
    p.paragraph_format.alignment = align
    p.paragraph_format.space_after = Pt(0)
    p.paragraph_format.first_line_indent = Mm(0)
    p.paragraph_format.line_spacing = 1.0
    text = clean(text)
    if text:
        _run(p, text, bold=bold, italic=italic, size=size)
    return cell


def _table(container, widths_mm: list[float], headers: list[str] | None = None, *, borders=True):
    table = container.add_table(rows=0, cols=len(widths_mm))
    if borders:
        table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for col, w in zip(table.columns, widths_mm, strict=True):
        col.width = Mm(w)
    if headers:
        row = table.add_row()
        _repeat_header(row)
        for cell, text, w in zip(row.cells, headers, widths_mm, strict=True):
            cell.width = Mm(w)
            _cell(cell, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
            _shade(cell, SHADE_HEAD)
    return table


def _add_row(table, values: list, widths_mm: list[float], aligns: list | None = None):
    row = table.add_row()
    _no_split(row)
    for i, (cell, value, w) in enumerate(zip(row.cells, values, widths_mm, strict=True)):
        cell.width = Mm(w)
        _cell(cell, value, align=aligns[i] if aligns else WD_ALIGN_PARAGRAPH.LEFT)
    return row


def _keep(row) -> None:
    """Keep ``row`` on the page of the next one (Word and LibreOffice honour keep-with-next)."""
    for cell in row.cells:
        for p in cell.paragraphs:
            p.paragraph_format.keep_with_next = True


def _field(paragraph, instruction: str) -> None:
    """A Word field (PAGE) in ``paragraph``."""
    run = paragraph.add_run()
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None), ("text", "1"),
                       ("end", None)):  # fmt: skip
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        elif kind == "text":
            el = OxmlElement("w:t")
            el.text = text
        else:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        run._r.append(el)


def _page(section, landscape: bool = False) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    w, h = (PAGE["height"], PAGE["width"]) if landscape else (PAGE["width"], PAGE["height"])
    section.page_width, section.page_height = Mm(w), Mm(h)
    section.top_margin, section.bottom_margin = Mm(PAGE["top"]), Mm(PAGE["bottom"])
    section.left_margin, section.right_margin = Mm(PAGE["left"]), Mm(PAGE["right"])
    section.header_distance, section.footer_distance = Mm(10), Mm(10)


# -- numbers as printed ------------------------------------------------------------------------


def fmt_int(x) -> str:
    """12345 -> "12.345" (Vietnamese thousands separator); NaN -> ""."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if float(x).is_integer():
        return f"{int(x):,}".replace(",", ".")
    return fmt_amount(x)


def fmt_amount(x) -> str:
    """16046.7 -> "16.046,7"; NaN -> ""."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{float(x):,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def fmt_rate(rate) -> str:
    """A percentage rounded half-up to 0.1 as the verdict rule does: 98.104 -> "98,1"."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return ""
    return str(round_rate(float(rate))).replace(".", ",")


def _two(n: int) -> str:
    return f"{n:02d}"


# -- rows shared with the workbook writers -----------------------------------------------------


def results_rows(c) -> list[dict]:
    """The appendix rows of ``c.totals`` as printed: one per indicator and milestone, in order."""
    plan = c.plan
    rows, numbers = [], {}
    for r in c.totals.itertuples():
        target = plan.targets[(r.indicator, r.milestone)]
        na = not r.units_covered and r.units_na and not r.units_rejected
        numbers.setdefault(r.indicator, len(numbers) + 1)
        rows.append({
            "stt": numbers[r.indicator],
            "indicator": r.indicator,
            "group": plan.indicators[r.indicator].group,
            "name": plan.indicators[r.indicator].name,
            "milestone": int(r.milestone),
            "num": T("report.na") if na else fmt_int(r.num),
            "den": T("report.na") if na else fmt_int(r.den),
            "rate": fmt_rate(r.rate),
            "rate_value": None if pd.isna(r.rate) else float(r.rate),
            "target": layout.target_text(target),
            "target_obj": target,
            "verdict": T(VERDICT[r.verdict]) if isinstance(r.verdict, str) and r.verdict in VERDICT else "",
            "verdict_code": r.verdict if isinstance(r.verdict, str) else None,
        })  # fmt: skip
    return rows


def passing_nominations(c) -> pd.DataFrame:
    """Nominations within quota, ordered by award level (plan order), collectives first, then
    proposer and priority as sent."""
    noms = c.nominations
    if noms.empty:
        return noms
    sel = noms[noms["verdict"] == T("quota.within")].copy()
    order = {a.code: i for i, a in enumerate(c.plan.settings.award_levels)}
    sel["_award"] = sel["award"].map(order).fillna(len(order))
    sel["_kind"] = (sel["kind"] != "collective").astype(int)
    sel["_pos"] = range(len(sel))
    return sel.sort_values(["_award", "_kind", "_pos"]).drop(columns=["_award", "_kind", "_pos"])


def _unit_text(plan: Plan, code: str, fallback: str) -> str:
    u = plan.unit(code) if code else None
    if u is None:
        return clean(fallback)
    parent = plan.unit(u.parent) if u.parent else None
    if parent is not None and parent.parent:  # below a district: name the district too
        return f"{u.name}, {parent.name}"
    return u.name


def award_rows(c) -> list[tuple[str, list[list[str]]]]:
    """``[(award name, rows)]`` of the award list; a row follows ``AWARD_HEADS``."""
    plan = c.plan
    noms = passing_nominations(c)
    out: list[tuple[str, list[list[str]]]] = []
    if noms.empty:
        return out
    for _award, group in noms.groupby("award", sort=False):
        rows = []
        for i, r in enumerate(group.itertuples(), start=1):
            proposer = plan.unit(r.proposer)
            rows.append([
                str(i),
                T(f"out.kind-{r.kind}") if r.kind else "",
                clean(r.name),
                clean(r.position),
                _unit_text(plan, r.unit, r.unit_text),
                clean(r.summary),
                clean(r.previous),
                proposer.name if proposer else clean(r.proposer),
                clean(r.verdict),
            ])  # fmt: skip
        out.append((clean(group.iloc[0]["award_name"]), rows))
    return out


AWARD_HEADS = ["col-stt", "col-kind", "col-name", "col-position", "col-unit", "col-summary", "col-previous",
               "col-proposer", "col-quota"]  # fmt: skip


def _count(rows: list[list[str]], kind: str) -> str:
    return _two(sum(1 for r in rows if r[1] == T(f"out.kind-{kind}")))


# -- the chart ----------------------------------------------------------------------------------

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "%": "101001010100101",
}  # fmt: skip


class Canvas:
    """An RGB raster with rectangles and 3x5 digits, saved as PNG with zlib + struct only."""

    def __init__(self, width: int, height: int, background=C_BG):
        self.width, self.height = width, height
        self.px = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, rgb) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        if x1 <= x0:
            return
        line = bytes(rgb) * (x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            start = (y * self.width + x0) * 3
            self.px[start : start + len(line)] = line

    def text(self, x: int, y: int, s: str, scale: int = 2, rgb=C_AXIS, align: str = "left") -> None:
        width = len(s) * 4 * scale - scale
        if align == "right":
            x -= width
        elif align == "center":
            x -= width // 2
        for ch in s:
            glyph = _GLYPHS.get(ch)
            if glyph:
                for i, bit in enumerate(glyph):
                    if bit == "1":
                        gx, gy = x + (i % 3) * scale, y + (i // 3) * scale
                        self.rect(gx, gy, gx + scale, gy + scale, rgb)
            x += 4 * scale

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.px[y * stride : (y + 1) * stride]) for y in range(self.height))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def chart_png(rows: list[dict], year: int, previous: dict[str, float | None]) -> tuple[bytes, int]:
    """Horizontal bars of each indicator's rate at ``year`` (colour by verdict, black marks at the
    target); returns the PNG and the top of the axis in percent."""
    bars = [r for r in rows if r["milestone"] == year]
    top = max([100.0] + [r["rate_value"] or 0 for r in bars])
    top = int(math.ceil(top / 10) * 10)
    row_h, bar_h, left, right, head, foot = 20, 13, 64, 24, 10, 34
    width = 960
    height = head + row_h * len(bars) + foot
    cv = Canvas(width, height)
    plot = width - left - right

    def x_of(v: float) -> int:
        return left + round(plot * max(0.0, min(v, top)) / top)

    for v in range(0, top + 1, 10):
        cv.rect(x_of(v), head - 4, x_of(v) + 1, head + row_h * len(bars), C_GRID)
        if v % 20 == 0:
            cv.text(x_of(v), head + row_h * len(bars) + 8, str(v), scale=3, align="center")
    for i, r in enumerate(bars):
        y = head + i * row_h + (row_h - bar_h) // 2
        cv.text(left - 10, y + (bar_h - 15) // 2, str(r["stt"]), scale=3, align="right")
        rate = r["rate_value"]
        colour = {"dat": C_MET, "vuot": C_MET, "khong-dat": C_NOT_MET}.get(r["verdict_code"], C_OTHER)
        if rate is not None:
            cv.rect(left, y, max(x_of(rate), left + 1), y + bar_h, colour)
        target = r["target_obj"]
        marks = []
        if target.kind in ("min", "range") and target.low is not None:
            marks.append(target.low)
        if target.kind == "range" and target.high is not None:
            marks.append(target.high)
        if target.kind == "increase" and previous.get(r["indicator"]) is not None:
            marks.append(previous[r["indicator"]])
        for m in marks:
            cv.rect(x_of(m) - 1, y - 3, x_of(m) + 2, y + bar_h + 3, C_MARK)
    cv.rect(left, head - 4, left + 1, head + row_h * len(bars), C_AXIS)
    return cv.png(), top


# -- the document ---------------------------------------------------------------------------------


class _Builder:
    def __init__(self, c, number: str, date: dt.date | None):
        self.c = c
        self.plan: Plan = c.plan
        self.issuer = issuer(c)
        self.number = number
        self.date = date
        self.doc = Document()
        self.tables = 0
        self.charts = 0
        _setup_styles(self.doc)
        section = self.doc.sections[0]
        _page(section)
        section.different_first_page_header_footer = True
        hp = section.header.paragraphs[0]
        hp.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _field(hp, "PAGE")

    # heading block ------------------------------------------------------------------------
    def heading_block(self) -> None:
        iss = self.issuer
        left_w, right_w = 70.0, TEXT_WIDTH - 70.0
        t = _table(self.doc, [left_w, right_w], borders=False)
        top = t.add_row().cells
        lc, rc = top[0], top[1]
        p = lc.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        if iss.parent:
            _run(p, iss.parent, size=13)
            p = lc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.space_after = Pt(0)
        _run(p, iss.body, bold=True, size=13)
        _rule(lc, 28, left_w, after=4)
        p = rc.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        _run(p, T("report.nation"), bold=True, size=12)
        p = rc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        _run(p, T("report.motto"), bold=True, size=13)
        _rule(rc, 58, right_w, after=4)
        bottom = t.add_row().cells
        number = (
            T("report.number-given", number=self.number, abbr=iss.abbr)
            if self.number
            else T("report.number", abbr=iss.abbr)
        )
        _cell(bottom[0], number, align=WD_ALIGN_PARAGRAPH.CENTER, size=13)
        year = (self.date or self.c.as_of).year
        if self.date:
            day, month = (
                _two(self.date.day),
                (_two(self.date.month) if self.date.month < 3 else str(self.date.month)),
            )
        else:
            day = month = T("report.blank")
        _cell(bottom[1], T("report.place-date", place=iss.place, day=day, month=month, year=year),
              italic=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=14)  # fmt: skip
        for row in t.rows:
            for cell, w in zip(row.cells, (left_w, right_w), strict=True):
                cell.width = Mm(w)

        _para(self.doc, T("report.title"), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, before=18, after=0)
        project = self.plan.settings.title.split(" trên địa bàn")[0]
        area = _lower_first(self.c.unit.name)
        _para(self.doc, T("report.subtitle-area", project=project, area=area), bold=True,
              align=WD_ALIGN_PARAGRAPH.CENTER, after=0)  # fmt: skip
        _rule(self.doc, 40, TEXT_WIDTH, after=4)
        _para(self.doc, T("report.draft", date=self.c.as_of.strftime("%d/%m/%Y")), italic=True, size=12,
              align=WD_ALIGN_PARAGRAPH.CENTER, after=12)  # fmt: skip

    def intro(self) -> None:
        _para(self.doc, T("report.intro", basis=self.plan.settings.basis, body=self.issuer.body_text))
        s = outputs.status_summary(self.c)
        if s["expected"]:
            received = int(s["on_time"]) + int(s["late"])
            _para(self.doc, T("report.coverage", received=received, **{k: s[k] for k in
                  ("expected", "on_time", "late", "missing", "pending")}), italic=True)  # fmt: skip
            missing = [r.name for r in self.c.status.itertuples() if r.state == "missing"]
            if missing:
                _para(self.doc, T("report.coverage-missing", names=", ".join(missing)), italic=True)

    # outline ---------------------------------------------------------------------------------
    def heading(self, code: str, title: str) -> None:
        parts = code.split(".")
        label = parts[0] + "." if len(parts) == 1 else ".".join(parts[1:]) + "."
        self.doc.add_heading(f"{label} {title}", level=min(len(parts), 3))

    def outline(self) -> None:
        items = list(self.plan.settings.outline)
        tops = [o.code for o in items if "." not in o.code]
        appendix_top = next((o.code.split(".")[0] for o in items if o.kind == "appendix"), None)
        # the funding table goes under the section just before the results (II. Nguồn lực)
        at = tops.index(appendix_top) if appendix_top in tops else 0
        funding_top = tops[at - 1] if at > 0 else None
        for i, item in enumerate(items):
            if item.kind != "awards":  # awards() places its heading (maybe on a landscape page)
                self.heading(item.code, item.title)
            if item.kind == "text":
                self.narrative(item.code)
            elif item.kind == "appendix":
                self.results()
            elif item.kind == "awards":
                self.awards(item.code, item.title)
            if item.code == funding_top:
                self.funding()
            nxt = items[i + 1].code.split(".")[0] if i + 1 < len(items) else None
            if appendix_top and item.code.split(".")[0] == appendix_top and nxt != appendix_top:
                self.topics()

    def _contributions(self, code: str) -> list[tuple[str, str, str]]:
        """``(group, label, text)`` of every member that wrote item ``code``: own unit first."""
        out = []
        members = sorted(self.c.members, key=lambda m: not m.own)
        for m in members:
            text = m.sub.narrative().get(code)
            if text and clean(text).strip():
                unit = self.plan.unit(m.unit)
                name = unit.name if unit else m.unit
                label = T("report.own-label", name=name) if m.own else name
                out.append(("" if m.own else m.level, label, clean(text).strip()))
        return out

    def _silent(self, code: str) -> list[str]:
        names = []
        for m in self.c.members:
            if not m.own and not clean(m.sub.narrative().get(code, "")).strip():
                u = self.plan.unit(m.unit)
                names.append(u.name if u else m.unit)
        return names

    def narrative(self, code: str) -> None:
        entries = self._contributions(code)
        if not entries:
            _para(self.doc, T("report.no-text"), italic=True)
            return
        levels = list(dict.fromkeys(g for g, _, _ in entries if g))
        shown = None
        for group, label, text in entries:
            if group and len(levels) > 1 and group != shown:
                noun = self.plan.levels[group].unit_noun if group in self.plan.levels else group
                _para(self.doc, T("report.group", noun=noun), italic=True, bold=True)
                shown = group
            p = _para(self.doc)
            _run(p, f"{label}: ", bold=True)
            _run(p, text)
        silent = self._silent(code)
        if silent:
            _para(self.doc, T("report.no-text-from", names=", ".join(silent)), italic=True, size=12)

    def funding(self) -> None:
        plan, f = self.plan, self.c.funding
        years, sources = plan.settings.funding_years, plan.settings.funding_sources
        _para(
            self.doc,
            T("report.funding-intro", first=years[0], last=years[-1], unit=plan.settings.funding_unit),
        )
        self.tables += 1
        _para(self.doc, T("report.funding-caption", n=self.tables), bold=True, size=12,
              align=WD_ALIGN_PARAGRAPH.CENTER, after=3, keep=True)  # fmt: skip
        src_w = (TEXT_WIDTH - 24 - 30) / len(sources)
        widths = [24.0] + [src_w] * len(sources) + [30.0]
        heads = (
            [T("report.funding-year")]
            + [plan.indicators[s].name for s in sources]
            + [T("report.funding-total")]
        )
        t = _table(self.doc, widths, heads)
        amounts = {(r.source, int(r.year)): r.amount for r in f.itertuples()}
        right = WD_ALIGN_PARAGRAPH.RIGHT
        aligns = [WD_ALIGN_PARAGRAPH.CENTER] + [right] * (len(sources) + 1)
        col_sum = dict.fromkeys(sources, 0.0)
        col_any = dict.fromkeys(sources, False)
        for y in years:
            vals = [amounts.get((s, y)) for s in sources]
            present = [v for v in vals if v is not None and not pd.isna(v)]
            for s, v in zip(sources, vals, strict=True):
                if v is not None and not pd.isna(v):
                    col_sum[s] += float(v)
                    col_any[s] = True
            _add_row(t, [str(y), *[fmt_amount(v) for v in vals], fmt_amount(sum(present)) if present else ""],
                     widths, aligns)  # fmt: skip
        total = [col_sum[s] if col_any[s] else None for s in sources]
        present = [v for v in total if v is not None]
        row = _add_row(t, [T("report.funding-total"), *[fmt_amount(v) for v in total],
                           fmt_amount(sum(present)) if present else ""], widths, aligns)  # fmt: skip
        for cell in row.cells:
            for r in cell.paragraphs[0].runs:
                r.bold = True
        covered = int(f["units_covered"].sum()) if not f.empty else 0
        _para(self.doc, T("report.funding-covered", covered=covered), italic=True, size=12, before=3)

    def results(self) -> None:
        plan = self.plan
        rows = results_rows(self.c)
        year = max(plan.milestones)
        last = [r for r in rows if r["milestone"] == year]
        met = sum(1 for r in last if r["verdict_code"] in ("dat", "vuot"))
        not_met = [r for r in last if r["verdict_code"] == "khong-dat"]
        table_n, chart_n = self.tables + 1, self.charts + 1
        _para(self.doc, T("report.results-intro", year=year, rated=met + len(not_met), met=met,
                          not_met=len(not_met), other=len(last) - met - len(not_met), table=table_n,
                          chart=chart_n))  # fmt: skip
        if not_met:
            names = "; ".join(f"{r['name']} ({r['rate']}%)" for r in not_met)
            _para(self.doc, T("report.results-not-met", year=year, names=names))
        self.tables += 1
        _para(self.doc, T("report.results-caption", n=self.tables), bold=True, size=12,
              align=WD_ALIGN_PARAGRAPH.CENTER, after=3, keep=True)  # fmt: skip
        widths = [9.0, 51.0, 12.0, 20.0, 20.0, 14.0, 18.0, 21.0]
        heads = [T(f"report.col-{k}") for k in
                 ("stt", "indicator", "milestone", "num", "den", "rate", "target", "verdict")]  # fmt: skip
        t = _table(self.doc, widths, heads)
        center, right, left = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT, WD_ALIGN_PARAGRAPH.LEFT
        aligns = [center, left, center, right, right, right, center, center]
        group = None
        first_of: dict[str, object] = {}
        for r in rows:
            if r["group"] != group:
                group = r["group"]
                g = t.add_row()
                _no_split(g)
                merged = g.cells[0].merge(g.cells[-1])
                name = plan.groups[group].name if group in plan.groups else group
                _cell(merged, name, bold=True)
                _shade(merged, SHADE_GROUP)
                _keep(g)
            row = _add_row(t, [str(r["stt"]), r["name"], str(r["milestone"]), r["num"], r["den"], r["rate"],
                               r["target"], r["verdict"]], widths, aligns)  # fmt: skip
            if r["verdict_code"] == "khong-dat":
                _shade(row.cells[7], SHADE_BAD)
            if r["milestone"] != plan.milestones[-1]:
                _keep(row)
            if r["indicator"] in first_of:  # the indicator's second milestone: merge TT and name
                prev = first_of[r["indicator"]]
                for col in (0, 1):
                    keep = prev.cells[col]
                    row.cells[col]._tc.clear_content()
                    row.cells[col]._tc.append(OxmlElement("w:p"))
                    keep.merge(row.cells[col])
                    # merging concatenates paragraphs: keep only the first one's text
                    for extra in keep.paragraphs[1:]:
                        extra._p.getparent().remove(extra._p)
            else:
                first_of[r["indicator"]] = row
        # the chart
        prev_year = max((m for m in plan.milestones if m < year), default=None)
        previous = {r["indicator"]: r["rate_value"] for r in rows if r["milestone"] == prev_year}
        png, top = chart_png(rows, year, previous)
        self.charts += 1
        p = _para(self.doc, align=WD_ALIGN_PARAGRAPH.CENTER, before=12, after=3)
        p.paragraph_format.keep_with_next = True
        p.add_run().add_picture(BytesIO(png), width=Mm(150))
        cap = _para(self.doc, T("report.chart-caption", n=self.charts, year=year, table=table_n, top=top), bold=True,
              size=12, align=WD_ALIGN_PARAGRAPH.CENTER, after=3)  # fmt: skip
        cap.paragraph_format.keep_with_next = True
        legend = _table(self.doc, [10.0, 90.0])
        for colour, key in ((C_MET, "report.legend-met"), (C_NOT_MET, "report.legend-not-met"),
                            (C_OTHER, "report.legend-other")):  # fmt: skip
            row = _add_row(legend, ["", T(key)], [10.0, 90.0])
            _keep(row)
            _shade(row.cells[0], "".join(f"{v:02X}" for v in colour))
        row = _add_row(legend, ["", T("report.legend-target", previous=prev_year or "")], [10.0, 90.0])
        _cell(row.cells[0], "|", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
        _para(self.doc, after=0)

    def topics(self) -> None:
        """The departments' specific topics ("CD"), when departments report to this level."""
        units = [
            self.plan.units[code]
            for level, codes in self.c.scope.expected.items()
            if layout.template_for(self.plan, level) == "so_nganh"
            for code in codes
        ]
        if not units:
            return
        self.doc.add_heading(T("report.topics-title"), level=2)
        texts = {m.unit: m.sub.narrative().get(layout.TOPIC_ITEM) for m in self.c.members if not m.own}
        for u in units:
            _para(self.doc, u.name, bold=True, after=2)
            if u.topic:
                _para(self.doc, T("report.topic-task", topic=u.topic), italic=True, size=12, after=2)
            text = clean(texts.get(u.code) or "").strip()
            if text:
                _para(self.doc, text)
            else:
                _para(self.doc, T("report.no-text"), italic=True)

    def awards(self, code: str, title: str) -> None:
        groups = award_rows(self.c)
        excluded = len(self.c.nominations) - sum(len(rows) for _, rows in groups)
        if not groups:
            self.heading(code, title)
            _para(self.doc, T("report.no-awards"), italic=True)
            if excluded:
                _para(self.doc, T("report.awards-excluded", count=excluded), italic=True, size=12)
            return
        # the tables need a landscape page: IV gets its own landscape section
        section = self.doc.add_section(WD_SECTION.NEW_PAGE)
        _page(section, landscape=True)
        section.different_first_page_header_footer = False
        self.heading(code, title)
        n_coll = sum(int(_count(rows, "collective")) for _, rows in groups)
        n_ind = sum(int(_count(rows, "individual")) for _, rows in groups)
        _para(self.doc, T("report.awards-intro", collectives=_two(n_coll), individuals=_two(n_ind)))
        widths = [10.0, 18.0, 36.0, 26.0, 32.0, 52.0, 30.0, 24.0, 24.0]
        scale = WIDE_WIDTH / sum(widths)
        widths = [w * scale for w in widths]
        heads = [T(f"report.{k}") for k in AWARD_HEADS]
        center = WD_ALIGN_PARAGRAPH.CENTER
        left = WD_ALIGN_PARAGRAPH.LEFT
        aligns = [center, center, left, left, left, left, left, left, center]
        for i, (award, rows) in enumerate(groups):
            letter = "abcdefghijklmnopqrstuvwxyz"[i % 26]
            _para(self.doc, T("report.awards-level", letter=letter, award=award,
                              collectives=_count(rows, "collective"), individuals=_count(rows, "individual")),
                  bold=True, italic=True, before=6, after=3, keep=True)  # fmt: skip
            t = _table(self.doc, widths, heads)
            for row in rows:
                _add_row(t, row, widths, aligns)
        if excluded:
            _para(self.doc, T("report.awards-excluded", count=excluded), italic=True, size=12, before=6)
        section = self.doc.add_section(WD_SECTION.NEW_PAGE)
        _page(section)
        section.different_first_page_header_footer = False

    # closing ---------------------------------------------------------------------------------
    def closing(self) -> None:
        _para(self.doc, T("report.closing", body=self.issuer.body_text), before=6)
        level = self.issuer.level
        recipients = messages.table().get(f"report.recipients-{level}") or T("report.recipients-default")
        sign = messages.table().get(f"report.sign-{level}") or T("report.sign-default")
        left_w, right_w = 80.0, TEXT_WIDTH - 80.0
        t = _table(self.doc, [left_w, right_w], borders=False)
        cells = t.add_row().cells
        _no_split(t.rows[0])
        _cell(cells[0], T("report.recipients"), bold=True, italic=True, size=12)
        for line in recipients.splitlines():
            p = cells[0].add_paragraph()
            p.paragraph_format.space_after = Pt(0)
            _run(p, line, size=11)
        first = True
        for line in sign.splitlines():
            p = cells[1].paragraphs[0] if first else cells[1].add_paragraph()
            first = False
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.space_after = Pt(0)
            _run(p, line, bold=True, size=14)
        for _ in range(4):
            cells[1].add_paragraph().paragraph_format.space_after = Pt(0)
        p = cells[1].add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(p, T("report.sign-name"), bold=True, size=14)
        for cell, w in zip(cells, (left_w, right_w), strict=True):
            cell.width = Mm(w)

    def build(self):
        self.heading_block()
        self.intro()
        self.outline()
        self.closing()
        props = self.doc.core_properties
        props.title = T("report.title") + " " + self.plan.settings.short_title
        props.author = "xhht_xl"
        stamp = dt.datetime.combine(self.c.as_of, dt.time(0, 0))
        props.created = props.modified = stamp
        props.revision = 1
        return self.doc


def build_report(c, *, number: str = "", date: dt.date | None = None):
    """The report as a python-docx ``Document`` (not saved)."""
    return _Builder(c, number, date).build()


def write_report(c, path: str | Path, *, number: str = "", date: dt.date | None = None) -> Path:
    """The draft review report of consolidation ``c`` as .docx at ``path``, written atomically.

    ``number`` fills the number line ("Số: 123/BC-SGDĐT"), ``date`` the place-date line; both
    are left blank for the clerk when not given.
    """
    doc = build_report(c, number=number, date=date)
    with atomic_path(path) as tmp:
        doc.save(str(tmp))
    return Path(path)


# -- the award list workbook ----------------------------------------------------------------------


def write_award_list(c, path: str | Path) -> Path:
    """The nominations within quota, per award level, as .xlsx (atomic); text stays text."""
    from openpyxl.worksheet.worksheet import Worksheet

    iss = issuer(c)
    wb = Workbook()
    mark_output(wb, "award-list", unit=c.scope.unit, level=c.scope.level)  # intake skips it when found
    ws: Worksheet = wb.active
    ws.title = T("report.award-list-sheet")
    heads = [T(f"report.{k}") for k in AWARD_HEADS]
    widths = [6, 11, 30, 24, 30, 60, 30, 24, 16]
    ncol = len(heads)
    last = layout.col_letter(ncol)
    templates.put(
        ws, (1, 1), T("report.award-list-title"), font=templates.F_TITLE, alignment=templates.CENTER
    )
    ws.merge_cells(f"A1:{last}1")
    ws.row_dimensions[1].height = 36
    templates.put(ws, (2, 1), T("report.award-list-subtitle", body=iss.body_text), font=templates.F_SMALL,
                  alignment=templates.CENTER)  # fmt: skip
    ws.merge_cells(f"A2:{last}2")
    header = 4
    for col, (text, width) in enumerate(zip(heads, widths, strict=True), start=1):
        templates.put(ws, (header, col), text, font=templates.F_HEAD, fill=templates.FILL_HEAD,
                      alignment=templates.CENTER, border=templates.BORDER)  # fmt: skip
        ws.column_dimensions[layout.col_letter(col)].width = width
    ws.row_dimensions[header].height = 32
    wrap = Alignment(wrap_text=True, vertical="top")
    r = header + 1
    groups = award_rows(c)
    for i, (award, rows) in enumerate(groups):
        label = T("report.awards-level", letter="abcdefghijklmnopqrstuvwxyz"[i % 26], award=award,
                  collectives=_count(rows, "collective"), individuals=_count(rows, "individual"))  # fmt: skip
        for col in range(1, ncol + 1):
            templates.put(ws, (r, col), label if col == 1 else None, font=templates.F_GROUP,
                          fill=templates.FILL_GROUP, border=templates.BORDER)  # fmt: skip
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncol)
        r += 1
        for row in rows:
            for col, value in enumerate(row, start=1):
                v = int(value) if col == 1 else value
                templates.put(ws, (r, col), v, alignment=wrap, border=templates.BORDER)
            r += 1
    if not groups:
        templates.put(ws, (r, 1), T("report.no-awards"))
    ws.freeze_panes = f"A{header + 1}"
    ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.properties.creator = "xhht_xl"
    wb.properties.created = wb.properties.modified = dt.datetime.combine(c.as_of, dt.time(0, 0))
    return save_workbook(wb, path)


# -- a picture for the README -----------------------------------------------------------------------


def render_sample(
    png_path: str | Path, consolidation=None, *, dpi: int = 85, work: str | Path | None = None
) -> Path:
    """Page 1 of the province report of the synthetic demo (or of ``consolidation``) as PNG,
    through LibreOffice headless and pdftoppm (developer tool, for docs/bao_cao.png)."""
    from . import demo, lo

    png_path = Path(png_path)
    with tempfile.TemporaryDirectory(prefix="xhht-report-") as tmp:
        folder = Path(work) if work else Path(tmp)
        c = consolidation or demo.run(folder / "demo", say=lambda _s: None).province
        docx = write_report(c, folder / "bao_cao_tong_ket.docx")
        pdf = lo.convert([docx], "pdf", folder / "pdf", folder)[0]
        out = lo.render_png(pdf, folder / "page", page=1, dpi=dpi)
        png_path.parent.mkdir(parents=True, exist_ok=True)
        png_path.write_bytes(out.read_bytes())
    return png_path
