"""Import of a site's existing subject list at go-live (a site moving from spreadsheets): check, then import.

The rules of the file are :mod:`trialrules.subject_import` (pure Python); this module gives them what the trial
and the site hold, and imports. docs/import.md says it all for the site.

- :func:`check` is the dry run: the report, nothing written.
- :func:`subjects_import` imports a clean file in one transaction (every row or none), the trial row locked as
  enrolment locks it (subject numbers and cohort places taken one import or enrolment at a time), the file
  checked again under the lock: a file with any problem raises :class:`ImportRefused` with the report. Each
  subject is created with the acting user and the reason ``Imported from <file name> (sha256 <hex>)`` in the
  audit context; its enrolment date is then set by an audited update (``enrolled_at`` is stamped at creation:
  the historic date is written at 12:00 in the site's time zone). A cohort the import fills changes state as
  enrolment makes it (full: DLT observation; a later part's cohort closed). Nothing else is created: no
  screening record (the subject was screened outside TrialSite: no consent or eligibility is known to it), no
  dose, no visit (visits are planned from the first dose, as for every subject).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from escalation.models import Cohort
from subjects.models import Subject
from trialrules import subject_import
from trialrules.eligibility import CriteriaError, criteria_from_protocol
from trials.access import sites_for
from trials.models import Role, Site, Trial
from trialsite.forms import character_problem

MAX_FILE_BYTES = 1024 * 1024
ENROLMENT_TIME = time(12, 0)


class ImportRefused(Exception):
    """The file has problems: nothing was imported; ``report`` names each row."""

    def __init__(self, report: subject_import.Report):
        super().__init__(f"{len(report.problems)} problem(s); nothing was imported")
        self.report = report


@dataclass(frozen=True)
class Checked:
    """A dry run: the file's name and hash and its report."""

    file_name: str
    sha256: str
    report: subject_import.Report

    @property
    def ok(self) -> bool:
        return self.report.ok


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def reason_for(file_name: str, digest: str) -> str:
    return f"Imported from {file_name} (sha256 {digest})"


def can_import(user, trial: Trial, site: Site) -> bool:
    """Coordinators of the site import its subjects (as they enrol them)."""
    return sites_for(user, trial, roles=[Role.COORDINATOR]).filter(pk=site.pk).exists()


def _age_rule(trial: Trial) -> tuple[int | None, int | None, str]:
    try:
        criteria = criteria_from_protocol(trial.definition or {})
    except CriteriaError:
        criteria = []
    return subject_import.age_bounds([(c.kind, dict(c.params)) for c in criteria])


def context_for(trial: Trial, site: Site, *, today: date | None = None) -> subject_import.Context:
    """What the trial and the site hold now, for the file's rules."""
    cohorts = tuple(
        subject_import.CohortSpec(number=c.number, label=c.label, dose_level=c.dose_level.label,
                                  capacity=c.capacity, enrolled=c.n, tumour_types=tuple(c.tumour_types or ()))
        for c in _cohorts(trial)
    )
    prefix = f"{trial.code}-{site.code}-"
    low, high, words = _age_rule(trial)
    return subject_import.Context(
        trial_code=trial.code, site_code=site.code,
        levels=tuple(trial.dose_levels.order_by("rank").values_list("label", flat=True)),
        cohorts=cohorts,
        off_study_reasons=tuple(Subject.OffStudyReason.values),
        today=today or timezone.localdate(),
        existing_codes=frozenset(Subject.objects.filter(code__startswith=prefix).values_list("code", flat=True)),
        site_subjects=Subject.objects.filter(trial=trial, site=site).count(),
        age_min=low, age_max=high, age_rule=words,
        text_problem=character_problem,
    )


def _cohorts(trial: Trial):
    return (Cohort.objects.filter(trial=trial).select_related("dose_level").annotate(n=Count("subjects"))
            .order_by("number"))


