"""Query tags: ``{% record_queries "adverse-event" event %}`` (the live queries of a record, and the link
to raise one for whoever may), ``{% subject_queries subject %}`` (the subject page's "Queries" section),
``{% query_site_counts trial %}``
(the sponsor dashboard's counts and ages per site, de-identified), and the labels of a query."""

from __future__ import annotations

from django import template
from django.utils import timezone

from queries import selectors
from queries.services import may_raise
from records.registry import kind_for

register = template.Library()


@register.filter
def query_kind_label(query) -> str:
    kind = kind_for(query.kind)
    return kind.label if kind is not None else query.kind


@register.filter
def query_field_label(query) -> str:
    if not query.field:
        return "the whole form"
    return query_change_label(query, query.field)


@register.filter
def query_change_label(query, name: str) -> str:
    """The label of a field a correction answering ``query`` changed (its name if the kind lacks it)."""
    kind = kind_for(query.kind)
    try:
        return str(kind.model._meta.get_field(name).verbose_name).capitalize()
    except Exception:
        return name


@register.inclusion_tag("queries/_record_queries.html", takes_context=True)
def record_queries(context, slug: str, record):
    kind = kind_for(slug)
    if kind is None:
        raise template.TemplateSyntaxError(f"record_queries: no record kind {slug!r}")
    request = context.get("request")
    user = getattr(request, "user", None)
    owner = kind.owner(record)
    return {"kind": kind, "record": record, "live": list(selectors.record_queries(record)),
            "may_raise": user is not None and not getattr(record, "voided_at", None)
            and may_raise(user, owner.trial_id, owner.site_id)}


@register.inclusion_tag("queries/_subject_queries.html", takes_context=True)
def subject_queries(context, subject):
    request = context.get("request")
    user = getattr(request, "user", None)
    live = list(selectors.subject_queries(user, subject)[:20]) if user is not None else []
    now = timezone.now()
    return {"subject": subject, "rows": [(q, selectors.age_days(q, now)) for q in live],
            "count": selectors.subject_queries(user, subject).count() if user is not None else 0}


@register.inclusion_tag("queries/_site_counts.html")
def query_site_counts(trial):
    return {"trial": trial, "rows": selectors.site_query_counts(trial, now=timezone.now())}
