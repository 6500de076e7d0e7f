"""How the draft looks: a :class:`~.model.Draft` laid out as a Word document.

The form is that of an administrative document under Nghị định 30/2020/NĐ-CP, Phụ lục I: A4
portrait, margins top/bottom 20 mm, left 30 mm, right 15 mm; Times New Roman; the issuing body
and the national heading side by side with short rules under them; number and place-date lines;
the document type and summary centred in bold; page numbers centred in the header from page 2;
recipients (12/11 pt) and the signature block (14 pt bold) side by side; each annex on a new page
under «PHỤ LỤC …» with the line saying which document it is attached to.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from functools import cache
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.oxml.simpletypes import ST_Merge
from docx.shared import Mm, Pt, RGBColor
from docx.table import _Row
from docx.text.paragraph import Paragraph
from lxml import etree

from .. import messages
from .chart import add_chart
from .model import Annex, Block, Draft, Figure, Heading, Letterhead, Para, Table
from .text import clean

T = messages.text
FONT = "Times New Roman"
BODY_PT = 14
NOTE_PT = 12
ANNEX_PT = 12
PAGE = {"width": 210, "height": 297, "top": 20, "bottom": 20, "left": 30, "right": 15}
TEXT_WIDTH = PAGE["width"] - PAGE["left"] - PAGE["right"]
SHADE_HEAD = "D9E1F2"
SHADE_GROUP = "EDEDED"
INDENT = Mm(10)
ALIGN = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER, "right": WD_ALIGN_PARAGRAPH.RIGHT}


# -- low-level Word helpers -------------------------------------------------------------------------


def _fonts(element) -> None:
    """Times New Roman for every script (ascii, hAnsi, east Asian, complex), no theme fonts."""
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)


def _language(doc) -> None:
    """Vietnamese as the document language (spelling, and number display of charts in Word)."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    for attr in ("val", "eastAsia"):
        lang.set(qn(f"w:{attr}"), "vi-VN")


def _setup_styles(doc) -> None:
    _language(doc)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    _fonts(normal.element)
    pf = normal.paragraph_format
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(4), 1.1
    pf.widow_control = True
    for level, italic in ((1, False), (2, False), (3, True)):
        style = doc.styles[f"Heading {level}"]
        style.font.name = FONT
        style.font.size = Pt(BODY_PT)
        style.font.bold = True
        style.font.italic = italic
        style.font.all_caps = level == 1
        style.font.color.rgb = RGBColor(0, 0, 0)
        _fonts(style.element)
        hf = style.paragraph_format
        hf.space_before, hf.space_after, hf.keep_with_next = Pt(6), Pt(4), True
        hf.first_line_indent = Mm(0) if level == 1 else INDENT
        hf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        hf.line_spacing = 1.1


def _run(p, text: str, *, bold=False, italic=False, size=None, caps=False):
    r = p.add_run(clean(text))
    r.bold, r.italic = bold or None, italic or None
    if caps:
        r.font.all_caps = True
    if size:
        r.font.size = Pt(size)
    return r


def _para(container, text: str = "", *, bold=False, italic=False, size=None, align=None, indent=True,
          after=None, before=None, keep=False):  # fmt: skip
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.keep_with_next = keep or None
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY if align is None else align
    if indent and align is None:
        pf.first_line_indent = INDENT
    if after is not None:
        pf.space_after = Pt(after)
    if before is not None:
        pf.space_before = Pt(before)
    if text:
        _run(p, text, bold=bold, italic=italic, size=size)
    return p


def _rule(container, width_mm: float, cell_mm: float, after: float = 0):
    """A short centred horizontal line: an empty paragraph with a bottom border, narrowed by indents."""
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.alignment = WD_ALIGN_PARAGRAPH.CENTER
    side = max(0.0, (cell_mm - width_mm) / 2)
    pf.left_indent, pf.right_indent = Mm(side), Mm(side)
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(after), Pt(5)
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{k}"), v)
    border.append(bottom)
    p._p.get_or_add_pPr().append(border)
    p.add_run().font.size = Pt(2)
    return p


def _shade(cell, hex_color: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), hex_color)
    cell._tc.get_or_add_tcPr().append(shd)


def _row_flag(row, tag: str) -> None:
    el = OxmlElement(tag)
    if tag == "w:tblHeader":
        el.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(el)


