"""Issue 13, point 1: the API writes of the follow-up page (``follow-ups/`` POST), the baseline page
(``tumour-assessments/baseline/``) and the investigator's review (``tumour-assessments/<id>/review/``): the same
service as the page, so the same rows and audit; the page's refusals; errors that name the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from pghistory.models import Events
from rest_framework.test import APIClient

from response.models import Lesion, LesionMeasurement, TumourAssessment
from response.services import assessment_record, baseline_record
from tests.conftest import member
from tests.response.test_response_app import non_target, target
from tests.visits.conftest import make_subject
from trials.models import Role
from visits.models import FollowUp, PlannedVisit

pytestmark = pytest.mark.django_db

API = "/api/v1"
TODAY = timezone.localdate()
FIRST = TODAY - timedelta(days=60)


def api(user) -> APIClient:
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def post(user, url, data):
    return api(user).post(url, data, format="json")


@pytest.fixture
def readers(bat6005, site_a):
    return {"monitor": member(bat6005, Role.MONITOR, site_a, "monitor-a"),
            "data_manager": member(bat6005, Role.DATA_MANAGER, None, "dm")}


@pytest.fixture
def two(bat6005, site_a, people):
    """Two subjects of site A dosed alike (cycles 1 and 2, 21 days apart): one written through the page, one
    through the API."""
    return [make_subject(bat6005, site_a, people["coordinator"], first_dose=FIRST, cycles=2) for _ in range(2)]


def audit(obj) -> list[tuple[str, int | None]]:
    return [(e.pgh_label, (e.pgh_context or {}).get("user"))
            for e in Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")]


def plan(subject) -> list[tuple]:
    return list(PlannedVisit.objects.filter(subject=subject).order_by("code")
                .values_list("code", "kind", "target", "window_start", "window_end", "status"))


# --- follow-up -------------------------------------------------------------------------------------------------


def test_follow_up_through_the_api_is_the_page_s(login, people, two):
    by_page, by_api = two
    last = FIRST + timedelta(days=21)
    alive = TODAY - timedelta(days=2)
    page = login(people["coordinator"]).post(reverse("visits:follow_up", args=[by_page.pk]),
                                             {"last_dose": last.isoformat(), "last_known_alive": alive.isoformat()})
    assert page.status_code == 302
    answer = post(people["coordinator"], f"{API}/follow-ups/",
                  {"subject": by_api.pk, "last_dose": last.isoformat(), "last_known_alive": alive.isoformat()})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["subject"], body["last_dose"], body["last_known_alive"], body["updated_by"]) == (
        by_api.pk, last.isoformat(), alive.isoformat(), people["coordinator"].username)
    fields = ("last_dose", "new_therapy", "clinical_progression", "last_known_alive", "follow_up_end",
              "follow_up_end_reason", "death_cause", "updated_by_id")
    assert (FollowUp.objects.filter(subject=by_api).values(*fields).get()
            == FollowUp.objects.filter(subject=by_page).values(*fields).get())
    # The visit plan regenerated as by the page: EOT 21 days after the last dose, no more dosing visits.
    assert [row[1:] for row in plan(by_api)] == [row[1:] for row in plan(by_page)]
    assert PlannedVisit.objects.get(subject=by_api, code="EOT").target == last + timedelta(days=21)
    assert audit(FollowUp.objects.get(subject=by_api)) == audit(FollowUp.objects.get(subject=by_page)) == [
        ("insert", people["coordinator"].pk)]

    # Recorded once: a second recording is refused on `subject` (a correction changes it), nothing changes.
    again = post(people["coordinator"], f"{API}/follow-ups/", {"subject": by_api.pk, "last_known_alive": str(TODAY)})
    assert again.status_code == 400 and list(again.json()) == ["subject"]
    assert "correct" in again.json()["subject"][0]
    assert FollowUp.objects.get(subject=by_api).last_known_alive == alive


def test_follow_up_refusals_change_nothing(people, readers, two):
    subject = two[0]
    before = plan(subject)
    url = f"{API}/follow-ups/"
    data = {"subject": subject.pk, "last_dose": str(FIRST + timedelta(days=21))}
    # The page's refusals: the investigator and the monitor (403), a data manager never writes (403), another
    # site's coordinator does not see the subject (400 on `subject`, as any write naming one it cannot read).
    for who in (people["investigator"], readers["monitor"], readers["data_manager"], people["sponsor"]):
        assert post(who, url, data).status_code == 403, who
    refused = post(people["coordinator_b"], url, data)
    assert refused.status_code == 400 and list(refused.json()) == ["subject"]
    assert APIClient().post(url, data, format="json").status_code == 403  # no credentials
    assert not FollowUp.objects.filter(subject=subject).exists() and plan(subject) == before


@pytest.mark.parametrize(("data", "field"), [
    ({"last_dose": str(TODAY + timedelta(days=1))}, "last_dose"),           # the service: not in the future
    ({"last_dose": str(FIRST - timedelta(days=1))}, "last_dose"),           # before the latest day-1 dose
    ({"follow_up_end": str(TODAY)}, "follow_up_end_reason"),               # an end needs its reason
    ({"follow_up_end_reason": "death"}, "follow_up_end"),                  # and a reason its date
    ({"follow_up_end": str(TODAY), "follow_up_end_reason": "lost", "death_cause": "Sepsis"}, "death_cause"),
    ({"follow_up_end": str(TODAY), "follow_up_end_reason": "eaten"}, "follow_up_end_reason"),  # the serializer
    ({"new_therapy": "soon"}, "new_therapy"),
    ({"death_cause": "bad\x00text"}, "death_cause"),
])
def test_follow_up_bad_input_names_the_field(people, two, data, field):
    subject = two[0]
    answer = post(people["coordinator"], f"{API}/follow-ups/", {"subject": subject.pk, **data})
    assert answer.status_code == 400 and list(answer.json()) == [field], answer.json()
    assert not FollowUp.objects.filter(subject=subject).exists()


def test_follow_up_unknown_subject_names_the_field(people):
    answer = post(people["coordinator"], f"{API}/follow-ups/", {"subject": 987654})
    assert answer.status_code == 400 and list(answer.json()) == ["subject"]


# --- baseline ----------------------------------------------------------------------------------------------------


def lesion_rows(subject) -> list[tuple]:
    return sorted(Lesion.objects.filter(subject=subject).values_list("key", "kind", "organ", "location", "node",
                                                                     "recorded_by_id"))


def measurement_rows(subject) -> list[tuple]:
    return sorted(LesionMeasurement.objects.filter(assessment__subject=subject).values_list(
        "lesion__key", "status", "diameter_mm", "axis"))


def test_baseline_through_the_api_is_the_page_s(login, people, two):
    by_page, by_api = two
    day = FIRST - timedelta(days=5)
    page = login(people["coordinator"]).post(reverse("response:baseline", args=[by_page.pk]), {
        "assessed_on": day.isoformat(), "method": "CT",
        "l1_kind": "target", "l1_organ": "lung", "l1_location": "right upper lobe", "l1_diameter": "32",
        "l1_axis": "long",
        "l2_kind": "target", "l2_organ": "lymph node", "l2_node": "on", "l2_diameter": "18", "l2_axis": "short",
        "l3_kind": "non_target", "l3_organ": "bone"})
    assert page.status_code == 302, page.content.decode()[:500]
    answer = post(people["investigator"], f"{API}/tumour-assessments/baseline/", {
        "subject": by_api.pk, "assessed_on": day.isoformat(), "method": "CT", "lesions": [
            {"kind": "target", "organ": "lung", "location": "right upper lobe", "diameter_mm": "32", "axis": "long"},
            {"kind": "target", "organ": "lymph node", "node": True, "diameter_mm": "18", "axis": "short"},
            {"kind": "non_target", "organ": "bone"}]})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["baseline"], body["assessed_on"], body["sum_mm"]) == (True, day.isoformat(), "50.0")
    assert [m["lesion"]["key"] for m in body["measurements"]] == ["T1", "T2", "NT1"]
    # The same rows as the page's (the recorder aside: the investigator here, the coordinator there).
    assert [row[:-1] for row in lesion_rows(by_api)] == [row[:-1] for row in lesion_rows(by_page)]
    assert {row[-1] for row in lesion_rows(by_api)} == {people["investigator"].pk}
    assert measurement_rows(by_api) == measurement_rows(by_page)
    api_scan = TumourAssessment.objects.get(subject=by_api)
    page_scan = TumourAssessment.objects.get(subject=by_page)
    assert [label for label, _ in audit(api_scan)] == [label for label, _ in audit(page_scan)]
    assert audit(api_scan)[0] == ("insert", people["investigator"].pk)

    # Once only: a second baseline is refused on the date, nothing is added.
    again = post(people["coordinator"], f"{API}/tumour-assessments/baseline/", {
        "subject": by_api.pk, "assessed_on": day.isoformat(), "lesions": [{"kind": "non_target", "organ": "liver"}]})
    assert again.status_code == 400 and list(again.json()) == ["assessed_on"]
    assert Lesion.objects.filter(subject=by_api).count() == 3


def test_baseline_refusals_change_nothing(people, readers, two):
    subject = two[0]
    data = {"subject": subject.pk, "assessed_on": str(FIRST - timedelta(days=5)),
            "lesions": [{"kind": "target", "organ": "lung", "diameter_mm": "30", "axis": "long"}]}
    url = f"{API}/tumour-assessments/baseline/"
    for who in (readers["monitor"], readers["data_manager"], people["sponsor"]):
        assert post(who, url, data).status_code == 403, who
    refused = post(people["coordinator_b"], url, data)
    assert refused.status_code == 400 and list(refused.json()) == ["subject"]
    assert not TumourAssessment.all_objects.filter(subject=subject).exists()
    assert not Lesion.all_objects.filter(subject=subject).exists()


@pytest.mark.parametrize(("lesions", "field"), [
    ([], "lesions"),                                                                  # the service: one at least
    ([{"kind": "target", "organ": "lung", "axis": "long"}], "lesions"),               # a target's diameter
    ([{"kind": "tumour", "organ": "lung"}], "lesions"),                               # no such kind
    ([{"kind": "non_target", "organ": ""}], "lesions"),
    ([{"kind": "non_target", "organ": "bone"}] * 11, "lesions"),                      # the page's ten rows
])
def test_baseline_bad_lesions_name_the_field(people, two, lesions, field):
    subject = two[0]
    answer = post(people["coordinator"], f"{API}/tumour-assessments/baseline/",
                  {"subject": subject.pk, "assessed_on": str(FIRST - timedelta(days=5)), "lesions": lesions})
    assert answer.status_code == 400 and list(answer.json()) == [field], answer.json()
    assert not TumourAssessment.objects.filter(subject=subject).exists()


def test_baseline_service_errors_name_the_lesion_s_place(people, two):
    """The service's ``lesions.T3.organ`` (a third target in one organ, RECIST 1.1 §4.2) comes back on the row
    that became T3: ``lesions.3.organ`` (the non-target before it counts in the list's order)."""
    subject = two[0]
    answer = post(people["coordinator"], f"{API}/tumour-assessments/baseline/", {
        "subject": subject.pk, "assessed_on": str(FIRST - timedelta(days=5)), "lesions": [
            {"kind": "target", "organ": "liver", "diameter_mm": "30", "axis": "long"},
            {"kind": "target", "organ": "liver", "diameter_mm": "25", "axis": "long"},
            {"kind": "non_target", "organ": "bone"},
            {"kind": "target", "organ": "liver", "diameter_mm": "20", "axis": "long"}]})
    assert answer.status_code == 400, answer.content
    assert list(answer.json()) == ["lesions.3.organ"], answer.json()
    late = post(people["coordinator"], f"{API}/tumour-assessments/baseline/", {
        "subject": subject.pk, "assessed_on": str(FIRST + timedelta(days=1)),
        "lesions": [{"kind": "non_target", "organ": "bone"}]})
    assert late.status_code == 400 and list(late.json()) == ["assessed_on"]  # after the first dose
    assert not TumourAssessment.objects.filter(subject=subject).exists()


# --- review ------------------------------------------------------------------------------------------------------


@pytest.fixture
def scanned(two, people):
    """Each subject: a baseline (T1 lung 40, NT1 bone) and a scan 6 weeks on with T1 at 20 (PR)."""
    scans = []
    for subject in two:
        baseline_record(subject=subject, user=people["coordinator"], assessed_on=FIRST - timedelta(days=5),
                        method="CT", lesions=[target("lung", 40), non_target("bone")])
        scans.append(assessment_record(subject=subject, user=people["coordinator"],
                                       assessed_on=FIRST + timedelta(days=42), method="CT", new_lesions="none",
                                       values={"T1": ("measured", 20), "NT1": ("present", None)}))
    return scans


def test_review_through_the_api_is_the_page_s(login, people, scanned):
    by_page, by_api = scanned
    reason = "Lesion split: judged stable on the whole."
    page = login(people["investigator"]).post(reverse("response:review", args=[by_page.pk]), {
        f"review-{by_page.pk}-response": "SD", f"review-{by_page.pk}-override_reason": reason})
    assert page.status_code == 302
    answer = post(people["investigator"], f"{API}/tumour-assessments/{by_api.pk}/review/",
                  {"response": "SD", "override_reason": reason})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["computed_response"], body["response"], body["overall"], body["reviewed"],
            body["override_reason"]) == ("PR", "SD", "SD", True, reason)
    fields = ("computed_response", "response", "override_reason", "reviewed_by_id")
    assert (TumourAssessment.objects.filter(pk=by_api.pk).values(*fields).get()
            == TumourAssessment.objects.filter(pk=by_page.pk).values(*fields).get())
    assert [label for label, _ in audit(by_api)] == [label for label, _ in audit(by_page)]
    assert audit(by_api)[-1] == (audit(by_api)[-1][0], people["investigator"].pk)
    # Confirming the computed response needs no reason, and clears the one given before.
    confirmed = post(people["investigator"], f"{API}/tumour-assessments/{by_api.pk}/review/", {"response": "PR"})
    assert confirmed.status_code == 200 and (confirmed.json()["overall"], confirmed.json()["override_reason"]) == (
        "PR", "")


