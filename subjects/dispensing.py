"""Writes for an oral drug taken at home (anlotinib, days 1-14 of each 21-day cycle): one dispensing record
per cycle — tablets dispensed, then returned with the days missed — instead of a dose form per day.

The rules (days taken, tablets used against expected, the checks) are :mod:`trialrules.dispensing`. The
rest of the application keeps reading ``DoseAdministration`` rows: :func:`dispensing_derive_doses` makes
the dispensing's *derived* doses (``DoseAdministration.dispensing`` set, one per day taken, at the clock
time of the day-1 tablet) match the record, in the same transaction — new days through
``subjects.services.dose_record`` with every check a dose has (screening window and timing gates for a
first dose, edit checks, the cycle maximum …), days no longer taken voided with the reason. The visits
are re-planned and escalation re-evaluated once (``escalation.tasks.review_trial`` through the outbox).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pghistory
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from subjects.models import DoseAdministration, OralDispensing, Subject
from trialrules import dispensing as rules
from trials.access import require_site_role
from trials.models import Drug, Role

ROLE_MESSAGE = "Only a coordinator of the subject's site records the dispensing of study drug."


def tablet_strength_for(drug: Drug) -> Decimal | None:
    """The tablet strength the protocol gives for a drug recorded by dispensing (None: dosed one by one)."""
    entry = next((d for d in drug.trial.definition.get("drugs", []) if d.get("name") == drug.name), None)
    return None if entry is None else rules.tablet_strength(entry)


def dispensed_drugs(trial) -> list[Drug]:
    return [d for d in trial.drugs.all() if tablet_strength_for(d) is not None]


def dispensing_spec(subject: Subject, drug: Drug) -> rules.Spec:
    strength = tablet_strength_for(drug)
    if strength is None:
        raise ValidationError({"drug": f"{drug.name} is not recorded by dispensing in {subject.trial.code}: "
                                       "record its doses."})
    try:
        return rules.spec(strength, subject.dose_level.doses[drug.name], unit=drug.unit)
    except ValueError as exc:
        raise ValidationError({"drug": f"{drug.name} at {subject.dose_level.label}: {exc}."}) from None


def dispensing_check(record: OralDispensing, *, today: date) -> rules.Reconciliation:
    """The record's checks (trialrules.dispensing, against the recorded end of treatment) and its days
    taken; a ValidationError by field. For a correction: check the changed record, then derive its doses."""
    from visits.models import FollowUp

    follow_up = FollowUp.objects.filter(subject_id=record.subject_id).first()
    try:
        return rules.reconcile(
            administration_days=record.drug.administration_days, tablets_per_day=record.tablets_per_day,
            tablets_dispensed=record.tablets_dispensed, dispensed_on=record.dispensed_on,
            first_day=timezone.localtime(record.first_dose_at).date(), missed_days=record.missed_days,
            returned_on=record.returned_on, tablets_returned=record.tablets_returned,
            discrepancy_reason=record.discrepancy_reason, today=today, drug=record.drug.name,
            last_dose=follow_up.last_dose if follow_up is not None else None, cycle=record.cycle)
    except rules.DispensingError as exc:
        raise ValidationError(exc.errors) from None


def dispensing_record(*, subject: Subject, drug: Drug, cycle: int, dispensed_on: date, first_dose_at: datetime,
                      tablets_dispensed: int, user, returned_on: date | None = None,
                      tablets_returned: int | None = None, missed_days=(), discrepancy_reason: str = "",
                      deviation_reason: str = "", now: datetime | None = None) -> OralDispensing:
    """Record a cycle's dispensing (the return may be given at once, or later with :func:`dispensing_return`);
    the day-1 tablet is taken when dispensed, so its dose is derived at once."""
    now = now or timezone.now()
    require_site_role(user, subject, Role.COORDINATOR, ROLE_MESSAGE)
    if drug.trial_id != subject.trial_id:
        raise ValidationError({"drug": "This drug is not part of the subject's regimen."})
    spec = dispensing_spec(subject, drug)
    missing = {name: "This field is required." for name, value in (
        ("cycle", cycle), ("dispensed_on", dispensed_on), ("first_dose_at", first_dose_at),
        ("tablets_dispensed", tablets_dispensed)) if value is None}
    if missing:
        raise ValidationError(missing)
    if first_dose_at > now:
        raise ValidationError({"first_dose_at": "The first tablet cannot be taken in the future."})
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if OralDispensing.objects.filter(subject=subject, drug=drug, cycle=cycle).exists():
            raise ValidationError({"cycle": f"The cycle {cycle} dispensing of {drug.name} is already recorded: "
                                            "record the return on it."})
        record = OralDispensing(
            subject=subject, drug=drug, cycle=cycle, dispensed_on=dispensed_on, first_dose_at=first_dose_at,
            tablets_dispensed=tablets_dispensed, tablet_strength=spec.tablet_strength,
            tablets_per_day=spec.tablets_per_day, returned_on=returned_on, tablets_returned=tablets_returned,
            missed_days=sorted(missed_days or []), discrepancy_reason=(discrepancy_reason or "").strip(),
            recorded_by=user,
        )
        dispensing_check(record, today=timezone.localdate(now))
        record.full_clean()
        record.save()
        dispensing_derive_doses(record, user=user, now=now, deviation_reason=deviation_reason)
    return record


def dispensing_return(*, dispensing: OralDispensing, user, returned_on: date, tablets_returned: int,
                      missed_days=(), discrepancy_reason: str = "", now: datetime | None = None) -> OralDispensing:
    """Record the return of a cycle's tablets with the days missed: the days taken become doses."""
    now = now or timezone.now()
    require_site_role(user, dispensing.subject, Role.COORDINATOR, ROLE_MESSAGE)
    with transaction.atomic():
        Subject.objects.select_for_update().get(pk=dispensing.subject_id)
        record = OralDispensing.all_objects.select_for_update().select_related("drug", "subject").get(pk=dispensing.pk)
        if record.voided:
            raise ValidationError("This dispensing record is void.")
        if record.returned:
            raise ValidationError(f"The return is already recorded ({record.returned_on:%d %b %Y}, "
                                  f"{record.tablets_returned} tablets): correct it with a reason for the change.")
        if returned_on is None or tablets_returned is None:
            raise ValidationError({name: "This field is required." for name, value in (
                ("returned_on", returned_on), ("tablets_returned", tablets_returned)) if value is None})
        record.returned_on, record.tablets_returned = returned_on, tablets_returned
        record.missed_days = sorted(missed_days or [])
        record.discrepancy_reason = (discrepancy_reason or "").strip()
        dispensing_check(record, today=timezone.localdate(now))
        record.full_clean()
        record.save(update_fields=["returned_on", "tablets_returned", "missed_days", "discrepancy_reason"])
        dispensing_derive_doses(record, user=user, now=now)
    return record


