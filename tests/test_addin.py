"""The Excel add-in built from text sources: package, VBA project, ribbon, install."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import olefile
import pytest
import xmlschema
from oletools.olevba import VBA_Parser

from xhht_xl import lo, messages
from xhht_xl.excel import addin, ovba, registry

ROOT = Path(__file__).resolve().parents[1]
MACROS = ROOT / "macros"
SHARED = ROOT.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
CUI = "{http://schemas.microsoft.com/office/2009/07/customui}"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return addin.build(tmp_path_factory.mktemp("addin") / "xhht_xl.xlam")


@pytest.fixture(scope="module")
def vba_bin(built) -> bytes:
    return zipfile.ZipFile(built).read("xl/vbaProject.bin")


# ---------------------------------------------------------------- registry and ribbon


def test_registry_buttons_in_order_with_texts():
    assert registry.TAGS == (
        "kiem_tra", "lay_bao_cao", "tong_hop", "khen_thuong", "tao_mau", "tra_lai", "bao_cao", "nhap_ham", "huong_dan",
    )  # fmt: skip
    assert messages.text(registry.TAB_LABEL_KEY) == "XHHT"
    labels = [messages.text(b.label_key) for b in registry.BUTTONS]
    assert labels == [
        "Kiểm tra",
        "Lấy báo cáo",
        "Tổng hợp",
        "Khen thưởng",
        "Tạo mẫu",
        "Trả lại",
        "Báo cáo",
        "Nhập hàm",
        "Hướng dẫn",
    ]
    groups = {g.id for g in registry.GROUPS}
    for b in registry.BUTTONS:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", b.tag)
        assert b.group in groups and re.fullmatch(r"[A-Z][A-Za-z]+", b.image_mso)
        for key in (b.label_key, b.screentip_key):
            text = messages.text(key)
            assert text and unicodedata.is_normalized("NFC", text)
    assert not re.search(r"^\s*(import|from) xlwings", (ROOT / "xhht_xl/excel/registry.py").read_text(), re.M)


def test_customui_is_generated_from_the_registry():
    assert (MACROS / "customUI14.xml").read_bytes() == addin.customui_xml().encode("utf-8")


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SHARED / "schemas" / "customui14.xsd"))


def test_customui_validates_and_a_misspelt_element_fails(schema):
    text = (MACROS / "customUI14.xml").read_text(encoding="utf-8")
    schema.validate(text)
    assert not schema.is_valid(text.replace("<button ", "<buton ").replace("/>", "></buton>", 1))
    assert not schema.is_valid(text.replace("onAction=", "onActoin="))


def test_every_button_calls_a_sub_in_the_sources_with_a_registered_tag():
    root = ET.fromstring((MACROS / "customUI14.xml").read_bytes())
    buttons = root.findall(f".//{CUI}button")
    subs = set()
    for bas in MACROS.glob("*.bas"):
        subs |= set(re.findall(r"^(?:Public )?Sub (\w+)\(control As Object\)", bas.read_text("ascii"), re.M))
    assert [b.get("tag") for b in buttons] == list(registry.TAGS)
    for b in buttons:
        assert b.get("onAction") in subs
        assert b.get("label") == messages.text(f"ribbon.{b.get('tag')}")
    assert root.find(f".//{CUI}tab").get("label") == "XHHT"


def test_vba_sources_are_ascii_crlf_and_call_dispatch():
    for bas in MACROS.glob("*.bas"):
        raw = bas.read_bytes()
        assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b""), bas
    ribbon = (MACROS / "Ribbon.bas").read_text("ascii")
    assert "Sub XhhtRibbon(control As Object)" in ribbon
    assert """RunPython "import xhht_xl.excel.ribbon as r; r.dispatch('" & control.Tag & "')\"""" in ribbon


# ---------------------------------------------------------------- VBA project


def test_olevba_extracts_exactly_the_sources(built):
    parser = VBA_Parser(str(built))
    got = {name: code for _, _, name, code in parser.extract_macros()}
    parser.close()
    expected = {f"{m.name}.{'cls' if m.document else 'bas'}": m.source for m in addin.modules()}
    assert got.keys() == expected.keys()
    for name, code in got.items():
        assert code == expected[name], name
    assert got["Ribbon.bas"] == (MACROS / "Ribbon.bas").read_bytes().decode("ascii")
    xlw = got["xlwings.bas"]
    assert 'Public Const PROJECT_NAME As String = "xhht_xl"' in xlw
    assert 'XLWINGS_VERSION As String = "0.37.8"' in xlw and "Public Function RunPython(" in xlw


