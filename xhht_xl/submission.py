"""One received workbook, read: typed entries that remember their sheet and cell.

The reader (``read.py``) makes these; checks, consolidation and the returned copy use them.
Empty (``None``), zero and "không áp dụng" (:data:`NA`) are three different values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .issues import Issue


class _NotApplicable:
    """The value of a cell marked "không áp dụng": neither empty nor zero."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NA"

    def __reduce__(self):
        return (_NotApplicable, ())


NA = _NotApplicable()

# Entry.status values
OK, EMPTY, NOT_APPLICABLE = "ok", "empty", "na"
TEXT_NUMBER, AMBIGUOUS, INVALID, LEGACY = "text-number", "ambiguous", "invalid", "legacy"


@dataclass(slots=True)
class Entry:
    key: tuple
    value: object  # int | float | str | date | None | NA
    sheet: str
    cell: str
    raw: object = None
    status: str = OK

    @property
    def usable(self) -> bool:
        """A value that may enter a total (a wrong cell is counted as missing)."""
        return self.status in (OK, TEXT_NUMBER, LEGACY, NOT_APPLICABLE, EMPTY)

    def __reduce__(self):
        # pickled as its fields (half the time of a slots dataclass's default state): every
        # submission read in a worker process crosses to the main process as hundreds of these
        return Entry, (self.key, self.value, self.sheet, self.cell, self.raw, self.status)


@dataclass(slots=True)
class FormulaCell:
    key: tuple
    sheet: str
    cell: str
    cached: object
    has_formula: bool | None  # None: the file format does not tell (.xls, .ods)

    def __reduce__(self):
        return FormulaCell, (self.key, self.sheet, self.cell, self.cached, self.has_formula)


_USABLE = frozenset((OK, TEXT_NUMBER, LEGACY, NOT_APPLICABLE, EMPTY))  # as Entry.usable


def usable_number(entry: Entry | None) -> int | float | None:
    """An entry's number if it may enter a total (:attr:`Entry.usable`), else None (no entry, empty,
    not applicable, text, or a wrong cell)."""
    if entry is None or entry.status not in _USABLE:
        return None
    value = entry.value
    return value if isinstance(value, (int, float)) else None


