"""Outbox writes, delivery and acknowledgement (see the package docstring and docs/outbox.md)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from outbox.models import OutboxMessage

log = logging.getLogger(__name__)

# The message header that carries the row's id to the worker (read back by outbox.acks).
HEADER = "outbox_id"
# The wait before a re-publication doubles with each publication the broker accepted, up to 2**4 times
# the timeout: a worker that stays down for hours gets a few copies of a message, not hundreds.
MAX_DOUBLINGS = 4


def ack_timeout() -> float:
    """Seconds a published message may stay unacknowledged before it is published again."""
    return float(getattr(settings, "OUTBOX_ACK_TIMEOUT_SECONDS", 300.0))


def _json_safe(value):
    json.dumps(value)  # raises TypeError now rather than at publish time
    return value


def enqueue(task_name: str, *args, **kwargs) -> OutboxMessage:
    """Record ``task_name(*args, **kwargs)`` in the current transaction; publish it after commit."""
    if not task_name or "." not in task_name:
        raise ValueError(f"task_name: give the task's dotted name, got {task_name!r}")
    message = OutboxMessage.objects.create(task_name=task_name, args=_json_safe(list(args)),
                                           kwargs=_json_safe(kwargs))
    pk = message.pk
    transaction.on_commit(lambda: _send_after_commit(pk))
    return message


def _send_after_commit(pk: int) -> None:
    """Never raises: a failure leaves the row pending for the sweeper."""
    try:
        sent = _deliver(OutboxMessage.objects.filter(pk=pk))
    except Exception:
        log.exception("outbox: could not publish message %s; left for the sweeper", pk)
        return
    if sent and OutboxMessage.objects.filter(acked_at__isnull=True, sent_at__isnull=True).exists():
        # The broker answers: take the chance to deliver what an outage left behind.
        try:
            deliver_pending()
        except Exception:
            log.exception("outbox: sweep after send failed")


def publish(message: OutboxMessage) -> str:
    """Publish one message on a fresh broker connection without retrying (fails fast when down).

    The row's id travels in the ``outbox_id`` message header, which the worker reads back to
    acknowledge the row once the task has run. Returns the Celery task id of this publication."""
    from trialsite.celery import app

    task_id = str(uuid.uuid4())
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0, timeout=2)
        app.send_task(message.task_name, args=message.args, kwargs=message.kwargs, connection=connection,
                      retry=False, task_id=task_id, headers={HEADER: message.pk})
    return task_id


def due(queryset, *, now: datetime | None = None):
    """The rows of ``queryset`` to publish now: never published, or published and not acknowledged
    within ``ack_timeout() × 2**min(sends - 1, MAX_DOUBLINGS)`` seconds of the last publication."""
    now = now or timezone.now()
    timeout = ack_timeout()
    condition = models.Q(sent_at__isnull=True)
    for doublings in range(MAX_DOUBLINGS + 1):
        if doublings == 0:
            sends = models.Q(sends__lte=1)
        elif doublings == MAX_DOUBLINGS:
            sends = models.Q(sends__gte=doublings + 1)
        else:
            sends = models.Q(sends=doublings + 1)
        condition |= sends & models.Q(sent_at__lte=now - timedelta(seconds=timeout * 2**doublings))
    return queryset.filter(condition, acked_at__isnull=True)


def _deliver(queryset, limit: int = 500, now: datetime | None = None) -> int:
    """Claim the due rows of ``queryset`` (skipping rows another sweeper holds) and publish them.

    Stops at the first failure (the broker is down), recording it on that row. Returns rows sent."""
    sent = 0
    with transaction.atomic():
        claimed = list(due(queryset, now=now).order_by("id").select_for_update(skip_locked=True)[:limit])
        for message in claimed:
            message.attempts += 1
            try:
                message.task_id = publish(message)
            except Exception as exc:
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                message.save(update_fields=["attempts", "last_error"])
                log.warning("outbox: publishing %s failed: %s", message, message.last_error)
                break
            if message.sent_at is not None:
                log.warning("outbox: %s was not acknowledged since %s; published again", message,
                            message.sent_at.isoformat())
            message.sent_at = timezone.now()
            message.sends += 1
            message.save(update_fields=["sent_at", "attempts", "sends", "task_id"])
            sent += 1
    return sent


def deliver_pending(limit: int = 500, now: datetime | None = None) -> int:
    """The sweep: publish the due messages (never sent, or not acknowledged in time), oldest first;
    returns how many were published."""
    return _deliver(OutboxMessage.objects.all(), limit=limit, now=now)


def acknowledge(outbox_id, *, task_name: str = "") -> bool:
    """Mark a row delivered (its task ran to completion). Idempotent: a second copy of the message
    finds the row acknowledged and changes nothing. Returns whether this call acknowledged it."""
    changed = OutboxMessage.objects.filter(pk=outbox_id, acked_at__isnull=True).update(acked_at=timezone.now())
    if not changed and not OutboxMessage.objects.filter(pk=outbox_id).exists():
        log.warning("outbox: %s ran for unknown outbox row %s", task_name or "a task", outbox_id)
    return bool(changed)


def record_task_error(outbox_id, error: BaseException) -> None:
    """The task raised: keep the error on the (still unacknowledged) row; the sweeper retries it."""
    text = f"task failed: {type(error).__name__}: {error}"[:2000]
    OutboxMessage.objects.filter(pk=outbox_id, acked_at__isnull=True).update(last_error=text)


def counts(now: datetime | None = None) -> dict[str, int]:
    """Rows per state: pending (never published), awaiting (published, not yet acknowledged, within
    the timeout), overdue (published, not acknowledged in time: the next sweep re-publishes them)
    and acknowledged."""
    unacked = OutboxMessage.objects.filter(acked_at__isnull=True)
    pending = unacked.filter(sent_at__isnull=True).count()
    overdue = due(unacked, now=now).filter(sent_at__isnull=False).count()
    return {"pending": pending, "awaiting": unacked.count() - pending - overdue, "overdue": overdue,
            "acknowledged": OutboxMessage.objects.filter(acked_at__isnull=False).count()}

