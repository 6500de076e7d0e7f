"""Build, install and uninstall the Excel add-in ``xhht_xl.xlam`` from text sources, on any OS.

Sources (package data, so ``xhht addin build`` also works from an installed wheel; see
:func:`default_macros_dir`): ``*.bas`` standard modules and ``ThisWorkbook.cls`` (the code of
the workbook module), ASCII with CRLF. Generated at build time: the ribbon (:func:`customui_xml`,
from ``registry.py`` and ``messages/ribbon.toml``; ``macros/customUI14.xml`` is a reviewable
copy kept current by :func:`write_sources`), the worksheet functions' VBA declarations
(``udf_vba.module_source``), the add-in's sheets ``xhht_xl.texts`` and ``xhht_xl.functions``
(the Vietnamese texts the VBA shows, from ``messages/excel.toml``), and the xlwings VBA module
for custom add-ins that the *installed* xlwings ships (``xlwings/xlwings_custom_addin.bas``,
BSD-3), read with its ``PROJECT_NAME`` set to ``xhht_xl``. The package is written with
``zipfile`` at a fixed timestamp, so a build is reproducible byte for byte.

Settings: RunPython looks for a sheet ``xhht_xl.conf`` in the active workbook, then in the
add-in, then for ``xhht_xl.conf`` next to the active workbook, then for
``%USERPROFILE%\\.xhht_xl\\xhht_xl.conf`` (xlwings 0.37.8, ``GetConfig``). The add-in's sheet
turns ``ADD_WORKBOOK_TO_PYTHONPATH`` off (nothing is imported from the workbook's folder, and a
OneDrive/SharePoint workbook's web address is never resolved on the way to Python);
:func:`install` writes the copy it puts into XLSTART with ``INTERPRETER_WIN`` as well, because
the user file is found through VBA's ``Environ("USERPROFILE")``, which cannot carry a Vietnamese
user name (see ``macros/README.md``).

Errors are :class:`AddinError` with one Vietnamese line; outputs are written atomically
(``fileio``).
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from xhht_xl import fileio, messages
from xhht_xl.excel import cfb, ovba, registry
from xhht_xl.ooxml import col_letter

T = messages.text

PROJECT_NAME = "xhht_xl"
ADDIN_NAME = "xhht_xl.xlam"
CONF_SHEET = f"{PROJECT_NAME}.conf"
TEXTS_SHEET = f"{PROJECT_NAME}.texts"  # read by macros/Xhht.bas XhhtText
FUNCTIONS_SHEET = f"{PROJECT_NAME}.functions"  # read by macros/Xhht.bas XhhtRegisterFunctions
# Always in the add-in's settings sheet: RunPython and the UDF server leave the workbook's folder
# off sys.path (xhht_xl is installed; a OneDrive/SharePoint URL is never resolved there).
BASE_SETTINGS = {"ADD_WORKBOOK_TO_PYTHONPATH": "false"}
# The texts the VBA shows (sheet key -> message key). Stored as templates: the VBA replaces
# {path} and {detail} itself.
VBA_TEXTS = {
    "title": "excel.title",
    "no-workbook": "excel.vba-no-workbook",
    "protected-view": "excel.vba-protected-view",
    "save-first": "excel.save-first",
    "not-installed": "excel.vba-not-installed",
    "no-interpreter": "excel.vba-no-interpreter",
    "path-not-ansi": "excel.vba-path-not-ansi",
    "udf-failed": "excel.vba-udf-failed",
}
THIS_WORKBOOK_CODE = "ThisWorkbook.cls"
XLWINGS_VERSION = "0.37.8"
CUSTOMUI_NS = "http://schemas.microsoft.com/office/2009/07/customui"
REL_CUSTOMUI14 = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
CT_ADDIN = "application/vnd.ms-excel.addin.macroEnabled.main+xml"
CT_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_PART = "xl/worksheets/sheet1.xml"  # the settings sheet
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


class AddinError(RuntimeError):
    """The add-in cannot be built or installed; ``str()`` is one Vietnamese line."""


def default_macros_dir() -> Path:
    """The add-in's text sources: ``xhht_xl/macros`` in an installed package (pyproject maps the
    checkout's ``macros/`` there as package data), else ``macros/`` of the source checkout this
    module lives in (an editable install)."""
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "macros"
    return packaged if packaged.is_dir() else here.parents[2] / "macros"


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
                ("onAction", b.callback),
            ]
            out.append("          <button " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs) + "/>\n")
        out.append("        </group>\n")
    out.append("      </tab>\n    </tabs>\n  </ribbon>\n</customUI>\n")
    return "".join(out)


def write_sources(macros_dir: Path | None = None) -> Path:
    """Regenerate ``macros/customUI14.xml``, the reviewable copy of the ribbon; return its path.

    The build itself uses :func:`customui_xml`, so an installed package needs no such file."""
    path = Path(macros_dir or default_macros_dir()) / "customUI14.xml"
    return fileio.write_bytes(path, customui_xml().encode("utf-8"))


def xlwings_module() -> ovba.Module:
    """The ``xlwings`` VBA module for custom add-ins, read from the installed xlwings package.

    Its ``PROJECT_NAME`` becomes ``xhht_xl`` (settings sheet ``xhht_xl.conf``, user file
    ``%USERPROFILE%\\.xhht_xl\\xhht_xl.conf``); line endings are normalised to CRLF and the
    text must be ASCII (code page 1252 project)."""
    import xlwings

    if xlwings.__version__ != XLWINGS_VERSION:
        raise AddinError(T("excel.addin-xlwings-version", need=XLWINGS_VERSION, found=xlwings.__version__))
    path = Path(xlwings.__file__).with_name("xlwings_custom_addin.bas")
    problem = AddinError(T("excel.addin-xlwings-vba", file=path, need=XLWINGS_VERSION))
    try:
        text = _crlf(path.read_bytes().decode("ascii", errors="strict"))
    except (OSError, UnicodeDecodeError):
        raise problem from None
    text, count = re.subn(
        r'^(Public Const PROJECT_NAME As String = )"myaddin"',
        rf'\1"{PROJECT_NAME}"',
        text,
        flags=re.MULTILINE,
    )
    if count != 1 or f'XLWINGS_VERSION As String = "{XLWINGS_VERSION}"' not in text:
        raise problem
    try:
        return ovba.module_from_bas(text, str(path))
    except ovba.OvbaError:
        raise problem from None


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _source(path: Path) -> str:
    """An ASCII VBA source file, with CRLF line ends."""
    folder = path.parent
    try:
        raw = path.read_bytes()
    except OSError:
        raise AddinError(T("excel.addin-sources-missing", file=path.name, folder=folder)) from None
    try:
        text = _crlf(raw.decode("ascii"))
        ovba.check_source(text, path.name)
    except (UnicodeDecodeError, ovba.OvbaError) as exc:
        raise AddinError(T("excel.addin-bad-source", file=path)) from exc
    return text


def udf_module() -> ovba.Module:
    """The module ``xlwings_udfs``: the VBA declarations of the worksheet functions."""
    from . import udf_vba, udfs

    try:
        return ovba.module_from_bas(udf_vba.module_source(udfs.SPECS.values()), udf_vba.VBA_MODULE)
    except (udf_vba.UdfVbaError, ovba.OvbaError) as exc:
        raise AddinError(T("excel.addin-functions")) from exc


def modules(macros_dir: Path | None = None) -> list[ovba.Module]:
    """All modules of the project, in this order: ThisWorkbook (its code from
    ``ThisWorkbook.cls``), one document module per sheet (Sheet1..Sheet3), ``*.bas`` (sorted),
    ``xlwings_udfs``, xlwings."""
    folder = Path(macros_dir or default_macros_dir())
    bas = sorted(folder.glob("*.bas"))
    if not bas:
        raise AddinError(T("excel.addin-sources-missing", file="*.bas", folder=folder))
    code = _source(folder / THIS_WORKBOOK_CODE)
    mods = [ovba.document_module("ThisWorkbook", ovba.WORKBOOK_BASE, code)]
    mods += [ovba.document_module(code_name, ovba.WORKSHEET_BASE) for code_name, _ in _SHEETS]
    for p in bas:
        try:
            mods.append(ovba.module_from_bas(_source(p), str(p)))
        except ovba.OvbaError as exc:
            raise AddinError(T("excel.addin-bad-source", file=p)) from exc
    mods.append(udf_module())
    mods.append(xlwings_module())
    return mods


def vba_project(macros_dir: Path | None = None) -> bytes:
    """``vbaProject.bin``: the compound file of the source-only VBA project."""
    return cfb.write(ovba.project_tree(PROJECT_NAME, modules(macros_dir)))


# ---------------------------------------------------------------- package


# (code name, sheet name) of the add-in's sheets, in workbook order; sheet<i>.xml is the i-th.
_SHEETS = (("Sheet1", CONF_SHEET), ("Sheet2", TEXTS_SHEET), ("Sheet3", FUNCTIONS_SHEET))


def _sheet_xml(rows: Sequence[Sequence[str]], code_name: str = "Sheet1") -> str:
    """A worksheet of text cells (inline strings: Unicode in UTF-8 XML, no shared strings)."""
    out = []
    width = max((len(r) for r in rows), default=1)
    for r, row in enumerate(rows, 1):
        cells = "".join(
            f'<c r="{col_letter(c)}{r}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'
            for c, text in enumerate(row, 1)
        )
        out.append(f'<row r="{r}">{cells}</row>')
    ref = f"A1:{col_letter(width)}{len(rows)}" if rows else "A1"
    return (
        f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_R}"><sheetPr codeName="{code_name}"/>'
        f'<dimension ref="{ref}"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols><col min="1" max="{max(width, 2)}" width="40" customWidth="1"/></cols>'
        f"<sheetData>{''.join(out)}</sheetData></worksheet>"
    )


def _settings_sheet(settings: Mapping[str, str]) -> bytes:
    return _sheet_xml(list(settings.items()), "Sheet1").encode("utf-8")


def texts_rows() -> list[list[str]]:
    """Rows of the sheet ``xhht_xl.texts``: key, text (a template: ``{path}``, ``{detail}`` kept)."""
    table = messages.table()
    return [[key, table[msg]] for key, msg in VBA_TEXTS.items()]


def functions_rows() -> list[list[str]]:
    """Rows of the sheet ``xhht_xl.functions``: name, category, description, argument texts."""
    from . import udfs

    return [[s.name, s.category, s.doc, *(a.doc for a in s.args)] for s in udfs.SPECS.values()]


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
    n = len(_SHEETS)
    content_types = (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{sheet_ct}.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Override PartName="/xl/styles.xml" ContentType="{sheet_ct}.styles+xml"/>'
        "</Types>"
    )
    root_rels = (
        f'{_XML}<Relationships xmlns="{_PKG_R}">'
        f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="xl/workbook.xml"/>'
        f'<Relationship Id="rId2" Type="{REL_CUSTOMUI14}" Target="customUI/customUI14.xml"/>'
        "</Relationships>"
    )
    sheets = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, (_, name) in enumerate(_SHEETS, 1)
    )
    workbook = (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_R}"><workbookPr codeName="ThisWorkbook"/>'
        f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>"
    )
    workbook_rels = (
        f'{_XML}<Relationships xmlns="{_PKG_R}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_R}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_R}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n + 2}" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"'
        ' Target="vbaProject.bin"/></Relationships>'
    )
    return [
        ("[Content_Types].xml", content_types.encode()),
        ("_rels/.rels", root_rels.encode()),
        ("xl/workbook.xml", workbook.encode()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.encode()),
        (_SHEET_PART, _settings_sheet(settings)),
        ("xl/worksheets/sheet2.xml", _sheet_xml(texts_rows(), "Sheet2").encode("utf-8")),
        ("xl/worksheets/sheet3.xml", _sheet_xml(functions_rows(), "Sheet3").encode("utf-8")),
        ("xl/styles.xml", _STYLES.encode()),
        ("xl/vbaProject.bin", vba),
        ("customUI/customUI14.xml", ribbon),
    ]


def _write_package(
    out_path: Path | str, main_type: str, macros_dir: Path | None, settings: Mapping[str, str]
) -> Path:
    parts = _parts(main_type, vba_project(macros_dir), customui_xml().encode("utf-8"), settings)
    return fileio.write_bytes(out_path, _zip(parts))


def _zip(parts: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in parts:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 0
            z.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def build(out_path: Path | str, macros_dir: Path | None = None) -> Path:
    """Build the add-in (``.xlam``) from ``macros_dir`` (default :func:`default_macros_dir`).

    Same sources, messages and xlwings => same bytes. Returns ``out_path``; raises
    :class:`AddinError` (sources, xlwings) or ``fileio.OutputError`` (the file cannot be written),
    each with one Vietnamese line."""
    return _write_package(out_path, CT_ADDIN, macros_dir, BASE_SETTINGS)


def build_xlsm(out_path: Path | str, macros_dir: Path | None = None) -> Path:
    """The same VBA project and ribbon as a macro-enabled workbook (``.xlsm``).

    LibreOffice refuses every ``.xlam``; this variant lets it (and other readers) check the
    project."""
    return _write_package(out_path, CT_XLSM, macros_dir, BASE_SETTINGS)


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
        raise AddinError(T("addin.no-appdata"))
    return Path(appdata) / "Microsoft" / "Excel" / "XLSTART"


def settings_for(python_exe: str, temp_dir: str | None = None, mail: Mapping[str, str] | None = None) -> dict[str, str]:
    """The rows of the add-in's ``xhht_xl.conf`` sheet for an interpreter.

    Non-ASCII paths (a Vietnamese Windows user name) are given in their 8.3 form where Windows
    has one, because RunPython checks the interpreter with VBA's ``GetAttr`` and runs it through
    ``cmd.exe``, and the worksheet functions load xlwings' DLL next to it with ``LoadLibraryA``
    (ANSI); ``TEMP DIR`` is set the same way when the temp folder is not ASCII (xlwings otherwise
    takes it from VBA's ``Environ("Temp")``). :data:`BASE_SETTINGS` always follow, then ``mail``: the
    mailbox the Lấy báo cáo button offers (``MAIL_SERVER``, ``MAIL_USER``…, ``ribbon.MAIL_SETTINGS``;
    never a password: that stays in the keyring)."""
    settings = {"INTERPRETER_WIN": _ascii_safe(python_exe), **BASE_SETTINGS}
    temp = temp_dir if temp_dir is not None else os.environ.get("TEMP", "")
    if temp and not temp.isascii():
        settings["TEMP DIR"] = _ascii_safe(temp)
    settings.update({k: v for k, v in (mail or {}).items() if v})
    return settings


def path_warning(python_exe: str | None = None) -> str | None:
    """One Vietnamese line when the interpreter's path stays non-ASCII (no 8.3 name on its
    volume), which VBA's ANSI file calls may not reach; ``None`` when the path is safe."""
    exe = _ascii_safe(str(python_exe or sys.executable))
    return None if exe.isascii() else T("excel.addin-path-not-ascii", path=exe)


