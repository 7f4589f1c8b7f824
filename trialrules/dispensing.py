"""Oral drug accountability: tablets dispensed and returned per cycle, and the days they were taken.

Pure Python, standard library only; ``subjects.dispensing`` applies it.

A drug the subject takes at home on several days of each cycle (anlotinib: once daily on days 1-14 of a
21-day cycle) is recorded once per cycle, as a site pharmacy does: the tablets dispensed (with the day-1
tablet taken at the clinic), then at the return visit the tablets brought back and the days the diary
shows as missed. From that record:

* **days taken** = the drug's administration days minus the missed days; before the return only day 1
  (the tablet taken when dispensed) is known. Each day taken becomes one dose of ``tablets_per_day`` ×
  ``tablet_strength`` (the level's daily dose) for the rest of the application;
* **tablets used** = dispensed − returned, against **expected** = days taken × tablets per day; a
  difference (tablets lost, vomited, an extra one taken) is a discrepancy recorded only with a reason.

The protocol declares the drug as dispensed with ``dispensing = { tablet_strength = "12" }`` in its
``[[drugs]]`` entry (mg per tablet, in the drug's unit); the level's dose must be a whole number of
tablets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DISCREPANCY_REASON_MIN_LENGTH = 10


class DispensingError(ValueError):
    """Bad dispensing data: ``errors`` maps each field to its message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class Spec:
    tablet_strength: Decimal
    tablets_per_day: int

    @property
    def daily_dose(self) -> Decimal:
        return self.tablet_strength * self.tablets_per_day


def tablet_strength(drug: Mapping[str, Any]) -> Decimal | None:
    """The drug entry's tablet strength when the protocol records it by dispensing, else None.
    Raises ValueError naming the key when the entry is malformed."""
    dispensing = drug.get("dispensing")
    if dispensing is None:
        return None
    if not isinstance(dispensing, Mapping):
        raise ValueError("dispensing: expected a table, e.g. { tablet_strength = \"12\" }")
    try:
        strength = Decimal(str(dispensing.get("tablet_strength")))
    except InvalidOperation:
        raise ValueError(f"dispensing.tablet_strength: {dispensing.get('tablet_strength')!r} is not a number") from None
    if not strength.is_finite() or strength <= 0:
        raise ValueError(f"dispensing.tablet_strength: must be positive, got {dispensing.get('tablet_strength')!r}")
    return strength


def spec(strength: Decimal, daily_dose: Decimal | str, *, unit: str = "mg") -> Spec:
    """Tablets per day for a daily dose; the dose must be a whole number of tablets."""
    daily = Decimal(str(daily_dose))
    count = daily / strength
    if count != count.to_integral_value() or count < 1:
        raise ValueError(f"a daily dose of {_plain(daily)} {unit} is not a whole number of {_plain(strength)} {unit} "
                         "tablets")
    return Spec(tablet_strength=strength, tablets_per_day=int(count))


@dataclass(frozen=True)
class Reconciliation:
    taken_days: tuple[int, ...]
    # After the return: tablets used (dispensed - returned), expected (days taken x per day), their difference.
    tablets_used: int | None = None
    tablets_expected: int | None = None

    @property
    def discrepancy(self) -> int | None:
        if self.tablets_used is None:
            return None
        return self.tablets_used - self.tablets_expected


def day_date(first_day: date, day: int) -> date:
    """The date of cycle day ``day`` when day 1 was ``first_day``."""
    return first_day + timedelta(days=day - 1)


