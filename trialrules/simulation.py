"""Operating characteristics of an escalation :class:`~trialrules.escalation.Design`.

Given the true probability of a DLT at each dose level (``true_dlt[i]``) and, optionally, the
probability of a drug-related grade >= 2 toxicity that is not a DLT given no DLT (``true_tox2[i]``,
default 0), every subject is independent and ends

* ``T`` (DLT) with probability ``p``,
* ``G`` (grade >= 2, no DLT) with probability ``(1 - p) * q``,
* ``N`` otherwise, ``(1 - p) * (1 - q)``.

The trial is driven by :func:`trialrules.escalation.recommend` (no pending subjects): each decision
names a level and how many subjects to add; their outcomes are appended and the engine is asked again,
until it stops. Two ways to get the operating characteristics:

* :func:`exact` enumerates every path, branching over the outcome *counts* of each added batch
  (multinomial), and sums the probabilities;
* :func:`simulate` runs Monte Carlo trials, vectorised with NumPy: all trials advance in lockstep,
  each step drawing one uniform per added subject.

Both walk one *state graph* built once per design (:func:`state_graph`, cached): its nodes are the
distinct engine states reachable from the empty history, each with the engine's decision; its edges are
indexed by the number of DLTs and of G outcomes in the added batch.

State key, checked against the engine
-------------------------------------
The engine reads from a history only (see ``_decide_r`` and ``_decide_protocol``):

* the evaluable subjects and DLTs per level (``_counts``),
* the level of the last subject (``cur``),
* in protocol mode, the fate of the accelerated titration: still titrating, passed beyond the
  titration levels without toxicity, or ended at a given level by the first G or DLT (``stop_level``).

G outcomes matter only through the last item, and order only through the last two. So the key of a
state is ``(n per level, t per level, last level, titration marker)``; histories with the same key get
the same decision. The engine compares DLT counts only with 1 and 2, so the decision itself is memoised on
that key with DLT counts capped at 2 (about 10 times fewer engine calls for BAT6005: ~1,500 for
~15,000 states). The order of subjects *within* an added batch does not change the key (a batch is
at one level, so the first G/DLT in it ends titration at that same level). ``state_graph(design,
verify=True)`` checks this against the engine: every time a second path reaches a known state, or a
batch is reordered, the engine is asked again and must give the same decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from trialrules.escalation import Decision, Design, Outcome, format_outcomes, recommend

__all__ = [
    "EngineError",
    "OperatingCharacteristics",
    "StateGraph",
    "check_probabilities",
    "clear_cache",
    "exact",
    "simulate",
    "state_graph",
]

_TITRATING = -1  # titration marker: still in accelerated titration
_PASSED = 0  # titration over without toxicity (or no titration at all); > 0: ended at that level

_MAX_SUBJECTS_PER_LEVEL = 60  # guard against an engine that never stops


class EngineError(RuntimeError):
    """The decision engine did something the simulation cannot follow (a bug in the engine)."""


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatingCharacteristics:
    select: list[float]  # [P(no tolerable dose), P(level 1 chosen), ..., P(level n chosen)]
    expected_subjects: list[float]  # per level 1..n
    expected_dlts: list[float]  # per level 1..n
    expected_total_subjects: float
    method: str  # "exact" or "monte_carlo"
    trials: int | None = None  # Monte Carlo only

    def as_json(self) -> dict:
        return {
            "select": list(self.select),
            "expected_subjects": list(self.expected_subjects),
            "expected_dlts": list(self.expected_dlts),
            "expected_total_subjects": self.expected_total_subjects,
            "method": self.method,
            "trials": self.trials,
        }


# --------------------------------------------------------------------------------------------------
# State graph
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StateGraph:
    """Reachable engine states of one design; state 0 is the empty history."""

    design: Design
    n: np.ndarray  # (S, L) evaluable subjects per level
    t: np.ndarray  # (S, L) DLTs per level
    stop: np.ndarray  # (S,) bool: the engine stops here
    level: np.ndarray  # (S,) continuing: level of the added subjects; stopping: recommended (0 = none)
    add: np.ndarray  # (S,) subjects to add (0 when stopping)
    branch_g: np.ndarray  # (S,) bool: G versus N of the added subjects can change the future
    succ: np.ndarray  # (S, M+1, M+1) next state by (#DLT, #G) in the batch; -1 if impossible
    topo: np.ndarray  # state indices by increasing number of subjects (a topological order)
    decisions: list[Decision] = field(repr=False)  # the engine's decision in each state
    engine_calls: int = 0  # how many times the engine was asked while building
    _parent: list[int] = field(default_factory=list, repr=False)
    _batch: list[tuple[Outcome, ...]] = field(default_factory=list, repr=False)

    @property
    def size(self) -> int:
        return len(self.decisions)

    def history(self, s: int) -> tuple[Outcome, ...]:
        """One ordered history that reaches state `s`."""
        return _history(self._parent, self._batch, s)


def _history(parent: list[int], batch: list[tuple[Outcome, ...]], s: int) -> tuple[Outcome, ...]:
    parts = []
    while s > 0:
        parts.append(batch[s])
        s = parent[s]
    return tuple(o for part in reversed(parts) for o in part)


def _decision_key(dec: Decision) -> tuple:
    return (dec.continue_trial, dec.next_dose_level, dec.add_subjects, dec.recommended_dose_level, dec.declared)


def _check_decision(design: Design, dec: Decision, history: Sequence[Outcome]) -> None:
    where = f"after {format_outcomes(history)!r}"
    if dec.waiting:
        raise EngineError(f"engine waits with no pending subjects {where}: {dec.rationale}")
    if dec.continue_trial:
        if dec.next_dose_level is None or not 1 <= dec.next_dose_level <= design.n_levels:
            raise EngineError(f"engine continues at level {dec.next_dose_level!r} {where}")
        if dec.add_subjects < 1:
            raise EngineError(f"engine continues adding {dec.add_subjects} subjects {where}: {dec.rationale}")
    elif dec.recommended_dose_level is not None and not 1 <= dec.recommended_dose_level <= design.n_levels:
        raise EngineError(f"engine recommends level {dec.recommended_dose_level!r} {where}")


def _same(design: Design, expected: Decision, a: Sequence[Outcome], b: Sequence[Outcome]) -> None:
    got = recommend(design, b)
    if _decision_key(got) != _decision_key(expected):
        raise EngineError(
            "histories with the same state key get different decisions: "
            f"{format_outcomes(a)!r} -> {_decision_key(expected)}, {format_outcomes(b)!r} -> {_decision_key(got)}"
        )


def _build(design: Design, verify: bool) -> StateGraph:
    """Breadth-first over the reachable states, asking the engine once per *decision key*.

    Probability states are keyed by ``(n, t, last level, titration marker)`` (module docstring). The
    engine compares DLT counts only with 1 and 2 (``td == 1``, ``t <= 1``, ``t >= 2``), so the decision
    itself is memoised on the same key with each DLT count capped at 2: 2/3 and 3/3 at a level get the
    same decision (only the rationale differs), and the engine is asked ~10 times less often. With
    `verify`, the engine is asked in every state and after reordering every batch, and must agree.
    """
    L, k = design.n_levels, design.titration_levels
    kinds = {
        lvl: (Outcome(lvl, dlt=True), Outcome(lvl, dlt=False, tox2=True), Outcome(lvl, dlt=False))
        for lvl in range(1, L + 1)
    }
    root_marker = _TITRATING if k > 0 else _PASSED
    zeros = (0,) * L
    root = (zeros, zeros, 0, root_marker)
    index: dict[tuple, int] = {root: 0}
    keys: list[tuple] = [root]
    parent: list[int] = [-1]
    batches: list[tuple[Outcome, ...]] = [()]
    memo: dict[tuple, tuple[Decision, tuple[Outcome, ...]]] = {}
    decisions: list[Decision] = []
    edges: list[dict[tuple[int, int], int]] = []
    calls = 0

    s = 0
    while s < len(keys):  # states are appended as discovered
        n, t, cur, marker = keys[s]
        dkey = (n, tuple(x if x < 2 else 2 for x in t), cur, marker)
        hit = memo.get(dkey)
        if hit is None or verify:
            history = _history(parent, batches, s)
            dec = recommend(design, history)
            calls += 1
            _check_decision(design, dec, history)
            if hit is None:
                memo[dkey] = (dec, history)
            else:
                _same(design, hit[0], hit[1], history)
            if verify and len(batches[s]) > 1:  # the same batch in the reverse order
                _same(design, dec, history, history[: -len(batches[s])] + batches[s][::-1])
        else:
            dec = hit[0]
        decisions.append(dec)
        out: dict[tuple[int, int], int] = {}
        edges.append(out)
        if dec.continue_trial:
            lvl, m = dec.next_dose_level, dec.add_subjects
            assert lvl is not None
            if n[lvl - 1] + m > _MAX_SUBJECTS_PER_LEVEL:
                raise EngineError(f"engine keeps adding subjects at level {lvl}: {dec.rationale}")
            branch_g = marker == _TITRATING and lvl <= k
            o_t, o_g, o_n = kinds[lvl]
            n2 = list(n)
            n2[lvl - 1] += m
            n2t = tuple(n2)
            for n_t in range(m + 1):
                t2 = list(t)
                t2[lvl - 1] += n_t
                t2t = tuple(t2)
                for n_g in range(m - n_t + 1) if branch_g else (0,):
                    if marker == _TITRATING:
                        new_marker = _PASSED if lvl > k else (lvl if n_t + n_g else _TITRATING)
                    else:
                        new_marker = marker
                    key = (n2t, t2t, lvl, new_marker)
                    target = index.get(key)
                    if target is None:
                        target = index[key] = len(keys)
                        keys.append(key)
                        parent.append(s)
                        batches.append((o_t,) * n_t + (o_g,) * n_g + (o_n,) * (m - n_t - n_g))
                    elif verify:  # a second path into a known state: same decision there?
                        other = _history(parent, batches, s) + (o_t,) * n_t + (o_g,) * n_g + (o_n,) * (m - n_t - n_g)
                        _same(design, recommend(design, _history(parent, batches, target)),
                              _history(parent, batches, target), other)
                    out[(n_t, n_g)] = target
        s += 1

    size = len(keys)
    max_add = max((d.add_subjects for d in decisions), default=0)
    succ = np.full((size, max_add + 1, max_add + 1), -1, dtype=np.int32)
    branch = np.zeros(size, dtype=bool)
    for s, out in enumerate(edges):
        m = decisions[s].add_subjects
        for (n_t, n_g), target in out.items():
            if n_g:
                branch[s] = True
            succ[s, n_t, n_g] = target
        if out and not branch[s]:  # G is the same as N here: any #G leads where #G = 0 leads
            for n_t in range(m + 1):
                succ[s, n_t, : m - n_t + 1] = out[(n_t, 0)]
    n_arr = np.array([key[0] for key in keys], dtype=np.int64).reshape(size, L)
    t_arr = np.array([key[1] for key in keys], dtype=np.int64).reshape(size, L)
    stop = np.array([not d.continue_trial for d in decisions], dtype=bool)
    level = np.array(
        [(d.next_dose_level if d.continue_trial else d.recommended_dose_level) or 0 for d in decisions],
        dtype=np.int64,
    )
    add = np.array([d.add_subjects for d in decisions], dtype=np.int64)
    topo = np.argsort(n_arr.sum(axis=1), kind="stable")
    for arr in (n_arr, t_arr, stop, level, add, succ, branch, topo):
        arr.flags.writeable = False
    return StateGraph(
        design=design,
        n=n_arr,
        t=t_arr,
        stop=stop,
        level=level,
        add=add,
        branch_g=branch,
        succ=succ,
        topo=topo,
        decisions=decisions,
        engine_calls=calls,
        _parent=parent,
        _batch=batches,
    )


@lru_cache(maxsize=32)
def _cached_graph(design: Design) -> StateGraph:
    return _build(design, verify=False)


def state_graph(design: Design, *, verify: bool = False) -> StateGraph:
    """The reachable states of `design` with the engine's decisions (cached unless `verify`)."""
    if verify:
        return _build(design, verify=True)
    return _cached_graph(design)


