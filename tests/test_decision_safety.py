"""Issue 8, points 1, 2, 11 and 12 (part): no decision on unadjudicated data, a signed decision stands,
sponsors see no subject-level data, work queues and why a cohort is closed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from escalation.models import Cohort, EscalationDecision
from escalation.selectors import cohort_state, escalation_evidence
from escalation.services import decision_recommend, decision_sign
from subjects.models import AdverseEvent, Subject
from subjects.services import adverse_event_record, dlt_adjudicate, dose_record, subject_enrol
from tests.auth import signed, signing
from tests.conftest import load_trial, member
from tests.screening.helpers import predose
from trialrules import dlt
from trialrules.escalation import Design, parse_outcomes, recommend, recommend_for_cohort
from trials.models import Role

LVGN = Design(n_levels=3, cohort_size=3, allow_deescalate=True, six_to_declare=True)
BAT6005 = Design(n_levels=6, titration_levels=3, titration_expand=2, cohort_size=3, allow_deescalate=True,
                 six_to_declare=True)
BAT_LABELS = ["10 mg", "30 mg", "100 mg", "300 mg", "600 mg", "900 mg"]


# --------------------------------------------------------------------------------------------------
# The rules (pure: trialrules.dlt and trialrules.escalation)
# --------------------------------------------------------------------------------------------------


def test_dlt_criteria_and_open_questions():
    assert dlt.meets_dlt_criteria(grade=3, related=True, in_window=True)
    assert not dlt.meets_dlt_criteria(grade=2, related=True, in_window=True)
    assert not dlt.meets_dlt_criteria(grade=4, related=False, in_window=True)
    assert not dlt.meets_dlt_criteria(grade=4, related=True, in_window=False)
    assert dlt.meets_dlt_criteria(grade=2, related=True, in_window=True, min_grade=2)
    assert dlt.min_grade({}) == 3 and dlt.min_grade({"dlt_min_grade": 4}) == 4 and dlt.min_grade(None) == 3

    ask = {"in_window": True, "min_grade": 3}
    assert dlt.open_question(grade=3, attributed=True, proposed=True, **ask) == dlt.ADJUDICATION
    assert dlt.open_question(grade=3, attributed=False, proposed=False, **ask) == dlt.ATTRIBUTION
    assert dlt.open_question(grade=2, attributed=False, proposed=False, **ask) is None  # cannot be a DLT
    # ... except at an accelerated-titration level, where a related grade 2 (G) ends titration.
    assert dlt.open_question(grade=2, attributed=False, proposed=False, tox2_matters=True, **ask) == dlt.ATTRIBUTION
    assert dlt.open_question(grade=3, attributed=True, proposed=False, **ask) is None
    assert dlt.open_question(grade=4, attributed=False, proposed=True, in_window=False) is None

    first = date(2026, 1, 5)
    assert dlt.window(first, 21) == (first, date(2026, 1, 26))
    assert dlt.onset_in_window(date(2026, 1, 26), first, 21) and not dlt.onset_in_window(date(2026, 1, 27), first, 21)
    assert not dlt.onset_in_window(first, None, 21)
    assert [dlt.study_day(first + timedelta(days=d), first) for d in (-2, -1, 0, 1, 20)] == [-2, -1, 1, 2, 21]


def test_engine_waits_for_a_pending_adjudication():
    """LVGN6051: 1NN evaluable, the third subject pending (proposed DLT) -> no decision; once adjudicated
    as a DLT (1NTN) the 3+3 rule expands the level to 6."""
    assert recommend(LVGN, parse_outcomes("1NGN")).next_dose_level == 2  # what today's code decides on
    waiting = recommend(LVGN, parse_outcomes("1NN"), pending=[1])
    assert waiting.waiting and waiting.add_subjects == 0
    after = recommend(LVGN, parse_outcomes("1NTN"))
    assert (after.continue_trial, after.next_dose_level, after.add_subjects) == (True, 1, 3)


def test_engine_fills_a_cohort_a_signed_decision_opened():
    """BAT6005: 1N 2N recommends 100 mg; the investigator approved 3 more at 30 mg. While its places are
    free (or its subjects pending) nothing is decided; once in, the next decision follows from it."""
    history = parse_outcomes("1N 2N")
    assert recommend(BAT6005, history, labels=BAT_LABELS).next_dose_level == 3  # today's "escalate to 100 mg"
    for free, pending in ((3, []), (1, [2, 2]), (0, [2, 2, 2])):
        result = recommend_for_cohort(BAT6005, history, pending, cohort_level=2, free_places=free, labels=BAT_LABELS)
        assert result.waiting, (free, pending)
    done = recommend_for_cohort(BAT6005, parse_outcomes("1N 2N 2NNN"), cohort_level=2, labels=BAT_LABELS)
    assert not done.waiting and (done.next_dose_level, done.add_subjects) == (3, 1)


def test_own_dlts_still_stop_a_cohort_early():
    """Two DLTs among the cohort's own subjects exceed the MTD whatever its last subject does: decided at
    once (the protocol's early stop); without them a free place keeps the cohort filling."""
    history = parse_outcomes("1N 2N 3G 3NN 4TT")
    early = recommend_for_cohort(BAT6005, history, cohort_level=4, free_places=1, cohort_dlts=2, labels=BAT_LABELS)
    assert not early.waiting and early.next_dose_level == 3
    # LVGN6051: MTD = level 1 (0/6 below a toxic level 2) whatever one more subject at level 1 does; the
    # investigator decided to add one there anyway: that place is filled first.
    declared = parse_outcomes("1NNN 2TT 1NNN")
    assert not recommend(LVGN, declared, pending=[1]).waiting
    held = recommend_for_cohort(LVGN, declared, cohort_level=1, free_places=1)
    assert held.waiting and "signed decision" in held.rationale
    with pytest.raises(ValueError):
        recommend_for_cohort(BAT6005, history, cohort_level=4, free_places=-1)


# --------------------------------------------------------------------------------------------------
# In the application
# --------------------------------------------------------------------------------------------------


def dosed(trial, site, user, initials, days_ago, *, dob=date(1960, 1, 1)):
    subject = subject_enrol(trial=trial, site=site, user=user, initials=initials, date_of_birth=dob, sex="F")
    when = timezone.now() - timedelta(days=days_ago)
    # Enrolled the day before the (backdated) first dose, as in a trial that has been running.
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=when - timedelta(days=1))
    predose(subject, when, user)
    dose_record(subject=subject, drug=trial.drugs.order_by("order").first(), cycle=1, day=1, user=user,
                administered_at=when)
    return subject


