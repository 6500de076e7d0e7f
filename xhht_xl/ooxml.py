"""What python-calamine may be given from an .xlsx/.xlsm package, and the formula cells of its sheets.

python-calamine reads cell values ~10x faster than anything written in Python, but it trusts the
package: one value in XFD1048576 makes it allocate the whole grid (the process aborts), a
``<dimension ref="A0:…">`` makes it fail, cells written without their optional ``r`` are put in the
wrong columns and a part encoded in UTF-16 reads as an empty sheet. This module decides, per
worksheet part, whether the bytes can be handed over as they are and, when not, writes an
equivalent canonical part (UTF-8, ``r`` on every row and cell, no ``dimension``, nothing beyond
:data:`BOUND`) with lxml. It also finds which cells hold a formula, and their text.

Two ways to read a worksheet part, giving the same answer (``tests/test_xml_variants.py``):

- **Shallow scan** (every file seen in practice, C-speed): valid only when the part is UTF-8 and
  holds no comment, CDATA section, processing instruction or DOCTYPE (``<!`` and ``<?`` absent
  after the XML declaration). In a well-formed document ``<`` then only ever opens an element
  tag, and attribute values are quoted, so the compiled patterns below recognise element tags
  exactly (any prefix, attribute order, quoting and whitespace), the way a shallow XML parser
  does (R. D. Cameron, "REX: XML Shallow Parsing with Regular Expressions", 1998). The scan also
  requires every ``c`` to carry a plain ``r`` and every ``r`` to lie within :data:`BOUND`;
  anything else goes to the full parse.
- **Full parse** (lxml/libxml2, entities and network off, DOCTYPE refused): positions of cells
  without ``r`` follow ECMA-376 Part 1, 18.3.1.4 (c) and 18.3.1.73 (row): the next column / row
  after the previous one. Large parts are streamed (``iterparse``) so memory follows the cells
  kept, not the cells declared.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# Rows x columns that python-calamine may be asked to allocate for one sheet: about 20 times the
# templates' largest sheet (46 rows x 21 columns). Cells beyond are cut before calamine runs.
BOUND = (1000, 104)  # row 1000 is out, column 105 ("DA") is out
STREAM_FROM = 8 * 1024 * 1024  # parts larger than this are parsed as a stream

_ATTR = rb"\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*')"
_DECL = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml(?P<attrs>(?:" + _ATTR + rb")*)\s*\?>")
_ENCODING = re.compile(rb"\sencoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")
# The main namespace bound to a prefix anywhere: elements are then prefixed (the full parse reads them).
_MAIN_PREFIXED = re.compile(
    rb"xmlns:[A-Za-z_][\w.\-]*\s*=\s*[\"'](?:http://schemas\.openxmlformats\.org/spreadsheetml/2006/main"
    rb"|http://purl\.oclc\.org/ooxml/spreadsheetml/main)[\"']"
)
_SHEETDATA_START = re.compile(rb"<sheetData(?:" + _ATTR + rb")*\s*(/?)>")
_SHEETDATA_END = re.compile(rb"</sheetData\s*>")
_DIMENSION = re.compile(rb"<dimension(?P<attrs>(?:" + _ATTR + rb")*)\s*/?>")
_REF_ATTR = re.compile(rb"\sref\s*=\s*[\"']([^\"']*)[\"']")
# A cell start tag without a plain r within BOUND (rows 1-999, columns A-CZ): no r, an r written
# otherwise (an entity, a $), or a far one. Attribute values of a cell (r, s, t, cm, vm, ph) hold no
# ">"; a file whose do is read by the full parse all the same, as its tag then ends early here.
_C_NOT_NEAR = re.compile(
    rb"<c(?=[\s/>])(?!(?>[^>]*?\sr\s*=\s*[\"'])(?:[A-C][A-Z]|[A-Z])[1-9][0-9]{0,2}[\"'])"
)
# A cell whose first child is a formula (CT_Cell: f?, v?, is?), its r captured (every cell has one
# by then: _C_NOT_NEAR was checked first).
_C_WITH_F = re.compile(
    rb"<c(?=\s)(?>[^>]*?\sr\s*=\s*[\"']([A-Z]{1,3}[1-9][0-9]{0,6})[\"'])[^>]*+>\s*+<f[\s/>]"
)
# Both in one pass, as the shallow scan at BOUND uses them: a cell start tag without a plain r
# within BOUND matches empty (its group is b""), a cell within BOUND whose first child is a
# formula matches with its r; other cells do not match. The first lookahead turns away, at once,
# the cell every writer writes (r first, in double quotes, within BOUND, no formula): without it
# each cell's attributes are searched twice for r (~35 % of the scan of a results sheet).
_C_NOT_NEAR_OR_WITH_F = re.compile(
    rb"<c(?=[\s/>])(?! r=\"(?:[A-C][A-Z]|[A-Z])[1-9][0-9]{0,2}\"[^>]*+>(?!\s*+<f[\s/>]))"
    rb"(?:(?!(?>[^>]*?\sr\s*=\s*[\"'])(?:[A-C][A-Z]|[A-Z])[1-9][0-9]{0,2}[\"'])"
    rb"|(?>[^>]*?\sr\s*=\s*[\"']([A-Z]{1,3}[1-9][0-9]{0,6})[\"'])[^>]*+>\s*+<f[\s/>])"
)
# A cell start tag without a plain r (any position), and the r of every cell: the shallow scan for a
# bound other than BOUND (a tool's own sheet read back with a larger one) checks positions itself.
_C_NOT_PLAIN = re.compile(rb"<c(?=[\s/>])(?!(?>[^>]*?\sr\s*=\s*[\"'])[A-Z]{1,3}[1-9][0-9]{0,6}[\"'])")
_C_REF = re.compile(rb"<c(?=\s)(?>[^>]*?\sr\s*=\s*[\"'])([A-Z]{1,3})([0-9]{1,7})[\"']")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_A1_RANGE = re.compile(r"^\$?[A-Z]{1,3}\$?[1-9][0-9]{0,6}(?::\$?[A-Z]{1,3}\$?[1-9][0-9]{0,6})?$")


class PartError(Exception):
    """A part that cannot be read as XML; ``code`` is ``xml-unsafe`` or ``file-corrupt``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Formula:
    """A ``<f>`` element: its text (empty for the followers of a shared formula), kind and group."""

    text: str
    kind: str = "normal"  # normal | shared | array | dataTable
    si: str = ""  # shared group
    ref: str = ""  # the range a shared/array master covers


