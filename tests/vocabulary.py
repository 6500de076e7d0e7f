"""Internal tokens where a clerk reads: issue codes, level codes, indicator and department codes,
``yes/no/partial/missing/n/a``, ISO dates and data keys (CLERK.md, "Words").

A code may stand in a column headed «Mã …» or in brackets after its name; file names and paths
(which the clerk or a sender chose) are not words. Used by ``tests/test_vocabulary.py`` over every
workbook the demo writes and every console line of the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from xhht_xl.plan import Plan

# a code in brackets after its name: "(XMC_BC_15_35)", one token only
_BRACKETS = re.compile(r"\(\s*[\w./-]+\s*\)")
# a path (has a slash) or a file name, which may hold spaces: "SNV - Báo cáo tổng kết.xlsx"
_PATH = re.compile(
    r"(?:[A-Za-z]:)?[\w.~$-]*[/\\][^\s,;«»\"']*|[^,;:«»\"'()\n]*?\.(?:xlsx|xlsm|xls|ods|csv|json|docx|pdf|xlam|log|txt|db)\b",
    re.IGNORECASE,
)
_KEBAB = re.compile(r"(?<![\w/.])[a-z]+(?:-[a-z]+)+(?![\w/.])")
_STATE = re.compile(r"(?<![\w/])(?:yes|no|partial|missing|n/a|self|none|true|false|nan|None|NaN)(?![\w/])")
_ISO = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?(?!\d)")
_KEY = re.compile(r"(?<![\w/])(?:kq|kp|bc|unit|kt)/\S+")
# level codes that are not Vietnamese words by themselves ("xa", "tinh" are: "vùng xa", "tinh thần")
_LEVEL_WORDS = re.compile(r"(?<![\w])(?:huyen|so_nganh)(?![\w])")
# what the clerk types on the command line, shown as an example: "--level huyen", "--unit 798"
_TYPED = re.compile(r"--[a-z-]+(?:[ =][^\s:;,.]+)?")
_QUOTED = re.compile(r"«([^«»]*)»|\"([^\"]*)\"|'([^']*)'")


def _codes(plan: Plan) -> tuple[set[str], set[str]]:
    """Indicator codes, and the codes of units named by letters (departments: SNV, SGDDT…)."""
    units = {u.code for u in plan.units.values() if not u.code.isdigit()}
    return set(plan.indicators), units


# Per plan object: its codes and the tokens already found per text. A scan over every workbook the
# demo writes meets the same labels thousands of times; ``tokens`` is a pure function of both.
_SEEN: dict[int, tuple[Plan, set[str], set[str], set[str], dict[str, list[str]]]] = {}


def tokens(text: str, plan: Plan) -> list[str]:
    """The internal tokens in ``text`` outside brackets and file names."""
    seen = _SEEN.get(id(plan))
    if seen is None or seen[0] is not plan:
        seen = _SEEN[id(plan)] = (plan, *_codes(plan), set(plan.levels), {})
    memo = seen[4]
    if text not in memo:
        memo[text] = _tokens(text, *seen[1:4])
    return list(memo[text])


def _tokens(text: str, indicators: set[str], units: set[str], levels: set[str]) -> list[str]:
    unbracketed = _BRACKETS.sub(" ", _TYPED.sub(" ", text))
    found = [m.group(0) for m in _KEY.finditer(unbracketed)]  # "kq/GDHT/2020/num" looks like a path
    bare = _PATH.sub(" ", _KEY.sub(" ", unbracketed))
    found += [m.group(0) for rx in (_KEBAB, _STATE, _ISO, _LEVEL_WORDS) for m in rx.finditer(bare)]
    for m in re.finditer(r"[A-Za-z0-9_]+", bare):
        word = m.group(0)
        if word in indicators or (word in units and not bare.startswith(" - ", m.end())):
            found.append(word)  # "SNV - Sở Nội vụ" is the plan's unit label (code beside its name)
    stripped = bare.strip()
    if stripped in levels:  # a whole cell or line that is a level code
        found.append(stripped)
    for m in _QUOTED.finditer(bare):  # «huyen», "tinh": a level code quoted as a name
        inner = next(g for g in m.groups() if g is not None).strip()
        if inner in levels:
            found.append(inner)
    found += [m.group(1) for m in re.finditer(r"(?i)cấp\s+(xa|tinh|huyen|so_nganh)\b", bare)]
    return found


def workbook_offences(path: Path, plan: Plan) -> Iterator[str]:
    """"file › sheet › cell: token" for each token in a visible sheet's string cells, outside
    columns headed «Mã …»."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    hidden = _hidden_cells(path)
    for meta in wb.sheets_metadata:
        if "hidden" in str(meta.visible).lower():  # _meta, _ds, _coverage: read by the tool, not a clerk
            continue
        rows = wb.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        hidden_cols, hidden_rows = hidden.get(meta.name, (set(), set()))
        code_cols: set[int] = set()
        for r, row in enumerate(rows, start=1):
            if r in hidden_rows:
                continue
            for c, value in enumerate(row):
                if not isinstance(value, str) or not value.strip() or c + 1 in hidden_cols:
                    continue
                if value.strip().startswith("Mã "):
                    code_cols.add(c)
                    continue
                if c in code_cols:
                    continue
                for tok in tokens(value, plan):
                    yield f"{path.name} › {meta.name} › R{r}C{c + 1}: {tok!r} in {value[:120]!r}"


def _hidden_cells(path: Path) -> dict[str, tuple[set[int], set[int]]]:
    """Per sheet name, the hidden columns and rows (1-based) of an .xlsx: a clerk does not see them
    (the templates' helper columns hold target kinds such as "none")."""
    import posixpath
    import xml.etree.ElementTree as ET
    import zipfile

    from lxml import etree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    out: dict[str, tuple[set[int], set[int]]] = {}
    with zipfile.ZipFile(path) as zf:
        book = ET.fromstring(zf.read("xl/workbook.xml"))
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        for sheet in book.iter(f"{main}sheet"):
            target = targets[sheet.get(f"{rel}id")]
            part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            cols: set[int] = set()
            rows: set[int] = set()
            # only <col> and <row> elements are built (lxml's tag filter); a row's cells are dropped
            for _event, el in etree.iterparse(zf.open(part), events=("end",), tag=(f"{main}col", f"{main}row")):
                if el.tag == f"{main}col" and el.get("hidden") in ("1", "true"):
                    cols.update(range(int(el.get("min")), int(el.get("max")) + 1))
                elif el.tag == f"{main}row":
                    if el.get("hidden") in ("1", "true"):
                        rows.add(int(el.get("r")))
                    el.clear(keep_tail=True)
                    while el.getprevious() is not None:
                        del el.getparent()[0]
            out[sheet.get("name")] = (cols, rows)
    return out


def line_offences(lines: Iterable[str], plan: Plan) -> Iterator[str]:
    for line in lines:
        for tok in tokens(line, plan):
            yield f"{tok!r} in {line[:160]!r}"
