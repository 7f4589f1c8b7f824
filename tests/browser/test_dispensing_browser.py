"""Anlotinib dispensing and the end-of-treatment / off-study forms in headless Chromium (LVGN6051 +
anlotinib): dispense cycle 1, record the return with a missed day, see the days taken on the subject
page, then end treatment; a refused return keeps what was typed and names the field."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from subjects.models import DoseAdministration, Subject
from subjects.services import dose_record, subject_enrol
from tests.browser.test_trial_loop_browser import log_in
from tests.conftest import load_trial, member
from tests.screening.helpers import eligible_screening
from trials.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anlotinib_dispensing_and_end_of_treatment(page, shot, site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "coordinator")
    day0 = timezone.localtime().replace(hour=9, minute=30, second=0, microsecond=0) - timedelta(days=20)
    record = eligible_screening(trial, site_a, coordinator, initials="DS", assessed_on=day0.date() - timedelta(days=3))
    subject = subject_enrol(trial=trial, user=coordinator, screening=record)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=day0 - timedelta(days=1))
    subject.refresh_from_db()
    dose_record(subject=subject, drug=trial.drugs.get(name="LVGN6051"), cycle=1, day=1, administered_at=day0,
                user=coordinator)
    log_in(page, "coordinator")
    subject_url = f"/subjects/{subject.pk}/"
    page.goto(subject_url)
    page.click("text=Record Anlotinib dispensing")
    assert "12 mg tablets, 1 a day (12 mg daily) on days 1–14: 14 for a full cycle." in page.inner_text(
        "#dispensing-form")
    page.fill("#id_dispensed_on", day0.date().isoformat())
    page.fill("#id_first_dose_at", (day0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_tablets_dispensed", "14")
    shot(page, "dispensing-form")
    page.click("#dispensing-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{subject_url}(#dispensing)?$"))
    assert "not yet" in page.inner_text("#dispensings")

    page.click("text=Record the return…")
    page.fill("#id_returned_on", (day0.date() + timedelta(days=14)).isoformat())
    page.fill("#id_tablets_returned", "0")
    page.check("#id_missed_days_4")  # day 5
    page.click("#dispensing-form button[type=submit]")
    page.wait_for_selector("#id_discrepancy_reason-error")
    assert "14 dispensed − 0 returned = 14 tablets used, but 13 days taken × 1 = 13 expected" in page.inner_text(
        "#id_discrepancy_reason-error")
    assert page.input_value("#id_tablets_returned") == "0" and page.is_checked("#id_missed_days_4")
    shot(page, "return-discrepancy-refused")
    page.fill("#id_tablets_returned", "1")
    page.click("#dispensing-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{subject_url}(#dispensing)?$"))
    row = page.inner_text("#dispensings")
    assert "1–4, 6–14" in row and "13 / 13" in row
    assert DoseAdministration.objects.filter(subject=subject, dispensing__isnull=False).count() == 13

    page.fill("#id_eot-last_dose", (day0.date() + timedelta(days=13)).isoformat())
    page.select_option("#id_eot-reason", "toxicity")
    page.fill("#id_eot-detail", "Grade 3 hypertension")
    shot(page, "subject-page-with-dispensing-and-status-forms")
    page.click("#end-treatment-form button[type=submit]")
    page.wait_for_selector("#end-of-treatment:has-text('Unacceptable toxicity')")
    assert "Unacceptable toxicity (adverse event): Grade 3 hypertension" in page.inner_text("#end-of-treatment")
    assert page.locator("#end-treatment-form").count() == 0 and page.locator("#off-study-form").count() == 1
    shot(page, "subject-page-after-end-of-treatment")
    assert page.problems == [], "\n".join(page.problems)
