"""Operating characteristics of BOIN and the CRM (:mod:`trialrules.model_designs`), same shape as the rule's.

Pure Python (numpy/scipy), no Django. The trial is the one :func:`trialrules.model_designs.decide`
runs: start with a cohort at level 1, a decision after every whole cohort, until the design stops (BOIN:
level 1 eliminated, or ``n_earlystop`` reached at the current level; CRM: the safety stop) or ``max_n``
subjects were treated (then BOIN's ``select_mtd`` / the CRM's level closest to the target). Each
subject at level i has a DLT with probability ``true_dlt[i]``, independently. The result is a
:class:`trialrules.simulation.OperatingCharacteristics`: ``select`` = [P(no dose selected), P(level 1),
...], expected subjects and DLTs per level, ``method`` "exact" or "monte_carlo", ``trials``.

* :func:`simulate`: Monte Carlo with ``numpy.random.default_rng(seed)``; the uniforms of all subjects
  of all trials are drawn at once (``(trials, max_n / cohort_size, cohort_size)``, a DLT when
  ``u < p``), so a seed gives the same result on every run.
* :func:`exact`: the probability of every reachable state (per-level counts and the current level),
  cohort after cohort (dynamic programming: paths reaching the same state are merged); refused with a
  ValueError above ``max_states`` states.

Decisions are memoised on the state and taken by ``decide(..., fast=True)``: the same decisions as the
slow path, BOIN's read off R's boundary table, the CRM fitted by the fixed-grid trapezoid rule (matching the
adaptive quadrature of :mod:`trialrules.crm` to ~1e-12 for the posterior mean and ~1e-5 for
P(p_1 > target)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialrules.model_designs import BoinDesign, CrmDesign, ModelDecision, decide
from trialrules.simulation import OperatingCharacteristics, check_probabilities

__all__ = ["DEFAULT_MAX_STATES", "exact", "simulate"]

DEFAULT_MAX_STATES = 200_000

ModelDesign = BoinDesign | CrmDesign
State = tuple[tuple[tuple[int, int], ...], int | None]


class _Decider:
    """Memoised decisions of one design (BOIN depends on the current level, the CRM does not)."""

    def __init__(self, design: ModelDesign) -> None:
        if design.max_n is None:
            raise ValueError("max_n: a maximum sample size is required to simulate (total subjects)")
        self.design = design
        self.by_level = isinstance(design, BoinDesign)
        self.memo: dict[tuple, ModelDecision] = {}

    def __call__(self, counts, current) -> ModelDecision:
        key = (counts, current if self.by_level else current is None)
        dec = self.memo.get(key)
        if dec is None:
            dec = self.memo[key] = decide(self.design, counts, current, 0, fast=True)
        return dec


def _true(design: ModelDesign, true_dlt: Sequence[float]) -> list[float]:
    return check_probabilities("true_dlt", true_dlt, design.n_levels)


def _add(counts, level: int, m: int, dlts: int):
    out = list(counts)
    n, y = out[level - 1]
    out[level - 1] = (n + m, y + dlts)
    return tuple(out)


def simulate(
    design: ModelDesign, true_dlt: Sequence[float], *, trials: int, seed: int | None
) -> OperatingCharacteristics:
    """Operating characteristics of `design` from `trials` simulated trials."""
    p = _true(design, true_dlt)
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials: must be a whole number >= 1, got {trials!r}")
    decider = _Decider(design)
    L, c = design.n_levels, design.cohort_size
    assert design.max_n is not None
    ncoh = design.max_n // c
    rng = np.random.default_rng(seed)
    u = rng.random((int(trials), ncoh, c))
    select = np.zeros(L + 1)
    subjects = np.zeros(L)
    dlts = np.zeros(L)
    empty = ((0, 0),) * L
    for trial in range(int(trials)):
        counts, current, k = empty, None, 0
        while True:
            dec = decider(counts, current)
            if not dec.continue_trial:
                break
            lvl, m = dec.next_dose_level, dec.add_subjects
            assert lvl is not None and m == c and k < ncoh
            counts = _add(counts, lvl, m, int((u[trial, k] < p[lvl - 1]).sum()))
            current, k = lvl, k + 1
        select[dec.recommended_dose_level or 0] += 1
        for i, (n, y) in enumerate(counts):
            subjects[i] += n
            dlts[i] += y
    t = float(trials)
    return OperatingCharacteristics(
        select=[float(x / t) for x in select],
        expected_subjects=[float(x / t) for x in subjects],
        expected_dlts=[float(x / t) for x in dlts],
        expected_total_subjects=float(subjects.sum() / t),
        method="monte_carlo",
        trials=int(trials),
    )


def exact(
    design: ModelDesign, true_dlt: Sequence[float], *, max_states: int = DEFAULT_MAX_STATES
) -> OperatingCharacteristics:
    """Operating characteristics by dynamic programming over the trial states (see the module docstring)."""
    from math import comb

    p = _true(design, true_dlt)
    decider = _Decider(design)
    L, c = design.n_levels, design.cohort_size
    binom = [[comb(c, k) * q**k * (1 - q) ** (c - k) for k in range(c + 1)] for q in p]
    layer: dict[State, float] = {(((0, 0),) * L, None): 1.0}
    select = [0.0] * (L + 1)
    subjects = [0.0] * L
    dlts = [0.0] * L
    seen = 0
    while layer:
        seen += len(layer)
        if seen > max_states:
            raise ValueError(
                f"exact enumeration needs more than {max_states} trial states; use Monte Carlo (trials) instead"
            )
        nxt: dict[State, float] = {}
        for (counts, current), w in layer.items():
            dec = decider(counts, current)
            if not dec.continue_trial:
                select[dec.recommended_dose_level or 0] += w
                for i, (n, y) in enumerate(counts):
                    subjects[i] += w * n
                    dlts[i] += w * y
                continue
            lvl = dec.next_dose_level
            assert lvl is not None
            for k, pr in enumerate(binom[lvl - 1]):
                if pr:
                    key = (_add(counts, lvl, c, k), lvl)
                    nxt[key] = nxt.get(key, 0.0) + w * pr
        layer = nxt
    total = sum(select)
    assert abs(total - 1.0) < 1e-9, f"path probabilities sum to {total!r}, not 1"
    return OperatingCharacteristics(
        select=select,
        expected_subjects=subjects,
        expected_dlts=dlts,
        expected_total_subjects=float(sum(subjects)),
        method="exact",
        trials=None,
    )
