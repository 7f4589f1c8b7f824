"""Eligibility at screening: a protocol's inclusion criteria, held as data, checked against a candidate.

Pure Python, standard library only. The protocol file lists its criteria (``[[eligibility]]``);
:func:`criteria_from_protocol` reads them and :func:`evaluate` checks them against the values the
coordinator entered, the site's upper limits of normal (ULN) and the people's judgements. Each
criterion comes back MET, NOT_MET or MISSING, with the value and the threshold in words.

Kinds of criterion (``kind`` in the protocol file)
--------------------------------------------------
``range``          ``field`` between ``min`` and ``max`` inclusive (age 18–75, ECOG 0–1).
``min`` / ``max``  ``field`` ≥ ``min`` / ≤ ``max``; ``strict = true`` makes it > / <.
``in_list``        ``field`` is one of ``values`` (histology, urine dipstick, pregnancy test).
``uln_multiple``   ``field`` ≤ ``multiple`` × the site's ULN for the analyte; ``exceptions`` raise the
                   multiple when a condition holds (``when = "liver_metastasis"``: AST/ALT ≤ 5×ULN;
                   ``when = "gilbert"``: TBIL < 3×ULN, ``strict``). Units are converted to the ULN's.
``cockcroft_gault`` creatinine clearance ≥ ``min`` mL/min, computed from age, weight (kg), sex and
                   serum creatinine: (140 − age) × weight / (72 × SCr[mg/dL]), × 0.85 if female; SCr in
                   µmol/L (SI, the default unit) is divided by 88.4 first.
``any_of``         met when one of ``options`` (criteria of the kinds above) is met; missing when none
                   is met and one is missing (Cr ≤ 1.5×ULN or CrCl ≥ 50; dipstick ≤ 1+ or 24-h
                   protein < 1 g).
``prior_therapy``  by histology (``depends_on``): per rule, ``require_any`` (one of these therapies
                   received), ``forbid`` (none of these received), ``and_any`` (one of these also true:
                   progression, intolerance).
``judgement``      a person decides (investigator-assessed facts): met only once confirmed by a person.
                   ``judged_by = "investigator"`` reserves the judgement for an investigator (the protocol
                   says the investigator assesses it, e.g. QL1706's RECIST-measurable lesion); without it
                   any site staff member may record it.

``only_sex = "F"`` makes a criterion apply to female candidates only (met, not applicable, otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MET = "met"
NOT_MET = "not_met"
MISSING = "missing"

KINDS = {"range", "min", "max", "in_list", "uln_multiple", "cockcroft_gault", "any_of", "prior_therapy",
         "judgement"}

# Who may be named in a judgement criterion's ``judged_by``.
JUDGES = ("investigator",)

# mg/dL -> µmol/L factors (SI is the default unit of each analyte).
MG_DL_TO_UMOL_L = {"creatinine": Decimal("88.4"), "bilirubin": Decimal("17.1")}


@dataclass(frozen=True)
class Input:
    """A value the coordinator enters at screening (or derived: age, sex)."""

    name: str
    label: str
    kind: str  # number, choice, multi, bool, derived
    units: tuple[str, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()
    # The physiological range of a number, in its first unit (min, max inclusive): outside it the value
    # is refused at entry as a data error (``trialrules.plausibility``), whatever the criteria say.
    plausible: tuple[Decimal, Decimal] | None = None


PRIOR_THERAPIES = (
    ("anthracycline", "Anthracycline-based chemotherapy"),
    ("paclitaxel", "Paclitaxel-based chemotherapy"),
    ("pd1_pdl1", "PD-1 / PD-L1 inhibitor"),
    ("other_systemic", "Other systemic therapy"),
    ("progression", "Metastasis or progression (≥10% sum of diameters within 3 months) on prior therapy"),
    ("intolerance", "Intolerant to standard therapy"),
)


def _range(low, high) -> tuple[Decimal, Decimal]:
    return Decimal(str(low)), Decimal(str(high))


DIPSTICK = (("negative", "Negative"), ("trace", "Trace"), ("1+", "1+"), ("2+", "2+"), ("3+", "3+"), ("4+", "4+"))

# Physiological ranges (``plausible``), chosen wide enough that no real value of an adult candidate falls
# outside and a wrong unit or a slipped decimal point does (docs/coordinators.md, "Edit checks"): ANC and
# platelets typed per µL, haemoglobin or albumin typed in g/dL, creatinine typed in mg/dL as µmol/L, an
# LVEF over 100 %.
INPUTS: dict[str, Input] = {i.name: i for i in (
    Input("age", "Age at consent", "derived", ("years",)),
    Input("sex", "Sex", "derived"),
    Input("weight", "Body weight", "number", ("kg",), plausible=_range(25, 250)),
    Input("histology", "Histology", "choice"),
    Input("prior_therapies", "Prior therapy", "multi", choices=PRIOR_THERAPIES),
    Input("ecog", "ECOG performance status", "choice", choices=tuple((str(i), str(i)) for i in range(5))),
    Input("anc", "Absolute neutrophil count", "number", ("10⁹/L",), plausible=_range(0, 100)),
    Input("platelets", "Platelet count", "number", ("10⁹/L",), plausible=_range(0, 2000)),
    Input("hemoglobin", "Haemoglobin", "number", ("g/L",), plausible=_range(20, 250)),
    Input("albumin", "Albumin", "number", ("g/L",), plausible=_range(5, 70)),
    Input("ast", "AST", "number", ("U/L",), plausible=_range(1, 20000)),
    Input("alt", "ALT", "number", ("U/L",), plausible=_range(1, 20000)),
    Input("bilirubin", "Total bilirubin", "number", ("µmol/L", "mg/dL"), plausible=_range(0, 1000)),
    Input("creatinine", "Serum creatinine", "number", ("µmol/L", "mg/dL"), plausible=_range(10, 3000)),
    Input("aptt", "APTT", "number", ("s",), plausible=_range(10, 200)),
    Input("pt", "Prothrombin time", "number", ("s",), plausible=_range(5, 150)),
    Input("inr", "INR", "number", ("ratio",), plausible=_range("0.5", 20)),
    Input("urine_protein_dipstick", "Urine protein (dipstick)", "choice", choices=DIPSTICK),
    Input("urine_protein_24h", "24-hour urine protein", "number", ("g/24 h",), plausible=_range(0, 50)),
    Input("lvef", "LVEF", "number", ("%",), plausible=_range(5, 95)),
    Input("pregnancy_test", "Pregnancy test", "choice",
          choices=(("negative", "Negative"), ("positive", "Positive"))),
    Input("liver_metastasis", "Liver metastases", "bool"),
    Input("gilbert", "Gilbert's syndrome", "bool"),
)}
ULN_ANALYTES = ("ast", "alt", "bilirubin", "creatinine", "aptt", "pt")
CONDITIONS = {"liver_metastasis", "gilbert"}


class CriteriaError(ValueError):
    pass


@dataclass(frozen=True)
class Criterion:
    code: str
    text: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.code)

    @property
    def field(self) -> str | None:
        return self.params.get("field")

    @property
    def judged_by(self) -> str | None:
        """The role the protocol reserves this judgement for (``"investigator"``), or None: any site staff."""
        return self.params.get("judged_by")

    def inputs(self) -> set[str]:
        """The inputs this criterion reads."""
        if self.kind == "judgement":
            return set()
        if self.kind == "any_of":
            return set().union(*(o.inputs() for o in self.options()))
        if self.kind == "cockcroft_gault":
            return {"age", "sex", "weight", "creatinine"}
        if self.kind == "prior_therapy":
            return {"prior_therapies", self.params.get("depends_on", "histology")}
        names = {self.field}
        for exception in self.params.get("exceptions", []):
            names.add(exception["when"])
        if self.params.get("only_sex"):
            names.add("sex")
        return names

    def options(self) -> list[Criterion]:
        return [criterion_from_data(o, where=f"{self.code}.options[{i}]", code=f"{self.code}.{i}")
                for i, o in enumerate(self.params.get("options", []), 1)]


@dataclass(frozen=True)
class Result:
    code: str
    text: str
    kind: str
    status: str  # MET, NOT_MET, MISSING
    value: str = ""
    threshold: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        return self.status == MET


@dataclass(frozen=True)
class Outcome:
    results: tuple[Result, ...]

    @property
    def eligible(self) -> bool:
        return all(r.status == MET for r in self.results)

    @property
    def failed(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.status == NOT_MET)

    @property
    def missing(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.status == MISSING)

    @property
    def status(self) -> str:
        return "eligible" if self.eligible else ("not_eligible" if self.failed else "incomplete")


# Reading criteria --------------------------------------------------------------------------------

def _number(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise CriteriaError(f"{where}: {value!r} is not a number") from None


def criterion_from_data(data: Mapping[str, Any], *, where: str, code: str | None = None) -> Criterion:
    if not isinstance(data, Mapping):
        raise CriteriaError(f"{where}: expected a table")
    kind = data.get("kind")
    if kind not in KINDS:
        raise CriteriaError(f"{where}.kind: {kind!r} is not one of {sorted(KINDS)}")
    code = code or data.get("code")
    if not isinstance(code, str) or not code:
        raise CriteriaError(f"{where}.code: missing")
    text = data.get("text", "")
    if code and not isinstance(text, str):
        raise CriteriaError(f"{where}.text: expected a string")
    params = {k: v for k, v in data.items() if k not in ("code", "text", "kind")}
    criterion = Criterion(code=code, text=text, kind=kind, params=params)
    if "judged_by" in params:
        if kind != "judgement":
            raise CriteriaError(f"{where}.judged_by: only a judgement criterion says who judges it")
        if params["judged_by"] not in JUDGES:
            raise CriteriaError(f"{where}.judged_by: {params['judged_by']!r} is not one of {list(JUDGES)}")
    f = params.get("field")
    if kind in ("range", "min", "max", "in_list", "uln_multiple") and f not in INPUTS:
        raise CriteriaError(f"{where}.field: {f!r} is not a known input ({', '.join(sorted(INPUTS))})")
    if kind == "range":
        if "min" not in params or "max" not in params:
            raise CriteriaError(f"{where}: a range needs min and max")
        if _number(params["min"], f"{where}.min") > _number(params["max"], f"{where}.max"):
            raise CriteriaError(f"{where}: min is above max")
    if kind in ("min", "max") and kind not in params:
        raise CriteriaError(f"{where}.{kind}: missing")
    if kind in ("min", "max"):
        _number(params[kind], f"{where}.{kind}")
    if kind == "in_list" and (not isinstance(params.get("values"), list) or not params["values"]):
        raise CriteriaError(f"{where}.values: need a non-empty list")
    if kind == "uln_multiple":
        if f not in ULN_ANALYTES:
            raise CriteriaError(f"{where}.field: {f!r} has no ULN ({', '.join(ULN_ANALYTES)})")
        _number(params.get("multiple"), f"{where}.multiple")
        for i, exception in enumerate(params.get("exceptions", []), 1):
            if exception.get("when") not in CONDITIONS:
                raise CriteriaError(f"{where}.exceptions[{i}].when: {exception.get('when')!r} is not one of "
                                    f"{sorted(CONDITIONS)}")
            _number(exception.get("multiple"), f"{where}.exceptions[{i}].multiple")
    if kind == "cockcroft_gault":
        _number(params.get("min"), f"{where}.min")
    if kind == "any_of":
        if not isinstance(params.get("options"), list) or len(params["options"]) < 2:
            raise CriteriaError(f"{where}.options: need at least two criteria")
        criterion.options()
    if kind == "prior_therapy":
        rules = params.get("rules")
        if not isinstance(rules, list) or not rules:
            raise CriteriaError(f"{where}.rules: need a non-empty list")
        known = {c for c, _ in PRIOR_THERAPIES}
        for i, rule in enumerate(rules, 1):
            if not isinstance(rule.get("histologies"), list) or not rule["histologies"]:
                raise CriteriaError(f"{where}.rules[{i}].histologies: need a non-empty list")
            for key in ("require_any", "forbid", "and_any", "alternative_any"):
                unknown = set(rule.get(key, [])) - known
                if unknown:
                    raise CriteriaError(f"{where}.rules[{i}].{key}: unknown therapies {sorted(unknown)}")
    return criterion


def criteria_from_protocol(definition: Mapping[str, Any]) -> list[Criterion]:
    """The ``[[eligibility]]`` list of a protocol definition (empty when it declares none)."""
    criteria = []
    codes = set()
    for i, data in enumerate(definition.get("eligibility", []), 1):
        criterion = criterion_from_data(data, where=f"eligibility[{i}]")
        if criterion.code in codes:
            raise CriteriaError(f"eligibility[{i}].code: {criterion.code!r} appears twice")
        codes.add(criterion.code)
        criteria.append(criterion)
    return criteria


def inputs_needed(criteria: list[Criterion]) -> list[Input]:
    """The inputs the criteria read, in the catalogue's order (derived ones excluded)."""
    names = set().union(*(c.inputs() for c in criteria)) if criteria else set()
    return [i for name, i in INPUTS.items() if name in names and i.kind != "derived"]


