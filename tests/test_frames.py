"""The analyst's frames: one declared schema each, passed by every frame the public API returns
(empty ones too), the same dtype for the same concept everywhere, nothing hidden in facts, facts
of several runs read back as one frame, and one-line Vietnamese errors for bad input."""

from __future__ import annotations

import json
import re
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xhht_xl as xx
from xhht_xl import consolidation, frames, messages
from xhht_xl.analysis import summary_html, summary_parts
from xhht_xl.frames import FrameError
from xhht_xl.issues import Report

T = messages.text
VIETNAMESE = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
SHARED = ("unit", "indicator", "level", "verdict")  # kinds with one dtype across frames


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and VIETNAMESE.search(text), text
    return text


def _raised_here(exc: BaseException) -> None:
    """Raised at the public call: no frame of pandas (or of our internals) in the traceback."""
    files = [f.filename for f in traceback.extract_tb(exc.__traceback__)]
    assert all("pandas" not in f and "analysis.py" not in f for f in files), files


@pytest.fixture(scope="module")
def runs(demo_run):
    """The province and every district of the demo, as the public API returned them."""
    return [demo_run.province, *demo_run.districts.values()]


def test_every_frame_passes_its_schema(runs, demo_run):
    for c in runs:
        got = c.frames()
        assert set(got) == set(frames.schemas())
        for name, frame in got.items():
            frames.schema(name).validate(frame, c.plan)
        assert all(len(got[n]) for n in ("facts", "detail", "totals", "funding", "status", "coverage", "attainment"))
    # a single file checked on its own, without a plan: the issues schema still holds
    one = next(demo_run.folder.glob("nhan/xa/794_*/*.xlsx"))
    frames.schema("issues").validate(xx.validate(one).report.frame())


def test_one_dtype_per_concept_across_frames(runs):
    for c in runs:
        dtypes: dict[str, set] = {}
        for name, frame in c.frames().items():
            for col in frames.schema(name).columns:
                if col.kind in SHARED:
                    dtypes.setdefault(col.kind, set()).add(frame[col.name].dtype)
        for kind, found in dtypes.items():
            assert len(found) == 1, (kind, found)
        unit = next(iter(dtypes["unit"]))
        assert list(unit.categories) == list(c.plan.units)  # the plan's codes, in its order
    p = runs[0].frames()
    joined = p["detail"].merge(p["status"][["unit", "state"]], on="unit").merge(p["totals"][["indicator", "milestone", "rate"]],
                                                                               on=["indicator", "milestone"])  # fmt: skip
    assert isinstance(joined["unit"].dtype, pd.CategoricalDtype) and len(joined)
    assert isinstance(joined["indicator"].dtype, pd.CategoricalDtype)
    assert pd.concat([p["detail"], p["detail"]])["unit"].dtype == p["detail"]["unit"].dtype


def test_empty_frames_pass_their_schemas(tmp_path, plan):
    empty = tmp_path / "nhan"
    empty.mkdir()
    c = consolidation.consolidate(empty, plan, "tinh", "80", store=tmp_path / "kho")
    for name, frame in c.frames().items():
        frames.schema(name).validate(frame, c.plan)
    assert c.facts.empty and c.detail.empty and c.nominations.empty and len(c.below) == 188
    for schema in frames.schemas().values():
        schema.validate(schema.empty(plan), plan)
        schema.validate(schema.empty())
    frames.schema("issues").validate(Report().frame(plan), plan)
    c.write_facts(tmp_path / "f.csv")
    c.write_facts(tmp_path / "f.json")
    for f in ("f.csv", "f.json"):
        back = xx.load_facts(tmp_path / f)
        assert back.empty
        frames.schema("facts").validate(back, plan)


def test_the_schema_checks_can_fail(runs):
    c = runs[1]
    schema = frames.schema("detail")
    good = c.detail
    bad = {
        "dtype": good.assign(unit=good["unit"].astype(str)),
        "values": good.assign(state=good["state"].cat.add_categories(["foo"]).where(good.index != 0, "foo")),
        "missing": good.assign(indicator=good["indicator"].where(good.index != 0)),
        "bounds": good.assign(rate=good["rate"].where(good.index != 0, 101.0)),
        "order": good[list(reversed(good.columns))],
        "categories": good.assign(unit=good["unit"].cat.reorder_categories(list(reversed(good["unit"].cat.categories)))),
        "columns": good.drop(columns=["file"]),
    }  # fmt: skip
    for what, frame in bad.items():
        with pytest.raises(FrameError) as exc:
            schema.validate(frame, c.plan)
        text = _one_line(exc.value)
        assert "detail" in text, (what, text)
    with pytest.raises(FrameError, match="«rate»"):
        schema.validate(bad["bounds"], c.plan)
    date = frames.schema("status")
    with pytest.raises(FrameError, match="deadline"):
        date.validate(c.status.assign(deadline=c.status["deadline"] + pd.Timedelta(hours=8)), c.plan)


