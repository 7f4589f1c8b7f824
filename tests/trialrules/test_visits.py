"""Tests for trialrules.visits: BAT6005 visit plan from first dose 2026-01-05, re-anchoring, follow-up."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialrules.visits import (
    Anchors,
    PlannedVisit,
    VisitPlanError,
    Window,
    classify_done,
    is_overdue,
    plan_visits,
    validate_plan,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
BAT = tomllib.loads((PROTOCOLS / "BAT6005.toml").read_text())
QL = tomllib.loads((PROTOCOLS / "QL1706.toml").read_text())
FIRST = date(2026, 1, 5)
D = date.fromisoformat


def bat(anchors: Anchors, **kw) -> list[PlannedVisit]:
    return plan_visits(BAT["visits"], BAT["treatment"], anchors, **kw)


def by_code(visits: list[PlannedVisit]) -> dict[str, PlannedVisit]:
    out = {v.code: v for v in visits}
    assert len(out) == len(visits), "codes must be unique"
    return out


def codes(visits: list[PlannedVisit], kind: str) -> list[str]:
    return [v.code for v in visits if v.kind == kind]


# ---------------------------------------------------------------- full plan, no actual doses yet

FULL_PLAN = [
    # code, target, window start, window end
    ("SCR", "2026-01-05", "2025-12-08", "2026-01-05"),
    ("C2D1", "2026-01-26", "2026-01-23", "2026-01-29"),
    ("C3D1", "2026-02-16", "2026-02-13", "2026-02-19"),
    ("C17D1", "2026-12-07", "2026-12-04", "2026-12-10"),
    ("IMG-W6", "2026-02-16", "2026-02-09", "2026-02-23"),
    ("IMG-W12", "2026-03-30", "2026-03-23", "2026-04-06"),
    ("IMG-W18", "2026-05-11", "2026-05-04", "2026-05-18"),
    ("IMG-W24", "2026-06-22", "2026-06-15", "2026-06-29"),
    ("IMG-W33", "2026-08-24", "2026-08-17", "2026-08-31"),
    ("IMG-W42", "2026-10-26", "2026-10-19", "2026-11-02"),
    ("IMG-W51", "2026-12-28", "2026-12-21", "2027-01-04"),
    # derived last dose = planned C17D1 2026-12-07
    ("EOT", "2026-12-28", "2026-12-07", "2027-01-04"),
    ("SFU-D21", "2026-12-28", "2026-12-28", "2027-01-04"),
    ("SFU-D60", "2027-02-05", "2027-01-29", "2027-02-12"),
    ("SFU-D90", "2027-03-07", "2027-02-28", "2027-03-14"),
    ("SURV-1", "2027-05-30", "2027-05-16", "2027-06-13"),
    ("SURV-8", "2029-01-07", "2028-12-24", "2029-01-21"),
]


@pytest.mark.parametrize(("code", "target", "start", "end"), FULL_PLAN)
def test_full_plan_from_first_dose(code, target, start, end):
    v = by_code(bat(Anchors(FIRST)))[code]
    assert (v.target, v.window) == (D(target), Window(D(start), D(end)))


def test_full_plan_counts_and_boundaries():
    plan = bat(Anchors(FIRST))
    assert codes(plan, "dosing") == [f"C{n}D1" for n in range(2, 18)]  # no C1D1, no C18D1
    assert codes(plan, "imaging") == [f"IMG-W{w}" for w in (6, 12, 18, 24, 33, 42, 51)]  # W60 is past
    assert codes(plan, "screening") == ["SCR"]
    assert codes(plan, "eot") == ["EOT"]
    assert codes(plan, "safety") == ["SFU-D21", "SFU-D60", "SFU-D90"]
    # 730 days after SFU-D90 holds 8 full 84-day periods
    assert codes(plan, "survival") == [f"SURV-{n}" for n in range(1, 9)]


def test_output_sorted_by_target_then_code():
    plan = bat(Anchors(FIRST))
    assert plan == sorted(plan, key=lambda v: (v.target, v.code))
    same_day = [v.code for v in plan if v.target == D("2026-12-28")]
    assert same_day == ["EOT", "IMG-W51", "SFU-D21"]


def test_as_json():
    v = by_code(bat(Anchors(FIRST)))["C2D1"]
    assert v.as_json() == {"code": "C2D1", "kind": "dosing", "target": "2026-01-26",
                           "window_start": "2026-01-23", "window_end": "2026-01-29"}


# ---------------------------------------------------------------- actual doses and re-anchoring


def test_late_c2_dose_shifts_c3_and_later():
    late_c2 = D("2026-01-28")  # target 01-26, given 2 days late (inside the +/-3 window)
    plan = by_code(bat(Anchors(FIRST, doses=(FIRST, late_c2))))
    assert plan["C2D1"].target == D("2026-01-26")  # C2 itself stays anchored to C1
    assert plan["C3D1"].target == D("2026-02-18")
    assert plan["C3D1"].window == Window(D("2026-02-15"), D("2026-02-21"))
    assert plan["C4D1"].target == D("2026-03-11")  # chained from the last actual dose
    assert plan["C17D1"].target == D("2026-12-09")
    # imaging stays anchored to the first dose
    assert plan["IMG-W6"].target == D("2026-02-16")


def test_each_cycle_anchored_to_its_previous_actual_dose():
    doses = (FIRST, D("2026-01-24"), D("2026-02-17"), D("2026-03-09"))
    plan = by_code(bat(Anchors(FIRST, doses=doses)))
    assert plan["C2D1"].target == D("2026-01-26")
    assert plan["C3D1"].target == D("2026-02-14")  # 01-24 + 21
    assert plan["C4D1"].target == D("2026-03-10")  # 02-17 + 21
    assert plan["C5D1"].target == D("2026-03-30")  # 03-09 + 21
    assert plan["C6D1"].target == D("2026-04-20")  # chained: 03-09 + 42


def test_last_dose_ends_dosing_and_fixes_follow_up():
    doses = (FIRST, D("2026-01-26"), D("2026-02-16"), D("2026-03-09"))
    plan = bat(Anchors(FIRST, doses=doses, last_dose=D("2026-03-09")))
    v = by_code(plan)
    assert codes(plan, "dosing") == ["C2D1", "C3D1", "C4D1"]
    # scans only up to the EOT target (03-30): W12 targeted on it is kept, W18 is not
    assert codes(plan, "imaging") == ["IMG-W6", "IMG-W12"]
    expected = {
        "EOT": ("2026-03-30", "2026-03-09", "2026-04-06"),
        "SFU-D21": ("2026-03-30", "2026-03-30", "2026-04-06"),
        "SFU-D60": ("2026-05-08", "2026-05-01", "2026-05-15"),
        "SFU-D90": ("2026-06-07", "2026-05-31", "2026-06-14"),
        "SURV-1": ("2026-08-30", "2026-08-16", "2026-09-13"),
        "SURV-2": ("2026-11-22", "2026-11-08", "2026-12-06"),
    }
    for code, (target, start, end) in expected.items():
        assert (v[code].target, v[code].window) == (D(target), Window(D(start), D(end))), code


def test_last_dose_not_in_doses_counts_as_the_next_cycle():
    plan = bat(Anchors(FIRST, doses=(FIRST, D("2026-01-26")), last_dose=D("2026-02-17")))
    assert codes(plan, "dosing") == ["C2D1", "C3D1"]
    assert by_code(plan)["EOT"].target == D("2026-03-10")


def test_last_dose_alone_plans_every_cycle_up_to_it():
    """Only the first dose known, last dose 2026-04-20 = C6 day 1 (5 x 21 days later): C2D1 to C6D1."""
    plan = bat(Anchors(FIRST, last_dose=D("2026-04-20")))
    assert codes(plan, "dosing") == ["C2D1", "C3D1", "C4D1", "C5D1", "C6D1"]
    v = by_code(plan)
    assert (v["C6D1"].target, v["C6D1"].window) == (D("2026-04-20"), Window(D("2026-04-17"), D("2026-04-23")))
    assert v["EOT"].target == D("2026-05-11")
    assert codes(plan, "imaging") == ["IMG-W6", "IMG-W12", "IMG-W18"]  # W18 on the EOT target is kept


@pytest.mark.parametrize(("last_dose", "last_cycle"), [
    ("2026-04-17", 6),  # C6 given on the first day of its window
    ("2026-04-16", 5),  # the day before C6's window opens: C6 had not started
    ("2026-05-03", 6),  # day 14 of cycle 6 (an oral drug taken on days 1-14): no C7
    ("2026-01-10", 1),  # stopped within cycle 1: no dosing visit
    ("2027-06-01", 17),  # never beyond the cycle cap
])
def test_cycle_of_the_last_dose_is_the_last_one_whose_window_opened(last_dose, last_cycle):
    plan = bat(Anchors(FIRST, last_dose=D(last_dose)))
    assert codes(plan, "dosing") == [f"C{n}D1" for n in range(2, last_cycle + 1)]


def test_cycles_after_the_recorded_doses_are_chained_from_the_last_recorded_one():
    late_c2 = D("2026-01-28")
    plan = by_code(bat(Anchors(FIRST, doses=(FIRST, late_c2), last_dose=D("2026-03-15"))))
    assert [c for c in plan if c.startswith("C")] == ["C2D1", "C3D1", "C4D1"]
    assert plan["C4D1"].target == D("2026-03-11")  # 01-28 + 42; its window opened 03-08


def test_last_dose_is_first_dose_only():
    plan = bat(Anchors(FIRST, last_dose=FIRST))
    assert codes(plan, "dosing") == []
    assert codes(plan, "imaging") == []  # EOT target 01-26 is before week 6
    assert by_code(plan)["EOT"].window == Window(FIRST, D("2026-02-02"))


# ---------------------------------------------------------------- new therapy, end of follow-up


def test_new_therapy_ends_safety_follow_up_early():
    anchors = Anchors(FIRST, doses=(FIRST, D("2026-01-26"), D("2026-02-16"), D("2026-03-09")),
                      last_dose=D("2026-03-09"), new_therapy=D("2026-05-20"))
    plan = bat(anchors)
    # D60 window opens 05-01 (kept); D90 window opens 05-31, after the new therapy (dropped)
    assert codes(plan, "safety") == ["SFU-D21", "SFU-D60"]
    assert by_code(plan)["SURV-1"].target == D("2026-05-20") + timedelta(days=84)


def test_new_therapy_on_window_start_keeps_the_visit():
    anchors = Anchors(FIRST, last_dose=D("2026-03-09"), new_therapy=D("2026-05-31"))
    plan = bat(anchors)
    assert codes(plan, "safety") == ["SFU-D21", "SFU-D60", "SFU-D90"]
    assert by_code(plan)["SURV-1"].target == D("2026-06-07") + timedelta(days=84)


def test_new_therapy_right_after_last_dose_drops_all_safety_visits():
    plan = bat(Anchors(FIRST, last_dose=D("2026-03-09"), new_therapy=D("2026-03-20")))
    assert codes(plan, "safety") == []
    assert codes(plan, "eot") == ["EOT"]  # EOT has no ends_on_new_therapy flag
    assert by_code(plan)["SURV-1"].target == D("2026-06-12")


@pytest.mark.parametrize(("follow_up_end", "expected"), [
    ("2026-12-01", ["SURV-1", "SURV-2"]),
    ("2026-11-22", ["SURV-1"]),  # exclusive: a visit targeted on the end date is not planned
    ("2026-11-23", ["SURV-1", "SURV-2"]),
    ("2026-04-01", []),
])
def test_follow_up_end_stops_survival(follow_up_end, expected):
    plan = bat(Anchors(FIRST, last_dose=D("2026-03-09"), follow_up_end=D(follow_up_end)))
    assert codes(plan, "survival") == expected


@pytest.mark.parametrize(("horizon", "n"), [(0, 0), (83, 0), (84, 1), (168, 2), (730, 8)])
def test_survival_horizon(horizon, n):
    plan = bat(Anchors(FIRST, last_dose=D("2026-03-09")), survival_horizon_days=horizon)
    assert codes(plan, "survival") == [f"SURV-{i}" for i in range(1, n + 1)]


# ---------------------------------------------------------------- QL1706: no max_cycles


def test_ql1706_until_progression_uses_horizon_cycles():
    plan = plan_visits(QL["visits"], QL["treatment"], Anchors(FIRST))
    assert codes(plan, "dosing") == [f"C{n}D1" for n in range(2, 18)]
    # Imaging every 6 weeks while on treatment (the protocol is silent: docs/protocols.md), no EOT or
    # follow-up visits before the last dose is known.
    assert {v.kind for v in plan} == {"screening", "dosing", "imaging"}
    assert codes(plan, "imaging")[:6] == ["IMG-W6", "IMG-W12", "IMG-W18", "IMG-W24", "IMG-W30", "IMG-W36"]
    short = plan_visits(QL["visits"], QL["treatment"], Anchors(FIRST), horizon_cycles=5)
    assert codes(short, "dosing") == ["C2D1", "C3D1", "C4D1", "C5D1"]


def test_ql1706_last_dose_stops_dosing():
    plan = plan_visits(QL["visits"], QL["treatment"],
                       Anchors(FIRST, doses=(FIRST, D("2026-01-26")), last_dose=D("2026-01-26")))
    # Dosing stops at the last dose; the scan due within the treatment period's end is still planned.
    assert [v.code for v in plan] == ["SCR", "C2D1", "IMG-W6"]


def test_max_cycles_caps_dosing():
    treatment = dict(BAT["treatment"], max_cycles=3)
    plan = plan_visits(BAT["visits"], treatment, Anchors(FIRST))
    assert codes(plan, "dosing") == ["C2D1", "C3D1"]
    # treatment period 3 x 21 days: scans up to day 63 (week 9) -> only week 6
    assert codes(plan, "imaging") == ["IMG-W6"]
    assert by_code(plan)["EOT"].target == D("2026-02-16") + timedelta(days=21)


# ---------------------------------------------------------------- data-driven details


def test_target_outside_window_is_clamped():
    visits = [{"code": "X", "kind": "safety", "anchor": "last_dose", "target": 30, "window": [0, 28]},
              {"code": "Y", "kind": "screening", "anchor": "first_dose", "target": 5, "window": [-28, 0]}]
    v = by_code(plan_visits(visits, {"cycle_days": 21}, Anchors(FIRST, last_dose=FIRST)))
    assert v["X"].target == FIRST + timedelta(days=28)
    assert v["Y"].target == FIRST


def test_weeks_only_periodic_and_custom_from_cycle():
    visits = [{"code": "S{week}", "kind": "imaging", "anchor": "first_dose", "then_every_weeks": 8,
               "window": [-3, 3]},
              {"code": "C{cycle}", "kind": "dosing", "anchor": "previous_dose", "repeat": "cycle",
               "from_cycle": 3, "target": 14, "window": [13, 16]}]
    plan = plan_visits(visits, {"cycle_days": 14, "max_cycles": 6}, Anchors(FIRST))
    assert codes(plan, "imaging") == ["S8"]  # 6 x 14 = 84 days: week 8 (56) yes, week 16 (112) no
    assert codes(plan, "dosing") == ["C3", "C4", "C5", "C6"]
    assert by_code(plan)["C3"].target == FIRST + timedelta(days=28)


def test_window_helpers():
    w = Window(D("2026-01-23"), D("2026-01-29"))
    assert w.contains(D("2026-01-23")) and w.contains(D("2026-01-29"))
    assert not w.contains(D("2026-01-22")) and not w.contains(D("2026-01-30"))
    assert classify_done(w, D("2026-01-29")) == "in_window"
    assert classify_done(w, D("2026-01-30")) == "out_of_window"
    assert classify_done(w, D("2026-01-22")) == "out_of_window"
    with pytest.raises(ValueError, match="after end"):
        Window(D("2026-01-02"), D("2026-01-01"))
    with pytest.raises(ValueError, match="outside"):
        PlannedVisit("X", "dosing", D("2026-01-01"), w)


@pytest.mark.parametrize(("today", "done", "missed", "expected"), [
    ("2026-01-29", False, False, False),  # window still open on its last day
    ("2026-01-30", False, False, True),
    ("2026-01-30", True, False, False),
    ("2026-01-30", False, True, False),
    ("2026-01-10", False, False, False),
])
def test_is_overdue(today, done, missed, expected):
    assert is_overdue(D("2026-01-29"), done=done, missed=missed, today=D(today)) is expected


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"doses": (D("2026-01-06"),)}, "differs from first_dose"),
    ({"doses": (FIRST, D("2026-01-26"), D("2026-01-26"))}, "strictly increasing"),
    ({"doses": (FIRST, D("2026-01-26")), "last_dose": D("2026-01-20")}, "before a recorded dose"),
    ({"last_dose": D("2026-01-01")}, "before first_dose"),
])
def test_inconsistent_anchors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Anchors(FIRST, **kwargs)


def test_anchors_accept_list_of_doses():
    assert Anchors(FIRST, doses=[FIRST]).doses == (FIRST,)


# ---------------------------------------------------------------- validation


def _mutate(index: int, **changes) -> list[dict]:
    visits = copy.deepcopy(BAT["visits"])
    for key, value in changes.items():
        if value is _DEL:
            del visits[index][key]
        else:
            visits[index][key] = value
    return visits


_DEL = object()

INVALID = [
    # (visits, entry index, field, message fragment)
    (_mutate(0, anchor="randomisation"), 0, "anchor", "unknown anchor"),
    (_mutate(0, kind="lab"), 0, "kind", "unknown kind"),
    (_mutate(1, repeat="week"), 1, "repeat", "unknown repeat"),
    (_mutate(0, window=_DEL), 0, "window", "missing"),
    (_mutate(0, kind=_DEL), 0, "kind", "missing"),
    (_mutate(0, target=_DEL), 0, "target", "missing"),
    (_mutate(1, target=_DEL), 1, "target", "missing"),
    (_mutate(0, code=_DEL), 0, "code", "missing"),
    (_mutate(0, window=[0, -28]), 0, "window", "after latest"),
    (_mutate(0, window=[-28]), 0, "window", "[earliest, latest]"),
    (_mutate(0, window=[-28, "0"]), 0, "window", "[earliest, latest]"),
    (_mutate(0, window=[-28.5, 0]), 0, "window", "[earliest, latest]"),
    (_mutate(0, target="0"), 0, "target", "whole number"),
    (_mutate(0, target=True), 0, "target", "whole number"),
    (_mutate(1, code="CD1"), 1, "code", "{cycle}"),
    (_mutate(1, from_cycle=1), 1, "from_cycle", ">= 2"),
    (_mutate(1, anchor="first_dose"), 1, "anchor", "previous_dose"),
    (_mutate(0, anchor="previous_dose"), 0, "anchor", "repeat"),
    (_mutate(2, weeks=[6, 12, 12]), 2, "weeks", "increasing"),
    (_mutate(2, until="progression"), 2, "until", "unknown until"),
    (_mutate(2, then_every_weeks=0), 2, "then_every_weeks", ">= 1"),
    (_mutate(2, target=0), 2, "target", "not used"),
    # without every_weeks the survival entry is a single visit, which needs a target
    (_mutate(7, every_weeks=_DEL), 7, "target", "missing"),
    (_mutate(7, until="never"), 7, "until", "unknown until"),
    (_mutate(7, code="SURV"), 7, "code", "{n}"),
    (_mutate(4, anchor="safety_end"), 4, "anchor", "circular"),
    (_mutate(4, ends_on_new_therapy="yes"), 4, "ends_on_new_therapy", "true or false"),
    (_mutate(3, code="SCR"), 3, "code", "duplicate"),
    (_mutate(7, weeks=[1]), 7, "every_weeks", "use one"),
    (_mutate(1, weeks=[1]), 1, "repeat", "use one"),
]


@pytest.mark.parametrize(("visits", "index", "fld", "fragment"), INVALID)
def test_invalid_plan_entry(visits, index, fld, fragment):
    with pytest.raises(VisitPlanError) as exc:
        plan_visits(visits, BAT["treatment"], Anchors(FIRST))
    err = exc.value
    assert (err.index, err.field) == (index, fld)
    assert fragment in str(err)
    assert f"visits[{index}]" in str(err) and repr(fld) in str(err)
    code = visits[index].get("code")
    if isinstance(code, str):
        assert err.code == code and code in str(err)
    with pytest.raises(VisitPlanError):
        validate_plan(visits, BAT["treatment"])


def test_safety_end_without_safety_entry():
    visits = [v for v in BAT["visits"] if v["kind"] != "safety"]
    with pytest.raises(VisitPlanError, match="needs a safety entry") as exc:
        plan_visits(visits, BAT["treatment"], Anchors(FIRST))
    assert exc.value.code == "SURV-{n}" and exc.value.field == "anchor"


@pytest.mark.parametrize(("treatment", "fld"), [
    ({}, "cycle_days"),
    ({"cycle_days": 0}, "cycle_days"),
    ({"cycle_days": "21"}, "cycle_days"),
    ({"cycle_days": 21, "max_cycles": 0}, "max_cycles"),
    ({"cycle_days": 21, "max_cycles": 2.5}, "max_cycles"),
])
def test_invalid_treatment(treatment, fld):
    with pytest.raises(VisitPlanError) as exc:
        plan_visits(BAT["visits"], treatment, Anchors(FIRST))
    assert exc.value.field == fld and exc.value.index is None
    assert str(exc.value).startswith("treatment field")


def test_non_table_entry_and_non_list_plan():
    with pytest.raises(VisitPlanError, match=r"visits\[1\]"):
        plan_visits([BAT["visits"][0], "SCR"], BAT["treatment"], Anchors(FIRST))
    with pytest.raises(VisitPlanError, match="list"):
        plan_visits({"code": "SCR"}, BAT["treatment"], Anchors(FIRST))


def test_valid_plans_validate_and_input_is_not_mutated():
    before = copy.deepcopy(BAT["visits"])
    validate_plan(BAT["visits"], BAT["treatment"])
    validate_plan(QL["visits"], QL["treatment"])
    bat(Anchors(FIRST, last_dose=D("2026-03-09")))
    assert before == BAT["visits"]


# ---------------------------------------------------------------- invariants (hypothesis)

dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@st.composite
def anchors_st(draw):
    first = draw(dates)
    gaps = draw(st.lists(st.integers(14, 35), max_size=20))
    doses = [first]
    for g in gaps:
        doses.append(doses[-1] + timedelta(days=g))
    k = draw(st.integers(0, len(doses)))
    recorded = tuple(doses[:k])
    last = None
    if draw(st.booleans()):
        last = doses[max(k, 1) - 1] + timedelta(days=draw(st.one_of(st.sampled_from([0, 0, 21]),
                                                                     st.integers(0, 400))))
    def opt_after(base):
        return draw(st.one_of(st.none(), st.integers(-30, 1500).map(lambda n: base + timedelta(days=n))))
    return Anchors(first, doses=recorded, last_dose=last, new_therapy=opt_after(first),
                   follow_up_end=opt_after(first))


@settings(max_examples=300, deadline=None)
@given(anchors=anchors_st(), horizon=st.integers(0, 2000), use_ql=st.booleans())
def test_plan_invariants(anchors, horizon, use_ql):
    proto = QL if use_ql else BAT
    plan = plan_visits(proto["visits"], proto["treatment"], anchors, survival_horizon_days=horizon)
    assert plan == sorted(plan, key=lambda v: (v.target, v.code))
    assert len({v.code for v in plan}) == len(plan)
    for v in plan:
        assert v.window.start <= v.target <= v.window.end
        assert v.window.contains(v.target)
    dosing = [v for v in plan if v.kind == "dosing"]
    assert len(dosing) <= 16
    assert "C1D1" not in {v.code for v in plan}
    # each cycle's window is [18, 24] days after the previous actual dose when it is recorded
    for v in dosing:
        n = int(v.code[1:-2])
        if n - 1 <= len(anchors.doses):
            prev = anchors.doses[n - 2] if anchors.doses else anchors.first_dose
            assert v.window == Window(prev + timedelta(days=18), prev + timedelta(days=24))
    survival = [v for v in plan if v.kind == "survival"]
    assert [v.code for v in survival] == [f"SURV-{i}" for i in range(1, len(survival) + 1)]
    if anchors.follow_up_end is not None:
        assert all(v.target < anchors.follow_up_end for v in survival)
    if anchors.new_therapy is not None:
        assert all(v.window.start <= anchors.new_therapy for v in plan if v.kind == "safety")
    if anchors.last_dose is not None and not use_ql:
        eot = next(v for v in plan if v.kind == "eot")
        assert eot.target == anchors.last_dose + timedelta(days=21)
        assert all(v.target <= eot.target for v in plan if v.kind == "imaging")
        recorded = list(anchors.doses) or [anchors.first_dose]
        # cycles after the recorded ones started every 21 days; one counts once its window (day 18) opened
        days_after = (anchors.last_dose - recorded[-1]).days
        last_cycle = len(recorded) + (days_after - 18) // 21 + 1 if days_after >= 18 else len(recorded)
        assert [v.code for v in dosing] == [f"C{n}D1" for n in range(2, min(last_cycle, 17) + 1)]


@settings(max_examples=200, deadline=None)
@given(target=st.integers(-100, 100), lo=st.integers(-100, 100), width=st.integers(0, 60),
       first=dates)
def test_any_single_entry_window_contains_its_target(target, lo, width, first):
    visits = [{"code": "V", "kind": "safety", "anchor": "first_dose", "target": target,
               "window": [lo, lo + width]}]
    (v,) = plan_visits(visits, {"cycle_days": 21}, Anchors(first))
    assert v.window == Window(first + timedelta(days=lo), first + timedelta(days=lo + width))
    assert v.window.contains(v.target)
    if lo <= target <= lo + width:
        assert v.target == first + timedelta(days=target)


def test_safety_entries_of_other_shapes_define_safety_end():
    visits = [
        {"code": "PK{cycle}", "kind": "safety", "anchor": "previous_dose", "repeat": "cycle",
         "target": 21, "window": [20, 22]},
        {"code": "ECG{week}", "kind": "safety", "anchor": "first_dose", "weeks": [1, 2],
         "window": [-1, 1]},
        {"code": "TEL{n}", "kind": "survival", "anchor": "safety_end", "every_weeks": 4,
         "window": [-2, 2]},
    ]
    plan = by_code(plan_visits(visits, {"cycle_days": 21, "max_cycles": 3}, Anchors(FIRST)))
    assert set(plan) >= {"PK2", "PK3", "ECG1", "ECG2", "TEL1"}
    assert "PK4" not in plan
    # safety_end = latest safety target = PK3 (first + 42 days)
    assert plan["TEL1"].target == FIRST + timedelta(days=42 + 28)
