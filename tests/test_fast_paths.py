"""The fast paths of reading (issue 15) give what the slower ways they replace give.

Each fast path is checked against the old way on sound and on damaged input: members of an
in-memory package inflated straight from its bytes against ``zipfile``; the gate's protections
(zip bombs, oversized parts) still decided before anything is inflated.
"""

from __future__ import annotations

import copy
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xhht_xl import safety
from xhht_xl.safety import UnreadableFile

MB = 1024 * 1024
TEXT = ("<row>" + "".join(f'<c r="A{i}"><v>{i}</v></c>' for i in range(1, 400)) + "</row>").encode()


def _package(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _outcome(zf: zipfile.ZipFile, name: str, limit: int) -> tuple[str, object]:
    try:
        return "ok", safety.read_member(zf, name, limit, "f.xlsx")
    except UnreadableFile as exc:
        return "refused", exc.code
    except KeyError:
        return "missing", None


def _both(data: bytes, tmp_path: Path, name: str, limit: int = MB) -> tuple[tuple, tuple]:
    """The outcome of reading ``name`` from ``data`` in memory (the fast path) and through a file
    on disk (``zipfile`` only: the package is not in memory)."""
    path = tmp_path / "p.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as fast, zipfile.ZipFile(path) as slow:
        assert not hasattr(slow.fp, "getbuffer")
        return _outcome(fast, name, limit), _outcome(slow, name, limit)


def _patch(data: bytes, signature: bytes, offset: int, fmt: str, value: int, nth: int = 0) -> bytes:
    """``data`` with one field of the ``nth`` header of a kind (local or central) changed."""
    out = bytearray(data)
    pos = -1
    for _ in range(nth + 1):
        pos = out.find(signature, pos + 1)
    struct.pack_into(fmt, out, pos + offset, value)
    return bytes(out)


LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"


def test_sound_members_read_alike_without_zipfile(tmp_path, monkeypatch):
    data = _package({"a.xml": TEXT, "b.xml": b"<b/>"})
    stored = _package({"a.xml": TEXT}, zipfile.ZIP_STORED)
    for package in (data, stored):
        fast, slow = _both(package, tmp_path, "a.xml")
        assert fast == slow == ("ok", TEXT)
    # the in-memory path does not go through zipfile's member reader at all
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("zipfile used"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert safety.read_member(zf, "b.xml", MB, "f") == b"<b/>"
        assert safety.read_member(zf, zf.getinfo("a.xml"), MB, "f") == TEXT


@pytest.mark.parametrize(
    "damage",
    [
        "crc-central",  # the recorded CRC-32 does not match the data
        "deflate-body",  # the compressed bytes are damaged
        "size-smaller",  # the directory declares fewer bytes than the member holds
        "size-larger",  # ... or more
        "local-name",  # the local header names another member
        "local-signature",
        "flag-patched",  # a flag zipfile refuses (compressed patched data)
        "compressed-size",  # the directory's compressed size runs past the data
        "method",  # a compression method the package may not use
    ],
)
def test_damaged_members_read_as_zipfile_reads_them(tmp_path, damage):
    data = _package({"a.xml": TEXT, "b.xml": b"<b/>"})
    crc = zlib.crc32(TEXT)
    patched = {
        "crc-central": lambda d: _patch(d, CENTRAL, 16, "<I", crc ^ 1),
        "deflate-body": lambda d: d[:60] + bytes(x ^ 0x55 for x in d[60:90]) + d[90:],
        "size-smaller": lambda d: _patch(d, CENTRAL, 24, "<I", len(TEXT) - 7),
        "size-larger": lambda d: _patch(d, CENTRAL, 24, "<I", len(TEXT) + 7),
        "local-name": lambda d: d.replace(b"a.xml", b"c.xml", 1),
        "local-signature": lambda d: _patch(d, LOCAL, 0, "<I", 0x04034B51),
        "flag-patched": lambda d: _patch(_patch(d, CENTRAL, 8, "<H", 0x20), LOCAL, 6, "<H", 0x20),
        "compressed-size": lambda d: _patch(d, CENTRAL, 20, "<I", 10**6),
        "method": lambda d: _patch(_patch(d, CENTRAL, 10, "<H", 12), LOCAL, 8, "<H", 12),
    }[damage](data)
    try:
        zipfile.ZipFile(io.BytesIO(patched))
    except zipfile.BadZipFile:
        pytest.skip("the damage makes the directory unreadable: the gate refuses it before any read")
    fast, slow = _both(patched, tmp_path, "a.xml")
    assert fast == slow
    assert _both(patched, tmp_path, "b.xml")[0] == _both(patched, tmp_path, "b.xml")[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.binary(max_size=3000)
    | st.text(alphabet='<c r="A1"><v>0123456789</v></c>ệ ', max_size=3000).map(str.encode),
    level=st.sampled_from([0, 1, 6, 9]),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 40),
)
# damage past the declared size: one byte, then "invalid distance too far back" (zipfile inflates
# further and refuses it; the in-memory path stopped at one byte and accepted it)
@example(text=b"\x00", level=1, flips=[(14, 72), (26, 9)], cut=0)
def test_zlib_ng_inflates_what_zipfile_inflates(tmp_path, text, level, flips, cut):
    """The in-memory path inflates with zlib-ng (``safety._inflated``), ``zipfile`` with zlib: on
    any content, at any level, with bytes of the compressed data changed or its end cut (the
    declared sizes kept), both give the same bytes or the same refusal (damaged data, a CRC-32 or
    a size that does not match). A stream that does not end at the declared size goes to zipfile."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = bytearray(deflate.compress(text) + deflate.flush())
    for at, mask in flips:
        if body:
            body[at % len(body)] ^= mask
    body = bytes(body[: max(len(body) - cut, 0)]) if cut < 40 else bytes(body)
    data = _package({"a.xml": text or b"<a/>"})  # a placeholder of the declared size and CRC-32
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("a.xml")
    start = info.header_offset + 30 + len("a.xml")
    central = bytearray(data[start + info.compress_size :])
    local = bytearray(data[info.header_offset : start])
    for header, at in ((local, 18), (central, 20)):  # the compressed size, in both headers
        struct.pack_into("<I", header, at, len(body))
    struct.pack_into("<H", local, 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<H", central, 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", central, 46 + len("a.xml") + 16, len(local) + len(body))  # directory offset
    patched = bytes(local) + body + bytes(central)
    fast, slow = _both(patched, tmp_path, "a.xml", limit=4000)
    assert fast == slow


def test_bounds_and_empty_members_read_alike(tmp_path):
    data = _package({"a.xml": TEXT, "empty.xml": b""})
    for name, limit in (("a.xml", len(TEXT) - 1), ("a.xml", len(TEXT)), ("empty.xml", 10), ("nope.xml", 10)):
        fast, slow = _both(data, tmp_path, name, limit)
        assert fast == slow, (name, limit)
    assert _both(data, tmp_path, "a.xml", 100)[0] == ("refused", "part-too-big")


def test_a_member_declared_empty_is_never_inflated_without_bound(tmp_path):
    """zlib reads a length limit of 0 as "no limit": a member whose directory says 0 bytes but that
    inflates to 50 MiB must not be inflated whole by the in-memory path."""
    data = _package({"a.xml": bytes(50 * MB)})
    patched = _patch(_patch(data, CENTRAL, 24, "<I", 0), LOCAL, 22, "<I", 0)
    fast, slow = _both(patched, tmp_path, "a.xml", MB)
    assert fast == slow
    assert fast != ("ok", bytes(50 * MB))


def test_a_zip_bomb_is_refused_before_any_member_is_inflated(tmp_path, monkeypatch):
    """The gate decides on the central directory's sizes alone, whichever way members are read."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    src = tmp_path / "goc.xlsx"
    wb.save(src)
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    members["xl/worksheets/sheet9.xml"] = bytes(50 * MB)
    path = tmp_path / "bom.xlsx"
    path.write_bytes(_package(members))
    assert path.stat().st_size < MB
    inflated = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: inflated.append(a))
    monkeypatch.setattr(safety, "_inflated", lambda *a: inflated.append(a))
    monkeypatch.setattr(safety, "_head", lambda *a: inflated.append(a))
    with pytest.raises(UnreadableFile) as info:
        safety.inspect(path)
    assert info.value.code == "zip-bomb"
    assert inflated == []


