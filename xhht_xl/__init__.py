"""xhht_xl: the review of "Xây dựng xã hội học tập 2012-2020" over Excel workbooks.

Templates from the plan, reading and checking received workbooks, consolidation up the
hierarchy, targets and award quotas. Analysts: ``import xhht_xl as xx``.
"""

__version__ = "0.1.0"