@dataclass
class SheetScan:
    formula_refs: frozenset[str]  # cells whose content is a formula
    far: list[str] = field(default_factory=list)  # cells holding data beyond BOUND (cut)
    canonical: bytes | None = None  # the part to give calamine instead of the original
    formulas: dict[str, Formula] | None = None  # ref -> formula (full parse only)


def col_number(letters: str) -> int:
    """``"AA"`` -> 27 (upper-case letters; the one converter of the package)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


@functools.lru_cache(maxsize=1024)
def col_letter(col: int) -> str:
    """27 -> ``"AA"`` (the one converter of the package; memoised: a template asks ~10,000 times)."""
    out = ""
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def split_ref(ref: str) -> tuple[int, int]:
    """``"E7"`` -> (7, 5)."""
    i = 0
    while i < len(ref) and ref[i].isalpha():
        i += 1
    return int(ref[i:]), col_number(ref[:i])


def is_utf8(head: bytes) -> bool:
    """True when an XML part is UTF-8 (no BOM but UTF-8's, no other declared encoding)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2] in (b"<\x00", b"\x00<"):
        return False
    m = _DECL.match(head)
    if m is None:
        return not head.lstrip(b"\xef\xbb\xbf").startswith(b"<?")  # an unreadable declaration
    enc = _ENCODING.search(m.group("attrs"))
    return enc is None or enc.group(1).lower() in (b"utf-8", b"utf8")


def scan_sheet(data: bytes, bound: tuple[int, int] = BOUND) -> SheetScan:
    """Formula cells of a worksheet part and, if calamine must not get it as is, its canonical form.

    Raises :class:`PartError` when the part is not well-formed XML or declares a DOCTYPE.
    """
    fast = _shallow(data, bound)
    return fast if fast is not None else full_parse(data, bound)


def _shallow(data: bytes, bound: tuple[int, int] = BOUND) -> SheetScan | None:
    """The shallow scan, or None when its preconditions do not hold (a cell beyond ``bound``
    among them: the full parse cuts it and reports it)."""
    m = _DECL.match(data)
    if m is not None:
        enc = _ENCODING.search(m.group("attrs"))
        if enc is not None and enc.group(1).lower() not in (b"utf-8", b"utf8"):
            return None
        start = m.end()
    elif data.startswith(b"<") and not data.startswith(b"<?"):
        start = 0
    else:
        return None  # a BOM, another encoding, or text before the root
    sd = _SHEETDATA_START.search(data, start)
    if sd is None or _MAIN_PREFIXED.search(data, 0, sd.start()):
        return None  # no sheetData, or prefixed elements: the full parse decides
    if sd.group(1):  # <sheetData/>
        if _markup_declaration(data, start, sd.start()):
            return None
        return _dimension_ok(data, start, sd.start())
    # The cells end at the last "</sheetData" (one inside a later comment, CDATA section or
    # processing instruction puts that "<!" or "<?" in the range checked next: full parse).
    hi = data.rfind(b"</sheetData")
    if hi < sd.end() or not _SHEETDATA_END.match(data, hi):
        return None
    lo = sd.end()
    # no comment, CDATA, processing instruction or DOCTYPE before or in the cells: every "<"
    # there opens an element tag
    if _markup_declaration(data, start, hi):
        return None
    if _dimension_ok(data, start, sd.start()) is None:
        return None
    if bound == BOUND:
        found = _C_NOT_NEAR_OR_WITH_F.findall(data, lo, hi)
        if b"" in found:
            return None
        return SheetScan(frozenset(map(bytes.decode, found)))
    if _C_NOT_PLAIN.search(data, lo, hi) or not _within(_C_REF.findall(data, lo, hi), bound):
        return None
    return SheetScan(frozenset(map(bytes.decode, _C_WITH_F.findall(data, lo, hi))))


def _dimension_ok(data: bytes, lo: int, hi: int) -> SheetScan | None:
    """An empty scan when the ``dimension`` between ``lo`` and ``hi`` (if any) is one calamine
    reads; None when it is not ("A0:…", which the full parse drops)."""
    dim = _DIMENSION.search(data, lo, hi)
    if dim is not None:
        ref = _REF_ATTR.search(dim.group("attrs"))
        if ref is None or not _A1_RANGE.match(ref.group(1).decode("ascii", "replace")):
            return None
    return SheetScan(frozenset())


def _markup_declaration(data: bytes, lo: int, hi: int) -> bool:
    """Whether ``<!`` or ``<?`` occurs in ``data[lo:hi]``. "!" and "?" are rare in a worksheet
    and ``bytes.find`` of one byte is a memchr: each is found and its previous byte checked
    (~100x faster than finding the two bytes, whose "<" opens every tag); a part with many of
    them is searched for the pairs instead."""
    for mark in (b"!", b"?"):
        i, seen = data.find(mark, lo, hi), 0
        while i >= 0:
            if i > lo and data[i - 1] == 0x3C:  # "<"
                return True
            seen += 1
            if seen > 64:
                if data.find(b"<" + mark, lo, hi) >= 0:
                    return True
                break
            i = data.find(mark, i + 1, hi)
    return False


def _within(refs: list[tuple[bytes, bytes]], bound: tuple[int, int]) -> bool:
    """True when every (column letters, row digits) pair lies inside ``bound`` (rows, columns)."""
    if not refs:
        return True
    rows = max(map(int, (r for _, r in refs)))
    cols = max(col_number(c.decode("ascii")) for c in {c for c, _ in refs})
    return rows < bound[0] and cols <= bound[1]


# -- the full parse ----------------------------------------------------------------------------


_PARSERS = threading.local()  # an lxml parser may be reused, but only by the thread that made it


def _parser():
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        from lxml import etree

        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, collect_ids=False
        )
    return parser


