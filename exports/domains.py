"""The rows of each exported domain of one trial, the same for every export format (CSV, ODM, SDTM).

A domain (:class:`Domain`) names its model, the trial's rows (voided entries included: each row says
``record_status`` live or void), and its columns (:class:`Column`: a name, a type, how to read the value,
whether it identifies a person). :func:`domain_rows` turns a record, or one of its audit events
(pghistory: the same columns), into a flat row through the export's :class:`~exports.deid.Deidentifier`:

- every subject-level row starts with ``usubjid``, ``subject_code`` and ``site``, then ``record_id``
  (the record's primary key, stable across exports: the audit records and the reload test join on it);
- a date column becomes ``name`` (as recorded, or shifted) or ``name_study_day`` (``study_day``);
- identifying columns (initials, date of birth, staff names) and free text that may name a person (comments,
  reasons, notes) are left out of a de-identified export (``identity=True`` / ``free_text=True``).

Stable entry points, one per domain (the SDTM builder reads them too): :func:`subjects_rows`,
:func:`screening_rows`, :func:`doses_rows`, :func:`dispensings_rows`, :func:`assessments_rows`,
:func:`adverse_events_rows`, :func:`visits_rows`, :func:`follow_ups_rows`, :func:`tumour_assessments_rows`,
:func:`lesions_rows`, :func:`lesion_measurements_rows`, :func:`pk_samples_rows`, :func:`pk_results_rows`,
:func:`decisions_rows`, :func:`signatures_rows`; or :func:`rows` by name, and :data:`DOMAINS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

from django.db import models

from exports.deid import Deidentifier

# Column types (also the ODM DataType and the CSV reload's parser).
TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME, JSON = (
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "json",
)


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str
    get: Callable
    identity: bool = False  # names or dates a person (left out de-identified)
    free_text: bool = False  # free text that may name a person (left out de-identified)
    choices: tuple[tuple[str, str], ...] = ()  # coded values -> labels (ODM CodeList)


@dataclass(frozen=True)
class Domain:
    name: str  # file and ItemGroup name: "adverse_events"
    code: str  # two-letter code (SDTM-like): "AE"
    label: str
    model: type[models.Model]
    columns: tuple[Column, ...]
    queryset: Callable  # trial -> queryset of the trial's records (voided ones included)
    subject: Callable | None = None  # record -> subject (None: a trial-level domain)
    related: tuple[str, ...] = field(default=())  # select_related on records and their events
    site_path: str | None = "subject__site"  # the lookup to the record's site (None: trial-level)

    def records(self, trial, sites=None):
        """The trial's records (voided ones included), of the subjects of ``sites`` only when given."""
        queryset = self.queryset(trial).select_related(*self.related)
        if sites is not None and self.site_path is not None:
            queryset = queryset.filter(**{f"{self.site_path}__in": sites})
        return queryset

    def output_columns(self, deid: Deidentifier) -> list[tuple[str, Column | None]]:
        """(output column name, column) in order, for this export's de-identification; the leading key
        columns have no :class:`Column` (None)."""
        keys = ["usubjid", "subject_code", "site"] if self.subject is not None else ["trial"]
        out: list[tuple[str, Column | None]] = [(k, None) for k in keys] + [("record_id", None)]
        for column in self.columns:
            if deid.deidentified and (column.identity or column.free_text):
                continue
            if column.kind in (DATE, DATETIME) and deid.mode == "study_day":
                out.append((f"{column.name}_study_day", column))
            else:
                out.append((column.name, column))
        return out

    def output_kind(self, name: str, column: Column | None) -> str:
        if column is None:
            return INTEGER if name == "record_id" else TEXT
        if name.endswith("_study_day") and column.kind in (DATE, DATETIME):
            return INTEGER
        return column.kind


def _field_column(model, name: str, *, label: str = "", identity=False, free_text=False) -> Column:
    f = model._meta.get_field(name)
    if isinstance(f, models.ForeignKey):
        raise TypeError(f"{model.__name__}.{name}: a foreign key needs its own getter")
    kind = {
        models.DateTimeField: DATETIME,
        models.DateField: DATE,
        models.BooleanField: BOOLEAN,
        models.DecimalField: DECIMAL,
        models.FloatField: DECIMAL,
        models.JSONField: JSON,
    }.get(type(f))
    if kind is None:
        kind = INTEGER if isinstance(f, models.IntegerField) else TEXT
    return Column(
        name=name,
        label=label or str(f.verbose_name),
        kind=kind,
        get=lambda obj, attname=f.attname: getattr(obj, attname),
        identity=identity,
        free_text=free_text,
        choices=tuple((str(v), str(lbl)) for v, lbl in f.flatchoices if v not in ("", None)) if f.choices else (),
    )