def _cell(cell, text: object, *, bold=False, italic=False, align=WD_ALIGN_PARAGRAPH.LEFT, size=11.0):
    p = cell.paragraphs[0]
    pf = p.paragraph_format
    pf.alignment = align
    pf.space_after = Pt(0)
    pf.first_line_indent = Mm(0)
    pf.line_spacing = 1.0
    text = clean(text)
    if text:
        _run(p, text, bold=bold, italic=italic, size=size)
    return cell


_STYLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # document part -> {name: style}


def _style(container, name: str):
    """The style ``name`` of ``container``'s document as an object, looked up once per document:
    given a name, python-docx searches every style for it each time (~2 ms; a report sets ~40)."""
    found = _STYLES.setdefault(container.part, {})
    style = found.get(name)
    if style is None:
        style = found[name] = container.part.document.styles[name]
    return style


def _grid(container, widths_mm: list[float], *, borders: bool = True):
    table = container.add_table(rows=0, cols=len(widths_mm))
    if borders:
        table.style = _style(container, "Table Grid")
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for col, w in zip(table.columns, widths_mm, strict=True):
        col.width = Mm(w)
    return table


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


def _page(section) -> None:
    section.page_width, section.page_height = Mm(PAGE["width"]), Mm(PAGE["height"])
    section.top_margin, section.bottom_margin = Mm(PAGE["top"]), Mm(PAGE["bottom"])
    section.left_margin, section.right_margin = Mm(PAGE["left"]), Mm(PAGE["right"])
    section.header_distance, section.footer_distance = Mm(10), Mm(10)


# -- the parts ------------------------------------------------------------------------------------------


