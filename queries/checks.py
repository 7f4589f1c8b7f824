"""The edit-check runner: the rules of ``queries/edit_checks.toml`` (trialrules.edit_checks) applied to the
saved records of every registered kind (records.registry).

One mechanism: a ``post_save`` receiver for any model of a registered kind schedules :func:`check_record`
after the transaction commits (the committed state is what is checked; a failure is logged, the sweep
catches up); the sweep (:func:`sweep`: ``manage.py edit_checks``, Celery ``queries.tasks.sweep``) checks
every record. A failing rule raises one edit-check query on the record; a rule that passes closes its
live query (AUTO_CLOSED); a void record closes them all.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.utils import timezone

from queries.models import Query
from records.registry import KINDS, RecordKind, kinds_of
from trialrules.edit_checks import Rule, evaluate, parse_rules

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("edit_checks.toml")


def read_rules(path: Path = RULES_FILE) -> list[Rule]:
    """The rules of ``path``, checked against the registered kinds (RulesError names the rule and key)."""
    return parse_rules(path.read_text(encoding="utf-8"), kinds={slug: k.fields for slug, k in KINDS.items()})


@functools.cache
def rules() -> tuple[Rule, ...]:
    return tuple(read_rules())


def _checked_kinds() -> dict[str, RecordKind]:
    slugs = {rule.kind for rule in rules()}
    return {slug: KINDS[slug] for slug in slugs if slug in KINDS}


def _value(value):
    return timezone.localtime(value) if isinstance(value, datetime) and timezone.is_aware(value) else value


def _subject_values(subject) -> dict:
    if subject is None:
        return {}
    first = subject.doses.order_by("administered_at").values_list("administered_at", flat=True).first()
    return {"enrolled_on": timezone.localtime(subject.enrolled_at).date() if subject.enrolled_at else None,
            "date_of_birth": subject.date_of_birth,
            "first_dose_on": timezone.localtime(first).date() if first else None}


def record_values(kind: RecordKind, record) -> dict:
    """What the rules read: the record's own values by field name (local date-times; a foreign key as its
    id), and ``subject``: the enrolment date, date of birth and first dose date of the record's subject."""
    values = {f.name: _value(getattr(record, f.attname)) for f in record._meta.concrete_fields}
    owner = kind.owner(record)
    subject = owner if owner._meta.model_name == "subject" else getattr(owner, "subject", None)
    values["subject"] = _subject_values(subject)
    return values


def check_record(kind: RecordKind, record) -> tuple[int, int]:
    """Apply the rules of ``kind`` to ``record``: (queries raised, queries closed)."""
    from queries.services import edit_check_close, edit_check_raise

    live = {q.check_code: q for q in Query.objects.filter(
        origin=Query.Origin.EDIT_CHECK, kind=kind.slug, object_id=record.pk,
        content_type=ContentType.objects.get_for_model(kind.model)).exclude(status=Query.Status.CLOSED)}
    if getattr(record, "voided_at", None) is not None:
        closed = sum(edit_check_close(query=q, text="The entry was voided: it counts nowhere.") is not None
                     for q in live.values())
        return 0, closed
    findings, codes = evaluate(rules(), kind.slug, record_values(kind, record))
    failing = {f.code for f in findings}
    raised = sum(edit_check_raise(kind=kind, record=record, code=f.code, field=f.field, message=f.message,
                                  value=f.value) is not None for f in findings if f.code not in live)
    closed = sum(edit_check_close(query=q) is not None for code, q in live.items()
                 if code in codes and code not in failing)
    return raised, closed


def _fresh(kind: RecordKind, pk: int):
    manager = getattr(kind.model, "all_objects", kind.model._base_manager)
    return manager.filter(pk=pk).first()


def check_saved(model: type[models.Model], pk: int) -> None:
    for kind in kinds_of(model):
        if kind.slug not in _checked_kinds():
            continue
        record = _fresh(kind, pk)
        if record is not None:
            check_record(kind, record)


@functools.cache
def _checked_models() -> frozenset:
    return frozenset(kind.model for kind in _checked_kinds().values())


def after_save(sender, instance, raw=False, **kwargs) -> None:
    """post_save of any model: for a model of a checked kind, check the record once the data are committed
    (a rules file that cannot be read is logged here and named by ``manage.py edit_checks --validate``)."""
    if raw:
        return
    try:
        checked = sender in _checked_models()
    except Exception:
        log.exception("edit checks: the rules cannot be read")
        return
    if not checked:
        return
    model, pk = sender, instance.pk
    transaction.on_commit(lambda: check_saved(model, pk), robust=True)


def _trial_lookup(model: type[models.Model]) -> str | None:
    """The ORM path from ``model`` to its trial (``trial``, ``subject__trial``, ``sample__subject__trial``)."""
    def has(m, name):
        try:
            return m._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    if has(model, "trial"):
        return "trial"
    if has(model, "subject"):
        return "subject__trial"
    for f in model._meta.concrete_fields:
        if isinstance(f, models.ForeignKey) and has(f.related_model, "subject"):
            return f"{f.name}__subject__trial"
    return None


def sweep(trial=None) -> dict:
    """Check every record of every checked kind (of ``trial`` only, when given): counts per kind."""
    result = {"checked": 0, "raised": 0, "closed": 0}
    for _slug, kind in sorted(_checked_kinds().items()):
        manager = getattr(kind.model, "all_objects", kind.model._base_manager)
        queryset = manager.all().order_by("pk")
        if trial is not None:
            lookup = _trial_lookup(kind.model)
            if lookup is None:
                log.warning("edit checks: no path from %s to its trial; skipped", kind.model.__name__)
                continue
            queryset = queryset.filter(**{lookup: trial})
        for record in queryset.iterator(chunk_size=500):
            raised, closed = check_record(kind, record)
            result["checked"] += 1
            result["raised"] += raised
            result["closed"] += closed
    return result
