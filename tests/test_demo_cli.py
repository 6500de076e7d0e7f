"""`xhht demo` through the command line, run again over the session's finished demo.

A module of its own (not in tests/test_demo.py): its one test is a whole demo, so README's
``--dist loadscope`` can give it to the worker that did not run the session's demo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from xhht_xl import cli, messages
from xhht_xl.demo import _Started

T = messages.text


def test_demo_cli_twice_gives_the_same_results(demo_run, tmp_path, capsys):
    """The command run again over a finished demo's folder gives the same results and prints the
    same summary (the first run is the session's demo, run in one process: the command's, with its
    worker processes, must give the same)."""
    folder = tmp_path / "a"
    shutil.copytree(demo_run.folder, folder)
    result = folder / "ket_qua/tinh/80_bao_cao.json"
    first = _same_run_results(result, demo_run.folder)
    capsys.readouterr()
    assert cli.main(["demo", str(folder)]) == 0
    assert _same_run_results(result, folder) == first
    out = capsys.readouterr().out
    assert T("demo.step-templates", folder=folder / "mau_bieu") in out
    # the summary but its last line (the run's time), naming this run's folder
    summary = demo_run.summary.rsplit("\n", 1)[0].replace(str(demo_run.folder), str(folder))
    assert summary in out
    # every output written again (the run starts by removing them), by the command's processes: the
    # same files as the session's run in one process, returned copies and district report included
    assert _outputs(folder) == _outputs(demo_run.folder)
    assert any(p.startswith("tra_lai/") for p in _outputs(folder))


def _outputs(folder: Path) -> set[str]:
    out = folder / "ket_qua"
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "xhht_intake" not in p.parts}


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_side_by_side_give_their_results_in_order_and_raise_their_errors(workers):
    with _Started([(pow, (2, 10)), (divmod, (7, 2))], workers) as jobs:
        assert jobs.wait() == [1024, (3, 1)]
    with pytest.raises(ValueError, match="'x'"), _Started([(pow, (2, 1)), (int, ("x",))], workers) as jobs:
        jobs.wait()


def test_jobs_side_by_side_in_spawned_processes(monkeypatch):
    """Where processes cannot fork (Windows), the jobs travel pickled to spawned processes."""
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with _Started([(pow, (3, 3)), (divmod, (9, 4))], 2) as jobs:
        assert jobs.wait() == [27, (2, 1)]
    with pytest.raises(ZeroDivisionError), _Started([(divmod, (1, 0))], 2) as jobs:
        jobs.wait()


def test_a_job_whose_process_dies_is_an_error_not_a_wait():
    with pytest.raises(RuntimeError, match="code 3"), _Started([(os._exit, (3,))], 2) as jobs:
        jobs.wait()


class _TwoPartError(Exception):
    """An exception whose ``__init__`` is not its ``args``: it pickles, but does not unpickle (as
    plan.PlanError)."""

    def __init__(self, file: str, cell: str):
        super().__init__(f"ô {cell} của {file} hỏng")


def _raise_two_part():
    raise _TwoPartError("a.xlsx", "B3")


class _LockedError(Exception):
    """An exception that does not pickle at all (as lxml's XMLSyntaxError, with its error log)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.lock = threading.Lock()


def _raise_locked():
    raise _LockedError("tệp mẫu hỏng")


@pytest.mark.parametrize(
    ("job", "text"),
    [(_raise_two_part, "ô B3 của a.xlsx hỏng"), (_raise_locked, "tệp mẫu hỏng"), (threading.Lock, "pickle")],
)
def test_a_job_error_that_cannot_travel_back_is_still_its_own_one_line(job, text):
    """What a job raised reaches the caller as one line of its own text (the CLI prints it to the
    clerk), its trace as the cause (the CLI's log): not the unpickling's TypeError, nor a trace as
    the message. A result that does not pickle is such an error too."""
    with pytest.raises(RuntimeError) as caught, _Started([(pow, (2, 3)), (job, ())], 2) as jobs:
        jobs.wait()
    assert text in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "Traceback" in str(caught.value.__cause__)


def _finishes(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a Python of its own, in a session of its own. What would hang the suite fails
    instead: the limit only guards against a hang (the run takes well under a second), it is not a
    speed assertion."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("hung")
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a process of its own is started by fork")
def test_leaving_early_does_not_wait_forever_for_a_job_with_a_large_result():
    """An error before ``wait`` (the province's consolidation failing while the districts' extras
    run): leaving still ends the jobs, even one whose result is larger than the pipe holds."""
    out = _finishes("""
        from xhht_xl.demo import _Started
        try:
            with _Started([(bytes, (10**6,)), (bytes, (10**6,))], 2):
                raise KeyError("the province")
        except KeyError as exc:
            print("raised", exc)
    """).stdout
    assert "raised 'the province'" in out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a process of its own is started by fork")
def test_a_job_that_dies_leaving_a_process_of_its_own_is_an_error_not_a_wait():
    """The job's process is killed (out of memory) while a process it started lives on, keeping a
    copy of the pipe the reply would come by: its death is noticed all the same."""
    out = _finishes("""
        import os
        from xhht_xl.demo import _Started

        held, release = os.pipe()

        def job():
            if os.fork() == 0:  # a helper that lives on until released
                os.close(release)
                os.read(held, 1)
                os._exit(0)
            os._exit(3)

        try:
            with _Started([(job, ())], 2) as jobs:
                jobs.wait()
        except RuntimeError as exc:
            print("raised", exc)
        os.close(release)
    """).stdout
    assert "code 3" in out


def _same_run_results(path, folder) -> dict:
    """The province's JSON results without what names this run: the received folder (checked to be
    the run's own) and the districts' workbooks' hashes (written again, with their writing time)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert Path(data.pop("folder")) == (folder / "ket_qua" / "gui_tinh").resolve()
    for f in data["files"]:
        if f["file"].endswith("_tong_hop.xlsx"):
            assert len(f.pop("sha256")) == 64
    return data
