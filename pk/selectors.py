"""Reads for samples and results: a subject's samples, its concentration–time profiles and their NCA
(``trialrules.nca`` with the protocol's options and the pharmacokineticist's λz choices), the per-dose-level
summaries (``trialrules.pk_summary``), and the rows behind the pictures (``pk.charts``).

Who sees what (the generic scope of ``trials.access``, nothing added to it): site staff see the subjects of their
sites by code; the trial's pharmacokineticists see every subject of the trial by code (never identity); a sponsor
sees the whole trial de-identified ("Subject n" in enrolment order, study hours and days, no sample IDs).
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from pk.models import LabResult, LambdaZChoice, Sample
from pk.services import schedule_for
from subjects.models import Subject
from trialrules import nca as nca_rules
from trialrules import pk_summary
from trials.access import is_sponsor_only, roles_in, subjects_for
from trials.models import Role, Trial

PARAMETERS = (
    ("cmax", "Cmax", "conc"), ("tmax", "Tmax", "h"), ("auclast", "AUC0–t", "auc"), ("aucinf_obs", "AUC0–∞", "auc"),
    ("auc_pct_extrap", "AUC %extrap", "%"), ("half_life", "t½", "h"), ("lambda_z", "λz (Ke)", "1/h"),
    ("cl", "CL", "cl"), ("vz", "Vz", "vz"), ("mrt", "MRT", "h"), ("clast", "Clast", "conc"), ("tlast", "Tlast", "h"),
)
PROPORTIONALITY = ("cmax", "auclast", "aucinf_obs")


def subjects_in_scope(user, trial: Trial) -> tuple[QuerySet[Subject], bool]:
    """The subjects whose samples the user may read, and whether they are shown de-identified."""
    if is_sponsor_only(user, trial):
        return Subject.objects.filter(trial=trial), True
    if Role.PHARMACOKINETICIST in roles_in(user, trial):
        return Subject.objects.filter(trial=trial).select_related("trial", "site", "dose_level", "cohort"), False
    return subjects_for(user, trial), False


def profile_subject(user, pk: int) -> Subject:
    """A subject whose PK profile the user may open by its code (site staff of its site, the trial's
    pharmacokineticists); 404 for anyone else, a sponsor included."""
    trial = Trial.objects.filter(subjects__pk=pk, memberships__user=user).distinct().first()
    if trial is not None:
        subjects, deidentified = subjects_in_scope(user, trial)
        subject = None if deidentified else subjects.filter(pk=pk).first()
        if subject is not None:
            return subject
    raise Http404("No such subject")


def samples_in_scope(user, trial: Trial) -> QuerySet[Sample]:
    subjects, deidentified = subjects_in_scope(user, trial)
    if deidentified:
        return Sample.objects.none()
    return Sample.objects.filter(subject__in=subjects.values("pk"))


def subject_samples(subject: Subject) -> list[Sample]:
    return list(Sample.objects.filter(subject=subject).select_related("dose", "shipment")
                .prefetch_related(Prefetch("results", queryset=LabResult.objects.order_by("analyte"))))


def hours_after(sample: Sample) -> float | None:
    """Actual hours from the dose to the collection (a pre-dose sample counts as time 0)."""
    if sample.collected_at is None or sample.dose_id is None:
        return None
    if sample.nominal_hours == 0:
        return 0.0
    return round((sample.collected_at - sample.dose.administered_at).total_seconds() / 3600, 4)


def _conc(result: LabResult) -> float | None:
    if result.blq:
        return 0.0
    return None if result.value is None else float(result.value)


@dataclass
class Profile:
    """One subject's concentrations after one dose, with what the NCA needs."""

    subject: Subject
    cycle: int
    analyte: str
    dose: float
    dose_unit: str
    options: nca_rules.NcaOptions
    samples: list[nca_rules.Sample]
    blq: set[float] = field(default_factory=set)
    chosen: list[float] = field(default_factory=list)
    choice: LambdaZChoice | None = None

    def analyse(self, lambda_z_times=None) -> nca_rules.NcaResult:
        """The NCA with the chosen λz points (``lambda_z_times``, else the pharmacokineticist's saved choice,
        else the automatic best fit)."""
        times = lambda_z_times if lambda_z_times is not None else (self.chosen or None)
        return nca_rules.nca(self.samples, self.dose, self.options, lambda_z_times=times)

    def automatic(self) -> nca_rules.NcaResult:
        return nca_rules.nca(self.samples, self.dose, self.options)


