"""Issue 13, point 1: the browser's remaining PK and escalation writes through /api/v1/, through the pages'
services and access checks: a shipment of collected samples (pk-shipments), the pharmacokineticist's λz points
(pk-lambda-z), the lab's results file, all or nothing, with its report or a dry run (pk-imports), and an
intermediate dose level (trials/<code>/intermediate-level/). Each: the rows and audit the page's service leaves,
a refused role changes nothing, bad input names the field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from pk import selectors
from pk.models import LabImport, LabResult, LambdaZChoice, Sample, Shipment
from tests.api.apicore_helpers import token_client
from tests.conftest import member
from tests.pk.test_pk_app import FIRST, collect_cycle_1, pk_file
from tests.visits.conftest import make_subject
from trials.models import DoseLevel, Role

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def subject(bat6005, site_a, people):
    return make_subject(bat6005, site_a, people["coordinator"], first_dose=FIRST, cycles=2)


@pytest.fixture
def pkist(bat6005):
    return member(bat6005, Role.PHARMACOKINETICIST, None, "pkist")


@pytest.fixture
def monitor(bat6005, site_a):
    return member(bat6005, Role.MONITOR, site_a, "monitor-a")


def _counts(*models) -> tuple[int, ...]:
    """Rows and audit events of each model."""
    return tuple(n for m in models for n in (m.objects.count(), m.pgh_event_model.objects.count()))


# --- shipments ------------------------------------------------------------------------------------------------


def _shipment(bat6005, site, boxed, **extra):
    return {"trial": bat6005.code, "site": site.code, "samples": [s.pk for s in boxed], "lab": "Central PK lab",
            "shipped_at": timezone.now().isoformat(), "temperature": "frozen-70", "tracking": "1Z999", **extra}


def test_site_staff_ship_collected_samples_through_the_api(subject, people, bat6005, site_a, site_b, monitor):
    collect_cycle_1(subject, people["coordinator"])
    collected = list(Sample.objects.filter(subject=subject, status="collected").order_by("pk"))
    before = _counts(Shipment, Sample)
    # Refused: the monitor (no writing role, 403); site B's coordinator naming site A, or site A's samples as
    # site B's (400 on the field); nothing written.
    assert token_client(monitor).post(f"{API}/pk-shipments/", _shipment(bat6005, site_a, collected),
                                      format="json").status_code == 403
    other = token_client(people["coordinator_b"])
    answer = other.post(f"{API}/pk-shipments/", _shipment(bat6005, site_a, collected), format="json")
    assert answer.status_code == 400 and "site" in answer.json(), answer.content
    answer = other.post(f"{API}/pk-shipments/", _shipment(bat6005, site_b, collected), format="json")
    assert answer.status_code == 400 and "samples" in answer.json(), answer.content
    client = token_client(people["coordinator"])
    for changes, field in (({"lab": ""}, "lab"), ({"temperature": "warm"}, "temperature"),
                           ({"samples": []}, "samples"), ({"samples": ["x"]}, "samples"),
                           ({"shipped_at": (timezone.now() + timedelta(hours=2)).isoformat()}, "shipped_at"),
                           ({"trial": "NOPE"}, "trial"), ({"lab": "Lab\x07"}, "lab")):
        answer = client.post(f"{API}/pk-shipments/", _shipment(bat6005, site_a, collected, **changes), format="json")
        assert answer.status_code == 400 and field in answer.json(), (changes, answer.content)
    assert _counts(Shipment, Sample) == before

    answer = client.post(f"{API}/pk-shipments/", _shipment(bat6005, site_a, collected), format="json")
    assert answer.status_code == 201, answer.content
    box = Shipment.objects.get()
    body = answer.json()
    assert (body["id"], body["lab"], body["site"], body["temperature"], body["shipped_by"]) == (
        box.pk, "Central PK lab", site_a.code, "frozen-70", "coordinator")
    assert sorted(s["id"] for s in body["samples"]) == [s.pk for s in collected]
    assert set(Sample.objects.filter(shipment=box).values_list("pk", flat=True)) == {s.pk for s in collected}
    assert Shipment.pgh_event_model.objects.filter(pgh_obj=box).count() == 1  # audited as the page's shipment
    # Each sample ships once.
    again = client.post(f"{API}/pk-shipments/", _shipment(bat6005, site_a, collected[:1]), format="json")
    assert again.status_code == 400 and "samples" in again.json()
    # Read by the site's staff (as the shipments page), not by another site's nor the monitor.
    assert token_client(people["investigator"]).get(f"{API}/pk-shipments/{box.pk}/").status_code == 200
    assert other.get(f"{API}/pk-shipments/{box.pk}/").status_code == 404
    assert other.get(f"{API}/pk-shipments/").json()["count"] == 0
    assert token_client(monitor).get(f"{API}/pk-shipments/").json()["count"] == 0
    assert client.get(f"{API}/pk-shipments/?trial={bat6005.code}").json()["count"] == 1


# --- results import -------------------------------------------------------------------------------------------


def test_the_results_file_is_imported_whole_or_refused_with_its_report(subject, people, pkist, bat6005):
    times = collect_cycle_1(subject, people["coordinator"])
    good = pk_file(subject, times)
    bad = good.replace(b"ug/mL", b"ng/mL", 1)
    client = token_client(pkist)
    url = f"{API}/pk-imports/"
    before = _counts(LabImport, LabResult)
    # Refused roles: the investigator and the sponsor import nothing (as on the page).
    for user in (people["investigator"], people["sponsor"]):
        answer = token_client(user).post(url, {"trial": bat6005.code, "file": SimpleUploadedFile("r.csv", good)})
        assert answer.status_code == 403, answer.content
    # A file with a problem: nothing imported, the report names its row and column.
    answer = client.post(url, {"trial": bat6005.code, "file": SimpleUploadedFile("bad.csv", bad)})
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert "nothing was imported" in body["file"][0]
    assert {"row": 1, "column": "unit"}.items() <= body["problems"][0].items()
    # Bad input, named: no file, both, a file that is not CSV, text that is not the lab's format.
    for data, field in (({}, "file"), ({"file": SimpleUploadedFile("r.pdf", good)}, "file"),
                        ({"file": SimpleUploadedFile("r.csv", good), "text": "x"}, "file"),
                        ({"text": "nothing,here\n1,2\n"}, "text")):
        answer = client.post(url, {"trial": bat6005.code, **data})
        assert answer.status_code == 400 and field in answer.json(), (data, answer.content)
    # A dry run: every row checked, nothing imported.
    answer = client.post(url, {"trial": bat6005.code, "file": SimpleUploadedFile("run1.csv", good), "dry_run": True})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["dry_run"], answer.json()["rows"], answer.json()["id"]) == (True, 7, None)
    assert _counts(LabImport, LabResult) == before

    answer = client.post(url, {"trial": bat6005.code, "file": SimpleUploadedFile("run1.csv", good)})
    assert answer.status_code == 201, answer.content
    batch = LabImport.objects.get()
    assert (answer.json()["id"], answer.json()["rows"], batch.file_name, batch.imported_by) == (
        batch.pk, 7, "run1.csv", pkist)
    assert LabResult.objects.filter(lab_import=batch).count() == 7
    assert LabResult.pgh_event_model.objects.count() == 7  # each result audited, as the page's import
    # The same results again (as JSON text): refused whole.
    answer = token_client(people["coordinator"]).post(url, {"trial": bat6005.code, "text": good.decode()},
                                                      format="json")
    assert answer.status_code == 400 and "problems" in answer.json() and "text" in answer.json(), answer.content
    assert LabResult.objects.count() == 7


# --- λz -------------------------------------------------------------------------------------------------------


def test_the_pharmacokineticist_chooses_the_lambda_z_points(subject, people, pkist, bat6005):
    times = collect_cycle_1(subject, people["coordinator"])
    from pk import services

    services.results_import(user=pkist, trial=bat6005, file_name="run1.csv", content=pk_file(subject, times),
                            samples=selectors.samples_in_scope(pkist, bat6005))
    url = f"{API}/pk-lambda-z/"
    body = {"subject": subject.pk, "cycle": 1, "times": [24, 72, 168], "reason": "336 h sample haemolysed"}
    before = _counts(LambdaZChoice)
    for user in (people["coordinator"], people["investigator"], people["sponsor"]):
        assert token_client(user).post(url, body, format="json").status_code == 403
    client = token_client(pkist)
    for changes, field in (({"times": [168, 336]}, "times"), ({"times": [5, 168, 336]}, "times"),
                           ({"reason": ""}, "reason"), ({"cycle": 2}, "cycle"), ({"subject": 999999}, "subject"),
                           ({"times": ["x"]}, "times")):
        answer = client.post(url, {**body, **changes}, format="json")
        assert answer.status_code == 400 and field in answer.json(), (changes, answer.content)
    assert _counts(LambdaZChoice) == before

    answer = client.post(url, body, format="json")
    assert answer.status_code == 200, answer.content
    choice = LambdaZChoice.objects.get()
    assert choice.times == [24.0, 72.0, 168.0] and choice.chosen_by == pkist
    assert answer.json()["lambda_z_times"] == [24.0, 72.0, 168.0] and answer.json()["lambda_z"] > 0
    row = selectors.nca_rows(pkist, bat6005)[0][0]
    assert row.chosen and row.result.lambda_z_times == (24.0, 72.0, 168.0)
    event = LambdaZChoice.pgh_event_model.objects.get()
    assert event.pgh_context["reason"] == "336 h sample haemolysed"  # the audit keeps the reason
    # Empty: back to the automatic fit, with its own reason.
    answer = client.post(url, {**body, "times": [], "reason": "Back to the automatic fit"}, format="json")
    assert answer.status_code == 200 and answer.json()["times"] == []
    assert answer.json()["lambda_z_times"] != [24.0, 72.0, 168.0]
    assert LambdaZChoice.pgh_event_model.objects.count() == 2


# --- intermediate dose level ------------------------------------------------------------------------------------


def test_an_investigator_adds_an_intermediate_level(people, bat6005):
    levels = list(bat6005.dose_levels.order_by("rank"))
    url = f"{API}/trials/{bat6005.code}/intermediate-level/"
    body = {"lower": levels[3].pk, "upper": levels[4].pk, "label": "450 mg", "doses": {"BAT6005": "450"},
            "reason": "Two DLTs at 600 mg: a level in between."}
    before = _counts(DoseLevel)
    for user in (people["coordinator"], people["sponsor"]):
        assert token_client(user).post(url, body, format="json").status_code == 403
    assert APIClient().post(url, body, format="json").status_code == 403
    client = token_client(people["investigator"])
    for changes, field in (({"upper": levels[5].pk}, "upper"), ({"lower": 999999}, "lower"),
                           ({"doses": {"BAT6005": "700"}}, "non_field_errors"), ({"doses": {}}, "doses"),
                           ({"doses": {"Other": "450"}}, "doses"), ({"label": "600 mg"}, "label"),
                           ({"reason": "short"}, "reason"), ({"doses": {"BAT6005": "-1"}}, "doses")):
        answer = client.post(url, {**body, **changes}, format="json")
        assert answer.status_code == 400 and field in answer.json(), (changes, answer.content)
    assert _counts(DoseLevel) == before
    assert token_client(people["investigator"]).post(f"{API}/trials/NOPE/intermediate-level/", body,
                                                     format="json").status_code == 404

    answer = client.post(url, body, format="json")
    assert answer.status_code == 201, answer.content
    level = DoseLevel.objects.get(trial=bat6005, label="450 mg")
    assert level.intermediate and level.rank == (levels[3].rank + levels[4].rank) / 2
    assert Decimal(level.doses["BAT6005"]) == Decimal(450)
    assert answer.json()["id"] == level.pk and answer.json()["intermediate"] is True
    event = DoseLevel.pgh_event_model.objects.filter(pgh_obj=level).get()
    assert event.pgh_context["reason"] == "Two DLTs at 600 mg: a level in between."
