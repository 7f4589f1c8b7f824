"""RECIST 1.1 (trialrules.recist): baseline checks, time-point checks, target / non-target / overall response.

Expected values come from the paper (Eisenhauer et al., Eur J Cancer 2009;45:228–247: §3.1.1, §4.2, §4.3.1–
§4.3.5, §4.4.1 Tables 1 and 2, §4.4.2), from the EORTC RECIST committee's published clarifications (the
165 → 63 → 65 mm example; all nodes one organ), or from the arithmetic written next to each case.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from trialrules.recist import (
    CR,
    NE,
    NEW_EQUIVOCAL,
    NEW_NONE,
    NEW_UNEQUIVOCAL,
    NON_CR_NON_PD,
    NON_TARGET,
    NT_ABSENT,
    NT_NOT_EVALUATED,
    NT_PRESENT,
    NT_PROGRESSION,
    PD,
    PR,
    SD,
    TARGET,
    BaselineLesion,
    Problem,
    RecistInputError,
    TimePoint,
    baseline_problems,
    evaluate,
    timepoint_problems,
)

D = Decimal
DAY0 = date(2026, 1, 5)


def tgt(key, organ, mm, *, node=False, axis=None):
    axis = axis or ("short" if node else "long")
    return BaselineLesion(key=key, kind=TARGET, organ=organ, node=node, diameter_mm=D(str(mm)), axis=axis)


def nt(key, organ="bone", *, node=False, mm=None, axis=None):
    return BaselineLesion(key=key, kind=NON_TARGET, organ=organ, node=node,
                          diameter_mm=None if mm is None else D(str(mm)), axis=axis)


def point(week, measurements=None, non_target=None, new=NEW_NONE, too_small=()):
    values = {k: (None if v is None else D(str(v))) for k, v in (measurements or {}).items()}
    return TimePoint(date=DAY0 + timedelta(weeks=week), measurements=values, non_target=dict(non_target or {}),
                     new_lesions=new, too_small=frozenset(too_small))


def fields(problems):
    return [(p.field, p.lesion) for p in problems]


# Baseline ----------------------------------------------------------------------------------------------

VALID_BASELINE = [
    tgt("T1", "lung", 25), tgt("T2", "lung", 10),  # 10 mm: measurable ("≥ 10 mm", §3.1.1)
    tgt("T3", "liver", 40), tgt("T4", "lymph node", 15, node=True),  # 15 mm short axis: measurable node
    tgt("T5", "adrenal", "12.5"),
    nt("NT1", "bone"), nt("NT2", "lymph node", node=True, mm=12, axis="short"),  # 10–<15 mm node: non-target
    nt("NT3", "liver", mm=8),  # a small non-nodal lesion (< 10 mm) is non-target
]


def test_a_valid_baseline_has_no_problems():
    assert baseline_problems(VALID_BASELINE) == []


def test_no_lesion_at_baseline_is_refused():
    [problem] = baseline_problems([])
    assert problem.field == "lesions" and "at least one lesion" in problem.message


@pytest.mark.parametrize("lesion,field,words", [
    # §3.1.1: non-nodal targets need ≥ 10 mm longest diameter; smaller ones are non-measurable (non-target).
    (tgt("T1", "lung", "9.9"), "diameter_mm", ["not measurable", "non-target"]),
    # §3.1.1: a target node needs ≥ 15 mm short axis; §3.1.2/§4.2: 10 to < 15 mm is pathological, non-target.
    (tgt("T1", "lymph node", "14.9", node=True), "diameter_mm", ["pathological but not measurable", "non-target"]),
    (tgt("T1", "lymph node", 10, node=True), "diameter_mm", ["pathological but not measurable", "non-target"]),
    # §4.2: a node < 10 mm short axis is normal, not recorded.
    (tgt("T1", "lymph node", "9.9", node=True), "diameter_mm", ["normal", "not a lesion"]),
    (nt("NT1", "lymph node", node=True, mm=8, axis="short"), "diameter_mm", ["normal", "not a lesion"]),
    # §3.1.1: "only the short axis will be measured and followed" for nodes.
    (tgt("T1", "lymph node", 22, node=True, axis="long"), "axis", ["short axis"]),
    (tgt("T1", "lung", 22, axis="short"), "axis", ["longest diameter"]),
    (BaselineLesion("T1", TARGET, "lung", False, None, "long"), "diameter_mm", ["enter"]),
    (tgt("T1", "lung", 0), "diameter_mm", ["more than 0"]),
    (tgt("T1", "lung", -12), "diameter_mm", ["more than 0"]),
    (BaselineLesion("T1", TARGET, "lung", False, 22.5, "long"), "diameter_mm", ["number"]),  # a float
    (BaselineLesion("T1", TARGET, "lung", False, D("NaN"), "long"), "diameter_mm", ["number"]),
    (BaselineLesion("T1", "measurable", "lung", False, D(20), "long"), "kind", ["target or non-target"]),
    (BaselineLesion("T1", TARGET, "  ", False, D(20), "long"), "organ", ["organ"]),
    (BaselineLesion("T1", TARGET, "lung", False, D(20), "diagonal"), "axis", ["long or short"]),
])
def test_a_lesion_that_cannot_be_recorded_is_refused_by_name(lesion, field, words):
    problems = baseline_problems([lesion])
    assert fields(problems) == [(field, lesion.key)]
    assert problems[0].message.startswith(f"{lesion.key}:")
    for word in words:
        assert word in problems[0].message


@pytest.mark.parametrize("lesion", [
    tgt("T1", "lung", 10),  # exactly 10 mm longest diameter: "minimum size of 10 mm"
    tgt("T1", "lymph node", 15, node=True),  # exactly 15 mm short axis: "must be ≥ 15 mm"
    BaselineLesion("T1", TARGET, "lymph node", True, D(15), None),  # no axis given: the node's short axis
    nt("NT1", "pleura"),  # a non-target needs no measurement
    nt("NT1", "lymph node", node=True, mm=10, axis="short"),  # pathological (≥ 10 mm) non-target node
])
def test_a_lesion_on_the_limit_is_accepted(lesion):
    assert baseline_problems([lesion]) == []


def test_the_sixth_target_lesion_is_named():
    lesions = [tgt(f"T{i}", organ, 20) for i, organ in enumerate(["lung", "liver", "adrenal", "kidney", "spleen",
                                                                  "pancreas"], start=1)]
    problems = baseline_problems(lesions)
    assert fields(problems) == [("kind", "T6")]
    assert "at most 5" in problems[0].message and "non-target" in problems[0].message


def test_the_third_target_in_one_organ_is_named_whatever_the_case_of_its_name():
    lesions = [tgt("T1", "liver", 20), tgt("T2", "lung", 20), tgt("T3", "Liver", 30), tgt("T4", " liver ", 15)]
    problems = baseline_problems(lesions)
    assert fields(problems) == [("organ", "T4")]
    assert "at most 2" in problems[0].message


def test_all_lymph_nodes_are_one_organ():
    # EORTC RECIST committee, questions and clarifications: "Nodes are considered to be one organ."
    lesions = [tgt("T1", "mediastinum", 20, node=True), tgt("T2", "axilla", 18, node=True),
               tgt("T3", "neck", 16, node=True), tgt("T4", "mediastinum", 25)]  # T4 is not a node
    assert fields(baseline_problems(lesions)) == [("organ", "T3")]


def test_duplicate_keys_are_refused():
    problems = baseline_problems([tgt("T1", "lung", 20), tgt("T1", "liver", 20)])
    assert fields(problems) == [("key", "T1")]


def test_non_target_lesions_do_not_count_towards_the_target_limits():
    lesions = [tgt("T1", "liver", 20), tgt("T2", "liver", 20), nt("NT1", "liver"), nt("NT2", "liver")]
    assert baseline_problems(lesions) == []


# Time-point checks -------------------------------------------------------------------------------------

BASE = [tgt("T1", "lung", 30), tgt("T2", "liver", 20), nt("NT1", "bone")]


def test_a_complete_time_point_has_no_problems():
    assert timepoint_problems(BASE, point(6, {"T1": 20, "T2": 0}, {"NT1": NT_PRESENT})) == []
    assert timepoint_problems(BASE, point(6, {"T1": None}, {"NT1": NT_NOT_EVALUATED}, too_small={"T2"})) == []


@pytest.mark.parametrize("tp,field,words", [
    (point(6, {"T1": 20, "T2": 10, "T9": 5}, {"NT1": NT_PRESENT}), "T9", ["T9", "not recorded at baseline",
                                                                           "T1, T2"]),
    (point(6, {"T1": 20, "T2": 10}, {"NT1": NT_PRESENT, "NT5": NT_ABSENT}), "NT5", ["NT5", "not recorded"]),
    (point(6, {"T1": 20}, {"NT1": NT_PRESENT}), "T2", ["T2", "nothing recorded"]),
    (point(6, {"T1": 20, "T2": 10}, {}), "NT1", ["NT1", "nothing recorded"]),
    (point(6, {"T1": -1, "T2": 10}, {"NT1": NT_PRESENT}), "T1", ["negative"]),
    (point(6, {"T1": 20, "T2": 10}, {"NT1": "stable"}), "NT1", ["unknown non-target status", "'stable'"]),
    (point(6, {"T1": 20, "T2": 10}, {"NT1": NT_PRESENT}, new="maybe"), "new_lesions", ["'maybe'"]),
    (point(6, {"T1": 20, "T2": 10, "NT1": 12}, {}), "NT1", ["non-target lesion", "not a diameter"]),  # said once
    (point(6, {"T1": 20, "T2": 10, "NT1": 12}, {"NT1": NT_PRESENT}), "NT1", ["non-target lesion"]),
    (point(6, {"T1": 20}, {"NT1": NT_PRESENT, "T2": NT_ABSENT}), "T2", ["target lesion", "not a status"]),
    (point(6, {"T1": 20, "T2": 10}, {"NT1": NT_PRESENT}, too_small={"NT1"}), "NT1", ["non-target"]),
    (point(6, {"T1": 7, "T2": 10}, {"NT1": NT_PRESENT}, too_small={"T1"}), "T1", ["too small", "7 mm"]),
])
def test_a_wrong_time_point_entry_is_named(tp, field, words):
    problems = timepoint_problems(BASE, tp)
    assert [p.field for p in problems] == [field]
    for word in words:
        assert word in problems[0].message


def test_a_float_diameter_at_a_time_point_is_refused():
    tp = TimePoint(date=DAY0, measurements={"T1": 20.5, "T2": D(3)}, non_target={"NT1": NT_ABSENT})
    assert fields(timepoint_problems(BASE, tp)) == [("T1", "T1")]


def test_evaluate_refuses_bad_entries_with_the_problems():
    with pytest.raises(RecistInputError) as raised:
        evaluate(BASE, [point(6, {"T1": 20, "T2": 10, "T9": 5}, {"NT1": NT_PRESENT})])
    assert [p.lesion for p in raised.value.problems] == ["T9"]
    with pytest.raises(RecistInputError) as raised:
        evaluate([tgt("T1", "lung", 8)], [point(6, {"T1": 5})])
    assert [p.lesion for p in raised.value.problems] == ["T1"]
    with pytest.raises(RecistInputError) as raised:
        evaluate(BASE, [point(6, {"T1": 20, "T2": 10}, {"NT1": NT_PRESENT})] * 2)
    assert [p.field for p in raised.value.problems] == ["date"]


# Target response (§4.3.1) ------------------------------------------------------------------------------

TWO = [tgt("T1", "lung", 60), tgt("T2", "liver", 40)]  # baseline sum 100 mm


def targets(baseline, *sums_by_week):
    """The target responses of successive time points, each given as {key: mm}."""
    return [r.target for r in evaluate(baseline, [point(6 * (i + 1), m) for i, m in enumerate(sums_by_week)])]


@pytest.mark.parametrize("series,expected", [
    # PR: "at least a 30% decrease" from the baseline sum 100: 70 is exactly 30 % → PR; 71 is 29 % → SD.
    ([{"T1": 40, "T2": 30}], [PR]),
    ([{"T1": 41, "T2": 30}], [SD]),
    # PD over the baseline (the nadir at the first scan): 120 = 100 × 1.2 and +20 mm → PD; 119 → SD.
    ([{"T1": 70, "T2": 50}], [PD]),
    ([{"T1": 70, "T2": 49}], [SD]),
    # PD over the nadir, not the baseline: 100 → 50 (PR) → 60: 50 × 1.2 = 60 and +10 mm → PD although
    # 60 is still 40 % below baseline; → 59 is 18 % above the nadir → PR (41 % below baseline).
    ([{"T1": 30, "T2": 20}, {"T1": 36, "T2": 24}], [PR, PD]),
    ([{"T1": 30, "T2": 20}, {"T1": 36, "T2": 23}], [PR, PR]),
    # Both conditions: nadir 20, then 24 is +20 % but only +4 mm → not PD (76 % below baseline: PR);
    # 25 is +25 % and +5 mm → PD.
    ([{"T1": 10, "T2": 10}, {"T1": 12, "T2": 12}], [PR, PR]),
    ([{"T1": 10, "T2": 10}, {"T1": 13, "T2": 12}], [PR, PD]),
    # Nadir 0 (all non-nodal targets gone, CR): +5 mm is PD (any relative increase), +4 mm is not (PR:
    # 96 % below baseline; not CR, a lesion is back).
    ([{"T1": 0, "T2": 0}, {"T1": 5, "T2": 0}], [CR, PD]),
    ([{"T1": 0, "T2": 0}, {"T1": 4, "T2": 0}], [CR, PR]),
    # Not CR while any non-nodal target is still measurable, however small: 1 mm → PR (99 % below).
    ([{"T1": 1, "T2": 0}], [PR]),
    # Unchanged → SD.
    ([{"T1": 60, "T2": 40}], [SD]),
])
def test_target_response_thresholds(series, expected):
    assert targets(TWO, *series) == expected


def test_eortc_example_a_partial_response_continues_while_pd_is_not_met():
    # EORTC RECIST committee: "if the sum of longest diameters is 165 mm at baseline, 63 mm at week 8 and
    # 65 mm at week 16, the target lesion response at week 16 is continued partial response."
    # By §4.3.1: 63 ≤ 165 × 0.7 = 115.5 → PR; 65 ≤ 115.5 → PR, and 65 − 63 = 2 mm < 5 mm → not PD.
    baseline = [tgt("T1", "lung", 100), tgt("T2", "liver", 65)]
    results = evaluate(baseline, [point(8, {"T1": 40, "T2": 23}), point(16, {"T1": 41, "T2": 24})])
    assert [r.target for r in results] == [PR, PR]
    week16 = results[1]
    assert (week16.sum_mm, week16.baseline_sum_mm, week16.nadir_mm) == (65, 165, 63)
    assert week16.change_from_nadir_mm == 2
    # (65 − 165) / 165 = −60.606…%; (65 − 63) / 63 = 3.174…%
    assert week16.change_from_baseline_pct.quantize(D("0.001")) == D("-60.606")
    assert week16.change_from_nadir_pct.quantize(D("0.001")) == D("3.175")


def test_thresholds_are_compared_exactly_in_decimal():
    # 33.3 + 33.4 = 66.7; 66.7 × 0.7 = 46.69 exactly: 23.29 + 23.40 = 46.69 is a 30 % decrease → PR.
    # (In binary floating point 66.7 * 0.7 == 46.690000000000005 and the sum would miss it.)
    baseline = [tgt("T1", "lung", "33.3"), tgt("T2", "liver", "33.4")]
    assert targets(baseline, {"T1": "23.29", "T2": "23.40"}) == [PR]
    assert targets(baseline, {"T1": "23.30", "T2": "23.40"}) == [SD]
    # Nadir 25.5: 25.5 × 1.2 = 30.6 (+5.1 mm) → PD; 30.5 is +5.0 mm but 19.6 % → not PD.
    baseline = [tgt("T1", "lung", 50), tgt("T2", "liver", 50)]
    assert targets(baseline, {"T1": "15.5", "T2": 10}, {"T1": "20.6", "T2": 10})[1] == PD
    assert targets(baseline, {"T1": "15.5", "T2": 10}, {"T1": "20.5", "T2": 10})[1] == PR


NODAL = [tgt("T1", "lung", 20), tgt("T2", "lymph node", 20, node=True)]  # baseline sum 40 mm


@pytest.mark.parametrize("measurements,too_small,expected,total", [
    # §4.3.1: CR needs the non-nodal lesions gone and every target node < 10 mm short axis; §4.3.2: the
    # node's actual short axis stays in the sum, so the sum at CR is 9 mm, not 0.
    ({"T1": 0, "T2": 9}, (), CR, 9),
    ({"T1": 0, "T2": 0}, (), CR, 0),
    # A node of 10 mm is pathological: not CR; 10 ≤ 40 × 0.7 = 28 → PR.
    ({"T1": 0, "T2": 10}, (), PR, 10),
    # §4.3.2: "too small to measure" counts 5 mm: a faint non-nodal lesion is present → not CR (PR, 5 + 0
    # = 5); a node too small to measure (5 mm < 10 mm) is normal → CR.
    ({"T1": 5, "T2": 0}, ("T1",), PR, 5),
    ({"T1": None, "T2": 0}, ("T1",), PR, 5),
    ({"T1": 0, "T2": 5}, ("T2",), CR, 5),
])
def test_complete_response_with_lymph_nodes_and_too_small_lesions(measurements, too_small, expected, total):
    [result] = evaluate(NODAL, [point(6, measurements, too_small=too_small)])
    assert (result.target, result.sum_mm) == (expected, total)


def test_a_target_not_evaluated_makes_the_time_point_ne_without_a_sum():
    [result] = evaluate(TWO, [point(6, {"T1": 30, "T2": None})])
    assert (result.target, result.overall, result.sum_mm, result.change_from_baseline_pct) == (NE, NE, None, None)
    assert result.nadir_mm == 100
    assert "T2 not evaluated" in result.reasons[0]


def test_a_target_left_out_of_a_stored_time_point_counts_as_not_evaluated():
    [result] = evaluate(TWO, [point(6, {"T1": 30})])
    assert result.target == NE


def test_the_measured_lesions_alone_can_make_pd():
    # §4.4.2's example: baseline sum 50 mm with three lesions, at follow-up only two are assessed and sum
    # 80 mm: PD "regardless of the contribution of the missing lesion" (80 ≥ 50 × 1.2 = 60, +30 mm ≥ 5).
    baseline = [tgt("T1", "lung", 20), tgt("T2", "liver", 20), tgt("T3", "adrenal", 10)]
    [result] = evaluate(baseline, [point(6, {"T1": 40, "T2": 40, "T3": None})])
    assert (result.target, result.overall, result.sum_mm) == (PD, PD, None)
    assert "80 mm" in result.reasons[0] and "§4.4.2" in result.reasons[0]
    # 25 + 30 = 55 < 60: the missing T3 could decide → NE.
    [result] = evaluate(baseline, [point(6, {"T1": 25, "T2": 30, "T3": None})])
    assert result.target == NE


def test_an_incomplete_time_point_does_not_lower_the_nadir():
    # Baseline 100; week 6 T2 not evaluated (T1 alone 30); week 12 sum 70. The nadir stays 100, so 70 is a
    # 30 % decrease → PR. Were the partial 30 mm taken as the nadir, 70 would be PD.
    results = evaluate(TWO, [point(6, {"T1": 30, "T2": None}), point(12, {"T1": 40, "T2": 30})])
    assert [r.target for r in results] == [NE, PR]
    assert results[1].nadir_mm == 100


def test_sums_nadir_and_changes():
    # 100 → 80 → 60 → 75: nadir before each = 100, 100, 80, 60.
    results = evaluate(TWO, [point(6, {"T1": 50, "T2": 30}), point(12, {"T1": 40, "T2": 20}),
                             point(18, {"T1": 45, "T2": 30})])
    assert [(r.sum_mm, r.nadir_mm, r.change_from_nadir_mm) for r in results] == [(80, 100, -20), (60, 80, -20),
                                                                                 (75, 60, 15)]
    assert [r.change_from_baseline_pct for r in results] == [-20, -40, -25]
    assert [r.change_from_nadir_pct for r in results] == [-20, -25, 25]
    # 75 is +25 % and +15 mm over the nadir 60 → PD, though 25 % below baseline.
    assert [r.target for r in results] == [SD, PR, PD]
    assert "nadir (60 mm)" in results[2].reasons[0] and "§4.3.1" in results[2].reasons[0]


def test_change_from_a_nadir_of_zero_has_no_percentage():
    results = evaluate(TWO, [point(6, {"T1": 0, "T2": 0}), point(12, {"T1": 6, "T2": 0})])
    assert (results[1].nadir_mm, results[1].change_from_nadir_mm, results[1].change_from_nadir_pct) == (0, 6, None)


def test_results_are_sorted_by_date():
    results = evaluate(TWO, [point(12, {"T1": 40, "T2": 20}), point(6, {"T1": 50, "T2": 30})])
    assert [r.date for r in results] == [DAY0 + timedelta(weeks=6), DAY0 + timedelta(weeks=12)]
    assert [r.nadir_mm for r in results] == [100, 80]


# Non-target response (§4.3.3) --------------------------------------------------------------------------

NTS = [nt("NT1", "bone"), nt("NT2", "pleura"), nt("NT3", "lymph node", node=True, mm=12, axis="short")]


@pytest.mark.parametrize("statuses,expected", [
    ({"NT1": NT_ABSENT, "NT2": NT_ABSENT, "NT3": NT_ABSENT}, CR),
    ({"NT1": NT_ABSENT, "NT2": NT_PRESENT, "NT3": NT_ABSENT}, NON_CR_NON_PD),
    ({"NT1": NT_PRESENT, "NT2": NT_NOT_EVALUATED, "NT3": NT_ABSENT}, NE),
    ({"NT1": NT_PROGRESSION, "NT2": NT_NOT_EVALUATED, "NT3": NT_PRESENT}, PD),
    ({"NT1": NT_ABSENT, "NT2": NT_ABSENT}, NE),  # NT3 left out of the stored time point
])
def test_non_target_response(statuses, expected):
    [result] = evaluate(NTS, [point(6, non_target=statuses)])
    assert result.non_target == expected
    assert result.target is None and result.sum_mm is None and result.baseline_sum_mm is None


# Overall response, Table 1 (target lesions ± non-target) -----------------------------------------------

# One target (T1 50 mm) and one non-target. T1 at follow-up: 0 → CR; 30 → PR (40 % below); 45 → SD (10 %
# below, −5 mm); 60 → PD (+20 %, +10 mm over the nadir 50); None → NE. NT1: absent → CR, present →
# non-CR/non-PD, progression → PD, not evaluated → NE.
T1_FOR = {CR: 0, PR: 30, SD: 45, PD: 60, NE: None}
NT1_FOR = {CR: NT_ABSENT, NON_CR_NON_PD: NT_PRESENT, PD: NT_PROGRESSION, NE: NT_NOT_EVALUATED}
TABLE_1 = [
    # target, non-target, new lesion, overall — the rows of Table 1 (§4.4.1), each "any"/"non-PD" expanded
    (CR, CR, NEW_NONE, CR),
    (CR, NON_CR_NON_PD, NEW_NONE, PR),
    (CR, NE, NEW_NONE, PR),
    (PR, CR, NEW_NONE, PR), (PR, NON_CR_NON_PD, NEW_NONE, PR), (PR, NE, NEW_NONE, PR),
    (SD, CR, NEW_NONE, SD), (SD, NON_CR_NON_PD, NEW_NONE, SD), (SD, NE, NEW_NONE, SD),
    (NE, CR, NEW_NONE, NE), (NE, NON_CR_NON_PD, NEW_NONE, NE), (NE, NE, NEW_NONE, NE),
    (PD, CR, NEW_NONE, PD), (PD, NON_CR_NON_PD, NEW_NONE, PD), (PD, NE, NEW_NONE, PD), (PD, PD, NEW_NONE, PD),
    (CR, PD, NEW_NONE, PD), (PR, PD, NEW_NONE, PD), (SD, PD, NEW_NONE, PD), (NE, PD, NEW_NONE, PD),
    (CR, CR, NEW_UNEQUIVOCAL, PD), (PR, NON_CR_NON_PD, NEW_UNEQUIVOCAL, PD), (SD, NE, NEW_UNEQUIVOCAL, PD),
    (NE, NE, NEW_UNEQUIVOCAL, PD), (PD, CR, NEW_UNEQUIVOCAL, PD),
    # An equivocal new lesion is not PD at that time point (§4.3.5): the row without a new lesion applies.
    (CR, CR, NEW_EQUIVOCAL, CR), (PR, NON_CR_NON_PD, NEW_EQUIVOCAL, PR), (SD, NE, NEW_EQUIVOCAL, SD),
]


@pytest.mark.parametrize("target,non_target,new,overall", TABLE_1)
def test_table_1(target, non_target, new, overall):
    baseline = [tgt("T1", "lung", 50), nt("NT1", "bone")]
    [result] = evaluate(baseline, [point(6, {"T1": T1_FOR[target]}, {"NT1": NT1_FOR[non_target]}, new=new)])
    assert (result.target, result.non_target, result.overall) == (target, non_target, overall)
    assert "Table 1" in result.reasons[-1]


@pytest.mark.parametrize("target,new,overall", [
    (CR, NEW_NONE, CR), (PR, NEW_NONE, PR), (SD, NEW_NONE, SD), (NE, NEW_NONE, NE), (PD, NEW_NONE, PD),
    (CR, NEW_UNEQUIVOCAL, PD),
])
def test_table_1_without_non_target_lesions(target, new, overall):
    [result] = evaluate([tgt("T1", "lung", 50)], [point(6, {"T1": T1_FOR[target]}, new=new)])
    assert (result.target, result.non_target, result.overall) == (target, None, overall)


# Overall response, Table 2 (non-target disease only) ---------------------------------------------------

@pytest.mark.parametrize("statuses,new,overall", [
    ((NT_ABSENT, NT_ABSENT), NEW_NONE, CR),
    ((NT_PRESENT, NT_ABSENT), NEW_NONE, NON_CR_NON_PD),
    ((NT_NOT_EVALUATED, NT_PRESENT), NEW_NONE, NE),
    ((NT_PROGRESSION, NT_NOT_EVALUATED), NEW_NONE, PD),
    ((NT_ABSENT, NT_ABSENT), NEW_UNEQUIVOCAL, PD),
    ((NT_PRESENT, NT_PRESENT), NEW_UNEQUIVOCAL, PD),
    ((NT_PRESENT, NT_ABSENT), NEW_EQUIVOCAL, NON_CR_NON_PD),
])
def test_table_2(statuses, new, overall):
    baseline = [nt("NT1", "bone"), nt("NT2", "peritoneum")]
    [result] = evaluate(baseline, [point(6, non_target=dict(zip(("NT1", "NT2"), statuses, strict=True)), new=new)])
    assert (result.target, result.overall) == (None, overall)
    assert "Table 2" in result.reasons[-1]


# Equivocal, then unequivocal new lesion (§4.3.5) -------------------------------------------------------

EQ_BASE = [tgt("T1", "lung", 50), nt("NT1", "bone")]


def overall_series(*news):
    """Time points every 6 weeks with T1 at 30 mm (PR) and NT1 present, the new-lesion findings given."""
    return evaluate(EQ_BASE, [point(6 * (i + 1), {"T1": 30}, {"NT1": NT_PRESENT}, new=new)
                              for i, new in enumerate(news)])


def test_a_confirmed_equivocal_new_lesion_dates_progression_at_the_first_scan():
    first, second = overall_series(NEW_EQUIVOCAL, NEW_UNEQUIVOCAL)
    assert (first.target, first.overall) == (PR, PD)
    assert second.overall == PD
    assert f"{first.date:%d %b %Y}" in first.reasons[-1] and f"{second.date:%d %b %Y}" in first.reasons[-1]
    assert "§4.3.5" in first.reasons[-1] and "this scan alone: PR" in first.reasons[-1]
    assert f"{first.date:%d %b %Y}" in second.reasons[-1]


def test_every_equivocal_scan_of_the_run_becomes_pd_dated_at_the_first():
    results = overall_series(NEW_NONE, NEW_EQUIVOCAL, NEW_EQUIVOCAL, NEW_UNEQUIVOCAL)
    assert [r.overall for r in results] == [PR, PD, PD, PD]
    assert f"{results[1].date:%d %b %Y} (RECIST" in results[2].reasons[-1]


def test_a_scan_without_the_new_lesion_breaks_the_run():
    assert [r.overall for r in overall_series(NEW_EQUIVOCAL, NEW_NONE, NEW_UNEQUIVOCAL)] == [PR, PR, PD]


def test_an_equivocal_new_lesion_not_yet_confirmed_is_not_pd():
    [result] = overall_series(NEW_EQUIVOCAL)
    assert result.overall == PR
    assert any("Equivocal new lesion: not PD" in reason for reason in result.reasons)


def test_problem_is_a_frozen_value():
    problem = Problem("T1", "message", "T1")
    with pytest.raises(AttributeError):
        problem.field = "T2"
