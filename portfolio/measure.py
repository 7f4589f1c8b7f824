"""What ``portfolio benchmark`` measures: query counts in process, latency and throughput over HTTP against
the gunicorn that ``./dev up`` starts, and the Celery jobs' time and query count (docs/performance.md)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio.build import BENCH_USERS


@dataclass(frozen=True)
class Page:
    """One page or API endpoint as one role opens it."""

    name: str
    role: str
    path: str


def session_key(user) -> str:
    """A session as the sign-in flow leaves it (password, and the second factor for a user who has one):
    what the pages see after a real sign-in, without posting the forms for every measured user."""
    from importlib import import_module

    from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
    from allauth.mfa.models import Authenticator
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    now = time.time()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "allauth.account.auth_backends.AuthenticationBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    records = [{"method": "password", "at": now, "username": user.get_username()}]
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is not None:
        records.append({"method": "mfa", "at": now, "type": "totp", "id": authenticator.pk})
    store[AUTHENTICATION_METHODS_SESSION_KEY] = records
    store["account_authentication_methods_user"] = str(user.pk)
    store.create()
    return store.session_key


def pages() -> list[Page]:
    """The main pages and API endpoints, each for the role that uses it, on the portfolio's first trial
    (the same objects exist at small and at full scale)."""
    from escalation.models import EscalationDecision
    from subjects.models import Subject
    from trials.models import Trial

    trial = Trial.objects.order_by("code").first()
    subject = Subject.objects.filter(trial=trial, site__memberships__user__username=BENCH_USERS["coordinator"],
                                     site__memberships__trial=trial).order_by("pk").first()
    decision = EscalationDecision.objects.filter(trial=trial).order_by("-created_at").first()
    code = trial.code
    rows = [
        Page("trivial: session status", "coordinator", reverse("accounts:session")),
        Page("home", "coordinator", reverse("home")),
        Page("home", "investigator", reverse("home")),
        Page("home", "sponsor", reverse("home")),
        Page("trial page", "coordinator", reverse("trials:detail", args=[code])),
        Page("cohort dashboard", "sponsor", reverse("trials:dashboard", args=[code])),
        Page("cohort dashboard", "investigator", reverse("trials:dashboard", args=[code])),
        Page("subjects", "coordinator", reverse("subjects:list", args=[code])),
        Page("adverse events", "coordinator", reverse("subjects:ae_list", args=[code])),
        Page("subject", "coordinator", reverse("subjects:detail", args=[subject.pk])),
        Page("visit calendar", "coordinator", reverse("visits:calendar", args=[subject.pk])),
        Page("visits needing attention", "coordinator", reverse("visits:list")),
        Page("notifications", "coordinator", reverse("notifications:list")),
        Page("efficacy", "sponsor", reverse("response:efficacy", args=[code])),
        Page("queries", "coordinator", reverse("queries:list", args=[code])),
        Page("API trials", "coordinator", "/api/v1/trials/"),
        Page("API dashboard", "sponsor", reverse("api-dashboard", args=[code])),
        Page("API subjects", "coordinator", f"/api/v1/subjects/?trial={code}"),
        Page("API adverse events", "coordinator", f"/api/v1/adverse-events/?trial={code}"),
        Page("API visits", "coordinator", f"/api/v1/visits/?trial={code}"),
        Page("API decisions", "investigator", f"/api/v1/decisions/?trial={code}"),
    ]
    if decision is not None:
        rows.insert(7, Page("decision", "investigator", reverse("escalation:decision", args=[decision.pk])))
    return rows


def sessions() -> dict[str, str]:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(username__in=BENCH_USERS.values())
    by_name = {u.username: u for u in users}
    return {role: session_key(by_name[name]) for role, name in BENCH_USERS.items()}


def query_counts(rows: list[Page], keys: dict[str, str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(status, queries) of each page, requested in this process through Django's test client."""
    from django.test import Client

    result = {}
    clients = {}
    for page in rows:
        client = clients.get(page.role)
        if client is None:
            client = clients[page.role] = Client(HTTP_HOST="127.0.0.1")
            client.cookies[settings.SESSION_COOKIE_NAME] = keys[page.role]
        client.get(page.path)  # first request: the session's own bookkeeping settles
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page.path)
        result[(page.name, page.role)] = (response.status_code, len(queries))
    return result


