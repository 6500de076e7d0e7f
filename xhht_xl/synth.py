"""A synthetic province: realistic submissions from every unit, with a known list of planted faults.

Used by the demo and by tests of the reader, the checker and the consolidation:

* :func:`make_province` draws clean entries (layout keys -> values) for the 188 communes, the 15
  district-level units (their own workbook), the 11 departments and the province's own workbook;
  ``Province.truth`` keeps them before any fault.
* :func:`plant_faults` plants exactly the faults of the demo (see ``FAULT_COUNTS``), each in a
  different unit, and returns them as :class:`Fault` records naming the issue code the checker
  must report.
* :func:`write_submissions` writes the files as they would arrive at Sở GD&ĐT (``xa/<district>/``,
  ``huyen/``, ``so_nganh/``, ``tinh/``) with a ``received_at.csv`` and returns a :class:`Manifest`.
  Each workbook is a template built and saved once with only some cells rewritten at the XML
  level (:class:`LevelWriter`, :mod:`xlsxcopy`): ~5 ms a file instead of ~120 ms for an openpyxl
  build and save. :func:`cached_demo` keeps a written province for tests, keyed by its inputs.

Everything is deterministic for a seed (one ``random.Random`` per purpose, never the global one).
Two commune files were once saved by LibreOffice (an ``.xls`` and an ``.xlsx``); they ship as
package data made by ``scripts/make_demo_xls.py``, so writing the demo needs only Python. Those two
units draw their values from :data:`DEMO_SEED` whatever the seed, so the shipped files always match.
"""

from __future__ import annotations

import ast
import copy
import csv
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import os
import queue
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles.stylesheet import write_stylesheet
from openpyxl.xml.constants import ARC_CORE, ARC_STYLE
from openpyxl.xml.functions import tostring

from . import layout, messages, templates, textnorm, xlsxcopy
from .fileio import finished_bytes, save_workbook, write_bytes, write_text
from .layout import Layout
from .plan import SELF, Indicator, Plan, Unit

DEMO_SEED = 2020
NA = messages.text("layout.na-text")
COLLECTIVE = messages.text("layout.kind-collective")
INDIVIDUAL = messages.text("layout.kind-individual")
FUNDING_UNIT_DIGITS = 1

# Fault kinds and how many of each plant_faults() plants (one unit each, all units distinct).
FAULT_COUNTS = {
    "late": 3,
    "missing": 2,
    "num-exceeds-den": 1,
    "count-negative": 1,
    "number-as-text": 1,
    "lo-xlsx": 1,
    "lo-xls": 1,
    "formula-replaced": 1,
    "quota-exceeded": 1,
    "duplicate-nominee": 1,
    "resubmission": 1,
    "not-a-workbook": 1,
    "old-code": 1,
}
# The two communes whose files were saved by LibreOffice: first commune (plan order) of these districts.
LO_XLS_DISTRICT = "801"
LO_XLSX_DISTRICT = "806"
DATA_INDEX = "demo_files.json"
RECEIVED_CSV = "received_at.csv"

COMMUNE_DEADLINE = dt.date(2020, 8, 20)


# -- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One planted fault and what the checker must say about it."""

    kind: str  # a key of FAULT_COUNTS
    unit: str  # code of the unit whose submission carries the fault
    file: str  # path relative to the submissions folder ("" when there is no file)
    code: str | None  # issue code the checker must report (None: no issue expected)
    severity: str | None  # "error" | "warning" | "info" (None with code None)
    description: str  # Vietnamese, for a clerk
    sheet: str = ""  # sheet name, when the fault sits in one cell or table
    key: tuple | None = None  # layout entry key of that cell (("kt", row, field) for nominations)
    value: object = None  # the value as submitted, where it helps (text, number, received time)
    related: tuple[str, ...] = ()  # other units involved (the first district of a duplicate)
    other_files: tuple[str, ...] = ()  # other files involved (the corrected resubmission)


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the submissions folder, "/"-separated
    unit: str  # the unit that sent it
    level: str
    format: str  # "xlsx" | "xls" | "pdf"
    received_at: dt.datetime
    superseded: bool = False  # an earlier file replaced by a later one from the same unit


@dataclass
class Province:
    """Synthetic entries of every unit: ``truth`` is clean, ``entries`` is what gets submitted."""

    plan: Plan
    seed: int
    truth: dict[str, dict[tuple, object]]
    entries: dict[str, dict[tuple, object]]
    file_names: dict[str, str]  # unit code -> path relative to the submissions folder
    received_at: dict[str, dt.datetime]
    population: dict[str, dict[int, int]]  # commune code -> milestone -> population
    faults: list[Fault] = field(default_factory=list)
    first_entries: dict[str, dict[tuple, object]] = field(default_factory=dict)  # resubmission
    extra_files: list[WrittenFile] = field(default_factory=list)  # planned non-unit files

    def fault(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]


class Truth:
    """Clean values of every unit and the totals they imply, following the plan's authority rules."""

    def __init__(self, plan: Plan, truth: Mapping[str, Mapping[tuple, object]]):
        self.plan = plan
        self._truth = truth

    def entries(self, code: str) -> dict[tuple, object]:
        return dict(self._truth.get(code, {}))

    def value(self, code: str, key: tuple) -> int | float | None:
        """The unit's own typed value as a number (None when empty or "không áp dụng")."""
        v = self._truth.get(code, {}).get(key)
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None

    def total(self, code: str, key: tuple, skip: Iterable[str] = ()) -> int | float | None:
        """The consolidated value of ``key`` for unit ``code`` (communes: their own value).

        ``("kq", ind, m, part)`` and ``("kp", source, year)`` follow ``Indicator.authority``:
        "self" = the unit's own entry, a level = the sum over its sub-units of that level, a unit
        code = that unit's entry. Units in ``skip`` (e.g. missing communes) count as nothing.
        """
        skip = set(skip)
        unit = self.plan.units[code]
        ind = self.plan.indicators[key[1]]
        sources = ind.authority.get(unit.level)
        if sources is None:  # no rule for this level (communes, departments): the unit's own entry
            sources = (SELF,)
        parts: list[int | float] = []
        for src in sources:
            if src == SELF:
                parts.append(self.value(code, key))
            elif src in self.plan.levels:
                for child in self.plan.children(code, src):
                    if child.code not in skip:
                        parts.append(self.total(child.code, key, skip))
            elif src in self.plan.units and src not in skip:
                parts.append(self.value(src, key))
        numbers = [p for p in parts if p is not None]
        if not numbers:
            return None
        s = sum(numbers)
        return round(s, 1) if isinstance(s, float) else s


@dataclass
class Manifest:
    folder: Path
    files: list[WrittenFile]
    faults: list[Fault]
    expected: dict[str, list[str]]  # receiver code -> codes of the units that must report to it
    truth: Truth
    received_csv: Path
    seconds: float  # time spent writing

    def fault(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]

    def file(self, path: str) -> WrittenFile:
        return next(f for f in self.files if f.path == path)


# -- names and texts -------------------------------------------------------------------------------

SURNAMES = ("Nguyễn", "Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Phan", "Trương", "Bùi",
            "Đặng", "Đỗ", "Ngô", "Hồ", "Dương", "Đinh", "Lâm", "Châu", "Lý", "Tạ", "Mai", "Cao")  # fmt: skip
MIDDLE_M = ("Văn", "Văn", "Minh", "Quốc", "Hữu", "Thành", "Hoàng", "Công", "Đức", "Tấn", "Thanh")
MIDDLE_F = ("Thị", "Thị", "Ngọc", "Thanh", "Kim", "Mỹ", "Thu", "Bích", "Hồng")
GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Hùng", "Hiếu", "Khoa", "Long", "Lộc", "Nam", "Nhân", "Phúc",
           "Quang", "Sơn", "Tâm", "Thắng", "Trung", "Tuấn", "Vinh", "Hải", "Phước", "Tài", "Toàn")  # fmt: skip
GIVEN_F = ("Hạnh", "Hương", "Lan", "Linh", "Mai", "Nga", "Phương", "Thảo", "Thủy", "Trang", "Vân",
           "Yến", "Hoa", "Hằng", "Loan", "Nhung", "Tuyết", "Diễm", "Ngân", "Xuân", "Hà")  # fmt: skip

_PREFIXES = ("Thành phố ", "Thị xã ", "Thị trấn ", "Huyện ", "Phường ", "Xã ")


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}"
    return f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE_F)} {rng.choice(GIVEN_F)}"


def place_name(unit: Unit) -> str:
    """How a unit is named inside a sentence: "xã Bình Tâm", "Phường 5", "huyện Đức Hòa"."""
    for prefix in _PREFIXES:
        if unit.name.startswith(prefix):
            rest = unit.name[len(prefix) :]
            if rest[:1].isdigit():
                return unit.name
            return prefix.lower() + rest
    return unit.name


def base_name(unit: Unit) -> str:
    """The name without its type word: "Bình Tâm", "5" -> "Phường 5"."""
    for prefix in _PREFIXES:
        if unit.name.startswith(prefix):
            rest = unit.name[len(prefix) :]
            return unit.name if rest[:1].isdigit() else rest
    return unit.name


def noun(unit: Unit) -> str:
    """The unit's type word in lower case: xã, phường, thị trấn, huyện, thị xã, thành phố."""
    for prefix in _PREFIXES:
        if unit.name.startswith(prefix):
            return prefix.strip().lower()
    return ""


def slug(text: str) -> str:
    return "_".join(textnorm.ascii_key(text).split())


def vn_number(x: float, digits: int = 1) -> str:
    """1234.5 -> "1.234,5" (Vietnamese separators)."""
    text = f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


