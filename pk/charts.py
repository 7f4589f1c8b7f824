"""Vega-Lite specifications of the pharmacokinetic and pharmacodynamic pictures: concentration–time profiles,
mean concentrations by dose level, anti-drug-antibody incidence, receptor occupancy and cytokines.

Each builder takes plain rows, checks them, and returns a Vega-Lite v6 specification as a dict with the data
inline (``data.values``), for Django's ``json_script`` filter and ``static/js/charts.js``, exactly as
``response.charts`` does for the efficacy pictures: only declarative Vega-Lite (no expression strings, no
custom JavaScript), so the browser compiles it under the Content-Security-Policy without ``'unsafe-eval'``.

The builders are strict for the reasons given in ``response.charts``: nothing but the keys named here goes
into a spec (the ``subject`` label is the only subject identifier), and a bad row is refused with a
``ValueError`` naming the builder, the row and the key, because Vega-Lite would draw it silently.

On a logarithmic concentration axis nothing at or below zero can be drawn. The builders leave such values out
and say so in the spec's ``description`` (which the page reads out and a screen reader announces), never
substituting a made-up positive value: a BLQ sample, a missing one or a zero concentration is absent from the
log picture and counted; a mean ± SD bar whose lower end would be at or below zero is drawn from the mean
upwards only (the upper half), and those bars are counted.

Only the standard library and ``response.charts``' generic row checks are imported: pure functions of rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trialsite.vegalite import base as _base
from trialsite.vegalite import count as _count
from trialsite.vegalite import get as _get
from trialsite.vegalite import number as _number
from trialsite.vegalite import plural as _plural
from trialsite.vegalite import rows as _rows
from trialsite.vegalite import text as _text

SCALES = ("linear", "log")
DAY_MAX = 15.0  # the cytokine panel's nominal days run from 0 to 15

# Below the plot: a legend beside it would narrow a container-wide plot (as in response.charts.swimmer).
LEGEND = {"orient": "bottom", "columns": 4, "labelLimit": 200}


# --- validation ------------------------------------------------------------------------------------------

def _where(chart: str, index: int, row: Any, name: str = "rows") -> str:
    """``chart: rows[i] (subject 'S')`` as in ``response.charts``, or ``(level 'L')`` for a row without a subject."""
    where = f"{chart}: {name}[{index}]"
    if isinstance(row, Mapping):
        for key in ("subject", "level"):
            if isinstance(row.get(key), str):
                return f"{where} ({key} {row[key]!r})"
    return where


def _scale(chart: str, scale: Any) -> str:
    if scale not in SCALES:
        raise ValueError(f"{chart}: scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def _unit(chart: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{chart}: {name} must be a non-empty string, got {value!r}")
    return value


def _bool(where: str, row: Mapping, key: str) -> bool:
    value = _get(where, row, key)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key!r} must be true or false, got {value!r}")
    return value


def _positive_count(where: str, row: Mapping, key: str) -> int:
    count = _count(where, row, key)
    if count < 1:
        raise ValueError(f"{where}: {key!r} must be at least 1, got {row[key]!r}")
    return count


def _once(chart: str, rows: Sequence[Mapping], keys: tuple[str, ...], what: str, name: str = "rows") -> None:
    """One row per combination of ``keys``: two points at one place would be drawn as one, or as a vertical jump."""
    seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        first = seen.setdefault(tuple(row[key] for key in keys), index)
        if first != index:
            named = " and ".join(repr(key) for key in keys)
            raise ValueError(f"{_where(chart, index, row, name)}: {named} repeat {name}[{first}]; one row per {what}")


def _one_level_per_subject(chart: str, rows: Sequence[Mapping]) -> None:
    """A line per subject is drawn per label: a subject in two levels would join them into one line."""
    level_of: dict[str, tuple[str, int]] = {}
    for index, row in enumerate(rows):
        level, first = level_of.setdefault(row["subject"], (row["level"], index))
        if level != row["level"]:
            raise ValueError(f"{_where(chart, index, row)}: 'level' {row['level']!r} differs from rows[{first}]'s "
                             f"{level!r} for the same subject")


def _in_order(values: Sequence[Mapping], key: str) -> list[str]:
    """The distinct values of ``key`` in order of first appearance (the caller's order of dose levels)."""
    return list(dict.fromkeys(value[key] for value in values))


def _listed(n: int, word: str, names: Sequence[str]) -> str:
    """``2 dose levels (1 mg/kg, 3 mg/kg)``, or ``0 dose levels`` with no empty brackets."""
    return _plural(n, word) + (f" ({', '.join(names)})" if names else "")


def _x(field: str, title: str, **scale: Any) -> dict:
    x = {"field": field, "type": "quantitative", "title": title}
    if scale:
        x["scale"] = scale
    return x


def _levels_colour(levels: list[str], title: str = "Dose level") -> dict:
    return {"field": "level", "type": "nominal", "title": title, "scale": {"domain": levels},
            "legend": dict(LEGEND)}


def _conc_axis(scale: str) -> tuple[dict, dict]:
    """The y scale and axis of a concentration: from 0 on the linear scale, base 10 with plain numbers on log."""
    if scale == "log":
        return {"type": "log"}, {"format": "~g"}
    return {"type": "linear", "zero": True}, {}


# --- individual concentration–time profiles --------------------------------------------------------------

def concentration_time(rows: Sequence[Mapping], *, scale: str, time_unit: str = "h", conc_unit: str,
                       title: str | None = None) -> dict:
    """Concentration against time after dose, a line with points per subject, coloured by subject.

    ``rows``: ``{"subject": label, "level": str, "time": float >= 0, "conc": float >= 0 | None, "blq": bool}``,
    one per sample; ``time`` in ``time_unit`` after the dose, ``conc`` in ``conc_unit``. ``conc`` None is a
    missing result; a BLQ sample (``blq`` true) has no measured value, so its ``conc`` must be None or 0.

    ``scale`` ``"linear"``: BLQ samples are drawn at 0 (as ``manage.py pk nca`` counts them) and missing ones
    are left out. ``scale`` ``"log"`` (y scale type log): BLQ samples, missing results and concentrations of 0
    are all left out. The description gives the number left out and why. A subject belongs to one level, with
    one sample per time; the lines are kept apart by ``detail`` on the subject and never join two subjects.
    """
    chart = "concentration_time"
    scale = _scale(chart, scale)
    time_unit = _unit(chart, "time_unit", time_unit)
    conc_unit = _unit(chart, "conc_unit", conc_unit)
    checked = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        item = {
            "subject": _text(where, row, "subject"),
            "level": _text(where, row, "level"),
            "time": _number(where, row, "time", minimum=0.0),
            "conc": None if _get(where, row, "conc") is None else _number(where, row, "conc", minimum=0.0),
            "blq": _bool(where, row, "blq"),
        }
        if item["blq"] and item["conc"] not in (None, 0.0):
            raise ValueError(f"{where}: 'conc' must be None or 0 when 'blq' is true (a BLQ sample has no measured "
                             f"value), got {row['conc']!r}")
        checked.append(item)
    _one_level_per_subject(chart, checked)
    _once(chart, checked, ("subject", "time"), "subject and time")

    missing = sum(1 for v in checked if v["conc"] is None and not v["blq"])
    blq = sum(1 for v in checked if v["blq"])
    zero = sum(1 for v in checked if v["conc"] == 0.0 and not v["blq"])
    if scale == "log":
        values = [v for v in checked if not v["blq"] and v["conc"] is not None and v["conc"] > 0]
        left_out = [(blq, "BLQ"), (zero, "at zero"), (missing, "missing")]
    else:
        values = [dict(v, conc=0.0) if v["blq"] else v for v in checked if v["blq"] or v["conc"] is not None]
        left_out = [(missing, "missing")]
    subjects = _in_order(checked, "subject")
    levels = _in_order(checked, "level")
    reasons = [f"{n} {why}" for n, why in left_out if n]
    dropped = len(checked) - len(values)
    description = (
        f"Concentration–time profiles: concentration ({conc_unit}) against time after dose ({time_unit}) on a "
        f"{'logarithmic' if scale == 'log' else 'linear'} scale, one line for each of "
        f"{_plural(len(subjects), 'subject')} in {_listed(len(levels), 'dose level', levels)}, "
        f"coloured by subject; {_plural(len(values), 'sample')} drawn"
        + (f", {_plural(dropped, 'sample')} left out ({', '.join(reasons)})" if dropped else "")
        + (f"; {_plural(blq, 'BLQ sample')} drawn at 0" if scale == "linear" and blq else "")
        + "."
    )
    y_scale, y_axis = _conc_axis(scale)
    x = _x("time", f"Time after dose ({time_unit})", domainMin=0)
    y = {"field": "conc", "type": "quantitative", "title": f"Concentration ({conc_unit})", "scale": y_scale}
    if y_axis:
        y["axis"] = y_axis
    colour = {"field": "subject", "type": "nominal", "title": "Subject", "scale": {"domain": subjects},
              "legend": dict(LEGEND)}
    tooltip = [
        {"field": "subject", "type": "nominal", "title": "Subject"},
        {"field": "level", "type": "nominal", "title": "Dose level"},
        {"field": "time", "type": "quantitative", "title": f"Time ({time_unit})", "format": "~g"},
        {"field": "conc", "type": "quantitative", "title": f"Concentration ({conc_unit})", "format": "~g"},
        {"field": "blq", "type": "nominal", "title": "BLQ"},
    ]
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 320,
        "data": {"values": values},
        "layer": [
            {
                "mark": {"type": "line", "tooltip": True},
                "encoding": {"x": x, "y": y, "detail": {"field": "subject", "type": "nominal"}, "color": colour,
                             "tooltip": tooltip},
                "name": "lines",
            },
            {
                "mark": {"type": "point", "filled": True, "size": 30, "opacity": 1, "tooltip": True},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
                "name": "points",
            },
        ],
    })
    return spec


