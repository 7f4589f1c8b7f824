"""Sample and PK pages: a subject's samples (collect, miss, labels), a trial's shipments and results import, its
PK overview (NCA table, per-level summaries, dose proportionality, pictures; a sponsor sees it de-identified) and
the pharmacokineticist's λz choice. Thin: access through ``trials.access`` and ``pk.selectors``, writes through
``pk.services``."""

from __future__ import annotations

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from pk import selectors, services
from pk.forms import CollectForm, ImportForm, LambdaZForm, MissedForm, ShipmentForm, hours_value
from pk.models import LabImport, Sample, Shipment
from trials.access import access_subject, access_trial, has_site_role, roles_in, sites_for, subjects_for
from trials.models import SITE_ROLES, SITE_SCOPED_ROLES
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form


def _subject_page(request, subject, *, forms=None, status=200):
    samples = selectors.subject_samples(subject)
    now = timezone.now()
    can_record = has_site_role(request.user, subject, SITE_ROLES)
    forms = forms or {}
    rows = []
    for s in samples:
        state = s.state(now)
        row = {"sample": s, "state": state, "results": list(s.results.all())}
        if can_record and s.status == Sample.Status.PLANNED:
            row["collect"] = forms.get(("collect", s.pk)) or CollectForm(prefix=f"s{s.pk}")
            row["missed"] = forms.get(("missed", s.pk)) or MissedForm(prefix=f"m{s.pk}")
        rows.append(row)
    return TemplateResponse(request, "pk/subject.html", {
        "subject": subject, "trial": subject.trial, "rows": rows, "can_record": can_record,
        "schedule": services.schedule_for(subject.trial), "now": now}, status=status)


def subject_samples(request, pk: int):
    subject = access_subject(request.user, pk, roles=SITE_SCOPED_ROLES)  # read-only: the monitor reads it
    return _subject_page(request, subject)


def _sample(request, pk: int) -> Sample:
    try:
        sample = Sample.objects.select_related("subject__trial", "subject__site", "dose").get(
            pk=pk, subject__in=subjects_for(request.user).values("pk"))
    except Sample.DoesNotExist:
        raise Http404("No such sample") from None
    return sample


