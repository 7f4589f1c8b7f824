"""Measurements of the visit watch on the REAL visits table, with its audit triggers, inside a transaction that is
rolled back: the application's data are left as they were.

- :func:`overdue_ratio`: the watch's overdue pass (:func:`visits.watch.flag_overdue`, the statement the watch runs)
  against a bare ``UPDATE`` of the same rows, each on fresh rows (a savepoint rolled back between runs).
- :func:`watch_runs`: :func:`visits.watch.run_watch` twice in a row on the data as they are (first run, then the
  steady state), time and statements of each, rolled back too unless ``keep=True``.

``manage.py visits benchmark`` prints the first; the portfolio benchmark calls both.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import date, timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

RATIO_TARGET = 2.0
VISITS_PER_SUBJECT = 40

# The watch's predicate, as a bare statement: what the pass is compared with.
BARE_SQL = ("UPDATE {table} SET overdue = true, overdue_since = now() "
            "WHERE status = 'planned' AND NOT overdue AND window_end < %s")


def _synthetic_subjects(n_subjects: int):
    """A synthetic site, trial, user and ``n_subjects`` subjects (inside the caller's transaction)."""
    from django.contrib.auth import get_user_model

    from subjects.models import Subject
    from trials.models import Site, Trial

    tag = f"bench{os.getpid()}{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create(username=tag, is_active=False)
    site = Site.objects.create(code=tag[:20], name="Benchmark site (rolled back)")
    trial = Trial.objects.create(code=tag.upper(), title="Benchmark trial (rolled back)", phase="I",
                                 design=Trial.Design.THREE_PLUS_THREE)
    trial.sites.add(site)
    Subject.objects.bulk_create(
        [Subject(trial=trial, site=site, code=f"{tag}-{i:06d}", initials="BM", date_of_birth=date(1960, 1, 1),
                 sex="F", enrolled_by=user, status=Subject.Status.ON_TREATMENT) for i in range(n_subjects)],
        batch_size=2000,
    )
    return trial, site, user


def _insert_visits(trial, rows: int, today: date) -> None:
    """``rows`` planned, done and missed visits for the trial's subjects, one INSERT … SELECT: 40 visits a
    subject, targets spread over ~2.3 years around ``today``; 10 % done, 5 % missed, the rest planned
    (~42 % of the rows overdue-eligible)."""
    from subjects.models import Subject
    from visits.models import PlannedVisit

    table = connection.ops.quote_name(PlannedVisit._meta.db_table)
    subjects = connection.ops.quote_name(Subject._meta.db_table)
    sql = f"""
        WITH s AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM {subjects} WHERE trial_id = %(trial)s)
        INSERT INTO {table} (subject_id, code, kind, target, window_start, window_end, status, done_on,
                             missed_reason, overdue, due_soon_notified, deviation)
        SELECT s.id, 'V' || ((g - 1) %% 40),
               (ARRAY['screening','dosing','imaging','eot','safety','survival'])[1 + (g %% 6)],
               d, d - 3, d + 3,
               CASE WHEN g %% 20 < 2 THEN 'done' WHEN g %% 20 = 2 THEN 'missed' ELSE 'planned' END,
               CASE WHEN g %% 20 < 2 THEN d END,
               CASE WHEN g %% 20 = 2 THEN 'benchmark' ELSE '' END,
               false, false, false
          FROM generate_series(1, %(rows)s) AS g
          JOIN s ON s.n = (g - 1) / 40,
               LATERAL (SELECT %(today)s::date - 420 + ((g - 1) %% 40) * 21 + ((g - 1) / 40) %% 7 AS d) AS t
    """  # noqa: S608 - table names are the models'
    with connection.cursor() as cursor:
        cursor.execute(sql, {"trial": trial.pk, "rows": rows, "today": today})
        cursor.execute(f"ANALYZE {table}")


def overdue_ratio(rows: int = 100_000, repeat: int = 3, *, today: date | None = None) -> dict:
    """The watch's overdue pass against a bare UPDATE with the same predicate, on the real visits table with
    its triggers, after inserting ``rows`` synthetic visits; everything rolled back at the end.

    Each timing starts from the same rows (a savepoint rolled back after it); the order alternates between
    repeats. Returns ``{"rows", "flagged", "bare_s", "pass_s", "ratio", "target"}`` (medians of ``repeat``).
    The pass also flags (and notifies) the application's own eligible visits, as the watch would, and holds
    their row locks until the rollback.
    """
    from visits.models import PlannedVisit
    from visits.watch import flag_overdue

    if connection.vendor != "postgresql":
        raise RuntimeError("the benchmark needs PostgreSQL")
    today = today or date.today()
    table = connection.ops.quote_name(PlannedVisit._meta.db_table)
    bare_sql = BARE_SQL.format(table=table)
    times: dict[str, list[float]] = {"bare": [], "pass": []}
    counts: dict[str, int] = {}

    def bare() -> int:
        with connection.cursor() as cursor:
            cursor.execute(bare_sql, [today])
            return cursor.rowcount

    def watch_pass() -> int:
        return flag_overdue(today)

    with transaction.atomic():
        trial, _site, _user = _synthetic_subjects(-(-rows // VISITS_PER_SUBJECT))
        _insert_visits(trial, rows, today)
        for i in range(repeat):
            order = (("bare", bare), ("pass", watch_pass)) if i % 2 == 0 else (("pass", watch_pass), ("bare", bare))
            for name, run in order:
                point = transaction.savepoint()
                t0 = time.perf_counter()
                counts[name] = run()
                times[name].append(time.perf_counter() - t0)
                transaction.savepoint_rollback(point)
        transaction.set_rollback(True)
    if counts["bare"] != counts["pass"]:
        raise RuntimeError(f"the pass flagged {counts['pass']} rows, the bare UPDATE {counts['bare']}")
    bare_s, pass_s = statistics.median(times["bare"]), statistics.median(times["pass"])
    return {"rows": rows, "flagged": counts["pass"], "bare_s": bare_s, "pass_s": pass_s,
            "ratio": pass_s / bare_s if bare_s else float("inf"), "target": RATIO_TARGET}


def watch_runs(today: date | None = None, *, runs: int = 2, keep: bool = False) -> list[dict]:
    """``run_watch(today)`` ``runs`` times in a row on the data as they are (no e-mail): the first run, then
    the steady state. Per run: seconds, statements, and the run's own result (counts of rows flagged,
    notified and examined). Rolled back at the end unless ``keep``."""
    from django.utils import timezone

    from visits.watch import run_watch

    today = today or timezone.localdate()
    out = []
    with transaction.atomic():
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                result = run_watch(today, email=False)
                seconds = time.perf_counter() - t0
            out.append({"seconds": seconds, "queries": len(queries.captured_queries), "result": result})
        if not keep:
            transaction.set_rollback(True)
    return out


def days_later(today: date, n: int) -> date:
    return today + timedelta(days=n)
