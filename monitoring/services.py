"""Source-data verification (SDV): the monitor of a record's site marks one field, or the whole form, of
any registered record kind (records.registry.KINDS) as verified against the source documents.

One mechanism for every kind. The verified values (field -> value as text) are stored with the mark; a
later change of a verified field — through a correction, a service, the API, the admin — is caught by a
``post_save`` receiver of the kinds' models (monitoring.signals) and clears the verification, naming the
field and its old → new value. A change made outside the application (raw SQL) has no receiver: the
status is computed by comparing the stored values with the record as it reads now
(:mod:`monitoring.selectors`), so a page never shows "verified" for a changed value, and the next
verification of that record clears the stale one first.

Every write is audited (pghistory, the context naming the change).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import Decimal

import pghistory
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from monitoring.models import SourceVerification
from records.registry import KINDS, RecordKind, kind_for
from records.selectors import record_owner_scope
from records.services import clean_reason
from trials.access import has_site_role
from trials.models import Role

FORM = ""  # the field of a whole-form verification


def resolve_kind(kind) -> RecordKind:
    found = kind if isinstance(kind, RecordKind) else kind_for(kind)
    if found is None:
        raise ValidationError({"kind": f"There is no record kind {kind!r}."})
    return found


# --- values as text ---------------------------------------------------------------------------------


def _field(model, name: str) -> models.Field:
    return model._meta.get_field(name)


def value_text(field: models.Field, value) -> str:
    """A value as stable text, the same for the instance in memory (as just assigned and saved) and for
    the row read back: what a verification stores and what a later value is compared with."""
    if value is None or value == "":
        return ""
    if isinstance(field, models.JSONField):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    if not isinstance(field, models.ForeignKey):
        try:
            value = field.to_python(value)
        except ValidationError:
            return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str, ensure_ascii=False)
    return str(value)


def current_values(kind: RecordKind, record, fields=None) -> dict[str, str]:
    """field -> value text of ``record`` now, for ``fields`` (default: every field of the kind's form)."""
    names = fields if fields is not None else kind.fields
    out = {}
    for name in names:
        field = _field(type(record), name)
        out[name] = value_text(field, getattr(record, field.attname))
    return out


def display(model, name: str, text: str) -> str:
    """A stored value text as a reader reads it (the choice's label; "—" when empty)."""
    if text == "":
        return "—"
    try:
        field = _field(model, name)
    except FieldDoesNotExist:  # a field since removed from the model: show the text
        return text
    if field.choices:
        labels = {value_text(field, k): str(v) for k, v in field.flatchoices}
        return labels.get(text, text)
    if isinstance(field, models.BooleanField):
        return {"true": "yes", "false": "no"}.get(text, text)
    return text


def field_label(model, name: str) -> str:
    try:
        return str(_field(model, name).verbose_name)
    except FieldDoesNotExist:
        return name


def differences(model, stored: dict, now: dict) -> list[str]:
    """The changed fields of a verification, each as "grade 2 → 3"."""
    return [f"{field_label(model, name)} {display(model, name, old)} → {display(model, name, now.get(name, ''))}"
            for name, old in stored.items() if now.get(name, "") != old]


# --- the audit context --------------------------------------------------------------------------------


def _audit(**metadata):
    """The audit context of an SDV write. Inside a change already under a context (a correction, a request
    with its user and URL) the rows are written under that one: pghistory's nested contexts would add
    these keys to the outer context for the rest of its statements."""
    from pghistory import runtime

    if hasattr(runtime._tracker, "value"):
        return contextlib.nullcontext()
    return pghistory.context(**metadata)


# --- verify, withdraw, clear ------------------------------------------------------------------------------


def _require_monitor(user, kind: RecordKind, record) -> None:
    owner = kind.owner(record)
    if not has_site_role(user, owner, (Role.MONITOR,)):
        raise PermissionDenied("Only the monitor of the record's site verifies source data.")


def standing_for(record, field: str | None = None):
    ct = ContentType.objects.get_for_model(type(record), for_concrete_model=True)
    queryset = SourceVerification.objects.filter(content_type=ct, object_id=record.pk, cleared_at__isnull=True)
    return queryset if field is None else queryset.filter(field=field)


def verify(*, user, kind, record, field: str = FORM) -> SourceVerification:
    """Mark ``field`` of ``record`` (or, with ``field=""``, every field of the kind's form) as verified
    against the source by ``user``, the monitor of the record's site. The current values are kept with
    the mark. Refused: another role or site (403), an unknown field, a void entry, a mark already
    standing (the message says whose)."""
    kind = resolve_kind(kind)
    field = (field or "").strip()
    if field and field not in kind.fields:
        raise ValidationError({"field": f"{kind.label} has no field {field!r} to verify "
                                        f"(fields: {', '.join(kind.fields)})."})
    _require_monitor(user, kind, record)
    model = type(record)
    manager = getattr(model, "all_objects", model._default_manager)
    with transaction.atomic(), pghistory.context(change="sdv-verify", kind=kind.slug, field=field or "(form)"):
        locked = manager.select_for_update().get(pk=record.pk)
        if getattr(locked, "voided_at", None) is not None:
            raise ValidationError("This entry is void: there is nothing to verify.")
        names = (field,) if field else kind.fields
        values = current_values(kind, locked, names)
        existing = standing_for(locked, field)
        if not field:
            existing = existing.filter(kind=kind.slug)
        existing = existing.select_related("verified_by").first()
        if existing is not None:
            changed = differences(model, existing.values, current_values(kind, locked, existing.values))
            if not changed:
                who = existing.verified_by.get_full_name() or existing.verified_by.username
                raise ValidationError(f"Already verified by {who} on "
                                      f"{timezone.localtime(existing.verified_at):%d %b %Y %H:%M}.")
            # Changed outside the application since (no save signal): the stale mark is cleared first.
            _clear(existing, "changed outside the application: " + "; ".join(changed))
        owner_trial, owner_site, subject_id = record_owner_scope(kind, locked)
        try:
            with transaction.atomic():
                return SourceVerification.objects.create(
                    trial_id=owner_trial, site_id=owner_site, subject_id=subject_id, kind=kind.slug,
                    content_type=ContentType.objects.get_for_model(model, for_concrete_model=True),
                    object_id=locked.pk, field=field, values=values, verified_by=user)
        except IntegrityError:
            raise ValidationError("Already verified (a moment ago).") from None


def record_of(verification: SourceVerification):
    """The verified record (a void one too), or None if it is gone."""
    model = verification.content_type.model_class()
    manager = getattr(model, "all_objects", model._default_manager)
    return manager.filter(pk=verification.object_id).first()


def withdraw(*, user, verification: SourceVerification, reason: str) -> SourceVerification:
    """The monitor of the site takes back a standing verification, with a reason (5–500 characters)."""
    reason = clean_reason(reason)
    kind = resolve_kind(verification.kind)
    record = record_of(verification)
    if record is None:
        raise ValidationError("The verified record no longer exists.")
    _require_monitor(user, kind, record)
    with transaction.atomic(), pghistory.context(change="sdv-withdraw", reason=reason):
        locked = SourceVerification.objects.select_for_update().get(pk=verification.pk)
        if locked.cleared_at is not None:
            raise ValidationError("This verification no longer stands.")
        name = user.get_full_name() or user.username
        _clear(locked, f"withdrawn by {name}: {reason}")
    return locked


def _clear(verification: SourceVerification, reason: str, now=None) -> None:
    verification.cleared_at = now or timezone.now()
    verification.cleared_reason = reason[:2000]
    verification.save(update_fields=["cleared_at", "cleared_reason"])


def clear_changed(record) -> list[SourceVerification]:
    """Clear every standing verification of ``record`` whose verified values differ from the record now
    (called after every save of a registered kind's model); a voided record clears them all."""
    model = type(record)
    if model._meta.concrete_model not in {k.model._meta.concrete_model for k in KINDS.values()}:
        return []
    standing = list(standing_for(record))
    if not standing:
        return []
    cleared = []
    with _audit(change="sdv-cleared"):
        for verification in standing:
            if getattr(record, "voided_at", None) is not None:
                reason = "entry voided" + (f": {record.void_reason}" if getattr(record, "void_reason", "") else "")
            else:
                now = {}
                for name in verification.values:
                    try:
                        now[name] = value_text(_field(model, name), getattr(record, _field(model, name).attname))
                    except FieldDoesNotExist:  # a field since removed
                        now[name] = ""
                changed = differences(model, verification.values, now)
                if not changed:
                    continue
                reason = "; ".join(changed)
            _clear(verification, reason)
            cleared.append(verification)
    return cleared
