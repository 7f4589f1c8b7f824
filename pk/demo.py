"""Demo PK data for ./dev up (``manage.py seed_demo_pk``; demo only): the first cohort of LVGN6051 + anlotinib at
the demo site A, three subjects dosed three cycles ago, their samples collected at the site, shipped, and the lab's
results (concentrations, ADA, cytokines, tissue biomarkers) imported through the same results-file check and
services as a real file, so the PK page, the λz pages and the decision page show what they are for. Doses are
written directly (as in a trial migrated from another system), so the escalation service finds the cohort's DLT
windows closed and recommends its decision.

Concentrations follow a two-exponential profile of a monoclonal antibody given as a 60-minute infusion,
superposed over the earlier doses for the troughs; each subject has its own clearance, so the numbers vary."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from pk.models import Sample
from pk.services import results_import, sample_collect, sample_missed, shipment_create
from subjects.models import DoseAdministration, Subject
from subjects.services import subject_enrol
from visits.services import visits_plan_for_subject

TRIAL = "LVGN6051-ANLOTINIB"
# (initials, weight kg, clearance factor, ADA positive from cycle, PD-L1 %, MSI, TMB)
SUBJECTS = [("PK", Decimal("68.0"), 1.0, None, "5", "MSS", "2.1"),
            ("QR", Decimal("81.5"), 1.35, 2, "20", "MSS", "8.4"),
            ("ST", Decimal("59.0"), 0.8, None, "0", "pMMR", "4.0")]
CYCLES = 3
LLOQ = "0.05"


def concentration(hours_since: list[float], dose_mg: float, clearance: float) -> float:
    """µg/mL at a time after each earlier dose (``hours_since`` >= 0 each): two exponentials, infused over 1 h."""
    total = 0.0
    for t in hours_since:
        if t <= 0:
            continue
        rise = min(t, 1.0)  # during the infusion the level builds up
        total += dose_mg / 70 * (14 * math.exp(-0.25 * clearance * t) + 11 * math.exp(-0.0045 * clearance * t)) \
            * (1 - math.exp(-4 * rise)) / (1 - math.exp(-4))
    return round(total, 3)


def _cytokine(analyte: str, hours: float, number: int) -> str:
    base = {"IL-6": 3.2, "IL-12": 1.1, "TNF-a": 6.5, "IFN-g": 2.4, "CD137": 45.0}[analyte]
    peak = {0: 1.0, 24: 3.5, 168: 1.8, 336: 1.2}.get(int(hours), 1.0)
    return f"{base * peak * (1 + 0.15 * number):.2f}"


def seed(trial, site, user, pharmacokineticist, *, today: date | None = None) -> list[Subject]:
    """Create the demo cohort (idempotent: nothing when the site already has subjects in the trial)."""
    if Subject.objects.filter(trial=trial, site=site).exists():
        return []
    today = today or timezone.localdate()
    drug = trial.drugs.get(name="LVGN6051")
    first = today - timedelta(days=21 * (CYCLES - 1) + 18)
    created = []
    with transaction.atomic():
        for number, (initials, weight, *_rest) in enumerate(SUBJECTS):
            subject = subject_enrol(trial=trial, site=site, user=user, initials=initials,
                                    date_of_birth=date(1958 + 4 * number, 5, 1), sex="F" if number % 2 else "M")
            start = first + timedelta(days=2 * number)
            Subject.objects.filter(pk=subject.pk).update(
                enrolled_at=timezone.make_aware(datetime.combine(start - timedelta(days=2), time(9))))
            amount = Decimal(subject.dose_level.doses["LVGN6051"]) * weight
            for cycle in range(CYCLES):
                DoseAdministration.objects.create(
                    subject=subject, drug=drug, cycle=cycle + 1, day=1, dose=amount, unit=drug.unit,
                    weight_kg=weight, planned_dose=amount, recorded_by=user,
                    administered_at=timezone.make_aware(datetime.combine(start + timedelta(days=21 * cycle),
                                                                         time(9, 30))))
            visits_plan_for_subject(subject=subject)
            created.append(subject)
        now = timezone.now()
        taken = []
        for number, subject in enumerate(created):
            for sample in Sample.objects.filter(subject=subject, dose__isnull=False).order_by("nominal_at"):
                if sample.nominal_at > now - timedelta(hours=2):
                    continue
                if number == 2 and sample.code == "C1-CYT-336h":
                    sample_missed(sample=sample, user=user, reason="Subject did not attend on day 15")
                    continue
                late = timedelta(minutes=-20) if sample.nominal_hours == 0 else timedelta(minutes=3 + number)
                taken.append(sample_collect(sample=sample, user=user, collected_at=sample.nominal_at + late))
        shipment_create(user=user, trial=trial, site=site, samples=taken, lab="Central Bioanalytical Laboratory",
                        shipped_at=now - timedelta(hours=1), temperature="frozen-70", tracking="DEMO-0001")
        results_import(user=pharmacokineticist, trial=trial, file_name="demo-lab-results.csv",
                       content=_results_file(created, taken).encode(), samples=Sample.objects.filter(
                           subject__in=[s.pk for s in created]))
    return created


def _results_file(subjects: list[Subject], taken: list[Sample]) -> str:
    lines = ["sample_id,analyte,result,unit,lloq,titre,analysed_on"]
    info = {s.pk: SUBJECTS[i] for i, s in enumerate(subjects)}
    doses = {s.pk: list(DoseAdministration.objects.filter(subject=s, day=1).order_by("cycle")) for s in subjects}
    analysed = timezone.localdate().isoformat()
    for sample in taken:
        _initials, _weight, clearance, ada_from, pdl1, msi, tmb = info[sample.subject_id]
        number = [s.pk for s in subjects].index(sample.subject_id)
        for analyte in sample.analytes:
            titre = ""
            if sample.kind == "pk":
                if sample.cycle == 1 and sample.nominal_hours == 0:
                    result = "BLQ"
                else:
                    since = [(sample.collected_at - d.administered_at).total_seconds() / 3600
                             for d in doses[sample.subject_id]]
                    result = f"{concentration(since, float(doses[sample.subject_id][0].dose), clearance):.3f}"
                unit, lloq = "ug/mL", LLOQ
            elif sample.kind == "ada":
                positive = ada_from is not None and sample.cycle >= ada_from
                result, unit, lloq, titre = ("positive", "", "", "40") if positive else ("negative", "", "", "")
            elif analyte in ("PD-L1", "MSI", "TMB"):
                result = {"PD-L1": pdl1, "MSI": msi, "TMB": tmb}[analyte]
                unit = {"PD-L1": "%", "MSI": "", "TMB": "mut/Mb"}[analyte]
                lloq = ""
            else:
                result, unit, lloq = _cytokine(analyte, sample.nominal_hours, number), "pg/mL", ""
            lines.append(f"{sample.sample_id},{analyte},{result},{unit},{lloq},{titre},{analysed}")
    return "\n".join(lines) + "\n"
