"""SDTM-shaped tabulation datasets of one trial, as SAS transport (XPORT v5) files, with their Define-XML.

:func:`build_sdtm` is the entry point the export jobs call: it returns ``{file name: content}`` — one ``.xpt``
per dataset (DM, AE and its SUPPAE, EX, VS, LB, PC, RS, TR, TU; written with pyreadstat) and ``define.xml``
(exports.define), which describes exactly the datasets and variables written and is validated against the
Define-XML 2.0 schema before it is returned.

Site scope: ``sites=`` restricts every dataset to the subjects of those sites (a site-scoped requester),
as the CSV and ODM builders do.

What each dataset holds (SDTMIG 3.2 names; the controlled terms are exports.terminology's):

- DM: one row per enrolled subject: reference dates (first and last dose), site, age at consent, sex, the
  dose level as the arm. BRTHDTC only in an identifiable export.
- AE (+ SUPPAE): every live adverse event with its CTCAE term and grade (AETOXGR), seriousness and its
  criteria, causality (AEREL), action and outcome; SUPPAE ``AEDLT`` says which events were adjudicated DLTs.
- EX: every live dose given. VS: the body weight (screening and pre-dose vital signs). LB: the screening
  laboratory values. PC: the PK concentrations the bioanalytical lab reported (live results of PK samples).
- TU, TR, RS: RECIST 1.1 — the lesions identified at baseline (and unequivocal new lesions), what every time
  point measured with the sums, and the responses per time point.

De-identification is exports.deid's, the one mechanism of every export: USUBJID is the subject code (it starts
with the study code); every ``--DTC`` is the recorded date (identifiable), shifted (``shift``) or empty
(``study_day``), and every ``--DY`` carries the study day in all modes. Voided entries are never exported
(default managers).
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from exports import terminology as ct
from exports.deid import Deidentifier

SDTMIG_VERSION = "3.2"
XPT_MAX_CHARS = 200  # SAS transport v5: character variables up to 200 bytes


@dataclass(frozen=True)
class Var:
    """One SDTM variable: its name (<= 8), label (<= 40), data type as Define-XML writes it (text, integer,
    float, date, datetime), codelist (exports.terminology key), origin, role and whether it is required."""

    name: str
    label: str
    type: str = "text"
    codelist: str | None = None
    origin: str = "CRF"
    role: str = "Record Qualifier"
    mandatory: bool = False
    key: int | None = None  # position in the dataset's keys (Define-XML ItemRef/@KeySequence)
    identifiable: bool = False  # written in an identifiable export only

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "float")


@dataclass
class Dataset:
    name: str  # DM, AE, SUPPAE ...
    label: str
    cls: str  # Define-XML def:Class
    structure: str
    variables: tuple[Var, ...]
    rows: list[dict]
    domain: str = ""

    @property
    def file_name(self) -> str:
        return f"{self.name.lower()}.xpt"


def _v(name, label, type="text", **kw):
    return Var(name, label, type, **kw)


def _ident() -> tuple[Var, ...]:
    return (
        _v("STUDYID", "Study Identifier", origin="Assigned", role="Identifier", mandatory=True, key=1),
        _v("DOMAIN", "Domain Abbreviation", origin="Assigned", role="Identifier", mandatory=True),
        _v("USUBJID", "Unique Subject Identifier", origin="Derived", role="Identifier", mandatory=True, key=2),
    )


_WHAT = {"AE": "Adverse Event", "EX": "Treatment"}
_POINT = {"VS": "Collection", "LB": "Specimen Collection", "PC": "Specimen Collection",
          "RS": "Response Assessment", "TR": "Tumor Measurement", "TU": "Tumor Identification"}


def _timing(prefix: str, *, datetime_: bool = False, end: bool = False, point: bool = False) -> tuple[Var, ...]:
    """The --DTC / --DY variables of a domain: one date for findings, start (and end) for the others."""
    kind = "datetime" if datetime_ else "date"
    if point:
        return (_v(f"{prefix}DTC", f"Date/Time of {_POINT[prefix]}", kind, role="Timing"),
                _v(f"{prefix}DY", "Study Day of Visit/Collection/Exam" if prefix in ("VS", "RS", "TR", "TU")
                   else f"Study Day of {_POINT[prefix]}", "integer", origin="Derived", role="Timing"))
    what = _WHAT[prefix]
    out = [_v(f"{prefix}STDTC", f"Start Date/Time of {what}", kind, role="Timing")]
    if end:
        out.append(_v(f"{prefix}ENDTC", f"End Date/Time of {what}", kind, role="Timing"))
    out.append(_v(f"{prefix}STDY", f"Study Day of Start of {what}", "integer", origin="Derived", role="Timing"))
    if end:
        out.append(_v(f"{prefix}ENDY", f"Study Day of End of {what}", "integer", origin="Derived", role="Timing"))
    return tuple(out)


def _seq(prefix: str) -> Var:
    return _v(f"{prefix}SEQ", "Sequence Number", "integer", origin="Derived", role="Identifier", mandatory=True)


# --- dataset metadata ----------------------------------------------------------------------------------------

DM_VARS = (
    *_ident(),
    _v("SUBJID", "Subject Identifier for the Study", role="Topic", mandatory=True),
    _v("RFSTDTC", "Subject Reference Start Date/Time", "datetime", origin="Derived"),
    _v("RFENDTC", "Subject Reference End Date/Time", "date", origin="Derived"),
    _v("RFXSTDTC", "Date/Time of First Study Treatment", "datetime", origin="Derived"),
    _v("RFXENDTC", "Date/Time of Last Study Treatment", "datetime", origin="Derived"),
    _v("SITEID", "Study Site Identifier", mandatory=True),
    _v("BRTHDTC", "Date/Time of Birth", "date", identifiable=True),
    _v("AGE", "Age", "integer", origin="Derived"),
    _v("AGEU", "Age Units", codelist="AGEU", origin="Assigned", role="Variable Qualifier"),
    _v("SEX", "Sex", codelist="SEX", mandatory=True),
    _v("ARMCD", "Planned Arm Code", origin="Assigned", mandatory=True),
    _v("ARM", "Description of Planned Arm", origin="Assigned", role="Synonym Qualifier", mandatory=True),
    _v("ACTARMCD", "Actual Arm Code", origin="Derived", mandatory=True),
    _v("ACTARM", "Description of Actual Arm", origin="Derived", role="Synonym Qualifier", mandatory=True),
    _v("COUNTRY", "Country", mandatory=True),
    _v("DMDTC", "Date/Time of Collection", "date", role="Timing"),
    _v("DMDY", "Study Day of Collection", "integer", origin="Derived", role="Timing"),
)

AE_VARS = (
    *_ident(), _seq("AE"),
    _v("AETERM", "Reported Term for the Adverse Event", role="Topic", mandatory=True),
    _v("AEDECOD", "Dictionary-Derived Term", codelist="AEDECOD", origin="Derived", role="Synonym Qualifier",
       mandatory=True),
    _v("AEBODSYS", "Body System or Organ Class", origin="Derived"),
    _v("AESER", "Serious Event", codelist="NY"),
    _v("AEACN", "Action Taken with Study Treatment", codelist="ACN"),
    _v("AEREL", "Causality", codelist="AEREL"),
    _v("AEOUT", "Outcome of Adverse Event", codelist="OUT"),
    _v("AESCONG", "Congenital Anomaly or Birth Defect", codelist="NY"),
    _v("AESDISAB", "Persist or Signif Disability/Incapacity", codelist="NY"),
    _v("AESDTH", "Results in Death", codelist="NY"),
    _v("AESHOSP", "Requires or Prolongs Hospitalization", codelist="NY"),
    _v("AESLIFE", "Is Life Threatening", codelist="NY"),
    _v("AESMIE", "Other Medically Important Serious Event", codelist="NY"),
    _v("AETOXGR", "Standard Toxicity Grade", codelist="TOXGR"),
    _v("EPOCH", "Epoch", codelist="EPOCH", origin="Derived", role="Timing"),
    *_timing("AE", end=True),
)

SUPPAE_VARS = (
    _v("STUDYID", "Study Identifier", origin="Assigned", role="Identifier", mandatory=True, key=1),
    _v("RDOMAIN", "Related Domain Abbreviation", origin="Assigned", role="Identifier", mandatory=True, key=2),
    _v("USUBJID", "Unique Subject Identifier", origin="Derived", role="Identifier", mandatory=True, key=3),
    _v("IDVAR", "Identifying Variable", origin="Assigned", role="Identifier", key=4),
    _v("IDVARVAL", "Identifying Variable Value", origin="Derived", role="Identifier", key=5),
    _v("QNAM", "Qualifier Variable Name", origin="Assigned", role="Topic", mandatory=True, key=6),
    _v("QLABEL", "Qualifier Variable Label", origin="Assigned", role="Synonym Qualifier", mandatory=True),
    _v("QVAL", "Data Value", codelist="NY", role="Result Qualifier", mandatory=True),
    _v("QORIG", "Origin", origin="Assigned", mandatory=True),
    _v("QEVAL", "Evaluator", codelist="EVAL", origin="Assigned"),
)

EX_VARS = (
    *_ident(), _seq("EX"),
    _v("EXTRT", "Name of Treatment", role="Topic", mandatory=True),
    _v("EXDOSE", "Dose", "float"),
    _v("EXDOSU", "Dose Units", codelist="UNIT", role="Variable Qualifier"),
    _v("EXDOSFRM", "Dose Form", codelist="FRM", origin="Assigned", role="Variable Qualifier"),
    _v("EXROUTE", "Route of Administration", codelist="ROUTE", origin="Assigned", role="Variable Qualifier"),
    _v("VISITNUM", "Visit Number", "integer", origin="Derived", role="Timing"),
    _v("VISIT", "Visit Name", origin="Derived", role="Timing"),
    _v("EPOCH", "Epoch", codelist="EPOCH", origin="Derived", role="Timing"),
    *_timing("EX", datetime_=True, end=True),
)

VS_VARS = (
    *_ident(), _seq("VS"),
    _v("VSTESTCD", "Vital Signs Test Short Name", codelist="VSTESTCD", origin="Assigned", role="Topic",
       mandatory=True, key=3),
    _v("VSTEST", "Vital Signs Test Name", codelist="VSTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("VSORRES", "Result or Finding in Original Units", role="Result Qualifier"),
    _v("VSORRESU", "Original Units", codelist="UNIT", role="Variable Qualifier"),
    _v("VSSTRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier"),
    _v("VSSTRESN", "Numeric Result/Finding in Standard Units", "float", origin="Derived", role="Result Qualifier"),
    _v("VSSTRESU", "Standard Units", codelist="UNIT", origin="Derived", role="Variable Qualifier"),
    _v("VSBLFL", "Baseline Flag", codelist="NY", origin="Derived"),
    _v("EPOCH", "Epoch", codelist="EPOCH", origin="Derived", role="Timing"),
    *_timing("VS", point=True),
)

LB_VARS = (
    *_ident(), _seq("LB"),
    _v("LBTESTCD", "Lab Test or Examination Short Name", codelist="LBTESTCD", origin="Assigned", role="Topic",
       mandatory=True, key=3),
    _v("LBTEST", "Lab Test or Examination Name", codelist="LBTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("LBCAT", "Category for Lab Test", origin="Assigned", role="Grouping Qualifier"),
    _v("LBORRES", "Result or Finding in Original Units", role="Result Qualifier"),
    _v("LBORRESU", "Original Units", codelist="UNIT", role="Variable Qualifier"),
    _v("LBSTRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier"),
    _v("LBSTRESN", "Numeric Result/Finding in Standard Units", "float", origin="Derived", role="Result Qualifier"),
    _v("LBSTRESU", "Standard Units", codelist="UNIT", origin="Derived", role="Variable Qualifier"),
    _v("LBBLFL", "Baseline Flag", codelist="NY", origin="Derived"),
    _v("EPOCH", "Epoch", codelist="EPOCH", origin="Derived", role="Timing"),
    *_timing("LB", point=True),
)

PC_VARS = (
    *_ident(), _seq("PC"),
    _v("PCREFID", "Reference ID", role="Identifier"),
    _v("PCTESTCD", "Pharmacokinetic Test Short Name", codelist="PCTESTCD", origin="Assigned", role="Topic",
       mandatory=True, key=3),
    _v("PCTEST", "Pharmacokinetic Test Name", codelist="PCTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("PCORRES", "Result or Finding in Original Units", origin="eDT", role="Result Qualifier"),
    _v("PCORRESU", "Original Units", codelist="UNIT", origin="eDT", role="Variable Qualifier"),
    _v("PCSTRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier"),
    _v("PCSTRESN", "Numeric Result/Finding in Standard Units", "float", origin="Derived", role="Result Qualifier"),
    _v("PCSTRESU", "Standard Units", codelist="UNIT", origin="Derived", role="Variable Qualifier"),
    _v("PCSPEC", "Specimen Material Type", codelist="SPECTYPE", origin="Protocol"),
    _v("PCLLOQ", "Lower Limit of Quantitation", "float", origin="eDT", role="Variable Qualifier"),
    _v("VISITNUM", "Visit Number", "integer", origin="Derived", role="Timing"),
    _v("VISIT", "Visit Name", origin="Derived", role="Timing"),
    _v("EPOCH", "Epoch", codelist="EPOCH", origin="Derived", role="Timing"),
    *_timing("PC", datetime_=True, point=True),
    _v("PCTPT", "Planned Time Point Name", origin="Protocol", role="Timing"),
    _v("PCTPTNUM", "Planned Time Point Number", "float", origin="Protocol", role="Timing"),
    _v("PCELTM", "Planned Elapsed Time from Time Point Ref", origin="Protocol", role="Timing"),
    _v("PCTPTREF", "Time Point Reference", origin="Protocol", role="Timing"),
    _v("PCRFTDTC", "Date/Time of Reference Time Point", "datetime", role="Timing"),
)

TU_VARS = (
    *_ident(), _seq("TU"),
    _v("TULNKID", "Link ID", role="Identifier", key=3),
    _v("TUTESTCD", "Tumor Identification Short Name", codelist="TUTESTCD", origin="Assigned", role="Topic",
       mandatory=True),
    _v("TUTEST", "Tumor Identification Test Name", codelist="TUTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("TUORRES", "Tumor Identification Result", role="Result Qualifier"),
    _v("TUSTRESC", "Tumor Identification Result Std. Format", codelist="TURES", origin="Derived",
       role="Result Qualifier"),
    _v("TULOC", "Location of the Tumor", role="Record Qualifier"),
    _v("TUMETHOD", "Method of Identification", role="Record Qualifier"),
    _v("TUEVAL", "Evaluator", codelist="EVAL", origin="Assigned"),
    *_timing("TU", point=True),
)

TR_VARS = (
    *_ident(), _seq("TR"),
    _v("TRGRPID", "Group ID", origin="Derived", role="Identifier"),
    _v("TRLNKID", "Link ID", role="Identifier", key=3),
    _v("TRTESTCD", "Tumor Assessment Short Name", codelist="TRTESTCD", origin="Assigned", role="Topic",
       mandatory=True, key=4),
    _v("TRTEST", "Tumor Assessment Test Name", codelist="TRTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("TRORRES", "Result or Finding in Original Units", role="Result Qualifier"),
    _v("TRORRESU", "Original Units", codelist="UNIT", role="Variable Qualifier"),
    _v("TRSTRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier"),
    _v("TRSTRESN", "Numeric Result/Finding in Standard Units", "float", origin="Derived", role="Result Qualifier"),
    _v("TRSTRESU", "Standard Units", codelist="UNIT", origin="Derived", role="Variable Qualifier"),
    _v("TRSTAT", "Completion Status", role="Record Qualifier"),
    _v("TRMETHOD", "Method used to Identify the Tumor", role="Record Qualifier"),
    _v("TREVAL", "Evaluator", codelist="EVAL", origin="Assigned"),
    *_timing("TR", point=True),
)

RS_VARS = (
    *_ident(), _seq("RS"),
    _v("RSTESTCD", "Response Assessment Short Name", codelist="RSTESTCD", origin="Assigned", role="Topic",
       mandatory=True, key=3),
    _v("RSTEST", "Response Assessment Name", codelist="RSTEST", origin="Assigned", role="Synonym Qualifier",
       mandatory=True),
    _v("RSCAT", "Category for Response Assessment", origin="Protocol", role="Grouping Qualifier"),
    _v("RSORRES", "Response Assessment Original Result", role="Result Qualifier"),
    _v("RSSTRESC", "Response Assessment Result in Std Format", codelist="RSRES", origin="Derived",
       role="Result Qualifier"),
    _v("RSEVAL", "Evaluator", codelist="EVAL", origin="Assigned"),
    _v("RSDRVFL", "Derived Flag", codelist="NY", origin="Derived"),
    *_timing("RS", point=True),
)


# --- helpers -------------------------------------------------------------------------------------------------

def ascii_text(value: str) -> str:
    """SAS transport v5 character data is single-byte: other characters are spelled out or dropped."""
    value = value.replace("µ", "u").replace("μ", "u").replace("⁹", "^9").replace("–", "-").replace("—", "-")
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()[:XPT_MAX_CHARS]


def number(value) -> str:
    """A Decimal as text without trailing zeros (12.50 -> 12.5)."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


