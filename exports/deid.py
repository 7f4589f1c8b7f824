"""De-identification of exported data: one mechanism for every export format (CSV, ODM, SDTM).

A de-identified export names a subject by its code only (never initials, date of birth, screening
identity or free text that may name a person) and writes dates as the trial chose (``Trial.export_dates``):

- ``study_day``: no calendar date leaves the site; each date becomes the SDTM study day relative to the
  subject's reference start (the first dose; the enrolment date before any dose): day 1 is the reference
  day, the day before it is day -1 (there is no day 0), as SDTM's ``--DY``.
- ``shift``: every date of one subject moves back by the same number of days (1 to 365), derived from the
  trial's secret and the subject's code (HMAC-SHA256), so intervals within a subject are kept, the shift
  differs between subjects and cannot be recomputed without the secret, which is never exported.

An identifiable export (site staff of the trial's sites) keeps the dates and the identity.

Audit time stamps (ODM ``DateTimeStamp``, a date-time the schema requires): :meth:`Deidentifier.stamp`.
Identifiable: as recorded (local time with its UTC offset); ``shift``: moved back by the subject's shift;
``study_day``: no calendar date either, the subject's day 1 is written as :data:`STUDY_DAY_ANCHOR`
(2000-01-01, day 2 is 2000-01-02, day -1 is 1999-12-31), with the local time of day and no UTC offset
(an offset would tell summer from winter time).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time, timedelta

from django.utils import timezone

# The date a ``study_day`` export writes for a subject's day 1 where a date-time is required (audit stamps).
STUDY_DAY_ANCHOR = date(2000, 1, 1)


def study_day(reference: date, value: date) -> int:
    """SDTM study day of ``value`` relative to ``reference`` (day 1; no day 0)."""
    delta = (value - reference).days
    return delta + 1 if delta >= 0 else delta


class Deidentifier:
    """How one export writes subjects and dates. ``deidentified=False`` passes everything through."""

    def __init__(self, trial, *, deidentified: bool):
        self.trial = trial
        self.deidentified = deidentified
        self.mode = trial.export_dates if deidentified else "identifiable"
        self._references: dict[int, date | None] = {}

    # --- subjects -----------------------------------------------------------------------------------------
    def usubjid(self, subject) -> str:
        """The unique subject identifier across studies (SDTM USUBJID): study code and subject code; a subject
        code that already starts with the study code (``LVGN6051-ANLOTINIB-SITE-A-001``) is used as it is."""
        if subject.code.startswith(f"{self.trial.code}-"):
            return subject.code
        return f"{self.trial.code}-{subject.code}"

    def identity(self, subject) -> dict[str, str]:
        """Identifying fields of a subject, empty in a de-identified export."""
        if self.deidentified:
            return {}
        return {"initials": subject.initials, "date_of_birth": subject.date_of_birth.isoformat()}

    # --- dates --------------------------------------------------------------------------------------------
    def reference(self, subject) -> date | None:
        """The subject's reference start (first dose date; enrolment date before any dose)."""
        if subject.pk not in self._references:
            first = subject.first_dose()
            when = first.administered_at if first is not None else subject.enrolled_at
            self._references[subject.pk] = timezone.localdate(when) if when is not None else None
        return self._references[subject.pk]

    def shift_days(self, subject) -> int:
        digest = hmac.new(self.trial.export_secret.encode(), subject.code.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") % 365 + 1

    def date(self, subject, value: date | datetime | None) -> str:
        """A date or date-time as ISO 8601 text: as recorded (identifiable), shifted (``shift``), or ""
        (``study_day``: use :meth:`day`)."""
        if value is None:
            return ""
        if self.mode == "study_day":
            return ""
        if isinstance(value, datetime):
            value = timezone.localtime(value) if timezone.is_aware(value) else value
            if self.mode == "shift":
                value = value - timedelta(days=self.shift_days(subject))
            return value.replace(microsecond=0).isoformat(timespec="minutes")
        if self.mode == "shift":
            value = value - timedelta(days=self.shift_days(subject))
        return value.isoformat()

    def stamp(self, subject, value: datetime) -> str:
        """An audit time stamp (xs:dateTime text, to the second) as this export writes it (module docstring)."""
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        local = local.replace(microsecond=0)
        if self.mode == "shift":
            return (local - timedelta(days=self.shift_days(subject))).isoformat()
        if self.mode == "study_day":
            reference = self.reference(subject) or local.date()
            when = STUDY_DAY_ANCHOR + timedelta(days=(local.date() - reference).days)
            return datetime.combine(when, time(local.hour, local.minute, local.second)).isoformat()
        return local.isoformat()

    def day(self, subject, value: date | datetime | None) -> int | None:
        """The study day of ``value`` (every mode: study days carry no calendar date)."""
        if value is None:
            return None
        reference = self.reference(subject)
        if reference is None:
            return None
        if isinstance(value, datetime):
            value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
        return study_day(reference, value)

    def date_columns(self, subject, name: str, value: date | datetime | None) -> dict[str, object]:
        """The columns a date becomes in a flat export: ``{name: date}`` (identifiable or shifted) or
        ``{name + "_study_day": day}`` (``study_day``)."""
        if self.mode == "study_day":
            return {f"{name}_study_day": self.day(subject, value)}
        return {name: self.date(subject, value)}
