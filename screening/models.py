"""Screening: a record per candidate with consent, the values checked against the protocol's
inclusion criteria (``trialrules.eligibility``), people's judgements, and the outcome; and the sites'
upper limits of normal the ×ULN criteria are read against."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pghistory
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from records.base import Voidable, audited
from trialrules.eligibility import INPUTS, ULN_ANALYTES, Quantity


@pghistory.track(*audited())
class SiteReferenceRange(models.Model):
    """A site laboratory's upper limit of normal for one analyte."""

    ANALYTES = [(a, INPUTS[a].label) for a in ULN_ANALYTES]

    site = models.ForeignKey("trials.Site", on_delete=models.CASCADE, related_name="reference_ranges")
    analyte = models.CharField(max_length=20, choices=ANALYTES)
    uln = models.DecimalField(max_digits=9, decimal_places=3, validators=[MinValueValidator(Decimal("0.001"))],
                              verbose_name="upper limit of normal")
    unit = models.CharField(max_length=20)

    class Meta:
        ordering = ["site", "analyte"]
        constraints = [models.UniqueConstraint(fields=["site", "analyte"], name="reference_range_unique")]

    def __str__(self) -> str:
        return f"{self.site.code} {self.analyte} ULN {self.uln.normalize():f} {self.unit}"

    def quantity(self) -> Quantity:
        return Quantity(self.uln, self.unit)


@pghistory.track(*audited())
class ScreeningRecord(Voidable):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "Screening"
        ELIGIBLE = "eligible", "Eligible"
        SCREEN_FAILED = "screen_failed", "Screen failure"
        ENROLLED = "enrolled", "Enrolled"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="screenings")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="screenings")
    # The part screened for (its eligibility differences apply): the part enrolling when screening started.
    part = models.ForeignKey("trials.Part", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    number = models.CharField(max_length=50, unique=True)
    # Identifiable: site staff only.
    initials = models.CharField(max_length=4)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=[("F", "Female"), ("M", "Male")])
    # Informed consent.
    consent_form_version = models.CharField(max_length=40, verbose_name="ICF version")
    consent_date = models.DateField(verbose_name="consent signed on")
    consent_obtained_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                            verbose_name="consent obtained by")
    # The screening assessments (labs etc.) date: the first dose must follow within the window (day -28..0).
    assessed_on = models.DateField(null=True, blank=True, verbose_name="screening assessments on")
    values = models.JSONField(default=dict, blank=True)
    # Criterion code -> {"met": bool, "by": user id, "by_name": str, "at": iso datetime}.
    judgements = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    failure_reasons = models.JSONField(default=list, blank=True)
    # Edit checks (trialrules.plausibility): the unusual values confirmed at entry, each with the check, the
    # field, the message shown, the reason given, who and when (trialsite.edit_checks.enforce).
    confirmed_checks = models.JSONField(default=list, blank=True, editable=False)
    subject = models.OneToOneField("subjects.Subject", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="screening")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(initials__regex=r"^[A-Z]{2,4}$"),
                                   name="screening_initials_format"),
        ]

    def __str__(self) -> str:
        return self.number

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))

    @property
    def age(self) -> int:
        return self.age_on(self.consent_date)
