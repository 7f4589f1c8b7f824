"""Dosing: per drug of the regimen, weight-based doses, BAT6005's no-reduction rule, the ±3-day window
from cycle 2, pre-dose assessments within 3 days, the 17-cycle maximum and its continuation exception."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from subjects.models import ContinuationException, DoseAdministration
from subjects.services import continuation_grant, dose_record, subject_enrol
from tests.conftest import load_trial, member
from tests.screening.helpers import predose
from trials.models import Role

pytestmark = pytest.mark.django_db


def enrol(trial, site, user, initials="AB"):
    return subject_enrol(trial=trial, site=site, user=user, initials=initials, date_of_birth=date(1960, 1, 1),
                         sex="F")


@pytest.fixture
def bat_subject(people, bat6005, site_a):
    return enrol(bat6005, site_a, people["coordinator"])


def start():
    return (timezone.now() - timedelta(days=200)).replace(hour=9, minute=0, second=0, microsecond=0)


def test_bat6005_refuses_a_dose_reduction(people, bat6005, bat_subject):
    predose(bat_subject, start(), people["coordinator"])
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=start(),
                    dose=Decimal("5"), user=people["coordinator"])
    assert "BAT6005 allows no dose change: the dose at 10 mg is 10 mg." in refused.value.message_dict["dose"]
    assert not DoseAdministration.objects.exists()


def test_predose_assessments_named_when_missing(people, bat6005, bat_subject):
    when = start()
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when,
                    user=people["coordinator"])
    message = refused.value.message_dict["deviation_reason"][0]
    assert "No pre-dose vital signs, laboratory tests, performance status within 3 days before" in message
    # Four days before is too early; labs missing.
    from subjects.services import assessment_record

    assessment_record(subject=bat_subject, user=people["coordinator"], kind="vitals", weight_kg=Decimal(70),
                      assessed_on=(when - timedelta(days=4)).date())
    assessment_record(subject=bat_subject, user=people["coordinator"], kind="performance", ecog=0,
                      assessed_on=(when - timedelta(days=3)).date())
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when,
                    user=people["coordinator"])
    message = refused.value.message_dict["deviation_reason"][0]
    assert "No pre-dose vital signs, laboratory tests within 3 days" in message
    # Recorded anyway only as a deviation, with its reason.
    dose = dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when,
                       user=people["coordinator"], deviation_reason="Labs drawn but lost by the courier.")
    assert dose.deviation_reason == "Labs drawn but lost by the courier."


@pytest.mark.parametrize("offset,allowed", [(18, True), (24, True), (17, False), (25, False)])
def test_cycle_window_from_cycle_2(people, bat6005, bat_subject, offset, allowed):
    c1 = start()
    predose(bat_subject, c1, people["coordinator"])
    dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=c1,
                user=people["coordinator"])
    c2 = c1 + timedelta(days=offset)
    predose(bat_subject, c2, people["coordinator"])
    if allowed:
        dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=2, day=1, administered_at=c2,
                    user=people["coordinator"])
        assert bat_subject.doses.count() == 2
    else:
        with pytest.raises(ValidationError) as refused:
            dose_record(subject=bat_subject, drug=bat6005.drugs.get(), cycle=2, day=1, administered_at=c2,
                        user=people["coordinator"])
        message = refused.value.message_dict["deviation_reason"][0]
        assert "Outside the ±3-day window: cycle 2 day 1 is due" in message
        assert f"{(c1 + timedelta(days=21)).date():%d %b %Y}" in message


def test_17_cycle_maximum_and_the_continuation_exception(login, people, bat6005, bat_subject):
    drug = bat6005.drugs.get()
    when = timezone.now() - timedelta(days=21 * 17 + 5)
    for cycle in range(1, 18):
        predose(bat_subject, when, people["coordinator"])
        dose_record(subject=bat_subject, drug=drug, cycle=cycle, day=1, administered_at=when,
                    user=people["coordinator"])
        when += timedelta(days=21)
    predose(bat_subject, when, people["coordinator"])
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=bat_subject, drug=drug, cycle=18, day=1, administered_at=when,
                    user=people["coordinator"])
    assert "allows at most 17 cycles" in refused.value.message_dict["cycle"][0]
    # Only an investigator records the exception; through the page, with a reason.
    with pytest.raises(PermissionDenied):
        continuation_grant(subject=bat_subject, user=people["coordinator"], reason="Ongoing partial response.")
    client = login(people["investigator"])
    response = client.post(reverse("subjects:continuation", args=[bat_subject.pk]), {"reason": "short"})
    assert response.status_code == 422 and "at least 10 characters" in response.context["form"].errors["reason"][0]
    response = client.post(reverse("subjects:continuation", args=[bat_subject.pk]),
                           {"reason": "Ongoing partial response; sponsor agreed on 3 March."})
    assert response.status_code == 302
    exception = ContinuationException.objects.get(subject=bat_subject)
    assert exception.granted_by == people["investigator"]
    assert [e.pgh_label for e in Events.objects.tracks(exception)] == ["insert"]
    dose = dose_record(subject=bat_subject, drug=drug, cycle=18, day=1, administered_at=when,
                       user=people["coordinator"])
    assert dose.cycle == 18
    html = client.get(reverse("subjects:detail", args=[bat_subject.pk])).content.decode()
    assert "Continuation beyond 17 cycles allowed by" in html


@pytest.fixture
def lvgn(site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    return trial, member(trial, Role.COORDINATOR, site_a, "lv-coordinator")


def test_two_drug_regimen_each_on_its_own_schedule(lvgn, site_a):
    trial, user = lvgn
    subject = enrol(trial, site_a, user)
    lvgn6051, anlotinib = trial.drugs.order_by("order")
    day1 = timezone.now() - timedelta(days=20)
    # Level 1: LVGN6051 1 mg/kg x 64.5 kg, anlotinib 12 mg flat.
    dose = dose_record(subject=subject, drug=lvgn6051, cycle=1, day=1, administered_at=day1,
                       weight_kg=Decimal("64.5"), user=user)
    assert (dose.dose, dose.planned_dose, dose.weight_kg) == (Decimal("64.5"), Decimal("64.5"), Decimal("64.5"))
    # Anlotinib (days 1-14, taken at home) is recorded per cycle by dispensing (tests/subjects/test_dispensing.py),
    # never dose by dose.
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=anlotinib, cycle=1, day=1, administered_at=day1, user=user)
    assert "Anlotinib is taken at home" in refused.value.message_dict["drug"][0]
    assert not subject.doses.filter(drug=anlotinib).exists()
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=lvgn6051, cycle=1, day=2, administered_at=day1, weight_kg=70, user=user)
    assert "not day 2" in refused.value.message_dict["day"][0]


def test_per_kg_dose_needs_a_weight(lvgn, site_a):
    trial, user = lvgn
    subject = enrol(trial, site_a, user)
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=trial.drugs.get(name="LVGN6051"), cycle=1, day=1,
                    administered_at=timezone.now() - timedelta(days=1), user=user)
    assert "LVGN6051 is dosed per kg: the body weight is needed" in refused.value.message_dict["weight_kg"][0]


def test_dose_page_shows_the_computed_dose_with_the_weight(login, lvgn, site_a):
    trial, user = lvgn
    subject = enrol(trial, site_a, user)
    from subjects.services import assessment_record

    assessment_record(subject=subject, user=user, kind="vitals", weight_kg=Decimal("80"),
                      assessed_on=timezone.localdate())
    html = login(user).get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert "1 mg/kg × 80 kg = 80 mg" in html and "weight used 80 kg" in html
    assert "12 mg" in html and "once daily on days 1-14" in html