def testcd(text: str) -> str:
    """A sponsor-defined --TESTCD: upper case letters and digits, <= 8 characters, starting with a letter."""
    code = re.sub(r"[^A-Z0-9]", "", text.upper())
    if not code or code[0].isdigit():
        code = "A" + code
    return code[:8]


def hours_duration(hours: float) -> str:
    """ISO 8601 duration of a nominal time after the dose: 0 -> PT0H, 4 -> PT4H, 0.5 -> PT0.5H, -0.5 -> -PT0.5H."""
    sign = "-" if hours < 0 else ""
    return f"{sign}PT{abs(hours):g}H"


def time_point(hours: float) -> str:
    if hours == 0:
        return "PRE-DOSE"
    return f"{abs(hours):g}H {'PRE' if hours < 0 else 'POST'}-DOSE"


class _Context:
    """What every dataset builder shares: the trial, the de-identifier, the subjects in order."""

    def __init__(self, trial, deidentified: bool, sites=None):
        from subjects.models import Subject

        self.trial = trial
        self.sites = None if sites is None else list(sites)
        self.deid = Deidentifier(trial, deidentified=deidentified)
        self.studyid = trial.code
        self.subjects = list(self.scope(Subject.objects.filter(trial=trial), "")
                             .select_related("site", "dose_level").order_by("code"))
        self.by_pk = {s.pk: s for s in self.subjects}
        self.levels = list(trial.dose_levels.order_by("rank"))
        self.arm = {lvl.pk: (f"L{n:02d}", lvl.label) for n, lvl in enumerate(self.levels, start=1)}

    def scope(self, queryset, subject_path: str = "subject"):
        """``queryset`` restricted to the subjects of the export's sites (all of the trial's when None), as the
        CSV and ODM builders restrict theirs (exports.domains.Domain.records). ``subject_path``: the lookup from
        the model to its subject ("" for Subject itself)."""
        if self.sites is None:
            return queryset
        return queryset.filter(**{f"{subject_path}__site__in" if subject_path else "site__in": self.sites})

    def usubjid(self, subject) -> str:
        return self.deid.usubjid(subject)

    def dtc(self, subject, value) -> str:
        """ISO 8601 as SDTM writes it: the local date or date and time to the minute, without the UTC offset."""
        text = self.deid.date(subject, value)
        return text[:16] if "T" in text else text

    def dy(self, subject, value):
        return self.deid.day(subject, value)

    def epoch(self, subject, value) -> str:
        """SCREENING before the first dose, TREATMENT from it to the end of treatment (the recorded last dose,
        visits.FollowUp), FOLLOW-UP after it."""
        first = self.deid.reference(subject)
        if value is None or first is None:
            return ""
        day = _as_date(value)
        if day < first:
            return "SCREENING"
        end = self.end_of_treatment.get(subject.pk)
        return "FOLLOW-UP" if end is not None and day > end else "TREATMENT"

    @functools.cached_property
    def end_of_treatment(self) -> dict[int, date]:
        from visits.models import FollowUp

        return {f.subject_id: f.last_dose for f in self.scope(FollowUp.objects.filter(subject__trial=self.trial,
                                                                                      last_dose__isnull=False))}


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def _sequence(rows: list[dict], prefix: str) -> list[dict]:
    counters: dict[str, int] = defaultdict(int)
    for row in rows:
        counters[row["USUBJID"]] += 1
        row[f"{prefix}SEQ"] = counters[row["USUBJID"]]
    return rows


