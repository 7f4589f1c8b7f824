import re

from django import forms

from accounts.forms import SignerCredentialsMixin
from escalation.models import EscalationDecision, Signature
from trialsite.forms import CheckedForm


class SignForm(SignerCredentialsMixin, CheckedForm):
    """Sign a decision. Investigators approve or reject (and may decide otherwise, justified);
    sponsors, where the protocol asks for it, concur or decline. Each signing asks for the signer's user
    name and password, and their one-time code where enrolled (21 CFR 11.200(a))."""

    meaning = forms.ChoiceField(widget=forms.RadioSelect, label="Meaning of this signature")
    next_dose_level = forms.ModelChoiceField(
        queryset=None, required=False, label="Decide otherwise: dose level for the next subjects",
        help_text="Leave empty to approve the recommendation as it stands.",
    )
    add_subjects = forms.IntegerField(required=False, min_value=1, max_value=12, label="Number of subjects")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Required when your decision differs from the recommendation.",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                              help_text="Required when you do not approve.")

    def __init__(self, *args, decision: EscalationDecision, as_sponsor: bool, **kwargs):
        super().__init__(*args, **kwargs)
        # The signer's credentials come last, just above the button.
        self.order_fields([name for name in self.fields if name not in self.signer_fields]
                          + [name for name in self.signer_fields if name in self.fields])
        if as_sponsor:
            choices = [Signature.Meaning.CONCURRED, Signature.Meaning.DECLINED]
            for name in ("next_dose_level", "add_subjects", "justification"):
                del self.fields[name]
        else:
            choices = [Signature.Meaning.APPROVED, Signature.Meaning.REJECTED]
            self.fields["next_dose_level"].queryset = decision.trial.dose_levels.all()
        self.fields["meaning"].choices = [(m.value, m.label) for m in choices]


class IntermediateLevelForm(CheckedForm):
    """A new dose level between two adjacent ones (BAT6005: between the stopping level and the one
    below it), with one dose per drug of the regimen."""

    lower = forms.ModelChoiceField(queryset=None, label="Between this level…")
    upper = forms.ModelChoiceField(queryset=None, label="…and this level")
    label = forms.CharField(max_length=100, help_text="e.g. 450 mg")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), min_length=10,
                             help_text="Why the level is added (kept in the audit history).")

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lower"].queryset = self.fields["upper"].queryset = trial.dose_levels.all()
        self.drug_fields = []
        for drug in trial.drugs.all():
            name = f"dose_{drug.pk}"
            unit = drug.unit + ("/kg" if drug.basis == drug.Basis.PER_KG else "")
            self.fields[name] = forms.DecimalField(min_value=0, max_digits=9, decimal_places=3,
                                                   label=f"{drug.name} dose ({unit})")
            self.drug_fields.append((name, drug))

    def clean(self):
        data = super().clean()
        doses = {drug.name: data.pop(name) for name, drug in self.drug_fields if data.get(name) is not None}
        if len(doses) == len(self.drug_fields):
            data["doses"] = doses
        for name, _drug in self.drug_fields:
            data.pop(name, None)
        return data


class Rp2dForm(SignerCredentialsMixin, CheckedForm):
    """Propose the recommended phase II dose, signed (the first of the sponsor's and the principal
    investigator's signatures), with the cohorts of an extension part whose doses are chosen now."""

    dose_level = forms.ModelChoiceField(queryset=None, label="Recommended phase II dose (RP2D)",
                                        empty_label="Choose a level at or below the MTD/MAD")
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Rationale",
                                help_text="Why this dose: safety, PK and response seen (at least 20 characters).")

    def __init__(self, *args, allowed, chosen_parts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dose_level"].queryset = allowed
        self.cohort_rows = []
        number = 0
        for part, spec in chosen_parts:
            for _ in range(spec.cohorts_max):
                number += 1
                prefix = f"c{number}_"
                self.fields[prefix + "level"] = forms.ModelChoiceField(
                    queryset=allowed, required=False, label=f"{part.name}, cohort {number}: dose level",
                    empty_label="(no cohort)" if number > spec.cohorts_min else "Choose a level",
                )
                self.fields[prefix + "size"] = forms.IntegerField(
                    required=False, min_value=1, max_value=200, initial=spec.min_cohort_size,
                    label=f"Cohort {number}: subjects (at least {spec.min_cohort_size})")
                self.fields[prefix + "tumour_types"] = forms.CharField(
                    required=False, max_length=300, label=f"Cohort {number}: tumour type(s)",
                    help_text="Comma-separated, as the screening histology is recorded.")
                self.cohort_rows.append((number, part))
        self.order_fields([n for n in self.fields if n not in self.signer_fields] + list(self.signer_fields))

    def chosen_cohorts(self) -> list[dict]:
        data = self.cleaned_data
        return [{"part": part.code, "dose_level": data.get(f"c{n}_level"), "size": data.get(f"c{n}_size"),
                 "tumour_types": [t for t in (data.get(f"c{n}_tumour_types") or "").split(",") if t.strip()]}
                for n, part in self.cohort_rows if data.get(f"c{n}_level") is not None]

    def field_for(self, key: str) -> str | None:
        """The form field of a service error key (``cohorts[2].size`` → ``c2_size``)."""
        match = re.fullmatch(r"cohorts\[(\d+)\]\.(level|size|tumour_types)", key)
        if match:
            return f"c{match[1]}_{match[2]}"
        return key if key in self.fields else None


class Rp2dSignForm(SignerCredentialsMixin, CheckedForm):
    """The second signature on an RP2D declaration: approve (the later parts open) or object, with a comment."""

    meaning = forms.ChoiceField(widget=forms.RadioSelect, label="Meaning of this signature",
                                choices=[(m.value, m.label) for m in (Signature.Meaning.DECLARED,
                                                                       Signature.Meaning.OBJECTED)])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                              help_text="Required when you do not approve.")
