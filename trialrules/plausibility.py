"""Edit checks: implausible data caught at entry, the way a validated EDC's edit checks do.

Pure Python, standard library only (and :mod:`trialrules.eligibility` for the screening inputs). Each
check returns :class:`Finding`\\ s naming the field it concerns. A **hard** finding is a data error: the
entry is refused with the message. A **soft** finding is a value that is unusual but may be real: the
entry is accepted only with an explicit confirmation ("I confirm this value is correct") and a reason,
which are recorded with the entry (:func:`resolve` decides). The services of ``subjects``, ``screening``
and ``visits`` apply the checks, so every caller is checked, not only the web forms.

The numbers (docs/coordinators.md, "Edit checks", says why each was chosen)
---------------------------------------------------------------------------
- **Dates**: none before 1900 (:data:`EARLIEST_DATE`), none in the future, none before the subject's
  birth; clinical dates not before consent; doses not before enrolment; a visit (other than screening)
  not before the first dose; cycles and days of a drug in the calendar order of the schedule.
- **Age at consent**: over 120 years refused (the oldest verified human lived 122 years; a DOB giving
  more is a wrong year); 100 or over needs confirmation. Under 18 is an eligibility matter, not a data
  error.
- **Body weight** (kg): refused outside 25–250 (``INPUTS["weight"].plausible``); outside 40–150, or
  more than 20 % away from the last recorded weight, needs confirmation.
- **Dose given vs computed (planned) dose**: within ±10 % accepted; further below (a reduced or
  interrupted dose) or up to 25 % above needs confirmation; more than 25 % above is refused (a higher
  dose is a dose level of its own).
- **Screening numbers**: each input's physiological range, ``INPUTS[name].plausible``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trialrules.eligibility import INPUTS, Quantity, convert, fmt

HARD = "hard"
SOFT = "soft"

EARLIEST_DATE = date(1900, 1, 1)
MAX_AGE_YEARS = 120
CONFIRM_AGE_YEARS = 100
WEIGHT_LIMITS = INPUTS["weight"].plausible  # (25, 250) kg: outside is refused
WEIGHT_USUAL = (Decimal(40), Decimal(150))  # outside (inside the limits) needs confirmation
WEIGHT_CHANGE_CONFIRM = Decimal("0.20")  # a change of more than 20 % from the last weight: confirm
DOSE_TOLERANCE = Decimal("0.10")  # ±10 % of the computed dose: accepted as is
DOSE_REFUSED_ABOVE = Decimal("0.25")  # more than 25 % above the computed dose: refused
REASON_MIN_LENGTH = 10
REASON_MAX_LENGTH = 500

CONFIRM_LABEL = "I confirm this value is correct"
CONFIRM_HINT = f"If it is correct, tick “{CONFIRM_LABEL}” and give the reason."

# What a value outside the range most often means, per screening input.
UNIT_HINTS = {
    "anc": "in 10⁹/L, not per µL (1,500/µL = 1.5 × 10⁹/L)",
    "platelets": "in 10⁹/L, not per µL (150,000/µL = 150 × 10⁹/L)",
    "hemoglobin": "in g/L, not g/dL (12.5 g/dL = 125 g/L)",
    "albumin": "in g/L, not g/dL (4.1 g/dL = 41 g/L)",
    "creatinine": "and its unit (0.9 mg/dL = 80 µmol/L)",
    "bilirubin": "and its unit (0.7 mg/dL = 12 µmol/L)",
    "lvef": "in %: an ejection fraction cannot exceed 100 %",
    "weight": "in kg (not lb or g)",
}


@dataclass(frozen=True)
class Finding:
    field: str
    check: str  # a stable code, e.g. "weight.limits", recorded with a confirmation
    message: str
    severity: str = HARD

    @property
    def soft(self) -> bool:
        return self.severity == SOFT


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve` decided: the messages per field (empty: the entry may be saved) and the soft
    findings confirmed (to record with the entry)."""

    errors: Mapping[str, tuple[str, ...]]
    confirmed: tuple[Finding, ...]
    needs_confirmation: bool

    @property
    def ok(self) -> bool:
        return not self.errors


