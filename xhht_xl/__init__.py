"""xhht_xl: the review of "Xây dựng xã hội học tập 2012-2020" over Excel workbooks.

Templates from the plan, reading and checking received workbooks, consolidation up the
hierarchy, targets and award quotas. Analysts: ``import xhht_xl as xx``.
"""

__version__ = "0.1.0"


def validate(path, plan=None, **kwargs):
    """Read and check one received workbook: ``xx.validate("bao_cao.xlsx").report.frame()``."""
    from .pipeline import validate as _validate

    return _validate(path, plan, **kwargs)


def consolidate(folder, level, unit=None, plan=None, **kwargs):
    """Consolidate a folder of sub-units' workbooks: ``xx.consolidate("nhan/", level="huyen", unit="798")``.

    Returns a ``Consolidation``: ``.frames()`` gives tidy pandas frames (facts, totals, status,
    issues, nominations...), ``.write_workbook(path)`` the consolidated workbook.
    """
    from .consolidation import consolidate as _consolidate
    from .plan import load

    return _consolidate(folder, plan or load(), level, unit, **kwargs)


def load_plan(folder=None):
    """The plan (units, indicators, targets, deadlines, quotas); the built-in Long An 2020 by default."""
    from .plan import load

    return load(folder)
