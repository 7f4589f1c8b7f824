"""A site's existing subject list (a spreadsheet at go-live), checked whole before anything is imported.

Pure Python, standard library only (no Django): the caller passes the file's text and what the trial and site
already hold (:class:`Context`: the dose levels, the cohorts with their places taken, the subject codes of the
site, the age rule); :func:`validate` returns every accepted row and *every* problem, each naming the data row
(1-based, the header not counted, blank lines skipped), the file line and the column. The caller imports
nothing unless :attr:`Report.ok`. docs/import.md is the same contract in plain words, with an example file.

The file
--------
CSV, UTF-8 (a byte-order mark is tolerated), a header row, one row per subject. Header names are compared
without case and surrounding spaces; the column order is free. Required: :data:`REQUIRED`; optional:
:data:`OPTIONAL`. Any other column is a problem (a typo is never silently ignored), so is a column given twice;
a missing required column is one problem naming it, and then no row is checked. Cells are stripped of spaces.
A cell starting with ``=``, ``+``, ``-`` or ``@`` is text like any other (never a formula): it is checked
against its column's format and, in a free-text column, kept as written.

Decisions (each is in docs/import.md)
-------------------------------------
- **Codes** are the application's own: ``<TRIAL>-<SITE>-<NNN>`` (``BAT6005-SITE-A-001``), the number written
  with at least three digits and no extra leading zero. Enrolment numbers a site's next subject from the count
  of its subjects, so after the import the site's numbers must run from 1 without a gap: a number beyond the
  site's count after the import is a problem (the next enrolment would take a code already used).
- **Dates** are ISO 8601 calendar dates, ``YYYY-MM-DD``. Day-first, month-first, dotted, slashed, named-month
  forms and spreadsheet serial numbers are refused (``03/04/2021`` reads two ways), so is a date with a time.
- **Plausibility**: no date in the future or before 1900; the age at enrolment within the protocol's age rule
  (``Context.age_min``/``age_max``) or, without one, :data:`GENERAL_AGE` (18–110).
- **Status**: :data:`STATUSES` only. No dose is imported, so a subject "on treatment" or "off treatment" cannot
  be: it is imported as ``enrolled`` and its doses are entered in the application (the dose form plans the
  visits). ``off_study`` and ``withdrawn`` need the off-study date (not before enrolment) and reason;
  ``withdrawn`` is the reason ``withdrawn`` (and that reason is status ``withdrawn``), as the off-study form
  records it; ``other`` needs the details.
- **Cohort and dose level** must match what the trial already has: the dose level by its label (case and
  repeated spaces ignored), the cohort by its number (``2`` or ``Cohort 2``) or its label (``EXT-1``). The
  importer creates no cohort. A trial with cohorts needs one per subject, at the dose level given; the cohort's
  places (its capacity less the subjects it has) are not exceeded; a cohort for given tumour types takes only
  those (``tumour_type``).
- :attr:`Report.rows` holds a :class:`SubjectRow` for each row without a problem of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

from trialrules.csv_file import Problem, Row, check_header, read

REQUIRED = ("code", "initials", "date_of_birth", "sex", "enrolled_on", "dose_level", "status")
OPTIONAL = ("cohort", "tumour_type", "off_study_on", "off_study_reason", "off_study_detail")
COLUMNS = REQUIRED + OPTIONAL

MAX_ROWS = 1000
SEXES = {"F": "female", "M": "male"}
ENROLLED, OFF_STUDY, WITHDRAWN = "enrolled", "off_study", "withdrawn"
STATUSES = (ENROLLED, OFF_STUDY, WITHDRAWN)
LEFT = (OFF_STUDY, WITHDRAWN)
# The subject statuses that need doses, which are not imported: why each is refused.
DOSED_STATUSES = {
    "on_treatment": "a subject on treatment has doses, and doses are not imported: import the subject as "
                    "'enrolled' and enter the doses in TrialSite (the first dose plans the visits)",
    "off_treatment": "a subject off treatment has doses, and doses are not imported: import the subject as "
                     "'enrolled' and enter the doses and the end of treatment in TrialSite",
}
OTHER_REASON = "other"
GENERAL_AGE = (18, 110)
EARLIEST = date(1900, 1, 1)
CODE_MAX, TUMOUR_TYPE_MAX, DETAIL_MAX = 40, 120, 300

INITIALS = re.compile(r"[A-Z]{2,4}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SERIAL = re.compile(r"\d{1,6}(?:\.\d+)?")
DATE_FORMS = ("refused: day-first or month-first (15/03/2024, 03/15/2024, 15.03.2024, 15-03-2024), "
              "2024/03/15, named months (15 Mar 2024) and spreadsheet serial numbers")


@dataclass(frozen=True)
class CohortSpec:
    """A cohort of the trial: its number, label ("" for escalation cohorts), the label of its dose level, its
    capacity, the subjects it has now and the tumour types it enrols (empty: any)."""

    number: int
    label: str
    dose_level: str
    capacity: int
    enrolled: int
    tumour_types: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.label or f"Cohort {self.number}"


@dataclass(frozen=True)
class Context:
    """What the trial and the site hold. ``existing_codes``: the subject codes already in the database that
    start with this trial and site's prefix; ``site_subjects``: how many subjects the site has in the trial.
    ``age_min``/``age_max``: the protocol's age rule (None: the general range); ``age_rule`` says it in words.
    ``off_study_reasons``: the off-study reason codes (``subjects.Subject.OffStudyReason``)."""

    trial_code: str
    site_code: str
    levels: tuple[str, ...]
    cohorts: tuple[CohortSpec, ...]
    off_study_reasons: tuple[str, ...]
    today: date
    existing_codes: Collection[str] = ()
    site_subjects: int = 0
    age_min: int | None = None
    age_max: int | None = None
    age_rule: str = ""
    # Refuses a cell's characters (control, bidirectional): a message, or None. Given by the caller
    # (trialsite.forms.character_problem, the rule of every form) so one rule holds everywhere.
    text_problem: Callable[[str], str | None] | None = None

    @property
    def prefix(self) -> str:
        return f"{self.trial_code}-{self.site_code}-"

    @property
    def ages(self) -> tuple[int, int]:
        if self.age_min is None and self.age_max is None:
            return GENERAL_AGE
        return (self.age_min if self.age_min is not None else 0,
                self.age_max if self.age_max is not None else GENERAL_AGE[1])


@dataclass(frozen=True)
class SubjectRow:
    """One accepted row, in the application's spelling (initials upper case, dose level and cohort as the trial
    has them; ``cohort`` is the cohort number or None)."""

    row: int
    line: int
    code: str
    number: int
    initials: str
    date_of_birth: date
    sex: str
    enrolled_on: date
    dose_level: str
    cohort: int | None
    tumour_type: str
    status: str
    off_study_on: date | None
    off_study_reason: str
    off_study_detail: str


@dataclass(frozen=True)
class Report:
    """The accepted rows, every problem in file order, and how many data rows the file has."""

    rows: tuple[SubjectRow, ...]
    problems: tuple[Problem, ...]
    data_rows: int = 0

    @property
    def ok(self) -> bool:
        """True when the file has subjects and no problem at all (then every row is in :attr:`rows`)."""
        return not self.problems and bool(self.rows)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems if p.row is not None})

    def summary(self) -> dict:
        """The accepted rows counted by status, by dose level and by cohort."""
        return {
            "status": dict(Counter(r.status for r in self.rows)),
            "dose_level": dict(Counter(r.dose_level for r in self.rows)),
            "cohort": dict(Counter("—" if r.cohort is None else str(r.cohort) for r in self.rows)),
        }


# Cells -------------------------------------------------------------------------------------------------------

def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _date(row: _Row, column: str, label: str) -> date | None:
    text = row.cell(column)
    if not text:
        return None
    if not ISO_DATE.fullmatch(text):
        if SERIAL.fullmatch(text):
            row.problem(column, f"{text!r} looks like a spreadsheet's date serial number: format the column as "
                                "text and write the date as YYYY-MM-DD (ISO 8601), e.g. 2024-03-15")
        elif ISO_DATE.match(text):
            row.problem(column, f"{text!r}: give the {label} only, as YYYY-MM-DD, without a time")
        else:
            row.problem(column, f"{text!r} is not a date written YYYY-MM-DD (ISO 8601), e.g. 2024-03-15; "
                                f"{DATE_FORMS}")
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        row.problem(column, f"{text!r} is not a date of the calendar (check the month and the day)")
        return None
    if value > row.today:
        row.problem(column, f"the {label} {text} is in the future")
        return None
    if value < EARLIEST:
        row.problem(column, f"the {label} {text} is before 1900: check the year")
        return None
    return value


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class _Row(Row):
    """The checks of one data row, collecting problems; dates are checked against ``today``."""

    def __init__(self, number: int, line: int, cells: dict[str, str], problems: list[Problem], today: date):
        super().__init__(number, line, cells, problems)
        self.today = today


# The file ----------------------------------------------------------------------------------------------------

def _read(text: str, problems: list[Problem]):
    return read(text, problems, things="subjects")


def _check_header(line: int, names: list[str], problems: list[Problem]) -> bool:
    return check_header(line, names, problems, columns=COLUMNS, required=REQUIRED)


def validate(text: str, context: Context) -> Report:
    """Check the whole file against ``context`` and return every accepted row and every problem."""
    problems: list[Problem] = []
    read = _read(text, problems)
    if read is None:
        return Report((), tuple(problems))
    header_line, names, data = read
    if not _check_header(header_line, names, problems):
        return Report((), tuple(problems), len(data))
    if not data:
        problems.append(Problem(None, None, None, "the file has a header but no subjects"))
        return Report((), tuple(problems))
    if len(data) > MAX_ROWS:
        problems.append(Problem(None, None, None, f"the file has {len(data)} subjects; at most {MAX_ROWS} are "
                                                  "imported from one file: split it; no row was checked"))
        return Report((), tuple(problems), len(data))
    checker = _Checker(context, len(data))
    rows: list[SubjectRow] = []
    for number, line, fields in data:
        row = _Row(number, line, {}, problems, context.today)
        if len(fields) != len(names):
            row.problem(None, f"{len(fields)} fields but the header has {len(names)}; the row was not checked")
            continue
        row.cells = {name: value.strip() for name, value in zip(names, fields, strict=True)}
        result = checker.check(row)
        if result is not None and not row.bad:
            rows.append(result)
    checker.finish(problems)
    problems.sort(key=lambda p: (p.row is not None, p.row or 0))
    return Report(tuple(rows), tuple(problems), len(data))


@dataclass
class _Checker:
    context: Context
    count: int
    first: dict[str, tuple[int, int]] = field(default_factory=dict)
    taken: Counter = field(default_factory=Counter)
    numbers: set[int] = field(default_factory=set)
    over: list[tuple[int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.levels = {_key(label): label for label in self.context.levels}
        self.by_number = {c.number: c for c in self.context.cohorts}
        self.by_label = {_key(c.label): c for c in self.context.cohorts if c.label}
        self.total = self.context.site_subjects + self.count  # the site's subjects after this import
        self.code_pattern = re.compile(re.escape(self.context.prefix) + r"(\d+)")

    def check(self, row: _Row) -> SubjectRow | None:
        ctx = self.context
        if ctx.text_problem is not None:
            for column, value in row.cells.items():
                message = ctx.text_problem(value)
                if message:
                    row.problem(column, message)
        if row.bad:
            return None
        for column in REQUIRED:
            if not row.cell(column):
                row.problem(column, "empty (a value is required)")
        code, number = self._code(row)
        initials = self._initials(row)
        sex = row.cell("sex").upper()
        if sex and sex not in SEXES:
            row.problem("sex", f"{row.cell('sex')!r} is not a sex code: F or M")
        born = _date(row, "date_of_birth", "date of birth")
        enrolled = _date(row, "enrolled_on", "enrolment date")
        if born is not None and enrolled is not None:
            self._ages(row, born, enrolled)
        level = self._level(row)
        cohort = self._cohort(row, level)
        tumour_type = row.cell("tumour_type")
        if len(tumour_type) > TUMOUR_TYPE_MAX:
            row.problem("tumour_type", f"{len(tumour_type)} characters; at most {TUMOUR_TYPE_MAX}")
        elif cohort is not None and cohort.tumour_types and _key(tumour_type) not in {
                _key(t) for t in cohort.tumour_types}:
            shown = repr(tumour_type) if tumour_type else "empty"
            row.problem("tumour_type", f"{cohort.name} enrols {', '.join(cohort.tumour_types)}; this subject's "
                                       f"tumour type is {shown}")
        status, off_on, reason, detail = self._status(row, enrolled)
        if row.bad or None in (number, born, enrolled) or not (initials and sex and level and status):
            return None
        return SubjectRow(row=row.number, line=row.line, code=code, number=number, initials=initials,
                          date_of_birth=born, sex=sex, enrolled_on=enrolled, dose_level=level,
                          cohort=cohort.number if cohort is not None else None, tumour_type=tumour_type,
                          status=status, off_study_on=off_on, off_study_reason=reason, off_study_detail=detail)

    def _code(self, row: _Row) -> tuple[str, int | None]:
        code = row.cell("code")
        if not code:
            return code, None
        if len(code) > CODE_MAX:
            row.problem("code", f"{len(code)} characters; a subject code has at most {CODE_MAX}")
            return code, None
        if code in self.first:
            earlier, line = self.first[code]
            row.problem("code", f"{code} is already in row {earlier} (line {line}) of this file")
            return code, None
        self.first[code] = (row.number, row.line)
        if code in self.context.existing_codes:
            row.problem("code", f"{code} is already a subject in TrialSite: a subject is imported once (a "
                                "change is a correction made in TrialSite, not a re-import)")
            return code, None
        match = self.code_pattern.fullmatch(code)
        example = f"{self.context.prefix}{self.context.site_subjects + 1:03d}"
        if match is None:
            row.problem("code", f"{code!r} is not a subject code of this trial and site: the codes are "
                                f"{self.context.prefix}NNN (e.g. {example})")
            return code, None
        number = int(match.group(1))
        if number < 1 or match.group(1) != f"{number:03d}":
            row.problem("code", f"{code!r}: write the number with three digits and no extra leading zero "
                                f"({self.context.prefix}{max(number, 1):03d})")
            return code, None
        if number in self.numbers:
            row.problem("code", f"number {number} is used twice in this file")
            return code, None
        self.numbers.add(number)
        if number > self.total:
            self.over.append((row.number, row.line, number))
            row.problem("code", f"number {number} is beyond the site's {self.total} subjects after this import: "
                                f"TrialSite numbers the next enrolment {self.total + 1}, so the numbers must run "
                                f"from 1 to {self.total} without a gap")
            return code, None
        return code, number

    def _initials(self, row: _Row) -> str:
        text = row.cell("initials")
        initials = text.upper()
        if text and not INITIALS.fullmatch(initials):
            row.problem("initials", f"{text!r}: initials are 2 to 4 letters A–Z (no dots, spaces, digits or "
                                    "accents)")
            return ""
        return initials

    def _ages(self, row: _Row, born: date, enrolled: date) -> None:
        if enrolled < born:
            row.problem("enrolled_on", f"the enrolment date {enrolled} is before the date of birth {born}")
            return
        low, high = self.context.ages
        age = _age(born, enrolled)
        if not low <= age <= high:
            rule = self.context.age_rule or f"the general plausibility range, {low}–{high} years"
            row.problem("date_of_birth", f"gives an age of {age} years at enrolment ({enrolled}), outside "
                                         f"{rule}: check the year")

    def _level(self, row: _Row) -> str:
        text = row.cell("dose_level")
        if not text:
            return ""
        level = self.levels.get(_key(text))
        if level is None:
            row.problem("dose_level", f"{text!r} is not a dose level of {self.context.trial_code} (the levels "
                                      f"are: {'; '.join(self.context.levels)})")
            return ""
        return level

    def _cohort(self, row: _Row, level: str) -> CohortSpec | None:
        text = row.cell("cohort")
        cohorts = self.context.cohorts
        if not text:
            if cohorts:
                row.problem("cohort", f"empty: {self.context.trial_code} enrols into cohorts (the cohorts are: "
                                      f"{'; '.join(c.name for c in cohorts)})")
            return None
        if not cohorts:
            row.problem("cohort", f"{text!r}: {self.context.trial_code} has no cohorts (leave the cell empty)")
            return None
        found = re.fullmatch(r"(?:cohort\s*)?(\d{1,5})", text, re.IGNORECASE)
        cohort = self.by_number.get(int(found.group(1))) if found else self.by_label.get(_key(text))
        if cohort is None:
            row.problem("cohort", f"{text!r} is not a cohort of {self.context.trial_code} (the cohorts are: "
                                  f"{'; '.join(f'{c.name} at {c.dose_level}' for c in cohorts)}); the importer "
                                  "creates no cohort")
            return None
        if level and level != cohort.dose_level:
            row.problem("dose_level", f"{cohort.name} is at {cohort.dose_level}, not {level}")
        self.taken[cohort.number] += 1
        free = cohort.capacity - cohort.enrolled
        if self.taken[cohort.number] > free:
            row.problem("cohort", f"{cohort.name} has {max(free, 0)} free place{'s' if free != 1 else ''} "
                                  f"(capacity {cohort.capacity}, {cohort.enrolled} enrolled): this is subject "
                                  f"{self.taken[cohort.number]} of this file for it")
        return cohort

    def _status(self, row: _Row, enrolled: date | None) -> tuple[str, date | None, str, str]:
        text = row.cell("status")
        status = text.lower().replace(" ", "_").replace("-", "_")
        off_on = _date(row, "off_study_on", "off-study date")
        reason = row.cell("off_study_reason").lower()
        detail = row.cell("off_study_detail")
        if not text:
            return "", None, "", ""
        if status in DOSED_STATUSES:
            row.problem("status", f"{text!r}: {DOSED_STATUSES[status]}")
            return "", None, "", ""
        if status not in STATUSES:
            row.problem("status", f"{text!r} is not a status that can be imported ({', '.join(STATUSES)})")
            return "", None, "", ""
        if status not in LEFT:
            for column in ("off_study_on", "off_study_reason", "off_study_detail"):
                if row.cell(column):
                    row.problem(column, f"given for a subject whose status is {status!r}: only a subject off "
                                        "study or withdrawn has it")
            return status, None, "", ""
        if not row.cell("off_study_on"):
            row.problem("off_study_on", f"empty: a subject {status.replace('_', ' ')} needs the date it left")
        elif off_on is not None and enrolled is not None and off_on < enrolled:
            row.problem("off_study_on", f"the off-study date {off_on} is before the enrolment date {enrolled}")
        if not reason:
            row.problem("off_study_reason", f"empty: a subject {status.replace('_', ' ')} needs the reason (one "
                                            f"of: {', '.join(self.context.off_study_reasons)})")
        elif reason not in self.context.off_study_reasons:
            row.problem("off_study_reason", f"{row.cell('off_study_reason')!r} is not an off-study reason (one "
                                            f"of: {', '.join(self.context.off_study_reasons)})")
        elif (status == WITHDRAWN) != (reason == WITHDRAWN):
            row.problem("off_study_reason", "status 'withdrawn' goes with the reason 'withdrawn' (and the reason "
                                            f"'withdrawn' with that status); here status {status!r}, reason "
                                            f"{reason!r}")
        elif reason == OTHER_REASON and len(detail) < 3:
            row.problem("off_study_detail", "say which reason: 'other' needs the details")
        if len(detail) > DETAIL_MAX:
            row.problem("off_study_detail", f"{len(detail)} characters; at most {DETAIL_MAX}")
        return status, off_on, reason, detail

    def finish(self, problems: list[Problem]) -> None:
        """The gaps in the site's numbering (when a number is beyond the count, the file misses others)."""
        if not self.over:
            return
        used = set(range(1, self.context.site_subjects + 1)) | self.numbers
        missing = [n for n in range(1, max(used | {self.total}) + 1) if n not in used]
        if missing:
            shown = ", ".join(f"{self.context.prefix}{n:03d}" for n in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            problems.append(Problem(None, None, "code", f"the site's numbering has a gap: no subject {shown}{more} "
                                                        "(in TrialSite or in this file)"))


def age_bounds(criteria: Sequence[tuple[str, dict]]) -> tuple[int | None, int | None, str]:
    """The protocol's age rule from its eligibility criteria (``(kind, params)`` pairs of top-level criteria
    whose field is ``age``, kinds ``min``, ``max``, ``range``; ``strict`` honoured), with its words."""
    low = high = None
    for kind, params in criteria:
        if params.get("field") != "age" or kind not in ("min", "max", "range"):
            continue
        strict = bool(params.get("strict"))
        if kind in ("min", "range") and params.get("min") is not None:
            low = int(params["min"]) + (1 if strict and kind == "min" else 0)
        if kind in ("max", "range") and params.get("max") is not None:
            high = int(params["max"]) - (1 if strict and kind == "max" else 0)
    if low is None and high is None:
        return None, None, ""
    if high is None:
        return low, None, (f"the protocol's age rule (at least {low} years) and the plausible maximum "
                           f"({GENERAL_AGE[1]} years)")
    if low is None:
        return None, high, f"the protocol's age rule (at most {high} years)"
    return low, high, f"the protocol's age rule ({low}–{high} years)"
