"""The Vega-Lite specs of ``response.charts``: the data in each spec is the data given (in the stated order),
the encodings, the RECIST reference lines, the Kaplan–Meier steps from (0, 1), censor marks and numbers at
risk, and a clear ValueError for each kind of bad row. No database.

Expected values are written out by hand from the rows below (the sort orders, the flattened swimmer events,
the censored times), not taken from the builders' output. With ``jsonschema`` installed, each spec is also
validated against the Vega-Lite 6.5.0 JSON schema shipped in the vega-lite npm package
(tests/response/data/, copied from ``build/vega-lite-schema.json``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from response import charts

# --- rows ------------------------------------------------------------------------------------------------

WATERFALL = [
    {"subject": "S-01", "best_pct": -45.0, "bor": "PR", "group": "Dose level 2"},
    {"subject": "S-02", "best_pct": 12.5, "bor": "SD", "group": "Dose level 1"},
    {"subject": "S-03", "best_pct": -100.0, "bor": "CR", "group": "Dose level 2"},
    {"subject": "S-04", "best_pct": 31.0, "bor": "PD", "group": "Dose level 1"},
    {"subject": "S-06", "best_pct": -8.0, "bor": "SD", "group": "Dose level 3"},
    {"subject": "S-05", "best_pct": -8.0, "bor": "NE", "group": "Dose level 3"},
]
# Largest increase first: 31.0 (S-04), 12.5 (S-02), -8.0 twice (S-05 before S-06 by label), -45 (S-01), -100 (S-03).
WATERFALL_ORDER = ["S-04", "S-02", "S-05", "S-06", "S-01", "S-03"]

SPIDER = [
    {"subject": "S-01", "week": 0.0, "pct": 0.0, "group": "Dose level 2"},
    {"subject": "S-01", "week": 6.0, "pct": -32.0, "group": "Dose level 2"},
    {"subject": "S-02", "week": 0.0, "pct": 0.0, "group": "Dose level 1"},
    {"subject": "S-01", "week": 12.1, "pct": -45.0, "group": "Dose level 2"},
    {"subject": "S-02", "week": 6.3, "pct": 12.5, "group": "Dose level 1"},
]

SWIMMER = [
    {"subject": "S-04", "weeks_on_treatment": 6.0, "ongoing": False, "group": "Dose level 1",
     "events": [{"week": 20.0, "kind": "death"}, {"week": 5.9, "kind": "PD"}]},
    {"subject": "S-01", "weeks_on_treatment": 30.0, "ongoing": True, "group": "Dose level 2",
     "events": [{"week": 6.0, "kind": "PR"}]},
    {"subject": "S-03", "weeks_on_treatment": 42.0, "ongoing": False, "group": "Dose level 2",
     "events": [{"week": 6.1, "kind": "PR"}, {"week": 18.0, "kind": "CR"}, {"week": 40.0, "kind": "PD"}]},
]

# Two groups of five, Kaplan–Meier by hand, S(t) = prod over event times of (1 - d/n):
#   A: event at 2 (5 at risk): 4/5 = 0.8; censored at 3; event at 5 (3 at risk): 0.8 * 2/3 = 0.5333; censored 8.
#   B: events at 1, 4, 6 with 5, 4, 3 at risk: 0.8, 0.6, 0.4; censored at 7.
# Numbers at risk at 0, 3, 6 (subjects with time >= t): A 5, 4, 2; B 5, 3, 1.
KM = [
    {"group": "Arm A", "curve": [
        {"time": 2.0, "n_risk": 5, "n_event": 1, "survival": 0.8, "lower": 0.52, "upper": 1.0},
        {"time": 3.0, "n_risk": 4, "n_event": 0, "survival": 0.8, "lower": 0.52, "upper": 1.0},
        {"time": 5.0, "n_risk": 3, "n_event": 1, "survival": 0.5333, "lower": 0.22, "upper": 1.0},
        {"time": 8.0, "n_risk": 2, "n_event": 0, "survival": 0.5333, "lower": None, "upper": None},
    ], "at_risk": [5, 4, 2]},
    {"group": "Arm B", "curve": [
        {"time": 1.0, "n_risk": 5, "n_event": 1, "survival": 0.8, "lower": 0.52, "upper": 1.0},
        {"time": 4.0, "n_risk": 4, "n_event": 1, "survival": 0.6, "lower": 0.29, "upper": 1.0},
        {"time": 6.0, "n_risk": 3, "n_event": 1, "survival": 0.4, "lower": 0.14, "upper": 1.0},
        {"time": 7.0, "n_risk": 2, "n_event": 0, "survival": 0.4, "lower": 0.14, "upper": 1.0},
    ], "at_risk": [5, 3, 1]},
]
KM_TIMES = [0.0, 3.0, 6.0]


def layer(spec: dict, name: str) -> dict:
    found = [view for view in spec.get("layer", []) if view.get("name") == name]
    assert len(found) == 1, f"one layer named {name!r}"
    return found[0]


def km_view(spec: dict, name: str) -> dict:
    return next(view for view in spec["vconcat"] if view["name"] == name)


# --- common ----------------------------------------------------------------------------------------------

ALL_SPECS = {
    "waterfall": lambda: charts.waterfall(WATERFALL),
    "spider": lambda: charts.spider(SPIDER),
    "swimmer": lambda: charts.swimmer(SWIMMER),
    "kaplan_meier": lambda: charts.kaplan_meier(KM, KM_TIMES, x_title="Months since first dose"),
    "kaplan_meier_single": lambda: charts.kaplan_meier([dict(KM[0], group=None)], KM_TIMES, ci=False),
}


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_is_vega_lite_v6_json_with_a_description_and_container_width(name):
    spec = ALL_SPECS[name]()
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v6.json"
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec  # plain JSON, no NaN, nothing Python-only
    assert len(spec["description"]) > 40
    views = spec.get("vconcat", [spec])
    assert all(view["width"] == "container" for view in views)
    assert "title" not in spec  # the page's figcaption is the visible title
    assert charts.waterfall(WATERFALL, title="Best change")["title"]["text"] == "Best change"


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_validates_against_the_vega_lite_schema(name):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed: schema check skipped")
    schema = json.loads((Path(__file__).parent / "data" / "vega-lite-6.5.0.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(ALL_SPECS[name]())


def test_extra_keys_never_reach_the_spec():
    """Only the label the caller chose identifies a subject: anything else on the row stays out."""
    leaky = [dict(row, subject_id=9876, date_of_birth="1950-01-02", initials="JQ") for row in WATERFALL]
    text = json.dumps(charts.waterfall(leaky))
    assert "9876" not in text and "1950-01-02" not in text and "JQ" not in text and "subject_id" not in text
    lanes = [dict(row, screening_number="SCR-0042") for row in SWIMMER]
    assert "SCR-0042" not in json.dumps(charts.swimmer(lanes))
    points = [dict(row, visit_date="2025-03-04") for row in SPIDER]
    assert "2025-03-04" not in json.dumps(charts.spider(points))


# --- waterfall -------------------------------------------------------------------------------------------

def test_waterfall_bars_sorted_from_largest_increase_with_the_given_values():
    spec = charts.waterfall(WATERFALL)
    bars = layer(spec, "bars")
    values = bars["data"]["values"]
    assert [v["subject"] for v in values] == WATERFALL_ORDER
    by_subject = {row["subject"]: row for row in WATERFALL}
    assert values == [by_subject[s] for s in WATERFALL_ORDER]
    assert WATERFALL[0] == {"subject": "S-01", "best_pct": -45.0, "bor": "PR", "group": "Dose level 2"}  # untouched


def test_waterfall_encodings_and_reference_lines():
    spec = charts.waterfall(WATERFALL)
    enc = layer(spec, "bars")["encoding"]
    assert layer(spec, "bars")["mark"]["type"] == "bar"
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["sort"]) == ("subject", "nominal", None)
    assert (enc["y"]["field"], enc["y"]["type"]) == ("best_pct", "quantitative")
    assert (enc["color"]["field"], enc["color"]["type"]) == ("bor", "nominal")
    assert enc["color"]["scale"]["domain"] == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"]
    assert len(set(enc["color"]["scale"]["range"])) == 7
    rules = layer(spec, "reference_y")
    assert rules["mark"]["type"] == "rule"
    assert rules["encoding"]["y"] == {"field": "value", "type": "quantitative"}
    assert [v["value"] for v in rules["data"]["values"]] == [20.0, -30.0]


@pytest.mark.parametrize(("change", "message"), [
    ({"best_pct": None}, "rows[1] (subject 'S-02'): 'best_pct' must be a finite number, got None"),
    ({"best_pct": math.nan}, "'best_pct' must be a finite number, got nan"),
    ({"best_pct": True}, "'best_pct' must be a finite number, got True"),
    ({"best_pct": "12"}, "'best_pct' must be a finite number, got '12'"),
    ({"best_pct": -100.5}, "'best_pct' must be at least -100, got -100.5"),
    ({"bor": "VGPR"}, "'bor' must be one of CR, PR, SD, NON-CR/NON-PD, PD, NE, MISSING, got 'VGPR'"),
    ({"group": ""}, "'group' must be a non-empty string"),
    ({"subject": "S-01"}, "rows[1] (subject 'S-01'): 'subject' repeats rows[0]; one row per subject"),
])
def test_waterfall_refuses_a_bad_row_naming_row_and_key(change, message):
    rows = [dict(row) for row in WATERFALL]
    rows[1].update(change)
    with pytest.raises(ValueError, match=r"^waterfall: ") as raised:
        charts.waterfall(rows)
    assert message in str(raised.value)


def test_waterfall_missing_key_and_not_a_list():
    rows = [dict(row) for row in WATERFALL]
    del rows[2]["bor"]
    with pytest.raises(ValueError, match=r"waterfall: rows\[2\] \(subject 'S-03'\): missing key 'bor'"):
        charts.waterfall(rows)
    with pytest.raises(ValueError, match="waterfall: rows must be a list of rows, got dict"):
        charts.waterfall(WATERFALL[0])
    with pytest.raises(ValueError, match=r"waterfall: rows\[0\] must be a mapping, got str"):
        charts.waterfall(["S-01"])


# --- spider ----------------------------------------------------------------------------------------------

def test_spider_one_line_per_subject_with_the_given_points():
    spec = charts.spider(SPIDER)
    assert spec["data"]["values"] == SPIDER
    lines = layer(spec, "lines")
    assert lines["mark"]["type"] == "line"
    enc = lines["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"]) == ("week", "quantitative")
    assert (enc["y"]["field"], enc["y"]["type"]) == ("pct", "quantitative")
    assert enc["detail"] == {"field": "subject", "type": "nominal"}
    assert (enc["color"]["field"], enc["color"]["type"]) == ("group", "nominal")
    assert layer(spec, "points")["mark"]["type"] == "point"
    assert [v["value"] for v in layer(spec, "reference_y")["data"]["values"]] == [20.0, -30.0]
    assert "2 subjects" in spec["description"]


@pytest.mark.parametrize(("change", "message"), [
    ({"week": -1.0}, "spider: rows[3] (subject 'S-01'): 'week' must be at least 0, got -1.0"),
    ({"pct": math.inf}, "'pct' must be a finite number, got inf"),
    ({"pct": -101.0}, "'pct' must be at least -100, got -101.0"),
    ({"subject": None}, "spider: rows[3]: 'subject' must be a non-empty string, got None"),
])
def test_spider_refuses_a_bad_row(change, message):
    rows = [dict(row) for row in SPIDER]
    rows[3].update(change)
    with pytest.raises(ValueError) as raised:
        charts.spider(rows)
    assert message in str(raised.value)


# --- swimmer ---------------------------------------------------------------------------------------------

def test_swimmer_lanes_longest_first_and_events_flattened():
    spec = charts.swimmer(SWIMMER)
    lanes = layer(spec, "lanes")
    assert lanes["data"]["values"] == [
        {"subject": "S-03", "weeks_on_treatment": 42.0, "ongoing": False, "group": "Dose level 2"},
        {"subject": "S-01", "weeks_on_treatment": 30.0, "ongoing": True, "group": "Dose level 2"},
        {"subject": "S-04", "weeks_on_treatment": 6.0, "ongoing": False, "group": "Dose level 1"},
    ]
    assert lanes["mark"]["type"] == "bar"
    assert lanes["encoding"]["y"]["sort"] == ["S-03", "S-01", "S-04"]
    assert (lanes["encoding"]["x"]["field"], lanes["encoding"]["x"]["type"]) == ("weeks_on_treatment", "quantitative")
    events = layer(spec, "events")
    # Lane order, then by week; S-01 is still on treatment: a marker at the end of its 30-week bar.
    assert events["data"]["values"] == [
        {"subject": "S-03", "week": 6.1, "kind": "PR"},
        {"subject": "S-03", "week": 18.0, "kind": "CR"},
        {"subject": "S-03", "week": 40.0, "kind": "PD"},
        {"subject": "S-01", "week": 6.0, "kind": "PR"},
        {"subject": "S-01", "week": 30.0, "kind": "ongoing"},
        {"subject": "S-04", "week": 5.9, "kind": "PD"},
        {"subject": "S-04", "week": 20.0, "kind": "death"},
    ]
    assert events["mark"]["type"] == "point"
    shape = events["encoding"]["shape"]
    assert (shape["field"], shape["type"]) == ("kind", "nominal")
    assert shape["scale"]["domain"] == ["CR", "PR", "PD", "death", "ongoing"]
    assert len(set(shape["scale"]["range"])) == 5  # five distinct shapes
    assert shape["scale"]["range"][4] == "triangle-right"  # the "still on treatment" arrow
    assert events["encoding"]["y"]["sort"] == ["S-03", "S-01", "S-04"]
    assert "1 still on treatment" in spec["description"]


@pytest.mark.parametrize(("change", "message"), [
    ({"ongoing": "yes"}, "swimmer: rows[1] (subject 'S-01'): 'ongoing' must be true or false, got 'yes'"),
    ({"weeks_on_treatment": -2}, "'weeks_on_treatment' must be at least 0, got -2"),
    ({"events": [{"week": 3.0, "kind": "SD"}]},
     "swimmer: rows[1] (subject 'S-01'): events[0]: 'kind' must be one of CR, PR, PD, death, got 'SD'"),
    ({"events": [{"kind": "PR"}]}, "rows[1] (subject 'S-01'): events[0]: missing key 'week'"),
    ({"events": None}, "events must be a list of rows, got NoneType"),
    ({"subject": "S-04"}, "swimmer: rows[1] (subject 'S-04'): 'subject' repeats rows[0]; one row per subject"),
])
def test_swimmer_refuses_a_bad_row(change, message):
    rows = [dict(row) for row in SWIMMER]
    rows[1].update(change)
    with pytest.raises(ValueError) as raised:
        charts.swimmer(rows)
    assert message in str(raised.value)


# --- Kaplan–Meier ----------------------------------------------------------------------------------------

def test_km_steps_start_at_time_zero_survival_one_and_step_after():
    spec = charts.kaplan_meier(KM, KM_TIMES, x_title="Months since first dose")
    curves = layer(km_view(spec, "survival"), "curves")
    assert curves["mark"] == {"type": "line", "interpolate": "step-after", "tooltip": True}
    values = curves["data"]["values"]
    a = [(v["time"], v["survival"]) for v in values if v["group"] == "Arm A"]
    b = [(v["time"], v["survival"]) for v in values if v["group"] == "Arm B"]
    assert a == [(0.0, 1.0), (2.0, 0.8), (3.0, 0.8), (5.0, 0.5333), (8.0, 0.5333)]
    assert b == [(0.0, 1.0), (1.0, 0.8), (4.0, 0.6), (6.0, 0.4), (7.0, 0.4)]
    enc = curves["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["title"]) == ("time", "quantitative",
                                                                       "Months since first dose")
    assert (enc["y"]["field"], enc["y"]["scale"]["domain"]) == ("survival", [0, 1])
    assert enc["x"]["axis"]["values"] == KM_TIMES
    assert enc["x"]["scale"]["domain"] == [0, 8.0]  # to the last time on any curve
    assert enc["color"]["scale"]["domain"] == ["Arm A", "Arm B"]


def test_km_censor_marks_where_no_event_happened():
    spec = charts.kaplan_meier(KM, KM_TIMES)
    censored = layer(km_view(spec, "survival"), "censored")
    assert censored["mark"]["type"] == "point" and censored["mark"]["shape"] == "M-1,0L1,0M0,-1L0,1"
    assert [(v["group"], v["time"], v["survival"]) for v in censored["data"]["values"]] == [
        ("Arm A", 3.0, 0.8), ("Arm A", 8.0, 0.5333), ("Arm B", 7.0, 0.4)]


def test_km_confidence_bands_where_both_bounds_exist_and_can_be_left_out():
    spec = charts.kaplan_meier(KM, KM_TIMES)
    ci = layer(km_view(spec, "survival"), "ci")
    assert ci["mark"]["type"] == "area" and ci["mark"]["interpolate"] == "step-after"
    assert (ci["encoding"]["y"]["field"], ci["encoding"]["y2"]["field"]) == ("lower", "upper")
    # Arm A's last point has no interval: it is not in the band; the (0, 1) start is, as [1, 1].
    assert [(v["group"], v["time"], v["lower"], v["upper"]) for v in ci["data"]["values"]] == [
        ("Arm A", 0.0, 1.0, 1.0), ("Arm A", 2.0, 0.52, 1.0), ("Arm A", 3.0, 0.52, 1.0), ("Arm A", 5.0, 0.22, 1.0),
        ("Arm B", 0.0, 1.0, 1.0), ("Arm B", 1.0, 0.52, 1.0), ("Arm B", 4.0, 0.29, 1.0), ("Arm B", 6.0, 0.14, 1.0),
        ("Arm B", 7.0, 0.14, 1.0)]
    without = charts.kaplan_meier(KM, KM_TIMES, ci=False)
    assert [view["name"] for view in km_view(without, "survival")["layer"]] == ["curves", "censored"]


def test_km_numbers_at_risk_beneath_on_the_same_x_scale():
    spec = charts.kaplan_meier(KM, KM_TIMES)
    assert [view["name"] for view in spec["vconcat"]] == ["survival", "at_risk"]
    assert spec["resolve"]["scale"]["x"] == "shared"
    table = km_view(spec, "at_risk")
    assert table["mark"]["type"] == "text"
    assert table["data"]["values"] == [
        {"group": "Arm A", "time": 0.0, "n_risk": 5}, {"group": "Arm A", "time": 3.0, "n_risk": 4},
        {"group": "Arm A", "time": 6.0, "n_risk": 2},
        {"group": "Arm B", "time": 0.0, "n_risk": 5}, {"group": "Arm B", "time": 3.0, "n_risk": 3},
        {"group": "Arm B", "time": 6.0, "n_risk": 1},
    ]
    enc = table["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"]) == ("time", "quantitative")
    assert enc["x"]["scale"] == layer(km_view(spec, "survival"), "curves")["encoding"]["x"]["scale"]
    assert (enc["y"]["field"], enc["y"]["sort"]) == ("group", ["Arm A", "Arm B"])
    assert enc["text"]["field"] == "n_risk"


def test_km_single_curve_without_group_and_a_curve_already_at_zero():
    point0 = {"time": 0.0, "n_risk": 4, "n_event": 0, "survival": 1.0, "lower": 1.0, "upper": 1.0}
    event = {"time": 2.0, "n_risk": 4, "n_event": 1, "survival": 0.75, "lower": 0.43, "upper": 1.0}
    spec = charts.kaplan_meier([{"group": None, "curve": [point0, event], "at_risk": [4]}], [0])
    curves = layer(km_view(spec, "survival"), "curves")
    assert [(v["group"], v["time"], v["survival"]) for v in curves["data"]["values"]] == [
        ("All treated", 0.0, 1.0), ("All treated", 2.0, 0.75)]  # no second (0, 1)
    assert curves["encoding"]["color"]["legend"] is None
    # An event at time 0 drops the curve at once: it still starts from (0, 1).
    at_zero = {"time": 0.0, "n_risk": 4, "n_event": 1, "survival": 0.75, "lower": 0.43, "upper": 1.0}
    spec = charts.kaplan_meier([{"group": "All", "curve": [at_zero], "at_risk": [4]}], [0])
    assert [(v["time"], v["survival"]) for v in layer(km_view(spec, "survival"), "curves")["data"]["values"]] == [
        (0.0, 1.0), (0.0, 0.75)]


def _km_with(index: int, **change) -> list[dict]:
    curve = [dict(p) for p in KM[0]["curve"]]
    curve[index].update(change)
    return [dict(KM[0], curve=curve), KM[1]]


@pytest.mark.parametrize(("curves", "times", "message"), [
    (_km_with(2, survival=0.9), KM_TIMES,
     "kaplan_meier: curves[0] (group 'Arm A'): curve[2]: 'survival' 0.9 rises above the previous 0.8"),
    (_km_with(1, time=2.0), KM_TIMES, "curves[0] (group 'Arm A'): curve[1]: 'time' 2.0 is not after the previous 2.0"),
    (_km_with(0, n_event=6), KM_TIMES, "curve[0]: 'n_event' 6 exceeds 'n_risk' 5"),
    (_km_with(0, n_risk=4.5), KM_TIMES, "curve[0]: 'n_risk' must be a whole number of subjects (>= 0), got 4.5"),
    (_km_with(0, lower=0.9, upper=0.7), KM_TIMES, "curve[0]: 'lower' 0.9 is above 'upper' 0.7"),
    (_km_with(0, survival=1.2), KM_TIMES, "curve[0]: 'survival' must be at most 1, got 1.2"),
    (_km_with(3, time=None), KM_TIMES, "curve[3]: 'time' must be a finite number, got None"),
    ([dict(KM[0], at_risk=[5, 4])], KM_TIMES,
     "curves[0] (group 'Arm A'): 'at_risk' must be a list of 3 counts (one per at-risk time), got [5, 4]"),
    ([KM[0], dict(KM[1], group="Arm A")], KM_TIMES, "curves[1]: 'group' 'Arm A' repeats an earlier curve"),
    ([dict(KM[0], group="")], KM_TIMES, "curves[0]: 'group' must be a non-empty string or None, got ''"),
    (KM, [0.0, 6.0, 3.0], "at_risk_times[2] 3.0 is not after the previous 6.0"),
    (KM, [], "at_risk_times must be a non-empty list of times"),
    ([], KM_TIMES, "curves must hold at least one curve"),
])
def test_km_refuses_bad_curves(curves, times, message):
    with pytest.raises(ValueError) as raised:
        charts.kaplan_meier(curves, times)
    assert message in str(raised.value)


def test_numbers_as_the_database_and_statsmodels_give_them_become_plain_json_numbers():
    """DecimalField values and numpy scalars / float counts (statsmodels' n_risk is a float array) are
    accepted and written as plain ints and floats, which json_script can serialise."""
    from decimal import Decimal

    numpy = pytest.importorskip("numpy")
    spec = charts.waterfall([{"subject": "S-01", "best_pct": Decimal("-31.5"), "bor": "PR", "group": "All"}])
    assert layer(spec, "bars")["data"]["values"][0]["best_pct"] == -31.5
    assert type(layer(spec, "bars")["data"]["values"][0]["best_pct"]) is float
    curve = [{"time": numpy.float64(2.0), "n_risk": numpy.int64(5), "n_event": 1.0, "survival": numpy.float64(0.8),
              "lower": None, "upper": None}]
    spec = charts.kaplan_meier([{"group": "A", "curve": curve, "at_risk": [numpy.int64(5), 4.0]}], [0, 3])
    censored_or_not = layer(km_view(spec, "survival"), "curves")["data"]["values"]
    assert censored_or_not == [{"group": "A", "time": 0.0, "survival": 1.0, "lower": 1.0, "upper": 1.0},
                               {"group": "A", "time": 2.0, "survival": 0.8, "lower": None, "upper": None}]
    table = km_view(spec, "at_risk")["data"]["values"]
    assert [(row["n_risk"], type(row["n_risk"])) for row in table] == [(5, int), (4, int)]
    json.dumps(spec, allow_nan=False)
