"""The analyst's path: ``xx.consolidate`` with its input checked, a consolidation shown in
Jupyter, its charts, and the facts files of several consolidations read back as one frame.

Bad input here (a folder with no submissions, a plan that does not match the files, facts
files of different plans, a file that is not a facts file) raises :class:`errors.DataError`
with one Vietnamese line naming what is wrong, before pandas sees it. Every figure shown is the
consolidation's own (``Consolidation.totals``, ``coverage_by_level()``, ``attainment()``, the
one issue list): nothing is recomputed here.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from . import frames, intake, messages
from .errors import DataError

T = messages.text
NAMES_SHOWN = 10  # units or indicators named in a summary line
MET = ("dat", "vuot")
SEVERITIES = ("error", "warning", "info")


# -- xx.consolidate --------------------------------------------------------------------------


def consolidate(folder: str | Path, plan, level: str, unit: str | None = None, **kwargs):
    """``consolidation.consolidate`` for an analyst: the same run, refused with
    :class:`DataError` (one Vietnamese line) when it could only mislead, that is when the folder
    holds no file at all, when none of its files is a report of a unit that reports to ``unit``
    at ``level``, or when every report used was made from another plan's templates (``plan``
    does not match the files: their ``_meta`` names another plan id)."""
    from .consolidation import consolidate as run

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(T("analysis.not-folder", folder=folder))
    if folder.is_dir() and not intake.scan(folder):
        raise DataError(T("analysis.no-files", folder=folder))
    for name in ("as_of", "deadline"):
        if kwargs.get(name) is not None:
            kwargs[name] = as_date(kwargs[name], name)
    c = run(folder, plan, level, unit, **kwargs)
    used = [r for r in c.chosen.values() if r.sub is not None]
    others = sorted({r.sub.plan_id for r in c.received if r.sub is not None and r.sub.plan_id not in ("", plan.id)})
    if others and all(r.sub.plan_id not in ("", plan.id) for r in used):
        raise DataError(T("analysis.other-plan", folder=folder, found=", ".join(others), plan=plan.id))
    if not used:
        raise DataError(T("analysis.no-submissions", folder=folder, files=len(c.received),
                          unit=f"{c.unit.code} - {c.unit.name}"))  # fmt: skip
    return c


def as_date(value, name: str) -> dt.date:
    """A date an analyst gives: a ``date``, a ``datetime`` (its day), or text ``yyyy-mm-dd`` or
    ``dd/mm/yyyy``; anything else is :class:`DataError` naming the argument."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(value.strip(), pattern).date()
            except ValueError:
                pass
    raise DataError(T("analysis.bad-date", name=name, value=str(value)[:40]))


# -- the summary shown in Jupyter ------------------------------------------------------------


def _n(x: int) -> str:
    return f"{int(x):,}".replace(",", ".")


def _day(d) -> str:
    return d.strftime("%d/%m/%Y")


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    return T("coverage.more", names=shown, count=len(items) - NAMES_SHOWN) if len(items) > NAMES_SHOWN else shown


