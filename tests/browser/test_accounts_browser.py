"""The sign-in pages of issue 9 in headless Chromium: first sign-in with the enrolment of an authenticator,
sign-in with a one-time code, a signature's credentials and the lockout they lead to, the idle-timeout
warning, and the password pages; a screenshot of every page, and no console or CSP error on any."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from accounts.policy import has_totp
from escalation.models import EscalationDecision, Signature
from escalation.services import decision_recommend
from subjects.services import dose_record, subject_enrol
from tests.auth import code, fresh_code, totp_secret
from tests.factories import PASSWORD
from tests.screening.helpers import predose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOME = re.compile(r"/$")


@pytest.fixture(autouse=True)
def _sign_ins_not_rate_limited():
    """allauth allows 30 sign-ins a minute from one address, counted in the cache (Redis), which outlives
    each test: this file's sign-ins, all from 127.0.0.1, start each test with that count at zero (as a
    new minute would), so that a run straight after another is not refused."""
    from allauth.core import ratelimit
    from django.test import RequestFactory

    ratelimit.clear(RequestFactory().get("/", REMOTE_ADDR="127.0.0.1"), action="login")


def password_step(page, username, password=PASSWORD):
    """The sign-in page's first step (allauth's form: ``login`` and ``password``)."""
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")


def sign_in(page, user):
    """Sign in through the forms: password, then the one-time code when the user has an authenticator."""
    password_step(page, user.get_username())
    if has_totp(user):
        page.wait_for_url("**/accounts/2fa/authenticate/")
        page.fill("#id_code", fresh_code(user))
        page.click("main button[type=submit]")
    page.wait_for_url(HOME)


def pending_decision(trial, site, user) -> EscalationDecision:
    """BAT6005 level 1: one subject dosed 30 days ago, no toxicity: a recommendation awaiting signature."""
    subject = subject_enrol(trial=trial, site=site, user=user, initials="AA", date_of_birth=date(1960, 1, 1), sex="F")
    drug = trial.drugs.order_by("order").first()
    dosed_at = timezone.now() - timedelta(days=30)
    predose(subject, dosed_at, user)
    dose_record(subject=subject, drug=drug, cycle=1, day=1, dose=10, user=user, administered_at=dosed_at)
    decision = decision_recommend(trial=trial)
    assert decision is not None and decision.status == EscalationDecision.Status.PENDING
    return decision


def error_of(page, field: str) -> str:
    return page.inner_text(f"#id_{field}-error")


def submit_signature(page, username, password, otp_code):
    """Fill the signature and send it; return once the server has answered (htmx swaps the form)."""
    page.check("input[value=approved]")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.fill("#id_otp_code", otp_code)
    with page.expect_response(lambda r: r.request.method == "POST" and "/escalation/decisions/" in r.url):
        page.click("#sign-form button[type=submit]")


def form_swapped(page):
    """The form htmx put in place of the one sent: a password field is never given back its value."""
    page.wait_for_function("() => document.querySelector('#sign-form #id_password')?.value === ''")


def test_first_sign_in_enrols_an_authenticator(page, shot, people):
    investigator = people["investigator"]
    page.goto("/")
    assert "/login/" in page.url
    assert page.inner_text("h1") == "Sign in"
    shot(page, "sign-in")

    # Password right, no authenticator yet: every page leads to the enrolment.
    password_step(page, "investigator")
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    assert "set up your authenticator app" in page.inner_text(".messages")
    page.goto("/trials/BAT6005/")
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    assert page.inner_text("h1") == "Set up your authenticator app"
    qr = page.locator("main img.qr")
    assert qr.is_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.input_value("#authenticator_secret")  # each visit shows a new key until one is activated
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    shot(page, "enrol")

    # A wrong code: an error, still not enrolled. (The right code's neighbours would be accepted.)
    right = code(secret)
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    page.fill("#id_code", wrong)
    page.click("main button[type=submit]")
    page.wait_for_selector("main .error")
    assert "Incorrect code" in page.inner_text("main .error")
    assert page.input_value("#authenticator_secret") == secret  # the same secret to scan, not a new one
    assert not investigator.authenticator_set.exists()
    shot(page, "enrol-wrong-code")

    # The right code: enrolled, and shown the recovery codes once.
    page.fill("#id_code", code(secret))
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    assert page.inner_text("h1") == "Recovery codes"
    codes = page.input_value("#recovery_codes").split()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)
    assert investigator.authenticator_set.filter(type="totp").exists()
    shot(page, "recovery-codes")

    page.click("text=Go on to TrialSite")
    page.wait_for_url(HOME)
    assert "My trials" in page.inner_text("main")
    assert "BAT6005" in page.inner_text("main")
    shot(page, "home")
    assert page.problems == [], "\n".join(page.problems)


@pytest.mark.parametrize("role", ["sponsor", "investigator"])
def test_enrolled_user_signs_in_with_a_one_time_code(page, shot, people, role):
    user = people[role]
    secret = totp_secret(user)
    password_step(page, user.get_username())
    page.wait_for_url("**/accounts/2fa/authenticate/")
    assert page.inner_text("h1") == "One-time code"
    shot(page, "code")

    right = code(secret)
    page.fill("#id_code", f"{(int(right) + 500_000) % 1_000_000:06d}")
    page.click("main button[type=submit]")
    page.wait_for_selector("main .error")
    assert "Incorrect code" in page.inner_text("main .error")
    assert "/accounts/2fa/authenticate/" in page.url
    shot(page, "code-wrong")
    page.goto("/trials/BAT6005/")  # the password alone opens nothing: back to the code
    assert "/accounts/2fa/authenticate/" in page.url
    assert page.inner_text("h1") == "One-time code"

    password_step(page, user.get_username())
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.fill("#id_code", fresh_code(user))
    page.click("main button[type=submit]")
    page.wait_for_url(HOME)
    assert user.get_full_name() in page.inner_text(".topbar")
    shot(page, "home")
    assert page.problems == [], "\n".join(page.problems)


def test_signature_credentials_and_lockout(page, shot, people, bat6005, site_a):
    investigator = people["investigator"]
    decision = pending_decision(bat6005, site_a, people["coordinator"])
    totp_secret(investigator)  # enrolled
    sign_in(page, investigator)
    page.goto(f"/escalation/decisions/{decision.pk}/")
    signer = page.locator("#sign-form fieldset.signer")
    assert signer.locator("legend").inner_text() == "Your electronic signature"
    for field, label in (("username", "Your user name"), ("password", "Your password"),
                         ("otp_code", "One-time code")):
        assert signer.locator(f"#id_{field}").is_visible()
        assert label in signer.locator(f"label[for=id_{field}]").inner_text()
    assert investigator.get_full_name() in signer.inner_text()
    shot(page, "sign-form")

    # Another person's user name (with their correct password): refused on the user name field.
    submit_signature(page, "sponsor", PASSWORD, fresh_code(investigator))
    form_swapped(page)
    assert "This is not your user name" in error_of(page, "username")
    assert page.locator("#sign-form .field.has-error #id_username").count() == 1
    shot(page, "sign-not-your-user-name")

    # Four wrong passwords more: the fifth failure locks the account and signs the user out.
    for attempt in range(1, 5):
        submit_signature(page, "investigator", f"wrong-password-{attempt}", fresh_code(investigator))
        if attempt < 4:
            form_swapped(page)
            assert "The password is not correct." in error_of(page, "password")
            if attempt == 1:
                shot(page, "sign-wrong-password")
    page.wait_for_url("**/accounts/locked/")
    assert page.inner_text("h1") == "Account locked"
    assert "Nothing was signed or saved" in page.inner_text("main")
    assert page.locator(".topbar nav").count() == 0  # signed out: no name, no "Log out"
    shot(page, "locked")

    page.goto(f"/escalation/decisions/{decision.pk}/")
    assert "/login/" in page.url
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.PENDING
    assert not Signature.objects.exists()
    assert AccessAttempt.objects.filter(username="investigator", failures_since_start__gte=5).exists()

    assert page.problems == [], "\n".join(page.problems)

    # Locked: even the right password does not get to the code step. The lockout page is the answer to
    # the sign-in form, with HTTP 429 (which the browser logs as a failed load; nothing else may be logged).
    password_step(page, "investigator")
    page.wait_for_selector("h1:text('Account locked')")
    assert "/accounts/2fa/authenticate/" not in page.url
    assert page.problems == ["Failed to load resource: the server responded with a status of 429 (Too Many Requests)"]


def test_idle_warning_stay_signed_in_then_signed_out(page, shot, people, settings):
    # The live server runs in this process: the overridden settings are the ones it reads.
    # Signed out after 4.8 s without a request, warned 2 s before.
    settings.SESSION_IDLE_MINUTES = 0.08
    settings.SESSION_WARNING_SECONDS = 2
    sign_in(page, people["coordinator"])
    loaded = time.monotonic()  # the sign-in (last activity) was just before
    warning = page.locator("#session-warning")
    assert warning.is_hidden()
    warning.wait_for(state="visible", timeout=5_000)
    assert time.monotonic() - loaded > 0.5  # not at once: about 2 s before the end
    assert "You will be signed out in" in warning.inner_text()
    assert re.search(r"0:0[0-3]", warning.locator("[data-session-countdown]").inner_text())
    shot(page, "warning")

    # "Stay signed in": the banner goes, and the session outlives the first deadline.
    warning.locator("button", has_text="Stay signed in").click()
    warning.wait_for(state="hidden", timeout=2_000)
    stayed = time.monotonic()
    time.sleep(max(0.0, 5.3 - (time.monotonic() - loaded)))
    status = page.request.get("/accounts/session/").json()
    assert status["signed_in"] and status["seconds_left"] >= 1, status
    assert HOME.search(page.url)

    # Left alone: warned again, then the page goes to the sign-in page, which says why — once, when the
    # session has ended (not to and fro between the sign-in page and the page while a second is left).
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
    warning.wait_for(state="visible", timeout=5_000)
    page.wait_for_url("**/login/**", timeout=8_000)
    assert time.monotonic() - stayed > 4
    page.wait_for_timeout(1_500)
    assert visited == [page.url], visited
    assert "signed out after" in page.inner_text(".messages")
    assert page.inner_text("h1") == "Sign in"
    assert page.locator("#session-warning").count() == 0
    shot(page, "signed-out")
    page.goto("/trials/BAT6005/")
    assert "/login/" in page.url
    assert page.problems == [], "\n".join(page.problems)


def test_password_pages(page, shot, people, mailoutbox):
    page.goto("/login/")
    assert page.locator("main a", has_text="Forgot your password?").count() == 1
    page.click("text=Forgot your password?")
    page.wait_for_url("**/accounts/password/reset/")
    assert page.inner_text("h1") == "Reset your password"
    assert page.locator("#id_email").is_visible()
    shot(page, "reset-request")
    page.fill("#id_email", "coordinator@example.org")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/password/reset/done/")
    assert page.inner_text("h1") == "Check your e-mail"
    shot(page, "reset-sent")

    # The link in the e-mail: choose a new password (the form only, not sent).
    (message,) = mailoutbox
    assert message.to == ["coordinator@example.org"]
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", message.body).group(0)
    page.goto(link)
    page.wait_for_selector("#id_password1")
    assert page.inner_text("h1") == "Choose a new password"
    shot(page, "reset-new-password")

    # The account page (the user's name in the top bar) leads to the password change.
    coordinator = people["coordinator"]
    sign_in(page, coordinator)
    page.click(f".topbar a:text('{coordinator.get_full_name()}')")
    page.wait_for_url("**/accounts/2fa/")
    assert page.inner_text("h1") == "Your account"
    shot(page, "account")
    page.click("text=Change your password")
    page.wait_for_url("**/accounts/password/change/")
    assert page.inner_text("h1") == "Change your password"
    for field in ("oldpassword", "password1", "password2"):
        assert page.locator(f"#id_{field}").is_visible()
    shot(page, "change")
    page.fill("#id_oldpassword", "not-my-password")
    page.fill("#id_password1", "a-new-long-passphrase")
    page.fill("#id_password2", "a-new-long-passphrase")
    page.click("main button[type=submit]")
    page.wait_for_selector("#id_oldpassword-error")
    assert "current password" in page.inner_text("#id_oldpassword-error")
    shot(page, "change-error")
    coordinator.refresh_from_db()
    assert coordinator.check_password(PASSWORD)
    assert page.problems == [], "\n".join(page.problems)
