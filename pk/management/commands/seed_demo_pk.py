"""Demo PK data for ./dev up: LVGN6051 + anlotinib's first cohort at SITE-A with samples collected, shipped and
their lab results imported (pk/demo.py). Idempotent; not for production data."""

import pghistory
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pk.demo import TRIAL, seed
from trials.models import Site, Trial


class Command(BaseCommand):
    help = "Create demo subjects with PK, ADA and biomarker samples and results in LVGN6051 + anlotinib at SITE-A " \
           "(after seed_demo). Demo only."

    def add_arguments(self, parser):
        parser.add_argument("--site", default="SITE-A", help="Site code (default SITE-A).")

    def handle(self, *args, site, **options):
        User = get_user_model()
        try:
            trial = Trial.objects.get(code=TRIAL)
            site_row = Site.objects.get(code=site)
            user = User.objects.get(username="coordinator")
            pharmacokineticist = User.objects.get(username="pharmacokineticist")
        except (Trial.DoesNotExist, Site.DoesNotExist, User.DoesNotExist) as exc:
            raise CommandError(f"{exc} — run `manage.py load_protocols` and `manage.py seed_demo` first") from None
        with pghistory.context(source="seed_demo_pk"):
            created = seed(trial, site_row, user, pharmacokineticist)
        self.stdout.write(f"demo PK: {len(created)} subjects in {TRIAL} at {site}"
                          + ("" if created else " (already there)"))
