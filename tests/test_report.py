"""The draft review report (.docx), its covering submission and the award list (.xlsx) of the demo
province and a district: what the synthesis says, the document form (NĐ 30/2020), and the
LibreOffice render (page counts, figures as the consolidated workbook displays them)."""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from docx import Document
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph
from lxml import etree

from xhht_xl import aggregate, layout, lo, messages, outputs, quotas, report, textnorm
from xhht_xl import plan as plan_mod
from xhht_xl.aggregate import Member
from xhht_xl.plan import round_rate
from xhht_xl.report import text as rtext

T = messages.text
REPO = Path(__file__).resolve().parent.parent
DISTRICT = "794"  # Thành phố Tân An
HOSTILE_UNIT = "795"  # Thị xã Kiến Tường: its narrative is replaced by hostile text
CONTROL = "Mở đầu\x00\x01\x07\x0b\x0c\x1b\x1f\ufffe kết thúc"
LONG = " ".join(f"t{i}" for i in range(1200))[:5000]
FORMULA = "=SUM(A1)"
ANNEX = re.compile(r"^PHỤ LỤC [IVX]+$")


@pytest.fixture(scope="session")
def result(demo_run):
    """The shared demo run (tests/conftest.py)."""
    return demo_run


def _with_texts(c, texts: dict[str, dict[str, str | None]], noms: dict[int, dict] | None = None):
    """A copy of consolidation ``c`` whose members' narratives are changed: ``{unit: {item: text}}``
    (None removes the item); ``noms`` changes nomination rows by position."""
    members = []
    for m in c.members:
        change = texts.get("own" if m.own else m.unit)
        if change:
            entries = dict(m.sub.entries)
            for item, text in change.items():
                key = ("bc", item)
                if text is None:
                    entries.pop(key, None)
                else:
                    entries[key] = dataclasses.replace(entries[key], value=text, raw=text)
            m = Member(m.unit, m.level, dataclasses.replace(m.sub, entries=entries), m.own)
        members.append(m)
    nominations = c.nominations.copy()
    for i, values in (noms or {}).items():
        for col, value in values.items():
            nominations.loc[nominations.index[i], col] = value
    return dataclasses.replace(c, members=members, nominations=nominations)


@pytest.fixture(scope="session")
def out(result, tmp_path_factory) -> dict[str, Path]:
    """The province's and district DISTRICT's reports, the award list and the province workbook as
    the demo wrote them (``report.write_report``, ``write_award_list``, ``write_workbook`` of the
    same consolidations; copied here under the names the tests use), and a hostile copy's."""
    folder = tmp_path_factory.mktemp("report")
    p = result.province
    silent_item = "II.3"  # nobody wrote this item in the hostile copy
    texts = {"own" if m.own else m.unit: {silent_item: None} for m in p.members}
    texts[HOSTILE_UNIT] |= {"I.1": CONTROL, "I.2": LONG, "I.3": FORMULA}
    hostile = _with_texts(p, texts, noms={0: {"summary": FORMULA, "name": "Dòng họ\x07 Đặng"}})
    province = _copied(result.outputs["report"], folder / "bao_cao_tinh.docx")
    _copied(report.cover_path(p, result.outputs["report"]), report.cover_path(p, province))
    demo_district = result.outputs["district_report"]
    return {
        "province": province,
        "district": _copied(demo_district, folder / f"bao_cao_{DISTRICT}.docx")
        if demo_district.name.startswith(f"{DISTRICT}_")
        else report.write_report(result.districts[DISTRICT], folder / f"bao_cao_{DISTRICT}.docx"),
        "hostile": report.write_report(hostile, folder / "bao_cao_hostile.docx", cover=False),
        "hostile_awards": report.write_award_list(hostile, folder / "khen_thuong_hostile.xlsx"),
        "awards": _copied(result.outputs["awards"], folder / "danh_sach_khen_thuong.xlsx"),
        "workbook": _copied(result.outputs["province"], folder / "80_tong_hop_tinh.xlsx"),
        "folder": folder,
    }


def _copied(src: Path, dst: Path) -> Path:
    """A copy of one of the shared demo's files (which stay as they are for other workers)."""
    return Path(shutil.copyfile(src, dst))


# -- reading the document back -------------------------------------------------------------------


def _label(code: str) -> str:
    parts = code.split(".")
    return parts[0] + "." if len(parts) == 1 else ".".join(parts[1:]) + "."


def _blocks(doc):
    """Paragraphs and tables in document order."""
    for child in doc.element.body.iterchildren():
        if child.tag.endswith("}p"):
            yield Paragraph(child, doc)
        elif child.tag.endswith("}tbl"):
            yield DocxTable(child, doc)


def _body(doc) -> list:
    """The blocks before the first annex."""
    out = []
    for b in _blocks(doc):
        if isinstance(b, Paragraph) and ANNEX.match(b.text.strip()):
            break
        out.append(b)
    return out


def _annexes(doc) -> dict[str, list]:
    """``{"PHỤ LỤC I": [blocks…]}``."""
    out: dict[str, list] = {}
    current = None
    for b in _blocks(doc):
        if isinstance(b, Paragraph) and ANNEX.match(b.text.strip()):
            current = b.text.strip()
            out[current] = []
        elif current:
            out[current].append(b)
    return out


def _sections(doc, plan) -> dict[str, list[str]]:
    """Body paragraph texts under each outline heading (key: item code; "CD": the topics section)."""
    by_text = {f"{_label(o.code)} {o.title}": o.code for o in plan.settings.outline}
    by_text[T("report.topics-title")] = layout.TOPIC_ITEM
    out: dict[str, list[str]] = {}
    current = None
    for p in _body(doc):
        if not isinstance(p, Paragraph):
            continue
        if p.style.name.startswith("Heading"):
            current = by_text.get(p.text, current)
            out.setdefault(current, [])
        elif current is not None and p.text.strip():
            out[current].append(p.text)
    return out