def test_review_refusals_change_nothing(people, readers, scanned, bat6005, site_b):
    scan = scanned[0]
    url = f"{API}/tumour-assessments/{scan.pk}/review/"
    data = {"response": "PR"}
    # Coordinators do not review (the page's 403); nor the monitor, the data manager, the sponsor.
    for who in (people["coordinator"], people["coordinator_b"], readers["monitor"], readers["data_manager"],
                people["sponsor"]):
        assert post(who, url, data).status_code == 403, who
    # An investigator of another site does not see the scan.
    other = member(bat6005, Role.INVESTIGATOR, site_b, "investigator-b")
    assert post(other, url, data).status_code == 404
    scan.refresh_from_db()
    assert (scan.response, scan.reviewed_by_id) == ("", None)


def test_review_bad_input_names_the_field(people, scanned):
    scan = scanned[0]
    url = f"{API}/tumour-assessments/{scan.pk}/review/"
    no_reason = post(people["investigator"], url, {"response": "SD"})
    assert no_reason.status_code == 400 and list(no_reason.json()) == ["override_reason"]
    unknown = post(people["investigator"], url, {"response": "GREAT"})
    assert unknown.status_code == 400 and list(unknown.json()) == ["response"]
    baseline = TumourAssessment.objects.get(subject=scan.subject, baseline=True)
    nothing = post(people["investigator"], f"{API}/tumour-assessments/{baseline.pk}/review/", {"response": "PR"})
    assert nothing.status_code == 400 and list(nothing.json()) == ["response"]
    scan.refresh_from_db()
    assert scan.response == "" and scan.reviewed_by_id is None
