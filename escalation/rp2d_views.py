"""The RP2D page: the data by dose level, the declaration with its two signatures, and the trial's parts."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from escalation import rp2d
from escalation.forms import Rp2dForm, Rp2dSignForm
from escalation.selectors import part_rows
from trials.access import access_trial
from trials.models import Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form

VIEWERS = (Role.COORDINATOR, Role.INVESTIGATOR, Role.SPONSOR, Role.PHARMACOKINETICIST)


def _put_errors(form, exc: ValidationError, field_for=None) -> None:
    if hasattr(exc, "error_dict"):
        for key, errors in exc.error_dict.items():
            name = field_for(key) if field_for else (key if key in form.fields else None)
            form.add_error(name, errors)
    else:
        add_service_errors(form, exc)


def rp2d_page(request, code: str):
    """Everyone of the trial but the administrator reads it (aggregates by level, no subject identifiers); the
    sponsor and the principal investigator propose and co-sign."""
    trial = access_trial(request.user, code, roles=VIEWERS)
    now = timezone.now()
    role = rp2d.signer_role(request.user, trial)
    standing = rp2d.standing_declaration(trial)
    pending = standing if standing is not None and standing.status == standing.Status.PENDING else None
    signatures = list(pending.signatures.all()) if pending else []
    # The data by level are computed by the services that sign, and for the page only when it is shown.
    allowed = rp2d.allowed_levels(trial)
    can_declare = bool(role and standing is None and allowed.exists())
    can_sign = bool(role and pending and all(s.role != role and s.signer_id != request.user.pk for s in signatures))
    declare_form = Rp2dForm(request.POST if request.POST.get("action") == "declare" else None, allowed=allowed,
                            chosen_parts=rp2d.chosen_parts(trial), signer=request.user,
                            initial={"dose_level": allowed.first()})
    sign_form = Rp2dSignForm(request.POST if request.POST.get("action") == "sign" else None, signer=request.user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "declare":
            if not can_declare:
                raise PermissionDenied("You cannot propose an RP2D for this trial now.")
            if declare_form.is_valid():
                data = declare_form.cleaned_data
                try:
                    rp2d.rp2d_declare(trial=trial, user=request.user, request=request,
                                      **declare_form.signer_credentials(), dose_level=data["dose_level"],
                                      rationale=data["rationale"], cohorts=declare_form.chosen_cohorts(), now=now)
                except ValidationError as exc:
                    _put_errors(declare_form, exc, declare_form.field_for)
                else:
                    return redirect_after_form(request, reverse("escalation:rp2d", args=[trial.code]))
        elif action == "sign":
            if not can_sign:
                raise PermissionDenied("Your signature is not the one this declaration waits for.")
            if sign_form.is_valid():
                try:
                    rp2d.rp2d_sign(declaration=pending, user=request.user, request=request,
                                   **sign_form.signer_credentials(), meaning=sign_form.cleaned_data["meaning"],
                                   comment=sign_form.cleaned_data["comment"], now=now)
                except ValidationError as exc:
                    _put_errors(sign_form, exc)
                else:
                    return redirect_after_form(request, reverse("escalation:rp2d", args=[trial.code]))
        else:
            raise PermissionDenied("Unknown action.")
        standing = rp2d.standing_declaration(trial)
    errors = declare_form.errors or sign_form.errors
    context = {
        "trial": trial, "evidence": rp2d.rp2d_evidence(trial, now=now), "role": role, "standing": standing,
        "declarations": trial.rp2d_declarations.select_related("dose_level", "created_by")
        .prefetch_related("signatures"),
        "declare_form": declare_form if can_declare else None, "sign_form": sign_form if can_sign else None,
        "parts": part_rows(trial),
    }
    return render_form(request, "escalation/rp2d.html", context, status=422 if errors else 200, partial=None)
