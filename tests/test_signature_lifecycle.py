"""Decisions and signatures: overrides with justification, sponsor concurrence, invalidation when the
signed data change, and intermediate dose levels (issue 3, point 5)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.models import Cohort, EscalationDecision, Signature
from escalation.services import decision_recommend, decision_sign, dose_level_add_intermediate
from subjects.models import AdverseEvent
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.auth import signed, signing
from tests.conftest import load_trial, member
from tests.screening.helpers import predose
from trials.models import Role

pytestmark = pytest.mark.django_db


def dosed_subject(trial, site, user, initials, days_ago, dose):
    subject = subject_enrol(trial=trial, site=site, user=user, initials=initials,
                            date_of_birth=date(1960, 1, 1), sex="F")
    drug = trial.drugs.order_by("order").first()
    predose(subject, timezone.now() - timedelta(days=days_ago), user)
    dose_record(subject=subject, drug=drug, cycle=1, day=1, dose=dose, user=user,
                administered_at=timezone.now() - timedelta(days=days_ago))
    return subject


@pytest.fixture
def first_decision(people, bat6005, site_a):
    """BAT6005 level 1: one subject, window closed, no toxicity → escalate to 30 mg with 1."""
    subject = dosed_subject(bat6005, site_a, people["coordinator"], "AA", 30, 10)
    decision = decision_recommend(trial=bat6005)
    assert (decision.next_dose_level.label, decision.add_subjects) == ("30 mg", 1)
    return subject, decision


def test_decision_that_differs_needs_a_justification(people, bat6005, first_decision):
    _, decision = first_decision
    level_1 = bat6005.dose_levels.get(label="10 mg")
    with pytest.raises(ValidationError) as excinfo:
        decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]),
                      meaning="approved", next_dose_level=level_1, add_subjects=2, justification="")
    assert "justification" in excinfo.value.message_dict
    assert not Signature.objects.exists()

    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  next_dose_level=level_1, add_subjects=2,
                  justification="Grade 2 fatigue after the window; repeat 10 mg first.")
    decision.refresh_from_db()
    assert decision.status == "approved" and decision.overridden
    assert decision.decided_summary == "Continue: 2 subject(s) at 10 mg"
    cohort = Cohort.objects.get(status="open")
    assert (cohort.dose_level.label, cohort.capacity) == ("10 mg", 2)


def test_choosing_exactly_the_recommendation_is_no_override(people, bat6005, first_decision):
    _, decision = first_decision
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  next_dose_level=decision.next_dose_level, add_subjects=1)
    decision.refresh_from_db()
    assert not decision.overridden and decision.justification == ""
    assert Cohort.objects.get(status="open").dose_level.label == "30 mg"


def test_override_form_errors_name_the_fields(login, people, bat6005, first_decision):
    _, decision = first_decision
    client = login(people["investigator"])
    url = reverse("escalation:decision", args=[decision.pk])
    level_1 = bat6005.dose_levels.get(label="10 mg")
    investigator = people["investigator"]
    response = client.post(url, signed(investigator, meaning="approved", next_dose_level=level_1.pk))
    assert response.status_code == 422
    assert response.context["form"].errors["add_subjects"] == ["Give how many subjects join (at least 1)."]
    response = client.post(url, signed(investigator, meaning="approved", next_dose_level=level_1.pk,
                                       add_subjects=2, justification="short"))
    assert "justification" in response.context["form"].errors
    assert 'value="2"' in response.content.decode()
    decision.refresh_from_db()
    assert decision.status == "pending"


def test_sponsor_concurrence_is_a_second_signature(site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "c-lvgn")
    investigator = member(trial, Role.INVESTIGATOR, site_a, "i-lvgn")
    sponsor = member(trial, Role.SPONSOR, None, "s-lvgn")
    for initials in ("AB", "CD", "EF"):
        dosed_subject(trial, site_a, coordinator, initials, 25, None)  # the computed dose: 1 mg/kg x 70 kg
    decision = decision_recommend(trial=trial)
    assert decision.next_dose_level.label.startswith("LVGN6051 3 mg/kg") and decision.add_subjects == 3

    with pytest.raises(PermissionDenied):  # the sponsor cannot approve in the investigator's place
        decision_sign(decision=decision, user=sponsor, **signing(sponsor), meaning="approved")
    decision_sign(decision=decision, user=investigator, **signing(investigator), meaning="approved")
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.CONCURRENCE
    assert not Cohort.objects.filter(trial=trial, status="open").exists()  # not in effect yet

    with pytest.raises(PermissionDenied):
        decision_sign(decision=decision, user=investigator, **signing(investigator), meaning="concurred")
    with pytest.raises(ValidationError) as excinfo:
        decision_sign(decision=decision, user=sponsor, **signing(sponsor), meaning="declined")
    assert "comment" in excinfo.value.message_dict
    decision_sign(decision=decision, user=sponsor, **signing(sponsor), meaning="concurred")
    decision.refresh_from_db()
    assert decision.status == "approved"
    assert [(s.role, s.meaning) for s in decision.signatures.all()] == [("investigator", "approved"),
                                                                         ("sponsor", "concurred")]
    assert Cohort.objects.get(trial=trial, status="open").dose_level == decision.next_dose_level


def test_sponsor_signs_concurrence_in_the_browser_form(login, site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "c2-lvgn")
    investigator = member(trial, Role.INVESTIGATOR, site_a, "i2-lvgn")
    sponsor = member(trial, Role.SPONSOR, None, "s2-lvgn")
    for initials in ("AB", "CD", "EF"):
        dosed_subject(trial, site_a, coordinator, initials, 25, None)  # the computed dose: 1 mg/kg x 70 kg
    decision = decision_recommend(trial=trial)
    client = login(sponsor)
    url = reverse("escalation:decision", args=[decision.pk])
    assert b"sign-form" not in client.get(url).content  # nothing to concur with yet
    decision_sign(decision=decision, user=investigator, **signing(investigator), meaning="approved")
    page = client.get(url)
    assert b"Sponsor concurrence" in page.content and b'value="concurred"' in page.content
    assert client.post(url, signed(sponsor, meaning="concurred")).status_code == 302
    decision.refresh_from_db()
    assert decision.status == "approved"


def test_changed_data_invalidates_a_pending_decision_at_signature(people, bat6005, first_decision):
    subject, decision = first_decision
    AdverseEvent.objects.create(subject=subject, term="Rash", grade=1, attribution="unlikely",
                                onset_date=subject.first_dose().administered_at.date(),
                                recorded_by=people["coordinator"])
    with pytest.raises(ValidationError, match="invalidated"):
        decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]),
                      meaning="approved")
    decision.refresh_from_db()
    assert decision.status == "invalidated" and not decision.signatures.exists()
    assert "changed before the decision was signed" in decision.invalidated_reason


def test_changed_data_invalidates_an_approved_decision(people, bat6005, first_decision):
    subject, decision = first_decision
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved")
    assert Cohort.objects.get(status="open").dose_level.label == "30 mg"
    # A DLT inside the first subject's window is entered after the approval.
    adverse_event_record(subject=subject, user=people["coordinator"], term="Hepatic failure", grade=3,
                         attribution="probable", is_dlt=True,
                         onset_date=subject.first_dose().administered_at.date() + timedelta(days=5))
    new = decision_recommend(trial=bat6005)
    decision.refresh_from_db()
    assert decision.status == "invalidated"
    assert subject.code in decision.invalidated_reason
    # Enrolment at 30 mg stops, and a new decision on the current data is asked for.
    cohort_2 = Cohort.objects.get(number=2)
    assert cohort_2.status == "full"
    assert new.cohort == cohort_2 and new.status == "pending"
    assert (new.next_dose_level.label, new.add_subjects, new.outcomes) == ("10 mg", 2, "1T")


def test_intermediate_level(login, people, bat6005):
    levels = {lv.label: lv for lv in bat6005.dose_levels.all()}
    with pytest.raises(PermissionDenied):
        dose_level_add_intermediate(trial=bat6005, user=people["coordinator"], lower=levels["300 mg"],
                                    upper=levels["600 mg"], label="450 mg", doses={"BAT6005": 450},
                                    reason="Between the stopping level and below")
    with pytest.raises(ValidationError, match="adjacent"):
        dose_level_add_intermediate(trial=bat6005, user=people["investigator"], lower=levels["100 mg"],
                                    upper=levels["600 mg"], label="450 mg", doses={"BAT6005": 450},
                                    reason="Between the stopping level and below")
    with pytest.raises(ValidationError, match="between 300 and 600"):
        dose_level_add_intermediate(trial=bat6005, user=people["investigator"], lower=levels["300 mg"],
                                    upper=levels["600 mg"], label="700 mg", doses={"BAT6005": 700},
                                    reason="Between the stopping level and below")

    client = login(people["investigator"])
    url = reverse("escalation:intermediate_level", args=[bat6005.code])
    drug = bat6005.drugs.get()
    response = client.post(url, {"lower": levels["300 mg"].pk, "upper": levels["600 mg"].pk, "label": "450 mg",
                                 f"dose_{drug.pk}": "450", "reason": "2/6 DLT at 600 mg; explore 450 mg."})
    assert response.status_code == 302
    added = bat6005.dose_levels.get(label="450 mg")
    assert added.intermediate and levels["300 mg"].rank < added.rank < levels["600 mg"].rank
    assert added.doses == {"BAT6005": "450"}
    assert [lv.label for lv in bat6005.dose_levels.all()][3:6] == ["300 mg", "450 mg", "600 mg"]
    event = Events.objects.tracks(added).get()
    assert event.pgh_context["reason"] == "2/6 DLT at 600 mg; explore 450 mg."
    assert event.pgh_context["user"] == people["investigator"].pk
    # Coordinators cannot reach the page.
    client = login(people["coordinator"])
    assert client.get(url).status_code == 403
