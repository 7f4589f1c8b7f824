"""The protocol's sampling schedule (``[pk]``) and each subject's planned samples (trialrules.sampling)."""

from __future__ import annotations

import copy
import math
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from trialrules.sampling import (
    ExpectedDose,
    PlannedSample,
    SamplingScheduleError,
    collection_problem,
    deviation_minutes,
    parse_schedule,
    plan_samples,
    sample_code,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PARIS = ZoneInfo("Europe/Paris")


def _protocol(name: str) -> dict:
    return tomllib.loads((PROTOCOLS / name).read_text())


def _schedule(name: str):
    data = _protocol(name)
    return parse_schedule(data["pk"], tuple(d["name"] for d in data["drugs"]))


BAT_CODES = {
    "C1-PK-pre", "C1-PK-1h", "C1-PK-4h", "C1-PK-24h", "C1-PK-72h", "C1-PK-168h", "C1-PK-336h",
    *(f"C{c}-PK-pre" for c in range(2, 8)),
    *(f"C{c}-ADA-pre" for c in (1, 2, 4, 7)),
    "C1-RO-pre", "C1-RO-24h", "C1-RO-168h", "C1-RO-336h",
    *(f"C{c}-RO-pre" for c in (2, 4, 7)),
}


# --- the real protocols ---------------------------------------------------------------------------------------

def test_bat6005_schedule():
    schedule = _schedule("BAT6005.toml")
    assert schedule.drug == "BAT6005"
    assert [(a.code, a.kind, a.unit) for a in schedule.analytes] == [
        ("BAT6005", "pk", "ug/mL"), ("ADA", "ada", ""), ("RO", "ro", "%")]
    assert [(e.code, e.kind, e.analytes, e.cycles, len(e.points)) for e in schedule.entries] == [
        ("PK", "pk", ("BAT6005",), (1,), 7),
        ("PK", "pk", ("BAT6005",), (2, 3, 4, 5, 6, 7), 1),
        ("ADA", "ada", ("ADA",), (1, 2, 4, 7), 1),
        ("RO", "ro", ("RO",), (1,), 4),
        ("RO", "ro", ("RO",), (2, 4, 7), 1),
    ]
    assert schedule.entries[0].points[1].before == timedelta(0)
    assert schedule.entries[0].points[1].after == timedelta(minutes=10)
    assert schedule.nca == {"route": "intravascular", "duration": 1.0, "auc_method": "linear-up-log-down",
                            "blq_first": "keep", "blq_middle": "drop", "blq_last": "keep"}
    codes = [sample_code(c, e.code, p) for e in schedule.entries for c in e.cycles for p in e.points]
    assert len(codes) == len(set(codes)) == 24
    assert set(codes) == BAT_CODES


def test_bat6005_cycles_1_to_7_plan_exactly_the_protocol_samples():
    schedule = _schedule("BAT6005.toml")
    first = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
    doses = {c: first + timedelta(days=21 * (c - 1)) for c in range(1, 8)}
    plan = plan_samples(schedule, doses)
    assert len(plan) == 24
    assert {s.code for s in plan} == BAT_CODES
    assert not any(s.provisional for s in plan)


def test_lvgn6051_schedule():
    schedule = _schedule("LVGN6051-ANLOTINIB.toml")
    assert schedule.drug == "LVGN6051"
    assert [a.code for a in schedule.analytes] == [
        "LVGN6051", "ADA", "IL-6", "IL-12", "TNF-a", "IFN-g", "CD137", "PD-L1", "MSI", "TMB"]
    assert [a.kind for a in schedule.analytes] == ["pk", "ada"] + ["biomarker"] * 8
    msi = schedule.analyte("MSI")
    assert (msi.unit, msi.categories) == ("", ("MSS", "MSI-L", "MSI-H", "dMMR", "pMMR"))
    assert schedule.analyte("nope") is None
    assert [(e.code, e.kind, e.cycles, len(e.points)) for e in schedule.entries] == [
        ("PK", "pk", (1,), 7), ("PK", "pk", (2, 3, 4, 5, 6), 1), ("ADA", "ada", (1, 2, 4, 6), 1),
        ("CYT", "biomarker", (1,), 4), ("TISSUE", "biomarker", (1,), 1)]
    assert schedule.entries[3].analytes == ("IL-6", "IL-12", "TNF-a", "IFN-g", "CD137")
    tissue = schedule.entries[4].points[0]
    assert (tissue.predose, tissue.before, tissue.after) == (True, timedelta(days=28), timedelta(0))
    codes = [sample_code(c, e.code, p) for e in schedule.entries for c in e.cycles for p in e.points]
    assert len(codes) == len(set(codes)) == 7 + 5 + 4 + 4 + 1


def test_no_table_is_no_schedule():
    assert parse_schedule(None) is None


# --- error paths ----------------------------------------------------------------------------------------------

def _valid() -> dict:
    return {
        "drug": "D",
        "analytes": [{"code": "D", "kind": "pk", "unit": "ug/mL"}, {"code": "ADA", "kind": "ada"},
                     {"code": "IL6", "kind": "biomarker", "unit": "pg/mL"}],
        "samples": [
            {"code": "PK", "kind": "pk", "analytes": ["D"], "cycles": [1],
             "points": [{"hours": 0, "window_minutes": [-60, 0]}, {"hours": 1, "window_minutes": [0, 10]}]},
            {"code": "ADA", "kind": "ada", "analytes": ["ADA"], "cycles": [1, 2],
             "points": [{"hours": 0, "window_minutes": [-60, 0]}]},
        ],
    }


def _set(path: str, value):
    """A change to the valid table: ``path`` is dotted keys and list indexes (``samples.0.points.1.hours``)."""
    def change(table):
        *parents, last = path.split(".")
        node = table
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return table
    return change


_DELETE = object()

ERRORS = [
    ("not a table", lambda t: [t], "pk: expected a table"),
    ("unknown key", _set("schedule", 1), "pk.schedule: unknown key"),
    ("no drug", _set("drug", _DELETE), "pk.drug: expected the name"),
    ("drug not a protocol drug", _set("drug", "X"), "pk.drug: 'X' is not one of the protocol's drugs (D, E)"),
    ("no analytes", _set("analytes", []), "pk.analytes: expected a non-empty list"),
    ("analyte not a table", _set("analytes.0", "D"), "pk.analytes[0]: expected a table"),
    ("analyte unknown key", _set("analytes.1.units", "x"), "pk.analytes[1].units: unknown key"),
    ("analyte without code", _set("analytes.0.code", " "), "pk.analytes[0].code: expected a code"),
    ("analyte kind", _set("analytes.0.kind", "pd"), "pk.analytes[0].kind: 'pd' is not one of pk, ada, ro, biomarker"),
    ("analyte unit not text", _set("analytes.0.unit", 1), "pk.analytes[0].unit: expected text"),
    ("analyte categories not names", _set("analytes.2.categories", ["a", ""]),
     "pk.analytes[2].categories: expected a list of names"),
    ("pk analyte without unit", _set("analytes.0.unit", _DELETE), "pk.analytes[0].unit: a pk analyte needs its unit"),
    ("ro analyte without unit", _set("analytes.0", {"code": "D", "kind": "ro"}),
     "pk.analytes[0].unit: a ro analyte needs its unit"),
    ("ada analyte with unit", _set("analytes.1.unit", "titre"),
     "pk.analytes[1]: an ADA analyte is negative or positive"),
    ("ada analyte with categories", _set("analytes.1.categories", ["neg", "pos"]),
     "pk.analytes[1]: an ADA analyte is negative or positive"),
    ("biomarker with unit and categories", _set("analytes.2.categories", ["lo", "hi"]),
     "pk.analytes[2]: a biomarker has either a unit (numeric) or categories"),
    ("biomarker with neither", _set("analytes.2.unit", _DELETE),
     "pk.analytes[2]: a biomarker has either a unit (numeric) or categories"),
    ("duplicate analyte code", _set("analytes.2.code", "ADA"), "pk.analytes: a code appears twice"),
    ("no samples", _set("samples", _DELETE), "pk.samples: expected a non-empty list"),
    ("sample not a table", _set("samples.1", []), "pk.samples[1]: expected a table"),
    ("sample unknown key", _set("samples.1.window", 1), "pk.samples[1].window: unknown key"),
    ("sample code", _set("samples.1.code", "A-DA"), "pk.samples[1].code: expected letters and digits"),
    ("sample kind", _set("samples.1.kind", "pd"), "pk.samples[1].kind: 'pd' is not one of"),
    ("sample without analytes", _set("samples.1.analytes", []), "pk.samples[1].analytes: expected a non-empty list"),
    ("sample unknown analyte", _set("samples.1.analytes", ["ADA", "NAb"]),
     "pk.samples[1].analytes: 'NAb' is not in pk.analytes"),
    ("sample analyte of another kind", _set("samples.1.analytes", ["D"]),
     "pk.samples[1].analytes: 'D' is a pk analyte, not ada"),
    ("no cycles", _set("samples.1.cycles", []), "pk.samples[1].cycles: expected distinct cycle numbers >= 1"),
    ("cycle 0", _set("samples.1.cycles", [0, 1]), "pk.samples[1].cycles: expected distinct cycle numbers >= 1"),
    ("cycle twice", _set("samples.1.cycles", [2, 2]), "pk.samples[1].cycles: expected distinct cycle numbers >= 1"),
    ("cycle not whole", _set("samples.1.cycles", [1.5]), "pk.samples[1].cycles: expected distinct cycle numbers"),
    ("cycle true", _set("samples.1.cycles", [True]), "pk.samples[1].cycles: expected distinct cycle numbers"),
    ("cycles not a list", _set("samples.1.cycles", 1), "pk.samples[1].cycles: expected distinct cycle numbers"),
    ("no points", _set("samples.0.points", []), "pk.samples[0].points: expected a non-empty list"),
    ("point not a table", _set("samples.0.points.1", 1), "pk.samples[0].points[1]: expected a table"),
    ("point unknown key", _set("samples.0.points.1.window_hours", [0, 1]),
     "pk.samples[0].points[1].window_hours: unknown key"),
    ("negative hours", _set("samples.0.points.1.hours", -1), "pk.samples[0].points[1].hours: expected hours after"),
    ("hours not a number", _set("samples.0.points.1.hours", "1"), "pk.samples[0].points[1].hours: expected hours"),
    ("points not increasing", _set("samples.0.points", [{"hours": 4, "window_minutes": [-15, 15]},
                                                        {"hours": 1, "window_minutes": [0, 10]}]),
     "pk.samples[0].points: nominal times must increase, got [4.0, 1.0]"),
    ("point twice", _set("samples.0.points", [{"hours": 1, "window_minutes": [0, 10]},
                                              {"hours": 1, "window_minutes": [0, 10]}]),
     "pk.samples[0].points: nominal times must increase, got [1.0, 1.0]"),
    ("both windows", _set("samples.0.points.1.window_days", [0, 1]),
     "pk.samples[0].points[1]: give window_minutes or window_days (one of them)"),
    ("neither window", _set("samples.0.points.1", {"hours": 1}),
     "pk.samples[0].points[1]: give window_minutes or window_days (one of them)"),
    ("window opens after nominal", _set("samples.0.points.1.window_minutes", [5, 10]),
     "pk.samples[0].points[1].window_minutes: expected [earliest <= 0, latest >= 0]"),
    ("window closes before nominal", _set("samples.0.points.1.window_minutes", [-5, -1]),
     "pk.samples[0].points[1].window_minutes: expected [earliest <= 0, latest >= 0]"),
    ("window of three", _set("samples.0.points.1.window_minutes", [-5, 0, 5]),
     "pk.samples[0].points[1].window_minutes: expected [earliest <= 0, latest >= 0]"),
    ("window days not numbers", _set("samples.0.points.1", {"hours": 1, "window_days": ["0", "1"]}),
     "pk.samples[0].points[1].window_days: expected [earliest <= 0, latest >= 0]"),
    ("pre-dose window after the dose", _set("samples.0.points.0.window_minutes", [-60, 5]),
     "pk.samples[0].points[0]: a pre-dose sample (hours = 0) is taken before the dose: its window must end at 0"),
    ("pre-dose window days after the dose", _set("samples.0.points.0", {"hours": 0, "window_days": [-28, 1]}),
     "pk.samples[0].points[0]: a pre-dose sample (hours = 0) is taken before the dose"),
    ("post-dose window before the dose", _set("samples.0.points.1.window_minutes", [-61, 10]),
     "pk.samples[0].points[1]: the window of a post-dose sample opens before the dose"),
    ("post-dose window days before the dose", _set("samples.0.points.1", {"hours": 1, "window_days": [-1, 1]}),
     "pk.samples[0].points[1]: the window of a post-dose sample opens before the dose"),
    ("sample code twice across entries", _set("samples.1.code", "PK"),
     "pk.samples[1]: sample C1-PK-pre is planned twice"),
    ("nca not a table", _set("nca", "linear"), "pk.nca: expected a table of NCA options, got 'linear'"),
]


@pytest.mark.parametrize("change,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_a_wrong_table_is_refused_naming_the_key(change, message):
    table = _valid()
    parse_schedule(copy.deepcopy(table), ("D", "E"))  # the valid table parses
    with pytest.raises(SamplingScheduleError) as excinfo:
        parse_schedule(change(table), ("D", "E"))
    assert str(excinfo.value).startswith(message)


def test_limits_that_are_allowed():
    table = _valid()
    # A post-dose window may open exactly at the dose; a pre-dose one may end exactly at it; without the
    # protocol's drugs any drug name is taken; the same entry code in other cycles is another sample.
    table["samples"][0]["points"][1]["window_minutes"] = [-60, 10]
    table["drug"] = "Other"
    table["samples"].append({"code": "PK", "kind": "pk", "analytes": ["D"], "cycles": [2],
                             "points": [{"hours": 0, "window_days": [-1, 0]}, {"hours": 0.5, "window_days": [0, 1]}]})
    schedule = parse_schedule(table)
    assert schedule.entries[0].points[1].before == timedelta(hours=1)
    assert [p.label for p in schedule.entries[2].points] == ["pre", "0.5h"]
    assert schedule.nca == {}


def test_an_analyte_name_that_is_not_text_is_refused_naming_the_key():
    table = _valid()
    table["samples"][1]["analytes"] = [["ADA"]]
    with pytest.raises(SamplingScheduleError, match=r"^pk\.samples\[1\]\.analytes"):
        parse_schedule(table)


def test_infinite_hours_are_refused_naming_the_key():
    table = _valid()
    table["samples"][0]["points"][1]["hours"] = math.inf
    with pytest.raises(SamplingScheduleError, match=r"^pk\.samples\[0\]\.points\[1\]\.hours"):
        parse_schedule(table)


def test_nan_hours_are_refused_naming_the_key():
    table = _valid()
    table["samples"][0]["points"][1]["hours"] = math.nan
    with pytest.raises(SamplingScheduleError, match=r"^pk\.samples\[0\]\.points\[1\]\.hours"):
        parse_schedule(table)


# --- planning -------------------------------------------------------------------------------------------------

DOSE = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)


def _by_code(plan) -> dict[str, PlannedSample]:
    return {s.code: s for s in plan}


def test_nominal_is_the_dose_plus_the_hours_with_its_window():
    plan = _by_code(plan_samples(_schedule("BAT6005.toml"), {1: DOSE}))
    for code, hours in (("C1-PK-pre", 0), ("C1-PK-1h", 1), ("C1-PK-4h", 4), ("C1-PK-24h", 24), ("C1-PK-72h", 72),
                        ("C1-PK-168h", 168), ("C1-PK-336h", 336), ("C1-RO-336h", 336)):
        s = plan[code]
        assert s.nominal_hours == hours
        assert s.nominal_at - DOSE == timedelta(hours=hours)
        assert s.nominal_at.tzinfo is SHANGHAI and s.cycle == 1 and not s.provisional
    assert plan["C1-PK-336h"].nominal_at == datetime(2026, 3, 16, 9, 30, tzinfo=SHANGHAI)
    assert plan["C1-PK-336h"].nominal_at.astimezone(UTC) == datetime(2026, 3, 16, 1, 30, tzinfo=UTC)
    windows = {code: (plan[code].window_start, plan[code].window_end) for code in plan}
    assert windows["C1-PK-pre"] == (datetime(2026, 3, 2, 8, 30, tzinfo=SHANGHAI), DOSE)
    assert windows["C1-PK-1h"] == (datetime(2026, 3, 2, 10, 30, tzinfo=SHANGHAI),
                                   datetime(2026, 3, 2, 10, 40, tzinfo=SHANGHAI))
    assert windows["C1-PK-4h"] == (datetime(2026, 3, 2, 13, 15, tzinfo=SHANGHAI),
                                   datetime(2026, 3, 2, 13, 45, tzinfo=SHANGHAI))
    assert windows["C1-PK-72h"] == (datetime(2026, 3, 5, 5, 30, tzinfo=SHANGHAI),
                                    datetime(2026, 3, 5, 13, 30, tzinfo=SHANGHAI))
    assert windows["C1-PK-168h"] == (datetime(2026, 3, 8, 9, 30, tzinfo=SHANGHAI),
                                     datetime(2026, 3, 10, 9, 30, tzinfo=SHANGHAI))
    assert (plan["C1-PK-4h"].kind, plan["C1-PK-4h"].analytes) == ("pk", ("BAT6005",))
    assert (plan["C1-RO-24h"].kind, plan["C1-RO-24h"].analytes) == ("ro", ("RO",))


def test_fractional_hours_and_a_window_in_days():
    schedule = _schedule("LVGN6051-ANLOTINIB.toml")
    dose = datetime(2026, 5, 4, 14, 5, tzinfo=SHANGHAI)
    plan = _by_code(plan_samples(schedule, {1: dose}))
    tissue = plan["C1-TISSUE-pre"]
    assert (tissue.window_start, tissue.nominal_at, tissue.window_end) == (dose - timedelta(days=28), dose, dose)
    assert tissue.analytes == ("PD-L1", "MSI", "TMB")
    table = _valid()
    table["samples"][0]["points"][1] = {"hours": 0.75, "window_days": [0, 2]}
    s = _by_code(plan_samples(parse_schedule(table), {1: dose}))["C1-PK-0.75h"]
    assert s.nominal_at == datetime(2026, 5, 4, 14, 50, tzinfo=SHANGHAI)
    assert (s.window_start, s.window_end) == (s.nominal_at, datetime(2026, 5, 6, 14, 50, tzinfo=SHANGHAI))


def test_a_cycle_not_dosed_has_its_predose_samples_from_the_expected_dose():
    schedule = _schedule("BAT6005.toml")
    expected = {2: ExpectedDose(target=date(2026, 3, 23), earliest=date(2026, 3, 20), latest=date(2026, 3, 26),
                                at=time(9, 30))}
    plan = plan_samples(schedule, {1: DOSE}, expected)
    c2 = [s for s in plan if s.cycle == 2]
    assert [s.code for s in c2] == ["C2-ADA-pre", "C2-PK-pre", "C2-RO-pre"]
    for s in c2:
        assert s.provisional and s.nominal_hours == 0
        assert s.nominal_at == datetime(2026, 3, 23, 9, 30, tzinfo=SHANGHAI)
        assert s.window_start == datetime(2026, 3, 20, 8, 30, tzinfo=SHANGHAI)  # earliest day, less the 60 min
        assert s.window_end == datetime(2026, 3, 26, 23, 59, tzinfo=SHANGHAI)
    # Cycles neither dosed nor expected have nothing; the dosed cycle has all its samples, none provisional.
    assert {s.cycle for s in plan} == {1, 2}
    assert {s.code for s in plan if s.cycle == 1} == {c for c in BAT_CODES if c.startswith("C1-")}
    assert not any(s.provisional for s in plan if s.cycle == 1)


def test_a_dose_takes_the_place_of_the_expected_dose():
    schedule = _schedule("BAT6005.toml")
    dose2 = datetime(2026, 3, 24, 11, 0, tzinfo=SHANGHAI)
    expected = {2: ExpectedDose(date(2026, 3, 23), date(2026, 3, 20), date(2026, 3, 26), time(9, 30))}
    c2 = [s for s in plan_samples(schedule, {1: DOSE, 2: dose2}, expected) if s.cycle == 2]
    assert [(s.code, s.nominal_at, s.provisional) for s in c2] == [
        (code, dose2, False) for code in ("C2-ADA-pre", "C2-PK-pre", "C2-RO-pre")]


def test_nothing_is_planned_without_doses_or_expected_doses():
    assert plan_samples(_schedule("BAT6005.toml"), {}) == []
    assert plan_samples(_schedule("BAT6005.toml"), {}, {}) == []


def test_the_plan_is_sorted_by_time_then_code():
    schedule = _schedule("BAT6005.toml")
    expected = {3: ExpectedDose(date(2026, 4, 13), date(2026, 4, 10), date(2026, 4, 16), time(8, 0))}
    doses = {2: datetime(2026, 3, 23, 10, 0, tzinfo=SHANGHAI), 1: DOSE}  # given out of order
    plan = plan_samples(schedule, doses, expected)
    assert [s.code for s in plan] == [
        "C1-ADA-pre", "C1-PK-pre", "C1-RO-pre", "C1-PK-1h", "C1-PK-4h", "C1-PK-24h", "C1-RO-24h", "C1-PK-72h",
        "C1-PK-168h", "C1-RO-168h", "C1-PK-336h", "C1-RO-336h", "C2-ADA-pre", "C2-PK-pre", "C2-RO-pre",
        "C3-PK-pre"]
    assert plan == sorted(plan, key=lambda s: (s.nominal_at, s.code))


def test_an_aware_time_of_day_keeps_its_zone():
    schedule = _schedule("BAT6005.toml")
    dose = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai, as the database returns it
    expected = {2: ExpectedDose(date(2026, 3, 23), date(2026, 3, 20), date(2026, 3, 26), time(9, 30, tzinfo=SHANGHAI))}
    c2 = _by_code(plan_samples(schedule, {1: dose}, expected))["C2-PK-pre"]
    assert c2.nominal_at == datetime(2026, 3, 23, 9, 30, tzinfo=SHANGHAI)


def test_nominal_is_elapsed_hours_across_a_daylight_saving_change():
    dose = datetime(2026, 3, 20, 10, 0, tzinfo=PARIS)
    s = _by_code(plan_samples(_schedule("BAT6005.toml"), {1: dose}))["C1-PK-336h"]
    assert s.nominal_at.astimezone(UTC) - dose.astimezone(UTC) == timedelta(hours=336)


# --- collection -----------------------------------------------------------------------------------------------

def test_deviation_minutes_sign_and_rounding():
    nominal = datetime(2026, 3, 2, 13, 30, tzinfo=SHANGHAI)
    assert deviation_minutes(nominal, nominal) == 0
    assert deviation_minutes(nominal, nominal + timedelta(minutes=40)) == 40  # late
    assert deviation_minutes(nominal, nominal - timedelta(minutes=140)) == -140  # early
    assert deviation_minutes(nominal, nominal + timedelta(seconds=29)) == 0
    assert deviation_minutes(nominal, nominal + timedelta(seconds=31)) == 1
    assert deviation_minutes(nominal, nominal - timedelta(seconds=31)) == -1
    assert deviation_minutes(nominal, nominal - timedelta(minutes=2, seconds=50)) == -3
    assert isinstance(deviation_minutes(nominal, nominal + timedelta(seconds=31)), int)
    # Another zone: the same instants.
    assert deviation_minutes(nominal, datetime(2026, 3, 2, 5, 35, tzinfo=UTC)) == 5


def test_collection_problem():
    plan = _by_code(plan_samples(_schedule("BAT6005.toml"), {1: DOSE}))
    pre, post = plan["C1-PK-pre"], plan["C1-PK-4h"]
    minute = timedelta(minutes=1)
    problem = collection_problem(pre, DOSE + minute, DOSE)
    assert problem == "a pre-dose sample is taken before the dose (02 Mar 2026 09:30)"
    assert collection_problem(pre, DOSE, DOSE) is None
    assert collection_problem(pre, DOSE - 90 * minute, DOSE) is None  # outside the window: a deviation, not this
    problem = collection_problem(post, DOSE - minute, DOSE)
    assert problem == "this sample is timed 4 h after the dose of 02 Mar 2026 09:30: it cannot be taken before it"
    assert collection_problem(plan["C1-PK-1h"], DOSE - minute, DOSE).startswith("this sample is timed 1 h after")
    assert collection_problem(post, DOSE, DOSE) is None
    assert collection_problem(post, DOSE + 10 * 60 * minute, DOSE) is None
    # No dose recorded: nothing to compare with.
    assert collection_problem(pre, DOSE + minute, None) is None
    assert collection_problem(post, DOSE - minute, None) is None