def nca_options(trial: Trial) -> nca_rules.NcaOptions:
    schedule = schedule_for(trial)
    return nca_rules.NcaOptions(**dict(schedule.nca)) if schedule else nca_rules.NcaOptions()


def pk_analyte(trial: Trial) -> str | None:
    schedule = schedule_for(trial)
    if schedule is None:
        return None
    return next((a.code for a in schedule.analytes if a.kind == "pk"), None)


def _profiles(subjects: QuerySet[Subject], trial: Trial) -> list[Profile]:
    """Every profile (subject × dosed cycle with post-dose concentrations) of the PK analyte."""
    analyte = pk_analyte(trial)
    if analyte is None:
        return []
    options = nca_options(trial)
    results = (LabResult.objects.filter(sample__subject__in=subjects.values("pk"), analyte=analyte,
                                        sample__kind="pk", sample__dose__isnull=False)
               .select_related("sample__dose", "sample__subject__dose_level", "sample__subject__cohort",
                               "sample__subject__site", "sample__subject__trial"))
    groups: dict[tuple[int, int], list[LabResult]] = defaultdict(list)
    for r in results:
        groups[r.sample.subject_id, r.sample.cycle].append(r)
    choices = {(c.subject_id, c.cycle): c for c in LambdaZChoice.objects.filter(
        subject__in=subjects.values("pk"), analyte=analyte)}
    profiles = []
    for (subject_id, cycle), rows in groups.items():
        if not any(r.sample.nominal_hours > 0 for r in rows):
            continue  # a trough alone is not a profile
        dose = rows[0].sample.dose
        points, blq = [], set()
        for r in sorted(rows, key=lambda r: r.sample.nominal_hours):
            t = hours_after(r.sample)
            points.append(nca_rules.Sample(t, _conc(r)))
            if r.blq:
                blq.add(t)
        choice = choices.get((subject_id, cycle))
        profiles.append(Profile(subject=rows[0].sample.subject, cycle=cycle, analyte=analyte, dose=float(dose.dose),
                                dose_unit=dose.unit, options=options, samples=points, blq=blq,
                                chosen=list(choice.times) if choice and choice.times else [], choice=choice))
    profiles.sort(key=lambda p: (p.subject.enrolled_at, p.subject.pk, p.cycle))
    return profiles


def profile_for(subject: Subject, cycle: int, analyte: str) -> Profile | None:
    found = [p for p in _profiles(Subject.objects.filter(pk=subject.pk), subject.trial)
             if p.cycle == cycle and p.analyte == analyte]
    return found[0] if found else None


def _later_cohort(subject: Subject):
    """The subject's cohort when it belongs to a later part (extension, expansion): reported apart."""
    cohort = subject.cohort if subject.cohort_id else None
    return cohort if cohort is not None and not cohort.escalation else None


def _level_label(subject: Subject) -> str:
    label = subject.dose_level.label if subject.dose_level_id else "No level"
    later = _later_cohort(subject)
    return f"{label} · {later.label}" if later is not None else label


def _level_order(subject: Subject):
    later = _later_cohort(subject)
    return (later.number if later is not None else 0, subject.dose_level.rank if subject.dose_level_id else 10**6)


@dataclass
class NcaRow:
    label: str
    subject: Subject | None  # None for a sponsor
    level: str
    level_order: tuple
    cycle: int
    dose: float
    dose_unit: str
    result: nca_rules.NcaResult
    times: list[float]
    concs: list[float | None]
    blq: set[float]
    chosen: bool
    choice: LambdaZChoice | None
    problem: str = ""


def _labels(subjects: QuerySet[Subject], deidentified: bool) -> dict[int, str]:
    ordered = subjects.order_by("enrolled_at", "pk").values_list("pk", "code")
    return {pk: (f"Subject {n}" if deidentified else code) for n, (pk, code) in enumerate(ordered, 1)}


def nca_rows(user, trial: Trial) -> tuple[list[NcaRow], bool]:
    subjects, deidentified = subjects_in_scope(user, trial)
    labels = _labels(subjects, deidentified)
    rows = []
    for p in _profiles(subjects, trial):
        try:
            result, problem = p.analyse(), ""
        except nca_rules.NcaInputError as exc:
            result, problem = nca_rules.NcaResult(), str(exc)
        rows.append(NcaRow(
            label=labels.get(p.subject.pk, p.subject.code), subject=None if deidentified else p.subject,
            level=_level_label(p.subject), level_order=_level_order(p.subject), cycle=p.cycle, dose=p.dose,
            dose_unit=p.dose_unit, result=result, times=[s.time for s in p.samples],
            concs=[s.conc for s in p.samples], blq=p.blq, chosen=bool(p.chosen),
            choice=None if deidentified else p.choice, problem=problem))
    rows.sort(key=lambda r: (r.level_order, r.cycle, r.label))
    return rows, deidentified


