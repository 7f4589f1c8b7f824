"""trialrules.dosing: planned doses, the cycle window, the cycle maximum, pre-dose assessments."""

from datetime import date
from decimal import Decimal

import pytest

from trialrules import dosing


@pytest.mark.parametrize("basis,amount,weight,expected", [
    ("per_kg", "5", "62.4", Decimal("312.0")),   # QL1706 5 mg/kg
    ("per_kg", "3", "70.25", Decimal("210.8")),   # rounded to 0.1 mg, half up
    ("flat", "12", None, Decimal("12")),
    ("flat", "300", "80", Decimal("300")),        # weight ignored for a flat dose
])
def test_planned_dose(basis, amount, weight, expected):
    planned = dosing.planned_dose(basis=basis, level_amount=amount, unit="mg",
                                  weight_kg=Decimal(weight) if weight else None)
    assert planned.amount == expected


def test_per_kg_needs_weight_and_explains_it():
    with pytest.raises(ValueError, match="QL1706 is dosed per kg"):
        dosing.planned_dose(basis="per_kg", level_amount="5", unit="mg", drug="QL1706")
    assert dosing.planned_dose(basis="per_kg", level_amount="5", unit="mg", weight_kg=Decimal("62.4")).explanation \
        == "5 mg/kg × 62.4 kg = 312 mg"


@pytest.mark.parametrize("day,inside", [(date(2026, 1, 19), True), (date(2026, 1, 22), True),
                                        (date(2026, 1, 25), True), (date(2026, 1, 18), False),
                                        (date(2026, 1, 26), False)])
def test_cycle_window_plus_minus_3_days(day, inside):
    window = dosing.cycle_window(cycle=2, previous_day1=date(2026, 1, 1), cycle_days=21, window_days=3)
    assert window.target == date(2026, 1, 22)
    assert window.contains(day) is inside


def test_window_applies_from_cycle_2():
    assert not dosing.window_applies(1, from_cycle=2, window_days=3)
    assert dosing.window_applies(2, from_cycle=2, window_days=3)
    assert not dosing.window_applies(5, from_cycle=None, window_days=None)


def test_cycle_maximum():
    assert dosing.cycle_allowed(17, max_cycles=17, continuation=False)
    assert not dosing.cycle_allowed(18, max_cycles=17, continuation=False)
    assert dosing.cycle_allowed(18, max_cycles=17, continuation=True)
    assert dosing.cycle_allowed(40, max_cycles=None, continuation=False)


def test_predose_assessments_within_3_days():
    dose_day = date(2026, 2, 10)
    assessed = {"vitals": [date(2026, 2, 7)], "labs": [date(2026, 2, 6)], "performance": [date(2026, 2, 10)]}
    assert dosing.predose_missing(assessed, dose_day=dose_day, days=3) == ["labs"]
    assert dosing.predose_missing({}, dose_day=dose_day, days=3) == ["vitals", "labs", "performance"]
    # An assessment after the dose does not count.
    assert "vitals" in dosing.predose_missing({"vitals": [date(2026, 2, 11)]}, dose_day=dose_day, days=3)