def summary_parts(c) -> dict[str, object]:
    """What the summary says, as data: ``title``; ``coverage`` (lines, as the consolidated
    workbook's status sheet writes them, then the late direct units); ``targets`` (a line and
    the indicators not met); ``issues`` (a line and ``[(severity, code, name, count)]`` by kind,
    counted over the one issue list); ``frames`` (a line naming each frame and its rows)."""
    from .outputs import coverage_lines
    from .report.text import fmt_pct

    plan = c.plan
    level = plan.levels[c.scope.level].name.lower()
    title = T("analysis.title", name=c.unit.name, code=c.unit.code, level=level, plan=plan.id, as_of=_day(c.as_of))
    coverage = coverage_lines(c, direct=True)
    late = c.status[c.status["state"] == "late"]
    if len(late):
        coverage.append(T("analysis.late-direct", names=_names(
            [T("analysis.unit-days", code=r.unit, name=r.name, days=int(r.days_late)) for r in late.itertuples()])))
    year = max(plan.milestones)
    last = c.totals[c.totals["milestone"] == year]
    counts = {v: int((last["verdict"] == v).sum()) for v in ("dat", "vuot", "khong-dat")}
    rated = sum(counts.values())
    not_met = [T("analysis.indicator-rate", name=plan.indicators[r.indicator].name, code=r.indicator, rate=fmt_pct(r.rate))
               for r in last[last["verdict"] == "khong-dat"].itertuples()]  # fmt: skip
    targets = [T("analysis.targets", year=year, total=len(last), dat=counts["dat"], vuot=counts["vuot"],
                 khong_dat=counts["khong-dat"], none=len(last) - rated)]  # fmt: skip
    if not_met:
        targets.append(T("analysis.not-met", names=_names(not_met)))
    by_kind = Counter((i.severity, i.code) for i in c.report)
    kinds = sorted(by_kind.items(), key=lambda kv: (SEVERITIES.index(kv[0][0]), -kv[1], kv[0][1]))
    rows = [(sev, code, _kind_name(code), n) for (sev, code), n in kinds]
    sev_counts = {s: sum(n for (sv, _), n in by_kind.items() if sv == s) for s in SEVERITIES}
    issues = T("analysis.issues", errors=_n(sev_counts["error"]), warnings=_n(sev_counts["warning"]),
               infos=_n(sev_counts["info"]))  # fmt: skip
    tables = ", ".join(f"{name} ({_n(len(f))})" for name, f in c.frames().items())
    return {"title": title, "coverage": coverage, "targets": targets, "issues": issues, "kinds": rows,
            "frames": T("analysis.frames", tables=tables)}  # fmt: skip


def _kind_name(code: str) -> str:
    table = messages.table()
    return table.get(f"issue-kind.{code}", code)


def summary_text(c) -> str:
    """The summary as plain text, one item per line."""
    p = summary_parts(c)
    lines = [p["title"], T("analysis.head-coverage"), *[f"  {x}" for x in p["coverage"]],
             T("analysis.head-targets"), *[f"  {x}" for x in p["targets"]], T("analysis.head-issues"), f"  {p['issues']}"]  # fmt: skip
    lines += [f"    {T('out.severity-' + sev)}: {name} ({code}): {_n(n)}" for sev, code, name, n in p["kinds"]]
    lines.append(p["frames"])
    return "\n".join(lines)


def summary_html(c) -> str:
    """The summary as a small HTML block (what Jupyter shows for a ``Consolidation``)."""
    p = summary_parts(c)
    e = html.escape

    def items(lines):
        return "<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"

    kinds = "".join(
        f"<tr><td>{e(T('out.severity-' + sev))}</td><td>{e(name)} ({e(code)})</td><td style='text-align:right'>{_n(n)}</td></tr>"
        for sev, code, name, n in p["kinds"]
    )
    table = (f"<table><thead><tr><th>{e(T('out.col-severity'))}</th><th>{e(T('analysis.col-kind'))}</th>"
             f"<th>{e(T('analysis.col-count'))}</th></tr></thead><tbody>{kinds}</tbody></table>") if kinds else ""  # fmt: skip
    return (f"<div class='xhht-summary'><h4>{e(p['title'])}</h4>"
            f"<p><b>{e(T('analysis.head-coverage'))}</b></p>{items(p['coverage'])}"
            f"<p><b>{e(T('analysis.head-targets'))}</b></p>{items(p['targets'])}"
            f"<p><b>{e(T('analysis.head-issues'))}</b> {e(p['issues'])}</p>{table}"
            f"<p><small>{e(p['frames'])}</small></p></div>")  # fmt: skip


# -- charts ----------------------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(T("analysis.no-matplotlib")) from None
    return plt


GREEN, RED, AMBER, GREY = "#70AD47", "#E15759", "#F2B134", "#9E9E9E"


