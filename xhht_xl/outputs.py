"""Writers of a consolidation: the consolidated workbook, the JSON report and the facts CSV.

The workbook is the official template of the level, with the consolidated values in the same
input cells (so the level above reads it as a submission), plus sheets a clerk needs: totals
with coverage, submission status, issues (hyperlinked to the source cells), per-unit detail,
nominations with quota verdicts, cross-checks, resubmission changes and native charts.
Every value copied from a sender is written as a value, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import pandas as pd
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from . import coverage, layout, messages, templates
from .fileio import mark_output, save_workbook, write_text
from .plan import round_rate
from .templates import BORDER, CENTER, F_HEAD, F_TITLE, FILL_BAD, FILL_HEAD, FILL_OK, FILL_WARN, WRAP_TOP

T = messages.text
VERDICT = {"dat": "verdict.dat", "khong-dat": "verdict.khong-dat", "vuot": "verdict.vuot"}
STATE = {"on_time": "consolidate.state-on_time", "late": "consolidate.state-late",
         "missing": "consolidate.state-missing", "pending": "consolidate.state-pending",
         "unknown": "consolidate.state-unknown"}  # fmt: skip
NAMES_SHOWN = 20  # units named in a coverage line; the JSON lists them all
ROW_CM = 0.53  # default row height in cm, to place a chart below another
# The detail sheet is also read back by the level above (communes' figures reach the province).
DETAIL_COLUMNS = (
    "unit",
    "name",
    "level",
    "indicator",
    "milestone",
    "num",
    "den",
    "rate",
    "verdict",
    "state",
    "file",
)
DETAIL_MAX_ROWS = 200_000  # rows of a detail sheet read back (a national plan's district: ~10,000)


def _verdict(v) -> str:
    return T(VERDICT[v]) if isinstance(v, str) and v in VERDICT else ""


def _clean(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


def _table(
    ws: Worksheet, title: str, headers: list[str], rows: list[list], widths: list[int], first_row: int = 3
) -> int:
    """A titled table with header styling, borders, filter and frozen header; returns the header row."""
    templates.put(ws, (1, 1), title, font=F_TITLE)
    for col, (text, width) in enumerate(zip(headers, widths, strict=True), start=1):
        templates.put(
            ws, (first_row, col), text, font=F_HEAD, fill=FILL_HEAD, alignment=CENTER, border=BORDER
        )
        ws.column_dimensions[layout.col_letter(col)].width = width
    # Data cells carry no per-cell style: styling costs more than everything else in openpyxl,
    # and a plain filtered table is what a clerk sorts and copies from anyway.
    for r, row in enumerate(rows, start=first_row + 1):
        values = [_clean(v) for v in row]
        ws.append(values)  # rows follow the header (append is the fast path of openpyxl)
        for c, value in enumerate(values, start=1):
            if isinstance(value, str) and value.startswith("="):
                ws.cell(r, c).data_type = "s"  # a sender's text stays text
    ws.row_dimensions[first_row].height = 32
    if rows:
        ws.auto_filter.ref = f"A{first_row}:{layout.col_letter(len(headers))}{first_row + len(rows)}"
    else:
        templates.put(ws, (first_row + 1, 1), T("out.no-rows"))
    ws.freeze_panes = f"A{first_row + 1}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{first_row}:{first_row}"
    return first_row


def write_workbook(c, path: Path) -> Path:
    """The consolidated workbook of ``c`` (a ``Consolidation``), written atomically."""
    plan = c.plan
    wb = templates.build_workbook(plan, c.scope.level, unit=c.unit, values=c.appendix)
    mark_output(wb, "consolidated", unit=c.scope.unit, level=c.scope.level)  # intake skips it when found
    index = len(layout.build(plan, layout.template_for(plan, c.scope.level)).sheets) - 2  # before _ds, _meta
    sheets = {}
    for key in ("totals", "status", "issues", "detail", "nominations", "cross", "changes", "charts"):
        sheets[key] = wb.create_sheet(T(f"out.sheet-{key}"), index)
        index += 1
    _totals(sheets["totals"], c)
    _status(sheets["status"], c)
    _issues(sheets["issues"], c, path)
    _detail(sheets["detail"], c)
    _nominations(sheets["nominations"], c)
    _cross(sheets["cross"], c)
    _changes(sheets["changes"], c)
    _charts(sheets["charts"], c)
    coverage.write(wb, c)  # read back by the level above: coverage travels up
    return save_workbook(wb, path)


def coverage_text(plan, covered: int, expected: int, unknown: int, leaf_level: str) -> str:
    """"186/188 xã, phường, thị trấn" (with "(chưa rõ N)" when some leaves are unknown)."""
    noun = plan.levels[leaf_level].unit_noun if leaf_level in plan.levels else T("coverage.noun-any")
    if unknown:
        return T("coverage.of-unknown", covered=covered, expected=expected, noun=noun, unknown=unknown)
    return T("coverage.of", covered=covered, expected=expected, noun=noun)


def _names(c, codes: list[str]) -> str:
    plan = c.plan
    shown = []
    for code in codes[:NAMES_SHOWN]:
        unit = plan.unit(code)
        parent = plan.unit(unit.parent) if unit is not None and unit.parent else None
        if unit is None:
            shown.append(code)
        elif parent is not None and parent.code != c.scope.unit:
            shown.append(T("coverage.unit-in", code=code, name=unit.name, parent=parent.name))
        else:
            shown.append(f"{code} - {unit.name}")
    text = ", ".join(shown)
    if len(codes) > NAMES_SHOWN:
        text = T("coverage.more", names=text, count=len(codes) - NAMES_SHOWN)
    return text


def coverage_lines(c, direct: bool = False) -> list[str]:
    """Who reported into this consolidation, per level: with ``direct`` the direct units too, then
    every level below ("Cấp xã, theo báo cáo tổng hợp của cấp trên trực tiếp: 186/188 …"),
    naming the missing and late units. The same lines go to the status sheet, the totals sheet
    and the report, computed from ``c.coverage_by_level()``."""
    lines = []
    unknown = False
    for lv in c.coverage_by_level():
        if lv["direct"] and not direct:
            continue
        level = c.plan.levels[lv["level"]]
        key = "coverage.direct-line" if lv["direct"] else "coverage.below-line"
        lines.append(T(key, level=level.name, noun=level.unit_noun, **{k: lv[k] for k in (
            "received", "expected", "on_time", "late", "missing", "pending", "unknown")}))  # fmt: skip
        if lv["missing_units"]:
            lines.append(T("coverage.missing-names", names=_names(c, lv["missing_units"])))
        if lv["late_units"] and not lv["direct"]:
            lines.append(T("coverage.late-names", names=_names(c, lv["late_units"])))
        unknown = unknown or lv["unknown"] > 0
    if unknown:
        lines.append(T("coverage.unknown-note"))
    return lines


def _totals(ws: Worksheet, c) -> None:
    plan = c.plan
    rows = []
    for r in c.totals.itertuples():
        target = plan.targets[(r.indicator, r.milestone)]
        rows.append([r.indicator, plan.indicators[r.indicator].name, r.milestone, r.num, r.den, r.rate,
                     layout.target_text(target), _verdict(r.verdict), r.units_covered, r.units_expected, r.units_na,
                     r.units_rejected, r.source, target.verified,
                     coverage_text(plan, r.leaves_covered, r.leaves_expected, r.leaves_unknown, r.leaf_level),
                     r.leaves_covered, r.leaves_expected, r.leaves_unknown])  # fmt: skip
    heads = ["indicator", "indicator-name", "milestone", "num", "den", "rate", "target", "verdict", "covered",
             "expected", "na", "rejected", "source", "verified", "coverage", "leaves-covered", "leaves-expected",
             "leaves-unknown"]  # fmt: skip
    _table(ws, T("out.title-totals", unit=c.unit.name.upper()), [T(f"out.col-{h}") for h in heads], rows,
           [18, 48, 7, 11, 11, 9, 12, 11, 10, 10, 10, 10, 14, 12, 24, 10, 10, 10])  # fmt: skip
    _note(ws, 2, T("coverage.totals-note", lines=" ".join(coverage_lines(c))).strip())
    for r in range(4, 4 + len(rows)):
        ws.cell(r, 6).number_format = "0.0"
        for col in (4, 5):
            ws.cell(r, col).number_format = "#,##0"


def _note(ws: Worksheet, row: int, text: str) -> None:
    """A line of text above a table, wrapped across the table's width (not running off the page)."""
    cols = max(ws.max_column, 1)
    templates.put(ws, (row, 1), text, alignment=WRAP_TOP)
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=cols)
    width = sum((ws.column_dimensions[layout.col_letter(c)].width or 9) for c in range(1, cols + 1))
    lines = max(1, math.ceil(len(text) * 1.1 / max(width, 1)))
    ws.row_dimensions[row].height = 15 * lines


