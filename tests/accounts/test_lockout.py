"""Brute force is stopped (issue 9, point 1): failed passwords at sign-in, failed one-time codes and failed
signature credentials count toward one lockout of the account and, separately, of the client address;
a locked account cannot sign in even with the right password and code; administrators see the lock in
the admin, lift it there or with ``manage.py axes_reset_username``, are told of it once per lock; the
lock ends by itself after the cool-off. Behind a reverse proxy the client is the right-most
X-Forwarded-For entry the proxy added, never a left-most one the client wrote."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import lockout
from escalation.models import Signature
from notifications.models import Notification
from notifications.tasks import send_emails
from outbox.models import OutboxMessage
from tests.accounts.conftest import (
    AUTHENTICATE,
    LOGIN,
    decision_url,
    other_client,
    post_code,
    post_password,
    signed_in_user_id,
)
from tests.auth import code, fresh_code, sign_in, signed, totp_secret
from tests.conftest import member
from tests.factories import PASSWORD, UserFactory
from trials.models import Role

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"
LIMIT = settings.AXES_FAILURE_LIMIT
LOCKOUT_SUBJECT = "[TrialSite] Security: an account was locked"


def fail_password(client, username, times, **extra):
    return [post_password(client, username, WRONG, **extra) for _ in range(times)]


def failures(username) -> int:
    return sum(AccessAttempt.objects.filter(username=username).values_list("failures_since_start", flat=True))


def run_outbox_emails() -> int:
    """The e-mails the lockout queued through the outbox, run as the worker would (once per row)."""
    rows = OutboxMessage.objects.filter(task_name="notifications.tasks.send_emails")
    return sum(send_emails(*row.args, **row.kwargs) for row in rows)


def test_defaults_are_five_failures_and_a_cooloff_from_the_environment():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=30) == settings.AXES_COOLOFF_TIME
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.AXES_LOCKOUT_PARAMETERS == "accounts.lockout.lockout_parameters"
    assert settings.ADDRESS_FAILURE_LIMIT == 20


# --- sign-in: password --------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_account_even_against_the_right_password(people):
    coordinator = people["coordinator"]
    client = other_client("198.51.100.1")
    responses = fail_password(client, "coordinator", LIMIT)
    assert [r.status_code for r in responses[:-1]] == [200] * (LIMIT - 1)  # the form again, with its error
    assert responses[-1].status_code == 429
    assert "Account locked" in responses[-1].content.decode()
    assert failures("coordinator") == LIMIT

    # The right password from the same browser: refused, not signed in.
    response = post_password(client, "coordinator", PASSWORD)
    assert response.status_code == 429 and signed_in_user_id(client) is None
    # ... and from another address too: the account is locked, wherever the attempt comes from.
    elsewhere = other_client("198.51.100.2")
    response = post_password(elsewhere, "coordinator", PASSWORD)
    assert response.status_code == 429 and signed_in_user_id(elsewhere) is None
    assert signed_in_user_id(client) != str(coordinator.pk)


def test_four_failures_do_not_lock_and_a_success_resets_the_count(people):
    client = other_client("198.51.100.3")
    fail_password(client, "coordinator", LIMIT - 1)
    response = post_password(client, "coordinator", PASSWORD)
    assert response.status_code == 302 and signed_in_user_id(client) == str(people["coordinator"].pk)
    assert failures("coordinator") == 0  # AXES_RESET_ON_SUCCESS
    client.logout()
    fail_password(client, "coordinator", LIMIT - 1)
    assert post_password(client, "coordinator", PASSWORD).status_code == 302


def test_the_client_address_is_locked_separately_from_the_accounts(people):
    """ADDRESS_FAILURE_LIMIT failures from one address, each for another user name (password spraying),
    lock that address for everyone; fewer do not."""
    client = other_client("198.51.100.4")
    for n in range(settings.ADDRESS_FAILURE_LIMIT - 1):
        post_password(client, f"guess-{n}", WRONG)
    response = post_password(client, "coordinator", PASSWORD)
    assert response.status_code == 302 and signed_in_user_id(client) == str(people["coordinator"].pk)
    client.logout()
    for n in range(2):
        post_password(client, f"guess-more-{n}", WRONG)
    response = post_password(client, "coordinator", PASSWORD)
    assert response.status_code == 429 and signed_in_user_id(client) is None
    # The coordinator's account is not locked: from another address the right password works.
    elsewhere = other_client("198.51.100.5")
    assert post_password(elsewhere, "coordinator", PASSWORD).status_code == 302
    assert signed_in_user_id(elsewhere) == str(people["coordinator"].pk)


def test_one_persons_failures_lock_their_account_not_the_shared_address(people):
    """Colleagues behind one address (a hospital's NAT): one person's five failures lock that account
    only; the others sign in from the same address."""
    client = other_client("198.51.100.40")
    fail_password(client, "coordinator", LIMIT)
    colleague = other_client("198.51.100.40")
    assert post_password(colleague, "coordinator-b", PASSWORD).status_code == 302
    assert signed_in_user_id(colleague) == str(people["coordinator_b"].pk)
    assert post_password(other_client("198.51.100.40"), "coordinator", PASSWORD).status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_failure_limit_is_configurable(people):
    client = other_client("198.51.100.6")
    responses = fail_password(client, "coordinator", 3)
    assert [r.status_code for r in responses] == [200, 200, 429]


# --- the admin's log-in form is no way around it ------------------------------------------------------

def test_admin_login_redirects_to_the_sign_in_and_thirty_posts_authenticate_no_one(people, staff_admin):
    client = other_client("198.51.100.7")
    get = client.get("/admin/login/")
    assert get.status_code == 302 and get["Location"].startswith(LOGIN)
    for _ in range(30):
        response = client.post("/admin/login/", {"username": "site-admin", "password": WRONG})
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        assert signed_in_user_id(client) is None
    # Not even the right password there signs in: only /login/ (with its second factor) does.
    response = client.post("/admin/login/?next=/admin/", {"username": "site-admin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


# --- the one-time code step ---------------------------------------------------------------------------

def test_five_wrong_codes_lock_the_account_and_then_the_right_code_is_refused(people):
    investigator = people["investigator"]
    totp_secret(investigator)
    client = other_client("198.51.100.8")
    response = post_password(client, "investigator", PASSWORD)
    assert response.status_code == 302 and response["Location"].startswith(AUTHENTICATE)
    statuses = [post_code(client, "000000").status_code for _ in range(LIMIT)]
    assert statuses[:-1] == [200] * (LIMIT - 1) and statuses[-1] == 429
    assert failures("investigator") == LIMIT
    # The pending sign-in is gone or refused: the right code now gets nobody in.
    response = post_code(client, fresh_code(investigator))
    assert signed_in_user_id(client) is None
    assert response.status_code in (200, 302, 429)
    # A fresh start with the right password and code: refused.
    fresh = other_client("198.51.100.9")
    response = post_password(fresh, "investigator", PASSWORD)
    assert response.status_code == 429 and signed_in_user_id(fresh) is None


def test_a_correct_code_does_not_get_a_locked_account_in_at_the_code_step(people):
    """Locked between the password and the code step (failures elsewhere): the right code is refused."""
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    client = other_client("198.51.100.10")
    assert post_password(client, "investigator", PASSWORD)["Location"].startswith(AUTHENTICATE)
    fail_password(other_client("198.51.100.11"), "investigator", LIMIT)
    response = post_code(client, code(secret))
    assert signed_in_user_id(client) is None
    assert response.status_code in (200, 429)
    assert "locked" in response.content.decode().lower()


# --- signature credentials ----------------------------------------------------------------------------

def test_failed_signature_credentials_lock_the_account_for_sign_in_too(people, pending_decision):
    investigator = people["investigator"]
    client = other_client("198.51.100.12")
    sign_in(client, investigator)
    url = decision_url(pending_decision)
    for _ in range(LIMIT - 1):
        response = client.post(url, signed(investigator, meaning="approved", password=WRONG))
        assert response.status_code == 422
    response = client.post(url, signed(investigator, meaning="approved", password=WRONG))
    assert response.status_code == 429
    assert not Signature.objects.exists()
    assert signed_in_user_id(client) is None
    fresh = other_client("198.51.100.13")
    assert post_password(fresh, "investigator", PASSWORD).status_code == 429
    # Five failures lock the account, not the address (ADDRESS_FAILURE_LIMIT): a colleague signs in there.
    same_address = other_client("198.51.100.12")
    assert post_password(same_address, "coordinator", PASSWORD).status_code == 302


# --- seen and lifted by an administrator --------------------------------------------------------------

def locked_coordinator():
    fail_password(other_client("198.51.100.14"), "coordinator", LIMIT)
    assert post_password(other_client("198.51.100.15"), "coordinator", PASSWORD).status_code == 429


def test_administrator_sees_the_lock_and_lifts_it_in_the_admin(people, staff_admin):
    locked_coordinator()
    admin = sign_in(other_client("203.0.113.50"), staff_admin)
    changelist = admin.get(reverse("admin:axes_accessattempt_changelist"))
    page = changelist.content.decode()
    assert changelist.status_code == 200
    assert "coordinator" in page and "198.51.100.14" in page
    locked_only = admin.get(reverse("admin:axes_accessattempt_changelist") + "?locked_out=yes")
    assert "coordinator" in locked_only.content.decode()
    attempts = AccessAttempt.objects.filter(username="coordinator")
    assert attempts.exists()
    # The stored form data of the attempts never holds the password.
    assert all(WRONG not in a.post_data and PASSWORD not in a.post_data for a in attempts)
    assert "password=" in attempts.first().post_data
    detail = admin.get(reverse("admin:axes_accessattempt_change", args=[attempts.first().pk]))
    assert detail.status_code == 200 and WRONG not in detail.content.decode()

    # Lifted: each of the account's attempts deleted in the admin.
    for attempt in attempts:
        delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
        assert admin.post(delete, {"post": "yes"}).status_code == 302
    assert not AccessAttempt.objects.filter(username="coordinator").exists()

    client = other_client("198.51.100.15")
    assert post_password(client, "coordinator", PASSWORD).status_code == 302
    assert signed_in_user_id(client) == str(people["coordinator"].pk)


def test_axes_reset_username_lifts_the_lock(people):
    locked_coordinator()
    call_command("axes_reset_username", "coordinator", stdout=StringIO())
    client = other_client("198.51.100.15")
    assert post_password(client, "coordinator", PASSWORD).status_code == 302
    assert signed_in_user_id(client) == str(people["coordinator"].pk)


def test_non_staff_cannot_see_the_attempts(people):
    locked_coordinator()
    client = sign_in(other_client("203.0.113.51"), people["sponsor"])
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code in (302, 403)
    assert "198.51.100.14" not in response.content.decode()


# --- expiry -------------------------------------------------------------------------------------------

def test_the_lock_expires_after_the_cooloff(people):
    locked_coordinator()
    cooloff = settings.AXES_COOLOFF_TIME
    # Just inside the cool-off: still locked.
    AccessAttempt.objects.update(attempt_time=timezone.now() - cooloff + timedelta(minutes=1))
    assert post_password(other_client("198.51.100.16"), "coordinator", PASSWORD).status_code == 429
    # Past it: the right password works again (the refused attempt above re-dated the lock: re-date).
    AccessAttempt.objects.update(attempt_time=timezone.now() - cooloff - timedelta(minutes=1))
    client = other_client("198.51.100.16")
    assert post_password(client, "coordinator", PASSWORD).status_code == 302
    assert signed_in_user_id(client) == str(people["coordinator"].pk)


@override_settings(AXES_COOLOFF_TIME=timedelta(minutes=2))
def test_the_cooloff_is_configurable(people):
    locked_coordinator()
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=3))
    assert post_password(other_client("198.51.100.17"), "coordinator", PASSWORD).status_code == 302
    assert lockout.cooloff_minutes() == 2


# --- reported to administrators, once per lock --------------------------------------------------------

@pytest.fixture
def administrators(bat6005, staff_admin):
    role_admin = member(bat6005, Role.ADMINISTRATOR, None, "role-admin")
    plain_staff = UserFactory(username="plain-staff", is_staff=True)
    return [staff_admin, role_admin, plain_staff]


def test_lockout_is_reported_to_administrators_in_app_and_by_email_once(people, administrators):
    bystander = people["sponsor"]
    client = other_client("198.51.100.18")
    fail_password(client, "coordinator", LIMIT + 3)  # three more failures during the lock
    notices = Notification.objects.filter(kind=Notification.Kind.LOCKOUT)
    assert sorted(notices.values_list("recipient__username", flat=True)) == sorted(u.username for u in administrators)
    assert not notices.filter(recipient=bystander).exists()
    notice = notices.first()
    assert "coordinator" in notice.message and "198.51.100.18" in notice.message
    assert notice.link.startswith(reverse("admin:axes_accessattempt_changelist"))

    assert run_outbox_emails() == len(administrators)
    lock_mails = [m for m in mail.outbox if m.subject == LOCKOUT_SUBJECT]
    assert sorted(m.to[0] for m in lock_mails) == sorted(u.email for u in administrators)
    assert "coordinator" in lock_mails[0].body
    assert reverse("admin:axes_accessattempt_changelist") in lock_mails[0].body
    assert WRONG not in lock_mails[0].body
    # Run again (the outbox delivers at least once): nothing more.
    assert run_outbox_emails() == 0
    assert len([m for m in mail.outbox if m.subject == LOCKOUT_SUBJECT]) == len(administrators)


def test_a_new_lock_after_the_lift_is_reported_again(people, administrators):
    client = other_client("198.51.100.19")
    fail_password(client, "coordinator", LIMIT)
    assert Notification.objects.filter(kind="lockout").count() == len(administrators)
    call_command("axes_reset_username", "coordinator", stdout=StringIO())
    call_command("axes_reset_ip", "198.51.100.19", stdout=StringIO())
    fail_password(client, "coordinator", LIMIT)
    assert Notification.objects.filter(kind="lockout").count() == 2 * len(administrators)


def test_a_code_step_and_a_signature_lockout_are_reported_too(people, administrators, pending_decision):
    investigator = people["investigator"]
    client = other_client("198.51.100.21")
    sign_in(client, investigator)
    for _ in range(LIMIT):
        client.post(decision_url(pending_decision), signed(investigator, meaning="approved", otp_code="000000"))
    notices = Notification.objects.filter(kind="lockout")
    assert notices.count() == len(administrators)
    assert all("investigator" in n.message for n in notices)


# --- behind a reverse proxy ---------------------------------------------------------------------------

def proxy_settings_of_the_environment() -> dict:
    """What trialsite/settings.py makes of TRUSTED_PROXY_COUNT=1 (read in a fresh process):
    every setting about proxies and the client address, whatever their names."""
    import json
    import subprocess
    import sys

    from tests.accounts.conftest import controlled_env

    script = ("import json; from django.conf import settings as s; print(json.dumps({n: getattr(s, n) for n in dir(s) "
              "if n.isupper() and any(w in n for w in ('IPWARE', 'PROXY', 'CLIENT_IP'))}, default=list))")
    done = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR,  # noqa: S603
                          env=controlled_env(TRUSTED_PROXY_COUNT="1"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout.strip().splitlines()[-1])
    values.pop("SECURE_PROXY_SSL_HEADER", None)
    return values


@pytest.fixture
def behind_one_proxy():
    values = proxy_settings_of_the_environment()
    with override_settings(**values):
        yield values


def test_client_address_behind_one_proxy_is_the_right_most_entry(behind_one_proxy):
    """The proxy appends the address it saw to X-Forwarded-For: a client that sends none arrives with one
    entry, a client that writes its own arrives with more; either way the right-most is the client."""
    factory = RequestFactory()
    spoofed = factory.post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert get_client_ip_address(spoofed) == "203.0.113.7"
    spoofed_twice = factory.post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 5.5.5.5, 203.0.113.7")
    assert get_client_ip_address(spoofed_twice) == "203.0.113.7"
    honest = factory.post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert get_client_ip_address(honest) == "203.0.113.7"


def test_honest_clients_behind_the_proxy_do_not_share_one_lock(behind_one_proxy, people):
    """Five clients behind the proxy, each failing once with its own user name, lock none of the others."""
    client = other_client("10.0.0.1")
    for n in range(LIMIT):
        post_password(client, f"guess-{n}", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{100 + n}")
    response = post_password(client, "coordinator", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert response.status_code == 302 and signed_in_user_id(client) == str(people["coordinator"].pk)
    assert None not in set(AccessAttempt.objects.values_list("ip_address", flat=True))


def test_without_a_proxy_the_forwarded_header_is_ignored():
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="203.0.113.8", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert get_client_ip_address(request) == "203.0.113.8"


def test_spoofed_forwarded_entries_do_not_escape_the_address_lock(behind_one_proxy, people):
    client = other_client("10.0.0.1")  # the proxy
    for n in range(settings.ADDRESS_FAILURE_LIMIT):
        # Each attempt claims another address on the left and another user name.
        response = post_password(client, f"guess-{n}", WRONG, HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.7")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    response = post_password(client, "coordinator", PASSWORD, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert response.status_code == 429 and signed_in_user_id(client) is None
    # Another client behind the same proxy is not locked out.
    response = post_password(client, "coordinator", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.30")
    assert response.status_code == 302 and signed_in_user_id(client) == str(people["coordinator"].pk)


def test_a_locked_account_cannot_sign_in_with_password_and_code(people):
    """The whole flow, as the issue states it: right password, then right code, on a locked account."""
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    fail_password(other_client("198.51.100.22"), "investigator", LIMIT)
    client = other_client("198.51.100.23")
    assert post_password(client, "investigator").status_code == 429
    post_code(client, code(secret))
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302
