"""Consolidate a folder of sub-units' workbooks for one unit at one level.

``consolidate()`` is the function the CLI and the Excel ribbon call: intake (read, check,
identify, archive, ledger) -> choose one version per unit -> completeness and timeliness ->
aggregate (authority, sums, recomputed rates, targets) -> quotas -> a :class:`Consolidation`
holding tidy pandas frames that the writers in ``outputs.py`` turn into files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregate, checks, coverage, frames, intake, messages, outputs, quotas, textnorm
from .aggregate import Member, Scope
from .errors import DataError
from .issues import Issue, Report, make
from .pipeline import collector_paused_during, validate
from .plan import Plan
from .read import listed
from .submission import Submission, merge

T = messages.text


class ConsolidationError(DataError):
    """The consolidation cannot run; ``str()`` is one Vietnamese line."""


@dataclass(repr=False)
class Consolidation:
    """One consolidation: what was received and used, and every figure as a typed frame.

    The frames (``facts``, ``detail``, ``totals``, ``funding``, ``cross``, ``nominations``,
    ``status``, ``below``, ``changes``) each follow their schema in :mod:`frames`
    (``xx.schema(name)`` shows it); in Jupyter the object shows a short Vietnamese summary and
    ``.plot`` draws the consolidated workbook's charts."""

    plan: Plan
    scope: Scope
    folder: Path
    run_at: dt.datetime
    as_of: dt.date
    deadlines: dict[str, dt.date]
    received: list[intake.Received]
    chosen: dict[str, intake.Received]
    own: Submission | None
    members: list[Member]
    facts: pd.DataFrame
    detail: pd.DataFrame
    totals: pd.DataFrame
    funding: pd.DataFrame
    cross: pd.DataFrame
    nominations: pd.DataFrame
    status: pd.DataFrame
    changes: pd.DataFrame
    report: Report
    appendix: dict[tuple, object] = field(default_factory=dict)
    # units below the direct ones (the communes under the districts), as the direct units'
    # workbooks carry them (``coverage.below``); direct unit -> its workbook's carried coverage
    below: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=coverage.BELOW_COLUMNS))
    carried: dict[str, coverage.Carried] = field(default_factory=dict)

    @property
    def unit(self):
        return self.plan.unit(self.scope.unit)

    @property
    def unreadable(self) -> list[str]:
        """:func:`unreadable_files` of the files this consolidation received."""
        return unreadable_files(self.received)

    @property
    def ok(self) -> bool:
        return self.report.ok

    def frames(self) -> dict[str, pd.DataFrame]:
        """Everything as tidy frames, for analysts: ``{name: DataFrame}``.

        facts (every cell of counts and amounts, as typed and as used), detail (each unit's rates),
        totals (the consolidated rates against targets, with coverage), funding, cross_checks,
        nominations, status (the direct units' submissions), below (units further down),
        changes (resubmissions), issues (the one issue list), coverage (submissions per level),
        attainment (targets met per direct unit). Each passes ``xx.schema(name)``: the same
        categorical dtype for unit codes, indicator codes, levels and verdicts in every frame,
        ``Int64`` counts, ``float64`` figures and rates, ``datetime64[us]`` times (Vietnam time)."""
        return {
            "facts": self.facts,
            "detail": self.detail,
            "totals": self.totals,
            "funding": self.funding,
            "cross_checks": self.cross,
            "nominations": self.nominations,
            "status": self.status,
            "below": self.below,
            "changes": self.changes,
            "issues": self.report.frame(self.plan),
            "coverage": self.coverage_frame(),
            "attainment": self.attainment(),
        }

    def coverage_frame(self) -> pd.DataFrame:
        """:meth:`coverage_by_level` as a frame (schema ``coverage``), without the unit lists."""
        names = frames.schema("coverage").names
        rows = [{k: lv[k] for k in names} for lv in self.coverage_by_level()]
        return frames.conform("coverage", pd.DataFrame(rows, columns=names), self.plan)

    def attainment(self, milestone: int | None = None) -> pd.DataFrame:
        """Targets met (verdict dat or vuot) and not met (khong-dat) per direct unit at
        ``milestone`` (default: the plan's last), counted over ``detail``: the data of the
        consolidated workbook's attainment chart and of ``plot.targets()`` (schema ``attainment``),
        units in the order of ``detail``."""
        year = max(self.plan.milestones) if milestone is None else int(milestone)
        direct = {u for codes in self.scope.expected.values() for u in codes}  # not the communes under districts
        d = self.detail
        counts: dict[str, list[int]] = {}  # unit -> [met, not met], units in their first row's order
        if not d.empty:
            # one pass over plain values (a groupby over ~10^3 rows cost ~10 ms, and every output asks)
            for unit, m, verdict in zip(d["unit"].tolist(), d["milestone"].tolist(), d["verdict"].tolist(),
                                        strict=True):  # fmt: skip
                if m == year and unit in direct:
                    n = counts.setdefault(unit, [0, 0])
                    if verdict in ("dat", "vuot"):
                        n[0] += 1
                    elif verdict == "khong-dat":
                        n[1] += 1
        rows = [{"unit": unit, "name": self.plan.units[unit].name if unit in self.plan.units else unit,
                 "milestone": year, "met": met, "not_met": not_met}
                for unit, (met, not_met) in counts.items()]  # fmt: skip
        return frames.conform("attainment", pd.DataFrame(rows, columns=frames.schema("attainment").names), self.plan)

    @property
    def plot(self):
        """The consolidated workbook's charts with matplotlib: ``.plot.targets()``, ``.plot.coverage()``."""
        from .analysis import Plots

        return Plots(self)

    def summary(self) -> str:
        """A short Vietnamese summary (coverage, late and missing units, targets, issues by kind)."""
        from .analysis import summary_text

        return summary_text(self)

    def _repr_html_(self) -> str:
        from .analysis import summary_html

        return summary_html(self)

    def __repr__(self) -> str:
        return (f"<Consolidation {self.scope.level} {self.scope.unit} ({self.plan.id}), "
                f"as_of={self.as_of.isoformat()}, received={len(self.chosen)}/{len(self.status)}>")  # fmt: skip

    def coverage_by_level(self) -> list[dict]:
        """Submission counts per level, direct units first, then every level below (see
        ``coverage.by_level``): what "186/188 xã" in every output is computed from."""
        return coverage.by_level(self.plan, self.status, self.below)

    def write_workbook(self, path: str | Path) -> Path:
        from .outputs import write_workbook

        return write_workbook(self, Path(path))

    def write_json(self, path: str | Path) -> Path:
        from .outputs import write_json

        return write_json(self, Path(path))

    def write_facts(self, path: str | Path) -> Path:
        from .outputs import write_facts

        return write_facts(self, Path(path))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def resolve_scope(plan: Plan, level: str, unit: str | None) -> Scope:
    consolidating = [code for code in plan.levels if plan.child_levels(code)]
    choices = T("consolidate.level-or").join(f"{code} ({_lower_first(plan.levels[code].name)})" for code in consolidating)
    if level not in plan.levels:
        raise ConsolidationError(T("consolidate.unknown-level", level=level, levels=choices))
    child_levels = plan.child_levels(level)
    if not child_levels:
        raise ConsolidationError(T("consolidate.no-children", level=plan.levels[level].name, levels=choices))
    if unit is None:
        candidates = plan.units_at(level)
        if len(candidates) != 1:
            raise ConsolidationError(T("consolidate.need-unit", example=f"--unit {candidates[0].code}"))
        unit = candidates[0].code
    u = plan.unit(unit)
    if u is None or u.level != level:
        example = next(iter(plan.units_at(level)), None)
        raise ConsolidationError(T("consolidate.wrong-unit", code=unit, level=_lower_first(plan.levels[level].name),
                                   example=example.code if example else ""))  # fmt: skip
    expected = {cl: [c.code for c in plan.children(unit, cl)] for cl in child_levels}
    return Scope(unit=unit, level=level, expected={k: v for k, v in expected.items() if v})


