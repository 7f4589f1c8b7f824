"""API tokens for services (knox: stored hashed, expiring): ``manage.py api_token create --user U [--days N]``
prints the token once; ``list --user U`` shows each token's key (its first characters), when it was issued and
when it expires; ``revoke --user U --key K`` revokes one, ``--all`` every token of the user. A token
authenticates as its user, with that user's roles (docs/api.md)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from knox.models import AuthToken

MAX_DAYS = 3650


class Command(BaseCommand):
    help = "Issue, list and revoke the API tokens (knox) a service uses to act as a user."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Issue a token (printed once, stored hashed).")
        create.add_argument("--user", required=True, help="The username the token acts as.")
        create.add_argument("--days", type=int, default=None,
                            help="Days until it expires (default: REST_KNOX TOKEN_TTL, API_TOKEN_TTL_DAYS).")
        listing = actions.add_parser("list", help="The user's tokens: key, issued, expires.")
        listing.add_argument("--user", required=True)
        revoke = actions.add_parser("revoke", help="Revoke one token (--key) or all of the user's (--all).")
        revoke.add_argument("--user", required=True)
        which = revoke.add_mutually_exclusive_group(required=True)
        which.add_argument("--key", help="The token's key, as `list` shows it (its first characters).")
        which.add_argument("--all", action="store_true", help="Every token of the user.")

    def handle(self, *args, action, user, **options):
        try:
            account = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {user!r}.") from None
        return getattr(self, f"_{action}")(account, **options)

    def _create(self, user, *, days=None, **options):
        if not user.is_active:
            raise CommandError(f"{user.username} is inactive: a token would not authenticate.")
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}.")
        ttl = timedelta(days=days) if days is not None else settings.REST_KNOX.get("TOKEN_TTL")
        instance, token = AuthToken.objects.create(user=user, expiry=ttl)
        expires = f"expires {timezone.localtime(instance.expiry):%Y-%m-%d %H:%M %Z}" if instance.expiry else "no expiry"
        self.stderr.write(f"Token for {user.username} (key {instance.token_key}, {expires}). It is shown once and "
                          "stored hashed: keep it now. Send it as the header `Authorization: Token <token>`.")
        self.stdout.write(token)

    def _list(self, user, **options):
        tokens = AuthToken.objects.filter(user=user).order_by("created")
        if not tokens:
            self.stdout.write(f"{user.username} has no API token.")
            return
        now = timezone.now()
        for token in tokens:
            expiry = token.expiry
            state = "no expiry" if expiry is None else (
                f"expired {timezone.localtime(expiry):%Y-%m-%d %H:%M}" if expiry <= now
                else f"expires {timezone.localtime(expiry):%Y-%m-%d %H:%M}")
            self.stdout.write(f"{token.token_key}  issued {timezone.localtime(token.created):%Y-%m-%d %H:%M}  {state}")

    def _revoke(self, user, *, key=None, all=False, **options):
        tokens = AuthToken.objects.filter(user=user)
        if not all:
            tokens = tokens.filter(token_key=key)
            if not tokens.exists():
                raise CommandError(f"{user.username} has no token with key {key!r} (see `api_token list`).")
        count, _ = tokens.delete()
        self.stdout.write(f"Revoked {count} token{'s' if count != 1 else ''} of {user.username}.")