def _captioned(blocks) -> dict[str, DocxTable]:
    """Tables by the caption paragraph just above them ("Bảng 2. …")."""
    out, last = {}, ""
    for b in blocks:
        if isinstance(b, Paragraph):
            if b.text.strip():
                last = b.text.strip()
        else:
            out[last] = b
    return out


def _table(blocks, caption_key: str, **kw) -> DocxTable:
    prefix = T(caption_key, n=0, **kw).split(".", 1)[1]
    (t,) = [t for cap, t in _captioned(blocks).items() if cap.split(".", 1)[-1] == prefix]
    return t


def _number(text: str) -> float | None:
    return float(text.replace(".", "").replace(",", ".")) if text else None


def _split(text: str) -> list[str]:
    """Sentences, split independently of the report's own splitter: after . ! ? and a space when
    the next character is upper case or an opening quote."""
    parts = re.split(r"(?<=[.!?])\s+(?=[“\"(«]?[^\W\d_])", " ".join(text.split()))
    out = []
    for part in parts:
        if out and part[:1].islower():
            out[-1] += " " + part
        else:
            out.append(part)
    return [p for p in out if p]


def _pdf_pages(pdf: Path) -> list[str]:
    """Each page's text as ``pdftotext -f i -l i`` gives it (ending in a form feed), from one run over
    the whole document (which ends every page with a form feed), as many pages as pdfinfo counts."""
    n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                        check=True).stdout).group(1))  # fmt: skip
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [page + "\f" for page in text.split("\f")[:-1]]
    assert len(pages) == n, (pdf.name, len(pages), n)
    return pages


def _need_writer():
    if not any(Path(lo.soffice()).resolve().parent.glob("libswlo.so")):
        if os.environ.get("XHHT_REQUIRE_LIBREOFFICE"):
            pytest.fail("LibreOffice Writer is required here: apt-get install -y libreoffice-writer")
        pytest.skip("LibreOffice Writer (libreoffice-writer) is not installed")


# -- the library --------------------------------------------------------------------------------------


def test_library_does_not_import_the_demo():
    code = "import sys, xhht_xl.report, xhht_xl.cli; print('xhht_xl.demo' in sys.modules, 'xhht_xl.synth' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_vietnamese_numbers():
    assert rtext.fmt_int(1417) == "1.417" and rtext.fmt_int(1234567.0) == "1.234.567"
    assert rtext.fmt_amount(16046.7) == "16.046,7" and rtext.fmt_amount(0.05) == "0,1"  # half-up, as Excel
    assert rtext.fmt_rate(98.104) == "98,1" and rtext.fmt_rate(93.548) == "93,5" and rtext.fmt_rate(2.25) == "2,3"
    assert rtext.fmt_pct(98.104) == "98,1\u00a0%" and rtext.fmt_pct(float("nan")) == ""
    assert rtext.vn_numbers("với 1417 lượt người năm 2020 (QĐ 781/QĐ-UBND; 12345 học viên; 1.417 tin)") == (
        "với 1.417 lượt người năm 2020 (QĐ 781/QĐ-UBND; 12.345 học viên; 1.417 tin)"
    )


def test_sentences_and_near_duplicates(plan):
    text = "Ngay sau khi UBND tỉnh ban hành Quyết định 781/QĐ-UBND, TP. Tân An đã quán triệt. Đã tổ chức 1.417 lượt."
    assert rtext.sentences(text) == ["Ngay sau khi UBND tỉnh ban hành Quyết định 781/QĐ-UBND, TP. Tân An đã quán triệt.",
                                     "Đã tổ chức 1.417 lượt."]  # fmt: skip
    said = [
        "UBND huyện Tân Hưng đã tổ chức 12 hội nghị quán triệt với 1417 lượt người tham dự.",
        "UBND xã Bình Tâm đã tổ chức 3 hội nghị quán triệt với 210 lượt người tham dự.",
        "Đề nghị cấp trên tiếp tục bố trí kinh phí cho trung tâm học tập cộng đồng.",
        "UBND phường 5 đã tổ chức 7 hội nghị quán triệt với 96 lượt người tham dự.",
    ]
    points = rtext.group(rtext.Said(str(i), s, rtext.shingles(s, plan), i) for i, s in enumerate(said))
    assert [p.units for p in points] == [["0", "1", "3"], ["2"]]
    assert points[0].representative().sentence in said
    assert rtext.quantities(said[:2], ["hội nghị", "lượt người"]) == {"hội nghị": 12, "lượt người": 1417}


# -- form (NĐ 30/2020) ----------------------------------------------------------------------------------


def test_outline_headings_in_order(out, result):
    plan = result.province.plan
    doc = Document(out["province"])
    headings = [p.text for p in _body(doc) if isinstance(p, Paragraph) and p.style.name.startswith("Heading")]
    expected = [f"{_label(o.code)} {o.title}" for o in plan.settings.outline]
    positions = [headings.index(h) for h in expected]  # every outline item is a heading...
    assert positions == sorted(positions)  # ...in the outline's order
    topics = headings.index(T("report.topics-title"))  # the departments' topics: after III.4, before IV
    assert headings.index(expected[-4]) < topics < headings.index(expected[-3])
    district = Document(out["district"])
    d_heads = [p.text for p in _body(district) if isinstance(p, Paragraph) and p.style.name.startswith("Heading")]
    assert [h for h in d_heads if h in expected] == expected
    assert T("report.topics-title") not in d_heads