def _text(content: bytes) -> tuple[str | None, subject_import.Problem | None]:
    if not content:
        return None, subject_import.Problem(None, None, None, "the file is empty (no header row, no subjects)")
    if len(content) > MAX_FILE_BYTES:
        return None, subject_import.Problem(None, None, None, f"the file is larger than "
                                                              f"{MAX_FILE_BYTES // 1024} KB")
    try:
        return content.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        return None, subject_import.Problem(
            None, line, None, f"the file is not UTF-8 text (byte {exc.start + 1}, line {line}): save it from the "
                              "spreadsheet as \"CSV UTF-8\"")


def check(*, trial: Trial, site: Site, file_name: str, content: bytes, today: date | None = None) -> Checked:
    """The dry run: every problem of the file against what the trial and the site hold now. Writes nothing."""
    text, problem = _text(content)
    if problem is not None:
        report = subject_import.Report((), (problem,))
    else:
        report = subject_import.validate(text, context_for(trial, site, today=today))
    return Checked(file_name=file_name, sha256=sha256(content), report=report)


def _enrolled_at(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, ENROLMENT_TIME))


def subjects_import(*, user, trial: Trial, site: Site, file_name: str, content: bytes,
                    today: date | None = None) -> list[Subject]:
    """Import every subject of a clean file, or none (:class:`ImportRefused` with the report)."""
    if not can_import(user, trial, site):
        raise PermissionDenied(f"Only the coordinators of {site.code} in {trial.code} import its subjects.")
    digest = sha256(content)
    reason = reason_for(file_name, digest)
    try:
        with transaction.atomic(), pghistory.context(user=user.pk, reason=reason, change="import"):
            # Lock the trial row, as enrolment does: the site's numbers and the cohorts' places are read and
            # taken by one import or enrolment at a time; the check is made again under the lock.
            trial = Trial.objects.select_for_update().get(pk=trial.pk)
            checked = check(trial=trial, site=site, file_name=file_name, content=content, today=today)
            if not checked.ok:
                raise ImportRefused(checked.report)
            levels = {level.label: level for level in trial.dose_levels.all()}
            cohorts = {c.number: c for c in Cohort.objects.select_for_update(of=("self",)).filter(trial=trial)
                       .select_related("dose_level", "part")}
            made = []
            for row in checked.report.rows:
                subject = Subject(
                    trial=trial, site=site, code=row.code, initials=row.initials, date_of_birth=row.date_of_birth,
                    sex=row.sex, tumour_type=row.tumour_type, enrolled_by=user,
                    cohort=cohorts.get(row.cohort) if row.cohort is not None else None,
                    dose_level=levels[row.dose_level], status=row.status,
                    off_study_on=row.off_study_on, off_study_reason=row.off_study_reason,
                    off_study_detail=row.off_study_detail,
                )
                subject.full_clean()
                subject.save()
                made.append(subject)
            # enrolled_at is stamped at creation (auto_now_add): the historic date, by an audited update.
            for subject, row in zip(made, checked.report.rows, strict=True):
                subject.enrolled_at = _enrolled_at(row.enrolled_on)
                Subject.objects.filter(pk=subject.pk).update(enrolled_at=subject.enrolled_at)
            _fill_cohorts(cohorts.values())
            if trial.escalates:
                from subjects.services import _review_escalation_after_commit

                _review_escalation_after_commit(trial)
    except IntegrityError:
        raise ValidationError({"file": "Another import or enrolment took one of these subject codes first: nothing "
                                       "was imported from this file. Check it again."}) from None
    return made


def _fill_cohorts(cohorts) -> None:
    """An open cohort the import filled changes state as enrolment makes it (subjects.services.subject_enrol)."""
    for cohort in cohorts:
        if cohort.status == Cohort.Status.OPEN and cohort.subjects.count() >= cohort.capacity:
            cohort.status = Cohort.Status.FULL if cohort.escalation else Cohort.Status.CLOSED
            cohort.save(update_fields=["status"])
            if cohort.part_id and not cohort.escalation:
                from escalation.services import part_close_if_done

                part_close_if_done(part=cohort.part)