def histologies(criteria: list[Criterion]) -> list[str]:
    for c in criteria:
        if c.kind == "in_list" and c.field == "histology":
            return list(c.params["values"])
    return []


# Evaluating ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantity:
    value: Decimal
    unit: str

    def __str__(self) -> str:
        return f"{fmt(self.value)} {self.unit}"


def fmt(value: Decimal | float | int) -> str:
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return str(d.quantize(Decimal(1)))
    return f"{d.normalize():f}"


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _quantity(values: Mapping[str, Any], name: str) -> Quantity | None:
    value = values.get(name)
    if not _present(value):
        return None
    if isinstance(value, Quantity):
        return value
    unit = values.get(f"{name}_unit") or (INPUTS[name].units[0] if INPUTS[name].units else "")
    return Quantity(Decimal(str(value)), unit)


def convert(q: Quantity, analyte: str, unit: str) -> Quantity:
    """``q`` in ``unit`` (mg/dL <-> µmol/L for creatinine and bilirubin); ValueError if not convertible."""
    if q.unit == unit:
        return q
    factor = MG_DL_TO_UMOL_L.get(analyte)
    if factor and (q.unit, unit) == ("mg/dL", "µmol/L"):
        return Quantity(q.value * factor, unit)
    if factor and (q.unit, unit) == ("µmol/L", "mg/dL"):
        return Quantity(q.value / factor, unit)
    raise ValueError(f"cannot convert {q.unit} to {unit} for {analyte}")