def test_official_form(out, result, tmp_path):
    doc = Document(out["province"])
    for s in doc.sections:
        assert (round(s.page_width.mm), round(s.page_height.mm)) == (210, 297)  # A4 portrait throughout
        top, bottom, left, right = (round(m.mm, 1) for m in
                                    (s.top_margin, s.bottom_margin, s.left_margin, s.right_margin))  # fmt: skip
        assert 20 <= top <= 25 and 20 <= bottom <= 25 and 30 <= left <= 35 and 15 <= right <= 20
    normal = doc.styles["Normal"].font
    assert normal.name == "Times New Roman" and 13 <= normal.size.pt <= 14
    head = doc.tables[0]
    left, right = head.rows[0].cells[0].text, head.rows[0].cells[1].text
    # UBND tỉnh issues the provincial report (KH 137 mục III.2.2, VI.2.1); its name in full
    assert left.split("\n")[:2] == ["ỦY BAN NHÂN DÂN", "TỈNH LONG AN"]
    assert right.split("\n")[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    number, place = head.rows[1].cells[0].text, head.rows[1].cells[1].text
    assert number.startswith("Số:") and number.endswith("/BC-UBND")
    assert place == "Long An, ngày … tháng … năm 2020"
    paras = [p.text for p in doc.paragraphs]
    title = paras.index("BÁO CÁO")
    assert paras[title + 1] == (
        "Tổng kết thực hiện Đề án “Xây dựng xã hội học tập giai đoạn 2012-2020” trên địa bàn tỉnh Long An"
    )
    closing = next(t for t in _body(doc)[::-1] if isinstance(t, DocxTable)).rows[0].cells
    recipients = closing[0].text.split("\n")
    assert recipients[:2] == ["Nơi nhận:", "- Bộ Giáo dục và Đào tạo (b/c);"] and recipients[-1] == "- Lưu: VT."
    assert closing[1].text.startswith("TM. ỦY BAN NHÂN DÂN\n")
    assert doc.sections[0].different_first_page_header_footer
    assert "PAGE" in doc.sections[0].header._element.xml
    # a district: its people's committee, in full, from its own place, to Sở GD&ĐT
    district = Document(out["district"])
    d_head = district.tables[0]
    assert d_head.rows[0].cells[0].text.split("\n")[:2] == ["ỦY BAN NHÂN DÂN", "THÀNH PHỐ TÂN AN"]
    assert d_head.rows[1].cells[0].text.endswith("/BC-UBND")
    assert d_head.rows[1].cells[1].text.startswith("Tân An, ngày")
    d_closing = next(t for t in _body(district)[::-1] if isinstance(t, DocxTable)).rows[0].cells
    assert d_closing[0].text.split("\n")[1:3] == ["- Sở Giáo dục và Đào tạo (b/c);", "- TT. Thành ủy, TT. HĐND (b/c);"]
    assert d_closing[1].text.startswith("TM. ỦY BAN NHÂN DÂN\n")
    # number and date given
    path = report.write_report(result.districts[DISTRICT], tmp_path / "so.docx", number="123", date=dt.date(2020, 2, 3))
    given = Document(path).tables[0].rows[1].cells
    assert given[0].text == "Số: 123/BC-UBND"
    assert given[1].text == "Tân An, ngày 03 tháng 02 năm 2020"
    assert not list(tmp_path.glob("*to_trinh*"))  # a district submits no tờ trình in this plan


def test_cover_submission(out, result):
    """Sở GD&ĐT's tờ trình submitting the draft to UBND tỉnh (KH 137 mục VI.2.1)."""
    c = result.province
    path = report.cover_path(c, out["province"])
    assert path == out["province"].with_name("bao_cao_tinh_to_trinh.docx") and path.exists()
    doc = Document(path)
    head = doc.tables[0]
    assert head.rows[0].cells[0].text.split("\n")[:2] == ["UBND TỈNH LONG AN", "SỞ GIÁO DỤC VÀ ĐÀO TẠO"]
    assert head.rows[1].cells[0].text.endswith("/TTr-SGDĐT")
    texts = [p.text for p in doc.paragraphs]
    assert "TỜ TRÌNH" in texts and "Kính gửi: Ủy ban nhân dân tỉnh Long An." in texts
    body = "\n".join(texts)
    assert "trước ngày 10/10/2020" in body and "Bộ Giáo dục và Đào tạo" in body
    sel = report.selection(c)
    assert f"{sel.count('collective'):02d} tập thể và {sel.count('individual'):02d} cá nhân" in body
    assert doc.tables[-1].rows[0].cells[1].text.startswith("GIÁM ĐỐC")
    assert report.cover_path(result.districts[DISTRICT], out["district"]) is None


def test_the_cover_written_beside_the_report_is_the_cover_alone(out, result, tmp_path):
    """write_report builds the cover from the report's own synthesis (report_and_cover); the
    cover must be what write_cover makes from the consolidation by itself, part for part."""
    c = result.province
    alone = report.write_cover(c, tmp_path / "alone.docx")
    beside = report.cover_path(c, out["province"])
    with zipfile.ZipFile(alone) as a, zipfile.ZipFile(beside) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    # and the report written without a cover is the same document
    bare = report.write_report(c, tmp_path / "bare.docx", cover=False)
    with zipfile.ZipFile(bare) as a, zipfile.ZipFile(out["province"]) as b:
        assert a.read("word/document.xml") == b.read("word/document.xml")


def test_the_plan_says_who_issues(result, plan_copy, tmp_path):
    """Another plan can have the report issued by another body, with other recipients."""
    toml = plan_copy / "plan.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace('level = "tinh"\nkind = "report"\nissuer = "committee"',
                        'level = "tinh"\nkind = "report"\nissuer = "SGDDT"', 1)  # fmt: skip
    text = text.replace('signer = ["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]\nrecipients = [\n    "Bộ',
                        'signer = ["GIÁM ĐỐC"]\nrecipients = [\n    "Bộ', 1)  # fmt: skip
    text = text.replace('level = "tinh"\nkind = "cover"', 'level = "huyen"\nkind = "cover"')
    toml.write_text(text, encoding="utf-8")
    other = plan_mod.load(plan_copy)
    c = dataclasses.replace(result.province, plan=other)
    doc = Document(report.write_report(c, tmp_path / "bc.docx"))
    head = doc.tables[0]
    assert head.rows[0].cells[0].text.split("\n")[:2] == ["UBND TỈNH LONG AN", "SỞ GIÁO DỤC VÀ ĐÀO TẠO"]
    assert head.rows[1].cells[0].text.endswith("/BC-SGDĐT")
    assert next(t for t in _body(doc)[::-1] if isinstance(t, DocxTable)).rows[0].cells[1].text.startswith("GIÁM ĐỐC")
    assert not (tmp_path / "bc_to_trinh.docx").exists()  # the cover moved to the district level
    bad = text.replace('issuer = "SGDDT"', 'issuer = "KHONG_CO"', 1)
    toml.write_text(bad, encoding="utf-8")
    with pytest.raises(plan_mod.PlanError, match="KHONG_CO"):
        plan_mod.load(plan_copy)