def first_day(subject):
    return timezone.localtime(subject.first_dose().administered_at).date()


def lvgn_with_people(site_a, site_b):
    """LVGN6051 + anlotinib with a coordinator, an investigator (site A), a sponsor and a coordinator of
    site B."""
    trial = load_trial("LVGN6051-ANLOTINIB")
    people = {
        "coordinator": member(trial, Role.COORDINATOR, site_a, "c-lvgn"),
        "investigator": member(trial, Role.INVESTIGATOR, site_a, "i-lvgn", principal=True),
        "sponsor": member(trial, Role.SPONSOR, None, "s-lvgn"),
        "coordinator_b": member(trial, Role.COORDINATOR, site_b, "cb-lvgn"),
    }
    return trial, people


@pytest.fixture
def lvgn(db, site_a, site_b):
    return lvgn_with_people(site_a, site_b)


@pytest.fixture
def level_1_with_proposed_dlt(lvgn, site_a):
    """The reproduction: three subjects at level 1, windows closed, the second with a related grade 3
    hypertension proposed as a DLT and not yet confirmed."""
    trial, people = lvgn
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 25) for initials in ("AB", "CD", "EF")]
    event = adverse_event_record(subject=subjects[1], user=people["coordinator"], term="Hypertension", grade=3,
                                 attribution="probable", onset_date=first_day(subjects[1]) + timedelta(days=6))
    assert event.dlt_status == AdverseEvent.DltStatus.PROPOSED
    return trial, people, subjects, event


