"""Shared fixtures: the built-in plan, a LibreOffice runner, and temp folders."""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from xhht_xl import lo
from xhht_xl import plan as plan_mod

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as on the machines this suite runs
# on): otherwise every run's workers compile the package and rewrite every test module's asserts
# again (~5 s of CPU each), and so does every Python the tests start (~0.7 s each). A fresh clone's
# first run gains little; every later run in the same checkout does. The caches are __pycache__
# folders (ignored by git), written atomically by importlib and pytest: workers may write at once.
sys.dont_write_bytecode = False

# The cycle collector's young generation is collected after 50,000 new objects instead of 700: the
# tests build and read workbooks of hundreds of thousands of short-lived objects (openpyxl cells, XML
# elements), and each of the many collections walked them. Measured with gc.callbacks over
# test_received_files, test_consolidate, test_synth, test_read and test_truth in one process: 5,242
# collections took 7.2 s of its 68 s of CPU with Python's default, 61 took 3.8-4.2 s with this.
# Nothing a test checks depends on when garbage is collected (the package pauses the collector
# itself where it matters).
gc.set_threshold(50_000, 20, 20)

# CI runs the property tests on a fixed seed (a red CI must be reproducible); local runs explore.
# No deadline anywhere: a time limit per example fails at random on a loaded machine (speed is
# measured by scripts/bench_*.py, never asserted by a test).
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("local", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")

REPO = Path(__file__).resolve().parent.parent

# The longest modules first, by their CPU time in a whole run (LibreOffice's and child processes'
# included; measured 2026-12-01 per test with getrusage over a whole run of README's command). README's command
# (--dist loadscope --no-loadscope-reorder) hands whole modules to the workers in this order, each
# worker taking the next when it is nearly done, so starting with the long ones leaves short ones
# to even out the end (xdist's own order, most tests first, left long modules for last). test_demo
# comes first because it runs the session's demo (``demo_run``); the second module does not need
# that demo, so the other worker starts without waiting for it; the demo's CLI rerun
# (test_demo_cli, one test of ~20 s) comes a little later, once the demo is done. A module missing
# here runs after all of these: add it where its CPU time puts it.
SLOW_FIRST = [
    "test_demo.py",  # ~28 s
    "test_received_files.py", "test_report.py", "test_fast_paths.py", "test_synth.py", "test_demo_cli.py",  # 20-26 s
    "test_prebuilt.py", "test_templates_libreoffice.py", "test_excel_ribbon.py", "test_consolidate.py",  # 15-19 s
    "test_mail.py", "test_addin.py", "test_textnorm.py", "test_truth.py",  # 9-12 s
    "test_print.py", "test_returned.py", "test_print_outputs.py", "test_notebook.py", "test_excel_book.py",
    "test_xlsxrules.py", "test_read.py", "test_frames.py",  # 6-8 s
    "test_aggregate_columns.py", "test_vocabulary.py", "test_xml_variants.py",
    "test_templates.py", "test_safety.py", "test_plan.py", "test_excel_udf_vba.py",  # 2-5 s
    "test_cli_validate.py", "test_messages.py", "test_ovba.py", "test_cli_windows.py", "test_excel_udfs.py",  # under 1.5 s
    "test_cfb.py",
]  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    """Modules in SLOW_FIRST order, the others after them as collected; tests keep their order."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def plan() -> plan_mod.Plan:
    return plan_mod.load()


@pytest.fixture(scope="session")
def soffice() -> str:
    exe = lo.soffice()
    if exe is None:
        if os.environ.get("XHHT_REQUIRE_LIBREOFFICE"):
            pytest.fail(
                "LibreOffice is required here (XHHT_REQUIRE_LIBREOFFICE) but soffice is not installed"
            )
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


@pytest.fixture(scope="session")
def lo_work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lo")


@pytest.fixture
def plan_copy(tmp_path) -> Path:
    """A writable copy of the built-in plan folder, for tests that break it on purpose."""
    dst = tmp_path / "plan"
    shutil.copytree(plan_mod.default_folder(), dst)
    return dst


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """Where written synthetic provinces are kept across sessions, keyed by everything the files
    depend on (``synth.generator_key``): a session regenerates them only after a change."""
    base = tmp_path_factory.getbasetemp()  # pytest-of-USER/pytest-N (/popen-gwK under xdist)
    root = next((p for p in base.parents if p.name.startswith("pytest-of-")), base.parent)
    return root / "xhht-synth-cache"


@contextlib.contextmanager
def _exclusive(path: Path):
    """An operating-system lock on ``path``, waited for; released when the file is closed."""
    with open(path, "a+b") as fh:
        if os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s: wait again
                    continue
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def _session_folder(tmp_path_factory) -> Path:
    """The temporary folder every process of this test session shares (pytest-xdist's workers each
    have their own basetemp, popen-gwK, inside the session's)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _shared_books(tmp_path_factory) -> None:
    """``helpers.write_book`` builds each workbook once per session, for every worker."""
    import helpers

    helpers.BOOKS = _session_folder(tmp_path_factory) / "books"


def _made_once(tmp_path_factory, name: str, make):
    """``make(folder)``'s result, made once per test session into the folder ``name``.

    Under pytest-xdist (README's command) the workers of a session share it: the first to need it
    makes it under a lock and leaves the result pickled beside it; the others wait for the lock and
    load that. The folder is read by the tests, never written."""
    shared = _session_folder(tmp_path_factory)
    done = shared / f"{name}.pickle"
    with _exclusive(shared / f"{name}.lock"):
        if done.exists():
            return pickle.loads(done.read_bytes())
        result = make(shared / name)
        done.write_bytes(pickle.dumps(result))
        return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, synth_cache):
    """The whole demo (synthetic province, every consolidation), run once per test session."""
    from xhht_xl import demo

    # in this process (workers=1): the session's other pytest worker has the other core, and a pool's
    # processes cost ~30 % more CPU in all (each warms its own caches, results cross by pickle);
    # test_demo_cli runs the CLI's demo with its workers and compares the two
    return _made_once(tmp_path_factory, "demo-run",
                      lambda folder: demo.run(folder, say=lambda _line: None, cache=synth_cache, workers=1))  # fmt: skip


@pytest.fixture(scope="session")
def official_templates(tmp_path_factory, plan) -> list[Path]:
    """``templates.write_templates(plan, folder)`` once per session: the paths it returned."""
    from xhht_xl import templates

    return _made_once(tmp_path_factory, "official-templates", lambda folder: templates.write_templates(plan, folder))


@pytest.fixture(scope="session")
def district_templates(tmp_path_factory, plan) -> list[Path]:
    """One template per district (``write_templates(..., per_unit=True, levels=["huyen"])``) once per
    session: the paths it returned."""
    from xhht_xl import templates

    return _made_once(tmp_path_factory, "district-templates",
                      lambda folder: templates.write_templates(plan, folder, per_unit=True, levels=["huyen"]))  # fmt: skip


@pytest.fixture(scope="session")
def dovecot():
    """A private Dovecot IMAP server for the session (tests/mailserver.py); skipped when Dovecot is
    not installed, a failure where it is required (XHHT_REQUIRE_DOVECOT, set by .ci/run)."""
    from mailserver import Dovecot, dovecot_binary

    binary = dovecot_binary()
    missing = "Dovecot (dovecot-imapd)" if binary is None else "openssl" if shutil.which("openssl") is None else ""
    if missing:
        if os.environ.get("XHHT_REQUIRE_DOVECOT"):
            pytest.fail(f"{missing} is required here (XHHT_REQUIRE_DOVECOT) but is not installed")
        pytest.skip(f"{missing} is not installed")
    server = Dovecot(binary).start()
    try:
        yield server
    finally:
        server.stop()
