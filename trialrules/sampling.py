"""The protocol's sampling schedule (PK, ADA, receptor occupancy, biomarkers) and each subject's planned samples.

Pure rules (no Django). The schedule is protocol data, the ``[pk]`` table and its ``[[pk.samples]]`` entries of
``protocols/*.toml`` (docs/protocols.md gives the schedules and why):

```toml
[pk]
drug = "BAT6005"                 # samples are timed from this drug's day-1 doses
[[pk.analytes]]
code = "BAT6005"; kind = "pk"; unit = "ug/mL"
[[pk.samples]]
code = "PK"                      # part of the sample's code, e.g. C1-PK-4h
kind = "pk"                      # pk | ada | ro | biomarker
analytes = ["BAT6005"]
cycles = [1]
points = [{ hours = 0, window_minutes = [-60, 0] },   # hours = 0 is pre-dose: its window ends at the dose
          { hours = 1, window_minutes = [0, 10] }]
```

A point's window is in minutes around its nominal time (``window_minutes``) or, for long windows (archival
tissue), in days (``window_days``). ``hours = 0`` is the pre-dose sample: its window must end at the dose
(latest 0), since a pre-dose sample taken after the dose is not one.

Planning (:func:`plan_samples`) works like the visit plan: a cycle's samples are timed from the actual day-1
dose of the schedule's drug in that cycle (nominal = dose time + hours). A cycle not dosed yet has only its
pre-dose samples planned, timed from the expected dose (the planned C{n}D1 visit: its target day at the time of
the first dose, the window that visit's window, whole days), marked provisional; its post-dose samples follow
when the dose is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

KINDS = ("pk", "ada", "ro", "biomarker")


class SamplingScheduleError(ValueError):
    """The protocol's ``[pk]`` table is wrong; the message names the key (``pk.samples[2].points[0].hours``)."""


@dataclass(frozen=True)
class Analyte:
    code: str
    kind: str
    unit: str = ""
    categories: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class Point:
    hours: float
    before: timedelta  # how long before the nominal time the window opens (>= 0)
    after: timedelta  # how long after it the window closes (>= 0)

    @property
    def predose(self) -> bool:
        return self.hours == 0

    @property
    def label(self) -> str:
        if self.predose:
            return "pre"
        return f"{self.hours:g}h"


@dataclass(frozen=True)
class Entry:
    code: str
    kind: str
    analytes: tuple[str, ...]
    cycles: tuple[int, ...]
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Schedule:
    drug: str
    analytes: tuple[Analyte, ...]
    entries: tuple[Entry, ...]
    # NcaOptions keywords (trialrules.nca): auc_method, route, duration, blq_first, ...
    nca: Mapping[str, Any] = field(default_factory=dict)

    def analyte(self, code: str) -> Analyte | None:
        return next((a for a in self.analytes if a.code == code), None)


@dataclass(frozen=True)
class PlannedSample:
    code: str  # unique per subject: C{cycle}-{entry code}-{point label}
    kind: str
    analytes: tuple[str, ...]
    cycle: int
    nominal_hours: float
    nominal_at: datetime
    window_start: datetime
    window_end: datetime
    provisional: bool  # timed from the expected dose (the cycle is not dosed yet)


MAX_HOURS = 24 * 366 * 5  # five years after a dose: beyond any schedule (and inside timedelta's range)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= MAX_HOURS * 60


