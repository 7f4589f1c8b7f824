"""After escalation in headless Chromium (issue 12, point 2): the RP2D proposed and co-signed by the sponsor and
the principal investigator in the browser, then a subject screened for, enrolled into and dosed in the later
part — LVGN6051 + anlotinib's phase II expansion, and BAT6005 Part 2 with its two chosen cohorts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from escalation.models import Cohort, Rp2dDeclaration
from subjects.models import Subject
from tests.browser.test_trial_loop_browser import fill_signature, log_in
from tests.conftest import load_trial, member
from tests.parts_helpers import escalate
from tests.screening.helpers import eligible_screening, enrolment_dated, predose
from trials.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _user(name):
    return get_user_model().objects.get(username=name)


def _enrol_and_dose(page, shot, trial, record, *, cohort_label=None, dose_text):
    page.goto(f"/subjects/enrol/{trial.code}/")
    page.select_option("#id_screening", str(record.pk))
    if cohort_label:
        assert page.locator("#id_cohort").count() == 1
        page.select_option("#id_cohort", label=cohort_label)
    shot(page, "enrol-later-part")
    page.click("#enrol-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/\d+/$"))
    subject_url = page.url
    record.refresh_from_db()
    subject = enrolment_dated(record.subject, record.assessed_on)
    day1 = timezone.localtime() - timedelta(days=2)
    predose(subject, day1, subject.enrolled_by)
    page.goto(subject_url)
    page.click("text=Record a dose")
    page.select_option("#id_drug", label=trial.drugs.order_by("order").first().name)
    page.fill("#id_administered_at", day1.strftime("%Y-%m-%dT%H:%M"))
    page.click("#dose-form button[type=submit]")
    page.wait_for_url(subject_url)
    assert "C1D1" in page.inner_text("#doses") and dose_text in page.inner_text("#doses")
    shot(page, "dosed-in-later-part")
    return Subject.objects.get(pk=subject.pk)


def test_lvgn_expansion_end_to_end(page, shot, site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "coordinator")
    pi = member(trial, Role.INVESTIGATOR, site_a, "pi", principal=True)
    sponsor = member(trial, Role.SPONSOR, None, "sponsor")
    escalate(trial, site_a, coordinator, pi, sponsor, ["NNN", "NNN", "TTN", "NNN"])

    # The PI proposes the RP2D: a wrong password is refused on its field, nothing saved; then signed.
    log_in(page, "pi")
    page.goto("/escalation/trials/LVGN6051-ANLOTINIB/rp2d/")
    assert "MTD = LVGN6051 3 mg/kg + anlotinib 12 mg" in page.inner_text("#escalation-outcome")
    assert "2" in page.inner_text("#rp2d-safety")
    page.fill("#id_rationale", "The MTD: 0/6 DLTs at 3 mg/kg, 2/3 at 5 mg/kg.")
    fill_signature(page, pi, password="not-the-password")
    page.click("#rp2d-form button[type=submit]")
    page.wait_for_selector("#id_password-error")
    assert not Rp2dDeclaration.objects.exists()
    assert page.input_value("#id_rationale").startswith("The MTD")
    fill_signature(page, pi)
    shot(page, "rp2d-proposal")
    page.click("#rp2d-form button[type=submit]")
    page.wait_for_selector("#declaration")
    assert "Awaiting the sponsor's signature" in page.inner_text("#declaration")

    # The sponsor finds it in the work queue and co-signs: the expansion opens.
    log_in(page, "sponsor")
    page.click("#queue-rp2d a")
    page.wait_for_selector("#rp2d-sign-form")
    page.check("input[name=meaning][value=declared]")
    fill_signature(page, sponsor)
    shot(page, "rp2d-cosign")
    page.click("#rp2d-sign-form button[type=submit]")
    page.wait_for_selector("#declaration:has-text('Signed by sponsor and principal investigator')")
    parts = page.inner_text("#parts")
    assert "Phase II: expansion at the RP2D" in parts and "Enrolling" in parts and "STS-II" in parts
    shot(page, "rp2d-signed")
    assert page.problems == []

    # The coordinator enrols a phase II candidate into the expansion and doses at the RP2D (3 mg/kg).
    record = eligible_screening(trial, site_a, coordinator, initials="EX")
    assert record.part.code == "phase-ii"
    log_in(page, "coordinator")
    subject = _enrol_and_dose(page, shot, trial, record, dose_text="mg")
    assert subject.cohort.label == "STS-II" and subject.dose_level.label.startswith("LVGN6051 3 mg/kg")

    # The sponsor's dashboard reports the parts apart.
    log_in(page, "sponsor")
    page.goto("/trials/LVGN6051-ANLOTINIB/dashboard/")
    parts = page.inner_text("#parts")
    assert "1 of 20" in parts and "Phase Ib: dose escalation" in parts
    shot(page, "dashboard-parts")
    assert page.problems == []


def test_bat6005_part2_end_to_end(page, shot, people, bat6005, site_a):
    trial = bat6005
    escalate(trial, site_a, people["coordinator"], people["investigator"], people["sponsor"],
             ["N", "N", "N", "NNN", "TTN", "NNN"])
    # The sponsor proposes 300 mg with two extension cohorts; the PI co-signs.
    log_in(page, "sponsor")
    page.goto("/escalation/trials/BAT6005/rp2d/")
    page.select_option("#id_dose_level", label="300 mg")
    page.fill("#id_rationale", "MTD 300 mg; exposure proportional to dose; two responses at 300 mg.")
    page.select_option("#id_c1_level", label="300 mg")
    page.fill("#id_c1_size", "6")
    page.fill("#id_c1_tumour_types", "melanoma")
    page.select_option("#id_c2_level", label="100 mg")
    page.fill("#id_c2_size", "5")
    page.fill("#id_c2_tumour_types", "leiomyosarcoma")
    fill_signature(page, people["sponsor"])
    page.click("#rp2d-form button[type=submit]")
    page.wait_for_selector("#id_c2_size-error")
    assert "at least 6" in page.inner_text("#id_c2_size-error")
    page.fill("#id_c2_size", "8")
    fill_signature(page, people["sponsor"])
    shot(page, "part2-proposal")
    page.click("#rp2d-form button[type=submit]")
    page.wait_for_selector("#planned-cohorts")
    log_in(page, "investigator")
    page.goto("/escalation/trials/BAT6005/rp2d/")
    page.check("input[name=meaning][value=declared]")
    fill_signature(page, people["investigator"])
    page.click("#rp2d-sign-form button[type=submit]")
    page.wait_for_selector("#declaration:has-text('Signed by sponsor and principal investigator')")
    assert Cohort.objects.filter(trial=trial, escalation=False, status="open").count() == 2
    shot(page, "part2-open")

    # A leiomyosarcoma candidate joins the 100 mg cohort (the coordinator chooses among the two) and is dosed.
    record = eligible_screening(trial, site_a, people["coordinator"], initials="PT",
                                values={"histology": "leiomyosarcoma"})
    log_in(page, "coordinator")
    subject = _enrol_and_dose(page, shot, trial, record, cohort_label="PART-2-2: 100 mg, leiomyosarcoma",
                              dose_text="100 mg")
    assert (subject.cohort.label, subject.dose_level.label) == ("PART-2-2", "100 mg")
    assert page.problems == []
