"""Correcting and voiding any registered record: the one write path for changes after entry.

Each change is atomic, made on the locked row, with the reason in the audit context of the change
(pghistory: it lands in the event row of that very change), and flows on like the original entry.
"""

from __future__ import annotations

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from records.registry import RecordKind
from trials.access import require_site_role

REASON_MIN_LENGTH = 5
REASON_MAX_LENGTH = 500


def clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError({"reason": f"Give the reason for the change (at least {REASON_MIN_LENGTH} characters)."})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"Keep the reason to {REASON_MAX_LENGTH} characters (it has {len(reason)})."})
    return reason


def _locked(kind: RecordKind, pk: int):
    return kind.model.all_objects.select_for_update().get(pk=pk) if hasattr(kind.model, "all_objects") else (
        kind.model.objects.select_for_update().get(pk=pk))


def _require(kind: RecordKind, user, record) -> None:
    require_site_role(user, kind.owner(record), kind.roles,
                      f"Your role at this site does not allow correcting a {kind.label.lower()}.")


def record_correct(*, kind: RecordKind, record, user, changes: dict, reason: str, query=None):
    """Apply ``changes`` (field -> new value; only the kind's fields) to ``record`` with ``reason``.

    Refused: a voided record, a change to a field the kind does not allow, no change at all, and any
    value the record's own validation (field, constraint, kind check) refuses. With ``query`` (a data
    query on this record), the query records the correction as its answer in the same transaction."""
    reason = clean_reason(reason)
    _require(kind, user, record)
    unknown = sorted(set(changes) - set(kind.fields))
    if unknown:
        raise PermissionDenied(f"These fields cannot be corrected here: {', '.join(unknown)}.")
    with transaction.atomic(), pghistory.context(reason=reason, change="correction"):
        locked = _locked(kind, record.pk)
        if getattr(locked, "voided_at", None) is not None:
            raise ValidationError("This entry is void: it cannot be corrected.")
        refused = kind.refused(locked, "correct") if kind.refused is not None else None
        if refused:
            raise ValidationError(refused)
        before = {name: getattr(locked, name) for name in kind.fields}
        changed = {name: value for name, value in changes.items() if before[name] != value}
        if not changed:
            raise ValidationError("Nothing was changed: edit a value, then save with the reason.")
        for name, value in changed.items():
            setattr(locked, name, value)
        if kind.prepare is not None:
            kind.prepare(locked, before)
        if kind.findings is not None:
            from trialsite.edit_checks import enforce

            confirmed = enforce(kind.findings(locked), confirm_unusual=True, unusual_reason=reason, user=user,
                                already=getattr(locked, "confirmed_checks", None) or ())
            if hasattr(locked, "confirmed_checks"):
                locked.confirmed_checks = confirmed
        locked.full_clean()
        locked.save()
        if kind.after is not None:
            kind.after(locked, user)
        if query is not None:
            from queries.services import query_corrected

            query_corrected(user=user, query=query, kind=kind, record=locked, reason=reason,
                            changes={name: (before[name], getattr(locked, name)) for name in changed})
    return locked


def record_void(*, kind: RecordKind, record, user, reason: str, now=None):
    """Mark ``record`` as entered in error: kept, shown struck through, left out of everything derived."""
    reason = clean_reason(reason)
    if not kind.voidable:
        raise ValidationError(f"A {kind.label.lower()} cannot be voided; correct it instead.")
    _require(kind, user, record)
    with transaction.atomic(), pghistory.context(reason=reason, change="void"):
        locked = _locked(kind, record.pk)
        if locked.voided_at is not None:
            raise ValidationError("This entry is already void.")
        refused = kind.refused(locked, "void") if kind.refused is not None else None
        if refused:
            raise ValidationError(refused)
        locked.voided_at, locked.voided_by, locked.void_reason = now or timezone.now(), user, reason
        locked.save(update_fields=["voided_at", "voided_by", "void_reason"])
        if kind.after is not None:
            kind.after(locked, user)
    return locked