def parse_schedule(table: Any, drugs: tuple[str, ...] = ()) -> Schedule | None:
    """The ``[pk]`` table as a :class:`Schedule` (None when the protocol has none); raises
    :class:`SamplingScheduleError` naming the first wrong key. ``drugs``: the protocol's drug names."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise SamplingScheduleError(f"pk: expected a table, got {table!r}")
    known = {"drug", "analytes", "samples", "nca"}
    for key in table:
        if key not in known:
            raise SamplingScheduleError(f"pk.{key}: unknown key (known: {', '.join(sorted(known))})")
    drug = table.get("drug")
    if not isinstance(drug, str) or not drug:
        raise SamplingScheduleError(f"pk.drug: expected the name of the drug the samples are timed from, got {drug!r}")
    if drugs and drug not in drugs:
        raise SamplingScheduleError(f"pk.drug: {drug!r} is not one of the protocol's drugs ({', '.join(drugs)})")
    analytes = tuple(_analyte(i, raw) for i, raw in enumerate(_list(table, "analytes")))
    codes = [a.code for a in analytes]
    if len(set(codes)) != len(codes):
        raise SamplingScheduleError(f"pk.analytes: a code appears twice ({codes})")
    by_code = {a.code: a for a in analytes}
    entries = tuple(_entry(i, raw, by_code) for i, raw in enumerate(_list(table, "samples")))
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        for cycle in entry.cycles:
            for point in entry.points:
                code = sample_code(cycle, entry.code, point)
                if code in seen:
                    raise SamplingScheduleError(f"pk.samples[{i}]: sample {code} is planned twice")
                seen.add(code)
    nca = table.get("nca", {})
    if not isinstance(nca, dict):
        raise SamplingScheduleError(f"pk.nca: expected a table of NCA options, got {nca!r}")
    return Schedule(drug=drug, analytes=analytes, entries=entries, nca=dict(nca))


def _list(table: dict, key: str) -> list:
    value = table.get(key)
    if not isinstance(value, list) or not value:
        raise SamplingScheduleError(f"pk.{key}: expected a non-empty list of tables, got {value!r}")
    return value


def _analyte(index: int, raw: Any) -> Analyte:
    where = f"pk.analytes[{index}]"
    if not isinstance(raw, dict):
        raise SamplingScheduleError(f"{where}: expected a table, got {raw!r}")
    for key in raw:
        if key not in {"code", "kind", "unit", "categories", "label"}:
            raise SamplingScheduleError(f"{where}.{key}: unknown key")
    code, kind = raw.get("code"), raw.get("kind")
    if not isinstance(code, str) or not code.strip():
        raise SamplingScheduleError(f"{where}.code: expected a code, got {code!r}")
    if kind not in KINDS:
        raise SamplingScheduleError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    unit = raw.get("unit", "")
    categories = raw.get("categories", [])
    if not isinstance(unit, str):
        raise SamplingScheduleError(f"{where}.unit: expected text, got {unit!r}")
    if not isinstance(categories, list) or not all(isinstance(c, str) and c for c in categories):
        raise SamplingScheduleError(f"{where}.categories: expected a list of names, got {categories!r}")
    if kind in ("pk", "ro") and not unit:
        raise SamplingScheduleError(f"{where}.unit: a {kind} analyte needs its unit")
    if kind == "ada" and (unit or categories):
        raise SamplingScheduleError(f"{where}: an ADA analyte is negative or positive with a titre (no unit)")
    if kind == "biomarker" and bool(unit) == bool(categories):
        raise SamplingScheduleError(f"{where}: a biomarker has either a unit (numeric) or categories")
    return Analyte(code=code, kind=kind, unit=unit, categories=tuple(categories), label=str(raw.get("label", "")))


def _window(where: str, raw: Any, scale: timedelta) -> tuple[timedelta, timedelta]:
    if not isinstance(raw, list) or len(raw) != 2 or not all(_number(v) for v in raw) or raw[0] > 0 or raw[1] < 0:
        raise SamplingScheduleError(f"{where}: expected [earliest <= 0, latest >= 0] around the nominal time, "
                                    f"got {raw!r}")
    return -raw[0] * scale, raw[1] * scale


def _entry(index: int, raw: Any, analytes: Mapping[str, Analyte]) -> Entry:
    where = f"pk.samples[{index}]"
    if not isinstance(raw, dict):
        raise SamplingScheduleError(f"{where}: expected a table, got {raw!r}")
    for key in raw:
        if key not in {"code", "kind", "analytes", "cycles", "points"}:
            raise SamplingScheduleError(f"{where}.{key}: unknown key")
    code, kind = raw.get("code"), raw.get("kind")
    if not isinstance(code, str) or not code.isalnum():
        raise SamplingScheduleError(f"{where}.code: expected letters and digits, got {code!r}")
    if kind not in KINDS:
        raise SamplingScheduleError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    names = raw.get("analytes")
    if not isinstance(names, list) or not names:
        raise SamplingScheduleError(f"{where}.analytes: expected a non-empty list of analyte codes, got {names!r}")
    for name in names:
        if not isinstance(name, str) or name not in analytes:
            raise SamplingScheduleError(f"{where}.analytes: {name!r} is not in pk.analytes")
        if analytes[name].kind != kind:
            raise SamplingScheduleError(f"{where}.analytes: {name!r} is a {analytes[name].kind} analyte, not {kind}")
    cycles = raw.get("cycles")
    if (not isinstance(cycles, list) or not cycles
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in cycles)
            or len(set(cycles)) != len(cycles)):
        raise SamplingScheduleError(f"{where}.cycles: expected distinct cycle numbers >= 1, got {cycles!r}")
    raw_points = raw.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise SamplingScheduleError(f"{where}.points: expected a non-empty list, got {raw_points!r}")
    points = []
    for j, p in enumerate(raw_points):
        at = f"{where}.points[{j}]"
        if not isinstance(p, dict):
            raise SamplingScheduleError(f"{at}: expected a table, got {p!r}")
        unknown = set(p) - {"hours", "window_minutes", "window_days"}
        if unknown:
            raise SamplingScheduleError(f"{at}.{sorted(unknown)[0]}: unknown key")
        hours = p.get("hours")
        if not _number(hours) or hours < 0 or hours > MAX_HOURS:
            raise SamplingScheduleError(f"{at}.hours: expected hours after the dose (0 = pre-dose), got {hours!r}")
        if ("window_minutes" in p) == ("window_days" in p):
            raise SamplingScheduleError(f"{at}: give window_minutes or window_days (one of them)")
        if "window_minutes" in p:
            before, after = _window(f"{at}.window_minutes", p["window_minutes"], timedelta(minutes=1))
        else:
            before, after = _window(f"{at}.window_days", p["window_days"], timedelta(days=1))
        if hours == 0 and after:
            raise SamplingScheduleError(f"{at}: a pre-dose sample (hours = 0) is taken before the dose: its window "
                                        "must end at 0")
        if hours > 0 and timedelta(hours=hours) - before < timedelta(0):
            raise SamplingScheduleError(f"{at}: the window of a post-dose sample opens before the dose")
        points.append(Point(hours=float(hours), before=before, after=after))
    hours = [p.hours for p in points]
    if hours != sorted(hours) or len(set(hours)) != len(hours):
        raise SamplingScheduleError(f"{where}.points: nominal times must increase, got {hours}")
    return Entry(code=code, kind=kind, analytes=tuple(names), cycles=tuple(cycles), points=tuple(points))


def sample_code(cycle: int, entry_code: str, point: Point) -> str:
    return f"C{cycle}-{entry_code}-{point.label}"


@dataclass(frozen=True)
class ExpectedDose:
    """A cycle not dosed yet: the window of its planned day-1 visit and the time of day doses are given."""

    target: date
    earliest: date
    latest: date
    at: time


def plan_samples(schedule: Schedule, doses: Mapping[int, datetime],
                 expected: Mapping[int, ExpectedDose] | None = None) -> list[PlannedSample]:
    """Each planned sample of one subject: ``doses`` are the actual day-1 doses of the schedule's drug by cycle
    (aware datetimes), ``expected`` the cycles planned but not dosed yet (from the visit plan). Sorted by time."""
    expected = expected or {}
    planned: list[PlannedSample] = []
    for entry in schedule.entries:
        for cycle in entry.cycles:
            dose = doses.get(cycle)
            for point in entry.points:
                code = sample_code(cycle, entry.code, point)
                if dose is not None:
                    # In UTC: elapsed hours, whatever a daylight-saving change between the dose and the sample.
                    nominal = (dose.astimezone(UTC) + timedelta(hours=point.hours)).astimezone(dose.tzinfo)
                    planned.append(PlannedSample(code, entry.kind, entry.analytes, cycle, point.hours, nominal,
                                                 nominal - point.before, nominal + point.after, False))
                elif point.predose and cycle in expected:
                    e = expected[cycle]
                    # The expected dose's local time of day, in its own zone (the site's), else the doses'.
                    tz = e.at.tzinfo or (next(iter(doses.values())).tzinfo if doses else None)
                    at = e.at.replace(tzinfo=None)
                    nominal = datetime.combine(e.target, at, tz)
                    start = min(datetime.combine(e.earliest, at, tz) - point.before, nominal - point.before)
                    planned.append(PlannedSample(code, entry.kind, entry.analytes, cycle, point.hours, nominal,
                                                 start, datetime.combine(e.latest, time(23, 59), tz), True))
    planned.sort(key=lambda s: (s.nominal_at, s.code))
    return planned


def deviation_minutes(nominal_at: datetime, collected_at: datetime) -> int:
    """Minutes from the nominal time to the collection (< 0 early, > 0 late)."""
    return round((collected_at.astimezone(UTC) - nominal_at.astimezone(UTC)).total_seconds() / 60)


def collection_problem(sample: PlannedSample, collected_at: datetime, dose_at: datetime | None) -> str | None:
    """Why a collection time cannot be (a pre-dose sample after its dose, a post-dose one before it); None if it
    can. Outside the window is not a problem here: it is recorded as a deviation."""
    if dose_at is None:
        return None
    if sample.nominal_hours == 0 and collected_at > dose_at:
        return f"a pre-dose sample is taken before the dose ({dose_at:%d %b %Y %H:%M})"
    if sample.nominal_hours > 0 and collected_at < dose_at:
        return f"this sample is timed {sample.nominal_hours:g} h after the dose of {dose_at:%d %b %Y %H:%M}: it " \
               "cannot be taken before it"
    return None
