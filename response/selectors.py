"""Reads for tumour response and survival: one subject's time points and best overall response, and a trial's
efficacy endpoints (ORR, DCR, DoR, PFS, OS) overall, per dose level, per cohort and per tumour type, with
the data behind each picture.

Scope: the subjects come from ``trials.access`` — site staff see the subjects of their sites
(:func:`trials.access.subjects_for`); a sponsor sees the whole trial de-identified: subjects become
"Subject 1", "Subject 2"… in enrolment order, and no date leaves the server (times are counted from the
first dose). The rules are the pure modules: ``trialrules.bor`` (best overall response as admiralonco),
``trialrules.censoring`` (FDA 2018 censoring), ``trialrules.survival`` (Kaplan–Meier as R survival) .
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from response import charts
from response.models import TumourAssessment
from subjects.models import Subject
from trialrules import bor as bor_rules
from trialrules import censoring, response_parameters, survival
from trials.access import is_sponsor_only, subjects_for
from trials.models import Trial

DAYS_PER_MONTH = 30.4375  # 365.25 / 12: time-to-event endpoints are shown in months
RESPONDERS = ("CR", "PR")
DISEASE_CONTROL = ("CR", "PR", "SD", "NON-CR/NON-PD")
GROUPINGS = OrderedDict([("all", "All treated"), ("part", "Part"), ("dose_level", "Dose level"),
                         ("cohort", "Cohort"), ("tumour_type", "Tumour type")])


def parameters(trial: Trial) -> dict:
    return response_parameters.parameters(trial.definition or {})


def bor_options(trial: Trial) -> bor_rules.BorOptions:
    p = parameters(trial)
    return bor_rules.BorOptions(ref_start_window=p["ref_start_window"], ref_confirm=p["ref_confirm"],
                                max_nr_ne=p["max_nr_ne"], accept_sd=p["accept_sd"], confirmed=p["confirmation"])


def censoring_rules(trial: Trial) -> censoring.Rules:
    p = parameters(trial)
    return censoring.Rules(assessment_interval_days=p["assessment_interval_days"], missed_allowed=p["missed_allowed"],
                           visit_window_days=p["assessment_window_days"])


def _local_date(moment) -> date:
    return timezone.localtime(moment).date()


@dataclass
class SubjectEfficacy:
    """What the endpoints read of one treated subject."""

    subject: Subject
    label: str
    first_dose: date
    assessments: list[TumourAssessment]
    bor: bor_rules.Bor
    best_pct: float | None
    progression: date | None
    death: date | None
    last_known_alive: date | None
    new_therapy: date | None
    treatment_end: date | None
    ongoing: bool
    pfs: censoring.TimeToEvent | None
    os: censoring.TimeToEvent | None
    dor: censoring.TimeToEvent | None
    unreviewed: int = 0
    # Facts that cannot be (a scan after the date of death): the subject is left out of the time-to-event
    # endpoints and listed with this, to be corrected.
    problem: str = ""
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def responder(self) -> bool:
        return self.bor.bor in RESPONDERS


def subject_part_name(subject: Subject) -> str:
    """The part a subject was enrolled in (each part reports separately)."""
    if subject.cohort_id and subject.cohort.part_id:
        return subject.cohort.part.name
    return "Dose escalation" if subject.trial.escalates else "Single arm"


def _subjects_with_data(queryset: QuerySet[Subject]) -> QuerySet[Subject]:
    return queryset.select_related(
        "trial", "dose_level", "cohort__dose_level", "cohort__part", "follow_up").prefetch_related(
        "doses", "visits",
        Prefetch("tumour_assessments", queryset=TumourAssessment.objects.order_by("assessed_on"),
                 to_attr="live_assessments"),
    )


def _follow_up(subject: Subject):
    try:
        return subject.follow_up
    except Subject.follow_up.RelatedObjectDoesNotExist:
        return None


def subject_efficacy(subject: Subject, *, trial: Trial, label: str, today: date,
                     options: bor_rules.BorOptions | None = None,
                     rules: censoring.Rules | None = None) -> SubjectEfficacy | None:
    """The endpoints' view of one subject; None when the subject has not been treated (no dose)."""
    doses = sorted(_local_date(d.administered_at) for d in subject.doses.all())
    if not doses:
        return None
    first_dose = doses[0]
    options = options or bor_options(trial)
    rules = rules or censoring_rules(trial)
    assessments = getattr(subject, "live_assessments", None)
    if assessments is None:
        assessments = list(subject.tumour_assessments.order_by("assessed_on"))
    followups = [a for a in assessments if not a.baseline and a.overall]
    points = [bor_rules.Assessment(date=a.assessed_on, response=a.overall) for a in followups]
    best = bor_rules.best_overall_response(points, first_dose, options)
    changes = [float(a.change_from_baseline_pct) for a in followups if a.change_from_baseline_pct is not None]
    follow_up = _follow_up(subject)
    imaging_pd = bor_rules.first_progression(points)
    clinical_pd = follow_up.clinical_progression if follow_up else None
    progression = min((d for d in (imaging_pd, clinical_pd) if d is not None), default=None)
    death = follow_up.follow_up_end if follow_up and follow_up.follow_up_end_reason == "death" else None
    contacts = [*doses, *(a.assessed_on for a in assessments),
                *(v.done_on for v in subject.visits.all() if v.done_on is not None)]
    if follow_up and follow_up.last_known_alive:
        contacts.append(follow_up.last_known_alive)
    # After a death, OS is the death: the contacts matter only to find a contact dated after it (a problem).
    last_alive = max(contacts) if contacts else None
    lost = (follow_up.follow_up_end if follow_up and follow_up.follow_up_end_reason in ("lost", "withdrawn")
            else None)
    # Duration of response runs from the first documented CR or PR (a PR later deepened to a CR counts from
    # the PR), up to the assessment that made the best response.
    response_start = None
    if best.bor in RESPONDERS and best.date is not None:
        response_start = min((p.date for p in points if p.response in RESPONDERS and p.date <= best.date),
                             default=best.date)
    facts = censoring.SubjectFacts(
        subject=subject.code, start=first_dose,
        assessments=tuple((a.assessed_on, a.overall) for a in followups),
        progression=progression, death=death, last_known_alive=last_alive,
        new_therapy=follow_up.new_therapy if follow_up else None, response_start=response_start,
        lost_or_withdrawn=lost)
    treatment_end = follow_up.last_dose if follow_up and follow_up.last_dose else None
    ongoing = treatment_end is None and death is None and not (follow_up and follow_up.follow_up_end)
    problem = ""
    try:
        times = (censoring.pfs(facts, rules), censoring.overall_survival(facts, rules),
                 censoring.duration_of_response(facts, rules))
    except censoring.CensoringInputError as exc:
        times, problem = (None, None, None), str(exc)
    return SubjectEfficacy(
        subject=subject, label=label, first_dose=first_dose, assessments=assessments, bor=best,
        best_pct=min(changes) if changes else None, progression=progression, death=death,
        last_known_alive=last_alive, new_therapy=facts.new_therapy, treatment_end=treatment_end or doses[-1],
        ongoing=ongoing, pfs=times[0], os=times[1], dor=times[2], problem=problem,
        unreviewed=sum(1 for a in followups if not a.reviewed),
        groups={
            "all": "All treated",
            "part": subject_part_name(subject),
            "dose_level": str(subject.dose_level) if subject.dose_level_id else "No dose level",
            "cohort": (f"{subject.cohort.name} ({subject.cohort.dose_level})" if subject.cohort_id
                       else "No cohort"),
            "tumour_type": subject.tumour_type or "Not recorded",
        },
    )


