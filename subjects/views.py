"""Coordinator pages: enrol from screening, record doses, pre-dose assessments and adverse events;
the investigator's DLT adjudication and continuation exception; the subject and AE lists."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Min, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from escalation.selectors import current_cohort
from screening.models import ScreeningRecord
from subjects import services
from subjects.forms import (
    AdjudicationForm,
    AdverseEventFilter,
    AdverseEventForm,
    AssessmentForm,
    ContinuationForm,
    DoseForm,
    EnrolForm,
    GateOverrideForm,
    SubjectFilter,
)
from subjects.listing import paginate
from subjects.models import AdverseEvent, CtcaeTerm
from trials.access import access_subject, access_trial, has_site_role, sites_for, subjects_for
from trials.models import SITE_ROLES, Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


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
        "can_override": has_site_role(user, subject, Role.INVESTIGATOR),
    }


def subject_enrol(request, code: str):
    """Enrol a candidate from an eligible screening record into the open cohort."""
    trial = access_trial(request.user, code, roles=(Role.COORDINATOR,))
    sites = sites_for(request.user, trial, roles=[Role.COORDINATOR])
    screenings = ScreeningRecord.objects.filter(trial=trial, site__in=sites, status=ScreeningRecord.Status.ELIGIBLE,
                                                subject__isnull=True).order_by("number")
    initial = {"screening": request.GET.get("screening")}
    form = EnrolForm(request.POST or None, screenings=screenings, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            subject = services.subject_enrol(trial=trial, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/enrol.html",
                       {"trial": trial, "form": form, "cohort": current_cohort(trial)}, status=status)


def subject_list(request, code: str):
    trial = access_trial(request.user, code, roles=SITE_ROLES)
    form = SubjectFilter(request.GET or None)
    subjects = subjects_for(request.user, trial).order_by("code")
    if form.is_valid():
        q, status = form.cleaned_data["q"].strip(), form.cleaned_data["status"]
        if q:
            subjects = subjects.filter(Q(code__icontains=q) | Q(initials__iexact=q))
        if status:
            subjects = subjects.filter(status=status)
    context = {"trial": trial, "form": form, **paginate(request, subjects)}
    return render_form(request, "subjects/list.html", context, partial="results")


def subject_detail(request, pk: int):
    subject = access_subject(request.user, pk)
    events = list(subject.adverse_events.select_related("ctcae", "adjudicated_by"))
    first = subject.first_dose()
    for event in events:
        event._first_dose_cache = first.administered_at.date() if first else False
    weight = services.latest_weight(subject)
    planned = services.planned_doses(subject, weight_kg=weight)
    return render(
        request,
        "subjects/detail.html",
        {
            "subject": subject,
            "trial": subject.trial,
            "doses": subject.doses.select_related("drug"),
            "adverse_events": events,
            "assessments": subject.assessments.all()[:12],
            "visits": subject.visits.all(),
            "planned": planned,
            "weight": weight,
            "screening": getattr(subject, "screening", None),
            "continuation": getattr(subject, "continuation", None),
            "signals": services.titration_signals(subject.trial, subject),
            "is_investigator": has_site_role(request.user, subject, Role.INVESTIGATOR),
            "dlt_window_end": subject.dlt_window_end(subject.trial.dlt_window_days)
            if subject.trial.dlt_window_days else None,
            **_gate_context(subject, request.user),
        },
    )


def dose_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR])
    next_cycle = (subject.doses.order_by("-cycle").values_list("cycle", flat=True).first() or 0) + 1
    first_drug = subject.trial.drugs.first()
    initial = {"cycle": next_cycle, "day": 1, "drug": first_drug}
    if first_drug.basis != "per_kg":
        initial["dose"] = subject.dose_level.doses.get(first_drug.name)
    form = DoseForm(request.POST or None, subject=subject, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.dose_record(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    weight = services.latest_weight(subject)
    planned = services.planned_doses(subject, weight_kg=weight)
    context = {"subject": subject, "form": form, "planned": planned, "weight": weight,
               **_gate_context(subject, request.user)}
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
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/gate_override.html", {"subject": subject, "form": form, **context},
                       status=status)


def adverse_event_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR, Role.INVESTIGATOR])
    form = AdverseEventForm(request.POST or None, subject=subject)
    if request.method == "POST" and form.is_valid():
        try:
            event = services.adverse_event_record(subject=subject, user=request.user, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if event.dlt_status == AdverseEvent.DltStatus.PROPOSED:
                messages.warning(request, f"{event.term} grade {event.grade} meets the DLT criteria: proposed as a "
                                          "DLT for the investigator's adjudication.")
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    term = form["term"].value() or ""
    ctcae = CtcaeTerm.objects.filter(term__iexact=term.strip()).first() if term else None
    grade = form["grade"].value()
    context = {"subject": subject, "form": form, "ctcae": ctcae,
               "grade_text": ctcae.grade_text(int(grade)) if ctcae and str(grade).isdigit() else ""}
    return render_form(request, "subjects/ae_form.html", context, status=status)


def ctcae_search(request):
    """htmx: the CTCAE terms matching what is typed, as <option>s of the term input's datalist."""
    q = (request.GET.get("term") or request.GET.get("q") or "").strip()
    terms = []
    if len(q) >= 2:
        starts = list(CtcaeTerm.objects.filter(term__istartswith=q)[:15])
        terms = starts + list(CtcaeTerm.objects.filter(term__icontains=q).exclude(pk__in=[t.pk for t in starts])
                              [:15 - len(starts)])
    return render(request, "subjects/_ctcae_options.html", {"terms": terms})


