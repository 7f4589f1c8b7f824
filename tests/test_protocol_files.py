"""Protocols are data files loaded by a command; a bad file is refused with the field named."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from escalation.models import Cohort
from trials.models import Trial
from trials.protocol_file import ProtocolFileError, read_protocol

PROTOCOLS = Path(settings.BASE_DIR) / "protocols"


@pytest.mark.django_db
def test_load_protocols_declares_the_three_seed_trials():
    out = StringIO()
    call_command("load_protocols", stdout=out)
    trials = {t.code: t for t in Trial.objects.all()}
    assert set(trials) == {"BAT6005", "QL1706", "LVGN6051-ANLOTINIB"}

    bat = trials["BAT6005"]
    assert [lv.label for lv in bat.dose_levels.all()] == ["10 mg", "30 mg", "100 mg", "300 mg", "600 mg", "900 mg"]
    assert [lv.titration for lv in bat.dose_levels.all()] == [True, True, True, False, False, False]
    assert bat.design_parameters == {"titration_levels": 3, "titration_expand": 2, "cohort_size": 3,
                                     "allow_deescalate": True, "six_to_declare": True}
    assert (bat.dlt_window_days, bat.stagger_first_days, bat.stagger_next_hours, bat.max_cycles) == (21, 7, 24, 17)
    assert {v["kind"] for v in bat.visit_plan} == {"screening", "dosing", "imaging", "eot", "safety", "survival"}
    # The first cohort is open at the starting dose, one subject (accelerated titration).
    cohort = Cohort.objects.get(trial=bat)
    assert (cohort.number, cohort.dose_level.label, cohort.capacity, cohort.status) == (1, "10 mg", 1, "open")

    combo = trials["LVGN6051-ANLOTINIB"]
    assert [d.name for d in combo.drugs.all()] == ["LVGN6051", "Anlotinib"]
    assert combo.drugs.get(name="Anlotinib").administration_days == list(range(1, 15))
    assert combo.requires_sponsor_concurrence is True
    assert Cohort.objects.get(trial=combo).capacity == 3

    ql = trials["QL1706"]
    assert ql.design == "fixed" and ql.drugs.get().basis == "per_kg"
    # Its single-arm phase II is open from the start: one cohort at the fixed dose, to its target size.
    arm = Cohort.objects.get(trial=ql)
    assert (arm.label, arm.escalation, arm.capacity, arm.status, arm.dose_level.label) == (
        "QL-SA", False, 30, "open", "5 mg/kg")
    # The parts, in the files' order; the later parts wait for the RP2D.
    assert [(p.code, p.kind, p.status) for p in bat.parts.all()] == [
        ("part-1", "escalation", "open"), ("part-2", "extension", "planned")]
    assert [(p.code, p.kind, p.opens_after) for p in combo.parts.all()] == [
        ("phase-ib", "escalation", ""), ("phase-ii", "expansion", "rp2d")]
    assert [(p.code, p.kind, p.status) for p in ql.parts.all()] == [("phase-ii", "single-arm", "open")]
    assert cohort.part.code == "part-1"

    # Loading again changes nothing and says so.
    out = StringIO()
    call_command("load_protocols", stdout=out)
    assert out.getvalue().count("updated") == 3
    assert Cohort.objects.count() == 3


BROKEN = [
    ('schema = 1\ncode = "X"\n', "protocol.title: missing"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace('design = "titration+3+3"', 'design = "crm"'),
     "escalation.design: 'crm' is not one of"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace('doses = { BAT6005 = "300" }', 'doses = { BAT6005 = "-3" }'),
     "dose_levels[4].doses.BAT6005: '-3' is not a positive number"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("window = [-28, 0]", "window = [0, -28]"),
     "visits[1].window: need [earliest, latest]"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("dlt_window_days = 21", 'dlt_window_days = "21"'),
     "escalation.dlt_window_days: expected int"),
    ("code = = 1", "Invalid"),
    # Issue 12: the models beside the rule, intra-patient escalation and the parts, checked by name.
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("target = 0.25", "target = 1.5"),
     "escalation.model_based.target: must lie strictly between 0 and 1, got 1.5"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("skeleton = [0.0365, 0.084,", "skeleton = [0.0365, 0.03,"),
     "escalation.model_based.skeleton: must increase strictly"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("skeleton = [0.0365, 0.084,", "skeleton = ["),
     "escalation.model_based.skeleton: needs one prior DLT probability per dose level (6), got 4"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace('crm_model = "empiric"', 'crm_model = "probit"'),
     "escalation.model_based.crm_model: 'probit' is not one of empiric, logistic"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("min_cycles = 4", "min_cycles = 0"),
     "escalation.intra_patient.min_cycles: must be at least 1"),
    ((PROTOCOLS / "BAT6005.toml").read_text().replace("min_cohort_size = 6", "min_cohort_size = -6"),
     "parts[2].min_cohort_size: need a whole number of at least 1, got -6"),
    ((PROTOCOLS / "QL1706.toml").read_text().replace('dose = "5 mg/kg"', 'dose = "6 mg/kg"'),
     "parts[1].dose: '6 mg/kg' is not"),
]


@pytest.mark.parametrize("text,message", BROKEN)
def test_bad_protocol_file_is_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProtocolFileError) as excinfo:
        read_protocol(path)
    assert str(excinfo.value).startswith("bad.toml: ")
    assert message in str(excinfo.value)


@pytest.mark.django_db
def test_one_bad_file_loads_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 2\ncode = "X"\n')
    with pytest.raises(CommandError, match=r"bad\.toml: schema: expected 1"):
        call_command("load_protocols", str(PROTOCOLS / "BAT6005.toml"), str(bad))
    assert not Trial.objects.exists()
