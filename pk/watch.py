"""Overdue samples join the visit watch (``visits.watch.run_watch``, Celery beat): one statement flags the planned
samples whose window has closed and inserts their notices for the coordinators and investigators of each
sample's trial and site (``WITH flagged AS (UPDATE … RETURNING) INSERT … SELECT … FROM flagged``): atomic, once
per sample and recipient (ON CONFLICT DO NOTHING), and a sample already flagged is never read again. New site
staff get their site's overdue samples from ``visits.watch.notify_new_staff`` (:func:`notify_staff`)."""

from __future__ import annotations

from datetime import datetime

import pghistory
from django.contrib.auth import get_user_model
from django.db import connection

from notifications.models import Notification
from pk.models import Sample
from trials.models import SITE_ROLES
from visits.watch import NEW_STAFF_SQL, SITE_STAFF_SQL, SOURCE, link_sql

_NOTICES_SQL = """
INSERT INTO {notification} (recipient_id, sample_id, kind, message, link, created_at)
SELECT m.user_id, x.id, %(kind)s,
       left(format(%(template)s, s.code, x.code, to_char(x.window_end AT TIME ZONE %(tz)s, 'DD Mon YYYY HH24:MI')),
            300),
       %(link_before)s || s.id || %(link_after)s, now()
  FROM {samples} x
  JOIN {subject} s ON s.id = x.subject_id
  JOIN {staff}
    ON m.trial_id = s.trial_id AND m.site_id = s.site_id
 ORDER BY x.id, m.user_id
ON CONFLICT (recipient_id, sample_id, kind) WHERE sample_id IS NOT NULL DO NOTHING
"""

_FLAG_SQL = """
WITH flagged AS (
    UPDATE {sample} SET overdue = true, overdue_since = now()
     WHERE status = 'planned' AND NOT overdue AND window_end < %(now)s
    RETURNING id, subject_id, code, window_end
), notices AS ({notices} RETURNING 1)
SELECT (SELECT count(*) FROM flagged), (SELECT count(*) FROM notices)
"""
TEMPLATE = "%s: sample %s is overdue (its window closed %s; record it collected or missed)."


def _tables() -> dict[str, str]:
    from subjects.models import Subject
    from trials.models import Membership

    names = {"notification": Notification, "sample": Sample, "subject": Subject, "membership": Membership,
             "user": get_user_model()}
    return {key: connection.ops.quote_name(model._meta.db_table) for key, model in names.items()}


def _params(**extra) -> dict:
    from django.conf import settings

    before, after = link_sql("pk:subject")
    return {"kind": Notification.Kind.SAMPLE_OVERDUE.value, "template": TEMPLATE, "tz": settings.TIME_ZONE,
            "link_before": before, "link_after": after, "roles": [r.value for r in SITE_ROLES], **extra}


def flag_overdue_and_notify(now: datetime) -> tuple[int, int]:
    """Flag the samples whose window closed before ``now`` and notify their site staff, one statement.
    Returns (samples flagged, notices inserted)."""
    notices = _NOTICES_SQL.replace("{samples}", "flagged").replace("{staff}", SITE_STAFF_SQL)
    sql = _FLAG_SQL.replace("{notices}", notices).format(**_tables())
    with pghistory.context(source=SOURCE), connection.cursor() as cursor:
        cursor.execute(sql, _params(now=now))
        flagged, inserted = cursor.fetchone()
    return int(flagged), int(inserted)


def flag_overdue(now: datetime) -> int:
    return flag_overdue_and_notify(now)[0]


def notify_staff(arrays: dict) -> int:
    """The overdue samples of their sites for new staff (``new_users``, ``new_trials``, ``new_sites``: parallel
    id lists); in the caller's transaction. Returns the notices inserted."""
    samples = "(SELECT * FROM {sample} WHERE status = 'planned' AND overdue)"
    sql = _NOTICES_SQL.replace("{samples}", samples).replace("{staff}", NEW_STAFF_SQL).format(**_tables())
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(**arrays))
        return cursor.rowcount


def run_sample_watch(now: datetime) -> dict[str, int]:
    flagged, inserted = flag_overdue_and_notify(now)
    return {"samples_flagged": flagged, "sample_overdue": inserted}
