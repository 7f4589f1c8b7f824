"""Tumour response pages: a subject's scans (baseline lesions, time points, review, best overall response)
and a trial's efficacy endpoints with their pictures. Thin: access through ``trials.access``, reads through
``response.selectors``, writes through ``response.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from response import selectors, services
from response.forms import BaselineForm, ReviewForm, TimePointForm
from response.models import TumourAssessment
from trials.access import access_subject, access_trial, has_site_role
from trials.models import SITE_ROLES, SITE_SCOPED_ROLES, Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def subject_response(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_SCOPED_ROLES)  # read-only: the monitor reads it
    context = selectors.subject_response(subject)
    is_investigator = has_site_role(request.user, subject, Role.INVESTIGATOR)
    for row in context["rows"]:
        assessment = row["assessment"]
        if is_investigator and not assessment.baseline and assessment.computed_response:
            row["review_form"] = ReviewForm(initial={"response": assessment.overall},
                                            prefix=f"review-{assessment.pk}")
    return TemplateResponse(request, "response/subject.html", {
        "subject": subject, "trial": subject.trial, "is_investigator": is_investigator,
        "can_record": has_site_role(request.user, subject, SITE_ROLES),
        # The outcome (follow-up) form is the coordinator's (visits.services.follow_up_set).
        "can_record_outcome": has_site_role(request.user, subject, (Role.COORDINATOR,)), **context})


def baseline_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_ROLES)
    form = BaselineForm(request.POST or None, initial={"assessed_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.baseline_record(subject=subject, user=request.user, assessed_on=data["assessed_on"],
                                     method=data["method"], lesions=data["lesions"])
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect_after_form(request, reverse("response:subject", args=[subject.pk]))
    return render_form(request, "response/baseline_form.html", {"subject": subject, "form": form},
                       status=422 if form.errors else 200)


def _imaging_visits(subject):
    return list(subject.visits.filter(kind="imaging").order_by("target"))


def timepoint_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_ROLES)
    lesions = list(subject.lesions.all())
    if not lesions:  # every later scan measures the baseline lesions: record those first
        messages.info(request, "Record the baseline scan and its lesions first: every later scan measures them.")
        return redirect("response:baseline", pk=subject.pk)
    visits = _imaging_visits(subject)
    initial = {"assessed_on": timezone.localdate()}
    wanted = request.GET.get("visit", "")
    if wanted.isdigit() and any(v.pk == int(wanted) for v in visits):
        initial["visit"] = int(wanted)
    form = TimePointForm(request.POST or None, initial=initial, subject=subject, lesions=lesions,
                         visits=[v for v in visits if v.status != "missed"])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.assessment_record(subject=subject, user=request.user, assessed_on=data["assessed_on"],
                                       method=data["method"], new_lesions=data["new_lesions"],
                                       values=data["values"], visit=data["visit"])
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                exc = ValidationError({form.error_field(k): v for k, v in exc.error_dict.items()})
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("response:subject", args=[subject.pk]))
    return render_form(request, "response/timepoint_form.html", {"subject": subject, "form": form},
                       status=422 if form.errors else 200)


@require_POST
def review(request, pk: int):
    assessment = get_object_or_404(TumourAssessment, pk=pk)
    subject = access_subject(request.user, assessment.subject_id, roles=[Role.INVESTIGATOR])
    form = ReviewForm(request.POST, prefix=f"review-{assessment.pk}")
    if form.is_valid():
        try:
            services.assessment_review(assessment=assessment, user=request.user,
                                       response=form.cleaned_data["response"],
                                       reason=form.cleaned_data["override_reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("response:subject", args=[subject.pk]) +
                                       f"#scan-{assessment.pk}")
    return render_form(request, "response/review_form.html",
                       {"subject": subject, "assessment": assessment, "form": form}, status=422)


def efficacy(request, code: str):
    trial = access_trial(request.user, code, roles=(Role.SPONSOR, *SITE_ROLES))
    grouping = request.GET.get("by", "all")
    context = selectors.efficacy_overview(request.user, trial, grouping=grouping)
    return TemplateResponse(request, "response/efficacy.html", {"trial": trial, **context})
