"""Tests for trialrules.model_simulation (operating characteristics of BOIN and the CRM).

The exact enumeration is checked against an independent brute force written here: every path of a
small trial, driven directly by trialrules.boin.recommend / select_mtd (R get.oc's loop: a cohort, then
elimination / the decision, until max_n), with its probability multiplied out. Monte Carlo is checked
against the exact values (within 4 standard errors), for reproducibility with a seed, and on
scenarios whose answer is known without computation (every level very toxic; every level safe).
"""

from __future__ import annotations

import math

import pytest

from trialrules import boin
from trialrules.model_designs import BoinDesign, CrmDesign
from trialrules.model_simulation import exact, simulate
from trialrules.simulation import OperatingCharacteristics


def brute_force_boin(target: float, p: list[float], cohort: int, max_n: int) -> tuple[list[float], list[float]]:
    """select (none first) and expected subjects, by walking every path with boin's own functions."""
    L = len(p)
    select = [0.0] * (L + 1)
    subjects = [0.0] * L

    def walk(counts: list[tuple[int, int]], level: int, prob: float) -> None:
        for y in range(cohort + 1):
            pr = prob * math.comb(cohort, y) * p[level - 1] ** y * (1 - p[level - 1]) ** (cohort - y)
            if pr == 0.0:
                continue
            new = list(counts)
            n0, y0 = new[level - 1]
            new[level - 1] = (n0 + cohort, y0 + y)
            rec = boin.recommend(target, L, new, level)
            done = rec.next_level is None or sum(n for n, _ in new) >= max_n
            if done:
                mtd = None if rec.next_level is None else boin.select_mtd(target, new).mtd
                select[mtd or 0] += pr
                for i, (n, _) in enumerate(new):
                    subjects[i] += pr * n
            else:
                walk(new, rec.next_level, pr)

    walk([(0, 0)] * L, 1, 1.0)
    return select, subjects


@pytest.mark.parametrize(
    ("p", "max_n"),
    [([0.1, 0.25, 0.45], 12), ([0.3, 0.5, 0.6], 15), ([0.05, 0.1, 0.2, 0.3], 12)],
)
def test_boin_exact_equals_brute_force_enumeration(p, max_n):
    oc = exact(BoinDesign(target=0.3, n_levels=len(p), max_n=max_n), p)
    select, subjects = brute_force_boin(0.3, p, 3, max_n)
    assert oc.select == pytest.approx(select, abs=1e-12)
    assert oc.expected_subjects == pytest.approx(subjects, abs=1e-12)
    assert oc.method == "exact" and oc.trials is None
    assert sum(oc.select) == pytest.approx(1.0, abs=1e-12)


def test_result_has_the_shape_of_the_rule_simulation():
    oc = simulate(BoinDesign(target=0.3, n_levels=3, max_n=12), [0.1, 0.2, 0.4], trials=200, seed=3)
    assert isinstance(oc, OperatingCharacteristics)
    assert set(oc.as_json()) == {"select", "expected_subjects", "expected_dlts", "expected_total_subjects",
                                 "method", "trials"}
    assert len(oc.select) == 4 and len(oc.expected_subjects) == 3
    assert (oc.method, oc.trials) == ("monte_carlo", 200)


@pytest.mark.parametrize(
    "design",
    [BoinDesign(target=0.3, n_levels=4, max_n=18), CrmDesign(skeleton=(0.1, 0.2, 0.3, 0.45), target=0.3, max_n=18)],
)
def test_monte_carlo_is_reproducible_with_the_seed(design):
    p = [0.1, 0.2, 0.35, 0.5]
    a = simulate(design, p, trials=300, seed=11)
    b = simulate(design, p, trials=300, seed=11)
    c = simulate(design, p, trials=300, seed=12)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    "design",
    [BoinDesign(target=0.3, n_levels=4, max_n=18), CrmDesign(skeleton=(0.1, 0.2, 0.3, 0.45), target=0.3, max_n=18)],
)
def test_monte_carlo_agrees_with_exact(design):
    p = [0.05, 0.15, 0.3, 0.5]
    ex = exact(design, p)
    mc = simulate(design, p, trials=4000, seed=5)
    for e, m in zip(ex.select, mc.select, strict=True):
        se = math.sqrt(max(e * (1 - e), 1e-4) / 4000)
        assert abs(e - m) < 4 * se
    assert mc.expected_total_subjects == pytest.approx(ex.expected_total_subjects, abs=0.3)


def test_boin_all_levels_very_toxic_selects_none_mostly():
    oc = simulate(BoinDesign(target=0.3, n_levels=4, max_n=30), [0.8, 0.85, 0.9, 0.95], trials=2000, seed=1)
    assert oc.select[0] > 0.9
    # the trial stops early: far fewer than 30 subjects on average, almost all at level 1
    assert oc.expected_total_subjects < 8
    assert oc.expected_subjects[0] > 0.9 * oc.expected_total_subjects


def test_crm_all_levels_very_toxic_stops_for_safety():
    oc = exact(CrmDesign(skeleton=(0.1, 0.2, 0.3, 0.45), target=0.3, max_n=18), [0.8, 0.85, 0.9, 0.95])
    assert oc.select[0] > 0.9


def test_all_levels_safe_runs_to_max_n_and_picks_the_top():
    for design in (BoinDesign(target=0.3, n_levels=3, max_n=18), CrmDesign(skeleton=(0.1, 0.2, 0.3), target=0.3,
                                                                         max_n=18)):
        oc = exact(design, [0.0, 0.0, 0.0])
        assert oc.select == pytest.approx([0.0, 0.0, 0.0, 1.0])
        assert oc.expected_total_subjects == pytest.approx(18)
        assert oc.expected_dlts == pytest.approx([0.0, 0.0, 0.0])


def test_expected_dlts_are_p_times_subjects():
    p = [0.1, 0.25, 0.45]
    oc = exact(BoinDesign(target=0.3, n_levels=3, max_n=12), p)
    # Wald's identity: a cohort's level is fixed before its outcomes, so E[DLTs_i] = p_i E[subjects_i]
    assert oc.expected_dlts == pytest.approx([pi * n for pi, n in zip(p, oc.expected_subjects, strict=True)])


def test_simulation_needs_max_n_and_valid_probabilities():
    with pytest.raises(ValueError, match="max_n"):
        simulate(BoinDesign(target=0.3, n_levels=3), [0.1, 0.2, 0.3], trials=10, seed=1)
    with pytest.raises(ValueError, match="true_dlt: expected 3 probabilities"):
        simulate(BoinDesign(target=0.3, n_levels=3, max_n=9), [0.1, 0.2], trials=10, seed=1)
    with pytest.raises(ValueError, match="not a probability"):
        exact(BoinDesign(target=0.3, n_levels=3, max_n=9), [0.1, 0.2, 1.2])
    with pytest.raises(ValueError, match="trials"):
        simulate(BoinDesign(target=0.3, n_levels=3, max_n=9), [0.1, 0.2, 0.3], trials=0, seed=1)


def test_exact_refuses_too_many_states():
    with pytest.raises(ValueError, match="use Monte Carlo"):
        exact(BoinDesign(target=0.3, n_levels=5, max_n=30), [0.1] * 5, max_states=100)
