"""Tumour response through the application: baseline lesions and time points entered by the site, the
responses computed and reviewed, corrections that re-compute, the outcome record, and the efficacy page
for site staff and (de-identified) for the sponsor."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from records.registry import kind_for
from records.services import record_correct, record_void
from response import selectors, services
from response.models import LesionMeasurement, TumourAssessment
from response.services import LesionEntry
from tests.visits.conftest import make_subject
from visits.services import follow_up_set

pytestmark = pytest.mark.django_db

M = LesionMeasurement.Status
TODAY = timezone.localdate()
DOSE = TODAY - timedelta(days=300)


def target(organ, mm, *, node=False):
    return LesionEntry(kind="target", organ=organ, node=node, diameter_mm=Decimal(mm),
                       axis="short" if node else "long")


def non_target(organ):
    return LesionEntry(kind="non_target", organ=organ)


@pytest.fixture
def subject(bat6005, site_a, people):
    return make_subject(bat6005, site_a, people["coordinator"], first_dose=DOSE, cycles=6)


@pytest.fixture
def baseline(subject, people):
    """T1 lung 40, T2 liver 30, T3 node 20 (short axis): sum 90 mm; NT1 bone."""
    return services.baseline_record(subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=7),
                                    method="CT", lesions=[target("lung", 40), target("liver", 30),
                                                          target("lymph node", 20, node=True), non_target("bone")])


def scan(subject, user, day, t1, t2, t3, nt="present", new="none", **kwargs):
    values = {"T1": (M.MEASURED, Decimal(t1)), "T2": (M.MEASURED, Decimal(t2)), "T3": (M.MEASURED, Decimal(t3)),
              "NT1": (nt, None)}
    return services.assessment_record(subject=subject, user=user, assessed_on=DOSE + timedelta(days=day),
                                      method="CT", new_lesions=new, values=values, **kwargs)


def test_time_points_are_computed_and_the_best_response_is_confirmed(subject, baseline, people):
    user = people["coordinator"]
    w6 = scan(subject, user, 42, 20, 15, 9)     # sum 44: -51.1 % -> PR (the node < 10 mm but T1, T2 remain)
    w12 = scan(subject, user, 84, 18, 14, 8)    # sum 40: PR again, 42 days later: confirms
    w18 = scan(subject, user, 126, 25, 20, 9)   # sum 54 vs nadir 40: +35 % and +14 mm -> PD
    for a in (w6, w12, w18):
        a.refresh_from_db()
    assert (w6.sum_mm, w6.change_from_baseline_pct, w6.computed_response) == (Decimal(44), Decimal("-51.1"), "PR")
    assert (w12.sum_mm, w12.computed_response) == (Decimal(40), "PR")
    assert (w18.sum_mm, w18.nadir_mm, w18.change_from_nadir_pct, w18.computed_response) == (
        Decimal(54), Decimal(40), Decimal("35.0"), "PD")
    assert w18.target_response == "PD" and w18.non_target_response == "NON-CR/NON-PD"
    efficacy = selectors.subject_efficacy(subject, trial=subject.trial, label=subject.code, today=TODAY)
    assert efficacy.bor.bor == "PR"
    assert efficacy.bor.date == w6.assessed_on
    assert {a.date for a in efficacy.bor.evidence} >= {w6.assessed_on, w12.assessed_on}
    assert efficacy.progression == w18.assessed_on
    assert efficacy.best_pct == pytest.approx(-55.5)  # -55.56 % shown towards zero: never past a threshold
    assert efficacy.pfs.event and efficacy.pfs.end == w18.assessed_on
    assert efficacy.dor is not None and efficacy.dor.event and efficacy.dor.start == w6.assessed_on


def test_an_unconfirmed_partial_response_is_not_a_response(subject, baseline, people):
    scan(subject, people["coordinator"], 42, 20, 15, 9)       # PR
    scan(subject, people["coordinator"], 84, 40, 30, 20)      # back to baseline: SD (nadir 44, +46 mm -> PD)
    efficacy = selectors.subject_efficacy(subject, trial=subject.trial, label=subject.code, today=TODAY)
    assert efficacy.bor.bor in ("SD", "PD")
    assert efficacy.bor.bor != "PR"


def test_a_sixth_target_lesion_is_refused_with_its_name(subject, people):
    lesions = [target(organ, 20) for organ in ("lung", "lung", "liver", "liver", "kidney", "adrenal")]
    with pytest.raises(ValidationError) as exc:
        services.baseline_record(subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=3),
                                 method="CT", lesions=lesions)
    assert re.search(r"T6|6th|sixth|at most 5|five", " ".join(exc.value.messages), re.I)
    assert not TumourAssessment.objects.filter(subject=subject).exists()


def test_a_third_target_in_one_organ_is_refused(subject, people):
    with pytest.raises(ValidationError) as exc:
        services.baseline_record(subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=3),
                                 method="CT", lesions=[target("lung", 20), target("lung", 25), target("lung", 30)])
    assert re.search(r"2 per organ|two per organ|lung", " ".join(exc.value.messages), re.I)


def test_a_node_recorded_by_long_axis_is_refused(subject, people):
    node = LesionEntry(kind="target", organ="lymph node", node=True, diameter_mm=Decimal(25), axis="long")
    with pytest.raises(ValidationError) as exc:
        services.baseline_record(subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=3),
                                 method="CT", lesions=[node])
    assert "short axis" in " ".join(exc.value.messages)


def test_a_small_lesion_is_not_measurable(subject, people):
    with pytest.raises(ValidationError) as exc:
        services.baseline_record(subject=subject, user=people["coordinator"], assessed_on=DOSE - timedelta(days=3),
                                 method="CT", lesions=[target("lung", 8)])
    assert "10 mm" in " ".join(exc.value.messages)


def test_a_measurement_of_a_lesion_not_at_baseline_is_refused(subject, baseline, people):
    values = {"T1": (M.MEASURED, Decimal(20)), "T2": (M.MEASURED, Decimal(15)), "T3": (M.MEASURED, Decimal(9)),
              "NT1": (M.PRESENT, None), "T9": (M.MEASURED, Decimal(12))}
    with pytest.raises(ValidationError) as exc:
        services.assessment_record(subject=subject, user=people["coordinator"], assessed_on=DOSE + timedelta(days=42),
                                   method="CT", new_lesions="none", values=values)
    assert "T9" in str(exc.value)
    assert TumourAssessment.objects.filter(subject=subject).count() == 1


def test_a_scan_before_the_baseline_and_without_a_baseline_is_refused(subject, people):
    with pytest.raises(ValidationError, match="baseline"):
        scan(subject, people["coordinator"], 42, 20, 15, 9)


def test_the_investigator_reviews_and_a_correction_clears_the_review(subject, baseline, people):
    w6 = scan(subject, people["coordinator"], 42, 20, 15, 9)
    with pytest.raises(PermissionDenied):
        services.assessment_review(assessment=w6, user=people["coordinator"], response="PR")
    with pytest.raises(ValidationError, match="differs"):
        services.assessment_review(assessment=w6, user=people["investigator"], response="SD", reason="")
    reviewed = services.assessment_review(assessment=w6, user=people["investigator"], response="PR")
    assert reviewed.reviewed and not reviewed.overridden
    # T1 was really 60 mm: the sum 84 (-6.7 %) is SD; the review made on PR no longer stands.
    measurement = w6.measurements.get(lesion__key="T1")
    record_correct(kind=kind_for("lesion-measurement"), record=measurement, user=people["coordinator"],
                   changes={"diameter_mm": Decimal(60)}, reason="Re-read by the radiologist: 60 mm")
    w6.refresh_from_db()
    assert w6.computed_response == "SD" and w6.sum_mm == Decimal(84)
    assert not w6.reviewed
    override = services.assessment_review(assessment=w6, user=people["investigator"], response="PR",
                                          reason="Lesion T1 includes a necrotic cavity: responding")
    assert override.overridden and override.overall == "PR"


def test_voiding_a_scan_recomputes_and_the_baseline_is_protected(subject, baseline, people):
    w6 = scan(subject, people["coordinator"], 42, 20, 15, 9)
    w12 = scan(subject, people["coordinator"], 84, 40, 30, 20)
    assert TumourAssessment.objects.get(pk=w12.pk).computed_response == "PD"
    from django.core.exceptions import ValidationError as DjangoValidationError

    with pytest.raises((PermissionDenied, DjangoValidationError)):
        record_void(kind=kind_for("tumour-scan"), record=baseline, user=people["coordinator"],
                    reason="Wrong patient's scan entered")
    record_void(kind=kind_for("tumour-scan"), record=w6, user=people["coordinator"], reason="Entered twice by mistake")
    w12.refresh_from_db()
    # Without the week-6 nadir (44 mm), week 12 (90 mm) equals the baseline: SD.
    assert w12.computed_response == "SD"


def test_outcome_feeds_overall_survival(subject, baseline, people):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    with pytest.raises(ValidationError) as exc:
        follow_up_set(subject=subject, user=people["coordinator"], last_dose=DOSE + timedelta(days=105),
                      death_cause="Progressive disease")
    assert "death_cause" in exc.value.message_dict
    died = DOSE + timedelta(days=200)
    follow_up_set(subject=subject, user=people["coordinator"], last_dose=DOSE + timedelta(days=105),
                  follow_up_end=died, follow_up_end_reason="death", death_cause="Progressive disease",
                  last_known_alive=died - timedelta(days=10))
    subject.refresh_from_db()
    efficacy = selectors.subject_efficacy(subject, trial=subject.trial, label=subject.code, today=TODAY)
    assert efficacy.os.event and efficacy.os.end == died
    assert efficacy.death == died
    with pytest.raises(ValidationError) as exc:
        follow_up_set(subject=subject, user=people["coordinator"], last_dose=DOSE + timedelta(days=105),
                      follow_up_end=died, follow_up_end_reason="death", last_known_alive=died + timedelta(days=5))
    assert "last_known_alive" in exc.value.message_dict


def test_clinical_progression_counts_for_pfs(subject, baseline, people):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    scan(subject, people["coordinator"], 84, 18, 14, 8)
    clinical = DOSE + timedelta(days=100)
    follow_up_set(subject=subject, user=people["coordinator"], clinical_progression=clinical)
    efficacy = selectors.subject_efficacy(subject, trial=subject.trial, label=subject.code, today=TODAY)
    assert efficacy.progression == clinical
    assert efficacy.pfs.event and efficacy.pfs.end == clinical


def _subject_pages(client, login, subject, people):
    login(people["coordinator"])
    return client.get(reverse("response:subject", args=[subject.pk]))


def test_the_forms_name_the_problem(client, login, subject, people):
    login(people["coordinator"])
    url = reverse("response:baseline", args=[subject.pk])
    data = {"assessed_on": (DOSE - timedelta(days=5)).isoformat(), "method": "CT"}
    for i in range(1, 7):
        data |= {f"l{i}_kind": "target", f"l{i}_organ": f"organ {i}", f"l{i}_diameter": "20", f"l{i}_axis": "long"}
    response = client.post(url, data)
    assert response.status_code == 422
    assert re.search(r"T6|at most 5", response.content.decode())
    assert not TumourAssessment.objects.filter(subject=subject).exists()
    data = {"assessed_on": (DOSE - timedelta(days=5)).isoformat(), "method": "CT", "l1_kind": "target",
            "l1_organ": "lung"}
    response = client.post(url, data)
    assert response.status_code == 422
    assert "baseline diameter" in response.content.decode()


def test_the_scan_form_records_and_marks_the_imaging_visit_done(client, login, subject, baseline, people):
    login(people["coordinator"])
    visit = subject.visits.filter(kind="imaging").order_by("target").first()
    url = reverse("response:timepoint_new", args=[subject.pk])
    page = client.get(url, {"visit": visit.pk})
    assert page.status_code == 200 and "T3 lymph node" in page.content.decode()
    data = {"assessed_on": visit.target.isoformat(), "method": "CT", "visit": visit.pk, "new_lesions": "none",
            "t_T1": "20", "s_T1": "measured", "t_T2": "", "s_T2": "measured", "t_T3": "9", "s_T3": "measured",
            "nt_NT1": "present"}
    response = client.post(url, data)
    assert response.status_code == 422 and "T2: enter the diameter" in response.content.decode()
    data["t_T2"] = "15"
    response = client.post(url, data)
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == "done" and visit.done_on == visit.target
    page = client.get(reverse("response:subject", args=[subject.pk]))
    assert "PR" in page.content.decode()


def _spec(content: str, name: str) -> dict:
    match = re.search(rf'<script id="spec-{name}" type="application/json">(.*?)</script>', content, re.S)
    assert match, f"no spec-{name} on the page"
    return json.loads(match.group(1))


def test_efficacy_page_for_site_staff_and_de_identified_for_the_sponsor(client, login, subject, baseline, people):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    scan(subject, people["coordinator"], 84, 18, 14, 8)
    login(people["investigator"])
    page = client.get(reverse("response:efficacy", args=[subject.trial.code]))
    content = page.content.decode()
    assert page.status_code == 200
    assert subject.code in content
    assert "1/1 = 100.0 %" in content  # ORR: the confirmed PR, exact interval beside it
    waterfall = _spec(content, "waterfall")
    assert subject.code in json.dumps(waterfall)
    client.logout()
    login(people["sponsor"])
    page = client.get(reverse("response:efficacy", args=[subject.trial.code]))
    content = page.content.decode()
    assert page.status_code == 200
    assert subject.code not in content and subject.initials not in re.sub(r"<[^>]+>", " ", content).split()
    assert "Subject 1" in content
    for name in ("waterfall", "spider", "swimmer", "pfs", "os"):
        spec = json.dumps(_spec(content, name))
        assert subject.code not in spec
        assert not re.search(r"\d{4}-\d{2}-\d{2}", spec), f"a date in the sponsor's {name} data"
    assert reverse("response:subject", args=[subject.pk]) not in content


def test_the_other_sites_staff_do_not_see_the_subject(client, login, subject, baseline, people):
    login(people["coordinator_b"])
    assert client.get(reverse("response:subject", args=[subject.pk])).status_code == 404
    page = client.get(reverse("response:efficacy", args=[subject.trial.code]))
    assert subject.code not in page.content.decode()


def test_the_review_form_asks_a_reason_for_an_override(client, login, subject, baseline, people):
    w6 = scan(subject, people["coordinator"], 42, 20, 15, 9)
    login(people["investigator"])
    url = reverse("response:review", args=[w6.pk])
    prefix = f"review-{w6.pk}"
    response = client.post(url, {f"{prefix}-response": "SD", f"{prefix}-override_reason": ""})
    assert response.status_code == 422 and "differs from the computed PR" in response.content.decode()
    response = client.post(url, {f"{prefix}-response": "SD", f"{prefix}-override_reason": "Radiologist re-read"})
    assert response.status_code == 302
    w6.refresh_from_db()
    assert (w6.response, w6.override_reason, w6.reviewed_by) == ("SD", "Radiologist re-read", people["investigator"])


def test_a_scan_after_death_is_refused_and_impossible_facts_are_listed_not_fatal(client, login, subject, baseline,
                                                                                   people):
    scan(subject, people["coordinator"], 42, 20, 15, 9)
    scan(subject, people["coordinator"], 84, 18, 14, 8)
    died = DOSE + timedelta(days=100)
    follow_up_set(subject=subject, user=people["coordinator"], follow_up_end=died, follow_up_end_reason="death")
    with pytest.raises(ValidationError, match="died"):
        scan(subject, people["coordinator"], 126, 18, 14, 8)
    # A death date corrected to before the week-12 scan: the facts cannot be; the subject is listed, not lost.
    follow_up_set(subject=subject, user=people["coordinator"], follow_up_end=DOSE + timedelta(days=60),
                  follow_up_end_reason="death")
    subject.refresh_from_db()
    efficacy = selectors.subject_efficacy(subject, trial=subject.trial, label=subject.code, today=TODAY)
    assert efficacy.problem and efficacy.pfs is None and efficacy.os is None
    assert efficacy.bor.bor == "PR"  # the best overall response does not need the dates of death
    login(people["investigator"])
    page = client.get(reverse("response:efficacy", args=[subject.trial.code]))
    assert page.status_code == 200
    assert "Left out of PFS, OS and DoR until corrected" in page.content.decode()
