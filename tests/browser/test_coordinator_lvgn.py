"""LVGN6051 + anlotinib in headless Chromium: enrolment from an eligible screening record, the weight
(vital signs), LVGN6051 1 mg/kg computed from it, anlotinib 12 mg daily on days 1-14 dispensed per cycle."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from subjects.models import DoseAdministration
from tests.browser.test_trial_loop_browser import log_in
from tests.conftest import load_trial, member
from tests.screening.helpers import eligible_screening, enrolment_dated
from trials.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_two_drug_regimen_dosing(page, shot, site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "coordinator")
    record = eligible_screening(trial, site_a, coordinator, initials="LV")
    log_in(page, "coordinator")
    page.goto("/subjects/enrol/LVGN6051-ANLOTINIB/")
    page.select_option("#id_screening", str(record.pk))
    shot(page, "enrol")
    page.click("#enrol-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    subject_url = page.url
    record.refresh_from_db()
    enrolment_dated(record.subject, record.assessed_on)  # as if entered then: the doses below are days ago
    assert "LVGN6051 1 mg/kg + anlotinib 12 mg" in page.inner_text(".lead")

    # The vital signs with today's weight: the per-kg dose is computed from it.
    day1 = timezone.localtime() - timedelta(days=5)
    page.click("text=Record a pre-dose assessment")
    page.select_option("#id_kind", "vitals")
    page.fill("#id_assessed_on", day1.date().isoformat())
    page.fill("#id_weight_kg", "0.5")
    page.click("#assessment-form button[type=submit]")
    page.wait_for_selector("#id_weight_kg-error")
    assert "greater than or equal to 1" in page.inner_text("#id_weight_kg-error")
    assert page.input_value("#id_weight_kg") == "0.5"
    page.fill("#id_weight_kg", "64.5")
    page.click("#assessment-form button[type=submit]")
    page.wait_for_url(subject_url)
    planned = page.inner_text("#planned-doses")
    assert "1 mg/kg × 64.5 kg = 64.5 mg" in planned and "weight used 64.5 kg" in planned
    assert "12 mg" in planned and "once daily on days 1-14" in planned
    shot(page, "planned-doses")

    # Day 1: LVGN6051 (computed), then anlotinib on days 1, 2 and 3.
    page.click("text=Record a dose")
    page.select_option("#id_drug", label="LVGN6051")
    page.fill("#id_administered_at", day1.strftime("%Y-%m-%dT%H:%M"))
    shot(page, "dose-form")
    page.click("#dose-form button[type=submit]")
    page.wait_for_url(subject_url)
    # Anlotinib (days 1-14, at home) is not on the dose form: one dispensing record per cycle.
    page.click("text=Record a dose")
    assert "Anlotinib" not in page.inner_text("#id_drug")
    page.goto(subject_url)
    page.click("text=Record Anlotinib dispensing")
    page.fill("#id_dispensed_on", day1.date().isoformat())
    page.fill("#id_first_dose_at", (day1 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_tablets_dispensed", "14")
    shot(page, "anlotinib-dispensing-form")
    page.click("#dispensing-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/\d+/(#dispensing)?$"))
    page.goto(subject_url)
    doses = page.inner_text("#doses")
    assert "LVGN6051" in doses and "64.5 mg (64.5 kg)" in doses
    assert "Anlotinib" not in doses
    dispensings = page.inner_text("#dispensings")
    assert "C1" in dispensings and "14 × 12 mg" in dispensings and "not yet" in dispensings
    assert DoseAdministration.objects.filter(drug__name="Anlotinib", day=1, dispensing__isnull=False).count() == 1
    shot(page, "doses")
    lvgn = DoseAdministration.objects.get(drug__name="LVGN6051")
    assert (str(lvgn.dose.normalize()), str(lvgn.weight_kg)) == ("64.5", "64.5")
    assert page.problems == [], "\n".join(page.problems)