# Narrative sentence pools per outline item. Placeholders: {actor} (UBND xã Bình Tâm, Sở Nội vụ),
# {place}, {noun}, {sub} (sub-units), {audience}, {chair}, numbers {n1} {n2} {n3}, and data-driven
# {nsdp} {xhh} {lg} {gdht} {cdht}; a sentence whose placeholder is unknown for a unit is skipped.
SENTENCES: dict[str, tuple[str, ...]] = {
    "I.1": (
        "Ngay sau khi UBND tỉnh ban hành Quyết định 781/QĐ-UBND, {actor} đã ban hành kế hoạch triển khai thực hiện và tổ chức quán triệt đến {audience}.",
        "{actor} đã tổ chức {n1} hội nghị quán triệt, triển khai Đề án xây dựng xã hội học tập giai đoạn 2012–2020 với {n2} lượt người tham dự.",
        "Việc triển khai Đề án được gắn với các phong trào thi đua yêu nước và chương trình xây dựng nông thôn mới, đô thị văn minh trên địa bàn {place}.",
        "Hằng năm, {actor} xây dựng kế hoạch thực hiện cụ thể, phân công nhiệm vụ rõ ràng cho từng thành viên Ban chỉ đạo.",
    ),
    "I.2": (
        "Ban chỉ đạo xây dựng xã hội học tập {place} được kiện toàn {n3} lần, do {chair} làm Trưởng ban; các thành viên được phân công phụ trách từng lĩnh vực.",
        "Sự phối hợp giữa {actor} với Ủy ban Mặt trận Tổ quốc, Hội Khuyến học, Hội Liên hiệp Phụ nữ, Đoàn Thanh niên và Hội Nông dân ngày càng chặt chẽ, hiệu quả.",
        "Quy chế hoạt động của Ban chỉ đạo được ban hành, bảo đảm họp định kỳ 6 tháng và cuối năm để đánh giá kết quả thực hiện.",
    ),
    "I.3": (
        "Giai đoạn 2012–2020, {actor} đã ban hành {n1} văn bản chỉ đạo, kế hoạch, hướng dẫn về xây dựng xã hội học tập.",
        "Các văn bản được ban hành kịp thời, phù hợp với điều kiện thực tế và bám sát hướng dẫn của cấp trên.",
        "Nội dung xây dựng xã hội học tập được lồng ghép vào nghị quyết, kế hoạch phát triển kinh tế – xã hội hằng năm của {place}.",
    ),
    "I.4": (
        "Công tác tuyên truyền được thực hiện thường xuyên qua hệ thống loa truyền thanh, băng rôn, khẩu hiệu và các buổi sinh hoạt {group}.",
        "Hằng năm, hưởng ứng Tuần lễ hưởng ứng học tập suốt đời, {actor} tổ chức lễ phát động với sự tham gia của đông đảo {audience}.",
        "Đã thực hiện {n2} tin, bài tuyên truyền về các mô hình học tập, gương điển hình học tập suốt đời.",
    ),
    "I.5": (
        "Các mục tiêu về xóa mù chữ, phổ cập giáo dục được duy trì và củng cố vững chắc; tỷ lệ hộ đạt danh hiệu gia đình học tập năm 2020 là {gdht}%.",
        "Năm 2020 có {cdht}% ấp, khu phố được công nhận cộng đồng học tập.",
        "Trung tâm học tập cộng đồng hoạt động ổn định, tổ chức nhiều chuyên đề về chuyển giao khoa học kỹ thuật, pháp luật, chăm sóc sức khỏe.",
        "{actor} đã chỉ đạo lồng ghép các nhiệm vụ của Đề án vào kế hoạch công tác chuyên môn hằng năm.",
        "Phong trào xây dựng gia đình học tập, dòng họ học tập, cộng đồng học tập và đơn vị học tập được hưởng ứng tích cực.",
    ),
    "I.6": (
        "Chế độ thông tin, báo cáo được thực hiện định kỳ 6 tháng và hằng năm theo hướng dẫn của cấp trên.",
        "Hằng năm, {actor} tổ chức sơ kết, rút kinh nghiệm và kịp thời điều chỉnh giải pháp thực hiện.",
        "Đã tổ chức {n3} đợt kiểm tra việc thực hiện Đề án tại các {sub}.",
    ),
    "II.1": (
        "Tổng kinh phí ngân sách địa phương bố trí cho các hoạt động của Đề án giai đoạn 2013–2020 là {nsdp} triệu đồng.",
        "Kinh phí được sử dụng chủ yếu cho hoạt động của trung tâm học tập cộng đồng, công tác tuyên truyền và khen thưởng.",
        "Nhìn chung kinh phí còn hạn chế so với nhu cầu thực tế.",
    ),
    "II.2": (
        "Kinh phí huy động xã hội hóa từ doanh nghiệp, nhà hảo tâm và quỹ khuyến học giai đoạn 2013–2020 đạt {xhh} triệu đồng.",
        "Hội Khuyến học và các đoàn thể đã vận động trao nhiều suất học bổng cho học sinh nghèo hiếu học.",
        "Nhiều doanh nghiệp trên địa bàn hỗ trợ trang thiết bị, sách báo cho tủ sách, thư viện.",
    ),
    "II.3": (
        "Nguồn vốn lồng ghép từ Chương trình mục tiêu quốc gia xây dựng nông thôn mới và Đề án đào tạo nghề cho lao động nông thôn đạt {lg} triệu đồng.",
        "Việc lồng ghép các chương trình, dự án giúp sử dụng hiệu quả nguồn lực, tránh chồng chéo.",
    ),
    "III.2": (
        "Ưu điểm: nhận thức của cán bộ và nhân dân về học tập suốt đời được nâng lên rõ rệt; các mô hình học tập phát triển cả về số lượng và chất lượng.",
        "Tồn tại: một số {sub} chưa quan tâm đúng mức; hoạt động của trung tâm học tập cộng đồng có lúc còn hình thức.",
        "Hạn chế: việc ứng dụng công nghệ thông tin trong học tập suốt đời còn chậm; kinh phí đầu tư còn ít.",
    ),
    "III.3.1": (
        "Có sự lãnh đạo, chỉ đạo sát sao của cấp ủy, chính quyền và sự vào cuộc của Mặt trận Tổ quốc, các đoàn thể.",
        "Nhân dân đồng tình, hưởng ứng; đội ngũ cán bộ phụ trách nhiệt tình, trách nhiệm.",
        "Hội Khuyến học các cấp hoạt động tích cực, là nòng cốt trong phong trào khuyến học, khuyến tài.",
    ),
    "III.3.2": (
        "Một bộ phận người dân do điều kiện kinh tế khó khăn nên chưa dành thời gian cho học tập.",
        "Cán bộ phụ trách chủ yếu kiêm nhiệm và thường xuyên thay đổi.",
        "Nguồn lực đầu tư còn hạn chế, chưa đáp ứng yêu cầu.",
    ),
    "III.4": (
        "Phải có sự lãnh đạo, chỉ đạo thường xuyên của cấp ủy, chính quyền và sự phối hợp chặt chẽ giữa các ngành, đoàn thể.",
        "Công tác tuyên truyền phải đi trước một bước, đa dạng về hình thức, phù hợp với từng đối tượng.",
        "Kịp thời biểu dương, khen thưởng các tập thể, cá nhân điển hình để nhân rộng.",
    ),
    "V": (
        "Tiếp tục đẩy mạnh xây dựng xã hội học tập giai đoạn 2021–2030 gắn với chuyển đổi số và học tập trực tuyến.",
        "Nâng cao chất lượng hoạt động của trung tâm học tập cộng đồng; phấn đấu các {sub} đều đạt danh hiệu học tập.",
        "Phát triển các mô hình gia đình học tập, dòng họ học tập, cộng đồng học tập, đơn vị học tập gắn với phong trào thi đua ở cơ sở.",
    ),
    "VI": (
        "Đề nghị cấp trên tiếp tục bố trí kinh phí cho hoạt động của trung tâm học tập cộng đồng.",
        "Đề nghị tổ chức tập huấn, bồi dưỡng nghiệp vụ cho cán bộ phụ trách công tác xây dựng xã hội học tập.",
        "Đề nghị sớm ban hành bộ tiêu chí đánh giá, công nhận các mô hình học tập giai đoạn 2021–2030.",
    ),
}
TOPIC_SENTENCES = (
    "Trong giai đoạn 2012–2020, {actor} đã chủ trì, phối hợp triển khai nhiều hoạt động, hoàn thành phần lớn chỉ tiêu đề ra.",
    "Kết quả cụ thể được tổng hợp tại Phụ lục 1 và các số liệu kèm theo.",
    "Bên cạnh kết quả đạt được vẫn còn một số khó khăn về kinh phí và nhân lực thực hiện.",
)
DEEDS = (
    "tổ chức hiệu quả hoạt động của trung tâm học tập cộng đồng",
    "vận động xã hội hóa cho quỹ khuyến học hơn {n} triệu đồng",
    "duy trì vững chắc kết quả xóa mù chữ, phổ cập giáo dục",
    "xây dựng {n} mô hình gia đình học tập tiêu biểu",
    "tích cực tuyên truyền, vận động nhân dân tham gia học tập suốt đời",
    "đi đầu trong phong trào khuyến học, khuyến tài",
)
PREVIOUS = (
    "Giấy khen của Chủ tịch UBND huyện năm 2018",
    "Giấy khen của Chủ tịch UBND huyện năm 2016",
    "Bằng khen của Chủ tịch UBND tỉnh năm 2017",
    "Bằng khen của Trung ương Hội Khuyến học Việt Nam năm 2019",
    "",
    "",
)


