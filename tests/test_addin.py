"""The Excel add-in built from text sources: package, VBA project, ribbon, install."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
import unicodedata
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import olefile
import pytest
import xmlschema
from oletools.olevba import VBA_Parser

from xhht_xl import cli, lo, messages
from xhht_xl.excel import addin, ovba, registry, udf_vba, udfs

ROOT = Path(__file__).resolve().parents[1]
MACROS = ROOT / "macros"
SHARED = ROOT.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
CUI = "{http://schemas.microsoft.com/office/2009/07/customui}"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
VBA_SOURCES = ("*.bas", "*.cls")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return addin.build(tmp_path_factory.mktemp("addin") / "xhht_xl.xlam")


@pytest.fixture(scope="module")
def vba_bin(built) -> bytes:
    return zipfile.ZipFile(built).read("xl/vbaProject.bin")


# ---------------------------------------------------------------- registry and ribbon


def test_registry_buttons_in_order_with_texts():
    assert registry.TAGS == (
        "kiem_tra", "lay_bao_cao", "tong_hop", "khen_thuong", "tao_mau", "tra_lai", "bao_cao", "huong_dan",
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
        "Hướng dẫn",
    ]
    # Only the buttons whose handler never needs the workbook's file may run on an unsaved book.
    assert [b.tag for b in registry.BUTTONS if not b.needs_file] == ["tao_mau", "huong_dan"]
    groups = {g.id for g in registry.GROUPS}
    for b in registry.BUTTONS:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", b.tag)
        assert b.group in groups and re.fullmatch(r"[A-Z][A-Za-z]+", b.image_mso)
        for key in (b.label_key, b.screentip_key):
            text = messages.text(key)
            assert text and unicodedata.is_normalized("NFC", text)
    assert not re.search(r"^\s*(import|from) xlwings", (ROOT / "xhht_xl/excel/registry.py").read_text(), re.M)


def test_readme_names_every_button_and_counts_them_right():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Dùng trong Excel: thẻ XHHT") : readme.index("### Cài trên Windows")]
    labels = [messages.text(b.label_key) for b in registry.BUTTONS]
    assert f"thẻ **XHHT** với {len(labels)} nút:" in section
    assert [label for label in labels if f"**{label}**" not in section] == []
    assert f"thẻ XHHT có {len(labels)} nút" in readme


def test_customui_copy_is_generated_from_the_registry():
    """The build uses customui_xml(); macros/customUI14.xml is its reviewable copy."""
    assert (MACROS / "customUI14.xml").read_bytes() == addin.customui_xml().encode("utf-8")


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SHARED / "schemas" / "customui14.xsd"))


def test_customui_validates_and_a_misspelt_element_fails(schema):
    text = addin.customui_xml()
    schema.validate(text)
    assert not schema.is_valid(text.replace("<button ", "<buton ").replace("/>", "></buton>", 1))
    assert not schema.is_valid(text.replace("onAction=", "onActoin="))


def _vba_sources() -> dict[str, str]:
    return {p.name: p.read_bytes().decode("ascii") for pattern in VBA_SOURCES for p in MACROS.glob(pattern)}


def test_every_button_calls_the_sub_its_registry_row_asks_for():
    root = ET.fromstring(addin.customui_xml().encode("utf-8"))
    buttons = root.findall(f".//{CUI}button")
    subs = set()
    for text in _vba_sources().values():
        subs |= set(re.findall(r"^(?:Public )?Sub (\w+)\(control As Object\)", text, re.M))
    assert subs == {registry.CALLBACK, registry.CALLBACK_ANY_BOOK}
    assert [b.get("tag") for b in buttons] == list(registry.TAGS)
    for b, row in zip(buttons, registry.BUTTONS, strict=True):
        assert b.get("onAction") == row.callback
        assert b.get("label") == messages.text(f"ribbon.{b.get('tag')}")
    assert root.find(f".//{CUI}tab").get("label") == "XHHT"


def test_vba_sources_are_ascii_crlf_and_check_before_calling_python():
    sources = _vba_sources()
    assert set(sources) == {"Ribbon.bas", "Xhht.bas", "ThisWorkbook.cls"}
    for name in sources:
        raw = (MACROS / name).read_bytes()
        assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b""), name
    ribbon = sources["Ribbon.bas"]
    assert "XhhtRun control.Tag, True" in ribbon and "XhhtRun control.Tag, False" in ribbon
    run = ribbon[ribbon.index("Private Sub XhhtRun(") :]
    # The readiness check comes first; nothing creates a blank workbook any more.
    assert run.index("If Not XhhtReady(needsFile) Then Exit Sub") < run.index("RunPython ")
    assert """RunPython "import xhht_xl.excel.ribbon as r; r.dispatch('" & buttonTag & "')\"""" in run
    assert "Workbooks.Add" not in "".join(sources.values())
    assert "ImportPythonUDFs" not in "".join(sources.values())  # the functions ship in the add-in
    ready = sources["Xhht.bas"]
    ready = ready[ready.index("Public Function XhhtReady(") : ready.index("End Function", ready.index("XhhtReady("))]
    steps = ["ActiveWorkbook Is Nothing", "XhhtInProtectedView()", "Len(ActiveWorkbook.Path) = 0",
             "XhhtPythonProblem()", "XhhtReady = True"]  # fmt: skip
    assert [ready.index(s) for s in steps] == sorted(ready.index(s) for s in steps)
    code = [line for line in "".join(sources.values()).split("\r\n") if not line.lstrip().startswith("'")]
    assert not [line for line in code if re.search(r"\bMsgBox\b", line)]  # ANSI: MessageBoxW instead
    assert "Sub Workbook_Open()" in sources["ThisWorkbook.cls"] and "XhhtRegisterFunctions" in sources["ThisWorkbook.cls"]


