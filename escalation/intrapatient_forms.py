"""Forms of intra-patient dose escalation: the request (level, rationale, signature) and the other party's
signature (agree, or object with a comment). Both ask for the signer's user name and password, and the
one-time code where enrolled (21 CFR 11.200(a)), last, just above the button."""

from __future__ import annotations

from django import forms

from accounts.forms import SignerCredentialsMixin
from escalation.models import Signature
from trialsite.forms import CheckedForm

NO_SUBJECT_DATA = "The sponsor reads it: no initials, dates of birth or other identifying details."


class _Signing(SignerCredentialsMixin, CheckedForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields([name for name in self.fields if name not in self.signer_fields]
                          + [name for name in self.signer_fields if name in self.fields])


class IntraPatientRequestForm(_Signing):
    """Ask for a subject's move to a higher level; the request is signed (meaning AGREED) by the asker."""

    to_level = forms.ModelChoiceField(
        queryset=None, label="Move to dose level", empty_label="— choose a higher level —",
        error_messages={"invalid_choice": "Choose one of the levels of this trial above the subject's current level."},
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), min_length=10, label="Rationale",
        help_text=f"Why the subject should move to the higher level (at least 10 characters). {NO_SUBJECT_DATA}",
    )

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        # Every level of the trial: one that is not higher is refused with the reason (escalation_checks),
        # a level of another trial is not a choice.
        self.fields["to_level"].queryset = trial.dose_levels.order_by("rank")


class IntraPatientSignForm(_Signing):
    """The other party's signature on a pending request."""

    meaning = forms.ChoiceField(
        widget=forms.RadioSelect, label="Meaning of this signature",
        choices=[(m.value, m.label) for m in (Signature.Meaning.AGREED, Signature.Meaning.OBJECTED)],
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                              help_text=f"Required when you do not approve. {NO_SUBJECT_DATA}")
