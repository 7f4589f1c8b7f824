"""Writes for screening: start a record with consent, record the values and people's judgements,
decide eligible or screen failure. Eligibility itself is computed by :mod:`trialrules.eligibility`
from the protocol's criteria (``trial.definition["eligibility"]``) and the site's ULNs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from screening.models import ScreeningRecord, SiteReferenceRange
from trialrules import eligibility
from trials.models import Site, Trial

DEFAULT_WINDOW_DAYS = 28


def criteria_for(trial: Trial) -> list[eligibility.Criterion]:
    return eligibility.criteria_from_protocol(trial.definition)


def screening_window_days(trial: Trial) -> int:
    """Days before the first dose the screening assessments may be done (the SCR visit's window)."""
    for visit in trial.visit_plan or []:
        if visit.get("kind") == "screening" and visit.get("window"):
            return -int(visit["window"][0])
    return DEFAULT_WINDOW_DAYS


def site_ulns(site: Site) -> dict[str, eligibility.Quantity]:
    return {r.analyte: r.quantity() for r in SiteReferenceRange.objects.filter(site=site)}


def evaluation_values(record: ScreeningRecord) -> dict:
    values = dict(record.values)
    values["age"] = record.age
    values["sex"] = record.sex
    return values


def eligibility_for(record: ScreeningRecord) -> eligibility.Outcome:
    judgements = {code: j["met"] for code, j in record.judgements.items() if j.get("met") is not None}
    return eligibility.evaluate(criteria_for(record.trial), evaluation_values(record), uln=site_ulns(record.site),
                                judgements=judgements)


def screening_start(
    *, trial: Trial, site: Site, user, initials: str, date_of_birth: date, sex: str, consent_form_version: str,
    consent_date: date, consent_obtained_by, today: date | None = None,
) -> ScreeningRecord:
    today = today or timezone.localdate()
    errors = {}
    if date_of_birth >= today:
        errors["date_of_birth"] = "The date of birth must be in the past."
    if consent_date > today:
        errors["consent_date"] = "The consent date cannot be in the future."
    elif consent_date < date_of_birth:
        errors["consent_date"] = "The consent date is before the date of birth."
    if not (consent_form_version or "").strip():
        errors["consent_form_version"] = "Give the version of the consent form signed."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        n = ScreeningRecord.objects.filter(trial=trial, site=site).count() + 1
        record = ScreeningRecord(
            trial=trial, site=site, number=f"{trial.code}-{site.code}-S{n:03d}", initials=initials.strip().upper(),
            date_of_birth=date_of_birth, sex=sex, consent_form_version=consent_form_version.strip(),
            consent_date=consent_date, consent_obtained_by=consent_obtained_by, created_by=user,
        )
        record.full_clean()
        record.save()
    return record


def _in_progress(record: ScreeningRecord) -> None:
    if record.status != ScreeningRecord.Status.IN_PROGRESS:
        raise ValidationError(f"Screening {record.number} is closed ({record.get_status_display().lower()}).")


def _jsonable(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def screening_values_record(*, record: ScreeningRecord, user, assessed_on: date, values: dict,
                            today: date | None = None) -> ScreeningRecord:
    """Store the screening values (numbers with their units) and the date they were assessed."""
    today = today or timezone.localdate()
    if assessed_on > today:
        raise ValidationError({"assessed_on": "The assessment date cannot be in the future."})
    if assessed_on < record.consent_date:
        raise ValidationError({"assessed_on": "Screening assessments come after consent "
                                              f"({record.consent_date:%d %b %Y})."})
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().get(pk=record.pk)
        _in_progress(record)
        record.assessed_on = assessed_on
        record.values = {k: _jsonable(v) for k, v in values.items() if v not in (None, "", [])}
        record.save(update_fields=["assessed_on", "values"])
    return record


def screening_judge(*, record: ScreeningRecord, user, judgements: dict[str, bool | None]) -> ScreeningRecord:
    """A person's decision on the judgement criteria (True met, False not met, None undecided)."""
    codes = {c.code for c in criteria_for(record.trial) if c.kind == "judgement"}
    unknown = set(judgements) - codes
    if unknown:
        raise ValidationError(f"Not judgement criteria of {record.trial.code}: {', '.join(sorted(unknown))}.")
    now = timezone.now()
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().get(pk=record.pk)
        _in_progress(record)
        stored = dict(record.judgements)
        for code, met in judgements.items():
            if met is None:
                stored.pop(code, None)
            elif stored.get(code, {}).get("met") != met:
                stored[code] = {"met": met, "by": user.pk, "by_name": user.get_full_name() or user.username,
                                "at": now.isoformat()}
        record.judgements = stored
        record.save(update_fields=["judgements"])
    return record


def screening_confirm_eligible(*, record: ScreeningRecord, user) -> ScreeningRecord:
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().get(pk=record.pk)
        _in_progress(record)
        outcome = eligibility_for(record)
        if not outcome.eligible:
            open_items = [r.text or r.code for r in outcome.results if not r.met]
            raise ValidationError("Not every criterion is met: " + "; ".join(open_items) + ".")
        record.status = ScreeningRecord.Status.ELIGIBLE
        record.decided_by, record.decided_at = user, timezone.now()
        record.save(update_fields=["status", "decided_by", "decided_at"])
    return record


def screening_fail(*, record: ScreeningRecord, user, reason: str = "") -> ScreeningRecord:
    """Record a screen failure: the criteria not met (with value and threshold) and any other reason."""
    reason = (reason or "").strip()
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().get(pk=record.pk)
        _in_progress(record)
        failed = eligibility_for(record).failed
        reasons = [f"{r.text or r.code}: {r.value or '—'} (needs {r.threshold})" for r in failed]
        if reason:
            reasons.append(reason)
        if not reasons:
            raise ValidationError({"reason": "No criterion is unmet: give the reason for the screen failure."})
        record.status = ScreeningRecord.Status.SCREEN_FAILED
        record.failure_reasons = reasons
        record.decided_by, record.decided_at = user, timezone.now()
        record.save(update_fields=["status", "failure_reasons", "decided_by", "decided_at"])
    return record
