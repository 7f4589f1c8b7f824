"""Writes for trials: loading protocol definitions, adding dose levels."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from trialrules.parts import parse_parts
from trials.models import DoseLevel, Drug, Part, Trial
from trials.protocol_file import ProtocolDefinition

DESIGN_FIELDS = ("titration_levels", "titration_expand", "cohort_size", "allow_deescalate", "six_to_declare")


@transaction.atomic
def protocol_load(*, definition: ProtocolDefinition) -> tuple[Trial, bool]:
    """Create or update a trial from its protocol file. Levels are matched by their order in the file;
    levels added in the application (intermediate ones) are kept."""
    data = definition.data
    esc = data["escalation"]
    treatment = data["treatment"]
    # [exports] dates (docs/exports.md): set when the protocol gives it; otherwise the trial keeps its own.
    exports = {"export_dates": data["exports"]["dates"]} if "dates" in data.get("exports", {}) else {}
    trial, created = Trial.objects.update_or_create(
        code=data["code"],
        defaults={
            **exports,
            "title": data["title"],
            "phase": data["phase"],
            "design": esc["design"],
            "design_parameters": {k: esc[k] for k in DESIGN_FIELDS if k in esc},
            "dlt_window_days": esc.get("dlt_window_days"),
            "stagger_first_days": esc.get("stagger_first_days", 0),
            "stagger_next_hours": esc.get("stagger_next_hours", 0),
            "requires_sponsor_concurrence": esc.get("requires_sponsor_concurrence", False),
            "cycle_days": treatment["cycle_days"],
            "max_cycles": treatment.get("max_cycles"),
            "visit_plan": data.get("visits", []),
            "definition": data,
            "definition_sha256": definition.sha256,
            "source_file": definition.path.name,
        },
    )
    for order, drug in enumerate(data["drugs"]):
        Drug.objects.update_or_create(
            trial=trial,
            name=drug["name"],
            defaults={
                "route": drug["route"],
                "unit": drug["unit"],
                "basis": drug.get("basis", "flat"),
                "schedule": drug["schedule"],
                "administration_days": drug["administration_days"],
                "order": order,
            },
        )
    titration_levels = esc.get("titration_levels", 0) if esc["design"] == "titration+3+3" else 0
    for number, level in enumerate(data["dose_levels"], 1):
        DoseLevel.objects.update_or_create(
            trial=trial,
            rank=Decimal(number),
            defaults={
                "label": level["label"],
                "doses": {k: str(v) for k, v in level["doses"].items()},
                "titration": number <= titration_levels,
                "intermediate": False,
            },
        )
    parts_load(trial=trial)
    from escalation.services import cohort_open_first, part_open

    cohort_open_first(trial=trial)
    for part in trial.parts.filter(status=Part.Status.PLANNED, opens_after="").exclude(kind=Part.Kind.ESCALATION):
        part_open(part=part)
    return trial, created


def parts_load(*, trial: Trial) -> None:
    """The protocol's parts as rows (matched by code; a part removed from the file is kept if it has cohorts,
    as its subjects' history needs it). A part's status is the application's: loading never reopens one."""
    for spec in parse_parts(trial.definition):
        part, made = Part.objects.get_or_create(
            trial=trial, code=spec.code,
            defaults={"name": spec.name, "kind": spec.kind, "order": spec.order, "opens_after": spec.opens_after,
                      "definition": spec.definition,
                      "status": Part.Status.OPEN if spec.kind == "escalation" else Part.Status.PLANNED},
        )
        if not made:
            Part.objects.filter(pk=part.pk).update(name=spec.name, kind=spec.kind, order=spec.order,
                                                   opens_after=spec.opens_after, definition=spec.definition)
        if spec.kind == Part.Kind.ESCALATION:
            # Cohorts made before parts existed are the dose escalation's.
            trial.cohorts.filter(part__isnull=True, escalation=True).update(part=part)
