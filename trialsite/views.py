"""Views shared by the apps: the home page and the htmx form helper."""

from __future__ import annotations

from django.shortcuts import render
from django.template.response import TemplateResponse

from escalation.selectors import open_decisions_for_investigator
from trials.access import trials_for
from trials.models import Membership


def render_form(request, template: str, context: dict, *, status: int = 200) -> TemplateResponse:
    """The whole page, or only its ``form`` partial for an htmx request (same view, same template)."""
    name = f"{template}#form" if request.htmx else template
    return TemplateResponse(request, name, context, status=status)


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
