"""Portfolio scale (issue 14): the subject page's queries do not grow with the subject's records. The same
subject is read with 2 and with 20 records of each kind shown on the page (doses, adverse events,
pre-dose assessments, dispensings, visits done), some verified by the monitor, as the coordinator and as
the monitor; the number of statements is the same at both sizes, and the SDV badges still say which
record is verified."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring import services as sdv_services
from subjects.dispensing import dispensed_drugs
from subjects.models import AdverseEvent, Assessment, DoseAdministration, OralDispensing
from tests.conftest import member
from tests.test_decision_safety import dosed, lvgn_with_people
from trials.models import Role
from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db


@pytest.fixture
def lvgn_site(db, site_a, site_b):
    trial, people = lvgn_with_people(site_a, site_b)
    people["monitor"] = member(trial, Role.MONITOR, site_a, "m-lvgn")
    return trial, people, site_a


def _records(trial, site, people, initials: str, n: int):
    """A dosed subject with ``n`` more records of each kind on its page; the first of each kind verified
    by the monitor (form), so the page shows verified and not verified badges."""
    coordinator = people["coordinator"]
    subject = dosed(trial, site, coordinator, initials, 30)
    first = subject.first_dose().administered_at
    iv = trial.drugs.exclude(pk__in=[d.pk for d in dispensed_drugs(trial)]).order_by("order").first()
    oral = dispensed_drugs(trial)[0]
    doses = DoseAdministration.objects.bulk_create([
        DoseAdministration(subject=subject, drug=iv, cycle=c + 2, day=1,
                           administered_at=first + timedelta(days=21 * (c + 1)), dose=Decimal(10), unit=iv.unit,
                           recorded_by=coordinator) for c in range(n)])
    events = AdverseEvent.objects.bulk_create([
        AdverseEvent(subject=subject, term="Fatigue", grade=1, onset_date=first.date() + timedelta(days=i),
                     attribution="unrelated", recorded_by=coordinator) for i in range(n)])
    assessments = Assessment.objects.bulk_create([
        Assessment(subject=subject, kind="vitals", assessed_on=first.date() + timedelta(days=i), weight_kg=Decimal(70),
                   recorded_by=coordinator) for i in range(min(n, 12))])  # the page shows the latest 12
    dispensings = OralDispensing.objects.bulk_create([
        OralDispensing(subject=subject, drug=oral, cycle=c + 1, dispensed_on=first.date() + timedelta(days=21 * c),
                       first_dose_at=first + timedelta(days=21 * c), tablets_dispensed=14, tablet_strength=Decimal(12),
                       tablets_per_day=1, recorded_by=coordinator) for c in range(n)])
    today = timezone.localdate()
    visits = PlannedVisit.objects.bulk_create([
        PlannedVisit(subject=subject, code=f"X{i:03d}", kind="treatment", target=today - timedelta(days=40 + i),
                     window_start=today - timedelta(days=43 + i), window_end=today - timedelta(days=37 + i),
                     status="done", done_on=today - timedelta(days=40 + i)) for i in range(n)])
    for slug, record in (("dose", doses[0]), ("adverse-event", events[0]), ("assessment", assessments[0]),
                         ("visit", visits[0]), ("subject", subject)):
        sdv_services.verify(user=people["monitor"], kind=slug, record=record)
    del dispensings
    return subject


def _count(client, user, subject, name="subjects:detail"):
    from tests.auth import sign_in

    sign_in(client, user)
    url = reverse(name, args=[subject.pk])
    client.get(url)  # warm: the session, the content types, the caches of the process
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode(), [q["sql"] for q in queries.captured_queries]


def _badges_per_table(page: str) -> dict[str, int]:
    return {m.group(1): m.group(2).count('data-sdv="')
            for m in re.finditer(r'<table class="grid" id="([\w-]+)">(.*?)</table>', page, re.S)}


@pytest.mark.parametrize("role", ["coordinator", "monitor"])
def test_the_subject_page_reads_a_constant_number_of_statements(client, lvgn_site, role):
    trial, people, site = lvgn_site
    small = _records(trial, site, people, "SM", 2)
    large = _records(trial, site, people, "LG", 20)
    n_small, page_small, _ = _count(client, people[role], small)
    n_large, page_large, sql = _count(client, people[role], large)
    assert n_large == n_small, (f"{n_small} statements with 2 records of each kind, {n_large} with 20:\n"
                                + "\n".join(sql))
    # The page does list the records it reads, each with its badge: twenty of each (the latest 12 assessments).
    badges = _badges_per_table(page_large)
    assert _badges_per_table(page_small)["doses"] < 20
    assert badges["doses"] >= 20 and badges["adverse-events"] >= 20 and badges["visits"] >= 20, badges
    assert badges["assessments"] == 12, badges


def test_the_sdv_badges_say_which_records_are_verified(client, lvgn_site):
    trial, people, site = lvgn_site
    subject = _records(trial, site, people, "BD", 3)
    _, page, _ = _count(client, people["coordinator"], subject)
    states = re.findall(r'data-sdv="(\w+)"', page)
    # Verified: the subject, the first dose, AE, assessment and visit; every other record shown is not.
    assert states.count("verified") == 5
    assert states.count("not_verified") == len(states) - 5 > 0
    verified = subject.adverse_events.order_by("pk").first()
    AdverseEvent.objects.filter(pk=verified.pk).update(grade=3)  # outside the application: no signal saw it
    _, page, _ = _count(client, people["coordinator"], subject)
    states = re.findall(r'data-sdv="(\w+)"', page)
    assert (states.count("verified"), states.count("changed")) == (4, 1)
    assert "no longer stands: grade 1 → 3" in page


@pytest.mark.parametrize("role", ["coordinator", "monitor"])
def test_the_visit_calendar_reads_a_constant_number_of_statements(client, lvgn_site, role):
    trial, people, site = lvgn_site
    small = _records(trial, site, people, "SC", 2)
    large = _records(trial, site, people, "LC", 20)
    n_small, _, _ = _count(client, people[role], small, "visits:calendar")
    n_large, page_large, sql = _count(client, people[role], large, "visits:calendar")
    assert n_large == n_small, f"{n_small} statements with 2 visits done, {n_large} with 20:\n" + "\n".join(sql)
    assert page_large.count('data-code="X0') == 20
