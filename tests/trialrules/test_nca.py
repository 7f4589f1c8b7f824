"""trialrules.nca against published NCA results for R's Theoph and hand-derived corner cases."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from trialrules.nca import NcaInputError, NcaOptions, Sample, nca

THEOPH = Path("/work/shared/reference/theoph.csv")
LN2 = math.log(2)


def theoph(subject: str) -> list[Sample]:
    with THEOPH.open(newline="") as handle:
        return [Sample(float(r["Time"]), float(r["conc"])) for r in csv.DictReader(handle) if r["Subject"] == subject]


# --- published values ---------------------------------------------------------------------------------------------


def test_theoph_subject_1_pknca_winnonlin():
    # PKNCA / Phoenix WinNonlin, lin up/log down, dose 320 mg (4.02 mg/kg x 79.6 kg):
    # AUClast 147.23 h·mg/L, t½ 14.30 h (published in /work/shared/design/DOMAIN.md).
    r = nca(theoph("1"), 320.0)
    assert r.auclast == pytest.approx(147.23, abs=0.005)
    assert r.half_life == pytest.approx(14.30, abs=0.005)
    assert (r.cmax, r.tmax) == (10.5, 1.12)  # the data's own maximum (datasets::Theoph, subject 1)
    assert (r.clast, r.tlast) == (3.28, 24.37)


def test_theoph_subject_1_noncompart_vignette():
    # R package NonCompart (K. Bae), vignette "NCA parameter calculation", Theoph subject 1:
    # LAMZ 0.048457, LAMZNPT 3, LAMZLL 9.05, LAMZUL 24.37, R2ADJ 0.9999995, LAMZHL 14.30438,
    # linear-trapezoidal AUCLST 148.923.
    r = nca(theoph("1"), 320.0)
    assert r.lambda_z == pytest.approx(0.048457, abs=5e-7)
    assert r.lambda_z_points == 3
    assert r.lambda_z_times == (9.05, 12.12, 24.37)
    assert r.lambda_z_adj_r2 == pytest.approx(0.9999995, abs=5e-8)
    assert r.half_life == pytest.approx(14.30438, abs=5e-6)
    linear = nca(theoph("1"), 320.0, NcaOptions(auc_method="linear"))
    assert linear.auclast == pytest.approx(148.923, abs=5e-4)
    assert linear.half_life == r.half_life  # the AUC method does not touch λz


# --- hand-derived -------------------------------------------------------------------------------------------------

# After Cmax (10 at t=1) the concentration halves every 2 h exactly: λz = ln2/2, t½ = 2, and every tail fit is
# perfect (adjusted R² = 1), so the rule "most points among the best" takes all 4 points after Cmax.
EXPO = [Sample(0, 0), Sample(1, 10), Sample(2, 8), Sample(4, 4), Sample(6, 2), Sample(8, 1)]


def test_exact_exponential_tail_hand_derived():
    r = nca(EXPO, 100.0)
    lz = LN2 / 2
    assert r.lambda_z == pytest.approx(lz)
    assert r.half_life == pytest.approx(2.0)
    assert r.lambda_z_points == 4 and r.lambda_z_times == (2, 4, 6, 8)  # Cmax (t=1) excluded
    # 0→1 linear up 5; 1→2 log (10-8)/ln(10/8); 2→4, 4→6, 6→8 log (c1-c2)·2/ln2 = 4, 2, 1 × 2/ln2
    auclast = 5 + 2 / math.log(1.25) + (4 + 2 + 1) * 2 / LN2
    assert r.auclast == pytest.approx(auclast)
    aucinf = auclast + 1 / lz
    assert r.aucinf_obs == pytest.approx(aucinf)
    assert r.auc_pct_extrap == pytest.approx(100 * (1 / lz) / aucinf)
    assert r.cl == pytest.approx(100 / aucinf)
    assert r.vz == pytest.approx(100 / aucinf / lz)


def test_linear_versus_log_down_hand_computed():
    samples = [Sample(0, 0), Sample(1, 8), Sample(2, 4)]
    assert nca(samples, None, NcaOptions(auc_method="linear")).auclast == pytest.approx(4 + 6)
    # log-down for 1→2: (8 − 4)/ln(8/4)
    assert nca(samples, None).auclast == pytest.approx(4 + 4 / LN2)


def test_mrt_linear_hand_computed():
    # Linear AUMC: 0→1 (0·0 + 1·8)/2 = 4; 1→2 (1·8 + 2·4)/2 = 8; 2→3 (2·4 + 3·2)/2 = 7 → 19.
    # λz from (2,4),(3,2): only 2 points after Cmax → pick by hand; λz = ln2.
    samples = [Sample(0, 0), Sample(1, 8), Sample(2, 4), Sample(3, 2)]
    r = nca(samples, 10.0, NcaOptions(auc_method="linear"), lambda_z_times=[2, 3])
    lz = LN2
    auc = 4 + 6 + 3 + 2 / lz
    aumc = 19 + 2 * 3 / lz + 2 / lz**2
    assert r.lambda_z == pytest.approx(lz)
    assert r.aucinf_obs == pytest.approx(auc)
    assert r.mrt == pytest.approx(aumc / auc)
    assert "λz from the points chosen by hand" in r.notes


def test_log_down_aumc_hand_computed():
    # One exponential piece 1→2 from 8 to 4: k = ln2, ∫ t·8e^{-k(t-1)} dt = (1·8 − 2·4)/k + (8 − 4)/k².
    samples = [Sample(0, 0), Sample(1, 8), Sample(2, 4), Sample(3, 2)]
    r = nca(samples, None, lambda_z_times=[2, 3])
    k = LN2
    aumclast = 4 + (8 - 8) / k + 4 / k**2 + (8 - 6) / k + 2 / k**2  # 0→1 linear up, then two log pieces
    auclast = 4 + 4 / k + 2 / k
    assert r.auclast == pytest.approx(auclast)
    assert r.mrt == pytest.approx((aumclast + 2 * 3 / k + 2 / k**2) / (auclast + 2 / k))
    assert r.cl is None and "no dose: CL and Vz not estimable" in r.notes


def test_manual_points_override_automatic_choice():
    r = nca(EXPO, 100.0, lambda_z_times=[4, 6, 8])
    assert r.lambda_z_times == (4, 6, 8) and r.lambda_z == pytest.approx(LN2 / 2)
    with pytest.raises(NcaInputError, match="lambda_z_times"):
        nca(EXPO, 100.0, lambda_z_times=[5])


def test_best_adjusted_r2_beats_more_points():
    # Last 3 points fall exactly with λz = ln2 (adj R² = 1); adding t=2 (conc 9, far above the line) lowers
    # adjusted R² by far more than 1e-4, so 3 points are kept.
    samples = [Sample(0, 0), Sample(1, 10), Sample(2, 9), Sample(3, 4), Sample(4, 2), Sample(5, 1)]
    r = nca(samples, None)
    assert r.lambda_z_points == 3 and r.lambda_z == pytest.approx(LN2)


def test_rising_tail_gives_no_lambda_z():
    samples = [Sample(0, 0), Sample(1, 10), Sample(2, 2), Sample(3, 3), Sample(4, 4)]
    r = nca(samples, 1.0)
    assert r.lambda_z is None and r.aucinf_obs is None and r.cl is None
    assert any("λz > 0" in note for note in r.notes)


# --- corner cases -------------------------------------------------------------------------------------------------


def test_single_sample():
    r = nca([Sample(1.0, 5.0)], 100.0)
    assert (r.cmax, r.tmax) == (5.0, 1.0)
    assert r.auclast is None and r.lambda_z is None
    assert any("single sample" in note for note in r.notes)


def test_all_blq_zeros():
    r = nca([Sample(0, 0), Sample(1, 0), Sample(2, 0)], 100.0)
    assert r.cmax is None and r.auclast is None and r.tmax is None
    assert any("all concentrations are zero" in note for note in r.notes)


def test_all_missing():
    r = nca([Sample(0, None), Sample(1, None)], 100.0)
    assert r.cmax is None and any("missing" in note for note in r.notes)


def test_cmax_at_last_point():
    r = nca([Sample(0, 0), Sample(1, 2), Sample(2, 4)], 100.0)
    assert r.cmax == 4 and r.tmax == 2
    assert r.auclast == pytest.approx(1 + 3)  # linear up both intervals
    assert r.lambda_z is None and r.aucinf_obs is None
    assert "λz not estimable: Cmax is at the last sample" in r.notes


def test_missing_dropped_with_note():
    with_gap = [*EXPO[:2], Sample(1.5, None), *EXPO[2:]]
    r, plain = nca(with_gap, 100.0), nca(EXPO, 100.0)
    assert r.auclast == plain.auclast and r.lambda_z == plain.lambda_z
    assert "1 missing concentration(s) dropped" in r.notes


def test_zero_after_cmax_is_linear_and_leaves_the_fit():
    samples = [Sample(0, 0), Sample(1, 10), Sample(2, 5), Sample(3, 0), Sample(4, 2)]
    r = nca(samples, 100.0)
    # 0→1 linear 5; 1→2 log 5/ln2; 2→3 down to 0: linear 2.5; 3→4 up: linear 1
    assert r.auclast == pytest.approx(5 + 5 / LN2 + 2.5 + 1)
    assert (r.clast, r.tlast) == (2, 4)
    assert r.lambda_z is None  # only (2,5) and (4,2) are > 0 after Cmax
    assert any("2 point(s) above 0 after Cmax, 3 needed" in note for note in r.notes)


def test_leading_zero_kept_and_trailing_zero_ignored():
    samples = [Sample(0, 0), Sample(1, 4), Sample(2, 2), Sample(3, 0)]
    r = nca(samples, None)
    assert r.auclast == pytest.approx(2 + 2 / LN2)  # to Tlast = 2
    assert r.tlast == 2


def test_unsorted_input_is_sorted():
    assert nca(list(reversed(EXPO)), 100.0).auclast == pytest.approx(nca(EXPO, 100.0).auclast)


def test_intravascular_without_time_zero_is_noted():
    r = nca([Sample(0.5, 10), Sample(1, 8), Sample(2, 4), Sample(4, 1)], 100.0, NcaOptions(route="intravascular"))
    assert any("no C0" in note for note in r.notes)


@pytest.mark.parametrize(
    ("samples", "dose", "message"),
    [
        ([Sample(0, 1), Sample(0, 2)], 1.0, "time 0 appears more than once"),
        ([Sample(0, -1)], 1.0, "concentration -1"),
        ([Sample(0, 1)], 0.0, "dose"),
        ([Sample(float("nan"), 1)], 1.0, "time"),
    ],
)
def test_bad_input(samples, dose, message):
    with pytest.raises(NcaInputError, match=message):
        nca(samples, dose)


@pytest.mark.parametrize("kwargs", [{"auc_method": "log"}, {"route": "oral"}, {"min_points": 2}])
def test_bad_options(kwargs):
    with pytest.raises(NcaInputError):
        NcaOptions(**kwargs)
