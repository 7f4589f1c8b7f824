"""SDV through the API (monitoring.api): the same services and access as the pages, with a knox token."""

from __future__ import annotations

import pytest

from monitoring.models import SourceVerification
from records import services as record_services
from records.registry import kind_for
from tests.api.apicore_helpers import token_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/verifications/"
AE = kind_for("adverse-event")


def test_the_monitor_verifies_a_field_and_the_form_then_a_correction_clears_the_field(sdv):
    monitor = token_client(sdv["people"]["monitor"])
    event = sdv["event"]
    made = monitor.post(URL, {"kind": "adverse-event", "object_id": event.pk, "field": "grade"}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["values"] == {"grade": "2"} and body["standing"] is True
    assert (body["subject"], body["site"], body["verified_by"]) == (event.subject.code, "SITE-A", "m-lvgn")
    form = monitor.post(URL, {"kind": "adverse-event", "object_id": event.pk}, format="json")
    assert form.status_code == 201 and form.json()["field"] == ""

    status = monitor.get(URL + "status/", {"kind": "adverse-event", "object_id": event.pk}).json()
    assert status["form"]["state"] == "verified"
    rows = {row["name"]: row for row in status["fields"]}
    assert rows["grade"]["mark"]["state"] == "verified" and rows["grade"]["value"] == "2"
    assert rows["term"]["mark"]["via_form"] is True

    record_services.record_correct(kind=AE, record=event, user=sdv["people"]["coordinator"],
                                   changes={"grade": 3}, reason="Source says grade 3")
    status = monitor.get(URL + "status/", {"kind": "adverse-event", "object_id": event.pk}).json()
    rows = {row["name"]: row for row in status["fields"]}
    assert rows["grade"]["mark"] | {"at": None} == {"state": "cleared", "by": sdv["people"]["monitor"].get_full_name()
                                                   or "m-lvgn", "at": None, "reason": "grade 2 → 3",
                                                   "via_form": False,
                                                   "verification": body["id"]}
    assert status["form"]["state"] == "cleared"
    standing = monitor.get(URL, {"standing": "true"}).json()
    assert standing["count"] == 0
    assert monitor.get(URL, {"standing": "false", "kind": "adverse-event"}).json()["count"] == 2


@pytest.mark.parametrize("role", ["coordinator", "investigator", "data_manager", "monitor_b", "sponsor"])
def test_only_the_site_monitor_verifies(sdv, role):
    response = token_client(sdv["people"][role]).post(
        URL, {"kind": "adverse-event", "object_id": sdv["event"].pk, "field": "grade"}, format="json")
    # Staff of the site and the data manager read the record (403: not their role); the other site's monitor
    # and the sponsor do not read it (404).
    assert response.status_code == (403 if role in ("coordinator", "investigator", "data_manager") else 404)
    assert not SourceVerification.objects.exists()


def test_bad_input_names_the_field_and_saves_nothing(sdv):
    monitor = token_client(sdv["people"]["monitor"])
    event = sdv["event"]
    cases = [({"kind": "nonsense", "object_id": event.pk}, "kind"),
             ({"kind": "adverse-event", "object_id": "x"}, "object_id"),
             ({"kind": "adverse-event", "object_id": event.pk, "field": "initials"}, "field")]
    for payload, field in cases:
        response = monitor.post(URL, payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert field in response.json(), (payload, response.json())
    assert monitor.get(URL + "status/", {"kind": "adverse-event"}).json().keys() == {"object_id"}
    assert not SourceVerification.objects.exists()


def test_withdraw_needs_a_reason_and_is_the_monitors(sdv):
    monitor = token_client(sdv["people"]["monitor"])
    made = monitor.post(URL, {"kind": "adverse-event", "object_id": sdv["event"].pk}, format="json").json()
    short = monitor.post(f"{URL}{made['id']}/withdraw/", {"reason": "no"}, format="json")
    assert short.status_code == 400 and "reason" in short.json()
    other = token_client(sdv["people"]["coordinator"]).post(f"{URL}{made['id']}/withdraw/",
                                                            {"reason": "Wrong page verified"}, format="json")
    assert other.status_code == 403
    assert SourceVerification.objects.get(pk=made["id"]).cleared_at is None
    done = monitor.post(f"{URL}{made['id']}/withdraw/", {"reason": "Wrong page verified"}, format="json")
    assert done.status_code == 200 and done.json()["standing"] is False
    assert "Wrong page verified" in done.json()["cleared_reason"]


def test_the_data_manager_reads_verifications_by_code_without_identifying_values(sdv):
    subject = sdv["subject"]
    monitor = token_client(sdv["people"]["monitor"])
    assert monitor.post(URL, {"kind": "subject", "object_id": subject.pk}, format="json").status_code == 201
    data_manager = token_client(sdv["people"]["data_manager"])
    listed = data_manager.get(URL, {"kind": "subject"}).json()["results"]
    assert len(listed) == 1
    assert listed[0]["values"]["initials"] == "(identifying data)" and listed[0]["values"]["sex"] == subject.sex
    status = data_manager.get(URL + "status/", {"kind": "subject", "object_id": subject.pk}).json()
    rows = {row["name"]: row for row in status["fields"]}
    assert rows["initials"]["value"] == "(identifying data)" and rows["date_of_birth"]["value"] == "(identifying data)"
    assert subject.initials not in str(listed) + str(status)
    # The monitor of the site sees them.
    assert monitor.get(URL, {"kind": "subject"}).json()["results"][0]["values"]["initials"] == subject.initials
    # The other site's coordinator and the sponsor list nothing.
    for role in ("coordinator_b", "sponsor"):
        assert token_client(sdv["people"][role]).get(URL).json()["count"] == 0
