"""Helpers for tests that need an eligible screening record or pre-dose assessments."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from screening.management.commands.seed_reference_ranges import DEMO_ULNS
from screening.models import SiteReferenceRange
from screening.services import (
    criteria_for,
    screening_confirm_eligible,
    screening_judge,
    screening_start,
    screening_values_record,
)
from subjects.services import assessment_record

# Values that meet every QL1706 criterion (SI units; ULNs of SITE-A in DEMO_ULNS).
NORMAL_VALUES = {
    "weight": "70", "histology": "leiomyosarcoma", "prior_therapies": ["anthracycline"], "ecog": "1",
    "anc": "3.2", "platelets": "210", "hemoglobin": "128", "albumin": "41", "ast": "30", "alt": "28",
    "bilirubin": "12", "bilirubin_unit": "µmol/L", "creatinine": "80", "creatinine_unit": "µmol/L",
    "aptt": "32", "pt": "12", "inr": "1.0", "urine_protein_dipstick": "negative", "lvef": "62",
    "pregnancy_test": "negative",
}


def site_ulns(site, like="SITE-A"):
    for analyte, (uln, unit) in DEMO_ULNS[like].items():
        SiteReferenceRange.objects.get_or_create(site=site, analyte=analyte,
                                                 defaults={"uln": Decimal(uln), "unit": unit})


def eligible_screening(trial, site, user, *, initials="ABC", date_of_birth=date(1961, 3, 4), sex="F",
                       assessed_on: date | None = None, values: dict | None = None, confirm=True):
    """A screening record with consent, values meeting every criterion, every judgement met and (with
    ``confirm``) confirmed eligible. Assessed 25 days ago by default, so a first dose from then to today
    is inside the screening window."""
    site_ulns(site)
    assessed_on = assessed_on or timezone.localdate() - timedelta(days=25)
    record = screening_start(trial=trial, site=site, user=user, initials=initials, date_of_birth=date_of_birth,
                             sex=sex, consent_form_version="v1.0", consent_date=assessed_on,
                             consent_obtained_by=user)
    record = screening_values_record(record=record, user=user, assessed_on=assessed_on,
                                     values={**NORMAL_VALUES, **(values or {})})
    judgements = [c for c in criteria_for(trial, record.part) if c.kind == "judgement"]
    record = screening_judge(record=record, user=user,
                             judgements={c.code: True for c in judgements if c.judged_by is None})
    # The judgements the protocol reserves for the investigator (QL1706's RECIST-measurable lesion).
    reserved = {c.code: True for c in judgements if c.judged_by == "investigator"}
    if reserved:
        record = screening_judge(record=record, user=site_investigator(trial, site), judgements=reserved)
    if confirm:
        record = screening_confirm_eligible(record=record, user=user)
    return record


def site_investigator(trial, site):
    """An investigator of the trial at the site (the existing one, else a new one)."""
    from tests.conftest import member
    from trials.models import Membership, Role

    existing = Membership.objects.filter(trial=trial, site=site, role=Role.INVESTIGATOR).select_related("user").first()
    if existing is not None:
        return existing.user
    return member(trial, Role.INVESTIGATOR, site, f"investigator-{site.code}-{trial.code}".lower())


def predose(subject, when: datetime | date, user, *, weight="70"):
    """Vital signs (with weight), labs and performance status on the day of ``when``."""
    day = timezone.localtime(when).date() if isinstance(when, datetime) else when
    assessment_record(subject=subject, user=user, kind="vitals", assessed_on=day, weight_kg=Decimal(weight))
    assessment_record(subject=subject, user=user, kind="labs", assessed_on=day)
    assessment_record(subject=subject, user=user, kind="performance", assessed_on=day, ecog=1)


def enrolment_dated(subject, day: date):
    """Date the subject's enrolment at the start of ``day``, as if it had been entered then: a test that
    replays doses given days ago enrols today, and no dose may precede enrolment (edit checks,
    trialrules.plausibility)."""
    from subjects.models import Subject

    Subject.objects.filter(pk=subject.pk).update(
        enrolled_at=timezone.make_aware(datetime.combine(day, datetime.min.time())))
    subject.refresh_from_db()
    return subject


def investigator_judges_reserved(page, trial, site):
    """In a browser test: the site's investigator records the judgements the protocol reserves for them
    (QL1706's measurable lesion; a coordinator sees those boxes disabled) on the screening record open in
    ``page``, then the page is reloaded as the coordinator sees it."""
    import re

    from screening.models import ScreeningRecord

    pk = int(re.search(r"/screening/(\d+)/", page.url).group(1))
    record = ScreeningRecord.objects.get(pk=pk)
    reserved = {c.code: True for c in criteria_for(trial) if c.kind == "judgement" and c.judged_by == "investigator"}
    screening_judge(record=record, user=site_investigator(trial, site), judgements=reserved)
    page.reload()
