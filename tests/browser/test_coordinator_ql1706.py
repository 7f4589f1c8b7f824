"""QL1706 eligibility in headless Chromium: one candidate eligible, one failing on a ×ULN threshold
(AST above 2.5 × the site's ULN), whose screen failure records the reason."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from screening.models import ScreeningRecord
from tests.browser.test_trial_loop_browser import log_in
from tests.conftest import load_trial, member
from tests.screening.helpers import NORMAL_VALUES, investigator_judges_reserved, site_ulns
from trials.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start(page, initials, sex="F"):
    page.goto("/screening/trials/QL1706/new/")
    page.fill("#id_initials", initials)
    page.fill("#id_date_of_birth", "1972-05-14")
    page.select_option("#id_sex", sex)
    page.fill("#id_consent_form_version", "v3.1")
    page.fill("#id_consent_date", (timezone.localdate() - timedelta(days=2)).isoformat())
    page.click("#screening-form button[type=submit]")
    page.wait_for_url(re.compile(r"/screening/\d+/$"))


def fill_values(page, **changes):
    values = {**NORMAL_VALUES, **changes}
    page.fill("#id_assessed_on", (timezone.localdate() - timedelta(days=1)).isoformat())
    for name, value in values.items():
        selector = f"#values-form [name={name}]"
        if name == "prior_therapies":
            for therapy in value:
                page.check(f"#values-form input[name=prior_therapies][value={therapy}]")
        elif page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#values-form button[type=submit]")
    page.wait_for_selector("#criterion-alt .badge:not(.missing)")


def judge_all(page, trial, site):
    """The coordinator ticks every judgement open to them; the investigator records the one reserved to
    them (the measurable lesion)."""
    for radio in page.locator("#judgement-form input[value=yes]:not([disabled])").all():
        radio.check()
    page.click("#judgement-form button[type=submit]")
    page.wait_for_selector("#criterion-contraception .badge.met")
    investigator_judges_reserved(page, trial, site)
    page.wait_for_selector("#criterion-measurable .badge.met")


def test_ql1706_eligible_and_uln_failure(page, shot, site_a):
    trial = load_trial("QL1706")
    member(trial, Role.COORDINATOR, site_a, "coordinator")
    site_ulns(site_a)
    log_in(page, "coordinator")

    # Candidate 1: every criterion met, creatinine entered in mg/dL (converted for the ULN and CrCl).
    start(page, "EL")
    assert page.locator("#criteria tbody tr").count() == 26
    fill_values(page, creatinine="0.9", creatinine_unit="mg/dL")
    assert "missing" in page.inner_text("#criterion-measurable")
    judge_all(page, trial, site_a)
    page.wait_for_selector("#eligibility-summary.eligible")
    renal = page.inner_text("#criterion-renal")
    assert "0.9 mg/dL" in renal and "mL/min" in renal
    shot(page, "ql1706-eligible")
    page.click("#decision-form button[value=eligible]")
    page.wait_for_selector("#screening-status.eligible")
    page.click("#enrol-from-screening button")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    assert "QL1706-SITE-A-001" in page.inner_text("h1")
    # The weight at screening gives the 5 mg/kg dose: 70 kg -> 350 mg.
    assert "5 mg/kg × 70 kg = 350 mg" in page.inner_text("#planned-doses")
    shot(page, "ql1706-enrolled")

    # Candidate 2: AST 130 U/L with a site ULN of 40 (3.25 × ULN > 2.5 × ULN): not met.
    start(page, "UL", sex="M")
    fill_values(page, ast="130")
    judge_all(page, trial, site_a)
    row = page.inner_text("#criterion-ast")
    assert "not met" in row and "130 U/L (3.25 × ULN)" in row and "≤ 2.5 × ULN 40 U/L = ≤ 100 U/L" in row
    assert "1 criterion not met" in page.inner_text("#eligibility-summary")
    assert page.is_disabled("#decision-form button[value=eligible]")
    # Males: the pregnancy test does not apply.
    assert "not applicable" in page.inner_text("#criterion-pregnancy")
    shot(page, "ql1706-uln-failure")
    # With liver metastases the limit is 5 × ULN: met (the values are kept, one box ticked).
    page.check("#id_liver_metastasis")
    page.click("#values-form button[type=submit]")
    page.wait_for_selector("#criterion-ast .badge.met")
    assert page.input_value("#id_ast") == "130"
    page.uncheck("#id_liver_metastasis")
    page.click("#values-form button[type=submit]")
    page.wait_for_selector("#criterion-ast .badge.not_met")
    page.click("#decision-form button[value=fail]")
    page.wait_for_selector("#failure-reasons")
    assert "AST ≤ 2.5 × ULN" in page.inner_text("#failure-reasons")
    shot(page, "ql1706-screen-failure")
    record = ScreeningRecord.objects.get(initials="UL")
    assert record.status == "screen_failed" and "130 U/L" in record.failure_reasons[0]

    # The screening list, filtered to screen failures.
    page.goto("/screening/trials/QL1706/")
    page.select_option("#id_status", "screen_failed")
    expect(page.locator("#screening-list tbody tr")).to_have_count(1)
    assert "UL" in page.inner_text("#screening-list") and "EL" not in page.inner_text("#screening-list tbody")
    shot(page, "screening-list-filtered")
    assert page.problems == [], "\n".join(page.problems)
