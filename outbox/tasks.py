"""The outbox sweeper, run by Celery beat (and by ``manage.py outbox sweep``)."""

from __future__ import annotations

from celery import shared_task

from outbox.services import deliver_pending


@shared_task
def sweep() -> int:
    """Publish the due outbox rows (never sent, or not acknowledged in time). Idempotent: a second run
    finds the rows it would publish claimed or recently sent, and publishes nothing twice."""
    return deliver_pending()
