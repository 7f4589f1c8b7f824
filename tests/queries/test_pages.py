"""Data queries through the running application: raise, answer with a correction, close; where open queries
show (the record, its history, the subject page, the work queue, the sponsor's dashboard); the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from queries.models import Query
from queries.services import query_answer, query_raise
from tests.auth import sign_in

pytestmark = pytest.mark.django_db

AE = "adverse-event"


def raised(event, user, field="grade", text="Please check the grade against the source notes."):
    return query_raise(user=user, kind=AE, record=event, field=field, text=text)


def test_the_monitor_raises_the_site_answers_with_a_correction_the_monitor_closes(client, roles, event):
    sign_in(client, roles["monitor"])
    url = reverse("queries:raise", args=[AE, event.pk])
    page = client.get(url + "?field=grade")
    assert page.status_code == 200 and 'value="grade" selected' in page.content.decode()
    refused = client.post(url, {"field": "colour", "text": "Check."})
    assert refused.status_code == 422 and "Select a valid choice" in refused.content.decode()
    refused = client.post(url, {"field": "grade", "text": ""})
    assert refused.status_code == 422 and "This field is required" in refused.content.decode()
    assert not Query.objects.exists()
    response = client.post(url, {"field": "grade", "text": "The notes say grade 2."})
    query = Query.objects.get()
    assert response.status_code == 302 and response.url == reverse("queries:detail", args=[query.pk])
    page = client.get(response.url).content.decode()
    assert "The notes say grade 2." in page and 'id="close-form"' in page and 'id="answer-form"' not in page
    assert "answer-with-correction" not in page  # the monitor writes no clinical data

    client.logout()
    sign_in(client, roles["coordinator"])
    home = client.get(reverse("home")).content.decode()
    assert 'id="queue-queries"' in home and f"query #{query.pk}" in home
    page = client.get(reverse("queries:detail", args=[query.pk])).content.decode()
    assert 'id="answer-form"' in page and 'id="close-form"' not in page
    correct_url = reverse("records:correct", args=[AE, event.pk]) + f"?query={query.pk}"
    assert correct_url in page
    form = client.get(correct_url).content.decode()
    assert 'id="answering-query"' in form and f'action="{correct_url}"' in form
    response = client.post(correct_url, {"term": event.term, "grade": 2, "onset_date": event.onset_date.isoformat(),
                                         "attribution": event.attribution, "reason": "Grade 2 per the notes"})
    assert response.status_code == 302 and response.url == reverse("queries:detail", args=[query.pk])
    event.refresh_from_db()
    query.refresh_from_db()
    assert event.grade == 2 and query.status == "answered"
    page = client.get(response.url).content.decode()
    assert "Answered with a correction" in page and "<del>1</del> → 2" in page
    assert client.post(reverse("queries:detail", args=[query.pk]), {"action": "close", "text": ""}).status_code == 403

    client.logout()
    sign_in(client, roles["monitor"])
    assert 'id="queue-queries-review"' in client.get(reverse("home")).content.decode()
    response = client.post(reverse("queries:detail", args=[query.pk]), {"action": "close", "text": "Resolved."})
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.status == "closed" and query.closed_by == roles["monitor"]


def test_a_step_refused_is_a_message_on_the_page(client, roles, event):
    query = raised(event, roles["monitor"])
    sign_in(client, roles["coordinator"])
    response = client.post(reverse("queries:detail", args=[query.pk]), {"action": "answer", "text": " "})
    assert response.status_code == 422 and "Write the answer." in response.content.decode()
    query.refresh_from_db()
    assert query.status == "open"


def test_who_reaches_the_pages(client, roles, event):
    query = raised(event, roles["investigator"])
    detail, raise_url = reverse("queries:detail", args=[query.pk]), reverse("queries:raise", args=[AE, event.pk])
    listing = reverse("queries:list", args=[event.subject.trial.code])
    correct_other = reverse("records:correct", args=[AE, event.pk]) + "?query=999999"
    expected = {  # detail, raise, list
        "coordinator": (200, 403, 200), "investigator": (200, 200, 200), "monitor": (200, 200, 200),
        "data_manager": (200, 200, 200), "sponsor": (404, 404, 403), "coordinator_b": (404, 404, 200),
        "monitor_b": (404, 404, 200)}
    for who, statuses in expected.items():
        client.logout()
        sign_in(client, roles[who])
        got = tuple(client.get(url).status_code for url in (detail, raise_url, listing))
        assert got == statuses, who
        if who in ("coordinator_b", "monitor_b"):
            assert event.subject.code not in client.get(listing).content.decode()
    client.logout()
    sign_in(client, roles["coordinator"])
    assert client.get(correct_other).status_code == 404


def test_the_list_filters(client, roles, event, subject):
    from tests.queries.conftest import record_ae

    other = record_ae(subject, roles["coordinator"], term="Nausea")
    first = raised(event, roles["monitor"], text="FIRST-QUERY")
    raised(other, roles["monitor"], field="", text="SECOND-QUERY")
    query_answer(user=roles["coordinator"], query=first, text="Checked.")
    sign_in(client, roles["data_manager"])
    url = reverse("queries:list", args=[subject.trial.code])
    body = client.get(url).content.decode()  # default: not closed
    assert "FIRST-QUERY" in body and "SECOND-QUERY" in body and subject.code in body and "QRY" not in body
    body = client.get(url, {"status": "open"}).content.decode()
    assert "FIRST-QUERY" not in body and "SECOND-QUERY" in body
    body = client.get(url, {"status": "all", "site": "SITE-B"}).content.decode()
    assert "FIRST-QUERY" not in body and "SECOND-QUERY" not in body
    body = client.get(url, {"status": "all", "kind": "dose"}).content.decode()
    assert "FIRST-QUERY" not in body
    body = client.get(url, {"status": "answered", "kind": AE, "subject": subject.code}).content.decode()
    assert "FIRST-QUERY" in body and "SECOND-QUERY" not in body


def test_open_queries_show_on_the_record_its_history_the_subject_and_the_dashboard(client, roles, event, subject):
    query = raised(event, roles["monitor"])
    sign_in(client, roles["coordinator"])
    link = reverse("queries:detail", args=[query.pk])
    for url in (reverse("subjects:ae_detail", args=[event.pk]), reverse("records:history", args=[AE, event.pk]),
                reverse("subjects:detail", args=[subject.pk])):
        body = client.get(url).content.decode()
        assert link in body, url
    body = client.get(reverse("subjects:detail", args=[subject.pk])).content.decode()
    assert 'id="subject-query-count">1<' in body
    assert 'id="raise-query"' not in client.get(reverse("subjects:ae_detail", args=[event.pk])).content.decode()
    client.logout()
    sign_in(client, roles["investigator"])
    assert 'id="raise-query"' in client.get(reverse("subjects:ae_detail", args=[event.pk])).content.decode()
    client.logout()
    sign_in(client, roles["sponsor"])
    body = client.get(reverse("trials:dashboard", args=[subject.trial.code])).content.decode()
    assert 'id="query-sites"' in body and subject.code not in body
    assert "<td>SITE-A — Site A</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td>" in body


def test_the_sites_counts_and_ages(roles, event, subject):
    from datetime import timedelta

    from django.utils import timezone

    from queries.selectors import site_query_counts

    now = timezone.now()
    for days in (10, 4, 1):
        query = raised(event, roles["monitor"])
        Query.objects.filter(pk=query.pk).update(raised_at=now - timedelta(days=days, hours=1))
    query_answer(user=roles["coordinator"], query=query, text="Checked.")
    rows = {row["site"]: row for row in site_query_counts(subject.trial, now=now)}
    assert rows["SITE-A"] == {"site": "SITE-A", "name": "Site A", "open": 2, "answered": 1, "closed": 0,
                              "oldest_days": 10, "median_days": 4}
    assert rows["SITE-B"]["open"] == 0 and rows["SITE-B"]["oldest_days"] is None


# --- the API --------------------------------------------------------------------------------------------


def test_the_api_lists_raises_answers_closes_and_reopens(client, roles, event, subject):
    sign_in(client, roles["monitor"])
    base = "/api/v1/queries/"
    refused = client.post(base, {"kind": AE, "object_id": event.pk, "field": "colour", "text": "Check."},
                          content_type="application/json")
    assert refused.status_code == 400 and "colour" in refused.json()["field"][0]
    created = client.post(base, {"kind": AE, "object_id": event.pk, "field": "grade", "text": "Check the grade."},
                          content_type="application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["status"] == "open" and created.json()["subject"] == subject.code
    assert client.post(f"{base}{pk}/answer/", {"text": "Fine."}, content_type="application/json").status_code == 403
    client.logout()
    sign_in(client, roles["coordinator"])
    listed = client.get(base, {"trial": subject.trial.code, "status": "open", "kind": AE}).json()
    assert [q["id"] for q in listed["results"]] == [pk]
    assert client.get(base, {"status": "closed"}).json()["results"] == []
    assert client.post(base, {"kind": AE, "object_id": event.pk, "text": "x"},
                       content_type="application/json").status_code == 403
    answered = client.post(f"{base}{pk}/answer/", {"text": "Grade 1 is right."}, content_type="application/json")
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    client.logout()
    sign_in(client, roles["data_manager"])
    assert client.post(f"{base}{pk}/close/", {}, content_type="application/json").json()["status"] == "closed"
    refused = client.post(f"{base}{pk}/reopen/", {"text": ""}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["text"] == ["Write why the query is re-opened."]
    reopened = client.post(f"{base}{pk}/reopen/", {"text": "Not resolved."}, content_type="application/json")
    assert reopened.json()["status"] == "open"
    assert [m["action"] for m in reopened.json()["messages"]] == ["raised", "answered", "closed", "reopened"]
    client.logout()
    sign_in(client, roles["coordinator_b"])
    assert client.get(f"{base}{pk}/").status_code == 404
    assert client.get(base).json()["results"] == []