# -- the shallow scan of worksheet parts ---------------------------------------------------------


def _old_shallow(data: bytes, bound=None):
    """The shallow scan as it was before issue 15 (four searches for "<!"/"<?", the first
    "</sheetData>", two passes over the cells): the reference the faster one must agree with."""
    from xhht_xl import ooxml as o

    bound = bound or o.BOUND
    m = o._DECL.match(data)
    if m is not None:
        enc = o._ENCODING.search(m.group("attrs"))
        if enc is not None and enc.group(1).lower() not in (b"utf-8", b"utf8"):
            return None
        start = m.end()
    elif data.startswith(b"<") and not data.startswith(b"<?"):
        start = 0
    else:
        return None
    sd = o._SHEETDATA_START.search(data, start)
    if sd is None or o._MAIN_PREFIXED.search(data, 0, sd.start()):
        return None
    if data.find(b"<!", start, sd.start()) >= 0 or data.find(b"<?", start, sd.start()) >= 0:
        return None
    dim = o._DIMENSION.search(data, start, sd.start())
    if dim is not None:
        ref = o._REF_ATTR.search(dim.group("attrs"))
        if ref is None or not o._A1_RANGE.match(ref.group(1).decode("ascii", "replace")):
            return None
    if sd.group(1):
        return o.SheetScan(frozenset())
    end = o._SHEETDATA_END.search(data, sd.end())
    if end is None:
        return None
    lo, hi = sd.end(), end.start()
    if data.find(b"<!", lo, hi) >= 0 or data.find(b"<?", lo, hi) >= 0:
        return None
    if bound == o.BOUND:
        if o._C_NOT_NEAR.search(data, lo, hi):
            return None
    elif o._C_NOT_PLAIN.search(data, lo, hi) or not o._within(o._C_REF.findall(data, lo, hi), bound):
        return None
    return o.SheetScan(frozenset(map(bytes.decode, o._C_WITH_F.findall(data, lo, hi))))


_WS = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
_CELLS = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Xã ! Hỏi ?</t></is></c><c r="B1"><f>\'Đơn vị\'!B3</f><v>1</v></c></row>'
    '<row r="2"><c r="A2" s="3"><v>2</v></c><c r="C2"><f>SUM(A1:A2)</f></c><c r="D2" t="n"/></row>'
)
_SHEETS = {
    "plain": f"{_WS}<dimension ref=\"A1:D2\"/><sheetData>{_CELLS}</sheetData></worksheet>",
    "declared": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{_WS}<sheetData>{_CELLS}</sheetData></worksheet>',
    "empty": f"{_WS}<dimension ref=\"A1\"/><sheetData/></worksheet>",
    "empty-comment-after": f"{_WS}<sheetData/><!-- x --></worksheet>",
    "comment-in-cells": f"{_WS}<sheetData>{_CELLS}<!-- <c r=\"XFD1\"><v>1</v></c> --></sheetData></worksheet>",
    "comment-before": f"{_WS}<!-- c --><sheetData>{_CELLS}</sheetData></worksheet>",
    "comment-after": f"{_WS}<sheetData>{_CELLS}</sheetData><!-- ok --></worksheet>",
    "end-tag-in-later-comment": f"{_WS}<sheetData>{_CELLS}</sheetData><!-- </sheetData> --></worksheet>",
    "cdata-after": f"{_WS}<sheetData>{_CELLS}</sheetData><extLst><![CDATA[</sheetData>]]></extLst></worksheet>",
    "pi-in-cells": f"{_WS}<sheetData><?pi x?>{_CELLS}</sheetData></worksheet>",
    "many-bangs": f"{_WS}<sheetData>{_CELLS * 1}"
    + "".join(f'<row r="{r}"><c r="A{r}"><f>\'S\'!A1+\'S\'!B{r}</f></c></row>' for r in range(3, 80))
    + "</sheetData></worksheet>",
    "many-bangs-then-comment": f"{_WS}<sheetData>"
    + "".join(f'<row r="{r}"><c r="A{r}"><f>\'S\'!A1+\'S\'!B{r}</f></c></row>' for r in range(3, 80))
    + "<!-- x --></sheetData></worksheet>",
    "far-cell": f"{_WS}<sheetData>{_CELLS}<row r=\"5\"><c r=\"XFD5\"><v>1</v></c></row></sheetData></worksheet>",
    "far-row": f"{_WS}<sheetData>{_CELLS}<row r=\"1000\"><c r=\"A1000\"><v>1</v></c></row></sheetData></worksheet>",
    "cell-without-r": f"{_WS}<sheetData><row r=\"1\"><c><v>1</v></c></row></sheetData></worksheet>",
    "bare-cell": f"{_WS}<sheetData><row r=\"1\"><c/><c r=\"B1\"><f>1</f></c></row></sheetData></worksheet>",
    "two-sheetdata": f"{_WS}<sheetData>{_CELLS}</sheetData><sheetData><row r=\"9\"><c r=\"XFD9\"><v>1</v></c>"
    "</row></sheetData></worksheet>",
    "end-tag-spaced": f"{_WS}<sheetData>{_CELLS}</sheetData  ></worksheet>",
    "unclosed": f"{_WS}<sheetData>{_CELLS}",
    "dimension-row0": f"{_WS}<dimension ref=\"A0:D2\"/><sheetData>{_CELLS}</sheetData></worksheet>",
}


@pytest.mark.parametrize("name", sorted(_SHEETS))
@pytest.mark.parametrize("bound", [None, (200_000, 9), (3, 200)])
def test_shallow_scan_never_reads_more_than_before(name, bound):
    """Where the faster shallow scan answers, the old one answered the same; where the old one
    answered on a sound part, so does the new (no part loses the fast way)."""
    from xhht_xl import ooxml

    data = _SHEETS[name].encode()
    new = ooxml._shallow(data, bound or ooxml.BOUND)
    old = _old_shallow(data, bound)
    if new is not None:
        assert old is not None, name
        assert new.formula_refs == old.formula_refs, name
    if name in ("plain", "declared", "empty", "comment-after", "many-bangs", "end-tag-spaced") and old is not None:
        assert new is not None, name
    if name in ("two-sheetdata", "end-tag-in-later-comment", "cdata-after"):
        assert new is None  # the cells' range runs to the last </sheetData>: the full parse decides
    full = ooxml.full_parse(data, bound or ooxml.BOUND) if name != "unclosed" else None
    if new is not None and full is not None:
        assert new.formula_refs == full.formula_refs and not full.far, name


@pytest.fixture(scope="module")
def province(plan, tmp_path_factory, synth_cache) -> Path:
    """The synthetic province's received files (LibreOffice-saved and hand-edited ones among them)."""
    from xhht_xl import synth

    root = tmp_path_factory.mktemp("province")
    synth.cached_demo(root, synth_cache, plan=plan, workers=2)
    return root


def test_shallow_scan_agrees_with_the_old_one_on_received_workbooks(province):
    """Every worksheet part of the synthetic province's received files reads the same both ways."""
    from xhht_xl import ooxml

    root = province
    parts = 0
    for path in sorted(root.rglob("*.xlsx")):
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            continue
        with zf:
            for name in zf.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    data = zf.read(name)
                    new, old = ooxml._shallow(data), _old_shallow(data)
                    assert (new is None) == (old is None), (path.name, name)
                    if new is not None:
                        assert new.formula_refs == old.formula_refs, (path.name, name)
                    parts += 1
    assert parts > 1000


# -- reading and checking whole workbooks: the faster code against the code before issue 15 ---------


