"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228–247): the baseline lesions, each time point's
target, non-target and overall response, with the reasons in plain language.

Pure Python, standard library only: the ``response`` app stores the entries and calls :func:`evaluate`
again after every change, so a correction anywhere re-computes every time point.

What the rules are, and where in the paper
------------------------------------------
- **Baseline** (§3.1.1, §4.2): a target lesion is measurable — a non-nodal lesion ≥ 10 mm longest diameter
  (CT), a lymph node ≥ 15 mm *short axis*. A node of 10 to < 15 mm is pathological but not measurable (a
  non-target lesion); a node < 10 mm is normal and not recorded at all. At most 5 target lesions, at most 2
  per organ. All lymph nodes together are one organ (EORTC RECIST committee, "Questions and clarifications":
  "Nodes are considered to be one organ"); organ names are compared without case or extra spaces.
- **Sum of diameters** (§4.2, §4.3.2): longest diameters of non-nodal targets plus short axes of target
  nodes, also when a node has shrunk below 10 mm (so the sum at CR need not be 0). A target "too small to
  measure" counts as :data:`TOO_SMALL_MM` = 5 mm; a lesion that has disappeared is 0 mm.
- **Target response** (§4.3.1): PD when the sum is at least 20 % above the nadir (the smallest sum on study,
  the baseline included) *and* at least 5 mm above it; otherwise CR when every non-nodal target has
  disappeared and every target node is < 10 mm short axis; otherwise PR when the sum is at least 30 % below
  the baseline sum; otherwise SD. The paper's words are "at least", so exactly 30 % is PR and exactly 20 %
  with +5 mm is PD. The comparisons multiply instead of dividing (``(S − N) × 5 ≥ N``), so they are exact in
  :class:`~decimal.Decimal`; the percentages in the results are for display only.
- **Missing targets** (§4.4.2): a time point with any target not evaluated is NE, "unless a convincing
  argument can be made that the contribution of the individual missing lesion(s) would not change the
  assigned time point response": the measured lesions alone already meeting PD is that case (a missing
  lesion can only add to the sum). An incomplete time point has no sum and does not lower the nadir.
- **Non-target response** (§4.3.3, §4.3.4): PD when any lesion shows unequivocal progression; otherwise NE
  when any was not evaluated; otherwise CR when all are absent (a non-target node "absent" means normal
  size, < 10 mm short axis); otherwise NON-CR/NON-PD.
- **New lesions** (§4.3.5, "New lesions"): an unequivocal new lesion is PD. An equivocal one is not PD at
  that time point; "if repeat scans confirm there is definitely a new lesion, then progression should be
  declared using the date of the initial scan": when a scan records the new lesion unequivocal, the
  equivocal scans directly before it become PD, with a reason naming the confirming scan. A scan recording
  no new lesion in between breaks the run (what was equivocal was not seen again).
- **Overall response** (§4.4.1, Table 1 with target lesions, Table 2 with non-target disease only).

Deliberately not here: confirmation of CR/PR and the best overall response (the endpoint pages do that,
with the protocol's parameters, ``trialrules.response_parameters``); the EORTC committee's "a confirmed PR
stays PR unless PD" reading for time points after a confirmed PR (every time point here follows §4.3.1 as
written: a sum back above 70 % of baseline is SD); the investigator's judgement where the tables do not
decide (the app records an override with a reason).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal

TARGET, NON_TARGET = "target", "non_target"
KINDS = (TARGET, NON_TARGET)

CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
NON_CR_NON_PD = "NON-CR/NON-PD"

NT_PRESENT, NT_ABSENT, NT_PROGRESSION, NT_NOT_EVALUATED = "present", "absent", "progression", "not_evaluated"
NT_STATUSES = (NT_PRESENT, NT_ABSENT, NT_PROGRESSION, NT_NOT_EVALUATED)

NEW_NONE, NEW_EQUIVOCAL, NEW_UNEQUIVOCAL = "none", "equivocal", "unequivocal"
NEW_LESION_STATUSES = (NEW_NONE, NEW_EQUIVOCAL, NEW_UNEQUIVOCAL)

AXIS_LONG, AXIS_SHORT = "long", "short"
AXES = (AXIS_LONG, AXIS_SHORT)