def _base(ctx: _Context, subject, domain: str) -> dict:
    return {"STUDYID": ctx.studyid, "DOMAIN": domain, "USUBJID": ctx.usubjid(subject)}


# --- the datasets --------------------------------------------------------------------------------------------

def _age(subject) -> int | None:
    from screening.models import ScreeningRecord

    screening = ScreeningRecord.objects.filter(subject=subject).first()
    if screening is not None:
        return screening.age
    enrolled = timezone.localdate(subject.enrolled_at)
    dob = subject.date_of_birth
    return enrolled.year - dob.year - ((enrolled.month, enrolled.day) < (dob.month, dob.day))


def dm(ctx: _Context) -> Dataset:
    from visits.models import FollowUp

    follow_ups = {f.subject_id: f for f in ctx.scope(FollowUp.objects.filter(subject__trial=ctx.trial))}
    rows = []
    for s in ctx.subjects:
        doses = list(s.doses.order_by("administered_at"))
        first, last = (doses[0], doses[-1]) if doses else (None, None)
        follow_up = follow_ups.get(s.pk)
        end = s.off_study_on or (follow_up.follow_up_end if follow_up else None) or (
            timezone.localdate(last.administered_at) if last else None)
        armcd, arm = ctx.arm.get(s.dose_level_id, ("NOTASSGN", "Not Assigned"))
        identity = ctx.deid.identity(s)
        rows.append({
            **_base(ctx, s, "DM"), "SUBJID": s.code,
            "RFSTDTC": ctx.dtc(s, first.administered_at if first else None),
            "RFENDTC": ctx.dtc(s, end),
            "RFXSTDTC": ctx.dtc(s, first.administered_at if first else None),
            "RFXENDTC": ctx.dtc(s, last.administered_at if last else None),
            "SITEID": s.site.code, "BRTHDTC": identity.get("date_of_birth", ""),
            "AGE": _age(s), "AGEU": "YEARS", "SEX": s.sex,
            "ARMCD": armcd, "ARM": arm,
            "ACTARMCD": armcd if first else "NOTTRT", "ACTARM": arm if first else "Not Treated",
            "COUNTRY": "",
            "DMDTC": ctx.dtc(s, _as_date(s.enrolled_at)),
            "DMDY": ctx.dy(s, s.enrolled_at),
        })
    return Dataset("DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", DM_VARS, rows, "DM")