def test_every_column_is_documented():
    overview = xx.schema()
    assert list(overview["frame"]) == list(frames.schemas())
    for name, schema in frames.schemas().items():
        d = schema.describe()
        assert list(d["column"]) == schema.names
        assert d["description"].str.len().min() > 5 and d["kind"].str.len().min() > 3, name
        assert VIETNAMESE.search(schema.about)
        for col, values in zip(schema.columns, d["values"], strict=True):
            closed = frames._closed(col)
            assert bool(closed) == bool(values), (name, col.name)
            if col.labels or col.kind == "verdict":
                assert "(" in values and ")" in values, (name, col.name)  # each code with its label
        html = schema._repr_html_()
        assert all(f"<td>{c}</td>" in html for c in schema.names)
    assert "Đạt" in frames.schema("totals").describe().set_index("column").loc["verdict", "values"]
    with pytest.raises(xx.DataError) as exc:
        xx.schema("fact")
    _one_line(exc.value)
    _raised_here(exc.value)


def _rejected_pair(demo_run):
    fault = next(f for f in demo_run.manifest.faults if f.code == "num-exceeds-den")
    district = demo_run.province.plan.units[fault.unit].parent
    c = demo_run.districts[district]
    rows = c.facts[(c.facts["unit"] == fault.unit) & (c.facts["state"] == "rejected")]
    return c, fault, rows


def test_facts_keep_what_was_typed_and_why_it_was_rejected(demo_run):
    c, fault, rows = _rejected_pair(demo_run)
    pair = rows[rows["issue"] == "num-exceeds-den"].set_index("measure")
    assert set(pair.index) == {"num", "den"}
    num, den = pair.loc["num"], pair.loc["den"]
    assert num["typed_value"] > den["typed_value"] > 0
    assert (num["raw"], den["raw"]) == (f"{num['typed_value']:g}", f"{den['typed_value']:g}")
    assert np.isnan(num["value"]) and np.isnan(den["value"])
    assert (num["indicator"], num["milestone"]) == (den["indicator"], den["milestone"])
    # the one issue list names the same cell
    issue = next(i for i in c.report if i.code == "num-exceeds-den" and i.unit == fault.unit)
    assert (issue.sheet, issue.cell) == (num["sheet"], num["cell"])
    ok = c.facts[c.facts["state"] == "ok"]
    assert (ok["value"] == ok["typed_value"]).all() and ok["issue"].isna().mean() > 0.9
    assert (c.facts["plan"] == c.plan.id).all() and (c.facts["consolidation_unit"] == c.scope.unit).all()


def test_facts_files_round_trip_and_join_across_runs(demo_run, tmp_path):
    c, _, _ = _rejected_pair(demo_run)
    for suffix in (".csv", ".json"):
        path = c.write_facts(tmp_path / f"{c.scope.unit}{suffix}")
        back = xx.load_facts(path)
        pd.testing.assert_frame_equal(back, c.facts)
    # the CSV keeps a sender's text that a spreadsheet would run as a formula, as text
    csv = (tmp_path / f"{c.scope.unit}.csv").read_text(encoding="utf-8-sig")
    assert csv.splitlines()[0].split(",") == frames.schema("facts").names
    both = xx.load_facts([tmp_path / f"{c.scope.unit}.csv", demo_run.outputs["facts"]])
    frames.schema("facts").validate(both, c.plan)
    assert set(both["consolidation_level"].dropna()) == {"huyen", "tinh"}
    assert both["unit"].dtype == c.facts["unit"].dtype  # joins with the in-memory frames as they are
    # the district's figure the province read equals the sum of its communes' usable cells
    from_communes = [code for code, ind in c.plan.indicators.items() if ind.authority.get("huyen") == ("xa",)]
    key = ["indicator", "milestone", "measure"]
    communes = both[(both["consolidation_unit"] == c.scope.unit) & (both["level"] == "xa") & (both["state"] == "ok")
                    & both["indicator"].isin(from_communes)].groupby(key, observed=True)["value"].sum()  # fmt: skip
    district = both[(both["consolidation_level"] == "tinh") & (both["unit"] == c.scope.unit)
                    & both["indicator"].isin(from_communes)].set_index(key)["value"]  # fmt: skip
    side = pd.DataFrame({"communes": communes, "district": district}).dropna()
    assert len(side) > 20 and (side["communes"] == side["district"]).all()
    # a folder stands for the facts files under it; other CSV and JSON files there are not facts
    (tmp_path / "received_at.csv").write_text("file,received_at\n", encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps({"plan": "x"}), encoding="utf-8")
    assert len(xx.load_facts(tmp_path)) == 2 * len(c.facts)


