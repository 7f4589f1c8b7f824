"""The outbox sweeper, run by Celery beat (and by ``manage.py outbox sweep``)."""

from __future__ import annotations

from celery import shared_task

from outbox.services import deliver_pending


@shared_task
def sweep() -> int:
    return deliver_pending()
