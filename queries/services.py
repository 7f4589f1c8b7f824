"""Writes for data queries: raise, answer (with an explanation or a correction), close, re-open, and the
edit checks' own raise and automatic close. Every step is a :class:`QueryMessage` of the query's thread,
made in one transaction on the locked query, audited (pghistory) with the step in the context.

Who (docs/data-management.md, "Data queries"):
- raise, close, re-open: the monitor of the record's site, an investigator of its site, a data manager
  of its trial (:func:`may_raise`);
- answer, and answer with a correction (made through the reason-for-change flow, records.services):
  the coordinator or investigator of the record's site (:func:`may_answer`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pghistory
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from queries.models import Query, QueryMessage
from records.registry import RecordKind, kind_for
from records.selectors import record_owner_scope
from trials.access import has_site_role
from trials.models import SITE_ROLES, Membership, Role

TEXT_MAX_LENGTH = 2000
# Raise, close and re-open: held at the record's site, or trial-wide.
SITE_RAISER_ROLES = (Role.MONITOR, Role.INVESTIGATOR)
TRIAL_RAISER_ROLES = (Role.DATA_MANAGER,)
RAISER_ROLES = (*SITE_RAISER_ROLES, *TRIAL_RAISER_ROLES)


# --- who ----------------------------------------------------------------------------------------------


def may_raise(user, trial_id: int, site_id: int) -> bool:
    """A monitor or investigator of the site, or a data manager of the trial (they also close and re-open)."""
    if user is None or not user.is_authenticated:
        return False
    memberships = Membership.objects.filter(user=user, trial_id=trial_id)
    return memberships.filter(models.Q(role__in=SITE_RAISER_ROLES, site_id=site_id)
                              | models.Q(role__in=TRIAL_RAISER_ROLES)).exists()


def may_answer(user, query: Query) -> bool:
    """Site staff (coordinator, investigator) of the query's site."""
    return user is not None and user.is_authenticated and has_site_role(user, query, SITE_ROLES)


def may_close(user, query: Query) -> bool:
    return may_raise(user, query.trial_id, query.site_id)


# --- helpers ------------------------------------------------------------------------------------------


def clean_text(text: str, *, required: bool = True, what: str = "the query") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError({"text": f"Write {what}."})
    if len(text) > TEXT_MAX_LENGTH:
        raise ValidationError({"text": f"Keep it to {TEXT_MAX_LENGTH} characters (it has {len(text)})."})
    return text


def shown(value) -> str:
    """A value as a query records it (value at raise, a correction's old and new values)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else (
            value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, models.Model):
        return str(value)
    return str(value)


def _kind(kind) -> RecordKind:
    resolved = kind_for(kind) if isinstance(kind, str) else kind
    if resolved is None:
        raise ValidationError({"kind": f"{kind!r} is not a kind of record."})
    return resolved


def _locked(query: Query) -> Query:
    return Query.objects.select_for_update().get(pk=query.pk)


def _message(query: Query, action: str, user, text: str = "", change: dict | None = None) -> QueryMessage:
    return QueryMessage.objects.create(query=query, action=action, user=user, text=text, change=change or {})


def _scope(kind: RecordKind, record) -> dict:
    trial_id, site_id, subject_id = record_owner_scope(kind, record)
    return {"trial_id": trial_id, "site_id": site_id, "subject_id": subject_id,
            "content_type": ContentType.objects.get_for_model(kind.model), "object_id": record.pk}


# --- a person's steps ---------------------------------------------------------------------------------


def query_raise(*, user, kind, record, field: str, text: str) -> Query:
    """Raise a query on ``field`` of ``record`` (``""``: the whole form). Refused: a field the kind does not
    have, no text, a void record, a user who may not raise queries at the record's site."""
    kind = _kind(kind)
    field = (field or "").strip()
    text = clean_text(text)
    if field and field not in kind.fields:
        raise ValidationError({"field": f"{field!r} is not a field of a {kind.label.lower()} "
                                        f"(fields: {', '.join(kind.fields)}; or the whole form)."})
    scope = _scope(kind, record)
    if not may_raise(user, scope["trial_id"], scope["site_id"]):
        raise PermissionDenied("Queries are raised by the monitor, an investigator of the site or a data manager.")
    if getattr(record, "voided_at", None) is not None:
        raise ValidationError("This entry is void: it counts nowhere and cannot be queried.")
    with transaction.atomic(), pghistory.context(query="raised"):
        query = Query.objects.create(kind=kind.slug, field=field, text=text, raised_by=user,
                                     value_at_raise=shown(getattr(record, field)) if field else "", **scope)
        _message(query, QueryMessage.Action.RAISED, user, text)
    return query


def query_answer(*, user, query: Query, text: str) -> Query:
    """The site's explanation (the data stay as they are); the raiser then closes or re-opens."""
    text = clean_text(text, what="the answer")
    if not may_answer(user, query):
        raise PermissionDenied("Queries are answered by the coordinator or an investigator of the site.")
    with transaction.atomic(), pghistory.context(query="answered"):
        locked = _locked(query)
        if locked.status != Query.Status.OPEN:
            raise ValidationError(f"This query is {locked.get_status_display().lower()}: "
                                  "only an open query is answered.")
        locked.status, locked.answered_at = Query.Status.ANSWERED, timezone.now()
        locked.save(update_fields=["status", "answered_at"])
        _message(locked, QueryMessage.Action.ANSWERED, user, text)
    return locked


