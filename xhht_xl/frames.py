"""The tidy frames an analyst gets, each declared once: columns, dtypes, vocabularies, meaning.

One :class:`Schema` per frame (``facts``, ``detail``, ``totals``, ``funding``, ``cross_checks``,
``nominations``, ``status``, ``below``, ``changes``, ``issues``, ``coverage``, ``attainment``).
The same declaration

- builds the frames: :meth:`Schema.conform` gives a frame built by the consolidation its
  declared dtypes (it never drops a value: a code outside the declared categories is added as
  a category after them);
- checks them: :meth:`Schema.validate` (tests run it on every frame the public API returns);
- documents them: ``xx.schema("facts")`` shows each column's kind, dtype, meaning and values in
  Vietnamese (texts in ``messages/frames.toml``).

Dtypes are the same for the same concept in every frame, so frames join and concatenate
without casting: one categorical dtype for unit codes (the plan's codes in ``units.csv``
order), one for indicator codes, one for levels (the plan's levels and ``self``), one for
target verdicts; nullable ``Int64`` for counts and years; ``float64`` for figures, rates and
amounts (a missing figure is NaN, as in ``facts.value`` where counts and amounts share a
column); ``datetime64[us]`` for times, naive, in Vietnam's time (UTC+7, as ``intake``
records them) and dates at 00:00; pandas' ``str`` dtype for text.

Why not pandera: importing it costs ~1.2 s and 18 MB on every ``xhht`` command and add-in
button (measured on the project's 2-core machine, pandas 3.1, pandera 0.35), for checks
that are ~100 lines here; the declaration is plain data, so it can be turned into a pandera
schema if an analyst's pipeline wants one.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from . import messages
from .errors import DataError

T = messages.text

TEXT = pd.StringDtype(na_value=np.nan)  # pandas 3's default "str"
INT = pd.Int64Dtype()
FLOAT = np.dtype("float64")
TIME = np.dtype("datetime64[us]")
FLAG = np.dtype("bool")

# kinds of column: the dtype follows from the kind
CATEGORICAL = ("unit", "indicator", "level", "verdict", "category", "code")
KINDS = (*CATEGORICAL, "text", "count", "integer", "figure", "rate", "amount", "timestamp", "date", "flag")
SELF = "self"  # the level of the consolidating unit's own workbook in facts (plan.SELF)
VERDICTS = ("dat", "khong-dat", "vuot")  # plan.Verdict


class FrameError(DataError):
    """A frame that does not have the columns or dtypes its schema declares (one Vietnamese line)."""


@dataclass(frozen=True)
class Column:
    """One declared column: ``kind`` fixes the dtype (see :data:`KINDS`); ``values`` is the closed
    vocabulary of a ``category`` or text column, each value's label being ``labels + value`` in
    the messages; ``low``/``high`` bound numbers; ``nullable`` False: never missing."""

    name: str
    kind: str
    values: tuple[str, ...] = ()
    labels: str = ""
    nullable: bool = True
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")


def _c(name: str, kind: str, **kw) -> Column:
    return Column(name, kind, **kw)


def _key(name: str, kind: str = "unit") -> Column:
    return Column(name, kind, nullable=False)


@cache
def _vocabularies() -> dict[str, tuple[str, ...]]:
    """Value vocabularies, taken from the modules that produce the values (one truth)."""
    from .aggregate import EMPTY, NA_STATE, OK, REJECTED
    from .coverage import STATES
    from .intake import EVIDENCE
    from .issues import SEVERITY
    from .quotas import VERDICTS as QUOTA_VERDICTS

    gate = tuple(k.split(".", 1)[1] for k in messages.table() if k.startswith("safety.") and
                 not k.startswith("safety.note-"))  # fmt: skip
    return {
        "fact_state": (OK, NA_STATE, EMPTY, REJECTED),
        "submission_state": STATES,
        "evidence": EVIDENCE,
        "issue": tuple(SEVERITY) + tuple(c for c in gate if c not in SEVERITY),
        "severity": ("error", "warning", "info"),
        "quota_verdict": QUOTA_VERDICTS,
        "measure": ("num", "den", "amount"),
        "target": ("min", "range", "increase", "none"),
        "nomination_kind": ("collective", "individual"),
    }


def _vocab(name: str) -> tuple[str, ...]:
    return _vocabularies()[name]


@dataclass(frozen=True, repr=False)
class Schema:
    """The declared columns of one frame, in order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    # -- building --------------------------------------------------------------------------
    def conform(self, frame: pd.DataFrame, plan=None) -> pd.DataFrame:
        """``frame`` with exactly the declared columns, in order, each in its declared dtype.

        ``plan`` gives the categories of unit, indicator and level codes (without one: the codes
        present, sorted). Values are kept: ``""`` in a code column becomes missing (NaN), a code
        outside the declared categories is added after them. Raises :class:`FrameError` when a
        declared column is missing or an undeclared one is present (a programming error)."""
        missing = [c for c in self.names if c not in frame.columns]
        extra = [c for c in frame.columns if c not in self.names]
        if missing or extra:
            raise FrameError(self._line(T("frame.columns-differ", missing=_list(missing), extra=_list(extra))))
        out = {}
        for col in self.columns:
            out[col.name] = _cast(frame[col.name], col, plan, self.name)
        # columns already in their dtype are taken as they are, not copied (pandas' copy on write
        # keeps the two frames apart if either is changed): the facts of 10,600 workbooks are
        # ~100 MB, and the consolidation's peak memory held them twice
        return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False)

    def empty(self, plan=None) -> pd.DataFrame:
        """A frame of this schema with no rows."""
        return self.conform(pd.DataFrame({c: [] for c in self.names}), plan)

    # -- checking --------------------------------------------------------------------------
    def problems(self, frame: pd.DataFrame, plan=None) -> list[str]:
        """What in ``frame`` differs from the declaration: one Vietnamese line each (empty: none).

        Checked: the columns and their order; each column's dtype (with ``plan``: the unit,
        indicator and level categories begin with the plan's, in its order); values of a closed
        vocabulary; missing values in a column that may not have any; numeric bounds."""
        if list(frame.columns) != self.names:
            missing = [c for c in self.names if c not in frame.columns]
            extra = [c for c in frame.columns if c not in self.names]
            text = T("frame.columns-differ", missing=_list(missing), extra=_list(extra)) if missing or extra else (
                T("frame.columns-order", columns=", ".join(self.names)))  # fmt: skip
            return [self._line(text)]
        found = []
        for col in self.columns:
            found += [self._line(t) for t in _column_problems(frame[col.name], col, plan)]
        return found

    def validate(self, frame: pd.DataFrame, plan=None) -> pd.DataFrame:
        """``frame`` itself when it passes the schema, else :class:`FrameError` (the first problem
        and how many more; :meth:`problems` lists them all)."""
        found = self.problems(frame, plan)
        if found:
            more = T("frame.more", count=len(found) - 1) if len(found) > 1 else ""
            raise FrameError(found[0] + more)
        return frame

    # -- documenting -----------------------------------------------------------------------
    @property
    def about(self) -> str:
        return T(f"frame.about.{self.name}")

    def describe(self) -> pd.DataFrame:
        """One row per column: ``column``, ``kind`` (Vietnamese), ``dtype``, ``description``,
        ``values`` (the vocabulary with each value's Vietnamese label)."""
        rows = []
        for col in self.columns:
            rows.append({
                "column": col.name,
                "kind": T(f"frame.kind.{col.kind}"),
                "dtype": _dtype_name(col),
                "description": describe_column(self.name, col.name),
                "values": _values_text(col),
            })  # fmt: skip
        return pd.DataFrame(rows, columns=["column", "kind", "dtype", "description", "values"]).astype(TEXT)

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.name)}</b>: {html.escape(self.about)}</p>"
        return head + self.describe().to_html(index=False, escape=True, na_rep="")

    def __repr__(self) -> str:
        return f"<Schema {self.name!r}: {len(self.columns)} columns>"

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.about}"]
        for r in self.describe().itertuples():
            values = f" [{r.values}]" if isinstance(r.values, str) and r.values else ""
            lines.append(f"  {r.column} ({r.dtype}): {r.description}{values}")
        return "\n".join(lines)

    def _line(self, text: str) -> str:
        return T("frame.error", frame=self.name, text=text)


