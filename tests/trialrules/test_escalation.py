"""Tests for trialrules.escalation (pure Python; run with `-p no:django`)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialrules.escalation import (
    Decision,
    Design,
    Outcome,
    OutcomeSyntaxError,
    format_outcomes,
    parse_outcomes,
    recommend,
)

BAT6005 = Design(
    n_levels=6,
    titration_levels=3,
    titration_expand=2,
    cohort_size=3,
    allow_deescalate=True,
    six_to_declare=True,
)
BAT_LABELS = ["10 mg", "30 mg", "100 mg", "300 mg", "600 mg", "900 mg"]
R_PLAIN = Design(n_levels=5)  # get_three_plus_three(num_doses = 5)
# get_three_plus_three(num_doses = 5, allow_deescalate = TRUE)
R_DEESC = Design(n_levels=5, allow_deescalate=True)

GO, STOP = True, False


def rec(design: Design, history: str, pending=(), labels=None) -> Decision:
    return recommend(design, parse_outcomes(history), pending, labels)


def summary(dec: Decision) -> tuple:
    return (
        dec.continue_trial,
        dec.next_dose_level,
        dec.add_subjects,
        dec.recommended_dose_level,
        dec.declared,
    )


# ------------------------------------------------------------------------------------------------
# BAT6005: accelerated titration (protocol rule 1)
# ------------------------------------------------------------------------------------------------

TITRATION_CASES = [
    # history, expected (continue, next, add, recommended, declared), words in rationale
    ("", (GO, 1, 1, 1, None), "start with 1 subject"),
    ("1N", (GO, 2, 1, 2, None), "escalate to level 2 with 1 subject"),
    ("1N 2N", (GO, 3, 1, 3, None), "escalate to level 3 with 1 subject"),
    # titration with no toxicity reaching level 4: the first 3+3 level gets a cohort of 3
    ("1N 2N 3N", (GO, 4, 3, 4, None), "accelerated titration complete"),
    # titration ended at each titration level, by G and by T: 2 more subjects at that level
    ("1G", (GO, 1, 2, 1, None), "grade>=2 toxicity at level 1 ends accelerated titration"),
    ("1T", (GO, 1, 2, 1, None), "DLT at level 1 ends accelerated titration"),
    ("1N 2G", (GO, 2, 2, 2, None), "grade>=2 toxicity at level 2 ends accelerated titration"),
    ("1N 2T", (GO, 2, 2, 2, None), "DLT at level 2 ends accelerated titration"),
    ("1N 2N 3G", (GO, 3, 2, 3, None), "grade>=2 toxicity at level 3 ends accelerated titration"),
    ("1N 2N 3T", (GO, 3, 2, 3, None), "DLT at level 3 ends accelerated titration"),
    # after titration ends, plain 3+3 with cohorts of 3, even at levels < titration_levels
    ("1G 1NN", (GO, 2, 3, 2, None), "0/3 DLT at level 1: escalate to level 2"),
    ("1G 1NN 2GGG", (GO, 3, 3, 3, None), "0/3 DLT at level 2: escalate to level 3"),  # G no longer matters
    ("1N 2G 2NN", (GO, 3, 3, 3, None), "0/3 DLT at level 2"),
    ("1N 2N 3G 3NN", (GO, 4, 3, 4, None), "0/3 DLT at level 3: escalate to level 4"),
    ("1T 1NN", (GO, 1, 3, 1, None), "1/3 DLT at level 1: expand to 6"),
    ("1N 2T 2NN", (GO, 2, 3, 2, None), "1/3 DLT at level 2: expand to 6"),
    ("1N 2N 3T 3NN", (GO, 3, 3, 3, None), "1/3 DLT at level 3: expand to 6"),
    ("1N 2N 3T 3NN 3NNN", (GO, 4, 3, 4, None), "1/6 DLT at level 3: escalate to level 4"),
    # a DLT on the 2nd expansion subject: 2 DLTs -> exceeds; the titration level below has 1 subject,
    # so it is filled to 3 first
    ("1N 2T 2NT", (GO, 1, 2, 1, None), "level 2 exceeds the MTD"),
    ("1N 2N 3T 3TN", (GO, 2, 2, 2, None), "de-escalate: 1 evaluable at level 2, add 2"),
    ("1T 1TN", (STOP, None, 0, None, None), "no tolerable dose"),
    ("1G 1TT", (STOP, None, 0, None, None), "lowest level"),
    # G after titration, at a 3+3 level, is ignored
    ("1N 2N 3N 4GGG", (GO, 5, 3, 5, None), "0/3 DLT at level 4: escalate to level 5"),
]


@pytest.mark.parametrize(("history", "expected", "words"), TITRATION_CASES)
def test_bat6005_titration(history, expected, words):
    dec = rec(BAT6005, history)
    assert summary(dec) == expected
    assert words in dec.rationale
    assert dec.waiting is False


# ------------------------------------------------------------------------------------------------
# BAT6005: 3+3, de-escalation, MTD/MAD with six to declare (protocol rules 2 and 3)
# ------------------------------------------------------------------------------------------------

T3 = "1N 2N 3N"  # titration cleared, 3+3 from level 4

THREE_PLUS_THREE_CASES = [
    (f"{T3} 4NNN", (GO, 5, 3, 5, None), "0/3 DLT at level 4: escalate to level 5"),
    (f"{T3} 4NTN", (GO, 4, 3, 4, None), "1/3 DLT at level 4: expand to 6"),
    # 1/3 then 1/6 -> escalate
    (f"{T3} 4NTN 4NNN", (GO, 5, 3, 5, None), "1/6 DLT at level 4: escalate to level 5"),
    # 1/3 then 2/6 -> level 4 exceeds; level 3 (1 titration subject) filled to 3
    (f"{T3} 4NTN 4NNT", (GO, 3, 2, 3, None), "2/6 DLT at level 4: level 4 exceeds the MTD"),
    # 2/2 already means >= 2/3: decided without dosing a 3rd subject (BAT6005 differs from R here)
    (f"{T3} 4TT", (GO, 3, 2, 3, None), "2/2 DLT at level 4: level 4 exceeds the MTD"),
    # top level tolerated: MAD, but only once 6 are evaluable there
    (f"{T3} 4NNN 5NNN 6NNN", (GO, 6, 3, 6, None), "add 3 so that 6 are evaluable before declaring the MAD"),
    (f"{T3} 4NNN 5NNN 6NNN 6NNN", (STOP, None, 0, 6, "MAD"), "MTD not reached, MAD = level 6"),
    (f"{T3} 4NNN 5NNN 6NTN 6NNN", (STOP, None, 0, 6, "MAD"), "1/6 DLT at level 6"),
    (f"{T3} 4NNN 5NNN 6NTN", (GO, 6, 3, 6, None), "1/3 DLT at level 6: expand to 6"),
    # top level too toxic: level 5 (3 evaluable) is filled to 6 before it is declared the MTD
    (f"{T3} 4NNN 5NNN 6TTN", (GO, 5, 3, 5, None), "de-escalate: 3 evaluable at level 5, add 3"),
    (f"{T3} 4NNN 5NNN 6TTN 5NNN", (STOP, None, 0, 5, "MTD"), "MTD = level 5"),
    (f"{T3} 4NNN 5NNN 6TTN 5NTN", (STOP, None, 0, 5, "MTD"), "1/6 DLT at level 5"),
    # level below already has 6 with <= 1 DLT: it is the MTD at once
    (f"{T3} 4NTN 4NNN 5TNT", (STOP, None, 0, 4, "MTD"), "1/6 DLT at level 4: MTD = level 4"),
    # de-escalation cascade: 5 toxic -> fill 4 -> 4 toxic -> fill 3 (1 subject) to 3 -> to 6 -> MTD 3
    (f"{T3} 4NNN 5TTN", (GO, 4, 3, 4, None), "de-escalate: 3 evaluable at level 4, add 3"),
    (f"{T3} 4NNN 5TTN 4TNT", (GO, 3, 2, 3, None), "2/6 DLT at level 4: level 4 exceeds the MTD"),
    (f"{T3} 4NNN 5TTN 4TNT 3NN", (GO, 3, 3, 3, None), "0/3 DLT at level 3 (level 4 exceeds the MTD): add 3"),
    (f"{T3} 4NNN 5TTN 4TNT 3NN 3NTN", (STOP, None, 0, 3, "MTD"), "1/6 DLT at level 3"),
    # ... and further: 3 toxic too -> 2 -> 1 -> level 1 toxic -> no tolerable dose
    (f"{T3} 4NNN 5TTN 4TNT 3NT 3T", (GO, 2, 2, 2, None), "level 3 exceeds the MTD"),
    (
        f"{T3} 4NNN 5TTN 4TNT 3NTT 2NN 2NTT",
        (GO, 1, 2, 1, None),
        "2/6 DLT at level 2: level 2 exceeds the MTD",
    ),
    (f"{T3} 4NNN 5TTN 4TNT 3NTT 2NT 2T 1NT 1T", (STOP, None, 0, None, None), "stop, no tolerable dose"),
    # never escalate to a level that already has >= 2 DLTs: 1/6 at 4 below a toxic 5 is the MTD
    (f"{T3} 4NNN 5TTN 4NNN", (STOP, None, 0, 4, "MTD"), "level 5 exceeds the MTD: MTD = level 4"),
]


@pytest.mark.parametrize(("history", "expected", "words"), THREE_PLUS_THREE_CASES)
def test_bat6005_three_plus_three(history, expected, words):
    dec = rec(BAT6005, history)
    assert summary(dec) == expected
    assert words in dec.rationale


def test_bat6005_labels_in_rationale():
    dec = rec(BAT6005, f"{T3} 4NTN", labels=BAT_LABELS)
    assert dec.rationale.startswith("1/3 DLT at 300 mg: expand to 6")
    assert "level 4" not in dec.rationale


def test_continuing_recommends_the_next_level_and_stopping_adds_nobody():
    go = rec(BAT6005, f"{T3} 4NNN")
    assert go.recommended_dose_level == go.next_dose_level == 5
    stop = rec(BAT6005, f"{T3} 4NNN 5NNN 6NNN 6NNN")
    assert (stop.next_dose_level, stop.add_subjects) == (None, 0)


# Other designs in protocol mode
def test_titration_without_six_to_declare_declares_mad_at_zero_of_three():
    design = dataclasses.replace(BAT6005, six_to_declare=False)
    dec = rec(design, f"{T3} 4NNN 5NNN 6NNN")
    assert summary(dec) == (STOP, None, 0, 6, "MAD")


def test_six_to_declare_without_deescalation_does_not_confirm_a_three_subject_mtd():
    design = dataclasses.replace(BAT6005, allow_deescalate=False)
    dec = rec(design, f"{T3} 4NNN 5TTN")
    assert summary(dec) == (STOP, None, 0, 4, None)
    assert "MTD not confirmed" in dec.rationale
    dec6 = rec(design, f"{T3} 4NTN 4NNN 5TTN")
    assert summary(dec6) == (STOP, None, 0, 4, "MTD")


def test_titration_expand_other_than_two():
    design = dataclasses.replace(BAT6005, titration_expand=5)
    assert summary(rec(design, "1N 2G")) == (GO, 2, 5, 2, None)
    # 0 DLT among 6 after the expansion: escalate with a cohort of 3
    assert summary(rec(design, "1N 2G 2NNNNN")) == (GO, 3, 3, 3, None)


# ------------------------------------------------------------------------------------------------
# Pending subjects: decide at once vs wait
# ------------------------------------------------------------------------------------------------

PENDING_CASES = [
    # history, pending, expected summary, waiting
    # 2 DLTs among 3 at a level (one still pending): >= 2/3 whatever happens -> decide now
    (BAT6005, f"{T3} 4TT", (4,), (GO, 3, 2, 3, None), False),
    (R_PLAIN, "1NNN 2TT", (2,), (STOP, None, 0, 1, "MTD"), False),
    (R_DEESC, "1NNN 2NNN 3TT", (3,), (GO, 2, 3, 2, None), False),
    # 1/3 with 3 already pending at that level: wait (never "add 3 more" on top of them)
    (BAT6005, f"{T3} 4NTN", (4, 4, 4), (GO, 4, 0, 4, None), True),
    (R_PLAIN, "1NNN 2NTN", (2, 2, 2), (GO, 2, 0, 2, None), True),
    # 1 DLT among 2 with 1 pending: 1/3 or 2/3 -> wait
    (BAT6005, f"{T3} 4NT", (4,), (GO, 4, 0, 4, None), True),
    (R_PLAIN, "1NNN 2NT", (2,), (GO, 2, 0, 2, None), True),
    # titration subject pending: N escalates, G or T expands -> wait
    (BAT6005, "", (1,), (GO, 1, 0, 1, None), True),
    (BAT6005, "1N", (2,), (GO, 2, 0, 2, None), True),
    # 6th subject pending at the top level after 0/5: 0/6 or 1/6, MAD either way -> decide now
    (BAT6005, f"{T3} 4NNN 5NNN 6NNN 6NN", (6,), (STOP, None, 0, 6, "MAD"), False),
    # R: 1/3 then 2 of the 3 expansion subjects pending -> R carries on at n = 5 whatever -> add 1
    # (3 evaluable + 2 pending + 1 = 6: not over-filled)
    (R_PLAIN, "1NNN 2NTN", (2, 2), (GO, 2, 1, 2, None), False),
    # R plain 3+3: 0/3 at level 2 not yet known (3 pending at level 2 after 1NNN) -> wait
    (R_PLAIN, "1NNN", (2, 2, 2), (GO, 2, 0, 2, None), True),
]


@pytest.mark.parametrize(("design", "history", "pending", "expected", "waiting"), PENDING_CASES)
def test_pending(design, history, pending, expected, waiting):
    dec = rec(design, history, pending)
    assert summary(dec) == expected
    assert dec.waiting is waiting
    if waiting:
        assert dec.rationale.startswith("waiting for the DLT window")
    else:
        assert "Whatever the pending subject(s) turn out to be" in dec.rationale


def test_pending_without_outcomes_changes_nothing():
    assert rec(BAT6005, f"{T3} 4NTN", ()) == rec(BAT6005, f"{T3} 4NTN")


# ------------------------------------------------------------------------------------------------
# R equivalence: get_three_plus_three(num_doses = 5[, allow_deescalate = TRUE]) from brockk/escalation
# Expectations hand-derived from R/three_plus_three.R (the Korn et al. de-escalation version):
# the decision uses only last_dose = dose of the last patient and n_d, tox_d there.
# ------------------------------------------------------------------------------------------------

R_CASES = [
    # design, outcomes, (continue, recommended_dose); R branch that gives it
    (R_PLAIN, "", (GO, 1)),  # no patients: last_dose <- 1, n_d = 0 < 3 -> carry on
    (R_PLAIN, "1NNN", (GO, 2)),  # n_d == 3, tox 0, not top, next n < 6 & tox < 2 -> escalate
    (R_PLAIN, "1NNT", (GO, 1)),  # n_d == 3, tox 1 -> remain and continue
    (R_PLAIN, "1NNN 2NTN", (GO, 2)),  # roxygen example fit1
    (R_PLAIN, "1NNN 2NTN 2NNT", (STOP, 1)),  # roxygen example fit2: n_d == 6, tox 2 -> previous dose
    (R_PLAIN, "1NNT 1NNN", (GO, 2)),  # n_d == 6, tox <= 1 -> escalate
    (R_PLAIN, "1NNT 1NTN", (STOP, None)),  # n_d == 6, tox 2, last_dose == 1 -> NA
    (R_PLAIN, "1TTT", (STOP, None)),  # n_d == 3, tox 3, last_dose == 1 -> NA
    (R_PLAIN, "1NNN 2NTT", (STOP, 1)),  # n_d == 3, tox 2, no de-escalation -> last_dose - 1
    (R_PLAIN, "1NNN 2TT", (GO, 2)),  # n_d == 2 < 3 -> carry on, even with 2 DLTs
    (R_PLAIN, "1NNN 2NTN 2N", (GO, 2)),  # 3 < n_d < 6 -> carry on
    (R_PLAIN, "1NNN 2NNN 3NNN 4NNN 5NNN", (STOP, 5)),  # top dose, 0/3 -> stop, recommend top
    (R_PLAIN, "1NNN 2NNN 3NNN 4NNN 5NTN 5NNN", (STOP, 5)),  # top dose, 1/6 -> stop, recommend top
    (Design(n_levels=7), "2NNN 3NNT", (GO, 3)),  # roxygen example three_plus_three('2NNN 3NNT', 7)
    # n_d == 3, tox 0, next dose already has >= 2 tox -> stop, recommend current dose
    (R_PLAIN, "1NNN 2NNN 3TTN 2NNN", (STOP, 2)),
    # R's quirk: next dose has >= 6 patients (tolerated!) -> still stop at the current dose
    (R_PLAIN, "1NNN 2NTN 2NNN 1NNN", (STOP, 1)),
    # allow_deescalate = TRUE (Korn et al.)
    (R_DEESC, "1NNN 2NNN 3TTN", (GO, 2)),  # tox >= 2, n[last - 1] = 3 < 6 -> continue lower
    (R_DEESC, "1NNN 2NNN 3TTN 2NNN", (STOP, 2)),  # n_d == 6, tox 0, next has >= 2 tox -> stop here
    (R_DEESC, "1NNN 2NNN 3TTN 2NTT", (GO, 1)),  # 2/6 at 2, n[1] = 3 < 6 -> continue at 1
    (R_DEESC, "1NNN 2NNN 3TTN 2NTT 1NNN", (STOP, 1)),  # 0/6 at 1, 2 has >= 2 tox -> stop at 1
    (R_DEESC, "1NNN 2NNN 3TTN 2NTT 1NTT", (STOP, None)),  # 2/6 at level 1 -> no room -> NA
    (R_DEESC, "1NNN 2NTN 2NNN 3TTT", (STOP, 2)),  # n[2] = 6 -> Korn: highest n >= 6 & tox <= 1
    (R_DEESC, "1TTN", (STOP, None)),  # last_dose == 1 -> NA
    (R_DEESC, "1NNN 2NNN 3NNN 4NNN 5NNN", (STOP, 5)),  # top dose 0/3: stop, top (no 6 needed in R)
    (R_DEESC, "1NNN 2TT", (GO, 2)),  # n_d < 3 -> carry on (R waits for the cohort)
]


@pytest.mark.parametrize(("design", "history", "expected"), R_CASES)
def test_r_equivalence(design, history, expected):
    dec = rec(design, history)
    assert (dec.continue_trial, dec.recommended_dose_level) == expected
    # our extra fields are consistent with R's two outputs
    if dec.continue_trial:
        assert dec.next_dose_level == dec.recommended_dose_level
        assert dec.add_subjects > 0
    else:
        assert dec.next_dose_level is None
        assert dec.add_subjects == 0


def test_r_mode_declared_labels():
    assert rec(R_PLAIN, "1NNN 2NNN 3NNN 4NNN 5NNN").declared == "MAD"
    assert rec(R_PLAIN, "1NNN 2NTT").declared == "MTD"
    assert rec(R_PLAIN, "1TTT").declared is None


@pytest.mark.parametrize(
    ("history", "add"),
    [("", 3), ("1NN", 1), ("1NNT", 3), ("1NNT 1N", 2), ("1NNN", 3), ("1NNN 2NNN 3TTN", 0)],
)
def test_r_mode_add_subjects(history, add):
    assert rec(R_PLAIN, history).add_subjects == add


# ------------------------------------------------------------------------------------------------
# Decision.as_json, Design and input validation
# ------------------------------------------------------------------------------------------------


def test_as_json_keys_and_values():
    dec = rec(BAT6005, f"{T3} 4NTN")
    assert dec.as_json() == {
        "continue": True,
        "next_dose_level": 4,
        "add_subjects": 3,
        "recommended_dose_level": 4,
        "declared": None,
        "rationale": dec.rationale,
        "waiting": False,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_levels": 0}, "n_levels must be >= 1"),
        ({"n_levels": 3, "titration_levels": 4}, "titration_levels must be in 0..3"),
        ({"n_levels": 3, "titration_expand": 0}, "titration_expand must be >= 1"),
        ({"n_levels": 3, "cohort_size": 0}, "cohort_size must be >= 1"),
    ],
)
def test_design_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Design(**kwargs)


def test_levels_out_of_range_rejected():
    with pytest.raises(ValueError, match=r"outside 1\.\.6"):
        recommend(BAT6005, [Outcome(7, False)])
    with pytest.raises(ValueError, match="pending subject at dose level 9"):
        recommend(BAT6005, [], pending=[9])
    with pytest.raises(ValueError, match="labels gives 2 names for 6"):
        recommend(BAT6005, [], labels=["a", "b"])


# ------------------------------------------------------------------------------------------------
# Outcome strings
# ------------------------------------------------------------------------------------------------


def test_parse_example():
    assert parse_outcomes("1N 2N 3G 3NN 4NTN") == [
        Outcome(1, False),
        Outcome(2, False),
        Outcome(3, False, True),
        Outcome(3, False),
        Outcome(3, False),
        Outcome(4, False),
        Outcome(4, True),
        Outcome(4, False),
    ]


def test_parse_blank_multidigit_and_whitespace():
    assert parse_outcomes("") == []
    assert parse_outcomes("  \n\t ") == []
    assert parse_outcomes(" 12T\t1N\n") == [Outcome(12, True), Outcome(1, False)]


@pytest.mark.parametrize(
    ("text", "token", "message"),
    [
        ("NNN", "NNN", "empty dose level: a group must start with the dose level"),
        ("1N T", "T", "empty dose level"),
        ("1N 2", "2", "no outcome letters (N, T or G) after dose level 2"),
        ("0NN", "0NN", "dose level 0 is not >= 1"),
        ("1NX", "1NX", "unknown outcome letter 'X'; expected N, T or G"),
        ("1nn", "1nn", "unknown outcome letter 'n'; expected N, T or G (letters are upper case)"),
        ("1N2T", "1N2T", "digit '2' after outcome letters: separate groups with whitespace"),
        ("1N,2T", "1N,2T", "unknown outcome letter ','"),
        ("1.2N", "1.2N", "unknown outcome letter '.'"),
    ],
)
def test_parse_errors(text, token, message):
    with pytest.raises(OutcomeSyntaxError) as info:
        parse_outcomes(text)
    assert info.value.token == token
    assert message in str(info.value)
    assert repr(token) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_error_names_group_position():
    with pytest.raises(OutcomeSyntaxError, match=r"group 3"):
        parse_outcomes("1N 2N 3Q")


def test_parse_rejects_non_string():
    with pytest.raises(TypeError):
        parse_outcomes(None)  # type: ignore[arg-type]


def test_format_groups_consecutive_same_level():
    outs = [Outcome(1, False), Outcome(1, True), Outcome(2, False, True), Outcome(1, False)]
    assert format_outcomes(outs) == "1NT 2G 1N"
    assert format_outcomes([]) == ""
    # a DLT that was also grade >= 2 is written T
    assert format_outcomes([Outcome(3, True, True)]) == "3T"


# ------------------------------------------------------------------------------------------------
# Property tests
# ------------------------------------------------------------------------------------------------

outcome_st = st.builds(
    lambda level, kind: Outcome(level, kind == "T", kind == "G"),
    st.integers(min_value=1, max_value=12),
    st.sampled_from("NTG"),
)


@given(st.lists(outcome_st, max_size=30))
def test_parse_format_round_trip(outs):
    text = format_outcomes(outs)
    assert parse_outcomes(text) == outs
    assert format_outcomes(parse_outcomes(text)) == text


DESIGNS = st.sampled_from(
    [
        BAT6005,
        R_PLAIN,
        R_DEESC,
        Design(n_levels=4, titration_levels=2),
        Design(n_levels=3, titration_levels=3, allow_deescalate=True),
        Design(n_levels=5, six_to_declare=True),
        Design(n_levels=6, titration_levels=3, allow_deescalate=False, six_to_declare=True),
    ]
)


def simulate(design: Design, letters: str, max_steps: int = 60):
    """Follow the engine's decisions, drawing each new subject's outcome from `letters` (cycled)."""
    outs: list[Outcome] = []
    steps = []
    i = 0
    for _ in range(max_steps):
        dec = recommend(design, outs)
        steps.append((list(outs), dec))
        if not dec.continue_trial:
            return outs, steps
        assert dec.add_subjects > 0
        for _ in range(dec.add_subjects):
            ch = letters[i % len(letters)]
            i += 1
            outs.append(Outcome(dec.next_dose_level, ch == "T", ch == "G"))
    raise AssertionError(f"trial did not stop: {format_outcomes(outs)}")


trial_letters = st.text(alphabet="NNNNTG", min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(DESIGNS, trial_letters)
def test_never_escalate_past_a_level_with_two_dlts(design, letters):
    _, steps = simulate(design, letters)
    for outs, dec in steps:
        if not dec.continue_trial:
            continue
        tox = {}
        for o in outs:
            tox[o.dose_level] = tox.get(o.dose_level, 0) + o.dlt
        toxic = [lvl for lvl, t in tox.items() if t >= 2]
        if toxic:
            current = outs[-1].dose_level
            # never above the lowest toxic level; at it only when R waits for the cohort to complete
            assert dec.next_dose_level <= min(toxic)
            if dec.next_dose_level == min(toxic):
                assert design.titration_levels == 0 and not design.six_to_declare
                assert current == min(toxic)


@settings(max_examples=300, deadline=None)
@given(trial_letters)
def test_bat6005_declared_dose_has_six_evaluable_with_at_most_one_dlt(letters):
    outs, steps = simulate(BAT6005, letters)
    final = steps[-1][1]
    level = final.recommended_dose_level
    if final.declared is not None:
        at = [o for o in outs if o.dose_level == level]
        assert len(at) >= 6
        assert sum(o.dlt for o in at) <= 1
        # MTD: the level above exceeds it; MAD: the top level
        above = [o for o in outs if o.dose_level == level + 1]
        if final.declared == "MTD":
            assert sum(o.dlt for o in above) >= 2
        else:
            assert level == BAT6005.n_levels
    else:
        assert level is None  # BAT6005 stops either with a declared dose or with no tolerable dose
    # never more than 6 evaluable at a level
    for lvl in range(1, 7):
        assert sum(o.dose_level == lvl for o in outs) <= 6


@settings(max_examples=200, deadline=None)
@given(DESIGNS, trial_letters, st.integers(min_value=1, max_value=3), st.data())
def test_pending_never_overfills_and_waiting_adds_nobody(design, letters, n_pending, data):
    _, steps = simulate(design, letters)
    outs, _ = data.draw(st.sampled_from(steps))
    # take the last n_pending subjects as still pending
    n_pending = min(n_pending, len(outs))
    evaluated, pend = outs[: len(outs) - n_pending], [o.dose_level for o in outs[len(outs) - n_pending :]]
    dec = recommend(design, evaluated, pend)
    if dec.waiting:
        assert dec.continue_trial and dec.add_subjects == 0
        assert dec.next_dose_level == pend[-1]
    elif dec.continue_trial:
        level = dec.next_dose_level
        already = sum(o.dose_level == level for o in evaluated) + pend.count(level)
        assert already + dec.add_subjects <= 2 * design.cohort_size
        # a decision made at once is the one every completion of the pending subjects leads to
        for ch in "NT":
            full = evaluated + [Outcome(lvl, ch == "T") for lvl in pend]
            assert recommend(design, full).add_subjects == dec.add_subjects
