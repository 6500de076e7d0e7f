"""LibreOffice headless as the real spreadsheet application, for tests and developer tools.

Not used by the pipeline itself. Every conversion uses a private profile that forces
recalculation on load, so values read back were computed by LibreOffice, not cached by the writer.

Starting LibreOffice costs ~2 s of CPU, more than most conversions the tests ask for. Where a
Python with LibreOffice's ``uno`` module is found (Debian's python3-uno, which libreoffice-common
recommends; LibreOffice's own ``program/python`` elsewhere), each process keeps one headless office
per locale, started on its first conversion and ended when the process exits, and converts through
it exactly as ``soffice --convert-to`` does (same load and store arguments, same filters). Without
one, each call runs ``soffice --convert-to`` in batches (one soffice run given ~1,000 files stops
silently after a few hundred); ``XHHT_LO_SERVER=0`` forces that.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

BATCH = 100
_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""

FILTERS = {
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
    "xls": "xls:MS Excel 97",
    "ods": "ods",
    "pdf": "pdf",
    "csv": "csv",
}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


_LOCALE = """<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>{locale}</value></prop></item>
"""


def profile(folder: Path, locale: str | None = None) -> Path:
    """A LibreOffice user profile under ``folder`` that recalculates every formula on load and,
    given ``locale`` ("vi-VN"), shows numbers as a reader in that locale sees them (1.417; 98,1)."""
    user = folder / "user"
    user.mkdir(parents=True, exist_ok=True)
    text = _RECALC if locale is None else _RECALC.replace("</oor:items>", _LOCALE.format(locale=locale) + "</oor:items>")
    (user / "registrymodifications.xcu").write_text(text, encoding="utf-8")
    return folder


def convert(files: Sequence[Path], fmt: str, outdir: Path, work: Path, timeout: float = 300,
            locale: str | None = None) -> list[Path]:  # fmt: skip
    """Convert ``files`` to ``fmt`` into ``outdir``; returns the output paths in input order.

    CSV whose filter options name sheet -1 is written one file per sheet, ``<stem>-<sheet>.csv``:
    the paths returned are then the stems' (``<stem>.csv``, not written), each checked to have some."""
    return convert_each(files, [fmt], outdir, work, timeout, locale)[fmt]


def convert_each(files: Sequence[Path], fmts: Sequence[str], outdir: Path, work: Path, timeout: float = 300,
                 locale: str | None = None) -> dict[str, list[Path]]:  # fmt: skip
    """Each of ``files`` loaded once and stored in every format of ``fmts`` (as :func:`convert`
    names them: "xlsx", "ods", a filter string...) into ``outdir``: ``{fmt: output paths in input
    order}``. The formats must have distinct extensions (their outputs share ``outdir``); each
    output is what :func:`convert` writes for that format, since LibreOffice's --convert-to also
    stores the document as loaded. Without an office kept by this process, one soffice run per
    format. Raises RuntimeError when an output is missing."""
    exe = soffice()
    if exe is None:
        raise RuntimeError("LibreOffice (soffice) is not installed: apt-get install -y libreoffice-calc")
    exts = [fmt.split(":")[0] for fmt in fmts]
    if len(set(exts)) != len(exts):
        raise ValueError(f"formats with the same extension: {list(fmts)}")
    outdir.mkdir(parents=True, exist_ok=True)
    targets = {fmt: FILTERS.get(fmt, fmt) for fmt in fmts}
    out = {fmt: [outdir / (Path(f).stem + "." + ext) for f in files] for fmt, ext in zip(fmts, exts, strict=True)}
    if not _through_server(exe, files, targets, out, timeout, locale):
        prof = profile(work / ("lo-profile" if locale is None else f"lo-profile-{locale}"), locale)
        for target in targets.values():
            for i in range(0, len(files), BATCH):
                batch = [str(f) for f in files[i : i + BATCH]]
                subprocess.run(
                    [exe, "--headless", "--norestore", f"-env:UserInstallation={prof.resolve().as_uri()}",
                     "--convert-to", target, "--outdir", str(outdir), *batch],
                    check=True, capture_output=True, timeout=timeout,
                )  # fmt: skip
    for fmt, ext in zip(fmts, exts, strict=True):
        target = targets[fmt]
        per_sheet = ext == "csv" and target.count(":") >= 2 and target.split(":", 2)[2].split(",")[11:12] == ["-1"]
        missing = [p for p in out[fmt]
                   if not (any(outdir.glob(glob.escape(p.stem) + "-*.csv")) if per_sheet else p.exists())]  # fmt: skip
        if missing:
            raise RuntimeError(f"LibreOffice did not write {missing[:3]}")
    return out


# -- one office per process and locale, driven through uno ---------------------------------------

