"""Subjects, their doses, pre-dose assessments and adverse events: the clinical record coordinators keep."""

from __future__ import annotations

from datetime import timedelta

import pghistory
from django.conf import settings
from django.core.validators import MaxValueValidator, MinLengthValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual

from records.base import Voidable, audited


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
        OFF_STUDY = "off_study", "Off study"

    class EndOfTreatmentReason(models.TextChoices):
        PROGRESSION = "progression", "Disease progression"
        TOXICITY = "toxicity", "Unacceptable toxicity (adverse event)"
        COMPLETED = "completed", "Completed the protocol's treatment"
        WITHDRAWN = "withdrawn", "Withdrew consent"
        INVESTIGATOR = "investigator", "Investigator's decision"
        NONCOMPLIANCE = "noncompliance", "Non-compliance"
        DEATH = "death", "Death"
        LOST = "lost", "Lost to follow-up"
        OFF_STUDY = "off_study", "Left the study (see the off-study reason)"
        OTHER = "other", "Other (say which)"

    class OffStudyReason(models.TextChoices):
        COMPLETED = "completed", "Completed the study's follow-up"
        DEATH = "death", "Death"
        LOST = "lost", "Lost to follow-up"
        WITHDRAWN = "withdrawn", "Withdrew consent"
        INVESTIGATOR = "investigator", "Investigator's decision"
        SPONSOR = "sponsor", "Study ended by the sponsor"
        OTHER = "other", "Other (say which)"

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
    # Histology or primary tumour (from screening's histology where the protocol asks it): efficacy endpoints
    # are reported per tumour type.
    tumour_type = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ENROLLED)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set when the subject leaves the study; before the DLT window closes without a DLT it makes the
    # subject not evaluable for dose escalation (replaced, BAT6005).
    off_study_on = models.DateField(null=True, blank=True)
    off_study_reason = models.CharField(max_length=200, blank=True, choices=OffStudyReason.choices)
    off_study_detail = models.CharField(max_length=300, blank=True, verbose_name="off-study reason (details)")
    # End of treatment (the last dose date is the visit plan's anchor, visits.FollowUp.last_dose).
    end_of_treatment_reason = models.CharField(max_length=20, blank=True, choices=EndOfTreatmentReason.choices)
    end_of_treatment_detail = models.CharField(max_length=300, blank=True,
                                               verbose_name="end-of-treatment reason (details)")

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
class DoseAdministration(Voidable):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="doses")
    drug = models.ForeignKey("trials.Drug", on_delete=models.PROTECT, related_name="+")
    cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    day = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    administered_at = models.DateTimeField()
    dose = models.DecimalField(max_digits=9, decimal_places=3, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=20)
    # Per-kg drugs: the weight the dose was computed from, and the computed (planned) dose.
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True,
                                    validators=[MinValueValidator(1)], verbose_name="weight used (kg)")
    planned_dose = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    # A dose given outside the protocol's cycle window or without the pre-dose assessments is recorded
    # only with a written reason (a protocol deviation).
    deviation_reason = models.TextField(blank=True)
    # Edit checks (trialrules.plausibility): the unusual values confirmed at entry, each with the check, the
    # field, the message shown, the reason given, who and when (trialsite.edit_checks.enforce).
    confirmed_checks = models.JSONField(default=list, blank=True, editable=False)
    # Set on the doses derived from an oral drug's dispensing record (one row per day taken): they are
    # written only by subjects.dispensing, never entered one by one.
    dispensing = models.ForeignKey("OralDispensing", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="doses", editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "administered_at"]
        indexes = [
            # A subject's first live dose (the DLT window's start: escalation.selectors, the blockers, gates) is
            # the first entry of this index: one row read, however many cycles the subject has had.
            models.Index(fields=["subject", "administered_at"], condition=models.Q(voided_at__isnull=True),
                         name="dose_first_idx"),
        ]
        constraints = [
            # A voided entry frees its day for the correct one.
            models.UniqueConstraint(fields=["subject", "drug", "cycle", "day"],
                                    condition=models.Q(voided_at__isnull=True), name="dose_unique_per_day"),
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="dose_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} C{self.cycle}D{self.day} {self.drug} {format(self.dose.normalize(), 'f')} {self.unit}"


class CtcaeTerm(models.Model):
    """A CTCAE v5.0 term with its grade definitions (NCI, public domain), loaded from
    ``subjects/data/ctcae_v5.csv`` by a data migration. "-" in a grade means that grade does not exist."""

    meddra_code = models.CharField(max_length=12)
    soc = models.CharField(max_length=120, verbose_name="system organ class")
    term = models.CharField(max_length=200, unique=True)
    grade1 = models.TextField(blank=True)
    grade2 = models.TextField(blank=True)
    grade3 = models.TextField(blank=True)
    grade4 = models.TextField(blank=True)
    grade5 = models.TextField(blank=True)
    definition = models.TextField(blank=True)

    class Meta:
        ordering = ["term"]
        verbose_name = "CTCAE v5.0 term"

    def __str__(self) -> str:
        return self.term

    def grade_text(self, grade: int) -> str:
        text = getattr(self, f"grade{grade}", "") if 1 <= int(grade) <= 5 else ""
        return "" if text.strip() in ("", "-") else text

    def grades(self) -> list[int]:
        return [g for g in range(1, 6) if self.grade_text(g)]


@pghistory.track(*audited())
class AdverseEvent(Voidable):
    class Attribution(models.TextChoices):
        UNRELATED = "unrelated", "Not related"
        UNLIKELY = "unlikely", "Unlikely related"
        POSSIBLE = "possible", "Possibly related"
        PROBABLE = "probable", "Probably related"
        DEFINITE = "definite", "Definitely related"

    RELATED = (Attribution.POSSIBLE, Attribution.PROBABLE, Attribution.DEFINITE)
    STRENGTH = [a.value for a in Attribution]
    NOT_ASSESSED = ""

    class SeriousCriterion(models.TextChoices):
        DEATH = "death", "Results in death"
        LIFE_THREATENING = "life_threatening", "Life-threatening"
        HOSPITALISATION = "hospitalisation", "Requires or prolongs hospitalisation"
        DISABILITY = "disability", "Persistent or significant disability/incapacity"
        CONGENITAL = "congenital", "Congenital anomaly/birth defect"
        IMPORTANT = "important", "Other important medical event"

    class Action(models.TextChoices):
        NONE = "none", "Dose not changed"
        INTERRUPTED = "interrupted", "Drug interrupted"
        REDUCED = "reduced", "Dose reduced"
        WITHDRAWN = "withdrawn", "Drug withdrawn"
        NOT_APPLICABLE = "not_applicable", "Not applicable"

    class Outcome(models.TextChoices):
        RECOVERING = "recovering", "Recovering/resolving"
        RECOVERED = "recovered", "Recovered/resolved"
        SEQUELAE = "sequelae", "Recovered with sequelae"
        NOT_RECOVERED = "not_recovered", "Not recovered/not resolved"
        FATAL = "fatal", "Fatal"
        UNKNOWN = "unknown", "Unknown"

    class DltStatus(models.TextChoices):
        NONE = "", "—"
        PROPOSED = "proposed", "Proposed: awaiting the investigator"
        CONFIRMED = "confirmed", "DLT (adjudicated)"
        REJECTED = "rejected", "Not a DLT (adjudicated)"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="adverse_events")
    ctcae = models.ForeignKey(CtcaeTerm, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name="CTCAE term")
    term = models.CharField(max_length=200, help_text="CTCAE v5.0 term")
    grade = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    onset_date = models.DateField()
    resolution_date = models.DateField(null=True, blank=True)
    serious = models.BooleanField(default=False)
    serious_criteria = models.JSONField(default=list, blank=True)
    # The strongest attribution to any drug of the regimen (what escalation reads), and per drug.
    # Blank: not yet assessed (the investigator's judgement may follow the coordinator's entry); an
    # in-window event of a DLT grade without it keeps the subject pending for escalation.
    attribution = models.CharField(max_length=10, choices=Attribution.choices, blank=True)
    attributions = models.JSONField(default=dict, blank=True, help_text="Drug name -> attribution.")
    immune_related = models.BooleanField(default=False, verbose_name="immune-related (irAE)")
    action_taken = models.CharField(max_length=20, choices=Action.choices, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    # DLT: proposed by the rules, adjudicated by an investigator; only ``is_dlt`` counts for escalation.
    dlt_status = models.CharField(max_length=10, choices=DltStatus.choices, blank=True, default="")
    is_dlt = models.BooleanField(default=False, verbose_name="DLT")
    adjudicated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    adjudication_comment = models.TextField(blank=True)
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

    def _first_dose_date(self):
        cached = getattr(self, "_first_dose_cache", None)
        if cached is None:
            first = self.subject.first_dose()
            cached = self._first_dose_cache = (first.administered_at.date() if first else False)
        return cached or None

    @property
    def teae(self) -> bool:
        """Treatment-emergent: onset on or after the first dose."""
        first = self._first_dose_date()
        return first is not None and self.onset_date >= first

    @property
    def trae(self) -> bool:
        """Treatment-related: treatment-emergent and related to at least one drug of the regimen."""
        return self.teae and self.related

    def grade_definition(self) -> str:
        return self.ctcae.grade_text(self.grade) if self.ctcae_id else ""


@pghistory.track(*audited())
class Assessment(Voidable):
    """A pre-dose assessment: vital signs (with the weight), laboratory tests, performance status."""

    class Kind(models.TextChoices):
        VITALS = "vitals", "Vital signs"
        LABS = "labs", "Laboratory tests"
        PERFORMANCE = "performance", "Performance status (ECOG)"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="assessments")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    assessed_on = models.DateField()
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True,
                                    validators=[MinValueValidator(1)], verbose_name="weight (kg)")
    ecog = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(5)],
                                            verbose_name="ECOG")
    notes = models.CharField(max_length=300, blank=True)
    # Edit checks (trialrules.plausibility): the unusual values confirmed at entry, each with the check, the
    # field, the message shown, the reason given, who and when (trialsite.edit_checks.enforce).
    confirmed_checks = models.JSONField(default=list, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "-assessed_on", "kind"]

    def __str__(self) -> str:
        return f"{self.subject}: {self.get_kind_display()} {self.assessed_on}"


