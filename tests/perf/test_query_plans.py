"""Portfolio scale (issue 14): the hottest statements can be served by their indexes. Each statement is
built by the application's own code (the SQL captured from the real function, or the real queryset) and
explained with ``SET LOCAL enable_seqscan = off``, so that the few rows of a test cannot make the planner
prefer a sequential scan: what is checked is that an index CAN serve the predicate. The plan must use the
named index (from the models' Meta) and must not read the big table sequentially."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation import selectors as escalation_selectors
from notifications.models import Notification
from notifications.services import unread_count
from notifications.views import PER_PAGE, list_queryset
from subjects.models import AdverseEvent, DoseAdministration, Subject
from tests.test_decision_safety import lvgn_with_people
from tests.visits.conftest import make_subject
from visits import watch
from visits.selectors import attention_visits

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


BIG_TABLES = ("visits_plannedvisit", "subjects_doseadministration", "subjects_adverseevent", "subjects_subject",
              "notifications_notification")


def explain(sql: str, params=None) -> dict:
    """The plan of ``sql`` (EXPLAIN, not run) with sequential scans disabled and the tables' statistics
    read from the test's rows (ANALYZE: without statistics every partial index looks alike to the
    planner), in a savepoint rolled back (so the setting ends with it)."""
    found = {}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(BIG_TABLES))
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            raw = cursor.fetchone()[0]
            found["plan"] = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            raise _Rollback
    except _Rollback:
        pass
    return found["plan"]


def explain_queryset(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    return explain(sql, params)


def nodes(plan: dict, table: str | None = None):
    """Every node of the plan with the table it reads (a bitmap index scan's is its heap scan's)."""
    table = plan.get("Relation Name", table if plan["Node Type"].startswith("Bitmap") else None)
    yield plan, table
    for child in plan.get("Plans", []):
        yield from nodes(child, table if plan["Node Type"] in ("Bitmap Heap Scan", "BitmapAnd", "BitmapOr")
                         else None)


def indexes_used(plan: dict, table: str | None = None) -> set[str]:
    return {n["Index Name"] for n, on in nodes(plan) if "Index Name" in n and (table is None or on == table)}


def seq_scans(plan: dict) -> set[str]:
    return {n.get("Relation Name") for n, _ in nodes(plan) if n["Node Type"] == "Seq Scan"}


def captured(function, *args, marker: str, **kwargs) -> str:
    """The SQL of the statement the real ``function`` ran that contains ``marker`` (it does run)."""
    with CaptureQueriesContext(connection) as queries:
        function(*args, **kwargs)
    statements = [q["sql"] for q in queries.captured_queries if marker in q["sql"]]
    assert len(statements) == 1, [q["sql"] for q in queries.captured_queries]
    # pghistory sends its context with the statement ("SELECT set_config(...); <statement>"): EXPLAIN the
    # statement.
    return re.sub(r"^\s*SELECT set_config\('pghistory[^;]*;\s*", "", statements[0])


def index_names(table: str, *, first_column: str) -> set[str]:
    """The indexes of ``table`` whose first key column is ``first_column`` (a foreign key's index is named
    by Django with a hash: read from the catalogue, not spelled here)."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT i.relname FROM pg_index x
                            JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
                           WHERE t.relname = %s AND a.attname = %s""", [table, first_column])
        return {row[0] for row in cursor.fetchall()}


VISITS = "visits_plannedvisit"


@pytest.fixture
def visits(bat6005, people, site_a):
    """Subjects dosed 37 days ago (visits overdue, open, due soon) and 10 days ago."""
    today = timezone.localdate()
    for days in (37, 37, 10):
        make_subject(bat6005, site_a, people["coordinator"], first_dose=today - timedelta(days=days), cycles=2)
    return today


def test_the_overdue_flag_reads_visit_watch_idx(visits):
    sql = captured(watch.flag_overdue_and_notify, visits, marker="SET overdue = true")
    plan = explain(sql)
    assert "visit_watch_idx" in indexes_used(plan, VISITS), json.dumps(plan, indent=1)
    assert VISITS not in seq_scans(plan)


def test_the_due_soon_pass_reads_visit_due_soon_idx(visits):
    sql = captured(watch.notify_due_soon, visits, marker="SET due_soon_notified = true")
    plan = explain(sql)
    assert "visit_due_soon_idx" in indexes_used(plan, VISITS), json.dumps(plan, indent=1)
    assert VISITS not in seq_scans(plan)


def test_the_attention_list_reads_the_overdue_and_open_indexes(visits, people, bat6005):
    for trial in (None, bat6005):
        plan = explain_queryset(attention_visits(people["coordinator"], today=visits, trial=trial))
        used = indexes_used(plan, VISITS)
        assert used & {"visit_overdue_idx", "visit_open_idx"}, json.dumps(plan, indent=1)
        assert VISITS not in seq_scans(plan)


DOSES, EVENTS = "subjects_doseadministration", "subjects_adverseevent"


def _escalation_subjects_with_records(trial, site, user, *, subjects: int, events: int, doses: int):
    cohort = trial.cohorts.filter(escalation=True).order_by("number").first()
    drug = trial.drugs.order_by("order").first()
    first = timezone.now() - timedelta(days=60)
    for _ in range(subjects):
        subject = make_subject(trial, site, user, first_dose=first.date(), cycles=1)
        Subject.objects.filter(pk=subject.pk).update(cohort=cohort)
        DoseAdministration.objects.bulk_create([
            DoseAdministration(subject=subject, drug=drug, cycle=c + 2, day=1, dose=10, unit="mg", recorded_by=user,
                               administered_at=first + timedelta(days=21 * (c + 1))) for c in range(doses)])
        AdverseEvent.objects.bulk_create([
            AdverseEvent(subject=subject, term="Fatigue", grade=1 + i % 3, onset_date=first.date() + timedelta(days=i),
                         attribution="possible", recorded_by=user) for i in range(events)])


def test_the_escalation_evidence_reads_doses_and_events_by_subject(escalated, people, site_a):
    # The trial's escalation subjects, and a portfolio's other trial with many more records: the planner
    # must reach the trial's doses and events through their subject, not by reading the tables.
    _escalation_subjects_with_records(escalated, site_a, people["coordinator"], subjects=2, events=3, doses=2)
    other, staff = lvgn_with_people(site_a, site_a)
    _escalation_subjects_with_records(other, site_a, staff["coordinator"], subjects=8, events=60, doses=20)
    doses_by_subject = index_names(DOSES, first_column="subject_id")
    events_by_subject = index_names(EVENTS, first_column="subject_id")
    assert doses_by_subject and events_by_subject  # the foreign keys' indexes, at least

    plan = explain_queryset(escalation_selectors._escalation_subjects(escalated))
    # The first live dose: the first entry of dose_first_idx (subject, administered_at) WHERE voided_at IS NULL.
    assert indexes_used(plan, DOSES) == {"dose_first_idx"}, json.dumps(plan, indent=1)
    assert DOSES not in seq_scans(plan)

    plan = explain_queryset(escalation_selectors._in_window_events(escalated, 21))
    assert indexes_used(plan, DOSES) and indexes_used(plan, DOSES) <= doses_by_subject, json.dumps(plan, indent=1)
    assert indexes_used(plan, EVENTS) and indexes_used(plan, EVENTS) <= events_by_subject, json.dumps(plan, indent=1)
    assert not seq_scans(plan) & {DOSES, EVENTS}, json.dumps(plan, indent=1)


def test_the_notifications_page_reads_notification_list_idx(people):
    user = people["coordinator"]
    now = timezone.now()
    Notification.objects.bulk_create([
        Notification(recipient=user, kind=Notification.Kind.OVERDUE, message=f"n{i}",
                     created_at=now - timedelta(hours=i), read_at=None if i % 2 else now - timedelta(minutes=i))
        for i in range(3000)])  # a portfolio user's: a sort of them all would cost
    page = list_queryset(user)[PER_PAGE:2 * PER_PAGE]  # the second page, as the paginator slices it
    plan = explain_queryset(page)
    assert "notification_list_idx" in indexes_used(plan, "notifications_notification"), json.dumps(plan, indent=1)
    assert not any(n["Node Type"] in ("Sort", "Incremental Sort") for n, _ in nodes(plan)), json.dumps(plan, indent=1)
    assert plan["Node Type"] == "Limit"
    # The unread count: the partial index of the unread notices.
    fresh = type(user).objects.get(pk=user.pk)  # no count of this request kept on it
    plan = explain(captured(unread_count, fresh, marker="COUNT(*)"))
    # Either index serves it (the list index holds the unread notices first, read_at NULL).
    used = indexes_used(plan, "notifications_notification")
    assert used and used <= {"notification_unread_idx", "notification_list_idx"}, json.dumps(plan, indent=1)
    assert "notifications_notification" not in seq_scans(plan)
