"""The exports page of a trial: choose a format (and, for site staff, identifiable or de-identified),
request it, follow the jobs' progress (htmx polls the list while a job runs) and download the file."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse

from exports import services
from exports.models import ExportJob
from trials.access import access_trial
from trials.models import Site
from trialsite.views import redirect_after_form


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{'' if name == '__all__' else name + ': '}{m}" for name, msgs in exc.message_dict.items()
                for m in msgs]
    return list(exc.messages)


def _trial(request, code: str):
    trial = access_trial(request.user, code)
    modes = services.allowed_modes(request.user, trial)
    if not modes:
        raise PermissionDenied("Your role in this trial does not allow exports.")
    return trial, modes


def _jobs(request, trial):
    return list(ExportJob.objects.filter(trial=trial, requested_by=request.user)[:20])


def _context(request, trial, modes, **extra) -> dict:
    jobs = _jobs(request, trial)
    sites = services.export_sites(request.user, trial)
    return {"trial": trial, "jobs": jobs, "modes": modes, "formats": ExportJob.Format.choices,
            "running": any(j.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for j in jobs),
            "scope": None if sites is None else list(Site.objects.filter(pk__in=sites).order_by("code")),
            "dates": trial.get_export_dates_display(), **extra}


def trial_exports(request, code: str):
    trial, modes = _trial(request, code)
    errors, chosen = [], {"format": ExportJob.Format.CSV, "deidentified": True}
    if request.method == "POST":
        chosen = {"format": request.POST.get("format", ""),
                  "deidentified": request.POST.get("identity", "deidentified") != "identifiable"}
        try:
            job = services.export_request(user=request.user, trial=trial, **chosen)
        except ValidationError as exc:
            errors = _messages_of(exc)
        else:
            messages.success(request, f"Export {job.pk} requested: it is built in the background.")
            return redirect_after_form(request, reverse("exports:trial", args=[trial.code]))
    response = render(request, "exports/trial.html", _context(request, trial, modes, errors=errors, chosen=chosen))
    if errors:
        response.status_code = 422
    return response


def job_list(request, code: str):
    """The jobs' table alone (htmx polls it every two seconds while a job is queued or running)."""
    trial, modes = _trial(request, code)
    return render(request, "exports/_jobs.html", _context(request, trial, modes))


def download(request, pk: int):
    try:
        job = ExportJob.objects.select_related("trial").get(pk=pk, requested_by=request.user)
    except ExportJob.DoesNotExist:
        raise Http404("No such export") from None
    try:
        path = services.export_download(user=request.user, job=job)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from None
    content_type = "application/xml" if job.format == ExportJob.Format.ODM else "application/zip"
    return FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name, content_type=content_type)
