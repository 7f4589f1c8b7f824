"""Tests for trialrules.crm (continual reassessment method, dfcrm conventions).

Sources of the numbers:

* PUBLISHED: the R package escalation (Brock), reference page of ``get_dfcrm`` (which calls
  ``dfcrm::crm`` with its defaults, empiric model, scale sqrt(1.34)): skeleton
  c(0.05, 0.1, 0.25, 0.4, 0.6), target 0.25, outcomes '1NNN 2NTN' -> ``recommended_dose()`` prints
  ``#> [1] 2`` (https://brockk.github.io/escalation/reference/get_dfcrm.html).
* PUBLISHED: Cheung (2011), *Dose Finding by the Continual Reassessment Method*, Table 3.2 p. 26: a
  patient-by-patient CRM trial (logistic model, a0 = 3, beta ~ N(0, 1.34), skeleton
  0.05, 0.12, 0.25, 0.40, 0.55, target 0.25, start level 3) listing each patient's level, tolerance,
  DLT and the posterior mean of beta to 2 decimals. Transcribed from the copy of that table in the
  tests of Brock's Python package clintrials (brockk/clintrials, tests/test_crm.py, test_CRM_bayes).
* PUBLISHED (secondary): brockk/clintrials tests/test_crm.py, test_CRM_bayes_again, plug-in ptox
  "verifiable in R" (dfcrm): skeleton 0.1, 0.2, 0.4, 0.6, target 0.4, '1NNN 2TNT' -> empiric
  0.240, 0.368, 0.566, 0.728; logistic (a0 = 3) 0.274, 0.412, 0.598, 0.734 (3 decimals).
* EXACT: with no data the posterior is the N(0, sigma^2) prior, so beta_mean = 0, beta_var = sigma^2,
  ptox = skeleton (both models: exp(0) = 1), and for the empiric model
  P(p_i > t) = Phi(log(log t / log s_i) / sigma) in closed form.
* INDEPENDENT NUMERICS: the posterior moments recomputed here by the trapezoid rule on a fine grid
  (numpy only, different from the module's adaptive QUADPACK over the real line), on the dfcrm
  documentation example (prior c(0.05,0.10,0.20,0.35,0.50,0.70), target 0.2,
  level c(3,4,4,3,3,4,3,2,2,2), y c(0,0,1,0,0,1,1,0,0,0)) and on the escalation test cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from trialrules.crm import DEFAULT_PRIOR_SD, crm, recommend, toxicity_curve

DFCRM_PRIOR = [0.05, 0.10, 0.20, 0.35, 0.50, 0.70]
DFCRM_LEVEL = [3, 4, 4, 3, 3, 4, 3, 2, 2, 2]
DFCRM_TOX = [0, 0, 1, 0, 0, 1, 1, 0, 0, 0]


def counts(levels, tox, k):
    """Per-level (n, dlts) from dfcrm-style patient vectors (1-based levels)."""
    return [
        (sum(1 for lv in levels if lv == j), sum(t for lv, t in zip(levels, tox, strict=True) if lv == j))
        for j in range(1, k + 1)
    ]


def _grid_posterior(skeleton, outcomes, model="empiric", a0=3.0, sd=DEFAULT_PRIOR_SD):
    """Grid [-10, 10] (dfcrm's own range for the moments), 400001 points, plain numpy: beta, the
    toxicity curve p[beta, level] and the unnormalised posterior weights."""
    b = np.linspace(-10.0, 10.0, 400_001)
    s = np.asarray(skeleton, dtype=float)
    with np.errstate(over="ignore", divide="ignore"):
        if model == "empiric":
            p = s[None, :] ** np.exp(b)[:, None]
        else:
            x = np.log(s / (1 - s)) - a0
            p = 1.0 / (1.0 + np.exp(-(a0 + np.exp(b)[:, None] * x[None, :])))
        logpost = -0.5 * (b / sd) ** 2
        for j, (n, d) in enumerate(outcomes):
            if d:
                logpost = logpost + d * np.log(p[:, j])
            if n - d:
                logpost = logpost + (n - d) * np.log1p(-p[:, j])
    return b, p, np.exp(logpost - logpost.max())


def trapezoid_posterior(skeleton, outcomes, model="empiric", a0=3.0, sd=DEFAULT_PRIOR_SD):
    """Independent check: posterior mean/variance of beta by the trapezoid rule on the grid."""
    b, _, w = _grid_posterior(skeleton, outcomes, model, a0, sd)
    z = np.trapezoid(w, b)
    mean = np.trapezoid(b * w, b) / z
    var = np.trapezoid((b - mean) ** 2 * w, b) / z
    return mean, var


def closest(ptox, target):
    d = [abs(p - target) for p in ptox]
    return d.index(min(d)) + 1


# --------------------------------------------------------------------------------------------------
# Published value
# --------------------------------------------------------------------------------------------------


def test_escalation_get_dfcrm_reference_example_recommends_level_2():
    # escalation reference page get_dfcrm: '1NNN 2NTN' with dfcrm defaults -> "#> [1] 2".
    res = crm([0.05, 0.1, 0.25, 0.4, 0.6], 0.25, [(3, 0), (3, 1), (0, 0), (0, 0), (0, 0)])
    assert res.recommended_level == 2
    assert res.model == "empiric" and res.prior_sd == pytest.approx(math.sqrt(1.34))


# Cheung 2011, Table 3.2 (p. 26), via brockk/clintrials tests/test_crm.py.
CHEUNG_TRUE_TOX = [0.02, 0.04, 0.10, 0.25, 0.50]
CHEUNG_LEVELS = [3, 5, 5, 3, 4, 4, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4]
CHEUNG_TOX = [0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0]
CHEUNG_TOLERANCE = [0.571, 0.642, 0.466, 0.870, 0.634, 0.390, 0.524, 0.773, 0.175, 0.627,
                    0.321, 0.099, 0.383, 0.995, 0.628, 0.346, 0.919, 0.022, 0.647, 0.469]
CHEUNG_BETA_HAT = [0.60, 0.93, 0.04, 0.18, 0.28, 0.34, 0.41, 0.47, 0.31, 0.35,
                   0.25, 0.15, 0.18, 0.21, 0.24, 0.26, 0.28, 0.21, 0.22, 0.24]


def test_cheung_table_3_2_reproduced_patient_by_patient():
    skeleton = [0.05, 0.12, 0.25, 0.40, 0.55]
    level = 3  # start level in the table
    for i in range(20):
        assert level == CHEUNG_LEVELS[i], f"patient {i + 1}"
        dlt = int(CHEUNG_TOLERANCE[i] < CHEUNG_TRUE_TOX[level - 1])  # the table's tolerance mechanism
        assert dlt == CHEUNG_TOX[i], f"patient {i + 1}"
        outcomes = counts(CHEUNG_LEVELS[: i + 1], CHEUNG_TOX[: i + 1], 5)
        res = crm(skeleton, 0.25, outcomes, model="logistic", intercept=3.0, prior_sd=math.sqrt(1.34))
        assert res.beta_mean == pytest.approx(CHEUNG_BETA_HAT[i], abs=0.005), f"patient {i + 1}"
        level = res.recommended_level  # the table's design: next patient at the CRM choice (no restriction)
    assert level == 4  # the table's final recommendation: level 4 (true toxicity 0.25 = target)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("empiric", [0.240, 0.368, 0.566, 0.728]), ("logistic", [0.274, 0.412, 0.598, 0.734])],
)
def test_clintrials_dfcrm_checked_plugin_ptox(model, expected):
    res = crm([0.1, 0.2, 0.4, 0.6], 0.4, [(3, 0), (3, 2), (0, 0), (0, 0)], model=model)
    assert res.posterior_mean == pytest.approx(expected, abs=0.0006)  # published to 3 decimals
    assert res.recommended_level == 2  # 0.368 / 0.412 are closest to 0.4


# --------------------------------------------------------------------------------------------------
# Exact prior-only results
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_no_data_is_the_prior(model):
    res = crm(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, model=model)
    assert res.beta_mean == pytest.approx(0.0, abs=1e-9)
    assert res.beta_var == pytest.approx(1.34, rel=1e-8)
    assert res.posterior_mean == pytest.approx(DFCRM_PRIOR, rel=1e-8)
    assert res.recommended_level == 3  # skeleton value 0.20 == target
    assert res.n_treated == 0 and res.highest_tried is None


def test_no_data_prob_exceeds_closed_form_empiric():
    sd = 0.9
    res = crm(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, prior_sd=sd)
    expected = [norm.cdf(math.log(math.log(0.2) / math.log(s)) / sd) for s in DFCRM_PRIOR]
    assert res.prob_exceeds == pytest.approx(expected, abs=1e-9)
    assert res.prob_exceeds[2] == pytest.approx(0.5, abs=1e-9)  # skeleton == target: threshold beta = 0


def test_prior_sd_changes_prior_variance():
    res = crm(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, prior_sd=math.sqrt(0.75))
    assert res.beta_var == pytest.approx(0.75, rel=1e-8)


# --------------------------------------------------------------------------------------------------
# Independent numerical check (trapezoid vs quad)
# --------------------------------------------------------------------------------------------------

CASES = [
    # dfcrm ?crm example (empiric and logistic)
    (DFCRM_PRIOR, 0.2, counts(DFCRM_LEVEL, DFCRM_TOX, 6), "empiric", 3.0, DEFAULT_PRIOR_SD),
    (DFCRM_PRIOR, 0.2, counts(DFCRM_LEVEL, DFCRM_TOX, 6), "logistic", 3.0, DEFAULT_PRIOR_SD),
    # escalation tests/testthat/test_dfcrm.R example 1: empiric, scale sqrt(0.75), '2NNT 2NNN 3NTT 2NNT'
    ([0.1, 0.2, 0.4, 0.55], 0.2, [(0, 0), (9, 2), (3, 2), (0, 0)], "empiric", 3.0, math.sqrt(0.75)),
    # escalation example 2: logistic, intcpt 4, '1NNN 2NNN 3NTT 2NNN 3TNN 3TNT 2NNN'
    ([0.1, 0.2, 0.33, 0.45, 0.6, 0.7, 0.8], 0.33, [(3, 0), (9, 0), (9, 4)] + [(0, 0)] * 4, "logistic", 4.0,
     DEFAULT_PRIOR_SD),
    # escalation A205 vignette: logistic a0 3, '3N 5N 5T 3N 4N'
    ([0.05, 0.12, 0.25, 0.40, 0.55], 0.25, [(0, 0), (0, 0), (2, 0), (1, 0), (2, 1)], "logistic", 3.0,
     DEFAULT_PRIOR_SD),
    # all toxic at level 1
    (DFCRM_PRIOR, 0.2, [(3, 3)] + [(0, 0)] * 5, "empiric", 3.0, DEFAULT_PRIOR_SD),
]


@pytest.mark.parametrize(("skeleton", "target", "outcomes", "model", "a0", "sd"), CASES)
def test_posterior_moments_match_trapezoid(skeleton, target, outcomes, model, a0, sd):
    res = crm(skeleton, target, outcomes, model=model, intercept=a0, prior_sd=sd)
    mean, var = trapezoid_posterior(skeleton, outcomes, model, a0, sd)
    assert res.beta_mean == pytest.approx(mean, abs=1e-8)
    assert res.beta_var == pytest.approx(var, abs=1e-8)
    # ptox is the curve at the posterior mean (dfcrm ptox), mtd is the closest level (dfcrm mtd)
    assert res.posterior_mean == pytest.approx(toxicity_curve(skeleton, mean, model=model, intercept=a0), abs=1e-8)
    assert res.recommended_level == closest(res.posterior_mean, target)


def test_dfcrm_example_direction_and_level():
    # Two DLTs in 3 at level 4 and 1/4 at level 3 pull the curve above the skeleton (beta < 0).
    res = crm(DFCRM_PRIOR, 0.2, counts(DFCRM_LEVEL, DFCRM_TOX, 6))
    assert res.outcomes == ((0, 0), (3, 0), (4, 1), (3, 2), (0, 0), (0, 0))
    assert res.beta_mean < 0
    assert all(p > s for p, s in zip(res.posterior_mean, DFCRM_PRIOR, strict=True))
    assert res.recommended_level == 2
    assert res.beta_var < 1.34  # data shrink the prior variance


def test_prob_exceeds_matches_trapezoid():
    outcomes = counts(DFCRM_LEVEL, DFCRM_TOX, 6)
    res = crm(DFCRM_PRIOR, 0.2, outcomes)
    b, p, w = _grid_posterior(DFCRM_PRIOR, outcomes)
    z = np.trapezoid(w, b)
    expected = [np.trapezoid(w * (p[:, j] > 0.2), b) / z for j in range(6)]
    assert res.prob_exceeds == pytest.approx(expected, abs=1e-4)  # indicator on a grid: O(step) error
    assert list(res.prob_exceeds) == sorted(res.prob_exceeds)


def test_logistic_prob_exceeds_zero_when_target_above_expit_intercept():
    # logit(0.97) - 3 > 0 while every x_i < 0: no beta makes p_i exceed 0.97.
    res = crm([0.1, 0.2, 0.3], 0.97, [(3, 1), (0, 0), (0, 0)], model="logistic")
    assert res.prob_exceeds == (0.0, 0.0, 0.0)
    assert res.recommended_level == 3  # every ptox <= target -> top level (dfcrm)


def test_all_toxic_at_level_1():
    res = crm(DFCRM_PRIOR, 0.2, [(3, 3)] + [(0, 0)] * 5)
    assert res.recommended_level == 1
    assert res.posterior_mean[0] > 0.2
    assert res.prob_exceeds[0] > 0.9


def test_large_sample_concentrates():
    # 300 subjects at level 3 with 60 DLTs (20 %): ptox at level 3 close to 0.20, small variance.
    res = crm(DFCRM_PRIOR, 0.2, [(0, 0), (0, 0), (300, 60), (0, 0), (0, 0), (0, 0)])
    assert res.posterior_mean[2] == pytest.approx(0.2, abs=0.01)
    assert res.beta_var < 0.01
    mean, var = trapezoid_posterior(DFCRM_PRIOR, res.outcomes)
    assert res.beta_mean == pytest.approx(mean, abs=1e-8)
    assert res.beta_var == pytest.approx(var, rel=1e-6)


# --------------------------------------------------------------------------------------------------
# recommend(): no skipping
# --------------------------------------------------------------------------------------------------


def test_recommend_no_skip_caps_escalation():
    # 0/3 at level 1: the unrestricted CRM jumps above level 2.
    outcomes = [(3, 0)] + [(0, 0)] * 5
    free = recommend(DFCRM_PRIOR, 0.2, outcomes, no_skip=False)
    capped = recommend(DFCRM_PRIOR, 0.2, outcomes)
    assert free.next_level == free.model_level > 2 and not free.restricted
    assert capped.next_level == 2 and capped.restricted and capped.model_level == free.model_level


def test_recommend_deescalation_not_restricted():
    rec = recommend(DFCRM_PRIOR, 0.2, [(3, 3)] + [(0, 0)] * 5)
    assert rec.next_level == 1 and not rec.restricted


def test_recommend_start_level_before_any_subject():
    rec = recommend(DFCRM_PRIOR, 0.2, [(0, 0)] * 6)
    assert rec.next_level == 1 and rec.model_level == 3 and rec.restricted
    assert recommend(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, start_level=2).next_level == 2
    assert recommend(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, no_skip=False).next_level == 3


def test_recommend_within_cap_follows_crm():
    res = crm(DFCRM_PRIOR, 0.2, counts(DFCRM_LEVEL, DFCRM_TOX, 6))
    rec = recommend(DFCRM_PRIOR, 0.2, counts(DFCRM_LEVEL, DFCRM_TOX, 6))
    assert rec.next_level == res.recommended_level == 2 and not rec.restricted


@pytest.mark.parametrize("bad", [0, 7, True, 1.0])
def test_recommend_bad_start_level(bad):
    with pytest.raises(ValueError, match="start_level"):
        recommend(DFCRM_PRIOR, 0.2, [(0, 0)] * 6, start_level=bad)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"skeleton": [0.1, 0.1, 0.3]}, "strictly increasing"),
        ({"skeleton": [0.3, 0.2, 0.4]}, "strictly increasing"),
        ({"skeleton": [0.0, 0.2, 0.4]}, r"skeleton values must be in \(0, 1\)"),
        ({"skeleton": [0.1, 0.2, 1.0]}, r"skeleton values must be in \(0, 1\)"),
        ({"skeleton": [0.1, float("nan"), 0.4]}, r"skeleton values must be in \(0, 1\)"),
        ({"skeleton": []}, "skeleton must have at least one"),
        ({"target": 0.0}, r"target must be in \(0, 1\)"),
        ({"target": 1.0}, r"target must be in \(0, 1\)"),
        ({"target": -0.2}, r"target must be in \(0, 1\)"),
        ({"outcomes": [(0, 0), (0, 0)]}, "outcomes must have one"),
        ({"outcomes": [(3, 4), (0, 0), (0, 0)]}, r"dlts \(4\) > n treated \(3\)"),
        ({"outcomes": [(3, -1), (0, 0), (0, 0)]}, "counts must be >= 0"),
        ({"outcomes": [(-3, 0), (0, 0), (0, 0)]}, "counts must be >= 0"),
        ({"outcomes": [(3, 0.5), (0, 0), (0, 0)]}, "counts must be integers"),
        ({"outcomes": [(3,), (0, 0), (0, 0)]}, r"\(n, dlts\) pair"),
        ({"model": "tanh"}, "model must be one of"),
        ({"prior_sd": 0.0}, "prior_sd must be > 0"),
        ({"prior_sd": -1.0}, "prior_sd must be > 0"),
        ({"model": "logistic", "skeleton": [0.1, 0.5, 0.96]}, "intercept 3.0 is too small"),
    ],
)
def test_validation(kwargs, match):
    args = {"skeleton": [0.1, 0.2, 0.4], "target": 0.25, "outcomes": [(0, 0), (0, 0), (0, 0)]}
    args.update(kwargs)
    skeleton, target, outcomes = args.pop("skeleton"), args.pop("target"), args.pop("outcomes")
    with pytest.raises(ValueError, match=match):
        crm(skeleton, target, outcomes, **args)


def test_result_is_frozen():
    res = crm([0.1, 0.2, 0.4], 0.25, [(3, 0), (0, 0), (0, 0)])
    with pytest.raises(AttributeError):
        res.recommended_level = 3  # type: ignore[misc]
