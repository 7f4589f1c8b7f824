"""The registered record kinds (loaded by ``RecordsConfig.ready``). Each says what a correction may
change, who may make it, and what flows on: the same services the original entry calls."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from records.registry import RecordKind, register
from trials.models import SITE_ROLES, Role


def _subject(record):
    return record.subject


def _subject_url(record):
    return reverse("subjects:detail", args=[record.subject_id])


def _review(trial) -> None:
    from subjects.services import _review_escalation_after_commit

    _review_escalation_after_commit(trial)


def _replan_and_review(record, user=None) -> None:
    """As after a dose: the visit plan follows the (corrected) anchors, escalation re-reads the data (a
    decision whose data changed is invalidated by the escalation service)."""
    from subjects.models import Subject
    from visits.services import visits_plan_for_subject

    subject = record if isinstance(record, Subject) else Subject.objects.get(pk=record.subject_id)
    visits_plan_for_subject(subject=subject)
    _review(subject.trial)


def _not_future(record, *names) -> None:
    now, today = timezone.now(), timezone.localdate()
    for name in names:
        value = getattr(record, name)
        if value is None:
            continue
        late = value > now if hasattr(value, "hour") else value > today
        if late:
            raise ValidationError({name: "This date cannot be in the future."})


# --- doses --------------------------------------------------------------------------------------------


def _dose_refused(dose, action) -> str | None:
    if getattr(dose, "dispensing_id", None):
        return ("This dose is derived from the cycle's dispensing record (tablets dispensed and returned, missed "
                "days): correct or void the dispensing instead.")
    return None


def _dose_prepare(dose, before) -> None:
    _not_future(dose, "administered_at")
    first = dose.subject.doses.exclude(pk=dose.pk).order_by("administered_at").first()
    if first is not None and dose.administered_at < first.administered_at and (dose.cycle, dose.day) != (1, 1):
        raise ValidationError({"administered_at": "Only cycle 1 day 1 can be dated before the subject's first dose "
                                                  f"({timezone.localtime(first.administered_at):%d %b %Y %H:%M})."})


# --- adverse events -----------------------------------------------------------------------------------

AE_DLT_INPUTS = ("grade", "onset_date", "attribution")


def _ae_prepare(event, before) -> None:
    from subjects.models import AdverseEvent
    from subjects.services import ctcae_lookup, meets_dlt_criteria

    _not_future(event, "onset_date", "resolution_date")
    if event.term != before["term"] or event.ctcae_id is None:
        event.ctcae = ctcae_lookup(event.term)
        event.term = event.ctcae.term
    if event.ctcae_id and not event.ctcae.grade_text(event.grade):
        raise ValidationError({"grade": f"Grade {event.grade} is not defined for {event.ctcae.term} in CTCAE v5.0 "
                                        f"(grades {', '.join(map(str, event.ctcae.grades()))})."})
    if event.attribution != before["attribution"]:
        event.attributions = dict.fromkeys(event.attributions or event.subject.trial.drugs.values_list(
            "name", flat=True), event.attribution)
    if any(getattr(event, f) != before[f] for f in AE_DLT_INPUTS):
        # What the DLT rule reads changed: an adjudication made on the old values no longer stands; the
        # rule proposes again and the investigator adjudicates again (the old one stays in the history).
        event.is_dlt = False
        event.adjudicated_by = event.adjudicated_at = None
        event.adjudication_comment = ""
        event.dlt_status = AdverseEvent.DltStatus.PROPOSED if meets_dlt_criteria(event) else ""


def _ae_after(event, user=None) -> None:
    _review(event.subject.trial)


def _adjudication_prepare(event, before) -> None:
    from subjects.models import AdverseEvent
    from subjects.services import adjudication_problem

    if event.dlt_status not in (AdverseEvent.DltStatus.CONFIRMED, AdverseEvent.DltStatus.REJECTED):
        raise ValidationError({"dlt_status": "Choose “DLT” or “Not a DLT”."})
    confirmed = event.dlt_status == AdverseEvent.DltStatus.CONFIRMED
    problem = adjudication_problem(event, confirm=confirmed, comment=event.adjudication_comment)
    if problem:
        raise ValidationError({"dlt_status" if confirmed else "adjudication_comment": problem})
    event.is_dlt = confirmed
    event.adjudicated_at = timezone.now()


# --- assessments, visits, follow-up, subject, screening -------------------------------------------------


def _assessment_prepare(assessment, before) -> None:
    from subjects.models import Assessment

    _not_future(assessment, "assessed_on")
    if assessment.kind == Assessment.Kind.VITALS and assessment.weight_kg is None:
        raise ValidationError({"weight_kg": "Give the weight with the vital signs (it is used for per-kg doses)."})
    if assessment.kind == Assessment.Kind.PERFORMANCE and assessment.ecog is None:
        raise ValidationError({"ecog": "Give the ECOG performance status."})


def _visit_prepare(visit, before) -> None:
    from visits.models import PlannedVisit
    from visits.services import MISSED_REASON_MIN_LENGTH, deviation_days

    _not_future(visit, "done_on")
    visit.deviation, visit.deviation_days = False, None
    if visit.status == PlannedVisit.Status.DONE:
        if visit.done_on is None:
            raise ValidationError({"done_on": "Enter the date the visit took place."})
        visit.missed_reason = ""
        visit.deviation_days = deviation_days(visit, visit.done_on)
        visit.deviation = visit.deviation_days is not None
    elif visit.status == PlannedVisit.Status.MISSED:
        visit.done_on = None
        if len(visit.missed_reason.strip()) < MISSED_REASON_MIN_LENGTH:
            raise ValidationError({"missed_reason": "Say why the visit was missed."})
    else:
        visit.done_on, visit.missed_reason = None, ""
    visit.overdue = False


def _follow_up_prepare(follow_up, before) -> None:
    _not_future(follow_up, "last_dose", "new_therapy", "follow_up_end", "clinical_progression", "last_known_alive")
    if follow_up.death_cause.strip() and follow_up.follow_up_end_reason != "death":
        raise ValidationError({"death_cause": "A cause of death is recorded only when follow-up ended by death."})
    if follow_up.follow_up_end is not None and not follow_up.follow_up_end_reason:
        raise ValidationError({"follow_up_end_reason": "Say why follow-up ended."})
    if follow_up.follow_up_end is None and follow_up.follow_up_end_reason:
        raise ValidationError({"follow_up_end": "Enter the date follow-up ended, or clear the reason."})


def _subject_prepare(subject, before) -> None:
    _not_future(subject, "off_study_on")
    subject.initials = subject.initials.strip().upper()
    if subject.off_study_on is not None and not subject.off_study_reason.strip():
        raise ValidationError({"off_study_reason": "Say why the subject left the study."})
    if subject.off_study_on is None and subject.off_study_reason.strip():
        raise ValidationError({"off_study_on": "Enter the date the subject left the study, or clear the reason."})
    if subject.date_of_birth >= timezone.localdate():
        raise ValidationError({"date_of_birth": "The date of birth must be in the past."})


def _subject_after(subject, user=None) -> None:
    """As after the off-study form: the follow-up ends on the (corrected) off-study date."""
    from subjects.services import FOLLOW_UP_END_REASONS
    from visits.models import FollowUp

    follow_up = FollowUp.objects.select_for_update().filter(subject=subject).first()
    if follow_up is not None and subject.off_study_on is not None and (
            follow_up.follow_up_end != subject.off_study_on):
        follow_up.follow_up_end = subject.off_study_on
        follow_up.follow_up_end_reason = FOLLOW_UP_END_REASONS.get(subject.off_study_reason, "study_end")
        follow_up.save(update_fields=["follow_up_end", "follow_up_end_reason", "updated_at"])
    _replan_and_review(subject, user)


def _screening_prepare(record, before) -> None:
    _not_future(record, "consent_date", "assessed_on")
    record.initials = record.initials.strip().upper()
    if record.assessed_on is not None and record.assessed_on < record.consent_date:
        raise ValidationError({"assessed_on": f"Screening assessments come after consent "
                                              f"({record.consent_date:%d %b %Y})."})
    if record.date_of_birth >= record.consent_date:
        raise ValidationError({"date_of_birth": "The date of birth must be before the consent date."})


def _screening_after(record, user=None) -> None:
    """The enrolled subject's identity is the screening record's: a correction carries over, and the
    screening visit follows the screening date."""
    from subjects.models import Subject

    if record.subject_id is None:
        return
    subject = Subject.objects.select_for_update().get(pk=record.subject_id)
    subject.initials, subject.date_of_birth, subject.sex = record.initials, record.date_of_birth, record.sex
    subject.save(update_fields=["initials", "date_of_birth", "sex"])
    from visits import services as visit_services

    sync = getattr(visit_services, "screening_visit_sync", None)
    if sync is not None:
        sync(subject=subject)


def _screening_refused(record, action) -> str | None:
    if action == "void" and record.subject_id is not None:
        return "This candidate is enrolled: correct the screening record instead of voiding it."
    return None




def _values_form(record, user, data):
    from screening.forms import EligibilityValuesForm
    from screening.services import criteria_for

    return EligibilityValuesForm(data, criteria=criteria_for(record.trial),
                                 initial={"assessed_on": record.assessed_on, **record.values})


def _values_changes(form) -> dict:
    from screening.services import _jsonable

    return {"assessed_on": form.cleaned_data["assessed_on"],
            "values": {k: _jsonable(v) for k, v in form.values().items()}}


def _judgements_form(record, user, data):  # the reserved judgements stay disabled for coordinators
    from screening.forms import JudgementForm
    from screening.services import criteria_for, may_judge, reserved_judgement_message

    criteria = criteria_for(record.trial)
    reserved = {c.code: reserved_judgement_message(c, record) for c in criteria
                if c.kind == "judgement" and not may_judge(user, record, c)}
    initial = {f"j_{code}": "yes" if j.get("met") else "no" for code, j in record.judgements.items()}
    return JudgementForm(data, criteria=criteria, initial=initial, reserved=reserved)


def _judgements_changes(form) -> dict:
    """The judgements as stored (who and when per criterion); unchanged ones keep their author."""
    record, user = form.correction_record, form.correction_user
    stored, now = dict(record.judgements), timezone.now().isoformat()
    for code, met in form.judgements().items():
        if met is None:
            stored.pop(code, None)
        elif stored.get(code, {}).get("met") != met:
            stored[code] = {"met": met, "by": user.pk, "by_name": user.get_full_name() or user.username, "at": now}
    return {"judgements": stored}


def _judgements_form_for(record, user, data):
    form = _judgements_form(record, user, data)
    form.correction_record, form.correction_user = record, user
    return form


def _screening_values_after(record, user=None) -> None:
    """A record confirmed eligible whose corrected values no longer meet the criteria goes back to
    screening: eligibility is confirmed again by a person (an enrolled subject's record keeps its
    status; the eligibility shown on it is recomputed from the corrected values)."""
    from screening.models import ScreeningRecord
    from screening.services import eligibility_for

    if record.status == ScreeningRecord.Status.ELIGIBLE and not eligibility_for(record).eligible:
        record.status, record.decided_by, record.decided_at = ScreeningRecord.Status.IN_PROGRESS, None, None
        record.save(update_fields=["status", "decided_by", "decided_at"])
    _screening_after(record)


def _dispensing_prepare(record, before) -> None:
    from subjects.dispensing import dispensing_check

    dispensing_check(record, today=timezone.localdate())


def _dispensing_after(record, user=None) -> None:
    from subjects.dispensing import dispensing_derive_doses

    dispensing_derive_doses(record, user=user)


def _findings(module: str, name: str, **kwargs):
    def findings(record):
        from importlib import import_module

        return getattr(import_module(module), name)(record, **kwargs)

    return findings


def register_all() -> None:
    from screening.models import ScreeningRecord
    from subjects.models import AdverseEvent, Assessment, DoseAdministration, Subject
    from visits.models import FollowUp, PlannedVisit

    register(RecordKind(
        slug="dose", model=DoseAdministration, label="Dose",
        fields=("cycle", "day", "administered_at", "dose", "weight_kg", "deviation_reason"),
        roles=(Role.COORDINATOR,), owner=_subject, detail_url=_subject_url,
        prepare=_dose_prepare, after=_replan_and_review, voidable=True, refused=_dose_refused,
        findings=_findings("subjects.services", "dose_findings"),
    ))
    register(RecordKind(
        slug="adverse-event", model=AdverseEvent, label="Adverse event",
        fields=("term", "grade", "onset_date", "resolution_date", "serious", "attribution", "immune_related",
                "action_taken", "outcome"),
        roles=SITE_ROLES, owner=_subject, detail_url=lambda e: reverse("subjects:ae_detail", args=[e.pk]),
        prepare=_ae_prepare, after=_ae_after, voidable=True,
        findings=_findings("subjects.services", "adverse_event_findings"),
    ))
    register(RecordKind(
        slug="dlt-adjudication", model=AdverseEvent, label="DLT adjudication",
        fields=("dlt_status", "adjudication_comment"),
        roles=(Role.INVESTIGATOR,), owner=_subject, detail_url=lambda e: reverse("subjects:ae_detail", args=[e.pk]),
        prepare=_adjudication_prepare, after=_ae_after,
    ))
    register(RecordKind(
        slug="assessment", model=Assessment, label="Pre-dose assessment",
        fields=("kind", "assessed_on", "weight_kg", "ecog", "notes"),
        roles=SITE_ROLES, owner=_subject, detail_url=_subject_url, prepare=_assessment_prepare, voidable=True,
        findings=_findings("subjects.services", "assessment_findings"),
    ))
    register(RecordKind(
        slug="visit", model=PlannedVisit, label="Visit",
        fields=("status", "done_on", "missed_reason"),
        roles=SITE_ROLES, owner=_subject, detail_url=lambda v: reverse("visits:calendar", args=[v.subject_id]),
        prepare=_visit_prepare, findings=_findings("visits.services", "visit_findings"),
    ))
    register(RecordKind(
        slug="follow-up", model=FollowUp, label="Follow-up",
        fields=("last_dose", "new_therapy", "clinical_progression", "last_known_alive", "follow_up_end",
                "follow_up_end_reason", "death_cause"),
        roles=(Role.COORDINATOR,), owner=_subject, detail_url=lambda f: reverse("visits:calendar",
                                                                                args=[f.subject_id]),
        prepare=_follow_up_prepare, after=_replan_and_review,
        findings=_findings("visits.services", "follow_up_findings"),
    ))
    register(RecordKind(
        slug="subject", model=Subject, label="Subject",
        fields=("initials", "date_of_birth", "sex", "tumour_type", "status", "end_of_treatment_reason",
                "end_of_treatment_detail",
                "off_study_on", "off_study_reason", "off_study_detail"),
        roles=SITE_ROLES, owner=lambda s: s, detail_url=lambda s: reverse("subjects:detail", args=[s.pk]),
        prepare=_subject_prepare, after=_subject_after,
    ))
    register(RecordKind(
        slug="screening", model=ScreeningRecord, label="Screening record (consent and identity)",
        fields=("initials", "date_of_birth", "sex", "consent_form_version", "consent_date", "assessed_on"),
        roles=(Role.COORDINATOR,), owner=lambda r: r, detail_url=lambda r: reverse("screening:detail", args=[r.pk]),
        prepare=_screening_prepare, after=_screening_after, voidable=True, refused=_screening_refused,
        findings=_findings("screening.services", "screening_findings", values=False),
    ))
    register(RecordKind(
        slug="screening-values", model=ScreeningRecord, label="Screening values",
        fields=("assessed_on", "values"), roles=SITE_ROLES, owner=lambda r: r,
        detail_url=lambda r: reverse("screening:detail", args=[r.pk]),
        prepare=_screening_prepare, after=_screening_values_after, form=_values_form, changes=_values_changes,
        findings=_findings("screening.services", "screening_findings"),
    ))
    register(RecordKind(
        slug="screening-judgements", model=ScreeningRecord, label="Screening judgements",
        fields=("judgements",), roles=SITE_ROLES, owner=lambda r: r,
        detail_url=lambda r: reverse("screening:detail", args=[r.pk]),
        after=_screening_values_after, form=_judgements_form_for, changes=_judgements_changes,
    ))
    from subjects.models import OralDispensing

    register(RecordKind(
        slug="dispensing", model=OralDispensing, label="Oral drug dispensing",
        fields=("dispensed_on", "first_dose_at", "tablets_dispensed", "returned_on", "tablets_returned",
                "missed_days", "discrepancy_reason"),
        form_fields={"missed_days": forms.TypedMultipleChoiceField(
            choices=[(d, str(d)) for d in range(1, 15)], coerce=int, required=False,
            widget=forms.CheckboxSelectMultiple, label="Days missed (cycle days 1–14)")},
        roles=SITE_ROLES, owner=_subject, detail_url=_subject_url,
        prepare=_dispensing_prepare, after=_dispensing_after, voidable=True,
    ))