MAX_TARGETS = 5  # §4.2
MAX_TARGETS_PER_ORGAN = 2  # §4.2
MEASURABLE_MM = Decimal(10)  # §3.1.1: non-nodal, longest diameter, CT
NODE_MEASURABLE_MM = Decimal(15)  # §3.1.1: lymph node, short axis
NODE_PATHOLOGICAL_MM = Decimal(10)  # §4.2: < 10 mm short axis is a normal node; §4.3.1: CR needs every node < 10 mm
TOO_SMALL_MM = Decimal(5)  # §4.3.2: default value of a target "too small to measure"
PR_DECREASE = Decimal("0.30")  # §4.3.1: at least a 30 % decrease from the baseline sum
PD_INCREASE = Decimal("0.20")  # §4.3.1: at least a 20 % increase over the nadir ...
PD_ABSOLUTE_MM = Decimal(5)  # ... and an absolute increase of at least 5 mm
NODES_ORGAN = "lymph nodes"  # every node counts towards one organ for the 2-per-organ limit


@dataclass(frozen=True)
class Problem:
    """A bad-input message: the form field (or lesion key) it concerns, the message, and the lesion key."""

    field: str
    message: str
    lesion: str | None = None


@dataclass(frozen=True)
class BaselineLesion:
    """A lesion chosen at baseline. ``diameter_mm`` is a target's longest diameter (non-nodal) or short axis
    (node); a non-target's is optional. ``axis`` says how it was measured (``"long"`` or ``"short"``)."""

    key: str
    kind: str
    organ: str
    node: bool
    diameter_mm: Decimal | None
    axis: str | None = None


@dataclass(frozen=True)
class TimePoint:
    """One follow-up scan: each target's diameter (0 = disappeared, ``None`` = not evaluated), each
    non-target's status (``NT_*``), new lesions (``NEW_*``) and the targets too small to measure (counted as
    :data:`TOO_SMALL_MM` whatever ``measurements`` holds for them, which may be that value or ``None``)."""

    date: date
    measurements: Mapping[str, Decimal | None]
    non_target: Mapping[str, str]
    new_lesions: str = NEW_NONE
    too_small: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TimePointResult:
    """What :func:`evaluate` found at one time point. The sums and changes are ``None`` without target
    lesions, and ``sum_mm`` and the changes also when a target was not evaluated (the sum is unknown).
    ``nadir_mm`` is the smallest complete sum before this time point, the baseline included. Percentages are
    exact; round them for display only (towards zero, so a shown value never crosses a threshold)."""

    date: date
    sum_mm: Decimal | None
    baseline_sum_mm: Decimal | None
    nadir_mm: Decimal | None
    change_from_baseline_pct: Decimal | None
    change_from_nadir_pct: Decimal | None
    change_from_nadir_mm: Decimal | None
    target: str | None
    non_target: str | None
    new_lesions: str
    overall: str
    reasons: tuple[str, ...]


class RecistInputError(ValueError):
    """:func:`evaluate` was given entries that :func:`baseline_problems` or :func:`timepoint_problems`
    refuse; ``problems`` lists them. A response computed from them would be wrong, so none is."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


# Formatting --------------------------------------------------------------------------------------------

def _mm(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _pct(value: Decimal) -> str:
    """A percentage truncated to 0.1 (towards zero), so 19.96 % reads 19.9 %, never 20.0 %."""
    return format(abs(value).quantize(Decimal("0.1"), rounding=ROUND_DOWN), "f")


def _day(value: date) -> str:
    return f"{value:%d %b %Y}"


def _keys(keys: Sequence[str]) -> str:
    return ", ".join(keys) if keys else "none"


def _number(value: object) -> Decimal | None:
    """The value as a finite Decimal, or ``None`` when it is not a number (floats are refused: a binary
    float cannot hold 0.1 mm exactly, and the thresholds are compared exactly)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _organ_group(lesion: BaselineLesion) -> str:
    if lesion.node:
        return NODES_ORGAN
    return " ".join(str(lesion.organ or "").lower().split())


# Baseline ----------------------------------------------------------------------------------------------

