"""Anlotinib (LVGN6051 + anlotinib: 12 mg once daily on days 1-14 of 21, taken at home) recorded per cycle
as tablets dispensed and returned with the missed days; the days taken are derived doses that the first
dose, the DLT window, the visits and the escalation evidence read like any other."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from escalation.selectors import escalation_evidence
from outbox.models import OutboxMessage
from subjects.dispensing import dispensing_derive_doses, dispensing_record, dispensing_return
from subjects.models import DoseAdministration, OralDispensing, Subject
from subjects.services import dose_record, subject_end_treatment, subject_enrol
from tests.conftest import load_trial, member
from tests.screening.helpers import eligible_screening
from trialrules import dispensing as rules
from trials.models import Role
from trials.protocol_file import ProtocolFileError, read_protocol

D = date.fromisoformat
DAYS = list(range(1, 15))


# ------------------------------------------------------------------ the rule


def reconcile(**kw):
    values = {"administration_days": DAYS, "tablets_per_day": 1, "tablets_dispensed": 14,
              "dispensed_on": D("2026-03-02"), "first_day": D("2026-03-02"), "today": D("2026-06-01"),
              "drug": "Anlotinib", **kw}
    return rules.reconcile(**values)


def test_before_the_return_only_the_day_1_tablet_is_known():
    assert reconcile().taken_days == (1,)
    assert reconcile(missed_days=[1]).taken_days == ()
    assert reconcile().discrepancy is None


def test_after_the_return_the_days_taken_are_the_days_not_missed():
    result = reconcile(returned_on=D("2026-03-23"), tablets_returned=1, missed_days=[5])
    assert result.taken_days == (1, 2, 3, 4, *range(6, 15))
    assert (result.tablets_used, result.tablets_expected, result.discrepancy) == (13, 13, 0)


def test_a_discrepancy_needs_a_reason():
    with pytest.raises(rules.DispensingError) as refused:
        reconcile(returned_on=D("2026-03-23"), tablets_returned=0, missed_days=[5])
    message = refused.value.errors["discrepancy_reason"]
    assert message.startswith("14 dispensed − 0 returned = 14 tablets used, but 13 days taken × 1 = 13 expected "
                              "(1 more)")
    result = reconcile(returned_on=D("2026-03-23"), tablets_returned=0, missed_days=[5],
                       discrepancy_reason="Patient took a tablet on day 5 after vomiting")
    assert result.discrepancy == 1


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"returned_on": D("2026-03-23"), "tablets_returned": 15}, "tablets_returned",
     "More tablets returned (15) than dispensed (14)."),
    ({"missed_days": [0, 15]}, "missed_days", "Missed days must be days 1–14 of the cycle (the days Anlotinib is "
                                              "taken), not 0, 15."),
    ({"missed_days": [3, 3]}, "missed_days", "Give each missed day once."),
    ({"returned_on": D("2026-03-12"), "tablets_returned": 4}, "missed_days",
     "Days 12, 13, 14 (13 Mar, 14 Mar, 15 Mar) fall after the tablets were returned on 12 Mar 2026"),
    ({"first_day": D("2026-03-01")}, "first_dose_at", "cannot be taken before the tablets were dispensed"),
    ({"returned_on": D("2026-03-23")}, "tablets_returned", "Give the number of tablets returned"),
    ({"tablets_returned": 2}, "returned_on", "Give the date the tablets were returned"),
    ({"returned_on": D("2026-03-01"), "tablets_returned": 0}, "returned_on", "cannot be returned before"),
    ({"returned_on": D("2026-06-02"), "tablets_returned": 0}, "returned_on", "cannot be in the future"),
    ({"tablets_dispensed": 0}, "tablets_dispensed", "at least 1"),
])
def test_bad_dispensing_names_the_field(kw, field, message):
    with pytest.raises(rules.DispensingError) as refused:
        reconcile(**kw)
    assert message in refused.value.errors[field]


def test_tablets_per_day_from_the_strength_and_the_level():
    assert rules.spec(Decimal("12"), "12") == rules.Spec(Decimal("12"), 1)
    assert rules.spec(Decimal("4"), "12").tablets_per_day == 3
    with pytest.raises(ValueError, match="a daily dose of 10 mg is not a whole number of 12 mg tablets"):
        rules.spec(Decimal("12"), "10")
    assert rules.tablet_strength({"name": "X"}) is None
    with pytest.raises(ValueError, match=r"dispensing\.tablet_strength: must be positive"):
        rules.tablet_strength({"dispensing": {"tablet_strength": "-1"}})
    assert rules.day_ranges([1, 2, 3, 5, 7, 8]) == "1–3, 5, 7–8" and rules.day_ranges([]) == "none"


def test_the_protocol_file_checks_the_strength_against_the_levels(tmp_path):
    source = Path(settings.BASE_DIR) / "protocols" / "LVGN6051-ANLOTINIB.toml"
    assert rules.tablet_strength(next(d for d in read_protocol(source).data["drugs"] if d["name"] == "Anlotinib")) \
        == Decimal("12")
    bad = tmp_path / "bad.toml"
    bad.write_text(source.read_text().replace('tablet_strength = "12"', 'tablet_strength = "5"'))
    with pytest.raises(ProtocolFileError, match=r"dose_levels\[1\]\.doses\.Anlotinib: a daily dose of 12 mg is not a "
                                                r"whole number of 5 mg tablets"):
        read_protocol(bad)
    bad.write_text(source.read_text().replace('tablet_strength = "12"', 'tablet_strength = "twelve"'))
    with pytest.raises(ProtocolFileError, match=r"drugs\[2\]\.dispensing\.tablet_strength: 'twelve' is not a number"):
        read_protocol(bad)


# ------------------------------------------------------------------ the service (LVGN6051 + anlotinib)

@pytest.fixture
def lvgn(site_a):
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "coordinator")
    investigator = member(trial, Role.INVESTIGATOR, site_a, "investigator")
    return trial, coordinator, investigator


@pytest.fixture
def day0():
    """Day 1 of cycle 1: 30 days ago at 10:00."""
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=30)


@pytest.fixture
def subject(lvgn, site_a, day0):
    trial, coordinator, _ = lvgn
    record = eligible_screening(trial, site_a, coordinator, initials="AN", assessed_on=day0.date() - timedelta(days=5))
    subject = subject_enrol(trial=trial, user=coordinator, screening=record)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=day0 - timedelta(days=2))
    subject.refresh_from_db()
    return subject


def anlotinib(trial):
    return trial.drugs.get(name="Anlotinib")


def dispense(subject, user, day0, **kw):
    values = {"subject": subject, "drug": anlotinib(subject.trial), "cycle": 1, "dispensed_on": day0.date(),
              "first_dose_at": day0, "tablets_dispensed": 14, "user": user, **kw}
    return dispensing_record(**values)


def derived(subject):
    return list(DoseAdministration.objects.filter(subject=subject, dispensing__isnull=False).order_by("day"))


@pytest.mark.django_db
def test_dispensing_derives_the_day_1_dose_which_starts_treatment(lvgn, subject, day0):
    trial, coordinator, _ = lvgn
    OutboxMessage.objects.all().delete()
    record = dispense(subject, coordinator, day0)
    assert (record.tablet_strength, record.tablets_per_day, record.daily_dose) == (12, 1, 12)
    (dose,) = derived(subject)
    assert (dose.cycle, dose.day, dose.dose, dose.unit, dose.administered_at, dose.dispensing) == (
        1, 1, Decimal(12), "mg", day0, record)
    subject.refresh_from_db()
    # The first dose: status, DLT window, visits and the escalation evidence read it.
    assert subject.status == "on_treatment" and subject.first_dose() == dose
    assert subject.dlt_window_end(21) == day0 + timedelta(days=21)
    assert subject.visits.filter(code="C2D1").exists()
    assert subject.visits.get(code="SCR").status == "done"
    facts = {f["subject"]: f for f in escalation_evidence(trial, now=timezone.now()).facts["subjects"]}
    assert facts[subject.code]["first_dose"] == day0.isoformat()
    assert OutboxMessage.objects.filter(task_name="escalation.tasks.review_trial").count() == 1


@pytest.mark.django_db
def test_the_return_derives_every_day_taken_in_one_go(lvgn, subject, day0):
    _trial, coordinator, _ = lvgn
    record = dispense(subject, coordinator, day0)
    OutboxMessage.objects.all().delete()
    record = dispensing_return(dispensing=record, user=coordinator, returned_on=day0.date() + timedelta(days=14),
                               tablets_returned=1, missed_days=[5])
    doses = derived(subject)
    assert [d.day for d in doses] == [1, 2, 3, 4, *range(6, 15)]
    assert [d.administered_at for d in doses] == [day0 + timedelta(days=d - 1) for d in [1, 2, 3, 4, *range(6, 15)]]
    assert {d.dose for d in doses} == {Decimal(12)} and {d.dispensing_id for d in doses} == {record.pk}
    assert (record.tablets_used, record.missed_days) == (13, [5])
    assert OutboxMessage.objects.filter(task_name="escalation.tasks.review_trial").count() == 1
    with pytest.raises(ValidationError, match="The return is already recorded"):
        dispensing_return(dispensing=record, user=coordinator, returned_on=day0.date() + timedelta(days=15),
                          tablets_returned=1)


@pytest.mark.django_db
def test_an_inconsistent_return_saves_nothing(lvgn, subject, day0):
    _trial, coordinator, _ = lvgn
    with pytest.raises(ValidationError) as refused:
        dispense(subject, coordinator, day0, returned_on=day0.date() + timedelta(days=14), tablets_returned=0,
                 missed_days=[5])
    assert "13 expected (1 more)" in refused.value.message_dict["discrepancy_reason"][0]
    assert not OralDispensing.all_objects.exists() and not DoseAdministration.all_objects.exists()
    record = dispense(subject, coordinator, day0, returned_on=day0.date() + timedelta(days=14), tablets_returned=0,
                      missed_days=[5], discrepancy_reason="One tablet lost at home (diary)")
    assert len(derived(subject)) == 13 and record.discrepancy_reason == "One tablet lost at home (diary)"


@pytest.mark.django_db
def test_anlotinib_is_not_recorded_dose_by_dose(lvgn, subject, day0):
    trial, coordinator, _ = lvgn
    with pytest.raises(ValidationError) as refused:
        dose_record(subject=subject, drug=anlotinib(trial), cycle=1, day=2, administered_at=day0, user=coordinator)
    assert "Anlotinib is taken at home: record the tablets dispensed" in refused.value.message_dict["drug"][0]
    with pytest.raises(ValidationError, match="LVGN6051 is not recorded by dispensing"):
        dispensing_record(subject=subject, drug=trial.drugs.get(name="LVGN6051"), cycle=1, dispensed_on=day0.date(),
                          first_dose_at=day0, tablets_dispensed=14, user=coordinator)
    dispense(subject, coordinator, day0)
    with pytest.raises(ValidationError) as refused:
        dispense(subject, coordinator, day0)
    assert "already recorded" in refused.value.message_dict["cycle"][0]


@pytest.mark.django_db
def test_only_a_coordinator_of_the_site_dispenses(lvgn, subject, day0, site_b):
    trial, _coordinator, investigator = lvgn
    other = member(trial, Role.COORDINATOR, site_b, "coordinator-b")
    for user in (investigator, other):
        with pytest.raises(PermissionDenied):
            dispense(subject, user, day0)


@pytest.mark.django_db
def test_days_after_the_end_of_treatment_must_be_missed(lvgn, subject, day0):
    _trial, coordinator, _ = lvgn
    record = dispense(subject, coordinator, day0)
    subject_end_treatment(subject=subject, user=coordinator, last_dose=day0.date() + timedelta(days=9),
                          reason="toxicity")
    with pytest.raises(ValidationError) as refused:
        dispensing_return(dispensing=record, user=coordinator, returned_on=day0.date() + timedelta(days=14),
                          tablets_returned=4)
    message = refused.value.message_dict["missed_days"][0]
    assert message.startswith("Days 11, 12, 13, 14 of cycle 1 (")
    assert "fall after the recorded last dose (end of treatment)" in message
    dispensing_return(dispensing=record, user=coordinator, returned_on=day0.date() + timedelta(days=14),
                      tablets_returned=4, missed_days=[11, 12, 13, 14])
    assert [d.day for d in derived(subject)] == list(range(1, 11))


@pytest.mark.django_db
def test_a_void_dispensing_voids_its_doses(lvgn, subject, day0):
    """What the lead's void of a dispensing record must follow with (records' ``after`` hook)."""
    _trial, coordinator, _ = lvgn
    record = dispense(subject, coordinator, day0)
    OralDispensing.objects.filter(pk=record.pk).update(voided_at=timezone.now(), voided_by=coordinator,
                                                       void_reason="Wrong subject")
    assert dispensing_derive_doses(record, user=coordinator) == []
    assert derived(subject) == []
    (void,) = DoseAdministration.all_objects.filter(subject=subject)
    assert void.voided and void.void_reason == "Derived from the cycle 1 Anlotinib dispensing: the dispensing " \
                                               "record is void."
    subject.refresh_from_db()
    assert subject.first_dose() is None


@pytest.mark.django_db
def test_a_corrected_first_tablet_time_moves_the_derived_doses(lvgn, subject, day0):
    _trial, coordinator, _ = lvgn
    record = dispense(subject, coordinator, day0, returned_on=day0.date() + timedelta(days=14), tablets_returned=0)
    OralDispensing.objects.filter(pk=record.pk).update(first_dose_at=day0 + timedelta(hours=2))
    doses = dispensing_derive_doses(record, user=coordinator)
    assert [d.administered_at for d in doses] == [day0 + timedelta(days=d - 1, hours=2) for d in DAYS]
    assert DoseAdministration.all_objects.filter(subject=subject, voided_at__isnull=False).count() == 14


# ------------------------------------------------------------------ the app


@pytest.mark.django_db
def test_subject_page_replaces_the_anlotinib_dose_form_by_dispensing(login, lvgn, subject, day0):
    trial, coordinator, _ = lvgn
    client = login(coordinator)
    page = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    new_url = reverse("subjects:dispensing_new", args=[subject.pk, anlotinib(trial).pk])
    assert f'href="{new_url}">Record Anlotinib dispensing' in page and 'id="dispensing"' in page
    form = client.get(reverse("subjects:dose_new", args=[subject.pk])).content.decode()
    assert ">LVGN6051</option>" in form and ">Anlotinib</option>" not in form
    response = client.post(reverse("subjects:dose_new", args=[subject.pk]), {
        "drug": anlotinib(trial).pk, "cycle": 1, "day": 2, "administered_at": day0.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 422 and "drug" in response.context["form"].errors
    assert not DoseAdministration.objects.exists()


@pytest.mark.django_db
def test_dispensing_and_return_through_the_pages(login, lvgn, subject, day0):
    trial, coordinator, _ = lvgn
    client = login(coordinator)
    new_url = reverse("subjects:dispensing_new", args=[subject.pk, anlotinib(trial).pk])
    form = client.get(new_url).content.decode()
    assert "12 mg tablets, 1 a day (12 mg daily) on days 1–14: 14 for a full cycle." in form
    assert 'value="14"' in form and 'name="missed_days" value="14"' in form
    data = {"cycle": 1, "dispensed_on": day0.date().isoformat(), "first_dose_at": day0.strftime("%Y-%m-%dT%H:%M"),
            "tablets_dispensed": 14, "returned_on": (day0.date() + timedelta(days=14)).isoformat(),
            "tablets_returned": 20}
    response = client.post(new_url, data)
    assert response.status_code == 422
    assert response.context["form"].errors["tablets_returned"] == ["More tablets returned (20) than dispensed (14)."]
    assert 'value="20"' in response.content.decode()  # the typed value is kept
    assert not OralDispensing.all_objects.exists()
    response = client.post(new_url, {k: v for k, v in data.items() if k not in ("returned_on", "tablets_returned")},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("subjects:detail", args=[subject.pk]) + "#dispensing"
    record = OralDispensing.objects.get()
    return_url = reverse("subjects:dispensing_return", args=[record.pk])
    page = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert f'href="{return_url}">Record the return' in page and "not yet" in page
    response = client.post(return_url, {"returned_on": (day0.date() + timedelta(days=14)).isoformat(),
                                        "tablets_returned": 2, "missed_days": [5, 9]})
    assert response.status_code == 302
    assert [d.day for d in derived(subject)] == [1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14]
    page = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert "1–4, 6–8, 10–14 <small>(12 × 12 mg)</small>" in page and "<td>5, 9</td>" in page
    assert "12 / 12" in page
    # The derived doses are shown with their dispensing, not as 12 rows of the dose list.
    doses_table = page.split('id="doses"')[1].split("</table>")[0]
    assert "Anlotinib" not in doses_table


@pytest.mark.django_db
def test_others_cannot_reach_the_dispensing_pages(login, lvgn, subject, day0, site_b):
    trial, coordinator, investigator = lvgn
    record = dispense(subject, coordinator, day0)
    other = member(trial, Role.COORDINATOR, site_b, "coordinator-b")
    sponsor = member(trial, Role.SPONSOR, None, "sponsor")
    urls = [reverse("subjects:dispensing_new", args=[subject.pk, anlotinib(trial).pk]),
            reverse("subjects:dispensing_return", args=[record.pk])]
    for user, codes in ((investigator, {403}), (other, {404}), (sponsor, {404})):
        client = login(user)
        for url in urls:
            assert client.get(url).status_code in codes, (user, url)
    assert login(coordinator).get(reverse("subjects:dispensing_new",
                                          args=[subject.pk, trial.drugs.get(name="LVGN6051").pk])).status_code == 404


@pytest.mark.django_db
def test_a_dispensing_correction_re_derives_its_doses(lvgn, subject, day0):
    """Corrected through the records mechanism (with a reason), like every record; its derived doses
    follow, and cannot be corrected on their own."""
    from records import services as records
    from records.registry import kind_for

    _trial, coordinator, _ = lvgn
    record = dispense(subject, coordinator, day0)
    record = dispensing_return(dispensing=record, user=coordinator, returned_on=day0.date() + timedelta(days=21),
                               tablets_returned=1, missed_days=[5])
    assert [d.day for d in derived(subject)] == [1, 2, 3, 4, *range(6, 15)]
    records.record_correct(kind=kind_for("dispensing"), record=record, user=coordinator,
                           changes={"missed_days": [5, 6], "tablets_returned": 2},
                           reason="Diary shows day 6 missed as well")
    assert [d.day for d in derived(subject)] == [1, 2, 3, 4, *range(7, 15)]
    with pytest.raises(ValidationError, match="dispensing"):
        records.record_correct(kind=kind_for("dose"), record=derived(subject)[0], user=coordinator,
                               changes={"dose": Decimal(24)}, reason="Two tablets taken")
    records.record_void(kind=kind_for("dispensing"), record=record, user=coordinator,
                        reason="Dispensing entered for the wrong subject")
    assert derived(subject) == []
