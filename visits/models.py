"""Planned visits with their windows (generated from the protocol's visit plan)."""

from __future__ import annotations

import pghistory
from django.db import models


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PlannedVisit(models.Model):
    class Kind(models.TextChoices):
        SCREENING = "screening", "Screening"
        DOSING = "dosing", "Dosing"
        IMAGING = "imaging", "Imaging"
        EOT = "eot", "End of treatment"
        SAFETY = "safety", "Safety follow-up"
        SURVIVAL = "survival", "Survival follow-up"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        MISSED = "missed", "Missed"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="visits")
    code = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    done_on = models.DateField(null=True, blank=True)
    missed_reason = models.CharField(max_length=200, blank=True)
    overdue = models.BooleanField(default=False)
    overdue_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subject", "target"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "code"], name="visit_unique_code_per_subject"),
            models.CheckConstraint(
                condition=models.Q(window_start__lte=models.F("target"), target__lte=models.F("window_end")),
                name="visit_target_inside_window",
            ),
        ]
        indexes = [
            models.Index(fields=["window_end"], condition=models.Q(status="planned", overdue=False),
                         name="visit_watch_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.code}"
