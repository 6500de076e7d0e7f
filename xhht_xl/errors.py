"""The one exception type of bad input: what the user gave cannot be used.

``str()`` is one Vietnamese line naming what is wrong (a file, a row, a column, a plan) and,
where it helps, what to do. :class:`plan.PlanError`, :class:`consolidation.ConsolidationError`
and the analyst path's errors (``xx.consolidate``, ``xx.load_facts``, a frame that does not
pass its schema) are all ``DataError``, so a notebook catches one type.
"""

from __future__ import annotations


class DataError(Exception):
    """The input cannot be used; ``str()`` is one Vietnamese line naming what is wrong."""
