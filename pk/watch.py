"""Overdue samples join the visit watch (``visits.watch.run_watch``, Celery beat): one UPDATE flags the planned
samples whose window has closed, one INSERT … SELECT notifies the coordinators and investigators of each sample's
trial and site, once per sample and recipient (ON CONFLICT DO NOTHING), however often the watch runs."""

from __future__ import annotations

from datetime import datetime

import pghistory
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.functions import Now

from notifications.models import Notification
from pk.models import Sample
from trials.models import SITE_ROLES
from visits.watch import SITE_STAFF_SQL, link_sql

_NOTIFY_SQL = """
INSERT INTO {notification} (recipient_id, sample_id, kind, message, link, created_at)
SELECT m.user_id, x.id, %(kind)s,
       left(format(%(template)s, s.code, x.code, to_char(x.window_end AT TIME ZONE %(tz)s, 'DD Mon YYYY HH24:MI')),
            300),
       %(link_before)s || s.id || %(link_after)s, now()
  FROM {sample} x
  JOIN {subject} s ON s.id = x.subject_id
  JOIN {staff}
    ON m.trial_id = s.trial_id AND m.site_id = s.site_id
 WHERE x.status = 'planned' AND x.overdue
 ORDER BY x.id, m.user_id
ON CONFLICT (recipient_id, sample_id, kind) WHERE sample_id IS NOT NULL DO NOTHING
""".replace("{staff}", SITE_STAFF_SQL)
TEMPLATE = "%s: sample %s is overdue (its window closed %s; record it collected or missed)."


def flag_overdue(now: datetime) -> int:
    with pghistory.context(source="celery:visits.watch_visits"):
        return Sample.objects.filter(status=Sample.Status.PLANNED, overdue=False, window_end__lt=now).update(
            overdue=True, overdue_since=Now())


def notify() -> int:
    from django.conf import settings

    from subjects.models import Subject
    from trials.models import Membership

    before, after = link_sql("pk:subject")
    tables = {"notification": Notification._meta.db_table, "sample": Sample._meta.db_table,
              "subject": Subject._meta.db_table, "membership": Membership._meta.db_table,
              "user": get_user_model()._meta.db_table}
    sql = _NOTIFY_SQL.format(**{k: connection.ops.quote_name(v) for k, v in tables.items()})
    with connection.cursor() as cursor:
        cursor.execute(sql, {"kind": Notification.Kind.SAMPLE_OVERDUE.value, "template": TEMPLATE,
                             "tz": settings.TIME_ZONE, "link_before": before, "link_after": after,
                             "roles": [r.value for r in SITE_ROLES]})
        return cursor.rowcount


def run_sample_watch(now: datetime) -> dict[str, int]:
    return {"samples_flagged": flag_overdue(now), "sample_overdue": notify()}
