"""Kaplan–Meier curves with R ``survival``'s default interval, their median, and exact binomial intervals.

Pure Python (no Django): frozen dataclasses out. The efficacy pages and ``manage.py endpoints`` call it.

What "as R" means here
----------------------
The reference is R ``survival::survfit(Surv(time, status) ~ group)`` with its defaults, as printed by
``summary(fit, censored = TRUE)`` (the curve) and ``print(fit)`` (the median):

- **Estimator**: Kaplan–Meier, computed by statsmodels' ``SurvfuncRight`` (product-limit estimate and its
  Greenwood standard error at each event time).
- **Curve rows**: one :class:`CurvePoint` per *distinct* observed time, event or censoring, as
  ``summary(fit, censored = TRUE)`` lists them. ``n_risk`` is the number still followed just before the time
  (observed time >= t), ``n_event`` the events at that time; at a censoring-only time the survival and its
  interval are carried over from the last event time. statsmodels' own arrays hold event times only; the
  censoring rows are added here.
- **Interval** (``conf.type = "log"``, R's default): ``exp(log S ± z·se(log S))`` with the Greenwood
  ``se(log S) = sqrt(Σ d / (n (n − d)))`` (statsmodels gives ``se(S)``; ``se(log S) = se(S) / S``), the upper
  limit clipped at 1 and both limits ``None`` (R: NA) where ``S = 0``.
- **Median and its interval** (``KaplanMeier.median``, ``.lower``, ``.upper``): as R's ``print(fit)`` and
  ``summary(fit)$table`` report them (``survmean``'s ``minmin``): the first time with ``S <= 0.5``; where the
  curve is *exactly* 0.5 (within ``sqrt(.Machine$double.eps)``) over an interval, the midpoint of that time and
  the next time the curve drops; the lower limit is the first time the *lower* confidence curve is <= 0.5, the
  upper limit the first time the *upper* one is; not reached -> ``None`` (R's NA). statsmodels defines both
  differently, so they are computed here from the curve: ``SurvfuncRight.quantile`` takes the first time with
  ``S < 0.5`` (strict, SAS's rule, no midpoint), and ``SurvfuncRight.quantile_ci`` inverts a test around the
  curve (SAS's method, cloglog transform by default) instead of reading the confidence curves. On R's ``aml``
  (statsmodels 0.15): Nonmaintained, R 23 (8, NA), statsmodels ``quantile_ci`` (5, 33), with ``method="log"``
  (8, 45); Maintained, R 31 (18, NA), statsmodels (13, inf); uncensored times 1..10, R 5.5, statsmodels 6.
- **Other quantiles** (:meth:`KaplanMeier.quantile`): R's ``quantile.survfit`` (its ``findq``), step by step.
  It agrees with ``print`` on the median except in two edge cases: a curve exactly 0.5 up to its last time
  (``quantile``: midpoint of the flat's start and the last observed time; ``print``: the flat's start), and an
  upper confidence curve that rises again after crossing 0.5 (log limits can: the upper limit is not monotone
  when few remain at risk): ``findq`` reads the curves through ``approx(method = "constant", f = 1)``, ordered
  by level, so it takes the time of the largest limit that is <= 0.5 rather than the first one. Example: the
  pooled ``aml`` curve, whose upper limit is 0.4584 at week 45 and 0.4623 at week 48: ``print`` reports the
  upper limit 45 (published), ``findq`` as emulated here gives 48 (not checked against an R run).
- **Not reproduced**: R's ``timefix`` (``aeqSurv``) merging of times that differ by rounding error only;
  times here are taken as given.

Exact rate intervals
--------------------
:func:`exact_rate` is the Clopper–Pearson interval, R ``binom.test(x, n)$conf.int``, computed by scipy's
``binomtest(...).proportion_ci(method="exact")`` (beta quantiles; 0 and 1 at the boundaries).
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, norm
from statsmodels.duration.survfunc import SurvfuncRight

# R: quantile.survfit(tolerance = sqrt(.Machine$double.eps)).
TOLERANCE = math.sqrt(sys.float_info.epsilon)


@dataclass(frozen=True)
class CurvePoint:
    """One row of ``summary(fit, censored = TRUE)``: the curve just after ``time``."""

    time: float
    n_risk: int
    n_event: int
    survival: float
    lower: float | None
    upper: float | None

    def as_json(self) -> dict:
        return {
            "time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
            "survival": self.survival, "lower": self.lower, "upper": self.upper,
        }


@dataclass(frozen=True)
class KaplanMeier:
    """One group's curve: ``n`` subjects, ``events`` events, the median with its interval (``None`` when not
    reached) and the curve, one point per distinct time in increasing order."""

    group: str | None
    n: int
    events: int
    median: float | None
    lower: float | None
    upper: float | None
    curve: tuple[CurvePoint, ...]

    def at_risk(self, times: Iterable[float]) -> list[int]:
        """Numbers at risk at each of `times` (for the table under a plot): the subjects whose observed time
        is >= t, R's ``summary(fit, times = ..., extend = TRUE)$n.risk``. 0 beyond the last observed time."""
        points = self.curve
        stamps = [p.time for p in points]
        out = []
        for i, t in enumerate(times):
            value = _finite_number(f"times[{i}]", t)
            k = bisect_left(stamps, value)  # first curve time >= t: its n_risk counts every time >= t
            out.append(points[k].n_risk if k < len(points) else 0)
        return out

    def quantile(self, prob: float) -> tuple[float | None, float | None, float | None]:
        """R ``quantile(fit, probs = prob)``: the time where the curve falls to ``1 - prob``, with the
        lower and upper limits where the confidence curves do (``prob = 0.5`` is the median). ``None`` when
        the curve (or that confidence curve) does not fall so far. At 0.5 this is ``quantile.survfit``, which
        can differ from :attr:`median`/:attr:`lower`/:attr:`upper` (R's ``print``) in the edge cases of the
        module docstring."""
        p = _finite_number("prob", prob)
        if not 0 < p < 1:
            raise ValueError(f"prob: must be between 0 and 1 (exclusive), got {prob!r}")
        xs = [0.0] + [c.time for c in self.curve]  # R: firstx = 0 when the fit has no start.time
        estimate = _findq(xs, [0.0] + [1 - c.survival for c in self.curve], p)
        low = _findq(xs, [0.0] + [None if c.lower is None else 1 - c.lower for c in self.curve], p)
        high = _findq(xs, [0.0] + [None if c.upper is None else 1 - c.upper for c in self.curve], p)
        return estimate, low, high

    def as_json(self) -> dict:
        return {
            "group": self.group, "n": self.n, "events": self.events,
            "median": self.median, "lower": self.lower, "upper": self.upper,
            "curve": [c.as_json() for c in self.curve],
        }


