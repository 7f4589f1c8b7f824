"""Cohorts, the escalation decisions recommended for them, and the signatures that approve them."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Cohort(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open for enrolment"
        FULL = "full", "Full: DLT observation"
        DECIDED = "decided", "Decided"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="cohorts")
    number = models.PositiveSmallIntegerField()
    dose_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, related_name="cohorts")
    capacity = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.ForeignKey(
        "escalation.EscalationDecision", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["trial", "number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "number"], name="cohort_unique_number"),
            # One cohort at a time takes subjects (BAT6005: a level opens after the previous one's
            # decision).
            models.UniqueConstraint(
                fields=["trial"], condition=models.Q(status="open"), name="cohort_one_open_per_trial"
            ),
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="cohort_capacity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} cohort {self.number} ({self.dose_level.label})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class EscalationDecision(models.Model):
    """A recommendation of the escalation engine, then a person's signed decision on it.

    ``data`` holds exactly what the engine saw (the outcome history, per-subject evidence and the
    design); ``data_sha256`` is the hash of its canonical JSON, which every signature repeats. If the
    live data later hash differently, the decision is invalidated and a new one is needed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting signature"
        CONCURRENCE = "concurrence", "Awaiting sponsor concurrence"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        INVALIDATED = "invalidated", "Invalidated: data changed"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="decisions")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="decisions")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    # The recommendation.
    continue_trial = models.BooleanField()
    next_dose_level = models.ForeignKey(
        "trials.DoseLevel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    add_subjects = models.PositiveSmallIntegerField(default=0)
    recommended_dose_level = models.ForeignKey(
        "trials.DoseLevel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    declared = models.CharField(max_length=3, blank=True, help_text="MTD, MAD or empty")
    rationale = models.TextField()
    outcomes = models.CharField(max_length=500, help_text="History in outcome-string notation")
    data = models.JSONField()
    data_sha256 = models.CharField(max_length=64)
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the investigator decided, when it differs from the recommendation, and why.
    decided_next_dose_level = models.ForeignKey(
        "trials.DoseLevel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_add_subjects = models.PositiveSmallIntegerField(null=True, blank=True)
    justification = models.TextField(blank=True)
    invalidated_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["cohort"], condition=models.Q(status__in=["pending", "concurrence"]),
                name="decision_one_open_per_cohort",
            ),
            models.CheckConstraint(
                condition=models.Q(continue_trial=False) | models.Q(next_dose_level__isnull=False),
                name="decision_continue_needs_level",
            ),
            models.CheckConstraint(
                condition=models.Q(decided_next_dose_level__isnull=True, decided_add_subjects__isnull=True)
                | models.Q(decided_next_dose_level__isnull=False, decided_add_subjects__gte=1)
                & ~models.Q(justification=""),
                name="decision_override_is_complete_and_justified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} decision #{self.pk} ({self.get_status_display()})"

    @property
    def overridden(self) -> bool:
        return self.decided_next_dose_level_id is not None

    @property
    def effective_next_dose_level(self):
        return self.decided_next_dose_level if self.overridden else self.next_dose_level

    @property
    def effective_add_subjects(self) -> int:
        return self.decided_add_subjects if self.overridden else self.add_subjects

    @property
    def decided_summary(self) -> str:
        if not self.overridden:
            return self.summary
        return f"Continue: {self.decided_add_subjects} subject(s) at {self.decided_next_dose_level.label}"

    @property
    def summary(self) -> str:
        if self.continue_trial:
            return f"Continue: {self.add_subjects} subject(s) at {self.next_dose_level.label}"
        if self.recommended_dose_level_id:
            return f"Stop escalation: {self.declared} = {self.recommended_dose_level.label}"
        return "Stop escalation: no tolerable dose level"


@pghistory.track(pghistory.InsertEvent())
class Signature(models.Model):
    """An electronic signature (21 CFR 11.50): printed name, date/time and meaning, bound to data.

    Signatures cannot be changed or deleted: database triggers refuse it.
    """

    class Meaning(models.TextChoices):
        APPROVED = "approved", "I approve this dose-escalation decision"
        REJECTED = "rejected", "I reject this dose-escalation decision"
        CONCURRED = "concurred", "I concur with this dose-escalation decision (sponsor)"
        DECLINED = "declined", "I do not concur with this dose-escalation decision (sponsor)"

    decision = models.ForeignKey(EscalationDecision, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    role = models.CharField(max_length=20)
    meaning = models.CharField(max_length=10, choices=Meaning.choices)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField(auto_now_add=True)
    data_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["signed_at"]
        triggers = [
            pgtrigger.Protect(name="signature_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.printed_name}: {self.get_meaning_display()} ({self.signed_at:%Y-%m-%d %H:%M %Z})"
