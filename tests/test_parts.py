"""After escalation (issue 12, points 1–2): the stopping decision, the RP2D declared by the sponsor and the
principal investigator (two signatures bound to the data), the later parts opening and enrolling with the same
machinery, each part reported separately; QL1706 enrols to its target size and closes."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from escalation import rp2d
from escalation.models import Cohort, EscalationDecision, Rp2dDeclaration, Signature
from escalation.selectors import escalation_evidence
from subjects.models import AdverseEvent, Subject
from subjects.services import subject_enrol
from tests.auth import signed, signing
from tests.conftest import load_trial, member
from tests.parts_helpers import escalate
from tests.screening.helpers import eligible_screening
from tests.test_decision_safety import lvgn_with_people
from trials.models import Part, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def lvgn(site_a, site_b):
    """LVGN6051 + anlotinib with its principal investigator, another investigator of site A, a coordinator
    and the sponsor."""
    trial, people = lvgn_with_people(site_a, site_b)
    people["pi"] = people["investigator"]
    people["investigator"] = member(trial, Role.INVESTIGATOR, site_a, "i2-lvgn")
    return trial, people


def _to_mtd(trial, site, people):
    """3+3 over three levels: 0/3 at 1, 0/3 at 2, 2/3 at 3 (above the MTD), 0/3 more at 2: MTD = level 2."""
    return escalate(trial, site, people["coordinator"], people["pi"], people["sponsor"], ["NNN", "NNN", "TTN", "NNN"])


def test_the_stopping_decision_records_the_mtd(lvgn, site_a):
    trial, people = lvgn
    stop = _to_mtd(trial, site_a, people)
    assert (stop.continue_trial, stop.declared, stop.recommended_dose_level.label) == (
        False, "MTD", "LVGN6051 3 mg/kg + anlotinib 12 mg")
    assert rp2d.stopping_decision(trial) == stop
    assert not trial.cohorts.filter(status=Cohort.Status.OPEN).exists()
    from escalation.selectors import part_rows

    assert [r["state"] for r in part_rows(trial)] == ["Escalation stopped: RP2D to declare", "Not open yet"]


def test_rp2d_two_signatures_open_the_expansion_which_enrols_apart_from_escalation(lvgn, site_a, client, login):
    trial, people = lvgn
    stop = _to_mtd(trial, site_a, people)
    evidence_before = escalation_evidence(trial, now=stop.decided_at)

    # The PI reads the data by level and proposes the RP2D with a signature.
    login(people["pi"])
    page = client.get(reverse("escalation:rp2d", args=[trial.code]))
    assert page.status_code == 200
    safety = {row["level"]: row for row in page.context["evidence"].data["safety"]}
    assert safety["LVGN6051 5 mg/kg + anlotinib 12 mg"]["dlts"] == 2
    assert safety["LVGN6051 3 mg/kg + anlotinib 12 mg"]["evaluable"] == 6
    assert b"Propose the RP2D" in page.content
    level2 = trial.dose_levels.get(label="LVGN6051 3 mg/kg + anlotinib 12 mg")
    level3 = trial.dose_levels.get(label="LVGN6051 5 mg/kg + anlotinib 12 mg")
    # Above the MTD: refused on the field (not even offered).
    refused = client.post(reverse("escalation:rp2d", args=[trial.code]), signed(
        people["pi"], action="declare", dose_level=level3.pk, rationale="Highest dose with acceptable safety."))
    assert refused.status_code == 422 and "dose_level" in refused.context["declare_form"].errors
    short = client.post(reverse("escalation:rp2d", args=[trial.code]), signed(
        people["pi"], action="declare", dose_level=level2.pk, rationale="ok"))
    assert short.status_code == 422 and "rationale" in short.context["declare_form"].errors
    assert not Rp2dDeclaration.objects.exists()
    done = client.post(reverse("escalation:rp2d", args=[trial.code]), signed(
        people["pi"], action="declare", dose_level=level2.pk,
        rationale="MTD; 0/6 DLTs, PK exposure proportional, one PR at this level."))
    assert done.status_code == 302, done.content.decode()
    declaration = Rp2dDeclaration.objects.get()
    assert (declaration.status, declaration.dose_level, declaration.stopping_decision) == ("pending", level2, stop)
    assert [(s.role, s.meaning) for s in declaration.signatures.all()] == [("principal investigator", "declared")]
    assert trial.parts.get(code="phase-ii").status == Part.Status.PLANNED

    # A second proposal while one is pending is refused; the PI cannot co-sign their own.
    with pytest.raises(ValidationError, match="already awaiting"):
        rp2d.rp2d_declare(trial=trial, user=people["sponsor"], dose_level=level2, rationale="x" * 30,
                          **signing(people["sponsor"]))
    with pytest.raises(ValidationError, match="second signature is the sponsor"):
        rp2d.rp2d_sign(declaration=declaration, user=people["pi"], meaning="declared", **signing(people["pi"]))
    # Nobody else signs it: a site investigator who is not the PI, a coordinator.
    with pytest.raises(PermissionDenied):
        rp2d.rp2d_sign(declaration=declaration, user=people["investigator"], meaning="declared",
                       **signing(people["investigator"]))

    # The sponsor co-signs in the browser: the expansion opens at the RP2D, escalation closes.
    login(people["sponsor"])
    page = client.get(reverse("escalation:rp2d", args=[trial.code]))
    assert b"Second signature" in page.content and b"Propose the RP2D" not in page.content
    done = client.post(reverse("escalation:rp2d", args=[trial.code]),
                       signed(people["sponsor"], action="sign", meaning="declared"))
    assert done.status_code == 302, done.content.decode()
    declaration.refresh_from_db()
    assert declaration.status == Rp2dDeclaration.Status.APPROVED
    assert [s.data_sha256 for s in declaration.signatures.all()] == [declaration.data_sha256] * 2
    assert trial.parts.get(code="phase-ib").status == Part.Status.CLOSED
    cohort = Cohort.objects.get(trial=trial, escalation=False)
    assert (cohort.label, cohort.dose_level, cohort.capacity, cohort.status, cohort.part.code) == (
        "STS-II", level2, 20, "open", "phase-ii")

    # Screening now is for phase II (its measurable-disease criterion replaces the Ib one); enrolment is into
    # the expansion cohort, at the RP2D; the escalation's evidence is untouched.
    record = eligible_screening(trial, site_a, people["coordinator"], initials="XY")
    assert record.part.code == "phase-ii"
    login(people["coordinator"])
    response = client.post(reverse("subjects:enrol", args=[trial.code]), {"screening": record.pk})
    assert response.status_code == 302, response.content.decode()
    subject = Subject.objects.get(screening=record)
    assert (subject.cohort, subject.dose_level) == (cohort, level2)
    after = escalation_evidence(trial, now=stop.decided_at)
    assert after.sha256 == evidence_before.sha256
    stop.refresh_from_db()
    assert stop.status == EscalationDecision.Status.APPROVED
    # The trial page and the sponsor's dashboard show the parts apart.
    login(people["sponsor"])
    dashboard = client.get(reverse("trials:dashboard", args=[trial.code]))
    rows = {r["part"].code: r for r in dashboard.context["parts"]}
    assert (rows["phase-ib"]["enrolled"], rows["phase-ii"]["enrolled"], rows["phase-ii"]["target"]) == (12, 1, 20)
    levels = {r.label: r.enrolled for r in dashboard.context["levels"]}
    assert levels["LVGN6051 3 mg/kg + anlotinib 12 mg"] == 6  # the expansion subject is not an escalation one
    api = client.get(reverse("api-dashboard", args=[trial.code])).json()
    assert [(p["code"], p["status"], p["enrolled"], p["target"]) for p in api["parts"]] == [
        ("phase-ib", "closed", 12, None), ("phase-ii", "open", 1, 20)]
    assert api["parts"][1]["cohorts"] == [{"name": "STS-II", "dose_level": level2.label, "capacity": 20,
                                           "status": "open", "tumour_types": [], "enrolled": 1}]


def test_changed_data_between_the_signatures_invalidate_the_declaration(lvgn, site_a):
    trial, people = lvgn
    _to_mtd(trial, site_a, people)
    level2 = trial.dose_levels.get(label="LVGN6051 3 mg/kg + anlotinib 12 mg")
    declaration = rp2d.rp2d_declare(trial=trial, user=people["sponsor"], dose_level=level2,
                                    rationale="The MTD, with acceptable safety.", **signing(people["sponsor"]))
    # A related grade-3 event is entered late for a subject at level 2: the safety the sponsor signed changed.
    subject = Subject.objects.filter(trial=trial, dose_level=level2).first()
    AdverseEvent.objects.create(subject=subject, term="Hypertension", grade=3, onset_date=date.today(),
                                attribution="possible", recorded_by=people["coordinator"])
    with pytest.raises(ValidationError, match="invalidated"):
        rp2d.rp2d_sign(declaration=declaration, user=people["pi"], meaning="declared", **signing(people["pi"]))
    declaration.refresh_from_db()
    assert declaration.status == Rp2dDeclaration.Status.INVALIDATED
    assert trial.parts.get(code="phase-ii").status == Part.Status.PLANNED
    # A new declaration on the current data can be made; an objection needs a comment and opens nothing.
    again = rp2d.rp2d_declare(trial=trial, user=people["sponsor"], dose_level=level2,
                              rationale="The MTD, with acceptable safety.", **signing(people["sponsor"]))
    with pytest.raises(ValidationError, match="Say why"):
        rp2d.rp2d_sign(declaration=again, user=people["pi"], meaning="objected", **signing(people["pi"]))
    rp2d.rp2d_sign(declaration=again, user=people["pi"], meaning="objected", comment="Wait for the PK.",
                   **signing(people["pi"]))
    again.refresh_from_db()
    assert again.status == Rp2dDeclaration.Status.REJECTED
    assert not Cohort.objects.filter(trial=trial, escalation=False).exists()


def test_no_rp2d_before_escalation_stops_and_none_without_a_tolerable_level(lvgn, site_a):
    trial, people = lvgn
    level1 = trial.dose_levels.order_by("rank").first()
    with pytest.raises(ValidationError, match="has not stopped"):
        rp2d.rp2d_declare(trial=trial, user=people["pi"], dose_level=level1, rationale="x" * 30,
                          **signing(people["pi"]))
    stop = escalate(trial, site_a, people["coordinator"], people["pi"], people["sponsor"], ["TTN"])
    assert (stop.continue_trial, stop.recommended_dose_level) == (False, None)
    with pytest.raises(ValidationError, match="no tolerable dose level"):
        rp2d.rp2d_declare(trial=trial, user=people["pi"], dose_level=level1, rationale="x" * 30,
                          **signing(people["pi"]))
    with pytest.raises(PermissionDenied):
        rp2d.rp2d_declare(trial=trial, user=people["coordinator"], dose_level=level1, rationale="x" * 30,
                          **signing(people["coordinator"]))


@pytest.fixture
def bat(bat6005, people, site_a):
    return bat6005, {"coordinator": people["coordinator"], "pi": people["investigator"], "sponsor": people["sponsor"]}


def test_bat6005_part2_cohorts_chosen_with_the_rp2d(bat, site_a, client, login):
    trial, people = bat
    # Titration 10, 30, 100 mg (one each), 0/3 at 300, 2/3 at 600, 0/3 more at 300: MTD = 300 mg.
    stop = escalate(trial, site_a, people["coordinator"], people["pi"], people["sponsor"],
                    ["N", "N", "N", "NNN", "TTN", "NNN"])
    assert (stop.declared, stop.recommended_dose_level.label) == ("MTD", "300 mg")
    levels = {lv.label: lv for lv in trial.dose_levels.all()}
    login(people["pi"])
    url = reverse("escalation:rp2d", args=[trial.code])
    form = client.get(url).context["declare_form"]
    assert {"c1_level", "c1_size", "c1_tumour_types", "c2_level"} <= set(form.fields)
    assert list(form.fields["dose_level"].queryset.values_list("label", flat=True)) == [
        "300 mg", "100 mg", "30 mg", "10 mg"]
    base = {"action": "declare", "dose_level": levels["300 mg"].pk, "rationale": "MTD 300 mg; PK linear, 1 PR."}
    # Too small a cohort, no tumour type: each on its own field, nothing saved; a level above the MTD is not
    # offered, and the service refuses it too.
    bad = client.post(url, signed(people["pi"], **base, c1_level=levels["300 mg"].pk, c1_size=5, c1_tumour_types="",
                                  c2_level=levels["100 mg"].pk, c2_size=6, c2_tumour_types="melanoma"))
    assert bad.status_code == 422
    assert set(bad.context["declare_form"].errors) == {"c1_size", "c1_tumour_types"}
    above = client.post(url, signed(people["pi"], **base, c1_level=levels["600 mg"].pk, c1_size=6,
                                    c1_tumour_types="melanoma"))
    assert above.status_code == 422 and "c1_level" in above.context["declare_form"].errors
    with pytest.raises(ValidationError) as caught:
        rp2d.rp2d_declare(trial=trial, user=people["pi"], dose_level=levels["300 mg"], rationale="x" * 30,
                          cohorts=[{"part": "part-2", "dose_level": levels["600 mg"], "size": 6,
                                    "tumour_types": ["melanoma"]}], **signing(people["pi"]))
    assert caught.value.message_dict == {"cohorts[1].level": ["The dose must be at or below the MTD/MAD."]}
    assert not Rp2dDeclaration.objects.exists()
    none = client.post(url, signed(people["pi"], **base))
    assert none.status_code == 422 and "opens 1 to 2 cohort" in str(none.context["declare_form"].errors)
    ok = client.post(url, signed(people["pi"], **base, c1_level=levels["300 mg"].pk, c1_size=6,
                                 c1_tumour_types="melanoma", c2_level=levels["100 mg"].pk, c2_size=8,
                                 c2_tumour_types="leiomyosarcoma, liposarcoma"))
    assert ok.status_code == 302, ok.content.decode()
    declaration = Rp2dDeclaration.objects.get()
    rp2d.rp2d_sign(declaration=declaration, user=people["sponsor"], meaning="declared", **signing(people["sponsor"]))
    made = list(Cohort.objects.filter(trial=trial, escalation=False).order_by("number"))
    assert [(c.label, c.dose_level.label, c.capacity, c.tumour_types) for c in made] == [
        ("PART-2-1", "300 mg", 6, ["melanoma"]), ("PART-2-2", "100 mg", 8, ["leiomyosarcoma", "liposarcoma"])]

    # Two cohorts are open: the coordinator chooses; the cohort's tumour types are checked against histology.
    record = eligible_screening(trial, site_a, people["coordinator"], initials="MM",
                                values={"histology": "leiomyosarcoma"})
    with pytest.raises(ValidationError, match="choose the one"):
        subject_enrol(trial=trial, user=people["coordinator"], screening=record)
    with pytest.raises(ValidationError, match="enrols melanoma"):
        subject_enrol(trial=trial, user=people["coordinator"], screening=record, cohort=made[0])
    login(people["coordinator"])
    page = client.get(reverse("subjects:enrol", args=[trial.code]))
    assert "cohort" in page.context["form"].fields
    response = client.post(reverse("subjects:enrol", args=[trial.code]), {"screening": record.pk,
                                                                            "cohort": made[1].pk})
    assert response.status_code == 302, response.content.decode()
    subject = Subject.objects.get(screening=record)
    assert (subject.cohort, subject.dose_level.label) == (made[1], "100 mg")
    # Its first dose passes no timing gate of the escalation (a later part's subject).
    from subjects.services import _gated

    assert not _gated(subject)


def test_ql1706_enrols_to_its_target_and_closes(site_a):
    trial = load_trial("QL1706")
    coordinator = member(trial, Role.COORDINATOR, site_a, "c-ql")
    arm = Cohort.objects.get(trial=trial)
    for _n in range(arm.capacity):
        subject_enrol(trial=trial, site=site_a, user=coordinator, initials="QQ", date_of_birth=date(1970, 1, 1),
                      sex="M")
    arm.refresh_from_db()
    assert (arm.status, trial.parts.get().status) == (Cohort.Status.CLOSED, Part.Status.CLOSED)
    assert Subject.objects.filter(trial=trial, cohort=arm).count() == 30
    with pytest.raises(ValidationError, match="target sizes"):
        subject_enrol(trial=trial, site=site_a, user=coordinator, initials="QQ", date_of_birth=date(1970, 1, 1),
                      sex="M")
    # Nor is a new candidate screened.
    with pytest.raises(ValidationError, match="QL1706 is closed to enrolment"):
        eligible_screening(trial, site_a, coordinator, initials="QR")


def test_a_signature_signs_exactly_one_record(lvgn, site_a):
    from django.db import IntegrityError, transaction

    trial, people = lvgn
    stop = _to_mtd(trial, site_a, people)
    level2 = trial.dose_levels.get(label="LVGN6051 3 mg/kg + anlotinib 12 mg")
    declaration = rp2d.rp2d_declare(trial=trial, user=people["sponsor"], dose_level=level2,
                                    rationale="The MTD, with acceptable safety.", **signing(people["sponsor"]))
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(decision=stop, declaration=declaration, signer=people["pi"], printed_name="x",
                                 role="investigator", meaning="approved", data_sha256="0" * 64)


def test_the_mad_when_the_top_level_is_tolerated_and_the_rp2d_at_or_below_it(lvgn, site_a):
    trial, people = lvgn
    # 0/3 at each level, then 0/3 more at the top: the MTD is not reached, the MAD is the top level.
    stop = escalate(trial, site_a, people["coordinator"], people["pi"], people["sponsor"],
                    ["NNN", "NNN", "NNN", "NNN"])
    top = trial.dose_levels.order_by("rank").last()
    assert (stop.continue_trial, stop.declared, stop.recommended_dose_level) == (False, "MAD", top)
    evidence = rp2d.rp2d_evidence(trial)
    assert evidence.highest == top and len(evidence.allowed) == 3 and evidence.data["declared"] == "MAD"
    declaration = rp2d.rp2d_declare(trial=trial, user=people["pi"], dose_level=top,
                                    rationale="The MAD: no DLT at any level.", **signing(people["pi"]))
    assert declaration.dose_level == top


def test_the_demo_efficacy_subjects_count_toward_ql1706s_target(site_a):
    from response import demo

    trial = load_trial("QL1706")
    made = demo.seed(trial, site_a, member(trial, Role.COORDINATOR, site_a, "c-demo"))
    arm = Cohort.objects.get(trial=trial)
    assert made and {s.cohort_id for s in made} == {arm.pk} and arm.subjects.count() == len(made)
