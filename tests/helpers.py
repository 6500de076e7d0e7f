"""Small builders of filled workbooks for reader and check tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from xhht_xl import fileio, layout, templates, xlsxcopy
from xhht_xl.plan import Plan


def clean_values(plan: Plan, level: str = "xa", unit: str = "27712", seed: int = 1) -> dict:
    """A complete, valid submission of ``unit``: every check passes on it."""
    rng = random.Random(seed)
    u = plan.unit(unit)
    values: dict = {
        ("unit", "unit"): unit,
        ("unit", "reporter"): "Nguyễn Thị Minh Thư",
        ("unit", "position"): "Công chức Văn hóa - Xã hội",
        ("unit", "phone"): "0272 3 826 123",
        ("unit", "email"): "vhxh@example.vn",
        ("unit", "date"): dt.date(2020, 8, 12),
    }
    for ind in plan.rate_indicators():
        if not plan.entered_by(ind, level, u):
            continue
        for m in plan.milestones:
            den = rng.randint(200, 5000)
            values[("kq", ind.code, m, "num")] = rng.randint(0, den)
            values[("kq", ind.code, m, "den")] = den
    # indicators sharing a denominator must agree
    from xhht_xl.checks import _denominator_groups

    for codes in _denominator_groups(plan):
        for m in plan.milestones:
            dens = [values.get(("kq", c, m, "den")) for c in codes]
            den = next((d for d in dens if d is not None), None)
            for c in codes:
                if ("kq", c, m, "den") in values:
                    values[("kq", c, m, "den")] = den
                    values[("kq", c, m, "num")] = min(values[("kq", c, m, "num")], den)
    for src in plan.settings.funding_sources:
        for year in plan.settings.funding_years:
            values[("kp", src, year)] = round(rng.uniform(5, 120), 1)
    for item in plan.narrative_items():
        values[("bc", item.code)] = f"Nội dung mục {item.code} của đơn vị {unit}."
    if u is not None and u.level == "so_nganh":
        values[("bc", layout.TOPIC_ITEM)] = "Kết quả thực hiện chuyên đề."
    return values


# write_book's workbooks without ``mutate`` are the official template filled as the project writes
# it (``templates.prebuilt``: built once per process and kind, filled at the XML level, saved by
# ``fileio.save_workbook`` with its formulas' results cached; ~0.05 s of CPU against ~0.15 s for
# openpyxl's build and save); with ``mutate`` (a change only openpyxl's workbook can take) they are
# built and saved by openpyxl, no formula result cached. Kept by what they were built from (the plan,
# the level, the unit and the values): many tests, in modules that pytest-xdist hands to different
# workers, write the same communes' books, so each is made once per test session: the first process to need it builds it and leaves its bytes in ``BOOKS``, the
# others write those bytes again. Only the saved time in docProps/core.xml is that of the first
# write; the file's own time is the writing's.
BOOKS: Path | None = None  # set by conftest.py: a folder every process of the test session shares
_BOOKS: dict[bytes, bytes] = {}  # this process's, by key


def write_book(
    path: Path, plan: Plan, level: str, values: dict, mutate: Callable | None = None, unit=None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = None if mutate is not None else _book_key(plan, level, values, unit)
    data = None if key is None else _BOOKS.get(key) or _shared_book(key)
    if data is not None:
        _BOOKS[key] = data
        path.write_bytes(data)
        return path
    u = plan.unit(unit) if unit else None
    if mutate is None:
        try:  # the template built once per process and kind, filled at the XML level (~4x faster)
            wb = templates.prebuilt(plan, level, u).workbook(u, values)
        except (xlsxcopy.NotWritable, KeyError):
            wb = templates.build_workbook(plan, level, unit=u, values=values)
        fileio.save_workbook(wb, path)
    else:
        wb = templates.build_workbook(plan, level, unit=u, values=values)
        mutate(wb)
        wb.save(path)
    if key is not None:
        _BOOKS[key] = path.read_bytes()
        _share_book(key, _BOOKS[key])
    return path


def _book_key(plan: Plan, level: str, values: dict, unit) -> bytes:
    """The same in every process for the same inputs (a plan's pickle is not: pydantic pickles the
    set of fields given, whose order follows the process's string hashing)."""
    h = hashlib.sha256(str(plan.folder).encode() + b"\0")
    for model in (plan.settings, *plan.units.values(), *plan.changes.values(), *plan.groups.values(),
                  *plan.indicators.values(), *plan.targets.values()):  # fmt: skip
        h.update(model.model_dump_json().encode() + b"\0")
    h.update(pickle.dumps((level, values, unit)))
    return h.digest()


def _shared_book(key: bytes) -> bytes | None:
    if BOOKS is None:
        return None
    try:
        return (BOOKS / f"{key.hex()}.xlsx").read_bytes()
    except FileNotFoundError:
        return None


def _share_book(key: bytes, data: bytes) -> None:
    if BOOKS is None:
        return
    BOOKS.mkdir(parents=True, exist_ok=True)
    tmp = BOOKS / f".{key.hex()}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, BOOKS / f"{key.hex()}.xlsx")  # a reader finds the whole file or none


def entries_with_faults(plan: Plan, rng: random.Random, unit: str = "27712") -> dict:
    """A commune's entries, most valid, some invalid in each way the templates and checks catch
    (num > den, negative, not whole, text, "không áp dụng", den text or negative, 0/0), and funding."""
    from xhht_xl import messages

    values: dict = {("unit", "unit"): unit}
    faults = [lambda d: (d + 3, d), lambda d: (-2, d), lambda d: (2.5, d), lambda d: ("12.679", d),
              lambda d: (messages.text("layout.na-text"), d), lambda d: (1, "abc"), lambda d: (1, -5),
              lambda d: (None, d), lambda d: (0, 0)]  # fmt: skip
    for ind in plan.rate_indicators():
        for m in plan.milestones:
            den = rng.choice([7, 480, 2000, 4321])
            num, den = rng.choice(faults)(den) if rng.random() < 0.4 else (rng.randint(0, den), den)
            values[("kq", ind.code, m, "num")] = num
            values[("kq", ind.code, m, "den")] = den
    for src in plan.settings.funding_sources:
        for year in plan.settings.funding_years:
            values[("kp", src, year)] = rng.choice([12.5, 0, None, "x", 300.25, 0.1])
    return {k: v for k, v in values.items() if v is not None}


def own_copy(folder: Path, into: Path) -> Path:
    """A private copy of (part of) the session's demo, file times kept (they are received-time
    evidence): a test that consolidates it writes its intake store there, never into the shared
    demo, which tests on other pytest-xdist workers read at the same time."""
    return Path(shutil.copytree(folder, into))
