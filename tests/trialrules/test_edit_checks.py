"""The edit-check engine (trialrules.edit_checks): parsing a rules file, with errors naming the rule and
key, and evaluating a record's values into findings. Pure: no database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from trialrules.edit_checks import RulesError, check, evaluate, parse_rules

KINDS = {"adverse-event": ("onset_date", "resolution_date", "grade", "outcome"),
         "assessment": ("kind", "weight_kg", "ecog"), "dose": ("administered_at", "dose"),
         "screening-values": ("values", "assessed_on")}


def rules(text: str, kinds=KINDS):
    return parse_rules(text, kinds=kinds)


def one(text: str):
    return rules(text)[0]


ORDER = """
[[rule]]
code = "ae.resolution_before_onset"
kind = "adverse-event"
type = "order"
fields = ["onset_date", "resolution_date"]
message = "The resolution date is before the onset date."
"""


def test_the_shipped_rules_file_parses():
    text = (Path(__file__).resolve().parents[2] / "queries" / "edit_checks.toml").read_text(encoding="utf-8")
    parsed = parse_rules(text)
    assert len(parsed) >= 20
    assert len({r.code for r in parsed}) == len(parsed)
    assert {"range", "order", "required"} <= {r.type for r in parsed}


# --- order -------------------------------------------------------------------------------------------


def test_order_fails_when_the_later_date_is_before_the_earlier():
    rule = one(ORDER)
    assert rule.field == "resolution_date"  # the later field, unless given
    finding = check(rule, {"onset_date": date(2026, 3, 10), "resolution_date": date(2026, 3, 2)})
    assert finding is not None
    assert finding.code == "ae.resolution_before_onset" and finding.field == "resolution_date"
    assert finding.value == "2026-03-10 → 2026-03-02"


def test_order_passes_on_the_same_day_and_later_and_with_a_missing_date():
    rule = one(ORDER)
    assert check(rule, {"onset_date": date(2026, 3, 10), "resolution_date": date(2026, 3, 10)}) is None
    assert check(rule, {"onset_date": date(2026, 3, 10), "resolution_date": date(2026, 3, 11)}) is None
    assert check(rule, {"onset_date": date(2026, 3, 10), "resolution_date": None}) is None
    assert check(rule, {"onset_date": date(2026, 3, 10)}) is None


def test_strict_order_fails_on_equal_values():
    rule = one(ORDER.replace('message', 'strict = true\nmessage'))
    assert check(rule, {"onset_date": date(2026, 3, 10), "resolution_date": date(2026, 3, 10)}) is not None


def test_order_compares_a_date_time_with_a_date_by_its_date():
    rule = one(ORDER.replace('"adverse-event"', '"dose"').replace(
        '["onset_date", "resolution_date"]', '["subject.enrolled_on", "administered_at"]'))
    values = {"subject": {"enrolled_on": date(2026, 3, 10)}}
    assert check(rule, {**values, "administered_at": datetime(2026, 3, 10, 8, 0)}) is None
    assert check(rule, {**values, "administered_at": datetime(2026, 3, 9, 23, 0)}) is not None


# --- range -------------------------------------------------------------------------------------------

RANGE = """
[[rule]]
code = "assessment.weight_range"
kind = "assessment"
type = "range"
fields = ["weight_kg"]
min = 20
max = 250
message = "The body weight is outside 20–250 kg."
"""


@pytest.mark.parametrize(("value", "fails"), [
    (Decimal("19.9"), True), (Decimal(20), False), (Decimal("70.5"), False), (Decimal(250), False),
    (Decimal("250.1"), True), (None, False), ("", False), ("70", False), ("seventy", True)])
def test_range_is_inclusive_and_an_empty_value_passes(value, fails):
    assert (check(one(RANGE), {"weight_kg": value}) is not None) is fails


def test_range_with_one_limit_and_a_json_path():
    rule = one("""
