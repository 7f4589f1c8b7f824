"""Visit planning: a protocol's visit plan + a subject's anchors -> planned visits with windows.

Pure Python, standard library only (no Django). The plan data is the ``[[visits]]`` array and the
``[treatment]`` table of a protocol TOML (see ``protocols/BAT6005.toml``); nothing BAT6005-specific is
hard-coded here, the rules below are driven by that data.

Plan entries
------------
Every entry has ``code``, ``kind`` (screening, dosing, imaging, eot, safety, survival) and ``anchor``
(first_dose, previous_dose, last_dose, safety_end). Windows are ``[earliest, latest]`` in days. An
entry has exactly one of four shapes:

* **single** (no ``repeat``/``weeks``/``then_every_weeks``/``every_weeks``): one visit at
  ``anchor + target``, window ``anchor + [earliest, latest]`` (screening, EOT, safety visits).
* **per cycle** (``repeat = "cycle"``, anchor ``previous_dose``, ``from_cycle`` >= 2, default 2): one
  visit per cycle ``n`` from ``from_cycle``; ``code`` must contain ``{cycle}``. Target and window are
  relative to day 1 of cycle ``n - 1``: the *actual* dose date when known (``Anchors.doses``),
  otherwise chained from the last known dose, ``last_known + target * (n - k)`` (``k`` = doses known).
  Cycle 1 is the first dose itself: it is the anchor, **not** a planned visit.
* **by weeks** (``weeks = [...]`` and/or ``then_every_weeks``): visits at ``anchor + 7 * week`` for
  each listed week, then every ``then_every_weeks`` weeks after the last one; the window is relative
  to each visit's target; ``code`` must contain ``{week}``. ``until = "end_of_treatment"`` (the only
  value, also the default): see "End of treatment" below.
* **every** (``every_weeks``): visits ``n = 1, 2, ...`` at ``anchor + n * 7 * every_weeks``, window
  relative to each target; ``code`` must contain ``{n}``. They stop before
  ``Anchors.follow_up_end`` (exclusive: a visit targeted on or after it is not planned) and after
  ``survival_horizon_days`` from the anchor. ``until`` may only be
  ``"death_loss_withdrawal_or_study_end"`` (the default).

``target`` is clamped into the window when the data would put it outside. Keys not listed here are
ignored; a wrong value of a listed key raises :class:`VisitPlanError` naming the entry and field.

Anchors and end of treatment
----------------------------
* ``first_dose``: ``Anchors.first_dose``.
* ``last_dose``: ``Anchors.last_dose`` when set (treatment ended). Otherwise treatment is planned to the
  full cycle cap and the last dose is the (actual or planned) day 1 of the last cycle, so a full plan
  contains EOT, safety and survival follow-ups.
* Cycle cap: ``treatment.max_cycles``; when absent ("until progression", e.g. QL1706) the
  ``horizon_cycles`` keyword (default 17). With ``last_dose`` set, dosing visits stop at the cycle of
  the last dose and never exceed the cap. The cycle of the last dose is the last cycle whose dosing
  window had opened on or before it: cycles after the recorded ``doses`` are chained from the last
  recorded one (``last_known + target * (n - k)``), and cycle ``n`` counts as started when its window
  start (day 1 of cycle ``n - 1`` + the dosing entry's ``earliest``; + ``cycle_days`` without a dosing
  entry) is not after ``last_dose``. So first dose 2026-01-05 and last dose 2026-04-20 (BAT6005, Q3W,
  no other dose known) plan C2D1 to C6D1; a last dose on day 14 of cycle 6 (an oral drug) still ends
  at C6D1, and a last dose before cycle 2's window opens plans no dosing visit.
* Week-based visits ``until = "end_of_treatment"``: without ``last_dose``, targets on or before
  ``first_dose + cap * cycle_days`` (end of the planned treatment period); with ``last_dose``, targets
  on or before the EOT target (``last_dose`` + the ``eot`` entry's target, or + ``cycle_days`` when the
  plan has no ``eot`` entry).
* ``ends_on_new_therapy = true``: the visit is dropped when its window starts after
  ``Anchors.new_therapy``.
* ``safety_end``: the latest target of the kept ``safety`` visits; if new therapy dropped any safety
  visit, the ``new_therapy`` date instead. A plan using ``safety_end`` needs a ``safety`` entry.

``follow_up_end`` only stops the ``every_weeks`` (survival) visits; the other visits are still
planned (the caller records them as missed or not applicable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

__all__ = [
    "ANCHORS",
    "KINDS",
    "Anchors",
    "PlannedVisit",
    "VisitPlanError",
    "Window",
    "classify_done",
    "is_overdue",
    "plan_visits",
    "validate_plan",
]

KINDS = frozenset({"screening", "dosing", "imaging", "eot", "safety", "survival"})
ANCHORS = frozenset({"first_dose", "previous_dose", "last_dose", "safety_end"})
REPEATS = frozenset({"cycle"})
WEEKS_UNTIL = frozenset({"end_of_treatment"})
EVERY_UNTIL = frozenset({"death_loss_withdrawal_or_study_end"})
DEFAULT_HORIZON_CYCLES = 17


class VisitPlanError(ValueError):
    """Invalid visit-plan data. ``index``/``code`` name the entry (None for the treatment table)."""

    def __init__(self, message: str, *, index: int | None = None, code: str | None = None,
                 field: str | None = None):
        self.index = index
        self.code = code
        self.field = field
        where = "treatment" if index is None else f"visits[{index}]"
        if code:
            where += f" ({code})"
        if field:
            where += f" field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Window:
    """Closed interval of dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"window start {self.start} after end {self.end}")

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


