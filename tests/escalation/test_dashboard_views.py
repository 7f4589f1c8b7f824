"""The cohort dashboard with its data (docs/dashboard.md): who sees which subject, the engine's states on the
escalation path, the decisions as boundaries between cohorts, and a query count that does not grow with the
subjects, doses and adverse events (issue 14).

BAT6005 after its first decision (the ``escalated`` fixture): cohort 1 (10 mg) decided, cohort 2 (30 mg) open.
Subjects are built through the ORM at sites A and B, with doses and adverse events, so that the engine gives
one subject a titration signal (G), one a DLT (T), one no DLT (N) and, at the larger size, some pending."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from escalation.models import EscalationDecision
from subjects.models import AdverseEvent, DoseAdministration, Subject
from tests.auth import sign_in
from visits.services import visits_plan_for_subject

pytestmark = pytest.mark.django_db

DOB = date(1957, 3, 14)
_numbers = itertools.count(1)


def _subject(trial, cohort, site, user, *, dosed_days_ago: int, initials: str, cycles: int = 1, aes=()) -> Subject:
    """A subject of ``cohort`` at ``site``, enrolled three days before its first dose ``dosed_days_ago`` days
    ago (``cycles`` doses, 7 days apart), its adverse events ``aes``: (term, study day of onset, grade,
    attribution, DLT?)."""
    subject = Subject.objects.create(
        trial=trial, site=site, cohort=cohort, dose_level=cohort.dose_level,
        code=f"{trial.code}-{site.code}-D{next(_numbers):02d}", initials=initials, date_of_birth=DOB,
        sex="F", enrolled_by=user, status=Subject.Status.ON_TREATMENT,
    )
    first = timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=dosed_days_ago), time(10)))
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=first - timedelta(days=3))  # auto_now_add: update
    drug = trial.drugs.first()
    DoseAdministration.objects.bulk_create([
        DoseAdministration(subject=subject, drug=drug, cycle=n + 1, day=1, dose=10, unit="mg", recorded_by=user,
                           administered_at=first + timedelta(days=7 * n))
        for n in range(cycles)])
    AdverseEvent.objects.bulk_create([
        AdverseEvent(subject=subject, term=term, grade=grade, onset_date=first.date() + timedelta(days=day - 1),
                     attribution=attribution, recorded_by=user,
                     dlt_status=AdverseEvent.DltStatus.CONFIRMED if is_dlt else "", is_dlt=is_dlt)
        for term, day, grade, attribution, is_dlt in aes])
    visits_plan_for_subject(subject=subject)
    return subject


def _decision(trial, cohort, *, status, next_level, add):
    return EscalationDecision.objects.create(
        trial=trial, cohort=cohort, status=status, continue_trial=True, next_dose_level=next_level,
        add_subjects=add, rationale=f"Rationale of cohort {cohort.number}", outcomes="x", data={"evidence": {}},
        data_sha256="0" * 64,
    )


def build_board(trial, people, site_a, site_b) -> dict:
    """Three subjects (G at 10 mg; T and N at 30 mg), the approved decision after cohort 1 and one awaiting
    signature after cohort 2; ``grow()`` adds six subjects with more doses and adverse events. ``trial``:
    BAT6005 as the ``escalated`` fixture leaves it; ``people``: the ``people`` fixture."""
    levels = {level.label: level for level in trial.dose_levels.all()}
    c1, c2 = trial.cohorts.get(number=1), trial.cohorts.get(number=2)
    who = people["coordinator"]
    made = [
        _subject(trial, c1, site_a, who, dosed_days_ago=60, initials="QZA",
                 aes=[("Nausea", 3, 2, "possible", False)]),
        _subject(trial, c2, site_b, people["coordinator_b"], dosed_days_ago=35, initials="QZB",
                 aes=[("Neutrophil count decreased", 8, 4, "probable", True), ("Fatigue", 2, 1, "unrelated", False)]),
        _subject(trial, c2, site_a, who, dosed_days_ago=30, initials="QZC"),
    ]
    _decision(trial, c1, status=EscalationDecision.Status.APPROVED, next_level=levels["30 mg"], add=3)
    _decision(trial, c2, status=EscalationDecision.Status.PENDING, next_level=levels["30 mg"], add=3)

    def grow():
        for i in range(6):
            site, user = (site_a, who) if i % 2 else (site_b, people["coordinator_b"])
            made.append(_subject(
                trial, c2, site, user, dosed_days_ago=10 - i, initials=f"QY{'DEFGHI'[i]}",
                cycles=4, aes=[("Fatigue", 1, 1, "unrelated", False), ("Headache", 2, 1, "unlikely", False),
                               ("Rash maculo-papular", 3, 2, "possible", False)]))

    return {"trial": trial, "subjects": made, "grow": grow, "c1": c1, "c2": c2}


@pytest.fixture
def board(escalated, people, site_a, site_b):
    return build_board(escalated, people, site_a, site_b)


def _alone(word: str, text: str) -> bool:
    """``word`` in ``text`` not as part of a longer token (a CSRF token or a hashed file name)."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text) is not None


