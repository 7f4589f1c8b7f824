"""Cohorts, the escalation decisions recommended for them, and the signatures that approve them."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Cohort(models.Model):
    """A group of subjects enrolled at one dose level. In the dose-escalation part (``escalation``) cohorts
    follow one another, each opened by the signed decision on the one before; cohorts of a later part
    (extension, expansion, single-arm phase II) open when their part does and enrol to their target size
    (``capacity``), several at once, never feeding the escalation decisions."""

    class Status(models.TextChoices):
        OPEN = "open", "Open for enrolment"
        FULL = "full", "Full: DLT observation"
        DECIDED = "decided", "Decided"
        CLOSED = "closed", "Closed: target size reached"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="cohorts")
    part = models.ForeignKey("trials.Part", on_delete=models.PROTECT, null=True, blank=True, related_name="cohorts")
    number = models.PositiveSmallIntegerField()
    # The cohort's code in its part ("STS", "EXT-1"); empty for dose-escalation cohorts.
    label = models.CharField(max_length=40, blank=True)
    # Counts toward the dose-escalation decisions (the escalation part's cohorts only).
    escalation = models.BooleanField(default=True)
    dose_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, related_name="cohorts")
    capacity = models.PositiveSmallIntegerField()
    # Tumour types the cohort enrols (empty: any the protocol admits); checked against the screening histology.
    tumour_types = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.ForeignKey(
        "escalation.EscalationDecision", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_by_declaration = models.ForeignKey(
        "escalation.Rp2dDeclaration", on_delete=models.PROTECT, null=True, blank=True, related_name="opened_cohorts"
    )

    class Meta:
        ordering = ["trial", "number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "number"], name="cohort_unique_number"),
            # One escalation cohort at a time takes subjects (BAT6005: a level opens after the previous one's
            # decision); a later part may enrol several cohorts at once.
            models.UniqueConstraint(
                fields=["trial"], condition=models.Q(status="open", escalation=True),
                name="cohort_one_open_escalation_per_trial",
            ),
            models.UniqueConstraint(
                fields=["trial", "label"], condition=~models.Q(label=""), name="cohort_unique_label_per_trial"
            ),
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="cohort_capacity_positive"),
            models.CheckConstraint(
                condition=models.Q(escalation=True) | ~models.Q(status__in=["full", "decided"]),
                name="cohort_later_parts_open_or_closed",
            ),
        ]

    def __str__(self) -> str:
        if self.label:
            return f"{self.trial.code} {self.label} ({self.dose_level.label})"
        return f"{self.trial.code} cohort {self.number} ({self.dose_level.label})"

    @property
    def name(self) -> str:
        return self.label or f"Cohort {self.number}"


class DecisionQuerySet(models.QuerySet):
    def listed(self):
        """For lists of decisions (home, trial page, dashboard, API lists): what a row shows — its trial's
        code, cohort and levels in the same query — without ``data``, the engine's whole evidence (kept
        for the decision's own page and its signatures), nor the trial's protocol definition."""
        return self.select_related(
            "trial", "cohort__dose_level", "next_dose_level", "recommended_dose_level", "decided_next_dose_level",
        ).defer("data", "trial__definition", "trial__visit_plan")


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

    objects = DecisionQuerySet.as_manager()

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
        DECLARED = "declared", "I approve this recommended phase II dose and the cohorts it opens"
        AGREED = "agreed", "I agree to this intra-patient dose escalation"
        OBJECTED = "objected", "I do not approve (see the comment)"

    # What is signed: exactly one of a dose-escalation decision, an RP2D declaration or an intra-patient
    # escalation agreement.
    decision = models.ForeignKey(EscalationDecision, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="signatures")
    declaration = models.ForeignKey("escalation.Rp2dDeclaration", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="signatures")
    agreement = models.ForeignKey("escalation.IntraPatientEscalation", on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    role = models.CharField(max_length=40)
    meaning = models.CharField(max_length=10, choices=Meaning.choices)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField(auto_now_add=True)
    data_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["signed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision__isnull=False, declaration__isnull=True, agreement__isnull=True)
                | models.Q(decision__isnull=True, declaration__isnull=False, agreement__isnull=True)
                | models.Q(decision__isnull=True, declaration__isnull=True, agreement__isnull=False),
                name="signature_signs_one_record",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="signature_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.printed_name}: {self.get_meaning_display()} ({self.signed_at:%Y-%m-%d %H:%M %Z})"


class SignedRecord(models.Model):
    """What the records signed after escalation share: the data the signers saw (``data``), its hash
    (``data_sha256``, repeated by each :class:`Signature`), who proposed it and when, and when it was decided or
    why it was invalidated (the live data no longer hashed the same at the second signature)."""

    data = models.JSONField()
    data_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    invalidated_reason = models.TextField(blank=True)

    class Meta:
        abstract = True


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Rp2dDeclaration(SignedRecord):
    """The recommended phase II dose, chosen at or below the MTD (or the MAD) once escalation has stopped,
    by the sponsor and the principal investigator: two signatures on the same data (safety by level, PK and
    response when present: ``data``, hashed in ``data_sha256`` and repeated by each signature). With both,
    the later parts open (``planned_cohorts``: the cohorts they enrol, their dose levels, sizes and tumour types).
    If the data change before the second signature, the declaration is invalidated."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting the second signature"
        APPROVED = "approved", "Signed by sponsor and principal investigator"
        REJECTED = "rejected", "Not approved"
        INVALIDATED = "invalidated", "Invalidated: data changed"

    trial = models.ForeignKey("trials.Trial", on_delete=models.PROTECT, related_name="rp2d_declarations")
    # The signed decision that stopped escalation (MTD, MAD or no tolerable level).
    stopping_decision = models.ForeignKey(EscalationDecision, on_delete=models.PROTECT, related_name="+")
    dose_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, related_name="+")
    rationale = models.TextField()
    # The later parts' cohorts this declaration opens: [{"part", "label", "dose_level" (pk), "size",
    # "tumour_types"}].
    planned_cohorts = models.JSONField(default=list)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["trial"], condition=models.Q(status__in=["pending", "approved"]),
                                    name="rp2d_one_standing_per_trial"),
        ]

    def __str__(self) -> str:
        return f"{self.trial.code} RP2D {self.dose_level.label} ({self.get_status_display()})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class IntraPatientEscalation(SignedRecord):
    """A subject's move to a higher dose level (BAT6005 rule 6): after at least 4 cycles, once that level has
    cleared its DLT windows without exceeding the MTD, with a recorded sponsor–investigator agreement (two
    signatures on ``data``: the checks as they stood). Once agreed, the subject is dosed at ``to_level`` from
    ``from_cycle``; for the escalation decisions the subject stays counted at the original level."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting agreement"
        AGREED = "agreed", "Agreed: dosed at the new level"
        REJECTED = "rejected", "Not agreed"
        INVALIDATED = "invalidated", "Invalidated: data changed"

    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="dose_escalations")
    from_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, related_name="+")
    to_level = models.ForeignKey("trials.DoseLevel", on_delete=models.PROTECT, related_name="+")
    from_cycle = models.PositiveSmallIntegerField()
    rationale = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["subject", "from_cycle"]
        constraints = [
            models.UniqueConstraint(fields=["subject"], condition=models.Q(status="pending"),
                                    name="intrapatient_one_pending_per_subject"),
            # The protocol sets how many cycles first (escalation.intra_patient.min_cycles); never from cycle 1.
            models.CheckConstraint(condition=models.Q(from_cycle__gte=2), name="intrapatient_after_a_cycle"),
        ]

    def __str__(self) -> str:
        return f"{self.subject.code}: {self.from_level.label} → {self.to_level.label} from cycle {self.from_cycle}"


class TrialChange(models.Model):
    """A counter of the changes to what a trial's escalation decision reads, bumped by the database itself:
    statement-level triggers (migration 0006) on subjects, doses, adverse events, cohorts, decisions, decision
    signatures, dose levels and the trial add 1 for each trial a statement touched, whatever wrote it (a page,
    the API, an import, the admin, a shell). The periodic review compares it with :class:`CohortReview`
    (``escalation.tasks.review_open_cohorts``). Bookkeeping derived from audited writes, not itself audited."""

    # No foreign-key constraint: the triggers write it inside any statement, a trial's deletion included.
    trial = models.OneToOneField("trials.Trial", on_delete=models.DO_NOTHING, primary_key=True, db_constraint=False,
                                 related_name="escalation_change")
    # Changes the periodic review has to look at (its own writes are not counted: escalation.changes.reviewing).
    seq = models.BigIntegerField(default=0)
    # A new random value at every change, the review's own included: what a cache of the trial's escalation
    # pages is keyed on (escalation.board), unique across databases and restores, unlike a counter.
    version = models.UUIDField(null=True, editable=False)
    # A new random value at every change to what the dashboard counts live beside it (visits, the trial's sites;
    # escalation.changes.LIVE_TABLES): the key of the cached overdue counts. Touches neither of the above.
    live = models.UUIDField(null=True, editable=False)

    def __str__(self) -> str:
        return f"trial {self.trial_id}: change {self.seq}"


class CohortReview(models.Model):
    """The periodic review's last evaluation of a trial: the :class:`TrialChange` counter it saw, and when time
    alone changes the evidence next (the earliest DLT window still to close). Written by the review only."""

    trial = models.OneToOneField("trials.Trial", on_delete=models.CASCADE, primary_key=True,
                                 related_name="escalation_review")
    seen = models.BigIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"trial {self.trial_id}: reviewed at change {self.seen}"