@pghistory.track(*audited())
class ContinuationException(models.Model):
    """The investigator's recorded exception allowing treatment beyond the protocol's maximum cycles."""

    subject = models.OneToOneField(Subject, on_delete=models.PROTECT, related_name="continuation")
    reason = models.TextField(validators=[MinLengthValidator(10)])
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.subject}: continuation beyond the cycle maximum"


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


@pghistory.track(*audited())
class OralDispensing(Voidable):
    """An oral drug taken at home on several days of each cycle (anlotinib, days 1-14 of 21), recorded once
    per cycle as drug accountability: tablets dispensed, tablets returned and the days missed. The days
    taken become derived ``DoseAdministration`` rows (``dispensing`` set), so the first dose, the DLT
    window, the visits and the escalation evidence read them like any dose (``subjects.dispensing``)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="dispensings")
    drug = models.ForeignKey("trials.Drug", on_delete=models.PROTECT, related_name="+")
    cycle = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    dispensed_on = models.DateField()
    # Day 1 of the cycle's oral dosing: when the first tablet was taken. The home doses of the later days
    # are dated at the same clock time (the diary gives days, not times).
    first_dose_at = models.DateTimeField(verbose_name="first tablet (day 1) taken at")
    tablets_dispensed = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # From the protocol (the drug's ``dispensing.tablet_strength``) and the subject's dose level.
    tablet_strength = models.DecimalField(max_digits=9, decimal_places=3, validators=[MinValueValidator(0)])
    tablets_per_day = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    returned_on = models.DateField(null=True, blank=True)
    tablets_returned = models.PositiveIntegerField(null=True, blank=True)
    # Cycle days (within the drug's administration days) on which no tablet was taken.
    missed_days = models.JSONField(default=list, blank=True)
    # Tablets used (dispensed - returned) differing from days taken x tablets per day needs a reason.
    discrepancy_reason = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "drug", "cycle"]
        verbose_name = "oral drug dispensing"
        constraints = [
            models.UniqueConstraint(fields=["subject", "drug", "cycle"], condition=models.Q(voided_at__isnull=True),
                                    name="dispensing_unique_per_cycle"),
            models.CheckConstraint(condition=models.Q(tablet_strength__gt=0), name="dispensing_strength_positive"),
            models.CheckConstraint(
                condition=(models.Q(returned_on__isnull=True) & models.Q(tablets_returned__isnull=True))
                | (models.Q(returned_on__isnull=False) & models.Q(tablets_returned__isnull=False)),
                name="dispensing_return_complete",
            ),
            models.CheckConstraint(
                condition=models.Q(tablets_returned__isnull=True)
                | models.Q(tablets_returned__lte=models.F("tablets_dispensed")),
                name="dispensing_returned_at_most_dispensed",
            ),
            models.CheckConstraint(
                condition=models.Q(returned_on__isnull=True) | models.Q(returned_on__gte=models.F("dispensed_on")),
                name="dispensing_returned_after_dispensed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} C{self.cycle} {self.drug}: {self.tablets_dispensed} tablets dispensed"

    @property
    def returned(self) -> bool:
        return self.returned_on is not None

    @property
    def daily_dose(self):
        return self.tablet_strength * self.tablets_per_day

    @property
    def tablets_used(self) -> int | None:
        return None if self.tablets_returned is None else self.tablets_dispensed - self.tablets_returned
