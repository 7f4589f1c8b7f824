"""A protocol's parts (``[[parts]]`` of its file): what comes after dose escalation. Pure Python, no Django.

Each part is one of

``escalation``  the dose-finding part (BAT6005 Part 1, LVGN6051's phase Ib): cohorts opened one after another
                by the signed escalation decisions; exactly one, first, when the trial escalates.
``extension``   cohorts at doses chosen when the RP2D is declared (``dose = "chosen"``, BAT6005 Part 2: 1–2
                cohorts of at least 6 at dose(s) at or below the MTD/MAD, in chosen tumour types);
``expansion``   a phase II at the recommended phase II dose (``dose = "rp2d"``, LVGN6051's phase II);
``single-arm``  a phase II at a fixed dose, open from the start (``dose = "<level label>"``, QL1706).

A later part has ``opens_after = "rp2d"`` (it opens when the RP2D declaration is signed by the sponsor and
the principal investigator) unless it is open from the start (``single-arm``). Its cohorts are declared in
``[[parts.cohorts]]`` (``code``, ``name``, ``size``, optional ``tumour_types``) or, with ``dose = "chosen"``,
chosen at the declaration within ``cohorts_min``..``cohorts_max`` cohorts of at least ``min_cohort_size``.
Eligibility differences: ``[[parts.eligibility]]`` criteria (the ``[[eligibility]]`` format) are added, or
replace the protocol's criterion of the same code; ``drop_eligibility = [codes]`` removes criteria.

A protocol without ``[[parts]]`` has one implicit part: its dose escalation, or a single-arm part at its only
dose level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialrules import eligibility

KINDS = ("escalation", "extension", "expansion", "single-arm")
OPENS_AFTER = ("", "rp2d")
# The implicit single-arm part of a fixed-dose protocol without [[parts]] declares no target size: it never fills.
UNBOUNDED_SIZE = 32767


class PartsError(ValueError):
    """A protocol's ``[[parts]]`` cannot be used; the message names the field."""


@dataclass(frozen=True)
class PartCohort:
    code: str
    name: str
    size: int
    tumour_types: tuple[str, ...] = ()
    dose: str = ""  # a dose level's label; empty: the part's dose


@dataclass(frozen=True)
class PartSpec:
    code: str
    name: str
    kind: str
    order: int
    opens_after: str = ""
    dose: str = ""  # "rp2d", "chosen", a level label, or "" (escalation)
    cohorts: tuple[PartCohort, ...] = ()
    cohorts_min: int = 1
    cohorts_max: int = 1
    min_cohort_size: int = 1
    tumour_types: str | tuple[str, ...] = ()  # "chosen" or a list
    eligibility: tuple[dict, ...] = ()
    drop_eligibility: tuple[str, ...] = ()
    definition: dict = field(default_factory=dict, compare=False)

    @property
    def target_size(self) -> int | None:
        return sum(c.size for c in self.cohorts) if self.cohorts else None


def _text(table: Mapping, key: str, where: str, *, required: bool = True, default: str = "") -> str:
    value = table.get(key, None)
    if value is None:
        if required:
            raise PartsError(f"{where}.{key}: missing")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise PartsError(f"{where}.{key}: expected text, got {value!r}")
    return value.strip()


def _whole(table: Mapping, key: str, where: str, default: int | None = None, minimum: int = 1) -> int:
    value = table.get(key, default)
    if value is None:
        raise PartsError(f"{where}.{key}: missing")
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise PartsError(f"{where}.{key}: need a whole number of at least {minimum}, got {value!r}")
    return value


