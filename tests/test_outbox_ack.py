"""No queued work is lost (issue 8, point 7): an outbox row is delivered only when a worker has run its
task and acknowledged it; the sweeper publishes again what the broker lost; every task may run twice.

The reproduction: no worker consuming, three adverse events saved (three escalation reviews queued and
published), the broker's Redis restarted without persistence (the messages are gone) → the sweeper
publishes the unacknowledged rows again once their timeout has passed, a real worker runs them and
acknowledges each row.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from escalation.models import EscalationDecision
from escalation.tasks import notify_decision_pending, review_trial
from notifications.models import Notification
from outbox import enqueue
from outbox.models import OutboxMessage
from outbox.services import acknowledge, deliver_pending, due
from outbox.tasks import sweep
from subjects.models import DoseAdministration
from subjects.services import adverse_event_record, subject_enrol
from tests.celery_helpers import private_broker, wait_for
from tests.visits.conftest import make_subject
from trialsite.celery import app as celery_app
from visits.services import visit_record_done
from visits.tasks import notify_deviation, watch_visits

REVIEW = "escalation.tasks.review_trial"
NOTIFY = "escalation.tasks.notify_decision_pending"


@pytest.fixture
def own_redis(tmp_path):
    with private_broker(tmp_path) as redis:
        yield redis


def worker():
    return start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10)


def subject_past_its_window(trial, site, user, *, days_ago=30, initials="RD"):
    """Enrolled and dosed ``days_ago`` days ago (the dose through the ORM, so it queues no task)."""
    subject = subject_enrol(trial=trial, site=site, user=user, initials=initials, date_of_birth=date(1960, 1, 1),
                            sex="F")
    DoseAdministration.objects.create(subject=subject, drug=trial.drugs.get(), cycle=1, day=1, dose=10, unit="mg",
                                      administered_at=timezone.now() - timedelta(days=days_ago), recorded_by=user)
    return subject


# --- the reproduction, with a real worker and a real Redis restart -----------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_tasks_the_broker_lost_are_published_again_and_run(own_redis, people, bat6005, site_a):
    coordinator = people["coordinator"]
    subject = subject_past_its_window(bat6005, site_a, coordinator)
    first_day = subject.first_dose().administered_at.date()
    assert not OutboxMessage.objects.exists()

    # No worker consumes: each adverse event queues an escalation review, published to Redis.
    for n, term in enumerate(["Fatigue", "Nausea", "Headache"]):
        adverse_event_record(subject=subject, user=coordinator, term=term, grade=1, attribution="unrelated",
                             onset_date=first_day + timedelta(days=n + 2))
    rows = list(OutboxMessage.objects.all())
    assert [(r.task_name, r.args) for r in rows] == [(REVIEW, [bat6005.pk])] * 3
    assert all(r.sent_at is not None for r in rows)  # published (and, before this issue, "delivered")
    queue = celery_app.conf.task_default_queue
    assert own_redis.queue_length(queue) == 3

    own_redis.restart()  # no persistence: the three messages are gone, the rows still say "sent"
    assert own_redis.queue_length(queue) == 0

    with worker():
        # Within the acknowledgement timeout the rows are presumed on their way: nothing re-published.
        assert deliver_pending() == 0
        time.sleep(1)
        assert not EscalationDecision.objects.exists(), "a task ran although its message was lost"

        with override_settings(OUTBOX_ACK_TIMEOUT_SECONDS=0.5):
            time.sleep(0.6)
            assert sweep() == 3  # what beat runs: the three unacknowledged rows, published again
        assert wait_for(lambda: not OutboxMessage.objects.filter(task_name=REVIEW, acked_at__isnull=True).exists()), \
            "the worker did not run (and acknowledge) the re-published reviews"
        # The reviews did their work: a decision, whose notice (a fourth row) was run and acknowledged too.
        assert wait_for(lambda: OutboxMessage.objects.filter(task_name=NOTIFY, acked_at__isnull=False).exists())
    decision = EscalationDecision.objects.get()
    assert decision.status == "pending" and decision.next_dose_level.label == "30 mg"
    assert Notification.objects.filter(decision=decision, recipient=people["investigator"]).count() == 1
    reviews = OutboxMessage.objects.filter(task_name=REVIEW)
    assert [(r.sends, r.attempts) for r in reviews] == [(2, 2)] * 3
    assert len({r.task_id for r in reviews}) == 3 and all(r.task_id for r in reviews)
    assert not OutboxMessage.objects.filter(acked_at__isnull=True).exists()
    assert own_redis.queue_length(queue) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_a_failed_task_keeps_its_error_and_is_published_again(own_redis):
    with worker():
        with transaction.atomic():
            message = enqueue(NOTIFY, 987654321)  # no such decision: the task raises
        assert wait_for(lambda: OutboxMessage.objects.get(pk=message.pk).last_error), "the failure was not kept"
        row = OutboxMessage.objects.get(pk=message.pk)
        assert row.acked_at is None and row.last_error.startswith("task failed: DoesNotExist")
        assert deliver_pending() == 0  # not before the timeout
        with override_settings(OUTBOX_ACK_TIMEOUT_SECONDS=0):
            assert sweep() == 1
        row.refresh_from_db()
        assert (row.sends, row.attempts, row.acked_at) == (2, 2, None)


# --- the sweeper's rules, without a broker ------------------------------------------------------------

@pytest.fixture
def published(monkeypatch):
    """Publishing replaced by a list of the rows published (the broker itself is tested above)."""
    sent = []

    def publish(message):
        sent.append(message.pk)
        return f"task-{message.pk}-{len(sent)}"

    monkeypatch.setattr("outbox.services.publish", publish)
    return sent


@pytest.mark.django_db
def test_the_sweep_publishes_new_and_overdue_rows_with_back_off(published, settings):
    settings.OUTBOX_ACK_TIMEOUT_SECONDS = 300
    now = timezone.now()

    def row(seconds_ago=None, sends=0, **extra):
        sent_at = None if seconds_ago is None else now - timedelta(seconds=seconds_ago)
        return OutboxMessage.objects.create(task_name=REVIEW, args=[1], sent_at=sent_at, sends=sends,
                                            attempts=sends, **extra)

    never = row()
    failed_to_publish = OutboxMessage.objects.create(task_name=REVIEW, args=[2], attempts=3,
                                                     last_error="ConnectionError: refused")
    row(200, 1)  # sent 200 s ago: within the timeout
    late = row(301, 1)  # not acknowledged within 300 s
    row(500, 2)  # published twice: waits 600 s
    row(300 * 16 - 10, 9)  # published 9 times: the wait stops doubling at 16 × 300 s
    long_late = row(300 * 16 + 1, 9)
    row(3600 * 24, 1, acked_at=now - timedelta(days=1))  # acknowledged: never again

    assert set(due(OutboxMessage.objects.all(), now=now)) == {never, failed_to_publish, late, long_late}
    assert deliver_pending(now=now) == 4
    assert published == [never.pk, failed_to_publish.pk, late.pk, long_late.pk]
    late.refresh_from_db()
    assert (late.sends, late.attempts, late.acked_at) == (2, 2, None)
    assert late.sent_at > now and late.task_id.startswith(f"task-{late.pk}-")
    failed_to_publish.refresh_from_db()
    assert (failed_to_publish.sends, failed_to_publish.attempts) == (1, 4)
    assert failed_to_publish.last_error == "ConnectionError: refused"  # kept, as history

    # Run twice: the second sweep finds everything just published and publishes nothing.
    assert sweep() == 0 and len(published) == 4
    out = []
    call_command("outbox", "sweep", stdout=_Lines(out))
    assert out[0] == "published 0"
    assert out[1].startswith("pending 0, awaiting 7, overdue 0, acknowledged 1")


@pytest.mark.django_db
def test_status_lists_unacknowledged_rows_with_their_error():
    OutboxMessage.objects.create(task_name=NOTIFY, args=[5], attempts=2, sends=1, sent_at=timezone.now(),
                                 last_error="task failed: DoesNotExist: no decision")
    out = []
    call_command("outbox", "status", stdout=_Lines(out))
    assert out[0].startswith("pending 0, awaiting 1, overdue 0, acknowledged 0")
    assert "notify_decision_pending" in out[1] and "task failed: DoesNotExist" in out[1]


@pytest.mark.django_db
def test_acknowledging_twice_changes_nothing():
    message = OutboxMessage.objects.create(task_name=REVIEW, args=[1], sent_at=timezone.now(), sends=1)
    assert acknowledge(message.pk) is True
    first = OutboxMessage.objects.get(pk=message.pk).acked_at
    assert acknowledge(message.pk) is False  # a second copy of the message ran too
    assert OutboxMessage.objects.get(pk=message.pk).acked_at == first
    assert acknowledge(123456789) is False  # unknown row: logged, nothing raised


class _Lines:
    def __init__(self, into):
        self.into = into

    def write(self, text):
        self.into.extend(line for line in text.splitlines() if line)

    def flush(self):
        pass


# --- every task may run twice ----------------------------------------------------------------------

@pytest.mark.django_db
def test_review_trial_twice_records_one_decision_and_one_notice(people, bat6005, site_a):
    subject_past_its_window(bat6005, site_a, people["coordinator"])
    assert review_trial(bat6005.pk) == 1
    assert review_trial(bat6005.pk) == 0
    assert EscalationDecision.objects.count() == 1
    assert OutboxMessage.objects.filter(task_name=NOTIFY).count() == 1


@pytest.mark.django_db
def test_notify_decision_pending_twice_notifies_and_mails_once(people, bat6005, site_a):
    subject_past_its_window(bat6005, site_a, people["coordinator"])
    review_trial(bat6005.pk)
    decision = EscalationDecision.objects.get()
    assert notify_decision_pending(decision.pk) == 1
    assert notify_decision_pending(decision.pk) == 0
    assert Notification.objects.filter(decision=decision).count() == 1
    assert [m.to for m in mail.outbox] == [[people["investigator"].email]]


@pytest.mark.django_db
def test_watch_visits_twice_flags_notifies_and_mails_once(bat6005, site_a, people):
    make_subject(bat6005, site_a, people["coordinator"], first_dose=date(2026, 1, 5))
    first = watch_visits("2026-03-01")
    assert first["flagged"] >= 1 and first["overdue"] == 2 * first["flagged"] and first["emailed"] > 0
    notices, mails = Notification.objects.count(), len(mail.outbox)
    second = watch_visits("2026-03-01")
    assert (second["flagged"], second["overdue"], second["due_soon"], second["emailed"]) == (0, 0, 0, 0)
    assert Notification.objects.count() == notices and len(mail.outbox) == mails


@pytest.mark.django_db
def test_notify_deviation_twice_notifies_and_mails_once(bat6005, site_a, people):
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=date(2026, 1, 5))
    visit = subject.visits.get(code="C2D1")  # window 23–29 Jan 2026: done 3 days late
    visit_record_done(visit=visit, user=people["coordinator"], done_on=date(2026, 2, 1), today=date(2026, 3, 1))
    notify_deviation(visit.pk)
    notify_deviation(visit.pk)
    assert Notification.objects.filter(kind="deviation").count() == 1
    assert [m.to for m in mail.outbox] == [[people["investigator"].email]]
