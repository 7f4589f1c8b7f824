"""The whole trial loop through the test client: enrol, dose, DLT, recommendation, signature,
next cohort, sponsor dashboard (issue 2)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from escalation.models import Cohort, EscalationDecision, Signature
from escalation.tasks import review_open_cohorts
from subjects.models import AdverseEvent, Subject
from tests.auth import signed
from tests.screening.helpers import eligible_screening, enrolment_dated, predose

pytestmark = pytest.mark.django_db


def enrol(client, trial, site, initials="ABC"):
    """Enrolment is from an eligible screening record (consent, criteria met, confirmed)."""
    coordinator = get_user_model().objects.get(username="coordinator")
    record = eligible_screening(trial, site, coordinator, initials=initials)
    response = client.post(reverse("subjects:enrol", args=[trial.code]), {"screening": record.pk})
    # The loop replays doses given days ago: the enrolment is dated the day of screening.
    subject = Subject.objects.filter(screening=record).first()
    if subject is not None:
        enrolment_dated(subject, record.assessed_on)
    return response


def test_coordinator_to_sponsor(people, login, bat6005, site_a):
    now = timezone.now()
    client = login(people["coordinator"])

    home = client.get(reverse("home"))
    assert b"BAT6005" in home.content

    # Enrol into the open cohort: cohort 1 at 10 mg takes one subject (accelerated titration).
    response = enrol(client, bat6005, site_a)
    subject = Subject.objects.get(trial=bat6005)
    assert response.status_code == 302
    assert response.url == reverse("subjects:detail", args=[subject.pk])
    assert subject.dose_level.label == "10 mg"
    assert subject.code == "BAT6005-SITE-A-001"
    assert Cohort.objects.get(trial=bat6005, number=1).status == Cohort.Status.FULL

    # First dose, 22 days ago: the 21-day DLT window has closed.
    first_dose = (now - timedelta(days=22)).replace(second=0, microsecond=0)
    drug = bat6005.drugs.get()
    predose(subject, first_dose, people["coordinator"])
    response = client.post(
        reverse("subjects:dose_new", args=[subject.pk]),
        {"drug": drug.pk, "cycle": 1, "day": 1, "administered_at": first_dose.strftime("%Y-%m-%dT%H:%M"),
         "dose": "10"},
    )
    assert response.status_code == 302, response.content.decode()
    assert subject.visits.filter(code="C2D1").exists()

    # An adverse event inside the window: proposed as a DLT, adjudicated by the investigator.
    response = client.post(
        reverse("subjects:ae_new", args=[subject.pk]),
        {"term": "Pneumonitis", "grade": 3, "onset_date": (first_dose + timedelta(days=10)).date().isoformat(),
         "attribution": "probable"},
    )
    assert response.status_code == 302, response.content.decode()
    event = AdverseEvent.objects.get(subject=subject)
    assert event.dlt_status == "proposed" and not event.is_dlt
    client = login(people["investigator"])
    response = client.post(reverse("subjects:ae_detail", args=[event.pk]), {"decision": "confirm"})
    assert response.status_code == 302, response.content.decode()
    assert AdverseEvent.objects.get(subject=subject).is_dlt
    client = login(people["coordinator"])

    # The scheduled escalation task records the recommendation.
    assert review_open_cohorts() == 1
    decision = EscalationDecision.objects.get(trial=bat6005)
    assert decision.status == EscalationDecision.Status.PENDING
    assert decision.continue_trial and decision.add_subjects == 2
    assert decision.next_dose_level.label == "10 mg"
    assert "DLT" in decision.rationale and "titration" in decision.rationale
    assert decision.outcomes == "1T"
    assert review_open_cohorts() == 0  # once per cohort, however often the schedule runs

    # The coordinator sees it but cannot sign it.
    page = client.get(reverse("escalation:decision", args=[decision.pk]))
    assert page.status_code == 200 and b"sign-form" not in page.content
    forbidden = client.post(reverse("escalation:decision", args=[decision.pk]),
                            signed(people["coordinator"], meaning="approved"))
    assert forbidden.status_code == 403
    assert not Signature.objects.exists()

    # The investigator sees it, and approves it by re-entering user name, password and one-time code.
    client = login(people["investigator"])
    assert b"cohort 1" in client.get(reverse("home")).content
    page = client.get(reverse("escalation:decision", args=[decision.pk]))
    assert b"sign-form" in page.content
    wrong = client.post(reverse("escalation:decision", args=[decision.pk]),
                        signed(people["investigator"], meaning="approved", password="not-my-password"))
    assert wrong.status_code == 422
    assert wrong.context["form"].errors["password"] == ["The password is not correct."]
    response = client.post(reverse("escalation:decision", args=[decision.pk]),
                           signed(people["investigator"], meaning="approved", comment="Agreed with sponsor"))
    assert response.status_code == 302
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.APPROVED
    signature = decision.signatures.get()
    assert signature.signer == people["investigator"]
    assert signature.data_sha256 == decision.data_sha256
    page = client.get(reverse("escalation:decision", args=[decision.pk])).content.decode()
    assert people["investigator"].get_full_name() in page
    assert "I approve this dose-escalation decision" in page
    assert timezone.localtime(signature.signed_at).strftime("%Y-%m-%d %H:%M") in page

    # The next cohort opens at the approved dose, for the 2 subjects that complete the level.
    cohort = Cohort.objects.get(trial=bat6005, status=Cohort.Status.OPEN)
    assert (cohort.number, cohort.dose_level.label, cohort.capacity) == (2, "10 mg", 2)
    client = login(people["coordinator"])
    assert enrol(client, bat6005, site_a, initials="DEF").status_code == 302
    assert Subject.objects.get(initials="DEF").cohort == cohort

    # The sponsor's dashboard: counts per level and the decision, no subject identifiers.
    client = login(people["sponsor"])
    page = client.get(reverse("trials:dashboard", args=[bat6005.code]))
    assert page.status_code == 200
    rows = {row.label: row for row in page.context["levels"]}
    assert (rows["10 mg"].enrolled, rows["10 mg"].evaluable, rows["10 mg"].dlts) == (2, 1, 1)
    assert (rows["30 mg"].enrolled, rows["30 mg"].evaluable, rows["30 mg"].dlts) == (0, 0, 0)
    html = page.content.decode()
    assert decision.rationale in html and "Approved" in html
    for identifier in ("BAT6005-SITE-A-001", "ABC", "DEF", "1961"):
        assert identifier not in html
    api = client.get(reverse("api-dashboard", args=[bat6005.code])).json()
    assert api["levels"][0] == {"label": "10 mg", "enrolled": 2, "evaluable": 1, "dlts": 1}
    assert "BAT6005-SITE-A-001" not in str(api)


def test_no_decision_while_the_window_is_open(people, login, bat6005, site_a):
    client = login(people["coordinator"])
    enrol(client, bat6005, site_a)
    subject = Subject.objects.get()
    dosed = timezone.now() - timedelta(days=5)
    predose(subject, dosed, people["coordinator"])
    client.post(reverse("subjects:dose_new", args=[subject.pk]),
                {"drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1,
                 "administered_at": dosed.strftime("%Y-%m-%dT%H:%M"), "dose": "10"})
    assert subject.doses.count() == 1
    assert review_open_cohorts() == 0
    assert not EscalationDecision.objects.exists()


def test_closed_window_without_toxicity_escalates(people, login, bat6005, site_a):
    client = login(people["coordinator"])
    enrol(client, bat6005, site_a)
    subject = Subject.objects.get()
    dosed = timezone.now() - timedelta(days=21, hours=1)
    predose(subject, dosed, people["coordinator"])
    client.post(reverse("subjects:dose_new", args=[subject.pk]),
                {"drug": bat6005.drugs.get().pk, "cycle": 1, "day": 1,
                 "administered_at": dosed.strftime("%Y-%m-%dT%H:%M"), "dose": "10"})
    assert review_open_cohorts() == 1
    decision = EscalationDecision.objects.get()
    assert (decision.next_dose_level.label, decision.add_subjects) == ("30 mg", 1)