def _size_problems(lesion: BaselineLesion) -> list[Problem]:
    key, value = lesion.key, lesion.diameter_mm
    target = lesion.kind == TARGET
    what = "target lesion" if target else "lesion"
    if value is None:
        if target:
            return [Problem("diameter_mm", f"{key}: enter the {what}'s diameter in mm (the longest diameter; the "
                                           "short axis for a lymph node).", key)]
        return []
    diameter = _number(value)
    if diameter is None:
        return [Problem("diameter_mm", f"{key}: the diameter must be a number of mm, got {value!r}.", key)]
    if diameter <= 0:
        return [Problem("diameter_mm", f"{key}: the diameter must be more than 0 mm, got {_mm(diameter)} mm.", key)]
    if lesion.node:
        if lesion.axis == AXIS_LONG:
            return [Problem("axis", f"{key}: lymph nodes are measured by their short axis, not the longest diameter "
                                    "(RECIST 1.1 §3.1.1): enter the short axis.", key)]
        if diameter < NODE_PATHOLOGICAL_MM:
            return [Problem("diameter_mm", f"{key}: a lymph node of {_mm(diameter)} mm short axis is normal in size "
                                           f"(< {NODE_PATHOLOGICAL_MM} mm), not a lesion (RECIST 1.1 §4.2): do not "
                                           "record it.", key)]
        if target and diameter < NODE_MEASURABLE_MM:
            return [Problem("diameter_mm", f"{key}: a lymph node of {_mm(diameter)} mm short axis is pathological but "
                                           f"not measurable (a target node needs ≥ {NODE_MEASURABLE_MM} mm short "
                                           "axis, RECIST 1.1 §3.1.1): it may be recorded as a non-target lesion.",
                            key)]
        return []
    if lesion.axis == AXIS_SHORT:
        return [Problem("axis", f"{key}: a lesion other than a lymph node is measured by its longest diameter, not "
                                "the short axis (RECIST 1.1 §3.1.1).", key)]
    if target and diameter < MEASURABLE_MM:
        return [Problem("diameter_mm", f"{key}: a lesion of {_mm(diameter)} mm longest diameter is not measurable (a "
                                       f"target lesion needs ≥ {MEASURABLE_MM} mm, RECIST 1.1 §3.1.1): record it as a "
                                       "non-target lesion.", key)]
    return []