def _old_check_labels(self, lay) -> bool:
    from xhht_xl.read import _as_text, _norm, _roles, col_letter

    changed = False
    roles = _roles(lay)
    for cell, text in lay.labels.items():
        role = roles[cell.sheet]
        sheet = self.actual.get(role)
        if sheet is None or role == "guide":
            continue
        row = self.row_of(role, cell.row)
        grid = self.grids.get(sheet) or self.grid(sheet)
        line = grid[row - 1] if 0 < row <= len(grid) else ()
        got = line[cell.col - 1] if cell.col <= len(line) else ""
        if got == text:
            continue
        got_text = _as_text(got)
        if got_text == text or _norm(got_text) == _norm(text):
            continue
        changed = True
        self.issue("label-changed", sheet=sheet, cell=f"{col_letter(cell.col)}{row}", expected=text,
                   got=got_text or "(trống)")  # fmt: skip
    return changed


def _old_read_inputs(self, lay) -> None:
    from xhht_xl import cleaning
    from xhht_xl import read as r
    from xhht_xl.submission import Entry

    entries, locations = self.sub.entries, self.sub.locations
    plain = not self.names and not self.moved
    formula_refs = {
        self.actual[x]: self.book.formula_refs(self.actual[x]) for x in r.READ_ROLES if x in self.actual
    }
    grids = {}
    for key, role, row, col, ref, kind in r._input_cells(lay):
        if plain:
            sheet = self.actual.get(role)
            if sheet is None:
                continue
        else:
            where = self.locate(lay, key, lay.inputs[key])
            if where is None:
                continue
            sheet, row, col = where
            ref = f"{r.col_letter(col)}{row}"
        grid = grids.get(sheet)
        if grid is None:
            grid = grids[sheet] = self.grid(sheet)
        line = grid[row - 1] if 0 < row <= len(grid) else ()
        raw = line[col - 1] if 0 < col <= len(line) else ""
        refs = formula_refs.get(sheet)
        if refs and ref in refs:
            raw = self.input_formula(sheet, ref, raw)
            if raw is r._FAILED:
                entries[key] = Entry(key, None, sheet, ref, None, r.REJECTED)
                continue
        if (kind == "kt" or kind == "bc" or kind == "unit") and (raw is None or raw == ""):
            if kind != "kt":
                locations[key] = (sheet, ref)
            continue
        if raw.__class__ is str and not raw.isprintable():
            raw, changed = cleaning.clean_cell(raw)
            if changed:
                self.issue("text-cleaned", sheet=sheet, cell=ref)
        if kind == "kq":
            value, status = r.parse_count(raw)
        elif kind == "kp":
            value, status = r.parse_amount(raw)
        elif key == ("unit", "date"):
            value, status = r.parse_date(raw)
        else:
            value, status = r.parse_text(raw)
        entries[key] = Entry(key, value, sheet, ref, raw, status)


def _old_read_formulas(self, lay) -> None:
    from xhht_xl.read import _roles, col_letter
    from xhht_xl.submission import FormulaCell

    roles = _roles(lay)
    plain = not self.names and not self.moved
    refs = {}
    for key, cell in lay.formulas.items():
        if plain:
            sheet = self.actual.get(roles[cell.sheet])
            if sheet is None:
                continue
            row, col, ref = cell.row, cell.col, cell.ref
        else:
            where = self.locate(lay, key, cell)
            if where is None:
                continue
            sheet, row, col = where
            ref = f"{col_letter(col)}{row}"
        if sheet not in refs:
            refs[sheet] = self.book.formula_refs(sheet)
        found = refs[sheet]
        has = None if found is None else ref in found
        self.sub.formulas[key] = FormulaCell(key, sheet, ref, self.at(sheet, row, col), has)


def _old_counts(ctx):
    from xhht_xl.checks import _indicator, _numbers, _reject, _what, fmt

    sub = ctx.sub
    issues, parsed = _numbers(ctx, "kq")
    yield from issues
    for key, entry in parsed:
        value = entry.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                _reject(entry)
                yield ctx.issue("count-negative", entry, what=_what(ctx, key), value=fmt(value))
            elif isinstance(value, float) and not value.is_integer():
                _reject(entry)
                yield ctx.issue("count-not-integer", entry, what=_what(ctx, key), value=fmt(value))
    for key, num_entry in list(sub.entries.items()):
        if key[0] != "kq" or key[3] != "num":
            continue
        den_entry = sub.entries.get((*key[:3], "den"))
        num, den = sub.number(key), sub.number((*key[:3], "den"))
        if num is not None and den is not None and num > den:
            _reject(num_entry, den_entry)
            yield ctx.issue("num-exceeds-den", num_entry, indicator=_indicator(ctx, key[1]), milestone=key[2],
                            num=fmt(num), den=fmt(den))  # fmt: skip


def _old_nfc(s: str) -> str:
    import unicodedata

    from xhht_xl import textnorm

    if not s.isascii():
        s = unicodedata.normalize("NFC", s)
        if textnorm._ZERO_WIDTH_RE.search(s):
            s = s.translate(textnorm._ZERO_WIDTH)
    return " ".join(s.split())


def _as_before(monkeypatch) -> None:
    """Every fast path of issue 15 replaced by the code it replaced (or switched off)."""
    from xhht_xl import checks, ooxml, read, textnorm

    monkeypatch.setattr(safety, "_inflated", lambda *a: None)  # members through zipfile
    monkeypatch.setattr(safety, "_seen", lambda zf, name, extra, compute: compute())  # every part parsed again
    monkeypatch.setattr(ooxml, "_shallow", _old_shallow)
    monkeypatch.setattr(read._Reader, "check_labels", _old_check_labels)
    monkeypatch.setattr(read._Reader, "read_inputs", _old_read_inputs)
    monkeypatch.setattr(read._Reader, "read_formulas", _old_read_formulas)
    monkeypatch.setattr(checks, "_CHECKS", [_old_counts if f is checks._counts else f for f in checks._CHECKS])
    monkeypatch.setattr(textnorm, "nfc", _old_nfc)
    monkeypatch.setattr(textnorm, "_is_unicode_vietnamese", lambda s: any(c in textnorm._UNICODE_ONLY_VIET for c in s))
    monkeypatch.setattr(textnorm, "match_key", textnorm._match_key)  # nothing remembered
    monkeypatch.setattr(textnorm, "fix_text", textnorm._fix_text)
    monkeypatch.setattr(textnorm, "_parse_text_remembered", textnorm._parse_text)


def _reading(v) -> tuple:
    """Everything a validation says, with the types of the values (1 and 1.0 differ)."""
    sub = v.submission
    issues = [(i.code, i.severity, i.message, i.unit, i.file, i.sheet, i.cell) for i in v.report]
    if sub is None:
        return None, issues
    entries = {k: (type(e.value).__name__, repr(e.value), e.sheet, e.cell, type(e.raw).__name__, repr(e.raw), e.status)
               for k, e in sub.entries.items()}  # fmt: skip
    formulas = {k: (f.sheet, f.cell, repr(f.cached), f.has_formula) for k, f in sub.formulas.items()}
    return (list(entries.items()), list(formulas.items()), sub.locations, sub.unit_code, sub.template), issues


