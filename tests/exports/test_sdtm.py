"""Issue 13: the SDTM-shaped datasets (DM, AE + SUPPAE, EX, VS, LB, PC, RS, TR, TU) of a running trial, their
values checked against the records they come from, the XPT files read back (pyreadstat) equal to the rows
written, the controlled terms those of exports.terminology, and the de-identified (sponsor) variants."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exports import terminology as ct
from exports.deid import Deidentifier
from exports.sdtm import ascii_text, build_datasets, build_sdtm, variables_for
from subjects.models import AdverseEvent, DoseAdministration
from tests.exports.helpers import BIRTHS, INITIALS
from tests.exports.sdtm_data import read_xpt, rows, screened_subject, sdtm_trial
from tests.test_decision_safety import first_day

pytestmark = pytest.mark.django_db
DATASETS = ("dm", "ae", "suppae", "ex", "vs", "lb", "pc", "rs", "tr", "tu")


@pytest.fixture
def world(site_a, site_b):
    return sdtm_trial(site_a, site_b)


def _all(files) -> dict[str, list[dict]]:
    return {name: rows(files, f"{name}.xpt")[0] for name in DATASETS}


def _dy(reference, day) -> int:
    """SDTM study day, computed here independently: day 1 is the reference day, there is no day 0."""
    delta = (day - reference).days
    return delta + 1 if delta >= 0 else delta


def _by_subject(dataset: list[dict], usubjid: str) -> list[dict]:
    return [r for r in dataset if r["USUBJID"] == usubjid]


def _minute(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_every_domain_holds_the_records(world):
    trial = world["trial"]
    files = build_sdtm(trial, deidentified=False)
    assert set(files) == {f"{n}.xpt" for n in DATASETS} | {"define.xml"}
    data = _all(files)
    a, b, c = world["subjects"]
    levels = list(trial.dose_levels.order_by("rank"))

    # DM: one row per subject, identity as recorded, the dose level as the arm.
    assert [r["USUBJID"] for r in data["dm"]] == sorted(s.code for s in (a, b, c))
    for subject, birth in zip((a, b, c), BIRTHS, strict=True):
        [row] = _by_subject(data["dm"], subject.code)
        assert row["SUBJID"] == subject.code and row["SITEID"] == subject.site.code
        assert row["BRTHDTC"] == birth.isoformat() and row["SEX"] == subject.sex
        level = subject.dose_level
        assert (row["ARMCD"], row["ARM"]) == (f"L{levels.index(level) + 1:02d}", level.label)
        assert (row["ACTARMCD"], row["ACTARM"]) == (row["ARMCD"], row["ARM"])
        first = subject.first_dose().administered_at
        assert row["RFSTDTC"] == row["RFXSTDTC"] == _minute(first)
        assert row["AGEU"] == "YEARS" and row["AGE"] == _age(subject)
        assert row["DMDY"] == _dy(first_day(subject), timezone.localdate(subject.enrolled_at)) == -1

    # AE: the live events (the voided one is not there), term, CTCAE grade, causality, dates, study days.
    live = AdverseEvent.objects.filter(subject__trial=trial)
    assert len(data["ae"]) == live.count() == 4
    assert world["voided"].term not in {r["AETERM"] for r in data["ae"]}
    for event in live:
        [row] = [r for r in data["ae"] if r["USUBJID"] == event.subject.code and r["AETERM"] == event.term]
        reference = first_day(event.subject)
        assert row["AETOXGR"] == str(event.grade) and row["AEDECOD"] == (event.ctcae.term if event.ctcae_id
                                                                         else event.term)
        assert row["AEREL"] == ct.AEREL[event.attribution]
        assert row["AESTDTC"] == event.onset_date.isoformat()
        assert row["AESTDY"] == _dy(reference, event.onset_date)
        assert row["EPOCH"] == "TREATMENT"
    corrected = next(r for r in data["ae"] if r["AETERM"] == "Fatigue")
    assert corrected["AETOXGR"] == "2" and corrected["AESTDY"] == 3  # corrected from 1; onset 2 days after day 1
    serious = next(r for r in data["ae"] if r["AETERM"] == "Pneumonitis")
    assert (serious["AESER"], serious["AESHOSP"], serious["AESDTH"]) == ("Y", "Y", "N")
    assert serious["AEACN"] == "DRUG INTERRUPTED" and serious["AEOUT"] == "RECOVERED/RESOLVED"
    assert serious["AEENDTC"] == world["serious"].resolution_date.isoformat() and serious["AEENDY"] == 13
    assert {r["AESER"] for r in data["ae"] if r["AETERM"] != "Pneumonitis"} == {"N"}
    # SUPPAE: the adjudicated DLT, linked to its AE row by AESEQ.
    dlt_row = next(r for r in data["ae"] if r["AETERM"] == "Hypertension")
    [flag] = [q for q in data["suppae"] if q["USUBJID"] == dlt_row["USUBJID"]
              and q["IDVARVAL"] == str(int(dlt_row["AESEQ"]))]
    assert (flag["QNAM"], flag["QVAL"], flag["QEVAL"]) == ("AEDLT", "Y", "INVESTIGATOR")
    assert {q["QVAL"] for q in data["suppae"] if q is not flag} == {"N"}

    # EX: every dose given, with its dose, unit and route.
    doses = DoseAdministration.objects.filter(subject__trial=trial).select_related("drug", "subject")
    assert len(data["ex"]) == doses.count() >= 3
    for dose in doses:
        [row] = [r for r in data["ex"] if r["USUBJID"] == dose.subject.code
                 and r["EXSTDTC"] == _minute(dose.administered_at) and r["EXTRT"] == dose.drug.name.upper()]
        assert row["EXDOSE"] == float(dose.dose) and row["EXDOSU"] == ct.unit(dose.unit)
        assert row["EXROUTE"] == ct.route(dose.drug.route) and row["VISITNUM"] == dose.cycle
        assert row["EXSTDY"] == _dy(first_day(dose.subject), timezone.localdate(dose.administered_at))
        assert row["EXDOSFRM"] == ct.dose_form(row["EXROUTE"])

    # VS: the pre-dose weights, the baseline flagged.
    for subject in (a, b, c):
        [row] = _by_subject(data["vs"], subject.code)
        weight = subject.assessments.get(kind="vitals").weight_kg
        assert (row["VSTESTCD"], row["VSSTRESN"], row["VSSTRESU"]) == ("WEIGHT", float(weight), "kg")
        assert row["VSBLFL"] == "Y" and row["VSDY"] == 1

    # TU / TR / RS: subject A's baseline lesion, its measurements and the follow-up's response.
    baseline, follow_up = world["baseline"], world["follow_up"]
    [lesion] = data["tu"]
    assert (lesion["USUBJID"], lesion["TULNKID"], lesion["TUSTRESC"], lesion["TULOC"]) == (a.code, "T1", "TARGET",
                                                                                           "LUNG")
    assert lesion["TUDTC"] == baseline.assessed_on.isoformat() and lesion["TUDY"] == -3
    measured = {(r["TRDY"], r["TRTESTCD"]): r["TRSTRESN"] for r in data["tr"]}
    follow_day = _dy(first_day(a), follow_up.assessed_on)
    assert measured[(-3, "LDIAM")] == measured[(-3, "SUMDIAM")] == float(baseline.sum_mm) == 30.0
    assert measured[(follow_day, "LDIAM")] == measured[(follow_day, "SUMDIAM")] == float(follow_up.sum_mm) == 18.0
    assert measured[(follow_day, "PCBSD")] == float(follow_up.change_from_baseline_pct) == -40.0
    responses = {r["RSTESTCD"]: r for r in data["rs"]}
    assert responses["OVRLRESP"]["RSSTRESC"] == follow_up.overall == "PR"
    assert responses["OVRLRESP"]["RSEVAL"] == "INVESTIGATOR" and responses["OVRLRESP"]["RSDY"] == follow_day
    assert responses["TRGRESP"]["RSSTRESC"] == follow_up.target_response

    # PC: subject A's three concentrations; the BLQ one has no numeric result.
    samples = world["samples"]
    assert [r["PCREFID"] for r in data["pc"]] == [samples[h].sample_id for h in (0, 1, 4)]
    blq, one_hour, four_hours = data["pc"]
    assert blq["PCORRES"] == "BLQ" and math.isnan(blq["PCSTRESN"]) and blq["PCTPT"] == "PRE-DOSE"
    assert (one_hour["PCSTRESN"], one_hour["PCSTRESU"], one_hour["PCELTM"]) == (42.5, "ug/mL", "PT1H")
    assert (four_hours["PCSTRESN"], four_hours["PCTPTNUM"], four_hours["PCLLOQ"]) == (30.25, 4.0, 0.1)
    assert four_hours["PCDTC"] == _minute(samples[4].collected_at)
    assert blq["PCRFTDTC"] == _minute(a.first_dose().administered_at)

    # Study days: never 0 (SDTM has no day 0), in every --DY column of every dataset.
    for name, dataset in data.items():
        for row in dataset:
            for column, value in row.items():
                if column.endswith("DY") and isinstance(value, float) and not math.isnan(value):
                    assert value != 0, (name, column)


def _age(subject) -> int:
    enrolled, dob = timezone.localdate(subject.enrolled_at), subject.date_of_birth
    return enrolled.year - dob.year - ((enrolled.month, enrolled.day) < (dob.month, dob.day))


def test_controlled_terms_are_the_codelists(world):
    """Every coded column holds terms of its codelist (or, for an extensible one, a value Define-XML marks as
    an extension); the mapped values are CDISC's submission values."""
    datasets = build_datasets(world["trial"], deidentified=False)
    checked = 0
    for ds in datasets:
        for var in ds.variables:
            if not var.codelist:
                continue
            codelist = ct.CODELISTS[var.codelist]
            values = {row.get(var.name) for row in ds.rows} - {None, ""}
            if codelist.terms and not codelist.extensible:
                assert values <= {t.value for t in codelist.terms}, (ds.name, var.name, values)
                checked += len(values)
    assert checked >= 15
    ae = next(ds for ds in datasets if ds.name == "AE")
    assert {r["AEREL"] for r in ae.rows} == {"POSSIBLY RELATED", "PROBABLY RELATED", "NOT RELATED"}
    assert ct.CODELISTS["NY"].code == "C66742" and ct.CODELISTS["SEX"].term("F").code == "C16576"


