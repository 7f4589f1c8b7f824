"""Coordinator pages: enrol from screening, record doses, pre-dose assessments and adverse events;
the investigator's DLT adjudication and continuation exception; the subject and AE lists."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Min, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from escalation.intrapatient_views import subject_box as intrapatient_box
from escalation.selectors import current_cohort
from screening.models import ScreeningRecord
from subjects import dispensing, services
from subjects.dispensing import dispensed_drugs
from subjects.forms import (
    AdjudicationForm,
    AdverseEventFilter,
    AdverseEventForm,
    AssessmentForm,
    ContinuationForm,
    DispensingForm,
    DispensingReturnForm,
    DoseForm,
    EndOfTreatmentForm,
    EnrolForm,
    GateOverrideForm,
    OffStudyForm,
    SubjectFilter,
)
from subjects.listing import paginate
from subjects.models import AdverseEvent, Assessment, CtcaeTerm, DoseAdministration, OralDispensing, Subject
from trials.access import access_subject, access_trial, has_site_role, sites_for, subjects_for
from trials.models import SITE_ROLES, SITE_SCOPED_ROLES, Role
from trialsite.forms import add_service_errors, forbidden_character
from trialsite.middleware import refused_response
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
    cohorts = services.open_cohorts(trial)
    form = EnrolForm(request.POST or None, screenings=screenings, initial=initial, cohorts=cohorts)
    if request.method == "POST" and form.is_valid():
        try:
            subject = services.subject_enrol(trial=trial, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    status = 422 if form.errors else 200
    return render_form(request, "subjects/enrol.html",
                       {"trial": trial, "form": form, "cohort": current_cohort(trial),
                        "open_cohorts": cohorts.annotate(n=Count("subjects"))},
                       status=status)


def subject_list(request, code: str):
    trial = access_trial(request.user, code, roles=SITE_SCOPED_ROLES)  # the site's monitor reads it too
    form = SubjectFilter(request.GET or None)
    subjects = subjects_for(request.user, trial, SITE_SCOPED_ROLES).order_by("code")
    if form.is_valid():
        q, status = form.cleaned_data["q"].strip(), form.cleaned_data["status"]
        if q:
            subjects = subjects.filter(Q(code__icontains=q) | Q(initials__iexact=q))
        if status:
            subjects = subjects.filter(status=status)
    context = {"trial": trial, "form": form, **paginate(request, subjects),
               "can_import": sites_for(request.user, trial, roles=[Role.COORDINATOR]).exists()}
    return render_form(request, "subjects/list.html", context, partial="results")


def _of(subject, queryset) -> list:
    """The subject's records, each knowing its subject: the links and SDV badges of every row ask a
    record's owner, which must not be one more read per row."""
    records = list(queryset)
    for record in records:
        record.subject = subject
    return records


def subject_detail(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_SCOPED_ROLES)  # read-only: the monitor reads it
    # Void entries are listed too, struck through with their reason (they count nowhere).
    events = _of(subject, AdverseEvent.all_objects.filter(subject=subject).select_related("ctcae", "adjudicated_by"))
    first = subject.first_dose()
    for event in events:
        event._first_dose_cache = first.administered_at.date() if first else False
    # The doses derived from an oral drug's dispensing are shown with their dispensing record.
    doses = _of(subject, DoseAdministration.all_objects.filter(subject=subject, dispensing__isnull=True)
                .select_related("drug"))
    weight = services.latest_weight(subject)
    planned = services.planned_doses(subject, weight_kg=weight)
    return render(
        request,
        "subjects/detail.html",
        {
            "subject": subject,
            "trial": subject.trial,
            "doses": doses,
            "adverse_events": events,
            "assessments": _of(subject, Assessment.all_objects.filter(subject=subject)[:12]),
            "visits": subject.visits.all(),
            "planned": planned,
            "weight": weight,
            "screening": getattr(subject, "screening", None),
            "continuation": getattr(subject, "continuation", None),
            "signals": services.titration_signals(subject.trial, subject),
            "is_investigator": has_site_role(request.user, subject, Role.INVESTIGATOR),
            "may_write": has_site_role(request.user, subject),  # site staff (a monitor only reads)
            "dlt_window_end": subject.dlt_window_end(subject.trial.dlt_window_days)
            if subject.trial.dlt_window_days else None,
            **_gate_context(subject, request.user),
            **_status_context(subject, request.user),
            **_dispensing_context(subject, request.user),
            **intrapatient_box(subject, request.user),
        },
    )


