"""Issue 5 in headless Chromium (here, to share the session's one Playwright instance): a coordinator
opens a subject's calendar, records a visit done (one bad try first, through htmx), sees the
deviation, then the overdue list and the notifications."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.test_trial_loop_browser import log_in
from tests.visits.conftest import make_subject
from visits.models import PlannedVisit
from visits.watch import run_watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_records_a_visit_and_sees_the_overdue_list(page, shot, people, bat6005, site_a):
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=timezone.localdate() - timedelta(days=37))
    run_watch(timezone.localdate(), email=False)
    c2 = PlannedVisit.objects.get(subject=subject, code="C2D1")

    log_in(page, "coordinator")
    assert re.search(r"Notifications\s*\d+", page.inner_text("#nav-notifications"))

    page.goto(f"/visits/subjects/{subject.pk}/")
    assert "Overdue" in page.inner_text(f"#visit-{c2.pk}")
    shot(page, "calendar")
    page.click(f"#visit-{c2.pk} >> text=Record…")
    page.wait_for_url(f"**/visits/{c2.pk}/record/")
    future = (timezone.localdate() + timedelta(days=5)).isoformat()
    page.fill("#id_done-done_on", future)
    page.click("#done-form button[type=submit]")
    page.wait_for_selector("#id_done-done_on-error")
    assert "future" in page.inner_text("#id_done-done_on-error")
    assert page.input_value("#id_done-done_on") == future
    shot(page, "record-error")
    late = c2.window_end + timedelta(days=3)
    page.fill("#id_done-done_on", late.isoformat())
    page.click("#done-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/visits/subjects/{subject.pk}/"))
    row = page.inner_text(f"#visit-{c2.pk}")
    assert "Done" in row and "Deviation: 3 days late" in row
    shot(page, "calendar-done")

    page.goto("/visits/")
    table = page.inner_text("#attention")
    assert "SCR" in table and "C3D1" in table and "C2D1" not in table
    shot(page, "overdue-list")
    page.click("#nav-notifications")
    page.wait_for_url("**/notifications/")
    assert "is overdue" in page.inner_text("#notifications")
    shot(page, "notifications")
    assert not page.problems, page.problems
