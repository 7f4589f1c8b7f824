"""Beside the rule: what BOIN and the CRM would recommend on the data of one escalation decision.

Issue 12, point 4. Each decision page shows, next to the protocol's recommendation, what the Bayesian optimal
interval design (BOIN; Liu & Yuan 2015, :mod:`trialrules.boin`) and the continual reassessment method (CRM;
O'Quigley, Pepe & Fisher 1990, :mod:`trialrules.crm`) would recommend on the same data. It is information
only: the protocol's rule makes the recommendation and a person signs the decision; nothing here is stored,
signed or acted on.

What is computed, and from what
-------------------------------
* The data: the decision's own ``outcomes`` (the history the engine saw, R escalation notation), so a
  decided page shows the same numbers later. ``G`` (grade >= 2, no DLT) counts as *no DLT*; only DLTs count.
* The levels: numbered 1.. by rank as they stood when the decision was made (``data["evidence"]["levels"]``,
  as :func:`escalation.selectors.escalation_evidence` recorded them), else the trial's levels by rank.
* The settings: the protocol's ``[escalation.model_based]`` table (``trial.definition``): ``target``,
  ``cohort_size`` (for BOIN's boundary table), ``skeleton`` (one prior DLT probability per level),
  ``crm_model`` (``empiric`` or ``logistic``) and optionally ``intercept`` (logistic a0, default 3) and
  ``prior_sd`` (default sqrt(1.34)), as dfcrm. BOIN uses its published defaults (p_saf = 0.6 target,
  p_tox = 1.4 target, elimination cutoff 0.95, no extrasafe rule).
* BOIN: :func:`trialrules.boin.recommend` at the *cohort's* level (the level the decision is about), and
  :func:`trialrules.boin.select_mtd` (the isotonic estimates and the MTD they would select if the trial
  stopped now). Level 1 eliminated: "stop: no tolerable dose".
* CRM: :func:`trialrules.crm.recommend` with ``no_skip=True`` (never more than one level above the highest
  level tried); each level's DLT probability at the posterior mean of beta and P(DLT probability > target);
  the safety stop of :mod:`trialrules.model_designs` (the command line's and the simulation's rule).
* Agreement: with the decision's effective recommendation (the investigator's decided level where the
  recommendation was overridden, otherwise the engine's): the same next level, or both stop. When the
  protocol stops and declares an MTD/MAD, the designs' dose estimates are also compared with it.

An intermediate level added during the trial gives one level more than the protocol's skeleton: the CRM is
then not computed (a prior would have to be invented for the new level) and the page says so; BOIN needs no
prior and is shown. A protocol without ``[escalation.model_based]`` (or a fixed-dose one) gives ``None``. Any
computation error becomes a short note on the page, never an error page.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from trialrules import boin, crm, model_designs
from trialrules.escalation import parse_outcomes

log = logging.getLogger(__name__)

BOIN_CITATION = "Liu & Yuan 2015"
CRM_CITATION = "O'Quigley 1990"
# Rows of BOIN's decision table shown: n = cohort_size, 2 cohort_size, ... this many cohorts.
TABLE_COHORTS = 4


@dataclass(frozen=True)
class Level:
    """One dose level as the decision numbered it, with its counts and what each design estimates there."""

    number: int
    label: str
    n: int  # evaluable subjects (N, G or T)
    dlts: int
    current: bool = False
    boin_eliminated: bool = False
    boin_estimate: float | None = None  # isotonic estimate (select_mtd, None: untreated or eliminated)
    skeleton: float | None = None
    crm_toxicity: float | None = None  # at the posterior mean of beta (dfcrm ptox)
    crm_p_over: float | None = None  # P(DLT probability > target | data)


@dataclass(frozen=True)
class BoinView:
    lambda_e: float
    lambda_d: float
    current: int
    current_label: str
    n_current: int
    dlts_current: int
    action: str  # escalate | stay | de-escalate | stop
    next_level: int | None
    next_label: str  # "" when BOIN stops
    reason: str
    eliminated: tuple[str, ...]  # labels, ascending
    mtd: int | None
    mtd_label: str
    mtd_reason: str
    table: tuple[boin.BoundaryRow, ...]
    agrees: bool
    agreement: str


@dataclass(frozen=True)
class CrmView:
    model: str
    intercept: float
    prior_sd: float
    beta_mean: float
    beta_sd: float
    next_level: int
    next_label: str
    model_level: int  # the unrestricted CRM choice
    model_label: str
    restricted: bool  # the no-skipping rule lowered the choice
    rationale: str
    agrees: bool
    agreement: str
    # The CRM's safety stop (trialrules.model_designs, the same rule as the command line and the simulation):
    # P(p1 > target | data) > 0.9 once 3 subjects were treated at level 1.
    stops: bool = False


@dataclass(frozen=True)
class ModelBased:
    """What the decision page shows beside the rule. ``boin``/``crm`` are None when not computed (see ``notes``)."""

    target: float | None  # None only when the computation failed before reading it
    outcomes: str
    protocol: str  # the compared recommendation, in words
    levels: tuple[Level, ...] = ()
    boin: BoinView | None = None
    crm: CrmView | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def evaluable(self) -> int:
        return sum(level.n for level in self.levels)


# --------------------------------------------------------------------------------------------------
# Reading the decision
# --------------------------------------------------------------------------------------------------


def settings_of(trial) -> dict | None:
    """The protocol's ``[escalation.model_based]`` table, or None (none, or a fixed-dose protocol)."""
    if not getattr(trial, "escalates", False):
        return None
    table = (trial.definition or {}).get("escalation", {}).get("model_based")
    return table if isinstance(table, dict) else None


