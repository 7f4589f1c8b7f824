"""Hostile input on every form and every GET filter of every page (issue 8, point 10): no 5xx, nothing
half-saved, and nothing hostile stored.

The pages are found, not listed: every named URL of the URLconf (the admin aside) is reversed with a
real object of a fixture trial (a subject with a dose, an AE, visits, a pending decision, screening
records, every correctable record kind) and fetched as each role (coordinator, investigator,
sponsor, anonymous). Every ``<form method="post">`` found is a POST target; every GET form field,
``hx-get`` look-up and query parameter of a link is a GET target. Hypothesis then draws hostile
values (NUL and other control characters, bidirectional overrides, huge integers, superscript and
Arabic digits, 10,000-character strings, impossible dates, odd encodings of the body) and sends them.

The run is deterministic (``derandomize``, no example database) and bounded: a few hundred requests.
Each request runs in a savepoint that is rolled back, so every example starts from the fixture state.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from allauth.mfa import app_settings as mfa_settings
from django.apps import apps
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import policy
from escalation.services import decision_recommend
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.auth import code as totp_code
from tests.auth import fresh_code, sign_in, totp_secret
from tests.factories import PASSWORD
from tests.screening.helpers import eligible_screening, predose
from tests.test_records import dosed  # noqa: F401 - the fixture: a BAT6005 subject dosed 23 days ago
from trialsite.forms import forbidden_character
from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"trials", "escalation", "subjects", "visits", "screening", "notifications", "outbox", "records",
                "response", "pk", "queries", "monitoring", "exports", "auth", "pghistory"}
ROLES = ("coordinator", "investigator", "sponsor", "anonymous")
SKIPPED_ACTIONS = ("/logout/", "/admin/")

# Values no form should accept as they are, and that no page may answer with a 5xx.
HOSTILE = [
    "\x00", "Fatigue\x00", "ab\x00cd", "\x01", "\x1b[2J", "\x7f", "\x85", "\x9b", "tab\there", "two\nlines", "\r\n",
    "\u202eevil", "a\u202bb", "x\u2066y\u2069", "\u2028", "\ufeff", "\u200b",
    "²", "³", "٣", "١٢", "３", "𝟗", "½", "١٫٥",
    "9" * 5000, "-" + "9" * 5000, "9" * 19, "99999", "40000", "-1", "0", "1e999", "NaN", "inf", "1_0", "0x1A",
    "x" * 10000, "Ä" * 201, "é" * 2001,
    "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "99999-01-01", "0000-00-00", "1899-12-31",
    "9999-12-31T23:59", "0001-01-01T00:00", "2026-01-01T25:61",
    "", " ", "null", "<script>alert(1)</script>", "' OR '1'='1", "%00", "🙂",
]
hostile_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(HOSTILE),  # weighted towards the list
    st.text(st.characters(exclude_categories=["Cs"]), max_size=24),
    st.integers(min_value=-10**24, max_value=10**24).map(str),
)
# How the body is sent: the test client's multipart, urlencoded UTF-8, and encodings no browser of a
# UTF-8 page sends.
ENCODINGS = ["multipart", "multipart", "multipart", "urlencoded", "urlencoded", "utf-16", "latin-1", "x-bogus",
             "invalid-utf-8"]
# Values that make an empty field plausible, so a POST whose hostile value is harmless goes through to
# the service (and the completeness checks): by field name, then by input type. A signature's user name
# and one-time code are the signer's own (``_plausible``).
PLAUSIBLE_BY_NAME = {"term": "Fatigue", "initials": "XYZ", "password": PASSWORD, "weight_kg": "70"}

ACCEPTED = (301, 302, 303)


# --- the fixture trial --------------------------------------------------------------------------------


@dataclass
class World:
    trial: object
    subject: object
    adverse_event: object
    visit: object
    decision: object
    screening_open: object
    oral_subject: object
    oral_drug: object
    dispensing: object
    sample: object = None
    shipment: object = None
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)


def _oral_subject(people, site_a):
    """A LVGN6051 + anlotinib subject (anlotinib is dispensed per cycle) with its first dispensing."""
    from subjects.dispensing import dispensed_drugs, dispensing_record
    from tests.conftest import load_trial, member
    from trials.models import Role

    trial = load_trial("LVGN6051-ANLOTINIB")
    for role in ("coordinator", "investigator"):
        member(trial, getattr(Role, role.upper()), site_a, people[role].username, principal=role == "investigator")
    coordinator = people["coordinator"]
    record = eligible_screening(trial, site_a, coordinator, initials="GHI")
    subject = subject_enrol(trial=trial, user=coordinator, screening=record)
    Subject.objects.filter(pk=subject.pk).update(enrolled_at=timezone.now() - timedelta(days=5))
    subject.refresh_from_db()
    when = (timezone.now() - timedelta(days=2)).replace(second=0, microsecond=0)
    predose(subject, when, coordinator)
    for drug in trial.drugs.all():
        if drug not in dispensed_drugs(trial):
            dose_record(subject=subject, drug=drug, cycle=1, day=1, administered_at=when, user=coordinator)
    drug = dispensed_drugs(trial)[0]
    dispensing = dispensing_record(subject=subject, drug=drug, cycle=1, dispensed_on=when.date(), first_dose_at=when,
                                   tablets_dispensed=14, user=coordinator)
    return Subject.objects.get(pk=subject.pk), drug, dispensing


@pytest.fixture
def world(request, people, bat6005, site_a):
    """The BAT6005 subject of ``dosed`` (DLT window closed) with an AE and the pending decision, a
    screening record in progress, and the oral-drug subject."""
    coordinator = people["coordinator"]
    subject, dose = request.getfixturevalue("dosed")
    when = dose.administered_at
    event = adverse_event_record(subject=subject, user=coordinator, term="Fatigue", grade=1,
                                 onset_date=(when + timedelta(days=2)).date(), attribution="possible")
    decision = decision_recommend(trial=bat6005)
    assert decision is not None
    in_progress = eligible_screening(bat6005, site_a, coordinator, initials="DEF", confirm=False)
    oral_subject, oral_drug, dispensing = _oral_subject(people, site_a)
    # The subject's samples: its pre-dose PK sample collected and shipped, its 4 h sample still to take.
    from pk.models import Sample
    from pk.services import sample_collect, shipment_create

    pre = sample_collect(sample=Sample.objects.get(subject=subject, code="C1-PK-pre"), user=coordinator,
                         collected_at=when - timedelta(minutes=5))
    shipment = shipment_create(user=coordinator, trial=bat6005, site=site_a, samples=[pre], lab="PK lab",
                               shipped_at=when, temperature="frozen-70")
    world = World(trial=bat6005, subject=Subject.objects.get(pk=subject.pk), adverse_event=event,
                  visit=PlannedVisit.objects.filter(subject=subject).order_by("target").first(),
                  decision=decision, screening_open=in_progress, oral_subject=oral_subject, oral_drug=oral_drug,
                  dispensing=dispensing, sample=Sample.objects.get(subject=subject, code="C1-PK-4h"),
                  shipment=shipment)
    for role in ROLES:
        client = Client(enforce_csrf_checks=True)
        if role != "anonymous":
            # As saved: _oral_subject's member() set the password again (a session made from the stale
            # object would not be valid).
            people[role].refresh_from_db()
            sign_in(client, people[role])
            world.users[role] = people[role]
        world.clients[role] = client
    return world


# --- the URLconf, walked ------------------------------------------------------------------------------

# Which object of the world a URL argument is, by URL name (or namespace prefix) and argument name; a
# ``pk`` is the BAT6005 subject and a ``code`` its trial otherwise.
URL_OBJECTS = {
    ("subjects:ae_detail", "pk"): "adverse_event",
    ("visits:record", "pk"): "visit",
    ("screening:", "pk"): "screening_open",
    ("escalation:decision", "pk"): "decision",
    ("subjects:dispensing_new", "pk"): "oral_subject",
    ("subjects:dispensing_new", "drug_pk"): "oral_drug",
    ("subjects:dispensing_return", "pk"): "dispensing",
    ("pk:collect", "pk"): "sample",
    ("pk:missed", "pk"): "sample",
    ("pk:shipment", "pk"): "shipment",
}
DEFAULT_OBJECTS = {"pk": "subject", "code": "trial"}
# The keys of allauth's e-mail links (confirm an address, reset a password): ones that are no one's.
LINK_KEYS = {"key": "no-such-key", "uidb36": "0"}
# Arguments that are numbers, not objects: the cycle of a profile's λz page.
NUMBERS = {"cycle": 1}


def named_patterns(resolver=None, namespace="", route=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin" or pattern.app_name == "admin":
                continue
            yield from named_patterns(pattern, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace,
                                      route + str(pattern.pattern))
        elif (route + str(pattern.pattern)).startswith("api/v1/"):
            continue  # the REST API: hostile values through schemathesis (tests/api/test_schemathesis.py)
        elif pattern.name:
            # A path()'s converters, or a re_path()'s named groups (allauth's e-mail links).
            params = getattr(pattern.pattern, "converters", None) or pattern.pattern.regex.groupindex
            yield namespace + pattern.name, list(params)


def _argument(world: World, name: str, param: str):
    matches = [attribute for (prefix, argument), attribute in URL_OBJECTS.items()
               if argument == param and (name == prefix or (prefix.endswith(":") and name.startswith(prefix)))]
    attribute = matches[0] if matches else DEFAULT_OBJECTS.get(param)
    if attribute is None and param in LINK_KEYS:
        return LINK_KEYS[param]
    if attribute is None and param in NUMBERS:
        return NUMBERS[param]
    if attribute is None:
        raise AssertionError(f"{name}: no value for the URL argument {param!r}; give one in URL_OBJECTS")
    obj = getattr(world, attribute)
    return obj.code if param == "code" else obj.pk


def page_urls(world: World) -> dict[str, list[str]]:
    """URL name -> the URLs to try (one per record kind for the records app's pages)."""
    out = {}
    for name, params in named_patterns():
        if not params:
            out[name] = [reverse(name)]
        elif set(params) == {"kind", "pk"}:
            from records.registry import KINDS

            urls = []
            for slug, kind in KINDS.items():
                manager = getattr(kind.model, "all_objects", kind.model._default_manager)
                instance = manager.order_by("pk").first()
                if instance is not None:
                    urls.append(reverse(name, kwargs={"kind": slug, "pk": instance.pk}))
            out[name] = urls
        else:
            out[name] = [reverse(name, kwargs={param: _argument(world, name, param) for param in params})]
    return out


# --- what a page offers -------------------------------------------------------------------------------


@dataclass
class Field:
    name: str
    tag: str
    kind: str
    value: str = ""
    checked: bool = False
    required: bool = False
    options: list = field(default_factory=list)


@dataclass
class FormTarget:
    role: str
    page: str
    action: str
    fields: list[Field]
    user: object = None

    def baseline(self) -> dict[str, list[str]]:
        """The form as a person would send it: what the page shows, empty fields given a plausible value."""
        data: dict[str, list[str]] = {}
        for f in self.fields:
            if f.kind in ("checkbox",):
                if f.checked or f.required:
                    data.setdefault(f.name, []).append(f.value or "on")
            elif f.kind == "radio":
                if f.checked or not (data.get(f.name) or [""])[0]:
                    data[f.name] = [f.value]
            elif f.tag == "select":
                chosen = [v for v, selected in f.options if selected] or [v for v, _ in f.options if v] or [""]
                data[f.name] = chosen[:1]
            elif f.kind in ("submit", "button") and f.tag == "button":
                data.setdefault(f.name, [f.value])
            else:
                data[f.name] = [f.value if f.value.strip() else _plausible(f, self.user)]
        return data

    def names(self) -> list[str]:
        return sorted({f.name for f in self.fields if f.name != "csrfmiddlewaretoken"})


def _plausible(f: Field, user) -> str:
    if user is None:  # anonymous: a login that succeeded would rotate the CSRF token of the anonymous client
        return ""
    if f.name == "username":
        return user.get_username()
    if f.name == "otp_code":
        return fresh_code(user) if policy.has_totp(user) else ""
    if f.name in PLAUSIBLE_BY_NAME:
        return PLAUSIBLE_BY_NAME[f.name]
    now = timezone.localtime()
    return {"date": now.date().isoformat(), "datetime-local": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "number": "1", "text": "Checked against the source notes", "password": PASSWORD,
            }.get(f.kind, "Checked against the source notes" if f.tag == "textarea" else "")


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.form: dict | None = None
        self.select: Field | None = None
        self.textarea: Field | None = None
        self.by_id: dict[str, str] = {}
        self.hx_gets: list[tuple[str, list[str]]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.form = {"method": (a.get("method") or "get").lower(),
                         "action": a.get("action") or a.get("hx-post", ""), "fields": []}
            self.forms.append(self.form)
        if tag in ("input", "select", "textarea", "button") and a.get("name"):
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            f = Field(a["name"], tag, kind, a.get("value", ""), "checked" in a, "required" in a)
            if a.get("id"):
                self.by_id[a["id"]] = a["name"]
            if self.form is not None:
                self.form["fields"].append(f)
            if tag == "select":
                self.select = f
            if tag == "textarea":
                self.textarea = f
        if tag == "option" and self.select is not None:
            self.select.options.append((a.get("value", ""), "selected" in a))
        if a.get("hx-get"):
            includes = [s.strip() for s in a.get("hx-include", "").split(",") if s.strip()]
            self.hx_gets.append((a["hx-get"], [a["name"]] if a.get("name") else [], includes))
        if tag == "a" and "?" in a.get("href", ""):
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea.value += data


@dataclass
class Site:
    """What the walk found: the POST targets and, per GET URL, the parameters it reads."""

    forms: list[FormTarget]
    gets: dict[tuple[str, str], set[str]]
    pages: dict[str, dict[str, int]]


def discover(world: World) -> Site:
    forms, gets, pages, seen = [], {}, {}, set()
    for urls in page_urls(world).values():
        for url in urls:
            for role in ROLES:
                response = world.clients[role].get(url)
                pages.setdefault(url, {})[role] = response.status_code
                assert response.status_code < 500, (role, url)
                if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                    continue
                parser = PageParser()
                parser.feed(response.content.decode())
                for form in parser.forms:
                    action = urljoin(url, form["action"]) if form["action"] else url
                    # A form shown on several pages (the screening record's) is one target.
                    key = (role, action, tuple(sorted(f.name for f in form["fields"])))
                    if form["method"] == "post":
                        if not action.startswith(SKIPPED_ACTIONS) and key not in seen:
                            seen.add(key)
                            forms.append(FormTarget(role, url, action, form["fields"], world.users.get(role)))
                    else:
                        gets.setdefault((role, urlsplit(action).path), set()).update(
                            f.name for f in form["fields"])
                for hx_url, own, includes in parser.hx_gets:
                    names = own + [parser.by_id.get(s.lstrip("#"), "") for s in includes]
                    gets.setdefault((role, urlsplit(urljoin(url, hx_url)).path), set()).update(n for n in names if n)
                for href in parser.links:
                    target = urljoin(url, href)
                    gets.setdefault((role, urlsplit(target).path), set()).update(
                        k for k, _ in parse_qsl(urlsplit(target).query, keep_blank_values=True))
    # Every URL answered someone with a page (or a redirect): a 404 for every role means the walk gave
    # it the wrong object (URL_OBJECTS) and would test nothing.
    for url, by_role in pages.items():
        assert any(code != 404 for code in by_role.values()), f"{url}: 404 for every role; see URL_OBJECTS"
    # A page with filters is a list: its pagination reads ?page= too.
    gets = {key: names | {"page"} for key, names in gets.items() if names}
    return Site(forms=forms, gets=gets, pages=pages)


# --- what is in the database --------------------------------------------------------------------------


def _tables() -> list[type[models.Model]]:
    seen, out = set(), []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.app_label in PROJECT_APPS and meta.managed and not meta.proxy and meta.db_table not in seen:
            seen.add(meta.db_table)
            out.append(model)
    return out


def row_counts() -> dict[str, int]:
    tables = [m._meta.db_table for m in _tables()]
    # Table names from the models' metadata, quoted: no input reaches this SQL.
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {connection.ops.quote_name(t)})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def audit_pairs() -> list[tuple[str, str]]:
    """(tracked table, its event table) for every model pghistory tracks."""
    from pghistory.models import Event

    return [(m.pgh_tracked_model._meta.db_table, m._meta.db_table) for m in apps.get_models()
            if issubclass(m, Event) and getattr(m, "pgh_tracked_model", None) is not None]


FORBIDDEN_SQL = "[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]"
# jsonb as text writes C0 controls as \u00XX escapes (tab, line feed and carriage return allowed).
FORBIDDEN_JSON_SQL = "\\\\u00(0[0-8bcef]|1[0-9a-f])|[\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]"


def _hostile_text_sql() -> str:
    """One query naming the tables with a control or bidirectional character in a text or JSON column."""
    parts = []
    for model in _tables():
        tests = []
        for f in model._meta.concrete_fields:
            column = connection.ops.quote_name(f.column)
            if isinstance(f, (models.CharField, models.TextField)):
                tests.append(f"{column} ~ '{FORBIDDEN_SQL}'")
            elif isinstance(f, models.JSONField):
                tests.append(f"{column}::text ~* '{FORBIDDEN_JSON_SQL}'")
        if tests:
            table = model._meta.db_table  # from the models' metadata: no input reaches this SQL
            where = " OR ".join(tests)
            parts.append(f"(SELECT '{table}' FROM {connection.ops.quote_name(table)} WHERE {where} LIMIT 1)")  # noqa: S608
    return " UNION ALL ".join(parts)


def stored_hostile_text() -> list[str]:
    """The tables holding a control or bidirectional character (none in the fixture data)."""
    with connection.cursor() as cursor:
        cursor.execute(_hostile_text_sql())
        return [row[0] for row in cursor.fetchall()]


# --- sending ------------------------------------------------------------------------------------------


def send_post(client: Client, url: str, data: dict[str, list[str]], encoding: str, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    if encoding == "multipart":
        return client.post(url, data, headers=headers)
    text = urlencode(data, doseq=True)
    content_type = "application/x-www-form-urlencoded"
    if encoding == "urlencoded":
        body = text.encode("utf-8")
    elif encoding == "invalid-utf-8":
        body = text.encode("utf-8") + b"&" + next(iter(data), "x").encode() + b"=%ff%fe%00"
    else:
        body = text.encode("utf-16") if encoding == "utf-16" else text.encode("utf-8")
        content_type += f"; charset={encoding}"
    return client.generic("POST", url, body, content_type=content_type, headers=headers)


@dataclass
class Outcome:
    requests: int = 0
    accepted: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@contextmanager
def restored(client: Client, user):
    """What a request changed outside the rolled-back savepoint, put back: the session cookie (a password
    change or a lockout gives the client a new session, which the rollback removes) and the one-time
    codes allauth marks as used in the cache (a signature spends one)."""
    cookie = client.cookies.get(django_settings.SESSION_COOKIE_NAME)
    kept = cookie.value if cookie is not None else None
    try:
        yield
    finally:
        if kept is not None:
            client.cookies[django_settings.SESSION_COOKIE_NAME] = kept
        if user is not None and policy.has_totp(user):
            secret = totp_secret(user)
            window = range(-mfa_settings.TOTP_TOLERANCE, mfa_settings.TOTP_TOLERANCE + 1)
            cache.delete_many([f"allauth.mfa.totp.used?user={user.pk}&code={totp_code(secret, steps)}"
                               for steps in window])


def post_and_check(world: World, target: FormTarget, data: dict, encoding: str, htmx: bool, outcome: Outcome):
    with restored(world.clients[target.role], target.user), transaction.atomic():
        before = row_counts()
        response = send_post(world.clients[target.role], target.action, data, encoding, htmx)
        outcome.requests += 1
        outcome.statuses[response.status_code] = outcome.statuses.get(response.status_code, 0) + 1
        where = f"{target.role} POST {target.action} ({encoding}{', htmx' if htmx else ''}) {_short(data)}"
        assert response.status_code < 500, where
        after = row_counts()
        accepted = (response.status_code in ACCEPTED or "HX-Redirect" in response
                    or (htmx and response.status_code == 200))
        changed = {t: (before[t], after[t]) for t in before if before[t] != after[t] and t != "django_session"}
        if not accepted:
            assert not changed, f"{where}: refused ({response.status_code}) but rows changed: {changed}"
        else:
            outcome.accepted += bool(changed)
            if encoding not in ("multipart", "urlencoded"):
                raise AssertionError(f"{where}: a body in {encoding} was accepted")
            for tracked, events in audit_pairs():
                grown = after[tracked] - before[tracked]
                assert after[events] - before[events] >= grown, f"{where}: {tracked} +{grown} without its audit events"
            assert not stored_hostile_text(), f"{where}: hostile characters stored in {stored_hostile_text()}"
        transaction.set_rollback(True)


def get_and_check(world: World, role: str, path: str, params: dict, outcome: Outcome):
    with transaction.atomic():
        before = row_counts()
        response = world.clients[role].get(path, params, headers={"HX-Request": "true"} if "ctcae" in path else {})
        outcome.requests += 1
        outcome.statuses[response.status_code] = outcome.statuses.get(response.status_code, 0) + 1
        where = f"{role} GET {path} {_short(params)}"
        assert response.status_code < 500, where
        changed = {t for t, n in row_counts().items() if before[t] != n and t != "django_session"}
        assert not changed, f"{where}: a GET changed {changed}"
        transaction.set_rollback(True)


def _short(data: dict) -> str:
    return repr({k: (v if len(repr(v)) < 80 else f"{repr(v)[:60]}… ({len(repr(v))} chars)") for k, v in data.items()})


HYPOTHESIS = settings(max_examples=6, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.data_too_large])
HYPOTHESIS_GET = settings(HYPOTHESIS, max_examples=15)  # the GET targets are fewer and cheaper


def test_hostile_values_on_every_form_and_filter(world):
    """No 5xx anywhere; a refused POST changes no row; an accepted one leaves its audit events and no
    hostile character in the database; a GET changes nothing."""
    started = time.monotonic()
    site = discover(world)
    discovered = time.monotonic()
    print(f"discovery: {len(site.pages)} URLs, {len(site.forms)} forms, {len(site.gets)} GET targets, "
          f"{discovered - started:.0f} s")
    roles_with_forms = {t.role for t in site.forms}
    assert {"coordinator", "investigator", "anonymous"} <= roles_with_forms, roles_with_forms
    assert len(site.forms) >= 20 and len(site.gets) >= 8, (len(site.forms), len(site.gets))
    filters = {path: names for (role, path), names in site.gets.items() if role == "coordinator"}
    assert {"term", "grade"} <= filters["/subjects/ctcae/grade/"] and "term" in filters["/subjects/ctcae/"], filters
    assert {"trial", "site"} <= filters["/visits/"] and "q" in filters[f"/subjects/trials/{world.trial.code}/"], filters
    posts, gets = Outcome(), Outcome()

    @HYPOTHESIS
    @given(data=st.data())
    def every_form(data):
        for target in site.forms:
            names = target.names()
            payload = target.baseline()
            if names:
                for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
                    payload[name] = [data.draw(hostile_values)]
            post_and_check(world, target, payload, data.draw(st.sampled_from(ENCODINGS)),
                           htmx=data.draw(st.booleans()), outcome=posts)

    @HYPOTHESIS_GET
    @given(data=st.data())
    def every_filter(data):
        for (role, path), names in sorted(site.gets.items()):
            name = data.draw(st.sampled_from(sorted(names)))
            get_and_check(world, role, path, {name: data.draw(hostile_values)}, gets)

    every_form()
    print(f"POSTs: {posts.requests} in {time.monotonic() - discovered:.0f} s")
    every_filter()
    # The walk and the examples reached the application: forms were refused and accepted, filters read.
    assert posts.requests >= 6 * len(site.forms) and gets.requests >= 15 * len(site.gets)
    assert 400 in posts.statuses and 422 in posts.statuses and posts.accepted >= 5, (posts.statuses, posts.accepted)
    elapsed = time.monotonic() - started
    print(f"hostile input: {len(site.pages)} pages, {len(site.forms)} forms, {len(site.gets)} GET targets; "
          f"{posts.requests} POSTs {posts.statuses} ({posts.accepted} saved), {gets.requests} GETs {gets.statuses}; "
          f"{elapsed:.0f} s")


def test_no_control_character_survives_the_walk_pattern():
    """The database scan of the property test finds what the input rules refuse (the pattern is right)."""
    pattern = re.compile(FORBIDDEN_SQL)
    for char in ("\x01", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"):
        assert pattern.search(f"a{char}b") and forbidden_character(char)
    for char in ("\t", "\n", "\r", "é", "٣"):
        assert not pattern.search(f"a{char}b")


def test_every_form_follows_the_input_rules():
    """Every form class of the application's apps is a CheckedForm / CheckedModelForm."""
    import importlib

    from django import forms as django_forms

    from trialsite.forms import InputRulesMixin

    for app in ("subjects", "screening", "visits", "escalation", "notifications", "records", "trials"):
        try:
            importlib.import_module(f"{app}.forms")
        except ModuleNotFoundError:
            continue

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    project = {"subjects", "screening", "visits", "escalation", "notifications", "records", "trials", "trialsite"}
    offenders = sorted({f"{c.__module__}.{c.__qualname__}" for c in subclasses(django_forms.BaseForm)
                        if c.__module__.split(".")[0] in project and not issubclass(c, InputRulesMixin)})
    assert not offenders, offenders


# --- the reproductions of issue 8, point 10, one by one ----------------------------------------------


@pytest.fixture
def subject(people, bat6005, site_a):
    coordinator = people["coordinator"]
    record = eligible_screening(bat6005, site_a, coordinator)
    return subject_enrol(trial=bat6005, user=coordinator, screening=record)


def _refused(response, parameter: str, words: str):
    assert response.status_code == 400, response.status_code
    html = response.content.decode()
    assert f"<strong>{parameter}</strong>" in html and words in html, html[-1500:]
    assert "Nothing was saved" in html


@pytest.mark.parametrize("path", ["/visits/?trial=%00", "/visits/?site=ab%00", "/subjects/ctcae/?term=ab%00cd",
                                  "/subjects/ctcae/grade/?term=Fatigue%00&grade=1"])
def test_nul_in_a_get_filter_is_a_400_naming_it(login, people, path):
    response = login(people["coordinator"]).get(path)
    _refused(response, path.split("?")[1].split("=")[0].split("&")[-1] if "grade" not in path else "term",
             "U+0000 NULL")


def test_bidi_override_and_non_utf8_in_the_address_are_refused(login, people, bat6005):
    client = login(people["coordinator"])
    _refused(client.get(f"/subjects/trials/{bat6005.code}/?q=ab%E2%80%AEcd"), "q", "U+202E RIGHT-TO-LEFT OVERRIDE")
    _refused(client.get(f"/subjects/trials/{bat6005.code}/?q=%ff%fe"), "q", "not UTF-8")
    _refused(client.get(f"/subjects/trials/{bat6005.code}/?q=" + "a" * 1001), "q", "at most 1,000")


def test_nul_in_an_ae_term_is_a_field_message(login, people, subject):
    response = login(people["coordinator"]).post(reverse("subjects:ae_new", args=[subject.pk]),
                                                 {"term": "Fatigue\x00", "grade": "2", "onset_date": "2026-01-10"})
    assert response.status_code == 422
    assert "U+0000 NULL" in response.context["form"].errors["term"][0]
    assert not AdverseEvent.objects.exists()


@pytest.mark.parametrize("grade", ["²", "٣", "9" * 5000])
def test_a_superscript_digit_as_a_grade_is_a_field_message(login, people, subject, grade):
    client = login(people["coordinator"])
    response = client.post(reverse("subjects:ae_new", args=[subject.pk]),
                           {"term": "Fatigue", "grade": grade, "onset_date": "2026-01-10"})
    assert response.status_code == 422
    assert "grade" in response.context["form"].errors
    response = client.get(reverse("subjects:ctcae_grade"), {"term": "Fatigue", "grade": grade})
    if len(grade) > 1000:  # longer than any GET value may be
        _refused(response, "grade", "at most 1,000")
    else:
        assert response.status_code == 200 and "Choose a CTCAE term and a grade" in response.content.decode()


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "1\u202e"])
def test_a_bad_notification_id_is_no_server_error(login, people, value):
    response = login(people["coordinator"]).post(reverse("notifications:mark_read"), {"id": value})
    assert response.status_code < 500