def level_summaries(rows: list[NcaRow]) -> list[dict]:
    """Per dose level (cycle 1): n, geometric mean, geometric CV %, median and range of each parameter."""
    levels: OrderedDict[str, list[NcaRow]] = OrderedDict()
    for row in sorted((r for r in rows if r.cycle == 1 and not r.problem), key=lambda r: r.level_order):
        levels.setdefault(row.level, []).append(row)
    table = []
    for level, members in levels.items():
        table.append({
            "level": level, "n": len(members),
            "parameters": [{"key": key, "label": label, "summary": pk_summary.summarise(
                [getattr(m.result, key) for m in members])} for key, label, _ in PARAMETERS],
        })
    return table


def dose_proportionality(rows: list[NcaRow]) -> list[dict]:
    """The power model ln(parameter) = a + b·ln(dose) over cycle-1 profiles, for Cmax and the AUCs."""
    first = [r for r in rows if r.cycle == 1 and not r.problem]
    found = []
    for key in PROPORTIONALITY:
        pairs = [(r.dose, getattr(r.result, key)) for r in first if getattr(r.result, key) is not None]
        label = next(lbl for k, lbl, _ in PARAMETERS if k == key)
        # Across dose levels: within one level the doses differ only by body weight (per-kg drugs), which is not
        # a dose-proportionality design.
        if len({r.level for r in first if getattr(r.result, key) is not None}) < 2 or len(pairs) < 3:
            found.append({"key": key, "label": label, "model": None, "n": len(pairs)})
            continue
        found.append({"key": key, "label": label, "n": len(pairs),
                      "model": pk_summary.dose_proportionality([d for d, _ in pairs], [v for _, v in pairs])})
    return found


# --- ADA, RO, biomarkers -----------------------------------------------------------------------------------

def _study_day(sample: Sample, first_dose) -> float:
    return round((sample.nominal_at - first_dose).total_seconds() / 86400, 2)


def other_results(user, trial: Trial) -> dict:
    """ADA incidence per level and visit, RO per subject and level, cytokines over the first 15 days, and the
    tissue biomarkers, for the pictures and their tables (labels as :func:`nca_rows`)."""
    subjects, deidentified = subjects_in_scope(user, trial)
    labels = _labels(subjects, deidentified)
    schedule = schedule_for(trial)
    if schedule is None:
        return {"ada": [], "ro": [], "ro_mean": [], "cytokines": [], "tissue": [], "subjects_ada": []}
    kinds = {a.code: a for a in schedule.analytes}
    # Biomarkers sampled at several times are a time course (the cytokines); the others (tissue) a value each.
    courses = {code for e in schedule.entries if e.kind == "biomarker" and len(e.points) > 1 for code in e.analytes}
    results = (LabResult.objects.filter(sample__subject__in=subjects.values("pk"))
               .exclude(sample__kind="pk").select_related("sample__subject__dose_level", "sample__subject__cohort",
                                                           "sample__dose"))
    first_doses = {}
    for s in Sample.objects.filter(subject__in=subjects.values("pk"), cycle=1, dose__isnull=False).select_related(
            "dose"):
        first_doses[s.subject_id] = s.dose.administered_at
    ada: OrderedDict[tuple, dict] = OrderedDict()  # (level, nominal day): one point per day in the picture
    ro, cytokines, tissue = [], [], []
    ro_sum: dict[tuple, list[float]] = defaultdict(list)
    ada_subjects: dict[str, dict[str, set]] = defaultdict(lambda: {"tested": set(), "positive": set()})
    for r in sorted(results, key=lambda r: (_level_order(r.sample.subject), r.sample.nominal_at)):
        subject, sample = r.sample.subject, r.sample
        first = first_doses.get(subject.pk)
        if first is None:
            continue
        level, day = _level_label(subject), _study_day(sample, first)
        label = labels.get(subject.pk, subject.code)
        analyte = kinds.get(r.analyte)
        if analyte is None:
            continue
        if analyte.kind == "ada" and r.ada_positive is not None:
            visit = f"C{sample.cycle} {'pre-dose' if sample.nominal_hours == 0 else f'{sample.nominal_hours:g} h'}"
            cell = ada.setdefault((level, day), {"level": level, "visit": visit, "day": day, "positive": 0,
                                                   "tested": 0})
            cell["tested"] += 1
            cell["positive"] += int(r.ada_positive)
            ada_subjects[level]["tested"].add(subject.pk)
            if r.ada_positive and not (sample.cycle == 1 and sample.nominal_hours == 0):
                ada_subjects[level]["positive"].add(subject.pk)
        elif analyte.kind == "ro" and r.value is not None:
            ro.append({"subject": label, "level": level, "day": day, "ro": float(r.value)})
            ro_sum[level, day].append(float(r.value))
        elif analyte.kind == "biomarker" and analyte.code not in courses:
            tissue.append({"subject": label, "level": level, "analyte": analyte.label or analyte.code,
                           "value": r.display})
        elif analyte.kind == "biomarker" and 0 <= day <= 15 and (r.value is not None or r.blq):
            cytokines.append({"analyte": analyte.label or analyte.code, "unit": analyte.unit, "subject": label,
                              "level": level, "day": day, "value": 0.0 if r.blq else float(r.value)})
    ro_mean = [{"level": level, "day": day, "mean": round(sum(v) / len(v), 3), "n": len(v)}
               for (level, day), v in ro_sum.items()]
    subjects_ada = [{"level": level, "tested": len(v["tested"]), "positive": len(v["positive"])}
                    for level, v in ada_subjects.items()]
    return {"ada": list(ada.values()), "ro": ro, "ro_mean": ro_mean, "cytokines": cytokines, "tissue": tissue,
            "subjects_ada": subjects_ada}


