"""Writes for visits: (re)generating a subject's schedule from the protocol's visit plan."""

from __future__ import annotations

from django.db import transaction

from subjects.models import Subject
from trialrules.visits import Anchors, plan_visits
from visits.models import PlannedVisit


@transaction.atomic
def visits_plan_for_subject(*, subject: Subject) -> list[PlannedVisit]:
    """Plan the subject's visits from its dosing so far. Visits already done or missed keep their
    record; planned ones move with their anchors; planned ones the new plan no longer has go."""
    day1 = sorted(
        {d.administered_at.date(): d.cycle for d in subject.doses.filter(day=1)}.items(), key=lambda x: x[1]
    )
    if not day1:
        return []
    dates = tuple(date for date, _ in day1)
    anchors = Anchors(first_dose=dates[0], doses=dates)
    plan = plan_visits(subject.trial.visit_plan, subject.trial.definition.get("treatment", {}), anchors)
    existing = {v.code: v for v in subject.visits.select_for_update()}
    kept = []
    for visit in plan:
        current = existing.pop(visit.code, None)
        if current is not None and current.status != PlannedVisit.Status.PLANNED:
            kept.append(current)
            continue
        values = {"kind": visit.kind, "target": visit.target, "window_start": visit.window.start,
                  "window_end": visit.window.end}
        if current is None:
            kept.append(PlannedVisit.objects.create(subject=subject, code=visit.code, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.overdue = False
            current.save()
            kept.append(current)
        else:
            kept.append(current)
    PlannedVisit.objects.filter(
        pk__in=[v.pk for v in existing.values() if v.status == PlannedVisit.Status.PLANNED]
    ).delete()
    return kept
