"""The XHHT ribbon buttons: one handler per tag of ``registry.py``, run by :func:`dispatch`.

The add-in's VBA calls ``dispatch('<tag>')`` through xlwings' ``RunPython``; the handler gets a
:class:`~xhht_xl.excel.book.Book` (live Excel, or a file for tests and scripts) and calls the
pipeline (``validate``, ``consolidate``, the writers). It holds no logic of its own beyond
putting results into the book. Any failure becomes one Vietnamese line in a message box; the
trace goes to ``%LOCALAPPDATA%\\xhht_xl\\xhht_xl.log`` (or the temp folder) only.

Handlers return True when they changed the book (an ``OpenpyxlBook`` is then saved). The ones
that change cells the clerk typed (Kiểm tra, Tổng hợp) first save a timestamped backup copy
next to the workbook.

Tổng hợp writes into the open book through the adapter: the consolidated appendix values go
into the book's own input cells (found through the reader's entries, so inserted rows are
respected), then ``Consolidation.write_workbook`` writes a temporary consolidated workbook
next to the book whose extra sheets (totals, status, issues, detail, nominations, cross-checks,
changes) are copied value by value with their fills and hyperlinks. The charts sheet is not
copied (charts do not go through the adapter); the JSON report written next to the book
feeds ``XHHT_SO_LIEU``. The same code runs for Excel and for a file, so the tests exercise it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import coverage, layout, messages
from .. import plan as plan_mod
from . import registry
from .book import Book, BookError, location

T = messages.text
Handler = Callable[[Book], bool]
HANDLERS: dict[str, Handler] = {}
RECEIVED_CSV = "received_at.csv"  # received times (e.g. the e-mails' dates), see intake.read_received_at
COLORS = {"error": "FF6B6B", "warning": "FFB84D", "info": "BDD7EE"}
STATE_COLORS = {"on_time": "C6EFCE", "late": "FFC7CE", "missing": "FF9999"}
RANK = {"error": 0, "warning": 1, "info": 2}


class HandlerError(Exception):
    """Stop the handler; ``str()`` is the one Vietnamese line the clerk reads."""


class Cancelled(Exception):
    """The clerk pressed Esc."""


def handler(tag: str) -> Callable[[Handler], Handler]:
    """Register the function as the handler of the ribbon button ``tag``."""

    def register(fn: Handler) -> Handler:
        if tag in HANDLERS:
            raise ValueError(f"two handlers for {tag!r}")
        HANDLERS[tag] = fn
        return fn

    return register


# -- running a button ------------------------------------------------------------------------------


def app_dir() -> Path:
    """``%LOCALAPPDATA%\\xhht_xl`` on Windows, else ``<temp>/xhht_xl``: log file and remembered folders."""
    base = os.environ.get("LOCALAPPDATA") or tempfile.gettempdir()
    return Path(base) / "xhht_xl"


def log_file() -> Path:
    return app_dir() / "xhht_xl.log"


def _log(tag: str, book: Book | None) -> Path:
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 2_000_000:
            path.replace(path.with_suffix(".log.1"))
        where = ""
        with contextlib.suppress(Exception):
            where = str(book.path) if book is not None else ""
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {dt.datetime.now().isoformat(timespec='seconds')} {tag} {where}\n")
            f.write(traceback.format_exc())
    except OSError:
        pass
    return path


def _known_errors() -> tuple[type[BaseException], ...]:
    from ..consolidation import ConsolidationError
    from ..fileio import OutputError
    from ..intake import IntakeError
    from ..mail.imap import MailError
    from ..returned import ReturnError
    from ..safety import UnreadableFile

    return (
        HandlerError,
        BookError,
        ConsolidationError,
        IntakeError,
        MailError,
        OutputError,
        ReturnError,
        UnreadableFile,
        plan_mod.PlanError,
    )


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _alert_without_book(text: str) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes

        ctypes.windll.user32.MessageBoxW(None, text, T("excel.title"), 0x10)
    else:
        print(text, file=sys.stderr)


def dispatch(tag: str, book: Book | None = None) -> bool:
    """Run the handler of ``tag`` on ``book`` (default: the Excel workbook that pressed the button).

    Returns True when the handler finished. Errors never propagate: the clerk gets one line."""
    try:
        if book is None:
            from .book import XlwingsBook

            book = XlwingsBook.caller()
        book.begin()
        fn = HANDLERS.get(tag)
        if fn is None:
            raise HandlerError(T("excel.unknown-button", tag=tag))
        changed = fn(book)
        book.finish(bool(changed))
        return True
    except Cancelled:
        line = T("excel.cancelled")
    except _known_errors() as exc:
        _log(tag, book)
        line = _one_line(exc)
    except Exception as exc:  # the clerk gets one line, the developer the trace
        line = T("excel.unexpected", text=_one_line(exc) or type(exc).__name__, log=_log(tag, book))
    if book is None:
        _alert_without_book(line)
        return False
    with contextlib.suppress(Exception):
        book.finish(False)
    try:
        book.message(line, error=True)
    except Exception:
        _log(tag, book)
        _alert_without_book(line)
    return False


# -- shared steps -----------------------------------------------------------------------------------


def _plan() -> plan_mod.Plan:
    return plan_mod.load(os.environ.get("XHHT_PLAN") or None)


def _require_file(book: Book) -> Path:
    path = book.path
    if not path.is_absolute() or not path.parent.is_dir():
        raise HandlerError(T("excel.save-first"))
    return path


@contextlib.contextmanager
def _snapshot(book: Book) -> Iterator[Path]:
    """The book's current state (unsaved changes included) as a file with the book's own name."""
    path = _require_file(book)
    with tempfile.TemporaryDirectory(prefix="xhht-") as tmp:
        yield book.save_copy(Path(tmp) / path.name)


def _backup(book: Book) -> Path:
    path = _require_file(book)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(T("excel.backup-name", stem=path.stem, stamp=stamp) + path.suffix)
    i = 1
    while target.exists():
        i += 1
        target = path.with_name(T("excel.backup-name", stem=path.stem, stamp=f"{stamp}-{i}") + path.suffix)
    return book.save_copy(target)


def _scope(snapshot: Path, plan: plan_mod.Plan, label: str) -> tuple[str, str]:
    """Level and unit that the open workbook consolidates for: its ``_meta`` and unit cell."""
    from ..pipeline import validate

    sub = validate(snapshot, plan, file=label).submission
    if sub is None or not sub.template:
        raise HandlerError(T("excel.not-template", file=label))
    unit_code = sub.meta_unit or sub.unit_code
    unit = plan.unit(unit_code) if unit_code else None
    level = sub.level or (unit.level if unit is not None else "")
    if level not in plan.levels or not plan.child_levels(level):
        raise HandlerError(T("excel.not-consolidating", file=label))
    if unit is None or unit.level != level:
        raise HandlerError(T("excel.no-unit", file=label, level=plan.levels[level].name))
    return level, unit.code


def _folders_file() -> Path:
    return app_dir() / "folders.json"


def _pick(book: Book, purpose: str) -> Path:
    """A folder from the clerk (the dialog starts at the last one chosen for the same purpose)."""
    try:
        remembered = json.loads(_folders_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        remembered = {}
    initial = remembered.get(purpose)
    folder = book.pick_folder(purpose, Path(initial) if initial else None)
    if folder is None:
        raise Cancelled
    if not folder.is_dir():
        raise HandlerError(T("excel.folder-missing", folder=folder))
    remembered[purpose] = str(folder)
    with contextlib.suppress(OSError):
        _folders_file().parent.mkdir(parents=True, exist_ok=True)
        _folders_file().write_text(json.dumps(remembered, ensure_ascii=False), encoding="utf-8")
    return folder


def _received_at(folder: Path) -> Path | None:
    """``received_at.csv`` in the folder or one of its two parents, if there is one."""
    for d in (folder, folder.parent, folder.parent.parent):
        if (d / RECEIVED_CSV).is_file():
            return d / RECEIVED_CSV
    return None


def _progress(book: Book, key: str = "excel.progress") -> Callable[[int, int, str], None]:
    def progress(i: int, n: int, label: str) -> None:
        if book.cancelled():
            raise Cancelled
        book.status(T(key, i=i, n=n, file=label))

    return progress


def _consolidate(book: Book, plan, folder: Path, level: str, unit: str, into: Path | None):
    from ..consolidation import consolidate

    book.status(T("excel.reading", folder=folder))
    return consolidate(folder, plan, level, unit, into=into, received_at=_received_at(folder),
                       progress=_progress(book))  # fmt: skip


def _consolidate_book(book: Book, plan, own: bool = True, mail=None):
    """Consolidate the picked folder for the open workbook's own level and unit (read from a
    snapshot, so unsaved edits count); ``own``: keep the workbook's own entries; ``mail``: an
    account whose new messages are pulled into the folder first. -> (c, folder)."""
    with _snapshot(book) as snap:
        level, unit = _scope(snap, plan, book.name)
        folder = _pick(book, "received")
        if mail is not None:
            _pull_mail(book, mail, folder)
        return _consolidate(book, plan, folder, level, unit, into=snap if own else None), folder


# The add-in's settings for the mailbox source (rows of its ``xhht_xl.conf`` sheet, written by
# ``xhht addin install --mail-server … --mail-user …``); the password comes from the keyring.
MAIL_SETTINGS = ("MAIL_SERVER", "MAIL_USER", "MAIL_SECURITY", "MAIL_MAILBOX", "MAIL_CAFILE")


def _mail_account(book: Book):
    """The configured mailbox (an ``mail.Account``), or None when the settings name none."""
    server, user = book.setting("MAIL_SERVER"), book.setting("MAIL_USER")
    if not server or not user:
        return None
    from ..mail import account

    return account(server, user, book.setting("MAIL_SECURITY") or "ssl", book.setting("MAIL_CAFILE"))


def _pull_mail(book: Book, acc, folder: Path) -> None:
    """New messages of the configured mailbox into ``folder`` (``xhht mail pull``), with progress
    on the status bar; Esc stops between messages (those pulled stay recorded)."""
    from ..mail import password, pull

    def progress(i: int, n: int, _label: str) -> None:
        if book.cancelled():
            raise Cancelled
        book.status(T("mail.ribbon-pulling", account=acc.label, i=i, n=n))

    book.status(T("mail.ribbon-pulling", account=acc.label, i=0, n="…"))
    result = pull(folder, acc, password(acc, interactive=False), mailbox=book.setting("MAIL_MAILBOX") or "INBOX",
                  progress=progress)  # fmt: skip
    book.status(T("mail.ribbon-pulled", messages=len(result.messages), saved=len(result.saved)))


def _link_target(book: Book, file: Path) -> str:
    """A file hyperlink relative to the workbook's folder (absolute across drives)."""
    try:
        return Path(os.path.relpath(file, book.path.parent)).as_posix()
    except ValueError:
        return str(file)


