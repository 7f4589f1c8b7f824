"""Writes for subjects: enrolment, doses and adverse events.

Each is atomic; the row changes are audited by pghistory triggers, with the acting user in the
context (the HistoryMiddleware sets it for web requests). Side effects (the escalation review)
are enqueued after commit.

Timing gates (DOMAIN.md escalation rule 4; the rules themselves are in :mod:`trialrules.gates`)
----------------------------------------------------------------------------------------------
In an escalating trial the gates apply to a subject's *first dose* (the dose that becomes the
earliest recorded for the subject, normally cycle 1 day 1), checked at its ``administered_at``, not
at enrolment: screening and consent take days, so a subject may be enrolled into the open cohort
while a gate is still closed, and the dose form says when the gate opens. A refused dose raises a
ValidationError on ``administered_at`` whose message gives the opening time and cites the rule.

An investigator of the subject's site may override a gate for that subject's first dose with a
written reason (``gate_override``: an audited ``GateOverride`` row, one per subject and gate);
``dose_record`` then accepts the dose if every gate that blocks it is overridden. First doses of a
trial are serialised by locking the trial row, so two subjects cannot slip through one gate at once.
A subject who left the study (``off_study_on``) no longer holds the level gate closed from the start
of that day.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from escalation.models import Cohort
from subjects.models import AdverseEvent, DoseAdministration, GateOverride, Subject
from trialrules import gates
from trials.models import Drug, Membership, Role, Site, Trial


def _review_escalation_after_commit(trial: Trial) -> None:
    if trial.escalates:
        from escalation.tasks import review_trial

        transaction.on_commit(lambda: review_trial.delay(trial.pk))


def subject_enrol(
    *, trial: Trial, site: Site, user, initials: str, date_of_birth: date, sex: str, today: date | None = None
) -> Subject:
    """Enrol a subject into the trial's open cohort (escalating trials) or at its fixed dose."""
    today = today or timezone.localdate()
    if date_of_birth >= today:
        raise ValidationError({"date_of_birth": "The date of birth must be in the past."})
    with transaction.atomic():
        # Lock the trial row: subject numbers and the last free cohort place are taken one at a time.
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        cohort = None
        if trial.escalates:
            cohort = Cohort.objects.select_for_update().filter(trial=trial, status=Cohort.Status.OPEN).first()
            if cohort is None:
                raise ValidationError(
                    "No cohort is open for enrolment: the current cohort is full or awaiting its "
                    "dose-escalation decision."
                )
            level = cohort.dose_level
        else:
            level = trial.dose_levels.order_by("rank").first()
        number = Subject.objects.filter(trial=trial, site=site).count() + 1
        subject = Subject(
            trial=trial,
            site=site,
            cohort=cohort,
            dose_level=level,
            code=f"{trial.code}-{site.code}-{number:03d}",
            initials=initials.strip().upper(),
            date_of_birth=date_of_birth,
            sex=sex,
            enrolled_by=user,
        )
        subject.full_clean()
        subject.save()
        if cohort is not None and cohort.subjects.count() >= cohort.capacity:
            cohort.status = Cohort.Status.FULL
            cohort.save(update_fields=["status"])
    return subject


def dose_record(
    *, subject: Subject, drug: Drug, cycle: int, day: int, administered_at: datetime, dose: Decimal, user,
    now: datetime | None = None,
) -> DoseAdministration:
    now = now or timezone.now()
    if drug.trial_id != subject.trial_id:
        raise ValidationError({"drug": "This drug is not part of the subject's regimen."})
    if administered_at > now:
        raise ValidationError({"administered_at": "A dose cannot be recorded in the future."})
    planned = Decimal(subject.dose_level.doses[drug.name])
    if not subject.trial.definition.get("escalation", {}).get("dose_reduction_allowed", True) and dose != planned:
        # BAT6005: "Dose reduction adjustments are not allowed"; escalation needs its own agreement.
        raise ValidationError(
            {"dose": f"{subject.trial.code} allows no dose change: the dose at {subject.dose_level.label} "
                     f"is {planned.normalize():f} {drug.unit}."}
        )
    if day not in drug.administration_days:
        raise ValidationError({"day": f"{drug.name} is given on cycle days {drug.administration_days}, not day {day}."})
    with transaction.atomic():
        if _gated(subject):
            # Serialise doses of the trial (trial row first, as enrolment does): the timing gates of
            # a first dose read the other subjects' first doses.
            Trial.objects.select_for_update().get(pk=subject.trial_id)
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if DoseAdministration.objects.filter(subject=subject, drug=drug, cycle=cycle, day=day).exists():
            raise ValidationError({"cycle": f"Cycle {cycle} day {day} of {drug.name} is already recorded."})
        earlier = subject.doses.order_by("administered_at").first()
        if earlier is not None and administered_at < earlier.administered_at and cycle > 1:
            raise ValidationError({"administered_at": "This dose is dated before the subject's first dose."})
        if _gated(subject) and (earlier is None or administered_at < earlier.administered_at):
            result = first_dose_gate_status(subject, when=administered_at, overridden=True)
            if not result.allowed:
                raise ValidationError({"administered_at": (
                    f"{result.message} An investigator may override the gate for this subject with a "
                    "written reason."
                )})
        administration = DoseAdministration(
            subject=subject, drug=drug, cycle=cycle, day=day, administered_at=administered_at,
            dose=dose, unit=drug.unit, recorded_by=user,
        )
        administration.full_clean()
        administration.save()
        if subject.status == Subject.Status.ENROLLED:
            subject.status = Subject.Status.ON_TREATMENT
            subject.save(update_fields=["status"])
        from visits.services import visits_plan_for_subject

        visits_plan_for_subject(subject=subject)
        _review_escalation_after_commit(subject.trial)
    return administration