def test_a_plan_without_report_settings(result, plan_copy, tmp_path):
    """Without ``[report]`` the committee of the consolidating unit issues the report with the
    default signature; funding and timeliness are still stated."""
    toml = plan_copy / "plan.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text[: text.index("\n[report]")], encoding="utf-8")
    other = plan_mod.load(plan_copy)
    c = dataclasses.replace(result.province, plan=other)
    doc = Document(report.write_report(c, tmp_path / "bc.docx"))
    assert doc.tables[0].rows[0].cells[0].text.split("\n")[:2] == ["ỦY BAN NHÂN DÂN", "TỈNH LONG AN"]
    closing = next(t for t in _body(doc)[::-1] if isinstance(t, DocxTable)).rows[0].cells
    assert closing[1].text.startswith(T("report.sign-default"))
    body = [b for b in _body(doc)]
    assert _table(body, "report.funding-caption", unit=other.settings.funding_unit)
    assert any(isinstance(b, Paragraph) and "gửi báo cáo đúng hạn" in b.text for b in body)
    assert not (tmp_path / "bc_to_trinh.docx").exists()


# -- what the body says ---------------------------------------------------------------------------------


def test_body_says_each_sentence_once_and_pastes_no_unit_paragraph(out, result):
    for c, path in ((result.province, out["province"]), (result.districts[DISTRICT], out["district"])):
        doc = Document(path)
        paras = [b.text for b in _body(doc) if isinstance(b, Paragraph) and b.text.strip()
                 and not b.style.name.startswith("Heading")]  # fmt: skip
        counts = collections.Counter(s for p in paras for s in _split(p))
        assert [s for s, n in counts.items() if n > 1] == []
        # the issuer's own text (its --into workbook) is its own words; the units' paragraphs are not pasted
        own = {rtext.vn_numbers(line.strip()) for m in c.members if m.own for text in m.sub.narrative().values()
               for line in rtext.clean(text).split("\n")}  # fmt: skip
        body = "\n".join(p for p in paras if p not in own)
        for m in c.members:
            if m.own:
                continue
            for text in m.sub.narrative().values():
                text = rtext.clean(text).strip()
                if len(rtext.sentences(text)) > 1:
                    assert text not in body, (m.unit, text[:60])


def test_quotations_follow_the_stated_rule(out, result):
    """At most two quotations per item; each is a sentence its unit wrote under that item, shared
    with other units (the group written by the most units), and attributed to it."""
    c = result.province
    plan = c.plan
    sections = _sections(Document(out["province"]), plan)
    lead = re.compile(r"^Ý được (\d+)/(\d+) đơn vị nêu: “(.+)” \(([^;)]+)(?:; (\d+) đơn vị khác nêu ý tương tự)?\)\.$")
    by_name = {plan.unit(m.unit).name: m for m in c.members if not m.own}
    quoted = 0
    for item in plan.narrative_items():
        quotes = [lead.match(t) for t in sections[item.code] if t.startswith("Ý được ")]
        assert all(quotes) and len(quotes) <= 2, item.code
        for q in quotes:
            support, total, sentence, unit = int(q[1]), int(q[2]), q[3], q[4]
            written = rtext.clean(by_name[unit].sub.narrative()[item.code])
            assert sentence in {rtext.vn_numbers(s) for s in rtext.sentences(written)}, (item.code, unit)
            assert 2 <= support <= total and int(q[5] or 0) == support - 1
            writers = sum(1 for m in c.members if not m.own and m.sub.narrative().get(item.code))
            assert total == writers
            quoted += 1
    assert quoted >= 8
    # VI: every proposal once, with how many units made it
    proposals = [t for t in sections["VI"] if t.startswith("- ")]
    assert proposals and len({p.split(" (")[0] for p in proposals}) == len(proposals)


def test_numbers_in_prose_are_vietnamese(out):
    for path in (out["province"], out["district"]):
        for b in _body(Document(path)):
            if not isinstance(b, Paragraph):
                continue
            bare = [int(n) for n in re.findall(r"(?<![\w.,/])(\d{4,})(?![\w/]|[.,]\d)", b.text)]
            assert [n for n in bare if not 1900 <= n <= 2100] == [], b.text
            assert not re.search(r"\d\.\d(?:\s|\u00a0)?%", b.text), b.text  # 98.1 % would be English


def test_coverage_timeliness_and_funding_sentences(out, result):
    c = result.province
    plan = c.plan
    doc = Document(out["province"])
    body = "\n".join(b.text for b in _body(doc) if isinstance(b, Paragraph))
    assert "Báo cáo được tổng hợp từ báo cáo của 15/15 huyện, thị xã, thành phố và 11/11 sở, ngành, đoàn thể." in body
    communes = [u for u in plan.descendants(c.scope.unit) if u.level == "xa"]
    with_data = set(c.detail.loc[c.detail["level"] == "xa", "unit"].astype(str))
    assert len(with_data) < len(communes)  # the demo's two communes that never sent
    assert f"{len(with_data)}/{len(communes)} xã, phường, thị trấn" in body
    for u in communes:
        if u.code not in with_data:
            assert u.name in body
    sections = _sections(doc, plan)
    assert any("gửi báo cáo đúng hạn (hạn 31/08/2020)" in t for t in sections["I.6"])
    # II.1: the total, and units named by what they are (units, not unit x year x source cells)
    f = c.funding[c.funding["source"] == "KP_NSDP"]
    facts = c.facts
    ok = facts[(facts["indicator"] == "KP_NSDP") & (facts["state"] == "ok") & (facts["level"] == "huyen")]
    districts = ok["unit"].astype(str).nunique()
    first = next(t for t in sections["II.1"] if t.startswith("Nguồn "))
    assert rtext.fmt_amount(f["amount"].sum()) in first and f"{districts}/15 huyện, thị xã, thành phố" in first
    assert "lượt đơn vị" not in body
    # the district states its communes' timeliness, naming the late and missing ones
    d = result.districts[DISTRICT]
    d_sections = _sections(Document(out["district"]), d.plan)
    late = d.status[d.status["state"].isin(["late", "missing"])]["name"].tolist()
    assert all(any(n in t for t in d_sections["I.6"]) for n in late)