def with_terminal_fit(spec: dict, *, start: float, end: float, intercept: float, lambda_z: float) -> dict:
    """``spec`` (a :func:`concentration_time` spec) with the λz regression drawn over the points it used: a dashed
    line from ``start`` to ``end`` (hours) of conc = exp(intercept − λz·t), the log-linear fit of the terminal
    phase (``trialrules.nca``). Returns a new spec; refuses a fit that cannot be drawn (λz <= 0, end <= start)."""
    chart = "with_terminal_fit"
    for name, value in (("start", start), ("end", end), ("intercept", intercept), ("lambda_z", lambda_z)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{chart}: {name!r} must be a finite number, got {value!r}")
    if lambda_z <= 0 or start < 0 or end <= start:
        raise ValueError(f"{chart}: need lambda_z > 0 and 0 <= start < end, got {lambda_z!r}, {start!r}, {end!r}")
    layers = [layer for layer in spec.get("layer", ()) if layer.get("name") == "points"]
    if not layers:
        raise ValueError(f"{chart}: the spec has no 'points' layer (not a concentration_time spec)")
    y = dict(layers[0]["encoding"]["y"])
    x = dict(layers[0]["encoding"]["x"])
    fit = {
        "data": {"values": [{"time": t, "conc": math.exp(intercept - lambda_z * t)} for t in (start, end)]},
        "mark": {"type": "line", "strokeDash": [6, 4], "color": "#c0392b", "strokeWidth": 2},
        "encoding": {"x": x, "y": y},
        "name": "terminal_fit",
    }
    out = dict(spec)
    out["layer"] = [*spec["layer"], fit]
    out["description"] = f"{spec['description']} The dashed line is the λz fit of the terminal phase."
    return out


# --- mean concentrations by dose level -------------------------------------------------------------------

def mean_concentration(rows: Sequence[Mapping], *, scale: str, time_unit: str = "h", conc_unit: str,
                       title: str | None = None) -> dict:
    """Mean concentration ± SD against nominal time after dose, a line with points per dose level.

    ``rows``: ``{"level": str, "time": float >= 0, "mean": float >= 0, "sd": float >= 0 | None, "n": int >= 1}``,
    one per level and nominal time, ``time`` in ``time_unit``, ``mean`` and ``sd`` in ``conc_unit``; ``sd`` None
    (a single subject) draws no bar. The levels are coloured, and listed in the legend, in the order of their
    first row. Error bars run from mean − SD to mean + SD; ``n`` is in the tooltip.

    ``scale`` ``"log"``: a mean of 0 is left out (with its bar), and where mean − SD <= 0 the bar is drawn from
    the mean to mean + SD only (no lower half, never a clipped made-up value); the description counts both.
    """
    chart = "mean_concentration"
    scale = _scale(chart, scale)
    time_unit = _unit(chart, "time_unit", time_unit)
    conc_unit = _unit(chart, "conc_unit", conc_unit)
    checked = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        checked.append({
            "level": _text(where, row, "level"),
            "time": _number(where, row, "time", minimum=0.0),
            "mean": _number(where, row, "mean", minimum=0.0),
            "sd": None if _get(where, row, "sd") is None else _number(where, row, "sd", minimum=0.0),
            "n": _positive_count(where, row, "n"),
        })
    _once(chart, checked, ("level", "time"), "level and nominal time")

    zero_means = 0
    half_bars = 0
    values = []
    for item in checked:
        if scale == "log" and item["mean"] <= 0:
            zero_means += 1
            continue
        lower = upper = None
        if item["sd"] is not None:
            lower, upper = item["mean"] - item["sd"], item["mean"] + item["sd"]
            if scale == "log" and lower <= 0:
                lower = item["mean"]
                half_bars += 1
        values.append(dict(item, lower=lower, upper=upper))
    bars = [v for v in values if v["sd"] is not None]
    levels = _in_order(checked, "level")
    notes = []
    if zero_means:
        notes.append(f"{_plural(zero_means, 'mean')} of 0 left out")
    if half_bars:
        notes.append(f"{_plural(half_bars, 'bar')} drawn from the mean upwards only, where mean − SD is not above 0")
    description = (
        f"Mean concentration ({conc_unit}) ± standard deviation against nominal time after dose ({time_unit}) on a "
        f"{'logarithmic' if scale == 'log' else 'linear'} scale, one line for each of "
        f"{_listed(len(levels), 'dose level', levels)}"
        + (f"; {'; '.join(notes)}" if notes else "")
        + "."
    )
    y_scale, y_axis = _conc_axis(scale)
    x = _x("time", f"Nominal time after dose ({time_unit})", domainMin=0)
    y = {"field": "mean", "type": "quantitative", "title": f"Mean concentration ({conc_unit})", "scale": y_scale}
    if y_axis:
        y["axis"] = y_axis
    colour = _levels_colour(levels)
    tooltip = [
        {"field": "level", "type": "nominal", "title": "Dose level"},
        {"field": "time", "type": "quantitative", "title": f"Nominal time ({time_unit})", "format": "~g"},
        {"field": "mean", "type": "quantitative", "title": f"Mean ({conc_unit})", "format": "~g"},
        {"field": "sd", "type": "quantitative", "title": f"SD ({conc_unit})", "format": "~g"},
        {"field": "n", "type": "quantitative", "title": "n"},
    ]
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 320,
        "layer": [
            {
                "data": {"values": bars},
                "mark": {"type": "rule", "strokeWidth": 1.5, "tooltip": True},
                "encoding": {"x": x, "y": dict(y, field="lower"), "y2": {"field": "upper"}, "color": colour,
                             "tooltip": tooltip},
                "name": "sd_bars",
            },
            {
                "data": {"values": values},
                "mark": {"type": "line", "point": {"filled": True, "size": 40}, "tooltip": True},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
                "name": "means",
            },
        ],
    })
    return spec


