"""Text helpers of the report: Vietnamese number formatting, sentences, near-duplicate groups.

Numbers follow the clerk's convention (CLERK.md; TCVN 6909 usage in administrative documents):
thousands separated by ".", decimals by ",", a rate rounded half-up to 0.1 as the verdict rule
does (``plan.round_rate``) and followed by a non-breaking space and "%": 1.417; 98,1 %.

Near-duplicates: two sentences say the same thing when their word-pair shingles overlap by at
least ``SIMILAR`` (Jaccard index) once numbers and the names of the plan's units are masked, so
"UBND huyện Tân Hưng đã tổ chức 12 hội nghị…" and "UBND xã Bình Tâm đã tổ chức 7 hội nghị…" form
one group.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

from .. import textnorm
from ..plan import Plan, round_rate

NBSP = "\u00a0"
SIMILAR = 0.5  # Jaccard index of word-pair shingles above which two sentences are one point
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def clean(value: object) -> str:
    """Text as Word and openpyxl accept it: XML-illegal control characters removed, line ends
    normalised to ``\\n``; nothing else is changed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _ILLEGAL.sub("", text)


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_int(x: object) -> str:
    """12345 -> "12.345" (Vietnamese thousands separator); a fraction keeps one decimal
    ("16.046,7"); None/NaN -> ""."""
    if _missing(x):
        return ""
    if float(x).is_integer():
        return f"{int(x):,}".replace(",", ".")
    return fmt_amount(x)


def fmt_amount(x: object) -> str:
    """An amount with one decimal: 16046.7 -> "16.046,7"; None/NaN -> ""."""
    if _missing(x):
        return ""
    return f"{float(x):,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def fmt_rate(rate: object) -> str:
    """A percentage rounded half-up to 0.1 as the verdict rule does: 98.104 -> "98,1" (a table cell
    under a "(%)" heading); None/NaN -> ""."""
    if _missing(rate):
        return ""
    return f"{round_rate(float(rate)):,}".replace(",", " ").replace(".", ",").replace(" ", ".")


def fmt_pct(rate: object) -> str:
    """A percentage in prose: 98.104 -> "98,1 %" (non-breaking space before the sign)."""
    text = fmt_rate(rate)
    return f"{text}{NBSP}%" if text else ""


def two(n: int) -> str:
    """Counts of awards as official lists write them: 1 -> "01"."""
    return f"{n:02d}"


def names(items: Sequence[str], limit: int = 4, more: Callable[[int], str] | None = None) -> str:
    """"A, B và C"; past ``limit`` names: "A, B, C, D" + ``more(count of the others)``."""
    items = list(items)
    if len(items) > limit and more is not None:
        return ", ".join(items[:limit]) + more(len(items) - limit)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " và " + items[-1]


# -- sentences -----------------------------------------------------------------------------------

# A sentence ends at ".", "!", "?" or "…" followed by white space and a capital letter, a digit or
# an opening quote; "1.417", "QĐ-UBND", "b/c" and "TP. Tân An" do not end one.
_END = re.compile(r"(?<=[.!?…])\s+(?=[\"“«(\[]?[0-9A-ZĐÀ-ỸÁ-Ỹ])")
_ABBREV = re.compile(r"(?:\b(?:TP|TX|TT|ThS|TS|PGS|GS|Tp|St|Q|P)\.)$")


def sentences(text: str) -> list[str]:
    """The sentences of a unit's paragraph, in order, stripped; line breaks also end a sentence."""
    out: list[str] = []
    for line in clean(text).split("\n"):
        line = " ".join(line.split())
        if not line:
            continue
        parts = _END.split(line)
        buf = ""
        for part in parts:
            buf = f"{buf} {part}" if buf else part
            if _ABBREV.search(buf):
                continue
            out.append(buf.strip())
            buf = ""
        if buf:
            out.append(buf.strip())
    return [s for s in out if s]


@lru_cache(maxsize=1 << 16)
def key(text: str) -> str:
    """``textnorm.match_key`` of a sentence, cached: the synthesis compares each sentence often."""
    return textnorm.match_key(text)


