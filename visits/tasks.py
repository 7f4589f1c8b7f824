"""The visit watch (Celery beat): flag overdue visits in one set-based UPDATE, notify site staff."""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task
from django.utils import timezone

from visits.watch import run_watch

log = logging.getLogger(__name__)


def _today(today: str | None) -> date:
    return date.fromisoformat(today) if today else timezone.localdate()


@shared_task
def watch_visits(today: str | None = None) -> dict:
    """Scheduled: flag overdue visits, notify (in-app and e-mail) of overdue and due-soon visits, once
    per visit, kind and recipient; then deliver any outbox messages an outage left behind."""
    result = run_watch(_today(today))
    try:
        from outbox.services import deliver_pending

        result["outbox_sent"] = deliver_pending()
    except Exception:
        log.exception("outbox sweep after the visit watch failed")
    log.info("visit watch: %s", result)
    return result


@shared_task
def notify_deviation(visit_pk: int) -> int:
    """Tell the investigators of the visit's site that it was done outside its window (once each)."""
    from notifications.services import send_pending_emails
    from visits.watch import notify_deviation as insert

    inserted = insert(visit_pk)
    send_pending_emails()
    return inserted
