from __future__ import annotations

from django import forms
from django.utils import timezone

from subjects.dispensing import dispensed_drugs
from subjects.models import AdverseEvent, Assessment, DoseAdministration, GateOverride, Subject
from subjects.templatetags.quantities import quantity_text
from trialrules.plausibility import DOSE_REFUSED_ABOVE, DOSE_TOLERANCE, percent
from trialsite.edit_checks import ConfirmUnusualMixin
from trialsite.forms import CheckedForm, CheckedModelForm, DateInput, DateTimeInput


class EnrolForm(CheckedForm):
    screening = forms.ModelChoiceField(
        queryset=None, empty_label=None, label="Eligible screening record",
        help_text="Only candidates whose consent is recorded and whose eligibility is confirmed can be enrolled.",
        error_messages={"invalid_choice": "Choose a screening record confirmed eligible and not yet enrolled."},
    )

    cohort = forms.ModelChoiceField(
        queryset=None, required=False, label="Cohort",
        help_text="Several cohorts are open: choose the one this subject joins.",
        error_messages={"invalid_choice": "Choose one of the cohorts open for enrolment."},
    )

    def __init__(self, *args, screenings, cohorts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["screening"].queryset = screenings
        if cohorts is not None and len(cohorts) > 1:
            self.fields["cohort"].queryset = cohorts
            self.fields["cohort"].required = True
            self.fields["cohort"].label_from_instance = lambda c: (
                f"{c.name}: {c.dose_level.label}" + (f", {', '.join(c.tumour_types)}" if c.tumour_types else ""))
        else:
            del self.fields["cohort"]


def level_dose_text(drug, amount) -> str:
    """A dose level's amount for one drug with its unit: ``10 mg``, per kg ``1 mg/kg``."""
    if drug is None:
        return quantity_text(amount, "")
    return quantity_text(amount, f"{drug.unit}/kg" if drug.basis == "per_kg" else drug.unit)


class DoseForm(ConfirmUnusualMixin, CheckedModelForm):
    class Meta:
        model = DoseAdministration
        fields = ["drug", "cycle", "day", "administered_at", "weight_kg", "dose", "deviation_reason"]
        widgets = {"administered_at": DateTimeInput(), "deviation_reason": forms.Textarea(attrs={"rows": 2})}
        labels = {"administered_at": "Given at", "deviation_reason": "Protocol deviation: reason"}

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        # A drug taken at home is recorded per cycle on the dispensing form, not dose by dose.
        home = [d.pk for d in dispensed_drugs(subject.trial)]
        self.fields["drug"].queryset = subject.trial.drugs.exclude(pk__in=home)
        self.fields["drug"].empty_label = None
        self.fields["dose"].required = False
        drugs = {d.name: d for d in subject.trial.drugs.all()}
        units = sorted({d.unit for d in drugs.values()})
        self.fields["dose"].label = f"Dose ({', '.join(units)})"
        # The level of the cycle being entered: the subject's own, or the new one of an agreed intra-patient
        # escalation from its first cycle on (escalation.intrapatient).
        from escalation.intrapatient import level_for_cycle

        cycle = str((self.data.get("cycle") if self.is_bound else self.initial.get("cycle")) or "")
        typed = cycle.isascii() and cycle.isdigit() and len(cycle) <= 5  # else the field's own message says why
        level = level_for_cycle(subject, int(cycle)) if typed else subject.dose_level
        where = "this level" if level == subject.dose_level else f"{level.label} (intra-patient escalation)"
        self.fields["dose"].help_text = f"Dose at {where}: " + ", ".join(
            f"{name} {level_dose_text(drugs.get(name), amount)}" for name, amount in level.doses.items()
        ) + ". Leave empty to give the computed dose."
        per_kg = [d.name for d in subject.trial.drugs.all() if d.basis == "per_kg"]
        if per_kg:
            self.fields["weight_kg"].help_text = (f"For {', '.join(per_kg)} (per kg). Empty: the latest recorded "
                                                  "weight.")
        else:
            del self.fields["weight_kg"]
        self.fields["deviation_reason"].help_text = (
            "Only when the dose was given outside the cycle window or without the pre-dose assessments.")
        if subject.trial.definition.get("escalation", {}).get("dose_reduction_allowed", True):
            self.fields["dose"].help_text += (
                f" A dose more than ±{percent(DOSE_TOLERANCE)} % from the computed one is recorded with "
                f"a reason; more than {percent(DOSE_REFUSED_ABOVE)} % above it is refused.")

    def clean_administered_at(self):
        value = self.cleaned_data["administered_at"]
        if value > timezone.now():
            raise forms.ValidationError("A dose cannot be recorded in the future.")
        return value


class AdverseEventForm(CheckedForm):
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
        screening = getattr(subject, "screening", None)
        self.fields["onset_date"].help_text = (
            f"On or after consent{f' ({screening.consent_date:%d %b %Y})' if screening else ''}: an event that began "
            "before consent is medical history, not a study adverse event, and is not recorded here.")

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


class AdjudicationForm(CheckedForm):
    decision = forms.ChoiceField(choices=[("confirm", "Confirm: this is a DLT"), ("reject", "Reject: not a DLT")],
                                 widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                              help_text="Required when rejecting.")


class AssessmentForm(ConfirmUnusualMixin, CheckedModelForm):
    class Meta:
        model = Assessment
        fields = ["kind", "assessed_on", "weight_kg", "ecog", "notes"]
        widgets = {"assessed_on": DateInput()}
        help_texts = {"weight_kg": "With the vital signs.", "ecog": "With the performance status."}


class ContinuationForm(CheckedForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), min_length=10,
                             label="Reason for continuing beyond the cycle maximum",
                             error_messages={"min_length": "Say why, in at least %(limit_value)d characters."})


