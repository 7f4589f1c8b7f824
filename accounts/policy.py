"""Who must sign in with a second factor (settings.MFA_REQUIRED_ROLES), and whether a session did."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings

from trials.models import Membership, Role

ADMINISTRATOR = Role.ADMINISTRATOR.value


def required_roles() -> set[str]:
    return {role.strip().lower() for role in settings.MFA_REQUIRED_ROLES if role.strip()}


def user_roles(user) -> set[str]:
    """Every role the user holds in any trial; staff and superusers also count as administrators."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True).distinct())
    if user.is_staff or user.is_superuser:
        roles.add(ADMINISTRATOR)
    return roles


def second_factor_required(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user_roles(user) & required_roles())


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def session_used_second_factor(request) -> bool:
    """True when this session's sign-in passed the second factor (allauth records each step)."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))
