"""Failed credentials of every kind count toward one lockout (django-axes), and a lockout is reported.

- the password at sign-in and on re-authentication: counted by axes itself (its backend and the
  ``user_login_failed`` signal of ``authenticate``);
- a wrong one-time or recovery code at sign-in: allauth's ``authentication_failed`` signal, turned
  into a ``user_login_failed`` for that user here;
- a signature's user name, password or code (:mod:`accounts.signing`): the same signal.

Each new lockout is reported to the administrators in-app and by e-mail (21 CFR 11.300(d)), once per
lock (further failures while it lasts are not reported again).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import signals as mfa_signals
from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import Sum
from django.dispatch import receiver
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

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
    if request.headers.get("HX-Request") == "true":
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


def _failures(**lookup) -> int:
    """Failures counted now (within the cool-off) for ``lookup`` (a user name or an address)."""
    from axes.models import AccessAttempt

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    total = AccessAttempt.objects.filter(attempt_time__gte=since, **lookup).aggregate(n=Sum("failures_since_start"))
    return total["n"] or 0


def lockout_parameters(request_or_attempt, credentials=None) -> list[str]:
    """What locks (AXES_LOCKOUT_PARAMETERS): the account, at AXES_FAILURE_LIMIT failures from anywhere;
    and the client address once failures from it, for any accounts, reach ADDRESS_FAILURE_LIMIT (higher:
    people who share an address, a hospital's NAT or the demo's 127.0.0.1, are not all locked out by
    one person's typing, while spraying passwords over many accounts from one address is stopped)."""
    params = ["username"]
    address = getattr(request_or_attempt, "axes_ip_address", None) or getattr(request_or_attempt, "ip_address", None)
    limit = settings.ADDRESS_FAILURE_LIMIT
    if limit > 0 and address and _failures(ip_address=address) >= limit:
        params.append("ip_address")
    return params


def record_failure(request, username: str) -> bool:
    """Count a failed credential for ``username`` from this client; True when it is now locked out
    (then ``request.axes_locked_out`` is set, and AxesMiddleware answers with the lockout page)."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    return bool(getattr(request, "axes_locked_out", False)) or is_locked(request, username)


def is_locked(request, username: str) -> bool:
    """Whether ``username`` (or this client's address) is locked out now; if so, marks the request so
    that AxesMiddleware answers with the lockout page (and signs a signed-in user out)."""
    locked = AxesProxyHandler.is_locked(request, {"username": username})
    if locked:
        request.axes_locked_out = True
    return locked


@receiver(user_locked_out)
def report_lockout(sender, request, username=None, ip_address=None, **kwargs):
    """Report the failure that locks (the account's ``AXES_FAILURE_LIMIT``-th, or the address's
    ``ADDRESS_FAILURE_LIMIT``-th, within the cool-off), not the further failures while the lock lasts;
    a new lock after an administrator lifted one, or after the cool-off, is reported again (axes
    counts afresh then)."""
    from accounts.policy import administrators
    from notifications.services import lockout_notify

    account_lock = bool(username) and _failures(username=username) == settings.AXES_FAILURE_LIMIT
    address_lock = (settings.ADDRESS_FAILURE_LIMIT > 0 and bool(ip_address)
                    and _failures(ip_address=ip_address) == settings.ADDRESS_FAILURE_LIMIT)
    if not (account_lock or address_lock):
        return
    log.warning("accounts: sign-in locked out for user %r from %s", username, ip_address)
    query = {key: value for key, value in (("username", username), ("ip_address", ip_address)) if value}
    link = reverse("admin:axes_accessattempt_changelist") + (f"?{urlencode(query)}" if query else "")
    failures = settings.AXES_FAILURE_LIMIT if account_lock else settings.ADDRESS_FAILURE_LIMIT
    lockout_notify(recipients=administrators(), username=username or "", ip_address=ip_address or "", link=link,
                   failures=failures)


def client_ip(request) -> str | None:
    """The client's address (AXES_CLIENT_IP_CALLABLE). Behind ``TRUSTED_PROXY_COUNT`` proxies that each
    append the address they received from to X-Forwarded-For, it is that many entries from the right;
    entries further left are whatever the client sent and are never believed. Without proxies, or when
    the header has fewer entries than proxies (a request that did not come through them), it is the
    connection's address."""
    proxies = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR") or None
    if proxies <= 0:
        return remote
    entries = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if len(entries) < proxies:
        return remote
    candidate = entries[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


@receiver(mfa_signals.authentication_failed)
def count_failed_code(sender, request, user, **kwargs):
    record_failure(request, user.get_username())


@receiver(mfa_signals.authenticator_added)
def enrolment_is_second_factor(sender, request, user, authenticator, **kwargs):
    """Activating TOTP takes a valid code from the new authenticator: this session has passed the second
    factor (otherwise the enrolled user would be signed out at once, see RequireSecondFactorMiddleware)."""
    if authenticator.type == authenticator.Type.TOTP and request is not None:
        # Recorded as a re-authentication when the password was given within ACCOUNT_REAUTHENTICATION_TIMEOUT
        # (the first sign-in's enrolment): allauth then shows the new recovery codes at once, instead of asking
        # for the password again seconds after the sign-in that led here.
        fresh = any(record.get("method") == "password"
                    and time.time() - record.get("at", 0) < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
                    for record in get_authentication_records(request, user))
        record_authentication(request, user, "mfa", type=authenticator.type, id=authenticator.pk, enrolled=True,
                              reauthenticated=fresh)


@receiver(user_logged_in)
def start_session_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now
