"""A BAT6005 subject at site A with an adverse event, and one user per query role."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from subjects.services import adverse_event_record, subject_enrol
from tests.conftest import member
from trials.models import Role


@pytest.fixture
def roles(people, bat6005, site_a, site_b):
    return {**people,
            "monitor": member(bat6005, Role.MONITOR, site_a, "monitor"),
            "monitor_b": member(bat6005, Role.MONITOR, site_b, "monitor-b"),
            "data_manager": member(bat6005, Role.DATA_MANAGER, None, "data-manager")}


@pytest.fixture
def subject(roles, bat6005, site_a):
    return subject_enrol(trial=bat6005, site=site_a, user=roles["coordinator"], initials="QRY",
                         date_of_birth=date(1960, 1, 1), sex="M")


def record_ae(subject, user, **fields):
    data = {"term": "Fatigue", "grade": 1, "onset_date": timezone.localdate() - timedelta(days=3),
            "attribution": "unrelated", **fields}
    return adverse_event_record(subject=subject, user=user, **data)


@pytest.fixture
def event(subject, roles):
    return record_ae(subject, roles["coordinator"])
