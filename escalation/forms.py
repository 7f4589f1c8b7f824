from django import forms

from escalation.models import Signature


class SignForm(forms.Form):
    meaning = forms.ChoiceField(
        choices=[(Signature.Meaning.APPROVED, Signature.Meaning.APPROVED.label),
                 (Signature.Meaning.REJECTED, Signature.Meaning.REJECTED.label)],
        widget=forms.RadioSelect,
        label="Meaning of this signature",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                              help_text="Required when rejecting.")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-enter your password to sign (21 CFR 11.200).",
    )
