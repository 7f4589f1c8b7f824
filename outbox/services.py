"""Outbox writes and delivery (see the package docstring)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from outbox.models import OutboxMessage

log = logging.getLogger(__name__)


def _json_safe(value):
    import json

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
    if sent and OutboxMessage.objects.filter(sent_at__isnull=True).exists():
        # The broker answers: take the chance to deliver what an outage left behind.
        try:
            deliver_pending()
        except Exception:
            log.exception("outbox: sweep after send failed")


def publish(message: OutboxMessage) -> None:
    """Publish one message on a fresh broker connection without retrying (fails fast when down)."""
    from trialsite.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0, timeout=2)
        app.send_task(message.task_name, args=message.args, kwargs=message.kwargs, connection=connection,
                      retry=False)


def _deliver(queryset, limit: int = 500) -> int:
    """Claim pending rows of ``queryset`` (skipping rows another sweeper holds) and publish them.

    Stops at the first failure (the broker is down), recording it on that row. Returns rows sent."""
    sent = 0
    with transaction.atomic():
        claimed = list(queryset.filter(sent_at__isnull=True).order_by("id")
                       .select_for_update(skip_locked=True)[:limit])
        for message in claimed:
            try:
                publish(message)
            except Exception as exc:
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                message.save(update_fields=["attempts", "last_error"])
                log.warning("outbox: publishing %s failed: %s", message, message.last_error)
                break
            message.sent_at = timezone.now()
            message.attempts += 1
            message.save(update_fields=["sent_at", "attempts"])
            sent += 1
    return sent


def deliver_pending(limit: int = 500) -> int:
    """Publish pending messages, oldest first; returns how many were sent."""
    return _deliver(OutboxMessage.objects.all(), limit=limit)


def pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()
