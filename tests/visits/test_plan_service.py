"""The subject's schedule from the protocol's visit plan, regenerated when its anchors change."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from subjects.models import DoseAdministration
from visits.models import FollowUp, PlannedVisit
from visits.services import follow_up_set, visit_record_done, visits_plan_for_subject

pytestmark = pytest.mark.django_db

FIRST = date(2026, 1, 5)
TODAY = date(2027, 6, 1)


def codes(subject, **filters):
    return list(subject.visits.filter(**filters).order_by("target", "code").values_list("code", flat=True))


def test_full_plan_without_last_dose(subject_factory, site_a):
    subject = subject_factory(site_a, first_dose=FIRST)
    dosing = codes(subject, kind="dosing")
    assert dosing == [f"C{n}D1" for n in range(2, 18)]  # 17 cycles, cycle 1 is the first dose
    assert codes(subject, kind="imaging")[:6] == ["IMG-W6", "IMG-W12", "IMG-W18", "IMG-W24", "IMG-W33", "IMG-W42"]
    eot = subject.visits.get(code="EOT")
    last = FIRST + timedelta(days=21 * 16)
    assert (eot.target, eot.window_start, eot.window_end) == (last + timedelta(21), last, last + timedelta(28))
    d90 = subject.visits.get(code="SFU-D90")
    assert (d90.window_start, d90.target, d90.window_end) == (last + timedelta(83), last + timedelta(90),
                                                              last + timedelta(97))
    surv1 = subject.visits.get(code="SURV-1")
    assert surv1.target == d90.target + timedelta(weeks=12)
    assert (surv1.window_end - surv1.window_start).days == 28


def test_last_dose_replans_planned_visits_and_keeps_done_ones(subject_factory, site_a, people):
    coordinator = people["coordinator"]
    subject = subject_factory(site_a, first_dose=FIRST, cycles=3)
    img6 = subject.visits.get(code="IMG-W6")
    visit_record_done(visit=img6, user=coordinator, done_on=date(2026, 2, 25), today=TODAY)  # 2 days late
    last = FIRST + timedelta(days=42)
    follow_up_set(subject=subject, user=coordinator, last_dose=last, today=TODAY)

    assert codes(subject, kind="dosing") == ["C2D1", "C3D1"]  # no cycle after the last dose
    eot = subject.visits.get(code="EOT")
    assert (eot.target, eot.window_end) == (last + timedelta(21), last + timedelta(28))
    assert subject.visits.get(code="SFU-D60").target == last + timedelta(60)
    # Imaging stops at the end of treatment (EOT target); the done visit is untouched.
    assert codes(subject, kind="imaging") == ["IMG-W6"]
    img6.refresh_from_db()
    assert (img6.status, img6.done_on, img6.deviation, img6.deviation_days) == ("done", date(2026, 2, 25), True, 2)


def test_new_therapy_ends_safety_follow_up_early(subject_factory, site_a, people):
    subject = subject_factory(site_a, first_dose=FIRST, cycles=2)
    last = FIRST + timedelta(days=21)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=last, today=TODAY)
    assert codes(subject, kind="safety") == ["SFU-D21", "SFU-D60", "SFU-D90"]
    new_therapy = last + timedelta(days=40)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=last, new_therapy=new_therapy, today=TODAY)
    # D60's window opens on day 53 > day 40: dropped, as is D90; survival starts from the new therapy.
    assert codes(subject, kind="safety") == ["SFU-D21"]
    assert subject.visits.get(code="SURV-1").target == new_therapy + timedelta(weeks=12)


def test_end_of_follow_up_stops_the_plan(subject_factory, site_a, people):
    subject = subject_factory(site_a, first_dose=FIRST, cycles=2)
    last = FIRST + timedelta(days=21)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=last, today=TODAY)
    before = subject.visits.filter(kind="survival").count()
    assert before > 3
    end = last + timedelta(days=300)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=last, follow_up_end=end,
                  follow_up_end_reason="death", today=TODAY)
    assert not subject.visits.filter(window_end__gte=end).exists()
    assert 0 < subject.visits.filter(kind="survival").count() < before
    assert FollowUp.objects.get(subject=subject).get_follow_up_end_reason_display() == "Death"
    assert FollowUp.pgh_event_model.objects.filter(pgh_obj__subject=subject).count() == 2  # audited


@pytest.mark.parametrize(("fields", "field"), [
    ({"last_dose": FIRST - timedelta(days=1)}, "last_dose"),
    ({"last_dose": TODAY + timedelta(days=1)}, "last_dose"),
    ({"new_therapy": FIRST - timedelta(days=3)}, "new_therapy"),
    ({"follow_up_end": FIRST + timedelta(days=100)}, "follow_up_end_reason"),
    ({"follow_up_end_reason": "death"}, "follow_up_end"),
    ({"follow_up_end": FIRST - timedelta(days=10), "follow_up_end_reason": "lost"}, "follow_up_end"),
])
def test_bad_follow_up_names_the_field(subject_factory, site_a, people, fields, field):
    subject = subject_factory(site_a, first_dose=FIRST, cycles=2)
    with pytest.raises(ValidationError) as caught:
        follow_up_set(subject=subject, user=people["coordinator"], today=TODAY, **fields)
    assert field in caught.value.error_dict
    assert not FollowUp.objects.filter(subject=subject).exists()


def test_only_site_coordinators_set_the_follow_up(subject_factory, site_a, people):
    subject = subject_factory(site_a, first_dose=FIRST)
    for who in ("sponsor", "coordinator_b", "investigator"):
        with pytest.raises(PermissionDenied):
            follow_up_set(subject=subject, user=people[who], last_dose=FIRST, today=TODAY)


def test_dose_after_the_recorded_last_dose_is_refused_on_the_date_field(bat6005, subject_factory, site_a, people):
    subject = subject_factory(site_a, first_dose=FIRST)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=FIRST, today=TODAY)
    DoseAdministration.objects.create(
        subject=subject, drug=bat6005.drugs.get(), cycle=2, day=1, dose=10, unit="mg",
        recorded_by=people["coordinator"],
        administered_at=timezone.make_aware(datetime.combine(FIRST + timedelta(21), time(9))))
    with pytest.raises(ValidationError) as caught:
        visits_plan_for_subject(subject=subject)  # as dose_record calls it, inside its transaction
    assert "administered_at" in caught.value.error_dict
    assert "Correct the last dose first" in caught.value.messages[0]


def test_regeneration_is_idempotent(subject_factory, site_a):
    subject = subject_factory(site_a, first_dose=FIRST)
    before = {v.code: (v.pk, v.target) for v in subject.visits.all()}
    visits_plan_for_subject(subject=subject)
    assert {v.code: (v.pk, v.target) for v in subject.visits.all()} == before
    assert PlannedVisit.pgh_event_model.objects.filter(pgh_label="update").count() == 0
