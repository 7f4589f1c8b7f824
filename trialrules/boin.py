"""BOIN dose finding: the Bayesian optimal interval design of Liu & Yuan (2015), as the R package BOIN runs it.

Pure Python (numpy/scipy only): numbers in, frozen dataclasses out. Like :mod:`trialrules.escalation`
the module only *recommends*; a person approves each decision. Dose levels are 1-based, as in
:mod:`trialrules.escalation` and in R.

Sources
-------
* Liu S, Yuan Y (2015). Bayesian optimal interval designs for phase I clinical trials. JRSS-C 64:507-523
  (the local BOIN design: boundaries lambda_e, lambda_d in closed form).
* Yuan Y, Hess KR, Hilsenbeck SG, Gilbert MR (2016). Bayesian optimal interval design: a simple and
  well-performing design for phase I oncology trials. Clin Cancer Res 22:4291-4301 (the trial rules
  with dose elimination; the defaults p_saf = 0.6 target, p_tox = 1.4 target).
* R package BOIN 2.7.2 (Yuan & Liu), functions ``get.boundary`` (boundaries and the decision table),
  ``get.oc`` (the decision made after each cohort) and ``select.mtd`` (MTD selection). Where this
  module says "R" it means these functions.

The rules
---------
Boundaries (Liu & Yuan 2015; R ``get.boundary``), with target phi, p_saf = phi1, p_tox = phi2::

    lambda_e = log((1 - phi1) / (1 - phi)) / log(phi (1 - phi1) / (phi1 (1 - phi)))
    lambda_d = log((1 - phi) / (1 - phi2)) / log(phi2 (1 - phi) / (phi (1 - phi2)))

Decision at the current level j with n_j treated and y_j DLTs (R ``get.oc``): escalate if
y_j <= floor(lambda_e n_j) (i.e. y_j / n_j <= lambda_e), de-escalate if y_j >= ceiling(lambda_d n_j)
(y_j / n_j >= lambda_d), otherwise stay. One does not escalate into an eliminated level, nor past the
top level (stay instead), nor de-escalate below level 1 (stay instead).

Elimination (Yuan et al. 2016; R ``get.boundary``/``get.oc``/``select.mtd``): with a beta(1, 1) prior,
if n_j >= 3 and Pr(p_j > phi | y_j, n_j) = 1 - F_beta(phi; y_j + 1, n_j - y_j + 1) > cutoff_eli, level j
and every level above it are eliminated; if level 1 is eliminated the trial stops with no MTD. With
``extrasafe`` the trial also stops when n_1 >= 3 and Pr(p_1 > phi | data) > cutoff_eli - offset.

Elimination is recomputed here from the per-level counts rather than remembered: in R a level is
tested with its cumulative counts after every cohort treated there, and a level's counts never change
once it is eliminated, so the lowest level whose counts pass the test is exactly R's lowest eliminated
level. Not ported: R's ``n.earlystop`` (stop once n_j reaches a cap), accelerated titration, and
``get.boundary``'s restrictions target in [0.05, 0.6], target - p_saf >= 0.1 target,
p_tox - target >= 0.1 target (R refuses such designs; here only 0 < p_saf < target < p_tox < 1 is
required).

MTD selection (R ``select.mtd``): among the levels treated and not eliminated, the estimates
(y + 0.05) / (n + 0.1) are made non-decreasing by the pool-adjacent-violators algorithm weighted by
1 / variance, variance = (y + 0.05)(n - y + 0.05) / ((n + 0.1)^2 (n + 0.1 + 1)); the MTD is the level
whose estimate is closest to the target. Ties go to the lower level when the estimates are above the
target and to the higher level when below (R adds i * 1e-10 to the i-th estimate before comparing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import beta as _beta

__all__ = [
    "Boundaries",
    "BoundaryRow",
    "MtdSelection",
    "Recommendation",
    "boundaries",
    "boundary_table",
    "recommend",
    "select_mtd",
]

ESCALATE = "escalate"
STAY = "stay"
DEESCALATE = "de-escalate"
STOP = "stop"


# --------------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boundaries:
    target: float
    p_saf: float
    p_tox: float
    lambda_e: float  # escalate if observed DLT rate <= lambda_e
    lambda_d: float  # de-escalate if observed DLT rate >= lambda_d


@dataclass(frozen=True)
class BoundaryRow:
    """One column of R's ``get.boundary`` table, for `n` patients treated at the current level."""

    n: int
    escalate_max: int  # "Escalate if # of DLT <=": floor(lambda_e n)
    deescalate_min: int  # "Deescalate if # of DLT >=": ceiling(lambda_d n), capped at eliminate_min
    eliminate_min: int | None  # "Eliminate if # of DLT >=" (None: no count eliminates, or n < 3)
    stop_min: int | None = None  # extrasafe only: "Stop the trial if # of DLT >=" at the lowest level


