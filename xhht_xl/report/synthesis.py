"""What the draft report says: sections I–VI synthesised from a consolidation.

The body follows the plan's outline (Đề cương of KH 137). Each item states what the data shows:
sentences built from the consolidated figures (coverage, totals and rates against targets with
the verdict, best and weakest units, funding by source and year with its trend, lateness), the
issuer's own text (its own workbook, ``--into``), the quantities the units name in their texts
added up ("204 hội nghị (19 đơn vị)"), then at most two short quotations from the units, chosen
by one stated rule (also printed in the report's opening):

    the units' sentences under the item are grouped into near-duplicates (``text.group``); a
    group's quotation is its most representative sentence (``Point.representative``), attributed
    to its unit; the two groups written by the most units are quoted, if written by two or more;
    a group the issuer's own text already says, or a sentence already in the body, is skipped.

The proposals item (VI) lists every group once with the units that wrote it. Every unit's text
goes verbatim to Phụ lục I, grouped by outline item; Phụ lục II lists who reported when.
Figures in tables are those of the consolidated workbook, with the same rounding.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import aggregate, layout, messages, textnorm
from ..plan import Plan, Target
from . import awards as award_mod
from .chart import Chart, Series
from .issuer import date_line, document, issuer, lower_first, party_committee
from .model import Annex, Block, Draft, Figure, Heading, Letterhead, Para, Row, Run, Table, para
from .text import (
    SIMILAR,
    Point,
    Said,
    clean,
    fmt_amount,
    fmt_int,
    fmt_pct,
    fmt_rate,
    group,
    names,
    quantities,
    sentences,
    shingles,
    similarity,
    two,
    vn_numbers,
)

T = messages.text
MET = ("dat", "vuot")
QUOTES = 2  # quotations per item at most
QUOTE_MAX = 260  # characters: a longer sentence is not quoted (it stays in the annex)
TEXT_WIDTH = 165.0  # mm between the margins of a portrait A4 page (NĐ 30: 210 - 30 - 15)
GREEN, RED, GREY, BLUE, ORANGE = "548235", "C00000", "BFBFBF", "4472C4", "ED7D31"
SERIES_COLOURS = (BLUE, ORANGE, "A5A5A5", "FFC000", "5B9BD5", "70AD47")
SHADE_BAD = "F8CBCB"
TOPIC = layout.TOPIC_ITEM


def MORE(count: int) -> str:
    """" và 10 đơn vị khác" after a shortened list of names."""
    return T("report.and-more", count=count)


def MORE_FILES(count: int) -> str:
    """" và 3 tệp khác" after a shortened list of files."""
    return T("report.and-more-files", count=count)


def MORE_INDICATORS(count: int) -> str:
    """" và 15 chỉ số khác" after a shortened list of indicators."""
    return T("report.and-more-indicators", count=count)


# -- coverage: the one place that reads who and what a consolidation covers -----------------------


@dataclass(frozen=True)
class LevelCoverage:
    """The direct sub-units of one level: who sent on time, late (days), not at all, not yet due."""

    level: str
    noun: str
    deadline: dt.date
    expected: int
    on_time: tuple[str, ...]
    late: tuple[tuple[str, int], ...]
    missing: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def received(self) -> int:
        return len(self.on_time) + len(self.late)


@dataclass(frozen=True)
class Coverage:
    """Direct sub-units per level and, when they are not the leaves, the leaf units (communes)
    whose figures reached the totals: ``leaves_covered`` of ``leaves_expected``."""

    levels: tuple[LevelCoverage, ...]
    leaf_noun: str = ""
    leaves_covered: int = 0
    leaves_expected: int = 0
    leaves_missing: tuple[str, ...] = ()

    @property
    def expected(self) -> int:
        return sum(lv.expected for lv in self.levels)

    @property
    def received(self) -> int:
        return sum(lv.received for lv in self.levels)


def _leaf_level(plan: Plan, level: str) -> str | None:
    """The lowest level under ``level`` following the hierarchy (communes under the province)."""
    below = [lv for lv in plan.child_levels(level) if plan.child_levels(lv)]
    if not below:
        return None
    deeper = _leaf_level(plan, below[0])
    return deeper or plan.child_levels(below[0])[0]


def coverage(c) -> Coverage:
    """Who consolidation ``c`` covers: the direct units per level from its ``status`` frame, and
    the leaf units (communes) from ``c.below``, the units under the direct ones as their
    workbooks carry them (``coverage.below``). A leaf counts as covered only when its own
    submission reached its district (on time or late); missing, not yet due and unknown ones
    (a district workbook that does not say) are named as having no data. This is the only
    function reading coverage for the report."""
    plan: Plan = c.plan
    levels = []
    status = c.status
    for level in c.scope.expected:
        rows = status[status["level"] == level] if not status.empty else status
        by = lambda state, rows=rows: rows[rows["state"] == state]  # noqa: E731
        levels.append(LevelCoverage(
            level=level, noun=plan.levels[level].unit_noun, deadline=c.deadlines[level], expected=len(rows),
            on_time=tuple(by("on_time")["name"]), late=tuple(zip(by("late")["name"], by("late")["days_late"],
                                                                 strict=True)),
            missing=tuple(by("missing")["name"]), pending=tuple(by("pending")["name"]),
        ))  # fmt: skip
    leaf = _leaf_level(plan, c.scope.level)
    if leaf is None:
        return Coverage(tuple(levels))
    below = c.below[c.below["level"] == leaf] if not c.below.empty else c.below
    received = below["state"].isin(["on_time", "late"])
    missing = tuple(_with_parent(plan, code) for code in below.loc[~received, "unit"])
    return Coverage(tuple(levels), plan.levels[leaf].unit_noun, int(received.sum()), len(below), missing)


def judged(rows: list[dict]) -> tuple[list[dict], list[dict], int]:
    """Of ``results_rows`` at one milestone: those meeting their target, those not, and how many of
    both judge a partial total (provisional verdicts: counted, and said to be so wherever the counts
    are given, the report and its cover)."""
    met = [r for r in rows if r["verdict_code"] in MET]
    not_met = [r for r in rows if r["verdict_code"] == "khong-dat"]
    return met, not_met, sum(1 for r in met + not_met if r["provisional"])


def indicator_coverage(c, milestone: int) -> list[tuple[str, int, int]]:
    """``(indicator, units that reported, units expected)`` of every total at ``milestone`` lacking
    some expected unit's figure: a partial one (``partial``: its verdict is provisional) or one with
    no figure at all because its units did not report (a department missing: its indicators must
    not drop out of the not-met list unnamed). A unit that reported "không áp dụng" counts as
    reported. Read from the totals' coverage columns."""
    t = c.totals[c.totals["milestone"] == milestone]
    return [(r.indicator, int(r.units_covered) + int(r.units_na), int(r.units_expected)) for r in t.itertuples()
            if r.units_covered + r.units_na < r.units_expected]  # fmt: skip


