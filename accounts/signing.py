"""Checking a signer's credentials at each signing (21 CFR 11.200(a)(1)(i): both components, user name
and password, and the one-time code where the signer has enrolled one).

The credentials must be the signed-in user's own: another person's user name is refused without
checking its password (the signing form is no oracle for other accounts). Every failure — a user name
that is not the signer's, a wrong password, a wrong code — counts toward the signer's lockout; a
locked-out signer cannot sign (:class:`SignerLocked`), even with correct credentials; the request is then
marked locked out, so AxesMiddleware answers it with the lockout page and signs the user out.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.lockout import is_locked, record_failure

NOT_YOURS = "This is not your user name. Sign with your own user name and password."
WRONG_PASSWORD = "The password is not correct."  # noqa: S105 - a message, not a secret
CODE_NEEDED = "Enter the 6-digit code your authenticator app shows now."
WRONG_CODE = "The one-time code is not correct, or was used already. Enter the code shown now."


class SignerLocked(PermissionDenied):
    """Too many failed credentials: the account is locked out; nothing is signed."""

    def __init__(self, message: str = ""):
        super().__init__(message or "Your account is locked after too many failed attempts; nothing was signed. "
                                    "An administrator can lift the lock.")


def verify_signer(*, request, user, username: str, password: str, otp_code: str = "") -> None:
    """Raise ``ValidationError`` (by field) unless ``username``/``password`` (and ``otp_code``, when
    ``user`` has TOTP) are ``user``'s own; :class:`SignerLocked` when the account is locked out."""
    own = user.get_username()
    if request is None:
        raise ValueError("verify_signer needs the request: failures are counted per client address")
    if is_locked(request, own):
        raise SignerLocked()
    if (username or "").strip() != own:
        if record_failure(request, own):
            raise SignerLocked()
        raise ValidationError({"username": NOT_YOURS})
    authenticated = authenticate(request, username=own, password=password or "")
    if getattr(request, "axes_locked_out", False):
        raise SignerLocked()
    if authenticated is None or authenticated.pk != user.pk:
        raise ValidationError({"password": WRONG_PASSWORD})
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is not None:
        code = (otp_code or "").strip().replace(" ", "")
        if not code:
            raise ValidationError({"otp_code": CODE_NEEDED})
        # TOTP only: a recovery code gets a user in to re-enrol, it does not sign.
        if not totp.wrap().validate_code(code):
            if record_failure(request, own):
                raise SignerLocked()
            raise ValidationError({"otp_code": WRONG_CODE})
    # As at sign-in (AXES_RESET_ON_SUCCESS): the failures before a correct signing no longer count.
    AxesProxyHandler.reset_attempts(username=own, ip_address=getattr(request, "axes_ip_address", None))
