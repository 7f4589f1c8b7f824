"""One click, one record (issue 8, point 8): every form that writes something carries a one-time
submission token; the same POST sent twice (a double click, a re-sent request) is saved once and the
second answer goes where the first went. Per form through the test client, the token rule where it
lives (submissions.tokens), and one real race of two connections on the AE form."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.models import Cohort, Signature
from escalation.services import decision_recommend
from screening.models import ScreeningRecord
from screening.services import screening_start
from subjects import services as subject_services
from subjects.models import AdverseEvent, Assessment, ContinuationException, DoseAdministration, GateOverride, Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from submissions import tokens
from submissions.middleware import ALREADY_SUBMITTED
from submissions.models import SubmissionToken
from tests.auth import signed
from tests.screening.helpers import eligible_screening, predose, site_ulns
from tests.visits.conftest import make_subject
from visits.models import FollowUp

# The rendered form ----------------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """The action and the values a browser would send for the form with ``id`` (text inputs, checked
    boxes and radios, selected options, textareas; not the submit buttons)."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.action = form_id, False, None
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside, self.action = True, a.get("action")
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type", "text") not in ("submit", "button", "image", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select:
            if self._select_first is None:
                self._select_first = a.get("value", "")
            if "selected" in a:
                self.data.setdefault(self._select, []).append(a.get("value", ""))
                self._select_chosen = True
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self.data[self._select] = [self._select_first]
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form" and self.inside:
            self.inside = False


def read_form(html: str, form_id: str) -> tuple[str, dict]:
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.action, f"no form #{form_id} on the page"
    data = {k: v if len(v) > 1 else v[0] for k, v in reader.data.items()}
    return reader.action, data


def submit_twice(client, page_url: str, form_id: str, changes: dict | None = None, **headers):
    """Render the page, fill the form, send the very same POST twice. Returns both answers and the
    number of audit events the second one wrote."""
    page = client.get(page_url)
    assert page.status_code == 200
    action, data = read_form(page.content.decode(), form_id)
    assert uuid.UUID(data[tokens.TOKEN_FIELD])
    data.update(changes or {})
    first = client.post(action, data, headers=headers)
    events = Events.objects.count()
    second = client.post(action, data, headers=headers)
    return first, second, Events.objects.count() - events


def assert_once(client, first, second, written_by_second):
    """The first answer is a success; the second went where the first went and saved nothing."""
    assert first.status_code == 302, first.content.decode()[:3000]
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert written_by_second == 0
    assert ALREADY_SUBMITTED in client.get(second["Location"]).content.decode()


# Fixtures --------------------------------------------------------------------------------------------

def enrol(trial, site, user, initials):
    return subject_enrol(trial=trial, site=site, user=user, initials=initials, date_of_birth=date(1960, 1, 1),
                         sex="F")


def dose_first(subject, user, *, days_ago: float):
    """Pre-dose assessments and the first dose, ``days_ago`` days ago."""
    when = timezone.now() - timedelta(days=days_ago)
    predose(subject, when, user)
    return dose_record(subject=subject, drug=subject.trial.drugs.get(), cycle=1, day=1, administered_at=when,
                       user=user)


@pytest.fixture
def subject(people, bat6005, site_a):
    return enrol(bat6005, site_a, people["coordinator"], "OC")


@pytest.fixture
def dosed(people, subject):
    dose_first(subject, people["coordinator"], days_ago=3)
    return subject


def ae_data(**extra):
    return {"term": "Fatigue", "grade": "1", "onset_date": timezone.localdate().isoformat(),
            "attribution": "unrelated", **extra}


# One record per form -----------------------------------------------------------------------------------

