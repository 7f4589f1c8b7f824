"""Dosing rules: the planned dose, the cycle window, the cycle maximum and pre-dose assessments.

Pure Python, standard library only; ``subjects.services.dose_record`` applies them.

- **Planned dose**: a flat dose is the level's amount; a per-kg dose is amount × weight (kg), rounded to
  0.1 mg (QL1706: 5 mg/kg × 62.4 kg = 312 mg).
- **Cycle window** (BAT6005: ``dose_window_days = 3`` from ``dose_window_from_cycle = 2``): day 1 of cycle
  n is due on day 1 of cycle n − 1 + ``cycle_days``, ± the window, in calendar days.
- **Cycle maximum** (``max_cycles``, BAT6005: 17): a later cycle needs a recorded continuation
  exception (investigator, reason).
- **Pre-dose assessments** (``predose_assessments_days``, BAT6005: 3): vital signs, laboratory tests and
  performance status each assessed on one of the N days before the dose, or on its day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

PREDOSE_KINDS = {"vitals": "vital signs", "labs": "laboratory tests", "performance": "performance status"}


@dataclass(frozen=True)
class PlannedDose:
    amount: Decimal
    unit: str
    explanation: str


def planned_dose(*, basis: str, level_amount: Decimal | str, unit: str, weight_kg: Decimal | None = None,
                 drug: str = "") -> PlannedDose:
    """The dose to give at the level; per-kg doses need the weight used."""
    amount = Decimal(str(level_amount))
    if basis == "per_kg":
        if weight_kg is None:
            raise ValueError(f"{drug or 'the drug'} is dosed per kg: the body weight is needed")
        weight = Decimal(str(weight_kg))
        if weight <= 0:
            raise ValueError("the body weight must be positive")
        total = (amount * weight).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return PlannedDose(total, unit, f"{amount.normalize():f} {unit}/kg × {weight.normalize():f} kg = "
                                        f"{total.normalize():f} {unit}")
    return PlannedDose(amount, unit, f"flat dose {amount.normalize():f} {unit}")


@dataclass(frozen=True)
class CycleWindow:
    cycle: int
    target: date
    earliest: date
    latest: date

    def contains(self, day: date) -> bool:
        return self.earliest <= day <= self.latest

    def describe(self) -> str:
        return (f"cycle {self.cycle} day 1 is due {self.target:%d %b %Y} (window {self.earliest:%d %b %Y} – "
                f"{self.latest:%d %b %Y})")


def cycle_window(*, cycle: int, previous_day1: date, cycle_days: int, window_days: int) -> CycleWindow:
    target = previous_day1 + timedelta(days=cycle_days)
    return CycleWindow(cycle, target, target - timedelta(days=window_days), target + timedelta(days=window_days))


def window_applies(cycle: int, *, from_cycle: int | None, window_days: int | None) -> bool:
    return bool(window_days is not None and from_cycle is not None and cycle >= from_cycle and cycle > 1)


def cycle_allowed(cycle: int, *, max_cycles: int | None, continuation: bool) -> bool:
    return max_cycles is None or cycle <= max_cycles or continuation


def predose_missing(assessed: Mapping[str, Iterable[date]], *, dose_day: date, days: int) -> list[str]:
    """The assessment kinds with no assessment in [dose_day − days, dose_day]."""
    earliest = dose_day - timedelta(days=days)
    return [kind for kind in PREDOSE_KINDS
            if not any(earliest <= d <= dose_day for d in assessed.get(kind, ()))]