def baseline_problems(lesions: Sequence[BaselineLesion]) -> list[Problem]:
    """What is wrong with the baseline lesions, each naming the lesion: none at all, duplicate keys, unknown
    kinds or axes, a missing organ, a target without a positive diameter or not measurable (§3.1.1), a normal
    node recorded (§4.2), the 6th target and the 3rd target in one organ (§4.2)."""
    if not lesions:
        return [Problem("lesions", "Record at least one lesion at baseline: every later scan is assessed against "
                                   "the baseline lesions (RECIST 1.1 §4.2).")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for lesion in lesions:
        key = lesion.key
        if not isinstance(key, str) or not key.strip():
            problems.append(Problem("key", f"Every lesion needs a key (e.g. T1, NT1), got {key!r}."))
            continue
        if key in seen:
            problems.append(Problem("key", f"{key}: two lesions have this key; each baseline lesion needs its own.",
                                    key))
        seen.add(key)
        if lesion.kind not in KINDS:
            problems.append(Problem("kind", f"{key}: the kind must be target or non-target, got {lesion.kind!r}.",
                                    key))
            continue
        if not str(lesion.organ or "").strip():
            problems.append(Problem("organ", f"{key}: say which organ the lesion is in (at most "
                                             f"{MAX_TARGETS_PER_ORGAN} target lesions per organ, RECIST 1.1 §4.2).",
                                    key))
        if lesion.axis is not None and lesion.axis not in AXES:
            problems.append(Problem("axis", f"{key}: the axis must be long or short, got {lesion.axis!r}.", key))
            continue
        problems.extend(_size_problems(lesion))
    targets = [lesion for lesion in lesions if lesion.kind == TARGET and isinstance(lesion.key, str)]
    for extra in targets[MAX_TARGETS:]:
        problems.append(Problem("kind", f"{extra.key}: at most {MAX_TARGETS} target lesions in all (RECIST 1.1 "
                                        "§4.2): record it as a non-target lesion.", extra.key))
    per_organ: Counter[str] = Counter()
    for lesion in targets:
        group = _organ_group(lesion)
        if not group:
            continue
        per_organ[group] += 1
        if per_organ[group] > MAX_TARGETS_PER_ORGAN:
            where = "the lymph nodes (all nodes count as one organ)" if group == NODES_ORGAN else group
            problems.append(Problem("organ", f"{lesion.key}: at most {MAX_TARGETS_PER_ORGAN} target lesions per "
                                             f"organ, and {where} already has {MAX_TARGETS_PER_ORGAN} (RECIST 1.1 "
                                             "§4.2): record it as a non-target lesion.", lesion.key))
    return problems


# Time points -------------------------------------------------------------------------------------------

def _timepoint_problems(baseline: Sequence[BaselineLesion], tp: TimePoint) -> tuple[list[Problem], list[Problem]]:
    """(the entries that are wrong, the baseline lesions the time point leaves out). :func:`evaluate` refuses
    the first and treats the second as not evaluated (a voided entry leaves a lesion out)."""
    wrong: list[Problem] = []
    missing: list[Problem] = []
    by_key = {lesion.key: lesion for lesion in baseline}
    targets = [lesion.key for lesion in baseline if lesion.kind == TARGET]
    non_targets = [lesion.key for lesion in baseline if lesion.kind == NON_TARGET]
    if not isinstance(tp.date, date):
        wrong.append(Problem("date", f"The time point needs a scan date, got {tp.date!r}."))
    too_small = set(tp.too_small)
    for key, value in tp.measurements.items():
        lesion = by_key.get(key)
        if lesion is None:
            wrong.append(Problem(key, f"{key}: measured at this time point but not recorded at baseline (baseline "
                                      f"target lesions: {_keys(targets)}). Only the baseline lesions are followed "
                                      "(RECIST 1.1 §4.2); record a lesion that has appeared since as a new lesion.",
                                 key))
            continue
        if lesion.kind != TARGET:
            wrong.append(Problem(key, f"{key} is a non-target lesion: record whether it is present, absent or "
                                      "unequivocally progressed, not a diameter (RECIST 1.1 §4.3.3).", key))
            continue
        if value is None:
            continue
        number = _number(value)
        if number is None:
            wrong.append(Problem(key, f"{key}: the diameter must be a number of mm, got {value!r}.", key))
        elif number < 0:
            wrong.append(Problem(key, f"{key}: the diameter cannot be negative ({_mm(number)} mm); enter 0 mm when "
                                      "the lesion has disappeared.", key))
        elif key in too_small and number != TOO_SMALL_MM:
            wrong.append(Problem(key, f"{key}: marked too small to measure (counted as {TOO_SMALL_MM} mm, RECIST 1.1 "
                                      f"§4.3.2) and also measured as {_mm(number)} mm: enter one or the other.", key))
    for key, status in tp.non_target.items():
        lesion = by_key.get(key)
        if lesion is None:
            wrong.append(Problem(key, f"{key}: a non-target status for a lesion not recorded at baseline (baseline "
                                      f"non-target lesions: {_keys(non_targets)}).", key))
        elif lesion.kind != NON_TARGET:
            wrong.append(Problem(key, f"{key} is a target lesion: enter its diameter in mm, not a status.", key))
        elif status not in NT_STATUSES:
            wrong.append(Problem(key, f"{key}: unknown non-target status {status!r} (one of: "
                                      f"{', '.join(NT_STATUSES)}).", key))
    for key in sorted(too_small):
        lesion = by_key.get(key)
        if lesion is None:
            wrong.append(Problem(key, f"{key}: marked too small to measure but not recorded at baseline (baseline "
                                      f"target lesions: {_keys(targets)}).", key))
        elif lesion.kind != TARGET:
            wrong.append(Problem(key, f"{key} is a non-target lesion: only target lesions are measured, or too small "
                                      "to measure.", key))
    for key in targets:
        if key not in tp.measurements and key not in too_small and key not in tp.non_target:  # else said above
            missing.append(Problem(key, f"{key}: nothing recorded at this time point: enter its diameter (0 mm when "
                                        "it has disappeared), or mark it too small to measure or not evaluated "
                                        "(RECIST 1.1 §4.4.2).", key))
    for key in non_targets:
        if key not in tp.non_target and key not in tp.measurements and key not in too_small:
            missing.append(Problem(key, f"{key}: nothing recorded at this time point: say whether it is present, "
                                        "absent or unequivocally progressed, or not evaluated.", key))
    if tp.new_lesions not in NEW_LESION_STATUSES:
        wrong.append(Problem("new_lesions", f"Unknown new-lesion finding {tp.new_lesions!r} (one of: "
                                            f"{', '.join(NEW_LESION_STATUSES)})."))
    return wrong, missing


def timepoint_problems(baseline: Sequence[BaselineLesion], tp: TimePoint) -> list[Problem]:
    """What is wrong with a time point's entries, each naming the lesion: a measurement or status for a
    lesion not recorded at baseline, a diameter for a non-target or a status for a target, a baseline
    lesion left out, a negative or non-numeric diameter, an unknown status or new-lesion finding."""
    wrong, missing = _timepoint_problems(baseline, tp)
    return wrong + missing


# Responses ---------------------------------------------------------------------------------------------

def _is_pd(total: Decimal, nadir: Decimal) -> bool:
    """§4.3.1: at least 20 % above the nadir and at least 5 mm above it, compared without dividing."""
    increase = total - nadir
    return increase >= PD_ABSOLUTE_MM and increase >= nadir * PD_INCREASE


def _is_pr(total: Decimal, baseline_sum: Decimal) -> bool:
    """§4.3.1: at least a 30 % decrease from the baseline sum, compared without dividing."""
    return baseline_sum - total >= baseline_sum * PR_DECREASE


def _above_nadir(total: Decimal, nadir: Decimal) -> str:
    increase = total - nadir
    sign = "+" if increase >= 0 else "−"
    if nadir == 0:
        return f"{sign}{_mm(abs(increase))} mm from a nadir of 0 mm"
    direction = "above" if increase >= 0 else "below"
    return f"{_pct(increase / nadir * 100)}% {direction} the nadir ({_mm(nadir)} mm), {sign}{_mm(abs(increase))} mm"


@dataclass(frozen=True)
class _Target:
    response: str
    total: Decimal | None
    reasons: tuple[str, ...]


def _target_response(targets: Sequence[BaselineLesion], tp: TimePoint, baseline_sum: Decimal,
                     nadir: Decimal) -> _Target:
    values: dict[str, Decimal] = {}
    not_evaluated: list[str] = []
    for lesion in targets:
        if lesion.key in tp.too_small:
            values[lesion.key] = TOO_SMALL_MM
            continue
        value = tp.measurements.get(lesion.key)
        if value is None:
            not_evaluated.append(lesion.key)
        else:
            values[lesion.key] = Decimal(value)
    reasons: list[str] = []
    small = [key for key in values if key in tp.too_small]
    if small:
        reasons.append(f"{_keys(small)} too small to measure: counted as {_mm(TOO_SMALL_MM)} mm (RECIST 1.1 §4.3.2).")
    if not_evaluated:
        partial = sum(values.values(), Decimal(0))
        if values and _is_pd(partial, nadir):
            reasons.append(f"Target lesions PD: {_keys(not_evaluated)} not evaluated, but the measured lesions alone "
                           f"sum {_mm(partial)} mm, {_above_nadir(partial, nadir)}: PD whatever the missing lesions "
                           "measure (at least 20 % and 5 mm above the nadir, RECIST 1.1 §4.3.1, §4.4.2).")
            return _Target(PD, None, tuple(reasons))
        reasons.append(f"Target lesions NE: {_keys(not_evaluated)} not evaluated, so the sum is unknown "
                       "(RECIST 1.1 §4.4.2).")
        return _Target(NE, None, tuple(reasons))
    total = sum(values.values(), Decimal(0))
    change = (total - baseline_sum) / baseline_sum * 100
    from_baseline = (f"{_pct(change)}% {'below' if change <= 0 else 'above'} the baseline sum "
                     f"({_mm(baseline_sum)} mm)")
    if _is_pd(total, nadir):
        reasons.append(f"Target lesions PD: sum {_mm(total)} mm is {_above_nadir(total, nadir)}: at least 20 % and "
                       "5 mm above the nadir (RECIST 1.1 §4.3.1).")
        return _Target(PD, total, tuple(reasons))
    non_nodal = [lesion for lesion in targets if not lesion.node]
    nodes = [lesion for lesion in targets if lesion.node]
    if all(values[lesion.key] == 0 for lesion in non_nodal) and all(
            values[lesion.key] < NODE_PATHOLOGICAL_MM for lesion in nodes):
        parts = []
        if non_nodal:
            parts.append("every non-nodal target lesion has disappeared")
        if nodes:
            parts.append(f"every target lymph node is below {_mm(NODE_PATHOLOGICAL_MM)} mm short axis (the sum, "
                         f"{_mm(total)} mm, need not be 0, RECIST 1.1 §4.3.2)")
        reasons.append(f"Target lesions CR: {' and '.join(parts)} (RECIST 1.1 §4.3.1).")
        return _Target(CR, total, tuple(reasons))
    if _is_pr(total, baseline_sum):
        reasons.append(f"Target lesions PR: sum {_mm(total)} mm is {from_baseline}: at least a 30 % decrease "
                       "(RECIST 1.1 §4.3.1).")
        return _Target(PR, total, tuple(reasons))
    reasons.append(f"Target lesions SD: sum {_mm(total)} mm is {from_baseline} (PR needs at least a 30 % decrease) "
                   f"and {_above_nadir(total, nadir)} (PD needs at least 20 % and 5 mm) (RECIST 1.1 §4.3.1).")
    return _Target(SD, total, tuple(reasons))


def _non_target_response(non_targets: Sequence[BaselineLesion], tp: TimePoint) -> tuple[str, str]:
    statuses = {lesion.key: tp.non_target.get(lesion.key, NT_NOT_EVALUATED) for lesion in non_targets}
    progressed = [key for key, status in statuses.items() if status == NT_PROGRESSION]
    not_evaluated = [key for key, status in statuses.items() if status == NT_NOT_EVALUATED]
    present = [key for key, status in statuses.items() if status == NT_PRESENT]
    if progressed:
        return PD, (f"Non-target lesions PD: unequivocal progression of {_keys(progressed)} "
                    "(RECIST 1.1 §4.3.3, §4.3.4).")
    if not_evaluated:
        return NE, f"Non-target lesions NE: {_keys(not_evaluated)} not evaluated, none progressed (RECIST 1.1 §4.4.2)."
    if not present:
        return CR, ("Non-target lesions CR: all absent (a lymph node absent means normal in size, < 10 mm short "
                    "axis) (RECIST 1.1 §4.3.3).")
    return NON_CR_NON_PD, f"Non-target lesions non-CR/non-PD: {_keys(present)} still present (RECIST 1.1 §4.3.3)."


def _overall(target: str | None, non_target: str | None, new_lesions: str) -> tuple[str, str]:
    """Table 1 (target lesions, with or without non-target) or Table 2 (non-target disease only), §4.4.1.
    An equivocal new lesion is "No" in the tables (§4.3.5)."""
    new = new_lesions == NEW_UNEQUIVOCAL
    if target is not None:
        table = "Table 1"
        if new or target == PD or non_target == PD:
            why = [w for w, hit in (("target lesions PD", target == PD), ("non-target lesions PD", non_target == PD),
                                    ("an unequivocal new lesion", new)) if hit]
            return PD, f"Overall PD: {' and '.join(why)} (RECIST 1.1 §4.4.1, {table})."
        if target == NE:
            overall = NE
        elif target == CR:
            overall = CR if non_target in (None, CR) else PR
        else:
            overall = target  # PR or SD, with non-target non-PD or not all evaluated
        nt = "no non-target lesions" if non_target is None else f"non-target {non_target}"
        return overall, f"Overall {overall}: target {target}, {nt}, no new lesion (RECIST 1.1 §4.4.1, {table})."
    table = "Table 2"
    if new or non_target == PD:
        why = [w for w, hit in (("non-target lesions PD", non_target == PD), ("an unequivocal new lesion", new))
               if hit]
        return PD, f"Overall PD: {' and '.join(why)} (RECIST 1.1 §4.4.1, {table})."
    overall = non_target or NE
    return overall, (f"Overall {overall}: non-target disease only, non-target {non_target}, no new lesion "
                     f"(RECIST 1.1 §4.4.1, {table}).")


def evaluate(baseline: Sequence[BaselineLesion], timepoints: Sequence[TimePoint]) -> list[TimePointResult]:
    """Every time point's response, sorted by date. Refuses (:class:`RecistInputError`) entries that
    :func:`baseline_problems` or :func:`timepoint_problems` refuse, except a baseline lesion left out of a
    time point, which counts as not evaluated."""
    problems = baseline_problems(baseline)
    dates: Counter[date] = Counter()
    for tp in timepoints:
        problems.extend(_timepoint_problems(baseline, tp)[0])
        if isinstance(tp.date, date):
            dates[tp.date] += 1
    problems.extend(Problem("date", f"{dates[d]} time points on {_day(d)}: one scan per date.")
                    for d in sorted(dates) if dates[d] > 1)
    if problems:
        raise RecistInputError(problems)
    points = sorted(timepoints, key=lambda tp: tp.date)
    targets = [lesion for lesion in baseline if lesion.kind == TARGET]
    non_targets = [lesion for lesion in baseline if lesion.kind == NON_TARGET]
    baseline_sum = sum((Decimal(lesion.diameter_mm) for lesion in targets), Decimal(0)) if targets else None
    nadir = baseline_sum
    results: list[TimePointResult] = []
    for tp in points:
        reasons: list[str] = []
        target = total = None
        change_baseline = change_nadir = change_nadir_mm = None
        if baseline_sum is not None and nadir is not None:
            found = _target_response(targets, tp, baseline_sum, nadir)
            target, total = found.response, found.total
            reasons.extend(found.reasons)
            if total is not None:
                change_baseline = (total - baseline_sum) / baseline_sum * 100
                change_nadir_mm = total - nadir
                change_nadir = change_nadir_mm / nadir * 100 if nadir else None
        non_target = None
        if non_targets:
            non_target, why = _non_target_response(non_targets, tp)
            reasons.append(why)
        if tp.new_lesions == NEW_UNEQUIVOCAL:
            reasons.append("Unequivocal new lesion: PD (RECIST 1.1 §4.3.5).")
        elif tp.new_lesions == NEW_EQUIVOCAL:
            reasons.append("Equivocal new lesion: not PD at this time point; if a later scan shows it "
                           "unequivocally, progression is dated at this scan (RECIST 1.1 §4.3.5).")
        overall, why = _overall(target, non_target, tp.new_lesions)
        reasons.append(why)
        results.append(TimePointResult(
            date=tp.date, sum_mm=total, baseline_sum_mm=baseline_sum, nadir_mm=nadir,
            change_from_baseline_pct=change_baseline, change_from_nadir_pct=change_nadir,
            change_from_nadir_mm=change_nadir_mm, target=target, non_target=non_target,
            new_lesions=tp.new_lesions, overall=overall, reasons=tuple(reasons)))
        if total is not None and nadir is not None:
            nadir = min(nadir, total)
    return _date_confirmed_new_lesions(points, results)


def _date_confirmed_new_lesions(points: Sequence[TimePoint], results: list[TimePointResult]) -> list[TimePointResult]:
    """§4.3.5: a new lesion first equivocal, then unequivocal, is progression at the first equivocal scan of
    the run directly before the confirming scan; each scan of the run becomes PD, saying why."""
    results = list(results)
    for i, tp in enumerate(points):
        if tp.new_lesions != NEW_UNEQUIVOCAL:
            continue
        run: list[int] = []
        j = i - 1
        while j >= 0 and points[j].new_lesions == NEW_EQUIVOCAL:
            run.insert(0, j)
            j -= 1
        if not run:
            continue
        first = points[run[0]].date
        for k in run:
            if results[k].overall == PD:
                continue
            why = (f"Overall PD: the equivocal new lesion was confirmed unequivocal on {_day(tp.date)}; progression "
                   f"is dated at the first scan showing it, {_day(first)} (RECIST 1.1 §4.3.5). Computed from this "
                   f"scan alone: {results[k].overall}.")
            # The overall reason is the last one; the new one replaces it and says what it was.
            results[k] = replace(results[k], overall=PD, reasons=(*results[k].reasons[:-1], why))
        results[i] = replace(results[i], reasons=(
            *results[i].reasons, f"The new lesion was equivocal from {_day(first)}: progression is dated at that scan "
                                 "(RECIST 1.1 §4.3.5)."))
    return results