@pytest.mark.parametrize("field", ["cycle", "day"])
def test_huge_and_non_ascii_integers_in_a_dose_are_field_messages(login, people, bat6005, subject, field):
    client = login(people["coordinator"])
    data = {"drug": bat6005.drugs.get().pk, "cycle": "1", "day": "1", "dose": "10",
            "administered_at": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    for value, message in (("9" * 5000, "too long"), ("40000", "less than or equal to 32767"),
                           ("٣", "digits 0–9"), ("³", "digits 0–9")):
        response = client.post(reverse("subjects:dose_new", args=[subject.pk]), {**data, field: value})
        assert response.status_code == 422
        errors = response.context["form"].errors
        assert any(message in e for e in errors[field]), (value, errors)
    assert not DoseAdministration.objects.exists()


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "latin-1", "x-bogus"])
def test_a_login_post_in_another_charset_is_a_400(db, charset):
    """Today utf-16 is a 500: Django refuses the body in the CSRF check, then again in its 400 handler."""
    client = Client(enforce_csrf_checks=True)
    token = client.get("/login/").cookies["csrftoken"].value
    text = f"csrfmiddlewaretoken={token}&login=coordinator&password=x"
    body = text.encode("utf-16") if charset == "utf-16" else text.encode()
    response = client.generic("POST", "/login/", body,
                              content_type=f"application/x-www-form-urlencoded; charset={charset}")
    assert response.status_code == 400
    assert "UTF-8 only" in response.content.decode()


