"""``manage.py visits``: the visit plan from the shell, and the overdue-watch benchmark.

    visits preview --protocol BAT6005 --first-dose 2026-01-05 [--last-dose 2026-06-01]
                   [--new-therapy 2026-07-01] [--follow-up-end 2027-01-01] [--json]
    visits benchmark [--rows 1000000] [--repeat 3]

``preview`` needs no database (the plan comes from the protocol file). ``benchmark`` works in a
throwaway schema of the configured PostgreSQL database that it drops afterwards; it never reads or
writes the application's tables.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from escalation.management.commands.escalation import find_protocol
from trialrules.visits import Anchors, VisitPlanError, plan_visits

RATIO_TARGET = 2.0


def _date(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option}: {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-05") from None


def _positive(option: str, text) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CommandError(f"{option}: {text!r} is not a whole number") from None
    if value < 1:
        raise CommandError(f"{option}: must be at least 1, got {value}")
    return value


class Command(BaseCommand):
    help = "Preview a protocol's visit plan (no database) or benchmark the overdue watch."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{preview,benchmark}")
        pre = sub.add_parser("preview", help="planned visits for a first dose (and optional anchors)")
        pre.add_argument("--protocol", required=True, metavar="CODE", help="protocol code of a file in protocols/")
        pre.add_argument("--first-dose", required=True, metavar="YYYY-MM-DD")
        pre.add_argument("--last-dose", metavar="YYYY-MM-DD",
                         help="end of treatment; without it the full cycle cap is planned")
        pre.add_argument("--new-therapy", metavar="YYYY-MM-DD", help="start of new anti-tumour therapy")
        pre.add_argument("--follow-up-end", metavar="YYYY-MM-DD", help="death, loss, withdrawal or study end")
        pre.add_argument("--json", action="store_true", help="print a JSON list")

        bench = sub.add_parser("benchmark", help="time one overdue pass against a bare SQL UPDATE")
        bench.add_argument("--rows", default="1000000", help="planned visits at full size (1000000); "
                                                             "a run at a tenth of it is timed first")
        bench.add_argument("--repeat", default="3", help="timings per size, the median is shown (3)")

    def handle(self, *args, subcommand, **options):
        if subcommand == "preview":
            return self.preview(options)
        return self.benchmark(_positive("--rows", options["rows"]), _positive("--repeat", options["repeat"]))

    # ------------------------------------------------------------------------------------------ preview

    def preview(self, options):
        first = _date("--first-dose", options["first_dose"])
        last = _date("--last-dose", options["last_dose"])
        new_therapy = _date("--new-therapy", options["new_therapy"])
        end = _date("--follow-up-end", options["follow_up_end"])
        if last is not None and last < first:
            raise CommandError(f"--last-dose: {last} is before --first-dose {first}")
        if new_therapy is not None and new_therapy < first:
            raise CommandError(f"--new-therapy: {new_therapy} is before --first-dose {first}")
        if end is not None and end < first:
            raise CommandError(f"--follow-up-end: {end} is before --first-dose {first}")
        data = find_protocol(options["protocol"])
        try:
            visits = plan_visits(data.get("visits", []), data.get("treatment", {}),
                                 Anchors(first_dose=first, last_dose=last, new_therapy=new_therapy,
                                         follow_up_end=end))
        except VisitPlanError as exc:
            raise CommandError(f"--protocol: {data.get('code')} visit plan: {exc}") from None
        if end is not None:
            visits = [v for v in visits if v.window.end < end]
        if options["json"]:
            self.stdout.write(json.dumps([v.as_json() for v in visits], indent=1))
            return
        self.stdout.write(f"{data['code']}: {len(visits)} visits from first dose {first}"
                          + (f", last dose {last}" if last else " (full cycle cap)"))
        for v in visits:
            self.stdout.write(f"  {v.code:<10} {v.kind:<10} {v.target}  window {v.window.start} – {v.window.end}")

    # ---------------------------------------------------------------------------------------- benchmark

    def benchmark(self, rows: int, repeat: int):
        from django.db import connection

        from visits.models import PlannedVisit

        if connection.vendor != "postgresql":
            raise CommandError("the benchmark needs PostgreSQL")
        schema = f"visits_bench_{os.getpid()}"
        table = PlannedVisit._meta.db_table
        today = date.today()
        sizes = sorted({max(1, rows // 10), rows})
        results = []
        self.stdout.write(f"overdue-pass benchmark in throwaway schema {schema} (dropped afterwards); "
                          f"median of {repeat}")
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{schema}"')
            for n in sizes:
                results.append(self._bench_size(connection, schema, table, n, today, repeat))
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.stdout.write("")
        self.stdout.write(f"{'rows':>10} {'flagged':>9} {'bare UPDATE s':>14} {'overdue pass s':>15} "
                          f"{'ratio':>6} {'µs/row':>7}")
        for r in results:
            self.stdout.write(f"{r['rows']:>10} {r['flagged']:>9} {r['bare']:>14.3f} {r['pass']:>15.3f} "
                              f"{r['ratio']:>6.2f} {r['us_per_row']:>7.2f}")
        final = results[-1]
        verdict = "met" if final["ratio"] < RATIO_TARGET else "NOT met"
        self.stdout.write(f"ratio at {final['rows']} rows: {final['ratio']:.2f} (target < {RATIO_TARGET}: {verdict})")
        if len(results) == 2:
            small, big = results
            scale = (big["pass"] / small["pass"]) if small["pass"] else float("inf")
            rows_factor = big["rows"] / small["rows"]
            self.stdout.write(f"scaling: {rows_factor:.0f}× the rows took {scale:.1f}× the time "
                              f"(linear = {rows_factor:.0f}×)")
        return None

    def _bench_size(self, connection, schema: str, table: str, n: int, today: date, repeat: int) -> dict:
        from django.db import transaction

        from visits.watch import flag_overdue

        qualified = f'"{schema}"."{table}"'
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {qualified}")
            # Same columns, constraints and indexes (the watch's partial index included); no foreign keys
            # and no audit triggers, so neither timed statement writes anywhere else.
            cursor.execute(f"CREATE TABLE {qualified} (LIKE {table} INCLUDING ALL)")
            # 40 visits per subject, 25 subjects per trial: many trials and subjects. Targets spread
            # over ~2.3 years around today; 10 % done, 5 % missed, the rest planned.
            sql = f"""
                INSERT INTO {qualified} (subject_id, code, kind, target, window_start, window_end, status,
                                          done_on, missed_reason, overdue, deviation)
                SELECT (g - 1) / 40 + 1,
                       'V' || ((g - 1) % 40),
                       (ARRAY['screening','dosing','imaging','eot','safety','survival'])[1 + (g % 6)],
                       d, d - 3, d + 3,
                       CASE WHEN g % 20 < 2 THEN 'done' WHEN g % 20 = 2 THEN 'missed' ELSE 'planned' END,
                       CASE WHEN g % 20 < 2 THEN d END,
                       CASE WHEN g % 20 = 2 THEN 'benchmark' ELSE '' END,
                       false, false
                  FROM generate_series(1, {int(n)}) AS g,
                       LATERAL (SELECT DATE '{today.isoformat()}' - 420 + ((g - 1) % 40) * 21
                                       + ((g - 1) / 40) % 7 AS d) AS t
                """  # noqa: S608 - schema/table names and numbers are ours
            cursor.execute(sql)
            if not connection.in_atomic_block:
                cursor.execute(f"VACUUM ANALYZE {qualified}")
        fill = time.perf_counter() - started
        bare_sql = (f"UPDATE {qualified} SET overdue = true, overdue_since = now() "  # noqa: S608
                    "WHERE status = 'planned' AND overdue = false AND window_end < %s")

        def reset():
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {qualified} SET overdue = false, overdue_since = NULL WHERE overdue")  # noqa: S608
                if not connection.in_atomic_block:
                    cursor.execute(f"VACUUM ANALYZE {qualified}")

        bare_times, pass_times = [], []

        def time_bare() -> int:
            reset()
            with transaction.atomic(), connection.cursor() as cursor:
                t0 = time.perf_counter()
                cursor.execute(bare_sql, [today])
                bare_times.append(time.perf_counter() - t0)
                return cursor.rowcount

        def time_pass() -> int:
            reset()
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f'SET LOCAL search_path TO "{schema}", public')
                    cursor.execute(f"SELECT %s::regclass = '{table}'::regclass", [f"{schema}.{table}"])
                    if not cursor.fetchone()[0]:
                        raise CommandError("benchmark: the scratch table does not shadow the real one; stopped")
                t0 = time.perf_counter()
                flagged = flag_overdue(today)  # the watch's own code path (ORM, pghistory context)
                pass_times.append(time.perf_counter() - t0)
                return flagged

        for i in range(repeat):  # alternate the order so neither side always runs first
            if i % 2:
                flagged, bare_rows = time_pass(), time_bare()
            else:
                bare_rows, flagged = time_bare(), time_pass()
            if flagged != bare_rows:
                raise CommandError(f"benchmark: the pass flagged {flagged} rows, the bare UPDATE {bare_rows}")
        bare, passed = statistics.median(bare_times), statistics.median(pass_times)
        self.stdout.write(f"  {n} rows filled in {fill:.1f} s; {flagged} overdue to flag")
        return {"rows": n, "flagged": flagged, "bare": bare, "pass": passed,
                "ratio": passed / bare if bare else float("inf"),
                "us_per_row": passed / n * 1e6, "fill": fill}