def ae(ctx: _Context) -> tuple[Dataset, Dataset]:
    from subjects.models import AdverseEvent

    events = (ctx.scope(AdverseEvent.objects.filter(subject__trial=ctx.trial)).select_related("subject", "ctcae")
              .order_by("subject__code", "onset_date", "pk"))
    rows, supp = [], []
    for e in events:
        s = ctx.by_pk[e.subject_id]
        serious = "Y" if e.serious else "N"
        flags = {flag: ("Y" if crit in e.serious_criteria else "N") if e.serious else ""
                 for crit, flag in ct.SERIOUS_FLAGS.items()}
        rows.append({
            **_base(ctx, s, "AE"), "AETERM": e.term, "AEDECOD": e.ctcae.term if e.ctcae_id else e.term,
            "AEBODSYS": e.ctcae.soc if e.ctcae_id else "", "AESER": serious,
            "AEACN": ct.AEACN[e.action_taken], "AEREL": ct.AEREL[e.attribution], "AEOUT": ct.AEOUT[e.outcome],
            **flags, "AETOXGR": str(e.grade), "EPOCH": ctx.epoch(s, e.onset_date),
            "AESTDTC": ctx.dtc(s, e.onset_date), "AEENDTC": ctx.dtc(s, e.resolution_date),
            "AESTDY": ctx.dy(s, e.onset_date), "AEENDY": ctx.dy(s, e.resolution_date),
            "_event": e,
        })
    _sequence(rows, "AE")
    for row in rows:
        e = row.pop("_event")
        if e.dlt_status == AdverseEvent.DltStatus.PROPOSED:
            continue  # awaiting the investigator's adjudication: neither a DLT nor not one yet
        supp.append({"STUDYID": ctx.studyid, "RDOMAIN": "AE", "USUBJID": row["USUBJID"], "IDVAR": "AESEQ",
                     "IDVARVAL": str(row["AESEQ"]), "QNAM": "AEDLT", "QLABEL": "Dose-Limiting Toxicity",
                     "QVAL": "Y" if e.is_dlt else "N", "QORIG": "CRF",
                     "QEVAL": "INVESTIGATOR" if e.dlt_status else ""})
    return (Dataset("AE", "Adverse Events", "EVENTS", "One record per adverse event per subject", AE_VARS, rows, "AE"),
            Dataset("SUPPAE", "Supplemental Qualifiers for AE", "RELATIONSHIP",
                    "One record per IDVAR, IDVARVAL, and QNAM value per subject", SUPPAE_VARS, supp, "AE"))