def test_an_undecodable_form_body_is_a_400_naming_the_field(db):
    client = Client(enforce_csrf_checks=True)
    token = client.get("/login/").cookies["csrftoken"].value
    response = client.generic("POST", "/login/", f"csrfmiddlewaretoken={token}&login=%ff%fe".encode(),
                              content_type="application/x-www-form-urlencoded")
    _refused(response, "login", "not UTF-8")


def test_a_cookie_with_a_nul_is_refused_without_reading_the_session(db):
    client = Client()
    client.cookies["sessionid"] = "\x00" * 32
    response = client.get("/login/")
    assert response.status_code == 400 and "sessionid" in response.content.decode()


def test_a_10000_character_ctcae_term(login, people, subject):
    """The input stops at the field's length (maxlength), so the htmx look-up URL stays short; a longer
    term sent by hand is answered with a message, not 414 or 500."""
    client = login(people["coordinator"])
    page = client.get(reverse("subjects:ae_new", args=[subject.pk])).content.decode()
    assert re.search(r'<input type="text" name="term"[^>]*maxlength="200"', page)
    assert "At most 200 characters." in page
    response = client.get(reverse("subjects:ctcae_search"), {"term": "a" * 201}, headers={"HX-Request": "true"})
    _refused(response, "term", "at most 200 characters")
    _refused(client.get(reverse("subjects:ctcae_search"), {"term": "a" * 10000}), "term", "at most 1,000")
    response = client.post(reverse("subjects:ae_new", args=[subject.pk]),
                           {"term": "a" * 10000, "grade": "2", "onset_date": "2026-01-10"})
    assert response.status_code == 422
    assert "at most 200 characters" in response.context["form"].errors["term"][0]