def test_results_section_matches_the_totals(out, result):
    c = result.province
    plan = c.plan
    doc = Document(out["province"])
    body = _body(doc)
    table = _table(body, "report.results-caption")
    by_name = {i.name: i.code for i in plan.rate_indicators()}
    rows = {}
    for row in table.rows[1:]:
        cells = [cell.text for cell in row.cells]
        if cells[2].isdigit():
            rows[(by_name[cells[1]], int(cells[2]))] = cells
    assert len(rows) == len(c.totals)
    na = T("report.na")
    for r in c.totals.itertuples():
        cells = rows[(r.indicator, r.milestone)]
        if cells[3] == na:
            assert r.units_covered == 0 and r.units_na
        else:
            assert _number(cells[3]) == (None if r.num != r.num else r.num)
            assert _number(cells[4]) == (None if r.den != r.den else r.den)
        assert cells[5] == ("" if r.rate != r.rate else str(round_rate(r.rate)).replace(".", ","))
        assert cells[6] == layout.target_text(plan.targets[(r.indicator, r.milestone)])
        assert cells[7] == aggregate.verdict_text(r.verdict, r.partial)
        assert r.partial == aggregate.partial(r.units_covered, r.units_na, r.units_expected)
    year = max(plan.milestones)
    last = c.totals[c.totals["milestone"] == year]
    not_met = last[last["verdict"] == "khong-dat"]
    section = _sections(doc, plan)["III.1"]
    met = int(last["verdict"].isin(["dat", "vuot"]).sum())
    assert any(f"{met} chỉ số đạt hoặc vượt chỉ tiêu, {len(not_met)} chỉ số không đạt" in t for t in section)
    bullets = [t for t in section if t.startswith("- ")]
    assert len(bullets) == len(not_met)
    for b, r in zip(bullets, not_met.itertuples(), strict=True):
        assert b.startswith(f"- {plan.indicators[r.indicator].name}: {rtext.fmt_pct(r.rate)} (chỉ tiêu ")
    assert any(t.startswith("Xét các chỉ số có chỉ tiêu năm 2020, các huyện") for t in section)


def test_a_verdict_on_a_partial_total_is_provisional_in_every_output(result, tmp_path):
    """A total lacking one expected unit's figure (a district's file unreadable, rejected or late)
    judges only the units covered: its verdict reads «… (tạm tính)» in the report's results table,
    its not-met list and the workbook's «Tổng hợp», and the report says how many verdicts are
    provisional. (Found: without Bến Lức, the one district below target, the province showed
    171/171 = 100,0 % «Đạt» and the report called the data enough to judge.)"""
    c = result.province
    year = max(c.plan.milestones)
    totals = c.totals.copy()
    last = totals[(totals["milestone"] == year) & (totals["units_expected"] > 2)]
    picked = {v: last.index[last["verdict"] == v][0] for v in ("dat", "khong-dat")}
    for i in picked.values():  # one expected unit's figure missing
        totals.loc[i, "units_covered"] = totals.loc[i, "units_expected"] - totals.loc[i, "units_na"] - 1
    # and one whose only unit sent nothing (a department missing): no figure, no verdict, but named
    gone = last.index[(last["units_covered"] > 0) & ~last.index.isin(list(picked.values()))][0]
    totals.loc[gone, ["units_covered", "units_na", "units_rejected"]] = 0
    totals.loc[gone, ["num", "den", "rate"]] = float("nan")
    totals.loc[gone, "verdict"] = None
    totals["partial"] = [aggregate.partial(r.units_covered, r.units_na, r.units_expected) for r in totals.itertuples()]
    partial = dataclasses.replace(c, totals=totals)
    doc = Document(report.write_report(partial, tmp_path / "bao_cao.docx", cover=False))
    cover = "\n".join(p.text for p in Document(report.write_cover(partial, tmp_path / "to_trinh.docx")).paragraphs)
    assert "(trong đó 2 chỉ số đánh giá tạm tính vì chưa đủ số liệu của các đơn vị)" in cover
    book = openpyxl.load_workbook(outputs.write_workbook(partial, tmp_path / "tong_hop.xlsx"))
    want = {i: aggregate.verdict_text(v, True) for v, i in picked.items()}
    assert set(want.values()) == {"Đạt (tạm\u00a0tính)", "Không đạt (tạm\u00a0tính)"}
    names = {i: c.plan.indicators[totals.loc[i, "indicator"]].name for i in picked.values()}
    rows = {(cells[1], cells[2]): cells for cells in ([c_.text for c_ in row.cells]
            for row in _table(_body(doc), "report.results-caption").rows[1:])}  # fmt: skip
    sheet = book[T("out.sheet-totals")]
    shown = {(sheet.cell(r, 1).value, sheet.cell(r, 3).value): sheet.cell(r, 8).value for r in range(4, sheet.max_row + 1)}
    for i, label in want.items():
        assert rows[(names[i], str(year))][7] == label
        assert shown[(totals.loc[i, "indicator"], year)] == label
    section = _sections(doc, c.plan)["III.1"]
    assert any("để đánh giá (trong đó 2 chỉ số đánh giá tạm tính" in t for t in section), section[:2]
    bullet = next(t for t in section if t.startswith(f"- {names[picked['khong-dat']]}: "))
    assert ", tạm tính (chỉ tiêu " in bullet
    said = next(t for t in section if t.startswith(f"Số liệu năm {year} chưa đủ ở "))
    for i in picked.values():
        n, total = int(totals.loc[i, "units_covered"] + totals.loc[i, "units_na"]), int(totals.loc[i, "units_expected"])
        assert f"«{names[i]}» ({n}/{total} đơn vị)" in said
    gone_name = c.plan.indicators[totals.loc[gone, "indicator"]].name
    assert f"«{gone_name}» (0/{int(totals.loc[gone, 'units_expected'])} đơn vị)" in said
    # the untouched totals keep their plain verdicts
    for r in c.totals.itertuples():
        if r.Index not in want and r.Index != gone and r.milestone == year and isinstance(r.verdict, str):
            assert rows[(c.plan.indicators[r.indicator].name, str(year))][7] == aggregate.verdict_text(r.verdict)