def describe_column(frame: str, column: str) -> str:
    """A column's meaning: the frame's own text if it has one, else the shared one."""
    table = messages.table()
    key = f"frame.col.{frame}.{column}"
    return table[key] if key in table else T(f"frame.col.{column}")


def _list(names: Sequence[str]) -> str:
    return ", ".join(f"«{n}»" for n in names) if names else T("frame.none")


def _dtype_name(col: Column) -> str:
    if col.kind in CATEGORICAL:
        return "category"
    return str(_plain_dtype(col))


def _plain_dtype(col: Column):
    return {
        "text": TEXT, "count": INT, "integer": INT, "figure": FLOAT, "rate": FLOAT, "amount": FLOAT,
        "timestamp": TIME, "date": TIME, "flag": FLAG,
    }[col.kind]  # fmt: skip


def _values_text(col: Column) -> str:
    values = _closed(col)
    if not values:
        return ""
    labels = col.labels or ("verdict." if col.kind == "verdict" else "")
    if labels:
        return "; ".join(f"{v} ({T(labels + v)})" for v in values)
    return "; ".join(values)


def _closed(col: Column) -> tuple[str, ...]:
    if col.kind == "verdict":
        return VERDICTS
    return col.values


def declared_categories(col: Column, plan=None) -> list[str] | None:
    """The categories a code column must begin with (None: the codes present, sorted)."""
    if col.kind == "verdict":
        return list(VERDICTS)
    if col.kind == "category":
        return list(col.values)
    if plan is None:
        return None
    if col.kind == "unit":
        return list(plan.units)
    if col.kind == "indicator":
        return list(plan.indicators)
    if col.kind == "level":
        return [*plan.levels, SELF]
    return None