@pytest.mark.django_db
class TestEachForm:
    def test_start_screening(self, login, people, bat6005, site_a):
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("screening:new", args=[bat6005.code]),
                                              "screening-form", {
                                                  "site": str(site_a.pk), "initials": "JD",
                                                  "date_of_birth": "1958-07-01", "sex": "M",
                                                  "consent_form_version": "v2.0",
                                                  "consent_date": (timezone.localdate()
                                                                   - timedelta(days=2)).isoformat()})
        assert_once(client, first, second, written)
        record = ScreeningRecord.objects.get()
        assert first["Location"] == reverse("screening:detail", args=[record.pk])

    def _started(self, people, bat6005, site_a):
        site_ulns(site_a)
        return screening_start(trial=bat6005, site=site_a, user=people["coordinator"], initials="JV",
                               date_of_birth=date(1958, 7, 1), sex="M", consent_form_version="v1",
                               consent_date=timezone.localdate() - timedelta(days=3),
                               consent_obtained_by=people["coordinator"])

    def test_screening_values(self, login, people, bat6005, site_a):
        record = self._started(people, bat6005, site_a)
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("screening:detail", args=[record.pk]),
                                              "values-form", {"assessed_on": timezone.localdate().isoformat(),
                                                              "ecog": "1"})
        assert_once(client, first, second, written)
        record.refresh_from_db()
        assert record.values["ecog"] == 1 or record.values["ecog"] == "1"

    def test_screening_values_through_htmx_goes_back_to_the_page(self, login, people, bat6005, site_a):
        record = self._started(people, bat6005, site_a)
        client = login(people["coordinator"])
        detail = reverse("screening:detail", args=[record.pk])
        first, second, written = submit_twice(client, detail, "values-form",
                                              {"assessed_on": timezone.localdate().isoformat(), "ecog": "1"},
                                              HX_Request="true", HX_Current_URL=f"http://testserver{detail}")
        assert first.status_code == 200 and b'id="screening-work"' in first.content  # the partial swap
        assert second.status_code == 200 and second["HX-Redirect"] == detail
        assert written == 0

    def test_screening_judgements(self, login, people, bat6005, site_a):
        record = self._started(people, bat6005, site_a)
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("screening:detail", args=[record.pk]),
                                              "judgement-form", {"j_consent": "yes", "j_measurable": "yes",
                                                                 "j_diagnosis": "yes"})
        assert_once(client, first, second, written)
        record.refresh_from_db()
        assert record.judgements["consent"]["met"] is True

    def test_screening_decision(self, login, people, bat6005, site_a):
        record = eligible_screening(bat6005, site_a, people["coordinator"], confirm=False)
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("screening:detail", args=[record.pk]),
                                              "decision-form", {"action": "eligible"})
        assert_once(client, first, second, written)
        record.refresh_from_db()
        assert record.status == "eligible"

    def test_enrolment(self, login, people, bat6005, site_a):
        record = eligible_screening(bat6005, site_a, people["coordinator"])
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("subjects:enrol", args=[bat6005.code]),
                                              "enrol-form", {"screening": str(record.pk)})
        assert_once(client, first, second, written)
        assert Subject.objects.count() == 1

    def test_enrolment_from_the_screening_record(self, login, people, bat6005, site_a):
        record = eligible_screening(bat6005, site_a, people["coordinator"])
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("screening:detail", args=[record.pk]),
                                              "enrol-from-screening")
        assert_once(client, first, second, written)
        assert Subject.objects.count() == 1

    def test_adverse_event(self, login, people, dosed):
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("subjects:ae_new", args=[dosed.pk]), "ae-form",
                                              ae_data())
        assert_once(client, first, second, written)
        assert AdverseEvent.objects.filter(subject=dosed).count() == 1

    def test_adverse_event_through_htmx(self, login, people, dosed):
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("subjects:ae_new", args=[dosed.pk]), "ae-form",
                                              ae_data(), HX_Request="true")
        detail = reverse("subjects:detail", args=[dosed.pk])
        assert first["HX-Redirect"] == detail and second["HX-Redirect"] == detail
        assert written == 0 and AdverseEvent.objects.filter(subject=dosed).count() == 1

    def test_dose(self, login, people, subject):
        when = timezone.now() - timedelta(hours=1)
        predose(subject, when, people["coordinator"])
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("subjects:dose_new", args=[subject.pk]), "dose-form",
                                              {"administered_at": timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")})
        assert_once(client, first, second, written)
        assert DoseAdministration.objects.filter(subject=subject).count() == 1

    def test_assessment(self, login, people, subject):
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("subjects:assessment_new", args=[subject.pk]),
                                              "assessment-form", {"kind": "vitals", "weight_kg": "70",
                                                                  "assessed_on": timezone.localdate().isoformat()})
        assert_once(client, first, second, written)
        assert Assessment.objects.filter(subject=subject).count() == 1

    def test_dlt_adjudication(self, login, people, dosed):
        event = adverse_event_record(subject=dosed, user=people["coordinator"], term="Pneumonitis", grade=3,
                                     attribution="probable", onset_date=timezone.localdate())
        assert event.dlt_status == "proposed"
        client = login(people["investigator"])
        first, second, written = submit_twice(client, reverse("subjects:ae_detail", args=[event.pk]),
                                              "adjudication-form", {"decision": "confirm"})
        assert_once(client, first, second, written)
        event.refresh_from_db()
        assert event.dlt_status == "confirmed"

    def test_gate_override(self, login, people, bat6005, site_a):
        Cohort.objects.filter(trial=bat6005, number=1).update(capacity=3)
        first_subject, blocked = (enrol(bat6005, site_a, people["coordinator"], i) for i in ("GA", "GB"))
        dose_first(first_subject, people["coordinator"], days_ago=1)
        client = login(people["investigator"])
        first, second, written = submit_twice(client, reverse("subjects:gate_override", args=[blocked.pk]),
                                              "gate-override-form",
                                              {"gate": "stagger",
                                               "reason": "Rapidly progressing disease; monitor agreed."})
        assert_once(client, first, second, written)
        assert GateOverride.objects.filter(subject=blocked).count() == 1

    def test_continuation_exception(self, login, people, subject):
        client = login(people["investigator"])
        first, second, written = submit_twice(client, reverse("subjects:continuation", args=[subject.pk]),
                                              "continuation-form",
                                              {"reason": "Ongoing partial response; sponsor agreed on 3 March."})
        assert_once(client, first, second, written)
        assert ContinuationException.objects.filter(subject=subject).count() == 1

    def test_visit_record(self, login, people, bat6005, site_a):
        planned = make_subject(bat6005, site_a, people["coordinator"],
                               first_dose=timezone.localdate() - timedelta(days=37))
        visit = planned.visits.get(code="C2D1")
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("visits:record", args=[visit.pk]), "done-form",
                                              {"done-done_on": visit.target.isoformat()})
        assert_once(client, first, second, written)
        visit.refresh_from_db()
        assert visit.status == "done"

    def test_follow_up(self, login, people, bat6005, site_a):
        planned = make_subject(bat6005, site_a, people["coordinator"],
                               first_dose=timezone.localdate() - timedelta(days=37))
        client = login(people["coordinator"])
        first, second, written = submit_twice(client, reverse("visits:follow_up", args=[planned.pk]),
                                              "follow-up-form",
                                              {"last_dose": (timezone.localdate() - timedelta(days=37)).isoformat()})
        assert_once(client, first, second, written)
        assert FollowUp.objects.filter(subject=planned).count() == 1

    def test_intermediate_dose_level(self, login, people, bat6005):
        levels = {lv.label: lv for lv in bat6005.dose_levels.all()}
        count = bat6005.dose_levels.count()
        client = login(people["investigator"])
        first, second, written = submit_twice(client, reverse("escalation:intermediate_level", args=[bat6005.code]),
                                              "level-form", {
                                                  "lower": str(levels["300 mg"].pk), "upper": str(levels["600 mg"].pk),
                                                  "label": "450 mg", f"dose_{bat6005.drugs.get().pk}": "450",
                                                  "reason": "2/6 DLT at 600 mg; explore 450 mg."})
        assert_once(client, first, second, written)
        assert bat6005.dose_levels.count() == count + 1

    def test_signature(self, login, people, bat6005, site_a):
        dose_first(enrol(bat6005, site_a, people["coordinator"], "SG"), people["coordinator"], days_ago=30)
        decision = decision_recommend(trial=bat6005)
        client = login(people["investigator"])
        first, second, written = submit_twice(client, reverse("escalation:decision", args=[decision.pk]),
                                              "sign-form", signed(people["investigator"], meaning="approved"))
        assert_once(client, first, second, written)
        assert Signature.objects.filter(decision=decision).count() == 1


