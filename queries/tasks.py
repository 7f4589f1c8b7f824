"""The edit-check sweep (Celery beat): every saved record checked again, so what the save-time check
missed (a change made outside the application, a rule added to the file) becomes a query."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task
def sweep(trial_code: str | None = None) -> dict:
    from queries.checks import sweep as run
    from trials.models import Trial

    trial = Trial.objects.get(code=trial_code) if trial_code else None
    result = run(trial)
    log.info("edit-check sweep%s: %s", f" of {trial_code}" if trial_code else "", result)
    return result