def _placeholders(plan: Plan, unit: Unit, rng: random.Random, entries: Mapping[tuple, object]) -> dict:
    level = unit.level
    p: dict[str, object] = {
        "n1": rng.randint(3, 18),
        "n2": rng.randint(40, 600) if level == "xa" else rng.randint(150, 2500),
        "n3": rng.randint(2, 6),
    }
    if level in ("xa", "huyen"):
        place = place_name(unit)
        p.update(actor=f"UBND {place}", place=place, chair=f"đồng chí Phó Chủ tịch UBND {noun(unit)}",
                 audience="cán bộ, đảng viên và nhân dân", group="ấp, khu phố" if level == "xa" else "chi bộ, đoàn thể",
                 sub="ấp, khu phố, trường học" if level == "xa" else "xã, phường, thị trấn")  # fmt: skip
    elif level == "so_nganh":
        p.update(actor=unit.name, place="toàn ngành", chair="đồng chí lãnh đạo đơn vị",
                 audience="cán bộ, công chức, viên chức và người lao động", group="chi bộ, đoàn thể",
                 sub="đơn vị trực thuộc")  # fmt: skip
    else:
        p.update(actor="Ban chỉ đạo xây dựng xã hội học tập tỉnh", place="tỉnh Long An",
                 chair="đồng chí Phó Chủ tịch UBND tỉnh", audience="cán bộ và nhân dân trong tỉnh",
                 group="chi bộ, đoàn thể", sub="huyện, thị xã, thành phố")  # fmt: skip
    for src, name in (("KP_NSDP", "nsdp"), ("KP_XHH", "xhh"), ("KP_LONG_GHEP", "lg")):
        amounts = [v for k, v in entries.items() if k[:2] == ("kp", src) and isinstance(v, float)]
        if amounts:
            p[name] = vn_number(round(sum(amounts), 1))
    for ind, name in (("GDHT", "gdht"), ("CDHT_AP", "cdht")):
        num, den = entries.get(("kq", ind, 2020, "num")), entries.get(("kq", ind, 2020, "den"))
        if isinstance(num, int) and isinstance(den, int) and den > 0:
            p[name] = vn_number(round(num / den * 100, 1))
    return p


def _compose(pool: Iterable[str], values: Mapping, rng: random.Random, k: tuple[int, int]) -> str:
    usable = []
    for s in pool:
        try:
            usable.append(s.format(**values))
        except KeyError:
            continue
    n = min(len(usable), rng.randint(*k))
    chosen = sorted(rng.sample(range(len(usable)), n))
    text = " ".join(usable[i] for i in chosen)
    return textnorm.capitalized(text)


def narratives(plan: Plan, unit: Unit, rng: random.Random, entries: Mapping[tuple, object]) -> dict:
    values = _placeholders(plan, unit, rng, entries)
    out: dict[tuple, object] = {}
    for item in plan.narrative_items():
        out[("bc", item.code)] = _compose(SENTENCES.get(item.code, SENTENCES["VI"]), values, rng, (2, 3))
    if unit.level == "so_nganh":
        topic = unit.topic.rstrip(".") if unit.topic else "chuyên đề của đơn vị"
        head = f"{unit.name} báo cáo chuyên đề: {topic[:1].lower() + topic[1:]}."
        out[("bc", layout.TOPIC_ITEM)] = head + " " + _compose(TOPIC_SENTENCES, values, rng, (2, 3))
    return out


# -- numbers ---------------------------------------------------------------------------------------


def _count(rng: random.Random, den: int, low: float, high: float) -> int:
    """A numerator for ``den`` at a rate drawn in [low, high] percent, never above ``den``."""
    return max(0, min(den, round(den * rng.uniform(low, high) / 100)))


def _amount(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), FUNDING_UNIT_DIGITS)


def _pair(out: dict, code: str, m: int, num: object, den: object) -> None:
    out[("kq", code, m, "num")] = num
    out[("kq", code, m, "den")] = den


def _flag(rng: random.Random, p2015: float, p2020: float) -> dict[int, int]:
    """A 0/1 achievement at both milestones; once achieved in 2015 it stays achieved in 2020."""
    a15 = int(rng.random() < p2015)
    a20 = 1 if a15 else int(rng.random() < p2020)
    return {2015: a15, 2020: a20}


def commune_values(plan: Plan, unit: Unit, rng: random.Random) -> tuple[dict[tuple, object], dict[int, int]]:
    """Results and funding of one commune (counts as ints, "không áp dụng" where it does not apply)."""
    lo_hi = {"phuong": (10_000, 40_000), "thi_tran": (8_000, 30_000)}.get(unit.type, (4_000, 22_000))
    pop20 = rng.randint(*lo_hi)
    pop = {2020: pop20, 2015: round(pop20 * rng.uniform(0.93, 0.99))}
    hh = {m: round(pop[m] / rng.uniform(3.6, 4.0)) for m in pop}
    hamlets = rng.randint(4, 14)
    clans = rng.randint(10, 60)
    units = rng.randint(8, 40)
    cadres = rng.randint(18, 25)
    rural = unit.type == "xa"
    dtts = rng.random() < 0.3
    dtts_den = {2020: rng.randint(1, 40)}
    dtts_den[2015] = max(1, dtts_den[2020] - rng.randint(0, 3))
    newly = rng.random() < 0.7
    out: dict[tuple, object] = {}
    flags = {
        "XMC_XA_DAT_CHUAN": _flag(rng, 0.97, 0.8),
        "XMC_XA_MUC2": _flag(rng, 0.55, 0.7),
        "PCGD_MN5_XA": _flag(rng, 0.95, 0.9),
        "PCGD_TH_XA": _flag(rng, 0.97, 0.9),
        "PCGD_THCS_XA": _flag(rng, 0.93, 0.9),
        "TTHTCD_CO": _flag(rng, 0.95, 0.9),
        "TV_INTERNET_XA": _flag(rng, 0.35, 0.6),
    }
    good = _flag(rng, 0.5, 0.6)
    for m, (shift) in ((2015, 1.0), (2020, 0.0)):
        d = round(pop[m] * rng.uniform(0.31, 0.35))
        _pair(out, "XMC_BC_15_35", m, _count(rng, d, 97.5 - shift, 99.9 - shift * 0.3), d)
        d = round(pop[m] * rng.uniform(0.60, 0.64))
        _pair(out, "XMC_BC_15_60", m, _count(rng, d, 96.0 - shift, 99.5 - shift * 0.5), d)
        if dtts:
            d = dtts_den[m]
            _pair(out, "XMC_BC_DTTS_15_60", m, d - min(d, rng.randint(0, 2)), d)
        else:
            _pair(out, "XMC_BC_DTTS_15_60", m, NA, NA)
        if newly:
            d = rng.randint(1, 20)
            _pair(out, "XMC_TIEP_TUC_HOC", m, _count(rng, d, 80, 100), d)
        else:
            _pair(out, "XMC_TIEP_TUC_HOC", m, NA, NA)
        for code, f in flags.items():
            _pair(out, code, m, f[m], 1)
        if rural:
            d = round(pop[m] * rng.uniform(0.35, 0.5))
            low, high = (40, 60) if m == 2015 else (60, 80)
            _pair(out, "LDNT_HOC_TAP", m, _count(rng, d, low, high), d)
        else:
            _pair(out, "LDNT_HOC_TAP", m, NA, NA)
        _pair(out, "CBCC_XA_BD_LDQL", m, _count(rng, cadres, 80 + (1 - shift) * 10, 100), cadres)
        _pair(out, "GDHT", m, _count(rng, hh[m], 55 + (1 - shift) * 10, 80 + (1 - shift) * 10), hh[m])
        _pair(out, "DHHT", m, _count(rng, clans, 40 + (1 - shift) * 10, 70 + (1 - shift) * 10), clans)
        _pair(out, "CDHT_AP", m, _count(rng, hamlets, 50 + (1 - shift) * 20, 80 + (1 - shift) * 20), hamlets)
        _pair(out, "DVHT", m, _count(rng, units, 50 + (1 - shift) * 10, 80 + (1 - shift) * 10), units)
        if flags["TTHTCD_CO"][m]:
            _pair(out, "TTHTCD_XEP_LOAI_TOT", m, good[m], 1)
        else:  # no centre to grade
            _pair(out, "TTHTCD_XEP_LOAI_TOT", m, NA, NA)
    for src in plan.settings.funding_sources:
        low, high = {"KP_NSDP": (5, 80), "KP_XHH": (2, 300), "KP_LONG_GHEP": (2, 150)}.get(src, (2, 300))
        for year in plan.settings.funding_years:
            out[("kp", src, year)] = _amount(rng, low, high)
    return out, pop


def district_values(plan: Plan, unit: Unit, rng: random.Random) -> dict[tuple, object]:
    """What a district types itself: its own indicators (not the communes' sums) and its funding."""
    out: dict[tuple, object] = {}
    staff = rng.randint(600, 2500)
    staff15 = round(staff * rng.uniform(0.92, 1.0))
    cbcc = rng.randint(80, 150)
    communes = len(plan.children(unit.code, "xa"))
    library = _flag(rng, 0.6, 0.9)
    ranges = {  # indicator -> (den 2015, den 2020, rate range 2015, rate range 2020)
        "CBCCVC_UD_CNTT": (staff15, staff, (60, 80), (80, 95)),
        "CBCCVC_NGOAI_NGU": (staff15, staff, (30, 55), (45, 70)),
        "CBCCVC_TINH_HUYEN_HOC_TAP": (staff15, staff, (85, 97), (90, 100)),
        "CBCC_DAO_TAO_TIEU_CHUAN": (cbcc, cbcc, (90, 98), (95, 100)),
        "CBCC_BD_BAT_BUOC": (cbcc, cbcc, (75, 90), (82, 96)),
        "CDHT_XA_XEP_LOAI": (communes, communes, (70, 100), (85, 100)),
    }
    for ind in district_own_indicators(plan):
        if ind.code in ranges:
            d15, d20, r15, r20 = ranges[ind.code]
            _pair(out, ind.code, 2015, _count(rng, d15, *r15), d15)
            _pair(out, ind.code, 2020, _count(rng, d20, *r20), d20)
        elif ind.code == "TV_INTERNET_HUYEN":
            for m in plan.milestones:
                _pair(out, ind.code, m, library[m], 1)
        else:  # XMC_HUYEN_DAT_CHUAN and anything 0/1-like
            for m in plan.milestones:
                _pair(out, ind.code, m, 1, 1)
    for src in plan.settings.funding_sources:
        low, high = {"KP_NSDP": (50, 600), "KP_XHH": (20, 500), "KP_LONG_GHEP": (20, 400)}.get(src, (20, 500))
        for year in plan.settings.funding_years:
            out[("kp", src, year)] = _amount(rng, low, high)
    return out