@cache
def _name_pattern(plan: Plan) -> re.Pattern:
    """The plan's unit names without their type word, longest first, as one pattern over keys."""
    words = set()
    prefixes = ("thành phố ", "thị xã ", "thị trấn ", "huyện ", "tỉnh ", "xã ", "phường ", "sở ")
    for u in plan.units.values():
        name = textnorm.match_key(u.name)
        for p in prefixes:
            if name.startswith(p):
                name = name[len(p) :]
                break
        if len(name) >= 3:
            words.add(name)
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


_NUMBER = re.compile(r"\d[\d.,]*")
_WORD = re.compile(r"\w+")


def shingles(sentence: str, plan: Plan) -> frozenset[str]:
    """Word pairs of a sentence compared for near-duplicates: case, tone placement, numbers and
    unit names do not count."""
    text = _name_pattern(plan).sub(" ", key(sentence))
    words = _WORD.findall(_NUMBER.sub(" 0 ", text))
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{a} {b}" for a, b in itertools.pairwise(words))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard index of two shingle sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class Said:
    """One sentence one unit wrote under one outline item."""

    unit: str
    sentence: str
    shingles: frozenset[str]
    order: int  # position among all sentences of the item (plan order of units, then text order)


@dataclass
class Point:
    """Sentences of several units that say the same thing (near-duplicates), kept once."""

    members: list[Said] = field(default_factory=list)

    @property
    def units(self) -> list[str]:
        return list(dict.fromkeys(s.unit for s in self.members))

    @property
    def support(self) -> int:
        return len(self.units)

    def representative(self) -> Said:
        """The member closest to all the others (highest summed similarity); ties go to the shorter
        sentence, then to the first written."""
        return self.ranked()[0]

    def ranked(self) -> list[Said]:
        """Members from the most to the least representative (see ``representative``)."""

        def score(s: Said) -> tuple:
            total = sum(similarity(s.shingles, o.shingles) for o in self.members if o is not s)
            return (-round(total, 9), len(s.sentence), s.order)

        return sorted(self.members, key=score)


# A bare whole number of four digits or more, outside the years 1900-2100 ("1417 lượt người").
_BARE = re.compile(r"(?<![\w.,/])(\d{4,})(?![\w/]|[.,]\d)")


def vn_numbers(text: str) -> str:
    """Thousands separators put into bare whole numbers of the issuer's own prose and of quoted
    sentences: "1417 lượt người" -> "1.417 lượt người"; years (1900-2100), codes ("781/QĐ") and
    numbers already written with separators are left as they are."""

    def fix(m: re.Match) -> str:
        n = int(m.group(1))
        return m.group(1) if 1900 <= n <= 2100 else fmt_int(n)

    return _BARE.sub(fix, text)


def group(said: Iterable[Said], threshold: float = SIMILAR) -> list[Point]:
    """Near-duplicate groups in order of first appearance: each sentence joins the first group
    whose first member it resembles at ``threshold`` or more, else opens a new group."""
    points: list[Point] = []
    for s in said:
        for p in points:
            if similarity(p.members[0].shingles, s.shingles) >= threshold:
                p.members.append(s)
                break
        else:
            points.append(Point([s]))
    return points


# -- quantities named in text ------------------------------------------------------------------


def quantities(sentence_list: Iterable[str], nouns: Sequence[str]) -> dict[str, float]:
    """``{noun: number}`` for every "<number> <noun>" in the sentences (``nouns`` in the order
    given; when a unit names the same noun twice the larger number is kept, since "12 hội nghị,
    trong đó 5 hội nghị…" counts 12)."""
    found: dict[str, float] = {}
    keys = [(n, key(n)) for n in nouns]
    for s in sentence_list:
        k = key(s)
        for m in re.finditer(r"(?<![\w.,/])(\d{1,3}(?:\.\d{3})+|\d+)\s+", k):
            rest = k[m.end() :]
            for noun, nkey in keys:
                if rest.startswith(nkey) and (len(rest) == len(nkey) or not rest[len(nkey)].isalnum()):
                    value = float(m.group(1).replace(".", ""))
                    found[noun] = max(found.get(noun, 0.0), value)
                    break
    return found
