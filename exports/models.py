"""An export of one trial's data, built in the background (Celery) with its progress, kept as a file."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.utils import timezone


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class ExportJob(models.Model):
    class Format(models.TextChoices):
        CSV = "csv", "CSV, one file per domain"
        ODM = "odm", "CDISC ODM 1.3.2 (clinical data and audit records)"
        SDTM = "sdtm", "CDISC SDTM datasets and Define-XML"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="export_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=6, choices=Format.choices)
    deidentified = models.BooleanField(default=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Per cent done.")
    step = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.trial.code} {self.format} export {self.pk} ({self.status})"
