"""Writes for escalation: recommending a decision from live data, signing it, opening cohorts.

Each function is atomic, audited through pghistory (triggers) and enqueues its side effects
(notifications) only after commit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.signing import verify_signer
from escalation.models import Cohort, EscalationDecision, Signature
from escalation.selectors import DERIVED, Evidence, current_cohort, engine_design, escalation_evidence
from outbox import enqueue
from trialrules import parts as parts_rules
from trialrules.escalation import format_outcomes, recommend_for_cohort
from trials.access import roles_in
from trials.models import DoseLevel, Part, Role, Trial


def cohort_open_first(*, trial: Trial) -> Cohort | None:
    """Open cohort 1 at the lowest dose level, if the trial escalates and has no cohort yet."""
    if not trial.escalates or trial.cohorts.filter(escalation=True).exists():
        return None
    level = trial.dose_levels.order_by("rank").first()
    size = 1 if level.titration else trial.design_parameters.get("cohort_size", 3)
    return Cohort.objects.create(trial=trial, number=_next_number(trial), dose_level=level, capacity=size,
                                 part=trial.parts.filter(kind=Part.Kind.ESCALATION).first())


def _next_number(trial: Trial) -> int:
    return (trial.cohorts.aggregate(n=Max("number"))["n"] or 0) + 1


def part_open(*, part: Part, declaration=None, rp2d: DoseLevel | None = None) -> list[Cohort]:
    """Open a later part: its cohorts as the protocol declares them (at their dose, the part's fixed dose or
    the RP2D), or as the RP2D declaration chose them (``dose = "chosen"``). Idempotent: an open or closed
    part is left as it is."""
    if part.status != Part.Status.PLANNED:
        return []
    spec = parts_rules.find(parts_rules.parse_parts(part.trial.definition), part.code)
    if spec is None:
        raise ValidationError(f"{part.name} is no longer in the protocol file.")
    levels = list(part.trial.dose_levels.order_by("rank"))
    by_label = {level.label: level for level in levels}
    wanted = []
    if spec.dose == "chosen":
        chosen = [c for c in (declaration.planned_cohorts if declaration else []) if c["part"] == part.code]
        for c in chosen:
            wanted.append((c["label"], DoseLevel.objects.get(pk=c["dose_level"], trial=part.trial), c["size"],
                           list(c.get("tumour_types", []))))
    else:
        for c in spec.cohorts:
            if c.dose:
                level = by_label[c.dose]
            elif spec.dose == "rp2d":
                if rp2d is None:
                    raise ValidationError(f"{part.name} opens at the RP2D, which is not declared.")
                level = rp2d
            else:
                level = by_label[spec.dose]
            wanted.append((c.code, level, c.size, list(c.tumour_types)))
    made = []
    for label, level, size, types in wanted:
        made.append(Cohort.objects.create(
            trial=part.trial, part=part, number=_next_number(part.trial), label=label, escalation=False,
            dose_level=level, capacity=size, tumour_types=types, opened_by_declaration=declaration,
        ))
    part.status = Part.Status.OPEN
    part.save(update_fields=["status"])
    return made


def part_close_if_done(*, part: Part) -> bool:
    """Close a later part whose cohorts have all reached their target size."""
    if part.status == Part.Status.OPEN and not part.cohorts.exclude(status=Cohort.Status.CLOSED).exists():
        part.status = Part.Status.CLOSED
        part.save(update_fields=["status"])
        return True
    return False


def decision_recommend(*, trial: Trial, now: datetime | None = None) -> EscalationDecision | None:
    """Record a pending decision for the current cohort when the engine can decide.

    Nothing is recorded while outcomes that could change the decision are pending: DLT windows still
    open, proposed DLTs not yet adjudicated, DLT-grade AEs without attribution (the evidence counts
    those subjects as pending), and the places of the current cohort not yet taken (a cohort opened
    by a signed decision fills to its capacity: ``recommend_for_cohort``). A pending decision whose
    data have changed since (an AE entered late, a DLT adjudicated) is invalidated and replaced by one
    made on the current data.
    """
    return decision_review(trial=trial, now=now)[0]


def decision_review(*, trial: Trial, now: datetime | None = None) -> tuple[EscalationDecision | None, Evidence | None]:
    """:func:`decision_recommend`, also returning the evidence it decided on (None when the trial has no
    current cohort): the periodic review keeps its ``next_change`` (escalation.tasks.review_open_cohorts)."""
    now = now or timezone.now()
    with transaction.atomic():
        cohort = current_cohort(trial)
        if cohort is None:
            return None, None
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        evidence = escalation_evidence(trial, now=now)
        invalidated = decisions_check_approved(trial=trial, evidence=evidence, now=now)
        if invalidated and cohort.status == Cohort.Status.OPEN:
            # The decision that opened this cohort no longer stands: no enrolment until a new one.
            cohort.status = Cohort.Status.FULL
            cohort.save(update_fields=["status"])
        if cohort.decisions.filter(data_sha256=evidence.sha256).exclude(
            status=EscalationDecision.Status.INVALIDATED
        ).exists():
            return None, evidence  # pending, or already decided (e.g. rejected), on exactly these data
        cohort.decisions.filter(
            status__in=[EscalationDecision.Status.PENDING, EscalationDecision.Status.CONCURRENCE]
        ).update(status=EscalationDecision.Status.INVALIDATED, decided_at=now,
                 invalidated_reason="The trial data changed before the decision took effect.")
        labels = [level.label for level in evidence.levels]
        free = _free_places(cohort)
        result = recommend_for_cohort(
            engine_design(trial, len(evidence.levels)), evidence.outcomes, evidence.pending,
            cohort_level=evidence.level_number(cohort.dose_level), free_places=free,
            cohort_dlts=_cohort_dlts(cohort, evidence), labels=labels,
        )
        if result.waiting:
            if free and cohort.status != Cohort.Status.OPEN:
                # The decision that had closed enrolment early is gone: the cohort fills again.
                cohort.status = Cohort.Status.OPEN
                cohort.save(update_fields=["status"])
            return None, evidence
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
        enqueue("escalation.tasks.notify_decision_pending", decision.pk)
    return decision, evidence


def _free_places(cohort: Cohort) -> int:
    """Places of the cohort still to fill: none once the decision that opened it no longer stands."""
    opener = cohort.opened_by
    if opener is not None and opener.status != EscalationDecision.Status.APPROVED:
        return 0
    return max(cohort.capacity - cohort.subjects.count(), 0)


def _cohort_dlts(cohort: Cohort, evidence: Evidence) -> int:
    codes = set(cohort.subjects.values_list("code", flat=True))
    return sum(1 for f in evidence.facts["subjects"] if f["subject"] in codes and f["state"] == "T")


def decision_sign(
    *, decision: EscalationDecision, user, request, username: str, password: str, otp_code: str = "",
    meaning: str, comment: str = "", next_dose_level: DoseLevel | None = None, add_subjects: int | None = None,
    justification: str = "", now: datetime | None = None,
) -> Signature:
    """Sign a decision with the signer's user name and password, and one-time code where enrolled (21 CFR
    11.200(a): both components at each signing; :func:`accounts.signing.verify_signer`). The credentials
    are checked last, after everything else the signer could still correct, so a code is not spent on a
    form that is refused for another reason; their failures count toward the lockout.

    An investigator approves or rejects a pending decision. Approving something other than the
    recommendation (another level or number of subjects) needs a written justification. Where the
    protocol requires it, the sponsor's concurrence is a second signature before the decision takes
    effect. Every signature repeats the hash of the data the decision was made on; if the live data
    no longer hash the same, the decision is invalidated instead and a new one is recommended.
    Taking effect opens the next cohort at the decided level.
    """
    now = now or timezone.now()
    roles = roles_in(user, decision.trial)
    if meaning in (Signature.Meaning.APPROVED, Signature.Meaning.REJECTED):
        role, needed_status = Role.INVESTIGATOR, EscalationDecision.Status.PENDING
    elif meaning in (Signature.Meaning.CONCURRED, Signature.Meaning.DECLINED):
        role, needed_status = Role.SPONSOR, EscalationDecision.Status.CONCURRENCE
    else:
        raise ValidationError({"meaning": "Choose what your signature means."})
    if role not in roles:
        raise PermissionDenied(f"Only a {Role(role).label.lower()} of this trial can sign with this meaning.")
    if meaning in (Signature.Meaning.REJECTED, Signature.Meaning.DECLINED) and not comment.strip():
        raise ValidationError({"comment": "Say why you do not approve this decision."})
    override = _override(decision, meaning, next_dose_level, add_subjects, justification)
    verify_signer(request=request, user=user, username=username, password=password, otp_code=otp_code)
    with transaction.atomic():
        decision = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
        if decision.status != needed_status:
            raise ValidationError(
                f"This decision is {decision.get_status_display().lower()}: it cannot be signed as "
                f"“{Signature.Meaning(meaning).label}”."
            )
        live = escalation_evidence(decision.trial, now=now)
        if live.sha256 == decision.data_sha256:
            return _apply_signature(decision=decision, user=user, role=role, meaning=meaning,
                                    comment=comment, override=override, now=now)
        # Committed, then reported: the invalidation must survive the error below.
        _invalidate(decision, now=now, reason="The trial data changed before the decision was signed.")
    raise ValidationError(
        "The trial data changed after this decision was recommended, so it has been invalidated; "
        "a new recommendation will be made from the current data."
    )


def _override(decision, meaning, level, add, justification) -> tuple[DoseLevel, int, str] | None:
    """The investigator's decision when it differs from the recommendation, checked."""
    if meaning != Signature.Meaning.APPROVED or (level is None and add is None):
        return None
    errors = {}
    if level is None:
        errors["next_dose_level"] = "Choose the dose level for the next subjects."
    elif level.trial_id != decision.trial_id:
        errors["next_dose_level"] = "That dose level belongs to another trial."
    if add is None or add < 1:
        errors["add_subjects"] = "Give how many subjects join (at least 1)."
    if errors:
        raise ValidationError(errors)
    if decision.continue_trial and level == decision.next_dose_level and add == decision.add_subjects:
        return None  # the same as recommended
    if len(justification.strip()) < 10:
        raise ValidationError({"justification": "A decision that differs from the recommendation needs a written "
                                                "justification (at least 10 characters)."})
    return level, add, justification.strip()


