"""Forms of the sign-in policy: the second-factor step that honours the lockout, and the signature's
credentials (user name, password, one-time code)."""

from __future__ import annotations

from allauth.account.forms import ChangePasswordForm, LoginForm, ResetPasswordForm, ResetPasswordKeyForm
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
        if is_locked(context.request, self.user.get_username()):
            raise ValidationError(LOCKED, code="locked")
        return super().clean_code()


class LockoutAwareAuthenticateForm(_RefuseWhileLocked, AuthenticateForm):
    pass


class LockoutAwareReauthenticateForm(_RefuseWhileLocked, ReauthenticateForm):
    pass


class _PlainLabels:
    """The application's wording on django-allauth's forms: sentence-case labels, no placeholders."""

    labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.pop("placeholder", None)
            if name in self.labels:
                field.label = self.labels[name]


class SignInForm(_PlainLabels, LoginForm):
    labels = {"login": "User name", "password": "Password"}


class PasswordResetRequestForm(_PlainLabels, ResetPasswordForm):
    labels = {"email": "Your e-mail address"}


class PasswordResetKeyForm(_PlainLabels, ResetPasswordKeyForm):
    labels = {"password1": "New password", "password2": "New password again"}


class LockoutAwareChangePasswordForm(_PlainLabels, ChangePasswordForm):
    """The current password on the change form is a credential too: a locked account cannot use the
    form, and each wrong current password counts toward the lockout (the middleware then signs the
    user out and shows the lockout page)."""

    labels = {"oldpassword": "Current password", "password1": "New password", "password2": "New password again"}

    def clean_oldpassword(self):
        request = context.request
        username = self.user.get_username()
        if is_locked(request, username):
            raise ValidationError(LOCKED, code="locked")
        try:
            return super().clean_oldpassword()
        except ValidationError:
            record_failure(request, username)
            raise


class OneTimeCodeInput(forms.TextInput):
    """A code is good once: after an error the field comes back empty, like a password's."""

    def format_value(self, value):
        return None


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
        widget=OneTimeCodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    signer_fields = ("username", "password", "otp_code")

    def __init__(self, *args, signer=None, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.policy import has_totp

        if signer is not None and not has_totp(signer):
            del self.fields["otp_code"]
        elif signer is not None:
            from accounts.signing import CODE_NEEDED

            self.fields["otp_code"].required = True
            self.fields["otp_code"].error_messages["required"] = CODE_NEEDED
        self._signer_help = {name: self.fields[name].help_text for name in self.signer_fields if name in self.fields}

    def _input_rules_for(self, name, field):
        """The input rules apply (when the form has them) but say nothing on the credentials' fields."""
        parent = getattr(super(), "_input_rules_for", None)
        if parent is not None:
            parent(name, field)
        if name in self._signer_help:
            field.help_text = self._signer_help[name]

    def signer_credentials(self) -> dict:
        """The credentials, popped from cleaned_data so they go nowhere else."""
        return {name: self.cleaned_data.pop(name, "") or "" for name in self.signer_fields}
