"""Portfolio scale (issue 14): the notifications list reads a page of the user's notices in the order of
an index (unread first, newest first; then read ones, last read first) with a LIMIT, and the unread count
is read once a page. The pages, read one after the other, list every notice once in that order."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from notifications.views import PER_PAGE

pytestmark = pytest.mark.django_db


def _notices(user, n: int, *, start=0):
    """``n`` notices: every third unread, the others read at times in no relation to their creation."""
    now = timezone.now()
    rows = []
    for i in range(start, start + n):
        created = now - timedelta(hours=i)
        read = None if i % 3 == 0 else now - timedelta(minutes=(i * 37) % 500)
        rows.append(Notification(recipient=user, kind=Notification.Kind.OVERDUE, message=f"notice {i:04d}",
                                 created_at=created, read_at=read))
    return Notification.objects.bulk_create(rows)


def _expected(notices):
    """The list's order, computed here: unread (newest first), then read (last read first)."""
    unread = sorted((n for n in notices if n.read_at is None), key=lambda n: (n.created_at, n.pk), reverse=True)
    read = sorted((n for n in notices if n.read_at is not None), key=lambda n: (n.read_at, n.created_at, n.pk),
                  reverse=True)
    return [n.message for n in unread + read]


def _listed(page: str) -> list[str]:
    return re.findall(r"notice \d{4}", page)


def test_the_pages_list_every_notice_once_unread_first(login, people):
    user = people["coordinator"]
    notices = _notices(user, 2 * PER_PAGE + 17)
    _notices(people["coordinator_b"], 10, start=5000)  # another user's: never listed
    client = login(user)
    seen = []
    for number in (1, 2, 3):
        page = client.get(reverse("notifications:list"), {"page": number}).content.decode()
        assert f"Page {number} of 3" in page
        seen += _listed(page)
    assert seen == _expected(notices)
    unread = sum(1 for n in notices if n.read_at is None)
    assert f"{unread} unread" in page
    # Past the last page: the last page (the paginator's get_page), not an error.
    assert _listed(client.get(reverse("notifications:list"), {"page": 99}).content.decode()) == seen[-17:]


def test_a_page_is_read_by_a_limit_and_the_unread_count_once(login, people):
    user = people["coordinator"]
    client = login(user)
    counts = []
    for n in (5, 3 * PER_PAGE):
        Notification.objects.filter(recipient=user).delete()
        _notices(user, n)
        client.get(reverse("notifications:list"))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("notifications:list"))
        assert response.status_code == 200
        sql = [q["sql"] for q in queries.captured_queries if "notifications_notification" in q["sql"]]
        unread_counts = [s for s in sql if "COUNT(*)" in s and '"read_at" IS NULL' in s]
        assert len(unread_counts) == 1, sql  # the heading and the navigation badge share it
        listing = [s for s in sql if s.lstrip().startswith('SELECT "notifications_notification"."id"')]
        assert len(listing) == 1 and "LIMIT" in listing[0], listing
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_marking_read_moves_a_notice_down_and_the_badge_follows(login, people):
    user = people["coordinator"]
    notices = _notices(user, 9)
    client = login(user)
    newest_unread = _listed(client.get(reverse("notifications:list")).content.decode())[0]
    target = next(n for n in notices if n.message == newest_unread)
    client.post(reverse("notifications:mark_read"), {"id": str(target.pk)})
    page = client.get(reverse("notifications:list")).content.decode()
    target.refresh_from_db()
    assert _listed(page) == _expected(Notification.objects.filter(recipient=user))
    assert _listed(page)[0] != newest_unread
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
    assert f'aria-label="{unread} unread">{unread}</span>' in page
