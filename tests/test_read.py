"""Reading received workbooks: round trips, template identity, moved cells, every check."""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
from pathlib import Path

import pytest
from helpers import clean_values, write_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xhht_xl import layout, lo, read, validate
from xhht_xl.submission import NA


def _entries(sub):
    return {k: e.value for k, e in sub.entries.items() if e.value is not None}


def _expected(values, plan):
    out = {}
    for k, v in values.items():
        if k == ("unit", "unit"):
            v = layout.unit_option(plan, plan.unit(v))
        out[k] = v
    return out


def test_clean_workbook_reads_back_and_has_no_issue(tmp_path, plan):
    values = clean_values(plan)
    path = write_book(tmp_path / "xa.xlsx", plan, "xa", values)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    v = validate(path, plan)
    assert v.report.issues == []
    sub = v.submission
    assert (sub.template, sub.level, sub.unit_code, sub.kind) == ("chung", "xa", "27712", "xlsx")
    assert _entries(sub) == _expected(values, plan)
    assert all(f.has_formula for f in sub.formulas.values())
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before, "a received file is never modified"
    # what a worker process sends back is what it read (entries and formula cells pickle as their fields)
    back = pickle.loads(pickle.dumps(v)).submission
    assert back.entries == sub.entries and back.formulas == sub.formulas
    assert [type(e).__name__ for e in back.entries.values()] == ["Entry"] * len(sub.entries)


count = st.integers(0, 10**7)
VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
# Realistic narrative text: Vietnamese words around random characters ("=" and "+" included: a
# sender's formula-looking text must stay text). A cell made only of Latin-1 letters such as "EÕ"
# is legitimately taken for the legacy VNI encoding, so every text carries a Unicode-only letter.
text = st.text(
    st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + "0123456789 ,.;:()%=+-/"), min_size=1, max_size=60
).map(lambda s: " ".join(f"{s} học tập".split()))


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_round_trip_random_entries(tmp_path_factory, plan, data):
    """Random valid entries written into a template read back unchanged (NA and empty kept apart)."""
    values = {("unit", "unit"): "27712"}
    lay = layout.build(plan, "chung")
    keys = [k for k in lay.inputs if k[0] == "kq" and plan.entered_by(plan.indicators[k[1]], "xa")]
    for key in data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=40)):
        values[key] = data.draw(st.one_of(count, st.just("không áp dụng")))
    for key in data.draw(
        st.lists(st.sampled_from([k for k in lay.inputs if k[0] == "kp"]), unique=True, max_size=10)
    ):
        values[key] = data.draw(st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 1)))
    for key in data.draw(
        st.lists(st.sampled_from([k for k in lay.inputs if k[0] == "bc"]), unique=True, max_size=5)
    ):
        values[key] = data.draw(text)
    path = write_book(tmp_path_factory.mktemp("rt") / "x.xlsx", plan, "xa", values)
    sub = read.read(path, plan)
    got = _entries(sub)
    want = {k: (NA if v == "không áp dụng" else v) for k, v in _expected(values, plan).items()}
    assert got == want
    for k in keys:
        if k not in values:
            assert sub.entries[k].value is None and sub.entries[k].status == "empty"


@pytest.fixture(scope="module")
def saved_by_libreoffice(soffice, tmp_path_factory, plan) -> tuple[Path, dict[str, Path]]:
    """A commune's workbook and LibreOffice's .xlsx, .xls and .ods of it, stored from one load."""
    work = tmp_path_factory.mktemp("lo-saved")
    values = clean_values(plan)
    values[("kq", "GDHT", 2015, "num")] = "không áp dụng"
    src = write_book(work / "goc.xlsx", plan, "xa", values)
    out = lo.convert_each([src], ["xlsx", "xls", "ods"], work / "out", work)
    return src, {fmt: paths[0] for fmt, paths in out.items()}


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt", ["xlsx", "xls", "ods"])
def test_saved_by_libreoffice_reads_the_same(saved_by_libreoffice, plan, fmt):
    src, saved = saved_by_libreoffice
    out = saved[fmt]
    v = validate(out, plan)
    assert v.submission.kind == fmt
    assert _entries(v.submission) == _entries(read.read(src, plan))
    assert [i.code for i in v.report if i.severity != "info"] == []


