"""Views shared by the apps: the home page and the htmx form helper."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from escalation.selectors import (
    attribution_missing,
    decisions_awaiting_concurrence,
    dlts_to_adjudicate,
    escalation_blockers,
    open_decisions_for_investigator,
)
from queries.selectors import queries_to_answer, queries_to_review
from trials.access import trials_for
from trials.models import Membership


def render_form(request, template: str, context: dict, *, status: int = 200, partial: str = "form"):
    """The whole page, or only its ``partial`` (the form, a list's results) for an htmx request: one
    view, one template."""
    name = f"{template}#{partial}" if request.htmx and partial else template
    return TemplateResponse(request, name, context, status=status)


def redirect_after_form(request, url: str):
    """After a successful submission: htmx follows HX-Redirect, a plain form the 302."""
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)


# The home page's work lists show this many entries each (the oldest first; each list's page has them all).
HOME_LIST_LIMIT = 50


def home(request):
    """My trials, and the work queue: decisions to sign (investigators) or concur with (sponsors), DLTs to
    adjudicate and attributions to give at the user's sites, each linked to where it is done."""
    user = request.user
    memberships = (
        Membership.objects.filter(user=user).select_related("trial", "site").order_by("trial__code", "role")
    )
    from escalation.rp2d import declarations_awaiting

    to_adjudicate = list(dlts_to_adjudicate(user)[:HOME_LIST_LIMIT])
    to_attribute = list(attribution_missing(user)[:HOME_LIST_LIMIT])
    return render(
        request,
        "home.html",
        {
            "memberships": memberships,
            "trials": trials_for(user),
            "pending_decisions": open_decisions_for_investigator(user).listed(),
            "concurrence_decisions": decisions_awaiting_concurrence(user).listed(),
            "rp2d_to_sign": declarations_awaiting(user),
            "dlts_to_adjudicate": to_adjudicate,
            "attribution_missing": to_attribute,
            "blockers": escalation_blockers(to_adjudicate + to_attribute, now=timezone.now()),
            # Data queries to answer (site staff) or to close / re-open (raisers): docs/data-management.md.
            "queries_to_answer": list(queries_to_answer(user)[:30]),
            "queries_to_review": list(queries_to_review(user)[:30]),
        },
    )
