"""``manage.py endpoints``: the statistician's efficacy endpoints from CSV files, without the database.

Subcommands (contract in docs/endpoints.md; other tools parse the ``--json`` output)::

    endpoints km   --input FILE.csv --time COL --event COL [--group COL] [--json]
    endpoints bor  --input FILE.csv --first-dose FILE.csv --ref-start-window DAYS [--ref-confirm DAYS]
                   [--max-nr-ne K] [--accept-sd] [--unconfirmed] [--until-first-pd] [--json]
    endpoints rate --responders K --n N [--json]

The estimators are the pure rules: ``trialrules.survival`` (Kaplan–Meier as R ``survival``, Clopper–Pearson)
and ``trialrules.bor`` (best overall response as admiralonco). This command only reads the files, checks every
row before computing anything (one bad row, no output), and prints.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from trialrules.bor import RESPONSES, Assessment, BorInputError, BorOptions, best_overall_response
from trialrules.survival import KaplanMeier, exact_rate, kaplan_meier
from trialsite.csvfile import CsvFile, Row


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


# ------------------------------------------------------------------------------------------------
# The command
# ------------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Efficacy endpoints from CSV files: Kaplan–Meier, best overall response, exact rates (no database)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{km,bor,rate}")

        km = sub.add_parser("km", help="Kaplan–Meier curves with R survfit's log interval and median")
        km.add_argument("--input", required=True, metavar="FILE.csv", help="one row per subject")
        km.add_argument("--time", required=True, metavar="COL", help="column of times (>= 0)")
        km.add_argument("--event", required=True, metavar="COL", help="column: 1 = event, 0 = censored")
        km.add_argument("--group", metavar="COL", help="column of groups (one curve each, first-appearance order)")
        km.add_argument("--json", action="store_true", help="print a JSON list, one object per group")

        bor = sub.add_parser("bor", help="best overall response per subject (admiralonco)")
        bor.add_argument("--input", required=True, metavar="FILE.csv", help="time points: subject, date, response")
        bor.add_argument("--first-dose", required=True, metavar="FILE.csv", help="first doses: subject, date")
        bor.add_argument("--ref-start-window", required=True, type=_whole(0), metavar="DAYS",
                         help="days after the first dose from which SD and NON-CR/NON-PD count")
        bor.add_argument("--ref-confirm", type=_whole(0), default=28, metavar="DAYS",
                         help="minimum days to the confirming assessment (28)")
        bor.add_argument("--max-nr-ne", type=_whole(0), default=1, metavar="K",
                         help="NE assessments accepted in a confirmation period (1)")
        bor.add_argument("--accept-sd", action="store_true", help="accept one SD in a PR's confirmation period")
        bor.add_argument("--unconfirmed", action="store_true", help="unconfirmed BOR (derive_param_bor)")
        bor.add_argument("--until-first-pd", action="store_true", help="count assessments up to the first PD only")
        bor.add_argument("--json", action="store_true", help="print a JSON list, one object per subject")

        rate = sub.add_parser("rate", help="response rate with its Clopper–Pearson interval")
        rate.add_argument("--responders", required=True, type=_whole(0), metavar="K")
        rate.add_argument("--n", required=True, type=_whole(1), metavar="N")
        rate.add_argument("--json", action="store_true", help="print a JSON object")

    def handle(self, *args, **options):
        return getattr(self, f"_handle_{options['subcommand']}")(options)

    # km ------------------------------------------------------------------------------------------

    def _handle_km(self, options):
        columns = [options["time"], options["event"]] + ([options["group"]] if options["group"] else [])
        source = CsvFile("--input", options["input"], columns)
        groups: dict[str | None, tuple[list[float], list[int]]] = {}
        for row in source.rows:
            time = source.time(row, options["time"])
            event = source.event(row, options["event"])
            key = source.text(row, options["group"]) if options["group"] else None
            times, events = groups.setdefault(key, ([], []))
            times.append(time)
            events.append(event)
        curves = [kaplan_meier(times, events, group=key) for key, (times, events) in groups.items()]
        if options["json"]:
            self.stdout.write(json.dumps([km.as_json() for km in curves]))
            return
        for i, km in enumerate(curves):
            if i:
                self.stdout.write("")
            self.stdout.write(self._km_table(km))

    @staticmethod
    def _km_table(km: KaplanMeier) -> str:
        def num(value: float | None, spec: str) -> str:
            return "NA" if value is None else format(value, spec)

        title = "all subjects" if km.group is None else f"group {km.group}"
        lines = [
            f"{title}: n={km.n}, events={km.events}, median {num(km.median, 'g')} "
            f"(95% CI {num(km.lower, 'g')} to {num(km.upper, 'g')})",
            f"{'time':>10} {'n.risk':>7} {'n.event':>8} {'survival':>9} {'lower 95%':>10} {'upper 95%':>10}",
        ]
        for p in km.curve:
            lines.append(
                f"{num(p.time, 'g'):>10} {p.n_risk:>7} {p.n_event:>8} {num(p.survival, '.4f'):>9} "
                f"{num(p.lower, '.4f'):>10} {num(p.upper, '.4f'):>10}"
            )
        return "\n".join(lines)

    # bor -----------------------------------------------------------------------------------------

    def _handle_bor(self, options):
        doses = CsvFile("--first-dose", options["first_dose"], ["subject", "date"])
        first_dose: dict[str, date] = {}
        dose_row: dict[str, Row] = {}
        for row in doses.rows:
            subject = doses.text(row, "subject")
            day = doses.date(row, "date")
            if subject in first_dose:
                raise doses.error(row, "subject", f"subject {subject!r} already has a first dose at row "
                                                  f"{dose_row[subject].number} (line {dose_row[subject].line})")
            first_dose[subject], dose_row[subject] = day, row

        points = CsvFile("--input", options["input"], ["subject", "date", "response"])
        assessments: dict[str, list[Assessment]] = {subject: [] for subject in first_dose}
        seen: dict[tuple[str, date], Row] = {}
        for row in points.rows:
            subject = points.text(row, "subject")
            if subject not in first_dose:
                raise points.error(row, "subject", f"subject {subject!r} is not in the first-dose file {doses.path}")
            day = points.date(row, "date")
            response = points.text(row, "response").upper()
            if response not in RESPONSES:
                raise points.error(row, "response", f"unknown response {response!r} (accepted: {', '.join(RESPONSES)})")
            if (subject, day) in seen:
                other = seen[subject, day]
                raise points.error(row, "date", f"subject {subject!r} already has a time point on {day} at row "
                                                f"{other.number} (line {other.line}); one response per date")
            seen[subject, day] = row
            assessments[subject].append(Assessment(day, response))

        try:
            rules = BorOptions(
                ref_start_window=options["ref_start_window"], ref_confirm=options["ref_confirm"],
                max_nr_ne=options["max_nr_ne"], accept_sd=options["accept_sd"],
                confirmed=not options["unconfirmed"], until_first_pd=options["until_first_pd"],
            )
        except BorInputError as exc:
            raise CommandError(str(exc)) from None
        results = []
        for subject, day in first_dose.items():
            try:
                results.append((subject, best_overall_response(assessments[subject], day, rules)))
            except BorInputError as exc:
                raise CommandError(f"subject {subject!r}: {exc}") from None

        if options["json"]:
            self.stdout.write(json.dumps([
                {"subject": subject, "bor": bor.bor, "date": bor.date.isoformat() if bor.date else None}
                for subject, bor in results
            ]))
            return
        width = max(len("subject"), *(len(subject) for subject, _ in results))
        self.stdout.write(f"{'subject':<{width}}  {'BOR':<13}  {'date':<10}  reason")
        for subject, bor in results:
            day = bor.date.isoformat() if bor.date else "-"
            self.stdout.write(f"{subject:<{width}}  {bor.bor:<13}  {day:<10}  {bor.reason}")

    # rate ----------------------------------------------------------------------------------------

    def _handle_rate(self, options):
        k, n = options["responders"], options["n"]
        if k > n:
            raise CommandError(f"--responders: {k} is more than --n {n}")
        rate, lower, upper = exact_rate(k, n)
        if options["json"]:
            self.stdout.write(json.dumps({"rate": rate, "lower": lower, "upper": upper}))
            return
        self.stdout.write(
            f"{k}/{n} = {rate:.1%} (95% CI {lower:.1%} to {upper:.1%}, exact Clopper–Pearson)"
        )
