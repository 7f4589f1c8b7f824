"""Sessions (issue 9, point 4): signed out after SESSION_IDLE_MINUTES without a request and SESSION_MAX_HOURS
after sign-in; a form posted into an expired session saves nothing and comes back after sign-in; the
timeout script's status request is not activity, its keepalive is; cookies are Secure unless turned
off; HSTS on secure requests; no-store and a Permissions-Policy on every page."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse

from accounts.lockout import LAST_SEEN, SIGNED_IN_AT
from escalation.models import Signature
from tests.accounts.conftest import (
    decision_url,
    form_sign_in,
    other_client,
    post_password,
    settings_in_subprocess,
    signed_in_user_id,
)
from tests.auth import fresh_code, sign_in, signed

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def set_clock(client, *, seen_ago: float | None = None, started_ago: float | None = None):
    """Move the session's idle and absolute clocks into the past (time travel, as the browser would
    have seen it)."""
    session = client.session
    now = time.time()
    if seen_ago is not None:
        session[LAST_SEEN] = now - seen_ago
    if started_ago is not None:
        session[SIGNED_IN_AT] = now - started_ago
    session.save()


def login_redirect_next(response) -> str | None:
    location = response["Location"] if response.status_code == 302 else response.get("HX-Redirect", "")
    parts = urlsplit(location)
    if parts.path != LOGIN:
        return None
    return parse_qs(parts.query).get("next", [""])[0]


@pytest.fixture
def investigator_client(people):
    return sign_in(other_client("198.51.100.70"), people["investigator"])


# --- idle timeout -------------------------------------------------------------------------------------

def test_idle_default_is_fifteen_minutes():
    assert settings.SESSION_IDLE_MINUTES == 15
    assert settings.SESSION_MAX_HOURS == 12


def test_idle_session_is_signed_out_and_a_get_goes_to_the_login_page(people, investigator_client):
    set_clock(investigator_client, seen_ago=15 * 60 + 5)
    response = investigator_client.get("/")
    assert response.status_code == 302 and login_redirect_next(response) == "/"
    assert signed_in_user_id(investigator_client) is None
    page = investigator_client.get(response["Location"])
    assert "without activity" in page.content.decode()


def test_a_session_used_within_the_idle_time_goes_on_and_the_request_is_activity(investigator_client):
    set_clock(investigator_client, seen_ago=14 * 60)
    assert investigator_client.get("/").status_code == 200
    assert time.time() - investigator_client.session[LAST_SEEN] < 5
    # ... so a little later it is still alive.
    set_clock(investigator_client, seen_ago=60)
    assert investigator_client.get("/").status_code == 200


@override_settings(SESSION_IDLE_MINUTES=2)
def test_idle_timeout_is_configurable(investigator_client):
    set_clock(investigator_client, seen_ago=3 * 60)
    assert login_redirect_next(investigator_client.get("/")) == "/"


def test_an_expired_session_posting_a_signature_signs_nothing_and_goes_to_login_with_next(
        people, pending_decision, investigator_client):
    investigator = people["investigator"]
    url = decision_url(pending_decision)
    data = signed(investigator, meaning="approved")  # the right credentials and code
    set_clock(investigator_client, seen_ago=16 * 60)
    response = investigator_client.post(url, data)
    assert response.status_code == 302 and login_redirect_next(response) == url
    assert not Signature.objects.exists()
    assert signed_in_user_id(investigator_client) is None
    pending_decision.refresh_from_db()
    assert pending_decision.status == "pending"
    # Signing in again (password, then code) lands on the decision, where it can be signed.
    client = other_client("198.51.100.71")
    response = client.post(response["Location"], {"login": "investigator", "password": data["password"]})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    response = client.post(response["Location"], {"code": fresh_code(investigator)})
    assert response.status_code == 302 and response["Location"] == url
    assert client.post(url, signed(investigator, meaning="approved")).status_code == 302
    assert Signature.objects.filter(signer=investigator).count() == 1


def test_an_expired_htmx_signature_moves_the_whole_page_to_login(people, pending_decision, investigator_client):
    """htmx would swap a redirected sign-in page into the form: the answer is an HX-Redirect instead."""
    investigator = people["investigator"]
    url = decision_url(pending_decision)
    set_clock(investigator_client, seen_ago=16 * 60)
    response = investigator_client.post(url, signed(investigator, meaning="approved"), HTTP_HX_REQUEST="true",
                                        HTTP_HX_CURRENT_URL=f"http://testserver{url}?tab=sign")
    assert not Signature.objects.exists()
    assert response.status_code == 204, response
    assert login_redirect_next(response) == f"{url}?tab=sign"


# --- absolute lifetime --------------------------------------------------------------------------------

def test_absolute_lifetime_ends_an_active_session(investigator_client):
    set_clock(investigator_client, seen_ago=1, started_ago=12 * 3600 + 60)
    response = investigator_client.get("/")
    assert login_redirect_next(response) == "/"
    assert signed_in_user_id(investigator_client) is None
    assert any("hours after sign-in" in str(m) for m in get_messages(response.wsgi_request))


def test_within_the_lifetime_an_active_session_goes_on(investigator_client):
    set_clock(investigator_client, seen_ago=1, started_ago=11 * 3600)
    assert investigator_client.get("/").status_code == 200


@override_settings(SESSION_MAX_HOURS=1)
def test_absolute_lifetime_is_configurable(investigator_client):
    set_clock(investigator_client, seen_ago=1, started_ago=3600 + 60)
    assert login_redirect_next(investigator_client.get("/")) == "/"


def test_the_clock_starts_at_the_form_sign_in(people):
    client = other_client("198.51.100.72")
    assert form_sign_in(client, people["coordinator"]).status_code == 302
    session = client.session
    assert abs(session[SIGNED_IN_AT] - time.time()) < 10 and abs(session[LAST_SEEN] - time.time()) < 10


# --- the timeout script's two requests ----------------------------------------------------------------

def test_session_status_is_not_activity_and_keepalive_is(investigator_client):
    set_clock(investigator_client, seen_ago=5 * 60)
    seen = investigator_client.session[LAST_SEEN]
    status = investigator_client.get(reverse("accounts:session"))
    assert status.status_code == 200
    data = status.json()
    assert data["signed_in"] is True and data["ends_by"] == "idle"
    assert 10 * 60 - 15 <= data["seconds_left"] <= 10 * 60
    assert data["warning_seconds"] == settings.SESSION_WARNING_SECONDS
    assert investigator_client.session[LAST_SEEN] == seen  # not moved

    keep = investigator_client.post(reverse("accounts:keepalive"))
    assert keep.status_code == 200
    assert investigator_client.session[LAST_SEEN] > seen + 250
    assert keep.json()["seconds_left"] >= 15 * 60 - 15


def test_session_status_does_not_keep_an_idle_session_alive(investigator_client):
    set_clock(investigator_client, seen_ago=15 * 60 - 30)
    for _ in range(3):
        assert investigator_client.get(reverse("accounts:session")).json()["signed_in"] is True
    set_clock(investigator_client, seen_ago=15 * 60 + 1)
    assert investigator_client.get(reverse("accounts:session")).json() == {"signed_in": False, "seconds_left": 0}
    assert signed_in_user_id(investigator_client) is None


def test_session_status_says_when_the_lifetime_ends_first(investigator_client):
    set_clock(investigator_client, seen_ago=1, started_ago=12 * 3600 - 120)
    data = investigator_client.get(reverse("accounts:session")).json()
    assert data["ends_by"] == "absolute" and data["seconds_left"] <= 120


def test_keepalive_needs_a_signed_in_post(client):
    assert client.get(reverse("accounts:keepalive")).status_code in (302, 405)
    response = client.post(reverse("accounts:keepalive"))
    assert response.status_code == 302 and urlsplit(response["Location"]).path == LOGIN


def test_pages_carry_the_session_script_hooks(investigator_client):
    page = investigator_client.get("/").content.decode()
    assert f'data-session-status="{reverse("accounts:session")}"' in page
    assert f'data-session-keepalive="{reverse("accounts:keepalive")}"' in page


# --- cookies, transport, caching, browser features ----------------------------------------------------

COOKIE_SETTINGS = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
                   "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SECURE_HSTS_SECONDS", "SESSION_IDLE_MINUTES",
                   "SESSION_MAX_HOURS", "SESSION_COOKIE_AGE"]


def test_cookies_are_secure_by_default_when_debug_is_off():
    values = settings_in_subprocess(COOKIE_SETTINGS, DJANGO_DEBUG="0")
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True and values["SESSION_EXPIRE_AT_BROWSER_CLOSE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert (values["SESSION_IDLE_MINUTES"], values["SESSION_MAX_HOURS"]) == (15, 12)
    assert values["SESSION_COOKIE_AGE"] == 12 * 3600


def test_secure_cookies_can_be_turned_off_for_a_local_demo():
    values = settings_in_subprocess(COOKIE_SETTINGS, DJANGO_DEBUG="0", DJANGO_SECURE_COOKIES="0")
    assert values["SESSION_COOKIE_SECURE"] is False and values["CSRF_COOKIE_SECURE"] is False


def test_session_limits_come_from_the_environment():
    values = settings_in_subprocess(COOKIE_SETTINGS, SESSION_IDLE_MINUTES="5", SESSION_MAX_HOURS="8")
    assert (values["SESSION_IDLE_MINUTES"], values["SESSION_MAX_HOURS"]) == (5, 8)
    assert values["SESSION_COOKIE_AGE"] == 8 * 3600


def test_the_session_cookie_is_sent_with_its_flags(people):
    client = other_client("198.51.100.73")
    response = post_password(client, "coordinator")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert bool(cookie["secure"]) is settings.SESSION_COOKIE_SECURE
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["max-age"] and not cookie["expires"]  # ends with the browser


def test_hsts_on_a_secure_request():
    response = other_client().get(LOGIN, secure=True)
    assert response.status_code == 200
    hsts = response["Strict-Transport-Security"]
    assert f"max-age={settings.SECURE_HSTS_SECONDS}" in hsts and settings.SECURE_HSTS_SECONDS >= 31536000
    assert "includeSubDomains" in hsts
    assert "Strict-Transport-Security" not in other_client().get(LOGIN)  # never over plain http


def test_no_store_on_every_signed_in_page(people, pending_decision, bat6005, staff_admin):
    investigator = sign_in(other_client("198.51.100.74"), people["investigator"])
    pages = ["/", reverse("trials:detail", args=[bat6005.code]), reverse("trials:dashboard", args=[bat6005.code]),
             decision_url(pending_decision), reverse("notifications:list"), reverse("account_change_password"),
             reverse("mfa_index"), reverse("accounts:session"),
             reverse("api-dashboard", args=[bat6005.code])]
    admin = sign_in(other_client("198.51.100.75"), staff_admin)
    checked = []
    for client, page in [(investigator, p) for p in pages] + [(admin, "/admin/"),
                                                              (admin, reverse("admin:axes_accessattempt_changelist"))]:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        cache_control = response.get("Cache-Control", "")
        assert "no-store" in cache_control and "private" in cache_control, (page, cache_control)
        checked.append(page)
    # Redirects and the sign-in page too.
    for response in (other_client().get("/"), other_client().get(LOGIN)):
        assert "no-store" in response.get("Cache-Control", "")
    assert len(checked) == len(pages) + 2


def test_permissions_policy_refuses_unused_browser_features(investigator_client):
    for response in (investigator_client.get("/"), other_client().get(LOGIN)):
        policy = response["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in policy, policy


def test_the_clock_starts_when_the_code_step_completes_the_sign_in(people):
    investigator = people["investigator"]
    client = other_client("198.51.100.76")
    assert form_sign_in(client, investigator, otp=fresh_code(investigator)).status_code == 302
    assert json.loads(client.get(reverse("accounts:session")).content)["seconds_left"] >= 15 * 60 - 15
