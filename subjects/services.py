"""Writes for subjects: enrolment, doses and adverse events.

Each is atomic; the row changes are audited by pghistory triggers, with the acting user in the
context (the HistoryMiddleware sets it for web requests). Side effects (the escalation review)
are enqueued after commit.

Timing gates (DOMAIN.md escalation rule 4; the rules themselves are in :mod:`trialrules.gates`)
----------------------------------------------------------------------------------------------
In an escalating trial the gates apply to a subject's *first dose* (the dose that becomes the
earliest recorded for the subject, normally cycle 1 day 1), checked at its ``administered_at``, not
at enrolment: screening and consent take days, so a subject may be enrolled into the open cohort
while a gate is still closed, and the dose form says when the gate opens. A refused dose raises a
ValidationError on ``administered_at`` whose message gives the opening time and cites the rule.

An investigator of the subject's site may override a gate for that subject's first dose with a
written reason (``gate_override``: an audited ``GateOverride`` row, one per subject and gate);
``dose_record`` then accepts the dose if every gate that blocks it is overridden. First doses of a
trial are serialised by locking the trial row, so two subjects cannot slip through one gate at once.
A subject who left the study (``off_study_on``) no longer holds the level gate closed from the start
of that day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from escalation.models import Cohort
from subjects.models import (
    AdverseEvent,
    Assessment,
    ContinuationException,
    CtcaeTerm,
    DoseAdministration,
    GateOverride,
    Subject,
)
from trialrules import dlt, dosing, gates, plausibility
from trials.access import require_site_role
from trials.models import SITE_ROLES, Drug, Role, Site, Trial
from trialsite.edit_checks import enforce


def _review_escalation_after_commit(trial: Trial) -> None:
    if trial.escalates:
        from outbox import enqueue

        enqueue("escalation.tasks.review_trial", trial.pk)


def subject_enrol(
    *, trial: Trial, site: Site | None = None, user, initials: str = "", date_of_birth: date | None = None,
    sex: str = "", today: date | None = None, screening=None, cohort: Cohort | None = None,
) -> Subject:
    """Enrol a subject into an open cohort: the dose-escalation cohort being filled, or a cohort of an open
    later part (extension, expansion, single-arm phase II; several may be open: ``cohort`` says which, and a
    cohort with tumour types takes only a subject whose screening histology is one of them). A cohort that
    reaches its size fills (escalation: DLT observation) or closes (later parts); a part closes with its last
    cohort. A fixed-dose trial without cohorts enrols at its dose.

    From the web, enrolment is always from an eligible screening record (``screening``): the subject's
    site, initials, date of birth and sex are the record's, and the record is linked to the subject.
    Without one (data imported from elsewhere, tests of escalation) the identity is given directly.
    """
    today = today or timezone.localdate()
    if screening is not None:
        site, initials, date_of_birth, sex = screening.site, screening.initials, screening.date_of_birth, screening.sex
        if screening.trial_id != trial.pk:
            raise ValidationError({"screening": "This screening record belongs to another trial."})
    if date_of_birth is None or date_of_birth >= today:
        raise ValidationError({"date_of_birth": "The date of birth must be in the past."})
    if screening is None:  # the screening record's identity was checked when it was started
        enforce(f for f in plausibility.check_birth_date(date_of_birth, on=today, today=today) if not f.soft)
    with transaction.atomic():
        # Lock the trial row: subject numbers and the last free cohort place are taken one at a time.
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        if screening is not None:
            from screening.models import ScreeningRecord

            screening = ScreeningRecord.objects.select_for_update().get(pk=screening.pk)
            if screening.subject_id is not None:
                raise ValidationError({"screening": f"{screening.number} is already enrolled as "
                                                    f"{screening.subject.code}."})
            if screening.status != ScreeningRecord.Status.ELIGIBLE:
                raise ValidationError({"screening": f"{screening.number} is not confirmed eligible "
                                                    f"({screening.get_status_display().lower()})."})
        cohort = _enrolling_cohort(trial, cohort, screening)
        level = cohort.dose_level if cohort is not None else trial.dose_levels.order_by("rank").first()
        number = Subject.objects.filter(trial=trial, site=site).count() + 1
        subject = Subject(
            trial=trial,
            site=site,
            cohort=cohort,
            dose_level=level,
            code=f"{trial.code}-{site.code}-{number:03d}",
            initials=initials.strip().upper(),
            date_of_birth=date_of_birth,
            sex=sex,
            # Efficacy is reported per tumour type: the screening's histology where the protocol asks it.
            tumour_type=_screened_histology(screening),
            enrolled_by=user,
        )
        subject.full_clean()
        subject.save()
        if screening is not None:
            screening.subject = subject
            screening.status = ScreeningRecord.Status.ENROLLED
            screening.save(update_fields=["subject", "status"])
        if cohort is not None and cohort.subjects.count() >= cohort.capacity:
            cohort.status = Cohort.Status.FULL if cohort.escalation else Cohort.Status.CLOSED
            cohort.save(update_fields=["status"])
            if cohort.part_id and not cohort.escalation:
                from escalation.services import part_close_if_done

                part_close_if_done(part=cohort.part)
    return subject


def open_cohorts(trial: Trial):
    """The cohorts taking subjects now, escalation cohort first."""
    return (Cohort.objects.filter(trial=trial, status=Cohort.Status.OPEN)
            .select_related("dose_level", "part").order_by("-escalation", "number"))


def _enrolling_cohort(trial: Trial, chosen: Cohort | None, screening) -> Cohort | None:
    """The open cohort a new subject joins (locked), checked against the screening's part and histology."""
    cohorts = list(open_cohorts(trial).select_for_update(of=("self",)))
    if chosen is not None:
        match = next((c for c in cohorts if c.pk == chosen.pk), None)
        if match is None:
            raise ValidationError({"cohort": f"{chosen.name} is not open for enrolment."})
        cohorts = [match]
    elif screening is not None and screening.part_id is not None:
        cohorts = [c for c in cohorts if c.part_id == screening.part_id] or cohorts
    if not cohorts:
        if not trial.cohorts.exists() and not trial.escalates:
            return None  # a fixed-dose trial without parts: enrolled at its dose
        if trial.escalates and not trial.cohorts.filter(escalation=False).exists():
            raise ValidationError(
                "No cohort is open for enrolment: the current cohort is full or awaiting its "
                "dose-escalation decision."
            )
        raise ValidationError("No cohort is open for enrolment: the trial's open parts have reached their target "
                              "sizes, or the next part has not opened yet.")
    if len(cohorts) > 1:
        raise ValidationError({"cohort": "Several cohorts are open: choose the one this subject joins."})
    cohort = cohorts[0]
    if screening is not None and screening.part_id is not None and cohort.part_id != screening.part_id:
        raise ValidationError({"cohort": f"{screening.number} was screened for another part of the trial "
                                         f"({screening.part.name}); screen again for {cohort.part.name}."})
    if cohort.tumour_types:
        histology = _screened_histology(screening)
        if histology.casefold() not in {t.casefold() for t in cohort.tumour_types}:
            shown = histology or "no histology recorded"
            raise ValidationError({"cohort": f"{cohort.name} enrols {', '.join(cohort.tumour_types)}; this "
                                             f"candidate's screening histology is {shown}."})
    return cohort


