"""The Vega-Lite specs of ``pk.charts``: the data in each spec is the data given (in the given order of levels),
the log scale leaves out what it cannot draw and says so, and a bad row is refused naming the row and the key.
No database.

The concentration–time rows are R's ``datasets::Theoph`` (Boeckmann, Sheiner and Beal), subjects 1 and 2 as
published, with two made-up samples added to subject 2 (a BLQ one and a missing one). Every other expected
value is worked out by hand in the comments (percentages, mean ± SD bounds, counts left out), not taken from
the builders' output. Each spec is validated against the Vega-Lite 6.5.0 JSON schema vendored for the
efficacy pictures (tests/response/data/) and, where Node.js is installed, compiled by the vendored Vega-Lite
and run by Vega with the expression interpreter, as static/js/charts.js does under the page's CSP.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from pk import charts

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "response" / "data" / "vega-lite-6.5.0.schema.json"
VENDOR = ROOT / "static" / "vendor" / "vega"

# --- rows ------------------------------------------------------------------------------------------------

# Theoph subject 1 (4.02 mg/kg) and subject 2 (4.4 mg/kg): Time (h), conc (mg/L).
THEOPH_1 = [(0.0, 0.74), (0.25, 2.84), (0.57, 6.57), (1.12, 10.5), (2.02, 9.66), (3.82, 8.58), (5.1, 8.36),
            (7.03, 7.47), (9.05, 6.89), (12.12, 5.94), (24.37, 3.28)]
THEOPH_2 = [(0.0, 0.0), (0.27, 1.72), (0.52, 7.91), (1.0, 8.31), (1.92, 8.33), (3.5, 6.85), (5.02, 6.08),
            (7.03, 5.4), (9.0, 4.55), (12.0, 3.01), (24.3, 0.9)]
CONC = [
    *({"subject": "S-01", "level": "4.02 mg/kg", "time": t, "conc": c, "blq": False} for t, c in THEOPH_1),
    *({"subject": "S-02", "level": "4.4 mg/kg", "time": t, "conc": c, "blq": False} for t, c in THEOPH_2),
    {"subject": "S-02", "level": "4.4 mg/kg", "time": 48.0, "conc": None, "blq": True},  # made up: BLQ
    {"subject": "S-02", "level": "4.4 mg/kg", "time": 36.0, "conc": None, "blq": False},  # made up: missing
]
# Linear: 22 Theoph samples + the BLQ one at 0 = 23 drawn, the missing one left out.
# Log: 21 drawn; left out: S-02's 0.0 at time 0 (zero), the BLQ and the missing one.

MEAN = [
    # Listed high dose first on purpose: the legend must keep this order, not sort it.
    {"level": "10 mg", "time": 1.0, "mean": 12.0, "sd": 3.0, "n": 3},   # bar 9 .. 15
    {"level": "10 mg", "time": 24.0, "mean": 2.0, "sd": 2.5, "n": 3},   # 2 - 2.5 = -0.5: log bar 2 .. 4.5
    {"level": "1 mg", "time": 1.0, "mean": 1.5, "sd": None, "n": 1},    # no bar
    {"level": "1 mg", "time": 24.0, "mean": 0.0, "sd": 0.0, "n": 3},    # all BLQ: left out on log
    {"level": "3 mg", "time": 1.0, "mean": 4.0, "sd": 4.0, "n": 2},     # 4 - 4 = 0: log bar 4 .. 8
]

ADA = [
    {"level": "3 mg", "visit": "Day 1", "day": 1.0, "positive": 0, "tested": 3},
    {"level": "3 mg", "visit": "Day 29", "day": 29.0, "positive": 1, "tested": 3},     # 33.33... %
    {"level": "1 mg", "visit": "Day 1", "day": 1.0, "positive": 0, "tested": 6},
    {"level": "1 mg", "visit": "Day 29", "day": 29.0, "positive": 3, "tested": 4},     # 75 %
]

RO = [
    {"subject": "S-04", "level": "3 mg", "day": 1.0, "ro": 92.5},
    {"subject": "S-01", "level": "1 mg", "day": 1.0, "ro": 61.0},
    {"subject": "S-01", "level": "1 mg", "day": 8.0, "ro": 0.0},
    {"subject": "S-04", "level": "3 mg", "day": 8.0, "ro": 100.0},
]
RO_SUMMARY = [
    {"level": "3 mg", "day": 1.0, "mean": 92.5, "n": 1},
    {"level": "3 mg", "day": 8.0, "mean": 100.0, "n": 1},
    {"level": "1 mg", "day": 1.0, "mean": 61.0, "n": 1},
    {"level": "1 mg", "day": 8.0, "mean": 0.0, "n": 1},
    {"level": "10 mg", "day": 1.0, "mean": 99.0, "n": 2},  # a level with no points in rows
]

CYTO = [
    {"analyte": "IL-6", "unit": "pg/mL", "subject": "S-01", "level": "1 mg", "day": 0.0, "value": 2.1},
    {"analyte": "IL-6", "unit": "pg/mL", "subject": "S-01", "level": "1 mg", "day": 1.0, "value": 48.0},
    {"analyte": "CRP", "unit": "mg/L", "subject": "S-01", "level": "1 mg", "day": 1.0, "value": 12.0},
    {"analyte": "IL-6", "unit": "pg/mL", "subject": "S-02", "level": "3 mg", "day": 15.0, "value": 0.0},
    {"analyte": "CRP", "unit": "mg/L", "subject": "S-02", "level": "3 mg", "day": 2.0, "value": 80.5},
]


def layer(view: dict, name: str) -> dict:
    found = [child for child in view.get("layer", []) if child.get("name") == name]
    assert len(found) == 1, f"one layer named {name!r}"
    return found[0]


# --- common ----------------------------------------------------------------------------------------------

ALL_SPECS = {
    "concentration_time_linear": lambda: charts.concentration_time(CONC, scale="linear", conc_unit="mg/L"),
    "concentration_time_log": lambda: charts.concentration_time(CONC, scale="log", conc_unit="mg/L"),
    "concentration_time_empty": lambda: charts.concentration_time([], scale="log", conc_unit="mg/L"),
    "mean_concentration_linear": lambda: charts.mean_concentration(MEAN, scale="linear", conc_unit="ng/mL"),
    "mean_concentration_log": lambda: charts.mean_concentration(MEAN, scale="log", time_unit="d", conc_unit="ng/mL"),
    "ada_incidence": lambda: charts.ada_incidence(ADA),
    "receptor_occupancy": lambda: charts.receptor_occupancy(RO, summary_rows=RO_SUMMARY),
    "cytokines": lambda: charts.cytokines(CYTO),
}


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_is_vega_lite_v6_json_with_a_description_and_container_width(name):
    spec = ALL_SPECS[name]()
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v6.json"
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec  # plain JSON, no NaN, nothing Python-only
    assert len(spec["description"]) > 40
    views = spec.get("vconcat", [spec])
    assert views and all(view["width"] == "container" for view in views)
    assert "title" not in spec  # the page's figcaption is the visible title
    assert "transform" not in json.dumps(spec)  # declarative encodings only: nothing for an expression parser


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_validates_against_the_vega_lite_schema(name):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed: schema check skipped")
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(ALL_SPECS[name]())


# Compiles each spec with the vendored Vega-Lite, parses it with ast: true and runs it headless with the
# vendored expression interpreter (charts.js's options), collecting every warning.
NODE_SCRIPT = r"""
const fs = require('fs'); const vm = require('vm');
globalThis.self = globalThis;
for (const f of ['vega.min.js', 'vega-lite.min.js', 'vega-interpreter.min.js']) {
  vm.runInThisContext(fs.readFileSync(process.argv[2] + '/' + f, 'utf8'), {filename: f});
}
const specs = JSON.parse(fs.readFileSync(0, 'utf8'));
(async () => {
  const report = {};
  for (const [name, spec] of Object.entries(specs)) {
    const warnings = [];
    const logger = {level() { return this; }, info() { return this; }, debug() { return this; },
                    warn(...a) { warnings.push(a.join(' ')); return this; },
                    error(...a) { warnings.push('error: ' + a.join(' ')); return this; }};
    try {
      const vg = vegaLite.compile(spec, {logger}).spec;
      const view = new vega.View(vega.parse(vg, null, {ast: true}),
                                 {renderer: 'none', expr: vegaInterpreter.expressionInterpreter});
      view.logger(logger);
      await view.width(600).runAsync();
      view.finalize();
      report[name] = {warnings, scales: Object.fromEntries((vg.scales || []).map(s => [s.name, s.type]))};
    } catch (e) { report[name] = {error: String(e), warnings}; }
  }
  console.log(JSON.stringify(report));
})();
"""


def test_every_spec_compiles_and_runs_with_the_vendored_vega_lite_and_interpreter(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: compile check skipped")
    # Empty data is left out: Vega warns of the infinite extent of an empty field, as for any empty picture.
    specs = {name: build() for name, build in ALL_SPECS.items() if name != "concentration_time_empty"}
    # A script file, not node -e: under -e, `module` and `exports` are globals and the UMD builds would
    # look for require("vega") instead of the global the browser has.
    script = tmp_path / "compile.js"
    script.write_text(NODE_SCRIPT)
    done = subprocess.run([node, str(script), str(VENDOR)], input=json.dumps(specs),  # noqa: S603 (our script)
                          capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(done.stdout)
    assert set(report) == set(specs)
    for name, result in report.items():
        assert "error" not in result, (name, result)
        assert result["warnings"] == [], (name, result["warnings"])
    assert report["concentration_time_log"]["scales"]["y"] == "log"
    assert report["concentration_time_linear"]["scales"]["y"] == "linear"
    assert report["mean_concentration_log"]["scales"]["y"] == "log"
    assert [report["cytokines"]["scales"][f"analyte_{i}_y"] for i in (0, 1)] == ["linear", "linear"]


def test_extra_keys_never_reach_the_spec():
    """Only the label the caller chose identifies a subject: anything else on a row stays out of every spec."""
    extra = {"subject_id": 9876, "date_of_birth": "1950-01-02", "initials": "JQ", "sample_id": "PK-000417"}

    def leaky(rows):
        return [dict(row, **extra) for row in rows]

    specs = [
        charts.concentration_time(leaky(CONC), scale="linear", conc_unit="mg/L"),
        charts.concentration_time(leaky(CONC), scale="log", conc_unit="mg/L"),
        charts.mean_concentration(leaky(MEAN), scale="log", conc_unit="ng/mL"),
        charts.ada_incidence(leaky(ADA)),
        charts.receptor_occupancy(leaky(RO), summary_rows=leaky(RO_SUMMARY)),
        charts.cytokines(leaky(CYTO)),
    ]
    for spec in specs:
        text = json.dumps(spec)
        for key, value in extra.items():
            assert key not in text and str(value) not in text


# --- concentration–time ----------------------------------------------------------------------------------

def test_concentration_time_linear_draws_every_result_and_blq_at_zero():
    spec = charts.concentration_time(CONC, scale="linear", conc_unit="mg/L")
    values = spec["data"]["values"]
    # The rows as given, the missing one (S-02 at 36 h) left out, the BLQ one drawn at 0.
    assert values == [*CONC[:22], {"subject": "S-02", "level": "4.4 mg/kg", "time": 48.0, "conc": 0.0, "blq": True}]
    assert [(v["time"], v["conc"]) for v in values if v["subject"] == "S-01"] == THEOPH_1
    assert CONC[22]["conc"] is None  # the caller's row untouched
    assert "23 samples drawn, 1 sample left out (1 missing); 1 BLQ sample drawn at 0" in spec["description"]
    assert "linear scale" in spec["description"]
    lines = layer(spec, "lines")
    enc = lines["encoding"]
    assert lines["mark"]["type"] == "line" and layer(spec, "points")["mark"]["type"] == "point"
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["title"]) == ("time", "quantitative", "Time after dose (h)")
    assert (enc["y"]["field"], enc["y"]["title"], enc["y"]["scale"]["type"]) == ("conc", "Concentration (mg/L)",
                                                                                "linear")
    assert enc["detail"] == {"field": "subject", "type": "nominal"}  # a line never joins two subjects
    assert (enc["color"]["field"], enc["color"]["scale"]["domain"]) == ("subject", ["S-01", "S-02"])
    assert [t["field"] for t in enc["tooltip"]][:4] == ["subject", "level", "time", "conc"]


def test_concentration_time_log_leaves_out_blq_zero_and_missing_and_says_how_many():
    spec = charts.concentration_time(CONC, scale="log", time_unit="min", conc_unit="ng/mL")
    values = spec["data"]["values"]
    assert values == [*CONC[:11], *CONC[12:22]]  # S-02's 0.0 at time 0 (CONC[11]), the BLQ and the missing out
    assert all(v["conc"] > 0 and not v["blq"] for v in values)
    assert "logarithmic scale" in spec["description"]
    assert "21 samples drawn, 3 samples left out (1 BLQ, 1 at zero, 1 missing)" in spec["description"]
    for name in ("lines", "points"):
        enc = layer(spec, name)["encoding"]
        assert enc["y"]["scale"]["type"] == "log"
        assert (enc["x"]["title"], enc["y"]["title"]) == ("Time after dose (min)", "Concentration (ng/mL)")
    # Nothing to leave out: the description says nothing about it.
    only_1 = charts.concentration_time(CONC[:11], scale="log", conc_unit="mg/L")
    assert "left out" not in only_1["description"] and "11 samples drawn" in only_1["description"]


@pytest.mark.parametrize(("change", "message"), [
    ({"conc": -0.1}, "concentration_time: rows[3] (subject 'S-01'): 'conc' must be at least 0, got -0.1"),
    ({"conc": math.nan}, "rows[3] (subject 'S-01'): 'conc' must be a finite number, got nan"),
    ({"conc": "6.57"}, "'conc' must be a finite number, got '6.57'"),
    ({"blq": 0}, "rows[3] (subject 'S-01'): 'blq' must be true or false, got 0"),
    ({"blq": True}, "rows[3] (subject 'S-01'): 'conc' must be None or 0 when 'blq' is true (a BLQ sample has no "
                    "measured value), got 10.5"),
    ({"time": -0.5}, "rows[3] (subject 'S-01'): 'time' must be at least 0, got -0.5"),
    ({"time": 0.57}, "rows[3] (subject 'S-01'): 'subject' and 'time' repeat rows[2]; one row per subject and time"),
    ({"level": "4.4 mg/kg"}, "rows[3] (subject 'S-01'): 'level' '4.4 mg/kg' differs from rows[0]'s '4.02 mg/kg' "
                             "for the same subject"),
    ({"subject": ""}, "concentration_time: rows[3] (subject ''): 'subject' must be a non-empty string, got ''"),
    ({"subject": None}, "concentration_time: rows[3] (level '4.02 mg/kg'): 'subject' must be a non-empty string, "
                       "got None"),
])
def test_concentration_time_refuses_a_bad_row_naming_row_and_key(change, message):
    rows = [dict(row) for row in CONC]
    rows[3].update(change)
    with pytest.raises(ValueError, match=r"^concentration_time: ") as raised:
        charts.concentration_time(rows, scale="linear", conc_unit="mg/L")
    assert message in str(raised.value)


def test_concentration_time_refuses_missing_keys_and_bad_options():
    rows = [dict(row) for row in CONC]
    del rows[5]["blq"]
    with pytest.raises(ValueError, match=r"^concentration_time: rows\[5\] \(subject 'S-01'\): missing key 'blq'$"):
        charts.concentration_time(rows, scale="log", conc_unit="mg/L")
    with pytest.raises(ValueError, match="concentration_time: scale must be one of linear, log, got 'ln'"):
        charts.concentration_time(CONC, scale="ln", conc_unit="mg/L")
    with pytest.raises(ValueError, match="concentration_time: conc_unit must be a non-empty string, got ''"):
        charts.concentration_time(CONC, scale="log", conc_unit="")
    with pytest.raises(ValueError, match="concentration_time: time_unit must be a non-empty string, got None"):
        charts.concentration_time(CONC, scale="log", time_unit=None, conc_unit="mg/L")
    with pytest.raises(ValueError, match="concentration_time: rows must be a list of rows, got dict"):
        charts.concentration_time(CONC[0], scale="log", conc_unit="mg/L")


# --- mean concentration ----------------------------------------------------------------------------------

def test_mean_concentration_linear_lines_in_the_given_level_order_with_sd_bars():
    spec = charts.mean_concentration(MEAN, scale="linear", conc_unit="ng/mL")
    means = layer(spec, "means")
    assert means["data"]["values"] == [
        dict(MEAN[0], lower=9.0, upper=15.0),
        dict(MEAN[1], lower=-0.5, upper=4.5),
        dict(MEAN[2], lower=None, upper=None),
        dict(MEAN[3], lower=0.0, upper=0.0),
        dict(MEAN[4], lower=0.0, upper=8.0),
    ]
    bars = layer(spec, "sd_bars")
    assert bars["mark"]["type"] == "rule"
    assert [(v["level"], v["time"], v["lower"], v["upper"]) for v in bars["data"]["values"]] == [
        ("10 mg", 1.0, 9.0, 15.0), ("10 mg", 24.0, -0.5, 4.5), ("1 mg", 24.0, 0.0, 0.0), ("3 mg", 1.0, 0.0, 8.0)]
    assert (bars["encoding"]["y"]["field"], bars["encoding"]["y2"]["field"]) == ("lower", "upper")
    enc = means["encoding"]
    assert means["mark"]["type"] == "line" and means["mark"]["point"]
    assert (enc["x"]["field"], enc["x"]["title"]) == ("time", "Nominal time after dose (h)")
    assert (enc["y"]["field"], enc["y"]["title"]) == ("mean", "Mean concentration (ng/mL)")
    assert enc["color"]["scale"]["domain"] == ["10 mg", "1 mg", "3 mg"]  # as given, not sorted
    assert bars["encoding"]["color"] == enc["color"]
    assert [t["field"] for t in enc["tooltip"]] == ["level", "time", "mean", "sd", "n"]
    assert "left out" not in spec["description"] and "upwards only" not in spec["description"]


def test_mean_concentration_log_leaves_out_zero_means_and_draws_only_the_upper_half_of_a_bar_below_zero():
    spec = charts.mean_concentration(MEAN, scale="log", conc_unit="ng/mL")
    assert layer(spec, "means")["data"]["values"] == [
        dict(MEAN[0], lower=9.0, upper=15.0),
        dict(MEAN[1], lower=2.0, upper=4.5),   # mean − SD = −0.5: from the mean up
        dict(MEAN[2], lower=None, upper=None),
        dict(MEAN[4], lower=4.0, upper=8.0),   # mean − SD = 0: from the mean up
    ]  # MEAN[3], a mean of 0, left out
    assert [(v["lower"], v["upper"]) for v in layer(spec, "sd_bars")["data"]["values"]] == [
        (9.0, 15.0), (2.0, 4.5), (4.0, 8.0)]
    assert layer(spec, "means")["encoding"]["y"]["scale"]["type"] == "log"
    assert layer(spec, "sd_bars")["encoding"]["y"]["scale"]["type"] == "log"
    assert "1 mean of 0 left out" in spec["description"]
    assert "2 bars drawn from the mean upwards only, where mean − SD is not above 0" in spec["description"]
    # The level with only a zero mean left is still in the legend, in its place.
    assert layer(spec, "means")["encoding"]["color"]["scale"]["domain"] == ["10 mg", "1 mg", "3 mg"]


@pytest.mark.parametrize(("change", "message"), [
    ({"n": 0}, "mean_concentration: rows[1] (level '10 mg'): 'n' must be at least 1, got 0"),
    ({"n": 2.5}, "rows[1] (level '10 mg'): 'n' must be a whole number of subjects (>= 0), got 2.5"),
    ({"sd": -1.0}, "rows[1] (level '10 mg'): 'sd' must be at least 0, got -1.0"),
    ({"mean": None}, "rows[1] (level '10 mg'): 'mean' must be a finite number, got None"),
    ({"time": 1.0}, "rows[1] (level '10 mg'): 'level' and 'time' repeat rows[0]; one row per level and nominal time"),
    ({"level": None}, "mean_concentration: rows[1]: 'level' must be a non-empty string, got None"),
])
def test_mean_concentration_refuses_a_bad_row(change, message):
    rows = [dict(row) for row in MEAN]
    rows[1].update(change)
    with pytest.raises(ValueError) as raised:
        charts.mean_concentration(rows, scale="linear", conc_unit="ng/mL")
    assert message in str(raised.value)


# --- ADA -------------------------------------------------------------------------------------------------

def test_ada_incidence_percent_positive_by_level_in_the_given_order():
    spec = charts.ada_incidence(ADA)
    values = spec["data"]["values"]
    # 0/3, 1/3, 0/6, 3/4 as percentages: 0, 33.33.., 0, 75.
    assert [(v["level"], v["day"], v["ratio"]) for v in values] == [
        ("3 mg", 1.0, "0/3"), ("3 mg", 29.0, "1/3"), ("1 mg", 1.0, "0/6"), ("1 mg", 29.0, "3/4")]
    assert [v["pct"] for v in values] == pytest.approx([0.0, 100 / 3, 0.0, 75.0])
    assert [{k: v[k] for k in ADA[0]} for v in values] == ADA
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "line" and spec["mark"]["point"]
    assert (enc["x"]["field"], enc["x"]["title"]) == ("day", "Nominal study day")
    assert (enc["y"]["field"], enc["y"]["scale"]["domain"]) == ("pct", [0, 100])
    assert enc["y"]["title"].endswith("(%)")
    assert enc["color"]["scale"]["domain"] == ["3 mg", "1 mg"]
    assert {"field": "ratio", "type": "nominal", "title": "Positive/tested"} in enc["tooltip"]


@pytest.mark.parametrize(("change", "message"), [
    ({"positive": 4}, "ada_incidence: rows[1] (level '3 mg'): 'positive' 4 exceeds 'tested' 3"),
    ({"tested": 0, "positive": 0}, "ada_incidence: rows[1] (level '3 mg'): 'tested' must be at least 1, got 0"),
    ({"positive": -1}, "rows[1] (level '3 mg'): 'positive' must be a whole number of subjects (>= 0), got -1"),
    ({"visit": ""}, "rows[1] (level '3 mg'): 'visit' must be a non-empty string, got ''"),
    ({"day": 1.0}, "rows[1] (level '3 mg'): 'level' and 'day' repeat rows[0]; one row per level and nominal day"),
    ({"day": math.inf}, "rows[1] (level '3 mg'): 'day' must be a finite number, got inf"),
])
def test_ada_incidence_refuses_a_bad_row(change, message):
    rows = [dict(row) for row in ADA]
    rows[1].update(change)
    with pytest.raises(ValueError) as raised:
        charts.ada_incidence(rows)
    assert message in str(raised.value)


# --- receptor occupancy ----------------------------------------------------------------------------------

def test_receptor_occupancy_points_per_subject_and_a_mean_line_per_level():
    spec = charts.receptor_occupancy(RO, summary_rows=RO_SUMMARY)
    points = layer(spec, "subjects")
    means = layer(spec, "means")
    assert points["data"]["values"] == RO
    assert means["data"]["values"] == RO_SUMMARY
    assert points["mark"]["type"] == "point" and means["mark"]["type"] == "line"
    for view, field in ((points, "ro"), (means, "mean")):
        enc = view["encoding"]
        assert (enc["y"]["field"], enc["y"]["scale"]["domain"]) == (field, [0, 100])
        assert enc["y"]["title"] == "Receptor occupancy (%)"
        # Levels of rows first, then a summary-only level; one colour scale for both layers.
        assert enc["color"]["scale"]["domain"] == ["3 mg", "1 mg", "10 mg"]
    assert {"field": "n", "type": "quantitative", "title": "n"} in means["encoding"]["tooltip"]
    assert "4 samples from 2 subjects" in spec["description"]


@pytest.mark.parametrize(("rows", "summary", "message"), [
    ([dict(RO[0]), dict(RO[1], ro=100.5)], RO_SUMMARY,
     "receptor_occupancy: rows[1] (subject 'S-01'): 'ro' must be at most 100, got 100.5"),
    ([dict(RO[0]), dict(RO[1], ro=-1)], RO_SUMMARY, "rows[1] (subject 'S-01'): 'ro' must be at least 0, got -1"),
    ([dict(RO[0]), dict(RO[0], ro=50.0)], RO_SUMMARY,
     "rows[1] (subject 'S-04'): 'subject' and 'day' repeat rows[0]; one row per subject and day"),
    (RO, [RO_SUMMARY[0], dict(RO_SUMMARY[1], mean=101.0)],
     "receptor_occupancy: summary_rows[1] (level '3 mg'): 'mean' must be at most 100, got 101.0"),
    (RO, [RO_SUMMARY[0], dict(RO_SUMMARY[1], n=0)], "summary_rows[1] (level '3 mg'): 'n' must be at least 1, got 0"),
    (RO, [RO_SUMMARY[0], RO_SUMMARY[0]],
     "summary_rows[1] (level '3 mg'): 'level' and 'day' repeat summary_rows[0]; one row per level and day"),
    (RO, [{"level": "3 mg", "day": 1.0, "n": 1}], "summary_rows[0] (level '3 mg'): missing key 'mean'"),
    (RO, None, "receptor_occupancy: summary_rows must be a list of rows, got NoneType"),
])
def test_receptor_occupancy_refuses_bad_rows_and_summary_rows(rows, summary, message):
    with pytest.raises(ValueError) as raised:
        charts.receptor_occupancy(rows, summary_rows=summary)
    assert message in str(raised.value)


# --- cytokines -------------------------------------------------------------------------------------------

def test_cytokines_a_panel_per_analyte_with_its_own_y_scale_and_unit():
    spec = charts.cytokines(CYTO)
    panels = spec["vconcat"]
    assert [p["name"] for p in panels] == ["analyte_0", "analyte_1"]
    assert [p["data"]["values"] for p in panels] == [[CYTO[0], CYTO[1], CYTO[3]], [CYTO[2], CYTO[4]]]
    assert spec["resolve"]["scale"] == {"x": "shared", "y": "independent", "color": "shared"}
    for panel, y_title in zip(panels, ["IL-6 (pg/mL)", "CRP (mg/L)"], strict=True):
        lines = [view for view in panel["layer"] if view["mark"]["type"] == "line"]
        assert len(lines) == 1
        enc = lines[0]["encoding"]
        assert (enc["y"]["field"], enc["y"]["title"]) == ("value", y_title)
        assert (enc["x"]["field"], enc["x"]["scale"]["domain"]) == ("day", [0, 15.0])
        assert enc["detail"] == {"field": "subject", "type": "nominal"}
        assert (enc["color"]["field"], enc["color"]["scale"]["domain"]) == ("level", ["1 mg", "3 mg"])
    assert "IL-6 in pg/mL, CRP in mg/L" in spec["description"]


@pytest.mark.parametrize(("change", "message"), [
    ({"unit": "ng/mL"}, "cytokines: rows[1] (subject 'S-01'): 'unit' 'ng/mL' differs from rows[0]'s 'pg/mL' for "
                        "analyte 'IL-6'"),
    ({"day": 15.5}, "rows[1] (subject 'S-01'): 'day' must be at most 15, got 15.5"),
    ({"day": -1.0}, "rows[1] (subject 'S-01'): 'day' must be at least 0, got -1.0"),
    ({"day": 0.0}, "rows[1] (subject 'S-01'): 'analyte' and 'subject' and 'day' repeat rows[0]; one row per analyte, "
                   "subject and day"),
    ({"value": -0.1}, "rows[1] (subject 'S-01'): 'value' must be at least 0, got -0.1"),
    ({"analyte": " "}, "rows[1] (subject 'S-01'): 'analyte' must be a non-empty string, got ' '"),
    ({"level": "3 mg"}, "rows[1] (subject 'S-01'): 'level' '3 mg' differs from rows[0]'s '1 mg' for the same subject"),
])
def test_cytokines_refuses_a_bad_row(change, message):
    rows = [dict(row) for row in CYTO]
    rows[1].update(change)
    with pytest.raises(ValueError) as raised:
        charts.cytokines(rows)
    assert message in str(raised.value)


def test_cytokines_needs_at_least_one_row():
    with pytest.raises(ValueError, match=r"cytokines: rows must hold at least one row"):
        charts.cytokines([])


def test_numbers_as_the_database_and_numpy_give_them_become_plain_json_numbers():
    from decimal import Decimal

    numpy = pytest.importorskip("numpy")
    spec = charts.ada_incidence([{"level": "1 mg", "visit": "Day 8", "day": numpy.float64(8),
                                  "positive": numpy.int64(1), "tested": 4.0}])
    value = spec["data"]["values"][0]
    assert (value["day"], value["positive"], value["tested"], value["pct"], value["ratio"]) == (8.0, 1, 4, 25.0, "1/4")
    assert (type(value["day"]), type(value["positive"]), type(value["tested"])) == (float, int, int)
    spec = charts.concentration_time([{"subject": "S-01", "level": "1 mg", "time": Decimal("0.5"),
                                       "conc": Decimal("2.84"), "blq": False}], scale="log", conc_unit="mg/L")
    assert spec["data"]["values"] == [{"subject": "S-01", "level": "1 mg", "time": 0.5, "conc": 2.84, "blq": False}]
    json.dumps(spec, allow_nan=False)


def test_the_terminal_fit_is_a_dashed_line_over_the_lambda_z_points():
    base = charts.concentration_time(CONC, scale="log", conc_unit="mg/L")
    spec = charts.with_terminal_fit(base, start=9.05, end=24.37, intercept=2.0, lambda_z=0.048457)
    fit = layer(spec, "terminal_fit")
    assert [v["time"] for v in fit["data"]["values"]] == [9.05, 24.37]
    assert fit["data"]["values"][1]["conc"] == pytest.approx(math.exp(2.0 - 0.048457 * 24.37))
    assert fit["encoding"]["y"]["scale"]["type"] == "log" and "λz fit" in spec["description"]
    assert base["layer"] == charts.concentration_time(CONC, scale="log", conc_unit="mg/L")["layer"]  # untouched
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(spec)
    with pytest.raises(ValueError, match="lambda_z > 0"):
        charts.with_terminal_fit(base, start=1, end=2, intercept=0, lambda_z=-0.1)
    with pytest.raises(ValueError, match="no 'points' layer"):
        charts.with_terminal_fit({"layer": []}, start=1, end=2, intercept=0, lambda_z=0.1)
