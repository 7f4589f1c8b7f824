"""Writes of tumour assessments: the baseline lesions, each later time point, the investigator's review, and
the re-computation of every time point's response after any change (``trialrules.recist``).

Each write is atomic under a lock on the subject, so two coordinators entering the same subject's scans
cannot interleave; the audit rows come from the pghistory triggers of the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from response.models import Lesion, LesionMeasurement, TumourAssessment
from subjects.models import Subject
from trialrules import recist
from trials.access import require_site_role
from trials.models import SITE_ROLES, Role

OVERRIDE_REASON_MIN_LENGTH = 10
TOO_SMALL_MM = recist.TOO_SMALL_MM  # RECIST 1.1: a target too small to measure counts as 5 mm


@dataclass(frozen=True)
class LesionEntry:
    """One baseline lesion as entered: a target with its diameter, or a non-target."""

    kind: str
    organ: str
    node: bool = False
    diameter_mm: Decimal | None = None
    axis: str = ""
    location: str = ""


def _locked_subject(subject: Subject) -> Subject:
    return Subject.objects.select_for_update().get(pk=subject.pk)


def _first_dose_date(subject: Subject) -> date | None:
    first = subject.first_dose()
    return None if first is None else timezone.localtime(first.administered_at).date()


def _death(subject: Subject) -> date | None:
    from visits.models import FollowUp

    follow_up = FollowUp.objects.filter(subject=subject, follow_up_end_reason=FollowUp.EndReason.DEATH).first()
    return follow_up.follow_up_end if follow_up else None


def _check_date(subject: Subject, assessed_on: date, *, today: date, field: str = "assessed_on") -> None:
    if assessed_on > today:
        raise ValidationError({field: "A scan date cannot be in the future."})
    if assessed_on < subject.date_of_birth:
        raise ValidationError({field: "The scan date is before the subject's date of birth."})


def _problems_to_error(problems: list[recist.Problem], field_for=None) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        name = field_for(problem) if field_for else problem.field
        errors.setdefault(name, []).append(problem.message)
    return ValidationError(errors)


def _baseline_lesions(subject: Subject) -> list[recist.BaselineLesion]:
    baseline = subject.tumour_assessments.filter(baseline=True).first()
    if baseline is None:
        return []
    measured = {m.lesion_id: m for m in baseline.measurements.all()}
    lesions = []
    for lesion in subject.lesions.all():
        m = measured.get(lesion.pk)
        lesions.append(recist.BaselineLesion(
            key=lesion.key, kind=lesion.kind, organ=lesion.organ, node=lesion.node,
            diameter_mm=m.diameter_mm if m else None, axis=(m.axis or None) if m else None))
    return lesions


def baseline_record(*, subject: Subject, user, assessed_on: date, method: str, lesions: list[LesionEntry],
                    visit=None, today: date | None = None) -> TumourAssessment:
    """Record the baseline scan and its lesions (targets T1…, non-targets NT1…, in the order given)."""
    today = today or timezone.localdate()
    require_site_role(user, subject, SITE_ROLES, "Only the site staff of the subject's site record tumour scans.")
    _check_date(subject, assessed_on, today=today)
    numbered: list[tuple[str, LesionEntry]] = []
    counts = {recist.TARGET: 0, recist.NON_TARGET: 0}
    for entry in lesions:
        if entry.kind not in counts:
            raise ValidationError({"lesions": f"Lesion kind {entry.kind!r} is neither target nor non-target."})
        counts[entry.kind] += 1
        prefix = "T" if entry.kind == recist.TARGET else "NT"
        numbered.append((f"{prefix}{counts[entry.kind]}", entry))
    candidate = [recist.BaselineLesion(key=key, kind=e.kind, organ=e.organ.strip(), node=e.node,
                                       diameter_mm=e.diameter_mm, axis=e.axis or None) for key, e in numbered]
    problems = recist.baseline_problems(candidate)
    if problems:  # keyed "lesions.<key>.<field>", so a form can put each on its row
        raise _problems_to_error(problems, lambda p: f"lesions.{p.lesion}.{p.field}" if p.lesion else "lesions")
    with transaction.atomic():
        subject = _locked_subject(subject)
        if subject.tumour_assessments.filter(baseline=True).exists():
            raise ValidationError({"assessed_on": "The baseline scan is already recorded: correct it, or void it "
                                                  "with a reason to record it again."})
        first_dose = _first_dose_date(subject)
        if first_dose is not None and assessed_on > first_dose:
            raise ValidationError({"assessed_on": f"The baseline scan is taken before treatment starts (first dose "
                                                  f"{first_dose:%d %b %Y}; RECIST 1.1 §3.2: within 4 weeks before)."})
        later = subject.tumour_assessments.filter(baseline=False, assessed_on__lte=assessed_on).first()
        if later is not None:
            raise ValidationError({"assessed_on": f"A follow-up scan is recorded on {later.assessed_on:%d %b %Y}: "
                                                  "the baseline must be before it."})
        # A voided baseline's lesions are voided with it; the keys are free again.
        assessment = TumourAssessment(subject=subject, visit=visit, baseline=True, assessed_on=assessed_on,
                                      method=method, recorded_by=user)
        assessment.full_clean()
        assessment.save()
        for key, entry in numbered:
            lesion = Lesion(subject=subject, key=key, kind=entry.kind, organ=entry.organ.strip(),
                            location=entry.location.strip(), node=entry.node, recorded_by=user)
            lesion.full_clean()
            lesion.save()
            if entry.kind == recist.TARGET:
                status, value, axis = LesionMeasurement.Status.MEASURED, entry.diameter_mm, entry.axis
            else:
                status, value, axis = LesionMeasurement.Status.PRESENT, entry.diameter_mm, entry.axis
            LesionMeasurement.objects.create(assessment=assessment, lesion=lesion, status=status, diameter_mm=value,
                                             axis=axis or "", recorded_by=user)
        responses_recompute(subject=subject)
    return assessment


def assessment_record(*, subject: Subject, user, assessed_on: date, method: str, new_lesions: str,
                      values: dict[str, tuple[str, Decimal | None]], visit=None,
                      today: date | None = None) -> TumourAssessment:
    """Record a follow-up time point: for each baseline lesion key, ``(status, diameter_mm)`` — targets
    ``measured`` with a diameter (0 when it disappeared), ``too_small`` or ``not_evaluated``; non-targets
    ``present``, ``absent``, ``progression`` or ``not_evaluated``."""
    today = today or timezone.localdate()
    require_site_role(user, subject, SITE_ROLES, "Only the site staff of the subject's site record tumour scans.")
    _check_date(subject, assessed_on, today=today)
    if new_lesions not in TumourAssessment.NewLesions.values:
        raise ValidationError({"new_lesions": "Say whether the scan shows a new lesion."})
    with transaction.atomic():
        subject = _locked_subject(subject)
        baseline = subject.tumour_assessments.filter(baseline=True).first()
        if baseline is None:
            raise ValidationError({"assessed_on": "Record the baseline scan and its lesions first: every later "
                                                  "scan measures the baseline lesions."})
        if assessed_on <= baseline.assessed_on:
            when = f"{baseline.assessed_on:%d %b %Y}"
            raise ValidationError({"assessed_on": f"A follow-up scan is after the baseline ({when})."})
        if subject.tumour_assessments.filter(assessed_on=assessed_on).exists():
            raise ValidationError({"assessed_on": f"A scan is already recorded on {assessed_on:%d %b %Y}: correct it "
                                                  "instead."})
        death = _death(subject)
        if death is not None and assessed_on > death:
            raise ValidationError({"assessed_on": f"The subject died on {death:%d %b %Y}: a scan cannot be after it."})
        if visit is not None and (visit.subject_id != subject.pk or visit.kind != "imaging"):
            raise ValidationError({"visit": "Choose one of this subject's imaging visits."})
        lesions = {lesion.key: lesion for lesion in subject.lesions.all()}
        measurements, non_target, too_small = {}, {}, set()
        for key, (status, diameter) in values.items():
            lesion = lesions.get(key)
            if lesion is not None and lesion.kind == recist.NON_TARGET:
                non_target[key] = status
            elif status == LesionMeasurement.Status.TOO_SMALL:
                too_small.add(key)
                measurements[key] = TOO_SMALL_MM
            else:  # a target, or a key not at baseline (which the rules refuse by name)
                measurements[key] = None if status == LesionMeasurement.Status.NOT_EVALUATED else diameter
        point = recist.TimePoint(date=assessed_on, measurements=measurements, non_target=non_target,
                                 new_lesions=new_lesions, too_small=frozenset(too_small))
        problems = recist.timepoint_problems(_baseline_lesions(subject), point)
        for key, (status, diameter) in values.items():
            lesion = lesions.get(key)
            if lesion is not None and lesion.kind == recist.TARGET and status == LesionMeasurement.Status.MEASURED \
                    and diameter is None:
                problems.append(recist.Problem(field=key, message=f"{key}: enter the diameter in mm (0 when the "
                                               "lesion has disappeared), or choose “too small” or “not evaluated”.",
                                               lesion=key))
        if problems:
            raise _problems_to_error(problems, lambda p: p.lesion or p.field)
        assessment = TumourAssessment(subject=subject, visit=visit, baseline=False, assessed_on=assessed_on,
                                      method=method, new_lesions=new_lesions, recorded_by=user)
        assessment.full_clean()
        assessment.save()
        for key, (status, diameter) in values.items():
            lesion = lesions[key]
            axis = ("short" if lesion.node else "long") if lesion.kind == recist.TARGET else ""
            value = {LesionMeasurement.Status.TOO_SMALL: TOO_SMALL_MM,
                     LesionMeasurement.Status.MEASURED: diameter}.get(status)
            LesionMeasurement.objects.create(assessment=assessment, lesion=lesion, status=status, diameter_mm=value,
                                             axis=axis, recorded_by=user)
        responses_recompute(subject=subject)
        if visit is not None and visit.status == "planned":
            from visits.services import visit_record_done

            visit_record_done(visit=visit, user=user, done_on=assessed_on, today=today)
    return assessment


def _timepoints(subject: Subject) -> tuple[list[recist.BaselineLesion], list[TumourAssessment], list]:
    baseline = _baseline_lesions(subject)
    lesions = {lesion.pk: lesion for lesion in subject.lesions.all()}
    followups = list(subject.tumour_assessments.filter(baseline=False).prefetch_related("measurements"))
    points = []
    for assessment in followups:
        measurements, non_target, too_small = {}, {}, set()
        for m in assessment.measurements.all():
            lesion = lesions.get(m.lesion_id)
            if lesion is None:
                continue
            if lesion.kind == recist.TARGET:
                if m.status == LesionMeasurement.Status.TOO_SMALL:
                    too_small.add(lesion.key)
                    measurements[lesion.key] = TOO_SMALL_MM
                else:
                    measurements[lesion.key] = (None if m.status == LesionMeasurement.Status.NOT_EVALUATED
                                                else m.diameter_mm)
            else:
                non_target[lesion.key] = m.status
        points.append(recist.TimePoint(date=assessment.assessed_on, measurements=measurements, non_target=non_target,
                                       new_lesions=assessment.new_lesions, too_small=frozenset(too_small)))
    return baseline, followups, points


def responses_recompute(*, subject: Subject) -> None:
    """Re-compute every time point of the subject from the live entries. A time point whose computed
    response changed loses its review (the investigator reviews it again; the old review stays in the
    history), as a DLT adjudication does when its inputs change."""
    baseline, followups, points = _timepoints(subject)
    base = subject.tumour_assessments.filter(baseline=True).first()
    if base is not None:
        total = sum((lesion.diameter_mm or Decimal(0) for lesion in baseline if lesion.kind == recist.TARGET),
                    Decimal(0))
        has_targets = any(lesion.kind == recist.TARGET for lesion in baseline)
        base.sum_mm = total if has_targets else None
        base.save(update_fields=["sum_mm"])
    if not baseline or not points:
        return
    try:
        results = {result.date: result for result in recist.evaluate(baseline, points)}
    except recist.RecistInputError as exc:
        # Entries are checked when made; what fails here was corrected into an impossible state: say where.
        raise ValidationError([p.message for p in exc.problems]) from None
    for assessment in followups:
        result = results[assessment.assessed_on]
        changed = assessment.computed_response != result.overall
        assessment.sum_mm = result.sum_mm
        assessment.nadir_mm = result.nadir_mm
        assessment.change_from_baseline_pct = _round(result.change_from_baseline_pct)
        assessment.change_from_nadir_pct = _round(result.change_from_nadir_pct)
        assessment.target_response = result.target or ""
        assessment.non_target_response = result.non_target or ""
        assessment.computed_response = result.overall
        assessment.computed_reasons = list(result.reasons)
        fields = ["sum_mm", "nadir_mm", "change_from_baseline_pct", "change_from_nadir_pct", "target_response",
                  "non_target_response", "computed_response", "computed_reasons"]
        if changed and assessment.response:
            assessment.response, assessment.override_reason = "", ""
            assessment.reviewed_by, assessment.reviewed_at = None, None
            fields += ["response", "override_reason", "reviewed_by", "reviewed_at"]
        assessment.save(update_fields=fields)


def _round(value: Decimal | None) -> Decimal | None:
    """One decimal, towards zero: a shown -29.99 % reads -29.9 (not -30.0 beside an SD)."""
    return None if value is None else value.quantize(Decimal("0.1"), rounding=ROUND_DOWN)


def assessment_review(*, assessment: TumourAssessment, user, response: str, reason: str = "") -> TumourAssessment:
    """The investigator confirms the computed response, or sets another with a reason (RECIST 1.1 leaves the
    overall response to the investigator's judgement where the tables do not decide, e.g. a lesion split)."""
    require_site_role(user, assessment.subject, (Role.INVESTIGATOR,),
                      "Only an investigator of the subject's site reviews tumour responses.")
    reason = (reason or "").strip()
    with transaction.atomic():
        _locked_subject(assessment.subject)
        assessment = TumourAssessment.objects.select_for_update().get(pk=assessment.pk)
        if assessment.baseline:
            raise ValidationError({"response": "The baseline scan has no response to review."})
        if not assessment.computed_response:
            raise ValidationError({"response": "This time point has no computed response yet."})
        valid = dict(TumourAssessment._meta.get_field("response").choices)
        if response not in valid:
            raise ValidationError({"response": f"Choose one of: {', '.join(valid)}."})
        if response != assessment.computed_response and len(reason) < OVERRIDE_REASON_MIN_LENGTH:
            raise ValidationError({"override_reason": f"Say why the response differs from the computed "
                                                      f"{assessment.computed_response} (at least "
                                                      f"{OVERRIDE_REASON_MIN_LENGTH} characters)."})
        assessment.response = response
        assessment.override_reason = reason if response != assessment.computed_response else ""
        assessment.reviewed_by, assessment.reviewed_at = user, timezone.now()
        assessment.full_clean()
        assessment.save(update_fields=["response", "override_reason", "reviewed_by", "reviewed_at"])
    return assessment
