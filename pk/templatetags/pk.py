"""Formatting of PK numbers: significant digits, the summary cells, the λz times."""

from __future__ import annotations

from django import template

from pk.selectors import fmt

register = template.Library()


@register.filter
def pkfmt(value, digits=3):
    return fmt(value, int(digits))


@register.filter
def join_hours(times):
    return ", ".join(fmt(t, 4) for t in times or ())


MG_PER_L = ("ug/mL", "µg/mL", "mg/L")


@register.filter
def pk_unit(kind: str, conc_unit: str) -> str:
    """The unit of a parameter of ``kind`` for concentrations in ``conc_unit`` and doses in mg (both antibodies):
    CL = dose/AUC is mg/(µg/mL·h) = L/h, Vz = CL/λz is L."""
    litres = conc_unit in MG_PER_L
    units = {"conc": conc_unit, "h": "h", "auc": f"{conc_unit}·h", "%": "%", "1/h": "1/h",
             "cl": "L/h" if litres else f"mg/({conc_unit}·h)", "vz": "L" if litres else f"mg/({conc_unit})"}
    return units.get(kind, "")


@register.filter
def summary_cell(summary, key: str) -> str:
    """n, geometric mean (geometric CV %), median [min – max]; Tmax: n, median [min – max]."""
    if summary is None or not summary.n:
        return "–"
    spread = f"{fmt(summary.median)} [{fmt(summary.minimum)} – {fmt(summary.maximum)}]"
    if key in ("tmax", "tlast"):
        return f"{summary.n}: {spread}"
    if summary.geo_mean is None:
        return f"{summary.n}: median {spread}"
    cv = f" ({fmt(summary.geo_cv_pct)} %)" if summary.geo_cv_pct is not None else ""  # a CV needs 2 values
    return f"{summary.n}: {fmt(summary.geo_mean)}{cv}, {spread}"
