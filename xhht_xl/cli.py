"""The ``xhht`` command: the same pipeline as the Excel ribbon, from a terminal.

Exit codes: 0 done (no errors found), 1 errors found in the data, 2 could not run.
Every failure is one Vietnamese line on stderr; the full trace goes to a log file only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import messages
from . import plan as plan_mod

T = messages.text
log = logging.getLogger("xhht_xl")


class CommandError(Exception):
    """Stop the command with a one-line message and exit code 2."""


def _plan_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="DIR", help=T("cli.plan-help"))


def _load_plan(args: argparse.Namespace) -> plan_mod.Plan:
    return plan_mod.load(args.plan)


def cmd_templates(args: argparse.Namespace) -> int:
    from . import templates

    plan = _load_plan(args)
    for level in args.level or ():
        if level not in plan.levels:
            raise CommandError(T("plan.unknown-level", level=level))
    paths = templates.write_templates(plan, args.folder, per_unit=args.per_unit, levels=args.level)
    print(T("cli.templates-done", count=len(paths), folder=args.folder))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xhht", description=T("cli.description"))
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("templates", help=T("cli.templates-help"))
    p.add_argument("folder", nargs="?", default="mau_bieu", type=Path, help=T("cli.templates-dir-help"))
    p.add_argument("--per-unit", action="store_true", help=T("cli.per-unit-help"))
    p.add_argument("--level", action="append", help=T("cli.level-help"))
    _plan_arg(p)
    p.set_defaults(func=cmd_templates)
    return parser


def _version() -> str:
    from . import __version__

    return f"xhht_xl {__version__}"


def _one_line_errors() -> tuple[type[BaseException], ...]:
    from .fileio import OutputError

    errors: list[type[BaseException]] = [CommandError, plan_mod.PlanError, OutputError]
    try:
        from .safety import UnreadableFile

        errors.append(UnreadableFile)
    except ImportError:  # pragma: no cover - safety is part of the package
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _one_line_errors() as exc:
        print(T("cli.error", text=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(T("cli.interrupted"), file=sys.stderr)
        return 2
    except Exception as exc:  # the clerk gets one line, the developer the trace
        log_path = Path(tempfile.gettempdir()) / "xhht_xl-error.log"
        log_path.write_text(traceback.format_exc(), encoding="utf-8")
        print(T("cli.unexpected", text=exc, log=log_path), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