@pytest.fixture(scope="module")
def faulty(plan, tmp_path_factory) -> list[Path]:
    """Workbooks with a fault of each kind the reader and the checks know, and changed layouts."""
    import random

    from helpers import clean_values, entries_with_faults, write_book

    from xhht_xl import layout

    folder = tmp_path_factory.mktemp("faulty")
    lay = layout.build(plan, "chung")
    results, narrative = lay.sheets["results"], lay.sheets["narrative"]

    def at(key):
        return lay.inputs[key]

    def put(key, value):
        return lambda wb: setattr(wb[at(key).sheet][at(key).ref], "value", value)

    def inserted(wb):
        ws = wb[results]
        ws.protection.sheet = False
        ws.insert_rows(8, amount=2)
        wb[narrative].insert_rows(5)
        wb.security.lockStructure = False
        wb[lay.sheets["funding"]].title = "KP"

    def relabelled(wb):
        cell = next(c for c in lay.labels if c.sheet == results and c.col == 3)
        wb[results][cell.ref].value = "Một nhãn khác"
        label = next(c for c in lay.labels if c.sheet == results and c.col == 2)
        wb[results][label.ref].value = "  " + lay.labels[label].lower() + " "  # retyped: same label

    def beyond(wb):
        wb[results]["Z60"] = 5
        wb[results]["Z10"] = "ghi chú"
        wb[lay.sheets["awards"]]["A200"] = "Thêm một người"

    def no_meta(wb):
        del wb["_meta"]

    changes = {
        "clean": ({}, None),
        "faults": (entries_with_faults(plan, random.Random(3)), None),
        "text-number": ({("kq", "GDHT", 2020, "den"): "1.234.567", ("kq", "DHHT", 2015, "den"): " 12 345 "}, None),
        "ambiguous": ({("kq", "GDHT", 2020, "den"): "1.5", ("kp", "KP_XHH", 2016): "1,5%"}, None),
        "not-applicable": ({("kq", "GDHT", 2020, "num"): "Không áp dụng", ("kq", "GDHT", 2020, "den"): "K/A/D"}, None),
        "legacy": ({("bc", "I.1"): "UBND x· tæ chøc häc tËp", ("unit", "reporter"): "NguyÔn V¨n A"}, None),
        "controls": ({("bc", "I.2"): "Dòng một_x0007_\nDòng hai\u200b", ("unit", "phone"): "0272_x001B_[2J 123",
                      ("kq", "GDHT", 2020, "den"): "1.234_x0001_"}, None),  # Excel's escapes of control characters
        "nominations": ({("kt", 0, "award"): "Bằng khen của chủ tịch UBND Tỉnh", ("kt", 0, "kind"): "cá nhân",
                         ("kt", 0, "name"): "Lê Thị Cúc", ("kt", 1, "award"): "Huân chương", ("kt", 1, "kind"): "Nhóm",
                         ("kt", 1, "unit"): "Trường Tiểu học"}, None),
        "formula-typed": ({}, put(("kq", "DHHT", 2020, "num"), "=1200+33")),
        "formula-broken": ({}, put(("kq", "DHHT", 2015, "num"), "=VLOOKUP(1,A1:B2,2)")),
        "date-text": ({("unit", "date"): "12/08/2020"}, None),
        "inserted-rows": ({}, inserted),
        "relabelled": ({}, relabelled),
        "beyond": ({}, beyond),
        "no-meta": ({}, no_meta),
    }  # fmt: skip
    files = []
    for name, (change, mutate) in changes.items():
        values = clean_values(plan) if name != "faults" else {}
        values.update(change)
        files.append(write_book(folder / f"{name}.xlsx", plan, "xa", values, mutate))
    return files


def test_the_province_reads_and_checks_as_before(province, faulty, plan, monkeypatch):
    """Every received file of the synthetic province (each planted fault, LibreOffice-saved,
    .xls, .ods, broken files) and a workbook with each fault and changed layout give the same
    entries in the same order, the same formula cells and the same issues in the same order,
    whether read by the faster code or by the code before."""
    from xhht_xl import validate

    files = sorted(p for p in province.rglob("*") if p.is_file() and not p.name.endswith((".csv", ".json")))
    assert len(files) > 200
    files += faulty
    now = {p: _reading(validate(p, plan)) for p in files}
    with monkeypatch.context() as m:
        _as_before(m)
        before = {p: _reading(validate(p, plan)) for p in files}
    for p in files:
        assert now[p] == before[p], p.name
    assert sum(1 for r, _ in now.values() if r is not None) > 180
    codes = {code for _, issues in now.values() for code, *_ in issues}
    assert codes >= {"num-exceeds-den", "count-negative", "count-not-integer", "number-as-text", "number-ambiguous",
                     "value-invalid", "legacy-encoding", "text-cleaned", "label-changed", "sheet-renamed",
                     "formula-in-input", "formula-unevaluable", "formula-replaced", "nomination-kind-unknown",
                     "nomination-award-unknown", "rows-beyond-table", "cells-outside", "data-outside", "meta-missing", "pdf"}, codes  # fmt: skip


def test_remembered_text_functions_give_what_they_compute():
    """match_key, fix_text and parse_number remember short texts by their exact text: the
    remembered answer is the computed one, for texts of every kind and for long texts."""
    import random

    from xhht_xl import textnorm

    rnd = random.Random(15)
    alphabet = [*"aAđĐơƯ ,.%-+0123456789", "Hòa", "Hoà", "không áp dụng", "KAD", "\u00a0", "\u200b", "\t",
                "Tr\u00ecnh", "Tr×nh", "ViÖt", "1.234", "1,5", "12,5%"]  # fmt: skip
    texts = ["", " ", "Bằng khen của Chủ tịch UBND tỉnh", "Tập thể", "x" * 500, "1.234.567,5"]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))) for _ in range(3000)]
    for s in texts * 2:  # the second time from memory
        assert textnorm.match_key(s) == textnorm._match_key(s), s
        assert textnorm.fix_text(s) == textnorm._fix_text(s), s
        assert textnorm.parse_number(s) == textnorm._parse_text(s), s
        assert textnorm.nfc(s) == _old_nfc(s), s
    assert textnorm._match_key_remembered.cache_info().hits > 0


def test_validate_leaves_the_cycle_collector_as_it_was(plan, tmp_path):
    import gc

    from xhht_xl import validate

    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"not a workbook")
    assert gc.isenabled()
    validate(bad, plan)
    validate(tmp_path / "missing.xlsx", plan)
    assert gc.isenabled()
    gc.disable()
    try:
        validate(bad, plan)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


# -- the intake store ------------------------------------------------------------------------------


def test_the_ledger_keeps_each_version_once_and_reads_an_older_stores_files(tmp_path):
    """A version is kept in the ledger exactly as given, once (a version kept before stays as it
    was), with a safe suffix; a store written before this version kept files, which are still
    read, and a name that would leave the store reads nothing."""
    import sqlite3

    from xhht_xl import intake

    store = tmp_path / "store"
    store.mkdir()
    data = bytes(range(256)) * 1000
    sha = "ab" + "0" * 62
    ledger = intake.Ledger(store / intake.LEDGER_NAME)
    assert ledger.keep(sha, ".XLSX", data) == intake.KEPT
    assert ledger.keep(sha, ".xlsx", b"other bytes") == intake.KEPT  # kept as it was
    ledger.keep("cd" + "1" * 62, ".t;rm", b"x")
    assert ledger.version(sha, intake.KEPT) == data
    ledger.close()
    db = sqlite3.connect(store / intake.LEDGER_NAME)
    assert sorted(db.execute("SELECT substr(sha256, 1, 2), suffix, size FROM versions")) == [
        ("ab", ".xlsx", len(data)), ("cd", ".bin", 1)]  # fmt: skip
    db.close()
    assert intake.kept(store, sha, intake.KEPT) == data
    assert intake.kept(store, "ef" + "2" * 62, intake.KEPT) is None
    older = store / "files" / "ef" / ("ef" + "2" * 62 + ".xlsx")
    older.parent.mkdir(parents=True)
    older.write_bytes(b"an older store's file")
    assert intake.kept(store, "ef" + "2" * 62, older.relative_to(store).as_posix()) == b"an older store's file"
    # nothing but such a file, and no link on the way (a ledger edited by hand, links put in the store)
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(b"not the store's")
    linked = store / "files" / "ef" / ("ef" + "3" * 62 + ".xlsx")
    linked.symlink_to(outside)
    (store / "files" / "aa").symlink_to(tmp_path)
    (tmp_path / ("aa" + "4" * 62 + ".xlsx")).write_bytes(b"not the store's")
    for archive in ("files/../../outside.xlsx", "files/ef/../../../outside.xlsx", str(outside), "files/ef/\x00.xlsx",
                    linked.relative_to(store).as_posix(), "files/aa/" + "aa" + "4" * 62 + ".xlsx", "files/" + "a" * 5000):
        assert intake.kept(store, "ef" + "2" * 62, archive) is None, archive
    assert intake.kept(tmp_path / "no-store", sha, intake.KEPT) is None


