"""Bad input on every form: a field-level message, what was typed kept, nothing half-saved."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.signing import CODE_NEEDED
from screening.models import ScreeningRecord
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.auth import signed
from tests.screening.helpers import eligible_screening, predose
from trialsite.forms import CheckedForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject(people, bat6005, site_a):
    return subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="ABC",
                         date_of_birth=date(1960, 1, 1), sex="F")


# The candidate's identity is now entered when screening starts (enrolment is from an eligible
# screening record), so the identity checks are made on the screening form.
CONSENT = {"consent_form_version": "v1.0", "consent_date": "2026-01-05"}


def test_enrol_rejects_bad_fields_and_keeps_input(login, people, bat6005, site_a):
    client = login(people["coordinator"])
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(reverse("screening:new", args=[bat6005.code]),
                           {"site": site_a.pk, "initials": "A1", "date_of_birth": tomorrow, "sex": "X",
                            "consent_obtained_by": people["coordinator"].pk, **CONSENT})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "2 to 4 letters" in errors["initials"][0]
    assert "sex" in errors
    html = response.content.decode()
    assert 'value="A1"' in html and f'value="{tomorrow}"' in html
    assert ScreeningRecord.objects.count() == 0 and Subject.objects.count() == 0


def test_enrol_future_birth_date_named(login, people, bat6005, site_a):
    client = login(people["coordinator"])
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(reverse("screening:new", args=[bat6005.code]),
                           {"site": site_a.pk, "initials": "AB", "date_of_birth": tomorrow, "sex": "F",
                            "consent_obtained_by": people["coordinator"].pk,
                            "consent_form_version": "v1.0", "consent_date": timezone.localdate().isoformat()})
    assert response.status_code == 422
    assert response.context["form"].errors["date_of_birth"] == ["The date of birth must be in the past."]
    assert ScreeningRecord.objects.count() == 0 and Subject.objects.count() == 0


def test_enrol_into_a_full_cohort_is_refused(login, people, bat6005, site_a, subject):
    record = eligible_screening(bat6005, site_a, people["coordinator"], initials="DEF")
    client = login(people["coordinator"])
    response = client.post(reverse("subjects:enrol", args=[bat6005.code]), {"screening": record.pk})
    assert response.status_code == 422
    assert "No cohort is open" in response.context["form"].non_field_errors()[0]
    assert Subject.objects.count() == 1
    record.refresh_from_db()
    assert record.status == "eligible" and record.subject is None


def test_htmx_submission_returns_only_the_form(login, people, bat6005, site_a):
    client = login(people["coordinator"])
    response = client.post(reverse("screening:new", args=[bat6005.code]),
                           {"site": site_a.pk, "initials": "", "date_of_birth": "", "sex": "F"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith("<form") and "<html" not in html
    assert "This field is required." in html


def test_dose_change_refused_in_bat6005(login, people, bat6005, subject):
    client = login(people["coordinator"])
    when = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]),
                           {"drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1, "administered_at": when,
                            "dose": "8"})
    assert response.status_code == 422
    assert "allows no dose change" in response.context["form"].errors["dose"][0]
    assert 'value="8"' in response.content.decode()
    assert DoseAdministration.objects.count() == 0


@pytest.mark.parametrize(
    "field,value,message",
    [("administered_at", "not a date", "Enter a valid date/time."),
     ("cycle", "0", "Ensure this value is greater than or equal to 1."),
     ("dose", "-1", "Ensure this value is greater than or equal to 0."),
     ("day", "2", "given on cycle days [1], not day 2")],
)
def test_dose_form_names_the_field(login, people, bat6005, subject, field, value, message):
    client = login(people["coordinator"])
    data = {"drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1, "dose": "10",
            "administered_at": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    data[field] = value
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]), data)
    assert response.status_code == 422
    assert any(message in e for e in response.context["form"].errors[field])
    assert DoseAdministration.objects.count() == 0


def test_future_dose_refused(login, people, bat6005, subject):
    client = login(people["coordinator"])
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]),
                           {"drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1, "dose": "10",
                            "administered_at": (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")})
    assert response.context["form"].errors["administered_at"] == ["A dose cannot be recorded in the future."]


def test_adverse_event_form_errors(login, people, bat6005, subject):
    client = login(people["coordinator"])
    url = reverse("subjects:ae_new", args=[subject.pk])
    response = client.post(url, {"term": "Fatigue", "grade": "7", "onset_date": "2026-03-10",
                                 "resolution_date": "2026-03-01", "attribution": "possible"})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "grade" in errors
    assert errors["resolution_date"] == ["The resolution date cannot be before the onset date."]
    assert 'value="Fatigue"' in response.content.decode()
    # A DLT needs a dose in the DLT window (the form no longer has the DLT box: the investigator
    # adjudicates; recording an already adjudicated DLT through the service is still checked).
    with pytest.raises(ValidationError) as refused:
        adverse_event_record(subject=subject, user=people["coordinator"], term="Fatigue", grade=3,
                             onset_date=date(2026, 3, 10), attribution="possible", is_dlt=True)
    assert "no dose is recorded" in refused.value.message_dict["is_dlt"][0]
    assert AdverseEvent.objects.count() == 0


def test_dlt_outside_the_window_refused(login, people, bat6005, subject):
    dosed = timezone.now() - timedelta(days=40)
    predose(subject, dosed, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=dosed, dose=10,
                user=people["coordinator"])
    client = login(people["coordinator"])
    response = client.post(reverse("subjects:ae_new", args=[subject.pk]),
                           {"term": "Rash maculo-papular", "grade": "3",
                            "onset_date": (dosed + timedelta(days=30)).date().isoformat(), "attribution": "probable"})
    assert response.status_code == 302
    event = AdverseEvent.objects.get()
    assert event.dlt_status == "" and not event.is_dlt  # outside the window: not proposed
    # The investigator cannot adjudicate it as a DLT either.
    client = login(people["investigator"])
    response = client.post(reverse("subjects:ae_detail", args=[event.pk]), {"decision": "confirm"})
    assert response.status_code == 422
    assert "DLT window" in response.context["form"].errors["decision"][0]
    event.refresh_from_db()
    assert not event.is_dlt and event.dlt_status == "" and event.adjudicated_by is None


def test_sign_form_requires_credentials_and_reason(login, people, bat6005, subject):
    from escalation.services import decision_recommend

    dosed = timezone.now() - timedelta(days=22)
    predose(subject, dosed, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=dosed, dose=10,
                user=people["coordinator"])
    decision = decision_recommend(trial=bat6005)
    client = login(people["investigator"])
    url = reverse("escalation:decision", args=[decision.pk])
    investigator = people["investigator"]
    response = client.post(url, {"meaning": "approved", "username": "", "password": "", "otp_code": ""})
    assert response.status_code == 422
    assert response.context["form"].errors["username"] == ["This field is required."]
    assert response.context["form"].errors["password"] == ["This field is required."]
    response = client.post(url, signed(investigator, meaning="approved", otp_code=""))
    assert response.context["form"].errors["otp_code"] == [CODE_NEEDED]
    response = client.post(url, signed(investigator, meaning="rejected"))
    assert response.context["form"].errors["comment"] == ["Say why you do not approve this decision."]
    response = client.post(url, signed(investigator, meaning="maybe"))
    assert "meaning" in response.context["form"].errors
    decision.refresh_from_db()
    assert decision.status == "pending" and not decision.signatures.exists()


# --- the input rules every form follows (trialsite/forms.py, docs/input.md) --------------------------


class _Rules(CheckedForm):
    name = forms.CharField()
    notes = forms.CharField(widget=forms.Textarea, required=False)
    count = forms.IntegerField(required=False)
    amount = forms.DecimalField(required=False, max_digits=9, decimal_places=3)
    password = forms.CharField(widget=forms.PasswordInput, required=False)


@pytest.mark.parametrize(
    "data,field,message",
    [({"name": "ab\x00c"}, "name", "U+0000 NULL"),
     ({"name": "ab\tc"}, "name", "U+0009 TAB"),
     ({"name": "ab\x85c"}, "name", "U+0085"),
     ({"name": "evil\u202etxt.exe"}, "name", "U+202E RIGHT-TO-LEFT OVERRIDE"),
     ({"name": "a\u2066b"}, "name", "U+2066 LEFT-TO-RIGHT ISOLATE"),
     ({"name": "x" * 201}, "name", "at most 200 characters"),
     ({"name": "ok", "notes": "x" * 2001}, "notes", "at most 2000 characters"),
     ({"name": "ok", "notes": "esc \x1b[2J"}, "notes", "U+001B ESCAPE"),
     ({"name": "ok", "count": "٣"}, "count", "digits 0–9"),
     ({"name": "ok", "count": "３"}, "count", "digits 0–9"),
     ({"name": "ok", "count": "²"}, "count", "U+00B2 SUPERSCRIPT TWO"),
     ({"name": "ok", "count": "1_000"}, "count", "Enter a whole number."),
     ({"name": "ok", "count": "9" * 5000}, "count", "too long"),
     ({"name": "ok", "count": "2147483648"}, "count", "less than or equal to 2147483647"),
     ({"name": "ok", "amount": "١٫٥"}, "amount", "digits 0–9"),
     ({"name": "ok", "amount": "1e5"}, "amount", "Enter a number."),
     ({"name": "ok", "amount": "NaN"}, "amount", "Enter a number.")],
)
def test_input_rules_name_the_field(data, field, message):
    form = _Rules(data)
    assert not form.is_valid()
    assert any(message in e for e in form.errors[field]), form.errors


def test_input_rules_accept_ordinary_text_and_state_the_length():
    form = _Rules({"name": "Ærø – “ok” 日本", "notes": "line one\n\tline two\r\n", "count": " -12 ", "amount": "+.5",
                   "password": "pa\u202ess"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["count"] == -12
    html = str(form["name"]) + str(form["notes"])
    assert 'maxlength="200"' in html and 'maxlength="2000"' in html
    assert form["name"].help_text == "At most 200 characters."


def test_input_rules_cover_fields_added_in_init():
    class Dynamic(CheckedForm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["late"] = forms.IntegerField()

    form = Dynamic({"late": "٣"})
    assert form.errors["late"] == ["Type the number with the digits 0–9: “٣” (U+0663 ARABIC-INDIC DIGIT THREE) is not "
                                   "one of them."]


def test_the_model_column_bounds_a_model_form_integer(login, people, bat6005, subject):
    """ecog is a PositiveSmallIntegerField: a 6-digit or superscript value is a field message (and the
    assessment form states its notes' length)."""
    client = login(people["coordinator"])
    url = reverse("subjects:assessment_new", args=[subject.pk])
    assert "At most 300 characters." in client.get(url).content.decode()
    for ecog, message in (("999999", "less than or equal to"), ("²", "digits 0–9")):
        response = client.post(url, {"kind": "performance", "assessed_on": timezone.localdate().isoformat(),
                                     "ecog": ecog})
        assert response.status_code == 422
        assert any(message in e for e in response.context["form"].errors["ecog"]), response.context["form"].errors


def test_bidi_override_in_a_reason_is_a_field_message_and_keeps_the_text(login, people, bat6005, subject):
    client = login(people["investigator"])
    reason = "Sponsor agreed by e-mail \u202egnihtemos"
    response = client.post(reverse("subjects:gate_override", args=[subject.pk]),
                           {"gate": "level", "reason": reason})
    assert response.status_code == 422
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.context["form"].errors["reason"][0]
    assert "Sponsor agreed by e-mail" in response.content.decode()