def _screened_histology(screening) -> str:
    value = (screening.values or {}).get("histology") if screening is not None else None
    return str(value)[:120] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def latest_weight(subject: Subject, *, on: date | None = None, exclude: int | None = None) -> Decimal | None:
    """The most recent weight: from the vital signs assessments (on or before ``on``; not assessment
    ``exclude``), else screening."""
    assessments = subject.assessments.filter(weight_kg__isnull=False).exclude(pk=exclude)
    if on is not None:
        assessments = assessments.filter(assessed_on__lte=on)
    latest = assessments.order_by("-assessed_on", "-pk").first()
    if latest is not None:
        return latest.weight_kg
    screening = getattr(subject, "screening", None) if subject.pk else None
    if screening is not None and screening.values.get("weight"):
        return Decimal(str(screening.values["weight"]))
    return None


def entry_date_bounds(subject: Subject, *, enrolment: bool = False, consent_hint: str = "") -> list[plausibility.Bound]:
    """The earliest dates of a subject's clinical entries (edit checks): the date of birth and, for a
    subject enrolled from a screening record, consent (and, with ``enrolment``, the enrolment day: no
    dose before it). A subject imported without a screening record has only its date of birth."""
    bounds = [plausibility.Bound(subject.date_of_birth, "the date of birth")]
    screening = getattr(subject, "screening", None) if subject.pk else None
    if screening is not None:
        bounds.append(plausibility.Bound(screening.consent_date, "consent", consent_hint))
        if enrolment and subject.enrolled_at is not None:
            bounds.append(plausibility.Bound(timezone.localtime(subject.enrolled_at).date(),
                                             f"enrolment into {subject.trial.code}"))
    return bounds


def _dose_event(dose: DoseAdministration) -> plausibility.DoseEvent:
    at = timezone.localtime(dose.administered_at)
    return plausibility.DoseEvent(drug=dose.drug.name, cycle=dose.cycle, day=dose.day, at=at, on=at.date())


def dose_findings(dose: DoseAdministration, *, planned: Decimal | None = None, weight_typed: bool = True,
                  amount_typed: bool = True) -> list[plausibility.Finding]:
    """The edit checks of a dose as it stands, new or corrected: its date (not before birth, consent or
    enrolment), the weight used (``weight_typed=False``: read from an earlier record, hard limits only),
    the amount against the computed dose (``planned``; default the stored planned dose, else the level's
    flat amount; not checked with ``amount_typed=False``: the computed dose itself) and its place among
    the subject's other doses. Pass them to :func:`trialsite.edit_checks.enforce`."""
    subject = dose.subject
    day = timezone.localtime(dose.administered_at).date()
    findings = plausibility.check_date(day, field="administered_at", label="The dose date", today=None,
                                       after=entry_date_bounds(subject, enrolment=True))
    if dose.weight_kg is not None:
        weight = plausibility.check_weight(dose.weight_kg, previous=latest_weight(subject, on=day) if weight_typed
                                           else None, confirmable=weight_typed)
        if not weight_typed:  # a weight recorded before the edit checks existed
            weight = [plausibility.Finding(f.field, f.check, f"The latest recorded weight: {f.message} Give the "
                                           "weight with the dose.") for f in weight]
        findings += weight
    if planned is None:
        if dose.planned_dose is not None:
            planned = dose.planned_dose
        else:
            from escalation.intrapatient import level_for_cycle

            planned = level_for_cycle(subject, dose.cycle).doses.get(dose.drug.name)
    if amount_typed and not any(f.field == "weight_kg" and not f.soft for f in findings):
        findings += plausibility.check_dose(dose.dose, planned, unit=dose.unit)
    others = subject.doses.select_related("drug").exclude(pk=dose.pk)
    return findings + plausibility.check_dose_order(_dose_event(dose), [_dose_event(d) for d in others])


