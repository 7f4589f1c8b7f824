"""Writes for samples: planning each subject's samples from its doses (as the visit plan is), recording a sample
collected or missed, shipping samples to the lab, importing the lab's results file (all rows or none) and the
pharmacokineticist's λz choices. Every write is audited (pghistory) with its reason where one is asked for.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from pk.models import LabImport, LabResult, LambdaZChoice, Sample, Shipment
from subjects.models import DoseAdministration, Subject
from trialrules import lab_results, sampling
from trialrules.nca import NcaInputError
from trials.access import require_site_role, roles_in
from trials.models import SITE_ROLES, Role, Trial
from visits.services import MISSED_REASON_MIN_LENGTH

REASON_MIN_LENGTH = MISSED_REASON_MIN_LENGTH  # a reason not to take a sample, or for λz points: as a missed visit's
MAX_FILE_BYTES = 5 * 1024 * 1024


def schedule_for(trial: Trial) -> sampling.Schedule | None:
    """The trial's sampling schedule (``[pk]`` of its protocol file; None when it has none)."""
    table = (trial.definition or {}).get("pk")
    if not table:
        return None
    return sampling.parse_schedule(table)


def _timed_doses(subject: Subject, drug: str) -> dict[int, DoseAdministration]:
    return {d.cycle: d for d in DoseAdministration.objects.filter(subject=subject, drug__name=drug, day=1)}


def _expected(subject: Subject, doses: dict[int, DoseAdministration]) -> dict[int, sampling.ExpectedDose]:
    """The cycles planned but not dosed yet, from the subject's planned day-1 visits (C{n}D1)."""
    from visits.models import PlannedVisit

    if not doses:
        return {}
    at = timezone.localtime(min(doses.values(), key=lambda d: d.cycle).administered_at).timetz()
    expected = {}
    for visit in subject.visits.filter(kind=PlannedVisit.Kind.DOSING, status=PlannedVisit.Status.PLANNED):
        code = visit.code
        if code.startswith("C") and code.endswith("D1") and code[1:-2].isdigit():
            cycle = int(code[1:-2])
            if cycle not in doses:
                expected[cycle] = sampling.ExpectedDose(visit.target, visit.window_start, visit.window_end, at)
    return expected


@transaction.atomic
def samples_plan_for_subject(*, subject: Subject) -> list[Sample]:
    """Plan the subject's samples from its doses (called whenever its visit plan is made). Collected and missed
    samples keep their record; planned ones move with their dose; planned ones the plan no longer has go."""
    schedule = schedule_for(subject.trial)
    if schedule is None:
        return []
    doses = _timed_doses(subject, schedule.drug)
    aware = {cycle: dose.administered_at for cycle, dose in doses.items()}
    plan = sampling.plan_samples(schedule, aware, _expected(subject, doses))
    existing = {s.code: s for s in Sample.objects.select_for_update().filter(subject=subject)}
    kept, new = [], []
    for planned in plan:
        current = existing.pop(planned.code, None)
        values = {"kind": planned.kind, "analytes": list(planned.analytes), "cycle": planned.cycle,
                  "nominal_hours": planned.nominal_hours, "nominal_at": planned.nominal_at,
                  "window_start": planned.window_start, "window_end": planned.window_end,
                  "dose": doses.get(planned.cycle)}
        if current is None:
            new.append(Sample(subject=subject, code=planned.code, sample_id=f"{subject.code}-{planned.code}",
                              **values))
            continue
        if current.status != Sample.Status.PLANNED:
            # A collected sample keeps its time; its dose link follows a re-recorded dose, and its deviation
            # is re-measured from the new nominal time.
            if current.dose_id != (values["dose"].pk if values["dose"] else None) or \
                    current.nominal_at != planned.nominal_at:
                _retime(current, values)
            kept.append(current)
            continue
        if any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            current.overdue, current.overdue_since = False, None
            current.save()
        kept.append(current)
    Sample.objects.filter(pk__in=[s.pk for s in existing.values() if s.status == Sample.Status.PLANNED]).delete()
    # One INSERT for the new ones (the first dose plans a cycle's dozen at once); the audit triggers see each row.
    kept.extend(Sample.objects.bulk_create(new))
    kept.sort(key=lambda s: (s.nominal_at, s.code))
    return kept


def _retime(sample: Sample, values: dict) -> None:
    for k in ("nominal_at", "window_start", "window_end", "dose"):
        setattr(sample, k, values[k])
    if sample.collected_at is not None:
        _measure(sample)
    sample.save()


def _measure(sample: Sample) -> None:
    sample.deviation_minutes = sampling.deviation_minutes(sample.nominal_at, sample.collected_at)
    sample.deviation = not (sample.window_start <= sample.collected_at <= sample.window_end)


def _require_site_staff(user, subject: Subject) -> None:
    require_site_role(user, subject, SITE_ROLES,
                      "Only the coordinators and investigators of the subject's site record samples.")


