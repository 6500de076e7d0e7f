"""Text normalisation for Vietnamese names and numbers typed into Excel by communes and districts.

Pure functions, standard library only:

* ``nfc`` — Unicode NFC, invisible characters removed, whitespace collapsed.
* ``canonical_tones`` / ``match_key`` / ``ascii_key`` — compare names whatever the tone-mark
  placement (Hòa/Hoà), case or spacing.
* ``detect_legacy`` / ``from_legacy`` / ``to_legacy`` / ``fix_text`` — repair text typed with the
  pre-Unicode TCVN3 (ABC, ``.VnTime``) and VNI (``VNI-Times``) fonts.
* ``parse_number`` / ``is_not_applicable`` — numbers typed as text the Vietnamese way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

__all__ = [
    "LegacyEncoding",
    "NumberStatus",
    "ParsedNumber",
    "ascii_key",
    "canonical_tones",
    "detect_legacy",
    "fix_text",
    "from_legacy",
    "is_not_applicable",
    "legacy_font_encoding",
    "match_key",
    "nfc",
    "parse_number",
    "to_legacy",
]

# ---------------------------------------------------------------------------
# NFC and whitespace
# ---------------------------------------------------------------------------

# Invisible characters that only ever get into cells by copy-paste. U+00AD (soft hyphen) is
# deliberately NOT here: it is the TCVN3 code of "ư" and must survive until legacy decoding.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u180e"), None)
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u180e]")


def capitalized(text: str) -> str:
    """``text`` with its first character upper-case and the rest as it is ("vượt định mức …" ->
    "Vượt định mức …"): a phrase worded for the middle of a sentence, standing alone in a cell or
    a line (CLERK.md)."""
    return text[:1].upper() + text[1:]


def nfc(s: str) -> str:
    """NFC-normalise, drop zero-width characters, turn NBSP and other Unicode spaces into
    plain spaces, collapse whitespace runs and strip: the form every other function starts from."""
    printable = s.isprintable()  # (one pass over the text, kept: ~3 ns a Vietnamese character)
    if not s.isascii():  # ASCII text is its own NFC and holds none of those characters
        normal = unicodedata.normalize("NFC", s)
        if normal is not s:  # (the text itself when it is NFC already: the usual cell)
            s, printable = normal, normal.isprintable()
        # the zero-width characters are all unprintable (category Cf): printable text has none
        if not printable and _ZERO_WIDTH_RE.search(s):  # scans in C, not per character
            s = s.translate(_ZERO_WIDTH)
            printable = s.isprintable()
    # Printable text holds no whitespace but U+0020 (every other space str.split() knows is a
    # control or separator character): with no double, leading or trailing space it is collapsed
    # already (the usual cell: no list of its words is made).
    if printable and "  " not in s and s[:1] != " " and s[-1:] != " ":
        return s
    # str.split() splits on every Unicode space, including U+00A0, U+202F and U+2007.
    return " ".join(s.split())


# ---------------------------------------------------------------------------
# Vietnamese letters, tones and syllables
# ---------------------------------------------------------------------------

# Combining tone marks: huyền, sắc, ngã, hỏi, nặng.
_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"
# Vowels with their vowel diacritics (circumflex, breve, horn) but no tone.
_VOWELS = "aăâeêioôơuưy"
_MODIFIED_VOWELS = set("ăâêôơư")


def _build_tone_tables() -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], str]]:
    split: dict[str, tuple[str, str]] = {}
    compose: dict[tuple[str, str], str] = {}
    for base in _VOWELS + _VOWELS.upper():
        compose[(base, "")] = base
        for mark in _TONE_MARKS:
            toned = unicodedata.normalize("NFC", base + mark)
            split[toned] = (base, mark)
            compose[(base, mark)] = toned
    return split, compose


_TONE_SPLIT, _TONE_COMPOSE = _build_tone_tables()

# Letters that exist only in Vietnamese Unicode text (outside Latin-1): their presence proves a
# string is already Unicode, since TCVN3 and VNI text is made of Latin-1 characters only.
_UNICODE_ONLY_VIET = frozenset(c for c in _TONE_SPLIT if ord(c) > 0xFF) | frozenset(
    "ăĂđĐĩĨũŨơƠưƯ\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323"
)

_SYLLABLE_RE = re.compile(
    r"(ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdđghklmnprstvx])?([aăâeêioôơuưy]+)(ch|ng|nh|[cmnpt])?"
)
# Vowel clusters (after the initial consonant; "qu" and "gi" take their u/i) of real syllables.
_CLUSTERS = frozenset(
    "a ă â e ê i o ô ơ u ư y "
    "ai ao au ay âu ây eo êu ia iê iu oa oă oe oi oo ôi ơi ua uâ uê ui uô uơ uy ưa ưi ươ ưu yê "
    "iêu oai oao oay oeo uây uôi uya uyê uyu ươi ươu yêu".split()
)
# Clusters that cannot end a syllable without a final consonant.
_NEEDS_FINAL = frozenset("ă â oă uâ iê yê uô ươ uyê".split())
# Clusters that end in a glide or an open vowel and so never take a final consonant.
_NO_FINAL = frozenset(
    "ai ao au ay âu ây eo êu ia iu oi ôi ơi ua ui ưa ưi ưu "
    "iêu oai oao oay oeo uây uôi uya uyu ươi ươu yêu".split()
)
# Loanword-only clusters (xoong, soóc): too rare in these documents to count as evidence.
_RARE_CLUSTERS = frozenset({"oo"})
# New-style placement puts the tone on the second vowel of these open clusters (hoà, khoẻ, thuỷ);
# old style puts it on the first (hòa, khỏe, thủy). All other clusters agree in both styles.
_STYLE_DEPENDENT = frozenset({"oa", "oe", "uy"})


def _untone(word: str) -> tuple[str, list[str]]:
    """Return the word without tone marks (NFC, same length) and the tone marks found."""
    bases: list[str] = []
    tones: list[str] = []
    for ch in word:
        base, mark = _TONE_SPLIT.get(ch, (ch, ""))
        bases.append(base)
        if mark:
            tones.append(mark)
    return "".join(bases), tones


def _parse_syllable(toneless_lower: str) -> tuple[str, str, str] | None:
    """Split a toneless lowercase syllable into (initial, vowel cluster, final), or None."""
    m = _SYLLABLE_RE.fullmatch(toneless_lower)
    if m is None:
        return None
    initial, cluster, final = m.group(1) or "", m.group(2), m.group(3) or ""
    if cluster not in _CLUSTERS:
        return None
    return initial, cluster, final


def _tone_index(cluster: str, final: str, style: str) -> int:
    """Index, inside the vowel cluster, of the vowel that carries the tone mark."""
    modified = [i for i, c in enumerate(cluster) if c in _MODIFIED_VOWELS]
    if modified:
        return modified[-1]  # ươ -> ơ, iê -> ê, uâ -> â, ưa -> ư
    if final or len(cluster) == 3:
        return len(cluster) - 1 if final else 1  # toán, hoạch / ngoài, khuỷu, ngoẹo
    if len(cluster) == 2:
        if cluster in _STYLE_DEPENDENT:
            return 1 if style == "new" else 0
        return 0  # mái, múa, mía, núi, hỏi
    return 0


def _plausible_syllable(word: str) -> bool:
    """True when ``word`` spells a possible Vietnamese syllable (used to judge legacy decoding)."""
    word = unicodedata.normalize("NFC", word)
    toneless, tones = _untone(word)
    if len(tones) > 1:
        return False
    parsed = _parse_syllable(toneless.lower())
    if parsed is None:
        return False
    initial, cluster, final = parsed
    if cluster in _RARE_CLUSTERS:
        return False
    if tones:  # the tone must sit where a typist puts it, in either style (not "kheõ")
        at = next(i for i, c in enumerate(word) if c in _TONE_SPLIT) - len(initial)
        if at not in (_tone_index(cluster, final, "new"), _tone_index(cluster, final, "old")):
            return False
    if (cluster in _NEEDS_FINAL and not final) or (cluster in _NO_FINAL and final):
        return False
    # Spelling rules: k/gh/ngh only before i, e, ê, y; c/ng never there; g never before e, ê.
    front = cluster[0] in "ieêy"
    if (initial in ("k", "gh", "ngh") and not front) or (initial in ("c", "ng") and front):
        return False
    if initial == "g" and cluster[0] in "eê":
        return False
    # -nh/-ch follow only a, ê, i, y (anh, ênh, inh, oanh, uênh, uynh); -ng/-c never follow i, y.
    if final in ("nh", "ch") and cluster not in ("a", "ê", "i", "y", "oa", "uê", "uy"):
        return False
    if final in ("ng", "c") and cluster in ("i", "y", "uy"):
        return False
    # Syllables closed by a stop consonant carry only sắc or nặng.
    return not (final in ("c", "ch", "p", "t") and (not tones or tones[0] not in "\u0301\u0323"))


_WORD_RE = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=1 << 16)
def _canonical_word(word: str, style: str) -> str:
    """``word`` with its tone mark on the canonical vowel (cached: names and labels repeat words)."""
    toneless, tones = _untone(word)
    if len(tones) != 1:
        return word
    lower = toneless.lower()
    parsed = _parse_syllable(lower)
    if parsed is None:
        return word
    initial, cluster, final = parsed
    pos = len(initial) + _tone_index(cluster, final, style)
    chars = list(toneless)
    composed = _TONE_COMPOSE.get((chars[pos], tones[0]))
    if composed is None:
        return word
    chars[pos] = composed
    return "".join(chars)


def canonical_tones(s: str, style: Literal["new", "old"] = "new") -> str:
    """Move each syllable's tone mark to one canonical vowel so that Hòa/Hoà, Thủy/Thuỷ compare equal.

    Default is the "new style" (kiểu mới: hoà, khoẻ, thuỷ — tone on the main vowel), as printed in
    the textbooks of the Ministry's 2018 programme; ``style="old"`` gives hòa, khỏe, thủy. Only
    the open clusters oa, oe, uy differ between the two. Words that are not a single well-formed
    Vietnamese syllable with exactly one tone (English, abbreviations, typos) are left untouched;
    case is preserved. The input should already be NFC (see ``nfc``).
    """
    if style not in ("new", "old"):
        raise ValueError(f"style must be 'new' or 'old', not {style!r}")
    return _WORD_RE.sub(lambda m: _canonical_word(m.group(0), style), s)


def match_key(s: str) -> str:
    """Comparison key for names: NFC, canonical (new-style) tones, casefolded, whitespace collapsed.

    Two cells naming the same unit give the same key whatever the tone placement, case, NBSP or
    zero-width characters; different names (Bình Thạnh / Bình Thành) keep different keys.
    Short texts are remembered by their exact text (:data:`_REMEMBERED`): the same labels,
    dropdown values and names come back in every workbook.
    """
    if type(s) is str and len(s) <= _REMEMBERED_LEN:
        return _match_key_remembered(s)
    return _match_key(s)


def _match_key(s: str) -> str:
    key = canonical_tones(nfc(s)).casefold()
    return nfc(canonical_tones(nfc(key)))


# Pure functions of a short text are remembered by its exact text, up to this many texts per
# function (least recently used go first): a few MB at most.
_REMEMBERED = 8192
_REMEMBERED_LEN = 200
_match_key_remembered = lru_cache(maxsize=_REMEMBERED)(_match_key)


def ascii_key(s: str) -> str:
    """``match_key`` without any diacritic and with đ -> d: a loose key to SUGGEST candidates only.

    Never use it to match: in Long An distinct units differ only by diacritics (Bình Thạnh /
    Bình Thành, Thạnh Phú / Thanh Phú, Tân Thạnh / Tân Thành) and share one ascii_key.
    """
    decomposed = unicodedata.normalize("NFD", match_key(s))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped.replace("đ", "d"))


# ---------------------------------------------------------------------------
# Legacy encodings: TCVN3 (ABC) and VNI
# ---------------------------------------------------------------------------

LegacyEncoding = Literal["tcvn3", "tcvn3h", "vni"]

# TCVN 5712:1993, table VN3 (the "ABC" fonts .VnTime, .VnArial, ...). One byte per letter; the
# byte arrives in Excel as the Latin-1 (= Windows-1252 in this range) character of the same code.
# VN3 has codes for lowercase letters only, plus seven base capitals (A1-A7); capitals with a tone
# are typed with the uppercase fonts (.VnTimeH, .VnArialH, ...), which draw a capital glyph at the
# lowercase code — hence the .VnTimeH column. ASCII letters are unchanged (all-caps under .VnTimeH).
# "SHY" is U+00AD, the soft hyphen, invisible in Excel but the code of "ư".
# Within a vowel, codes run huyền, hỏi, ngã, sắc, nặng.
_TCVN3_TABLE = """
# code  as read  .VnTime  .VnTimeH
  A1    ¡        Ă        Ă
  A2    ¢        Â        Â
  A3    £        Ê        Ê
  A4    ¤        Ô        Ô
  A5    ¥        Ơ        Ơ
  A6    ¦        Ư        Ư
  A7    §        Đ        Đ
  A8    ¨        ă        Ă
  A9    ©        â        Â
  AA    ª        ê        Ê
  AB    «        ô        Ô
  AC    ¬        ơ        Ơ
  AD    SHY      ư        Ư
  AE    ®        đ        Đ
  B5    µ        à        À
  B6    ¶        ả        Ả
  B7    ·        ã        Ã
  B8    ¸        á        Á
  B9    ¹        ạ        Ạ
  BB    »        ằ        Ằ
  BC    ¼        ẳ        Ẳ
  BD    ½        ẵ        Ẵ
  BE    ¾        ắ        Ắ
  C6    Æ        ặ        Ặ
  C7    Ç        ầ        Ầ
  C8    È        ẩ        Ẩ
  C9    É        ẫ        Ẫ
  CA    Ê        ấ        Ấ
  CB    Ë        ậ        Ậ
  CC    Ì        è        È
  CE    Î        ẻ        Ẻ
  CF    Ï        ẽ        Ẽ
  D0    Ð        é        É
  D1    Ñ        ẹ        Ẹ
  D2    Ò        ề        Ề
  D3    Ó        ể        Ể
  D4    Ô        ễ        Ễ
  D5    Õ        ế        Ế
  D6    Ö        ệ        Ệ
  D7    ×        ì        Ì
  D8    Ø        ỉ        Ỉ
  DC    Ü        ĩ        Ĩ
  DD    Ý        í        Í
  DE    Þ        ị        Ị
  DF    ß        ò        Ò
  E1    á        ỏ        Ỏ
  E2    â        õ        Õ
  E3    ã        ó        Ó
  E4    ä        ọ        Ọ
  E5    å        ồ        Ồ
  E6    æ        ổ        Ổ
  E7    ç        ỗ        Ỗ
  E8    è        ố        Ố
  E9    é        ộ        Ộ
  EA    ê        ờ        Ờ
  EB    ë        ở        Ở
  EC    ì        ỡ        Ỡ
  ED    í        ớ        Ớ
  EE    î        ợ        Ợ
  EF    ï        ù        Ù
  F1    ñ        ủ        Ủ
  F2    ò        ũ        Ũ
  F3    ó        ú        Ú
  F4    ô        ụ        Ụ
  F5    õ        ừ        Ừ
  F6    ö        ử        Ử
  F7    ÷        ữ        Ữ
  F8    ø        ứ        Ứ
  F9    ù        ự        Ự
  FA    ú        ỳ        Ỳ
  FB    û        ỷ        Ỷ
  FC    ü        ỹ        Ỹ
  FD    ý        ý        Ý
  FE    þ        ỵ        Ỵ
