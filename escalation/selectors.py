"""Reads for escalation: the live evidence the engine decides on, and the sponsor's dashboard."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db.models import Count

from escalation.models import Cohort, EscalationDecision
from subjects.models import Subject
from trialrules.escalation import Design, Outcome
from trialrules.protocol_design import design_from_protocol
from trials.models import DoseLevel, Trial


def engine_design(trial: Trial, n_levels: int) -> Design:
    """The trial's design, as its protocol file declares it (the same mapping the command line uses),
    over the trial's current number of levels (intermediate levels included)."""
    return replace(design_from_protocol(trial.definition), n_levels=n_levels)


@dataclass(frozen=True)
class Evidence:
    """What the engine decides on, and the canonical facts its decision is bound to."""

    levels: list[DoseLevel]
    outcomes: list[Outcome]
    pending: list[int]
    facts: dict
    sha256: str

    def level_number(self, level: DoseLevel) -> int:
        return self.levels.index(level) + 1


DERIVED = ("window_closed", "state")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def escalation_evidence(trial: Trial, *, now: datetime) -> Evidence:
    """Per subject of the escalation cohorts: evaluable (N, G or T), pending, or not evaluable.

    - T: a DLT adjudicated by the investigator with onset inside the DLT window (first dose to
      first dose + window days). Known at once, even while the window is still open.
    - N / G: the window has closed without a DLT; G if a drug-related grade >= 2 AE began in it.
    - not evaluable: left the study before the window closed, without a DLT (replaced, BAT6005).
    - pending: everything else (not yet dosed, or window still open).
    """
    levels = list(trial.dose_levels.order_by("rank"))
    window = timedelta(days=trial.dlt_window_days or 0)
    subjects = (
        Subject.objects.filter(trial=trial, cohort__isnull=False)
        .select_related("dose_level")
        .prefetch_related("doses", "adverse_events")
        .order_by("pk")
    )
    outcomes: list[Outcome] = []
    pending: list[int] = []
    facts = []
    for subject in subjects:
        number = levels.index(subject.dose_level) + 1
        doses = sorted(subject.doses.all(), key=lambda d: d.administered_at)
        first = doses[0].administered_at if doses else None
        end = first + window if first else None
        in_window = [
            ae for ae in subject.adverse_events.all()
            if first is not None and first.date() <= ae.onset_date <= end.date()
        ]
        dlt = any(ae.is_dlt for ae in in_window)
        tox2 = any(ae.related and ae.grade >= 2 for ae in in_window)
        if dlt:
            state = "T"
        elif subject.off_study_on and (end is None or subject.off_study_on < end.date()):
            state = "not evaluable"
        elif end is not None and end <= now:
            state = "G" if tox2 else "N"
        else:
            state = "pending"
        if state in ("N", "G", "T"):
            outcomes.append(Outcome(dose_level=number, dlt=state == "T", tox2=state == "G"))
        elif state == "pending":
            pending.append(number)
        facts.append({
            "subject": subject.code,
            "level": number,
            "first_dose": _iso(first),
            "off_study_on": _iso(subject.off_study_on),
            "window_closed": end is not None and end <= now,
            "adverse_events": [
                {"id": ae.pk, "term": ae.term, "grade": ae.grade, "attribution": ae.attribution,
                 "dlt": ae.is_dlt, "onset": _iso(ae.onset_date)}
                for ae in sorted(in_window, key=lambda a: a.pk)
            ],
            "state": state,
        })
    canonical = {
        "trial": trial.code,
        "protocol_sha256": trial.definition_sha256,
        "levels": [{"number": i, "label": lv.label, "rank": str(lv.rank)} for i, lv in enumerate(levels, 1)],
        "subjects": facts,
    }
    # The hash covers the recorded facts only, not what time derives from them (a window closing
    # later does not change the data a signature approved).
    recorded = {**canonical, "subjects": [{k: v for k, v in f.items() if k not in DERIVED} for f in facts]}
    digest = hashlib.sha256(json.dumps(recorded, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Evidence(levels=levels, outcomes=outcomes, pending=pending, facts=canonical, sha256=digest)


def current_cohort(trial: Trial) -> Cohort | None:
    """The cohort being enrolled or observed (not yet decided), if any."""
    return trial.cohorts.exclude(status=Cohort.Status.DECIDED).order_by("-number").first()


@dataclass(frozen=True)
class LevelRow:
    label: str
    enrolled: int
    evaluable: int
    dlts: int


def cohort_dashboard(trial: Trial, *, now: datetime) -> dict:
    """Per dose level: enrolled / evaluable / DLT counts, and the decisions. No subject identifiers."""
    evidence = escalation_evidence(trial, now=now)
    enrolled = dict(
        trial.dose_levels.annotate(n=Count("subjects")).values_list("pk", "n")
    )
    rows = []
    for number, level in enumerate(evidence.levels, 1):
        at_level = [o for o in evidence.outcomes if o.dose_level == number]
        rows.append(LevelRow(
            label=level.label,
            enrolled=enrolled.get(level.pk, 0),
            evaluable=len(at_level),
            dlts=sum(o.dlt for o in at_level),
        ))
    decisions = (
        EscalationDecision.objects.filter(trial=trial)
        .select_related("cohort__dose_level", "next_dose_level", "recommended_dose_level")
        .prefetch_related("signatures")
        .order_by("created_at")
    )
    return {"levels": rows, "decisions": decisions, "cohorts": trial.cohorts.select_related("dose_level")}


def open_decisions_for_investigator(user):
    from trials.models import Role

    return EscalationDecision.objects.filter(
        status=EscalationDecision.Status.PENDING,
        trial__memberships__user=user,
        trial__memberships__role=Role.INVESTIGATOR,
    ).distinct()

