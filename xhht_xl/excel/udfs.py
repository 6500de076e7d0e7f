"""Worksheet functions (xlwings UDFs) of the add-in, named XHHT_… in upper snake case.

On Windows, ``@xw.func``/``@xw.arg`` attach xlwings' metadata (``__xlfunc__``); elsewhere they
return the function unchanged, so the functions are plain Python in tests. Parameters carry no
type hints on purpose: xlwings would use them as converters.

Excel sees the functions through VBA declarations that ship inside the add-in: they are
generated at build time from :data:`SPECS` (``xhht_xl.excel.udf_vba``), in the layout xlwings'
own ``import_udfs`` writes, so no "Trust access to the VBA project object model" and no
"import" step is needed. :data:`SPECS` holds what xlwings' decorators hold on Windows (name,
arguments, optional ones, category :data:`CATEGORY`, Vietnamese descriptions from
``messages/excel.toml``); ``tests/test_excel_udf_vba.py`` runs the real decorators to prove it.

A bad argument never raises: the function returns the text of the Excel error a formula would
give (``"#N/A"`` no data or unknown code, ``"#VALUE!"`` wrong kind of value, ``"#DIV/0!"``,
``"#NUM!"``). xlwings 0.37.8 cannot return a real error value from a UDF (its COM server turns
every return value into a plain VARIANT; xlwings issue 776), so the add-in's VBA declaration
turns these exact texts into Excel's error values (``CVErr``, :data:`ERROR_CODES`): in Excel
``ISERROR``/``IFERROR`` catch them; a Python caller gets the text.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import xlwings as xw

from .. import layout, messages, textnorm
from .. import plan as plan_mod

T = messages.text
NA, VALUE, DIV0, NUM = "#N/A", "#VALUE!", "#DIV/0!", "#NUM!"
# Excel's xlCVError numbers (CVErr) of the error texts above; the add-in's VBA maps them.
ERROR_CODES = {NA: 2042, VALUE: 2015, DIV0: 2007, NUM: 2036}
CATEGORY = "XHHT"  # the function wizard's category (a custom one: Application.MacroOptions Category)
FUNCTIONS = (
    "XHHT_TY_LE",
    "XHHT_DANH_GIA",
    "XHHT_CHI_TIEU",
    "XHHT_TEN_DON_VI",
    "XHHT_HAN_NOP",
    "XHHT_SO_LIEU",
)
MEASURES = {
    "num": ("num", "tu_so", "ts", "tu"),
    "den": ("den", "mau_so", "ms", "mau"),
    "rate": ("rate", "ty_le", "tl", "ti_le"),
    "verdict": ("verdict", "danh_gia", "dg"),
}


class _Bad(Exception):
    """An argument that gives an Excel error value (``str()`` is that value)."""


@dataclass(frozen=True)
class Arg:
    """One argument of a worksheet function: its name, wizard text, and whether it may be left out."""

    name: str
    doc: str
    optional: bool


@dataclass(frozen=True)
class FunctionSpec:
    """What Excel needs to know of a worksheet function: the VBA declaration and the wizard texts.

    ``name`` is the Python and Excel name; ``doc`` the description (≤ 255 characters, Excel's
    limit for ``MacroOptions``); ``category`` the wizard's category; ``args`` in order."""

    name: str
    doc: str
    category: str
    args: tuple[Arg, ...]


SPECS: dict[str, FunctionSpec] = {}


def _export(fn):
    """Declare ``fn`` a worksheet function: xlwings' decorators (live on Windows) and :data:`SPECS`.

    ``xw.arg`` re-applies xlwings' function decorator, which resets the category to "xlwings"
    (xlwings 0.37.8 ``udfs.xlfunc``), so every ``xw.arg`` comes first and ``xw.func`` last."""
    fn.__doc__ = T(f"excel.fn-{fn.__name__}")
    args = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            raise TypeError(f"{fn.__name__}: only plain positional parameters become worksheet arguments")
        args.append(Arg(p.name, T(f"excel.arg-{p.name}"), p.default is not inspect.Parameter.empty))
    for a in args:
        fn = xw.arg(a.name, doc=a.doc)(fn)
    fn = xw.func(category=CATEGORY)(fn)
    SPECS[fn.__name__] = FunctionSpec(fn.__name__, fn.__doc__, CATEGORY, tuple(args))
    return fn


def _guard(fn, *args):
    try:
        return fn(*args)
    except _Bad as exc:
        return str(exc)
    except ArithmeticError:  # e.g. 1E+308 cannot be rounded to 0.1: a number out of range
        return NUM


