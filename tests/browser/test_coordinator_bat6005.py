"""BAT6005 in headless Chromium: screening → eligibility → enrolment → pre-dose assessments → dosing →
adverse event (CTCAE typeahead, grade definition) → DLT proposal → investigator adjudication."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from subjects.models import AdverseEvent, Subject
from tests.browser.test_trial_loop_browser import log_in
from tests.screening.helpers import enrolment_dated, investigator_judges_reserved, site_ulns

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_bat6005_screening_to_dlt_proposal(page, shot, people, bat6005, site_a):
    site_ulns(site_a)
    consented = timezone.localdate() - timedelta(days=5)
    log_in(page, "coordinator")
    page.goto("/screening/trials/BAT6005/")
    shot(page, "screening-list-empty")
    page.click("text=Screen a new candidate")
    page.fill("#id_initials", "JD")
    page.fill("#id_date_of_birth", "1958-07-01")
    page.select_option("#id_sex", "M")
    page.fill("#id_consent_form_version", "v2.0")
    page.fill("#id_consent_date", consented.isoformat())
    page.click("#screening-form button[type=submit]")
    page.wait_for_url(re.compile(r"/screening/\d+/$"))
    assert "v2.0" in page.inner_text("#consent")
    # Nothing entered yet: age (from the date of birth) met, the 4 others missing; "Confirm eligible" disabled.
    assert page.locator("#criteria .badge.missing").count() == 4
    assert "met" in page.inner_text("#criterion-age")
    assert page.is_disabled("#decision-form button[value=eligible]")
    shot(page, "screening-new")

    # ECOG 2 first: not met, shown with value and threshold (an htmx swap of the working area).
    page.fill("#id_assessed_on", consented.isoformat())
    page.select_option("#id_ecog", "2")
    page.click("#values-form button[type=submit]")
    page.wait_for_selector("#criterion-ecog .badge.not_met")
    row = page.inner_text("#criterion-ecog")
    assert "2" in row and "0–1" in row
    assert page.input_value("#id_ecog") == "2"
    page.select_option("#id_ecog", "1")
    page.click("#values-form button[type=submit]")
    page.wait_for_selector("#criterion-ecog .badge.met")
    assert "met" in page.inner_text("#criterion-age")
    # The measurable lesion is the investigator's judgement: the coordinator's box is disabled.
    assert page.is_disabled("input[name=j_measurable][value=yes]")
    for code in ("consent", "diagnosis"):
        page.check(f"input[name=j_{code}][value=yes]")
    page.click("#judgement-form button[type=submit]")
    page.wait_for_selector("#criterion-diagnosis .badge.met")
    investigator_judges_reserved(page, bat6005, site_a)
    page.wait_for_selector("#eligibility-summary.eligible")
    assert "by " in page.inner_text("#criterion-measurable")
    shot(page, "screening-all-met")
    page.click("#decision-form button[value=eligible]")
    page.wait_for_selector("#screening-status.eligible")
    shot(page, "screening-eligible")
    page.click("#enrol-from-screening button")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    subject = Subject.objects.get(trial=bat6005)
    assert subject.code in page.inner_text("h1") and subject.screening.status == "enrolled"
    enrolment_dated(subject, consented)  # as if entered on the day of consent: doses below are days ago
    assert "cohort 1" in page.inner_text(".lead")

    # Dose without pre-dose assessments: refused, naming what is missing.
    first_dose = timezone.localtime() - timedelta(days=4)
    page.click("text=Record a dose")
    assert "10 mg" in page.inner_text("#planned-doses")
    page.fill("#id_administered_at", first_dose.strftime("%Y-%m-%dT%H:%M"))
    page.click("#dose-form button[type=submit]")
    page.wait_for_selector("#id_deviation_reason-error")
    assert "No pre-dose vital signs, laboratory tests, performance status within 3 days" in page.inner_text(
        "#id_deviation_reason-error")
    assert page.input_value("#id_administered_at") == first_dose.strftime("%Y-%m-%dT%H:%M")
    shot(page, "dose-missing-predose")
    # A reduced dose is refused too (BAT6005: no dose reductions).
    page.fill("#id_dose", "5")
    page.click("#dose-form button[type=submit]")
    page.wait_for_selector("#id_dose-error")
    assert "allows no dose change" in page.inner_text("#id_dose-error")

    # Record the three assessments through the form, then the dose.
    for kind, extra in (("vitals", ("#id_weight_kg", "81")), ("labs", None), ("performance", ("#id_ecog", "1"))):
        page.goto(f"/subjects/{subject.pk}/assessments/new/")
        page.select_option("#id_kind", kind)
        page.fill("#id_assessed_on", first_dose.date().isoformat())
        if extra:
            page.fill(*extra)
        page.click("#assessment-form button[type=submit]")
        page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    assert page.locator("#assessments tbody tr").count() == 3
    page.click("text=Record a dose")
    page.fill("#id_administered_at", first_dose.strftime("%Y-%m-%dT%H:%M"))
    page.click("#dose-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    assert "C1D1" in page.inner_text("#doses") and "10 mg" in page.inner_text("#doses")

    # Adverse event: type part of the term, pick it; the grade's definition is shown.
    page.click("text=Record an adverse event")
    page.fill("#id_term", "pneumon")
    page.wait_for_selector("#ctcae-terms option[value='Pneumonitis']", state="attached")
    page.fill("#id_term", "Pneumonitis")
    page.select_option("#id_grade", "3")
    page.wait_for_selector("#grade-definition:has-text('oxygen indicated')")
    page.fill("#id_onset_date", (first_dose + timedelta(days=2)).date().isoformat())
    page.select_option("#id_attribution", "possible")
    page.check("input[name=serious_criteria][value=hospitalisation]")
    page.check("#id_immune_related")
    shot(page, "ae-form-typeahead")
    page.click("#ae-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    assert "meets the DLT criteria: proposed as a DLT" in page.inner_text(".messages")
    row = page.inner_text("#adverse-events")
    assert "DLT proposed" in row and "TRAE" in row and "irAE" in row
    assert "Titration signal" in page.inner_text("#titration-signal")
    shot(page, "dlt-proposed")

    # The investigator adjudicates.
    log_in(page, "investigator")
    page.goto(f"/subjects/{subject.pk}/")
    page.click("text=DLT proposed: adjudicate")
    assert "Severe symptoms" in page.inner_text("#ae-facts")
    page.check("input[name=decision][value=confirm]")
    page.click("#adjudication-form button[type=submit]")
    page.wait_for_selector("#dlt-status:has-text('DLT (adjudicated)')")
    shot(page, "dlt-confirmed")
    event = AdverseEvent.objects.get()
    assert event.is_dlt and event.adjudicated_by == people["investigator"]
    assert page.problems == [], "\n".join(page.problems)
