"""Coordinator pages: enrol a subject, record doses and adverse events."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from subjects import services
from subjects.forms import AdverseEventForm, DoseForm, EnrolForm, GateOverrideForm
from trials.access import access_subject, access_trial, sites_for
from trials.models import Membership, Role
from trialsite.forms import add_service_errors
from trialsite.views import render_form


def _done(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)


def _gate_context(subject, user) -> dict:
    """The timing gates of the subject's first dose as they stand now, with any overrides (empty when
    the subject has been dosed or no gate applies)."""
    if subject.doses.exists():
        return {}
    result = services.first_dose_gate_status(subject)
    if result is None:
        return {}
    overrides = {o.gate: o for o in subject.gate_overrides.select_related("overridden_by")}
    blocks = [{"block": b, "override": overrides.get(b.gate)} for b in result.blocks]
    return {
        "gate": {
            "result": result,
            "blocks": blocks,
            "overrides": list(overrides.values()),
            "blocked": any(b["override"] is None for b in blocks),
        },
        "can_override": Membership.objects.filter(user=user, trial=subject.trial, site=subject.site,
                                                  role=Role.INVESTIGATOR).exists(),
    }


def subject_enrol(request, code: str):
    trial = access_trial(request.user, code, roles=(Role.COORDINATOR,))
    sites = sites_for(request.user, trial, roles=[Role.COORDINATOR])
    form = EnrolForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            subject = services.subject_enrol(trial=trial, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _done(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/enrol.html", {"trial": trial, "form": form}, status=status)


def subject_detail(request, pk: int):
    subject = access_subject(request.user, pk)
    return render(
        request,
        "subjects/detail.html",
        {
            "subject": subject,
            "trial": subject.trial,
            "doses": subject.doses.select_related("drug"),
            "adverse_events": subject.adverse_events.all(),
            "visits": subject.visits.all(),
            "dlt_window_end": subject.dlt_window_end(subject.trial.dlt_window_days)
            if subject.trial.dlt_window_days else None,
            **_gate_context(subject, request.user),
        },
    )


def dose_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR])
    next_cycle = (subject.doses.order_by("-cycle").values_list("cycle", flat=True).first() or 0) + 1
    first_drug = subject.trial.drugs.first()
    initial = {"cycle": next_cycle, "day": 1, "drug": first_drug,
               "dose": subject.dose_level.doses.get(first_drug.name)}
    form = DoseForm(request.POST or None, subject=subject, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.dose_record(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _done(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    context = {"subject": subject, "form": form, **_gate_context(subject, request.user)}
    return render_form(request, "subjects/dose_form.html", context, status=status)


def gate_override_new(request, pk: int):
    """An investigator overrides a timing gate for one subject's first dose, with a written reason."""
    subject = access_subject(request.user, pk, roles=[Role.INVESTIGATOR])
    context = _gate_context(subject, request.user)
    blocking = [b["block"].gate for b in context.get("gate", {}).get("blocks", []) if b["override"] is None]
    form = GateOverrideForm(request.POST or None, initial={"gate": blocking[0] if blocking else None})
    if request.method == "POST" and form.is_valid():
        try:
            services.gate_override(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _done(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/gate_override.html", {"subject": subject, "form": form, **context},
                       status=status)


def adverse_event_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR, Role.INVESTIGATOR])
    form = AdverseEventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.adverse_event_record(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _done(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/ae_form.html", {"subject": subject, "form": form}, status=status)