def _safe_tree(data: bytes):
    """``data`` parsed by lxml with :func:`_parser` (no entities, network, DTD or huge trees);
    ``PartError("file-corrupt")`` if it is not XML, ``PartError("xml-unsafe")`` if it has a DTD."""
    from lxml import etree

    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError:
        # an entity loop or an undeclared entity of a DTD stops libxml2 first: still a DTD
        raise PartError("xml-unsafe" if _DOCTYPE.search(data, 0, 65536) else "file-corrupt") from None
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise PartError("xml-unsafe")
    return tree


def full_parse(data: bytes, bound: tuple[int, int] = BOUND) -> SheetScan:
    """Parse a worksheet part with lxml: formulas, cells beyond ``bound`` and the canonical part.

    Parts larger than :data:`STREAM_FROM` are streamed: each row is placed, cut to ``bound`` and
    emptied if it lies beyond, as soon as it ends, so memory follows the cells kept.
    """
    from lxml import etree

    cells = _Cells(bound)
    try:
        if len(data) > STREAM_FROM:
            root = None
            for event, elem in etree.iterparse(
                io.BytesIO(data), events=("start", "end"), resolve_entities=False, no_network=True,
                load_dtd=False, huge_tree=False,
            ):  # fmt: skip
                if event == "start":
                    root = elem if root is None else root
                elif _local(elem.tag) == "row":
                    cells.place_row(elem)
        else:
            root = _safe_tree(data).getroot()
            sheet_data = next((e for e in root if _local(e.tag) == "sheetData"), None)
            for row in list(sheet_data) if sheet_data is not None else ():
                if _local(row.tag) == "row":
                    cells.place_row(row)
    except etree.XMLSyntaxError:
        raise PartError("file-corrupt") from None
    if root is None or _local(root.tag) != "worksheet":
        return SheetScan(frozenset(), canonical=data)
    for dim in [e for e in root if _local(e.tag) == "dimension"]:
        root.remove(dim)
    canonical = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return SheetScan(frozenset(cells.formulas), cells.far, canonical, cells.formulas)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


