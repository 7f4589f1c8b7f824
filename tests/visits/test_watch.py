"""The visit watch: overdue visits flagged set-based, site staff notified once (in-app and e-mail),
however often the task runs, and when two runs overlap; time travel across window boundaries."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import Notification
from visits.models import PlannedVisit
from visits.services import visit_record_done
from visits.tasks import watch_visits
from visits.watch import flag_overdue, notify, notify_new_staff, run_watch

FIRST = date(2026, 1, 5)
C2_END = date(2026, 1, 29)  # C2D1 window 23–29 Jan 2026; screening's closed on the first dose


NOTHING = {"flagged": 0, "overdue": 0, "due_soon": 0, "due_soon_visits": 0, "new_staff": 0, "new_staff_notices": 0,
           "samples_flagged": 0, "sample_overdue": 0, "emailed": 0}


def without_samples() -> None:
    """These tests count visits, notices and e-mails exactly: BAT6005's PK samples (which join the same watch,
    tested in tests/pk/test_pk_app.py) are taken out of the picture."""
    from pk.models import Sample

    Sample.objects.all().delete()


def state(code: str) -> tuple[bool, int]:
    visit = PlannedVisit.objects.get(code=code)
    return visit.overdue, Notification.objects.filter(visit=visit, kind="overdue").count()


@pytest.mark.django_db
def test_time_travel_across_the_c2_window(subject_factory, site_a, people):
    subject_factory(site_a, first_dose=FIRST)
    without_samples()
    visit_record_done(visit=PlannedVisit.objects.get(code="SCR"), user=people["coordinator"],
                      done_on=FIRST - timedelta(days=3), today=FIRST)
    # Four days before the window opens: nothing due, nothing overdue (the first run meets the three site staff).
    assert run_watch(date(2026, 1, 19)) == {**NOTHING, "new_staff": 3}
    # Three days before it opens: due soon, for the coordinator and the investigator of site A only.
    result = run_watch(date(2026, 1, 20))
    assert result["due_soon"] == 2 and result["due_soon_visits"] == 1 and result["flagged"] == 0
    assert set(Notification.objects.filter(kind="due_soon").values_list("recipient__username", flat=True)) == {
        "coordinator", "investigator"}
    # Last day of the window: still not overdue.
    assert run_watch(C2_END)["flagged"] == 0
    assert state("C2D1") == (False, 0)
    # The day after: overdue, notified once per recipient; re-running changes nothing.
    result = run_watch(C2_END + timedelta(days=1))
    assert result["flagged"] == 1 and result["overdue"] == 2
    assert state("C2D1") == (True, 2)
    assert run_watch(C2_END + timedelta(days=2)) == NOTHING
    # E-mail: one per recipient per run with new notices (due soon, then overdue), never repeated.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [people["coordinator"].email, people["investigator"].email] * 2)
    assert any("C2D1 is overdue" in m.body for m in mail.outbox)
    # Neither the sponsor nor site B's coordinator heard of a site-A visit.
    assert not Notification.objects.filter(recipient__in=[people["sponsor"], people["coordinator_b"]]).exists()


@pytest.mark.django_db
def test_done_and_missed_visits_are_never_overdue(subject_factory, site_a, people):
    subject_factory(site_a, first_dose=FIRST)
    today = date(2026, 3, 1)
    c2, c3 = PlannedVisit.objects.get(code="C2D1"), PlannedVisit.objects.get(code="C3D1")
    visit_record_done(visit=c2, user=people["coordinator"], done_on=date(2026, 2, 2), today=today)
    from visits.services import visit_record_missed

    visit_record_missed(visit=c3, user=people["coordinator"], missed_reason="Patient declined")
    assert flag_overdue(today) == 2  # SCR and IMG-W6 (window closed 23 Feb)
    assert set(PlannedVisit.objects.filter(overdue=True).values_list("code", flat=True)) == {"SCR", "IMG-W6"}


@pytest.mark.django_db
def test_the_pass_is_set_based(subject_factory, site_a, site_b, people):
    today = date(2027, 1, 1)
    subject_factory(site_a, first_dose=FIRST)
    notify_new_staff(today)  # the site staff met once (their backlog: nothing yet)
    with CaptureQueriesContext(connection) as one:
        flag_overdue(today)
        notify(today)
    flagged_one = PlannedVisit.objects.filter(overdue=True).count()
    PlannedVisit.objects.update(overdue=False)
    Notification.objects.all().delete()
    for _ in range(5):
        subject_factory(site_b, first_dose=FIRST, user=people["coordinator_b"])
    with CaptureQueriesContext(connection) as six:
        flagged = flag_overdue(today)
        notify(today)
    assert flagged == 6 * flagged_one > 6
    assert len(six.captured_queries) == len(one.captured_queries) <= 6  # no per-row statements


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_notify_and_email_once(subject_factory, site_a, people):
    for _ in range(3):
        subject_factory(site_a, first_dose=FIRST)
    without_samples()
    today = "2026-09-01"
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            results.append(watch_visits(today))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    overdue = PlannedVisit.objects.filter(overdue=True).count()
    assert overdue > 3
    assert sum(r["flagged"] for r in results) == overdue  # each visit flagged by exactly one run
    assert Notification.objects.filter(kind="overdue").count() == 2 * overdue  # coordinator + investigator
    assert sum(r["overdue"] for r in results) == 2 * overdue
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
    # Every notice went out in exactly one e-mail, whichever run claimed it (a recipient's notices may be
    # split over the two runs' e-mails, never repeated).
    lines = [(m.to[0], line) for m in mail.outbox for line in m.body.splitlines() if line.startswith("- ")]
    assert len(lines) == len(set(lines)) == 2 * overdue
    sent = len(mail.outbox)
    # A third run (a retry) adds nothing.
    assert watch_visits(today)["overdue"] == 0 and len(mail.outbox) == sent
