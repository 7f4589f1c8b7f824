"""Intra-patient dose escalation (DOMAIN.md escalation rule 6; BAT6005): a subject moves to a higher dose
level only after at least ``min_cycles`` cycles (``[escalation.intra_patient]`` of the protocol file; absent:
not allowed in that trial), once that level has cleared its DLT windows without exceeding the MTD, and with a
recorded sponsor–investigator agreement.

- :func:`escalation_checks` says, in words and with the numbers, whether each of the three conditions holds.
- :func:`intrapatient_request`: an investigator of the subject's site, or a sponsor of the trial, asks for the
  move and signs it (meaning AGREED); the checks and the facts they read are the request's ``data``, hashed as
  escalation decisions are.
- :func:`intrapatient_sign`: the other party (a sponsor when an investigator asked, an investigator of the
  subject's site when a sponsor asked) agrees, or objects with a comment. Agreeing re-reads the checks: if
  the data no longer hash the same, the request is invalidated instead (committed) and a new one is needed.
- :func:`level_for_cycle`: the level a subject is dosed at in a cycle: the original one, or the new level from
  the cycle after the last dose recorded when the agreement was signed. ``Subject.dose_level`` never changes:
  for the escalation decisions the subject stays counted at the original level.

Every write is atomic and audited (pghistory tracks the rows; signatures are append-only).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.signing import verify_signer
from escalation.models import EscalationDecision, IntraPatientEscalation, Signature
from escalation.selectors import DERIVED, escalation_evidence
from subjects.models import Subject
from trials.access import at_staff_sites, has_site_role, roles_in
from trials.models import DoseLevel, Membership, Role, Trial

# The 3+3 rule (DOMAIN.md rule 2): 2 or more DLTs among 3 or among 6 evaluable subjects exceed the MTD.
DLTS_EXCEEDING = 2

NOT_ALLOWED = ("{code} does not allow intra-patient dose escalation: its protocol file has no "
               "[escalation.intra_patient] min_cycles.")


@dataclass(frozen=True)
class Check:
    """One condition of an intra-patient escalation, met or not, said in words with the numbers."""

    name: str  # cycles | level | agreement
    met: bool
    detail: str

    LABELS = {"cycles": "Enough cycles received", "level": "Higher level cleared its DLT windows without exceeding "
              "the MTD", "agreement": "Sponsor–investigator agreement signed"}

    @property
    def label(self) -> str:
        return self.LABELS[self.name]


# --------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------


def visible_subjects(user):
    """Subjects the user may reach for intra-patient escalation: at the sites where the user is site staff,
    and every subject of the trials where the user is a sponsor (shown by code only)."""
    sponsor_trials = Membership.objects.filter(user=user, role=Role.SPONSOR).values_list("trial_id", flat=True)
    return Subject.objects.filter(at_staff_sites(user) | Q(trial_id__in=sponsor_trials)).select_related(
        "trial", "site", "dose_level")


def min_cycles_for(trial: Trial) -> int | None:
    """The protocol's ``[escalation.intra_patient] min_cycles``; None: intra-patient escalation not allowed."""
    setting = ((trial.definition or {}).get("escalation") or {}).get("intra_patient") or {}
    value = setting.get("min_cycles")
    return int(value) if value is not None else None


def allows_intrapatient(trial: Trial) -> bool:
    return min_cycles_for(trial) is not None


def level_for_cycle(subject: Subject, cycle: int) -> DoseLevel:
    """The level ``subject`` is dosed at in ``cycle``: the to_level of the latest agreed escalation whose
    ``from_cycle`` is at or before ``cycle``, else the subject's original level."""
    agreed = (IntraPatientEscalation.objects.filter(subject=subject, status=IntraPatientEscalation.Status.AGREED,
                                                    from_cycle__lte=cycle)
              .select_related("to_level").order_by("-from_cycle", "-decided_at", "-pk").first())
    return agreed.to_level if agreed is not None else subject.dose_level


def dosed_cycles(subject: Subject) -> list[int]:
    """The cycles in which the subject received a dose (voided entries do not count)."""
    return sorted(set(subject.doses.values_list("cycle", flat=True)))