@dataclass(frozen=True)
class Recommendation:
    next_level: int | None  # level for the next cohort (None when the trial stops)
    action: str  # "escalate", "stay", "de-escalate" or "stop"
    reason: str  # cites the rule, human readable
    eliminated: tuple[int, ...]  # eliminated levels, ascending (empty if none)

    @property
    def continue_trial(self) -> bool:
        return self.action != STOP

    def as_json(self) -> dict:
        return {
            "next_level": self.next_level,
            "action": self.action,
            "reason": self.reason,
            "eliminated": list(self.eliminated),
        }


@dataclass(frozen=True)
class MtdSelection:
    mtd: int | None  # selected level, None when no dose is selected (R: 99)
    estimates: tuple[float | None, ...]  # isotonic estimates used for selection (None: untreated/eliminated)
    estimates_treated: tuple[float | None, ...]  # R's printed p_est: PAVA over all treated levels
    eliminated: tuple[int, ...]
    reason: str


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _check_prob(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not (0.0 < value < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value}")
    return value


def _check_options(cutoff_eli: float, offset: float, extrasafe: bool) -> None:
    _check_prob("cutoff_eli", cutoff_eli)
    if not (0.0 <= offset < 0.5):
        raise ValueError(f"offset must be in [0, 0.5) (R: 'the offset is too large'), got {offset}")
    if extrasafe and not cutoff_eli - offset > 0.0:
        raise ValueError(f"cutoff_eli - offset must be > 0 with extrasafe, got {cutoff_eli} - {offset}")


def _check_outcomes(outcomes: Sequence[tuple[int, int]], levels: int | None = None) -> list[tuple[int, int]]:
    if levels is not None and len(outcomes) != levels:
        raise ValueError(f"outcomes gives {len(outcomes)} levels, expected levels={levels}")
    if not outcomes:
        raise ValueError("outcomes must list at least one dose level")
    checked = []
    for i, item in enumerate(outcomes, start=1):
        try:
            n, y = item
        except (TypeError, ValueError):
            raise ValueError(f"outcomes[level {i}] must be a pair (n treated, DLTs), got {item!r}") from None
        for what, v in (("n treated", n), ("DLTs", y)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"outcomes[level {i}]: {what} must be an int, got {v!r}")
        if n < 0 or y < 0:
            raise ValueError(f"outcomes[level {i}]: counts must be >= 0, got n={n}, DLTs={y}")
        if y > n:
            raise ValueError(f"outcomes[level {i}]: {y} DLTs among {n} treated (DLTs > n)")
        checked.append((n, y))
    return checked


# --------------------------------------------------------------------------------------------------
# Boundaries and the decision table
# --------------------------------------------------------------------------------------------------


def boundaries(target: float, *, p_saf: float | None = None, p_tox: float | None = None) -> Boundaries:
    """lambda_e and lambda_d of the local BOIN design (Liu & Yuan 2015; R ``get.boundary``).

    Defaults p_saf = 0.6 target and p_tox = 1.4 target (Yuan et al. 2016; R). Requires
    0 < p_saf < target < p_tox < 1; a ValueError names the offending argument.
    """
    target = _check_prob("target", target)
    p_saf = _check_prob("p_saf", 0.6 * target if p_saf is None else p_saf)
    p_tox = _check_prob("p_tox", 1.4 * target if p_tox is None else p_tox)
    if p_saf >= target:
        raise ValueError(f"p_saf must be < target ({target}), got {p_saf}")
    if p_tox <= target:
        raise ValueError(f"p_tox must be > target ({target}), got {p_tox}")
    lambda_e = math.log((1 - p_saf) / (1 - target)) / math.log(target * (1 - p_saf) / (p_saf * (1 - target)))
    lambda_d = math.log((1 - target) / (1 - p_tox)) / math.log(p_tox * (1 - target) / (target * (1 - p_tox)))
    return Boundaries(target=target, p_saf=p_saf, p_tox=p_tox, lambda_e=lambda_e, lambda_d=lambda_d)


def _p_over(target: float, n: int, y: int) -> float:
    """Pr(p > target | y DLTs among n) under a beta(1, 1) prior."""
    return float(_beta.sf(target, y + 1, n - y + 1))


def _min_count(target: float, n: int, cutoff: float) -> int | None:
    """Smallest y in 1..n with Pr(p > target | y, n) > cutoff; None if none or n < 3 (R's loop)."""
    if n < 3:
        return None
    for y in range(1, n + 1):
        if _p_over(target, n, y) > cutoff:
            return y
    return None


def _row(b: Boundaries, n: int, cutoff_eli: float, extrasafe: bool, offset: float) -> BoundaryRow:
    esc = math.floor(b.lambda_e * n)
    deesc = math.ceil(b.lambda_d * n)
    elim = _min_count(b.target, n, cutoff_eli)
    if elim is not None and deesc > elim:
        deesc = elim  # R: b.d[i] = elim[i] when b.d[i] > elim[i]
    stop = _min_count(b.target, n, cutoff_eli - offset) if extrasafe else None
    return BoundaryRow(n=n, escalate_max=esc, deescalate_min=deesc, eliminate_min=elim, stop_min=stop)


def boundary_table(
    target: float,
    *,
    cohort_size: int,
    max_n: int,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    p_saf: float | None = None,
    p_tox: float | None = None,
) -> list[BoundaryRow]:
    """R ``get.boundary(...)$boundary_tab``: one row for n = C, 2C, ..., up to `max_n` (C = cohort_size).

    ``cohort_size=1`` gives R's ``full_boundary_tab`` (every n). ``stop_min`` is filled only with
    ``extrasafe`` (R's ``stop_boundary``, which applies at the lowest level only).
    """
    if isinstance(cohort_size, bool) or not isinstance(cohort_size, int) or cohort_size < 1:
        raise ValueError(f"cohort_size must be an int >= 1, got {cohort_size!r}")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < cohort_size:
        raise ValueError(f"max_n must be an int >= cohort_size ({cohort_size}), got {max_n!r}")
    _check_options(cutoff_eli, offset, extrasafe)
    b = boundaries(target, p_saf=p_saf, p_tox=p_tox)
    return [_row(b, n, cutoff_eli, extrasafe, offset) for n in range(cohort_size, max_n + 1, cohort_size)]


# --------------------------------------------------------------------------------------------------
# Elimination
# --------------------------------------------------------------------------------------------------


def _eliminated(
    target: float, counts: Sequence[tuple[int, int]], cutoff_eli: float, extrasafe: bool, offset: float
) -> tuple[tuple[int, ...], str]:
    """Eliminated levels (1-based, ascending) and why: R ``select.mtd``'s elimination loop, then its
    extrasafe rule for level 1 (which eliminates every level)."""
    k = len(counts)
    if extrasafe:
        n1, y1 = counts[0]
        if n1 >= 3:
            p = _p_over(target, n1, y1)
            if p > cutoff_eli - offset:
                why = (
                    f"{y1}/{n1} DLT at level 1: Pr(DLT rate > {target:g}) = {p:.3f} > "
                    f"{cutoff_eli:g} - {offset:g} (extrasafe), all levels eliminated"
                )
                return tuple(range(1, k + 1)), why
    for level, (n, y) in enumerate(counts, start=1):
        if n >= 3:
            p = _p_over(target, n, y)
            if p > cutoff_eli:
                why = (
                    f"{y}/{n} DLT at level {level}: Pr(DLT rate > {target:g}) = {p:.3f} > {cutoff_eli:g}, "
                    f"level {level} and above eliminated"
                )
                return tuple(range(level, k + 1)), why
    return (), ""


# --------------------------------------------------------------------------------------------------
# Next-cohort decision
# --------------------------------------------------------------------------------------------------


def recommend(
    target: float,
    levels: int,
    outcomes: Sequence[tuple[int, int]],
    current: int,
    *,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    p_saf: float | None = None,
    p_tox: float | None = None,
) -> Recommendation:
    """BOIN's level for the next cohort, given per-level `outcomes` ``(n treated, DLTs)`` and the
    `current` level (1-based), as R ``get.oc`` decides after each cohort (see the module docstring)."""
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an int >= 1, got {levels!r}")
    counts = _check_outcomes(outcomes, levels)
    if isinstance(current, bool) or not isinstance(current, int) or not 1 <= current <= levels:
        raise ValueError(f"current must be a level in 1..{levels}, got {current!r}")
    _check_options(cutoff_eli, offset, extrasafe)
    b = boundaries(target, p_saf=p_saf, p_tox=p_tox)

    elim, why_elim = _eliminated(b.target, counts, cutoff_eli, extrasafe, offset)
    lowest_elim = elim[0] if elim else levels + 1
    if lowest_elim == 1:
        return Recommendation(None, STOP, f"{why_elim}: stop the trial, no dose is tolerable", elim)
    if current >= lowest_elim:
        nxt = lowest_elim - 1
        action = DEESCALATE
        return Recommendation(nxt, action, f"{why_elim}: de-escalate to level {nxt}", elim)

    n, y = counts[current - 1]
    if n == 0:
        return Recommendation(current, STAY, f"no patient treated at level {current} yet: treat a cohort there", elim)
    row = _row(b, n, cutoff_eli, extrasafe, offset)
    here = f"{y}/{n} DLT at level {current} (rate {y / n:.3f}; lambda_e {b.lambda_e:.3f}, lambda_d {b.lambda_d:.3f})"
    suffix = f"; {why_elim}" if elim else ""
    if y <= row.escalate_max:
        rule = f"{here}: rate <= lambda_e (escalate if DLTs <= {row.escalate_max})"
        if current == levels:
            return Recommendation(current, STAY, f"{rule}, but level {current} is the top level: stay{suffix}", elim)
        if current + 1 >= lowest_elim:
            return Recommendation(
                current, STAY, f"{rule}, but level {current + 1} is eliminated: stay{suffix}", elim
            )
        return Recommendation(current + 1, ESCALATE, f"{rule}: escalate to level {current + 1}{suffix}", elim)
    if y >= row.deescalate_min:
        rule = f"{here}: rate >= lambda_d (de-escalate if DLTs >= {row.deescalate_min})"
        if current == 1:
            return Recommendation(current, STAY, f"{rule}, but level 1 is the lowest level: stay{suffix}", elim)
        return Recommendation(current - 1, DEESCALATE, f"{rule}: de-escalate to level {current - 1}{suffix}", elim)
    return Recommendation(current, STAY, f"{here}: lambda_e < rate < lambda_d: stay at level {current}{suffix}", elim)


# --------------------------------------------------------------------------------------------------
# MTD selection
# --------------------------------------------------------------------------------------------------


def _pava(x: Sequence[float], w: Sequence[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators (Barlow et al. 1972)."""
    blocks: list[list[float]] = []  # [weighted mean, total weight, size]
    for xi, wi in zip(x, w, strict=True):
        blocks.append([xi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, s2 = blocks.pop()
            m1, w1, s1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, s1 + s2])
    out: list[float] = []
    for m, _, s in blocks:
        out.extend([m] * int(s))
    return out


def _iso_estimates(counts: Sequence[tuple[int, int]]) -> list[float]:
    phat = [(y + 0.05) / (n + 0.1) for n, y in counts]
    var = [(y + 0.05) * (n - y + 0.05) / ((n + 0.1) ** 2 * (n + 0.1 + 1)) for n, y in counts]
    return _pava(phat, [1 / v for v in var])


def select_mtd(
    target: float,
    outcomes: Sequence[tuple[int, int]],
    *,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    bound_mtd: bool = False,
    p_tox: float | None = None,
) -> MtdSelection:
    """R ``select.mtd``: the MTD at the end of the trial from per-level ``(n treated, DLTs)``.

    ``bound_mtd`` (R ``boundMTD``) only selects a level whose isotonic estimate is < lambda_d
    (lambda_d from `p_tox`, default 1.4 target).
    """
    target = _check_prob("target", target)
    counts = _check_outcomes(outcomes)
    _check_options(cutoff_eli, offset, extrasafe)
    lambda_d = boundaries(target, p_tox=p_tox).lambda_d if bound_mtd else None

    k = len(counts)
    elim, why_elim = _eliminated(target, counts, cutoff_eli, extrasafe, offset)
    treated = [i for i in range(k) if counts[i][0] > 0]
    est_treated: list[float | None] = [None] * k
    if treated:
        for i, e in zip(treated, _iso_estimates([counts[i] for i in treated]), strict=True):
            est_treated[i] = e

    estimates: list[float | None] = [None] * k
    adm = [i for i in treated if i + 1 not in elim]
    if elim and elim[0] == 1:
        return MtdSelection(None, tuple(estimates), tuple(est_treated), elim, f"{why_elim}: no MTD")
    if not adm:
        why = "no patient treated at an admissible level"
        return MtdSelection(None, tuple(estimates), tuple(est_treated), elim, why)
    iso = _iso_estimates([counts[i] for i in adm])
    for i, e in zip(adm, iso, strict=True):
        estimates[i] = e
    # R: phat + (1:length(phat)) * 1e-10, then the first index of the smallest |phat - target|
    jittered = [e + (j + 1) * 1e-10 for j, e in enumerate(iso)]
    candidates = list(range(len(adm)))
    if lambda_d is not None:
        candidates = [j for j in candidates if jittered[j] < lambda_d]
        if not candidates:
            return MtdSelection(
                None, tuple(estimates), tuple(est_treated), elim,
                f"every admissible estimate >= lambda_d = {lambda_d:.3f} (bound_mtd): no MTD",
            )
    best = min(candidates, key=lambda j: abs(jittered[j] - target))
    mtd = adm[best] + 1
    reason = f"isotonic estimate {iso[best]:.3f} at level {mtd} is the closest to the target {target:g}"
    if elim:
        reason += f" ({why_elim})"
    return MtdSelection(mtd, tuple(estimates), tuple(est_treated), elim, reason)
