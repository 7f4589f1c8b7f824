"""``manage.py export_trial CODE --format csv|odm|sdtm [--deidentified|--identifiable] --output PATH``: build
one export synchronously (the same builders as the background job) and print a one-line summary."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from exports.models import ExportJob
from exports.services import build
from trials.models import Trial


class Command(BaseCommand):
    help = "Export one trial's data: CSV (zip, one file per domain), CDISC ODM 1.3.2 XML, or SDTM + Define-XML."

    def add_arguments(self, parser):
        parser.add_argument("code", help="The trial's code, e.g. LVGN6051-ANLOTINIB.")
        parser.add_argument("--format", required=True, help="csv, odm or sdtm.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--deidentified",
            dest="deidentified",
            action="store_true",
            default=True,
            help="Subject codes only, dates as the trial's export setting says (the default).",
        )
        mode.add_argument(
            "--identifiable",
            dest="deidentified",
            action="store_false",
            help="Initials, dates of birth, calendar dates and staff names as recorded.",
        )
        parser.add_argument("--output", required=True, help="The file to write (its folder must exist).")

    def handle(self, *args, code, format, deidentified, output, **options):
        try:
            trial = Trial.objects.get(code=code)
        except Trial.DoesNotExist:
            known = ", ".join(Trial.objects.values_list("code", flat=True)) or "none loaded"
            raise CommandError(f"CODE {code!r}: no such trial (known: {known})") from None
        if format not in ExportJob.Format.values:
            raise CommandError(f"--format {format!r}: choose one of {', '.join(ExportJob.Format.values)}")
        path = Path(output)
        if path.is_dir():
            raise CommandError(f"--output {output}: is a folder; give a file name")
        if not path.parent.is_dir():
            raise CommandError(f"--output {output}: the folder {path.parent} does not exist")
        try:
            content = build(trial, format=format, deidentified=deidentified)
        except ValueError as exc:
            raise CommandError(f"--format {format}: {exc}") from exc
        path.write_bytes(content)
        mode = "de-identified" if deidentified else "identifiable"
        self.stdout.write(
            f"{trial.code}: {format} export ({mode}, dates {trial.export_dates if deidentified else 'as recorded'}) "
            f"written to {path}, {len(content)} bytes, sha256 {hashlib.sha256(content).hexdigest()}"
        )