def _types(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise PartsError(f"{where}: need a list of tumour types (text), got {value!r}")
    return tuple(t.strip() for t in value)


def _slug(value: str, where: str) -> str:
    if not all(c.isalnum() or c in "-_" for c in value) or len(value) > 40:
        raise PartsError(f"{where}: {value!r} must be letters, digits, '-' or '_' (at most 40)")
    return value


def _coded(table: Any, where: str, seen: set[str], scope: str = "") -> str:
    """The ``code`` of a table, checked and unique among ``seen`` (which it joins)."""
    if not isinstance(table, Mapping):
        raise PartsError(f"{where}: expected a table")
    code = _slug(_text(table, "code", where), f"{where}.code")
    if code in seen:
        raise PartsError(f"{where}.code: {code!r} appears twice{scope}")
    seen.add(code)
    return code


def parse_parts(definition: Mapping[str, Any]) -> list[PartSpec]:
    """The protocol's parts, checked (or the implicit one). Raises :class:`PartsError` naming the field."""
    design = definition.get("escalation", {}).get("design")
    escalates = design != "fixed"
    labels = [lv.get("label") for lv in definition.get("dose_levels", [])]
    raw = definition.get("parts")
    if raw is None:
        if escalates:
            return [PartSpec(code="escalation", name="Dose escalation", kind="escalation", order=1)]
        return [PartSpec(code="single-arm", name="Single arm", kind="single-arm", order=1, dose=labels[0] if labels
                         else "", cohorts=(PartCohort(code="ARM", name="Single arm", size=UNBOUNDED_SIZE),))]
    if not isinstance(raw, list) or not raw:
        raise PartsError("parts: need a list of [[parts]] tables")
    protocol_codes = {c.get("code") for c in definition.get("eligibility", []) if isinstance(c, Mapping)}
    parts: list[PartSpec] = []
    seen: set[str] = set()
    cohort_codes: set[str] = set()
    for order, table in enumerate(raw, 1):
        where = f"parts[{order}]"
        code = _coded(table, where, seen)
        name = _text(table, "name", where)
        kind = _text(table, "kind", where)
        if kind not in KINDS:
            raise PartsError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        opens_after = _text(table, "opens_after", where, required=False)
        if opens_after not in OPENS_AFTER:
            raise PartsError(f"{where}.opens_after: {opens_after!r} is not one of \"\", \"rp2d\"")
        if kind == "escalation":
            if not escalates:
                raise PartsError(f"{where}.kind: a fixed-dose protocol (escalation.design = \"fixed\") has no "
                                 "dose-escalation part")
            if order != 1:
                raise PartsError(f"{where}.kind: the dose-escalation part must be the first part")
            if opens_after or "dose" in table or "cohorts" in table:
                raise PartsError(f"{where}: the dose-escalation part takes no opens_after, dose or cohorts (its "
                                 "cohorts are opened by the escalation decisions)")
            parts.append(PartSpec(code=code, name=name, kind=kind, order=order, definition=dict(table),
                                  **_eligibility_differences(table, where, protocol_codes)))
            continue
        if opens_after == "rp2d" and not escalates:
            raise PartsError(f"{where}.opens_after: \"rp2d\" needs a dose-escalation part (this protocol is "
                             "fixed-dose)")
        if kind in ("extension", "expansion") and opens_after != "rp2d":
            raise PartsError(f"{where}.opens_after: an {kind} part opens after the RP2D: set opens_after = \"rp2d\"")
        dose = _text(table, "dose", where)
        if dose == "rp2d":
            if opens_after != "rp2d":
                raise PartsError(f"{where}.dose: \"rp2d\" needs opens_after = \"rp2d\"")
        elif dose == "chosen":
            if kind != "extension":
                raise PartsError(f"{where}.dose: \"chosen\" doses are for an extension part")
        elif dose not in labels:
            raise PartsError(f"{where}.dose: {dose!r} is not \"rp2d\", \"chosen\" or a dose level's label "
                             f"({', '.join(map(repr, labels))})")
        types: str | tuple[str, ...] = ()
        if "tumour_types" in table:
            types = "chosen" if table["tumour_types"] == "chosen" else _types(table["tumour_types"],
                                                                                  f"{where}.tumour_types")
        cohorts: list[PartCohort] = []
        cohorts_min = cohorts_max = 1
        min_size = 1
        if dose == "chosen":
            if "cohorts" in table:
                raise PartsError(f"{where}.cohorts: with dose = \"chosen\" the cohorts are chosen when the RP2D is "
                                 "declared: give cohorts_min, cohorts_max and min_cohort_size instead")
            cohorts_min = _whole(table, "cohorts_min", where, default=1)
            cohorts_max = _whole(table, "cohorts_max", where, default=cohorts_min)
            if cohorts_max < cohorts_min:
                raise PartsError(f"{where}.cohorts_max: {cohorts_max} is below cohorts_min ({cohorts_min})")
            min_size = _whole(table, "min_cohort_size", where, default=1)
        else:
            entries = table.get("cohorts")
            if not isinstance(entries, list) or not entries:
                raise PartsError(f"{where}.cohorts: need at least one [[parts.cohorts]] table (code, name, size)")
            for i, entry in enumerate(entries, 1):
                cw = f"{where}.cohorts[{i}]"
                ccode = _coded(entry, cw, cohort_codes, " in the protocol")
                cdose = _text(entry, "dose", cw, required=False)
                if cdose and cdose not in labels:
                    raise PartsError(f"{cw}.dose: {cdose!r} is not a dose level's label")
                ctypes = _types(entry["tumour_types"], f"{cw}.tumour_types") if "tumour_types" in entry else ()
                cohorts.append(PartCohort(code=ccode, name=_text(entry, "name", cw), size=_whole(entry, "size", cw),
                                          tumour_types=ctypes, dose=cdose))
            cohorts_min = cohorts_max = len(cohorts)
        parts.append(PartSpec(
            code=code, name=name, kind=kind, order=order, opens_after=opens_after, dose=dose,
            cohorts=tuple(cohorts), cohorts_min=cohorts_min, cohorts_max=cohorts_max, min_cohort_size=min_size,
            tumour_types=types, definition=dict(table), **_eligibility_differences(table, where, protocol_codes),
        ))
    if escalates and parts[0].kind != "escalation":
        raise PartsError("parts[1].kind: an escalating protocol's first part is its dose escalation")
    return parts


def _eligibility_differences(table: Mapping, where: str, protocol_codes: set) -> dict:
    extra = table.get("eligibility", [])
    if not isinstance(extra, list):
        raise PartsError(f"{where}.eligibility: need a list of [[parts.eligibility]] tables")
    codes = set()
    for i, data in enumerate(extra, 1):
        try:
            criterion = eligibility.criterion_from_data(data, where=f"{where}.eligibility[{i}]")
        except eligibility.CriteriaError as exc:
            raise PartsError(str(exc)) from None
        if criterion.code in codes:
            raise PartsError(f"{where}.eligibility[{i}].code: {criterion.code!r} appears twice")
        codes.add(criterion.code)
    dropped = table.get("drop_eligibility", [])
    if not isinstance(dropped, list) or not all(isinstance(c, str) for c in dropped):
        raise PartsError(f"{where}.drop_eligibility: need a list of criterion codes")
    unknown = [c for c in dropped if c not in protocol_codes]
    if unknown:
        raise PartsError(f"{where}.drop_eligibility: {', '.join(map(repr, unknown))} is not a criterion of the "
                         "protocol's [[eligibility]]")
    return {"eligibility": tuple(dict(d) for d in extra), "drop_eligibility": tuple(dropped)}


def part_eligibility(definition: Mapping[str, Any], part: PartSpec | None) -> list[dict]:
    """The ``[[eligibility]]`` data that apply to a candidate screened for ``part``: the protocol's, with the
    part's criteria replacing those of the same code (in place) or added at the end, and its dropped ones
    removed."""
    base = [dict(c) for c in definition.get("eligibility", [])]
    if part is None:
        return base
    replacing = {c["code"]: c for c in part.eligibility}
    merged = [dict(replacing.pop(c.get("code"), c)) for c in base if c.get("code") not in part.drop_eligibility]
    return merged + [dict(c) for c in part.eligibility if c["code"] in replacing]


def find(parts: Sequence[PartSpec], code: str) -> PartSpec | None:
    return next((p for p in parts if p.code == code), None)


@dataclass(frozen=True)
class ChosenCohort:
    """A cohort of an extension part chosen at the RP2D declaration."""

    part: str
    label: str
    level: int  # 1-based number of the dose level, by rank
    size: int
    tumour_types: tuple[str, ...] = ()


def check_chosen_cohorts(
    part: PartSpec, chosen: Sequence[ChosenCohort], *, highest_allowed: int, where: str = "cohorts",
    numbers: Sequence[int] | None = None,
) -> dict[str, str]:
    """Errors (field → message) of the cohorts chosen for an extension part: their number within the part's
    bounds, each at least ``min_cohort_size``, at a level at or below ``highest_allowed`` (the MTD/MAD),
    tumour types given when the part chooses them, labels distinct. A cohort's errors are keyed
    ``{where}[n].{field}``, n its position in ``chosen`` or ``numbers[position]``."""
    errors: dict[str, str] = {}
    if not part.cohorts_min <= len(chosen) <= part.cohorts_max:
        span = (str(part.cohorts_min) if part.cohorts_min == part.cohorts_max
                else f"{part.cohorts_min} to {part.cohorts_max}")
        errors[where] = f"{part.name} opens {span} cohort(s); {len(chosen)} chosen."
    labels = set()
    for i, c in enumerate(chosen, 1):
        key = f"{where}[{numbers[i - 1] if numbers else i}]"
        if c.size < part.min_cohort_size:
            errors[f"{key}.size"] = f"A cohort of {part.name} has at least {part.min_cohort_size} subjects."
        if c.level > highest_allowed:
            errors[f"{key}.level"] = "The dose must be at or below the MTD/MAD."
        if part.tumour_types == "chosen" and not c.tumour_types:
            errors[f"{key}.tumour_types"] = "Name the tumour type(s) this cohort enrols."
        if c.label in labels:
            errors[f"{key}.label"] = f"Two cohorts are called {c.label!r}."
        labels.add(c.label)
    return errors
