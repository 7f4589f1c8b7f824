"""Tests for trialrules.model_designs: BOIN and the CRM behind the 3+3 engine's Decision interface.

Expected decisions are read off published material, not off the module:

* BOIN, target 0.3, cohorts of 3: the ``get.boundary`` table of the R package BOIN (the [RPUBS] / [TEMPL]
  sources of tests/trialrules/test_boin.py): n = 3 escalate if DLT <= 0, de-escalate if >= 2, eliminate
  if >= 3; n = 6: <= 1, >= 3, >= 4. Target 0.25: lambda_e 0.197, lambda_d 0.298 (Yuan et al. 2016).
* CRM: the R package escalation's ``get_dfcrm`` reference page (dfcrm defaults, empiric model):
  skeleton 0.05, 0.1, 0.25, 0.4, 0.6, target 0.25, outcomes "1NNN 2NTN" -> recommended dose 2.
"""

from __future__ import annotations

import dataclasses

import pytest

from trialrules import boin, crm
from trialrules.escalation import Decision, parse_outcomes
from trialrules.model_designs import BoinDesign, CrmDesign, ModelDecision, decide, level_counts, recommend

KEYS = {"continue", "next_dose_level", "add_subjects", "recommended_dose_level", "declared", "rationale", "waiting"}
SKEL = (0.05, 0.1, 0.25, 0.4, 0.6)


def boin_rec(history: str, target: float = 0.3, levels: int = 5, **kw) -> ModelDecision:
    return recommend(BoinDesign(target=target, n_levels=levels, **kw), parse_outcomes(history))


def crm_rec(history: str, skeleton=SKEL, target: float = 0.25, **kw) -> ModelDecision:
    return recommend(CrmDesign(skeleton=skeleton, target=target, **kw), parse_outcomes(history))


def key(d: Decision) -> tuple:
    return (d.continue_trial, d.next_dose_level, d.add_subjects, d.recommended_dose_level, d.declared)


# ------------------------------------------------------------------------------------------------
# shape
# ------------------------------------------------------------------------------------------------


def test_boin_decision_has_exactly_the_engine_json_keys():
    d = boin_rec("1NNN")
    assert isinstance(d, Decision)
    assert set(d.as_json()) == KEYS


def test_crm_decision_adds_posterior_mean_only():
    d = crm_rec("1NNN 2NTN")
    assert set(d.as_json()) == KEYS | {"posterior_mean"}
    assert len(d.as_json()["posterior_mean"]) == 5


def test_decisions_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        boin_rec("").rationale = "x"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# BOIN
# ------------------------------------------------------------------------------------------------


def test_boin_starts_at_level_1_with_a_cohort():
    assert key(boin_rec("")) == (True, 1, 3, 1, None)
    assert key(boin_rec("", cohort_size=1)) == (True, 1, 1, 1, None)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ("1NNN", (True, 2, 3, 2, None)),  # 0/3 <= 0: escalate
        ("1NNN 2NNT", (True, 2, 3, 2, None)),  # 1/3: stay
        ("1NNN 2NTT", (True, 1, 3, 1, None)),  # 2/3 >= 2: de-escalate
        ("1NNN 2NNT 2NNN", (True, 3, 3, 3, None)),  # 1/6 <= 1: escalate
        ("1NNN 2NNT 2NTN", (True, 2, 3, 2, None)),  # 2/6: stay
        ("1NNN 2NNT 2NTT", (True, 1, 3, 1, None)),  # 3/6 >= 3: de-escalate
        ("1NTT", (True, 1, 3, 1, None)),  # 2/3 at level 1: de-escalation impossible, stay
        ("1NNN 2NNN 3NNN 4NNN 5NNN", (True, 5, 3, 5, None)),  # top level: stay
        ("1NNN 2TTT", (True, 1, 3, 1, None)),  # 3/3 eliminates level 2 and above
        ("1NNN 2TTT 1NNN", (True, 1, 3, 1, None)),  # 0/6 at 1 but level 2 eliminated: stay
    ],
)
def test_boin_decisions_follow_the_published_table_target_030(history, expected):
    assert key(boin_rec(history)) == expected


def test_boin_grade2_counts_as_no_dlt():
    assert key(boin_rec("1GGN")) == key(boin_rec("1NNN"))


def test_boin_rationale_has_the_numbers():
    d = boin_rec("1NNN 2NNN 3NTN 3TNN", target=0.25)
    assert d.rationale == "BOIN: 2/6 DLTs at level 3: 0.333 ≥ λd 0.298 → de-escalate to level 2"
    assert "0.000 ≤ λe 0.236 → escalate to level 2" in boin_rec("1NNN").rationale


