"""Recording a visit done (in or out of window: a deviation) or missed (reason)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from trialrules.visits import is_overdue
from visits.models import PlannedVisit
from visits.services import visit_record_done, visit_record_missed

pytestmark = pytest.mark.django_db

FIRST = date(2026, 1, 5)
TODAY = date(2026, 6, 1)


@pytest.fixture
def c2(subject_factory, site_a):
    return subject_factory(site_a, first_dose=FIRST).visits.get(code="C2D1")  # window 23–29 Jan


@pytest.mark.parametrize(("done_on", "deviation", "days"), [
    (date(2026, 1, 23), False, None), (date(2026, 1, 29), False, None),
    (date(2026, 1, 22), True, -1), (date(2026, 1, 31), True, 2),
])
def test_done_in_or_out_of_window(c2, people, done_on, deviation, days):
    visit = visit_record_done(visit=c2, user=people["coordinator"], done_on=done_on, today=TODAY)
    visit.refresh_from_db()
    assert (visit.status, visit.done_on, visit.deviation, visit.deviation_days) == ("done", done_on, deviation, days)
    assert visit.recorded_by == people["coordinator"]
    assert not is_overdue(visit.window_end, done=True, missed=False, today=TODAY)


def test_missed_needs_a_reason_and_cannot_be_recorded_twice(c2, people):
    with pytest.raises(ValidationError) as caught:
        visit_record_missed(visit=c2, user=people["investigator"], missed_reason="  ")
    assert "missed_reason" in caught.value.error_dict
    visit_record_missed(visit=c2, user=people["investigator"], missed_reason="Patient hospitalised")
    c2.refresh_from_db()
    assert (c2.status, c2.missed_reason) == ("missed", "Patient hospitalised")
    with pytest.raises(ValidationError, match="already recorded as missed"):
        visit_record_done(visit=c2, user=people["coordinator"], done_on=date(2026, 1, 25), today=TODAY)


def test_done_in_the_future_is_refused_on_the_date(c2, people):
    with pytest.raises(ValidationError) as caught:
        visit_record_done(visit=c2, user=people["coordinator"], done_on=TODAY + timedelta(days=1), today=TODAY)
    assert "done_on" in caught.value.error_dict
    c2.refresh_from_db()
    assert c2.status == PlannedVisit.Status.PLANNED


@pytest.mark.parametrize("who", ["sponsor", "coordinator_b"])
def test_only_staff_of_the_subjects_site_record(c2, people, who):
    with pytest.raises(PermissionDenied):
        visit_record_done(visit=c2, user=people[who], done_on=date(2026, 1, 25), today=TODAY)
    c2.refresh_from_db()
    assert c2.status == "planned"
