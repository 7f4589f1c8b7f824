"""Forms of the query pages: raise a query on a record, a step of its thread, the list's filters."""

from __future__ import annotations

from django import forms

from queries.models import Query
from queries.services import TEXT_MAX_LENGTH
from records.registry import KINDS, RecordKind
from trialsite.forms import CheckedForm


def _text(label: str, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, required=required, max_length=TEXT_MAX_LENGTH,
                           widget=forms.Textarea(attrs={"rows": 3}))


def field_choices(kind: RecordKind) -> list[tuple[str, str]]:
    names = {f.name: str(f.verbose_name) for f in kind.model._meta.get_fields() if hasattr(f, "verbose_name")}
    return [("", "The whole form")] + [(name, names.get(name, name).capitalize()) for name in kind.fields]


class RaiseForm(CheckedForm):
    field = forms.ChoiceField(label="Field queried", required=False)
    text = _text("Query", required=True)

    def __init__(self, *args, kind: RecordKind, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = field_choices(kind)
        self.fields["text"].help_text = "What the site should check or explain."


class StepForm(CheckedForm):
    ACTIONS = (("answer", "Answer"), ("close", "Close"), ("reopen", "Re-open"))
    action = forms.ChoiceField(choices=ACTIONS, widget=forms.HiddenInput)
    text = _text("Message", required=False)


class FilterForm(CheckedForm):
    status = forms.ChoiceField(required=False, choices=[("live", "Not closed"), *Query.Status.choices, ("all", "All")])
    site = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False)
    subject = forms.CharField(required=False, max_length=40, label="Subject code")

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", "All sites")] + [(s.code, s.code) for s in sites]
        self.fields["kind"].choices = [("", "All records"), *sorted((slug, k.label) for slug, k in KINDS.items())]


class ReviewForm(CheckedForm):
    kind = forms.ChoiceField(label="Record")
    subject = forms.CharField(required=False, max_length=40, label="Subject code")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = sorted(((slug, k.label) for slug, k in KINDS.items()), key=lambda c: c[1])
