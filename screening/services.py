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
from trialrules import eligibility, parts, plausibility
from trials.access import has_site_role, require_site_role
from trials.models import Role, Site, Trial
from trialsite.edit_checks import enforce

DEFAULT_WINDOW_DAYS = 28


def criteria_for(trial: Trial, part=None) -> list[eligibility.Criterion]:
    """The criteria a candidate screened for ``part`` is checked against: the protocol's with the part's
    differences (:func:`trialrules.parts.part_eligibility`)."""
    spec = parts.find(parts.parse_parts(trial.definition), part.code) if part is not None else None
    return eligibility.criteria_from_protocol({"eligibility": parts.part_eligibility(trial.definition, spec)})


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
    return eligibility.evaluate(criteria_for(record.trial, record.part), evaluation_values(record),
                                uln=site_ulns(record.site), judgements=judgements)


def screening_findings(record: ScreeningRecord, *, today: date | None = None,
                       values: bool = True) -> list[plausibility.Finding]:
    """The edit checks of a screening record, new or corrected: the date of birth (from 1900, an age at
    consent within the human range), the consent date and, with ``values``, each screening value's
    physiological range. Pass them to :func:`trialsite.edit_checks.enforce`."""
    today = today or timezone.localdate()
    findings = [*plausibility.check_birth_date(record.date_of_birth, on=record.consent_date, today=today),
                *plausibility.check_date(record.consent_date, field="consent_date", label="The consent date",
                                         today=today)]
    return findings + (plausibility.check_screening_values(record.values or {}) if values else [])


def screening_start(
    *, trial: Trial, site: Site, user, initials: str, date_of_birth: date, sex: str, consent_form_version: str,
    consent_date: date, consent_obtained_by, today: date | None = None, confirm_unusual: bool = False,
    unusual_reason: str = "",
) -> ScreeningRecord:
    """Start a screening record with the consent. Edit checks: the date of birth (in the past, from 1900,
    an age at consent of at most 120 years; 100 or over only with ``confirm_unusual`` and an
    ``unusual_reason``) and the consent date (not in the future, from 1900, not before birth)."""
    today = today or timezone.localdate()
    if trial.parts.exists() and not trial.parts.exclude(status="closed").exists():
        raise ValidationError(f"{trial.code} is closed to enrolment: every part has reached its target size, so no "
                              "candidate is screened.")
    errors = {}
    if date_of_birth >= today:
        errors["date_of_birth"] = "The date of birth must be in the past."
    if consent_date > today:
        errors["consent_date"] = "The consent date cannot be in the future."
    elif consent_date < date_of_birth:
        errors["consent_date"] = "The consent date is before the date of birth."
    if not (consent_form_version or "").strip():
        errors["consent_form_version"] = "Give the version of the consent form signed."
    findings = [f for f in screening_findings(ScreeningRecord(date_of_birth=date_of_birth, consent_date=consent_date),
                                              today=today, values=False) if f.field not in errors]
    if errors:
        raise ValidationError({**errors, **{f.field: f.message for f in findings if not f.soft}})
    confirmed = enforce(findings, confirm_unusual=confirm_unusual, unusual_reason=unusual_reason, user=user)
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        n = ScreeningRecord.objects.filter(trial=trial, site=site).count() + 1
        record = ScreeningRecord(
            trial=trial, site=site, number=f"{trial.code}-{site.code}-S{n:03d}", initials=initials.strip().upper(),
            date_of_birth=date_of_birth, sex=sex, consent_form_version=consent_form_version.strip(),
            consent_date=consent_date, consent_obtained_by=consent_obtained_by, created_by=user,
            confirmed_checks=confirmed, part=trial.enrolling_part(),
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
                            today: date | None = None, confirm_unusual: bool = False,
                            unusual_reason: str = "") -> ScreeningRecord:
    """Store the screening values (numbers with their units) and the date they were assessed. Edit
    checks: each number within its physiological range (``INPUTS[name].plausible``, refused outside);
    an unusual weight only with ``confirm_unusual`` and an ``unusual_reason`` (kept while the value
    stays the same)."""
    today = today or timezone.localdate()
    if assessed_on > today:
        raise ValidationError({"assessed_on": "The assessment date cannot be in the future."})
    if assessed_on < record.consent_date:
        raise ValidationError({"assessed_on": "Screening assessments come after consent "
                                              f"({record.consent_date:%d %b %Y})."})
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().get(pk=record.pk)
        _in_progress(record)
        stored = [c for c in record.confirmed_checks if c.get("field") not in eligibility.INPUTS]
        confirmed = enforce(plausibility.check_screening_values(values), confirm_unusual=confirm_unusual,
                            unusual_reason=unusual_reason, user=user,
                            already=[c for c in record.confirmed_checks if c.get("field") in eligibility.INPUTS])
        record.assessed_on = assessed_on
        record.values = {k: _jsonable(v) for k, v in values.items() if v not in (None, "", [])}
        record.confirmed_checks = stored + confirmed
        record.save(update_fields=["assessed_on", "values", "confirmed_checks"])
    return record


def reserved_judgement_message(criterion: eligibility.Criterion, record: ScreeningRecord) -> str:
    """Why a coordinator cannot record this judgement (the protocol reserves it for the investigator)."""
    return (f"Judged by the investigator: the {record.trial.code} protocol has the investigator assess "
            f"“{criterion.text}”, so only an investigator of {record.site.name} can record it.")


def may_judge(user, record: ScreeningRecord, criterion: eligibility.Criterion) -> bool:
    """Whether ``user`` (site staff of the record's site) may record this judgement."""
    if criterion.judged_by == "investigator":
        return has_site_role(user, record, Role.INVESTIGATOR)
    return has_site_role(user, record)


def screening_judge(*, record: ScreeningRecord, user, judgements: dict[str, bool | None]) -> ScreeningRecord:
    """A person's decision on the judgement criteria (True met, False not met, None undecided). A judgement
    the protocol reserves for the investigator (``judged_by = "investigator"``) is changed only by an
    investigator of the record's site; submitting it unchanged is not a change."""
    criteria = {c.code: c for c in criteria_for(record.trial, record.part) if c.kind == "judgement"}
    unknown = set(judgements) - set(criteria)
    if unknown:
        raise ValidationError(f"Not judgement criteria of {record.trial.code}: {', '.join(sorted(unknown))}.")
    require_site_role(user, record, message="Only the site staff of the screening record's site record judgements.")
    now = timezone.now()
    with transaction.atomic():
        record = ScreeningRecord.objects.select_for_update().select_related("trial", "site").get(pk=record.pk)
        _in_progress(record)
        stored = dict(record.judgements)
        refused = {code: reserved_judgement_message(criteria[code], record) for code, met in judgements.items()
                   if met != stored.get(code, {}).get("met") and not may_judge(user, record, criteria[code])}
        if refused:
            raise ValidationError(refused)
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
