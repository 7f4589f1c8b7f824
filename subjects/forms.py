from __future__ import annotations

from django import forms
from django.utils import timezone

from subjects.models import AdverseEvent, DoseAdministration, GateOverride, Subject
from trialsite.forms import DateInput, DateTimeInput


class EnrolForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    initials = forms.RegexField(
        regex=r"^[A-Za-z]{2,4}$", max_length=4,
        error_messages={"invalid": "Enter 2 to 4 letters, e.g. ABC."},
        help_text="2–4 letters. Site staff only: sponsors never see them.",
    )
    date_of_birth = forms.DateField(widget=DateInput())
    sex = forms.ChoiceField(choices=Subject.Sex.choices)

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


class DoseForm(forms.ModelForm):
    class Meta:
        model = DoseAdministration
        fields = ["drug", "cycle", "day", "administered_at", "dose"]
        widgets = {"administered_at": DateTimeInput()}
        labels = {"administered_at": "Given at"}

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["drug"].queryset = subject.trial.drugs.all()
        self.fields["drug"].empty_label = None
        self.fields["dose"].help_text = "Dose at this level: " + ", ".join(
            f"{drug} {amount}" for drug, amount in subject.dose_level.doses.items()
        )

    def clean_administered_at(self):
        value = self.cleaned_data["administered_at"]
        if value > timezone.now():
            raise forms.ValidationError("A dose cannot be recorded in the future.")
        return value


class AdverseEventForm(forms.ModelForm):
    class Meta:
        model = AdverseEvent
        fields = ["term", "grade", "onset_date", "resolution_date", "serious", "attribution", "is_dlt"]
        widgets = {"onset_date": DateInput(), "resolution_date": DateInput(),
                   "grade": forms.Select(choices=[(g, f"Grade {g}") for g in range(1, 6)])}
        labels = {"is_dlt": "Adjudicated as a dose-limiting toxicity (DLT)", "serious": "Serious (SAE)"}

    def clean_onset_date(self):
        value = self.cleaned_data["onset_date"]
        if value > timezone.localdate():
            raise forms.ValidationError("The onset date cannot be in the future.")
        return value

    def clean(self):
        data = super().clean()
        onset, resolved = data.get("onset_date"), data.get("resolution_date")
        if onset and resolved and resolved < onset:
            self.add_error("resolution_date", "The resolution date cannot be before the onset date.")
        return data


class GateOverrideForm(forms.Form):
    gate = forms.ChoiceField(choices=GateOverride.Gate.choices, label="Timing gate")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), min_length=GateOverride.REASON_MIN_LENGTH,
        strip=True, label="Reason for the override",
        help_text="Why this subject's first dose may be given before the gate opens. It is recorded with "
                  "your name and cannot be removed from the audit trail.",
        error_messages={"min_length": "Say why the gate is overridden, in at least %(limit_value)d characters."},
    )
