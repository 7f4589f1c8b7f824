"""Small truths (issue 8, point 12 and the off-study form of point 3): the visit plan up to a last dose, the
screening visit completed from the screening record, judgements reserved for the investigator, doses shown
with their unit, and end of treatment / off study recorded in the app."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from escalation.selectors import escalation_evidence
from outbox.models import OutboxMessage
from screening.models import ScreeningRecord
from screening.services import screening_judge
from subjects.models import DoseAdministration, Subject
from subjects.services import dose_record, subject_end_treatment, subject_enrol, subject_off_study
from tests.conftest import load_trial, member
from tests.screening.helpers import eligible_screening, predose
from tests.visits.conftest import make_subject
from trialrules import eligibility
from trials.models import Role
from visits.models import FollowUp, PlannedVisit
from visits.services import follow_up_set, screening_visit_sync

REVIEW = "escalation.tasks.review_trial"


def codes(subject, kind):
    return list(subject.visits.filter(kind=kind).order_by("target").values_list("code", flat=True))


# ------------------------------------------------------------------ (a) the plan up to the last dose


def test_preview_with_a_last_dose_plans_every_cycle_up_to_it():  # no database: the plan is the file's
    out = StringIO()
    call_command("visits", "preview", "--protocol", "BAT6005", "--first-dose", "2026-01-05",
                 "--last-dose", "2026-04-20", "--json", stdout=out)
    visits = {v["code"]: v for v in json.loads(out.getvalue())}
    assert [c for c in visits if c.startswith("C")] == ["C2D1", "C3D1", "C4D1", "C5D1", "C6D1"]
    assert visits["C6D1"]["target"] == "2026-04-20"
    assert visits["EOT"]["target"] == "2026-05-11"


def test_preview_text_lists_the_cycles_too():
    out = StringIO()
    call_command("visits", "preview", "--protocol", "BAT6005", "--first-dose", "2026-01-05",
                 "--last-dose", "2026-04-20", stdout=out)
    text = out.getvalue()
    assert "last dose 2026-04-20" in text and "C5D1" in text and "C6D1" in text and "C7D1" not in text


@pytest.mark.django_db
def test_live_plan_with_a_recorded_last_dose_plans_the_cycles_before_it(bat6005, site_a, people):
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=date(2026, 1, 5))
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=date(2026, 4, 20), today=date(2027, 6, 1))
    assert codes(subject, "dosing") == ["C2D1", "C3D1", "C4D1", "C5D1", "C6D1"]
    assert subject.visits.get(code="EOT").target == date(2026, 5, 11)


# ------------------------------------------------------------------ (b) the screening visit from the record


def _enrolled_and_dosed(bat6005, site_a, people, *, assessed_days_ago=10):
    coordinator = people["coordinator"]
    record = eligible_screening(bat6005, site_a, coordinator, initials="SCR",
                                assessed_on=timezone.localdate() - timedelta(days=assessed_days_ago))
    subject = subject_enrol(trial=bat6005, user=coordinator, screening=record)
    when = timezone.now() - timedelta(minutes=5)
    predose(subject, when, coordinator)
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when, user=coordinator)
    return subject, record


@pytest.mark.django_db
def test_screening_visit_is_done_on_the_screening_assessments_date(bat6005, site_a, people):
    subject, record = _enrolled_and_dosed(bat6005, site_a, people)
    scr = subject.visits.get(kind=PlannedVisit.Kind.SCREENING)
    assert (scr.status, scr.done_on, scr.deviation, scr.overdue) == ("done", record.assessed_on, False, False)
    # The watch no longer flags it: it is done.
    from visits.watch import run_watch

    run_watch(timezone.localdate() + timedelta(days=1))
    scr.refresh_from_db()
    assert scr.state(timezone.localdate()) == "done" and not scr.overdue


@pytest.mark.django_db
def test_changed_screening_date_moves_the_visit_and_flags_a_deviation(bat6005, site_a, people):
    subject, record = _enrolled_and_dosed(bat6005, site_a, people)
    scr = subject.visits.get(kind=PlannedVisit.Kind.SCREENING)
    record = ScreeningRecord.objects.get(pk=record.pk)
    record.assessed_on = scr.window_start - timedelta(days=2)  # a correction: 30 days before the first dose
    record.save()
    changed = screening_visit_sync(subject=subject, user=people["coordinator"])
    scr.refresh_from_db()
    assert changed == scr
    assert (scr.done_on, scr.deviation, scr.deviation_days) == (record.assessed_on, True, -2)
    assert OutboxMessage.objects.filter(task_name="visits.tasks.notify_deviation", args=[scr.pk]).exists()
    assert screening_visit_sync(subject=subject) is None  # nothing left to change


@pytest.mark.django_db
def test_app_enrol_then_dose_shows_the_screening_visit_done(login, bat6005, site_a, people):
    coordinator = people["coordinator"]
    record = eligible_screening(bat6005, site_a, coordinator, initials="APP",
                                assessed_on=timezone.localdate() - timedelta(days=7))
    client = login(coordinator)
    response = client.post(reverse("subjects:enrol", args=[bat6005.code]), {"screening": record.pk})
    assert response.status_code == 302
    subject = Subject.objects.get(screening=record)
    when = timezone.localtime() - timedelta(minutes=10)
    predose(subject, when, coordinator)
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]), {
        "drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1, "administered_at": when.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar = client.get(reverse("visits:calendar", args=[subject.pk])).content.decode()
    assert 'class="state-done" data-code="SCR"' in calendar
    assert f"Done {record.assessed_on:%d %b %Y}" in calendar
    assert 'class="state-overdue" data-code="SCR"' not in calendar


# ------------------------------------------------------------------ (c) judgements reserved for the investigator


def test_judged_by_is_read_from_the_protocol_and_checked():
    criterion = eligibility.criterion_from_data(
        {"code": "m", "kind": "judgement", "text": "Measurable", "judged_by": "investigator"}, where="e[1]")
    assert criterion.judged_by == "investigator"
    assert eligibility.criterion_from_data({"code": "c", "kind": "judgement"}, where="e[2]").judged_by is None
    with pytest.raises(eligibility.CriteriaError, match=r"e\[3\]\.judged_by: only a judgement"):
        eligibility.criterion_from_data({"code": "a", "kind": "min", "field": "age", "min": 18,
                                         "judged_by": "investigator"}, where="e[3]")
    with pytest.raises(eligibility.CriteriaError, match=r"e\[4\]\.judged_by: 'nurse' is not one of"):
        eligibility.criterion_from_data({"code": "b", "kind": "judgement", "judged_by": "nurse"}, where="e[4]")


def test_the_protocols_reserve_the_recist_judgement_for_the_investigator():
    from pathlib import Path

    from django.conf import settings

    from trials.protocol_file import read_protocol

    for path in sorted((Path(settings.BASE_DIR) / "protocols").glob("*.toml")):
        criteria = {c.code: c for c in eligibility.criteria_from_protocol(read_protocol(path).data)}
        assert criteria["measurable"].judged_by == "investigator", path.name
        assert criteria["consent"].judged_by is None, path.name


@pytest.fixture
def ql1706(site_a):
    trial = load_trial("QL1706")
    return trial, member(trial, Role.COORDINATOR, site_a, "ql-coordinator"), member(
        trial, Role.INVESTIGATOR, site_a, "ql-investigator")


@pytest.mark.django_db
def test_a_coordinator_cannot_record_an_investigator_judgement(ql1706, site_a):
    trial, coordinator, investigator = ql1706
    record = eligible_screening(trial, site_a, coordinator, confirm=False)
    record = screening_judge(record=record, user=investigator, judgements={"measurable": None})
    with pytest.raises(ValidationError) as refused:
        screening_judge(record=record, user=coordinator, judgements={"measurable": True, "consent": True})
    message = refused.value.message_dict["measurable"][0]
    assert message.startswith("Judged by the investigator: the QL1706 protocol has the investigator assess")
    assert "only an investigator of Site A can record it" in message
    record.refresh_from_db()
    assert "measurable" not in record.judgements
    # Unchanged, it is no change (the disabled box posts nothing new); the other judgements are the coordinator's.
    screening_judge(record=record, user=coordinator, judgements={"measurable": None, "consent": False})
    record.refresh_from_db()
    assert record.judgements["consent"]["met"] is False
    screening_judge(record=record, user=investigator, judgements={"measurable": True})
    record.refresh_from_db()
    assert record.judgements["measurable"]["by"] == investigator.pk
    with pytest.raises(ValidationError, match="Judged by the investigator"):
        screening_judge(record=record, user=coordinator, judgements={"measurable": None})  # nor clear it


@pytest.mark.django_db
def test_the_form_shows_the_reserved_box_disabled_for_coordinators(login, ql1706, site_a):
    trial, coordinator, investigator = ql1706
    record = eligible_screening(trial, site_a, coordinator, confirm=False)
    record = screening_judge(record=record, user=investigator, judgements={"measurable": None})
    url = reverse("screening:detail", args=[record.pk])
    page = login(coordinator).get(url).content.decode()
    assert 'name="j_measurable" value="yes" disabled id="id_j_measurable_1"' in page
    assert 'id="id_j_measurable-reserved">Judged by the investigator' in page
    assert 'name="j_consent" value="yes" id="id_j_consent_1"' in page
    # A coordinator's POST cannot set it (the disabled box keeps the recorded value) ...
    client = login(coordinator)
    response = client.post(reverse("screening:judge", args=[record.pk]), {"j_measurable": "yes", "j_consent": "yes"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert "measurable" not in record.judgements and record.judgements["consent"]["met"] is True
    # ... an investigator's does.
    page = login(investigator).get(url).content.decode()
    assert 'id="id_j_measurable-reserved"' not in page
    response = login(investigator).post(reverse("screening:judge", args=[record.pk]),
                                        {"j_measurable": "yes", "j_consent": "yes"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.judgements["measurable"]["by"] == investigator.pk


# ------------------------------------------------------------------ (d) every dose with its unit


def test_quantities_never_print_exponents_and_always_a_unit():
    rendered = Template('{% load quantities %}{{ a|with_unit:"mg" }}|{{ b|with_unit:"kg" }}|{{ a|with_unit:"" }}'
                        '|{{ c|plain }}').render(Context({"a": Decimal("10.000"), "b": Decimal("70.0"),
                                                          "c": Decimal("64.50")}))
    assert rendered == "10 mg|70 kg|10 (unit not recorded)|64.5"


@pytest.mark.django_db
def test_subject_page_and_dose_form_show_every_dose_with_its_unit(login, bat6005, site_a, people):
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=timezone.localdate() - timedelta(days=3))
    subject.assessments.create(kind="vitals", assessed_on=timezone.localdate(), weight_kg=Decimal("70.0"),
                               recorded_by=people["coordinator"])
    client = login(people["coordinator"])
    page = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert "E+" not in page
    assert "<strong>10 mg</strong>" in page  # planned dose
    assert "<td>10 mg</td>" in page  # the dose given (Decimal 10.000)
    assert "70 kg" in page
    form = client.get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert "Dose at this level: BAT6005 10 mg." in form and "Dose (mg)" in form


@pytest.mark.django_db
def test_per_kg_level_dose_shows_mg_per_kg(login, site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "lv-coordinator")
    subject = subject_enrol(trial=trial, site=site_a, user=coordinator, initials="LV", date_of_birth=date(1960, 1, 1),
                            sex="F")
    form = login(coordinator).get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert "Dose at this level: LVGN6051 1 mg/kg, Anlotinib 12 mg." in form


# ------------------------------------------------------------------ (e) end of treatment and off study


@pytest.fixture
def dosed(bat6005, site_a, people):
    """A BAT6005 subject with C1D1 and C2D1 recorded (first dose 2026-01-05), enrolled before it."""
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=date(2026, 1, 5), cycles=2)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=timezone.make_aware(datetime(2026, 1, 2, 9, 0)))
    subject.refresh_from_db()
    return subject


TODAY = date(2027, 6, 1)


@pytest.mark.django_db
def test_end_of_treatment_sets_the_status_the_last_dose_and_replans(dosed, people):
    OutboxMessage.objects.all().delete()
    subject = subject_end_treatment(subject=dosed, user=people["investigator"], last_dose=date(2026, 1, 26),
                                    reason="progression", detail="RECIST PD at week 6", today=TODAY)
    subject.refresh_from_db()
    assert (subject.status, subject.end_of_treatment_reason, subject.end_of_treatment_detail) == (
        "off_treatment", "progression", "RECIST PD at week 6")
    assert FollowUp.objects.get(subject=subject).last_dose == date(2026, 1, 26)
    assert codes(subject, "dosing") == ["C2D1"]
    assert subject.visits.get(code="EOT").target == date(2026, 2, 16)
    assert OutboxMessage.objects.filter(task_name=REVIEW, args=[subject.trial_id]).exists()
    with pytest.raises(ValidationError, match="already off treatment"):
        subject_end_treatment(subject=subject, user=people["coordinator"], last_dose=date(2026, 1, 26),
                              reason="toxicity", today=TODAY)


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"reason": "other"}, "detail", "“Other” needs the details"),
    ({"reason": "off_study"}, "reason", "Choose the reason from the list"),
    ({"reason": "nonsense"}, "reason", "Choose the reason from the list"),
    ({"last_dose": date(2026, 1, 20)}, "last_dose", "cannot be before the latest recorded dose (26 Jan 2026)"),
    ({"last_dose": TODAY + timedelta(days=1)}, "last_dose", "cannot be in the future"),
    ({"last_dose": None}, "last_dose", "Enter the date of the last dose"),
    ({"detail": "x" * 301}, "detail", "Keep the details to 300 characters"),
])
@pytest.mark.django_db
def test_end_of_treatment_bad_input_names_the_field(dosed, people, kwargs, field, message):
    values = {"last_dose": date(2026, 1, 26), "reason": "toxicity", **kwargs}
    with pytest.raises(ValidationError) as refused:
        subject_end_treatment(subject=dosed, user=people["coordinator"], today=TODAY, **values)
    assert message in refused.value.message_dict[field][0]
    dosed.refresh_from_db()
    assert dosed.status == "on_treatment" and not FollowUp.objects.filter(subject=dosed).exists()


@pytest.mark.django_db
def test_only_site_staff_record_the_end_of_treatment(dosed, people):
    for who in ("sponsor", "coordinator_b"):
        with pytest.raises(PermissionDenied):
            subject_end_treatment(subject=dosed, user=people[who], last_dose=date(2026, 1, 26), reason="toxicity",
                                  today=TODAY)
        with pytest.raises(PermissionDenied):
            subject_off_study(subject=dosed, user=people[who], off_study_on=date(2026, 2, 1), reason="death",
                              today=TODAY)


@pytest.mark.django_db
def test_never_dosed_subject_goes_off_study_not_off_treatment(bat6005, site_a, people):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="ND",
                            date_of_birth=date(1960, 1, 1), sex="M")
    with pytest.raises(ValidationError, match="never started treatment goes off study"):
        subject_end_treatment(subject=subject, user=people["coordinator"], last_dose=timezone.localdate(),
                              reason="toxicity")
    subject = subject_off_study(subject=subject, user=people["coordinator"], off_study_on=timezone.localdate(),
                                reason="investigator", detail="Rapid clinical deterioration")
    assert (subject.status, subject.off_study_reason, subject.end_of_treatment_reason) == (
        "off_study", "investigator", "")
    assert not FollowUp.objects.filter(subject=subject).exists()


@pytest.mark.django_db
def test_withdrawal_inside_the_dlt_window_ends_treatment_follow_up_and_evaluability(bat6005, site_a, people):
    first = timezone.localdate() - timedelta(days=10)
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=first)
    Subject.objects.filter(pk=subject.pk).update(cohort=bat6005.cohorts.order_by("number").first(),
                                                 enrolled_at=timezone.make_aware(datetime.combine(first, time(8))))
    subject.refresh_from_db()
    OutboxMessage.objects.all().delete()
    off = first + timedelta(days=5)
    subject = subject_off_study(subject=subject, user=people["coordinator"], off_study_on=off, reason="withdrawn")
    subject.refresh_from_db()
    assert (subject.status, subject.off_study_on, subject.off_study_reason) == ("withdrawn", off, "withdrawn")
    assert subject.end_of_treatment_reason == "off_study"
    follow_up = FollowUp.objects.get(subject=subject)
    assert (follow_up.last_dose, follow_up.follow_up_end, follow_up.follow_up_end_reason) == (first, off, "withdrawn")
    # No visit left after the off-study date; the subject is not evaluable for escalation (replaced).
    assert not subject.visits.filter(status="planned", window_end__gte=off).exists()
    facts = {f["subject"]: f for f in escalation_evidence(bat6005, now=timezone.now()).facts["subjects"]}
    assert facts[subject.code]["state"] == "not evaluable"
    assert OutboxMessage.objects.filter(task_name=REVIEW).exists()
    with pytest.raises(ValidationError, match="went off study on"):
        subject_off_study(subject=subject, user=people["coordinator"], off_study_on=off, reason="death")


@pytest.mark.django_db
def test_off_study_before_a_recorded_dose_is_refused(dosed, people):
    with pytest.raises(ValidationError) as refused:
        subject_off_study(subject=dosed, user=people["coordinator"], off_study_on=date(2026, 1, 20), reason="lost",
                          today=TODAY)
    assert "A dose is recorded on 26 Jan 2026, after this date." in refused.value.message_dict["off_study_on"][0]
    with pytest.raises(ValidationError) as refused:
        subject_off_study(subject=dosed, user=people["coordinator"], off_study_on=date(2025, 12, 1), reason="lost",
                          today=TODAY)
    assert "cannot leave before enrolment" in refused.value.message_dict["off_study_on"][0]


@pytest.mark.django_db
def test_subject_page_forms_record_end_of_treatment_then_off_study(login, people, bat6005, site_a):
    first = timezone.localdate() - timedelta(days=40)
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=first, cycles=2)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=timezone.make_aware(datetime.combine(first, time(8))))
    client = login(people["coordinator"])
    url = reverse("subjects:detail", args=[subject.pk])
    page = client.get(url).content.decode()
    assert 'id="end-treatment-form"' in page and 'id="off-study-form"' in page
    status_url = reverse("subjects:status", args=[subject.pk])
    last = first + timedelta(days=21)
    response = client.post(status_url, {"action": "end_treatment", "eot-last_dose": last.isoformat(),
                                        "eot-reason": "other", "eot-detail": ""})
    assert response.status_code == 422
    assert response.context["eot_form"].errors["detail"] == ["Say which reason: “Other” needs the details."]
    response = client.post(status_url, {"action": "end_treatment", "eot-last_dose": last.isoformat(),
                                        "eot-reason": "toxicity", "eot-detail": "Grade 3 colitis"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == url
    page = client.get(url).content.decode()
    assert "Unacceptable toxicity (adverse event): Grade 3 colitis" in page
    assert 'id="end-treatment-form"' not in page and 'id="off-study-form"' in page
    off = timezone.localdate() - timedelta(days=1)
    response = client.post(status_url, {"action": "off_study", "off-off_study_on": off.isoformat(),
                                        "off-reason": "death", "off-detail": ""})
    assert response.status_code == 302
    subject.refresh_from_db()
    assert (subject.status, subject.off_study_on, subject.get_off_study_reason_display()) == ("off_study", off, "Death")
    page = client.get(url).content.decode()
    assert f"off study {off:%d %b %Y} (Death)" in page and 'id="off-study-form"' not in page
    # A sponsor never reaches the subject's forms.
    assert login(people["sponsor"]).post(status_url, {"action": "off_study"}).status_code in (403, 404)


@pytest.mark.django_db
def test_dose_unchanged_by_the_status_forms(dosed, people):
    """The forms change the subject and its follow-up; the doses stay as recorded."""
    before = list(DoseAdministration.objects.filter(subject=dosed).values_list("pk", "dose", "administered_at"))
    subject_end_treatment(subject=dosed, user=people["coordinator"], last_dose=date(2026, 1, 26), reason="completed",
                          today=TODAY)
    assert list(DoseAdministration.objects.filter(subject=dosed).values_list("pk", "dose", "administered_at")) == before
