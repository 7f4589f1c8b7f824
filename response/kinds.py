"""The record kinds of tumour assessments (corrected and voided with a reason through :mod:`records`, like
every clinical record). After each change the subject's responses are re-computed, as after an entry."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from records.registry import RecordKind, register
from trials.models import SITE_ROLES


def _subject_url(record):
    return reverse("response:subject", args=[record.subject_id])


def _recompute(record, user=None) -> None:
    from response.models import Lesion, TumourAssessment
    from response.services import responses_recompute
    from subjects.models import Subject

    subject = Subject.objects.get(pk=record.subject_id if hasattr(record, "subject_id")
                                  else record.assessment.subject_id)
    if isinstance(record, TumourAssessment) and record.baseline and record.voided_at:
        # A voided baseline takes its lesions with it: the keys are free for the baseline recorded again.
        Lesion.objects.filter(subject=subject).update(voided_at=record.voided_at, voided_by=record.voided_by,
                                                      void_reason=f"Baseline scan voided: {record.void_reason}")
    responses_recompute(subject=subject)


def _scan_prepare(scan, before) -> None:
    from response.models import TumourAssessment

    if scan.assessed_on > timezone.localdate():
        raise ValidationError({"assessed_on": "A scan date cannot be in the future."})
    others = TumourAssessment.objects.filter(subject_id=scan.subject_id).exclude(pk=scan.pk)
    if others.filter(assessed_on=scan.assessed_on).exists():
        raise ValidationError({"assessed_on": f"A scan is already recorded on {scan.assessed_on:%d %b %Y}."})
    if scan.baseline:
        later = others.filter(assessed_on__lte=scan.assessed_on).first()
        if later is not None:
            raise ValidationError({"assessed_on": f"The baseline must be before the follow-up scan of "
                                                  f"{later.assessed_on:%d %b %Y}."})
        if scan.new_lesions != TumourAssessment.NewLesions.NONE:
            raise ValidationError({"new_lesions": "A baseline scan has no new lesions: every lesion is a baseline "
                                                  "lesion."})
    else:
        baseline = others.filter(baseline=True).first()
        if baseline is not None and scan.assessed_on <= baseline.assessed_on:
            raise ValidationError({"assessed_on": f"A follow-up scan is after the baseline "
                                                  f"({baseline.assessed_on:%d %b %Y})."})


def _scan_refused(scan, action) -> str | None:
    from response.models import TumourAssessment

    if action == "void" and scan.baseline and TumourAssessment.objects.filter(
            subject_id=scan.subject_id, baseline=False).exists():
        return "Later scans measure this baseline's lesions: void them first, then the baseline."
    return None


def _measurement_prepare(measurement, before) -> None:
    from response.models import LesionMeasurement
    from response.services import _baseline_lesions
    from trialrules import recist

    lesion, status = measurement.lesion, measurement.status
    target_statuses = {LesionMeasurement.Status.MEASURED, LesionMeasurement.Status.TOO_SMALL,
                       LesionMeasurement.Status.NOT_EVALUATED}
    non_target_statuses = {LesionMeasurement.Status.PRESENT, LesionMeasurement.Status.ABSENT,
                           LesionMeasurement.Status.PROGRESSION, LesionMeasurement.Status.NOT_EVALUATED}
    if lesion.kind == recist.TARGET and status not in target_statuses:
        raise ValidationError({"status": f"{lesion.key} is a target lesion: measured, too small to measure or not "
                                         "evaluated."})
    if lesion.kind == recist.NON_TARGET and status not in non_target_statuses:
        raise ValidationError({"status": f"{lesion.key} is a non-target lesion: present, absent, unequivocal "
                                         "progression or not evaluated."})
    if lesion.kind == recist.TARGET:
        if status == LesionMeasurement.Status.MEASURED and measurement.diameter_mm is None:
            raise ValidationError({"diameter_mm": f"{lesion.key}: enter the diameter in mm (0 when it has "
                                                  "disappeared)."})
        if status != LesionMeasurement.Status.MEASURED:
            measurement.diameter_mm = None
    if measurement.assessment.baseline and lesion.kind == recist.TARGET:
        lesions = [b if b.key != lesion.key else recist.BaselineLesion(
            key=b.key, kind=b.kind, organ=b.organ, node=b.node, diameter_mm=measurement.diameter_mm, axis=b.axis)
            for b in _baseline_lesions(lesion.subject)]
        problems = recist.baseline_problems(lesions)
        if problems:
            raise ValidationError({"diameter_mm": [p.message for p in problems]})


def register_all() -> None:
    from response.models import Lesion, LesionMeasurement, TumourAssessment

    register(RecordKind(
        slug="tumour-scan", model=TumourAssessment, label="Tumour scan",
        fields=("assessed_on", "method", "new_lesions"), roles=SITE_ROLES, owner=lambda r: r.subject,
        detail_url=_subject_url, prepare=_scan_prepare, after=_recompute, voidable=True, refused=_scan_refused,
    ))
    register(RecordKind(
        slug="lesion-measurement", model=LesionMeasurement, label="Lesion measurement",
        fields=("status", "diameter_mm"), roles=SITE_ROLES, owner=lambda r: r.assessment.subject,
        detail_url=lambda r: reverse("response:subject", args=[r.assessment.subject_id]),
        prepare=_measurement_prepare, after=_recompute,
    ))
    register(RecordKind(
        slug="lesion", model=Lesion, label="Lesion",
        fields=("organ", "location"), roles=SITE_ROLES, owner=lambda r: r.subject, detail_url=_subject_url,
    ))