def test_vba_turns_exactly_the_python_error_texts_into_excel_errors():
    text = _vba_sources()["Xhht.bas"]
    body = text[text.index("Public Function XhhtCellValue(") : text.index("End Function", text.index("XhhtCellValue("))]
    mapped = dict(re.findall(r'Case "([^"]+)": XhhtCellValue = CVErr\((\d+)\)', body))
    assert {k: int(v) for k, v in mapped.items()} == udfs.ERROR_CODES
    assert set(udfs.ERROR_CODES) == {udfs.NA, udfs.VALUE, udfs.DIV0, udfs.NUM}


def test_every_text_the_vba_shows_is_in_the_texts_sheet_with_the_placeholders_it_fills():
    text = "".join(_vba_sources().values())
    used = set(re.findall(r'XhhtText\("([a-z-]+)"\)', text))
    assert used == set(addin.VBA_TEXTS)
    for key, message_key in addin.VBA_TEXTS.items():
        filled = set(re.findall(rf'Replace\(XhhtText\("{key}"\), "\{{(\w+)\}}"', text))
        assert filled == messages.placeholders(message_key), key
    rows = dict(addin.texts_rows())
    assert rows["no-interpreter"] == messages.table()["excel.vba-no-interpreter"]
    assert "{path}" in rows["no-interpreter"] and rows["title"] == messages.text("excel.title")


# ---------------------------------------------------------------- VBA project


