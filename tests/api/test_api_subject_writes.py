"""The subject-level writes of the API (issue 13): end of treatment / off study (subjects/{id}/status/), the
timing-gate override (gate-override/), the continuation exception (continuation/) and the oral drug dispensing
(dispensings/, return/). Each goes through the page's service: the API leaves the same rows and audit events as
the page; a role the page refuses changes nothing; bad input is a 400 naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from subjects.models import ContinuationException, DoseAdministration, GateOverride, OralDispensing, Subject
from tests.api import test_api_matrix as matrix
from tests.api.test_api_matrix import _enrol_undosed, _fingerprint
from tests.auth import sign_in
from visits.models import FollowUp

pytestmark = pytest.mark.django_db

API = "/api/v1/"
world = matrix.world  # the matrix's world (fixture)


def _delta(write) -> dict[str, int]:
    """The rows ``write()`` adds, per table (audit event tables included), rolled back afterwards; with its
    response."""
    with transaction.atomic():
        before = _fingerprint()
        response = write()
        after = _fingerprint()
        transaction.set_rollback(True)
    return {t: b - a for (t, a), (_, b) in zip(before, after, strict=True) if a != b}, response


def _page(world, role: str) -> Client:
    client = Client()
    sign_in(client, world["people"][role])
    return client


def _api(world, role: str):
    return world["clients"][role]


def _unchanged(world, write) -> None:
    """``write()`` is refused and writes nothing."""
    changes, response = _delta(write)
    assert response.status_code in (400, 403, 404), response.content
    assert not changes, changes
    return response


# --- end of treatment and off study --------------------------------------------------------------------------


def test_end_of_treatment_through_the_api_writes_what_the_page_writes(world):
    subject, day = world["subject"], world["dose_day"]
    page = _page(world, "coordinator")
    page_changes, page_response = _delta(lambda: page.post(
        reverse("subjects:status", args=[subject.pk]),
        {"action": "end_treatment", "eot-last_dose": str(day), "eot-reason": "progression", "eot-detail": ""}))
    assert page_response.status_code in (302, 204), page_response.content[:300]
    api_changes, response = _delta(lambda: _api(world, "coordinator").post(
        f"{API}subjects/{subject.pk}/status/",
        {"action": "end_treatment", "last_dose": str(day), "reason": "progression"}, format="json"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == Subject.Status.OFF_TREATMENT
    assert response.json()["end_of_treatment_reason"] == "progression"
    assert api_changes and api_changes == page_changes, (api_changes, page_changes)
    assert any(table.endswith("event") for table in api_changes), api_changes  # audited


def test_end_of_treatment_is_kept(world):
    subject, day = world["subject"], world["dose_day"]
    response = _api(world, "investigator").post(
        f"{API}subjects/{subject.pk}/status/",
        {"action": "end_treatment", "last_dose": str(day), "reason": "other", "detail": "Moved abroad"},
        format="json")
    assert response.status_code == 200, response.content
    subject.refresh_from_db()
    assert (subject.status, subject.end_of_treatment_reason, subject.end_of_treatment_detail) == (
        Subject.Status.OFF_TREATMENT, "other", "Moved abroad")
    assert FollowUp.objects.get(subject=subject).last_dose == day
    # Once recorded, it changes only by a correction: a second one is refused, saying why.
    again = _api(world, "coordinator").post(
        f"{API}subjects/{subject.pk}/status/",
        {"action": "end_treatment", "last_dose": str(day), "reason": "toxicity"}, format="json")
    assert again.status_code == 400 and "correct the record" in again.json()["non_field_errors"][0]


def test_off_study_through_the_api(world):
    subject = world["subjects"][2]
    today = timezone.localdate()
    response = _api(world, "coordinator").post(
        f"{API}subjects/{subject.pk}/status/",
        {"action": "off_study", "off_study_on": str(today), "reason": "withdrawn"}, format="json")
    assert response.status_code == 200, response.content
    subject.refresh_from_db()
    assert subject.status == Subject.Status.WITHDRAWN and subject.off_study_on == today
    assert subject.end_of_treatment_reason == Subject.EndOfTreatmentReason.OFF_STUDY
    assert FollowUp.objects.get(subject=subject).follow_up_end == today


@pytest.mark.parametrize(("body", "field", "text"), [
    ({"action": "end_treatment", "reason": "progression"}, "last_dose", "required"),
    ({"action": "off_study", "reason": "death"}, "off_study_on", "required"),
    ({"action": "end_treatment", "last_dose": "TOMORROW", "reason": "progression"}, "last_dose", "future"),
    ({"action": "end_treatment", "last_dose": "BEFORE", "reason": "progression"}, "last_dose", "before"),
    ({"action": "end_treatment", "last_dose": "DOSE_DAY", "reason": "off_study"}, "reason", "from the list"),
    ({"action": "off_study", "off_study_on": "TODAY", "reason": "bored"}, "reason", "from the list"),
    ({"action": "off_study", "off_study_on": "TODAY", "reason": "other"}, "detail", "details"),
    ({"action": "retire", "reason": "other"}, "action", "valid choice"),
    ({"action": "off_study", "off_study_on": "TODAY", "reason": "other", "detail": "x" * 301}, "detail", "300"),
    ({"action": "off_study", "off_study_on": "TODAY", "reason": "other", "detail": "bad\x07"}, "detail", ""),
])
def test_status_bad_input_names_the_field(world, body, field, text):
    days = {"TOMORROW": timezone.localdate() + timedelta(days=1), "TODAY": timezone.localdate(),
            "BEFORE": world["dose_day"] - timedelta(days=1), "DOSE_DAY": world["dose_day"]}
    body = {k: str(days[v]) if v in days else v for k, v in body.items()}
    subject = world["subject"]
    response = _unchanged(world, lambda: _api(world, "coordinator").post(
        f"{API}subjects/{subject.pk}/status/", body, format="json"))
    assert response.status_code == 400 and field in response.json(), response.json()
    assert text in " ".join(response.json()[field]), response.json()


@pytest.mark.parametrize(("role", "status"), [("monitor", 403), ("data_manager", 403), ("sponsor", 403),
                                              ("coordinator_b", 404), ("outsider", 404)])
def test_status_refused_as_on_the_page(world, role, status):
    subject = world["subject"]
    response = _unchanged(world, lambda: _api(world, role).post(
        f"{API}subjects/{subject.pk}/status/",
        {"action": "end_treatment", "last_dose": str(world["dose_day"]), "reason": "progression"}, format="json"))
    assert response.status_code == status


# --- gate override and continuation ---------------------------------------------------------------------------


def test_gate_override_through_the_api_writes_what_the_page_writes(world):
    _enrol_undosed(world)
    subject = world["undosed"]
    reason = "The sponsor agreed to an earlier start for this subject."
    page = _page(world, "investigator")
    page_changes, page_response = _delta(lambda: page.post(
        reverse("subjects:gate_override", args=[subject.pk]), {"gate": "stagger", "reason": reason}))
    assert page_response.status_code in (302, 204), page_response.content[:300]
    api_changes, response = _delta(lambda: _api(world, "investigator").post(
        f"{API}subjects/{subject.pk}/gate-override/", {"gate": "stagger", "reason": reason}, format="json"))
    assert response.status_code == 201, response.content
    assert api_changes and api_changes == page_changes, (api_changes, page_changes)
    response = _api(world, "investigator").post(
        f"{API}subjects/{subject.pk}/gate-override/", {"gate": "stagger", "reason": reason}, format="json")
    override = GateOverride.objects.get(subject=subject)
    assert response.json() == {"id": override.pk, "subject": subject.pk, "gate": "stagger", "reason": reason,
                               "overridden_by": world["people"]["investigator"].username,
                               "created_at": response.json()["created_at"]}
    assert [e.pgh_label for e in Events.objects.tracks(override)] == ["insert"]
    again = _api(world, "investigator").post(
        f"{API}subjects/{subject.pk}/gate-override/", {"gate": "stagger", "reason": reason}, format="json")
    assert again.status_code == 400 and "already overridden" in again.json()["gate"][0]


def test_gate_override_refusals(world):
    _enrol_undosed(world)
    undosed, dosed = world["undosed"], world["subject"]
    reason = "The sponsor agreed to an earlier start."
    url = f"{API}subjects/{undosed.pk}/gate-override/"
    for role in ("coordinator", "monitor", "data_manager", "sponsor", "coordinator_b"):
        response = _unchanged(world, lambda role=role: _api(world, role).post(
            url, {"gate": "stagger", "reason": reason}, format="json"))
        assert response.status_code == 403, (role, response.content)
    assert _unchanged(world, lambda: _api(world, "outsider").post(
        url, {"gate": "stagger", "reason": reason}, format="json")).status_code == 404
    short = _unchanged(world, lambda: _api(world, "investigator").post(
        url, {"gate": "stagger", "reason": "Too soon"}, format="json"))
    assert "reason" in short.json(), short.json()
    wrong = _unchanged(world, lambda: _api(world, "investigator").post(
        url, {"gate": "queue", "reason": reason}, format="json"))
    assert "gate" in wrong.json(), wrong.json()
    after_dose = _unchanged(world, lambda: _api(world, "investigator").post(
        f"{API}subjects/{dosed.pk}/gate-override/", {"gate": "stagger", "reason": reason}, format="json"))
    assert "first dose" in after_dose.json()["non_field_errors"][0]


def test_continuation_through_the_api(world):
    subject, trial = world["subject"], world["trial"]
    url = f"{API}subjects/{subject.pk}/continuation/"
    reason = "Ongoing partial response; the sponsor agreed on 3 March."
    type(trial).objects.filter(pk=trial.pk).update(max_cycles=0)
    no_max = _unchanged(world, lambda: _api(world, "investigator").post(url, {"reason": reason}, format="json"))
    assert "sets no maximum" in no_max.json()["non_field_errors"][0]
    type(trial).objects.filter(pk=trial.pk).update(max_cycles=6)
    page = _page(world, "investigator")
    page_changes, page_response = _delta(lambda: page.post(
        reverse("subjects:continuation", args=[subject.pk]), {"reason": reason}))
    assert page_response.status_code in (302, 204), page_response.content[:300]
    api_changes, response = _delta(lambda: _api(world, "investigator").post(url, {"reason": reason}, format="json"))
    assert response.status_code == 201, response.content
    assert api_changes and api_changes == page_changes, (api_changes, page_changes)
    short = _unchanged(world, lambda: _api(world, "investigator").post(url, {"reason": "Agreed"}, format="json"))
    assert "reason" in short.json()
    for role in ("coordinator", "monitor", "data_manager", "sponsor"):
        assert _unchanged(world, lambda role=role: _api(world, role).post(
            url, {"reason": reason}, format="json")).status_code == 403
    response = _api(world, "investigator").post(url, {"reason": reason}, format="json")
    exception = ContinuationException.objects.get(subject=subject)
    assert response.json()["granted_by"] == world["people"]["investigator"].username
    assert exception.reason == reason
    again = _unchanged(world, lambda: _api(world, "investigator").post(url, {"reason": reason}, format="json"))
    assert "already recorded" in again.json()["non_field_errors"][0]


# --- dispensing ---------------------------------------------------------------------------------------------------


def _dispensing_body(world, **changes) -> dict:
    subject = world["subjects"][2]
    body = {"subject": subject.pk, "drug": world["trial"].drugs.get(name="Anlotinib").pk, "cycle": 1,
            "dispensed_on": str(world["dose_day"]), "tablets_dispensed": 14,
            "first_dose_at": subject.doses.first().administered_at.isoformat()}
    return {**body, **changes}


def test_dispensing_through_the_api_writes_what_the_page_writes(world):
    subject = world["subjects"][2]
    anlotinib = world["trial"].drugs.get(name="Anlotinib")
    first = timezone.localtime(subject.doses.first().administered_at)
    page = _page(world, "coordinator")
    page_changes, page_response = _delta(lambda: page.post(
        reverse("subjects:dispensing_new", args=[subject.pk, anlotinib.pk]),
        {"cycle": 1, "dispensed_on": str(world["dose_day"]), "first_dose_at": first.strftime("%Y-%m-%dT%H:%M"),
         "tablets_dispensed": 14}))
    assert page_response.status_code in (302, 204), page_response.content[:300]
    api_changes, response = _delta(lambda: _api(world, "coordinator").post(
        f"{API}dispensings/", _dispensing_body(world), format="json"))
    assert response.status_code == 201, response.content
    assert api_changes and api_changes == page_changes, (api_changes, page_changes)
    response = _api(world, "coordinator").post(f"{API}dispensings/", _dispensing_body(world), format="json")
    record = OralDispensing.objects.get(subject=subject, drug=anlotinib)
    assert response.json()["id"] == record.pk and response.json()["returned_on"] is None
    # The day-1 tablet is a derived dose at once.
    assert list(DoseAdministration.objects.filter(dispensing=record).values_list("day", flat=True)) == [1]
    listed = _api(world, "monitor").get(f"{API}dispensings/?subject={subject.pk}").json()
    assert [r["id"] for r in listed["results"]] == [record.pk]
    again = _unchanged(world, lambda: _api(world, "coordinator").post(
        f"{API}dispensings/", _dispensing_body(world), format="json"))
    assert "already recorded" in again.json()["cycle"][0]


@pytest.mark.parametrize(("changes", "field"), [
    ({"drug": "LVGN6051"}, "drug"),
    ({"drug": 999999}, "drug"),
    ({"missed_days": [15]}, "missed_days"),
    ({"returned_on": "TODAY"}, "tablets_returned"),
    ({"tablets_returned": 0}, "returned_on"),
    ({"tablets_dispensed": 0}, "tablets_dispensed"),
    ({"first_dose_at": "TOMORROW"}, "first_dose_at"),
    ({"cycle": "one"}, "cycle"),
    ({"subject": 999999}, "subject"),
    ({"discrepancy_reason": "bad\x1b[31m"}, "discrepancy_reason"),
])
def test_dispensing_bad_input_names_the_field(world, changes, field):
    values = {"LVGN6051": world["trial"].drugs.get(name="LVGN6051").pk, "TODAY": str(timezone.localdate()),
              "TOMORROW": (timezone.now() + timedelta(days=1)).isoformat()}
    changes = {k: values.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    response = _unchanged(world, lambda: _api(world, "coordinator").post(
        f"{API}dispensings/", _dispensing_body(world, **changes), format="json"))
    assert response.status_code == 400 and field in response.json(), response.json()


def test_dispensing_refused_as_on_the_page(world):
    for role in ("investigator", "monitor", "data_manager", "sponsor"):
        response = _unchanged(world, lambda role=role: _api(world, role).post(
            f"{API}dispensings/", _dispensing_body(world), format="json"))
        assert response.status_code == 403, (role, response.content)
    response = _unchanged(world, lambda: _api(world, "coordinator_b").post(
        f"{API}dispensings/", _dispensing_body(world), format="json"))
    assert "subject" in response.json()


def test_dispensing_return_through_the_api_writes_what_the_page_writes(world):
    record = world["objects"]["dispensing"]
    url = f"{API}dispensings/{record.pk}/return/"
    today = str(timezone.localdate())
    page = _page(world, "coordinator")
    page_changes, page_response = _delta(lambda: page.post(
        reverse("subjects:dispensing_return", args=[record.pk]),
        {"returned_on": today, "tablets_returned": 2, "missed_days": ["3", "9"]}))
    assert page_response.status_code in (302, 204), page_response.content[:300]
    api_changes, response = _delta(lambda: _api(world, "coordinator").post(
        url, {"returned_on": today, "tablets_returned": 2, "missed_days": [3, 9]}, format="json"))
    assert response.status_code == 200, response.content
    assert api_changes and api_changes == page_changes, (api_changes, page_changes)
    for role, status in (("investigator", 403), ("monitor", 403), ("data_manager", 403), ("sponsor", 403),
                         ("coordinator_b", 404), ("outsider", 404)):
        refused = _unchanged(world, lambda role=role: _api(world, role).post(
            url, {"returned_on": today, "tablets_returned": 2}, format="json"))
        assert refused.status_code == status, (role, refused.content)
    missing = _unchanged(world, lambda: _api(world, "coordinator").post(url, {"returned_on": today}, format="json"))
    assert "tablets_returned" in missing.json()
    wrong_day = _unchanged(world, lambda: _api(world, "coordinator").post(
        url, {"returned_on": today, "tablets_returned": 0, "missed_days": [20]}, format="json"))
    assert "missed_days" in wrong_day.json()
    response = _api(world, "coordinator").post(
        url, {"returned_on": today, "tablets_returned": 2, "missed_days": [3, 9]}, format="json")
    assert response.json()["missed_days"] == [3, 9] and response.json()["tablets_returned"] == 2
    days = sorted(DoseAdministration.objects.filter(dispensing=record).values_list("day", flat=True))
    assert days == [d for d in range(1, 15) if d not in (3, 9)]
    again = _unchanged(world, lambda: _api(world, "coordinator").post(
        url, {"returned_on": today, "tablets_returned": 2}, format="json"))
    assert "already recorded" in again.json()["non_field_errors"][0]
