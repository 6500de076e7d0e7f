"""Make the demo's two LibreOffice-saved commune files (package data; needs LibreOffice once).

    .venv/bin/python scripts/make_demo_xls.py

Writes ``xhht_xl/data/demo_<code>.xls`` (Excel 97-2003, saved by LibreOffice) and
``xhht_xl/data/demo_<code>_lo.xlsx`` (re-saved by LibreOffice as .xlsx) for the units of
``synth.lo_units``, plus ``demo_files.json`` with the digest of the entries they hold and the plan and
layout fingerprints, so that ``synth.write_submissions`` can tell when they are stale. Run again after changing the plan, the
layout, the templates or the generator; commit the results.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from xhht_xl import lo, synth
from xhht_xl import plan as plan_mod


def main() -> int:
    plan = plan_mod.load()
    province = synth.make_province(plan, synth.DEMO_SEED)
    synth.plant_faults(province)
    data = synth.data_folder()
    index_path = data / synth.DATA_INDEX
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for kind, code in synth.lo_units(plan).items():
            src = work / "src" / f"demo_{code}.xlsx"
            src.parent.mkdir(parents=True, exist_ok=True)
            synth.write_unit_workbook(plan, province, code, src)
            fmt = "xls" if kind == "lo-xls" else "xlsx"
            (out,) = lo.convert([src], fmt, work / f"out-{fmt}", work)
            target = data / synth.shipped_name(kind, code)
            shutil.copyfile(out, target)
            index[target.name] = {
                "unit": code,
                "kind": kind,
                "seed": synth.DEMO_SEED,
                **synth.shipped_stamp(plan, province.entries[code]),
            }
            print(f"wrote {target} ({target.stat().st_size} bytes)")
    index_path.write_text(
        json.dumps(index, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