def _date(value) -> str:
    return value.strftime("%d/%m/%Y") if value is not None else ""


# -- Kiểm tra ------------------------------------------------------------------------------------


def _clear_marks(book: Book, sheet: str) -> None:
    """Undo the colours and notes of the previous Kiểm tra (listed in its sheet)."""
    if sheet not in book.sheet_names():
        return
    names = set(book.sheet_names())
    for row in book.read(sheet)[3:]:
        if len(row) < 6 or not row[2] or not row[3] or row[2] not in names:
            continue
        old = row[5] if isinstance(row[5], str) and len(row[5]) == 6 else None
        book.fill(row[2], row[3], old)
        book.comment(row[2], row[3], None)


@handler("kiem_tra")
def kiem_tra(book: Book) -> bool:
    """Check the open workbook: colour and annotate the cells with issues, list them in a sheet."""
    from ..pipeline import validate

    plan = _plan()
    sheet = T("excel.sheet-check")
    _backup(book)
    _clear_marks(book, sheet)
    with _snapshot(book) as snap:
        v = validate(snap, plan, file=book.name)
    names = set(book.sheet_names())
    by_cell: dict[tuple[str, str], list] = {}
    for issue in v.report:
        if issue.sheet in names and issue.cell:
            by_cell.setdefault((issue.sheet, issue.cell), []).append(issue)
    original: dict[tuple[str, str], str | None] = {}
    for (s, c), items in by_cell.items():
        original[(s, c)] = book.fill_of(s, c)
        worst = min((i.severity for i in items), key=RANK.__getitem__)
        book.fill(s, c, COLORS[worst])
        book.comment(s, c, "\n".join(f"{T('out.severity-' + i.severity)}: {i.message}" for i in items))
    issues = sorted(v.report, key=lambda i: RANK[i.severity])
    counts = {s: sum(1 for i in issues if i.severity == s) for s in RANK}
    summary = T("excel.check-summary", file=book.name, errors=counts["error"], warnings=counts["warning"],
                infos=counts["info"])  # fmt: skip
    heads = [T(f"out.col-{h}") for h in ("severity", "code", "sheet", "cell", "message")]
    rows = [[T(f"out.severity-{i.severity}"), i.code, i.sheet, i.cell, i.message,
             original.get((i.sheet, i.cell))] for i in issues]  # fmt: skip
    book.write(sheet, [[summary]], header=False)
    book.write(sheet, [[*heads, T("excel.col-old-fill")], *rows], at="A3", clear=False,
               widths=[10, 22, 14, 8, 100, 8])  # fmt: skip
    for r, i in enumerate(issues, start=4):
        book.fill(sheet, f"A{r}", COLORS[i.severity])
        if (i.sheet, i.cell) in by_cell:
            book.link(sheet, f"D{r}", to=location(i.sheet, i.cell))
    book.activate(sheet)
    book.message(summary, error=counts["error"] > 0)
    return True