def _olevba(path: Path) -> dict[str, str]:
    parser = VBA_Parser(str(path))
    try:
        return {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


def test_olevba_extracts_exactly_the_sources(built):
    got = _olevba(built)
    expected = {f"{m.name}.{'cls' if m.document else 'bas'}": m.source for m in addin.modules()}
    assert got.keys() == expected.keys()
    for name, code in got.items():
        assert code == expected[name], name
    assert got["Ribbon.bas"] == (MACROS / "Ribbon.bas").read_bytes().decode("ascii")
    assert got["Xhht.bas"] == (MACROS / "Xhht.bas").read_bytes().decode("ascii")
    assert got["ThisWorkbook.cls"].endswith((MACROS / "ThisWorkbook.cls").read_bytes().decode("ascii"))
    assert got["ThisWorkbook.cls"].startswith('Attribute VB_Name = "ThisWorkbook"\r\n')
    xlw = got["xlwings.bas"]
    assert 'Public Const PROJECT_NAME As String = "xhht_xl"' in xlw
    assert 'XLWINGS_VERSION As String = "0.37.8"' in xlw and "Public Function RunPython(" in xlw


def test_the_addin_declares_every_worksheet_function(built):
    """The functions ship as VBA in the add-in: nothing to import, no "Trust access" setting."""
    code = _olevba(built)["xlwings_udfs.bas"]
    assert code == udf_vba.module_source(udfs.SPECS.values())
    declared = re.findall(r"^Function (XHHT_\w+)\(([^)]*)\)\r$", code, re.M)
    assert sorted(udfs.FUNCTIONS) == [name for name, _ in declared]
    signatures = dict(declared)
    assert signatures["XHHT_TY_LE"] == "tu_so, mau_so"
    assert signatures["XHHT_DANH_GIA"] == "ket_qua, chi_tieu, Optional ket_qua_truoc"
    assert signatures["XHHT_SO_LIEU"] == "duong_dan, ma_don_vi, ma_chi_so, nam, Optional phan"
    for name in udfs.FUNCTIONS:
        assert (
            f'{name} = XhhtCellValue(XLPy.CallUDF("xhht_xl.excel.udfs", "{name}", Array(' in code
            and f"{name} = XhhtUdfFailed(Err.Description)" in code
        ), name
    assert code.isascii() and "\n" not in code.replace("\r\n", "")


def test_project_streams(vba_bin):
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("cc61ffff000100")
    names = {"/".join(p) for p in ole.listdir()}
    modules = ["ThisWorkbook", "Sheet1", "Sheet2", "Sheet3", "Ribbon", "Xhht", "xlwings_udfs", "xlwings"]
    assert names == {"PROJECT", "PROJECTwm", "VBA/dir", "VBA/_VBA_PROJECT"} | {f"VBA/{m}" for m in modules}
    assert ole.get_size("VBA/xlwings") >= 4096 and ole.get_size("VBA/Ribbon") < 4096
    project = ole.openstream("PROJECT").read().decode("cp1252")
    assert project.startswith(f'ID="{ovba.project_id("xhht_xl")}"\r\nDocument=ThisWorkbook/&H00000000\r\n')
    assert "Document=Sheet3/&H00000000\r\nModule=Ribbon\r\nModule=Xhht\r\nModule=xlwings_udfs\r\n" in project
    assert 'Module=xlwings\r\nName="xhht_xl"\r\n' in project
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
    assert [p for rid, p in records if rid == 0x31] == [bytes(4)] * 8  # MODULEOFFSET 0
    types = [rid for rid, _ in records if rid in (0x21, 0x22)]
    assert types == [0x22] * 4 + [0x21] * 4  # document modules (workbook, 3 sheets), then standard


# ---------------------------------------------------------------- package


def _rows(xlam: Path, part: str) -> list[list[str]]:
    sheet = ET.fromstring(zipfile.ZipFile(xlam).read(part))
    return [["".join(c.itertext()) for c in row.findall(f"{MAIN}c")] for row in sheet.iter(f"{MAIN}row")]


def _settings(xlam: Path) -> dict[str, str]:
    return dict(_rows(xlam, "xl/worksheets/sheet1.xml"))


def test_package_parts_and_types(built):
    z = zipfile.ZipFile(built)
    assert z.namelist()[0] == "[Content_Types].xml"
    ct = z.read("[Content_Types].xml").decode()
    assert (
        'PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.addin.macroEnabled.main+xml"' in ct
    )
    for i in (1, 2, 3):
        assert f'PartName="/xl/worksheets/sheet{i}.xml"' in ct
    rels = z.read("_rels/.rels").decode()
    assert (
        'Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" Target="customUI/customUI14.xml"'
        in rels
    )
    assert z.read("customUI/customUI14.xml") == (MACROS / "customUI14.xml").read_bytes()
    wb = ET.fromstring(z.read("xl/workbook.xml"))
    assert wb.find(f"{MAIN}workbookPr").get("codeName") == "ThisWorkbook"
    assert [s.get("name") for s in wb.iter(f"{MAIN}sheet")] == ["xhht_xl.conf", "xhht_xl.texts", "xhht_xl.functions"]
    wb_rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in wb_rels}
    for sheet in wb.iter(f"{MAIN}sheet"):
        rid = sheet.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
        assert targets[rid] == f"worksheets/sheet{sheet.get('sheetId')}.xml"
    for i in (1, 2, 3):
        sheet = ET.fromstring(z.read(f"xl/worksheets/sheet{i}.xml"))
        assert sheet.find(f"{MAIN}sheetPr").get("codeName") == f"Sheet{i}"  # matches its document module
    # The workbook's folder never goes on Python's path (OneDrive/SharePoint URLs, stray .py files).
    assert _settings(built) == {"ADD_WORKBOOK_TO_PYTHONPATH": "false"}
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())


def test_the_addin_carries_the_wizard_texts_and_the_vba_messages(built):
    functions = _rows(built, "xl/worksheets/sheet3.xml")
    assert [r[0] for r in functions] == list(udfs.FUNCTIONS)
    for name, category, description, *args in functions:
        spec = udfs.SPECS[name]
        assert category == udfs.CATEGORY == "XHHT"
        assert description == messages.text(f"excel.fn-{name}") == spec.doc
        assert args == [messages.text(f"excel.arg-{a.name}") for a in spec.args]
        for text in (description, *args):
            assert 0 < len(text) <= 255 and unicodedata.is_normalized("NFC", text)  # MacroOptions' limit
    texts = dict(_rows(built, "xl/worksheets/sheet2.xml"))
    assert texts == {key: messages.table()[m] for key, m in addin.VBA_TEXTS.items()}
    assert "Protected View" in texts["protected-view"] and texts["save-first"] == messages.text("excel.save-first")


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


