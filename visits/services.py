"""Writes for visits: (re)generating a subject's schedule from the protocol's visit plan, recording a
visit done or missed, and setting the follow-up anchors (end of treatment, new anti-tumour therapy,
end of follow-up) that regenerate the plan.

Regeneration never touches a visit already done or missed; planned visits move with their anchors;
planned visits the new plan no longer has are deleted (audited by pghistory like every change).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from subjects.models import Subject
from subjects.services import entry_date_bounds
from trialrules import plausibility
from trialrules.visits import Anchors, Window, classify_done, plan_visits
from trials.access import require_site_role
from trials.models import Role
from trialsite.edit_checks import enforce
from visits.models import FollowUp, PlannedVisit

MISSED_REASON_MIN_LENGTH = 3


def subject_anchors(subject: Subject, follow_up: FollowUp | None = None) -> Anchors | None:
    """The subject's anchors: day-1 doses by cycle, and the follow-up dates when recorded."""
    day1 = sorted(
        {timezone.localtime(d.administered_at).date(): d.cycle for d in subject.doses.filter(day=1)}.items(),
        key=lambda x: (x[1], x[0]),
    )
    if not day1:
        return None
    dates = tuple(sorted(d for d, _ in day1))
    if follow_up is None:
        follow_up = FollowUp.objects.filter(subject=subject).first()
    last_dose = new_therapy = follow_up_end = None
    if follow_up is not None:
        last_dose, new_therapy, follow_up_end = (follow_up.last_dose, follow_up.new_therapy,
                                                 follow_up.follow_up_end)
    if last_dose is not None and last_dose < dates[-1]:
        raise ValidationError({"administered_at": (
            f"Treatment ended with the last dose on {last_dose:%d %b %Y} (recorded in the follow-up); a day-1 "
            f"dose on {dates[-1]:%d %b %Y} comes after it. Correct the last dose first.")})
    return Anchors(first_dose=dates[0], doses=dates, last_dose=last_dose, new_therapy=new_therapy,
                   follow_up_end=follow_up_end)


@transaction.atomic
def visits_plan_for_subject(*, subject: Subject, follow_up: FollowUp | None = None) -> list[PlannedVisit]:
    """Plan the subject's visits from its doses and follow-up anchors. Visits already done or missed
    keep their record; planned ones move with their anchors; planned ones the new plan no longer has
    go. After the end of follow-up, visits whose window had not closed by then are not planned."""
    anchors = subject_anchors(subject, follow_up)
    if anchors is None:
        from pk.services import samples_plan_for_subject

        samples_plan_for_subject(subject=subject)
        return []
    plan = plan_visits(subject.trial.visit_plan, subject.trial.definition.get("treatment", {}), anchors)
    if anchors.follow_up_end is not None:
        plan = [v for v in plan if v.window.end < anchors.follow_up_end]
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
            current.overdue_since = None
            current.save()
            kept.append(current)
        else:
            kept.append(current)
    PlannedVisit.objects.filter(
        pk__in=[v.pk for v in existing.values() if v.status == PlannedVisit.Status.PLANNED]
    ).delete()
    kept.extend(v for v in existing.values() if v.status != PlannedVisit.Status.PLANNED)
    screening_visit_sync(subject=subject, visits=kept)
    # The samples (PK, ADA, RO, biomarkers) are timed from the same doses and the planned dosing visits.
    from pk.services import samples_plan_for_subject

    samples_plan_for_subject(subject=subject)
    kept.sort(key=lambda v: (v.target, v.code))
    return kept


def screening_visit_sync(*, subject: Subject, user=None,
                         visits: list[PlannedVisit] | None = None) -> PlannedVisit | None:
    """The screening visit is the subject's screening record: done on its ``assessed_on`` (a deviation when
    outside the visit's window), whatever was recorded on the visit before. Called when the plan is made
    (the first dose creates the SCR visit) and whenever the screening record's date is saved. Without a
    screening record or its date, or before the plan exists, nothing changes. Returns the visit changed."""
    from screening.models import ScreeningRecord

    record = ScreeningRecord.objects.filter(subject_id=subject.pk).first()
    if record is None or record.assessed_on is None:
        return None
    if visits is None:
        visits = list(subject.visits.select_for_update().filter(kind=PlannedVisit.Kind.SCREENING))
    changed = None
    for visit in visits:
        if visit.kind != PlannedVisit.Kind.SCREENING:
            continue
        if visit.status == PlannedVisit.Status.DONE and visit.done_on == record.assessed_on:
            continue
        visit.missed_reason = ""
        _mark_done(visit, record.assessed_on, user=user)
        changed = visit
    return changed


def _require_site_staff(user, subject: Subject) -> None:
    require_site_role(user, subject, [Role.COORDINATOR, Role.INVESTIGATOR],
                      "Only the coordinators and investigators of the subject's site record visits.")


