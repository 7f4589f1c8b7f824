"""The whole trial loop once more in headless Chromium (issue 2, point 8), with a real Celery
worker on Redis recording the recommendation, and a screenshot of every page."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import policy
from escalation.models import Cohort, EscalationDecision
from subjects.models import Subject
from tests.auth import fresh_code, totp_secret
from tests.factories import PASSWORD
from tests.screening.helpers import enrolment_dated, investigator_judges_reserved, predose, site_ulns
from trialsite.celery import app as celery_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def unused_code(user) -> str:
    """A one-time code of the user's authenticator not used yet; when every code of the tolerance window
    is (several sign-ins and signatures within a minute), the next period's."""
    try:
        return fresh_code(user)
    except AssertionError:
        time.sleep(30 - time.time() % 30 + 0.5)
        return fresh_code(user)


def log_in(page, username):
    """Sign in through the pages, as a person does: the user name and password on /login/ (allauth's
    field is ``login``), then, for a user whose role needs a second factor, the code of the authenticator
    (enrolled beforehand, as at a first sign-in) on the one-time code page."""
    user = get_user_model().objects.get(username=username)
    needs_code = policy.second_factor_required(user) or policy.has_totp(user)
    if needs_code:
        totp_secret(user)
    page.context.clear_cookies()
    page.goto("/")
    assert "/login/" in page.url
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    if needs_code:
        page.wait_for_url("**/accounts/2fa/authenticate/")
        page.fill("#id_code", unused_code(user))
        page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def fill_signature(page, user, password=PASSWORD):
    """The signature's credentials: the signer's user name, a password and a fresh one-time code."""
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.fill("#id_otp_code", unused_code(user))


