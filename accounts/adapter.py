"""django-allauth adapters: no sign-up; first enrolment without re-authentication; second factors
encrypted at rest and not removable by users whose role requires one."""

from __future__ import annotations

import base64
import hashlib

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accounts import policy


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are made by a site's administrators (admin › Users), never by sign-up."""

    def is_open_for_signup(self, request):
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Changing a second factor asks for the password again, except the very first enrolment right
        after sign-in: a user with no authenticator yet has nothing such a step would protect."""
        user = getattr(self.request, "user", None)
        if app == "allauth.mfa" and user is not None and user.is_authenticated \
                and not Authenticator.objects.filter(user=user).exists():
            return False
        return super().is_reauthentication_required(app=app, **kwargs)


def _fernet() -> Fernet:
    key = settings.MFA_SECRET_KEY or hashlib.sha256(f"trialsite-mfa:{settings.SECRET_KEY}".encode()).digest()
    if isinstance(key, str):
        key = hashlib.sha256(key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted (Fernet, key MFA_SECRET_KEY, else derived
    from SECRET_KEY); a user whose role requires a second factor cannot remove it (an administrator
    can, in the admin, to let the user enrol a new one)."""

    def encrypt(self, text: str) -> str:
        return _fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        try:
            return _fernet().decrypt(encrypted_text.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "A stored second-factor secret cannot be decrypted: MFA_SECRET_KEY (or SECRET_KEY) changed. "
                "Restore the key, or have an administrator reset the user's authenticator."
            ) from exc

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        return not policy.second_factor_required(authenticator.user)
