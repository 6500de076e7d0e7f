"""Build, install and uninstall the Excel add-in ``xhht_xl.xlam`` from text sources, on any OS.

Sources: ``macros/*.bas`` (ASCII, CRLF), ``macros/customUI14.xml`` (generated from
``registry.py`` and ``messages/ribbon.toml`` by :func:`write_sources`), and the xlwings VBA
module for custom add-ins that the *installed* xlwings package ships
(``xlwings/xlwings_custom_addin.bas``), read at build time with its ``PROJECT_NAME`` set to
``xhht_xl``. The package is written with ``zipfile`` at a fixed timestamp, so a build is
reproducible byte for byte.

Settings: RunPython looks for a sheet ``xhht_xl.conf`` in the active workbook, then in the
add-in, then for ``xhht_xl.conf`` next to the active workbook, then for
``%USERPROFILE%\\.xhht_xl\\xhht_xl.conf`` (xlwings 0.37.8, ``GetConfig``). The shipped add-in has
that sheet, empty; :func:`install` writes the copy it puts into XLSTART with the sheet filled
(``INTERPRETER_WIN``), because the user file is found through VBA's ``Environ("USERPROFILE")``,
which cannot carry a Vietnamese user name (see ``macros/README.md``).
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from xhht_xl import messages
from xhht_xl.excel import cfb, ovba, registry

PROJECT_NAME = "xhht_xl"
ADDIN_NAME = "xhht_xl.xlam"
CONF_SHEET = f"{PROJECT_NAME}.conf"
XLWINGS_VERSION = "0.37.8"
CUSTOMUI_NS = "http://schemas.microsoft.com/office/2009/07/customui"
REL_CUSTOMUI14 = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
CT_ADDIN = "application/vnd.ms-excel.addin.macroEnabled.main+xml"
CT_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_PART = "xl/worksheets/sheet1.xml"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


class AddinError(RuntimeError):
    """The add-in cannot be built or installed (missing sources, unexpected xlwings VBA...)."""


def default_macros_dir() -> Path:
    """``macros/`` of the source checkout this module lives in."""
    return Path(__file__).resolve().parents[2] / "macros"


def shipped_path() -> Path:
    """The add-in shipped inside the package: ``xhht_xl/data/xhht_xl.xlam``."""
    return Path(str(resources.files("xhht_xl") / "data" / ADDIN_NAME))


# ---------------------------------------------------------------- sources


def customui_xml() -> str:
    """The ribbon (``customUI14.xml``) generated from the registry and the ribbon messages."""
    out = [
        _XML,
        "<!-- Generated from xhht_xl/excel/registry.py and xhht_xl/messages/ribbon.toml"
        " by xhht_xl.excel.addin.write_sources(): do not edit. -->\n",
        f'<customUI xmlns="{CUSTOMUI_NS}">\n',
        "  <ribbon>\n    <tabs>\n",
        f"      <tab id={quoteattr(registry.TAB_ID)} label={quoteattr(messages.text(registry.TAB_LABEL_KEY))}>\n",
    ]
    for group in registry.GROUPS:
        out.append(
            f"        <group id={quoteattr('xhht_' + group.id)} label={quoteattr(messages.text(group.label_key))}>\n"
        )
        for b in registry.BUTTONS:
            if b.group != group.id:
                continue
            attrs = [
                ("id", "xhht_" + b.tag),
                ("tag", b.tag),
                ("label", messages.text(b.label_key)),
                ("screentip", messages.text(b.screentip_key)),
                ("imageMso", b.image_mso),
                ("size", "large"),
                ("onAction", registry.CALLBACK),
            ]
            out.append("          <button " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs) + "/>\n")
        out.append("        </group>\n")
    out.append("      </tab>\n    </tabs>\n  </ribbon>\n</customUI>\n")
    return "".join(out)


def write_sources(macros_dir: Path | None = None) -> Path:
    """Regenerate ``macros/customUI14.xml`` from the registry; return its path."""
    path = Path(macros_dir or default_macros_dir()) / "customUI14.xml"
    path.write_bytes(customui_xml().encode("utf-8"))
    return path


def xlwings_module() -> ovba.Module:
    """The ``xlwings`` VBA module for custom add-ins, read from the installed xlwings package.

    Its ``PROJECT_NAME`` becomes ``xhht_xl`` (settings sheet ``xhht_xl.conf``, user file
    ``%USERPROFILE%\\.xhht_xl\\xhht_xl.conf``); line endings are normalised to CRLF and the
    text must be ASCII (code page 1252 project)."""
    import xlwings

    if xlwings.__version__ != XLWINGS_VERSION:
        raise AddinError(
            f"xlwings {XLWINGS_VERSION} is required to build the add-in, found {xlwings.__version__}"
        )
    path = Path(xlwings.__file__).with_name("xlwings_custom_addin.bas")
    if not path.is_file():
        raise AddinError(f"the installed xlwings ships no {path.name}")
    text = _crlf(path.read_bytes().decode("ascii", errors="strict"))
    text, count = re.subn(
        r'^(Public Const PROJECT_NAME As String = )"myaddin"',
        rf'\1"{PROJECT_NAME}"',
        text,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise AddinError(f"{path}: expected one PROJECT_NAME constant, found {count}")
    if f'XLWINGS_VERSION As String = "{XLWINGS_VERSION}"' not in text:
        raise AddinError(f"{path}: not the VBA of xlwings {XLWINGS_VERSION}")
    return ovba.module_from_bas(text, str(path))


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def modules(macros_dir: Path | None = None) -> list[ovba.Module]:
    """All modules of the project: ThisWorkbook, Sheet1, ``macros/*.bas`` (sorted), xlwings."""
    folder = Path(macros_dir or default_macros_dir())
    bas = sorted(folder.glob("*.bas"))
    if not bas:
        raise AddinError(f"no .bas sources in {folder}")
    mods = [
        ovba.document_module("ThisWorkbook", ovba.WORKBOOK_BASE),
        ovba.document_module("Sheet1", ovba.WORKSHEET_BASE),
    ]
    mods += [
        ovba.module_from_bas(_crlf(p.read_bytes().decode("ascii", errors="replace")), str(p)) for p in bas
    ]
    mods.append(xlwings_module())
    return mods


def vba_project(macros_dir: Path | None = None) -> bytes:
    """``vbaProject.bin``: the compound file of the source-only VBA project."""
    return cfb.write(ovba.project_tree(PROJECT_NAME, modules(macros_dir)))


# ---------------------------------------------------------------- package


def _sheet_xml(settings: Mapping[str, str]) -> str:
    rows = []
    for r, (key, value) in enumerate(settings.items(), 1):
        cells = "".join(
            f'<c r="{col}{r}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'
            for col, text in (("A", key), ("B", value))
        )
        rows.append(f'<row r="{r}">{cells}</row>')
    ref = f"A1:B{len(rows)}" if rows else "A1"
    return (
        f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_R}"><sheetPr codeName="Sheet1"/>'
        f'<dimension ref="{ref}"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols><col min="1" max="2" width="40" customWidth="1"/></cols>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _parts(main_type: str, vba: bytes, ribbon: bytes, settings: Mapping[str, str]) -> list[tuple[str, bytes]]:
    sheet_ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    content_types = (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet_ct}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{sheet_ct}.styles+xml"/>'
        "</Types>"
    )
    root_rels = (
        f'{_XML}<Relationships xmlns="{_PKG_R}">'
        f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="xl/workbook.xml"/>'
        f'<Relationship Id="rId2" Type="{REL_CUSTOMUI14}" Target="customUI/customUI14.xml"/>'
        "</Relationships>"
    )
    workbook = (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_R}"><workbookPr codeName="ThisWorkbook"/>'
        "<bookViews><workbookView/></bookViews>"
        f'<sheets><sheet name="{CONF_SHEET}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        f'{_XML}<Relationships xmlns="{_PKG_R}">'
        f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_R}/styles" Target="styles.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"'
        ' Target="vbaProject.bin"/></Relationships>'
    )
    return [
        ("[Content_Types].xml", content_types.encode()),
        ("_rels/.rels", root_rels.encode()),
        ("xl/workbook.xml", workbook.encode()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.encode()),
        (_SHEET_PART, _sheet_xml(settings).encode("utf-8")),
        ("xl/styles.xml", _STYLES.encode()),
        ("xl/vbaProject.bin", vba),
        ("customUI/customUI14.xml", ribbon),
    ]


def _write_package(
    out_path: Path | str, main_type: str, macros_dir: Path | None, settings: Mapping[str, str]
) -> Path:
    folder = Path(macros_dir or default_macros_dir())
    ribbon = folder / "customUI14.xml"
    if not ribbon.is_file():
        raise AddinError(f"{ribbon} is missing: run write_sources() first")
    parts = _parts(main_type, vba_project(folder), ribbon.read_bytes(), settings)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    _zip(tmp, parts)
    os.replace(tmp, out)
    return out


def _zip(path: Path, parts: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 0
            z.writestr(info, data, compresslevel=9)


def build(out_path: Path | str, macros_dir: Path | None = None) -> Path:
    """Build the add-in (``.xlam``) from ``macros_dir`` (default: the checkout's ``macros/``).

    Same sources and same xlwings => same bytes. Returns ``out_path``."""
    return _write_package(out_path, CT_ADDIN, macros_dir, {})


def build_xlsm(out_path: Path | str, macros_dir: Path | None = None) -> Path:
    """The same VBA project and ribbon as a macro-enabled workbook (``.xlsm``).

    LibreOffice refuses every ``.xlam``; this variant lets it (and other readers) check the
    project."""
    return _write_package(out_path, CT_XLSM, macros_dir, {})


# ---------------------------------------------------------------- install


def _short_path(path: str) -> str:
    """On Windows, the 8.3 form of an existing ``path`` (ASCII when short names exist)."""
    if os.name != "nt":
        return path
    import ctypes

    size = ctypes.windll.kernel32.GetShortPathNameW(path, None, 0)  # type: ignore[attr-defined]
    if not size:
        return path
    buf = ctypes.create_unicode_buffer(size)
    ctypes.windll.kernel32.GetShortPathNameW(path, buf, size)  # type: ignore[attr-defined]
    return buf.value or path


def _ascii_safe(path: str) -> str:
    return path if path.isascii() else _short_path(path)


def _default_startup_dir() -> Path:
    appdata = os.environ.get("APPDATA")
    if not appdata:
        raise AddinError(messages.text("addin.no-appdata"))
    return Path(appdata) / "Microsoft" / "Excel" / "XLSTART"


def settings_for(python_exe: str, temp_dir: str | None = None) -> dict[str, str]:
    """The rows of the add-in's ``xhht_xl.conf`` sheet for an interpreter.

    Non-ASCII paths (a Vietnamese Windows user name) are given in their 8.3 form where Windows
    has one, because RunPython checks the interpreter with VBA's ``GetAttr`` and runs it through
    ``cmd.exe``; ``TEMP DIR`` is set the same way when the temp folder is not ASCII (xlwings
    otherwise takes it from VBA's ``Environ("Temp")``)."""
    # UDF MODULES: the Python module whose @xw.func functions "Nhập hàm" imports into the add-in.
    settings = {"INTERPRETER_WIN": _ascii_safe(python_exe), "UDF MODULES": "xhht_xl.excel.udfs"}
    temp = temp_dir if temp_dir is not None else os.environ.get("TEMP", "")
    if temp and not temp.isascii():
        settings["TEMP DIR"] = _ascii_safe(temp)
    return settings


def with_settings(addin: Path | str, out_path: Path | str, settings: Mapping[str, str]) -> Path:
    """Copy the add-in ``addin`` to ``out_path`` with its ``xhht_xl.conf`` sheet holding ``settings``.

    Every other part is copied unchanged, in the same order and at the same fixed timestamp."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(addin) as src:
        parts = [
            (i.filename, _sheet_xml(settings).encode("utf-8") if i.filename == _SHEET_PART else src.read(i))
            for i in src.infolist()
        ]
    _zip(tmp, parts)
    try:
        os.replace(tmp, out)
    except PermissionError as exc:  # Windows: Excel has the add-in open
        tmp.unlink(missing_ok=True)
        raise AddinError(messages.text("addin.busy", path=out)) from exc
    return out


def install(
    python_exe: str | None = None,
    startup_dir: Path | str | None = None,
    addin: Path | str | None = None,
    temp_dir: str | None = None,
) -> Path:
    """Put the add-in into Excel's startup folder, set up for this Python; no admin rights needed.

    ``startup_dir`` defaults to ``%APPDATA%\\Microsoft\\Excel\\XLSTART`` (Excel opens the
    add-ins there at start; it is a trusted location by default); ``python_exe`` defaults to
    ``sys.executable``; ``addin`` to :func:`shipped_path`. The installed copy has its
    ``xhht_xl.conf`` sheet filled by :func:`settings_for`. Returns the installed file."""
    exe = str(python_exe or sys.executable)
    folder = Path(startup_dir) if startup_dir is not None else _default_startup_dir()
    source = Path(addin) if addin is not None else shipped_path()
    if not source.is_file():
        raise AddinError(messages.text("addin.missing", path=source))
    return with_settings(source, folder / ADDIN_NAME, settings_for(exe, temp_dir))


def uninstall(startup_dir: Path | str | None = None) -> bool:
    """Remove the add-in from Excel's startup folder; ``True`` if a file was removed."""
    folder = Path(startup_dir) if startup_dir is not None else _default_startup_dir()
    target = folder / ADDIN_NAME
    if target.is_file():
        try:
            target.unlink()
        except PermissionError as exc:  # Windows: Excel has the add-in open
            raise AddinError(messages.text("addin.busy", path=target)) from exc
        return True
    return False


if __name__ == "__main__":  # developer build: regenerate the ribbon and the shipped add-in
    write_sources()
    print(build(shipped_path()))