def _pct(n: int, total: int) -> str:
    """n of total in percent, rounded by the one rule: "98,1%"."""
    return f"{round_rate(n / total * 100 if total else 0)}%".replace(".", ",")


def status_summary(c) -> dict[str, int | str]:
    """Counts of the direct units' status; ``with_errors`` counts units with an error in the
    issue list (the status frame's ``errors`` column is computed from it)."""
    s = c.status
    total = len(s)
    counts = {
        k: int((s["state"] == k).sum()) if total else 0 for k in ("on_time", "late", "missing", "pending")
    }
    return {
        "expected": total,
        **counts,
        "with_errors": int((s["errors"] > 0).sum()) if total else 0,
        **{f"{k}_pct": _pct(v, total) for k, v in counts.items()},
    }


STATUS_HEADS = ("unit", "unit-name", "level", "state", "deadline", "received", "days-late", "errors", "warnings",
                "file", "contact", "phone", "received-source", "note")  # fmt: skip
STATUS_WIDTHS = (9, 28, 14, 13, 11, 16, 9, 8, 10, 40, 22, 14, 18, 40)
# the verdict stays the last column (the ribbon colours it); the reason comes just before it
NOMINATION_HEADS = ("proposer", "priority", "award", "kind", "name", "position", "nominee-unit", "summary",
                    "previous", "reason", "quota")  # fmt: skip
