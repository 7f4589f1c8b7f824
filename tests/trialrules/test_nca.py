"""trialrules.nca against published NCA results for R's Theoph and hand-derived corner cases."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from trialrules.nca import NcaInputError, NcaOptions, Sample, nca

THEOPH = Path("/work/shared/reference/theoph.csv")
INDOMETH = Path("/work/shared/reference/indometh.csv")
LN2 = math.log(2)


def theoph(subject: str) -> list[Sample]:
    with THEOPH.open(newline="") as handle:
        return [Sample(float(r["Time"]), float(r["conc"])) for r in csv.DictReader(handle) if r["Subject"] == subject]


def indometh(subject: str) -> list[Sample]:
    """datasets::Indometh: IV bolus of 25 mg at time 0, first sample at 0.25 h (no sample at 0)."""
    with INDOMETH.open(newline="") as handle:
        return [Sample(float(r["time"]), float(r["conc"])) for r in csv.DictReader(handle) if r["Subject"] == subject]


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


# NonCompart-tests, "Validation of Noncompartmental Analysis Performed by NonCompart R package" (S. Han, Asan Medical
# Center, 2018; github.com/asancpt/NonCompart-tests, validation.md, Appendix A): NonCompart 0.4.2 tblNCA() beside
# Phoenix WinNonlin 6.3/7.0 on R's Theoph (dose 320 for every subject) and Indometh (dose 25), every parameter equal
# to 7 decimals in both programs. Columns are the CDISC codes of that table. Tolerance: the last printed digit.
THEOPH_WNL_LOG = {  # Test 2: Theoph (n=12), down="Log" (linear up / log down), extravascular
    #        LAMZNPT  LAMZ       R2ADJ      AUCLST       AUCIFO       AUCPEO      CLFO       VZFO        MRTEVIFO
    "1": (3, 0.0484570, 0.9999995, 147.2347485, 214.9236316, 31.4943883, 1.4889010, 30.7262325, 21.1498046),
    "2": (4, 0.1040864, 0.9957931, 88.7312755, 97.3779346, 8.8794850, 3.2861654, 31.5715024, 10.3664599),
    "3": (3, 0.1024443, 0.9986499, 95.8781978, 106.1276685, 9.6576801, 3.0152363, 29.4329299, 10.9175260),
    "4": (3, 0.0992870, 0.9978483, 102.6336232, 114.2162046, 10.1409266, 2.8017040, 28.2182304, 11.5040681),
    "5": (4, 0.0866189, 0.9979708, 118.1793538, 136.3047316, 13.2976879, 2.3476808, 27.1035678, 12.3949276),
    "6": (7, 0.0877957, 0.9978896, 71.6970150, 82.1758833, 12.7517562, 3.8940865, 44.3539348, 12.0222866),
    "7": (4, 0.0883365, 0.9980053, 87.9692274, 100.9876292, 12.8910857, 3.1687049, 35.8708471, 12.4599947),
    "8": (6, 0.0814505, 0.9887655, 86.8065635, 102.1533003, 15.0232413, 3.1325469, 38.4594978, 12.8722531),
    "9": (3, 0.0824586, 0.9988873, 83.9374360, 97.5200039, 13.9279813, 3.2813780, 39.7942323, 12.5094471),
    "10": (3, 0.0749598, 0.9990174, 135.5760701, 167.8600307, 19.2326669, 1.9063502, 25.4316257, 14.9085758),
    "11": (3, 0.0954586, 0.9999965, 77.8934723, 86.9026173, 10.3669431, 3.6822827, 38.5746722, 10.7931564),
    "12": (3, 0.1102595, 0.9987936, 115.2202082, 125.8315397, 8.4329665, 2.5430826, 23.0645237, 10.6105161),
}
THEOPH_WNL_LINEAR = {  # Test 1: Theoph (n=12), down="Linear"; AUCLST, AUCIFO, MRTEVIFO
    "1": (148.9230500, 216.6119330, 20.8000305), "2": (91.5268000, 100.1734591, 9.9804109),
    "3": (99.2865000, 109.5359707, 10.5076420), "4": (106.7963000, 118.3788814, 11.0091630),
    "5": (121.2944000, 139.4197778, 11.9618725), "6": (73.7755500, 84.2544183, 11.6127855),
    "7": (90.7534000, 103.7718018, 11.9984272), "8": (88.5599500, 103.9066868, 12.4930916),
    "9": (86.3261500, 99.9087179, 12.0286954), "10": (138.3681000, 170.6520606, 14.4972959),
    "11": (80.0936000, 89.1027449, 10.4212275), "12": (119.9775000, 130.5888316, 10.1875787),
}
INDOMETH_WNL_BOLUS_LOG = {  # Test 4: Indometh (n=6), down="Log", adm="Bolus" (no sample at 0: C0 back-extrapolated)
    #       LAMZNPT  LAMZ      C0         AUCLST     AUCIFO     CLO         VZO         MRTIVIFO
    "1": (3, 0.1583205, 2.3936170, 2.0098984, 2.3257135, 10.7493892, 67.8963898, 3.3650320),
    "2": (9, 0.3022800, 2.5281595, 3.2028878, 3.4675431, 7.2097158, 23.8511160, 2.7125665),
    "3": (10, 0.4218926, 4.9653691, 3.4743971, 3.6640188, 6.8231092, 16.1726192, 1.9164006),
    "4": (11, 0.4554455, 2.4622302, 2.7483832, 2.9020789, 8.6145142, 18.9144805, 2.0578350),
    "5": (8, 0.2527478, 4.0408654, 2.3983736, 2.6357645, 9.4849143, 37.5271908, 2.4985790),
    "6": (9, 0.3535205, 3.7056250, 3.2908266, 3.5454087, 7.0513732, 19.9461495, 2.3543721),
}
INDOMETH_WNL_BOLUS_LINEAR = {  # Test 3: Indometh, down="Linear", adm="Bolus"; AUCLST, AUCIFO, MRTIVIFO
    "1": (2.0404521, 2.3562672, 3.3071607), "2": (3.2485199, 3.5131752, 2.6732291),
    "3": (3.5544211, 3.7440428, 1.8623394), "4": (2.7852788, 2.9389745, 2.0241424),
    "5": (2.4588582, 2.6962490, 2.4277678), "6": (3.3357031, 3.5902852, 2.3088112),
}
INDOMETH_WNL_EXTRAVASCULAR_LOG = {  # Test 8: Indometh analysed as extravascular, down="Log" (0 assumed at time 0)
    #       LAMZNPT  LAMZ       AUCLST     AUCIFO     CLFO        MRTEVIFO
    "1": (3, 0.1583205, 1.7193653, 2.0351804, 12.2839234, 3.8413591),
    "2": (9, 0.3022800, 2.8891436, 3.1537989, 7.9269481, 2.9808604),
    "3": (10, 0.4218926, 2.8817113, 3.0713330, 8.1397881, 2.2797159),
    "4": (10, 0.4290762, 2.4442459, 2.6073871, 9.5881430, 2.3335200),
    "5": (8, 0.2527478, 1.9211984, 2.1585892, 11.5816384, 3.0428858),
    "6": (9, 0.3535205, 2.8413138, 3.0958959, 8.0752068, 2.6920666),
}
# WinNonlin (and NonCompart) let Cmax into an IV bolus terminal fit; PKNCA does not (allow.tmax.in.half.life=FALSE).
BOLUS_WNL = NcaOptions(route="intravascular", exclude_cmax=False)


def near(value: float, printed: float) -> bool:
    """Equal to a value printed with 7 decimals (half a unit of the 7th decimal, plus float slack)."""
    return value == pytest.approx(printed, abs=6e-8)


@pytest.mark.parametrize("subject", list(THEOPH_WNL_LOG))
def test_theoph_all_subjects_winnonlin_log_down(subject):
    npt, lz, r2adj, auclast, aucinf, pct, cl, vz, mrt = THEOPH_WNL_LOG[subject]
    r = nca(theoph(subject), 320.0)
    assert r.lambda_z_points == npt
    assert near(r.lambda_z, lz) and near(r.lambda_z_adj_r2, r2adj)
    assert near(r.auclast, auclast) and near(r.aucinf_obs, aucinf) and near(r.auc_pct_extrap, pct)
    assert near(r.cl, cl) and near(r.vz, vz) and near(r.mrt, mrt)
    assert r.c0 is None and r.notes == ()


@pytest.mark.parametrize("subject", list(THEOPH_WNL_LINEAR))
def test_theoph_all_subjects_winnonlin_linear(subject):
    auclast, aucinf, mrt = THEOPH_WNL_LINEAR[subject]
    r = nca(theoph(subject), 320.0, NcaOptions(auc_method="linear"))
    assert near(r.auclast, auclast) and near(r.aucinf_obs, aucinf) and near(r.mrt, mrt)


@pytest.mark.parametrize("subject", list(INDOMETH_WNL_BOLUS_LOG))
def test_indometh_bolus_c0_winnonlin_log_down(subject):
    npt, lz, c0, auclast, aucinf, cl, vz, mrt = INDOMETH_WNL_BOLUS_LOG[subject]
    r = nca(indometh(subject), 25.0, BOLUS_WNL)
    assert near(r.c0, c0)
    assert r.lambda_z_points == npt and near(r.lambda_z, lz)
    assert near(r.auclast, auclast) and near(r.aucinf_obs, aucinf)
    assert near(r.cl, cl) and near(r.vz, vz) and near(r.mrt, mrt)
    assert r.notes == ("C0 back-extrapolated log-linearly from the first two samples",)


@pytest.mark.parametrize("subject", list(INDOMETH_WNL_BOLUS_LINEAR))
def test_indometh_bolus_c0_winnonlin_linear(subject):
    auclast, aucinf, mrt = INDOMETH_WNL_BOLUS_LINEAR[subject]
    r = nca(indometh(subject), 25.0, NcaOptions(route="intravascular", exclude_cmax=False, auc_method="linear"))
    assert near(r.c0, INDOMETH_WNL_BOLUS_LOG[subject][2])  # C0 does not depend on the AUC method
    assert near(r.auclast, auclast) and near(r.aucinf_obs, aucinf) and near(r.mrt, mrt)


def test_indometh_bolus_pknca_default_excludes_cmax_from_lambda_z():
    # Subject 4 is the one whose WinNonlin bolus fit starts at Cmax (0.25 h, 11 points). With Cmax excluded (PKNCA's
    # default, and WinNonlin for a non-bolus route) the best fit is 10 points from 0.5 h, λz 0.4290762: the same table's
    # Tests 5-8 (infusion, extravascular) print LAMZNPT 10, LAMZ 0.4290762, LAMZLL 0.5 for subject 4.
    r = nca(indometh("4"), 25.0, NcaOptions(route="intravascular"))
    assert r.lambda_z_points == 10 and r.lambda_z_times[0] == 0.5 and near(r.lambda_z, 0.4290762)
    assert near(r.c0, 2.4622302)  # C0 is untouched by the λz rule


@pytest.mark.parametrize("subject", list(INDOMETH_WNL_EXTRAVASCULAR_LOG))
def test_indometh_extravascular_zero_at_time_zero_winnonlin(subject):
    npt, lz, auclast, aucinf, cl, mrt = INDOMETH_WNL_EXTRAVASCULAR_LOG[subject]
    r = nca(indometh(subject), 25.0)
    assert r.lambda_z_points == npt and near(r.lambda_z, lz)
    assert near(r.auclast, auclast) and near(r.aucinf_obs, aucinf) and near(r.cl, cl) and near(r.mrt, mrt)
    assert r.c0 is None and r.notes == ("no sample at time 0: concentration 0 assumed at time 0",)


def test_extravascular_without_time_zero_pknca_default_has_no_auc():
    # PKNCA without imputation: "Requesting an AUC range starting (0) before the first measurement (0.25) is not
    # allowed" (R/auc.R) – the AUC and everything built on it are NA; λz does not need time 0.
    r = nca(indometh("1"), 25.0, NcaOptions(start_conc0=False))
    assert r.auclast is None and r.aucinf_obs is None and r.cl is None and r.mrt is None
    assert near(r.lambda_z, 0.1583205)
    assert "AUC not estimable: no sample at time 0 (start_conc0 is off)" in r.notes


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


def test_zero_after_cmax_kept_is_linear_and_leaves_the_fit():
    samples = [Sample(0, 0), Sample(1, 10), Sample(2, 5), Sample(3, 0), Sample(4, 2)]
    r = nca(samples, 100.0, NcaOptions(blq_middle="keep"))
    # 0→1 linear 5; 1→2 log 5/ln2; 2→3 down to 0: linear 2.5; 3→4 up: linear 1
    assert r.auclast == pytest.approx(5 + 5 / LN2 + 2.5 + 1)
    assert (r.clast, r.tlast) == (2, 4)
    assert r.lambda_z is None  # only (2,5) and (4,2) are > 0 after Cmax
    assert any("2 point(s) above 0 after Cmax, 3 needed" in note for note in r.notes)
    assert not any("BLQ" in note for note in r.notes)


def test_zero_between_measurable_dropped_by_default():
    # PKNCA default conc.blq$middle = "drop": the 0 at t=3 goes, 2→4 is one log-down piece from 5 to 2.
    samples = [Sample(0, 0), Sample(1, 10), Sample(2, 5), Sample(3, 0), Sample(4, 2)]
    r = nca(samples, 100.0)
    assert r.auclast == pytest.approx(5 + 5 / LN2 + (5 - 2) * 2 / math.log(5 / 2))
    assert "1 BLQ (0) concentration(s) dropped (1 middle)" in r.notes


def test_leading_zero_kept_and_trailing_zero_ignored():
    samples = [Sample(0, 0), Sample(1, 4), Sample(2, 2), Sample(3, 0)]
    r = nca(samples, None)
    assert r.auclast == pytest.approx(2 + 2 / LN2)  # to Tlast = 2
    assert r.tlast == 2


def test_unsorted_input_is_sorted():
    assert nca(list(reversed(EXPO)), 100.0).auclast == pytest.approx(nca(EXPO, 100.0).auclast)


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


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"auc_method": "log"}, "auc_method"),
        ({"route": "oral"}, "route"),
        ({"min_points": 2}, "min_points"),
        ({"blq_first": "LLOQ/2"}, "blq_first"),
        ({"blq_middle": "Drop"}, "blq_middle"),
        ({"blq_last": None}, "blq_last"),
    ],
)
def test_bad_options(kwargs, name):
    with pytest.raises(NcaInputError, match=f"^{name}: "):
        NcaOptions(**kwargs)


# --- BLQ rules (PKNCA clean.conc.blq): 0 is BLQ; first / middle / last, each "keep" or "drop" -----------------------

# BLQ first: t=0, 0.5 (before the first measurable, t=1); middle: t=3 (between t=1 and the last measurable, t=4);
# last: t=5, 6. Hand-derived AUCs below; λz is never estimable (only 2 points > 0 after Cmax).
BLQ = [Sample(0, 0), Sample(0.5, 0), Sample(1, 8), Sample(2, 4), Sample(3, 0), Sample(4, 2), Sample(5, 0),
       Sample(6, 0)]


def test_blq_defaults_are_pknca_first_keep_middle_drop_last_keep():
    assert (NcaOptions().blq_first, NcaOptions().blq_middle, NcaOptions().blq_last) == ("keep", "drop", "keep")
    r = nca(BLQ, None)
    # 0→0.5 linear 0; 0.5→1 linear up 2; 1→2 log 4/ln2; 2→4 (t=3 dropped) log (4 − 2)·2/ln2
    assert r.auclast == pytest.approx(2 + 4 / LN2 + 4 / LN2)
    assert (r.clast, r.tlast) == (2, 4)
    assert "1 BLQ (0) concentration(s) dropped (1 middle)" in r.notes


def test_blq_middle_keep_integrates_the_zero_linearly():
    r = nca(BLQ, None, NcaOptions(blq_middle="keep"))
    assert r.auclast == pytest.approx(2 + 4 / LN2 + 2 + 1)  # 2→3 linear down to 0, 3→4 linear up
    assert not any("BLQ" in note for note in r.notes)


def test_blq_first_drop_then_zero_assumed_at_time_zero():
    # Dropping the leading zeros leaves the first sample at t=1; extravascular: conc 0 assumed at 0 → 0→1 linear 4.
    r = nca(BLQ, None, NcaOptions(blq_first="drop"))
    assert r.auclast == pytest.approx(4 + 8 / LN2)
    assert "3 BLQ (0) concentration(s) dropped (2 first, 1 middle)" in r.notes
    assert "no sample at time 0: concentration 0 assumed at time 0" in r.notes


def test_blq_last_drop_changes_no_auclast_but_is_counted():
    keep, drop = nca(BLQ, None), nca(BLQ, None, NcaOptions(blq_last="drop"))
    assert drop.auclast == keep.auclast and (drop.clast, drop.tlast) == (2, 4)
    assert "3 BLQ (0) concentration(s) dropped (1 middle, 2 last)" in drop.notes


def test_blq_keep_everywhere_drops_nothing():
    r = nca(BLQ, None, NcaOptions(blq_first="keep", blq_middle="keep", blq_last="keep"))
    assert not any("dropped" in note for note in r.notes)


def test_all_blq_are_first_points():
    # PKNCA: when every value is BLQ, the "first" rule applies to all of them.
    zeros = [Sample(0, 0), Sample(1, 0), Sample(2, 0)]
    assert "3 BLQ (0) concentration(s) dropped (3 first)" in nca(zeros, 1.0, NcaOptions(blq_first="drop")).notes
    kept = nca(zeros, 1.0, NcaOptions(blq_middle="drop", blq_last="drop"))
    assert not any("dropped" in note for note in kept.notes) and kept.cmax is None


def test_sample_is_positional_time_then_conc():
    assert Sample(1.5, 2.0) == Sample(time=1.5, conc=2.0)


# --- C0 (PKNCA pk.calc.c0 order c0, logslope, c1, cmin, set0) and the start of the AUC ------------------------------

IV = NcaOptions(route="intravascular")


def test_c0_logslope_hand_derived():
    # First two samples (0.5, 10), (1, 8): ln C0 = ln 10 + ln(10/8)/0.5·0.5 → C0 = 10·10/8 = 12.5.
    samples = [Sample(0.5, 10), Sample(1, 8), Sample(2, 4), Sample(4, 1)]
    r = nca(samples, 100.0, IV)
    assert r.c0 == pytest.approx(12.5)
    assert r.cmax == 10 and r.tmax == 0.5  # C0 is not an observation
    k = math.log(12.5 / 10) / 0.5  # the back-extrapolated line is the first interval's exponential
    auclast = (12.5 - 10) / k + 2 * 0.5 / math.log(1.25) + 4 / LN2 + 3 * 2 / math.log(4)
    assert r.auclast == pytest.approx(auclast)
    linear = nca(samples, 100.0, NcaOptions(route="intravascular", auc_method="linear"))
    assert linear.auclast == pytest.approx((12.5 + 10) / 2 * 0.5 + 9 * 0.5 + 6 + 5)
    assert "C0 back-extrapolated log-linearly from the first two samples" in r.notes


def test_c0_observed_at_time_zero_is_used():
    samples = [Sample(0, 20), Sample(1, 10), Sample(2, 5)]
    r = nca(samples, 100.0, IV)
    assert r.c0 == 20 and r.auclast == pytest.approx(10 / LN2 + 5 / LN2)
    assert not any("C0" in note for note in r.notes)


def test_c0_zero_at_time_zero_is_replaced_by_the_back_extrapolation():
    # PKNCA method "c0" takes an observed C0 only if it is not 0 (a predose BLQ is not the bolus concentration);
    # logslope from (1, 10), (2, 5) gives 20 and the AUC starts at (0, 20), as PKNCA's aucivlast does.
    r = nca([Sample(0, 0), Sample(1, 10), Sample(2, 5)], 100.0, IV)
    assert r.c0 == pytest.approx(20)
    assert r.auclast == pytest.approx(10 / LN2 + 5 / LN2)


def test_c0_first_sample_when_the_first_two_do_not_decline():
    samples = [Sample(0.5, 4), Sample(1, 6), Sample(2, 3)]
    r = nca(samples, 100.0, IV)
    assert r.c0 == 4  # method c1
    assert r.auclast == pytest.approx(4 * 0.5 + 5 * 0.5 + 3 / LN2)  # 0→0.5 flat at 4, 0.5→1 linear up, 1→2 log
    assert "C0 taken as the first sample after time 0 (the first two do not decline)" in r.notes


def test_c0_first_sample_when_the_second_is_blq():
    # logslope needs the second sample above 0 (PKNCA: c2 != 0); the kept last BLQ makes it c1.
    r = nca([Sample(1, 5), Sample(2, 0)], 100.0, IV)
    assert r.c0 == 5 and r.auclast == pytest.approx(5)  # flat from 0 to Tlast = 1


def test_c0_single_sample():
    r = nca([Sample(2, 5)], 100.0, IV)
    assert r.c0 == 5 and r.auclast is None
    assert nca([Sample(2, 5)], 100.0).c0 is None  # extravascular: no C0


def test_extravascular_time_zero_conc_zero_is_inserted_only_when_missing():
    with_zero = nca([Sample(0, 0), Sample(1, 4), Sample(2, 2)], None)
    without = nca([Sample(1, 4), Sample(2, 2)], None)
    assert without.auclast == with_zero.auclast == pytest.approx(2 + 2 / LN2)
    assert "no sample at time 0: concentration 0 assumed at time 0" in without.notes
    assert not any("time 0" in note for note in with_zero.notes)


def test_predose_sample_is_not_in_the_auc():
    r = nca([Sample(-0.5, 0.4), Sample(0, 0.5), Sample(1, 4), Sample(2, 2)], None)
    assert r.auclast == pytest.approx((0.5 + 4) / 2 + 2 / LN2)  # from the dose at 0, not from −0.5 h


def test_c0_cmin_when_nothing_follows_the_dose():
    # PKNCA order: no C0 above 0 at time 0, no sample after 0 (logslope, c1 fail) → Cmin of the interval.
    r = nca([Sample(-1, 2), Sample(0, 0)], 100.0, IV)
    assert r.c0 == 0 and "C0 taken as Cmin (no sample after time 0)" in r.notes


def test_an_infusion_starts_from_its_predose_sample_and_its_mrt_subtracts_half_the_duration():
    """A 1-hour infusion: the pre-dose 0 at time 0 is where the AUC starts (a bolus would back-extrapolate C0
    from the first two samples instead), and MRT = AUMCinf/AUCinf − 1/2 (PKNCA mrt.iv.obs)."""
    samples = [Sample(0, 0.0), Sample(1, 40.0), Sample(4, 30.0), Sample(24, 15.0), Sample(72, 5.0), Sample(168, 0.6)]
    bolus = nca(samples, 100, NcaOptions(route="intravascular"))
    infusion = nca(samples, 100, NcaOptions(route="intravascular", duration=1.0))
    extravascular = nca(samples, 100, NcaOptions(route="extravascular"))
    assert bolus.c0 is not None and bolus.c0 > 40  # logslope from 1 h and 4 h
    assert infusion.c0 is None
    # The infusion's AUC is the extravascular one (both start at (0, 0)); a bolus's is larger.
    assert infusion.auclast == pytest.approx(extravascular.auclast)
    assert bolus.auclast > infusion.auclast
    assert infusion.mrt == pytest.approx(extravascular.mrt - 0.5)
    assert infusion.cl == pytest.approx(100 / infusion.aucinf_obs)


@pytest.mark.parametrize(("options", "message"), [
    ({"duration": -1, "route": "intravascular"}, "duration: -1 must be a number of hours >= 0"),
    ({"duration": 1.0}, "an infusion duration is for an intravascular dose"),
])
def test_infusion_duration_is_checked(options, message):
    with pytest.raises(NcaInputError, match=message):
        NcaOptions(**options)