def _gated(subject: Subject) -> bool:
    return subject.trial.escalates and subject.cohort_id is not None


def _gate_parameters(trial: Trial) -> gates.GateParameters:
    # The protocol's level_gate = "dlt_windows_closed" (the default); any other value switches the
    # level gate off.
    level_gate = trial.definition.get("escalation", {}).get("level_gate", "dlt_windows_closed")
    return gates.GateParameters(
        trial_code=trial.code,
        stagger_first_days=trial.stagger_first_days,
        stagger_next_hours=trial.stagger_next_hours,
        dlt_window_days=trial.dlt_window_days if level_gate == "dlt_windows_closed" else 0,
    )


def first_dose_gate_status(subject: Subject, *, when: datetime | None = None,
                           overridden: bool = False) -> gates.GateResult | None:
    """The timing gates for ``subject``'s first dose at ``when`` (default: now); None when no gate applies
    (not an escalating trial, or no cohort). With ``overridden``, gates this subject has an
    investigator's override for are dropped."""
    if not _gated(subject):
        return None
    when = timezone.localtime(when or timezone.now())
    cohort = subject.cohort
    level = cohort.dose_level
    first_doses = (
        Subject.objects.filter(trial_id=subject.trial_id).exclude(pk=subject.pk)
        .annotate(first_dose=Min("doses__administered_at")).filter(first_dose__isnull=False)
    )
    level_doses = [
        timezone.localtime(d) for d in first_doses.filter(
            cohort__dose_level=level, cohort__number__lte=cohort.number,
        ).values_list("first_dose", flat=True)
    ]
    previous_cohort = (
        Cohort.objects.filter(trial_id=subject.trial_id, number__lt=cohort.number).exclude(dose_level=level)
        .select_related("dose_level").order_by("-number").first()
    )
    previous_level, previous_label = [], None
    if previous_cohort is not None:
        previous_label = previous_cohort.dose_level.label
        tz = timezone.get_current_timezone()
        for first_dose, off_study_on in first_doses.filter(
            cohort__dose_level=previous_cohort.dose_level, cohort__number__lt=cohort.number,
        ).values_list("first_dose", "off_study_on"):
            left_at = None if off_study_on is None else datetime.combine(off_study_on, time.min, tzinfo=tz)
            previous_level.append(gates.WindowSubject(first_dose=timezone.localtime(first_dose), left_at=left_at))
    result = gates.first_dose_gates(
        _gate_parameters(subject.trial), when=when, level_doses=level_doses,
        previous_level=previous_level, previous_level_label=previous_label,
    )
    if overridden:
        result = result.without(set(subject.gate_overrides.values_list("gate", flat=True)))
    return result


def gate_override(*, subject: Subject, user, gate: str, reason: str) -> GateOverride:
    """An investigator of the subject's site overrides one timing gate for the subject's first dose."""
    if not Membership.objects.filter(user=user, trial_id=subject.trial_id, site_id=subject.site_id,
                                     role=Role.INVESTIGATOR).exists():
        raise PermissionDenied("Only an investigator at the subject's site may override a timing gate.")
    if not _gated(subject):
        raise ValidationError("Timing gates apply only to subjects of a dose-escalation cohort.")
    reason = (reason or "").strip()
    if len(reason) < GateOverride.REASON_MIN_LENGTH:
        raise ValidationError({"reason": f"Say why the gate is overridden, in at least "
                                         f"{GateOverride.REASON_MIN_LENGTH} characters."})
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if subject.doses.exists():
            raise ValidationError("The subject has had a first dose: there is no gate left to override.")
        if subject.gate_overrides.filter(gate=gate).exists():
            raise ValidationError({"gate": "This gate is already overridden for this subject."})
        override = GateOverride(subject=subject, gate=gate, reason=reason, overridden_by=user)
        override.full_clean()
        override.save()
    return override


def adverse_event_record(*, subject: Subject, user, **fields) -> AdverseEvent:
    first = subject.first_dose()
    event = AdverseEvent(subject=subject, recorded_by=user, **fields)
    event.full_clean()
    if event.is_dlt and first is None:
        raise ValidationError({"is_dlt": "A DLT needs a first dose: no dose is recorded for this subject."})
    if event.is_dlt and first is not None and subject.trial.dlt_window_days:
        window_end = subject.dlt_window_end(subject.trial.dlt_window_days).date()
        if not first.administered_at.date() <= event.onset_date <= window_end:
            raise ValidationError({
                "is_dlt": f"Only an event starting in the DLT window ({first.administered_at.date():%d %b %Y} – "
                          f"{window_end:%d %b %Y}) counts as a DLT for dose escalation."
            })
    with transaction.atomic():
        event.save()
        _review_escalation_after_commit(subject.trial)
    return event
