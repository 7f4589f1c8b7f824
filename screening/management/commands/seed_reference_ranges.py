"""Demo upper limits of normal for SITE-A and SITE-B (SI units; idempotent). Called by seed_demo."""

from decimal import Decimal

import pghistory
from django.core.management.base import BaseCommand

from screening.models import SiteReferenceRange
from trials.models import Site

DEMO_ULNS = {
    "SITE-A": {"ast": ("40", "U/L"), "alt": ("40", "U/L"), "bilirubin": ("21", "µmol/L"),
               "creatinine": ("106", "µmol/L"), "aptt": ("40", "s"), "pt": ("13.5", "s")},
    "SITE-B": {"ast": ("35", "U/L"), "alt": ("45", "U/L"), "bilirubin": ("17.1", "µmol/L"),
               "creatinine": ("97", "µmol/L"), "aptt": ("38", "s"), "pt": ("14", "s")},
}


def seed_reference_ranges() -> int:
    count = 0
    for code, ranges in DEMO_ULNS.items():
        site = Site.objects.filter(code=code).first()
        if site is None:
            continue
        for analyte, (uln, unit) in ranges.items():
            SiteReferenceRange.objects.get_or_create(site=site, analyte=analyte,
                                                     defaults={"uln": Decimal(uln), "unit": unit})
            count += 1
    return count


class Command(BaseCommand):
    help = "Create the demo sites' upper limits of normal (not for production data)."

    def handle(self, *args, **options):
        with pghistory.context(source="seed_reference_ranges"):
            n = seed_reference_ranges()
        self.stdout.write(f"reference ranges: {n} site analytes")
