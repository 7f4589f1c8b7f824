"""Issue 13: an export is a background job. Requested through exports.services (the page and the API call it),
queued through the outbox as the Celery task exports.tasks.run_export, run: its progress goes up step by step
(the job's audit history records each update), it ends done with a file whose SHA-256 and size are the job's;
a build that fails ends failed with its error and leaves no file, not even a partial one. ``manage.py
export_trial`` builds the same files synchronously; its flags are a contract (docs/exports.md)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from lxml import etree

from exports.csv_export import read_csv_export
from exports.management.commands.export_trial import Command
from exports.models import ExportJob
from exports.odm import validate as validate_odm
from exports.services import export_download, export_path, export_request
from exports.tasks import run_export
from outbox.models import OutboxMessage
from records.selectors import event_model_for
from tests.conftest import member
from tests.exports.helpers import export_trial
from tests.exports.sdtm_data import read_xpt
from trials.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(site_a, site_b, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return export_trial(site_a, site_b)


def _queue(django_capture_on_commit_callbacks, **request) -> ExportJob:
    """Request an export as the page does: the task is recorded in the outbox in the request's transaction and
    published after commit (not executed here: the test runs the task itself, as the worker would)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = export_request(**request)
    assert len(callbacks) == 1
    assert OutboxMessage.objects.filter(task_name="exports.tasks.run_export", args=[job.pk]).exists()
    assert (job.status, job.progress, job.step) == (ExportJob.Status.QUEUED, 0, "Queued")
    return job


def _history(job: ExportJob) -> list[tuple[str, int, str]]:
    events = event_model_for(ExportJob).objects.filter(pgh_obj_id=job.pk).order_by("pgh_id")
    return [(e.status, e.progress, e.step) for e in events]


def _same_files(format: str, a: bytes, b: bytes) -> None:
    """Two builds of the same export hold the same data (their own creation time stamps aside)."""
    if format == "csv":
        first, second = read_csv_export(a), read_csv_export(b)
        assert first.domains == second.domains and first.domains["adverse_events"]
        for manifest in (first.manifest, second.manifest):
            manifest.pop("generated_at")
        assert first.manifest == second.manifest
    elif format == "odm":
        validate_odm(a)
        validate_odm(b)
        stamp = re.compile(rb'(FileOID|CreationDateTime|EffectiveDate)="[^"]*"')
        assert stamp.sub(b"", a) == stamp.sub(b"", b) and b"ItemGroupData" in a
    else:
        with zipfile.ZipFile(io.BytesIO(a)) as one, zipfile.ZipFile(io.BytesIO(b)) as two:
            assert one.namelist() == two.namelist() and "define.xml" in one.namelist()
            for name in one.namelist():
                if name.endswith(".xpt"):
                    (f1, m1), (f2, m2) = read_xpt(one.read(name)), read_xpt(two.read(name))
                    assert f1.equals(f2) and m1.column_labels == m2.column_labels, name
                else:
                    stamp = re.compile(rb'CreationDateTime="[^"]*"')
                    assert stamp.sub(b"", one.read(name)) == stamp.sub(b"", two.read(name))