def planned_dose_for(subject: Subject, drug: Drug, *, weight_kg: Decimal | None = None,
                     cycle: int | None = None) -> dosing.PlannedDose:
    """The dose of ``drug`` planned for ``cycle`` (default: the subject's next cycle), at the level of that
    cycle: the subject's own level, or the new one from an agreed intra-patient escalation
    (:func:`escalation.intrapatient.level_for_cycle`)."""
    from escalation.intrapatient import level_for_cycle, next_cycle

    level = level_for_cycle(subject, next_cycle(subject) if cycle is None else cycle)
    return dosing.planned_dose(basis=drug.basis, level_amount=level.doses[drug.name], unit=drug.unit,
                               weight_kg=weight_kg, drug=drug.name)


def planned_doses(subject: Subject, *, weight_kg: Decimal | None) -> list[tuple[Drug, dosing.PlannedDose | str]]:
    """Each drug of the regimen with its planned dose, or why it cannot be computed (no weight yet)."""
    planned = []
    for drug in subject.trial.drugs.all():
        try:
            planned.append((drug, planned_dose_for(subject, drug, weight_kg=weight_kg)))
        except ValueError as exc:
            planned.append((drug, str(exc)))
    return planned


def dose_record(
    *, subject: Subject, drug: Drug, cycle: int, day: int, administered_at: datetime, dose: Decimal | None = None,
    user, now: datetime | None = None, weight_kg: Decimal | None = None, deviation_reason: str = "",
    confirm_unusual: bool = False, unusual_reason: str = "", dispensing=None,
) -> DoseAdministration:
    """Record one administration. Per-kg doses are computed from the weight used (given, or the latest
    recorded); checked: the regimen's days, no dose change where the protocol forbids it, the cycle
    maximum (unless a continuation exception is recorded), the screening window for the first dose,
    the timing gates, and where the protocol declares them the cycle window (from cycle 2) and the
    pre-dose assessments. A dose outside the cycle window or without the pre-dose assessments is
    recorded only with a ``deviation_reason`` (a protocol deviation). Edit checks
    (:mod:`trialrules.plausibility`): the date (not before birth, consent or enrolment), the order of the
    subject's doses, the weight and the dose against the computed dose; an unusual weight or dose is
    recorded only with ``confirm_unusual`` and an ``unusual_reason``."""
    now = now or timezone.now()
    trial = subject.trial
    treatment = trial.definition.get("treatment", {})
    deviation_reason = (deviation_reason or "").strip()
    if drug.trial_id != subject.trial_id:
        raise ValidationError({"drug": "This drug is not part of the subject's regimen."})
    if dispensing is None and is_dispensed(drug):
        # Its doses are derived from the cycle's dispensing record (subjects.dispensing), never entered daily.
        raise ValidationError({"drug": f"{drug.name} is taken at home: record the tablets dispensed and returned "
                                       "for the cycle (dispensing), not each day's dose."})
    if administered_at > now:
        raise ValidationError({"administered_at": "A dose cannot be recorded in the future."})
    if deviation_reason and len(deviation_reason) < 10:
        raise ValidationError({"deviation_reason": "Say why, in at least 10 characters."})
    dose_day = timezone.localtime(administered_at).date()
    typed_weight, typed_dose = weight_kg is not None, dose is not None
    if drug.basis == Drug.Basis.PER_KG and weight_kg is None:
        weight_kg = latest_weight(subject, on=dose_day)
    if drug.basis != Drug.Basis.PER_KG:
        weight_kg = None
    try:
        planned = planned_dose_for(subject, drug, weight_kg=weight_kg, cycle=cycle)
    except ValueError as exc:
        raise ValidationError({"weight_kg": f"{str(exc)[0].upper()}{str(exc)[1:]}: record it with the dose or "
                                            "in the vital signs."}) from None
    if dose is None:
        dose = planned.amount
    if not trial.definition.get("escalation", {}).get("dose_reduction_allowed", True) and dose != planned.amount:
        # BAT6005: "Dose reduction adjustments are not allowed"; escalation needs its own agreement
        # (escalation.intrapatient): the dose is the one of the level of this cycle.
        from escalation.intrapatient import level_for_cycle

        raise ValidationError(
            {"dose": f"{trial.code} allows no dose change: the dose at {level_for_cycle(subject, cycle).label} "
                     f"is {planned.amount.normalize():f} {drug.unit}."}
        )
    if day not in drug.administration_days:
        raise ValidationError({"day": f"{drug.name} is given on cycle days {drug.administration_days}, not day {day}."})
    if not dosing.cycle_allowed(cycle, max_cycles=trial.max_cycles,
                                continuation=ContinuationException.objects.filter(subject=subject).exists()):
        raise ValidationError({"cycle": (
            f"{trial.code} allows at most {trial.max_cycles} cycles: cycle {cycle} needs the investigator's "
            "continuation exception recorded for this subject."
        )})
    with transaction.atomic():
        if _gated(subject):
            # Serialise doses of the trial (trial row first, as enrolment does): the timing gates of
            # a first dose read the other subjects' first doses.
            Trial.objects.select_for_update().get(pk=subject.trial_id)
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if DoseAdministration.objects.filter(subject=subject, drug=drug, cycle=cycle, day=day).exists():
            raise ValidationError({"cycle": f"Cycle {cycle} day {day} of {drug.name} is already recorded."})
        administration = DoseAdministration(
            subject=subject, drug=drug, cycle=cycle, day=day, administered_at=administered_at,
            dose=dose, unit=drug.unit, recorded_by=user, weight_kg=weight_kg,
            planned_dose=planned.amount if weight_kg is not None else None, dispensing=dispensing,
        )
        administration.confirmed_checks = enforce(
            dose_findings(administration, planned=planned.amount, weight_typed=typed_weight, amount_typed=typed_dose),
            confirm_unusual=confirm_unusual, unusual_reason=unusual_reason, user=user, now=now)
        earlier = subject.doses.order_by("administered_at").first()
        first = earlier is None or administered_at < earlier.administered_at
        screening = getattr(subject, "screening", None)
        if first and screening is not None and screening.assessed_on is not None:
            from screening.services import screening_window_days

            days = screening_window_days(trial)
            if not 0 <= (dose_day - screening.assessed_on).days <= days:
                raise ValidationError({"administered_at": (
                    f"The first dose must be within {days} days after the screening assessments "
                    f"({screening.assessed_on:%d %b %Y}; screening window day −{days} to day 0): repeat the "
                    "screening assessments."
                )})
        if _gated(subject) and first:
            result = first_dose_gate_status(subject, when=administered_at, overridden=True)
            if not result.allowed:
                raise ValidationError({"administered_at": (
                    f"{result.message} An investigator may override the gate for this subject with a "
                    "written reason."
                )})
        deviations = _schedule_deviations(subject, drug=drug, cycle=cycle, day=day, dose_day=dose_day,
                                          treatment=treatment)
        if deviations and not deviation_reason:
            raise ValidationError({"deviation_reason": " ".join(deviations) + (
                " If the dose was given, record why (a protocol deviation).")})
        administration.deviation_reason = deviation_reason if deviations else ""
        administration.full_clean()
        administration.save()
        if subject.status == Subject.Status.ENROLLED:
            subject.status = Subject.Status.ON_TREATMENT
            subject.save(update_fields=["status"])
        from visits.services import visits_plan_for_subject

        visits_plan_for_subject(subject=subject)
        if dispensing is None:  # a dispensing's derived doses are reviewed once, by subjects.dispensing
            _review_escalation_after_commit(subject.trial)
    return administration