def _levels_of(decision) -> list[dict]:
    """[{"number", "label", "rank"}] as the decision's evidence numbered them (else the trial's, by rank)."""
    recorded = ((decision.data or {}).get("evidence") or {}).get("levels")
    if recorded:
        return [{"number": int(lv["number"]), "label": str(lv["label"]), "rank": str(lv["rank"])} for lv in recorded]
    return [{"number": i, "label": lv.label, "rank": str(lv.rank)}
            for i, lv in enumerate(decision.trial.dose_levels.order_by("rank"), start=1)]


def _number_of(level, levels: list[dict]) -> int | None:
    if level is None:
        return None
    for entry in levels:
        try:
            if Decimal(entry["rank"]) == Decimal(str(level.rank)):
                return entry["number"]
        except InvalidOperation:
            break
    for entry in levels:
        if entry["label"] == level.label:
            return entry["number"]
    return None


def _protocol(decision, levels: list[dict]) -> tuple[int | None, int | None, str]:
    """(next level number or None when stopping, declared level number, the recommendation in words)."""
    if decision.continue_trial:
        level = decision.effective_next_dose_level
        number = _number_of(level, levels)
        words = f"level {number} ({level.label})" if number else level.label
        if decision.overridden:
            words += ", as the investigator decided (overriding the recommendation)"
        return number, None, words
    declared = _number_of(decision.recommended_dose_level, levels)
    if declared is not None:
        return None, declared, f"stop escalation, {decision.declared or 'MTD'} = level {declared}"
    return None, None, "stop escalation: no tolerable dose level"


# --------------------------------------------------------------------------------------------------
# The designs
# --------------------------------------------------------------------------------------------------


def _boin(target, cohort_size, counts, current, labels, protocol_next, declared) -> tuple[BoinView, boin.MtdSelection]:
    bounds = boin.boundaries(target)
    rec = boin.recommend(target, len(counts), counts, current)
    selection = boin.select_mtd(target, counts)
    table = tuple(boin.boundary_table(target, cohort_size=cohort_size, max_n=TABLE_COHORTS * cohort_size))
    next_label = labels[rec.next_level - 1] if rec.next_level else ""
    if protocol_next is None:  # the protocol stops
        agrees = rec.action == boin.STOP
        if agrees:
            agreement = "Both stop."
        elif declared is not None:
            same = selection.mtd == declared
            agreement = (f"The protocol stops; BOIN would {rec.action} (level {rec.next_level}). "
                         f"Its MTD estimate if the trial stopped now, level {selection.mtd or '—'}, "
                         f"{'is' if same else 'is not'} the declared level {declared}.")
        else:
            agreement = f"The protocol stops; BOIN would {rec.action} (level {rec.next_level})."
    else:
        agrees = rec.action != boin.STOP and rec.next_level == protocol_next
        if agrees:
            agreement = f"Both: level {protocol_next} next."
        elif rec.action == boin.STOP:
            agreement = f"BOIN would stop (no tolerable dose); the protocol goes on at level {protocol_next}."
        else:
            agreement = f"BOIN would treat at level {rec.next_level}; the protocol at level {protocol_next}."
    view = BoinView(
        lambda_e=bounds.lambda_e, lambda_d=bounds.lambda_d, current=current, current_label=labels[current - 1],
        n_current=counts[current - 1][0], dlts_current=counts[current - 1][1], action=rec.action,
        next_level=rec.next_level, next_label=next_label, reason=rec.reason,
        eliminated=tuple(labels[i - 1] for i in rec.eliminated), mtd=selection.mtd,
        mtd_label=labels[selection.mtd - 1] if selection.mtd else "", mtd_reason=selection.reason, table=table,
        agrees=agrees, agreement=agreement,
    )
    return view, selection