def test_trial_loop_in_the_browser(page, shot, people, bat6005, site_a):
    site_ulns(site_a)
    expect_text = page.locator("body")
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # Anonymous: only the login page.
        page.goto("/trials/BAT6005/")
        assert "/login/" in page.url
        shot(page, "login")

        # Coordinator: screen a candidate (one bad try first), confirm eligibility, enrol.
        log_in(page, "coordinator")
        shot(page, "coordinator-home")
        page.click("text=Open >> nth=0")
        page.wait_for_url("**/trials/BAT6005/")
        assert "Cohort 1" in expect_text.inner_text()
        shot(page, "trial")
        page.click("text=Enrol a subject")
        page.click("text=Screen a new candidate")
        consented = (timezone.localdate() - timedelta(days=24)).isoformat()
        page.fill("#id_initials", "A1")
        page.fill("#id_date_of_birth", "1961-03-04")
        page.select_option("#id_sex", "F")
        page.fill("#id_consent_form_version", "v1.0")
        page.fill("#id_consent_date", consented)
        page.click("#screening-form button[type=submit]")
        page.wait_for_selector("#id_initials-error")
        assert "Enter 2 to 4 letters" in page.inner_text("#id_initials-error")
        assert page.input_value("#id_initials") == "A1"
        assert page.input_value("#id_date_of_birth") == "1961-03-04"
        shot(page, "enrol-error")
        page.fill("#id_initials", "ABC")
        page.click("#screening-form button[type=submit]")
        page.wait_for_url(re.compile(r"/screening/\d+/$"))
        page.fill("#id_assessed_on", consented)
        page.select_option("#id_ecog", "1")
        page.click("#values-form button[type=submit]")
        page.wait_for_selector("#criterion-ecog .badge.met")
        for code in ("consent", "diagnosis"):  # the measurable lesion is the investigator's judgement
            page.check(f"input[name=j_{code}][value=yes]")
        page.click("#judgement-form button[type=submit]")
        page.wait_for_selector("#criterion-diagnosis .badge.met")
        investigator_judges_reserved(page, bat6005, site_a)
        page.wait_for_selector("#eligibility-summary.eligible")
        page.click("#decision-form button[value=eligible]")
        page.wait_for_selector("#enrol-from-screening")
        page.click("#enrol-from-screening button")
        page.wait_for_url(re.compile(r"/subjects/\d+/$"))
        assert "BAT6005-SITE-A-001" in page.inner_text("h1")
        shot(page, "subject-enrolled")

        # First dose 22 days ago: the DLT window has closed (the enrolment dated the day of consent, as if
        # entered then: no dose precedes enrolment).
        first_dose = timezone.localtime() - timedelta(days=22)
        subject = enrolment_dated(Subject.objects.get(code="BAT6005-SITE-A-001"), first_dose.date() - timedelta(days=2))
        predose(subject, first_dose, people["coordinator"])
        page.click("text=Record a dose")
        page.fill("#id_administered_at", first_dose.strftime("%Y-%m-%dT%H:%M"))
        shot(page, "dose-form")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/subjects/\d+/$"))
        assert "C1D1" in page.inner_text("#doses")
        assert "C2D1" in page.inner_text("#visits")

        # An adverse event meeting the DLT criteria: proposed as a DLT.
        page.click("text=Record an adverse event")
        page.fill("#id_term", "Pneumonitis")
        page.select_option("#id_grade", "3")
        page.fill("#id_onset_date", (first_dose + timedelta(days=9)).date().isoformat())
        page.select_option("#id_attribution", "probable")
        shot(page, "ae-form")
        page.click("#ae-form button[type=submit]")
        page.wait_for_url(re.compile(r"/subjects/\d+/$"))
        assert "DLT proposed" in page.inner_text("#adverse-events")
        shot(page, "subject-with-dlt")

        # The investigator adjudicates it as a DLT.
        log_in(page, "investigator")
        page.goto(f"/subjects/{Subject.objects.get(code='BAT6005-SITE-A-001').pk}/")
        page.click("text=DLT proposed: adjudicate")
        page.check("input[name=decision][value=confirm]")
        page.click("#adjudication-form button[type=submit]")
        page.wait_for_selector("#dlt-status:has-text('DLT (adjudicated)')")
        shot(page, "dlt-adjudicated")
        log_in(page, "coordinator")

        # The worker, triggered after commit, records the recommendation.
        # The dose alone (window closed, no toxicity yet entered) already led to a recommendation
        # to escalate; the AE entered afterwards invalidates it, and while the AE awaits the
        # investigator's adjudication no decision is made (issue 8, point 1); the adjudicated DLT
        # then leads to one, made on the DLT.
        pending = EscalationDecision.objects.filter(status="pending", outcomes="1T")
        deadline = time.monotonic() + 30
        while not pending.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        decision = pending.get()
        assert EscalationDecision.objects.filter(status="invalidated").count() == 1

        # A coordinator sees no signing form.
        page.goto(f"/escalation/decisions/{decision.pk}/")
        assert page.locator("#sign-form").count() == 0

        # The investigator signs (user name, password, one-time code): wrong password first, then the right one.
        log_in(page, "investigator")
        page.goto("/")
        assert "Decisions to sign" in page.inner_text("main")
        shot(page, "investigator-home")
        page.click(f"a[href='/escalation/decisions/{decision.pk}/']")
        assert "Continue: 2 subject(s) at 10 mg" in page.inner_text(".recommendation")
        shot(page, "decision-pending")
        page.check("input[value=approved]")
        fill_signature(page, people["investigator"], password="wrong-password")
        page.click("#sign-form button[type=submit]")
        page.wait_for_selector("#id_password-error")
        assert "The password is not correct." in page.inner_text("#id_password-error")
        shot(page, "decision-wrong-password")
        page.check("input[value=approved]")
        fill_signature(page, people["investigator"])
        page.fill("#id_comment", "Discussed with the sponsor on the phone.")
        page.click("#sign-form button[type=submit]")
        page.wait_for_selector(".signature")
        signature = page.inner_text(".signature")
        assert people["investigator"].get_full_name() in signature
        assert "I approve this dose-escalation decision" in signature
        assert re.search(r"Signed \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", signature)
        assert "Approved" in page.inner_text("h1")
        shot(page, "decision-signed")

        # The next cohort is open at the approved dose.
        cohort = Cohort.objects.get(status="open")
        assert (cohort.number, cohort.dose_level.label) == (2, "10 mg")
        log_in(page, "coordinator")
        page.goto("/trials/BAT6005/")
        assert "Cohort 2 at 10 mg" in page.inner_text("main")
        shot(page, "trial-next-cohort")

        # The sponsor's dashboard: counts and the decision, no subject identifiers.
        log_in(page, "sponsor")
        page.click("text=Cohort dashboard")
        page.wait_for_url("**/dashboard/")
        first_row = page.locator("#levels tbody tr").first.inner_text().split("\t")
        assert [cell.strip() for cell in first_row] == ["10 mg", "1", "1", "1", "0", "0"]
        assert "Approved" in page.inner_text("#decisions")
        body = page.inner_text("body")
        assert "BAT6005-SITE-A-001" not in body and "ABC" not in body
        shot(page, "sponsor-dashboard")

    assert page.problems == [], "\n".join(page.problems)