def _fields(model, *names: str, **flags) -> tuple[Column, ...]:
    return tuple(_field_column(model, name, **flags) for name in names)


def _col(name, label, kind, get, **extra) -> Column:
    return Column(name=name, label=label, kind=kind, get=get, **extra)


def _user(attname: str, label: str) -> Column:
    """A user foreign key: the user name (identifiable exports only)."""

    def get(obj):
        user = getattr(obj, attname.removesuffix("_id"), None) if getattr(obj, attname, None) else None
        return "" if user is None else (user.get_full_name() or user.username)

    return _col(attname.removesuffix("_id"), label, TEXT, get, identity=True)


def _void_columns() -> tuple[Column, ...]:
    return (
        _col(
            "record_status",
            "Record status (live or void)",
            TEXT,
            lambda o: "void" if getattr(o, "voided_at", None) else "live",
            choices=(("live", "Live"), ("void", "Void")),
        ),
        _col("voided_at", "Voided at", DATETIME, lambda o: getattr(o, "voided_at", None)),
        _col("void_reason", "Reason voided", TEXT, lambda o: getattr(o, "void_reason", ""), free_text=True),
    )


def _all(model):
    return getattr(model, "all_objects", model._default_manager)


def _domains() -> dict[str, Domain]:
    from escalation.models import EscalationDecision, Signature
    from pk.models import LabResult, Sample
    from response.models import Lesion, LesionMeasurement, TumourAssessment
    from screening.models import ScreeningRecord
    from subjects.models import AdverseEvent, Assessment, DoseAdministration, OralDispensing, Subject
    from visits.models import FollowUp, PlannedVisit

    def subject_of(record):
        return record.subject

    domains = [
        Domain(
            name="subjects",
            code="DM",
            label="Subjects (demographics, enrolment, end of treatment and study)",
            model=Subject,
            subject=lambda s: s,
            related=("site", "dose_level", "cohort"),
            site_path="site",
            queryset=lambda trial: Subject.objects.filter(trial=trial).order_by("code"),
            columns=(
                *_fields(Subject, "initials", "date_of_birth", identity=True),
                *_fields(Subject, "sex", "tumour_type", "status"),
                _col("cohort", "Cohort", TEXT, lambda s: str(s.cohort.number) if s.cohort_id else ""),
                _col("dose_level", "Dose level", TEXT, lambda s: s.dose_level.label if s.dose_level_id else ""),
                *_fields(Subject, "enrolled_at", "off_study_on", "off_study_reason"),
                *_fields(Subject, "off_study_detail", free_text=True),
                *_fields(Subject, "end_of_treatment_reason"),
                *_fields(Subject, "end_of_treatment_detail", free_text=True),
            ),
        ),
        Domain(
            name="screening",
            code="IE",
            label="Screening (consent, eligibility values and judgements)",
            model=ScreeningRecord,
            subject=lambda r: r.subject if r.subject_id else None,
            related=("site", "subject"),
            site_path="site",
            queryset=lambda trial: _all(ScreeningRecord).filter(trial=trial).order_by("number"),
            columns=(
                *_fields(ScreeningRecord, "number"),
                *_fields(ScreeningRecord, "initials", "date_of_birth", identity=True),
                *_fields(ScreeningRecord, "sex", "consent_form_version", "consent_date", "assessed_on", "values"),
                _col(
                    "judgements",
                    "Judgements (criterion: met)",
                    JSON,
                    lambda r: {code: bool(j.get("met")) for code, j in (r.judgements or {}).items()},
                ),
                *_fields(ScreeningRecord, "status", "failure_reasons", "decided_at"),
                *_void_columns(),
            ),
        ),
        Domain(
            name="doses",
            code="EX",
            label="Doses administered",
            model=DoseAdministration,
            subject=subject_of,
            related=("subject__site", "drug"),
            queryset=lambda trial: (
                _all(DoseAdministration).filter(subject__trial=trial).order_by("subject__code", "administered_at", "pk")
            ),
            columns=(
                _col("drug", "Drug", TEXT, lambda d: d.drug.name),
                *_fields(
                    DoseAdministration, "cycle", "day", "administered_at", "dose", "unit", "weight_kg", "planned_dose"
                ),
                *_fields(DoseAdministration, "deviation_reason", free_text=True),
                _col(
                    "from_dispensing",
                    "Derived from an oral dispensing record",
                    BOOLEAN,
                    lambda d: d.dispensing_id is not None,
                ),
                *_void_columns(),
            ),
        ),
        Domain(
            name="dispensings",
            code="DA",
            label="Oral drug dispensing and accountability",
            model=OralDispensing,
            subject=subject_of,
            related=("subject__site", "drug"),
            queryset=lambda trial: (
                _all(OralDispensing).filter(subject__trial=trial).order_by("subject__code", "cycle", "pk")
            ),
            columns=(
                _col("drug", "Drug", TEXT, lambda d: d.drug.name),
                *_fields(
                    OralDispensing,
                    "cycle",
                    "dispensed_on",
                    "first_dose_at",
                    "tablets_dispensed",
                    "tablet_strength",
                    "tablets_per_day",
                    "returned_on",
                    "tablets_returned",
                    "missed_days",
                ),
                *_fields(OralDispensing, "discrepancy_reason", free_text=True),
                *_void_columns(),
            ),
        ),
        Domain(
            name="assessments",
            code="VS",
            label="Pre-dose assessments (vital signs, laboratory, ECOG)",
            model=Assessment,
            subject=subject_of,
            related=("subject__site",),
            queryset=lambda trial: (
                _all(Assessment).filter(subject__trial=trial).order_by("subject__code", "assessed_on", "pk")
            ),
            columns=(
                *_fields(Assessment, "kind", "assessed_on", "weight_kg", "ecog"),
                *_fields(Assessment, "notes", free_text=True),
                *_void_columns(),
            ),
        ),
        Domain(
            name="adverse_events",
            code="AE",
            label="Adverse events, with the DLT adjudication",
            model=AdverseEvent,
            subject=subject_of,
            related=("subject__site", "ctcae", "adjudicated_by"),
            queryset=lambda trial: (
                _all(AdverseEvent).filter(subject__trial=trial).order_by("subject__code", "onset_date", "pk")
            ),
            columns=(
                *_fields(AdverseEvent, "term"),
                _col(
                    "meddra_code", "MedDRA code (CTCAE v5.0)", TEXT, lambda e: e.ctcae.meddra_code if e.ctcae_id else ""
                ),
                _col("soc", "System organ class", TEXT, lambda e: e.ctcae.soc if e.ctcae_id else ""),
                *_fields(
                    AdverseEvent,
                    "grade",
                    "onset_date",
                    "resolution_date",
                    "serious",
                    "serious_criteria",
                    "attribution",
                    "attributions",
                    "immune_related",
                    "action_taken",
                    "outcome",
                    "dlt_status",
                    "is_dlt",
                ),
                _user("adjudicated_by_id", "DLT adjudicated by"),
                *_fields(AdverseEvent, "adjudicated_at"),
                *_fields(AdverseEvent, "adjudication_comment", free_text=True),
                *_void_columns(),
            ),
        ),
        Domain(
            name="visits",
            code="SV",
            label="Planned visits and their outcome",
            model=PlannedVisit,
            subject=subject_of,
            related=("subject__site",),
            queryset=lambda trial: PlannedVisit.objects.filter(subject__trial=trial).order_by(
                "subject__code", "target", "pk"
            ),
            columns=(
                *_fields(PlannedVisit, "code", "kind", "target", "window_start", "window_end", "status", "done_on"),
                *_fields(PlannedVisit, "missed_reason", free_text=True),
                *_fields(PlannedVisit, "deviation", "deviation_days"),
            ),
        ),
        Domain(
            name="follow_ups",
            code="SS",
            label="Follow-up (end of treatment, progression, survival)",
            model=FollowUp,
            subject=subject_of,
            related=("subject__site",),
            queryset=lambda trial: FollowUp.objects.filter(subject__trial=trial).order_by("subject__code"),
            columns=(
                *_fields(
                    FollowUp,
                    "last_dose",
                    "new_therapy",
                    "clinical_progression",
                    "last_known_alive",
                    "follow_up_end",
                    "follow_up_end_reason",
                ),
                *_fields(FollowUp, "death_cause", free_text=True),
            ),
        ),
        Domain(
            name="tumour_assessments",
            code="RS",
            label="Tumour assessments (RECIST 1.1 time points and responses)",
            model=TumourAssessment,
            subject=subject_of,
            related=("subject__site", "visit"),
            queryset=lambda trial: (
                _all(TumourAssessment).filter(subject__trial=trial).order_by("subject__code", "assessed_on", "pk")
            ),
            columns=(
                _col("visit", "Imaging visit", TEXT, lambda a: a.visit.code if a.visit_id else ""),
                *_fields(
                    TumourAssessment,
                    "baseline",
                    "assessed_on",
                    "method",
                    "new_lesions",
                    "sum_mm",
                    "change_from_baseline_pct",
                    "change_from_nadir_pct",
                    "nadir_mm",
                    "target_response",
                    "non_target_response",
                    "computed_response",
                    "response",
                ),
                *_fields(TumourAssessment, "override_reason", free_text=True),
                *_void_columns(),
            ),
        ),
        Domain(
            name="lesions",
            code="TU",
            label="Lesions (targets and non-targets)",
            model=Lesion,
            subject=subject_of,
            related=("subject__site",),
            queryset=lambda trial: _all(Lesion).filter(subject__trial=trial).order_by("subject__code", "key", "pk"),
            columns=(*_fields(Lesion, "key", "kind", "organ", "location", "node"), *_void_columns()),
        ),
        Domain(
            name="lesion_measurements",
            code="TR",
            label="Lesion measurements per time point",
            model=LesionMeasurement,
            subject=lambda m: m.lesion.subject,
            related=("lesion__subject__site", "assessment"),
            site_path="lesion__subject__site",
            queryset=lambda trial: (
                _all(LesionMeasurement)
                .filter(lesion__subject__trial=trial)
                .order_by("lesion__subject__code", "assessment__assessed_on", "lesion__key", "pk")
            ),
            columns=(
                _col("lesion", "Lesion", TEXT, lambda m: m.lesion.key),
                _col("assessment_id", "Tumour assessment (record_id)", INTEGER, lambda m: m.assessment_id),
                *_fields(LesionMeasurement, "status", "diameter_mm", "axis"),
                *_void_columns(),
            ),
        ),
        Domain(
            name="pk_samples",
            code="PC",
            label="PK and biomarker samples",
            model=Sample,
            subject=subject_of,
            related=("subject__site",),
            queryset=lambda trial: Sample.objects.filter(subject__trial=trial).order_by(
                "subject__code", "nominal_at", "code", "pk"
            ),
            columns=(
                *_fields(
                    Sample,
                    "code",
                    "sample_id",
                    "kind",
                    "analytes",
                    "cycle",
                    "nominal_hours",
                    "nominal_at",
                    "collected_at",
                    "status",
                    "deviation_minutes",
                    "deviation",
                ),
                *_fields(Sample, "missed_reason", "comment", free_text=True),
                _col("shipment", "Shipment", INTEGER, lambda s: s.shipment_id),
            ),
        ),
        Domain(
            name="pk_results",
            code="PP",
            label="Laboratory results of the samples (PK, ADA, RO, biomarkers)",
            model=LabResult,
            subject=lambda r: r.sample.subject,
            related=("sample__subject__site",),
            site_path="sample__subject__site",
            queryset=lambda trial: (
                _all(LabResult)
                .filter(sample__subject__trial=trial)
                .order_by("sample__subject__code", "sample__nominal_at", "analyte", "pk")
            ),
            columns=(
                _col("sample_id", "Sample ID", TEXT, lambda r: r.sample.sample_id),
                *_fields(
                    LabResult, "analyte", "value", "unit", "blq", "lloq", "ada_positive", "category", "analysed_on"
                ),
                *_void_columns(),
            ),
        ),
        Domain(
            name="decisions",
            code="DE",
            label="Dose-escalation decisions",
            model=EscalationDecision,
            site_path=None,
            related=("cohort__dose_level", "next_dose_level", "recommended_dose_level", "decided_next_dose_level"),
            queryset=lambda trial: EscalationDecision.objects.filter(trial=trial).order_by("created_at", "pk"),
            columns=(
                _col("cohort", "Cohort", TEXT, lambda d: str(d.cohort.number)),
                _col("cohort_dose_level", "Cohort dose level", TEXT, lambda d: d.cohort.dose_level.label),
                *_fields(EscalationDecision, "created_at", "status", "continue_trial"),
                _col(
                    "next_dose_level",
                    "Recommended next level",
                    TEXT,
                    lambda d: d.next_dose_level.label if d.next_dose_level_id else "",
                ),
                *_fields(EscalationDecision, "add_subjects"),
                _col(
                    "recommended_dose_level",
                    "Recommended dose level",
                    TEXT,
                    lambda d: d.recommended_dose_level.label if d.recommended_dose_level_id else "",
                ),
                *_fields(EscalationDecision, "declared", "rationale", "outcomes", "data_sha256", "decided_at"),
                _col(
                    "decided_next_dose_level",
                    "Decided next level",
                    TEXT,
                    lambda d: d.decided_next_dose_level.label if d.decided_next_dose_level_id else "",
                ),
                *_fields(EscalationDecision, "decided_add_subjects"),
                *_fields(EscalationDecision, "justification", "invalidated_reason", free_text=True),
            ),
        ),
        Domain(
            name="signatures",
            code="SG",
            label="Electronic signatures (decisions, RP2D, intra-patient escalation)",
            model=Signature,
            related=("signer",),
            site_path=None,
            queryset=lambda trial: Signature.objects.filter(
                models.Q(decision__trial=trial)
                | models.Q(declaration__trial=trial)
                | models.Q(agreement__subject__trial=trial)
            ).order_by("signed_at", "pk"),
            columns=(
                _col(
                    "signed",
                    "Signed record",
                    TEXT,
                    lambda s: (
                        f"decision {s.decision_id}"
                        if s.decision_id
                        else f"rp2d {s.declaration_id}"
                        if s.declaration_id
                        else f"intra-patient {s.agreement_id}"
                    ),
                ),
                *_fields(Signature, "printed_name", identity=True),
                *_fields(Signature, "role", "meaning"),
                *_fields(Signature, "comment", free_text=True),
                *_fields(Signature, "signed_at", "data_sha256"),
            ),
        ),
    ]
    return {d.name: d for d in domains}