def next_cycle(subject: Subject) -> int:
    """The cycle after the last one dosed (1 before the first dose)."""
    return (subject.doses.aggregate(n=Max("cycle"))["n"] or 0) + 1


def current_level(subject: Subject) -> DoseLevel:
    """The level the subject's next cycle is dosed at."""
    return level_for_cycle(subject, next_cycle(subject))


def _cycles_text(cycles: list[int]) -> str:
    if not cycles:
        return "none"
    if cycles == list(range(cycles[0], cycles[-1] + 1)) and len(cycles) > 2:
        return f"cycles {cycles[0]}–{cycles[-1]}"
    return ("cycle " if len(cycles) == 1 else "cycles ") + ", ".join(str(c) for c in cycles)


def _declared_mtd(trial: Trial) -> DoseLevel | None:
    decision = (EscalationDecision.objects.filter(trial=trial, status=EscalationDecision.Status.APPROVED,
                                                  continue_trial=False, declared="MTD",
                                                  recommended_dose_level__isnull=False)
                .select_related("recommended_dose_level").order_by("-decided_at", "-pk").first())
    return decision.recommended_dose_level if decision is not None else None


def _cycles_check(subject: Subject, min_cycles: int, cycles: list[int], start: int) -> Check:
    required = list(range(1, min_cycles + 1))
    missing = [c for c in required if c not in cycles]
    received = len([c for c in cycles if c <= min_cycles])
    if missing:
        return Check("cycles", False, (
            f"{received} of the {min_cycles} cycles required received (doses recorded: {_cycles_text(cycles)}; "
            f"missing: {_cycles_text(missing)}). {subject.trial.code} allows intra-patient escalation only after "
            f"at least {min_cycles} cycles."))
    return Check("cycles", True, (
        f"{len(cycles)} cycle{'s' if len(cycles) != 1 else ''} received ({_cycles_text(cycles)}; at least "
        f"{min_cycles} required): the new level would apply from cycle {start}."))


def _level_check(subject: Subject, to_level: DoseLevel, current: DoseLevel, evidence, mtd) -> tuple[Check, dict]:
    """Check 2 and the facts it read (the to_level's escalation subjects, as the evidence records them)."""
    number = evidence.level_number(to_level)
    at_level = [f for f in evidence.facts["subjects"] if f["level"] == number]
    states = [f["state"] for f in at_level]
    evaluable = [s for s in states if s in ("N", "G", "T")]
    dlts, pending = states.count("T"), states.count("pending")
    facts = {
        "to_level": {"label": to_level.label, "rank": str(to_level.rank)},
        "current_level": {"label": current.label, "rank": str(current.rank)},
        "declared_mtd": mtd.label if mtd is not None else None,
        # The recorded facts of the level's subjects (what time derives from them is left out, as in the
        # escalation decisions' hash; the level's number too: an intermediate level renumbers levels).
        "subjects": [{k: v for k, v in f.items() if k not in (*DERIVED, "level")} for f in at_level],
    }
    counts = (f"{len(at_level)} subject{'s' if len(at_level) != 1 else ''} of the escalation cohorts at "
              f"{to_level.label}, {len(evaluable)} evaluable, {dlts} DLT{'s' if dlts != 1 else ''}, "
              f"{pending} pending")
    problem = None
    if to_level.rank <= current.rank:
        problem = (f"{to_level.label} is not above the subject's current level ({current.label}): choose a "
                   "higher level.")
    elif not at_level:
        problem = (f"{to_level.label} has no subject in the escalation cohorts yet: it has not cleared its DLT "
                   "windows.")
    elif pending:
        problem = (f"{to_level.label} has not cleared its DLT windows: {counts} (DLT window open or an adverse "
                   "event awaiting adjudication or attribution).")
    elif not evaluable:
        problem = f"{to_level.label} has no evaluable subject: {counts}."
    elif dlts >= DLTS_EXCEEDING:
        problem = (f"{to_level.label} exceeded the MTD: {dlts} DLTs among {len(evaluable)} evaluable subjects "
                   f"(the 3+3 rule: {DLTS_EXCEEDING} or more among 3 or among 6 exceed it).")
    elif mtd is not None and to_level.rank > mtd.rank:
        problem = f"{to_level.label} is above the declared MTD ({mtd.label})."
    if problem:
        return Check("level", False, problem), facts
    mtd_text = f"at or below the declared MTD ({mtd.label})" if mtd is not None else "no MTD declared yet"
    return Check("level", True, (
        f"{to_level.label} is above the current level ({current.label}) and has cleared its DLT windows: "
        f"{counts}; fewer than {DLTS_EXCEEDING} DLTs, {mtd_text}.")), facts


