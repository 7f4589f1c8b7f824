"""Samples through the application: planned from the doses, collected or missed at the site, overdue in the
visit watch, shipped, their results imported from the lab's file (all or nothing), the NCA of the imported
concentrations (the engine's result for the same times) with the pharmacokineticist's λz choice, and the pages
for site staff, the pharmacokineticist and (de-identified) the sponsor."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from pk import selectors, services
from pk.models import LabResult, LambdaZChoice, Sample
from pk.watch import run_sample_watch
from records.registry import kind_for
from records.services import record_correct
from subjects.models import DoseAdministration
from tests.conftest import member
from tests.visits.conftest import make_subject
from trialrules import nca as nca_rules
from trials.models import Role

pytestmark = pytest.mark.django_db

FIRST = timezone.localdate() - timedelta(days=40)
HOURS = (0, 1, 4, 24, 72, 168, 336)


@pytest.fixture
def subject(bat6005, site_a, people):
    return make_subject(bat6005, site_a, people["coordinator"], first_dose=FIRST, cycles=2)


@pytest.fixture
def pkist(bat6005):
    return member(bat6005, Role.PHARMACOKINETICIST, None, "pkist")


def dose_at(subject, cycle=1):
    return DoseAdministration.objects.get(subject=subject, cycle=cycle, day=1).administered_at


def sample(subject, code):
    return Sample.objects.get(subject=subject, code=code)


def conc(hours: float) -> float:
    """A one-compartment infusion-like profile: 0 before the dose, then 50·e^(−0.005 t)·(1 − e^(−3 t))."""
    return 0.0 if hours == 0 else 50 * math.exp(-0.005 * hours) * (1 - math.exp(-3 * hours))


def collect_cycle_1(subject, user, *, late_minutes=0):
    """Collect the C1 PK samples at their nominal times (the 4 h one ``late_minutes`` late), return the times."""
    start = dose_at(subject)
    times = {}
    for h in HOURS:
        s = sample(subject, f"C1-PK-{'pre' if h == 0 else f'{h}h'}")
        at = start + timedelta(hours=h, minutes=late_minutes if h == 4 else 0) - timedelta(minutes=5 if h == 0 else 0)
        services.sample_collect(sample=s, user=user, collected_at=at)
        times[s.sample_id] = (h, at)
    return times


def results_file(subject, rows) -> bytes:
    lines = ["sample_id,analyte,result,unit,lloq"]
    for sample_id, result in rows:
        lines.append(f"{sample_id},BAT6005,{result},ug/mL,0.1")
    return ("\n".join(lines) + "\n").encode()


def pk_file(subject, times) -> bytes:
    rows = []
    for sample_id, (h, at) in times.items():
        actual = 0 if h == 0 else (at - dose_at(subject)).total_seconds() / 3600
        rows.append((sample_id, "BLQ" if h == 0 else f"{conc(actual):.4f}"))
    return results_file(subject, rows)


def test_samples_are_planned_from_the_doses_with_their_windows(subject):
    codes = list(Sample.objects.filter(subject=subject).values_list("code", flat=True))
    # Cycle 1: PK ×7, ADA, RO ×4; cycle 2: PK, ADA, RO pre-dose; cycle 3 (not dosed): its pre-dose PK only,
    # provisional (ADA and RO are not taken in cycle 3).
    assert {"C1-PK-pre", "C1-PK-1h", "C1-PK-336h", "C1-ADA-pre", "C1-RO-24h", "C2-PK-pre", "C2-ADA-pre",
            "C2-RO-pre", "C3-PK-pre"} <= set(codes)
    assert "C3-ADA-pre" not in codes and "C1-PK-2h" not in codes
    four = sample(subject, "C1-PK-4h")
    assert four.nominal_at == dose_at(subject) + timedelta(hours=4)
    assert (four.window_start, four.window_end) == (four.nominal_at - timedelta(minutes=15),
                                                    four.nominal_at + timedelta(minutes=15))
    pre = sample(subject, "C2-PK-pre")
    assert pre.window_end == dose_at(subject, 2) and pre.window_start == dose_at(subject, 2) - timedelta(hours=1)
    assert pre.dose_id is not None and pre.sample_id == f"{subject.code}-C2-PK-pre"
    c3 = sample(subject, "C3-PK-pre")
    visit = subject.visits.get(code="C3D1")
    assert c3.dose_id is None and timezone.localtime(c3.window_end).date() == visit.window_end
    assert timezone.localtime(c3.nominal_at).date() == visit.target


def test_a_corrected_dose_time_moves_the_planned_samples_not_the_collected_ones(subject, people):
    user = people["coordinator"]
    pre = sample(subject, "C1-PK-pre")
    services.sample_collect(sample=pre, user=user, collected_at=dose_at(subject) - timedelta(minutes=20))
    dose = DoseAdministration.objects.get(subject=subject, cycle=1, day=1)
    record_correct(kind=kind_for("dose"), record=dose, user=people["coordinator"], reason="Infusion started later",
                   changes={"administered_at": dose.administered_at + timedelta(hours=2)})
    moved = sample(subject, "C1-PK-4h")
    assert moved.nominal_at == dose.administered_at + timedelta(hours=6)
    kept = sample(subject, "C1-PK-pre")
    assert kept.status == "collected" and kept.collected_at == dose.administered_at - timedelta(minutes=20)
    # Its deviation is re-measured from the new nominal time: 2 h 20 min early now, outside its window.
    assert kept.deviation_minutes == -140 and kept.deviation


def test_collection_rules(subject, people, site_b):
    user = people["coordinator"]
    start = dose_at(subject)
    with pytest.raises(ValidationError, match="pre-dose sample is taken before the dose"):
        services.sample_collect(sample=sample(subject, "C1-PK-pre"), user=user,
                                collected_at=start + timedelta(minutes=1))
    with pytest.raises(ValidationError, match="cannot be taken before it"):
        services.sample_collect(sample=sample(subject, "C1-PK-1h"), user=user,
                                collected_at=start - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="future"):
        services.sample_collect(sample=sample(subject, "C3-PK-pre"), user=user,
                                collected_at=timezone.now() + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        services.sample_collect(sample=sample(subject, "C1-PK-1h"), user=people["coordinator_b"],
                                collected_at=start + timedelta(hours=1))
    late = services.sample_collect(sample=sample(subject, "C1-PK-4h"), user=user,
                                   collected_at=start + timedelta(hours=4, minutes=40))
    assert (late.deviation, late.deviation_minutes, late.deviation_text) == (True, 40, "40 min late")
    # The same entry again (a double click) changes nothing; a different time must be a correction.
    again = services.sample_collect(sample=late, user=user, collected_at=start + timedelta(hours=4, minutes=40))
    assert again.recorded_at == late.recorded_at
    with pytest.raises(ValidationError, match="correct that entry"):
        services.sample_collect(sample=late, user=user, collected_at=start + timedelta(hours=4))
    with pytest.raises(ValidationError, match="why"):
        services.sample_missed(sample=sample(subject, "C1-PK-24h"), user=user, reason=" ")
    missed = services.sample_missed(sample=sample(subject, "C1-PK-24h"), user=user, reason="Patient left early")
    assert missed.status == "missed"


def test_overdue_samples_join_the_visit_watch_once(subject, people):
    from visits.watch import run_watch

    result = run_watch(timezone.localdate(), email=False)
    overdue = Sample.objects.filter(subject=subject, overdue=True)
    # Every sample of cycles 1 and 2 has its window closed (dosed 40 and 19 days ago); C3's pre-dose window is open.
    assert result["samples_flagged"] == overdue.count() == Sample.objects.filter(
        subject=subject, window_end__lt=timezone.now()).count() > 10
    assert not sample(subject, "C3-PK-pre").overdue
    notices = Notification.objects.filter(kind="sample_overdue")
    recipients = {n.recipient for n in notices}
    assert recipients == {people["coordinator"], people["investigator"]}
    assert notices.count() == 2 * overdue.count()
    assert "C1-PK-4h is overdue" in notices.filter(sample=sample(subject, "C1-PK-4h")).first().message
    again = run_sample_watch(timezone.now())
    assert again == {"samples_flagged": 0, "sample_overdue": 0}
    # Collecting clears the flag.
    done = services.sample_collect(sample=sample(subject, "C1-PK-1h"), user=people["coordinator"],
                                   collected_at=dose_at(subject) + timedelta(hours=1, minutes=5))
    assert not done.overdue


def test_shipment_takes_collected_samples_once(subject, people, bat6005, site_a):
    user = people["coordinator"]
    times = collect_cycle_1(subject, user)
    collected = list(Sample.objects.filter(subject=subject, status="collected"))
    box = services.shipment_create(user=user, trial=bat6005, site=site_a, samples=collected, lab="Central PK lab",
                                   shipped_at=timezone.now(), temperature="frozen-70", tracking="1Z999")
    assert box.samples.count() == len(times)
    with pytest.raises(ValidationError, match="already in shipment"):
        services.shipment_create(user=user, trial=bat6005, site=site_a, samples=collected[:1], lab="Lab",
                                 shipped_at=timezone.now(), temperature="frozen-70")
    with pytest.raises(ValidationError, match="not collected"):
        services.shipment_create(user=user, trial=bat6005, site=site_a, samples=[sample(subject, "C3-PK-pre")],
                                 lab="Lab", shipped_at=timezone.now(), temperature="frozen-70")
    with pytest.raises(PermissionDenied):
        services.shipment_create(user=people["coordinator_b"], trial=bat6005, site=site_a, samples=collected[:1],
                                 lab="Lab", shipped_at=timezone.now(), temperature="frozen-70")


def test_import_is_all_or_nothing_and_the_nca_is_the_engines(subject, people, pkist, bat6005):
    times = collect_cycle_1(subject, people["coordinator"], late_minutes=10)
    good = pk_file(subject, times)
    bad = good.replace(b"ug/mL", b"ng/mL", 1) + f"{subject.code}-C9-PK-pre,BAT6005,1,ug/mL,0.1\n".encode()
    scope = selectors.samples_in_scope(pkist, bat6005)
    with pytest.raises(services.ImportRefused) as refused:
        services.results_import(user=pkist, trial=bat6005, file_name="bad.csv", content=bad, samples=scope)
    problems = {(p.row, p.column) for p in refused.value.report.problems}
    assert (1, "unit") in problems and (8, "sample_id") in problems
    assert not LabResult.objects.exists()  # nothing partially imported

    batch = services.results_import(user=pkist, trial=bat6005, file_name="run1.csv", content=good, samples=scope)
    assert batch.rows == 7 and LabResult.objects.count() == 7
    with pytest.raises(services.ImportRefused, match="problem"):
        services.results_import(user=pkist, trial=bat6005, file_name="again.csv", content=good, samples=scope)

    rows, deidentified = selectors.nca_rows(pkist, bat6005)
    assert not deidentified and len(rows) == 1
    row = rows[0]
    start = dose_at(subject)
    actual = [0.0] + [round(((at - start).total_seconds()) / 3600, 4) for h, at in times.values() if h]
    assert row.times == actual  # the 4 h sample at its actual 4 h 10 min
    expected = nca_rules.nca([nca_rules.Sample(t, 0.0 if t == 0 else round(conc(t), 4)) for t in actual], 10.0,
                             nca_rules.NcaOptions(route="intravascular", duration=1.0))
    assert row.result.cmax == pytest.approx(expected.cmax)
    assert row.result.auclast == pytest.approx(expected.auclast)
    assert row.result.lambda_z == pytest.approx(expected.lambda_z)
    assert row.result.lambda_z == pytest.approx(0.005, rel=0.01)  # the profile's own terminal rate
    assert row.result.cl == pytest.approx(10.0 / expected.aucinf_obs)

    summaries = selectors.level_summaries(rows)
    cmax = next(p["summary"] for p in summaries[0]["parameters"] if p["key"] == "cmax")
    assert (summaries[0]["level"], cmax.n, cmax.geo_mean) == ("10 mg", 1, pytest.approx(expected.cmax))


def test_lambda_z_chosen_by_the_pharmacokineticist_with_a_reason(subject, people, pkist, bat6005):
    times = collect_cycle_1(subject, people["coordinator"])
    services.results_import(user=pkist, trial=bat6005, file_name="run1.csv", content=pk_file(subject, times),
                            samples=selectors.samples_in_scope(pkist, bat6005))
    with pytest.raises(PermissionDenied):
        services.lambda_z_choose(user=people["investigator"], subject=subject, cycle=1, analyte="BAT6005",
                                 times=[72, 168, 336], reason="Terminal phase")
    with pytest.raises(ValidationError, match="reason"):
        services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005", times=[72, 168, 336],
                                 reason="")
    with pytest.raises(ValidationError, match="at least 3"):
        services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005", times=[168, 336],
                                 reason="Two points")
    with pytest.raises(ValidationError, match="not a sample time"):
        services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005", times=[5, 168, 336],
                                 reason="Typo")
    services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005", times=[24, 72, 168],
                             reason="336 h sample haemolysed")
    row = selectors.nca_rows(pkist, bat6005)[0][0]
    assert row.chosen and row.result.lambda_z_times == (24.0, 72.0, 168.0)
    event = LambdaZChoice.pgh_event_model.objects.order_by("-pgh_id").first()
    assert event.pgh_context["reason"] == "336 h sample haemolysed"
    services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005", times=None,
                             reason="Back to the automatic fit")
    row = selectors.nca_rows(pkist, bat6005)[0][0]
    assert not row.chosen and row.result.lambda_z_times != (24.0, 72.0, 168.0)
    assert LambdaZChoice.pgh_event_model.objects.count() == 2


def test_pages_for_each_role(client, login, subject, people, pkist, bat6005):
    times = collect_cycle_1(subject, people["coordinator"])
    services.results_import(user=pkist, trial=bat6005, file_name="run1.csv", content=pk_file(subject, times),
                            samples=selectors.samples_in_scope(pkist, bat6005))
    login(people["coordinator"])
    page = client.get(reverse("pk:subject", args=[subject.pk]))
    assert page.status_code == 200 and b"C1-PK-4h" in page.content and b"C3-PK-pre" in page.content
    labels = client.get(reverse("pk:labels", args=[subject.pk]))
    assert labels.status_code == 200 and b"<svg" in labels.content and b"C3-PK-pre" in labels.content
    assert b"C1-PK-4h" not in labels.content  # collected: no label to print unless all
    # A wrong collection time is refused with the field named, nothing saved.
    c3 = sample(subject, "C3-PK-pre")
    bad = client.post(reverse("pk:collect", args=[c3.pk]), {f"s{c3.pk}-collected_at": "yesterday"})
    assert bad.status_code == 422 and b"Enter a date and time" in bad.content
    assert sample(subject, "C3-PK-pre").status == "planned"
    overview = client.get(reverse("pk:overview", args=[bat6005.code]))
    assert overview.status_code == 200 and subject.code.encode() in overview.content
    assert b"nca-table" in overview.content and b"chart-conc-log" in overview.content

    login(people["sponsor"])
    sponsor = client.get(reverse("pk:overview", args=[bat6005.code]))
    assert sponsor.status_code == 200 and b"Subject 1" in sponsor.content
    assert subject.code.encode() not in sponsor.content and b"Import the lab" not in sponsor.content
    assert client.get(reverse("pk:subject", args=[subject.pk])).status_code == 404
    assert client.get(reverse("pk:import", args=[bat6005.code])).status_code == 403

    login(pkist)
    assert client.get(reverse("pk:subject", args=[subject.pk])).status_code == 404  # no subject record
    assert client.get(reverse("pk:labels", args=[subject.pk])).status_code == 404
    assert client.get(reverse("pk:shipments", args=[bat6005.code])).status_code == 403  # site staff ship
    assert client.get(reverse("pk:import", args=[bat6005.code])).status_code == 200
    overview = client.get(reverse("pk:overview", args=[bat6005.code]))
    assert overview.status_code == 200 and subject.code.encode() in overview.content
    profile = client.get(reverse("pk:lambda_z", args=[subject.pk, 1]))
    assert profile.status_code == 200 and b"Choose the" in profile.content and b"terminal_fit" in profile.content
    refused = client.post(reverse("pk:lambda_z", args=[subject.pk, 1]), {"times": ["72", "168"], "reason": "x y z"})
    assert refused.status_code == 422 and b"at least 3" in refused.content


def test_the_decision_page_shows_the_available_pk(client, login, people, bat6005, site_a):
    from tests.test_decision_notices import past_window_decision

    decision = past_window_decision(bat6005, site_a, people["coordinator"])
    subject = decision.cohort.subjects.first()
    services.samples_plan_for_subject(subject=subject)
    start = dose_at(subject)
    for h in HOURS:
        s = sample(subject, f"C1-PK-{'pre' if h == 0 else f'{h}h'}")
        services.sample_collect(sample=s, user=people["coordinator"],
                                collected_at=start + timedelta(hours=h) - timedelta(minutes=1 if h == 0 else 0))
    pkist = member(bat6005, Role.PHARMACOKINETICIST, None, "pkist")
    content = results_file(subject, [(f"{subject.code}-C1-PK-{'pre' if h == 0 else f'{h}h'}",
                                      "BLQ" if h == 0 else f"{conc(h):.4f}") for h in HOURS])
    services.results_import(user=pkist, trial=bat6005, file_name="r.csv", content=content,
                            samples=selectors.samples_in_scope(pkist, bat6005))
    login(people["sponsor"])
    page = client.get(reverse("escalation:decision", args=[decision.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "PK available" in html and "decision-pk" in html
    cmax = max(conc(h) for h in HOURS)
    assert f"1: {cmax:.3g}" in html  # n 1, geometric mean = the one Cmax
    assert subject.code not in html


def test_time_of_day_of_expected_doses_follows_the_first_dose(subject):
    c3 = sample(subject, "C3-PK-pre")
    assert timezone.localtime(c3.nominal_at).timetz().replace(tzinfo=None) == time(10, 0)
    # The pre-dose window opens an hour before the dose time on the dosing visit's first day.
    assert timezone.localtime(c3.window_start).replace(tzinfo=None) == datetime.combine(
        subject.visits.get(code="C3D1").window_start, time(9, 0))


def test_a_late_sample_can_be_chosen_for_lambda_z(subject, people, pkist, bat6005):
    """A 168 h sample taken 20 minutes late sits at 168.3333 h: the λz form sends that exact time back."""
    from pk.forms import LambdaZForm, hours_value

    user, start = people["coordinator"], dose_at(subject)
    times = {}
    for h in HOURS:
        s = sample(subject, f"C1-PK-{'pre' if h == 0 else f'{h}h'}")
        at = start + timedelta(hours=h, minutes=20 if h == 168 else 0) - timedelta(minutes=5 if h == 0 else 0)
        services.sample_collect(sample=s, user=user, collected_at=at)
        times[s.sample_id] = (h, at)
    services.results_import(user=pkist, trial=bat6005, file_name="r.csv", content=pk_file(subject, times),
                            samples=selectors.samples_in_scope(pkist, bat6005))
    profile = selectors.profile_for(subject, 1, "BAT6005")
    late = next(s.time for s in profile.samples if 168 < s.time < 169)
    assert hours_value(late) == "168.3333"
    form = LambdaZForm({"times": ["72", hours_value(late), "336"], "reason": "Terminal phase by eye"},
                       times=[(s.time, "") for s in profile.samples if s.conc])
    assert form.is_valid(), form.errors
    services.lambda_z_choose(user=pkist, subject=subject, cycle=1, analyte="BAT6005",
                             times=[float(t) for t in form.cleaned_data["times"]], reason="Terminal phase by eye")
    assert selectors.profile_for(subject, 1, "BAT6005").analyse().lambda_z_times == (72.0, late, 336.0)


def test_the_demo_cohort_goes_through_the_services(db):
    """``manage.py seed_demo_pk`` (run by ./dev up): three LVGN6051 subjects with samples collected, shipped and
    their results imported through the results-file check; the PK page's NCA has a profile for each."""
    from django.core.management import call_command

    from pk.models import LabImport, Shipment
    from tests.conftest import load_trial
    from trials.models import Trial

    for code in ("BAT6005", "LVGN6051-ANLOTINIB", "QL1706"):
        load_trial(code)
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_pk")
    trial = Trial.objects.get(code="LVGN6051-ANLOTINIB")
    assert LabImport.objects.filter(trial=trial).count() == 1 and Shipment.objects.filter(trial=trial).count() == 1
    assert Sample.objects.filter(subject__trial=trial, status="missed").count() == 1
    from django.contrib.auth import get_user_model

    rows, _ = selectors.nca_rows(get_user_model().objects.get(username="pharmacokineticist"), trial)
    assert len(rows) == 3 and all(r.result.lambda_z for r in rows)
    from pk.demo import SUBJECTS

    # The demo profile's terminal rate is 0.0045/h times each subject's clearance factor.
    assert [r.result.lambda_z for r in rows] == [pytest.approx(0.0045 * f, rel=0.1) for _, _, f, *_ in SUBJECTS]
    call_command("seed_demo_pk")  # idempotent
    assert LabImport.objects.filter(trial=trial).count() == 1