def resolve(findings: Iterable[Finding], *, confirmed: bool = False, reason: str = "",
            reason_field: str = "unusual_reason") -> Resolution:
    """Hard findings refuse the entry. Soft ones refuse it unless ``confirmed`` with a ``reason`` of at
    least :data:`REASON_MIN_LENGTH` (at most :data:`REASON_MAX_LENGTH`) characters; then they are returned
    as ``confirmed``."""
    findings = list(findings)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    for f in findings:
        if not f.soft:
            errors.setdefault(f.field, []).append(f.message)
    soft = [f for f in findings if f.soft]
    reason_error = ""
    if len(reason) > REASON_MAX_LENGTH:
        reason_error = f"Keep the reason to {REASON_MAX_LENGTH} characters (it has {len(reason)})."
    elif confirmed and len(reason) < REASON_MIN_LENGTH:
        reason_error = f"Say why the value is correct, in at least {REASON_MIN_LENGTH} characters."
    accepted = bool(soft) and confirmed and not reason_error
    if soft and not accepted:
        for f in soft:
            errors.setdefault(f.field, []).append(f"{f.message} {CONFIRM_HINT}")
        if reason_error:
            errors.setdefault(reason_field, []).append(reason_error)
    return Resolution({k: tuple(v) for k, v in errors.items()}, tuple(soft) if accepted else (),
                      needs_confirmation=bool(soft) and not accepted)


# Dates ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bound:
    """An earliest possible date for an entry: ``what`` it is ("consent"), and an optional ``hint``."""

    day: date | None
    what: str
    hint: str = ""


def _d(day: date) -> str:
    return f"{day.day:02d} {day:%b} {day.year}"


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def age_on(date_of_birth: date, day: date) -> int:
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def check_date(value: date | None, *, field: str, label: str, today: date | None,
               after: Iterable[Bound] = ()) -> list[Finding]:
    """``value`` not in the future (when ``today`` is given), not before 1900, not before any bound.
    ``label`` names the date in a sentence ("The onset date"). At most one finding; a value that is not
    a date is left to the field's own validation."""
    value = _as_date(value)
    if value is None:
        return []
    if today is not None and value > today:
        return [Finding(field, "date.future", f"{label} cannot be in the future ({_d(value)}).")]
    if value < EARLIEST_DATE:
        return [Finding(field, "date.before_1900", f"{label} cannot be before 1900 ({_d(value)}): check the year.")]
    for bound in after:
        if bound.day is not None and value < bound.day:
            hint = f" {bound.hint}" if bound.hint else ""
            return [Finding(field, "date.order",
                            f"{label} ({_d(value)}) cannot be before {bound.what} ({_d(bound.day)}).{hint}")]
    return []


def check_birth_date(date_of_birth: date | None, *, on: date | None, today: date,
                     field: str = "date_of_birth") -> list[Finding]:
    """A date of birth: in the past, not before 1900, giving an age at ``on`` (consent) within the human
    range (over :data:`MAX_AGE_YEARS` refused, :data:`CONFIRM_AGE_YEARS` or over confirmed)."""
    date_of_birth, on = _as_date(date_of_birth), _as_date(on)
    if date_of_birth is None:
        return []
    if date_of_birth >= today:
        return [Finding(field, "birth.future", "The date of birth must be in the past.")]
    if date_of_birth < EARLIEST_DATE:
        return [Finding(field, "date.before_1900",
                        f"The date of birth cannot be before 1900 ({_d(date_of_birth)}): check the year.")]
    if on is None or on < date_of_birth:
        return []
    age = age_on(date_of_birth, on)
    if age > MAX_AGE_YEARS:
        return [Finding(field, "age.limit", f"This date of birth gives an age of {age} years at consent: beyond "
                                            f"the human range (over {MAX_AGE_YEARS}). Check the year.")]
    if age >= CONFIRM_AGE_YEARS:
        return [Finding(field, "age.unusual", f"This date of birth gives an age of {age} years at consent.",
                        SOFT)]
    return []


