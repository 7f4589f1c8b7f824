"""The second factor (issue 9, point 2): investigators, sponsors and administrators (MFA_REQUIRED_ROLES)
enrol an authenticator on their first sign-in and can open nothing else before; enrolment shows the
recovery codes; a recovery code signs in once; a required user cannot remove the authenticator; the
TOTP secret is stored encrypted; ``manage.py demo_code`` prints a demo user's current code and nobody
else's."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from accounts import policy
from accounts.adapter import MFAAdapter
from tests.accounts.conftest import (
    ACTIVATE,
    AUTHENTICATE,
    decision_url,
    form_sign_in,
    other_client,
    post_code,
    post_password,
    signed_in_user_id,
)
from tests.auth import code, fresh_code, totp_secret
from tests.conftest import member
from tests.factories import PASSWORD, UserFactory
from trials.models import Role
from trialsite.demo import DEMO_USERS

pytestmark = pytest.mark.django_db

RECOVERY = "/accounts/2fa/recovery-codes/"


def totp_of(user):
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()


# --- the rule: accounts.policy ------------------------------------------------------------------------

def test_required_roles_default_and_normalised(settings):
    assert set(settings.MFA_REQUIRED_ROLES) == {"investigator", "sponsor", "administrator"}
    settings.MFA_REQUIRED_ROLES = [" Investigator ", "", "SPONSOR"]
    assert policy.required_roles() == {"investigator", "sponsor"}


def test_who_needs_a_second_factor(people, bat6005, staff_admin):
    assert policy.second_factor_required(people["investigator"])
    assert policy.second_factor_required(people["sponsor"])
    assert not policy.second_factor_required(people["coordinator"])
    # Staff and superusers count as administrators, as does the administrator role.
    assert policy.user_roles(staff_admin) == {"administrator"}
    assert policy.second_factor_required(staff_admin)
    role_admin = member(bat6005, Role.ADMINISTRATOR, None, "role-admin")
    assert policy.second_factor_required(role_admin)
    assert not policy.second_factor_required(UserFactory(username="no-role"))
    assert not policy.second_factor_required(AnonymousUser())


@override_settings(MFA_REQUIRED_ROLES=["coordinator"])
def test_required_roles_are_configurable(people):
    assert policy.second_factor_required(people["coordinator"])
    assert not policy.second_factor_required(people["investigator"])


# --- enrolment on the first sign-in -------------------------------------------------------------------

@pytest.mark.parametrize("role", ["investigator", "sponsor", "admin"])
def test_required_user_without_authenticator_is_sent_to_enrol_and_can_open_nothing_else(
        role, people, pending_decision, staff_admin):
    user = staff_admin if role == "admin" else people[role]
    client = other_client()
    response = post_password(client, user.get_username())
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(user.pk)
    pages = ["/", decision_url(pending_decision), reverse("notifications:list"), "/trials/", "/admin/",
             "/accounts/password/change/", "/api/"]
    for page in pages:
        got = client.get(page)
        assert got.status_code == 302 and got["Location"] == ACTIVATE, page
    # A form posted before enrolling runs nothing either.
    post = client.post(decision_url(pending_decision), {"meaning": "approved", "username": user.get_username(),
                                                        "password": PASSWORD})
    assert post.status_code == 302 and post["Location"] == ACTIVATE
    assert not pending_decision.signatures.exists()
    # The enrolment page itself opens.
    assert client.get(ACTIVATE).status_code == 200


def test_an_htmx_request_before_enrolling_moves_the_whole_page_to_the_enrolment(people):
    """htmx would swap the enrolment page into a part of the page: the answer is an HX-Redirect instead."""
    client = other_client()
    post_password(client, "investigator")
    htmx = client.get("/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204, htmx
    assert htmx["HX-Redirect"] == ACTIVATE


def test_coordinator_is_not_forced_to_enrol(people):
    client = other_client()
    assert post_password(client, "coordinator").status_code == 302
    assert client.get("/").status_code == 200
    assert totp_of(people["coordinator"]) is None


@override_settings(MFA_REQUIRED_ROLES=["coordinator"])
def test_configured_roles_decide_who_is_forced(people):
    coordinator = other_client("198.51.100.60")
    post_password(coordinator, "coordinator")
    response = coordinator.get("/")
    assert response.status_code == 302 and response["Location"] == ACTIVATE
    investigator = other_client("198.51.100.61")
    post_password(investigator, "investigator")
    assert investigator.get("/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_enrolling_with_a_valid_code_works_and_shows_the_recovery_codes(people):
    """Transactional: allauth reports the new authenticator after commit (transaction.on_commit), and
    the session counts as having passed the second factor only then."""
    investigator = people["investigator"]
    client = other_client()
    post_password(client, "investigator")
    page = client.get(ACTIVATE)
    secret = page.context["form"].secret
    # A wrong code does not enrol.
    wrong = client.post(ACTIVATE, {"code": "000000"})
    assert wrong.status_code == 200 and totp_of(investigator) is None

    response = client.post(ACTIVATE, {"code": code(secret)})
    assert response.status_code == 302
    assert totp_of(investigator) is not None
    assert decrypt(totp_of(investigator).data["secret"]) == secret

    # Then to the recovery codes, which are shown.
    codes_page = client.get(response["Location"])
    asked_again = codes_page.status_code == 302 and "reauthenticate" in codes_page["Location"]
    if asked_again:
        codes_page = client.post(codes_page["Location"], {"password": PASSWORD}, follow=True)
    assert codes_page.status_code == 200
    shown = codes_page.context["unused_codes"]
    stored = Authenticator.objects.get(user=investigator, type=Authenticator.Type.RECOVERY_CODES)
    assert shown == stored.wrap().get_unused_codes() and len(shown) >= 8
    assert all(value in codes_page.content.decode() for value in shown)
    # And the user goes on with the application.
    assert client.get("/").status_code == 200
    # Right after enrolling (password and a valid code seconds ago), the codes come without asking the
    # password again (accounts.adapter: "except the very first enrolment right after sign-in").
    assert not asked_again, "the recovery codes page asked for the password again right after enrolment"


@pytest.mark.django_db(transaction=True)
def test_enrolled_user_signs_in_with_password_and_code(people):
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    client = other_client()
    response = post_password(client, "investigator")
    assert response.status_code == 302 and response["Location"].startswith(AUTHENTICATE)
    assert signed_in_user_id(client) is None  # the password alone signs nobody in
    assert client.get("/").status_code == 302
    wrong = post_code(client, "000000")
    assert wrong.status_code == 200 and signed_in_user_id(client) is None
    done = post_code(client, code(secret))
    assert done.status_code == 302 and signed_in_user_id(client) == str(investigator.pk)
    assert client.get("/").status_code == 200
    # The same code again, at a new sign-in: refused (each code once).
    client.logout()
    post_password(client, "investigator")
    assert post_code(client, code(secret)).status_code == 200
    assert signed_in_user_id(client) is None


# --- recovery codes -----------------------------------------------------------------------------------

def test_a_recovery_code_signs_in_once(people):
    investigator = people["investigator"]
    totp_secret(investigator)
    recovery = RecoveryCodes.activate(investigator).instance
    first, second = recovery.wrap().get_unused_codes()[:2]

    client = other_client()
    assert form_sign_in(client, investigator, otp=first).status_code == 302
    assert signed_in_user_id(client) == str(investigator.pk)
    client.logout()

    again = other_client("198.51.100.62")
    post_password(again, "investigator")
    refused = post_code(again, first)
    assert refused.status_code == 200 and signed_in_user_id(again) is None
    assert post_code(again, second).status_code == 302
    assert signed_in_user_id(again) == str(investigator.pk)
    recovery.refresh_from_db()
    unused = recovery.wrap().get_unused_codes()
    assert first not in unused and second not in unused


# --- a required user keeps the second factor ----------------------------------------------------------

def deactivate_totp(client):
    """Post allauth's deactivation form, giving the password again when asked first."""
    response = client.post(reverse("mfa_deactivate_totp"), {})
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        client.post(response["Location"], {"password": PASSWORD})
        response = client.post(reverse("mfa_deactivate_totp"), {})
    return response


