"""The Vietnamese texts a user reads, kept as data in ``messages/*.toml``.

Each TOML file holds tables of templates; a message is addressed as ``"table.key"``
(for example ``"plan.duplicate-code"``). All files form one table: a key defined twice
is a programming error and fails at load time.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from importlib import resources


class MessageError(KeyError):
    """A message key is unknown or its placeholders were not supplied."""


def _flatten(prefix: str, table: dict, out: dict[str, str], origin: str) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out, origin)
        elif isinstance(value, str):
            if full in out:
                raise MessageError(f"message {full!r} defined twice (second in {origin})")
            out[full] = value
        else:
            raise MessageError(f"message {full!r} in {origin} is not text")


@cache
def table() -> dict[str, str]:
    """All messages, keyed by ``table.key``."""
    out: dict[str, str] = {}
    folder = resources.files("xhht_xl") / "messages"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            _flatten("", tomllib.loads(entry.read_text(encoding="utf-8")), out, entry.name)
    return out


def text(key: str, /, **values: object) -> str:
    """The Vietnamese text for ``key`` with ``{placeholders}`` filled from ``values``."""
    try:
        template = table()[key]
    except KeyError:
        raise MessageError(f"unknown message {key!r}") from None
    try:
        return template.format(**values)
    except (KeyError, IndexError) as exc:
        raise MessageError(f"message {key!r} needs {exc}") from None


def placeholders(key: str) -> set[str]:
    """The placeholder names a message expects (used by tests to check call sites)."""
    return {name for _, name, _, _ in string.Formatter().parse(table()[key]) if name}