def ex(ctx: _Context) -> Dataset:
    from subjects.models import DoseAdministration

    rows = []
    doses = (ctx.scope(DoseAdministration.objects.filter(subject__trial=ctx.trial)).select_related("drug")
             .order_by("subject__code", "administered_at", "drug__order"))
    for d in doses:
        s = ctx.by_pk[d.subject_id]
        route = ct.route(d.drug.route)
        rows.append({
            **_base(ctx, s, "EX"), "EXTRT": d.drug.name.upper(), "EXDOSE": float(d.dose),
            "EXDOSU": ct.unit(d.unit), "EXDOSFRM": ct.dose_form(route), "EXROUTE": route,
            "VISITNUM": d.cycle, "VISIT": f"CYCLE {d.cycle}", "EPOCH": "TREATMENT",
            "EXSTDTC": ctx.dtc(s, d.administered_at), "EXENDTC": ctx.dtc(s, d.administered_at),
            "EXSTDY": ctx.dy(s, d.administered_at), "EXENDY": ctx.dy(s, d.administered_at),
        })
    return Dataset("EX", "Exposure", "INTERVENTIONS", "One record per constant dosing interval per subject",
                   EX_VARS, _sequence(rows, "EX"), "EX")


def _screenings(ctx: _Context) -> dict[int, object]:
    from screening.models import ScreeningRecord

    return {r.subject_id: r for r in ctx.scope(ScreeningRecord.objects.filter(subject__trial=ctx.trial))}


def _baseline_flags(ctx: _Context, rows: list[dict], prefix: str, day_of: Callable[[dict], date | None]):
    """--BLFL = Y on the last result of each test on or before the reference start (the first dose day)."""
    best: dict[tuple, tuple] = {}
    for n, row in enumerate(rows):
        s, day = row.pop("_subject"), day_of(row)
        row.pop("_day", None)
        reference = ctx.deid.reference(s)
        row[f"{prefix}BLFL"] = ""
        if day is None or reference is None or day > reference or row.get(f"{prefix}STRESC", "") == "":
            continue
        k = (row["USUBJID"], row[f"{prefix}TESTCD"])
        if k not in best or day >= best[k][0]:
            best[k] = (day, n)
    for _, n in best.values():
        rows[n][f"{prefix}BLFL"] = "Y"