class _Cells:
    """Places rows and cells (ECMA-376 Part 1, 18.3.1.73 row and 18.3.1.4 c: without ``r`` a row
    follows the previous row, a cell the previous cell), cuts what lies beyond the bound and
    collects formulas."""

    def __init__(self, bound: tuple[int, int]):
        self.max_row, self.max_col = bound
        self.row_no = 0
        self.formulas: dict[str, Formula] = {}
        self.far: list[str] = []

    def place_row(self, row) -> None:
        given = row.get("r")
        self.row_no = int(given) if given and given.isdigit() and int(given) > 0 else self.row_no + 1
        col_no = 0
        for c in list(row):
            if _local(c.tag) != "c":
                continue
            m = _CELL_REF.fullmatch(c.get("r") or "")
            if m:
                col_no = col_number(m.group(1).upper())
                cell_row = int(m.group(2)) or self.row_no
            else:
                col_no += 1
                cell_row = self.row_no
            ref = f"{col_letter(col_no)}{cell_row}"
            if cell_row >= self.max_row or col_no > self.max_col:
                if _holds_data(c) and len(self.far) < 1000:
                    self.far.append(ref)
                row.remove(c)
                continue
            c.set("r", ref)
            f = next((e for e in c if _local(e.tag) == "f"), None)
            if f is not None:
                self.formulas[ref] = Formula(
                    text=f.text or "", kind=f.get("t", "normal"), si=f.get("si", ""), ref=f.get("ref", "")
                )
        parent = row.getparent()
        if self.row_no >= self.max_row and parent is not None:
            parent.remove(row)
        else:
            row.set("r", str(self.row_no))
            row.attrib.pop("spans", None)  # positions may have changed: the reader recomputes them


