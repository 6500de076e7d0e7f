"""Checks of one submission: each is one small function over the entries, plus a message line.

To add a check: write ``def _my_check(ctx) -> Iterable[Issue]``, decorate it with ``@check``,
add its code to ``issues.SEVERITY`` and its text to ``messages/checks.toml``.
A check that finds an error in a value marks the entry ``REJECTED``: consolidation then
leaves that cell out (counted as missing) instead of dropping the whole workbook.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from . import layout as layout_mod
from . import messages, textnorm
from .issues import Issue, make
from .plan import AwardLevel, Plan, Unit
from .read import quoted, unit_code_of
from .submission import AMBIGUOUS, INVALID, LEGACY, TEXT_NUMBER, USABLE, Entry, Submission

REJECTED = "rejected"
T = messages.text

Check = Callable[["Context"], Iterable[Issue]]
_CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    _CHECKS.append(fn)
    return fn


@dataclass
class Context:
    sub: Submission
    plan: Plan
    expected_level: str | None = None

    @property
    def unit(self) -> Unit | None:
        return self.plan.unit(self.sub.unit_code) if self.sub.unit_code else None

    @property
    def layout(self) -> layout_mod.Layout:
        return layout_mod.build(
            self.plan, self.sub.template or "chung", self.sub.layout_version or layout_mod.VERSION
        )

    def place(self, key: tuple) -> dict[str, str]:
        """Sheet and cell of an input that has no entry (an empty cell): where the reader found it
        in this file, else where the layout puts it."""
        found = self.sub.locations.get(key)
        if found is not None:
            return {"sheet": found[0], "cell": found[1]}
        cell = self.layout.inputs[key]
        return {"sheet": cell.sheet, "cell": cell.ref}

    @property
    def level(self) -> str:
        unit = self.unit
        return unit.level if unit is not None else (self.expected_level or self.sub.level)

    def issue(
        self, code: str, entry: Entry | None = None, /, *, sheet: str = "", cell: str = "", **values
    ) -> Issue:
        if entry is not None:
            sheet, cell = entry.sheet, entry.cell
        return make(code, file=self.sub.file, sheet=sheet, cell=cell, unit=self.sub.unit_code, **values)


def run_checks(sub: Submission, plan: Plan, expected_level: str | None = None) -> list[Issue]:
    """All issues of one submission: what reading found, then every registered check."""
    ctx = Context(sub, plan, expected_level)
    found = [_with_unit(i, sub.unit_code) for i in sub.issues]
    if not sub.template:  # not one of our templates: nothing to check cell by cell
        return found
    for fn in _CHECKS:
        found.extend(fn(ctx))
    return found


def _with_unit(issue: Issue, unit: str) -> Issue:
    if issue.unit or not unit:
        return issue
    return Issue(issue.code, issue.severity, issue.message, unit, issue.file, issue.sheet, issue.cell)


def fmt(value: object) -> str:
    """A number the Vietnamese way: 1.234,5."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        whole, _, frac = f"{value:,.2f}".rstrip("0").partition(".")
        return whole.replace(",", ".") + ("," + frac if frac else "")
    return f"{int(value):,}".replace(",", ".")


def _reject(*entries: Entry | None) -> None:
    for entry in entries:
        if entry is not None:
            entry.status = REJECTED


# -- the file ---------------------------------------------------------------------------


@check
def _file_flags(ctx: Context) -> Iterator[Issue]:
    sub = ctx.sub
    if sub.has_macros:
        yield ctx.issue("macros")
    if sub.external_links:
        yield ctx.issue("external-links", links=", ".join(sub.external_links[:3]))
    for note in sub.notes:
        yield ctx.issue("file-note", text=note)


@check
def _formulas(ctx: Context) -> Iterator[Issue]:
    for cell in ctx.sub.formulas.values():
        if cell.has_formula is False:
            yield ctx.issue(
                "formula-replaced", sheet=cell.sheet, cell=cell.cell, cached=fmt(cell.cached) or "trống"
            )


# -- the unit ---------------------------------------------------------------------------


