"""The screening pages' writes through the API (issue 13, point 1): a new candidate with consent, its values, the
judgements and the decision, by the same roles and through the same services as screening/views.py. The API leaves
the rows and the audit events the pages leave; a refused role changes nothing; bad input is a 400 naming the field
(a screening value under ``values``, a criterion under ``judgements``); who the candidate is (initials, date of
birth) is never returned to a data manager."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from records.selectors import event_model_for
from screening.models import ScreeningRecord
from screening.services import criteria_for
from tests.api.apicore_helpers import token_client
from tests.conftest import load_trial, member
from tests.screening.helpers import NORMAL_VALUES, eligible_screening
from trials.models import Role

pytestmark = pytest.mark.django_db

API = "/api/v1/screening-records/"
BIRTH = date(1958, 6, 21)


@pytest.fixture
def world(site_a, site_b):
    """QL1706 (its RECIST-measurable lesion is the investigator's judgement) at sites A and B."""
    trial = load_trial("QL1706")
    people = {
        "coordinator": member(trial, Role.COORDINATOR, site_a, "coordinator"),
        "investigator": member(trial, Role.INVESTIGATOR, site_a, "investigator"),
        "coordinator_b": member(trial, Role.COORDINATOR, site_b, "coordinator-b"),
        "monitor": member(trial, Role.MONITOR, site_a, "monitor"),
        "data_manager": member(trial, Role.DATA_MANAGER, None, "data-manager"),
        "sponsor": member(trial, Role.SPONSOR, None, "sponsor"),
    }
    clients = {role: token_client(user) for role, user in people.items()}
    return {"trial": trial, "people": people, "clients": clients, "site_a": site_a, "site_b": site_b}


def in_screening(world):
    """A record with consent, values meeting every criterion and every judgement met, not yet decided."""
    return eligible_screening(world["trial"], world["site_a"], world["people"]["coordinator"], initials="QZV",
                              date_of_birth=BIRTH, confirm=False)


def start_body(world, **changes):
    return {"trial": world["trial"].code, "site": world["site_a"].code, "initials": "QZV",
            "date_of_birth": str(BIRTH), "sex": "F", "consent_form_version": "v2.1",
            "consent_date": str(timezone.localdate() - timedelta(days=3)), **changes}


def events(record) -> list[tuple[str, int | None]]:
    """The audit events of a screening record: (label, user of the context), oldest first."""
    rows = event_model_for(ScreeningRecord).objects.filter(pgh_obj_id=record.pk).order_by("pgh_id")
    return [(e.pgh_label, (e.pgh_context or {}).get("user")) for e in rows]


def judgement_codes(world, *, reserved: bool) -> list[str]:
    return sorted(c.code for c in criteria_for(world["trial"]) if c.kind == "judgement"
                  and (c.judged_by == "investigator") == reserved)


def snapshot() -> list:
    """Every screening record as stored, and its audit events."""
    return [(r.pk, r.status, r.assessed_on, r.values, r.judgements, r.failure_reasons, r.decided_by_id,
             events(r)) for r in ScreeningRecord.all_objects.order_by("pk")]


# --- the pages' effects ---------------------------------------------------------------------------------------


def test_a_record_started_through_the_api_is_the_new_screening_page(world, login):
    coordinator = world["people"]["coordinator"]
    body = start_body(world)
    page = login(coordinator)
    response = page.post(reverse("screening:new", args=[world["trial"].code]), {
        **{k: v for k, v in body.items() if k not in ("trial", "site")}, "site": world["site_a"].pk,
        "consent_obtained_by": coordinator.pk})
    assert response.status_code == 302, getattr(response, "context", None) and response.context["form"].errors
    by_page = ScreeningRecord.objects.get()

    response = world["clients"]["coordinator"].post(API, {**body, "initials": "qzw"}, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    by_api = ScreeningRecord.objects.get(pk=answer["id"])
    assert answer["initials"] == "QZW" and answer["date_of_birth"] == str(BIRTH)  # the coordinator's own site
    assert answer["consent_obtained_by"] == coordinator.username and answer["status"] == "in_progress"
    fields = ("trial_id", "site_id", "part_id", "date_of_birth", "sex", "consent_form_version", "consent_date",
              "consent_obtained_by_id", "created_by_id", "status", "values", "judgements", "confirmed_checks")
    assert [getattr(by_api, f) for f in fields] == [getattr(by_page, f) for f in fields]
    assert by_page.number.endswith("-S001") and by_api.number.endswith("-S002") and by_api.initials == "QZW"
    assert events(by_api) == events(by_page) == [("insert", coordinator.pk)]

    # The data manager reads the record by its number only; the consent can be obtained by other site staff.
    read = world["clients"]["data_manager"].get(f"{API}{by_api.pk}/").json()
    assert read["number"] == by_api.number and read["initials"] is None and read["date_of_birth"] is None
    investigator = world["people"]["investigator"]
    response = world["clients"]["coordinator"].post(
        API, start_body(world, consent_obtained_by=investigator.username), format="json")
    assert response.status_code == 201 and response.json()["consent_obtained_by"] == investigator.username


def test_values_judgements_and_a_decision_through_the_api_are_the_pages(world, login):
    """The same inputs, once on the record's page and once through the API: the same record, the same events."""
    coordinator = world["people"]["coordinator"]
    by_page, by_api = in_screening(world), in_screening(world)
    assessed_on = by_page.assessed_on + timedelta(days=1)
    values = {**NORMAL_VALUES, "ast": "31"}
    judgements = {code: True for code in judgement_codes(world, reserved=False)} | {"consent": False}

    page = login(coordinator)
    response = page.post(reverse("screening:values", args=[by_page.pk]), {**values, "assessed_on": assessed_on})
    assert response.status_code == 302
    response = page.post(reverse("screening:judge", args=[by_page.pk]),
                         {f"j_{code}": "yes" if met else "no" for code, met in judgements.items()})
    assert response.status_code == 302
    response = page.post(reverse("screening:decide", args=[by_page.pk]),
                         {"action": "fail", "reason": "Withdrew before dosing."})
    assert response.status_code == 302

    client = world["clients"]["coordinator"]
    response = client.post(f"{API}{by_api.pk}/values/", {"assessed_on": str(assessed_on), "values": values},
                           format="json")
    assert response.status_code == 200, response.content
    assert response.json()["assessed_on"] == str(assessed_on) and response.json()["values"]["ast"] == "31"
    response = client.post(f"{API}{by_api.pk}/judge/", {"judgements": judgements}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["judgements"]["consent"]["met"] is False
    response = client.post(f"{API}{by_api.pk}/decide/",
                           {"eligibility": "screen_failed", "reason": "Withdrew before dosing."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "screen_failed" and response.json()["decided_by"] == coordinator.username

    by_page.refresh_from_db()
    by_api.refresh_from_db()
    assert by_api.status == ScreeningRecord.Status.SCREEN_FAILED
    assert by_api.failure_reasons == by_page.failure_reasons and "Withdrew before dosing." in by_api.failure_reasons
    assert any("ICF" in reason for reason in by_api.failure_reasons)
    assert (by_api.assessed_on, by_api.values, by_api.decided_by) == (by_page.assessed_on, by_page.values,
                                                                     by_page.decided_by)
    strip = {code: (j["met"], j["by"]) for code, j in by_api.judgements.items()}
    assert strip == {code: (j["met"], j["by"]) for code, j in by_page.judgements.items()}
    assert events(by_api) == events(by_page)
    assert [label for label, _ in events(by_api)].count("update") >= 3
    assert all(user == coordinator.pk for _, user in events(by_api)[-3:])


def test_an_investigator_confirms_eligibility(world):
    record = in_screening(world)
    response = world["clients"]["investigator"].post(f"{API}{record.pk}/decide/", {"eligibility": "eligible"},
                                                     format="json")
    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert record.status == ScreeningRecord.Status.ELIGIBLE and record.decided_by == world["people"]["investigator"]
    # Decided: closed to further writes.
    response = world["clients"]["coordinator"].post(f"{API}{record.pk}/judge/", {"judgements": {"consent": False}},
                                                    format="json")
    assert response.status_code == 400 and list(response.json()) == ["non_field_errors"]
    record.refresh_from_db()
    assert record.judgements["consent"]["met"] is True


def test_the_investigators_judgement_is_the_investigators(world):
    record = in_screening(world)
    reserved = judgement_codes(world, reserved=True)
    assert reserved, "QL1706 reserves a judgement for the investigator"
    response = world["clients"]["coordinator"].post(f"{API}{record.pk}/judge/",
                                                    {"judgements": {reserved[0]: False}}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["judgements"] and list(response.json()["judgements"]) == [reserved[0]]
    assert "investigator" in response.json()["judgements"][reserved[0]][0]
    record.refresh_from_db()
    assert record.judgements[reserved[0]]["met"] is True
    # Unchanged, it is not a change; the investigator changes it.
    response = world["clients"]["coordinator"].post(f"{API}{record.pk}/judge/",
                                                    {"judgements": {reserved[0]: True}}, format="json")
    assert response.status_code == 200
    response = world["clients"]["investigator"].post(f"{API}{record.pk}/judge/",
                                                     {"judgements": {reserved[0]: None}}, format="json")
    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert reserved[0] not in record.judgements and "consent" in record.judgements  # the others kept


# --- who may write -----------------------------------------------------------------------------------------------


def _writes(world, record):
    return {
        "create": (API, start_body(world)),
        "values": (f"{API}{record.pk}/values/", {"assessed_on": str(record.assessed_on), "values": NORMAL_VALUES}),
        "judge": (f"{API}{record.pk}/judge/", {"judgements": {"consent": False}}),
        "decide": (f"{API}{record.pk}/decide/", {"eligibility": "eligible"}),
    }


@pytest.mark.parametrize("role, statuses", [
    ("monitor", {"create": 403, "values": 403, "judge": 403, "decide": 403}),
    ("data_manager", {"create": 403, "values": 403, "judge": 403, "decide": 403}),
    ("sponsor", {"create": 403, "values": 403, "judge": 403, "decide": 403}),
    ("investigator", {"create": 403}),  # the new-screening page is the coordinator's
    ("coordinator_b", {"create": 400, "values": 404, "judge": 404, "decide": 404}),  # site A's is out of reach
])
def test_a_refused_role_changes_nothing(world, role, statuses):
    record = in_screening(world)
    before = snapshot()
    for write, (url, body) in _writes(world, record).items():
        if write not in statuses:
            continue
        response = world["clients"][role].post(url, body, format="json")
        assert response.status_code == statuses[write], (write, response.content)
        if statuses[write] == 400:
            assert list(response.json()) == ["site"], response.json()
        assert snapshot() == before, write


def test_the_monitor_of_the_site_still_reads_the_record(world):
    record = in_screening(world)
    read = world["clients"]["monitor"].get(f"{API}{record.pk}/").json()
    assert read["initials"] == "QZV" and read["status"] == "in_progress"


# --- bad input --------------------------------------------------------------------------------------------------


def test_bad_consent_input_names_the_field_and_saves_nothing(world):
    client, today = world["clients"]["coordinator"], timezone.localdate()
    cases = [
        (start_body(world, initials="A1"), ["initials"]),
        (start_body(world, consent_date=str(today + timedelta(days=1))), ["consent_date"]),
        (start_body(world, date_of_birth=str(today + timedelta(days=2))), ["date_of_birth", "consent_date"]),
        (start_body(world, date_of_birth="1850-01-01"), ["date_of_birth"]),
        (start_body(world, consent_form_version="v1\x07"), ["consent_form_version"]),
        (start_body(world, consent_form_version="   "), ["consent_form_version"]),
        (start_body(world, sex="X"), ["sex"]),
        (start_body(world, trial="NOPE"), ["trial"]),
        (start_body(world, site=world["site_b"].code), ["site"]),
        (start_body(world, consent_obtained_by="nobody"), ["consent_obtained_by"]),
        (start_body(world, consent_obtained_by="data-manager"), ["consent_obtained_by"]),  # not site staff
        ({k: v for k, v in start_body(world).items() if k != "consent_date"}, ["consent_date"]),
    ]
    for body, fields in cases:
        response = client.post(API, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert list(response.json()) == fields, (body, response.json())
    assert not ScreeningRecord.all_objects.exists()


def test_bad_values_judgements_and_decisions_name_the_field_and_save_nothing(world):
    record = in_screening(world)
    client, url = world["clients"]["coordinator"], f"{API}{record.pk}/"
    day = str(record.assessed_on)
    before = snapshot()
    cases = [
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "anc": "x1"}}, {"values": ["anc"]}),
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "anc": "-1"}}, {"values": ["anc"]}),
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "ecog": "7"}}, {"values": ["ecog"]}),
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "bogus": 1}}, {"values": ["bogus"]}),
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "creatinine_unit": "kg"}},
         {"values": ["creatinine_unit"]}),
        ("values", {"assessed_on": day, "values": {**NORMAL_VALUES, "weight": "900"}}, {"values": ["weight"]}),
        ("values", {"assessed_on": str(record.consent_date - timedelta(days=1)), "values": NORMAL_VALUES},
         {"assessed_on": None}),
        ("values", {"values": NORMAL_VALUES}, {"assessed_on": None}),
        ("values", {"assessed_on": day, "values": ["anc"]}, {"values": None}),
        ("judge", {"judgements": {"bogus": True}}, {"judgements": ["bogus"]}),
        ("judge", {"judgements": {"consent": "perhaps"}}, {"judgements": ["consent"]}),
        ("judge", {"judgements": {}}, {"judgements": None}),
        ("decide", {"eligibility": "maybe"}, {"eligibility": None}),
        ("decide", {"eligibility": "screen_failed"}, {"reason": None}),  # every criterion is met
        ("decide", {"eligibility": "screen_failed", "reason": "bell\x07"}, {"reason": None}),
    ]
    for action, body, expected in cases:
        response = client.post(f"{url}{action}/", body, format="json")
        assert response.status_code == 400, (action, body, response.content)
        got = response.json()
        assert list(got) == list(expected), (action, body, got)
        for field, names in expected.items():
            if names is not None:
                assert sorted(got[field]) == names, (action, body, got)
    assert snapshot() == before
    # Not every criterion met: confirming eligibility is refused with the criteria open.
    client.post(f"{url}judge/", {"judgements": {"consent": None}}, format="json")
    response = client.post(f"{url}decide/", {"eligibility": "eligible"}, format="json")
    assert response.status_code == 400 and "ICF" in response.json()["non_field_errors"][0]
    record.refresh_from_db()
    assert record.status == ScreeningRecord.Status.IN_PROGRESS and record.decided_by is None


def test_a_void_record_is_not_changed(world):
    record = in_screening(world)
    ScreeningRecord.all_objects.filter(pk=record.pk).update(voided_at=timezone.now(), void_reason="Duplicate.")
    response = world["clients"]["coordinator"].post(f"{API}{record.pk}/decide/", {"eligibility": "eligible"},
                                                    format="json")
    assert response.status_code == 400 and "void" in response.json()["non_field_errors"][0]
    assert ScreeningRecord.all_objects.get(pk=record.pk).status == ScreeningRecord.Status.IN_PROGRESS
