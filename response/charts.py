"""Vega-Lite specifications of the efficacy pictures: waterfall, spider, swimmer and Kaplan–Meier plots.

Each builder takes plain rows (what ``response.selectors.chart_data`` makes), checks them, and returns a
Vega-Lite v6 specification as a dict with the data inline (``data.values``), ready for Django's
``json_script`` filter and ``static/js/charts.js``. The browser compiles the spec with the vendored
Vega-Lite and parses it with ``ast: true`` and the Vega expression interpreter, so the page needs no
``'unsafe-eval'`` (docs/response.md).

Why the builders are strict:

- a spec is data for a script on a page under a Content-Security-Policy: nothing but the keys named here
  goes into it, so no subject identifier other than the ``subject`` label the caller chose (a code for site
  staff, "Subject 3" for a sponsor) can leave in a picture;
- Vega-Lite draws nonsense silently (a NaN bar, a curve going up), so a bad row is refused here with a
  ``ValueError`` that names the builder, the row and the key.

The reference lines at +20 % and −30 % are the RECIST 1.1 thresholds on the sum of target-lesion
diameters (Eisenhauer et al. 2009, section 4.3.1): a decrease of at least 30 % from baseline is a partial
response; an increase of at least 20 % (and at least 5 mm) is progression. RECIST measures progression
from the nadir, not from baseline, so on a change-from-baseline picture the +20 % line is the conventional
guide, not the rule itself.

Only the standard library is imported: these are pure functions of their rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from trialsite.vegalite import base as _base
from trialsite.vegalite import choice as _choice
from trialsite.vegalite import count as _count
from trialsite.vegalite import get as _get
from trialsite.vegalite import is_number as _is_number
from trialsite.vegalite import number as _number
from trialsite.vegalite import plural as _plural
from trialsite.vegalite import rows as _rows
from trialsite.vegalite import text as _text
from trialsite.vegalite import where as _where
from trialsite.vegalite import whole as _whole

# Best overall responses as trialrules.bor names them (admiralonco's order: best first, MISSING last).
BOR_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING")
# Blue for response, grey-green for stable, red for progression, greys for not evaluable: readable for the
# common colour-vision deficiencies because the colours also differ in lightness.
BOR_COLOURS = ("#1b4f8a", "#5b9bd5", "#8fb996", "#b8c4b0", "#c0392b", "#a6a6a6", "#e0e0e0")

EVENT_KINDS = ("CR", "PR", "PD", "death")
ONGOING = "ongoing"
# Distinct shapes (not only colours) so the events can be told apart in grey print and by colour-blind readers.
EVENT_SHAPES = ("circle", "diamond", "square", "cross", "triangle-right")
EVENT_COLOURS = ("#1b4f8a", "#5b9bd5", "#c0392b", "#1d2733", "#1a7f37")

LANE_HEIGHT = 20  # pixels per swimmer lane
LANE_MIN_HEIGHT = 60

PD_LINE = 20.0
PR_LINE = -30.0
REFERENCE_LINES = (
    {"value": PD_LINE, "label": "+20 % (progression, RECIST 1.1)"},
    {"value": PR_LINE, "label": "−30 % (partial response, RECIST 1.1)"},
)

# R survival's plot.survfit marks censored times with mark = 3, a "+"; the same as an SVG path.
CENSOR_SHAPE = "M-1,0L1,0M0,-1L0,1"
ALL_SUBJECTS = "All treated"


def _unique_subjects(chart: str, rows: Sequence[Mapping]) -> None:
    """A bar per subject is drawn per *label*: two rows with one label would silently become one bar."""
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        first = seen.setdefault(row["subject"], index)
        if first != index:
            raise ValueError(f"{_where(chart, index, row)}: 'subject' repeats rows[{first}]; one row per subject")


def _reference_layer(channel: str = "y") -> dict:
    """Dashed rules at +20 % and −30 % on the percentage channel (``"y"`` in the waterfall and spider plots)."""
    return {
        "data": {"values": [dict(line) for line in REFERENCE_LINES]},
        "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#5b6776", "aria": False},
        "encoding": {
            channel: {"field": "value", "type": "quantitative"},
            "tooltip": [{"field": "label", "type": "nominal", "title": "Reference"}],
        },
        "name": f"reference_{channel}",
    }


# --- waterfall -------------------------------------------------------------------------------------------

def waterfall(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Best percentage change from baseline in the sum of target lesions, a bar per subject.

    ``rows``: ``{"subject": label, "best_pct": float, "bor": "PR", "group": "Dose level 3"}``. The bars are
    sorted from the largest increase to the largest decrease (the usual waterfall order; ties by label so the
    picture is the same on every load) and coloured by best overall response; dashed rules at +20 % and −30 %.
    ``best_pct`` cannot be below −100 % (a sum of diameters is never negative).
    """
    chart = "waterfall"
    values = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        values.append({
            "subject": _text(where, row, "subject"),
            "best_pct": _number(where, row, "best_pct", minimum=-100.0),
            "bor": _choice(where, row, "bor", BOR_ORDER),
            "group": _text(where, row, "group"),
        })
    _unique_subjects(chart, values)
    values.sort(key=lambda v: (-v["best_pct"], v["subject"]))
    description = (
        f"Waterfall plot: best percentage change from baseline in the sum of target-lesion diameters for "
        f"{_plural(len(values), 'subject')}, one bar each, sorted from the largest increase to the largest "
        f"decrease and coloured by best overall response. Dashed lines at +20 % and −30 % (RECIST 1.1)."
    )
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 320,
        "layer": [
            {
                "data": {"values": values},
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "x": {"field": "subject", "type": "nominal", "sort": None, "title": "Subject",
                          "axis": {"labelAngle": -60, "labelOverlap": True}},
                    "y": {"field": "best_pct", "type": "quantitative", "title": "Best % change from baseline"},
                    "color": {"field": "bor", "type": "nominal", "title": "Best overall response",
                              "scale": {"domain": list(BOR_ORDER), "range": list(BOR_COLOURS)}},
                    "tooltip": [
                        {"field": "subject", "type": "nominal", "title": "Subject"},
                        {"field": "group", "type": "nominal", "title": "Group"},
                        {"field": "best_pct", "type": "quantitative", "title": "Best % change", "format": ".1f"},
                        {"field": "bor", "type": "nominal", "title": "Best overall response"},
                    ],
                },
                "name": "bars",
            },
            _reference_layer(),
        ],
    })
    return spec


