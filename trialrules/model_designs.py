"""BOIN and the CRM behind the same interface as the 3+3 engine: an outcome history in, a Decision out.

Pure Python (numpy/scipy), no Django. :func:`recommend` takes the outcomes parsed by
:func:`trialrules.escalation.parse_outcomes` (``N`` no DLT, ``T`` DLT, ``G`` grade >= 2 non-DLT, which
BOIN and the CRM count as *no DLT*) and returns a :class:`ModelDecision`: a
:class:`trialrules.escalation.Decision` (same JSON keys: ``continue``, ``next_dose_level``,
``add_subjects``, ``recommended_dose_level``, ``declared``, ``rationale``, ``waiting``) plus, for the
CRM, ``posterior_mean`` (each level's DLT probability at the posterior mean of beta, dfcrm ``ptox``).
The rules themselves are :mod:`trialrules.boin` and :mod:`trialrules.crm`; this module only drives them.

Choices (the same in recommend, the pathways and the simulation)
----------------------------------------------------------------
* Start: with no outcomes, a cohort at level 1.
* Cohorts: the design decides after whole cohorts (as R ``get.oc`` and dfcrm simulations). If the
  subjects at the last level *since the level last changed* are not a whole number of cohorts, the
  decision is to complete the cohort there (``add_subjects`` = what is missing).
* Current level (BOIN): the level of the last outcome group.
* BOIN: :func:`trialrules.boin.recommend` (escalate / stay / de-escalate, dose elimination with
  ``cutoff_eli`` 0.95, ``extrasafe`` off, p_saf = 0.6 target, p_tox = 1.4 target by default). Level 1
  eliminated -> stop, no tolerable dose. R's ``n.earlystop`` is ported: once the current level has
  ``n_earlystop`` subjects (default 100, as R, i.e. off) the trial stops and selects the MTD.
* CRM: :func:`trialrules.crm.crm` (empiric or one-parameter logistic model, intercept 3, prior sd
  sqrt(1.34), as dfcrm); the next level is the level whose toxicity at the posterior mean is closest
  to the target, never more than one above the highest level tried (no skipping when escalating).
  Safety stop: once at least ``safety_min_n`` (3) subjects were treated at level 1, the trial stops with
  no tolerable dose if P(p_1 > target | data) > ``safety_cutoff`` (0.9) (exact posterior probability,
  :attr:`trialrules.crm.CrmResult.prob_exceeds`).
* Maximum sample size ``max_n`` (optional for recommend, required to simulate): once that many subjects
  are treated the trial stops; the recommended dose is :func:`trialrules.boin.select_mtd` (isotonic
  estimates, eliminated levels excluded) for BOIN, the CRM's level closest to the target (dfcrm ``mtd``,
  unrestricted) for the CRM. A stop with a dose is ``declared`` "MTD"; a stop without a dose has
  ``recommended_dose_level`` None.
* Continuing: ``recommended_dose_level`` == ``next_dose_level`` (as the 3+3 engine), ``declared`` None,
  ``waiting`` always False (no pending subjects here).

``fast=True`` (used by :mod:`trialrules.model_simulation`) gives the same decisions faster, with terse
rationales: BOIN's read off R's boundary table (needs ``max_n``; the final selection is ``select_mtd``'s
isotonic rule with that elimination), the CRM fitted by the trapezoid rule on a
fixed grid of beta instead of adaptive quadrature (posterior mean to ~1e-12, P(p_1 > target) to ~1e-5).
tests/trialrules/test_model_designs.py checks that both give the slow path's decisions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from scipy.stats import beta as _beta

from trialrules import boin, crm
from trialrules.escalation import Decision, Outcome

__all__ = [
    "BoinDesign",
    "CrmDesign",
    "ModelDecision",
    "decide",
    "level_counts",
    "recommend",
]


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _check_max_n(max_n, cohort_size: int) -> None:
    if max_n is None:
        return
    _check_int("max_n", max_n, cohort_size)
    if max_n % cohort_size:
        raise ValueError(f"max_n must be a multiple of the cohort size {cohort_size}, got {max_n}")


# --------------------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoinDesign:
    """BOIN over `n_levels` levels (R BOIN 2.7.2 defaults). ValueError names the offending field."""

    target: float
    n_levels: int
    cohort_size: int = 3
    max_n: int | None = None  # total sample size (None: no cap, the trial stops only by elimination)
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    n_earlystop: int = 100  # R: stop once the current level has this many subjects (100: off)
    p_saf: float | None = None  # default 0.6 target
    p_tox: float | None = None  # default 1.4 target

    name: ClassVar[str] = "boin"

    def __post_init__(self) -> None:
        _check_int("n_levels", self.n_levels, 1)
        _check_int("cohort_size", self.cohort_size, 1)
        _check_max_n(self.max_n, self.cohort_size)
        _check_int("n_earlystop", self.n_earlystop, 1)
        if isinstance(self.target, bool) or not isinstance(self.target, int | float):
            raise ValueError(f"target must be a number, got {self.target!r}")
        if not 0.0 < float(self.target) < 1.0:
            raise ValueError(f"target must be strictly between 0 and 1, got {self.target}")
        if self.p_tox is None and 1.4 * self.target >= 1.0:
            raise ValueError(
                f"target {self.target} is too high for BOIN: the default p_tox = 1.4 x target = "
                f"{1.4 * self.target:.3g} must be < 1"
            )
        # Validates p_saf / p_tox / cutoff_eli / offset with boin's own messages.
        boin.boundary_table(self.target, cohort_size=1, max_n=3, cutoff_eli=self.cutoff_eli,
                            extrasafe=self.extrasafe, offset=self.offset, p_saf=self.p_saf, p_tox=self.p_tox)

    def boundaries(self) -> boin.Boundaries:
        return boin.boundaries(self.target, p_saf=self.p_saf, p_tox=self.p_tox)


@dataclass(frozen=True)
class CrmDesign:
    """One-parameter CRM (dfcrm conventions) with no skipping and a safety stop."""

    skeleton: tuple[float, ...]
    target: float
    model: str = "empiric"
    intercept: float = 3.0
    prior_sd: float = crm.DEFAULT_PRIOR_SD
    cohort_size: int = 3
    max_n: int | None = None
    safety_cutoff: float = 0.9  # stop if P(p_1 > target | data) > this ...
    safety_min_n: int = 3  # ... once this many subjects were treated at level 1

    name: ClassVar[str] = "crm"

    def __post_init__(self) -> None:
        object.__setattr__(self, "skeleton", tuple(float(s) for s in self.skeleton))
        _check_int("cohort_size", self.cohort_size, 1)
        _check_max_n(self.max_n, self.cohort_size)
        _check_int("safety_min_n", self.safety_min_n, 1)
        if not 0.0 < self.safety_cutoff < 1.0:
            raise ValueError(f"safety_cutoff must be strictly between 0 and 1, got {self.safety_cutoff}")
        # crm validates skeleton (values in (0, 1), strictly increasing), target, model, intercept, prior_sd.
        crm.crm(self.skeleton, self.target, [(0, 0)] * len(self.skeleton), model=self.model,
                intercept=self.intercept, prior_sd=self.prior_sd)

    @property
    def n_levels(self) -> int:
        return len(self.skeleton)


ModelDesign = BoinDesign | CrmDesign


@dataclass(frozen=True)
class ModelDecision(Decision):
    """A :class:`Decision` plus the CRM's ``posterior_mean`` (None for BOIN)."""

    posterior_mean: tuple[float, ...] | None = None

    def as_json(self) -> dict:
        data = super().as_json()
        if self.posterior_mean is not None:
            data["posterior_mean"] = list(self.posterior_mean)
        return data