@check
def _unit(ctx: Context) -> Iterator[Issue]:
    sub, plan = ctx.sub, ctx.plan
    entry = sub.entries.get(("unit", "unit"))
    place = {"sheet": entry.sheet, "cell": entry.cell} if entry is not None else ctx.place(("unit", "unit"))
    if not sub.unit_code_given:
        yield ctx.issue("unit-missing", **place)
        return
    code, change = plan.resolve_code(sub.unit_code_given)
    unit = plan.unit(code)
    if unit is None:
        yield ctx.issue("unit-unknown", code=sub.unit_code_given, **place)
        return
    if change is not None:
        yield ctx.issue(
            "unit-old-code",
            code=change.old_code,
            old_name=change.old_name,
            date=change.effective.strftime("%d/%m/%Y"),
            new_code=unit.code,
            new_name=unit.name,
            **place,
        )
    expected = ctx.expected_level or sub.level
    if expected and unit.level != expected:
        yield ctx.issue(
            "unit-wrong-level",
            code=unit.code,
            name=unit.name,
            level=plan.levels[unit.level].name,
            expected=plan.levels[expected].name if expected in plan.levels else expected,
            **place,
        )


@check
def _unit_info(ctx: Context) -> Iterator[Issue]:
    lay_cells = ctx.sub.entries
    for fld in ("reporter", "phone", "date"):
        entry = lay_cells.get(("unit", fld))
        if entry is None or entry.value in (None, ""):
            yield ctx.issue("unit-info-missing", field=T(f"field.{fld}"), **ctx.place(("unit", fld)))
        elif fld == "date" and entry.status == INVALID:
            yield ctx.issue("date-invalid", entry, value=entry.raw)


# -- values -----------------------------------------------------------------------------


def _parse_issue(ctx: Context, entry: Entry) -> Issue | None:
    if entry.status == TEXT_NUMBER:
        return ctx.issue("number-as-text", entry, raw=quoted(entry.raw), value=quoted(fmt(entry.value)))
    if entry.status == AMBIGUOUS:
        _reject(entry)
        return ctx.issue("number-ambiguous", entry, raw=quoted(entry.raw))
    if entry.status == INVALID:
        _reject(entry)
        return ctx.issue("value-invalid", entry, raw=quoted(entry.raw))
    return None


def _indicator(ctx: Context, code: str) -> str:
    """An indicator as a clerk knows it: by its name."""
    ind = ctx.plan.indicators.get(code)
    return ind.name if ind is not None else code


def _what(ctx: Context, key: tuple) -> str:
    return T("field.count-of", part=T("field." + key[3]), indicator=_indicator(ctx, key[1]), milestone=key[2])


_PARSE_ISSUES = frozenset((TEXT_NUMBER, AMBIGUOUS, INVALID))  # the statuses _parse_issue reports


def _numbers(ctx: Context, kind: str) -> tuple[list[Issue], list[tuple[tuple, Entry]]]:
    """Entries of ``kind`` ("kq" counts, "kp" amounts) that parsed, and the issues of those that
    did not (which are rejected)."""
    issues, parsed = [], []
    for key, entry in ctx.sub.entries.items():
        if key[0] != kind:
            continue
        if entry.status in _PARSE_ISSUES:  # (most entries parsed: no call for them)
            problem = _parse_issue(ctx, entry)
            if problem is not None:
                issues.append(problem)
        if entry.status != REJECTED:
            parsed.append((key, entry))
    return issues, parsed


@check
def _counts(ctx: Context) -> Iterator[Issue]:
    sub = ctx.sub
    issues, parsed = _numbers(ctx, "kq")
    yield from issues
    for key, entry in parsed:
        value = entry.value
        if value.__class__ is int and value >= 0:  # the usual count: nothing to say
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                _reject(entry)
                yield ctx.issue("count-negative", entry, what=_what(ctx, key), value=fmt(value))
            elif isinstance(value, float) and not value.is_integer():
                _reject(entry)
                yield ctx.issue("count-not-integer", entry, what=_what(ctx, key), value=fmt(value))
    entries = sub.entries
    # the numerators not rejected above (a rejected one has no number), in the entries' order;
    # usable_number of both, written out (68 pairs a commune workbook)
    for key, num_entry in parsed:
        if key[3] != "num":
            continue
        num = num_entry.value
        if num_entry.status not in USABLE or not isinstance(num, (int, float)):
            continue
        den_entry = entries.get(_den_key(key))
        if den_entry is None:
            continue
        den = den_entry.value
        if den_entry.status in USABLE and isinstance(den, (int, float)) and num > den:
            _reject(num_entry, den_entry)
            yield ctx.issue(
                "num-exceeds-den", num_entry, indicator=_indicator(ctx, key[1]), milestone=key[2], num=fmt(num),
                den=fmt(den),
            )


@cache
def _den_key(key: tuple) -> tuple:
    """The denominator's key of a numerator's (the layout's keys are few and fixed)."""
    return (*key[:3], "den")