def _heading_block(doc, head: Letterhead) -> None:
    left_w, right_w = 70.0, TEXT_WIDTH - 70.0
    t = _grid(doc, [left_w, right_w], borders=False)
    lc, rc = t.add_row().cells
    p = lc.paragraphs[0]
    first = True
    for text, bold in ([(head.parent, False)] if head.parent else []) + [(line, True) for line in head.body]:
        if not first:
            p = lc.add_paragraph()
        first = False
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.line_spacing = 1.0
        _run(p, text, bold=bold, size=12.5)
    _rule(lc, 26, left_w, after=4)
    p = rc.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)
    _run(p, T("report.nation"), bold=True, size=12)
    p = rc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)
    _run(p, T("report.motto"), bold=True, size=13)
    _rule(rc, 56, right_w, after=4)
    number, place = t.add_row().cells
    _cell(number, head.number, align=WD_ALIGN_PARAGRAPH.CENTER, size=13)
    _cell(place, head.place_date, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=14)
    for row in t.rows:
        for cell, w in zip(row.cells, (left_w, right_w), strict=True):
            cell.width = Mm(w)
    _para(doc, head.kind, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, before=14, after=0)
    for line in head.summary:
        _para(doc, line, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    _rule(doc, 40, TEXT_WIDTH, after=4)
    if head.addressee:
        _para(doc, head.addressee, align=WD_ALIGN_PARAGRAPH.CENTER, before=6, after=6)
    _para(doc, head.draft_note, italic=True, size=NOTE_PT, align=WD_ALIGN_PARAGRAPH.CENTER, after=8)


def _paragraph(doc, block: Para, *, fast: bool = True) -> None:
    """A body paragraph of ``block.kind`` (see :class:`~.model.Para`). With ``fast`` it is built as
    one piece of XML (``_plain_para``: the elements python-docx makes, a tenth of the cost);
    ``fast=False`` builds it through python-docx (the reference the fast path is tested against)."""
    if fast:
        doc.element.body._insert_p(_plain_para(block))
        return
    p = doc.add_paragraph()
    size = _para_format(p, block.kind)
    if block.kind == "bullet":
        _run(p, "- ")
    for r in block.runs:
        _run(p, r.text, bold=r.bold, italic=r.italic or block.kind == "note", size=size)


def _para_format(p, kind: str) -> float | None:
    """Set paragraph ``p``'s format for a body paragraph of ``kind``; the runs' size (pt) or None."""
    pf = p.paragraph_format
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    size = None
    if kind in ("body", "own", "bullet"):
        pf.first_line_indent = INDENT
    elif kind == "note":
        size = NOTE_PT
        pf.first_line_indent = INDENT
    elif kind == "quote":
        pf.left_indent = INDENT
        pf.space_after = Pt(3)
        size = 13
    elif kind == "annex":
        size = ANNEX_PT
        pf.first_line_indent = INDENT
        pf.space_after = Pt(2)
        pf.line_spacing = 1.0
    return size


_NS_DECL = re.compile(r' xmlns:\w+="[^"]*"')


def _xml(element) -> str:
    """``element`` serialised without namespace declarations (it goes inside a ``<w:p>`` that has them)."""
    return _NS_DECL.sub("", etree.tostring(element, encoding="unicode"))


@cache
def _para_props(kind: str) -> tuple[str, float | None]:
    """The ``<w:pPr>`` python-docx writes for a body paragraph of ``kind``, and its runs' size."""
    p = Paragraph(OxmlElement("w:p"), None)
    size = _para_format(p, kind)
    return _xml(p._p.pPr), size


@cache
def _run_props(bold: bool, italic: bool, size: float | None) -> str:
    """The ``<w:rPr>`` ``_run`` writes for these flags."""
    r = _run(Paragraph(OxmlElement("w:p"), None), "", bold=bold, italic=italic, size=size)
    return _xml(r._r.rPr)


_BREAKS = re.compile(r"([\t\n])")


def _run_xml(text: str, bold: bool, italic: bool, size: float | None) -> str:
    """One ``<w:r>`` as ``_run`` builds it: the text in ``<w:t>`` pieces (kept spaces marked), each tab
    a ``<w:tab/>``, each line end a ``<w:br/>``."""
    out = ["<w:r>", _run_props(bold, italic, size)]
    for piece in _BREAKS.split(clean(text)):
        if piece == "\t":
            out.append("<w:tab/>")
        elif piece == "\n":
            out.append("<w:br/>")
        elif piece:
            space = ' xml:space="preserve"' if piece != piece.strip() else ""
            out.append(f"<w:t{space}>{escape(piece)}</w:t>")
    out.append("</w:r>")
    return "".join(out)


def _plain_para(block: Para):
    """One ``<w:p>`` exactly as ``_paragraph(..., fast=False)`` builds it."""
    props, size = _para_props(block.kind)
    out = [f"<w:p {nsdecls('w')}>", props]
    if block.kind == "bullet":
        out.append(_run_xml("- ", False, False, None))
    for r in block.runs:
        out.append(_run_xml(r.text, r.bold, r.italic or block.kind == "note", size))
    out.append("</w:p>")
    return parse_xml("".join(out))


def _table(doc, block: Table, *, fast: bool = True) -> None:
    """``block`` as a Word table: a shaded header row repeated on every page, rows never split
    across pages. With ``fast`` each row is written as one piece of XML (``_plain_row``: the
    elements python-docx makes, a tenth of the cost; a row merged with the row above marks the
    cell above as python-docx's merge does), except a merge under a group heading; ``fast=False``
    builds every row through python-docx (the reference the fast rows are tested against)."""
    _para(doc, block.caption, bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER, before=4, after=3, keep=True)
    widths = block.widths
    t = _grid(doc, widths)
    size = block.font_pt
    twips = [Mm(w).twips for w in widths]
    if fast:
        t._tbl.append(_plain_row(block.heads, twips, [WD_ALIGN_PARAGRAPH.CENTER] * len(widths), size, bold=True,
                                 shade=dict.fromkeys(range(len(widths)), SHADE_HEAD), header=True))  # fmt: skip
    else:
        head = t.add_row()
        _row_flag(head, "w:tblHeader")
        _row_flag(head, "w:cantSplit")
        for cell, text, w in zip(head.cells, block.heads, widths, strict=True):
            cell.width = Mm(w)
            _cell(cell, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=size)
            _shade(cell, SHADE_HEAD)
    aligns = [ALIGN[a] for a in block.aligns]
    previous = None
    for spec in block.rows:
        if fast and spec.kind == "group":  # one cell across the table
            tr = _plain_row(spec.cells[:1], [sum(twips)], [WD_ALIGN_PARAGRAPH.LEFT], size, bold=True,
                            shade={0: SHADE_GROUP}, keep=spec.keep_with_next, span=len(widths))  # fmt: skip
        elif fast and spec.kind != "group" and _joinable(previous, spec.merge_up, len(widths)):
            for i in spec.merge_up:  # what python-docx's vertical merge does to the cell above
                _span_start(t._tbl, i, spec.keep_with_next)
            tr = _plain_row(spec.cells, twips, aligns, size, bold=spec.kind == "total", shade=spec.shade,
                            keep=spec.keep_with_next, merged=spec.merge_up)  # fmt: skip
        else:
            tr = None
        if tr is not None:
            t._tbl.append(tr)
            previous = _Row(tr, t)
            continue
        row = t.add_row()
        _row_flag(row, "w:cantSplit")
        cells = row.cells
        for cell, w in zip(cells, widths, strict=True):
            cell.width = Mm(w)
        if spec.kind == "group":
            merged = cells[0].merge(cells[-1])
            _cell(merged, spec.cells[0], bold=True, size=size)
            _shade(merged, SHADE_GROUP)
        else:
            for i, (cell, text) in enumerate(zip(cells, spec.cells, strict=True)):
                _cell(cell, text, bold=spec.kind == "total", align=aligns[i], size=size)
            for i, colour in spec.shade.items():
                _shade(cells[i], colour)
            for i in spec.merge_up:
                if previous is not None:
                    keep = previous.cells[i]
                    cells[i]._tc.clear_content()
                    cells[i]._tc.append(OxmlElement("w:p"))
                    keep.merge(cells[i])
                    for extra in keep.paragraphs[1:]:  # merging joins paragraphs: keep the first's text
                        extra._p.getparent().remove(extra._p)
        if spec.keep_with_next:
            for cell in row.cells:
                for p in cell.paragraphs:
                    p.paragraph_format.keep_with_next = True
        previous = row
    if block.note:
        _para(doc, block.note, italic=True, size=11, before=2)
    else:
        _para(doc, after=0).paragraph_format.space_after = Pt(2)


def _joinable(previous, merge_up, columns: int) -> bool:
    """Whether a row's ``merge_up`` columns can be written by the fast path: none, or the row above
    has one cell per column (not a group heading across the table)."""
    return not merge_up or (previous is not None and len(previous._tr.tc_lst) == columns)


def _span_start(tbl, column: int, keep: bool) -> None:
    """The cell above a cell merged up at ``column`` as python-docx's ``merge`` leaves it: the first
    cell of the vertical span (walking up past continuations) marked as its start; with ``keep``
    its paragraphs kept with the next (``row.cells`` of the merged row return that cell)."""
    for tr in reversed(tbl.tr_lst):
        owner = tr.tc_lst[column]
        if owner.vMerge != ST_Merge.CONTINUE:
            break
    if owner.vMerge is None:
        owner.vMerge = ST_Merge.RESTART
    if keep:
        for p in owner.p_lst:
            Paragraph(p, None).paragraph_format.keep_with_next = True


def _plain_row(texts, widths_twips, aligns, size: float, *, bold: bool = False, shade=None, keep: bool = False,
               header: bool = False, span: int = 1, merged=()):  # fmt: skip
    """One ``<w:tr>`` exactly as ``t.add_row()`` and ``_cell``/``_shade``/``_row_flag`` (and for a
    group heading, ``merge`` of the whole row: one cell spanning ``span`` grid columns) build it:
    each cell as wide as given (twips), its text in one run (bold, ``size`` pt), aligned, shaded
    ``{column: RRGGBB}``, kept with the next row when ``keep``; the header flag on a ``header`` row.
    ``merged`` columns continue the cell above (``_span_start`` marks it): empty, their text dropped."""
    shade = shade or {}
    flags = '<w:tblHeader w:val="true"/><w:cantSplit/>' if header else "<w:cantSplit/>"
    out = [f"<w:tr {nsdecls('w')}><w:trPr>{flags}</w:trPr>"]
    spanned = f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
    for i, (text, w, align) in enumerate(zip(texts, widths_twips, aligns, strict=True)):
        fill = f'<w:shd w:val="clear" w:color="auto" w:fill="{shade[i]}"/>' if i in shade else ""
        if i in merged:
            out.append(f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{w}"/><w:vMerge/>{fill}</w:tcPr><w:p/></w:tc>')
            continue
        out.append(f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{w}"/>{spanned}{fill}</w:tcPr><w:p><w:pPr>'
                   f'{"<w:keepNext/>" if keep else ""}<w:spacing w:after="0" w:line="240" w:lineRule="auto"/>'
                   f'<w:ind w:firstLine="0"/><w:jc w:val="{align.xml_value}"/></w:pPr>')  # fmt: skip
        if clean(text):
            out.append(_run_xml(text, bold, False, size))
        out.append("</w:p></w:tc>")
    out.append("</w:tr>")
    return parse_xml("".join(out))


def _figure(doc, block: Figure, n: int) -> None:
    p = _para(doc, align=WD_ALIGN_PARAGRAPH.CENTER, before=6, after=2, keep=True)
    add_chart(p.add_run(), block.chart, block.width_mm, block.height_mm, T("report.chart-name", n=n),
              head=T("report.chart-data-head"))  # fmt: skip
    _para(doc, block.caption, bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER, after=2,
          keep=bool(block.note))  # fmt: skip
    if block.note:
        _para(doc, block.note, italic=True, size=11, align=WD_ALIGN_PARAGRAPH.CENTER, after=6)


def _blocks(doc, blocks: list[Block], annex: bool = False) -> None:
    figures = 0
    for b in blocks:
        if isinstance(b, Heading):
            if annex:
                _para(doc, b.text, bold=True, size=13, align=WD_ALIGN_PARAGRAPH.LEFT, before=8, after=3, keep=True)
            else:
                # doc.add_heading(b.text, level=b.level), with the style looked up once
                doc.add_paragraph(b.text, _style(doc, "Title" if b.level == 0 else f"Heading {b.level}"))
        elif isinstance(b, Para):
            _paragraph(doc, b)
        elif isinstance(b, Table):
            _table(doc, b)
        elif isinstance(b, Figure):
            figures += 1
            _figure(doc, b, figures)


def _closing(doc, head: Letterhead) -> None:
    if head.closing:
        _para(doc, head.closing, before=4, keep=True)  # the closing sentence stays with the signature
    left_w, right_w = 82.0, TEXT_WIDTH - 82.0
    t = _grid(doc, [left_w, right_w], borders=False)
    row = t.add_row()
    _row_flag(row, "w:cantSplit")
    left, right = row.cells
    _cell(left, T("report.recipients"), bold=True, italic=True, size=12)
    for line in head.recipients:
        p = left.add_paragraph()
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.line_spacing = 1.0
        _run(p, line, size=11)
    for i, line in enumerate(head.signer):
        p = right.paragraphs[0] if i == 0 else right.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.line_spacing = 1.0
        _run(p, line, bold=True, size=14)
    for _ in range(4):
        right.add_paragraph().paragraph_format.space_after = Pt(0)
    p = right.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(p, head.sign_name, bold=True, size=14)
    for cell, w in zip(row.cells, (left_w, right_w), strict=True):
        cell.width = Mm(w)


def _annex(doc, annex: Annex, head: Letterhead) -> None:
    label = _para(doc, T("report.annex-label", number=annex.number), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
                  after=0, keep=True)  # fmt: skip
    label.paragraph_format.page_break_before = True
    _para(doc, annex.title, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0, keep=True)
    if head.attached:
        _para(doc, head.attached, italic=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER, after=0, keep=True)
    _rule(doc, 40, TEXT_WIDTH, after=6)
    _blocks(doc, annex.blocks, annex=True)


def render(draft: Draft, as_of: dt.date):
    """The python-docx ``Document`` of ``draft`` (not saved); properties dated ``as_of`` so two
    runs on the same data give the same document."""
    doc = Document()
    _setup_styles(doc)
    section = doc.sections[0]
    _page(section)
    section.different_first_page_header_footer = True
    hp = section.header.paragraphs[0]
    hp.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _field(hp, "PAGE")
    _heading_block(doc, draft.head)
    _blocks(doc, draft.blocks)
    _closing(doc, draft.head)
    for annex in draft.annexes:
        _annex(doc, annex, draft.head)
    props = doc.core_properties
    props.title = draft.title
    props.author = "xhht_xl"
    props.created = props.modified = dt.datetime.combine(as_of, dt.time(0, 0))
    props.revision = 1
    return doc
