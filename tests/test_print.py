"""What a clerk prints: every page of the templates and of a returned copy, rendered by LibreOffice
(vi-VN profile) on A4, has no text smaller than 9 pt on paper."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import clean_values, write_book
from openpyxl.styles import Font

from xhht_xl import lo, templates, validate
from xhht_xl.fileio import save_workbook
from xhht_xl.returned import write_returned_copy

pytestmark = pytest.mark.libreoffice
MIN_PT = 9.0
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def _word_heights(pdf: Path) -> list[list[tuple[float, str]]]:
    """Per page, (height of the word's box in points, word) as poppler measures it."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    pages = []
    for page in xml.split("<page ")[1:]:
        pages.append([(float(m[3]) - float(m[1]), m[4]) for m in _WORD.findall(page)])
    return pages


@pytest.fixture(scope="module")
def rendered(soffice, plan, official_templates, tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("print")
    # the measuring stick: 9 pt text at 100 % in the templates' font
    stick = templates.new_workbook()
    templates.put(stick.active, (1, 1), "Chữ mẫu chín điểm", font=Font(name=templates.FONT, size=MIN_PT))
    paths = [save_workbook(stick, work / "src" / "thuoc_do.xlsx")]
    # the communes', the province's and one department's template, as the session wrote them
    # (``write_templates``: tests/conftest.py, read only)
    paths += [p for p in official_templates if p.name in ("mau_xa.xlsx", "mau_tinh.xlsx", "mau_so_nganh_SNV.xlsx")]
    assert len(paths) == 4
    values = clean_values(plan)
    values[("kq", "GDHT", 2020, "num")] = -3
    values[("kq", "DHHT", 2020, "num")], values[("kq", "DHHT", 2020, "den")] = 9_876_543, 9_999_999  # widest
    values[("kq", "GDHT", 2015, "den")] = "1.234.567"
    src = write_book(work / "in" / "bao_cao.xlsx", plan, "xa", values)
    paths.append(write_returned_copy(validate(src, plan), plan, work / "src"))
    pdfs = lo.convert(paths, "pdf", work / "pdf", work, locale="vi-VN")
    return {p.stem: pdf for p, pdf in zip(paths, pdfs, strict=True)}


def test_no_text_under_9_points_on_paper_and_no_hashes(rendered):
    (stick,) = _word_heights(rendered["thuoc_do"])
    nine = min(h for h, _ in stick)  # the box of a 9 pt word, as poppler measures it
    checked = 0
    for name, pdf in rendered.items():
        if name == "thuoc_do":
            continue
        for number, words in enumerate(_word_heights(pdf), start=1):
            small = [(round(h / nine * MIN_PT, 1), w) for h, w in words if h < nine * 0.995]
            assert not small, f"{name}.pdf page {number}: {small[:5]}"
            assert not [w for _, w in words if w.startswith("###")], f"{name}.pdf page {number}: a number too wide"
            checked += len(words)
    assert checked > 3000


def test_results_sheet_prints_at_a_readable_scale(rendered, plan):
    """Phụ lục 1 of the commune template fits A4 landscape at 85 % or more (it printed near 60 %)."""
    (stick,) = _word_heights(rendered["thuoc_do"])
    nine = min(h for h, _ in stick)
    pages = _word_heights(rendered["mau_xa"])
    title = next(i for i, words in enumerate(pages) if any(w == "PHỤ" for _, w in words))
    body = [h for h, w in pages[title] if w == "Tỷ"]  # "Tỷ lệ …" in 11 pt names and headers
    scale = min(body) / (nine * 11 / MIN_PT)
    assert scale >= 0.85, scale
