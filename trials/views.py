"""Trial pages: the site staff's overview and the sponsor's de-identified cohort dashboard."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils import timezone

from escalation.board import dashboard_page
from escalation.selectors import current_cohort, open_items_for, part_rows
from trials.access import access_trial, is_sponsor_only, roles_in, sites_for, subjects_for
from trials.models import SITE_ROLES, SITE_SCOPED_ROLES, Role
from visits.selectors import visit_counts_for


def trial_detail(request, code: str):
    trial = access_trial(request.user, code)
    if is_sponsor_only(request.user, trial):
        return redirect("trials:dashboard", code=trial.code)
    subjects = subjects_for(request.user, trial, SITE_SCOPED_ROLES).order_by("code")  # the monitor's too
    return render(
        request,
        "trials/trial_detail.html",
        {
            "trial": trial,
            "roles": roles_in(request.user, trial),
            "cohort": current_cohort(trial),
            "later_open": trial.cohorts.filter(escalation=False, status="open").select_related("part", "dose_level")
            .annotate(n=Count("subjects")),
            "parts": part_rows(trial),
            "subjects": subjects,
            "sites": sites_for(request.user, trial, roles=SITE_SCOPED_ROLES),
            "can_enrol": sites_for(request.user, trial, roles=[Role.COORDINATOR]).exists(),
            "decisions": trial.decisions.listed()[:10],
            "visit_counts": visit_counts_for(request.user, trial, today=timezone.localdate()),
            # What the next escalation decision waits for, at the user's sites (issue 8, point 1).
            "open_items": open_items_for(request.user, trial, now=timezone.now()),
        },
    )


def trial_dashboard(request, code: str):
    """Cohorts by dose level: enrolled / evaluable / DLT counts and decisions, the escalation path, the DLT
    listing, enrolment and overdue visits per site; a sponsor never sees a subject code (docs/dashboard.md)."""
    trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
    # Cached per trial version and visible sites (escalation.board); codes only for the viewer's own sites.
    return render(request, "trials/dashboard.html", dashboard_page(trial, user=request.user))
