"""QL1706's inclusion criteria as data (protocols/QL1706.toml), checked by trialrules.eligibility:
table-driven, one row per criterion and boundary."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from trialrules import eligibility as e
from trials.protocol_file import ProtocolFileError, read_protocol

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
QL1706 = e.criteria_from_protocol(read_protocol(PROTOCOLS / "QL1706.toml").data)
ULN = {"ast": e.Quantity(Decimal(40), "U/L"), "alt": e.Quantity(Decimal(40), "U/L"),
       "bilirubin": e.Quantity(Decimal(21), "µmol/L"), "creatinine": e.Quantity(Decimal(106), "µmol/L"),
       "aptt": e.Quantity(Decimal(40), "s"), "pt": e.Quantity(Decimal("13.5"), "s")}
BASE = {
    "age": 50, "sex": "F", "weight": "70", "histology": "leiomyosarcoma", "prior_therapies": ["anthracycline"],
    "ecog": "1", "anc": "3.2", "platelets": "210", "hemoglobin": "128", "albumin": "41", "ast": "30", "alt": "28",
    "bilirubin": "12", "creatinine": "80", "aptt": "32", "pt": "12", "inr": "1.0",
    "urine_protein_dipstick": "negative", "lvef": "62", "pregnancy_test": "negative",
}
JUDGED = {c.code: True for c in QL1706 if c.kind == "judgement"}


def check(code, **changes):
    values = {**BASE, **changes}
    values = {k: v for k, v in values.items() if v is not None}
    result = next(r for r in e.evaluate(QL1706, values, uln=ULN, judgements=JUDGED).results if r.code == code)
    return result


def test_every_inclusion_criterion_is_represented():
    codes = {c.code for c in QL1706}
    assert codes >= {"consent", "age", "histology", "prior_therapy", "measurable", "biomarker_samples", "ecog",
                     "life_expectancy", "no_support_14d", "anc", "platelets", "hemoglobin", "ast", "alt",
                     "bilirubin", "albumin", "renal", "aptt", "inr", "pt", "urine_protein", "lvef", "pregnancy",
                     "not_lactating", "contraception"}
    assert len(e.histologies(QL1706)) == 8


def test_baseline_candidate_is_eligible():
    outcome = e.evaluate(QL1706, BASE, uln=ULN, judgements=JUDGED)
    assert outcome.eligible, [r for r in outcome.results if not r.met]
    assert outcome.status == "eligible"


@pytest.mark.parametrize("code,changes,status", [
    # Age 18-75 at consent.
    ("age", {"age": 18}, e.MET), ("age", {"age": 75}, e.MET), ("age", {"age": 17}, e.NOT_MET),
    ("age", {"age": 76}, e.NOT_MET),
    # Histology list.
    ("histology", {"histology": "chordoma"}, e.MET), ("histology", {"histology": "osteosarcoma"}, e.NOT_MET),
    ("histology", {"histology": None}, e.MISSING),
    # Prior therapy by histology.
    ("prior_therapy", {"histology": "chordoma", "prior_therapies": []}, e.MET),
    ("prior_therapy", {"histology": "alveolar soft part sarcoma", "prior_therapies": []}, e.MET),
    ("prior_therapy", {"histology": "alveolar soft part sarcoma", "prior_therapies": ["other_systemic"]}, e.MET),
    ("prior_therapy", {"histology": "alveolar soft part sarcoma", "prior_therapies": ["pd1_pdl1"]}, e.NOT_MET),
    ("prior_therapy", {"histology": "leiomyosarcoma", "prior_therapies": []}, e.NOT_MET),
    ("prior_therapy", {"histology": "myxofibrosarcoma", "prior_therapies": ["anthracycline"]}, e.MET),
    ("prior_therapy", {"histology": "angiosarcoma", "prior_therapies": ["paclitaxel", "progression"]}, e.MET),
    ("prior_therapy", {"histology": "angiosarcoma", "prior_therapies": ["paclitaxel"]}, e.NOT_MET),
    ("prior_therapy", {"histology": "angiosarcoma", "prior_therapies": ["intolerance"]}, e.MET),
    ("prior_therapy", {"histology": None}, e.MISSING),
    # ECOG 0-1.
    ("ecog", {"ecog": "0"}, e.MET), ("ecog", {"ecog": "2"}, e.NOT_MET), ("ecog", {"ecog": None}, e.MISSING),
    # Haematology.
    ("anc", {"anc": "1.5"}, e.MET), ("anc", {"anc": "1.49"}, e.NOT_MET),
    ("platelets", {"platelets": "90"}, e.MET), ("platelets", {"platelets": "89"}, e.NOT_MET),
    ("hemoglobin", {"hemoglobin": "90"}, e.MET), ("hemoglobin", {"hemoglobin": "89"}, e.NOT_MET),
    # AST/ALT <= 2.5 x ULN (ULN 40: 100), <= 5 x ULN with liver metastases (200).
    ("ast", {"ast": "100"}, e.MET), ("ast", {"ast": "101"}, e.NOT_MET),
    ("ast", {"ast": "200", "liver_metastasis": True}, e.MET),
    ("ast", {"ast": "201", "liver_metastasis": True}, e.NOT_MET),
    ("alt", {"alt": "100"}, e.MET), ("alt", {"alt": "150"}, e.NOT_MET),
    ("alt", {"alt": "150", "liver_metastasis": True}, e.MET),
    # TBIL <= 1.5 x ULN (21 µmol/L: 31.5), Gilbert's < 3 x ULN (63, strict).
    ("bilirubin", {"bilirubin": "31.5"}, e.MET), ("bilirubin", {"bilirubin": "31.6"}, e.NOT_MET),
    ("bilirubin", {"bilirubin": "62.9", "gilbert": True}, e.MET),
    ("bilirubin", {"bilirubin": "63", "gilbert": True}, e.NOT_MET),
    ("bilirubin", {"bilirubin": "1.8", "bilirubin_unit": "mg/dL"}, e.MET),  # 30.8 µmol/L
    ("bilirubin", {"bilirubin": "1.9", "bilirubin_unit": "mg/dL"}, e.NOT_MET),  # 32.5 µmol/L
    ("albumin", {"albumin": "30"}, e.MET), ("albumin", {"albumin": "29.9"}, e.NOT_MET),
    # Cr <= 1.5 x ULN (159 µmol/L) OR CrCl >= 50 mL/min.
    ("renal", {"creatinine": "159"}, e.MET),
    # 160 µmol/L > 1.5 x ULN, but CrCl = (140-50) x 70 / (72 x 1.81) x 0.85 = 41: not met.
    ("renal", {"creatinine": "160"}, e.NOT_MET),
    # Same creatinine, a heavier young man: CrCl = (140-30) x 100 / (72 x 1.81) = 84.4: met by CrCl.
    ("renal", {"creatinine": "160", "age": 30, "sex": "M", "weight": "100"}, e.MET),
    ("renal", {"creatinine": "2.0", "creatinine_unit": "mg/dL", "age": 30, "sex": "M", "weight": "100"}, e.MET),
    ("renal", {"creatinine": None}, e.MISSING),
    # Coagulation.
    ("aptt", {"aptt": "60"}, e.MET), ("aptt", {"aptt": "60.1"}, e.NOT_MET),
    ("pt", {"pt": "20.25"}, e.MET), ("pt", {"pt": "20.3"}, e.NOT_MET),
    ("inr", {"inr": "1.5"}, e.MET), ("inr", {"inr": "1.6"}, e.NOT_MET),
    # Urine protein: dipstick <= 1+, or >= 2+ with 24-h protein < 1 g.
    ("urine_protein", {"urine_protein_dipstick": "1+"}, e.MET),
    ("urine_protein", {"urine_protein_dipstick": "2+"}, e.MISSING),
    ("urine_protein", {"urine_protein_dipstick": "2+", "urine_protein_24h": "0.8"}, e.MET),
    ("urine_protein", {"urine_protein_dipstick": "3+", "urine_protein_24h": "1.0"}, e.NOT_MET),
    ("lvef", {"lvef": "50"}, e.MET), ("lvef", {"lvef": "49"}, e.NOT_MET),
    # Pregnancy test: women only.
    ("pregnancy", {"pregnancy_test": "positive"}, e.NOT_MET),
    ("pregnancy", {"sex": "M", "pregnancy_test": None}, e.MET),
    ("pregnancy", {"sex": "F", "pregnancy_test": None}, e.MISSING),
])
def test_criterion(code, changes, status):
    result = check(code, **changes)
    assert result.status == status, result


def test_uln_threshold_shows_value_ratio_and_limit():
    result = check("ast", ast="120")
    assert result.status == e.NOT_MET
    assert result.value == "120 U/L (3.00 × ULN)"
    assert result.threshold == "≤ 2.5 × ULN 40 U/L = ≤ 100 U/L"
    with_mets = check("ast", ast="120", liver_metastasis=True)
    assert with_mets.met and "liver metastases" in with_mets.threshold


def test_missing_uln_is_missing_not_met():
    result = next(r for r in e.evaluate(QL1706, BASE, uln={}, judgements=JUDGED).results if r.code == "aptt")
    assert result.status == e.MISSING and "no ULN" in result.note


def test_judgement_needs_a_person():
    outcome = e.evaluate(QL1706, BASE, uln=ULN, judgements={})
    measurable = next(r for r in outcome.results if r.code == "measurable")
    assert measurable.status == e.MISSING and not outcome.eligible and outcome.status == "incomplete"
    judged_no = e.evaluate(QL1706, BASE, uln=ULN, judgements={**JUDGED, "measurable": False})
    assert judged_no.status == "not_eligible" and [r.code for r in judged_no.failed] == ["measurable"]


@pytest.mark.parametrize("age,weight,sex,creatinine,expected", [
    (60, 72, "M", e.Quantity(Decimal(1), "mg/dL"), Decimal(80)),            # (140-60)*72/72
    (60, 72, "F", e.Quantity(Decimal(1), "mg/dL"), Decimal(68)),            # x 0.85
    (40, 80, "M", e.Quantity(Decimal("88.4"), "µmol/L"), Decimal("111.1")),  # 88.4 µmol/L = 1 mg/dL
])
def test_cockcroft_gault(age, weight, sex, creatinine, expected):
    crcl = e.cockcroft_gault(age=age, weight_kg=Decimal(weight), sex=sex, creatinine=creatinine)
    assert crcl.quantize(Decimal("0.1")) == expected.quantize(Decimal("0.1"))


@pytest.mark.parametrize("entry,message", [
    ({"code": "x", "kind": "between", "field": "age"}, "kind"),
    ({"code": "x", "kind": "min", "field": "height", "min": 1}, "not a known input"),
    ({"code": "x", "kind": "uln_multiple", "field": "anc", "multiple": 2}, "has no ULN"),
    ({"code": "x", "kind": "range", "field": "age", "min": 80, "max": 18}, "min is above max"),
    ({"code": "x", "kind": "uln_multiple", "field": "ast", "multiple": 2,
      "exceptions": [{"when": "cirrhosis", "multiple": 3}]}, "cirrhosis"),
])
def test_bad_criteria_rejected(tmp_path, entry, message):
    source = (PROTOCOLS / "BAT6005.toml").read_text()
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true") for k, v in entry.items()
                      if k != "exceptions")
    if "exceptions" in entry:
        ex = entry["exceptions"][0]
        lines += f'\nexceptions = [{{ when = "{ex["when"]}", multiple = {ex["multiple"]} }}]'
    path = tmp_path / "bad.toml"
    path.write_text(source + "\n[[eligibility]]\n" + lines + "\n")
    with pytest.raises(ProtocolFileError, match=message):
        read_protocol(path)


def test_bat6005_has_a_minimal_list():
    criteria = e.criteria_from_protocol(read_protocol(PROTOCOLS / "BAT6005.toml").data)
    assert {c.code for c in criteria} == {"consent", "age", "ecog", "measurable", "diagnosis"}
