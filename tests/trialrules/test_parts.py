"""trialrules.parts: a protocol's parts as data, checked by name; eligibility differences; chosen cohorts."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from trialrules import parts
from trialrules.parts import ChosenCohort, PartsError, check_chosen_cohorts, parse_parts, part_eligibility

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def protocol(code: str) -> dict:
    return tomllib.loads((PROTOCOLS / f"{code}.toml").read_text())


def test_the_seed_protocols_declare_their_parts():
    bat = parse_parts(protocol("BAT6005"))
    assert [(p.code, p.kind, p.opens_after, p.dose) for p in bat] == [
        ("part-1", "escalation", "", ""), ("part-2", "extension", "rp2d", "chosen")]
    assert (bat[1].cohorts_min, bat[1].cohorts_max, bat[1].min_cohort_size, bat[1].tumour_types) == (1, 2, 6, "chosen")
    lvgn = parse_parts(protocol("LVGN6051-ANLOTINIB"))
    assert [(p.kind, p.dose, p.target_size) for p in lvgn] == [("escalation", "", None), ("expansion", "rp2d", 20)]
    ql = parse_parts(protocol("QL1706"))
    assert [(p.kind, p.opens_after, p.dose, p.target_size) for p in ql] == [("single-arm", "", "5 mg/kg", 30)]


def test_without_parts_a_protocol_has_its_one_implicit_part():
    bat = protocol("BAT6005")
    del bat["parts"]
    assert [(p.kind, p.code) for p in parse_parts(bat)] == [("escalation", "escalation")]
    ql = protocol("QL1706")
    del ql["parts"]
    (only,) = parse_parts(ql)
    assert (only.kind, only.dose, only.target_size) == ("single-arm", "5 mg/kg", parts.UNBOUNDED_SIZE)


def _broken(code: str, change) -> str:
    data = copy.deepcopy(protocol(code))
    change(data)
    with pytest.raises(PartsError) as caught:
        parse_parts(data)
    return str(caught.value)


@pytest.mark.parametrize(("code", "change", "message"), [
    ("QL1706", lambda d: d["parts"].insert(0, {"code": "x", "name": "X", "kind": "escalation"}),
     "parts[1].kind: a fixed-dose protocol"),
    ("BAT6005", lambda d: d["parts"].reverse(), "parts[2].kind: the dose-escalation part must be the first part"),
    ("BAT6005", lambda d: d["parts"][1].update(kind="phase-3"), "parts[2].kind: 'phase-3' is not one of"),
    ("BAT6005", lambda d: d["parts"][1].pop("opens_after"), "parts[2].opens_after: an extension part opens after"),
    ("BAT6005", lambda d: d["parts"][1].update(dose="450 mg"), "parts[2].dose: '450 mg' is not"),
    ("BAT6005", lambda d: d["parts"][1].update(cohorts_max=0), "parts[2].cohorts_max: need a whole number"),
    ("BAT6005", lambda d: d["parts"][1].update(cohorts_min=2, cohorts_max=1), "parts[2].cohorts_max: 1 is below"),
    ("BAT6005", lambda d: d["parts"][1].update(cohorts=[{"code": "A", "name": "A", "size": 6}]),
     "parts[2].cohorts: with dose = \"chosen\""),
    ("LVGN6051-ANLOTINIB", lambda d: d["parts"][1]["cohorts"][0].update(size=0),
     "parts[2].cohorts[1].size: need a whole number of at least 1"),
    ("LVGN6051-ANLOTINIB", lambda d: d["parts"][1].pop("cohorts"), "parts[2].cohorts: need at least one"),
    ("LVGN6051-ANLOTINIB", lambda d: d["parts"][1].update(drop_eligibility=["nope"]),
     "parts[2].drop_eligibility: 'nope' is not a criterion"),
    ("LVGN6051-ANLOTINIB", lambda d: d["parts"][1]["eligibility"][0].update(kind="guess"),
     "parts[2].eligibility[1].kind"),
    ("QL1706", lambda d: d["parts"][0].update(opens_after="rp2d"), "parts[1].opens_after: \"rp2d\" needs a dose"),
    ("QL1706", lambda d: d["parts"][0].update(code="a b"), "parts[1].code: 'a b' must be"),
    ("BAT6005", lambda d: d["parts"][1].update(code="part-1"), "parts[2].code: 'part-1' appears twice"),
    ("QL1706", lambda d: d["parts"][0]["cohorts"].append(dict(d["parts"][0]["cohorts"][0])),
     "parts[1].cohorts[2].code: 'QL-SA' appears twice in the protocol"),
    ("QL1706", lambda d: d["parts"][0]["cohorts"].append("QL-2"), "parts[1].cohorts[2]: expected a table"),
])
def test_a_broken_parts_table_names_the_field(code, change, message):
    assert message in _broken(code, change)


def test_part_eligibility_replaces_in_place_adds_and_drops():
    data = protocol("LVGN6051-ANLOTINIB")
    base = [c["code"] for c in data["eligibility"]]
    ii = parse_parts(data)[1]
    merged = part_eligibility(data, ii)
    assert [c["code"] for c in merged] == base  # "measurable" replaced where it stood
    assert "measurable lesion" in next(c for c in merged if c["code"] == "measurable")["text"]
    data["parts"][1]["eligibility"].append({"code": "sts_subtype", "kind": "judgement", "text": "A named subtype"})
    data["parts"][1]["drop_eligibility"] = ["ecog"]
    merged = part_eligibility(data, parse_parts(data)[1])
    assert [c["code"] for c in merged] == [c for c in base if c != "ecog"] + ["sts_subtype"]
    assert part_eligibility(data, None) == data["eligibility"]


def test_chosen_cohorts_are_checked_against_the_part():
    ext = parse_parts(protocol("BAT6005"))[1]
    ok = [ChosenCohort("part-2", "P2-1", 4, 6, ("melanoma",)), ChosenCohort("part-2", "P2-2", 3, 9, ("NSCLC",))]
    assert check_chosen_cohorts(ext, ok, highest_allowed=4) == {}
    assert check_chosen_cohorts(ext, [], highest_allowed=4) == {"cohorts": "Part 2: dose extension opens 1 to 2 "
                                                                          "cohort(s); 0 chosen."}
    three = [*ok, ChosenCohort("part-2", "P2-3", 1, 6, ("x",))]
    assert "cohorts" in check_chosen_cohorts(ext, three, highest_allowed=4)
    bad = [ChosenCohort("part-2", "P2-1", 5, 5, ())]
    assert check_chosen_cohorts(ext, bad, highest_allowed=4, numbers=[2]) == {
        "cohorts[2].size": "A cohort of Part 2: dose extension has at least 6 subjects.",
        "cohorts[2].level": "The dose must be at or below the MTD/MAD.",
        "cohorts[2].tumour_types": "Name the tumour type(s) this cohort enrols.",
    }