@cache
def _denominator_groups(plan: Plan) -> list[list[str]]:
    """Indicators whose denominators are described by the same words (computed once per plan)."""
    groups: dict[str, list[str]] = {}
    for ind in plan.rate_indicators():
        if ind.denominator:
            groups.setdefault(textnorm.match_key(ind.denominator), []).append(ind.code)
    return [codes for codes in groups.values() if len(codes) > 1]


def _partial_sums(ctx: Context) -> set[tuple[str, int]]:
    """Figures of a consolidated workbook written by xhht_xl that are the tool's sums over fewer
    units than expected (its ``_coverage`` sheet says so and the cells still hold those sums)."""
    sub = ctx.sub
    if not ctx.plan.child_levels(ctx.level) or sub.path is None or sub.kind not in ("xlsx", "xlsm"):
        return set()
    from . import coverage  # (pandas, which reading and checking one workbook does not need otherwise)

    carried = coverage.of(sub)  # the sheet as its reader read it
    if carried is None or carried.unit != sub.unit_code:
        return set()
    out = set()
    for (code, m), fig in carried.figures.items():
        num, den = sub.number(("kq", code, m, "num")), sub.number(("kq", code, m, "den"))
        nan = float("nan")
        if not fig.complete and fig.same_values(nan if num is None else num, nan if den is None else den):
            out.add((code, m))
    return out


@check
def _shared_denominators(ctx: Context) -> Iterator[Issue]:
    """Indicators with the same denominator (e.g. all communes of a district) must agree.

    In a consolidated workbook written by xhht_xl, a sum over the communes that reported is not
    comparable with a figure covering all of them (the district's own count): partial sums are
    left out, so the tool's own arithmetic is never reported as the sender's inconsistency.
    """
    sub = ctx.sub
    partial = _partial_sums(ctx)
    for codes in _denominator_groups(ctx.plan):
        for m in ctx.plan.milestones:
            found = {c: sub.number(("kq", c, m, "den")) for c in codes if (c, m) not in partial}
            values = {v for v in found.values() if v is not None}
            if len(values) > 1:
                first = sub.entries[("kq", next(c for c, v in found.items() if v is not None), m, "den")]
                ind = ctx.plan.indicators[codes[0]]
                listed = "; ".join(
                    T("field.indicator-value", indicator=_indicator(ctx, c), value=fmt(v))
                    for c, v in found.items()
                    if v is not None
                )
                yield ctx.issue(
                    "denominator-mismatch", first, denominator=ind.denominator, milestone=m, values=listed
                )


@check
def _amounts(ctx: Context) -> Iterator[Issue]:
    by_source: dict[str, list[Entry]] = {}
    issues, parsed = _numbers(ctx, "kp")
    yield from issues
    for key, entry in parsed:
        if isinstance(entry.value, (int, float)) and entry.value < 0:
            _reject(entry)
            yield ctx.issue("amount-negative", entry, value=fmt(entry.value))
        elif isinstance(entry.value, (int, float)):
            by_source.setdefault(key[1], []).append(entry)
    for entries in by_source.values():
        yield from _scale_outliers(ctx, entries)


SCALE_RATIO = 500  # đồng instead of triệu đồng is x1,000,000; a thousand-fold slip is caught too


def _scale_issue(ctx: Context, entry: Entry, typical: float) -> Issue:
    return ctx.issue("amount-scale", entry, value=fmt(entry.value), ratio=fmt(round(entry.value / typical)),
                     typical=fmt(typical))  # fmt: skip


def _scale_outliers(ctx: Context, entries: list[Entry]) -> Iterator[Issue]:
    """Amounts about 1,000 times (or more) the unit's typical level (median of its other
    entries): entered in đồng, not triệu đồng."""
    positive = sorted(e.value for e in entries if e.value > 0)
    if len(positive) < 3:  # an entry's others: fewer than two
        return
    for entry in entries:
        if entry.value <= 0:
            continue
        typical = _median_without(positive, entry.value)
        if typical > 0 and entry.value / typical >= SCALE_RATIO:
            yield _scale_issue(ctx, entry, typical)


