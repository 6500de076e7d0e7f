"""Sender text made safe once, where it is read, and any text made safe for a terminal.

A cell's text may hold control characters (Excel stores them as ``_x0001_``; they come with text
pasted from PDF or Word). They cannot be written into an .xlsx (openpyxl refuses them), mean
nothing in a report, and escape sequences among them can rewrite a terminal's screen. The reader
calls :func:`clean_cell` on every text it keeps, so every writer downstream can rely on it;
:func:`for_terminal` is applied to every line the CLI prints (file names come from the disk).
"""

from __future__ import annotations

import re

# Excel's limit for the text of one cell (Excel specifications and limits).
CELL_MAX_CHARS = 32_767

# C0 controls but tab, line feed and carriage return; DEL; C1 controls; non-characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# For a terminal also line breaks and tabs (a message is one line) and the bidirectional
# overrides that can make a line read differently from what it holds.
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff\ud800-\udfff]")


def clean_cell(text: str) -> tuple[str, bool]:
    """``text`` without control characters and cut to Excel's cell limit; True if it changed."""
    if len(text) <= CELL_MAX_CHARS and text.isprintable():  # the usual cell: nothing to do
        return text, False
    cleaned = _CONTROL.sub("", text) if _CONTROL.search(text) else text
    if len(cleaned) > CELL_MAX_CHARS:
        cleaned = cleaned[:CELL_MAX_CHARS]
    return cleaned, cleaned is not text


def for_cell(text: str) -> str:
    """``text`` as a cell of an .xlsx can hold it (:func:`clean_cell`'s text): what every writer of
    this project stores in a cell goes through here (``templates.put``, the rows of ``outputs``'
    tables, a returned copy's values), texts that did not come through the reader too (a received
    file's name: openpyxl refused it with ``IllegalCharacterError`` and the run stopped)."""
    return clean_cell(text)[0]


def for_terminal(text: str) -> str:
    """One printable line: control, escape and bidirectional characters become a space or go."""
    if not _TERMINAL.search(text):
        return text
    return _TERMINAL.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)
