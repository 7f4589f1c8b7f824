"""The correction and void forms, built from the record kind: the model's own fields (so its validators
and choices apply), plus the mandatory reason."""

from __future__ import annotations

from django import forms
from django.db import models

from records.registry import RecordKind
from records.services import REASON_MAX_LENGTH, REASON_MIN_LENGTH
from trialsite.forms import CheckedForm, CheckedModelForm, DateInput, DateTimeInput


def _reason_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, min_length=REASON_MIN_LENGTH, max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": REASON_MAX_LENGTH}),
        help_text=f"Required, at least {REASON_MIN_LENGTH} characters. Kept in the record's history.",
    )


def _widget(field: models.Field):
    if isinstance(field, models.DateTimeField):
        return DateTimeInput()
    if isinstance(field, models.DateField):
        return DateInput()
    return None


def correction_form_class(kind: RecordKind) -> type[forms.ModelForm]:
    widgets = {name: w for name in kind.fields if (w := _widget(kind.model._meta.get_field(name))) is not None}
    attrs = {
        "Meta": type("Meta", (), {"model": kind.model, "fields": list(kind.fields), "widgets": widgets}),
        "reason": _reason_field("Reason for the change"),
        **kind.form_fields,
    }
    return type(f"{kind.model.__name__}CorrectionForm", (CheckedModelForm,), attrs)


class VoidForm(CheckedForm):
    reason = _reason_field("Why this entry was made in error")
    confirm = forms.BooleanField(label="I confirm this entry was made in error and should not count.")


def correction_form(kind: RecordKind, record, user, data=None) -> forms.Form:
    """The kind's correction form for ``record``, bound to ``data`` (POST) or showing the current values."""
    if kind.form is not None:
        form = kind.form(record, user, data)
        form.fields["reason"] = _reason_field("Reason for the change")
        return form
    # The model form works on its own copy: the service re-reads and locks the row.
    copy = type(record)._base_manager.get(pk=record.pk)
    return correction_form_class(kind)(data, instance=copy)
