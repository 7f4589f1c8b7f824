"""Reads for source-data verification: the SDV status of a record's form and fields, computed by comparing
the verified values with the record as it reads now (so a change made outside the application, which no
save signal saw, never shows as verified), and the SDV progress of a trial per site and subject."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from monitoring.models import SourceVerification
from monitoring.services import current_values, differences, display, field_label, resolve_kind
from records.registry import KINDS, RecordKind
from trials.models import Membership, Role

VERIFIED, NOT_VERIFIED, CLEARED, CHANGED = "verified", "not_verified", "cleared", "changed"


@dataclass(frozen=True)
class Mark:
    state: str  # verified, not_verified, cleared (by a change or withdrawn), changed (outside the application)
    by: str = ""
    at: datetime | None = None
    reason: str = ""
    verification: SourceVerification | None = None
    via_form: bool = False

    @property
    def verified(self) -> bool:
        return self.state == VERIFIED

    @property
    def text(self) -> str:
        if self.state == VERIFIED:
            return f"verified by {self.by} on {self.at:%d %b %Y}" + (" (form)" if self.via_form else "")
        if self.state == CLEARED:
            return f"verification cleared: {self.reason}"
        if self.state == CHANGED:
            return f"verification no longer stands: {self.reason} (changed outside the application)"
        return "not verified"


def _name(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


def verifications_of(record) -> list[SourceVerification]:
    """Every verification of ``record`` (of any of its kinds), newest first."""
    ct = ContentType.objects.get_for_model(type(record), for_concrete_model=True)
    return list(SourceVerification.objects.filter(content_type=ct, object_id=record.pk)
                .select_related("verified_by").order_by("-verified_at", "-pk"))


def _by_record(verifications) -> dict[tuple[int, int], list[SourceVerification]]:
    """(content type id, record id) -> its verifications, newest first, from one read."""
    by_record: dict[tuple[int, int], list[SourceVerification]] = {}
    for v in verifications.select_related("verified_by").order_by("-verified_at", "-pk"):
        by_record.setdefault((v.content_type_id, v.object_id), []).append(v)
    return by_record


def page_verifications(cache: dict, kind: RecordKind, record) -> list[SourceVerification]:
    """The verifications of ``record`` (as :func:`verifications_of`), read with those of every other record
    of its subject: a page listing a subject's records (doses, adverse events, visits, ...) reads them in
    one statement per subject, whatever their number and kind. ``cache`` lives as long as the page (the
    template's render context). A record not owned by a subject (a screening record) is read alone."""
    from subjects.models import Subject

    owner = kind.owner(record)
    if owner._meta.concrete_model is not Subject:
        return verifications_of(record)
    by_record = cache.get(owner.pk)
    if by_record is None:
        by_record = cache[owner.pk] = _by_record(SourceVerification.objects.filter(subject_id=owner.pk))
    ct = ContentType.objects.get_for_model(type(record), for_concrete_model=True)
    return by_record.get((ct.pk, record.pk), [])


def _standing_mark(kind: RecordKind, record, verification: SourceVerification, via_form=False, only=None) -> Mark:
    stored = verification.values if only is None else {k: v for k, v in verification.values.items() if k in only}
    names = [n for n in stored if n in {f.name for f in type(record)._meta.concrete_fields}]
    now = current_values(kind, record, names) if names else {}
    changed = differences(type(record), stored, now)
    if changed:
        return Mark(CHANGED, _name(verification.verified_by), verification.verified_at, "; ".join(changed),
                    verification, via_form)
    return Mark(VERIFIED, _name(verification.verified_by), verification.verified_at, "", verification, via_form)


def form_mark(kind, record, verifications=None) -> Mark:
    """The SDV status of ``record``'s whole form as ``kind``."""
    kind = resolve_kind(kind)
    verifications = verifications_of(record) if verifications is None else verifications
    forms = [v for v in verifications if v.field == "" and v.kind == kind.slug]
    standing = next((v for v in forms if v.cleared_at is None), None)
    if standing is not None:
        return _standing_mark(kind, record, standing)
    if forms:
        latest = forms[0]
        return Mark(CLEARED, _name(latest.verified_by), latest.verified_at, latest.cleared_reason, latest)
    return Mark(NOT_VERIFIED)


def field_mark(kind, record, name: str, verifications=None) -> Mark:
    """The SDV status of one field: its own verification, or a standing form verification covering it."""
    kind = resolve_kind(kind)
    verifications = verifications_of(record) if verifications is None else verifications
    own = [v for v in verifications if v.field == name]
    standing = next((v for v in own if v.cleared_at is None), None)
    if standing is not None:
        return _standing_mark(kind, record, standing)
    form = next((v for v in verifications if v.field == "" and v.kind == kind.slug and v.cleared_at is None
                 and name in v.values), None)
    if form is not None:
        return _standing_mark(kind, record, form, via_form=True, only={name})
    if own:
        latest = own[0]
        return Mark(CLEARED, _name(latest.verified_by), latest.verified_at, latest.cleared_reason, latest)
    return Mark(NOT_VERIFIED)


@dataclass
class FieldRow:
    name: str
    label: str
    value: str
    mark: Mark


def field_rows(kind, record, verifications=None) -> list[FieldRow]:
    kind = resolve_kind(kind)
    verifications = verifications_of(record) if verifications is None else verifications
    now = current_values(kind, record)
    model = type(record)
    return [FieldRow(name, field_label(model, name), display(model, name, now[name]),
                     field_mark(kind, record, name, verifications)) for name in kind.fields]


def is_monitor_of(user, owner) -> bool:
    return Membership.objects.filter(user=user, trial_id=owner.trial_id, site_id=owner.site_id,
                                     role=Role.MONITOR).exists()


def monitored_sites(user):
    """(trial, site) memberships where ``user`` is the monitor."""
    return (Membership.objects.filter(user=user, role=Role.MONITOR, site__isnull=False)
            .select_related("trial", "site").order_by("trial__code", "site__code"))


# --- progress -------------------------------------------------------------------------------------------


def subject_path(model) -> str | None:
    """The lookup from ``model`` to its subject (``pk`` for the subject itself), following at most two
    foreign keys (a lab result's sample's subject): generic over the registered kinds."""
    from subjects.models import Subject

    if model._meta.concrete_model is Subject:
        return "pk"
    fks = [f for f in model._meta.concrete_fields if f.is_relation and f.many_to_one]
    for f in fks:
        if f.related_model is Subject:
            return f.name
    for f in fks:
        for g in f.related_model._meta.concrete_fields:
            if g.is_relation and g.many_to_one and g.related_model is Subject:
                return f"{f.name}__{g.name}"
    return None


# Records that are not source data yet: a visit still planned, a sample not yet taken. A form with nothing
# entered (an AE never adjudicated, no judgement recorded) is nothing to verify either.
NOT_YET = {"visit": Q(status="planned"), "sample": Q(status="planned")}


def _has_data(values: dict) -> bool:
    return any(v not in ("", "[]", "{}", "false") for v in values.values())


@dataclass
class SubjectProgress:
    subject: object
    total: int = 0
    verified: int = 0
    cleared: int = 0
    forms: list = field(default_factory=list)  # (kind, record, mark)

    @property
    def percent(self) -> int:
        return round(100 * self.verified / self.total) if self.total else 0


def subject_forms(subjects, *, with_marks=True) -> dict[int, SubjectProgress]:
    """subject id -> its forms (every live record of every registered kind with something entered) and
    how many of them are verified (a standing form verification whose values still read the same)."""
    subjects = list(subjects)
    progress = {s.pk: SubjectProgress(s) for s in subjects}
    ids = list(progress)
    if not ids:
        return progress
    by_record = _by_record(SourceVerification.objects.filter(subject_id__in=ids))
    for kind in KINDS.values():
        path = subject_path(kind.model)
        if path is None:
            continue
        queryset = kind.model._default_manager.filter(**{f"{path}__in": ids})  # void entries left out
        if kind.slug in NOT_YET:
            queryset = queryset.exclude(NOT_YET[kind.slug])
        if "__" in path:  # the subject is one record away (a lab result's sample): fetched with it
            queryset = queryset.select_related(path.split("__")[0])
        ct = ContentType.objects.get_for_model(kind.model, for_concrete_model=True)
        for record in queryset:
            if not _has_data(current_values(kind, record)):
                continue
            subject_id = record.pk if path == "pk" else _follow(record, path)
            row = progress.get(subject_id)
            if row is None:
                continue
            mark = form_mark(kind, record, by_record.get((ct.pk, record.pk), []))
            row.total += 1
            row.verified += mark.verified
            row.cleared += mark.state in (CLEARED, CHANGED)
            if with_marks:
                row.forms.append((kind, record, mark))
    return progress


def _follow(record, path: str):
    obj = record
    parts = path.split("__")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    return getattr(obj, f"{parts[-1]}_id")


@dataclass
class SiteProgress:
    site: object
    subjects: list
    total: int
    verified: int
    cleared: int

    @property
    def percent(self) -> int:
        return round(100 * self.verified / self.total) if self.total else 0


def trial_progress(user, trial) -> list[SiteProgress]:
    """The SDV progress of ``trial`` at each site where ``user`` is the monitor, per subject."""
    from subjects.models import Subject

    rows = []
    for membership in monitored_sites(user).filter(trial=trial):
        subjects = Subject.objects.filter(trial=trial, site=membership.site).order_by("code")
        per_subject = list(subject_forms(subjects, with_marks=False).values())
        rows.append(SiteProgress(membership.site, per_subject, sum(p.total for p in per_subject),
                                 sum(p.verified for p in per_subject), sum(p.cleared for p in per_subject)))
    return rows