def _cast(s: pd.Series, col: Column, plan, frame: str) -> pd.Series:
    s = s.reset_index(drop=True)
    kind = col.kind
    if kind in CATEGORICAL:
        return _categorical(s, declared_categories(col, plan))
    if kind == "text":
        if s.dtype == TEXT:
            return s  # already in its dtype (pandas' own text): nothing to convert
        obj = s.astype(object).where(s.notna(), np.nan)
        if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
            return obj.astype(TEXT)  # already text (the usual case): no per-value call
        return obj.map(_text).astype(TEXT)
    if kind in ("count", "integer"):
        if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
            return s.astype(INT)  # integers (numpy or nullable) as they are, without a trip through objects
        return pd.Series(pd.array(pd.to_numeric(s.astype(object)), dtype=INT))
    if kind in ("figure", "rate", "amount"):
        if s.dtype == FLOAT:
            return s
        return pd.to_numeric(s.astype(object)).astype(FLOAT)
    if kind in ("timestamp", "date"):
        t = pd.to_datetime(s.astype(object))
        t = t.astype(TIME) if len(t) else pd.Series([], dtype=TIME)
        return t.dt.normalize() if kind == "date" else t
    if kind == "flag":
        return s.astype(FLAG)
    raise AssertionError(kind)


def _text(v):
    if isinstance(v, float) and np.isnan(v):
        return v
    return v if isinstance(v, str) else str(v)


def _categorical(s: pd.Series, declared: list[str] | None) -> pd.Series:
    """``s`` as a categorical: missing and ``""`` are NaN; categories ``declared`` then any
    other code present (sorted), so no value is lost."""
    if isinstance(s.dtype, pd.CategoricalDtype) and pd.api.types.infer_dtype(s.cat.categories, skipna=True) in (
            "string", "empty"):  # fmt: skip
        # already codes of text categories: only the categories are looked at (the unused ones
        # are not values of the column)
        codes = s.cat.codes.to_numpy()
        used = np.zeros(len(s.cat.categories), dtype=bool)
        used[codes[codes >= 0]] = True
        labels = [(v or None) if u else None for v, u in zip(s.cat.categories, used, strict=True)]
    elif s.dtype == TEXT:  # pandas' own text: strings or missing, no need to ask each value
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        labels = [v or None for v in uniques]
    else:
        obj = s.astype(object)
        if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
            # codes as text (the usual case): each distinct value converted once, not each row
            codes, uniques = pd.factorize(obj, use_na_sentinel=True)
            labels = [v or None for v in uniques]
        else:
            codes, labels = None, [_code(v) for v in obj]
    present = {v for v in labels if v is not None}
    cats = list(declared) if declared is not None else sorted(present)
    cats += sorted(present - set(cats))
    if codes is None:
        return pd.Series(pd.Categorical(labels, categories=cats))
    where = {c: i for i, c in enumerate(cats)}
    remap = np.array([where[v] if v is not None else -1 for v in labels] + [-1], dtype=np.int64)
    return pd.Series(pd.Categorical.from_codes(remap[codes], dtype=_category_dtype(tuple(cats))))


