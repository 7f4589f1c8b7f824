"""The protocol's efficacy parameters (``[response]`` in protocols/*.toml), with the defaults used when a
protocol is silent. No Django import: the protocol-file check and the endpoint pages both read it.

Defaults (docs/response.md):

- ``ref_start_window = 35``: stable disease counts for the best overall response only when assessed at least
  35 days after the first dose: the first scheduled scan is at 6 weeks with a 7-day window (BAT6005's plan),
  so SD at the earliest acceptable first scan counts. As admiralonco's ``ref_start_window``.
- ``ref_confirm = 28``: a CR or PR is confirmed by an assessment at least 28 days later (RECIST 1.1 §4.4.1).
- ``max_nr_ne = 1``: at most one NE assessment between the response and its confirmation.
- ``accept_sd = false``: an SD between a PR and its confirmation breaks the confirmation.
- ``confirmation = true``: single-arm trials report confirmed responses (RECIST 1.1 §4.4.1); ``false``
  reports the best response unconfirmed.
- ``assessment_interval_days = 42`` and ``missed_allowed = 1``: the scheduled interval between scans and
  how many scheduled scans may be missed before a progression or death is censored at the last adequate
  assessment (FDA 2018; docs/censoring.md); ``assessment_window_days = 7``: how late a scheduled scan may be
  (the imaging visits' window) before it counts as missed.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "ref_start_window": 35,
    "ref_confirm": 28,
    "max_nr_ne": 1,
    "accept_sd": False,
    "confirmation": True,
    "assessment_interval_days": 42,
    "missed_allowed": 1,
    "assessment_window_days": 7,
}
INTEGERS = {"ref_start_window": 0, "ref_confirm": 1, "max_nr_ne": 0, "assessment_interval_days": 1,
            "missed_allowed": 0, "assessment_window_days": 0}
BOOLEANS = {"accept_sd", "confirmation"}


def problems(table: Any) -> list[str]:
    """What is wrong with a protocol's ``[response]`` table, each as ``response.<key>: <problem>``."""
    if not isinstance(table, dict):
        return [f"response: expected a table, got {table!r}"]
    found = []
    for key, value in table.items():
        if key in INTEGERS:
            if not isinstance(value, int) or isinstance(value, bool):
                found.append(f"response.{key}: expected a whole number of days or assessments, got {value!r}")
            elif value < INTEGERS[key]:
                found.append(f"response.{key}: must be at least {INTEGERS[key]}, got {value}")
        elif key in BOOLEANS:
            if not isinstance(value, bool):
                found.append(f"response.{key}: expected true or false, got {value!r}")
        else:
            found.append(f"response.{key}: unknown parameter (known: {', '.join(sorted(DEFAULTS))})")
    return found


def parameters(definition: dict[str, Any]) -> dict[str, Any]:
    """The protocol's parameters over the defaults."""
    return {**DEFAULTS, **(definition.get("response") or {})}