@collector_paused_during
def consolidate(
    folder: str | Path,
    plan: Plan,
    level: str,
    unit: str | None = None,
    *,
    into: str | Path | None = None,
    received_at: str | Path | dict | None = None,
    as_of: dt.date | None = None,
    deadline: dt.date | None = None,
    store: str | Path | None = None,
    progress: intake.Progress | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
) -> Consolidation:
    """Pull every workbook under ``folder`` and consolidate it for ``unit`` at ``level``.

    ``into``: the consolidating unit's own workbook; it must be a workbook of ``unit`` at
    ``level``. ``received_at``: a ``file,received_at`` CSV (every row must name an existing
    file, of this folder or beside the CSV, and a file of this folder must belong to an expected
    unit) or a mapping ``{relative path: time}`` used where it matches; see
    ``intake.received_time`` for the evidence used otherwise. Raises
    :class:`ConsolidationError` (one Vietnamese line naming the file and row or both units)
    before any output is written when the folder, the unit, ``into`` or a row of
    ``received_at`` is wrong. Figures are computed once here (rates rounded by
    ``plan.round_rate``); writers only render them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConsolidationError(T("consolidate.folder-missing", folder=folder))
    scope = resolve_scope(plan, level, unit)
    now = now or dt.datetime.now().replace(microsecond=0)
    as_of = as_of or now.date()
    store = Path(store) if store is not None else folder.parent / intake.STORE_NAME
    csv_path = Path(received_at) if isinstance(received_at, (str, Path)) else None
    csv_name = csv_path.name if csv_path is not None else ""
    times = received_at if isinstance(received_at, dict) else intake.read_received_at(received_at)
    expected_units = {c: plan.units[c] for codes in scope.expected.values() for c in codes}

    issues: list[Issue] = []
    own_sub = None
    if into is not None:
        own_sub, own_issues = _own(into, plan, scope)
        issues += own_issues
    rows = _received_rows(times)
    if csv_path is not None:
        _check_rows_name_files(times, rows, folder, csv_path)

    intake_notes: list[Issue] = []
    with intake.locked(store, intake_notes):
        # one ledger, one transaction: the receipts and which versions this run used
        ledger = intake.Ledger(store / intake.LEDGER_NAME)
        try:
            received = intake.pull(folder, plan, expected_units, store, times, progress, now, workers,
                                   own=(scope.level, scope.unit), notes=intake_notes, ledger=ledger)  # fmt: skip
            if csv_name:
                _check_rows_name_units(times, rows, received, expected_units, csv_name, plan, scope)
            chosen = intake.choose(received, expected_units, plan)
            changes = _changes(plan, scope, chosen, received, ledger)
            key = f"{scope.level}:{scope.unit}"
            for code, r in chosen.items():
                ledger.mark_used(key, code, r.sha256, now)
            ledger.db.commit()
        finally:
            ledger.close()

    issues[:0] = intake_notes

    members = [
        Member(code, plan.units[code].level, merge([r.sub, *(p.sub for p in r.parts)]) if r.parts else r.sub)
        for code, r in chosen.items()
    ]
    order = {code: i for i, code in enumerate(expected_units)}  # plan order (one lookup per member)
    members.sort(key=lambda m: order[m.unit])
    if own_sub is not None:
        members.append(Member(scope.unit, level, own_sub, own=True))

    for r in received:
        # a version that was replaced by a later one is not used: only its intake note counts
        replaced = r.sub is not None and not r.used and r.unit in chosen
        if not replaced:
            issues += [_attach(i, r.unit) for i in r.validation.report.issues]
        issues += r.issues

    scale = {(i.file, i.sheet, i.cell) for i in issues if i.code == "amount-scale"}
    issues += checks.peer_amounts([m.sub for m in members if not m.own], plan, scale)
    deadlines = {cl: (deadline or plan.deadline(cl).date) for cl in scope.expected}
    status, status_issues = _status(plan, scope, chosen, deadlines, as_of, unreadable_files(received))
    issues += status_issues

    carried, carried_issues = _carried(plan, scope, chosen, store)
    issues += carried_issues
    below = coverage.below(plan, tuple(scope.expected), status, carried)
    issues += _below_missing(plan, chosen, below)

    facts = aggregate.facts(members, issues)
    pairs = aggregate.pairs(facts)  # once: totals, cross-checks and each unit's rates start from it
    totals = aggregate.totals(None, plan, scope, carried, pairs=pairs)
    cross = aggregate.cross_checks(None, plan, scope, totals, pairs=pairs)
    detail = _detail(aggregate.unit_rates(None, plan, pairs=pairs[pairs["level"] != "self"]), plan, chosen)
    del pairs  # (~60 MB at 10,600 workbooks: gone before the facts are conformed)
    funding = aggregate.funding(facts, plan, scope, carried)
    # the facts in their declared dtypes now, the untyped frame let go; the other frames below
    facts = frames.conform("facts", facts.assign(**_constant_columns(len(facts), plan=plan.id,
                           consolidation_unit=scope.unit, consolidation_level=scope.level)), plan)  # fmt: skip
    nested, nested_issues = _nested_detail(plan, chosen, store)
    issues += nested_issues
    for r in received:  # read back: every district's detail rows are let go
        if r.sub is not None and r.sub.sent_up:
            r.sub.sent_up = None  # (coverage.of and outputs.detail_of would read the file again)
    if nested:
        detail = pd.concat([detail, *nested], ignore_index=True)
    noms = quotas.collect(members, plan)
    noms, quota_issues = quotas.check(noms, plan, scope, issues)
    issues += quota_issues

    report = Report(issues)
    counts = unit_issue_counts(report)
    units = status["unit"].tolist()
    status["errors"] = [counts.get(u, (0, 0))[0] for u in units]
    status["warnings"] = [counts.get(u, (0, 0))[1] for u in units]
    # every frame in its declared dtypes (frames.py), once, here; the values stay as computed
    typed = {name: frames.conform(name, frame, plan) for name, frame in (
        ("detail", detail), ("totals", totals), ("funding", funding), ("cross_checks", cross),
        ("nominations", noms), ("status", status), ("below", below), ("changes", changes))}  # fmt: skip
    typed["facts"] = facts

    result = Consolidation(
        plan=plan,
        scope=scope,
        folder=folder,
        run_at=now,
        as_of=as_of,
        deadlines=deadlines,
        received=received,
        chosen=chosen,
        own=own_sub,
        members=members,
        facts=typed["facts"],
        detail=typed["detail"],
        totals=typed["totals"],
        funding=typed["funding"],
        cross=typed["cross_checks"],
        nominations=typed["nominations"],
        status=typed["status"],
        changes=typed["changes"],
        report=report,
        below=typed["below"],
        carried=carried,
    )
    result.appendix = aggregate.appendix_values(totals, funding, plan, scope, own_sub)
    return result


def _constant_columns(rows: int, **values: str) -> dict[str, pd.Categorical]:
    """Columns holding one value on every row, as categoricals (one byte a row; a column of the
    text made and then coded was ~18 MB a column at 10,600 workbooks)."""
    codes = np.zeros(rows, dtype=np.int8)
    return {name: pd.Categorical.from_codes(codes, categories=[value]) for name, value in values.items()}


def unit_issue_counts(issues) -> dict[str, tuple[int, int]]:
    """``{unit code: (errors, warnings)}`` over an issue list: the one source of every per-unit
    count (the status sheet, the JSON summary, the console), so they equal the Vấn đề sheet."""
    out: dict[str, list[int]] = {}
    for i in issues:
        if i.unit and i.severity in ("error", "warning"):
            n = out.setdefault(i.unit, [0, 0])
            n[0 if i.severity == "error" else 1] += 1
    return {u: (n[0], n[1]) for u, n in out.items()}


def _own(into: str | Path, plan: Plan, scope: Scope) -> tuple[Submission, list[Issue]]:
    """The consolidating unit's own workbook, read and checked: it must be a workbook of the
    scope's unit at its level (a workbook of another unit would put its numbers under our name)."""
    file = Path(into).name
    v = validate(into, plan, expected_level=scope.level, file=file)
    if v.submission is None:
        raise ConsolidationError(T("consolidate.into-unreadable", file=into, text=v.report.issues[0].message))
    sub = v.submission
    expected = _unit_label(plan, scope.unit)
    if not sub.unit_code:
        raise ConsolidationError(T("consolidate.into-no-unit", file=_shown(file), expected=expected))
    if sub.unit_code != scope.unit:
        raise ConsolidationError(
            T("consolidate.into-other-unit", file=_shown(file), found=_unit_label(plan, sub.unit_code), expected=expected)
        )
    if sub.level and sub.level != scope.level:
        text = T("consolidate.into-other-level", file=_shown(file), expected=expected,
                 found_level=_level_name(plan, sub.level), level=_level_name(plan, scope.level))  # fmt: skip
        raise ConsolidationError(text)
    return sub, v.report.issues


