"""Timing gates of dose escalation (DOMAIN.md, escalation rule 4): when may a subject's first dose be given?

Pure Python, standard library only. The caller (``subjects.services``) collects the datetimes from the
database; this module only compares them and words the answer.

Two gates, each identified by a code an investigator can override for one subject:

``level``
    A new dose level opens only after every subject of the *previous level* has completed the DLT
    window (first dose + ``dlt_window_days``) or left the study. The previous level is the dose level
    of the nearest earlier cohort at a *different* level (normally: the cohort just before). The gate
    applies to every first dose at the current level while a previous-level window is still open (in
    normal running it therefore binds only the level's first subject); it applies when the trial
    de-escalates too, since the protocol makes no exception. Previous-level subjects without a first
    dose have no window and do not hold the level closed.

``stagger``
    Spacing between subjects within a level (counting every subject already dosed at the level, in
    this cohort and in earlier cohorts at the same level):

    * the 2nd subject no earlier than ``stagger_first_days`` after the 1st subject's first dose;
    * every later subject no earlier than ``stagger_next_hours`` after the previous subject's first
      dose (the latest first dose at the level).

    Both limits hold for every subject after the first (the 3rd subject, too, may not come before the
    7-day sentinel period has passed, which matters only if the 2nd subject's gate was overridden); the
    binding one is cited.

A parameter of 0 (or None) means no gate. Datetimes must all be aware (or all naive) and in the time
zone the message should be written in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

LEVEL = "level"
STAGGER = "stagger"
GATES = (LEVEL, STAGGER)


@dataclass(frozen=True)
class GateParameters:
    trial_code: str
    stagger_first_days: int = 0
    stagger_next_hours: int = 0
    dlt_window_days: int | None = 0


@dataclass(frozen=True)
class WindowSubject:
    """A previous-level subject: first dose and, if the subject left the study, when."""

    first_dose: datetime
    left_at: datetime | None = None

    def window_completed(self, dlt_window_days: int) -> datetime:
        end = self.first_dose + timedelta(days=dlt_window_days)
        return end if self.left_at is None else min(end, self.left_at)


@dataclass(frozen=True)
class GateBlock:
    gate: str  # LEVEL or STAGGER
    opens_at: datetime
    reason: str


@dataclass(frozen=True)
class GateResult:
    when: datetime
    blocks: tuple[GateBlock, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return not self.blocks

    @property
    def opens_at(self) -> datetime | None:
        """When every gate that blocks at ``when`` is open (None when nothing blocks)."""
        return max((b.opens_at for b in self.blocks), default=None)

    @property
    def message(self) -> str:
        return " ".join(b.reason for b in self.blocks)

    def without(self, gates: set[str] | frozenset[str]) -> GateResult:
        """The result once the gates in ``gates`` are overridden."""
        return GateResult(when=self.when, blocks=tuple(b for b in self.blocks if b.gate not in gates))


def format_when(moment: datetime) -> str:
    return moment.strftime("%d %b %Y %H:%M")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def level_gate(
    params: GateParameters, *, previous_level: Sequence[WindowSubject], when: datetime,
    previous_level_label: str | None = None,
) -> GateBlock | None:
    """The level gate: None when open at ``when``, else the block saying when it opens."""
    if not params.dlt_window_days or not previous_level:
        return None
    completions = sorted(s.window_completed(params.dlt_window_days) for s in previous_level)
    still_open = [c for c in completions if c > when]
    if not still_open:
        return None
    opens_at = completions[-1]
    last = max(previous_level, key=lambda s: s.window_completed(params.dlt_window_days))
    level = f" ({previous_level_label})" if previous_level_label else ""
    who = ("1 subject of the previous level is" if len(still_open) == 1
           else f"{len(still_open)} subjects of the previous level are")
    return GateBlock(
        gate=LEVEL,
        opens_at=opens_at,
        reason=(
            f"{params.trial_code}: a new dose level opens only after every subject of the previous level"
            f"{level} has completed the {params.dlt_window_days}-day DLT window or left the study; {who} "
            f"still in it (the last, first dose {format_when(last.first_dose)}, completes it "
            f"{format_when(opens_at)}): gate opens {format_when(opens_at)}."
        ),
    )


def stagger_gate(params: GateParameters, *, level_doses: Sequence[datetime], when: datetime) -> GateBlock | None:
    """The within-level spacing gate for the next subject at a level whose subjects were first dosed
    at ``level_doses``: None when open at ``when``, else the block saying when it opens."""
    if not level_doses:
        return None  # the first subject at a level: only the level gate applies
    first, previous = min(level_doses), max(level_doses)
    n = len(level_doses) + 1  # the new subject's rank at the level
    candidates = []  # (opens_at, preference, reason)
    if params.stagger_first_days:
        opens = first + timedelta(days=params.stagger_first_days)
        candidates.append((opens, 0 if n == 2 else 1, (
            f"{params.trial_code}: the {ordinal(n)} subject of a level may be dosed no earlier than "
            f"{_plural(params.stagger_first_days, 'day')} after the first subject's first dose "
            f"({format_when(first)}): gate opens {format_when(opens)}."
        )))
    if params.stagger_next_hours:
        opens = previous + timedelta(hours=params.stagger_next_hours)
        candidates.append((opens, 1 if n == 2 else 0, (
            f"{params.trial_code}: the {ordinal(n)} subject of a level may be dosed no earlier than "
            f"{_plural(params.stagger_next_hours, 'hour')} after the previous subject's first dose "
            f"({format_when(previous)}): gate opens {format_when(opens)}."
        )))
    blocking = [c for c in candidates if c[0] > when]
    if not blocking:
        return None
    # The latest opening binds; on a tie, the rule written for this rank (2nd: days, later: hours).
    opens_at, _, reason = max(blocking, key=lambda c: (c[0], -c[1]))
    return GateBlock(gate=STAGGER, opens_at=opens_at, reason=reason)


def first_dose_gates(
    params: GateParameters,
    *,
    when: datetime,
    level_doses: Sequence[datetime] = (),
    previous_level: Sequence[WindowSubject] = (),
    previous_level_label: str | None = None,
) -> GateResult:
    """May a new subject's first dose at the current level be given at ``when``?

    ``level_doses``: first-dose datetimes of the subjects already dosed at the current level.
    ``previous_level``: the subjects of the previous (different) level, or empty when there is none.
    """
    blocks = [
        level_gate(params, previous_level=previous_level, when=when, previous_level_label=previous_level_label),
        stagger_gate(params, level_doses=level_doses, when=when),
    ]
    return GateResult(when=when, blocks=tuple(b for b in blocks if b is not None))