class Plots:
    """The consolidated workbook's two charts (sheet «Biểu đồ»), drawn with matplotlib from the
    same figures: ``targets()`` from ``Consolidation.attainment()``, ``coverage()`` from
    ``outputs.status_summary``. Each returns the matplotlib ``Axes``; matplotlib is the
    ``notebook`` extra (``pip install 'xhht_xl[notebook]'``)."""

    def __init__(self, c):
        self._c = c

    def targets(self, milestone: int | None = None, ax=None):
        """Per direct unit, targets met (đạt or vượt) and not met at ``milestone`` (default: the
        last), as stacked horizontal bars, first unit on top."""
        plt = _pyplot()
        from matplotlib.ticker import MaxNLocator

        data = self._c.attainment(milestone)
        year = int(data["milestone"].iloc[0]) if len(data) else (milestone or max(self._c.plan.milestones))
        if ax is None:
            _, ax = plt.subplots(figsize=(8, max(3.0, 0.32 * len(data) + 1.6)))
        names = list(data["name"])
        met = data["met"].to_numpy(dtype=float)
        not_met = data["not_met"].to_numpy(dtype=float)
        ax.barh(names, met, color=GREEN, label=T("out.series-met"))
        ax.barh(names, not_met, left=met, color=RED, label=T("out.series-not-met"))
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(textwrap.fill(T("out.chart-attainment", year=year), 48))
        ax.set_xlabel(T("analysis.axis-targets"))
        ax.legend(loc="lower right")
        ax.figure.tight_layout()
        return ax

    def coverage(self, ax=None):
        """Submissions per state (on time, late, missing, not yet due), one bar per level: the direct
        units and every level below them (``coverage_by_level``), as the workbook's second chart."""
        from .outputs import STATE, level_series

        plt = _pyplot()
        from matplotlib.ticker import MaxNLocator

        levels = self._c.coverage_by_level()
        states = ("on_time", "late", "missing", "pending")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.8))
        width = 0.8 / max(1, len(levels))
        for k, lv in enumerate(levels):
            where = [i + (k - (len(levels) - 1) / 2) * width for i in range(len(states))]
            bars = ax.bar(where, [lv[s] for s in states], width, label=level_series(self._c.plan, lv))
            ax.bar_label(bars)
        ax.set_xticks(range(len(states)), [T(STATE[s]) for s in states])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(T("out.chart-status"))
        ax.set_ylabel(T("out.series-count"))
        if levels:
            ax.legend()
        ax.figure.tight_layout()
        return ax


# -- facts files of several consolidations ---------------------------------------------------


def load_facts(paths, plan=None, *, combine: bool = False) -> pd.DataFrame:
    """The facts files (``write_facts``/``--facts``: CSV or JSON) of several consolidations as one
    frame in the schema ``facts``; a folder stands for every facts file under it.

    Each row keeps its ``plan``, ``consolidation_unit`` and ``consolidation_level``, so districts,
    the province, several years or provinces sit side by side. Files of different plans are
    refused unless ``combine=True`` (codes of two plans need not mean the same thing); with
    ``plan`` (a loaded plan), every file must be of that plan. Unit, indicator and level codes
    get the plan's categories (the ones of ``Consolidation.facts``) when the files are of one
    plan that is ``plan`` or the built-in one; otherwise the codes present, sorted.
    Raises :class:`DataError` (one Vietnamese line naming the file, row and column) for a missing
    path, a file that is not a facts file or has a wrong value, and mixed plans."""
    files = _facts_files(paths)
    schema = frames.schema("facts")
    parts = [(f, _read_facts(f, schema)) for f in files]
    by_plan: dict[str, list[str]] = {}
    for f, df in parts:
        for pid in dict.fromkeys(df["plan"].dropna()):
            by_plan.setdefault(str(pid), []).append(f.name)
    if plan is not None and not combine:
        foreign = {p: fs for p, fs in by_plan.items() if p != plan.id}
        if foreign:
            p, fs = next(iter(foreign.items()))
            raise DataError(T("analysis.facts-other-plan", file=fs[0], found=p, plan=plan.id))
    if len(by_plan) > 1 and not combine:
        listed = "; ".join(f"{p} ({', '.join(fs[:3])}{', …' if len(fs) > 3 else ''})" for p, fs in by_plan.items())
        raise DataError(T("analysis.facts-mixed", plans=listed))
    frame = pd.concat([df for _, df in parts], ignore_index=True) if parts else schema.empty()
    return schema.conform(frame, _plan_for(plan, set(by_plan)))


