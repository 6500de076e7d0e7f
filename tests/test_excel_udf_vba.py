"""The worksheet functions under xlwings' real decorators and VBA generator, as on Windows.

On Linux ``xlwings`` hands out no-op ``@xw.func``/``@xw.arg``; ``xlwings.udfs`` (the real ones,
and ``generate_vba_wrapper``, the text "Import Functions" writes into a workbook) imports only
``pythoncom``, ``pywintypes`` and ``win32com.client`` from pywin32. A child process replaces those
three with stand-ins, points ``xw.func``/``xw.arg``/``xw.ret``/``xw.sub`` at the real decorators
(what ``xlwings/__init__.py`` does on Windows), imports ``xhht_xl.excel.udfs`` and reports what
Excel would get. Nothing of ``xhht_xl`` is replaced.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from xhht_xl import messages
from xhht_xl.excel import udf_vba, udfs

T = messages.text

_CHILD = textwrap.dedent(
    """
    import io, json, sys, types
    for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
        sys.modules[name] = types.ModuleType(name)  # stand-ins for pywin32 (Windows only)
    sys.modules["pythoncom"].CoInitialize = lambda: None
    sys.modules["pywintypes"].com_error = type("com_error", (Exception,), {})
    sys.modules["win32com.client"].Dispatch = lambda *a, **k: None
    sys.modules["win32com"].client = sys.modules["win32com.client"]
    import concurrent.futures  # xlwings.udfs uses it without importing it

    import xlwings as xw
    import xlwings.udfs as real

    xw.func, xw.arg, xw.ret, xw.sub = real.xlfunc, real.xlarg, real.xlret, real.xlsub

    # The trap the project fell into: xw.func first, then xw.arg, loses the category.
    def trap(a):
        return a
    trap = xw.arg("a", doc="x")(xw.func(category="XHHT")(trap))

    from xhht_xl.excel import udfs

    vba = io.StringIO()
    book = types.SimpleNamespace(Name="xhht_xl.xlam")  # an add-in: the wrapper uses ActiveWorkbook
    real.generate_vba_wrapper("xhht_xl.excel.udfs", udfs, vba, book)
    info = {}
    for name in udfs.FUNCTIONS:
        xlf = getattr(udfs, name).__xlfunc__
        info[name] = {
            "category": xlf["category"],
            "doc": xlf["ret"]["doc"],
            "args": [[a["name"], a["doc"], "optional" in a, a["vararg"], a["vba"]] for a in xlf["args"]],
            "call_in_wizard": xlf["call_in_wizard"],
            "volatile": xlf["volatile"],
            "sub": xlf["sub"],
        }
    print(json.dumps({"trap": trap.__xlfunc__["category"], "functions": info, "vba": vba.getvalue()}))
    """
)


@pytest.fixture(scope="module")
def windows() -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_stand_ins_run_xlwings_real_decorators(windows):
    # Proof the child is not using Linux's no-op decorators: xlwings' reset of the category shows.
    assert windows["trap"] == "xlwings"


def test_every_function_lands_in_the_xhht_category_with_vietnamese_texts(windows):
    functions = windows["functions"]
    assert list(functions) == list(udfs.FUNCTIONS)
    for name, info in functions.items():
        spec = udfs.SPECS[name]
        assert info["category"] == udfs.CATEGORY == spec.category == "XHHT", name
        assert info["doc"] == T(f"excel.fn-{name}") == spec.doc
        assert info["args"] == [[a.name, T(f"excel.arg-{a.name}"), a.optional, False, None] for a in spec.args]
        assert info["call_in_wizard"] and not info["volatile"] and not info["sub"]
    assert [a[0] for a in functions["XHHT_SO_LIEU"]["args"]] == ["duong_dan", "ma_don_vi", "ma_chi_so", "nam", "phan"]
    assert [a[2] for a in functions["XHHT_DANH_GIA"]["args"]] == [False, False, True]


def test_the_shipped_declarations_are_xlwings_own_text_with_the_two_documented_edits(windows):
    theirs = windows["vba"]
    assert udf_vba.declarations(udfs.SPECS.values()) == theirs
    shipped = udf_vba.module_source(udfs.SPECS.values()).replace("\r\n", "\n")
    body = shipped[shipped.index("Function ") :]
    assert body == udf_vba.excel_edits(theirs, udfs.FUNCTIONS)
    changed = [(a, b) for a, b in zip(theirs.split("\n"), body.split("\n"), strict=True) if a != b]
    assert len(changed) == 2 * len(udfs.FUNCTIONS)  # one call wrapped, one failure text, per function
    for old, new in changed:
        assert new in (old.replace("= XLPy.CallUDF(", "= XhhtCellValue(XLPy.CallUDF(") + ")",
                       old.replace("= Err.Description", "= XhhtUdfFailed(Err.Description)"))  # fmt: skip


def test_the_generator_refuses_what_it_cannot_declare_like_xlwings():
    arg = udfs.Arg
    spec = udfs.FunctionSpec
    with pytest.raises(udf_vba.UdfVbaError, match="optional arguments must come last"):
        udf_vba.declarations([spec("F", "d", "XHHT", (arg("a", "", True), arg("b", "", False)))])
    with pytest.raises(udf_vba.UdfVbaError, match="reserved argument"):
        udf_vba.declarations([spec("F", "d", "XHHT", (arg("caller", "", False),))])
    with pytest.raises(udf_vba.UdfVbaError, match="cannot be VBA names"):
        udf_vba.declarations([spec("TỶ_LỆ", "d", "XHHT", ())])
    with pytest.raises(udf_vba.UdfVbaError, match="expected layout"):
        udf_vba.excel_edits("Function F()\nEnd Function\n", ["F"])
