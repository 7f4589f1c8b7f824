"""Non-compartmental pharmacokinetic analysis (NCA) of one concentration–time profile.

Pure rules (no Django): frozen dataclasses in, an :class:`NcaResult` out. The conventions are PKNCA's defaults
(R package ``PKNCA``, humanpred/pknca: ``R/half.life.R``, ``R/auc.R``, ``R/pk.calc.simple.R``, ``R/cleaners.R``,
``R/pk.calc.c0.R``), which agree with Phoenix WinNonlin's "best fit" terminal phase and its "linear up / log down"
AUC:

* **Missing and BLQ** (PKNCA ``clean.conc.na`` / ``clean.conc.blq``) – a missing concentration (None or NaN) is
  dropped (``conc.na="drop"``). A concentration of 0 is BLQ (the caller passes BLQ as 0). Each BLQ point is
  "first" (at or before the first measurable concentration, i.e. before it), "middle" (between the first and the
  last measurable) or "last" (after the last measurable); :class:`NcaOptions` ``blq_first`` / ``blq_middle`` /
  ``blq_last`` say "keep" (as 0) or "drop" for each. The defaults are PKNCA's default ``conc.blq``:
  first="keep", middle="drop", last="keep". When every concentration is BLQ they are all "first". A note counts the
  BLQ points dropped. Everything below works on the cleaned profile.
* **Cmax/Tmax** – the highest observed concentration and the first time it is reached (PKNCA ``first.tmax=TRUE``).
* **Clast/Tlast** – the last concentration above zero and its time.
* **λz** (``pk.calc.half.life``) – log-linear least squares of ln(conc) on time over the last *n* ≥ ``min_points``
  points after Tmax (Cmax excluded, PKNCA ``allow.tmax.in.half.life=FALSE``; zero concentrations are never in the
  fit). Every *n* is fitted; the candidates are those with λz > 0 and an adjusted R² greater than the best adjusted
  R² minus ``adj_r2_tolerance`` (PKNCA ``adj.r.squared.factor`` = 1e-4); among them the one with the most points
  wins. Adjusted R² = 1 − (1 − R²)(n − 1)/(n − 2).
* **Start of the AUC** – the AUC runs from time 0 (the dose).
  *Intravascular (bolus)*: C0 is PKNCA ``pk.calc.c0`` with its default method order
  ``c("c0", "logslope", "c1", "cmin", "set0")``: the concentration observed at time 0 if it is above 0; else the
  log-linear back-extrapolation of the first two samples after 0 when the second is above 0 and below the first,
  exp(ln c1 + (ln c1 − ln c2)/(t2 − t1)·t1); else the first sample after 0; else Cmin; else 0. The AUC and AUMC
  start at (0, C0) (replacing an observed 0 at time 0, as PKNCA ``aucivlast``/``aucivinf.obs`` do); C0 is not
  part of Cmax, Tmax or λz. *Extravascular*: a profile whose first sample is after 0 gets a concentration of 0 at
  time 0 (``start_conc0=True``, PKNCA's ``impute="start_conc0"``, and what WinNonlin and NonCompart do for a
  single extravascular dose). PKNCA's own default imputes nothing and then refuses an AUC that starts before the
  first sample; ``start_conc0=False`` does the same (AUC-based results None, with a note).
  *Intravascular infusion* (``duration`` > 0 hours, PKNCA's ``duration.dose``): no C0 back-extrapolation; the AUC
  starts from the pre-dose sample at time 0 (or 0 assumed, as extravascular), and MRT = AUMCinf/AUCinf −
  duration/2 (PKNCA ``mrt.iv.obs``). CL and Vz are then CL and Vz, not CL/F and Vz/F.
* **AUClast** (``pk.calc.auc``) – trapezoids from time 0 to Tlast. ``"linear"``: (c1 + c2)/2·Δt.
  ``"linear-up-log-down"``: the log trapezoid (c1 − c2)/ln(c1/c2)·Δt only when c2 < c1 and both are > 0, else
  linear (so a kept 0 after Cmax makes that interval linear).
* **AUMC** – the same method on t·c. The linear piece is (t1c1 + t2c2)/2·Δt; the log piece is PKNCA's
  ``auc.method="lin up/log down"`` moment integral of an exponential between the points,
  (t1c1 − t2c2)/k + (c1 − c2)/k² with k = ln(c1/c2)/Δt. AUMCinf = AUMClast + Clast·Tlast/λz + Clast/λz².
* **AUCinf,obs** = AUClast + Clast/λz, **%extrap** = 100·(AUCinf − AUClast)/AUCinf, **CL** = dose/AUCinf
  (this is CL/F for an extravascular dose), **Vz** = CL/λz (Vz/F), **MRT** = AUMCinf/AUCinf.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AUC_METHODS = ("linear-up-log-down", "linear")
ROUTES = ("extravascular", "intravascular")
BLQ_RULES = ("keep", "drop")


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
    blq_first: str = "keep"  # PKNCA conc.blq$first
    blq_middle: str = "drop"  # PKNCA conc.blq$middle
    blq_last: str = "keep"  # PKNCA conc.blq$last
    start_conc0: bool = True  # extravascular without a time-0 sample: conc 0 at time 0 (PKNCA impute="start_conc0")
    # Intravascular infusion: its duration in hours (0 = bolus). An infusion starts from the pre-dose
    # concentration (no C0 back-extrapolation) and its MRT is AUMCinf/AUCinf − duration/2 (PKNCA mrt.iv.obs).
    duration: float = 0.0

    def __post_init__(self):
        if not isinstance(self.min_points, int) or isinstance(self.min_points, bool):
            raise NcaInputError(f"min_points: {self.min_points!r} is not a whole number")
        if not isinstance(self.adj_r2_tolerance, int | float) or isinstance(self.adj_r2_tolerance, bool):
            raise NcaInputError(f"adj_r2_tolerance: {self.adj_r2_tolerance!r} is not a number")
        for name in ("exclude_cmax", "start_conc0"):
            if not isinstance(getattr(self, name), bool):
                raise NcaInputError(f"{name}: {getattr(self, name)!r} is not true or false")
        if self.auc_method not in AUC_METHODS:
            raise NcaInputError(f"auc_method: {self.auc_method!r} is not one of {', '.join(AUC_METHODS)}")
        if self.route not in ROUTES:
            raise NcaInputError(f"route: {self.route!r} is not one of {', '.join(ROUTES)}")
        if self.min_points < 3:
            raise NcaInputError(f"min_points: {self.min_points} is below 3 (adjusted R² needs 3 points)")
        if not (self.adj_r2_tolerance >= 0):
            raise NcaInputError(f"adj_r2_tolerance: {self.adj_r2_tolerance} must be 0 or more")
        if not (isinstance(self.duration, int | float) and math.isfinite(self.duration) and self.duration >= 0):
            raise NcaInputError(f"duration: {self.duration!r} must be a number of hours >= 0")
        if self.duration and self.route != "intravascular":
            raise NcaInputError("duration: an infusion duration is for an intravascular dose")
        for name in ("blq_first", "blq_middle", "blq_last"):
            value = getattr(self, name)
            if value not in BLQ_RULES:
                raise NcaInputError(f"{name}: {value!r} is not one of {', '.join(BLQ_RULES)}")


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
    c0: float | None = None  # intravascular only: the concentration at time 0 the AUC starts from


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
    """Check every sample, drop the missing concentrations, sort by time (PKNCA ``clean.conc.na``)."""
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


def _apply_blq(points: list[tuple[float, float]], options: NcaOptions, notes: list[str]) -> list[tuple[float, float]]:
    """PKNCA ``clean.conc.blq`` with a first/middle/last rule: each BLQ (0) point is kept or dropped."""
    measurable = [t for t, c in points if c > 0]
    if measurable:
        tfirst, tlast = measurable[0], measurable[-1]
    else:  # all BLQ: PKNCA applies the "first" rule to every point
        tfirst, tlast = math.inf, math.inf

    def position(t: float) -> str:
        return "first" if t <= tfirst else "last" if t >= tlast else "middle"

    rules = {"first": options.blq_first, "middle": options.blq_middle, "last": options.blq_last}
    dropped = {"first": 0, "middle": 0, "last": 0}
    kept: list[tuple[float, float]] = []
    for t, c in points:
        if c == 0 and rules[position(t)] == "drop":
            dropped[position(t)] += 1
        else:
            kept.append((t, c))
    counts = [f"{n} {where}" for where, n in dropped.items() if n]
    if counts:
        notes.append(f"{sum(dropped.values())} BLQ (0) concentration(s) dropped ({', '.join(counts)})")
    return kept


def _c0(points: list[tuple[float, float]]) -> tuple[float, str]:
    """PKNCA ``pk.calc.c0`` with ``method = c("c0", "logslope", "c1", "cmin", "set0")`` and the dose at time 0."""
    at_zero = [c for t, c in points if t == 0]
    if at_zero and at_zero[0] > 0:
        return at_zero[0], "c0"
    after = [(t, c) for t, c in points if t > 0]
    if len(after) >= 2:
        (t1, c1), (t2, c2) = after[0], after[1]
        if c2 < c1 and c2 != 0:
            return math.exp(math.log(c1) + (math.log(c1) - math.log(c2)) / (t2 - t1) * t1), "logslope"
    if after:
        return after[0][1], "c1"
    if points:  # only samples before or at the dose, none above 0 at time 0
        return min(c for _, c in points), "cmin"
    return 0.0, "set0"  # not reached: nca() calls this with at least one sample


C0_NOTES = {
    "c0": None,
    "logslope": "C0 back-extrapolated log-linearly from the first two samples",
    "c1": "C0 taken as the first sample after time 0 (the first two do not decline)",
    "cmin": "C0 taken as Cmin (no sample after time 0)",
    "set0": "C0 set to 0",
}


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
        _apply_blq(points, options, notes)
        return NcaResult(notes=(*notes, "all concentrations are zero (BLQ): nothing is estimable"))
    points = _apply_blq(points, options, notes)
    times = [t for t, _ in points]
    concs = [c for _, c in points]
    cmax = max(concs)
    imax = concs.index(cmax)  # first Tmax
    tmax = times[imax]
    c0 = None
    if options.route == "intravascular" and not options.duration:
        c0, how = _c0(points)
        if C0_NOTES[how]:
            notes.append(C0_NOTES[how])
    if len(points) == 1:
        return NcaResult(cmax=cmax, tmax=tmax, clast=cmax, tlast=tmax, c0=c0,
                         notes=(*notes, "single sample: only Cmax and Tmax (no AUC, no λz)"))
    ilast = max(i for i, c in enumerate(concs) if c > 0)
    clast, tlast = concs[ilast], times[ilast]

    # The profile the AUC integrates: from time 0 (samples before the dose are not in it) to Tlast.
    curve = [p for p in points[: ilast + 1] if p[0] >= 0]
    if c0 is not None:
        curve = [(0.0, c0), *(p for p in curve if p[0] != 0)]
    elif (not curve or curve[0][0] > 0) and options.start_conc0:
        curve = [(0.0, 0.0), *curve]
        notes.append("no sample at time 0: concentration 0 assumed at time 0")
    elif not curve or curve[0][0] > 0:
        curve = []
        notes.append("AUC not estimable: no sample at time 0 (start_conc0 is off)")

    fit = _select_lambda_z(times, concs, imax, options, lambda_z_times, notes)
    result = dict(cmax=cmax, tmax=tmax, clast=clast, tlast=tlast, c0=c0)
    if fit is not None:
        result.update(lambda_z=fit.lambda_z, lambda_z_points=len(fit.times), lambda_z_adj_r2=fit.adj_r2,
                      lambda_z_times=fit.times, half_life=math.log(2) / fit.lambda_z)
    if not curve:
        return NcaResult(**result, notes=tuple(notes))
    auclast = aumclast = 0.0
    for (t1, c1), (t2, c2) in itertools.pairwise(curve):
        auc, aumc = _pieces(t1, c1, t2, c2, options.auc_method)
        auclast += auc
        aumclast += aumc
    result.update(auclast=auclast)
    if fit is None:
        return NcaResult(**result, notes=tuple(notes))
    lz = fit.lambda_z
    aucinf = auclast + clast / lz
    aumcinf = aumclast + clast * tlast / lz + clast / lz**2
    result.update(aucinf_obs=aucinf, auc_pct_extrap=100 * (aucinf - auclast) / aucinf,
                  mrt=aumcinf / aucinf - options.duration / 2)
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