# -- Lấy báo cáo ---------------------------------------------------------------------------------


def _status_rows(c) -> list[list]:
    from ..outputs import STATUS_HEADS, heads, status_rows

    return [heads(STATUS_HEADS), *status_rows(c)]


@handler("lay_bao_cao")
def lay_bao_cao(book: Book) -> bool:
    """Intake of the folder of received workbooks, with a status sheet in the open book. When the
    add-in's settings name a mailbox, the clerk may first pull its new messages into the folder."""
    from ..outputs import STATUS_WIDTHS, status_summary

    acc = _mail_account(book)
    if acc is not None:
        answer = book.ask(T("mail.ribbon-source", account=acc.label))
        if answer is None:
            raise Cancelled
        acc = acc if answer else None
    c, folder = _consolidate_book(book, _plan(), own=False, mail=acc)
    sheet = T("out.sheet-status")
    s = status_summary(c)
    book.write(sheet, [[T("out.title-status", as_of=_date(c.as_of))], [T("out.summary-status", **s)]],
               header=False)  # fmt: skip
    book.write(sheet, _status_rows(c), at="A4", clear=False, widths=list(STATUS_WIDTHS))
    for row, r in enumerate(c.status.itertuples(), start=5):
        if r.state in STATE_COLORS:
            book.fill(sheet, f"D{row}", STATE_COLORS[r.state])
        if r.file:
            book.link(sheet, f"J{row}", address=_link_target(book, folder / r.file))
    book.activate(sheet)
    book.message(T("excel.intake-done", files=len(c.received), **s))
    return True