def _unit_label(plan: Plan, code: str) -> str:
    u = plan.unit(code)
    return f"{code} - {u.name}" if u is not None else code


def _level_name(plan: Plan, level: str) -> str:
    return plan.levels[level].name.lower() if level in plan.levels else level


def _shown(text: str) -> str:
    """Text from outside (file names) as it may be printed: no control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _received_rows(times) -> dict[str, int]:
    """Row of the received-at file each key came from (the reader may say; else the order of
    its rows after the header)."""
    rows = getattr(times, "rows", None)
    return dict(rows) if rows else {key: i for i, key in enumerate(times, start=2)}


def _matching(key: str, rels: set[str], names: set[str]) -> bool:
    """Whether a received-at key names a file in the folder, by the rules of ``intake._lookup_time``."""
    parts = key.split("/")
    return any("/".join(parts[i:]) in rels for i in range(len(parts))) or parts[-1] in names


def _check_rows_name_files(times, rows: dict[str, int], folder: Path, csv_path: Path) -> None:
    """Every row of a received-at file must name an existing file: one of the folder, or one
    beside the CSV (a CSV kept for a whole mailbox also lists other folders' files). A misspelt
    name would silently leave that file on a weaker evidence of its received time."""
    if not times:
        return
    rels = {textnorm.nfc(p.relative_to(folder).as_posix()) for p in intake.scan(folder)}
    names = {rel.rsplit("/", 1)[-1] for rel in rels}
    for key in times:
        if not _matching(key, rels, names) and not (csv_path.parent / key).is_file():
            raise ConsolidationError(T("consolidate.received-at-unknown-file", file=_shown(csv_path.name),
                                       row=rows.get(key, "?"), name=_shown(key), folder=folder))  # fmt: skip


def _check_rows_name_units(times, rows, received, expected, csv_name: str, plan: Plan, scope: Scope) -> None:
    """A row for a file of the folder that belongs to a unit outside this consolidation."""
    strangers = [r for r in received if r.unit and r.unit not in expected]
    for r in strangers:
        for key in times:
            if intake._lookup_time({key: dt.datetime.min}, r.rel) is not None:
                raise ConsolidationError(
                    T("consolidate.received-at-unknown-unit", file=_shown(csv_name), row=rows.get(key, "?"),
                      name=_shown(key), unit=_unit_label(plan, r.unit), scope=_unit_label(plan, scope.unit))
                )  # fmt: skip


def _carried(plan: Plan, scope: Scope, chosen: dict[str, intake.Received], store: Path):
    """The coverage each direct unit's consolidated workbook carries; a consolidated level's
    workbook that carries none (not written by xhht_xl) is noted: its coverage is unknown."""
    carried: dict[str, coverage.Carried] = {}
    issues: list[Issue] = []
    for code, r in chosen.items():
        unit = plan.units[code]
        if not plan.child_levels(unit.level):
            continue
        c = coverage.of(r.sub, r.path, data=_kept(store, r))
        if c is not None and c.unit == code:
            carried[code] = c
            continue
        kids = {u.level for u in plan.descendants(code)}
        noun = plan.levels[next(iter(kids))].unit_noun if len(kids) == 1 else T("coverage.noun-any")
        issues.append(make("coverage-unknown", file=r.rel, unit=code, code=code, name=unit.name, noun=noun))
    return carried, issues


def _nested_detail(plan: Plan, chosen: dict[str, intake.Received], store: Path):
    """The «Chi tiết» rows of each consolidated workbook received (the units below the direct
    ones), and one warning per workbook naming the rows left out (a milestone or a unit code
    edited into something that is none)."""
    frames: list[pd.DataFrame] = []
    issues: list[Issue] = []
    sheet = T("out.sheet-detail")
    for code, r in chosen.items():
        if not (r.sub.level in plan.levels and plan.child_levels(r.sub.level)):
            continue
        bad: list[str] = []
        frame = outputs.detail_of(r.sub, plan, r.path, bad, data=_kept(store, r))
        if not frame.empty:
            frames.append(frame)
        if bad:
            issues.append(make("detail-row-invalid", file=r.rel, sheet=sheet, cell=bad[0], unit=code,
                               count=len(bad), cells=listed(bad, 10)))  # fmt: skip
    return frames, issues


def _kept(store: Path, r: intake.Received) -> bytes | None:
    """The bytes that were read of a received file whose reader did not keep the sheets it sends
    up (``Submission.sent_up``: set by ``read.read``, so only for a submission made otherwise), as
    the store keeps them; None otherwise (its path is read then)."""
    if r.sub.sent_up is not None or not r.archive:
        return None
    return intake.kept(store, r.sha256, r.archive)


def _below_missing(plan: Plan, chosen, below: pd.DataFrame) -> list[Issue]:
    """One warning per direct unit whose workbook lacks units that have not reported to it."""
    issues = []
    if below.empty:
        return issues
    missing = below[below["state"] == "missing"]
    for via, group in missing.groupby("via", sort=False):
        r = chosen.get(via)
        unit = plan.units[via]
        levels = set(group["level"])
        noun = plan.levels[next(iter(levels))].unit_noun if len(levels) == 1 else T("coverage.noun-any")
        names = ", ".join(f"{c} - {n}" for c, n in zip(group["unit"], group["name"], strict=True))
        issues.append(make("below-missing", file=r.rel if r else "", unit=via, code=via, name=unit.name,
                           count=len(group), noun=noun, names=names))  # fmt: skip
    return issues


def _attach(issue: Issue, unit: str) -> Issue:
    if issue.unit or not unit:
        return issue
    return Issue(issue.code, issue.severity, issue.message, unit, issue.file, issue.sheet, issue.cell)


def unreadable_files(received) -> list[str]:
    """The received files that could not be read at all (the intake gate refused them, or the
    reader failed on them), by the name they were received under. None can be told to be a unit's
    report: a unit without one has "no report that could be read", not "nothing sent", wherever
    its state is given (the issue, the status sheet's note, the report)."""
    return [r.rel for r in received if not r.skipped and r.validation.submission is None]


def _status(plan, scope, chosen, deadlines, as_of, unreadable=()) -> tuple[pd.DataFrame, list[Issue]]:
    """On time, late (by how many days), missing or not yet due, for every expected unit.

    Judged on when the unit's report first arrived (``Received.arrived_at``): a correction sent
    after the deadline by a unit that reported on time is noted, not counted late.
    ``errors``/``warnings`` are filled from the final issue list by the caller. ``unreadable``:
    :func:`unreadable_files`, named in a missing unit's issue and note (one may be its report).
    """
    # the one sentence naming those files: the note of a missing unit's row, and its issue's end
    note = T("consolidate.note-unreadable", n=len(unreadable), files=", ".join(unreadable)) if unreadable else ""
    said = {"state": T("consolidate.no-readable-report" if unreadable else "consolidate.not-sent"),
            "more": " " + note if note else ""}  # fmt: skip
    rows, issues = [], []
    for level, codes in scope.expected.items():
        deadline = deadlines[level]
        for code in codes:
            unit = plan.units[code]
            r = chosen.get(code)
            person = unit.contact_person or (_text(r.sub, "reporter") if r else "")
            phone = unit.contact_phone or (_text(r.sub, "phone") if r else "")
            arrived = r.arrived_at if r else None
            row = {
                "unit": code,
                "name": unit.name,
                "level": level,
                "deadline": deadline,
                "state": "",
                "received_at": arrived,
                "received_source": r.arrived_source if r else "",
                "used_received_at": r.received_at if r else None,
                "days_late": 0,
                "errors": 0,
                "warnings": 0,
                "file": r.rel if r else "",
                "contact": person,
                "phone": phone,
                "note": "",
            }
            if r is None:
                row["state"] = "missing" if as_of > deadline else "pending"
                if row["state"] == "missing":
                    issues.append(
                        make("missing", unit=code, code=code, name=unit.name, deadline=_d(deadline), **said)
                    )
                    row["note"] = note
            elif arrived.date() > deadline:
                row["state"] = "late"
                row["days_late"] = (arrived.date() - deadline).days
                issues.append(
                    make(
                        "late",
                        file=r.rel,
                        unit=code,
                        code=code,
                        name=unit.name,
                        received=_d(arrived.date()),
                        days=row["days_late"],
                        deadline=_d(deadline),
                    )
                )
            else:
                row["state"] = "on_time"
                if r.received_at.date() > deadline:
                    row["note"] = T("coverage.correction-late", when=_hm(r.received_at), first=_hm(arrived))
                    issues.append(make("correction-late", file=r.rel, unit=code, code=code, name=unit.name,
                                       first=_hm(arrived), when=_hm(r.received_at), deadline=_d(deadline)))  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=STATUS_COLUMNS), issues


STATUS_COLUMNS = ["unit", "name", "level", "deadline", "state", "received_at", "received_source", "used_received_at",
                  "days_late", "errors", "warnings", "file", "contact", "phone", "note"]  # fmt: skip


def _hm(when: dt.datetime) -> str:
    return when.strftime("%H:%M %d/%m/%Y")


def _text(sub: Submission | None, field: str) -> str:
    if sub is None:
        return ""
    value = sub.value(("unit", field))
    return str(value) if value else ""


def _d(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _detail(rates: pd.DataFrame, plan: Plan, chosen: dict[str, intake.Received]) -> pd.DataFrame:
    """Per unit x indicator x milestone: figures, rate, verdict and where they came from."""
    if rates.empty:
        return pd.DataFrame(columns=list(outputs.DETAIL_COLUMNS))
    rates = rates[rates["state"] != aggregate.EMPTY].copy()  # rows nobody filled (e.g. greyed) say nothing
    # per distinct unit, not per row (1.3 M rows at national scale)
    inverse, units = aggregate._distinct([rates["unit"]])
    names = [plan.units[u].name if u in plan.units else u for (u,) in units]
    files = [chosen[u].rel if u in chosen else "" for (u,) in units]
    rates["name"] = np.array(names, dtype=object)[inverse]
    rates["file"] = np.array(files, dtype=object)[inverse]
    return rates[
        ["unit", "name", "level", "indicator", "milestone", "num", "den", "rate", "verdict", "state", "file"]
    ]


def _changes(plan, scope, chosen, received, ledger) -> pd.DataFrame:
    """Cell-level differences of a resubmission against the version used before (or superseded)."""
    rows = []
    key = f"{scope.level}:{scope.unit}"
    by_unit: dict[str, list[intake.Received]] = {}  # one pass: a scan of every file per unit was quadratic
    for x in received:
        if x.unit in chosen and x.sub is not None:
            by_unit.setdefault(x.unit, []).append(x)
    for code, r in chosen.items():
        previous = None
        last = ledger.last_used(key, code, other_than=r.sha256)
        if last is not None:
            sha, archive, rel = last
            data = ledger.version(sha, archive)
            if data is not None:  # read as it was received (its name as the clerk knows it)
                previous = validate(Path(rel), plan, file=rel, data=data).submission
        if previous is None:
            # the version this one replaced: same unit and part (not another part of a merger)
            older = [
                x
                for x in by_unit.get(code, ())
                if x is not r and x.sha256 != r.sha256
                and x not in r.parts and x.sub.unit_code_given == r.sub.unit_code_given
            ]
            if older:
                previous = max(older, key=lambda x: (x.received_at, x.sub.report_date or dt.date.min)).sub
        if previous is None:
            continue
        for k in sorted(set(previous.entries) | set(r.sub.entries), key=str):
            before, after = previous.value(k), r.sub.value(k)
            if before != after:
                entry = r.sub.entries.get(k) or previous.entries.get(k)
                rows.append(
                    {
                        "unit": code,
                        "key": "/".join(map(str, k)),
                        "sheet": entry.sheet,
                        "cell": entry.cell,
                        "before": _show(before),
                        "after": _show(after),
                        "file": r.rel,
                        "previous_file": previous.file,
                    }
                )
    return pd.DataFrame(
        rows, columns=["unit", "key", "sheet", "cell", "before", "after", "file", "previous_file"]
    )


def _show(value: object) -> str:
    if value is None:
        return ""
    return str(value)