@cache
def _plan() -> plan_mod.Plan:
    import os

    return plan_mod.load(os.environ.get("XHHT_PLAN") or None)


# -- argument readers ---------------------------------------------------------------------------------


def _number(value: object) -> float:
    """A number from a cell: Excel numbers, or text typed the Vietnamese way ("97,5", "1.234")."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Bad(NA)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars (Python callers); Excel passes floats
    parsed = textnorm.parse_number(value)
    if parsed.status == "not_applicable":
        raise _Bad(NA)
    if parsed.status != "ok":
        raise _Bad(VALUE)
    number = float(parsed.value)
    if abs(number) > 1e15:  # beyond Excel's 15 significant digits: not a count or a rate
        raise _Bad(NUM)
    return number


def _text(value: object) -> str:
    """A code from a cell: 27712.0 -> "27712"; "27712 - Xã ..." -> "27712"."""
    if value is None:
        raise _Bad(NA)
    if isinstance(value, bool):
        raise _Bad(VALUE)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = textnorm.nfc(str(value)).strip()
    if not text:
        raise _Bad(NA)
    return text


def _year(value: object) -> int:
    year = _number(value)
    if not year.is_integer():
        raise _Bad(VALUE)
    return int(year)


def _key(text: str) -> str:
    return "_".join(textnorm.ascii_key(text).split())


# -- targets: the inverse of layout.target_text ------------------------------------------------------

_NUM = r"(\d+(?:[.,]\d+)?)"


@cache
def _target_patterns() -> tuple[re.Pattern, re.Pattern]:
    """Regexes made from the same message texts that ``layout.target_text`` prints."""

    def pattern(key: str) -> re.Pattern:
        text = re.escape(T(key, low="\0", high="\1"))
        text = text.replace(re.escape("\0"), _NUM).replace(re.escape("\1"), _NUM)
        text = text.replace(r"\ ", r"\s*").replace(r"\-", r"\s*[-–—]\s*").replace("≥", "(?:≥|>=|=>)")
        return re.compile(rf"^\s*{text}\s*%?\s*$")

    return pattern("layout.target-min"), pattern("layout.target-range")


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_target(value: object) -> plan_mod.Target:
    """A target as written in a template's "Chỉ tiêu" column (``"≥ 98"``, ``"10 - 15"``,
    ``"Tăng so với mốc trước"``, empty) or a number (a minimum)."""

    def target(kind: str, low: float | None = None, high: float | None = None) -> plan_mod.Target:
        return plan_mod.Target.model_construct(indicator="", milestone=0, kind=kind, low=low, high=high,
                                               verified="n/a", source="")  # fmt: skip

    if value is None or isinstance(value, bool):
        raise _Bad(NA if value is None else VALUE)
    if isinstance(value, (int, float)):
        return target("min", float(value))
    text = textnorm.nfc(str(value)).strip()
    if not text or text == T("layout.target-none"):
        return target("none")
    if textnorm.match_key(text) == textnorm.match_key(T("layout.target-increase")):
        return target("increase")
    at_least, between = _target_patterns()
    m = between.match(text)
    if m:
        low, high = sorted((_float(m.group(1)), _float(m.group(2))))
        return target("range", low, high)
    m = at_least.match(text)
    if m:
        return target("min", _float(m.group(1)))
    try:
        return target("min", _number(text))
    except _Bad:
        raise _Bad(VALUE) from None


# -- the functions ------------------------------------------------------------------------------------


def _rate(tu_so, mau_so):
    num, den = _number(tu_so), _number(mau_so)
    if num < 0 or den < 0:
        raise _Bad(NUM)
    if den == 0:
        raise _Bad(DIV0)
    return num / den * 100


def XHHT_TY_LE(tu_so, mau_so):
    return _guard(_rate, tu_so, mau_so)


def _verdict(ket_qua, chi_tieu, ket_qua_truoc=None):
    rate = _number(ket_qua)
    target = parse_target(chi_tieu)
    previous = None
    if target.kind == "increase":
        previous = _number(ket_qua_truoc)
    code = target.verdict(rate, previous)
    return T(f"verdict.{code}") if code else ""


def XHHT_DANH_GIA(ket_qua, chi_tieu, ket_qua_truoc=None):
    return _guard(_verdict, ket_qua, chi_tieu, ket_qua_truoc)


def _target_of(ma_chi_so, nam):
    plan = _plan()
    t = plan.targets.get((_text(ma_chi_so), _year(nam)))
    if t is None:
        raise _Bad(NA)
    return layout.target_text(t)


def XHHT_CHI_TIEU(ma_chi_so, nam):
    return _guard(_target_of, ma_chi_so, nam)


def _unit_name(ma_don_vi):
    from ..read import unit_code_of

    plan = _plan()
    text = _text(ma_don_vi)
    code = unit_code_of(text, plan) or text
    code = plan.resolve_code(code)[0]
    unit = plan.unit(code)
    if unit is None:
        raise _Bad(NA)
    return unit.name


def XHHT_TEN_DON_VI(ma_don_vi):
    return _guard(_unit_name, ma_don_vi)


def _deadline(cap):
    plan = _plan()
    wanted = _key(_text(cap))
    for level in plan.levels.values():
        if wanted in (_key(level.code), _key(level.name), _key(level.unit_noun)):
            d = plan.deadline(level.code)
            if d is None:
                raise _Bad(NA)
            return dt.datetime.combine(d.date, dt.time())
    raise _Bad(NA)


def XHHT_HAN_NOP(cap):
    return _guard(_deadline, cap)


# -- consolidated values ------------------------------------------------------------------------------

_CACHE: dict[str, tuple[tuple[int, int], dict]] = {}


def _table_from_json(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    unit = str(data.get("unit", ""))
    out = {}
    for r in data.get("totals", []):
        out[(unit, str(r["indicator"]), int(r["milestone"]))] = r
    return out


def _table_from_workbook(path: Path) -> dict:
    """Totals (the sheet "Tổng hợp", for the workbook's own unit) and per-unit detail ("Chi tiết")."""
    from python_calamine import CalamineWorkbook

    from ..aggregate import verdict_of
    from ..outputs import read_detail

    plan = _plan()
    wb = CalamineWorkbook.from_path(str(path))
    unit = ""
    if "_meta" in wb.sheet_names:
        for row in wb.get_sheet_by_name("_meta").to_python():
            if len(row) >= 2 and row[0] == "unit":
                unit = str(int(row[1])) if isinstance(row[1], float) else str(row[1])
    out: dict = {}
    sheet = T("out.sheet-totals")
    if unit and sheet in wb.sheet_names:
        for row in wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)[3:]:
            if len(row) < 8 or not row[0] or not isinstance(row[2], (int, float)):
                continue
            out[(unit, str(row[0]), int(row[2]))] = {"num": row[3], "den": row[4], "rate": row[5],
                                                     "verdict": verdict_of(row[7])}  # fmt: skip
    for r in read_detail(path, plan).itertuples():
        out.setdefault((r.unit, r.indicator, int(r.milestone)), {"num": r.num, "den": r.den, "rate": r.rate,
                                                                 "verdict": r.verdict})  # fmt: skip
    return out