def test_required_user_cannot_deactivate_totp(people):
    investigator = people["investigator"]
    totp_secret(investigator)
    client = other_client()
    form_sign_in(client, investigator, otp=fresh_code(investigator))
    response = deactivate_totp(client)
    assert response.status_code == 200
    assert "You cannot deactivate" in response.content.decode()
    assert totp_of(investigator) is not None
    assert client.get("/").status_code == 200  # still signed in with the factor


def test_a_user_whose_role_needs_none_can_deactivate_totp(people):
    coordinator = people["coordinator"]
    totp_secret(coordinator)
    client = other_client()
    form_sign_in(client, coordinator, otp=fresh_code(coordinator))
    deactivate_totp(client)
    assert totp_of(coordinator) is None


def test_adapter_lets_only_not_required_users_delete_an_authenticator(people):
    coordinator, investigator = people["coordinator"], people["investigator"]
    totp_secret(coordinator)
    totp_secret(investigator)
    adapter = MFAAdapter()
    assert not adapter.can_delete_authenticator(totp_of(investigator))
    assert adapter.can_delete_authenticator(totp_of(coordinator))


# --- encrypted at rest --------------------------------------------------------------------------------

def test_totp_secret_is_encrypted_at_rest(people):
    investigator = people["investigator"]
    secret = generate_totp_secret()
    TOTP.activate(investigator, secret)
    stored = totp_of(investigator).data["secret"]
    assert stored != secret and secret not in stored
    assert decrypt(stored) == secret
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data::text FROM {Authenticator._meta.db_table} WHERE user_id = %s",  # noqa: S608
                       [investigator.pk])
        rows = [row[0] for row in cursor.fetchall()]
    assert rows and not any(secret in row for row in rows)


