"""Notifications: the in-app list and the e-mail of each new notice, exactly once.

Rows are inserted by their producers with ``ON CONFLICT DO NOTHING`` on a unique constraint —
``(recipient, visit, kind)`` for visit notices (set-based, see :mod:`visits.watch`), ``(recipient,
decision, kind)`` for decision notices (:func:`decision_notify`) — so a task that runs twice, retries,
or runs twice at once creates each notice once. :func:`send_pending_emails` then e-mails the notices
not yet e-mailed, one recipient at a time: it claims that recipient's rows with ``UPDATE … SET
emailed_at = now() WHERE emailed_at IS NULL … FOR UPDATE SKIP LOCKED RETURNING`` in a transaction that
stays open while the mail goes out. A concurrent run skips the locked rows; if sending fails, that
recipient's claim rolls back (the next run sends it) and the mail already sent to others stands.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification

log = logging.getLogger(__name__)

VISIT_KINDS = (Notification.Kind.OVERDUE, Notification.Kind.DUE_SOON, Notification.Kind.DEVIATION)
DECISION_KINDS = (Notification.Kind.DECISION, Notification.Kind.CONCURRENCE)
SECURITY_KINDS = (Notification.Kind.LOCKOUT,)
EMAIL_KINDS = VISIT_KINDS + DECISION_KINDS + SECURITY_KINDS

# The claimed ids are an array computed once (an InitPlan), then found by index (``id = ANY``), whatever the
# planner believes of the table. (As ``id IN (subquery)``, a table just filled and not analysed yet got a nested
# loop that re-ran the LIMIT subquery for every unmailed row: minutes at 50,000 notices.)
_CLAIM_SQL = """
UPDATE {table} SET emailed_at = now()
 WHERE id = ANY(ARRAY(SELECT id FROM {table}
                       WHERE emailed_at IS NULL AND recipient_id = %s AND kind = ANY(%s)
                       ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED))
   AND emailed_at IS NULL
RETURNING id, kind, message, link, decision_id
"""


def _recipients_with_unmailed(limit: int) -> list[int]:
    return list(Notification.objects.filter(emailed_at__isnull=True, kind__in=EMAIL_KINDS)
                .order_by("recipient_id").values_list("recipient_id", flat=True).distinct()[:limit])


def send_pending_emails(limit: int = 5000) -> int:
    """E-mail each recipient their notices not yet e-mailed: one message listing the visit notices,
    one message per decision notice. Returns the notices e-mailed (claimed).

    Raises the first sending error after trying every recipient (the task then fails, and the outbox
    publishes it again); recipients already e-mailed are not e-mailed again."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    users = get_user_model().objects.in_bulk(_recipients_with_unmailed(limit))
    claimed_total, first_error = 0, None
    for user_id, user in sorted(users.items()):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(_CLAIM_SQL.format(table=table), [user_id, list(EMAIL_KINDS), limit])
                    claimed = cursor.fetchall()
                if user.email:
                    _send_to(user, claimed)
        except Exception as exc:  # this recipient's claim is rolled back: e-mailed by the next run
            log.exception("notifications: e-mail to user %s failed; left for the next run", user_id)
            first_error = first_error or exc
            continue
        claimed_total += len(claimed)
    if first_error is not None:
        raise first_error
    return claimed_total


def _send_to(user, claimed) -> None:
    visit_notices = sorted((message, link) for _, kind, message, link, _ in claimed if kind in VISIT_KINDS)
    if visit_notices:
        lines = [f"- {message}" + (f"\n  {settings.SITE_URL}{link}" if link else "")
                 for message, link in visit_notices]
        send_mail(
            subject=f"[TrialSite] {len(visit_notices)} visit notice{'s' if len(visit_notices) != 1 else ''}",
            message="Visits that need attention at your site:\n\n" + "\n".join(lines)
            + f"\n\nAll notices: {settings.SITE_URL}/notifications/\n",
            from_email=None,
            recipient_list=[user.email],
        )
    for message, link in sorted((message, link) for _, kind, message, link, _ in claimed if kind in SECURITY_KINDS):
        send_mail(
            subject="[TrialSite] Security: an account was locked",
            message=f"{message}\n\nSee and lift locks: {settings.SITE_URL}{link}\n"
            "If this was not the account's owner, follow your site's security incident procedure.\n",
            from_email=None,
            recipient_list=[user.email],
        )
    decision_ids = sorted({decision_id for _, kind, _, _, decision_id in claimed if kind in DECISION_KINDS})
    if decision_ids:
        from escalation.models import EscalationDecision

        decisions = EscalationDecision.objects.select_related(
            "trial", "next_dose_level", "recommended_dose_level", "decided_next_dose_level").in_bulk(decision_ids)
        for _, kind, _, link, decision_id in sorted(claimed):
            if kind in DECISION_KINDS:
                _send_decision_email(user, decisions[decision_id], kind, link)


