"""One received workbook, read: typed entries that remember their sheet and cell.

The reader (``read.py``) makes these; checks, consolidation and the returned copy use them.
Empty (``None``), zero and "không áp dụng" (:data:`NA`) are three different values.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from operator import is_
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


USABLE = frozenset((OK, TEXT_NUMBER, LEGACY, NOT_APPLICABLE, EMPTY))  # the statuses of Entry.usable


def usable_number(entry: Entry | None) -> int | float | None:
    """An entry's number if it may enter a total (:attr:`Entry.usable`), else None (no entry, empty,
    not applicable, text, or a wrong cell)."""
    return None if entry is None else _usable(entry.status, entry.value)


def _usable(status: str, value: object) -> int | float | None:
    """:func:`usable_number` of an entry's status and value."""
    if status not in USABLE:
        return None
    return value if isinstance(value, (int, float)) else None


class KeyIndex:
    """A sequence of entry keys and where each is (``at``), held once by every submission rebuilt
    with the same keys in the same order (a template's workbooks share one), with the positions of
    each kind of key (``of_kind``: "kq", "kp", "kt"...) worked out once."""

    __slots__ = ("_at", "_kinds", "keys")

    def __init__(self, keys: tuple):
        self.keys = keys
        self._at: dict[tuple, int] | None = None
        self._kinds: dict[str, list[int]] = {}

    @property
    def at(self) -> dict[tuple, int]:
        """Each key's position, made on first use (the copies of entries that aggregate.facts and
        checks.peer_amounts read never ask for it)."""
        at = self._at
        if at is None:
            at = self._at = {k: i for i, k in enumerate(self.keys)}
        return at

    def of_kind(self, kind: str) -> list[int]:
        """Positions of the keys whose first item is ``kind``, in order."""
        got = self._kinds.get(kind)
        if got is None:
            got = self._kinds[kind] = [i for i, k in enumerate(self.keys) if k[0] == kind]
        return got


