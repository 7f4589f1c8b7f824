"""Intra-patient dose escalation (BAT6005 rule 6; issue 12, point 3): the three checks, each met and not met
with its words; the two signatures; invalidation when the data change between them; who may ask and sign;
dosing at the new level from the next cycle and not before; the subject still counted at its original level
for the escalation decisions; a rejected request leaves dosing unchanged."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.intrapatient import (
    escalation_checks,
    intrapatient_request,
    intrapatient_sign,
    level_for_cycle,
)
from escalation.models import Cohort, EscalationDecision, IntraPatientEscalation, Signature
from escalation.selectors import escalation_evidence
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import dose_record
from tests.auth import signed, signing
from tests.conftest import load_trial, member
from tests.screening.helpers import predose
from trials.models import Role

pytestmark = pytest.mark.django_db

RATIONALE = "Stable disease after 4 cycles at 10 mg; 30 mg cleared its DLT window."


# --------------------------------------------------------------------------------------------------
# A BAT6005 trial under way: 10 mg and 30 mg decided (windows closed), 100 mg in its DLT window
# --------------------------------------------------------------------------------------------------


def at_level(trial, site, user, level, number, code, *, first_dose_days_ago, cycles=1, status=Cohort.Status.DECIDED):
    """A subject of an escalation cohort at ``level`` dosed on day 1 of ``cycles`` 21-day cycles, the first
    ``first_dose_days_ago`` days ago (rows written directly: the history of a trial that has been running)."""
    cohort = Cohort.objects.filter(trial=trial, number=number).first() or Cohort.objects.create(
        trial=trial, number=number, dose_level=level, capacity=1, status=status)
    start = timezone.now() - timedelta(days=first_dose_days_ago)
    subject = Subject.objects.create(
        trial=trial, site=site, cohort=cohort, dose_level=level, code=code, initials="QXJW",
        date_of_birth=date(1960, 1, 1), sex="F", enrolled_by=user, status=Subject.Status.ON_TREATMENT)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=start - timedelta(days=2))
    subject.refresh_from_db()
    drug = trial.drugs.get()
    for cycle in range(1, cycles + 1):
        DoseAdministration.objects.create(
            subject=subject, drug=drug, cycle=cycle, day=1, administered_at=start + timedelta(days=21 * (cycle - 1)),
            dose=Decimal(level.doses[drug.name]), unit=drug.unit, recorded_by=user)
    return subject


def build_world(trial, site, user):
    levels = {lv.label: lv for lv in trial.dose_levels.all()}
    # The subject who asks: 4 cycles at 10 mg, the last 21 days ago (cycle 5 is due now).
    subject = at_level(trial, site, user, levels["10 mg"], 1, "BAT6005-SITE-A-001", first_dose_days_ago=84,
                       cycles=4)
    cleared = at_level(trial, site, user, levels["30 mg"], 2, "BAT6005-SITE-A-002", first_dose_days_ago=40)
    in_window = at_level(trial, site, user, levels["100 mg"], 3, "BAT6005-SITE-A-003", first_dose_days_ago=5,
                         status=Cohort.Status.FULL)
    return {"subject": subject, "cleared": cleared, "in_window": in_window, "levels": levels}


@pytest.fixture
def world(people, bat6005, site_a):
    return build_world(bat6005, site_a, people["coordinator"])


def dlt(subject, user, term="Febrile neutropenia", grade=3):
    first = timezone.localtime(subject.first_dose().administered_at).date()
    return AdverseEvent.objects.create(subject=subject, term=term, grade=grade, onset_date=first + timedelta(days=5),
                                       attribution="definite", dlt_status="confirmed", is_dlt=True,
                                       recorded_by=user)


def by_name(checks):
    return {c.name: c for c in checks}


def request_as(user, world, level="30 mg", **extra):
    return intrapatient_request(subject=world["subject"], to_level=world["levels"][level], rationale=RATIONALE,
                                user=user, **signing(user, **extra))


def sign_as(user, agreement, meaning="agreed", comment=""):
    return intrapatient_sign(agreement=agreement, user=user, **signing(user), meaning=meaning, comment=comment)


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------


def test_every_check_met_for_a_cleared_higher_level(world):
    checks = by_name(escalation_checks(world["subject"], world["levels"]["30 mg"]))
    assert checks["cycles"].met
    assert checks["cycles"].detail == ("4 cycles received (cycles 1–4; at least 4 required): the new level would "
                                       "apply from cycle 5.")
    assert checks["level"].met
    assert checks["level"].detail == (
        "30 mg is above the current level (10 mg) and has cleared its DLT windows: 1 subject of the escalation "
        "cohorts at 30 mg, 1 evaluable, 0 DLTs, 0 pending; fewer than 2 DLTs, no MTD declared yet.")
    assert not checks["agreement"].met and "Not requested yet" in checks["agreement"].detail


def test_cycles_not_met_before_four_cycles(people, bat6005, site_a, world):
    early = at_level(bat6005, site_a, people["coordinator"], world["levels"]["10 mg"], 1, "BAT6005-SITE-A-009",
                     first_dose_days_ago=63, cycles=3)
    check = by_name(escalation_checks(early, world["levels"]["30 mg"]))["cycles"]
    assert not check.met
    assert check.detail == ("3 of the 4 cycles required received (doses recorded: cycles 1–3; missing: cycle 4). "
                            "BAT6005 allows intra-patient escalation only after at least 4 cycles.")
    with pytest.raises(ValidationError) as refused:
        intrapatient_request(subject=early, to_level=world["levels"]["30 mg"], rationale=RATIONALE,
                             user=people["investigator"], **signing(people["investigator"]))
    assert "Not met — enough cycles received: 3 of the 4 cycles" in refused.value.message_dict["__all__"][0]
    assert not IntraPatientEscalation.objects.exists() and not Signature.objects.exists()


@pytest.mark.parametrize("level,words", [
    ("10 mg", "10 mg is not above the subject's current level (10 mg): choose a higher level."),
    ("100 mg", "100 mg has not cleared its DLT windows: 1 subject of the escalation cohorts at 100 mg, 0 evaluable, "
               "0 DLTs, 1 pending (DLT window open or an adverse event awaiting adjudication or attribution)."),
    ("300 mg", "300 mg has no subject in the escalation cohorts yet: it has not cleared its DLT windows."),
])
def test_level_check_not_met(people, world, level, words):
    check = by_name(escalation_checks(world["subject"], world["levels"][level]))["level"]
    assert not check.met and check.detail == words
    with pytest.raises(ValidationError) as refused:
        request_as(people["investigator"], world, level)
    assert refused.value.message_dict["to_level"] == [
        f"Not met — higher level cleared its DLT windows without exceeding the MTD: {words}"]
    assert not IntraPatientEscalation.objects.exists()


def test_level_that_exceeded_the_mtd(people, bat6005, site_a, world):
    user = people["coordinator"]
    dlt(world["cleared"], user)
    second = at_level(bat6005, site_a, user, world["levels"]["30 mg"], 2, "BAT6005-SITE-A-004", first_dose_days_ago=40)
    dlt(second, user)
    check = by_name(escalation_checks(world["subject"], world["levels"]["30 mg"]))["level"]
    assert not check.met
    assert check.detail == ("30 mg exceeded the MTD: 2 DLTs among 2 evaluable subjects (the 3+3 rule: 2 or more "
                            "among 3 or among 6 exceed it).")


def test_level_above_a_declared_mtd(people, bat6005, world):
    cohort = Cohort.objects.get(trial=bat6005, number=2)
    EscalationDecision.objects.create(
        trial=bat6005, cohort=cohort, status=EscalationDecision.Status.APPROVED, continue_trial=False,
        recommended_dose_level=world["levels"]["10 mg"], declared="MTD", rationale="MTD reached.", outcomes="1N 2N",
        data={}, data_sha256="0" * 64, decided_at=timezone.now())
    check = by_name(escalation_checks(world["subject"], world["levels"]["30 mg"]))["level"]
    assert not check.met and check.detail == "30 mg is above the declared MTD (10 mg)."


def test_not_allowed_when_the_protocol_has_no_setting(people, world, bat6005):
    definition = {**bat6005.definition, "escalation": {k: v for k, v in bat6005.definition["escalation"].items()
                                                       if k != "intra_patient"}}
    type(bat6005).objects.filter(pk=bat6005.pk).update(definition=definition)
    world["subject"].trial.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        request_as(people["investigator"], world)
    assert refused.value.messages == ["BAT6005 does not allow intra-patient dose escalation: its protocol file has "
                                      "no [escalation.intra_patient] min_cycles."]


def test_a_level_of_another_trial_is_refused(people, world, site_a):
    other = load_trial("QL1706").dose_levels.first()
    with pytest.raises(ValidationError) as refused:
        intrapatient_request(subject=world["subject"], to_level=other, rationale=RATIONALE,
                             user=people["investigator"], **signing(people["investigator"]))
    assert refused.value.message_dict["to_level"] == ["That dose level belongs to another trial."]


# --------------------------------------------------------------------------------------------------
# The two signatures
# --------------------------------------------------------------------------------------------------


def test_investigator_asks_and_sponsor_agrees(people, world):
    agreement = request_as(people["investigator"], world)
    assert (agreement.status, agreement.from_level.label, agreement.to_level.label, agreement.from_cycle) == (
        "pending", "10 mg", "30 mg", 5)
    first = agreement.signatures.get()
    assert (first.role, first.meaning, first.data_sha256) == ("investigator", "agreed", agreement.data_sha256)
    assert agreement.data["cycles_dosed"] == [1, 2, 3, 4] and agreement.data["checks"][0]["met"]
    assert not by_name(escalation_checks(world["subject"], world["levels"]["30 mg"], agreement=agreement))[
        "agreement"].met
    # Dosing does not change until both have signed.
    assert level_for_cycle(world["subject"], 5).label == "10 mg"

    sign_as(people["sponsor"], agreement)
    agreement.refresh_from_db()
    assert agreement.status == "agreed" and agreement.decided_at is not None
    assert [(s.role, s.meaning) for s in agreement.signatures.order_by("signed_at")] == [
        ("investigator", "agreed"), ("sponsor", "agreed")]
    assert {s.data_sha256 for s in agreement.signatures.all()} == {agreement.data_sha256}
    agreed = by_name(escalation_checks(world["subject"], world["levels"]["100 mg"], agreement=agreement))["agreement"]
    assert agreed.met and "Agreed and signed by both" in agreed.detail
    assert [e.pgh_label for e in Events.objects.tracks(agreement)] == ["insert", "update"]


def test_sponsor_asks_and_the_site_investigator_agrees(people, world):
    agreement = request_as(people["sponsor"], world)
    assert agreement.signatures.get().role == "sponsor"
    with pytest.raises(PermissionDenied):  # another sponsor is not the other party
        sign_as(member(world["subject"].trial, Role.SPONSOR, None, "sponsor-2"), agreement)
    sign_as(people["investigator"], agreement)
    agreement.refresh_from_db()
    assert agreement.status == "agreed"


def test_the_same_person_cannot_sign_twice(people, world):
    agreement = request_as(people["investigator"], world)
    with pytest.raises(ValidationError) as refused:
        sign_as(people["investigator"], agreement)
    assert refused.value.messages == ["You signed this request already: the other party signs it."]
    assert agreement.signatures.count() == 1


def test_one_pending_request_per_subject(people, world):
    request_as(people["investigator"], world)
    with pytest.raises(ValidationError) as refused:
        request_as(people["sponsor"], world)
    assert "already awaits agreement" in refused.value.message_dict["to_level"][0]
    assert IntraPatientEscalation.objects.count() == 1


def test_objection_needs_a_comment_and_leaves_dosing_unchanged(people, bat6005, world):
    agreement = request_as(people["investigator"], world)
    with pytest.raises(ValidationError) as refused:
        sign_as(people["sponsor"], agreement, meaning="objected")
    assert "Say why you do not approve" in refused.value.message_dict["comment"][0]
    sign_as(people["sponsor"], agreement, meaning="objected", comment="Wait for the 30 mg expansion data.")
    agreement.refresh_from_db()
    assert agreement.status == "rejected"
    assert agreement.signatures.get(role="sponsor").comment == "Wait for the 30 mg expansion data."
    assert level_for_cycle(world["subject"], 5).label == "10 mg"
    subject, when = world["subject"], timezone.now() - timedelta(hours=1)
    predose(subject, when, people["coordinator"])
    dose = dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=5, day=1, administered_at=when,
                       user=people["coordinator"])
    assert dose.dose == Decimal("10")


def test_invalidated_when_the_data_change_between_the_signatures(people, world):
    agreement = request_as(people["investigator"], world)
    dlt(world["cleared"], people["coordinator"])  # a DLT at 30 mg recorded late
    with pytest.raises(ValidationError) as refused:
        sign_as(people["sponsor"], agreement)
    assert "changed before your signature" in refused.value.messages[0]
    agreement.refresh_from_db()
    assert agreement.status == "invalidated"  # committed despite the error
    assert "subjects" in agreement.invalidated_reason and "A new request is needed" in agreement.invalidated_reason
    assert agreement.signatures.count() == 1
    assert level_for_cycle(world["subject"], 5).label == "10 mg"


def test_a_dose_recorded_between_the_signatures_invalidates(people, bat6005, world):
    agreement = request_as(people["investigator"], world)
    subject, when = world["subject"], timezone.now() - timedelta(hours=1)
    predose(subject, when, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=5, day=1, administered_at=when,
                user=people["coordinator"])
    with pytest.raises(ValidationError):
        sign_as(people["sponsor"], agreement)
    agreement.refresh_from_db()
    assert agreement.status == "invalidated" and "cycles_dosed" in agreement.invalidated_reason


# --------------------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------------------


def test_who_may_ask(people, bat6005, site_b, world):
    with pytest.raises(PermissionDenied):
        request_as(people["coordinator"], world)
    investigator_b = member(bat6005, Role.INVESTIGATOR, site_b, "investigator-b")
    with pytest.raises(PermissionDenied):
        request_as(investigator_b, world)
    assert not IntraPatientEscalation.objects.exists()
    assert request_as(people["sponsor"], world).status == "pending"


def test_who_may_sign(people, bat6005, site_b, world):
    agreement = request_as(people["sponsor"], world)
    investigator_b = member(bat6005, Role.INVESTIGATOR, site_b, "investigator-b")
    for user in (people["coordinator"], investigator_b):
        with pytest.raises(PermissionDenied):
            sign_as(user, agreement)
    assert agreement.signatures.count() == 1


def test_wrong_password_signs_nothing(people, world):
    with pytest.raises(ValidationError) as refused:
        request_as(people["investigator"], world, password="not-my-password")
    assert "password" in refused.value.message_dict
    assert not IntraPatientEscalation.objects.exists()


# --------------------------------------------------------------------------------------------------
# Dosing, and the escalation counts
# --------------------------------------------------------------------------------------------------


def agreed(people, world):
    agreement = request_as(people["investigator"], world)
    sign_as(people["sponsor"], agreement)
    agreement.refresh_from_db()
    return agreement


def test_dosed_at_the_new_level_from_the_next_cycle(people, bat6005, world):
    agreed(people, world)
    subject, drug = world["subject"], bat6005.drugs.get()
    assert [level_for_cycle(subject, c).label for c in (1, 4, 5, 6)] == ["10 mg", "10 mg", "30 mg", "30 mg"]
    when = timezone.now() - timedelta(hours=1)
    predose(subject, when, people["coordinator"])
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=drug, cycle=5, day=1, administered_at=when, dose=Decimal("10"),
                    user=people["coordinator"])
    assert refused.value.message_dict["dose"] == ["BAT6005 allows no dose change: the dose at 30 mg is 30 mg."]
    dose = dose_record(subject=subject, drug=drug, cycle=5, day=1, administered_at=when, user=people["coordinator"])
    assert dose.dose == Decimal("30")
    subject.refresh_from_db()
    assert subject.dose_level.label == "10 mg"


def test_still_counted_at_the_original_level(people, bat6005, world):
    before = escalation_evidence(bat6005, now=timezone.now())
    agreed(people, world)
    subject, when = world["subject"], timezone.now() - timedelta(hours=1)
    predose(subject, when, people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=5, day=1, administered_at=when,
                user=people["coordinator"])
    evidence = escalation_evidence(bat6005, now=timezone.now())
    facts = next(f for f in evidence.facts["subjects"] if f["subject"] == subject.code)
    assert evidence.levels[facts["level"] - 1].label == "10 mg"
    assert [o.dose_level for o in evidence.outcomes] == [o.dose_level for o in before.outcomes]
    assert evidence.sha256 == before.sha256  # a later cycle's dose is not escalation data


# --------------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------------


def test_request_page_shows_the_checks_in_words_and_signs(login, people, world):
    client = login(people["investigator"])
    url = reverse("escalation:intrapatient_request", args=[world["subject"].pk])
    page = client.get(url).content.decode()
    table = page.split('id="intrapatient-checks"')[1].split("</table>")[0]
    assert table.count(">Met<") == 2 and table.count(">Not met<") == 1  # in words, not colour alone
    assert "4 cycles received (cycles 1–4; at least 4 required)" in page
    assert client.get(url + f"?to_level={world['levels']['100 mg'].pk}").content.decode().count("Not met") == 2
    # A level not higher: the reason on the field, nothing saved.
    response = client.post(url, signed(people["investigator"], to_level=world["levels"]["10 mg"].pk,
                                       rationale=RATIONALE))
    assert response.status_code == 422
    assert "is not above the subject's current level" in response.context["form"].errors["to_level"][0]
    response = client.post(url, signed(people["investigator"], to_level=world["levels"]["30 mg"].pk,
                                       rationale="short"))
    assert response.status_code == 422 and "rationale" in response.context["form"].errors
    other = load_trial("QL1706").dose_levels.first()
    response = client.post(url, signed(people["investigator"], to_level=other.pk, rationale=RATIONALE))
    assert "Choose one of the levels of this trial" in response.context["form"].errors["to_level"][0]
    assert not IntraPatientEscalation.objects.exists()
    response = client.post(url, signed(people["investigator"], to_level=world["levels"]["30 mg"].pk,
                                       rationale=RATIONALE))
    agreement = IntraPatientEscalation.objects.get()
    assert response.status_code == 302 and response.url == reverse("escalation:intrapatient_detail",
                                                                   args=[agreement.pk])
    # The page now points at the pending request and offers no second form.
    page = client.get(url).content.decode()
    assert "A request awaits agreement" in page and 'id="intrapatient-form"' not in page
    # The same form sent again (a double submit without its token): refused on the field, nothing saved twice.
    response = client.post(url, signed(people["investigator"], to_level=world["levels"]["30 mg"].pk,
                                       rationale=RATIONALE))
    assert response.status_code == 422
    assert "already awaits agreement" in response.context["form"].errors["to_level"][0]
    assert IntraPatientEscalation.objects.count() == 1 and Signature.objects.count() == 1


def test_sponsor_pages_show_subject_codes_only(login, people, world):
    agreement = request_as(people["investigator"], world)
    client = login(people["sponsor"])
    for url in (reverse("escalation:intrapatient_detail", args=[agreement.pk]),
                reverse("escalation:intrapatient_request", args=[world["subject"].pk]),
                reverse("escalation:intrapatient_list", args=["BAT6005"])):
        page = client.get(url).content.decode()
        assert "BAT6005-SITE-A-001" in page
        assert "QXJW" not in page and "1960-01-01" not in page and "Jan 1960" not in page
        assert 'href="/subjects/' not in page
    response = client.post(reverse("escalation:intrapatient_detail", args=[agreement.pk]),
                           signed(people["sponsor"], meaning="agreed"))
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == "agreed"


def test_coordinator_reads_but_cannot_ask(login, people, world):
    client = login(people["coordinator"])
    assert client.get(reverse("escalation:intrapatient_request", args=[world["subject"].pk])).status_code == 403
    page = client.get(reverse("subjects:detail", args=[world["subject"].pk])).content.decode()
    assert "Cycle 5: <strong id=\"next-cycle-level\">10 mg</strong>" in page
    assert "Intra-patient escalation…" not in page


def test_subject_page_and_dose_form_after_the_agreement(login, people, world):
    client = login(people["investigator"])
    subject_url = reverse("subjects:detail", args=[world["subject"].pk])
    assert "Intra-patient escalation…" in client.get(subject_url).content.decode()
    agreed(people, world)
    page = client.get(subject_url).content.decode()
    assert "Cycle 5: <strong id=\"next-cycle-level\">30 mg</strong>" in page
    assert "stays counted at 10 mg" in page
    client = login(people["coordinator"])
    form = client.get(reverse("subjects:dose_new", args=[world["subject"].pk])).context["form"]
    assert form.initial["dose"] == "30"
    assert "Dose at 30 mg (intra-patient escalation): BAT6005 30 mg." in form.fields["dose"].help_text