def district_own_indicators(plan: Plan) -> list[Indicator]:
    """Rate indicators a district types itself: entered at huyen level and not summed from communes."""
    return [
        i
        for i in plan.rate_indicators()
        if plan.entered_by(i, "huyen") and i.authority.get("huyen", (SELF,)) == (SELF,)
    ]


def _department_own(
    plan: Plan,
    unit: Unit,
    rng: random.Random,
    truth: Mapping[str, Mapping[tuple, object]],
    pop: dict[int, int],
) -> dict[tuple, object]:
    """Figures of which this department is the province's source (authority ``tinh=<code>``)."""
    out: dict[tuple, object] = {}
    provincial_staff = rng.randint(4000, 7000)
    workers = rng.randint(180_000, 260_000)
    districts = plan.units_at("huyen")
    communes = plan.units_at("xa")
    last = plan.milestones[-1]

    def summed(units: list[Unit], key: tuple) -> int:
        return sum(v for u in units if isinstance(v := truth[u.code].get(key), int))

    for ind in plan.rate_indicators():
        if ind.authority.get("tinh") != (unit.code,) or not plan.entered_by(ind, "so_nganh", unit):
            continue
        code = ind.code
        below = ind.authority.get("huyen")
        for m in plan.milestones:
            late = int(m == last)
            if below == ("xa",):
                # Summed from communes below the province: the department reports the same figure.
                for part in ("num", "den"):
                    out[("kq", code, m, part)] = summed(communes, ("kq", code, m, part))
            elif below == (SELF,):
                # Districts report their own staff; the province adds its own.
                sub_num = summed(districts, ("kq", code, m, "num"))
                sub_den = summed(districts, ("kq", code, m, "den"))
                own = provincial_staff if code.startswith("CBCCVC_") else provincial_staff // 8
                rate = {"CBCCVC_UD_CNTT": (82, 96), "CBCCVC_NGOAI_NGU": (45, 70)}.get(code, (88, 100))
                _pair(out, code, m, sub_num + _count(rng, own, *rate), sub_den + own)
            elif code.startswith("CNLD_"):
                d = round(workers * (1.0 if late else 0.8))
                low, high = {
                    "CNLD_CNTT_NN": (35, 60),
                    "CNLD_KCN_THPT": (55, 85),
                    "CNLD_TAY_NGHE": (60, 90),
                }.get(code, (50, 80))
                _pair(out, code, m, _count(rng, d, low + 10 * late, high + 8 * late), d)
            elif code == "HSSV_KNS":
                d = rng.randint(300_000, 340_000)
                _pair(out, code, m, _count(rng, d, 45 + 10 * late, 60 + 10 * late), d)
            elif code == "TV_LUOT_SD_TANG":
                d = rng.randint(300_000, 500_000)
                _pair(out, code, m, _count(rng, d, 4, 15), d)
            elif code == "TV_TY_LE_DAN_SD":
                _pair(out, code, m, _count(rng, pop[m], 10 + 5 * late, 20 + 5 * late), pop[m])
            else:  # one provincial library and the like
                _pair(out, code, m, 1, 1)
    return out


def _nominee_unit_text(plan: Plan, unit: Unit) -> str:
    return layout.unit_option(plan, unit)


class _Nominees:
    """Draws nominee records with names unique across the province."""

    def __init__(self, plan: Plan, rng: random.Random):
        self.plan, self.rng, self.used = plan, rng, set()

    def person(self) -> str:
        while True:
            name = person_name(self.rng)
            if name not in self.used:
                self.used.add(name)
                return name

    def summary(self) -> str:
        deed = self.rng.choice(DEEDS).format(n=self.rng.randint(2, 40) * 10)
        return f"Có nhiều đóng góp trong xây dựng xã hội học tập giai đoạn 2012–2020; {deed}."

    def collective(self, award: str, where: Unit) -> dict[str, object]:
        place = place_name(where)
        if where.level == "xa":
            options = [f"Trung tâm học tập cộng đồng {place}", f"Hội Khuyến học {place}",
                       f"Trường Tiểu học {base_name(where)}", f"Dòng họ {self.rng.choice(SURNAMES)}, {place}"]  # fmt: skip
        elif where.level == "huyen":
            options = [f"Phòng Giáo dục và Đào tạo {place}", f"Hội Khuyến học {place}",
                       f"Trung tâm Giáo dục nghề nghiệp – Giáo dục thường xuyên {place}"]  # fmt: skip
        else:
            options = [f"Phòng Giáo dục thường xuyên – {where.name}" if where.code == "SGDDT" else where.name]
        name = self.rng.choice(options)
        while name in self.used:
            name = f"{self.rng.choice(options)} ({self.rng.randint(2, 9)})"
        self.used.add(name)
        return {"award": award, "kind": COLLECTIVE, "name": name,
                "unit": _nominee_unit_text(self.plan, where), "summary": self.summary(),
                "previous": self.rng.choice(PREVIOUS)}  # fmt: skip

    def individual(self, award: str, where: Unit) -> dict[str, object]:
        n = noun(where)
        if where.level == "xa":
            options = [f"Chủ tịch Hội Khuyến học {n}", "Giám đốc Trung tâm học tập cộng đồng",
                       f"Phó Chủ tịch UBND {n}", "Công chức Văn hóa – Xã hội", "Trưởng ấp"]  # fmt: skip
        elif where.level == "huyen":
            options = ["Phó Trưởng phòng Giáo dục và Đào tạo", "Chuyên viên Phòng Giáo dục và Đào tạo",
                       f"Chủ tịch Hội Khuyến học {n}"]  # fmt: skip
        else:
            options = ["Phó Giám đốc", "Trưởng phòng", "Chuyên viên"]
        return {"award": award, "kind": INDIVIDUAL, "name": self.person(), "position": self.rng.choice(options),
                "unit": _nominee_unit_text(self.plan, where), "summary": self.summary(),
                "previous": self.rng.choice(PREVIOUS)}  # fmt: skip


def nomination_entries(rows: list[dict[str, object]]) -> dict[tuple, object]:
    out: dict[tuple, object] = {}
    for i, row in enumerate(rows):
        for fld, value in row.items():
            if value not in (None, ""):
                out[("kt", i, fld)] = value
    return out


def nominations(entries: Mapping[tuple, object]) -> list[dict[str, object]]:
    """The nomination rows of an entry dict, in row order."""
    rows: dict[int, dict[str, object]] = {}
    for key, value in entries.items():
        if key[0] == "kt":
            rows.setdefault(key[1], {})[key[2]] = value
    return [rows[i] for i in sorted(rows)]


def _unit_info(unit: Unit, rng: random.Random, date: dt.date) -> dict[tuple, object]:
    if unit.level == "xa":
        positions = ("Công chức Văn hóa – Xã hội", f"Phó Chủ tịch UBND {noun(unit)}",
                     "Cán bộ phụ trách giáo dục", f"Chủ tịch Hội Khuyến học {noun(unit)}")  # fmt: skip
        mail = f"ubnd.{slug(unit.name).lower().replace('_', '')}.{unit.code}@longan.gov.vn"
    elif unit.level == "huyen":
        positions = ("Chuyên viên Phòng Giáo dục và Đào tạo", "Phó Trưởng phòng Giáo dục và Đào tạo")
        mail = f"pgddt.{slug(base_name(unit)).lower().replace('_', '')}@longan.edu.vn"
    elif unit.level == "so_nganh":
        positions = ("Chuyên viên", "Phó Chánh Văn phòng", "Phó Trưởng phòng")
        mail = f"{unit.code.lower()}@longan.gov.vn"
    else:
        positions = ("Chuyên viên Phòng Giáo dục thường xuyên – Sở Giáo dục và Đào tạo",)
        mail = "phonggdtx.solongan@moet.gov.vn"
    if rng.random() < 0.7:
        phone = f"0272 3 8{rng.randint(10, 99)} {rng.randint(0, 999):03d}"
    else:
        phone = (
            f"09{rng.randint(0, 9)}{rng.randint(0, 9)} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
        )
    return {
        ("unit", "unit"): unit.code,
        ("unit", "reporter"): person_name(rng),
        ("unit", "position"): rng.choice(positions),
        ("unit", "phone"): phone,
        ("unit", "email"): mail,
        ("unit", "date"): date,
    }


def _when(rng: random.Random, day: dt.date, first_hour: int = 7) -> dt.datetime:
    return dt.datetime.combine(
        day, dt.time(rng.randint(first_hour, 16), rng.randint(0, 59), rng.randint(0, 59))
    )


_COMMUNE_NAMES = (
    "BC tổng kết XHHT - {name}.xlsx",
    "bao_cao_{code}.xlsx",
    "{ascii} - Bao cao tong ket XHHT 2012-2020.xlsx",
    "Phụ lục tổng kết XHHT {name}.xlsx",
    "XHHT_{slug}_2020.xlsx",
    "TK XHHT {code} {ascii}.xlsx",
    "Báo cáo XHHT {name} (gửi huyện).xlsx",
    "{code}_tong_ket_XHHT.xlsx",
)


def _district_folder(plan: Plan, district: Unit) -> str:
    return f"xa/{district.code}_{slug(district.name)}"


def _commune_file(plan: Plan, unit: Unit, rng: random.Random, ext: str = "xlsx") -> str:
    name = rng.choice(_COMMUNE_NAMES).format(
        name=unit.name, code=unit.code, ascii=textnorm.ascii_key(unit.name).title(), slug=slug(unit.name)
    )
    name = textnorm.nfc(name)
    if ext != "xlsx":
        name = name[: -len(".xlsx")] + "." + ext
    return f"{_district_folder(plan, plan.units[unit.parent])}/{name}"