def _apply_signature(*, decision, user, role, meaning, comment, override, now) -> Signature:
    signature = Signature.objects.create(
        decision=decision,
        signer=user,
        printed_name=user.get_full_name() or user.get_username(),
        role=role,
        meaning=meaning,
        comment=comment.strip(),
        data_sha256=decision.data_sha256,
    )
    decision.decided_at = now
    if meaning in (Signature.Meaning.REJECTED, Signature.Meaning.DECLINED):
        decision.status = EscalationDecision.Status.REJECTED
        decision.save()
        return signature
    if override is not None:
        decision.decided_next_dose_level, decision.decided_add_subjects, decision.justification = override
    if meaning == Signature.Meaning.APPROVED and decision.trial.requires_sponsor_concurrence:
        decision.status = EscalationDecision.Status.CONCURRENCE
        decision.save()
        enqueue("escalation.tasks.notify_decision_pending", decision.pk, role=Role.SPONSOR.value)
        return signature
    decision.status = EscalationDecision.Status.APPROVED
    decision.save()
    _take_effect(decision)
    return signature


def _take_effect(decision: EscalationDecision) -> None:
    cohort = decision.cohort
    cohort.status = Cohort.Status.DECIDED
    cohort.save(update_fields=["status"])
    level, add = decision.effective_next_dose_level, decision.effective_add_subjects
    if (decision.continue_trial or decision.overridden) and add > 0:
        try:
            with transaction.atomic():
                Cohort.objects.create(trial=decision.trial, number=_next_number(decision.trial), dose_level=level,
                                      capacity=add, opened_by=decision, part=cohort.part)
        except IntegrityError as exc:
            raise ValidationError("Another cohort is already open for this trial.") from exc