def test_take_hashes_and_keeps_the_bytes_read_once(province, plan, tmp_path):
    """The hash a received file is known by is its bytes' SHA-256, whether the reader accepted it
    (the gate's hash, not computed twice) or refused it (hashed by intake), and the ledger keeps
    exactly those bytes."""
    import hashlib

    from xhht_xl import intake

    files = sorted(p for p in province.rglob("*") if p.is_file() and p.suffix != ".csv")
    refused = accepted = 0
    store = tmp_path / "store"
    store.mkdir()
    ledger = intake.Ledger(store / intake.LEDGER_NAME)
    for path in files:
        got = intake.take(path, path.name, plan)
        data = path.read_bytes()
        assert got.sha256 == hashlib.sha256(data).hexdigest() and got.size == len(data) and got.data == data
        ledger.keep(got.sha256, path.suffix, got.data)
        assert ledger.version(got.sha256, intake.KEPT) == data
        if got.validation.submission is None:
            refused += 1
        else:
            accepted += 1
            assert got.validation.submission.sha256 == got.sha256
    ledger.close()
    assert refused and accepted


# -- what crosses from a worker process, and what a consolidation keeps ------------------------------


def test_a_submission_crosses_processes_whole_and_shared(faulty, plan):
    """A pickled submission comes back equal in every field (entries and formula cells with their
    values' types, NA, dates, rejected cells), its keys and cells shared with other submissions."""
    import dataclasses
    import pickle

    from xhht_xl import validate
    from xhht_xl.submission import NA, Entry, Submission

    def fields(sub):
        out = {f.name: getattr(sub, f.name) for f in dataclasses.fields(Submission)}
        out["entries"] = [(k, (type(e.value), e.value is NA, repr(e.value), e.sheet, e.cell, repr(e.raw), e.status,
                               e.key)) for k, e in sub.entries.items()]  # fmt: skip
        out["formulas"] = [(k, f.key, f.sheet, f.cell, repr(f.cached), f.has_formula) for k, f in sub.formulas.items()]
        return out

    subs = [validate(path, plan).submission for path in faulty]
    assert any(e.value is NA for s in subs for e in s.entries.values())
    back = pickle.loads(pickle.dumps(subs, protocol=pickle.HIGHEST_PROTOCOL))
    for a, b in zip(subs, back, strict=True):
        assert fields(a) == fields(b)
        assert all(k is e.key for k, e in b.entries.items())
    one, two = back[0], back[1]
    key = next(iter(one.entries))
    assert next(k for k in two.entries if k == key) is key  # one tuple for both
    assert two.entries[key].cell is one.entries[key].cell
    # an entry whose own key is not its dict key (no reader makes one) keeps it
    odd = subs[0]
    odd.entries[key] = Entry(("kq", "X", 1, "num"), 1, "S", "A1", 1.0, "ok")
    assert pickle.loads(pickle.dumps(odd)).entries[key].key == ("kq", "X", 1, "num")


def test_a_consolidation_keeps_formula_cells_only_where_a_returned_copy_needs_them(faulty, plan, tmp_path):
    """Intake drops formula cells and empty cells' places of a file with neither error nor warning
    (no returned copy is made of it); a file with one keeps them, and its returned copy is the one
    made from a fresh validation."""
    import re
    import zipfile

    from xhht_xl import intake, validate
    from xhht_xl.returned import write_returned_copy

    kept = dropped = 0
    for path in faulty:
        got = intake.take(path, path.name, plan)
        fresh = validate(path, plan, file=path.name)
        sub = got.validation.submission
        assert sub.entries.keys() == fresh.submission.entries.keys()
        if any(i.severity in ("error", "warning") for i in fresh.report):
            kept += 1
            assert sub.formulas.keys() == fresh.submission.formulas.keys() and sub.locations == fresh.submission.locations
            a = write_returned_copy(got.validation, plan, tmp_path / "a", name=path.name)
            b = write_returned_copy(fresh, plan, tmp_path / "b", name=path.name)
            with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
                for name in za.namelist():
                    stamp = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?")  # the time of writing
                    assert stamp.sub(b"", za.read(name)) == stamp.sub(b"", zb.read(name)), (path.name, name)
        else:
            dropped += 1
            assert sub.formulas == {} and sub.locations == {}
    assert kept and dropped


# -- the facts frame ------------------------------------------------------------------------------------


def _old_facts(members, issues=()):
    """aggregate.facts before issue 15 (a list per column grown over every cell)."""
    import numpy as np
    import pandas as pd

    from xhht_xl import aggregate as a
    from xhht_xl.submission import NA

    EMPTY, NA_STATE, OK, REJECTED, _raw_text = a.EMPTY, a.NA_STATE, a.OK, a.REJECTED, a._raw_text
    _issues_at, _member_codes, _partner_issues, FACT_COLUMNS = a._issues_at, a._member_codes, a._partner_issues, a.FACT_COLUMNS

    at = _issues_at(issues)
    flagged = {k[0] for k in at}
    names = ("indicator", "milestone", "measure", "raw", "typed_value", "state", "sheet", "cell", "issue")
    cols = {c: [] for c in names}
    columns = list(cols.values())
    per_member = []
    for m in members:
        sub, unit = m.sub, m.unit
        look = at if unit in flagged else None
        block = []
        for key, entry in sub.entries.items():
            kind = key[0]
            if kind == "kq":
                indicator, milestone, measure = key[1], key[2], key[3]
            elif kind == "kp":
                indicator, milestone, measure = key[1], key[2], "amount"
            else:
                continue
            value = entry.value
            number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
            if entry.status == "rejected":
                state = REJECTED
            elif value is NA:
                state = NA_STATE
            elif number == number:
                state = OK
            else:
                state = EMPTY
            raw = entry.raw
            raw = (str(int(raw)) if raw.is_integer() else repr(raw)) if type(raw) is float else _raw_text(raw)
            issue = look.get((unit, entry.sheet, entry.cell)) if look is not None else None
            block.append((indicator, milestone, measure, raw, number, state, entry.sheet, entry.cell,
                          issue.code if issue is not None else None))  # fmt: skip
        if block:
            for column, values in zip(columns, zip(*block, strict=True), strict=True):
                column.extend(values)
        per_member.append((unit, "self" if m.own else m.level, sub.file, sub.sha256, len(block)))
    counts = np.array([p[4] for p in per_member], dtype=np.intp)
    typed = np.array(cols.pop("typed_value"), dtype=float)
    state = np.array(cols.pop("state"), dtype=object)
    issue = np.array(cols["issue"], dtype=object)
    _partner_issues(issue, state, cols, np.repeat(np.arange(len(per_member)), counts), per_member)
    del cols["issue"]
    unit_codes, unit_cats = _member_codes([p[0] for p in per_member])
    level_codes, level_cats = _member_codes([p[1] for p in per_member])
    built = {
        "unit": pd.Categorical.from_codes(np.repeat(unit_codes, counts), categories=unit_cats),
        "level": pd.Categorical.from_codes(np.repeat(level_codes, counts), categories=level_cats),
        "indicator": pd.Categorical(cols.pop("indicator")),
        "milestone": np.array(cols.pop("milestone"), dtype="int32"),
        "measure": pd.Categorical(cols.pop("measure")),
        "raw": np.array(cols.pop("raw"), dtype=object),
        "typed_value": typed,
        "value": np.where(state == OK, typed, np.nan),
        "state": pd.Categorical(state),
        "issue": issue,
        "file": np.repeat(np.array([p[2] for p in per_member], dtype=object), counts),
        "sha256": np.repeat(np.array([p[3] for p in per_member], dtype=object), counts),
        "sheet": pd.Categorical(cols.pop("sheet")),
        "cell": np.array(cols.pop("cell"), dtype=object),
    }
    return pd.DataFrame(built, columns=FACT_COLUMNS)


