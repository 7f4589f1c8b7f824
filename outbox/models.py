"""Work to hand to Celery, written in the same transaction as the data that asks for it."""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """One task to run at least once.

    ``sent_at`` is when it was last published to the broker; ``acked_at`` when a worker reported that
    the task ran to completion (see :mod:`outbox.acks`). Only an acknowledged row is delivered: a
    published row that is not acknowledged in time (the broker lost it, the worker died, the task
    failed) is published again by the sweeper (see :func:`outbox.services.due`). ``attempts`` counts
    every try to publish, ``sends`` the tries the broker accepted; ``last_error`` keeps the last
    publishing or task error (it is kept after the acknowledgement, as history).
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    # The Celery task id of the last publication (a new one each time), to find it in worker logs.
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sends = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # What the sweeper scans: rows not yet acknowledged (a small set; acknowledged rows pile up).
            models.Index(fields=["id"], condition=models.Q(acked_at__isnull=True), name="outbox_unacked_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.task_name}{tuple(self.args)} ({self.state})"

    @property
    def state(self) -> str:
        if self.acked_at:
            return "acknowledged"
        return "sent" if self.sent_at else "pending"