def _invalidate(decision: EscalationDecision, *, now: datetime, reason: str) -> None:
    decision.status = EscalationDecision.Status.INVALIDATED
    decision.invalidated_reason = reason
    decision.decided_at = decision.decided_at or now
    decision.save()
    trial_id = decision.trial_id
    enqueue("escalation.tasks.review_trial", trial_id)


def _recorded(facts: dict) -> dict:
    """A subject's recorded facts, without what time derives from them or the level's number
    (an intermediate level renumbers levels without changing any subject's data)."""
    return {k: v for k, v in facts.items() if k not in (*DERIVED, "level")}


def decisions_check_approved(*, trial: Trial, evidence: Evidence, now: datetime) -> list[EscalationDecision]:
    """Approved decisions whose subjects' data changed since: their signatures no longer cover the
    data, so they are invalidated and a new decision is asked for."""
    live = {f["subject"]: _recorded(f) for f in evidence.facts["subjects"]}
    changed = []
    for decision in trial.decisions.filter(status=EscalationDecision.Status.APPROVED).order_by("created_at"):
        then = {f["subject"]: _recorded(f) for f in decision.data["evidence"]["subjects"]}
        differs = sorted(code for code, facts in then.items() if live.get(code) != facts)
        if differs:
            _invalidate(decision, now=now, reason=(
                f"Data of {', '.join(differs)} changed after the decision was approved; its signatures no "
                "longer cover the data. A new decision is needed."))
            changed.append(decision)
    return changed