NOMINATION_WIDTHS = (26, 7, 26, 10, 24, 20, 26, 46, 20, 36, 16)


def status_rows(c) -> list[list]:
    """The submission status as rows (same columns as ``STATUS_HEADS``): workbook and ribbon."""
    return [
        [r.unit, r.name, c.plan.levels[r.level].name, T(STATE[r.state]), r.deadline, _clean(r.received_at),
         r.days_late or None, r.errors, r.warnings, r.file, r.contact, r.phone,
         received_source_text(r.received_source, c.chosen.get(r.unit)), r.note]
        for r in c.status.itertuples()
    ]  # fmt: skip


def received_source_text(source: str, r) -> str:
    """The "Nguồn ngày nhận" cell: the evidence's label, or for a report received by mail
    "nhận qua thư lúc … của …" (the server's received time and the sender of its first arrival)."""
    mail = getattr(r, "arrived_mail", None) if r is not None else None
    if source == "mailbox" and mail is not None:
        return T("evidence.mailbox-from", when=mail.received_at.strftime("%H:%M %d/%m/%Y"),
                 sender=mail.sender or "?")  # fmt: skip
    return T(f"evidence.{source}") if source else ""


def nomination_rows(c) -> list[list]:
    """The nominations with their quota verdicts (columns of ``NOMINATION_HEADS``)."""
    rows = []
    for r in c.nominations.itertuples():
        proposer = c.plan.unit(r.proposer)
        rows.append([f"{r.proposer} - {proposer.name}" if proposer else r.proposer, r.priority, r.award_name,
                     T(f"out.kind-{r.kind}") if r.kind else "", r.name, r.position, r.unit_text, r.summary,
                     r.previous, r.reason, r.verdict])  # fmt: skip
    return rows