def subject_response(subject: Subject, *, today: date | None = None) -> dict:
    """One subject's page: baseline lesions, time points with their measurements, best overall response."""
    today = today or timezone.localdate()
    assessments = list(subject.tumour_assessments.order_by("assessed_on").prefetch_related("measurements__lesion"))
    subject.live_assessments = assessments  # what subject_efficacy reads: not fetched a second time
    lesions = list(subject.lesions.all())
    efficacy = subject_efficacy(subject, trial=subject.trial, label=subject.code, today=today)
    baseline = next((a for a in assessments if a.baseline), None)
    rows = []
    for assessment in assessments:
        by_lesion = {m.lesion_id: m for m in assessment.measurements.all()}
        rows.append({"assessment": assessment, "cells": [by_lesion.get(lesion.pk) for lesion in lesions]})
    return {"assessments": assessments, "rows": rows, "lesions": lesions, "baseline": baseline,
            "efficacy": efficacy, "parameters": parameters(subject.trial),
            "voided": list(TumourAssessment.all_objects.filter(subject=subject, voided_at__isnull=False))}


def _cohort_number(subject):
    return subject.cohort.number if subject.cohort_id else None


def efficacy_subjects(user, trial: Trial, *, today: date | None = None) -> tuple[list[SubjectEfficacy], bool]:
    """The treated subjects the user may see with their endpoint facts, and whether they are de-identified
    (a sponsor: the whole trial, labelled by enrolment order)."""
    today = today or timezone.localdate()
    deidentified = is_sponsor_only(user, trial)
    queryset = Subject.objects.filter(trial=trial) if deidentified else subjects_for(user, trial)
    return efficacy_rows(trial, queryset, deidentified=deidentified, today=today), deidentified


