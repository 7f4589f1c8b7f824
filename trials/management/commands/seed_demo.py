"""Create the demo sites and one user per role in every loaded trial (idempotent)."""

import pghistory
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from trials.models import Membership, Role, Site, Trial
from trialsite.demo import DEMO_SITES, DEMO_USERS


class Command(BaseCommand):
    help = "Create demo sites and users (one per role) for every trial. Not for production data."

    @transaction.atomic
    def handle(self, *args, **options):
        trials = list(Trial.objects.all())
        if not trials:
            raise CommandError("no trials loaded: run `manage.py load_protocols` first")
        User = get_user_model()
        with pghistory.context(source="seed_demo"):
            sites = {}
            for spec in DEMO_SITES:
                sites[spec["code"]], _ = Site.objects.get_or_create(code=spec["code"], defaults={"name": spec["name"]})
            for trial in trials:
                trial.sites.add(*sites.values())
            for spec in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=spec["username"],
                    defaults={"first_name": spec["first_name"], "last_name": spec["last_name"], "email": spec["email"]},
                )
                if created:
                    user.set_password(spec["password"])
                if spec["role"] == Role.ADMINISTRATOR:
                    user.is_staff = user.is_superuser = True
                user.save()
                if spec.get("totp_secret") and not Authenticator.objects.filter(
                        user=user, type=Authenticator.Type.TOTP).exists():
                    TOTP.activate(user, spec["totp_secret"])
                    RecoveryCodes.activate(user)
                for trial in trials:
                    Membership.objects.get_or_create(
                        user=user, trial=trial, site=sites.get(spec["site"]), role=spec["role"],
                        defaults={"principal": spec["role"] == Role.INVESTIGATOR},
                    )
            from screening.management.commands.seed_reference_ranges import seed_reference_ranges

            seed_reference_ranges()  # the demo sites' upper limits of normal (screening)
        self.stdout.write(f"demo: {len(DEMO_SITES)} sites, {len(DEMO_USERS)} users in {len(trials)} trials")