def _plan_for(plan, ids: set[str]):
    """The plan whose codes give the categories: ``plan`` or the built-in one when the files are
    of it (files with no rows name no plan: theirs is assumed); None for several plans."""
    from .plan import DEFAULT_PLAN, load

    if len(ids) > 1:
        return None
    pid = next(iter(ids), plan.id if plan is not None else DEFAULT_PLAN)
    if plan is not None:
        return plan if plan.id == pid else None
    return load() if pid == DEFAULT_PLAN else None


def _facts_files(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = [f for f in sorted(p.rglob("*")) if f.suffix.lower() in (".csv", ".json") and f.is_file()
                     and _is_facts(f)]  # fmt: skip
            if not found:
                raise DataError(T("analysis.facts-none-in-folder", folder=p))
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(T("analysis.facts-missing", file=p))
    if not out:
        raise DataError(T("analysis.facts-no-paths"))
    return list(dict.fromkeys(f.resolve() for f in out))


def _is_facts(path: Path) -> bool:
    """Whether a file found in a folder is a facts file (its head says so)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    if path.suffix.lower() == ".json":
        return '"format": "xhht-facts/' in head.replace('":"', '": "')
    return head.splitlines()[0].split(",") == frames.schema("facts").names if head else False


def _read_facts(path: Path, schema: frames.Schema) -> pd.DataFrame:
    """One facts file as a frame of the schema's columns, values parsed and checked."""
    from .outputs import FACTS_FORMAT

    name = path.name
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FACTS_FORMAT:
                raise DataError(T("analysis.facts-not-facts", file=name, columns=T("analysis.facts-format")))
            columns = data.get("columns") or []
            _check_columns(name, columns, schema)
            raw = pd.DataFrame(data.get("data") or [], columns=columns)
            text = False
        else:
            raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_filter=False)
            _check_columns(name, list(raw.columns), schema)
            text = True
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(T("analysis.facts-unreadable", file=name, reason=type(exc).__name__)) from None
    raw = raw[schema.names]
    out = {}
    for col in schema.columns:
        s = raw[col.name]
        if text:
            s = s.map(lambda v: np.nan if v == "" else (v[1:] if v.startswith("'") else v)) if col.kind == "text" else (
                s.map(lambda v: np.nan if v == "" else v))  # fmt: skip
        if col.kind in ("count", "integer", "figure", "rate", "amount"):
            s = _numbers(s, col, name, first_row=2 if text else 1)
        out[col.name] = s
    frame = pd.DataFrame(out)
    problems = schema.problems(schema.conform(frame), None)
    if problems:
        raise DataError(T("analysis.facts-bad", file=name, text=problems[0]))
    return frame


def _check_columns(name: str, columns: list, schema: frames.Schema) -> None:
    missing = [c for c in schema.names if c not in columns]
    if missing:
        raise DataError(T("analysis.facts-not-facts", file=name, columns=", ".join(f"«{c}»" for c in missing)))


def _numbers(s: pd.Series, col: frames.Column, file: str, first_row: int) -> pd.Series:
    values = pd.to_numeric(s, errors="coerce")
    bad = values.isna() & s.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(T("analysis.facts-not-number", file=file, row=i + first_row, column=col.name, value=s.iloc[i]))
    if col.kind in ("count", "integer"):
        frac = values.dropna() % 1 != 0
        if frac.any():
            i = int(frac[frac].index[0])
            raise DataError(T("analysis.facts-not-number", file=file, row=i + first_row, column=col.name,
                              value=s.iloc[i]))  # fmt: skip
    return values

