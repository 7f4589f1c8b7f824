"""Dose-transition pathways: every possible next decision for the next K cohorts, as a tree.

Pure Python, no Django. From a starting history (possibly empty) the design's decision names a level and
a number of subjects (a "cohort"); each possible outcome of that cohort -- its number of DLTs, 0..m
(and, where the protocol's accelerated titration makes it matter, its number of drug-related grade >= 2
non-DLT toxicities ``G``) -- is a branch, with the decision it leads to; branches continue for K
cohorts, and end early where the design stops. Works for the protocol's rule
(:func:`trialrules.escalation.recommend` with a :class:`~trialrules.escalation.Design`) and for BOIN /
the CRM (:func:`trialrules.model_designs.recommend`).

Subjects of a cohort are appended no-DLT first, then G, then DLT (the order within a cohort at one
level changes no decision). A node's ``outcomes`` is the whole history after its cohort, in the
notation of :func:`trialrules.escalation.format_outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trialrules import model_designs
from trialrules.escalation import Decision, Design, Outcome, format_outcomes, recommend

__all__ = ["PathwayNode", "PathwaysTooLarge", "pathways", "pathways_for"]

DEFAULT_MAX_NODES = 20_000


class PathwaysTooLarge(ValueError):
    """The tree would have more nodes than allowed."""


@dataclass(frozen=True)
class PathwayNode:
    cohort: int  # 1 = the next cohort
    level: int  # dose level of the cohort
    subjects: int  # subjects in the cohort
    dlts: int  # DLTs among them
    tox2: int  # drug-related grade >= 2 non-DLT toxicities among them (0 unless titration makes G matter)
    outcomes: str  # the whole history after this cohort
    decision: Decision  # the decision after this cohort
    next: tuple[PathwayNode, ...]  # the branches of the following cohort (empty: stop, or K reached)

    def as_json(self) -> dict:
        return {
            "cohort": self.cohort,
            "level": self.level,
            "subjects": self.subjects,
            "dlts": self.dlts,
            "tox2": self.tox2,
            "outcomes": self.outcomes,
            "decision": self.decision.as_json(),
            "next": [n.as_json() for n in self.next],
        }


Decide = Callable[[list[Outcome]], Decision]
BranchG = Callable[[list[Outcome], int], bool]


def pathways(
    decide: Decide,
    start: Sequence[Outcome],
    cohorts: int,
    *,
    branch_g: BranchG | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[Decision, list[PathwayNode]]:
    """The decision after `start` and the tree of the next `cohorts` cohorts.

    `decide` maps a history to a Decision; `branch_g(history, level)` says whether G and N outcomes of
    a cohort at `level` must be told apart (default never). PathwaysTooLarge above `max_nodes` nodes.
    """
    if isinstance(cohorts, bool) or not isinstance(cohorts, int) or cohorts < 1:
        raise ValueError(f"cohorts must be a whole number >= 1, got {cohorts!r}")
    count = 0

    def grow(history: list[Outcome], dec: Decision, k: int) -> list[PathwayNode]:
        nonlocal count
        if k > cohorts or not dec.continue_trial or dec.add_subjects < 1:
            return []
        lvl, m = dec.next_dose_level, dec.add_subjects
        assert lvl is not None
        with_g = branch_g is not None and branch_g(history, lvl)
        nodes = []
        for t in range(m + 1):
            for g in range(m - t + 1) if with_g else (0,):
                count += 1
                if count > max_nodes:
                    raise PathwaysTooLarge(
                        f"cohorts: {cohorts} cohorts give more than {max_nodes} pathway nodes; ask for fewer"
                    )
                batch = ([Outcome(lvl, dlt=False)] * (m - t - g) + [Outcome(lvl, dlt=False, tox2=True)] * g
                         + [Outcome(lvl, dlt=True)] * t)
                after = history + batch
                nxt = decide(after)
                nodes.append(PathwayNode(k, lvl, m, t, g, format_outcomes(after), nxt, tuple(grow(after, nxt, k + 1))))
        return nodes

    outs = list(start)
    first = decide(outs)
    return first, grow(outs, first, 1)


def _titrating(design: Design, history: Sequence[Outcome]) -> bool:
    """Still in accelerated titration (protocol mode): no G or DLT yet and no subject above it."""
    if design.titration_levels == 0:
        return False
    return not any(o.dose_level > design.titration_levels or o.dlt or o.tox2 for o in history)


def pathways_for(
    design: Design | model_designs.BoinDesign | model_designs.CrmDesign,
    start: Sequence[Outcome],
    cohorts: int,
    *,
    labels: Sequence[str] | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[Decision, list[PathwayNode]]:
    """:func:`pathways` for a rule-based Design (G branches during accelerated titration) or BOIN / CRM."""
    if isinstance(design, Design):
        def decide(h: list[Outcome]) -> Decision:
            return recommend(design, h, labels=labels)

        def branch_g(h: list[Outcome], lvl: int) -> bool:
            return lvl <= design.titration_levels and _titrating(design, h)

        return pathways(decide, start, cohorts, branch_g=branch_g, max_nodes=max_nodes)

    def decide_model(h: list[Outcome]) -> Decision:
        return model_designs.recommend(design, h)

    # Every cohort of a model-based design has at most cohort_size + 1 outcomes: refuse a too large tree
    # at once rather than after building max_nodes nodes.
    if isinstance(cohorts, int) and cohorts >= 1:
        bound = sum((design.cohort_size + 1) ** k for k in range(1, cohorts + 1))
        if bound > max_nodes:
            raise PathwaysTooLarge(
                f"cohorts: {cohorts} cohorts of {design.cohort_size} give up to {bound} pathway nodes "
                f"(more than {max_nodes}); ask for fewer"
            )

    return pathways(decide_model, start, cohorts, max_nodes=max_nodes)