# --------------------------------------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn as ``./dev up`` runs it (trialsite.launcher.web_command), on the benchmark's database."""

    def __init__(self, database_url: str):
        from trialsite.launcher import web_command

        self.port = free_port()
        env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SECURE_COOKIES="0", PYTHONUNBUFFERED="1",
                   DJANGO_SETTINGS_MODULE="trialsite.settings", EMAIL_URL="memorymail://")
        env.pop("DATABASE_OWNER_URL", None)
        self.process = subprocess.Popen(  # noqa: S603 - our own server
            web_command(f"127.0.0.1:{self.port}"), cwd=settings.BASE_DIR, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode}")
            try:
                status, _ = self.get("/login/", "")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 60 s")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path: str, session: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, int]:
        own = conn is None
        conn = conn or self.connection()
        try:
            headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"} if session else {}
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            return response.status, len(body)
        finally:
            if own:
                conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = p / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency(server: Server, page: Page, session: str, *, requests: int) -> dict:
    conn = server.connection()
    try:
        for _ in range(2):
            server.get(page.path, session, conn)
        times = []
        status = 0
        for _ in range(requests):
            t0 = time.perf_counter()
            status, _ = server.get(page.path, session, conn)
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return {"status": status, "p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * percentile(times, 95)}


def throughput(server: Server, path: str, session: str, *, clients: int, seconds: float) -> dict:
    """Requests per second with ``clients`` keep-alive connections requesting ``path`` for ``seconds``."""
    done = [0] * clients
    failed = [0] * clients
    stop = threading.Event()

    def client(i: int) -> None:
        conn = server.connection()
        try:
            while not stop.is_set():
                status, _ = server.get(path, session, conn)
                if status == 200:
                    done[i] += 1
                else:
                    failed[i] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"rps": sum(done) / elapsed, "requests": sum(done), "failed": sum(failed)}


# --------------------------------------------------------------------------------------------- jobs


@dataclass
class JobRun:
    seconds: float
    queries: int
    result: object = None
    extra: dict = field(default_factory=dict)


def timed(fn, *args, **kwargs) -> JobRun:
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - t0
    return JobRun(seconds, len(queries), result)


def review_open_cohorts() -> JobRun:
    """The periodic review, timed; ``extra["evaluated"]``: the trials it had to evaluate (read before, not
    counted in its queries)."""
    from escalation.selectors import trials_to_review
    from escalation.tasks import review_open_cohorts as task

    evaluated = len(trials_to_review(now=timezone.now()))
    run = timed(task)
    run.extra["evaluated"] = evaluated
    return run


def touch_one_trial() -> str:
    """A change to one trial's escalation data, as an edit makes it: one adverse event of the first escalating
    trial saved again (an UPDATE of its row). Returns the trial's code."""
    from subjects.models import AdverseEvent

    event = (AdverseEvent.objects.filter(subject__cohort__escalation=True).select_related("subject__trial")
             .order_by("pk").first())
    AdverseEvent.objects.filter(pk=event.pk).update(grade=F("grade"))
    return event.subject.trial.code


def watch_visits(today: date) -> JobRun:
    from visits.watch import run_watch

    return timed(run_watch, today)


def cold_exact_oc() -> dict:
    """BAT6005's exact operating characteristics from a cold cache, as ``escalation benchmark`` times them."""
    from escalation.management.commands.escalation import BENCH_DLT, BENCH_TOX2
    from trialrules.protocol_design import design_from_protocol
    from trialrules.simulation import clear_cache, exact
    from trials.protocol_file import read_protocol

    definition = read_protocol(settings.BASE_DIR / "protocols" / "BAT6005.toml")
    design = design_from_protocol(definition.data)
    times = []
    for _ in range(3):
        clear_cache()
        t0 = time.perf_counter()
        exact(design, BENCH_DLT[: design.n_levels], BENCH_TOX2[: design.n_levels])
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times)}
