"""The national benchmark's commune workbooks (scripts/bench_consolidate.py): each is the file
synth.LevelWriter writes for its unit, though its sheets are compressed in two pieces; each unit's
values are its own; every file passes the checks."""

from __future__ import annotations

import importlib.util
import io
import random
import sys
import zipfile
from pathlib import Path

from xhht_xl import pipeline, synth

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_consolidate", ROOT / "scripts" / "bench_consolidate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_consolidate", module)
    spec.loader.exec_module(module)
    return module


def test_national_files_are_the_level_writers_and_differ(tmp_path):
    bench = _bench()
    plan = bench.national_plan(tmp_path, 24)
    folder = tmp_path / "national"
    folder.mkdir()
    files = bench.write_communes(plan, folder)
    units = plan.units_at("xa")
    assert [f.name for f in files] == [f"xa_{u.code}.xlsx" for u in units]
    deadline = plan.deadline("xa").date
    entries = [synth.commune_entries(plan, u, random.Random(f"national/{u.code}"), deadline)[0] for u in units]
    writer = synth.LevelWriter(plan, "xa", units[0], entries)
    results = set()
    for unit, values, path in zip(units, entries, files, strict=True):
        with zipfile.ZipFile(io.BytesIO(writer.workbook_bytes(unit, values))) as want, zipfile.ZipFile(path) as got:
            assert got.testzip() is None  # every member inflates to its CRC
            assert want.namelist() == got.namelist()
            for name in want.namelist():
                if name != "docProps/core.xml":  # stamped when the template was built
                    assert got.read(name) == want.read(name), (path.name, name)
            results.add(got.read("xl/worksheets/sheet3.xml"))
        validation = pipeline.validate(path, plan)
        assert validation.submission.unit_code == unit.code
        assert not validation.report.issues, (path.name, validation.report.issues[:3])
    assert len(results) == len(files)  # no two communes entered the same results
