"""A protocol file's ``[pk]`` table is checked when the file is read: a wrong sampling schedule or NCA option is
refused with the key named, as any other wrong field of the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from trialrules import sampling
from trialrules.nca import NcaOptions
from trials.protocol_file import ProtocolFileError, read_protocol

PROTOCOLS = Path(settings.BASE_DIR) / "protocols"
BAT6005 = (PROTOCOLS / "BAT6005.toml").read_text()
NCA_END = 'blq_last = "keep"\n'
NCA_BLOCK = BAT6005[BAT6005.index("[pk.nca]\n"):BAT6005.index(NCA_END) + len(NCA_END)]  # the [pk.nca] table


def _broken(old: str, new: str) -> str:
    assert BAT6005.count(old) == 1, old
    return BAT6005.replace(old, new)


BROKEN = [
    ("unknown NCA option", _broken("[pk.nca]\n", "[pk.nca]\nfoo = 1\n"),
     ["pk.nca: ", "unexpected keyword argument 'foo'"]),
    ("bad BLQ rule", _broken('blq_middle = "drop"', 'blq_middle = "maybe"'),
     ["blq_middle: 'maybe' is not one of keep, drop"]),
    ("wrong drug", _broken('[pk]\ndrug = "BAT6005"', '[pk]\ndrug = "LVGN6051"'),
     ["pk.drug: 'LVGN6051' is not one of the protocol's drugs (BAT6005)"]),
    ("infusion on an extravascular route", _broken('route = "intravascular"', 'route = "extravascular"'),
     ["duration: an infusion duration is for an intravascular dose"]),
    ("sample of an unknown analyte",
     _broken('analytes = ["ADA"]\ncycles = [1, 2, 4, 7]', 'analytes = ["NAb"]\ncycles = [1, 2, 4, 7]'),
     ["pk.samples[2].analytes: 'NAb' is not in pk.analytes"]),
    ("pre-dose window after the dose",
     _broken('cycles = [2, 4, 7]\npoints = [{ hours = 0, window_minutes = [-60, 0] }]',
             'cycles = [2, 4, 7]\npoints = [{ hours = 0, window_minutes = [-60, 30] }]'),
     ["pk.samples[4].points[0]: a pre-dose sample (hours = 0) is taken before the dose"]),
    ("nca not a table", _broken(NCA_BLOCK, 'nca = "linear"\n'),
     ["pk.nca: expected a table of NCA options, got 'linear'"]),
]


@pytest.mark.parametrize("text,messages", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_pk_table_is_refused_naming_the_key(tmp_path, text, messages):
    path = tmp_path / "BAT6005-bad.toml"
    path.write_text(text)
    with pytest.raises(ProtocolFileError) as excinfo:
        read_protocol(path)
    assert str(excinfo.value).startswith("BAT6005-bad.toml: ")
    for message in messages:
        assert message in str(excinfo.value)


@pytest.mark.parametrize("old,new,key", [
    ('blq_middle = "drop"', 'blq_middle = "maybe"', "pk.nca.blq_middle: "),
    ('route = "intravascular"', 'route = "extravascular"', "pk.nca.duration: "),
])
def test_a_bad_nca_option_is_named_with_its_table(tmp_path, old, new, key):
    path = tmp_path / "BAT6005-bad.toml"
    path.write_text(_broken(old, new))
    with pytest.raises(ProtocolFileError, match=key.replace(".", r"\.")):
        read_protocol(path)


def test_an_nca_option_of_the_wrong_type_is_named(tmp_path):
    path = tmp_path / "BAT6005-bad.toml"
    path.write_text(_broken("[pk.nca]\n", '[pk.nca]\nmin_points = "3"\n'))
    with pytest.raises(ProtocolFileError, match=r"min_points"):
        read_protocol(path)


def test_infinite_hours_are_refused(tmp_path):
    path = tmp_path / "BAT6005-bad.toml"
    path.write_text(_broken("{ hours = 72, window_minutes = [-240, 240] }",
                            "{ hours = inf, window_minutes = [-240, 240] }"))
    with pytest.raises(ProtocolFileError, match=r"pk\.samples\[0\]\.points\[4\]\.hours"):
        read_protocol(path)


@pytest.mark.parametrize("name", ["BAT6005.toml", "LVGN6051-ANLOTINIB.toml", "QL1706.toml"])
def test_the_real_protocol_files_load(name):
    definition = read_protocol(PROTOCOLS / name)
    data = definition.data
    schedule = sampling.parse_schedule(data.get("pk"), tuple(d["name"] for d in data["drugs"]))
    if name == "QL1706.toml":
        assert schedule is None
        return
    assert schedule.drug == data["drugs"][0]["name"]
    options = NcaOptions(**schedule.nca)
    assert (options.route, options.duration, options.auc_method) == ("intravascular", 1.0, "linear-up-log-down")
    assert (options.blq_first, options.blq_middle, options.blq_last) == ("keep", "drop", "keep")


def test_an_analyte_name_that_is_not_text_is_named_in_its_sample(tmp_path):
    path = tmp_path / "BAT6005-bad.toml"
    path.write_text(_broken('analytes = ["ADA"]', 'analytes = [["ADA"]]'))
    with pytest.raises(ProtocolFileError, match=r"pk\.samples\[2\]\.analytes"):
        read_protocol(path)
