"""Samples and PK in headless Chromium: a coordinator records a dosed BAT6005 subject's samples (a post-dose
time before the dose refused on its row, a double click recording one collection, a missed sample refused
without its reason), prints the tube labels and ships the collected samples (an empty box refused first); the
pharmacokineticist imports the lab's file (a wrong one refused whole, each problem named by its row), sees the
PK page drawn under the Content-Security-Policy and chooses a profile's λz points (2 refused, 3 with a reason
kept); the sponsor sees the PK de-identified, and the PK on the escalation decision page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from pk import services
from pk.forms import hours_value
from pk.models import LabResult, LambdaZChoice, Sample
from tests.browser.test_double_click import double_click, settle
from tests.browser.test_trial_loop_browser import log_in
from tests.conftest import member
from tests.pk.test_pk_app import conc, dose_at, results_file, sample
from tests.test_decision_notices import past_window_decision
from trials.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
# When the rest of cycle 1 was taken, as a clinic takes them: minutes after (or before) each nominal time, all
# inside the protocol's windows.
TAKEN = {"C1-PK-pre": -10, "C1-PK-4h": 5, "C1-PK-24h": 30, "C1-PK-72h": 60, "C1-PK-168h": 20, "C1-PK-336h": 120}


def _local(moment) -> str:
    """A datetime-local input's value (the browser's entry, to the minute, in the site's time zone)."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _charts_drawn(page) -> dict:
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every("
                           "el => el.dataset.chartDrawn === 'yes' || el.dataset.chartDrawn === 'failed')")
    return page.evaluate("() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map("
                         "el => [el.dataset.chart, [el.dataset.chartDrawn, el.querySelectorAll('svg path, svg "
                         "rect, svg text').length]]))")


def _collected_events(s: Sample) -> int:
    return Sample.pgh_event_model.objects.filter(pgh_obj_id=s.pk, status="collected").count()


def _hours(s: Sample) -> float:
    return (s.collected_at - s.dose.administered_at).total_seconds() / 3600


