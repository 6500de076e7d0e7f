"""The ``xhht`` command: the same pipeline as the Excel ribbon, from a terminal.

Exit codes: 0 done (no errors found), 1 errors found in the data, 2 could not run.
Every failure is one Vietnamese line on stderr; the full trace goes to a log file only.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import messages
from . import plan as plan_mod
from .cleaning import for_terminal
from .cliargs import InputError, input_files, output_file, vietnamese_argparse

T = messages.text
log = logging.getLogger("xhht_xl")


class CommandError(Exception):
    """Stop the command with a one-line message and exit code 2."""


def say(text: str, *, file=None, end: str = "\n") -> None:
    """Print one line a clerk reads. It may hold text from senders' files and file names: control
    and escape characters are dropped, so no cell can rewrite the terminal (``cleaning``)."""
    print(for_terminal(str(text)), file=file if file is not None else sys.stdout, end=end, flush=True)


class _HelpFormatter(argparse.HelpFormatter):
    """Help texts are data (``messages/*.toml``) and may hold a literal ``%`` (``%APPDATA%``):
    argparse would %-format them and crash, so they are shown as written."""

    def _expand_help(self, action: argparse.Action) -> str:
        return self._get_help_string(action) or ""


class _Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose sub-command parsers (built as the same class) use :class:`_HelpFormatter`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        """A mistake on the command line: one Vietnamese line and exit code 2 (not argparse's
        usage block and English ``error:``)."""
        say(T("cli.usage-error", text=message, prog=self.prog), file=sys.stderr)
        self.exit(2)


def _plan_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="DIR", help=T("cli.plan-help"))


def _load_plan(args: argparse.Namespace) -> plan_mod.Plan:
    return plan_mod.load(args.plan)


def cmd_templates(args: argparse.Namespace) -> int:
    from . import templates

    plan = _load_plan(args)
    for level in args.level or ():
        _check_level(plan, level)
    paths = templates.write_templates(plan, args.folder, per_unit=args.per_unit, levels=args.level)
    say(T("cli.templates-done", count=len(paths), folder=args.folder))
    return 0


def say_issue(issue) -> None:
    """One issue on the console: «Lỗi: …», «Cảnh báo: …», «Thông tin: …»."""
    say(T("validate.line", severity=T(f"validate.{issue.severity}"), message=issue.message))


def cmd_validate(args: argparse.Namespace) -> int:
    """Read and check received files: one line per issue, one summary line per file."""
    from .fileio import OutputError
    from .issues import Report
    from .pipeline import validate
    from .returned import ReturnError, returned_name, write_returned_copy

    plan = _load_plan(args)
    _check_level(plan, args.level)
    skipped: list = []  # what the folders held that is no report (empty files, junk): said, not dropped
    files = input_files(args.files, notes=skipped)
    for issue in skipped:
        say_issue(issue)
    if not files:
        raise CommandError(T("cli.no-files", paths=", ".join(for_terminal(str(f)) for f in args.files)))
    names = [Path(f).name for f in files]
    name_count = Counter(names)
    everything = Report(skipped)
    unreadable = failed = False
    copies: set[str] = set()
    for path, name in zip(files, names, strict=True):
        label = name if name_count[name] == 1 else str(path)  # same name in two folders: the path
        v = validate(path, plan, expected_level=args.level, file=label)
        everything.extend(v.report)
        for issue in v.report:
            say_issue(issue)
        if not v.readable:
            unreadable = True
            continue
        n = {s: sum(1 for i in v.report if i.severity == s) for s in ("error", "warning", "info")}
        key = "validate.summary" if v.report.issues else "validate.summary-clean"
        say(T(key, file=label, errors=n["error"], warnings=n["warning"], infos=n["info"]))
        failed = failed or n["error"] > 0 or (args.strict and n["warning"] > 0)
        if args.return_copy is not None and (n["error"] or n["warning"]):
            copy_name = returned_name(path, taken=copies)  # two senders' files with the same name
            copies.add(copy_name)
            try:
                out = write_returned_copy(v, plan, args.return_copy, level=args.level, name=copy_name)
            except (ReturnError, OutputError) as exc:  # this copy only: the next files are checked
                say(T("validate.returned-skipped", text=exc))
            else:
                say(T("validate.returned-done", path=out))
    if args.json is not None:
        everything.write_json(args.json)
        say(T("validate.json-done", path=args.json))
    # a file that cannot be read is a problem of that file's data, as for consolidate: the run went on
    # and checked the others (2 is for a run that could not be made: a name mistyped, no file at all)
    return 1 if unreadable or failed else 0


def _check_level(plan: plan_mod.Plan, level: str | None) -> None:
    """A ``--level`` the plan does not have: one line saying what may be typed ("xa (Cấp xã), …")."""
    if level and level not in plan.levels:
        raise CommandError(T("cli.unknown-level", level=for_terminal(level), levels=level_choices(plan)))


def level_choices(plan: plan_mod.Plan, codes=None) -> str:
    """The level codes a clerk may type, each beside its name: "xa (Cấp xã), huyen (Cấp huyện)"."""
    return ", ".join(T("cli.level-choices", code=code, name=plan.levels[code].name)
                     for code in (codes or plan.levels))  # fmt: skip


def _list_errors(report, where: str) -> None:
    """The errors of a run on the console, the first ``ERRORS_SHOWN``, then where all are."""
    errors = report.errors
    if not errors:
        return
    say(T("cli.errors-head", count=len(errors)))
    for issue in errors[:ERRORS_SHOWN]:
        say(T("cli.error-line", message=issue.message))
    if len(errors) > ERRORS_SHOWN:
        say(T("cli.errors-more", count=len(errors) - ERRORS_SHOWN, where=where))


ERRORS_SHOWN = 10  # errors listed on the console; the workbook's Vấn đề sheet lists all


def _date(text: str):
    from .intake import parse_day

    day = parse_day(text)
    if day is None:
        raise argparse.ArgumentTypeError(T("cli.bad-date", value=for_terminal(text)))
    return day


def _progress(i: int, n: int, label: str) -> None:
    if sys.stderr.isatty():
        line = for_terminal(T("cli.progress", i=i, n=n, label=label))[:100]
        say("\r" + line.ljust(100), end="" if i < n else "\n", file=sys.stderr)


def _writable(target: Path) -> None:
    """Fail before any work if ``target`` is a folder or its folder cannot take a file."""
    import tempfile

    if target.is_dir():
        raise CommandError(T("io.is-folder", file=target))
    folder = target.resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".~xhht-check-"):
            pass
    except OSError:
        raise CommandError(T("cli.out-not-writable", folder=folder)) from None


def cmd_consolidate(args: argparse.Namespace) -> int:
    from .fileio import output_set
    from .outputs import status_summary

    out = Path(args.out)
    targets = [Path(t) for t in (out, args.json, args.facts) if t is not None]
    for target in targets:
        _writable(target)
    c = _run_consolidation(args, out)
    with output_set() as stage:  # the workbook, the JSON and the CSV: all new, or all as they were
        c.write_workbook(stage(out))
        for target, write in ((args.json, c.write_json), (args.facts, c.write_facts)):
            if target is not None:
                write(stage(target))
    for target in targets[1:]:
        say(T("cli.written", path=target))
    s = status_summary(c)
    say(
        T("cli.consolidate-done", unit=f"{c.unit.code} - {c.unit.name}", expected=s["expected"], on_time=s["on_time"],
          late=s["late"], missing=s["missing"], errors=len(c.report.errors), warnings=len(c.report.warnings), out=out)
    )  # fmt: skip
    _list_errors(c.report, T("cli.errors-more-sheet", sheet=T("out.sheet-issues"), file=out))
    return 1 if c.report.errors else 0


def _consolidation_args(p: argparse.ArgumentParser) -> None:
    """The options that say what to consolidate (shared by consolidate and report)."""
    p.add_argument("folder", type=Path, help=T("cli.folder-help"))
    p.add_argument("--level", required=True, help=T("cli.level-consolidate-help"))
    p.add_argument("--unit", help=T("cli.unit-help"))
    p.add_argument("--into", type=Path, metavar="OWN.xlsx", help=T("cli.into-help"))
    p.add_argument("--received-at", type=Path, metavar="FILE.csv", help=T("cli.received-at-help"))
    p.add_argument("--as-of", type=_date, metavar="DATE", help=T("cli.as-of-help"))
    p.add_argument("--deadline", type=_date, metavar="DATE", help=T("cli.deadline-help"))
    _plan_arg(p)


def _run_consolidation(args: argparse.Namespace, out: Path):
    from .consolidation import consolidate

    return consolidate(
        args.folder,
        _load_plan(args),
        args.level,
        args.unit,
        into=args.into,
        received_at=args.received_at,
        as_of=args.as_of,
        deadline=args.deadline,
        store=out.resolve().parent / "xhht_intake",
        progress=_progress,
    )


def cmd_report(args: argparse.Namespace) -> int:
    """The draft review report of a consolidation (the folder and options of ``consolidate``)."""
    from . import report
    from .fileio import output_set

    out = Path(args.out)
    for target in filter(None, (out, args.awards, args.cover)):
        _writable(Path(target))
    c = _run_consolidation(args, out)
    cover = args.cover or report.cover_path(c, out)
    with output_set() as stage:  # the report, its cover and the award list: all new, or all as they were
        report.write_report(c, stage(out), number=args.number or "", cover=stage(cover) if cover else False)
        if args.awards:
            report.write_award_list(c, stage(args.awards))
    say(T("cli.written", path=out))
    if cover:
        say(T("cli.written", path=cover))
    if args.awards:
        say(T("cli.written", path=args.awards))
    _list_errors(c.report, T("cli.errors-more-report", sheet=T("out.sheet-issues")))
    return 1 if c.report.errors else 0


def cmd_addin(args: argparse.Namespace) -> int:
    """``xhht addin build|install|uninstall``: the Excel add-in (one Vietnamese line on failure)."""
    from .excel import addin

    try:
        if args.action == "build":
            say(T("addin.built", path=addin.build(args.out)))
        elif args.action == "install":
            mail = {"MAIL_SERVER": args.mail_server, "MAIL_USER": args.mail_user,
                    "MAIL_SECURITY": args.mail_security, "MAIL_MAILBOX": args.mail_mailbox}  # fmt: skip
            if bool(args.mail_server) != bool(args.mail_user):
                raise CommandError(T("addin.mail-both"))
            if args.mail_server:
                from .mail import account

                account(args.mail_server, args.mail_user, args.mail_security or "ssl")  # checked now, not in Excel
            say(T("addin.installed", path=addin.install(args.python, args.startup_dir, mail=mail)))
            warning = addin.path_warning(args.python)
            if warning:
                say(warning, file=sys.stderr)
        else:
            folder = args.startup_dir or "XLSTART"
            say(
                T(
                    "addin.uninstalled" if addin.uninstall(args.startup_dir) else "addin.not-installed",
                    folder=folder,
                )
            )
    except addin.AddinError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _mail_account(args: argparse.Namespace):
    from .mail import account

    return account(args.server, args.user, args.security, args.cafile)


def cmd_mail_pull(args: argparse.Namespace) -> int:
    """``xhht mail pull``: every workbook of the mailbox into a folder, read-only on the server."""
    from .mail import password, pull

    acc = _mail_account(args)
    result = pull(args.folder, acc, password(acc), mailbox=args.mailbox, since=args.since, progress=_progress)
    for m in result.messages:
        o = m.origin
        when = o.received_at.strftime("%H:%M %d/%m/%Y")
        for f in m.files:
            key = "mail.pull-file" if f.new else "mail.pull-file-again"
            say(T(key, file=f.path, name=f.name, sender=o.sender or "?", when=when))
            if f.gate:
                from .safety import UnreadableFile

                say(T("mail.pull-file-refused", file=f.path, reason=UnreadableFile(f.gate, f.path).message))
        for issue in m.issues():
            say_issue(issue)
    problems = sum(1 for m in result.messages if any(i.severity != "info" for i in m.issues()))
    values = {"mailbox": args.mailbox, "account": acc.label, "known": result.known, "folder": args.folder}
    if result.messages:
        say(T("mail.pull-done", messages=len(result.messages), saved=len(result.saved),
              duplicates=len(result.duplicates), problems=problems, **values))  # fmt: skip
    else:
        say(T("mail.pull-nothing", **values))
    return 1 if problems else 0


def cmd_mail_drafts(args: argparse.Namespace) -> int:
    """``xhht mail drafts``: reply drafts with the returned copy, into Drafts or as .eml files."""
    from .mail import drafts as drafts_mod
    from .mail import password, session

    if args.eml is None and not (args.server and args.user):
        raise CommandError(T("mail.drafts-need-server"))
    plan = _load_plan(args)
    result = drafts_mod.load_result(args.result)
    acc = _mail_account(args) if args.server and args.user else None
    sender = args.sender or (acc.user if acc is not None else "")
    if "@" not in sender:
        raise CommandError(T("mail.drafts-need-from", user=sender))
    secret = password(acc) if args.eml is None else ""  # asked before the work, never after it
    made = drafts_mod.build(result, plan, sender=sender)
    for line in made.skipped:
        say(line)
    if not made.drafts:
        say(T("mail.drafts-none"))
        return 0
    if args.eml is not None:
        for path in drafts_mod.write_eml(made.drafts, args.eml):
            say(T("mail.drafts-written", path=path))
        say(T("mail.drafts-done-eml", count=len(made.drafts), folder=args.eml))
        return 0
    with session(acc, secret) as client:
        from .mail.imap import errors

        with errors(acc):
            added, present = drafts_mod.append(made.drafts, client, acc, args.drafts_mailbox)
    for d in added:
        say(T("mail.drafts-added", unit=d.unit, name=plan.units[d.unit].name, to=d.to, errors=d.errors,
              warnings=d.warnings, copy=d.copy_name))  # fmt: skip
    for d in present:
        say(T("mail.drafts-present", unit=d.unit, name=plan.units[d.unit].name, file=d.file))
    say(T("mail.drafts-done", added=len(added), present=len(present), account=acc.label,
          mailbox=args.drafts_mailbox or "Drafts"))  # fmt: skip
    return 0


def cmd_mail_password(args: argparse.Namespace) -> int:
    """``xhht mail password``: keep the mailbox password in the system keyring (asked, never an argument)."""
    import getpass

    from .mail import save_password

    acc = _mail_account(args)
    secret = getpass.getpass(T("mail.password-prompt", account=acc.label))
    if not secret:
        raise CommandError(T("mail.password-empty"))
    say(T("mail.password-saved", account=acc.label, keyring=save_password(acc, secret)))
    return 0


def _mail_server_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--server", required=required, metavar="HOST[:PORT]", help=T("mail.server-help"))
    p.add_argument("--user", required=required, help=T("mail.user-help"))
    p.add_argument("--security", choices=("ssl", "starttls", "none"), default="ssl", help=T("mail.security-help"))
    p.add_argument("--cafile", metavar="CA.pem", help=T("mail.cafile-help"))


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    result = demo.run(args.folder, _load_plan(args))
    return 0 if result.province is not None else 2


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xhht", description=T("cli.description"))
    parser.add_argument("--version", action="version", version=_version(), help=T("cli.version-help"))
    sub = parser.add_subparsers(dest="command", required=True, metavar=T("cli.command-metavar"))

    p = sub.add_parser("templates", help=T("cli.templates-help"))
    p.add_argument("folder", nargs="?", default="mau_bieu", type=Path, help=T("cli.templates-dir-help"))
    p.add_argument("--per-unit", action="store_true", help=T("cli.per-unit-help"))
    p.add_argument("--level", action="append", help=T("cli.level-help"))
    _plan_arg(p)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("validate", help=T("validate.help"))
    p.add_argument("files", nargs="+", metavar="FILE", help=T("validate.files-help"))
    p.add_argument("--json", metavar="OUT.json", type=output_file(".json"), help=T("validate.json-help"))
    p.add_argument("--return-copy", metavar="DIR", type=Path, help=T("validate.return-copy-help"))
    p.add_argument("--strict", action="store_true", help=T("validate.strict-help"))
    p.add_argument("--level", help=T("validate.level-help"))
    _plan_arg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("consolidate", help=T("cli.consolidate-help"))
    _consolidation_args(p)
    p.add_argument("-o", "--out", required=True, type=output_file(".xlsx", ".xlsm"), metavar="OUT.xlsx",
                   help=T("cli.out-help"))  # fmt: skip
    p.add_argument("--json", type=output_file(".json"), metavar="REPORT.json", help=T("cli.json-help"))
    p.add_argument("--facts", type=output_file(".csv"), metavar="FACTS.csv", help=T("cli.facts-help"))
    p.set_defaults(func=cmd_consolidate)

    p = sub.add_parser("report", help=T("report.help"))
    _consolidation_args(p)
    p.add_argument("-o", "--out", required=True, type=output_file(".docx"), metavar="REPORT.docx",
                   help=T("report.out-help"))  # fmt: skip
    p.add_argument("--awards", type=output_file(".xlsx"), metavar="AWARDS.xlsx", help=T("report.awards-help"))
    p.add_argument("--number", help=T("report.number-help"))
    p.add_argument("--cover", type=output_file(".docx"), metavar="TO_TRINH.docx", help=T("report.cover-help"))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("addin", help=T("addin.help"), description=T("addin.help"))
    actions = p.add_subparsers(dest="action", required=True, metavar="{build,install,uninstall}")
    a = actions.add_parser("build", help=T("addin.build-help"), description=T("addin.build-help"))
    a.add_argument("-o", "--out", type=output_file(".xlam"), default=Path("xhht_xl.xlam"), metavar="OUT.xlam",
                   help=T("addin.out-help"))  # fmt: skip
    a = actions.add_parser("install", help=T("addin.install-help"), description=T("addin.install-help"))
    a.add_argument("--python", metavar="PYTHON.EXE", help=T("addin.python-help"))
    a.add_argument("--startup-dir", type=Path, metavar="DIR", help=T("addin.startup-help"))
    a.add_argument("--mail-server", metavar="HOST[:PORT]", help=T("addin.mail-server-help"))
    a.add_argument("--mail-user", metavar="USER", help=T("addin.mail-user-help"))
    a.add_argument("--mail-security", choices=("ssl", "starttls", "none"), help=T("mail.security-help"))
    a.add_argument("--mail-mailbox", metavar="MAILBOX", help=T("mail.mailbox-help"))
    a = actions.add_parser("uninstall", help=T("addin.uninstall-help"), description=T("addin.uninstall-help"))
    a.add_argument("--startup-dir", type=Path, metavar="DIR", help=T("addin.startup-help"))
    p.set_defaults(func=cmd_addin)

    p = sub.add_parser("mail", help=T("mail.cli-help"), description=T("mail.cli-help"))
    actions = p.add_subparsers(dest="action", required=True, metavar="{pull,drafts,password}")
    a = actions.add_parser("pull", help=T("mail.pull-help"), description=T("mail.pull-help"))
    a.add_argument("folder", type=Path, metavar="OUT_DIR", help=T("mail.pull-folder-help"))
    _mail_server_args(a)
    a.add_argument("--mailbox", default="INBOX", help=T("mail.mailbox-help"))
    a.add_argument("--since", type=_date, metavar="DD/MM/YYYY", help=T("mail.since-help"))
    a.set_defaults(func=cmd_mail_pull)
    a = actions.add_parser("drafts", help=T("mail.drafts-help"), description=T("mail.drafts-help"))
    a.add_argument("result", type=Path, metavar="RESULT.json", help=T("mail.drafts-result-help"))
    _mail_server_args(a, required=False)
    a.add_argument("--drafts-mailbox", metavar="MAILBOX", help=T("mail.drafts-mailbox-help"))
    a.add_argument("--from", dest="sender", metavar="ADDRESS", help=T("mail.drafts-from-help"))
    a.add_argument("--eml", type=Path, metavar="DIR", help=T("mail.drafts-eml-help"))
    _plan_arg(a)
    a.set_defaults(func=cmd_mail_drafts)
    a = actions.add_parser("password", help=T("mail.password-help"), description=T("mail.password-help"))
    _mail_server_args(a)
    a.set_defaults(func=cmd_mail_password)

    p = sub.add_parser("demo", help=T("cli.demo-help"))
    p.add_argument("folder", nargs="?", default="xhht_demo", type=Path, help=T("cli.demo-dir-help"))
    _plan_arg(p)
    p.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from . import __version__

    return f"xhht_xl {__version__}"


def _one_line_errors() -> tuple[type[BaseException], ...]:
    from .consolidation import ConsolidationError
    from .fileio import OutputError
    from .intake import IntakeError
    from .mail.imap import MailError

    errors: list[type[BaseException]] = [
        CommandError,
        InputError,
        plan_mod.PlanError,
        OutputError,
        ConsolidationError,
        IntakeError,
        MailError,
    ]
    try:
        from .safety import UnreadableFile

        errors.append(UnreadableFile)
    except ImportError:  # pragma: no cover - safety is part of the package
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    with vietnamese_argparse():
        parser = build_parser()
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except plan_mod.PlanError as exc:  # its text says already what it is ("Lỗi dữ liệu kế hoạch: …")
        say(str(exc), file=sys.stderr)
        return 2
    except _one_line_errors() as exc:
        say(T("cli.error", text=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say(T("cli.interrupted"), file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # the store's ledger: disk full, damaged
        reason = T("io.errno-full") if "full" in str(exc).lower() else T("intake.store-damaged", text=exc)
        say(T("intake.store-failed", store="xhht_intake", reason=reason), file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, no permission...: one Vietnamese line, not errno text
        from .fileio import os_reason

        say(T("cli.os-error", file=exc.filename or "?", reason=os_reason(exc)), file=sys.stderr)
        return 2
    except Exception as exc:  # the clerk gets one line, the developer the trace
        from .fileio import write_error_log

        log = write_error_log(traceback.format_exc())
        say(T("cli.unexpected", text=exc, log=log or T("cli.no-log")), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