_FIGURE = re.compile(r'<figure class="card chart-card" id="figure-(?P<name>[\w-]+)">.*?'
                     r'<script id="(?P<id>[\w-]+)" type="application/json">(?P<spec>.*?)</script>.*?'
                     r'<table class="grid" id="table-(?P=name)">(?P<table>.*?)</table>', re.S)


def figures(html: str) -> dict[str, dict]:
    """The pictures of a rendered dashboard page by name, in page order: their chart id, their spec (the JSON
    the page hands the chart library) and the rows of their data table (cell texts)."""
    found = {}
    for m in _FIGURE.finditer(html):
        rows = [re.findall(r"<td>(.*?)</td>", row, re.S)
                for row in re.findall(r"<tr>(.*?)</tr>", m["table"].split("<tbody>", 1)[1], re.S)]
        found[m["name"]] = {"id": m["id"], "spec": json.loads(m["spec"]), "rows": rows}
    return found


def _get(client, user, name, trial):
    sign_in(client, user)
    url = reverse(name, args=[trial.code])
    client.get(url)  # warm: session, content types, the process's caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(queries)


def test_sponsor_sees_no_subject_identifier(client, board, people):
    trial = board["trial"]
    page, _ = _get(client, people["sponsor"], "trials:dashboard", trial)
    api, _ = _get(client, people["sponsor"], "api-dashboard", trial)
    html, body = page.content.decode(), api.content.decode()
    assert "De-identified: subjects by their order of enrolment" in html
    for subject in board["subjects"]:
        for text in (html, body):
            assert subject.code not in text
            assert not _alone(subject.initials, text)
    for text in (html, body):
        for shown in (DOB.isoformat(), DOB.strftime("%d/%m/%Y"), "14 Mar 1957", "March 14, 1957"):
            assert shown not in text
        assert not _alone("1957", text)
    # The pictures are there, with enrolment numbers in place of codes.
    drawn = figures(html)
    assert list(drawn) == ["path", "enrolment", "overdue"]
    for f in drawn.values():
        assert f'data-chart="{f["id"]}"' in html
    data = api.json()
    assert [s["subject"] for s in data["path"]["subjects"]] == [None, None, None]
    assert [(r["level"], r["term"], r["grade"], r["study_day"], r["subject"]) for r in data["dlts"]] == [
        ("30 mg", "Neutrophil count decreased", 4, 8, None)]
    assert "#2" in html  # the DLT subject's label in the path's spec and table


