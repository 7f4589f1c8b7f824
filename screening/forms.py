from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from screening.models import ScreeningRecord
from trialrules import eligibility
from trialsite.edit_checks import ConfirmUnusualMixin
from trialsite.forms import CheckedForm, DateInput


class ScreeningStartForm(ConfirmUnusualMixin, CheckedForm):
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    initials = forms.RegexField(
        regex=r"^[A-Za-z]{2,4}$", max_length=4,
        error_messages={"invalid": "Enter 2 to 4 letters, e.g. ABC."},
        help_text="2–4 letters. Site staff only: sponsors never see them.",
    )
    date_of_birth = forms.DateField(widget=DateInput())
    sex = forms.ChoiceField(choices=[("", "—"), ("F", "Female"), ("M", "Male")])
    consent_form_version = forms.CharField(max_length=40, label="ICF version", help_text="e.g. v2.1 of 12 Jan 2026")
    consent_date = forms.DateField(widget=DateInput(), label="Consent signed on")
    consent_obtained_by = forms.ModelChoiceField(queryset=None, label="Consent obtained by", empty_label=None)

    def __init__(self, *args, sites, staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["consent_obtained_by"].queryset = staff
        self.fields["consent_obtained_by"].label_from_instance = lambda u: u.get_full_name() or u.username

    def clean_consent_date(self):
        value = self.cleaned_data["consent_date"]
        if value > timezone.localdate():
            raise forms.ValidationError("The consent date cannot be in the future.")
        return value


def staff_for(trial, sites):
    return get_user_model().objects.filter(memberships__trial=trial, memberships__site__in=sites).distinct().order_by(
        "last_name", "username")


class EligibilityValuesForm(ConfirmUnusualMixin, CheckedForm):
    """The screening values the trial's criteria read; numbers with their unit (SI first)."""

    assessed_on = forms.DateField(widget=DateInput(), label="Screening assessments on",
                                  help_text="The first dose must follow within the screening window (day −28 to 0).")

    def __init__(self, *args, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_names = []
        for spec in eligibility.inputs_needed(criteria):
            name = spec.name
            self.input_names.append(name)
            unit = spec.units[0] if spec.units else ""
            if spec.kind == "number":
                self.fields[name] = forms.DecimalField(
                    required=False, min_value=0, max_digits=9, decimal_places=3,
                    label=f"{spec.label}" + (f" ({unit})" if len(spec.units) == 1 else ""),
                    widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))
                if len(spec.units) > 1:
                    self.fields[f"{name}_unit"] = forms.ChoiceField(
                        choices=[(u, u) for u in spec.units], initial=spec.units[0], label=f"{spec.label} unit")
            elif spec.kind == "choice":
                choices = spec.choices or tuple((h, h) for h in eligibility.histologies(criteria))
                if name == "histology":
                    choices = (*choices, ("other", "Other"))
                self.fields[name] = forms.ChoiceField(choices=[("", "—"), *choices], required=False, label=spec.label)
            elif spec.kind == "multi":
                self.fields[name] = forms.MultipleChoiceField(choices=spec.choices, required=False, label=spec.label,
                                                              widget=forms.CheckboxSelectMultiple)
            elif spec.kind == "bool":
                self.fields[name] = forms.BooleanField(required=False, label=spec.label)

    def values(self) -> dict:
        data = self.cleaned_data
        out = {}
        for name in self.input_names:
            value = data.get(name)
            if value in (None, "", []):
                continue
            out[name] = value
            if f"{name}_unit" in data:
                out[f"{name}_unit"] = data[f"{name}_unit"]
        return out


class JudgementForm(CheckedForm):
    """Criteria a person judges: met / not met / not yet decided. ``reserved`` maps the codes of the
    judgements this user may not record (the protocol reserves them for the investigator) to the reason:
    those boxes are shown disabled with it, and keep the recorded value."""

    def __init__(self, *args, criteria, reserved: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        reserved = reserved or {}
        self.codes = []
        for c in criteria:
            if c.kind != "judgement":
                continue
            self.codes.append(c.code)
            field = self.fields[f"j_{c.code}"] = forms.ChoiceField(
                label=c.text, required=False, widget=forms.RadioSelect,
                choices=[("", "Not yet"), ("yes", "Met"), ("no", "Not met")])
            if c.code in reserved:
                field.disabled = True
                field.help_text = reserved[c.code]

    def service_errors(self, exc: ValidationError) -> ValidationError:
        """The service's errors keyed by criterion code, put on this form's fields."""
        if not hasattr(exc, "error_dict"):
            return exc
        return ValidationError({(f"j_{k}" if k in self.codes else k): v for k, v in exc.error_dict.items()})

    def judgements(self) -> dict:
        return {code: {"yes": True, "no": False}.get(self.cleaned_data.get(f"j_{code}") or "")
                for code in self.codes}


class DecisionForm(CheckedForm):
    action = forms.ChoiceField(choices=[("eligible", "Confirm eligible"), ("fail", "Record screen failure")],
                               widget=forms.HiddenInput)
    reason = forms.CharField(required=False, label="Other reason (screen failure)", max_length=300)


class ScreeningFilter(CheckedForm):
    q = forms.CharField(required=False, label="Number or initials")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ScreeningRecord.Status.choices])