def _with_parent(plan: Plan, code: str) -> str:
    u = plan.units[code]
    parent = plan.unit(u.parent) if u.parent else None
    return T("report.unit-in", name=u.name, parent=parent.name) if parent and parent.parent else u.name


# -- figures shared with the workbook -------------------------------------------------------------


def results_rows(c) -> list[dict]:
    """The appendix rows of ``c.totals`` as printed: one per indicator and milestone, in order;
    numbers as the consolidated workbook displays them (thousands ".", rates half-up to 0.1)."""
    plan = c.plan
    rows, numbers = [], {}
    for r in c.totals.itertuples():
        target = plan.targets[(r.indicator, r.milestone)]
        na = not r.units_covered and r.units_na and not r.units_rejected
        provisional = bool(r.partial)
        numbers.setdefault(r.indicator, len(numbers) + 1)
        rows.append({
            "stt": numbers[r.indicator],
            "indicator": r.indicator,
            "group": plan.indicators[r.indicator].group,
            "name": plan.indicators[r.indicator].name,
            "milestone": int(r.milestone),
            "num": T("report.na") if na else fmt_int(r.num),
            "den": T("report.na") if na else fmt_int(r.den),
            "rate": fmt_rate(r.rate),
            "rate_value": None if pd.isna(r.rate) else float(r.rate),
            "target": layout.target_text(target),
            "target_obj": target,
            "verdict": aggregate.verdict_text(r.verdict, provisional),
            "verdict_code": r.verdict if isinstance(r.verdict, str) else None,
            "provisional": provisional and isinstance(r.verdict, str),
        })  # fmt: skip
    return rows


def short_name(name: str) -> str:
    """An indicator's name on a chart axis: without the leading "Tỷ lệ" (the axis says it) and
    without remarks in brackets, first letter capitalised."""
    out, depth = [], 0
    for ch in name:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    text = " ".join("".join(out).split())
    for prefix in T("report.chart-drop-prefixes").split("|"):
        if text.lower().startswith(prefix.lower() + " "):
            text = text[len(prefix) + 1 :]
            break
    return textnorm.capitalized(text)


def _target_prose(target: Target, previous: str) -> str:
    low = fmt_pct(target.low) if target.low is not None else ""
    high = fmt_pct(target.high) if target.high is not None else ""
    return T(f"report.target-{target.kind}", low=low, high=high, previous=previous)


# -- the synthesis --------------------------------------------------------------------------------