def lo_units(plan: Plan) -> dict[str, str]:
    """Fault kind -> commune code of the two files once saved by LibreOffice (independent of the seed)."""
    return {
        "lo-xls": plan.children(LO_XLS_DISTRICT, "xa")[0].code,
        "lo-xlsx": plan.children(LO_XLSX_DISTRICT, "xa")[0].code,
    }


def make_province(plan: Plan, seed: int = DEMO_SEED) -> Province:
    """Clean, consistent entries for every unit of ``plan`` (deterministic for ``seed``)."""
    truth: dict[str, dict[tuple, object]] = {}
    population: dict[str, dict[int, int]] = {}
    file_names: dict[str, str] = {}
    received: dict[str, dt.datetime] = {}
    fixed = set(lo_units(plan).values())
    xa_deadline = plan.deadline("xa").date if plan.deadline("xa") else COMMUNE_DEADLINE

    for unit in plan.units_at("xa"):
        # The LibreOffice-saved files ship as package data: their units never depend on the seed.
        rng = random.Random(f"{DEMO_SEED if unit.code in fixed else seed}/xa/{unit.code}")
        values, pop, date = commune_entries(plan, unit, rng, xa_deadline)
        truth[unit.code] = values
        population[unit.code] = pop
        trng = random.Random(f"{seed}/files/{unit.code}")
        file_names[unit.code] = _commune_file(plan, unit, trng)
        day = min(date + dt.timedelta(days=trng.randint(0, 2)), xa_deadline)
        received[unit.code] = _when(trng, day)

    nominees = _Nominees(plan, random.Random(f"{seed}/nominees"))
    nominees.used.update(
        str(v) for vals in truth.values() for k, v in vals.items() if k[0] == "kt" and k[2] == "name"
    )
    huyen_deadline = plan.deadline("huyen").date
    for unit in plan.units_at("huyen"):
        rng = random.Random(f"{seed}/huyen/{unit.code}")
        values = district_values(plan, unit, rng)
        date = huyen_deadline - dt.timedelta(days=rng.randint(3, 9))
        values.update(_unit_info(unit, rng, date))
        values.update(narratives(plan, unit, rng, values))
        communes = plan.children(unit.code, "xa")
        rows = []
        for kind in ("collective", "collective", "individual", "individual"):
            where = unit if rng.random() < 0.25 else rng.choice(communes)
            rows.append(getattr(nominees, kind)("CTUBND", where))
        values.update(nomination_entries(_award_names(plan, rows)))
        truth[unit.code] = values
        name = rng.choice(("BC tổng kết XHHT {name}.xlsx", "Bao cao tong ket XHHT {ascii}.xlsx",
                           "{code} - Tổng kết Đề án XHHT 2012-2020.xlsx"))  # fmt: skip
        file_names[unit.code] = "huyen/" + textnorm.nfc(
            name.format(name=unit.name, ascii=textnorm.ascii_key(unit.name).title(), code=unit.code)
        )
        received[unit.code] = _when(rng, date + dt.timedelta(days=rng.randint(0, 2)))

    # Departments: figures of which they are the source, the consolidated figure otherwise.
    so_deadline = plan.deadline("so_nganh").date
    total_pop = {m: sum(p[m] for p in population.values()) for m in plan.milestones}
    departments = plan.units_at("so_nganh")
    rngs = {u.code: random.Random(f"{seed}/so_nganh/{u.code}") for u in departments}
    for unit in departments:
        truth[unit.code] = _department_own(plan, unit, rngs[unit.code], truth, total_pop)
    everything = Truth(plan, truth)
    for unit in departments:
        rng, values = rngs[unit.code], truth[unit.code]
        for ind in plan.rate_indicators():
            if plan.entered_by(ind, "so_nganh", unit):
                for m in plan.milestones:
                    for part in ("num", "den"):
                        key = ("kq", ind.code, m, part)
                        if key not in values:
                            values[key] = everything.total(plan.province.code, key)
        for src in plan.settings.funding_sources:
            for year in plan.settings.funding_years:
                values[("kp", src, year)] = _amount(rng, 10, 400)
        date = so_deadline - dt.timedelta(days=rng.randint(2, 10))
        values.update(_unit_info(unit, rng, date))
        values.update(narratives(plan, unit, rng, values))
        file_names[unit.code] = textnorm.nfc(f"so_nganh/{unit.code} - Báo cáo tổng kết XHHT 2012-2020.xlsx")
        received[unit.code] = _when(rng, date + dt.timedelta(days=rng.randint(0, 1)))

    # The province's own workbook (Sở GD&ĐT as the standing body): narrative and nominations.
    province = plan.province
    rng = random.Random(f"{seed}/tinh")
    date = dt.date(2020, 9, 25)
    values = _unit_info(province, rng, date)
    values.update(narratives(plan, province, rng, {}))
    pool = [*plan.units_at("huyen"), *plan.units_at("so_nganh")]
    rows = []
    for award in ("TTG", "BGDDT", "CTUBND"):
        quota = plan.quota(award, "tinh")
        for _ in range(quota.collective if quota else 0):
            rows.append(nominees.collective(award, rng.choice(pool)))
        for _ in range(quota.individual if quota else 0):
            rows.append(nominees.individual(award, rng.choice(pool)))
    values.update(nomination_entries(_award_names(plan, rows)))
    truth[province.code] = values
    file_names[province.code] = textnorm.nfc(
        "tinh/Ban chỉ đạo XHHT tỉnh - báo cáo và đề nghị khen thưởng.xlsx"
    )
    received[province.code] = _when(rng, dt.date(2020, 9, 28))

    entries = {code: dict(vals) for code, vals in truth.items()}
    return Province(plan, seed, truth, entries, file_names, received, population)


def commune_entries(
    plan: Plan, unit: Unit, rng: random.Random, deadline: dt.date
) -> tuple[dict[tuple, object], dict[int, int], dt.date]:
    """Everything one commune enters in its workbook, clean and consistent: results and funding
    (:func:`commune_values`), the reporting officer, signed 3 to 15 days before ``deadline``, the
    report's narrative and 0 to 2 nominations for the provincial award. Returns (entries,
    population by milestone, the report's date)."""
    values, pop = commune_values(plan, unit, rng)
    date = deadline - dt.timedelta(days=rng.randint(3, 15))
    values.update(_unit_info(unit, rng, date))
    values.update(narratives(plan, unit, rng, values))
    noms = _Nominees(plan, rng)
    rows = [
        noms.collective("CTUBND", unit) if rng.random() < 0.5 else noms.individual("CTUBND", unit)
        for _ in range(rng.choice((0, 0, 1, 1, 2)))
    ]
    values.update(nomination_entries(_award_names(plan, rows)))
    return values, pop, date


