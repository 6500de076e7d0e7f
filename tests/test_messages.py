"""Every literal message key used in the code exists, and the texts are Vietnamese one-liners."""

from __future__ import annotations

import re
from pathlib import Path

from xhht_xl import messages

SRC = Path(__file__).resolve().parent.parent / "xhht_xl"
LITERAL = re.compile(r"""\b(?:T|messages\.text|text)\(\s*["']([a-z_]+(?:\.[a-z0-9_-]+)+)["']\s*[,)]""")


def test_literal_keys_exist():
    table = messages.table()
    missing, seen = [], 0
    for path in SRC.rglob("*.py"):
        for key in LITERAL.findall(path.read_text(encoding="utf-8")):
            seen += 1
            if key not in table:
                missing.append((path.name, key))
    assert seen > 200, "the pattern must find the keys the code uses"
    assert not missing


def test_messages_are_vietnamese():
    table = messages.table()
    assert len(table) > 300
    vietnamese = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
    plain = [k for k, v in table.items() if len(v) > 40 and not vietnamese.search(v)]
    assert not plain, plain[:10]