def efficacy_rows(
    trial: Trial, queryset: QuerySet[Subject], *, deidentified: bool, today: date
) -> list[SubjectEfficacy]:
    """The endpoint facts of the treated subjects of ``queryset`` (labelled "Subject n" by enrolment order when
    ``deidentified``)."""
    subjects = _subjects_with_data(queryset).order_by("enrolled_at", "pk")
    options, rules = bor_options(trial), censoring_rules(trial)
    found = []
    for number, subject in enumerate(subjects, 1):
        label = f"Subject {number}" if deidentified else subject.code
        row = subject_efficacy(subject, trial=trial, label=label, today=today, options=options, rules=rules)
        if row is not None:
            found.append(row)
    return found


def _months(days: int) -> float:
    return round(days / DAYS_PER_MONTH, 3)


def _km(rows: list[censoring.TimeToEvent], group: str) -> survival.KaplanMeier | None:
    if not rows:
        return None
    return survival.kaplan_meier([_months(r.days) for r in rows], [r.event for r in rows], group=group)


def _rate(k: int, n: int) -> dict:
    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "lower": None, "upper": None}
    rate, lower, upper = survival.exact_rate(k, n)
    return {"k": k, "n": n, "rate": rate, "lower": lower, "upper": upper}


def endpoint_table(rows: list[SubjectEfficacy], grouping: str) -> list[dict]:
    """One row per group: n, BOR counts, ORR and DCR with exact 95 % intervals, and the medians of DoR, PFS
    and OS (months) with their 95 % intervals."""
    groups: OrderedDict[str, list[SubjectEfficacy]] = OrderedDict()
    for row in sorted(rows, key=lambda r: _group_order(r, grouping)):
        groups.setdefault(row.groups[grouping], []).append(row)
    table = []
    for name, members in groups.items():
        counts = OrderedDict((b, 0) for b in ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"))
        for member in members:
            counts[member.bor.bor] = counts.get(member.bor.bor, 0) + 1
        responders = sum(1 for m in members if m.bor.bor in RESPONDERS)
        controlled = sum(1 for m in members if m.bor.bor in DISEASE_CONTROL)
        table.append({
            "group": name, "n": len(members), "counts": counts,
            "orr": _rate(responders, len(members)), "dcr": _rate(controlled, len(members)),
            "dor": _km([m.dor for m in members if m.dor is not None], name),
            "pfs": _km([m.pfs for m in members if m.pfs is not None], name),
            "os": _km([m.os for m in members if m.os is not None], name),
        })
    return table


def _group_order(row: SubjectEfficacy, grouping: str):
    if grouping == "dose_level":
        level = row.subject.dose_level
        return (0 if level else 1, level.rank if level else 0)
    if grouping == "cohort":
        return (0, _cohort_number(row.subject) or 0)
    if grouping == "part":
        part = row.subject.cohort.part if row.subject.cohort_id and row.subject.cohort.part_id else None
        return (0, part.order if part else 0)
    return (0, row.groups[grouping])


def efficacy_overview(user, trial: Trial, *, grouping: str = "all", today: date | None = None) -> dict:
    """Everything the efficacy page shows: the endpoint tables for every grouping, the per-subject listing,
    and the Vega-Lite specs of the waterfall, spider, swimmer and Kaplan–Meier pictures (grouped by
    ``grouping``)."""
    today = today or timezone.localdate()
    if grouping not in GROUPINGS:
        grouping = "all"
    rows, deidentified = efficacy_subjects(user, trial, today=today)
    table = endpoint_table(rows, grouping)
    return {
        "rows": rows, "deidentified": deidentified, "grouping": grouping, "groupings": GROUPINGS,
        "grouping_label": GROUPINGS[grouping], "table": table,
        "parameters": parameters(trial), "unreviewed": sum(r.unreviewed for r in rows),
        "problems": [r for r in rows if r.problem],
        "figures": figures(rows, grouping, today=today, table=table) if rows else [],
    }


def _weeks(start: date, end: date) -> float:
    return round((end - start).days / 7, 2)


def chart_data(rows: list[SubjectEfficacy], grouping: str, *, today: date, table: list[dict]) -> dict:
    """The rows behind each picture (no date leaves: weeks or months since the first dose); the Kaplan–Meier
    curves are those of ``table`` (:func:`endpoint_table` of the same grouping)."""
    waterfall = [{"subject": r.label, "best_pct": r.best_pct, "bor": r.bor.bor, "group": r.groups[grouping]}
                 for r in rows if r.best_pct is not None]
    spider = []
    for r in rows:
        points = [a for a in r.assessments if a.change_from_baseline_pct is not None or a.baseline]
        for a in points:
            pct = 0.0 if a.baseline else float(a.change_from_baseline_pct)
            spider.append({"subject": r.label, "week": max(0.0, _weeks(r.first_dose, a.assessed_on)) if not a.baseline
                           else 0.0, "pct": pct, "group": r.groups[grouping]})
    swimmer = []
    for r in rows:
        end = today if r.ongoing else (r.treatment_end or today)
        events = []
        seen = set()
        for a in r.assessments:
            if a.baseline or a.overall not in ("CR", "PR", "PD") or a.overall in seen:
                continue
            seen.add(a.overall)
            events.append({"week": _weeks(r.first_dose, a.assessed_on), "kind": a.overall})
        if r.progression and "PD" not in seen:
            events.append({"week": _weeks(r.first_dose, r.progression), "kind": "PD"})
        if r.death:
            events.append({"week": _weeks(r.first_dose, r.death), "kind": "death"})
        swimmer.append({"subject": r.label, "weeks_on_treatment": max(_weeks(r.first_dose, end), 0.0),
                        "ongoing": r.ongoing, "group": r.groups[grouping], "events": events})
    km = {}
    for endpoint in ("pfs", "os"):  # the table's estimates, in its group order: not estimated twice
        curves = [group[endpoint] for group in table if group[endpoint] is not None]
        horizon = max((p.time for c in curves for p in c.curve), default=0)
        step = 3 if horizon <= 24 else 6
        times = [float(t) for t in range(0, int(horizon) + step, step)]
        km[endpoint] = {"curves": curves, "times": times}
    return {"waterfall": waterfall, "spider": spider, "swimmer": swimmer, "km": km}


def _curve_rows(estimate: survival.KaplanMeier) -> list[dict]:
    return [{"time": p.time, "n_risk": p.n_risk, "n_event": p.n_event, "survival": p.survival, "lower": p.lower,
             "upper": p.upper} for p in estimate.curve]


def _fmt(value, digits=1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def figures(rows: list[SubjectEfficacy], grouping: str, *, today: date, table: list[dict]) -> list[dict]:
    """The pictures of the efficacy page: each a Vega-Lite spec (``response.charts``) with its title and the
    same data as a table (shown under the picture, for reading and for screen readers)."""
    data = chart_data(rows, grouping, today=today, table=table)
    found = []
    if data["waterfall"]:
        found.append({"name": "waterfall", "title": "Best percentage change in the sum of target lesions",
                      "spec": charts.waterfall(data["waterfall"]),
                      "table": {"head": ["Subject", "Group", "Best % change", "Best overall response"],
                                "rows": [[r["subject"], r["group"], _fmt(r["best_pct"]), r["bor"]]
                                         for r in sorted(data["waterfall"], key=lambda r: -r["best_pct"])]}})
    if data["spider"]:
        found.append({"name": "spider", "title": "Change in the sum of target lesions over time",
                      "spec": charts.spider(data["spider"]),
                      "table": {"head": ["Subject", "Group", "Week", "% change"],
                                "rows": [[r["subject"], r["group"], _fmt(r["week"]), _fmt(r["pct"])]
                                         for r in data["spider"]]}})
    if data["swimmer"]:
        found.append({"name": "swimmer", "title": "Time on treatment with responses and progression",
                      "spec": charts.swimmer(data["swimmer"]),
                      "table": {"head": ["Subject", "Group", "Weeks on treatment", "Ongoing", "Events"],
                                "rows": [[r["subject"], r["group"], _fmt(r["weeks_on_treatment"]),
                                          "yes" if r["ongoing"] else "no",
                                          ", ".join(f"{e['kind']} wk {_fmt(e['week'])}" for e in r["events"])]
                                         for r in data["swimmer"]]}})
    for endpoint, title in (("pfs", "Progression-free survival"), ("os", "Overall survival")):
        km = data["km"][endpoint]
        if not km["curves"]:
            continue
        curves = [{"group": c.group, "curve": _curve_rows(c), "at_risk": c.at_risk(km["times"])} for c in km["curves"]]
        found.append({"name": endpoint, "title": f"{title} (Kaplan–Meier)",
                      # Bands of more than two groups hide each other: then the curves alone (the table has them).
                      "spec": charts.kaplan_meier(curves, km["times"], x_title="Months since first dose",
                                                  ci=len(curves) <= 2),
                      "table": {"head": ["Group", *(f"At risk, month {t:g}" for t in km["times"])],
                                "rows": [[c["group"], *c["at_risk"]] for c in curves]}})
    for figure in found:
        figure["id"] = f"spec-{figure['name']}"
    return found
