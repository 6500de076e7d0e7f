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

import pandas as pd

from . import aggregate, checks, intake, messages, outputs, quotas
from .aggregate import Member, Scope
from .issues import Issue, Report, make
from .pipeline import validate
from .plan import Plan
from .submission import Submission, merge

T = messages.text


class ConsolidationError(Exception):
    """The consolidation cannot run; ``str()`` is one Vietnamese line."""


@dataclass
class Consolidation:
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

    @property
    def unit(self):
        return self.plan.unit(self.scope.unit)

    @property
    def ok(self) -> bool:
        return self.report.ok

    def frames(self) -> dict[str, pd.DataFrame]:
        """Everything as tidy frames, for analysts: ``{name: DataFrame}``."""
        return {
            "facts": self.facts,
            "detail": self.detail,
            "totals": self.totals,
            "funding": self.funding,
            "cross_checks": self.cross,
            "nominations": self.nominations,
            "status": self.status,
            "changes": self.changes,
            "issues": self.report.frame(),
        }

    def write_workbook(self, path: str | Path) -> Path:
        from .outputs import write_workbook

        return write_workbook(self, Path(path))

    def write_json(self, path: str | Path) -> Path:
        from .outputs import write_json

        return write_json(self, Path(path))

    def write_facts(self, path: str | Path) -> Path:
        from .outputs import write_facts

        return write_facts(self, Path(path))


