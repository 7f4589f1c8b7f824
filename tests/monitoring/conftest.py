"""A monitor at site A, a monitor at site B and a data manager of LVGN6051; one subject at site A with
a dose and a grade 2 adverse event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from subjects.services import adverse_event_record
from tests.conftest import member
from tests.test_decision_safety import dosed, first_day, lvgn_with_people
from trials.models import Role


@pytest.fixture
def sdv(db, site_a, site_b):
    trial, people = lvgn_with_people(site_a, site_b)
    people["monitor"] = member(trial, Role.MONITOR, site_a, "m-lvgn")
    people["monitor_b"] = member(trial, Role.MONITOR, site_b, "mb-lvgn")
    people["data_manager"] = member(trial, Role.DATA_MANAGER, None, "dm-lvgn")
    subject = dosed(trial, site_a, people["coordinator"], "QZK", 10)
    event = adverse_event_record(subject=subject, user=people["coordinator"], term="Fatigue", grade=2,
                                 attribution="possible", onset_date=first_day(subject) + timedelta(days=2))
    return {"trial": trial, "people": people, "subject": subject, "event": event}
