"""Consolidation: sums, rates, coverage, idempotence, ledger, lock, identification, atomic output."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import pytest
from helpers import clean_values, write_book
from hypothesis import given, settings
from hypothesis import strategies as st

from xhht_xl import aggregate, cli, intake
from xhht_xl.aggregate import Member, Scope
from xhht_xl.consolidation import consolidate
from xhht_xl.fileio import OutputError
from xhht_xl.plan import round_rate
from xhht_xl.submission import NA, Entry, Submission

DISTRICT = "798"  # Huyện Mộc Hóa: 7 communes


def _sub(unit: str, values: dict) -> Submission:
    sub = Submission(path=None, file=f"{unit}.xlsx", kind="xlsx", sha256=unit, size=0, template="chung")
    for key, value in values.items():
        status = "na" if value is NA else ("empty" if value is None else "ok")
        sub.entries[key] = Entry(key, value, "Kết quả", "E7", value, status)
    sub.unit_code = unit
    return sub


pair = st.one_of(
    st.none(),
    st.just(NA),
    st.integers(0, 5000).flatmap(lambda den: st.tuples(st.integers(0, den), st.just(den))),
)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_parent_is_sum_of_children_and_rates_from_sums(plan, data):
    """Counts add up; the rate is summed numerator / summed denominator; order does not matter."""
    communes = [u.code for u in plan.children(DISTRICT, "xa")]
    scope = Scope(DISTRICT, "huyen", {"xa": communes})
    members, want = [], {}
    for code in communes:
        values = {}
        for ind in ("GDHT", "DHHT", "XMC_BC_15_35"):
            v = data.draw(pair)
            if v is NA:
                values[("kq", ind, 2020, "num")] = values[("kq", ind, 2020, "den")] = NA
            elif v is not None:
                values[("kq", ind, 2020, "num")], values[("kq", ind, 2020, "den")] = v
                n, d, c = want.get(ind, (0, 0, 0))
                want[ind] = (n + v[0], d + v[1], c + 1)
        members.append(Member(code, "xa", _sub(code, values)))
    order = data.draw(st.permutations(members))
    for ms in (members, order):
        totals = aggregate.totals(aggregate.facts(ms), plan, scope)
        got = {r.indicator: r for r in totals.itertuples() if r.milestone == 2020}
        for ind in ("GDHT", "DHHT", "XMC_BC_15_35"):
            n, d, c = want.get(ind, (0, 0, 0))
            r = got[ind]
            assert r.units_covered == c and r.units_expected == len(communes)
            if c:
                assert (r.num, r.den) == (n, d)
                # the rate of summed counts, rounded once by the one rule (half-up to 0.1)
                assert (r.rate == float(round_rate(n / d * 100))) if d else (r.rate != r.rate)
            else:
                assert r.num != r.num  # not zero: nothing covered


@settings(max_examples=10, deadline=None)  # each example is 16 consolidations
@given(st.lists(st.integers(0, 3000), min_size=15, max_size=15), st.randoms(use_true_random=False))
def test_top_equals_sum_of_leaves(plan, dens, rnd):
    """Province over districts over communes: the top equals the sum of the leaves."""
    districts = plan.units_at("huyen")
    district_members, leaves = [], 0
    for d, den in zip(districts, dens, strict=True):
        communes = [c.code for c in plan.children(d.code, "xa")]
        members = []
        for c in communes:
            value = rnd.randint(0, den)
            leaves += value
            members.append(
                Member(
                    c, "xa", _sub(c, {("kq", "GDHT", 2020, "num"): value, ("kq", "GDHT", 2020, "den"): den})
                )
            )
        t = aggregate.totals(aggregate.facts(members), plan, Scope(d.code, "huyen", {"xa": communes}))
        row = t[(t.indicator == "GDHT") & (t.milestone == 2020)].iloc[0]
        sub = _sub(
            d.code, {("kq", "GDHT", 2020, "num"): int(row.num), ("kq", "GDHT", 2020, "den"): int(row.den)}
        )
        district_members.append(Member(d.code, "huyen", sub))
    scope = Scope("80", "tinh", {"huyen": [d.code for d in districts], "so_nganh": []})
    t = aggregate.totals(aggregate.facts(district_members), plan, scope)
    assert t[(t.indicator == "GDHT") & (t.milestone == 2020)].iloc[0].num == leaves


@pytest.fixture
def district_folder(tmp_path, plan):
    """Received workbooks of Mộc Hóa's communes, one missing, in nested folders with Vietnamese names."""
    folder = tmp_path / "nhận"
    communes = [u.code for u in plan.children(DISTRICT, "xa")]
    times = {}
    for i, code in enumerate(communes[:-1]):
        values = clean_values(plan, unit=code, seed=i)
        rel = f"tuần {i % 2 + 1}/Báo cáo xã {code}.xlsx"
        write_book(folder / rel, plan, "xa", values)
        times[rel] = dt.datetime(2020, 8, 15 + i, 9, 0)
    csv = tmp_path / "ngay_nhan.csv"
    csv.write_text(
        "file,received_at\n" + "".join(f"{k},{v.isoformat()}\n" for k, v in times.items()), encoding="utf-8"
    )
    return folder, csv, communes


