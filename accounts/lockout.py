"""Failed credentials of every kind count toward one lockout (django-axes), and a lockout is reported.

- the password at sign-in and on re-authentication: counted by axes itself (its backend and the
  ``user_login_failed`` signal of ``authenticate``);
- a wrong one-time or recovery code at sign-in: allauth's ``authentication_failed`` signal, turned
  into a ``user_login_failed`` for that user here;
- a signature's user name, password or code (:mod:`accounts.signing`): the same signal.

Each new lockout is reported to the administrators in-app and by e-mail (21 CFR 11.300(d)), once per
account and address while the lock lasts.
"""

from __future__ import annotations

import logging
import time

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import signals as mfa_signals
from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

log = logging.getLogger(__name__)

SIGNED_IN_AT = "accounts.signed_in_at"
LAST_SEEN = "accounts.last_seen"


def cooloff_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out request gets (AXES_LOCKOUT_CALLABLE): the lockout page (HTTP 429), or for an
    htmx form (a signature) a whole-page move to it. A signed-in user is signed out: whoever typed
    the wrong credentials into that session may not be its owner."""
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        logout(request)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("accounts:locked")
        return response
    return locked_page(request, status=429)


def locked_page(request, status: int = 200):
    context = {"cooloff_minutes": cooloff_minutes(), "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "account/locked.html", context, status=status)


def username_of(request, credentials: dict | None) -> str | None:
    """The user name an attempt was for: from the credentials given to ``authenticate`` or the failure
    signal, else from the form posted (allauth's sign-in field is ``login``, a signature's ``username``)."""
    if credentials:
        name = credentials.get("username") or credentials.get("login")
        if name:
            return str(name)
    data = getattr(request, "POST", None) or {}
    name = data.get("login") or data.get("username")
    return str(name) if name else None


def record_failure(request, username: str) -> bool:
    """Count a failed credential for ``username`` from this client; True when it is now locked out."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    return bool(getattr(request, "axes_locked_out", False)) or is_locked(request, username)


def is_locked(request, username: str) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": username})


@receiver(user_locked_out)
def report_lockout(sender, request, username=None, ip_address=None, **kwargs):
    from notifications.services import lockout_notify

    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    if not cache.add(f"accounts.lockout-reported:{username}:{ip_address}", 1, timeout=int(cooloff) or None):
        return
    log.warning("accounts: sign-in locked out for user %r from %s", username, ip_address)
    link = reverse("admin:axes_accessattempt_changelist")
    lockout_notify(username=username or "", ip_address=ip_address or "", link=link)


@receiver(mfa_signals.authentication_failed)
def count_failed_code(sender, request, user, **kwargs):
    record_failure(request, user.get_username())


@receiver(mfa_signals.authenticator_added)
def enrolment_is_second_factor(sender, request, user, authenticator, **kwargs):
    """Activating TOTP takes a valid code from the new authenticator: this session has passed the second
    factor (otherwise the enrolled user would be signed out at once, see RequireSecondFactorMiddleware)."""
    if authenticator.type == authenticator.Type.TOTP and request is not None:
        record_authentication(request, user, "mfa", type=authenticator.type, id=authenticator.pk, enrolled=True)


@receiver(user_logged_in)
def start_session_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now