def clear_cache() -> None:
    """Forget the cached state graphs (for honest cold-start timings)."""
    _cached_graph.cache_clear()


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def check_probabilities(name: str, values: Sequence[float] | None, n_levels: int, default: float = 0.0) -> list[float]:
    """Validate one probability per dose level; the ValueError names `name` and the problem."""
    if values is None:
        return [default] * n_levels
    values = list(values)
    if len(values) != n_levels:
        raise ValueError(f"{name}: expected {n_levels} probabilities (one per dose level), got {len(values)}")
    out = []
    for i, v in enumerate(values, 1):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: value {v!r} for level {i} is not a number") from None
        if not (0.0 <= x <= 1.0):  # also rejects NaN
            raise ValueError(f"{name}: value {v!r} for level {i} is not a probability in [0, 1]")
        out.append(x)
    return out


# --------------------------------------------------------------------------------------------------
# Exact enumeration
# --------------------------------------------------------------------------------------------------


def _batch_probabilities(m: int, p_t: float, p_g: float) -> list[tuple[int, int, float]]:
    """(#T, #G, probability) for m independent subjects, multinomial over T/G/N."""
    p_n = 1.0 - p_t - p_g
    if p_n < 0.0:  # rounding
        p_n = 0.0
    out = []
    for n_t in range(m + 1):
        c_t = math.comb(m, n_t) * p_t**n_t
        for n_g in range(m - n_t + 1):
            out.append((n_t, n_g, c_t * math.comb(m - n_t, n_g) * p_g**n_g * p_n ** (m - n_t - n_g)))
    return out


