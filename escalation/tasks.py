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
    """Scheduled: re-evaluate the escalating trials whose data changed since the last review, or whose next
    DLT window has closed since; return decisions recorded.

    One query finds them (the database's change counters, ``escalation.changes``, against ``CohortReview``)
    and one records what was seen, whatever the number of trials; each trial that changed costs its own
    evaluation (``decision_review``). A trial none of whose data changed and none of whose windows closed is
    not read at all: its evidence, and so its decision, would be the same. The counter is read before the
    evaluation, so a change committed meanwhile is seen by the next run (never missed; at worst evaluated
    twice); the review's own writes (a decision recorded) are not counted: evaluating its own output again
    would record nothing."""
    from django.utils import timezone

    from escalation.changes import reviewing
    from escalation.models import CohortReview
    from escalation.selectors import trials_to_review

    now = timezone.now()
    recorded = 0
    reviews = []
    for trial_id, seen in trials_to_review(now=now):
        with reviewing():  # what the review itself writes is not a change to review again (escalation.changes)
            decision, evidence = _review(trial_id, now=now)
        recorded += int(decision is not None)
        reviews.append(CohortReview(trial_id=trial_id, seen=seen, reviewed_at=now,
                                    due_at=evidence.next_change if evidence is not None else None))
    if reviews:
        CohortReview.objects.bulk_create(reviews, update_conflicts=True, unique_fields=["trial"],
                                         update_fields=["seen", "due_at", "reviewed_at"])
    return recorded


def _review(trial_id: int, *, now=None):
    with pghistory.context(source="celery:escalation.review_trial"):
        decision, evidence = services.decision_review(trial=Trial.objects.get(pk=trial_id), now=now)
    if decision is not None:
        log.info("recorded %s: %s", decision, decision.rationale)
    return decision, evidence


@shared_task
def review_trial(trial_id: int) -> int:
    """Recommend a decision for the trial if the engine can decide. Idempotent: a decision already
    recorded on exactly the current data is not recorded again (``decision_recommend``), so a second
    run of the same message records nothing and queues no second notice."""
    decision, _ = _review(trial_id)
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