def test_build_errors_are_one_vietnamese_line(tmp_path):
    empty = tmp_path / "rong"
    empty.mkdir()
    with pytest.raises(addin.AddinError) as err:
        addin.build(tmp_path / "x.xlam", macros_dir=empty)
    assert str(err.value) == messages.text("excel.addin-sources-missing", file="*.bas", folder=empty)
    bad = tmp_path / "hong"
    shutil.copytree(MACROS, bad)
    (bad / "Xhht.bas").write_bytes((bad / "Xhht.bas").read_bytes().replace(b"' Helpers", "' Hàm phụ".encode()))
    with pytest.raises(addin.AddinError) as err:
        addin.build(tmp_path / "x.xlam", macros_dir=bad)
    assert str(err.value) == messages.text("excel.addin-bad-source", file=bad / "Xhht.bas")
    (bad / "Xhht.bas").write_bytes((MACROS / "Xhht.bas").read_bytes())
    (bad / "ThisWorkbook.cls").unlink()
    with pytest.raises(addin.AddinError) as err:
        addin.build(tmp_path / "x.xlam", macros_dir=bad)
    assert str(err.value) == messages.text("excel.addin-sources-missing", file="ThisWorkbook.cls", folder=bad)
    assert not (tmp_path / "x.xlam").exists()


# ---------------------------------------------------------------- install


def test_install_and_uninstall_with_a_vietnamese_user_name(tmp_path, built):
    home = tmp_path / "Users" / "Nguyễn Thị Hồng"
    xlstart = home / "AppData" / "Roaming" / "Microsoft" / "Excel" / "XLSTART"
    exe = str(home / "AppData" / "Local" / "Programs" / "Python" / "python.exe")
    temp = str(home / "AppData" / "Local" / "Temp")
    path = addin.install(python_exe=exe, startup_dir=xlstart, addin=built, temp_dir=temp)
    assert path == xlstart / "xhht_xl.xlam"
    # Off Windows there are no 8.3 names: the Unicode path is kept, in UTF-8 XML.
    assert _settings(path) == {"INTERPRETER_WIN": exe, "ADD_WORKBOOK_TO_PYTHONPATH": "false", "TEMP DIR": temp}
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
        "ADD_WORKBOOK_TO_PYTHONPATH": "false",
        "TEMP DIR": "C:\\Users\\NGUYNT~1\\Temp",
    }
    assert addin.settings_for("C:\\Python311\\python.exe", temp_dir="C:\\Temp") == {
        "INTERPRETER_WIN": "C:\\Python311\\python.exe",
        "ADD_WORKBOOK_TO_PYTHONPATH": "false",
    }


def test_a_path_without_short_name_gets_a_warning(monkeypatch):
    monkeypatch.setattr(addin, "_short_path", lambda p: p.replace("Nguyễn Thị Hồng", "NGUYNT~1"))
    assert addin.path_warning("C:\\Users\\Nguyễn Thị Hồng\\py\\python.exe") is None
    assert addin.path_warning("C:\\xhht\\Scripts\\python.exe") is None
    monkeypatch.setattr(addin, "_short_path", lambda p: p)  # a volume without 8.3 names
    exe = "D:\\Người dùng\\xhht\\Scripts\\python.exe"
    assert addin.path_warning(exe) == messages.text("excel.addin-path-not-ascii", path=exe)


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
    assert basic == {"ThisWorkbook", "Sheet1", "Sheet2", "Sheet3", "Ribbon", "Xhht", "xlwings_udfs", "xlwings", "script-lb"}
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


# ---------------------------------------------------------------- command line


