"""Requesting and running exports: who may export what, and the job that builds the file.

Who (docs/exports.md):

- the sponsor and the data manager (trial-wide roles): de-identified exports of the whole trial only;
- site staff (coordinator, investigator) and the monitor of a site: exports of the subjects of their own
  sites only (identifiable or de-identified): a site never receives another site's subjects, not even by
  code. The sites are the requester's at the time the job runs;
- anyone else (pharmacokineticist, administrator, no role): no export.

A job is built by :func:`export_run` (the Celery task ``exports.tasks.run_export``, or ``manage.py
export_trial`` synchronously), which reports its progress on the job, keeps the file in
``settings.EXPORTS_DIR`` and records its size and SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from exports.models import ExportJob
from trials.access import roles_in
from trials.models import SITE_SCOPED_ROLES, Membership, Role

log = logging.getLogger(__name__)

TRIAL_WIDE = (Role.SPONSOR, Role.DATA_MANAGER)
EXTENSIONS = {ExportJob.Format.CSV: "zip", ExportJob.Format.ODM: "xml", ExportJob.Format.SDTM: "zip"}


def export_sites(user, trial) -> list | None:
    """The sites whose subjects an export by ``user`` contains: None for all of them (a trial-wide role,
    de-identified), else the sites where the user is site staff or the monitor ([] when none)."""
    if roles_in(user, trial) & set(TRIAL_WIDE):
        return None
    return list(Membership.objects.filter(user=user, trial=trial, role__in=SITE_SCOPED_ROLES)
                .values_list("site_id", flat=True).distinct())


def allowed_modes(user, trial) -> list[bool]:
    """The ``deidentified`` values the user may request ([] when the user may not export this trial)."""
    roles = roles_in(user, trial)
    if roles & set(SITE_SCOPED_ROLES):
        return [True, False]
    if roles & set(TRIAL_WIDE):
        return [True]
    return []


def export_request(*, user, trial, format: str, deidentified: bool) -> ExportJob:
    """Queue an export of ``trial`` for ``user`` (PermissionDenied / ValidationError naming the field)."""
    if format not in ExportJob.Format.values:
        raise ValidationError({"format": f"Choose one of {', '.join(ExportJob.Format.values)} (not {format!r})."})
    modes = allowed_modes(user, trial)
    if not modes:
        raise PermissionDenied("Your role in this trial does not allow exports.")
    if deidentified not in modes:
        raise ValidationError({"deidentified": "Your role receives de-identified exports only (subject codes, "
                                               "no identity, dates as the trial's export settings say)."})
    with transaction.atomic():
        job = ExportJob.objects.create(trial=trial, requested_by=user, format=format, deidentified=deidentified,
                                       step="Queued")
        from outbox import enqueue

        enqueue("exports.tasks.run_export", job.pk)
    return job


def export_path(job: ExportJob) -> Path:
    return Path(settings.EXPORTS_DIR) / job.file_name


def _file_name(job: ExportJob) -> str:
    mode = "deidentified" if job.deidentified else "identifiable"
    return f"{job.trial.code}-{job.format}-{mode}-{job.pk}.{EXTENSIONS[job.format]}"


def build(job_or_trial, *, format: str, deidentified: bool, sites=None, progress=None) -> bytes:
    """The export's bytes (CSV: zip; ODM: XML; SDTM: zip of the datasets and define.xml), of the subjects of
    ``sites`` only when given (None: the whole trial)."""
    trial = job_or_trial
    if format == ExportJob.Format.CSV:
        from exports.csv_export import build_csv

        return build_csv(trial, deidentified=deidentified, sites=sites, progress=progress)
    if format == ExportJob.Format.ODM:
        from exports.odm import build_odm, validate

        content = build_odm(trial, deidentified=deidentified, sites=sites, progress=progress)
        if progress is not None:
            progress(96, "Validating against the ODM 1.3.2 schema")
        validate(content)
        return content
    from exports.sdtm import build_sdtm

    files = build_sdtm(trial, deidentified=deidentified, sites=sites, progress=progress)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def _update(job: ExportJob, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ExportJob.objects.filter(pk=job.pk).update(**fields)


def export_run(job: ExportJob) -> ExportJob:
    """Build ``job``'s file, with progress on the job (idempotent: a job done is left as it is; a job that
    was running when its worker died is run again)."""
    job = ExportJob.objects.select_related("trial", "requested_by").get(pk=job.pk)
    if job.status == ExportJob.Status.DONE:
        return job
    _update(job, status=ExportJob.Status.RUNNING, started_at=timezone.now(), progress=0, step="Starting",
            error="")
    last = {"percent": -1}

    def progress(percent: int, step: str) -> None:
        percent = max(0, min(99, int(percent)))
        if percent != last["percent"]:
            last["percent"] = percent
            _update(job, progress=percent, step=step[:200])

    partial = None
    try:
        if job.deidentified not in allowed_modes(job.requested_by, job.trial):
            raise PermissionDenied("The requester's role no longer allows this export.")
        sites = export_sites(job.requested_by, job.trial)
        content = build(job.trial, format=job.format, deidentified=job.deidentified, sites=sites,
                        progress=progress)
        name = _file_name(job)
        folder = Path(settings.EXPORTS_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.part"
        partial.write_bytes(content)
        partial.replace(folder / name)
        _update(job, status=ExportJob.Status.DONE, progress=100, step="Done", finished_at=timezone.now(),
                file_name=name, size=len(content), sha256=hashlib.sha256(content).hexdigest())
    except Exception as exc:  # the job says why; the worker's log has the traceback
        log.exception("export %s failed", job.pk)
        if partial is not None:
            partial.unlink(missing_ok=True)  # never a half-written file
        _update(job, status=ExportJob.Status.FAILED, finished_at=timezone.now(), step="Failed",
                error=f"{type(exc).__name__}: {exc}"[:2000])
    return job


def export_download(*, user, job: ExportJob) -> Path:
    """The file of ``user``'s finished job (only the requester downloads it; logged)."""
    if job.requested_by_id != user.pk:
        raise PermissionDenied("Only the person who requested an export downloads it.")
    if job.status != ExportJob.Status.DONE or not job.file_name:
        raise ValidationError("This export is not ready.")
    path = export_path(job)
    if not path.is_file():
        raise ValidationError("This export's file is no longer kept; request a new export.")
    log.info("export %s (%s, sha256 %s) downloaded by user %s", job.pk, job.file_name, job.sha256, user.pk)
    return path
