"""Shared fixtures: the three protocols loaded, two sites, one user per role."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import MembershipFactory, SiteFactory, UserFactory
from trials.models import Role, Trial
from trials.protocol_file import read_protocol
from trials.services import protocol_load
from trialsite.celery import app as celery_app


@pytest.fixture(scope="session", autouse=True)
def _private_celery_queue():
    """Each test session has its own queue on the shared Redis, so runs never see each other's tasks."""
    queue = f"trialsite-test-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_default_queue = queue
    yield queue


@pytest.fixture(scope="session", autouse=True)
def _collected_static(tmp_path_factory):
    """Static files collected as in production (hashed names, served by WhiteNoise), so pages render
    and the live server serves CSS and htmx exactly as the deployed application does."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    override = override_settings(STATIC_ROOT=tmp_path_factory.mktemp("staticfiles"))
    override.enable()
    call_command("collectstatic", "--noinput", verbosity=0)
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every test makes users (``people``: four) and signs them in, and a PBKDF2 hash costs about a second on a
    busy CI machine: a fast hasher keeps the suite quick. Which hasher stores a password changes no rule tested
    here (production keeps Django's default, settings.PASSWORD_HASHERS unset)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests start from a flushed database (pytest-django runs them after the others and
    each one flushes every table at its end), so the CTCAE terms the data migration loads are put back
    first, as the migration left them."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        from subjects.ctcae import load
        from subjects.models import CtcaeTerm

        load(CtcaeTerm)


def protocol_definition(code: str):
    """The parsed protocol file of trial ``code`` (protocols/*.toml)."""
    path = next(p for p in (Path(settings.BASE_DIR) / "protocols").glob("*.toml") if read_protocol(p).code == code)
    return read_protocol(path)


def load_trial(code: str) -> Trial:
    trial, _ = protocol_load(definition=protocol_definition(code))
    return trial


@pytest.fixture
def bat6005(db) -> Trial:
    return load_trial("BAT6005")


@pytest.fixture
def escalated(bat6005):
    """BAT6005 after its first decision: cohort 1 (10 mg, 1 subject) decided, cohort 2 (30 mg, 3) open."""
    from escalation.models import Cohort

    levels = {level.label: level for level in bat6005.dose_levels.all()}
    first = bat6005.cohorts.get(number=1)
    first.capacity, first.status = 1, Cohort.Status.DECIDED
    first.save()
    Cohort.objects.create(trial=bat6005, number=2, dose_level=levels["30 mg"], capacity=3, part=first.part)
    return bat6005


@pytest.fixture
def site_a(db):
    return SiteFactory(code="SITE-A", name="Site A")


@pytest.fixture
def site_b(db):
    return SiteFactory(code="SITE-B", name="Site B")


def member(trial, role, site=None, username=None, **extra):
    user = UserFactory(username=username or f"{role}-{site.code if site else 'trial'}-{trial.code}".lower())
    MembershipFactory(user=user, trial=trial, site=site, role=role, **extra)
    if site is not None:
        trial.sites.add(site)
    return user


@pytest.fixture
def people(bat6005, site_a, site_b):
    """One user per role at BAT6005 site A, plus a coordinator at site B."""
    return {
        "coordinator": member(bat6005, Role.COORDINATOR, site_a, "coordinator"),
        "investigator": member(bat6005, Role.INVESTIGATOR, site_a, "investigator", principal=True),
        "sponsor": member(bat6005, Role.SPONSOR, None, "sponsor"),
        "coordinator_b": member(bat6005, Role.COORDINATOR, site_b, "coordinator-b"),
    }


@pytest.fixture
def login(client):
    """Sign a user in on the test client as the sign-in flow leaves a session (tests/auth.py)."""
    from tests.auth import sign_in

    def _login(user):
        return sign_in(client, user)

    return _login
