"""The visit watch, set-based: one UPDATE flags overdue visits, one INSERT … SELECT per kind creates
the site staff's notifications (ON CONFLICT DO NOTHING on (recipient, visit, kind): once only, however
often or concurrently it runs), then the new notices are e-mailed once (notifications.services).

No per-row Python loop: the work is a fixed number of statements whatever the number of visits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pghistory
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django.urls import reverse

from notifications.models import Notification
from trials.models import SITE_ROLES
from visits.models import PlannedVisit

DUE_SOON_DAYS = 3


def due_soon_days() -> int:
    return int(getattr(settings, "VISITS_DUE_SOON_DAYS", DUE_SOON_DAYS))


def overdue_queryset(today: date):
    """Visits to flag: planned, not flagged yet, window closed before ``today``."""
    return PlannedVisit.objects.filter(status=PlannedVisit.Status.PLANNED, overdue=False, window_end__lt=today)


def flag_overdue(today: date) -> int:
    """A visit is overdue when its window has closed and it is neither done nor missed: one UPDATE."""
    with pghistory.context(source="celery:visits.watch_visits"):
        return overdue_queryset(today).update(overdue=True, overdue_since=Now())


def link_sql(name: str = "visits:calendar") -> tuple[str, str]:
    """The page ``name`` of a subject as the SQL pieces around its id (``before || s.id || after``)."""
    marker = 987654321
    before, after = reverse(name, args=[marker]).split(str(marker))
    return before, after


# The active coordinators and investigators of each (trial, site): whom a visit or a sample concerns.
SITE_STAFF_SQL = """(SELECT DISTINCT mm.user_id, mm.trial_id, mm.site_id
          FROM {membership} mm JOIN {user} u ON u.id = mm.user_id AND u.is_active
         WHERE mm.role = ANY(%(roles)s) AND mm.site_id IS NOT NULL) m"""


_NOTIFY_SQL = """
INSERT INTO {notification} (recipient_id, visit_id, kind, message, link, created_at)
SELECT m.user_id, v.id, %(kind)s,
       left(format(%(template)s, s.code, v.code, to_char(v.window_start, 'DD Mon YYYY'),
                   to_char(v.window_end, 'DD Mon YYYY')), 300),
       %(link_before)s || s.id || %(link_after)s, now()
  FROM {visit} v
  JOIN {subject} s ON s.id = v.subject_id
  JOIN {staff}
    ON m.trial_id = s.trial_id AND m.site_id = s.site_id
 WHERE v.status = 'planned' AND {condition}
 ORDER BY v.id, m.user_id
ON CONFLICT (recipient_id, visit_id, kind) DO NOTHING
""".replace("{staff}", SITE_STAFF_SQL)

_CONDITIONS = {
    Notification.Kind.OVERDUE: (
        "v.overdue",
        "%s: visit %s is overdue (window %s – %s closed; record it done or missed).",
    ),
    Notification.Kind.DUE_SOON: (
        "NOT v.overdue AND v.window_end >= %(today)s AND v.window_start <= %(soon)s",
        "%s: visit %s is due (window %s – %s).",
    ),
}


def notify(today: date, *, days: int | None = None) -> dict[str, int]:
    """Insert the overdue and due-soon notices for the coordinators and investigators of each visit's
    trial and site; returns the rows inserted per kind (0 when they existed already)."""
    from django.contrib.auth import get_user_model

    from subjects.models import Subject
    from trials.models import Membership

    days = due_soon_days() if days is None else days
    before, after = link_sql()
    tables = {"notification": Notification._meta.db_table, "visit": PlannedVisit._meta.db_table,
              "subject": Subject._meta.db_table, "membership": Membership._meta.db_table,
              "user": get_user_model()._meta.db_table}
    inserted = {}
    for kind, (condition, template) in _CONDITIONS.items():
        sql = _NOTIFY_SQL.format(condition=condition, **{k: connection.ops.quote_name(v) for k, v in tables.items()})
        params = {"kind": kind.value, "template": template, "link_before": before, "link_after": after,
                  "roles": [r.value for r in SITE_ROLES], "today": today, "soon": today + timedelta(days=days)}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted[kind.value] = cursor.rowcount
    return inserted


def run_watch(today: date, *, email: bool = True) -> dict[str, int]:
    """One pass: flag, notify, e-mail. Each statement commits on its own (short locks)."""
    from django.utils import timezone

    from notifications.services import send_pending_emails
    from pk.watch import run_sample_watch

    result = {"flagged": flag_overdue(today)}
    result.update(notify(today))
    # Samples (PK, ADA, RO, biomarkers) are timed to the minute: overdue once their window has closed.
    # (``today`` other than today: the windows closed before that day began.)
    now = timezone.now() if today == timezone.localdate() else timezone.make_aware(
        datetime.combine(today, datetime.min.time()))
    result.update(run_sample_watch(now))
    result["emailed"] = send_pending_emails() if email else 0
    return result


def notify_deviation(visit_pk: int) -> int:
    """One INSERT … SELECT: a deviation notice for each active investigator of the visit's site."""
    from trials.models import Role

    visit = PlannedVisit.objects.select_related("subject").get(pk=visit_pk)
    if not visit.deviation:
        return 0
    from trials.models import Membership

    users = (Membership.objects.filter(trial_id=visit.subject.trial_id, site_id=visit.subject.site_id,
                                       role=Role.INVESTIGATOR, user__is_active=True)
             .values_list("user_id", flat=True).distinct())
    message = (f"{visit.subject.code}: visit {visit.code} was done on {visit.done_on:%d %b %Y}, "
               f"{visit.deviation_text} (window {visit.window_start:%d %b} – {visit.window_end:%d %b %Y}): "
               "a protocol deviation.")
    link = reverse("visits:calendar", args=[visit.subject_id]) + f"#visit-{visit.pk}"
    created = Notification.objects.bulk_create(
        [Notification(recipient_id=u, visit=visit, kind=Notification.Kind.DEVIATION, message=message[:300],
                      link=link) for u in users],
        ignore_conflicts=True,
    )
    return len(created)  # recipients (rows that existed already are left as they were)