def _median_without(ordered: list, value) -> float:
    """``statistics.median`` of ``ordered`` (sorted) without one occurrence of ``value`` (in it)."""
    i = bisect.bisect_left(ordered, value)
    rest = ordered[:i] + ordered[i + 1 :]
    n = len(rest)
    return rest[n // 2] if n % 2 else (rest[n // 2 - 1] + rest[n // 2]) / 2


def peer_amounts(subs: list[Submission], plan: Plan, already: set[tuple[str, str, str]]) -> list[Issue]:
    """Amounts about 1,000 times (or more) what the unit's peers spent on the same source and year:
    the batch half of the đồng / triệu đồng check (the unit's own years are checked per file).
    ``already``: (file, sheet, cell) flagged by the per-file check, not reported twice."""
    pools: dict[tuple, list[tuple[Submission, int | float]]] = {}
    for sub in subs:
        c = sub.columns()
        keys, values, statuses = c.keys, c.values, c.statuses
        for i in c.index.of_kind("kp"):
            value = values[i]
            if statuses[i] != REJECTED and isinstance(value, (int, float)):
                pools.setdefault(keys[i], []).append((sub, value))
    issues = []
    for key, members in pools.items():
        positive = [v for _, v in members if v > 0]
        if len(positive) < 3:
            continue
        typical = statistics.median(positive)  # robust: one outlier barely moves it (and O(n))
        for sub, value in members:
            if value / typical >= SCALE_RATIO:
                entry = sub.entry(key)
                if (sub.file, entry.sheet, entry.cell) not in already:
                    issues.append(_scale_issue(Context(sub, plan), entry, typical))
    return issues


@check
def _legacy_text(ctx: Context) -> Iterator[Issue]:
    for entry in ctx.sub.entries.values():
        if entry.status == LEGACY:
            encoding = textnorm.detect_legacy(str(entry.raw)) or "TCVN3/VNI"
            yield ctx.issue("legacy-encoding", entry, encoding=encoding.upper(), text=str(entry.value)[:60])


# -- nominations and narrative ------------------------------------------------------------

# What a nomination file needs; a collective has no position.
_REQUIRED = (("award", "award"), ("kind", "kind"), ("name", "name"), ("position", "nominee-position"),
             ("unit", "nominee-unit"), ("summary", "summary"))  # fmt: skip


@cache
def award_keys(plan: Plan) -> tuple[dict[str, AwardLevel], dict[str, str]]:
    """Lookups from what a nomination row says (any tone placement/case) to award level and kind."""
    awards = {textnorm.match_key(a.name): a for a in plan.settings.award_levels}
    kinds = {
        textnorm.match_key(T("layout.kind-collective")): "collective",
        textnorm.match_key(T("layout.kind-individual")): "individual",
    }
    return awards, kinds


@check
def _nominations(ctx: Context) -> Iterator[Issue]:
    sub, plan = ctx.sub, ctx.plan
    awards, kinds = award_keys(plan)
    level = ctx.level
    has_quotas = any(q.proposer_level == level for q in plan.settings.quotas)
    for row in sub.nominations():
        i = row["index"]
        priority = i + 1

        def at(fld: str, i=i) -> Entry | None:
            return sub.entries.get(("kt", i, fld))

        kind = kinds.get(textnorm.match_key(str(row.get("kind", "")))) if row.get("kind") else None
        missing = [
            T(f"field.{label}")
            for fld, label in _REQUIRED
            if row.get(fld) in (None, "") and not (fld == "position" and kind == "collective")
        ]
        if missing:
            first = next(e for f in layout_mod.AWARD_FIELDS if (e := at(f)) is not None)
            yield ctx.issue("nomination-incomplete", first, priority=priority, fields=", ".join(missing))
        award = awards.get(textnorm.match_key(str(row.get("award", "")))) if row.get("award") else None
        if row.get("award") and award is None:
            yield ctx.issue("nomination-award-unknown", at("award"), priority=priority, value=row["award"])
        if row.get("kind") and kind is None:
            yield ctx.issue("nomination-kind-unknown", at("kind"), priority=priority, value=row["kind"])
        if row.get("unit"):
            code = unit_code_of(str(row["unit"]), plan)
            if not code or plan.unit(plan.resolve_code(code)[0]) is None:
                yield ctx.issue("nomination-unit-unknown", at("unit"), priority=priority, value=row["unit"])
        if award is not None and kind is not None and has_quotas:
            quota = plan.quota(award.code, level)
            if quota is None or getattr(quota, kind) == 0:
                yield ctx.issue(
                    "nomination-no-quota",
                    at("award"),
                    priority=priority,
                    level=plan.levels[level].name,
                    award=award.name,
                    kind=T(
                        "layout.kind-collective" if kind == "collective" else "layout.kind-individual"
                    ).lower(),
                )


@check
def _narrative(ctx: Context) -> Iterator[Issue]:
    sub = ctx.sub
    written = sub.narrative()
    items = [o.code for o in ctx.plan.narrative_items()]
    if sub.template == "so_nganh":
        items.append(layout_mod.TOPIC_ITEM)
    for code in items:
        if code not in written:
            yield ctx.issue("narrative-empty", item=code, **ctx.place(("bc", code)))
