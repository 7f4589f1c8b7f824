"""Print the current one-time code of a demo user (``./dev manage demo_code investigator``).

Only for the demo users of ``seed_demo`` whose authenticator still holds the published demo secret
(trialsite.demo): a real user's authenticator is refused, so this command is no way around anyone's
second factor.
"""

import time

from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from trialsite.demo import DEMO_USERS


class Command(BaseCommand):
    help = "Print the current one-time code of a demo user (investigator, sponsor, admin). Demo only."

    def add_arguments(self, parser):
        parser.add_argument("username", help="a demo user with a second factor: "
                            + ", ".join(u["username"] for u in DEMO_USERS if u.get("totp_secret")))

    def handle(self, *args, username, **options):
        spec = next((u for u in DEMO_USERS if u["username"] == username and u.get("totp_secret")), None)
        if spec is None:
            raise CommandError(f"username: {username!r} is not a demo user with a second factor "
                               f"(try one of: {', '.join(u['username'] for u in DEMO_USERS if u.get('totp_secret'))})")
        user = get_user_model().objects.filter(username=username).first()
        totp = user and Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is None:
            raise CommandError(f"username: {username!r} has no authenticator: run `manage.py seed_demo` first")
        if decrypt(totp.data["secret"]) != spec["totp_secret"]:
            raise CommandError(f"username: {username!r} no longer uses the published demo secret; "
                               "use that user's own authenticator app")
        now = time.time()
        counter = int(now) // app_settings.TOTP_PERIOD
        left = app_settings.TOTP_PERIOD - int(now) % app_settings.TOTP_PERIOD
        self.stdout.write(format_hotp_value(hotp_value(spec["totp_secret"], counter)))
        self.stderr.write(f"(valid for about {left} s more; each code signs in or signs once)")