@dataclass(frozen=True)
class PlannedVisit:
    code: str
    kind: str
    target: date
    window: Window

    def __post_init__(self) -> None:
        if not self.window.contains(self.target):
            raise ValueError(f"{self.code}: target {self.target} outside its window")

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "kind": self.kind,
            "target": self.target.isoformat(),
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
        }


@dataclass(frozen=True)
class Anchors:
    """A subject's anchor dates.

    ``doses``: actual day-1 dose dates of cycles 1..k (``doses[0] == first_dose``, strictly increasing).
    ``last_dose``: set when treatment has ended; not before any date in ``doses``.
    Inconsistent anchors raise ``ValueError``.
    """

    first_dose: date
    doses: tuple[date, ...] = ()
    last_dose: date | None = None
    new_therapy: date | None = None
    follow_up_end: date | None = None

    def __post_init__(self) -> None:
        doses = tuple(self.doses)
        object.__setattr__(self, "doses", doses)
        if doses and doses[0] != self.first_dose:
            raise ValueError(f"doses[0] {doses[0]} differs from first_dose {self.first_dose}")
        for a, b in pairwise(doses):
            if b <= a:
                raise ValueError(f"doses not strictly increasing: {a} then {b}")
        if self.last_dose is not None:
            if self.last_dose < self.first_dose:
                raise ValueError(f"last_dose {self.last_dose} before first_dose {self.first_dose}")
            if doses and self.last_dose < doses[-1]:
                raise ValueError(f"last_dose {self.last_dose} before a recorded dose {doses[-1]}")


def is_overdue(visit_window_end: date, *, done: bool, missed: bool, today: date) -> bool:
    """Overdue = the window has closed (``today > end``) and the visit is neither done nor missed."""
    return today > visit_window_end and not done and not missed


def classify_done(window: Window, done_on: date) -> str:
    return "in_window" if window.contains(done_on) else "out_of_window"


# --------------------------------------------------------------------------- validation


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class _Entry:
    index: int
    code: str
    kind: str
    anchor: str
    shape: str  # single | cycle | weeks | every
    window: tuple[int, int]
    target: int = 0
    from_cycle: int = 2
    weeks: tuple[int, ...] = ()
    then_every_weeks: int | None = None
    every_weeks: int = 0
    ends_on_new_therapy: bool = False


