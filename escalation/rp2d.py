"""After escalation: the recommended phase II dose (RP2D), declared by the sponsor and the principal investigator.

When the engine stops, the signed stopping decision records the MTD, the MAD (the top level tolerated) or that no
level is tolerable. The RP2D is then chosen at or below the MTD/MAD with a rationale; the first of the two signers
proposes it (with the cohorts of a ``dose = "chosen"`` extension part: BAT6005 Part 2), the other co-signs or
objects. Both signatures repeat the hash of the data they saw — safety by dose level, the PK and the response
when present — computed again at the second signature: if the data changed in between, the declaration is
invalidated and a new one is needed. With both signatures the escalation part closes and the parts that open
after the RP2D open their cohorts (:func:`escalation.services.part_open`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.signing import verify_signer
from escalation.models import EscalationDecision, Rp2dDeclaration, Signature
from escalation.selectors import escalation_evidence, stopping_decision
from escalation.services import part_open
from subjects.models import AdverseEvent, Subject
from trialrules import parts as parts_rules
from trials.models import DoseLevel, Membership, Part, Role, Trial

RATIONALE_MIN_LENGTH = 20
SPONSOR, PI = "sponsor", "principal investigator"


def signer_role(user, trial: Trial) -> str | None:
    """``sponsor`` or ``principal investigator`` (the trial-level PI), or None: nobody else declares the RP2D."""
    memberships = Membership.objects.filter(user=user, trial=trial)
    if memberships.filter(role=Role.SPONSOR).exists():
        return SPONSOR
    if memberships.filter(role=Role.INVESTIGATOR, principal=True).exists():
        return PI
    return None


@dataclass
class Rp2dEvidence:
    stop: EscalationDecision | None
    levels: list[DoseLevel]
    highest: DoseLevel | None  # the MTD or MAD: the RP2D is at or below it
    data: dict = field(default_factory=dict)
    sha256: str = ""

    @property
    def allowed(self) -> list[DoseLevel]:
        if self.highest is None:
            return []
        return [lv for lv in self.levels if lv.rank <= self.highest.rank]


def _safety(trial: Trial, levels: list[DoseLevel], now: datetime) -> list[dict]:
    evidence = escalation_evidence(trial, now=now)
    subjects = Subject.objects.filter(trial=trial, cohort__escalation=True)
    treated = dict(subjects.filter(doses__isnull=False).values_list("dose_level").annotate(n=_count_distinct()))
    related = AdverseEvent.objects.filter(subject__in=subjects, attribution__in=AdverseEvent.RELATED)
    grade3 = dict(related.filter(grade__gte=3).values_list("subject__dose_level")
                  .annotate(n=_count_distinct("subject")))
    serious = dict(AdverseEvent.objects.filter(subject__in=subjects, serious=True)
                   .values_list("subject__dose_level").annotate(n=_count_distinct("subject")))
    rows = []
    for number, level in enumerate(levels, 1):
        at = [o for o in evidence.outcomes if o.dose_level == number]
        rows.append({"level": level.label, "treated": treated.get(level.pk, 0), "evaluable": len(at),
                     "dlts": sum(o.dlt for o in at), "related_grade3": grade3.get(level.pk, 0),
                     "serious": serious.get(level.pk, 0)})
    return rows


def _count_distinct(field_name: str = "pk"):
    return Count(field_name, distinct=True)


def _pk(trial: Trial, levels: list[DoseLevel]) -> list[dict]:
    from pk.selectors import decision_pk, fmt

    found = decision_pk(trial, levels)
    if not found:
        return []
    out = []
    for row in found["summaries"]:
        values = {}
        for p in row["parameters"]:
            if p["key"] in ("cmax", "auclast", "half_life"):
                s = p["summary"]
                values[p["key"]] = fmt(getattr(s, "geometric_mean", None)) if s is not None else "—"
        out.append({"level": row["level"], "n": row["n"], **values})
    return out


def _response(trial: Trial, today) -> list[dict]:
    if "response" not in trial.definition:
        return []
    from response.selectors import efficacy_rows, endpoint_table

    rows = efficacy_rows(trial, Subject.objects.filter(trial=trial, cohort__escalation=True), deidentified=True,
                         today=today)
    return [{"level": r["group"], "n": r["n"], "responders": r["orr"]["k"], "disease_control": r["dcr"]["k"]}
            for r in endpoint_table(rows, "dose_level")]


def rp2d_evidence(trial: Trial, *, now: datetime | None = None) -> Rp2dEvidence:
    """What the two signers see and sign: the stopping decision, safety by level, PK and response by level."""
    now = now or timezone.now()
    stop = stopping_decision(trial)
    levels = list(trial.dose_levels.order_by("rank"))
    highest = stop.recommended_dose_level if stop is not None else None
    if stop is None:
        return Rp2dEvidence(stop=None, levels=levels, highest=None)
    data = {
        "trial": trial.code,
        "stopping_decision": stop.pk,
        "declared": stop.declared or "none",
        "highest": highest.label if highest else None,
        "safety": _safety(trial, levels, now),
        "pk": _pk(trial, [lv for lv in levels if highest is None or lv.rank <= highest.rank]),
        "response": _response(trial, timezone.localdate(now)),
    }
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    return Rp2dEvidence(stop=stop, levels=levels, highest=highest, data=data, sha256=digest)


def allowed_levels(trial: Trial):
    """The levels an RP2D may be chosen among: at or below the stopping decision's MTD/MAD (none before the stop,
    or when no level was tolerable). Cheap: no evidence is computed."""
    stop = stopping_decision(trial)
    if stop is None or stop.recommended_dose_level is None:
        return trial.dose_levels.none()
    return trial.dose_levels.filter(rank__lte=stop.recommended_dose_level.rank).order_by("-rank")


def chosen_parts(trial: Trial) -> list[tuple[Part, parts_rules.PartSpec]]:
    """The parts waiting for the RP2D whose cohorts are chosen at the declaration (``dose = "chosen"``)."""
    specs = {s.code: s for s in parts_rules.parse_parts(trial.definition)}
    return [(p, specs[p.code]) for p in trial.parts.filter(opens_after="rp2d", status=Part.Status.PLANNED)
            if p.code in specs and specs[p.code].dose == "chosen"]


def _planned(trial: Trial, evidence: Rp2dEvidence, cohorts: list[dict]) -> list[dict]:
    """The chosen extension cohorts, checked; as stored on the declaration."""
    errors: dict[str, str] = {}
    planned = []
    numbers = {lv.pk: n for n, lv in enumerate(evidence.levels, 1)}
    highest = numbers[evidence.highest.pk]
    for part, spec in chosen_parts(trial):
        chosen, positions = [], []
        for i, c in enumerate(cohorts, 1):
            if c.get("part") != part.code:
                continue
            level = c.get("dose_level")
            if not isinstance(level, DoseLevel) or level.trial_id != trial.pk:
                errors[f"cohorts[{i}].level"] = "Choose a dose level of this trial."
                continue
            positions.append(i)
            chosen.append(parts_rules.ChosenCohort(
                part=part.code, label=f"{part.code.upper()}-{len(chosen) + 1}", level=numbers[level.pk],
                size=int(c.get("size") or 0),
                tumour_types=tuple(t.strip() for t in c.get("tumour_types", []) if t.strip())))
        errors.update(parts_rules.check_chosen_cohorts(spec, chosen, highest_allowed=highest, numbers=positions))
        planned += [{"part": c.part, "label": c.label, "dose_level": evidence.levels[c.level - 1].pk,
                     "level": evidence.levels[c.level - 1].label, "size": c.size,
                     "tumour_types": list(c.tumour_types)} for c in chosen]
    if errors:
        raise ValidationError(errors)
    return planned


def _signature(record: Rp2dDeclaration, user, role: str, meaning: str, comment: str) -> Signature:
    return Signature.objects.create(
        declaration=record, signer=user, printed_name=user.get_full_name() or user.get_username(), role=role,
        meaning=meaning, comment=comment.strip(), data_sha256=record.data_sha256,
    )


def rp2d_declare(
    *, trial: Trial, user, request, username: str, password: str, otp_code: str = "", dose_level: DoseLevel | None,
    rationale: str, cohorts: list[dict] | None = None, now: datetime | None = None,
) -> Rp2dDeclaration:
    """Propose the RP2D with the first of the two signatures (the sponsor's or the principal investigator's)."""
    now = now or timezone.now()
    role = signer_role(user, trial)
    if role is None:
        raise PermissionDenied("Only the sponsor or the principal investigator of this trial declares the RP2D.")
    evidence = rp2d_evidence(trial, now=now)
    if evidence.stop is None:
        raise ValidationError("Dose escalation has not stopped: the RP2D is declared after the signed decision "
                              "that stops it (MTD or MAD).")
    if evidence.highest is None:
        raise ValidationError("Escalation stopped with no tolerable dose level: there is no RP2D to declare.")
    errors = {}
    if dose_level is None or dose_level.trial_id != trial.pk:
        errors["dose_level"] = "Choose the RP2D among this trial's dose levels."
    elif dose_level.rank > evidence.highest.rank:
        errors["dose_level"] = (f"The RP2D must be at or below the {evidence.stop.declared or 'MTD'} "
                                f"({evidence.highest.label}).")
    if len((rationale or "").strip()) < RATIONALE_MIN_LENGTH:
        errors["rationale"] = f"Give the rationale (at least {RATIONALE_MIN_LENGTH} characters)."
    if errors:
        raise ValidationError(errors)
    planned = _planned(trial, evidence, cohorts or [])
    if trial.rp2d_declarations.filter(status__in=[Rp2dDeclaration.Status.PENDING,
                                                   Rp2dDeclaration.Status.APPROVED]).exists():
        raise ValidationError("An RP2D declaration for this trial is already awaiting its second signature or "
                              "signed.")
    verify_signer(request=request, user=user, username=username, password=password, otp_code=otp_code)
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=trial.pk)
        if trial.rp2d_declarations.filter(status__in=[Rp2dDeclaration.Status.PENDING,
                                                       Rp2dDeclaration.Status.APPROVED]).exists():
            raise ValidationError("An RP2D declaration for this trial was just made by someone else.")
        record = Rp2dDeclaration.objects.create(
            trial=trial, stopping_decision=evidence.stop, dose_level=dose_level, rationale=rationale.strip(),
            planned_cohorts=planned, data=evidence.data, data_sha256=evidence.sha256, created_by=user,
        )
        _signature(record, user, role, Signature.Meaning.DECLARED, "")
    return record


def rp2d_sign(
    *, declaration: Rp2dDeclaration, user, request, username: str, password: str, otp_code: str = "",
    meaning: str, comment: str = "", now: datetime | None = None,
) -> Signature:
    """The second signature: the other of sponsor and principal investigator approves (the parts open) or
    objects with a comment (the declaration is not approved; a new one may be proposed)."""
    now = now or timezone.now()
    trial = declaration.trial
    role = signer_role(user, trial)
    if role is None:
        raise PermissionDenied("Only the sponsor or the principal investigator of this trial signs the RP2D.")
    if meaning not in (Signature.Meaning.DECLARED, Signature.Meaning.OBJECTED):
        raise ValidationError({"meaning": "Choose what your signature means."})
    if meaning == Signature.Meaning.OBJECTED and not comment.strip():
        raise ValidationError({"comment": "Say why you do not approve this RP2D."})
    first = declaration.signatures.order_by("signed_at").first()
    if first is not None and (first.signer_id == user.pk or first.role == role):
        other = PI if first.role == SPONSOR else SPONSOR
        raise ValidationError(f"The {first.role} has signed already: the second signature is the {other}'s.")
    verify_signer(request=request, user=user, username=username, password=password, otp_code=otp_code)
    with transaction.atomic():
        record = Rp2dDeclaration.objects.select_for_update().get(pk=declaration.pk)
        if record.status != Rp2dDeclaration.Status.PENDING:
            raise ValidationError(f"This declaration is {record.get_status_display().lower()}: it cannot be signed.")
        if meaning == Signature.Meaning.OBJECTED:
            signature = _signature(record, user, role, meaning, comment)
            record.status, record.decided_at = Rp2dDeclaration.Status.REJECTED, now
            record.save(update_fields=["status", "decided_at"])
            return signature
        live = rp2d_evidence(trial, now=now)
        if live.sha256 == record.data_sha256:
            signature = _signature(record, user, role, meaning, comment)
            record.status, record.decided_at = Rp2dDeclaration.Status.APPROVED, now
            record.save(update_fields=["status", "decided_at"])
            _open_later_parts(record)
            return signature
        record.status, record.decided_at = Rp2dDeclaration.Status.INVALIDATED, now
        record.invalidated_reason = ("The trial data (safety, PK or response by level) changed after the RP2D was "
                                     "proposed; the first signature no longer covers them.")
        record.save(update_fields=["status", "decided_at", "invalidated_reason"])
    raise ValidationError("The trial data changed after this RP2D was proposed, so the declaration has been "
                          "invalidated; propose it again on the current data.")


def _open_later_parts(record: Rp2dDeclaration) -> None:
    trial = record.trial
    trial.parts.filter(kind=Part.Kind.ESCALATION, status=Part.Status.OPEN).update(status=Part.Status.CLOSED)
    for part in trial.parts.filter(opens_after="rp2d", status=Part.Status.PLANNED).order_by("order"):
        part_open(part=part, declaration=record, rp2d=record.dose_level)


def standing_declaration(trial: Trial) -> Rp2dDeclaration | None:
    return (trial.rp2d_declarations.filter(status__in=[Rp2dDeclaration.Status.PENDING,
                                                        Rp2dDeclaration.Status.APPROVED])
            .select_related("dose_level", "stopping_decision").first())


def declarations_awaiting(user):
    """RP2D declarations waiting for this user's signature (the other of sponsor and PI)."""
    sponsor_trials = Membership.objects.filter(user=user, role=Role.SPONSOR).values("trial")
    pi_trials = Membership.objects.filter(user=user, role=Role.INVESTIGATOR, principal=True).values("trial")
    return (Rp2dDeclaration.objects.filter(status=Rp2dDeclaration.Status.PENDING)
            .filter(Q(trial__in=sponsor_trials, signatures__role=PI) | Q(trial__in=pi_trials, signatures__role=SPONSOR))
            .exclude(signatures__signer=user).select_related("trial", "dose_level").distinct())
