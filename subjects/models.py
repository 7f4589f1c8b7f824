"""Subjects, their doses and adverse events: the clinical record coordinators keep."""

from __future__ import annotations

from datetime import timedelta

import pghistory
from django.conf import settings
from django.core.validators import MaxValueValidator, MinLengthValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual


def audited():
    """Fresh trackers per model: pghistory's tracker objects keep state and must not be shared."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


@pghistory.track(*audited())
class Subject(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"

    class Status(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled"
        ON_TREATMENT = "on_treatment", "On treatment"
        OFF_TREATMENT = "off_treatment", "Off treatment"
        WITHDRAWN = "withdrawn", "Withdrawn"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="subjects")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="subjects")
    cohort = models.ForeignKey("escalation.Cohort", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="subjects")
    dose_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="subjects")
    # The de-identified code: the only subject identifier a sponsor may ever see.
    code = models.CharField(max_length=40, unique=True)
    # Identifiable data: site staff only.
    initials = models.CharField(max_length=4)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ENROLLED)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set when the subject leaves the study; before the DLT window closes without a DLT it makes the
    # subject not evaluable for dose escalation (replaced, BAT6005).
    off_study_on = models.DateField(null=True, blank=True)
    off_study_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["trial", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(initials__regex=r"^[A-Z]{2,4}$"),
                                   name="subject_initials_format"),
        ]

    def __str__(self) -> str:
        return self.code

    def first_dose(self):
        return self.doses.order_by("administered_at").first()

    def dlt_window_end(self, window_days: int):
        """The DLT window: from the first dose to ``window_days`` days after it (BAT6005: cycle 1)."""
        first = self.first_dose()
        return None if first is None else first.administered_at + timedelta(days=window_days)


@pghistory.track(*audited())
class DoseAdministration(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="doses")
    drug = models.ForeignKey("trials.Drug", on_delete=models.PROTECT, related_name="+")
    cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    day = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    administered_at = models.DateTimeField()
    dose = models.DecimalField(max_digits=9, decimal_places=3, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=20)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "administered_at"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "drug", "cycle", "day"], name="dose_unique_per_day"),
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="dose_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} C{self.cycle}D{self.day} {self.drug} {self.dose} {self.unit}"


@pghistory.track(*audited())
class AdverseEvent(models.Model):
    class Attribution(models.TextChoices):
        UNRELATED = "unrelated", "Not related"
        UNLIKELY = "unlikely", "Unlikely related"
        POSSIBLE = "possible", "Possibly related"
        PROBABLE = "probable", "Probably related"
        DEFINITE = "definite", "Definitely related"

    RELATED = (Attribution.POSSIBLE, Attribution.PROBABLE, Attribution.DEFINITE)

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="adverse_events")
    term = models.CharField(max_length=200, help_text="CTCAE v5.0 term")
    grade = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    onset_date = models.DateField()
    resolution_date = models.DateField(null=True, blank=True)
    serious = models.BooleanField(default=False)
    attribution = models.CharField(max_length=10, choices=Attribution.choices)
    # Investigator's adjudication: a DLT counts for dose escalation only inside the DLT window.
    is_dlt = models.BooleanField(default=False, verbose_name="DLT")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "onset_date"]
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__gte=1, grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(
                condition=models.Q(resolution_date__isnull=True)
                | models.Q(resolution_date__gte=models.F("onset_date")),
                name="ae_resolution_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject}: {self.term} grade {self.grade}"

    @property
    def related(self) -> bool:
        return self.attribution in self.RELATED


@pghistory.track(*audited())
class GateOverride(models.Model):
    """An investigator's written decision to give one subject's first dose although a timing gate of
    dose escalation (trialrules.gates) is closed. One per subject and gate."""

    class Gate(models.TextChoices):
        LEVEL = "level", "Level gate: the previous level's DLT windows"
        STAGGER = "stagger", "Stagger gate: spacing between subjects at a level"

    REASON_MIN_LENGTH = 10

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="gate_overrides")
    gate = models.CharField(max_length=10, choices=Gate.choices)
    reason = models.TextField(validators=[MinLengthValidator(REASON_MIN_LENGTH)])
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "gate"], name="gate_override_unique_per_gate"),
            models.CheckConstraint(condition=GreaterThanOrEqual(Length("reason"), 10),
                                   name="gate_override_reason_length"),
        ]

    def __str__(self) -> str:
        return f"{self.subject}: {self.get_gate_display()} overridden by {self.overridden_by}"