def test_the_job_runs_in_the_background_with_progress_and_the_cli_builds_the_same(
        world, django_capture_on_commit_callbacks, tmp_path, settings):
    trial, sponsor = world["trial"], world["people"]["sponsor"]
    for format in ("csv", "odm", "sdtm"):
        job = _queue(django_capture_on_commit_callbacks, user=sponsor, trial=trial, format=format, deidentified=True)
        assert run_export.apply(args=[job.pk]).get() == ExportJob.Status.DONE
        job.refresh_from_db()
        assert (job.status, job.progress, job.step, job.error) == ("done", 100, "Done", "")
        history = _history(job)
        assert history[0][0] == "queued" and history[-1][0] == "done"
        percents = [p for _, p, _ in history]
        assert percents == sorted(percents), percents  # never goes back
        steps = [(p, step) for s, p, step in history if s == "running" and 0 < p < 100]
        assert len(steps) >= 3, history  # several steps reported on the way
        path = export_path(job)
        content = path.read_bytes()
        assert job.sha256 == hashlib.sha256(content).hexdigest() and job.size == len(content)
        assert path.name == f"{trial.code}-{format}-deidentified-{job.pk}.{'xml' if format == 'odm' else 'zip'}"
        assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
        assert export_download(user=sponsor, job=job) == path
        with pytest.raises(PermissionDenied):
            export_download(user=world["people"]["coordinator"], job=job)
        # Run again (a redelivered message): a done job is left as it is.
        assert run_export.apply(args=[job.pk]).get() == "done" and len(_history(job)) == len(history)
        # The command line builds the same export.
        out = tmp_path / f"cli-{format}"
        stdout = io.StringIO()
        call_command("export_trial", trial.code, "--format", format, "--deidentified", "--output", str(out),
                     stdout=stdout)
        cli = out.read_bytes()
        assert f"sha256 {hashlib.sha256(cli).hexdigest()}" in stdout.getvalue()
        assert f"{len(cli)} bytes" in stdout.getvalue() and "de-identified, dates study_day" in stdout.getvalue()
        _same_files(format, content, cli)
    # The identifiable CLI export (site staff's) differs from the sponsor's: initials are in it.
    out = tmp_path / "identifiable.zip"
    call_command("export_trial", trial.code, "--format", "csv", "--identifiable", "--output", str(out),
                 stdout=io.StringIO())
    subjects = read_csv_export(out.read_bytes()).domains["subjects"]
    assert {row["initials"] for row in subjects} == {s.initials for s in world["subjects"]}