def test_samples_to_pk_through_the_pages(page, shot, people, bat6005, site_a):
    decision = past_window_decision(bat6005, site_a, people["coordinator"])
    subject = decision.cohort.subjects.get()
    services.samples_plan_for_subject(subject=subject)
    member(bat6005, Role.PHARMACOKINETICIST, None, "pkist")
    start = dose_at(subject)
    page.add_init_script(CSP_WATCH)

    # --- the coordinator at the site -------------------------------------------------------------------------
    log_in(page, "coordinator")
    page.goto(f"/subjects/{subject.pk}/")
    shot(page, "subject")
    page.click(f"main a[href='/pk/subjects/{subject.pk}/']")
    page.wait_for_url(f"**/pk/subjects/{subject.pk}/")
    one = sample(subject, "C1-PK-1h")
    row = f"#sample-{one.pk}"
    assert "planned" in page.inner_text(row) or "overdue" in page.inner_text(row)
    shot(page, "samples")

    # A post-dose sample before the dose: refused on its own row, what was typed kept, nothing saved.
    early = _local(start - timedelta(minutes=30))
    page.fill(f"#id_s{one.pk}-collected_at", early)
    page.click(f"{row} form[action$='/collect/'] button[type=submit]")
    page.wait_for_selector(f"{row} .alert.error")
    assert "cannot be taken before it" in page.inner_text(f"{row} .alert.error")
    assert page.input_value(f"#id_s{one.pk}-collected_at") == early
    assert page.locator("#samples .alert.error").count() == 1  # only that row
    assert sample(subject, "C1-PK-1h").status == "planned"
    shot(page, "collect-before-dose")

    # The right time (3 minutes after the nominal hour, inside its 0–10 min window), the button double-clicked.
    taken = (start + timedelta(hours=1, minutes=3)).replace(second=0, microsecond=0)
    page.fill(f"#id_s{one.pk}-collected_at", _local(taken))
    double_click(page, f"{row} form[action$='/collect/'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/pk/subjects/{subject.pk}/"))
    settle(page)
    one = sample(subject, "C1-PK-1h")
    assert one.status == "collected" and one.collected_at == taken and not one.deviation
    assert _collected_events(one) == 1  # recorded once
    assert "collected" in page.inner_text(row) and page.locator(f"{row} form").count() == 0
    shot(page, "collected")

    # Missed without saying why: refused; with the reason: missed, the reason shown.
    ro = sample(subject, "C1-RO-24h")
    row_ro = f"#sample-{ro.pk}"
    page.click(f"{row_ro} summary")
    page.click(f"{row_ro} form[action$='/missed/'] button[type=submit]")
    page.wait_for_selector(f"{row_ro} .alert.error")
    assert "Say why the sample was not taken" in page.inner_text(f"{row_ro} .alert.error")
    assert sample(subject, "C1-RO-24h").status == "planned"
    shot(page, "missed-without-reason")
    page.fill(f"#id_m{ro.pk}-missed_reason", "Patient left before the 24 h draw")
    page.click(f"{row_ro} form[action$='/missed/'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/pk/subjects/{subject.pk}/"))
    assert sample(subject, "C1-RO-24h").status == "missed"
    assert "Patient left before the 24 h draw" in page.inner_text(row_ro)
    shot(page, "missed")

    # The labels of the samples still to take: each sample ID as text and as a QR code.
    page.click("text=Print labels (samples to take)")
    page.wait_for_url(f"**/pk/subjects/{subject.pk}/labels/")
    planned = list(Sample.objects.filter(subject=subject, status="planned").values_list("sample_id", flat=True))
    labels = page.locator(".labels .label")
    assert labels.count() == len(planned) > 0
    assert page.locator(".labels .label .label-qr svg").count() == len(planned)
    text = page.inner_text(".labels")
    assert all(sample_id in text for sample_id in planned)
    assert one.sample_id not in text and ro.sample_id not in text
    # Each label's text fits its 62 × 25 mm label (nothing of a sample ID cut off when printed).
    clipped = page.eval_on_selector_all(".labels .label", "els => els.filter(el => el.scrollHeight > el.clientHeight "
                                        "|| el.scrollWidth > el.clientWidth).map(el => el.innerText.split('\\n')[0])")
    shot(page, "labels")

    # The rest of cycle 1 recorded too (as the day went on), then the box shipped.
    for code, minutes in TAKEN.items():
        s = sample(subject, code)
        services.sample_collect(sample=s, user=people["coordinator"],
                                collected_at=s.nominal_at + timedelta(minutes=minutes))
    page.goto(f"/pk/subjects/{subject.pk}/")
    page.click("main .toolbar >> text=Ship samples")
    page.wait_for_url("**/pk/trials/BAT6005/shipments/")
    collected = list(Sample.objects.filter(subject=subject, status="collected").order_by("sample_id"))
    assert page.locator("input[name=samples]").count() == len(collected) == 7
    page.fill("#id_lab", "Central PK lab")
    page.fill("#id_tracking", "1Z999AA10123456784")
    page.click("form:has(#id_lab) button[type=submit]")
    page.wait_for_selector("form:has(#id_lab) .error")
    assert "Choose the samples in the box" in page.inner_text("form:has(#id_lab)")
    assert not Sample.objects.filter(shipment__isnull=False).exists()
    shot(page, "shipment-empty")
    for box in page.locator("input[name=samples]").all():
        box.check()
    page.click("form:has(#id_lab) button[type=submit]")
    page.wait_for_url(re.compile(r"/pk/shipments/\d+/$"))
    manifest = page.inner_text("#manifest")
    assert all(s.sample_id in manifest for s in collected)
    assert Sample.objects.filter(subject=subject, shipment__isnull=False).count() == 7
    shot(page, "manifest")
    assert page.evaluate("window.__csp") == []
    assert page.problems == []

    # --- the pharmacokineticist ----------------------------------------------------------------------------
    pk_samples = sorted(Sample.objects.filter(subject=subject, kind="pk", cycle=1, status="collected")
                        .select_related("dose"), key=lambda s: s.nominal_hours)
    good = results_file(subject, [(s.sample_id, "BLQ" if s.nominal_hours == 0 else f"{conc(_hours(s)):.4f}")
                                  for s in pk_samples])
    bad = good.replace(b"ug/mL", b"ng/mL", 1) + f"{subject.code}-C9-PK-pre,BAT6005,1,ug/mL,0.1\n".encode()
    log_in(page, "pkist")
    page.goto("/pk/trials/BAT6005/import/")
    page.set_input_files("#id_file", files=[{"name": "run1-draft.csv", "mimeType": "text/csv", "buffer": bad}])
    page.click("form:has(#id_file) button[type=submit]")
    page.wait_for_selector("#import-report")
    cells = [[c.strip() for c in r.split("\t")] for r in page.inner_text("#import-report tbody").splitlines()]
    by_row = {(r[0], r[2]) for r in cells}
    assert ("1", "unit") in by_row and ("8", "sample_id") in by_row, cells
    assert "Nothing was imported" in page.inner_text("#import-report")
    assert not LabResult.objects.exists()
    shot(page, "import-refused")

    page.set_input_files("#id_file", files=[{"name": "run1.csv", "mimeType": "text/csv", "buffer": good}])
    page.click("form:has(#id_file) button[type=submit]")
    page.wait_for_url("**/pk/trials/BAT6005/")
    assert LabResult.objects.count() == 7
    assert "7 results imported from run1.csv" in page.inner_text(".messages")
    drawn = _charts_drawn(page)
    assert drawn and all(state == "yes" and marks > 0 for state, marks in drawn.values()), drawn
    assert subject.code in page.inner_text("#nca-table")
    shot(page, "pk-overview")
    assert page.evaluate("window.__csp") == []

    page.click(f"#nca-table a[href='/pk/subjects/{subject.pk}/cycles/1/lambda-z/']")
    page.wait_for_url(f"**/pk/subjects/{subject.pk}/cycles/1/lambda-z/")
    drawn = _charts_drawn(page)
    assert drawn == {"chart-profile": ["yes", drawn["chart-profile"][1]]} and drawn["chart-profile"][1] > 0
    shot(page, "lambda-z")
    times = {s.code: hours_value(round(_hours(s), 4)) for s in pk_samples}
    boxes = {code: page.locator(f"input[name=times][value='{value}']") for code, value in times.items()
             if code != "C1-PK-pre"}
    assert all(box.count() == 1 for box in boxes.values()), times
    for box in page.locator("input[name=times]").all():
        box.uncheck()
    boxes["C1-PK-168h"].check()
    boxes["C1-PK-336h"].check()
    page.fill("#id_reason", "Two points only")
    page.click("form:has(#id_reason) button[type=submit]")
    page.wait_for_selector("form:has(#id_reason) .error")
    assert "at least 3" in page.inner_text("form:has(#id_reason)")
    assert not LambdaZChoice.objects.exists()
    shot(page, "lambda-z-two-points")
    for box in page.locator("input[name=times]").all():
        box.uncheck()
    for code in ("C1-PK-24h", "C1-PK-72h", "C1-PK-168h"):
        boxes[code].check()
    page.fill("#id_reason", "336 h sample haemolysed")
    page.click("form:has(#id_reason) button[type=submit]")
    page.wait_for_url(re.compile(rf"/pk/trials/BAT6005/(#profile-{subject.pk}-1)?$"))
    choice = LambdaZChoice.objects.get(subject=subject, cycle=1)
    assert len(choice.times) == 3 and choice.reason == "336 h sample haemolysed"
    assert "chosen" in page.inner_text(f"#profile-{subject.pk}-1")
    _charts_drawn(page)
    shot(page, "pk-overview-chosen")
    assert page.evaluate("window.__csp") == []
    assert page.problems == []

    # --- the sponsor ---------------------------------------------------------------------------------------
    log_in(page, "sponsor")
    page.goto("/pk/trials/BAT6005/")
    drawn = _charts_drawn(page)
    assert drawn and all(state == "yes" for state, _ in drawn.values()), drawn
    text = page.inner_text("main")
    assert "Subject 1" in page.inner_text("#nca-table") and subject.code not in text
    assert page.locator("main a[href*='/lambda-z/']").count() == 0
    assert page.locator("main a[href$='/import/']").count() == 0
    shot(page, "pk-overview-sponsor")
    page.goto(f"/escalation/decisions/{decision.pk}/")
    section = page.inner_text("#decision-pk")
    assert "PK available" in section and "n = 1" in section
    assert subject.code not in page.inner_text("main")
    page.locator("#decision-pk").scroll_into_view_if_needed()
    shot(page, "decision-sponsor")
    assert page.evaluate("window.__csp") == []
    assert page.problems == []
    assert clipped == [], f"label text cut off: {clipped}"