@pytest.mark.django_db
def test_no_decision_while_a_proposed_dlt_awaits_adjudication(level_1_with_proposed_dlt, login):
    trial, people, subjects, event = level_1_with_proposed_dlt
    assert decision_recommend(trial=trial) is None  # today: "escalate" recorded on 1NGN
    assert not EscalationDecision.objects.filter(trial=trial).exists()
    evidence = escalation_evidence(trial, now=timezone.now())
    assert evidence.pending == [1] and len(evidence.outcomes) == 2
    [item] = evidence.open_items
    assert (item.subject_code, item.event_id, item.needs, item.study_day) == (subjects[1].code, event.pk,
                                                                              "adjudication", 7)

    # The investigator's work queue and the trial page say what is open, with the link to adjudicate.
    client = login(people["investigator"])
    home = client.get(reverse("home")).content.decode()
    ae_url = reverse("subjects:ae_detail", args=[event.pk])
    assert "DLTs to adjudicate" in home and ae_url in home and "holds up the next dose decision" in home
    page = client.get(reverse("trials:detail", args=[trial.code])).content.decode()
    assert "The next decision waits for" in page and ae_url in page and "DLT adjudication" in page
    assert "awaiting the decision on its DLT windows" in page and "1 adverse event awaiting DLT adjudication" in page

    dlt_adjudicate(event=event, user=people["investigator"], confirm=True)
    decision = decision_recommend(trial=trial)
    assert decision.outcomes == "1NTN"
    assert (decision.next_dose_level.label, decision.add_subjects) == ("LVGN6051 1 mg/kg + anlotinib 12 mg", 3)


@pytest.mark.django_db
def test_rejected_proposal_lets_the_decision_be_made(level_1_with_proposed_dlt):
    trial, people, _, event = level_1_with_proposed_dlt
    assert decision_recommend(trial=trial) is None
    dlt_adjudicate(event=event, user=people["investigator"], confirm=False, comment="Pre-existing hypertension.")
    decision = decision_recommend(trial=trial)
    assert decision.outcomes == "1NGN" and decision.next_dose_level.label.startswith("LVGN6051 3 mg/kg")


@pytest.mark.django_db
def test_no_decision_while_a_dlt_grade_event_lacks_attribution(lvgn, site_a):
    trial, people = lvgn
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 25) for initials in ("AB", "CD", "EF")]
    event = adverse_event_record(subject=subjects[0], user=people["coordinator"], term="Neutrophil count decreased",
                                 grade=3, attributions={"LVGN6051": "", "Anlotinib": ""},
                                 onset_date=first_day(subjects[0]) + timedelta(days=2))
    assert event.attribution == "" and event.dlt_status == ""
    assert decision_recommend(trial=trial) is None  # today: "escalate" on 1NNN
    [item] = escalation_evidence(trial, now=timezone.now()).open_items
    assert item.needs == "attribution"
    AdverseEvent.objects.filter(pk=event.pk).update(attribution="unlikely")
    decision = decision_recommend(trial=trial)
    assert decision.outcomes == "1NNN" and decision.add_subjects == 3


@pytest.mark.django_db
def test_unattributed_grade_2_holds_accelerated_titration(people, bat6005, site_a):
    subject = dosed(bat6005, site_a, people["coordinator"], "AA", 30)
    adverse_event_record(subject=subject, user=people["coordinator"], term="Fatigue", grade=2,
                         attributions={"BAT6005": ""}, onset_date=first_day(subject) + timedelta(days=3))
    assert decision_recommend(trial=bat6005) is None  # today: escalate to 30 mg (N)
    AdverseEvent.objects.filter(subject=subject).update(attribution="possible")
    decision = decision_recommend(trial=bat6005)
    assert decision.outcomes == "1G" and (decision.next_dose_level.label, decision.add_subjects) == ("10 mg", 2)