def _agreement_check(agreement: IntraPatientEscalation | None) -> Check:
    if agreement is None:
        return Check("agreement", False, "Not requested yet: an investigator of the subject's site and a sponsor "
                                         "of the trial both sign the agreement.")
    signatures = list(agreement.signatures.all())
    signed = "; ".join(f"{s.printed_name} ({s.role}): {s.get_meaning_display()}" for s in signatures) or "none"
    status = agreement.status
    if status == IntraPatientEscalation.Status.AGREED:
        return Check("agreement", True, f"Agreed and signed by both: {signed}.")
    if status == IntraPatientEscalation.Status.PENDING:
        other = "a sponsor" if _requester_role(agreement) == Role.INVESTIGATOR else "an investigator of the site"
        return Check("agreement", False, f"Awaiting the signature of {other}. Signed so far: {signed}.")
    return Check("agreement", False, f"{agreement.get_status_display()}. Signatures: {signed}.")


@dataclass(frozen=True)
class Assessment:
    """The checks for moving ``subject`` to ``to_level`` now, and the canonical data they are bound to."""

    checks: list[Check]
    from_level: DoseLevel
    from_cycle: int
    data: dict
    sha256: str

    @property
    def requestable(self) -> bool:
        """Checks 1 and 2 met (the agreement is what the request asks for)."""
        return all(c.met for c in self.checks if c.name != "agreement")

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.name != "agreement" and not c.met]


def assess(subject: Subject, to_level: DoseLevel, *, now: datetime,
           agreement: IntraPatientEscalation | None = None) -> Assessment:
    """The three checks and the data they read (see :func:`escalation_checks`)."""
    trial = subject.trial
    min_cycles = min_cycles_for(trial)
    if min_cycles is None:
        raise ValidationError(NOT_ALLOWED.format(code=trial.code))
    if to_level.trial_id != subject.trial_id:
        raise ValidationError({"to_level": "That dose level belongs to another trial."})
    cycles = dosed_cycles(subject)
    start = (max(cycles) if cycles else 0) + 1
    current = level_for_cycle(subject, start)
    evidence = escalation_evidence(trial, now=now)
    level_check, level_facts = _level_check(subject, to_level, current, evidence, _declared_mtd(trial))
    checks = [_cycles_check(subject, min_cycles, cycles, start), level_check]
    data = {
        "trial": trial.code,
        "subject": subject.code,
        "original_level": subject.dose_level.label,
        "min_cycles": min_cycles,
        "cycles_dosed": cycles,
        "from_cycle": start,
        **level_facts,
        "checks": [asdict(c) for c in checks],
    }
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Assessment(checks=[*checks, _agreement_check(agreement)], from_level=current, from_cycle=start,
                      data=data, sha256=digest)


def escalation_checks(subject: Subject, to_level: DoseLevel, *, now: datetime | None = None,
                      agreement: IntraPatientEscalation | None = None) -> list[Check]:
    """Whether ``subject`` may move to ``to_level`` now, each condition with its numbers:

    1. ``cycles``: doses recorded in each of cycles 1..min_cycles; the new level applies from the cycle after
       the last one dosed, which is therefore above min_cycles.
    2. ``level``: ``to_level`` is above the subject's current level (the one of the next cycle) and has cleared
       its DLT windows: it has subjects in the escalation cohorts, none pending (window open, open questions),
       fewer than 2 DLTs among its evaluable subjects (3+3: 2 or more among 3 or 6 exceed the MTD), and is at
       or below the MTD an approved stopping decision declared.
    3. ``agreement``: the state of the request (``agreement``): signed by both, awaiting, or none yet.
    """
    return assess(subject, to_level, now=now or timezone.now(), agreement=agreement).checks


def higher_levels(subject: Subject):
    """The levels of the subject's trial above the level of its next cycle (the request form's choices)."""
    return subject.trial.dose_levels.filter(rank__gt=current_level(subject).rank).order_by("rank")