def test_investigator_sees_the_codes_of_their_sites_subjects(client, board, people):
    trial = board["trial"]
    a1, b2, a3 = board["subjects"]
    page, _ = _get(client, people["investigator"], "trials:dashboard", trial)
    html = page.content.decode()
    assert "Subjects of your sites are named by their code" in html
    assert a1.code in html and a3.code in html
    assert b2.code not in html  # site B's subject: an enrolment number for site A's investigator
    labels = [row[1] for row in figures(html)["path"]["rows"]]
    assert labels == [a1.code, "#2", a3.code]
    api = _get(client, people["investigator"], "api-dashboard", trial)[0].json()
    assert [s["subject"] for s in api["path"]["subjects"]] == [a1.code, None, a3.code]
    assert api["dlts"][0]["subject"] is None  # the DLT is site B's
    # Site B's coordinator sees that DLT's code, and not site A's.
    api_b = _get(client, people["coordinator_b"], "api-dashboard", trial)[0].json()
    assert [s["subject"] for s in api_b["path"]["subjects"]] == [None, b2.code, None]
    assert api_b["dlts"][0]["subject"] == b2.code


def test_path_carries_the_engines_states_and_decisions_between_cohorts(client, board, people):
    trial = board["trial"]
    api = _get(client, people["sponsor"], "api-dashboard", trial)[0].json()
    path = api["path"]["subjects"]
    assert [(s["order"], s["site"], s["cohort"], s["level"], s["state"]) for s in path] == [
        (1, "SITE-A", "Cohort 1", "10 mg", "G"),   # related grade 2 in the window, window closed
        (2, "SITE-B", "Cohort 2", "30 mg", "T"),   # adjudicated DLT on day 8
        (3, "SITE-A", "Cohort 2", "30 mg", "N"),   # window closed, no event
    ]
    decisions = api["path"]["decisions"]
    assert [(d["cohort"], d["after"], d["kind"], d["recommends"]) for d in decisions] == [
        ("Cohort 1", 1.5, "escalate", "escalate"), ("Cohort 2", 3.5, "awaiting", "stay")]
    assert decisions[0]["label"] == "Cohort 1: escalate to 30 mg, 3 subjects"
    # The same in the picture's spec on the page.
    page = _get(client, people["sponsor"], "trials:dashboard", trial)[0]
    spec = figures(page.content.decode())["path"]["spec"]
    layers = {layer["name"]: layer["data"]["values"] for layer in spec["layer"]}
    assert [(p["order"], p["state"]) for p in layers["subjects"]] == [(1, "G"), (2, "T"), (3, "N")]
    assert [(r["after"], r["kind"]) for r in layers["decisions"]] == [(1.5, "escalate"), (3.5, "awaiting")]
    assert json.dumps(spec["layer"][0]["data"]["values"][0]["label"])[1:-1] in page.content.decode()


def test_query_count_does_not_grow_with_subjects_doses_and_events(client, board, people):
    trial = board["trial"]
    small = {name: _get(client, people[who], name, trial)[1]
             for who in ("sponsor",) for name in ("trials:dashboard", "api-dashboard")}
    small_inv = _get(client, people["investigator"], "trials:dashboard", trial)[1]
    board["grow"]()
    assert Subject.objects.filter(trial=trial).count() == 9
    big = {name: _get(client, people["sponsor"], name, trial)[1] for name in ("trials:dashboard", "api-dashboard")}
    big_inv = _get(client, people["investigator"], "trials:dashboard", trial)[1]
    assert big == small
    assert big_inv == small_inv
    # And the larger data is drawn: nine subjects on the path, pending ones among them.
    api = _get(client, people["sponsor"], "api-dashboard", trial)[0].json()
    states = [s["state"] for s in api["path"]["subjects"]]
    assert len(states) == 9 and states[:3] == ["G", "T", "N"] and "pending" in states
    assert api["path"]["decisions"][-1]["after"] == 9.5


