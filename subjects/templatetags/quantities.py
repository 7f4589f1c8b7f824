"""Numbers with their units in the pages: ``{% load quantities %}``.

``{{ dose.dose|with_unit:dose.unit }}`` → ``10 mg`` (never ``1E+1`` — ``Decimal.normalize()`` alone prints
exponents for round numbers — and never a bare number: a missing unit is shown as missing).
``{{ value|plain }}`` is the number alone, for the places whose unit is written beside it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()

MISSING_UNIT = "(unit not recorded)"


def plain_number(value) -> str:
    """``Decimal("10.000")`` → ``"10"``, ``64.50`` → ``"64.5"``; empty for None."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def quantity_text(value, unit: str) -> str:
    """The amount with its unit (``10 mg``, ``1 mg/kg``)."""
    if value is None or value == "":
        return ""
    return f"{plain_number(value)} {unit or MISSING_UNIT}"


@register.filter
def plain(value) -> str:
    return plain_number(value)


@register.filter
def with_unit(value, unit) -> str:
    return quantity_text(value, unit)
