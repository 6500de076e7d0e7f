"""Award nominations: collect them with their proposer, check quotas, duplicates and scope.

Quotas come from the plan (KH 137 mục IV.2): within a proposer's list, the nominations inside
the quota are the first ones by the unit's priority order; the rest are reported as over.
Every nomination gets one verdict (``verdict_code``, its Vietnamese label ``verdict`` and the
``reason``): only a nomination that passes every check — quota, not a duplicate, nominee within
the nominating unit (KH 137 mục IV.1, VI.3.2), no error on its row — is "within"
("Trong định mức"); every writer (the consolidated workbook, the award list, the report) just
filters on it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from . import messages, textnorm
from .aggregate import Member, Scope
from .checks import award_keys
from .issues import Issue, make
from .plan import Plan
from .read import unit_code_of

T = messages.text
COLUMNS = ["proposer", "proposer_level", "own", "priority", "award", "award_name", "kind", "name", "position",
           "unit", "unit_text", "summary", "previous", "note", "file", "sheet", "cell", "verdict", "verdict_code",
           "reason"]  # fmt: skip
# Verdict codes, the first failing check first: a nomination shows the most basic reason.
VERDICTS = ("error", "invalid", "proposal", "no-quota", "outside", "duplicate", "over", "within")
WITHIN = "within"


def collect(members: Iterable[Member], plan: Plan) -> pd.DataFrame:
    """All nominations of the members, one row each, in proposer then priority order."""
    awards, kinds = award_keys(plan)
    rows = []
    for m in members:
        for row in m.sub.nominations():
            award = awards.get(textnorm.match_key(str(row.get("award", ""))))
            kind = kinds.get(textnorm.match_key(str(row.get("kind", ""))))
            code = unit_code_of(str(row.get("unit", "")), plan)
            code = plan.resolve_code(code)[0] if code else ""
            name_entry = m.sub.entry(("kt", row["index"], "name")) or next(
                m.sub.entry(k) for k, _ in m.sub.of_kind("kt") if k[1] == row["index"]
            )
            rows.append(
                {
                    "proposer": m.unit,
                    "proposer_level": m.level,
                    "own": m.own,
                    "priority": row["index"] + 1,
                    "award": award.code if award else "",
                    "award_name": award.name if award else str(row.get("award", "")),
                    "kind": kind or "",
                    "name": str(row.get("name", "")),
                    "position": str(row.get("position", "") or ""),
                    "unit": code if plan.unit(code) else "",
                    "unit_text": str(row.get("unit", "") or ""),
                    "summary": str(row.get("summary", "") or ""),
                    "previous": str(row.get("previous", "") or ""),
                    "note": str(row.get("note", "") or ""),
                    "file": m.sub.file,
                    "sheet": name_entry.sheet,
                    "cell": name_entry.cell,
                    "verdict": "",
                    "verdict_code": "",
                    "reason": "",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def passing(noms: pd.DataFrame) -> pd.DataFrame:
    """The nominations that may be proposed (verdict "within"), in the frame's order."""
    return noms[noms["verdict_code"] == WITHIN]


def check(
    noms: pd.DataFrame, plan: Plan, scope: Scope, issues: Iterable[Issue] = ()
) -> tuple[pd.DataFrame, list[Issue]]:
    """Set each nomination's verdict; issues for quotas exceeded, duplicates and nominees outside.

    ``issues``: what the checks found in the members' files; an error on a nomination's row
    (same file, sheet and row) keeps it out of the quota. Returns the frame with ``verdict_code``
    (one of :data:`VERDICTS`), ``verdict`` (its label) and ``reason`` (every failing check, in
    Vietnamese), and the new issues.
    """
    found: list[Issue] = []
    noms = noms.copy()
    reasons: list[dict[str, str]] = [{} for _ in range(len(noms))]
    row_errors = _row_errors(issues)
    counted: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(noms.itertuples()):
        level = scope.level if r.own else r.proposer_level
        problems = row_errors.get((r.file, r.sheet, _row(r.cell)))
        if problems:
            reasons[i]["error"] = T("quota.reason-error", problems="; ".join(dict.fromkeys(problems)))
        if not r.award or not r.kind:
            reasons[i]["invalid"] = T("quota.reason-invalid")
            continue
        if not any(q.proposer_level == level for q in plan.settings.quotas):
            reasons[i]["proposal"] = T("quota.reason-proposal", level=_level_name(plan, level))
            continue
        quota = plan.quota(r.award, level)
        if quota is None or getattr(quota, r.kind) == 0:
            reasons[i]["no-quota"] = T("quota.reason-no-quota", level=_level_name(plan, level),
                                       award=r.award_name, kind=_kind(r.kind))  # fmt: skip
            continue
        counted[(r.proposer, r.award, r.kind)].append(i)
    for (proposer, award, kind), idx in counted.items():
        level = scope.level if noms.iloc[idx[0]]["own"] else noms.iloc[idx[0]]["proposer_level"]
        limit = getattr(plan.quota(award, level), kind)
        order = sorted(idx, key=lambda i: noms.iloc[i]["priority"])
        over = order[limit:]
        for i in over:
            reasons[i]["over"] = T("quota.reason-over", quota=limit, kind=_kind(kind), award=plan.award(award).name)
        if over:
            unit = plan.unit(proposer)
            first = noms.iloc[over[0]]
            found.append(
                make(
                    "quota-exceeded",
                    file=first["file"],
                    sheet=first["sheet"],
                    cell=first["cell"],
                    unit=proposer,
                    code=proposer,
                    name=unit.name if unit else proposer,
                    count=len(idx),
                    kind=_kind(kind),
                    award=plan.award(award).name,
                    quota=limit,
                    over=len(over),
                    names=", ".join(noms.iloc[i]["name"] for i in over),
                )
            )
    found += _duplicates(noms, plan, reasons)
    found += _outside(noms, plan, scope, reasons)
    codes = [next((v for v in VERDICTS if v in why), WITHIN) for why in reasons]
    noms["verdict_code"] = codes
    noms["verdict"] = [T(f"quota.{code}") for code in codes]
    noms["reason"] = ["; ".join(why[v] for v in VERDICTS if v in why) for why in reasons]
    return noms, found


