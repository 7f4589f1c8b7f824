"""Tests for trialrules.boin (BOIN, Liu & Yuan 2015; R package BOIN).

Sources of the expected numbers
-------------------------------
[RPUBS]  Output of ``get.boundary(target=0.3, ncohort=10, cohortsize=3)`` (R package BOIN) printed in the
         RPubs document "BOIN, CRM and 3+3",
         https://rstudio-pubs-static.s3.amazonaws.com/1437814_79ba5accbdfc4c6aaed63b046a781eab.html:
         ``$lambda_e 0.2364907``, ``$lambda_d 0.3585195``, ``$boundary_tab`` (n = 3..30) and
         ``$full_boundary_tab`` (n = 1..30; its elimination row is shown for n = 1..20 only).
[TEMPL]  MD Anderson BOIN protocol template ("Template for Protocol Preparation",
         https://docsbay.net/template-for-protocol-preparation), Table 1 for target 0.3, cohorts of 3,
         30 patients: the same escalation / de-escalation / elimination counts as [RPUBS].
[BRIEF]  lambda_e 0.197 and lambda_d 0.298 for target 0.25, as quoted by the task brief from Yuan et al.
         2016 (Clin Cancer Res 22:4291) / BOIN documentation. I could not find that table in the stored
         text, so these two figures are the brief's, not independently re-read.
[RDOC]   Example data of the R documentation of ``select.mtd``: ``n <- c(3, 3, 15, 9, 0)``,
         ``y <- c(0, 0, 4, 4, 0)``, ``target=0.3``. No printed result was found, so the expected
         estimates are derived by hand (below) from the formulas of the ``select.mtd`` source.
Decisions in the recommend tests are read off the [RPUBS]/[TEMPL] table (e.g. "n = 3: escalate if
DLT <= 0, de-escalate if >= 2, eliminate if >= 3").
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from trialrules.boin import (
    Boundaries,
    BoundaryRow,
    MtdSelection,
    Recommendation,
    boundaries,
    boundary_table,
    recommend,
    select_mtd,
)

# [RPUBS] $boundary_tab / [TEMPL] Table 1, target 0.3, cohort size 3, 30 patients
PUBLISHED_TAB_030 = {
    "n": [3, 6, 9, 12, 15, 18, 21, 24, 27, 30],
    "escalate": [0, 1, 2, 2, 3, 4, 4, 5, 6, 7],
    "deescalate": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    "eliminate": [3, 4, 5, 7, 8, 9, 10, 11, 12, 14],
}

# [RPUBS] $full_boundary_tab, n = 1..30 (elimination row published for n = 1..20; NA -> None)
# (printed in two blocks, n = 1..20 and n = 21..30)
FULL_ESCALATE_030 = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, *[4, 5, 5, 5, 5, 6, 6, 6, 6, 7]]
FULL_DEESCALATE_030 = [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 8, *[8, 8, 9, 9, 9, 10, 10, 11, 11, 11]]
FULL_ELIMINATE_030_1_TO_20 = [None, None, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 8, 8, 9, 9, 9, 10]

FIVE = 5  # dose levels in the recommend tests


def empty(levels: int = FIVE) -> list[tuple[int, int]]:
    return [(0, 0)] * levels


def with_level(outcomes: list[tuple[int, int]], level: int, n: int, y: int) -> list[tuple[int, int]]:
    out = list(outcomes)
    out[level - 1] = (n, y)
    return out


# --------------------------------------------------------------------------------------------------
# boundaries
# --------------------------------------------------------------------------------------------------


def test_boundaries_target_030_match_get_boundary_printout():
    # [RPUBS]: $lambda_e 0.2364907, $lambda_d 0.3585195 (R prints 7 significant digits)
    b = boundaries(0.3)
    assert isinstance(b, Boundaries)
    assert b.p_saf == pytest.approx(0.18) and b.p_tox == pytest.approx(0.42)
    assert b.lambda_e == pytest.approx(0.2364907, abs=5e-8)
    assert b.lambda_d == pytest.approx(0.3585195, abs=5e-8)


def test_boundaries_target_025_match_brief_quote():
    # [BRIEF]: target 0.25 -> lambda_e 0.197, lambda_d 0.298 (3 decimals)
    b = boundaries(0.25)
    assert round(b.lambda_e, 3) == 0.197
    assert round(b.lambda_d, 3) == 0.298


def test_explicit_p_saf_p_tox_equal_to_defaults_give_same_boundaries():
    # Defaults are p_saf = 0.6 target, p_tox = 1.4 target (R get.boundary signature, [RPUBS] call)
    assert boundaries(0.3, p_saf=0.18, p_tox=0.42) == boundaries(0.3)
    # a wider interval moves the boundaries outward (closed-form formula is monotone in phi1, phi2)
    wide = boundaries(0.3, p_saf=0.1, p_tox=0.5)
    assert wide.lambda_e < boundaries(0.3).lambda_e < 0.3 < boundaries(0.3).lambda_d < wide.lambda_d


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.2, math.nan])
def test_target_outside_unit_interval_is_rejected(target):
    with pytest.raises(ValueError, match="target"):
        boundaries(target)


def test_target_must_be_a_number():
    with pytest.raises(TypeError, match="target"):
        boundaries("0.3")  # type: ignore[arg-type]


@pytest.mark.parametrize("p_saf", [0.3, 0.35])
def test_p_saf_not_below_target_is_rejected(p_saf):
    with pytest.raises(ValueError, match="p_saf"):
        boundaries(0.3, p_saf=p_saf)


@pytest.mark.parametrize("p_tox", [0.3, 0.25])
def test_p_tox_not_above_target_is_rejected(p_tox):
    with pytest.raises(ValueError, match="p_tox"):
        boundaries(0.3, p_tox=p_tox)


def test_default_p_tox_outside_unit_interval_is_reported_as_p_tox():
    # target 0.75 -> default p_tox = 1.05
    with pytest.raises(ValueError, match="p_tox"):
        boundaries(0.75)


# --------------------------------------------------------------------------------------------------
# boundary_table
# --------------------------------------------------------------------------------------------------


def test_boundary_table_target_030_cohort_3_matches_published_table():
    # [RPUBS] $boundary_tab and [TEMPL] Table 1
    rows = boundary_table(0.3, cohort_size=3, max_n=30)
    assert all(isinstance(r, BoundaryRow) for r in rows)
    assert [r.n for r in rows] == PUBLISHED_TAB_030["n"]
    assert [r.escalate_max for r in rows] == PUBLISHED_TAB_030["escalate"]
    assert [r.deescalate_min for r in rows] == PUBLISHED_TAB_030["deescalate"]
    assert [r.eliminate_min for r in rows] == PUBLISHED_TAB_030["eliminate"]
    assert all(r.stop_min is None for r in rows)  # extrasafe off


def test_full_boundary_table_target_030_matches_published_full_table():
    # [RPUBS] $full_boundary_tab (cohort_size=1 lists every n)
    rows = boundary_table(0.3, cohort_size=1, max_n=30)
    assert [r.n for r in rows] == list(range(1, 31))
    assert [r.escalate_max for r in rows] == FULL_ESCALATE_030
    assert [r.deescalate_min for r in rows] == FULL_DEESCALATE_030
    assert [r.eliminate_min for r in rows[:20]] == FULL_ELIMINATE_030_1_TO_20


def test_elimination_count_is_the_posterior_rule_with_beta_1_1_prior():
    # Yuan et al. 2016 / R get.boundary: Pr(p > 0.3 | y, n) with beta(y+1, n-y+1) posterior.
    # Closed forms: beta(4, 1) cdf is x^4, so Pr(p > 0.3 | 3/3) = 1 - 0.3^4 = 0.9919 > 0.95 -> 3 eliminates;
    # beta(3, 2) cdf is 4x^3 - 3x^4, so Pr(p > 0.3 | 2/3) = 1 - 0.0837 = 0.9163 <= 0.95 -> 2 does not.
    assert 1 - 0.3**4 > 0.95 and 1 - (4 * 0.3**3 - 3 * 0.3**4) <= 0.95
    assert boundary_table(0.3, cohort_size=3, max_n=3)[0].eliminate_min == 3
    # a stricter cutoff needs more DLTs (0.9919 is not > 0.995): no count eliminates at n = 3
    assert boundary_table(0.3, cohort_size=3, max_n=3, cutoff_eli=0.995)[0].eliminate_min is None


def test_extrasafe_adds_the_stricter_stopping_count():
    # R get.boundary extrasafe: smallest y with Pr(p > target | y, n) > cutoff_eli - offset = 0.90.
    # n = 3: 2/3 gives 0.9163 > 0.90 (closed form above), while 1/3 gives
    # P(Bin(4, 0.3) <= 1) = 0.7^4 + 4(0.3)(0.7^3) = 0.652 <= 0.90.
    rows = boundary_table(0.3, cohort_size=3, max_n=6, extrasafe=True)
    assert rows[0].stop_min == 2
    assert rows[0].eliminate_min == 3  # the elimination row itself is unchanged
    # the stop count never exceeds the elimination count (a smaller cutoff needs fewer DLTs)
    assert all(r.stop_min <= r.eliminate_min for r in boundary_table(0.3, cohort_size=3, max_n=30, extrasafe=True))


def test_boundary_table_stops_at_max_n_in_steps_of_cohort_size():
    assert [r.n for r in boundary_table(0.25, cohort_size=4, max_n=18)] == [4, 8, 12, 16]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cohort_size": 0, "max_n": 30}, "cohort_size"),
        ({"cohort_size": 3, "max_n": 2}, "max_n"),
        ({"cohort_size": 3, "max_n": 30, "cutoff_eli": 1.0}, "cutoff_eli"),
        ({"cohort_size": 3, "max_n": 30, "offset": 0.5}, "offset"),
    ],
)
def test_boundary_table_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        boundary_table(0.3, **kwargs)


def test_boundary_table_rejects_bad_target():
    with pytest.raises(ValueError, match="target"):
        boundary_table(1.5, cohort_size=3, max_n=30)


# --------------------------------------------------------------------------------------------------
# recommend (decisions read off the published table [RPUBS]/[TEMPL])
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "y", "action", "next_level"),
    [
        (3, 0, "escalate", 3),  # n = 3: escalate if DLT <= 0
        (3, 1, "stay", 2),  # 1 is between the two boundaries
        (3, 2, "de-escalate", 1),  # n = 3: de-escalate if DLT >= 2
        (6, 1, "escalate", 3),  # n = 6: escalate if <= 1
        (6, 2, "stay", 2),
        (6, 3, "de-escalate", 1),  # n = 6: de-escalate if >= 3
        (12, 2, "escalate", 3),  # n = 12: escalate if <= 2
        (12, 4, "stay", 2),
        (12, 5, "de-escalate", 1),  # n = 12: de-escalate if >= 5
    ],
)
def test_recommend_follows_published_table_at_level_2(n, y, action, next_level):
    outcomes = with_level(with_level(empty(), 1, 3, 0), 2, n, y)
    rec = recommend(0.3, FIVE, outcomes, 2)
    assert isinstance(rec, Recommendation)
    assert (rec.action, rec.next_level, rec.eliminated) == (action, next_level, ())
    assert rec.continue_trial


def test_eliminate_count_eliminates_current_and_higher_levels_and_de_escalates():
    # [RPUBS] n = 6: eliminate if DLT >= 4
    outcomes = with_level(with_level(empty(), 1, 3, 0), 2, 6, 4)
    rec = recommend(0.3, FIVE, outcomes, 2)
    assert rec.action == "de-escalate" and rec.next_level == 1
    assert rec.eliminated == (2, 3, 4, 5)
    assert "eliminated" in rec.reason


def test_never_escalate_into_an_eliminated_level():
    # level 3 had 4/6 (eliminated, [RPUBS] n = 6); back at level 2, 0/3 would escalate ([RPUBS] n = 3) -> stay
    outcomes = [(3, 0), (3, 0), (6, 4), (0, 0), (0, 0)]
    rec = recommend(0.3, FIVE, outcomes, 2)
    assert rec.action == "stay" and rec.next_level == 2
    assert rec.eliminated == (3, 4, 5)
    assert "level 3 is eliminated" in rec.reason


def test_stay_at_top_level_instead_of_escalating_past_it():
    outcomes = [(3, 0), (3, 0), (3, 0)]
    rec = recommend(0.3, 3, outcomes, 3)
    assert rec.action == "stay" and rec.next_level == 3
    assert "top level" in rec.reason


def test_de_escalation_at_level_1_stays_at_level_1():
    # [RPUBS] n = 3: 2 DLTs de-escalates, 3 eliminates; 2/3 at level 1 -> stay (no lower level)
    rec = recommend(0.3, FIVE, with_level(empty(), 1, 3, 2), 1)
    assert rec.action == "stay" and rec.next_level == 1 and rec.eliminated == ()


def test_all_toxic_at_level_1_stops_the_trial():
    # [RPUBS] n = 3: eliminate if DLT >= 3; level 1 eliminated -> stop (Yuan et al. 2016; R get.oc)
    rec = recommend(0.3, FIVE, with_level(empty(), 1, 3, 3), 1)
    assert rec.action == "stop" and rec.next_level is None
    assert rec.eliminated == (1, 2, 3, 4, 5)
    assert not rec.continue_trial
    assert rec.as_json() == {
        "next_level": None,
        "action": "stop",
        "reason": rec.reason,
        "eliminated": [1, 2, 3, 4, 5],
    }


def test_level_1_eliminated_by_history_stops_even_when_current_is_higher():
    # level 1: 4/6 (eliminated, [RPUBS] n = 6) although the trial moved on: every level is eliminated
    rec = recommend(0.3, FIVE, [(6, 4), (3, 0), (0, 0), (0, 0), (0, 0)], 2)
    assert rec.action == "stop" and rec.eliminated == (1, 2, 3, 4, 5)


def test_extrasafe_stops_on_2_of_3_at_level_1():
    # R get.oc extrasafe: n1 >= 3 and Pr(p1 > 0.3 | 2/3) = 0.9163 > 0.95 - 0.05 -> stop
    outcomes = with_level(empty(), 1, 3, 2)
    assert recommend(0.3, FIVE, outcomes, 1, extrasafe=True).action == "stop"
    assert recommend(0.3, FIVE, outcomes, 1).action == "stay"  # without extrasafe: see above


def test_current_above_an_eliminated_level_goes_below_the_lowest_eliminated():
    # a level above 3 was used although 3 is eliminated (4/6): de-escalate to 2
    outcomes = [(3, 0), (3, 0), (6, 4), (3, 0), (0, 0)]
    rec = recommend(0.3, FIVE, outcomes, 4)
    assert rec.action == "de-escalate" and rec.next_level == 2 and rec.eliminated == (3, 4, 5)


def test_untreated_current_level_treats_a_cohort_there():
    rec = recommend(0.3, FIVE, empty(), 1)
    assert (rec.action, rec.next_level, rec.eliminated) == ("stay", 1, ())


def test_recommendation_is_frozen():
    rec = recommend(0.3, FIVE, empty(), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.action = "escalate"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("outcomes", "match"),
    [
        ([(3, 4), (0, 0), (0, 0)], "DLTs > n"),
        ([(3, -1), (0, 0), (0, 0)], ">= 0"),
        ([(-3, 0), (0, 0), (0, 0)], ">= 0"),
        ([(3, 0), (0, 0)], "levels=3"),
        ([(3, 0), (0, 0), (0, 0), (0, 0)], "levels=3"),
        ([(3, 0), (0,), (0, 0)], "pair"),
        ([(3.0, 0), (0, 0), (0, 0)], "int"),
    ],
)
def test_recommend_rejects_inconsistent_outcomes(outcomes, match):
    with pytest.raises(ValueError, match=match):
        recommend(0.3, 3, outcomes, 1)


@pytest.mark.parametrize("current", [0, 4, -1])
def test_recommend_rejects_current_outside_levels(current):
    with pytest.raises(ValueError, match="current"):
        recommend(0.3, 3, [(3, 0), (0, 0), (0, 0)], current)


def test_recommend_rejects_bad_levels_and_target():
    with pytest.raises(ValueError, match="levels"):
        recommend(0.3, 0, [], 1)
    with pytest.raises(ValueError, match="target"):
        recommend(0.0, 3, [(3, 0), (0, 0), (0, 0)], 1)


# --------------------------------------------------------------------------------------------------
# select_mtd
# --------------------------------------------------------------------------------------------------


def raw(n: int, y: int) -> float:
    return (y + 0.05) / (n + 0.1)  # R select.mtd: phat = (y + 0.05) / (n + 0.1)


def weight(n: int, y: int) -> float:
    return 1 / ((y + 0.05) * (n - y + 0.05) / ((n + 0.1) ** 2 * (n + 0.1 + 1)))  # R: wt = 1 / phat.var


def test_select_mtd_r_documentation_example():
    # [RDOC] n = (3, 3, 15, 9, 0), y = (0, 0, 4, 4, 0), target 0.3. The raw estimates 0.0161, 0.0161,
    # 0.2682, 0.4451 are already non-decreasing, so PAVA leaves them; level 3 (0.268) is closest to 0.3.
    sel = select_mtd(0.3, [(3, 0), (3, 0), (15, 4), (9, 4), (0, 0)])
    assert isinstance(sel, MtdSelection)
    assert sel.mtd == 3
    assert sel.eliminated == ()
    expected = (raw(3, 0), raw(3, 0), raw(15, 4), raw(9, 4))
    assert sel.estimates[:4] == pytest.approx(expected)
    assert sel.estimates[4] is None  # untreated level
    assert [round(e, 2) for e in sel.estimates[:4]] == [0.02, 0.02, 0.27, 0.45]


def test_select_mtd_pools_adjacent_violators_with_variance_weights():
    # raw 1/3 = 0.339 > 0/3 = 0.016 violates monotonicity; pooled = weighted mean (R select.mtd pava)
    outcomes = [(3, 1), (3, 0), (6, 2)]
    sel = select_mtd(0.3, outcomes)
    w1, w2 = weight(3, 1), weight(3, 0)
    pooled = (raw(3, 1) * w1 + raw(3, 0) * w2) / (w1 + w2)
    assert sel.estimates[0] == pytest.approx(pooled) and sel.estimates[1] == pytest.approx(pooled)
    assert sel.estimates[2] == pytest.approx(raw(6, 2))  # 0.336 >= pooled 0.045: not pooled
    assert sel.estimates[0] <= sel.estimates[1] <= sel.estimates[2]
    assert sel.mtd == 3  # |0.336 - 0.3| is the smallest


def test_select_mtd_tie_above_target_takes_the_lower_level():
    # R select.mtd doc: ties -> the lowest level when the estimates exceed the target (2/3 is not eliminated)
    assert select_mtd(0.3, [(3, 2), (3, 2)]).mtd == 1


def test_select_mtd_tie_below_target_takes_the_higher_level():
    # R select.mtd doc: ties -> the highest level when the estimates are below the target
    assert select_mtd(0.3, [(3, 0), (3, 0)]).mtd == 2


def test_select_mtd_ignores_eliminated_levels():
    # level 3: 3/3 is eliminated ([RPUBS] n = 3); the choice is among levels 1-2, and 1/6 (0.172) wins
    sel = select_mtd(0.3, [(3, 0), (6, 1), (3, 3), (0, 0)])
    assert sel.eliminated == (3, 4)
    assert sel.estimates[2] is None and sel.estimates[3] is None
    assert sel.estimates_treated[2] == pytest.approx(raw(3, 3))  # R's printed p_est still shows it
    assert sel.mtd == 2


def test_select_mtd_no_mtd_when_level_1_eliminated():
    sel = select_mtd(0.3, [(3, 3), (0, 0)])
    assert sel.mtd is None and sel.eliminated == (1, 2)


def test_select_mtd_no_mtd_when_nobody_treated():
    assert select_mtd(0.3, [(0, 0), (0, 0)]).mtd is None


def test_select_mtd_bound_mtd_excludes_estimates_at_or_above_lambda_d():
    # 3/6 -> 0.5 is closer to 0.3 than 0.016, but 0.5 >= lambda_d 0.3585 ([RPUBS]); 3/6 is not eliminated
    outcomes = [(3, 0), (6, 3)]
    assert select_mtd(0.3, outcomes).mtd == 2
    assert select_mtd(0.3, outcomes, bound_mtd=True).mtd == 1


@pytest.mark.parametrize(
    ("outcomes", "match"),
    [([(3, 4)], "DLTs > n"), ([(3, -1)], ">= 0"), ([], "at least one")],
)
def test_select_mtd_rejects_inconsistent_outcomes(outcomes, match):
    with pytest.raises(ValueError, match=match):
        select_mtd(0.3, outcomes)
