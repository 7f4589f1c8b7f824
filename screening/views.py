"""Screening pages: the list, a new candidate with consent, and the record's working page (values,
judgements, the criteria met / not met / missing, and the decision)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from escalation.selectors import current_cohort
from screening import services
from screening.forms import (
    DecisionForm,
    EligibilityValuesForm,
    JudgementForm,
    ScreeningFilter,
    ScreeningStartForm,
    staff_for,
)
from screening.models import ScreeningRecord
from subjects.listing import paginate
from trials.access import access_screening, access_trial, has_site_role, sites_for
from trials.models import SITE_SCOPED_ROLES, Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def screening_list(request, code: str):
    trial = access_trial(request.user, code, roles=SITE_SCOPED_ROLES)  # the site's monitor reads it too
    form = ScreeningFilter(request.GET or None)
    records = ScreeningRecord.objects.filter(
        trial=trial, site__in=sites_for(request.user, trial, roles=SITE_SCOPED_ROLES)).select_related(
        "site", "subject").order_by("-created_at", "-pk")
    if form.is_valid():
        q, status = form.cleaned_data["q"].strip(), form.cleaned_data["status"]
        if q:
            records = records.filter(Q(number__icontains=q) | Q(initials__iexact=q))
        if status:
            records = records.filter(status=status)
    context = {"trial": trial, "form": form, **paginate(request, records),
               "can_screen": sites_for(request.user, trial, roles=[Role.COORDINATOR]).exists()}
    return render_form(request, "screening/list.html", context, partial="results")


def screening_new(request, code: str):
    trial = access_trial(request.user, code, roles=(Role.COORDINATOR,))
    sites = sites_for(request.user, trial, roles=[Role.COORDINATOR])
    form = ScreeningStartForm(request.POST or None, sites=sites, staff=staff_for(trial, sites),
                              initial={"consent_obtained_by": request.user.pk})
    if request.method == "POST" and form.is_valid():
        try:
            record = services.screening_start(trial=trial, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("screening:detail", args=[record.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "screening/new.html", {"trial": trial, "form": form}, status=status)


def _judgement_initial(record) -> dict:
    return {f"j_{code}": "yes" if j["met"] else "no" for code, j in record.judgements.items()}


def _reserved(user, record, criteria) -> dict[str, str]:
    """The judgements this user may not record, with the reason shown beside the disabled box."""
    return {c.code: services.reserved_judgement_message(c, record) for c in criteria
            if c.kind == "judgement" and not services.may_judge(user, record, c)}


def _context(record, user, *, values_form=None, judgement_form=None, decision_form=None) -> dict:
    criteria = services.criteria_for(record.trial, record.part)
    values_initial = {"assessed_on": record.assessed_on, **record.values}
    outcome = services.eligibility_for(record)
    window_end = None
    if record.assessed_on:
        from datetime import timedelta

        window_end = record.assessed_on + timedelta(days=services.screening_window_days(record.trial))
    return {
        "record": record,
        "trial": record.trial,
        "outcome": outcome,
        "judgements": record.judgements,
        "window_days": services.screening_window_days(record.trial),
        "window_end": window_end,
        "cohort": current_cohort(record.trial),
        "values_form": values_form or EligibilityValuesForm(criteria=criteria, initial=values_initial),
        "judgement_form": judgement_form or JudgementForm(criteria=criteria, initial=_judgement_initial(record),
                                                          reserved=_reserved(user, record, criteria)),
        "decision_form": decision_form or DecisionForm(),
        # The forms are site staff's; the site's monitor reads the record only.
        "may_write": has_site_role(user, record),
        "open": record.status == ScreeningRecord.Status.IN_PROGRESS and has_site_role(user, record),
    }


def screening_detail(request, pk: int):
    record = access_screening(request.user, pk, roles=SITE_SCOPED_ROLES)  # read-only: the monitor reads it
    return TemplateResponse(request, "screening/detail.html", _context(record, request.user))


def screening_values(request, pk: int):
    record = access_screening(request.user, pk)
    criteria = services.criteria_for(record.trial, record.part)
    form = EligibilityValuesForm(request.POST or None, criteria=criteria)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.screening_values_record(record=record, user=request.user,
                                                      assessed_on=form.cleaned_data["assessed_on"],
                                                      values=form.values(), **form.confirmation())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if not request.htmx:
                return HttpResponseRedirect(reverse("screening:detail", args=[record.pk]) + "#results")
            form = None
    status = 422 if form is not None and form.errors else 200
    return render_form(request, "screening/detail.html", _context(record, request.user, values_form=form),
                       status=status)


def screening_judge(request, pk: int):
    record = access_screening(request.user, pk)
    criteria = services.criteria_for(record.trial, record.part)
    form = JudgementForm(request.POST or None, criteria=criteria, initial=_judgement_initial(record),
                         reserved=_reserved(request.user, record, criteria))
    if request.method == "POST" and form.is_valid():
        try:
            record = services.screening_judge(record=record, user=request.user, judgements=form.judgements())
        except ValidationError as exc:
            add_service_errors(form, form.service_errors(exc))
        else:
            if not request.htmx:
                return HttpResponseRedirect(reverse("screening:detail", args=[record.pk]) + "#results")
            form = None
    status = 422 if form is not None and form.errors else 200
    return render_form(request, "screening/detail.html", _context(record, request.user, judgement_form=form),
                       status=status)


def screening_decide(request, pk: int):
    record = access_screening(request.user, pk)
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["action"] == "eligible":
                services.screening_confirm_eligible(record=record, user=request.user)
            else:
                services.screening_fail(record=record, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("screening:detail", args=[record.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "screening/detail.html", _context(record, request.user, decision_form=form),
                       status=status)
