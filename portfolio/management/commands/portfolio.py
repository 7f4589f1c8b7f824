"""``manage.py portfolio benchmark``: speed at portfolio scale, measured side by side in one run.

    portfolio benchmark [--scale 1.0] [--small-trials 3] [--database NAME] [--keep] [--reuse]
                        [--clients 8] [--seconds 10] [--requests 30] [--overdue-rows 100000] [--json FILE]

Builds the portfolio (trials, sites, subjects, planned visits, adverse events, doses: portfolio.build.Scale)
in a PostgreSQL database of its own, with the audit triggers on, and prints each page's query count at
small and at full scale, p50/p95 latency and the dashboard's throughput against a trivial logged-in view
under the gunicorn ``./dev up`` runs, the Celery jobs' time and queries (first run and steady state), the
overdue pass against a bare UPDATE on the real table, and the cold exact operating characteristics, each
beside its target. docs/performance.md documents every flag and JSON key.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.utils import timezone

from portfolio import build as portfolio_build
from portfolio import measure

# The comment the benchmark puts on its database: only such a database is dropped or reused.
MARK = "trialsite portfolio benchmark (manage.py portfolio benchmark)"

TARGETS = {
    "dashboard_p95_ms": 150.0,
    "throughput_ratio": 0.3,
    "overdue_ratio": 2.0,
    "cold_exact_s": 0.1,
}


def _positive(name: str, value: str, kind=int):
    try:
        number = kind(value)
    except ValueError:
        raise CommandError(f"{name}: need a number, got {value!r}") from None
    if number <= 0:
        raise CommandError(f"{name}: need a number greater than 0, got {value!r}")
    return number


class Command(BaseCommand):
    help = "Build a portfolio of trials in a database of its own and measure pages, API and jobs at its scale."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{benchmark}")
        bench = sub.add_parser("benchmark", help="build the portfolio and print the measurements beside the targets")
        bench.add_argument("--scale", default="1.0",
                           help="fraction of the full portfolio (1.0: 50 trials, 10 sites, 5,000 subjects, 500,000 "
                                "planned visits, 20,000 adverse events, 95,000 doses)")
        bench.add_argument("--small-trials", default="3", help="trials of the small portfolio measured first (3)")
        bench.add_argument("--database", help="name of the benchmark's database (default: <database>_portfolio); "
                                              "created, and dropped afterwards unless --keep")
        bench.add_argument("--keep", action="store_true", help="keep the benchmark's database afterwards")
        bench.add_argument("--reuse", action="store_true",
                           help="reuse a database a --keep run left (no build: the small-scale figures are skipped)")
        bench.add_argument("--clients", default="8", help="concurrent clients of the throughput test (8)")
        bench.add_argument("--seconds", default="10", help="seconds of each throughput test (10)")
        bench.add_argument("--requests", default="30", help="timed requests per page for p50/p95 (30)")
        bench.add_argument("--overdue-rows", default="100000",
                           help="planned visits of the overdue pass against the bare UPDATE (100000)")
        bench.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON ('-': stdout)")

    def handle(self, *args, **options):
        factor = _positive("--scale", options["scale"], float)
        self.small_trials = _positive("--small-trials", options["small_trials"])
        self.clients = _positive("--clients", options["clients"])
        self.seconds = _positive("--seconds", options["seconds"], float)
        self.requests = _positive("--requests", options["requests"])
        self.overdue_rows = _positive("--overdue-rows", options["overdue_rows"])
        if connection.vendor != "postgresql":
            raise CommandError("the benchmark needs PostgreSQL")
        self.scale = portfolio_build.Scale().times(factor) if factor != 1.0 else portfolio_build.Scale()
        if self.small_trials >= self.scale.trials:
            raise CommandError(f"--small-trials: need fewer than the portfolio's {self.scale.trials} trials, "
                               f"got {self.small_trials}")
        original = connection.settings_dict["NAME"]
        name = options["database"] or f"{original}_portfolio"
        if name == original:
            raise CommandError("--database: that is the application's own database; give another name")
        self.out = sys.stderr if options["json"] == "-" else self.stdout
        report = {"scale": asdict(self.scale), "database": name, "targets": TARGETS}
        t0 = time.perf_counter()
        call_command("collectstatic", interactive=False, verbosity=0)  # as ./dev up does: the pages need the manifest
        reused = self._open(name, reuse=options["reuse"])
        try:
            settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # no mail to synthetic users
            logging.getLogger("escalation.tasks").setLevel(logging.WARNING)  # its "recorded …" lines, not figures
            report.update(self._run(name, reused))
        finally:
            self._close(name, original, keep=options["keep"] or options["reuse"])
        report["total_seconds"] = round(time.perf_counter() - t0, 1)
        self._say(f"\ntotal {report['total_seconds']} s")
        if options["json"]:
            text = json.dumps(report, indent=2, default=str)
            if options["json"] == "-":
                self.stdout.write(text)
            else:
                with open(options["json"], "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")

    def _say(self, text: str = "") -> None:
        self.out.write(text)
        self.out.flush()

    # ------------------------------------------------------------------------------------ database

    def _admin(self):
        import psycopg

        params = connection.get_connection_params()
        params = {k: v for k, v in params.items() if k in {"host", "port", "user", "password"} and v}
        return psycopg.connect(dbname="postgres", autocommit=True, **params)

    def _switch(self, name: str) -> None:
        for alias in connections:
            connections[alias].close()
        settings.DATABASES["default"]["NAME"] = name
        connections["default"].settings_dict["NAME"] = name

    def _open(self, name: str, *, reuse: bool) -> bool:
        from psycopg import sql

        with self._admin() as admin:
            row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                                [name]).fetchone()
            if row is not None and row[0] != MARK:  # never drop or measure a database the benchmark did not make
                raise CommandError(f"--database: {name!r} exists and is not a benchmark database; give another name")
            if reuse and row is None:
                raise CommandError(f"--reuse: no database {name!r} (run once with --keep)")
            if not reuse:
                if row is not None:
                    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARK)))
        self._switch(name)
        if not reuse:
            t0 = time.perf_counter()
            call_command("migrate", verbosity=0, interactive=False)
            self._say(f"database {name}: created and migrated in {time.perf_counter() - t0:.0f} s "
                      "(audit triggers on)")
        return reuse

    def _close(self, name: str, original: str, *, keep: bool) -> None:
        from psycopg import sql

        self._switch(original)
        if keep:
            self._say(f"database {name} kept (--reuse measures it again)")
            return
        with self._admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _url(self, name: str) -> str:
        p = connection.get_connection_params()
        auth = quote(p.get("user") or "", safe="")
        if p.get("password"):
            auth += ":" + quote(p["password"], safe="")
        host = p.get("host") or "127.0.0.1"
        host_part = f"{auth}@{host}:{p.get('port') or 5432}" if not host.startswith("/") else f"{auth}@"
        query = f"?host={quote(host)}" if host.startswith("/") else ""
        return f"postgres://{host_part}/{quote(name)}{query}"

    # ------------------------------------------------------------------------------------ the run

    def _build(self, first: int, last: int | None) -> dict:
        t0 = time.perf_counter()
        built = portfolio_build.build(self.scale, first=first, last=last)
        seconds = time.perf_counter() - t0
        figures = {**asdict(built), "seconds": round(seconds, 1)}
        self._say(f"built trials {first + 1}–{last or self.scale.trials}: {built.subjects:,} subjects, "
                  f"{built.visits:,} planned visits, {built.adverse_events:,} adverse events, {built.doses:,} doses, "
                  f"{built.decisions:,} decisions in {seconds:.0f} s")
        return figures

    def _jobs(self) -> dict:
        today = timezone.localdate()
        review_first = measure.review_open_cohorts()
        review_steady = measure.review_open_cohorts()
        measure.touch_one_trial()
        review_changed = measure.review_open_cohorts()
        watch_first = measure.watch_visits(today)
        # The first run e-mails at most 5,000 notices per recipient (notifications.services): the runs after it
        # send the rest of that backlog; the steady state is the run after the backlog is sent.
        watch_steady = measure.watch_visits(today)
        for _ in range(10):
            if not (isinstance(watch_steady.result, dict) and watch_steady.result.get("emailed")):
                break
            watch_steady = measure.watch_visits(today)
        return {
            "review_open_cohorts": {"first": _job(review_first), "steady": _job(review_steady),
                                    "changed": _job(review_changed)},
            "watch_visits": {"first": _job(watch_first), "steady": _job(watch_steady)},
        }

    def _run(self, name: str, reused: bool) -> dict:
        report: dict = {}
        small_counts = small_jobs = None
        if not reused:
            report["built_small"] = self._build(0, self.small_trials)
            # The jobs first, at both scales: the pages are counted in the state the jobs leave (the
            # notices the watch sends, the decisions the review records), the same state at both scales.
            small_jobs = self._jobs()
            rows = measure.pages()
            small_counts = measure.query_counts(rows, measure.sessions())
            report["built_full"] = self._build(self.small_trials, None)
        from trials.models import Trial

        if Trial.objects.count() != self.scale.trials:
            raise CommandError(f"the database holds {Trial.objects.count()} trials, not the portfolio's "
                               f"{self.scale.trials} (--scale differs from the --keep run?)")
        full_jobs = self._jobs()
        rows = measure.pages()
        keys = measure.sessions()
        full_counts = measure.query_counts(rows, keys)

        self._say("\nstarting gunicorn as ./dev up runs it (2 workers × 2 threads) ...")
        server = measure.Server(self._url(name))
        try:
            timings = {(p.name, p.role): measure.latency(server, p, keys[p.role], requests=self.requests) for p in rows}
            trivial = next(p for p in rows if p.name.startswith("trivial"))
            board = next(p for p in rows if p.name == "cohort dashboard" and p.role == "sponsor")
            base = measure.throughput(server, trivial.path, keys[trivial.role], clients=self.clients,
                                      seconds=self.seconds)
            dash = measure.throughput(server, board.path, keys[board.role], clients=self.clients, seconds=self.seconds)
        finally:
            server.stop()

        report["pages"] = []
        self._say(f"\n{'page':30} {'role':13} {'status':>6} {'queries small':>13} {'queries full':>12} "
                  f"{'p50 ms':>8} {'p95 ms':>8}")
        for p in rows:
            key = (p.name, p.role)
            _, full_q = full_counts[key]
            small_q = small_counts[key][1] if small_counts and key in small_counts else None
            t = timings[key]
            report["pages"].append({"page": p.name, "role": p.role, "path": p.path, "status": t["status"],
                                    "queries_small": small_q, "queries_full": full_q,
                                    "p50_ms": round(t["p50_ms"], 1), "p95_ms": round(t["p95_ms"], 1)})
            grows = "  ← grows" if small_q is not None and full_q > small_q else ""
            self._say(f"{p.name:30} {p.role:13} {t['status']:>6} {small_q if small_q is not None else '-':>13} "
                      f"{full_q:>12} {t['p50_ms']:>8.1f} {t['p95_ms']:>8.1f}{grows}")
        ratio = dash["rps"] / base["rps"] if base["rps"] else 0.0
        dash_p95 = timings[(board.name, board.role)]["p95_ms"]
        report["throughput"] = {"clients": self.clients, "seconds": self.seconds, "trivial_rps": round(base["rps"], 1),
                                "dashboard_rps": round(dash["rps"], 1), "ratio": round(ratio, 3),
                                "failed": base["failed"] + dash["failed"]}
        self._say(f"\nthroughput, {self.clients} clients × {self.seconds:g} s: trivial view {base['rps']:.0f}/s, "
                  f"sponsor dashboard {dash['rps']:.0f}/s: ratio {ratio:.3f} (target ≥ {TARGETS['throughput_ratio']})"
                  f"{_verdict(ratio >= TARGETS['throughput_ratio'])}")
        self._say(f"sponsor dashboard p95 {dash_p95:.1f} ms (target < {TARGETS['dashboard_p95_ms']:.0f} ms)"
                  f"{_verdict(dash_p95 < TARGETS['dashboard_p95_ms'])}")
        grown = [row for row in report["pages"] if row["queries_small"] is not None
                 and row["queries_full"] > row["queries_small"]]
        self._say(f"pages whose query count grows with the data: {len(grown)}{_verdict(not grown)}")

        report["jobs"] = {"small": small_jobs, "full": full_jobs}
        self._say("\njob                     scale  run     seconds  queries  result")
        for scale_name, jobs in (("small", small_jobs), ("full", full_jobs)):
            if jobs is None:
                continue
            for job, runs in jobs.items():
                for run, figures in runs.items():
                    evaluated = f"  ({figures['evaluated']} trials evaluated)" if "evaluated" in figures else ""
                    self._say(f"{job:23} {scale_name:6} {run:7} {figures['seconds']:8.3f} {figures['queries']:8}  "
                              f"{figures['result']}{evaluated}")
        review = full_jobs["review_open_cohorts"]
        if small_jobs is not None:
            small_review = small_jobs["review_open_cohorts"]
            same = all(small_review[run]["queries"] == review[run]["queries"] for run in ("steady", "changed"))
            self._say(f"review_open_cohorts queries the same at {self.small_trials} and {self.scale.trials} trials "
                      f"(steady, one trial changed){_verdict(same)}")
        only = review["steady"]["evaluated"] == 0 and review["changed"]["evaluated"] == 1
        self._say(f"review_open_cohorts re-evaluates only the changed trials (steady 0, after one change 1)"
                  f"{_verdict(only)}")
        watch = full_jobs["watch_visits"]["steady"]["result"]
        quiet = isinstance(watch, dict) and not any(watch.values())
        self._say(f"watch_visits steady state changes nothing (every count 0){_verdict(quiet)}")

        overdue = self._overdue()
        if overdue is not None:
            report["overdue_pass"] = overdue
        oc = measure.cold_exact_oc()
        report["cold_exact_oc"] = {"seconds": round(oc["seconds"], 4)}
        self._say(f"\ncold exact operating characteristics (BAT6005): {oc['seconds']:.3f} s "
                  f"(target < {TARGETS['cold_exact_s']} s){_verdict(oc['seconds'] < TARGETS['cold_exact_s'])}")
        return report

    def _overdue(self) -> dict | None:
        try:
            from visits.bench import overdue_ratio
        except ImportError:
            self._say("\noverdue pass: visits.bench.overdue_ratio is not available")
            return None
        figures = overdue_ratio(self.overdue_rows, 3)
        self._say(f"\noverdue pass on the real table with its triggers, {figures['rows']:,} rows: bare UPDATE "
                  f"{figures['bare_s']:.3f} s, the watch's pass {figures['pass_s']:.3f} s: "
                  f"ratio {figures['ratio']:.2f} "
                  f"(target < {TARGETS['overdue_ratio']}){_verdict(figures['ratio'] < TARGETS['overdue_ratio'])}")
        return figures


def _job(run: measure.JobRun) -> dict:
    return {"seconds": round(run.seconds, 4), "queries": run.queries, "result": run.result, **run.extra}


def _verdict(ok: bool) -> str:
    return "  ok" if ok else "  MISSED"