class _Domains(dict):
    """The domains by name, built on first use (the models must be loaded)."""

    def _load(self):
        if not dict.__len__(self):
            self.update(_domains())

    def __getitem__(self, key):
        self._load()
        return super().__getitem__(key)

    def __iter__(self):
        self._load()
        return super().__iter__()

    def __len__(self):
        self._load()
        return super().__len__()

    def values(self):
        self._load()
        return super().values()

    def items(self):
        self._load()
        return super().items()

    def keys(self):
        self._load()
        return super().keys()

    def get(self, key, default=None):
        self._load()
        return super().get(key, default)

    def __contains__(self, key):
        self._load()
        return super().__contains__(key)


DOMAINS: dict[str, Domain] = _Domains()

# Trial-level (no subject): a date's study day counts from the trial's first dose.


def _trial_subject(trial):
    """A stand-in subject for trial-level dates: the reference is the trial's first dose, the shift is the
    trial's (keyed on the trial code)."""
    from subjects.models import DoseAdministration

    first = DoseAdministration.objects.filter(subject__trial=trial).order_by("administered_at").first()
    stand_in = SimpleNamespace(pk=f"trial-{trial.pk}", code=f"trial:{trial.code}")
    stand_in.first_dose = lambda: first
    stand_in.enrolled_at = None
    return stand_in


