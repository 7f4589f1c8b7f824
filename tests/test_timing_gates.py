"""Timing gates of dose escalation on the first dose, with the investigator's audited override
(issue 3, point 6; DOMAIN.md escalation rule 4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.models import Cohort
from subjects.models import DoseAdministration, GateOverride, Subject
from subjects.services import dose_record, first_dose_gate_status, gate_override, subject_enrol
from tests.screening.helpers import predose

pytestmark = pytest.mark.django_db


def shown(moment):
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M")


def post_time(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def start():
    """The first subject's first dose, 30 days ago, on the minute (the form's precision)."""
    return (timezone.now() - timedelta(days=30)).replace(second=0, microsecond=0)


@pytest.fixture
def level_of_three(bat6005):
    """BAT6005's first cohort (10 mg) made a cohort of 3, so several subjects share one level."""
    Cohort.objects.filter(trial=bat6005, number=1).update(capacity=3)
    return bat6005


def enrol(trial, site, user, initials):
    return subject_enrol(trial=trial, site=site, user=user, initials=initials, date_of_birth=date(1960, 1, 1),
                         sex="F")


def dose(subject, when, user):
    predose(subject, when, user)
    return dose_record(subject=subject, drug=subject.trial.drugs.get(), cycle=1, day=1, administered_at=when,
                       dose=Decimal(subject.dose_level.doses["BAT6005"]), user=user)


@pytest.fixture
def three(level_of_three, site_a, people):
    return [enrol(level_of_three, site_a, people["coordinator"], initials) for initials in ("AA", "BB", "CC")]


def test_second_subject_waits_7_days_after_the_first(three, start, people):
    first, second, _ = three
    dose(first, start, people["coordinator"])
    with pytest.raises(ValidationError) as refused:
        dose(second, start + timedelta(days=6), people["coordinator"])
    message = refused.value.message_dict["administered_at"][0]
    assert "2nd subject of a level may be dosed no earlier than 7 days" in message
    assert f"first dose ({shown(start)})" in message
    assert f"gate opens {shown(start + timedelta(days=7))}" in message
    assert not second.doses.exists()
    assert Subject.objects.get(pk=second.pk).status == Subject.Status.ENROLLED
    assert not second.visits.exists()

    dose(second, start + timedelta(days=7), people["coordinator"])
    assert second.doses.count() == 1


def test_later_subject_waits_24_hours_after_the_previous(three, start, people):
    first, second, third = three
    dose(first, start, people["coordinator"])
    dose(second, start + timedelta(days=7), people["coordinator"])
    with pytest.raises(ValidationError) as refused:
        dose(third, start + timedelta(days=7, hours=23), people["coordinator"])
    message = refused.value.message_dict["administered_at"][0]
    assert "3rd subject of a level may be dosed no earlier than 24 hours after the previous" in message
    assert f"gate opens {shown(start + timedelta(days=8))}" in message
    assert not third.doses.exists()

    dose(third, start + timedelta(days=7, hours=25), people["coordinator"])
    assert third.doses.count() == 1


def test_gate_applies_only_to_the_first_dose(three, start, people):
    first, second, _ = three
    dose(first, start, people["coordinator"])
    dose(second, start + timedelta(days=7), people["coordinator"])
    # The first subject's cycle 2 is not gated, though it falls within 24 h of the second's first dose.
    dose_record(subject=first, drug=first.trial.drugs.get(), cycle=2, day=1, dose=10,
                administered_at=start + timedelta(days=7, hours=1), user=people["coordinator"],
                deviation_reason="Given early: testing that only first doses are gated.")
    assert first.doses.count() == 2


