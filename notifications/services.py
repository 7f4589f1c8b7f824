"""Notifications: the in-app list and the e-mail of each new notice, exactly once.

Rows are inserted set-based by their producers (``INSERT … SELECT … ON CONFLICT DO NOTHING`` on the
``(recipient, visit, kind)`` constraint, see :mod:`visits.watch`), so a task that runs twice, retries,
or runs twice at once creates each notice once. :func:`send_pending_emails` then claims the notices
not yet e-mailed with ``UPDATE … SET emailed_at = now() WHERE emailed_at IS NULL … RETURNING`` in a
transaction that stays open while the mail goes out: a concurrent run waits for the row locks and
then finds nothing left to claim; if sending fails the transaction rolls back and the next run sends.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Notification

EMAIL_KINDS = (Notification.Kind.OVERDUE, Notification.Kind.DUE_SOON, Notification.Kind.DEVIATION)


def send_pending_emails(limit: int = 5000) -> int:
    """E-mail each recipient one message listing their notices not yet e-mailed; returns notices sent."""
    table = Notification._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} SET emailed_at = now()
                 WHERE id IN (SELECT id FROM {table}
                               WHERE emailed_at IS NULL AND kind = ANY(%s)
                               ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
                   AND emailed_at IS NULL
             RETURNING recipient_id, message, link
                """,  # noqa: S608 - table name from the model, values bound
                [list(EMAIL_KINDS), limit],
            )
            claimed = cursor.fetchall()
        by_user: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for recipient_id, message, link in claimed:
            by_user[recipient_id].append((message, link))
        users = get_user_model().objects.in_bulk(list(by_user))
        for user_id, notices in sorted(by_user.items()):
            user = users[user_id]
            if not user.email:
                continue
            lines = [f"- {message}" + (f"\n  {settings.SITE_URL}{link}" if link else "")
                     for message, link in sorted(notices)]
            send_mail(
                subject=f"[TrialSite] {len(notices)} visit notice{'s' if len(notices) != 1 else ''}",
                message="Visits that need attention at your site:\n\n" + "\n".join(lines)
                + f"\n\nAll notices: {settings.SITE_URL}/notifications/\n",
                from_email=None,
                recipient_list=[user.email],
            )
    return len(claimed)


def unread_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all unread ones when ``ids`` is None); returns rows changed."""
    queryset = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    return queryset.update(read_at=timezone.now())