def test_funding_table_matches_the_funding_frame(out, result):
    c = result.province
    plan = c.plan
    table = _table(_body(Document(out["province"])), "report.funding-caption", unit=plan.settings.funding_unit)
    years = {int(row.cells[0].text): row for row in table.rows[1:] if row.cells[0].text.isdigit()}
    assert sorted(years) == list(plan.settings.funding_years)
    for r in c.funding.itertuples():
        text = years[int(r.year)].cells[1 + plan.settings.funding_sources.index(r.source)].text
        assert _number(text) == (None if r.amount != r.amount else pytest.approx(r.amount))
    total = table.rows[-1].cells
    assert total[0].text == T("report.funding-total")
    assert _number(total[-1].text) == pytest.approx(c.funding["amount"].sum(), abs=0.06)


def test_charts_are_native_with_vietnamese_labels(out, result):
    c = result.province
    with zipfile.ZipFile(out["province"]) as z:
        names = z.namelist()
        assert not [n for n in names if n.startswith("word/media/")]  # no picture of a chart
        charts = sorted(n for n in names if re.fullmatch(r"word/charts/chart\d+\.xml", n))
        assert len(charts) == 2
        xml = z.read(charts[1]).decode("utf-8")
        books = [n for n in names if n.startswith("word/embeddings/")]
        assert len(books) == 2
        data = openpyxl.load_workbook(io.BytesIO(z.read(sorted(books)[1])))
    labels = re.findall(r"<c:v>([^<]*)</c:v>", xml)
    rated = c.totals[(c.totals["milestone"] == 2020) & c.totals["verdict"].notna()]
    short = [report.synthesis.short_name(c.plan.indicators[i].name) for i in rated["indicator"]]
    for name in short:
        assert name in labels and not name.isdigit()
    assert "Tỷ lệ (%)" in xml and "Kết quả năm 2020" in xml and "Chỉ tiêu năm 2020" in xml
    ws = data.active
    values = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(2, ws.max_row + 1)}
    for name, rate in zip(short, rated["rate"], strict=True):
        assert values[name] == pytest.approx(rate)


# -- awards ------------------------------------------------------------------------------------------


def test_award_section_and_list_hold_the_same_nominations(out, result):
    c = result.province
    proposed = quotas.passing(c.nominations)
    excluded = c.nominations.drop(proposed.index)
    assert len(proposed) and len(excluded)  # the demo's over-quota, duplicate and outside nominees
    # the award list: the proposed ones only, without internal columns; the rest on a second sheet
    wb = openpyxl.load_workbook(out["awards"])
    ws = wb[T("report.award-list-sheet")]
    heads = [ws.cell(4, col).value for col in range(1, ws.max_column + 1)]
    assert T("report.col-name") in heads and T("out.col-quota") not in heads
    listed = [r[2] for r in ws.iter_rows(min_row=5, values_only=True) if isinstance(r[0], int)]
    assert sorted(listed) == sorted(proposed["name"])
    out_ws = wb[T("report.award-out-sheet")]
    left = [(r[1], r[5]) for r in out_ws.iter_rows(min_row=5, values_only=True) if isinstance(r[0], int)]
    # each reason stands alone in its cell: a sentence's capital (the messages are worded for prose)
    assert sorted(left) == sorted(zip(excluded["name"], map(textnorm.capitalized, excluded["reason"]), strict=True))
    assert all(why[:1].isupper() for _, why in left), left
    # section IV: one compact table of the same people, in the same order, and the excluded with reasons
    body = _body(Document(out["province"]))
    table = _table(body, "report.awards-caption")
    names = [row.cells[2].text for row in table.rows[1:] if row.cells[0].text.isdigit()]
    assert names == listed
    groups = [row.cells[0].text for row in table.rows[1:] if not row.cells[0].text.isdigit()]
    awards = [a.name for a in c.plan.settings.award_levels if a.code in set(proposed["award"])]
    assert [g.split(") ", 1)[1].split(":")[0] for g in groups] == awards
    out_table = _table(body, "report.excluded-caption")
    reason = None
    seen = []
    for row in out_table.rows[1:]:
        cells = [cell.text for cell in row.cells]
        if cells[0].isdigit():
            seen.append((cells[2], reason))
        else:
            reason = cells[0]
    for name, why in zip(excluded["name"], excluded["reason"], strict=True):
        assert any(n == name and why in r for n, r in seen), name
    assert len(seen) == len(excluded)


# -- annexes -------------------------------------------------------------------------------------------


def test_every_unit_text_in_the_annex(out, result):
    for c, path in ((result.province, out["province"]), (result.districts[DISTRICT], out["district"])):
        plan = c.plan
        annexes = _annexes(Document(path))
        assert list(annexes) == ["PHỤ LỤC I", "PHỤ LỤC II"]
        under: dict[str, list[str]] = {}
        current = None
        titles = {T("report.annex-item", code=o.code, title=o.title): o.code for o in plan.narrative_items()}
        titles[T("report.topics-title")] = layout.TOPIC_ITEM
        for b in annexes["PHỤ LỤC I"]:
            if isinstance(b, Paragraph) and b.text in titles:
                current = titles[b.text]
            elif isinstance(b, Paragraph) and current:
                under.setdefault(current, []).append(b.text)
        checked = 0
        for m in c.members:
            if m.own:
                continue
            name = plan.unit(m.unit).name
            for item, text in m.sub.narrative().items():
                assert f"{name}: {rtext.clean(text).strip()}" in under[item], (m.unit, item)
                checked += 1
        assert checked >= 100
        status = _captioned(annexes["PHỤ LỤC II"])[T("report.status-caption")]
        assert len(status.rows) - 1 == len(c.status)


