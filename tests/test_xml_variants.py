"""Semantically equal XML reads the same: a filled commune workbook rewritten the many ways the
spec allows (ECMA-376 Part 1 and 2, XML 1.0) gives identical entries and identical issues.

Variants: optional attributes (``r`` of cells and rows, ``t="n"``, ``s="0"``, ``spans``) present
or absent, attribute order, whitespace and line breaks between tags, namespace prefixes, inline
vs shared strings, ``dimension`` present/absent/wrong/"A0", part-name case, declared encoding
(UTF-8, UTF-16, ISO-8859-1 with character references).
"""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path

import pytest
from helpers import clean_values, write_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from xhht_xl import layout, validate

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
SST_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
SST_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"


def q(local: str) -> str:
    return f"{{{NS}}}{local}"


@pytest.fixture(scope="module")
def source(tmp_path_factory, plan):
    """A filled commune workbook with a few findings of each kind, and how it reads."""
    values = clean_values(plan)
    values[("kq", "GDHT", 2020, "num")] = -3  # an error
    values[("kq", "DHHT", 2015, "den")] = "1.234"  # a number typed as text: a warning
    values[("bc", "I.1")] = "Kết quả: 100% xã có «Trung tâm học tập cộng đồng» & thư viện <mới>."
    lay = layout.build(plan, "chung")
    typed = lay.inputs[("kq", "DHHT", 2020, "num")]

    def mutate(wb):
        wb[typed.sheet][typed.ref].value = "=1200+33"  # a formula typed into an input cell

    path = write_book(tmp_path_factory.mktemp("src") / "27712.xlsx", plan, "xa", values, mutate)
    v = validate(path, plan)
    codes = v.report.codes()
    assert {"count-negative", "number-as-text", "formula-in-input"} <= set(codes), codes
    return path, v


def _entries(v):
    return {k: (e.value, e.sheet, e.cell, e.status) for k, e in v.submission.entries.items()}


