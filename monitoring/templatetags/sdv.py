"""``{% load sdv %}``: ``{% sdv_mark record "adverse-event" %}`` — the SDV status of a record's form (verified
by/at, not verified, or cleared with the change), shown on the pages that list records; and
``{% sdv_panel "adverse-event" record %}`` — the history page's per-field status, with the monitor's
"Verify field" / "Verify form" buttons."""

from __future__ import annotations

from django import template

from monitoring import selectors
from records.registry import kind_for

register = template.Library()


def _kind(slug):
    kind = kind_for(slug) if isinstance(slug, str) else slug
    if kind is None:
        raise template.TemplateSyntaxError(f"sdv: no record kind {slug!r}")
    return kind


def _is_monitor(context, owner) -> bool:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return False
    cache = context.render_context.setdefault("sdv_is_monitor", {})
    key = (owner.trial_id, owner.site_id)
    if key not in cache:
        cache[key] = selectors.is_monitor_of(request.user, owner)
    return cache[key]


@register.inclusion_tag("monitoring/_mark.html", takes_context=True)
def sdv_mark(context, record, slug):
    kind = _kind(slug)
    if getattr(record, "voided_at", None):
        return {"mark": None}
    # The page's records are read with their subject's other verifications: one statement a page, not
    # one a record.
    verifications = selectors.page_verifications(context.render_context.setdefault("sdv_verifications", {}),
                                                 kind, record)
    return {"mark": selectors.form_mark(kind, record, verifications), "kind": kind, "record": record,
            "is_monitor": _is_monitor(context, kind.owner(record))}


@register.inclusion_tag("monitoring/_panel.html", takes_context=True)
def sdv_panel(context, slug, record):
    kind = _kind(slug)
    verifications = selectors.verifications_of(record)
    for v in verifications:
        v.label = selectors.field_label(type(record), v.field) if v.field else "whole form"
    return {"kind": kind, "record": record, "voided": bool(getattr(record, "voided_at", None)),
            "form_mark": selectors.form_mark(kind, record, verifications),
            "rows": selectors.field_rows(kind, record, verifications),
            "is_monitor": _is_monitor(context, kind.owner(record)),
            "csrf_token": context.get("csrf_token"),
            "standing": [v for v in verifications if v.cleared_at is None],
            "past": [v for v in verifications if v.cleared_at is not None][:20]}