def _crm(settings, target, counts, current, labels, protocol_next, declared) -> tuple[CrmView, crm.CrmResult]:
    model = settings.get("crm_model", "empiric")
    intercept = float(settings.get("intercept", 3.0))
    prior_sd = float(settings.get("prior_sd", crm.DEFAULT_PRIOR_SD))
    rec = crm.recommend(settings["skeleton"], target, counts, model=model, intercept=intercept, prior_sd=prior_sd,
                        no_skip=True)
    design = model_designs.CrmDesign(skeleton=tuple(settings["skeleton"]), target=target, model=model,
                                     intercept=intercept, prior_sd=prior_sd)
    stop = model_designs.decide(design, tuple(counts), current if any(n for n, _ in counts) else None)
    stops = not stop.continue_trial and stop.recommended_dose_level is None
    if stops:
        agrees = protocol_next is None and declared is None
        agreement = ("Both stop: no tolerable dose." if agrees else
                     "The CRM's safety rule stops the trial (no tolerable dose); the protocol "
                     + ("goes on." if protocol_next is not None else f"declares level {declared}."))
    elif protocol_next is None:
        agrees = False
        agreement = f"The protocol stops; the CRM has no stopping rule here and would treat at level " \
                    f"{rec.next_level}."
        if declared is not None:
            same = rec.model_level == declared
            agreement += (f" Its dose estimate, level {rec.model_level}, {'is' if same else 'is not'} the declared "
                          f"level {declared}.")
            agrees = same
            if same:
                agreement = f"On the dose: the CRM's estimate is the declared level {declared} " \
                            f"(it has no stopping rule here and would treat at level {rec.next_level})."
    else:
        agrees = rec.next_level == protocol_next
        agreement = (f"Both: level {protocol_next} next." if agrees else
                     f"The CRM would treat at level {rec.next_level}; the protocol at level {protocol_next}.")
    result = rec.result
    view = CrmView(
        model=model, intercept=intercept, prior_sd=prior_sd, beta_mean=result.beta_mean,
        beta_sd=math.sqrt(result.beta_var), next_level=rec.next_level, next_label=labels[rec.next_level - 1],
        model_level=rec.model_level, model_label=labels[rec.model_level - 1], restricted=rec.restricted,
        rationale=stop.rationale if stops else rec.rationale, agrees=agrees, agreement=agreement, stops=stops,
    )
    return view, result


# --------------------------------------------------------------------------------------------------
# Public
# --------------------------------------------------------------------------------------------------


def beside_the_rule(decision) -> ModelBased | None:
    """BOIN and the CRM on ``decision``'s own data, for its page; None when the protocol sets no
    ``[escalation.model_based]`` table. Never raises for bad data or a failed computation: a note says so."""
    settings = settings_of(decision.trial)
    if settings is None:
        return None
    try:
        return _beside_the_rule(decision, settings)
    except Exception:  # information only: a failure here must never take the decision page down
        log.exception("model-based designs failed for decision %s", decision.pk)
        return ModelBased(target=None, outcomes=decision.outcomes or "",
                          protocol="", notes=("BOIN and the CRM could not be computed on these data.",))


def _beside_the_rule(decision, settings: dict) -> ModelBased:
    target = float(settings["target"])
    cohort_size = int(settings.get("cohort_size") or 3)
    levels = _levels_of(decision)
    labels = [lv["label"] for lv in levels]
    protocol_next, declared, protocol_words = _protocol(decision, levels)
    base = {"target": target, "outcomes": decision.outcomes or "", "protocol": protocol_words}
    notes: list[str] = []

    outcomes = parse_outcomes(decision.outcomes or "")
    beyond = sorted({o.dose_level for o in outcomes if o.dose_level > len(levels)})
    if beyond:
        return ModelBased(**base, notes=(f"The outcome history names level {beyond[0]}, but the decision had "
                                         f"{len(levels)} levels: BOIN and the CRM are not computed.",))
    n = Counter(o.dose_level for o in outcomes)
    y = Counter(o.dose_level for o in outcomes if o.dlt)
    counts = [(n[i], y[i]) for i in range(1, len(levels) + 1)]
    current = _number_of(decision.cohort.dose_level, levels) or (outcomes[-1].dose_level if outcomes else 1)
    if not outcomes:
        notes.append("No evaluable subject in these data yet: each design gives only its starting rule.")

    boin_view = selection = None
    try:
        boin_view, selection = _boin(target, cohort_size, counts, current, labels, protocol_next, declared)
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.warning("BOIN failed for decision %s: %s", decision.pk, exc)
        notes.append(f"BOIN could not be computed: {exc}")

    crm_view = result = None
    skeleton = settings.get("skeleton") or []
    if len(skeleton) != len(levels):
        notes.append(
            f"The CRM is not shown: the protocol's skeleton gives {len(skeleton)} prior DLT probabilities for "
            f"{len(levels)} dose levels (a level was added during the trial), and no prior is invented for the "
            f"new level. BOIN needs no prior and is shown."
        )
    else:
        try:
            crm_view, result = _crm(settings, target, counts, current, labels, protocol_next, declared)
        except (ValueError, TypeError, ArithmeticError) as exc:
            log.warning("CRM failed for decision %s: %s", decision.pk, exc)
            notes.append(f"The CRM could not be computed: {exc}")

    eliminated = set(selection.eliminated) if selection else set()
    rows = tuple(
        Level(
            number=i, label=labels[i - 1], n=counts[i - 1][0], dlts=counts[i - 1][1], current=i == current,
            boin_eliminated=i in eliminated,
            boin_estimate=selection.estimates[i - 1] if selection else None,
            skeleton=float(skeleton[i - 1]) if result else None,
            crm_toxicity=result.posterior_mean[i - 1] if result else None,
            crm_p_over=result.prob_exceeds[i - 1] if result else None,
        )
        for i in range(1, len(levels) + 1)
    )
    return ModelBased(**base, levels=rows, boin=boin_view, crm=crm_view, notes=tuple(notes))
