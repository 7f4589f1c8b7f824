"""Reads for data queries: the queries a user may read (trials.access.readable: site staff and the monitor
at their sites, a data manager trial-wide, by subject code), the work queues, and the sponsor's
de-identified counts and ages per site."""

from __future__ import annotations

import statistics
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.http import Http404

from queries.models import Query
from queries.services import SITE_RAISER_ROLES, may_answer
from trials.access import at_staff_sites, data_manager_trials, readable
from trials.models import SITE_ROLES

# Fields a data manager (who reads by subject code, never identity) does not see the values of.
IDENTITY_FIELDS = frozenset({"initials", "date_of_birth"})


def readable_queries(user):
    return (Query.objects.filter(readable(user))
            .select_related("trial", "site", "subject", "raised_by", "closed_by", "content_type"))


def query_for(user, pk) -> Query:
    try:
        return readable_queries(user).get(pk=pk)
    except (Query.DoesNotExist, ValueError, TypeError):
        raise Http404("No such query") from None


def query_for_correction(user, kind, record, pk) -> Query | None:
    """The live query ``pk`` on ``record`` that a correction answers (``?query=`` on the correction page):
    None without ``pk``; 404 if it is not a query the user may answer on that record."""
    if not pk:
        return None
    query = query_for(user, pk)
    if (query.content_type_id != ContentType.objects.get_for_model(kind.model).pk or query.object_id != record.pk
            or query.status == Query.Status.CLOSED or not may_answer(user, query)):
        raise Http404("No such query on this record")
    return query


def record_queries(record, *, live: bool = True):
    """The queries on ``record`` (any of its kinds), the live ones only by default; the caller has checked
    that the user reads the record."""
    queryset = Query.objects.filter(content_type=ContentType.objects.get_for_model(type(record)),
                                    object_id=record.pk).select_related("raised_by")
    return queryset.exclude(status=Query.Status.CLOSED) if live else queryset


def subject_queries(user, subject):
    return readable_queries(user).filter(subject=subject).exclude(status=Query.Status.CLOSED)


def filter_queries(queryset, *, status: str = "", site: str = "", kind: str = "", subject: str = ""):
    if status == "live":
        queryset = queryset.exclude(status=Query.Status.CLOSED)
    elif status in Query.Status.values:
        queryset = queryset.filter(status=status)
    if site:
        queryset = queryset.filter(site__code=site)
    if kind:
        queryset = queryset.filter(kind=kind)
    if subject:
        queryset = queryset.filter(subject__code=subject)
    return queryset


def queries_to_answer(user):
    """Open queries at the sites where the user is site staff (coordinator, investigator)."""
    return (Query.objects.filter(at_staff_sites(user, SITE_ROLES), status=Query.Status.OPEN)
            .select_related("trial", "site", "subject").order_by("raised_at"))


def queries_to_review(user):
    """Answered queries the user may close or re-open (monitor, investigator at the site; data manager)."""
    scope = at_staff_sites(user, SITE_RAISER_ROLES) | Q(trial_id__in=data_manager_trials(user))
    return (Query.objects.filter(scope, status=Query.Status.ANSWERED)
            .select_related("trial", "site", "subject").order_by("answered_at"))


def age_days(query: Query, now: datetime) -> int:
    return max((now - query.raised_at).days, 0)


def site_query_counts(trial, *, now: datetime) -> list[dict]:
    """Per site of ``trial``: open and answered (not yet closed) queries, the oldest and the median age in
    days of those, and the closed ones. Counts only: no subject, no text."""
    rows = []
    live = {}
    for site_id, status, raised_at in Query.objects.filter(trial=trial).values_list("site_id", "status", "raised_at"):
        live.setdefault(site_id, []).append((status, raised_at))
    for site in sorted(trial.sites.all(), key=lambda site: site.code):  # a prefetch of the sites serves it
        items = live.get(site.pk, [])
        ages = [max((now - at).days, 0) for status, at in items if status != Query.Status.CLOSED]
        rows.append({
            "site": site.code, "name": site.name,
            "open": sum(status == Query.Status.OPEN for status, _ in items),
            "answered": sum(status == Query.Status.ANSWERED for status, _ in items),
            "closed": sum(status == Query.Status.CLOSED for status, _ in items),
            "oldest_days": max(ages) if ages else None,
            "median_days": statistics.median(ages) if ages else None,
        })
    return rows


# --- records to review (the raisers' way to a record, by subject code) ------------------------------------


def owner_path(model) -> str:
    """The lookup from a record of ``model`` to its owner's subject ("" when the record itself carries its
    trial and site: a subject, a screening record)."""
    from monitoring.selectors import subject_path

    names = {f.name for f in model._meta.concrete_fields}
    if {"trial", "site"} <= names:
        return ""
    path = subject_path(model)
    if path is None:
        raise LookupError(f"{model.__name__} has no way to its subject")
    return path


def review_records(user, trial, kind, *, subject: str = ""):
    """The live records of ``kind`` in ``trial`` that the user reads (trials.access.readable: site staff and
    the monitor at their sites, a data manager everywhere), newest first, with what names their subject."""
    from trials.access import readable_subjects

    path = owner_path(kind.model)
    queryset = kind.model._default_manager.all()
    if path == "":
        queryset = queryset.filter(readable(user, trial), trial=trial).select_related("site", "trial")
        code_lookup = "code" if kind.model._meta.model_name == "subject" else "number"
    else:
        queryset = queryset.filter(**{f"{path}__in": readable_subjects(user, trial).values("pk")})
        queryset = queryset.select_related(f"{path}__site", f"{path}__trial")
        code_lookup = f"{path}__code"
    if subject:
        queryset = queryset.filter(**{f"{code_lookup}__icontains": subject})
    return queryset.order_by("-pk")