def _other_plan_file(src: Path, dst: Path, plan_id: str) -> Path:
    frame = pd.read_csv(src, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    frame["plan"] = plan_id
    dst.write_text("\ufeff" + frame.to_csv(index=False), encoding="utf-8")
    return dst


def test_facts_of_different_plans_are_not_mixed_by_accident(demo_run, tmp_path, plan):
    ours = demo_run.outputs["facts"]
    theirs = _other_plan_file(ours, tmp_path / "tay_ninh_2025.csv", "tay_ninh_2025")
    with pytest.raises(xx.DataError) as exc:
        xx.load_facts([ours, theirs])
    text = _one_line(exc.value)
    assert "long_an_2020" in text and "tay_ninh_2025" in text and "combine=True" in text
    _raised_here(exc.value)
    with pytest.raises(xx.DataError, match=r"tay_ninh_2025\.csv"):
        xx.load_facts([theirs], plan=plan)
    both = xx.load_facts([ours, theirs], combine=True)
    frames.schema("facts").validate(both)
    assert set(both["plan"]) == {"long_an_2020", "tay_ninh_2025"} and len(both) == 2 * len(demo_run.province.facts)


def test_bad_facts_files_raise_one_line(demo_run, tmp_path):
    ours = pd.read_csv(demo_run.outputs["facts"], encoding="utf-8-sig", dtype=str, keep_default_na=False)

    def write(name, frame):
        path = tmp_path / name
        path.write_text("\ufeff" + frame.to_csv(index=False), encoding="utf-8")
        return path

    cases = {
        write("khong_phai.csv", pd.DataFrame({"file": ["a.xlsx"], "received_at": ["2020-08-01"]})): "không phải tệp dữ liệu",
        write("chu.csv", ours.assign(value=ours["value"].where(ours.index != 3, "mười"))): "dòng 5, cột «value»",
        write("nam_le.csv", ours.assign(milestone=ours["milestone"].where(ours.index != 0, "2020.5"))): "cột «milestone»",
        write("tinh_trang.csv", ours.assign(state=ours["state"].where(ours.index != 0, "đúng"))): "cột «state»",
        write("am.csv", ours.assign(value=ours["value"].where(ours.index != 0, "-4"))): "cột «value»",
        tmp_path / "khong_co.csv": "Không tìm thấy",
    }  # fmt: skip
    (tmp_path / "hong.json").write_text("{", encoding="utf-8")
    cases[tmp_path / "hong.json"] = "Không đọc được"
    empty = tmp_path / "rong"
    empty.mkdir()
    cases[empty] = "không có tệp dữ liệu"
    for path, expected in cases.items():
        with pytest.raises(xx.DataError) as exc:
            xx.load_facts([path])
        assert expected in _one_line(exc.value), (path.name, str(exc.value))
        _raised_here(exc.value)


def test_consolidate_refuses_input_that_can_only_mislead(demo_run, tmp_path, plan_copy):
    empty = tmp_path / "rong"
    empty.mkdir()
    with pytest.raises(xx.DataError, match="không có tệp nào") as exc:
        xx.consolidate(empty, level="huyen", unit="794")
    _raised_here(exc.value)
    assert not (tmp_path / "xhht_intake").exists()  # refused before anything was written
    strangers = tmp_path / "la"
    strangers.mkdir()
    (strangers / "ghi_chu.txt").write_text("không phải báo cáo", encoding="utf-8")
    with pytest.raises(xx.DataError, match="không có báo cáo nào của các đơn vị phải nộp cho 794") as exc:
        xx.consolidate(strangers, level="huyen", unit="794", store=tmp_path / "kho1")
    _one_line(exc.value)
    communes = next(demo_run.folder.glob("nhan/xa/794_*"))
    toml = plan_copy / "plan.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('id = "long_an_2020"', 'id = "long_an_2021"'), encoding="utf-8")
    other = xx.load_plan(plan_copy)
    with pytest.raises(xx.DataError) as exc:
        xx.consolidate(communes, level="huyen", unit="794", plan=other, store=tmp_path / "kho2")
    text = _one_line(exc.value)
    assert "«long_an_2020»" in text and "«long_an_2021»" in text
    _raised_here(exc.value)
    with pytest.raises(xx.DataError) as exc:  # a wrong level is the same one type
        xx.consolidate(communes, level="xa")
    _one_line(exc.value)


def test_wrong_arguments_on_the_analyst_path_are_one_line(tmp_path):
    folder = tmp_path / "nhan"
    folder.mkdir()
    (folder / "ghi_chu.txt").write_text("x", encoding="utf-8")
    store = {"store": tmp_path / "kho"}
    cases = [
        (lambda: xx.consolidate(folder / "ghi_chu.txt", level="huyen", unit="794"), "không phải thư mục"),
        (lambda: xx.consolidate(folder, level="huyen", unit="794", as_of="hôm qua", **store), "as_of = «hôm qua»"),
        (lambda: xx.consolidate(folder, level="huyen", unit="794", deadline=31, **store), "deadline = «31»"),
        (lambda: xx.consolidate(folder, level="huyen", unit="794", received_at=tmp_path / "khong_co.csv", **store),
         "khong_co.csv"),
        (lambda: xx.consolidate(folder, level="huyen", unit="999", **store), "999"),
        (lambda: xx.load_plan(tmp_path / "khong_co"), "khong_co"),
    ]  # fmt: skip
    for call, expected in cases:
        with pytest.raises(xx.DataError) as exc:
            call()
        assert expected in _one_line(exc.value), str(exc.value)
        _raised_here(exc.value)
    # a date as text is understood, then the folder is judged
    with pytest.raises(xx.DataError, match="không có báo cáo nào"):
        xx.consolidate(folder, level="huyen", unit="794", as_of="05/09/2020", **store)


def test_summary_shows_the_consolidations_own_figures(demo_run):
    from xhht_xl.outputs import coverage_lines

    p = demo_run.province
    parts = summary_parts(p)
    assert parts["coverage"][: len(coverage_lines(p, direct=True))] == coverage_lines(p, direct=True)
    assert any("186/188" in line for line in parts["coverage"])
    counts = Counter((i.severity, i.code) for i in p.report)
    assert {(s, c): n for s, c, _, n in parts["kinds"]} == dict(counts)
    year = max(p.plan.milestones)
    last = p.totals[p.totals["milestone"] == year]
    met = int(last["verdict"].isin(["dat"]).sum())
    assert f"{met} đạt" in parts["targets"][0]
    html = p._repr_html_()
    assert html == summary_html(p) and html.startswith("<div") and "Tình hình nộp báo cáo" in html
    assert "<script" not in html and "&lt;" not in p.unit.name
    assert repr(p).startswith("<Consolidation tinh 80") and len(repr(p)) < 200
    assert p.summary().splitlines()[0] == parts["title"]


def test_plots_draw_the_workbook_charts_figures(demo_run, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xhht_xl.outputs import status_summary

    p = demo_run.province
    ax = p.plot.targets()
    bars = ax.containers
    data = p.attainment()
    assert [b.get_width() for b in bars[0]] == list(data["met"])
    assert [b.get_width() for b in bars[1]] == list(data["not_met"])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(data["name"])
    assert ax.get_title().replace("\n", " ") == T("out.chart-attainment", year=max(p.plan.milestones))
    ax = p.plot.coverage()
    states = ("on_time", "late", "missing", "pending")
    levels = p.coverage_by_level()  # one series per level: the direct units', then the communes'
    assert [[b.get_height() for b in bars] for bars in ax.containers] == [[lv[k] for k in states] for lv in levels]
    s = status_summary(p)  # the direct levels together are the status sheet's units
    assert [sum(lv[k] for lv in levels if lv["direct"]) for k in states] == [s[k] for k in states]
    assert any(not lv["direct"] and lv["missing"] for lv in levels)  # the missing communes are drawn
    plt.close("all")
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError) as exc:
        p.plot.targets()
    assert "xhht_xl[notebook]" in _one_line(exc.value)


@pytest.mark.parametrize(
    "values, declared, cats, out",
    [
        (["b", "", None, "a", np.nan, "b"], None, ["a", "b"], ["b", None, None, "a", None, "b"]),
        (["z", "b", "a"], ["b", "a"], ["b", "a", "z"], ["z", "b", "a"]),  # declared first, then the rest sorted
        ([794, "794", 1.5, None], None, ["1.5", "794"], ["794", "794", "1.5", None]),  # non-text: str() of each
        ([], ["b", "a"], ["b", "a"], []),
    ],
)
def test_code_columns_keep_every_value(values, declared, cats, out):
    """A code column becomes a categorical without losing a value, whichever path casts it (text
    values per distinct value, anything else per row)."""
    from xhht_xl.frames import _categorical

    s = _categorical(pd.Series(values, dtype=object), declared)
    assert list(s.cat.categories) == cats
    assert [None if v != v else v for v in s.astype(object)] == out