def exact(
    design: Design, true_dlt: Sequence[float], true_tox2: Sequence[float] | None = None
) -> OperatingCharacteristics:
    """Operating characteristics by enumerating every path of the trial."""
    L = design.n_levels
    p = check_probabilities("true_dlt", true_dlt, L)
    q = check_probabilities("true_tox2", true_tox2, L)
    g = state_graph(design)
    mass = [0.0] * g.size
    mass[0] = 1.0
    stop, level, add, succ, branch = g.stop.tolist(), g.level.tolist(), g.add.tolist(), g.succ, g.branch_g.tolist()
    select = [0.0] * (L + 1)
    terminal_states: list[int] = []
    terminal_mass: list[float] = []
    batch_cache: dict[tuple[int, int, bool], list[tuple[int, int, float]]] = {}
    for s in g.topo.tolist():
        w = mass[s]
        if w == 0.0:
            continue
        if stop[s]:
            select[level[s]] += w
            terminal_states.append(s)
            terminal_mass.append(w)
            continue
        lvl, m, b = level[s], add[s], branch[s]
        key = (lvl, m, b)
        probs = batch_cache.get(key)
        if probs is None:
            p_t = p[lvl - 1]
            p_g = (1.0 - p_t) * q[lvl - 1] if b else 0.0
            probs = batch_cache[key] = [x for x in _batch_probabilities(m, p_t, p_g) if x[2] != 0.0]
        row = succ[s]
        for n_t, n_g, pr in probs:
            mass[row[n_t, n_g]] += w * pr
    total = sum(select)
    assert abs(total - 1.0) < 1e-12, f"path probabilities sum to {total!r}, not 1"
    idx = np.array(terminal_states, dtype=np.int64)
    wts = np.array(terminal_mass)
    exp_n = wts @ g.n[idx] if len(idx) else np.zeros(L)
    exp_t = wts @ g.t[idx] if len(idx) else np.zeros(L)
    return OperatingCharacteristics(
        select=select,
        expected_subjects=[float(x) for x in exp_n],
        expected_dlts=[float(x) for x in exp_t],
        expected_total_subjects=float(exp_n.sum()),
        method="exact",
        trials=None,
    )


