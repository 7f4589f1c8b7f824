"""Reads for escalation: the live evidence the engine decides on, and the sponsor's dashboard."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from django.db.models import (
    BigIntegerField,
    Count,
    DateField,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from escalation.models import Cohort, EscalationDecision
from subjects.models import AdverseEvent, DoseAdministration, Subject
from trialrules import dlt
from trialrules.escalation import Design, Outcome
from trialrules.protocol_design import design_from_protocol
from trials.access import at_staff_sites
from trials.models import DoseLevel, Part, Trial


def engine_design(trial: Trial, n_levels: int) -> Design:
    """The trial's design, as its protocol file declares it (the same mapping the command line uses),
    over the trial's current number of levels (intermediate levels included)."""
    return replace(design_from_protocol(trial.definition), n_levels=n_levels)


@dataclass(frozen=True)
class OpenItem:
    """An in-window adverse event a person must still judge before the engine can count its subject:
    a proposed DLT awaiting adjudication, or a DLT-grade event without attribution (trialrules.dlt)."""

    subject_id: int
    subject_code: str
    site_id: int
    level: int
    level_label: str
    event_id: int
    term: str
    grade: int
    study_day: int
    needs: str  # trialrules.dlt.ADJUDICATION or ATTRIBUTION

    @property
    def needs_label(self) -> str:
        return "DLT adjudication" if self.needs == dlt.ADJUDICATION else "attribution"


@dataclass(frozen=True)
class Evidence:
    """What the engine decides on, and the canonical facts its decision is bound to."""

    levels: list[DoseLevel]
    outcomes: list[Outcome]
    pending: list[int]
    facts: dict
    sha256: str
    open_items: list[OpenItem] = field(default_factory=list)
    # When time alone changes the evidence next: the earliest DLT window still to close (None: none open).
    # Derived, like ``window_closed``: not in the facts or their hash (escalation.tasks.review_open_cohorts).
    next_change: datetime | None = None

    def level_number(self, level: DoseLevel) -> int:
        return self.levels.index(level) + 1


# Facts derived from the recorded ones (by time, or by the rules from the recorded AEs): kept with the
# decision, left out of its hash and of the comparison that invalidates approved decisions.
DERIVED = ("window_closed", "state", "open")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _first_dose_at(subject):
    """The subject's first live dose (voided doses left out), as a correlated subquery that reads one entry of
    ``dose_first_idx`` (subject, administered_at) WHERE voided_at IS NULL per subject, never the whole table
    nor all of the subject's doses."""
    return Subquery(
        DoseAdministration.objects.filter(subject=subject).order_by("administered_at").values("administered_at")[:1],
        output_field=DateTimeField(),
    )


def _escalation_subjects(trial: Trial):
    """The trial's dose-escalation subjects in enrolment order (pk), with their first dose: the columns the
    evidence uses only."""
    return (
        Subject.objects.filter(trial=trial, cohort__escalation=True)
        .annotate(first_dose_at=_first_dose_at(OuterRef("pk")))
        .order_by("pk")
        .values_list("pk", "code", "site_id", "dose_level_id", "off_study_on", "first_dose_at")
    )


def _in_window_events(trial: Trial, window_days: int):
    """The live adverse events of the trial's dose-escalation subjects whose onset lies in the subject's DLT
    window (the local day of the first dose to that day + ``window_days``), filtered in SQL; the columns the
    evidence uses only, by pk. (The caller still applies :func:`trialrules.dlt.onset_in_window`: the rule
    lives there.)"""
    first_day = TruncDate(_first_dose_at(OuterRef("subject_id")), tzinfo=timezone.get_current_timezone())
    return (
        AdverseEvent.objects.filter(subject__trial=trial, subject__cohort__escalation=True)
        .annotate(first_day=first_day)
        .filter(onset_date__gte=F("first_day"),
                onset_date__lte=ExpressionWrapper(F("first_day") + Value(window_days), output_field=DateField()))
        .order_by("pk")
        .values_list("pk", "subject_id", "term", "grade", "attribution", "dlt_status", "is_dlt", "onset_date")
    )


@dataclass(frozen=True)
class _Event:
    pk: int
    subject_id: int
    term: str
    grade: int
    attribution: str
    dlt_status: str
    is_dlt: bool
    onset_date: date

    @property
    def related(self) -> bool:
        return self.attribution in AdverseEvent.RELATED


