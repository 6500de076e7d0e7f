"""The pipeline as functions a reader can follow: validate one workbook; (later) consolidate a folder.

The CLI and the Excel ribbon both call these; neither holds logic of its own.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from dataclasses import dataclass
from pathlib import Path

from . import checks, safety
from . import plan as plan_mod
from . import read as read_mod
from .issues import Report
from .plan import Plan
from .submission import Submission


@dataclass
class Validation:
    path: Path
    submission: Submission | None  # None when the file could not be read at all
    report: Report

    @property
    def readable(self) -> bool:
        return self.submission is not None


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector off while the pipeline builds many acyclic objects (cells, entries,
    frames' values): each collection walks every young object, and every tenth of those the
    loaded plan and layouts too (~30 % of a consolidation's own CPU at 2,000 workbooks, ~7 % of
    reading one workbook). Restored as it was, whatever happens; the few cycles made meanwhile
    are collected afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def collector_paused_during(func):
    """``func`` run with :func:`collector_paused`."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        with collector_paused():
            return func(*args, **kwargs)

    return run


@collector_paused_during
def validate(
    path: str | Path,
    plan: Plan | None = None,
    *,
    expected_level: str | None = None,
    file: str | None = None,
    data: bytes | None = None,
) -> Validation:
    """Read and check one received workbook. An unreadable file gives one issue with the intake
    gate's code; a failure of the reader or a check on this file gives one ``file-failed`` error
    naming it (the caller goes on with the next file). ``data``: the file's bytes, already read."""
    plan = plan or plan_mod.load()
    path = Path(path)
    label = file or path.name
    try:
        sub = read_mod.read(path, plan, file=label, data=data)
        return Validation(path, sub, Report(checks.run_checks(sub, plan, expected_level)))
    except safety.UnreadableFile as exc:
        return Validation(path, None, Report([read_mod.unreadable_issue(exc, label)]))
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:  # a defect met by this one file (or a native panic): name it
        return Validation(path, None, Report([read_mod.failed_issue(exc, label)]))