def concentration_rows(rows: list[NcaRow]) -> list[dict]:
    return [{"subject": r.label, "level": r.level, "time": t, "conc": c, "blq": t in r.blq}
            for r in rows if r.cycle == 1 for t, c in zip(r.times, r.concs, strict=True)]


def mean_rows(user, trial: Trial) -> list[dict]:
    """Mean ± SD concentration per level at each nominal time of cycle 1 (BLQ as 0, missing left out)."""
    subjects, _ = subjects_in_scope(user, trial)
    analyte = pk_analyte(trial)
    if analyte is None:
        return []
    values: OrderedDict[tuple, list[float]] = OrderedDict()
    results = (LabResult.objects.filter(sample__subject__in=subjects.values("pk"), analyte=analyte, sample__cycle=1)
               .select_related("sample__subject__dose_level", "sample__subject__cohort"))
    for r in sorted(results, key=lambda r: (_level_order(r.sample.subject), r.sample.nominal_hours)):
        conc = _conc(r)
        if conc is not None:
            values.setdefault((_level_label(r.sample.subject), r.sample.nominal_hours), []).append(conc)
    out = []
    for (level, hours), v in values.items():
        mean = sum(v) / len(v)
        sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
        out.append({"level": level, "time": hours, "mean": round(mean, 6), "sd": None if sd is None else round(sd, 6),
                    "n": len(v)})
    return out


def decision_pk(trial: Trial, levels) -> dict | None:
    """What the escalation discussion reads ("available PK", the protocol): the cycle-1 summaries per dose level
    for ``levels`` (the decided cohort's level and those below), over every subject of the trial: aggregates
    only, no subject shown, so the same for every viewer. None when the trial has no PK schedule."""
    if schedule_for(trial) is None:
        return None
    labels = {lvl.label for lvl in levels}
    rows = []
    for p in _profiles(Subject.objects.filter(trial=trial), trial):
        if _level_label(p.subject) not in labels:
            continue
        try:
            result = p.analyse()
        except nca_rules.NcaInputError:
            continue
        rows.append(NcaRow(label="", subject=None, level=_level_label(p.subject), level_order=_level_order(p.subject),
                           cycle=p.cycle, dose=p.dose, dose_unit=p.dose_unit, result=result, times=[], concs=[],
                           blq=set(), chosen=bool(p.chosen), choice=None))
    unit = next((a.unit for a in schedule_for(trial).analytes if a.kind == "pk"), "")
    return {"summaries": level_summaries(rows), "profiles": len(rows), "conc_unit": unit}


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        value = float(value)
    if value == 0:
        return "0"
    if 10**digits <= abs(value) < 1e7:
        return f"{float(f'{value:.{digits}g}'):.0f}"  # 8123 as 8120, not 8.12e+03
    return f"{value:.{digits}g}" if abs(value) < 1e7 else f"{value:.3e}"


