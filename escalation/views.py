"""Escalation decisions: read them, sign them; add an intermediate dose level (investigators)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from escalation import services
from escalation.forms import IntermediateLevelForm, SignForm
from escalation.models import EscalationDecision
from trials.access import access_decision, access_trial, roles_in
from trials.models import Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def decision_detail(request, pk: int):
    decision = access_decision(request.user, pk)
    roles = roles_in(request.user, decision.trial)
    as_sponsor = decision.status == EscalationDecision.Status.CONCURRENCE and Role.SPONSOR in roles
    can_sign = as_sponsor or (
        decision.status == EscalationDecision.Status.PENDING and Role.INVESTIGATOR in roles
    )
    form = SignForm(request.POST or None, decision=decision, as_sponsor=as_sponsor)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied("Your role cannot sign this decision now.")
        if form.is_valid():
            try:
                services.decision_sign(decision=decision, user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_form(request, reverse("escalation:decision", args=[decision.pk]))
        decision.refresh_from_db()
    context = {
        "decision": decision,
        "trial": decision.trial,
        "signatures": decision.signatures.select_related("signer"),
        "form": form if can_sign else None,
        "subjects": decision.data.get("evidence", {}).get("subjects", []),
    }
    return render_form(request, "escalation/decision.html", context, status=422 if form.errors else 200)


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