def is_dispensed(drug: Drug) -> bool:
    """Whether the protocol records this drug by dispensing (``dispensing`` in its ``[[drugs]]`` entry)."""
    from subjects.dispensing import tablet_strength_for

    return tablet_strength_for(drug) is not None


def _schedule_deviations(subject: Subject, *, drug: Drug, cycle: int, day: int, dose_day: date,
                         treatment: dict) -> list[str]:
    """What the cycle window and the pre-dose assessments say against a day-1 dose (empty: nothing)."""
    if day != 1:
        return []
    problems = []
    window_days, from_cycle = treatment.get("dose_window_days"), treatment.get("dose_window_from_cycle")
    if dosing.window_applies(cycle, from_cycle=from_cycle, window_days=window_days):
        previous = subject.doses.filter(drug=drug, cycle=cycle - 1, day=1).first()
        if previous is None:
            problems.append(f"Cycle {cycle - 1} day 1 of {drug.name} is not recorded: the cycle {cycle} window "
                            "cannot be checked.")
        else:
            window = dosing.cycle_window(cycle=cycle, previous_day1=timezone.localtime(previous.administered_at).date(),
                                         cycle_days=subject.trial.cycle_days, window_days=window_days)
            if not window.contains(dose_day):
                problems.append(f"Outside the ±{window_days}-day window: {window.describe()}, this dose is "
                                f"{dose_day:%d %b %Y}.")
    days = treatment.get("predose_assessments_days")
    if days is not None:
        assessed: dict[str, list[date]] = {}
        for kind, on in subject.assessments.values_list("kind", "assessed_on"):
            assessed.setdefault(kind, []).append(on)
        missing = dosing.predose_missing(assessed, dose_day=dose_day, days=days)
        if missing:
            names = ", ".join(dosing.PREDOSE_KINDS[k] for k in missing)
            problems.append(f"No pre-dose {names} within {days} days before {dose_day:%d %b %Y} "
                            f"({(dose_day - timedelta(days=days)):%d %b} – {dose_day:%d %b %Y}).")
    return problems


def _gated(subject: Subject) -> bool:
    return subject.trial.escalates and subject.cohort_id is not None and subject.cohort.escalation


def _gate_parameters(trial: Trial) -> gates.GateParameters:
    # The protocol's level_gate = "dlt_windows_closed" (the default); any other value switches the
    # level gate off.
    level_gate = trial.definition.get("escalation", {}).get("level_gate", "dlt_windows_closed")
    return gates.GateParameters(
        trial_code=trial.code,
        stagger_first_days=trial.stagger_first_days,
        stagger_next_hours=trial.stagger_next_hours,
        dlt_window_days=trial.dlt_window_days if level_gate == "dlt_windows_closed" else 0,
    )


