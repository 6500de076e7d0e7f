"""xhht_xl: the review of "Xây dựng xã hội học tập 2012-2020" over Excel workbooks.

Templates from the plan, reading and checking received workbooks, consolidation up the
hierarchy, targets and award quotas. Analysts: ``import xhht_xl as xx``; see
``examples/phan_tich.ipynb``.
"""

from functools import wraps

from .errors import DataError

__version__ = "0.1.0"
__all__ = ["DataError", "consolidate", "load_facts", "load_plan", "schema", "validate"]


def _one_line(fn):
    """Bad input raises :class:`DataError` from here, not from deep inside: a notebook shows the
    one Vietnamese line under the analyst's own call."""

    @wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DataError as exc:
            raise exc.with_traceback(None) from None

    return call


@_one_line
def validate(path, plan=None, **kwargs):
    """Read and check one received workbook: ``xx.validate("bao_cao.xlsx").report.frame()``
    (one row per issue, schema ``issues``)."""
    from .pipeline import validate as _validate

    return _validate(path, plan, **kwargs)


@_one_line
def consolidate(folder, level, unit=None, plan=None, **kwargs):
    """Consolidate a folder of sub-units' workbooks: ``xx.consolidate("nhan/", level="huyen", unit="798")``.

    Returns a ``Consolidation``: ``.frames()`` gives the tidy frames (facts, totals, status,
    issues, nominations... each in its schema, see :func:`schema`), Jupyter shows a short
    summary, ``.plot.targets()`` / ``.plot.coverage()`` draw the workbook's charts,
    ``.write_workbook(path)`` writes the consolidated workbook. Keyword arguments are those of
    ``consolidation.consolidate`` (``into``, ``received_at``, ``as_of``, ``deadline``, ``store``).
    Pass ``received_at`` (the file of received times) or keep the files' modification times,
    else timeliness is judged on when the files were first seen. Raises :class:`DataError`
    (one Vietnamese line) for a wrong folder, level or unit, a folder with no report of the
    expected units, or reports made from another plan's templates.
    """
    from .analysis import consolidate as _consolidate
    from .plan import load

    return _consolidate(folder, plan or load(), level, unit, **kwargs)


@_one_line
def load_plan(folder=None):
    """The plan (units, indicators, targets, deadlines, quotas); the built-in Long An 2020 by default."""
    from .plan import load

    return load(folder)


@_one_line
def schema(name=None):
    """The declared schema of frame ``name`` (columns, dtypes, meaning, values; shown as a table
    in Jupyter, ``.describe()`` as a frame, ``.validate(frame)`` checks one); without a name,
    a frame listing every frame. Raises :class:`DataError` for an unknown name."""
    from . import frames

    return frames.overview() if name is None else frames.schema(name)


@_one_line
def load_facts(paths, plan=None, *, combine=False):
    """The facts files (``--facts`` CSV or JSON) of several consolidations as one frame, with
    plan and consolidation as columns (schema ``facts``); see ``analysis.load_facts``."""
    from .analysis import load_facts as _load_facts

    return _load_facts(paths, plan, combine=combine)
