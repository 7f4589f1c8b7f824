"""Kaplan–Meier curves, medians and exact rate intervals against R's published output.

Sources of the expected values (R output, not this module's):

- ``therneau/survival`` ``tests/doaml.Rout.save``: ``summary(survfit(Surv(time, status) ~ x, aml))`` and its
  ``print`` (median 31, 0.95LCL 18, UCL NA; 23, 8, NA).
- ``emilyvertosick/Statistics-Course`` ``docs/07-week7.md`` (knitted R): the same 23 ``aml`` patients pooled
  (``example7a``: identical times, status and log-rank table): ``summary(survfit(...~1))``, its ``print``
  (n 23, events 18, median 27, 0.95LCL 18, UCL 45) and ``summary(..., times = c(12, 24, 60))`` (n.risk 18, 11, 1).
- ``therneau/survival`` ``tests/ovarian.Rout.save``: ``summary(survfit(Surv(futime, fustat) ~ 1), censor=TRUE)``
  on ``ovarian`` (26 distinct times, so the rows are the data).
- ``therneau/survival`` ``tests/quantile.R``: ``quantile(fit, 1 - qq)`` on its ``test1`` data.
- R ``binom.test``: scipy's ``stats/tests/test_morestats.py`` ("Expected results here are from R 3.6.2
  binom.test": 0/10, 10/10, 20/100, 3/50 at 99 %) and ``binom.test(3, 12)$conf.int`` =
  0.05486064 0.57185846 (R session comments in public course scripts).

R prints rounded values; each is checked to half a unit of its last printed digit.
"""

from __future__ import annotations

import math

import pytest

from trialrules.survival import CurvePoint, KaplanMeier, exact_rate, kaplan_meier

# R survival::aml (= ../shared/reference/aml.csv): weeks to relapse, status 1 = relapse.
AML_MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1), (45, 0), (48, 1), (161, 0)]
AML_NONMAINTAINED = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1), (30, 1), (33, 1),
                     (43, 1), (45, 1)]


def fit(pairs, group=None, **kwargs) -> KaplanMeier:
    return kaplan_meier([t for t, _ in pairs], [e for _, e in pairs], group, **kwargs)


def close(actual: float | None, printed: str) -> bool:
    """`actual` equals R's `printed` value to half a unit in its last digit ("NA" = None)."""
    if printed == "NA":
        return actual is None
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return actual is not None and abs(actual - float(printed)) <= 0.5 * 10**-decimals + 1e-12


def check_rows(km: KaplanMeier, table: str) -> None:
    """Each R row "time n.risk n.event survival std.err lower upper" equals the curve point at that time."""
    by_time = {p.time: p for p in km.curve}
    for line in table.strip().splitlines():
        time, n_risk, n_event, survival, _se, lower, upper = line.split()
        point = by_time[float(time)]
        assert (point.n_risk, point.n_event) == (int(n_risk), int(n_event)), line
        assert close(point.survival, survival), (line, point)
        assert close(point.lower, lower), (line, point)
        assert close(point.upper, upper), (line, point)


# ------------------------------------------------------------------------------------------------
# aml by group: therneau/survival tests/doaml.Rout.save
# ------------------------------------------------------------------------------------------------

MAINTAINED_R = """
    9     11       1    0.909  0.0867       0.7541        1.000
   13     10       1    0.818  0.1163       0.6192        1.000
   18      8       1    0.716  0.1397       0.4884        1.000
   23      7       1    0.614  0.1526       0.3769        0.999
   31      5       1    0.491  0.1642       0.2549        0.946
   34      4       1    0.368  0.1627       0.1549        0.875
   48      2       1    0.184  0.1535       0.0359        0.944
"""

NONMAINTAINED_R = """
    5     12       2   0.8333  0.1076       0.6470        1.000
    8     10       2   0.6667  0.1361       0.4468        0.995
   12      8       1   0.5833  0.1423       0.3616        0.941
   23      6       1   0.4861  0.1481       0.2675        0.883
   27      5       1   0.3889  0.1470       0.1854        0.816
   30      4       1   0.2917  0.1387       0.1148        0.741
   33      3       1   0.1944  0.1219       0.0569        0.664
   43      2       1   0.0972  0.0919       0.0153        0.620
   45      1       1   0.0000     NaN           NA           NA
"""