def _snapshot(folder):
    return {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_consolidating_twice_is_identical_and_ledger_not_duplicated(tmp_path, plan, district_folder):
    folder, csv, communes = district_folder
    before = _snapshot(folder)
    store = tmp_path / "kho"
    runs = [
        consolidate(folder, plan, "huyen", DISTRICT, received_at=csv, as_of=dt.date(2020, 8, 25), store=store)
        for _ in range(2)
    ]
    assert runs[0].totals.equals(runs[1].totals)
    assert _snapshot(folder) == before, "received files are never modified"
    db = sqlite3.connect(store / "ledger.sqlite")
    assert db.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == len(communes) - 1
    states = dict(zip(runs[0].status["unit"], runs[0].status["state"], strict=True))
    assert states[communes[-1]] == "missing"
    assert {states[c] for c in communes[:-1]} == {"on_time"}  # received 15/8..20/8, deadline 20/8
    kept = sorted(db.execute("SELECT sha256 || suffix FROM versions"))
    assert [k for (k,) in kept] == sorted(f"{r.sha256}.xlsx" for r in runs[0].received)  # each version once


def test_deadline_override_and_as_of(tmp_path, plan, district_folder):
    folder, csv, communes = district_folder
    c = consolidate(folder, plan, "huyen", DISTRICT, received_at=csv, as_of=dt.date(2020, 8, 10),
                    deadline=dt.date(2020, 8, 16), store=tmp_path / "k")  # fmt: skip
    states = dict(zip(c.status["unit"], c.status["state"], strict=True))
    assert states[communes[-1]] == "pending"  # not due yet as of 10/8
    late = c.status[c.status["state"] == "late"]
    assert list(late["days_late"]) == list(range(1, len(late) + 1))
    assert {i.code for i in c.report} >= {"late"}


def test_output_is_atomic_and_unwritable_output_keeps_the_old_one(
    tmp_path, plan, district_folder, monkeypatch
):
    folder, csv, _ = district_folder
    c = consolidate(folder, plan, "huyen", DISTRICT, received_at=csv, store=tmp_path / "k")
    out = c.write_workbook(tmp_path / "out" / "tong_hop.xlsx")
    old = out.read_bytes()

    def crash(self, data):
        with open(self, "wb") as fh:
            fh.write(b"half a workbook")
        raise OSError("disk full")

    # the workbook's bytes are made in memory (fileio.workbook_bytes), then written to a temporary file
    monkeypatch.setattr("pathlib.Path.write_bytes", crash)
    with pytest.raises(OutputError, match="Không ghi được"):  # one Vietnamese line, not errno text
        c.write_workbook(out)
    assert out.read_bytes() == old
    assert [p.name for p in out.parent.iterdir()] == ["tong_hop.xlsx"], "no temp file left behind"


def test_lock_guards_the_store(tmp_path, plan, district_folder):
    folder, _csv, _ = district_folder
    store = tmp_path / "k"
    with intake.locked(store), pytest.raises(intake.IntakeError, match="đang được"):
        consolidate(folder, plan, "huyen", DISTRICT, store=store)
    consolidate(folder, plan, "huyen", DISTRICT, store=store)  # released afterwards


def test_identification_by_name_and_old_code(tmp_path, plan):
    communes = plan.children("804", "xa")  # Thủ Thừa: Tân Long took over Long Thành (28069)
    folder = tmp_path / "in"
    by_name = communes[0]
    values = clean_values(plan, unit=by_name.code)
    values[("unit", "unit")] = None
    write_book(folder / f"Báo cáo {by_name.name}.xlsx", plan, "xa", values)
    values = clean_values(plan, unit="28072")
    values[("unit", "unit")] = "28069 - Xã Long Thành"
    write_book(folder / "long_thanh.xlsx", plan, "xa", values)
    other = clean_values(plan, unit="27712")  # a commune of another district
    write_book(folder / "nham_huyen.xlsx", plan, "xa", other)
    c = consolidate(folder, plan, "huyen", "804", store=tmp_path / "k")
    assert set(c.chosen) == {by_name.code, "28072"}
    assert c.chosen[by_name.code].assigned_by == "name"
    codes = {(i.code, i.unit) for i in c.report}
    assert ("unit-old-code", "28072") in codes
    assert ("unassigned", "27712") in codes


def test_near_twins_are_not_guessed(tmp_path, plan):
    """Without a code, a name matching several expected units (or none exactly) stays unassigned."""
    folder = tmp_path / "in"
    values = clean_values(plan, unit="27685")
    values[("unit", "unit")] = None
    write_book(folder / "Phường bao cao.xlsx", plan, "xa", values)
    c = consolidate(folder, plan, "huyen", "794", store=tmp_path / "k")
    assert c.chosen == {}
    assert [i.code for i in c.report if i.code == "unassigned"] == ["unassigned"]


def test_into_keeps_own_entries_and_resubmission_diff(tmp_path, plan, district_folder):
    folder, csv, communes = district_folder
    own_values = clean_values(plan, level="huyen", unit=DISTRICT)
    own_values[("bc", "I.1")] = "Huyện đã ban hành kế hoạch số 12/KH-UBND."
    own_values[("kq", "CBCCVC_UD_CNTT", 2020, "num")] = 40
    own_values[("kq", "CBCCVC_UD_CNTT", 2020, "den")] = 50
    own = write_book(tmp_path / "cua_huyen.xlsx", plan, "huyen", own_values)
    own_before = own.read_bytes()
    c1 = consolidate(folder, plan, "huyen", DISTRICT, into=own, received_at=csv, store=tmp_path / "k")
    assert own.read_bytes() == own_before
    assert c1.appendix[("bc", "I.1")] == own_values[("bc", "I.1")]
    assert c1.appendix[("kq", "CBCCVC_UD_CNTT", 2020, "num")] == 40  # the district types it itself
    gdht = c1.totals[(c1.totals.indicator == "GDHT") & (c1.totals.milestone == 2020)].iloc[0]
    assert c1.appendix[("kq", "GDHT", 2020, "num")] == gdht.num
    # a commune sends a corrected file: the cell-level diff shows against the version used before
    first = communes[0]
    values = clean_values(plan, unit=first, seed=0)
    values[("kq", "GDHT", 2020, "num")] = values[("kq", "GDHT", 2020, "num")] // 2
    write_book(folder / "gửi lại" / f"Báo cáo xã {first} (sửa).xlsx", plan, "xa", values)
    c2 = consolidate(folder, plan, "huyen", DISTRICT, into=own, received_at=csv, store=tmp_path / "k")
    changes = c2.changes[c2.changes["unit"] == first]
    assert list(changes["key"]) == ["kq/GDHT/2020/num"]
    assert ("superseded", first) in {(i.code, i.unit) for i in c2.report}
    # corrected again, over the same file: the version used before is gone from the folder, and the
    # store's copy of it is what the new one is compared with
    again = values[("kq", "GDHT", 2020, "num")] + 1
    values[("kq", "GDHT", 2020, "num")] = again
    write_book(folder / "gửi lại" / f"Báo cáo xã {first} (sửa).xlsx", plan, "xa", values)
    c3 = consolidate(folder, plan, "huyen", DISTRICT, into=own, received_at=csv, store=tmp_path / "k")
    row = c3.changes[c3.changes["unit"] == first].iloc[0]
    assert (row["key"], row["before"], row["after"]) == ("kq/GDHT/2020/num", str(again - 1), str(again))
    assert row["previous_file"] == f"gửi lại/Báo cáo xã {first} (sửa).xlsx"


def test_changes_compare_with_the_version_used_last_even_an_earlier_one(tmp_path, plan, district_folder):
    """A clerk goes back to an earlier file and then receives a new one: the new one is compared with
    the version the last run used (helper-37: it was compared with the one before, as the earlier
    version kept the time it was first used)."""
    folder, csv, communes = district_folder
    first = communes[0]
    path = folder / "tuần 1" / f"Báo cáo xã {first}.xlsx"
    values = clean_values(plan, unit=first, seed=0)
    key = ("kq", "GDHT", 2020, "num")
    versions = {}
    for name, delta in (("v1", 0), ("v2", -7), ("v3", -11)):
        changed = dict(values)
        changed[key] = values[key] + delta
        versions[name] = (write_book(tmp_path / f"{name}.xlsx", plan, "xa", changed).read_bytes(), changed[key])
    runs = []
    for hour, name in enumerate(("v1", "v2", "v1", "v3"), start=8):
        path.write_bytes(versions[name][0])
        runs.append(consolidate(folder, plan, "huyen", DISTRICT, received_at=csv, store=tmp_path / "k",
                                now=dt.datetime(2020, 9, 1, hour)))  # fmt: skip
    shown = [
        [(row.key, row.before, row.after) for row in c.changes[c.changes["unit"] == first].itertuples()] for c in runs
    ]
    v1, v2, v3 = (versions[n][1] for n in ("v1", "v2", "v3"))
    assert shown == [[], [("kq/GDHT/2020/num", str(v1), str(v2))], [("kq/GDHT/2020/num", str(v2), str(v1))],
                     [("kq/GDHT/2020/num", str(v1), str(v3))]]  # fmt: skip


def test_cli_consolidate_exit_codes(tmp_path, plan, district_folder, capsys):
    folder, csv, _ = district_folder
    out = tmp_path / "ra" / "tong_hop.xlsx"
    rc = cli.main(["consolidate", str(folder), "--level", "huyen", "--unit", DISTRICT, "-o", str(out),
                   "--json", str(tmp_path / "ra/r.json"), "--facts", str(tmp_path / "ra/f.csv"),
                   "--received-at", str(csv), "--as-of", "2020-08-25"])  # fmt: skip
    assert rc == 1  # one commune missing is an error
    assert out.exists() and (tmp_path / "ra/r.json").exists()
    facts = (tmp_path / "ra/f.csv").read_text(encoding="utf-8-sig").splitlines()
    assert facts[0].startswith("unit,level,indicator")
    assert cli.main(["consolidate", str(folder), "--level", "xa", "-o", str(out)]) == 2
    assert (
        cli.main(
            [
                "consolidate",
                str(tmp_path / "khong_co"),
                "--level",
                "huyen",
                "--unit",
                DISTRICT,
                "-o",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 2


def test_rates_never_averaged(plan):
    """Two communes 1/1 and 0/99: the district rate is 1%, not the 50% an average would give."""
    scope = Scope(DISTRICT, "huyen", {"xa": ["27796", "27802"]})
    members = [
        Member(
            "27796", "xa", _sub("27796", {("kq", "GDHT", 2020, "num"): 1, ("kq", "GDHT", 2020, "den"): 1})
        ),
        Member(
            "27802", "xa", _sub("27802", {("kq", "GDHT", 2020, "num"): 0, ("kq", "GDHT", 2020, "den"): 99})
        ),
    ]
    t = aggregate.totals(aggregate.facts(members), plan, scope)
    assert t[(t.indicator == "GDHT") & (t.milestone == 2020)].iloc[0].rate == pytest.approx(1.0)


def test_output_error_is_one_line(tmp_path, plan, district_folder):
    folder, _csv, _ = district_folder
    c = consolidate(folder, plan, "huyen", DISTRICT, store=tmp_path / "k")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        c.write_workbook(blocker / "x.xlsx")
    assert "\n" not in str(info.value) and "x.xlsx" in str(info.value)


def test_amount_in_dong_flagged_against_peers(tmp_path, plan):
    """One commune enters a single year in đồng: its own other years are empty, its peers are not."""
    folder = tmp_path / "in"
    communes = [u.code for u in plan.children(DISTRICT, "xa")]
    for i, code in enumerate(communes):
        values = clean_values(plan, unit=code, seed=i)
        for key in [k for k in values if k[0] == "kp" and k[1] == "KP_XHH"]:
            del values[key]
        values[("kp", "KP_XHH", 2019)] = 45_000_000 if i == 0 else 40.0 + i
        write_book(folder / f"{code}.xlsx", plan, "xa", values)
    c = consolidate(folder, plan, "huyen", DISTRICT, store=tmp_path / "k")
    flagged = [(i.unit, i.cell) for i in c.report if i.code == "amount-scale"]
    assert flagged == [(communes[0], "J5")]


def test_merged_communes_reporting_separately_add_up(tmp_path, plan):
    """Long Thành (28069) was merged into Tân Long (28072) on 01/01/2020; if both still send a
    workbook, the figures of both add up into the new commune, with a warning for the old code."""
    folder = tmp_path / "in"
    new = clean_values(plan, unit="28072", seed=1)
    old = clean_values(plan, unit="28072", seed=2)
    old[("unit", "unit")] = "28069 - Xã Long Thành"
    write_book(folder / "tan_long.xlsx", plan, "xa", new)
    write_book(folder / "long_thanh_cu.xlsx", plan, "xa", old)
    c = consolidate(folder, plan, "huyen", "804", store=tmp_path / "k")
    row = c.totals[(c.totals.indicator == "GDHT") & (c.totals.milestone == 2020)].iloc[0]
    key = ("kq", "GDHT", 2020, "num")
    assert row.num == new[key] + old[key]
    assert row.units_covered == 1  # one commune today
    codes = {(i.code, i.unit) for i in c.report}
    assert ("unit-old-code", "28072") in codes and ("superseded", "28072") not in codes


def test_file_names_do_not_change_results(tmp_path, plan, district_folder):
    folder, _csv, _ = district_folder
    first = consolidate(folder, plan, "huyen", DISTRICT, store=tmp_path / "k1")
    renamed = tmp_path / "đổi tên"
    for i, path in enumerate(sorted(folder.rglob("*.xlsx"))):
        target = renamed / f"z{9 - i} tệp {i}.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    second = consolidate(renamed, plan, "huyen", DISTRICT, store=tmp_path / "k2")
    assert first.totals.equals(second.totals) and first.funding.equals(second.funding)