class _Synthesis:
    def __init__(self, c, number: str, date: dt.date | None):
        self.c = c
        self.plan: Plan = c.plan
        self.level = c.scope.level
        self.doc = document(self.plan, self.level, "report")
        self.iss = issuer(self.plan, c.unit, self.doc)
        self.number, self.date = number, date
        self.blocks: list[Block] = []
        self.tables = self.figures = 0
        self.said: set[str] = set()  # exact sentences already in the body (normalised spaces)
        self.cov = coverage(c)
        self.writers: dict[str, list[tuple[str, str]]] = defaultdict(list)  # item -> [(unit, text)]
        self.own: dict[str, str] = {}
        for m in c.members:
            for item, text in m.sub.narrative().items():
                text = clean(text).strip()
                if not text:
                    continue
                if m.own:
                    self.own[item] = text
                else:
                    self.writers[item].append((m.unit, text))
        self.reporting = [m.unit for m in c.members if not m.own]
        last = max(self.plan.milestones)
        self.year = last
        self.rank_level = next((lv for lv in c.scope.expected if self.plan.levels[lv].template != "so_nganh"),
                               None)  # fmt: skip
        self.sel = award_mod.selection(c)

    # helpers -------------------------------------------------------------------------------
    def name(self, code: str) -> str:
        u = self.plan.unit(code)
        return u.name if u else code

    def add(self, block: Block) -> None:
        if isinstance(block, Para):
            for s in sentences(block.text):
                self.said.add(" ".join(s.split()))
        self.blocks.append(block)

    def new(self, sentence: str) -> bool:
        return " ".join(sentence.split()) not in self.said

    def table_no(self) -> int:
        self.tables += 1
        return self.tables

    def figure_no(self) -> int:
        self.figures += 1
        return self.figures

    def units_phrase(self, counts: dict[str, int]) -> str:
        """"15/15 huyện, thị xã, thành phố và 3/11 sở, ngành, đoàn thể" for ``{level: count}``."""
        parts = [T("report.count-of", n=counts.get(lv.level, 0), total=lv.expected, noun=lv.noun)
                 for lv in self.cov.levels]  # fmt: skip
        return names(parts)

    # letterhead ----------------------------------------------------------------------------
    def letterhead(self) -> Letterhead:
        iss = self.iss
        number = T("report.number", number=self.number or T("report.number-blank"), kind="BC", abbr=iss.abbr)
        year = (self.date or self.c.as_of).year
        signer = list(self.doc.signer) or T("report.sign-default").splitlines()
        party = party_committee(self.c.unit)
        recipients = [line.replace("{party}", party) for line in self.doc.recipients] or T(
            "report.recipients-default").splitlines()  # fmt: skip
        recipients = [r if r.startswith("- ") else f"- {r}" for r in recipients]
        when = T("report.attached-date", day=T("report.blank"), month=T("report.blank"), year=year)
        return Letterhead(
            parent=iss.parent, body=list(iss.body), number=number,
            place_date=date_line(iss.place, self.date, year), kind=T("report.title"),
            summary=[self.subject()], addressee="",
            draft_note=T("report.draft", date=self.c.as_of.strftime("%d/%m/%Y")),
            closing=T("report.closing", subject=lower_first(self.subject())),
            recipients=recipients, signer=signer, sign_name=T("report.sign-name"),
            attached=T("report.attached", kind=T("report.title").capitalize(),
                       number=self.number or T("report.number-blank"), type="BC", abbr=iss.abbr, when=when,
                       body=iss.name),
        )  # fmt: skip

    def subject(self) -> str:
        """"Tổng kết thực hiện Đề án “…” trên địa bàn tỉnh Long An" from the plan's title."""
        project = self.plan.settings.title.split(T("report.area-word"))[0].strip()
        return T("report.subtitle-area", project=project, area=lower_first(self.c.unit.name))

    # the opening ---------------------------------------------------------------------------
    def intro(self) -> None:
        doc, plan = self.doc, self.plan
        subject = lower_first(self.subject())
        if doc.basis and doc.basis != plan.settings.basis:
            text = T("report.intro-two", basis=doc.basis, plan=plan.settings.basis, subject=subject,
                     body=self.iss.name)  # fmt: skip
        else:
            text = T("report.intro", basis=plan.settings.basis, subject=subject, body=self.iss.name)
        self.add(para(text))
        cov = self.cov
        sent = self.units_phrase({lv.level: lv.received for lv in cov.levels})
        text = T("report.coverage", units=sent)
        if cov.leaves_expected:
            text += " " + T("report.coverage-leaves", covered=cov.leaves_covered, total=cov.leaves_expected,
                            noun=cov.leaf_noun)  # fmt: skip
            if cov.leaves_missing:
                text += " " + T("report.coverage-leaves-missing", names=names(
                    cov.leaves_missing, 6, MORE))  # fmt: skip
        absent = [n for lv in cov.levels for n in lv.missing]
        unread = self.c.unreadable
        if absent:
            # a file that could not be read may be one of theirs: "not received" would overstate
            key = "report.coverage-missing-unreadable" if unread else "report.coverage-missing"
            text += " " + T(key, names=names(absent, 6, MORE))
        if unread:
            key = "report.unreadable-files" if absent else "report.unreadable-files-only"
            text += " " + T(key, n=len(unread), files=names(unread, 6, MORE_FILES))
        self.add(para(text))
        self.add(para(self.completeness()))
        if not self.plan.settings.report.status_item:  # no outline item for it: this review's timeliness here
            self.timeliness()
        self.add(para(T("report.quote-rule", annex="I"), "note", italic=True))

    def completeness(self) -> str:
        """Which reporting units left outline items empty."""
        items = [o.code for o in self.plan.narrative_items()]
        wrote = {(u, item) for item, pairs in self.writers.items() for u, _ in pairs}
        gaps = []
        for u in self.reporting:
            lacking = [i for i in items if (u, i) not in wrote]
            if lacking:
                gaps.append(T("report.gap", unit=self.name(u), items=", ".join(lacking)))
        full = len(self.reporting) - len(gaps)
        if not gaps:
            return T("report.complete-all", n=full, total=len(self.reporting))
        return T("report.complete-some", n=full, total=len(self.reporting),
                 gaps=names(gaps, 5, MORE))  # fmt: skip

    # the outline ---------------------------------------------------------------------------
    def heading(self, code: str, title: str) -> None:
        parts = code.split(".")
        label = parts[0] + "." if len(parts) == 1 else ".".join(parts[1:]) + "."
        self.add(Heading(f"{label} {title}", min(len(parts), 3), code))

    def outline(self) -> None:
        items = list(self.plan.settings.outline)
        report = self.plan.settings.report
        appendix_top = next((o.code.split(".")[0] for o in items if o.kind == "appendix"), None)
        funding_parent = None
        if report.funding_items:  # the section holding the items that report on funding
            first = next(o.code for o in items if o.code in report.funding_items)
            funding_parent = first.rsplit(".", 1)[0] if "." in first else first
        elif self.plan.settings.funding_sources:  # else: the section before the results (Đề cương: II)
            tops = [o.code for o in items if "." not in o.code]
            at = tops.index(appendix_top) if appendix_top in tops else 0
            funding_parent = tops[at - 1] if at > 0 else (tops[0] if tops else None)
        for i, item in enumerate(items):
            self.heading(item.code, item.title)
            if item.code == funding_parent:
                self.funding_overview()
            if item.kind == "text":
                self.text_item(item.code)
            elif item.kind == "appendix":
                self.results()
            elif item.kind == "awards":
                self.awards()
            nxt = items[i + 1].code.split(".")[0] if i + 1 < len(items) else None
            if appendix_top and item.code.split(".")[0] == appendix_top and nxt != appendix_top:
                self.topics()

    # a narrative item ----------------------------------------------------------------------
    def text_item(self, code: str) -> None:
        report = self.plan.settings.report
        own = self.own.get(code, "")
        proposals = code == report.proposals_item
        if code in report.funding_items:
            self.funding_item(report.funding_items[code])
        if code == report.status_item:
            self.timeliness()
        if own and not proposals:
            for line in own.split("\n"):
                if line.strip():
                    self.add(para(vn_numbers(line.strip()), "own"))
        said = self.unit_sentences(code)
        counted = self.counted(code)
        if counted:
            self.add(para(counted))
        if not said and not own:
            self.add(para(T("report.no-text-item", n=len(self.reporting), code=code), "note", italic=True))
            return
        if proposals:
            self.proposals(code, said, own)
        else:
            self.quotes(code, said, own)

    def unit_sentences(self, code: str) -> list[Said]:
        out: list[Said] = []
        for unit, text in self.writers.get(code, []):
            for s in sentences(text):
                out.append(Said(unit, s, shingles(s, self.plan), len(out)))
        return out

    def counted(self, code: str) -> str:
        """Totals of the quantities the units name in their texts ("147 hội nghị (12 đơn vị)")."""
        nouns = T("report.quantity-nouns").split("|")
        sums: dict[str, float] = defaultdict(float)
        units: dict[str, int] = defaultdict(int)
        for _unit, text in self.writers.get(code, []):
            for noun, value in quantities(sentences(text), nouns).items():
                sums[noun] += value
                units[noun] += 1
        parts = [T("report.quantity", value=fmt_int(sums[n]), noun=n, units=units[n])
                 for n in nouns if units.get(n, 0) >= 2]  # fmt: skip
        return T("report.quantities", items="; ".join(parts)) if parts else ""

    def quotes(self, code: str, said: list[Said], own: str) -> None:
        if not said:
            return
        own_sh = [shingles(s, self.plan) for s in sentences(own)]
        writers = len({s.unit for s in said})
        points = sorted(group(said), key=lambda p: (-p.support, p.members[0].order))
        chosen = 0
        for p in points:
            if chosen == QUOTES or p.support < 2:
                break
            if any(similarity(p.members[0].shingles, o) >= SIMILAR for o in own_sh):
                continue  # the issuer already says it
            rep = next((s for s in p.ranked() if len(s.sentence) <= QUOTE_MAX
                        and self.new(vn_numbers(s.sentence))), None)  # fmt: skip
            if rep is None:
                continue
            others = p.support - 1
            key = "report.quote-others" if others else "report.quote"
            self.add(Para([Run(T("report.quote-lead", support=p.support, total=writers) + " "),
                           Run(T(key, text=vn_numbers(rep.sentence), unit=self.name(rep.unit), others=others),
                               italic=True)], "quote"))  # fmt: skip
            chosen += 1

    def proposals(self, code: str, said: list[Said], own: str) -> None:
        """Every proposal once: the issuer's own first, then the units' by how many wrote them."""
        own_said = [Said("", s, shingles(s, self.plan), -100 + i) for i, s in enumerate(sentences(own))]
        points = group([*own_said, *said])
        writers = len({s.unit for s in said})
        self.add(para(T("report.proposals-intro", n=len(points), units=writers)))

        def key(p: Point) -> tuple:
            mine = any(s.unit == "" for s in p.members)
            return (not mine, -len([u for u in p.units if u]), p.members[0].order)

        for p in sorted(points, key=key):
            mine = [s for s in p.members if s.unit == ""]
            rep = mine[0] if mine else p.representative()
            units = [self.name(u) for u in p.units if u]
            text = vn_numbers(rep.sentence).rstrip(".;")
            if units:
                text = T("report.proposal", text=text, count=len(units),
                         names=names(units, 3, MORE))  # fmt: skip
            else:
                text = T("report.proposal-own", text=text)
            self.add(para(text, "bullet"))

    def timeliness(self) -> None:
        """This review's own reporting: who sent on time, late, not at all (KH 137 mục III.2)."""
        for lv in self.cov.levels:
            deadline = lv.deadline.strftime("%d/%m/%Y")
            if lv.received == lv.expected and not lv.late:
                self.add(para(T("report.on-time-all", total=lv.expected, noun=lv.noun, deadline=deadline)))
                continue
            parts = [T("report.on-time", n=len(lv.on_time), total=lv.expected, noun=lv.noun, deadline=deadline)]
            if lv.late:
                late = [T("report.late-unit", name=n, days=d) for n, d in lv.late]
                parts.append(T("report.late", n=len(lv.late), names=names(late, 6, MORE)))
            if lv.missing:
                key = "report.missing-unreadable" if self.c.unreadable else "report.missing"
                parts.append(T(key, n=len(lv.missing), names=names(list(lv.missing), 6, MORE)))
            if lv.pending:
                parts.append(T("report.pending", n=len(lv.pending),
                               names=names(list(lv.pending), 6, MORE)))  # fmt: skip
            self.add(para("; ".join(parts) + "."))

    # funding (section II) ------------------------------------------------------------------
    def source_label(self, code: str) -> str:
        return self.plan.settings.report.funding_labels.get(code) or self.plan.indicators[code].name

    def amounts(self) -> dict[tuple[str, int], float]:
        f = self.c.funding
        return {(r.source, int(r.year)): float(r.amount) for r in f.itertuples() if not pd.isna(r.amount)}

    def funding_overview(self) -> None:
        plan = self.plan
        years, sources = plan.settings.funding_years, plan.settings.funding_sources
        unit = plan.settings.funding_unit
        amounts = self.amounts()
        if not amounts:
            self.add(para(T("report.funding-none"), "note", italic=True))
            return
        total = sum(amounts.values())
        by_source = {s: sum(v for (src, _), v in amounts.items() if src == s) for s in sources}
        by_year = {y: sum(v for (_, yr), v in amounts.items() if yr == y) for y in years}
        shares = [T("report.funding-share", label=lower_first(self.source_label(s)), amount=fmt_amount(v),
                    unit=unit, share=fmt_pct(v / total * 100)) for s, v in by_source.items() if s in
                  {src for src, _ in amounts}]  # fmt: skip
        table_n, figure_n = self.tables + 1, self.figures + 1
        self.add(para(T("report.funding-intro", first=years[0], last=years[-1], total=fmt_amount(total), unit=unit,
                        shares="; ".join(shares), table=table_n, figure=figure_n)))  # fmt: skip
        self.add(para(self.trend(by_year, unit)))
        # the table: years down, sources across, totals
        label_w, total_w = 20.0, 32.0
        src_w = (TEXT_WIDTH - label_w - total_w) / len(sources)
        rows = []
        for y in years:
            vals = [amounts.get((s, y)) for s in sources]
            present = [v for v in vals if v is not None]
            rows.append(Row([str(y), *[fmt_amount(v) for v in vals], fmt_amount(sum(present)) if present else ""]))
        totals = [by_source[s] if any((s, y) in amounts for y in years) else None for s in sources]
        rows.append(Row([T("report.funding-total"), *[fmt_amount(v) for v in totals], fmt_amount(total)],
                        kind="total"))  # fmt: skip
        self.add(Table(T("report.funding-caption", n=self.table_no(), unit=unit),
                       [T("report.funding-year"), *[self.source_label(s) for s in sources], T("report.funding-total")],
                       [label_w, *[src_w] * len(sources), total_w], ["center", *["right"] * (len(sources) + 1)],
                       rows))  # fmt: skip
        chart = Chart("column", tuple(str(y) for y in years),
                      tuple(Series(self.source_label(s), tuple(amounts.get((s, y)) for y in years),
                                   SERIES_COLOURS[i % len(SERIES_COLOURS)]) for i, s in enumerate(sources)),
                      value_title=unit.capitalize(), category_title=T("report.funding-year"), stacked=True,
                      value_min=0, axis_format="#,##0", label_format="#,##0.0")  # fmt: skip
        self.add(Figure(T("report.funding-chart", n=self.figure_no(), first=years[0], last=years[-1]), chart,
                        150, 72))  # fmt: skip

    def trend(self, by_year: dict[int, float], unit: str) -> str:
        """First and last year with figures, the change between them, and the peak year."""
        years = [y for y, v in by_year.items() if v]
        if len(years) < 2:
            return T("report.trend-one")
        first, last = years[0], years[-1]
        a, b = by_year[first], by_year[last]
        peak = max(years, key=lambda y: (by_year[y], -y))
        key = "report.trend-up" if b > a else "report.trend-down" if b < a else "report.trend-flat"
        return T(key, first=first, last=last, a=fmt_amount(a), b=fmt_amount(b), unit=unit,
                 change=fmt_pct(abs(b - a) / a * 100) if a else "", peak=peak, top=fmt_amount(by_year[peak]))  # fmt: skip

    def funding_item(self, source: str) -> None:
        plan, c = self.plan, self.c
        unit = plan.settings.funding_unit
        amounts = {y: v for (s, y), v in self.amounts().items() if s == source}
        label = self.source_label(source)
        if not amounts:
            self.add(para(T("report.source-none", label=label), "note", italic=True))
            return
        total = sum(amounts.values())
        f = c.facts
        rows = f[(f["measure"] == "amount") & (f["indicator"] == source) & (f["state"] == "ok")
                 & (f["level"] != "self")]  # fmt: skip
        per_unit = rows.groupby(rows["unit"].astype(str), observed=True)["value"].sum()
        levels = {code: lv for lv, codes in c.scope.expected.items() for code in codes}
        counts: dict[str, int] = defaultdict(int)
        for code in per_unit.index:
            if code in levels:
                counts[levels[code]] += 1
        # units are compared with their peers only (districts with districts, not with departments)
        ranked = sorted(((v, code) for code, v in per_unit.items() if levels.get(code) == self.rank_level),
                        key=lambda t: (-t[0], t[1]))  # fmt: skip
        text = T("report.source-total", label=lower_first(label), total=fmt_amount(total), unit=unit,
                 years=len(amounts), mean=fmt_amount(total / len(amounts)), units=self.units_phrase(counts))  # fmt: skip
        if len(ranked) >= 4:
            top = [T("report.unit-amount", name=self.name(code), amount=fmt_amount(v), unit=unit)
                   for v, code in ranked[:2]]  # fmt: skip
            low = [T("report.unit-amount", name=self.name(code), amount=fmt_amount(v), unit=unit)
                   for v, code in ranked[-2:][::-1]]  # fmt: skip
            text += " " + T("report.source-top", noun=self.plan.levels[self.rank_level].unit_noun, top=names(top),
                            low=names(low))  # fmt: skip
        self.add(para(text))

    # results (section III.1) ---------------------------------------------------------------
    def results(self) -> None:
        plan, c, year = self.plan, self.c, self.year
        rows = results_rows(c)
        last = [r for r in rows if r["milestone"] == year]
        met, not_met, provisional = judged(last)
        table_n, figure_n = self.tables + 1, self.figures + 1
        self.add(para(T("report.results-intro", n=len(last), year=year, rated=len(met) + len(not_met),
                        met=len(met), not_met=len(not_met), other=len(last) - len(met) - len(not_met),
                        provisional=T("report.results-provisional", n=provisional) if provisional else "",
                        table=table_n, figure=figure_n)))  # fmt: skip
        previous = {r["indicator"]: r for r in rows if r["milestone"] != year}
        if not_met:
            self.add(para(T("report.results-not-met", year=year, n=len(not_met))))
            for r in not_met:
                prev = previous.get(r["indicator"])
                target = _target_prose(r["target_obj"], fmt_pct(prev["rate_value"]) if prev else "")
                key = "report.not-met-item-provisional" if r["provisional"] else "report.not-met-item"
                text = T(key, name=r["name"], rate=fmt_pct(r["rate_value"]), target=target)
                spread = self.spread(r["indicator"])
                if spread:
                    text += "; " + spread
                self.add(para(text + ".", "bullet"))
        ranking = self.ranking()
        if ranking:
            self.add(para(ranking))
        partial = indicator_coverage(c, year)
        if partial:
            items = [T("report.partial-item", name=plan.indicators[i].name, n=n, total=t) for i, n, t in partial]
            self.add(para(T("report.partial", year=year, n=len(partial), items=names(items, 4, MORE_INDICATORS))))
        self.results_table(rows, table_n)
        self.results_chart(last, previous, figure_n)

    def unit_rates(self, indicator: str) -> pd.DataFrame:
        d = self.c.detail
        if d.empty or self.rank_level is None:
            return d
        mine = set(self.c.scope.expected.get(self.rank_level, []))
        sel = d[(d["level"] == self.rank_level) & (d["indicator"] == indicator) & (d["milestone"] == self.year)
                & d["unit"].astype(str).isin(mine) & d["rate"].notna()]  # fmt: skip
        return sel

    def spread(self, indicator: str) -> str:
        """How many units of the ranking level meet the target; the lowest of those that do not
        (or, when all do, the lowest two)."""
        sel = self.unit_rates(indicator)
        rated = sel[sel["verdict"].notna()]
        if len(rated) < 2:
            return ""
        noun = self.plan.levels[self.rank_level].unit_noun
        met = int(rated["verdict"].isin(MET).sum())
        below = rated[~rated["verdict"].isin(MET)]
        low = (below if len(below) else rated).sort_values(["rate", "unit"]).head(3 if len(below) else 2)
        lows = [T("report.unit-rate", name=self.name(str(r.unit)), rate=fmt_pct(r.rate)) for r in low.itertuples()]
        key = "report.spread-below" if len(below) else "report.spread-all"
        more = len(below) - len(low) if len(below) else 0
        # "A, B, C và 9 đơn vị khác" when more fall short than are named ("A, B và C và 9..." before)
        return T(key, met=met, total=len(rated), noun=noun,
                 low=", ".join(lows) + MORE(more) if more > 0 else names(lows))  # fmt: skip

    def ranking(self) -> str:
        """Units of the ranking level meeting the most and the fewest targets at the last milestone."""
        d = self.c.detail
        if d.empty or self.rank_level is None:
            return ""
        mine = set(self.c.scope.expected.get(self.rank_level, []))
        sel = d[(d["level"] == self.rank_level) & (d["milestone"] == self.year) & d["verdict"].notna()
                & d["unit"].astype(str).isin(mine)]  # fmt: skip
        if sel["unit"].nunique() < 4:
            return ""
        score = sel.groupby(sel["unit"].astype(str)).agg(met=("verdict", lambda v: int(v.isin(MET).sum())),
                                                         rated=("verdict", "size"))  # fmt: skip
        score["share"] = score["met"] / score["rated"]
        score = score.reset_index().sort_values(["share", "met", "unit"], ascending=[False, False, True])

        def say(rows) -> str:
            return names([T("report.unit-score", name=self.name(r.unit), met=r.met, rated=r.rated)
                          for r in rows.itertuples()])  # fmt: skip

        noun = self.plan.levels[self.rank_level].unit_noun
        return T("report.ranking", year=self.year, noun=noun, top=say(score.head(2)),
                 low=say(score.tail(2).iloc[::-1]))  # fmt: skip

    def results_table(self, rows: list[dict], n: int) -> None:
        plan = self.plan
        self.table_no()
        widths = [10.0, 50.0, 12.0, 19.0, 19.0, 15.0, 17.0, 23.0]
        heads = [T(f"report.col-{k}") for k in ("stt", "indicator", "milestone", "num", "den", "rate", "target",
                                                 "verdict")]  # fmt: skip
        out: list[Row] = []
        group_code = None
        seen: set[str] = set()
        for r in rows:
            if r["group"] != group_code:
                group_code = r["group"]
                name = plan.groups[group_code].name if group_code in plan.groups else group_code
                out.append(Row([name, *[""] * 7], kind="group", keep_with_next=True))
            again = r["indicator"] in seen
            seen.add(r["indicator"])
            out.append(Row([str(r["stt"]), r["name"], str(r["milestone"]), r["num"], r["den"], r["rate"], r["target"],
                            r["verdict"]], shade={7: SHADE_BAD} if r["verdict_code"] == "khong-dat" else {},
                           merge_up=(0, 1) if again else (),
                           keep_with_next=r["milestone"] != plan.milestones[-1]))  # fmt: skip
        self.add(Table(T("report.results-caption", n=n), heads, widths,
                       ["center", "left", "center", "right", "right", "right", "center", "center"], out, font_pt=10.5))  # fmt: skip

    def results_chart(self, last: list[dict], previous: dict[str, dict], n: int) -> None:
        rated = [r for r in last if r["verdict_code"] is not None and r["rate_value"] is not None]
        if not rated:
            return
        self.figure_no()
        values = tuple(r["rate_value"] for r in rated)
        targets = []
        for r in rated:
            t = r["target_obj"]
            if t.kind in ("min", "range"):
                targets.append(t.low)
            else:  # an "increase" target: the previous milestone's rate is the bar to beat
                prev = previous.get(r["indicator"])
                targets.append(prev["rate_value"] if prev else None)
        red = {i: RED for i, r in enumerate(rated) if r["verdict_code"] == "khong-dat"}
        top = max([100.0, *values, *(t for t in targets if t is not None)])
        chart = Chart("bar", tuple(short_name(r["name"]) for r in rated),
                      (Series(T("report.chart-result", year=self.year), values, GREEN, red, labels=True),
                       Series(T("report.chart-target", year=self.year), tuple(targets), GREY)),
                      value_title=T("report.chart-axis"), value_min=0, value_max=float(np.ceil(top / 10) * 10),
                      major_unit=10, font_pt=9)  # fmt: skip
        # 9 pt throughout (CLERK.md), value labels included: 8 mm an indicator keeps every name on
        # its axis (at 6.6 mm LibreOffice dropped every other one); a page at most (26 indicators)
        height = min(235.0, 30 + 8.0 * len(rated))
        self.add(Figure(T("report.results-chart", n=n, year=self.year), chart, TEXT_WIDTH, height,
                        note=T("report.results-chart-note", table=self.tables)))  # fmt: skip

    # departments' topics -------------------------------------------------------------------
    def topics(self) -> None:
        units = [self.plan.units[code] for level, codes in self.c.scope.expected.items()
                 if layout.template_for(self.plan, level) == "so_nganh" for code in codes]  # fmt: skip
        if not units:
            return
        self.add(Heading(T("report.topics-title"), 2, TOPIC))
        wrote = {u for u, _ in self.writers.get(TOPIC, [])}
        tasked = [u for u in units if u.topic]
        done = [u.name for u in tasked if u.code in wrote]
        lacking = [u.name for u in tasked if u.code not in wrote]
        text = T("report.topics", n=len(done), total=len(tasked), annex="I")
        if lacking:
            text += " " + T("report.topics-missing", names=names(lacking, 6, MORE))
        self.add(para(text))

    # awards (section IV) -------------------------------------------------------------------
    def awards(self) -> None:
        sel = self.sel
        if not sel.groups:
            self.add(para(T("report.no-awards"), "note", italic=True))
        else:
            n = self.tables + 1
            self.add(para(T("report.awards-intro", collectives=two(sel.count("collective")),
                            individuals=two(sel.count("individual")), table=n, basis=self.plan.settings.basis)))  # fmt: skip
            self.table_no()
            widths = [10.0, 17.0, 50.0, 54.0, 34.0]
            rows: list[Row] = []
            for i, g in enumerate(sel.groups):
                rows.append(Row([g.label(i), "", "", "", ""], kind="group", keep_with_next=True))
                for k, nominee in enumerate(g.nominees, start=1):
                    rows.append(Row([str(k), nominee.kind_text, nominee.name, nominee.where, nominee.proposer]))
            self.add(Table(T("report.awards-caption", n=n), [T(f"report.{h}") for h in AWARD_HEADS], widths,
                           ["center", "center", "left", "left", "left"], rows, font_pt=10.5))  # fmt: skip
        if sel.excluded:
            n = self.tables + 1
            self.add(para(T("report.awards-excluded", count=len(sel.excluded), table=n)))
            self.table_no()
            by: dict[tuple[str, str], list[award_mod.Nominee]] = {}
            for x in sel.excluded:
                by.setdefault((x.reason, x.award), []).append(x)
            rows = []
            for (reason, award), xs in by.items():
                rows.append(Row([T("report.excluded-group", reason=reason, award=award, n=len(xs)), "", "", ""],
                                kind="group", keep_with_next=True))  # fmt: skip
                rows += [Row([str(k), x.kind_text, x.name, x.proposer]) for k, x in enumerate(xs, start=1)]
            self.add(Table(T("report.excluded-caption", n=n), [T(f"report.{h}") for h in EXCLUDED_HEADS],
                           [10.0, 17.0, 88.0, 50.0], ["center", "center", "left", "left"], rows, font_pt=10.5))  # fmt: skip

    # annexes -------------------------------------------------------------------------------
    def annex_texts(self) -> Annex:
        blocks: list[Block] = [para(T("report.annex-texts-intro"), "note", italic=True)]
        items = [(o.code, o.title) for o in self.plan.narrative_items()]
        if self.writers.get(TOPIC):
            items.append((TOPIC, T("report.topics-title")))
        for code, title in items:
            blocks.append(Heading(title if code == TOPIC else T("report.annex-item", code=code, title=title), 3, code))
            pairs = self.writers.get(code, [])
            if not pairs:
                blocks.append(para(T("report.annex-none"), "note", italic=True))
            for unit, text in pairs:
                blocks.append(Para([Run(f"{self.name(unit)}: ", bold=True), Run(text)], "annex"))
        return Annex("I", T("report.annex-texts-title"), blocks)

    def annex_status(self) -> Annex:
        rows = []
        missing = "report.state-no-readable" if self.c.unreadable else "report.state-missing"
        for k, r in enumerate(self.c.status.itertuples(), start=1):
            state = {"on_time": T("report.state-on-time"), "missing": T(missing),
                     "pending": T("report.state-pending")}.get(r.state) or T("report.state-late", days=r.days_late)  # fmt: skip
            received = r.received_at.strftime("%d/%m/%Y") if isinstance(r.received_at, (dt.datetime, pd.Timestamp)) \
                and not pd.isna(r.received_at) else ""  # fmt: skip
            rows.append(Row([str(k), r.name, self.plan.levels[r.level].name,
                             r.deadline.strftime("%d/%m/%Y"), received, state],
                            shade={5: SHADE_BAD} if r.state in ("late", "missing") else {}))  # fmt: skip
        blocks: list[Block] = [Table(T("report.status-caption"), [T(f"report.{h}") for h in STATUS_HEADS],
                                     [10.0, 55.0, 32.0, 21.0, 21.0, 26.0],
                                     ["center", "left", "left", "center", "center", "left"], rows, font_pt=10.5)]  # fmt: skip
        cov = self.cov
        if cov.leaves_expected:
            text = T("report.coverage-leaves", covered=cov.leaves_covered, total=cov.leaves_expected,
                     noun=cov.leaf_noun)  # fmt: skip
            if cov.leaves_missing:
                text += " " + T("report.coverage-leaves-missing", names=names(list(cov.leaves_missing), 50))
            blocks.append(para(text, "note", italic=True))
        return Annex("II", T("report.annex-status-title"), blocks)

    def build(self) -> Draft:
        self.intro()
        self.outline()
        annexes = [self.annex_texts(), self.annex_status()]
        return Draft(self.letterhead(), self.blocks, annexes, T("report.title") + " " + self.plan.settings.short_title)


