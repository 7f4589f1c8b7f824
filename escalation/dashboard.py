"""The cohort dashboard's pictures and listings (docs/dashboard.md): the escalation path, the DLT listing by
dose level, cumulative enrolment per site and overdue visits per site, as plain rows for the page's tables,
the JSON API and the Vega-Lite specs of ``escalation.charts``.

Who sees what: a sponsor never sees a subject code, initials, a date of birth or a date of a subject's
clinical data — subjects are named by their enrolment number ("#3") and DLTs by study day. Site staff
(coordinators and investigators) see, in the same pictures, the codes of the subjects of the sites where
they hold a site role (``trials.access.sites_for``), and enrolment numbers for the other sites' subjects, as
``escalation.selectors.decision_subjects`` does.

The per-subject outcome (N, G, T, pending, not evaluable) and the DLTs are the engine's own
(``escalation.selectors.escalation_evidence``): no DLT rule is repeated here. The queries are few and fixed
in number whatever the number of subjects, cohorts, sites and events: the evidence's (three), the
escalation subjects in enrolment order (one), enrolment counts per site and day (one aggregate), and the
overdue counts per site (``visits.selectors.overdue_counts_by_site``: two, one when the trial's sites are
prefetched); the viewer's sites are given by the caller (``trials.access.site_ids_for``) or read (one).
The decisions and the evidence are those :func:`escalation.selectors.cohort_dashboard` has loaded already
(passed in; the evidence's three queries are then not repeated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from escalation import charts
from escalation.models import EscalationDecision
from escalation.selectors import Evidence, escalation_evidence
from subjects.models import Subject
from trialrules import dlt
from trials.access import sites_for
from trials.models import Trial
from visits.selectors import overdue_counts_by_site

AWAITING = (EscalationDecision.Status.PENDING, EscalationDecision.Status.CONCURRENCE)


# --- pure: rows in, rows out -----------------------------------------------------------------------------

def path_rows(subjects: Sequence[Mapping], states: Mapping[str, str], visible_sites: Iterable[int]) -> list[dict]:
    """The escalation path's rows: ``subjects`` in enrolment order (``{"code", "site_id", "site", "level",
    "cohort"}``), ``states`` the engine's state per subject code. A subject at one of ``visible_sites`` is
    labelled with its code, any other with its enrolment number; ``code`` is None for those."""
    visible = set(visible_sites)
    rows = []
    for order, subject in enumerate(subjects, 1):
        shown = subject["site_id"] in visible
        rows.append({
            "order": order,
            "subject": subject["code"] if shown else f"#{order}",
            "code": subject["code"] if shown else None,
            "site": subject["site"],
            "level": subject["level"],
            "cohort": subject["cohort"],
            "state": states.get(subject["code"], "pending"),
        })
    return rows


def decision_kind(*, continue_trial: bool, cohort_rank, next_rank) -> str:
    """What a decision did to the dose: escalate, stay or de-escalate (by the ranks of the cohort's level and
    the next one), or stop."""
    if not continue_trial or next_rank is None:
        return "stop"
    if next_rank > cohort_rank:
        return "escalate"
    return "stay" if next_rank == cohort_rank else "de-escalate"


def boundary_rows(path: Sequence[Mapping], decisions: Sequence[Mapping]) -> list[dict]:
    """A rule after each cohort of ``path`` that has a decision: the approved one (the newest, if several),
    else one awaiting a signature or the sponsor's concurrence. ``decisions``: ``{"id", "cohort", "status",
    "kind", "text", "created_at"}`` (oldest first), ``kind`` as :func:`decision_kind` says. A cohort's rule
    lies half-way between its last subject and the next one."""
    last: dict[str, int] = {}
    for row in path:
        last[row["cohort"]] = max(last.get(row["cohort"], 0), row["order"])
    chosen: dict[str, Mapping] = {}
    for decision in decisions:
        cohort = decision["cohort"]
        if cohort not in last:
            continue
        approved = decision["status"] == EscalationDecision.Status.APPROVED
        awaiting = decision["status"] in AWAITING and chosen.get(cohort, {}).get("status") != "approved"
        if approved or awaiting:
            chosen[cohort] = decision
    rows = []
    for cohort, decision in chosen.items():
        awaiting = decision["status"] != EscalationDecision.Status.APPROVED
        rows.append({
            "cohort": cohort,
            "after": last[cohort] + 0.5,
            "decision": decision["id"],
            "kind": "awaiting" if awaiting else decision["kind"],
            "recommends": decision["kind"],
            "label": f"{cohort}: " + (f"awaiting signature ({decision['text']})" if awaiting else decision["text"]),
        })
    rows.sort(key=lambda r: r["after"])
    return rows


def dlt_rows(facts: Sequence[Mapping], level_labels: Mapping[int, str], visible_codes: Iterable[str]) -> list[dict]:
    """The DLTs the engine counts (the evidence's in-window adverse events adjudicated as DLTs), by dose level
    (lowest first), then study day of onset: level, CTCAE term, grade, study day (the first dose's day is
    day 1), and the subject's code only for ``visible_codes``."""
    visible = set(visible_codes)
    rows = []
    for fact in facts:
        first = fact.get("first_dose")
        first_day = timezone.localtime(datetime.fromisoformat(first)).date() if first else None
        for ae in fact.get("adverse_events", []):
            if not ae.get("dlt"):
                continue
            rows.append({
                "level_number": fact["level"],
                "level": level_labels.get(fact["level"], str(fact["level"])),
                "term": ae["term"],
                "grade": ae["grade"],
                "study_day": dlt.study_day(date.fromisoformat(ae["onset"]), first_day) if first_day else None,
                "subject": fact["subject"] if fact["subject"] in visible else None,
            })
    rows.sort(key=lambda r: (r["level_number"], r["study_day"] if r["study_day"] is not None else 10**6,
                             r["term"], r["grade"]))
    return rows


def enrolment_rows(counts: Iterable[Mapping]) -> list[dict]:
    """Per site and day, the subjects enrolled and the site's cumulative count: ``counts`` ``{"site", "date",
    "enrolled"}`` in any order; the rows come by site, then date."""
    rows = []
    totals: dict[str, int] = {}
    for row in sorted(counts, key=lambda r: (r["site"], r["date"])):
        totals[row["site"]] = totals.get(row["site"], 0) + row["enrolled"]
        rows.append({"site": row["site"], "date": row["date"], "enrolled": row["enrolled"],
                     "cumulative": totals[row["site"]]})
    return rows


def figure(name: str, title: str, spec: dict, head: list[str], rows: list[list]) -> dict:
    return {"name": name, "id": f"chart-{name}", "title": title, "spec": spec, "table": {"head": head, "rows": rows}}


# --- queries ---------------------------------------------------------------------------------------------

def _escalation_subjects(trial: Trial) -> list[dict]:
    """The dose-escalation part's subjects in order of enrolment (time, then pk): one query, the columns the
    path needs only."""
    return [
        {"pk": pk, "code": code, "site_id": site_id, "site": site, "level_id": level_id,
         "cohort": label or f"Cohort {number}"}
        for pk, code, site_id, site, level_id, number, label in (
            Subject.objects.filter(trial=trial, cohort__escalation=True).order_by("enrolled_at", "pk")
            .values_list("pk", "code", "site_id", "site__code", "dose_level_id", "cohort__number", "cohort__label")
        )
    ]


def _enrolment_counts(trial: Trial) -> list[dict]:
    """Subjects enrolled per site and local calendar day, every part: one aggregate query."""
    day = TruncDate("enrolled_at", tzinfo=timezone.get_current_timezone())
    return [
        {"site": row["site__code"], "date": row["day"].isoformat(), "enrolled": row["n"]}
        for row in Subject.objects.filter(trial=trial).annotate(day=day).values("site__code", "day")
        .annotate(n=Count("pk")).order_by("site__code", "day")
    ]


def _decision_rows(decisions, levels) -> list[dict]:
    """The decisions (as :func:`escalation.selectors.cohort_dashboard` loaded them, cohort and levels joined)
    as plain rows, each with what it did; levels by id from the evidence, so an override's level costs no
    query."""
    by_pk = {level.pk: level for level in levels}
    rows = []
    for d in decisions:
        next_id = d.decided_next_dose_level_id if d.decided_next_dose_level_id else d.next_dose_level_id
        add = d.decided_add_subjects if d.decided_next_dose_level_id else d.add_subjects
        next_level = by_pk.get(next_id)
        continues = d.continue_trial or d.decided_next_dose_level_id is not None
        kind = decision_kind(continue_trial=continues, cohort_rank=d.cohort.dose_level.rank,
                             next_rank=next_level.rank if next_level else None)
        if kind == "stop":
            recommended = by_pk.get(d.recommended_dose_level_id)
            text = (f"stop, {d.declared or 'MTD'} = {recommended.label}" if recommended
                    else "stop, no tolerable dose level")
        else:
            verb = {"escalate": "escalate to", "stay": "stay at", "de-escalate": "de-escalate to"}[kind]
            text = f"{verb} {next_level.label}, {add} subject{'s' if add != 1 else ''}"
        rows.append({"id": d.pk, "cohort": d.cohort.name, "status": d.status,
                     "kind": kind, "text": text, "created_at": d.created_at})
    return rows


def overdue_view(trial: Trial, *, today: date) -> tuple[list[dict], dict | None]:
    """The overdue visits per site (``visits.selectors.overdue_counts_by_site``: two queries) and their
    picture (None for a trial without a site). Apart from the rest, so a cache of the dashboard
    (``escalation.board``) can count these live: the visit watch changes them without touching the trial."""
    overdue = overdue_counts_by_site(trial, today=today)
    if not overdue:
        return overdue, None
    return overdue, figure(
        "overdue", "Overdue visits per site",
        charts.overdue([{"site": r["site"], "overdue": r["overdue"], "open": r["open"]} for r in overdue]),
        ["Site", "Overdue visits", "Windows open now"],
        [[r["site"], r["overdue"], r["open"]] for r in overdue],
    )


def dashboard_views(trial: Trial, *, user, now: datetime, decisions, evidence: Evidence | None = None,
                    today: date | None = None, visible_sites: Iterable[int] | None = None,
                    overdue: bool = True) -> dict:
    """The path, DLT listing, enrolment and overdue counts for ``user``, and the pictures drawn from them.

    ``decisions`` and ``evidence``: as :func:`escalation.selectors.cohort_dashboard` returns them (its
    ``"decisions"`` and ``"evidence"``), so neither is loaded twice; without ``evidence`` it is computed here.
    ``visible_sites``: the pks of the sites whose subjects ``user`` sees by code, if the caller has them
    (``trials.access.sites_for``), else read here. ``overdue=False`` leaves the overdue counts and their
    picture out (``"overdue"`` is then an empty list): :func:`overdue_view` gives them."""
    today = today or timezone.localdate(now)
    if evidence is None:
        evidence = escalation_evidence(trial, now=now)
    levels = evidence.levels
    label_of = {level.pk: level.label for level in levels}
    if visible_sites is None:
        visible_sites = sites_for(user, trial).values_list("pk", flat=True)
    visible_sites = set(visible_sites)
    subjects = _escalation_subjects(trial)
    facts = evidence.facts["subjects"]
    states = {fact["subject"]: fact["state"] for fact in facts}
    path = path_rows([{**s, "level": label_of[s["level_id"]]} for s in subjects], states, visible_sites)
    boundaries = boundary_rows(path, _decision_rows(decisions, levels))
    visible_codes = {s["code"] for s in subjects if s["site_id"] in visible_sites}
    dlts = dlt_rows(facts, {n: level.label for n, level in enumerate(levels, 1)}, visible_codes)
    enrolment = enrolment_rows(_enrolment_counts(trial))

    figures = []
    if trial.escalates and levels and path:  # no subject yet: the template says so instead of an empty frame
        figures.append(figure(
            "path", "Escalation path",
            charts.escalation_path(path, boundaries, [level.label for level in levels]),
            ["Enrolled", "Subject", "Site", "Cohort", "Dose level", "Outcome"],
            [[r["order"], r["subject"], r["site"], r["cohort"], r["level"], charts.STATE_LABELS[r["state"]]]
             for r in path],
        ))
    if enrolment:
        figures.append(figure(
            "enrolment", "Cumulative enrolment per site",
            charts.enrolment([{k: r[k] for k in ("site", "date", "enrolled")} for r in enrolment],
                             today=today.isoformat()),
            ["Site", "Date", "Enrolled that day", "Enrolled so far"],
            [[r["site"], r["date"], r["enrolled"], r["cumulative"]] for r in enrolment],
        ))
    overdue_rows: list[dict] = []
    if overdue:
        overdue_rows, overdue_figure = overdue_view(trial, today=today)
        if overdue_figure:
            figures.append(overdue_figure)
    return {"path": path, "boundaries": boundaries, "dlts": dlts, "enrolment": enrolment, "overdue": overdue_rows,
            "figures": figures, "identified": bool(visible_sites)}
