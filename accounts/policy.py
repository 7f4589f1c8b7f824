"""Who must sign in with a second factor (settings.MFA_REQUIRED_ROLES), and whether a session did."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q

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
    return factor_state(user)[1]


def administrators():
    """Active users who administer the system (the ``administrator`` of MFA_REQUIRED_ROLES): staff,
    superusers and holders of the administrator role."""
    return get_user_model().objects.filter(
        Q(is_staff=True) | Q(is_superuser=True) | Q(memberships__role=ADMINISTRATOR), is_active=True,
    ).distinct()


def factor_state(user) -> tuple[bool, bool]:
    """``(has_totp, second_factor_required)`` for ``user`` in one query (asked on each request of a
    session that has not passed a second factor, see RequireSecondFactorMiddleware)."""
    roles = required_roles()
    required = ADMINISTRATOR in roles and (user.is_staff or user.is_superuser)
    row = get_user_model().objects.filter(pk=user.pk).annotate(
        totp=Exists(Authenticator.objects.filter(user=OuterRef("pk"), type=Authenticator.Type.TOTP)),
        role=Exists(Membership.objects.filter(user=OuterRef("pk"), role__in=roles)),
    ).values_list("totp", "role").first()
    if row is None:
        return False, required
    return row[0], required or row[1]


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def session_used_second_factor(request) -> bool:
    """True when this session's sign-in passed the second factor (allauth records each step)."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))
