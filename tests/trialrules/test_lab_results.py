"""The bioanalytical lab's results file (trialrules.lab_results): one good mixed file parsed to exact values, then
one test per rule of docs/lab-results.md, then a file with several bad rows reporting all of them.

The samples are one subject's (001) of a BAT6005 cycle: the C1D1 dose at 2026-01-05 09:00 (+08:00, the site's
zone), a pre-dose, 2 h and 4 h PK sample, ADA before C1D1 and C2D1, RO and IL-6 at 4 h, archival tumour tissue
(no dose, no nominal time) for MSI, TMB and PD-L1, and a C1D8 PK sample not collected yet. Every expected value
is read off the file text by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from trialrules.lab_results import (
    AnalyteSpec,
    KnownSample,
    Problem,
    ResultRow,
    validate,
)

SITE = timezone(timedelta(hours=8))
C1D1 = datetime(2026, 1, 5, 9, 0, tzinfo=SITE)
C2D1 = datetime(2026, 1, 26, 9, 0, tzinfo=SITE)

ANALYTES = {spec.code: spec for spec in (
    AnalyteSpec("BAT6005", "pk", "ug/mL"),
    AnalyteSpec("ADA", "ada"),
    AnalyteSpec("RO", "ro", "%"),
    AnalyteSpec("IL-6", "biomarker", "pg/mL"),
    AnalyteSpec("PD-L1", "biomarker", "%"),
    AnalyteSpec("MSI", "biomarker", categories=("MSS", "MSI-L", "MSI-H")),
    AnalyteSpec("TMB", "biomarker", "mut/Mb"),
)}


def sample(sample_id, kind, analytes, collected_at, dose_at=C1D1, nominal_hours=0.0) -> KnownSample:
    return KnownSample(sample_id, kind, analytes, collected_at, dose_at, nominal_hours)


SAMPLES = {s.sample_id: s for s in (
    sample("PK-001-PRE", "pk", ("BAT6005",), C1D1 - timedelta(minutes=30), nominal_hours=-0.5),
    sample("PK-001-2H", "pk", ("BAT6005",), C1D1 + timedelta(hours=2), nominal_hours=2),
    sample("PK-001-4H", "pk", ("BAT6005",), C1D1 + timedelta(hours=4), nominal_hours=4),
    sample("ADA-001-C1", "ada", ("ADA",), C1D1 - timedelta(minutes=20), nominal_hours=-0.5),
    sample("ADA-001-C2", "ada", ("ADA",), C2D1 - timedelta(minutes=20), dose_at=C2D1, nominal_hours=-0.5),
    sample("RO-001-4H", "ro", ("RO",), C1D1 + timedelta(hours=4), nominal_hours=4),
    sample("BM-001-4H", "biomarker", ("IL-6",), C1D1 + timedelta(hours=4), nominal_hours=4),
    sample("TIS-001", "biomarker", ("MSI", "TMB", "PD-L1"), datetime(2025, 11, 20, 10, 0, tzinfo=SITE),
           dose_at=None, nominal_hours=None),
    sample("PK-001-C1D8", "pk", ("BAT6005",), None, dose_at=None, nominal_hours=None),
    # A misconfigured plan (an RO analyte on a PK sample), to see the kind rule on its own.
    sample("PK-001-ODD", "pk", ("RO",), C1D1 + timedelta(hours=4), nominal_hours=4),
)}

HEADER = "sample_id,analyte,result,unit,lloq,titre,analysed_on,collected_at\n"

GOOD = HEADER + """\
PK-001-PRE,BAT6005,BLQ,ug/mL,0.05,,2026-01-12,2026-01-05T08:30:00+08:00
PK-001-2H,BAT6005,12.40,ug/mL,0.05,,2026-01-12,
PK-001-4H,BAT6005,< 0.05,µg/mL,,,2026-01-12,
ADA-001-C1,ADA,negative,,,,2026-01-20,
ADA-001-C2,ADA,POS,,,160,2026-02-02,
RO-001-4H,RO,87.5,%,,,2026-01-05,
BM-001-4H,il-6,3.2,pg/mL,1.5,,2026-01-15,
TIS-001,MSI,msi-h,,,,2025-12-01,
TIS-001,TMB,12.5,mut/Mb,,,2025-12-01,
TIS-001,PD-L1,0,%,,,2025-12-01,
"""


def check(text: str, existing=()):
    return validate(text, SAMPLES, ANALYTES, existing)


def one_row(line: str, header: str = HEADER):
    """The problems of a file holding the header and this one row, as (column, message) pairs."""
    report = check(header + line + "\n")
    assert all((p.row, p.line) == (1, 2) for p in report.problems), report.problems
    return [(p.column, p.message) for p in report.problems]


def columns(line: str, header: str = HEADER) -> list[str | None]:
    return [column for column, _ in one_row(line, header)]


# The good file -----------------------------------------------------------------------------------------------

def test_good_mixed_file_parses_to_exact_values():
    report = check(GOOD)
    assert report.problems == ()
    assert report.ok
    day = date
    assert report.rows == (
        ResultRow(1, 2, "PK-001-PRE", "BAT6005", None, "ug/mL", True, Decimal("0.05"), None, None, "",
                  day(2026, 1, 12), datetime(2026, 1, 5, 8, 30, tzinfo=SITE)),
        ResultRow(2, 3, "PK-001-2H", "BAT6005", Decimal("12.40"), "ug/mL", False, Decimal("0.05"), None, None, "",
                  day(2026, 1, 12)),
        ResultRow(3, 4, "PK-001-4H", "BAT6005", None, "ug/mL", True, Decimal("0.05"), None, None, "",
                  day(2026, 1, 12)),
        ResultRow(4, 5, "ADA-001-C1", "ADA", None, "", False, None, False, None, "", day(2026, 1, 20)),
        ResultRow(5, 6, "ADA-001-C2", "ADA", None, "", False, None, True, 160, "", day(2026, 2, 2)),
        ResultRow(6, 7, "RO-001-4H", "RO", Decimal("87.5"), "%", False, None, None, None, "", day(2026, 1, 5)),
        ResultRow(7, 8, "BM-001-4H", "IL-6", Decimal("3.2"), "pg/mL", False, Decimal("1.5"), None, None, "",
                  day(2026, 1, 15)),
        ResultRow(8, 9, "TIS-001", "MSI", None, "", False, None, None, None, "MSI-H", day(2025, 12, 1)),
        ResultRow(9, 10, "TIS-001", "TMB", Decimal("12.5"), "mut/Mb", False, None, None, None, "", day(2025, 12, 1)),
        ResultRow(10, 11, "TIS-001", "PD-L1", Decimal("0"), "%", False, None, None, None, "", day(2025, 12, 1)),
    )
    assert str(report.rows[1].value) == "12.40"  # kept as written


def test_header_case_spaces_order_bom_and_blank_lines():
    text = "\ufeff Unit ,RESULT, Analyte,SAMPLE_ID \r\n\r\nug/mL,1.5,BAT6005,PK-001-2H\r\n,,,\r\n%,40,RO,RO-001-4H\r\n"
    report = check(text)
    assert report.problems == ()
    assert [(r.row, r.line, r.sample_id, r.value) for r in report.rows] == [
        (1, 3, "PK-001-2H", Decimal("1.5")), (2, 5, "RO-001-4H", Decimal("40"))]


def test_blank_lines_before_the_header_are_skipped_and_lines_still_counted():
    report = check("\n\nsample_id,analyte,result,unit,comment\nPK-001-2H,BAT6005,1,ug/mL,x\n")
    assert [(p.row, p.line, p.column) for p in report.problems] == [(None, 3, "comment")]
    assert [(r.row, r.line) for r in report.rows] == [(1, 4)]


def test_problem_renders_its_place():
    assert str(Problem(3, 4, "unit", "m")) == "row 3 (line 4), column 'unit': m"
    assert str(Problem(3, 4, None, "m")) == "row 3 (line 4): m"
    assert str(Problem(None, 1, "x", "m")) == "line 1, column 'x': m"
    assert str(Problem(None, None, None, "the file is empty")) == "the file is empty"


def test_only_the_required_columns_are_needed():
    report = check("sample_id,analyte,result,unit\nPK-001-2H,BAT6005,1,ug/mL\n")
    assert report.ok
    assert report.rows[0].analysed_on is None and report.rows[0].collected_at is None and report.rows[0].lloq is None


# The header --------------------------------------------------------------------------------------------------

def test_unknown_column_is_a_problem_and_rows_are_still_checked():
    report = check("sample_id,analyte,result,unit,comment\nPK-001-2H,BAT6005,-1,ug/mL,redo\n")
    assert [(p.row, p.line, p.column) for p in report.problems] == [(None, 1, "comment"), (1, 2, "result")]
    assert "unknown column" in report.problems[0].message
    assert str(report.problems[0]).startswith("line 1, column 'comment': an unknown column")


def test_a_typo_in_a_required_column_is_named_twice_and_no_row_is_checked():
    report = check("sample_id,analyte_code,result,unit\nNOPE,BAT6005,-1,kg\n")
    assert [(p.line, p.column) for p in report.problems] == [(1, "analyte_code"), (1, "analyte")]
    assert "missing" in report.problems[1].message
    assert report.rows == ()


def test_missing_required_column_is_one_problem_and_no_row_checks():
    report = check("sample_id,analyte,result\nNOPE,XYZ,-1\n")
    assert report.problems == (Problem(None, 1, "unit", "the required column 'unit' is missing; no row was checked"),)
    assert not report.ok


def test_column_given_twice():
    report = check("sample_id,analyte,result,unit,unit\nPK-001-2H,BAT6005,1,ug/mL,ug/mL\n")
    assert [(p.line, p.column) for p in report.problems] == [(1, "unit")]
    assert "more than once" in report.problems[0].message


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n  \n", HEADER, HEADER + "\n\n"])
def test_empty_file_or_header_only_is_one_problem(text):
    report = check(text)
    assert len(report.problems) == 1
    assert report.problems[0].row is None and not report.ok


def test_row_with_the_wrong_number_of_fields():
    report = check("sample_id,analyte,result,unit\nPK-001-2H,BAT6005,1\nPK-001-4H,BAT6005,2,ug/mL\n")
    assert [(p.row, p.line, p.column) for p in report.problems] == [(1, 2, None)]
    assert "3 fields but the header has 4" in report.problems[0].message
    assert [r.sample_id for r in report.rows] == ["PK-001-4H"]


# Samples and analytes ----------------------------------------------------------------------------------------

def test_unknown_sample():
    assert one_row("PK-999-2H,BAT6005,1,ug/mL,,,,") == [
        ("sample_id", "'PK-999-2H' is not a sample known to TrialSite")]


def test_empty_sample_id_and_analyte():
    assert columns(",,1,ug/mL,,,,") == ["sample_id", "analyte"]


def test_sample_not_collected_yet():
    assert one_row("PK-001-C1D8,BAT6005,1,ug/mL,,,,") == [
        ("sample_id", "sample PK-001-C1D8 is not recorded as collected at the site yet")]


def test_unknown_analyte():
    problems = one_row("PK-001-2H,BAT6006,1,ug/mL,,,,")
    assert [c for c, _ in problems] == ["analyte"]
    assert problems[0][1].startswith("'BAT6006' is not an analyte of this trial")


def test_analyte_not_planned_for_the_sample_and_of_another_kind():
    assert one_row("PK-001-2H,RO,40,%,,,,") == [
        ("analyte", "sample PK-001-2H is not planned for RO (planned: BAT6005)"),
        ("analyte", "RO is a receptor occupancy analyte but sample PK-001-2H is a PK sample"),
    ]


def test_analyte_kind_differs_from_the_sample_kind_even_when_planned():
    assert one_row("PK-001-ODD,RO,40,%,,,,") == [
        ("analyte", "RO is a receptor occupancy analyte but sample PK-001-ODD is a PK sample")]


def test_duplicate_within_the_file_names_the_earlier_row():
    report = check(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,\n\nPK-001-2H,bat6005,2,ug/mL,,,,\n")
    assert [(p.row, p.line, p.column, p.message) for p in report.problems] == [
        (2, 4, "analyte", "sample PK-001-2H and BAT6005 are already in row 1 (line 2) of this file")]


def test_already_imported_pair():
    report = check(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,\nPK-001-4H,BAT6005,1,ug/mL,,,,\n",
                   existing={("PK-001-4H", "BAT6005")})
    assert [(p.row, p.column) for p in report.problems] == [(2, "analyte")]
    assert "already imported" in report.problems[0].message
    assert "correction" in report.problems[0].message


# Results -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("result", ["-1", "-0.5", "abc", "\"1,5\"", "1e3", "NaN", "Infinity", "12 ", ">100", "1.2.3"])
def test_pk_result_must_be_a_number_0_or_more_or_blq(result):
    problems = one_row(f"PK-001-2H,BAT6005,{result},ug/mL,,,,")
    if result == "12 ":
        assert problems == []  # cells are stripped
    else:
        assert [c for c, _ in problems] == ["result"]


def test_empty_result():
    assert columns("PK-001-2H,BAT6005,,ug/mL,,,,") == ["result"]


@pytest.mark.parametrize("result", ["100", "100.0", "0"])
def test_ro_up_to_100_is_accepted(result):
    assert one_row(f"RO-001-4H,RO,{result},%,,,,") == []


def test_ro_above_100():
    assert one_row("RO-001-4H,RO,100.1,%,,,,") == [
        ("result", "'100.1' is above 100 (receptor occupancy is a percentage, 0 to 100)")]


def test_numeric_biomarker_may_be_above_100():
    assert one_row("BM-001-4H,IL-6,250,pg/mL,,,,") == []


@pytest.mark.parametrize("result", ["BLQ", "blq", "BQL", "<LLOQ", "< lloq", "<LOQ", "<loq"])
def test_blq_texts_with_an_lloq(result):
    report = check(HEADER + f"PK-001-PRE,BAT6005,{result},ug/mL,0.05,,,\n")
    assert report.problems == ()
    row = report.rows[0]
    assert (row.blq, row.value, row.lloq) == (True, None, Decimal("0.05"))


@pytest.mark.parametrize("result", ["BLQ", "<LLOQ"])
def test_blq_needs_an_lloq(result):
    problems = one_row(f"PK-001-PRE,BAT6005,{result},ug/mL,,,,")
    assert [c for c, _ in problems] == ["result"]
    assert "no LLOQ is given" in problems[0][1]


@pytest.mark.parametrize("result", ["<0.05", "< 0.05", "<0.050"])
def test_less_than_number_is_blq_with_that_lloq(result):
    report = check(HEADER + f"PK-001-PRE,BAT6005,{result},ug/mL,,,,\n")
    assert report.problems == ()
    assert (report.rows[0].blq, report.rows[0].lloq) == (True, Decimal("0.05"))


def test_less_than_number_agreeing_with_the_lloq_column():
    assert one_row("PK-001-PRE,BAT6005,<0.05,ug/mL,0.050,,,") == []


def test_less_than_number_contradicting_the_lloq_column():
    assert one_row("PK-001-PRE,BAT6005,<0.05,ug/mL,0.1,,,") == [
        ("result", "'<0.05' gives an LLOQ of 0.05 but the lloq column gives 0.1")]


def test_less_than_zero_is_not_an_lloq():
    assert columns("PK-001-PRE,BAT6005,<0,ug/mL,,,,") == ["result"]


@pytest.mark.parametrize("result", ["positive", "POS", "Pos", "POSITIVE"])
def test_ada_positive_with_titre(result):
    report = check(HEADER + f"ADA-001-C2,ADA,{result},,,40,,\n")
    assert report.problems == ()
    assert (report.rows[0].ada_positive, report.rows[0].titre, report.rows[0].value) == (True, 40, None)


@pytest.mark.parametrize("result", ["negative", "NEG", "neg", "Negative"])
def test_ada_negative(result):
    report = check(HEADER + f"ADA-001-C2,ADA,{result},,,,,\n")
    assert report.problems == ()
    assert (report.rows[0].ada_positive, report.rows[0].titre) == (False, None)


def test_ada_positive_needs_a_titre():
    assert columns("ADA-001-C2,ADA,positive,,,,,") == ["titre"]


@pytest.mark.parametrize("titre", ["0", "-5", "1:160", "40.5", "abc"])
def test_ada_titre_is_a_whole_number_of_1_or_more(titre):
    assert columns(f"ADA-001-C2,ADA,positive,,,{titre},,") == ["titre"]


def test_ada_negative_must_have_no_titre():
    assert one_row("ADA-001-C2,ADA,negative,,,40,,") == [
        ("titre", "'40' is given but the ADA result is negative (no titre)")]


@pytest.mark.parametrize("result", ["equivocal", "", "1", "BLQ"])
def test_ada_result_is_negative_or_positive(result):
    assert columns(f"ADA-001-C2,ADA,{result},,,,,") == ["result"]


def test_titre_on_a_row_that_is_not_ada():
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,40,,") == [
        ("titre", "a titre is given but BAT6005 is not ADA (only a positive ADA has a titre)")]


@pytest.mark.parametrize(("result", "stored"), [("MSS", "MSS"), ("msi-l", "MSI-L"), ("Msi-H", "MSI-H")])
def test_categorical_matches_without_case_and_keeps_the_spec_spelling(result, stored):
    report = check(HEADER + f"TIS-001,MSI,{result},,,,,\n")
    assert report.problems == ()
    assert (report.rows[0].category, report.rows[0].value) == (stored, None)


@pytest.mark.parametrize("result", ["MSI", "stable", "", "3"])
def test_categorical_must_be_one_of_the_categories(result):
    problems = one_row(f"TIS-001,MSI,{result},,,,,")
    assert [c for c, _ in problems] == ["result"]
    assert problems[0][1].endswith("(one of: MSS, MSI-L, MSI-H)")


# Units -------------------------------------------------------------------------------------------------------

def test_unit_mismatch_names_both_units_and_renders_with_row_line_column():
    report = check(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,\nPK-001-4H,BAT6005,1,ng/mL,,,,\n\n"
                   "RO-001-4H,RO,1,%,,,,\nBM-001-4H,IL-6,2,ng/mL,,,,\n")
    assert [str(p) for p in report.problems] == [
        "row 2 (line 3), column 'unit': 'ng/mL' is not the unit of BAT6005 (ug/mL)",
        "row 4 (line 6), column 'unit': 'ng/mL' is not the unit of IL-6 (pg/mL)",
    ]


@pytest.mark.parametrize("unit", ["µg/mL", "μg/mL", "mcg/mL", " ug/mL "])
def test_micro_spellings_are_the_same_unit_and_the_spec_spelling_is_kept(unit):
    report = check(HEADER + f"PK-001-2H,BAT6005,1,{unit},,,,\n")
    assert report.problems == ()
    assert report.rows[0].unit == "ug/mL"


@pytest.mark.parametrize("unit", ["ug/ml", "UG/ML", "mg/L", "ug", ""])
def test_other_unit_spellings_are_refused(unit):
    assert columns(f"PK-001-2H,BAT6005,1,{unit},,,,") == ["unit"]


@pytest.mark.parametrize("line", ["ADA-001-C2,ADA,negative,titre,,,,", "TIS-001,MSI,MSS,%,,,,"])
def test_ada_and_categorical_rows_need_an_empty_unit(line):
    problems = one_row(line)
    assert [c for c, _ in problems] == ["unit"]
    assert "leave the unit empty" in problems[0][1]


# LLOQ --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lloq", ["0", "-0.05", "abc", "\"0,05\""])
def test_lloq_must_be_a_number_above_0(lloq):
    assert columns(f"PK-001-2H,BAT6005,1,ug/mL,{lloq},,,") == ["lloq"]


def test_measured_value_below_the_lloq():
    assert one_row("PK-001-2H,BAT6005,0.04,ug/mL,0.05,,,") == [
        ("result", "'0.04' is below the LLOQ (0.05); report it as BLQ")]


def test_measured_value_at_the_lloq_is_accepted():
    assert one_row("PK-001-2H,BAT6005,0.05,ug/mL,0.05,,,") == []


@pytest.mark.parametrize("line", ["ADA-001-C2,ADA,negative,,0.5,,,", "TIS-001,MSI,MSS,,1,,,"])
def test_lloq_on_a_row_without_a_numeric_result(line):
    assert columns(line) == ["lloq"]


# Times -------------------------------------------------------------------------------------------------------

def test_post_dose_sample_collected_before_the_dose_per_the_file():
    # The file's time agrees with a (wrong) site record of 08:59, so only the dose rule speaks.
    samples = dict(SAMPLES)
    samples["PK-001-2H"] = sample("PK-001-2H", "pk", ("BAT6005",), C1D1 - timedelta(minutes=1), nominal_hours=2)
    report = validate(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,2026-01-05T08:59+08:00\n", samples, ANALYTES)
    assert [(p.column, p.message) for p in report.problems] == [
        ("collected_at", "post-dose sample PK-001-2H collected at 2026-01-05 08:59+08:00, "
                         "before its dose at 2026-01-05 09:00+08:00")]


def test_post_dose_sample_collected_before_the_dose_per_the_site():
    samples = dict(SAMPLES)
    samples["PK-001-2H"] = sample("PK-001-2H", "pk", ("BAT6005",), C1D1 - timedelta(hours=1), nominal_hours=2)
    report = validate(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,\n", samples, ANALYTES)
    assert [(p.column, p.message) for p in report.problems] == [
        (None, "the site's record: post-dose sample PK-001-2H collected at 2026-01-05 08:00+08:00, "
               "before its dose at 2026-01-05 09:00+08:00")]


def test_post_dose_sample_at_the_dose_time_is_not_before_it():
    samples = dict(SAMPLES)
    samples["PK-001-2H"] = sample("PK-001-2H", "pk", ("BAT6005",), C1D1, nominal_hours=2)
    assert validate(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,\n", samples, ANALYTES).ok


def test_pre_dose_sample_collected_after_the_dose():
    samples = dict(SAMPLES)
    samples["PK-001-PRE"] = sample("PK-001-PRE", "pk", ("BAT6005",), C1D1 + timedelta(minutes=10), nominal_hours=-0.5)
    report = validate(HEADER + "PK-001-PRE,BAT6005,<0.05,ug/mL,,,,2026-01-05T09:10+08:00\n", samples, ANALYTES)
    assert [(p.column, p.message) for p in report.problems] == [
        ("collected_at", "pre-dose sample PK-001-PRE collected at 2026-01-05 09:10+08:00, "
                         "after its dose at 2026-01-05 09:00+08:00")]


def test_tissue_without_dose_has_no_dose_rule():
    assert one_row("TIS-001,TMB,3,mut/Mb,,,,2025-11-20T10:00+08:00") == []


def test_file_time_more_than_a_minute_from_the_site_record_names_both():
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,,,2026-01-05T11:02+08:00") == [
        ("collected_at", "2026-01-05 11:02+08:00 differs from the site's record of sample PK-001-2H "
                         "(2026-01-05 11:00+08:00) by more than 1 minute")]


@pytest.mark.parametrize("moment", ["2026-01-05T11:01:00+08:00", "2026-01-05T10:59+08:00", "2026-01-05T03:00Z",
                                    "2026-01-05T03:00:30+00:00", "2026-01-05 11:00:00+08:00"])
def test_file_time_within_a_minute_in_any_offset(moment):
    assert one_row(f"PK-001-2H,BAT6005,1,ug/mL,,,,{moment}") == []


def test_naive_file_time_is_utc():
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,,,2026-01-05T03:00:00") == []
    assert columns("PK-001-2H,BAT6005,1,ug/mL,,,,2026-01-05T11:00:00") == ["collected_at"]  # 8 h off
    report = check(HEADER + "PK-001-2H,BAT6005,1,ug/mL,,,,2026-01-05T03:00\n")
    assert report.rows[0].collected_at == datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("moment", ["2026-01-05", "yesterday", "2026-01-05T25:00+08:00", "05/01/2026 11:00"])
def test_collected_at_must_be_a_date_and_time(moment):
    assert columns(f"PK-001-2H,BAT6005,1,ug/mL,,,,{moment}") == ["collected_at"]


@pytest.mark.parametrize("day", ["2026-02-30", "12/01/2026", "2026-1-12", "20260112", "today"])
def test_analysed_on_must_be_a_valid_date(day):
    assert columns(f"PK-001-2H,BAT6005,1,ug/mL,,,{day},") == ["analysed_on"]


def test_analysed_on_before_the_collection_date():
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,,2026-01-04,") == [
        ("analysed_on", "2026-01-04 is before the sample was collected (2026-01-05)")]


def test_analysed_on_the_collection_day_is_accepted():
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,,2026-01-05,") == []


def test_analysed_on_compares_with_the_date_of_the_files_collection_time_in_its_offset():
    # 2026-01-05 03:00Z is 11:00 on the 5th at the site; in UTC−05:00 it is the 4th, so analysis on the 4th is
    # before the collection's date only as the site writes it.
    assert one_row("PK-001-2H,BAT6005,1,ug/mL,,,2026-01-04,2026-01-04T22:00-05:00") == []
    assert columns("PK-001-2H,BAT6005,1,ug/mL,,,2026-01-04,2026-01-05T11:00+08:00") == ["analysed_on"]


# Everything at once ------------------------------------------------------------------------------------------

def test_several_bad_rows_report_all_of_them_and_good_rows_are_kept():
    text = HEADER + """\