def test_hostile_and_missing_text(out, result):
    plan = result.province.plan
    doc = Document(out["hostile"])
    annex = [b.text for b in _annexes(doc)["PHỤ LỤC I"] if isinstance(b, Paragraph)]
    name = plan.unit(HOSTILE_UNIT).name
    assert f"{name}: Mở đầu kết thúc" in annex  # control characters gone, the rest intact
    assert f"{name}: {LONG}" in annex and len(LONG) == 5000
    assert f"{name}: {FORMULA}" in annex
    sections = _sections(doc, plan)
    assert T("report.no-text-item", n=len(result.province.status), code="II.3") in sections["II.3"]
    wb = openpyxl.load_workbook(out["hostile_awards"])
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" for c in cells)
    assert any(c.value == "Dòng họ Đặng" for ws in wb for row in ws.iter_rows() for c in row)


def test_cli_writes_report_cover_and_awards(result, tmp_path, capsys):
    from xhht_xl import cli

    target = tmp_path / "bao_cao.docx"
    cover = tmp_path / "to_trinh.docx"
    rc = cli.main(["report", str(result.folder / "ket_qua" / "gui_tinh"), "--level", "tinh", "--as-of", "2020-09-05",
                   "-o", str(target), "--awards", str(tmp_path / "kt.xlsx"), "--cover", str(cover)])  # fmt: skip
    assert rc in (0, 1) and target.exists() and cover.exists() and (tmp_path / "kt.xlsx").exists()
    printed, err = capsys.readouterr()
    assert str(cover) in printed and "Traceback" not in printed and "Traceback" not in err


# -- LibreOffice: pages, and figures as the consolidated workbook displays them --------------------------


def _csv_sheets(book: Path, work: Path) -> dict[str, list[list[str]]]:
    """Every sheet of ``book`` as LibreOffice displays it in Vietnamese, by sheet name (one
    soffice run: the filter's sheet number -1 writes each sheet to ``<stem>-<sheet>.csv``)."""
    outdir = work / "csv"
    lo.convert([book], "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1", outdir,
               work / "lo-csv", locale="vi-VN")  # fmt: skip
    out = {}
    for path in outdir.glob(f"{book.stem}-*.csv"):
        out[path.stem[len(book.stem) + 1 :]] = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
        path.unlink()
    return out


@pytest.mark.libreoffice
def test_body_tables_show_what_the_consolidated_workbook_displays(out, result, soffice, lo_work):
    c = result.province
    plan = c.plan
    book = out["workbook"]
    lay = layout.build(plan, layout.template_for(plan, c.scope.level))
    results_sheet = lay.inputs[("kq", plan.rate_indicators()[0].code, plan.milestones[0], "num")].sheet
    funding_sheet = lay.inputs[("kp", plan.settings.funding_sources[0], plan.settings.funding_years[0])].sheet
    wb = openpyxl.load_workbook(book, read_only=True)
    sheets = wb.sheetnames
    wb.close()
    displayed = _csv_sheets(book, lo_work)
    assert set(displayed) == set(sheets)
    shown = displayed[results_sheet]
    by_code = {row[1]: row for row in shown if len(row) > 13 and row[1] in plan.indicators}
    body = _body(Document(out["province"]))
    table = _table(body, "report.results-caption")
    by_name = {i.name: i.code for i in plan.rate_indicators()}
    compared = 0
    for row in table.rows[1:]:
        cells = [cell.text for cell in row.cells]
        if not cells[2].isdigit():
            continue
        code, year = by_name[cells[1]], int(cells[2])
        base = 4 if year == plan.milestones[0] else 9
        workbook = by_code[code][base : base + 5]  # Tử số, Mẫu số, Tỷ lệ, Chỉ tiêu, Đánh giá as displayed
        na = T("report.na")
        mine = [T("layout.na-text") if v == na else v for v in cells[3:8]]
        assert mine == workbook, (code, year)
        compared += 1
    assert compared == len(c.totals)
    shown = displayed[funding_sheet]
    by_source = {row[1]: row for row in shown if len(row) > 3 and row[1] in plan.settings.funding_sources}
    table = _table(body, "report.funding-caption", unit=plan.settings.funding_unit)
    years = list(plan.settings.funding_years)
    for row in table.rows[1:]:
        cells = [cell.text for cell in row.cells]
        if cells[0].isdigit():
            for k, source in enumerate(plan.settings.funding_sources):
                assert cells[1 + k] == by_source[source][3 + years.index(int(cells[0]))], (source, cells[0])


@pytest.mark.libreoffice
def test_pages_in_libreoffice(out, result, soffice, lo_work):
    _need_writer()
    docs = [out["province"], out["district"], out["hostile"], report.cover_path(result.province, out["province"])]
    pdfs = lo.convert(docs, "pdf", out["folder"] / "pdf", lo_work, locale="vi-VN")
    texts = [_pdf_pages(pdf) for pdf in pdfs]
    limits = {0: (20, 60), 1: (12, 40)}
    for i, (body_max, total_max) in limits.items():
        pages = texts[i]
        starts = {}
        for n, text in enumerate(pages, start=1):
            head = [line.strip() for line in text.splitlines() if line.strip()][:3]
            for line in head:
                if ANNEX.match(line):
                    starts[line] = n
        assert list(starts) == ["PHỤ LỤC I", "PHỤ LỤC II"], starts  # each annex opens a page
        body = starts["PHỤ LỤC I"] - 1
        assert body <= body_max and len(pages) <= total_max, (docs[i].name, body, len(pages))
        assert "Nơi nhận:" in pages[body - 1]  # the signature closes the body, before the annexes
        assert all(text.count("PHỤ LỤC ") <= 1 for text in pages[: body - 1])
    first = texts[0][0]
    for line in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "ỦY BAN NHÂN DÂN", "TỈNH LONG AN", "BÁO CÁO"):
        assert line in first
    hostile = "".join(texts[2])
    assert FORMULA in hostile and "t1199" not in hostile and "t999" in hostile  # LONG stops before t1199
    assert len(texts[3]) == 1  # the tờ trình is one page
    chart_page = next(t for t in texts[0] if T("report.chart-result", year=2020) in t)
    assert "Tỷ lệ (%)" in chart_page and re.search(r"\b\d{2},\d\b", chart_page)  # labels 98,7 in Vietnamese
    if os.environ.get("XHHT_RENDER_DOCS"):  # refresh the README picture: XHHT_RENDER_DOCS=1 pytest ...
        png = lo.render_png(pdfs[0], out["folder"] / "bao_cao", page=1, dpi=85)
        (REPO / "docs" / "bao_cao.png").write_bytes(png.read_bytes())


