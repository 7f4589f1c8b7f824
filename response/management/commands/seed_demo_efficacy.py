"""Demo efficacy data for ./dev up: a dozen treated QL1706 subjects at the demo site A with scans and
outcomes (response/demo.py). Idempotent; not for production data."""

import pghistory
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from response.demo import seed
from trials.models import Site, Trial


class Command(BaseCommand):
    help = "Create demo subjects with tumour scans and outcomes in QL1706 at SITE-A (after seed_demo). Demo only."

    def add_arguments(self, parser):
        parser.add_argument("--trial", default="QL1706", help="Trial code (default QL1706).")
        parser.add_argument("--site", default="SITE-A", help="Site code (default SITE-A).")

    def handle(self, *args, trial, site, **options):
        try:
            trial_row = Trial.objects.get(code=trial)
            site_row = Site.objects.get(code=site)
            user = get_user_model().objects.get(username="coordinator")
        except (Trial.DoesNotExist, Site.DoesNotExist, get_user_model().DoesNotExist) as exc:
            raise CommandError(f"{exc} — run `manage.py load_protocols` and `manage.py seed_demo` first") from None
        with pghistory.context(source="seed_demo_efficacy"):
            created = seed(trial_row, site_row, user)
        self.stdout.write(f"demo efficacy: {len(created)} subjects in {trial} at {site}"
                          + ("" if created else " (already there)"))
