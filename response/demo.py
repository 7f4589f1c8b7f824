"""Demo efficacy data: a dozen treated QL1706 subjects with scans, responses and outcomes, so the efficacy
pages show what they are for on a fresh ``./dev up`` (``manage.py seed_demo_efficacy``; demo only). The
scans and outcomes go through the same services as the site's entries, so every number on the pages is
computed by the rules, not written here. Doses are written directly (one per 21-day cycle), as in a trial
migrated from another system."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from response.models import LesionMeasurement
from response.services import LesionEntry, assessment_record, baseline_record
from subjects.models import DoseAdministration, Subject
from visits.services import follow_up_set, visits_plan_for_subject

M = LesionMeasurement.Status

# (days after the first dose, T1 mm, T2 node short-axis mm, non-target status, new lesions); None = not evaluated.
PROFILES: list[dict] = [
    {"type": "leiomyosarcoma", "scans": [(42, 18, 10, "present"), (84, 0, 8, "absent"), (126, 0, 7, "absent"),
                                         (168, 0, 7, "absent")]},
    {"type": "leiomyosarcoma", "scans": [(42, 25, 14, "present"), (84, 22, 12, "present"),
                                         (126, 24, 13, "present"), (168, 34, 16, "present")], "cycles": 8},
    {"type": "angiosarcoma", "scans": [(42, 26, 13, "present"), (84, 32, 17, "present")], "cycles": 6,
     "death": 250, "cause": "Progressive disease"},
    {"type": "angiosarcoma", "scans": [(42, 42, 19, "present"), (84, 44, 20, "present"), (126, 47, 20, "present")]},
    {"type": "chordoma", "scans": [(42, 60, 25, "present")], "cycles": 2, "death": 120,
     "cause": "Progressive disease"},
    {"type": "chordoma", "scans": [(42, 44, 20, "present"), (84, 45, 20, "present", "unequivocal")], "cycles": 4,
     "death": 150, "cause": "Progressive disease"},
    {"type": "myxofibrosarcoma", "scans": [(42, 40, 20, "present"), (84, 41, 19, "present"),
                                           (126, 52, 22, "present")], "cycles": 6, "death": 300,
     "cause": "Pneumonia"},
    {"type": "myxofibrosarcoma", "scans": [(42, 27, 12, "present"), (84, 24, 11, "present"),
                                           (126, 23, 11, "present")]},
    {"type": "leiomyosarcoma", "scans": [(42, None, 20, "not_evaluated"), (84, 43, 19, "present")]},
    {"type": "alveolar soft part sarcoma", "scans": [], "cycles": 1, "lost": 35},
    {"type": "alveolar soft part sarcoma", "scans": [(42, 33, 16, "present"), (84, 32, 15, "present")],
     "cycles": 5, "new_therapy": 130},
    {"type": "undifferentiated sarcoma", "scans": [(42, 28, 13, "present"), (84, 45, 21, "present")], "cycles": 4,
     "clinical": 80},
]
BASELINE = (45, 20)  # T1 lung 45 mm longest diameter, T2 lymph node 20 mm short axis: sum 65 mm


def seed(trial, site, user, *, today: date | None = None) -> list[Subject]:
    """Create the demo subjects (idempotent: nothing when the site already has subjects in the trial)."""
    today = today or timezone.localdate()
    if Subject.objects.filter(trial=trial, site=site).exists():
        return []
    drug = trial.drugs.order_by("order").first()
    # The single-arm part's open cohort (docs/parts.md): the demo subjects count toward its target size.
    cohort = trial.cohorts.filter(status="open", escalation=False).select_related("dose_level").first()
    level = cohort.dose_level if cohort is not None else trial.dose_levels.order_by("rank").first()
    created = []
    with transaction.atomic():
        for number, profile in enumerate(PROFILES, 1):
            first = today - timedelta(days=420 - 14 * number)
            subject = Subject.objects.create(
                trial=trial, site=site, cohort=cohort, dose_level=level, code=f"{trial.code}-{site.code}-D{number:02d}",
                initials="DM", date_of_birth=date(1955 + number, 3, 1), sex="F" if number % 2 else "M",
                tumour_type=profile["type"], enrolled_by=user, status=Subject.Status.ON_TREATMENT)
            cycles = profile.get("cycles") or max(1, min(17, (today - first).days // 21))
            for cycle in range(cycles):
                given = first + timedelta(days=21 * cycle)
                if given > today:
                    break
                DoseAdministration.objects.create(
                    subject=subject, drug=drug, cycle=cycle + 1, day=1, dose=Decimal(300), unit=drug.unit,
                    recorded_by=user, administered_at=timezone.make_aware(datetime.combine(given, time(9, 30))))
            visits_plan_for_subject(subject=subject)
            baseline_record(subject=subject, user=user, assessed_on=first - timedelta(days=7), method="CT",
                            lesions=[LesionEntry(kind="target", organ="lung", diameter_mm=Decimal(BASELINE[0]),
                                                 axis="long", location="right lower lobe"),
                                     LesionEntry(kind="target", organ="lymph node", node=True,
                                                 diameter_mm=Decimal(BASELINE[1]), axis="short",
                                                 location="mediastinal"),
                                     LesionEntry(kind="non_target", organ="bone", location="T8 vertebra")],
                            today=today)
            for day, t1, t2, nt, *new in profile["scans"]:
                on = first + timedelta(days=day)
                if on > today:
                    break
                values = {"T1": (M.NOT_EVALUATED, None) if t1 is None else (M.MEASURED, Decimal(t1)),
                          "T2": (M.MEASURED, Decimal(t2)), "NT1": (nt, None)}
                visit = subject.visits.filter(kind="imaging", window_start__lte=on, window_end__gte=on,
                                              status="planned").first()
                assessment_record(subject=subject, user=user, assessed_on=on, method="CT",
                                  new_lesions=new[0] if new else "none", values=values, visit=visit, today=today)
            last_dose = first + timedelta(days=21 * (cycles - 1))
            outcome: dict = {}
            if profile.get("cycles"):
                outcome["last_dose"] = min(last_dose, today)
            if "death" in profile:
                outcome |= {"follow_up_end": first + timedelta(days=profile["death"]), "follow_up_end_reason": "death",
                            "death_cause": profile["cause"]}
            if "lost" in profile:
                outcome |= {"follow_up_end": first + timedelta(days=profile["lost"]), "follow_up_end_reason": "lost"}
            if "new_therapy" in profile:
                outcome["new_therapy"] = first + timedelta(days=profile["new_therapy"])
            if "clinical" in profile:
                outcome["clinical_progression"] = first + timedelta(days=profile["clinical"])
            if outcome:
                follow_up_set(subject=subject, user=user, today=today, roles=("coordinator", "investigator"),
                              **outcome)
            created.append(subject)
    return created