def resolve_scope(plan: Plan, level: str, unit: str | None) -> Scope:
    if level not in plan.levels:
        raise ConsolidationError(T("consolidate.unknown-level", level=level, levels=", ".join(plan.levels)))
    child_levels = plan.child_levels(level)
    if not child_levels:
        raise ConsolidationError(T("consolidate.no-children", level=level))
    if unit is None:
        candidates = plan.units_at(level)
        if len(candidates) != 1:
            raise ConsolidationError(T("consolidate.need-unit", example=f"--unit {candidates[0].code}"))
        unit = candidates[0].code
    u = plan.unit(unit)
    if u is None or u.level != level:
        raise ConsolidationError(T("consolidate.wrong-unit", code=unit, level=level))
    expected = {cl: [c.code for c in plan.children(unit, cl)] for cl in child_levels}
    return Scope(unit=unit, level=level, expected={k: v for k, v in expected.items() if v})


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
    """Pull every workbook under ``folder`` and consolidate it for ``unit`` at ``level``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConsolidationError(T("consolidate.folder-missing", folder=folder))
    scope = resolve_scope(plan, level, unit)
    now = now or dt.datetime.now().replace(microsecond=0)
    as_of = as_of or now.date()
    store = Path(store) if store is not None else folder.parent / intake.STORE_NAME
    times = received_at if isinstance(received_at, dict) else intake.read_received_at(received_at)
    expected_units = {c: plan.units[c] for codes in scope.expected.values() for c in codes}

    intake_notes: list[Issue] = []
    with intake.locked(store, intake_notes):
        received = intake.pull(folder, plan, expected_units, store, times, progress, now, workers,
                               own=(scope.level, scope.unit), notes=intake_notes)  # fmt: skip
        chosen = intake.choose(received, expected_units, plan)
        ledger = intake.Ledger(store / "ledger.sqlite")
        try:
            changes = _changes(plan, scope, chosen, received, ledger, store)
            key = f"{scope.level}:{scope.unit}"
            for code, r in chosen.items():
                ledger.mark_used(key, code, r.sha256, now)
            ledger.db.commit()
        finally:
            ledger.close()

    issues: list[Issue] = list(intake_notes)
    own_sub = None
    if into is not None:
        own_validation = validate(into, plan, expected_level=level, file=Path(into).name)
        if own_validation.submission is None:
            raise ConsolidationError(
                T("consolidate.into-unreadable", file=into, text=own_validation.report.issues[0].message)
            )
        own_sub = own_validation.submission
        issues += own_validation.report.issues

    members = [
        Member(code, plan.units[code].level, merge([r.sub, *(p.sub for p in r.parts)]) if r.parts else r.sub)
        for code, r in chosen.items()
    ]
    members.sort(key=lambda m: list(expected_units).index(m.unit))
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
    status, status_issues = _status(plan, scope, chosen, received, deadlines, as_of)
    issues += status_issues

    facts = aggregate.facts(members)
    totals = aggregate.totals(facts, plan, scope)
    funding = aggregate.funding(facts, plan, scope)
    cross = aggregate.cross_checks(facts, plan, scope, totals)
    detail = _detail(aggregate.unit_rates(facts[facts["level"] != "self"], plan), plan, chosen)
    nested = [outputs.read_detail(store / r.archive if r.archive else r.path, plan) for r in chosen.values()
              if r.sub.level in plan.levels and plan.child_levels(r.sub.level)]  # fmt: skip
    nested = [n for n in nested if not n.empty]
    if nested:
        detail = pd.concat([detail, *nested], ignore_index=True)
    noms = quotas.collect(members, plan)
    noms, quota_issues = quotas.check(noms, plan, scope)
    issues += quota_issues

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
        facts=facts,
        detail=detail,
        totals=totals,
        funding=funding,
        cross=cross,
        nominations=noms,
        status=status,
        changes=changes,
        report=Report(issues),
    )
    result.appendix = aggregate.appendix_values(totals, funding, plan, scope, own_sub)
    return result


def _attach(issue: Issue, unit: str) -> Issue:
    if issue.unit or not unit:
        return issue
    return Issue(issue.code, issue.severity, issue.message, unit, issue.file, issue.sheet, issue.cell)


def _status(plan, scope, chosen, received, deadlines, as_of) -> tuple[pd.DataFrame, list[Issue]]:
    """On time, late (by how many days), missing or not yet due, for every expected unit."""
    rows, issues = [], []
    any_file: dict[str, intake.Received] = {}
    for r in received:
        if r.unit and r.sub is not None:
            any_file.setdefault(r.unit, r)
    for level, codes in scope.expected.items():
        deadline = deadlines[level]
        for code in codes:
            unit = plan.units[code]
            r = chosen.get(code)
            contact_from = r or any_file.get(code)
            person = unit.contact_person or (_text(contact_from.sub, "reporter") if contact_from else "")
            phone = unit.contact_phone or (_text(contact_from.sub, "phone") if contact_from else "")
            row = {
                "unit": code,
                "name": unit.name,
                "level": level,
                "deadline": deadline,
                "state": "",
                "received_at": r.received_at if r else None,
                "days_late": 0,
                "errors": len(r.validation.report.errors) if r else 0,
                "warnings": len(r.validation.report.warnings) if r else 0,
                "file": r.rel if r else "",
                "contact": person,
                "phone": phone,
            }
            if r is None:
                row["state"] = "missing" if as_of > deadline else "pending"
                if row["state"] == "missing":
                    issues.append(
                        make("missing", unit=code, code=code, name=unit.name, deadline=_d(deadline))
                    )
            elif r.received_at.date() > deadline:
                row["state"] = "late"
                row["days_late"] = (r.received_at.date() - deadline).days
                issues.append(
                    make(
                        "late",
                        file=r.rel,
                        unit=code,
                        code=code,
                        name=unit.name,
                        received=_d(r.received_at.date()),
                        days=row["days_late"],
                        deadline=_d(deadline),
                    )
                )
            else:
                row["state"] = "on_time"
            rows.append(row)
    return pd.DataFrame(rows), issues


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
        return rates
    rates = rates[rates["state"] != aggregate.EMPTY].copy()  # rows nobody filled (e.g. greyed) say nothing
    rates["name"] = [plan.units[u].name if u in plan.units else u for u in rates["unit"]]
    rates["file"] = [chosen[u].rel if u in chosen else "" for u in rates["unit"]]
    return rates[
        ["unit", "name", "level", "indicator", "milestone", "num", "den", "rate", "verdict", "state", "file"]
    ]


def _changes(plan, scope, chosen, received, ledger, store) -> pd.DataFrame:
    """Cell-level differences of a resubmission against the version used before (or superseded)."""
    rows = []
    key = f"{scope.level}:{scope.unit}"
    for code, r in chosen.items():
        previous = None
        last = ledger.last_used(key, code, other_than=r.sha256)
        if last is not None:
            v = validate(store / last[1], plan)
            previous = v.submission
        if previous is None:
            older = [
                x
                for x in received
                if x.unit == code and x.sub is not None and x is not r and x.sha256 != r.sha256
            ]
            if older:
                previous = max(older, key=lambda x: x.received_at).sub
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