# --------------------------------------------------------------------------------------------------
# History -> counts
# --------------------------------------------------------------------------------------------------

Counts = tuple[tuple[int, int], ...]


def level_counts(outcomes: Sequence[Outcome], n_levels: int) -> Counts:
    """Per level ``(subjects, DLTs)``; G counts as no DLT. ValueError for a level outside 1..n_levels."""
    n = [0] * n_levels
    y = [0] * n_levels
    for o in outcomes:
        if not 1 <= o.dose_level <= n_levels:
            raise ValueError(f"outcome at dose level {o.dose_level} outside 1..{n_levels}")
        n[o.dose_level - 1] += 1
        y[o.dose_level - 1] += int(o.dlt)
    return tuple(zip(n, y, strict=True))


def _trailing_run(outcomes: Sequence[Outcome]) -> int:
    run = 0
    for o in reversed(outcomes):
        if o.dose_level != outcomes[-1].dose_level:
            break
        run += 1
    return run


def recommend(design: ModelDesign, outcomes: Sequence[Outcome]) -> ModelDecision:
    """The design's decision after `outcomes` (see the module docstring for every rule)."""
    outs = list(outcomes)
    counts = level_counts(outs, design.n_levels)
    current = outs[-1].dose_level if outs else None
    partial = _trailing_run(outs) % design.cohort_size if outs else 0
    return decide(design, counts, current, partial)