def with_settings(addin: Path | str, out_path: Path | str, settings: Mapping[str, str]) -> Path:
    """Copy the add-in ``addin`` to ``out_path`` (atomically) with its ``xhht_xl.conf`` sheet
    holding ``settings``. Every other part is copied unchanged, in the same order and at the
    same fixed timestamp. ``fileio.OutputError`` when Excel holds the file open."""
    with zipfile.ZipFile(addin) as src:
        parts = [
            (i.filename, _settings_sheet(settings) if i.filename == _SHEET_PART else src.read(i))
            for i in src.infolist()
        ]
    return fileio.write_bytes(out_path, _zip(parts))


def install(
    python_exe: str | None = None,
    startup_dir: Path | str | None = None,
    addin: Path | str | None = None,
    temp_dir: str | None = None,
    mail: Mapping[str, str] | None = None,
) -> Path:
    """Put the add-in into Excel's startup folder, set up for this Python; no admin rights needed.

    ``startup_dir`` defaults to ``%APPDATA%\\Microsoft\\Excel\\XLSTART`` (Excel opens the
    add-ins there at start; it is a trusted location by default); ``python_exe`` defaults to
    ``sys.executable``; ``addin`` to :func:`shipped_path`. The installed copy has its
    ``xhht_xl.conf`` sheet filled by :func:`settings_for`; an upgrade replaces the file and
    loses nothing (the functions' declarations are part of it). ``mail``: the mailbox rows of the
    settings sheet (:func:`settings_for`). Returns the installed file."""
    exe = str(python_exe or sys.executable)
    folder = Path(startup_dir) if startup_dir is not None else _default_startup_dir()
    source = Path(addin) if addin is not None else shipped_path()
    if not source.is_file():
        raise AddinError(T("addin.missing", path=source))
    return with_settings(source, folder / ADDIN_NAME, settings_for(exe, temp_dir, mail))


def uninstall(startup_dir: Path | str | None = None) -> bool:
    """Remove the add-in from Excel's startup folder; ``True`` if a file was removed."""
    folder = Path(startup_dir) if startup_dir is not None else _default_startup_dir()
    target = folder / ADDIN_NAME
    if target.is_file():
        try:
            target.unlink()
        except PermissionError as exc:  # Windows: Excel has the add-in open
            raise AddinError(T("addin.busy", path=target)) from exc
        return True
    return False


if __name__ == "__main__":  # developer build: regenerate the ribbon copy and the shipped add-in
    write_sources()
    print(build(shipped_path()))
