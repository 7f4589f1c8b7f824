"""Fixtures for the visit tests: subjects dosed on a chosen date, built through the ORM (the
escalation cohorts would allow only one subject at a time) and planned by the visit service."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from subjects.models import DoseAdministration, Subject
from visits.services import visits_plan_for_subject

_numbers = itertools.count(1)


def make_subject(trial, site, user, *, first_dose: date, cycles: int = 1, every: int = 21) -> Subject:
    subject = Subject.objects.create(
        trial=trial, site=site, dose_level=trial.dose_levels.order_by("rank").first(),
        code=f"{trial.code}-{site.code}-T{next(_numbers):03d}", initials="AB", date_of_birth=date(1960, 1, 1),
        sex="F", enrolled_by=user, status=Subject.Status.ON_TREATMENT,
    )
    drug = trial.drugs.first()
    for n in range(cycles):
        given = first_dose + timedelta(days=every * n)
        DoseAdministration.objects.create(
            subject=subject, drug=drug, cycle=n + 1, day=1, dose=10, unit="mg", recorded_by=user,
            administered_at=timezone.make_aware(datetime.combine(given, time(10, 0))),
        )
    visits_plan_for_subject(subject=subject)
    return subject


@pytest.fixture
def subject_factory(bat6005, people):
    def _make(site, *, first_dose: date, user=None, **kwargs):
        return make_subject(bat6005, site, user or people["coordinator"], first_dose=first_dose, **kwargs)

    return _make
