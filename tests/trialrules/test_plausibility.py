"""Edit checks (trialrules.plausibility): hard findings refuse an entry, soft ones need a confirmation
with a reason. Pure rules, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from trialrules.eligibility import INPUTS
from trialrules.plausibility import (
    HARD,
    SOFT,
    Bound,
    DoseEvent,
    Finding,
    age_on,
    check_birth_date,
    check_date,
    check_dose,
    check_dose_order,
    check_screening_values,
    check_weight,
    resolve,
)

TODAY = date(2026, 3, 10)


def severities(findings):
    return [(f.field, f.check, f.severity) for f in findings]


# Dates ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,check", [
    (date(2026, 3, 11), "date.future"),
    (date(1899, 12, 31), "date.before_1900"),
    (date(26, 3, 1), "date.before_1900"),
    (date(2026, 2, 28), "date.order"),  # before consent
    (date(1950, 1, 1), "date.order"),  # before birth
])
def test_dates_in_the_future_before_1900_or_before_a_bound_are_refused(value, check):
    bounds = [Bound(date(1960, 5, 1), "the date of birth"), Bound(date(2026, 3, 1), "consent")]
    findings = check_date(value, field="onset_date", label="The onset date", today=TODAY, after=bounds)
    assert severities(findings) == [("onset_date", check, HARD)]


def test_a_date_on_its_bound_or_today_is_accepted():
    bounds = [Bound(date(2026, 3, 1), "consent"), Bound(None, "the first dose")]
    assert check_date(date(2026, 3, 1), field="d", label="The date", today=TODAY, after=bounds) == []
    assert check_date(TODAY, field="d", label="The date", today=TODAY, after=bounds) == []
    assert check_date(None, field="d", label="The date", today=TODAY) == []


def test_bound_message_names_both_dates_and_the_hint():
    [finding] = check_date(date(2026, 2, 27), field="onset_date", label="The onset date", today=TODAY,
                           after=[Bound(date(2026, 3, 1), "consent", "Record it as medical history.")])
    assert finding.message == ("The onset date (27 Feb 2026) cannot be before consent (01 Mar 2026). "
                               "Record it as medical history.")


# Date of birth and age -----------------------------------------------------------------------------

def test_age_on():
    assert age_on(date(1960, 3, 10), date(2026, 3, 9)) == 65
    assert age_on(date(1960, 3, 10), date(2026, 3, 10)) == 66


@pytest.mark.parametrize("dob,expected", [
    (date(2026, 3, 10), [("date_of_birth", "birth.future", HARD)]),
    (date(2030, 1, 1), [("date_of_birth", "birth.future", HARD)]),
    (date(1899, 1, 1), [("date_of_birth", "date.before_1900", HARD)]),
    (date(1905, 3, 1), [("date_of_birth", "age.limit", HARD)]),  # 121 at consent
    (date(1906, 3, 10), [("date_of_birth", "age.unusual", SOFT)]),  # exactly 120
    (date(1926, 3, 10), [("date_of_birth", "age.unusual", SOFT)]),  # 100
    (date(1926, 3, 11), []),  # 99
    (date(2010, 1, 1), []),  # 16: an eligibility matter, not a data error
])
def test_birth_date_gives_an_age_in_the_human_range(dob, expected):
    assert severities(check_birth_date(dob, on=date(2026, 3, 10), today=TODAY)) == expected


def test_age_message_says_the_age():
    [finding] = check_birth_date(date(1900, 6, 1), on=TODAY, today=TODAY)
    assert "gives an age of 125 years at consent" in finding.message


# Weight --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kg,expected", [
    ("9999", "weight.limits"), ("250.1", "weight.limits"), ("24.9", "weight.limits"), ("0", "weight.limits"),
    ("-70", "weight.limits"),
    ("250", "weight.unusual"), ("150.1", "weight.unusual"), ("39.9", "weight.unusual"), ("25", "weight.unusual"),
    ("40", None), ("150", None), ("70", None),
])
def test_weight_limits_and_usual_range(kg, expected):
    findings = check_weight(Decimal(kg))
    assert [f.check for f in findings] == ([expected] if expected else [])
    if expected:
        assert findings[0].severity == (HARD if expected == "weight.limits" else SOFT)


def test_weight_limit_message_states_the_range_and_unit():
    [finding] = check_weight(Decimal("9999"))
    assert finding.message == ("9999 kg is outside the plausible adult range (25–250 kg): check the value in kg "
                               "(not lb or g).")


def test_weight_change_from_the_last_weight_needs_confirmation():
    assert check_weight(Decimal("84"), previous=Decimal("70")) == []  # +20 %
    [finding] = check_weight(Decimal("84.1"), previous=Decimal("70"))
    assert (finding.check, finding.severity) == ("weight.change", SOFT)
    assert "is 20 % above the last recorded weight (70 kg)" in finding.message
    [finding] = check_weight(Decimal("55"), previous=Decimal("70"))
    assert "21 % below" in finding.message


def test_a_weight_read_again_is_held_to_the_hard_limits_only():
    assert check_weight(Decimal("160"), confirmable=False) == []
    assert [f.check for f in check_weight(Decimal("9999"), confirmable=False)] == ["weight.limits"]


def test_weight_ignores_empty_and_non_numbers():
    assert check_weight(None) == [] and check_weight("") == [] and check_weight("NaN") == []


# Dose against the computed dose --------------------------------------------------------------------

@pytest.mark.parametrize("dose,expected", [
    ("350", None), ("385", None), ("315", None),  # ±10 %
    ("385.1", ("dose.off_plan", SOFT)), ("437.5", ("dose.off_plan", SOFT)),  # up to +25 %
    ("314.9", ("dose.off_plan", SOFT)), ("175", ("dose.off_plan", SOFT)),  # reduced / interrupted
    ("437.6", ("dose.above_limit", HARD)), ("3500", ("dose.above_limit", HARD)),  # a 10x dose
])
def test_dose_tolerance(dose, expected):
    findings = check_dose(Decimal(dose), Decimal("350"), unit="mg")
    assert [(f.check, f.severity) for f in findings] == ([expected] if expected else [])


def test_a_ten_fold_dose_message():
    [finding] = check_dose(Decimal("3500"), Decimal("350"), unit="mg")
    assert finding.message.startswith("3500 mg is 10 × the computed dose (350 mg): more than 25 % above it is "
                                      "refused")


def test_dose_without_a_computed_dose_is_not_checked():
    assert check_dose(Decimal("10"), None, unit="mg") == []


# The order of doses --------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0)


def dose(drug, cycle, day, at):
    return DoseEvent(drug=drug, cycle=cycle, day=day, at=at, on=at.date())


def checks(new, recorded):
    return [f.check for f in check_dose_order(new, recorded)]


def test_the_first_dose_is_cycle_1_day_1():
    assert checks(dose("A", 1, 1, T0), []) == []
    assert checks(dose("A", 2, 1, T0), []) == ["dose.first_not_c1d1"]
    assert checks(dose("B", 1, 2, T0 + timedelta(days=1)), []) == ["dose.first_not_c1d1"]


def test_a_c1d2_dated_before_c1d1_would_become_the_first_dose():
    c1d1 = dose("A", 1, 1, T0)
    assert checks(dose("A", 1, 2, T0 - timedelta(days=1)), [c1d1]) == ["dose.before_c1d1"]
    # Of another drug of the regimen too (anlotinib day 2 before LVGN6051 day 1).
    assert checks(dose("B", 1, 2, T0 - timedelta(hours=1)), [c1d1]) == ["dose.before_c1d1"]
    assert checks(dose("B", 1, 2, T0 + timedelta(days=1)), [c1d1]) == []


def test_c2d1_before_c1d1_of_the_same_drug_is_refused():
    recorded = [dose("A", 1, 1, T0)]
    assert checks(dose("A", 2, 1, T0 - timedelta(days=3)), recorded) == ["dose.before_c1d1"]
    # A C1D1 entered after the C2D1 but dated after it.
    recorded = [dose("A", 1, 1, T0), dose("A", 2, 1, T0 + timedelta(days=21))]
    assert checks(dose("A", 3, 1, T0 + timedelta(days=10)), recorded) == ["dose.order"]


def test_two_cycles_of_a_drug_in_the_same_minute_or_day_are_refused():
    recorded = [dose("A", 1, 1, T0)]
    assert checks(dose("A", 2, 1, T0), recorded) == ["dose.same_day"]
    assert checks(dose("A", 2, 1, T0 + timedelta(hours=3)), recorded) == ["dose.same_day"]
    assert checks(dose("A", 2, 1, T0 + timedelta(days=21)), recorded) == []


def test_days_of_a_cycle_in_calendar_order():
    recorded = [dose("A", 1, 1, T0), dose("B", 1, 1, T0), dose("B", 1, 3, T0 + timedelta(days=2))]
    assert checks(dose("B", 1, 2, T0 + timedelta(days=1)), recorded) == []
    assert checks(dose("B", 1, 2, T0 + timedelta(days=3)), recorded) == ["dose.order"]
    assert checks(dose("B", 1, 4, T0 + timedelta(days=1)), recorded) == ["dose.order"]


def test_across_drugs_no_later_cycle_before_an_earlier_one():
    recorded = [dose("A", 1, 1, T0), dose("B", 1, 1, T0), dose("B", 1, 14, T0 + timedelta(days=13))]
    assert checks(dose("A", 2, 1, T0 + timedelta(days=12)), recorded) == ["dose.cycle_order"]
    assert checks(dose("A", 2, 1, T0 + timedelta(days=21)), recorded) == []
    # The same day for two drugs of the same cycle is normal.
    assert checks(dose("B", 1, 1, T0 + timedelta(minutes=30)), [dose("A", 1, 1, T0)]) == []


def test_order_message_names_the_conflicting_dose():
    [finding] = check_dose_order(dose("A", 2, 1, T0), [dose("A", 1, 1, T0)])
    assert finding.field == "administered_at"
    assert finding.message.startswith("Cycle 1 day 1 of A (02 Mar 2026 09:00) is on the same day")


# Screening values ----------------------------------------------------------------------------------

def test_every_screening_number_has_a_physiological_range():
    numbers = [name for name, spec in INPUTS.items() if spec.kind == "number"]
    assert numbers and all(INPUTS[name].plausible for name in numbers)


@pytest.mark.parametrize("values,field", [
    ({"lvef": "101"}, "lvef"),
    ({"lvef": "62"}, None),
    ({"anc": "1500"}, "anc"),
    ({"hemoglobin": "12.5"}, "hemoglobin"),
    ({"hemoglobin": "125"}, None),
    ({"creatinine": "0.9", "creatinine_unit": "µmol/L"}, "creatinine"),
    ({"creatinine": "0.9", "creatinine_unit": "mg/dL"}, None),
    ({"creatinine": "80", "creatinine_unit": "mg/dL"}, "creatinine"),  # 7072 µmol/L
    ({"platelets": "210000"}, "platelets"),
    ({"inr": "0.1"}, "inr"),
    ({"weight": "9999"}, "weight"),
])
def test_screening_values_outside_the_physiological_range_are_refused(values, field):
    findings = check_screening_values(values)
    assert [(f.field, f.severity) for f in findings] == ([(field, HARD)] if field else [])


def test_screening_range_message_in_the_typed_unit():
    [finding] = check_screening_values({"lvef": "101"})
    assert finding.message == ("LVEF 101 % is outside the physiological range (5–95 %): check the value in %: an "
                               "ejection fraction cannot exceed 100 %.")
    [finding] = check_screening_values({"creatinine": "80", "creatinine_unit": "mg/dL"})
    assert "(10–3000 µmol/L = 0.11–33.94 mg/dL)" in finding.message


def test_screening_weight_is_soft_in_the_unusual_range():
    assert severities(check_screening_values({"weight": "160"})) == [("weight", "weight.unusual", SOFT)]


# Resolution: hard refuses, soft needs a confirmation with a reason ---------------------------------

HARD_ONE = Finding("dose", "dose.above_limit", "Too much.")
SOFT_ONE = Finding("weight_kg", "weight.unusual", "Unusual.", SOFT)


def test_nothing_found_is_ok():
    resolution = resolve([])
    assert resolution.ok and resolution.confirmed == () and not resolution.needs_confirmation


def test_hard_findings_refuse_even_when_confirmed():
    resolution = resolve([HARD_ONE], confirmed=True, reason="I checked it twice.")
    assert resolution.errors == {"dose": ("Too much.",)} and not resolution.needs_confirmation


def test_soft_findings_need_the_confirmation_and_a_reason():
    unconfirmed = resolve([SOFT_ONE])
    assert unconfirmed.needs_confirmation
    assert unconfirmed.errors == {"weight_kg": ("Unusual. If it is correct, tick “I confirm this value is correct” "
                                                "and give the reason.",)}
    no_reason = resolve([SOFT_ONE], confirmed=True, reason="  short ")
    assert no_reason.errors["unusual_reason"] == ("Say why the value is correct, in at least 10 characters.",)
    assert "weight_kg" in no_reason.errors
    reason_unticked = resolve([SOFT_ONE], confirmed=False, reason="Weighed twice on the ward scale.")
    assert reason_unticked.needs_confirmation and "unusual_reason" not in reason_unticked.errors
    confirmed = resolve([SOFT_ONE], confirmed=True, reason="Weighed twice on the ward scale.")
    assert confirmed.ok and confirmed.confirmed == (SOFT_ONE,)


def test_a_confirmation_without_a_soft_finding_confirms_nothing():
    assert resolve([], confirmed=True, reason="Nothing unusual here.").confirmed == ()


def test_a_reason_over_the_limit_is_refused():
    resolution = resolve([SOFT_ONE], confirmed=True, reason="x" * 501)
    assert resolution.errors["unusual_reason"] == ("Keep the reason to 500 characters (it has 501).",)
    assert resolution.needs_confirmation


def test_a_c1d1_moved_after_another_dose_would_leave_that_one_first():
    # A correction of C1D1 (the only one) to a time after the subject's C1D2 of another drug.
    recorded = [dose("B", 1, 2, T0 + timedelta(days=1))]
    assert checks(dose("A", 1, 1, T0 + timedelta(days=2)), recorded) == ["dose.after_first"]
    # Another drug's C1D1 before it keeps the C1D2 in order.
    recorded.append(dose("B", 1, 1, T0))
    assert checks(dose("A", 1, 1, T0 + timedelta(hours=1)), recorded) == []
