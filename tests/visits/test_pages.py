"""Visit pages: the calendar and its record forms (htmx and plain), the site-wide list, the follow-up
form, notifications, and the sponsor's overdue counts per site — and who may see what."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from visits.models import PlannedVisit
from visits.watch import run_watch

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject_a(subject_factory, site_a):
    # Dosed 37 days ago: screening and C2D1 (days 18–24) are overdue; C3D1 (39–45) opens in 2 days.
    return subject_factory(site_a, first_dose=timezone.localdate() - timedelta(days=37))


@pytest.fixture
def subject_b(subject_factory, site_b, people):
    return subject_factory(site_b, first_dose=timezone.localdate() - timedelta(days=37), user=people["coordinator_b"])


def test_calendar_shows_windows_states_and_deviation(login, people, subject_a):
    client = login(people["coordinator"])
    c2 = subject_a.visits.get(code="C2D1")
    response = client.post(reverse("visits:record", args=[c2.pk]),
                           {"action": "done", "done-done_on": (c2.window_end + timedelta(days=2)).isoformat()})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("visits:calendar", args=[subject_a.pk]))
    page = client.get(response["Location"]).content.decode()
    assert "Deviation: 2 days late" in page
    assert f'id="visit-{c2.pk}" class="state-done"' in page
    assert 'class="state-overdue" data-code="SCR"' in page  # window closed on the first dose
    assert "C17D1" in page and "SURV-1" in page
    assert f"{c2.window_start:%d %b} – {c2.window_end:%d %b %Y}" in page


def test_htmx_record_form_keeps_input_and_names_the_field(login, people, subject_a):
    client = login(people["coordinator"])
    visit = subject_a.visits.get(code="C3D1")
    url = reverse("visits:record", args=[visit.pk])
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    response = client.post(url, {"action": "done", "done-done_on": future}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith("<form") and 'id="done-form"' in body  # only the partial
    assert 'id="id_done-done_on-error">A visit cannot be recorded as done in the future.' in body
    assert f'value="{future}"' in body
    response = client.post(url, {"action": "missed", "missed-missed_reason": "x"})
    assert response.status_code == 422
    assert "at least 3 characters" in response.content.decode() and "<html" in response.content.decode()
    response = client.post(url, {"action": "missed", "missed-missed_reason": "Patient in hospital"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].startswith(
        reverse("visits:calendar", args=[subject_a.pk]))
    visit.refresh_from_db()
    assert (visit.status, visit.missed_reason) == ("missed", "Patient in hospital")


def test_follow_up_form_replans_and_names_bad_fields(login, people, subject_a):
    client = login(people["coordinator"])
    url = reverse("visits:follow_up", args=[subject_a.pk])
    response = client.post(url, {"follow_up_end": timezone.localdate().isoformat()})
    assert response.status_code == 422
    assert 'id="id_follow_up_end_reason-error"' in response.content.decode()
    last = timezone.localdate() - timedelta(days=37)  # treatment ended after the first dose
    response = client.post(url, {"last_dose": last.isoformat()})
    assert response.status_code == 302
    assert not subject_a.visits.filter(kind="dosing").exists()
    assert subject_a.visits.get(code="EOT").target == last + timedelta(days=21)
    # Investigators see the calendar but do not edit the follow-up.
    assert login(people["investigator"]).get(url).status_code == 403


def test_site_list_shows_overdue_and_due_soon_of_own_sites_only(login, people, subject_a, subject_b):
    client = login(people["coordinator"])
    page = client.get(reverse("visits:list")).content.decode()
    assert subject_a.code in page and subject_b.code not in page
    assert "C2D1" in page and "C3D1" in page  # overdue, and due within days
    assert "C4D1" not in page
    filtered = client.get(reverse("visits:list"), {"site": "SITE-B"}).content.decode()
    assert subject_b.code not in filtered  # not their site: the filter cannot widen access
    investigator = login(people["investigator"]).get(reverse("visits:list"))
    assert subject_a.code in investigator.content.decode()


def test_site_b_cannot_reach_site_a(login, people, subject_a):
    client = login(people["coordinator_b"])
    visit = subject_a.visits.get(code="C2D1")
    assert client.get(reverse("visits:calendar", args=[subject_a.pk])).status_code == 404
    assert client.post(reverse("visits:record", args=[visit.pk]),
                       {"action": "missed", "missed-missed_reason": "Not mine"}).status_code == 404
    visit.refresh_from_db()
    assert visit.status == "planned"


def test_sponsor_sees_counts_per_site_and_no_subject(login, people, subject_a, subject_b, bat6005):
    client = login(people["sponsor"])
    assert client.get(reverse("visits:list")).status_code == 403
    assert client.get(reverse("visits:calendar", args=[subject_a.pk])).status_code == 404
    PlannedVisit.objects.filter(subject=subject_b).update(status="missed", missed_reason="test")
    response = client.get(reverse("trials:dashboard", args=[bat6005.code]))
    page = response.content.decode()
    rows = {r["site"]: r["overdue"] for r in response.context["visit_sites"]}
    assert rows == {"SITE-A": 2, "SITE-B": 0}  # SCR and C2D1 at site A
    assert "Overdue visits by site" in page
    assert subject_a.code not in page and subject_b.code not in page and "AB" not in page.split("visit-sites")[1]


def test_notifications_list_and_unread_count(login, people, subject_a):
    run_watch(timezone.localdate(), email=False)
    client = login(people["coordinator"])
    unread = Notification.objects.filter(recipient=people["coordinator"], read_at__isnull=True).count()
    assert unread >= 3  # SCR and C2D1 overdue, C3D1 due soon
    home = client.get(reverse("home")).content.decode()
    assert f'aria-label="{unread} unread">{unread}</span>' in home
    page = client.get(reverse("notifications:list")).content.decode()
    assert "C2D1 is overdue" in page
    client.post(reverse("notifications:mark_read"))
    assert not Notification.objects.filter(recipient=people["coordinator"], read_at__isnull=True).exists()
    assert "unread</span>" not in client.get(reverse("home")).content.decode()
    # Another user's notices are not listed.
    assert "C2D1" not in login(people["coordinator_b"]).get(reverse("notifications:list")).content.decode()


def test_trial_page_links_the_visit_list(login, people, subject_a, bat6005):
    page = login(people["coordinator"]).get(reverse("trials:detail", args=[bat6005.code])).content.decode()
    assert "2 overdue" in page and reverse("visits:list") in page
    assert reverse("visits:calendar", args=[subject_a.pk]) in page


def test_state_today():
    visit = PlannedVisit(window_start=date(2026, 1, 10), target=date(2026, 1, 12), window_end=date(2026, 1, 14))
    assert [visit.state(date(2026, 1, d)) for d in (9, 10, 14, 15)] == ["planned", "open", "open", "overdue"]