def test_facts_are_the_frame_they_were(province, faulty, plan):
    """The facts of the province's communes and of a workbook with each fault (rejected pairs,
    NA, text numbers, issues at cells and at their partners), own workbook included, are the
    frame the code before issue 15 made, column by column and dtype by dtype."""
    import pandas as pd

    from xhht_xl import aggregate, validate

    members, issues = [], []
    for i, path in enumerate(sorted(province.rglob("*.xlsx"))[:60] + list(faulty)):
        v = validate(path, plan, file=path.name)
        if v.submission is None:
            continue
        unit = v.submission.unit_code or f"x{i}"
        members.append(aggregate.Member(unit, "xa", v.submission, own=i == 3))
        issues += [i if i.unit else aggregate.Issue(i.code, i.severity, i.message, unit, i.file, i.sheet, i.cell)
                   for i in v.report]  # fmt: skip
    assert any(e.status == "rejected" for m in members for e in m.sub.entries.values())
    new, old = aggregate.facts(members, issues), _old_facts(members, issues)
    pd.testing.assert_frame_equal(new, old)
    assert new["issue"].notna().sum() > 10
    empty = aggregate.facts([], [])
    pd.testing.assert_frame_equal(empty, _old_facts([], []))



def test_facts_of_members_with_the_same_keys_elsewhere(faulty, plan):
    """Members sharing a sequence of entry keys (worked out once, ``aggregate._Shape``) but not
    their cells: one whose facts sit on other cells and another sheet, one with the keys in
    another order, one with a single fact, one with none. Each gets its own sheets, cells and
    issues, as the code before issue 15 made them."""
    import copy

    import pandas as pd

    from xhht_xl import aggregate, validate

    base = validate(faulty[0], plan, file="a.xlsx").submission
    moved = copy.deepcopy(base)
    moved.file = "b.xlsx"
    facts_keys = [k for k in moved.entries if k[0] in ("kq", "kp")]
    for k in facts_keys[::3]:
        e = moved.entries[k]
        e.sheet, e.cell = "Trang khác", f"Z{len(e.cell)}{e.cell}"
    shuffled = copy.deepcopy(base)
    shuffled.entries = dict(reversed(list(shuffled.entries.items())))
    one, none = copy.deepcopy(base), copy.deepcopy(base)
    one.entries = {k: e for k, e in one.entries.items() if k[0] not in ("kq", "kp") or k == facts_keys[5]}
    none.entries = {k: e for k, e in none.entries.items() if k[0] not in ("kq", "kp")}
    subs = [base, moved, base, shuffled, one, none, moved]
    members = [aggregate.Member(f"u{i}", "xa", sub) for i, sub in enumerate(subs)]
    e = moved.entries[facts_keys[3]]
    issues = [aggregate.Issue("negative", "error", "âm", "u1", "b.xlsx", e.sheet, e.cell),
              aggregate.Issue("negative", "error", "âm", "u2", "a.xlsx", e.sheet, e.cell)]  # not a cell of u2
    new, old = aggregate.facts(members, issues), _old_facts(members, issues)
    pd.testing.assert_frame_equal(new, old)
    assert set(new.loc[new.unit == "u1", "sheet"]) == {base.entries[k].sheet for k in facts_keys} | {"Trang khác"}
    assert "Trang khác" not in set(new.loc[new.unit == "u2", "sheet"])
    assert new.loc[new.unit == "u1", "issue"].tolist().count("negative") == 1
    assert new["issue"].notna().sum() == 1 and (new.unit == "u4").sum() == 1 and (new.unit == "u5").sum() == 0


def _odd_members(draw):
    """Members drawn from up to three sequences of keys (facts and other entries), each entry with
    a value and a raw of any type a cell may give (None, "không áp dụng", booleans, ints beyond
    2**53, NaN, inf, -0.0, numpy numbers, text, dates), any status, one of a few sheets and cells;
    and issues at some of those cells."""
    import datetime as dt

    import numpy as np
    from hypothesis import strategies as st

    from xhht_xl import aggregate
    from xhht_xl.submission import NA, Entry, Submission

    keys = [("kq", "IND_A", 2015, "num"), ("kq", "IND_A", 2015, "den"), ("kq", "IND_B", 2020, "num"),
            ("kp", "KP_X", 2020), ("unit", "name"), ("kt", "x", 1), ("kq", "IND_C", 2020, "den"), ("nd", "text")]
    values = st.one_of(st.none(), st.just(NA), st.booleans(), st.integers(), st.integers(2**53, 2**70),
                       st.floats(), st.just(-0.0), st.text(max_size=3), st.just(dt.date(2020, 8, 10)),
                       st.builds(np.float64, st.floats()), st.builds(np.int64, st.integers(-2**40, 2**40)))  # fmt: skip
    sheets, cells = st.sampled_from(["S1", "S1", "S2", "Trang 3"]), st.sampled_from(["A1", "B2", "C3"])
    shapes = draw(st.lists(st.lists(st.sampled_from(keys), unique=True, max_size=7).map(tuple), min_size=1, max_size=3))
    members = []
    for _ in range(draw(st.integers(0, 12))):
        entries = {k: Entry(k, draw(values), draw(sheets), draw(cells), draw(values),
                            draw(st.sampled_from(["ok", "empty", "na", "rejected", "text-number"])))
                   for k in draw(st.sampled_from(shapes))}  # fmt: skip
        sub = Submission(Path("x.xlsx"), draw(st.sampled_from(["a.xlsx", "b.xlsx"])), "xlsx", "h", 1, entries=entries)
        members.append(aggregate.Member(draw(st.sampled_from(["u1", "u2", "u3"])), draw(st.sampled_from(["xa", "huyen"])),
                                        sub, draw(st.booleans())))  # fmt: skip
    issues = draw(st.lists(st.builds(aggregate.Issue, st.sampled_from(["negative", "num-gt-den"]),
                                     st.sampled_from(["error", "warning", "info"]), st.just("m"),
                                     st.sampled_from(["u1", "u2"]), st.just("a.xlsx"), sheets, cells), max_size=5))  # fmt: skip
    return members, issues


def test_facts_of_odd_members_are_the_frame_they_were():
    """Property: on :func:`_odd_members`, ``aggregate.facts`` gives the frame (values, dtypes and
    every categorical's categories) the code before issue 15 gave, also from members that crossed
    from a worker process."""
    import pickle

    import pandas as pd
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from xhht_xl import aggregate

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def check(data):
        members, issues = _odd_members(data.draw)
        new, old = aggregate.facts(members, issues), _old_facts(members, issues)
        pd.testing.assert_frame_equal(new, old)
        # the same members as a worker process sends them (entries held as columns)
        sent = [aggregate.Member(m.unit, m.level, pickle.loads(pickle.dumps(m.sub)), m.own) for m in members]
        pd.testing.assert_frame_equal(aggregate.facts(sent, issues), old)
        for col in new.columns:
            if isinstance(new[col].dtype, pd.CategoricalDtype):
                assert list(new[col].cat.categories) == list(old[col].cat.categories), col

    check()

