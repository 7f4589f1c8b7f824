"""PFS, OS and DoR censoring (trialrules.censoring): one case per situation of the FDA 2018 PFS censoring table
(numbered as docs/censoring.md), then the corners, OS, DoR, the day count and the refused facts.

Where the expected values come from:

- The situations: FDA, *Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics* (December 2018),
  table of PFS censoring situations, as docs/censoring.md restates it. Each case carries its hand derivation.
- The numbers: hand derivation. Dates are study days, ``day(1)`` = the first dose; durations are
  ``end − start + 1``, so an end on ``day(n)`` is ``n`` days. Scans are scheduled every 42 days; with one
  missed scan allowed an event counts up to 2 × 42 = 84 days after the last adequate scan: the scheduled scans
  before the event are ``last + 42k`` with ``42k < gap``, and more than one of them means censoring
  (``gap > 84``).
- The day count convention: admiral's own tests (``derive_var_trtdurd``: 2020-01-01 to 2020-02-24 is 55 days;
  ``derive_vars_duration`` test 2: a start and end on 2019-09-18 is 1 day), ``add_one = TRUE``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialrules.censoring import (
    DEATH_BEFORE_FIRST,
    DEATH_BETWEEN,
    MISSED,
    NEW_THERAPY,
    NO_ADEQUATE,
    NO_PROGRESSION,
    PROGRESSION,
    SITUATIONS,
    Rules,
    SubjectFacts,
    TimeToEvent,
    duration_of_response,
    overall_survival,
    pfs,
)

START = date(2026, 1, 5)


def day(n: int) -> date:
    """Study day n (day 1 = the first dose; day 0 is the day before)."""
    return START + timedelta(days=n - 1)


def facts(**kwargs) -> SubjectFacts:
    return SubjectFacts(subject="S-01", start=START, **kwargs)


SCANS = ((day(43), "SD"), (day(85), "SD"), (day(127), "SD"))  # on schedule: days 43, 85, 127


def situation(n: int) -> str:
    return f"(situation {n})"


# The FDA table, one or more cases per situation ---------------------------------------------------------------

PFS_CASES = [
    # (id, facts, rules, end, event, situation, derivation)
    ("1 no assessment", {}, Rules(), day(1), False, 1,
     "nothing after the start: censored at the start, day 1"),
    ("1 only NE", {"assessments": ((day(43), "NE"),)}, Rules(), day(1), False, 1,
     "NE is not an adequate assessment"),
    ("1 baseline entries only", {"assessments": ((day(-6), "SD"), (day(1), "PD"))}, Rules(), day(1), False, 1,
     "entries on or before the first dose are the baseline: not adequate, the PD not a progression"),
    ("2 PD at a scan", {"assessments": (*SCANS[:2], (day(127), "PD"))}, Rules(), day(127), True, 2,
     "the first PD assessment is the progression date even without the progression field"),
    ("2 PD at a scan, field given", {"assessments": (*SCANS[:2], (day(127), "PD")), "progression": day(127)},
     Rules(), day(127), True, 2, "the same, as TrialSite passes it"),
    ("2 clinical progression between scans", {"assessments": SCANS[:1], "progression": day(60)}, Rules(),
     day(60), True, 2, "17 days after the day-43 scan, no scan missed: event at day 60"),
    ("3 no progression", {"assessments": (*SCANS, (day(169), "NE"))}, Rules(), day(127), False, 3,
     "the NE on day 169 is not adequate: the last adequate scan is day 127"),
    ("4 new therapy, then PD", {"assessments": (*SCANS, (day(169), "PD")), "progression": day(169),
                               "new_therapy": day(150)}, Rules(), day(127), False, 4,
     "new therapy on 150 before the PD on 169: last adequate scan on or before 150 is 127"),
    ("4 new therapy, no event", {"assessments": SCANS, "new_therapy": day(100)}, Rules(), day(85), False, 4,
     "the day-127 scan is after the new therapy: last adequate on or before day 100 is 85"),
    ("4 scan on the new therapy's first day", {"assessments": ((day(43), "SD"), (day(85), "SD"), (day(127), "PD")),
                                               "new_therapy": day(85)}, Rules(), day(85), False, 4,
     "a scan on the day the therapy starts is before it"),
    ("5 death before the first scan", {"death": day(30)}, Rules(), day(30), True, 5,
     "29 days after the start, no scan was due"),
    ("5 death at the second scheduled scan, none done", {"death": day(85)}, Rules(), day(85), True, 5,
     "gap 84 from the start: only the day-43 scan is missed (42 < 84); 84 < 84 is false"),
    ("6 death between scans", {"assessments": SCANS, "death": day(150)}, Rules(), day(150), True, 6,
     "23 days after the day-127 scan"),
    ("7 death after two missed scans", {"assessments": SCANS, "death": day(127 + 85)}, Rules(), day(127), False, 7,
     "gap 85 > 84: the scans due on 169 and 211 were missed"),
    ("7 PD after two missed scans", {"assessments": (*SCANS[:1], (day(170), "PD")), "progression": day(170)},
     Rules(), day(43), False, 7, "gap 127: the scans due on 85 and 127 were missed"),
    ("7 death long after the start, no scan", {"death": day(200)}, Rules(), day(1), False, 7,
     "gap 199 from the start, four scheduled scans missed: censored at the start"),
    ("7 NE scans count as missed", {"assessments": ((day(43), "SD"), (day(85), "NE"), (day(127), "NE"),
                                                    (day(169), "PD"))}, Rules(), day(43), False, 7,
     "last adequate 43, PD at gap 126 > 84"),
]

CORNERS = [
    ("PD and new therapy on the same day", {"assessments": (*SCANS, (day(169), "PD")), "new_therapy": day(169)},
     Rules(), day(169), True, 2, "the scan that found the progression came before the new therapy"),
    ("new therapy the day before PD", {"assessments": (*SCANS, (day(169), "PD")), "new_therapy": day(168)},
     Rules(), day(127), False, 4, "strictly before: censored at the last adequate scan before it"),
    ("death on the new therapy's first day", {"assessments": SCANS, "death": day(150), "new_therapy": day(150)},
     Rules(), day(150), True, 6, "as a progression that day: the event counts"),
    ("new therapy before any scan", {"new_therapy": day(20), "death": day(60)}, Rules(), day(1), False, 4,
     "no adequate scan on or before day 20: censored at the start"),
    ("death long after the last scan", {"assessments": SCANS, "death": day(400)}, Rules(), day(127), False, 7,
     "gap 273 days"),
    ("PD and death on the same day", {"assessments": (*SCANS, (day(169), "PD")), "death": day(169)}, Rules(),
     day(169), True, 2, "one event"),
    ("death after PD", {"assessments": (*SCANS[:1], (day(85), "PD")), "death": day(100)}, Rules(), day(85), True, 2,
     "the earlier of the two"),
    ("progression field later than the PD scan", {"assessments": ((day(43), "SD"), (day(85), "PD")),
                                                  "progression": day(127)}, Rules(), day(85), True, 2,
     "the first time progression was noted"),
    ("scans go on after PD", {"assessments": ((day(43), "SD"), (day(85), "PD"), (day(127), "SD"))}, Rules(),
     day(85), True, 2, "treatment beyond progression does not move the event"),
    ("clinical progression on the first dose day", {"progression": day(1)}, Rules(), day(1), True, 2,
     "gap 0: event on day 1"),
    ("lost to follow-up", {"assessments": SCANS, "lost_or_withdrawn": day(140)}, Rules(), day(127), False, 3,
     "censored at the last adequate scan; the loss is named"),
    ("no missed scan allowed, gap one interval", {"assessments": SCANS[:1], "progression": day(85)},
     Rules(missed_allowed=0), day(85), True, 2, "gap 42: the scan due on 85 is the PD scan"),
    ("no missed scan allowed, gap one interval + 1", {"assessments": SCANS[:1], "progression": day(86)},
     Rules(missed_allowed=0), day(43), False, 7, "gap 43: the scan due on 85 was missed"),
    ("two missed allowed", {"assessments": SCANS, "death": day(127 + 85)}, Rules(missed_allowed=2), day(212), True,
     6, "gap 85 <= 3 x 42"),
    ("7-day window, second scan late", {"assessments": SCANS[:1], "progression": day(43 + 84 + 7)},
     Rules(visit_window_days=7), day(134), True, 2, "gap 91: the scan due on 127 may be done up to 134"),
    ("7-day window, past it", {"assessments": SCANS[:1], "progression": day(43 + 84 + 8)},
     Rules(visit_window_days=7), day(43), False, 7, "gap 92: the window of the day-127 scan closed on 134"),
    ("8-week schedule, at the limit", {"assessments": ((day(57), "SD"),), "death": day(57 + 112)},
     Rules(assessment_interval_days=56), day(169), True, 6, "gap 112 = 2 x 56"),
    ("8-week schedule, past it", {"assessments": ((day(57), "SD"),), "death": day(57 + 113)},
     Rules(assessment_interval_days=56), day(57), False, 7, "gap 113 > 112"),
]


@pytest.mark.parametrize(("name", "given_facts", "rules", "end", "event", "number", "derivation"),
                         PFS_CASES + CORNERS, ids=[c[0] for c in PFS_CASES + CORNERS])
def test_pfs(name, given_facts, rules, end, event, number, derivation):
    result = pfs(facts(**given_facts), rules)
    assert (result.end, result.event) == (end, event), derivation
    assert result.days == (end - START).days + 1
    assert (result.subject, result.endpoint, result.start) == ("S-01", "PFS", START)
    assert situation(number) in result.rule, result.rule


def test_every_situation_of_the_table_has_a_case():
    assert {c[5] for c in PFS_CASES} == {1, 2, 3, 4, 5, 6, 7}


def test_the_rule_text_says_what_happened():
    missed = pfs(facts(assessments=SCANS, death=day(127 + 85)))
    assert missed.rule.startswith(MISSED)
    assert "2 scheduled assessments missed" in missed.rule and str(day(127)) in missed.rule
    assert pfs(facts()).rule.startswith(NO_ADEQUATE)
    assert pfs(facts(assessments=SCANS)).rule.startswith(NO_PROGRESSION)
    assert pfs(facts(assessments=SCANS, new_therapy=day(100))).rule.startswith(NEW_THERAPY)
    assert pfs(facts(death=day(30))).rule.startswith(DEATH_BEFORE_FIRST)
    assert pfs(facts(assessments=SCANS, death=day(150))).rule.startswith(DEATH_BETWEEN)
    between = pfs(facts(assessments=SCANS[:1], progression=day(60)))
    assert between.rule.startswith(PROGRESSION) and "between scheduled assessments" in between.rule
    same_day = pfs(facts(assessments=(*SCANS, (day(169), "PD")), new_therapy=day(169)))
    assert "started that day counts as after it" in same_day.rule
    assert "lost to follow-up or withdrawn" in pfs(facts(assessments=SCANS, lost_or_withdrawn=day(140))).rule
    assert all(r.rule.startswith(SITUATIONS) for r in (missed, between, same_day))


def test_the_order_of_the_assessments_does_not_matter():
    scans = ((day(43), "SD"), (day(85), "NE"), (day(127), "SD"), (day(169), "PD"))
    assert pfs(facts(assessments=scans)) == pfs(facts(assessments=tuple(reversed(scans))))
    assert pfs(facts(assessments=tuple(reversed(scans)))).end == day(169)


# Overall survival ----------------------------------------------------------------------------------------------

OS_CASES = [
    ("death", {"death": day(300)}, day(300), True, "event at death"),
    ("death after missed scans", {"assessments": SCANS, "death": day(400)}, day(400), True,
     "missed scans do not censor OS (PFS is censored at 127 here)"),
    ("death after new therapy", {"new_therapy": day(100), "death": day(400)}, day(400), True,
     "new therapy does not censor OS"),
    ("last known alive latest", {"assessments": SCANS, "last_known_alive": day(250)}, day(250), False, ""),
    ("a scan after the last contact", {"assessments": (*SCANS, (day(280), "NE")), "last_known_alive": day(250)},
     day(280), False, "any scan, NE included, shows the subject alive"),
    ("nothing but the start", {}, day(1), False, "day 1"),
    ("new therapy latest", {"assessments": SCANS, "new_therapy": day(140)}, day(140), False, ""),
    ("clinical progression latest", {"assessments": SCANS, "progression": day(150)}, day(150), False, ""),
    ("end of follow-up is not a contact", {"last_known_alive": day(100), "lost_or_withdrawn": day(150)}, day(100),
     False, "lost_or_withdrawn is named, not used"),
]


@pytest.mark.parametrize(("name", "given_facts", "end", "event", "derivation"), OS_CASES,
                         ids=[c[0] for c in OS_CASES])
def test_overall_survival(name, given_facts, end, event, derivation):
    result = overall_survival(facts(**given_facts))
    assert (result.end, result.event, result.days, result.endpoint) == (end, event, (end - START).days + 1, "OS")


def test_overall_survival_names_its_source():
    assert "last known alive" in overall_survival(facts(assessments=SCANS, last_known_alive=day(250))).rule
    assert "NE assessment" in overall_survival(facts(assessments=((day(280), "NE"),))).rule
    assert "lost to follow-up" in overall_survival(facts(lost_or_withdrawn=day(150))).rule


# Duration of response ------------------------------------------------------------------------------------------

RESPONSE = ((day(43), "PR"), (day(85), "PR"))
DOR_CASES = [
    # (id, facts, start, end, event, situation): days = end - start + 1
    ("progression", {"assessments": (*RESPONSE, (day(127), "PD"))}, day(43), day(127), True, 2),
    ("ongoing", {"assessments": RESPONSE}, day(43), day(85), False, 3),
    ("the response only", {"assessments": RESPONSE[:1]}, day(43), day(43), False, 3),
    ("new therapy after the response", {"assessments": (*RESPONSE, (day(127), "SD")), "new_therapy": day(100)},
     day(43), day(85), False, 4),
    ("new therapy on the response day", {"assessments": RESPONSE[:1], "new_therapy": day(43)}, day(43), day(43),
     False, 4),
    ("PD after missed scans", {"assessments": (*RESPONSE[:1], (day(200), "PD"))}, day(43), day(43), False, 7),
    ("death between scans", {"assessments": RESPONSE, "death": day(120)}, day(43), day(120), True, 6),
    ("death soon after the response", {"assessments": RESPONSE[:1], "death": day(60)}, day(43), day(60), True, 6),
    ("confirmed CR after a PR", {"assessments": ((day(43), "PR"), (day(85), "CR"), (day(127), "CR"),
                                                 (day(169), "PD"))}, day(43), day(169), True, 2),
]


@pytest.mark.parametrize(("name", "given_facts", "start", "end", "event", "number"), DOR_CASES,
                         ids=[c[0] for c in DOR_CASES])
def test_duration_of_response(name, given_facts, start, end, event, number):
    result = duration_of_response(facts(response_start=start, **given_facts))
    assert (result.start, result.end, result.event, result.endpoint) == (start, end, event, "DOR")
    assert result.days == (end - start).days + 1
    assert situation(number) in result.rule, result.rule


def test_no_response_no_duration():
    assert duration_of_response(facts(assessments=(*RESPONSE, (day(127), "PD")))) is None
    assert duration_of_response(facts()) is None


def test_dor_counts_missed_scans_from_the_response():
    # PR on 43, PD on 127: gap 84 from the response = at the limit, an event of 85 days; on 128 censored at 43.
    assert duration_of_response(facts(assessments=((day(43), "PR"), (day(127), "PD")), response_start=day(43))).event
    late = duration_of_response(facts(assessments=((day(43), "PR"), (day(128), "PD")), response_start=day(43)))
    assert (late.event, late.days) == (False, 1)


# The day count -------------------------------------------------------------------------------------------------

def test_days_count_the_start_as_day_one_as_admiral():
    # admiral test-derive_var_trtdurd.R: TRTSDT 2020-01-01, TRTEDT 2020-02-24 -> TRTDURD 55.
    admiral = SubjectFacts("A", date(2020, 1, 1), ((date(2020, 2, 24), "SD"),))
    assert pfs(admiral).days == 55
    assert pfs(admiral, Rules(day_one=False)).days == 54
    # admiral test-derive_vars_duration.R test 2: ASTDT = AENDT = 2019-09-18 -> ADURN 1.
    same_day = SubjectFacts("B", date(2019, 9, 18), ())
    assert pfs(same_day).days == 1 and overall_survival(same_day).days == 1
    assert pfs(same_day, Rules(day_one=False)).days == 0
    assert pfs(facts(death=day(30)), Rules(day_one=False)).days == 29


# Refused facts and rules ---------------------------------------------------------------------------------------

REFUSED = [
    ({"death": day(0)}, "death: .* is before start"),
    ({"progression": day(-2)}, "progression: .* is before start"),
    ({"new_therapy": day(0)}, "new_therapy: .* is before start"),
    ({"last_known_alive": day(0)}, "last_known_alive: .* is before start"),
    ({"lost_or_withdrawn": day(0)}, "lost_or_withdrawn: .* is before start"),
    ({"death": day(50), "last_known_alive": day(60)}, "last_known_alive: .* after death"),
    ({"death": day(50), "progression": day(60)}, "progression: .* after death"),
    ({"death": day(50), "new_therapy": day(60)}, "new_therapy: .* after death"),
    ({"assessments": ((day(43), "SD"), (day(85), "SD")), "death": day(60)}, r"assessments\[1\]: SD on .* after death"),
    ({"assessments": ((day(43), "pr"),)}, r"assessments\[0\] response: unknown response 'pr'"),
    ({"assessments": ((day(43), "NON-CR"),)}, r"assessments\[0\] response"),
    ({"assessments": ((day(43), "SD"), (day(43), "PD"))}, r"assessments\[1\]: a second assessment on"),
    ({"assessments": ((day(43),),)}, r"assessments\[0\]: expected a \(date, response\) pair"),
    ({"assessments": "SD"}, "assessments: expected a sequence"),
    ({"assessments": (("2026-02-16", "SD"),)}, r"assessments\[0\] date: expected a date"),
    ({"death": datetime(2026, 3, 1, 12, 0)}, "death: expected a date, got datetime"),
    ({"death": "2026-03-01"}, "death: expected a date, got str"),
    ({"assessments": SCANS, "response_start": day(85)}, "response_start: .* not the date of a post-baseline CR or PR"),
    ({"response_start": day(43)}, "response_start: .* not the date of a post-baseline CR or PR"),
    ({"assessments": ((day(43), "PR"), (day(85), "PD")), "progression": day(43), "response_start": day(43)},
     "response_start: .* not before the progression"),
]


@pytest.mark.parametrize(("given_facts", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_impossible_facts_are_refused_by_name(given_facts, message):
    for derive in (pfs, overall_survival, duration_of_response):
        with pytest.raises(ValueError, match=message) as caught:
            derive(facts(**given_facts))
        assert "subject 'S-01'" in str(caught.value)


def test_bad_subject_start_and_arguments():
    with pytest.raises(ValueError, match="subject: expected a non-empty identifier"):
        pfs(SubjectFacts(" ", START))
    with pytest.raises(ValueError, match="start: expected a date, got datetime"):
        pfs(SubjectFacts("S", datetime(2026, 1, 5, 9, 0)))
    with pytest.raises(ValueError, match="facts: expected SubjectFacts"):
        pfs({"subject": "S", "start": START})
    with pytest.raises(ValueError, match="rules: expected Rules"):
        pfs(facts(), {"assessment_interval_days": 42})


def test_new_therapy_before_the_response_is_refused_for_dor_only():
    given_facts = facts(assessments=RESPONSE, new_therapy=day(30), response_start=day(43))
    assert pfs(given_facts).end == day(1)  # PFS: censored at the start (no adequate scan on or before day 30)
    with pytest.raises(ValueError, match=r"new_therapy: .* before response_start"):
        duration_of_response(given_facts)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"assessment_interval_days": 0}, "assessment_interval_days: must be at least 1"),
    ({"assessment_interval_days": 42.0}, "assessment_interval_days: expected a whole number"),
    ({"assessment_interval_days": True}, "assessment_interval_days: expected a whole number"),
    ({"missed_allowed": -1}, "missed_allowed: must be at least 0"),
    ({"visit_window_days": -1}, "visit_window_days: must be at least 0"),
    ({"day_one": 1}, "day_one: expected True or False"),
])
def test_rules_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rules(**kwargs)


# Properties that follow from the table for any facts -----------------------------------------------------------

@st.composite
def subject_facts(draw) -> SubjectFacts:
    days = sorted(draw(st.sets(st.integers(min_value=-10, max_value=400), max_size=8)))
    scans = tuple((day(n), draw(st.sampled_from(("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")))) for n in days)
    last_scan = max(days, default=1)
    death = draw(st.one_of(st.none(), st.integers(min_value=max(last_scan, 1), max_value=600).map(day)))
    ceiling = 600 if death is None else (death - START).days + 1
    optional = st.one_of(st.none(), st.integers(min_value=1, max_value=ceiling).map(day))
    return SubjectFacts("P", START, scans, progression=draw(optional), death=death,
                        last_known_alive=draw(optional), new_therapy=draw(optional))


@settings(max_examples=300, deadline=None)
@given(subject_facts(), st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=10))
def test_pfs_ends_on_an_event_or_an_adequate_assessment(given_facts, allowed, window):
    rules = Rules(missed_allowed=allowed, visit_window_days=window)
    first_pd = next((d for d, r in given_facts.assessments if r == "PD" and d > START), None)
    progression = min((d for d in (given_facts.progression, first_pd) if d is not None), default=None)
    event_day = min((d for d in (progression, given_facts.death) if d is not None), default=None)
    adequate = {d for d, r in given_facts.assessments if r != "NE" and d > START}
    result, survival = pfs(given_facts, rules), overall_survival(given_facts, rules)
    assert isinstance(result, TimeToEvent) and result.rule.startswith(SITUATIONS)
    assert result.days == (result.end - START).days + 1 >= 1
    if result.event:  # an event is the first progression or death, never a later one
        assert result.end == event_day
    else:  # a censoring is at the start or an adequate assessment, never after the event
        assert result.end == START or result.end in adequate
        assert event_day is None or result.end <= event_day
    assert result.end <= survival.end  # nobody progresses after their last day known alive
    assert survival.event == (given_facts.death is not None)