def first_dose_gate_status(subject: Subject, *, when: datetime | None = None,
                           overridden: bool = False) -> gates.GateResult | None:
    """The timing gates for ``subject``'s first dose at ``when`` (default: now); None when no gate applies
    (not an escalating trial, or no cohort). With ``overridden``, gates this subject has an
    investigator's override for are dropped."""
    if not _gated(subject):
        return None
    when = timezone.localtime(when or timezone.now())
    cohort = subject.cohort
    level = cohort.dose_level
    first_doses = (
        Subject.objects.filter(trial_id=subject.trial_id).exclude(pk=subject.pk)
        .annotate(first_dose=Min("doses__administered_at", filter=Q(doses__voided_at__isnull=True)))
        .filter(first_dose__isnull=False)
    )
    level_doses = [
        timezone.localtime(d) for d in first_doses.filter(
            cohort__dose_level=level, cohort__number__lte=cohort.number,
        ).values_list("first_dose", flat=True)
    ]
    previous_cohort = (
        Cohort.objects.filter(trial_id=subject.trial_id, number__lt=cohort.number).exclude(dose_level=level)
        .select_related("dose_level").order_by("-number").first()
    )
    previous_level, previous_label = [], None
    if previous_cohort is not None:
        previous_label = previous_cohort.dose_level.label
        tz = timezone.get_current_timezone()
        for first_dose, off_study_on in first_doses.filter(
            cohort__dose_level=previous_cohort.dose_level, cohort__number__lt=cohort.number,
        ).values_list("first_dose", "off_study_on"):
            left_at = None if off_study_on is None else datetime.combine(off_study_on, time.min, tzinfo=tz)
            previous_level.append(gates.WindowSubject(first_dose=timezone.localtime(first_dose), left_at=left_at))
    result = gates.first_dose_gates(
        _gate_parameters(subject.trial), when=when, level_doses=level_doses,
        previous_level=previous_level, previous_level_label=previous_label,
    )
    if overridden:
        result = result.without(set(subject.gate_overrides.values_list("gate", flat=True)))
    return result


def gate_override(*, subject: Subject, user, gate: str, reason: str) -> GateOverride:
    """An investigator of the subject's site overrides one timing gate for the subject's first dose."""
    require_site_role(user, subject, Role.INVESTIGATOR,
                      "Only an investigator at the subject's site may override a timing gate.")
    if not _gated(subject):
        raise ValidationError("Timing gates apply only to subjects of a dose-escalation cohort.")
    reason = (reason or "").strip()
    if len(reason) < GateOverride.REASON_MIN_LENGTH:
        raise ValidationError({"reason": f"Say why the gate is overridden, in at least "
                                         f"{GateOverride.REASON_MIN_LENGTH} characters."})
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if subject.doses.exists():
            raise ValidationError("The subject has had a first dose: there is no gate left to override.")
        if subject.gate_overrides.filter(gate=gate).exists():
            raise ValidationError({"gate": "This gate is already overridden for this subject."})
        override = GateOverride(subject=subject, gate=gate, reason=reason, overridden_by=user)
        override.full_clean()
        override.save()
    return override


# DLT criteria assumed where the protocol gives none in detail (docs/coordinators.md): an AE with onset in
# the DLT window, at least possibly related to a drug of the regimen, of grade >= ``dlt_min_grade`` (3);
# the rule itself is trialrules.dlt, shared with the escalation evidence.


def ctcae_lookup(term: str) -> CtcaeTerm:
    """The CTCAE v5.0 term typed (case-insensitive); a ValidationError with suggestions otherwise."""
    term = (term or "").strip()
    found = CtcaeTerm.objects.filter(term__iexact=term).first()
    if found is not None:
        return found
    words = [w for w in term.replace(",", " ").split() if len(w) >= 3]
    suggestions = []
    if term:
        suggestions = list(CtcaeTerm.objects.filter(term__istartswith=term[:4]).values_list("term", flat=True)[:5])
    for word in words:
        if len(suggestions) >= 5:
            break
        suggestions += [t for t in CtcaeTerm.objects.filter(term__icontains=word).values_list("term", flat=True)[:5]
                        if t not in suggestions]
    hint = f" Did you mean: {', '.join(suggestions[:5])}?" if suggestions else " Type part of the term to see the list."
    raise ValidationError({"term": f"“{term}” is not a CTCAE v5.0 term.{hint}"})


def strongest(attributions) -> str:
    """The strongest attribution to any drug: what escalation reads. Related as soon as one drug is;
    otherwise not yet assessed ("") while any drug's attribution is missing."""
    attributions = list(attributions)
    known = [a for a in attributions if a]
    if not known:
        return AdverseEvent.NOT_ASSESSED
    best = max(known, key=AdverseEvent.STRENGTH.index)
    if best in AdverseEvent.RELATED or len(known) == len(attributions):
        return best
    return AdverseEvent.NOT_ASSESSED


def _in_dlt_window(subject: Subject, onset: date) -> tuple[bool, str]:
    first = subject.first_dose()
    if first is None:
        return False, "A DLT needs a first dose: no dose is recorded for this subject."
    start, end = dlt.window(timezone.localtime(first.administered_at).date(), subject.trial.dlt_window_days)
    if not start <= onset <= end:
        return False, (f"Only an event starting in the DLT window ({start:%d %b %Y} – {end:%d %b %Y}) counts as a "
                       "DLT for dose escalation.")
    return True, ""


def meets_dlt_criteria(event: AdverseEvent) -> bool:
    trial = event.subject.trial
    if not trial.dlt_window_days:
        return False
    return dlt.meets_dlt_criteria(grade=event.grade, related=event.related,
                                  in_window=_in_dlt_window(event.subject, event.onset_date)[0],
                                  min_grade=dlt.min_grade(trial.definition.get("escalation")))