def _subcommands(parser, prefix=()):
    """Every command path of the parser tree: (), ("templates",), ("addin", "build"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, cli.argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, (*prefix, name))


def test_every_help_exits_zero(capsys):
    paths = list(_subcommands(cli.build_parser()))
    assert {("addin",), ("addin", "build"), ("addin", "install"), ("addin", "uninstall"), ("validate",)} <= set(paths)
    for path in paths:
        with pytest.raises(SystemExit) as done:
            cli.main([*path, "--help"])
        assert done.value.code == 0, path
        out = capsys.readouterr()
        usage = messages.table()["argparse.usage: "]  # argparse's own texts in Vietnamese
        assert out.out.startswith(f"{usage}xhht {' '.join(path)}".rstrip()) and not out.err, path
    with pytest.raises(SystemExit):
        cli.main(["addin", "install", "--help"])
    assert "%APPDATA%\\Microsoft\\Excel\\XLSTART" in capsys.readouterr().out  # a literal %, not a crash


def test_cli_builds_installs_and_reports_errors_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["addin", "build"]) == 0  # default: ./xhht_xl.xlam, never into the package
    assert (tmp_path / "xhht_xl.xlam").read_bytes() == addin.shipped_path().read_bytes()
    assert capsys.readouterr().out == messages.text("addin.built", path=Path("xhht_xl.xlam")) + "\n"
    xlstart = tmp_path / "XLSTART"
    assert cli.main(["addin", "install", "--startup-dir", str(xlstart), "--python", sys.executable]) == 0
    assert _settings(xlstart / "xhht_xl.xlam")["INTERPRETER_WIN"] == sys.executable
    capsys.readouterr()
    (tmp_path / "thu_muc.xlam").mkdir()  # the output name is taken by a folder
    assert cli.main(["addin", "build", "-o", "thu_muc.xlam"]) == 2
    out = capsys.readouterr()
    assert not out.out and out.err.count("\n") == 1 and out.err.startswith("Lỗi: Không ghi được tệp thu_muc.xlam")
    assert cli.main(["addin", "uninstall", "--startup-dir", str(xlstart)]) == 0
    assert not (xlstart / "xhht_xl.xlam").exists()


# ---------------------------------------------------------------- an installed wheel


def test_pyproject_lists_every_package_directory():
    """Packages are listed (the macros/ mapping needs it): a new subpackage must be added there."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "xhht_xl").rglob("__init__.py")}
    assert set(config["packages"]) == found | {"xhht_xl.macros"}
    assert config["package-dir"] == {"xhht_xl.macros": "macros"}
    assert sorted(config["package-data"]["xhht_xl.macros"]) == sorted(VBA_SOURCES)


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, (cmd, out.stdout[-2000:], out.stderr[-2000:])
    return out


def test_an_installed_wheel_builds_the_packaged_addin_byte_for_byte(tmp_path):
    """pip-install the wheel into a fresh venv, then `xhht addin build` there (no checkout around)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "xhht_xl", src / "xhht_xl", ignore=ignore)
    shutil.copytree(ROOT / "macros", src / "macros", ignore=ignore)
    dist = tmp_path / "dist"
    # The build backend of the test environment (setuptools, wheel), no download.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, src])
    wheel = next(dist.glob("xhht_xl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"xhht_xl/macros/Ribbon.bas", "xhht_xl/macros/Xhht.bas", "xhht_xl/macros/ThisWorkbook.cls",
            "xhht_xl/data/xhht_xl.xlam"} <= set(names)  # fmt: skip
    venv = tmp_path / "venv"
    # No pip inside the new venv (ensurepip costs ~10 s): this environment's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel])
    # The dependencies (pandas, xlwings...) come from this environment, after the venv's own
    # site-packages, so xhht_xl itself is the installed wheel and nothing of the checkout.
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    here = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "zz_test_deps.pth").write_text("\n".join(here) + "\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    where = _run([py, "-c", "import xhht_xl.excel.addin as a; print(a.__file__); print(a.default_macros_dir())"],
                 cwd=work).stdout.split()  # fmt: skip
    assert all(line.startswith(site) for line in where), where
    xhht = venv / "bin" / "xhht"
    out = _run([xhht, "addin", "build", "-o", "X.xlam"], cwd=work)
    assert out.stdout.strip() == messages.text("addin.built", path="X.xlam")
    packaged = Path(site) / "xhht_xl" / "data" / "xhht_xl.xlam"
    assert (work / "X.xlam").read_bytes() == packaged.read_bytes() == addin.shipped_path().read_bytes()
    # The help of each addin command from the installed entry point, all three in one process of the
    # venv (the real console script ran above; a Python start-up and the package's imports cost ~0.6 s each).
    helps = json.loads(_run([py, "-c", _HELPS, str(xhht)], cwd=work).stdout)
    assert len(helps) == 3
    for code, text in helps:
        assert code == 0 and text.startswith(messages.table()["argparse.usage: "] + "xhht addin"), text


_HELPS = """
import contextlib, io, json, sys
from importlib.metadata import entry_points
(main,) = [e for e in entry_points(group="console_scripts") if e.name == "xhht"]
main = main.load()
script = sys.argv[1]  # the console script, as its own process would see argv[0]
done = []
for args in (["addin", "--help"], ["addin", "build", "--help"], ["addin", "install", "--help"]):
    sys.argv = [script, *args]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(args)
        except SystemExit as end:
            code = end.code
    done.append((code, out.getvalue()))
print(json.dumps(done))
"""
