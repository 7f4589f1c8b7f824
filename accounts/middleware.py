"""Session limits, the second factor's enrolment, and no caching of signed-in pages (docs/security.md).

``SessionLimitsMiddleware``
    Signs the user out after ``SESSION_IDLE_MINUTES`` without a request (the session-timeout script warns
    ``SESSION_WARNING_SECONDS`` before) and ``SESSION_MAX_HOURS`` after sign-in, whatever the activity.
    The request then goes on as an anonymous one, so the log-in rule sends it to the sign-in page and a
    form posted into an expired session (a signature, say) saves nothing. The script's status requests
    (``accounts:session``) do not count as activity.

``RequireSecondFactorMiddleware``
    A user whose roles need a second factor (``MFA_REQUIRED_ROLES``) and has none is sent to enrol one
    (allauth's TOTP activation) before any other page; a user who has one but whose session did not pass
    it (e.g. a session made without the sign-in flow) is signed out.

``NoStoreMiddleware``
    ``Cache-Control: no-store`` (with ``private``, ``no-cache``, ``max-age=0``) on every response the
    application makes — every page of a signed-in user, the sign-in pages, the API — so no browser or
    proxy keeps a copy of clinical data. Static files are answered before it by WhiteNoise.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers

from accounts import policy
from accounts.lockout import LAST_SEEN, SIGNED_IN_AT

# Writing the session on every request costs a database write; within this many seconds of the last
# write, a request does not move the idle clock (so the timeout can come this much early, never late).
SEEN_RESOLUTION_SECONDS = 10.0

PASSIVE_URL_NAMES = {"accounts:session"}  # the script's status request


def _url_name(request) -> str:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


def _is_htmx(request) -> bool:
    # The header itself: these run before django-htmx's middleware has set request.htmx.
    return request.headers.get("HX-Request") == "true"


def _redirect(request, url: str):
    """A redirect that htmx follows as a whole-page navigation."""
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def idle_seconds() -> float:
    return settings.SESSION_IDLE_MINUTES * 60


class SessionLimitsMiddleware:
    """In ``process_view``: the URL is resolved by then (no second resolution), and the sign-in rule
    (LoginRequiredMiddleware, before this one) has already let the signed-in user through."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated:
            return None
        session, now = request.session, time.time()
        seen = session.get(LAST_SEEN)
        started = session.get(SIGNED_IN_AT)
        if started is None:
            session[SIGNED_IN_AT] = started = now
        reason = None
        if seen is not None and now - seen > idle_seconds():
            minutes = settings.SESSION_IDLE_MINUTES
            reason = (f"You were signed out after {minutes:g} minute{'s' if minutes != 1 else ''} without "
                      "activity; anything not yet saved was not saved. Sign in again to go on.")
        elif now - started > settings.SESSION_MAX_HOURS * 3600:
            hours = settings.SESSION_MAX_HOURS
            reason = (f"Sessions end {hours:g} hour{'s' if hours != 1 else ''} after sign-in; anything not yet "
                      "saved was not saved. Sign in again to go on.")
        if reason is not None:
            logout(request)
            messages.warning(request, reason)
            if not getattr(view_func, "login_required", True):
                return None  # a page open to anyone (the sign-in page, the session status) answers as usual
            # Nothing posted into an expired session runs; the user comes back to the page after sign-in.
            back = urlsplit(request.headers.get("HX-Current-URL") or request.get_full_path())
            return _redirect(request, redirect_to_login(
                back.path + (f"?{back.query}" if back.query else ""), resolve_url(settings.LOGIN_URL),
            )["Location"])
        if request.resolver_match.view_name not in PASSIVE_URL_NAMES and (
            seen is None or now - seen >= SEEN_RESOLUTION_SECONDS
        ):
            session[LAST_SEEN] = now
        return None


# Pages a user who must enrol a second factor may still open: the enrolment itself, re-authentication
# before it, signing out, and the session script's requests.
ENROLMENT_URL_NAMES = {
    "mfa_activate_totp", "mfa_view_recovery_codes", "mfa_download_recovery_codes", "mfa_generate_recovery_codes",
    "mfa_index", "account_reauthenticate", "mfa_reauthenticate", "logout", "account_logout",
    "accounts:session", "accounts:keepalive",
}


class RequireSecondFactorMiddleware:
    """Every request, found or not. A session that passed the second factor costs nothing; another one
    costs one query (``policy.factor_state``); the URL is resolved only for a user who must still enrol."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not policy.session_used_second_factor(request):
            has_totp, required = policy.factor_state(user)
            if has_totp:
                logout(request)
                messages.warning(request, "Sign in again with your one-time code.")
                return _redirect(request, resolve_url(settings.LOGIN_URL))
            if required and _url_name(request) not in ENROLMENT_URL_NAMES:
                messages.info(request, "Your role needs a second factor: set up your authenticator app to go on.")
                return _redirect(request, reverse("mfa_activate_totp"))
        return self.get_response(request)


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Static files never get here (WhiteNoise answers them first, with their own long caching).
        add_never_cache_headers(response)
        return response
