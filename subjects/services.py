"""Writes for subjects: enrolment, doses and adverse events.

Each is atomic; the row changes are audited by pghistory triggers, with the acting user in the
context (the HistoryMiddleware sets it for web requests). Side effects (the escalation review)
are enqueued after commit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from escalation.models import Cohort
from subjects.models import AdverseEvent, DoseAdministration, Subject
from trials.models import Drug, Site, Trial


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
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if DoseAdministration.objects.filter(subject=subject, drug=drug, cycle=cycle, day=day).exists():
            raise ValidationError({"cycle": f"Cycle {cycle} day {day} of {drug.name} is already recorded."})
        earlier = subject.doses.order_by("administered_at").first()
        if earlier is not None and administered_at < earlier.administered_at and cycle > 1:
            raise ValidationError({"administered_at": "This dose is dated before the subject's first dose."})
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