def heads(names) -> list[str]:
    return [T(f"out.col-{h}") for h in names]


def _status(ws: Worksheet, c) -> None:
    _table(ws, T("out.title-status", as_of=c.as_of.strftime("%d/%m/%Y")), heads(STATUS_HEADS), status_rows(c),
           list(STATUS_WIDTHS), first_row=4)  # fmt: skip
    templates.put(ws, (2, 1), T("out.summary-status", **status_summary(c)))
    below = coverage_lines(c)
    if below:
        _note(ws, 3, " ".join(below))
    fills = {"late": FILL_WARN, "missing": FILL_BAD, "on_time": FILL_OK}
    for i, r in enumerate(c.status.itertuples(), start=5):
        ws.cell(i, 5).number_format = "dd/mm/yyyy"
        ws.cell(i, 6).number_format = "dd/mm/yyyy hh:mm"
        if r.state in fills:
            ws.cell(i, 4).fill = fills[r.state]


def _issues(ws: Worksheet, c, out_path: Path) -> None:
    rows = [
        [T(f"out.severity-{i.severity}"), i.code, i.unit, i.file, i.sheet, i.cell, i.message]
        for i in c.report
    ]
    heads = ["severity", "code", "unit", "file", "sheet", "cell", "message"]
    _table(ws, T("out.title-issues"), [T(f"out.col-{h}") for h in heads], rows, [10, 20, 9, 36, 14, 7, 90])
    out_dir = out_path.resolve().parent
    for r, issue in enumerate(c.report, start=4):
        ws.cell(r, 1).fill = (
            FILL_BAD if issue.severity == "error" else (FILL_WARN if issue.severity == "warning" else FILL_OK)
        )
        if issue.file:
            source = (c.folder / issue.file).resolve()
            if source.exists():
                target = Path(os.path.relpath(source, out_dir)).as_posix()
                if issue.sheet and issue.cell:
                    target += f"#'{issue.sheet}'!{issue.cell}"
                ws.cell(r, 4).hyperlink = target
                ws.cell(r, 4).font = Font(name=templates.FONT, color="0563C1", underline="single")


def _detail(ws: Worksheet, c) -> None:
    rows = []
    for r in c.detail.itertuples():
        rows.append([r.unit, r.name, c.plan.levels[r.level].name if r.level in c.plan.levels else r.level, r.indicator,
                     r.milestone, r.num, r.den, r.rate, _verdict(r.verdict),
                     T(f"out.state-{r.state}"), r.file])  # fmt: skip
    # the column headers are the texts of DETAIL_COLUMNS ("name" and "state" have their own labels)
    labels = [{"name": "unit-name", "state": "data-state"}.get(col, col) for col in DETAIL_COLUMNS]
    _table(ws, T("out.title-detail"), heads(labels), rows, [9, 26, 12, 18, 7, 11, 11, 9, 11, 14, 40])
    for r in range(4, 4 + len(rows)):
        ws.cell(r, 8).number_format = "0.0"


def _nominations(ws: Worksheet, c) -> None:
    rows = nomination_rows(c)
    _table(ws, T("out.title-nominations"), heads(NOMINATION_HEADS), rows, list(NOMINATION_WIDTHS))
    col = len(NOMINATION_HEADS)
    for i, code in enumerate(c.nominations["verdict_code"], start=4):
        fill = FILL_OK if code == "within" else FILL_WARN if code in ("proposal", "no-quota", "invalid") else FILL_BAD
        ws.cell(i, col).fill = fill


def _cross(ws: Worksheet, c) -> None:
    rows = [[r.indicator, r.milestone, r.source, r.num, r.den, r.rate, r.units, r.used_source, r.used_rate]
            for r in c.cross.itertuples()]  # fmt: skip
    heads = [
        "indicator",
        "milestone",
        "cross-source",
        "num",
        "den",
        "rate",
        "units",
        "used-source",
        "used-rate",
    ]
    _table(
        ws, T("out.title-cross"), [T(f"out.col-{h}") for h in heads], rows, [20, 7, 16, 11, 11, 9, 9, 16, 14]
    )


