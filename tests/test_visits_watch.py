"""Visits planned from the first dose, and the overdue flag (the base the visit-watch issue builds on)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from subjects.services import dose_record, subject_enrol
from tests.screening.helpers import predose
from visits.models import PlannedVisit
from visits.watch import flag_overdue

pytestmark = pytest.mark.django_db


def test_first_dose_plans_visits_and_the_watch_flags_overdue_ones(people, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="VW",
                            date_of_birth=date(1960, 6, 1), sex="F")
    dosed = timezone.now() - timedelta(days=30)
    predose(subject, dosed, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=dosed, dose=10,
                user=people["coordinator"])
    c2 = subject.visits.get(code="C2D1")
    first = timezone.localtime(dosed).date()
    assert (c2.target, c2.window_start, c2.window_end) == (
        first + timedelta(days=21), first + timedelta(days=18), first + timedelta(days=24))
    assert subject.visits.filter(kind="imaging").exists() and subject.visits.filter(kind="survival").exists()

    # C2D1's window closed 6 days ago and screening's long before: both overdue; nothing later is.
    assert flag_overdue(timezone.localdate()) == 2
    assert set(PlannedVisit.objects.filter(overdue=True).values_list("code", flat=True)) == {"SCR", "C2D1"}
    assert flag_overdue(timezone.localdate()) == 0  # flagged once

    # Cycle 2 given late: the plan moves with its anchor, C3 follows the actual dose.
    given = dosed + timedelta(days=26)
    predose(subject, given, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=2, day=1, administered_at=given, dose=10,
                user=people["coordinator"], deviation_reason="Outside the cycle window: admitted elsewhere.")
    c3 = subject.visits.get(code="C3D1")
    assert c3.target == timezone.localtime(given).date() + timedelta(days=21)