def _parse_entry(index: int, raw: Any) -> _Entry:
    if not isinstance(raw, dict):
        raise VisitPlanError("entry must be a table", index=index)
    code = raw.get("code")

    def err(message: str, fld: str) -> VisitPlanError:
        return VisitPlanError(message, index=index, code=code if isinstance(code, str) else None,
                              field=fld)

    if not isinstance(code, str) or not code.strip():
        raise err("missing or empty" if code is None else "must be a non-empty string", "code")
    for fld in ("kind", "anchor", "window"):
        if fld not in raw:
            raise err("missing", fld)
    kind, anchor = raw["kind"], raw["anchor"]
    if kind not in KINDS:
        raise err(f"unknown kind {kind!r} (expected one of {sorted(KINDS)})", "kind")
    if anchor not in ANCHORS:
        raise err(f"unknown anchor {anchor!r} (expected one of {sorted(ANCHORS)})", "anchor")
    window = raw["window"]
    if (not isinstance(window, list | tuple) or len(window) != 2
            or not all(_is_int(x) for x in window)):
        raise err(f"must be [earliest, latest] in whole days, got {window!r}", "window")
    if window[0] > window[1]:
        raise err(f"earliest {window[0]} after latest {window[1]}", "window")
    win = (window[0], window[1])
    ends = raw.get("ends_on_new_therapy", False)
    if not isinstance(ends, bool):
        raise err("must be true or false", "ends_on_new_therapy")

    shapes = [s for s, keys in (("cycle", ("repeat",)), ("weeks", ("weeks", "then_every_weeks")),
                                ("every", ("every_weeks",))) if any(k in raw for k in keys)]
    if len(shapes) > 1:
        raise err(f"combines {' and '.join(shapes)} scheduling; use one", "repeat" if "cycle" in shapes
                  else "every_weeks")
    shape = shapes[0] if shapes else "single"

    if anchor == "previous_dose" and shape != "cycle":
        raise err("anchor 'previous_dose' needs repeat = \"cycle\"", "anchor")
    if kind == "safety" and anchor == "safety_end":
        raise err("a safety visit cannot be anchored to safety_end (circular)", "anchor")

    def int_field(fld: str, *, minimum: int | None = None, required: bool = True,
                  default: int | None = None) -> int | None:
        if fld not in raw:
            if required:
                raise err("missing", fld)
            return default
        v = raw[fld]
        if not _is_int(v):
            raise err(f"must be a whole number, got {v!r}", fld)
        if minimum is not None and v < minimum:
            raise err(f"must be >= {minimum}, got {v}", fld)
        return v

    def no_target() -> None:
        if "target" in raw:
            raise err(f"not used with {shape}-based visits (the window is relative to each target)",
                      "target")

    if shape == "single":
        return _Entry(index, code, kind, anchor, shape, win, target=int_field("target"),
                      ends_on_new_therapy=ends)
    if shape == "cycle":
        if raw["repeat"] not in REPEATS:
            raise err(f"unknown repeat {raw['repeat']!r} (expected one of {sorted(REPEATS)})", "repeat")
        if anchor != "previous_dose":
            raise err("repeat = \"cycle\" needs anchor 'previous_dose'", "anchor")
        if "{cycle}" not in code:
            raise err("a per-cycle code must contain {cycle}", "code")
        target = int_field("target", minimum=1)
        from_cycle = int_field("from_cycle", minimum=2, required=False, default=2)
        return _Entry(index, code, kind, anchor, shape, win, target=target, from_cycle=from_cycle,
                      ends_on_new_therapy=ends)
    if shape == "weeks":
        no_target()
        if "{week}" not in code:
            raise err("a week-based code must contain {week}", "code")
        weeks = raw.get("weeks", [])
        if (not isinstance(weeks, list | tuple) or not all(_is_int(w) and w >= 0 for w in weeks)
                or any(b <= a for a, b in pairwise(weeks))):
            raise err(f"must be increasing whole weeks >= 0, got {weeks!r}", "weeks")
        then = int_field("then_every_weeks", minimum=1, required=False)
        if not weeks and then is None:
            raise err("needs weeks or then_every_weeks", "weeks")
        until = raw.get("until", "end_of_treatment")
        if until not in WEEKS_UNTIL:
            raise err(f"unknown until {until!r} (expected one of {sorted(WEEKS_UNTIL)})", "until")
        return _Entry(index, code, kind, anchor, shape, win, weeks=tuple(weeks), then_every_weeks=then,
                      ends_on_new_therapy=ends)
    # every
    no_target()
    if "{n}" not in code:
        raise err("a repeating code must contain {n}", "code")
    every = int_field("every_weeks", minimum=1)
    until = raw.get("until", "death_loss_withdrawal_or_study_end")
    if until not in EVERY_UNTIL:
        raise err(f"unknown until {until!r} (expected one of {sorted(EVERY_UNTIL)})", "until")
    return _Entry(index, code, kind, anchor, shape, win, every_weeks=every, ends_on_new_therapy=ends)


