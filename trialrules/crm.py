"""Continual reassessment method (CRM), as the R package dfcrm computes it.

Pure Python (numpy/scipy), no Django: frozen dataclasses out. The engine only *recommends*; a person
approves each decision.

Source
------
O'Quigley J, Pepe M, Fisher L. Continual reassessment method: a practical design for phase 1 clinical
trials in cancer. Biometrics 1990;46:33-48. Conventions (models, prior, estimator, dose selection) are
those of ``crm()`` in the R package dfcrm (Cheung; R/dfcrm.R; the estimation code was read in
``titecrm``, which ``crm`` equals with all weights 1), described in Cheung, *Dose Finding by the
Continual Reassessment Method*, CRC 2011:

* working models, one parameter ``beta`` with prior ``N(0, prior_sd**2)`` (dfcrm ``scale``, default
  ``sqrt(1.34)``):

  - ``"empiric"`` (power): ``p_i(beta) = skeleton_i ** exp(beta)``;
  - ``"logistic"`` (one-parameter): ``logit p_i(beta) = a0 + exp(beta) * x_i`` with the fixed
    intercept ``a0`` (dfcrm ``intcpt``, default 3) and the dose labels back-solved from the skeleton,
    ``x_i = logit(skeleton_i) - a0``. As in dfcrm every ``x_i`` must be < 0, i.e. every skeleton value
    below ``expit(a0)`` (0.9526 for a0 = 3), otherwise ValueError.

* likelihood: each subject at level i contributes ``p_i`` (DLT) or ``1 - p_i`` (no DLT); only the
  per-level counts (n treated, DLTs) matter, so ``outcomes`` is one ``(n, dlts)`` pair per level.
* estimate (dfcrm ``method="bayes"``): the posterior mean of ``beta``; the posterior variance is
  ``E[beta**2] - E[beta]**2`` (dfcrm ``post.var``).
* ``ptox`` (dfcrm ``ptox``): each level's toxicity probability evaluated *at* the posterior mean of
  ``beta`` -- a plug-in value, not the posterior mean of ``p_i``.
* recommended level (dfcrm ``mtd``): the level whose ``ptox`` is closest to the target; ties go to the
  lower level (R ``order(...)[1]``); if every ``ptox <= target`` the top level, if every
  ``ptox >= target`` level 1 (both are what "closest" gives for an increasing curve anyway).

Numerical integration
---------------------
dfcrm uses R ``integrate`` (QUADPACK) over the real line for the normalising constant and over
[-10, 10] for the moments. Here the three integrals (mass, first and second moment) are computed with
``scipy.integrate.quad`` (QUADPACK as well) over the whole real line, split at the posterior mode and
with the integrand rescaled by its value at the mode, so that neither underflow nor a narrow peak far
from 0 is a problem; ``epsabs=0, epsrel=1e-11``. The prior mass outside [-10, 10] is about 6e-18
for the default prior (|beta| > 8.6 sd), so dfcrm's [-10, 10] truncation of the moments makes no visible
difference. The tests compare against an independent trapezoid rule on 400001 points over [-10, 10]
(asserted to 1e-8; observed differences are ~1e-15).

Posterior probability of overdosing
-----------------------------------
``prob_exceeds[i] = P(p_i(beta) > target | data)``, computed exactly from the posterior of ``beta``
(``p_i`` is monotone in ``beta``, so the event is a half-line in ``beta``). This is *not* in dfcrm;
the R package escalation approximates it by a normal posterior for ``beta``, which we do not do.

Dose levels are 1-based in every public value, as in dfcrm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

__all__ = [
    "DEFAULT_PRIOR_SD",
    "CrmRecommendation",
    "CrmResult",
    "crm",
    "recommend",
    "toxicity_curve",
]

DEFAULT_PRIOR_SD = math.sqrt(1.34)  # dfcrm default ``scale``
MODELS = ("empiric", "logistic")
_EPSREL = 1e-11


@dataclass(frozen=True)
class CrmResult:
    model: str
    skeleton: tuple[float, ...]
    target: float
    intercept: float  # a0 of the logistic model (recorded, unused by "empiric")
    prior_sd: float
    outcomes: tuple[tuple[int, int], ...]  # per level: (n treated, DLTs)
    beta_mean: float  # posterior mean of beta (dfcrm ``estimate``)
    beta_var: float  # posterior variance of beta (dfcrm ``post.var``)
    posterior_mean: tuple[float, ...]  # p_i at the posterior mean of beta (dfcrm ``ptox``)
    prob_exceeds: tuple[float, ...]  # P(p_i > target | data), exact (not in dfcrm)
    recommended_level: int  # 1-based, closest ptox to target (dfcrm ``mtd``)

    @property
    def n_treated(self) -> int:
        return sum(n for n, _ in self.outcomes)

    @property
    def highest_tried(self) -> int | None:
        """Highest 1-based level with at least one subject treated, or None before any subject."""
        tried = [i for i, (n, _) in enumerate(self.outcomes, start=1) if n > 0]
        return max(tried) if tried else None


@dataclass(frozen=True)
class CrmRecommendation:
    next_level: int  # 1-based level for the next subject(s)
    model_level: int  # the unrestricted CRM choice (dfcrm ``mtd``)
    restricted: bool  # True when ``no_skip`` lowered the model's choice
    rationale: str
    result: CrmResult


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _check_inputs(
    skeleton: Sequence[float],
    target: float,
    outcomes: Sequence[tuple[int, int]],
    model: str,
    intercept: float,
    prior_sd: float,
) -> tuple[tuple[float, ...], tuple[tuple[int, int], ...]]:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    skel = tuple(float(s) for s in skeleton)
    if not skel:
        raise ValueError("skeleton must have at least one dose level")
    for i, s in enumerate(skel, start=1):
        if not (0.0 < s < 1.0) or not math.isfinite(s):
            raise ValueError(f"skeleton values must be in (0, 1); level {i} is {s!r}")
    for i in range(1, len(skel)):
        if not skel[i] > skel[i - 1]:
            raise ValueError(
                f"skeleton must be strictly increasing; level {i + 1} ({skel[i]!r}) <= level {i} ({skel[i - 1]!r})"
            )
    target = float(target)
    if not (0.0 < target < 1.0):
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    prior_sd = float(prior_sd)
    if not (prior_sd > 0.0) or not math.isfinite(prior_sd):
        raise ValueError(f"prior_sd must be > 0, got {prior_sd!r}")
    if not math.isfinite(float(intercept)):
        raise ValueError(f"intercept must be finite, got {intercept!r}")
    if model == "logistic":
        limit = 1.0 / (1.0 + math.exp(-float(intercept)))
        if skel[-1] >= limit:
            raise ValueError(
                f"intercept {intercept!r} is too small for the logistic model: every skeleton value must be "
                f"< expit(intercept) = {limit:.6g} (dfcrm: 'scaled doses > 0'), level {len(skel)} is {skel[-1]!r}"
            )
    outs = tuple(tuple(o) for o in outcomes)
    if len(outs) != len(skel):
        raise ValueError(f"outcomes must have one (n, dlts) pair per skeleton level: {len(outs)} != {len(skel)}")
    checked: list[tuple[int, int]] = []
    for i, pair in enumerate(outs, start=1):
        if len(pair) != 2:
            raise ValueError(f"outcomes level {i} must be an (n, dlts) pair, got {pair!r}")
        n, d = pair
        if isinstance(n, bool) or isinstance(d, bool) or int(n) != n or int(d) != d:
            raise ValueError(f"outcomes level {i} counts must be integers, got {pair!r}")
        n, d = int(n), int(d)
        if n < 0 or d < 0:
            raise ValueError(f"outcomes level {i}: counts must be >= 0, got n={n}, dlts={d}")
        if d > n:
            raise ValueError(f"outcomes level {i}: dlts ({d}) > n treated ({n})")
        checked.append((n, d))
    return skel, tuple(checked)


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------


def _log_p_and_log_q(beta: np.ndarray, skel: np.ndarray, model: str, a0: float) -> tuple[np.ndarray, np.ndarray]:
    """log p_i(beta) and log(1 - p_i(beta)), shape (len(beta), K), computed without cancellation."""
    b = np.atleast_1d(np.asarray(beta, dtype=float))[:, None]
    if model == "empiric":
        log_p = np.exp(b) * np.log(skel)[None, :]  # <= 0
        log_q = np.log(-np.expm1(log_p))  # log(1 - exp(log_p))
    else:
        x = np.log(skel / (1.0 - skel)) - a0
        eta = a0 + np.exp(b) * x[None, :]
        log_p = -np.logaddexp(0.0, -eta)
        log_q = -np.logaddexp(0.0, eta)
    return log_p, log_q


def toxicity_curve(
    skeleton: Sequence[float], beta: float, *, model: str = "empiric", intercept: float = 3.0
) -> tuple[float, ...]:
    """Toxicity probability at each level for a given ``beta`` under the working model (no validation
    beyond the model name; :func:`crm` validates)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    log_p, _ = _log_p_and_log_q(np.array([beta]), np.asarray(skeleton, dtype=float), model, float(intercept))
    return tuple(float(v) for v in np.exp(log_p[0]))