def _changes(ws: Worksheet, c) -> None:
    rows = [
        [r.unit, r.key, r.sheet, r.cell, r.before, r.after, r.file, r.previous_file]
        for r in c.changes.itertuples()
    ]
    heads = ["unit", "key", "sheet", "cell", "before", "after", "file", "previous-file"]
    _table(
        ws, T("out.title-changes"), [T(f"out.col-{h}") for h in heads], rows, [9, 28, 14, 7, 14, 14, 36, 36]
    )


def _charts(ws: Worksheet, c) -> None:
    """Native Excel charts over small tables on this sheet (they stay live in Excel)."""
    year = max(c.plan.milestones)
    templates.put(ws, (1, 1), T("out.col-unit-name"), font=F_HEAD)
    templates.put(ws, (1, 2), T("out.series-met"), font=F_HEAD)
    templates.put(ws, (1, 3), T("out.series-not-met"), font=F_HEAD)
    # the figures of plot.targets() too: one function counts them
    units = [(r.name, int(r.met), int(r.not_met)) for r in c.attainment(year).itertuples()]
    for i, (name, met, not_met) in enumerate(units, start=2):
        templates.put(ws, (i, 1), name)
        templates.put(ws, (i, 2), met)
        templates.put(ws, (i, 3), not_met)
    ws.column_dimensions["A"].width = 28
    first_height = 0.0
    if units:
        chart = BarChart()
        chart.type = "bar"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = T("out.chart-attainment", year=year)
        data = Reference(ws, min_col=2, max_col=3, min_row=1, max_row=len(units) + 1)
        cats = Reference(ws, min_col=1, min_row=2, max_row=len(units) + 1)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        chart.height = first_height = max(8, 0.55 * len(units) + 3)
        chart.width = 18
        ws.add_chart(chart, "E2")
    start = len(units) + 4
    summary = status_summary(c)
    templates.put(ws, (start, 1), T("out.col-state"), font=F_HEAD)
    templates.put(ws, (start, 2), T("out.series-count"), font=F_HEAD)
    for i, state in enumerate(("on_time", "late", "missing", "pending"), start=start + 1):
        templates.put(ws, (i, 1), T(STATE[state]))
        templates.put(ws, (i, 2), summary[state])
    chart = BarChart()
    chart.type = "col"
    chart.title = T("out.chart-status")
    chart.add_data(Reference(ws, min_col=2, min_row=start, max_row=start + 4), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=start + 1, max_row=start + 4))
    chart.legend = None
    chart.width, chart.height = 14, 7
    below_first = 2 + round(first_height / ROW_CM) + 2  # rows under the attainment chart
    ws.add_chart(chart, f"E{max(below_first, start)}")
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True


# -- JSON and facts -----------------------------------------------------------------------


