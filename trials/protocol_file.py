"""Read and check a protocol file (``protocols/*.toml``); no Django import.

``read_protocol(path)`` returns the parsed definition or raises :class:`ProtocolFileError` whose
message names the file, the field and the problem. The loader (``manage.py load_protocols``) turns
a checked definition into rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from trialrules import dispensing, eligibility, parts, response_parameters, sampling
from trialrules.nca import NcaInputError, NcaOptions

DESIGNS = {"titration+3+3", "3+3", "fixed"}
VISIT_KINDS = {"screening", "dosing", "imaging", "eot", "safety", "survival"}
ANCHORS = {"first_dose", "previous_dose", "last_dose", "safety_end"}
BASES = {"flat", "per_kg"}
EXPORT_DATES = {"study_day", "shift"}  # [exports] dates: Trial.export_dates (docs/exports.md)


class ProtocolFileError(ValueError):
    pass


@dataclass(frozen=True)
class ProtocolDefinition:
    path: Path
    data: dict[str, Any]
    sha256: str

    @property
    def code(self) -> str:
        return self.data["code"]

    @property
    def escalation(self) -> dict[str, Any]:
        return self.data["escalation"]


def _need(table: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ProtocolFileError(f"{where}.{key}: missing")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ProtocolFileError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _check(data: dict[str, Any]) -> None:
    if data.get("schema") != 1:
        raise ProtocolFileError(f"schema: expected 1, got {data.get('schema')!r}")
    code = _need(data, "code", str, "protocol")
    if not code or not all(c.isalnum() or c in "-_" for c in code):
        raise ProtocolFileError(f"code: {code!r} must be letters, digits, '-' or '_'")
    for key in ("title", "phase"):
        _need(data, key, str, "protocol")

    esc = _need(data, "escalation", dict, "protocol")
    design = _need(esc, "design", str, "escalation")
    if design not in DESIGNS:
        raise ProtocolFileError(f"escalation.design: {design!r} is not one of {sorted(DESIGNS)}")

    drugs = _need(data, "drugs", list, "protocol")
    if not drugs:
        raise ProtocolFileError("drugs: at least one drug is needed")
    names = set()
    for i, drug in enumerate(drugs, 1):
        where = f"drugs[{i}]"
        name = _need(drug, "name", str, where)
        if name in names:
            raise ProtocolFileError(f"{where}.name: {name!r} appears twice")
        names.add(name)
        for key in ("route", "unit", "schedule"):
            _need(drug, key, str, where)
        if drug.get("basis", "flat") not in BASES:
            raise ProtocolFileError(f"{where}.basis: {drug['basis']!r} is not one of {sorted(BASES)}")
        days = _need(drug, "administration_days", list, where)
        if not days or not all(isinstance(d, int) and d >= 1 for d in days):
            raise ProtocolFileError(f"{where}.administration_days: need whole cycle days >= 1, got {days!r}")
        try:
            dispensing.tablet_strength(drug)
        except ValueError as exc:
            raise ProtocolFileError(f"{where}.{exc}") from None

    levels = _need(data, "dose_levels", list, "protocol")
    if not levels:
        raise ProtocolFileError("dose_levels: at least one dose level is needed")
    for i, level in enumerate(levels, 1):
        where = f"dose_levels[{i}]"
        _need(level, "label", str, where)
        doses = _need(level, "doses", dict, where)
        if set(doses) != names:
            raise ProtocolFileError(f"{where}.doses: needs a dose for exactly the drugs {sorted(names)}, "
                                    f"got {sorted(doses)}")
        for drug, amount in doses.items():
            try:
                if Decimal(str(amount)) <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                raise ProtocolFileError(f"{where}.doses.{drug}: {amount!r} is not a positive number") from None
            entry = next(d for d in drugs if d["name"] == drug)
            strength = dispensing.tablet_strength(entry)
            if strength is not None:
                try:
                    dispensing.spec(strength, amount, unit=entry["unit"])
                except ValueError as exc:
                    raise ProtocolFileError(f"{where}.doses.{drug}: {exc} (drugs.dispensing.tablet_strength)") from None

    if design != "fixed":
        for key in ("cohort_size", "dlt_window_days"):
            if _need(esc, key, int, "escalation") < 1:
                raise ProtocolFileError(f"escalation.{key}: must be at least 1")
        titration = esc.get("titration_levels", 0)
        if not isinstance(titration, int) or not 0 <= titration < len(levels):
            raise ProtocolFileError(f"escalation.titration_levels: must be 0..{len(levels) - 1}, got {titration!r}")
        if design == "titration+3+3" and titration == 0:
            raise ProtocolFileError("escalation.titration_levels: design 'titration+3+3' needs at least 1")

    treatment = _need(data, "treatment", dict, "protocol")
    _need(treatment, "cycle_days", int, "treatment")

    for key in ("dose_window_days", "dose_window_from_cycle", "max_cycles", "predose_assessments_days"):
        if key in treatment and _need(treatment, key, int, "treatment") < 0:
            raise ProtocolFileError(f"treatment.{key}: must be 0 or more")
    try:
        eligibility.criteria_from_protocol(data)
    except eligibility.CriteriaError as exc:
        raise ProtocolFileError(str(exc)) from None

    for i, visit in enumerate(data.get("visits", []), 1):
        where = f"visits[{i}]"
        _need(visit, "code", str, where)
        kind = _need(visit, "kind", str, where)
        if kind not in VISIT_KINDS:
            raise ProtocolFileError(f"{where}.kind: {kind!r} is not one of {sorted(VISIT_KINDS)}")
        anchor = _need(visit, "anchor", str, where)
        if anchor not in ANCHORS:
            raise ProtocolFileError(f"{where}.anchor: {anchor!r} is not one of {sorted(ANCHORS)}")
        window = _need(visit, "window", list, where)
        if len(window) != 2 or not all(isinstance(d, int) for d in window) or window[0] > window[1]:
            raise ProtocolFileError(f"{where}.window: need [earliest, latest] in whole days, got {window!r}")

    try:
        parts.parse_parts(data)
    except parts.PartsError as exc:
        raise ProtocolFileError(str(exc)) from None
    _check_model_based(esc, len(levels))
    if "intra_patient" in esc:
        if design == "fixed":
            raise ProtocolFileError("escalation.intra_patient: a fixed-dose protocol has no dose levels to move to")
        table = _need(esc, "intra_patient", dict, "escalation")
        if _need(table, "min_cycles", int, "escalation.intra_patient") < 1:
            raise ProtocolFileError("escalation.intra_patient.min_cycles: must be at least 1")

    if "exports" in data:
        table = _need(data, "exports", dict, "protocol")
        if "dates" in table and _need(table, "dates", str, "exports") not in EXPORT_DATES:
            raise ProtocolFileError(f"exports.dates: {table['dates']!r} is not one of {sorted(EXPORT_DATES)}")
    if "response" in data and (found := response_parameters.problems(data["response"])):
        raise ProtocolFileError(found[0])
    if "pk" in data:
        try:
            schedule = sampling.parse_schedule(data["pk"], tuple(d.get("name") for d in data.get("drugs", [])))
        except sampling.SamplingScheduleError as exc:
            raise ProtocolFileError(str(exc)) from None
        try:
            NcaOptions(**schedule.nca)
        except NcaInputError as exc:
            raise ProtocolFileError(f"pk.nca.{exc}") from None
        except TypeError as exc:  # an unknown keyword
            raise ProtocolFileError(f"pk.nca: {exc}") from None


def _check_model_based(esc: dict, n_levels: int) -> None:
    """``[escalation.model_based]``: what BOIN and the CRM are given beside the rule (docs/escalation.md)."""
    if "model_based" not in esc:
        return
    where = "escalation.model_based"
    table = _need(esc, "model_based", dict, "escalation")
    if esc.get("design") == "fixed":
        raise ProtocolFileError(f"{where}: a fixed-dose protocol makes no escalation decisions")
    target = _need(table, "target", (int, float), where)
    if not 0 < target < 1:
        raise ProtocolFileError(f"{where}.target: must lie strictly between 0 and 1, got {target!r}")
    if "cohort_size" in table and _need(table, "cohort_size", int, where) < 1:
        raise ProtocolFileError(f"{where}.cohort_size: must be at least 1")
    skeleton = _need(table, "skeleton", list, where)
    if len(skeleton) != n_levels:
        raise ProtocolFileError(f"{where}.skeleton: needs one prior DLT probability per dose level ({n_levels}), "
                                f"got {len(skeleton)}")
    if not all(isinstance(p, int | float) and not isinstance(p, bool) and 0 < p < 1 for p in skeleton):
        raise ProtocolFileError(f"{where}.skeleton: each value must lie strictly between 0 and 1, got {skeleton!r}")
    if any(b <= a for a, b in itertools.pairwise(skeleton)):
        raise ProtocolFileError(f"{where}.skeleton: must increase strictly from level to level, got {skeleton!r}")
    if table.get("crm_model", "empiric") not in ("empiric", "logistic"):
        raise ProtocolFileError(f"{where}.crm_model: {table['crm_model']!r} is not one of empiric, logistic")


def read_protocol(path: Path) -> ProtocolDefinition:
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProtocolFileError(f"{path.name}: {exc}") from exc
    try:
        _check(data)
    except ProtocolFileError as exc:
        raise ProtocolFileError(f"{path.name}: {exc}") from None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return ProtocolDefinition(path=path, data=data, sha256=hashlib.sha256(canonical.encode()).hexdigest())