def _log_posterior_factory(skel: np.ndarray, outs: tuple[tuple[int, int], ...], model: str, a0: float, sd: float):
    n = np.array([o[0] for o in outs], dtype=float)
    d = np.array([o[1] for o in outs], dtype=float)
    used = n > 0

    def log_post(beta):
        beta = np.atleast_1d(np.asarray(beta, dtype=float))
        val = -0.5 * (beta / sd) ** 2
        if used.any():
            # Far tails (quad samples |beta| of 1e3 and more): exp(beta) overflows to inf and p_i to 0 or 1;
            # the resulting -inf log-density is the correct limit, so the warnings are silenced.
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                log_p, log_q = _log_p_and_log_q(beta, skel[used], model, a0)
                # 0 * log(0) would be nan where p underflows; counts of 0 contribute nothing.
                dd, nn = d[used], n[used] - d[used]
                contrib = np.where(dd > 0, dd * log_p, 0.0) + np.where(nn > 0, nn * log_q, 0.0)
                val = val + contrib.sum(axis=1)
        return val

    return log_post


def _threshold(skel_i: float, target: float, model: str, a0: float) -> tuple[str, float]:
    """The set {beta : p_i(beta) > target} as ("below", b) = (-inf, b), ("above", b) = (b, inf),
    ("all", nan) or ("none", nan)."""
    if model == "empiric":
        # s ** exp(b) > t  <=>  exp(b) < log t / log s
        return "below", math.log(math.log(target) / math.log(skel_i))
    x = math.log(skel_i / (1.0 - skel_i)) - a0  # < 0 (validated)
    c = math.log(target / (1.0 - target)) - a0  # need exp(b) * x > c
    if c >= 0.0:
        return "none", math.nan  # exp(b) * x < 0 <= c
    return "below", math.log(c / x)  # exp(b) < c / x  (both negative)


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def crm(
    skeleton: Sequence[float],
    target: float,
    outcomes: Sequence[tuple[int, int]],
    *,
    model: str = "empiric",
    intercept: float = 3.0,
    prior_sd: float = DEFAULT_PRIOR_SD,
) -> CrmResult:
    """Fit the one-parameter CRM (dfcrm ``crm(..., method="bayes")``) to per-level counts.

    ``skeleton``: prior guesses of the DLT probability per level, strictly increasing in (0, 1).
    ``target``: target DLT rate in (0, 1). ``outcomes``: per level ``(n treated, DLTs)``.
    ``model``: ``"empiric"`` or ``"logistic"``; ``intercept``: a0 of the logistic model (dfcrm
    ``intcpt``); ``prior_sd``: standard deviation of the normal prior on beta (dfcrm ``scale``).
    Raises ValueError naming the offending argument.
    """
    skel_t, outs = _check_inputs(skeleton, target, outcomes, model, intercept, prior_sd)
    target = float(target)
    a0 = float(intercept)
    sd = float(prior_sd)
    skel = np.asarray(skel_t, dtype=float)
    log_post = _log_posterior_factory(skel, outs, model, a0, sd)

    # Posterior mode (log-posterior is concave in beta for both models), bracketed generously.
    opt = optimize.minimize_scalar(lambda b: -float(log_post(b)[0]), bounds=(-40.0, 40.0), method="bounded",
                                   options={"xatol": 1e-10})
    mode = float(opt.x)
    ref = float(log_post(mode)[0])

    def dens(b: float) -> float:
        return math.exp(float(log_post(b)[0]) - ref)

    def integral(f, lo: float, hi: float) -> float:
        return integrate.quad(f, lo, hi, epsabs=0.0, epsrel=_EPSREL, limit=200)[0]

    def whole(f) -> float:
        return integral(f, -math.inf, mode) + integral(f, mode, math.inf)

    # Moments about the mode keep the integrands well scaled; shift back afterwards.
    m0 = whole(dens)
    m1 = whole(lambda b: (b - mode) * dens(b)) / m0
    m2 = whole(lambda b: (b - mode) ** 2 * dens(b)) / m0
    beta_mean = mode + m1
    beta_var = max(m2 - m1 * m1, 0.0)

    ptox = toxicity_curve(skel_t, beta_mean, model=model, intercept=a0)

    exceeds: list[float] = []
    for s in skel_t:
        kind, b = _threshold(s, target, model, a0)
        if kind == "none":
            exceeds.append(0.0)
            continue
        below = integral(dens, -math.inf, b) if b <= mode else m0 - integral(dens, b, math.inf)
        exceeds.append(min(max(below / m0, 0.0), 1.0))

    if all(p <= target for p in ptox):
        rec = len(ptox)
    elif all(p >= target for p in ptox):
        rec = 1
    else:
        dist = [abs(p - target) for p in ptox]
        rec = dist.index(min(dist)) + 1

    return CrmResult(
        model=model,
        skeleton=skel_t,
        target=target,
        intercept=a0,
        prior_sd=sd,
        outcomes=outs,
        beta_mean=beta_mean,
        beta_var=beta_var,
        posterior_mean=ptox,
        prob_exceeds=tuple(exceeds),
        recommended_level=rec,
    )


