"""The visit watch: flag overdue visits in one set-based UPDATE."""

from __future__ import annotations

import pghistory
from celery import shared_task
from django.db.models.functions import Now
from django.utils import timezone

from visits.models import PlannedVisit


@shared_task
def flag_overdue_visits() -> int:
    """A visit is overdue when its window has closed and it is neither done nor missed."""
    today = timezone.localdate()
    with pghistory.context(source="celery:visits.flag_overdue_visits"):
        return PlannedVisit.objects.filter(
            status=PlannedVisit.Status.PLANNED, overdue=False, window_end__lt=today
        ).update(overdue=True, overdue_since=Now())
