"""The VBA declarations of the worksheet functions, generated when the add-in is built, on any OS.

Excel reaches a Python UDF through one VBA ``Function`` that calls xlwings' COM server
(``XLPy.CallUDF``). xlwings writes those functions at run time (``xlwings.udfs.import_udfs``,
the ribbon's "Import Functions"), which needs Windows, "Trust access to the VBA project object
model" and a save of the add-in afterwards. Here the same text is written at build time from
:data:`xhht_xl.excel.udfs.SPECS` into the add-in's module ``xlwings_udfs`` (the name
``import_udfs`` uses, so a later import replaces it instead of duplicating the functions).

:func:`declarations` follows ``xlwings.udfs.generate_vba_wrapper`` of xlwings 0.37.8 for what
this project uses: functions (not subs) with positional and optional arguments, in an add-in
(hence ``ActiveWorkbook``), called in the function wizard, not volatile. Anything else is
refused. ``tests/test_excel_udf_vba.py`` runs xlwings' real decorators and generator (Windows
modules replaced by stand-ins) and requires the same text.

:func:`module_source` is what ships. It differs from xlwings' text in two lines per function,
both made by :func:`excel_edits`:

- the call from a cell is wrapped in ``XhhtCellValue`` (``macros/Xhht.bas``), which turns the
  error texts of ``udfs.ERROR_CODES`` into Excel error values: xlwings 0.37.8 cannot return one
  from a UDF (its COM server passes every return value as a plain VARIANT; xlwings issue 776);
- on failure (Python not found, the server not starting), ``XhhtUdfFailed`` puts a Vietnamese
  line in the cell instead of xlwings' English ``Err.Description``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .udfs import FunctionSpec

VBA_MODULE = "xlwings_udfs"
PY_MODULE = "xhht_xl.excel.udfs"
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")
_MAX_LINE = 1023  # characters of one physical VBA line; longer lines would need " _" continuations


class UdfVbaError(ValueError):
    """A function that the generator does not declare the way xlwings would."""


def _check(spec: FunctionSpec) -> None:
    names = [spec.name, *(a.name for a in spec.args)]
    bad = [n for n in names if not _IDENTIFIER.fullmatch(n)]
    if bad:
        raise UdfVbaError(f"{spec.name}: {bad} cannot be VBA names")
    if any(a.name == "caller" for a in spec.args):
        raise UdfVbaError(f"{spec.name}: xlwings' reserved argument 'caller' is not supported here")
    flags = [a.optional for a in spec.args]
    if flags != sorted(flags):
        raise UdfVbaError(f"{spec.name}: optional arguments must come last")


def declarations(specs: Iterable[FunctionSpec], py_module: str = PY_MODULE) -> str:
    """xlwings' VBA wrappers of ``specs`` (LF line ends), in the order xlwings writes them
    (``dir(module)``: sorted by name). Raises :class:`UdfVbaError` outside the supported cases."""
    lines: list[str] = []
    for spec in sorted(specs, key=lambda s: s.name):
        _check(spec)
        params = ", ".join(("Optional " if a.optional else "") + a.name for a in spec.args)
        array = "Array(" + ", ".join(a.name for a in spec.args) + ")"
        call = f'XLPy.CallUDF("{py_module}", "{spec.name}", {array}'
        lines += [
            f"Function {spec.name}({params})",
            '    #If App = "Microsoft Excel" Then',
            "        If TypeOf Application.Caller Is Range Then On Error GoTo failed",
            f"        {spec.name} = {call}, ActiveWorkbook, Application.Caller)",
            "        Exit Function",
            "    #Else",
            f"        {spec.name} = {call})",
            "        Exit Function",
            "    #End If",
            "failed:",
            f"    {spec.name} = Err.Description",
            "End Function",
            "",
        ]
    too_long = [line for line in lines if len(line) > _MAX_LINE]
    if too_long:
        raise UdfVbaError(f"VBA line longer than {_MAX_LINE} characters: {too_long[0][:60]}...")
    return "".join(line + "\n" for line in lines)


def excel_edits(text: str, names: Iterable[str]) -> str:
    """xlwings' declarations with this project's two changes per function (see the module doc).

    ``names`` are the functions the text must declare; each edit must apply exactly once per
    function, so a change of xlwings' layout fails here instead of shipping half-edited VBA."""
    for name in names:
        call = re.compile(rf"^( +{name} = )(XLPy\.CallUDF\(.*, ActiveWorkbook, Application\.Caller\))$", re.M)
        failed = f"\n    {name} = Err.Description\n"
        if len(call.findall(text)) != 1 or text.count(failed) != 1:
            raise UdfVbaError(f"{name}: the xlwings declaration does not have the expected layout")
        text = call.sub(r"\1XhhtCellValue(\2)", text)
        text = text.replace(failed, f"\n    {name} = XhhtUdfFailed(Err.Description)\n")
    return text


def module_source(specs: Iterable[FunctionSpec], py_module: str = PY_MODULE) -> str:
    """The module ``xlwings_udfs`` that ships in the add-in: header, then :func:`declarations`
    with :func:`excel_edits` applied; ASCII with CRLF line ends (code page 1252 project)."""
    specs = list(specs)
    header = (
        f'Attribute VB_Name = "{VBA_MODULE}"\n'
        f"' Worksheet functions of {py_module}: generated by xhht_xl.excel.udf_vba when the add-in is\n"
        "' built (do not edit). xlwings' declarations plus XhhtCellValue and XhhtUdfFailed (module Xhht).\n"
        '#Const App = "Microsoft Excel" \'Adjust when using outside of Excel\n'
    )
    body = excel_edits(declarations(specs, py_module), [s.name for s in specs])
    return (header + body).replace("\n", "\r\n")