PK-001-2H,BAT6005,12.4,ng/mL,,,,
PK-999,BAT6005,1,ug/mL,,,,
PK-001-2H,BAT6005,13,ug/mL,,,,

ADA-001-C2,ADA,positive,,,,2026-01-01,
RO-001-4H,RO,120,%,,,,
TIS-001,MSI,unknown,,,,,
PK-001-4H,BAT6005,BLQ,ug/mL,,5,,
BM-001-4H,IL-6,3.2,pg/mL,1.5,,2026-01-15,
"""
    report = check(text)
    assert [(p.row, p.line, p.column) for p in report.problems] == [
        (1, 2, "unit"),
        (2, 3, "sample_id"),
        (3, 4, "analyte"),
        (4, 6, "analysed_on"),
        (4, 6, "titre"),
        (5, 7, "result"),
        (6, 8, "result"),
        (7, 9, "titre"),
        (7, 9, "result"),
    ]
    assert not report.ok
    assert [r.row for r in report.rows] == [8]


# The contract document ---------------------------------------------------------------------------------------

def doc_blocks(kind: str) -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "lab-results.md").read_text(encoding="utf-8")
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.split("\n", 1)[0] == kind]


def test_the_documents_example_file_is_the_good_file():
    assert doc_blocks("csv")[0] == GOOD
    assert check(doc_blocks("csv")[0]).ok


def test_the_documents_bad_example_gives_the_documented_messages():
    report = check(doc_blocks("csv")[1])
    assert "\n".join(str(p) for p in report.problems) + "\n" == doc_blocks("")[0]
