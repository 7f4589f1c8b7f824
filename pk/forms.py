"""Entry forms of samples: one collected (date and time) or missed (reason), a shipment, the lab's results file,
and the pharmacokineticist's λz points."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from pk.models import Shipment
from trialsite.forms import CheckedForm, DateTimeInput


def _not_future(value):
    if value > timezone.now():
        raise forms.ValidationError("This time cannot be in the future.")
    return value


class CollectForm(CheckedForm):
    collected_at = forms.DateTimeField(widget=DateTimeInput(), label="Taken at",
                                       error_messages={"required": "Enter the date and time the sample was taken.",
                                                       "invalid": "Enter a date and time, e.g. 2026-03-14 09:30."})
    comment = forms.CharField(required=False, max_length=200, label="Comment",
                              widget=forms.TextInput(attrs={"placeholder": "comment (optional)"}))

    def clean_collected_at(self):
        return _not_future(self.cleaned_data["collected_at"])


class MissedForm(CheckedForm):
    missed_reason = forms.CharField(max_length=200, label="Why it was not taken",
                                    error_messages={"required": "Say why the sample was not taken."})


class ShipmentForm(CheckedForm):
    lab = forms.CharField(max_length=120, label="Bioanalytical lab",
                          error_messages={"required": "Name the bioanalytical lab."})
    shipped_at = forms.DateTimeField(widget=DateTimeInput(), label="Shipped at",
                                     error_messages={"required": "Enter when the box left the site.",
                                                     "invalid": "Enter a date and time, e.g. 2026-03-14 16:00."})
    temperature = forms.ChoiceField(choices=Shipment.Temperature.choices, initial=Shipment.Temperature.FROZEN_70)
    tracking = forms.CharField(max_length=80, required=False, label="Courier tracking number")
    samples = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Samples in the box",
                                        error_messages={"required": "Choose the samples in the box.",
                                                        "invalid_choice": "%(value)s is not a collected sample "
                                                                          "waiting to be shipped."})

    def __init__(self, *args, samples=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["samples"].choices = [(str(s.pk), f"{s.sample_id} — taken "
                                           f"{timezone.localtime(s.collected_at):%d %b %Y %H:%M}") for s in samples]

    def clean_shipped_at(self):
        return _not_future(self.cleaned_data["shipped_at"])


class ImportForm(CheckedForm):
    file = forms.FileField(label="Results file (CSV)", error_messages={"required": "Choose the lab's CSV file.",
                                                                       "empty": "The file is empty."})

    def clean_file(self):
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError("Choose a CSV file (.csv).")
        return f


class LambdaZForm(CheckedForm):
    times = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False,
                                      label="Points in the terminal phase (none = automatic best fit)",
                                      error_messages={"invalid_choice": "%(value)s h is not a sample time of this "
                                                                        "profile."})
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Reason",
                             error_messages={"required": "Give the reason for choosing these points."})

    def __init__(self, *args, times=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["times"].choices = [(hours_value(t), f"{hours_value(t)} h — {label}") for t, label in times]


def hours_value(t: float) -> str:
    """A sample time as the form sends it back: exact to the 4 decimals the profile keeps (168.3333, not 168.333)."""
    return f"{t:.4f}".rstrip("0").rstrip(".")
