"""Forms of the sign-in policy: the second-factor step that honours the lockout, and the signature's
credentials (user name, password, one-time code)."""

from __future__ import annotations

from allauth.account.forms import ChangePasswordForm
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from django import forms
from django.core.exceptions import ValidationError

from accounts.lockout import is_locked, record_failure

LOCKED = ("This account is locked after too many failed attempts. An administrator can lift the lock; "
          "otherwise try again later.")


class _RefuseWhileLocked:
    """A correct code does not get a locked-out account in: the lock is checked before the code."""

    def clean_code(self):
        request = context.request
        if is_locked(request, self.user.get_username()):
            request.axes_locked_out = True
            raise ValidationError(LOCKED, code="locked")
        return super().clean_code()


class LockoutAwareAuthenticateForm(_RefuseWhileLocked, AuthenticateForm):
    pass


class LockoutAwareReauthenticateForm(_RefuseWhileLocked, ReauthenticateForm):
    pass


class LockoutAwareChangePasswordForm(ChangePasswordForm):
    """The current password on the change form is a credential too: a locked account cannot use the
    form, and each wrong current password counts toward the lockout (the middleware then signs the
    user out and shows the lockout page)."""

    def clean_oldpassword(self):
        request = context.request
        username = self.user.get_username()
        if is_locked(request, username):
            request.axes_locked_out = True
            raise ValidationError(LOCKED, code="locked")
        try:
            return super().clean_oldpassword()
        except ValidationError:
            if record_failure(request, username):
                request.axes_locked_out = True
            raise


class SignerCredentialsMixin(forms.Form):
    """Both components of an electronic signature (21 CFR 11.200(a)), asked at every signing. Add to a
    signing form; :func:`accounts.signing.verify_signer` checks them."""

    username = forms.CharField(
        max_length=150, label="Your user name",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none",
                                      "spellcheck": "false"}),
    )
    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_code = forms.CharField(
        required=False, max_length=12, label="One-time code",
        help_text="The 6-digit code your authenticator app shows now.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    signer_fields = ("username", "password", "otp_code")

    def __init__(self, *args, signer=None, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.policy import has_totp

        if signer is not None and not has_totp(signer):
            del self.fields["otp_code"]

    def signer_credentials(self) -> dict:
        """The credentials, popped from cleaned_data so they go nowhere else."""
        return {name: self.cleaned_data.pop(name, "") or "" for name in self.signer_fields}