_CELL_ROW = re.compile(r"[A-Za-z]+(\d+)$")


def _row(cell: str) -> int:
    m = _CELL_ROW.match(str(cell or ""))
    return int(m.group(1)) if m else -1


def _row_errors(issues: Iterable[Issue]) -> dict[tuple[str, str, int], list[str]]:
    """(file, sheet, row) -> what is wrong there, for every error located at a cell."""
    out: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for i in issues:
        if i.severity == "error" and i.sheet and i.cell:
            key = f"quota.problem-{i.code}"
            label = T(key) if key in messages.table() else T("quota.problem-other")
            out[(i.file, i.sheet, _row(i.cell))].append(label)
    return out


def _kind(kind: str) -> str:
    return T("layout.kind-collective" if kind == "collective" else "layout.kind-individual").lower()


def _level_name(plan: Plan, level: str) -> str:
    return plan.levels[level].name.lower() if level in plan.levels else level


def _duplicates(noms: pd.DataFrame, plan: Plan, reasons: list[dict[str, str]]) -> list[Issue]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(noms.itertuples()):
        if r.name:
            groups[(textnorm.match_key(r.name), r.unit or textnorm.match_key(r.unit_text))].append(i)
    issues = []
    for (_, unit), idx in groups.items():
        if len(idx) < 2:
            continue
        where = "; ".join(
            f"{noms.iloc[i]['proposer']} ({noms.iloc[i]['file']}, thứ {noms.iloc[i]['priority']})"
            for i in idx
        )
        for i in idx:
            r = noms.iloc[i]
            u = plan.unit(unit)
            others = "; ".join(_proposer(plan, noms.iloc[j]) for j in idx if j != i)
            reasons[i]["duplicate"] = T("quota.reason-duplicate", others=others)
            issues.append(
                make(
                    "duplicate-nominee",
                    file=r["file"],
                    sheet=r["sheet"],
                    cell=r["cell"],
                    unit=r["proposer"],
                    name=r["name"],
                    unit_name=u.name if u else r["unit_text"],
                    where=where,
                )
            )
    return issues


def _proposer(plan: Plan, r) -> str:
    unit = plan.unit(r["proposer"])
    name = f"{r['proposer']} - {unit.name}" if unit else r["proposer"]
    return T("quota.proposer-at", proposer=name, priority=r["priority"])


def _outside(noms: pd.DataFrame, plan: Plan, scope: Scope, reasons: list[dict[str, str]] | None = None) -> list[Issue]:
    """A nominee whose unit is neither the proposer nor under it (the province covers everyone)."""
    issues = []
    under: dict[str, set[str] | None] = {}  # proposer -> the units it may name (Plan.nominee_scope), once
    for i, r in enumerate(noms.itertuples()):
        if not r.unit:
            continue
        if r.proposer not in under:
            under[r.proposer] = plan.nominee_scope(r.proposer)
        allowed = under[r.proposer]
        if allowed is None or r.unit in allowed:
            continue
        proposer = plan.unit(r.proposer)
        nominee_unit = plan.unit(r.unit)
        if reasons is not None:
            reasons[i]["outside"] = T("quota.reason-outside", unit_name=nominee_unit.name if nominee_unit else r.unit,
                                      proposer=f"{r.proposer} - {proposer.name}")  # fmt: skip
        issues.append(
            make(
                "nominee-outside",
                file=r.file,
                sheet=r.sheet,
                cell=r.cell,
                unit=r.proposer,
                name=r.name,
                unit_name=nominee_unit.name if nominee_unit else r.unit,
                code=r.proposer,
                name_unit=proposer.name,
            )
        )
    return issues
