"""Intra-patient dose escalation in headless Chromium (issue 12, point 3): the investigator checks and asks,
signing in the browser; the sponsor agrees in the browser; the subject page then shows the new level for the
next cycle. Screenshots of the request and agreement pages go to /tmp/intrapatient_*.png (and
artifacts/screenshots/)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from escalation.models import IntraPatientEscalation
from tests.browser.test_trial_loop_browser import fill_signature, log_in
from tests.escalation.test_intrapatient import RATIONALE, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def keep(path: Path, name: str) -> None:
    """A copy of a screenshot as <temporary directory>/intrapatient_<name>.png."""
    shutil.copy(path, Path(tempfile.gettempdir()) / f"intrapatient_{name}.png")


def test_investigator_asks_sponsor_agrees_in_the_browser(page, shot, people, bat6005, site_a):
    world = build_world(bat6005, site_a, people["coordinator"])
    subject = world["subject"]

    log_in(page, "investigator")
    page.goto(f"/subjects/{subject.pk}/")
    assert page.inner_text("#next-cycle-level") == "10 mg"
    page.click("text=Intra-patient escalation…")
    page.wait_for_url(f"**/escalation/subjects/{subject.pk}/intra-patient/")
    checks = page.inner_text("#intrapatient-checks")
    assert "4 cycles received (cycles 1–4; at least 4 required)" in checks
    assert checks.count("Not met") == 1  # the agreement, not yet asked
    # A level not higher: the reason on the field, nothing saved.
    page.select_option("#id_to_level", label="10 mg")
    page.fill("#id_rationale", RATIONALE)
    fill_signature(page, people["investigator"])
    page.click("#intrapatient-form button[type=submit]")
    page.wait_for_selector("#id_to_level-error")
    assert "is not above the subject's current level (10 mg)" in page.inner_text("#id_to_level-error")
    assert not IntraPatientEscalation.objects.exists()
    page.select_option("#id_to_level", label="30 mg")
    fill_signature(page, people["investigator"])
    keep(shot(page, "request"), "request")
    page.click("#intrapatient-form button[type=submit]")
    page.wait_for_url(re.compile(r"/escalation/intra-patient/\d+/$"))
    assert page.inner_text("#agreement-status") == "Awaiting agreement"
    assert "Awaiting the signature of a sponsor" in page.inner_text("#awaiting")
    agreement = IntraPatientEscalation.objects.get()

    log_in(page, "sponsor")
    page.goto("/escalation/trials/BAT6005/intra-patient/")
    page.click(f"a[href='/escalation/intra-patient/{agreement.pk}/']")
    page.wait_for_selector("#intrapatient-sign-form")
    body = page.inner_text("main")
    assert subject.code in body and "QXJW" not in body  # the sponsor sees the subject's code only
    page.check("input[name=meaning][value=agreed]")
    fill_signature(page, people["sponsor"])
    keep(shot(page, "agreement-form"), "agreement")
    page.click("#intrapatient-sign-form button[type=submit]")
    page.wait_for_selector("#agreement-status:has-text('Agreed')")
    assert page.locator(".signature").count() == 2
    keep(shot(page, "agreed"), "agreed")

    log_in(page, "investigator")
    page.goto(f"/subjects/{subject.pk}/")
    assert page.inner_text("#next-cycle-level") == "30 mg"
    assert "Cycle 5" in page.inner_text("#intrapatient-box")
    shot(page, "subject-after")
    assert not page.problems, page.problems