# --- anti-drug antibodies --------------------------------------------------------------------------------

def ada_incidence(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Percentage of subjects with a positive anti-drug-antibody result at each nominal study day, by dose level.

    ``rows``: ``{"level": str, "visit": str, "day": float, "positive": int >= 0, "tested": int >= 1}``, one per
    level and nominal day (``positive`` of the ``tested`` samples at that visit). The percentage positive is
    ``positive / tested · 100``; the tooltip gives it with ``"positive/tested"``. A line with points per level,
    in the order of the levels' first rows; y from 0 to 100 %.
    """
    chart = "ada_incidence"
    values = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        level = _text(where, row, "level")
        visit = _text(where, row, "visit")
        day = _number(where, row, "day")
        positive = _count(where, row, "positive")
        tested = _positive_count(where, row, "tested")
        if positive > tested:
            raise ValueError(f"{where}: 'positive' {positive} exceeds 'tested' {tested}")
        values.append({"level": level, "visit": visit, "day": day, "positive": positive, "tested": tested,
                       "pct": positive / tested * 100, "ratio": f"{positive}/{tested}"})
    _once(chart, values, ("level", "day"), "level and nominal day")
    levels = _in_order(values, "level")
    description = (
        f"Anti-drug-antibody incidence: percentage of tested subjects with a positive result (0 to 100 %) against "
        f"nominal study day, one line for each of {_listed(len(levels), 'dose level', levels)}, "
        f"{_plural(len(values), 'visit result')} in all."
    )
    x = _x("day", "Nominal study day")
    y = {"field": "pct", "type": "quantitative", "title": "ADA-positive subjects (%)", "scale": {"domain": [0, 100]}}
    colour = _levels_colour(levels)
    tooltip = [
        {"field": "level", "type": "nominal", "title": "Dose level"},
        {"field": "visit", "type": "nominal", "title": "Visit"},
        {"field": "day", "type": "quantitative", "title": "Nominal day", "format": "~g"},
        {"field": "ratio", "type": "nominal", "title": "Positive/tested"},
        {"field": "pct", "type": "quantitative", "title": "Positive (%)", "format": ".1f"},
    ]
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 280,
        "data": {"values": values},
        "mark": {"type": "line", "point": {"filled": True, "size": 40}, "tooltip": True},
        "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
        "name": "incidence",
    })
    return spec


# --- receptor occupancy ----------------------------------------------------------------------------------

def receptor_occupancy(rows: Sequence[Mapping], *, summary_rows: Sequence[Mapping], title: str | None = None) -> dict:
    """Receptor occupancy (0–100 %) against study day: a point per subject and sample, a mean line per level.

    ``rows``: ``{"subject": label, "level": str, "day": float, "ro": float 0–100}``, one per subject and day.
    ``summary_rows``: ``{"level": str, "day": float, "mean": float 0–100, "n": int >= 1}``, one per level and
    day. Points and lines share one colour per level, the levels in order of first appearance in ``rows``,
    then in ``summary_rows``; y from 0 to 100 %.
    """
    chart = "receptor_occupancy"
    points = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        points.append({
            "subject": _text(where, row, "subject"),
            "level": _text(where, row, "level"),
            "day": _number(where, row, "day"),
            "ro": _number(where, row, "ro", minimum=0.0, maximum=100.0),
        })
    _one_level_per_subject(chart, points)
    _once(chart, points, ("subject", "day"), "subject and day")
    means = []
    for index, row in enumerate(_rows(chart, summary_rows, "summary_rows")):
        where = _where(chart, index, row, "summary_rows")
        means.append({
            "level": _text(where, row, "level"),
            "day": _number(where, row, "day"),
            "mean": _number(where, row, "mean", minimum=0.0, maximum=100.0),
            "n": _positive_count(where, row, "n"),
        })
    _once(chart, means, ("level", "day"), "level and day", "summary_rows")
    levels = list(dict.fromkeys([*_in_order(points, "level"), *_in_order(means, "level")]))
    subjects = _in_order(points, "subject")
    description = (
        f"Receptor occupancy (0 to 100 %) against study day: {_plural(len(points), 'sample')} from "
        f"{_plural(len(subjects), 'subject')} as points, and the mean of each of "
        f"{_listed(len(levels), 'dose level', levels)} as a line, coloured by level."
    )
    x = _x("day", "Study day")
    y_scale = {"domain": [0, 100]}
    colour = _levels_colour(levels)
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 300,
        "layer": [
            {
                "data": {"values": points},
                "mark": {"type": "point", "filled": True, "size": 30, "opacity": 0.6, "tooltip": True},
                "encoding": {
                    "x": x,
                    "y": {"field": "ro", "type": "quantitative", "title": "Receptor occupancy (%)", "scale": y_scale},
                    "color": colour,
                    "tooltip": [
                        {"field": "subject", "type": "nominal", "title": "Subject"},
                        {"field": "level", "type": "nominal", "title": "Dose level"},
                        {"field": "day", "type": "quantitative", "title": "Day", "format": "~g"},
                        {"field": "ro", "type": "quantitative", "title": "Occupancy (%)", "format": ".1f"},
                    ],
                },
                "name": "subjects",
            },
            {
                "data": {"values": means},
                "mark": {"type": "line", "strokeWidth": 2.5, "point": {"filled": True, "size": 50}, "tooltip": True},
                "encoding": {
                    "x": x,
                    "y": {"field": "mean", "type": "quantitative", "title": "Receptor occupancy (%)",
                          "scale": y_scale},
                    "color": colour,
                    "tooltip": [
                        {"field": "level", "type": "nominal", "title": "Dose level"},
                        {"field": "day", "type": "quantitative", "title": "Day", "format": "~g"},
                        {"field": "mean", "type": "quantitative", "title": "Mean occupancy (%)", "format": ".1f"},
                        {"field": "n", "type": "quantitative", "title": "n"},
                    ],
                },
                "name": "means",
            },
        ],
    })
    return spec


# --- cytokines -------------------------------------------------------------------------------------------

def cytokines(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Cytokine concentrations over study days 0 to 15, one panel per analyte, a line per subject.

    ``rows``: ``{"analyte": str, "unit": str, "subject": label, "level": str, "day": float 0–15,
    "value": float >= 0}``, one per analyte, subject and day; each analyte has one unit. The panels are stacked
    (``vconcat``, one layered view per analyte, in the order of the analytes' first rows): each has its own y
    scale with the unit in its title, and all share the x scale (days 0 to 15) and the colour of each dose level.
    A vconcat, as the Kaplan–Meier plot with its at-risk table, rather than a facet: the schema refuses
    ``width: "container"`` on a facet itself (it accepts it only inside the facet's inner ``spec``).
    """
    chart = "cytokines"
    checked = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        checked.append({
            "analyte": _text(where, row, "analyte"),
            "unit": _text(where, row, "unit"),
            "subject": _text(where, row, "subject"),
            "level": _text(where, row, "level"),
            "day": _number(where, row, "day", minimum=0.0, maximum=DAY_MAX),
            "value": _number(where, row, "value", minimum=0.0),
        })
    if not checked:
        raise ValueError(f"{chart}: rows must hold at least one row (a panel per analyte)")
    unit_of: dict[str, tuple[str, int]] = {}
    for index, item in enumerate(checked):
        unit, first = unit_of.setdefault(item["analyte"], (item["unit"], index))
        if unit != item["unit"]:
            raise ValueError(f"{_where(chart, index, item)}: 'unit' {item['unit']!r} differs from rows[{first}]'s "
                             f"{unit!r} for analyte {item['analyte']!r}")
    _one_level_per_subject(chart, checked)
    _once(chart, checked, ("analyte", "subject", "day"), "analyte, subject and day")
    analytes = _in_order(checked, "analyte")
    levels = _in_order(checked, "level")
    subjects = _in_order(checked, "subject")
    x = _x("day", "Study day", domain=[0, DAY_MAX])
    colour = _levels_colour(levels)
    panels = []
    for number, analyte in enumerate(analytes):
        unit = unit_of[analyte][0]
        values = [item for item in checked if item["analyte"] == analyte]
        y = {"field": "value", "type": "quantitative", "title": f"{analyte} ({unit})"}
        tooltip = [
            {"field": "analyte", "type": "nominal", "title": "Analyte"},
            {"field": "subject", "type": "nominal", "title": "Subject"},
            {"field": "level", "type": "nominal", "title": "Dose level"},
            {"field": "day", "type": "quantitative", "title": "Day", "format": "~g"},
            {"field": "value", "type": "quantitative", "title": f"{analyte} ({unit})", "format": "~g"},
        ]
        panels.append({
            "width": "container",
            "height": 160,
            "data": {"values": values},
            "layer": [
                {
                    "mark": {"type": "line", "tooltip": True},
                    "encoding": {"x": x, "y": y, "detail": {"field": "subject", "type": "nominal"}, "color": colour,
                                 "tooltip": tooltip},
                    "name": f"lines_{number}",
                },
                {
                    "mark": {"type": "point", "filled": True, "size": 25, "opacity": 1, "tooltip": True},
                    "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
                    "name": f"points_{number}",
                },
            ],
            "name": f"analyte_{number}",
        })
    description = (
        f"Cytokines: one panel for each of {_plural(len(analytes), 'analyte')} "
        f"({', '.join(f'{a} in {unit_of[a][0]}' for a in analytes)}), each on its own scale, against study day "
        f"0 to 15; one line for each of {_plural(len(subjects), 'subject')}, coloured by dose level "
        f"({', '.join(levels)})."
    )
    spec = _base(description, title)
    spec.update({
        "vconcat": panels,
        "resolve": {"scale": {"x": "shared", "y": "independent", "color": "shared"}},
        "spacing": 12,
        "autosize": {"type": "fit-x", "contains": "padding"},
    })
    return spec
