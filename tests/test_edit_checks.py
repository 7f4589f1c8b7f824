"""Edit checks through the application (issue 8, point 9): each implausible value posted to its form is
answered 422 with the field's message and nothing saved; an unusual one is saved only with the
confirmation and a reason, recorded with the entry. The rules themselves are tested in
tests/trialrules/test_plausibility.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from screening.models import ScreeningRecord
from subjects.models import AdverseEvent, Assessment, DoseAdministration, Subject
from subjects.services import dose_record, subject_enrol
from tests.conftest import load_trial, member
from tests.screening.helpers import eligible_screening
from trials.models import Role
from visits.models import FollowUp

pytestmark = pytest.mark.django_db

CONFIRM = "I confirm this value is correct"


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def ql1706(site_a):
    trial = load_trial("QL1706")  # 5 mg/kg on day 1 of each 21-day cycle, no escalation
    return trial, member(trial, Role.COORDINATOR, site_a, "ec-coordinator")


@pytest.fixture
def subject(ql1706, site_a):
    """A QL1706 subject: consent and screening assessments 25 days ago (weight 70 kg), enrolled 20 days ago."""
    trial, user = ql1706
    record = eligible_screening(trial, site_a, user, assessed_on=days_ago(25))
    subject = subject_enrol(trial=trial, user=user, screening=record)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=at(days_ago(20), 8))
    subject.refresh_from_db()
    return subject


@pytest.fixture
def coordinator(ql1706, login):
    return login(ql1706[1])


def dose_post(client, subject, **data):
    drug = subject.trial.drugs.get()
    body = {"drug": drug.pk, "cycle": 1, "day": 1, "administered_at": local(at(days_ago(10))), "weight_kg": "",
            "dose": "", "deviation_reason": "", **data}
    return client.post(reverse("subjects:dose_new", args=[subject.pk]), body)


def errors(response, form="form"):
    return response.context[form].errors


# Doses: weight, amount, dates and order -------------------------------------------------------------

def test_a_9999_kg_weight_is_refused_not_dosed_at_49995_mg(coordinator, subject):
    response = dose_post(coordinator, subject, weight_kg="9999")
    assert response.status_code == 422
    assert errors(response)["weight_kg"] == [
        "9999 kg is outside the plausible adult range (25–250 kg): check the value in kg (not lb or g)."]
    assert 'id="id_weight_kg-error">9999 kg is outside the plausible adult range' in response.content.decode()
    assert not DoseAdministration.objects.exists()


def test_a_weight_recorded_before_the_checks_is_not_used_to_compute_a_dose(coordinator, subject):
    ScreeningRecord.objects.filter(subject=subject).update(values={"weight": "9999"})
    response = dose_post(coordinator, subject)
    assert response.status_code == 422
    assert errors(response)["weight_kg"][0].startswith("The latest recorded weight: 9999 kg is outside")
    assert not DoseAdministration.objects.exists()


def test_a_ten_fold_dose_is_refused(coordinator, subject):
    response = dose_post(coordinator, subject, dose="3500")  # computed: 5 mg/kg x 70 kg = 350 mg
    assert response.status_code == 422
    assert errors(response)["dose"][0].startswith("3500 mg is 10 × the computed dose (350 mg): more than 25 % above "
                                                  "it is refused")
    assert not DoseAdministration.objects.exists()


def test_a_dose_off_the_computed_dose_needs_the_confirmation_and_a_reason(coordinator, subject):
    first = coordinator.get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert 'name="confirm_unusual"' not in first and 'name="unusual_reason"' not in first

    response = dose_post(coordinator, subject, dose="400")
    assert response.status_code == 422
    assert errors(response)["dose"] == [
        "400 mg is 14 % above the computed dose (350 mg; ±10 % is accepted as given). If it is correct, tick "
        f"“{CONFIRM}” and give the reason."]
    html = response.content.decode()
    assert 'id="confirm-unusual"' in html and 'name="confirm_unusual"' in html and 'name="unusual_reason"' in html
    assert not DoseAdministration.objects.exists()

    response = dose_post(coordinator, subject, dose="400", confirm_unusual="on", unusual_reason="short")
    assert response.status_code == 422
    assert errors(response)["unusual_reason"] == ["Say why the value is correct, in at least 10 characters."]
    assert not DoseAdministration.objects.exists()

    response = dose_post(coordinator, subject, dose="400", confirm_unusual="on",
                         unusual_reason="Vial overfill given as prescribed by Dr Li.")
    assert response.status_code == 302
    dose = DoseAdministration.objects.get()
    assert dose.dose == Decimal("400") and dose.planned_dose == Decimal("350")
    [confirmed] = dose.confirmed_checks
    assert (confirmed["check"], confirmed["field"], confirmed["reason"]) == (
        "dose.off_plan", "dose", "Vial overfill given as prescribed by Dr Li.")
    assert confirmed["by_name"] and confirmed["message"].startswith("400 mg is 14 % above")


def test_a_dose_within_ten_percent_needs_no_confirmation(coordinator, subject):
    assert dose_post(coordinator, subject, dose="380").status_code == 302
    assert DoseAdministration.objects.get().confirmed_checks == []


def test_an_unusual_typed_weight_needs_confirmation(coordinator, subject):
    response = dose_post(coordinator, subject, weight_kg="160")
    assert response.status_code == 422
    assert errors(response)["weight_kg"][0].startswith("160 kg is unusual for an adult (usual 40–150 kg).")
    response = dose_post(coordinator, subject, weight_kg="160", confirm_unusual="on",
                         unusual_reason="Weighed twice on the ward scale.")
    assert response.status_code == 302
    dose = DoseAdministration.objects.get()
    assert dose.dose == Decimal("800") and dose.confirmed_checks[0]["check"] == "weight.unusual"


def test_a_dose_before_consent_or_enrolment_is_refused(coordinator, subject):
    response = dose_post(coordinator, subject, administered_at=local(at(days_ago(22))))
    assert response.status_code == 422
    assert errors(response)["administered_at"] == [
        f"The dose date ({days_ago(22):%d %b %Y}) cannot be before enrolment into QL1706 ({days_ago(20):%d %b %Y})."]
    response = dose_post(coordinator, subject, administered_at=local(at(days_ago(26))))
    assert errors(response)["administered_at"][0].endswith(f"cannot be before consent ({days_ago(25):%d %b %Y}).")
    assert not DoseAdministration.objects.exists()


def test_two_cycles_in_the_same_minute_are_refused(coordinator, subject):
    when = local(at(days_ago(10)))
    assert dose_post(coordinator, subject, administered_at=when).status_code == 302
    response = dose_post(coordinator, subject, cycle=2, administered_at=when)
    assert response.status_code == 422
    assert errors(response)["administered_at"][0].startswith(
        f"Cycle 1 day 1 of QL1706 ({days_ago(10):%d %b %Y} 09:00) is on the same day")
    assert DoseAdministration.objects.count() == 1


def test_c2d1_before_c1d1_is_refused(coordinator, subject):
    assert dose_post(coordinator, subject, administered_at=local(at(days_ago(5)))).status_code == 302
    response = dose_post(coordinator, subject, cycle=2, administered_at=local(at(days_ago(8))))
    assert response.status_code == 422
    assert "it would become the subject's first dose" in errors(response)["administered_at"][0]
    assert DoseAdministration.objects.count() == 1


def test_a_c1d8_dated_before_c1d1_does_not_become_the_first_dose(ql1706, subject):
    trial, user = ql1706
    drug = trial.drugs.get()
    drug.administration_days = [1, 8]
    drug.save()
    dose_record(subject=subject, drug=drug, cycle=1, day=1, administered_at=at(days_ago(10)), user=user)
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=drug, cycle=1, day=8, administered_at=at(days_ago(12)), user=user)
    assert refused.value.message_dict["administered_at"] == [
        f"This dose is dated before cycle 1 day 1 of QL1706 ({days_ago(10):%d %b %Y} 09:00): it would become the "
        "subject's first dose. Check the date, the cycle and the day."]
    with pytest.raises(ValidationError) as refused:  # nor the same day: one cycle day a calendar day
        dose_record(subject=subject, drug=drug, cycle=1, day=8, administered_at=at(days_ago(10), 15), user=user)
    assert "is on the same day" in refused.value.message_dict["administered_at"][0]
    assert subject.first_dose().day == 1 and subject.doses.count() == 1
    dose_record(subject=subject, drug=drug, cycle=1, day=8, administered_at=at(days_ago(3)), user=user)
    assert subject.doses.count() == 2


def test_a_first_dose_other_than_c1d1_is_refused(ql1706, subject):
    trial, user = ql1706
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=trial.drugs.get(), cycle=2, day=1, administered_at=at(days_ago(10)),
                    user=user)
    assert refused.value.message_dict["administered_at"][0].startswith("Record cycle 1 day 1 first")


# Assessments --------------------------------------------------------------------------------------

def assessment_post(client, subject, **data):
    body = {"kind": "vitals", "assessed_on": days_ago(5).isoformat(), "weight_kg": "70", "ecog": "", "notes": "",
            **data}
    return client.post(reverse("subjects:assessment_new", args=[subject.pk]), body)


def test_assessment_weight_limits_and_confirmation(coordinator, subject):
    response = assessment_post(coordinator, subject, weight_kg="9999")
    assert response.status_code == 422
    assert errors(response)["weight_kg"][0].startswith("9999 kg is outside the plausible adult range")
    response = assessment_post(coordinator, subject, weight_kg="30")
    assert response.status_code == 422 and "30 kg is unusual for an adult" in errors(response)["weight_kg"][0]
    assert not Assessment.objects.exists()
    response = assessment_post(coordinator, subject, weight_kg="30", confirm_unusual="on",
                               unusual_reason="Cachexia, weighed twice.")
    assert response.status_code == 302
    assert Assessment.objects.get().confirmed_checks[0]["reason"] == "Cachexia, weighed twice."


def test_a_weight_jump_from_the_last_weight_needs_confirmation(coordinator, subject):
    response = assessment_post(coordinator, subject, weight_kg="95")  # screening: 70 kg
    assert response.status_code == 422
    assert errors(response)["weight_kg"][0].startswith("95 kg is 36 % above the last recorded weight (70 kg).")
    assert not Assessment.objects.exists()


def test_an_assessment_before_consent_is_refused(coordinator, subject):
    response = assessment_post(coordinator, subject, assessed_on=days_ago(30).isoformat())
    assert response.status_code == 422
    assert errors(response)["assessed_on"] == [
        f"The assessment date ({days_ago(30):%d %b %Y}) cannot be before consent ({days_ago(25):%d %b %Y})."]
    assert not Assessment.objects.exists()


# Adverse events -----------------------------------------------------------------------------------

def ae_post(client, subject, **data):
    body = {"term": "Fatigue", "grade": "1", "onset_date": days_ago(3).isoformat(), "resolution_date": "",
            "attribution": "unrelated", "action_taken": "", "outcome": "", **data}
    return client.post(reverse("subjects:ae_new", args=[subject.pk]), body)


def test_an_ae_before_consent_is_medical_history_and_refused(coordinator, subject):
    page = coordinator.get(reverse("subjects:ae_new", args=[subject.pk])).content.decode()
    assert f"On or after consent ({days_ago(25):%d %b %Y})" in page  # the form says so
    response = ae_post(coordinator, subject, onset_date=days_ago(27).isoformat())
    assert response.status_code == 422
    assert errors(response)["onset_date"] == [
        f"The onset date ({days_ago(27):%d %b %Y}) cannot be before consent ({days_ago(25):%d %b %Y}). An event "
        "that began before consent is medical history, not a study adverse event: adverse events are collected "
        "from consent on."]
    assert not AdverseEvent.objects.exists()


def test_ae_dates_before_1900_or_resolved_in_the_future_are_refused(coordinator, subject):
    response = ae_post(coordinator, subject, onset_date="1899-12-31")
    assert response.status_code == 422
    assert errors(response)["onset_date"] == ["The onset date cannot be before 1900 (31 Dec 1899): check the year."]
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = ae_post(coordinator, subject, resolution_date=tomorrow.isoformat())
    assert response.status_code == 422
    assert errors(response)["resolution_date"] == [
        f"The resolution date cannot be in the future ({tomorrow:%d %b %Y})."]
    assert not AdverseEvent.objects.exists()


# Visits and follow-up -----------------------------------------------------------------------------

def test_a_visit_before_the_first_dose_or_consent_is_refused(coordinator, ql1706, subject):
    dose_record(subject=subject, drug=ql1706[0].drugs.get(), cycle=1, day=1, administered_at=at(days_ago(10)),
                user=ql1706[1])
    visit = subject.visits.get(code="C2D1")
    url = reverse("visits:record", args=[visit.pk])
    response = coordinator.post(url, {"action": "done", "done-done_on": days_ago(12).isoformat()})
    assert response.status_code == 422
    message = (f"The visit date ({days_ago(12):%d %b %Y}) cannot be before the first dose ({days_ago(10):%d %b %Y}). "
               "Only the screening visit comes before it.")
    assert errors(response, "done_form")["done_on"] == [message]
    assert 'id="id_done-done_on-error"' in response.content.decode()
    response = coordinator.post(url, {"action": "done", "done-done_on": days_ago(30).isoformat()})
    assert errors(response, "done_form")["done_on"][0].endswith(f"cannot be before consent ({days_ago(25):%d %b %Y}).")
    visit.refresh_from_db()
    assert visit.status == "planned" and visit.done_on is None


def test_follow_up_end_before_birth_is_refused(coordinator, subject):
    response = coordinator.post(reverse("visits:follow_up", args=[subject.pk]), {
        "last_dose": "", "new_therapy": "", "follow_up_end": "1950-01-01", "follow_up_end_reason": "death"})
    assert response.status_code == 422
    assert errors(response)["follow_up_end"] == [
        "The end of follow-up (01 Jan 1950) cannot be before the date of birth (04 Mar 1961)."]
    assert not FollowUp.objects.exists()


# Screening: identity and values -------------------------------------------------------------------

def start_post(client, trial, site, user, **data):
    body = {"site": site.pk, "initials": "AB", "date_of_birth": "1970-02-02", "sex": "F",
            "consent_form_version": "v1.0", "consent_date": days_ago(1).isoformat(), "consent_obtained_by": user.pk,
            **data}
    return client.post(reverse("screening:new", args=[trial.code]), body)


def test_birth_dates_beyond_the_human_range_are_refused(coordinator, ql1706, site_a):
    trial, user = ql1706
    response = start_post(coordinator, trial, site_a, user, date_of_birth="1890-05-01")
    assert response.status_code == 422
    assert errors(response)["date_of_birth"] == ["The date of birth cannot be before 1900 (01 May 1890): check the "
                                                 "year."]
    dob = date(days_ago(1).year - 121, 1, 1)
    response = start_post(coordinator, trial, site_a, user, date_of_birth=dob.isoformat())
    assert response.status_code == 422
    assert errors(response)["date_of_birth"] == [
        "This date of birth gives an age of 121 years at consent: beyond the human range (over 120). Check the year."]
    assert not ScreeningRecord.objects.exists()


def test_an_age_of_100_or_more_needs_confirmation(coordinator, ql1706, site_a):
    trial, user = ql1706
    dob = date(days_ago(1).year - 101, 1, 1).isoformat()
    response = start_post(coordinator, trial, site_a, user, date_of_birth=dob)
    assert response.status_code == 422
    assert errors(response)["date_of_birth"][0].startswith("This date of birth gives an age of 101 years at consent.")
    assert 'name="confirm_unusual"' in response.content.decode()
    assert not ScreeningRecord.objects.exists()
    response = start_post(coordinator, trial, site_a, user, date_of_birth=dob, confirm_unusual="on",
                          unusual_reason="Passport seen: born 1925.")
    assert response.status_code == 302
    record = ScreeningRecord.objects.get()
    assert [c["check"] for c in record.confirmed_checks] == ["age.unusual"]


def test_direct_enrolment_refuses_a_birth_date_before_1900(ql1706, site_a):
    trial, user = ql1706
    with pytest.raises(ValidationError) as refused:
        subject_enrol(trial=trial, site=site_a, user=user, initials="AB", date_of_birth=date(1899, 1, 1), sex="F")
    assert "cannot be before 1900" in refused.value.message_dict["date_of_birth"][0]
    assert not Subject.objects.exists()


@pytest.fixture
def open_record(ql1706, site_a):
    trial, user = ql1706
    return eligible_screening(trial, site_a, user, assessed_on=days_ago(5), confirm=False)


def values_post(client, record, **data):
    return client.post(reverse("screening:values", args=[record.pk]),
                       {"assessed_on": days_ago(5).isoformat(), "bilirubin_unit": "µmol/L",
                        "creatinine_unit": "µmol/L", **data})


def test_an_lvef_over_100_percent_is_refused(coordinator, open_record):
    response = values_post(coordinator, open_record, lvef="101", weight="70")
    assert response.status_code == 422
    assert errors(response, "values_form")["lvef"] == [
        "LVEF 101 % is outside the physiological range (5–95 %): check the value in %: an ejection fraction cannot "
        "exceed 100 %."]
    assert 'id="id_lvef-error"' in response.content.decode()
    open_record.refresh_from_db()
    assert open_record.values["lvef"] == "62"  # unchanged


def test_a_lab_value_in_the_wrong_unit_is_refused(coordinator, open_record):
    response = values_post(coordinator, open_record, hemoglobin="13", creatinine="80", creatinine_unit="mg/dL")
    assert response.status_code == 422
    form_errors = errors(response, "values_form")
    assert form_errors["hemoglobin"][0].startswith("Haemoglobin 13 g/L is outside the physiological range "
                                                   "(20–250 g/L): check the value in g/L, not g/dL")
    assert "(10–3000 µmol/L = 0.11–33.94 mg/dL)" in form_errors["creatinine"][0]
    open_record.refresh_from_db()
    assert open_record.values["hemoglobin"] == "128"


def test_an_unusual_screening_weight_is_confirmed_once(coordinator, open_record):
    response = values_post(coordinator, open_record, weight="165", lvef="62")
    assert response.status_code == 422
    assert errors(response, "values_form")["weight"][0].startswith("165 kg is unusual for an adult")
    response = values_post(coordinator, open_record, weight="165", lvef="62", confirm_unusual="on",
                           unusual_reason="Weighed twice on the clinic scale.")
    assert response.status_code == 302
    open_record.refresh_from_db()
    assert open_record.values["weight"] == "165"
    assert [c["check"] for c in open_record.confirmed_checks] == ["weight.unusual"]
    # Saved again with the same weight (another value corrected): not asked again, the confirmation kept.
    response = values_post(coordinator, open_record, weight="165", lvef="60")
    assert response.status_code == 302
    open_record.refresh_from_db()
    assert open_record.values["lvef"] == "60"
    assert open_record.confirmed_checks[0]["reason"] == "Weighed twice on the clinic scale."


# The same checks for a correction (records/): per record, as it stands --------------------------------

def test_the_checks_of_a_record_serve_its_correction(ql1706, subject):
    from screening.services import screening_findings
    from subjects.services import adverse_event_findings, assessment_findings, assessment_record, dose_findings
    from visits.services import visit_findings

    trial, user = ql1706
    dose = dose_record(subject=subject, drug=trial.drugs.get(), cycle=1, day=1, administered_at=at(days_ago(10)),
                       user=user)
    assert dose_findings(dose) == []
    dose.weight_kg, dose.administered_at = Decimal("9999"), at(days_ago(22))
    assert {f.check for f in dose_findings(dose)} == {"weight.limits", "date.order"}
    assessment = assessment_record(subject=subject, user=user, kind="vitals", assessed_on=days_ago(9),
                                   weight_kg=Decimal("70"))
    assessment.weight_kg = Decimal("160")
    assert [f.check for f in assessment_findings(assessment)] == ["weight.unusual"]
    event = AdverseEvent(subject=subject, onset_date=days_ago(30))
    assert [f.field for f in adverse_event_findings(event)] == ["onset_date"]
    visit = subject.visits.get(code="C2D1")
    assert [f.field for f in visit_findings(visit, days_ago(11))] == ["done_on"]
    record = subject.screening
    record.values = {**record.values, "lvef": "101"}
    assert [f.field for f in screening_findings(record)] == ["lvef"]