def dose_new(request, pk: int):
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR])
    next_cycle = (subject.doses.order_by("-cycle").values_list("cycle", flat=True).first() or 0) + 1
    first_drug = subject.trial.drugs.exclude(pk__in=[d.pk for d in dispensed_drugs(subject.trial)]).first()
    if first_drug is None:  # every drug of the regimen is taken at home: recorded by dispensing
        return HttpResponseRedirect(reverse("subjects:detail", args=[subject.pk]) + "#dispensing")
    initial = {"cycle": next_cycle, "day": 1, "drug": first_drug}
    if first_drug.basis != "per_kg":
        # The level of the cycle being entered (a new level after an agreed intra-patient escalation).
        from escalation.intrapatient import level_for_cycle

        initial["dose"] = level_for_cycle(subject, next_cycle).doses.get(first_drug.name)
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
               **_gate_context(subject, request.user), **intrapatient_box(subject, request.user)}
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
    ctcae = _ctcae_term(form["term"].value())
    context = {"subject": subject, "form": form, "ctcae": ctcae,
               "grade_text": _grade_text(ctcae, form["grade"].value())}
    return render_form(request, "subjects/ae_form.html", context, status=status)


CTCAE_TERM_MAX = AdverseEvent._meta.get_field("term").max_length
CTCAE_GRADES = {str(g) for g in range(1, 6)}


def _ctcae_term(text) -> CtcaeTerm | None:
    """The CTCAE term typed (any case), or None; text no term can be (too long, control characters) is
    not looked up."""
    text = text.strip() if isinstance(text, str) else ""
    if not text or len(text) > CTCAE_TERM_MAX or forbidden_character(text):
        return None
    return CtcaeTerm.objects.filter(term__iexact=text).first()


def _grade_text(ctcae: CtcaeTerm | None, grade) -> str:
    """The definition of ``grade`` (as typed: only "1" to "5" are grades) for the term, or ""."""
    grade = str(grade or "").strip()
    return ctcae.grade_text(int(grade)) if ctcae and grade in CTCAE_GRADES else ""


def ctcae_search(request):
    """htmx: the CTCAE terms matching what is typed, as <option>s of the term input's datalist. The term
    input stops at the field's length (maxlength); a longer term sent by hand is answered 400."""
    name = "term" if "term" in request.GET else "q"
    q = (request.GET.get(name) or "").strip()
    if len(q) > CTCAE_TERM_MAX:
        return refused_response(request, f"A CTCAE term has at most {CTCAE_TERM_MAX} characters; this one has "
                                         f"{len(q):,}.", parameter=name)
    terms = []
    if len(q) >= 2 and not forbidden_character(q):
        starts = list(CtcaeTerm.objects.filter(term__istartswith=q)[:15])
        terms = starts + list(CtcaeTerm.objects.filter(term__icontains=q).exclude(pk__in=[t.pk for t in starts])
                              [:15 - len(starts)])
    return render(request, "subjects/_ctcae_options.html", {"terms": terms})


def ctcae_grade(request):
    """htmx: the definition of the chosen grade of the typed term."""
    term = _ctcae_term(request.GET.get("term"))
    grade = (request.GET.get("grade") or "").strip()
    grade = grade if grade in CTCAE_GRADES else ""
    return render(request, "subjects/_grade_definition.html",
                  {"ctcae": term, "grade_text": _grade_text(term, grade), "grade": grade})


def adverse_event_detail(request, pk: int):
    """One AE; the investigator adjudicates a proposed (or any in-window) DLT here."""
    # A void event is still shown (struck through, with its reason) but no longer adjudicated.
    event = get_object_or_404(AdverseEvent.all_objects.select_related("subject", "ctcae", "adjudicated_by"), pk=pk)
    subject = access_subject(request.user, event.subject_id, roles=SITE_SCOPED_ROLES)  # POST: investigators
    is_investigator = has_site_role(request.user, subject, Role.INVESTIGATOR)
    form = AdjudicationForm(request.POST or None)
    if request.method == "POST":
        if not is_investigator:
            raise PermissionDenied("Only an investigator at the subject's site adjudicates DLTs.")
        if event.voided_at is not None:
            form.add_error(None, "This adverse event is void: it is not adjudicated.")
        elif form.is_valid():
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
    trial = access_trial(request.user, code, roles=SITE_SCOPED_ROLES)
    form = AdverseEventFilter(request.GET or None)
    events = (AdverseEvent.objects.filter(subject__in=subjects_for(request.user, trial, SITE_SCOPED_ROLES))
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


# End of treatment and off study ---------------------------------------------------------------------------


def _status_context(subject, user, *, eot_form=None, off_form=None) -> dict:
    """The end-of-treatment and off-study forms of the subject page (site staff), and what is recorded."""
    from visits.models import FollowUp

    staff = has_site_role(user, subject)
    latest = subject.doses.order_by("-administered_at").first()
    return {
        "follow_up": FollowUp.objects.filter(subject=subject).first(),
        "can_end_treatment": staff and subject.status == Subject.Status.ON_TREATMENT,
        "can_go_off_study": staff and subject.status not in services.LEFT,
        "eot_form": eot_form or EndOfTreatmentForm(prefix="eot", initial={
            "last_dose": timezone.localtime(latest.administered_at).date() if latest else None}),
        "off_form": off_form or OffStudyForm(prefix="off", initial={"off_study_on": timezone.localdate()}),
    }


def subject_status(request, pk: int):
    """Site staff record the end of treatment (``action=end_treatment``: last dose, reason) or off study
    (``action=off_study``: date, reason), each with a reason from a fixed list and details."""
    subject = access_subject(request.user, pk)
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {"end_treatment": EndOfTreatmentForm(request.POST, prefix="eot") if action == "end_treatment" else None,
             "off_study": OffStudyForm(request.POST, prefix="off") if action == "off_study" else None}
    form = forms.get(action)
    if form is not None and form.is_valid():
        record = services.subject_end_treatment if action == "end_treatment" else services.subject_off_study
        try:
            record(subject=subject, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            # No fragment: the form is on the subject page itself, and htmx must load it again.
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]))
    context = {"subject": subject, "trial": subject.trial,
               **_status_context(subject, request.user, eot_form=forms["end_treatment"], off_form=forms["off_study"])}
    # htmx swaps only the form posted (a partial of the forms' template); without it, the whole page.
    template = "subjects/_status_forms.html" if request.htmx and form is not None else "subjects/status_form.html"
    return render_form(request, template, context, status=422 if form is not None and form.errors else 200,
                       partial=f"{action}_form" if form is not None else "")