def test_xpt_files_read_back_equal(world):
    """pyreadstat reads each transport file back to exactly the rows written, with the labels."""
    for deidentified in (False, True):
        files = build_sdtm(world["trial"], deidentified=deidentified)
        for ds in build_datasets(world["trial"], deidentified=deidentified):
            frame, meta = read_xpt(files[ds.file_name])
            variables = variables_for(ds, deidentified)
            assert list(frame.columns) == [v.name for v in variables]
            assert meta.table_name == ds.name and meta.file_label == ds.label
            assert meta.column_labels == [v.label for v in variables]
            assert len(frame) == len(ds.rows)
            for got, want in zip(frame.to_dict("records"), ds.rows, strict=True):
                for v in variables:
                    value = want.get(v.name)
                    if v.numeric:
                        assert (math.isnan(got[v.name]) if value is None else got[v.name] == float(value)), \
                            (ds.name, v.name, got[v.name], value)
                    else:
                        assert got[v.name] == ("" if value is None else ascii_text(str(value))), (ds.name, v.name)


def _text_of(files) -> str:
    return "\n".join(content.decode("latin-1") for content in files.values())


def test_study_day_variant_has_no_identity_or_calendar_date(world):
    trial = world["trial"]
    assert trial.export_dates == "study_day"
    plain = _all(build_sdtm(trial, deidentified=False))
    files = build_sdtm(trial, deidentified=True)
    data = _all(files)
    text = _text_of(files)
    for initials, birth in zip(INITIALS, BIRTHS, strict=True):
        assert initials not in text and birth.isoformat() not in text
    assert all("BRTHDTC" not in row for row in data["dm"])
    # No calendar date of a subject anywhere: from 60 days before the first dose to today.
    earliest = min(first_day(s) for s in world["subjects"]) - timedelta(days=60)
    data_text = re.sub(r'CreationDateTime="[^"]*"', "", text)  # define.xml's own time stamp is no subject's
    for n in range((timezone.localdate() - earliest).days + 1):
        assert (earliest + timedelta(days=n)).isoformat() not in data_text
    for name, dataset in data.items():
        for row, same in zip(dataset, plain[name], strict=True):
            for column, value in row.items():
                if column.endswith("DTC"):
                    assert value == "", (name, column, value)
                elif column.endswith("DY"):
                    assert value == same[column] or (math.isnan(value) and math.isnan(same[column])), (name, column)
    assert [r["AESTDY"] for r in data["ae"]] == [r["AESTDY"] for r in plain["ae"]]