AWARD_HEADS = ("col-stt", "col-kind-short", "col-name", "col-where", "col-proposer")
EXCLUDED_HEADS = ("col-stt", "col-kind-short", "col-name", "col-proposer")
STATUS_HEADS = ("col-stt", "col-unit-name", "col-level", "col-deadline", "col-received", "col-state")


def synthesise(c, *, number: str = "", date: dt.date | None = None) -> Draft:
    """The draft review report of consolidation ``c`` (a ``consolidation.Consolidation``) as a
    :class:`~.model.Draft`: letterhead, body blocks in outline order, Phụ lục I (units' texts by
    item) and II (who reported when). See the module docstring for what each part says.
    ``number``/``date`` fill the number and date lines (blank if not given). Issuer, signature
    and recipients come from the plan's ``[[report.documents]]`` (KH 137 mục III.2, VI.2.1,
    VI.3.4). Pure: reads ``c``, writes nothing."""
    return _Synthesis(c, number, date).build()


# -- the covering submission (tờ trình) ---------------------------------------------------------------


def cover(c, *, number: str = "", date: dt.date | None = None) -> Draft | None:
    """The covering submission the plan asks of ``c``'s level (``kind = "cover"``), or None: the
    issuer submits the draft report to ``to`` for signature, with its key figures."""
    doc = document(c.plan, c.scope.level, "cover")
    if doc is None:
        return None
    return _cover(c, _Synthesis(c, "", None), doc, number, date)


