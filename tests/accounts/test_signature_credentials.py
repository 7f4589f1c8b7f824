"""A signature's credentials (issue 9, point 3; 21 CFR 11.200(a)): the signer's own user name and password,
and the current one-time code where enrolled, at each signing. Another user's credentials, a wrong
password, a missing, wrong or already used code sign nothing and (except a missing code) count toward
the signer's lockout; five failures lock the signer out, sign them out, and sign nothing."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from accounts import signing as signing_rules
from accounts.signing import SignerLocked, verify_signer
from escalation.models import Signature
from tests.accounts.conftest import (
    decision_url,
    form_sign_in,
    other_client,
    post_password,
    signed_in_user_id,
)
from tests.auth import code, fresh_code, sign_in, signed, totp_secret
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT


def failures(username) -> int:
    return sum(AccessAttempt.objects.filter(username=username).values_list("failures_since_start", flat=True))


def request_from(address="198.51.100.40"):
    return RequestFactory().post("/escalation/", REMOTE_ADDR=address)


def errors_of(response) -> dict:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


# --- the rule: accounts.signing.verify_signer ---------------------------------------------------------

def test_verify_signer_accepts_own_credentials_and_code(people):
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                  otp_code=code(secret))
    assert failures("investigator") == 0


def test_verify_signer_refuses_another_users_credentials_and_counts_it_for_the_signer(people):
    investigator = people["investigator"]
    with pytest.raises(ValidationError) as excinfo:
        verify_signer(request=request_from(), user=investigator, username="coordinator", password=PASSWORD,
                      otp_code=fresh_code(investigator))
    assert excinfo.value.message_dict == {"username": [signing_rules.NOT_YOURS]}
    assert failures("investigator") == 1
    assert failures("coordinator") == 0


def test_verify_signer_refuses_a_wrong_password(people):
    investigator = people["investigator"]
    with pytest.raises(ValidationError) as excinfo:
        verify_signer(request=request_from(), user=investigator, username="investigator", password="wrong-one",
                      otp_code=fresh_code(investigator))
    assert excinfo.value.message_dict == {"password": [signing_rules.WRONG_PASSWORD]}
    assert failures("investigator") == 1


def test_verify_signer_needs_the_code_when_enrolled(people):
    investigator = people["investigator"]
    totp_secret(investigator)
    for missing in ("", "   "):
        with pytest.raises(ValidationError) as excinfo:
            verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                          otp_code=missing)
        assert excinfo.value.message_dict == {"otp_code": [signing_rules.CODE_NEEDED]}


def test_verify_signer_refuses_a_wrong_or_used_code(people):
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    with pytest.raises(ValidationError) as excinfo:
        verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                      otp_code="000000" if code(secret) != "000000" else "111111")
    assert excinfo.value.message_dict == {"otp_code": [signing_rules.WRONG_CODE]}
    assert failures("investigator") == 1

    used = fresh_code(investigator)
    verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                  otp_code=used)
    with pytest.raises(ValidationError) as excinfo:
        verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                      otp_code=used)
    assert excinfo.value.message_dict == {"otp_code": [signing_rules.WRONG_CODE]}


def test_verify_signer_takes_no_recovery_code(people):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    investigator = people["investigator"]
    totp_secret(investigator)
    recovery = RecoveryCodes.activate(investigator).instance.wrap().get_unused_codes()[0]
    with pytest.raises(ValidationError):
        verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                      otp_code=recovery)


def test_verify_signer_without_an_authenticator_asks_no_code(people):
    coordinator = people["coordinator"]
    verify_signer(request=request_from(), user=coordinator, username="coordinator", password=PASSWORD)


def test_verify_signer_locks_out_after_the_limit_and_then_refuses_the_right_credentials(people):
    investigator = people["investigator"]
    request = request_from()
    for _ in range(LIMIT - 1):
        with pytest.raises(ValidationError):
            verify_signer(request=request_from(), user=investigator, username="investigator", password="nope")
    with pytest.raises(SignerLocked):
        verify_signer(request=request, user=investigator, username="investigator", password="nope")
    with pytest.raises(SignerLocked):
        verify_signer(request=request_from("198.51.100.41"), user=investigator, username="investigator",
                      password=PASSWORD, otp_code=fresh_code(investigator))


def test_verify_signer_needs_the_request(people):
    with pytest.raises(ValueError, match="request"):
        verify_signer(request=None, user=people["coordinator"], username="coordinator", password=PASSWORD)


def test_a_correct_signing_clears_earlier_failures(people):
    investigator = people["investigator"]
    for _ in range(LIMIT - 1):
        with pytest.raises(ValidationError):
            verify_signer(request=request_from(), user=investigator, username="investigator", password="nope")
    verify_signer(request=request_from(), user=investigator, username="investigator", password=PASSWORD,
                  otp_code=fresh_code(investigator))
    assert failures("investigator") == 0


# --- through the decision's sign form -----------------------------------------------------------------

@pytest.fixture
def investigator_client(people):
    client = other_client("198.51.100.42")
    sign_in(client, people["investigator"])
    return client


def test_another_users_user_name_and_password_sign_nothing(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    response = investigator_client.post(decision_url(pending_decision), signed(
        investigator, meaning="approved", username="coordinator", password=PASSWORD))
    assert response.status_code == 422
    assert errors_of(response) == {"username": [signing_rules.NOT_YOURS]}
    assert not Signature.objects.exists()
    pending_decision.refresh_from_db()
    assert pending_decision.status == "pending"
    assert failures("investigator") == 1 and failures("coordinator") == 0
    # The password is never sent back into the page.
    assert PASSWORD not in response.content.decode()


def test_wrong_password_signs_nothing(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    response = investigator_client.post(decision_url(pending_decision), signed(
        investigator, meaning="approved", password="not-my-password"))
    assert response.status_code == 422
    assert errors_of(response) == {"password": [signing_rules.WRONG_PASSWORD]}
    assert not Signature.objects.exists() and failures("investigator") == 1
    assert "not-my-password" not in response.content.decode()


def test_missing_code_signs_nothing(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    data = signed(investigator, meaning="approved")
    del data["otp_code"]
    response = investigator_client.post(decision_url(pending_decision), data)
    assert response.status_code == 422
    assert errors_of(response) == {"otp_code": [signing_rules.CODE_NEEDED]}
    assert not Signature.objects.exists()


def test_wrong_code_signs_nothing(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    wrong = "000000" if code(secret) != "000000" else "111111"
    response = investigator_client.post(decision_url(pending_decision), signed(
        investigator, meaning="approved", otp_code=wrong))
    assert response.status_code == 422
    assert errors_of(response) == {"otp_code": [signing_rules.WRONG_CODE]}
    assert not Signature.objects.exists() and failures("investigator") == 1


def test_the_code_used_to_sign_in_does_not_sign(people, pending_decision):
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    client = other_client("198.51.100.43")
    used = code(secret)
    assert form_sign_in(client, investigator, otp=used).status_code == 302
    assert signed_in_user_id(client) == str(investigator.pk)
    response = client.post(decision_url(pending_decision), signed(investigator, meaning="approved", otp_code=used))
    assert response.status_code == 422
    assert errors_of(response) == {"otp_code": [signing_rules.WRONG_CODE]}
    assert not Signature.objects.exists()


def test_correct_credentials_sign_with_the_manifestation(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    url = decision_url(pending_decision)
    response = investigator_client.post(url, signed(investigator, meaning="approved"))
    assert response.status_code == 302 and response["Location"] == url
    signature = Signature.objects.get()
    assert signature.signer == investigator and signature.decision == pending_decision
    assert signature.printed_name == investigator.get_full_name() and signature.printed_name.strip()
    assert signature.meaning == Signature.Meaning.APPROVED and signature.signed_at is not None
    pending_decision.refresh_from_db()
    assert pending_decision.status == "approved"
    page = investigator_client.get(url).content.decode()
    assert signature.printed_name in page
    assert Signature.Meaning.APPROVED.label in page


def test_the_form_asks_user_name_password_and_code(people, pending_decision, investigator_client):
    page = investigator_client.get(decision_url(pending_decision)).content.decode()
    assert 'name="username"' in page and 'autocomplete="username"' in page
    assert 'name="password"' in page and 'type="password"' in page
    assert 'name="otp_code"' in page and 'autocomplete="one-time-code"' in page


def test_five_failures_lock_sign_out_and_sign_nothing(people, pending_decision, investigator_client):
    investigator = people["investigator"]
    url = decision_url(pending_decision)
    kinds = [
        {"username": "coordinator"},
        {"password": "wrong-1"},
        {"otp_code": "000000" if code(totp_secret(investigator)) != "000000" else "111111"},
        {"password": "wrong-2"},
    ]
    for overrides in kinds:
        assert investigator_client.post(url, signed(investigator, meaning="approved", **overrides)).status_code == 422
    assert signed_in_user_id(investigator_client) == str(investigator.pk)
    last = investigator_client.post(url, signed(investigator, meaning="approved", password="wrong-3"))
    assert last.status_code == 429 and "Account locked" in last.content.decode()
    assert signed_in_user_id(investigator_client) is None
    assert not Signature.objects.exists()
    # Signed out: the right credentials now go to the sign-in page and sign nothing.
    again = investigator_client.post(url, signed(investigator, meaning="approved"))
    assert again.status_code == 302 and again["Location"].startswith("/login/")
    assert not Signature.objects.exists()
    # And the account is locked for sign-in.
    assert post_password(other_client("198.51.100.44"), "investigator").status_code == 429


def test_lockout_of_an_htmx_signature_moves_the_whole_page_to_the_lockout_page(
        people, pending_decision, investigator_client):
    investigator = people["investigator"]
    url = decision_url(pending_decision)
    for n in range(LIMIT):
        response = investigator_client.post(url, signed(investigator, meaning="approved", password=f"wrong-{n}"),
                                            HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")
    assert response.status_code == 204 and response["HX-Redirect"] == "/accounts/locked/"
    assert signed_in_user_id(investigator_client) is None
    assert not Signature.objects.exists()
    locked = investigator_client.get("/accounts/locked/")
    assert locked.status_code == 200 and "Account locked" in locked.content.decode()


def test_a_locked_signer_cannot_sign_with_the_right_credentials(people, pending_decision, investigator_client):
    """Locked elsewhere (failed sign-ins from another address) while signed in: the signature is refused."""
    investigator = people["investigator"]
    for _ in range(LIMIT):
        post_password(other_client("198.51.100.45"), "investigator", "wrong")
    response = investigator_client.post(decision_url(pending_decision), signed(investigator, meaning="approved"))
    assert response.status_code == 429
    assert not Signature.objects.exists()
    assert signed_in_user_id(investigator_client) is None
