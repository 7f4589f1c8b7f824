"""``manage.py visits``: the visit plan from the shell, and the overdue-watch benchmark.

    visits preview --protocol BAT6005 --first-dose 2026-01-05 [--last-dose 2026-06-01]
                   [--new-therapy 2026-07-01] [--follow-up-end 2027-01-01] [--json]
    visits benchmark [--rows 1000000] [--repeat 3]

``preview`` needs no database (the plan comes from the protocol file). ``benchmark`` times the watch's overdue
pass against a bare UPDATE on the real visits table, audit triggers on, with synthetic rows inserted in a
transaction that is rolled back (visits.bench): the application's data are left as they were.
"""

from __future__ import annotations

import json
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

        from visits.bench import overdue_ratio

        if connection.vendor != "postgresql":
            raise CommandError("the benchmark needs PostgreSQL")
        sizes = sorted({max(1, rows // 10), rows})
        self.stdout.write(f"overdue-pass benchmark on the real visits table, its audit triggers on (synthetic rows, "
                          f"rolled back afterwards); median of {repeat}")
        results = []
        for n in sizes:
            t0 = time.perf_counter()
            figures = overdue_ratio(n, repeat)
            results.append({"rows": n, "flagged": figures["flagged"], "bare": figures["bare_s"],
                            "pass": figures["pass_s"], "ratio": figures["ratio"],
                            "us_per_row": figures["pass_s"] / n * 1e6})
            self.stdout.write(f"  {n} rows measured in {time.perf_counter() - t0:.1f} s; {figures['flagged']} flagged")
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
