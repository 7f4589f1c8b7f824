"""``{% record_links "dose" d %}``: the Correct · Void · History links of a registered record, shown to
whoever may use them (the history to all site staff who see the record)."""

from __future__ import annotations

from django import template

from records.registry import kind_for
from trials.access import has_site_role

register = template.Library()


@register.inclusion_tag("records/_links.html", takes_context=True)
def record_links(context, slug: str, record):
    kind = kind_for(slug)
    if kind is None:
        raise template.TemplateSyntaxError(f"record_links: no record kind {slug!r}")
    request = context.get("request")
    may = request is not None and _may_change(context, request.user, kind, kind.owner(record))
    return {"kind": kind, "record": record, "may_change": may and not getattr(record, "voided_at", None)}


def _may_change(context, user, kind, owner) -> bool:
    """The role check, once per page for each (owner, roles): a subject page lists many rows of one owner."""
    cache = context.render_context.setdefault("record_links_may", {})
    key = (type(owner), owner.pk, tuple(kind.roles))
    if key not in cache:
        cache[key] = has_site_role(user, owner, kind.roles)
    return cache[key]
