"""What every Vega-Lite specification builder shares (``response.charts``, ``pk.charts``): strict reading of the
caller's rows, each refusal a ``ValueError`` naming the builder, the row and the key, and the base of a spec.
Standard library only: pure functions of their rows."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


def where(chart: str, index: int, row: Any) -> str:
    label = row.get("subject") if isinstance(row, Mapping) else None
    return f"{chart}: rows[{index}]" + (f" (subject {label!r})" if isinstance(label, str) else "")


def rows(chart: str, rows: Any, name: str = "rows") -> Sequence[Mapping]:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise ValueError(f"{chart}: {name} must be a list of rows, got {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"{chart}: {name}[{index}] must be a mapping, got {type(row).__name__}")
    return rows


def get(where: str, row: Mapping, key: str) -> Any:
    if key not in row:
        raise ValueError(f"{where}: missing key {key!r}")
    return row[key]


def is_number(value: Any) -> bool:
    """A real number: int, float, Decimal or a numpy scalar (numbers.Real), never a bool."""
    return not isinstance(value, bool) and isinstance(value, (numbers.Real, Decimal))


def number(where: str, row: Mapping, key: str, *, minimum: float | None = None,
            maximum: float | None = None) -> float:
    value = get(where, row, key)
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {key!r} must be at least {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{where}: {key!r} must be at most {maximum:g}, got {value!r}")
    return float(value)


def whole(value: Any) -> int | None:
    """``value`` as an int if it is a whole number >= 0 (5, numpy.int64(5), 5.0 as statsmodels counts), else None."""
    if not is_number(value) or not math.isfinite(value) or value < 0 or value != int(value):
        return None
    return int(value)


def count(where: str, row: Mapping, key: str) -> int:
    value = get(where, row, key)
    count = whole(value)
    if count is None:
        raise ValueError(f"{where}: {key!r} must be a whole number of subjects (>= 0), got {value!r}")
    return count


def text(where: str, row: Mapping, key: str) -> str:
    value = get(where, row, key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def choice(where: str, row: Mapping, key: str, allowed: Sequence[str]) -> str:
    value = get(where, row, key)
    if value not in allowed:
        raise ValueError(f"{where}: {key!r} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def base(description: str, title: str | None) -> dict:
    spec: dict[str, Any] = {"$schema": SCHEMA, "description": description}
    if title:
        spec["title"] = {"text": title, "anchor": "start"}
    spec["config"] = {"font": "system-ui, sans-serif", "view": {"stroke": None}}
    return spec


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
