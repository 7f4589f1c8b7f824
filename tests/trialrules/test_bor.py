"""Best overall response (trialrules.bor) against pharmaverse admiralonco.

Where the expected values come from:

- ``ADMIRALONCO_*``: the data and expected results of admiralonco's own testthat files
  (tests/testthat/test-derive_param_confirmed_bor.R, tests/testthat/test-derive_param_bor.R, pharmaverse/admiralonco
  commit 370156eb0dbc47d75811bfe9a646c40af77c910a) and of the example printed on the admiralonco 1.4.0
  reference page of ``derive_param_confirmed_bor()``. Each case names its source test. Subjects those sources derive
  with features this module does not have (``"ND"`` responses, ``missing_as_ne = TRUE``) are left out and
  named.
- ``HAND``: corner cases derived by hand from the rules in admiralonco's R source. Each case carries its
  derivation. Dates are days after the first dose ``D0``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from trialrules.bor import (
    MISSING,
    Assessment,
    Bor,
    BorInputError,
    BorOptions,
    best_overall_response,
    first_progression,
)


def ymd(text: str) -> date:
    return date.fromisoformat(text)


def points(*rows: tuple[str, str]) -> list[Assessment]:
    return [Assessment(ymd(d), r) for d, r in rows]


# admiralonco's testthat data ---------------------------------------------------------------------------------
# test-derive_param_confirmed_bor.R: adsl (TRTSDT) and adrs (PARAMCD == "OVR"). Subject 9 also has a PD record
# (PARAMCD == "PD") on 2020-02-16, the date of its PD time point, so until_first_pd reproduces its source_pd.
CONFIRMED_TESTTHAT = {
    "1": ("2020-01-01", points(("2020-01-01", "PR"), ("2020-02-01", "CR"), ("2020-02-16", "NE"),
                               ("2020-03-01", "CR"), ("2020-04-01", "SD"))),
    "2": ("2019-12-12", points(("2020-01-01", "SD"), ("2020-02-01", "PR"), ("2020-03-01", "SD"),
                               ("2020-03-13", "CR"))),
    "3": ("2019-11-11", points(("2019-11-12", "CR"), ("2019-12-02", "CR"), ("2020-01-01", "SD"))),
    "4": ("2019-12-30", points(("2020-01-01", "PR"), ("2020-03-01", "SD"), ("2020-04-01", "SD"),
                               ("2020-05-01", "PR"), ("2020-05-15", "NON-CR/NON-PD"))),
    "5": ("2020-01-01", points(("2020-01-01", "PR"), ("2020-01-10", "SD"), ("2020-01-20", "PR"),
                               ("2020-05-15", "NON-CR/NON-PD"))),
    "6": ("2020-02-02", points(("2020-02-06", "PR"), ("2020-02-16", "CR"), ("2020-03-30", "PR"))),
    "7": ("2020-02-02", points(("2020-02-06", "PR"), ("2020-02-16", "CR"), ("2020-04-01", "NE"))),
    "8": ("2020-04-01", []),
    "9": ("2020-02-01", points(("2020-02-16", "PD"), ("2020-03-06", "SD"))),
}

# The example on the admiralonco 1.4.0 reference page of derive_param_confirmed_bor(): subjects 1-5, 7 and 8 as
# above (subject 8 with TRTSDT 2020-04-01, no assessment); subjects 6 and 9 differ. Subject 6's PD record is
# on 2020-04-12, the date of its PD time point.
EXAMPLE_1_4_0 = {
    **{k: v for k, v in CONFIRMED_TESTTHAT.items() if k not in ("6", "9")},
    "6": ("2020-02-02", points(("2020-02-06", "PR"), ("2020-02-16", "CR"), ("2020-03-30", "PR"),
                               ("2020-04-12", "PD"), ("2020-05-01", "CR"), ("2020-06-01", "CR"))),
    "9": ("2020-03-01", points(("2020-03-16", "CR"), ("2020-04-01", "NE"), ("2020-04-16", "NE"),
                               ("2020-05-01", "CR"))),
}

# test-derive_param_bor.R: adsl and adrs (subjects 1-8, the same as the confirmed tests' 1-8).
UNCONFIRMED_TESTTHAT = {k: v for k, v in CONFIRMED_TESTTHAT.items() if k != "9"}

ADMIRALONCO_CONFIRMED = [
    # (source, data, subject, options, expected BOR, expected ADT)
    *[("derive_param_confirmed_bor Test 1: default confirmed BOR", CONFIRMED_TESTTHAT, s,
       BorOptions(ref_start_window=28, ref_confirm=28, until_first_pd=True), bor, adt)
      for s, bor, adt in [("1", "CR", "2020-02-01"), ("2", "SD", "2020-02-01"), ("3", "SD", "2020-01-01"),
                          ("4", "SD", "2020-03-01"), ("5", "NON-CR/NON-PD", "2020-05-15"),
                          ("6", "SD", "2020-03-30"), ("7", "NE", "2020-02-06"), ("8", MISSING, None),
                          ("9", "PD", "2020-02-16")]],
    # Test 2 also derives subject 7 from an "ND" time point (BOR ND) and subject 8 with missing_as_ne = TRUE
    # (BOR NE): neither exists here, so those two are not ported.
    *[("derive_param_confirmed_bor Test 2: accept SD, ND handling, missing as NE", CONFIRMED_TESTTHAT, s,
       BorOptions(ref_start_window=28, ref_confirm=14, max_nr_ne=0, accept_sd=True, until_first_pd=True), bor, adt)
      for s, bor, adt in [("1", "PR", "2020-01-01"), ("2", "PR", "2020-02-01"), ("3", "CR", "2019-11-12"),
                          ("4", "SD", "2020-03-01"), ("5", "PR", "2020-01-01"), ("6", "SD", "2020-03-30"),
                          ("9", "PD", "2020-02-16")]],
    *[("derive_param_confirmed_bor Test 4: No source_pd", CONFIRMED_TESTTHAT, s,
       BorOptions(ref_start_window=28, ref_confirm=28), bor, adt)
      for s, bor, adt in [("1", "CR", "2020-02-01"), ("2", "SD", "2020-02-01"), ("3", "SD", "2020-01-01"),
                          ("4", "SD", "2020-03-01"), ("5", "NON-CR/NON-PD", "2020-05-15"),
                          ("6", "SD", "2020-03-30"), ("7", "NE", "2020-02-06"), ("8", MISSING, None),
                          ("9", "SD", "2020-03-06")]],
    *[("reference page 1.4.0, example 1 (source_pd, ref_start_window = 28, ref_confirm = 28)", EXAMPLE_1_4_0, s,
       BorOptions(ref_start_window=28, ref_confirm=28, until_first_pd=True), bor, adt)
      for s, bor, adt in [("1", "CR", "2020-02-01"), ("2", "SD", "2020-02-01"), ("3", "SD", "2020-01-01"),
                          ("4", "SD", "2020-03-01"), ("5", "NON-CR/NON-PD", "2020-05-15"),
                          ("6", "SD", "2020-03-30"), ("7", "NE", "2020-02-06"), ("8", MISSING, None),
                          ("9", "SD", "2020-05-01")]],
    # Example 2 also has missing_as_ne = TRUE, which gives subject 8 NE: not ported.
    *[("reference page 1.4.0, example 2 (max_nr_ne = 2, accept_sd = TRUE)", EXAMPLE_1_4_0, s,
       BorOptions(ref_start_window=28, ref_confirm=28, max_nr_ne=2, accept_sd=True, until_first_pd=True), bor, adt)
      for s, bor, adt in [("1", "CR", "2020-02-01"), ("2", "PR", "2020-02-01"), ("3", "SD", "2020-01-01"),
                          ("4", "SD", "2020-03-01"), ("5", "NON-CR/NON-PD", "2020-05-15"),
                          ("6", "SD", "2020-03-30"), ("7", "NE", "2020-02-06"), ("9", "CR", "2020-03-16")]],
]


@pytest.mark.parametrize("source,data,subject,options,expected,adt", ADMIRALONCO_CONFIRMED,
                         ids=[f"{c[0].split(':')[0]}-subject{c[2]}" for c in ADMIRALONCO_CONFIRMED])
def test_admiralonco_confirmed(source, data, subject, options, expected, adt):
    first_dose, assessments = data[subject]
    result = best_overall_response(assessments, ymd(first_dose), options)
    assert (result.bor, result.date) == (expected, ymd(adt) if adt else None), source


def test_admiralonco_confirmed_test3_invalid_response():
    """derive_param_confirmed_bor Test 3: error if invalid response values ("iCR")."""
    assessments = points(("2020-01-01", "PR"), ("2020-02-01", "CR"), ("2020-02-16", "NE"), ("2020-03-01", "iCR"),
                         ("2020-04-01", "SD"))
    with pytest.raises(BorInputError, match=r"assessments\[3\]\.response: unknown response 'iCR'"):
        best_overall_response(assessments, ymd("2020-01-01"), BorOptions(ref_start_window=28))


# derive_param_bor: test-derive_param_bor.R, ref_start_window = 28, no source_pd.
SUBJECT7_BEFORE_DOSE = points(("2020-01-01", "PR"), ("2020-01-02", "CR"), ("2020-01-03", "NE"))  # adrs_01
SUBJECT7_ONLY_EARLY_SD = points(("2020-01-01", "SD"), ("2020-01-02", "SD"), ("2020-01-03", "SD"))  # adrs_02
# Test 2's source_pd comes from PD records that are not time points (subject 2: 2020-03-01; subject 6:
# 2020-02-05), so the restriction filter_pd makes (ADT <= PD date) is applied here by hand.
SUBJECT2_UP_TO_PD = [a for a in UNCONFIRMED_TESTTHAT["2"][1] if a.date <= ymd("2020-03-01")]
SUBJECT6_UP_TO_PD = [a for a in UNCONFIRMED_TESTTHAT["6"][1] if a.date <= ymd("2020-02-05")]

ADMIRALONCO_UNCONFIRMED = [
    *[("derive_param_bor Test 1: No source_pd (expected_01)", s, *UNCONFIRMED_TESTTHAT[s], bor, adt)
      for s, bor, adt in [("1", "CR", "2020-02-01"), ("2", "CR", "2020-03-13"), ("3", "CR", "2019-11-12"),
                          ("4", "PR", "2020-01-01"), ("5", "PR", "2020-01-01"), ("6", "CR", "2020-02-16"),
                          ("7", "CR", "2020-02-16"), ("8", MISSING, None)]],
    ("derive_param_bor Test 1: records before the reference date (PR/CR) count (expected_02)", "7",
     "2020-02-02", SUBJECT7_BEFORE_DOSE, "CR", "2020-01-02"),
    ("derive_param_bor Test 1: only SD before the reference date gives NE (expected_03)", "7",
     "2020-02-02", SUBJECT7_ONLY_EARLY_SD, "NE", "2020-01-01"),
    ("derive_param_bor Test 2: With source_pd (subject 2 now PR)", "2", "2019-12-12", SUBJECT2_UP_TO_PD,
     "PR", "2020-02-01"),
    ("derive_param_bor Test 2: With source_pd (subject 6 now MISSING)", "6", "2020-02-02", SUBJECT6_UP_TO_PD,
     MISSING, None),
]


@pytest.mark.parametrize("source,subject,first_dose,assessments,expected,adt", ADMIRALONCO_UNCONFIRMED,
                         ids=[f"{c[0].split(':')[0]}-subject{c[1]}-{i}" for i, c in enumerate(ADMIRALONCO_UNCONFIRMED)])
def test_admiralonco_unconfirmed(source, subject, first_dose, assessments, expected, adt):
    result = best_overall_response(assessments, ymd(first_dose), BorOptions(ref_start_window=28, confirmed=False))
    assert (result.bor, result.date) == (expected, ymd(adt) if adt else None), source


# Hand-derived corner cases -----------------------------------------------------------------------------------
D0 = date(2026, 1, 5)
DEFAULT = BorOptions(ref_start_window=35)  # ref_confirm 28, max_nr_ne 1, accept_sd off, confirmed


def days(*rows: tuple[int, str]) -> list[Assessment]:
    return [Assessment(D0 + timedelta(days=n), r) for n, r in rows]


HAND = [
    # (name, assessments, options, expected BOR, day of ADT, days of the evidence, derivation)
    ("PR confirmed by PR exactly 28 days later", days((42, "PR"), (70, "PR")), DEFAULT, "PR", 42, (42, 70),
     "PR d42: first CR/PR at >= d70 is PR d70; period [PR] all allowed -> confirmed"),
    ("27 days is too soon", days((42, "PR"), (69, "PR")), DEFAULT, "SD", 42, (42,),
     "PR d42: no CR/PR at >= d70 -> not confirmed; PR d69 nothing later; SD from PR d42 (>= d35)"),
    ("PR confirmed by a CR", days((42, "PR"), (84, "CR")), DEFAULT, "PR", 42, (42, 84),
     "PR d42: first CR/PR >= d70 is CR d84, period [CR] -> PR; CR d84 has no CR later"),
    ("CR confirmed by CR with one NE between", days((42, "CR"), (56, "NE"), (84, "CR")), DEFAULT, "CR", 42,
     (42, 84), "CR d42: first CR >= d70 is d84; period [NE, CR]: 1 NE <= max_nr_ne 1 -> CR"),
    ("two NE between exceed max_nr_ne = 1", days((42, "CR"), (56, "NE"), (70, "NE"), (84, "CR")), DEFAULT,
     "SD", 42, (42,), "CR d42: period [NE, NE, CR]: 2 NE > 1 -> not confirmed; SD from CR d42"),
    ("two NE between accepted with max_nr_ne = 2", days((42, "CR"), (56, "NE"), (70, "NE"), (84, "CR")),
     BorOptions(ref_start_window=35, max_nr_ne=2), "CR", 42, (42, 84), "2 NE <= 2 -> CR d42"),
    ("NE at the confirmation time, confirmed at the next scan", days((42, "PR"), (84, "NE"), (126, "PR")),
     DEFAULT, "PR", 42, (42, 126), "PR d42: NE d84 cannot confirm, first CR/PR >= d70 is PR d126; period [NE, PR]"),
    ("PD before the confirmation", days((42, "PR"), (63, "PD"), (84, "PR")), DEFAULT, "SD", 42, (42,),
     "PR d42: period [PD, PR]: PD not allowed -> not confirmed; SD from PR d42 beats PD d63"),
    ("PD before the confirmation, until first PD", days((42, "PR"), (63, "PD"), (84, "PR")),
     BorOptions(ref_start_window=35, until_first_pd=True), "SD", 42, (42,),
     "only d42, d63 count: PR d42 has no CR/PR later -> SD d42"),
    ("a response after PD does not count until first PD", days((42, "PR"), (63, "PD"), (91, "PR"), (119, "PR")),
     BorOptions(ref_start_window=35, until_first_pd=True), "SD", 42, (42,),
     "d91, d119 dropped; PR d42 unconfirmed -> SD d42"),
    ("a response after PD counts without until_first_pd", days((42, "PR"), (63, "PD"), (91, "PR"), (119, "PR")),
     DEFAULT, "PR", 91, (91, 119), "PR d91 confirmed by PR d119 (28 days), period [PR]"),
    ("SD between PR and confirmation, accept_sd off", days((42, "PR"), (63, "SD"), (84, "PR")), DEFAULT, "SD",
     42, (42,), "PR d42: period [SD, PR]: 1 SD > 0 -> not confirmed; SD from PR d42"),
    ("SD between PR and confirmation, accept_sd on", days((42, "PR"), (63, "SD"), (84, "PR")),
     BorOptions(ref_start_window=35, accept_sd=True), "PR", 42, (42, 84), "1 SD <= 1 -> PR d42"),
    ("two SD between even with accept_sd", days((42, "PR"), (56, "SD"), (70, "SD"), (84, "PR")),
     BorOptions(ref_start_window=35, accept_sd=True), "SD", 42, (42,), "2 SD > 1 -> not confirmed; SD d42"),
    ("accept_sd does not apply to CR", days((42, "CR"), (56, "SD"), (84, "CR")),
     BorOptions(ref_start_window=35, accept_sd=True), "SD", 42, (42,),
     "CR d42: period [SD, CR]: SD not in CR/NE -> not confirmed; SD d42"),
    ("CR then PR: neither confirmed", days((42, "CR"), (84, "PR")), DEFAULT, "SD", 42, (42,),
     "CR d42 needs a later CR: none; PR d84 nothing later; SD from CR d42 (earliest CR/PR/SD >= d35)"),
    ("PR, CR, PR: a PR after the CR breaks the confirmation", days((42, "PR"), (56, "CR"), (84, "PR")),
     DEFAULT, "SD", 42, (42,),
     "PR d42: first CR/PR >= d70 is PR d84; period [CR d56, PR d84]: min CR d56 > max PR d84 false -> not"),
    ("PR, early PR, CR: confirmed by the CR", days((42, "PR"), (56, "PR"), (84, "CR")), DEFAULT, "PR", 42,
     (42, 84), "PR d42: PR d56 is only 14 days; first CR/PR >= d70 is CR d84; min CR d84 > max PR d56 -> PR"),
    ("a confirmed CR needs no start window", days((7, "CR"), (35, "CR")), DEFAULT, "CR", 7, (7, 35),
     "cr_data has no reference-date condition: CR d7 confirmed by CR d35 (28 days)"),
    ("SD one day too early is NE", days((34, "SD"),), DEFAULT, "NE", 34, (34,), "d34 < d0 + 35 -> NE"),
    ("SD on the first day of the window counts", days((35, "SD"),), DEFAULT, "SD", 35, (35,),
     "ADT >= reference_date + ref_start_window: d35 counts"),
    ("early SD then PD: PD", days((21, "SD"), (42, "PD")), DEFAULT, "PD", 42, (42,),
     "SD d21 -> NE (rank 6); PD d42 (rank 5) is better"),
    ("unconfirmed early PR is NE in the confirmed BOR", days((21, "PR"), (30, "NE")), DEFAULT, "NE", 21, (21,),
     "PR d21 not confirmed and < d35 -> NE; NE d30; earliest NE is d21"),
    ("NON-CR/NON-PD after the window, then PD", days((42, "NON-CR/NON-PD"), (84, "PD")), DEFAULT,
     "NON-CR/NON-PD", 42, (42,), "non_data (rank 4) beats pd_data (rank 5)"),
    ("NON-CR/NON-PD too early is NE", days((21, "NON-CR/NON-PD"),), DEFAULT, "NE", 21, (21,), "d21 < d35 -> NE"),
    ("SD ranks above NON-CR/NON-PD", days((42, "NON-CR/NON-PD"), (84, "SD")), DEFAULT, "SD", 84, (84,),
     "sd_data rank 3 beats non_data rank 4, whatever the dates"),
    ("NON-CR/NON-PD between PR and confirmation", days((42, "PR"), (63, "NON-CR/NON-PD"), (84, "PR")), DEFAULT,
     "SD", 42, (42,), "PR d42: period [NON-CR/NON-PD, PR]: not allowed -> not confirmed; SD d42"),
    ("only NE: NE, not MISSING", days((42, "NE"), (84, "NE")), DEFAULT, "NE", 42, (42,), "ne_data, earliest"),
    ("no assessment: MISSING", [], DEFAULT, MISSING, None, (), "missing_data"),
    ("the earliest confirmed CR wins", days((42, "CR"), (70, "CR"), (98, "CR")), DEFAULT, "CR", 42, (42, 70),
     "CR d42 and CR d70 both confirmed: order (tmp_order, ADT) picks d42"),
    ("ref_confirm = 0: the next CR confirms", days((42, "CR"), (43, "CR")),
     BorOptions(ref_start_window=35, ref_confirm=0), "CR", 42, (42, 43), "ADT.join >= ADT + 0"),
    # Unconfirmed (derive_param_bor).
    ("unconfirmed: a single PR counts", days((42, "PR"), (56, "SD")), BorOptions(ref_start_window=35, confirmed=False),
     "PR", 42, (42,), "CR/PR/PD are kept whatever their date"),
    ("unconfirmed: a PR before the window counts", days((21, "PR"),),
     BorOptions(ref_start_window=35, confirmed=False), "PR", 21, (21,), "only SD, NON-CR/NON-PD are windowed"),
    ("unconfirmed: early SD and NE give NE, earliest", days((21, "SD"), (42, "NE")),
     BorOptions(ref_start_window=35, confirmed=False), "NE", 21, (21,), "SD d21 -> NE; NE d42; earliest d21"),
    ("unconfirmed: NON-CR/NON-PD ranks above PD", days((84, "PD"), (42, "NON-CR/NON-PD")),
     BorOptions(ref_start_window=35, confirmed=False), "NON-CR/NON-PD", 42, (42,), "tmp_order 4 before 5"),
    ("unconfirmed: until first PD", days((42, "SD"), (84, "PD"), (126, "CR")),
     BorOptions(ref_start_window=35, confirmed=False, until_first_pd=True), "SD", 42, (42,), "CR d126 dropped"),
]


@pytest.mark.parametrize("name,assessments,options,expected,day,evidence,derivation", HAND,
                         ids=[c[0] for c in HAND])
def test_hand_derived(name, assessments, options, expected, day, evidence, derivation):
    result = best_overall_response(assessments, D0, options)
    assert result.bor == expected, derivation
    assert result.date == (D0 + timedelta(days=day) if day is not None else None), derivation
    assert tuple((e.date - D0).days for e in result.evidence) == evidence, derivation


def test_input_order_does_not_matter():
    """admiralonco sorts by ADT; a shuffled input gives the same result (PR d42 with one NE between)."""
    ordered = days((42, "PR"), (56, "NE"), (84, "PR"), (126, "PD"))
    shuffled = ordered[:]
    random.Random(6005).shuffle(shuffled)
    assert shuffled != ordered
    assert best_overall_response(shuffled, D0, DEFAULT) == best_overall_response(ordered, D0, DEFAULT)
    assert best_overall_response(shuffled, D0, DEFAULT).bor == "PR"


# Reasons --------------------------------------------------------------------------------------------------------

def test_reason_of_a_confirmed_response_as_specified():
    result = best_overall_response(points(("2026-03-01", "PR"), ("2026-04-02", "CR")), ymd("2026-01-05"), DEFAULT)
    assert result == Bor("PR", ymd("2026-03-01"),
                         (Assessment(ymd("2026-03-01"), "PR"), Assessment(ymd("2026-04-02"), "CR")),
                         "PR on 2026-03-01 confirmed by CR on 2026-04-02 (32 days ≥ 28)")


@pytest.mark.parametrize("assessments,options,words", [
    (days((42, "CR"), (56, "NE"), (84, "CR")), DEFAULT, ["confirmed by CR on 2026-03-30", "1 NE between"]),
    (days((42, "PR"), (63, "SD"), (84, "PR")), DEFAULT,
     ["PR on 2026-02-16 not confirmed", "SD on 2026-03-09", "counts as SD", "42 days after the first dose"]),
    (days((42, "CR"), (56, "NE"), (70, "NE"), (84, "CR")), DEFAULT, ["2 NE before the CR on 2026-03-30", "at most 1"]),
    (days((42, "PR"), (56, "CR"), (84, "PR")), DEFAULT, ["PR on 2026-03-30 after the CR on 2026-03-02"]),
    (days((42, "PR"), (63, "PD"), (84, "PR")), DEFAULT, ["PD on 2026-03-09 before the PR on 2026-03-30"]),
    (days((42, "PR"), (69, "PR")), DEFAULT, ["no CR or PR 28 or more days later"]),
    (days((21, "SD"),), DEFAULT, ["SD on 2026-01-26", "21 days after the first dose", "fewer than 35", "NE"]),
    (days((-3, "SD"),), DEFAULT, ["3 days before the first dose", "counts as NE"]),
    (days((42, "PR"), (63, "PD"), (91, "PR")), BorOptions(ref_start_window=35, until_first_pd=True),
     ["1 assessment after the first PD on 2026-03-09 not counted"]),
    ([], DEFAULT, ["no assessment"]),
])
def test_reason_names_the_facts(assessments, options, words):
    reason = best_overall_response(assessments, D0, options).reason
    for word in words:
        assert word in reason


# first_progression ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("assessments,expected", [
    ([], None),
    (days((42, "SD"), (84, "PR")), None),
    (days((126, "PD"), (42, "SD"), (84, "PD")), D0 + timedelta(days=84)),  # unsorted: the earliest PD
])
def test_first_progression(assessments, expected):
    assert first_progression(assessments) == expected


# Bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("assessments,pattern", [
    (days((42, "pr"),), r"assessments\[0\]\.response: unknown response 'pr'"),
    (days((42, "ND"),), r"unknown response 'ND'"),
    (days((42, "SD"), (84, "")), r"assessments\[1\]\.response: unknown response ''"),
    ([Assessment(D0, None)], r"assessments\[0\]\.response: unknown response None"),
    ([Assessment("2026-02-16", "PR")], r"assessments\[0\]\.date: expected a date, got str"),
    ([Assessment(datetime(2026, 2, 16, 9, 0), "PR")], r"assessments\[0\]\.date: expected a date, got datetime"),
    ([("2026-02-16", "PR")], r"assessments\[0\]: expected an Assessment, got tuple"),
    ("PR", r"assessments: expected a sequence"),
])
def test_bad_assessments(assessments, pattern):
    with pytest.raises(BorInputError, match=pattern):
        best_overall_response(assessments, D0, DEFAULT)
    with pytest.raises(BorInputError, match=pattern):
        first_progression(assessments)


def test_two_assessments_on_one_date():
    with pytest.raises(BorInputError, match=r"two on 2026-02-16 \(PR, SD\)"):
        best_overall_response(days((42, "PR"), (42, "SD")), D0, DEFAULT)


def test_same_date_after_the_first_pd_is_not_counted():
    """admiralonco needs a unique date only after the source_pd restriction."""
    result = best_overall_response(days((42, "PD"), (84, "SD"), (84, "PR")), D0,
                                   BorOptions(ref_start_window=35, until_first_pd=True))
    assert (result.bor, result.date) == ("PD", D0 + timedelta(days=42))


def test_bad_first_dose_and_options():
    with pytest.raises(BorInputError, match=r"first_dose: expected a date, got str"):
        best_overall_response([], "2026-01-05", DEFAULT)
    with pytest.raises(BorInputError, match=r"options: expected BorOptions, got dict"):
        best_overall_response([], D0, {"ref_start_window": 35})


@pytest.mark.parametrize("kwargs,pattern", [
    ({"ref_start_window": -1}, r"BorOptions\.ref_start_window: must be 0 or more, got -1"),
    ({"ref_start_window": 35, "ref_confirm": -28}, r"BorOptions\.ref_confirm: must be 0 or more"),
    ({"ref_start_window": 35, "max_nr_ne": -1}, r"BorOptions\.max_nr_ne: must be 0 or more"),
    ({"ref_start_window": 35.0}, r"BorOptions\.ref_start_window: expected a whole number, got 35\.0"),
    ({"ref_start_window": True}, r"BorOptions\.ref_start_window: expected a whole number, got True"),
    ({"ref_start_window": 35, "accept_sd": "no"}, r"BorOptions\.accept_sd: expected True or False, got 'no'"),
    ({"ref_start_window": 35, "confirmed": 1}, r"BorOptions\.confirmed: expected True or False, got 1"),
])
def test_bad_options(kwargs, pattern):
    with pytest.raises(BorInputError, match=pattern):
        BorOptions(**kwargs)

