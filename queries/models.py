"""Data queries (discrepancy notes) on a field of any clinical record, and the thread of each.

A query points at a registered record kind (records.registry) and one of its fields ("" for the whole
form); the trial, site and subject are copied from the record's owner so that every list is one indexed
filter. Raised by a person (monitor, data manager, investigator) or by an edit check (docs/data-management.md).
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from records.base import audited


@pghistory.track(*audited())
class Query(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    class Origin(models.TextChoices):
        MANUAL = "manual", "Raised by a person"
        EDIT_CHECK = "edit_check", "Raised by an edit check"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="queries")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="queries")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="queries")
    kind = models.CharField(max_length=40, help_text="The record kind (records.registry slug).")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    field = models.CharField(max_length=60, blank=True, help_text="The field queried; empty for the whole form.")
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.MANUAL)
    check_code = models.CharField(max_length=60, blank=True, help_text="The edit check that raised it.")
    value_at_raise = models.TextField(blank=True)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")

    class Meta:
        verbose_name_plural = "queries"
        ordering = ["-raised_at", "-pk"]
        indexes = [
            models.Index(fields=["trial", "status"]),
            models.Index(fields=["site", "status"]),
            models.Index(fields=["content_type", "object_id"]),
        ]
        constraints = [
            # One live query per edit check and record: a check that still fails does not raise it again.
            models.UniqueConstraint(fields=["check_code", "content_type", "object_id"],
                                    condition=models.Q(origin="edit_check") & ~models.Q(status="closed"),
                                    name="query_one_live_per_check_and_record"),
        ]

    def __str__(self) -> str:
        return f"Query {self.pk} on {self.kind} {self.object_id} {self.field or '(form)'}: {self.status}"

    @property
    def is_live(self) -> bool:
        return self.status != self.Status.CLOSED


@pghistory.track(*audited())
class QueryMessage(models.Model):
    """One step of a query's thread: raised, answered (explanation), corrected (the correction made through
    the reason-for-change flow), closed, re-opened, or closed by its edit check once the data pass."""

    class Action(models.TextChoices):
        RAISED = "raised", "Raised"
        ANSWERED = "answered", "Answered"
        CORRECTED = "corrected", "Answered with a correction"
        CLOSED = "closed", "Closed"
        REOPENED = "reopened", "Re-opened"
        AUTO_CLOSED = "auto_closed", "Closed: the data now pass the edit check"

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    action = models.CharField(max_length=12, choices=Action.choices)
    text = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    at = models.DateTimeField(default=timezone.now)
    # For a correction: {"field": ..., "old": ..., "new": ...} as the correction recorded it.
    change = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.query_id})"