def test_recovery_code_seed_is_encrypted_at_rest(people):
    investigator = people["investigator"]
    totp_secret(investigator)
    recovery = RecoveryCodes.activate(investigator).instance
    plain = recovery.wrap().get_unused_codes()
    raw = str(Authenticator.objects.get(pk=recovery.pk).data)
    assert not any(value in raw for value in plain)
    # A seed in the clear would be hex; the stored one is a Fernet token.
    assert raw.count("gAAAA") >= 1


# --- demo_code ----------------------------------------------------------------------------------------

@pytest.fixture
def demo(db):
    call_command("load_protocols", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())


def test_demo_code_prints_the_current_code_of_a_demo_user(demo):
    investigator = next(u for u in DEMO_USERS if u["username"] == "investigator")
    authenticator = Authenticator.objects.get(type="totp", user__username="investigator")
    assert decrypt(authenticator.data["secret"]) == investigator["totp_secret"]
    out, err = StringIO(), StringIO()
    call_command("demo_code", "investigator", stdout=out, stderr=err)
    printed = out.getvalue().strip()
    assert re.fullmatch(r"\d{6}", printed)
    assert "valid for about" in err.getvalue()
    # The printed code signs the demo user in through the forms.
    client = other_client()
    response = post_password(client, "investigator", investigator["password"])
    assert response["Location"].startswith(AUTHENTICATE)
    assert post_code(client, printed).status_code == 302
    assert signed_in_user_id(client) == str(authenticator.user_id)
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("username", ["coordinator", "nobody", "site-admin"])
def test_demo_code_refuses_users_who_are_not_demo_users_with_a_second_factor(demo, username):
    with pytest.raises(CommandError, match="username"):
        call_command("demo_code", username, stdout=StringIO(), stderr=StringIO())


def test_demo_code_refuses_a_demo_user_with_their_own_authenticator(demo):
    user = Authenticator.objects.get(type="totp", user__username="sponsor").user
    Authenticator.objects.filter(user=user).delete()
    TOTP.activate(user, generate_totp_secret())
    out = StringIO()
    with pytest.raises(CommandError, match="no longer uses the published demo secret"):
        call_command("demo_code", "sponsor", stdout=out, stderr=StringIO())
    assert out.getvalue() == ""


def test_demo_code_without_seed_demo_says_so(db):
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_code", "investigator", stdout=StringIO(), stderr=StringIO())