# --------------------------------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------------------------------


def party_of(user, subject: Subject) -> str | None:
    """The user's party in an agreement on ``subject``: an investigator of its site, else a sponsor of its
    trial, else None (coordinators, investigators of other sites, people outside the trial)."""
    if has_site_role(user, subject, Role.INVESTIGATOR):
        return Role.INVESTIGATOR.value
    if Role.SPONSOR in roles_in(user, subject.trial):
        return Role.SPONSOR.value
    return None


def _requester_role(agreement: IntraPatientEscalation) -> str | None:
    first = agreement.signatures.order_by("signed_at", "pk").first()
    return first.role if first is not None else None


def other_party(agreement: IntraPatientEscalation) -> str:
    """Who signs second: a sponsor when an investigator asked, an investigator of the site when a sponsor did."""
    return Role.SPONSOR.value if _requester_role(agreement) == Role.INVESTIGATOR else Role.INVESTIGATOR.value


def can_sign(user, agreement: IntraPatientEscalation) -> bool:
    """Whether ``user`` is the other party of a pending agreement and has not signed it yet."""
    if agreement.status != IntraPatientEscalation.Status.PENDING:
        return False
    if agreement.signatures.filter(signer=user).exists():
        return False
    needed = other_party(agreement)
    if needed == Role.SPONSOR:
        return Role.SPONSOR in roles_in(user, agreement.subject.trial)
    return has_site_role(user, agreement.subject, Role.INVESTIGATOR)


# --------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------


def _signature(agreement, user, role, meaning, comment="") -> Signature:
    return Signature.objects.create(
        agreement=agreement, signer=user, printed_name=user.get_full_name() or user.get_username(), role=role,
        meaning=meaning, comment=comment.strip(), data_sha256=agreement.data_sha256,
    )


def _refusal(failed: list[Check]) -> ValidationError:
    """The failed checks, each on its field: the level's on ``to_level``, the cycles' on the form."""
    errors: dict[str, list[str]] = {}
    for check in failed:
        errors.setdefault("to_level" if check.name == "level" else NON_FIELD_ERRORS, []).append(
            f"Not met — {check.label[0].lower()}{check.label[1:]}: {check.detail}")
    return ValidationError(errors)


def intrapatient_request(
    *, subject: Subject, to_level: DoseLevel, rationale: str, user, request, username: str, password: str,
    otp_code: str = "", now: datetime | None = None,
) -> IntraPatientEscalation:
    """Ask for ``subject`` to move to ``to_level`` and sign the request (meaning AGREED).

    Only an investigator of the subject's site or a sponsor of the trial may ask; checks 1 and 2 must be met
    (refused with the failed check's words otherwise); one pending request per subject. The row's ``data`` are
    the checks and the facts they read, hashed; the requester's signature repeats the hash. The credentials
    are checked last (:func:`accounts.signing.verify_signer`), as for escalation decisions."""
    now = now or timezone.now()
    trial = subject.trial
    if min_cycles_for(trial) is None:
        raise ValidationError(NOT_ALLOWED.format(code=trial.code))
    role = party_of(user, subject)
    if role is None:
        raise PermissionDenied("Only an investigator of the subject's site or a sponsor of the trial can ask for "
                               "an intra-patient dose escalation.")
    if to_level is None:
        raise ValidationError({"to_level": "Choose the dose level the subject moves to."})
    if to_level.trial_id != subject.trial_id:
        raise ValidationError({"to_level": "That dose level belongs to another trial."})
    rationale = (rationale or "").strip()
    if len(rationale) < 10:
        raise ValidationError({"rationale": "Say why the subject should move to the higher level (at least 10 "
                                            "characters)."})
    _refuse_second_pending(subject)
    assessment = assess(subject, to_level, now=now)
    if not assessment.requestable:
        raise _refusal(assessment.failed())
    verify_signer(request=request, user=user, username=username, password=password, otp_code=otp_code)
    try:
        with transaction.atomic():
            # One request at a time per subject, and on the data as they stand once it is locked.
            subject = Subject.objects.select_for_update().get(pk=subject.pk)
            _refuse_second_pending(subject)
            assessment = assess(subject, to_level, now=now)
            if not assessment.requestable:
                raise _refusal(assessment.failed())
            agreement = IntraPatientEscalation.objects.create(
                subject=subject, from_level=assessment.from_level, to_level=to_level,
                from_cycle=assessment.from_cycle, rationale=rationale, data=assessment.data,
                data_sha256=assessment.sha256, created_by=user,
            )
            _signature(agreement, user, role, Signature.Meaning.AGREED)
    except IntegrityError as exc:
        if "intrapatient_one_pending_per_subject" in str(exc):
            raise ValidationError({"to_level": PENDING_EXISTS}) from None
        raise
    return agreement