def _record(request, pk: int, form_class, prefix: str, write, done: str):
    """A sample's collected / not-taken form: the service's refusal on the form (422), else back to the list."""
    sample = _sample(request, pk)
    form = form_class(request.POST, prefix=f"{prefix}{sample.pk}")
    if form.is_valid():
        try:
            write(sample, form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{sample.code} recorded {done}.")
            return redirect_after_form(request, reverse("pk:subject", args=[sample.subject_id]) + f"#sample-{pk}")
    for name in form.errors:
        if name in form.fields:  # the refused field in view and focused, however far down the list its row is
            form.fields[name].widget.attrs["autofocus"] = True
            break
    key = "collect" if prefix == "s" else "missed"
    return _subject_page(request, sample.subject, forms={(key, sample.pk): form}, status=422)


@require_POST
def collect(request, pk: int):
    return _record(request, pk, CollectForm, "s", lambda sample, data: services.sample_collect(
        sample=sample, user=request.user, collected_at=data["collected_at"], comment=data["comment"]), "collected")


@require_POST
def missed(request, pk: int):
    return _record(request, pk, MissedForm, "m", lambda sample, data: services.sample_missed(
        sample=sample, user=request.user, reason=data["missed_reason"]), "missed")


def labels(request, pk: int):
    """Printable tube labels of the subject's samples not yet collected (or all with ?all=1): sample ID as text
    and as a QR code, trial, subject code, time point, nominal time."""
    subject = access_subject(request.user, pk)
    samples = selectors.subject_samples(subject)
    if request.GET.get("all") != "1":
        samples = [s for s in samples if s.status == Sample.Status.PLANNED]
    items = [{"sample": s, "qr": segno.make(s.sample_id, error="m").svg_inline(scale=2, border=1,
                                                                                  omitsize=False)}
             for s in samples]
    return TemplateResponse(request, "pk/labels.html", {"subject": subject, "trial": subject.trial, "items": items})


def overview(request, code: str):
    trial = access_trial(request.user, code)
    schedule = services.schedule_for(trial)
    if schedule is None:
        raise Http404(f"{trial.code} has no PK sampling schedule")
    rows, deidentified = selectors.nca_rows(request.user, trial)
    others = selectors.other_results(request.user, trial)
    pk_analyte = next((a for a in schedule.analytes if a.kind == "pk"), None)
    unit = pk_analyte.unit if pk_analyte else ""
    figures = selectors.figures(request.user, trial, rows, others, conc_unit=unit)
    return TemplateResponse(request, "pk/overview.html", {
        "trial": trial, "schedule": schedule, "rows": rows, "deidentified": deidentified,
        "summaries": selectors.level_summaries(rows), "proportionality": selectors.dose_proportionality(rows),
        "others": others, "figures": figures, "conc_unit": unit, "options": selectors.nca_options(trial),
        "parameters": selectors.PARAMETERS,
        "can_choose": services.can_choose_lambda_z(request.user, trial),
        "can_import": services.can_import(request.user, trial) and not deidentified,
        "is_staff_here": bool(roles_in(request.user, trial) & set(SITE_ROLES)),
        "imports": LabImport.objects.filter(trial=trial)[:10] if not deidentified else [],
    })


def shipments(request, code: str):
    trial = access_trial(request.user, code, roles=SITE_ROLES)
    sites = list(sites_for(request.user, trial).distinct())
    waiting = list(Sample.objects.filter(subject__trial=trial, subject__site__in=sites, status="collected",
                                         shipment__isnull=True).select_related("subject__site")
                   .order_by("subject__site", "collected_at"))
    site_id = request.POST.get("site") or request.GET.get("site") or (str(sites[0].pk) if sites else "")
    site = next((s for s in sites if str(s.pk) == site_id), None)
    choices = [s for s in waiting if site and s.subject.site_id == site.pk]
    form = ShipmentForm(request.POST or None, samples=choices,
                        initial={"shipped_at": timezone.localtime().replace(second=0, microsecond=0)})
    status = 200
    if request.method == "POST":
        if site is None:
            raise PermissionDenied("Choose one of your sites.")
        if form.is_valid():
            chosen = [s for s in choices if str(s.pk) in form.cleaned_data["samples"]]
            try:
                shipment = services.shipment_create(
                    user=request.user, trial=trial, site=site, samples=chosen, lab=form.cleaned_data["lab"],
                    shipped_at=form.cleaned_data["shipped_at"], temperature=form.cleaned_data["temperature"],
                    tracking=form.cleaned_data["tracking"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Shipment {shipment.pk}: {len(chosen)} samples to {shipment.lab}.")
                return redirect(reverse("pk:shipment", args=[shipment.pk]))
        status = 422
    sent = Shipment.objects.filter(trial=trial, site__in=sites).select_related("site", "shipped_by")[:50]
    return TemplateResponse(request, "pk/shipments.html", {
        "trial": trial, "sites": sites, "site": site, "waiting": waiting, "form": form, "shipments": sent},
        status=status)


def shipment(request, pk: int):
    try:
        box = Shipment.objects.select_related("trial", "site", "shipped_by").get(pk=pk)
    except Shipment.DoesNotExist:
        raise Http404("No such shipment") from None
    if box.site not in sites_for(request.user, box.trial):
        raise Http404("No such shipment")
    samples = box.samples.select_related("subject").order_by("subject__code", "nominal_at", "code")
    return TemplateResponse(request, "pk/shipment.html", {"shipment": box, "trial": box.trial, "samples": samples})


def results_import(request, code: str):
    trial = access_trial(request.user, code)
    if not services.can_import(request.user, trial):
        raise PermissionDenied("Only the trial's pharmacokineticists and the site coordinators import results.")
    form = ImportForm(request.POST or None, request.FILES or None)
    report, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = services.results_import(user=request.user, trial=trial, file_name=upload.name,
                                                content=upload.read(),
                                                samples=selectors.samples_in_scope(request.user, trial))
            except services.ImportRefused as exc:
                report = exc.report
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"{batch.rows} results imported from {batch.file_name}.")
                return redirect(reverse("pk:overview", args=[trial.code]))
        status = 422
    return TemplateResponse(request, "pk/import.html", {"trial": trial, "form": form, "report": report},
                            status=status)


def lambda_z(request, pk: int, cycle: int):
    subject = selectors.profile_subject(request.user, pk)
    analyte = selectors.pk_analyte(subject.trial)
    profile = selectors.profile_for(subject, cycle, analyte) if analyte else None
    if profile is None:
        raise Http404("No concentrations for this cycle")
    can_choose = services.can_choose_lambda_z(request.user, subject.trial)
    # Only measurable points can be in the log-linear fit (a BLQ or 0 cannot).
    points = [(s.time, f"{s.conc:g}") for s in profile.samples if s.conc]
    form = LambdaZForm(request.POST or None, times=points,
                       initial={"times": [hours_value(t) for t in profile.chosen]})
    status = 200
    if request.method == "POST":
        if not can_choose:
            raise PermissionDenied("Only the trial's pharmacokineticists choose the λz points.")
        if form.is_valid():
            try:
                services.lambda_z_choose(user=request.user, subject=subject, cycle=cycle, analyte=analyte,
                                         times=[float(t) for t in form.cleaned_data["times"]],
                                         reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"λz of {subject.code} cycle {cycle} saved.")
                return redirect(reverse("pk:overview", args=[subject.trial.code]) + f"#profile-{subject.pk}-{cycle}")
        status = 422
    result = profile.analyse()
    automatic = profile.automatic() if profile.chosen else result
    spec = selectors.lambda_z_figure(profile, result)
    return TemplateResponse(request, "pk/lambda_z.html", {
        "subject": subject, "trial": subject.trial, "cycle": cycle, "profile": profile, "result": result,
        "automatic": automatic, "form": form, "can_choose": can_choose, "spec": spec}, status=status)