def vs(ctx: _Context) -> Dataset:
    from subjects.models import Assessment

    rows = []
    for s, record in ((ctx.by_pk[sid], r) for sid, r in _screenings(ctx).items()):
        weight = _decimal((record.values or {}).get("weight"))
        if weight is not None and record.assessed_on:
            rows.append(_weight_row(ctx, s, weight, record.assessed_on))
    for a in ctx.scope(Assessment.objects.filter(subject__trial=ctx.trial, kind="vitals", weight_kg__isnull=False)):
        rows.append(_weight_row(ctx, ctx.by_pk[a.subject_id], a.weight_kg, a.assessed_on))
    rows.sort(key=lambda r: (r["USUBJID"], r["_day"]))
    _baseline_flags(ctx, rows, "VS", lambda r: r["_day"])
    return Dataset("VS", "Vital Signs", "FINDINGS",
                   "One record per vital sign measurement per time point per visit per subject",
                   VS_VARS, _sequence(rows, "VS"), "VS")


def _weight_row(ctx, s, weight: Decimal, day: date) -> dict:
    return {**_base(ctx, s, "VS"), "VSTESTCD": "WEIGHT", "VSTEST": "Weight", "VSORRES": number(weight),
            "VSORRESU": "kg", "VSSTRESC": number(weight), "VSSTRESN": float(weight), "VSSTRESU": "kg",
            "EPOCH": ctx.epoch(s, day), "VSDTC": ctx.dtc(s, day), "VSDY": ctx.dy(s, day),
            "_subject": s, "_day": day}


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def lb(ctx: _Context) -> Dataset:
    from trialrules.eligibility import MG_DL_TO_UMOL_L

    rows = []
    for subject_id, record in sorted(_screenings(ctx).items(), key=lambda i: ctx.by_pk[i[0]].code):
        s, values = ctx.by_pk[subject_id], record.values or {}
        if not record.assessed_on:
            continue
        for analyte, (code, category, std_unit) in ct.LAB_TESTS.items():
            value = _decimal(values.get(analyte))
            if value is None:
                continue
            original_unit = ct.unit(values.get(f"{analyte}_unit") or std_unit)
            standard = value
            if original_unit == "mg/dL" and analyte in MG_DL_TO_UMOL_L:
                standard = (value * MG_DL_TO_UMOL_L[analyte]).quantize(Decimal("0.1"))
            rows.append({
                **_base(ctx, s, "LB"), "LBTESTCD": code, "LBTEST": ct.test_name("LBTESTCD", code),
                "LBCAT": category, "LBORRES": number(value), "LBORRESU": original_unit,
                "LBSTRESC": number(standard), "LBSTRESN": float(standard), "LBSTRESU": std_unit,
                "EPOCH": ctx.epoch(s, record.assessed_on), "LBDTC": ctx.dtc(s, record.assessed_on),
                "LBDY": ctx.dy(s, record.assessed_on), "_subject": s, "_day": record.assessed_on,
            })
    _baseline_flags(ctx, rows, "LB", lambda r: r["_day"])
    return Dataset("LB", "Laboratory Test Results", "FINDINGS",
                   "One record per lab test per time point per visit per subject", LB_VARS,
                   _sequence(rows, "LB"), "LB")


def _pk_analytes(trial) -> dict[str, dict]:
    pk = (trial.definition or {}).get("pk") or {}
    return {a.get("code"): a for a in pk.get("analytes", []) if a.get("kind") == "pk"}


def _specimen(label: str) -> str:
    label = label.lower()
    return "SERUM" if "serum" in label else "PLASMA" if "plasma" in label else ""


def pc(ctx: _Context) -> Dataset:
    from pk.models import LabResult, SampleKind

    analytes = _pk_analytes(ctx.trial)
    rows = []
    results = (ctx.scope(LabResult.objects.filter(sample__subject__trial=ctx.trial, sample__kind=SampleKind.PK),
                         "sample__subject")
               .select_related("sample", "sample__dose").order_by("sample__subject__code", "sample__nominal_at",
                                                                   "analyte"))
    for r in results:
        sample = r.sample
        s = ctx.by_pk[sample.subject_id]
        spec = analytes.get(r.analyte, {})
        label = spec.get("label") or r.analyte
        result = "BLQ" if r.blq else number(r.value)
        collected = sample.collected_at
        rows.append({
            **_base(ctx, s, "PC"), "PCREFID": sample.sample_id, "PCTESTCD": testcd(r.analyte),
            "PCTEST": ascii_text(re.sub(r"\s+(serum|plasma)?\s*concentration$", "", label, flags=re.I)
                                 or r.analyte)[:40],
            "PCORRES": result, "PCORRESU": ct.unit(r.unit), "PCSTRESC": result,
            "PCSTRESN": float(r.value) if r.value is not None and not r.blq else None,
            "PCSTRESU": ct.unit(r.unit) if not r.blq or r.unit else "",
            "PCSPEC": _specimen(label), "PCLLOQ": float(r.lloq) if r.lloq is not None else None,
            "VISITNUM": sample.cycle, "VISIT": f"CYCLE {sample.cycle}",
            "EPOCH": ctx.epoch(s, collected) if collected else "",
            "PCDTC": ctx.dtc(s, collected), "PCDY": ctx.dy(s, collected),
            "PCTPT": time_point(sample.nominal_hours), "PCTPTNUM": float(sample.nominal_hours),
            "PCELTM": hours_duration(sample.nominal_hours), "PCTPTREF": f"CYCLE {sample.cycle} DAY 1 DOSE",
            "PCRFTDTC": ctx.dtc(s, sample.dose.administered_at) if sample.dose_id else "",
        })
    return Dataset("PC", "Pharmacokinetics Concentrations", "FINDINGS",
                   "One record per sample characteristic or time-point concentration per reference time point "
                   "or per analyte per subject", PC_VARS, _sequence(rows, "PC"), "PC")


