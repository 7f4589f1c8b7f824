"""In-app notifications (and the record of their e-mail), once per recipient, visit and kind."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class Notification(models.Model):
    class Kind(models.TextChoices):
        OVERDUE = "overdue", "Visit overdue"
        DUE_SOON = "due_soon", "Visit due soon"
        DEVIATION = "deviation", "Visit done outside its window"
        DECISION = "decision", "Decision awaiting signature"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notifications")
    # A visit the notice is about; kept (NULL) if the plan later drops the visit.
    visit = models.ForeignKey("visits.PlannedVisit", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=300)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when the e-mail is claimed for sending: an UPDATE … WHERE emailed_at IS NULL, so concurrent
    # runs never send one notice twice.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # INSERT … ON CONFLICT DO NOTHING relies on it: once per recipient, visit and kind.
            models.UniqueConstraint(fields=["recipient", "visit", "kind"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["recipient"], condition=models.Q(read_at__isnull=True),
                         name="notification_unread_idx"),
            models.Index(fields=["id"], condition=models.Q(emailed_at__isnull=True),
                         name="notification_unmailed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.message}"