def _holds_data(c) -> bool:
    for child in c:
        local = _local(child.tag)
        if local == "f" or (local == "v" and (child.text or "") != ""):
            return True
        if local == "is" and "".join(child.itertext()) != "":
            return True
    return False


def canonical_xml(data: bytes) -> bytes:
    """Any XML part re-written as UTF-8 (for parts calamine would misread in another encoding)."""
    from lxml import etree

    return etree.tostring(_safe_tree(data).getroot(), xml_declaration=True, encoding="UTF-8", standalone=True)


def rebuild(
    zf: zipfile.ZipFile,
    replaced: dict[str, bytes],
    renamed: dict[str, str] | None = None,
    inflated: dict[str, bytes] | None = None,
) -> bytes:
    """A copy of the package with some parts replaced, in memory for python-calamine.

    The replaced parts are stored, not compressed (python-calamine then copies them instead of
    inflating them again); so are ``inflated``, members given as they were inflated and checked
    against their CRC-32 (``safety.read_member``), whose CRC is then not computed again. The other members keep their compressed bytes, copied as they are when
    the package is in memory and their local header is where the central directory says, whatever
    its name and flags (``safety.member_body``, not strict: the bytes python-calamine would read
    from the package itself; an odd member nobody reads then neither stops the file nor is
    inflated), otherwise inflated by ``zipfile`` and stored. Raises what ``ZipFile.read`` raises for a damaged member
    that has to be inflated. The copy is written here (local headers, central directory, end
    record; APPNOTE 6.3, 4.3) rather than with ``zipfile``, whose ``writestr`` costs ~0.05 ms per
    member; a package beyond the plain format's 4 GiB or 65,535 members goes through ``zipfile``.
    """
    from . import safety  # safety imports this module lazily; at its top this import would cycle

    renamed = renamed or {}
    inflated = inflated or {}
    infos = zf.infolist()
    pieces: list[bytes | memoryview] = []
    directory: list[bytes] = []
    offset = 0
    views: list[memoryview] = []
    try:
        for info in infos:
            data = replaced.get(info.filename)
            same = data is None and info.filename in inflated
            body = None if data is not None or same else safety.member_body(zf, info, strict=False)
            if body is not None:
                views.append(body)
                method, crc, size, stored = info.compress_type, info.CRC, info.file_size, body
            elif same:
                data = inflated[info.filename]
                method, crc, size, stored = zipfile.ZIP_STORED, info.CRC, len(data), data
            else:
                if data is None:
                    data = zf.read(info)
                method, crc, size, stored = zipfile.ZIP_STORED, zlib.crc32(data), len(data), data
            name = renamed.get(info.filename, info.filename).encode("utf-8")
            year, month, day, hour, minute, second = info.date_time
            when = (hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day)
            fields = (_ZIP_VERSION, _UTF8_NAME, method, *when, crc, len(stored), size, len(name))
            header = _LOCAL_HEADER.pack(b"PK\x03\x04", *fields, 0) + name
            directory.append(_CENTRAL_HEADER.pack(b"PK\x01\x02", _ZIP_VERSION, *fields, 0, 0, 0, 0, 0, offset) + name)
            pieces += (header, stored)
            offset += len(header) + len(stored)
        if offset > 0xFFFFFFFF or len(infos) > 0xFFFF:
            return _rebuild_with_zipfile(zf, {**inflated, **replaced}, renamed)
        listing = b"".join(directory)
        pieces += (listing, _END_RECORD.pack(b"PK\x05\x06", 0, 0, len(infos), len(infos), len(listing), offset, 0))
        return b"".join(pieces)
    finally:
        for view in views:
            view.release()


_ZIP_VERSION = 20  # 2.0: deflate (APPNOTE 4.4.3)
_UTF8_NAME = 0x800  # general purpose bit 11: the name is UTF-8
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END_RECORD = struct.Struct("<4sHHHHIIH")