# Adverse events are collected from consent (ICH E2A; CDISC CDASH): what began before it is the subject's
# medical history, not a study AE, and is refused here with this message (docs/coordinators.md).
AE_BEFORE_CONSENT = ("An event that began before consent is medical history, not a study adverse event: "
                     "adverse events are collected from consent on.")


def adverse_event_findings(event: AdverseEvent) -> list[plausibility.Finding]:
    """The edit checks of an AE's dates, new or corrected: onset not before consent (or birth), neither date
    before 1900 nor in the future."""
    today = timezone.localdate()
    return [*plausibility.check_date(event.onset_date, field="onset_date", label="The onset date", today=today,
                                     after=entry_date_bounds(event.subject, consent_hint=AE_BEFORE_CONSENT)),
            *plausibility.check_date(event.resolution_date, field="resolution_date", label="The resolution date",
                                     today=today)]


def adverse_event_record(*, subject: Subject, user, attributions: dict[str, str] | None = None,
                         **fields) -> AdverseEvent:
    """Record an AE against a CTCAE v5.0 term and grade, with its attribution to each drug of the regimen
    (``attributions``: drug name -> attribution; a single ``attribution`` applies to every drug). An AE
    that meets the DLT criteria is proposed as a DLT for the investigator's adjudication; ``is_dlt=True``
    records an already adjudicated DLT (the recording user is the adjudicator)."""
    drugs = list(subject.trial.drugs.values_list("name", flat=True))
    if attributions is None:
        if not fields.get("attribution"):
            raise ValidationError({"attribution": "Give the attribution to the study drug."})
        attributions = dict.fromkeys(drugs, fields["attribution"])
    # "" is "not yet assessed", given explicitly; a drug left out is an error.
    missing = [d for d in drugs if d not in attributions]
    if missing:
        raise ValidationError({"attribution": f"Give the attribution to {', '.join(missing)}."})
    unknown = sorted(d for d, a in attributions.items() if a and a not in AdverseEvent.STRENGTH)
    if unknown:
        raise ValidationError({"attribution": f"Choose an attribution from the list for {', '.join(unknown)}."})
    fields["attribution"] = strongest(attributions.values())
    criteria = list(fields.pop("serious_criteria", None) or [])
    if criteria:
        fields["serious"] = True
    ctcae = ctcae_lookup(fields.get("term", ""))
    fields["term"] = ctcae.term
    grade = fields.get("grade")
    if grade is not None and 1 <= int(grade) <= 5 and not ctcae.grade_text(int(grade)):
        raise ValidationError({"grade": f"Grade {grade} is not defined for {ctcae.term} in CTCAE v5.0 "
                                        f"(grades {', '.join(map(str, ctcae.grades()))})."})
    event = AdverseEvent(subject=subject, recorded_by=user, ctcae=ctcae, attributions=attributions,
                         serious_criteria=criteria, **fields)
    enforce(adverse_event_findings(event))
    event.full_clean()
    if event.is_dlt:
        ok, message = _in_dlt_window(subject, event.onset_date) if subject.trial.dlt_window_days else (
            subject.first_dose() is not None, "A DLT needs a first dose: no dose is recorded for this subject.")
        if not ok:
            raise ValidationError({"is_dlt": message})
        event.dlt_status = AdverseEvent.DltStatus.CONFIRMED
        event.adjudicated_by, event.adjudicated_at = user, timezone.now()
    elif meets_dlt_criteria(event):
        event.dlt_status = AdverseEvent.DltStatus.PROPOSED
    with transaction.atomic():
        event.save()
        _review_escalation_after_commit(subject.trial)
    return event


def adjudication_problem(event: AdverseEvent, *, confirm: bool, comment: str) -> str:
    """Why this adjudication cannot stand (empty when it can): a DLT must start in the DLT window, and
    "not a DLT" needs the reason."""
    if confirm:
        return _in_dlt_window(event.subject, event.onset_date)[1]
    return "" if comment.strip() else "Say why this event is not a DLT."


def dlt_adjudicate(*, event: AdverseEvent, user, confirm: bool, comment: str = "") -> AdverseEvent:
    """An investigator of the subject's site confirms or rejects an AE as a DLT (audited). Only confirmed
    DLTs count for dose escalation."""
    subject = event.subject
    require_site_role(user, subject, Role.INVESTIGATOR, "Only an investigator at the subject's site adjudicates DLTs.")
    comment = (comment or "").strip()
    problem = adjudication_problem(event, confirm=confirm, comment=comment)
    if problem:
        raise ValidationError({"decision" if confirm else "comment": problem})
    with transaction.atomic():
        event = AdverseEvent.objects.select_for_update().get(pk=event.pk)
        event.is_dlt = confirm
        event.dlt_status = AdverseEvent.DltStatus.CONFIRMED if confirm else AdverseEvent.DltStatus.REJECTED
        event.adjudicated_by, event.adjudicated_at, event.adjudication_comment = user, timezone.now(), comment
        event.save(update_fields=["is_dlt", "dlt_status", "adjudicated_by", "adjudicated_at",
                                  "adjudication_comment"])
        _review_escalation_after_commit(subject.trial)
    return event