@dataclass
class Submission:
    path: Path
    file: str  # how the file is named in messages
    kind: str
    sha256: str
    size: int
    template_id: str = ""
    template_version: str = ""
    layout_version: int = 0
    template: str = ""
    level: str = ""  # the level the template was made for (from _meta)
    meta_unit: str = ""
    plan_id: str = ""
    unit_text: str = ""  # what the unit cell says
    unit_code: str = ""  # today's code of the reporting unit ("" when unknown)
    unit_code_given: str = ""  # the code as written (may be a pre-2020 code)
    entries: dict[tuple, Entry] = field(default_factory=dict)
    formulas: dict[tuple, FormulaCell] = field(default_factory=dict)
    locations: dict[tuple, tuple[str, str]] = field(default_factory=dict)  # (sheet, cell) of empty inputs
    issues: list[Issue] = field(default_factory=list)
    has_macros: bool = False
    external_links: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the sheets a consolidated workbook carries up, as the reader read them (read.sent_up_bounds:
    # name -> rows, None when damaged; a sheet the file lacks is not a key); None: not read by it
    sent_up: dict[str, list[list] | None] | None = None

    def __reduce__(self):
        # Crossing from a worker process (every submission of a consolidation does): entries and
        # formula cells as columns of plain values, which pickle writes in C (one reduce call per
        # cell took ~0.5 ms a workbook), rebuilt by _rebuilt with their keys, sheets, cells and
        # states shared with every other submission of the receiving process (~40 % of its size)
        state = {name: value for name, value in self.__dict__.items() if name not in ("entries", "formulas")}
        items = self.entries.items()
        entries = (
            list(self.entries),
            [e.value for e in self.entries.values()],
            [e.sheet for e in self.entries.values()],
            [e.cell for e in self.entries.values()],
            [e.raw for e in self.entries.values()],
            [e.status for e in self.entries.values()],
            None if all(e.key is k for k, e in items) else [e.key for e in self.entries.values()],
        )
        cells = self.formulas.values()
        formulas = (
            list(self.formulas),
            [f.sheet for f in cells],
            [f.cell for f in cells],
            [f.cached for f in cells],
            [f.has_formula for f in cells],
            None if all(f.key is k for k, f in self.formulas.items()) else [f.key for f in cells],
        )
        return _rebuilt, (state, entries, formulas)

    def fingerprint(self) -> str:
        """A hash of every entry's value: equal for two files holding the same data (how intake
        recognises a returned copy that came back unchanged)."""
        import hashlib

        text = "\n".join(
            f"{'/'.join(map(str, k))}={type(e.value).__name__}:{e.value!r}"
            for k, e in sorted(self.entries.items(), key=lambda item: str(item[0]))
            if e.value is not None
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def value(self, key: tuple) -> object:
        entry = self.entries.get(key)
        return entry.value if entry is not None else None

    def number(self, key: tuple) -> int | float | None:
        """A usable number, or None (empty, not applicable, or a wrong cell)."""
        return usable_number(self.entries.get(key))

    def nominations(self) -> list[dict]:
        """Non-empty nomination rows, in priority order, with their row index."""
        rows: dict[int, dict] = {}
        for key, entry in self.entries.items():
            if key[0] == "kt" and entry.value not in (None, ""):
                rows.setdefault(key[1], {"index": key[1]})[key[2]] = entry.value
        return [rows[i] for i in sorted(rows)]

    def narrative(self) -> dict[str, str]:
        return {
            key[1]: entry.value
            for key, entry in self.entries.items()
            if key[0] == "bc" and isinstance(entry.value, str) and entry.value.strip()
        }

    @property
    def report_date(self) -> dt.date | None:
        value = self.value(("unit", "date"))
        return value if isinstance(value, dt.date) else None


# Keys of entries and formula cells seen by this process, each kept once (they are the layouts'
# keys: a few hundred per template; the bound only guards against an unforeseen flood).
_KEYS: dict[tuple, tuple] = {}
_KEYS_MAX = 100_000


def shared_key(key: tuple) -> tuple:
    """``key`` as the one equal tuple this process already holds (itself the first time)."""
    have = _KEYS.get(key)
    if have is not None:
        return have
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[key] = key
    return key


def _shared_keys(keys: list) -> list:
    got = list(map(_KEYS.get, keys))
    if None in got:
        got = [have if have is not None else shared_key(k) for have, k in zip(got, keys, strict=True)]
    return got


def _shared_texts(texts: list) -> list:
    """Strings as the one equal string this process holds (``sys.intern``: released when unused);
    anything else as it is."""
    try:
        return list(map(sys.intern, texts))
    except TypeError:  # not only strings
        return [sys.intern(t) if type(t) is str else t for t in texts]


def _few_texts(texts: list) -> list:
    """:func:`_shared_texts` for a column with few distinct values (sheet names, states)."""
    one = {t: (sys.intern(t) if type(t) is str else t) for t in set(texts)}
    return [one[t] for t in texts]


# While set (``sharing_empty_cells``): the entries of empty cells rebuilt so far, by their fields.
_EMPTIES: list[dict] = []


@contextlib.contextmanager
def sharing_empty_cells():
    """Submissions rebuilt meanwhile (:func:`_rebuilt`) share the entries of their empty cells:
    one object per (key, sheet, cell) for every submission that left the cell empty (the
    template's greyed cells are empty in every workbook: a third of a commune's entries). For
    submissions already checked, which nothing changes any more (a consolidation's intake)."""
    _EMPTIES.append({})
    try:
        yield
    finally:
        _EMPTIES.pop()


def _rebuilt(state: dict, entries: tuple, formulas: tuple) -> Submission:
    """A pickled :class:`Submission` (``Submission.__reduce__``) rebuilt, its keys and texts shared
    (and its empty cells' entries, within :func:`sharing_empty_cells`)."""
    empties = _EMPTIES[-1] if _EMPTIES else None
    sub = Submission.__new__(Submission)
    sub.__dict__.update(state)
    keys, values, sheets, cells, raws, statuses, own_keys = entries
    keys = _shared_keys(keys)
    own_keys = keys if own_keys is None else _shared_keys(own_keys)
    statuses = _few_texts(statuses)
    made = list(map(Entry, own_keys, values, _few_texts(sheets), _shared_texts(cells), raws, statuses))
    if empties is not None:
        for i in [i for i, status in enumerate(statuses) if status == EMPTY]:
            e = made[i]
            if e.value is None and (e.raw is None or e.raw == ""):
                made[i] = empties.setdefault((e.key, e.sheet, e.cell, e.raw), e)
    sub.entries = dict(zip(keys, made, strict=True))
    keys, sheets, cells, cached, has, own_keys = formulas
    keys = _shared_keys(keys)
    own_keys = keys if own_keys is None else _shared_keys(own_keys)
    made = map(FormulaCell, own_keys, _few_texts(sheets), _shared_texts(cells), cached, has)
    sub.formulas = dict(zip(keys, made, strict=True))
    return sub


def merge(parts: list[Submission]) -> Submission:
    """One submission for a unit that reported in several parts (communes merged on 01/01/2020
    that still sent one workbook each): counts and amounts add up; texts come from the first part."""
    first = parts[0]
    merged = Submission(
        path=first.path,
        file=" + ".join(p.file for p in parts),
        kind=first.kind,
        sha256=first.sha256,
        size=sum(p.size for p in parts),
        template_id=first.template_id,
        template_version=first.template_version,
        layout_version=first.layout_version,
        template=first.template,
        level=first.level,
        meta_unit=first.meta_unit,
        plan_id=first.plan_id,
        unit_text=first.unit_text,
        unit_code=first.unit_code,
        unit_code_given=first.unit_code_given,
    )
    for part in parts:
        for key, entry in part.entries.items():
            have = merged.entries.get(key)
            if have is None:
                merged.entries[key] = Entry(
                    key, entry.value, entry.sheet, entry.cell, entry.raw, entry.status
                )
            elif key[0] in ("kq", "kp"):
                a, b = have, entry
                if "rejected" in (a.status, b.status):
                    have.status, have.value = "rejected", None
                elif isinstance(a.value, (int, float)) and isinstance(b.value, (int, float)):
                    have.value = a.value + b.value
                elif a.value is None or a.value is NA:
                    have.value, have.status = b.value, b.status
    return merged