@pytest.mark.django_db
def test_decision_page_lists_what_is_still_open(lvgn, site_a, login):
    """Two confirmed DLTs at level 1 decide (no tolerable dose) whatever the third subject's proposed DLT
    turns out to be: the decision is made, and its page lists the open adjudication with its link."""
    trial, people = lvgn
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 25) for initials in ("AB", "CD", "EF")]
    for subject in subjects[:2]:
        adverse_event_record(subject=subject, user=people["investigator"], term="Hypertension", grade=3,
                             attribution="definite", is_dlt=True, onset_date=first_day(subject) + timedelta(days=1))
    open_event = adverse_event_record(subject=subjects[2], user=people["coordinator"], term="Hypertension", grade=4,
                                      attribution="possible", onset_date=first_day(subjects[2]) + timedelta(days=1))
    decision = decision_recommend(trial=trial)
    assert decision is not None and not decision.continue_trial and decision.recommended_dose_level is None
    page = login(people["investigator"]).get(reverse("escalation:decision", args=[decision.pk])).content.decode()
    assert "Still open in this trial" in page and reverse("subjects:ae_detail", args=[open_event.pk]) in page
    assert subjects[2].code in page
    sponsor_page = login(people["sponsor"]).get(reverse("escalation:decision", args=[decision.pk])).content.decode()
    assert "Still open in this trial" in sponsor_page and subjects[2].code not in sponsor_page


# --------------------------------------------------------------------------------------------------
# Point 2: a signed decision stands
# --------------------------------------------------------------------------------------------------


def bat_at_100mg_recommended(people, trial, site):
    """BAT6005: 10 mg (1 subject) and 30 mg (1 subject), both windows closed: 'escalate to 100 mg'."""
    dosed(trial, site, people["coordinator"], "AA", 80)
    first = decision_recommend(trial=trial)
    decision_sign(decision=first, user=people["investigator"], **signing(people["investigator"]), meaning="approved")
    dosed(trial, site, people["coordinator"], "BB", 55)
    second = decision_recommend(trial=trial)
    assert (second.next_dose_level.label, second.add_subjects) == ("100 mg", 1)
    return second


@pytest.mark.django_db
def test_an_override_opens_a_cohort_that_fills_to_its_capacity(people, bat6005, site_a, login):
    decision = bat_at_100mg_recommended(people, bat6005, site_a)
    level_30 = bat6005.dose_levels.get(label="30 mg")
    client = login(people["investigator"])
    response = client.post(reverse("escalation:decision", args=[decision.pk]), signed(
        people["investigator"], meaning="approved", next_dose_level=level_30.pk, add_subjects=3,
        justification="Grade 2 infusion reactions after the window at 30 mg; confirm 30 mg in 3 more.",
    ))
    assert response.status_code == 302
    cohort = Cohort.objects.get(trial=bat6005, status="open")
    assert (cohort.dose_level, cohort.capacity, cohort.opened_by_id) == (level_30, 3, decision.pk)

    # The periodic review (review_open_cohorts -> decision_recommend) no longer undoes it.
    assert decision_recommend(trial=bat6005) is None  # today: FULL with 0/3 and "escalate to 100 mg"
    cohort.refresh_from_db()
    assert cohort.status == "open" and not cohort.decisions.exists()
    page = client.get(reverse("trials:detail", args=[bat6005.code])).content.decode()
    assert "0 of 3 places taken" in page and "Open for enrolment" in page

    # Enrol, dose (7-day stagger after the first 30 mg subject, then 24 h), close the windows.
    subjects = []
    for initials, days_ago in (("CC", 45), ("DD", 44), ("EE", 43)):
        subjects.append(dosed(bat6005, site_a, people["coordinator"], initials, days_ago))
        assert decision_recommend(trial=bat6005) is None or len(subjects) == 3
    cohort.refresh_from_db()
    nxt = cohort.decisions.get()
    assert nxt.outcomes == "1N 2NNNN" and (nxt.next_dose_level.label, nxt.add_subjects) == ("100 mg", 1)
    assert {s.cohort_id for s in subjects} == {cohort.pk}


