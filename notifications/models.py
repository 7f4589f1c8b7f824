"""In-app notifications (and the record of their e-mail), once per recipient, visit (or decision) and
kind."""

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
        CONCURRENCE = "concurrence", "Decision awaiting concurrence"
        LOCKOUT = "lockout", "Account locked after failed sign-ins"
        SAMPLE_OVERDUE = "sample_overdue", "Sample overdue"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notifications")
    # A visit the notice is about; kept (NULL) if the plan later drops the visit.
    visit = models.ForeignKey("visits.PlannedVisit", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="notifications")
    # A dose-escalation decision awaiting the recipient's signature or concurrence.
    decision = models.ForeignKey("escalation.EscalationDecision", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="notifications")
    # A PK / ADA / RO / biomarker sample whose window closed uncollected (the visit watch flags them too).
    sample = models.ForeignKey("pk.Sample", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=300)
    # The path of the page the notice is about (from reverse()); in-app and in e-mail the link is
    # SITE_URL + this path (see ``url``).
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
            # Decision notices (visit NULL): once per recipient, decision and kind.
            models.UniqueConstraint(fields=["recipient", "decision", "kind"],
                                    condition=models.Q(decision__isnull=False), name="notification_decision_once"),
            models.UniqueConstraint(fields=["recipient", "sample", "kind"],
                                    condition=models.Q(sample__isnull=False), name="notification_sample_once"),
        ]
        indexes = [
            models.Index(fields=["recipient"], condition=models.Q(read_at__isnull=True),
                         name="notification_unread_idx"),
            models.Index(fields=["id"], condition=models.Q(emailed_at__isnull=True),
                         name="notification_unmailed_idx"),
            # The list page's order (unread first, newest first; then read, last read first): read_at DESC
            # puts NULLs first in PostgreSQL, so this index serves ORDER BY read_at DESC NULLS FIRST,
            # created_at DESC, id DESC for one recipient and a page is read with a LIMIT, not a sort of
            # all their notices.
            models.Index(fields=["recipient", "-read_at", "-created_at", "-id"], name="notification_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.message}"

    @property
    def url(self) -> str:
        """The notice's link as an absolute address, built from SITE_URL (as in its e-mail)."""
        if not self.link:
            return ""
        return self.link if "://" in self.link else f"{settings.SITE_URL}{self.link}"
