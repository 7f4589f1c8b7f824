"""Two coordinators take the last free place of the open cohort at the same moment, on PostgreSQL with
separate connections and transactions: exactly one is enrolled, the other is told why."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from escalation.models import Cohort
from screening.models import ScreeningRecord
from subjects.models import Subject
from subjects.services import subject_enrol
from tests.screening.helpers import eligible_screening

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_coordinators_race_for_the_last_place(people, bat6005, site_a):
    cohort = Cohort.objects.get(trial=bat6005, status=Cohort.Status.OPEN)
    assert cohort.capacity == 1  # accelerated titration: one place
    records = [eligible_screening(bat6005, site_a, people["coordinator"], initials=i) for i in ("AA", "BB")]
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def enrol(record):
        try:
            barrier.wait(timeout=10)
            outcomes[record.initials] = subject_enrol(trial=bat6005, user=people["coordinator"], screening=record)
        except ValidationError as exc:
            outcomes[record.initials] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=enrol, args=(r,)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert Subject.objects.filter(trial=bat6005).count() == 1
    enrolled = [v for v in outcomes.values() if isinstance(v, Subject)]
    refused = [v for v in outcomes.values() if isinstance(v, ValidationError)]
    assert len(enrolled) == 1 and len(refused) == 1, outcomes
    assert "No cohort is open for enrolment: the current cohort is full" in refused[0].messages[0]
    assert Cohort.objects.get(pk=cohort.pk).status == Cohort.Status.FULL
    statuses = sorted(ScreeningRecord.objects.values_list("status", flat=True))
    assert statuses == ["eligible", "enrolled"]  # the refused candidate stays eligible, not enrolled


def test_concurrent_enrolment_of_one_record_enrols_it_once(people, bat6005, site_a):
    Cohort.objects.filter(trial=bat6005, number=1).update(capacity=3)
    record = eligible_screening(bat6005, site_a, people["coordinator"], initials="CC")
    barrier = threading.Barrier(2)
    outcomes = []

    def enrol():
        try:
            barrier.wait(timeout=10)
            outcomes.append(subject_enrol(trial=bat6005, user=people["coordinator"], screening=record))
        except ValidationError as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=enrol) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert Subject.objects.count() == 1
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1 and "already enrolled" in refused[0].messages[0]