@pytest.mark.django_db
def test_a_cohort_opened_by_an_override_waits_for_its_own_windows(people, bat6005, site_a):
    decision = bat_at_100mg_recommended(people, bat6005, site_a)
    level_30 = bat6005.dose_levels.get(label="30 mg")
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  next_dose_level=level_30, add_subjects=3, justification="Confirm 30 mg in a full cohort first.")
    cohort = Cohort.objects.get(trial=bat6005, status="open")
    for initials, days_ago in (("CC", 10), ("DD", 9), ("EE", 8)):
        dosed(bat6005, site_a, people["coordinator"], initials, days_ago)
    assert decision_recommend(trial=bat6005) is None  # windows open: the engine waits
    cohort.refresh_from_db()
    assert cohort.status == "full" and not cohort.decisions.exists()
    state = cohort_state(cohort)
    assert state.key == "awaiting" and "3 subjects still in the DLT window" in state.detail
    later = decision_recommend(trial=bat6005, now=timezone.now() + timedelta(days=14))
    assert later.outcomes == "1N 2NNNN" and later.next_dose_level.label == "100 mg"


# --------------------------------------------------------------------------------------------------
# Point 11: the sponsor's view of a decision
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def decided_lvgn(lvgn, site_a):
    """LVGN6051 level 1 with a confirmed DLT (1NTN): 'expand to 6', signed with a comment."""
    trial, people = lvgn
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 25, dob=date(1957, 3, 14))
                for initials in ("QZX", "QZY", "QZW")]
    adverse_event_record(subject=subjects[1], user=people["investigator"], term="Hypertension", grade=3,
                         attribution="probable", is_dlt=True, onset_date=first_day(subjects[1]) + timedelta(days=6))
    adverse_event_record(subject=subjects[0], user=people["coordinator"], term="Fatigue", grade=1,
                         attribution="unlikely", onset_date=first_day(subjects[0]) + timedelta(days=2))
    decision = decision_recommend(trial=trial)
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  next_dose_level=decision.next_dose_level, add_subjects=2,
                  justification="The hypertension recovered within 3 days; two more suffice.",
                  comment="Discussed with QZY-family at the bedside.")
    decision.refresh_from_db()
    return trial, people, subjects, decision


@pytest.mark.django_db
def test_sponsor_sees_counts_dlt_terms_and_study_days_only(decided_lvgn, login):
    trial, people, subjects, decision = decided_lvgn
    url = reverse("escalation:decision", args=[decision.pk])
    body = login(people["sponsor"]).get(url).content.decode()
    for subject in subjects:
        assert subject.code not in body and subject.initials not in body
        dose_at = timezone.localtime(subject.first_dose().administered_at)
        assert dose_at.strftime("%Y-%m-%d") not in body and dose_at.isoformat()[:16] not in body
    leaked = [text for s in subjects for text in (s.code, s.initials) if text in body]
    assert not leaked, leaked
    assert not any(text in body for text in ("1957-03-14", "14 Mar 1957", "March 14, 1957", "14/03/1957"))
    assert "bedside" not in body and "recovered within" not in body  # site staff's free text
    assert "Fatigue" not in body  # AE terms per subject: only DLTs are shown, by level
    assert "Hypertension" in body and "<td>7</td>" in body  # the DLT, its grade and study day
    assert 'id="decision-levels"' in body and 'id="evidence"' not in body
    assert "Sponsor concurrence" in body  # and the sponsor can still concur from this page

    staff = login(people["investigator"]).get(url).content.decode()
    assert all(s.code in staff for s in subjects) and "bedside" in staff and "recovered within" in staff
    other_site = login(people["coordinator_b"]).get(url).content.decode()
    assert [s.code for s in subjects if s.code in other_site] == [] and "at another site" in other_site

    api = login(people["sponsor"]).get(reverse("api-dashboard", args=[trial.code])).content.decode()
    assert [t for s in subjects for t in (s.code, s.initials) if t in api] == [] and "bedside" not in api


