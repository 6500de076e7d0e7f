"""LibreOffice headless as the real spreadsheet application, for tests and developer tools.

Not used by the pipeline itself. Conversions run in batches (one soffice run given ~1,000 files
stops silently after a few hundred) with a private profile that forces recalculation on load,
so values read back were computed by LibreOffice, not cached by the writer.
"""

from __future__ import annotations

import shutil
import subprocess
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
    """Convert ``files`` to ``fmt`` into ``outdir``; returns the output paths in input order."""
    exe = soffice()
    if exe is None:
        raise RuntimeError("LibreOffice (soffice) is not installed: apt-get install -y libreoffice-calc")
    outdir.mkdir(parents=True, exist_ok=True)
    prof = profile(work / ("lo-profile" if locale is None else f"lo-profile-{locale}"), locale)
    target = FILTERS.get(fmt, fmt)
    ext = fmt.split(":")[0]
    for i in range(0, len(files), BATCH):
        batch = [str(f) for f in files[i : i + BATCH]]
        subprocess.run(
            [exe, "--headless", "--norestore", f"-env:UserInstallation={prof.resolve().as_uri()}",
             "--convert-to", target, "--outdir", str(outdir), *batch],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
    out = [outdir / (Path(f).stem + "." + ext) for f in files]
    missing = [p for p in out if not p.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice did not write {missing[:3]}")
    return out


def render_png(pdf: Path, out_prefix: Path, page: int = 1, dpi: int = 80) -> Path:
    """One page of a PDF as PNG (pdftoppm, from poppler-utils)."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(out_prefix)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out_prefix.with_suffix(".png")
