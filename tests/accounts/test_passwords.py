"""Passwords (issue 9, point 5): at least 12 characters, not common, not like the user's own details, not
all digits — in allauth's password change form and the e-mail reset's new-password form; the e-mail
reset works end to end; no password is ever written to a log record, the lockout tables, the audit
trail or any other table."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator, get_default_password_validators
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from pghistory.models import Events

from tests.accounts.conftest import decision_url, form_sign_in, other_client, post_password, signed_in_user_id
from tests.auth import fresh_code, sign_in, signed, totp_secret
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CHANGE = "/accounts/password/change/"
RESET = "/accounts/password/reset/"
GOOD = "Tide-Lantern-Quorum-48"


def a_common_password(min_length=12) -> str:
    """A password from Django's own list of common passwords, long enough to pass the length rule."""
    return next(p for p in sorted(CommonPasswordValidator().passwords) if len(p) >= min_length and not p.isdigit())


def change(client, new, old=PASSWORD, confirm=None):
    return client.post(CHANGE, {"oldpassword": old, "password1": new, "password2": new if confirm is None else confirm})


def field_errors(response, name="password1") -> str:
    return " ".join(response.context["form"].errors.get(name, []))


def test_validators_configured():
    names = [type(v).__name__ for v in get_default_password_validators()]
    assert names == ["UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"]
    assert get_default_password_validators()[1].min_length == 12


# --- the change form ----------------------------------------------------------------------------------

@pytest.fixture
def coordinator_client(people):
    return sign_in(other_client("198.51.100.80"), people["coordinator"])


@pytest.mark.parametrize(("new", "says"), [
    ("Xq7#mPz2!kL", "at least 12 characters"),           # 11 characters
    ("coordinator-1", "too similar"),                     # like the user name
    ("839274619283", "entirely numeric"),
])
def test_change_refuses_weak_passwords(people, coordinator_client, new, says):
    response = change(coordinator_client, new)
    assert response.status_code == 200
    assert says in field_errors(response)
    people["coordinator"].refresh_from_db()
    assert people["coordinator"].check_password(PASSWORD)


def test_change_refuses_a_common_password(people, coordinator_client):
    response = change(coordinator_client, a_common_password())
    assert "too common" in field_errors(response)
    people["coordinator"].refresh_from_db()
    assert people["coordinator"].check_password(PASSWORD)


def test_change_refuses_a_password_like_the_e_mail_or_name(people, coordinator_client):
    coordinator = people["coordinator"]
    coordinator.last_name = "Featherstonehaugh"
    coordinator.save()
    for similar in (coordinator.email, "Featherstonehaugh1"):
        response = change(coordinator_client, similar)
        assert response.status_code == 200 and "too similar" in field_errors(response), similar
    coordinator.refresh_from_db()
    assert coordinator.check_password(PASSWORD)


def test_change_accepts_twelve_characters_and_the_new_password_signs_in(people, coordinator_client):
    twelve = "Xq7#mPz2!kLw"
    response = change(coordinator_client, twelve)
    assert response.status_code == 302, field_errors(response)
    coordinator = people["coordinator"]
    coordinator.refresh_from_db()
    assert coordinator.check_password(twelve)
    client = other_client("198.51.100.81")
    assert post_password(client, "coordinator", PASSWORD).status_code == 200  # the old one no longer
    assert post_password(client, "coordinator", twelve).status_code == 302
    assert signed_in_user_id(client) == str(coordinator.pk)


def test_change_needs_the_current_password(people, coordinator_client):
    response = change(coordinator_client, GOOD, old="not-the-current-one")
    assert response.status_code == 200 and field_errors(response, "oldpassword")
    people["coordinator"].refresh_from_db()
    assert people["coordinator"].check_password(PASSWORD)


