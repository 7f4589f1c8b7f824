"""``manage.py portfolio benchmark`` end to end at a tiny scale (docs/performance.md): its own database created,
migrated (audit triggers on), built, measured under a real gunicorn, and dropped; the JSON keys are the documented
contract, and the figures that do not depend on the machine's speed are checked: every page answers 200, no
page's query count grows from the small to the full portfolio, the periodic review's steady state evaluates no
trial and one change brings back exactly one, a steady-state watch changes nothing, and the overdue pass and
the bare UPDATE flag the same rows. (Speed is what the command prints; it is not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections

pytestmark = pytest.mark.django_db

TIMEOUT = 1200


def _admin_params() -> dict:
    params = connections["default"].get_connection_params()
    return {k: v for k, v in params.items() if k in {"host", "port", "user", "password"} and v}


def _exists(name: str) -> bool:
    with psycopg.connect(dbname="postgres", autocommit=True, **_admin_params()) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_OWNER_URL"}
    env.update(DJANGO_SETTINGS_MODULE="trialsite.settings", DJANGO_STATIC_ROOT=str(tmp_path / "static"))
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "portfolio", "benchmark", *args],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_tiny_portfolio_is_built_measured_and_dropped(tmp_path):
    name = f"ts_portfolio_test_{os.getpid()}"
    report_file = tmp_path / "report.json"
    done = _manage(tmp_path, "--scale", "0.05", "--small-trials", "2", "--seconds", "1", "--requests", "3",
                   "--overdue-rows", "2000", "--clients", "2", "--database", name, "--json", str(report_file))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not _exists(name)  # dropped afterwards

    report = json.loads(report_file.read_text())
    assert set(report) >= {"scale", "database", "targets", "built_small", "built_full", "pages", "throughput",
                           "jobs", "overdue_pass", "cold_exact_oc", "total_seconds"}
    assert report["database"] == name and report["scale"]["trials"] == 4
    assert report["built_small"]["subjects"] > 0 and report["built_full"]["visits"] > 0

    pages = report["pages"]
    assert {p["page"] for p in pages} >= {"trivial: session status", "home", "cohort dashboard", "API dashboard",
                                          "visits needing attention", "notifications"}
    for page in pages:
        assert set(page) == {"page", "role", "path", "status", "queries_small", "queries_full", "p50_ms", "p95_ms"}
        assert page["status"] == 200, page
        assert page["queries_full"] <= page["queries_small"], page  # no page's query count grows with the data
        assert page["p95_ms"] >= page["p50_ms"] > 0

    throughput = report["throughput"]
    assert throughput["failed"] == 0 and throughput["trivial_rps"] > 0 and throughput["dashboard_rps"] > 0
    assert throughput["ratio"] == pytest.approx(throughput["dashboard_rps"] / throughput["trivial_rps"], abs=0.002)

    for scale in ("small", "full"):
        review = report["jobs"][scale]["review_open_cohorts"]
        assert review["steady"]["evaluated"] == 0 and review["changed"]["evaluated"] == 1
        assert review["steady"]["queries"] == report["jobs"]["small"]["review_open_cohorts"]["steady"]["queries"]
        watch = report["jobs"][scale]["watch_visits"]
        assert watch["first"]["result"]["flagged"] > 0
        assert not any(watch["steady"]["result"].values())
    assert report["jobs"]["full"]["review_open_cohorts"]["changed"]["queries"] == (
        report["jobs"]["small"]["review_open_cohorts"]["changed"]["queries"])

    overdue = report["overdue_pass"]
    assert overdue["rows"] == 2000 and overdue["flagged"] > 0 and overdue["ratio"] > 0
    assert report["cold_exact_oc"]["seconds"] > 0

    printed = done.stdout
    assert "throughput, 2 clients" in printed and "overdue pass on the real table with its triggers" in printed
    assert "recorded" not in printed  # the review's log lines are not mixed into the figures


def test_a_database_the_benchmark_did_not_make_is_never_touched(tmp_path):
    own = connections["default"].settings_dict["NAME"]
    done = _manage(tmp_path, "--scale", "0.05", "--small-trials", "2", "--database", own)
    assert done.returncode != 0
    assert "is not a benchmark database" in done.stderr or "application's own database" in done.stderr
    assert _exists(own)


@pytest.mark.parametrize(("flags", "message"), [
    (["--scale", "0"], "--scale: need a number greater than 0, got '0'"),
    (["--clients", "many"], "--clients: need a number, got 'many'"),
    (["--scale", "0.05", "--small-trials", "9"], "--small-trials: need fewer than the portfolio's 4 trials, got 9"),
])
def test_bad_flags_are_refused_by_name(tmp_path, flags, message):
    done = _manage(tmp_path, *flags)
    assert done.returncode != 0 and message in done.stderr