def _screening_subject(record):
    """A stand-in for a candidate never enrolled: no reference day; the shift keyed on the screening number."""
    stand_in = SimpleNamespace(pk=f"screening-{record.pk}", code=f"screening:{record.number}", enrolled_at=None)
    stand_in.first_dose = lambda: None
    return stand_in


def _plain(value, kind: str):
    """A value as the flat export writes it (the reload gives it back)."""
    if value is None:
        return None
    if kind == DECIMAL:
        return Decimal(str(value))
    if kind == JSON:
        return json.loads(json.dumps(value, default=str))
    return value


def _shifted(text_value: str, kind: str):
    if not text_value:
        return None
    return datetime.fromisoformat(text_value) if kind == DATETIME else date.fromisoformat(text_value)


def domain_rows(
    domain: Domain | str, trial, deid: Deidentifier, *, records=None, owners=None, sites=None
) -> list[dict]:
    """The rows of ``domain`` for ``trial`` (or for ``records``: the records or audit events to write;
    ``owners`` maps a record id to its live record, whose subject an audit event's row names; ``sites``: the
    subjects of these sites only)."""
    domain = DOMAINS[domain] if isinstance(domain, str) else domain
    if records is None:
        records = domain.records(trial, sites)
    trial_stand_in = None
    out = []
    columns = domain.output_columns(deid)
    for record in records:
        subject, stand_in = None, None
        if domain.subject is not None:
            subject = domain.subject(owners[record.pgh_obj_id] if owners is not None else record)
            stand_in = subject if subject is not None else _screening_subject(record)
        else:
            if trial_stand_in is None:
                trial_stand_in = _trial_subject(trial)
            stand_in = trial_stand_in
        row: dict[str, object] = {}
        for name, column in columns:
            if column is None:
                if name == "usubjid":
                    row[name] = deid.usubjid(subject) if subject is not None else ""
                elif name == "subject_code":
                    row[name] = subject.code if subject is not None else ""
                elif name == "site":
                    site = subject.site if subject is not None else getattr(record, "site", None)
                    row[name] = site.code if site is not None else ""
                elif name == "trial":
                    row[name] = trial.code
                elif name == "record_id":
                    row[name] = getattr(record, "pgh_obj_id", None) or record.pk
                continue
            value = column.get(record)
            if column.kind in (DATE, DATETIME):
                if deid.mode == "study_day":
                    row[name] = deid.day(stand_in, value)
                elif deid.deidentified:
                    row[name] = _shifted(deid.date(stand_in, value), column.kind)
                else:
                    row[name] = value
                continue
            row[name] = _plain(value, column.kind)
        out.append(row)
    return out