def _locked_planned(sample: Sample) -> Sample:
    return Sample.objects.select_for_update(of=("self",)).select_related("subject", "dose").get(pk=sample.pk)


def collection_check(sample: Sample, collected_at: datetime) -> None:
    """The checks of a collection time, at entry and on correction (ValidationError naming ``collected_at``)."""
    if collected_at > timezone.now():
        raise ValidationError({"collected_at": "A collection time cannot be in the future."})
    planned = sampling.PlannedSample(sample.code, sample.kind, tuple(sample.analytes), sample.cycle,
                                     sample.nominal_hours, sample.nominal_at, sample.window_start, sample.window_end,
                                     sample.dose_id is None)
    dose_at = sample.dose.administered_at if sample.dose_id else None
    if dose_at is None and sample.nominal_hours > 0:
        raise ValidationError({"collected_at": "Record the cycle's dose first: this sample is timed from it."})
    problem = sampling.collection_problem(planned, collected_at, dose_at)
    if problem:
        raise ValidationError({"collected_at": f"{problem[0].upper()}{problem[1:]}."})


@transaction.atomic
def sample_collect(*, sample: Sample, user, collected_at: datetime, comment: str = "") -> Sample:
    """Record the sample collected at ``collected_at``; outside its window is a deviation (kept, shown)."""
    _require_site_staff(user, sample.subject)
    sample = _locked_planned(sample)
    if sample.status == Sample.Status.COLLECTED:
        if sample.collected_at == collected_at:
            return sample  # the same entry twice (a double click)
        raise ValidationError({"collected_at": f"{sample.code} was already recorded collected at "
                                               f"{timezone.localtime(sample.collected_at):%d %b %Y %H:%M}: correct "
                                               "that entry (with a reason) instead."})
    if sample.status == Sample.Status.MISSED:
        raise ValidationError({"collected_at": f"{sample.code} is recorded missed: correct that entry instead."})
    collection_check(sample, collected_at)
    sample.status, sample.collected_at, sample.comment = Sample.Status.COLLECTED, collected_at, comment.strip()
    _measure(sample)
    sample.overdue, sample.overdue_since = False, None
    sample.recorded_by, sample.recorded_at = user, timezone.now()
    sample.save()
    return sample


@transaction.atomic
def sample_missed(*, sample: Sample, user, reason: str) -> Sample:
    _require_site_staff(user, sample.subject)
    sample = _locked_planned(sample)
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError({"missed_reason": "Say why the sample was not taken."})
    if sample.status == Sample.Status.MISSED:
        return sample
    if sample.status != Sample.Status.PLANNED:
        raise ValidationError({"missed_reason": f"{sample.code} is recorded collected: correct that entry instead."})
    sample.status, sample.missed_reason = Sample.Status.MISSED, reason
    sample.overdue, sample.overdue_since = False, None
    sample.recorded_by, sample.recorded_at = user, timezone.now()
    sample.save()
    return sample


@transaction.atomic
def shipment_create(*, user, trial: Trial, site, samples: list[Sample], lab: str, shipped_at: datetime,
                    temperature: str, tracking: str = "") -> Shipment:
    """Ship collected samples of one site to the lab; each sample ships once."""
    from trials.models import Membership

    if not Membership.objects.filter(user=user, trial=trial, site=site, role__in=SITE_ROLES).exists():
        raise PermissionDenied("Only the site's coordinators and investigators ship its samples.")
    if not samples:
        raise ValidationError({"samples": "Choose the samples in the box."})
    if not (lab or "").strip():
        raise ValidationError({"lab": "Name the bioanalytical lab."})
    if shipped_at > timezone.now():
        raise ValidationError({"shipped_at": "A shipment time cannot be in the future."})
    if temperature not in Shipment.Temperature.values:
        raise ValidationError({"temperature": "Choose the shipping temperature."})
    locked = list(Sample.objects.select_for_update(of=("self",)).select_related("subject").filter(
        pk__in=[s.pk for s in samples]).order_by("pk"))
    for s in locked:
        if s.subject.trial_id != trial.pk or s.subject.site_id != site.pk:
            raise ValidationError({"samples": f"{s.sample_id} is not a sample of this trial at {site}."})
        if s.status != Sample.Status.COLLECTED:
            raise ValidationError({"samples": f"{s.sample_id} is not collected."})
        if s.shipment_id is not None:
            raise ValidationError({"samples": f"{s.sample_id} is already in shipment {s.shipment_id}."})
        if s.collected_at > shipped_at:
            raise ValidationError({"shipped_at": f"{s.sample_id} was collected after this time."})
    shipment = Shipment.objects.create(trial=trial, site=site, lab=lab.strip(), shipped_at=shipped_at,
                                       temperature=temperature, tracking=tracking.strip(), shipped_by=user)
    Sample.objects.filter(pk__in=[s.pk for s in locked]).update(shipment=shipment)
    return shipment


# --- lab results ----------------------------------------------------------------------------------------------

def can_import(user, trial: Trial) -> bool:
    return bool(roles_in(user, trial) & {Role.PHARMACOKINETICIST, Role.COORDINATOR})


