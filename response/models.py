"""Tumour assessments by RECIST 1.1: the lesions chosen at baseline, what each imaging time point found,
and the response per time point the rules compute (``trialrules.recist``) with the investigator's review.

A lesion is chosen once, at baseline, with its first measurement; every later time point measures the same
lesions (RECIST 1.1 §4.2: the baseline lesions are followed throughout), so a measurement always names a
baseline lesion. Entries are corrected or voided with a reason through :mod:`records` like every other
clinical record, and every correction re-computes the subject's responses (``response.services``).
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from records.base import Voidable, audited

RESPONSE_CHOICES = [
    ("CR", "CR — complete response"),
    ("PR", "PR — partial response"),
    ("SD", "SD — stable disease"),
    ("NON-CR/NON-PD", "Non-CR/non-PD"),
    ("PD", "PD — progressive disease"),
    ("NE", "NE — not evaluable"),
]


@pghistory.track(*audited())
class TumourAssessment(Voidable):
    """One imaging time point (CT/MRI): the baseline or a follow-up assessment of the baseline lesions."""

    class Method(models.TextChoices):
        CT = "CT", "CT"
        MRI = "MRI", "MRI"
        PET_CT = "PET-CT", "PET-CT (CT part)"
        OTHER = "other", "Other"

    class NewLesions(models.TextChoices):
        NONE = "none", "No new lesion"
        EQUIVOCAL = "equivocal", "Equivocal new lesion (to be confirmed)"
        UNEQUIVOCAL = "unequivocal", "Unequivocal new lesion"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="tumour_assessments")
    visit = models.ForeignKey("visits.PlannedVisit", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="tumour_assessments", verbose_name="imaging visit")
    baseline = models.BooleanField(default=False)
    assessed_on = models.DateField(verbose_name="scan date")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.CT)
    new_lesions = models.CharField(max_length=12, choices=NewLesions.choices, default=NewLesions.NONE)
    # What trialrules.recist computed from this and the earlier time points (re-computed on every change).
    sum_mm = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True, editable=False)
    change_from_baseline_pct = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True,
                                                   editable=False)
    change_from_nadir_pct = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True, editable=False)
    nadir_mm = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True, editable=False)
    target_response = models.CharField(max_length=16, blank=True, editable=False)
    non_target_response = models.CharField(max_length=16, blank=True, editable=False)
    computed_response = models.CharField(max_length=16, blank=True, editable=False)
    computed_reasons = models.JSONField(default=list, blank=True, editable=False)
    # The investigator's review: the computed response confirmed, or another one with a reason.
    response = models.CharField(max_length=16, choices=RESPONSE_CHOICES, blank=True,
                                verbose_name="overall response (investigator)")
    override_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", editable=False)
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "assessed_on"]
        constraints = [
            models.UniqueConstraint(fields=["subject"], condition=models.Q(baseline=True, voided_at__isnull=True),
                                    name="tumour_one_baseline_per_subject"),
            models.UniqueConstraint(fields=["subject", "assessed_on"], condition=models.Q(voided_at__isnull=True),
                                    name="tumour_one_assessment_per_day"),
            models.CheckConstraint(
                condition=models.Q(response="") | ~models.Q(response=models.F("computed_response"))
                | models.Q(override_reason=""),
                name="tumour_reason_only_for_override",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {'baseline' if self.baseline else 'assessment'} {self.assessed_on}"

    @property
    def overall(self) -> str:
        """The response that counts: the investigator's when reviewed, else the computed one."""
        return self.response or self.computed_response

    @property
    def reviewed(self) -> bool:
        return bool(self.response)

    @property
    def overridden(self) -> bool:
        return bool(self.response) and self.response != self.computed_response


@pghistory.track(*audited())
class Lesion(Voidable):
    """A lesion chosen at baseline: a target (measured) or a non-target (followed by status)."""

    class Kind(models.TextChoices):
        TARGET = "target", "Target"
        NON_TARGET = "non_target", "Non-target"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="lesions")
    key = models.CharField(max_length=8, help_text="T1–T5 for targets, NT1… for non-targets.")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    organ = models.CharField(max_length=80)
    location = models.CharField(max_length=200, blank=True, help_text="Where in the organ, e.g. 'right upper lobe'.")
    node = models.BooleanField(default=False, verbose_name="lymph node")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "-kind", "key"]  # targets (T1…) before non-targets (NT1…)
        constraints = [
            models.UniqueConstraint(fields=["subject", "key"], condition=models.Q(voided_at__isnull=True),
                                    name="lesion_unique_key_per_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.organ}{' (node)' if self.node else ''}"


@pghistory.track(*audited())
class LesionMeasurement(Voidable):
    """What one time point found for one baseline lesion: a target's diameter (mm; 0 when it disappeared),
    or a non-target's status; or that it was not evaluated."""

    class Axis(models.TextChoices):
        LONG = "long", "Longest diameter"
        SHORT = "short", "Short axis (lymph nodes)"

    class Status(models.TextChoices):
        MEASURED = "measured", "Measured"
        TOO_SMALL = "too_small", "Too small to measure (5 mm)"
        PRESENT = "present", "Present"
        ABSENT = "absent", "Absent"
        PROGRESSION = "progression", "Unequivocal progression"
        NOT_EVALUATED = "not_evaluated", "Not evaluated"

    assessment = models.ForeignKey(TumourAssessment, on_delete=models.PROTECT, related_name="measurements")
    lesion = models.ForeignKey(Lesion, on_delete=models.PROTECT, related_name="measurements")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.MEASURED)
    diameter_mm = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True,
                                      validators=[MinValueValidator(0)], verbose_name="diameter (mm)")
    axis = models.CharField(max_length=5, choices=Axis.choices, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assessment", "-lesion__kind", "lesion__key"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "lesion"], condition=models.Q(voided_at__isnull=True),
                                    name="measurement_unique_per_lesion"),
            models.CheckConstraint(condition=models.Q(diameter_mm__isnull=True) | models.Q(diameter_mm__gte=0),
                                   name="measurement_not_negative"),
            models.CheckConstraint(condition=~models.Q(status="measured") | models.Q(diameter_mm__isnull=False),
                                   name="measurement_measured_has_diameter"),
        ]

    def __str__(self) -> str:
        value = f"{self.diameter_mm} mm" if self.diameter_mm is not None else self.get_status_display()
        return f"{self.assessment}: {self.lesion.key} {value}"