# --- pictures -------------------------------------------------------------------------------------------------

def _figure(name: str, title: str, spec: dict, head: list[str], rows: list[list]) -> dict:
    return {"name": name, "id": f"chart-{name}", "title": title, "spec": spec, "table": {"head": head, "rows": rows}}


def figures(user, trial: Trial, rows: list[NcaRow], others: dict, *, conc_unit: str) -> list[dict]:
    """The PK page's pictures, each with the rows it draws as a table (``pk.charts`` builds the specs)."""
    from pk import charts

    found = []
    points = [p for p in concentration_rows(rows) if p["time"] is not None]
    if points:
        table = [[p["subject"], p["level"], fmt(p["time"]), "BLQ" if p["blq"] else fmt(p["conc"])] for p in points]
        head = ["Subject", "Level", "Time (h)", f"Concentration ({conc_unit})"]
        found.append(_figure("conc-linear", "Concentration–time, cycle 1, per subject (linear)",
                             charts.concentration_time(points, scale="linear", conc_unit=conc_unit), head, table))
        found.append(_figure("conc-log", "Concentration–time, cycle 1, per subject (semi-log)",
                             charts.concentration_time(points, scale="log", conc_unit=conc_unit), head, table))
    means = mean_rows(user, trial)
    if means:
        head = ["Level", "Nominal time (h)", "n", f"Mean ({conc_unit})", "SD"]
        table = [[m["level"], fmt(m["time"]), m["n"], fmt(m["mean"]), fmt(m["sd"])] for m in means]
        found.append(_figure("mean-linear", "Mean ± SD concentration by dose level (linear)",
                             charts.mean_concentration(means, scale="linear", conc_unit=conc_unit), head, table))
        found.append(_figure("mean-log", "Mean ± SD concentration by dose level (semi-log)",
                             charts.mean_concentration(means, scale="log", conc_unit=conc_unit), head, table))
    if others["ada"]:
        found.append(_figure("ada", "ADA incidence over time by dose level", charts.ada_incidence(others["ada"]),
                             ["Level", "Visit", "Study day", "Positive", "Tested"],
                             [[a["level"], a["visit"], fmt(a["day"]), a["positive"], a["tested"]]
                              for a in others["ada"]]))
    if others["ro"]:
        found.append(_figure("ro", "Receptor occupancy over time by dose level",
                             charts.receptor_occupancy(others["ro"], summary_rows=others["ro_mean"]),
                             ["Subject", "Level", "Study day", "RO (%)"],
                             [[r["subject"], r["level"], fmt(r["day"]), fmt(r["ro"])] for r in others["ro"]]))
    if others["cytokines"]:
        found.append(_figure("cytokines", "Serum cytokines over the first 15 days", charts.cytokines(
            others["cytokines"]), ["Analyte", "Subject", "Level", "Study day", "Value"],
            [[c["analyte"], c["subject"], c["level"], fmt(c["day"]), f"{fmt(c['value'])} {c['unit']}"]
             for c in others["cytokines"]]))
    return found


def lambda_z_figure(profile: Profile, result: nca_rules.NcaResult) -> dict:
    """The profile on a semi-log scale with the λz fit over the points it used (listed beside it)."""
    from pk import charts

    points = [{"subject": profile.subject.code, "level": _level_label(profile.subject), "time": s.time,
               "conc": s.conc, "blq": s.time in profile.blq} for s in profile.samples]
    unit = next((a.unit for a in schedule_for(profile.subject.trial).analytes if a.code == profile.analyte), "")
    spec = charts.concentration_time(points, scale="log", conc_unit=unit or "conc")
    used = [(s.time, s.conc) for s in profile.samples if s.time in result.lambda_z_times and s.conc]
    if result.lambda_z and len(used) >= 2:
        # The fit's intercept: ln C = a − λz·t through the means (least squares), as trialrules.nca fits it.
        a = sum(math.log(c) for _, c in used) / len(used) + result.lambda_z * sum(t for t, _ in used) / len(used)
        spec = charts.with_terminal_fit(spec, start=used[0][0], end=used[-1][0], intercept=a,
                                        lambda_z=result.lambda_z)
    return spec
