"""The session script's two requests: how long the session has left (not activity), and "stay
signed in" (activity)."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.lockout import LAST_SEEN, SIGNED_IN_AT, locked_page
from accounts.middleware import idle_seconds


def _status(request) -> dict:
    now = time.time()
    seen = request.session.get(LAST_SEEN, now)
    started = request.session.get(SIGNED_IN_AT, now)
    idle_left = idle_seconds() - (now - seen)
    absolute_left = settings.SESSION_MAX_HOURS * 3600 - (now - started)
    return {
        "signed_in": True,
        # Rounded up: 0 only once the session has ended (the script then goes to the sign-in page; with
        # a fraction of a second still left, that page would send it straight back, again and again).
        "seconds_left": max(0, math.ceil(min(idle_left, absolute_left))),
        "idle_seconds": int(idle_seconds()),
        "warning_seconds": settings.SESSION_WARNING_SECONDS,
        "ends_by": "absolute" if absolute_left < idle_left else "idle",
    }


@require_GET
@login_not_required
def session_status(request):
    """Not counted as activity (SessionLimitsMiddleware.PASSIVE_URL_NAMES). Answers a signed-out
    browser too (``signed_in`` false), so the script can take it to the sign-in page."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "seconds_left": 0})
    return JsonResponse(_status(request))


@require_POST
def keepalive(request):
    """The user chose to stay signed in: this request is activity, so the idle clock restarts."""
    request.session[LAST_SEEN] = time.time()
    return JsonResponse(_status(request))


@login_not_required
def locked(request):
    """Where an htmx form (a signature) is sent when its credentials locked the account."""
    return locked_page(request)


def email_managed_by_administrators(request, *args, **kwargs):
    """allauth's e-mail management (add an address, choose the primary one) is not offered: the address
    receives password resets, so administrators set it with the account (admin › Users)."""
    raise Http404("E-mail addresses are set by your site's administrators.")