# Body weight and dose -----------------------------------------------------------------------------

def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def percent(ratio: Decimal) -> str:
    """A ratio as a whole percentage: ``Decimal("0.1")`` -> ``"10"``."""
    return fmt((ratio * 100).quantize(Decimal(1)))


def check_weight(weight_kg: Any, *, field: str = "weight_kg", previous: Any = None,
                 confirmable: bool = True) -> list[Finding]:
    """A body weight in kg: refused outside :data:`WEIGHT_LIMITS`; outside :data:`WEIGHT_USUAL` or more
    than 20 % from the ``previous`` weight needs confirmation (``confirmable=False``: hard limits only,
    for a weight recorded earlier and read again)."""
    kg = _decimal(weight_kg)
    if kg is None:
        return []
    low, high = WEIGHT_LIMITS
    if not low <= kg <= high:
        return [Finding(field, "weight.limits",
                        f"{fmt(kg)} kg is outside the plausible adult range ({fmt(low)}–{fmt(high)} kg): check "
                        f"the value {UNIT_HINTS['weight']}.")]
    if not confirmable:
        return []
    usual_low, usual_high = WEIGHT_USUAL
    if not usual_low <= kg <= usual_high:
        return [Finding(field, "weight.unusual",
                        f"{fmt(kg)} kg is unusual for an adult (usual {fmt(usual_low)}–{fmt(usual_high)} kg).",
                        SOFT)]
    before = _decimal(previous)
    if before is not None and before > 0:
        change = (kg - before) / before
        if abs(change) > WEIGHT_CHANGE_CONFIRM:
            return [Finding(field, "weight.change",
                            f"{fmt(kg)} kg is {percent(abs(change))} % {'above' if change > 0 else 'below'} "
                            f"the last recorded weight ({fmt(before)} kg).", SOFT)]
    return []


def check_dose(dose: Any, planned: Any, *, unit: str, field: str = "dose") -> list[Finding]:
    """The dose given against the computed (planned) dose: ±:data:`DOSE_TOLERANCE` accepted; more than
    :data:`DOSE_REFUSED_ABOVE` above refused; anything else needs confirmation."""
    given, computed = _decimal(dose), _decimal(planned)
    if given is None or computed is None or computed <= 0:
        return []
    ratio = given / computed
    if ratio - 1 > DOSE_REFUSED_ABOVE:
        times = f"{fmt(ratio.quantize(Decimal('0.1')))} ×" if ratio >= 2 else f"{percent(ratio - 1)} % above"
        return [Finding(field, "dose.above_limit",
                        f"{fmt(given)} {unit} is {times} the computed dose ({fmt(computed)} {unit}): more than "
                        f"{percent(DOSE_REFUSED_ABOVE)} % above it is refused (a higher dose is a dose level of "
                        "its own). Check the amount and the unit.")]
    if abs(ratio - 1) > DOSE_TOLERANCE:
        direction = "above" if ratio > 1 else "below"
        return [Finding(field, "dose.off_plan",
                        f"{fmt(given)} {unit} is {percent(abs(ratio - 1))} % {direction} the computed dose "
                        f"({fmt(computed)} {unit}; ±{percent(DOSE_TOLERANCE)} % is accepted as given).", SOFT)]
    return []


# The order of doses --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DoseEvent:
    """A dose for the order checks: the drug, its cycle and day, when (``at``) and the local day (``on``)."""

    drug: str
    cycle: int
    day: int
    at: datetime
    on: date

    @property
    def key(self) -> tuple[int, int]:
        return self.cycle, self.day

    def describe(self) -> str:
        return f"cycle {self.cycle} day {self.day} of {self.drug} ({_d(self.on)} {self.at:%H:%M})"