def cockcroft_gault(*, age: int, weight_kg: Decimal, sex: str, creatinine: Quantity) -> Decimal:
    """Creatinine clearance in mL/min: (140 − age) × weight / (72 × SCr mg/dL), × 0.85 if female."""
    scr = convert(creatinine, "creatinine", "mg/dL").value
    if scr <= 0:
        raise ValueError("serum creatinine must be positive")
    crcl = (Decimal(140 - age) * Decimal(str(weight_kg))) / (Decimal(72) * scr)
    if sex == "F":
        crcl *= Decimal("0.85")
    return crcl


def _compare(value: Decimal, op: str, limit: Decimal) -> bool:
    return {"≥": value >= limit, ">": value > limit, "≤": value <= limit, "<": value < limit}[op]


def evaluate(
    criteria: list[Criterion],
    values: Mapping[str, Any],
    *,
    uln: Mapping[str, Quantity] | None = None,
    judgements: Mapping[str, bool] | None = None,
) -> Outcome:
    """Check every criterion. ``values``: input name -> value (numbers as Decimal/str, a unit in
    ``<name>_unit``; ``age`` and ``sex`` included); ``uln``: analyte -> the site's ULN;
    ``judgements``: criterion code -> True (met) / False (not met) as decided by a person."""
    uln = uln or {}
    judgements = judgements or {}
    return Outcome(tuple(_evaluate(c, values, uln, judgements) for c in criteria))