def query_for_correction(query: Query, *, kind: RecordKind, record) -> None:
    """Refuses a correction answering ``query`` if the query is not a live one on that very record."""
    if (query.content_type_id != ContentType.objects.get_for_model(kind.model).pk
            or query.object_id != record.pk):
        raise ValidationError("This query is about another record.")
    if query.status == Query.Status.CLOSED:
        raise ValidationError("This query is closed: re-open it before answering it with a correction.")


def query_corrected(*, user, query: Query, kind: RecordKind, record, changes: dict, reason: str) -> QueryMessage:
    """Called by :func:`records.services.record_correct` in the correction's transaction: the query records
    the correction (``changes``: field -> (old, new)) and its reason, and is answered."""
    if not may_answer(user, query):
        raise PermissionDenied("Queries are answered by the coordinator or an investigator of the site.")
    with transaction.atomic(), pghistory.context(query="corrected"):
        locked = _locked(query)
        query_for_correction(locked, kind=kind, record=record)
        change = {"changes": [{"field": name, "old": shown(old), "new": shown(new)}
                              for name, (old, new) in changes.items()], "reason": reason}
        if locked.status == Query.Status.OPEN:
            locked.status, locked.answered_at = Query.Status.ANSWERED, timezone.now()
            locked.save(update_fields=["status", "answered_at"])
        return _message(locked, QueryMessage.Action.CORRECTED, user, reason, change)


def query_close(*, user, query: Query, text: str = "") -> Query:
    """Closed by a raiser role (the answer or the correction resolves it; or the value is confirmed)."""
    text = clean_text(text, required=False)
    if not may_close(user, query):
        raise PermissionDenied("Queries are closed by the monitor, an investigator of the site or a data manager.")
    with transaction.atomic(), pghistory.context(query="closed"):
        locked = _locked(query)
        if locked.status == Query.Status.CLOSED:
            raise ValidationError("This query is closed already.")
        locked.status, locked.closed_at, locked.closed_by = Query.Status.CLOSED, timezone.now(), user
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        _message(locked, QueryMessage.Action.CLOSED, user, text)
    return locked


def query_reopen(*, user, query: Query, text: str) -> Query:
    """Back to open (the answer does not resolve it), with the reason, by a raiser role."""
    text = clean_text(text, what="why the query is re-opened")
    if not may_close(user, query):
        raise PermissionDenied("Queries are re-opened by the monitor, an investigator of the site or a data manager.")
    try:
        with transaction.atomic(), pghistory.context(query="reopened"):
            locked = _locked(query)
            if locked.status == Query.Status.OPEN:
                raise ValidationError("This query is open already.")
            locked.status, locked.answered_at, locked.closed_at, locked.closed_by = Query.Status.OPEN, None, None, None
            locked.save(update_fields=["status", "answered_at", "closed_at", "closed_by"])
            _message(locked, QueryMessage.Action.REOPENED, user, text)
    except IntegrityError:
        raise ValidationError("The edit check has raised this query again since: answer that one.") from None
    return locked


# --- the edit checks' steps ---------------------------------------------------------------------------


def edit_check_raise(*, kind: RecordKind, record, code: str, field: str, message: str, value: str) -> Query | None:
    """Raise the edit check's query on ``record`` unless it is live already, or a person closed it on this
    very value (the value was confirmed). None when nothing was raised."""
    scope = _scope(kind, record)
    existing = Query.objects.filter(origin=Query.Origin.EDIT_CHECK, check_code=code,
                                    content_type=scope["content_type"], object_id=record.pk)
    if existing.exclude(status=Query.Status.CLOSED).exists():
        return None
    if existing.filter(status=Query.Status.CLOSED, closed_by__isnull=False, value_at_raise=value).exists():
        return None
    try:
        with transaction.atomic(), pghistory.context(query="raised", source="edit check"):
            query = Query.objects.create(kind=kind.slug, field=field, text=message, origin=Query.Origin.EDIT_CHECK,
                                         check_code=code, value_at_raise=value, **scope)
            _message(query, QueryMessage.Action.RAISED, None, message)
    except IntegrityError:
        return None  # raised at the same moment by another run (the constraint keeps one)
    return query


def edit_check_close(*, query: Query, text: str = "The data now pass the edit check.") -> Query | None:
    """Close a live edit-check query whose check now passes (AUTO_CLOSED, no user)."""
    with transaction.atomic(), pghistory.context(query="auto_closed", source="edit check"):
        locked = _locked(query)
        if locked.status == Query.Status.CLOSED:
            return None
        locked.status, locked.closed_at, locked.closed_by = Query.Status.CLOSED, timezone.now(), None
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        _message(locked, QueryMessage.Action.AUTO_CLOSED, None, text)
    return locked
