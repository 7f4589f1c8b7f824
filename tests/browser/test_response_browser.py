"""Issue 10 in headless Chromium: a coordinator records a subject's baseline lesions (a lymph node by long
axis refused first) and a follow-up scan from the imaging visit (a missing diameter refused first); the
investigator overrides a computed response (a reason asked first); the efficacy page draws its pictures
under the Content-Security-Policy; the sponsor sees it de-identified."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from response.models import TumourAssessment
from tests.browser.test_trial_loop_browser import log_in
from tests.visits.conftest import make_subject

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fill_lesion(page, row, kind, organ, diameter, axis, *, node=False):
    page.select_option(f"#id_l{row}_kind", kind)
    page.fill(f"#id_l{row}_organ", organ)
    if node:
        page.check(f"#id_l{row}_node")
    if diameter is not None:
        page.fill(f"#id_l{row}_diameter", str(diameter))
    if axis:
        page.select_option(f"#id_l{row}_axis", axis)


def _charts_drawn(page) -> dict:
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every("
                           "el => el.dataset.chartDrawn === 'yes' || el.dataset.chartDrawn === 'failed')")
    return page.evaluate("() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map("
                         "el => [el.dataset.chart, [el.dataset.chartDrawn, el.querySelectorAll('svg path, svg "
                         "rect, svg text').length]]))")


def test_scans_are_entered_reviewed_and_pictured(page, shot, people, bat6005, site_a):
    today = timezone.localdate()
    subject = make_subject(bat6005, site_a, people["coordinator"], first_dose=today - timedelta(days=60), cycles=3)
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")

    log_in(page, "coordinator")
    page.goto(f"/subjects/{subject.pk}/")
    page.click("text=Tumour response (RECIST)")
    page.click("text=Record the baseline scan")
    page.wait_for_url(f"**/response/subjects/{subject.pk}/baseline/")
    page.fill("#id_assessed_on", (today - timedelta(days=65)).isoformat())
    _fill_lesion(page, 1, "target", "lung", 40, "long")
    _fill_lesion(page, 2, "target", "lymph node", 22, "long", node=True)
    _fill_lesion(page, 3, "non_target", "bone", None, "")
    page.click("#baseline-form button[type=submit]")
    page.wait_for_selector("#baseline-form .error")
    assert "short axis" in page.inner_text("#baseline-form")
    assert page.input_value("#id_l1_organ") == "lung"  # nothing typed is lost
    shot(page, "baseline-error")
    page.select_option("#id_l2_axis", "short")
    page.click("#baseline-form button[type=submit]")
    page.wait_for_url(f"**/response/subjects/{subject.pk}/")
    assert "T2" in page.inner_text("#timepoints") and "NT1" in page.inner_text("#timepoints")

    # From the visit calendar: the week-6 imaging visit.
    visit = subject.visits.get(code="IMG-W6")
    page.goto(f"/visits/subjects/{subject.pk}/")
    page.click(f"#visit-{visit.pk} >> text=Record the scan…")
    page.wait_for_url(re.compile(r"/scans/new/\?visit="))
    assert page.input_value("#id_visit") == str(visit.pk)
    scan_day = min(visit.target, today)
    page.fill("#id_assessed_on", scan_day.isoformat())
    page.fill("#id_t_T1", "20")
    page.select_option("#id_nt_NT1", "present")
    page.click("#timepoint-form button[type=submit]")
    page.wait_for_selector("#timepoint-form .error")
    assert "T2: enter the diameter" in page.inner_text("#timepoint-form")
    shot(page, "scan-error")
    page.fill("#id_t_T2", "9")
    page.click("#timepoint-form button[type=submit]")
    page.wait_for_url(f"**/response/subjects/{subject.pk}/")
    scan = TumourAssessment.objects.get(subject=subject, baseline=False)
    row = page.inner_text(f"#scan-{scan.pk}")
    assert "PR" in row and "-53.2 %" in row  # 29 of 62 mm
    visit.refresh_from_db()
    assert visit.status == "done"
    shot(page, "scan-recorded")

    log_in(page, "investigator")
    page.goto(f"/response/subjects/{subject.pk}/")
    page.select_option(f"#id_review-{scan.pk}-response", "SD")
    page.click(f"#scan-{scan.pk} .review-form button[type=submit]")
    page.wait_for_selector("#review-form .error")
    assert "differs from the computed PR" in page.inner_text("#review-form")
    page.select_option(f"#id_review-{scan.pk}-response", "SD")
    page.fill(f"#id_review-{scan.pk}-override_reason", "T1 measured on a different window setting")
    page.click("#review-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/response/subjects/{subject.pk}/"))
    assert "overridden (computed PR)" in page.inner_text(f"#scan-{scan.pk}")
    shot(page, "reviewed")

    page.goto(f"/response/trials/{bat6005.code}/")
    drawn = _charts_drawn(page)
    assert set(drawn) >= {"spec-waterfall", "spec-spider", "spec-swimmer", "spec-pfs", "spec-os"}
    assert all(state == "yes" and marks > 0 for state, marks in drawn.values()), drawn
    assert subject.code in page.inner_text("#subject-endpoints")
    shot(page, "efficacy")
    assert page.evaluate("window.__csp") == []
    assert page.problems == []

    log_in(page, "sponsor")
    page.goto(f"/response/trials/{bat6005.code}/")
    drawn = _charts_drawn(page)
    assert all(state == "yes" for state, _ in drawn.values()), drawn
    text = page.inner_text("main")
    assert "Subject 1" in text and subject.code not in text
    assert page.locator(f"a[href='/response/subjects/{subject.pk}/']").count() == 0
    shot(page, "efficacy-sponsor")
    assert page.evaluate("window.__csp") == []
    assert page.problems == []