def test_shift_variant_moves_every_date_of_a_subject_alike(world):
    trial = world["trial"]
    trial.export_dates = "shift"
    trial.save(update_fields=["export_dates"])
    plain = _all(build_sdtm(trial, deidentified=False))
    files = build_sdtm(trial, deidentified=True)
    data = _all(files)
    text = _text_of(files)
    for initials, birth in zip(INITIALS, BIRTHS, strict=True):
        assert initials not in text and birth.isoformat() not in text
    deid = Deidentifier(trial, deidentified=True)
    shifts = {s.code: deid.shift_days(s) for s in world["subjects"]}
    assert len(set(shifts.values())) == 3 and all(1 <= d <= 365 for d in shifts.values())
    moved = 0
    for name, dataset in data.items():
        for row, same in zip(dataset, plain[name], strict=True):
            shift = timedelta(days=shifts[row["USUBJID"]])
            for column, value in row.items():
                if column.endswith("DTC") and same[column]:
                    original = same[column]
                    if "T" in original:
                        expected = (datetime.fromisoformat(original) - shift).strftime("%Y-%m-%dT%H:%M")
                    else:
                        expected = (datetime.fromisoformat(original).date() - shift).isoformat()
                    assert value == expected, (name, column)
                    moved += 1
                elif column.endswith("DY"):
                    assert value == same[column] or (math.isnan(value) and math.isnan(same[column]))
    assert moved > 30
    a = world["subjects"][0]
    assert first_day(a).isoformat() not in "".join(r["AESTDTC"] for r in _by_subject(data["ae"], a.code))


