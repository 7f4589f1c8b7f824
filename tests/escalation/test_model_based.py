"""Issue 12, point 4: BOIN and the CRM beside the protocol's rule on each decision page, as information only.

The numbers are checked against trialrules.boin / trialrules.crm directly, against published values (BOIN's
boundaries for a target of 0.25: lambda_e 0.197, lambda_d 0.298; Liu & Yuan 2015, Yuan et al. 2016 table 1)
and hand computations (beta posterior tails, an independent trapezoid integral of the CRM posterior)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse

from escalation.model_based import beside_the_rule
from escalation.models import Cohort, EscalationDecision
from escalation.services import decision_recommend
from tests.conftest import load_trial
from tests.test_decision_safety import dosed, lvgn_with_people
from trialrules import boin, crm
from trials.models import DoseLevel, Trial

LVGN_SKELETON = [0.1567, 0.25, 0.3545]


def _levels(trial):
    return list(trial.dose_levels.order_by("rank"))


def decision_on(trial, outcomes, *, at, next_level=None, stop=False, declared_level=None, decided_level=None):
    """A decision recorded on ``outcomes`` for a cohort at level ``at`` (1-based), as the service records one:
    the outcome history, and the levels as the evidence numbered them."""
    levels = _levels(trial)
    number = (trial.cohorts.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    cohort = Cohort.objects.create(trial=trial, number=number, dose_level=levels[at - 1], capacity=3,
                                   status=Cohort.Status.FULL)
    evidence = {"trial": trial.code,
                "levels": [{"number": i, "label": lv.label, "rank": str(lv.rank)} for i, lv in enumerate(levels, 1)],
                "subjects": []}
    extra = {}
    if decided_level is not None:
        extra = {"decided_next_dose_level": levels[decided_level - 1], "decided_add_subjects": 3,
                 "justification": "Investigator's judgement."}
    return EscalationDecision.objects.create(
        trial=trial, cohort=cohort, continue_trial=not stop,
        next_dose_level=None if stop else levels[next_level - 1], add_subjects=0 if stop else 3,
        recommended_dose_level=levels[declared_level - 1] if declared_level else None,
        declared="MTD" if declared_level else "", rationale="test", outcomes=outcomes,
        data={"evidence": evidence, "engine": {}}, data_sha256="0" * 64, **extra,
    )


@pytest.fixture
def lvgn(db):
    return load_trial("LVGN6051-ANLOTINIB")


# --------------------------------------------------------------------------------------------------
# The numbers
# --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_boin_boundaries_are_the_published_ones_and_no_dlt_escalates(lvgn):
    mb = beside_the_rule(decision_on(lvgn, "1NNN", at=1, next_level=2))
    assert mb.target == 0.25
    # Published: target 0.25 -> lambda_e 0.197, lambda_d 0.298.
    assert round(mb.boin.lambda_e, 3) == 0.197 and round(mb.boin.lambda_d, 3) == 0.298
    b = mb.boin
    assert (b.current, b.n_current, b.dlts_current) == (1, 3, 0)
    assert (b.action, b.next_level, b.next_label) == ("escalate", 2, "LVGN6051 3 mg/kg + anlotinib 12 mg")
    assert b.agrees and b.eliminated == ()
    # Decision table for cohorts of 3 (DLTs at the current level): escalate <= 0/3, 1/6, 1/9, 2/12;
    # de-escalate >= 1/3, 2/6, 3/9, 4/12; eliminate >= 3/3, 4/6, 5/9, 6/12.
    assert [(r.n, r.escalate_max, r.deescalate_min, r.eliminate_min) for r in b.table] == [
        (3, 0, 1, 3), (6, 1, 2, 4), (9, 1, 3, 5), (12, 2, 4, 6)]
    # Same as trialrules directly.
    direct = boin.recommend(0.25, 3, [(3, 0), (0, 0), (0, 0)], 1)
    assert (b.action, b.next_level, b.reason) == (direct.action, direct.next_level, direct.reason)
    assert [lv.boin_estimate for lv in mb.levels] == list(boin.select_mtd(0.25, [(3, 0), (0, 0), (0, 0)]).estimates)


@pytest.mark.django_db
def test_boin_stays_between_the_boundaries_and_de_escalates_above(lvgn):
    # 2/9 = 0.222 lies between 0.197 and 0.298: stay. (At a target of 0.25 and n = 3 there is no "stay":
    # 1/3 = 0.333 >= lambda_d.)
    stay = beside_the_rule(decision_on(lvgn, "1NNN 2NNN 2NTN 2NNT", at=2, next_level=2))
    assert (stay.boin.action, stay.boin.next_level, stay.boin.n_current, stay.boin.dlts_current) == ("stay", 2, 9, 2)
    assert stay.boin.agrees
    # 1/3 at level 2: de-escalate to level 1; the protocol (3+3) expands level 2 instead: they differ.
    down = beside_the_rule(decision_on(lvgn, "1NNN 2NTN", at=2, next_level=2))
    assert (down.boin.action, down.boin.next_level) == ("de-escalate", 1)
    assert not down.boin.agrees and "level 1" in down.boin.agreement and "level 2" in down.boin.agreement
    # 2/3 at level 2: de-escalate; 2/3 does not eliminate (Pr(p > 0.25 | beta(3, 2)) = 0.949 <= 0.95).
    two = beside_the_rule(decision_on(lvgn, "1NNN 2TNT", at=2, next_level=1))
    assert (two.boin.action, two.boin.next_level, two.boin.eliminated) == ("de-escalate", 1, ())
    assert two.boin.agrees
    # 1/3 at the lowest level: BOIN cannot de-escalate and stays, as the 3+3 expands level 1.
    low = beside_the_rule(decision_on(lvgn, "1NTN", at=1, next_level=1))
    assert (low.boin.action, low.boin.next_level) == ("stay", 1) and low.boin.agrees


@pytest.mark.django_db
def test_all_dlts_at_level_1_eliminate_it_and_stop(lvgn):
    mb = beside_the_rule(decision_on(lvgn, "1TTT", at=1, stop=True))
    b = mb.boin
    # Pr(p > 0.25 | 3/3, beta(4, 1)) = 1 - 0.25 ** 4 = 0.996 > 0.95: level 1 (and all above) eliminated.
    assert (b.action, b.next_level, b.next_label) == ("stop", None, "")
    assert b.eliminated == tuple(lv.label for lv in _levels(lvgn))
    assert all(lv.boin_eliminated for lv in mb.levels) and b.mtd is None
    assert b.agrees and mb.protocol == "stop escalation: no tolerable dose level"
    # The CRM's safety rule (the command line's, trialrules.model_designs): P(p1 > 0.25 | 3/3) > 0.9 stops.
    assert mb.crm.stops and mb.crm.agrees and "P(p1 > 0.25)" in mb.crm.rationale
    # 1/3 at level 1 is not enough for the CRM to stop.
    assert not beside_the_rule(decision_on(lvgn, "1TNN", at=1, next_level=1)).crm.stops


@pytest.mark.django_db
def test_crm_matches_trialrules_and_an_independent_integral(lvgn):
    mb = beside_the_rule(decision_on(lvgn, "1NTN", at=1, next_level=1))
    counts = [(3, 1), (0, 0), (0, 0)]
    direct = crm.recommend(LVGN_SKELETON, 0.25, counts, model="empiric", no_skip=True)
    c = mb.crm
    assert c.model == "empiric" and c.beta_mean == pytest.approx(direct.result.beta_mean, abs=1e-12)
    assert [lv.crm_toxicity for lv in mb.levels] == list(direct.result.posterior_mean)
    assert [lv.crm_p_over for lv in mb.levels] == list(direct.result.prob_exceeds)
    assert [lv.skeleton for lv in mb.levels] == LVGN_SKELETON
    assert (c.next_level, c.agrees) == (1, True)
    # By hand: posterior of beta under N(0, 1.34) and one DLT in three at skeleton 0.1567, trapezoid rule.
    grid = np.linspace(-10, 10, 200001)
    p = 0.1567 ** np.exp(grid)
    dens = np.exp(-grid**2 / (2 * 1.34)) * p * (1 - p) ** 2
    mean = np.trapezoid(grid * dens, grid) / np.trapezoid(dens, grid)
    assert c.beta_mean == pytest.approx(mean, abs=1e-6)
    assert mb.levels[0].crm_toxicity == pytest.approx(0.1567 ** np.exp(mean), abs=1e-6)
    tail = np.trapezoid(np.where(p > 0.25, dens, 0.0), grid) / np.trapezoid(dens, grid)
    assert mb.levels[0].crm_p_over == pytest.approx(tail, abs=1e-4)


@pytest.mark.django_db
def test_crm_does_not_skip_a_level(lvgn):
    mb = beside_the_rule(decision_on(lvgn, "1NNN", at=1, next_level=2))
    # On 0/3 the model's choice is level 3; no skipping keeps it to level 2, the protocol's level.
    assert (mb.crm.model_level, mb.crm.next_level, mb.crm.restricted, mb.crm.agrees) == (3, 2, True, True)


@pytest.mark.django_db
def test_compared_with_the_overriding_decision_and_a_declared_mtd(lvgn):
    # The investigator decided level 1 (3 more) instead of the recommended level 2.
    over = beside_the_rule(decision_on(lvgn, "1NNN", at=1, next_level=2, decided_level=1))
    assert not over.boin.agrees and not over.crm.agrees and "overriding" in over.protocol
    # 0/6 at level 1, 2/3 at level 2: the protocol declares MTD = level 1; BOIN's isotonic estimate agrees.
    mtd = beside_the_rule(decision_on(lvgn, "1NNN 2TTN 1NNN", at=1, stop=True, declared_level=1))
    assert mtd.protocol == "stop escalation, MTD = level 1"
    assert mtd.boin.mtd == 1 and "is the declared level 1" in mtd.boin.agreement
    assert mtd.boin.mtd == boin.select_mtd(0.25, [(6, 0), (3, 2), (0, 0)]).mtd


@pytest.mark.django_db
def test_titration_cohorts_of_one_and_g_counts_as_no_dlt(db):
    bat = load_trial("BAT6005")
    mb = beside_the_rule(decision_on(bat, "1N 2G", at=2, next_level=2))
    # G: grade >= 2 without a DLT counts as no DLT: 0/1 at level 2, BOIN escalates to level 3.
    assert (mb.boin.n_current, mb.boin.dlts_current, mb.boin.action, mb.boin.next_level) == (1, 0, "escalate", 3)
    assert not mb.boin.agrees  # the protocol expands level 2 after a G (accelerated titration)
    assert mb.crm.next_level == 3 and len(mb.levels) == 6
    one_dlt = beside_the_rule(decision_on(bat, "1N 2T", at=2, next_level=2))
    assert (one_dlt.boin.action, one_dlt.boin.next_level) == ("de-escalate", 1)  # 1/1 >= lambda_d


@pytest.mark.django_db
def test_no_outcomes_yet(lvgn):
    mb = beside_the_rule(decision_on(lvgn, "", at=1, next_level=1))
    assert mb.evaluable == 0 and any("No evaluable subject" in n for n in mb.notes)
    assert (mb.boin.action, mb.boin.next_level) == ("stay", 1) and mb.crm.next_level == 1


@pytest.mark.django_db
def test_an_added_level_shows_boin_only(lvgn):
    low, high = _levels(lvgn)[:2]
    DoseLevel.objects.create(trial=lvgn, rank=(low.rank + high.rank) / 2, label="LVGN6051 2 mg/kg + anlotinib 12 mg",
                             doses={"LVGN6051": "2", "Anlotinib": "12"}, intermediate=True)
    mb = beside_the_rule(decision_on(lvgn, "1NNN", at=1, next_level=2))
    assert mb.crm is None and any("skeleton gives 3 prior DLT probabilities for 4 dose levels" in n for n in mb.notes)
    assert (mb.boin.next_level, mb.boin.next_label) == (2, "LVGN6051 2 mg/kg + anlotinib 12 mg")
    assert [lv.number for lv in mb.levels] == [1, 2, 3, 4]


@pytest.mark.django_db
def test_without_a_table_nothing_and_bad_data_a_note(lvgn):
    decision = decision_on(lvgn, "1NNN", at=1, next_level=2)
    definition = {**lvgn.definition, "escalation": {k: v for k, v in lvgn.definition["escalation"].items()
                                                    if k != "model_based"}}
    Trial.objects.filter(pk=lvgn.pk).update(definition=definition)
    decision.trial.refresh_from_db()
    assert beside_the_rule(decision) is None
    # A table the rules refuse (a skeleton that does not increase): a note for each design, no exception.
    broken = {**lvgn.definition, "escalation": {**lvgn.definition["escalation"],
                                                "model_based": {"target": 0.25, "skeleton": [0.3, 0.2, 0.1]}}}
    Trial.objects.filter(pk=lvgn.pk).update(definition=broken)
    decision.trial.refresh_from_db()
    mb = beside_the_rule(decision)
    assert mb.crm is None and any("CRM could not be computed" in n and "increasing" in n for n in mb.notes)
    assert mb.boin is not None
    # Unparseable outcomes: one short note.
    EscalationDecision.objects.filter(pk=decision.pk).update(outcomes="1X")
    decision.refresh_from_db()
    assert beside_the_rule(decision).notes == ("BOIN and the CRM could not be computed on these data.",)


# --------------------------------------------------------------------------------------------------
# Through the running application
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def decided(db, site_a, site_b):
    """LVGN6051: three subjects at level 1, windows closed, no DLT: the service recommends level 2."""
    trial, people = lvgn_with_people(site_a, site_b)
    for initials in ("AB", "CD", "EF"):
        dosed(trial, site_a, people["coordinator"], initials, 25)
    decision = decision_recommend(trial=trial)
    assert decision.outcomes == "1NNN"
    return trial, people, decision


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["investigator", "sponsor"])
def test_decision_page_shows_the_designs_as_information(decided, login, role):
    trial, people, decision = decided
    response = login(people[role]).get(reverse("escalation:decision", args=[decision.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="model-based"' in body
    assert "Model-based designs (information only — not the decision)" in body
    assert "The protocol's rule decides" in body
    assert "BOIN (Liu &amp; Yuan 2015)" in body and "the CRM (O'Quigley 1990)" in body
    assert "λe = 0.197" in body and "λd = 0.298" in body
    assert "Escalate: level 2 (LVGN6051 3 mg/kg + anlotinib 12 mg)" in body  # BOIN
    assert "Level 2 (LVGN6051 3 mg/kg + anlotinib 12 mg), no skipping (model choice: level 3)" in body  # CRM
    assert body.count("Agrees") >= 2
    # The section follows the recommendation box.
    where = body.index('id="model-based"')
    assert body.index("<h2>Recommendation</h2>") < where < body.index("Data the recommendation was made on")
    if role == "sponsor":
        assert all(s.code not in body for s in trial.subjects.all())


@pytest.mark.django_db
def test_decision_page_without_a_table_shows_no_section(decided, login):
    trial, people, decision = decided
    definition = {**trial.definition, "escalation": {k: v for k, v in trial.definition["escalation"].items()
                                                     if k != "model_based"}}
    Trial.objects.filter(pk=trial.pk).update(definition=definition)
    response = login(people["investigator"]).get(reverse("escalation:decision", args=[decision.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="model-based"' not in body and "information only" not in body
    assert "<h2>Recommendation</h2>" in body


@pytest.mark.django_db
def test_decision_page_survives_a_broken_table(decided, login):
    trial, people, decision = decided
    escalation = {**trial.definition["escalation"], "model_based": {"target": "a quarter", "skeleton": "none"}}
    Trial.objects.filter(pk=trial.pk).update(definition={**trial.definition, "escalation": escalation})
    response = login(people["investigator"]).get(reverse("escalation:decision", args=[decision.pk]))
    assert response.status_code == 200
    assert "could not be computed" in response.content.decode()


def test_rank_numbering_is_by_decimal_value():
    from escalation.model_based import _number_of

    class Level:
        rank, label = Decimal("1.5"), "x"

    assert _number_of(Level, [{"number": 2, "label": "y", "rank": "1.500000"}]) == 2