# -- Tổng hợp ------------------------------------------------------------------------------------

COPIED = ("totals", "status", "issues", "detail", "nominations", "cross", "changes")


def _appendix_cells(c, plan) -> dict[str, dict[str, object]]:
    """Sheet -> {cell: value} of the consolidated appendix in the open book's own cells."""
    from .. import layout

    own = c.own
    lay = layout.build(
        plan, own.template or layout.template_for(plan, c.scope.level), own.layout_version or 1
    )
    values = dict(c.appendix)
    for key in own.entries:  # a figure the consolidation left empty is emptied, as in write_workbook
        if key[0] in ("kq", "kp") and key not in values:
            values[key] = None
    out: dict[str, dict[str, object]] = {}
    for key, value in values.items():
        entry = own.entries.get(key)
        if entry is not None:
            sheet, ref = entry.sheet, entry.cell
        elif key in lay.inputs:
            sheet, ref = lay.inputs[key].sheet, lay.inputs[key].ref
        else:
            continue
        out.setdefault(sheet, {})[ref] = value
    return out


def _copy_sheets(book: Book, source: Path, names: list[str]) -> None:
    """Copy sheets of a workbook written by ``outputs`` into the book: values, fills, links, widths."""
    from openpyxl import load_workbook

    wb = load_workbook(source)
    for name in names:
        if name not in wb.sheetnames:
            continue
        ws = wb[name]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        widths = [ws.column_dimensions[chr(64 + i)].width or 9 for i in range(1, min(ws.max_column, 26) + 1)]
        book.write(name, rows, header=False, widths=widths)
        for row in ws.iter_rows():
            for cell in row:
                f = cell.fill
                if (
                    f is not None
                    and f.fill_type == "solid"
                    and f.fgColor is not None
                    and f.fgColor.type == "rgb"
                ):
                    book.fill(name, cell.coordinate, str(f.fgColor.rgb)[-6:])
                if cell.hyperlink is not None:
                    h = cell.hyperlink
                    target = h.target or ""
                    address, _, sub = target.partition("#")
                    book.link(name, cell.coordinate, to=h.location or sub or None, address=address or None)


