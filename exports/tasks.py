"""The export job (Celery): builds one job's file (exports.services.export_run), idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task
def run_export(job_pk: int) -> str:
    from exports.models import ExportJob
    from exports.services import export_run

    job = ExportJob.objects.filter(pk=job_pk).first()
    if job is None:
        return "no such job"
    return export_run(job).status