def check_dose_order(new: DoseEvent, recorded: Iterable[DoseEvent], *, field: str = "administered_at") -> list[Finding]:
    """The subject's doses follow the schedule in time:

    - the first dose (the earliest; it starts the DLT window, the timing gates and the visit plan) is a
      cycle 1 day 1 dose: any other dose needs a cycle 1 day 1 recorded, dated before it;
    - a drug's doses follow its cycles and days in calendar order, one cycle-day a calendar day (so no
      two cycles in the same minute);
    - across drugs, no dose of a later cycle before a dose of an earlier one.
    At most one finding."""
    recorded = list(recorded)
    starts = [e for e in [*recorded, new] if e.key == (1, 1)]
    if not starts:
        return [Finding(field, "dose.first_not_c1d1",
                        f"Record cycle 1 day 1 first: the subject's first dose (it starts the DLT window and "
                        f"the visit plan) is a cycle 1 day 1 dose; this is cycle {new.cycle} day {new.day}.")]
    first = min(starts, key=lambda e: e.at)
    if new.key != (1, 1) and new.at < first.at:
        return [Finding(field, "dose.before_c1d1",
                        f"This dose is dated before {first.describe()}: it would become the subject's first "
                        "dose. Check the date, the cycle and the day.")]
    earlier = sorted((e for e in recorded if e.key != (1, 1) and e.at < first.at), key=lambda e: e.at)
    if new is first and earlier:
        return [Finding(field, "dose.after_first",
                        f"Cycle 1 day 1 must be the subject's first dose: {earlier[0].describe()} is dated before "
                        "it. Check the date.")]
    for e in sorted(recorded, key=lambda e: e.at):
        if e.drug != new.drug or e.key == new.key:
            continue
        if e.on == new.on:
            return [Finding(field, "dose.same_day",
                            f"C{e.describe()[1:]} is on the same day: each cycle day of a drug is given on its "
                            "own calendar day. Check the date, the cycle and the day.")]
        if (e.key < new.key) != (e.on < new.on):
            order = "after" if e.key < new.key else "before"
            return [Finding(field, "dose.order",
                            f"Cycle {new.cycle} day {new.day} must come {order} {e.describe()}. Check the date, "
                            "the cycle and the day.")]
    for e in recorded:
        if e.drug == new.drug or e.cycle == new.cycle:
            continue
        if (e.cycle < new.cycle) != (e.at < new.at):
            order = "after" if e.cycle < new.cycle else "before"
            return [Finding(field, "dose.cycle_order",
                            f"A cycle {new.cycle} dose must come {order} {e.describe()}. Check the date and the "
                            "cycle.")]
    return []


# Screening values ----------------------------------------------------------------------------------

def check_screening_values(values: Mapping[str, Any], *, previous_weight: Any = None) -> list[Finding]:
    """Each number against its input's physiological range (``INPUTS[name].plausible``, in the input's
    first unit; a value typed in another unit is converted), the weight by :func:`check_weight`."""
    findings: list[Finding] = []
    for name, spec in INPUTS.items():
        if spec.kind != "number" or spec.plausible is None or name not in values:
            continue
        value = _decimal(values.get(name))
        if value is None:
            continue
        if name == "weight":
            findings += check_weight(value, field=name, previous=previous_weight)
            continue
        unit = values.get(f"{name}_unit") or spec.units[0]
        low, high = spec.plausible
        try:
            base = convert(Quantity(value, unit), name, spec.units[0]).value
        except ValueError:
            continue  # an unknown unit is the form's business
        if not low <= base <= high:
            shown = f"{fmt(low)}–{fmt(high)} {spec.units[0]}"
            if unit != spec.units[0]:
                lo, hi = (convert(Quantity(x, spec.units[0]), name, unit).value for x in (low, high))
                shown += f" = {fmt(lo.quantize(Decimal('0.01')))}–{fmt(hi.quantize(Decimal('0.01')))} {unit}"
            hint = UNIT_HINTS.get(name, "and its unit")
            findings.append(Finding(name, "screening.range",
                                    f"{spec.label} {fmt(value)} {unit} is outside the physiological range "
                                    f"({shown}): check the value {hint}."))
    return findings
