"""Native Word charts (DrawingML) for the report: bar and column charts a clerk can edit in Word.

A chart is a part of the .docx (``word/charts/chartN.xml``) holding the values in its caches,
so Word and LibreOffice draw it with real text in the document's font (Vietnamese labels on the
axes, not digits drawn into a picture); the same values go into an embedded workbook
(``word/embeddings/…xlsx``), which Word opens when the clerk chooses "Edit Data". The chart XML
follows ECMA-376 Part 1, §21.2 (DrawingML Charts), elements in schema order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal

from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.shared import Mm
from lxml import etree
from openpyxl import Workbook

from ..ooxml import col_letter

NS = {
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FONT = "Times New Roman"


@dataclass(frozen=True)
class Series:
    """One series: ``values`` aligned with the chart's categories (None = no bar)."""

    name: str
    values: tuple[float | None, ...]
    colour: str  # RRGGBB
    point_colours: dict[int, str] = field(default_factory=dict)  # category index -> RRGGBB
    labels: bool = False  # print each value at its bar


@dataclass(frozen=True)
class Chart:
    """What a chart shows. ``kind`` "bar" draws horizontal bars (categories down the left axis,
    first category at the top), "column" vertical ones (categories along the bottom)."""

    kind: Literal["bar", "column"]
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    value_title: str
    category_title: str = ""
    stacked: bool = False
    value_min: float | None = None
    value_max: float | None = None
    major_unit: float | None = None
    axis_format: str = "0"  # number format of the value axis (Excel codes; the reader's locale shows it)
    label_format: str = "0.0"
    font_pt: float = 9.0
    sheet: str = "Sheet1"