def _cell(plan, key):
    return layout.build(plan, "chung").inputs[key]


def _set(plan, key, value):
    def mutate(wb):
        c = _cell(plan, key)
        wb[c.sheet][c.ref].value = value

    return mutate


CASES = [
    # (name, change to clean values, mutate(plan) -> fn or None, expected (code, sheet, cell-key or None))
    ("negative", {("kq", "GDHT", 2020, "num"): -3}, None, ("count-negative", ("kq", "GDHT", 2020, "num"))),
    ("not-integer", {("kq", "GDHT", 2020, "num"): 2.5}, None, ("count-not-integer", ("kq", "GDHT", 2020, "num"))),
    ("exceeds", {("kq", "DHHT", 2015, "num"): 900, ("kq", "DHHT", 2015, "den"): 100}, None, ("num-exceeds-den", ("kq", "DHHT", 2015, "num"))),
    ("text-number", {("kq", "GDHT", 2020, "den"): "1.234.567"}, None, ("number-as-text", ("kq", "GDHT", 2020, "den"))),
    ("ambiguous", {("kq", "GDHT", 2020, "den"): "1.5"}, None, ("number-ambiguous", ("kq", "GDHT", 2020, "den"))),
    ("invalid", {("kq", "GDHT", 2020, "den"): "nhiều"}, None, ("value-invalid", ("kq", "GDHT", 2020, "den"))),
    ("percent-in-count", {("kq", "GDHT", 2020, "den"): "12,5%"}, None, ("value-invalid", ("kq", "GDHT", 2020, "den"))),
    ("amount-negative", {("kp", "KP_XHH", 2016): -5}, None, ("amount-negative", ("kp", "KP_XHH", 2016))),
    ("amount-scale", {("kp", "KP_XHH", 2016): 45_000_000}, None, ("amount-scale", ("kp", "KP_XHH", 2016))),
    ("no-unit", {("unit", "unit"): None}, None, ("unit-missing", ("unit", "unit"))),
    ("unknown-unit", {("unit", "unit"): "99999 - Xã Không Có"}, None, ("unit-unknown", ("unit", "unit"))),
    ("old-code", {("unit", "unit"): "28069 - Xã Long Thành"}, None, ("unit-old-code", ("unit", "unit"))),
    ("wrong-level", {("unit", "unit"): "803"}, None, ("unit-wrong-level", ("unit", "unit"))),
    ("no-reporter", {("unit", "reporter"): None}, None, ("unit-info-missing", ("unit", "reporter"))),
    ("narrative", {("bc", "III.4"): None}, None, ("narrative-empty", ("bc", "III.4"))),
    ("legacy", {("bc", "I.1"): "UBND x· tæ chøc häc tËp"}, None, ("legacy-encoding", ("bc", "I.1"))),
    ("nomination-incomplete", {("kt", 0, "award"): "Bằng khen của Chủ tịch UBND tỉnh", ("kt", 0, "name"): "Trần Văn Bình"}, None, ("nomination-incomplete", ("kt", 0, "award"))),
    ("nomination-award", {("kt", 1, "award"): "Huân chương Lao động", ("kt", 1, "kind"): "Cá nhân", ("kt", 1, "name"): "Lê Thị Cúc",
                          ("kt", 1, "position"): "Chủ tịch Hội Khuyến học xã", ("kt", 1, "unit"): "27712 - Xã Bình Tâm (Thành phố Tân An)",
                          ("kt", 1, "summary"): "Vận động 300 hộ đạt Gia đình học tập."}, None, ("nomination-award-unknown", ("kt", 1, "award"))),
    ("nomination-kind", {("kt", 1, "award"): "Bằng khen của Chủ tịch UBND tỉnh", ("kt", 1, "kind"): "Nhóm", ("kt", 1, "name"): "Lê Thị Cúc",
                         ("kt", 1, "position"): "Chủ tịch", ("kt", 1, "unit"): "27712 - Xã Bình Tâm (Thành phố Tân An)",
                         ("kt", 1, "summary"): "Thành tích."}, None, ("nomination-kind-unknown", ("kt", 1, "kind"))),
    ("nomination-unit", {("kt", 1, "award"): "Bằng khen của Chủ tịch UBND tỉnh", ("kt", 1, "kind"): "Cá nhân", ("kt", 1, "name"): "Lê Thị Cúc",
                         ("kt", 1, "position"): "Chủ tịch", ("kt", 1, "unit"): "Trường Tiểu học Bình Tâm",
                         ("kt", 1, "summary"): "Thành tích."}, None, ("nomination-unit-unknown", ("kt", 1, "unit"))),
    ("formula-replaced", {}, "rate", ("formula-replaced", None)),
    ("shared-denominator", {("kq", "PCGD_TH_XA", 2020, "den"): 2, ("kq", "PCGD_TH_XA", 2020, "num"): 1,
                            ("kq", "PCGD_THCS_XA", 2020, "den"): 1, ("kq", "PCGD_THCS_XA", 2020, "num"): 1}, None, ("denominator-mismatch", None)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "mutation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_check(tmp_path, plan, name, change, mutation, expected):
    values = clean_values(plan)
    for key, value in change.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    mutate = None
    if mutation == "rate":
        cell = layout.build(plan, "chung").formulas[("kq", "GDHT", 2020, "rate")]

        def mutate(wb):
            wb[cell.sheet][cell.ref].value = 55.5

    path = write_book(tmp_path / f"{name}.xlsx", plan, "xa", values, mutate)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    v = validate(path, plan, expected_level="xa")
    code, key = expected
    found = [i for i in v.report if i.code == code]
    assert found, (name, v.report.codes())
    issue = found[0]
    assert issue.file == path.name and issue.sheet and "\n" not in issue.message
    assert path.name in issue.message
    if key is not None:
        cell = layout.build(plan, "chung").inputs[key]
        assert (issue.sheet, issue.cell) == (cell.sheet, cell.ref), issue
    others = [i.code for i in v.report if i.code != code and i.severity == "error"]
    assert not others, (name, others)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


def test_rejected_cells_are_left_out_not_the_workbook(tmp_path, plan):
    values = clean_values(plan)
    values[("kq", "DHHT", 2015, "num")] = 900
    values[("kq", "DHHT", 2015, "den")] = 100
    sub = validate(write_book(tmp_path / "x.xlsx", plan, "xa", values), plan).submission
    assert sub.number(("kq", "DHHT", 2015, "num")) is None and sub.number(("kq", "DHHT", 2015, "den")) is None
    assert sub.number(("kq", "GDHT", 2015, "num")) == values[("kq", "GDHT", 2015, "num")]


def test_inserted_rows_and_renamed_sheet(tmp_path, plan):
    """A clerk unprotected the sheets, inserted rows and renamed a sheet: values still found."""
    values = clean_values(plan)
    lay = layout.build(plan, "chung")

    def mutate(wb):
        ws = wb[lay.sheets["results"]]
        ws.protection.sheet = False
        ws.insert_rows(8, amount=2)  # openpyxl does not update defined names: labels must win
        wb[lay.sheets["narrative"]].insert_rows(5)
        wb.security.lockStructure = False
        wb[lay.sheets["funding"]].title = "KP"

    v = validate(write_book(tmp_path / "chen.xlsx", plan, "xa", values, mutate), plan)
    sub = v.submission
    assert _entries(sub) == _expected(values, plan)
    codes = v.report.codes()
    assert "sheet-renamed" in codes
    assert all(i.severity != "error" for i in v.report), v.report.flatten(("code", "cell"))


def test_meta_lost_still_read_by_labels(tmp_path, plan):
    values = clean_values(plan)

    def mutate(wb):
        del wb["_meta"]

    v = validate(write_book(tmp_path / "nometa.xlsx", plan, "xa", values, mutate), plan)
    assert "meta-missing" in v.report.codes()
    assert _entries(v.submission) == _expected(values, plan)


def test_not_a_template(tmp_path, plan):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "Báo cáo"
    wb.save(tmp_path / "khac.xlsx")
    v = validate(tmp_path / "khac.xlsx", plan)
    assert v.report.codes() == ["template-unknown"]


def test_department_workbook(tmp_path, plan):
    values = clean_values(plan, level="so_nganh", unit="SNV")
    path = write_book(tmp_path / "snv.xlsx", plan, "so_nganh", values, unit="SNV")
    v = validate(path, plan, expected_level="so_nganh")
    assert v.report.issues == []
    assert v.submission.template == "so_nganh" and v.submission.unit_code == "SNV"
    assert v.submission.narrative()[layout.TOPIC_ITEM]


def test_unreadable_files_give_one_line_and_no_change(tmp_path, plan):
    """The intake gate in front of the reader: each bad file is one issue, quickly, file untouched."""
    cases = {
        "rong.xlsx": b"",
        "tai_lieu.xlsx": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "anh.xls": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        "hong.xlsx": b"PK\x03\x04" + b"\0" * 100,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        before = os.stat(path).st_mtime_ns
        v = validate(path, plan)
        assert v.submission is None
        (issue,) = v.report.issues
        assert issue.code in {"file-empty", "pdf", "image", "zip-corrupt"} and issue.severity == "error"
        assert name in issue.message and "\n" not in issue.message
        assert os.stat(path).st_mtime_ns == before and path.read_bytes() == data


def test_date_as_text_and_phone_number(tmp_path, plan):
    values = clean_values(plan)
    values[("unit", "date")] = "12/8/2020"
    values[("unit", "phone")] = 272382612
    sub = validate(write_book(tmp_path / "d.xlsx", plan, "xa", values), plan).submission
    assert sub.value(("unit", "date")) == dt.date(2020, 8, 12)
    assert sub.value(("unit", "phone")) == "272382612"


def _members(data: bytes) -> dict[str, bytes]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {i.filename: z.read(i) for i in z.infolist()}


def test_the_package_given_to_calamine_holds_the_same_parts(tmp_path, plan):
    """``ooxml.rebuild`` writes its own ZIP (local headers, central directory, end record): what
    ``zipfile`` reads back from it, CRCs checked, is the original's parts, the replaced ones and
    those given inflated stored, names that are not ASCII (UTF-8 flagged or CP437) kept, members with a data descriptor
    and a package read from disk (members inflated then) included; python-calamine reads the same
    cells from it as from the original."""
    import io
    import zipfile

    from python_calamine import CalamineWorkbook

    from xhht_xl import ooxml, safety

    path = write_book(tmp_path / "27712.xlsx", plan, "xa", clean_values(plan))
    original = path.read_bytes()
    info = safety.inspect(path)
    sheet = info.sheet_parts["Kết quả"]
    new_sheet = _members(original)[sheet].replace(b"</sheetData>", b"</sheetData>", 1)
    inflated = {sheet: _members(original)[sheet]}
    for replaced, same in (({}, {}), ({sheet: new_sheet}, {}), ({}, inflated), ({sheet: new_sheet}, inflated)):
        data = ooxml.rebuild(info.zip, replaced, inflated=same)
        parts = _members(data)
        assert parts == {**_members(original), **replaced}
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in {**same, **replaced}:
                assert z.getinfo(name).compress_type == zipfile.ZIP_STORED
            kept = [i for i in z.infolist() if i.filename not in {**same, **replaced}]
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in kept)  # copied, not re-inflated
        a, b = CalamineWorkbook.from_path(str(path)), CalamineWorkbook.from_filelike(io.BytesIO(data))
        assert a.sheet_names == b.sheet_names
        for name in a.sheet_names:
            assert a.get_sheet_by_name(name).to_python() == b.get_sheet_by_name(name).to_python()

    # names beyond ASCII, data descriptors (a stream that cannot seek), and a package on disk
    raw = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return raw.write(b)

    with zipfile.ZipFile(Unseekable(), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/ảnh.xml", b"<a>\xe1\xba\xa3</a>" * 50)  # zipfile flags a UTF-8 name
        z.writestr("docs/cafX.txt", b"x" * 300, zipfile.ZIP_STORED)
        z.writestr("plain.xml", b"<b/>" * 100)
    packed = raw.getvalue().replace(b"cafX", b"caf\x82")  # a CP437 name (é), without the UTF-8 flag
    with zipfile.ZipFile(io.BytesIO(packed)) as z:
        assert all(i.flag_bits & 0x8 for i in z.infolist())
        assert not z.getinfo("docs/caf\u00e9.txt").flag_bits & 0x800
        assert _members(ooxml.rebuild(z, {})) == _members(packed)
        assert _members(ooxml.rebuild(z, {"plain.xml": b"<c/>"})) == {**_members(packed), "plain.xml": b"<c/>"}
    on_disk = tmp_path / "packed.zip"
    on_disk.write_bytes(packed)
    with zipfile.ZipFile(on_disk) as z:
        assert _members(ooxml.rebuild(z, {})) == _members(packed)


def test_a_sheet_nobody_reads_cannot_stop_the_file_but_is_checked_if_read(tmp_path, plan):
    """A Book scans every sheet before python-calamine opens the package (prefetch). A clerk's own
    sheet that cannot be scanned (a DTD, broken XML) is left alone: the file reads as without it.
    The same damage in a sheet the reader needs is the file's error, as before."""
    import io
    import zipfile

    from xhht_xl import safety

    def with_sheet(name: str, damage: bytes) -> Path:
        def mutate(wb):
            wb.create_sheet("Ghi chú")["A1"] = "ghi chú của xã"

        path = write_book(tmp_path / name, plan, "xa", clean_values(plan), mutate)
        info = safety.inspect(path)
        target = info.sheet_parts["Ghi chú" if "own" in name else "Kết quả"]
        out = io.BytesIO()
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = zin.read(item)
                if item.filename == target:
                    data = damage + data
                zout.writestr(item, data)
        path.write_bytes(out.getvalue())
        return path

    clean = validate(write_book(tmp_path / "27712.xlsx", plan, "xa", clean_values(plan)), plan)
    for damage in (b'<!DOCTYPE x [<!ENTITY a "b">]>', b"<oops"):
        own = validate(with_sheet("own_27712.xlsx", damage), plan)
        assert own.submission is not None
        assert {k: e.value for k, e in own.submission.entries.items()} == {
            k: e.value for k, e in clean.submission.entries.items()
        }
    needed = validate(with_sheet("needed_27712.xlsx", b'<!DOCTYPE x [<!ENTITY a "b">]>'), plan)
    assert needed.submission is None
    assert needed.report.codes() == ["xml-unsafe"]


def _patched_member(data: bytes, name: str, *, local_name: bytes | None = None, flags: int | None = None) -> bytes:
    """A package whose member ``name`` has another name in its local header, or other general
    purpose flags in both headers (the central directory still right)."""
    import struct
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    out = bytearray(data)
    start = info.header_offset
    if local_name is not None:
        assert len(local_name) == len(name.encode())
        out[start + 30 : start + 30 + len(local_name)] = local_name
    if flags is not None:
        struct.pack_into("<H", out, start + 6, flags)
        at = data.find(b"PK\x01\x02")
        while at >= 0:  # the member's central directory record
            (length,) = struct.unpack_from("<H", out, at + 28)
            if out[at + 46 : at + 46 + length] == name.encode():
                struct.pack_into("<H", out, at + 8, flags)
            at = data.find(b"PK\x01\x02", at + 46)
    return bytes(out)


def test_an_odd_member_nobody_reads_neither_stops_the_file_nor_is_inflated(tmp_path, plan):
    """``ooxml.rebuild`` copies a member python-calamine never reads as python-calamine would read
    it from the package itself: a local header naming another part (zipfile refuses to read such a
    member) does not make the file "file-corrupt", as it did not before the package was rebuilt on
    every read; a member with a general purpose flag zipfile ignores (bit 4) is copied compressed,
    not inflated (a 1 MB file with a 190 MB such member made the reader allocate ~700 MB)."""
    import zipfile

    from xhht_xl import ooxml, safety

    path = write_book(tmp_path / "27712.xlsx", plan, "xa", clean_values(plan))
    clean = validate(path, plan)
    odd = tmp_path / "odd_27712.xlsx"
    odd.write_bytes(_patched_member(path.read_bytes(), "xl/theme/theme1.xml", local_name=b"xl/theme/theme9.xml"))
    v = validate(odd, plan)
    assert v.report.issues == []
    assert _entries(v.submission) == _entries(clean.submission)

    flagged = _patched_member(path.read_bytes(), "docProps/app.xml", flags=0x10)
    with zipfile.ZipFile(io.BytesIO(flagged)) as z:
        assert z.getinfo("docProps/app.xml").flag_bits == 0x10
        info = safety.inspect(odd, data=flagged)
        data = ooxml.rebuild(info.zip, {})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.getinfo("docProps/app.xml").compress_type == zipfile.ZIP_DEFLATED  # copied, not inflated
    assert _members(data) == _members(flagged)


def test_calamine_reads_the_same_cells_from_the_workbook_part_cut_after_its_sheets(tmp_path):
    """python-calamine is given the workbook part only up to ``</sheets>`` (``FileInfo.workbook_head``:
    the defined names after it are hundreds in our templates). What it reads is the same as from
    the original: sheet names and order, hidden sheets, dates in a 1904 workbook, every cell."""
    import datetime as dt

    import openpyxl
    from openpyxl.utils.datetime import CALENDAR_MAC_1904
    from openpyxl.workbook.defined_name import DefinedName
    from python_calamine import CalamineWorkbook

    from xhht_xl import safety

    for epoch in (None, CALENDAR_MAC_1904):
        wb = openpyxl.Workbook()
        if epoch is not None:
            wb.epoch = epoch
        ws = wb.active
        ws.title = "Kết quả"
        ws["A1"], ws["B1"], ws["C1"] = dt.datetime(2020, 8, 31), 12.5, "chữ"
        hidden = wb.create_sheet("_ẩn")
        hidden.sheet_state = "veryHidden"
        hidden["A1"] = dt.date(2020, 10, 10)
        for i in range(300):
            wb.defined_names[f"TEN_{i}"] = DefinedName(f"TEN_{i}", attr_text=f"'Kết quả'!$A${i + 1}")
        path = tmp_path / f"book_{epoch is not None}.xlsx"
        wb.save(path)
        info = safety.inspect(path)
        (part, head), = info.workbook_head.items()
        assert b"definedName" not in head and b"</sheets>" in head
        book = read.Book(info, safety.Limits(), prefetch=list(info.sheet_parts))
        assert book.replaced[part] == head
        original = CalamineWorkbook.from_path(str(path))
        assert book.sheet_names == original.sheet_names
        assert [m.visible for m in book.wb.sheets_metadata] == [m.visible for m in original.sheets_metadata]
        for name in original.sheet_names:
            assert book.grid(name) == original.get_sheet_by_name(name).to_python(skip_empty_area=False)
        assert book.grid("Kết quả")[0][0] == dt.date(2020, 8, 31)
