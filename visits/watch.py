"""The visit watch, set-based and incremental: each run reads only what changed since the last one.

- :func:`flag_overdue`: one statement flags the visits whose window has closed and inserts their overdue notices
  (``WITH flagged AS (UPDATE … RETURNING) INSERT … SELECT … FROM flagged``): atomic, so a crash cannot flag a
  visit without its notices, and a visit already flagged is never read again.
- :func:`notify_due_soon`: one statement marks the visits entering the due-soon range (``due_soon_notified``)
  and inserts their notices, the same way.
- :func:`notify_new_staff`: site staff the watch has not seen yet (``WatchStaff``) get the notices of what is
  overdue or due soon at their site now, in the transaction that records them.

Two runs at once: the UPDATEs lock the rows they change and skip those another run changed first, and every
INSERT is ``ON CONFLICT (recipient, visit, kind) DO NOTHING``: once per visit, kind and recipient. Then the new
notices are e-mailed once (notifications.services). No per-row Python loop: a fixed number of statements.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pghistory
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from notifications.models import Notification
from trials.models import SITE_ROLES
from visits.models import PlannedVisit

DUE_SOON_DAYS = 3
SOURCE = "celery:visits.watch_visits"


def due_soon_days() -> int:
    return int(getattr(settings, "VISITS_DUE_SOON_DAYS", DUE_SOON_DAYS))


def overdue_queryset(today: date):
    """Visits to flag: planned, not flagged yet, window closed before ``today`` (partial index visit_watch_idx)."""
    return PlannedVisit.objects.filter(status=PlannedVisit.Status.PLANNED, overdue=False, window_end__lt=today)


def link_sql(name: str = "visits:calendar") -> tuple[str, str]:
    """The page ``name`` of a subject as the SQL pieces around its id (``before || s.id || after``)."""
    marker = 987654321
    before, after = reverse(name, args=[marker]).split(str(marker))
    return before, after


# The active coordinators and investigators of each (trial, site): whom a visit or a sample concerns.
SITE_STAFF_SQL = """(SELECT DISTINCT mm.user_id, mm.trial_id, mm.site_id
          FROM {membership} mm JOIN {user} u ON u.id = mm.user_id AND u.is_active
         WHERE mm.role = ANY(%(roles)s) AND mm.site_id IS NOT NULL) m"""

# New staff only (user, trial and site ids passed as arrays): the backfill of notify_new_staff.
NEW_STAFF_SQL = """(SELECT * FROM unnest(%(new_users)s::int[], %(new_trials)s::bigint[], %(new_sites)s::bigint[])
                   AS n(user_id, trial_id, site_id)) m"""

# The notices of the visits in relation ``v`` (id, subject_id, code, window_start, window_end) for staff ``m``.
_NOTICES_SQL = """
INSERT INTO {notification} (recipient_id, visit_id, kind, message, link, created_at)
SELECT m.user_id, v.id, %(kind)s,
       left(format(%(template)s, s.code, v.code, to_char(v.window_start, 'DD Mon YYYY'),
                   to_char(v.window_end, 'DD Mon YYYY')), 300),
       %(link_before)s || s.id || %(link_after)s, now()
  FROM {visits} v
  JOIN {subject} s ON s.id = v.subject_id
  JOIN {staff}
    ON m.trial_id = s.trial_id AND m.site_id = s.site_id
 ORDER BY v.id, m.user_id