def test_project_streams(vba_bin):
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("cc61ffff000100")
    names = {"/".join(p) for p in ole.listdir()}
    assert names == {
        "PROJECT",
        "PROJECTwm",
        "VBA/dir",
        "VBA/_VBA_PROJECT",
        "VBA/ThisWorkbook",
        "VBA/Sheet1",
        "VBA/Ribbon",
        "VBA/xlwings",
    }
    assert ole.get_size("VBA/xlwings") >= 4096 and ole.get_size("VBA/Ribbon") < 4096
    project = ole.openstream("PROJECT").read().decode("cp1252")
    assert project.startswith(f'ID="{ovba.project_id("xhht_xl")}"\r\nDocument=ThisWorkbook/&H00000000\r\n')
    assert 'Module=Ribbon\r\nModule=xlwings\r\nName="xhht_xl"\r\n' in project
    wm = ole.openstream("PROJECTwm").read()
    assert wm.startswith(b"ThisWorkbook\x00T\x00h\x00") and wm.endswith(b"\x00\x00\x00\x00")


def _shape(ids: list[int]) -> tuple:
    """Record ids of a dir stream, grouped: information, references, modules, end."""
    first_ref = ids.index(0x16)
    modules_at = ids.index(0x0F)
    info, refs, rest = ids[:first_ref], ids[first_ref:modules_at], ids[modules_at:]
    ref_groups = re.findall(r"(22,62,(?:13|14|47|48|51)(?:,\d+)*?)(?=,22,|$)", ",".join(map(str, refs)))
    assert ",".join(ref_groups) == ",".join(map(str, refs))
    head, mods, tail = rest[:2], rest[2:-1], rest[-1:]
    blocks, block = [], []
    for rid in mods:
        block.append(rid)
        if rid == 0x2B:
            blocks.append(tuple(x if x not in (0x21, 0x22) else "TYPE" for x in block))
            block = []
    assert not block
    return (
        tuple(info),
        {tuple(map(int, g.split(","))) for g in ref_groups},
        tuple(head),
        set(blocks),
        tuple(tail),
    )


def test_dir_stream_has_excel_record_structure(vba_bin):
    excel = olefile.OleFileIO(str(SHARED / "excel-made" / "vbaProject01.bin"))
    theirs = [rid for rid, _ in ovba.dir_records(ovba.decompress(excel.openstream("VBA/dir").read()))]
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    records = list(ovba.dir_records(ovba.decompress(ole.openstream("VBA/dir").read())))
    mine = [rid for rid, _ in records]
    t_info, t_refs, t_head, t_blocks, t_tail = _shape(theirs)
    m_info, m_refs, m_head, m_blocks, m_tail = _shape(mine)
    # Legitimate differences: Excel also references the Office library; module count and names.
    assert m_info == t_info and m_head == t_head and m_tail == t_tail
    assert m_refs <= t_refs and m_blocks == t_blocks
    data = dict(records)
    assert data[0x03] == (1252).to_bytes(2, "little") and data[0x04] == b"xhht_xl"
    assert [p for rid, p in records if rid == 0x31] == [bytes(4)] * 4  # MODULEOFFSET 0
    types = [rid for rid, _ in records if rid in (0x21, 0x22)]
    assert types == [0x22, 0x22, 0x21, 0x21]


# ---------------------------------------------------------------- package


def test_package_parts_and_types(built):
    z = zipfile.ZipFile(built)
    assert z.namelist()[0] == "[Content_Types].xml"
    ct = z.read("[Content_Types].xml").decode()
    assert (
        'PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.addin.macroEnabled.main+xml"' in ct
    )
    rels = z.read("_rels/.rels").decode()
    assert (
        'Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" Target="customUI/customUI14.xml"'
        in rels
    )
    assert z.read("customUI/customUI14.xml") == (MACROS / "customUI14.xml").read_bytes()
    wb = ET.fromstring(z.read("xl/workbook.xml"))
    assert wb.find(f"{MAIN}workbookPr").get("codeName") == "ThisWorkbook"
    assert [s.get("name") for s in wb.iter(f"{MAIN}sheet")] == ["xhht_xl.conf"]
    sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    assert sheet.find(f"{MAIN}sheetPr").get("codeName") == "Sheet1"
    assert not list(sheet.iter(f"{MAIN}c"))  # shipped settings sheet is empty
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())


def test_xlsm_variant_differs_only_in_main_content_type(tmp_path, built):
    xlsm = addin.build_xlsm(tmp_path / "x.xlsm")
    a, b = zipfile.ZipFile(built), zipfile.ZipFile(xlsm)
    assert a.namelist() == b.namelist()
    for name in a.namelist():
        if name != "[Content_Types].xml":
            assert a.read(name) == b.read(name), name
    assert addin.CT_XLSM in b.read("[Content_Types].xml").decode()