@lru_cache(maxsize=256)
def _category_dtype(cats: tuple[str, ...]) -> pd.CategoricalDtype:
    """One dtype per list of categories (a plan's ~230 unit codes are checked once, not per column)."""
    return pd.CategoricalDtype(list(cats))


def _code(v) -> str | None:
    return None if (v is None or (isinstance(v, float) and np.isnan(v)) or v == "") else str(v)


def _column_problems(s: pd.Series, col: Column, plan) -> list[str]:
    name = col.name
    if col.kind in CATEGORICAL:
        if not isinstance(s.dtype, pd.CategoricalDtype):
            return [T("frame.dtype", column=name, dtype=str(s.dtype), expected="category")]
        declared = declared_categories(col, plan)
        cats = [str(c) for c in s.dtype.categories]
        if declared is not None and cats[: len(declared)] != declared:
            return [T("frame.categories", column=name)]
        closed = _closed(col) or ((*plan.levels, SELF) if col.kind == "level" and plan is not None else ())
        if closed:
            outside = sorted(set(s.dropna().astype(str)) - set(closed))
            if outside:
                return [T("frame.values", column=name, values=_list(outside[:5]))]
    else:
        expected = _plain_dtype(col)
        if s.dtype != expected:
            return [T("frame.dtype", column=name, dtype=str(s.dtype), expected=str(expected))]
        if col.kind == "text" and col.values:
            outside = sorted(set(s.dropna()) - set(col.values) - {""})
            if outside:
                return [T("frame.values", column=name, values=_list(outside[:5]))]
        if col.kind == "date":
            t = s.dropna()
            if not (t == t.dt.normalize()).all():
                return [T("frame.not-date", column=name)]
    found = []
    if not col.nullable and s.isna().any():
        found.append(T("frame.missing", column=name, count=int(s.isna().sum())))
    if col.low is not None or col.high is not None:
        x = s.dropna().astype(float)
        low = x < col.low if col.low is not None else pd.Series(False, index=x.index)
        high = x > col.high if col.high is not None else pd.Series(False, index=x.index)
        bad = x[low | high]
        if len(bad):
            found.append(T("frame.bounds", column=name, value=bad.iloc[0], low=_bound(col.low), high=_bound(col.high)))
    return found


