"""Pages of intra-patient dose escalation (DOMAIN.md rule 6): a subject's checks and the request form, the
agreement with its signatures and the other party's form, the trial's list, and the box on the subject page.

Who sees what: investigators of the subject's site and sponsors of the trial ask and sign; the site's
coordinators may read an agreement. A sponsor never sees a subject record: these pages name the subject by
its de-identified code only (no initials, no date of birth, no date of a subject), for every viewer."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from escalation import intrapatient
from escalation.intrapatient_forms import IntraPatientRequestForm, IntraPatientSignForm
from escalation.models import IntraPatientEscalation
from subjects.models import Subject
from trials.access import access_trial, at_staff_sites, is_sponsor_only, roles_in
from trials.models import Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def _subject(user, pk: int) -> Subject:
    try:
        return intrapatient.visible_subjects(user).get(pk=pk)
    except Subject.DoesNotExist:
        raise Http404("No such subject") from None


def _agreement(user, pk: int) -> IntraPatientEscalation:
    try:
        return IntraPatientEscalation.objects.select_related(
            "subject__trial", "subject__site", "subject__dose_level", "from_level", "to_level", "created_by",
        ).get(pk=pk, subject__in=intrapatient.visible_subjects(user))
    except IntraPatientEscalation.DoesNotExist:
        raise Http404("No such intra-patient escalation") from None


def _base_context(user, trial) -> dict:
    return {"trial": trial, "sponsor_view": is_sponsor_only(user, trial)}


def intrapatient_request(request, pk: int):
    """A subject's checks for a move to a higher level, and the request form (investigators of the site,
    sponsors of the trial)."""
    subject = _subject(request.user, pk)
    trial = subject.trial
    party = intrapatient.party_of(request.user, subject)
    if party is None:
        raise PermissionDenied("Only an investigator of the subject's site or a sponsor of the trial can ask for an "
                               "intra-patient dose escalation.")
    allowed = intrapatient.allows_intrapatient(trial)
    pending = subject.dose_escalations.filter(status=IntraPatientEscalation.Status.PENDING).first()
    form = IntraPatientRequestForm(request.POST or None, trial=trial, signer=request.user)
    if not request.POST:
        higher = intrapatient.higher_levels(subject).first() if allowed else None
        chosen = request.GET.get("to_level")
        form.initial["to_level"] = chosen if chosen and chosen.isascii() and chosen.isdigit() else (
            higher.pk if higher else None)
    if request.method == "POST":
        if not allowed:
            form.add_error(None, intrapatient.NOT_ALLOWED.format(code=trial.code))
        elif form.is_valid():
            try:
                agreement = intrapatient.intrapatient_request(
                    subject=subject, user=request.user, request=request, **form.signer_credentials(),
                    **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_form(request, reverse("escalation:intrapatient_detail", args=[agreement.pk]))
    checks, to_level = [], None
    if allowed:
        to_level = _chosen_level(form, trial)
        if to_level is not None:
            checks = intrapatient.escalation_checks(subject, to_level, now=timezone.now())
    context = {
        **_base_context(request.user, trial),
        "subject": subject,
        "party": party,
        "allowed": allowed,
        "min_cycles": intrapatient.min_cycles_for(trial),
        "current_level": intrapatient.current_level(subject),
        "next_cycle": intrapatient.next_cycle(subject),
        "cycles": intrapatient.dosed_cycles(subject),
        "to_level": to_level,
        "checks": checks,
        "higher_levels": intrapatient.higher_levels(subject) if allowed else [],
        "pending": pending,
        "history": subject.dose_escalations.select_related("from_level", "to_level").order_by("-created_at"),
        # A second request (a double submit) is refused on the form, shown with its message.
        "form": form if allowed and (pending is None or form.errors) else None,
    }
    return render_form(request, "escalation/intrapatient_request.html", context, status=422 if form.errors else 200)


def _chosen_level(form, trial):
    """The level whose checks are shown: the one typed or chosen, when it is a level of this trial."""
    value = form["to_level"].value()
    if not value or not str(value).isascii() or not str(value).isdigit() or len(str(value)) > 18:
        return None
    return trial.dose_levels.filter(pk=int(value)).first()


def intrapatient_detail(request, pk: int):
    """An agreement: what was asked, the checks as they stood, its signatures, and the other party's form."""
    agreement = _agreement(request.user, pk)
    subject, trial = agreement.subject, agreement.subject.trial
    can_sign = intrapatient.can_sign(request.user, agreement)
    form = IntraPatientSignForm(request.POST or None, signer=request.user)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied("Your role cannot sign this intra-patient escalation now.")
        if form.is_valid():
            try:
                intrapatient.intrapatient_sign(agreement=agreement, user=request.user, request=request,
                                               **form.signer_credentials(), **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_form(request, reverse("escalation:intrapatient_detail", args=[agreement.pk]))
        agreement.refresh_from_db()
        can_sign = intrapatient.can_sign(request.user, agreement)
    recorded = [intrapatient.Check(**c) for c in agreement.data.get("checks", [])]
    context = {
        **_base_context(request.user, trial),
        "agreement": agreement,
        "subject": subject,
        "checks": [*recorded, intrapatient._agreement_check(agreement)],
        "signatures": agreement.signatures.select_related("signer"),
        "awaiting": intrapatient.other_party(agreement),
        "form": form if can_sign else None,
    }
    return render_form(request, "escalation/intrapatient_detail.html", context, status=422 if form.errors else 200)


def intrapatient_list(request, code: str):
    """The trial's intra-patient escalations (by subject code), and the subjects one may be asked for."""
    trial = access_trial(request.user, code, roles=(Role.INVESTIGATOR, Role.SPONSOR))
    subjects = intrapatient.visible_subjects(request.user).filter(trial=trial)
    if Role.SPONSOR not in roles_in(request.user, trial):
        subjects = subjects.filter(at_staff_sites(request.user, [Role.INVESTIGATOR], trial))
    subjects = subjects.order_by("code")
    context = {
        **_base_context(request.user, trial),
        "allowed": intrapatient.allows_intrapatient(trial),
        "min_cycles": intrapatient.min_cycles_for(trial),
        "agreements": IntraPatientEscalation.objects.filter(subject__in=subjects)
        .select_related("subject", "from_level", "to_level").order_by("-created_at"),
        "subjects": [{"subject": s, "level": intrapatient.current_level(s), "next_cycle": intrapatient.next_cycle(s)}
                     for s in subjects],
    }
    return render_form(request, "escalation/intrapatient_list.html", context)


def subject_box(subject: Subject, user) -> dict:
    """Context of the box on the subject page: the level of the next cycle, the agreement awaiting a
    signature, and the link to the request page for investigators of the site and sponsors (when the
    protocol allows intra-patient escalation)."""
    if not intrapatient.allows_intrapatient(subject.trial):
        return {"intrapatient": None}
    cycle = intrapatient.next_cycle(subject)
    return {"intrapatient": {
        "next_cycle": cycle,
        "level": intrapatient.level_for_cycle(subject, cycle),
        "allowed": intrapatient.allows_intrapatient(subject.trial),
        "can_ask": intrapatient.party_of(user, subject) is not None,
        "pending": subject.dose_escalations.filter(status=IntraPatientEscalation.Status.PENDING).first(),
        "agreed": subject.dose_escalations.filter(status=IntraPatientEscalation.Status.AGREED)
        .select_related("to_level").order_by("from_cycle"),
    }}