[[rule]]
code = "screening.anc"
kind = "screening-values"
type = "range"
fields = ["values.anc"]
min = 0
message = "ANC below 0."
""")
    assert rule.field == "values"
    assert check(rule, {"values": {"anc": "-1"}}).value == "-1"
    assert check(rule, {"values": {"anc": "1500"}}) is None
    assert check(rule, {"values": {}}) is None


# --- required, when / unless ----------------------------------------------------------------------

REQUIRED = """
[[rule]]
code = "assessment.vitals_without_weight"
kind = "assessment"
type = "required"
fields = ["weight_kg"]
when = { kind = "vitals" }
message = "No weight with the vital signs."
"""


def test_required_applies_only_when_the_condition_holds():
    rule = one(REQUIRED)
    assert check(rule, {"kind": "vitals", "weight_kg": None}).value == "kind=vitals"
    assert check(rule, {"kind": "vitals", "weight_kg": Decimal(70)}) is None
    assert check(rule, {"kind": "labs", "weight_kg": None}) is None


def test_unless_and_a_list_of_values():
    rule = one(REQUIRED.replace('when = { kind = "vitals" }', 'unless = { kind = ["labs", "performance"] }'))
    assert check(rule, {"kind": "labs", "weight_kg": None}) is None
    assert check(rule, {"kind": "performance", "weight_kg": None}) is None
    assert check(rule, {"kind": "vitals", "weight_kg": None}) is not None


def test_evaluate_returns_the_findings_and_the_rules_of_the_kind():
    parsed = rules(ORDER + RANGE + REQUIRED)
    findings, codes = evaluate(parsed, "assessment", {"kind": "vitals", "weight_kg": Decimal(300)})
    assert codes == ["assessment.weight_range", "assessment.vitals_without_weight"]
    assert [f.code for f in findings] == ["assessment.weight_range"]
    assert evaluate(parsed, "dose", {}) == ([], [])


# --- errors name the rule and the key ------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("rule = 3", "rule: rules are [[rule]] tables"),
    ("[[rule]]\nkind = 'dose'", "rule 1.code: a code"),
    (ORDER.replace('"adverse-event"', '"adverse"'), "rule 1 (ae.resolution_before_onset).kind: 'adverse'"),
    (ORDER.replace('"order"', '"between"'), "rule 1 (ae.resolution_before_onset).type: 'between'"),
    (ORDER.replace('["onset_date", "resolution_date"]', '["onset_date"]'),
     "rule 1 (ae.resolution_before_onset).fields: a order rule names 2 fields, not 1"),
    (ORDER.replace('message = "The resolution date is before the onset date."', ''),
     "rule 1 (ae.resolution_before_onset).message"),
    (ORDER.replace('type = "order"', 'type = "order"\nfield = "onset"'),
     "rule 1 (ae.resolution_before_onset).field: 'onset' is not a field of adverse-event"),
    (ORDER.replace('type = "order"', 'type = "order"\ncolour = 1'),
     "rule 1 (ae.resolution_before_onset): unknown key 'colour'"),
    (RANGE.replace("min = 20\nmax = 250\n", ""), "rule 1 (assessment.weight_range): a range rule needs min, max"),
    (RANGE.replace("min = 20", "min = 300"), "rule 1 (assessment.weight_range).min: 300 is above max 250"),
    (RANGE.replace("min = 20", 'min = "low"'), "rule 1 (assessment.weight_range).min: a number is needed"),
    (ORDER.replace('message', 'min = 1\nmessage'), "rule 1 (ae.resolution_before_onset).min: only a range rule"),
    (REQUIRED.replace('{ kind = "vitals" }', '"vitals"'), "rule 1 (assessment.vitals_without_weight).when"),
    (ORDER + ORDER, "rule 2 (ae.resolution_before_onset).code: already used by rule 1"),
    ("[[rule]\n", "not valid TOML"),
])
def test_a_bad_rules_file_is_refused_naming_the_rule_and_key(text, message):
    with pytest.raises(RulesError) as caught:
        rules(text)
    assert message in str(caught.value)


def test_without_kinds_the_kind_and_field_are_not_checked():
    assert parse_rules(ORDER.replace('"adverse-event"', '"anything"'))[0].kind == "anything"