def _table(path: Path) -> dict:
    try:
        st = path.stat()
    except OSError:
        raise _Bad(NA) from None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _CACHE.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        table = _table_from_json(path) if path.suffix.lower() == ".json" else _table_from_workbook(path)
    except Exception:  # a damaged or foreign file: the cell shows #VALUE!, never a Python error
        raise _Bad(VALUE) from None
    _CACHE[str(path)] = (stamp, table)
    return table


def _consolidated(duong_dan, ma_don_vi, ma_chi_so, nam, phan="ty_le"):
    path = Path(_text(duong_dan).strip('"'))
    measure = next((m for m, names in MEASURES.items() if _key(_text(phan)) in names), None)
    if measure is None:
        raise _Bad(VALUE)
    from ..read import unit_code_of

    plan = _plan()
    unit = _text(ma_don_vi)
    unit = plan.resolve_code(unit_code_of(unit, plan) or unit)[0]
    row = _table(path).get((unit, _text(ma_chi_so), _year(nam)))
    if row is None:
        raise _Bad(NA)
    value = row.get(measure)
    if measure == "verdict":
        return T(f"verdict.{value}") if value in ("dat", "khong-dat", "vuot") else ""
    if value is None or not isinstance(value, (int, float)) or value != value:
        raise _Bad(NA)
    return value


def XHHT_SO_LIEU(duong_dan, ma_don_vi, ma_chi_so, nam, phan="ty_le"):
    return _guard(_consolidated, duong_dan, ma_don_vi, ma_chi_so, nam, phan)


XHHT_TY_LE = _export(XHHT_TY_LE)
XHHT_DANH_GIA = _export(XHHT_DANH_GIA)
XHHT_CHI_TIEU = _export(XHHT_CHI_TIEU)
XHHT_TEN_DON_VI = _export(XHHT_TEN_DON_VI)
XHHT_HAN_NOP = _export(XHHT_HAN_NOP)
XHHT_SO_LIEU = _export(XHHT_SO_LIEU)
