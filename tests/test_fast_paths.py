"""The fast paths of reading (issue 15) give what the slower ways they replace give.

Each fast path is checked against the old way on sound and on damaged input: members of an
in-memory package inflated straight from its bytes against ``zipfile``; the gate's protections
(zip bombs, oversized parts) still decided before anything is inflated.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

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