def kaplan_meier(
    times: Sequence[float], events: Sequence[int | bool], group: str | None = None, conf: float = 0.95
) -> KaplanMeier:
    """The Kaplan–Meier curve of right-censored `times` (``events[i]`` 1/True = event, 0/False = censored),
    with R ``survfit``'s default log interval at level `conf` and R's median (see the module docstring)."""
    if isinstance(times, (str, bytes)) or isinstance(events, (str, bytes)):
        raise ValueError("times, events: expected sequences of numbers")
    times, events = list(times), list(events)
    if len(times) != len(events):
        raise ValueError(f"times, events: {len(times)} times but {len(events)} event indicators")
    if not times:
        raise ValueError("times: no observations")
    t = [_finite_number(f"times[{i}]", v) for i, v in enumerate(times)]
    for i, v in enumerate(t):
        if v < 0:
            raise ValueError(f"times[{i}]: must be 0 or more, got {times[i]!r}")
    d = []
    for i, v in enumerate(events):
        if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):  # bool is an int
            d.append(int(v))
        else:
            raise ValueError(f"events[{i}]: expected 1 (event) or 0 (censored), got {v!r}")
    level = _finite_number("conf", conf)
    if not 0 < level < 1:
        raise ValueError(f"conf: must be between 0 and 1 (exclusive), got {conf!r}")
    z = float(norm.ppf(1 - (1 - level) / 2))

    fit = SurvfuncRight(np.asarray(t, dtype=float), np.asarray(d, dtype=float))
    at_event = {
        float(time): (float(s), float(se))
        for time, s, se in zip(fit.surv_times, fit.surv_prob, fit.surv_prob_se, strict=True)
    }

    ordered = sorted(t)
    events_at: dict[float, int] = {}
    for v, e in zip(t, d, strict=True):
        events_at[v] = events_at.get(v, 0) + e
    curve = []
    survival, log_se = 1.0, 0.0  # before the first event: S = 1, se(log S) = 0, interval [1, 1] as R
    for time in sorted(events_at):
        n_risk = len(ordered) - bisect_left(ordered, time)
        if events_at[time]:
            survival, se = at_event[time]
            log_se = se / survival if survival > 0 else math.nan
        if survival > 0:
            lower = survival * math.exp(-z * log_se)
            upper = min(1.0, survival * math.exp(z * log_se))
        else:
            lower = upper = None  # R: log(0) -> NA limits
        curve.append(CurvePoint(time, n_risk, events_at[time], survival, lower, upper))

    stamps = [c.time for c in curve]
    return KaplanMeier(
        group, len(t), sum(d),
        median=_minmin([c.survival for c in curve], stamps),
        lower=_minmin([c.lower for c in curve], stamps),
        upper=_minmin([c.upper for c in curve], stamps),
        curve=tuple(curve),
    )


