"""The outbox: work enqueued in the saving transaction survives a Redis outage and is delivered by the
sweeper when Redis is back; a real worker on Redis runs it (and runs the visit watch)."""

from __future__ import annotations

import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from notifications.models import Notification
from outbox import deliver_pending, enqueue
from outbox.models import OutboxMessage
from tests.celery_helpers import private_broker, wait_for
from trialsite.celery import app as celery_app
from visits.services import visit_record_done


@pytest.fixture
def own_redis(tmp_path):
    with private_broker(tmp_path) as redis:
        yield redis


@pytest.mark.django_db
def test_enqueue_is_part_of_the_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("escalation.tasks.review_trial", 1)
        raise RuntimeError("rolled back")
    assert not OutboxMessage.objects.exists()
    with pytest.raises(ValueError, match="task_name"):
        enqueue("review_trial", 1)
    with pytest.raises(TypeError):
        enqueue("escalation.tasks.review_trial", object())  # not JSON: refused at enqueue, not at publish


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_redis_stopped_during_a_save_loses_nothing(own_redis, people, subject_factory, site_a):
    subject = subject_factory(site_a, first_dose=date(2026, 1, 5))
    c2 = subject.visits.get(code="C2D1")  # window 23–29 Jan 2026

    own_redis.stop()
    started = time.monotonic()
    # Done 3 days late: a deviation, whose notice to the investigators goes through the outbox.
    visit_record_done(visit=c2, user=people["coordinator"], done_on=date(2026, 2, 1), today=date(2026, 3, 1))
    assert time.monotonic() - started < 5, "the save waited for the broker"
    c2.refresh_from_db()
    assert (c2.status, c2.deviation, c2.deviation_days) == ("done", True, 3)  # the data is saved
    pending = OutboxMessage.objects.get(sent_at__isnull=True)
    assert pending.task_name == "visits.tasks.notify_deviation" and pending.args == [c2.pk]
    assert pending.attempts == 1
    assert "refused" in pending.last_error.lower() or "111" in pending.last_error
    assert deliver_pending() == 0  # the sweeper finds Redis still down: kept
    assert OutboxMessage.objects.get(pk=pending.pk).attempts == 2
    assert not Notification.objects.exists()

    own_redis.start()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        from outbox.tasks import sweep

        assert sweep() == 1  # what beat runs
        assert OutboxMessage.objects.get(pk=pending.pk).sent_at is not None
        assert wait_for(lambda: Notification.objects.filter(kind="deviation").exists()), "the worker never ran"
        assert wait_for(lambda: len(mail.outbox) == 1)
        assert wait_for(lambda: OutboxMessage.objects.get(pk=pending.pk).acked_at is not None), "not acknowledged"
    notice = Notification.objects.get(kind="deviation")
    assert notice.recipient == people["investigator"] and "3 days late" in notice.message
    assert mail.outbox[0].to == [people["investigator"].email]
    assert not OutboxMessage.objects.filter(acked_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_worker_runs_the_watch_through_the_outbox(subject_factory, site_a, people):
    subject_factory(site_a, first_dose=date(2026, 1, 5))
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with transaction.atomic():
            enqueue("visits.tasks.watch_visits", "2026-03-01")
        assert wait_for(lambda: Notification.objects.filter(kind="overdue").exists())
        assert wait_for(lambda: len(mail.outbox) == 2)
        assert wait_for(lambda: OutboxMessage.objects.get().acked_at is not None), "the worker did not acknowledge"
    assert Notification.objects.filter(kind="overdue", visit__code="C2D1").count() == 2
    assert OutboxMessage.objects.get().sent_at is not None
