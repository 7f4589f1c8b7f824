"""Map a protocol definition (the parsed ``protocols/*.toml`` dict) to an escalation :class:`Design`.

Pure: no Django, no database. Mirrors what ``trials.services.protocol_load`` stores and
``escalation.selectors.engine_design`` rebuilds (titration only for design ``titration+3+3``; the
same defaults for the other parameters), so the command-line tools decide exactly as the application.
"""

from __future__ import annotations

from typing import Any

from trialrules.escalation import Design

__all__ = ["ProtocolDesignError", "design_from_protocol"]


class ProtocolDesignError(ValueError):
    """The protocol has no escalation design the engine can run."""


def design_from_protocol(data: dict[str, Any]) -> Design:
    code = data.get("code", "?")
    esc = data.get("escalation")
    if not isinstance(esc, dict) or "design" not in esc:
        raise ProtocolDesignError(f"protocol {code}: no [escalation] design")
    design = esc["design"]
    if design == "fixed":
        raise ProtocolDesignError(f"protocol {code}: design 'fixed' does not escalate (one fixed dose)")
    if design not in ("titration+3+3", "3+3"):
        raise ProtocolDesignError(f"protocol {code}: unknown escalation design {design!r}")
    levels = data.get("dose_levels") or []
    if not levels:
        raise ProtocolDesignError(f"protocol {code}: no dose levels")
    try:
        return Design(
            n_levels=len(levels),
            titration_levels=esc.get("titration_levels", 0) if design == "titration+3+3" else 0,
            titration_expand=esc.get("titration_expand", 2),
            cohort_size=esc.get("cohort_size", 3),
            allow_deescalate=bool(esc.get("allow_deescalate", False)),
            six_to_declare=bool(esc.get("six_to_declare", False)),
        )
    except ValueError as exc:
        raise ProtocolDesignError(f"protocol {code}: {exc}") from exc


def level_labels(data: dict[str, Any]) -> list[str]:
    """Dose-level labels in protocol order ("10 mg", ...), for readable rationales."""
    return [str(level.get("label", f"level {i}")) for i, level in enumerate(data.get("dose_levels") or [], 1)]