def reconcile(*, administration_days: Iterable[int], tablets_per_day: int, tablets_dispensed: int | None,
              dispensed_on: date, first_day: date, missed_days: Iterable[int] = (),
              returned_on: date | None = None, tablets_returned: int | None = None,
              discrepancy_reason: str = "", today: date, drug: str = "the drug",
              last_dose: date | None = None, cycle: int | None = None) -> Reconciliation:
    """Check one cycle's dispensing record and derive the days taken (see the module docstring). A day
    taken cannot fall after the return, nor after the recorded end of treatment (``last_dose``).
    Raises :class:`DispensingError` with a message per field."""
    days = sorted(set(administration_days))
    missed = list(missed_days)
    errors: dict[str, str] = {}
    if tablets_dispensed is None or tablets_dispensed < 1:
        errors["tablets_dispensed"] = "Give the number of tablets dispensed (at least 1)."
    if dispensed_on > today:
        errors["dispensed_on"] = "The dispensing date cannot be in the future."
    if first_day < dispensed_on:
        errors["first_dose_at"] = (f"The first tablet cannot be taken before the tablets were dispensed "
                                   f"({dispensed_on:%d %b %Y}).")
    elif first_day > today:
        errors["first_dose_at"] = "The first tablet cannot be taken in the future."
    outside = sorted({d for d in missed if d not in days})
    if outside:
        errors["missed_days"] = (f"Missed days must be days {days[0]}–{days[-1]} of the cycle (the days {drug} is "
                                 f"taken), not {', '.join(map(str, outside))}.")
    elif len(set(missed)) != len(missed):
        errors["missed_days"] = "Give each missed day once."
    if (returned_on is None) != (tablets_returned is None):
        if returned_on is None:
            errors["returned_on"] = "Give the date the tablets were returned with the number returned."
        else:
            errors["tablets_returned"] = ("Give the number of tablets returned (0 if none) with the return date.")
    if returned_on is not None:
        if returned_on > today:
            errors["returned_on"] = "The return date cannot be in the future."
        elif returned_on < dispensed_on:
            errors["returned_on"] = (f"The tablets cannot be returned before they were dispensed "
                                     f"({dispensed_on:%d %b %Y}).")
    if tablets_returned is not None and tablets_dispensed is not None:
        if tablets_returned < 0:
            errors["tablets_returned"] = "The number of tablets returned cannot be negative."
        elif tablets_returned > tablets_dispensed:
            errors["tablets_returned"] = (f"More tablets returned ({tablets_returned}) than dispensed "
                                          f"({tablets_dispensed}).")
    if errors:
        raise DispensingError(errors)

    if returned_on is None:
        # Only the day-1 tablet, taken when dispensed, is known before the return.
        taken = tuple(d for d in days[:1] if d not in missed)
    else:
        taken = tuple(d for d in days if d not in missed)
    for limit, what in ((returned_on, "the tablets were returned on"),
                        (last_dose, "the recorded last dose (end of treatment),")):
        late = [d for d in taken if limit is not None and day_date(first_day, d) > limit]
        if late:
            raise DispensingError({"missed_days": (
                f"Day{'s' if len(late) > 1 else ''} {', '.join(map(str, late))}"
                f"{f' of cycle {cycle}' if cycle else ''} "
                f"({', '.join(f'{day_date(first_day, d):%d %b}' for d in late)}) "
                f"{'fall' if len(late) > 1 else 'falls'} after {what} {limit:%d %b %Y}: mark "
                f"{'them' if len(late) > 1 else 'it'} missed, or correct the dates.")})
    if returned_on is None:
        return Reconciliation(taken_days=taken)
    result = Reconciliation(taken_days=taken, tablets_used=tablets_dispensed - tablets_returned,
                            tablets_expected=len(taken) * tablets_per_day)
    if result.discrepancy and len((discrepancy_reason or "").strip()) < DISCREPANCY_REASON_MIN_LENGTH:
        raise DispensingError({"discrepancy_reason": (
            f"{tablets_dispensed} dispensed − {tablets_returned} returned = {result.tablets_used} tablets used, but "
            f"{len(taken)} day{'s' if len(taken) != 1 else ''} taken × {tablets_per_day} = {result.tablets_expected} "
            f"expected ({abs(result.discrepancy)} {'more' if result.discrepancy > 0 else 'fewer'}): check the count "
            f"and the missed days, or say why (lost, vomited, extra tablet …), in at least "
            f"{DISCREPANCY_REASON_MIN_LENGTH} characters.")})
    return result


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def day_ranges(days: Iterable[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` → ``"1–3, 5, 7–8"``; empty → ``"none"``."""
    ordered = sorted(set(days))
    if not ordered:
        return "none"
    runs, start, prev = [], ordered[0], ordered[0]
    for d in ordered[1:]:
        if d != prev + 1:
            runs.append((start, prev))
            start = d
        prev = d
    runs.append((start, prev))
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
