"""Formatting of endpoint figures: rates as percentages with their exact interval, medians in months."""

from __future__ import annotations

from django import template

from response.selectors import DAYS_PER_MONTH

register = template.Library()


@register.filter
def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def rate_ci(rate: dict) -> str:
    """``3/12 = 25.0 % (5.5–57.2)``: responders over n, the rate and its exact 95 % interval."""
    if not rate or rate.get("rate") is None:
        return "—"
    return f"{rate['k']}/{rate['n']} = {rate['rate'] * 100:.1f} % ({rate['lower'] * 100:.1f}–{rate['upper'] * 100:.1f})"


def _number(value) -> str:
    return "NR" if value is None else f"{value:.1f}"


@register.filter
def median_ci(estimate) -> str:
    """``7.2 (4.1–NR)``: a Kaplan–Meier median in months and its 95 % interval; NR when not reached."""
    if estimate is None:
        return "—"
    return f"{_number(estimate.median)} ({_number(estimate.lower)}–{_number(estimate.upper)})"


@register.filter
def months(days) -> str:
    return "—" if days is None else f"{days / DAYS_PER_MONTH:.1f}"


@register.filter
def day_of(value, start) -> str:
    """Study day of ``value`` counted from ``start`` (day 1): what a sponsor sees instead of a date."""
    if value is None or start is None:
        return "—"
    return f"day {(value - start).days + 1}"
