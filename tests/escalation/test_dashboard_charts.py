"""The cohort dashboard's pure parts (escalation.charts, escalation.dashboard's row functions): the data in each
spec is the data given, in the stated order, with the hand-derived extras (boundaries, the enrolment steps from
0 to today), and a clear ValueError for each kind of bad row. No database.

With ``jsonschema`` installed each spec is validated against the Vega-Lite JSON schema the efficacy tests use."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from escalation import charts
from escalation.dashboard import boundary_rows, decision_kind, dlt_rows, enrolment_rows, path_rows

LEVELS = ["10 mg", "30 mg", "100 mg"]
SUBJECTS = [  # in enrolment order, as the query gives them
    {"code": "B-A-001", "site_id": 1, "site": "SITE-A", "level": "10 mg", "cohort": "Cohort 1"},
    {"code": "B-B-002", "site_id": 2, "site": "SITE-B", "level": "30 mg", "cohort": "Cohort 2"},
    {"code": "B-A-003", "site_id": 1, "site": "SITE-A", "level": "30 mg", "cohort": "Cohort 2"},
    {"code": "B-A-004", "site_id": 1, "site": "SITE-A", "level": "30 mg", "cohort": "Cohort 2"},
]
STATES = {"B-A-001": "G", "B-B-002": "T", "B-A-003": "N"}  # B-A-004: not in the evidence yet -> pending


def schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    path = Path(__file__).resolve().parents[1] / "response" / "data"
    files = sorted(path.glob("vega-lite*.json"))
    if not files:
        pytest.skip("no Vega-Lite schema in tests/response/data")
    return jsonschema.Draft7Validator(json.loads(files[0].read_text()))


def test_path_rows_name_only_the_viewers_sites():
    sponsor = path_rows(SUBJECTS, STATES, visible_sites=[])
    assert [(r["order"], r["subject"], r["code"], r["state"]) for r in sponsor] == [
        (1, "#1", None, "G"), (2, "#2", None, "T"), (3, "#3", None, "N"), (4, "#4", None, "pending")]
    site_a = path_rows(SUBJECTS, STATES, visible_sites={1})
    assert [r["subject"] for r in site_a] == ["B-A-001", "#2", "B-A-003", "B-A-004"]
    assert [r["code"] for r in site_a] == ["B-A-001", None, "B-A-003", "B-A-004"]


def test_decision_kinds():
    assert decision_kind(continue_trial=True, cohort_rank=Decimal(1), next_rank=Decimal(2)) == "escalate"
    assert decision_kind(continue_trial=True, cohort_rank=Decimal(2), next_rank=Decimal(2)) == "stay"
    assert decision_kind(continue_trial=True, cohort_rank=Decimal(2), next_rank=Decimal("1.5")) == "de-escalate"
    assert decision_kind(continue_trial=False, cohort_rank=Decimal(2), next_rank=None) == "stop"


def test_boundaries_after_each_decided_cohort():
    path = path_rows(SUBJECTS, STATES, visible_sites=[])
    decisions = [
        {"id": 7, "cohort": "Cohort 1", "status": "invalidated", "kind": "escalate", "text": "old"},
        {"id": 8, "cohort": "Cohort 1", "status": "approved", "kind": "escalate", "text": "escalate to 30 mg"},
        {"id": 9, "cohort": "Cohort 2", "status": "pending", "kind": "stop", "text": "stop, MTD = 10 mg"},
        {"id": 10, "cohort": "Cohort 9", "status": "approved", "kind": "stay", "text": "not in the path"},
    ]
    assert boundary_rows(path, decisions) == [
        {"cohort": "Cohort 1", "after": 1.5, "decision": 8, "kind": "escalate", "recommends": "escalate",
         "label": "Cohort 1: escalate to 30 mg"},
        {"cohort": "Cohort 2", "after": 4.5, "decision": 9, "kind": "awaiting", "recommends": "stop",
         "label": "Cohort 2: awaiting signature (stop, MTD = 10 mg)"},
    ]


def test_dlt_rows_by_level_and_study_day_with_codes_for_visible_subjects_only():
    facts = [
        {"subject": "B-B-002", "level": 2, "first_dose": "2026-03-02T10:00:00+00:00", "adverse_events": [
            {"term": "Neutrophil count decreased", "grade": 4, "dlt": True, "onset": "2026-03-10"},
            {"term": "Nausea", "grade": 2, "dlt": False, "onset": "2026-03-03"}]},
        {"subject": "B-A-001", "level": 1, "first_dose": "2026-01-05T10:00:00+00:00", "adverse_events": [
            {"term": "Rash maculo-papular", "grade": 3, "dlt": True, "onset": "2026-01-05"}]},
    ]
    rows = dlt_rows(facts, {1: "10 mg", 2: "30 mg"}, visible_codes={"B-A-001"})
    # Study day: the first dose's day is day 1 (March 2 -> March 10 is day 9).
    assert [(r["level"], r["term"], r["grade"], r["study_day"], r["subject"]) for r in rows] == [
        ("10 mg", "Rash maculo-papular", 3, 1, "B-A-001"),
        ("30 mg", "Neutrophil count decreased", 4, 9, None),
    ]
    assert all("onset" not in r and "first_dose" not in r for r in rows)


def test_enrolment_rows_cumulate_per_site():
    counts = [{"site": "SITE-B", "date": "2026-02-01", "enrolled": 1},
              {"site": "SITE-A", "date": "2026-02-03", "enrolled": 2},
              {"site": "SITE-A", "date": "2026-01-10", "enrolled": 1}]
    assert enrolment_rows(counts) == [
        {"site": "SITE-A", "date": "2026-01-10", "enrolled": 1, "cumulative": 1},
        {"site": "SITE-A", "date": "2026-02-03", "enrolled": 2, "cumulative": 3},
        {"site": "SITE-B", "date": "2026-02-01", "enrolled": 1, "cumulative": 1},
    ]


def _layer(spec, name):
    found = [view for view in spec["layer"] if view.get("name") == name]
    assert len(found) == 1
    return found[0]


def test_escalation_path_spec():
    path = path_rows(SUBJECTS, STATES, visible_sites=[])
    bounds = boundary_rows(path, [{"id": 8, "cohort": "Cohort 1", "status": "approved", "kind": "escalate",
                                   "text": "escalate to 30 mg"}])
    spec = charts.escalation_path(list(reversed(path)), bounds, LEVELS, title="Path")
    points = _layer(spec, "subjects")["data"]["values"]
    assert [(p["order"], p["subject"], p["level"], p["state"]) for p in points] == [
        (1, "#1", "10 mg", "G"), (2, "#2", "30 mg", "T"), (3, "#3", "30 mg", "N"), (4, "#4", "30 mg", "pending")]
    assert points[1]["outcome"] == "DLT"
    assert set(points[0]) == {"order", "subject", "level", "cohort", "state", "outcome"}  # no code, no site id
    assert _layer(spec, "decisions")["data"]["values"] == [
        {"after": 1.5, "kind": "escalate", "label": "Cohort 1: escalate to 30 mg"}]
    y = _layer(spec, "subjects")["encoding"]["y"]
    assert y["scale"]["domain"] == ["100 mg", "30 mg", "10 mg"]  # every level, highest on top
    assert "1 with a DLT" in spec["description"] and "1 with a related grade ≥ 2" in spec["description"]
    assert "B-" not in json.dumps(spec)
    schema_validator().validate(spec)


@pytest.mark.parametrize(("rows", "message"), [
    ([{"order": 0, "subject": "#1", "level": "10 mg", "cohort": "C", "state": "N"}], "'order' must be at least 1"),
    ([{"order": 1, "subject": "#1", "level": "5 mg", "cohort": "C", "state": "N"}], "'level' must be one of"),
    ([{"order": 1, "subject": "#1", "level": "10 mg", "cohort": "C", "state": "X"}], "'state' must be one of"),
    ([{"order": 1, "subject": "#1", "level": "10 mg", "cohort": "C", "state": "N"},
      {"order": 1, "subject": "#2", "level": "10 mg", "cohort": "C", "state": "N"}], "repeats subjects[0]"),
    ([{"order": 1, "level": "10 mg", "cohort": "C", "state": "N"}], "missing key 'subject'"),
])
def test_escalation_path_refuses_bad_rows(rows, message):
    with pytest.raises(ValueError, match="escalation_path") as error:
        charts.escalation_path(rows, [], LEVELS)
    assert message in str(error.value)


def test_escalation_path_refuses_bad_boundaries_and_levels():
    with pytest.raises(ValueError, match="'kind' must be one of"):
        charts.escalation_path([], [{"after": 1.5, "kind": "jump", "label": "x"}], LEVELS)
    with pytest.raises(ValueError, match="levels repeat"):
        charts.escalation_path([], [], ["10 mg", "10 mg"])


def test_enrolment_spec_steps_from_zero_to_today():
    rows = [{"site": "SITE-B", "date": "2026-02-01", "enrolled": 1},
            {"site": "SITE-A", "date": "2026-01-10", "enrolled": 1},
            {"site": "SITE-A", "date": "2026-02-03", "enrolled": 2}]
    spec = charts.enrolment(rows, today="2026-03-01")
    assert spec["data"]["values"] == [
        {"site": "SITE-A", "date": "2026-01-10", "cumulative": 0, "step": 0},
        {"site": "SITE-A", "date": "2026-01-10", "cumulative": 1, "step": 1},
        {"site": "SITE-A", "date": "2026-02-03", "cumulative": 3, "step": 2},
        {"site": "SITE-A", "date": "2026-03-01", "cumulative": 3, "step": 3},
        {"site": "SITE-B", "date": "2026-02-01", "cumulative": 0, "step": 0},
        {"site": "SITE-B", "date": "2026-02-01", "cumulative": 1, "step": 1},
        {"site": "SITE-B", "date": "2026-03-01", "cumulative": 1, "step": 2},
    ]
    assert _layer(spec, "lines")["mark"]["interpolate"] == "step-after"
    assert "SITE-A: 3 subjects, SITE-B: 1 subject" in spec["description"]
    schema_validator().validate(spec)


@pytest.mark.parametrize(("row", "message"), [
    ({"site": "SITE-A", "date": "10/01/2026", "enrolled": 1}, "YYYY-MM-DD"),
    ({"site": "SITE-A", "date": "2026-04-01", "enrolled": 1}, "after today"),
    ({"site": "SITE-A", "date": "2026-01-01", "enrolled": 0}, "at least 1"),
    ({"site": "", "date": "2026-01-01", "enrolled": 1}, "'site' must be a non-empty string"),
])
def test_enrolment_refuses_bad_rows(row, message):
    with pytest.raises(ValueError, match="enrolment") as error:
        charts.enrolment([row], today="2026-03-01")
    assert message in str(error.value)
    with pytest.raises(ValueError, match="repeat an earlier row"):
        charts.enrolment([{"site": "A", "date": "2026-01-01", "enrolled": 1}] * 2, today="2026-03-01")


def test_overdue_spec():
    spec = charts.overdue([{"site": "SITE-A", "overdue": 2, "open": 1}, {"site": "SITE-B", "overdue": 0, "open": 3}])
    assert spec["data"]["values"] == [{"site": "SITE-A", "overdue": 2, "open": 1},
                                      {"site": "SITE-B", "overdue": 0, "open": 3}]
    assert _layer(spec, "bars")["encoding"]["y"]["sort"] == ["SITE-A", "SITE-B"]
    assert "SITE-A: 2, SITE-B: 0" in spec["description"]
    with pytest.raises(ValueError, match="overdue: rows\\[0\\]: 'overdue' must be a whole number"):
        charts.overdue([{"site": "SITE-A", "overdue": -1, "open": 0}])
    with pytest.raises(ValueError, match="a site repeats"):
        charts.overdue([{"site": "A", "overdue": 1, "open": 0}] * 2)
    schema_validator().validate(spec)
