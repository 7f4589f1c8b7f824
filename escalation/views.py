"""Escalation decisions: read them, sign them; add an intermediate dose level (investigators)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from escalation import services
from escalation.forms import IntermediateLevelForm, SignForm
from escalation.model_based import beside_the_rule
from escalation.models import EscalationDecision
from escalation.selectors import (
    decision_dlts,
    decision_levels,
    decision_subjects,
    escalation_evidence,
    open_items_for,
)
from trials.access import access_decision, access_trial, is_sponsor_only, roles_in, subjects_for
from trials.models import Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def decision_detail(request, pk: int):
    """A decision, its data and its signatures. Site staff see the subjects of their own sites by code
    (others by level and study day); a sponsor sees per-level counts and the DLTs' terms, grades and
    study days only, never a subject code, a date of a subject or site staff's free text (issue 8,
    point 11)."""
    decision = access_decision(request.user, pk)
    trial = decision.trial
    roles = roles_in(request.user, trial)
    sponsor_view = is_sponsor_only(request.user, trial)
    as_sponsor = decision.status == EscalationDecision.Status.CONCURRENCE and Role.SPONSOR in roles
    can_sign = as_sponsor or (
        decision.status == EscalationDecision.Status.PENDING and Role.INVESTIGATOR in roles
    )
    form = SignForm(request.POST or None, decision=decision, as_sponsor=as_sponsor, signer=request.user)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied("Your role cannot sign this decision now.")
        if form.is_valid():
            try:
                services.decision_sign(decision=decision, user=request.user, request=request,
                                       **form.signer_credentials(), **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_form(request, reverse("escalation:decision", args=[decision.pk]))
        decision.refresh_from_db()
    now = timezone.now()
    evidence = escalation_evidence(trial, now=now)
    context = {
        "decision": decision,
        "trial": trial,
        "sponsor_view": sponsor_view,
        "signatures": decision.signatures.select_related("signer"),
        "form": form if can_sign else None,
        "levels": decision_levels(decision),
        "dlts": decision_dlts(decision),
        "subjects": [] if sponsor_view else decision_subjects(decision, subjects_for(request.user, trial)),
        # What the next decision still waits for: by subject at the viewer's sites, counted otherwise.
        "open_items": [] if sponsor_view else open_items_for(request.user, trial, now=now, evidence=evidence),
        "open_count": len(evidence.open_items),
        # The PK available for the levels up to the decided one (aggregates, the same for every viewer).
        "pk": _decision_pk(decision),
        # BOIN and the CRM on the decision's own data, as information beside the rule (issue 12, point 4).
        "model_based": beside_the_rule(decision),
    }
    return render_form(request, "escalation/decision.html", context, status=422 if form.errors else 200)


def _decision_pk(decision):
    from pk.selectors import PARAMETERS, decision_pk

    level = decision.cohort.dose_level if decision.cohort_id else None
    levels = decision.trial.dose_levels.all()
    if level is not None:
        levels = levels.filter(rank__lte=level.rank)
    found = decision_pk(decision.trial, list(levels))
    if found is not None:
        found["parameters"] = [p for p in PARAMETERS if p[0] in ("cmax", "tmax", "auclast", "aucinf_obs",
                                                                  "half_life", "cl")]
    return found


def intermediate_level_new(request, code: str):
    trial = access_trial(request.user, code, roles=(Role.INVESTIGATOR,))
    form = IntermediateLevelForm(request.POST or None, trial=trial)
    if request.method == "POST" and form.is_valid():
        try:
            services.dose_level_add_intermediate(trial=trial, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("trials:detail", args=[trial.code]))
    return render_form(request, "escalation/intermediate_level.html", {"trial": trial, "form": form},
                       status=422 if form.errors else 200)