def test_aml_maintained_matches_r_summary_and_print():
    km = fit(AML_MAINTAINED, "Maintained")
    assert (km.group, km.n, km.events) == ("Maintained", 11, 7)
    assert (km.median, km.lower, km.upper) == (31, 18, None)
    check_rows(km, MAINTAINED_R)


def test_aml_nonmaintained_matches_r_summary_and_print():
    km = fit(AML_NONMAINTAINED, "Nonmaintained")
    assert (km.n, km.events) == (12, 11)
    assert (km.median, km.lower, km.upper) == (23, 8, None)
    check_rows(km, NONMAINTAINED_R)
    last = km.curve[-1]
    assert (last.survival, last.lower, last.upper) == (0.0, None, None)  # R: 0, NA, NA


def test_one_row_per_distinct_time_including_censorings():
    km = fit(AML_MAINTAINED)
    # summary(censored = TRUE): every distinct time; 13 has an event and a censoring: one row.
    assert [p.time for p in km.curve] == [9, 13, 18, 23, 28, 31, 34, 45, 48, 161]
    by_time = {p.time: p for p in km.curve}
    # A censoring-only row: n.risk counts those followed to >= t, no event, the curve carried over.
    assert (by_time[28].n_risk, by_time[28].n_event) == (6, 0)
    assert by_time[28].survival == by_time[23].survival
    assert (by_time[28].lower, by_time[28].upper) == (by_time[23].lower, by_time[23].upper)
    assert (by_time[161].n_risk, by_time[161].n_event) == (1, 0)
    assert all(isinstance(p, CurvePoint) for p in km.curve)


def test_censoring_before_the_first_event_is_one_with_a_degenerate_interval():
    # R: before any event S = 1, std.err 0, lower = upper = 1 (log interval of 1 with se 0).
    km = kaplan_meier([2, 5, 7], [0, 1, 0])
    first = km.curve[0]
    assert (first.time, first.n_risk, first.n_event) == (2, 3, 0)
    assert (first.survival, first.lower, first.upper) == (1.0, 1.0, 1.0)


# ------------------------------------------------------------------------------------------------
# aml pooled: emilyvertosick/Statistics-Course docs/07-week7.md (R output)
# ------------------------------------------------------------------------------------------------

POOLED_R = """
    5     23       2   0.9130  0.0588       0.8049        1.000
    8     21       2   0.8261  0.0790       0.6848        0.996
    9     19       1   0.7826  0.0860       0.6310        0.971
   12     18       1   0.7391  0.0916       0.5798        0.942
   13     17       1   0.6957  0.0959       0.5309        0.912
   18     14       1   0.6460  0.1011       0.4753        0.878
   23     13       2   0.5466  0.1073       0.3721        0.803
   27     11       1   0.4969  0.1084       0.3240        0.762
   30      9       1   0.4417  0.1095       0.2717        0.718
   31      8       1   0.3865  0.1089       0.2225        0.671
   33      7       1   0.3313  0.1064       0.1765        0.622
   34      6       1   0.2761  0.1020       0.1338        0.569
   43      5       1   0.2208  0.0954       0.0947        0.515
   45      4       1   0.1656  0.0860       0.0598        0.458
   48      2       1   0.0828  0.0727       0.0148        0.462
"""


def test_aml_pooled_matches_r_including_the_upper_limit_of_the_median():
    km = fit(AML_MAINTAINED + AML_NONMAINTAINED)
    assert (km.group, km.n, km.events) == (None, 23, 18)
    check_rows(km, POOLED_R)
    # print(): median 27, 0.95LCL 18, 0.95UCL 45. The upper curve is 0.458 at 45 and rises to 0.462 at 48:
    # the limit is the first time the upper curve is <= 0.5.
    assert (km.median, km.lower, km.upper) == (27, 18, 45)


def test_at_risk_matches_r_summary_times():
    km = fit(AML_MAINTAINED + AML_NONMAINTAINED)
    # summary(fit, times = c(12, 24, 60))$n.risk = 18, 11, 1 (published); at 0 everyone (23); after the last
    # observed time (161) nobody (R with extend = TRUE: 0).
    assert km.at_risk([12, 24, 60]) == [18, 11, 1]
    assert km.at_risk([0, 5, 161, 162]) == [23, 23, 1, 0]