def _records(frame: pd.DataFrame, dates: tuple[str, ...] = ()) -> list[dict]:
    """Rows as JSON-ready dicts; columns in ``dates`` (days held as datetime64 at 00:00) as dates."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            v = _clean(v)
            if k in dates and isinstance(v, dt.datetime):
                v = v.date()
            if isinstance(v, (dt.date, dt.datetime)):
                v = v.isoformat()
            elif hasattr(v, "item"):
                v = v.item()
            clean[k] = v
        out.append(clean)
    return out


def report_dict(c) -> dict:
    return {
        "plan": c.plan.id,
        "unit": c.scope.unit,
        "level": c.scope.level,
        "run_at": c.run_at.isoformat(),
        "as_of": c.as_of.isoformat(),
        "deadlines": {k: v.isoformat() for k, v in c.deadlines.items()},
        "summary": status_summary(c),
        # who reported, per level, down to the leaves: {"level", "direct", "expected", "received", …}
        "coverage": c.coverage_by_level(),
        "issues": [i.as_dict() for i in c.report],
        "status": _records(c.status, dates=("deadline",)),
        "below": _records(c.below),
        "folder": str(Path(c.folder).resolve()),  # the received files' folder: "file" is relative to it
        # every file read, with the received time used and its evidence (and the message it came in)
        "files": [
            {"file": r.rel, "unit": r.unit, "received_at": r.received_at.isoformat(),
             "received_source": r.received_source, "used": r.used, "sha256": r.sha256,
             "mail": r.mail.as_dict() if r.mail is not None else None}
            for r in c.received
        ],
        # whom to call: late and missing units with the contact the plan or their last workbook gives
        "call_list": _records(
            c.status[c.status["state"].isin(["late", "missing"])][
                ["unit", "name", "state", "days_late", "contact", "phone"]
            ]
        ),
        "totals": _records(c.totals),
        "funding": _records(c.funding),
        "nominations": _records(c.nominations),
        "cross_checks": _records(c.cross),
        "changes": _records(c.changes),
    }


def write_json(c, path: Path) -> Path:
    return write_text(path, json.dumps(report_dict(c), ensure_ascii=False, indent=1))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Text starting with these is written with one more apostrophe in front (the apostrophe itself
# too, so that a reader takes exactly one off: ``analysis.load_facts``).
QUOTED_START = (*_FORMULA_START, "'")
FACTS_FORMAT = "xhht-facts/1"  # the "format" of a facts JSON file


def write_facts(c, path: Path) -> Path:
    """The facts frame of ``c`` (schema ``facts``: every cell as typed and as used, with its
    state, issue, plan and consolidation) as a file ``xx.load_facts`` reads back.

    ``.json``: ``{"format": "xhht-facts/1", "columns": [...], "data": [[...], ...]}``, values as
    typed (NaN as null). Any other suffix: CSV, UTF-8 with BOM so Excel shows Vietnamese; text
    a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, tab, CR) or that starts
    with an apostrophe gets one apostrophe in front."""
    from .frames import schema

    frame = c.facts
    if path.suffix.lower() == ".json":
        split = json.loads(frame.to_json(orient="split", index=False, force_ascii=False, double_precision=15))
        payload = {"format": FACTS_FORMAT, "columns": split["columns"], "data": split["data"]}
        return write_text(path, json.dumps(payload, ensure_ascii=False))
    frame = frame.copy()
    for col in schema("facts").columns:
        if col.kind == "text":
            frame[col.name] = [("'" + v) if isinstance(v, str) and v.startswith(QUOTED_START) else v
                               for v in frame[col.name]]  # fmt: skip
    return write_text(path, "\ufeff" + frame.to_csv(index=False))


def read_detail(path: Path, plan) -> pd.DataFrame:
    """The per-unit detail of a consolidated workbook sent up by the level below (or an empty frame).

    This is how the communes' figures reach the province through the districts' workbooks.
    """
    from .read import sheet_rows

    rows = sheet_rows(path, T("out.sheet-detail"), bound=(DETAIL_MAX_ROWS, len(DETAIL_COLUMNS) + 1))
    if rows is None:  # no such sheet, or damaged: it must not stop the consolidation
        return pd.DataFrame(columns=list(DETAIL_COLUMNS))
    levels = {lv.name: lv.code for lv in plan.levels.values()}
    verdicts = {T(v): k for k, v in VERDICT.items()}
    states = {T(f"out.state-{s}"): s for s in ("ok", "na", "empty", "rejected")}
    out = []
    for row in rows[3:]:
        if len(row) < len(DETAIL_COLUMNS) or not row[0]:
            continue
        rec = dict(zip(DETAIL_COLUMNS, row, strict=False))
        rec["unit"] = str(int(rec["unit"])) if isinstance(rec["unit"], float) else str(rec["unit"])
        rec["level"] = levels.get(rec["level"], rec["level"])
        rec["verdict"] = verdicts.get(rec["verdict"])
        rec["state"] = states.get(rec["state"], "ok")
        for col in ("num", "den", "rate"):
            rec[col] = float(rec[col]) if isinstance(rec[col], (int, float)) else float("nan")
        rec["milestone"] = int(rec["milestone"])
        out.append(rec)
    return pd.DataFrame(out, columns=list(DETAIL_COLUMNS))