def _locked_planned(visit: PlannedVisit) -> PlannedVisit:
    visit = PlannedVisit.objects.select_for_update().select_related("subject").get(pk=visit.pk)
    if visit.status != PlannedVisit.Status.PLANNED:
        what = (f"done on {visit.done_on:%d %b %Y}" if visit.status == PlannedVisit.Status.DONE
                else f"missed ({visit.missed_reason})")
        raise ValidationError(f"Visit {visit.code} is already recorded as {what}.")
    return visit


def visit_record_done(*, visit: PlannedVisit, user, done_on: date, today: date | None = None) -> PlannedVisit:
    """Record the visit done on ``done_on``; outside its window it records a protocol deviation."""
    today = today or timezone.localdate()
    if done_on is None:
        raise ValidationError({"done_on": "Enter the date the visit took place."})
    if done_on > today:
        raise ValidationError({"done_on": "A visit cannot be recorded as done in the future."})
    _require_site_staff(user, visit.subject)
    with transaction.atomic():
        visit = _locked_planned(visit)
        enforce(visit_findings(visit, done_on))
        _mark_done(visit, done_on, user=user)
    return visit


def visit_findings(visit: PlannedVisit, done_on: date | None = None) -> list[plausibility.Finding]:
    """The edit checks of a visit's date (``done_on``, default the visit's own), new or corrected: not
    before birth or consent; a visit other than screening not before the first dose."""
    done_on = visit.done_on if done_on is None else done_on
    bounds = entry_date_bounds(visit.subject)
    if visit.kind != PlannedVisit.Kind.SCREENING:
        first = visit.subject.first_dose()
        if first is not None:
            bounds.append(plausibility.Bound(timezone.localtime(first.administered_at).date(), "the first dose",
                                             "Only the screening visit comes before it."))
    return plausibility.check_date(done_on, field="done_on", label="The visit date", today=None, after=bounds)


def deviation_days(visit: PlannedVisit, done_on: date) -> int | None:
    """How many days outside its window a visit done on ``done_on`` is (< 0 early, > 0 late); None inside."""
    window = Window(visit.window_start, visit.window_end)
    if classify_done(window, done_on) != "out_of_window":
        return None
    return (done_on - window.end).days if done_on > window.end else (done_on - window.start).days


def _mark_done(visit: PlannedVisit, done_on: date, *, user) -> None:
    """Save the (locked) visit as done on ``done_on``; outside its window it is a protocol deviation that
    the site's investigators hear of (in-app and e-mail, via the outbox)."""
    visit.status = PlannedVisit.Status.DONE
    visit.done_on = done_on
    visit.deviation_days = deviation_days(visit, done_on)
    out = visit.deviation = visit.deviation_days is not None
    visit.overdue = False
    visit.recorded_by = user
    visit.recorded_at = timezone.now()
    visit.full_clean()
    visit.save()
    if out:
        from outbox import enqueue

        enqueue("visits.tasks.notify_deviation", visit.pk)


def visit_record_missed(*, visit: PlannedVisit, user, missed_reason: str) -> PlannedVisit:
    reason = (missed_reason or "").strip()
    if len(reason) < MISSED_REASON_MIN_LENGTH:
        raise ValidationError({"missed_reason": "Say why the visit was missed "
                                                f"(at least {MISSED_REASON_MIN_LENGTH} characters)."})
    if len(reason) > 200:
        raise ValidationError({"missed_reason": f"Keep the reason to 200 characters (it has {len(reason)})."})
    _require_site_staff(user, visit.subject)
    with transaction.atomic():
        visit = _locked_planned(visit)
        visit.status = PlannedVisit.Status.MISSED
        visit.missed_reason = reason
        visit.overdue = False
        visit.recorded_by = user
        visit.recorded_at = timezone.now()
        visit.full_clean()
        visit.save()
    return visit


def follow_up_findings(follow_up: FollowUp) -> list[plausibility.Finding]:
    """The edit checks of the follow-up dates, new or corrected: none before 1900, birth or consent (the
    order against the doses is :func:`follow_up_set`'s)."""
    bounds = entry_date_bounds(follow_up.subject)
    return [finding for name, label in (("last_dose", "The last dose"),
                                        ("new_therapy", "The start of new anti-tumour therapy"),
                                        ("follow_up_end", "The end of follow-up"),
                                        ("clinical_progression", "Clinical progression"),
                                        ("last_known_alive", "The last date known alive"))
            for finding in plausibility.check_date(getattr(follow_up, name), field=name, label=label, today=None,
                                                   after=bounds)]


