"""Screening records: consent, values, judgements by a person, eligible / screen failure with reasons,
enrolment from an eligible record, the screening window; the pages (htmx partial, kept input, lists)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from screening.models import ScreeningRecord
from screening.services import eligibility_for, screening_confirm_eligible, screening_fail, screening_values_record
from subjects.models import Subject
from subjects.services import dose_record, subject_enrol
from tests.conftest import load_trial, member
from tests.screening.helpers import NORMAL_VALUES, eligible_screening, enrolment_dated, predose
from trials.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def ql1706(site_a, site_b):
    trial = load_trial("QL1706")
    member(trial, Role.COORDINATOR, site_a, "coordinator")
    member(trial, Role.INVESTIGATOR, site_a, "investigator")
    member(trial, Role.COORDINATOR, site_b, "coordinator-b")
    return trial


def coordinator():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="coordinator")


def test_eligible_record_enrols_once_and_links_the_subject(ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator())
    assert record.status == "eligible" and record.decided_by == coordinator()
    subject = subject_enrol(trial=ql1706, user=coordinator(), screening=record)
    record.refresh_from_db()
    assert (record.status, record.subject) == ("enrolled", subject)
    assert (subject.initials, subject.date_of_birth, subject.site) == ("ABC", date(1961, 3, 4), site_a)
    assert subject.dose_level.label == "5 mg/kg"
    with pytest.raises(ValidationError, match="already enrolled"):
        subject_enrol(trial=ql1706, user=coordinator(), screening=record)


def test_record_not_confirmed_cannot_be_enrolled(ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), confirm=False)
    with pytest.raises(ValidationError, match="not confirmed eligible"):
        subject_enrol(trial=ql1706, user=coordinator(), screening=record)
    assert not Subject.objects.exists()


def test_uln_failure_is_a_screen_failure_with_reasons(ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), confirm=False, values={"alt": "130"})
    outcome = eligibility_for(record)
    assert [r.code for r in outcome.failed] == ["alt"]
    with pytest.raises(ValidationError, match="ALT"):
        screening_confirm_eligible(record=record, user=coordinator())
    record = screening_fail(record=record, user=coordinator(), reason="Also declined biopsy.")
    assert record.status == "screen_failed"
    assert record.failure_reasons[0].startswith("ALT ≤ 2.5 × ULN (≤ 5 × ULN with liver metastases): 130 U/L (3.25")
    assert "needs ≤ 2.5 × ULN 40 U/L" in record.failure_reasons[0]
    assert record.failure_reasons[1] == "Also declined biopsy."
    with pytest.raises(ValidationError, match="closed"):
        screening_values_record(record=record, user=coordinator(), assessed_on=timezone.localdate(), values={})
    events = list(Events.objects.tracks(record))
    assert events[-1].pgh_data["status"] == "screen_failed"


def test_screen_failure_needs_a_reason_when_nothing_failed(ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), confirm=False)
    with pytest.raises(ValidationError) as refused:
        screening_fail(record=record, user=coordinator())
    assert "reason" in refused.value.message_dict


def test_first_dose_must_fall_in_the_screening_window(ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), assessed_on=timezone.localdate() - timedelta(days=30))
    subject = enrolment_dated(subject_enrol(trial=ql1706, user=coordinator(), screening=record), record.assessed_on)
    drug = ql1706.drugs.get()
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=drug, cycle=1, day=1, administered_at=timezone.now(), user=coordinator())
    assert "within 28 days after the screening assessments" in refused.value.message_dict["administered_at"][0]
    dose = dose_record(subject=subject, drug=drug, cycle=1, day=1, user=coordinator(),
                       administered_at=timezone.now() - timedelta(days=3))
    # The weight at screening (70 kg) is the weight used: 5 mg/kg x 70 kg.
    assert (dose.dose, dose.weight_kg) == (350, 70)


# Pages -------------------------------------------------------------------------------------------

def test_start_screening_page_keeps_input_and_names_fields(login, ql1706, site_a):
    client = login(coordinator())
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client.post(reverse("screening:new", args=[ql1706.code]), {
        "site": site_a.pk, "initials": "AB", "date_of_birth": "1970-02-02", "sex": "F",
        "consent_form_version": "", "consent_date": tomorrow, "consent_obtained_by": coordinator().pk})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert errors["consent_date"] == ["The consent date cannot be in the future."]
    assert "consent_form_version" in errors
    assert f'value="{tomorrow}"' in response.content.decode() and 'value="AB"' in response.content.decode()
    assert not ScreeningRecord.objects.exists()


def test_values_page_shows_met_not_met_missing_and_keeps_bad_input(login, ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), confirm=False)
    client = login(coordinator())
    url = reverse("screening:values", args=[record.pk])
    data = {**{k: v for k, v in NORMAL_VALUES.items() if k != "prior_therapies"},
            "prior_therapies": ["anthracycline"], "assessed_on": timezone.localdate().isoformat()}
    data.update({"ast": "150", "lvef": ""})
    response = client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="screening-work">') and "<html" not in html
    assert 'id="criterion-ast"' in html
    ast = response.context["outcome"].results
    statuses = {r.code: r.status for r in ast}
    assert statuses["ast"] == "not_met" and statuses["lvef"] == "missing" and statuses["alt"] == "met"
    assert "150 U/L (3.75 × ULN)" in html and "≤ 2.5 × ULN 40 U/L" in html
    # Bad input: a letter for a number is refused on its field and what was typed is kept.
    response = client.post(url, {**data, "anc": "x1"})
    assert response.status_code == 422
    assert response.context["values_form"].errors["anc"] == ["Enter a number."]
    assert 'value="x1"' in response.content.decode()


def test_judgements_record_who_and_confirm_button(login, ql1706, site_a):
    record = eligible_screening(ql1706, site_a, coordinator(), confirm=False)
    client = login(coordinator())
    response = client.post(reverse("screening:judge", args=[record.pk]), {"j_consent": "no"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.judgements["consent"]["met"] is False
    assert record.judgements["consent"]["by_name"] == coordinator().get_full_name()
    # The investigator's judgement (RECIST, judged_by = "investigator") is kept: its box is disabled here.
    assert record.judgements["measurable"]["met"] is True
    response = client.post(reverse("screening:decide", args=[record.pk]), {"action": "eligible"})
    assert response.status_code == 422
    assert "Voluntarily signed the ICF" in response.context["decision_form"].non_field_errors()[0]


def test_enrol_page_lists_only_eligible_unenrolled_records_of_my_sites(login, ql1706, site_a, site_b):
    from django.contrib.auth import get_user_model

    mine = eligible_screening(ql1706, site_a, coordinator(), initials="MINE")
    eligible_screening(ql1706, site_a, coordinator(), initials="NOT", confirm=False)
    other = eligible_screening(ql1706, site_b, get_user_model().objects.get(username="coordinator-b"), initials="BEE")
    client = login(coordinator())
    page = client.get(reverse("subjects:enrol", args=[ql1706.code]))
    assert list(page.context["form"].fields["screening"].queryset) == [mine]
    response = client.post(reverse("subjects:enrol", args=[ql1706.code]), {"screening": other.pk})
    assert response.status_code == 422 and "screening" in response.context["form"].errors
    assert client.post(reverse("subjects:enrol", args=[ql1706.code]), {"screening": mine.pk}).status_code == 302


def test_site_b_cannot_open_site_a_screening(login, ql1706, site_a):
    from django.contrib.auth import get_user_model

    record = eligible_screening(ql1706, site_a, coordinator())
    client = login(get_user_model().objects.get(username="coordinator-b"))
    assert client.get(reverse("screening:detail", args=[record.pk])).status_code == 404


def test_screening_list_is_paginated_and_filtered(login, ql1706, site_a):
    for i in range(23):
        eligible_screening(ql1706, site_a, coordinator(), initials="AB" + chr(65 + i % 26), confirm=i % 2 == 0)
    client = login(coordinator())
    url = reverse("screening:list", args=[ql1706.code])
    first = client.get(url)
    assert len(first.context["page"]) == 20 and first.context["page"].paginator.num_pages == 2
    filtered = client.get(url, {"status": "in_progress"})
    assert filtered.context["page"].paginator.count == 11
    assert all(r.status == "in_progress" for r in filtered.context["page"])
    second = client.get(url, {"status": "eligible", "page": 2})
    assert second.context["page"].number == 1  # 12 eligible: one page; out-of-range page clamps
    partial = client.get(url, {"q": "ABC"}, headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<section class="card" id="results">')
    assert [r.initials for r in partial.context["page"]] == ["ABC"]


def test_pre_dose_helper_is_sufficient_for_bat6005(people, bat6005, site_a):
    record = eligible_screening(bat6005, site_a, people["coordinator"])
    subject = enrolment_dated(subject_enrol(trial=bat6005, user=people["coordinator"], screening=record),
                              record.assessed_on)
    when = timezone.now() - timedelta(days=2)
    predose(subject, when, people["coordinator"])
    dose = dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when,
                       user=people["coordinator"])
    assert dose.dose == 10 and dose.weight_kg is None and dose.deviation_reason == ""
