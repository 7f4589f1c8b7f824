"""Source-data verification pages: the monitor's SDV progress per trial (per site and subject), a subject's
forms with their SDV status, and the two writes of a monitor (verify a field or a form, withdraw a
verification), each a POST answered with a redirect to the record's history page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring import selectors, services
from monitoring.models import SourceVerification
from records.registry import kind_for
from records.selectors import record_for
from trials.access import access_subject, access_trial
from trials.models import SITE_SCOPED_ROLES, Role
from trialsite.views import redirect_after_form


def _messages_of(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{'' if name == '__all__' else name + ': '}{m}"
                        for name, msgs in exc.message_dict.items() for m in msgs)
    return " ".join(exc.messages)


def progress(request, code: str):
    """The monitor's sites in the trial: forms verified / total, per site and per subject."""
    trial = access_trial(request.user, code, roles=(Role.MONITOR,))
    return render(request, "monitoring/progress.html", {
        "trial": trial, "sites": selectors.trial_progress(request.user, trial)})


def subject_sdv(request, pk: int):
    """A subject's forms (every registered record kind) with their SDV status, for the site's staff and
    monitor; each links to its history page, where the monitor verifies."""
    subject = access_subject(request.user, pk, roles=SITE_SCOPED_ROLES)
    row = selectors.subject_forms([subject])[subject.pk]
    return render(request, "monitoring/subject.html", {
        "subject": subject, "trial": subject.trial, "row": row,
        "is_monitor": selectors.is_monitor_of(request.user, subject)})


def _history(kind, record) -> str:
    return reverse("records:history", args=[kind.slug, record.pk]) + "#sdv"


@require_POST
def verify(request, kind: str, pk: int):
    """Verify a field (``field``) or, without one, the whole form of the record; a repeat is a no-op
    with a message saying it is already verified."""
    kind = kind_for(kind)
    if kind is None:
        raise Http404("No such kind of record")
    record = record_for(request.user, kind, pk, roles=SITE_SCOPED_ROLES)
    if not selectors.is_monitor_of(request.user, kind.owner(record)):
        raise PermissionDenied("Only the monitor of the record's site verifies source data.")
    field = request.POST.get("field", "")
    try:
        services.verify(user=request.user, kind=kind, record=record, field=field)
    except ValidationError as exc:
        text = _messages_of(exc)
        (messages.info if text.startswith("Already verified") else messages.error)(request, text)
    else:
        what = f"“{services.field_label(kind.model, field)}”" if field else "The whole form"
        messages.success(request, f"{what} of {record} verified against the source.")
    return redirect_after_form(request, _history(kind, record))


@require_POST
def withdraw(request, pk: int):
    verification = get_object_or_404(SourceVerification, pk=pk)
    kind = kind_for(verification.kind)
    if kind is None:
        raise Http404("No such kind of record")
    record = record_for(request.user, kind, verification.object_id, roles=SITE_SCOPED_ROLES)
    try:
        services.withdraw(user=request.user, verification=verification, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, _messages_of(exc))
    else:
        messages.success(request, "Verification withdrawn; the reason is kept with it.")
    return redirect_after_form(request, _history(kind, record))