# --------------------------------------------------------------------------------------------------
# Decisions from counts
# --------------------------------------------------------------------------------------------------


def _go(level: int, add: int, rationale: str, pm: tuple[float, ...] | None = None) -> ModelDecision:
    return ModelDecision(True, level, add, level, None, rationale, False, pm)


def _stop(level: int | None, rationale: str, pm: tuple[float, ...] | None = None) -> ModelDecision:
    return ModelDecision(False, None, 0, level, "MTD" if level is not None else None, rationale, False, pm)


def _p_over(target: float, n: int, y: int) -> float:
    return float(_beta.sf(target, y + 1, n - y + 1))


def decide(
    design: ModelDesign, counts: Counts, current: int | None, partial: int = 0, *, fast: bool = False
) -> ModelDecision:
    """Decision from per-level ``(subjects, DLTs)``, the current level (None before any subject) and the
    number of subjects of an incomplete last cohort (`partial`)."""
    if isinstance(design, BoinDesign):
        return _decide_boin(design, counts, current, partial, fast)
    return _decide_crm(design, counts, current, partial, fast)


@lru_cache(maxsize=16)
def _boin_table(d: BoinDesign, max_n: int) -> tuple[boin.BoundaryRow, ...]:
    """R's full boundary table (every n up to `max_n`), index n - 1."""
    return tuple(boin.boundary_table(d.target, cohort_size=1, max_n=max_n, cutoff_eli=d.cutoff_eli,
                                     extrasafe=d.extrasafe, offset=d.offset, p_saf=d.p_saf, p_tox=d.p_tox))


def _boin_lowest_eliminated(d: BoinDesign, counts: Counts) -> int:
    """The lowest eliminated level (n_levels + 1 if none), as boin's elimination rule, from the table."""
    assert d.max_n is not None
    table = _boin_table(d, d.max_n)
    n1, y1 = counts[0]
    if d.extrasafe and n1 >= 3 and table[n1 - 1].stop_min is not None and y1 >= table[n1 - 1].stop_min:
        return 1
    for j, (n, y) in enumerate(counts, start=1):
        if n >= 3 and table[n - 1].eliminate_min is not None and y >= table[n - 1].eliminate_min:
            return j
    return d.n_levels + 1


def _boin_select_fast(d: BoinDesign, counts: Counts) -> int | None:
    """:func:`trialrules.boin.select_mtd` (``bound_mtd`` off) with elimination read off the table."""
    lowest = _boin_lowest_eliminated(d, counts)
    adm = [i for i, (n, _) in enumerate(counts) if n > 0 and i + 1 < lowest]
    if lowest == 1 or not adm:
        return None
    iso = boin._iso_estimates([counts[i] for i in adm])
    jittered = [e + (j + 1) * 1e-10 for j, e in enumerate(iso)]
    best = min(range(len(adm)), key=lambda j: abs(jittered[j] - d.target))
    return adm[best] + 1


def _boin_fast(d: BoinDesign, counts: Counts, current: int) -> ModelDecision:
    """:func:`trialrules.boin.recommend` read off the boundary table (same decisions, terse rationale).

    Pr(p > target | y, n) increases with y, so "Pr > cutoff_eli" is "y >= the table's elimination count";
    likewise for the extrasafe count at level 1. The tests compare this with ``boin.recommend`` state by state.
    """
    assert d.max_n is not None
    table = _boin_table(d, d.max_n)
    L, c = d.n_levels, d.cohort_size
    lowest = _boin_lowest_eliminated(d, counts)
    if lowest == 1:
        return _stop(None, "BOIN: level 1 eliminated: stop, no tolerable dose")
    if current >= lowest:
        return _go(lowest - 1, c, f"BOIN: level {lowest} and above eliminated → level {lowest - 1}")
    n, y = counts[current - 1]
    if n == 0:
        return _go(current, c, f"BOIN: stay at level {current}")
    row = table[n - 1]
    if y <= row.escalate_max:
        nxt = current if current == L or current + 1 >= lowest else current + 1
    elif y >= row.deescalate_min:
        nxt = max(current - 1, 1)
    else:
        nxt = current
    return _go(nxt, c, f"BOIN: {y}/{n} DLTs at level {current} → level {nxt}")