def _copy_coverage(book: Book, source: Path) -> None:
    """Carry the consolidation's coverage (``coverage.SHEET``, very hidden) into the book, so the
    level above knows which units this workbook stands for, as it does for ``xhht consolidate``."""
    from openpyxl import load_workbook

    wb = load_workbook(source, read_only=True)
    try:
        if coverage.SHEET not in wb.sheetnames:
            return
        rows = [list(r) for r in wb[coverage.SHEET].iter_rows(values_only=True)]
    finally:
        wb.close()
    book.write(coverage.SHEET, rows, header=False)
    book.hide(coverage.SHEET)


@handler("tong_hop")
def tong_hop(book: Book) -> bool:
    """Consolidate the picked folder into the open workbook (after a backup copy)."""
    plan = _plan()
    path = _require_file(book)
    with _snapshot(book) as snap:
        level, unit = _scope(snap, plan, book.name)
        folder = _pick(book, "received")
        c = _consolidate(book, plan, folder, level, unit, into=snap)
        backup = _backup(book)
        book.status(T("excel.writing"))
        for sheet, cells in _appendix_cells(c, plan).items():
            if sheet in book.sheet_names():
                book.put(sheet, cells)
        tmp = path.with_name(f".~xhht-{path.stem}-tong-hop.xlsx")
        try:
            c.write_workbook(tmp)
            _copy_sheets(book, tmp, [T(f"out.sheet-{k}") for k in COPIED])
            _copy_coverage(book, tmp)
        finally:
            tmp.unlink(missing_ok=True)
    report = c.write_json(path.with_name(T("excel.json-name", stem=path.stem)))
    book.activate(T("out.sheet-totals"))
    errors = len(c.report.errors)
    book.message(T("excel.consolidate-done", unit=c.unit.name, units=len(c.chosen), expected=len(c.status),
                   errors=errors, backup=backup.name, json=report.name), error=errors > 0)  # fmt: skip
    return True


# -- Khen thưởng ---------------------------------------------------------------------------------

QUOTA_CODES = ("quota-exceeded", "duplicate-nominee", "nominee-outside", "nomination-no-quota")


@handler("khen_thuong")
def khen_thuong(book: Book) -> bool:
    """Quota check of every nomination (the units' and the book's own) in a sheet."""
    plan = _plan()
    c, _folder = _consolidate_book(book, plan)
    from ..outputs import NOMINATION_HEADS, NOMINATION_WIDTHS, heads, nomination_rows

    sheet = T("excel.sheet-awards")
    rows: list[list] = [heads(NOMINATION_HEADS), *nomination_rows(c)]
    over, within = T("quota.over"), T("quota.within")
    counts = {"total": len(rows) - 1, "over": sum(1 for r in rows[1:] if r[-1] == over)}
    problems = [i for i in c.report if i.code in QUOTA_CODES]
    summary = T("excel.awards-summary", unit=c.unit.name, problems=len(problems), **counts)
    book.write(sheet, [[T("out.title-nominations")], [summary]], header=False)
    book.write(sheet, rows, at="A4", clear=False, widths=list(NOMINATION_WIDTHS))
    verdict_col = layout.col_letter(len(NOMINATION_HEADS))
    for i, r in enumerate(c.nominations.itertuples(), start=5):
        book.fill(
            sheet,
            f"{verdict_col}{i}",
            "FF9999" if r.verdict == over else "C6EFCE" if r.verdict == within else "FFE699",
        )
        if r.own and r.sheet in book.sheet_names() and r.cell:
            book.link(sheet, f"E{i}", to=location(r.sheet, r.cell))
    start = len(rows) + 6
    issue_rows = [[T("out.col-severity"), T("out.col-unit"), T("out.col-message")]]
    issue_rows += [[T(f"out.severity-{i.severity}"), i.unit, i.message] for i in problems]
    book.write(sheet, issue_rows, at=f"A{start}", clear=False)
    for k, i in enumerate(problems, start=start + 1):
        book.fill(sheet, f"A{k}", COLORS[i.severity])
    book.activate(sheet)
    message = summary
    try:
        from .. import report  # written by the report module's owner; optional here
    except ImportError:
        report = None
    if report is not None and hasattr(report, "write_award_list"):
        out = report.write_award_list(
            c, book.path.with_name(T("excel.awards-docx-name", stem=book.path.stem))
        )
        message = T("excel.awards-done-docx", text=summary, file=Path(out).name)
    book.message(message, error=bool(problems))
    return True