def titration_signals(trial: Trial, subject: Subject | None = None):
    """Drug-related grade >= 2 AEs in the DLT window of a subject at an accelerated-titration level whose
    cohort is not yet decided: the signal that ends titration (the engine reads it as G, or T if a DLT,
    when the window closes)."""
    if not trial.escalates or not trial.dlt_window_days:
        return []
    events = AdverseEvent.objects.filter(
        subject__trial=trial, subject__dose_level__titration=True, subject__cohort__capacity=1,
        subject__cohort__escalation=True, grade__gte=2, attribution__in=AdverseEvent.RELATED,
    ).exclude(subject__cohort__status=Cohort.Status.DECIDED).select_related("subject", "subject__dose_level")
    if subject is not None:
        events = events.filter(subject=subject)
    return [e for e in events if _in_dlt_window(e.subject, e.onset_date)[0]]


def assessment_findings(assessment: Assessment, *, today: date | None = None) -> list[plausibility.Finding]:
    """The edit checks of an assessment, new or corrected: its date (not in the future, not before birth
    or consent) and its weight (limits, usual range, change from the last other weight)."""
    findings = plausibility.check_date(assessment.assessed_on, field="assessed_on", label="The assessment date",
                                       today=today or timezone.localdate(),
                                       after=entry_date_bounds(assessment.subject))
    if assessment.weight_kg is not None:
        findings += plausibility.check_weight(assessment.weight_kg, previous=latest_weight(
            assessment.subject, on=assessment.assessed_on, exclude=assessment.pk))
    return findings


def assessment_record(*, subject: Subject, user, kind: str, assessed_on: date, weight_kg: Decimal | None = None,
                      ecog: int | None = None, notes: str = "", today: date | None = None,
                      confirm_unusual: bool = False, unusual_reason: str = "") -> Assessment:
    """A pre-dose assessment. Edit checks: the date (not in the future, not before birth or consent) and
    the weight (refused outside 25–250 kg; outside 40–150 kg or over 20 % from the last weight only with
    ``confirm_unusual`` and an ``unusual_reason``)."""
    today = today or timezone.localdate()
    if assessed_on > today:
        raise ValidationError({"assessed_on": "An assessment cannot be dated in the future."})
    if kind == Assessment.Kind.PERFORMANCE and ecog is None:
        raise ValidationError({"ecog": "Give the ECOG performance status."})
    if kind == Assessment.Kind.VITALS and weight_kg is None:
        raise ValidationError({"weight_kg": "Give the weight with the vital signs (it is used for per-kg doses)."})
    assessment = Assessment(subject=subject, kind=kind, assessed_on=assessed_on, weight_kg=weight_kg, ecog=ecog,
                            notes=notes or "", recorded_by=user)
    assessment.confirmed_checks = enforce(assessment_findings(assessment, today=today), confirm_unusual=confirm_unusual,
                                          unusual_reason=unusual_reason, user=user)
    assessment.full_clean()
    assessment.save()
    return assessment


def continuation_grant(*, subject: Subject, user, reason: str) -> ContinuationException:
    """An investigator records the exception allowing treatment beyond the protocol's cycle maximum."""
    require_site_role(user, subject, Role.INVESTIGATOR,
                      "Only an investigator at the subject's site may allow continuation.")
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationError({"reason": "Say why treatment continues, in at least 10 characters."})
    if not subject.trial.max_cycles:
        raise ValidationError(f"{subject.trial.code} sets no maximum number of cycles.")
    if ContinuationException.objects.filter(subject=subject).exists():
        raise ValidationError("A continuation exception is already recorded for this subject.")
    exception = ContinuationException(subject=subject, reason=reason, granted_by=user)
    exception.full_clean()
    exception.save()
    return exception


# End of treatment and off study ------------------------------------------------------------------------

STATUS_DETAIL_MAX_LENGTH = 300
ENDED = (Subject.Status.OFF_TREATMENT, Subject.Status.OFF_STUDY, Subject.Status.WITHDRAWN)
LEFT = (Subject.Status.OFF_STUDY, Subject.Status.WITHDRAWN)
# Off study ends the follow-up; visits.FollowUp keeps one of its four reasons (the subject keeps the full one).
FOLLOW_UP_END_REASONS = {"death": "death", "lost": "lost", "withdrawn": "withdrawn"}


def _status_errors(*, reason: str, detail: str, choices, date_field: str, day: date | None, today: date,
                   missing: str, future: str, refused=()) -> tuple[dict[str, str], str]:
    """The errors of an end-of-treatment or off-study entry (reason from the list, details, the date)."""
    detail = (detail or "").strip()
    errors = {}
    if day is None:
        errors[date_field] = missing
    elif day > today:
        errors[date_field] = future
    if reason not in choices.values or reason in refused:
        labels = [label for value, label in choices.choices if value not in refused]
        errors["reason"] = f"Choose the reason from the list ({'; '.join(labels)})."
    elif reason == "other" and len(detail) < 3:
        errors["detail"] = "Say which reason: “Other” needs the details."
    if len(detail) > STATUS_DETAIL_MAX_LENGTH:
        errors["detail"] = f"Keep the details to {STATUS_DETAIL_MAX_LENGTH} characters (they have {len(detail)})."
    return errors, detail


def _latest_dose_day(subject: Subject) -> date | None:
    latest = subject.doses.order_by("-administered_at").first()
    return None if latest is None else timezone.localtime(latest.administered_at).date()