def follow_up_set(*, subject: Subject, user, last_dose: date | None = None, new_therapy: date | None = None,
                  follow_up_end: date | None = None, follow_up_end_reason: str = "", death_cause: str = "",
                  clinical_progression: date | None = None, last_known_alive: date | None = None,
                  today: date | None = None, roles=(Role.COORDINATOR,)) -> FollowUp:
    """Set the subject's follow-up anchors and regenerate the plan. ``roles``: who may (the follow-up form:
    coordinators; the end-of-treatment and off-study forms of ``subjects.services``: site staff)."""
    today = today or timezone.localdate()
    require_site_role(user, subject, roles,
                      "Only a coordinator of the subject's site records the follow-up." if tuple(roles) == (
                          Role.COORDINATOR,) else "Only the site staff of the subject's site record the follow-up.")
    errors: dict[str, str] = {}
    for name, value in (("last_dose", last_dose), ("new_therapy", new_therapy), ("follow_up_end", follow_up_end),
                        ("clinical_progression", clinical_progression), ("last_known_alive", last_known_alive)):
        if value is not None and value > today:
            errors[name] = "This date cannot be in the future."
    for finding in follow_up_findings(FollowUp(subject=subject, last_dose=last_dose, new_therapy=new_therapy,
                                               follow_up_end=follow_up_end, clinical_progression=clinical_progression,
                                               last_known_alive=last_known_alive)):
        errors.setdefault(finding.field, finding.message)
    follow_up_end_reason = follow_up_end_reason or ""
    death_cause = (death_cause or "").strip()
    if death_cause and follow_up_end_reason != FollowUp.EndReason.DEATH:
        errors["death_cause"] = "A cause of death is recorded only when follow-up ended by death."
    if (last_known_alive and follow_up_end and follow_up_end_reason == FollowUp.EndReason.DEATH
            and last_known_alive > follow_up_end):
        errors["last_known_alive"] = (f"The subject cannot be known alive after the date of death "
                                      f"({follow_up_end:%d %b %Y}).")
    if (clinical_progression and follow_up_end and follow_up_end_reason == FollowUp.EndReason.DEATH
            and clinical_progression > follow_up_end):
        errors["clinical_progression"] = (f"Progression cannot be recorded after the date of death "
                                          f"({follow_up_end:%d %b %Y}).")
    if follow_up_end is not None and not follow_up_end_reason:
        errors["follow_up_end_reason"] = "Say why follow-up ended (death, lost, withdrawal or study end)."
    if follow_up_end is None and follow_up_end_reason:
        errors["follow_up_end"] = "Enter the date follow-up ended, or clear the reason."
    if follow_up_end_reason and follow_up_end_reason not in FollowUp.EndReason.values:
        errors["follow_up_end_reason"] = f"Choose one of: {', '.join(FollowUp.EndReason.labels)}."
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        day1 = sorted(timezone.localtime(d).date()
                      for d in subject.doses.filter(day=1).values_list("administered_at", flat=True))
        if not day1 and (last_dose or new_therapy):
            errors.setdefault("last_dose" if last_dose else "new_therapy",
                              "The subject has no recorded dose: the follow-up starts after the first dose.")
        if day1 and last_dose is not None and last_dose < day1[-1]:
            errors.setdefault("last_dose", f"The last dose cannot be before the latest recorded day-1 dose "
                                           f"({day1[-1]:%d %b %Y}).")
        if day1 and new_therapy is not None and new_therapy < day1[0]:
            errors.setdefault("new_therapy", f"New anti-tumour therapy cannot start before the first dose "
                                             f"({day1[0]:%d %b %Y}).")
        if last_dose and new_therapy and new_therapy < last_dose:
            errors.setdefault("new_therapy", "New anti-tumour therapy cannot start before the last dose.")
        if day1 and clinical_progression is not None and clinical_progression < day1[0]:
            errors.setdefault("clinical_progression", f"Progression on study cannot be before the first dose "
                                                      f"({day1[0]:%d %b %Y}).")
        if follow_up_end is not None:
            start = last_dose or (day1[0] if day1 else None)
            if start is not None and follow_up_end < start:
                errors.setdefault("follow_up_end", f"Follow-up cannot end before {start:%d %b %Y} "
                                                   f"({'the last dose' if last_dose else 'the first dose'}).")
        if errors:
            raise ValidationError(errors)
        follow_up = FollowUp.objects.select_for_update().filter(subject=subject).first() or FollowUp(subject=subject)
        follow_up.last_dose = last_dose
        follow_up.new_therapy = new_therapy
        follow_up.follow_up_end = follow_up_end
        follow_up.follow_up_end_reason = follow_up_end_reason
        follow_up.death_cause = death_cause
        follow_up.clinical_progression = clinical_progression
        follow_up.last_known_alive = last_known_alive
        follow_up.updated_by = user
        follow_up.full_clean()
        follow_up.save()
        visits_plan_for_subject(subject=subject, follow_up=follow_up)
    return follow_up
