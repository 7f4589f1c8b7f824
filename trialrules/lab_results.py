"""The bioanalytical lab's results file (PK concentrations, ADA, receptor occupancy, biomarkers), checked whole.

Pure Python, standard library only (no Django): the caller passes the file's text, the samples the site knows
(:class:`KnownSample`), the analytes of the trial (:class:`AnalyteSpec`) and the (sample, analyte) pairs already
imported; :func:`validate` returns every parsed row and *every* problem, each naming the data row (1-based,
the header not counted, blank lines skipped), the file line (the header is line 1 unless blank lines precede
it; a row's line is the line where it ends) and the column. The caller imports nothing unless
:attr:`Report.ok`. docs/lab-results.md is the same contract in plain words, with an example file.

The file
--------
CSV, UTF-8 (a byte-order mark is tolerated), a header row, one row per (sample, analyte). Header names are
compared without case and surrounding spaces; the column order is free. Required: ``sample_id``, ``analyte``,
``result``, ``unit``; optional: ``lloq``, ``titre``, ``analysed_on`` (``YYYY-MM-DD``), ``collected_at``
(ISO 8601 date and time, e.g. ``2026-01-05T09:30:00+08:00``; a time without an offset is read as UTC). Any other
column is a problem (a typo such as ``analyte_code`` is never silently ignored), so is a column given twice; a
missing required column is one problem naming it, and then no row is checked. Cells are stripped of spaces.

Decisions (each is in docs/lab-results.md)
------------------------------------------
- **Numbers** are written with the digits 0–9, an optional leading ``-`` and an optional decimal point
  (``0.05``, ``12``, ``.5``); no exponent, thousands separator, decimal comma, ``NaN`` or ``Infinity``. They are
  kept as :class:`~decimal.Decimal` exactly as written (``0.050`` stays ``Decimal("0.050")``).
- **BLQ** texts (any case, spaces ignored): ``BLQ``, ``BQL``, ``<LLOQ``, ``<LOQ``, and ``<number`` (``< 0.05``),
  which says BLQ *and* gives the LLOQ. A BLQ result needs an LLOQ: the ``lloq`` cell or the ``<number`` form;
  both given and different is a problem.
- **Units**: the cell must equal the analyte's unit, case-sensitively, after one normalisation of the
  micro prefix: ``µ`` (U+00B5 MICRO SIGN) and ``μ`` (U+03BC GREEK SMALL LETTER MU) are read as ``u``, and ``mcg``
  as ``ug``; so ``µg/mL``, ``μg/mL`` and ``mcg/mL`` are ``ug/mL``, but ``ug/ml`` is not. The row keeps the
  analyte's own spelling. The same rule holds for every kind: an analyte with no unit (ADA, categorical
  biomarkers) needs an empty unit cell, so a shifted column shows.
- **Analyte codes** are matched without case (``il-6`` is ``IL-6``) and kept in the spec's spelling; sample ids
  are matched exactly.
- **ADA**: ``negative``/``NEG`` or ``positive``/``POS`` (any case). A positive needs ``titre``, a whole number
  >= 1 (the reciprocal titre: 160 for 1:160); a negative must have none. ``lloq`` belongs to numeric results
  only: an ``lloq`` on an ADA or categorical row is a problem, so is a ``titre`` on any row that is not ADA.
- **Times**: a post-dose sample (``nominal_hours > 0``) collected before its dose is a problem (the file's
  ``collected_at`` when given, otherwise the site's record); added here, a pre-dose sample (``nominal_hours < 0``)
  collected after its dose is one too. A file time more than 1 minute from the site's record is a problem
  naming both. ``analysed_on`` before the collection's date is a problem, the date read in the offset the
  collection time carries (the file's time in its own offset; the site's record in the zone the caller gives
  it, so pass it in the site's zone for the site's calendar).
- :attr:`Report.rows` holds a :class:`ResultRow` for each row that has no problem of its own (so all rows when
  the report is ok).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trialrules.csv_file import Problem, Row, check_header, read

PK, ADA, RO, BIOMARKER = "pk", "ada", "ro", "biomarker"
KINDS = (PK, ADA, RO, BIOMARKER)
KIND_NAMES = {PK: "a PK", ADA: "an ADA", RO: "a receptor occupancy", BIOMARKER: "a biomarker"}  # in messages

REQUIRED = ("sample_id", "analyte", "result", "unit")
OPTIONAL = ("lloq", "titre", "analysed_on", "collected_at")
COLUMNS = REQUIRED + OPTIONAL

BLQ_TEXTS = ("BLQ", "BQL", "<LLOQ", "<LOQ")
ADA_NEGATIVE = ("NEGATIVE", "NEG")
ADA_POSITIVE = ("POSITIVE", "POS")
RO_MAX = Decimal(100)
TIME_TOLERANCE = timedelta(minutes=1)  # the file's collected_at may differ from the site's record by this much

NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
WHOLE = re.compile(r"\d+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
MICRO = (("µ", "u"), ("μ", "u"), ("mcg", "ug"))  # unit spellings read as the same (see the module docstring)


@dataclass(frozen=True)
class AnalyteSpec:
    """One analyte of the trial: its code, the kind of sample it is measured in, the unit its results carry
    ("" for ADA and categorical biomarkers) and, for a categorical biomarker, the allowed values."""

    code: str             # e.g. "BAT6005", "ADA", "RO", "IL-6", "PD-L1", "MSI", "TMB"
    kind: str             # "pk" | "ada" | "ro" | "biomarker"
    unit: str = ""        # expected unit text, e.g. "ug/mL", "%", "pg/mL", "mut/Mb"; "" for ADA and categorical
    categories: tuple[str, ...] = ()   # categorical biomarkers (e.g. ("MSS","MSI-L","MSI-H")); empty = numeric

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"analyte {self.code!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.categories and self.kind != BIOMARKER:
            raise ValueError(f"analyte {self.code!r}: only a biomarker can be categorical")

    @property
    def numeric(self) -> bool:
        """True when the result is a number (PK, RO, a biomarker without categories)."""
        return self.kind != ADA and not self.categories


@dataclass(frozen=True)
class KnownSample:
    """A sample as the site recorded it. Datetimes are aware (a naive one is read as UTC)."""

    sample_id: str
    kind: str                        # the sample's kind ("pk", "ada", "ro", "biomarker")
    analytes: tuple[str, ...]        # analyte codes this sample is planned for
    collected_at: datetime | None    # site's recorded collection (aware datetime); None = not collected yet
    dose_at: datetime | None         # the dose the sample is timed from (aware); None for pre-treatment tissue
    nominal_hours: float | None      # nominal time after that dose (< 0 = pre-dose); None for tissue


@dataclass(frozen=True)
class ResultRow:
    """One accepted row. ``analyte`` and ``unit`` are in the :class:`AnalyteSpec`'s spelling; ``lloq`` comes from
    the ``lloq`` cell or a ``<number`` result; ``collected_at`` is the file's time (aware), None when not given."""

    row: int
    line: int
    sample_id: str
    analyte: str
    value: Decimal | None            # numeric result (PK conc, RO %, numeric biomarker); None if BLQ/ADA/categorical
    unit: str
    blq: bool                        # below the lower limit of quantification
    lloq: Decimal | None
    ada_positive: bool | None        # ADA only
    titre: int | None                # ADA positive only
    category: str                    # categorical biomarker value, else ""
    analysed_on: date | None
    collected_at: datetime | None = None