def test_boin_all_toxic_at_level_1_stops_with_no_dose():
    d = boin_rec("1TTT")
    assert key(d) == (False, None, 0, None, None)
    assert "level 1 and above eliminated" in d.rationale


def test_boin_current_level_is_the_last_group():
    # Same counts (3/3 at 1, 3/3 at 2, one DLT each), the last group decides where BOIN is.
    a = boin_rec("1NNT 2NNT")
    b = boin_rec("2NNT 1NNT")
    assert (a.next_dose_level, b.next_dose_level) == (2, 1)


def test_boin_incomplete_cohort_is_completed_first():
    assert key(boin_rec("1NNN 2N")) == (True, 2, 2, 2, None)
    assert "complete the cohort (add 2)" in boin_rec("1NNN 2N").rationale


def test_boin_max_n_stops_with_select_mtd():
    history = "1NNN 2NNN 3NNT 3NNN 4NTT 3NNN"
    d = boin_rec(history, max_n=18)
    counts = level_counts(parse_outcomes(history), 5)
    expected = boin.select_mtd(0.3, counts).mtd
    assert expected == 3
    assert key(d) == (False, None, 0, 3, "MTD")
    assert "maximum sample size 18" in d.rationale
    # without max_n the same history continues
    assert boin_rec(history).continue_trial


def test_boin_n_earlystop():
    d = boin_rec("1NNN 2NNT 2NTN 2NNN 2NTN", n_earlystop=12)  # 12 at level 2, 3/12: would stay
    assert (d.continue_trial, d.recommended_dose_level) == (False, 2)
    assert key(boin_rec("1NNN 2NNT 2NTN 2NNN 2NTN")) == (True, 2, 3, 2, None)  # default 100: off


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target": 0.0}, "target"),
        ({"target": 1.0}, "target"),
        ({"target": -0.2}, "target"),
        ({"target": 0.8}, "target"),  # default p_tox = 1.12 >= 1
        ({"n_levels": 0}, "n_levels"),
        ({"cohort_size": 0}, "cohort_size"),
        ({"max_n": 10}, "max_n"),  # not a multiple of 3
        ({"max_n": 2}, "max_n"),
    ],
)
def test_boin_design_rejects_bad_values_naming_the_field(kwargs, field):
    args = {"target": 0.3, "n_levels": 3} | kwargs
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        BoinDesign(**args)


def test_outcome_beyond_the_levels_is_rejected():
    with pytest.raises(ValueError, match=r"outside 1\.\.3"):
        boin_rec("1NNN 4NNN", levels=3)


# ------------------------------------------------------------------------------------------------
# CRM
# ------------------------------------------------------------------------------------------------


def test_crm_published_get_dfcrm_example():
    d = crm_rec("1NNN 2NTN")
    assert key(d) == (True, 2, 3, 2, None)
    fit = crm.crm(SKEL, 0.25, [(3, 0), (3, 1), (0, 0), (0, 0), (0, 0)])
    assert d.posterior_mean == fit.posterior_mean  # dfcrm ptox, unchanged


def test_crm_start_gives_the_skeleton_as_posterior_mean():
    d = crm_rec("")
    assert key(d) == (True, 1, 3, 1, None)
    assert d.posterior_mean == pytest.approx(SKEL, rel=1e-9)


def test_crm_no_skipping():
    # 0/3 at level 1: the model would jump (its choice is above level 2), no skipping caps it at 2.
    fit = crm.crm(SKEL, 0.25, [(3, 0), (0, 0), (0, 0), (0, 0), (0, 0)])
    assert fit.recommended_level > 2
    d = crm_rec("1NNN")
    assert d.next_dose_level == 2
    assert "no skipping" in d.rationale


def test_crm_matches_crm_recommend_on_several_histories():
    for history in ["1NNN", "1NNN 2NNN", "1NNN 2NNN 3NTN", "1NNN 2NNN 3TTN", "1NNT 1NNN 2NNN 3NNN 4NTT"]:
        outs = parse_outcomes(history)
        counts = level_counts(outs, 5)
        expected = crm.recommend(SKEL, 0.25, counts).next_level
        assert crm_rec(history).next_dose_level == expected, history