def report_and_cover(c, *, number: str = "", date: dt.date | None = None) -> tuple[Draft, Draft | None]:
    """``(synthesise(c, number=number, date=date), cover(c))``, from one reading of ``c``: the
    cover takes the report's coverage, narratives and award selection (for the province, ~0.1 s
    of the ~0.7 s both take) instead of gathering them again."""
    s = _Synthesis(c, number, date)
    draft = s.build()  # adds blocks to s; nothing the cover reads
    doc = document(c.plan, c.scope.level, "cover")
    return draft, None if doc is None else _cover(c, s, doc, "", None)


def _cover(c, s: _Synthesis, doc, number: str, date: dt.date | None) -> Draft:
    """The covering submission ``doc`` (the plan's ``kind = "cover"`` document) from synthesis ``s`` of ``c``."""
    plan: Plan = c.plan
    iss = issuer(plan, c.unit, doc)
    report_iss = s.iss
    year = (date or c.as_of).year
    number_line = T("report.number", number=number or T("report.number-blank"), kind="TTr", abbr=iss.abbr)
    subject = lower_first(s.subject())
    blocks: list[Block] = []
    basis = doc.basis or plan.settings.basis
    blocks.append(para(T("report.cover-basis", basis=basis, subject=subject)))
    cov = s.cov
    text = T("report.cover-compiled", units=s.units_phrase({lv.level: lv.received for lv in cov.levels}),
             body=iss.name, subject=subject, to=report_iss.name)  # fmt: skip
    if cov.leaves_expected:
        text += " " + T("report.coverage-leaves", covered=cov.leaves_covered, total=cov.leaves_expected,
                        noun=cov.leaf_noun)  # fmt: skip
    blocks.append(para(text))
    rows = results_rows(c)
    met_rows, not_met_rows, provisional = judged([r for r in rows if r["milestone"] == s.year])
    met, not_met = len(met_rows), len(not_met_rows)
    amounts = s.amounts()
    years = plan.settings.funding_years
    sel = s.sel
    blocks.append(para(T("report.cover-results", year=s.year, rated=met + not_met, met=met, not_met=not_met,
                         provisional=T("report.cover-provisional", n=provisional) if provisional else "",
                         first=years[0], last=years[-1], total=fmt_amount(sum(amounts.values())),
                         unit=plan.settings.funding_unit, collectives=two(sel.count("collective")),
                         individuals=two(sel.count("individual")))))  # fmt: skip
    deadline = plan.deadline(c.scope.level)
    goes_to = report_iss.doc.to or T("report.cover-upper")
    blocks.append(para(T("report.cover-request", body=iss.name, to=doc.to, goes_to=goes_to,
                         deadline=deadline.date.strftime("%d/%m/%Y") if deadline else T("report.blank"))))  # fmt: skip
    blocks.append(para(T("report.cover-attached"), "note", italic=True))
    signer = list(doc.signer) or T("report.sign-default").splitlines()
    recipients = [r if r.startswith("- ") else f"- {r}" for r in doc.recipients] or T(
        "report.recipients-default").splitlines()  # fmt: skip
    head = Letterhead(
        parent=iss.parent, body=list(iss.body), number=number_line, place_date=date_line(iss.place, date, year),
        kind=T("report.cover-title"), summary=[T("report.cover-summary", subject=subject)],
        addressee=T("report.cover-to", to=doc.to) if doc.to else "",
        draft_note=T("report.draft", date=c.as_of.strftime("%d/%m/%Y")), closing="", recipients=recipients,
        signer=signer, sign_name=T("report.sign-name"), attached="",
    )  # fmt: skip
    return Draft(head, blocks, [], T("report.cover-title") + " " + plan.settings.short_title)