def test_submissions_from_workers_keep_their_entries_as_columns(faulty, plan):
    """A submission that crossed from a worker process (pickled) holds its entries as columns, keys
    shared with every other such submission, until ``entries`` is asked for; everything read from
    it is what the submission it was gave, before and after its entries are made."""
    import pickle

    from xhht_xl import validate
    from xhht_xl.submission import EMPTY

    subs = [validate(faulty[i], plan).submission for i in range(len(faulty))]
    subs = [s for s in subs if s is not None]
    assert len(subs) >= 4
    a, b, *rest = backs = pickle.loads(pickle.dumps(subs))
    assert "_columns" in a.__dict__ and "entries" not in a.__dict__
    indexes = {}  # one index for the same keys in the same order
    for back in backs:
        assert indexes.setdefault(back.columns().keys, back.columns().index) is back.columns().index
    assert len(indexes) < len(backs)
    for sub, back in zip(subs, [a, b, *rest], strict=True):
        keys = [*sub.entries, ("kq", "NO_SUCH", 2020, "num"), ("unit", "nothing")]
        for _ in range(2):  # from the columns, then from the entries made of them
            assert [back.value(k) for k in keys] == [sub.value(k) for k in keys]
            assert [back.number(k) for k in keys] == [sub.number(k) for k in keys]
            assert [back.entry(k) for k in keys] == [sub.entry(k) for k in keys]
            assert back.nominations() == sub.nominations() and back.narrative() == sub.narrative()
            assert back.fingerprint() == sub.fingerprint() and back.report_date == sub.report_date
            assert back.entry_count() == sub.entry_count() == len(sub.entries)
            for kind in ("kq", "kp", "kt", "bc", "unit"):
                assert back.of_kind(kind) == sub.of_kind(kind)
            c, d = back.columns(), sub.columns()
            assert (c.keys, c.values, c.sheets, c.cells, c.raws, c.statuses) == (
                d.keys, d.values, d.sheets, d.cells, d.raws, d.statuses)  # fmt: skip
            assert back.entries == sub.entries  # made here, on first use
        assert "_columns" not in back.__dict__
        assert back == sub
    # made entries are the submission's own: a change is kept, and seen by columns() and value()
    key = next(k for k, e in a.entries.items() if e.status == EMPTY)
    a.entries[key].value = 7
    assert a.value(key) == 7 and a.columns().values[a.columns().index.at[key]] == 7
    # a submission held as columns is pickled again without making its entries
    held = pickle.loads(pickle.dumps(subs[1]))
    again = pickle.loads(pickle.dumps(held))
    assert "_columns" in held.__dict__ and again.entries == subs[1].entries


def test_entries_given_to_a_submission_held_as_columns_are_its_entries(faulty, plan):
    """``entries`` is a field: a dict given to a submission that crossed from a worker process
    (still held as columns) is what it then reads, hashes, pickles and aggregates, as for the
    same submission fresh from the reader; not the columns it came with."""
    import dataclasses
    import pickle

    from xhht_xl import aggregate, validate

    sub = validate(faulty[0], plan).submission
    key = next(k for k in sub.entries if k[0] == "kq" and isinstance(sub.value(k), (int, float)))
    kept = {k: e for k, e in sub.entries.items() if k != key}
    want = dataclasses.replace(sub, entries=kept)
    held = pickle.loads(pickle.dumps(sub))
    assert "_columns" in held.__dict__
    held.entries = dict(kept)
    assert held.value(key) is None and held.number(key) is None and held.entry(key) is None
    assert held.columns().keys == tuple(kept) and held.fingerprint() == want.fingerprint()
    assert held.of_kind("kq") == want.of_kind("kq")
    assert pickle.loads(pickle.dumps(held)).entries == kept
    frame = aggregate.facts([aggregate.Member("u", "xa", held)])
    assert len(frame) == len(aggregate.facts([aggregate.Member("u", "xa", want)]))


def _old_peer_amounts(subs, plan, already):
    """``checks.peer_amounts`` as it was before submissions from workers kept their entries as columns."""
    import statistics

    from xhht_xl.checks import REJECTED, SCALE_RATIO, Context, _scale_issue

    pools = {}
    for sub in subs:
        for key, entry in sub.entries.items():
            if key[0] == "kp" and entry.status != REJECTED and isinstance(entry.value, (int, float)):
                pools.setdefault(key, []).append((sub, entry))
    issues = []
    for members in pools.values():
        positive = [e.value for _, e in members if e.value > 0]
        if len(positive) < 3:
            continue
        typical = statistics.median(positive)
        for sub, entry in members:
            if entry.value / typical >= SCALE_RATIO and (sub.file, entry.sheet, entry.cell) not in already:
                issues.append(_scale_issue(Context(sub, plan), entry, typical))
    return issues


def test_peer_amounts_and_nominations_of_submissions_from_workers_are_the_old_ones(plan):
    """``checks.peer_amounts`` and ``quotas.collect`` read ``Submission.columns()``: on submissions
    fresh from the reader and on the same ones sent by a worker process (held as columns) they
    give what the code before gave. A rejected amount is no peer and is not flagged, an amount the
    per-file check flagged is not flagged twice, and a nomination row without a name cell is
    placed at its own first cell."""
    import pickle

    from xhht_xl import aggregate, checks, quotas
    from xhht_xl.submission import NA, Entry, Submission

    award = plan.settings.award_levels[0].name
    x16, x17, x18 = ("kp", "KP_XHH", 2016), ("kp", "KP_XHH", 2017), ("kp", "KP_NSDP", 2018)
    amounts = {x16: [100, 120, 90, 110, 95_000, 80_000], x17: [50, 60.5, 70, 55, 40_000, NA],
               x18: [3, None, "nhiều", True, 9_000, 4]}  # fmt: skip
    rejected = {(x16, 5), (x18, 2)}
    subs = []
    for i, code in enumerate(u.code for u in plan.children("794", "xa")[:6]):
        entries = {("unit", "unit"): Entry(("unit", "unit"), code, "Thông tin", "C3", code)}
        for row, (key, values) in enumerate(amounts.items(), start=5):
            status = "rejected" if (key, i) in rejected else "ok"
            entries[key] = Entry(key, values[i], "Kinh phí", f"{'DEF'[row - 5]}{row + i}", values[i], status)
        if i == 2:  # row 0 named; row 1 with no name cell at all (placed at its award cell)
            for (r, fld), value in {(0, "award"): award, (0, "kind"): "Cá nhân", (0, "name"): "Lê Văn A",
                                    (1, "award"): award, (1, "kind"): "Tập thể"}.items():  # fmt: skip
                entries[("kt", r, fld)] = Entry(("kt", r, fld), value, "Khen thưởng", f"{dict(award='B', kind='C', name='D')[fld]}{4 + r}")
        subs.append(Submission(Path(f"{code}.xlsx"), f"{code}.xlsx", "xlsx", "h", 1, unit_code=code, entries=entries))
    already = {(subs[4].file, "Kinh phí", "E10")}  # the per-file check flagged x17's 40,000
    old = _old_peer_amounts(subs, plan, already)
    assert [(i.file, i.cell) for i in old] == [(subs[4].file, "D9"), (subs[4].file, "F11")]
    members = [aggregate.Member(s.unit_code, "xa", s) for s in subs]
    noms = quotas.collect(members, plan)
    assert noms[["priority", "sheet", "cell"]].values.tolist() == [[1, "Khen thưởng", "D4"], [2, "Khen thưởng", "B5"]]
    for _ in range(2):  # fresh, then as a worker process sends them (entries held as columns)
        assert checks.peer_amounts(subs, plan, already) == old
        assert quotas.collect(members, plan).equals(noms)
        subs = pickle.loads(pickle.dumps(subs))
        members = [aggregate.Member(s.unit_code, "xa", s) for s in subs]
    assert all("_columns" in s.__dict__ for s in subs)

