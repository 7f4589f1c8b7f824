"""Vega-Lite specifications of the cohort dashboard's pictures: the escalation path, cumulative enrolment per
site and overdue visits per site (docs/dashboard.md).

Each builder takes plain rows (what ``escalation.dashboard`` makes), checks them, and returns a Vega-Lite v6
specification as a dict with the data inline, for Django's ``json_script`` filter and ``static/js/charts.js``,
as ``response.charts`` and ``pk.charts`` do: only declarative Vega-Lite, so the browser draws it under the
Content-Security-Policy without ``'unsafe-eval'``. Nothing but the keys named here goes into a spec: the
``subject`` label is the only subject identifier, and the caller chooses it (a code for site staff at the
subject's site, the enrolment number "#3" otherwise). A bad row is refused with a ``ValueError`` naming the
builder, the row and the key, because Vega-Lite would draw it silently.

Only the standard library and ``trialsite.vegalite``: pure functions of their rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from trialsite.vegalite import base as _base
from trialsite.vegalite import choice as _choice
from trialsite.vegalite import count as _count
from trialsite.vegalite import get as _get
from trialsite.vegalite import number as _number
from trialsite.vegalite import plural as _plural
from trialsite.vegalite import rows as _rows
from trialsite.vegalite import text as _text
from trialsite.vegalite import where as _where

# The engine's per-subject states (escalation.selectors.escalation_evidence), in legend order.
STATES = ("N", "G", "T", "pending", "not evaluable")
STATE_LABELS = {
    "N": "No DLT (window closed)",
    "G": "Related grade ≥ 2, no DLT (titration signal)",
    "T": "DLT",
    "pending": "Pending (window open or awaiting a judgement)",
    "not evaluable": "Not evaluable (left before the window closed)",
}
# Shapes differ as well as colours (grey print, colour-blind readers); the DLT is the darkest red cross.
STATE_SHAPES = ("circle", "triangle-up", "cross", "circle", "diamond")
STATE_COLOURS = ("#1b4f8a", "#d98c1f", "#c0392b", "#c9ced6", "#7f8a96")

# What a decision between two cohorts did (escalation.dashboard.decision_kind).
KINDS = ("escalate", "stay", "de-escalate", "stop", "awaiting")
KIND_COLOURS = ("#1a7f37", "#5b6776", "#d98c1f", "#c0392b", "#9aa4b1")

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(where: str, row: Mapping, key: str) -> str:
    value = _get(where, row, key)
    if not isinstance(value, str) or not DATE.match(value):
        raise ValueError(f"{where}: {key!r} must be a date as YYYY-MM-DD, got {value!r}")
    return value


def _levels(chart: str, levels: Sequence[str]) -> list[str]:
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or not levels:
        raise ValueError(f"{chart}: levels must be a non-empty list of dose-level labels, lowest first")
    for index, label in enumerate(levels):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{chart}: levels[{index}] must be a non-empty string, got {label!r}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"{chart}: levels repeat a label: {list(levels)!r}")
    return list(levels)


# --- the escalation path ---------------------------------------------------------------------------------

def escalation_path(subjects: Sequence[Mapping], boundaries: Sequence[Mapping], levels: Sequence[str], *,
                    title: str | None = None) -> dict:
    """Each subject of the dose-escalation part at their dose level, in order of enrolment.

    ``subjects``: ``{"order": int >= 1, "subject": label, "level": label, "cohort": str, "state": one of
    STATES}``, one per subject (``order`` unique: the x position). ``boundaries``: ``{"after": number, "kind":
    one of KINDS, "label": str}``, one per decided (or awaiting) cohort: a vertical rule at ``after`` (half-way
    between the cohort's last subject and the next one's first), coloured by what the decision did and named
    above the plot. ``levels``: every dose level's label, lowest first; the y axis lists them all, highest on
    top, so the ladder shows where the path could have gone. A thin step line joins the subjects in order.
    """
    chart = "escalation_path"
    levels = _levels(chart, levels)
    points = []
    for index, row in enumerate(_rows(chart, subjects, "subjects")):
        where = _where(chart, index, row)
        order = _count(where, row, "order")
        if order < 1:
            raise ValueError(f"{where}: 'order' must be at least 1, got {order!r}")
        points.append({
            "order": order,
            "subject": _text(where, row, "subject"),
            "level": _choice(where, row, "level", levels),
            "cohort": _text(where, row, "cohort"),
            "state": _choice(where, row, "state", STATES),
        })
    seen: dict[int, int] = {}
    for index, point in enumerate(points):
        first = seen.setdefault(point["order"], index)
        if first != index:
            raise ValueError(f"{chart}: subjects[{index}]: 'order' {point['order']} repeats subjects[{first}]")
    points.sort(key=lambda p: p["order"])
    for point in points:
        point["outcome"] = STATE_LABELS[point["state"]]
    rules = []
    for index, row in enumerate(_rows(chart, boundaries, "boundaries")):
        where = f"{chart}: boundaries[{index}]"
        rules.append({"after": _number(where, row, "after", minimum=0.0),
                      "kind": _choice(where, row, "kind", KINDS), "label": _text(where, row, "label")})
    n = len(points)
    x_max = max([p["order"] for p in points] + [r["after"] for r in rules] + [1]) + 0.5
    x = {"field": "order", "type": "quantitative", "title": "Order of enrolment",
         "scale": {"domain": [0.5, x_max], "nice": False, "zero": False},
         "axis": {"tickMinStep": 1, "format": "d"}}
    y = {"field": "level", "type": "ordinal", "title": "Dose level", "sort": list(reversed(levels)),
         "scale": {"domain": list(reversed(levels))},
         "axis": {"labelLimit": 280}}  # combination levels have long labels ("LVGN6051 1 mg/kg + anlotinib 12 mg")
    tooltip = [
        {"field": "subject", "type": "nominal", "title": "Subject"},
        {"field": "order", "type": "quantitative", "title": "Enrolled"},
        {"field": "cohort", "type": "nominal", "title": "Cohort"},
        {"field": "level", "type": "ordinal", "title": "Dose level"},
        {"field": "outcome", "type": "nominal", "title": "Outcome"},
    ]
    outcomes = [STATE_LABELS[state] for state in STATES]
    legend = {"orient": "bottom", "columns": 2, "labelLimit": 320}
    counts = {state: sum(p["state"] == state for p in points) for state in STATES}
    description = (
        f"Escalation path: {_plural(n, 'subject')} of the dose-escalation part at their dose level in order of "
        f"enrolment ({counts['T']} with a DLT, {counts['G']} with a related grade ≥ 2 event without a DLT, "
        f"{counts['N']} without, {counts['pending']} pending, {counts['not evaluable']} not evaluable), and "
        f"{_plural(len(rules), 'decision')} between cohorts"
        + (f" ({', '.join(r['label'] for r in rules)})" if rules else "") + "."
    )
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": max(160, 34 * len(levels)),
        "autosize": {"type": "fit-x", "contains": "padding"},
        "layer": [
            {
                "data": {"values": rules},
                "mark": {"type": "rule", "strokeDash": [5, 3], "strokeWidth": 1.5, "tooltip": True},
                "encoding": {
                    "x": {"field": "after", "type": "quantitative"},
                    "color": {"field": "kind", "type": "nominal", "title": "Decision",
                              "scale": {"domain": list(KINDS), "range": list(KIND_COLOURS)},
                              "legend": {"orient": "bottom", "columns": 5, "symbolType": "stroke"}},
                    "tooltip": [{"field": "label", "type": "nominal", "title": "Decision"}],
                },
                "name": "decisions",
            },
            {
                "data": {"values": rules},
                "mark": {"type": "text", "angle": 270, "align": "right", "baseline": "bottom", "dx": -4,
                         "dy": -3, "fontSize": 10},
                "encoding": {
                    "x": {"field": "after", "type": "quantitative"},
                    "y": {"value": 0},
                    "text": {"field": "kind", "type": "nominal"},
                    # The rules' colour scale (shared: one "Decision" legend, each label the colour of its rule).
                    "color": {"field": "kind", "type": "nominal"},
                },
                "name": "decision_labels",
            },
            {
                "data": {"values": points},
                "mark": {"type": "line", "interpolate": "step-after", "color": "#9aa4b1", "strokeWidth": 1,
                         "aria": False},
                "encoding": {"x": x, "y": y, "order": {"field": "order", "type": "quantitative"}},
                "name": "path",
            },
            {
                "data": {"values": points},
                "mark": {"type": "point", "filled": True, "size": 110, "opacity": 1, "stroke": "#1d2733",
                         "strokeWidth": 0.6, "tooltip": True},
                "encoding": {
                    "x": x,
                    "y": y,
                    "shape": {"field": "outcome", "type": "nominal", "title": "Subject",
                              "scale": {"domain": outcomes, "range": list(STATE_SHAPES)}, "legend": legend},
                    "fill": {"field": "outcome", "type": "nominal", "title": "Subject",
                             "scale": {"domain": outcomes, "range": list(STATE_COLOURS)}, "legend": legend},
                    "tooltip": tooltip,
                },
                "name": "subjects",
            },
        ],
    })
    return spec


# --- cumulative enrolment per site -----------------------------------------------------------------------

def enrolment(rows: Sequence[Mapping], *, today: str, title: str | None = None) -> dict:
    """Cumulative enrolment over time, a step line per site.

    ``rows``: ``{"site": str, "date": "YYYY-MM-DD", "enrolled": int >= 1}``, the subjects a site enrolled on
    a day (one row per site and day). Each site's line starts at 0 on its first enrolment day, steps up by the
    day's count (``interpolate: "step-after"``) and runs flat to ``today``. Dates are calendar days drawn on a
    UTC scale, so no time zone moves a step to the day before.
    """
    chart = "enrolment"
    today = _date(chart, {"today": today}, "today")
    days: dict[str, dict[str, int]] = {}
    for index, row in enumerate(_rows(chart, rows)):
        where = f"{chart}: rows[{index}]"
        site = _text(where, row, "site")
        day = _date(where, row, "date")
        n = _count(where, row, "enrolled")
        if n < 1:
            raise ValueError(f"{where}: 'enrolled' must be at least 1, got {n!r}")
        if day > today:
            raise ValueError(f"{where}: 'date' {day} is after today ({today})")
        if day in days.setdefault(site, {}):
            raise ValueError(f"{where}: site {site!r} and date {day} repeat an earlier row; one row per site and day")
        days[site][day] = n
    values = []
    totals = {}
    for site in sorted(days):
        total = 0
        step = 0
        ordered = sorted(days[site].items())
        values.append({"site": site, "date": ordered[0][0], "cumulative": 0, "step": step})
        for day, n in ordered:
            total += n
            step += 1
            values.append({"site": site, "date": day, "cumulative": total, "step": step})
        if ordered[-1][0] < today:
            values.append({"site": site, "date": today, "cumulative": total, "step": step + 1})
        totals[site] = total
    description = (
        f"Cumulative enrolment over time, a step line for each of {_plural(len(totals), 'site')}"
        + (" (" + ", ".join(f"{site}: {_plural(n, 'subject')}" for site, n in totals.items()) + ")" if totals else "")
        + f", to {today}."
    )
    spec = _base(description, title)
    x = {"field": "date", "type": "temporal", "title": "Date of enrolment", "scale": {"type": "utc"},
         "axis": {"format": "%d %b %Y", "labelOverlap": True, "labelFlush": True}}
    y = {"field": "cumulative", "type": "quantitative", "title": "Subjects enrolled (cumulative)",
         "axis": {"tickMinStep": 1, "format": "d"}, "scale": {"domainMin": 0}}
    colour = {"field": "site", "type": "nominal", "title": "Site", "legend": {"orient": "bottom", "columns": 4}}
    spec.update({
        "width": "container",
        "height": 240,
        # Room on the right for the last date label, which Vega's fit does not count.
        "padding": {"left": 5, "top": 5, "bottom": 5, "right": 28},
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        "layer": [
            {
                "mark": {"type": "line", "interpolate": "step-after", "strokeWidth": 2},
                "encoding": {"x": x, "y": y, "color": colour, "order": {"field": "step", "type": "quantitative"}},
                "name": "lines",
            },
            {
                "mark": {"type": "point", "filled": True, "size": 30, "opacity": 1, "tooltip": True},
                "encoding": {
                    "x": x, "y": y, "color": colour,
                    "tooltip": [
                        {"field": "site", "type": "nominal", "title": "Site"},
                        {"field": "date", "type": "temporal", "title": "Date", "format": "%d %b %Y",
                         "scale": {"type": "utc"}},
                        {"field": "cumulative", "type": "quantitative", "title": "Enrolled so far"},
                    ],
                },
                "name": "points",
            },
        ],
    })
    # The tooltip channel has no scale: the UTC reading is the formatType.
    tooltip = spec["layer"][1]["encoding"]["tooltip"][1]
    del tooltip["scale"]
    tooltip["formatType"] = "utc"
    return spec


# --- overdue visits per site -----------------------------------------------------------------------------

def overdue(rows: Sequence[Mapping], *, title: str | None = None) -> dict:
    """Overdue visits per site, a bar each (sites in the order given), with the windows open now in the tooltip.

    ``rows``: ``{"site": str, "overdue": int >= 0, "open": int >= 0}``, as
    ``visits.selectors.overdue_counts_by_site`` counts them.
    """
    chart = "overdue"
    values = []
    for index, row in enumerate(_rows(chart, rows)):
        where = f"{chart}: rows[{index}]"
        values.append({"site": _text(where, row, "site"), "overdue": _count(where, row, "overdue"),
                       "open": _count(where, row, "open")})
    sites = [v["site"] for v in values]
    if len(set(sites)) != len(sites):
        raise ValueError(f"{chart}: a site repeats: {sites!r}; one row per site")
    description = (
        f"Overdue visits for each of {_plural(len(values), 'site')}"
        + (" (" + ", ".join(f"{v['site']}: {v['overdue']}" for v in values) + ")" if values else "") + "."
    )
    spec = _base(description, title)
    spec.update({
        "width": "container",
        "height": max(60, 28 * len(values)),
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        "layer": [
            {
                "mark": {"type": "bar", "color": "#c0392b", "height": {"band": 0.6}, "tooltip": True},
                "encoding": {
                    "y": {"field": "site", "type": "nominal", "sort": sites, "title": "Site"},
                    # From 0, and at least to 1: with no visit overdue anywhere the axis still reads 0 to 1.
                    "x": {"field": "overdue", "type": "quantitative", "title": "Overdue visits",
                          "axis": {"tickMinStep": 1, "format": "d"}, "scale": {"domain": {"unionWith": [0, 1]}}},
                    "tooltip": [
                        {"field": "site", "type": "nominal", "title": "Site"},
                        {"field": "overdue", "type": "quantitative", "title": "Overdue visits"},
                        {"field": "open", "type": "quantitative", "title": "Windows open now"},
                    ],
                },
                "name": "bars",
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                "encoding": {
                    "y": {"field": "site", "type": "nominal", "sort": sites},
                    "x": {"field": "overdue", "type": "quantitative"},
                    "text": {"field": "overdue", "type": "quantitative"},
                },
                "name": "labels",
            },
        ],
    })
    return spec
