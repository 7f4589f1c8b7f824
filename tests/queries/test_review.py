"""Records to review (queries.review_views): a raiser's way to any record of the trial by subject code —
the data manager's only way to a record in the browser — with its values, open queries and the link to
raise a query; identity hidden from the data manager."""

from __future__ import annotations

import pytest
from django.urls import reverse

from queries.models import Query
from queries.services import query_raise
from tests.auth import sign_in

pytestmark = pytest.mark.django_db


def test_the_data_manager_finds_a_record_by_subject_code_and_raises_a_query_on_it(client, roles, subject, event,
                                                                                  bat6005):
    query_raise(user=roles["monitor"], kind="adverse-event", record=event, field="grade", text="Grade per notes?")
    sign_in(client, roles["data_manager"])
    url = reverse("queries:review", args=[bat6005.code])
    page = client.get(url, {"kind": "adverse-event", "subject": subject.code[-3:]})
    assert page.status_code == 200
    body = page.content.decode()
    raise_url = reverse("queries:raise", args=["adverse-event", event.pk])
    assert raise_url in body and subject.code in body and "Fatigue" in body
    assert reverse("records:history", args=["adverse-event", event.pk]) not in body  # a page the DM cannot open
    row = body[body.index(raise_url) - 600:body.index(raise_url)]
    assert '<td class="numeric">1</td>' in row  # the monitor's open query

    # Subjects by code: initials and date of birth hidden.
    body = client.get(url, {"kind": "subject"}).content.decode()
    assert subject.code in body and "(identifying data)" in body and subject.initials not in body
    assert "1960-01-01" not in body

    page = client.get(raise_url)
    assert page.status_code == 200
    assert f'href="{url}?kind=adverse-event"' in page.content.decode()  # back to the review, not a 404 page
    response = client.post(raise_url, {"field": "term", "text": "Is this fatigue or malaise?"})
    assert response.status_code == 302
    assert Query.objects.filter(raised_by=roles["data_manager"], field="term").count() == 1


def test_the_monitor_sees_its_site_only_with_identity_and_the_history_link(client, roles, subject, event, bat6005,
                                                                          site_b):
    from tests.screening.helpers import eligible_screening

    other = eligible_screening(bat6005, site_b, roles["coordinator_b"], initials="QRB")
    sign_in(client, roles["monitor"])
    url = reverse("queries:review", args=[bat6005.code])
    body = client.get(url, {"kind": "adverse-event"}).content.decode()
    assert "Fatigue" in body and reverse("records:history", args=["adverse-event", event.pk]) in body
    body = client.get(url, {"kind": "subject"}).content.decode()
    assert subject.initials in body and subject.code in body
    body = client.get(url, {"kind": "screening"}).content.decode()
    assert other.number not in body and "QRB" not in body and "No record." in body
    # The data manager reads it, by number, without the initials.
    client.logout()
    sign_in(client, roles["data_manager"])
    body = client.get(url, {"kind": "screening"}).content.decode()
    assert other.number in body and "QRB" not in body


@pytest.mark.parametrize("role, status", [("coordinator", 403), ("sponsor", 403), ("monitor", 200),
                                          ("investigator", 200), ("data_manager", 200)])
def test_who_opens_it(client, roles, bat6005, role, status):
    sign_in(client, roles[role])
    assert client.get(reverse("queries:review", args=[bat6005.code])).status_code == status


def test_a_wrong_kind_or_subject_names_the_field_and_lists_nothing(client, roles, bat6005, event):
    sign_in(client, roles["data_manager"])
    url = reverse("queries:review", args=[bat6005.code])
    response = client.get(url, {"kind": "nonsense"})
    body = response.content.decode()
    assert response.status_code == 200 and "Record: Select a valid choice" in body and "Fatigue" not in body
    body = client.get(url, {"kind": "adverse-event", "subject": "x" * 41}).content.decode()
    assert "Subject code: Ensure this value has at most 40 characters" in body
