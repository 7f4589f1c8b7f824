"""Celery tasks: thin wrappers that load by id and call one service."""

from __future__ import annotations

import logging

import pghistory
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from escalation import services
from escalation.models import EscalationDecision
from trials.models import Membership, Role, Trial

log = logging.getLogger(__name__)


@shared_task
def review_open_cohorts() -> int:
    """Scheduled: look at every escalating trial's current cohort; return decisions recorded."""
    recorded = 0
    for trial_id in Trial.objects.exclude(design=Trial.Design.FIXED_DOSE).values_list("pk", flat=True):
        recorded += review_trial(trial_id)
    return recorded


@shared_task
def review_trial(trial_id: int) -> int:
    with pghistory.context(source="celery:escalation.review_trial"):
        decision = services.decision_recommend(trial=Trial.objects.get(pk=trial_id))
    if decision is not None:
        log.info("recorded %s: %s", decision, decision.rationale)
    return int(decision is not None)


@shared_task
def notify_decision_pending(decision_pk: int, role: str = Role.INVESTIGATOR) -> int:
    """E-mail the trial's investigators (or, for concurrence, its sponsors) that a decision waits."""
    decision = EscalationDecision.objects.select_related("trial").get(pk=decision_pk)
    emails = sorted(
        set(
            Membership.objects.filter(trial=decision.trial, role=role)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if emails:
        what = "concurrence" if role == Role.SPONSOR else "signature"
        send_mail(
            subject=f"[{decision.trial.code}] Dose-escalation decision awaiting your {what}",
            message=(
                f"The escalation service recommends: {decision.summary}.\n"
                f"Rationale: {decision.rationale}\n\n"
                f"Review and sign: {settings.SITE_URL}{reverse('escalation:decision', args=[decision.pk])}\n"
            ),
            from_email=None,
            recipient_list=emails,
        )
    return len(emails)
