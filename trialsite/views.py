"""Views shared by the apps: the home page and the htmx form helper."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django_htmx.http import HttpResponseClientRedirect

from escalation.selectors import open_decisions_for_investigator
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


def home(request):
    memberships = (
        Membership.objects.filter(user=request.user).select_related("trial", "site").order_by("trial__code", "role")
    )
    return render(
        request,
        "home.html",
        {
            "memberships": memberships,
            "trials": trials_for(request.user),
            "pending_decisions": open_decisions_for_investigator(request.user).select_related("trial", "cohort"),
        },
    )
