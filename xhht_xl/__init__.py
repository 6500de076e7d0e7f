"""xhht_xl: the review of "Xây dựng xã hội học tập 2012-2020" over Excel workbooks.

Templates from the plan, reading and checking received workbooks, consolidation up the
hierarchy, targets and award quotas. Analysts: ``import xhht_xl as xx``.
"""

__version__ = "0.1.0"


def validate(path, plan=None, **kwargs):
    """Read and check one received workbook: ``xx.validate("bao_cao.xlsx").report.frame()``."""
    from .pipeline import validate as _validate

    return _validate(path, plan, **kwargs)