def test_the_evidence_is_computed_once(client, board, people, monkeypatch):
    """The page and the API reuse cohort_dashboard's evidence: the engine's evidence runs once a request."""
    from escalation import dashboard, selectors

    calls = []
    original = selectors.escalation_evidence

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "escalation_evidence", counted)
    monkeypatch.setattr(dashboard, "escalation_evidence", counted)
    trial = board["trial"]
    sign_in(client, people["sponsor"])
    for name in ("trials:dashboard", "api-dashboard"):
        calls.clear()
        assert client.get(reverse(name, args=[trial.code])).status_code == 200
        assert len(calls) == 1, name


def test_no_escalation_subject_yet_says_so_instead_of_an_empty_picture(client, bat6005, people):
    page, _ = _get(client, people["sponsor"], "trials:dashboard", bat6005)
    assert "path" not in figures(page.content.decode())
    assert "No subject enrolled in the dose-escalation part yet." in page.content.decode()
    assert _get(client, people["sponsor"], "api-dashboard", bat6005)[0].json()["path"] == {
        "subjects": [], "decisions": []}


def test_views_for_given_sites_and_without_the_overdue_counts(board, people, site_a):
    """What a cache of the dashboard (escalation.board) calls: the viewer's sites given, the overdue counts apart."""
    from escalation.dashboard import dashboard_views, overdue_view
    from escalation.selectors import cohort_dashboard

    trial = board["trial"]
    now = timezone.now()
    cohorts = cohort_dashboard(trial, now=now)
    kept = dashboard_views(trial, user=people["sponsor"], now=now, decisions=cohorts["decisions"],
                           evidence=cohorts["evidence"], visible_sites=[site_a.pk], overdue=False)
    assert [r["code"] for r in kept["path"]] == [board["subjects"][0].code, None, board["subjects"][2].code]
    assert kept["overdue"] == [] and [f["name"] for f in kept["figures"]] == ["path", "enrolment"]
    rows, picture = overdue_view(trial, today=timezone.localdate(now))
    assert [r["site"] for r in rows] == ["SITE-A", "SITE-B"] and sum(r["overdue"] for r in rows) > 0
    assert picture["name"] == "overdue" and picture["table"]["rows"] == [[r["site"], r["overdue"], r["open"]]
                                                                         for r in rows]
    full = dashboard_views(trial, user=people["sponsor"], now=now, decisions=cohorts["decisions"],
                           evidence=cohorts["evidence"])
    assert full["overdue"] == rows and not full["identified"] and kept["identified"]


