"""The record kinds of samples and lab results: corrected (and results voided) with a reason through
:mod:`records`, like every clinical record. A corrected collection time is checked as at entry and its deviation
from nominal measured again; a corrected result is checked for consistency (BLQ has no value, a titre only on a
positive ADA)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse

from records.registry import RecordKind, register
from trials.models import SITE_ROLES


def _subject_url(record):
    return reverse("pk:subject", args=[record.subject_id])


def _sample_prepare(sample, before) -> None:
    from pk.models import Sample
    from pk.services import REASON_MIN_LENGTH, _measure, collection_check

    if sample.shipment_id and sample.status != Sample.Status.COLLECTED:
        raise ValidationError({"status": "This sample was shipped to the lab: it was collected."})
    if sample.status == Sample.Status.COLLECTED:
        if sample.collected_at is None:
            raise ValidationError({"collected_at": "Enter the date and time the sample was taken."})
        collection_check(sample, sample.collected_at)
        sample.missed_reason = ""
        _measure(sample)
    elif sample.status == Sample.Status.MISSED:
        sample.collected_at, sample.deviation_minutes, sample.deviation = None, None, False
        if len(sample.missed_reason.strip()) < REASON_MIN_LENGTH:
            raise ValidationError({"missed_reason": "Say why the sample was not taken."})
    else:
        sample.collected_at, sample.missed_reason = None, ""
        sample.deviation_minutes, sample.deviation = None, False
    if sample.results.exists() and sample.status != Sample.Status.COLLECTED:
        raise ValidationError({"status": "The lab has reported results for this sample: it was collected."})
    sample.overdue = False


def _result_prepare(result, before) -> None:
    if result.blq:
        result.value = None
        if result.lloq is None:
            raise ValidationError({"lloq": "A result below the LLOQ needs the LLOQ."})
    if result.value is not None and result.value < 0:
        raise ValidationError({"value": "A result is 0 or more."})
    if result.value is not None and result.lloq is not None and not result.blq and result.value < result.lloq:
        raise ValidationError({"value": "A measured value is at or above the LLOQ (or tick 'below the LLOQ')."})
    if result.titre is not None and result.ada_positive is not True:
        raise ValidationError({"titre": "A titre goes with a positive ADA result only."})
    if result.ada_positive is True and not result.titre:
        raise ValidationError({"titre": "A positive ADA result needs its titre."})


def register_all() -> None:
    from pk.models import LabResult, Sample

    register(RecordKind(
        slug="sample", model=Sample, label="Sample", fields=("status", "collected_at", "missed_reason", "comment"),
        roles=SITE_ROLES, owner=lambda r: r.subject, detail_url=_subject_url, prepare=_sample_prepare,
    ))
    register(RecordKind(
        slug="lab-result", model=LabResult, label="Lab result",
        fields=("value", "blq", "lloq", "ada_positive", "titre", "category", "analysed_on"),
        roles=SITE_ROLES, owner=lambda r: r.sample.subject,
        detail_url=lambda r: reverse("pk:subject", args=[r.sample.subject_id]), prepare=_result_prepare,
        voidable=True,
    ))
