"""The one confirmation piece of the edit checks (:mod:`trialrules.plausibility`), shared by every form
and service with soft checks.

- A service collects the findings of its checks and calls :func:`enforce` with the caller's
  ``confirm_unusual`` / ``unusual_reason``. Hard findings, and soft ones not confirmed with a reason,
  raise a ValidationError keyed by field (nothing is saved); confirmed soft findings come back as the
  entries to store with the record (its ``confirmed_checks``: check, field, message, reason, who, when).
- A form mixes in :class:`ConfirmUnusualMixin`: the checkbox "I confirm this value is correct" and the
  reason field, rendered by ``templates/includes/confirm_unusual.html`` only once a soft check has fired
  (or the box was ticked), so a form without an unusual value shows neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from trialrules import plausibility

CONFIRM_FIELD = "confirm_unusual"
REASON_FIELD = "unusual_reason"
# The code of the messages of a submission that needs the confirmation (the form then shows it).
UNUSUAL = "unusual"
IMPLAUSIBLE = "implausible"


def enforce(findings: Iterable[plausibility.Finding], *, confirm_unusual: bool = False, unusual_reason: str = "",
            user=None, now: datetime | None = None, already: Iterable[dict] = ()) -> list[dict]:
    """Refuse (ValidationError by field) on a hard finding or an unconfirmed soft one; otherwise the
    confirmations to record with the entry (empty when nothing unusual was found). ``already``: the
    confirmations stored with the record being saved again; a soft finding with the same message (the
    same value) stays confirmed and is not asked again."""
    previous = {(c.get("check"), c.get("field"), c.get("message")): c for c in already}
    kept, findings = [], list(findings)
    for f in list(findings):
        entry = previous.get((f.check, f.field, f.message)) if f.soft else None
        if entry is not None:
            kept.append(entry)
            findings.remove(f)
    resolution = plausibility.resolve(findings, confirmed=bool(confirm_unusual), reason=unusual_reason or "",
                                      reason_field=REASON_FIELD)
    if resolution.errors:
        code = UNUSUAL if resolution.needs_confirmation else IMPLAUSIBLE
        raise ValidationError({field: [ValidationError(m, code=code) for m in messages]
                               for field, messages in resolution.errors.items()})
    at = (now or timezone.now()).isoformat()
    reason = (unusual_reason or "").strip()
    return kept + [{"check": f.check, "field": f.field, "message": f.message, "reason": reason,
                    "by": getattr(user, "pk", None), "by_name": _name(user), "at": at} for f in resolution.confirmed]


def _name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _codes(error) -> set[str]:
    if isinstance(error, ValidationError):
        return {e.code for e in error.error_list} if hasattr(error, "error_list") else {
            e.code for errors in error.error_dict.values() for e in errors}
    if isinstance(error, (list, tuple)):
        return set().union(*(_codes(e) for e in error)) if error else set()
    return set()


class ConfirmUnusualMixin:
    """For a form whose service runs soft checks: adds the confirmation checkbox and its reason, shown
    only when needed. Put it before ``forms.Form`` / ``forms.ModelForm`` in the bases; the two values
    are in ``cleaned_data`` (and in :meth:`confirmation`) for the service."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[CONFIRM_FIELD] = forms.BooleanField(required=False, label=plausibility.CONFIRM_LABEL)
        self.fields[REASON_FIELD] = forms.CharField(
            required=False, max_length=plausibility.REASON_MAX_LENGTH, strip=True,
            widget=forms.Textarea(attrs={"rows": 2}), label="Why the value is correct",
            help_text=f"At least {plausibility.REASON_MIN_LENGTH} characters, e.g. “weighed twice on the ward "
                      "scale”. Recorded with the entry, in your name.",
        )
        self.unusual_found = False

    def add_error(self, field, error):
        if UNUSUAL in _codes(error):
            self.unusual_found = True
        super().add_error(field, error)

    @property
    def show_confirmation(self) -> bool:
        return self.unusual_found or (self.is_bound and bool(self[CONFIRM_FIELD].value()))

    def __iter__(self):
        """The form's own fields; the confirmation renders apart (includes/confirm_unusual.html)."""
        for bound in super().__iter__():
            if bound.name not in (CONFIRM_FIELD, REASON_FIELD):
                yield bound

    def confirmation(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        return {CONFIRM_FIELD: bool(data.get(CONFIRM_FIELD)), REASON_FIELD: data.get(REASON_FIELD) or ""}
