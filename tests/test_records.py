"""Corrections with a reason, voiding and the history page: one mechanism for every record (issue 8,
points 3–5), through the services and through the running app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from escalation.models import Cohort, EscalationDecision
from outbox.models import OutboxMessage
from records import services
from records.registry import KINDS, kind_for
from records.selectors import record_history
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import adverse_event_record, dose_record
from tests.screening.helpers import eligible_screening, predose
from trials.models import Membership
from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db

REASON = "Transcription error against the source notes"


def enrolled_and_dosed(trial, site, coordinator, *, days_ago: int):
    """A subject enrolled from screening 25 days ago (entered now, retrospectively) and dosed ``days_ago``."""
    from subjects.services import subject_enrol

    record = eligible_screening(trial, site, coordinator)
    subject = subject_enrol(trial=trial, user=coordinator, screening=record)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=timezone.now() - timedelta(days=25))
    subject.refresh_from_db()
    when = (timezone.localtime() - timedelta(days=days_ago)).replace(second=0, microsecond=0)
    predose(subject, when, coordinator)
    dose = dose_record(subject=subject, drug=trial.drugs.get(), cycle=1, day=1, administered_at=when,
                       user=coordinator)
    return Subject.objects.get(pk=subject.pk), dose


@pytest.fixture
def dosed(people, bat6005, site_a):
    """A BAT6005 subject dosed 23 days ago (its DLT window closed)."""
    return enrolled_and_dosed(bat6005, site_a, people["coordinator"], days_ago=23)


def _form_value(value):
    if hasattr(value, "hour"):
        return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool):
        return "on" if value else ""
    return "" if value is None else str(value)


def correction_post(kind, record, reason=REASON, **changes):
    data = {name: _form_value(getattr(record, name)) for name in kind_for(kind).fields}
    data = {k: v for k, v in data.items() if v != ""}
    data.update({k: _form_value(v) for k, v in changes.items()})
    data["reason"] = reason
    return data


def test_every_clinical_record_kind_is_registered():
    assert {"dose", "adverse-event", "dlt-adjudication", "assessment", "visit", "follow-up", "subject",
            "screening"} <= set(KINDS)


def test_dose_date_correction_flows_on_like_the_entry(people, login, dosed):
    subject, dose = dosed
    client = login(people["coordinator"])
    c2d1_before = subject.visits.get(code="C2D1").target
    OutboxMessage.objects.all().delete()
    earlier = dose.administered_at - timedelta(days=2)

    # No reason: refused, field named, nothing changed.
    response = client.post(reverse("records:correct", args=["dose", dose.pk]),
                           correction_post("dose", dose, reason="", administered_at=earlier))
    assert response.status_code == 422
    assert b"reason" in response.content.lower()
    dose.refresh_from_db()
    assert dose.administered_at != earlier

    response = client.post(reverse("records:correct", args=["dose", dose.pk]),
                           correction_post("dose", dose, administered_at=earlier))
    assert response.status_code == 302, response.content.decode()
    dose.refresh_from_db()
    assert dose.administered_at == earlier
    # The visits are re-planned from the corrected first dose; escalation is asked to look again.
    assert subject.visits.get(code="C2D1").target == c2d1_before - timedelta(days=2)
    assert OutboxMessage.objects.filter(task_name="escalation.tasks.review_trial").exists()

    # The history page: who, when, field, old → new, reason.
    page = client.get(reverse("records:history", args=["dose", dose.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert REASON in text
    assert "corrected" in text
    assert timezone.localtime(earlier).strftime("%d %b %Y %H:%M") in text
    entries = record_history(dose)
    assert [e.action for e in entries] == ["entered", "corrected"]
    corrected = entries[-1]
    assert corrected.reason == REASON
    assert corrected.user == (people["coordinator"].get_full_name() or "coordinator")
    assert [c.field for c in corrected.changes] == ["administered_at"]


def test_voided_dose_is_kept_struck_through_and_counts_nowhere(people, login, dosed):
    subject, dose = dosed
    client = login(people["coordinator"])
    response = client.post(reverse("records:void", args=["dose", dose.pk]), {"reason": "short"})
    assert response.status_code == 422  # the confirmation box is missing
    response = client.post(reverse("records:void", args=["dose", dose.pk]),
                           {"reason": "Entered against the wrong subject", "confirm": "on"})
    assert response.status_code == 302
    assert DoseAdministration.all_objects.filter(pk=dose.pk).exists()  # never deleted
    assert not subject.doses.exists()
    assert subject.first_dose() is None
    page = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert 'class="voided"' in page
    assert "Entered against the wrong subject" in page
    # A void entry is not corrected any more, and its day may be recorded again.
    with pytest.raises(Exception, match="void"):
        services.record_correct(kind=kind_for("dose"), record=dose, user=people["coordinator"],
                                changes={"dose": dose.dose + 1}, reason=REASON)
    again = dose_record(subject=subject, drug=dose.drug, cycle=1, day=1, administered_at=dose.administered_at,
                        user=people["coordinator"])
    assert again.pk != dose.pk


def test_voided_ae_leaves_the_escalation_evidence(people, dosed, bat6005):
    subject, dose = dosed
    ae = adverse_event_record(subject=subject, user=people["investigator"], term="Pneumonitis", grade=3,
                              onset_date=(dose.administered_at + timedelta(days=5)).date(),
                              attribution="definite", is_dlt=True)
    from escalation.selectors import escalation_evidence

    assert escalation_evidence(bat6005, now=timezone.now()).outcomes[0].dlt
    services.record_void(kind=kind_for("adverse-event"), record=ae, user=people["coordinator"],
                         reason="Belongs to another subject")
    evidence = escalation_evidence(bat6005, now=timezone.now())
    assert not evidence.outcomes[0].dlt
    assert AdverseEvent.all_objects.get(pk=ae.pk).void_reason == "Belongs to another subject"


def test_corrected_ae_grade_reopens_the_adjudication(people, dosed):
    subject, dose = dosed
    ae = adverse_event_record(subject=subject, user=people["coordinator"], term="Pneumonitis", grade=3,
                              onset_date=(dose.administered_at + timedelta(days=5)).date(),
                              attribution="definite")
    assert ae.dlt_status == AdverseEvent.DltStatus.PROPOSED
    services.record_correct(kind=kind_for("dlt-adjudication"), record=ae, user=people["investigator"],
                            changes={"dlt_status": "confirmed", "adjudication_comment": ""}, reason=REASON)
    ae.refresh_from_db()
    assert ae.is_dlt
    services.record_correct(kind=kind_for("adverse-event"), record=ae, user=people["coordinator"],
                            changes={"grade": 2}, reason="Grade read from the wrong column")
    ae.refresh_from_db()
    assert (ae.grade, ae.is_dlt, ae.dlt_status) == (2, False, "")
    actions = [(e.action, e.reason) for e in record_history(ae)]
    assert actions[-1] == ("corrected", "Grade read from the wrong column")


def test_who_may_correct(people, login, dosed, site_b):
    _subject, dose = dosed
    # The investigator does not enter doses, so does not correct them.
    assert login(people["investigator"]).get(reverse("records:correct", args=["dose", dose.pk])).status_code == 403
    # The history is there for every site staff member of the site.
    assert login(people["investigator"]).get(reverse("records:history", args=["dose", dose.pk])).status_code == 200
    # Another site's coordinator and the sponsor do not see the record at all.
    for who in ("coordinator_b", "sponsor"):
        client = login(people[who])
        assert client.get(reverse("records:history", args=["dose", dose.pk])).status_code == 404
        assert client.post(reverse("records:correct", args=["dose", dose.pk]),
                           correction_post("dose", dose, dose="11")).status_code == 404
    assert login(people["coordinator"]).get(reverse("records:correct", args=["nonsense", 1])).status_code == 404


def test_off_study_correction_replans_and_reviews(people, login, dosed):
    subject, _ = dosed
    client = login(people["coordinator"])
    off = timezone.localdate() - timedelta(days=1)
    response = client.post(reverse("records:correct", args=["subject", subject.pk]),
                           correction_post("subject", subject, off_study_on=off, off_study_reason="",
                                           status=Subject.Status.OFF_STUDY))
    assert response.status_code == 422
    assert b"Say why the subject left the study" in response.content
    response = client.post(reverse("records:correct", args=["subject", subject.pk]),
                           correction_post("subject", subject, off_study_on=off,
                                           off_study_reason=Subject.OffStudyReason.WITHDRAWN,
                                           status=Subject.Status.OFF_STUDY))
    assert response.status_code == 302, response.content.decode()
    subject.refresh_from_db()
    assert subject.off_study_on == off
    assert OutboxMessage.objects.filter(task_name="escalation.tasks.review_trial").exists()


def test_visit_correction_back_to_planned(people, login, dosed):
    subject, _ = dosed
    from visits.services import visit_record_done

    visit = subject.visits.get(code="C2D1")
    visit_record_done(visit=visit, user=people["coordinator"], done_on=timezone.localdate())
    client = login(people["coordinator"])
    response = client.post(reverse("records:correct", args=["visit", visit.pk]),
                           correction_post("visit", PlannedVisit.objects.get(pk=visit.pk),
                                           status=PlannedVisit.Status.PLANNED, done_on=None))
    assert response.status_code == 302, response.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.done_on) == (PlannedVisit.Status.PLANNED, None)


def test_screening_identity_correction_carries_to_the_subject(people, dosed):
    subject, _ = dosed
    record = subject.screening
    services.record_correct(kind=kind_for("screening"), record=record, user=people["coordinator"],
                            changes={"initials": "ABD"}, reason="Initials misread on the ICF")
    subject.refresh_from_db()
    assert subject.initials == "ABD"
    with pytest.raises(Exception, match="enrolled"):
        services.record_void(kind=kind_for("screening"), record=record, user=people["coordinator"], reason=REASON)


def test_nothing_changed_is_refused(people, dosed):
    _, dose = dosed
    with pytest.raises(Exception, match="Nothing was changed"):
        services.record_correct(kind=kind_for("dose"), record=dose, user=people["coordinator"],
                                changes={"dose": dose.dose}, reason=REASON)


# --- the admin cannot bypass the workflow (point 5) ---------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    """A superuser signed in as the sign-in flow leaves it (administrators need a second factor)."""
    from tests.auth import sign_in

    admin = django_user_model.objects.create_superuser("root", "root@example.org", "root-password-9")
    return sign_in(client, admin)


def test_admin_cannot_bypass_the_workflow(admin_client, people, dosed, bat6005):
    subject, _dose = dosed
    ae = adverse_event_record(subject=subject, user=people["coordinator"], term="Nausea", grade=1,
                              onset_date=timezone.localdate(), attribution="unlikely")
    cohort = Cohort.objects.get(trial=bat6005, number=1)
    # No approved decision without a signature, no reopened cohort, no hard-deleted AE.
    assert admin_client.get(reverse("admin:escalation_escalationdecision_add")).status_code == 403
    response = admin_client.post(reverse("admin:escalation_cohort_change", args=[cohort.pk]),
                                 {"status": "open", "capacity": 12})
    assert response.status_code in (403, 302) and Cohort.objects.get(pk=cohort.pk).capacity == cohort.capacity
    assert admin_client.post(reverse("admin:subjects_adverseevent_delete", args=[ae.pk]),
                             {"post": "yes"}).status_code == 403
    assert AdverseEvent.objects.filter(pk=ae.pk).exists()
    for name in ("subjects_doseadministration", "subjects_subject", "visits_plannedvisit", "visits_followup",
                 "screening_screeningrecord", "escalation_signature", "trials_doselevel"):
        url = f"admin:{name}_add"
        try:
            assert admin_client.get(reverse(url)).status_code == 403, url
        except Exception as exc:  # not registered at all is also fine
            assert "NoReverseMatch" in type(exc).__name__, url
    # Sites, users, roles and reference ranges stay administrable.
    for name in ("trials_site", "trials_membership", "auth_user", "screening_sitereferencerange"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    assert not EscalationDecision.objects.exists()


# --- what else is audited (point 4) and the database user (point 6) -------------------------------------


def test_users_roles_sites_and_links_are_audited(people, bat6005, site_b, django_user_model):
    from records.models import TrialSiteLink

    user = people["coordinator_b"]
    user.email = "changed@example.org"
    user.save()
    events = django_user_model.objects.none()
    from records.selectors import event_model_for

    user_events = event_model_for(django_user_model).objects.filter(pgh_obj_id=user.pk)
    assert user_events.filter(pgh_label="update", email="changed@example.org").exists()
    membership = Membership.objects.get(user=user)
    membership.role = "investigator"
    membership.save()
    assert event_model_for(Membership).objects.filter(pgh_obj_id=membership.pk, pgh_label="update").exists()
    site_b.name = "Site B (renamed)"
    site_b.save()
    assert event_model_for(type(site_b)).objects.filter(pgh_obj_id=site_b.pk, name="Site B (renamed)").exists()
    bat6005.sites.remove(site_b)
    assert event_model_for(TrialSiteLink).objects.filter(pgh_label="delete", site_id=site_b.pk).exists()
    assert events.count() == 0


def test_raw_sql_change_records_the_database_user(dosed):
    _, dose = dosed
    with connection.cursor() as cursor:
        cursor.execute("UPDATE subjects_doseadministration SET dose = dose + 1 WHERE id = %s", [dose.pk])
        cursor.execute("SELECT current_user")
        db_user = cursor.fetchone()[0]
    from records.selectors import event_model_for

    event = event_model_for(DoseAdministration).objects.filter(pgh_obj_id=dose.pk).latest("pgh_id")
    assert event.pgh_label == "update"
    assert event.pgh_db_user == db_user
    assert event.pgh_context is None  # made outside the application: no app user, but the db role
    entry = record_history(dose)[-1]
    assert entry.db_user == db_user and entry.user == ""


def test_a_correction_passes_the_entry_edit_checks(people, dosed):
    """A correction cannot save what the entry form refuses (9,999 kg, a 10× dose)."""
    subject, dose = dosed
    assessment = subject.assessments.filter(kind="vitals").first()
    with pytest.raises(Exception, match="kg"):
        services.record_correct(kind=kind_for("assessment"), record=assessment, user=people["coordinator"],
                                changes={"weight_kg": 9999}, reason=REASON)
    with pytest.raises(Exception, match="dose"):
        services.record_correct(kind=kind_for("dose"), record=dose, user=people["coordinator"],
                                changes={"dose": dose.dose * 10}, reason=REASON)
    assert DoseAdministration.objects.get(pk=dose.pk).dose == dose.dose
