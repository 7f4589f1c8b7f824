from __future__ import annotations

from django import forms
from django.utils import timezone

from subjects.models import AdverseEvent, Assessment, DoseAdministration, GateOverride, Subject
from trialsite.forms import DateInput, DateTimeInput


class EnrolForm(forms.Form):
    screening = forms.ModelChoiceField(
        queryset=None, empty_label=None, label="Eligible screening record",
        help_text="Only candidates whose consent is recorded and whose eligibility is confirmed can be enrolled.",
        error_messages={"invalid_choice": "Choose a screening record confirmed eligible and not yet enrolled."},
    )

    def __init__(self, *args, screenings, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["screening"].queryset = screenings


class DoseForm(forms.ModelForm):
    class Meta:
        model = DoseAdministration
        fields = ["drug", "cycle", "day", "administered_at", "weight_kg", "dose", "deviation_reason"]
        widgets = {"administered_at": DateTimeInput(), "deviation_reason": forms.Textarea(attrs={"rows": 2})}
        labels = {"administered_at": "Given at", "deviation_reason": "Protocol deviation: reason"}

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["drug"].queryset = subject.trial.drugs.all()
        self.fields["drug"].empty_label = None
        self.fields["dose"].required = False
        self.fields["dose"].help_text = "Dose at this level: " + ", ".join(
            f"{drug} {amount}" for drug, amount in subject.dose_level.doses.items()
        ) + ". Leave empty to give the computed dose."
        per_kg = [d.name for d in subject.trial.drugs.all() if d.basis == "per_kg"]
        if per_kg:
            self.fields["weight_kg"].help_text = (f"For {', '.join(per_kg)} (per kg). Empty: the latest recorded "
                                                  "weight.")
        else:
            del self.fields["weight_kg"]
        self.fields["deviation_reason"].help_text = (
            "Only when the dose was given outside the cycle window or without the pre-dose assessments.")

    def clean_administered_at(self):
        value = self.cleaned_data["administered_at"]
        if value > timezone.now():
            raise forms.ValidationError("A dose cannot be recorded in the future.")
        return value


class AdverseEventForm(forms.Form):
    term = forms.CharField(
        max_length=200, label="CTCAE v5.0 term",
        help_text="Type part of the term (e.g. “pneumon”) and pick it from the NCI list.",
    )
    grade = forms.TypedChoiceField(coerce=int, choices=[(g, f"Grade {g}") for g in range(1, 6)])
    onset_date = forms.DateField(widget=DateInput())
    resolution_date = forms.DateField(widget=DateInput(), required=False)
    serious_criteria = forms.MultipleChoiceField(
        choices=AdverseEvent.SeriousCriterion.choices, required=False, widget=forms.CheckboxSelectMultiple,
        label="Serious (SAE) criteria", help_text="Tick every criterion met; none ticked: not serious.",
    )
    immune_related = forms.BooleanField(required=False, label="Immune-related (irAE)")
    action_taken = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Action.choices], required=False)
    outcome = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Outcome.choices], required=False)

    NOT_ASSESSED = "not_assessed"

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.drugs = list(subject.trial.drugs.all())
        self.attribution_fields = {}
        for i, drug in enumerate(self.drugs):
            name = "attribution" if len(self.drugs) == 1 else f"attribution_{i + 1}"
            self.fields[name] = forms.ChoiceField(
                choices=[("", "—"), *AdverseEvent.Attribution.choices, (self.NOT_ASSESSED, "Not yet assessed")],
                label=f"Attribution to {drug.name}",
                help_text="“Not yet assessed” leaves it to the investigator; until then a DLT-grade event in "
                          "the DLT window keeps the subject pending for dose escalation.")
            self.attribution_fields[name] = drug.name
        self.fields["term"].widget.attrs.update({"list": "ctcae-terms", "autocomplete": "off"})

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
        if data.get("grade") == 5 and data.get("outcome") not in ("", None, AdverseEvent.Outcome.FATAL):
            self.add_error("outcome", "A grade 5 event is fatal: choose “Fatal”.")
        return data

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        attributions = {drug: "" if (value := data.pop(name)) == self.NOT_ASSESSED else value
                        for name, drug in self.attribution_fields.items()}
        return {**data, "attributions": attributions}


class AdjudicationForm(forms.Form):
    decision = forms.ChoiceField(choices=[("confirm", "Confirm: this is a DLT"), ("reject", "Reject: not a DLT")],
                                 widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                              help_text="Required when rejecting.")


class AssessmentForm(forms.ModelForm):
    class Meta:
        model = Assessment
        fields = ["kind", "assessed_on", "weight_kg", "ecog", "notes"]
        widgets = {"assessed_on": DateInput()}
        help_texts = {"weight_kg": "With the vital signs.", "ecog": "With the performance status."}


class ContinuationForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), min_length=10,
                             label="Reason for continuing beyond the cycle maximum",
                             error_messages={"min_length": "Say why, in at least %(limit_value)d characters."})


class AdverseEventFilter(forms.Form):
    q = forms.CharField(required=False, label="Term or subject")
    grade = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                   choices=[("", "Any grade"), *[(g, f"≥ {g}") for g in range(2, 6)]],
                                   label="Grade")
    serious = forms.ChoiceField(required=False, choices=[("", "SAE or not"), ("yes", "SAE only")], label="SAE")
    dlt = forms.ChoiceField(required=False, label="DLT",
                            choices=[("", "Any"), *[(v, label) for v, label in AdverseEvent.DltStatus.choices if v]])


class SubjectFilter(forms.Form):
    q = forms.CharField(required=False, label="Code or initials")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Subject.Status.choices])


class GateOverrideForm(forms.Form):
    gate = forms.ChoiceField(choices=GateOverride.Gate.choices, label="Timing gate")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), min_length=GateOverride.REASON_MIN_LENGTH,
        strip=True, label="Reason for the override",
        help_text="Why this subject's first dose may be given before the gate opens. It is recorded with "
                  "your name and cannot be removed from the audit trail.",
        error_messages={"min_length": "Say why the gate is overridden, in at least %(limit_value)d characters."},
    )
