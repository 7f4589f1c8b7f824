"""Adverse events: CTCAE v5.0 terms and grades, SAE criteria, per-drug attribution, irAE, TEAE/TRAE
derived; DLT proposal and the investigator's adjudication (only adjudicated DLTs count); the titration
signal; the typeahead and grade-definition endpoints; the filtered, paginated AE list."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.selectors import escalation_evidence
from subjects.models import CtcaeTerm
from subjects.services import adverse_event_record, dlt_adjudicate, dose_record, subject_enrol, titration_signals
from tests.conftest import load_trial, member
from tests.screening.helpers import predose
from trials.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def dosed(people, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="AE",
                            date_of_birth=date(1960, 1, 1), sex="M")
    first = timezone.now() - timedelta(days=10)
    predose(subject, first, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=first,
                user=people["coordinator"])
    return subject, timezone.localtime(first).date()


def record(subject, user, **fields):
    data = {"term": "Fatigue", "grade": 1, "onset_date": timezone.localdate(), "attribution": "unrelated", **fields}
    return adverse_event_record(subject=subject, user=user, **data)


def test_ctcae_list_is_loaded():
    assert CtcaeTerm.objects.count() == 837
    anemia = CtcaeTerm.objects.get(term="Anemia")
    assert anemia.grade_text(3).startswith("Hgb <8.0 g/dL") and anemia.grade_text(5) == "Death"
    assert CtcaeTerm.objects.get(term="Disseminated intravascular coagulation").grades() == [2, 3, 4, 5]


def test_term_must_be_from_ctcae_with_suggestions(people, dosed):
    subject, _ = dosed
    with pytest.raises(ValidationError) as refused:
        record(subject, people["coordinator"], term="Rash")
    message = refused.value.message_dict["term"][0]
    assert "“Rash” is not a CTCAE v5.0 term. Did you mean:" in message and "Rash maculo-papular" in message
    event = record(subject, people["coordinator"], term="rash MACULO-papular")
    assert event.term == "Rash maculo-papular" and event.ctcae.meddra_code


def test_grade_must_exist_for_the_term(people, dosed):
    subject, _ = dosed
    with pytest.raises(ValidationError) as refused:
        record(subject, people["coordinator"], term="Disseminated intravascular coagulation", grade=1)
    assert refused.value.message_dict["grade"] == [
        "Grade 1 is not defined for Disseminated intravascular coagulation in CTCAE v5.0 (grades 2, 3, 4, 5)."]


def test_teae_trae_derived(people, dosed):
    subject, first = dosed
    before = record(subject, people["coordinator"], onset_date=first - timedelta(days=2), attribution="probable")
    unrelated = record(subject, people["coordinator"], onset_date=first, attribution="unlikely")
    related = record(subject, people["coordinator"], onset_date=first + timedelta(days=1), attribution="possible")
    assert (before.teae, before.trae) == (False, False)
    assert (unrelated.teae, unrelated.trae) == (True, False)
    assert (related.teae, related.trae) == (True, True)


def test_serious_criteria_make_an_sae(people, dosed):
    subject, _ = dosed
    event = record(subject, people["coordinator"], serious_criteria=["hospitalisation"], grade=3,
                   term="Diarrhea", immune_related=True, action_taken="interrupted", outcome="recovering")
    assert event.serious and event.serious_criteria == ["hospitalisation"] and event.immune_related


def test_dlt_is_proposed_and_counts_only_once_adjudicated(people, bat6005, dosed):
    subject, first = dosed
    event = record(subject, people["coordinator"], term="Pneumonitis", grade=3, attribution="probable",
                   onset_date=first + timedelta(days=5))
    assert event.dlt_status == "proposed" and not event.is_dlt
    later = timezone.now() + timedelta(days=30)
    facts = escalation_evidence(bat6005, now=later)
    # Proposed only: not a T, and pending until adjudicated (issue 8, point 1).
    assert facts.outcomes == [] and facts.pending == [1]
    with pytest.raises(PermissionDenied):
        dlt_adjudicate(event=event, user=people["coordinator"], confirm=True)
    dlt_adjudicate(event=event, user=people["investigator"], confirm=True)
    event.refresh_from_db()
    assert event.is_dlt and event.dlt_status == "confirmed" and event.adjudicated_by == people["investigator"]
    assert [o.dlt for o in escalation_evidence(bat6005, now=later).outcomes] == [True]
    labels = [e.pgh_diff for e in Events.objects.tracks(event) if e.pgh_label == "update"]
    assert labels and labels[-1]["is_dlt"] == [False, True]


@pytest.mark.parametrize("fields", [
    {"grade": 2, "attribution": "definite"},                     # below grade 3
    {"grade": 3, "attribution": "unlikely"},                     # not related
    {"grade": 4, "attribution": "probable", "days": -1},        # before the first dose: not in the window
])
def test_not_proposed_outside_the_criteria(people, dosed, fields):
    subject, first = dosed
    days = fields.pop("days", 3)
    event = record(subject, people["coordinator"], term="Colitis", onset_date=first + timedelta(days=days), **fields)
    assert event.dlt_status == ""


def test_rejection_needs_a_reason(login, people, dosed):
    subject, first = dosed
    event = record(subject, people["coordinator"], term="Colitis", grade=3, attribution="possible",
                   onset_date=first + timedelta(days=2))
    client = login(people["investigator"])
    url = reverse("subjects:ae_detail", args=[event.pk])
    response = client.post(url, {"decision": "reject"})
    assert response.status_code == 422
    assert response.context["form"].errors["comment"] == ["Say why this event is not a DLT."]
    response = client.post(url, {"decision": "reject", "comment": "Pre-existing colitis flare."})
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.dlt_status, event.is_dlt) == ("rejected", False)
    # A coordinator sees the adjudication but cannot post one.
    client = login(people["coordinator"])
    assert client.post(url, {"decision": "confirm"}).status_code == 403


def test_titration_signal_on_related_grade_2(login, people, bat6005, dosed):
    subject, first = dosed
    assert titration_signals(bat6005) == []
    record(subject, people["coordinator"], term="Nausea", grade=2, attribution="unlikely",
           onset_date=first + timedelta(days=1))
    assert titration_signals(bat6005) == []
    event = record(subject, people["coordinator"], term="Nausea", grade=2, attribution="possible",
                   onset_date=first + timedelta(days=2))
    assert titration_signals(bat6005) == [event]
    html = login(people["coordinator"]).get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert 'id="titration-signal"' in html and "ends titration" in html


def test_two_drug_attribution(site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    user = member(trial, Role.COORDINATOR, site_a, "lv-coordinator")
    subject = subject_enrol(trial=trial, site=site_a, user=user, initials="LV", date_of_birth=date(1970, 1, 1),
                            sex="F")
    with pytest.raises(ValidationError, match="Anlotinib"):
        adverse_event_record(subject=subject, user=user, term="Hypertension", grade=2,
                             onset_date=timezone.localdate(), attributions={"LVGN6051": "unrelated"})
    event = adverse_event_record(subject=subject, user=user, term="Hypertension", grade=2,
                                 onset_date=timezone.localdate(),
                                 attributions={"LVGN6051": "unlikely", "Anlotinib": "probable"})
    assert event.attribution == "probable" and event.related
    assert event.attributions == {"LVGN6051": "unlikely", "Anlotinib": "probable"}


# Pages ---------------------------------------------------------------------------------------------

def test_typeahead_returns_matching_terms(login, people, dosed):
    client = login(people["coordinator"])
    html = client.get(reverse("subjects:ctcae_search"), {"term": "pneumon"}).content.decode()
    assert '<option value="Pneumonitis">' in html
    assert client.get(reverse("subjects:ctcae_search"), {"term": "p"}).content.decode().strip() == ""
    grade = client.get(reverse("subjects:ctcae_grade"), {"term": "Pneumonitis", "grade": "3"}).content.decode()
    assert "Severe symptoms; limiting self care ADL; oxygen indicated" in grade


def test_form_rejects_unknown_term_keeps_input_and_shows_grade_definition(login, people, dosed):
    subject, first = dosed
    client = login(people["coordinator"])
    url = reverse("subjects:ae_new", args=[subject.pk])
    response = client.post(url, {"term": "Pneumonia viral", "grade": "3", "onset_date": first.isoformat(),
                                 "attribution": "possible", "serious_criteria": ["hospitalisation"]})
    assert response.status_code == 422
    assert "is not a CTCAE v5.0 term" in response.context["form"].errors["term"][0]
    html = response.content.decode()
    assert 'value="Pneumonia viral"' in html
    assert re.search(r'<input type="checkbox" name="serious_criteria" value="hospitalisation"[^>]*checked', html)
    response = client.post(url, {"term": "Pneumonitis", "grade": "9", "onset_date": first.isoformat(),
                                 "attribution": ""})
    assert "grade" in response.context["form"].errors and "attribution" in response.context["form"].errors
    page = client.get(url)
    assert page.status_code == 200 and 'list="ctcae-terms"' in page.content.decode()
    response = client.post(url, {"term": "Pneumonitis", "grade": "3", "onset_date": first.isoformat(),
                                 "attribution": "possible"}, follow=True)
    assert "meets the DLT criteria" in response.content.decode()


def test_ae_list_filtered_and_paginated(login, people, bat6005, dosed):
    subject, first = dosed
    for i in range(22):
        record(subject, people["coordinator"], grade=1 + i % 3, onset_date=first + timedelta(days=i % 9))
    record(subject, people["coordinator"], term="Pneumonitis", grade=3, attribution="probable",
           onset_date=first + timedelta(days=4), serious_criteria=["hospitalisation"])
    client = login(people["coordinator"])
    url = reverse("subjects:ae_list", args=[bat6005.code])
    page = client.get(url)
    assert page.context["page"].paginator.count == 23 and len(page.context["page"]) == 20
    assert client.get(url, {"grade": 3}).context["page"].paginator.count == 8
    sae = client.get(url, {"serious": "yes"})
    assert [e.term for e in sae.context["page"]] == ["Pneumonitis"]
    assert "TRAE" in sae.content.decode()
    assert client.get(url, {"dlt": "proposed"}).context["page"].paginator.count == 1
    # Another site's coordinator sees none of them.
    assert login(people["coordinator_b"]).get(url).context["page"].paginator.count == 0