variant = st.fixed_dictionaries(
    {
        "drop_cell_r": st.sampled_from(["none", "some", "all"]),
        "drop_row_r": st.booleans(),
        "drop_defaults": st.booleans(),
        "shuffle_attrs": st.booleans(),
        "indent": st.booleans(),
        "prefix": st.sampled_from(["", "x", "main"]),
        "shared_strings": st.booleans(),
        "dimension": st.sampled_from(["keep", "drop", "wrong", "row0"]),
        "part_case": st.booleans(),
        "encoding": st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1"]),
        "seed": st.integers(0, 2**16),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(v=variant)
def test_equal_xml_reads_the_same(tmp_path_factory, plan, source, v):
    path, want = source
    out = tmp_path_factory.mktemp("variant") / path.name
    rewrite(path, out, v)
    got = validate(out, plan)
    assert got.submission is not None, (v, got.report.codes())
    assert _entries(got) == _entries(want), v
    assert [(i.code, i.severity, i.sheet, i.cell, i.message) for i in got.report] == [
        (i.code, i.severity, i.sheet, i.cell, i.message) for i in want.report
    ], v


def rewrite(src: Path, dst: Path, v: dict) -> None:
    """``src`` rewritten as variant ``v`` (see the module doc): same meaning, other bytes."""
    rnd = random.Random(v["seed"])
    with zipfile.ZipFile(src) as zin:
        parts = {i.filename: zin.read(i) for i in zin.infolist()}
    sheets = [n for n in parts if n.startswith("xl/worksheets/") and n.endswith(".xml")]
    strings: list[str] = []
    for name in sheets:
        root = etree.fromstring(parts[name])
        _sheet_variant(root, v, rnd, strings if v["shared_strings"] else None)
        parts[name] = _serialize(_reprefix(root, v["prefix"]), v["encoding"], v["indent"])
    if v["shared_strings"] and strings:
        _add_shared_strings(parts, strings, v)
    for name in ("xl/workbook.xml", "xl/styles.xml"):
        root = etree.fromstring(parts[name])
        if v["shuffle_attrs"]:
            _shuffle(root, rnd)
        parts[name] = _serialize(_reprefix(root, v["prefix"]), v["encoding"], v["indent"])
    renamed = {}
    if v["part_case"]:  # OPC part names compare case-insensitively (ECMA-376 Part 2, 9.1.1.1.2)
        renamed = {n: n.replace("worksheets/sheet", "worksheets/Sheet") for n in sheets}
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in parts.items():
            zout.writestr(renamed.get(name, name), data)


def _sheet_variant(root, v: dict, rnd: random.Random, strings: list[str] | None) -> None:
    dims = root.findall(q("dimension"))
    for dim in dims:
        if v["dimension"] == "drop":
            root.remove(dim)
        elif v["dimension"] == "wrong":
            dim.set("ref", "A1:B2")
        elif v["dimension"] == "row0":
            dim.set("ref", re.sub(r"^([A-Z]+)1:", r"\g<1>0:", dim.get("ref", "A1:A1")))
    sheet_data = root.find(q("sheetData"))
    if sheet_data is None:
        return
    previous_row = 0
    for row in sheet_data:
        row_no = int(row.get("r", previous_row + 1))
        if v["drop_row_r"] and row_no == previous_row + 1:  # only a row that follows the previous one
            row.attrib.pop("r", None)  # (18.3.1.73)
        previous_row = row_no
        if v["drop_defaults"]:
            row.attrib.pop("spans", None)
        previous = 0
        for c in row:
            ref = c.get("r", "")
            col = layout.col_number(re.match(r"[A-Z]+", ref).group()) if ref else previous + 1
            # a cell may omit r only when it directly follows the previous one (18.3.1.4)
            consecutive = col == previous + 1
            if consecutive and (
                v["drop_cell_r"] == "all" or (v["drop_cell_r"] == "some" and rnd.random() < 0.5)
            ):
                c.attrib.pop("r", None)
            previous = col
            if v["drop_defaults"]:
                if c.get("t") == "n":
                    c.attrib.pop("t")
                if c.get("s") == "0":
                    c.attrib.pop("s")
            if strings is not None and c.get("t") == "inlineStr":
                inline = c.find(q("is"))
                text = "".join(inline.itertext()) if inline is not None else ""
                if inline is not None and len(inline) == 1 and inline[0].tag == q("t"):
                    c.remove(inline)
                    c.set("t", "s")
                    val = etree.SubElement(c, q("v"))
                    val.text = str(len(strings))
                    strings.append(text)
    if v["shuffle_attrs"]:
        _shuffle(root, rnd)


def _shuffle(root, rnd: random.Random) -> None:
    for elem in root.iter():
        items = list(elem.attrib.items())
        if len(items) > 1:
            rnd.shuffle(items)
            elem.attrib.clear()
            for k, val in items:
                elem.set(k, val)


def _reprefix(root, prefix: str):
    """The same tree with the main namespace bound to ``prefix`` ("" = default namespace)."""
    if not prefix:
        return root
    nsmap = {p: u for p, u in root.nsmap.items() if u != NS and p is not None}
    nsmap[prefix] = NS

    def copy(elem, parent):
        new = etree.Element(elem.tag, nsmap=nsmap) if parent is None else etree.SubElement(parent, elem.tag)
        for k, val in elem.attrib.items():
            new.set(k, val)
        new.text, new.tail = elem.text, elem.tail
        for child in elem:
            if isinstance(child.tag, str):
                copy(child, new)
        return new

    return copy(root, None)


def _serialize(root, encoding: str, indent: bool) -> bytes:
    if indent:
        # whitespace only between elements whose content is elements (never inside <t>, <v>, <f>)
        for elem in root.iter():
            if len(elem) and not (elem.text or "").strip():
                elem.text = "\n  "
                for child in elem:
                    if not (child.tail or "").strip():
                        child.tail = "\n  "
    return etree.tostring(root, xml_declaration=True, encoding=encoding)


def _add_shared_strings(parts: dict, strings: list[str], v: dict) -> None:
    sst = etree.Element(q("sst"), nsmap={None: NS}, count=str(len(strings)), uniqueCount=str(len(strings)))
    for text in strings:
        si = etree.SubElement(sst, q("si"))
        t = etree.SubElement(si, q("t"))
        t.text = text
        if text != text.strip():
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    parts["xl/sharedStrings.xml"] = _serialize(_reprefix(sst, v["prefix"]), v["encoding"], v["indent"])
    rels = etree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    etree.SubElement(
        rels, f"{{{PKG_REL}}}Relationship", Id="rIdSst", Type=SST_TYPE, Target="sharedStrings.xml"
    )
    parts["xl/_rels/workbook.xml.rels"] = etree.tostring(rels, xml_declaration=True, encoding="UTF-8")
    types = etree.fromstring(parts["[Content_Types].xml"])
    etree.SubElement(types, f"{{{CT_NS}}}Override", PartName="/xl/sharedStrings.xml", ContentType=SST_CT)
    parts["[Content_Types].xml"] = etree.tostring(types, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize(
    "v",
    [
        {"drop_cell_r": "all", "drop_row_r": True, "drop_defaults": True, "shuffle_attrs": True, "indent": True,
         "prefix": "x", "shared_strings": True, "dimension": "row0", "part_case": True, "encoding": "UTF-16",
         "seed": 7},
        {"drop_cell_r": "none", "drop_row_r": False, "drop_defaults": False, "shuffle_attrs": False, "indent": False,
         "prefix": "", "shared_strings": False, "dimension": "keep", "part_case": False, "encoding": "ISO-8859-1",
         "seed": 0},
    ],
    ids=["everything-at-once", "latin1-declared"],
)  # fmt: skip
def test_chosen_variants(tmp_path, plan, source, v):
    path, want = source
    out = tmp_path / path.name
    rewrite(path, out, v)
    got = validate(out, plan)
    assert _entries(got) == _entries(want)
    assert got.report.flatten(("code", "sheet", "cell")) == want.report.flatten(("code", "sheet", "cell"))


@pytest.mark.parametrize("bound", [(200_000, 9), (40, 21), (200_000, 3), (12, 200)])
def test_shallow_scan_agrees_with_full_parse_for_any_bound(source, bound):
    """A sheet read back with its own bound (a consolidated workbook's detail, the coverage sheet)
    takes the shallow scan only when every cell lies inside the bound; otherwise the full parse
    cuts and reports the cells beyond, so both ways give the same formulas and the same grid."""
    from xhht_xl import ooxml

    path, _ = source
    with zipfile.ZipFile(path) as zf:
        parts = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
        for name in parts:
            data = zf.read(name)
            full = ooxml.full_parse(data, bound)
            fast = ooxml._shallow(data, bound)
            if full.far:  # cells to cut: only the full parse may read the part
                assert fast is None, (name, bound, full.far[:3])
            elif fast is not None:
                assert fast.formula_refs == full.formula_refs
    # a bound that cuts a populated sheet is never read shallowly
    with zipfile.ZipFile(path) as zf:
        data = max((zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/sheet")), key=len)
    assert ooxml._shallow(data, (3, 2)) is None
    assert ooxml.full_parse(data, (3, 2)).far
    assert ooxml._shallow(data, (200_000, 200)) is not None


_NEAR = re.compile(r"(?:[A-C][A-Z]|[A-Z])[1-9][0-9]{0,2}")
_cell_tag = st.fixed_dictionaries(
    {
        "r": st.one_of(
            st.none(),
            st.sampled_from(["A1", "B12", "CZ999", "AA5", "DA1", "A1000", "XFD1048576", "$A$1", "a1", "A01",
                             "A0", "", "ZZ9"]),
        ),
        "others": st.lists(st.sampled_from([("s", "3"), ("t", "n"), ("t", "s"), ("cm", "1")]), max_size=2,
                           unique_by=lambda kv: kv[0]),
        "r_first": st.booleans(),
        "quote": st.sampled_from(['"', "'"]),
        "space": st.sampled_from([" ", "  ", "\n", "\t"]),
        "eq": st.sampled_from(["=", " = "]),
        "body": st.sampled_from(["/>", "></c>", "><v>3</v></c>", "><f>1+1</f><v>2</v></c>", "> <f/></c>",
                                 ">\n<f t=\"shared\" si=\"0\"/><v>1</v></c>", "><is><t>f</t></is></c>"]),
    }
)  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)
@given(cells=st.lists(_cell_tag, min_size=1, max_size=12))
def test_shallow_cell_pattern_finds_what_a_parser_finds(cells):
    """The shallow scan's one pattern (``ooxml._C_NOT_NEAR_OR_WITH_F``), fast lookahead included,
    against lxml: every cell without a plain r within BOUND gives b"", every other cell whose first
    child is a formula gives its r, in document order; no other cell gives anything."""
    from xhht_xl import ooxml

    tags = []
    for c in cells:
        attrs = [(k, v) for k, v in c["others"]]
        if c["r"] is not None:
            attrs.insert(0 if c["r_first"] else len(attrs), ("r", c["r"]))
        text = "".join(f'{c["space"]}{k}{c["eq"]}{c["quote"]}{v}{c["quote"]}' for k, v in attrs)
        tags.append(f"<c{text}{c['body']}")
    xml = f'<sheetData xmlns="{NS}"><row>{"".join(tags)}</row></sheetData>'.encode()
    want = []
    for c in etree.fromstring(xml).iter(q("c")):
        r = c.get("r")
        if r is None or not _NEAR.fullmatch(r):
            want.append(b"")
        elif len(c) and c[0].tag == q("f") and not (c.text or "").strip():
            want.append(r.encode())
    assert ooxml._C_NOT_NEAR_OR_WITH_F.findall(xml) == want