def test_crm_safety_stop_all_toxic_at_level_1():
    d = crm_rec("1TTT")
    assert key(d) == (False, None, 0, None, None)
    p = crm.crm(SKEL, 0.25, [(3, 3), (0, 0), (0, 0), (0, 0), (0, 0)]).prob_exceeds[0]
    assert p > 0.9
    assert f"{p:.3f} > 0.9" in d.rationale


def test_crm_no_safety_stop_when_p_is_below_the_cutoff():
    p = crm.crm(SKEL, 0.25, [(3, 2), (0, 0), (0, 0), (0, 0), (0, 0)]).prob_exceeds[0]
    assert p < 0.9
    assert crm_rec("1NTT").continue_trial


def test_crm_max_n_recommends_the_model_level():
    history = "1NNN 2NNN 3NTN 3NNN"
    d = crm_rec(history, max_n=12)
    fit = crm.crm(SKEL, 0.25, level_counts(parse_outcomes(history), 5))
    assert key(d) == (False, None, 0, fit.recommended_level, "MTD")


def test_crm_logistic_model_is_used():
    e = crm_rec("1NNN 2NTN")
    lg = crm_rec("1NNN 2NTN", model="logistic")
    fit = crm.crm(SKEL, 0.25, [(3, 0), (3, 1), (0, 0), (0, 0), (0, 0)], model="logistic")
    assert lg.posterior_mean == fit.posterior_mean
    assert lg.posterior_mean != e.posterior_mean


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"skeleton": (0.1, 0.3, 0.2)}, "skeleton must be strictly increasing"),
        ({"skeleton": (0.1, 0.1, 0.2)}, "skeleton must be strictly increasing"),
        ({"skeleton": (0.1, 0.2, 1.2)}, "skeleton values must be in"),
        ({"target": 1.5}, "target must be in"),
        ({"target": 0.0}, "target must be in"),
        ({"model": "probit"}, "model must be one of"),
        ({"prior_sd": 0.0}, "prior_sd must be > 0"),
        ({"max_n": 7}, "max_n must be a multiple"),
    ],
)
def test_crm_design_rejects_bad_values(kwargs, match):
    args = {"skeleton": (0.1, 0.2, 0.3), "target": 0.25} | kwargs
    with pytest.raises(ValueError, match=match):
        CrmDesign(**args)


def test_fast_fit_gives_the_same_decisions_and_posterior():
    design = CrmDesign(skeleton=SKEL, target=0.25)
    for counts in [((3, 0), (3, 1), (0, 0), (0, 0), (0, 0)), ((3, 0), (6, 1), (9, 3), (6, 3), (0, 0)),
                   ((3, 2), (0, 0), (0, 0), (0, 0), (0, 0)), ((6, 1), (9, 2), (12, 2), (3, 2), (3, 3))]:
        slow = decide(design, counts, 2)
        fast = decide(design, counts, 2, fast=True)
        assert key(slow) == key(fast)
        assert fast.posterior_mean == pytest.approx(slow.posterior_mean, abs=1e-10)


def _reachable_states(design, cohorts: int):
    """Every (counts, current) a trial of `design` can reach in `cohorts` cohorts (slow path decisions)."""
    empty = ((0, 0),) * design.n_levels
    frontier, seen = [(empty, None)], []
    for _ in range(cohorts + 1):
        nxt = []
        for counts, current in frontier:
            seen.append((counts, current))
            d = decide(design, counts, current)
            if not d.continue_trial:
                continue
            lvl = d.next_dose_level
            for y in range(design.cohort_size + 1):
                new = list(counts)
                new[lvl - 1] = (new[lvl - 1][0] + design.cohort_size, new[lvl - 1][1] + y)
                nxt.append((tuple(new), lvl))
        frontier = list(dict.fromkeys(nxt))
    return list(dict.fromkeys(seen))


@pytest.mark.parametrize(
    "design",
    [BoinDesign(target=0.3, n_levels=4, max_n=18), BoinDesign(target=0.25, n_levels=3, max_n=15, extrasafe=True),
     BoinDesign(target=0.3, n_levels=3, max_n=12, cohort_size=1, n_earlystop=9)],
)
def test_boin_fast_path_gives_the_slow_decisions_in_every_reachable_state(design):
    states = _reachable_states(design, design.max_n // design.cohort_size)
    assert len(states) > 50
    stops = 0
    for counts, current in states:
        slow, fast = decide(design, counts, current), decide(design, counts, current, fast=True)
        assert key(fast) == key(slow), (counts, current, slow.rationale)
        stops += not slow.continue_trial
    assert stops > 10  # the terminal selection (select_mtd) is compared too