def test_screening_values_become_lb_vs_and_the_age(bat6005, site_a, people):
    subject, record = screened_subject(bat6005, site_a, people)
    data = _all(build_sdtm(bat6005, deidentified=True))
    values = record.values
    lb = {r["LBTESTCD"]: r for r in _by_subject(data["lb"], subject.code)}
    expected = {code for analyte, (code, _, _) in ct.LAB_TESTS.items() if values.get(analyte) not in (None, "")}
    assert set(lb) == expected and len(expected) >= 8
    for analyte, (code, category, unit) in ct.LAB_TESTS.items():
        if code not in lb:
            continue
        row = lb[code]
        assert row["LBCAT"] == category and row["LBSTRESU"] == unit and row["LBTEST"] == ct.test_name("LBTESTCD",
                                                                                                      code)
        assert Decimal(row["LBORRES"]) == Decimal(str(values[analyte]))
        assert row["LBBLFL"] == "Y" and row["LBDY"] == _dy(first_day(subject), record.assessed_on) == -10
    # Bilirubin was entered in mg/dL: the standard result is in umol/L (x 17.1).
    assert (lb["BILI"]["LBORRESU"], lb["BILI"]["LBSTRESN"], lb["BILI"]["LBSTRESU"]) == ("mg/dL", 13.7, "umol/L")
    weights = [(r["VSSTRESN"], r["VSDY"], r["VSBLFL"]) for r in _by_subject(data["vs"], subject.code)]
    assert weights == [(70.0, -10, ""), (71.5, 1, "Y")]  # the last before the first dose is the baseline
    [dm] = data["dm"]
    assert dm["AGE"] == record.age and "BRTHDTC" not in dm and dm["RFSTDTC"] == ""


def test_a_site_scoped_export_holds_its_sites_subjects_only(world, site_a):
    trial = world["trial"]
    files = build_sdtm(trial, deidentified=False, sites=[site_a.pk])
    data = _all(files)
    other = world["subjects"][2]
    assert other.site.code == "SITE-B"
    for name, dataset in data.items():
        assert other.code not in {r["USUBJID"] for r in dataset}, name
    assert other.code.encode() not in b"".join(files.values())
    assert {r["SITEID"] for r in data["dm"]} == {"SITE-A"} and len(data["dm"]) == 2
    assert "Diarrhea" not in {r["AETERM"] for r in data["ae"]} and len(data["ae"]) == 3
