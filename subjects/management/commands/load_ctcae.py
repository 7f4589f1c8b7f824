"""(Re)load the CTCAE v5.0 terms from subjects/data/ctcae_v5.csv (idempotent; the migration does it too)."""

from django.core.management.base import BaseCommand

from subjects.ctcae import load
from subjects.models import CtcaeTerm


class Command(BaseCommand):
    help = "Load the CTCAE v5.0 term list shipped with the application."

    def handle(self, *args, **options):
        created = load(CtcaeTerm)
        self.stdout.write(f"CTCAE v5.0: {CtcaeTerm.objects.count()} terms ({created} submitted)")