def test_enrolment_is_not_gated(level_of_three, site_a, people):
    first = enrol(level_of_three, site_a, people["coordinator"], "AA")
    dosed = timezone.now() - timedelta(hours=1)
    dose(first, dosed, people["coordinator"])
    # Enrolment goes on while the gate is closed (screening takes time); the first dose waits.
    second = enrol(level_of_three, site_a, people["coordinator"], "BB")
    assert second.cohort.number == 1
    status = first_dose_gate_status(second)
    assert not status.allowed and status.opens_at == dosed + timedelta(days=7)
    assert first_dose_gate_status(second, when=dosed + timedelta(days=7)).allowed


@pytest.fixture
def next_level(bat6005, site_a, people, start):
    """Cohort 1 (10 mg, one subject dosed at ``start``) decided; cohort 2 opened at 30 mg."""
    first = enrol(bat6005, site_a, people["coordinator"], "AA")
    dose(first, start, people["coordinator"])
    Cohort.objects.filter(trial=bat6005, number=1).update(status=Cohort.Status.DECIDED)
    Cohort.objects.create(trial=bat6005, number=2, capacity=1,
                          dose_level=bat6005.dose_levels.get(label="30 mg"))
    return first, enrol(bat6005, site_a, people["coordinator"], "BB")


def test_new_level_waits_for_the_previous_levels_dlt_windows(next_level, start, people):
    _, subject = next_level
    assert subject.dose_level.label == "30 mg"
    with pytest.raises(ValidationError) as refused:
        dose(subject, start + timedelta(days=20), people["coordinator"])
    message = refused.value.message_dict["administered_at"][0]
    assert "previous level (10 mg) has completed the 21-day DLT window" in message
    assert f"gate opens {shown(start + timedelta(days=21))}" in message
    assert not subject.doses.exists()
    dose(subject, start + timedelta(days=21), people["coordinator"])
    assert subject.doses.count() == 1


def test_a_subject_who_left_the_study_does_not_hold_the_level(next_level, start, people):
    first, subject = next_level
    Subject.objects.filter(pk=first.pk).update(off_study_on=(start + timedelta(days=5)).date(),
                                               off_study_reason="Consent withdrawn")
    dose(subject, start + timedelta(days=10), people["coordinator"])
    assert subject.doses.count() == 1


def test_fixed_dose_trial_has_no_gate(site_a, people):
    from tests.conftest import load_trial, member
    from trials.models import Role

    trial = load_trial("QL1706")
    coordinator = member(trial, Role.COORDINATOR, site_a, "ql-coordinator")
    a, b = (enrol(trial, site_a, coordinator, initials) for initials in ("AA", "BB"))
    assert first_dose_gate_status(a) is None
    drug = trial.drugs.get()
    when = timezone.now() - timedelta(days=1)
    for subject in (a, b):
        dose_record(subject=subject, drug=drug, cycle=1, day=1, administered_at=when, weight_kg=Decimal("70"),
                    user=coordinator)
    assert DoseAdministration.objects.filter(subject__in=[a, b]).count() == 2


# Through the web: the coordinator sees the gate, the investigator overrides it.

@pytest.fixture
def blocked(three, start, people):
    """The 2nd subject of a level, 1st dosed 3 days ago: its gate opens in 4 days."""
    first, second, _ = three
    dosed = timezone.now().replace(second=0, microsecond=0) - timedelta(days=3)
    dose(first, dosed, people["coordinator"])
    return second, dosed


def test_dose_form_shows_the_gate_before_typing(login, people, blocked):
    subject, dosed = blocked
    client = login(people["coordinator"])
    page = client.get(reverse("subjects:dose_new", args=[subject.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Closed until {shown(dosed + timedelta(days=7))}" in html
    assert "may override" in html
    # A dosed subject has no gate left to show.
    first = Subject.objects.get(initials="AA")
    assert "Timing gates" not in client.get(reverse("subjects:dose_new", args=[first.pk])).content.decode()


def test_dose_form_shows_an_open_gate(login, people, next_level):
    _, subject = next_level  # the previous level's only window closed 9 days ago
    html = login(people["coordinator"]).get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert "Open: the first dose may be given now." in html and "Closed until" not in html


def test_refused_dose_through_the_form(login, people, blocked):
    subject, dosed = blocked
    client = login(people["coordinator"])
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]),
                           {"drug": subject.trial.drugs.get().pk, "cycle": 1, "day": 1, "dose": "10",
                            "administered_at": post_time(timezone.now() - timedelta(hours=1))})
    assert response.status_code == 422
    error = response.context["form"].errors["administered_at"][0]
    assert f"gate opens {shown(dosed + timedelta(days=7))}" in error
    assert not subject.doses.exists()


