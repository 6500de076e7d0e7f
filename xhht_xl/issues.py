"""Problems found in the data, as data: each issue has a stable code, a severity and a place.

Modelled on frictionless-py's report: tests assert on flattened lists such as
``[("a.xlsx", "Kết quả", "E7", "num-exceeds-den")]``; users read ``message`` (Vietnamese).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from . import messages

Severity = Literal["error", "warning", "info"]

# Every code a check may emit, with its severity. Messages live in messages/checks.toml
# under the same code ("check.<code>").
SEVERITY: dict[str, Severity] = {
    # the file and the template (a file the intake gate refuses carries the gate's own code,
    # e.g. "pdf", "encrypted", "zip-bomb", always with severity error)
    "template-unknown": "error",
    "meta-missing": "warning",
    "template-other-plan": "error",
    "template-version": "warning",
    "sheet-missing": "error",
    "sheet-renamed": "warning",
    "label-changed": "warning",
    "names-lost": "info",
    "formula-replaced": "warning",
    "macros": "warning",
    "external-links": "warning",
    "file-note": "info",
    # reading: sender text, typed formulas, data where the template has no cell (messages/read.toml)
    "text-cleaned": "info",
    "formula-in-input": "warning",
    "formula-in-input-cached": "warning",
    "formula-unevaluable": "error",
    "cell-far": "warning",
    "rows-beyond-table": "error",
    "data-outside": "warning",
    "cells-outside": "warning",
    "file-failed": "error",
    # intake (messages/read.toml)
    "files-skipped": "info",
    "own-output": "info",
    "lock-recovered": "info",
    # the mailbox intake (messages/mail.toml): a message that brought no workbook is listed
    "mail-no-attachment": "info",
    "mail-no-workbook": "warning",
    "mail-unparseable": "warning",
    "mail-too-big": "warning",
    "mail-attachment-refused": "warning",
    "mail-ledger-unreadable": "warning",
    # the unit
    "unit-missing": "error",
    "unit-unknown": "error",
    "unit-wrong-level": "error",
    "unit-old-code": "warning",
    "unit-not-expected": "error",
    "unit-info-missing": "warning",
    "date-invalid": "warning",
    # values
    "number-as-text": "warning",
    "number-ambiguous": "error",
    "value-invalid": "error",
    "count-not-integer": "error",
    "count-negative": "error",
    "num-exceeds-den": "error",
    "denominator-mismatch": "warning",
    "amount-negative": "error",
    "amount-scale": "warning",
    "legacy-encoding": "warning",
    # nominations and narrative
    "nomination-incomplete": "error",
    "nomination-award-unknown": "error",
    "nomination-kind-unknown": "error",
    "nomination-unit-unknown": "error",
    "nomination-no-quota": "warning",
    "narrative-empty": "warning",
    # consolidation (intake, deadlines, quotas)
    "late": "warning",
    "missing": "error",
    "superseded": "info",
    "unassigned": "warning",
    "duplicate-unit": "info",
    "quota-exceeded": "error",
    "duplicate-nominee": "error",
    "nominee-outside": "error",
    "source-mismatch": "info",
    "versions-unordered": "warning",
    "versions-unordered-same-date": "warning",
    "correction-late": "info",
    "below-missing": "warning",
    "coverage-unknown": "info",
    "detail-row-invalid": "warning",
}


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    severity: Severity
    message: str
    unit: str = ""
    file: str = ""
    sheet: str = ""
    cell: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def make(
    code: str, /, *, file: str = "", sheet: str = "", cell: str = "", unit: str = "", **values: object
) -> Issue:
    """An issue whose one-line Vietnamese message names the file, sheet and cell."""
    text = messages.text(f"check.{code}", **values)
    if file and sheet and cell:
        line = messages.text("common.file-sheet-cell", file=file, sheet=sheet, cell=cell, text=text)
    elif file and sheet:
        line = messages.text("common.file-sheet", file=file, sheet=sheet, text=text)
    elif file:
        line = messages.text("common.file-only", file=file, text=text)
    else:
        line = text
    return Issue(code, SEVERITY[code], line, unit=unit, file=file, sheet=sheet, cell=cell)


class Report:
    """An ordered collection of issues with views for people, programs and pandas."""

    def __init__(self, issues: Iterable[Issue] = ()):
        self.issues: list[Issue] = list(issues)

    def add(self, issue: Issue) -> None:
        self.issues.append(issue)

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def flatten(self, fields: tuple[str, ...] = ("file", "sheet", "cell", "code")) -> list[tuple]:
        return [tuple(getattr(i, f) for f in fields) for i in self.issues]

    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    def frame(self, plan=None):
        """The issues as a pandas DataFrame, one row per issue, in the schema ``issues``
        (``xx.schema("issues")``); ``plan`` gives the unit codes' categories (the ones of every
        other frame of that plan; without it: the codes present)."""
        import pandas as pd

        from .frames import conform, schema

        columns = schema("issues").names
        return conform("issues", pd.DataFrame([i.as_dict() for i in self.issues], columns=columns), plan)

    def to_json(self) -> str:
        return json.dumps([i.as_dict() for i in self.issues], ensure_ascii=False, indent=1)

    def write_json(self, path: str | Path) -> Path:
        from .fileio import write_text

        return write_text(path, self.to_json())
