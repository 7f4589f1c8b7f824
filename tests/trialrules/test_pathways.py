"""Tests for trialrules.pathways (dose-transition pathways).

Expected branches are the rules as published: 3+3 (R escalation ``get_three_plus_three``: 0/3 escalate,
1/3 add 3, >= 2/3 at the lowest level stop), BAT6005's accelerated titration (1 subject per level, the
first G or T ends it and 2 more join that level; protocol text in docs/escalation.md), BOIN's table for
target 0.3 (n = 3: escalate if 0, stay if 1, de-escalate if >= 2, eliminate if 3).
"""

from __future__ import annotations

import pytest

from trialrules.escalation import Design, parse_outcomes, recommend
from trialrules.model_designs import BoinDesign, CrmDesign
from trialrules.model_designs import recommend as model_recommend
from trialrules.pathways import PathwaysTooLarge, pathways_for

BAT6005 = Design(n_levels=6, titration_levels=3, titration_expand=2, cohort_size=3, allow_deescalate=True,
                 six_to_declare=True)


def summary(node):
    d = node.decision
    return (node.level, node.subjects, node.dlts, node.outcomes, d.continue_trial, d.next_dose_level, d.add_subjects,
            d.recommended_dose_level)


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n.next)


def test_three_plus_three_from_empty_first_cohort():
    first, tree = pathways_for(Design(n_levels=3), [], 1)
    assert (first.next_dose_level, first.add_subjects) == (1, 3)
    assert [summary(n) for n in tree] == [
        (1, 3, 0, "1NNN", True, 2, 3, 2),  # 0/3: escalate
        (1, 3, 1, "1NNT", True, 1, 3, 1),  # 1/3: add 3
        (1, 3, 2, "1NTT", False, None, 0, None),  # 2/3 at the lowest level: no tolerable dose
        (1, 3, 3, "1TTT", False, None, 0, None),
    ]
    assert all(n.next == () for n in tree)


def test_three_plus_three_two_cohorts_stops_branches_where_the_design_stops():
    _, tree = pathways_for(Design(n_levels=3), [], 2)
    assert [len(n.next) for n in tree] == [4, 4, 0, 0]
    assert sum(1 for _ in walk(tree)) == 12
    second = {n.outcomes: n.decision for n in tree[1].next}  # after 1NNT, 3 more at level 1
    assert second["1NNTNNN"].next_dose_level == 2  # 1/6: escalate
    assert second["1NNTNNT"].recommended_dose_level is None  # 2/6 at level 1: stop


def test_every_node_decision_is_the_engine_decision_on_its_history():
    _, tree = pathways_for(BAT6005, parse_outcomes("1N 2N"), 3)
    nodes = list(walk(tree))
    assert nodes
    for n in nodes:
        assert n.decision == recommend(BAT6005, parse_outcomes(n.outcomes))


def test_bat6005_titration_branches_on_g():
    first, tree = pathways_for(BAT6005, [], 1)
    assert (first.next_dose_level, first.add_subjects) == (1, 1)
    got = [(n.outcomes, n.dlts, n.tox2, n.decision.next_dose_level, n.decision.add_subjects) for n in tree]
    assert got == [("1N", 0, 0, 2, 1), ("1G", 0, 1, 1, 2), ("1T", 1, 0, 1, 2)]


def test_bat6005_after_titration_no_g_branches():
    _, tree = pathways_for(BAT6005, parse_outcomes("1N 2G"), 1)  # 2 more at level 2, G no longer matters
    assert [(n.dlts, n.tox2) for n in tree] == [(0, 0), (1, 0), (2, 0)]
    assert tree[2].decision.continue_trial  # 2/3 at level 2 -> de-escalate: fill level 1
    assert tree[2].decision.next_dose_level == 1


def test_start_decision_stop_gives_no_pathways():
    first, tree = pathways_for(Design(n_levels=3), parse_outcomes("1NTT"), 3)
    assert not first.continue_trial and tree == []


def test_boin_pathways_follow_the_table():
    design = BoinDesign(target=0.3, n_levels=4)
    _, tree = pathways_for(design, parse_outcomes("1NNN"), 1)
    assert [(n.level, n.dlts, n.decision.next_dose_level) for n in tree] == [(2, 0, 3), (2, 1, 2), (2, 2, 1), (2, 3, 1)]
    for n in walk(pathways_for(design, [], 3)[1]):
        assert n.decision == model_recommend(design, parse_outcomes(n.outcomes))


def test_boin_all_toxic_at_level_1_branch_stops():
    _, tree = pathways_for(BoinDesign(target=0.3, n_levels=3), [], 2)
    assert tree[3].outcomes == "1TTT"
    assert not tree[3].decision.continue_trial and tree[3].next == ()


def test_crm_pathways_carry_the_posterior_mean():
    design = CrmDesign(skeleton=(0.05, 0.1, 0.25, 0.4, 0.6), target=0.25)
    _, tree = pathways_for(design, parse_outcomes("1NNN"), 1)
    assert [n.level for n in tree] == [2, 2, 2, 2]
    assert all("posterior_mean" in n.as_json()["decision"] for n in tree)
    assert tree[1].outcomes == "1NNN 2NNT"
    assert tree[1].decision.next_dose_level == 2  # the get_dfcrm reference example: '1NNN 2NTN' -> 2


def test_json_node_keys():
    _, tree = pathways_for(Design(n_levels=2), [], 2)
    assert set(tree[0].as_json()) == {"cohort", "level", "subjects", "dlts", "tox2", "outcomes", "decision", "next"}
    assert tree[0].next[0].cohort == 2


def test_too_many_cohorts_is_refused():
    with pytest.raises(PathwaysTooLarge, match="cohorts"):
        pathways_for(BoinDesign(target=0.3, n_levels=5), [], 10, max_nodes=1000)
    with pytest.raises(ValueError, match="cohorts"):
        pathways_for(Design(n_levels=3), [], 0)