# A derived dose's errors are put on the dispensing form's fields.
_FIELDS = {"administered_at": "first_dose_at", "day": "missed_days", "cycle": "cycle", "drug": "drug",
           "deviation_reason": "deviation_reason"}


def _on_dispensing_fields(exc: ValidationError, prefix: str) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return ValidationError([prefix + m for m in exc.messages])
    errors: dict[str, list[str]] = {}
    for field, field_errors in exc.error_dict.items():
        target = errors.setdefault(_FIELDS.get(field, NON_FIELD_ERRORS), [])
        target.extend(prefix + m for e in field_errors for m in e.messages)
    return ValidationError(errors)


def dispensing_derive_doses(dispensing: OralDispensing, *, user, now: datetime | None = None,
                            deviation_reason: str = "") -> list[DoseAdministration]:
    """Make the dispensing's derived doses match its days taken (none once the dispensing is void); call it
    after any change to the record, corrections and voiding included. Idempotent. Returns the live rows."""
    from subjects.services import _review_escalation_after_commit, dose_record
    from visits.services import visits_plan_for_subject

    now = now or timezone.now()
    with transaction.atomic():
        record = OralDispensing.all_objects.select_for_update().select_related("drug", "subject").get(pk=dispensing.pk)
        subject = record.subject
        drug = record.drug
        taken = () if record.voided else dispensing_check(record, today=timezone.localdate(now)).taken_days

        def nominal(day: int) -> datetime:
            return record.first_dose_at + timedelta(days=day - 1)

        def due(day: int) -> datetime:  # a tablet of today, later in the day than now, is dated now
            return min(nominal(day), now)

        def current_time(dose: DoseAdministration) -> bool:
            if nominal(dose.day) <= now:
                return dose.administered_at == nominal(dose.day)
            return timezone.localtime(dose.administered_at).date() == timezone.localtime(nominal(dose.day)).date()

        current = {d.day: d for d in DoseAdministration.objects.filter(dispensing=record).select_for_update()}
        stale = [d for day, d in current.items() if day not in taken or not current_time(d)]
        for dose in stale:
            why = ("the dispensing record is void" if record.voided else
                   f"day {dose.day} is no longer recorded as taken" if dose.day not in taken else
                   "the time of the first tablet changed")
            reason = f"Derived from the cycle {record.cycle} {drug.name} dispensing: {why}."
            with pghistory.context(reason=reason, change="void"):
                dose.voided_at, dose.voided_by, dose.void_reason = now, user, reason
                dose.save(update_fields=["voided_at", "voided_by", "void_reason"])
            del current[dose.day]
        created = []
        for day in taken:
            if day in current:
                continue
            try:
                current[day] = dose_record(
                    subject=subject, drug=drug, cycle=record.cycle, day=day, administered_at=due(day), user=user,
                    now=now, deviation_reason=deviation_reason if day == min(taken) else "", dispensing=record)
            except ValidationError as exc:
                raise _on_dispensing_fields(exc, f"Day {day} ({timezone.localtime(due(day)):%d %b %Y}): ") from None
            created.append(day)
        if stale and not created:
            visits_plan_for_subject(subject=subject)  # dose_record re-plans after each dose it records
        if stale or created:
            _review_escalation_after_commit(subject.trial)
    return [current[d] for d in sorted(current)]