def exact_rate(responders: int, n: int, conf: float = 0.95) -> tuple[float, float, float]:
    """The response rate ``responders / n`` with its Clopper–Pearson (exact) interval at level `conf`,
    as R ``binom.test(responders, n, conf.level = conf)``: ``(rate, lower, upper)``."""
    for name, value in (("responders", responders), ("n", n)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    if responders < 0:
        raise ValueError(f"responders: must be 0 or more, got {responders}")
    if responders > n:
        raise ValueError(f"responders: {responders} is more than n = {n}")
    level = _finite_number("conf", conf)
    if not 0 < level < 1:
        raise ValueError(f"conf: must be between 0 and 1 (exclusive), got {conf!r}")
    ci = binomtest(int(responders), int(n)).proportion_ci(confidence_level=level, method="exact")
    return responders / n, float(ci.low), float(ci.high)


# R's minmin (print.survfit) and findq (quantile.survfit) ----------------------------------------------------


def _minmin(values: list[float | None], times: list[float]) -> float | None:
    """R ``survival:::survmean``'s ``minmin(y, x)``: the first time the curve `values` (``None`` = NA,
    skipped) is <= 0.5 (within the tolerance); if it is exactly 0.5 there and drops later, the midpoint of that
    time and the first time it is lower."""
    keep = [(x, y) for x, y in zip(times, values, strict=True) if y is not None and y < 0.5 + TOLERANCE]
    if not keep:
        return None
    x1, y1 = keep[0]
    if abs(y1 - 0.5) < TOLERANCE:
        lower = next((x for x, y in keep if y < y1), None)
        if lower is not None:
            return (x1 + lower) / 2
    return x1


def _findq(xs: list[float], ys: list[float | None], p: float) -> float | None:
    """R ``survival:::findq(x, y, p, tol)`` for one probability: `ys` is a CDF (``1 - S``, or ``1 -`` a
    confidence curve, ``None`` for NA) at the times `xs`, starting with (0, 0)."""
    known = [y for y in ys if y is not None]
    # R: max(y) < p -> NA, without the tolerance. statsmodels' product (exp of a sum of logs) can leave a curve
    # that is 0.5 in exact arithmetic at 0.5 + 1e-16, where R's direct product gives 0.5; the tolerance keeps
    # such a flat a flat, as every other comparison here does.
    if max(known) + TOLERANCE < p:
        return None
    xmax = xs[-1]
    # duplicated(y): keep the first time of each level (censoring rows repeat the level); NA is one level.
    seen: set[float | None] = set()
    kx: list[float] = []
    ky: list[float | None] = []
    for x, y in zip(xs, ys, strict=True):
        if y not in seen:
            seen.add(y)
            kx.append(x)
            ky.append(y)
    first = _approx_index(ky, TOLERANCE, p)  # first level >= p - tol: S <= 1 - p (within tol)
    past = _approx_index(ky, -TOLERANCE, p)  # first level >= p + tol: strictly below a flat at 1 - p
    quant = None if first is None or past is None else (kx[first] + kx[past]) / 2
    last = ky[-1]
    if last is not None and abs(p - last) < TOLERANCE and first is not None:
        quant = (kx[first] + xmax) / 2  # a flat at exactly 1 - p up to the end of the curve
    return quant


def _approx_index(levels: list[float | None], shift: float, v: float) -> int | None:
    """R ``approx(levels + shift, seq_along(levels), v, method = "constant", f = 1)$y`` (as a 0-based index):
    the pairs without NA, ordered by level; NA outside their range; else the index paired with the smallest
    level >= v."""
    pairs = sorted((y + shift, i) for i, y in enumerate(levels) if y is not None)
    if not pairs or v < pairs[0][0] or v > pairs[-1][0]:
        return None
    k = bisect_left([level for level, _ in pairs], v)
    return pairs[k][1]


def _finite_number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field}: must be finite, got {value!r}")
    return number
