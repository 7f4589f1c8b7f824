"""Non-compartmental pharmacokinetic analysis (NCA) of one concentration–time profile.

Pure rules (no Django): frozen dataclasses in, an :class:`NcaResult` out. The conventions are PKNCA's defaults
(R package ``PKNCA``, humanpred/pknca: ``R/half.life.R``, ``R/auc.R``, ``R/pk.calc.simple.R``), which agree with
Phoenix WinNonlin's "best fit" terminal phase and its "linear up / log down" AUC:

* **Cmax/Tmax** – the highest observed concentration and the first time it is reached (PKNCA ``first.tmax=TRUE``).
* **Clast/Tlast** – the last concentration above zero (BLQ is passed in as 0) and its time.
* **λz** (``pk.calc.half.life``) – log-linear least squares of ln(conc) on time over the last *n* ≥ ``min_points``
  points after Tmax (Cmax excluded, PKNCA ``allow.tmax.in.half.life=FALSE``; zero concentrations are never in the
  fit). Every *n* is fitted; the candidates are those with λz > 0 and an adjusted R² greater than the best adjusted
  R² minus ``adj_r2_tolerance`` (PKNCA ``adj.r.squared.factor`` = 1e-4); among them the one with the most points
  wins. Adjusted R² = 1 − (1 − R²)(n − 1)/(n − 2).
* **AUClast** (``pk.calc.auc``) – trapezoids from the first sample to Tlast. ``"linear"``: (c1 + c2)/2·Δt.
  ``"linear-up-log-down"``: the log trapezoid (c1 − c2)/ln(c1/c2)·Δt only when c2 < c1 and both are > 0, else
  linear (so a 0 after Cmax makes that interval linear).
* **AUMC** – the same method on t·c. The linear piece is (t1c1 + t2c2)/2·Δt; the log piece is PKNCA's
  ``auc.method="lin up/log down"`` moment integral of an exponential between the points,
  (t1c1 − t2c2)/k + (c1 − c2)/k² with k = ln(c1/c2)/Δt. AUMCinf = AUMClast + Clast·Tlast/λz + Clast/λz².
* **AUCinf,obs** = AUClast + Clast/λz, **%extrap** = 100·(AUCinf − AUClast)/AUCinf, **CL** = dose/AUCinf
  (this is CL/F for an extravascular dose), **Vz** = CL/λz (Vz/F), **MRT** = AUMCinf/AUCinf.

Where this differs from PKNCA: PKNCA's default ``conc.blq`` drops zeros between the first and last measurable
sample; here they are kept and integrated linearly (the caller decides what a BLQ is). An intravascular (bolus)
dose is not back-extrapolated to C0: the AUC starts at the first sample (a note says so when there is none at 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AUC_METHODS = ("linear-up-log-down", "linear")
ROUTES = ("extravascular", "intravascular")


class NcaInputError(ValueError):
    """A profile or option that cannot be analysed (duplicate time, negative concentration, unknown method...)."""


@dataclass(frozen=True)
class Sample:
    time: float
    conc: float | None  # None = missing; a BLQ result is passed in as 0 by the caller


@dataclass(frozen=True)
class NcaOptions:
    auc_method: str = "linear-up-log-down"  # or "linear"
    route: str = "extravascular"  # or "intravascular" (bolus)
    adj_r2_tolerance: float = 1e-4  # PKNCA adj.r.squared.factor
    min_points: int = 3  # PKNCA min.hl.points
    exclude_cmax: bool = True  # PKNCA allow.tmax.in.half.life = FALSE

    def __post_init__(self):
        if self.auc_method not in AUC_METHODS:
            raise NcaInputError(f"auc_method: {self.auc_method!r} is not one of {', '.join(AUC_METHODS)}")
        if self.route not in ROUTES:
            raise NcaInputError(f"route: {self.route!r} is not one of {', '.join(ROUTES)}")
        if self.min_points < 3:
            raise NcaInputError(f"min_points: {self.min_points} is below 3 (adjusted R² needs 3 points)")
        if not (self.adj_r2_tolerance >= 0):
            raise NcaInputError(f"adj_r2_tolerance: {self.adj_r2_tolerance} must be 0 or more")


@dataclass(frozen=True)
class NcaResult:
    cmax: float | None = None
    tmax: float | None = None
    clast: float | None = None
    tlast: float | None = None
    lambda_z: float | None = None
    lambda_z_points: int | None = None
    lambda_z_adj_r2: float | None = None
    lambda_z_times: tuple[float, ...] = ()
    half_life: float | None = None
    auclast: float | None = None
    aucinf_obs: float | None = None
    auc_pct_extrap: float | None = None
    cl: float | None = None
    vz: float | None = None
    mrt: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Fit:
    lambda_z: float
    adj_r2: float | None
    times: tuple[float, ...]


def _fit(times: Sequence[float], concs: Sequence[float]) -> _Fit:
    """Least squares of ln(conc) on time (PKNCA ``fit_half_life``)."""
    t = np.asarray(times, dtype=float)
    y = np.log(np.asarray(concs, dtype=float))
    slope, intercept = np.polyfit(t, y, 1)
    n = len(t)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - (intercept + slope * t)) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2) if n > 2 else None
    return _Fit(-float(slope), adj, tuple(float(x) for x in t))


def _pieces(t1: float, c1: float, t2: float, c2: float, method: str) -> tuple[float, float]:
    """AUC and AUMC of one interval."""
    dt = t2 - t1
    if method == "linear-up-log-down" and c1 > 0 and c2 > 0 and c2 < c1:
        k = math.log(c1 / c2) / dt
        return (c1 - c2) / k, (t1 * c1 - t2 * c2) / k + (c1 - c2) / k**2
    return (c1 + c2) / 2 * dt, (t1 * c1 + t2 * c2) / 2 * dt


def _clean(samples: Sequence[Sample]) -> tuple[list[tuple[float, float]], list[str]]:
    notes: list[str] = []
    seen: set[float] = set()
    kept: list[tuple[float, float]] = []
    missing = 0
    for i, s in enumerate(samples):
        if s.time is None or not math.isfinite(s.time):
            raise NcaInputError(f"sample {i + 1}: time {s.time!r} is not a finite number")
        if s.time in seen:
            raise NcaInputError(f"sample {i + 1}: time {s.time:g} appears more than once")
        seen.add(s.time)
        if s.conc is None or (isinstance(s.conc, float) and math.isnan(s.conc)):
            missing += 1
            continue
        if not math.isfinite(s.conc) or s.conc < 0:
            raise NcaInputError(f"sample {i + 1}: concentration {s.conc!r} is not a finite number >= 0")
        kept.append((float(s.time), float(s.conc)))
    if missing:
        notes.append(f"{missing} missing concentration(s) dropped")
    kept.sort()
    return kept, notes


def nca(
    samples: Sequence[Sample],
    dose: float | None,
    options: NcaOptions = NcaOptions(),
    lambda_z_times: Sequence[float] | None = None,
) -> NcaResult:
    """NCA of one subject's single-dose profile (see the module docstring for every rule and its PKNCA source).

    ``lambda_z_times``: the sample times a pharmacokineticist chose for λz (override of the automatic best fit,
    PKNCA ``manually.selected.points=TRUE``): used as given, with at least 2 points > 0 required.
    Anything not estimable is None with a note saying why.
    """
    if dose is not None and not (math.isfinite(dose) and dose > 0):
        raise NcaInputError(f"dose: {dose!r} must be a positive number")
    points, notes = _clean(samples)
    if not points:
        return NcaResult(notes=(*notes, "no concentrations: nothing is estimable"))
    if all(c == 0 for _, c in points):
        return NcaResult(notes=(*notes, "all concentrations are zero (BLQ): nothing is estimable"))
    times = [t for t, _ in points]
    concs = [c for _, c in points]
    cmax = max(concs)
    imax = concs.index(cmax)  # first Tmax
    tmax = times[imax]
    if len(points) == 1:
        return NcaResult(cmax=cmax, tmax=tmax, clast=cmax, tlast=tmax,
                         notes=(*notes, "single sample: only Cmax and Tmax (no AUC, no λz)"))
    ilast = max(i for i, c in enumerate(concs) if c > 0)
    clast, tlast = concs[ilast], times[ilast]
    if options.route == "intravascular" and times[0] > 0:
        notes.append("intravascular dose without a sample at time 0: AUC starts at the first sample (no C0 "
                     "back-extrapolation)")

    auclast = aumclast = 0.0
    for i in range(ilast):
        auc, aumc = _pieces(times[i], concs[i], times[i + 1], concs[i + 1], options.auc_method)
        auclast += auc
        aumclast += aumc

    fit = _select_lambda_z(times, concs, imax, options, lambda_z_times, notes)
    result = dict(cmax=cmax, tmax=tmax, clast=clast, tlast=tlast, auclast=auclast)
    if fit is None:
        return NcaResult(**result, notes=tuple(notes))
    lz = fit.lambda_z
    aucinf = auclast + clast / lz
    aumcinf = aumclast + clast * tlast / lz + clast / lz**2
    result.update(
        lambda_z=lz, lambda_z_points=len(fit.times), lambda_z_adj_r2=fit.adj_r2, lambda_z_times=fit.times,
        half_life=math.log(2) / lz, aucinf_obs=aucinf, auc_pct_extrap=100 * (aucinf - auclast) / aucinf,
        mrt=aumcinf / aucinf,
    )
    if dose is None:
        notes.append("no dose: CL and Vz not estimable")
    else:
        cl = dose / aucinf
        result.update(cl=cl, vz=cl / lz)
    return NcaResult(**result, notes=tuple(notes))


def _select_lambda_z(
    times: list[float], concs: list[float], imax: int, options: NcaOptions,
    chosen: Sequence[float] | None, notes: list[str],
) -> _Fit | None:
    """PKNCA ``pk.calc.half.life``: best adjusted R² within the tolerance, then the most points, λz > 0."""
    if chosen is not None:
        by_time = dict(zip(times, concs, strict=True))
        unknown = [t for t in chosen if t not in by_time]
        if unknown:
            raise NcaInputError(f"lambda_z_times: {unknown[0]:g} is not a sample time with a concentration")
        picked = sorted(t for t in set(chosen) if by_time[t] > 0)
        if len(picked) < 2:
            notes.append("λz not estimable: fewer than 2 chosen points with a concentration above 0")
            return None
        fit = _fit(picked, [by_time[t] for t in picked])
        if fit.lambda_z <= 0:
            notes.append("λz not estimable: the chosen points do not decline (λz <= 0)")
            return None
        notes.append("λz from the points chosen by hand")
        return fit
    if imax == len(times) - 1:
        notes.append("λz not estimable: Cmax is at the last sample")
        return None
    first = imax + 1 if options.exclude_cmax else imax
    tail = [(t, c) for t, c in zip(times[first:], concs[first:], strict=True) if c > 0]
    if len(tail) < options.min_points:
        notes.append(f"λz not estimable: {len(tail)} point(s) above 0 after Cmax, {options.min_points} needed")
        return None
    fits = [_fit([t for t, _ in tail[-n:]], [c for _, c in tail[-n:]])
            for n in range(options.min_points, len(tail) + 1)]
    best = max(f.adj_r2 for f in fits)
    good = [f for f in fits if f.lambda_z > 0 and f.adj_r2 > best - options.adj_r2_tolerance]
    if not good:
        notes.append("λz not estimable: no terminal fit with λz > 0 near the best adjusted R²")
        return None
    return max(good, key=lambda f: len(f.times))
