"""Evaluate a formula a sender typed into an input cell (``=1200+2033``, ``=SUM(E7:E9)``).

A cached value in a received workbook is never trusted (DESIGN.md): a file written by another
program may hold none (python-calamine then reads ``''``) or a wrong one (XlsxWriter stores 0).
The formula text is evaluated with the ``formulas`` package (an Excel formula engine: parser,
Excel's operators and ~400 functions); references to other cells of the same workbook are
resolved by the caller, recursively, so a chain of typed formulas evaluates like in Excel.

A formula that cannot be evaluated here raises :class:`Unevaluable` with a reason code:
``external`` (a reference into another workbook), ``function`` (a function the engine does not
implement, or a volatile one such as TODAY() or RAND() whose value depends on when it is read),
``error`` (the result is an Excel error such as #DIV/0!), ``cycle`` (a circular reference),
``syntax``. The caller turns it into an error at that cell, never a silent empty or 0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache

# Functions whose value depends on the moment or on chance: reading them would not be repeatable.
VOLATILE = frozenset(
    {"NOW", "TODAY", "RAND", "RANDBETWEEN", "RANDARRAY", "INDIRECT", "OFFSET", "INFO", "CELL"}
)
_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
_STRING = re.compile(r'"(?:[^"]|"")*"')

Resolver = Callable[[str, str], object]  # (sheet or "", "E7" | "E7:F9") -> value | list of rows


class Unevaluable(Exception):
    """The formula cannot be evaluated here; ``reason`` is a stable code (see the module doc)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@cache
def _engine():
    import formulas
    import schedula

    # The engine logs every failed dispatch with a traceback: we report failures ourselves.
    for name in ("formulas", "schedula"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return formulas, schedula


@cache
def _compiled(text: str):
    formulas, _ = _engine()
    try:
        return formulas.Parser().ast("=" + text)[1].compile()
    except Exception as exc:  # the parser raises its own error types for text it cannot read
        raise Unevaluable("syntax", str(exc)) from None


def evaluate(text: str, resolve: Resolver) -> object:
    """The value of formula ``text`` (without "="): int, float, str or bool.

    ``resolve(sheet, ref)`` gives a referenced cell's value (``sheet`` is "" for the formula's
    own sheet, and is upper-cased as the engine names it), or a list of rows for a range.
    """
    bare = _STRING.sub('""', text)
    if "[" in bare:
        raise Unevaluable("external", text)
    for name in _FUNCTION.findall(bare):
        if name.upper().removeprefix("_XLFN.") in VOLATILE:
            raise Unevaluable("function", name.upper())
    func = _compiled(text)
    formulas, schedula = _engine()
    import numpy as np

    args = []
    for name in func.inputs:
        sheet, _, ref = name.rpartition("!")
        sheet = sheet.strip("'").replace("''", "'")
        value = resolve(sheet, ref)
        if isinstance(value, list):
            value = np.array(
                [[schedula.EMPTY if v in (None, "") else v for v in row] for row in value], dtype=object
            )
        elif value is None or value == "":
            value = schedula.EMPTY
        args.append(value)
    try:
        result = func(*args)
    except Unevaluable:
        raise
    except Exception as exc:  # NotImplementedError for a missing function, and the engine's own
        raise Unevaluable("function", _culprit(exc, bare)) from None
    return _scalar(result, formulas, schedula)


def _culprit(exc: BaseException, bare: str) -> str:
    """The function of the formula that failed, as a clerk can read it in a message: the one the
    engine's error names among its arguments (schedula's ``DispatcherError`` carries the node that
    failed, ``WEBSERVICE``), else every function the formula calls, else "" (the formula's shape).
    Never the engine's own text: it is English, or a Python repr of its arguments."""
    called = list(dict.fromkeys(n.upper().removeprefix("_XLFN.") for n in _FUNCTION.findall(bare)))
    pending, seen = [exc], set()
    while pending:
        e = pending.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        for arg in e.args:
            if isinstance(arg, str) and arg.upper().removeprefix("_XLFN.") in called:
                return arg.upper().removeprefix("_XLFN.")
            if isinstance(arg, BaseException):
                pending.append(arg)
        pending.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return ", ".join(called)


def _scalar(result, formulas, schedula) -> object:
    import numpy as np

    if isinstance(result, np.ndarray):
        if result.size != 1:
            raise Unevaluable("function", "array")
        result = result.ravel()[0]
    if result is schedula.EMPTY:
        return 0
    if isinstance(result, formulas.functions.XlError):
        raise Unevaluable("error", str(result))
    if isinstance(result, (bool, np.bool_)):
        return bool(result)
    if isinstance(result, (int, np.integer)):
        return int(result)
    if isinstance(result, (float, np.floating)):
        value = float(result)
        if value != value or value in (float("inf"), float("-inf")):
            raise Unevaluable("error", "#NUM!")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return str(result)
