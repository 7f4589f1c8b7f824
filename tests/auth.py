"""Signing in and signing in tests, the way the application's flow leaves a session.

``sign_in`` is what ``Client.force_login`` is to the password: a session as the sign-in flow leaves it
(allauth's record of the password step and, for a user with an authenticator, of the second-factor
step), without posting the forms. The sign-in flow itself is tested through its forms in
tests/accounts/. ``signing`` gives a service call the credentials of a signature and a request to count
failures against.
"""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from allauth.mfa.utils import decrypt
from django.core.cache import cache
from django.test import RequestFactory

from accounts import policy
from tests.factories import PASSWORD


def totp_secret(user) -> str:
    """The user's TOTP secret, enrolling a new authenticator when the user has none."""
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
        return secret
    return decrypt(authenticator.data["secret"])


def code(secret: str, steps: int = 0) -> str:
    """The code ``steps`` periods from now (accepted within MFA_TOTP_TOLERANCE steps)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD + steps))


def fresh_code(user) -> str:
    """A valid code the user has not used yet (allauth refuses a code used once)."""
    secret = totp_secret(user)
    # The current period's code first, then the later ones, the earlier ones last: a code of the previous
    # period goes out of the window if the period turns between now and the check (a flaky signature).
    tolerance = mfa_settings.TOTP_TOLERANCE
    for steps in [0, *range(1, tolerance + 1), *range(-1, -tolerance - 1, -1)]:
        candidate = code(secret, steps)
        if cache.get(f"allauth.mfa.totp.used?user={user.pk}&code={candidate}") is None:
            return candidate
    raise AssertionError("every code of the tolerance window is used: wait for the next period")


def sign_in(client, user):
    """Sign ``user`` in on ``client`` as the sign-in flow would (password, and second factor where the
    user's roles need one: an authenticator is enrolled for such a user first)."""
    user.refresh_from_db()  # a password set since the object was loaded would make the session invalid
    needs_factor = policy.second_factor_required(user) or policy.has_totp(user)
    authenticator = None
    if needs_factor:
        totp_secret(user)
        authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    client.logout()
    client.force_login(user)
    session = client.session
    now = time.time()
    records = [{"method": "password", "at": now, "username": user.get_username()}]
    if authenticator is not None:
        records.append({"method": "mfa", "at": now, "type": "totp", "id": authenticator.pk})
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


def signing(user, *, request=None, **overrides) -> dict:
    """Keyword arguments of a signature for a service call: the request, the user's own user name and
    password, and a fresh one-time code when the user has an authenticator."""
    credentials = {
        "request": request or RequestFactory().post("/escalation/", REMOTE_ADDR="127.0.0.1"),
        "username": user.get_username(),
        "password": PASSWORD,
        "otp_code": fresh_code(user) if policy.has_totp(user) else "",
    }
    credentials.update(overrides)
    return credentials


def signed(user, **fields) -> dict:
    """A signature form's POST data: ``fields`` plus the user's own credentials (and a fresh code)."""
    data = {"username": user.get_username(), "password": PASSWORD}
    if policy.has_totp(user):
        data["otp_code"] = fresh_code(user)
    data.update(fields)
    return data