METHOD = {"CT": "CT SCAN", "MRI": "MRI", "PET-CT": "PET/CT SCAN", "other": "OTHER"}
NT_STATE = {"present": "PRESENT", "absent": "ABSENT", "progression": "UNEQUIVOCAL PROGRESSION"}


def _assessments(ctx: _Context):
    from response.models import TumourAssessment

    return list(ctx.scope(TumourAssessment.objects.filter(subject__trial=ctx.trial))
                .order_by("subject__code", "assessed_on"))


def tu(ctx: _Context, assessments) -> Dataset:
    from response.models import Lesion

    baselines = {a.subject_id: a for a in assessments if a.baseline}
    rows = []
    for lesion in ctx.scope(Lesion.objects.filter(subject__trial=ctx.trial)).order_by("subject__code", "-kind", "key"):
        s, base = ctx.by_pk[lesion.subject_id], baselines.get(lesion.subject_id)
        result = "TARGET" if lesion.kind == "target" else "NON-TARGET"
        when = base.assessed_on if base else None
        rows.append({**_base(ctx, s, "TU"), "TULNKID": lesion.key, "TUTESTCD": "TUMIDENT",
                     "TUTEST": "Tumor Identification", "TUORRES": result, "TUSTRESC": result,
                     "TULOC": ascii_text(lesion.organ.upper()), "TUMETHOD": METHOD.get(base.method, "") if base else "",
                     "TUEVAL": "INVESTIGATOR", "TUDTC": ctx.dtc(s, when), "TUDY": ctx.dy(s, when)})
    new_count: dict[int, int] = defaultdict(int)
    for a in assessments:
        if a.baseline or a.new_lesions != "unequivocal":
            continue
        s = ctx.by_pk[a.subject_id]
        new_count[a.subject_id] += 1
        rows.append({**_base(ctx, s, "TU"), "TULNKID": f"NEW{new_count[a.subject_id]:02d}", "TUTESTCD": "TUMIDENT",
                     "TUTEST": "Tumor Identification", "TUORRES": "NEW", "TUSTRESC": "NEW", "TULOC": "",
                     "TUMETHOD": METHOD.get(a.method, ""), "TUEVAL": "INVESTIGATOR",
                     "TUDTC": ctx.dtc(s, a.assessed_on), "TUDY": ctx.dy(s, a.assessed_on)})
    rows.sort(key=lambda r: (r["USUBJID"], r["TUDY"] if r["TUDY"] is not None else 0))
    return Dataset("TU", "Tumor/Lesion Identification", "FINDINGS",
                   "One record per identified tumor per subject per assessor", TU_VARS, _sequence(rows, "TU"), "TU")


def tr(ctx: _Context, assessments) -> Dataset:
    from response.models import LesionMeasurement

    measurements = defaultdict(list)
    for m in ctx.scope(LesionMeasurement.objects.filter(assessment__subject__trial=ctx.trial),
                       "assessment__subject").select_related("lesion"):
        if m.lesion.voided_at is None:
            measurements[m.assessment_id].append(m)
    rows = []
    for a in assessments:
        s = ctx.by_pk[a.subject_id]
        common = {"TREVAL": "INVESTIGATOR", "TRMETHOD": METHOD.get(a.method, ""), "TRDTC": ctx.dtc(s, a.assessed_on),
                  "TRDY": ctx.dy(s, a.assessed_on)}
        for m in sorted(measurements[a.pk], key=lambda m: (m.lesion.kind != "target", m.lesion.key)):
            target = m.lesion.kind == "target"
            row = {**_base(ctx, s, "TR"), "TRGRPID": "TARGET" if target else "NON-TARGET", "TRLNKID": m.lesion.key,
                   "TRORRES": "", "TRORRESU": "", "TRSTRESC": "", "TRSTRESN": None, "TRSTRESU": "", "TRSTAT": "",
                   **common}
            if target:
                code = "LPERP" if (m.axis == "short" or (not m.axis and m.lesion.node)) else "LDIAM"
                row.update(TRTESTCD=code, TRTEST=ct.test_name("TRTESTCD", code))
                if m.status == "not_evaluated":
                    row["TRSTAT"] = "NOT DONE"
                elif m.diameter_mm is not None:
                    value = number(m.diameter_mm)
                    row.update(TRORRES=value, TRORRESU="mm", TRSTRESC=value, TRSTRESN=float(m.diameter_mm),
                               TRSTRESU="mm")
                elif m.status == "too_small":
                    row.update(TRORRES="TOO SMALL TO MEASURE", TRSTRESC="TOO SMALL TO MEASURE")
            else:
                row.update(TRTESTCD="TUMSTATE", TRTEST="Tumor State")
                if m.status in NT_STATE:
                    row.update(TRORRES=NT_STATE[m.status], TRSTRESC=NT_STATE[m.status])
                else:
                    row["TRSTAT"] = "NOT DONE"
            rows.append(row)
        for code, value in (("SUMDIAM", a.sum_mm), ("PCBSD", a.change_from_baseline_pct),
                            ("PCNSD", a.change_from_nadir_pct)):
            if value is None or (a.baseline and code != "SUMDIAM"):
                continue
            u = "mm" if code == "SUMDIAM" else "%"
            rows.append({**_base(ctx, s, "TR"), "TRGRPID": "TARGET", "TRLNKID": "", "TRTESTCD": code,
                         "TRTEST": ct.test_name("TRTESTCD", code), "TRORRES": number(value), "TRORRESU": u,
                         "TRSTRESC": number(value), "TRSTRESN": float(value), "TRSTRESU": u, "TRSTAT": "", **common})
    return Dataset("TR", "Tumor/Lesion Results", "FINDINGS",
                   "One record per tumor measurement/assessment per visit per subject per assessor", TR_VARS,
                   _sequence(rows, "TR"), "TR")