def test_wrong_current_passwords_on_the_change_form_count_toward_the_lockout(people, coordinator_client):
    """The change form checks a password too: guessing there is guessing at sign-in."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        change(coordinator_client, GOOD, old=f"guess-{n}")
    assert post_password(other_client("198.51.100.82"), "coordinator", PASSWORD).status_code == 429


# --- the e-mail reset ---------------------------------------------------------------------------------

def reset_link() -> str:
    bodies = [m.body for m in mail.outbox]
    links = [link for body in bodies for link in re.findall(r"https?://\S+/accounts/password/reset/key/\S+", body)]
    assert len(links) == 1, bodies
    return re.sub(r"^https?://[^/]+", "", links[0])


def test_reset_by_e_mail_end_to_end(people):
    investigator = people["investigator"]
    secret_before = totp_secret(investigator)
    browser = other_client("198.51.100.83")
    response = browser.post(RESET, {"email": investigator.email})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [[investigator.email]]

    form = browser.get(reset_link(), follow=True)
    assert form.status_code == 200 and "password1" in form.context["form"].fields
    key_url = form.redirect_chain[-1][0] if form.redirect_chain else reset_link()

    # The new-password form has the same rules.
    weak = browser.post(key_url, {"password1": "short-one", "password2": "short-one"})
    assert weak.status_code == 200 and "at least 12 characters" in field_errors(weak)
    common = a_common_password()
    assert "too common" in field_errors(browser.post(key_url, {"password1": common, "password2": common}))
    similar = "investigator-9"
    assert "too similar" in field_errors(browser.post(key_url, {"password1": similar, "password2": similar}))

    done = browser.post(key_url, {"password1": GOOD, "password2": GOOD})
    assert done.status_code == 302
    assert signed_in_user_id(browser) is None  # a reset does not sign in (the second factor is still asked)
    investigator.refresh_from_db()
    assert investigator.check_password(GOOD)

    # Sign in with it: password, then the code of the authenticator the user still has.
    client = other_client("198.51.100.84")
    assert post_password(client, "investigator", PASSWORD).status_code == 200
    assert form_sign_in(client, investigator, password=GOOD, otp=fresh_code(investigator)).status_code == 302
    assert signed_in_user_id(client) == str(investigator.pk)
    assert totp_secret(investigator) == secret_before
    # The link works once: used again (from another browser too), it sets nothing.
    for again in (browser, other_client("198.51.100.89")):
        page = again.get(reset_link(), follow=True)
        assert page.status_code == 200 and page.context["token_fail"]
        target = page.redirect_chain[-1][0] if page.redirect_chain else reset_link()
        again.post(target, {"password1": "Other-Lantern-Quorum-49", "password2": "Other-Lantern-Quorum-49"})
    investigator.refresh_from_db()
    assert investigator.check_password(GOOD)


def test_reset_for_an_unknown_address_says_nothing_different(people):
    known = other_client().post(RESET, {"email": people["coordinator"].email})
    unknown = other_client().post(RESET, {"email": "nobody-here@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    to_unknown = [m for m in mail.outbox if m.to == ["nobody-here@example.org"]]
    assert not any("/accounts/password/reset/key/" in m.body for m in to_unknown)


# --- no password anywhere -----------------------------------------------------------------------------

def all_table_rows_containing(text: str) -> list[str]:
    """Every table of the database, each row as text, searched for ``text``."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', [f"%{text}%"])  # noqa: S608
            if cursor.fetchone()[0]:
                hits.append(table)
    return hits


def test_no_password_in_logs_lockout_tables_audit_trail_or_any_table(people, pending_decision, caplog):
    for name in ("", "axes", "allauth", "accounts", "django", "escalation", "notifications"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    canary = f"Canary-{uuid.uuid4().hex[:10]}"
    wrong_sign_in, wrong_signature, wrong_old, new = (f"{canary}-{kind}" for kind in ("a", "b", "c", "d"))
    investigator, coordinator = people["investigator"], people["coordinator"]

    # A failed sign-in (password), then a failed code step.
    client = other_client("198.51.100.85")
    post_password(client, "investigator", wrong_sign_in)
    totp_secret(investigator)
    post_password(client, "investigator", PASSWORD)
    client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    # A failed signature (wrong password), and a correct one.
    signer = sign_in(other_client("198.51.100.86"), investigator)
    signer.post(decision_url(pending_decision), signed(investigator, meaning="approved", password=wrong_signature))
    signer.post(decision_url(pending_decision), signed(investigator, meaning="approved"))
    assert pending_decision.signatures.count() == 1
    # A failed and a successful password change.
    changer = sign_in(other_client("198.51.100.87"), coordinator)
    change(changer, new, old=wrong_old)
    assert change(changer, new).status_code == 302
    # Five failures, to get a lockout and its notice too.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_password(other_client("198.51.100.88"), "coordinator", wrong_sign_in)

    secrets = [wrong_sign_in, wrong_signature, wrong_old, new, PASSWORD]
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for record in caplog.records:
        text = " ".join([record.getMessage(), repr(record.args), repr(vars(record))])
        assert not any(secret in text for secret in secrets), record
    assert not any(canary in line for line in caplog.text.splitlines())

    axes_text = " ".join(
        str(row) for model in (AccessAttempt, AccessFailureLog, AccessLog) for row in model.objects.values()
    )
    assert AccessAttempt.objects.exists() and "password=" in axes_text
    assert not any(secret in axes_text for secret in secrets)

    events = " ".join(str(event.pgh_data) + str(event.pgh_context) for event in Events.objects.all())
    assert events and not any(secret in events for secret in secrets)

    for secret in secrets:
        assert all_table_rows_containing(secret) == [], secret
    sessions = " ".join(str(s.get_decoded()) for s in Session.objects.all())
    assert not any(secret in sessions for secret in secrets)