def ctcae_grade(request):
    """htmx: the definition of the chosen grade of the typed term."""
    term = CtcaeTerm.objects.filter(term__iexact=(request.GET.get("term") or "").strip()).first()
    grade = request.GET.get("grade") or ""
    text = term.grade_text(int(grade)) if term and grade.isdigit() else ""
    return render(request, "subjects/_grade_definition.html", {"ctcae": term, "grade_text": text, "grade": grade})


def adverse_event_detail(request, pk: int):
    """One AE; the investigator adjudicates a proposed (or any in-window) DLT here."""
    event = get_object_or_404(AdverseEvent.objects.select_related("subject", "ctcae", "adjudicated_by"), pk=pk)
    subject = access_subject(request.user, event.subject_id)
    is_investigator = has_site_role(request.user, subject, Role.INVESTIGATOR)
    form = AdjudicationForm(request.POST or None)
    if request.method == "POST":
        if not is_investigator:
            raise PermissionDenied("Only an investigator at the subject's site adjudicates DLTs.")
        if form.is_valid():
            try:
                services.dlt_adjudicate(event=event, user=request.user,
                                        confirm=form.cleaned_data["decision"] == "confirm",
                                        comment=form.cleaned_data["comment"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_form(request, reverse("subjects:ae_detail", args=[event.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/ae_detail.html",
                       {"event": event, "subject": subject, "form": form, "is_investigator": is_investigator,
                        "dlt_criteria": services.meets_dlt_criteria(event)}, status=status)


def adverse_event_list(request, code: str):
    trial = access_trial(request.user, code, roles=SITE_ROLES)
    form = AdverseEventFilter(request.GET or None)
    events = (AdverseEvent.objects.filter(subject__in=subjects_for(request.user, trial))
              .select_related("subject").annotate(first_dose=Min("subject__doses__administered_at",
                                                       filter=Q(subject__doses__voided_at__isnull=True)))
              .order_by("-onset_date", "-pk"))
    if form.is_valid():
        data = form.cleaned_data
        if data["q"].strip():
            q = data["q"].strip()
            events = events.filter(Q(term__icontains=q) | Q(subject__code__icontains=q))
        if data["grade"]:
            events = events.filter(grade__gte=data["grade"])
        if data["serious"] == "yes":
            events = events.filter(serious=True)
        if data["dlt"]:
            events = events.filter(dlt_status=data["dlt"])
    context = {"trial": trial, "form": form, **paginate(request, events)}
    for event in context["page"]:
        event._first_dose_cache = event.first_dose.date() if event.first_dose else False
    return render_form(request, "subjects/ae_list.html", context, partial="results")


def assessment_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_ROLES)
    form = AssessmentForm(request.POST or None, initial={"assessed_on": timezone.localdate(),
                                                        "kind": request.GET.get("kind") or "vitals"})
    if request.method == "POST" and form.is_valid():
        try:
            services.assessment_record(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/assessment_form.html", {"subject": subject, "form": form}, status=status)


def continuation_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.INVESTIGATOR])
    form = ContinuationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.continuation_grant(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/continuation_form.html", {"subject": subject, "form": form},
                       status=status)
