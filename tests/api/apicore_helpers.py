"""Shared by the API core tests (apicore): a trial with one user per role, and an API client per user
authenticated by a knox token (as a service would be)."""

from __future__ import annotations

from datetime import date

from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import member
from tests.screening.helpers import eligible_screening
from tests.test_decision_safety import lvgn_with_people
from trials.models import Role

# Distinctive identity, so a match in a response is a leak, not a coincidence.
INITIALS = "QZX"
BIRTH = date(1957, 3, 14)


def api_people(site_a, site_b):
    """LVGN6051 + anlotinib: coordinator, investigator, monitor (site A), data manager, sponsor, coordinator of
    site B."""
    trial, people = lvgn_with_people(site_a, site_b)
    people["monitor"] = member(trial, Role.MONITOR, site_a, "m-lvgn")
    people["data_manager"] = member(trial, Role.DATA_MANAGER, None, "dm-lvgn")
    return trial, people


def token_client(user) -> APIClient:
    """An API client that authenticates with a fresh knox token of ``user`` (no session, no CSRF)."""
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def screened(trial, site, coordinator, **kwargs):
    return eligible_screening(trial, site, coordinator, initials=kwargs.pop("initials", INITIALS),
                              date_of_birth=kwargs.pop("date_of_birth", BIRTH), **kwargs)
