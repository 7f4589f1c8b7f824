"""One click, one record (issue 8, point 8) in headless Chromium: a double click on "Start screening"
and on "Record adverse event" creates one record each — with the page's script (which disables the
button after the first submit) and without any JavaScript at all, where only the server's
submission token stands between the two requests and a second record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from screening.models import ScreeningRecord
from subjects.models import AdverseEvent
from submissions.middleware import ALREADY_SUBMITTED
from tests.browser.test_trial_loop_browser import log_in
from tests.screening.helpers import site_ulns
from tests.test_one_click import dose_first, enrol

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dosed_subject(people, bat6005, site_a):
    site_ulns(site_a)
    subject = enrol(bat6005, site_a, people["coordinator"], "DC")
    dose_first(subject, people["coordinator"], days_ago=3)
    return subject


def double_click(page, selector):
    """Two clicks 50 ms apart, as a hand double-clicks. (Playwright's dblclick sends both in the same
    instant, which Chromium folds into one form submission when no script runs.)"""
    button = page.locator(selector)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(50)
    page.mouse.click(x, y)


def settle(page):
    """Let any second request the double click sent come back before counting rows."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    page.wait_for_load_state("networkidle")


def double_click_both_forms(page, shot, subject, *, notice: bool = False):
    """Double-click both forms; with ``notice`` (no script: both requests reach the server) the page
    shown is the second answer, which says that nothing was saved twice."""
    from playwright.sync_api import expect

    log_in(page, "coordinator")
    page.goto("/screening/trials/BAT6005/new/")
    page.fill("#id_initials", "DK")
    page.fill("#id_date_of_birth", "1958-07-01")
    page.select_option("#id_sex", "M")
    page.fill("#id_consent_form_version", "v2.0")
    page.fill("#id_consent_date", (timezone.localdate() - timedelta(days=2)).isoformat())
    shot(page, "start-screening-form")
    double_click(page, "#screening-form button[type=submit]")
    # Polled, not a navigation wait: without script the second submission aborts the first navigation.
    expect(page).to_have_url(re.compile(r"/screening/\d+/$"), timeout=15_000)
    if notice:  # the page shown is the second answer
        expect(page.locator(".messages")).to_contain_text(ALREADY_SUBMITTED, timeout=15_000)
    settle(page)
    shot(page, "screening-after-double-click")
    assert ScreeningRecord.objects.filter(initials="DK").count() == 1
    assert page.url.endswith(f"/screening/{ScreeningRecord.objects.get(initials='DK').pk}/")

    page.goto(f"/subjects/{subject.pk}/adverse-events/new/")
    page.fill("#id_term", "Fatigue")
    page.select_option("#id_grade", "1")
    page.fill("#id_onset_date", timezone.localdate().isoformat())
    page.select_option("#id_attribution", "unrelated")
    shot(page, "ae-form")
    double_click(page, "#ae-form button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/subjects/{subject.pk}/$"), timeout=15_000)
    if notice:
        expect(page.locator(".messages")).to_contain_text(ALREADY_SUBMITTED, timeout=15_000)
    settle(page)
    shot(page, "subject-after-double-click")
    assert AdverseEvent.objects.filter(subject=subject).count() == 1
    assert page.locator("#adverse-events").inner_text().count("Fatigue") == 1


def test_double_click_with_the_page_script(page, shot, dosed_subject):
    double_click_both_forms(page, shot, dosed_subject)
    assert page.problems == []


def test_double_click_without_javascript(browser, site_server, shot, dosed_subject):
    """No script, no htmx: the browser posts the form twice; the server saves it once and sends the
    second request where the first one went."""
    context = browser.new_context(base_url=site_server, java_script_enabled=False,
                                  viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        double_click_both_forms(page, shot, dosed_subject, notice=True)
    finally:
        context.close()