def test_at_risk_refuses_a_non_number():
    with pytest.raises(ValueError, match=r"times\[1\]: expected a number"):
        fit(AML_MAINTAINED).at_risk([1, "x"])


# ------------------------------------------------------------------------------------------------
# ovarian: therneau/survival tests/ovarian.Rout.save, summary(..., censor = TRUE)
# ------------------------------------------------------------------------------------------------

OVARIAN_R = """
   59     26       1    0.962  0.0377        0.890        1.000
  115     25       1    0.923  0.0523        0.826        1.000
  156     24       1    0.885  0.0627        0.770        1.000
  268     23       1    0.846  0.0708        0.718        0.997
  329     22       1    0.808  0.0773        0.670        0.974
  353     21       1    0.769  0.0826        0.623        0.949
  365     20       1    0.731  0.0870        0.579        0.923
  377     19       0    0.731  0.0870        0.579        0.923
  421     18       0    0.731  0.0870        0.579        0.923
  431     17       1    0.688  0.0919        0.529        0.894
  448     16       0    0.688  0.0919        0.529        0.894
  464     15       1    0.642  0.0965        0.478        0.862
  475     14       1    0.596  0.0999        0.429        0.828
  477     13       0    0.596  0.0999        0.429        0.828
  563     12       1    0.546  0.1032        0.377        0.791
  638     11       1    0.497  0.1051        0.328        0.752
  744     10       0    0.497  0.1051        0.328        0.752
  769      9       0    0.497  0.1051        0.328        0.752
  770      8       0    0.497  0.1051        0.328        0.752
  803      7       0    0.497  0.1051        0.328        0.752
  855      6       0    0.497  0.1051        0.328        0.752
 1040      5       0    0.497  0.1051        0.328        0.752
 1106      4       0    0.497  0.1051        0.328        0.752
 1129      3       0    0.497  0.1051        0.328        0.752
 1206      2       0    0.497  0.1051        0.328        0.752
 1227      1       0    0.497  0.1051        0.328        0.752
"""


def test_ovarian_censored_summary_matches_r():
    rows = [line.split() for line in OVARIAN_R.strip().splitlines()]
    # 26 distinct times, n.risk falling by one per row: each row is one patient (futime, fustat).
    km = kaplan_meier([float(r[0]) for r in rows], [int(r[2]) for r in rows])
    assert (km.n, km.events) == (26, 12)
    assert [p.time for p in km.curve] == [float(r[0]) for r in rows]
    check_rows(km, OVARIAN_R)
    # By hand from that published curve: S first <= 0.5 at 638 (0.497), the lower curve at 464 (0.478), the upper
    # curve never (0.752 at its lowest).
    assert (km.median, km.lower, km.upper) == (638, 464, None)


# ------------------------------------------------------------------------------------------------
# Medians: the midpoint rule; quantile(): therneau/survival tests/quantile.R
# ------------------------------------------------------------------------------------------------


def test_uncensored_median_is_the_ordinary_median():
    # R documents that the midpoint rule "mirrors the standard behavior of the median when data is uncensored":
    # S(5) = 0.5 exactly, next drop at 6 -> 5.5 (statsmodels' SurvfuncRight.quantile would say 6).
    assert kaplan_meier(list(range(1, 11)), [1] * 10).median == 5.5


def test_median_flat_at_half_to_the_end_is_its_start_as_print_survfit():
    # By hand from R's survmean/minmin: S = 0.75 after 1, 0.5 after 2 and to the end (censored at 3, 4):
    # no later drop, so print() gives 2; quantile.survfit's findq gives the midpoint with the last time, 3.
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0])
    assert km.median == 2
    assert km.quantile(0.5)[0] == 3


TEST1 = [(9, 1), (1, 1), (1, 0), (6, 1), (6, 1), (8, 0), (10, 0)]  # tests/quantile.R test1 without its NA row
TEST1_X = [0, 1, 1, 1, 0, 0, 0]
QQ = [13 / 14, 6 / 7, 2 / 3, 0.5, 9 / 35, 0.1]