# --------------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------------


def simulate(
    design: Design,
    true_dlt: Sequence[float],
    true_tox2: Sequence[float] | None = None,
    *,
    trials: int,
    seed: int | None,
) -> OperatingCharacteristics:
    """Operating characteristics from `trials` simulated trials (NumPy, all trials in lockstep)."""
    L = design.n_levels
    p = np.array(check_probabilities("true_dlt", true_dlt, L))
    q = np.array(check_probabilities("true_tox2", true_tox2, L))
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials: must be a whole number >= 1, got {trials!r}")
    g = state_graph(design)
    rng = np.random.default_rng(seed)
    max_add = g.succ.shape[1] - 1
    cols = np.arange(max_add)
    # Per state: P(T) and P(T) + P(G) of each added subject (P(G) = 0 where G cannot matter).
    lvl0 = np.where(g.stop, 0, g.level - 1)
    cut_t = p[lvl0]
    cut_g = cut_t + np.where(g.branch_g, (1.0 - cut_t) * q[lvl0], 0.0)

    state = np.zeros(trials, dtype=np.int64)
    active = np.arange(trials) if not g.stop[0] else np.arange(0)
    while active.size:
        s = state[active]
        u = rng.random((active.size, max_add))
        in_batch = cols < g.add[s][:, None]
        is_t = (u < cut_t[s][:, None]) & in_batch
        is_g = (u < cut_g[s][:, None]) & in_batch & ~is_t
        nxt = g.succ[s, is_t.sum(axis=1), is_g.sum(axis=1)]
        state[active] = nxt
        active = active[~g.stop[nxt]]
    select = np.bincount(g.level[state], minlength=L + 1) / trials
    exp_n = g.n[state].mean(axis=0)
    exp_t = g.t[state].mean(axis=0)
    return OperatingCharacteristics(
        select=[float(x) for x in select],
        expected_subjects=[float(x) for x in exp_n],
        expected_dlts=[float(x) for x in exp_t],
        expected_total_subjects=float(exp_n.sum()),
        method="monte_carlo",
        trials=int(trials),
    )
