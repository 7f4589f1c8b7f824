"""Corrections, voiding and the history page in headless Chromium, as a coordinator would use them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from subjects.models import AdverseEvent, DoseAdministration
from subjects.services import adverse_event_record
from tests.browser.test_trial_loop_browser import log_in
from tests.test_records import enrolled_and_dosed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_correct_void_and_read_the_history(page, shot, people, bat6005, site_a):
    coordinator = people["coordinator"]
    subject, dose = enrolled_and_dosed(bat6005, site_a, coordinator, days_ago=10)
    when = dose.administered_at
    ae = adverse_event_record(subject=subject, user=coordinator, term="Nausea", grade=1,
                              onset_date=(when + timedelta(days=2)).date(), attribution="unlikely")

    log_in(page, "coordinator")
    page.goto(f"/subjects/{subject.pk}/")
    shot(page, "subject")
    page.click(f"#doses a[href='/records/dose/{dose.pk}/correct/']")
    page.wait_for_url(re.compile(r"/records/dose/\d+/correct/$"))
    corrected = when - timedelta(hours=3)
    page.fill("#id_administered_at", corrected.strftime("%Y-%m-%dT%H:%M"))
    # Saved without a reason: the field says what is missing, nothing changes.
    page.click("#correct-form button[type=submit]")
    page.wait_for_selector("#id_reason-error")
    shot(page, "correction-needs-reason")
    assert DoseAdministration.objects.get(pk=dose.pk).administered_at == when
    page.fill("#id_reason", "Time copied from the wrong infusion chart")
    page.click("#correct-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/subjects/{subject.pk}/$"))
    assert DoseAdministration.objects.get(pk=dose.pk).administered_at == corrected

    # Void the AE entered in error: struck through with the reason, still on the page.
    page.click(f"#adverse-events a[href='/records/adverse-event/{ae.pk}/void/']")
    page.fill("#id_reason", "Entered for the wrong subject")
    page.check("#id_confirm")
    shot(page, "void-form")
    page.click("#void-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/subjects/adverse-events/{ae.pk}/$"))
    assert "Entered for the wrong subject" in page.inner_text(".void-note")
    page.goto(f"/subjects/{subject.pk}/")
    row = page.locator("#adverse-events tr.voided")
    assert "Entered for the wrong subject" in row.inner_text()
    assert AdverseEvent.all_objects.get(pk=ae.pk).voided_at is not None
    shot(page, "subject-after")

    page.click(f"#doses a[href='/records/dose/{dose.pk}/history/']")
    page.wait_for_url(re.compile(r"/history/$"))
    table = page.inner_text("#history")
    assert "Time copied from the wrong infusion chart" in table
    assert "corrected" in table and "entered" in table
    shot(page, "history")
    assert not page.problems, page.problems
