"""Writes for escalation: recommending a decision from live data, signing it, opening cohorts.

Each function is atomic, audited through pghistory (triggers) and enqueues its side effects
(notifications) only after commit.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalation.models import Cohort, EscalationDecision, Signature
from escalation.selectors import current_cohort, engine_design, escalation_evidence
from trialrules.escalation import format_outcomes, recommend
from trials.models import Membership, Role, Trial


def cohort_open_first(*, trial: Trial) -> Cohort | None:
    """Open cohort 1 at the lowest dose level, if the trial escalates and has no cohort yet."""
    if not trial.escalates or trial.cohorts.exists():
        return None
    level = trial.dose_levels.order_by("rank").first()
    size = 1 if level.titration else trial.design_parameters.get("cohort_size", 3)
    return Cohort.objects.create(trial=trial, number=1, dose_level=level, capacity=size)


def decision_recommend(*, trial: Trial, now: datetime | None = None) -> EscalationDecision | None:
    """Record a pending decision for the current cohort when the engine can decide.

    Nothing is recorded while the cohort still has free places and the engine would only keep
    filling it, or while outcomes that could change the decision are pending (DLT windows open).
    A pending decision whose data have changed since (an AE entered late, a DLT adjudicated) is
    invalidated and replaced by one made on the current data.
    """
    now = now or timezone.now()
    with transaction.atomic():
        cohort = current_cohort(trial)
        if cohort is None:
            return None
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        evidence = escalation_evidence(trial, now=now)
        if cohort.decisions.filter(data_sha256=evidence.sha256).exclude(
            status=EscalationDecision.Status.INVALIDATED
        ).exists():
            return None  # pending, or already decided (e.g. rejected), on exactly these data
        stale = cohort.decisions.filter(status=EscalationDecision.Status.PENDING).update(
            status=EscalationDecision.Status.INVALIDATED, decided_at=now
        )
        labels = [level.label for level in evidence.levels]
        result = recommend(
            engine_design(trial, len(evidence.levels)), evidence.outcomes, evidence.pending, labels=labels
        )
        filling = cohort.subjects.count() < cohort.capacity
        keep_filling = result.continue_trial and result.next_dose_level == evidence.level_number(cohort.dose_level)
        if result.waiting or (filling and keep_filling):
            if stale and filling:
                cohort.status = Cohort.Status.OPEN  # the invalidated decision had closed enrolment
                cohort.save(update_fields=["status"])
            return None
        level_at = {n: level for n, level in enumerate(evidence.levels, 1)}
        decision = EscalationDecision.objects.create(
            trial=trial,
            cohort=cohort,
            continue_trial=result.continue_trial,
            next_dose_level=level_at.get(result.next_dose_level),
            add_subjects=result.add_subjects,
            recommended_dose_level=level_at.get(result.recommended_dose_level),
            declared=result.declared or "",
            rationale=result.rationale,
            outcomes=format_outcomes(evidence.outcomes),
            data={"evidence": evidence.facts, "engine": result.as_json(), "evaluated_at": now.isoformat()},
            data_sha256=evidence.sha256,
        )
        # Enrolment into this cohort stops while the decision is taken.
        cohort.status = Cohort.Status.FULL
        cohort.save(update_fields=["status"])
        transaction.on_commit(lambda: _notify_investigators(decision.pk))
    return decision


def _notify_investigators(decision_pk: int) -> None:
    from escalation.tasks import notify_decision_pending

    notify_decision_pending.delay(decision_pk)


def decision_sign(
    *, decision: EscalationDecision, user, password: str, meaning: str, comment: str = "",
    now: datetime | None = None,
) -> Signature:
    """An investigator approves or rejects a pending decision by re-entering the password.

    The signature repeats the hash of the data the decision was made on; if the live data no
    longer hash the same, the decision is invalidated instead and a new one must be recommended.
    Approval opens the next cohort at the decided level.
    """
    now = now or timezone.now()
    if meaning not in (Signature.Meaning.APPROVED, Signature.Meaning.REJECTED):
        raise ValidationError({"meaning": "Choose approve or reject."})
    if not Membership.objects.filter(user=user, trial=decision.trial, role=Role.INVESTIGATOR).exists():
        raise PermissionDenied("Only an investigator of this trial can sign an escalation decision.")
    if authenticate(username=user.get_username(), password=password) is None:
        raise ValidationError({"password": "The password is not correct."})
    if meaning == Signature.Meaning.REJECTED and not comment.strip():
        raise ValidationError({"comment": "Say why the decision is rejected."})
    with transaction.atomic():
        decision = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
        if decision.status != EscalationDecision.Status.PENDING:
            raise ValidationError(f"This decision is {decision.get_status_display().lower()}; it cannot be signed.")
        live = escalation_evidence(decision.trial, now=now)
        decision.decided_at = now
        if live.sha256 != decision.data_sha256:
            # Committed, then reported: the invalidation must survive the error below.
            decision.status = EscalationDecision.Status.INVALIDATED
            decision.save(update_fields=["status", "decided_at"])
            trial_id = decision.trial_id
            transaction.on_commit(lambda: _review_later(trial_id))
        else:
            return _apply_signature(decision=decision, user=user, meaning=meaning, comment=comment)
    raise ValidationError(
        "The trial data changed after this decision was recommended, so it has been invalidated; "
        "a new recommendation will be made from the current data."
    )


def _apply_signature(*, decision: EscalationDecision, user, meaning: str, comment: str) -> Signature:
    signature = Signature.objects.create(
        decision=decision,
        signer=user,
        printed_name=user.get_full_name() or user.get_username(),
        role=Role.INVESTIGATOR,
        meaning=meaning,
        comment=comment.strip(),
        data_sha256=decision.data_sha256,
    )
    if meaning == Signature.Meaning.REJECTED:
        decision.status = EscalationDecision.Status.REJECTED
        decision.save(update_fields=["status", "decided_at"])
        return signature
    decision.status = EscalationDecision.Status.APPROVED
    decision.save(update_fields=["status", "decided_at"])
    cohort = decision.cohort
    cohort.status = Cohort.Status.DECIDED
    cohort.save(update_fields=["status"])
    if decision.continue_trial and decision.add_subjects > 0:
        try:
            with transaction.atomic():
                Cohort.objects.create(
                    trial=decision.trial,
                    number=cohort.number + 1,
                    dose_level=decision.next_dose_level,
                    capacity=decision.add_subjects,
                    opened_by=decision,
                )
        except IntegrityError as exc:
            raise ValidationError("Another cohort is already open for this trial.") from exc
    return signature


def _review_later(trial_id: int) -> None:
    from escalation.tasks import review_trial

    review_trial.delay(trial_id)