def _award_names(plan: Plan, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Award codes -> the Vietnamese names the template's dropdown holds."""
    out = []
    for row in rows:
        award = plan.award(str(row["award"]))
        out.append({**row, "award": award.name if award else row["award"]})
    return out


def _fault_text(plan: Plan, kind: str, unit: Unit, **kw: object) -> str:
    """The fault's description for a clerk (``synth.fault-<kind>``): an indicator ``ind`` is named."""
    if "ind" in kw:
        code = str(kw.pop("ind"))
        kw.update(indicator=plan.indicators[code].name, code=code)
    return messages.text(f"synth.fault-{kind}", unit=f"{unit.name} ({unit.code})", **kw)


def plant_faults(province: Province) -> list[Fault]:
    """Plant the demo faults (``FAULT_COUNTS``), each in a different unit; returns and stores them."""
    if province.faults:
        raise ValueError("faults are already planted")
    plan = province.plan
    rng = random.Random(f"{province.seed}/faults")
    results = layout.build(plan).sheets["results"]
    awards_sheet = layout.build(plan).sheets["awards"]
    fixed = lo_units(plan)
    old_change = next(
        c for c in sorted(plan.changes.values(), key=lambda c: c.old_code)
        if c.old_code != c.new_code and plan.unit(c.new_code) and plan.unit(c.new_code).level == "xa"
    )  # fmt: skip
    taken = {*fixed.values(), old_change.new_code}
    pool = [u.code for u in plan.units_at("xa") if u.code not in taken]
    picks = rng.sample(pool, 11)
    faults: list[Fault] = []
    U = plan.units
    entries, truth = province.entries, province.truth

    def add(kind: str, code: str, issue: str | None, severity: str | None, **kw: object) -> None:
        text_kw = {k: kw.pop(k) for k in list(kw) if k.startswith("_")}
        faults.append(
            Fault(
                kind,
                code,
                kw.pop("file", province.file_names.get(code, "")),
                issue,
                severity,
                _fault_text(plan, kind, U[code], **{k[1:]: v for k, v in text_kw.items()}),
                **kw,
            )
        )

    deadline = plan.deadline("xa").date
    for code in picks[0:3]:
        when = _when(rng, deadline + dt.timedelta(days=rng.randint(2, 6)))
        province.received_at[code] = when
        add("late", code, "late", "warning", value=when, _when=when.strftime("%H:%M %d/%m/%Y"),
            _deadline=deadline.strftime("%d/%m/%Y"))  # fmt: skip
    for code in picks[3:5]:
        add("missing", code, "missing", "error", file="")

    def bump(code: str, ind: str, m: int, target: dict) -> tuple:
        key = ("kq", ind, m, "num")
        target[key] = truth[code][("kq", ind, m, "den")] + rng.randint(1, 9)
        return key

    code = picks[5]
    key = bump(code, "DHHT", 2020, entries[code])
    add("num-exceeds-den", code, "num-exceeds-den", "error", sheet=results, key=key, value=entries[code][key],
        _ind="DHHT", _year=2020)  # fmt: skip
    code = picks[6]
    key = ("kq", "CDHT_AP", 2015, "num")
    entries[code][key] = -rng.randint(1, 5)
    add("count-negative", code, "count-negative", "error", sheet=results, key=key, value=entries[code][key],
        _ind="CDHT_AP", _year=2015, _value=entries[code][key])  # fmt: skip
    code = picks[7]
    key = ("kq", "XMC_BC_15_60", 2020, "den")
    number = truth[code][key]
    text = vn_number(number)
    entries[code][key] = text
    add("number-as-text", code, "number-as-text", "warning", sheet=results, key=key, value=text,
        _ind="XMC_BC_15_60", _year=2020, _value=text, _number=vn_number(number))  # fmt: skip
    for kind, ext in (("lo-xlsx", "xlsx"), ("lo-xls", "xls")):
        code = fixed[kind]
        if ext == "xls":
            base = province.file_names[code]
            province.file_names[code] = base[: -len(".xlsx")] + ".xls"
        add(kind, code, None, None)
    code = picks[8]
    key = ("kq", "XMC_BC_15_35", 2020, "rate")
    num, den = truth[code][("kq", "XMC_BC_15_35", 2020, "num")], truth[code][(*key[:3], "den")]
    typed = round(num / den * 100, 1)
    add("formula-replaced", code, "formula-replaced", "warning", sheet=results, key=key, value=typed,
        _ind="XMC_BC_15_35", _year=2020, _value=vn_number(typed))  # fmt: skip

    quota_d, dup_a, dup_b = rng.sample([u.code for u in plan.units_at("huyen")], 3)
    rows = nominations(entries[quota_d])
    extra = _Nominees(plan, random.Random(f"{province.seed}/quota"))
    extra.used.update(str(r["name"]) for vals in entries.values() for r in nominations(vals))
    where = rng.choice(plan.children(quota_d, "xa"))
    rows.insert(2, _award_names(plan, [extra.collective("CTUBND", where)])[0])
    _set_nominations(entries[quota_d], rows)
    award = plan.award("CTUBND")
    count = sum(r["kind"] == COLLECTIVE and r["award"] == award.name for r in rows)
    add("quota-exceeded", quota_d, "quota-exceeded", "error", sheet=awards_sheet, key=("kt", 2, "kind"),
        value=count, _count=count, _award=award.name, _quota=plan.quota("CTUBND", "huyen").collective)  # fmt: skip
    first = next(r for r in nominations(entries[dup_a]) if r["kind"] == INDIVIDUAL)
    rows_b = nominations(entries[dup_b])
    idx = max(i for i, r in enumerate(rows_b) if r["kind"] == INDIVIDUAL)
    rows_b[idx] = {**rows_b[idx], **{k: first[k] for k in ("name", "position", "unit")}}
    _set_nominations(entries[dup_b], rows_b)
    add("duplicate-nominee", dup_b, "duplicate-nominee", "error", sheet=awards_sheet, key=("kt", idx, "name"),
        value=first["name"], related=(dup_a,), _person=first["name"], _other=U[dup_a].name)  # fmt: skip

    code = picks[9]
    first_file = province.file_names[code]
    stem = first_file[: -len(".xlsx")]
    second_file = textnorm.nfc(stem + rng.choice((" (đã sửa).xlsx", "_lan2.xlsx", " - bản sửa.xlsx")))
    province.first_entries[code] = dict(truth[code])
    bump(code, "GDHT", 2020, province.first_entries[code])
    # The corrected file is dated and sent on its report date D (at least 3 days before the commune
    # deadline); the first one, dated D - 2, was sent on D - 2 at the same hour.
    day = truth[code][("unit", "date")]
    first_time = _when(rng, day - dt.timedelta(days=2))
    province.first_entries[code][("unit", "date")] = first_time.date()
    province.received_at[code] = first_time + dt.timedelta(days=2)
    province.file_names[code] = second_file
    add("resubmission", code, "superseded", "info", file=first_file, value=first_time,
        other_files=(second_file,), _days=2)  # fmt: skip

    code = picks[10]
    pdf = f"{_district_folder(plan, U[U[code].parent])}/Bao cao xa {textnorm.ascii_key(base_name(U[code])).title()}.xlsx"
    add("not-a-workbook", code, "not-a-workbook", "error", file=pdf, _file=pdf.rsplit("/", 1)[1])

    code = old_change.new_code
    old_file = f"{_district_folder(plan, U[U[code].parent])}/BC XHHT {old_change.old_name}.xlsx"
    province.file_names[code] = textnorm.nfc(old_file)
    add("old-code", code, "unit-old-code", "warning", sheet=layout.build(plan).sheets["unit"],
        key=("unit", "unit"), value=old_change.old_code, _old=old_change.old_code,
        _old_name=old_change.old_name, _effective=old_change.effective.strftime("%d/%m/%Y"))  # fmt: skip

    province.faults = faults
    return faults


def _set_nominations(values: dict[tuple, object], rows: list[dict[str, object]]) -> None:
    for key in [k for k in values if k[0] == "kt"]:
        del values[key]
    values.update(nomination_entries(rows))


# -- writing ---------------------------------------------------------------------------------------


class TemplateBuilds:
    """Templates built once and shared: the demo writes a department's official template and then
    fills the same build as that department's received file (a build costs ~0.3 s)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._built: dict[tuple[str, str | None], tuple[Workbook, bytes]] = {}

    def has(self, level: str, unit: Unit | None) -> bool:
        return (level, unit.code if unit is not None else None) in self._built

    def get(self, level: str, unit: Unit | None) -> tuple[Workbook, bytes]:
        """The workbook ``templates.build_workbook`` makes for ``level`` and ``unit``, and its saved bytes."""
        key = (level, unit.code if unit is not None else None)
        if key not in self._built:
            wb = templates.build_workbook(self.plan, level, unit)
            self._built[key] = wb, xlsxcopy.workbook_bytes(wb)[0]  # openpyxl's save, its sheets in UTF-8
        return self._built[key]

    def official(self, level: str, unit: Unit | None, name: str) -> bytes:
        """The bytes of the official template ``name`` as ``fileio.save_workbook`` writes it (formula
        results cached); ``get`` keeps openpyxl's own bytes, which the per-unit writers fill."""
        wb, saved = self.get(level, unit)
        return finished_bytes(wb, saved, name) or saved

    def write_official(self, folder: str | Path, workers: int = 1) -> list[Path]:
        """The official templates into ``folder``, as ``templates.write_templates`` writes them.

        With ``workers=2`` (where the platform can fork) a second process writes the level
        templates while this one builds the per-unit ones, which are kept here for reuse.
        """
        folder = Path(folder)
        files = templates.official_files(self.plan)
        side = None
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            levels = [(name, level) for name, level, unit in files if unit is None]
            files = [f for f in files if f[2] is not None]
            side = _Side(_write_level_templates, self.plan, folder, levels)
        try:
            written = [write_bytes(folder / name, self.official(level, unit, name)) for name, level, unit in files]
            if side is not None:
                side.wait(lambda name: written.append(folder / name))
        finally:
            if side is not None:
                side.stop()
        return written


def _write_level_templates(plan: Plan, folder: Path, files: list[tuple[str, str]], report) -> None:
    for name, level in files:
        save_workbook(templates.build_workbook(plan, level), folder / name)
        report(name)


class LevelWriter:
    """Writes per-unit workbooks of one level from one template, built and saved once.

    The template is ``templates.build_workbook`` for ``first`` (a per-unit template: the unit's
    dropdown item, its code in ``_meta``). Each file is that saved package with only some cells'
    XML replaced (:mod:`xlsxcopy`): the input cells, the other cells naming the unit, and the
    formula cells a clerk may type over. What a cell gets is learnt from the template itself:
    each input cell is filled once with the template's own fill per type of value ``entries``
    hold there (and each formula cell per type ``typed`` holds), which gives the cell's data type
    and style, then restored; a value of another type is refused. A date gets a number format, so a new cell style: the saved styles part is written
    again with it. ``tests/test_synth.py`` checks that a file equals ``templates.build_workbook``
    with the same values, part by part.
    """

    def __init__(
        self,
        plan: Plan,
        level: str,
        first: Unit,
        entries: Iterable[Mapping[tuple, object]] = (),
        builds: TemplateBuilds | None = None,
        typed: Iterable[Mapping[tuple, object]] = (),
    ):
        self.plan, self.first = plan, first
        self.lay: Layout = layout.build(plan, layout.template_for(plan, level))
        wb, saved = (builds or TemplateBuilds(plan)).get(level, first)
        self.epoch, self.properties = wb.epoch, copy.copy(wb.properties)
        cell = {key: wb[c.sheet].cell(c.row, c.col) for key, c in self.lay.inputs.items()}
        formulas = {key: wb[c.sheet].cell(c.row, c.col) for key, c in self.lay.formulas.items()}
        # Cells outside the inputs that hold the unit's dropdown text, code or name follow the unit,
        # unless their column names other units too (the list of every unit for nominees).
        label = layout.unit_option(plan, first)
        own = {label: "label", first.code: "code", first.name: "name"}
        others = {
            t
            for u in plan.units.values()
            if u is not first
            for t in (layout.unit_option(plan, u), u.code, u.name)
        }
        taken = set(cell.values())
        unit_cells = {}
        for ws in wb.worksheets:
            listed = {
                c.column
                for row in ws.iter_rows()
                for c in row
                if isinstance(c.value, str) and c.value in others
            }
            for row in ws.iter_rows():
                for c in row:
                    if (
                        isinstance(c.value, str)
                        and c.value in own
                        and c not in taken
                        and c.column not in listed
                    ):
                        unit_cells[c] = own[c.value]
        ref = lambda c: (c.parent.title, c.coordinate)  # noqa: E731
        self.inputs = {key: ref(c) for key, c in cell.items()}
        self.formulas = {key: ref(c) for key, c in formulas.items()}
        self.unit_cells = {ref(c): what for c, what in unit_cells.items()}
        self.kinds: dict[tuple, tuple[str, int | None]] = {}  # (sheet, ref, value type) -> (data type, style)
        samples: dict[tuple, object] = {}
        for values in entries:
            for key, value in values.items():
                if value is not None:
                    samples.setdefault((key, type(value)), value)
        samples[(("unit", "unit"), str)] = label  # write() passes the unit's text, never its code
        for (key, _kind), value in samples.items():
            self._probe(cell[key], value, lambda v, key=key: templates._fill(wb, plan, self.lay, {key: v}))
        for values in typed:
            for key, value in values.items():
                c = formulas[key]
                if (c.parent.title, c.coordinate, type(value)) not in self.kinds:
                    self._probe(c, value, lambda v, c=c: setattr(c, "value", v))
        for c, what in unit_cells.items():
            self._probe(c, label if what == "label" else c.value, lambda v, c=c: setattr(c, "value", v))
        slots: dict[str, list[str]] = {}
        for sheet, coordinate in {*self.inputs.values(), *self.formulas.values(), *self.unit_cells}:
            slots.setdefault(sheet, []).append(coordinate)
        # The probes only added cell styles at the end of the workbook's list: the saved sheets
        # keep their style indices, and the styles part is written again with the new ones.
        self.package = xlsxcopy.Package(saved, slots)
        self.package.parts[ARC_STYLE] = tostring(write_stylesheet(wb))

    def _probe(self, c, value: object, fill: Callable[[object], None]) -> None:
        """Learn the data type and style ``fill(value)`` gives cell ``c``, then undo it."""
        before = c.value, c.data_type, c.number_format, c.style_id
        fill(value)
        if c.value != value or type(c.value) is not type(value):
            raise RuntimeError(f"{c.parent.title}!{c.coordinate}: the template's fill changes {value!r}")
        self.kinds[(c.parent.title, c.coordinate, type(value))] = (
            c.data_type,
            c.style_id if c.has_style else None,
        )
        c.value, c.data_type, c.number_format = before[:3]
        if c.style_id != before[3]:
            raise RuntimeError(f"{c.parent.title}!{c.coordinate}: the template's fill cannot be undone")

    def _element(self, where: tuple[str, str], value: object) -> bytes:
        kind = self.kinds.get((*where, type(value)))
        if kind is None:
            raise TypeError(f"{where[0]}!{where[1]}: no {type(value).__name__} was expected here")
        return xlsxcopy.element(where[1], kind[1], kind[0], value, self.epoch)

    def workbook_bytes(
        self,
        unit: Unit,
        values: Mapping[tuple, object],
        as_code: str | None = None,
        typed: Mapping[tuple, object] | None = None,
        saved_at: dt.datetime | None = None,
    ) -> bytes:
        """``unit``'s workbook as bytes; ``as_code`` writes another (e.g. pre-merger) unit code
        instead, ``typed`` are values typed over formula cells, ``saved_at`` the file's modified time."""
        parts = {}
        if saved_at is not None:
            props = copy.copy(self.properties)
            props.modified = saved_at
            parts[ARC_CORE] = tostring(props.to_tree())
        return self.package.copy(self.cells(unit, values, as_code, typed), parts, date_time=saved_at)

    def cells(
        self,
        unit: Unit,
        values: Mapping[tuple, object],
        as_code: str | None = None,
        typed: Mapping[tuple, object] | None = None,
    ) -> dict[tuple[str, str], bytes]:
        """The cells :meth:`workbook_bytes` writes for ``unit``: ``(sheet, ref) -> <c> element``
        (for :meth:`xlsxcopy.Package.copy` or :meth:`xlsxcopy.Package.filled`)."""
        values = dict(values)
        label, name = layout.unit_option(self.plan, unit), unit.name
        if as_code is not None:
            change = self.plan.changes.get(as_code)
            parent = self.plan.unit(change.parent) if change else None
            name = change.old_name if change else unit.name
            label = f"{as_code} - {name}"
            if parent is not None and unit.level == "xa":
                label += f" ({parent.name})"
        values[("unit", "unit")] = label
        follow = {"label": label, "code": as_code or unit.code, "name": name}
        cells = {where: self._element(where, follow[what]) for where, what in self.unit_cells.items()}
        for key, value in values.items():
            if value is not None:
                if key not in self.inputs:
                    raise KeyError(f"no input cell for {key!r}")
                cells[self.inputs[key]] = self._element(self.inputs[key], value)
        for key, value in (typed or {}).items():
            cells[self.formulas[key]] = self._element(self.formulas[key], value)
        return cells

    def write(self, unit: Unit, values: Mapping[tuple, object], path: Path, **kw) -> Path:
        """Write ``unit``'s workbook to ``path`` (options as :meth:`workbook_bytes`)."""
        return write_bytes(path, self.workbook_bytes(unit, values, **kw))


def minimal_pdf(title: str) -> bytes:
    """A small valid one-page PDF with one line of (ASCII) text."""
    text = textnorm.ascii_key(title).replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 60 780 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def digest(values: Mapping[tuple, object]) -> str:
    """A stable hash of a unit's entries (to tell whether a shipped file still matches)."""
    blob = json.dumps(sorted((list(map(str, k)), repr(v)) for k, v in values.items()), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_folder() -> Path:
    return Path(str(resources.files("xhht_xl") / "data"))


def shipped_name(kind: str, code: str) -> str:
    return f"demo_{code}.xls" if kind == "lo-xls" else f"demo_{code}_lo.xlsx"


def shipped_stamp(plan: Plan, values: Mapping[tuple, object]) -> dict[str, str]:
    """What a shipped LibreOffice file must match: its entries, the plan and the template layout."""
    return {
        "digest": digest(values),
        "plan_fingerprint": plan.fingerprint,
        "layout_fingerprint": layout.build(plan).fingerprint,
        "template_version": plan.settings.template_version,
    }


def _shipped(province: Province, kind: str, code: str) -> Path:
    path = data_folder() / shipped_name(kind, code)
    index_path = data_folder() / DATA_INDEX
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    want = shipped_stamp(province.plan, province.entries[code])
    have = index.get(path.name, {})
    if not path.is_file() or any(have.get(k) != v for k, v in want.items()):
        raise RuntimeError(
            f"{path.name} is missing or no longer matches the generator for unit {code}: "
            "run `python scripts/make_demo_xls.py` (needs LibreOffice) and commit xhht_xl/data/"
        )
    return path


def write_unit_workbook(plan: Plan, province: Province, code: str, path: Path, values=None) -> Path:
    """Write one unit's workbook as submitted (no file-level faults); used by the demo-data script."""
    unit = plan.units[code]
    values = values or province.entries[code]
    return LevelWriter(plan, unit.level, unit, [values]).write(unit, values, path)


@dataclass(frozen=True)
class _Job:
    """One file to write: a unit's workbook, a shipped LibreOffice-saved file, or a PDF."""

    file: WrittenFile
    values: Mapping[tuple, object] | None = None  # a workbook's entries
    as_code: str | None = None
    typed: Mapping[tuple, object] | None = None  # numbers typed over formula cells
    shipped: str = ""  # fault kind of a shipped file ("lo-xls", "lo-xlsx")
    pdf_title: str = ""


def _jobs(plan: Plan, province: Province) -> list[_Job]:
    """Every file of the submissions folder, in writing order (units grouped by level)."""
    by_unit: dict[str, dict[str, Fault]] = {}
    for f in province.faults:
        by_unit.setdefault(f.unit, {})[f.kind] = f
    missing = {f.unit for f in province.faults if f.kind == "missing"}
    jobs: list[_Job] = []
    for level in ("xa", "huyen", "so_nganh", "tinh"):
        for unit in plan.units_at(level) if level != "tinh" else [plan.province]:
            if unit.code in missing:
                continue
            kinds = by_unit.get(unit.code, {})
            rel, when = province.file_names[unit.code], province.received_at[unit.code]
            shipped = next((k for k in ("lo-xls", "lo-xlsx") if k in kinds), "")
            if shipped:
                fmt = "xls" if shipped == "lo-xls" else "xlsx"
                jobs.append(_Job(WrittenFile(rel, unit.code, level, fmt, when), shipped=shipped))
                continue
            if "resubmission" in kinds:
                f = kinds["resubmission"]
                jobs.append(_Job(WrittenFile(f.file, unit.code, level, "xlsx", f.value, superseded=True),
                                 province.first_entries[unit.code]))  # fmt: skip
            typed = {f.key: f.value for f in kinds.values() if f.kind == "formula-replaced"}
            as_code = kinds["old-code"].value if "old-code" in kinds else None
            jobs.append(_Job(WrittenFile(rel, unit.code, level, "xlsx", when), province.entries[unit.code],
                             as_code, typed))  # fmt: skip
            if "not-a-workbook" in kinds:
                f = kinds["not-a-workbook"]
                pdf = WrittenFile(f.file, unit.code, level, "pdf", when + dt.timedelta(minutes=3))
                jobs.append(_Job(pdf, pdf_title=f"Bao cao tong ket XHHT {unit.name}"))
    return jobs


def write_submissions(
    plan: Plan,
    province: Province,
    folder: str | Path,
    overwrite: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    builds: TemplateBuilds | None = None,
    workers: int = 1,
) -> Manifest:
    """Write every submission into ``folder`` as it would arrive, plus ``received_at.csv``.

    ``progress(i, n, path)`` is called after each file. Communes and districts are filled into
    one template per level; each department and the province into their own template, taken from
    ``builds`` when the caller has built them already. ``workers=2`` writes part of the files in
    a second (forked) process, where the platform can fork.
    """
    start = time.perf_counter()
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder} is not empty")
        for sub in ("xa", "huyen", "so_nganh", "tinh"):
            shutil.rmtree(folder / sub, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(plan, province)
    builds = builds or TemplateBuilds(plan)
    mine, theirs = jobs, []
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        mine, theirs = _split(plan, jobs, builds)
    done: list[str] = []

    def report(path: str) -> None:
        done.append(path)
        if progress is not None:
            progress(len(done), len(jobs), path)

    side = _Side(_write_jobs, plan, province, folder, theirs, builds) if theirs else None
    try:
        _write_jobs(plan, province, folder, mine, builds, report, side.poll(report) if side else None)
        if side is not None:
            side.wait(report)
    finally:
        if side is not None:
            side.stop()

    for f in sorted((j.file for j in jobs), key=lambda f: f.path):
        # a file's modification time is when it arrived, as after saving an attachment
        stamp = f.received_at.timestamp()
        os.utime(folder / f.path, (stamp, stamp))
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["file", "received_at"])
    for f in sorted((j.file for j in jobs), key=lambda f: f.path):
        out.writerow([f.path, f.received_at.isoformat()])
    write_text(folder / RECEIVED_CSV, buf.getvalue())
    return _manifest(plan, province, folder, time.perf_counter() - start, jobs)


def _writer_keys(plan: Plan, jobs: list[_Job]) -> list[str]:
    """Jobs with the same key fill one template: a level whose official templates are one per unit
    (departments: each its own indicators) has a template per unit, any other level one for all
    (they differ only by the unit's own cells)."""
    per_unit = {level for _name, level, u in templates.official_files(plan) if u is not None}
    return [j.file.unit if j.file.level in per_unit else j.file.level for j in jobs]


def _write_jobs(
    plan: Plan,
    province: Province,
    folder: Path,
    jobs: list[_Job],
    builds: TemplateBuilds,
    report: Callable[[str], None],
    between: Callable[[], None] | None = None,
) -> None:
    """Write ``jobs`` (all those of each template they use), calling ``report(path)`` after each
    file and ``between()`` too (to collect another process's reports)."""
    writers: dict[str, LevelWriter] = {}
    keys = _writer_keys(plan, jobs)
    for job, key in zip(jobs, keys, strict=True):
        f = job.file
        unit = plan.units[f.unit]
        target = folder / f.path
        if job.shipped:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_shipped(province, job.shipped, unit.code), target)
        elif job.pdf_title:
            write_bytes(target, minimal_pdf(job.pdf_title))
        else:
            if key not in writers:
                same = [j for j, k in zip(jobs, keys, strict=True) if k == key and j.values is not None]
                writers[key] = LevelWriter(plan, unit.level, unit, [j.values for j in same], builds,
                                           [j.typed for j in same if j.typed])  # fmt: skip
            writers[key].write(unit, job.values, target, as_code=job.as_code, typed=job.typed,
                               saved_at=f.received_at)  # fmt: skip
        report(f.path)
        if between is not None:
            between()