def test_a_failing_build_ends_failed_with_its_error_and_no_file(world, django_capture_on_commit_callbacks,
                                                                monkeypatch, settings):
    trial, sponsor = world["trial"], world["people"]["sponsor"]
    import exports.sdtm

    real = exports.sdtm.write_xpt
    written = []

    def failing(dataset, deidentified):
        if len(written) == 3:
            raise RuntimeError(f"disk quota exceeded while writing {dataset.file_name}")
        written.append(dataset.name)
        return real(dataset, deidentified)

    monkeypatch.setattr(exports.sdtm, "write_xpt", failing)
    job = _queue(django_capture_on_commit_callbacks, user=sponsor, trial=trial, format="sdtm", deidentified=True)
    assert run_export.apply(args=[job.pk]).get() == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and job.step == "Failed" and job.finished_at is not None
    assert job.error == "RuntimeError: disk quota exceeded while writing ex.xpt"
    assert (job.file_name, job.size, job.sha256) == ("", None, "")
    assert max(p for _, p, _ in _history(job)) > 0  # it had got somewhere before failing
    folder = Path(settings.EXPORTS_DIR)
    assert not folder.exists() or list(folder.iterdir()) == []
    with pytest.raises(ValidationError):
        export_download(user=sponsor, job=job)

    # A failure while the file is being put in place leaves no partial file either.
    monkeypatch.setattr(exports.sdtm, "write_xpt", real)

    def no_rename(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", no_rename)
    job = _queue(django_capture_on_commit_callbacks, user=sponsor, trial=trial, format="csv", deidentified=True)
    assert run_export.apply(args=[job.pk]).get() == "failed"
    job.refresh_from_db()
    assert job.error == "OSError: [Errno 28] No space left on device"
    assert list(folder.iterdir()) == []


def test_site_staff_and_monitors_get_their_sites_sdtm(world, django_capture_on_commit_callbacks, site_a):
    """A site-scoped requester's SDTM export holds the subjects of their own sites only (as CSV and ODM)."""
    trial = world["trial"]
    monitor = member(trial, Role.MONITOR, site_a, "monitor-lvgn")
    other = world["subjects"][2]
    for user, deidentified in ((world["people"]["coordinator"], False), (monitor, True)):
        job = _queue(django_capture_on_commit_callbacks, user=user, trial=trial, format="sdtm",
                     deidentified=deidentified)
        assert run_export.apply(args=[job.pk]).get() == "done"
        job.refresh_from_db()
        with zipfile.ZipFile(export_path(job)) as archive:
            frame, _ = read_xpt(archive.read("dm.xpt"))
            assert set(frame["SITEID"]) == {"SITE-A"} and len(frame) == 2
            assert all(other.code.encode() not in archive.read(n) for n in archive.namelist())
            assert ("BRTHDTC" in frame.columns) is not deidentified
    # The sponsor: de-identified only, the whole trial.
    with pytest.raises(ValidationError) as refused:
        export_request(user=world["people"]["sponsor"], trial=trial, format="sdtm", deidentified=False)
    assert "deidentified" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        export_request(user=monitor, trial=trial, format="sas", deidentified=True)
    assert "format" in refused.value.message_dict


def test_from_the_browser_page(world, client, login, django_capture_on_commit_callbacks):
    trial, coordinator = world["trial"], world["people"]["coordinator"]
    login(coordinator)
    page = client.get(reverse("exports:trial", args=[trial.code]))
    assert page.status_code == 200 and b'name="format"' in page.content
    with django_capture_on_commit_callbacks(execute=False):
        posted = client.post(reverse("exports:trial", args=[trial.code]), {"format": "odm", "identity": "identifiable"})
    assert posted.status_code in (302, 303)
    job = ExportJob.objects.get(trial=trial, requested_by=coordinator)
    assert (job.format, job.deidentified) == ("odm", False)
    jobs = client.get(reverse("exports:jobs", args=[trial.code]))
    assert b'data-status="queued"' in jobs.content and b'hx-trigger="every 2s"' in jobs.content
    run_export.apply(args=[job.pk])
    jobs = client.get(reverse("exports:jobs", args=[trial.code]))
    assert b'data-status="done"' in jobs.content and b"hx-trigger" not in jobs.content
    download = client.get(reverse("exports:download", args=[job.pk]))
    content = b"".join(download.streaming_content)
    job.refresh_from_db()
    assert hashlib.sha256(content).hexdigest() == job.sha256
    doc = etree.fromstring(content)
    assert doc.get("ODMVersion") == "1.3.2"
    bad = client.post(reverse("exports:trial", args=[trial.code]), {"format": "pdf"})
    assert bad.status_code == 422 and b"format" in bad.content


def test_the_command_line_flags(world, tmp_path):
    parser = Command().create_parser("manage.py", "export_trial")
    own = {opt for action in parser._actions for opt in action.option_strings}
    django = {"-h", "--help", "--version", "-v", "--verbosity", "--settings", "--pythonpath", "--traceback",
              "--no-color", "--force-color", "--skip-checks"}
    assert own - django == {"--format", "--deidentified", "--identifiable", "--output"}
    assert [a.dest for a in parser._actions if not a.option_strings] == ["code"]
    code = world["trial"].code
    with pytest.raises(CommandError, match="CODE 'NOPE': no such trial"):
        call_command("export_trial", "NOPE", "--format", "csv", "--output", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="--format 'pdf'"):
        call_command("export_trial", code, "--format", "pdf", "--output", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_trial", code, "--format", "csv", "--output", str(tmp_path / "no" / "x.zip"))
    with pytest.raises(CommandError, match="is a folder"):
        call_command("export_trial", code, "--format", "csv", "--output", str(tmp_path))
    with pytest.raises(CommandError):
        call_command("export_trial", code, "--format", "csv", "--deidentified", "--identifiable",
                     "--output", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
    # The default is de-identified.
    call_command("export_trial", code, "--format", "csv", "--output", str(tmp_path / "d.zip"), stdout=io.StringIO())
    manifest = json.loads(zipfile.ZipFile(tmp_path / "d.zip").read("manifest.json"))
    assert manifest["deidentified"] is True and manifest["dates"] == "study_day"


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery_worker
def test_a_real_worker_builds_the_requested_export(people, bat6005, site_a, settings, tmp_path):
    """The whole path on the real Redis: the request commits, the outbox publishes, a Celery worker (a thread of
    this process, this session's private queue) runs the task, the job ends done with its file."""
    from celery.contrib.testing.worker import start_worker

    from tests.celery_helpers import wait_for
    from tests.test_decision_safety import dosed
    from trialsite.celery import app as celery_app

    settings.EXPORTS_DIR = tmp_path / "exports"
    dosed(bat6005, site_a, people["coordinator"], "WQ", 10)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        job = export_request(user=people["sponsor"], trial=bat6005, format="sdtm", deidentified=True)
        assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).status in ("done", "failed"), 60)
    job.refresh_from_db()
    assert (job.status, job.progress, job.error) == ("done", 100, "")
    assert hashlib.sha256(export_path(job).read_bytes()).hexdigest() == job.sha256
    percents = [p for _, p, _ in _history(job)]
    assert percents == sorted(percents) and len({p for p in percents if 0 < p < 100}) >= 3
    assert OutboxMessage.objects.get(task_name="exports.tasks.run_export", args=[job.pk]).acked_at is not None