def _evaluate(c: Criterion, values, uln, judgements) -> Result:
    def result(status, value="", threshold="", note=""):
        return Result(c.code, c.text, c.kind, status, value, threshold, note)

    p = c.params
    only_sex = p.get("only_sex")
    if only_sex:
        sex = values.get("sex")
        if not sex:
            return result(MISSING, note="sex not recorded")
        if sex != only_sex:
            return result(MET, "not applicable", note=f"applies to sex {only_sex} only")

    if c.kind == "judgement":
        decided = judgements.get(c.code)
        if decided is None:
            return result(MISSING, threshold="confirmed by a person", note="awaiting confirmation")
        return result(MET if decided else NOT_MET, "confirmed" if decided else "not met (judged)",
                      "confirmed by a person")

    if c.kind in ("range", "min", "max"):
        name = c.field
        q = _quantity(values, name)
        unit = INPUTS[name].units[0] if INPUTS[name].units else ""
        if c.kind == "range":
            threshold = f"{fmt(_number(p['min'], c.code))}–{fmt(_number(p['max'], c.code))} {unit}".strip()
        else:
            op = ("≥" if c.kind == "min" else "≤") if not p.get("strict") else (">" if c.kind == "min" else "<")
            threshold = f"{op} {fmt(_number(p[c.kind], c.code))} {unit}".strip()
        if q is None:
            return result(MISSING, threshold=threshold)
        if c.kind == "range":
            ok = _number(p["min"], c.code) <= q.value <= _number(p["max"], c.code)
        else:
            ok = _compare(q.value, op, _number(p[c.kind], c.code))
        return result(MET if ok else NOT_MET, str(q).strip(), threshold)

    if c.kind == "in_list":
        allowed = [str(v) for v in p["values"]]
        threshold = "one of: " + ", ".join(allowed)
        value = values.get(c.field)
        if not _present(value):
            return result(MISSING, threshold=threshold)
        return result(MET if str(value) in allowed else NOT_MET, str(value), threshold)

    if c.kind == "uln_multiple":
        analyte = c.field
        multiple, op, because = _number(p["multiple"], c.code), "<" if p.get("strict") else "≤", ""
        for exception in p.get("exceptions", []):
            if values.get(exception["when"]) is True:
                multiple = _number(exception["multiple"], c.code)
                op = "<" if exception.get("strict") else "≤"
                because = f" ({INPUTS[exception['when']].label.lower()})"
        threshold = f"{op} {fmt(multiple)} × ULN{because}"
        limit_uln = uln.get(analyte)
        q = _quantity(values, analyte)
        if limit_uln is None:
            return result(MISSING, str(q) if q else "", threshold, note="no ULN recorded for this site")
        threshold = f"{op} {fmt(multiple)} × ULN {limit_uln}{because}"
        if q is None:
            return result(MISSING, threshold=threshold)
        try:
            in_uln_unit = convert(q, analyte, limit_uln.unit)
        except ValueError as exc:
            return result(MISSING, str(q), threshold, note=str(exc))
        ratio = in_uln_unit.value / limit_uln.value
        limit = multiple * limit_uln.value
        ok = _compare(in_uln_unit.value, op, limit)
        shown = f"{q} ({ratio:.2f} × ULN)"
        return result(MET if ok else NOT_MET, shown, f"{threshold} = {op} {fmt(limit.quantize(Decimal('0.01')))} "
                                                      f"{limit_uln.unit}")

    if c.kind == "cockcroft_gault":
        minimum = _number(p["min"], c.code)
        threshold = f"≥ {fmt(minimum)} mL/min (Cockcroft–Gault)"
        needed = {"age": values.get("age"), "weight": values.get("weight"), "sex": values.get("sex"),
                  "creatinine": values.get("creatinine")}
        absent = [k for k, v in needed.items() if not _present(v)]
        if absent:
            return result(MISSING, threshold=threshold, note="needs " + ", ".join(absent))
        creatinine = _quantity(values, "creatinine")
        crcl = cockcroft_gault(age=int(values["age"]), weight_kg=Decimal(str(values["weight"])), sex=values["sex"],
                               creatinine=creatinine)
        note = (f"(140 − {values['age']}) × {fmt(Decimal(str(values['weight'])))} kg / (72 × "
                f"{convert(creatinine, 'creatinine', 'mg/dL').value:.2f} mg/dL)"
                + (" × 0.85" if values["sex"] == "F" else ""))
        return result(MET if crcl >= minimum else NOT_MET, f"{crcl:.1f} mL/min", threshold, note)

    if c.kind == "any_of":
        parts = [_evaluate(o, values, uln, judgements) for o in c.options()]
        value = "; ".join(f"{r.text or r.code}: {r.value or '—'}" for r in parts)
        threshold = " or ".join(f"{r.text or r.code} {r.threshold}".strip() for r in parts)
        if any(r.status == MET for r in parts):
            status = MET
        elif any(r.status == MISSING for r in parts):
            status = MISSING
        else:
            status = NOT_MET
        return result(status, value, threshold)

    if c.kind == "prior_therapy":
        histology = values.get(p.get("depends_on", "histology"))
        received = set(values.get("prior_therapies") or [])
        if not _present(histology):
            return result(MISSING, threshold="depends on the histology", note="histology not recorded")
        rule = next((r for r in p["rules"] if histology in r["histologies"]), None)
        value = ", ".join(sorted(received)) or "none"
        if rule is None:
            return result(MET, value, f"no prior-therapy rule for {histology}")
        labels = dict(PRIOR_THERAPIES)
        words = []
        ok = True
        if rule.get("require_any"):
            words.append("received " + " or ".join(labels[t] for t in rule["require_any"]))
            ok &= bool(received & set(rule["require_any"]))
        if rule.get("and_any"):
            words.append("and " + " or ".join(labels[t].lower() for t in rule["and_any"]))
            ok &= bool(received & set(rule["and_any"]))
        if rule.get("forbid"):
            words.append("no " + " or ".join(labels[t] for t in rule["forbid"]))
            ok &= not received & set(rule["forbid"])
        if rule.get("alternative_any") and received & set(rule["alternative_any"]):
            ok = True
            words.append("(or " + " or ".join(labels[t].lower() for t in rule["alternative_any"]) + ")")
        threshold = f"{histology}: " + (" ".join(words) if words else "no prior systemic therapy required")
        return result(MET if ok else NOT_MET, value, threshold)

    raise CriteriaError(f"{c.code}: unknown kind {c.kind!r}")  # pragma: no cover - checked on reading