# Oral drug dispensing ---------------------------------------------------------------------------------------


def _dispensing_context(subject, user) -> dict:
    """Each dispensing of the subject's oral drugs with the days taken (void ones struck through)."""
    from trialrules.dispensing import day_ranges

    drugs = dispensed_drugs(subject.trial)
    if not drugs:
        return {}
    records = list(OralDispensing.all_objects.filter(subject=subject).select_related("drug", "recorded_by")
                   .order_by("drug__order", "cycle", "pk"))
    taken: dict[int, list[int]] = {}
    for record_pk, day in DoseAdministration.objects.filter(dispensing__in=records).values_list("dispensing", "day"):
        taken.setdefault(record_pk, []).append(day)
    for record in records:
        record.taken_days = sorted(taken.get(record.pk, []))
        record.taken_text = day_ranges(record.taken_days)
        record.missed_text = day_ranges(record.missed_days) if record.missed_days else "none"
        record.expected = len(record.taken_days) * record.tablets_per_day
    return {"dispensed_drugs": drugs, "dispensings": records,
            "can_dispense": has_site_role(user, subject, Role.COORDINATOR)}


def _day1_time(subject, cycle: int):
    """Default time of the day-1 tablet: the cycle's day-1 dose of another drug, else now."""
    other = subject.doses.filter(cycle=cycle, day=1, dispensing__isnull=True).order_by("administered_at").first()
    return timezone.localtime(other.administered_at if other else timezone.now()).replace(second=0, microsecond=0)


def dispensing_new(request, pk: int, drug_pk: int):
    """A coordinator records one cycle's dispensing of an oral drug (the return now or later)."""
    subject = access_subject(request.user, pk, roles=[Role.COORDINATOR])
    drug = get_object_or_404(subject.trial.drugs, pk=drug_pk)
    if drug not in dispensed_drugs(subject.trial):
        raise Http404(f"{drug.name} is not recorded by dispensing.")
    spec = dispensing.dispensing_spec(subject, drug)
    last = OralDispensing.objects.filter(subject=subject, drug=drug).order_by("-cycle").first()
    cycle = (last.cycle + 1) if last else 1
    initial = {"cycle": cycle, "dispensed_on": timezone.localdate(), "first_dose_at": _day1_time(subject, cycle),
               "tablets_dispensed": spec.tablets_per_day * len(drug.administration_days)}
    form = DispensingForm(request.POST or None, drug=drug, spec=spec, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            dispensing.dispensing_record(subject=subject, drug=drug, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]) + "#dispensing")
    context = {"subject": subject, "trial": subject.trial, "drug": drug, "spec": spec, "form": form,
               "action": reverse("subjects:dispensing_new", args=[subject.pk, drug.pk])}
    return render_form(request, "subjects/dispensing_form.html", context, status=422 if form.errors else 200)


def dispensing_return(request, pk: int):
    """A coordinator records the tablets returned and the days missed for one dispensing."""
    record = get_object_or_404(OralDispensing.objects.select_related("drug"), pk=pk)
    subject = access_subject(request.user, record.subject_id, roles=[Role.COORDINATOR])
    form = DispensingReturnForm(request.POST or None, drug=record.drug,
                                initial={"returned_on": timezone.localdate(), "missed_days": record.missed_days})
    if request.method == "POST" and form.is_valid():
        try:
            dispensing.dispensing_return(dispensing=record, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_form(request, reverse("subjects:detail", args=[subject.pk]) + "#dispensing")
    context = {"subject": subject, "trial": subject.trial, "drug": record.drug, "record": record, "form": form,
               "spec": record, "action": reverse("subjects:dispensing_return", args=[record.pk])}
    return render_form(request, "subjects/dispensing_form.html", context, status=422 if form.errors else 200)