def _parse_treatment(treatment: Any, horizon_cycles: int) -> tuple[int, int]:
    """(cycle_days, cycle cap)."""
    if not isinstance(treatment, dict):
        raise VisitPlanError("must be a table")
    cycle_days = treatment.get("cycle_days")
    if cycle_days is None:
        raise VisitPlanError("missing", field="cycle_days")
    if not _is_int(cycle_days) or cycle_days < 1:
        raise VisitPlanError(f"must be a whole number >= 1, got {cycle_days!r}", field="cycle_days")
    cap = treatment.get("max_cycles")
    if cap is None:
        if not _is_int(horizon_cycles) or horizon_cycles < 1:
            raise ValueError(f"horizon_cycles must be >= 1, got {horizon_cycles!r}")
        cap = horizon_cycles
    elif not _is_int(cap) or cap < 1:
        raise VisitPlanError(f"must be a whole number >= 1, got {cap!r}", field="max_cycles")
    return cycle_days, cap


def validate_plan(visits: Any, treatment: Any) -> None:
    """Validate the plan data without planning (raises :class:`VisitPlanError`)."""
    _parse_treatment(treatment, DEFAULT_HORIZON_CYCLES)
    _parse_visits(visits)


def _parse_visits(visits: Any) -> list[_Entry]:
    if not isinstance(visits, list | tuple):
        raise VisitPlanError("visits must be a list of tables")
    entries = [_parse_entry(i, raw) for i, raw in enumerate(visits)]
    seen: dict[str, int] = {}
    for e in entries:
        if e.code in seen:
            raise VisitPlanError(f"duplicate code (also visits[{seen[e.code]}])", index=e.index,
                                 code=e.code, field="code")
        seen[e.code] = e.index
    cycles = [e for e in entries if e.shape == "cycle"]
    if len(cycles) > 1:
        raise VisitPlanError("only one per-cycle (dosing) entry is supported", index=cycles[1].index,
                             code=cycles[1].code, field="repeat")
    eots = [e for e in entries if e.kind == "eot"]
    if len(eots) > 1:
        raise VisitPlanError("only one eot entry is supported", index=eots[1].index, code=eots[1].code,
                             field="kind")
    if not any(e.kind == "safety" for e in entries):
        for e in entries:
            if e.anchor == "safety_end":
                raise VisitPlanError("anchor 'safety_end' needs a safety entry in the plan",
                                     index=e.index, code=e.code, field="anchor")
    return entries


# --------------------------------------------------------------------------- planning


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _visit(code: str, kind: str, target: date, window: Window) -> PlannedVisit:
    target = min(max(target, window.start), window.end)
    return PlannedVisit(code, kind, target, window)


