"""Reads for corrections and history: a registered record within the user's scope, and its audit trail
(who, when, field, old value → new value, reason) read from the pghistory event rows."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.http import Http404
from django.utils import timezone

from records.registry import RecordKind
from trials.access import at_staff_sites, readable
from trials.models import SITE_ROLES

# Bookkeeping columns that are not part of what a reviewer reads as the record.
HIDDEN = {"id", "recorded_at", "created_at", "updated_at"}


def record_for(user, kind: RecordKind, pk: int, roles=SITE_ROLES):
    """The record (voided ones included) if it belongs to a (trial, site) where the user is site staff
    (or holds one of ``roles``: SITE_SCOPED_ROLES for the history, which the site's monitor reads too);
    404 otherwise, as for any protected object (trials.access)."""
    manager = getattr(kind.model, "all_objects", kind.model._default_manager)
    try:
        record = manager.get(pk=pk)
    except kind.model.DoesNotExist:
        raise Http404(f"No such {kind.label.lower()}") from None
    owner = kind.owner(record)
    if not type(owner)._base_manager.filter(at_staff_sites(user, roles), pk=owner.pk).exists():
        raise Http404(f"No such {kind.label.lower()}")
    return record


def record_owner_scope(kind: RecordKind, record) -> tuple[int, int, int | None]:
    """(trial id, site id, subject id or None) of a record, from its owner (a subject, a screening record)."""
    owner = kind.owner(record)
    subject_id = owner.pk if owner._meta.model_name == "subject" else getattr(owner, "subject_id", None)
    return owner.trial_id, owner.site_id, subject_id


def readable_record(user, kind: RecordKind, pk: int):
    """The record (voided ones included) if the user may read it: site staff and the monitor of its site,
    a data manager of its trial (:func:`trials.access.readable`); 404 otherwise."""
    manager = getattr(kind.model, "all_objects", kind.model._default_manager)
    try:
        record = manager.get(pk=pk)
    except kind.model.DoesNotExist:
        raise Http404(f"No such {kind.label.lower()}") from None
    owner = kind.owner(record)
    if not type(owner)._base_manager.filter(readable(user), pk=owner.pk).exists():
        raise Http404(f"No such {kind.label.lower()}")
    return record


@functools.cache
def event_model_for(model: type[models.Model]):
    for candidate in apps.get_models():
        tracked = getattr(candidate, "pgh_tracked_model", None)
        if tracked is not None and tracked._meta.concrete_model is model._meta.concrete_model:
            return candidate
    raise LookupError(f"{model.__name__} is not audited")


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str  # "entered", "corrected", "voided", "changed", "deleted"
    user: str
    db_user: str
    reason: str
    url: str
    changes: list[FieldChange]


def _display(field: models.Field, value, users: dict, related: dict) -> str:
    if value in (None, ""):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.ForeignKey):
        if field.related_model is get_user_model():
            return users.get(value, f"user #{value}")
        return related.get((field.name, value), f"#{value}")
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%d %b %Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d %b %Y")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def record_history(record) -> list[HistoryEntry]:
    """Every change to ``record``, oldest first, with the fields that changed from → to."""
    model = type(record)
    event_model = event_model_for(model)
    fields = [f for f in model._meta.concrete_fields if f.name not in HIDDEN
              and any(ef.name == f.name for ef in event_model._meta.concrete_fields)]
    events = list(event_model.objects.filter(pgh_obj_id=record.pk).order_by("pgh_id"))
    user_ids = {(e.pgh_context or {}).get("user") for e in events}
    for e in events:
        user_ids.update(getattr(e, f.attname) for f in fields
                        if isinstance(f, models.ForeignKey) and f.related_model is get_user_model())
    users = {u.pk: u.get_full_name() or u.username
             for u in get_user_model().objects.filter(pk__in=[i for i in user_ids if isinstance(i, int)])}
    related = {}  # (field, id) -> what the row is (subject code, drug name, …), one query per field
    for f in fields:
        if isinstance(f, models.ForeignKey) and f.related_model is not get_user_model():
            ids = {getattr(e, f.attname) for e in events} - {None}
            for pk, obj in f.related_model._base_manager.in_bulk(ids).items():
                related[(f.name, pk)] = str(obj)
    entries, previous = [], None
    for event in events:
        context = event.pgh_context or {}
        changes = []
        for f in fields:
            new = getattr(event, f.attname)
            old = getattr(previous, f.attname) if previous is not None else None
            if previous is None and new in (None, "", [], {}):
                continue
            if previous is None or old != new:
                changes.append(FieldChange(f.name, str(f.verbose_name),
                                           _display(f, old, users, related) if previous else "",
                                           _display(f, new, users, related)))
        action = {"insert": "entered", "delete": "deleted"}.get(event.pgh_label) or {
            "correction": "corrected", "void": "voided"}.get(context.get("change"), "changed")
        if action == "changed" and not changes:
            previous = event
            continue
        who = users.get(context.get("user")) or context.get("source") or ""
        entries.append(HistoryEntry(at=event.pgh_created_at, action=action, user=who,
                                    db_user=getattr(event, "pgh_db_user", "") or "",
                                    reason=context.get("reason", ""), url=context.get("url", ""), changes=changes))
        previous = event
    return entries