# Balancing two processes, in files written: building a template costs about as much as 45 files,
# preparing a writer from a built one (probes, styles, cutting the XML) about 8 (measured).
BUILD_COST_IN_FILES = 45
WRITER_COST_IN_FILES = 8


def _split(plan: Plan, jobs: list[_Job], builds: TemplateBuilds) -> tuple[list[_Job], list[_Job]]:
    """Two lists of jobs of about the same cost, each template's jobs on one side."""
    groups: dict[str, list[_Job]] = {}
    for job, key in zip(jobs, _writer_keys(plan, jobs), strict=True):
        groups.setdefault(key, []).append(job)

    def cost(key: str, group: list[_Job]) -> int:
        unit = plan.units[group[0].file.unit]
        if not any(j.values is not None for j in group):  # copies and PDFs only
            return len(group)
        built = builds.has(unit.level, unit)
        return len(group) + WRITER_COST_IN_FILES + (0 if built else BUILD_COST_IN_FILES)

    sides: tuple[list[_Job], list[_Job]] = ([], [])
    totals = [0, 0]
    for key, group in sorted(groups.items(), key=lambda kv: -cost(*kv)):
        i = totals.index(min(totals))
        sides[i].extend(group)
        totals[i] += cost(key, group)
    return sides


class _Side:
    """A function run in a forked process while this one works; it reports each file it writes
    back through a queue, and an error as its traceback text."""

    def __init__(self, fn: Callable, *args: object):
        ctx = multiprocessing.get_context("fork")
        self.queue = ctx.Queue()
        self.process = ctx.Process(target=self._run, args=(fn, args), daemon=True)
        self.process.start()
        self.finished = False

    def _run(self, fn: Callable, args: tuple) -> None:
        try:
            fn(*args, lambda path: self.queue.put(("file", path)))
            self.queue.put(("done", ""))
        except BaseException:
            self.queue.put(("error", traceback.format_exc()))

    def _take(self, message: tuple[str, str], report: Callable[[str], None]) -> None:
        kind, text = message
        if kind == "file":
            report(text)
        elif kind == "done":
            self.finished = True
        else:
            raise RuntimeError(f"the second writer process failed:\n{text}")

    def poll(self, report: Callable[[str], None]) -> Callable[[], None]:
        """A function that passes on what the process reported so far, without waiting."""

        def drain() -> None:
            while not self.finished:
                try:
                    message = self.queue.get_nowait()
                except queue.Empty:
                    return
                self._take(message, report)

        return drain

    def wait(self, report: Callable[[str], None]) -> None:
        while not self.finished:
            try:
                message = self.queue.get(timeout=1)
            except queue.Empty:
                if not self.process.is_alive() and self.queue.empty():
                    raise RuntimeError(
                        f"the second writer process stopped (exit code {self.process.exitcode})"
                    ) from None
                continue
            self._take(message, report)
        self.process.join()

    def stop(self) -> None:
        if self.process.is_alive() and not self.finished:
            self.process.terminate()
        self.process.join()


