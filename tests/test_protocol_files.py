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
    assert ql.design == "fixed" and not ql.cohorts.exists()
    assert ql.drugs.get().basis == "per_kg"

    # Loading again changes nothing and says so.
    out = StringIO()
    call_command("load_protocols", stdout=out)
    assert out.getvalue().count("updated") == 3
    assert Cohort.objects.count() == 2


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