def test_build_is_reproducible(tmp_path, built):
    again = addin.build(tmp_path / "again.xlam")
    assert again.read_bytes() == built.read_bytes()


def test_shipped_addin_equals_what_macros_builds_now(built):
    assert addin.shipped_path() == ROOT / "xhht_xl" / "data" / "xhht_xl.xlam"
    # Compared part by part: the zip container's deflate bytes may differ with another zlib build.
    shipped, fresh = zipfile.ZipFile(addin.shipped_path()), zipfile.ZipFile(built)
    assert shipped.namelist() == fresh.namelist()
    for name in fresh.namelist():
        assert shipped.read(name) == fresh.read(name), f"{name} is stale: run python -m xhht_xl.excel.addin"


# ---------------------------------------------------------------- install


def _settings(xlam: Path) -> dict[str, str]:
    sheet = ET.fromstring(zipfile.ZipFile(xlam).read("xl/worksheets/sheet1.xml"))
    rows = {}
    for row in sheet.iter(f"{MAIN}row"):
        a, b = ("".join(c.itertext()) for c in row.findall(f"{MAIN}c"))
        rows[a] = b
    return rows


def test_install_and_uninstall_with_a_vietnamese_user_name(tmp_path, built):
    home = tmp_path / "Users" / "Nguyễn Thị Hồng"
    xlstart = home / "AppData" / "Roaming" / "Microsoft" / "Excel" / "XLSTART"
    exe = str(home / "AppData" / "Local" / "Programs" / "Python" / "python.exe")
    temp = str(home / "AppData" / "Local" / "Temp")
    path = addin.install(python_exe=exe, startup_dir=xlstart, addin=built, temp_dir=temp)
    assert path == xlstart / "xhht_xl.xlam"
    # Off Windows there are no 8.3 names: the Unicode path is kept, in UTF-8 XML.
    assert _settings(path) == {"INTERPRETER_WIN": exe, "TEMP DIR": temp, "UDF MODULES": "xhht_xl.excel.udfs"}
    a, b = zipfile.ZipFile(built), zipfile.ZipFile(path)
    assert a.namelist() == b.namelist()
    assert all(a.read(n) == b.read(n) for n in a.namelist() if n != "xl/worksheets/sheet1.xml")
    assert (
        addin.install(python_exe=exe, startup_dir=xlstart, addin=built, temp_dir=temp).read_bytes()
        == path.read_bytes()
    )
    assert addin.uninstall(xlstart) is True
    assert not path.exists() and addin.uninstall(xlstart) is False


def test_settings_use_short_paths_where_windows_has_them(monkeypatch):
    monkeypatch.setattr(addin, "_short_path", lambda p: p.replace("Nguyễn Thị Hồng", "NGUYNT~1"))
    got = addin.settings_for(
        "C:\\Users\\Nguyễn Thị Hồng\\py\\python.exe", temp_dir="C:\\Users\\Nguyễn Thị Hồng\\Temp"
    )
    assert got == {
        "INTERPRETER_WIN": "C:\\Users\\NGUYNT~1\\py\\python.exe",
        "TEMP DIR": "C:\\Users\\NGUYNT~1\\Temp",
        "UDF MODULES": "xhht_xl.excel.udfs",
    }
    assert addin.settings_for("C:\\Python311\\python.exe", temp_dir="C:\\Temp") == {
        "INTERPRETER_WIN": "C:\\Python311\\python.exe",
        "UDF MODULES": "xhht_xl.excel.udfs",
    }


# ---------------------------------------------------------------- LibreOffice


@pytest.mark.libreoffice
def test_libreoffice_reads_the_modules_through_the_dir_stream(soffice, tmp_path):
    xlsm = addin.build_xlsm(tmp_path / "xhht_xl.xlsm")
    out = tmp_path / "out"
    lo.convert([xlsm], "ods", out, tmp_path)
    z = zipfile.ZipFile(out / "xhht_xl.ods")
    basic = {
        n.split("/")[-1][:-4] for n in z.namelist() if n.startswith("Basic/xhht_xl/") and n.endswith(".xml")
    }
    assert basic == {"ThisWorkbook", "Sheet1", "Ribbon", "xlwings", "script-lb"}
    for mod in addin.modules():
        text = "".join(ET.fromstring(z.read(f"Basic/xhht_xl/{mod.name}.xml")).itertext())
        lo_lines = [line for line in text.splitlines() if line.strip()]
        src_lines = [
            line for line in mod.source.split("\r\n") if line.strip() and not line.startswith("Attribute ")
        ]
        # LibreOffice prepends "Rem Attribute ..." and "Option VBASupport 1"; the rest is the source.
        assert [
            line for line in lo_lines if not line.startswith(("Rem Attribute", "Option VBASupport"))
        ] == src_lines