@dataclass(frozen=True, slots=True, eq=False)
class EntryColumns:
    """A submission's entries as columns, in the entries' order (:meth:`Submission.columns`): the
    keys with their index, and per entry its value, sheet, cell, raw and status. Read-only: they
    are the entries of a submission rebuilt from a worker process (``_rebuilt``) until something
    asks for ``Submission.entries``, or a copy of its entries."""

    index: KeyIndex
    values: list
    sheets: list
    cells: list
    raws: list
    statuses: list
    own_keys: list | None = None  # each entry's own key, where one differs from its key in the dict

    @property
    def keys(self) -> tuple:
        return self.index.keys

    def entry(self, i: int) -> Entry:
        """The entry at position ``i``, made anew."""
        key = self.index.keys[i] if self.own_keys is None else self.own_keys[i]
        return Entry(key, self.values[i], self.sheets[i], self.cells[i], self.raws[i], self.statuses[i])

    def entries(self) -> dict[tuple, Entry]:
        """The entries, made anew (as the reader made them)."""
        own = self.index.keys if self.own_keys is None else self.own_keys
        made = map(Entry, own, self.values, self.sheets, self.cells, self.raws, self.statuses)
        return dict(zip(self.index.keys, made, strict=True))

    @classmethod
    def of(cls, entries: dict[tuple, Entry]) -> EntryColumns:
        """The columns of an entries dict (a copy: later changes to the entries are not seen)."""
        es = list(entries.values())
        keys = tuple(entries)
        own = [e.key for e in es]
        if all(map(is_, own, keys)):
            own = None
        return cls(KeyIndex(keys), [e.value for e in es], [e.sheet for e in es], [e.cell for e in es],
                   [e.raw for e in es], [e.status for e in es], own)  # fmt: skip


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
        # cell took ~0.5 ms a workbook); the receiving process keeps the entries as columns
        # (_rebuilt), their keys, sheets, cells and states shared with every other submission
        state = {name: value for name, value in self.__dict__.items() if name not in ("entries", "formulas", "_columns")}
        c = self.columns()  # (of entries: the lists pickled; its key index is made only if asked)
        entries = (list(c.keys), c.values, c.sheets, c.cells, c.raws, c.statuses, c.own_keys)
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

    def __getattr__(self, name: str):
        # Only called when ``name`` is not found: the entries of a submission rebuilt as columns
        # (_rebuilt) are made on first use, and the columns then dropped (the dict is the truth).
        # The dict is set before the columns go, and kept if another thread set one meanwhile:
        # a thread asking at the same time finds one or the other, and all get the same dict.
        if name == "entries":
            held = self.__dict__
            columns = held.get("_columns")
            if columns is not None:
                entries = held.setdefault("entries", columns.entries())
                held.pop("_columns", None)
                return entries
            if "entries" in held:  # made by another thread since this lookup missed it
                return held["entries"]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: object) -> None:
        # entries given to a submission held as columns replace them: the columns would be read first
        if name == "entries":
            self.__dict__.pop("_columns", None)
        object.__setattr__(self, name, value)

    def entry_count(self) -> int:
        """How many entries it has (``len(entries)``, not making those of a submission held as columns)."""
        columns = self.__dict__.get("_columns")
        return len(columns.values) if columns is not None else len(self.entries)

    def columns(self) -> EntryColumns:
        """The entries as columns: those it was rebuilt with (nothing is made), else a copy of
        ``entries`` (later changes to them are not seen). Read-only."""
        columns = self.__dict__.get("_columns")
        return columns if columns is not None else EntryColumns.of(self.entries)

    def fingerprint(self) -> str:
        """A hash of every entry's value: equal for two files holding the same data (how intake
        recognises a returned copy that came back unchanged)."""
        import hashlib

        c = self.__dict__.get("_columns")
        pairs = zip(c.keys, c.values, strict=True) if c is not None else ((k, e.value) for k, e in self.entries.items())
        text = "\n".join(
            f"{'/'.join(map(str, k))}={type(v).__name__}:{v!r}"
            for k, v in sorted(pairs, key=lambda item: str(item[0]))
            if v is not None
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def value(self, key: tuple) -> object:
        columns = self.__dict__.get("_columns")
        if columns is not None:
            i = columns.index.at.get(key)
            return None if i is None else columns.values[i]
        entry = self.entries.get(key)
        return entry.value if entry is not None else None

    def number(self, key: tuple) -> int | float | None:
        """A usable number, or None (empty, not applicable, or a wrong cell)."""
        columns = self.__dict__.get("_columns")
        if columns is not None:
            i = columns.index.at.get(key)
            return None if i is None else _usable(columns.statuses[i], columns.values[i])
        return usable_number(self.entries.get(key))

    def entry(self, key: tuple) -> Entry | None:
        """The entry of ``key``, None if there is none; to read (of a submission held as columns
        it is made anew: a change to it is not kept)."""
        columns = self.__dict__.get("_columns")
        if columns is not None:
            i = columns.index.at.get(key)
            return None if i is None else columns.entry(i)
        return self.entries.get(key)

    def of_kind(self, kind: str) -> list[tuple[tuple, object]]:
        """(key, value) of the entries whose key's first item is ``kind`` ("kq", "kp", "kt", "bc"...),
        in order."""
        c = self.__dict__.get("_columns")
        if c is None:
            return [(k, e.value) for k, e in self.entries.items() if k[0] == kind]
        keys, values = c.keys, c.values
        return [(keys[i], values[i]) for i in c.index.of_kind(kind)]

    def nominations(self) -> list[dict]:
        """Non-empty nomination rows, in priority order, with their row index."""
        rows: dict[int, dict] = {}
        for key, value in self.of_kind("kt"):
            if value not in (None, ""):
                rows.setdefault(key[1], {"index": key[1]})[key[2]] = value
        return [rows[i] for i in sorted(rows)]

    def narrative(self) -> dict[str, str]:
        return {key[1]: value for key, value in self.of_kind("bc") if isinstance(value, str) and value.strip()}

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


# Key indexes of the submissions rebuilt by this process, by their keys (a few per template)
_INDEXES: dict[tuple, KeyIndex] = {}
_INDEXES_MAX = 1_000
_LAST: list[KeyIndex] = []  # the index used last: most submissions have the previous one's keys


def _key_index(keys: list) -> KeyIndex:
    """The one index this process holds for these keys (shared key objects)."""
    keys = tuple(_shared_keys(keys))
    last = _LAST[0] if _LAST else None
    if last is not None and last.keys == keys:  # shared objects: compared by identity
        return last
    index = _INDEXES.get(keys)
    if index is None:
        index = KeyIndex(keys)
        if len(_INDEXES) < _INDEXES_MAX:
            _INDEXES[keys] = index
    _LAST[:] = [index]
    return index


def _rebuilt(state: dict, entries: tuple, formulas: tuple) -> Submission:
    """A pickled :class:`Submission` (``Submission.__reduce__``) rebuilt, its entries kept as
    columns (:class:`EntryColumns`; ``Submission.entries`` is made from them on first use: a
    consolidation's own work reads the columns, and 10,600 workbooks' entries as objects took
    ~2 s and ~150 MB), their keys, sheets, cells and states shared with every other submission
    of this process."""
    sub = Submission.__new__(Submission)
    sub.__dict__.update(state)
    keys, values, sheets, cells, raws, statuses, own_keys = entries
    index = _key_index(keys)
    own_keys = None if own_keys is None else _shared_keys(own_keys)
    sub.__dict__["_columns"] = EntryColumns(
        index, values, _few_texts(sheets), _shared_texts(cells), raws, _few_texts(statuses), own_keys
    )
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