def _send_decision_email(user, decision, kind, link) -> None:
    concurrence = kind == Notification.Kind.CONCURRENCE
    what = "concurrence" if concurrence else "signature"
    if concurrence:
        body = (f"The investigator approved: {decision.decided_summary}"
                + (f" (the escalation service recommended: {decision.summary})" if decision.overridden else "")
                + f".\nRationale of the recommendation: {decision.rationale}\n\n"
                f"Review and concur or decline: {settings.SITE_URL}{link}\n")
    else:
        body = (f"The escalation service recommends: {decision.summary}.\n"
                f"Rationale: {decision.rationale}\n\n"
                f"Review and sign: {settings.SITE_URL}{link}\n")
    send_mail(
        subject=f"[{decision.trial.code}] Dose-escalation decision awaiting your {what}",
        message=body + f"\nAll notices: {settings.SITE_URL}/notifications/\n",
        from_email=None,
        recipient_list=[user.email],
    )


# The decision status in which each notice kind is still true (the decision waits for that role).
_AWAITS = {Notification.Kind.DECISION: "pending", Notification.Kind.CONCURRENCE: "concurrence"}


def decision_notify(*, decision, role: str) -> int:
    """Tell the trial's active investigators (``role`` investigator: signature) or sponsors (sponsor:
    concurrence) that ``decision`` waits for them: an in-app notice each, linking to the decision, and
    its e-mail. Once per decision, recipient and kind, however often it runs. Nothing is sent once the
    decision no longer waits for that role (signed, rejected or invalidated since). Returns the
    notices created."""
    from trials.models import Membership, Role

    kind = Notification.Kind.CONCURRENCE if role == Role.SPONSOR else Notification.Kind.DECISION
    if decision.status != _AWAITS[kind]:
        log.info("notifications: %s no longer awaits %s; no notice", decision, kind.label.lower())
        return 0
    users = sorted(set(Membership.objects.filter(trial_id=decision.trial_id, role=role, user__is_active=True)
                       .values_list("user_id", flat=True)))
    what = "concurrence" if kind == Notification.Kind.CONCURRENCE else "signature"
    summary = decision.decided_summary if kind == Notification.Kind.CONCURRENCE else decision.summary
    message = f"{decision.trial.code}: dose-escalation decision #{decision.pk} awaits your {what} — {summary}."
    link = reverse("escalation:decision", args=[decision.pk])
    existing = set(Notification.objects.filter(decision=decision, kind=kind).values_list("recipient_id", flat=True))
    Notification.objects.bulk_create(
        [Notification(recipient_id=u, decision=decision, kind=kind, message=message[:300], link=link)
         for u in users],
        ignore_conflicts=True,
    )
    send_pending_emails()
    return len(set(users) - existing)


def lockout_notify(*, recipients, username: str, ip_address: str, link: str, failures: int | None = None) -> int:
    """Tell ``recipients`` (the administrators), in-app and by e-mail (21 CFR 11.300(d)), that sign-ins for
    ``username`` from ``ip_address`` are locked out; ``link`` is the admin's list of that lock.
    Returns the notices created; the e-mails go out through the outbox after commit."""
    from outbox import enqueue

    link = link[:200]  # the field's length (a long, attacker-chosen user name is cut)
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")
    who = f"account “{username}”" if username else "an unknown account"
    message = (f"Sign-in locked for {who} from {ip_address or 'an unknown address'} at {when} after "
               f"{failures or settings.AXES_FAILURE_LIMIT} failed attempts (password, one-time code or signature).")
    notices = Notification.objects.bulk_create(
        [Notification(recipient=admin, kind=Notification.Kind.LOCKOUT, message=message[:300], link=link)
         for admin in recipients]
    )
    if notices:
        enqueue("notifications.tasks.send_emails")
    return len(notices)


def unread_count(user) -> int:
    """The user's unread notices: one count, served by the partial index notification_unread_idx, once a
    request (kept on the request's user: the page and its navigation badge ask it both)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    cached = getattr(user, "_unread_notices", None)
    if cached is None:
        cached = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
        user._unread_notices = cached
    return cached


def mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all unread ones when ``ids`` is None); returns rows changed."""
    queryset = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    if hasattr(user, "_unread_notices"):  # the count of this request no longer holds
        del user._unread_notices
    return queryset.update(read_at=timezone.now())

