"""Celery tasks: thin wrappers that load by id and call one service."""

from __future__ import annotations

import logging

import pghistory
from celery import shared_task

from escalation import services
from escalation.models import EscalationDecision
from trials.models import Role, Trial

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
    """Recommend a decision for the trial if the engine can decide. Idempotent: a decision already
    recorded on exactly the current data is not recorded again (``decision_recommend``), so a second
    run of the same message records nothing and queues no second notice."""
    with pghistory.context(source="celery:escalation.review_trial"):
        decision = services.decision_recommend(trial=Trial.objects.get(pk=trial_id))
    if decision is not None:
        log.info("recorded %s: %s", decision, decision.rationale)
    return int(decision is not None)


@shared_task
def notify_decision_pending(decision_pk: int, role: str = Role.INVESTIGATOR) -> int:
    """Tell the trial's investigators (or, for concurrence, its sponsors) that a decision waits: an
    in-app notice and an e-mail each, linking to SITE_URL + the decision's page.

    Idempotent (the outbox delivers at least once): notices are unique per decision, recipient and
    kind, and each is e-mailed once (notifications.services); a run after the decision was signed,
    rejected or invalidated sends nothing. Returns the notices created by this run."""
    from notifications.services import decision_notify

    decision = EscalationDecision.objects.select_related("trial").get(pk=decision_pk)
    return decision_notify(decision=decision, role=role)