def test_quantile_matches_r_quantile_test_overall():
    km = fit(TEST1)
    got = [km.quantile(1 - q) for q in QQ]
    assert [g[0] for g in got] == [1, 3.5, 6, 9, 9.5, None]
    assert [g[1] for g in got] == [1, 1, 1, 6, 6, 9]
    assert [g[2] for g in got] == [None] * 6


@pytest.mark.parametrize(
    ("x", "quantiles", "lower"),
    [
        (0, [6, 6, 9, 9, None, None], [6, 6, 6, 6, 9, 9]),  # curve 0: (t=6, S=3/4), (t=9, S=3/8)
        (1, [1, 1, 3.5, 6, 6, 6], [1, 1, 1, 1, None, None]),  # curve 1: (t=1, S=2/3), (t=6, S=0)
    ],
)
def test_quantile_matches_r_quantile_test_by_stratum(x, quantiles, lower):
    km = fit([pair for pair, group in zip(TEST1, TEST1_X, strict=True) if group == x])
    got = [km.quantile(1 - q) for q in QQ]
    assert [g[0] for g in got] == quantiles
    assert [g[1] for g in got] == lower
    assert [g[2] for g in got] == [None] * 6


def test_quantile_refuses_probabilities_outside_0_1():
    km = fit(TEST1)
    for bad in (0, 1, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="prob"):
            km.quantile(bad)


def test_conf_level_changes_the_interval():
    # By hand: Maintained at t=9, S = 10/11, se(log S) = sqrt(1/(11*10)); at 90 % z = 1.6449 (qnorm(0.95)).
    km = fit(AML_MAINTAINED, conf=0.90)
    s, se = 10 / 11, math.sqrt(1 / 110)
    assert km.curve[0].lower == pytest.approx(s * math.exp(-1.6448536269514722 * se), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "events", "message"),
    [
        ([1, 2], [1], r"2 times but 1 event"),
        ([], [], r"times: no observations"),
        ([1, -2], [1, 1], r"times\[1\]: must be 0 or more"),
        ([1, math.nan], [1, 1], r"times\[1\]: must be finite"),
        ([1, "3"], [1, 1], r"times\[1\]: expected a number"),
        ([1, 2], [1, 2], r"events\[1\]: expected 1 \(event\) or 0 \(censored\), got 2"),
        ([1, 2], [1, "1"], r"events\[1\]"),
        ("12", "10", r"expected sequences"),
    ],
)
def test_kaplan_meier_bad_input_names_the_element(times, events, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(times, events)


@pytest.mark.parametrize("conf", [0, 1, 1.5, -0.5])
def test_kaplan_meier_refuses_conf_outside_0_1(conf):
    with pytest.raises(ValueError, match="conf"):
        kaplan_meier([1, 2], [1, 0], conf=conf)


def test_booleans_are_events():
    assert fit([(1, True), (2, False), (3, True)]).events == 2


# ------------------------------------------------------------------------------------------------
# Exact (Clopper–Pearson) rate intervals: R binom.test
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "conf", "lower", "upper"),
    [
        (0, 10, 0.95, "0", "0.3084971"),
        (10, 10, 0.95, "0.6915029", "1"),
        (3, 12, 0.95, "0.05486064", "0.57185846"),
        (20, 100, 0.95, "0.1266555521019559", "0.2918426890886281"),
        (3, 50, 0.99, "0.006872485", "0.202706269"),
    ],
)
def test_exact_rate_matches_r_binom_test(k, n, conf, lower, upper):
    rate, low, high = exact_rate(k, n, conf)
    assert rate == k / n
    assert close(low, lower) and close(high, upper)


def test_exact_rate_boundaries_are_exactly_0_and_1():
    assert exact_rate(0, 10)[1] == 0.0
    assert exact_rate(10, 10)[2] == 1.0


@pytest.mark.parametrize(
    ("k", "n", "message"),
    [
        (11, 10, r"responders: 11 is more than n = 10"),
        (-1, 10, r"responders: must be 0 or more"),
        (0, 0, r"n: must be at least 1"),
        (1.0, 10, r"responders: expected a whole number"),
        (True, 10, r"responders: expected a whole number"),
        (1, "10", r"n: expected a whole number"),
    ],
)
def test_exact_rate_bad_input(k, n, message):
    with pytest.raises(ValueError, match=message):
        exact_rate(k, n)
