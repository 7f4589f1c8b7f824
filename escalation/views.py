"""Escalation decisions: read them, and sign them (investigators)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from escalation import services
from escalation.forms import SignForm
from escalation.models import EscalationDecision
from trials.access import access_decision, roles_in
from trials.models import Role
from trialsite.forms import add_service_errors
from trialsite.views import render_form


def decision_detail(request, pk: int):
    decision = access_decision(request.user, pk)
    can_sign = (
        Role.INVESTIGATOR in roles_in(request.user, decision.trial)
        and decision.status == EscalationDecision.Status.PENDING
    )
    form = SignForm(request.POST or None)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied("Only an investigator of this trial can sign a pending decision.")
        if form.is_valid():
            try:
                services.decision_sign(decision=decision, user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                url = reverse("escalation:decision", args=[decision.pk])
                return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)
        decision.refresh_from_db()
    context = {
        "decision": decision,
        "trial": decision.trial,
        "signatures": decision.signatures.select_related("signer"),
        "form": form if can_sign else None,
        "subjects": decision.data.get("evidence", {}).get("subjects", []),
    }
    return render_form(request, "escalation/decision.html", context, status=422 if form.errors else 200)
