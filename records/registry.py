"""The record kinds that can be corrected, voided and read back in history: one entry per kind.

The mechanism (access, locking, the reason, the audit context, voiding, the history page) is the same
for every kind (:mod:`records.services`, :mod:`records.views`); an entry says only what differs: which
fields a correction may change, who may make it, which object carries the record's trial and site
(its *owner*, for access), and what flows on after a change, exactly as after the original entry (a
changed dose date re-plans the visits and re-evaluates escalation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models


@dataclass(frozen=True)
class RecordKind:
    slug: str
    model: type[models.Model]
    label: str
    fields: tuple[str, ...]
    roles: tuple[str, ...]
    owner: Callable[[models.Model], models.Model]
    detail_url: Callable[[models.Model], str]
    # Checks of the corrected (locked, not yet saved) instance given the values before, raising a
    # ValidationError naming the field; it also sets what derives from the corrected fields.
    prepare: Callable[[models.Model, dict], None] | None = None
    # What follows a correction or a void, in the same transaction (side effects go through the outbox):
    # ``after(record, user)``.
    after: Callable[[models.Model, object], None] | None = None
    # The entry's edit checks on the corrected record (trialrules.plausibility findings), the same as
    # at entry: hard findings refuse the correction; soft ones are confirmed by the correction's reason.
    findings: Callable[[models.Model], list] | None = None
    voidable: bool = False
    # A record that must not be corrected or voided in some state says why: ``refused(record, action)``
    # with action "correct" or "void" (None: it may be).
    refused: Callable[[models.Model, str], str | None] | None = None
    # Form field overrides (name -> form field) where the model's own form field does not fit.
    form_fields: dict = field(default_factory=dict)
    # Records whose fields are structured data (screening values, judgements) bring their own entry form:
    # ``form(record, user, data)`` builds it (the reason is added), ``changes(form)`` reads the new values.
    form: Callable | None = None
    changes: Callable | None = None

    @property
    def void_roles(self) -> tuple[str, ...]:
        return self.roles


KINDS: dict[str, RecordKind] = {}


def register(kind: RecordKind) -> RecordKind:
    if kind.slug in KINDS:
        raise ValueError(f"record kind {kind.slug!r} is registered twice")
    KINDS[kind.slug] = kind
    return kind


def kind_for(slug: str) -> RecordKind | None:
    return KINDS.get(slug)


def kinds_of(model: type[models.Model]) -> list[RecordKind]:
    return [k for k in KINDS.values() if k.model is model]


def kind_choices() -> list[str]:
    """The registered kinds' slugs, sorted: the choices of every API field naming a record kind (one enum,
    ``RecordKindEnum``, in the OpenAPI schema)."""
    return sorted(KINDS)
