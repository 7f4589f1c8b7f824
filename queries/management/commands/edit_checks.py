"""``manage.py edit_checks [--trial CODE] [--validate]``: run the edit checks on every saved record (a
failing rule raises one query per record, a passing one closes its live query), or only check the rules
file (queries/edit_checks.toml)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from trialrules.edit_checks import RulesError


class Command(BaseCommand):
    help = "Run the edit checks on the saved records (raise and close edit-check queries)."

    def add_arguments(self, parser):
        parser.add_argument("--trial", help="Only the records of this trial (its code).")
        parser.add_argument("--validate", action="store_true", help="Only check the rules file, and list its rules.")

    def handle(self, *args, trial=None, validate=False, **options):
        from queries import checks
        from trials.models import Trial

        try:
            rules = checks.read_rules()
        except RulesError as exc:
            raise CommandError(f"{checks.RULES_FILE.name}: {exc}") from None
        if validate:
            for rule in rules:
                self.stdout.write(f"{rule.code}: {rule.kind}.{rule.field} ({rule.type}) — {rule.message}")
            self.stdout.write(self.style.SUCCESS(f"{len(rules)} rules, all valid."))
            return
        selected = None
        if trial:
            selected = Trial.objects.filter(code=trial).first()
            if selected is None:
                raise CommandError(f"--trial: no trial {trial!r}.")
        result = checks.sweep(selected)
        self.stdout.write(self.style.SUCCESS(
            f"Edit checks{f' of {selected.code}' if selected else ''}: {result['checked']} records checked, "
            f"{result['raised']} queries raised, {result['closed']} closed."))