# --- spider ----------------------------------------------------------------------------------------------

def spider(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Percentage change from baseline in the sum of target lesions over weeks since the first dose.

    ``rows``: ``{"subject": label, "week": float, "pct": float, "group": str}``, one per assessment (the
    baseline as week 0, 0 %). One line per subject (``detail``), coloured by group, points at the
    assessments, dashed rules at +20 % and −30 %. The rows stay in the order given: Vega-Lite orders a line's
    points by x itself.
    """
    chart = "spider"
    values = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        values.append({
            "subject": _text(where, row, "subject"),
            "week": _number(where, row, "week", minimum=0.0),
            "pct": _number(where, row, "pct", minimum=-100.0),
            "group": _text(where, row, "group"),
        })
    subjects = len({v["subject"] for v in values})
    description = (
        f"Spider plot: percentage change from baseline in the sum of target-lesion diameters over weeks since "
        f"the first dose, one line for each of {_plural(subjects, 'subject')}, coloured by group. Dashed lines "
        f"at +20 % and −30 % (RECIST 1.1)."
    )
    x = {"field": "week", "type": "quantitative", "title": "Weeks since first dose", "scale": {"domainMin": 0}}
    y = {"field": "pct", "type": "quantitative", "title": "% change from baseline"}
    colour = {"field": "group", "type": "nominal", "title": "Group"}
    tooltip = [
        {"field": "subject", "type": "nominal", "title": "Subject"},
        {"field": "group", "type": "nominal", "title": "Group"},
        {"field": "week", "type": "quantitative", "title": "Week", "format": ".1f"},
        {"field": "pct", "type": "quantitative", "title": "% change", "format": ".1f"},
    ]
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": 320,
        "data": {"values": values},
        "layer": [
            {
                "mark": {"type": "line", "tooltip": True},
                "encoding": {
                    "x": x,
                    "y": y,
                    "detail": {"field": "subject", "type": "nominal"},
                    "color": colour,
                    "tooltip": tooltip,
                },
                "name": "lines",
            },
            {
                "mark": {"type": "point", "filled": True, "size": 30, "opacity": 1, "tooltip": True},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
                "name": "points",
            },
            _reference_layer(),
        ],
    })
    return spec


# --- swimmer ---------------------------------------------------------------------------------------------

def swimmer(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Weeks on treatment, a lane per subject, with responses, progression and death marked.

    ``rows``: ``{"subject": label, "weeks_on_treatment": float, "ongoing": bool, "group": str,
    "events": [{"week": float, "kind": "CR" | "PR" | "PD" | "death"}]}``. Lanes are sorted longest first;
    bars are coloured by group; each event is a point with its own shape and colour, and a subject still on
    treatment gets a right-pointing triangle at the end of the bar (kind ``"ongoing"`` in the legend). An
    event may lie beyond the bar (progression or death in follow-up after treatment ended).
    """
    chart = "swimmer"
    lanes = []
    marks = []
    for index, row in enumerate(_rows(chart, rows)):
        where = _where(chart, index, row)
        subject = _text(where, row, "subject")
        weeks = _number(where, row, "weeks_on_treatment", minimum=0.0)
        ongoing = _get(where, row, "ongoing")
        if not isinstance(ongoing, bool):
            raise ValueError(f"{where}: 'ongoing' must be true or false, got {ongoing!r}")
        group = _text(where, row, "group")
        events = _rows(f"{where} events", _get(where, row, "events"), "events")
        lanes.append({"subject": subject, "weeks_on_treatment": weeks, "ongoing": ongoing, "group": group})
        for e_index, event in enumerate(events):
            e_where = f"{where}: events[{e_index}]"
            marks.append({"subject": subject, "week": _number(e_where, event, "week"),
                          "kind": _choice(e_where, event, "kind", EVENT_KINDS)})
        if ongoing:
            marks.append({"subject": subject, "week": weeks, "kind": ONGOING})
    _unique_subjects(chart, lanes)
    lanes.sort(key=lambda v: (-v["weeks_on_treatment"], v["subject"]))
    order = [lane["subject"] for lane in lanes]
    rank = {subject: i for i, subject in enumerate(order)}
    kinds = (*EVENT_KINDS, ONGOING)
    marks.sort(key=lambda m: (rank[m["subject"]], m["week"], kinds.index(m["kind"])))
    description = (
        f"Swimmer plot: weeks on treatment for {_plural(len(lanes), 'subject')}, one bar each, longest first, "
        f"coloured by group; complete response, partial response, progression and death marked with distinct "
        f"shapes; a triangle at the end of the bar for the {sum(lane['ongoing'] for lane in lanes)} still on "
        f"treatment."
    )
    spec = _base(description, title)
    y = {"field": "subject", "type": "nominal", "sort": order, "title": "Subject"}
    # Under the lanes: a legend beside a plot only a few lanes high would be cut off by Vega's fit-x sizing.
    # Groups below the lanes, events above them: two legends side by side below would run past the card.
    legend = {"orient": "bottom", "columns": 3, "labelLimit": 220}
    event_legend = {"orient": "top", "columns": 5}
    spec.update({
        "width": "container",
        # A number, not {"step": ...}: Vega-Lite warns of a dropped fit-y whenever a container width meets a
        # step height. The band scale divides it into the lanes.
        "height": max(LANE_MIN_HEIGHT, LANE_HEIGHT * len(lanes)),
        "autosize": {"type": "fit-x", "contains": "padding"},
        "layer": [
            {
                "data": {"values": lanes},
                "mark": {"type": "bar", "height": {"band": 0.6}, "tooltip": True},
                "encoding": {
                    "y": y,
                    "x": {"field": "weeks_on_treatment", "type": "quantitative", "title": "Weeks since first dose",
                          "scale": {"domainMin": 0}},
                    "color": {"field": "group", "type": "nominal", "title": "Group", "legend": legend},
                    "tooltip": [
                        {"field": "subject", "type": "nominal", "title": "Subject"},
                        {"field": "group", "type": "nominal", "title": "Group"},
                        {"field": "weeks_on_treatment", "type": "quantitative", "title": "Weeks on treatment",
                         "format": ".1f"},
                    ],
                },
                "name": "lanes",
            },
            {
                "data": {"values": marks},
                "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1, "tooltip": True},
                "encoding": {
                    "y": y,
                    "x": {"field": "week", "type": "quantitative"},
                    "shape": {"field": "kind", "type": "nominal", "title": "Event",
                              "scale": {"domain": list(kinds), "range": list(EVENT_SHAPES)}, "legend": event_legend},
                    "fill": {"field": "kind", "type": "nominal", "title": "Event",
                             "scale": {"domain": list(kinds), "range": list(EVENT_COLOURS)}, "legend": event_legend},
                    "tooltip": [
                        {"field": "subject", "type": "nominal", "title": "Subject"},
                        {"field": "kind", "type": "nominal", "title": "Event"},
                        {"field": "week", "type": "quantitative", "title": "Week", "format": ".1f"},
                    ],
                },
                "name": "events",
            },
        ],
    })
    return spec


# --- Kaplan–Meier ----------------------------------------------------------------------------------------

def _curve(chart: str, index: int, entry: Mapping, n_times: int) -> tuple[str, list[dict], list[int]]:
    where = f"{chart}: curves[{index}]"
    group = _get(where, entry, "group")
    if group is None:
        group = ALL_SUBJECTS
    elif not isinstance(group, str) or not group.strip():
        raise ValueError(f"{where}: 'group' must be a non-empty string or None, got {group!r}")
    where = f"{where} (group {group!r})"
    points = _rows(f"{where}", _get(where, entry, "curve"), "curve")
    checked = []
    previous: dict | None = None
    for p_index, point in enumerate(points):
        p_where = f"{where}: curve[{p_index}]"
        item = {
            "time": _number(p_where, point, "time", minimum=0.0),
            "n_risk": _count(p_where, point, "n_risk"),
            "n_event": _count(p_where, point, "n_event"),
            "survival": _number(p_where, point, "survival", minimum=0.0, maximum=1.0),
        }
        for key in ("lower", "upper"):
            bound = point.get(key)
            item[key] = None if bound is None else _number(p_where, point, key, minimum=0.0, maximum=1.0)
        if item["lower"] is not None and item["upper"] is not None and item["lower"] > item["upper"]:
            raise ValueError(f"{p_where}: 'lower' {item['lower']!r} is above 'upper' {item['upper']!r}")
        if item["n_event"] > item["n_risk"]:
            raise ValueError(f"{p_where}: 'n_event' {item['n_event']} exceeds 'n_risk' {item['n_risk']}")
        if previous is not None:
            # A Kaplan–Meier estimate is a product of (1 - d/n) factors: time only goes forward and the
            # survival never rises (R survival's survfit gives one row per distinct time, in order).
            if item["time"] <= previous["time"]:
                raise ValueError(f"{p_where}: 'time' {item['time']!r} is not after the previous {previous['time']!r}")
            if item["survival"] > previous["survival"] + 1e-12:
                raise ValueError(f"{p_where}: 'survival' {item['survival']!r} rises above the previous "
                                 f"{previous['survival']!r}")
        checked.append(item)
        previous = item
    at_risk = _get(where, entry, "at_risk")
    if isinstance(at_risk, (str, bytes)) or not isinstance(at_risk, Sequence) or len(at_risk) != n_times:
        raise ValueError(f"{where}: 'at_risk' must be a list of {n_times} counts (one per at-risk time), "
                         f"got {at_risk!r}")
    counts = [_whole(n) for n in at_risk]
    for t_index, (n, count) in enumerate(zip(at_risk, counts, strict=True)):
        if count is None:
            raise ValueError(f"{where}: 'at_risk'[{t_index}] must be a whole number (>= 0), got {n!r}")
    return group, checked, counts


def kaplan_meier(curves: Sequence[Mapping], at_risk_times: Sequence[float], *, x_title: str = "Months",
                 ci: bool = True, title: str | None = None) -> dict:
    """Kaplan–Meier curves with censor marks, optional confidence bands and a numbers-at-risk table.

    ``curves``: ``[{"group": str | None, "curve": [{"time", "n_risk", "n_event", "survival", "lower",
    "upper"}], "at_risk": [int per at_risk_time]}]``; ``group`` None is the single curve of all treated
    subjects. The curve is drawn as R survival's ``plot.survfit`` draws it: a right-continuous step function
    (Vega-Lite ``interpolate: "step-after"``) that starts at time 0 with survival 1 (added here unless the
    curve already starts there), a "+" at each time where only censoring happened (``n_event == 0``: R's
    ``mark.time``), and, with ``ci``, the pointwise interval as a step band where both bounds exist. Under
    the curves a text row per group gives the number at risk at each of ``at_risk_times`` (as
    ``summary(fit, times = ...)``), on the same x scale; the x axis ticks are those times.
    """
    chart = "kaplan_meier"
    _rows(chart, curves, "curves")
    if not curves:
        raise ValueError(f"{chart}: curves must hold at least one curve")
    if isinstance(at_risk_times, (str, bytes)) or not isinstance(at_risk_times, Sequence) or not at_risk_times:
        raise ValueError(f"{chart}: at_risk_times must be a non-empty list of times, got {at_risk_times!r}")
    times = []
    for index, t in enumerate(at_risk_times):
        if not _is_number(t) or not math.isfinite(t) or t < 0:
            raise ValueError(f"{chart}: at_risk_times[{index}] must be a finite time >= 0, got {t!r}")
        if times and t <= times[-1]:
            raise ValueError(f"{chart}: at_risk_times[{index}] {t!r} is not after the previous {times[-1]!r}")
        times.append(float(t))
    if not isinstance(x_title, str) or not x_title.strip():
        raise ValueError(f"{chart}: x_title must be a non-empty string, got {x_title!r}")

    steps: list[dict] = []
    censored: list[dict] = []
    at_risk_rows: list[dict] = []
    groups: list[str] = []
    for index, entry in enumerate(curves):
        group, points, at_risk = _curve(chart, index, entry, len(times))
        if group in groups:
            raise ValueError(f"{chart}: curves[{index}]: 'group' {group!r} repeats an earlier curve")
        groups.append(group)
        if not points or points[0]["time"] > 0 or points[0]["survival"] < 1:
            steps.append({"group": group, "time": 0.0, "survival": 1.0, "lower": 1.0, "upper": 1.0})
        for point in points:
            steps.append({"group": group, "time": point["time"], "survival": point["survival"],
                          "lower": point["lower"], "upper": point["upper"]})
            if point["n_event"] == 0:
                censored.append({"group": group, "time": point["time"], "survival": point["survival"],
                                 "n_risk": point["n_risk"]})
        at_risk_rows.extend({"group": group, "time": t, "n_risk": n} for t, n in zip(times, at_risk, strict=True))

    x_max = max([times[-1], *(s["time"] for s in steps)])
    x_scale = {"domain": [0, x_max], "nice": False, "zero": True}
    colour = {"field": "group", "type": "nominal", "title": "Group", "scale": {"domain": groups},
              # Inside the plot: a legend beside it would shift the curves off the at-risk table's x axis.
              "legend": None if groups == [ALL_SUBJECTS] else {"orient": "top-right", "symbolType": "stroke",
                                                               "symbolOpacity": 1, "symbolStrokeWidth": 2}}
    tooltip = [
        {"field": "group", "type": "nominal", "title": "Group"},
        {"field": "time", "type": "quantitative", "title": x_title, "format": ".1f"},
        {"field": "survival", "type": "quantitative", "title": "Survival", "format": ".3f"},
    ]
    curve_layers: list[dict] = []
    if ci:
        bands = [s for s in steps if s["lower"] is not None and s["upper"] is not None]
        curve_layers.append({
            "data": {"values": bands},
            "mark": {"type": "area", "interpolate": "step-after", "opacity": 0.15, "aria": False},
            "encoding": {
                "x": {"field": "time", "type": "quantitative"},
                "y": {"field": "lower", "type": "quantitative"},
                "y2": {"field": "upper"},
                "color": colour,
            },
            "name": "ci",
        })
    curve_layers.append({
        "data": {"values": steps},
        "mark": {"type": "line", "interpolate": "step-after", "tooltip": True},
        "encoding": {
            "x": {"field": "time", "type": "quantitative", "title": x_title, "scale": x_scale,
                  "axis": {"values": times, "format": "~g"}},
            "y": {"field": "survival", "type": "quantitative", "title": "Survival probability",
                  "scale": {"domain": [0, 1]}, "axis": {"format": ".1f"}},
            "color": colour,
            "tooltip": tooltip,
        },
        "name": "curves",
    })
    curve_layers.append({
        "data": {"values": censored},
        "mark": {"type": "point", "shape": CENSOR_SHAPE, "filled": False, "size": 50, "strokeWidth": 1.5,
                 "tooltip": True},
        "encoding": {
            "x": {"field": "time", "type": "quantitative"},
            "y": {"field": "survival", "type": "quantitative"},
            "color": colour,
            "tooltip": [*tooltip, {"field": "n_risk", "type": "quantitative", "title": "At risk"}],
        },
        "name": "censored",
    })
    description = (
        f"Kaplan–Meier plot: survival probability (0 to 1) against {x_title.lower()}, a step curve for each of "
        f"{_plural(len(groups), 'group')} ({', '.join(groups)}), with + marks at censored times"
        f"{' and shaded 95 % confidence bands' if ci else ''}; beneath it, the number at risk at "
        f"{', '.join(f'{t:g}' for t in times)}."
    )
    spec = _base(description, title)
    spec.update({
        "vconcat": [
            {"width": "container", "height": 280, "layer": curve_layers, "name": "survival"},
            {
                "width": "container",
                "height": {"step": 16},
                "title": {"text": "Number at risk", "fontSize": 11, "anchor": "start", "fontWeight": "normal"},
                "data": {"values": at_risk_rows},
                "mark": {"type": "text", "fontSize": 11},
                "encoding": {
                    "x": {"field": "time", "type": "quantitative", "scale": x_scale, "axis": None},
                    "y": {"field": "group", "type": "nominal", "sort": groups, "title": None,
                          "axis": {"domain": False, "ticks": False, "labelPadding": 14}},
                    "text": {"field": "n_risk", "type": "quantitative"},
                    "color": colour,
                },
                "name": "at_risk",
            },
        ],
        "resolve": {"scale": {"x": "shared", "color": "shared"}},
        "spacing": 6,
        "autosize": {"type": "fit-x", "contains": "padding"},
    })
    return spec
