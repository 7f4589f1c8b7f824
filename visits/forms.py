from __future__ import annotations

from django import forms
from django.utils import timezone

from trialsite.forms import CheckedForm, CheckedModelForm, DateInput
from visits.models import FollowUp
from visits.services import MISSED_REASON_MIN_LENGTH


class VisitDoneForm(CheckedForm):
    done_on = forms.DateField(widget=DateInput(), label="Done on",
                              error_messages={"required": "Enter the date the visit took place.",
                                              "invalid": "Enter a valid date, e.g. 2026-03-14."})

    def clean_done_on(self):
        value = self.cleaned_data["done_on"]
        if value > timezone.localdate():
            raise forms.ValidationError("A visit cannot be recorded as done in the future.")
        return value


class VisitMissedForm(CheckedForm):
    missed_reason = forms.CharField(
        max_length=200, min_length=MISSED_REASON_MIN_LENGTH, strip=True, label="Reason the visit was missed",
        error_messages={"required": "Say why the visit was missed.",
                        "min_length": "Say why the visit was missed (at least %(limit_value)d characters)."},
    )


class FollowUpForm(CheckedModelForm):
    class Meta:
        model = FollowUp
        fields = ["last_dose", "new_therapy", "clinical_progression", "last_known_alive", "follow_up_end",
                  "follow_up_end_reason", "death_cause"]
        widgets = {"last_dose": DateInput(), "new_therapy": DateInput(), "follow_up_end": DateInput(),
                   "clinical_progression": DateInput(), "last_known_alive": DateInput()}
        labels = {"last_dose": "Last dose (treatment ended)", "new_therapy": "New anti-tumour therapy started on",
                  "follow_up_end": "Follow-up ended on (the date of death when by death)",
                  "follow_up_end_reason": "Reason follow-up ended",
                  "clinical_progression": "Clinical progression (without RECIST imaging) on",
                  "last_known_alive": "Last known alive on", "death_cause": "Cause of death"}
        help_texts = {
            "last_dose": "Plans EOT (+21, window to +28 days) and the safety follow-up at 21, 60 and 90 days.",
            "new_therapy": "Ends the safety follow-up early: safety visits whose window opens after it are "
                           "dropped and survival follow-up starts from it.",
            "follow_up_end": "Death, loss to follow-up, withdrawal of consent or study end: no visit is "
                             "planned after it. Overall survival counts death; the others censor it.",
            "clinical_progression": "Progression judged clinically: counts for progression-free survival as a "
                                    "RECIST progression does (the earlier of the two is used).",
            "last_known_alive": "The last contact showing the subject alive (e.g. a survival telephone call); "
                                "overall survival is censored at the latest such date.",
        }

    def _post_clean(self):  # the service validates against the doses; skip the model's full_clean here
        pass
