"""One truth in every output: coverage, rounding, award verdicts, status counts, identity and
received times agree everywhere and never overstate (issue 10, one small input per case)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from helpers import clean_values, write_book

from xhht_xl import cli, coverage, intake, messages, outputs, quotas, read
from xhht_xl.aggregate import Scope
from xhht_xl.consolidation import ConsolidationError, consolidate, unit_issue_counts
from xhht_xl.pipeline import validate
from xhht_xl.plan import round_rate

T = messages.text
DISTRICT = "798"  # Huyện Mộc Hóa: 7 communes
OTHER = "806"  # Huyện Cần Đước
AS_OF = dt.date(2020, 8, 28)


def _stamp(path: Path, when: dt.datetime) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _communes(plan, district: str = DISTRICT) -> list[str]:
    return [u.code for u in plan.children(district, "xa")]


def _commune_book(folder: Path, plan, code: str, seed: int, when: dt.datetime, name: str | None = None,
                  change=None) -> Path:  # fmt: skip
    values = clean_values(plan, unit=code, seed=seed)
    if change:
        change(values)
    path = write_book(folder / (name or f"{code}.xlsx"), plan, "xa", values)
    return _stamp(path, when)


@pytest.fixture(scope="module")
def district_run(tmp_path_factory, plan):
    """Mộc Hóa from its communes, the last one missing; its workbook written by xhht_xl."""
    root = tmp_path_factory.mktemp("district")
    folder = root / "nhan"
    communes = _communes(plan)
    for i, code in enumerate(communes[:-1]):
        _commune_book(folder, plan, code, i, dt.datetime(2020, 8, 15, 9, 0))
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=root / "kho",
                    now=dt.datetime(2020, 8, 28, 17, 0))  # fmt: skip
    out = c.write_workbook(root / "ra" / f"{DISTRICT}_tong_hop.xlsx")
    return c, out, communes


# -- case 1: coverage travels up ----------------------------------------------------------------


def test_a_district_workbook_carries_its_coverage(district_run):
    c, out, communes = district_run
    carried = coverage.read(out)
    assert carried is not None and carried.unit == DISTRICT and carried.level == "huyen"
    states = {u["unit"]: u["state"] for u in carried.units}
    assert states[communes[-1]] == "missing" and {states[x] for x in communes[:-1]} == {"on_time"}
    fig = carried.figures[("GDHT", 2020)]
    row = c.totals[(c.totals.indicator == "GDHT") & (c.totals.milestone == 2020)].iloc[0]
    assert (fig.covered, fig.expected, fig.leaves_covered, fig.leaves_expected) == (6, 7, 6, 7)
    assert fig.num == row.num and fig.den == row.den and not fig.complete
    wb = openpyxl.load_workbook(out)
    assert wb[coverage.SHEET].sheet_state == "veryHidden"


def test_the_bounds_read_back_fit_what_is_written():
    """read.DETAIL_BOUND and COVERAGE_BOUND (read where no import of outputs or coverage may be)
    take every column the writers put in «Chi tiết» and ``_coverage``, and one spare."""
    assert read.DETAIL_BOUND[1] == len(outputs.DETAIL_COLUMNS) + 1
    assert read.COVERAGE_BOUND[1] >= len(coverage.FIGURE_FIELDS) + 2
    assert read.sent_up_bounds() == {messages.text("out.sheet-detail"): read.DETAIL_BOUND,
                                     coverage.SHEET: read.COVERAGE_BOUND}  # fmt: skip


def test_the_reader_keeps_what_the_level_above_reads_back(tmp_path, plan, district_run, lo_work):
    """The sheets a district workbook carries up («Chi tiết», ``_coverage``) are kept by the reader
    that reads the file once (in the intake worker), exactly as reading each sheet again would give
    them: as written (its sheets cut when first scanned) and saved by LibreOffice as .ods (a format cut
    when the book is made, as .xls is: the same branch, so one LibreOffice load serves both)."""
    from xhht_xl import lo, read

    _c, out, communes = district_run
    books = [out, lo.convert([out], "ods", tmp_path / "ods", lo_work)[0]]
    for path in books:
        sub = validate(path, plan).submission
        assert set(sub.sent_up) == {T("out.sheet-detail"), coverage.SHEET}, path.name
        for sheet, bound in read.sent_up_bounds().items():
            assert sub.sent_up[sheet] == read.sheet_rows(path, sheet, bound=bound), (path.name, sheet)
        kept, again = coverage.of(sub), coverage.read(path)
        assert kept is not None and kept.unit == DISTRICT and repr(kept) == repr(again)  # repr: nan == nan
        detail = outputs.detail_of(sub, plan)
        assert len(detail) > 0 and set(detail["unit"]) == set(communes[:-1])
        pd.testing.assert_frame_equal(detail, outputs.read_detail(path, plan))
    commune = validate(next((out.parent.parent / "nhan").rglob("*.xlsx")), plan).submission
    assert commune.sent_up == {} and coverage.of(commune) is None and outputs.detail_of(commune, plan).empty


def test_province_names_the_communes_missing_inside_a_district_file(tmp_path, plan, district_run):
    _c, out, communes = district_run
    folder = tmp_path / "gui_tinh"
    folder.mkdir()
    target = folder / out.name
    target.write_bytes(out.read_bytes())
    _stamp(target, dt.datetime(2020, 8, 29, 10, 0))
    p = consolidate(folder, plan, "tinh", "80", as_of=dt.date(2020, 9, 5), store=tmp_path / "kho",
                    now=dt.datetime(2020, 9, 5, 17, 0))  # fmt: skip
    below = p.below.set_index("unit")
    assert below.loc[communes[-1], "state"] == "missing" and below.loc[communes[-1], "via"] == DISTRICT
    assert set(below.loc[communes[:-1], "state"]) == {"on_time"}
    others = below[below["via"] != DISTRICT]
    assert len(others) == 188 - 7 and set(others["state"]) == {"unknown"}  # their districts did not report
    xa = next(lv for lv in p.coverage_by_level() if lv["level"] == "xa")
    assert (xa["received"], xa["expected"], xa["missing_units"], xa["unknown"]) == (6, 188, [communes[-1]], 181)
    # the totals: 15 districts expected, 1 reported; 6 of 188 communes behind the figure
    row = p.totals[(p.totals.indicator == "GDHT") & (p.totals.milestone == 2020)].iloc[0]
    assert (row.units_covered, row.units_expected) == (1, 15)
    assert (row.leaves_covered, row.leaves_expected, row.leaves_unknown, row.leaf_level) == (6, 188, 0, "xa")
    name = plan.units[communes[-1]].name
    lines = " ".join(outputs.coverage_lines(p))
    assert "6/188" in lines and name in lines
    assert ("below-missing", DISTRICT) in {(i.code, i.unit) for i in p.report}
    # in the workbook: the status sheet and the totals sheet say it, the coverage column too
    book = openpyxl.load_workbook(p.write_workbook(tmp_path / "tinh.xlsx"))
    status = book[T("out.sheet-status")]
    assert name in status.cell(3, 1).value and "6/188" in status.cell(3, 1).value
    totals = book[T("out.sheet-totals")]
    assert name in totals.cell(2, 2).value  # the note sits in the first printed column
    heads = [totals.cell(3, col).value for col in range(1, totals.max_column + 1)]
    col = heads.index(T("out.col-coverage")) + 1
    texts = {totals.cell(r, col).value for r in range(4, totals.max_row + 1)}
    assert T("coverage.of", covered=6, expected=188, noun=plan.levels["xa"].unit_noun) in texts
    data = json.loads(p.write_json(tmp_path / "tinh.json").read_text(encoding="utf-8"))
    assert next(lv for lv in data["coverage"] if lv["level"] == "xa")["missing_units"] == [communes[-1]]


def test_a_district_workbook_not_written_by_the_tool_has_unknown_coverage(tmp_path, plan):
    folder = tmp_path / "gui_tinh"
    values = clean_values(plan, level="huyen", unit=DISTRICT)
    _stamp(write_book(folder / "798.xlsx", plan, "huyen", values), dt.datetime(2020, 8, 29, 10, 0))
    p = consolidate(folder, plan, "tinh", "80", as_of=dt.date(2020, 9, 5), store=tmp_path / "kho",
                    now=dt.datetime(2020, 9, 5, 17, 0))  # fmt: skip
    row = p.totals[(p.totals.indicator == "GDHT") & (p.totals.milestone == 2020)].iloc[0]
    assert (row.units_covered, row.leaves_covered, row.leaves_unknown) == (1, 0, 7)  # never claimed as covered
    assert ("coverage-unknown", DISTRICT) in {(i.code, i.unit) for i in p.report}
    assert set(p.below[p.below["via"] == DISTRICT]["state"]) == {"unknown"}
    # the status table of «Biểu đồ»: every unit of a level in one row, those of unknown state too
    # (without that row the communes' column added up to 181 under «(188)»)
    book = openpyxl.load_workbook(outputs.write_workbook(p, tmp_path / "80.xlsx"))
    # a verdict on 1 district's figures of 15 is provisional (aggregate.partial)
    totals = book[T("out.sheet-totals")]
    shown = {(totals.cell(r, 1).value, totals.cell(r, 3).value): totals.cell(r, 8).value
             for r in range(4, totals.max_row + 1)}  # fmt: skip
    judged = [(r.indicator, r.milestone) for r in p.totals.itertuples() if isinstance(r.verdict, str)]
    assert judged and all(shown[k].endswith(" (tạm\u00a0tính)") for k in judged), judged
    data = json.loads(outputs.write_json(p, tmp_path / "80.json").read_text(encoding="utf-8"))
    assert all(t["partial"] is True for t in data["totals"] if (t["indicator"], t["milestone"]) in judged)
    ws = book[T("out.sheet-charts")]
    head = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == T("out.col-state"))
    rows = range(head + 1, next(r for r in range(head + 1, ws.max_row + 2) if not ws.cell(r, 1).value))
    assert T("consolidate.state-unknown") in [ws.cell(r, 1).value for r in rows]
    for col in range(2, ws.max_column + 1):
        series = ws.cell(head, col).value
        if series:
            expected = int(series.rsplit("(", 1)[1].rstrip(")").replace(".", ""))
            assert sum(ws.cell(r, col).value or 0 for r in rows) == expected, series


# -- case 2: one value, one rounding --------------------------------------------------------------


def test_a_rate_is_rounded_once_and_stored_as_shown(tmp_path, plan):
    """174/186 = 93.548…: 93.5 everywhere (it was stored 93.55 and shown 93.6 beside 93.5)."""
    folder = tmp_path / "nhan"
    communes = _communes(plan)
    split = [(25, 27), (25, 27), (25, 26), (25, 27), (25, 27), (25, 26), (24, 26)]
    assert sum(n for n, _ in split) == 174 and sum(d for _, d in split) == 186
    for i, (code, (n, d)) in enumerate(zip(communes, split, strict=True)):

        def change(values, n=n, d=d):
            values[("kq", "GDHT", 2015, "num")], values[("kq", "GDHT", 2015, "den")] = n, d

        _commune_book(folder, plan, code, i, dt.datetime(2020, 8, 15, 9, 0), change=change)
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=tmp_path / "kho")
    row = c.totals[(c.totals.indicator == "GDHT") & (c.totals.milestone == 2015)].iloc[0]
    assert (row.num, row.den, row.rate) == (174, 186, 93.5)
    rated = c.detail[c.detail["den"] > 0]
    assert len(rated) and all(r == float(round_rate(n / d * 100)) for n, d, r in rated[["num", "den", "rate"]].values)
    wb = openpyxl.load_workbook(c.write_workbook(tmp_path / "out.xlsx"))
    ws = wb[T("out.sheet-totals")]
    stored = {(ws.cell(r, 1).value, ws.cell(r, 3).value): ws.cell(r, 6).value for r in range(4, ws.max_row + 1)}
    assert stored[("GDHT", 2015)] == 93.5 and ws.cell(4, 6).number_format == "0.0"
    data = json.loads(c.write_json(tmp_path / "out.json").read_text(encoding="utf-8"))
    assert next(t for t in data["totals"] if (t["indicator"], t["milestone"]) == ("GDHT", 2015))["rate"] == 93.5


# -- case 3: the award list holds only what may be proposed ----------------------------------------


def _noms(rows: list[dict]) -> pd.DataFrame:
    base = {"proposer_level": "huyen", "own": False, "award": "CTUBND", "award_name": "Bằng khen của Chủ tịch UBND tỉnh",
            "kind": "individual", "position": "", "unit_text": "", "summary": "", "previous": "", "note": "",
            "sheet": "Khen thưởng", "verdict": "", "verdict_code": "", "reason": ""}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows], columns=quotas.COLUMNS)


def test_duplicate_outside_and_erroneous_nominations_are_not_within_quota(plan):
    kien_tuong, chau_thanh = "795", "808"
    person_unit = plan.children(chau_thanh, "xa")[0].code
    noms = _noms([
        {"proposer": kien_tuong, "priority": 1, "name": "Dương Kim Trang", "unit": person_unit,
         "file": "795.xlsx", "cell": "D6"},
        {"proposer": chau_thanh, "priority": 1, "name": "Dương Kim Trang", "unit": person_unit,
         "file": "808.xlsx", "cell": "D6"},
        {"proposer": chau_thanh, "priority": 2, "name": "Đỗ Kim Tuyết", "unit": chau_thanh,
         "file": "808.xlsx", "cell": "D7"},
        {"proposer": chau_thanh, "priority": 3, "name": "Lê Văn Ba", "unit": chau_thanh,
         "file": "808.xlsx", "cell": "D8"},
        {"proposer": kien_tuong, "priority": 2, "name": "Trần Thị Tư", "unit": kien_tuong,
         "file": "795.xlsx", "cell": "D7"},
    ])  # fmt: skip
    from xhht_xl.issues import make

    row_error = make("nomination-incomplete", file="795.xlsx", sheet="Khen thưởng", cell="H7", unit=kien_tuong,
                     priority=2, fields="chức vụ")  # fmt: skip
    scope = Scope("80", "tinh", {"huyen": [kien_tuong, chau_thanh]})
    out, issues = quotas.check(noms, plan, scope, [row_error])
    codes = list(out["verdict_code"])
    assert codes == ["outside", "duplicate", "within", "over", "error"]
    assert list(out["verdict"]) == [T(f"quota.{v}") for v in codes]
    assert "Châu Thành" in out.iloc[0]["reason"] and "808" in out.iloc[0]["reason"]  # both reasons named
    assert out.iloc[2]["reason"] == "" and all(out.iloc[i]["reason"] for i in (0, 1, 3, 4))
    assert list(quotas.passing(out)["name"]) == ["Đỗ Kim Tuyết"]
    assert {i.code for i in issues} == {"duplicate-nominee", "nominee-outside", "quota-exceeded"}


# -- case 4: counts derive from the issue list ---------------------------------------------------


def test_status_counts_are_the_issue_lists(district_run):
    c, _out, communes = district_run
    counts = unit_issue_counts(c.report)
    for r in c.status.itertuples():
        assert (r.errors, r.warnings) == counts.get(r.unit, (0, 0))
    assert c.status.set_index("unit").loc[communes[-1], "errors"] == 1  # "missing" is its error
    summary = outputs.status_summary(c)
    assert summary["with_errors"] == sum(1 for u in c.status["unit"] if counts.get(u, (0, 0))[0])


# -- case 5: identity of --into -------------------------------------------------------------------


def test_into_must_be_the_units_own_workbook(tmp_path, plan, capsys):
    folder = tmp_path / "nhan"
    _commune_book(folder, plan, _communes(plan)[0], 0, dt.datetime(2020, 8, 15, 9, 0))
    other = write_book(tmp_path / "can_duoc.xlsx", plan, "huyen", clean_values(plan, level="huyen", unit=OTHER))
    commune = write_book(tmp_path / "xa.xlsx", plan, "xa", clean_values(plan, unit=_communes(plan)[1]))
    for own, named in ((other, "806 - Huyện Cần Đước"), (commune, plan.units[_communes(plan)[1]].name)):
        with pytest.raises(ConsolidationError) as info:
            consolidate(folder, plan, "huyen", DISTRICT, into=own, store=tmp_path / "kho")
        text = str(info.value)
        assert "\n" not in text and named in text and "798 - Huyện Mộc Hóa" in text and own.name in text
        out = tmp_path / "ra" / "tong_hop.xlsx"
        rc = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "--into", str(own),
                       "-o", str(out), "--json", str(tmp_path / "ra" / "r.json")])  # fmt: skip
        assert rc == 2 and not out.exists() and not (tmp_path / "ra" / "r.json").exists()
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err
    assert not (tmp_path / "kho").exists() and not (tmp_path / "ra" / "xhht_intake").exists()  # nothing written


# -- case 6: received time is evidence ------------------------------------------------------------


def test_received_time_comes_from_the_file_not_from_now(tmp_path, plan):
    folder = tmp_path / "nhan"
    code = _communes(plan)[0]
    path = _commune_book(folder, plan, code, 0, dt.datetime(2020, 8, 15, 9, 30))
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=tmp_path / "kho",
                    now=dt.datetime(2026, 1, 10, 8, 0))  # a run years later  # fmt: skip
    row = c.status.set_index("unit").loc[code]
    assert (row["state"], row["received_source"]) == ("on_time", "mtime")
    assert row["received_at"] == dt.datetime(2020, 8, 15, 9, 30)
    # a copy or touch after the store first saw this content: the first sighting is the evidence
    _stamp(path, dt.datetime(2026, 2, 1, 8, 0))
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=tmp_path / "kho",
                    now=dt.datetime(2026, 2, 2, 8, 0))  # fmt: skip
    row = c.status.set_index("unit").loc[code]
    assert (row["received_source"], row["received_at"]) == ("first_seen", dt.datetime(2026, 1, 10, 8, 0))
    # a time the clerk supplies wins over both
    csv = tmp_path / "ngay_nhan.csv"
    csv.write_text(f"file,received_at\n{path.name},2020-08-19T16:00\n", encoding="utf-8")
    c = consolidate(folder, plan, "huyen", DISTRICT, received_at=csv, as_of=AS_OF, store=tmp_path / "kho")
    row = c.status.set_index("unit").loc[code]
    assert (row["received_source"], row["received_at"]) == ("given", dt.datetime(2020, 8, 19, 16, 0))
    data = json.loads(c.write_json(tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["files"][0]["received_source"] == "given"
    ws = openpyxl.load_workbook(c.write_workbook(tmp_path / "r.xlsx"))[T("out.sheet-status")]
    heads = [ws.cell(4, col).value for col in range(1, ws.max_column + 1)]
    col = heads.index(T("out.col-received-source")) + 1
    assert T("evidence.given") in {ws.cell(r, col).value for r in range(5, ws.max_row + 1)}


def test_times_with_an_offset_compare_with_local_times(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"x")
    aware = dt.datetime(2020, 8, 15, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    when, source = intake.received_time(path, "a.xlsx", dt.datetime(2030, 1, 1), {"a.xlsx": aware})
    assert source == "given" and when.tzinfo is None and when == aware.astimezone().replace(tzinfo=None)


# -- case 7: a correction never loses to the original by file name ------------------------------


@pytest.mark.parametrize("correction_name", ["X (1).xlsx", "X.xlsx"])
def test_versions_are_ordered_by_time_then_by_their_own_date(tmp_path, plan, correction_name):
    folder = tmp_path / "nhan"
    code = _communes(plan)[0]
    original_name = "X.xlsx" if correction_name != "X.xlsx" else "X (1).xlsx"
    same = dt.datetime(2020, 8, 16, 8, 0)  # both saved at once: the times cannot order them

    def original(values):
        values[("unit", "date")] = dt.date(2020, 8, 10)

    def corrected(values):
        values[("unit", "date")] = dt.date(2020, 8, 12)
        values[("kq", "GDHT", 2020, "num")] = 1

    _commune_book(folder, plan, code, 0, same, name=original_name, change=original)
    _commune_book(folder, plan, code, 0, same, name=correction_name, change=corrected)
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=tmp_path / "kho")
    assert c.chosen[code].rel == correction_name
    found = {(i.code, i.file) for i in c.report}
    assert ("versions-unordered", correction_name) in found
    assert not any(code_ == "superseded" for code_, _ in found)  # "newer" is never claimed without evidence
    change = c.changes[(c.changes["unit"] == code) & (c.changes["key"] == "kq/GDHT/2020/num")].iloc[0]
    assert change["after"] == "1" and change["file"] == correction_name
    # with times that differ, the later one is used whatever its name and date cell say
    _stamp(folder / original_name, dt.datetime(2020, 8, 17, 8, 0))
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, store=tmp_path / "kho2")
    assert c.chosen[code].rel == original_name
    assert ("superseded", correction_name) in {(i.code, i.file) for i in c.report}


# -- case 8: a late correction does not make an on-time unit late ----------------------------------


def test_timeliness_is_judged_on_the_first_version(tmp_path, plan):
    folder = tmp_path / "nhan"
    code = _communes(plan)[0]
    _commune_book(folder, plan, code, 0, dt.datetime(2020, 8, 13, 10, 0), name="bao_cao.xlsx")

    def corrected(values):
        values[("kq", "GDHT", 2020, "num")] = 1

    _commune_book(folder, plan, code, 0, dt.datetime(2020, 8, 15, 10, 0), name="bao_cao_sua.xlsx", change=corrected)
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, deadline=dt.date(2020, 8, 14), store=tmp_path / "k")
    row = c.status.set_index("unit").loc[code]
    assert (row["state"], row["days_late"]) == ("on_time", 0)
    assert row["received_at"] == dt.datetime(2020, 8, 13, 10, 0) and c.chosen[code].rel == "bao_cao_sua.xlsx"
    assert "gửi sau hạn" in row["note"]
    codes = {(i.code, i.unit) for i in c.report}
    assert ("correction-late", code) in codes and ("late", code) not in codes
    # a unit whose first version is late stays late by the first version's days
    _stamp(folder / "bao_cao.xlsx", dt.datetime(2020, 8, 15, 9, 0))
    c = consolidate(folder, plan, "huyen", DISTRICT, as_of=AS_OF, deadline=dt.date(2020, 8, 14), store=tmp_path / "k2")
    assert tuple(c.status.set_index("unit").loc[code, ["state", "days_late"]]) == ("late", 1)


# -- case 9: checks know what the tool wrote ------------------------------------------------------


def test_partial_sums_of_a_tool_written_workbook_are_not_a_denominator_mismatch(plan, district_run):
    _c, out, _ = district_run
    v = validate(out, plan, expected_level="huyen")
    assert "denominator-mismatch" not in v.report.codes()


def test_a_hand_filled_district_workbook_is_still_checked(tmp_path, plan):
    values = clean_values(plan, level="huyen", unit=DISTRICT)
    codes = [c for c in ("PCGD_MN5_XA", "PCGD_TH_XA") if ("kq", c, 2020, "den") in values]
    values[("kq", codes[0], 2020, "den")] += 1
    path = write_book(tmp_path / "798.xlsx", plan, "huyen", values)
    assert "denominator-mismatch" in validate(path, plan, expected_level="huyen").report.codes()


# -- --received-at rows that name nothing here ----------------------------------------------------


def test_received_at_rows_must_name_files_of_expected_units(tmp_path, plan, capsys):
    folder = tmp_path / "nhan"
    code = _communes(plan)[0]
    _commune_book(folder, plan, code, 0, dt.datetime(2020, 8, 15, 9, 0))
    stranger = _communes(plan, OTHER)[0]
    _commune_book(folder, plan, stranger, 1, dt.datetime(2020, 8, 15, 9, 0), name="lac.xlsx")
    out = tmp_path / "ra" / "tong_hop.xlsx"
    cases = [
        (f"file,received_at\n{code}.xlsx,2020-08-15T09:00\nkhong_co.xlsx,2020-08-16T09:00\n", 3, "khong_co.xlsx"),
        (f"file,received_at\nlac.xlsx,2020-08-15T09:00\n{code}.xlsx,2020-08-15T09:00\n", 2, "lac.xlsx"),
    ]
    for text, row, name in cases:
        csv = tmp_path / "ngay_nhan.csv"
        csv.write_text(text, encoding="utf-8")
        rc = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "-o", str(out),
                       "--received-at", str(csv)])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert "ngay_nhan.csv" in err and f"dòng {row}" in err and name in err
        assert not out.exists()


def test_a_unit_without_a_readable_report_is_not_said_to_have_sent_nothing(tmp_path, plan):
    """When a received file could not be read, it may be the report of a unit that has none: that
    unit is «chưa có báo cáo đọc được» (the file named) in the issue, the status sheet's note and the
    report's annex, never «chưa gửi» (helper-36: only the report's prose said so)."""
    from docx import Document

    from xhht_xl import report

    folder = tmp_path / "gui_tinh"
    values = clean_values(plan, level="huyen", unit=DISTRICT)
    _stamp(write_book(folder / "798.xlsx", plan, "huyen", values), dt.datetime(2020, 8, 29, 10, 0))
    (folder / "803_tong_hop.xlsx").write_bytes(b"PK\x03\x04 cut short")
    p = consolidate(folder, plan, "tinh", "80", as_of=dt.date(2020, 9, 5), store=tmp_path / "kho",
                    now=dt.datetime(2020, 9, 5, 17, 0))  # fmt: skip
    missing = [i for i in p.report if i.code == "missing"]
    assert missing and all("chưa có báo cáo đọc được" in i.message and "803_tong_hop.xlsx" in i.message
                           and "chưa gửi" not in i.message for i in missing)  # fmt: skip
    gone = p.status[p.status["state"] == "missing"]
    assert len(gone) == len(missing) and all("803_tong_hop.xlsx" in n for n in gone["note"])
    doc = Document(report.write_report(p, tmp_path / "bc.docx", cover=False))
    cells = {c.text for t in doc.tables for row in t.rows for c in row.cells}
    assert "Chưa có báo cáo đọc được" in cells and "Chưa gửi" not in cells
    sheet = openpyxl.load_workbook(outputs.write_workbook(p, tmp_path / "80.xlsx"))[T("out.sheet-status")]
    states = {sheet.cell(r, 1).value: sheet.cell(r, 4).value for r in range(1, sheet.max_row + 1)}
    assert all(states[code] == "Chưa có báo cáo đọc được" for code in gone["unit"])
