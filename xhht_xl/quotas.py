"""Award nominations: collect them with their proposer, check quotas, duplicates and scope.

Quotas come from the plan (KH 137 mục IV): within a proposer's list, the nominations inside
the quota are the first ones by the unit's priority order; the rest are reported as over.
"""

from __future__ import annotations

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
           "unit", "unit_text", "summary", "previous", "note", "file", "sheet", "cell", "verdict"]  # fmt: skip


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
            name_entry = m.sub.entries.get(("kt", row["index"], "name")) or next(
                e for k, e in m.sub.entries.items() if k[0] == "kt" and k[1] == row["index"]
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
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def check(noms: pd.DataFrame, plan: Plan, scope: Scope) -> tuple[pd.DataFrame, list[Issue]]:
    """Set each nomination's verdict; issues for quotas exceeded, duplicates and nominees outside."""
    issues: list[Issue] = []
    noms = noms.copy()
    verdicts = []
    counted: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(noms.itertuples()):
        level = scope.level if r.own else r.proposer_level
        if not r.award or not r.kind:
            verdicts.append(T("quota.invalid"))
            continue
        if not any(q.proposer_level == level for q in plan.settings.quotas):
            verdicts.append(T("quota.proposal"))
            continue
        quota = plan.quota(r.award, level)
        if quota is None or getattr(quota, r.kind) == 0:
            verdicts.append(T("quota.no-quota"))
            continue
        counted[(r.proposer, r.award, r.kind)].append(i)
        verdicts.append(T("quota.within"))
    for (proposer, award, kind), idx in counted.items():
        level = scope.level if noms.iloc[idx[0]]["own"] else noms.iloc[idx[0]]["proposer_level"]
        limit = getattr(plan.quota(award, level), kind)
        order = sorted(idx, key=lambda i: noms.iloc[i]["priority"])
        over = order[limit:]
        for i in over:
            verdicts[i] = T("quota.over")
        if over:
            unit = plan.unit(proposer)
            first = noms.iloc[over[0]]
            kind_text = T(
                "layout.kind-collective" if kind == "collective" else "layout.kind-individual"
            ).lower()
            issues.append(
                make(
                    "quota-exceeded",
                    file=first["file"],
                    sheet=first["sheet"],
                    cell=first["cell"],
                    unit=proposer,
                    code=proposer,
                    name=unit.name if unit else proposer,
                    count=len(idx),
                    kind=kind_text,
                    award=plan.award(award).name,
                    quota=limit,
                    over=len(over),
                    names=", ".join(noms.iloc[i]["name"] for i in over),
                )
            )
    noms["verdict"] = verdicts
    issues += _duplicates(noms, plan)
    issues += _outside(noms, plan, scope)
    return noms, issues


def _duplicates(noms: pd.DataFrame, plan: Plan) -> list[Issue]:
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


def _outside(noms: pd.DataFrame, plan: Plan, scope: Scope) -> list[Issue]:
    """A nominee whose unit is neither the proposer nor under it (the province covers everyone)."""
    issues = []
    under: dict[str, set[str]] = {}  # proposer -> itself and every unit below it, built once
    for r in noms.itertuples():
        proposer = plan.unit(r.proposer)
        if not r.unit or proposer is None or proposer.level in ("tinh", "so_nganh"):
            continue
        if r.proposer not in under:
            under[r.proposer] = {r.proposer, *(u.code for u in plan.descendants(r.proposer))}
        if r.unit in under[r.proposer]:
            continue
        nominee_unit = plan.unit(r.unit)
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