def dose_level_add_intermediate(
    *, trial: Trial, user, lower: DoseLevel, upper: DoseLevel, label: str, doses: dict, reason: str
) -> DoseLevel:
    """An investigator adds a level between two adjacent levels (audited, with the reason).

    Its rank is the midpoint of the two; the engine numbers levels by rank, so pending decisions are
    re-made on the new set of levels.
    """
    import pghistory

    if Role.INVESTIGATOR not in roles_in(user, trial):
        raise PermissionDenied("Only an investigator of this trial can add a dose level.")
    if lower.trial_id != trial.pk or upper.trial_id != trial.pk:
        raise ValidationError({"lower": "Choose two levels of this trial."})
    if lower.rank >= upper.rank:
        raise ValidationError({"upper": "Choose a level above the first one."})
    if trial.dose_levels.filter(rank__gt=lower.rank, rank__lt=upper.rank).exists():
        raise ValidationError({"upper": "The two levels must be adjacent: another level lies between them."})
    for drug, amount in doses.items():
        low, high = Decimal(lower.doses[drug]), Decimal(upper.doses[drug])
        if not low <= amount <= high:
            raise ValidationError({None: f"The {drug} dose must lie between {low.normalize():f} and "
                                         f"{high.normalize():f}."})
    if all(amount == Decimal(lower.doses[d]) for d, amount in doses.items()) or all(
        amount == Decimal(upper.doses[d]) for d, amount in doses.items()
    ):
        raise ValidationError({None: "The new level must differ from both neighbouring levels."})
    if trial.dose_levels.filter(label=label.strip()).exists():
        raise ValidationError({"label": "A dose level with this label exists already."})
    with transaction.atomic(), pghistory.context(reason=reason.strip()):
        level = DoseLevel.objects.create(
            trial=trial, rank=(lower.rank + upper.rank) / 2, label=label.strip(),
            doses={drug: format(amount.normalize(), "f") for drug, amount in doses.items()},
            titration=False, intermediate=True,
        )
        enqueue("escalation.tasks.review_trial", trial.pk)
    return level