PENDING_EXISTS = ("A request for this subject already awaits agreement: sign or object to it first (one pending "
                  "request per subject).")


def _refuse_second_pending(subject: Subject) -> None:
    if IntraPatientEscalation.objects.filter(subject=subject, status=IntraPatientEscalation.Status.PENDING).exists():
        raise ValidationError({"to_level": PENDING_EXISTS})


def intrapatient_sign(
    *, agreement: IntraPatientEscalation, user, request, username: str, password: str, otp_code: str = "",
    meaning: str, comment: str = "", now: datetime | None = None,
) -> Signature:
    """The other party signs a pending request: AGREED, or OBJECTED with a comment (the request is then
    rejected and dosing does not change). Agreeing re-reads the checks: on the same data (same hash, checks 1
    and 2 still met) the request is agreed and the subject is dosed at the new level from ``from_cycle``; if
    the data changed, the request is invalidated (committed) and a ValidationError says a new one is needed.
    The same person cannot sign twice; the credentials are checked last."""
    now = now or timezone.now()
    if meaning not in (Signature.Meaning.AGREED, Signature.Meaning.OBJECTED):
        raise ValidationError({"meaning": "Choose what your signature means: you agree, or you do not approve."})
    if agreement.status != IntraPatientEscalation.Status.PENDING:
        raise ValidationError(f"This request is {agreement.get_status_display().lower()}: it cannot be signed.")
    if agreement.signatures.filter(signer=user).exists():
        raise ValidationError("You signed this request already: the other party signs it.")
    role = other_party(agreement)
    if not can_sign(user, agreement):
        who = "a sponsor of the trial" if role == Role.SPONSOR else "an investigator of the subject's site"
        raise PermissionDenied(f"This request awaits the signature of {who}.")
    comment = (comment or "").strip()
    if meaning == Signature.Meaning.OBJECTED and not comment:
        raise ValidationError({"comment": "Say why you do not approve this intra-patient escalation."})
    verify_signer(request=request, user=user, username=username, password=password, otp_code=otp_code)
    with transaction.atomic():
        agreement = IntraPatientEscalation.objects.select_for_update().select_related(
            "subject__trial", "to_level").get(pk=agreement.pk)
        if agreement.status != IntraPatientEscalation.Status.PENDING:
            raise ValidationError(f"This request is {agreement.get_status_display().lower()}: it cannot be signed.")
        if agreement.signatures.filter(signer=user).exists():
            raise ValidationError("You signed this request already: the other party signs it.")
        agreement.decided_at = now
        if meaning == Signature.Meaning.OBJECTED:
            signature = _signature(agreement, user, role, meaning, comment)
            agreement.status = IntraPatientEscalation.Status.REJECTED
            agreement.save()
            return signature
        live = assess(agreement.subject, agreement.to_level, now=now)
        if live.sha256 == agreement.data_sha256 and live.requestable:
            signature = _signature(agreement, user, role, meaning, comment)
            agreement.status = IntraPatientEscalation.Status.AGREED
            agreement.save()
            return signature
        # Committed, then reported: the invalidation must survive the error below.
        changed = sorted(k for k in set(live.data) | set(agreement.data) if live.data.get(k) != agreement.data.get(k))
        agreement.status = IntraPatientEscalation.Status.INVALIDATED
        agreement.invalidated_reason = (
            f"The data changed before the second signature ({', '.join(changed)}): the first signature no longer "
            "covers them. A new request is needed.")
        agreement.save()
    raise ValidationError(
        "The data this request was made on changed before your signature (" + ", ".join(changed) + "), so it has "
        "been invalidated; ask again on the current data.")
