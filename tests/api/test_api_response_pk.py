"""Issue 13, point 1 (REST API): tumour assessments, subject responses and the efficacy summary; PK samples,
results and NCA summaries through /api/v1/, with the real services and the pages' scopes."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from pk import selectors as pk_selectors
from pk import services as pk_services
from pk.models import Sample
from response import services as response_services
from response.models import TumourAssessment
from tests.conftest import member
from tests.pk.test_pk_app import FIRST, collect_cycle_1, dose_at, pk_file
from tests.response.test_response_app import DOSE, non_target, scan, target
from tests.visits.conftest import make_subject
from trials.models import Role

pytestmark = pytest.mark.django_db

API = "/api/v1"


def api(user) -> Client:
    _, token = AuthToken.objects.create(user)
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


@pytest.fixture
def readers(bat6005, site_a, site_b):
    return {
        "monitor": member(bat6005, Role.MONITOR, site_a, "monitor-a"),
        "data_manager": member(bat6005, Role.DATA_MANAGER, None, "dm"),
        "pkist": member(bat6005, Role.PHARMACOKINETICIST, None, "pkist"),
    }


# --------------------------------------------------------------------------------------------------
# Tumour response
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def subject(bat6005, site_a, people):
    return make_subject(bat6005, site_a, people["coordinator"], first_dose=DOSE, cycles=6)


@pytest.fixture
def baseline(subject, people):
    """T1 lung 40, T2 liver 30, T3 node 20 (short axis): sum 90 mm; NT1 bone (as tests/response)."""
    return response_services.baseline_record(
        subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=7), method="CT",
        lesions=[target("lung", 40), target("liver", 30), target("lymph node", 20, node=True), non_target("bone")])


def time_point(subject, day, t1, t2, t3, nt="present", **extra):
    return {"subject": subject.pk, "assessed_on": (DOSE + timedelta(days=day)).isoformat(), "method": "CT",
            "new_lesions": "none", "measurements": [
                {"lesion": "T1", "status": "measured", "diameter_mm": t1},
                {"lesion": "T2", "status": "measured", "diameter_mm": t2},
                {"lesion": "T3", "status": "measured", "diameter_mm": t3},
                {"lesion": "NT1", "status": nt}], **extra}


def test_site_staff_record_a_time_point_and_read_its_response(subject, baseline, people):
    client = api(people["coordinator"])
    url = f"{API}/tumour-assessments/"
    answer = post(client, url, time_point(subject, 42, "20", "15", "9"))
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["subject"], body["sum_mm"], body["change_from_baseline_pct"], body["computed_response"]) == (
        subject.code, "44.0", "-51.1", "PR")
    assert [m["lesion"]["key"] for m in body["measurements"]] == ["T1", "T2", "T3", "NT1"]

    # Refused on the field, nothing saved: a lesion not at baseline, a date before the baseline, a bad status.
    count = TumourAssessment.objects.count()
    unknown = time_point(subject, 84, "18", "14", "8")
    unknown["measurements"].append({"lesion": "T9", "status": "measured", "diameter_mm": "5"})
    refused = post(client, url, unknown)
    assert refused.status_code == 400 and "measurements.T9" in refused.json(), refused.json()
    early = post(client, url, time_point(subject, -30, "18", "14", "8"))
    assert early.status_code == 400 and list(early.json()) == ["assessed_on"]
    bad = post(client, url, time_point(subject, 84, "18", "14", "8", nt="gone"))
    assert bad.status_code == 400 and "measurements" in bad.json()
    no_diameter = time_point(subject, 84, None, "14", "8")
    refused = post(client, url, no_diameter)
    assert refused.status_code == 400 and list(refused.json()) == ["measurements.T1"]
    assert TumourAssessment.objects.count() == count

    # A second scan confirms the PR: the subject's best overall response.
    assert post(client, url, time_point(subject, 84, "18", "14", "8")).status_code == 201
    summary = client.get(f"{API}/subject-responses/{subject.pk}/").json()
    assert summary["best_overall_response"]["bor"] == "PR"
    assert [t["overall"] for t in summary["time_points"]] == ["", "PR", "PR"]
    assert summary["unreviewed"] == 2 and [lesion["key"] for lesion in summary["lesions"]] == ["T1", "T2", "T3", "NT1"]
    listed = client.get(f"{url}?subject={subject.pk}&baseline=false&response=PR").json()
    assert listed["count"] == 2


def test_who_reads_and_who_records_scans(subject, baseline, people, readers):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    url = f"{API}/tumour-assessments/"
    for who in ("monitor", "data_manager"):
        client = api(readers[who])
        listed = client.get(f"{url}?subject={subject.pk}").json()
        assert listed["count"] == 2, who
        # The records name the subject by code only.
        assert {r["subject"] for r in listed["results"]} == {subject.code}
        assert "initials" not in json.dumps(listed) and "1960-01-01" not in json.dumps(listed)
        refused = post(client, url, time_point(subject, 84, "18", "14", "8"))
        assert refused.status_code == 403, who
    assert api(people["coordinator_b"]).get(url).json()["count"] == 0
    some = TumourAssessment.objects.filter(subject=subject).first()
    assert api(people["coordinator_b"]).get(f"{url}{some.pk}/").status_code == 404
    assert api(people["sponsor"]).get(url).json()["count"] == 0
    assert api(people["sponsor"]).get(f"{API}/subject-responses/{subject.pk}/").status_code == 404
    assert TumourAssessment.objects.filter(subject=subject).count() == 2


def test_efficacy_summary_for_site_staff_and_de_identified_for_the_sponsor(subject, baseline, people, readers):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    scan(subject, people["coordinator"], 84, 18, 14, 8)
    url = f"{API}/efficacy/{subject.trial.code}/"
    staff = api(people["investigator"]).get(url).json()
    assert staff["deidentified"] is False and [s["label"] for s in staff["subjects"]] == [subject.code]
    [row] = staff["table"]
    assert (row["group"], row["n"], row["orr"]["k"], row["orr"]["n"], row["counts"]["PR"]) == (
        "All treated", 1, 1, 1, 1)

    sponsor = api(people["sponsor"]).get(f"{url}?by=dose_level")
    text = sponsor.content.decode()
    assert sponsor.status_code == 200 and sponsor.json()["deidentified"] is True
    assert subject.code not in text and not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert [s["label"] for s in sponsor.json()["subjects"]] == ["Subject 1"]
    bad = api(people["sponsor"]).get(f"{url}?by=nonsense")
    assert bad.status_code == 400 and list(bad.json()) == ["by"]
    assert api(readers["data_manager"]).get(url).status_code == 403
    assert api(people["coordinator"]).get(f"{API}/efficacy/NO-SUCH-TRIAL/").status_code == 404


# --------------------------------------------------------------------------------------------------
# PK
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def pk_subject(bat6005, site_a, people):
    return make_subject(bat6005, site_a, people["coordinator"], first_dose=FIRST, cycles=2)


def test_site_staff_collect_a_sample_through_the_api(pk_subject, people, readers):
    sample = Sample.objects.get(subject=pk_subject, code="C1-PK-4h")
    url = f"{API}/pk-samples/{sample.pk}/collect/"
    future = post(api(people["coordinator"]), url, {"collected_at": (timezone.now() + timedelta(hours=2)).isoformat()})
    assert future.status_code == 400 and list(future.json()) == ["collected_at"]
    missing = post(api(people["coordinator"]), url, {})
    assert missing.status_code == 400 and list(missing.json()) == ["collected_at"]
    for who in (readers["pkist"], readers["monitor"], people["sponsor"]):
        assert post(api(who), url, {"collected_at": dose_at(pk_subject).isoformat()}).status_code in (403, 404)
    sample.refresh_from_db()
    assert sample.status == Sample.Status.PLANNED

    at = dose_at(pk_subject) + timedelta(hours=4, minutes=30)
    done = post(api(people["coordinator"]), url, {"collected_at": at.isoformat(), "comment": "left arm"})
    assert done.status_code == 200, done.content
    assert (done.json()["status"], done.json()["comment"]) == ("collected", "left arm")
    sample.refresh_from_db()
    assert (sample.status, sample.collected_at, sample.recorded_by) == ("collected", at, people["coordinator"])
    again = post(api(people["coordinator"]), url, {"collected_at": (at + timedelta(minutes=5)).isoformat()})
    assert again.status_code == 400 and list(again.json()) == ["collected_at"]

    other = Sample.objects.get(subject=pk_subject, code="C1-PK-24h")
    short = post(api(people["coordinator"]), f"{API}/pk-samples/{other.pk}/missed/", {"missed_reason": ""})
    assert short.status_code == 400 and list(short.json()) == ["missed_reason"]


def test_samples_results_and_summaries_by_role(pk_subject, people, readers, bat6005):
    times = collect_cycle_1(pk_subject, people["coordinator"])
    pkist = readers["pkist"]
    pk_services.results_import(user=pkist, trial=bat6005, file_name="run1.csv", content=pk_file(pk_subject, times),
                               samples=pk_selectors.samples_in_scope(pkist, bat6005))
    samples = f"{API}/pk-samples/"
    staff = api(people["coordinator"]).get(f"{samples}?subject={pk_subject.pk}&status=collected").json()
    assert staff["count"] == 7 and {s["subject"] for s in staff["results"]} == {pk_subject.code}
    planned = api(people["coordinator"]).get(f"{samples}?subject={pk_subject.pk}&status=planned").json()
    assert planned["count"] == Sample.objects.filter(subject=pk_subject, status="planned").count() > 0
    bad = api(people["coordinator"]).get(f"{samples}?status=lost")
    assert bad.status_code == 400 and list(bad.json()) == ["status"]
    assert api(pkist).get(f"{samples}?status=collected").json()["count"] == 7  # trial-wide, by code
    assert api(people["coordinator_b"]).get(samples).json()["count"] == 0
    assert api(people["sponsor"]).get(samples).json()["count"] == 0

    results = api(pkist).get(f"{API}/pk-results/?subject={pk_subject.pk}&analyte=BAT6005").json()
    assert results["count"] == 7 and {r["blq"] for r in results["results"]} == {True, False}
    assert api(people["sponsor"]).get(f"{API}/pk-results/").json()["count"] == 0
    assert api(people["coordinator_b"]).get(f"{API}/pk-results/").json()["count"] == 0

    summary = api(people["sponsor"]).get(f"{API}/pk-summaries/{bat6005.code}/")
    assert summary.status_code == 200 and summary.json()["deidentified"] is True
    [level] = summary.json()["levels"]
    cmax = next(p for p in level["parameters"] if p["key"] == "cmax")
    assert level["n"] == 1 and cmax["summary"]["n"] == 1 and cmax["summary"]["geo_mean"] > 0
    assert pk_subject.code not in summary.content.decode()
    assert api(pkist).get(f"{API}/pk-summaries/{bat6005.code}/").json()["levels"] == summary.json()["levels"]
