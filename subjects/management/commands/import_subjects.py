"""``manage.py import_subjects``: a site's existing subject list from a CSV file, checked whole first.

    import_subjects --trial CODE --site CODE --file PATH --user USERNAME [--dry-run] [--json]

The file's format and the rules are in docs/import.md (``trialrules.subject_import``). ``--dry-run`` prints the
report and imports nothing. Without it the file is checked again and imported only when it has no problem at all
(every row or none, one transaction); with any problem it prints the same report and imports nothing. The user
must be a coordinator of the site in the trial: the audit names that user and the reason "Imported from <file
name> (sha256 …)". Exit status 0 when the file is clean (and, without ``--dry-run``, imported), 1 when it has
problems or the import is refused. ``--json`` prints one JSON object instead of the text report (keys in
docs/import.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from subjects import importing
from trials.models import Site, Trial


class Command(BaseCommand):
    help = "Import a site's existing subjects from a CSV file (checked whole first; every row or none)."

    def add_arguments(self, parser):
        parser.add_argument("--trial", required=True, metavar="CODE")
        parser.add_argument("--site", required=True, metavar="CODE")
        parser.add_argument("--file", required=True, metavar="PATH", help="the CSV file (docs/import.md)")
        parser.add_argument("--user", required=True, metavar="USERNAME",
                            help="the coordinator of the site the import is recorded for")
        parser.add_argument("--dry-run", action="store_true", help="check and print the report; import nothing")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, **options):
        try:
            trial = Trial.objects.get(code=options["trial"])
        except Trial.DoesNotExist:
            raise CommandError(f"--trial {options['trial']}: no such trial") from None
        try:
            site = trial.sites.get(code=options["site"])
        except Site.DoesNotExist:
            raise CommandError(f"--site {options['site']}: not a site of {trial.code}") from None
        try:
            user = get_user_model().objects.get(username=options["user"], is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"--user {options['user']}: no such active user") from None
        if not importing.can_import(user, trial, site):
            raise CommandError(f"--user {user.username} is not a coordinator of {site.code} in {trial.code}")
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"--file {path}: {exc.strerror or exc}") from None

        checked = importing.check(trial=trial, site=site, file_name=path.name, content=content)
        imported: list = []
        refused = ""
        if checked.ok and not options["dry_run"]:
            try:
                imported = importing.subjects_import(user=user, trial=trial, site=site, file_name=path.name,
                                                     content=content)
            except importing.ImportRefused as exc:  # changed between the check and the import
                checked = importing.Checked(checked.file_name, checked.sha256, exc.report)
            except (ValidationError, PermissionDenied) as exc:
                refused = "; ".join(getattr(exc, "messages", None) or [str(exc)])
        ok = checked.ok and not refused
        self._print(options, trial, site, checked, imported, refused)
        if not ok:
            raise SystemExit(1)

    def _print(self, options, trial, site, checked, imported, refused) -> None:
        report = checked.report
        if options["json"]:
            self.stdout.write(json.dumps({
                "trial": trial.code, "site": site.code, "file": checked.file_name, "sha256": checked.sha256,
                "dry_run": bool(options["dry_run"]), "ok": checked.ok and not refused,
                "rows": report.data_rows, "good_rows": len(report.rows), "bad_rows": report.bad_rows,
                "problems": [p.as_dict() for p in report.problems], "summary": report.summary(),
                "imported": [s.code for s in imported], "refused": refused,
            }, indent=2))
            return
        self.stdout.write(f"{checked.file_name} (sha256 {checked.sha256}): {report.data_rows} row(s), "
                          f"{len(report.rows)} without problem, {len(report.problems)} problem(s)")
        for problem in report.problems:
            self.stdout.write(f"  {problem}")
        if report.rows:
            summary = report.summary()
            for key in ("status", "dose_level", "cohort"):
                counts = ", ".join(f"{name}: {n}" for name, n in sorted(summary[key].items()))
                self.stdout.write(f"  by {key.replace('_', ' ')}: {counts}")
        if refused:
            self.stderr.write(f"Refused: {refused}")
        elif not checked.ok:
            self.stderr.write("Nothing was imported: correct the file and run the command again.")
        elif imported:
            self.stdout.write(f"Imported {len(imported)} subject(s) into {trial.code} at {site.code}: "
                              f"{imported[0].code} … {imported[-1].code}")
        else:
            self.stdout.write("Dry run: the file is clean; nothing was imported.")