def _count(client, url) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_a_second_request_is_served_from_the_cache_without_the_engine(client, board, people, monkeypatch):
    from escalation import dashboard, selectors

    trial = board["trial"]
    sign_in(client, people["sponsor"])
    url = reverse("trials:dashboard", args=[trial.code])
    cold_html, cold = _count(client, url)
    calls = []
    original = selectors.escalation_evidence
    monkeypatch.setattr(selectors, "escalation_evidence", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(dashboard, "escalation_evidence", selectors.escalation_evidence)
    warm_html, warm = _count(client, url)
    assert calls == [] and warm < cold
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"|nonce="[^"]*"|"X-CSRFToken": "[^"]*"')
    assert strip.sub("", warm_html) == strip.sub("", cold_html)  # the same page, from the cache


def test_new_data_gives_a_fresh_dashboard_at_once(client, board, people):
    """An adverse event recorded (and later a correction) changes the trial's version: no stale picture."""
    trial = board["trial"]
    n3 = board["subjects"][2]
    n3.refresh_from_db()  # enrolled three days before its first dose (30 days ago)
    sign_in(client, people["sponsor"])
    url = reverse("api-dashboard", args=[trial.code])
    before = client.get(url).json()
    assert [s["state"] for s in before["path"]["subjects"]] == ["G", "T", "N"]
    [event] = AdverseEvent.objects.bulk_create([AdverseEvent(  # as build_board's: adjudicated already
        subject=n3, term="Febrile neutropenia", grade=3, onset_date=n3.enrolled_at.date() + timedelta(days=8),
        attribution="probable", recorded_by=people["coordinator"], dlt_status=AdverseEvent.DltStatus.CONFIRMED,
        is_dlt=True)])
    after = client.get(url).json()
    assert [s["state"] for s in after["path"]["subjects"]] == ["G", "T", "T"]
    assert ("30 mg", "Febrile neutropenia") in [(r["level"], r["term"]) for r in after["dlts"]]
    page = client.get(reverse("trials:dashboard", args=[trial.code])).content.decode()
    assert "Febrile neutropenia" in page
    AdverseEvent.objects.filter(pk=event.pk).update(voided_at=timezone.now())
    again = client.get(url).json()
    assert [s["state"] for s in again["path"]["subjects"]] == ["G", "T", "N"]


def test_the_cache_keeps_each_viewers_entry_apart_and_a_sponsors_holds_no_code(client, board, people):
    from django.core.cache import cache

    from escalation.board import _Cached

    trial = board["trial"]
    for who in ("sponsor", "investigator"):
        sign_in(client, people[who])
        assert client.get(reverse("trials:dashboard", args=[trial.code])).status_code == 200
        assert client.get(reverse("api-dashboard", args=[trial.code])).status_code == 200
    now = timezone.now()
    sponsor, investigator = (_Cached(trial, user=people[w], now=now) for w in ("sponsor", "investigator"))
    assert sponsor._key("html") != investigator._key("html")
    entries = {w: (cache.get(c._key("html")), cache.get(c._key("data")))
               for w, c in (("sponsor", sponsor), ("investigator", investigator))}
    assert all(part is not None for pair in entries.values() for part in pair)
    held = {w: repr(pair) for w, pair in entries.items()}
    for subject in board["subjects"]:
        assert subject.code not in held["sponsor"]
    assert board["subjects"][0].code in held["investigator"]


def test_the_page_is_served_when_the_cache_is_down(client, board, people, monkeypatch):
    from escalation import board as cached_board

    class Down:
        def get(self, *args, **kwargs):
            raise ConnectionError("redis unreachable")

        set = get

    monkeypatch.setattr(cached_board, "cache", Down())
    trial = board["trial"]
    sign_in(client, people["sponsor"])
    page = client.get(reverse("trials:dashboard", args=[trial.code]))
    assert page.status_code == 200 and list(figures(page.content.decode())) == ["path", "enrolment", "overdue"]
    assert [s["state"] for s in client.get(reverse("api-dashboard", args=[trial.code])).json()["path"]["subjects"]
            ] == ["G", "T", "N"]


def test_the_overdue_counts_are_cached_until_a_visit_changes(client, board, people):
    from visits.models import PlannedVisit

    trial = board["trial"]
    sign_in(client, people["sponsor"])
    url = reverse("api-dashboard", args=[trial.code])
    before = {r["site"]: r["overdue"] for r in client.get(url).json()["overdue"]}
    with CaptureQueriesContext(connection) as queries:
        assert {r["site"]: r["overdue"] for r in client.get(url).json()["overdue"]} == before
    assert not [q for q in queries.captured_queries if "visits_plannedvisit" in q["sql"]]  # from the cache
    late = PlannedVisit.objects.filter(subject__trial=trial, subject__site__code="SITE-A", overdue=False,
                                       status=PlannedVisit.Status.PLANNED,
                                       window_end__lt=timezone.localdate()).order_by("pk").first()
    assert late is not None and before["SITE-A"] > 0
    recorded = {"status": PlannedVisit.Status.DONE, "done_on": timezone.localdate()}
    PlannedVisit.objects.filter(pk=late.pk).update(**recorded)  # the visit recorded
    after = {r["site"]: r["overdue"] for r in client.get(url).json()["overdue"]}
    assert after == {**before, "SITE-A": before["SITE-A"] - 1}
    page = client.get(reverse("trials:dashboard", args=[trial.code])).content.decode()
    assert figures(page)["overdue"]["rows"][0][:2] == ["SITE-A", str(after["SITE-A"])]