def _manifest(
    plan: Plan, province: Province, folder: Path, seconds: float, jobs: list[_Job] | None = None
) -> Manifest:
    """The manifest of the files :func:`write_submissions` writes for ``province`` into ``folder``."""
    written = sorted((j.file for j in jobs or _jobs(plan, province)), key=lambda f: f.path)
    expected = {d.code: [c.code for c in plan.children(d.code, "xa")] for d in plan.units_at("huyen")}
    expected[plan.province.code] = [u.code for u in (*plan.units_at("huyen"), *plan.units_at("so_nganh"))]
    assert len({f.kind for f in province.faults}) == len(FAULT_COUNTS)
    return Manifest(folder, written, list(province.faults), expected, Truth(plan, province.truth),
                    folder / RECEIVED_CSV, seconds)  # fmt: skip


def read_received(path: str | Path) -> dict[str, dt.datetime]:
    """``received_at.csv`` -> {relative path: received time}."""
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["file"]: dt.datetime.fromisoformat(row["received_at"]) for row in csv.DictReader(fh)}


def demo(
    folder: str | Path,
    seed: int = DEMO_SEED,
    overwrite: bool = False,
    plan: Plan | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    builds: TemplateBuilds | None = None,
    workers: int = 1,
) -> Manifest:
    """The whole demo in one call: a province with its planted faults, written to ``folder``."""
    from .plan import load

    plan = plan or load()
    province = make_province(plan, seed)
    plant_faults(province)
    return write_submissions(
        plan, province, folder, overwrite=overwrite, progress=progress, builds=builds, workers=workers
    )


# -- a cache of written provinces (tests, benchmarks) -----------------------------------------------

CACHE_KEEP = 4  # cached provinces kept per cache folder (the most recently used)


def _own_modules(start: str = "synth") -> list[Path]:
    """Source files of this package that ``start`` imports, directly or not (read from the code)."""
    package = Path(__file__).resolve().parent
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    todo.append(node.module.split(".")[0])
                else:
                    todo.extend(alias.name for alias in node.names)
    return sorted(package / f"{name}.py" for name in seen | {"__init__"})


def generator_key(plan: Plan, seed: int = DEMO_SEED) -> str:
    """What the written province depends on: the seed, the plan (its files and fingerprint), the
    generator's code (this module and every module of ours it imports), the messages, the shipped
    LibreOffice-saved files, and the versions of Python, openpyxl and lxml (which serialises for it)."""
    import openpyxl

    try:
        from lxml import etree

        lxml_version = etree.__version__
    except ImportError:  # openpyxl then writes with the standard library
        lxml_version = "none"
    versions = f"{sys.version_info[:2]}\0{openpyxl.__version__}\0{lxml_version}"
    h = hashlib.sha256(f"{seed}\0{plan.fingerprint}\0{versions}\0".encode())
    data = data_folder()
    messages_folder = Path(__file__).resolve().parent / "messages"
    files = [
        *_own_modules(),
        *sorted(messages_folder.glob("*.toml")),
        *sorted(p for p in data.glob("demo_*") if p.is_file()),
        *sorted(p for p in Path(plan.folder).rglob("*") if p.is_file()),
    ]
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def cached_demo(
    folder: str | Path,
    cache: str | Path,
    seed: int = DEMO_SEED,
    plan: Plan | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    builds: TemplateBuilds | None = None,
    workers: int = 1,
) -> Manifest:
    """:func:`demo` into ``folder``, copying the files from ``cache`` when a province with the same
    :func:`generator_key` was written before (and storing it there otherwise).

    The manifest is always computed afresh; the files are copied, so nobody can alter the cache.
    """
    from .plan import load

    start = time.perf_counter()
    plan = plan or load()
    cache = Path(cache)
    stored = cache / generator_key(plan, seed)
    province = make_province(plan, seed)
    plant_faults(province)
    expected = sorted([j.file.path for j in _jobs(plan, province)] + [RECEIVED_CSV])
    if stored.is_dir() and sorted(_relative_files(stored)) == expected:
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty")
        shutil.copytree(stored, folder, dirs_exist_ok=True)
        stored.touch()  # recently used
        manifest = _manifest(plan, province, folder, time.perf_counter() - start)
        if progress is not None:
            progress(len(manifest.files), len(manifest.files), "")
        return manifest
    manifest = write_submissions(plan, province, folder, progress=progress, builds=builds, workers=workers)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache))
    try:
        shutil.copytree(manifest.folder, tmp, dirs_exist_ok=True)
        os.rename(tmp, stored)  # atomic: a reader sees a whole province or none
    except OSError:  # another process stored the same province first
        shutil.rmtree(tmp, ignore_errors=True)
    for old in sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime, reverse=True)[CACHE_KEEP:]:  # fmt: skip
        shutil.rmtree(old, ignore_errors=True)
    return manifest


def _relative_files(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
