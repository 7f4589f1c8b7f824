"""Tests for trialrules.simulation and trialrules.protocol_design (pure Python and NumPy)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from trialrules.escalation import Design, Outcome, recommend
from trialrules.protocol_design import ProtocolDesignError, design_from_protocol, level_labels
from trialrules.simulation import (
    OperatingCharacteristics,
    _decision_key,
    check_probabilities,
    clear_cache,
    exact,
    simulate,
    state_graph,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"

BAT6005 = Design(
    n_levels=6, titration_levels=3, titration_expand=2, cohort_size=3, allow_deescalate=True, six_to_declare=True
)
BAT_DLT = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5]
BAT_TOX2 = [0.1] * 6

DESIGNS = [
    BAT6005,
    Design(n_levels=1),
    Design(n_levels=5),
    Design(n_levels=5, allow_deescalate=True),
    Design(n_levels=4, six_to_declare=True),
    Design(n_levels=4, allow_deescalate=True, six_to_declare=True),
    Design(n_levels=4, titration_levels=2, allow_deescalate=False, six_to_declare=True),
    Design(n_levels=3, titration_levels=3, titration_expand=1, allow_deescalate=True, six_to_declare=True),
    Design(n_levels=4, cohort_size=2, allow_deescalate=True),
]


def probs(design: Design, low: float = 0.05, high: float = 0.6) -> list[float]:
    n = design.n_levels
    return [low + (high - low) * i / max(n - 1, 1) for i in range(n)]


def binom(k: int, n: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


# ------------------------------------------------------------------------------------------------
# Exact enumeration
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("design", DESIGNS, ids=str)
def test_exact_probabilities_sum_to_one_and_satisfy_wald(design):
    p = probs(design)
    oc = exact(design, p, [0.3] * design.n_levels)
    assert len(oc.select) == design.n_levels + 1
    assert abs(sum(oc.select) - 1.0) < 1e-12
    assert all(0.0 <= x <= 1.0 for x in oc.select)
    assert oc.expected_total_subjects == pytest.approx(sum(oc.expected_subjects), abs=1e-12)
    # Wald: whether a subject is dosed depends only on earlier outcomes, so E[DLTs at i] = p_i * E[n_i].
    for i in range(design.n_levels):
        assert oc.expected_dlts[i] == pytest.approx(p[i] * oc.expected_subjects[i], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.33, 0.5, 0.9, 1.0])
def test_one_level_plain_3_plus_3_by_hand(p):
    # 0/3 -> MAD; 1/3 -> 3 more, 0/3 of those (1/6) -> MAD; otherwise no tolerable dose.
    oc = exact(Design(n_levels=1), [p])
    chosen = binom(0, 3, p) + binom(1, 3, p) * binom(0, 3, p)
    assert oc.select[1] == pytest.approx(chosen, abs=1e-14)
    assert oc.select[0] == pytest.approx(1 - chosen, abs=1e-14)
    assert oc.expected_subjects == pytest.approx([3 + 3 * binom(1, 3, p)], abs=1e-14)
    assert oc.expected_dlts == pytest.approx([p * (3 + 3 * binom(1, 3, p))], abs=1e-14)


@pytest.mark.parametrize(("p1", "p2"), [(0.1, 0.3), (0.25, 0.25), (0.05, 0.8), (0.5, 0.6)])
def test_two_level_plain_3_plus_3_closed_form(p1, p2):
    # R's three_plus_three without de-escalation: the classic formula.
    def passes(p):  # 0/3, or 1/3 then 0/3
        return binom(0, 3, p) + binom(1, 3, p) * binom(0, 3, p)

    oc = exact(Design(n_levels=2), [p1, p2])
    a1, a2 = passes(p1), passes(p2)
    assert oc.select == pytest.approx([1 - a1, a1 * (1 - a2), a1 * a2], abs=1e-14)
    n1 = 3 + 3 * binom(1, 3, p1)
    n2 = a1 * (3 + 3 * binom(1, 3, p2))
    assert oc.expected_subjects == pytest.approx([n1, n2], abs=1e-14)


def state_key(design, history):
    """The state a history is in, computed from the history alone (independently of the state graph):
    subjects and DLTs per level, the last level, and how accelerated titration went."""
    n, t = [0] * design.n_levels, [0] * design.n_levels
    for o in history:
        n[o.dose_level - 1] += 1
        t[o.dose_level - 1] += o.dlt
    fate = "titrating" if design.titration_levels else "passed"
    for o in history:
        if o.dose_level > design.titration_levels:
            fate = "passed"
            break
        if o.dlt or o.tox2:
            fate = o.dose_level
            break
    return tuple(n), tuple(t), history[-1].dose_level if history else 0, fate


def brute_force(design, p, q, keys=None):
    """Independent enumeration: no state merging, the engine asked along every path.

    With `keys` (a set), the state key of every history visited is added to it."""
    select = [0.0] * (design.n_levels + 1)
    subjects = [0.0] * design.n_levels

    def walk(history, weight):
        if keys is not None:
            keys.add(state_key(design, history))
        dec = recommend(design, history)
        if not dec.continue_trial:
            select[dec.recommended_dose_level or 0] += weight
            for o in history:
                subjects[o.dose_level - 1] += weight
            return
        lvl, m = dec.next_dose_level, dec.add_subjects
        pt, pg = p[lvl - 1], (1 - p[lvl - 1]) * q[lvl - 1]
        for n_t in range(m + 1):
            for n_g in range(m - n_t + 1):
                n_n = m - n_t - n_g
                w = math.comb(m, n_t) * math.comb(m - n_t, n_g) * pt**n_t * pg**n_g * (1 - pt - pg) ** n_n
                if w:
                    # a different order within the batch than the state graph uses: N first, then G, then T
                    batch = [Outcome(lvl, False)] * n_n + [Outcome(lvl, False, True)] * n_g + [Outcome(lvl, True)] * n_t
                    walk(history + batch, weight * w)

    walk([], 1.0)
    return select, subjects


@pytest.mark.parametrize(
    "design",
    [
        Design(n_levels=3),
        Design(n_levels=3, allow_deescalate=True),
        Design(n_levels=3, six_to_declare=True),
        Design(n_levels=3, titration_levels=2, allow_deescalate=True, six_to_declare=True),
    ],
    ids=str,
)
def test_exact_and_state_graph_match_brute_force_enumeration(design):
    p = [0.1, 0.3, 0.5]
    q = [0.4, 0.2, 0.3]
    oc = exact(design, p, q)
    reached: set = set()
    select, subjects = brute_force(design, p, q, keys=reached)
    assert oc.select == pytest.approx(select, abs=1e-12)
    assert oc.expected_subjects == pytest.approx(subjects, abs=1e-12)
    # The graph has one state per distinct key reached by some path, no more, no fewer, and in each
    # state the counts and the decision of its history.
    graph = state_graph(design)
    histories = [graph.history(s) for s in range(graph.size)]
    assert {state_key(design, h) for h in histories} == reached
    assert graph.size == len(reached)
    for s, h in enumerate(histories):
        n, t, _, _ = state_key(design, h)
        assert graph.n[s].tolist() == list(n) and graph.t[s].tolist() == list(t)
        dec = recommend(design, h)
        assert bool(graph.stop[s]) == (not dec.continue_trial)
        assert graph.add[s] == dec.add_subjects
        assert graph.level[s] == ((dec.next_dose_level if dec.continue_trial else dec.recommended_dose_level) or 0)


def assert_same_graph(a, b, *, rationales=True):
    for name in ("n", "t", "stop", "level", "add", "branch_g", "succ", "topo"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and (x == y).all(), name
    assert a._parent == b._parent and a._batch == b._batch
    assert [_decision_key(d) for d in a.decisions] == [_decision_key(d) for d in b.decisions]
    if rationales:
        assert [d.rationale for d in a.decisions] == [d.rationale for d in b.decisions]
        assert a.engine_calls == b.engine_calls


@pytest.mark.parametrize("design", DESIGNS, ids=str)
def test_layered_builder_makes_the_graph_of_the_state_by_state_loop(design):
    import trialrules.simulation as simulation

    fast = simulation._build_fast(design)
    assert_same_graph(fast, simulation._build(design, verify=False))
    # the verifying build asks the engine in every state (same decisions, rationales may differ)
    assert_same_graph(fast, simulation._build(design, verify=True), rationales=False)
    assert fast.engine_calls < fast.size


def test_a_hash_collision_falls_back_to_the_loop(monkeypatch):
    import trialrules.simulation as simulation

    design = DESIGNS[3]
    reference = simulation._build(design, verify=False)
    monkeypatch.setattr(simulation, "_hash", lambda a, b, c: (a & 3).astype(np.uint64))  # collides a lot
    with pytest.raises(simulation._Collision):
        simulation._build_fast(design)
    clear_cache()
    try:
        assert_same_graph(state_graph(design), reference)
    finally:
        clear_cache()


def test_many_levels_use_the_loop_and_match_brute_force():
    design = Design(n_levels=11, allow_deescalate=True)  # packed counts do not fit 64 bits
    p = [0.02 * i for i in range(1, 12)]
    oc = exact(design, p)
    select, subjects = brute_force(design, p, [0.0] * 11)
    assert oc.select == pytest.approx(select, rel=1e-9, abs=1e-12)
    assert oc.expected_subjects == pytest.approx(subjects, rel=1e-9, abs=1e-12)


def test_bat6005_nothing_toxic_reaches_mad_at_the_top():
    oc = exact(BAT6005, [0.0] * 6)
    assert oc.select == [0.0] * 6 + [1.0]
    # titration 1+1+1, then 3 at 300 and 600 mg, 3 + 3 at 900 mg to declare the MAD
    assert oc.expected_subjects == [1, 1, 1, 3, 3, 6]
    assert oc.expected_dlts == [0] * 6
    assert oc.expected_total_subjects == 15


def test_bat6005_grade2_toxicity_everywhere_ends_titration_at_level_1():
    oc = exact(BAT6005, [0.0] * 6, [1.0] * 6)
    assert oc.select[6] == 1.0
    assert oc.expected_subjects == [3, 3, 3, 3, 3, 6]


def test_bat6005_certain_dlt_at_level_1_means_no_tolerable_dose():
    oc = exact(BAT6005, [1.0, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert oc.select[0] == 1.0
    assert oc.select[1:] == [0.0] * 6
    assert oc.expected_subjects == [3, 0, 0, 0, 0, 0]  # titration subject + 2: two DLTs exceed the MTD
    assert oc.expected_dlts == [3, 0, 0, 0, 0, 0]


def test_bat6005_realistic_selects_mostly_levels_3_to_5():
    oc = exact(BAT6005, BAT_DLT, BAT_TOX2)
    assert abs(sum(oc.select) - 1) < 1e-12
    assert oc.select[4] == max(oc.select)  # 300 mg, true DLT 0.2
    assert 12 < oc.expected_total_subjects < 36


def test_state_key_is_sufficient_for_the_engine():
    # Every second path into a state, every state sharing a memoised decision and every reversed
    # batch is re-checked against the engine; an insufficient key raises EngineError.
    graph = state_graph(BAT6005, verify=True)
    assert graph.size == state_graph(BAT6005).size
    assert state_graph(BAT6005).engine_calls < graph.size  # memoisation is doing something
    assert graph.stop[graph.topo[-1]]
    assert not graph.stop[0]


def test_verify_catches_an_engine_that_reads_the_order(monkeypatch):
    import trialrules.simulation as simulation
    from trialrules.escalation import Decision

    def order_sensitive(design, outcomes, *args, **kwargs):
        # stops as soon as the FIRST subject of the last cohort had a DLT: not a function of the counts
        if len(outcomes) >= 3 and outcomes[-3].dlt:
            return Decision(False, None, 0, 1, "MTD", "first of cohort had a DLT")
        if len(outcomes) >= 6:
            return Decision(False, None, 0, 1, "MTD", "enough")
        return Decision(True, 1, 3, 1, None, "add 3")

    monkeypatch.setattr(simulation, "recommend", order_sensitive)
    with pytest.raises(simulation.EngineError, match="same state key get different decisions"):
        simulation.state_graph(Design(n_levels=1), verify=True)


def test_an_engine_that_never_stops_is_reported(monkeypatch):
    import trialrules.simulation as simulation
    from trialrules.escalation import Decision

    monkeypatch.setattr(simulation, "recommend", lambda *a, **k: Decision(True, 1, 3, 1, None, "add 3 forever"))
    with pytest.raises(simulation.EngineError, match="keeps adding subjects"):
        simulation.state_graph(Design(n_levels=1), verify=True)


def test_state_graph_is_cached_and_can_be_cleared():
    a = state_graph(BAT6005)
    assert state_graph(BAT6005) is a
    clear_cache()
    assert state_graph(BAT6005) is not a


# ------------------------------------------------------------------------------------------------
# Monte Carlo
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("design", "p", "q"),
    [
        (BAT6005, BAT_DLT, BAT_TOX2),
        (BAT6005, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0.5] * 6),
        (Design(n_levels=4, allow_deescalate=True), [0.1, 0.2, 0.35, 0.5], None),
        (Design(n_levels=3), [0.05, 0.25, 0.45], None),
    ],
    ids=["bat6005", "bat6005-toxic", "3+3-deesc", "3+3"],
)
def test_monte_carlo_agrees_with_exact_within_4_standard_errors(design, p, q):
    trials = 40_000
    ex = exact(design, p, q)
    mc = simulate(design, p, q, trials=trials, seed=12345)
    assert mc.method == "monte_carlo" and mc.trials == trials
    assert sum(mc.select) == pytest.approx(1.0, abs=1e-12)
    for i, (e, m) in enumerate(zip(ex.select, mc.select, strict=True)):
        se = math.sqrt(e * (1 - e) / trials)
        assert abs(m - e) <= 4 * se + 1e-12, f"select[{i}]: monte carlo {m}, exact {e}, se {se}"
    # expected subjects: per-trial counts are bounded by 6 (levels hold at most 2 cohorts), so sd <= 3
    for e, m in zip(ex.expected_subjects, mc.expected_subjects, strict=True):
        assert abs(m - e) <= 4 * 3 / math.sqrt(trials)


def test_monte_carlo_degenerate_cases_are_exact():
    mc = simulate(BAT6005, [0.0] * 6, trials=500, seed=1)
    assert mc.select == [0.0] * 6 + [1.0]
    assert mc.expected_subjects == [1, 1, 1, 3, 3, 6]
    mc = simulate(BAT6005, [1.0] + [0.5] * 5, trials=500, seed=1)
    assert mc.select[0] == 1.0
    assert mc.expected_dlts == [3, 0, 0, 0, 0, 0]


def test_same_seed_same_result_other_seed_other_result():
    a = simulate(BAT6005, BAT_DLT, BAT_TOX2, trials=5000, seed=7)
    b = simulate(BAT6005, BAT_DLT, BAT_TOX2, trials=5000, seed=7)
    c = simulate(BAT6005, BAT_DLT, BAT_TOX2, trials=5000, seed=8)
    assert a == b
    assert a.as_json() != c.as_json()


# ------------------------------------------------------------------------------------------------
# Inputs and output
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.1, 0.2], "expected 3 probabilities"),
        ([0.1, 0.2, 1.2], "not a probability in [0, 1]"),
        ([0.1, -0.1, 0.2], "not a probability in [0, 1]"),
        ([0.1, float("nan"), 0.2], "not a probability"),
        ([0.1, "x", 0.2], "is not a number"),
    ],
)
def test_bad_probabilities_are_rejected_with_the_name(values, message):
    with pytest.raises(ValueError, match="true_dlt") as info:
        exact(Design(n_levels=3), values)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="true_tox2"):
        simulate(Design(n_levels=3), [0.1, 0.2, 0.3], values, trials=10, seed=1)


@pytest.mark.parametrize("trials", [0, -5, 2.5, True])
def test_trials_must_be_a_positive_whole_number(trials):
    with pytest.raises(ValueError, match="trials"):
        simulate(Design(n_levels=2), [0.1, 0.2], trials=trials, seed=1)


def test_check_probabilities_defaults_and_converts():
    assert check_probabilities("q", None, 3) == [0.0, 0.0, 0.0]
    assert check_probabilities("q", ["0.5", 1, 0], 3) == [0.5, 1.0, 0.0]


def test_as_json_shape():
    oc = exact(Design(n_levels=2), [0.1, 0.2])
    data = oc.as_json()
    assert set(data) == {"select", "expected_subjects", "expected_dlts", "expected_total_subjects", "method", "trials"}
    assert data["method"] == "exact" and data["trials"] is None
    assert len(data["select"]) == 3 and len(data["expected_subjects"]) == 2
    assert isinstance(oc, OperatingCharacteristics)
    mc = simulate(Design(n_levels=2), [0.1, 0.2], trials=100, seed=3).as_json()
    assert mc["method"] == "monte_carlo" and mc["trials"] == 100
    assert all(isinstance(x, float) for x in mc["select"] + mc["expected_subjects"])


# ------------------------------------------------------------------------------------------------
# Protocol -> Design
# ------------------------------------------------------------------------------------------------


def load(name: str) -> dict:
    return tomllib.loads((PROTOCOLS / name).read_text())


def test_design_from_bat6005_protocol():
    data = load("BAT6005.toml")
    assert design_from_protocol(data) == BAT6005
    assert level_labels(data) == ["10 mg", "30 mg", "100 mg", "300 mg", "600 mg", "900 mg"]


def test_design_from_plain_3_plus_3_protocol_has_no_titration():
    data = load("LVGN6051-ANLOTINIB.toml")
    data["escalation"]["titration_levels"] = 2  # ignored: only titration+3+3 titrates
    design = design_from_protocol(data)
    assert design.titration_levels == 0
    assert design.n_levels == len(data["dose_levels"])
    assert design.allow_deescalate and design.six_to_declare


def test_fixed_design_does_not_escalate():
    with pytest.raises(ProtocolDesignError, match="does not escalate"):
        design_from_protocol(load("QL1706.toml"))
