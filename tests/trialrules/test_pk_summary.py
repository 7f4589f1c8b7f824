"""trialrules.pk_summary against PKNCA's published Theoph summary, Smith et al.'s worked numbers, and statsmodels."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from trialrules.nca import Sample, nca
from trialrules.pk_summary import dose_proportionality, summarise

THEOPH = Path("/work/shared/reference/theoph.csv")


def theoph_results():
    """PKNCA's own set-up: datasets::Theoph with the Dose column (mg/kg) as the dose, PKNCA default rules."""
    with THEOPH.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    subjects = dict.fromkeys(r["Subject"] for r in rows)
    return [
        nca([Sample(float(r["Time"]), float(r["conc"])) for r in rows if r["Subject"] == s],
            float(next(r["Dose"] for r in rows if r["Subject"] == s)))
        for s in subjects
    ]


def sig3(value: float, printed: float) -> bool:
    """``value`` prints as ``printed`` to 3 significant figures (PKNCA's summary rounding, signif = 3)."""
    unit = 10 ** (math.floor(math.log10(abs(printed))) - 2)
    return abs(value - printed) <= unit / 2 * (1 + 1e-9)


# --- published: PKNCA's summary of the 12 Theoph subjects ------------------------------------------------------------


def test_theoph_summary_matches_pknca_vignette():
    # PKNCA vignette "Introduction to PKNCA and Usage Instructions" (humanpred/pknca), summary(o_nca) on
    # datasets::Theoph, interval 0–Inf, N 12: cmax 8.65 [17.0] and aucinf.obs 115 [28.4] (geometric mean
    # [geometric CV%]); tmax 1.14 [0.630, 3.55] (median [range]); half.life 8.18 [2.12] (mean [SD]).
    results = theoph_results()
    cmax = summarise([r.cmax for r in results])
    assert cmax.n == 12 and sig3(cmax.geo_mean, 8.65) and sig3(cmax.geo_cv_pct, 17.0)
    tmax = summarise([r.tmax for r in results])
    assert sig3(tmax.median, 1.14) and (tmax.minimum, tmax.maximum) == (0.63, 3.55)
    half_life = summarise([r.half_life for r in results])
    assert sig3(half_life.mean, 8.18) and sig3(half_life.sd, 2.12)
    aucinf = summarise([r.aucinf_obs for r in results])
    assert sig3(aucinf.geo_mean, 115) and sig3(aucinf.geo_cv_pct, 28.4)


def test_theoph_summary_matches_pknca_reference_example():
    # PKNCA reference page of summary.PKNCAresults (example on datasets::Theoph, intervals 0–Inf): auclast 98.7 [22.5]
    # and cl.obs 0.0398 [29.4] (geometric mean [CV%]); aucpext.obs 13.8 [6.34] (mean [SD]).
    results = theoph_results()
    auclast = summarise([r.auclast for r in results])
    assert sig3(auclast.geo_mean, 98.7) and sig3(auclast.geo_cv_pct, 22.5)
    cl = summarise([r.cl for r in results])
    assert sig3(cl.geo_mean, 0.0398) and sig3(cl.geo_cv_pct, 29.4)
    extrap = summarise([r.auc_pct_extrap for r in results])
    assert sig3(extrap.mean, 13.8) and sig3(extrap.sd, 6.34)


# --- summarise: hand-derived ------------------------------------------------------------------------------------------


def test_geometric_statistics_hand_derived():
    # ln values 1 and 3: mean 2, SD sqrt(2) → geometric mean e², geometric CV 100·sqrt(e² − 1).
    s = summarise([math.e, math.e**3])
    assert s.geo_mean == pytest.approx(math.e**2)
    assert s.geo_cv_pct == pytest.approx(100 * math.sqrt(math.e**2 - 1))
    assert s.mean == pytest.approx((math.e + math.e**3) / 2)
    assert s.sd == pytest.approx((math.e**3 - math.e) / math.sqrt(2))  # n − 1: |a − b|/sqrt(2)


def test_missing_values_are_counted_not_used():
    s = summarise([1.0, None, 4.0, float("nan"), 16.0])
    assert (s.n, s.n_missing) == (3, 2)
    assert s.geo_mean == pytest.approx(4.0) and s.median == 4.0 and (s.minimum, s.maximum) == (1.0, 16.0)
    assert s.mean == pytest.approx(7.0) and s.sd == pytest.approx(math.sqrt(((1 - 7) ** 2 + 9 + 81) / 2))


def test_zero_value_has_no_geometric_statistics():
    s = summarise([0.0, 2.0, 4.0])
    assert s.geo_mean is None and s.geo_cv_pct is None
    assert s.mean == pytest.approx(2.0) and s.median == 2.0
    assert "a value is 0 or less: no geometric mean or CV" in s.notes


def test_one_value_and_no_values():
    one = summarise([5.0, None])
    assert (one.n, one.n_missing, one.mean, one.median) == (1, 1, 5.0, 5.0) and one.geo_mean == pytest.approx(5.0)
    assert one.sd is None and one.geo_cv_pct is None and "one value: no SD or geometric CV" in one.notes
    none = summarise([None, None])
    assert (none.n, none.n_missing, none.mean, none.geo_mean) == (0, 2, None, None) and none.notes == ("no values",)
    assert summarise([]).n == 0