def _set_follow_up(subject: Subject, user, *, fields: dict[str, str], today: date, **anchors) -> None:
    """Update the follow-up anchors given, keep the others, re-plan the visits; the follow-up's errors are
    put on this form's ``fields``."""
    from visits.models import FollowUp
    from visits.services import follow_up_set

    current = FollowUp.objects.filter(subject=subject).first()
    values = {name: getattr(current, name) if current else None
              for name in ("last_dose", "new_therapy", "follow_up_end", "clinical_progression", "last_known_alive")}
    values["follow_up_end_reason"] = current.follow_up_end_reason if current else ""
    values["death_cause"] = current.death_cause if current else ""
    values.update(anchors)
    try:
        follow_up_set(subject=subject, user=user, today=today, roles=SITE_ROLES, **values)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError({fields.get(k, k): v for k, v in exc.error_dict.items()}) from None


def subject_end_treatment(*, subject: Subject, user, last_dose: date | None, reason: str, detail: str = "",
                          today: date | None = None) -> Subject:
    """End of treatment: the date of the last dose and why treatment ended (a reason from the list, details
    for “other”). Site staff of the subject's site. The subject goes off treatment, the last dose becomes
    the visit plan's anchor (EOT and safety follow-up from it; no dosing visit after it) and escalation is
    re-evaluated. Once recorded, it changes only by a correction with a reason."""
    today = today or timezone.localdate()
    require_site_role(user, subject, SITE_ROLES,
                      "Only the site staff of the subject's site record the end of treatment.")
    errors, detail = _status_errors(reason=reason, detail=detail, choices=Subject.EndOfTreatmentReason,
                                    refused=(Subject.EndOfTreatmentReason.OFF_STUDY,), date_field="last_dose",
                                    day=last_dose, today=today, missing="Enter the date of the last dose.",
                                    future="The last dose cannot be in the future.")
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if subject.status in ENDED:
            raise ValidationError(f"{subject.code} is already {subject.get_status_display().lower()}: correct the "
                                  "record with a reason for the change.")
        latest = _latest_dose_day(subject)
        if latest is None:
            errors.setdefault("last_dose", "No dose is recorded: a subject who never started treatment goes off "
                                           "study (the off-study form).")
        elif last_dose is not None and last_dose < latest:
            errors.setdefault("last_dose", f"The last dose cannot be before the latest recorded dose "
                                           f"({latest:%d %b %Y}).")
        if errors:
            raise ValidationError(errors)
        subject.status = Subject.Status.OFF_TREATMENT
        subject.end_of_treatment_reason, subject.end_of_treatment_detail = reason, detail
        subject.full_clean()
        subject.save(update_fields=["status", "end_of_treatment_reason", "end_of_treatment_detail"])
        _set_follow_up(subject, user, fields={}, today=today, last_dose=last_dose)
        _review_escalation_after_commit(subject.trial)
    return subject


def subject_off_study(*, subject: Subject, user, off_study_on: date | None, reason: str, detail: str = "",
                      today: date | None = None) -> Subject:
    """Off study: the date the subject left the study and why (a reason from the list, details for
    “other”). Site staff of the subject's site. A subject still on treatment ends it with its latest
    recorded dose; the follow-up ends on that date (no visit is planned after it); a subject who leaves
    inside the DLT window without a DLT is not evaluable for escalation, which is re-evaluated."""
    today = today or timezone.localdate()
    require_site_role(user, subject, SITE_ROLES, "Only the site staff of the subject's site record off study.")
    errors, detail = _status_errors(reason=reason, detail=detail, choices=Subject.OffStudyReason,
                                    date_field="off_study_on", day=off_study_on, today=today,
                                    missing="Enter the date the subject went off study.",
                                    future="The off-study date cannot be in the future.")
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        if subject.status in LEFT:
            raise ValidationError(f"{subject.code} went off study on {subject.off_study_on:%d %b %Y}: correct the "
                                  "record with a reason for the change.")
        enrolled = timezone.localtime(subject.enrolled_at).date()
        latest = _latest_dose_day(subject)
        if off_study_on is not None and off_study_on < enrolled:
            errors.setdefault("off_study_on", f"The subject cannot leave before enrolment ({enrolled:%d %b %Y}).")
        elif off_study_on is not None and latest is not None and off_study_on < latest:
            errors.setdefault("off_study_on", f"A dose is recorded on {latest:%d %b %Y}, after this date.")
        if errors:
            raise ValidationError(errors)
        if subject.status in (Subject.Status.ENROLLED, Subject.Status.ON_TREATMENT) and latest is not None:
            subject.end_of_treatment_reason = Subject.EndOfTreatmentReason.OFF_STUDY
        subject.status = Subject.Status.WITHDRAWN if reason == Subject.OffStudyReason.WITHDRAWN else (
            Subject.Status.OFF_STUDY)
        subject.off_study_on, subject.off_study_reason, subject.off_study_detail = off_study_on, reason, detail
        subject.full_clean()
        subject.save(update_fields=["status", "off_study_on", "off_study_reason", "off_study_detail",
                                    "end_of_treatment_reason"])
        if latest is not None:  # visits are planned from the first dose
            from visits.models import FollowUp

            current = FollowUp.objects.filter(subject=subject).first()
            _set_follow_up(subject, user, today=today,
                           fields={"follow_up_end": "off_study_on", "follow_up_end_reason": "reason"},
                           last_dose=(current.last_dose if current and current.last_dose else latest),
                           follow_up_end=off_study_on,
                           follow_up_end_reason=FOLLOW_UP_END_REASONS.get(reason, "study_end"))
        _review_escalation_after_commit(subject.trial)
    return subject
