"""Helpers that run a trial's dose escalation through the real engine and signatures to its stopping decision:
subjects enrolled through the service, their cycle-1 dose and DLTs written as a trial migrated from another
system would have them (in the past, so every DLT window has closed), each decision recommended by the engine and
signed by the investigator (and the sponsor where the protocol asks for concurrence)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from escalation.models import EscalationDecision, Signature
from escalation.services import decision_recommend, decision_sign
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import subject_enrol
from tests.auth import signing

INITIALS = ["AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK", "AL", "AM", "AN", "AO", "AP"]


def _dose(subject: Subject, user, when: datetime) -> None:
    level = subject.dose_level
    for drug in subject.trial.drugs.all():
        amount = Decimal(level.doses[drug.name]) * (70 if drug.basis == "per_kg" else 1)
        DoseAdministration.objects.create(
            subject=subject, drug=drug, cycle=1, day=1, dose=amount, unit=drug.unit, planned_dose=amount,
            weight_kg=Decimal(70) if drug.basis == "per_kg" else None, recorded_by=user, administered_at=when)


def run_cohort(trial, site, coordinator, outcomes: str, *, days_ago: int) -> list[Subject]:
    """Fill the open escalation cohort: one subject per letter of ``outcomes`` (N: no DLT, T: a DLT on day 8),
    first dosed ``days_ago`` days ago, one day apart."""
    made = []
    for letter in outcomes:
        number = Subject.objects.filter(trial=trial).count()
        subject = subject_enrol(trial=trial, site=site, user=coordinator, initials=INITIALS[number % len(INITIALS)],
                                date_of_birth=date(1960, 1, 1 + number % 27), sex="F")
        start = timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days_ago - len(made)),
                                                     time(9)))
        Subject.objects.filter(pk=subject.pk).update(enrolled_at=start - timedelta(days=1))
        _dose(subject, coordinator, start)
        if letter == "T":
            AdverseEvent.objects.create(
                subject=subject, term="Pneumonitis", grade=3, onset_date=(start + timedelta(days=7)).date(),
                attribution="probable", dlt_status=AdverseEvent.DltStatus.CONFIRMED, is_dlt=True,
                recorded_by=coordinator)
        made.append(subject)
    return made


def sign_decision(decision: EscalationDecision, investigator, sponsor=None) -> EscalationDecision:
    decision_sign(decision=decision, user=investigator, meaning=Signature.Meaning.APPROVED, **signing(investigator))
    decision.refresh_from_db()
    if decision.status == EscalationDecision.Status.CONCURRENCE:
        decision_sign(decision=decision, user=sponsor, meaning=Signature.Meaning.CONCURRED, **signing(sponsor))
        decision.refresh_from_db()
    return decision


def escalate(trial, site, coordinator, investigator, sponsor, cohorts: list[str], *, start_days_ago: int = 200):
    """Run cohort after cohort (each history string fills the open cohort), signing every decision; returns
    the last decision."""
    decision = None
    for i, outcomes in enumerate(cohorts):
        run_cohort(trial, site, coordinator, outcomes, days_ago=start_days_ago - 25 * i)
        decision = decision_recommend(trial=trial)
        assert decision is not None, f"no decision after cohort {i + 1} ({outcomes})"
        decision = sign_decision(decision, investigator, sponsor)
        assert decision.status == EscalationDecision.Status.APPROVED, decision
    return decision