def _el(tag: str, val: object | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    el = etree.Element(f"{{{NS[prefix]}}}{name}", nsmap={prefix: NS[prefix]})
    if val is not None:
        el.set("val", str(val))
    for k, v in attrs.items():
        el.set(k, v)
    return el


def _sub(parent: etree._Element, tag: str, val: object | None = None, **attrs: str) -> etree._Element:
    el = _el(tag, val, **attrs)
    parent.append(el)
    return el


def _fill(parent: etree._Element, colour: str | None, line: str | None = None) -> etree._Element:
    sp = _sub(parent, "c:spPr")
    if colour:
        _sub(_sub(sp, "a:solidFill"), "a:srgbClr", colour)
    else:
        _sub(sp, "a:noFill")
    ln = _sub(sp, "a:ln")
    if line:
        _sub(_sub(ln, "a:solidFill"), "a:srgbClr", line)
    else:
        _sub(ln, "a:noFill")
    return sp


def _text_props(parent: etree._Element, size_pt: float, bold: bool = False, rotate: int | None = None) -> None:
    """Font of a chart element: Times New Roman for Latin and complex scripts, ``size_pt``."""
    p = _rich_paragraph(_sub(parent, "c:txPr"), size_pt, bold, rotate, ("a:latin", "a:ea", "a:cs"))
    _sub(p, "a:endParaRPr", lang="vi-VN")


def _title(parent: etree._Element, text: str, size_pt: float, rotate: int | None = None) -> None:
    title = _sub(parent, "c:title")
    scripts = ("a:latin", "a:cs")
    p = _rich_paragraph(_sub(_sub(title, "c:tx"), "c:rich"), size_pt, False, rotate, scripts)
    r = _sub(p, "a:r")
    rpr = _sub(r, "a:rPr", lang="vi-VN", sz=str(round(size_pt * 100)), b="0")
    for tag in scripts:
        _sub(rpr, tag, typeface=FONT)
    _sub(r, "a:t").text = text
    _sub(title, "c:overlay", 0)


def _rich_paragraph(tx: etree._Element, size_pt: float, bold: bool, rotate: int | None,
                    scripts: tuple[str, ...]) -> etree._Element:  # fmt: skip
    """The body, list style and first paragraph of a chart text element ``tx`` (``c:txPr`` or
    ``c:rich``), its default run in Times New Roman at ``size_pt`` for ``scripts``; the paragraph."""
    body = _sub(tx, "a:bodyPr")
    if rotate is not None:
        body.set("rot", str(rotate))
        body.set("vert", "horz")
    _sub(tx, "a:lstStyle")
    p = _sub(tx, "a:p")
    d = _sub(_sub(p, "a:pPr"), "a:defRPr", sz=str(round(size_pt * 100)), b="1" if bold else "0")
    for tag in scripts:
        _sub(d, tag, typeface=FONT)
    return p


def _ref(sheet: str, col: int, first: int, last: int) -> str:
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!${col_letter(col + 1)}${first}:${col_letter(col + 1)}${last}"


def chart_xml(chart: Chart, workbook_rid: str | None) -> bytes:
    """The ``c:chartSpace`` part of ``chart`` (values cached in the part; data in column A = categories,
    B… = series, row 1 = headers, of ``chart.sheet`` in the embedded workbook)."""
    n = len(chart.categories)
    space = _el("c:chartSpace")
    _sub(space, "c:date1904", 0)
    _sub(space, "c:lang", "vi-VN")
    _sub(space, "c:roundedCorners", 0)
    ch = _sub(space, "c:chart")
    _sub(ch, "c:autoTitleDeleted", 1)
    plot = _sub(ch, "c:plotArea")
    _sub(plot, "c:layout")
    bar = _sub(plot, "c:barChart")
    _sub(bar, "c:barDir", "bar" if chart.kind == "bar" else "col")
    _sub(bar, "c:grouping", "stacked" if chart.stacked else "clustered")
    _sub(bar, "c:varyColors", 0)
    for k, s in enumerate(chart.series):
        ser = _sub(bar, "c:ser")
        _sub(ser, "c:idx", k)
        _sub(ser, "c:order", k)
        tx = _sub(_sub(ser, "c:tx"), "c:strRef")
        _sub(tx, "c:f").text = _ref(chart.sheet, k + 1, 1, 1).split(":")[0]
        cache = _sub(tx, "c:strCache")
        _sub(cache, "c:ptCount", 1)
        _sub(_sub(cache, "c:pt", idx="0"), "c:v").text = s.name
        _fill(ser, s.colour)
        _sub(ser, "c:invertIfNegative", 0)
        for idx, colour in sorted(s.point_colours.items()):
            dpt = _sub(ser, "c:dPt")
            _sub(dpt, "c:idx", idx)
            _sub(dpt, "c:invertIfNegative", 0)
            _sub(dpt, "c:bubble3D", 0)
            _fill(dpt, colour)
        if s.labels:
            lbls = _sub(ser, "c:dLbls")
            _sub(lbls, "c:numFmt", formatCode=chart.label_format, sourceLinked="0")
            _fill(lbls, None)
            _text_props(lbls, chart.font_pt)
            _sub(lbls, "c:dLblPos", "outEnd")
            for flag, v in (("showLegendKey", 0), ("showVal", 1), ("showCatName", 0), ("showSerName", 0),
                            ("showPercent", 0), ("showBubbleSize", 0)):  # fmt: skip
                _sub(lbls, f"c:{flag}", v)
        cat = _sub(_sub(ser, "c:cat"), "c:strRef")
        _sub(cat, "c:f").text = _ref(chart.sheet, 0, 2, n + 1)
        cache = _sub(cat, "c:strCache")
        _sub(cache, "c:ptCount", n)
        for i, name in enumerate(chart.categories):
            _sub(_sub(cache, "c:pt", idx=str(i)), "c:v").text = name
        val = _sub(_sub(ser, "c:val"), "c:numRef")
        _sub(val, "c:f").text = _ref(chart.sheet, k + 1, 2, n + 1)
        cache = _sub(val, "c:numCache")
        _sub(cache, "c:formatCode").text = chart.label_format
        _sub(cache, "c:ptCount", n)
        for i, v in enumerate(s.values):
            if v is not None:
                _sub(_sub(cache, "c:pt", idx=str(i)), "c:v").text = repr(float(v))
    _sub(bar, "c:gapWidth", 40 if chart.kind == "bar" else 60)
    if chart.stacked:
        _sub(bar, "c:overlap", 100)
    _sub(bar, "c:axId", 1001)
    _sub(bar, "c:axId", 1002)
    horizontal = chart.kind == "bar"
    cat_ax = _sub(plot, "c:catAx")
    _sub(cat_ax, "c:axId", 1001)
    _sub(_sub(cat_ax, "c:scaling"), "c:orientation", "maxMin" if horizontal else "minMax")
    _sub(cat_ax, "c:delete", 0)
    _sub(cat_ax, "c:axPos", "l" if horizontal else "b")
    if chart.category_title:
        _title(cat_ax, chart.category_title, chart.font_pt, rotate=-5400000 if horizontal else None)
    _sub(cat_ax, "c:numFmt", formatCode="General", sourceLinked="0")
    _sub(cat_ax, "c:majorTickMark", "none")
    _sub(cat_ax, "c:minorTickMark", "none")
    _sub(cat_ax, "c:tickLblPos", "nextTo")
    _fill(cat_ax, None, "808080")
    _text_props(cat_ax, chart.font_pt)
    _sub(cat_ax, "c:crossAx", 1002)
    _sub(cat_ax, "c:crosses", "autoZero")
    _sub(cat_ax, "c:auto", 1)
    _sub(cat_ax, "c:lblAlgn", "ctr")
    _sub(cat_ax, "c:lblOffset", 100)
    _sub(cat_ax, "c:tickLblSkip", 1)
    _sub(cat_ax, "c:noMultiLvlLbl", 0)
    val_ax = _sub(plot, "c:valAx")
    _sub(val_ax, "c:axId", 1002)
    scaling = _sub(val_ax, "c:scaling")
    _sub(scaling, "c:orientation", "minMax")
    if chart.value_max is not None:
        _sub(scaling, "c:max", chart.value_max)
    if chart.value_min is not None:
        _sub(scaling, "c:min", chart.value_min)
    _sub(val_ax, "c:delete", 0)
    _sub(val_ax, "c:axPos", "b" if horizontal else "l")
    grid = _sub(val_ax, "c:majorGridlines")
    ln = _sub(_sub(grid, "c:spPr"), "a:ln", w="3175")
    _sub(_sub(ln, "a:solidFill"), "a:srgbClr", "D9D9D9")
    _title(val_ax, chart.value_title, chart.font_pt, rotate=None if horizontal else -5400000)
    _sub(val_ax, "c:numFmt", formatCode=chart.axis_format, sourceLinked="0")
    _sub(val_ax, "c:majorTickMark", "out")
    _sub(val_ax, "c:minorTickMark", "none")
    _sub(val_ax, "c:tickLblPos", "nextTo")
    _fill(val_ax, None, "808080")
    _text_props(val_ax, chart.font_pt)
    _sub(val_ax, "c:crossAx", 1001)
    # horizontal bars list the first category at the top (maxMin): the value axis then crosses at
    # the last category so that it stays at the bottom
    _sub(val_ax, "c:crosses", "max" if horizontal else "autoZero")
    _sub(val_ax, "c:crossBetween", "between")
    if chart.major_unit is not None:
        _sub(val_ax, "c:majorUnit", chart.major_unit)
    _fill(plot, None)
    legend = _sub(ch, "c:legend")
    _sub(legend, "c:legendPos", "b")
    _sub(legend, "c:overlay", 0)
    _text_props(legend, chart.font_pt)
    _sub(ch, "c:plotVisOnly", 1)
    _sub(ch, "c:dispBlanksAs", "gap")
    _fill(space, "FFFFFF")
    _text_props(space, chart.font_pt)
    if workbook_rid:
        ext = _sub(space, "c:externalData")
        ext.set(f"{{{NS['r']}}}id", workbook_rid)
        _sub(ext, "c:autoUpdate", 0)
    return etree.tostring(space, xml_declaration=True, encoding="UTF-8", standalone=True)


def workbook_bytes(chart: Chart, head: str) -> bytes:
    """The chart's data as an .xlsx (what Word's "Edit Data" opens): column A the categories
    under ``head``, one column per series."""
    wb = Workbook()
    ws = wb.active
    ws.title = chart.sheet
    ws.cell(1, 1, head)
    for k, s in enumerate(chart.series):
        ws.cell(1, k + 2, s.name)
    for i, name in enumerate(chart.categories):
        c = ws.cell(i + 2, 1, name)
        c.data_type = "s"  # a category is text even when it starts with "="
        for k, s in enumerate(chart.series):
            if s.values[i] is not None:
                ws.cell(i + 2, k + 2, float(s.values[i])).number_format = chart.label_format
    ws.column_dimensions["A"].width = 60
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def add_chart(run, chart: Chart, width_mm: float, height_mm: float, name: str, head: str = "") -> None:
    """Insert ``chart`` into python-docx ``run`` as an inline drawing ``width_mm`` × ``height_mm``,
    with its data workbook embedded."""
    doc_part = run.part
    package = doc_part.package
    partname = package.next_partname("/word/charts/chart%d.xml")
    chart_part = Part(partname, CT.DML_CHART, b"", package)
    book_name = package.next_partname("/word/embeddings/Microsoft_Excel_Worksheet%d.xlsx")
    book = Part(PackURI(book_name), XLSX, workbook_bytes(chart, head or chart.value_title), package)
    rid_book = chart_part.relate_to(book, RT.PACKAGE)
    chart_part._blob = chart_xml(chart, rid_book)
    rid = doc_part.relate_to(chart_part, RT.CHART)
    shape_id = len(list(package.iter_parts())) + 1000
    cx, cy = Mm(width_mm).emu, Mm(height_mm).emu
    xml = (
        f'<wp:inline distT="0" distB="0" distL="0" distR="0" xmlns:wp="{NS["wp"]}" xmlns:a="{NS["a"]}" '
        f'xmlns:c="{NS["c"]}" xmlns:r="{NS["r"]}"><wp:extent cx="{cx}" cy="{cy}"/>'
        f'<wp:effectExtent l="0" t="0" r="0" b="0"/><wp:docPr id="{shape_id}" name="{_attr(name)}"/>'
        "<wp:cNvGraphicFramePr/><a:graphic>"
        f'<a:graphicData uri="{NS["c"]}"><c:chart r:id="{rid}"/></a:graphicData></a:graphic></wp:inline>'
    )
    drawing = parse_xml(f'<w:drawing xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                        f"{xml}</w:drawing>")  # fmt: skip
    run._r.append(drawing)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