def _decide_boin(d: BoinDesign, counts: Counts, current: int | None, partial: int, fast: bool) -> ModelDecision:
    c = d.cohort_size
    if current is None:
        return _go(1, c, f"BOIN: no subject treated yet: start at level 1 with a cohort of {c}")
    if partial:
        return _go(current, c - partial, f"BOIN: {partial} of the cohort of {c} at level {current} evaluated: "
                   f"complete the cohort (add {c - partial}) before the next decision")
    total = sum(n for n, _ in counts)
    options = dict(cutoff_eli=d.cutoff_eli, extrasafe=d.extrasafe, offset=d.offset)
    n_cur = counts[current - 1][0]
    if fast and d.max_n is not None and (total >= d.max_n or n_cur >= d.n_earlystop):
        mtd = _boin_select_fast(d, counts)
        return _stop(mtd, f"BOIN: stop; MTD = level {mtd}" if mtd else "BOIN: stop, no tolerable dose")
    if (d.max_n is not None and total >= d.max_n) or n_cur >= d.n_earlystop:
        sel = boin.select_mtd(d.target, counts, p_tox=d.p_tox, **options)
        why = (f"{total} subjects treated, the maximum sample size {d.max_n}" if d.max_n is not None
               and total >= d.max_n else f"{n_cur} subjects at level {current} (n_earlystop {d.n_earlystop})")
        if sel.mtd is None:
            return _stop(None, f"BOIN: {why}: stop; {sel.reason} → no tolerable dose")
        return _stop(sel.mtd, f"BOIN: {why}: stop; {sel.reason} → MTD = level {sel.mtd}")
    if fast and d.max_n is not None:
        return _boin_fast(d, counts, current)

    rec = boin.recommend(d.target, d.n_levels, counts, current, p_saf=d.p_saf, p_tox=d.p_tox, **options)
    if rec.action == boin.STOP:
        return _stop(None, f"BOIN: {rec.reason}")
    b = d.boundaries()
    n, y = counts[current - 1]
    lowest_elim = rec.eliminated[0] if rec.eliminated else d.n_levels + 1
    elim_note = ""
    if rec.eliminated:
        j = lowest_elim
        nj, yj = counts[j - 1]
        elim_note = (f"{yj}/{nj} DLTs at level {j}: P(DLT rate > {d.target:g}) = {_p_over(d.target, nj, yj):.3f} "
                     f"> {d.cutoff_eli:g}, level {j} and above eliminated")
    if current >= lowest_elim:
        return _go(rec.next_level, c, f"BOIN: {elim_note} → de-escalate to level {rec.next_level}")
    here = f"{y}/{n} DLTs at level {current}: {y / n:.3f}"
    suffix = f" ({elim_note})" if elim_note else ""
    nxt = rec.next_level
    assert nxt is not None
    if y <= math.floor(b.lambda_e * n):
        head = f"{here} ≤ λe {b.lambda_e:.3f}"
        if rec.action == boin.ESCALATE:
            text = f"{head} → escalate to level {nxt}"
        elif current == d.n_levels:
            text = f"{head}, but level {current} is the top level → stay at level {current}"
        else:
            text = f"{head}, but level {current + 1} is eliminated → stay at level {current}"
    elif rec.action == boin.DEESCALATE:
        text = f"{here} ≥ λd {b.lambda_d:.3f} → de-escalate to level {nxt}"
    elif y >= math.ceil(b.lambda_d * n):
        text = f"{here} ≥ λd {b.lambda_d:.3f}, but level 1 is the lowest level → stay at level 1"
    else:
        text = f"{here}: λe {b.lambda_e:.3f} < {y / n:.3f} < λd {b.lambda_d:.3f} → stay at level {current}"
    return _go(nxt, c, f"BOIN: {text}{suffix}")


# --------------------------------------------------------------------------------------------------
# CRM
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CrmFit:
    beta_mean: float
    posterior_mean: tuple[float, ...]
    p_exceeds_1: float  # P(p_1 > target | data)
    recommended_level: int  # dfcrm mtd (closest to the target)


@lru_cache(maxsize=4096)
def _fit_exact(d: CrmDesign, counts: Counts) -> _CrmFit:
    r = crm.crm(d.skeleton, d.target, counts, model=d.model, intercept=d.intercept, prior_sd=d.prior_sd)
    return _CrmFit(r.beta_mean, r.posterior_mean, r.prob_exceeds[0], r.recommended_level)


