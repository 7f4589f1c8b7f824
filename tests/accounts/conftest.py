"""What the sign-in tests (issue 9) share: a clean cache per test (lockout reports and used one-time codes
live there), a decision waiting for the investigator's signature, and the sign-in forms posted as a
browser posts them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from escalation.services import decision_recommend
from subjects.services import dose_record, subject_enrol
from tests.factories import PASSWORD, UserFactory
from tests.screening.helpers import predose

LOGIN = "/login/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def _clean_cache():
    """The cache (Redis) outlives each test's database transaction: a lockout already reported, or a
    one-time code already used, must not leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def pending_decision(people, bat6005, site_a):
    """BAT6005 level 1: one subject dosed 30 days ago (window closed, no toxicity) → a decision waiting
    for the investigator's signature (as tests/test_signature_lifecycle.py makes it)."""
    user = people["coordinator"]
    subject = subject_enrol(trial=bat6005, site=site_a, user=user, initials="AA",
                            date_of_birth=date(1960, 1, 1), sex="F")
    administered = timezone.now() - timedelta(days=30)
    predose(subject, administered, user)
    dose_record(subject=subject, drug=bat6005.drugs.order_by("order").first(), cycle=1, day=1, dose=10,
                user=user, administered_at=administered)
    decision = decision_recommend(trial=bat6005)
    assert decision is not None and decision.status == "pending"
    return decision


def decision_url(decision) -> str:
    return reverse("escalation:decision", args=[decision.pk])


@pytest.fixture
def staff_admin(db):
    """A site administrator (staff and superuser), as seed_demo makes one."""
    return UserFactory(username="site-admin", is_staff=True, is_superuser=True)


def other_client(address: str = "198.51.100.20") -> Client:
    """A browser at another address (the client address is locked out too, separately)."""
    return Client(REMOTE_ADDR=address)


def signed_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def post_password(client, username: str, password: str = PASSWORD, **extra):
    """The sign-in form's first step, as the browser posts it."""
    return client.post(LOGIN, {"login": username, "password": password}, **extra)


def post_code(client, value: str, **extra):
    """The second-factor step's form (TOTP or recovery code)."""
    return client.post(AUTHENTICATE, {"code": value}, **extra)


def form_sign_in(client, user, otp: str | None = None, password: str = PASSWORD):
    """Sign in through the forms: the password, then (when asked) the one-time code. Returns the last
    response."""
    response = post_password(client, user.get_username(), password)
    if response.status_code == 302 and response["Location"].startswith(AUTHENTICATE):
        assert otp is not None, "the sign-in asked for a one-time code"
        response = post_code(client, otp)
    return response


# --- settings as a fresh process reads them from its environment --------------------------------------

CONTROLLED_PREFIXES = ("DJANGO_", "AXES_", "SESSION_", "MFA_", "PASSWORD_", "EMAIL_", "REAUTHENTICATION_")


def controlled_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without any of the settings' own variables, plus ``overrides``
    (``None`` removes a variable); DATABASE_URL and REDIS_URL are kept (the test database's)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(CONTROLLED_PREFIXES)}
    env["DJANGO_SETTINGS_MODULE"] = "trialsite.settings"
    env["EMAIL_URL"] = "memorymail://"
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def settings_in_subprocess(names, **env):
    """The values of settings ``names`` (JSON-able, timedeltas in seconds) in a fresh Python process."""
    import json
    import subprocess
    import sys

    from django.conf import settings

    script = (
        "import json, datetime\n"
        "from django.conf import settings\n"
        f"names = {list(names)!r}\n"
        "def plain(v):\n"
        "    return v.total_seconds() if isinstance(v, datetime.timedelta) else v\n"
        "print(json.dumps({n: plain(getattr(settings, n, None)) for n in names}, default=str))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=controlled_env(**env),  # noqa: S603
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