# Run by the uno Python: converts the jobs read from stdin in the office listening on the pipe, with
# the arguments of LibreOffice's own --convert-to (desktop/source/app/dispatchwatcher.cxx): loaded
# read-only, hidden and silent into a new frame, stored with the filter named or, without one, the
# document kind's filter for the extension.
_CONVERT = r"""
import json, sys, time
import uno
from com.sun.star.beans import PropertyValue

def pv(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p

GUESS = {("pdf", "calc"): "calc_pdf_Export", ("pdf", "writer"): "writer_pdf_Export",
         ("ods", "calc"): "calc8", ("odt", "writer"): "writer8", ("html", "calc"): "HTML (StarCalc)",
         ("html", "writer"): "HTML (StarWriter)", ("csv", "calc"): "Text - txt - csv (StarCalc)",
         ("xlsx", "calc"): "Calc MS Excel 2007 XML", ("xls", "calc"): "MS Excel 97",
         ("docx", "writer"): "MS Word 2007 XML"}
req = json.load(sys.stdin)
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
deadline = time.monotonic() + req["wait"]
while True:
    try:
        ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % req["pipe"])
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
if req.get("terminate"):
    try:
        desktop.terminate()
    except Exception:
        pass  # the bridge goes with the office
    sys.exit(0)
for src, stores in req["jobs"]:  # one load, then every format asked for stored from it
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, (
        pv("ReadOnly", True), pv("OpenNewView", True), pv("Hidden", True), pv("Silent", True)))
    if doc is None:
        continue  # not loadable: the caller finds no output, as after soffice --convert-to
    try:
        kind = ("calc" if doc.supportsService("com.sun.star.sheet.SpreadsheetDocument") else
                "writer" if doc.supportsService("com.sun.star.text.TextDocument") else "other")
        for dst, ext, name, options in stores:
            props = [pv("ConversionRequestOrigin", "CommandLine"), pv("Overwrite", True),
                     pv("FilterName", name or GUESS[(ext, kind)])]
            if options:
                props.append(pv("FilterOptions", options))
            doc.storeToURL(uno.systemPathToFileUrl(dst), tuple(props))
    finally:
        doc.close(True)
"""

_lock = threading.Lock()
_servers: dict[str | None, tuple[subprocess.Popen, str, Path]] = {}
_python: list[str | None] = []  # [the uno Python or None], once found


def _uno_python(exe: str) -> str | None:
    if not _python:
        found = None
        if os.name == "posix" and os.environ.get("XHHT_LO_SERVER", "1") != "0":
            program = Path(exe).resolve().parent
            for py in (program / "python", program / "python.bin", Path("/usr/bin/python3"), shutil.which("python3")):
                if py and Path(py).is_file() and subprocess.run(
                    [str(py), "-c", "import uno"], capture_output=True, timeout=60
                ).returncode == 0:  # fmt: skip
                    found = str(py)
                    break
        _python.append(found)
    return _python[0]


def _server(exe: str, locale: str | None) -> tuple[subprocess.Popen, str, Path]:
    """This process's office for ``locale``: (process, pipe name, profile folder), started if needed."""
    running = _servers.get(locale)
    if running is not None and running[0].poll() is None:
        return running
    if running is not None:
        _stop(locale)
    folder = Path(tempfile.mkdtemp(prefix="xhht-lo-"))
    prof = profile(folder, locale)
    pipe = f"xhht-lo-{os.getpid()}-{folder.name}"
    proc = subprocess.Popen(
        [exe, "--headless", "--invisible", "--norestore", "--nologo", "--nodefault",
         f"-env:UserInstallation={prof.resolve().as_uri()}", f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _servers[locale] = (proc, pipe, folder)
    return _servers[locale]


def _stop(locale: str | None) -> None:
    """Ends the office: asked through uno (so soffice waits for its soffice.bin, whose CPU then
    counts as this process's children's), killed with its session if it does not end."""
    proc, pipe, folder = _servers.pop(locale)
    if proc.poll() is None and _python and _python[0]:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([_python[0], "-c", _CONVERT], input=json.dumps({"pipe": pipe, "wait": 5, "terminate": True}).encode(),
                           capture_output=True, timeout=30)  # fmt: skip
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # soffice and the soffice.bin it started: its own session
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    shutil.rmtree(folder, ignore_errors=True)
    for base in ("/tmp", "/var/tmp"):  # the pipe's socket, left by an office ended by a signal
        Path(base, f"OSL_PIPE_{os.getuid()}_{pipe}").unlink(missing_ok=True)


@atexit.register
def _stop_all() -> None:
    with _lock:
        for locale in list(_servers):
            _stop(locale)


def _through_server(exe: str, files: Sequence[Path], targets: dict[str, str], out: dict[str, list[Path]],
                    timeout: float, locale: str | None) -> bool:  # fmt: skip
    """Convert through this process's office, each file loaded once for every target; False when
    there is none to use (or it failed, then stopped, so that the caller's soffice run does it)."""
    py = _uno_python(exe)
    if py is None:
        return False
    jobs = []
    for i, f in enumerate(files):
        stores = []
        for fmt, target in targets.items():
            ext, _, rest = target.partition(":")
            name, _, options = rest.partition(":")
            stores.append([str(out[fmt][i].resolve()), ext, name, options])
        jobs.append([str(Path(f).resolve()), stores])
    with _lock:
        proc, pipe, _folder = _server(exe, locale)
        request = json.dumps({"pipe": pipe, "wait": min(timeout, 120), "jobs": jobs})
        try:
            done = subprocess.run([py, "-c", _CONVERT], input=request.encode(), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode != 0 or proc.poll() is not None:
            if done is not None and done.returncode != 0:
                sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
            _stop(locale)
            return False
    return True


def render_png(pdf: Path, out_prefix: Path, page: int = 1, dpi: int = 80) -> Path:
    """One page of a PDF as PNG (pdftoppm, from poppler-utils)."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(out_prefix)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out_prefix.with_suffix(".png")