def rs(ctx: _Context, assessments) -> Dataset:
    rows = []
    for a in assessments:
        if a.baseline:
            continue
        s = ctx.by_pk[a.subject_id]
        for code, value, reviewed in (("TRGRESP", a.target_response, False),
                                      ("NTRGRESP", a.non_target_response, False),
                                      ("OVRLRESP", a.overall, a.reviewed)):
            if not value or ct.CODELISTS["RSRES"].term(value) is None:
                continue
            rows.append({**_base(ctx, s, "RS"), "RSTESTCD": code, "RSTEST": ct.test_name("RSTESTCD", code),
                         "RSCAT": "RECIST 1.1", "RSORRES": value, "RSSTRESC": value,
                         "RSEVAL": "INVESTIGATOR" if reviewed else "", "RSDRVFL": "" if reviewed else "Y",
                         "RSDTC": ctx.dtc(s, a.assessed_on), "RSDY": ctx.dy(s, a.assessed_on)})
    return Dataset("RS", "Disease Response", "FINDINGS",
                   "One record per response assessment per time point per visit per subject per assessor",
                   RS_VARS, _sequence(rows, "RS"), "RS")


# --- writing -------------------------------------------------------------------------------------------------

@dataclass
class Written:
    dataset: Dataset
    variables: tuple[Var, ...]  # the variables in the file, in order
    widths: dict[str, int]  # variable -> storage width (character: bytes; numeric: 8)
    content: bytes


def variables_for(dataset: Dataset, deidentified: bool) -> tuple[Var, ...]:
    return tuple(v for v in dataset.variables if not (v.identifiable and deidentified))


def write_xpt(dataset: Dataset, deidentified: bool) -> Written:
    """The dataset as a SAS transport v5 file (pyreadstat), with its variable labels and dataset label."""
    import pandas as pd
    import pyreadstat

    variables = variables_for(dataset, deidentified)
    columns = {}
    for v in variables:
        values = [row.get(v.name) for row in dataset.rows]
        if v.numeric:
            columns[v.name] = pd.Series([float("nan") if x is None else float(x) for x in values], dtype="float64")
        else:
            columns[v.name] = pd.Series(["" if x is None else ascii_text(str(x)) for x in values], dtype=object)
    frame = pd.DataFrame(columns, columns=[v.name for v in variables])
    widths = {v.name: 8 if v.numeric else max([1, *(len(x) for x in frame[v.name])]) for v in variables}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, dataset.file_name)
        pyreadstat.write_xport(frame, path, file_label=dataset.label, column_labels=[v.label for v in variables],
                               table_name=dataset.name, file_format_version=5)
        with open(path, "rb") as fh:
            content = fh.read()
    return Written(dataset, variables, widths, content)


def build_datasets(trial, *, deidentified: bool, sites=None) -> list[Dataset]:
    """Every dataset of ``trial`` (of the subjects of ``sites`` only, when given), in file order."""
    ctx = _Context(trial, deidentified, sites)
    assessments = _assessments(ctx)
    adverse, supp = ae(ctx)
    return [dm(ctx), adverse, supp, ex(ctx), vs(ctx), lb(ctx), pc(ctx), rs(ctx, assessments), tr(ctx, assessments),
            tu(ctx, assessments)]


def build_sdtm(trial, *, deidentified: bool, sites=None, progress=None) -> dict[str, bytes]:
    """The trial's SDTM datasets (``dm.xpt`` ... ``tu.xpt``, ``suppae.xpt``) and ``define.xml``, de-identified
    or not (exports.deid); of the subjects of ``sites`` only when given (a site-scoped requester's export, as
    the CSV and ODM builders do; None: the whole trial). ``progress(percent, step)`` is told how far it got.
    Raises ``ValueError`` when the Define-XML it wrote does not validate (an invalid export is never returned)."""
    from exports import define

    def tell(percent: int, step: str):
        if progress is not None:
            progress(percent, step)

    tell(5, "Reading the trial's records")
    datasets = build_datasets(trial, deidentified=deidentified, sites=sites)
    files: dict[str, bytes] = {}
    written = []
    for n, ds in enumerate(datasets, start=1):
        tell(10 + int(75 * n / len(datasets)), f"Writing {ds.file_name}")
        w = write_xpt(ds, deidentified)
        written.append(w)
        files[ds.file_name] = w.content
    tell(90, "Writing define.xml")
    xml = define.build_define(trial, written, deidentified=deidentified)
    errors = define.validate(xml)
    if errors:
        raise ValueError("define.xml does not validate against the Define-XML 2.0 schema: " + "; ".join(errors[:5]))
    files["define.xml"] = xml
    tell(100, "Done")
    return files