# -- Tạo mẫu, Trả lại, Báo cáo, Hướng dẫn --------------------------------------------------------


@handler("tao_mau")
def tao_mau(book: Book) -> bool:
    """Write the official templates into a folder."""
    from ..templates import write_templates

    plan = _plan()
    folder = _pick(book, "templates")
    book.status(T("excel.writing"))
    paths = write_templates(plan, folder)
    book.message(T("excel.templates-done", count=len(paths), folder=folder))
    return False


@handler("tra_lai")
def tra_lai(book: Book) -> bool:
    """Returned copies (cells to fix marked) of every received workbook with errors or warnings."""
    from ..intake import scan
    from ..pipeline import validate
    from ..returned import ReturnError, returned_name, write_returned_copy

    _require_file(book)  # the list links to the copies relative to the workbook's folder
    plan = _plan()
    source = _pick(book, "received")
    out = _pick(book, "returned")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise HandlerError(T("excel.returned-inside", folder=out))
    files = scan(source)
    progress = _progress(book)
    used: set[str] = set()
    rows: list[list] = [[T(f"excel.col-{h}") for h in ("file", "errors", "warnings", "returned", "note")]]
    links: list[tuple[int, Path]] = []
    for n, path in enumerate(files, start=1):
        rel = path.relative_to(source).as_posix()
        progress(n, len(files), rel)
        v = validate(path, plan, file=rel)
        errors = sum(1 for i in v.report if i.severity == "error")
        warnings = sum(1 for i in v.report if i.severity == "warning")
        if not v.readable:
            rows.append([rel, errors, warnings, "", v.report.issues[0].message])
            continue
        if not (errors or warnings):
            continue
        name, stem, k = returned_name(path), Path(returned_name(path)).stem, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}.xlsx"
        used.add(name)
        try:
            copy = write_returned_copy(v, plan, out, name=name)
        except ReturnError as exc:
            rows.append([rel, errors, warnings, "", str(exc)])
            continue
        rows.append([rel, errors, warnings, copy.name, ""])
        links.append((len(rows), copy))
    sheet = T("excel.sheet-returned")
    written = len(links)
    summary = T("excel.returned-done", files=len(files), written=written, folder=out)
    book.write(sheet, [[summary]], header=False)
    book.write(sheet, rows, at="A3", clear=False, widths=[50, 8, 10, 50, 70])
    for row, copy in links:
        book.link(sheet, f"D{row + 2}", address=_link_target(book, copy))
    book.activate(sheet)
    book.message(summary)
    return True


@handler("bao_cao")
def bao_cao(book: Book) -> bool:
    """The draft review report (.docx) next to the workbook."""
    try:
        from .. import report
    except ImportError:
        raise HandlerError(T("excel.report-missing")) from None
    c, _folder = _consolidate_book(book, _plan())
    book.status(T("excel.writing"))
    out = report.write_report(c, book.path.with_name(T("excel.report-name", stem=book.path.stem)))
    book.message(T("excel.report-done", file=Path(out).name, folder=Path(out).parent))
    return False


@handler("huong_dan")
def huong_dan(book: Book) -> bool:
    """A help sheet: what each button and each worksheet function does."""
    from . import udfs

    sheet = T("excel.sheet-help")
    rows: list[list] = [[T("excel.help-title")], [T("excel.help-intro")], [],
                        [T("excel.help-col-button"), T("excel.help-col-what")]]  # fmt: skip
    for b in registry.BUTTONS:
        rows.append([T(b.label_key), T(f"excel.help-{b.tag}")])
    rows += [[], [T("excel.help-col-function"), T("excel.help-col-what")]]
    for name in udfs.FUNCTIONS:
        rows.append([T(f"excel.fn-{name}-syntax"), T(f"excel.fn-{name}")])
    rows += [[], [T("excel.help-errors")], [T("excel.help-log", log=log_file())]]
    book.write(sheet, rows, header=False, widths=[40, 110])
    book.activate(sheet)
    return True