"""

# VNI (VNI-Windows fonts: VNI-Times, VNI-Helve, ...). A letter is written as its base ASCII letter
# followed by one mark character: ù sắc, ø huyền, û hỏi, õ ngã, ï nặng; â circumflex, and the
# combined circumflex+tone á à å ã ä; ê breve and breve+tone é è ú ü ë. ơ, ư, đ and the toned i
# and ỵ are single characters. Capitals use the capital base and the capital mark. Unlisted
# letters (a, e, i, o, u, y) are plain ASCII.
_VNI_TABLE = """
# Unicode  VNI   Unicode  VNI
  á  aù   Á  AÙ
  à  aø   À  AØ
  ả  aû   Ả  AÛ
  ã  aõ   Ã  AÕ
  ạ  aï   Ạ  AÏ
  â  aâ   Â  AÂ
  ấ  aá   Ấ  AÁ
  ầ  aà   Ầ  AÀ
  ẩ  aå   Ẩ  AÅ
  ẫ  aã   Ẫ  AÃ
  ậ  aä   Ậ  AÄ
  ă  aê   Ă  AÊ
  ắ  aé   Ắ  AÉ
  ằ  aè   Ằ  AÈ
  ẳ  aú   Ẳ  AÚ
  ẵ  aü   Ẵ  AÜ
  ặ  aë   Ặ  AË
  é  eù   É  EÙ
  è  eø   È  EØ
  ẻ  eû   Ẻ  EÛ
  ẽ  eõ   Ẽ  EÕ
  ẹ  eï   Ẹ  EÏ
  ê  eâ   Ê  EÂ
  ế  eá   Ế  EÁ
  ề  eà   Ề  EÀ
  ể  eå   Ể  EÅ
  ễ  eã   Ễ  EÃ
  ệ  eä   Ệ  EÄ
  í  í    Í  Í
  ì  ì    Ì  Ì
  ỉ  æ    Ỉ  Æ
  ĩ  ó    Ĩ  Ó
  ị  ò    Ị  Ò
  ó  où   Ó  OÙ
  ò  oø   Ò  OØ
  ỏ  oû   Ỏ  OÛ
  õ  oõ   Õ  OÕ
  ọ  oï   Ọ  OÏ
  ô  oâ   Ô  OÂ
  ố  oá   Ố  OÁ
  ồ  oà   Ồ  OÀ
  ổ  oå   Ổ  OÅ
  ỗ  oã   Ỗ  OÃ
  ộ  oä   Ộ  OÄ
  ơ  ô    Ơ  Ô
  ớ  ôù   Ớ  ÔÙ
  ờ  ôø   Ờ  ÔØ
  ở  ôû   Ở  ÔÛ
  ỡ  ôõ   Ỡ  ÔÕ
  ợ  ôï   Ợ  ÔÏ
  ú  uù   Ú  UÙ
  ù  uø   Ù  UØ
  ủ  uû   Ủ  UÛ
  ũ  uõ   Ũ  UÕ
  ụ  uï   Ụ  UÏ
  ư  ö    Ư  Ö
  ứ  öù   Ứ  ÖÙ
  ừ  öø   Ừ  ÖØ
  ử  öû   Ử  ÖÛ
  ữ  öõ   Ữ  ÖÕ
  ự  öï   Ự  ÖÏ
  ý  yù   Ý  YÙ
  ỳ  yø   Ỳ  YØ
  ỷ  yû   Ỷ  YÛ
  ỹ  yõ   Ỹ  YÕ
  ỵ  î    Ỵ  Î
  đ  ñ    Đ  Ñ