class _Grid:
    """Posterior of beta on a fixed grid (trapezoid rule), for fast repeated fits of one design."""

    POINTS = 8001

    def __init__(self, d: CrmDesign) -> None:
        half = max(10.0, 10.0 * d.prior_sd)
        self.b = np.linspace(-half, half, self.POINTS)
        self.log_prior = -0.5 * (self.b / d.prior_sd) ** 2
        skel = np.asarray(d.skeleton)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            eb = np.exp(self.b)[:, None]
            if d.model == "empiric":
                log_p = eb * np.log(skel)[None, :]
                log_q = np.log(-np.expm1(log_p))
            else:
                x = np.log(skel / (1.0 - skel)) - d.intercept
                eta = d.intercept + eb * x[None, :]
                log_p = -np.logaddexp(0.0, -eta)
                log_q = -np.logaddexp(0.0, eta)
        self.log_p = np.maximum(log_p, -1e300)
        self.log_q = np.maximum(log_q, -1e300)
        # beta below which p_1(beta) > target (p_1 decreases in beta), or None if never
        t, s1 = d.target, d.skeleton[0]
        if d.model == "empiric":
            self.b1: float | None = math.log(math.log(t) / math.log(s1))
        else:
            x1 = math.log(s1 / (1 - s1)) - d.intercept
            cc = math.log(t / (1 - t)) - d.intercept
            self.b1 = math.log(cc / x1) if cc < 0 else None

    def fit(self, d: CrmDesign, counts: Counts) -> _CrmFit:
        n = np.array([c[0] for c in counts], dtype=float)
        y = np.array([c[1] for c in counts], dtype=float)
        lp = self.log_prior + self.log_p @ y + self.log_q @ (n - y)
        w = np.exp(lp - lp.max())
        h = self.b[1] - self.b[0]
        cum = np.concatenate(([0.0], np.cumsum((w[1:] + w[:-1]) * (h / 2))))
        mass = cum[-1]
        mean = float(np.sum(w * self.b) * h / mass)  # w vanishes at both ends: trapezoid == Riemann sum
        pm = crm.toxicity_curve(d.skeleton, mean, model=d.model, intercept=d.intercept)
        p1 = 0.0 if self.b1 is None else float(np.interp(self.b1, self.b, cum) / mass)
        return _CrmFit(mean, pm, p1, _closest(pm, d.target))


def _closest(ptox: Sequence[float], target: float) -> int:
    if all(p <= target for p in ptox):
        return len(ptox)
    if all(p >= target for p in ptox):
        return 1
    dist = [abs(p - target) for p in ptox]
    return dist.index(min(dist)) + 1


@lru_cache(maxsize=16)
def _grid(d: CrmDesign) -> _Grid:
    return _Grid(d)


def _fit(d: CrmDesign, counts: Counts, fast: bool) -> _CrmFit:
    return _grid(d).fit(d, counts) if fast else _fit_exact(d, counts)


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _decide_crm(d: CrmDesign, counts: Counts, current: int | None, partial: int, fast: bool) -> ModelDecision:
    c = d.cohort_size
    f = _fit(d, counts, fast)
    pm = f.posterior_mean
    label = f"CRM ({d.model})"
    if current is None:
        return _go(1, c, f"{label}: no subject treated yet: start at level 1 with a cohort of {c} "
                   f"(prior choice level {f.recommended_level})", pm)
    if partial:
        return _go(current, c - partial, f"{label}: {partial} of the cohort of {c} at level {current} evaluated: "
                   f"complete the cohort (add {c - partial}) before the next decision", pm)
    n1, y1 = counts[0]
    if n1 >= d.safety_min_n and f.p_exceeds_1 > d.safety_cutoff:
        return _stop(None, f"{label}: {y1}/{n1} DLTs at level 1: P(p1 > {d.target:g}) = {f.p_exceeds_1:.3f} "
                     f"> {d.safety_cutoff:g} → stop, no tolerable dose", pm)
    model = (f"{label}: posterior mean of beta {f.beta_mean:.3f}; DLT probability at the posterior mean "
             f"{_fmt(pm)}; level {f.recommended_level} is the closest to the target {d.target:g}")
    total = sum(n for n, _ in counts)
    if d.max_n is not None and total >= d.max_n:
        return _stop(f.recommended_level, f"{total} subjects treated, the maximum sample size {d.max_n}: stop; "
                     f"{model} → MTD = level {f.recommended_level}", pm)
    highest = max(i for i, (n, _) in enumerate(counts, start=1) if n > 0)
    cap = min(highest + 1, d.n_levels)
    if f.recommended_level > cap:
        return _go(cap, c, f"{model}; no skipping: at most one above the highest level tried ({highest}) "
                   f"→ level {cap}", pm)
    return _go(f.recommended_level, c, f"{model} → level {f.recommended_level}", pm)
