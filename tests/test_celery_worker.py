"""The Celery path on the real Redis with a real worker (issue 2, point 8).

The worker runs in a thread of this process (celery.contrib.testing) and consumes this session's
private queue on the Redis named by REDIS_URL; the database is the real PostgreSQL test database,
so the test commits for real (transaction=True).
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from escalation.models import EscalationDecision
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.celery_helpers import wait_for
from tests.screening.helpers import predose
from trialsite.celery import app as celery_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


@pytest.fixture
def worker():
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as w:
        yield w


def test_saving_a_dlt_makes_the_worker_recommend_and_notify(worker, people, bat6005, site_a):
    coordinator = people["coordinator"]
    subject = subject_enrol(trial=bat6005, site=site_a, user=coordinator, initials="WK",
                            date_of_birth=date(1958, 8, 8), sex="M")
    dosed = timezone.now() - timedelta(days=4)
    predose(subject, dosed, coordinator)
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=dosed, dose=10,
                user=coordinator)
    # Window still open, no DLT: the worker ran the review after commit and recorded nothing.
    time.sleep(1)
    assert not EscalationDecision.objects.exists()

    adverse_event_record(subject=subject, user=coordinator, term="Myocarditis", grade=3,
                         onset_date=(dosed + timedelta(days=2)).date(), attribution="probable", is_dlt=True)
    assert wait_for(lambda: EscalationDecision.objects.exists()), "the worker recorded no decision"
    decision = EscalationDecision.objects.get()
    assert decision.status == "pending" and decision.add_subjects == 2

    # ... and notified the trial's investigators by e-mail (a second task, after commit).
    assert wait_for(lambda: len(mail.outbox) == 1), "no notification was sent"
    message = mail.outbox[0]
    assert message.to == [people["investigator"].email]
    assert f"/escalation/decisions/{decision.pk}/" in message.body


def test_scheduled_review_through_the_broker(worker, people, bat6005, site_a):
    from escalation.tasks import review_open_cohorts

    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="SC",
                            date_of_birth=date(1961, 1, 1), sex="F")
    # Dose recorded through the ORM bypassing the service, so no task was queued on save.
    from subjects.models import DoseAdministration

    DoseAdministration.objects.create(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, dose=10,
                                      unit="mg", administered_at=timezone.now() - timedelta(days=30),
                                      recorded_by=people["coordinator"])
    assert not EscalationDecision.objects.exists()
    review_open_cohorts.delay()
    assert wait_for(lambda: EscalationDecision.objects.exists())
    assert EscalationDecision.objects.get().next_dose_level.label == "30 mg"