def plan_visits(visits: list[dict], treatment: dict, anchors: Anchors, *,
                survival_horizon_days: int = 730,
                horizon_cycles: int = DEFAULT_HORIZON_CYCLES) -> list[PlannedVisit]:
    """Planned visits, sorted by ``(target, code)``. See the module docstring for the rules."""
    cycle_days, cap = _parse_treatment(treatment, horizon_cycles)
    entries = _parse_visits(visits)
    if not _is_int(survival_horizon_days) or survival_horizon_days < 0:
        raise ValueError(f"survival_horizon_days must be >= 0, got {survival_horizon_days!r}")

    dosing = next((e for e in entries if e.shape == "cycle"), None)
    step = dosing.target if dosing is not None else cycle_days

    # Known actual day-1 dates; later cycles are chained from the last of them.
    known = list(anchors.doses) or [anchors.first_dose]

    def day1(n: int) -> date:
        if n <= len(known):
            return known[n - 1]
        return known[-1] + _days(step * (n - len(known)))

    if anchors.last_dose is not None:
        # Treatment ran up to the last dose: every cycle whose dosing window had opened by then was
        # started (the cycles not recorded are chained from the last recorded one), and no later one.
        opens = dosing.window[0] if dosing is not None else step
        last_cycle = len(known)
        while last_cycle < cap and day1(last_cycle) + _days(opens) <= anchors.last_dose:
            last_cycle += 1
        last_cycle = min(last_cycle, cap)
        last_dose = anchors.last_dose
    else:
        last_cycle = cap
        last_dose = day1(cap)

    eot = next((e for e in entries if e.kind == "eot"), None)
    eot_offset = eot.target if eot is not None and eot.shape == "single" else cycle_days
    if anchors.last_dose is not None:
        end_of_treatment = last_dose + _days(eot_offset)
    else:
        end_of_treatment = anchors.first_dose + _days(cap * cycle_days)

    def window_from(base_day: date, e: _Entry) -> Window:
        return Window(base_day + _days(e.window[0]), base_day + _days(e.window[1]))

    def expand(e: _Entry, anchor_dates: dict[str, date | None]) -> list[PlannedVisit]:
        """All visits of one entry, before the new-therapy cut."""
        if e.shape == "cycle":
            out = []
            for n in range(e.from_cycle, last_cycle + 1):
                prev = day1(n - 1)
                out.append(_visit(e.code.replace("{cycle}", str(n)), e.kind, prev + _days(e.target),
                                  window_from(prev, e)))
            return out
        anchor = anchor_dates[e.anchor]
        if anchor is None:  # unreachable: parsing requires a safety entry for safety_end
            raise VisitPlanError("anchor has no date", index=e.index, code=e.code, field="anchor")
        if e.shape == "single":
            return [_visit(e.code, e.kind, anchor + _days(e.target), window_from(anchor, e))]
        if e.shape == "weeks":
            out = []
            for week in _week_sequence(e):
                target = anchor + _days(7 * week)
                if target > end_of_treatment:
                    break
                out.append(_visit(e.code.replace("{week}", str(week)), e.kind, target,
                                  window_from(target, e)))
            return out
        # every
        out = []
        horizon = anchor + _days(survival_horizon_days)
        n = 1
        while True:
            target = anchor + _days(7 * e.every_weeks * n)
            if target > horizon or (anchors.follow_up_end is not None
                                    and target >= anchors.follow_up_end):
                return out
            out.append(_visit(e.code.replace("{n}", str(n)), e.kind, target, window_from(target, e)))
            n += 1

    def kept(e: _Entry, visits: list[PlannedVisit]) -> list[PlannedVisit]:
        if not e.ends_on_new_therapy or anchors.new_therapy is None:
            return visits
        return [v for v in visits if v.window.start <= anchors.new_therapy]

    # Safety visits first: they define safety_end.
    base: dict[str, date | None] = {"first_dose": anchors.first_dose, "last_dose": last_dose,
                                    "safety_end": None}
    safety_targets: list[date] = []
    safety_cut = False
    for e in entries:
        if e.kind == "safety":
            planned = expand(e, base)
            kept_visits = kept(e, planned)
            safety_cut = safety_cut or len(kept_visits) < len(planned)
            safety_targets.extend(v.target for v in kept_visits)
    if safety_cut:
        base["safety_end"] = anchors.new_therapy
    elif safety_targets:
        base["safety_end"] = max(safety_targets)

    out: list[PlannedVisit] = []
    for e in entries:
        out.extend(kept(e, expand(e, base)))
    out.sort(key=lambda v: (v.target, v.code))
    return out


def _week_sequence(e: _Entry):
    """The listed weeks, then every ``then_every_weeks`` after the last one (endless if set)."""
    yield from e.weeks
    if e.then_every_weeks is not None:
        week = e.weeks[-1] if e.weeks else 0
        while True:
            week += e.then_every_weeks
            yield week