def _rebuild_with_zipfile(zf: zipfile.ZipFile, replaced: dict[str, bytes], renamed: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for info in zf.infolist():
            name = info.filename
            data = replaced[name] if name in replaced else zf.read(info)
            z.writestr(renamed.get(name, name), data)
    return out.getvalue()


def formula_texts(data: bytes) -> dict[str, Formula]:
    """Every formula of a worksheet part (full parse), for evaluating the few that sit in input cells."""
    scan = full_parse(data)
    return scan.formulas or {}


# -- OpenDocument spreadsheets ---------------------------------------------------------------

_ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def odf_bound(
    content: bytes, bound: tuple[int, int] = BOUND, per_table: dict[str, tuple[int, int]] | None = None
) -> tuple[bytes | None, dict[str, list[str]]]:
    """Cut what lies beyond ``bound`` in an .ods ``content.xml`` (python-calamine expands repeated
    rows and cells up to the farthest value, and refuses a sheet past 100 million cells). Rows and
    cells are counted with their ``number-rows-repeated`` / ``number-columns-repeated`` (ODF 1.2
    Part 1, 9.1.3, 9.1.4). Returns the new part (None when nothing lies beyond) and, per table, the
    cells that held data there. ``per_table``: another bound for some tables, by name."""
    from lxml import etree

    tree = _safe_tree(content)
    t = f"{{{_ODF_TABLE}}}"
    changed = False
    far: dict[str, list[str]] = {}
    for table in tree.getroot().iter(f"{t}table"):
        name = table.get(f"{t}name", "")
        max_row, max_col = (per_table or {}).get(name, bound)
        row_no = 0  # rows before this one
        for row in list(table.iter(f"{t}table-row")):
            if row.getparent() is None or _odf_table_of(row) is not table:
                continue
            repeat = int(row.get(f"{t}number-rows-repeated", "1") or 1)
            data = _odf_row_data(row, t)
            if row_no + 1 >= max_row:
                if data:
                    far.setdefault(name, []).append(f"{col_letter(data)}{row_no + 1}")
                row.getparent().remove(row)
                changed = True
            else:
                if row_no + repeat >= max_row:
                    row.set(f"{t}number-rows-repeated", str(max_row - 1 - row_no))
                    changed = True
                    if data:
                        far.setdefault(name, []).append(f"{col_letter(data)}{max_row}")
                changed |= _odf_cut_cells(row, t, max_col, far.setdefault(name, []), row_no + 1)
            row_no += repeat
        if not far.get(name):
            far.pop(name, None)
    if not changed:
        return None, far
    return etree.tostring(tree.getroot(), xml_declaration=True, encoding="UTF-8"), far


def _odf_table_of(elem):
    parent = elem.getparent()
    while parent is not None and _local(parent.tag) != "table":
        parent = parent.getparent()
    return parent


def _odf_cell_data(cell, t: str) -> bool:
    if cell.get(f"{{{_ODF_OFFICE}}}value-type") or cell.get(f"{t}formula"):
        return True
    return any(e.text for e in cell.iter() if e is not cell)


def _odf_row_data(row, t: str) -> int:
    """The column (1-based) of the first cell holding data in a row, 0 if none."""
    col = 0
    for cell in row:
        if _local(cell.tag) not in ("table-cell", "covered-table-cell"):
            continue
        if _odf_cell_data(cell, t):
            return col + 1
        col += int(cell.get(f"{t}number-columns-repeated", "1") or 1)
    return 0


def _odf_cut_cells(row, t: str, max_col: int, far: list[str], row_no: int) -> bool:
    changed = False
    col = 0
    for cell in list(row):
        if _local(cell.tag) not in ("table-cell", "covered-table-cell"):
            continue
        repeat = int(cell.get(f"{t}number-columns-repeated", "1") or 1)
        data = _odf_cell_data(cell, t)
        if col + 1 > max_col:
            if data:
                far.append(f"{col_letter(col + 1)}{row_no}")
            row.remove(cell)
            changed = True
        elif col + repeat > max_col:
            cell.set(f"{t}number-columns-repeated", str(max_col - col))
            changed = True
            if data:
                far.append(f"{col_letter(max_col + 1)}{row_no}")
        col += repeat
    return changed