"""


def _table_rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines() if not line.lstrip().startswith("#")]


def _build_tcvn3() -> tuple[dict[str, str], dict[str, str]]:
    lower: dict[str, str] = {}
    upper: dict[str, str] = {}
    for code, shown, vntime, vntimeh in _table_rows(_TCVN3_TABLE):
        char = chr(int(code, 16))
        if char != ("\u00ad" if shown == "SHY" else shown):  # the table's own consistency check
            raise AssertionError(f"TCVN3 table row {code} shows {shown!r}, not {char!r}")
        lower[char] = vntime
        upper[char] = vntimeh
    return lower, upper


_TCVN3_DECODE, _TCVN3H_DECODE = _build_tcvn3()
# Capitals with a tone have no VN3 code: encode them with the lowercase code, as Unikey does.
_TCVN3_ENCODE = {v: k for k, v in _TCVN3_DECODE.items()}
_TCVN3_ENCODE.update({u: _TCVN3_ENCODE[u.lower()] for u in _TCVN3H_DECODE.values() if u not in _TCVN3_ENCODE})


def _build_vni() -> tuple[dict[str, str], dict[str, str]]:
    decode: dict[str, str] = {}
    encode: dict[str, str] = {}
    for uni_l, vni_l, uni_u, vni_u in _table_rows(_VNI_TABLE):
        for uni, vni in ((uni_l, vni_l), (uni_u, vni_u)):
            encode[uni] = vni
            if vni != uni:
                decode[vni] = uni
    # Lenient decoding: a capital base with a lowercase mark (or the reverse) keeps the base's case.
    for vni, uni in list(decode.items()):
        if len(vni) == 2:
            for variant in (vni[0] + vni[1].swapcase(), vni[0].swapcase() + vni[1]):
                if variant not in decode:
                    decode[variant] = uni if variant[0] == vni[0] else uni.swapcase()
    return decode, encode


_VNI_DECODE, _VNI_ENCODE = _build_vni()
_VNI_PAIR_RE = re.compile("|".join(sorted(map(re.escape, _VNI_DECODE), key=len, reverse=True)))

# Characters each encoding uses beyond ASCII (what makes a "word" when scanning legacy text).
_LEGACY_CHARS = {
    "tcvn3": frozenset(_TCVN3_DECODE),
    "vni": frozenset(c for seq in [*_VNI_DECODE, *_VNI_ENCODE.values()] for c in seq if ord(c) > 0x7F),
}


def from_legacy(s: str, encoding: LegacyEncoding) -> str:
    """Decode text typed with a TCVN3 (``"tcvn3"``; ``"tcvn3h"`` for the all-caps .VnTimeH fonts)
    or VNI font into NFC Unicode. Characters outside the encoding pass through unchanged."""
    if encoding == "tcvn3":
        out = "".join(_TCVN3_DECODE.get(c, c) for c in s)
    elif encoding == "tcvn3h":
        out = "".join(_TCVN3H_DECODE.get(c, c) for c in s).upper()
    elif encoding == "vni":
        out = _VNI_PAIR_RE.sub(lambda m: _VNI_DECODE[m.group(0)], s)
    else:
        raise ValueError(f"unknown legacy encoding {encoding!r}")
    return unicodedata.normalize("NFC", out)


def to_legacy(s: str, encoding: LegacyEncoding) -> str:
    """Encode Unicode Vietnamese as a TCVN3 or VNI font would store it (for tests and fixtures).

    TCVN3 cannot store capitals with a tone: like Unikey, they get the lowercase code (the case is
    lost unless an uppercase .VnTimeH font is used; ``"tcvn3h"`` encodes everything lowercase).
    """
    s = unicodedata.normalize("NFC", s)
    if encoding == "tcvn3":
        return "".join(_TCVN3_ENCODE.get(c, c) for c in s)
    if encoding == "tcvn3h":
        return "".join(_TCVN3_ENCODE.get(c, c) for c in s.lower())
    if encoding == "vni":
        return "".join(_VNI_ENCODE.get(c, c) for c in s)
    raise ValueError(f"unknown legacy encoding {encoding!r}")


def legacy_font_encoding(font_name: str | None) -> LegacyEncoding | None:
    """The legacy encoding implied by a cell's font name: ".VnTime" -> tcvn3, ".VnTimeH" -> tcvn3h,
    "VNI-Times" -> vni, anything else -> None. The font is the only way to tell .VnTimeH text."""
    if not font_name:
        return None
    name = font_name.strip()
    if name.lower().startswith(".vn"):
        return "tcvn3h" if name.endswith("H") else "tcvn3"
    if name.lower().startswith("vni-"):
        return "vni"
    return None


def _is_unicode_vietnamese(s: str) -> bool:
    return _UNICODE_ONLY_VIET_RE.search(s) is not None  # a scan in C, not one lookup per character


_UNICODE_ONLY_VIET_RE = re.compile("[" + re.escape("".join(sorted(_UNICODE_ONLY_VIET))) + "]")


def _has_vowel(word: str) -> bool:
    toneless, _ = _untone(unicodedata.normalize("NFC", word))
    return any(c in _VOWELS for c in toneless.lower())


def _legacy_evidence(s: str, encoding: Literal["tcvn3", "vni"]) -> tuple[int, int]:
    """(words explained only by the encoding, words or letters that speak against it)."""
    chars = _LEGACY_CHARS[encoding]
    score = penalty = 0
    word = []
    for c in [*s, " "]:
        if c in chars or ("a" <= c <= "z") or ("A" <= c <= "Z"):
            word.append(c)
            continue
        if c.isalpha() and c <= "\xff":
            penalty += 1  # a Latin-1 letter this encoding never produces (TCVN3 has no "à")
        if word:
            w = "".join(word)
            word = []
            if w.isascii() or not any("a" <= ch.lower() <= "z" for ch in w):
                continue  # nothing to decode, or a lone symbol such as × ÷ §
            decoded = from_legacy(w, encoding)
            if not _has_vowel(decoded):
                continue  # an abbreviation such as §VHC (ĐVHC): no evidence either way
            if _plausible_syllable(decoded):
                if not _plausible_syllable(w):
                    score += 1
            else:
                penalty += 1
    return score, penalty


def _accepts(score: int, penalty: int) -> bool:
    return score >= 1 and 2 * penalty <= score


def detect_legacy(s: str) -> Literal["tcvn3", "vni"] | None:
    """Guess whether ``s`` was typed with a TCVN3 or VNI font; None for Unicode, ASCII or unsure.

    A word counts for an encoding when it is not a Vietnamese syllable as it stands but decodes to
    one (TCVN3 "Hµ", VNI "Noäi"); it counts against when it decodes to a non-syllable, and so does a
    Latin-1 letter the encoding never produces. Any Vietnamese letter outside Latin-1 (ạ, ư, đ, ...)
    means the text is already Unicode. When unsure (e.g. "Bình Thành", valid either way), None.
    """
    if not isinstance(s, str) or s.isascii() or _is_unicode_vietnamese(s):
        return None
    margins: dict[Literal["tcvn3", "vni"], int] = {}
    for encoding in ("tcvn3", "vni"):
        score, penalty = _legacy_evidence(s, encoding)
        if _accepts(score, penalty):
            margins[encoding] = score - 2 * penalty
    if not margins:
        return None
    if len(margins) == 2 and margins["tcvn3"] == margins["vni"]:
        return None  # both explain the text equally well: do not guess
    return max(margins, key=margins.__getitem__)


def fix_text(s: str, font_name: str | None = None) -> tuple[str, LegacyEncoding | None]:
    """Detect and decode legacy TCVN3/VNI text, then ``nfc``; returns (text, encoding or None).

    The encoding is None when nothing was changed besides ``nfc``. A cell's ``font_name`` (".VnTime",
    ".VnTimeH", "VNI-Times") restricts the guess to that font's encoding and is the only way to get
    capitals from .VnTimeH text; the text itself must still look legacy, because Unicode text is
    often left in a cell formatted with an old font.
    """
    if font_name is None and type(s) is str and len(s) <= _REMEMBERED_LEN:
        return _fix_text_remembered(s)
    return _fix_text(s, font_name)


def _fix_text(s: str, font_name: str | None = None) -> tuple[str, LegacyEncoding | None]:
    hinted = legacy_font_encoding(font_name)
    encoding: LegacyEncoding | None
    if hinted is None:
        encoding = detect_legacy(s)
    elif s.isascii() or _is_unicode_vietnamese(s):
        encoding = hinted if hinted == "tcvn3h" and s.isascii() else None
    else:
        encoding = hinted if _accepts(*_legacy_evidence(s, "vni" if hinted == "vni" else "tcvn3")) else None
    plain = nfc(s)
    if encoding is None:
        return plain, None
    fixed = nfc(from_legacy(s, encoding))
    return (fixed, encoding) if fixed != plain else (plain, None)


_fix_text_remembered = lru_cache(maxsize=_REMEMBERED)(_fix_text)


# ---------------------------------------------------------------------------
# Numbers typed as text
# ---------------------------------------------------------------------------

NumberStatus = Literal["ok", "ambiguous", "invalid", "empty", "not_applicable"]


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """Result of ``parse_number``: value is set only when status is "ok"; a percentage keeps the
    number as written (12,5% -> 12.5, percent=True)."""

    value: float | int | None
    status: NumberStatus
    percent: bool = False
    was_text: bool = False


# "không áp dụng" (not applicable) and its abbreviation KAD, compared after removing diacritics,
# case, spaces and the separators . / - so "Không áp dụng", "khong ap dung", "K/A/D" all match.
_NOT_APPLICABLE_KEYS = frozenset({"khongapdung", "kad"})
_NA_STRIP = re.compile(r"[\s./\-]+")

_LETTER = re.compile(r"[^\W\d_]")
_SIGN_RE = re.compile(r"[+\-\u2212]")
_VALID_NUMBER_RE = re.compile(
    r"(?P<int>\d+|[1-9]\d{0,2}(?:\.\d{3})+|[1-9]\d{0,2}(?: \d{3})+)(?:,(?P<frac>\d+))?"
)
# One dot with digits on both sides that is not a thousands group: an English decimal point?
_AMBIGUOUS_RE = re.compile(r"\d+\.\d+")


def _na_key(s: str) -> str:
    return _NA_STRIP.sub("", ascii_key(s))


def is_not_applicable(value: object) -> bool:
    """True for the "không áp dụng" marker (any case, with or without diacritics, NFD, TCVN3/VNI)
    or "KAD"/"K/A/D", and for a ParsedNumber whose status is not_applicable."""
    if isinstance(value, ParsedNumber):
        return value.status == "not_applicable"
    if not isinstance(value, str) or not _LETTER.search(value):  # the marker has letters; a number none
        return False
    return _na_key(fix_text(value)[0]) in _NOT_APPLICABLE_KEYS


def _number(int_digits: str, frac_digits: str, negative: bool) -> float | int:
    if frac_digits.strip("0"):
        value: float | int = float(f"{int_digits}.{frac_digits}")
    else:
        value = int(int_digits)
    return -value if negative else value


# The largest number a spreadsheet cell takes (Excel specifications and limits: "largest number allowed
# to be typed into a cell", 9.99999999999999E+307; LibreOffice the same double range). A text with more
# digits is no count nor amount anyone entered, and a larger int cannot become a float: invalid.
CELL_MAX = 9.99999999999999e307


def parse_number(text: object) -> ParsedNumber:
    """Read a number typed the Vietnamese way: comma decimal, dot (or space) thousands groups of
    exactly three digits, optional sign and trailing %. "1.5" is ambiguous, never guessed.

    Real numbers (int, float, Decimal — not bool) pass through as ok with was_text False; integral
    values become int. None and blank text are empty; "không áp dụng"/"KAD" are not_applicable.
    A number beyond :data:`CELL_MAX` either way (e.g. 400 digits typed as text) is invalid.
    """
    if text is None:
        return ParsedNumber(None, "empty")
    if isinstance(text, bool):
        return ParsedNumber(None, "invalid")
    if isinstance(text, int | float | Decimal):
        number = float(text) if isinstance(text, Decimal) else text
        if number != number or abs(number) > CELL_MAX:  # NaN, infinite, or no cell's number (an int exactly)
            return ParsedNumber(None, "invalid")
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        return ParsedNumber(number, "ok")
    if not isinstance(text, str):
        return ParsedNumber(None, "invalid")
    if type(text) is str and len(text) <= _REMEMBERED_LEN:
        return _parse_text_remembered(text)
    return _parse_text(text)


def _parse_text(text: str) -> ParsedNumber:
    s = nfc(text)
    if not s:
        return ParsedNumber(None, "empty", was_text=True)
    if is_not_applicable(s):
        return ParsedNumber(None, "not_applicable", was_text=True)

    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    negative = False
    if s[:1] and _SIGN_RE.fullmatch(s[0]):
        negative = s[0] != "+"
        s = s[1:]
    m = _VALID_NUMBER_RE.fullmatch(s)
    if m:
        int_digits = m.group("int").replace(".", "").replace(" ", "")
        value = _number(int_digits, m.group("frac") or "", negative)
        if abs(value) > CELL_MAX:  # (an int compares exactly with a float, never overflows)
            return ParsedNumber(None, "invalid", percent=percent, was_text=True)
        return ParsedNumber(value, "ok", percent=percent, was_text=True)
    status: NumberStatus = "ambiguous" if _AMBIGUOUS_RE.fullmatch(s) else "invalid"
    return ParsedNumber(None, status, percent=percent, was_text=True)


_parse_text_remembered = lru_cache(maxsize=_REMEMBERED)(_parse_text)
