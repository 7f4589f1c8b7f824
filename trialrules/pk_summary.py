"""Summaries of a PK parameter per dose level, and the power model of dose proportionality.

Pure rules (no Django): numbers in, frozen dataclasses out.

* :func:`summarise` – descriptive statistics of one parameter (e.g. the AUCinf of every subject of a dose level):
  n (non-missing), arithmetic mean, SD (n − 1), median, minimum, maximum, and the geometric mean exp(mean ln x) with
  the geometric CV% 100·sqrt(exp(s²) − 1), s the SD (n − 1) of ln x – the usual PK summary (PKNCA's
  ``business.geomean``/``business.geocv``). The geometric statistics need every value > 0 (else None, with a note).
* :func:`dose_proportionality` – the power model ln(value) = a + b·ln(dose) by ordinary least squares over the
  individual values, with the ``level`` (90 %) t confidence interval of b (n − 2 degrees of freedom), judged by
  Smith's criterion (B. P. Smith et al., Pharm Res 2000;17:1278–83; Hummel et al., Pharm Stat 2009;8:38–49): with
  r = highest/lowest dose, the doses are proportional when the whole CI of b lies within
  (1 + ln θL/ln r, 1 + ln θH/ln r) (θL = 0.8, θH = 1.25). Equivalently the ratio of dose-normalised geometric means
  at the highest and lowest dose, R_dnm = r^(b − 1), has its CI within (θL, θH). This is the fixed-effects fit of a
  parallel-group design (one value per subject); a crossover design needs the mixed model of Smith et al.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Summary:
    n: int  # non-missing values
    n_missing: int
    geo_mean: float | None = None
    geo_cv_pct: float | None = None
    mean: float | None = None
    sd: float | None = None  # n − 1 denominator
    median: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerModel:
    n: int  # (dose, value) pairs in the fit
    slope: float | None = None  # b
    slope_ci_low: float | None = None
    slope_ci_high: float | None = None
    intercept: float | None = None  # a, on the ln scale
    level: float = 0.90
    dose_ratio: float | None = None  # r = highest / lowest dose
    criterion_low: float | None = None  # 1 + ln θL / ln r
    criterion_high: float | None = None  # 1 + ln θH / ln r
    ratio: float | None = None  # R_dnm = r^(b − 1)
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    proportional: bool | None = None  # None: not estimable (see notes)
    notes: tuple[str, ...] = ()


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return float(value)


def summarise(values: Sequence[float | None]) -> Summary:
    """Descriptive and geometric statistics of ``values``; None or NaN is missing (counted in ``n_missing``)."""
    present = [_finite(v, f"value {i + 1}") for i, v in enumerate(values) if not _missing(v)]
    n_missing = len(values) - len(present)
    if not present:
        return Summary(n=0, n_missing=n_missing, notes=("no values",))
    notes: list[str] = []
    n = len(present)
    result = dict(mean=statistics.fmean(present), median=statistics.median(present), minimum=min(present),
                  maximum=max(present))
    if n >= 2:
        result["sd"] = statistics.stdev(present)
    else:
        notes.append("one value: no SD or geometric CV")
    if all(v > 0 for v in present):
        logs = [math.log(v) for v in present]
        result["geo_mean"] = math.exp(statistics.fmean(logs))
        if n >= 2:
            result["geo_cv_pct"] = 100 * math.sqrt(math.expm1(statistics.stdev(logs) ** 2))
    else:
        notes.append("a value is 0 or less: no geometric mean or CV")
    return Summary(n=n, n_missing=n_missing, **result, notes=tuple(notes))


def dose_proportionality(
    doses: Sequence[float],
    values: Sequence[float | None],
    *,
    theta_low: float = 0.8,
    theta_high: float = 1.25,
    level: float = 0.90,
) -> PowerModel:
    """Power model ln(value) = a + b·ln(dose) and Smith's criterion (see the module docstring).

    ``doses[i]`` is the dose of the subject whose parameter is ``values[i]``. A missing value (None or NaN) drops its
    pair (with a note). Not estimable (everything None but ``n``, ``proportional`` None, a note): fewer than 3
    values, a single dose level, or a value <= 0. ValueError: lengths differ, a dose that is not a positive finite
    number, or θL, θH, level out of range.
    """
    if len(doses) != len(values):
        raise ValueError(f"doses and values differ in length ({len(doses)} and {len(values)})")
    if not (0 < theta_low < 1 < theta_high):
        raise ValueError(f"theta_low {theta_low!r} and theta_high {theta_high!r} must satisfy 0 < θL < 1 < θH")
    if not (0 < level < 1):
        raise ValueError(f"level: {level!r} must be between 0 and 1")
    pairs: list[tuple[float, float]] = []
    for i, (dose, value) in enumerate(zip(doses, values, strict=True)):
        if _finite(dose, f"dose {i + 1}") <= 0:
            raise ValueError(f"dose {i + 1}: {dose!r} is not a positive dose")
        if not _missing(value):
            pairs.append((float(dose), _finite(value, f"value {i + 1}")))
    notes: list[str] = []
    if len(pairs) < len(values):
        notes.append(f"{len(values) - len(pairs)} missing value(s) dropped")
    n = len(pairs)
    if n < 3:
        return PowerModel(n=n, level=level, notes=(*notes, f"{n} value(s): the power model needs 3 or more"))
    if len({d for d, _ in pairs}) < 2:
        return PowerModel(n=n, level=level, notes=(*notes, "one dose level only: the power model needs 2 or more"))
    if any(v <= 0 for _, v in pairs):
        return PowerModel(n=n, level=level, notes=(*notes, "a value is 0 or less: ln(value) is not defined"))

    x = np.log([d for d, _ in pairs])
    y = np.log([v for _, v in pairs])
    sxx = float(np.sum((x - x.mean()) ** 2))
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * x.mean())
    residual_var = float(np.sum((y - intercept - slope * x) ** 2)) / (n - 2)
    half = float(stats.t.ppf(0.5 + level / 2, n - 2)) * math.sqrt(residual_var / sxx)
    low, high = slope - half, slope + half
    r = max(d for d, _ in pairs) / min(d for d, _ in pairs)
    crit_low, crit_high = 1 + math.log(theta_low) / math.log(r), 1 + math.log(theta_high) / math.log(r)
    return PowerModel(
        n=n, slope=slope, slope_ci_low=low, slope_ci_high=high, intercept=intercept, level=level, dose_ratio=r,
        criterion_low=crit_low, criterion_high=crit_high,
        ratio=r ** (slope - 1), ratio_ci_low=r ** (low - 1), ratio_ci_high=r ** (high - 1),
        proportional=crit_low <= low and high <= crit_high, notes=tuple(notes),
    )
