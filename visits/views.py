"""Visit pages: a subject's calendar, recording a visit done or missed, the follow-up anchors, and the
site-wide list of overdue and due-soon visits. Every object comes through trials.access."""

from __future__ import annotations

from itertools import groupby

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from trials.access import access_subject, access_visit, has_site_role
from trials.models import SITE_ROLES, SITE_SCOPED_ROLES, Membership, Role, Site, Trial
from trialsite.forms import add_service_errors
from trialsite.middleware import refused_response
from trialsite.views import redirect_after_form, render_form
from visits import services
from visits.forms import FollowUpForm, VisitDoneForm, VisitMissedForm
from visits.models import FollowUp
from visits.selectors import attention_page, attention_visits
from visits.watch import due_soon_days


def subject_calendar(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_SCOPED_ROLES)  # read-only: the monitor reads it
    today = timezone.localdate()
    soon = due_soon_days()
    visits = list(subject.visits.select_related("recorded_by").order_by("target", "code"))
    for v in visits:
        v.state_now = v.state(today)
        if v.state_now == "planned" and (v.window_start - today).days <= soon:
            v.state_now = "due_soon"
    months = [(month, list(rows)) for month, rows in groupby(visits, key=lambda v: v.target.replace(day=1))]
    counts = {state: sum(1 for v in visits if v.state_now == state)
              for state in ("overdue", "open", "due_soon", "done", "missed")}
    return render(request, "visits/calendar.html", {
        "subject": subject, "trial": subject.trial, "months": months, "today": today, "counts": counts,
        "deviations": sum(1 for v in visits if v.deviation),
        "follow_up": FollowUp.objects.filter(subject=subject).first(),
        "can_record": has_site_role(request.user, subject),
        "is_coordinator": has_site_role(request.user, subject, Role.COORDINATOR),
    })


def visit_record(request, pk: int):
    """Record one visit done (date) or missed (reason): two forms, each an htmx partial of this page."""
    visit = access_visit(request.user, pk)
    action = request.POST.get("action") if request.method == "POST" else None
    if action is not None and action not in ("done", "missed"):
        return refused_response(request, "Say whether the visit was done or missed.", parameter="action")
    done_form = VisitDoneForm(request.POST if action == "done" else None, prefix="done",
                              initial={"done_on": min(timezone.localdate(), visit.target)})
    missed_form = VisitMissedForm(request.POST if action == "missed" else None, prefix="missed")
    form = {"done": done_form, "missed": missed_form}.get(action)
    if form is not None and form.is_valid():
        try:
            if action == "done":
                services.visit_record_done(visit=visit, user=request.user, **form.cleaned_data)
            else:
                services.visit_record_missed(visit=visit, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            url = reverse("visits:calendar", args=[visit.subject_id]) + f"#visit-{visit.pk}"
            return redirect_after_form(request, url)
    context = {"visit": visit, "subject": visit.subject, "done_form": done_form, "missed_form": missed_form,
               "window_days": (visit.window_end - visit.window_start).days}
    return render_form(request, "visits/record.html", context, status=422 if form is not None and form.errors else 200,
                       partial=f"{action}_form" if action else "")


def follow_up_edit(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR])
    instance = FollowUp.objects.filter(subject=subject).first()
    if instance is not None:
        # Saved once: every later change is a correction with a reason (records app).
        return redirect_after_form(request, reverse("records:correct", args=["follow-up", instance.pk]))
    form = FollowUpForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_set(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("visits:calendar", args=[subject.pk]))
    return render_form(request, "visits/follow_up.html", {"subject": subject, "form": form},
                       status=422 if form.errors else 200)


def attention_list(request):
    """Site staff (and the site's monitor, read-only): the overdue and due-soon visits at their sites,
    filterable by trial and site."""
    trials = Trial.objects.filter(memberships__user=request.user, memberships__role__in=SITE_SCOPED_ROLES)
    trials = trials.distinct().order_by("code")
    if not trials.exists():
        raise PermissionDenied("Only coordinators, investigators and monitors see the visits of their sites.")
    sites = Site.objects.filter(memberships__user=request.user, memberships__role__in=SITE_SCOPED_ROLES).distinct()
    trial = trials.filter(code=request.GET.get("trial")).first() if request.GET.get("trial") else None
    site = sites.filter(code=request.GET.get("site")).first() if request.GET.get("site") else None
    today = timezone.localdate()
    queryset = attention_visits(request.user, today=today, trial=trial, site=site, roles=SITE_SCOPED_ROLES)
    page, overdue_total = attention_page(queryset, today=today, number=request.GET.get("page"))
    # The visits the user records (site staff; a monitor reads the list only): their (trial, site) pairs.
    staff_at = set(Membership.objects.filter(user=request.user, role__in=SITE_ROLES)
                   .values_list("trial_id", "site_id"))
    for v in page:
        v.state_now = v.state(today)
        if v.state_now == "planned":
            v.state_now = "due_soon"
    query = "&".join(f"{k}={v}" for k, v in (("trial", trial and trial.code), ("site", site and site.code)) if v)
    return render(request, "visits/attention_list.html", {
        "page": page, "trials": trials, "sites": sites.order_by("code"), "trial": trial, "site": site,
        "today": today, "days": due_soon_days(), "query": query,
        "overdue_total": overdue_total,
        "writable": {v.pk for v in page if (v.subject.trial_id, v.subject.site_id) in staff_at},
    })
