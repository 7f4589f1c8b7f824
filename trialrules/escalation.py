"""Dose-escalation decision engine: accelerated titration + 3+3, as BAT6005 states it.

Pure Python, standard library only: frozen dataclasses in, a :class:`Decision` out. The engine only
*recommends*; a person approves each decision (DOMAIN.md, escalation rule 5).

Notation
--------
Outcome histories use the string notation of the R package ``escalation`` (Brock), e.g.
``"1N 2N 3G 3NN 4NTN"``: whitespace-separated groups, each a dose level (1-based) followed by one letter
per *evaluable* subject, ``N`` = no DLT, ``T`` = DLT, plus our ``G`` = drug-related grade >= 2 toxicity
that is not a DLT (it matters only during accelerated titration). See :func:`parse_outcomes`.

Two decision procedures
-----------------------
``recommend`` picks one of two procedures from the :class:`Design`:

*R mode* -- ``titration_levels == 0 and not six_to_declare``. A literal port of ``three_plus_three()``
behind ``get_three_plus_three(num_doses, allow_deescalate)`` of the R package ``escalation``
(R/three_plus_three.R, the version implementing Korn et al. 1994 de-escalation). Like R it looks only
at the level of the *last* subject and its counts, and it reproduces R's recommendations and
stop/continue semantics exactly, including its quirks:

* fewer than 3 (or between 3 and 6) evaluable at the current level -> continue there, whatever the
  DLT count (so ``"1NNN 2TT"`` continues at level 2: R waits for the cohort to complete);
* 0/3 or <=1/6 at the top level -> stop, recommend the top level (with only 3 subjects: R does not ask
  for 6 at the MAD);
* 0/3 or <=1/6 and the next level already has >= 6 subjects or >= 2 DLTs -> stop, recommend the
  current level (even with only 3 subjects there, and even when the level above was the one with 6);
* >= 2 DLTs, no de-escalation -> stop, recommend the level below (even if it has only 3 subjects), or
  no dose at level 1;
* >= 2 DLTs with de-escalation -> if the level below has < 6 subjects continue there (fill it),
  else stop recommending the highest level with >= 6 subjects and <= 1 DLT (Korn's MTD), or no dose.

Deliberate differences from R in R mode: R raises an error for more than 6 subjects at a level (we
treat >= 6 like 6); R's strict mode rejects paths that did not follow 3+3 (we decide from the same
rules without rejecting); ``cohort_size`` other than 3 scales the 3/6 thresholds to ``c``/``2c``.

*Protocol mode* -- every other design, in particular BAT6005 =
``Design(n_levels=6, titration_levels=3, titration_expand=2, cohort_size=3, allow_deescalate=True,
six_to_declare=True)``. It looks at the whole history rather than the last cohort only:

1. Accelerated titration (protocol: groups A-C, "cohort size = 1", "1+1"). Where BAT6005 differs from
   R: R has no titration phase at all.
2. Standard 3+3 (protocol table: 0/3 escalate, 1/3 add 3, 1/6 escalate, >= 2/3 or >= 2/6 exceeds MTD).
   Where BAT6005 differs from R: a level with >= 2 DLTs exceeds the MTD as soon as the 2nd DLT is seen
   (2/2 already means >= 2/3 whatever the 3rd subject does; dosing that 3rd subject would be
   pointless), whereas R waits for the cohort to complete.
3. De-escalation (protocol: "If there are 6 people in the former dose group, the former lower dose
   group is used as MTD. If there are only 3 people ..., add 3 people"). Same as R's Korn variant,
   extended to a case R never meets: a lower level with fewer than 3 evaluable (a titration level has
   only 1) is first filled to 3, then to 6, and it is re-judged by the 3+3 table at each stage.
4. MTD/MAD with ``six_to_declare`` (protocol: MTD = "highest dose level of DLT observed in <= 1/6
   subjects"; a dose group is "3 to 6"). Where BAT6005 differs from R: the top level (MAD) needs 6
   evaluable subjects before it is declared (R stops at 0/3 there), and so does an MTD below a too-toxic
   level (as in R's Korn variant; plain R without de-escalation stops at 0/3).
5. Without de-escalation, when the level above the candidate MTD is too toxic the trial stops
   recommending the level below (as R does); under ``six_to_declare`` it is declared "MTD" only if it
   has >= 6 evaluable, else ``declared`` is None and the rationale says it is not confirmed.

Pending subjects (both modes)
-----------------------------
``pending`` lists dose levels of subjects dosed whose DLT window is still open. Each may end N, T, G
or be non-evaluable; a non-evaluable subject is replaced (DOMAIN.md rule 5) and the replacement again
ends N, T, G or is replaced, so the set of *eventual* histories is exactly the histories in which every
pending subject ends N, T or G. The engine evaluates all of them (pending subjects appended in the
given order); if they all lead to the same decision it is made at once, otherwise it waits
(``waiting=True``, nothing added). Because pending subjects are counted as if evaluated, a decision
never over-fills a level (1/3 with 3 pending at that level waits rather than adding 3 more). A dose
declared at once may therefore count a pending subject among its 6 (e.g. 0/5 at the top level with the
6th pending: MAD whatever the 6th does).

A cohort a signed decision opened (:func:`recommend_for_cohort`)
---------------------------------------------------------------
The application asks the engine on behalf of the cohort being enrolled. Its places not yet taken are
subjects still to come at its level: they are pending like dosed subjects (appended last), so the
decision is made from the state the signed decision created, once the cohort's own outcomes are in.
While places are free no decision is made unless DLTs among the cohort's own subjects already decide
the next step whatever its remaining subjects do (BAT6005: a level with 2 DLTs exceeds the MTD at
once): an investigator who decided otherwise than recommended (another level, another number of
subjects) is not overruled by the next review.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement, product

__all__ = [
    "Decision",
    "Design",
    "Outcome",
    "OutcomeSyntaxError",
    "format_outcomes",
    "parse_outcomes",
    "recommend",
    "recommend_for_cohort",
]


# --------------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    n_levels: int  # dose levels are 1..n_levels
    titration_levels: int = 0  # first k levels use accelerated titration (cohort size 1)
    titration_expand: int = 2  # subjects added at the level where titration ends
    cohort_size: int = 3
    allow_deescalate: bool = False  # 3+3 with de-escalation (fill the level below to 6)
    six_to_declare: bool = False  # a level must have >= 6 evaluable subjects before declared MTD/MAD

    def __post_init__(self) -> None:
        if self.n_levels < 1:
            raise ValueError(f"n_levels must be >= 1, got {self.n_levels}")
        if not 0 <= self.titration_levels <= self.n_levels:
            raise ValueError(f"titration_levels must be in 0..{self.n_levels}, got {self.titration_levels}")
        if self.titration_expand < 1:
            raise ValueError(f"titration_expand must be >= 1, got {self.titration_expand}")
        if self.cohort_size < 1:
            raise ValueError(f"cohort_size must be >= 1, got {self.cohort_size}")


@dataclass(frozen=True)
class Outcome:  # one EVALUABLE subject (completed the DLT window, or had a DLT)
    dose_level: int  # 1-based
    dlt: bool
    tox2: bool = False  # drug-related grade>=2 toxicity that is not a DLT (matters only in titration)


@dataclass(frozen=True)
class Decision:
    continue_trial: bool
    next_dose_level: int | None  # level for the next subjects (None when stopping)
    add_subjects: int  # how many subjects to add now (0 when stopping)
    recommended_dose_level: int | None  # stopping: MTD/MAD or None; continuing: == next_dose_level
    declared: str | None  # "MTD", "MAD" or None
    rationale: str  # cites the rule, human readable
    waiting: bool = False  # True when pending subjects could still change the decision

    def as_json(self) -> dict:
        return {
            "continue": self.continue_trial,
            "next_dose_level": self.next_dose_level,
            "add_subjects": self.add_subjects,
            "recommended_dose_level": self.recommended_dose_level,
            "declared": self.declared,
            "rationale": self.rationale,
            "waiting": self.waiting,
        }


class OutcomeSyntaxError(ValueError):
    """An outcome string could not be parsed; the message names the offending token and the reason."""

    def __init__(self, token: str, reason: str, position: int | None = None) -> None:
        self.token = token
        self.reason = reason
        self.position = position
        where = f" (group {position})" if position is not None else ""
        super().__init__(f"invalid outcome group {token!r}{where}: {reason}")


# --------------------------------------------------------------------------------------------------
# Outcome strings
# --------------------------------------------------------------------------------------------------

_LETTERS = {"N": (False, False), "T": (True, False), "G": (False, True)}
_GROUP = re.compile(r"(\d*)(.*)", re.DOTALL)


def parse_outcomes(text: str) -> list[Outcome]:
    """Parse ``"1N 2N 3G 3NN 4NTN"`` into outcomes, one per subject, in order.

    Blank text is an empty history (as in R). Groups are separated by whitespace; each is a dose level
    (digits, >= 1) followed by at least one of ``N`` (no DLT), ``T`` (DLT), ``G`` (grade >= 2, no DLT).
    """
    if not isinstance(text, str):
        raise TypeError(f"outcome text must be a str, got {type(text).__name__}")
    outcomes: list[Outcome] = []
    for position, token in enumerate(text.split(), start=1):
        digits, letters = _GROUP.fullmatch(token).groups()  # type: ignore[union-attr]
        if not digits:
            raise OutcomeSyntaxError(
                token, "empty dose level: a group must start with the dose level", position
            )
        level = int(digits)
        if level < 1:
            raise OutcomeSyntaxError(token, f"dose level {digits} is not >= 1 (levels are 1-based)", position)
        if not letters:
            raise OutcomeSyntaxError(
                token, f"no outcome letters (N, T or G) after dose level {level}", position
            )
        for ch in letters:
            if ch.isdigit():
                raise OutcomeSyntaxError(
                    token, f"digit {ch!r} after outcome letters: separate groups with whitespace", position
                )
            if ch not in _LETTERS:
                hint = " (letters are upper case)" if ch.upper() in _LETTERS else ""
                raise OutcomeSyntaxError(
                    token, f"unknown outcome letter {ch!r}; expected N, T or G{hint}", position
                )
            dlt, tox2 = _LETTERS[ch]
            outcomes.append(Outcome(dose_level=level, dlt=dlt, tox2=tox2))
    return outcomes


def _letter(o: Outcome) -> str:
    # A DLT is written T even if the subject also had grade>=2 toxicity: the DLT already ends titration.
    if o.dlt:
        return "T"
    return "G" if o.tox2 else "N"


def format_outcomes(outcomes: Iterable[Outcome]) -> str:
    """Inverse of :func:`parse_outcomes`; consecutive subjects at the same level share a group."""
    groups: list[list[str]] = []
    last: int | None = None
    for o in outcomes:
        if o.dose_level != last:
            groups.append([str(o.dose_level)])
            last = o.dose_level
        groups[-1].append(_letter(o))
    return " ".join("".join(g) for g in groups)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

Fmt = Callable[[int], str]


def _counts(outcomes: Sequence[Outcome], n_levels: int) -> tuple[list[int], list[int]]:
    """Evaluable subjects and DLTs per level, index 1..n_levels (index 0 unused)."""
    n = [0] * (n_levels + 2)
    t = [0] * (n_levels + 2)
    for o in outcomes:
        n[o.dose_level] += 1
        t[o.dose_level] += int(o.dlt)
    return n, t


def _go(level: int, add: int, rationale: str) -> Decision:
    return Decision(True, level, add, level, None, rationale)


def _stop(level: int | None, declared: str | None, rationale: str) -> Decision:
    return Decision(False, None, 0, level, declared, rationale)


def _fill(n: int, first: int, full: int) -> int:
    """Subjects to add to reach the next stage of a level: `first` (3), then `full` (6)."""
    return first - n if n < first else max(full - n, 0)


# --------------------------------------------------------------------------------------------------
# R mode: literal port of escalation::three_plus_three (Korn et al. de-escalation when allowed)
# --------------------------------------------------------------------------------------------------


def _decide_r(d: Design, outs: Sequence[Outcome], lv: Fmt) -> Decision:
    c, full = d.cohort_size, 2 * d.cohort_size
    n, t = _counts(outs, d.n_levels)
    # R: last_dose <- tail(df$dose, 1); if no patients, last_dose <- 1
    cur = outs[-1].dose_level if outs else 1
    nd, td = n[cur], t[cur]
    here = f"{td}/{nd} DLT at {lv(cur)}"

    if nd < c:
        # R: n_d < 3 -> carry on at this dose
        if nd == 0:
            return _go(cur, c, f"3+3: start at {lv(cur)} with a cohort of {c}")
        return _go(cur, c - nd, f"{here}: complete the cohort of {c} (3+3, R: n < {c} carry on)")
    if c < nd < full:
        # R: 3 < n_d < 6 -> carry on at this dose
        return _go(cur, full - nd, f"{here}: complete the {full} at this level (3+3, R: n < {full} carry on)")
    if nd == c and td == 1:
        # R: 1/3 -> remain and continue (3 more at the same level)
        return _go(cur, c, f"{here}: expand to {full} (3+3: 1/{c} add {c})")

    tolerated = (nd == c and td == 0) or (nd >= full and td <= 1)
    if tolerated:
        # R: 0/3 or <=1/6 -> escalate if you can, or stop if at top dose
        if cur == d.n_levels:
            return _stop(cur, "MAD", f"{here} (top level): stop; MTD not reached, MAD = {lv(cur)} (3+3)")
        if n[cur + 1] >= full or t[cur + 1] >= 2:
            # R: next higher dose has seen 6 or >= 2 tox -> stop, recommend current dose
            why = f"{t[cur + 1]}/{n[cur + 1]} DLT at {lv(cur + 1)}"
            return _stop(cur, "MTD", f"{here}; {why}: stop, MTD = {lv(cur)} (3+3)")
        add = _fill(n[cur + 1], c, full)
        return _go(cur + 1, add, f"{here}: escalate to {lv(cur + 1)} (3+3: 0/{c} or <=1/{full} escalate)")

    # >= 2 DLTs among 3 or 6: the level exceeds the MTD
    toxic = f"{here}: {lv(cur)} exceeds the MTD"
    if d.allow_deescalate:
        if cur == 1:
            return _stop(None, None, f"{toxic}; no lower level: stop, no tolerable dose")
        below = cur - 1
        if n[below] < full:
            # R (Korn): level below has < 6 -> continue at the lower dose
            add = _fill(n[below], c, full)
            return _go(below, add, f"{toxic}; de-escalate: {n[below]} evaluable at {lv(below)}, add {add}")
        # Korn: MTD = highest level with >= 6 treated and <= 1 DLT
        korn = [lvl for lvl in range(1, d.n_levels + 1) if n[lvl] >= full and t[lvl] <= 1]
        if korn:
            m = korn[-1]
            return _stop(m, "MTD", f"{toxic}; {t[m]}/{n[m]} DLT at {lv(m)}: stop, MTD = {lv(m)}")
        return _stop(
            None, None, f"{toxic}; no level has {full} evaluable with <= 1 DLT: stop, no tolerable dose"
        )
    if cur == 1:
        return _stop(None, None, f"{toxic}; lowest level: stop, no tolerable dose")
    return _stop(cur - 1, "MTD", f"{toxic}: stop, MTD = {lv(cur - 1)} (3+3 without de-escalation)")


# --------------------------------------------------------------------------------------------------
# Protocol mode: BAT6005 accelerated titration + 3+3 with de-escalation and 6 to declare
# --------------------------------------------------------------------------------------------------


def _decide_protocol(d: Design, outs: Sequence[Outcome], lv: Fmt) -> Decision:
    c, full = d.cohort_size, 2 * d.cohort_size
    k = d.titration_levels
    n, t = _counts(outs, d.n_levels)

    # Protocol rule 1 (accelerated titration, groups A-C): find where titration ended, if it did.
    titrating = k > 0
    stop_level: int | None = None  # level at which a G or DLT ended titration
    for o in outs:
        if o.dose_level > k:
            titrating = False  # titration completed without toxicity, 3+3 from level k+1
            break
        if o.dlt or o.tox2:
            # "once a class 2 or greater toxicity ... is observed in one group" titration stops
            titrating = False
            stop_level = o.dose_level
            break

    if titrating:
        if not outs:
            return _go(1, 1, f"accelerated titration (cohort size 1): start with 1 subject at {lv(1)}")
        top = max(o.dose_level for o in outs)
        nxt = top + 1
        clear = f"no DLT and no drug-related grade>=2 toxicity at {lv(top)}"
        if nxt <= k:
            # Protocol: "the subject could be directly transferred to group B" ("1+1")
            return _go(nxt, 1, f"{clear}: accelerated titration, escalate to {lv(nxt)} with 1 subject")
        if nxt <= d.n_levels:
            # Protocol: "Starting from group D ... the standard 3+3 rule" (cohort size 3)
            return _go(
                nxt,
                c,
                f"{clear}: accelerated titration complete, escalate to {lv(nxt)} with a cohort of {c} (3+3)",
            )
        # all levels were titration levels: continue as 3+3 at the top level (fill it to a cohort)

    def first_stage(level: int) -> int:
        # Protocol: titration ends -> "An additional 2 subjects in the dose group" (1 + 2 = 3)
        if level == stop_level:
            return min(1 + d.titration_expand, full)
        return c

    def tally(level: int) -> str:
        return f"{t[level]}/{n[level]} DLT at {lv(level)}"

    # Protocol 3+3 table: ">= 2/3 or >= 2/6 indicates that the dose has exceeded MTD". Two DLTs make
    # that certain whatever the remaining subjects of the cohort do, so the level exceeds at once.
    toxic_levels = [lvl for lvl in range(1, d.n_levels + 1) if t[lvl] >= 2]
    x = toxic_levels[0] if toxic_levels else None  # lowest level exceeding the MTD
    cur = outs[-1].dose_level if outs else 1
    ended_here = ""
    if stop_level is not None and cur == stop_level and n[cur] < first_stage(cur):
        o = next(o for o in outs if o.dose_level == stop_level and (o.dlt or o.tox2))
        what = "DLT" if o.dlt else "drug-related grade>=2 toxicity"
        ended_here = f"{what} at {lv(cur)} ends accelerated titration (standard 3+3 from now on); "

    while True:
        if x is not None and cur >= x:
            toxic = f"{tally(x)}: {lv(x)} exceeds the MTD (3+3: >=2/3 or >=2/6)"
            below = x - 1
            if below == 0:
                return _stop(None, None, f"{toxic}; it is the lowest level: stop, no tolerable dose")
            if n[below] >= full:
                # Protocol: "If there are 6 people in the former dose group, the former lower dose
                # group is used as MTD" (it has <= 1 DLT, else it would be the lowest toxic level)
                return _stop(below, "MTD", f"{toxic}; {tally(below)}: MTD = {lv(below)}")
            if not d.allow_deescalate:
                if d.six_to_declare:
                    return _stop(
                        below,
                        None,
                        f"{toxic}; stop, recommend {lv(below)} ({tally(below)}): MTD not confirmed, "
                        f"fewer than {full} evaluable and de-escalation not allowed",
                    )
                return _stop(below, "MTD", f"{toxic}: stop, MTD = {lv(below)} (3+3 without de-escalation)")
            # Protocol: "If there are only 3 people in the previous dose group, add 3 people to the
            # previous dose group"; a level with fewer than 3 (titration) is filled to 3 first.
            add = _fill(n[below], first_stage(below), full)
            return _go(below, add, f"{toxic}; de-escalate: {n[below]} evaluable at {lv(below)}, add {add}")

        nd, td = n[cur], t[cur]
        first = first_stage(cur)
        if nd < first:
            if nd == 0:
                return _go(cur, first, f"3+3: start {lv(cur)} with a cohort of {first}")
            return _go(
                cur,
                first - nd,
                f"{ended_here}{tally(cur)}: complete the cohort of {first} (add {first - nd})",
            )
        if td == 1 and nd < full:
            # Protocol 3+3 table: "1/3 of the current dose group followed by 3 new subjects"
            return _go(cur, full - nd, f"{tally(cur)}: expand to {full} (3+3: 1/{first} add {full - nd})")
        # Here td == 0 with a complete first cohort, or <= 1 DLT among >= 6: the level is tolerated.
        blocked = cur == d.n_levels or (x is not None and cur + 1 >= x)
        if not blocked:
            nxt = cur + 1
            if n[nxt] >= full:
                cur = nxt  # already fully evaluated and tolerated: judge from there
                continue
            # Protocol 3+3 table: "0/3: 3 new subjects received the next high-dose group";
            # "1/3 and 0/3: ... the next high-dose group"
            return _go(
                nxt,
                _fill(n[nxt], first_stage(nxt), full),
                f"{tally(cur)}: escalate to {lv(nxt)} (3+3: 0/{first} or <=1/{full} escalate)",
            )
        mad = x is None  # top level tolerated: MTD not reached -> MAD (protocol)
        name = "MAD" if mad else "MTD"
        where = "top level" if mad else f"{lv(cur + 1)} exceeds the MTD"
        need_full = d.six_to_declare or (not mad and d.allow_deescalate)
        if need_full and nd < full:
            # six_to_declare / Korn: a level is declared only with 6 evaluable subjects
            return _go(
                cur,
                full - nd,
                f"{tally(cur)} ({where}): add {full - nd} so that {full} are evaluable "
                f"before declaring the {name}",
            )
        if mad:
            return _stop(cur, "MAD", f"{tally(cur)} (top level): MTD not reached, MAD = {lv(cur)}")
        return _stop(cur, "MTD", f"{tally(cur)}; {where}: MTD = {lv(cur)}")


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def _is_r_mode(d: Design) -> bool:
    return d.titration_levels == 0 and not d.six_to_declare


def _decide(d: Design, outs: Sequence[Outcome], lv: Fmt) -> Decision:
    return _decide_r(d, outs, lv) if _is_r_mode(d) else _decide_protocol(d, outs, lv)


def _key(dec: Decision) -> tuple:
    return (
        dec.continue_trial,
        dec.next_dose_level,
        dec.add_subjects,
        dec.recommended_dose_level,
        dec.declared,
    )


def _summary(dec: Decision, lv: Fmt) -> str:
    if dec.continue_trial:
        return f"add {dec.add_subjects} at {lv(dec.next_dose_level)}"  # type: ignore[arg-type]
    if dec.recommended_dose_level is None:
        return "stop, no tolerable dose"
    label = dec.declared or "recommended dose"
    return f"stop, {label} = {lv(dec.recommended_dose_level)}"


def _completions(d: Design, pending: Sequence[int]) -> Iterable[list[Outcome]]:
    """Every eventual outcome of the pending subjects (N, T, or G where G can matter)."""
    # Runs of consecutive same-level subjects: order within a run does not matter, so enumerate
    # multisets per run; the order of runs is kept (it fixes the last level and titration order).
    runs: list[tuple[int, int]] = []
    for lvl in pending:
        if runs and runs[-1][0] == lvl:
            runs[-1] = (lvl, runs[-1][1] + 1)
        else:
            runs.append((lvl, 1))
    options = []
    for lvl, size in runs:
        letters = "NTG" if (not _is_r_mode(d) and lvl <= d.titration_levels) else "NT"
        options.append([(lvl, combo) for combo in combinations_with_replacement(letters, size)])
    for choice in product(*options):
        extra: list[Outcome] = []
        for lvl, combo in choice:
            for ch in combo:
                dlt, tox2 = _LETTERS[ch]
                extra.append(Outcome(lvl, dlt, tox2))
        yield extra


def recommend(
    design: Design,
    outcomes: Sequence[Outcome],
    pending: Sequence[int] = (),
    labels: Sequence[str] | None = None,
) -> Decision:
    """Recommend the next escalation step from evaluable `outcomes` and still-`pending` subjects."""
    outs = list(outcomes)
    pend = list(pending)
    for o in outs:
        if not 1 <= o.dose_level <= design.n_levels:
            raise ValueError(f"outcome at dose level {o.dose_level} outside 1..{design.n_levels}")
    for lvl in pend:
        if not 1 <= lvl <= design.n_levels:
            raise ValueError(f"pending subject at dose level {lvl} outside 1..{design.n_levels}")
    if labels is not None and len(labels) < design.n_levels:
        raise ValueError(f"labels gives {len(labels)} names for {design.n_levels} dose levels")

    def lv(level: int) -> str:
        return labels[level - 1] if labels is not None else f"level {level}"

    if not pend:
        return _decide(design, outs, lv)

    decisions: dict[tuple, Decision] = {}
    for extra in _completions(design, pend):
        dec = _decide(design, outs + extra, lv)
        decisions.setdefault(_key(dec), dec)

    n, t = _counts(outs, design.n_levels)
    per_level: dict[int, int] = {}
    for lvl in pend:
        per_level[lvl] = per_level.get(lvl, 0) + 1
    state = "; ".join(
        f"{lv(lvl)}: {t[lvl]} DLT among {n[lvl]} evaluable, {p} pending" for lvl, p in per_level.items()
    )
    if len(decisions) == 1:
        dec = next(iter(decisions.values()))
        rationale = (
            f"{state}. Whatever the pending subject(s) turn out to be, the decision is the same: "
            f"{_summary(dec, lv)}. Basis, if they complete without DLT: {dec.rationale}"
        )
        if dec.continue_trial and dec.next_dose_level is not None and dec.next_dose_level > max(pend):
            rationale += "; open the new level only once the pending subjects complete the DLT window"
        return Decision(
            dec.continue_trial,
            dec.next_dose_level,
            dec.add_subjects,
            dec.recommended_dose_level,
            dec.declared,
            rationale,
        )

    current = pend[-1]
    options = sorted({_summary(dec, lv) for dec in decisions.values()})
    shown = "; ".join(options[:4]) + ("; ..." if len(options) > 4 else "")
    return Decision(
        continue_trial=True,
        next_dose_level=current,
        add_subjects=0,
        recommended_dose_level=current,
        declared=None,
        rationale=(
            f"waiting for the DLT window of {len(pend)} pending subject(s) ({state}): "
            f"their outcomes could lead to different decisions ({shown})"
        ),
        waiting=True,
    )


def recommend_for_cohort(
    design: Design,
    outcomes: Sequence[Outcome],
    pending: Sequence[int] = (),
    *,
    cohort_level: int,
    free_places: int = 0,
    cohort_dlts: int = 0,
    labels: Sequence[str] | None = None,
) -> Decision:
    """:func:`recommend` for the cohort being enrolled at `cohort_level`, with `free_places` not yet
    taken and `cohort_dlts` DLTs among its own subjects (see the module docstring). The result has
    ``waiting=True`` when nothing is to be decided yet."""
    if free_places < 0:
        raise ValueError(f"free_places must be >= 0, got {free_places}")
    dec = recommend(design, outcomes, [*pending, *[cohort_level] * free_places], labels)
    if dec.waiting or not free_places or cohort_dlts:
        return dec
    lv = labels[cohort_level - 1] if labels is not None else f"level {cohort_level}"
    return Decision(
        continue_trial=True,
        next_dose_level=cohort_level,
        add_subjects=0,
        recommended_dose_level=cohort_level,
        declared=None,
        rationale=(
            f"the cohort at {lv} has {free_places} place(s) still to fill: the signed decision that "
            "opened it stands until its own subjects' outcomes are in"
        ),
        waiting=True,
    )
