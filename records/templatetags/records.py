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
    may = request is not None and has_site_role(request.user, kind.owner(record), kind.roles)
    return {"kind": kind, "record": record, "may_change": may and not getattr(record, "voided_at", None)}