def test_coordinator_cannot_override(login, people, blocked):
    subject, _ = blocked
    client = login(people["coordinator"])
    url = reverse("subjects:gate_override", args=[subject.pk])
    assert client.get(url).status_code == 403
    response = client.post(url, {"gate": "stagger", "reason": "The patient cannot wait a week longer."})
    assert response.status_code == 403
    assert not GateOverride.objects.exists()
    with pytest.raises(PermissionDenied) as refused:
        gate_override(subject=subject, user=people["coordinator"], gate="stagger",
                      reason="The patient cannot wait a week longer.")
    assert "Only an investigator" in str(refused.value)


def test_override_needs_a_reason(login, people, blocked):
    subject, _ = blocked
    client = login(people["investigator"])
    url = reverse("subjects:gate_override", args=[subject.pk])
    response = client.post(url, {"gate": "stagger", "reason": "  urgent  "})
    assert response.status_code == 422
    assert "at least 10 characters" in response.context["form"].errors["reason"][0]
    assert not GateOverride.objects.exists()
    with pytest.raises(ValidationError) as refused:
        gate_override(subject=subject, user=people["investigator"], gate="stagger", reason="too short")
    assert "reason" in refused.value.message_dict


def test_investigator_override_lets_the_dose_through_and_is_audited(login, people, blocked):
    subject, _ = blocked
    reason = "Rapidly progressing disease; the medical monitor agreed by phone."
    client = login(people["investigator"])
    detail = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert reverse("subjects:gate_override", args=[subject.pk]) in detail
    page = client.get(reverse("subjects:gate_override", args=[subject.pk]))
    assert page.status_code == 200 and page.context["form"].initial["gate"] == "stagger"
    response = client.post(reverse("subjects:gate_override", args=[subject.pk]),
                           {"gate": "stagger", "reason": reason})
    assert response.status_code == 302
    override = GateOverride.objects.get(subject=subject)
    assert (override.gate, override.reason, override.overridden_by) == ("stagger", reason, people["investigator"])

    events = list(Events.objects.tracks(override))
    assert [e.pgh_label for e in events] == ["insert"]
    assert events[0].pgh_context["user"] == people["investigator"].pk
    assert events[0].pgh_data["reason"] == reason

    client = login(people["coordinator"])
    html = client.get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert "Overridden" in html and reason in html and people["investigator"].get_full_name() in html
    predose(subject, timezone.now() - timedelta(hours=1), people["coordinator"])
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]),
                           {"drug": subject.trial.drugs.get().pk, "cycle": 1, "day": 1, "dose": "10",
                            "administered_at": post_time(timezone.now() - timedelta(hours=1))})
    assert response.status_code == 302, response.content.decode()
    assert subject.doses.count() == 1


def test_override_of_another_gate_does_not_open_this_one(people, blocked):
    subject, _ = blocked
    gate_override(subject=subject, user=people["investigator"], gate="level",
                  reason="Level gate not relevant to this subject.")
    with pytest.raises(ValidationError) as refused:
        dose(subject, timezone.now() - timedelta(hours=1), people["coordinator"])
    assert "gate opens" in refused.value.message_dict["administered_at"][0]
    assert not subject.doses.exists()
    with pytest.raises(ValidationError) as again:
        gate_override(subject=subject, user=people["investigator"], gate="level",
                      reason="Level gate not relevant, second time.")
    assert "already overridden" in again.value.message_dict["gate"][0]
