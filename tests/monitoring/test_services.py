"""SDV services (monitoring.services): who verifies, what is stored, and what clears a verification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from monitoring import selectors, services
from monitoring.models import SourceVerification
from records import services as record_services
from records.registry import KINDS, kind_for
from subjects.models import AdverseEvent, Subject
from subjects.services import subject_end_treatment

pytestmark = pytest.mark.django_db
AE = kind_for("adverse-event")


def test_monitor_verifies_a_form_with_every_field_and_a_single_field(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    form = services.verify(user=monitor, kind="adverse-event", record=event)
    assert set(form.values) == set(AE.fields)
    assert form.values["grade"] == "2" and form.values["term"] == "Fatigue"
    assert (form.trial_id, form.site_id, form.subject_id, form.kind, form.field) == (
        event.subject.trial_id, event.subject.site_id, event.subject_id, "adverse-event", "")
    grade = services.verify(user=monitor, kind=AE, record=event, field="grade")
    assert grade.values == {"grade": "2"}
    assert selectors.form_mark(AE, event).verified
    assert selectors.field_mark(AE, event, "grade").verified
    assert selectors.field_mark(AE, event, "serious").via_form  # covered by the form's verification


def test_a_second_verification_of_the_same_field_is_refused_naming_who(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    services.verify(user=monitor, kind=AE, record=event, field="grade")
    with pytest.raises(ValidationError, match="Already verified by"):
        services.verify(user=monitor, kind=AE, record=event, field="grade")
    assert SourceVerification.objects.count() == 1


@pytest.mark.parametrize("role", ["coordinator", "investigator", "sponsor", "data_manager", "monitor_b",
                                  "coordinator_b"])
def test_only_the_monitor_of_the_site_verifies(sdv, role):
    with pytest.raises(PermissionDenied):
        services.verify(user=sdv["people"][role], kind=AE, record=sdv["event"])
    assert not SourceVerification.objects.exists()


def test_an_unknown_field_is_refused_naming_it(sdv):
    with pytest.raises(ValidationError) as exc:
        services.verify(user=sdv["people"]["monitor"], kind=AE, record=sdv["event"], field="initials")
    assert "field" in exc.value.message_dict and "initials" in exc.value.message_dict["field"][0]
    assert not SourceVerification.objects.exists()


def test_a_correction_clears_the_verifications_of_the_changed_field_only(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    form = services.verify(user=monitor, kind=AE, record=event)
    grade = services.verify(user=monitor, kind=AE, record=event, field="grade")
    term = services.verify(user=monitor, kind=AE, record=event, field="term")
    record_services.record_correct(kind=AE, record=event, user=sdv["people"]["coordinator"],
                                   changes={"grade": 3}, reason="Source says grade 3")
    form.refresh_from_db(), grade.refresh_from_db(), term.refresh_from_db()
    assert form.cleared_at and grade.cleared_at and term.cleared_at is None
    assert grade.cleared_reason == "grade 2 → 3"
    assert "grade 2 → 3" in form.cleared_reason
    event.refresh_from_db()
    mark = selectors.form_mark(AE, event)
    assert mark.state == selectors.CLEARED and mark.text == f"verification cleared: {form.cleared_reason}"
    assert selectors.field_mark(AE, event, "term").verified
    # The clearing is audited, under the correction's context (its reason).
    event_row = SourceVerification.pgh_event_model.objects.filter(pgh_obj_id=grade.pk).order_by("pgh_id").last()
    assert event_row.cleared_at is not None and event_row.pgh_context["reason"] == "Source says grade 3"
    # Verified again on the corrected value.
    again = services.verify(user=monitor, kind=AE, record=event, field="grade")
    assert again.values == {"grade": "3"}


def test_a_change_through_another_service_clears_it(sdv):
    monitor, subject = sdv["people"]["monitor"], sdv["subject"]
    status = services.verify(user=monitor, kind="subject", record=subject, field="status")
    sex = services.verify(user=monitor, kind="subject", record=subject, field="sex")
    subject_end_treatment(subject=subject, user=sdv["people"]["coordinator"],
                          last_dose=subject.first_dose().administered_at.date(), reason="progression")
    status.refresh_from_db(), sex.refresh_from_db()
    assert status.cleared_at is not None and status.cleared_reason.startswith("status On treatment → ")
    assert sex.cleared_at is None


def test_a_save_that_changes_nothing_keeps_the_verification(sdv):
    """Values compared as the row reads back (a Decimal 60 and 60.00, a date and its text are the same)."""
    monitor, subject = sdv["people"]["monitor"], sdv["subject"]
    dose = subject.doses.first()
    verification = services.verify(user=monitor, kind="dose", record=dose)
    dose.weight_kg = None if dose.weight_kg is None else float(dose.weight_kg)
    dose.save()
    subject.save()
    verification.refresh_from_db()
    assert verification.cleared_at is None
    assert selectors.form_mark("dose", dose).verified


def test_a_raw_sql_change_never_shows_as_verified_and_is_cleared_when_verified_again(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    services.verify(user=monitor, kind=AE, record=event)
    services.verify(user=monitor, kind=AE, record=event, field="grade")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AdverseEvent._meta.db_table} SET grade = 4 WHERE id = %s", [event.pk])  # noqa: S608 - the table name is the model's
    event = AdverseEvent.objects.get(pk=event.pk)
    form, grade = selectors.form_mark(AE, event), selectors.field_mark(AE, event, "grade")
    assert form.state == grade.state == selectors.CHANGED
    assert not form.verified and "grade 2 → 4" in form.text and "verified by" not in form.text
    assert "2 → 4" in selectors.field_mark(AE, event, "grade").reason
    again = services.verify(user=monitor, kind=AE, record=event, field="grade")
    assert again.values == {"grade": "4"}
    stale = SourceVerification.objects.get(field="grade", cleared_at__isnull=False)
    assert stale.cleared_reason == "changed outside the application: grade 2 → 4"


def test_a_void_clears_the_verification(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    verification = services.verify(user=monitor, kind=AE, record=event)
    record_services.record_void(kind=AE, record=event, user=sdv["people"]["coordinator"],
                                reason="Entered for the wrong subject")
    verification.refresh_from_db()
    assert verification.cleared_reason == "entry voided: Entered for the wrong subject"
    with pytest.raises(ValidationError, match="void"):
        services.verify(user=monitor, kind=AE, record=AdverseEvent.all_objects.get(pk=event.pk))


def test_the_monitor_withdraws_a_verification_with_a_reason(sdv):
    monitor, event = sdv["people"]["monitor"], sdv["event"]
    verification = services.verify(user=monitor, kind=AE, record=event, field="grade")
    with pytest.raises(ValidationError):
        services.withdraw(user=monitor, verification=verification, reason="no")
    with pytest.raises(PermissionDenied):
        services.withdraw(user=sdv["people"]["coordinator"], verification=verification, reason="Not my call")
    services.withdraw(user=monitor, verification=verification, reason="Source page was the wrong visit")
    verification.refresh_from_db()
    assert verification.cleared_at and "Source page was the wrong visit" in verification.cleared_reason
    assert selectors.field_mark(AE, event, "grade").state == selectors.CLEARED
    with pytest.raises(ValidationError, match="no longer stands"):
        services.withdraw(user=monitor, verification=verification, reason="Once more, please")


def test_every_registered_kind_is_covered_by_the_clearing_receiver():
    from django.db.models.signals import post_save

    from monitoring.signals import _cleared_on_save

    for kind in KINDS.values():
        receivers = post_save._live_receivers(kind.model)
        receivers = receivers[0] if isinstance(receivers, tuple) else receivers
        assert _cleared_on_save in receivers, kind.slug


def test_progress_counts_forms_verified_per_subject(sdv):
    monitor, subject, event = sdv["people"]["monitor"], sdv["subject"], sdv["event"]
    before = selectors.subject_forms([subject])[subject.pk]
    assert before.verified == 0 and before.total >= 4  # subject, dose, assessments, the AE, ...
    services.verify(user=monitor, kind=AE, record=event)
    services.verify(user=monitor, kind="subject", record=subject)
    [site] = selectors.trial_progress(monitor, sdv["trial"])
    [row] = site.subjects
    assert (row.verified, row.total, site.verified) == (2, before.total, 2)
    Subject.objects.filter(pk=subject.pk).update(initials="ZZZ")  # raw change: no longer counted
    [site] = selectors.trial_progress(monitor, sdv["trial"])
    assert site.verified == 1 and site.cleared == 1
    assert selectors.trial_progress(sdv["people"]["monitor_b"], sdv["trial"])[0].subjects == []


def test_each_form_of_a_record_read_by_several_forms_is_verified_on_its_own(sdv):
    """A screening record is three forms (consent and identity, values, judgements): each has its own
    whole-form mark, and a second mark of the same form is refused."""
    from tests.screening.helpers import eligible_screening

    monitor = sdv["people"]["monitor"]
    screening = eligible_screening(sdv["trial"], sdv["subject"].site, sdv["people"]["coordinator"], initials="QZS")
    for slug in ("screening", "screening-values", "screening-judgements"):
        services.verify(user=monitor, kind=slug, record=screening)
    assert SourceVerification.objects.filter(object_id=screening.pk, field="", cleared_at__isnull=True).count() == 3
    with pytest.raises(ValidationError, match="Already verified by"):
        services.verify(user=monitor, kind="screening-values", record=screening)
    for slug in ("screening", "screening-values", "screening-judgements"):
        assert selectors.form_mark(kind_for(slug), screening).verified


def test_the_progress_reads_take_as_many_queries_for_many_records_as_for_one(sdv, django_assert_num_queries):
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    from subjects.services import adverse_event_record
    from tests.test_decision_safety import first_day

    people, subject = sdv["people"], sdv["subject"]
    before = selectors.subject_forms([subject])[subject.pk].total  # (content types cached from here)
    with CaptureQueriesContext(conn) as one:
        selectors.subject_forms(Subject.objects.filter(pk=subject.pk))
    events = [adverse_event_record(subject=subject, user=people["coordinator"], term=term, grade=1,
                                   attribution="unlikely", onset_date=first_day(subject) + timedelta(days=3))
              for term in ("Nausea", "Headache", "Anorexia")]
    services.verify(user=people["monitor"], kind=AE, record=events[0])
    with django_assert_num_queries(len(one.captured_queries)):
        progress = selectors.subject_forms(Subject.objects.filter(pk=subject.pk))
    assert progress[subject.pk].total == before + 3 and progress[subject.pk].verified == 1