ON CONFLICT (recipient_id, visit_id, kind) DO NOTHING
"""

_RETURNING = "RETURNING id, subject_id, code, window_start, window_end"

# Flag and notify in one statement: the counts of visits flagged and notices inserted.
_FLAG_SQL = """
WITH changed AS (
    UPDATE {visit} SET overdue = true, overdue_since = now()
     WHERE status = 'planned' AND NOT overdue AND window_end < %(today)s
    {returning}
), notices AS ({notices} RETURNING 1)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM notices)
"""

# The visits entering the due-soon range (window open or opening within the days), marked and notified.
_DUE_SOON_SQL = """
WITH changed AS (
    UPDATE {visit} SET due_soon_notified = true
     WHERE status = 'planned' AND NOT overdue AND NOT due_soon_notified
       AND window_start <= %(soon)s AND window_end >= %(today)s
    {returning}
), notices AS ({notices} RETURNING 1)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM notices)
"""

TEMPLATES = {
    Notification.Kind.OVERDUE: "%s: visit %s is overdue (window %s – %s closed; record it done or missed).",
    Notification.Kind.DUE_SOON: "%s: visit %s is due (window %s – %s).",
}

# What a new staff member is given: the visits of their site overdue now, and those due soon now (the ones the
# others were notified of: marked, not overdue, window not closed).
_BACKFILL = {
    Notification.Kind.OVERDUE: "(SELECT * FROM {visit} WHERE status = 'planned' AND overdue)",
    Notification.Kind.DUE_SOON: ("(SELECT * FROM {visit} WHERE status = 'planned' AND NOT overdue AND due_soon_notified"
                                 " AND window_end >= %(today)s AND window_start <= %(soon)s)"),
}


def _tables() -> dict[str, str]:
    from django.contrib.auth import get_user_model

    from subjects.models import Subject
    from trials.models import Membership
    from visits.models import WatchStaff

    names = {"notification": Notification, "visit": PlannedVisit, "subject": Subject, "membership": Membership,
             "user": get_user_model(), "watch_staff": WatchStaff}
    return {key: connection.ops.quote_name(model._meta.db_table) for key, model in names.items()}


def _notices(visits: str, staff: str = SITE_STAFF_SQL) -> str:
    return _NOTICES_SQL.replace("{visits}", visits).replace("{staff}", staff)


def _params(kind, today: date, days: int, **extra) -> dict:
    before, after = link_sql()
    return {"kind": kind.value, "template": TEMPLATES[kind], "link_before": before, "link_after": after,
            "roles": [r.value for r in SITE_ROLES], "today": today, "soon": today + timedelta(days=days), **extra}


def _counts(sql: str, params: dict) -> tuple[int, int]:
    with pghistory.context(source=SOURCE), connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        changed, inserted = cursor.fetchone()
    return int(changed), int(inserted)


def flag_overdue_and_notify(today: date) -> tuple[int, int]:
    """A visit is overdue when its window has closed and it is neither done nor missed: one statement flags
    the visits and inserts their overdue notices. Returns (visits flagged, notices inserted)."""
    sql = _FLAG_SQL.replace("{returning}", _RETURNING).replace("{notices}", _notices("changed"))
    return _counts(sql, _params(Notification.Kind.OVERDUE, today, 0))


def flag_overdue(today: date) -> int:
    """The overdue pass (flag and notify, one statement); returns the visits flagged."""
    return flag_overdue_and_notify(today)[0]


def notify_due_soon(today: date, *, days: int | None = None) -> tuple[int, int]:
    """Mark the visits entering the due-soon range and insert their notices, one statement. Returns (visits
    marked, notices inserted)."""
    days = due_soon_days() if days is None else days
    sql = _DUE_SOON_SQL.replace("{returning}", _RETURNING).replace("{notices}", _notices("changed"))
    return _counts(sql, _params(Notification.Kind.DUE_SOON, today, days))


def notify_new_staff(today: date, *, days: int | None = None) -> dict[str, int]:
    """Site staff the watch has not seen yet get the notices of their site's visits overdue or due soon now
    (and overdue samples: pk.watch), recorded in ``WatchStaff`` in the same transaction; staff who left (or
    whose account is inactive) are forgotten, so they get the notices again if they come back. Reads the
    memberships (a few hundred rows) and, for new staff only, their sites' overdue and due-soon visits."""
    from pk.watch import notify_staff as notify_samples

    days = due_soon_days() if days is None else days
    tables = _tables()
    staff = SITE_STAFF_SQL.format(**tables)
    with transaction.atomic(), connection.cursor() as cursor:
        roles = {"roles": [r.value for r in SITE_ROLES]}
        cursor.execute(f"""DELETE FROM {tables['watch_staff']} w WHERE NOT EXISTS (
                             SELECT 1 FROM {staff} WHERE m.user_id = w.user_id AND m.trial_id = w.trial_id
                                                       AND m.site_id = w.site_id)""", roles)  # noqa: S608
        cursor.execute(f"""INSERT INTO {tables['watch_staff']} (user_id, trial_id, site_id, since)
                           SELECT m.user_id, m.trial_id, m.site_id, now() FROM {staff}
                            ORDER BY 1, 2, 3
                           ON CONFLICT (user_id, trial_id, site_id) DO NOTHING
                           RETURNING user_id, trial_id, site_id""", roles)  # noqa: S608
        new = cursor.fetchall()
        result = {"new_staff": len(new), "new_staff_notices": 0}
        if not new:
            return result
        arrays = {"new_users": [r[0] for r in new], "new_trials": [r[1] for r in new], "new_sites": [r[2] for r in new]}
        for kind, visits in _BACKFILL.items():
            sql = _notices(visits.format(**tables), NEW_STAFF_SQL).format(**tables)
            cursor.execute(sql, _params(kind, today, days, **arrays))
            result["new_staff_notices"] += cursor.rowcount
        result["new_staff_notices"] += notify_samples(arrays)
    return result


def notify(today: date, *, days: int | None = None) -> dict[str, int]:
    """The due-soon notices, and the backlog of new staff (the overdue notices come with the flag,
    :func:`flag_overdue`). Returns the notices inserted per kind and the visits newly due soon."""
    staff = notify_new_staff(today, days=days)
    marked, due_soon = notify_due_soon(today, days=days)
    return {"due_soon": due_soon, "due_soon_visits": marked, **staff}


def run_watch(today: date, *, email: bool = True) -> dict[str, int]:
    """One pass: flag and notify, due soon, new staff, samples, e-mail. Each step is one short transaction.

    Keys: ``flagged`` (visits flagged overdue), ``overdue`` and ``due_soon`` (notices inserted),
    ``due_soon_visits`` (visits that entered the due-soon range), ``new_staff`` and ``new_staff_notices`` (site
    staff seen for the first time and their backlog), ``samples_flagged`` and ``sample_overdue`` (pk.watch),
    ``emailed``. In the steady state every count is 0 and no statement reads an overdue visit.
    """
    from django.utils import timezone

    from notifications.services import send_pending_emails
    from pk.watch import run_sample_watch

    flagged, overdue = flag_overdue_and_notify(today)
    result = {"flagged": flagged, "overdue": overdue}
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