def _bound(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


# -- the declarations ------------------------------------------------------------------------

_UNIT, _LEVEL, _INDICATOR = _key("unit"), _key("level", "level"), _key("indicator", "indicator")
_MILESTONE = _key("milestone", "integer")
_NUM = _c("num", "figure", low=0)
_DEN = _c("den", "figure", low=0)
_RATE = _c("rate", "rate", low=0, high=100)
_COVER = [_c(n, "count", nullable=False, low=0) for n in ("leaves_covered", "leaves_expected", "leaves_unknown")]
_TEXT = {n: _c(n, "text") for n in ("name", "file", "sheet", "cell", "source", "note", "sha256")}


@cache
def schemas() -> dict[str, Schema]:
    """Every frame's schema, by frame name (the keys of ``Consolidation.frames()``)."""
    v = _vocab
    fact_state = _c("state", "category", values=v("fact_state"), labels="out.state-", nullable=False)
    sub_state = _c("state", "category", values=v("submission_state"), labels="consolidate.state-", nullable=False)
    evidence = _c("received_source", "text", values=v("evidence"), labels="evidence.")
    declared = [
        Schema("facts", (
            _UNIT, _LEVEL, _INDICATOR, _MILESTONE,
            _c("measure", "category", values=v("measure"), labels="frame.measure.", nullable=False),
            _c("raw", "text"), _c("typed_value", "figure"), _c("value", "figure", low=0), fact_state,
            _c("issue", "category", values=v("issue"), labels="issue-kind."),
            _TEXT["file"], _TEXT["sha256"], _TEXT["sheet"], _TEXT["cell"],
            _key("plan", "code"), _key("consolidation_unit"), _key("consolidation_level", "level"),
        )),
        Schema("detail", (
            _UNIT, _TEXT["name"], _LEVEL, _INDICATOR, _MILESTONE, _NUM, _DEN, _RATE, _c("verdict", "verdict"),
            fact_state, _TEXT["file"],
        )),
        Schema("totals", (
            _INDICATOR, _MILESTONE, _NUM, _DEN,
            *[_c(n, "count", nullable=False, low=0) for n in ("units_covered", "units_na", "units_rejected",
                                                              "units_expected")],
            _TEXT["source"], *_COVER, _c("leaf_level", "level"), _RATE, _c("verdict", "verdict"),
            _c("target", "category", values=v("target"), labels="frame.target.", nullable=False),
            _c("partial", "flag"),
        )),
        Schema("funding", (
            _key("source", "indicator"), _key("year", "integer"), _c("amount", "amount", low=0),
            _c("units_covered", "count", nullable=False, low=0), _c("units_expected", "count", nullable=False, low=0),
            *_COVER, _c("leaf_level", "level"),
        )),
        Schema("cross_checks", (
            _INDICATOR, _MILESTONE, _TEXT["source"], _NUM, _DEN, _RATE, _c("units", "count", low=0),
            _c("used_source", "text"), _c("used_rate", "rate", low=0, high=100),
        )),
        Schema("nominations", (
            _key("proposer"), _key("proposer_level", "level"), _c("own", "flag"), _key("priority", "integer"),
            _c("award", "text"), _c("award_name", "text"),
            _c("kind", "text", values=v("nomination_kind"), labels="out.kind-"),
            *[_c(n, "text") for n in ("name", "position")], _c("unit", "unit"),
            *[_c(n, "text") for n in ("unit_text", "summary", "previous", "note", "file", "sheet", "cell",
                                      "verdict")],
            _c("verdict_code", "category", values=v("quota_verdict"), labels="quota.", nullable=False),
            _c("reason", "text"),
        )),
        Schema("status", (
            _UNIT, _TEXT["name"], _LEVEL, _key("deadline", "date"), sub_state, _c("received_at", "timestamp"),
            evidence, _c("used_received_at", "timestamp"),
            *[_c(n, "count", nullable=False, low=0) for n in ("days_late", "errors", "warnings")],
            *[_c(n, "text") for n in ("file", "contact", "phone", "note")],
        )),
        Schema("below", (
            _UNIT, _TEXT["name"], _LEVEL, _key("parent"), _key("via"), sub_state, _c("received_at", "timestamp"),
            _c("days_late", "count", nullable=False, low=0), evidence,
        )),
        Schema("changes", (
            _UNIT, *[_c(n, "text") for n in ("key", "sheet", "cell", "before", "after", "file", "previous_file")],
        )),
        Schema("issues", (
            _c("code", "category", values=v("issue"), labels="issue-kind.", nullable=False),
            _c("severity", "category", values=v("severity"), labels="out.severity-", nullable=False),
            _c("unit", "unit"), *[_c(n, "text") for n in ("file", "sheet", "cell", "message")],
        )),
        Schema("coverage", (
            _LEVEL, _c("direct", "flag"),
            *[_c(n, "count", nullable=False, low=0) for n in ("expected", "received", *v("submission_state"))],
        )),
        Schema("attainment", (
            _UNIT, _TEXT["name"], _MILESTONE, _c("met", "count", nullable=False, low=0),
            _c("not_met", "count", nullable=False, low=0),
        )),
    ]  # fmt: skip
    return {s.name: s for s in declared}


def schema(name: str) -> Schema:
    """The schema of frame ``name``; :class:`FrameError` (one Vietnamese line) for an unknown name."""
    found = schemas().get(name)
    if found is None:
        raise FrameError(T("frame.unknown", name=name, names=", ".join(schemas())))
    return found


def overview() -> pd.DataFrame:
    """Every frame: ``frame``, ``rows`` (what one row is), ``columns`` (their names)."""
    rows = [{"frame": s.name, "rows": s.about, "columns": ", ".join(s.names)} for s in schemas().values()]
    return pd.DataFrame(rows, columns=["frame", "rows", "columns"]).astype(TEXT)


def conform(name: str, frame: pd.DataFrame, plan=None) -> pd.DataFrame:
    """``schema(name).conform(frame, plan)``: how the consolidation builds its frames."""
    return schema(name).conform(frame, plan)

