"""The API's core resources (issue 13.1): the same access and the same services as the pages. Writes made
through the API have the browser's effects (a dose re-plans the visits; every change is audited with the
user); bad input is a 400 naming the field with nothing saved; monitors, data managers and sponsors never
write; data managers read by code; token authentication acts as the token's user."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken

from screening.models import ScreeningRecord
from subjects.models import AdverseEvent, Assessment, DoseAdministration, Subject
from tests.api.apicore_helpers import BIRTH, INITIALS, api_people, screened, token_client
from tests.screening.helpers import predose
from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(site_a, site_b):
    trial, people = api_people(site_a, site_b)
    screening = screened(trial, site_a, people["coordinator"])
    clients = {role: token_client(user) for role, user in people.items()}
    return {"trial": trial, "people": people, "screening": screening, "clients": clients, "site_a": site_a}


def enrol(world):
    response = world["clients"]["coordinator"].post(
        "/api/v1/subjects/", {"trial": world["trial"].code, "screening": world["screening"].pk}, format="json")
    assert response.status_code == 201, response.content
    return Subject.objects.get(pk=response.json()["id"])


def event_user(model, pk) -> int | None:
    """The user in the audit context of the latest event of a row."""
    from records.selectors import event_model_for

    event = event_model_for(model).objects.filter(pgh_obj_id=pk).order_by("-pgh_id").first()
    return (event.pgh_context or {}).get("user")


def test_enrolment_through_the_api_is_the_enrolment_page(world):
    subject = enrol(world)
    coordinator = world["people"]["coordinator"]
    screening = ScreeningRecord.objects.get(pk=world["screening"].pk)
    assert screening.subject_id == subject.pk and screening.status == ScreeningRecord.Status.ENROLLED
    assert subject.enrolled_by == coordinator and subject.initials == INITIALS and subject.cohort is not None
    assert event_user(Subject, subject.pk) == coordinator.pk


@pytest.mark.parametrize("role, status", [("investigator", 403), ("monitor", 403), ("data_manager", 403),
                                          ("sponsor", 403), ("coordinator_b", 400)])
def test_only_a_coordinator_of_the_site_enrols(world, role, status):
    response = world["clients"][role].post(
        "/api/v1/subjects/", {"trial": world["trial"].code, "screening": world["screening"].pk}, format="json")
    assert response.status_code == status, response.content
    if status == 400:  # a screening record of another site is not one this coordinator can enrol from
        assert list(response.json()) == ["screening"]
    assert not Subject.objects.exists()


def _dose_body(subject, at, **extra):
    drug = subject.trial.drugs.get(name="LVGN6051")
    return {"subject": subject.pk, "drug": drug.pk, "cycle": 1, "day": 1, "administered_at": at.isoformat(), **extra}


def test_a_dose_recorded_by_api_replans_the_visits_and_is_audited_with_the_user(world):
    subject = enrol(world)
    coordinator = world["people"]["coordinator"]
    at = timezone.now() - timedelta(hours=2)
    predose(subject, at, coordinator)
    assert not PlannedVisit.objects.filter(subject=subject, kind="dosing").exists()
    response = world["clients"]["coordinator"].post("/api/v1/doses/", _dose_body(subject, at), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    dose = DoseAdministration.objects.get(pk=body["id"])
    assert body["recorded_by"] == coordinator.username and Decimal(body["dose"]) == dose.dose
    assert dose.recorded_by == coordinator
    assert event_user(DoseAdministration, dose.pk) == coordinator.pk
    subject.refresh_from_db()
    assert subject.status == Subject.Status.ON_TREATMENT
    assert PlannedVisit.objects.filter(subject=subject).exclude(kind="screening").exists()


def test_bad_input_names_the_field_and_saves_nothing(world):
    subject = enrol(world)
    client = world["clients"]["coordinator"]
    future = timezone.now() + timedelta(days=2)
    cases = [
        (_dose_body(subject, future), "administered_at"),  # the service's rule
        (_dose_body(subject, timezone.now(), cycle=0), "cycle"),  # the type's bound
        (_dose_body(subject, timezone.now(), drug=999999), "drug"),
        ({**_dose_body(subject, timezone.now()), "subject": 999999}, "subject"),
        ({k: v for k, v in _dose_body(subject, timezone.now()).items() if k != "administered_at"}, "administered_at"),
        (_dose_body(subject, timezone.now(), deviation_reason="bell\x07"), "deviation_reason"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/doses/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), (field, response.json())
    assert not DoseAdministration.all_objects.exists()
    response = client.post("/api/v1/assessments/", {"subject": subject.pk, "kind": "vitals",
                                                    "assessed_on": str(timezone.localdate())}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["weight_kg"]
    assert not Assessment.all_objects.exists()


@pytest.mark.parametrize("role", ["monitor", "data_manager", "sponsor"])
def test_monitors_data_managers_and_sponsors_never_write(world, role):
    subject = enrol(world)
    client = world["clients"][role]
    today = str(timezone.localdate())
    writes = [
        ("/api/v1/doses/", _dose_body(subject, timezone.now())),
        ("/api/v1/assessments/", {"subject": subject.pk, "kind": "labs", "assessed_on": today}),
        ("/api/v1/adverse-events/", {"subject": subject.pk, "term": "Fatigue", "grade": 1, "onset_date": today,
                                     "attribution": "unrelated"}),
        (f"/api/v1/records/subject/{subject.pk}/correct/", {"reason": "A typing error", "changes": {"sex": "M"}}),
    ]
    for url, body in writes:
        assert client.post(url, body, format="json").status_code == 403, url
    assert not Assessment.all_objects.exists() and not AdverseEvent.all_objects.exists()


def test_read_scope_and_identity(world):
    subject = enrol(world)
    clients = world["clients"]
    for role in ("coordinator", "investigator", "monitor"):
        row = clients[role].get(f"/api/v1/subjects/{subject.pk}/").json()
        assert row["initials"] == INITIALS and row["date_of_birth"] == str(BIRTH), role
    dm = clients["data_manager"].get("/api/v1/subjects/").json()
    assert [r["code"] for r in dm["results"]] == [subject.code]
    assert dm["results"][0]["initials"] is None and dm["results"][0]["date_of_birth"] is None
    dm_screening = clients["data_manager"].get(f"/api/v1/screening-records/{world['screening'].pk}/").json()
    assert dm_screening["initials"] is None and dm_screening["date_of_birth"] is None
    for role in ("sponsor", "coordinator_b"):
        assert clients[role].get("/api/v1/subjects/").json()["results"] == [], role
        assert clients[role].get(f"/api/v1/subjects/{subject.pk}/").status_code == 404, role
        assert clients[role].get(f"/api/v1/screening-records/{world['screening'].pk}/").status_code == 404, role
    # The sponsor reads the trial, its levels, parts and cohorts.
    trial = clients["sponsor"].get(f"/api/v1/trials/{world['trial'].code}/").json()
    assert trial["dose_levels"] and trial["cohorts"] and trial["drugs"]


def test_filters_and_errors_in_filters(world):
    subject = enrol(world)
    client = world["clients"]["coordinator"]
    assert client.get("/api/v1/subjects/", {"status": "enrolled", "site": "SITE-A"}).json()["count"] == 1
    assert client.get("/api/v1/subjects/", {"status": "withdrawn"}).json()["count"] == 0
    assert client.get("/api/v1/subjects/", {"cohort": subject.cohort_id}).json()["count"] == 1
    response = client.get("/api/v1/subjects/", {"status": "no-such-status"})
    assert response.status_code == 400 and list(response.json()) == ["status"]


def test_adverse_event_and_dlt_adjudication_by_the_investigator_only(world):
    subject = enrol(world)
    coordinator = world["people"]["coordinator"]
    at = timezone.now() - timedelta(days=3)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=at - timedelta(days=1))
    subject.refresh_from_db()
    predose(subject, at, coordinator)
    assert world["clients"]["coordinator"].post("/api/v1/doses/", _dose_body(subject, at),
                                                format="json").status_code == 201
    response = world["clients"]["coordinator"].post("/api/v1/adverse-events/", {
        "subject": subject.pk, "term": "hypertension", "grade": 3, "onset_date": str(timezone.localdate()),
        "attribution": "probable"}, format="json")
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["term"] == "Hypertension" and event["dlt_status"] == "proposed"
    url = f"/api/v1/adverse-events/{event['id']}/adjudicate/"
    assert world["clients"]["coordinator"].post(url, {"decision": "confirm"}, format="json").status_code == 403
    assert world["clients"]["monitor"].post(url, {"decision": "confirm"}, format="json").status_code == 403
    rejected = world["clients"]["investigator"].post(url, {"decision": "reject"}, format="json")
    assert rejected.status_code == 400 and list(rejected.json()) == ["comment"]
    confirmed = world["clients"]["investigator"].post(url, {"decision": "confirm"}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["is_dlt"] is True
    assert AdverseEvent.objects.get(pk=event["id"]).adjudicated_by == world["people"]["investigator"]


def test_a_visit_recorded_through_the_api(world):
    subject = enrol(world)
    coordinator = world["people"]["coordinator"]
    at = timezone.now() - timedelta(days=1)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=at - timedelta(days=1))
    subject.refresh_from_db()
    predose(subject, at, coordinator)
    world["clients"]["coordinator"].post("/api/v1/doses/", _dose_body(subject, at), format="json")
    visit = PlannedVisit.objects.filter(subject=subject, status="planned").order_by("target").first()
    url = f"/api/v1/visits/{visit.pk}/record/"
    assert world["clients"]["monitor"].post(url, {"action": "missed", "missed_reason": "Ill"},
                                            format="json").status_code == 403
    short = world["clients"]["coordinator"].post(url, {"action": "missed", "missed_reason": "x"}, format="json")
    assert short.status_code == 400 and list(short.json()) == ["missed_reason"]
    done = world["clients"]["investigator"].post(url, {"action": "missed", "missed_reason": "Too ill to travel"},
                                                 format="json")
    assert done.status_code == 200 and done.json()["status"] == "missed"
    visit.refresh_from_db()
    assert visit.recorded_by == world["people"]["investigator"]
    assert event_user(PlannedVisit, visit.pk) == world["people"]["investigator"].pk


def test_correction_and_void_through_the_records_mechanism(world):
    subject = enrol(world)
    coordinator = world["people"]["coordinator"]
    response = world["clients"]["coordinator"].post("/api/v1/assessments/", {
        "subject": subject.pk, "kind": "labs", "assessed_on": str(timezone.localdate()), "notes": "first"},
        format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    base = f"/api/v1/records/assessment/{pk}"
    client = world["clients"]["coordinator"]
    no_reason = client.post(f"{base}/correct/", {"reason": "", "changes": {"notes": "second"}}, format="json")
    assert no_reason.status_code == 400 and list(no_reason.json()) == ["reason"]
    unknown = client.post(f"{base}/correct/", {"reason": "Typing error", "changes": {"recorded_by": 1}},
                          format="json")
    assert unknown.status_code == 400 and list(unknown.json()) == ["changes"]
    bad = client.post(f"{base}/correct/", {"reason": "Typing error", "changes": {"ecog": 9}}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["ecog"]
    assert Assessment.objects.get(pk=pk).notes == "first"
    corrected = client.post(f"{base}/correct/", {"reason": "Typing error", "changes": {"notes": "second"}},
                            format="json")
    assert corrected.status_code == 200, corrected.content
    assert Assessment.objects.get(pk=pk).notes == "second"
    entry = corrected.json()["history"][-1]
    assert entry["action"] == "corrected" and entry["reason"] == "Typing error"
    assert entry["changes"] == [{"field": "notes", "label": "notes", "old": "first", "new": "second"}]
    assert event_user(Assessment, pk) == coordinator.pk
    # The monitor and the data manager read the history; the data manager never a subject's identity.
    assert world["clients"]["monitor"].get(f"{base}/history/").status_code == 200
    dm = world["clients"]["data_manager"].get(f"/api/v1/records/subject/{subject.pk}/history/").json()
    assert dm["values"]["initials"] is None and INITIALS not in str(dm) and str(BIRTH) not in str(dm)
    assert world["clients"]["sponsor"].get(f"{base}/history/").status_code == 404
    voided = client.post(f"{base}/void/", {"reason": "Entered for the wrong subject"}, format="json")
    assert voided.status_code == 200 and voided.json()["voided"] is True
    assert not Assessment.objects.filter(pk=pk).exists() and Assessment.all_objects.get(pk=pk).voided
    listed = client.get("/api/v1/assessments/", {"voided": "true"}).json()["results"]
    assert [r["id"] for r in listed] == [pk] and listed[0]["void_reason"] == "Entered for the wrong subject"
    assert client.post(f"/api/v1/records/visit/{pk}/void/", {"reason": "whatever"}, format="json").status_code == 404


def test_tokens_act_as_their_user_and_refused_when_revoked_or_expired(world, capsys):
    coordinator = world["people"]["coordinator"]
    call_command("api_token", "create", "--user", coordinator.username, "--days", "5")
    token = capsys.readouterr().out.strip()
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/trials/")
    assert response.status_code == 200 and [t["code"] for t in response.json()["results"]] == [world["trial"].code]
    call_command("api_token", "list", "--user", coordinator.username)
    assert token[:15] in capsys.readouterr().out
    call_command("api_token", "revoke", "--user", coordinator.username, "--key", token[:15])
    assert client.get("/api/v1/trials/").status_code == 403
    instance, expired = AuthToken.objects.create(user=coordinator, expiry=timedelta(days=1))
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {expired}")
    assert client.get("/api/v1/trials/").status_code == 403
    call_command("api_token", "revoke", "--user", coordinator.username, "--all")
    assert not AuthToken.objects.filter(user=coordinator).exists()
    from rest_framework.test import APIClient as Anonymous

    assert Anonymous().get("/api/v1/trials/").status_code == 403