def test_plain_table_rows_are_the_xml_python_docx_builds(result):
    """Every table of the province's and a district's drafts, plus rows of each special kind (a
    total, shaded cells, kept with the next, spaces around, XML's own characters, a line break or
    a tab, a group heading, cells merged with the row above), rendered row by row through
    python-docx and through the fast path: the document XML is byte for byte the same."""
    from xhht_xl.report.model import Row, Table

    rnd = importlib.import_module("xhht_xl.report.render")  # the package exports a function of that name

    tables = [b for c in (result.province, result.districts[DISTRICT]) for b in report.synthesise(c).blocks
              if isinstance(b, Table)]  # fmt: skip
    assert len(tables) >= 4 and sum(len(t.rows) for t in tables) > 50
    tables.append(Table(caption="Bảng thử", heads=["Mã", "Tên  ", "Số\tliệu"], widths=[20.0, 60.5, 30.25],
                        aligns=["center", "left", "right"], font_pt=10.5, note="ghi chú", rows=[
        Row(["1", " Xã A & <B> ", "1.234,5"], shade={2: "FFC7CE"}),
        Row(["2", "dòng một\ndòng hai", FORMULA], kind="total"),
        Row(["Nhóm", "", ""], kind="group"),
        Row(["3", CONTROL, ""], keep_with_next=True),
        Row(["3", "tiếp", "7"], merge_up=(0,)),
        Row(["3", "nữa", "8"], merge_up=(0, 1), shade={1: "FFC7CE"}, keep_with_next=True),
        Row(["3", "hết", "9"], merge_up=(0,)),
        Row(["", "", ""], kind="total", shade={0: "EDEDED", 1: "EDEDED"}),
    ]))  # fmt: skip
    tables.append(Table(caption="Bảng gộp", heads=["A", "B"], widths=[20.0, 30.0], aligns=["left", "right"],
                        font_pt=11, note="", rows=[
        Row(["1", "x"], merge_up=(0,)),  # nothing above: nothing merged
        Row(["1", "y"], merge_up=(0,), keep_with_next=True),
        Row(["2", "z\tw"], merge_up=(1,)),  # a tab in a merged-up row
        Row(["2", "v"], merge_up=(0, 1)),
    ]))  # fmt: skip
    xml = {}
    for fast in (False, True):
        doc = Document()
        for block in tables:
            rnd._table(doc, block, fast=fast)
        xml[fast] = etree.tostring(doc.element)  # as saved: not pretty-printed
    assert xml[True] == xml[False]
    assert xml[True].count(b"<w:tr>") > 50 and b"<w:gridSpan" in xml[True]
    assert xml[True].count(b'<w:vMerge w:val="restart"/>') >= 3


def test_fast_paragraphs_are_the_xml_python_docx_builds(result):
    """Every paragraph of the province's and a district's drafts (body, annexes, cover), plus one of
    each kind with runs that are bold, italic, empty, spaced around, XML's own characters, control
    characters, tabs and line ends, rendered through python-docx and through the fast path: the
    document XML is byte for byte the same."""
    from xhht_xl.report.model import Para, Run

    rnd = importlib.import_module("xhht_xl.report.render")  # the package exports a function of that name

    drafts = [report.synthesise(c) for c in (result.province, result.districts[DISTRICT])]
    paras = [b for d in drafts for blocks in (d.blocks, *(a.blocks for a in d.annexes)) for b in blocks
             if isinstance(b, Para)]  # fmt: skip
    kinds = {p.kind for p in paras}
    assert len(paras) > 50 and {"body", "quote", "annex"} <= kinds, kinds
    runs = [Run(" Xã A & <B> ", bold=True), Run("một\tmột\r\nhai\rba\n", italic=True), Run(""),
            Run(CONTROL, bold=True, italic=True), Run(FORMULA), Run("  ")]  # fmt: skip
    for kind in ("body", "own", "bullet", "note", "quote", "annex"):
        paras += [Para(runs, kind), Para([], kind)]
    xml = {}
    for fast in (False, True):
        doc = Document()
        for block in paras:
            rnd._paragraph(doc, block, fast=fast)
        xml[fast] = etree.tostring(doc.element)  # as saved: not pretty-printed
    assert xml[True] == xml[False]
    assert xml[True].count(b"<w:p>") >= len(paras) and b"<w:tab/>" in xml[True] and b"<w:br/>" in xml[True]


def test_a_file_that_could_not_be_read_is_not_called_nothing_received(result, tmp_path):
    """A district whose folder holds a file that could not be read (the demo's PDF named .xlsx in
    Bến Lức): the report names that file, and a unit without a readable report is said to have
    none that could be read, not to have sent nothing (the file may be its report)."""
    c = next(d for d in result.districts.values() if d.unreadable)
    unread = c.unreadable
    doc = Document(report.write_report(c, tmp_path / "bao_cao.docx", cover=False))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert f"Có {len(unread)} tệp nhận được nhưng không đọc được ({unread[0]}" in text
    assert "Chưa nhận được báo cáo của" not in text and " đơn vị chưa gửi (" not in text
    absent = [n for lv in report.synthesis.coverage(c).levels for n in lv.missing]
    if absent:
        assert f"Chưa có báo cáo đọc được của: {absent[0]}" in text