# What the token does and does not do ------------------------------------------------------------------


@pytest.mark.django_db
def test_form_with_errors_gives_its_token_back_and_a_fresh_one(login, people, dosed):
    client = login(people["coordinator"])
    url = reverse("subjects:ae_new", args=[dosed.pk])
    _, data = read_form(client.get(url).content.decode(), "ae-form")
    token = data[tokens.TOKEN_FIELD]
    refused = client.post(url, {**ae_data(grade=""), tokens.TOKEN_FIELD: token})
    assert refused.status_code == 422
    _, again = read_form(refused.content.decode(), "ae-form")
    assert again[tokens.TOKEN_FIELD] != token  # the re-rendered form has its own token
    assert not SubmissionToken.objects.filter(pk=token).exists()
    # The corrected form is saved, even when the browser re-sends the first token.
    assert client.post(url, {**ae_data(), tokens.TOKEN_FIELD: token}).status_code == 302
    assert AdverseEvent.objects.filter(subject=dosed).count() == 1


@pytest.mark.django_db
def test_failing_view_gives_its_token_back(login, people, dosed, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(subject_services, "adverse_event_record", broken)
    client = login(people["coordinator"])
    token = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        client.post(reverse("subjects:ae_new", args=[dosed.pk]), {**ae_data(), tokens.TOKEN_FIELD: token})
    assert not SubmissionToken.objects.filter(pk=token).exists()


@pytest.mark.django_db
def test_token_of_another_user_or_form_is_refused(login, people, dosed):
    client = login(people["coordinator"])
    url = reverse("subjects:ae_new", args=[dosed.pk])
    token = str(uuid.uuid4())
    assert client.post(url, {**ae_data(), tokens.TOKEN_FIELD: token}).status_code == 302
    other = login(people["investigator"]).post(url, {**ae_data(), tokens.TOKEN_FIELD: token})
    assert other.status_code == 400 and b"belongs to another form or another user" in other.content
    client = login(people["coordinator"])
    elsewhere = client.post(reverse("subjects:assessment_new", args=[dosed.pk]),
                            {"kind": "vitals", "assessed_on": timezone.localdate().isoformat(),
                             tokens.TOKEN_FIELD: token})
    assert elsewhere.status_code == 400
    bad = client.post(url, {**ae_data(), tokens.TOKEN_FIELD: "not-a-token"})
    assert bad.status_code == 400 and b"submission token is not valid" in bad.content
    assert AdverseEvent.objects.filter(subject=dosed).count() == 1


@pytest.mark.django_db
def test_post_without_a_token_still_works(login, people, dosed):
    """API clients and pages rendered before the token: saved as before (unprotected; docs/once.md)."""
    client = login(people["coordinator"])
    assert client.post(reverse("subjects:ae_new", args=[dosed.pk]), ae_data()).status_code == 302
    assert AdverseEvent.objects.filter(subject=dosed).count() == 1
    assert not SubmissionToken.objects.exists()


@pytest.mark.django_db
def test_logout_and_login_forms_carry_no_token(client, people):
    login_page = client.get(reverse("login")).content.decode()
    assert tokens.TOKEN_FIELD not in login_page
    client.force_login(people["coordinator"])
    home = client.get(reverse("home")).content.decode()
    assert tokens.TOKEN_FIELD not in home  # only the log-out form posts there
    assert "js/submit-once" in home


# The rule where it lives -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_claim_new_then_done_then_foreign(people):
    user = people["coordinator"]
    token = uuid.uuid4()
    assert tokens.claim(token, user_id=user.pk, path="/x/").state == "new"
    assert tokens.claim(token, user_id=user.pk, path="/x/", wait=0).state == "running"
    tokens.complete(token, location="/done/#here")
    assert tokens.claim(token, user_id=user.pk, path="/x/") == tokens.Claim("done", "/done/#here")
    assert tokens.claim(token, user_id=user.pk, path="/y/").state == "foreign"
    assert tokens.claim(token, user_id=people["investigator"].pk, path="/x/").state == "foreign"
    tokens.release(token)  # a completed token is kept
    assert SubmissionToken.objects.filter(pk=token).exists()


@pytest.mark.django_db
def test_released_token_can_be_claimed_again(people):
    token = uuid.uuid4()
    assert tokens.claim(token, user_id=people["coordinator"].pk, path="/x/").state == "new"
    tokens.release(token)
    assert tokens.claim(token, user_id=people["coordinator"].pk, path="/x/").state == "new"


@pytest.mark.django_db
def test_old_tokens_are_purged_on_insert(people, settings):
    settings.SUBMISSION_TOKEN_RETENTION_DAYS = 30
    user = people["coordinator"]
    old, recent = uuid.uuid4(), uuid.uuid4()
    SubmissionToken.objects.create(token=old, user=user, path="/x/", created_at=timezone.now() - timedelta(days=31))
    SubmissionToken.objects.create(token=recent, user=user, path="/x/",
                                   created_at=timezone.now() - timedelta(days=29))
    tokens.claim(uuid.uuid4(), user_id=user.pk, path="/x/")
    assert not SubmissionToken.objects.filter(pk=old).exists()
    assert SubmissionToken.objects.filter(pk=recent).exists()


@pytest.mark.django_db
def test_only_same_site_paths_are_remembered(rf, people):
    from django.http import HttpResponse, HttpResponseRedirect

    from submissions.middleware import result_location

    request = rf.post("/subjects/1/adverse-events/new/")
    assert result_location(request, HttpResponseRedirect("/subjects/1/#ae")) == "/subjects/1/#ae"
    assert result_location(request, HttpResponseRedirect("https://evil.example/")) == request.path
    hx = rf.post("/screening/1/values/", headers={"HX-Current-URL": "http://testserver/screening/1/?a=1"})
    assert result_location(hx, HttpResponse("partial")) == "/screening/1/?a=1"


# Two connections at once -------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_token_at_the_same_moment_record_one_ae(people, bat6005, site_a, monkeypatch):
    subject = enrol(bat6005, site_a, people["coordinator"], "RC")
    dose_first(subject, people["coordinator"], days_ago=3)
    real = subject_services.adverse_event_record

    def slow(**kwargs):  # the first request is still saving when the second arrives
        time.sleep(0.5)
        return real(**kwargs)

    monkeypatch.setattr(subject_services, "adverse_event_record", slow)
    clients = [Client(), Client()]
    clients[0].force_login(people["coordinator"])
    clients[1].cookies = clients[0].cookies
    url = reverse("subjects:ae_new", args=[subject.pk])
    data = {**ae_data(), tokens.TOKEN_FIELD: str(uuid.uuid4())}
    barrier = threading.Barrier(2)
    answers: list = []

    def post(client):
        try:
            barrier.wait(timeout=10)
            answers.append(client.post(url, data))
        except Exception as exc:  # reported by the assertion below
            answers.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert AdverseEvent.objects.filter(subject=subject).count() == 1
    assert [a.status_code for a in answers] == [302, 302], answers
    assert answers[0]["Location"] == answers[1]["Location"] == reverse("subjects:detail", args=[subject.pk])