def known_samples(trial: Trial, samples) -> dict[str, lab_results.KnownSample]:
    return {
        s.sample_id: lab_results.KnownSample(
            # In the site's zone: the lab's analysis date is compared with the local collection date.
            sample_id=s.sample_id, kind=s.kind, analytes=tuple(s.analytes),
            collected_at=timezone.localtime(s.collected_at) if s.collected_at else None,
            dose_at=s.dose.administered_at if s.dose_id else None,
            nominal_hours=s.nominal_hours)
        for s in samples.select_related("dose")
    }


def analyte_specs(schedule: sampling.Schedule) -> dict[str, lab_results.AnalyteSpec]:
    return {a.code: lab_results.AnalyteSpec(code=a.code, kind=a.kind, unit=a.unit, categories=a.categories)
            for a in schedule.analytes}


class ImportRefused(Exception):
    """The file has problems: nothing was imported; ``report`` names each row."""

    def __init__(self, report: lab_results.Report):
        super().__init__(f"{len(report.problems)} problem(s)")
        self.report = report


@transaction.atomic
def results_import(*, user, trial: Trial, file_name: str, content: bytes, samples) -> LabImport:
    """Import the lab's results file: every row checked (``trialrules.lab_results``) against the samples the
    user may see (``samples``, a queryset); with any problem nothing is imported (:class:`ImportRefused`)."""
    if not can_import(user, trial):
        raise PermissionDenied("Only the trial's pharmacokineticists and the site coordinators import results.")
    schedule = schedule_for(trial)
    if schedule is None:
        raise ValidationError({"file": f"{trial.code} has no sampling schedule: there is nothing to import."})
    if len(content) > MAX_FILE_BYTES:
        raise ValidationError({"file": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": f"The file is not UTF-8 text (byte {exc.start + 1})."}) from None
    locked = samples.select_for_update(of=("self",))
    known = known_samples(trial, locked)
    existing = set(LabResult.objects.filter(sample__sample_id__in=known).values_list("sample__sample_id",
                                                                                     "analyte"))
    report = lab_results.validate(text, known, analyte_specs(schedule), existing)
    if not report.ok:
        raise ImportRefused(report)
    by_id = {s.sample_id: s for s in locked}
    batch = LabImport.objects.create(trial=trial, file_name=file_name[:200], rows=len(report.rows),
                                     sha256=hashlib.sha256(content).hexdigest(), imported_by=user)
    try:
        with transaction.atomic():
            LabResult.objects.bulk_create([
                LabResult(sample=by_id[r.sample_id], analyte=r.analyte, value=r.value, unit=r.unit, blq=r.blq,
                          lloq=r.lloq, ada_positive=r.ada_positive, titre=r.titre, category=r.category,
                          analysed_on=r.analysed_on, lab_import=batch)
                for r in report.rows
            ])
    except IntegrityError:
        raise ValidationError({"file": "Another import of the same results finished first: nothing was imported "
                                       "from this file. Reload the page to see them."}) from None
    return batch


# --- λz -------------------------------------------------------------------------------------------------------

def can_choose_lambda_z(user, trial: Trial) -> bool:
    return Role.PHARMACOKINETICIST in roles_in(user, trial)


@transaction.atomic
def lambda_z_choose(*, user, subject: Subject, cycle: int, analyte: str, times: list[float] | None,
                    reason: str) -> LambdaZChoice:
    """Set (or, with ``times`` None or empty, clear back to the automatic fit) the λz points of one profile."""
    from pk.selectors import profile_for

    if not can_choose_lambda_z(user, subject.trial):
        raise PermissionDenied("Only the trial's pharmacokineticists choose the λz points.")
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError({"reason": "Give the reason for choosing these points."})
    times = sorted({float(t) for t in times or []})
    profile = profile_for(subject, cycle, analyte)
    if profile is None:
        raise ValidationError({"times": "This subject has no concentrations for that cycle."})
    if times:
        available = {round(s.time, 4) for s in profile.samples if s.conc}
        unknown = [t for t in times if round(t, 4) not in available]
        if unknown:
            raise ValidationError({"times": f"{unknown[0]:g} h is not a sample time with a concentration above 0."})
        if len(times) < 3:
            raise ValidationError({"times": "Choose at least 3 points for λz (an adjusted R² needs 3)."})
        try:
            result = profile.analyse(lambda_z_times=times)
        except NcaInputError as exc:
            raise ValidationError({"times": str(exc)}) from None
        if result.lambda_z is None:
            raise ValidationError({"times": "; ".join(n for n in result.notes if "λz" in n) or "λz not estimable."})
    with pghistory.context(reason=reason):
        choice, created = LambdaZChoice.objects.select_for_update().get_or_create(
            subject=subject, cycle=cycle, analyte=analyte,
            defaults={"times": times, "reason": reason, "chosen_by": user})
        if not created:
            choice.times, choice.reason, choice.chosen_by = times, reason, user
            choice.save()
    return choice