def test_entries_of_a_submission_held_as_columns_asked_by_two_threads_at_once(faulty, plan):
    """Two threads asking ``entries`` (or a value) of one submission held as columns at once both
    get the one dict it keeps, as they did of a plain field; neither an AttributeError."""
    import pickle
    import sys
    import threading

    from xhht_xl import validate

    blob = pickle.dumps(validate(faulty[0], plan).submission)
    got, errors = [], []

    def ask(sub, barrier, by_value):
        barrier.wait()
        try:
            for _ in range(3):
                got.append((sub, sub.value(("unit", "date")) if by_value else sub.entries))
        except AttributeError as exc:
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch every few bytecodes: the window is hit if there is one
    try:
        for i in range(200):
            sub, barrier = pickle.loads(blob), threading.Barrier(2)
            threads = [threading.Thread(target=ask, args=(sub, barrier, i % 4 == 3 and t == 1)) for t in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, f"{len(errors)} of 400 threads: {errors[0]}"
    assert all(entries is sub.entries for sub, entries in got if isinstance(entries, dict))


def test_leaves_total_is_the_sum_over_units(plan):
    """``Leaves.total`` (one leaf per unit where the level types the figure) gives the per-unit
    count summed and levels joined, for every level and indicator of the plan."""
    from xhht_xl.coverage import Leaves

    leaves, fresh = Leaves(plan), Leaves(plan)
    checked = 0
    for level in plan.levels:
        units = [u.code for u in plan.units_at(level)]
        for code in plan.indicators:
            for some in (units, units[:3], []):
                want = (sum(fresh.count(u, level, code) for u in some),
                        frozenset().union(*(fresh.levels(u, level, code) for u in some)))  # fmt: skip
                assert leaves.total(some, level, code) == want, (level, code)
                checked += 1
    assert checked > 100


def test_conformed_frames_and_their_sources_stay_apart():
    """``conform`` takes columns already in their dtype without copying them (pandas' copy on
    write): changing either frame afterwards leaves the other as it was."""
    import numpy as np
    import pandas as pd

    from xhht_xl import frames

    src = pd.DataFrame({"source": pd.array(["a", "b"], dtype=frames.TEXT), "year": pd.array([1, 2], dtype="Int64"),
                        "amount": np.array([1.5, 2.5])})  # fmt: skip
    schema = frames.Schema("t", (frames._c("source", "text"), frames._c("year", "integer"),
                                 frames._c("amount", "amount")))  # fmt: skip
    out = schema.conform(src)
    out.loc[0, "amount"] = 99.0
    out.loc[0, "source"] = "z"
    assert src["amount"].tolist() == [1.5, 2.5] and src["source"].tolist() == ["a", "b"]
    src.loc[1, "amount"] = -1.0
    assert out["amount"].tolist() == [99.0, 2.5]


def test_reading_and_checking_do_not_import_pandas():
    """``xhht validate`` and the intake's worker processes need no pandas (~0.9 s and ~30 MB)."""
    import subprocess
    import sys

    code = "import sys, xhht_xl.intake, xhht_xl.pipeline, xhht_xl.read; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("told", ["exact", "smaller", "larger"])
def test_read_bounded_reads_what_the_file_holds_whatever_its_size_said(tmp_path, monkeypatch, told):
    """The read is sized by the file's size; a file that grew or shrank since its size was taken
    still gives exactly what it holds, and one that grew past the bound is refused."""
    import os

    path = tmp_path / "f.xlsx"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    real = os.fstat

    def fstat(fd):
        st = real(fd)
        size = {"exact": st.st_size, "smaller": st.st_size // 3, "larger": st.st_size * 2}[told]
        return os.stat_result((st.st_mode, *st[1:6], size, *st[7:10]))

    monkeypatch.setattr(os, "fstat", fstat)
    assert safety.read_bounded(path) == data
    small = safety.Limits(max_bytes=len(data) - 1)
    if told == "smaller":  # its size said it fitted; what it holds does not
        with pytest.raises(UnreadableFile) as info:
            safety.read_bounded(path, small)
        assert info.value.code == "file-too-big"


def _old_attainment(c, milestone=None):
    """``Consolidation.attainment`` as it was: a groupby over the detail frame."""
    from xhht_xl import frames

    year = max(c.plan.milestones) if milestone is None else int(milestone)
    direct = {u for codes in c.scope.expected.values() for u in codes}
    d = c.detail
    rows = []
    if not d.empty:
        last = d[(d["milestone"] == year) & d["unit"].isin(direct)]
        for unit, group in last.groupby("unit", sort=False, observed=True):
            rows.append({"unit": unit, "name": c.plan.units[unit].name if unit in c.plan.units else unit,
                         "milestone": year, "met": int(group["verdict"].isin(["dat", "vuot"]).sum()),
                         "not_met": int((group["verdict"] == "khong-dat").sum())})  # fmt: skip
    import pandas as pd

    return frames.conform("attainment", pd.DataFrame(rows, columns=frames.schema("attainment").names), c.plan)


def _old_by_level(plan, status, below_frame):
    """``coverage.by_level`` as it was: masks per level and state."""
    from xhht_xl.coverage import STATES

    out = []
    for frame, direct in ((status, True), (below_frame, False)):
        for lv in plan.levels:
            rows = frame[frame["level"] == lv] if not frame.empty else frame
            if rows.empty:
                continue
            counts = {s: int((rows["state"] == s).sum()) for s in STATES}
            out.append({"level": lv, "direct": direct, "expected": len(rows), **counts,
                        "received": counts["on_time"] + counts["late"],
                        "missing_units": rows.loc[rows["state"] == "missing", "unit"].tolist(),
                        "late_units": rows.loc[rows["state"] == "late", "unit"].tolist()})  # fmt: skip
    return out


def test_attainment_and_coverage_counts_are_what_pandas_counted(demo_run):
    """Every district's and the province's attainment (each milestone) and coverage by level, as the
    groupby and the masks counted them, order of units included; also with a unit whose verdict is
    missing, an unknown state and rows of a level the plan does not have."""
    import pandas as pd

    from xhht_xl import coverage

    for c in [*demo_run.districts.values(), demo_run.province]:
        for m in (None, *c.plan.milestones):
            pd.testing.assert_frame_equal(c.attainment(m), _old_attainment(c, m))
        assert c.coverage_by_level() == _old_by_level(c.plan, c.status, c.below)
    c = demo_run.province
    assert any(lv["late_units"] for lv in c.coverage_by_level()) or any(lv["missing_units"] for lv in
                                                                         c.coverage_by_level())  # fmt: skip
    status = c.status.copy()
    status.loc[status.index[0], "state"] = "unknown"
    status.loc[status.index[1], "level"] = None
    below = c.below.copy()
    below.loc[below.index[:3], "state"] = "missing"
    assert coverage.by_level(c.plan, status, below) == _old_by_level(c.plan, status, below)
    assert coverage.by_level(c.plan, status.iloc[:0], below.iloc[:0]) == []
    d = copy.copy(demo_run.districts[next(iter(demo_run.districts))])  # the session's demo stays as it is
    d.detail = d.detail.iloc[::-1].reset_index(drop=True)  # units in another order than the plan's
    d.detail.loc[d.detail.index[:40], "verdict"] = None
    pd.testing.assert_frame_equal(d.attainment(), _old_attainment(d))
    assert list(d.attainment()["unit"]) != sorted(d.attainment()["unit"])


def _old_scale_outliers(entries):
    """The check as it was written (a median of the others per entry), for comparison."""
    import statistics

    out = []
    for entry in entries:
        others = [e.value for e in entries if e is not entry and e.value > 0]
        if len(others) < 2 or entry.value <= 0:
            continue
        typical = statistics.median(others)
        if typical > 0 and entry.value / typical >= 500:
            out.append((entry.cell, typical))
    return out


def test_amounts_far_above_their_typical_level_are_those_the_old_check_found(monkeypatch):
    """``checks._scale_outliers`` sorts a source's amounts once and takes each entry's median of the
    others from that list: the same entries, the same typical level, as a median per entry."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from xhht_xl import checks
    from xhht_xl.submission import Entry

    monkeypatch.setattr(checks, "_scale_issue", lambda ctx, entry, typical: (entry.cell, typical))
    amounts = st.one_of(
        st.integers(-5, 10**9), st.floats(-1e3, 1e12, allow_nan=False), st.sampled_from([0, 1, 1000, 1e6])
    )

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(values=st.lists(amounts, max_size=12))
    def check(values):
        entries = [Entry(("kp", "NSDP", i, "x"), v, "Kinh phí", f"E{i + 7}") for i, v in enumerate(values)]
        assert list(checks._scale_outliers(None, entries)) == _old_scale_outliers(entries)

    check()