@pytest.mark.django_db
def test_sponsor_sees_no_subject_codes_in_an_invalidation_reason(decided_lvgn, login):
    trial, people, subjects, decision = decided_lvgn
    decision_sign(decision=decision, user=people["sponsor"], **signing(people["sponsor"]), meaning="concurred")
    AdverseEvent.objects.filter(subject=subjects[0]).update(grade=2)
    decision_recommend(trial=trial)
    decision.refresh_from_db()
    assert decision.status == "invalidated" and subjects[0].code in decision.invalidated_reason
    body = login(people["sponsor"]).get(reverse("escalation:decision", args=[decision.pk])).content.decode()
    assert subjects[0].code not in body and "The trial data changed after this decision was made" in body


# --------------------------------------------------------------------------------------------------
# Point 12: work queues and why a cohort is closed
# --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_pages_list_what_waits(lvgn, site_a, login):
    trial, people = lvgn
    for initials in ("AB", "CD", "EF"):
        dosed(trial, site_a, people["coordinator"], initials, 25)
    decision = decision_recommend(trial=trial)
    url = reverse("escalation:decision", args=[decision.pk])
    home = login(people["investigator"]).get(reverse("home")).content.decode()
    assert "Decisions to sign" in home and url in home
    assert "awaiting your concurrence" not in login(people["sponsor"]).get(reverse("home")).content.decode()

    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved")
    sponsor_home = login(people["sponsor"]).get(reverse("home")).content.decode()
    assert "Decisions awaiting your concurrence" in sponsor_home and url in sponsor_home
    assert "Decisions to sign" not in login(people["investigator"]).get(reverse("home")).content.decode()
    coordinator_home = login(people["coordinator"]).get(reverse("home")).content.decode()
    assert "Waiting for you" not in coordinator_home


@pytest.mark.django_db
def test_a_closed_cohort_says_why(lvgn, site_a, login):
    trial, people = lvgn
    cohort = trial.cohorts.get(number=1)
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 10) for initials in ("AB", "CD", "EF")]
    client = login(people["coordinator"])

    def shown():
        page = client.get(reverse("trials:detail", args=[trial.code])).content.decode()
        assert "Full: DLT observation" not in page
        return page

    assert "Closed: awaiting the decision on its DLT windows" in shown()
    assert "3 subjects still in the DLT window" in shown()
    enrol = client.get(reverse("subjects:enrol", args=[trial.code])).content.decode()
    assert "awaiting the decision on its DLT windows" in enrol

    decision = decision_recommend(trial=trial, now=timezone.now() + timedelta(days=14))
    assert "its decision awaits the investigator&#x27;s signature" in shown()
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  now=timezone.now() + timedelta(days=14))
    assert "its decision awaits the sponsor&#x27;s concurrence" in shown()
    decision_sign(decision=decision, user=people["sponsor"], **signing(people["sponsor"]), meaning="concurred",
                  now=timezone.now() + timedelta(days=14))
    cohort.refresh_from_db()
    assert cohort.status == "decided" and cohort_state(cohort).headline.startswith("Decided: Continue: 3 subject(s)")
    dashboard = login(people["sponsor"]).get(reverse("trials:dashboard", args=[trial.code])).content.decode()
    assert "Decided: Continue: 3 subject(s)" in dashboard and "Open for enrolment" in dashboard

    # A late AE changes the approved decision's data: the cohort it opened closes, and says why.
    client = login(people["coordinator"])
    AdverseEvent.objects.create(subject=subjects[0], term="Rash maculo-papular", grade=1, attribution="unlikely",
                                onset_date=first_day(subjects[0]), recorded_by=people["coordinator"])
    decision_recommend(trial=trial, now=timezone.now() + timedelta(days=14))
    page = shown()
    assert "Closed: the decision that opened it was invalidated" in page