def recommend(
    skeleton: Sequence[float],
    target: float,
    outcomes: Sequence[tuple[int, int]],
    *,
    model: str = "empiric",
    intercept: float = 3.0,
    prior_sd: float = DEFAULT_PRIOR_SD,
    no_skip: bool = True,
    start_level: int = 1,
) -> CrmRecommendation:
    """Next dose level: the CRM choice (:func:`crm`), optionally restricted by the no-skipping rule.

    ``no_skip=True`` (default): the next level is at most one above the highest level tried so far
    (no untried level is skipped when escalating; de-escalation is never restricted). Before any subject
    is treated the next level is ``start_level`` (default 1, the usual safe start; dfcrm itself would
    return its prior MTD). ``no_skip=False`` returns the CRM choice unchanged. This rule is the common
    safety restriction (Goodman, Zahurak & Piantadosi, Stat Med 1995; ``dont_skip_doses(when_escalating
    = TRUE)`` in the R package escalation); it is not part of dfcrm ``crm``.
    """
    result = crm(skeleton, target, outcomes, model=model, intercept=intercept, prior_sd=prior_sd)
    k = len(result.skeleton)
    if isinstance(start_level, bool) or not isinstance(start_level, int) or not 1 <= start_level <= k:
        raise ValueError(f"start_level must be an integer in 1..{k}, got {start_level!r}")
    model_level = result.recommended_level
    highest = result.highest_tried
    if not no_skip:
        return CrmRecommendation(model_level, model_level, False, f"CRM: level {model_level} (no restriction)", result)
    if highest is None:
        return CrmRecommendation(
            start_level, model_level, start_level != model_level,
            f"no subject treated yet: start at level {start_level} (CRM prior choice {model_level})", result,
        )
    cap = min(highest + 1, k)
    if model_level > cap:
        return CrmRecommendation(
            cap, model_level, True,
            f"CRM chose level {model_level}; no skipping: at most one above the highest tried ({highest})",
            result,
        )
    return CrmRecommendation(model_level, model_level, False, f"CRM: level {model_level}", result)