class AdverseEventFilter(CheckedForm):
    q = forms.CharField(required=False, label="Term or subject")
    grade = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                   choices=[("", "Any grade"), *[(g, f"≥ {g}") for g in range(2, 6)]],
                                   label="Grade")
    serious = forms.ChoiceField(required=False, choices=[("", "SAE or not"), ("yes", "SAE only")], label="SAE")
    dlt = forms.ChoiceField(required=False, label="DLT",
                            choices=[("", "Any"), *[(v, label) for v, label in AdverseEvent.DltStatus.choices if v]])


class SubjectFilter(CheckedForm):
    q = forms.CharField(required=False, label="Code or initials")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Subject.Status.choices])


class GateOverrideForm(CheckedForm):
    gate = forms.ChoiceField(choices=GateOverride.Gate.choices, label="Timing gate")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), min_length=GateOverride.REASON_MIN_LENGTH,
        strip=True, label="Reason for the override",
        help_text="Why this subject's first dose may be given before the gate opens. It is recorded with "
                  "your name and cannot be removed from the audit trail.",
        error_messages={"min_length": "Say why the gate is overridden, in at least %(limit_value)d characters."},
    )


class EndOfTreatmentForm(CheckedForm):
    last_dose = forms.DateField(widget=DateInput(), label="Last dose on",
                                help_text="The day of the last dose of any study drug. EOT and the safety follow-up "
                                          "are planned from it; no dosing visit after it.")
    reason = forms.ChoiceField(label="Reason treatment ended",
                               choices=[("", "—"), *[(v, label) for v, label in Subject.EndOfTreatmentReason.choices
                                                     if v != Subject.EndOfTreatmentReason.OFF_STUDY]])
    detail = forms.CharField(required=False, max_length=300, label="Details",
                             help_text="Required for “Other”.")


class OffStudyForm(CheckedForm):
    off_study_on = forms.DateField(widget=DateInput(), label="Off study on",
                                   help_text="No visit is planned after it. Still on treatment: treatment ends "
                                             "with the latest recorded dose.")
    reason = forms.ChoiceField(label="Reason for going off study",
                               choices=[("", "—"), *Subject.OffStudyReason.choices])
    detail = forms.CharField(required=False, max_length=300, label="Details",
                             help_text="Required for “Other”.")


def _missed_days_field():
    return forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
                                          label="Days missed (from the diary)")


def _discrepancy_reason_field():
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=1000,
                           label="Discrepancy: reason",
                           help_text="Only when the tablets used differ from days taken × tablets a day.")


class DispensingForm(CheckedForm):
    """One cycle's dispensing of an oral drug; the return may be given now or later."""

    cycle = forms.IntegerField(min_value=1, max_value=999)
    dispensed_on = forms.DateField(widget=DateInput(), label="Dispensed on")
    first_dose_at = forms.DateTimeField(widget=DateTimeInput(), label="Day 1 tablet taken at",
                                        help_text="Day 1 of the cycle's oral dosing; the home doses of the next days "
                                                  "are dated at the same time.")
    tablets_dispensed = forms.IntegerField(min_value=1, max_value=10000, label="Tablets dispensed")
    returned_on = forms.DateField(widget=DateInput(), required=False, label="Returned on",
                                  help_text="Leave empty until the tablets come back.")
    tablets_returned = forms.IntegerField(min_value=0, max_value=10000, required=False, label="Tablets returned")
    missed_days = _missed_days_field()
    discrepancy_reason = _discrepancy_reason_field()
    deviation_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=1000,
                                       label="Protocol deviation: reason",
                                       help_text="Only when day 1 was outside the cycle window or without the "
                                                 "pre-dose assessments.")

    def __init__(self, *args, drug, spec, **kwargs):
        super().__init__(*args, **kwargs)
        self.drug = drug
        self.fields["missed_days"].choices = [(d, f"Day {d}") for d in drug.administration_days]
        self.fields["tablets_dispensed"].help_text = (
            f"{quantity_text(spec.tablet_strength, drug.unit)} tablets, {spec.tablets_per_day} a day "
            f"({quantity_text(spec.daily_dose, drug.unit)} daily) on days "
            f"{drug.administration_days[0]}–{drug.administration_days[-1]}: "
            f"{spec.tablets_per_day * len(drug.administration_days)} for a full cycle.")

    def clean_first_dose_at(self):
        value = self.cleaned_data["first_dose_at"]
        if value > timezone.now():
            raise forms.ValidationError("The first tablet cannot be taken in the future.")
        return value


class DispensingReturnForm(CheckedForm):
    returned_on = forms.DateField(widget=DateInput(), label="Returned on")
    tablets_returned = forms.IntegerField(min_value=0, max_value=10000, label="Tablets returned",
                                          help_text="0 if none came back.")
    missed_days = _missed_days_field()
    discrepancy_reason = _discrepancy_reason_field()

    def __init__(self, *args, drug, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["missed_days"].choices = [(d, f"Day {d}") for d in drug.administration_days]