def escalation_evidence(trial: Trial, *, now: datetime) -> Evidence:
    """Per subject of the escalation cohorts: evaluable (N, G or T), pending, or not evaluable.

    - T: a DLT adjudicated by the investigator with onset inside the DLT window (the first dose's day
      to that day + window days). Known at once, even while the window is still open.
    - pending: an in-window AE is proposed as a DLT and not yet adjudicated, or is of a DLT-eligible
      grade (trialrules.dlt) and has no attribution yet: its judgement could make the subject a T
      (issue 8, point 1); or the subject is not yet dosed, or the window is still open.
    - not evaluable: left the study before the window closed, without a DLT (replaced, BAT6005).
    - N / G: the window has closed without a DLT; G if a drug-related grade >= 2 AE began in it.

    Three queries whatever the number of subjects, doses and AEs (issue 14): the levels, the subjects
    with their first dose (an aggregate per subject in SQL), and the in-window AEs only.
    """
    levels = list(trial.dose_levels.order_by("rank"))
    level_of = {level.pk: (number, level) for number, level in enumerate(levels, 1)}
    window_days = trial.dlt_window_days or 0
    window = timedelta(days=window_days)
    min_grade = dlt.min_grade(trial.definition.get("escalation"))
    subjects = list(_escalation_subjects(trial))
    events: dict[int, list[_Event]] = {}
    if subjects and window_days:  # no window: no AE is in it (trialrules.dlt.onset_in_window)
        for row in _in_window_events(trial, window_days):
            event = _Event(*row)
            events.setdefault(event.subject_id, []).append(event)
    outcomes: list[Outcome] = []
    pending: list[int] = []
    facts = []
    open_items: list[OpenItem] = []
    next_change = None
    for subject_id, code, site_id, level_id, off_study_on, first in subjects:
        if level_id not in level_of:
            raise ValueError(f"Subject {code} has no dose level of {trial.code}.")
        number, level = level_of[level_id]
        end = first + window if first else None
        first_day = timezone.localtime(first).date() if first else None
        in_window = [ae for ae in events.get(subject_id, ())
                     if dlt.onset_in_window(ae.onset_date, first_day, window_days)]
        questions = []
        for ae in in_window:
            needs = dlt.open_question(
                grade=ae.grade, attributed=ae.attribution != "", proposed=ae.dlt_status == "proposed",
                in_window=True, min_grade=min_grade, tox2_matters=level.titration,
            )
            if needs:
                questions.append({"ae": ae.pk, "needs": needs})
                open_items.append(OpenItem(
                    subject_id=subject_id, subject_code=code, site_id=site_id, level=number,
                    level_label=level.label, event_id=ae.pk, term=ae.term, grade=ae.grade,
                    study_day=dlt.study_day(ae.onset_date, first_day), needs=needs,
                ))
        if any(ae.is_dlt for ae in in_window):
            state = "T"
        elif questions:
            state = "pending"
        elif off_study_on and (end is None or off_study_on < end.date()):
            state = "not evaluable"
        elif end is not None and end <= now:
            state = "G" if any(ae.related and ae.grade >= dlt.TOX2_MIN_GRADE for ae in in_window) else "N"
        else:
            state = "pending"
        if end is not None and end > now and (next_change is None or end < next_change):
            next_change = end
        if state in ("N", "G", "T"):
            outcomes.append(Outcome(dose_level=number, dlt=state == "T", tox2=state == "G"))
        elif state == "pending":
            pending.append(number)
        facts.append({
            "subject": code,
            "level": number,
            "first_dose": _iso(first),
            "off_study_on": _iso(off_study_on),
            "window_closed": end is not None and end <= now,
            "adverse_events": [
                {"id": ae.pk, "term": ae.term, "grade": ae.grade, "attribution": ae.attribution,
                 "dlt": ae.is_dlt, "onset": _iso(ae.onset_date)}
                for ae in in_window
            ],
            "state": state,
            "open": questions,
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
    return Evidence(levels=levels, outcomes=outcomes, pending=pending, facts=canonical, sha256=digest,
                    open_items=open_items, next_change=next_change)


def current_cohort(trial: Trial) -> Cohort | None:
    """The cohort being enrolled or observed (not yet decided), if any."""
    return trial.cohorts.filter(escalation=True).exclude(status=Cohort.Status.DECIDED).order_by("-number").first()


# --------------------------------------------------------------------------------------------------
# Why a cohort is in the state it is in (issue 8, point 12)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortState:
    """A cohort's state in words: open, or why it is not (no subject data: safe for any role)."""

    cohort: Cohort
    taken: int
    key: str  # open | awaiting | signature | concurrence | rejected | invalidated | decided
    headline: str
    detail: str = ""
    decision: EscalationDecision | None = None

    BADGES = {"open": "open", "awaiting": "full", "signature": "pending", "concurrence": "pending",
              "rejected": "rejected", "invalidated": "invalidated", "decided": "approved"}

    @property
    def badge(self) -> str:
        return self.BADGES[self.key]

    @property
    def places(self) -> str:
        return f"{self.taken} of {self.cohort.capacity} place{'s' if self.cohort.capacity != 1 else ''} taken"


def _count_phrase(items: list[OpenItem]) -> str:
    counts = {}
    for item in items:
        counts[item.needs_label] = counts.get(item.needs_label, 0) + 1
    return ", ".join(f"{n} adverse event{'s' if n != 1 else ''} awaiting {what}" for what, n in counts.items())


def _cohort_decisions(cohort: Cohort) -> list[EscalationDecision]:
    """The cohort's decisions, newest first, with their signatures (prefetched by :func:`cohort_dashboard`,
    else read here in two queries). Their stored ``data`` is not loaded: a state never shows it."""
    cache = getattr(cohort, "_prefetched_objects_cache", {})
    if "decisions" in cache:
        return list(cohort.decisions.all())
    return list(_decisions_for_state(cohort.decisions.all()))


def _decisions_for_state(decisions):
    return (decisions.defer("data").select_related("next_dose_level", "recommended_dose_level",
                                                   "decided_next_dose_level")
            .prefetch_related("signatures").order_by("-created_at", "-pk"))


def cohort_state(cohort: Cohort, *, now: datetime | None = None, evidence: Evidence | None = None) -> CohortState:
    """Open for enrolment, or why not: awaiting the decision on its DLT windows (and what that decision
    still waits for), a decision awaiting a signature, decided (by which decision), or closed because the
    decision that opened it was invalidated.

    ``evidence``: the trial's escalation evidence when the caller has it already (the dashboard), else it is
    computed when needed. A cohort annotated with ``taken`` (its subjects) and prefetched ``decisions``
    (:func:`cohort_dashboard`) costs no query."""
    taken = cohort.taken if hasattr(cohort, "taken") else cohort.subjects.count()
    if not cohort.escalation:  # a later part's cohort: open until it reaches its target size
        if cohort.status == Cohort.Status.OPEN:
            return CohortState(cohort, taken, "open", f"Open for enrolment ({cohort.part.name})" if cohort.part_id
                               else "Open for enrolment")
        return CohortState(cohort, taken, "decided", "Closed: target size reached")
    if cohort.status == Cohort.Status.DECIDED:
        decisions = _cohort_decisions(cohort)
        decided = next((d for d in decisions
                        if any(s.meaning == "approved" for s in d.signatures.all())), None)
        if decided is None:
            return CohortState(cohort, taken, "decided", "Decided")
        text = f"Decided: {decided.decided_summary}"
        if decided.status != EscalationDecision.Status.APPROVED:
            text += f" ({decided.get_status_display().lower()})"
        return CohortState(cohort, taken, "decided", text, decision=decided)
    opener = cohort.opened_by
    if opener is not None and opener.status == EscalationDecision.Status.INVALIDATED:
        return CohortState(
            cohort, taken, "invalidated",
            "Closed: the decision that opened it was invalidated",
            "The data it was made on changed after it was signed; a new decision is made from the current data.",
            decision=opener,
        )
    if cohort.status == Cohort.Status.OPEN:
        return CohortState(cohort, taken, "open", "Open for enrolment")
    decisions = _cohort_decisions(cohort)
    waiting = next((d for d in decisions if d.status in (EscalationDecision.Status.PENDING,
                                                         EscalationDecision.Status.CONCURRENCE)), None)
    if waiting is not None:
        who = ("the sponsor's concurrence" if waiting.status == EscalationDecision.Status.CONCURRENCE
               else "the investigator's signature")
        return CohortState(cohort, taken, waiting.status if waiting.status == "concurrence" else "signature",
                           f"Closed: its decision awaits {who}", waiting.summary, decision=waiting)
    last = decisions[0] if decisions else None
    if last is not None and last.status == EscalationDecision.Status.REJECTED:
        return CohortState(cohort, taken, "rejected", "Closed: its decision was rejected",
                           "A new decision is made when the data change.", decision=last)
    evidence = evidence or escalation_evidence(cohort.trial, now=now or timezone.now())
    detail = ""
    if evidence.open_items:
        detail = f"Waiting for {_count_phrase(evidence.open_items)}."
    elif evidence.pending:
        detail = f"{len(evidence.pending)} subject{'s' if len(evidence.pending) != 1 else ''} still in the DLT window."
    return CohortState(cohort, taken, "awaiting", "Closed: awaiting the decision on its DLT windows", detail)


# --------------------------------------------------------------------------------------------------
# The sponsor's dashboard (no subject identifiers)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelRow:
    label: str
    enrolled: int
    evaluable: int
    dlts: int
    pending: int = 0
    awaiting: int = 0  # adverse events awaiting adjudication or attribution


def cohort_dashboard(trial: Trial, *, now: datetime) -> dict:
    """Per dose level: enrolled / evaluable / DLT counts, and the decisions. No subject identifiers."""
    evidence = escalation_evidence(trial, now=now)
    enrolled = dict(  # the dose-escalation part's subjects (each part reports separately)
        trial.dose_levels.annotate(n=Count("subjects", filter=Q(subjects__cohort__escalation=True)))
        .values_list("pk", "n")
    )
    rows = []
    for number, level in enumerate(evidence.levels, 1):
        at_level = [o for o in evidence.outcomes if o.dose_level == number]
        rows.append(LevelRow(
            label=level.label,
            enrolled=enrolled.get(level.pk, 0),
            evaluable=len(at_level),
            dlts=sum(o.dlt for o in at_level),
            pending=evidence.pending.count(number),
            awaiting=sum(1 for item in evidence.open_items if item.level == number),
        ))
    decisions = (  # their stored data (the evidence, often large) is not shown here: not loaded
        EscalationDecision.objects.filter(trial=trial).defer("data")
        .select_related("cohort__dose_level", "next_dose_level", "recommended_dose_level")
        .prefetch_related("signatures")
        .order_by("created_at")
    )
    cohorts = (
        trial.cohorts.select_related("dose_level", "opened_by", "part").defer("opened_by__data")
        .annotate(taken=Count("subjects"))
        .prefetch_related(Prefetch("decisions", queryset=_decisions_for_state(EscalationDecision.objects.all())))
    )
    states = [cohort_state(c, now=now, evidence=evidence) for c in cohorts]
    # The evidence too, so the dashboard's pictures (escalation.dashboard) need not compute it again.
    return {"levels": rows, "decisions": decisions, "cohorts": states, "parts": part_rows(trial),
            "evidence": evidence}


# --------------------------------------------------------------------------------------------------
# A decision's data, as each role may see it (issue 8, point 11)
# --------------------------------------------------------------------------------------------------


def _first_day(first_dose: str | None):
    return timezone.localtime(datetime.fromisoformat(first_dose)).date() if first_dose else None


def _onset_day(ae: dict, first_day) -> int | None:
    return dlt.study_day(date.fromisoformat(ae["onset"]), first_day) if first_day else None


def _level_labels(decision: EscalationDecision) -> dict[int, str]:
    return {lv["number"]: lv["label"] for lv in decision.data.get("evidence", {}).get("levels", [])}


@dataclass(frozen=True)
class DecisionLevel:
    label: str
    subjects: int
    evaluable: int
    dlts: int
    tox2: int
    pending: int
    not_evaluable: int


def decision_levels(decision: EscalationDecision) -> list[DecisionLevel]:
    """Per dose level of the data a decision was made on: subjects and their outcomes, counted."""
    facts = decision.data.get("evidence", {}).get("subjects", [])
    rows = []
    for number, label in sorted(_level_labels(decision).items()):
        states = [f["state"] for f in facts if f["level"] == number]
        if not states:
            continue
        rows.append(DecisionLevel(
            label=label, subjects=len(states), evaluable=sum(s in ("N", "G", "T") for s in states),
            dlts=states.count("T"), tox2=states.count("G"), pending=states.count("pending"),
            not_evaluable=states.count("not evaluable"),
        ))
    return rows


@dataclass(frozen=True)
class DecisionDlt:
    level: str
    term: str
    grade: int
    study_day: int | None


def decision_dlts(decision: EscalationDecision) -> list[DecisionDlt]:
    """The DLTs the decision counted: level, CTCAE term, grade, study day of onset (no subject)."""
    labels = _level_labels(decision)
    rows = []
    for f in sorted(decision.data.get("evidence", {}).get("subjects", []), key=lambda f: f["level"]):
        first_day = _first_day(f.get("first_dose"))
        level = labels.get(f["level"], str(f["level"]))
        rows += [DecisionDlt(level, ae["term"], ae["grade"], _onset_day(ae, first_day))
                 for ae in f.get("adverse_events", []) if ae.get("dlt")]
    return rows


@dataclass(frozen=True)
class DecisionSubject:
    subject: Subject | None  # None: a subject at a site the viewer is not staff of
    level: str
    first_dose: datetime | None
    window_closed: bool
    events: list[dict]  # term, grade, dlt, study_day
    state: str
    open: list[dict]


def decision_subjects(decision: EscalationDecision, visible) -> list[DecisionSubject]:
    """Per subject of the decision's data, for site staff: ``visible`` (the subjects the viewer may see)
    are named with their first dose; a subject at another site shows study days only."""
    labels = _level_labels(decision)
    facts = decision.data.get("evidence", {}).get("subjects", [])
    known = {s.code: s for s in visible.filter(code__in=[f["subject"] for f in facts])}
    rows = []
    for f in facts:
        subject = known.get(f["subject"])
        first_day = _first_day(f.get("first_dose"))
        events = [{"term": ae["term"], "grade": ae["grade"], "dlt": ae.get("dlt"),
                   "study_day": _onset_day(ae, first_day)} for ae in f.get("adverse_events", [])]
        rows.append(DecisionSubject(
            subject=subject, level=labels.get(f["level"], str(f["level"])),
            first_dose=datetime.fromisoformat(f["first_dose"]) if subject and f.get("first_dose") else None,
            window_closed=f.get("window_closed", False), events=events, state=f["state"],
            open=f.get("open", []) if subject else [],
        ))
    return rows


# --------------------------------------------------------------------------------------------------
# Work queues (issue 8, points 1 and 12)
# --------------------------------------------------------------------------------------------------


def _decisions_awaiting(user, status: str, role: str):
    return EscalationDecision.objects.filter(
        status=status, trial__memberships__user=user, trial__memberships__role=role,
    ).distinct()


def open_decisions_for_investigator(user):
    """Decisions awaiting the signature of the user as an investigator of their trial."""
    from trials.models import Role

    return _decisions_awaiting(user, EscalationDecision.Status.PENDING, Role.INVESTIGATOR)


def decisions_awaiting_concurrence(user):
    """Decisions awaiting the concurrence of the user as a sponsor of their trial."""
    from trials.models import Role

    return _decisions_awaiting(user, EscalationDecision.Status.CONCURRENCE, Role.SPONSOR)


def dlts_to_adjudicate(user):
    """Proposed DLTs at the sites where the user is an investigator (the AE page adjudicates)."""
    from subjects.models import AdverseEvent
    from trials.models import Role

    return (
        AdverseEvent.objects.filter(dlt_status=AdverseEvent.DltStatus.PROPOSED,
                                    subject__in=Subject.objects.filter(at_staff_sites(user, [Role.INVESTIGATOR])))
        .select_related("subject__trial").order_by("subject__trial__code", "onset_date", "pk")
    )


def attribution_missing(user):
    """Adverse events at the user's sites whose attribution is not yet assessed."""
    from subjects.models import AdverseEvent

    return (
        AdverseEvent.objects.filter(attribution="", subject__in=Subject.objects.filter(at_staff_sites(user)))
        .select_related("subject__trial").order_by("subject__trial__code", "onset_date", "pk")
    )


def open_items_for(user, trial: Trial, *, now: datetime, evidence: Evidence | None = None) -> list[OpenItem]:
    """What the next escalation decision of ``trial`` waits for, at the sites where the user is staff."""
    from trials.access import sites_for

    if not trial.escalates:
        return []
    sites = set(sites_for(user, trial).values_list("pk", flat=True))
    if not sites:
        return []
    evidence = evidence or escalation_evidence(trial, now=now)
    return [item for item in evidence.open_items if item.site_id in sites]


def escalation_blockers(events, *, now: datetime) -> set[int]:
    """Of ``events`` (adverse events awaiting a judgement, loaded with ``subject__trial``, as the home
    page lists them), the ids of those that hold up a dose-escalation decision: the evidence's open items
    (:func:`escalation_evidence`, trialrules.dlt) — in the DLT window of a subject of an escalation
    cohort, and awaiting adjudication or attribution. One query for their subjects (escalation cohort,
    titration level, first dose as the evidence reads it), however many trials the user works in (the
    evidence of every trial is not built for this)."""
    events = [ae for ae in events if ae.subject.trial.escalates]
    if not events:
        return set()
    subjects = {
        pk: (titration, first)
        for pk, titration, first in Subject.objects.filter(pk__in={ae.subject_id for ae in events},
                                                           cohort__escalation=True)
        .annotate(first_dose_at=_first_dose_at(OuterRef("pk")))
        .values_list("pk", "dose_level__titration", "first_dose_at")
    }
    ids = set()
    for ae in events:
        trial = ae.subject.trial
        titration, first_dose = subjects.get(ae.subject_id, (False, None))
        if first_dose is None:  # not an escalation subject, or not dosed yet
            continue
        first_day = timezone.localtime(first_dose).date()
        if not dlt.onset_in_window(ae.onset_date, first_day, trial.dlt_window_days or 0):
            continue
        if dlt.open_question(grade=ae.grade, attributed=ae.attribution != "", proposed=ae.dlt_status == "proposed",
                             in_window=True, min_grade=dlt.min_grade(trial.definition.get("escalation")),
                             tox2_matters=titration):
            ids.add(ae.pk)
    return ids


def stopping_decision(trial: Trial) -> EscalationDecision | None:
    """The approved decision that stopped escalation (not overridden to go on), if escalation has stopped."""
    return (trial.decisions.filter(status=EscalationDecision.Status.APPROVED, continue_trial=False,
                                   decided_next_dose_level__isnull=True)
            .select_related("recommended_dose_level", "cohort").order_by("-created_at").first())


def part_rows(trial: Trial) -> list[dict]:
    """Each part with its cohorts: enrolled against target, status (no subject identifiers)."""
    rows = []
    cohorts = list(Cohort.objects.filter(trial=trial).select_related("dose_level").annotate(n=Count("subjects"))
                   .order_by("number"))
    enrolled = {c.pk: c.n for c in cohorts}
    stopped = stopping_decision(trial) is not None
    for part in trial.parts.order_by("order"):
        mine = [c for c in cohorts if c.part_id == part.pk]
        state = part.get_status_display()
        if part.kind == Part.Kind.ESCALATION and part.status == Part.Status.OPEN and stopped:
            state = "Escalation stopped: RP2D to declare"
        rows.append({"part": part, "state": state, "cohorts": [{"cohort": c, "enrolled": enrolled[c.pk]} for c in mine],
                     "enrolled": sum(enrolled[c.pk] for c in mine),
                     "target": None if part.kind == Part.Kind.ESCALATION else sum(c.capacity for c in mine) or None})
    return rows


def trials_to_review(*, now: datetime) -> list[tuple[int, int]]:
    """The escalating trials the periodic review must evaluate, with their change counter now: never reviewed,
    changed since (``TrialChange.seq`` past ``CohortReview.seen``: escalation.changes), or with a DLT window
    that has closed since (``CohortReview.due_at``). One query, served by the two tables' primary keys."""
    return list(
        Trial.objects.exclude(design=Trial.Design.FIXED_DOSE)
        .annotate(seq=Coalesce(F("escalation_change__seq"), Value(0), output_field=BigIntegerField()))
        .filter(Q(escalation_review__isnull=True) | Q(escalation_review__seen__lt=F("seq"))
                | Q(escalation_review__due_at__lte=now))
        .order_by("pk").values_list("pk", "seq")
    )
