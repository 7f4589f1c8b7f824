"""Samples for pharmacokinetics, immunogenicity (ADA), receptor occupancy and biomarkers, from the protocol's
schedule (``[pk]``, ``trialrules.sampling``) to the lab's results and the pharmacokineticist's choices.

- :class:`Sample`: one planned sample of a subject (its code, nominal time and window from the actual dose),
  then collected at the site (actual time, deviation from nominal) or missed with a reason, shipped, analysed.
- :class:`Shipment`: a box of collected samples sent to the bioanalytical lab.
- :class:`LabImport` and :class:`LabResult`: one accepted results file (all rows or none) and its results.
- :class:`LambdaZChoice`: the terminal-phase points a pharmacokineticist chose for λz instead of the automatic
  best fit, with the reason.

Every table is audited (pghistory); corrections and voids go through :mod:`records` (``pk.kinds``).
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from records.base import Voidable, audited


class SampleKind(models.TextChoices):
    PK = "pk", "PK"
    ADA = "ada", "ADA"
    RO = "ro", "Receptor occupancy"
    BIOMARKER = "biomarker", "Biomarker"


@pghistory.track(*audited())
class Shipment(models.Model):
    class Temperature(models.TextChoices):
        FROZEN_70 = "frozen-70", "Frozen, −70 °C or below (dry ice)"
        FROZEN_20 = "frozen-20", "Frozen, −20 °C"
        REFRIGERATED = "refrigerated", "Refrigerated, 2–8 °C"
        AMBIENT = "ambient", "Ambient"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, related_name="+")
    lab = models.CharField(max_length=120, verbose_name="bioanalytical lab")
    shipped_at = models.DateTimeField()
    temperature = models.CharField(max_length=20, choices=Temperature.choices)
    tracking = models.CharField(max_length=80, blank=True, verbose_name="courier tracking number")
    shipped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-shipped_at"]

    def __str__(self) -> str:
        return f"Shipment {self.pk} to {self.lab}"


@pghistory.track(*audited())
class Sample(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        COLLECTED = "collected", "Collected"
        MISSED = "missed", "Missed"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="samples")
    code = models.CharField(max_length=40)  # C1-PK-4h
    sample_id = models.CharField(max_length=80, unique=True, verbose_name="sample ID")  # on the label
    kind = models.CharField(max_length=10, choices=SampleKind.choices)
    analytes = models.JSONField(default=list)
    cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    nominal_hours = models.FloatField()  # after the dose; 0 = pre-dose
    # The day-1 dose it is timed from; empty while the cycle is not dosed (timed from the expected dose).
    dose = models.ForeignKey("subjects.DoseAdministration", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+")
    nominal_at = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    collected_at = models.DateTimeField(null=True, blank=True)
    # Minutes from nominal to collection (< 0 early); ``deviation``: collected outside the window.
    deviation_minutes = models.IntegerField(null=True, blank=True)
    deviation = models.BooleanField(default=False)
    missed_reason = models.CharField(max_length=200, blank=True)
    comment = models.CharField(max_length=200, blank=True)
    overdue = models.BooleanField(default=False)
    overdue_since = models.DateTimeField(null=True, blank=True)
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="samples")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subject", "nominal_at", "code"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "code"], name="sample_unique_code_per_subject"),
            models.CheckConstraint(
                condition=models.Q(window_start__lte=models.F("nominal_at"), nominal_at__lte=models.F("window_end")),
                name="sample_nominal_inside_window"),
            models.CheckConstraint(
                condition=models.Q(status="collected", collected_at__isnull=False)
                | (~models.Q(status="collected") & models.Q(collected_at__isnull=True)),
                name="sample_collected_has_time"),
            models.CheckConstraint(condition=~models.Q(status="missed") | ~models.Q(missed_reason=""),
                                   name="sample_missed_has_reason"),
            models.CheckConstraint(condition=models.Q(shipment__isnull=True) | models.Q(status="collected"),
                                   name="sample_shipped_is_collected"),
        ]
        indexes = [
            models.Index(fields=["window_end"], condition=models.Q(status="planned", overdue=False),
                         name="sample_watch_idx"),
        ]

    def __str__(self) -> str:
        return self.sample_id

    def state(self, now) -> str:
        """collected, missed, overdue, open (window open now) or planned."""
        if self.status != self.Status.PLANNED:
            return self.status
        if self.overdue or now > self.window_end:
            return "overdue"
        if self.window_start <= now:
            return "open"
        return "planned"

    @property
    def deviation_text(self) -> str:
        if self.deviation_minutes is None or not self.deviation:
            return ""
        m = abs(self.deviation_minutes)
        amount = f"{m} min" if m < 120 else f"{m / 60:.1f} h" if m < 2880 else f"{m / 1440:.1f} days"
        return f"{amount} {'late' if self.deviation_minutes > 0 else 'early'}"


@pghistory.track(*audited())
class LabImport(models.Model):
    """One results file accepted whole (a file with any bad row is refused and leaves no trace but its report)."""

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.rows} results)"


@pghistory.track(*audited())
class LabResult(Voidable):
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="results")
    analyte = models.CharField(max_length=40)
    value = models.DecimalField(max_digits=14, decimal_places=5, null=True, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    blq = models.BooleanField(default=False, verbose_name="below the LLOQ")
    lloq = models.DecimalField(max_digits=14, decimal_places=5, null=True, blank=True, verbose_name="LLOQ")
    ada_positive = models.BooleanField(null=True, blank=True, verbose_name="ADA positive")
    titre = models.PositiveIntegerField(null=True, blank=True)
    category = models.CharField(max_length=40, blank=True)
    analysed_on = models.DateField(null=True, blank=True)
    lab_import = models.ForeignKey(LabImport, on_delete=models.PROTECT, related_name="results")

    class Meta:
        ordering = ["sample", "analyte"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "analyte"], condition=models.Q(voided_at__isnull=True),
                                    name="lab_result_unique_per_sample"),
            models.CheckConstraint(condition=~models.Q(blq=True) | models.Q(value__isnull=True),
                                   name="lab_result_blq_has_no_value"),
            models.CheckConstraint(condition=models.Q(titre__isnull=True) | models.Q(ada_positive=True),
                                   name="lab_result_titre_only_if_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.sample} {self.analyte}"

    @property
    def display(self) -> str:
        if self.blq:
            return f"BLQ (< {format(self.lloq.normalize(), 'f')})" if self.lloq is not None else "BLQ"
        if self.ada_positive is not None:
            return f"positive, titre {self.titre}" if self.ada_positive else "negative"
        if self.category:
            return self.category
        if self.value is None:
            return ""
        return f"{format(self.value.normalize(), 'f')} {self.unit}".strip()


@pghistory.track(*audited())
class LambdaZChoice(models.Model):
    """The points (hours after the dose) a pharmacokineticist chose for one profile's λz; ``times`` empty =
    back to the automatic best fit. Changed in place with a reason, every version in the audit."""

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    analyte = models.CharField(max_length=40)
    times = models.JSONField(default=list, blank=True)
    reason = models.TextField()
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    chosen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "cycle", "analyte"], name="lambda_z_choice_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} C{self.cycle} {self.analyte} λz"