@pytest.mark.parametrize("bad", [float("inf"), "3", True])
def test_summarise_rejects_non_numbers(bad):
    with pytest.raises(ValueError, match="value 2"):
        summarise([1.0, bad])


# --- dose proportionality: power model --------------------------------------------------------------------------------


def test_exact_power_law_smith_worked_numbers():
    # Smith et al., Pharm Res 2000;17:1278, Table 2, Cmax: doses 25 to 250 mg (r = 10), slope 0.7615; critical region
    # (0.903, 1.097) for θ = (0.8, 1.25); R_dnm = r^(β − 1) = 0.577. An exact power law with b = 0.7615 gives b exactly.
    doses = [25, 25, 50, 100, 250, 250]
    values = [3.0 * d**0.7615 for d in doses]
    m = dose_proportionality(doses, values)
    assert m.n == 6 and m.dose_ratio == 10
    assert m.slope == pytest.approx(0.7615) and m.intercept == pytest.approx(math.log(3.0))
    assert m.slope_ci_low == pytest.approx(0.7615) and m.slope_ci_high == pytest.approx(0.7615)
    assert round(m.criterion_low, 3) == 0.903 and round(m.criterion_high, 3) == 1.097
    assert round(m.ratio, 3) == 0.577
    assert m.proportional is False


def test_exact_proportionality():
    m = dose_proportionality([1, 2, 4, 8], [5, 10, 20, 40])
    assert m.slope == pytest.approx(1.0) and m.ratio == pytest.approx(1.0)
    assert m.criterion_low == pytest.approx(1 + math.log(0.8) / math.log(8))
    assert m.criterion_high == pytest.approx(1 + math.log(1.25) / math.log(8))
    assert m.proportional is True


DOSES = [10, 10, 10, 10, 30, 30, 30, 30, 100, 100, 100, 100]
AUCS = [41.0, 55.2, 47.9, 38.6, 151.3, 122.8, 139.0, 170.4, 466.1, 512.7, 389.5, 440.0]


def test_matches_statsmodels_ols():
    m = dose_proportionality(DOSES, AUCS)
    fit = sm.OLS(np.log(AUCS), sm.add_constant(np.log(DOSES))).fit()
    low, high = fit.conf_int(alpha=0.10)[1]
    assert m.slope == pytest.approx(fit.params[1], rel=1e-12)
    assert m.intercept == pytest.approx(fit.params[0], rel=1e-12)
    assert (m.slope_ci_low, m.slope_ci_high) == (pytest.approx(low, rel=1e-10), pytest.approx(high, rel=1e-10))
    assert m.ratio_ci_low == pytest.approx(10 ** (low - 1)) and m.ratio_ci_high == pytest.approx(10 ** (high - 1))
    wide = dose_proportionality(DOSES, AUCS, level=0.95)
    low95, high95 = fit.conf_int(alpha=0.05)[1]
    assert (wide.slope_ci_low, wide.slope_ci_high) == (pytest.approx(low95), pytest.approx(high95))
    assert m.criterion_low <= low and high <= m.criterion_high  # the whole 90 % CI inside (0.903, 1.097)
    assert m.proportional is True


def test_slope_inside_but_ci_crossing_is_not_proportional():
    # Slope near 1, but two noisy points per dose over r = 2: the CI is wider than the critical region.
    m = dose_proportionality([1, 1, 2, 2], [10, 14, 20, 27])
    assert m.criterion_low < m.slope < m.criterion_high
    assert m.slope_ci_low < m.criterion_low and m.proportional is False


def test_not_estimable_cases():
    assert dose_proportionality([1, 2], [1, 2]).proportional is None
    few = dose_proportionality([1, 2, 3], [1, None, 3])
    assert few.n == 2 and few.slope is None and few.proportional is None
    assert few.notes == ("1 missing value(s) dropped", "2 value(s): the power model needs 3 or more")
    one_dose = dose_proportionality([5, 5, 5], [1, 2, 3])
    assert one_dose.slope is None and "one dose level only: the power model needs 2 or more" in one_dose.notes
    zero = dose_proportionality([1, 2, 4], [1, 0, 3])
    assert zero.slope is None and zero.proportional is None
    assert "a value is 0 or less: ln(value) is not defined" in zero.notes


@pytest.mark.parametrize(
    ("doses", "values", "kwargs", "message"),
    [
        ([1, 2], [1, 2, 3], {}, "differ in length"),
        ([1, 0, 2], [1, 2, 3], {}, "dose 2: 0 is not a positive dose"),
        ([1, -2, 2], [1, 2, 3], {}, "dose 2"),
        ([1, float("nan"), 2], [1, 2, 3], {}, "dose 2"),
        ([1, 2, 3], [1, 2, 3], {"theta_low": 1.1}, "theta_low"),
        ([1, 2, 3], [1, 2, 3], {"theta_high": 0.9}, "theta_high"),
        ([1, 2, 3], [1, 2, 3], {"level": 90}, "level"),
    ],
)
def test_dose_proportionality_rejects_bad_input(doses, values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        dose_proportionality(doses, values, **kwargs)
