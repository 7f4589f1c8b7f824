"""Timing gates of dose escalation (trialrules.gates), table-driven (DOMAIN.md escalation rule 4)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from trialrules.gates import (
    LEVEL,
    STAGGER,
    GateParameters,
    WindowSubject,
    first_dose_gates,
    ordinal,
)

BAT = GateParameters(trial_code="BAT6005", stagger_first_days=7, stagger_next_hours=24, dlt_window_days=21)
NONE = GateParameters(trial_code="LVGN6051-ANLOTINIB", stagger_first_days=0, stagger_next_hours=0,
                      dlt_window_days=0)
T0 = datetime(2026, 3, 10, 9, 0)
D, H = timedelta(days=1), timedelta(hours=1)


@pytest.mark.parametrize(
    "name,params,level_doses,previous_level,when,gates,opens_at",
    [
        # The first subject at the first level: nothing to wait for.
        ("first subject, first level", BAT, [], [], T0, [], None),
        # Rule (b): the 2nd subject 7 days after the 1st.
        ("2nd subject at 6 days", BAT, [T0], [], T0 + 6 * D, [STAGGER], T0 + 7 * D),
        ("2nd subject 1 minute early", BAT, [T0], [], T0 + 7 * D - timedelta(minutes=1), [STAGGER], T0 + 7 * D),
        ("2nd subject at exactly 7 days", BAT, [T0], [], T0 + 7 * D, [], None),
        ("2nd subject at 8 days", BAT, [T0], [], T0 + 8 * D, [], None),
        # Rule (c): later subjects 24 h after the previous one.
        ("3rd subject 23 h after the 2nd", BAT, [T0, T0 + 7 * D], [], T0 + 7 * D + 23 * H, [STAGGER],
         T0 + 8 * D),
        ("3rd subject 24 h after the 2nd", BAT, [T0, T0 + 7 * D], [], T0 + 8 * D, [], None),
        ("order of the doses does not matter", BAT, [T0 + 7 * D, T0], [], T0 + 7 * D + 2 * H, [STAGGER],
         T0 + 8 * D),
        # After an overridden 2nd subject, the 3rd still waits for the 7-day sentinel period.
        ("3rd subject before the sentinel week", BAT, [T0, T0 + 2 * D], [], T0 + 4 * D, [STAGGER], T0 + 7 * D),
        # Zero parameters: no gate.
        ("no stagger parameters", NONE, [T0], [], T0 + H, [], None),
        ("no level gate parameter", NONE, [], [WindowSubject(T0)], T0 + D, [], None),
        ("hours only apply to the 2nd subject too",
         GateParameters("X", stagger_next_hours=24), [T0], [], T0 + 23 * H, [STAGGER], T0 + D),
        # Rule (a): a new level waits for every previous-level subject's 21-day window.
        ("new level, previous window open", BAT, [], [WindowSubject(T0)], T0 + 20 * D, [LEVEL], T0 + 21 * D),
        ("new level, previous window closed", BAT, [], [WindowSubject(T0)], T0 + 21 * D, [], None),
        ("new level waits for the last window", BAT, [],
         [WindowSubject(T0), WindowSubject(T0 + 7 * D), WindowSubject(T0 + 8 * D)], T0 + 22 * D, [LEVEL],
         T0 + 29 * D),
        ("a subject who left closes the window", BAT, [],
         [WindowSubject(T0), WindowSubject(T0 + 7 * D, left_at=T0 + 10 * D)], T0 + 21 * D, [], None),
        ("left later than the window: the window counts", BAT, [],
         [WindowSubject(T0, left_at=T0 + 30 * D)], T0 + 20 * D, [LEVEL], T0 + 21 * D),
        # Both gates at once: the later opening is when the dose may be given.
        ("level and stagger together", BAT, [T0 + 20 * D], [WindowSubject(T0 + 5 * D)], T0 + 21 * D,
         [LEVEL, STAGGER], T0 + 27 * D),
    ],
)
def test_first_dose_gates(name, params, level_doses, previous_level, when, gates, opens_at):
    result = first_dose_gates(params, when=when, level_doses=level_doses, previous_level=previous_level,
                              previous_level_label="10 mg")
    assert [b.gate for b in result.blocks] == gates, name
    assert result.allowed is (not gates)
    assert result.opens_at == opens_at


def test_second_subject_message_cites_the_rule_and_the_opening():
    result = first_dose_gates(BAT, when=T0 + 6 * D, level_doses=[T0])
    assert result.message == (
        "BAT6005: the 2nd subject of a level may be dosed no earlier than 7 days after the first subject's "
        "first dose (10 Mar 2026 09:00): gate opens 17 Mar 2026 09:00."
    )


def test_later_subject_message_cites_the_24_hours():
    result = first_dose_gates(BAT, when=T0 + 7 * D + 23 * H, level_doses=[T0, T0 + 7 * D])
    assert result.message == (
        "BAT6005: the 3rd subject of a level may be dosed no earlier than 24 hours after the previous "
        "subject's first dose (17 Mar 2026 09:00): gate opens 18 Mar 2026 09:00."
    )


def test_level_message_names_the_previous_level_and_the_opening():
    result = first_dose_gates(BAT, when=T0 + 10 * D, previous_level=[WindowSubject(T0), WindowSubject(T0 + D)],
                              previous_level_label="10 mg")
    assert result.blocks[0].reason == (
        "BAT6005: a new dose level opens only after every subject of the previous level (10 mg) has "
        "completed the 21-day DLT window or left the study; 2 subjects of the previous level are still in "
        "it (the last, first dose 11 Mar 2026 09:00, completes it 01 Apr 2026 09:00): "
        "gate opens 01 Apr 2026 09:00."
    )


def test_overridden_gates_are_dropped():
    result = first_dose_gates(BAT, when=T0 + 21 * D, level_doses=[T0 + 20 * D],
                              previous_level=[WindowSubject(T0 + 5 * D)])
    assert [b.gate for b in result.without({LEVEL}).blocks] == [STAGGER]
    assert result.without({LEVEL, STAGGER}).allowed
    assert not result.allowed


@pytest.mark.parametrize("n,text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                    (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st")])
def test_ordinal(n, text):
    assert ordinal(n) == text