def rows(name: str, trial, *, deidentified: bool, sites=None) -> list[dict]:
    """The rows of the domain ``name`` for ``trial``, de-identified or not."""
    return domain_rows(DOMAINS[name], trial, Deidentifier(trial, deidentified=deidentified), sites=sites)


def _entry(name: str):
    def rows_of(trial, deid: Deidentifier, sites=None) -> list[dict]:
        return domain_rows(name, trial, deid, sites=sites)

    rows_of.__name__ = f"{name}_rows"
    rows_of.__doc__ = f"The rows of the {name} domain of ``trial`` through ``deid``."
    return rows_of


subjects_rows = _entry("subjects")
screening_rows = _entry("screening")
doses_rows = _entry("doses")
dispensings_rows = _entry("dispensings")
assessments_rows = _entry("assessments")
adverse_events_rows = _entry("adverse_events")
visits_rows = _entry("visits")
follow_ups_rows = _entry("follow_ups")
tumour_assessments_rows = _entry("tumour_assessments")
lesions_rows = _entry("lesions")
lesion_measurements_rows = _entry("lesion_measurements")
pk_samples_rows = _entry("pk_samples")
pk_results_rows = _entry("pk_results")
decisions_rows = _entry("decisions")
signatures_rows = _entry("signatures")


def text(value, kind: str) -> str:
    """A row value as text (CSV cell, ODM ItemData Value): ISO 8601 dates, ``true``/``false``, JSON."""
    if value is None:
        return ""
    if kind == BOOLEAN or isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if kind == JSON:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def parse(cell: str, kind: str):
    """The inverse of :func:`text` for one column type ("" is None, except for text)."""
    if kind == TEXT:
        return cell
    if cell == "":
        return None
    if kind == INTEGER:
        return int(cell)
    if kind == DECIMAL:
        return Decimal(cell)
    if kind == BOOLEAN:
        return {"true": True, "false": False}[cell]
    if kind == DATE:
        return date.fromisoformat(cell)
    if kind == DATETIME:
        return datetime.fromisoformat(cell)
    if kind == JSON:
        return json.loads(cell)
    raise ValueError(kind)