@dataclass(frozen=True)
class Report:
    """The parsed rows (see the module docstring) and every problem, in file order."""

    rows: tuple[ResultRow, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when there is no problem at all (and then every row of the file is in :attr:`rows`)."""
        return not self.problems


# Cells -------------------------------------------------------------------------------------------------------

def _number(text: str) -> Decimal | None:
    return Decimal(text) if NUMBER.fullmatch(text) else None


def _unit_key(text: str) -> str:
    for spelling, reading in MICRO:
        text = text.replace(spelling, reading)
    return text


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _show(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="minutes" if moment.second == 0 and not moment.microsecond
                            else "seconds")


# The file ----------------------------------------------------------------------------------------------------

def _read(text: str, problems: list[Problem]):
    return read(text, problems, things="results")


def _check_header(line: int, names: list[str], problems: list[Problem]) -> bool:
    return check_header(line, names, problems, columns=COLUMNS, required=REQUIRED)


def validate(text: str, samples: Mapping[str, KnownSample], analytes: Mapping[str, AnalyteSpec],
             existing: Collection[tuple[str, str]] = ()) -> Report:
    """Check the whole file and return every parsed row and every problem (see the module docstring).

    ``samples`` is keyed by sample id, ``analytes`` by analyte code; ``existing`` holds the (sample id, analyte
    code) pairs already imported.
    """
    problems: list[Problem] = []
    read = _read(text, problems)
    if read is None:
        return Report((), tuple(problems))
    header_line, names, data = read
    if not _check_header(header_line, names, problems):
        return Report((), tuple(problems))
    if not data:
        problems.append(Problem(None, None, None, "the file has a header but no results"))
        return Report((), tuple(problems))
    by_code = {code.lower(): spec for code, spec in analytes.items()}
    existing_keys = {(sample, code.lower()) for sample, code in existing}
    first: dict[tuple[str, str], tuple[int, int]] = {}
    rows: list[ResultRow] = []
    for number, line, fields in data:
        row = Row(number, line, {}, problems)
        if len(fields) != len(names):
            row.problem(None, f"{len(fields)} fields but the header has {len(names)}; the row was not checked")
            continue
        row.cells = {name: value.strip() for name, value in zip(names, fields, strict=True)}
        result = _check_row(row, samples, by_code, existing_keys, first)
        if result is not None and not row.bad:
            rows.append(result)
    return Report(tuple(rows), tuple(problems))


def _check_row(row: Row, samples: Mapping[str, KnownSample], by_code: Mapping[str, AnalyteSpec],
               existing: set[tuple[str, str]], first: dict[tuple[str, str], tuple[int, int]]) -> ResultRow | None:
    sample_id, code = row.cell("sample_id"), row.cell("analyte")
    sample = samples.get(sample_id) if sample_id else None
    spec = by_code.get(code.lower()) if code else None
    if not sample_id:
        row.problem("sample_id", "empty (give the sample id from the sample's label)")
    elif sample is None:
        row.problem("sample_id", f"{sample_id!r} is not a sample known to TrialSite")
    elif sample.collected_at is None:
        row.problem("sample_id", f"sample {sample_id} is not recorded as collected at the site yet")
    if not code:
        row.problem("analyte", "empty (give the analyte code)")
    elif spec is None:
        row.problem("analyte", f"{code!r} is not an analyte of this trial (the analytes are: "
                               f"{', '.join(spec.code for spec in by_code.values())})")
    elif sample is not None:
        if spec.code.lower() not in {planned.lower() for planned in sample.analytes}:
            planned = ", ".join(sample.analytes) or "none"
            row.problem("analyte", f"sample {sample_id} is not planned for {spec.code} (planned: {planned})")
        if spec.kind != sample.kind:
            row.problem("analyte", f"{spec.code} is {KIND_NAMES[spec.kind]} analyte but sample {sample_id} is "
                                   f"{KIND_NAMES.get(sample.kind, repr(sample.kind))} sample")
    if sample_id and code:
        key = (sample_id, code.lower())
        shown = spec.code if spec is not None else code
        if key in first:
            earlier, earlier_line = first[key]
            row.problem("analyte", f"sample {sample_id} and {shown} are already in row {earlier} "
                                   f"(line {earlier_line}) of this file")
        else:
            first[key] = (row.number, row.line)
        if key in existing:
            row.problem("analyte", f"the {shown} result of sample {sample_id} was already imported; a change is a "
                                   "correction made in TrialSite, not a re-import")

    collected = _collected_at(row)
    analysed_on = _analysed_on(row)
    if sample is not None and sample.collected_at is not None:
        _check_times(row, sample, collected, analysed_on)
    if spec is None:
        return None
    unit = _check_unit(row, spec)
    if row.cell("titre") and spec.kind != ADA:
        row.problem("titre", f"a titre is given but {spec.code} is not ADA (only a positive ADA has a titre)")
    value = lloq = None
    blq = False
    ada_positive = titre = None
    category = ""
    if spec.kind == ADA:
        ada_positive, titre = _check_ada(row, spec)
    elif spec.categories:
        category = _check_category(row, spec)
    else:
        value, blq, lloq = _check_numeric(row, spec)
    if not spec.numeric and row.cell("lloq"):
        row.problem("lloq", f"an LLOQ is given but {spec.code} has no numeric result (leave it empty)")
    return ResultRow(row=row.number, line=row.line, sample_id=sample_id, analyte=spec.code, value=value, unit=unit,
                     blq=blq, lloq=lloq, ada_positive=ada_positive, titre=titre, category=category,
                     analysed_on=analysed_on, collected_at=collected)


def _check_unit(row: Row, spec: AnalyteSpec) -> str:
    given = row.cell("unit")
    if _unit_key(given) == _unit_key(spec.unit):
        return spec.unit
    if not spec.unit:
        row.problem("unit", f"{given!r} is given but {spec.code} results have no unit (leave the unit empty)")
    elif not given:
        row.problem("unit", f"empty (the unit of {spec.code} is {spec.unit})")
    else:
        row.problem("unit", f"{given!r} is not the unit of {spec.code} ({spec.unit})")
    return spec.unit


def _check_numeric(row: Row, spec: AnalyteSpec) -> tuple[Decimal | None, bool, Decimal | None]:
    """(value, blq, lloq) of a PK, RO or numeric biomarker row."""
    lloq_text = row.cell("lloq")
    lloq = None
    if lloq_text:
        lloq = _number(lloq_text)
        if lloq is None:
            row.problem("lloq", f"{lloq_text!r} is not a number")
        elif lloq <= 0:
            row.problem("lloq", f"{lloq_text!r} is not above 0 (an LLOQ is a positive concentration)")
            lloq = None
    text = row.cell("result")
    squeezed = text.replace(" ", "").upper()
    if not text:
        row.problem("result", f"empty (give the {spec.code} result, or BLQ with its LLOQ)")
        return None, False, lloq
    if squeezed in BLQ_TEXTS or (squeezed.startswith("<") and _number(squeezed[1:]) is not None):
        stated = _number(squeezed[1:]) if squeezed not in BLQ_TEXTS else None
        if stated is not None:
            if stated <= 0:
                row.problem("result", f"{text!r}: the LLOQ after '<' must be above 0")
                return None, True, lloq
            if lloq is not None and stated != lloq:
                row.problem("result", f"{text!r} gives an LLOQ of {stated} but the lloq column gives {lloq}")
            elif lloq is None and not lloq_text:
                lloq = stated
        elif lloq is None and not lloq_text:
            row.problem("result", f"{text!r} is BLQ but no LLOQ is given (fill the lloq column, or write "
                                  f"'<' and the LLOQ, e.g. '< 0.05')")
        return None, True, lloq
    value = _number(text)
    if value is None:
        row.problem("result", f"{text!r} is not a number or a BLQ text (BLQ, BQL, <LLOQ, <LOQ, or '<' and the LLOQ)")
        return None, False, lloq
    if value < 0:
        row.problem("result", f"{text!r} is negative (a {spec.code} result is 0 or more)")
    elif spec.kind == RO and value > RO_MAX:
        row.problem("result", f"{text!r} is above 100 (receptor occupancy is a percentage, 0 to 100)")
    elif lloq is not None and value < lloq:
        row.problem("result", f"{text!r} is below the LLOQ ({lloq}); report it as BLQ")
    return value, False, lloq


def _check_ada(row: Row, spec: AnalyteSpec) -> tuple[bool | None, int | None]:
    text, titre_text = row.cell("result"), row.cell("titre")
    if text.upper() in ADA_POSITIVE:
        if not titre_text:
            row.problem("titre", f"empty: a positive {spec.code} needs its titre (a whole number, 160 for 1:160)")
            return True, None
        if not WHOLE.fullmatch(titre_text) or int(titre_text) < 1:
            row.problem("titre", f"{titre_text!r} is not a titre (a whole number of 1 or more, 160 for 1:160)")
            return True, None
        return True, int(titre_text)
    if text.upper() in ADA_NEGATIVE:
        if titre_text:
            row.problem("titre", f"{titre_text!r} is given but the {spec.code} result is negative (no titre)")
        return False, None
    shown = repr(text) if text else "empty"
    row.problem("result", f"{shown} is not an {spec.code} result (negative or positive)")
    return None, None


def _check_category(row: Row, spec: AnalyteSpec) -> str:
    text = row.cell("result")
    for category in spec.categories:
        if text.upper() == category.upper():
            return category
    shown = repr(text) if text else "empty"
    row.problem("result", f"{shown} is not a valid {spec.code} result (one of: {', '.join(spec.categories)})")
    return ""


def _collected_at(row: Row) -> datetime | None:
    text = row.cell("collected_at")
    if not text:
        return None
    moment = None
    if ISO_DATETIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
    if moment is None:
        row.problem("collected_at", f"{text!r} is not a date and time (ISO 8601, e.g. 2026-01-05T09:30+08:00)")
        return None
    return _aware(moment)


def _analysed_on(row: Row) -> date | None:
    text = row.cell("analysed_on")
    if not text:
        return None
    if ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    row.problem("analysed_on", f"{text!r} is not a valid date (YYYY-MM-DD)")
    return None


def _check_times(row: Row, sample: KnownSample, collected: datetime | None, analysed_on: date | None) -> None:
    site = _aware(sample.collected_at)
    if collected is not None and abs(collected - site) > TIME_TOLERANCE:
        row.problem("collected_at", f"{_show(collected)} differs from the site's record of sample "
                                    f"{sample.sample_id} ({_show(site)}) by more than 1 minute")
    moment, column = (collected, "collected_at") if collected is not None else (site, None)
    whose = "" if collected is not None else "the site's record: "
    if sample.dose_at is not None and sample.nominal_hours is not None:
        dose = _aware(sample.dose_at)
        if sample.nominal_hours > 0 and moment < dose:
            row.problem(column, f"{whose}post-dose sample {sample.sample_id} collected at {_show(moment)}, "
                                f"before its dose at {_show(dose)}")
        elif sample.nominal_hours < 0 and moment > dose:
            row.problem(column, f"{whose}pre-dose sample {sample.sample_id} collected at {_show(moment)}, "
                                f"after its dose at {_show(dose)}")
    if analysed_on is not None and analysed_on < moment.date():
        row.problem("analysed_on", f"{analysed_on.isoformat()} is before the sample was collected "
                                   f"({moment.date().isoformat()})")
