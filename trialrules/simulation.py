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

Building the graph
------------------
``state_graph`` builds it one BFS layer at a time with whole-array NumPy operations
(``_build_fast``: packed int64 counts, a 64-bit hash of the state key to merge and look up states, every
match checked column by column). ``_build`` is the same breadth-first search one state at a time, with
the state key packed into one Python int; it verifies (``verify=True``), and takes over for designs
whose packed counts do not fit 64 bits or if two different states ever share a hash. Both number the
states in the same order and ask the engine once per decision key, in the same (first) state, so they
give the same graph; ``exact`` then adds the path probabilities in the same order as a plain loop over
the states would, so the operating characteristics do not depend on the builder.
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
    if dec.waiting:
        raise EngineError(f"engine waits with no pending subjects {_where(history)}: {dec.rationale}")
    if dec.continue_trial:
        if dec.next_dose_level is None or not 1 <= dec.next_dose_level <= design.n_levels:
            raise EngineError(f"engine continues at level {dec.next_dose_level!r} {_where(history)}")
        if dec.add_subjects < 1:
            raise EngineError(
                f"engine continues adding {dec.add_subjects} subjects {_where(history)}: {dec.rationale}"
            )
    elif dec.recommended_dose_level is not None and not 1 <= dec.recommended_dose_level <= design.n_levels:
        raise EngineError(f"engine recommends level {dec.recommended_dose_level!r} {_where(history)}")


def _where(history: Sequence[Outcome]) -> str:
    # Formatted only when there is an error to report: formatting every history the engine is asked
    # about cost about as much as the engine calls themselves.
    return f"after {format_outcomes(history)!r}"


def _same(design: Design, expected: Decision, a: Sequence[Outcome], b: Sequence[Outcome]) -> None:
    got = recommend(design, b)
    if _decision_key(got) != _decision_key(expected):
        raise EngineError(
            "histories with the same state key get different decisions: "
            f"{format_outcomes(a)!r} -> {_decision_key(expected)}, {format_outcomes(b)!r} -> {_decision_key(got)}"
        )


# A state is one int: ``n | t << S | code << 2S``, the evaluable subjects ``n`` and DLTs ``t`` packed
# _BITS bits per level (level i at bit _BITS * (i - 1), S = _BITS * L), ``code = cur * W + marker + 1``
# (W = L + 2) for the last level and the titration marker. No count exceeds _MAX_SUBJECTS_PER_LEVEL, so
# the fields never carry into each other. The decision key is the same int with ``t`` capped at 2.
_BITS = _MAX_SUBJECTS_PER_LEVEL.bit_length()
_MASK = (1 << _BITS) - 1


@dataclass(frozen=True)
class _Step:
    """What a continuing decision does to every state with its decision key."""

    offset: int  # added to a state's key (and decision key): the m subjects, the new last level
    kids: tuple[tuple[int, int, tuple[Outcome, ...]], ...]  # per child: + key, + decision key, batch
    shape: int  # index into the batch shapes: (level, m, titrating), for the edge positions


def _build(design: Design, verify: bool) -> StateGraph:
    """Breadth-first over the reachable states, asking the engine once per *decision key*.

    Probability states are keyed by ``(n, t, last level, titration marker)`` (module docstring). The
    engine compares DLT counts only with 1 and 2 (``td == 1``, ``t <= 1``, ``t >= 2``), so the decision
    itself is memoised on the same key with each DLT count capped at 2: 2/3 and 3/3 at a level get the
    same decision (only the rationale differs), and the engine is asked ~10 times less often. With
    `verify`, the engine is asked in every state and after reordering every batch, and must agree.

    Keys are packed ints (see ``_BITS``), hashed at once where a tuple of tuples is rehashed element by
    element at every dict lookup. Everything that depends on the decision alone -- the batch added, the
    children's key offsets, the new marker, the batches of outcomes -- is worked out once per decision
    key (a :class:`_Step`), so a state costs a lookup and its children an addition and a lookup each.
    """
    L, k = design.n_levels, design.titration_levels
    S, S2, W = _BITS * L, 2 * _BITS * L, L + 2
    root_marker = _TITRATING if k > 0 else _PASSED
    root = (root_marker + 1) << S2
    keys: list[int] = [root]  # per state: its key
    dkeys: list[int] = [root]  # per state: its decision key
    index: dict[int, int] = {root: 0}
    origin: list[tuple[int, tuple[Outcome, ...]]] = [(-1, ())]  # per state: (parent, batch) of one path
    memo: dict[int, tuple[int, Decision, tuple[Outcome, ...], _Step | None]] = {}
    distinct: list[Decision] = []  # memoised decisions, by id
    shape_of: list[int] = []  # per id: its batch shape, -1 when stopping
    shapes: dict[tuple[int, int, bool], int] = {}
    decision_id: list[int] = []  # per state
    fresh: list[Decision] = []  # per state, with `verify`: the engine's own decision there
    edge_to: list[int] = []  # successors, by state then by child (the order of each _Step.kids)
    calls = 0

    def history(s: int) -> tuple[Outcome, ...]:
        parts = []
        while s > 0:
            s, batch = origin[s]
            parts.append(batch)
        return tuple(o for part in reversed(parts) for o in part)

    def step(dec: Decision, dkey: int) -> _Step | None:
        if not dec.continue_trial:
            return None
        lvl, m = dec.next_dose_level, dec.add_subjects
        assert lvl is not None
        shift = _BITS * (lvl - 1)
        if (dkey >> shift & _MASK) + m > _MAX_SUBJECTS_PER_LEVEL:
            raise EngineError(f"engine keeps adding subjects at level {lvl}: {dec.rationale}")
        code = dkey >> S2
        marker = code % W - 1
        t_here = dkey >> (S + shift) & _MASK  # capped at 2
        titrating = marker == _TITRATING
        shape = shapes.setdefault((lvl, m, titrating), len(shapes))
        # the key's new (last level, marker) goes into the offset unless titration may end here
        offset = (m << shift) - (code << S2) + (0 if titrating else (lvl * W + marker + 1) << S2)
        kids = []
        for n_t, _n_g, new_marker, batch in _children(lvl, m, titrating, k):
            code_part = (lvl * W + new_marker + 1) << S2 if titrating else 0
            kids.append((
                (n_t << (S + shift)) + code_part,
                ((min(t_here + n_t, 2) - t_here) << (S + shift)) + code_part,
                batch,
            ))
        return _Step(offset, tuple(kids), shape)

    s = 0
    while s < len(keys):  # states are appended as discovered
        dkey = dkeys[s]
        hit = memo.get(dkey)
        if hit is None or verify:
            h = history(s)
            dec = recommend(design, h)
            calls += 1
            _check_decision(design, dec, h)
            if hit is None:
                st = step(dec, dkey)
                hit = memo[dkey] = (len(distinct), dec, h, st)
                distinct.append(dec)
                shape_of.append(-1 if st is None else st.shape)
            else:
                _same(design, hit[1], hit[2], h)
            batch = origin[s][1]
            if verify and len(batch) > 1:  # the same batch in the reverse order
                _same(design, dec, h, h[: -len(batch)] + batch[::-1])
            if verify:
                fresh.append(dec)
        decision_id.append(hit[0])
        st = hit[3]
        if st is not None:
            high, dhigh = keys[s] + st.offset, dkey + st.offset
            for dk, ddk, batch in st.kids:
                key = high + dk
                target = index.get(key)
                if target is None:
                    target = index[key] = len(keys)
                    keys.append(key)
                    dkeys.append(dhigh + ddk)
                    origin.append((s, batch))
                elif verify:  # a second path into a known state: same decision there?
                    h2 = history(target)
                    _same(design, recommend(design, h2), h2, history(s) + batch)
                edge_to.append(target)
        s += 1

    low = (1 << S) - 1
    ids = np.array(decision_id, dtype=np.int64)
    shape = np.array(shape_of, dtype=np.int64)[ids]
    # Edges: state s has the children of its shape, in order, at (#DLT, #G) = the shape's positions.
    shape_list = sorted(shapes, key=shapes.__getitem__)
    pos = [[(n_t, n_g) for n_t, n_g, _, _ in _children(lvl, m, tit, k)] for lvl, m, tit in shape_list]
    shape_len = np.array([len(p) for p in pos] + [0], dtype=np.int64)
    shape_start = np.concatenate(([0], np.cumsum(shape_len)[:-1]))
    flat = np.array([xy for p in pos for xy in p], dtype=np.int64).reshape(-1, 2)
    lens = shape_len[shape]  # shape -1 (stopping) -> the empty shape at the end
    first_edge = np.cumsum(lens) - lens
    row = np.repeat(shape_start[shape] - first_edge, lens) + np.arange(len(edge_to))
    edges = (np.repeat(np.arange(len(keys)), lens), flat[row, 0], flat[row, 1], np.array(edge_to, dtype=np.int64))
    parent, batches = [o[0] for o in origin], [o[1] for o in origin]
    return _finish(
        design,
        distinct=distinct,
        ids=ids,
        shape=shape,
        shape_list=shape_list,
        edges=edges,
        n_packed=[key & low for key in keys],
        t_packed=[key >> S & low for key in keys],
        decisions=fresh if verify else [distinct[i] for i in decision_id],
        calls=calls,
        parent=parent,
        batches=batches,
    )


def _finish(
    design: Design,
    *,
    distinct: list[Decision],
    ids: np.ndarray,
    shape: np.ndarray,
    shape_list: list[tuple[int, int, bool]],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_packed: list[int] | np.ndarray,
    t_packed: list[int] | np.ndarray,
    decisions: list[Decision],
    calls: int,
    parent: list[int],
    batches: list[tuple[Outcome, ...]],
) -> StateGraph:
    """The :class:`StateGraph` from a builder's per-state decision ids, batch shapes and edges.

    `ids` index `distinct`; `shape` indexes `shape_list` ((level, m, titrating), -1 when stopping); an
    edge (s, #DLT, #G, target) is given for every child of a continuing state.
    """
    L, k = design.n_levels, design.titration_levels
    size = len(ids)
    d_stop = np.array([not d.continue_trial for d in distinct], dtype=bool)
    d_level = np.array(
        [(d.next_dose_level if d.continue_trial else d.recommended_dose_level) or 0 for d in distinct],
        dtype=np.int64,
    )
    d_add = np.array([d.add_subjects for d in distinct], dtype=np.int64)
    stop, level, add = d_stop[ids], d_level[ids], d_add[ids]
    branch = np.array([tit and lvl <= k for lvl, _, tit in shape_list] + [False], dtype=bool)[shape]
    src, e_t, e_g, to = edges
    max_add = int(add.max(initial=0))
    succ = np.full((size, max_add + 1, max_add + 1), -1, dtype=np.int32)
    succ[src, e_t, e_g] = to
    # Where G is the same as N (no branching on G), any #G leads where #G = 0 leads.
    plain = ~branch[src]
    room = add[src] - e_t  # the most G outcomes possible with this many DLTs
    for n_g in range(1, max_add + 1):
        fill = plain & (room >= n_g)
        succ[src[fill], e_t[fill], n_g] = to[fill]
    n_arr = _unpack(n_packed, L)
    t_arr = _unpack(t_packed, L)
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


def _unpack(packed: list[int] | np.ndarray, n_levels: int) -> np.ndarray:
    """(S, L) int64 array of the per-level counts packed in `packed`."""
    wide = _BITS * n_levels > 63
    arr = np.array(packed, dtype=object if wide else np.int64).reshape(-1, 1)
    shifts = np.arange(n_levels, dtype=np.int64) * _BITS
    out = (arr >> (shifts.astype(object) if wide else shifts)) & _MASK
    return out.astype(np.int64).reshape(len(packed), n_levels)


def _children(lvl: int, m: int, titrating: bool, k: int) -> list[tuple[int, int, int, tuple[Outcome, ...]]]:
    """(#DLT, #G, new titration marker, the batch) for `m` subjects added at `lvl`, in edge order.

    The marker is only meaningful when `titrating` (otherwise it stays what it was).
    """
    o_t, o_g, o_n = Outcome(lvl, dlt=True), Outcome(lvl, dlt=False, tox2=True), Outcome(lvl, dlt=False)
    branch_g = titrating and lvl <= k
    out = []
    for n_t in range(m + 1):
        for n_g in range(m - n_t + 1) if branch_g else (0,):
            new_marker = _PASSED if lvl > k else (lvl if n_t + n_g else _TITRATING)
            out.append((n_t, n_g, new_marker, (o_t,) * n_t + (o_g,) * n_g + (o_n,) * (m - n_t - n_g)))
    return out


class _Collision(Exception):
    """Two different states share a hash in :func:`_build_fast` (never seen; the loop takes over)."""


_H1, _H2, _H3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)


def _hash(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A 64-bit mix of three int64 columns; equal rows, equal hash (the converse is checked)."""
    h = a.astype(np.uint64) * _H1
    h ^= h >> np.uint64(29)
    h += b.astype(np.uint64) * _H2
    h ^= h >> np.uint64(32)
    h += c.astype(np.uint64) * _H3
    h ^= h >> np.uint64(29)
    return h


def _groups(h: np.ndarray, cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows by first occurrence: (representative row of each, group of each row, their hashes).

    Rows with the same hash must be equal in every column of `cols`, else :class:`_Collision`.
    """
    u, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(first, kind="stable")
    label = np.empty_like(order)
    label[order] = np.arange(len(order))
    rep = first[inv]
    for col in cols:
        if not np.array_equal(col, col[rep]):
            raise _Collision
    return first[order], label[inv], u[order]


def _build_fast(design: Design) -> StateGraph:
    """The graph :func:`_build` makes, breadth-first one layer (all states of one depth) at a time.

    The states are int64 columns (packed n, packed t, packed t capped at 2, (last level, marker) code,
    as in :func:`_build`); a layer's children are made, merged and looked up with whole-array NumPy
    operations on a 64-bit hash of (n, t, code), every match checked column by column. The decision
    memo is :func:`_build`'s: the engine is asked once per decision key, in the first state (lowest
    index) that has it, so states, their order, decisions and edges are exactly the loop's.
    Raises :class:`_Collision` if two different states ever share a hash.
    """
    L, k = design.n_levels, design.titration_levels
    W = L + 2
    root_marker = _TITRATING if k > 0 else _PASSED
    one = np.zeros(1, dtype=np.int64)
    cols_n, cols_t, cols_tc, cols_c = [one], [one], [one], [one + root_marker + 1]
    known_h = _hash(one, one, cols_c[0])  # hashes of all states so far, sorted ...
    known_i = np.zeros(1, dtype=np.int64)  # ... and their states
    parent: list[int] = [-1]
    batches: list[tuple[Outcome, ...]] = [()]
    memo: dict[tuple[int, int, int], int] = {}
    distinct: list[Decision] = []
    id_shape: list[int] = []  # per id: batch shape, -1 when stopping
    shapes: dict[tuple[int, int, bool], int] = {}
    sh_lvl: list[int] = []
    sh_m: list[int] = []
    sh_tit: list[bool] = []
    sh_start: list[int] = []
    sh_len: list[int] = []
    kid_t: list[int] = []
    kid_g: list[int] = []
    kid_marker: list[int] = []
    kid_batch: list[tuple[Outcome, ...]] = []
    layer_ids, e_src, e_t, e_g, e_to = [], [], [], [], []
    hist_cache: dict[int, tuple[Outcome, ...]] = {0: ()}

    def history(s: int) -> tuple[Outcome, ...]:
        chain = []
        while s not in hist_cache:
            chain.append(s)
            s = parent[s]
        h = hist_cache[s]
        for x in reversed(chain):
            h = hist_cache[x] = h + batches[x]
        return h

    def decide(s: int, dkey: tuple[int, int, int]) -> None:
        h = history(s)
        dec = recommend(design, h)
        _check_decision(design, dec, h)
        memo[dkey] = len(distinct)
        distinct.append(dec)
        if not dec.continue_trial:
            id_shape.append(-1)
            return
        lvl, m = dec.next_dose_level, dec.add_subjects
        assert lvl is not None
        if (dkey[0] >> (_BITS * (lvl - 1)) & _MASK) + m > _MAX_SUBJECTS_PER_LEVEL:
            raise EngineError(f"engine keeps adding subjects at level {lvl}: {dec.rationale}")
        titrating = dkey[2] % W - 1 == _TITRATING
        shape = shapes.get((lvl, m, titrating))
        if shape is None:
            shape = shapes[(lvl, m, titrating)] = len(shapes)
            kids = _children(lvl, m, titrating, k)
            sh_lvl.append(lvl)
            sh_m.append(m)
            sh_tit.append(titrating)
            sh_start.append(len(kid_t))
            sh_len.append(len(kids))
            for n_t, n_g, new_marker, batch in kids:
                kid_t.append(n_t)
                kid_g.append(n_g)
                kid_marker.append(new_marker)
                kid_batch.append(batch)
        id_shape.append(shape)

    a, b = 0, 1  # the current layer: states a .. b - 1
    n, t, tc, c = cols_n[0], cols_t[0], cols_tc[0], cols_c[0]
    while a < b:
        # decisions: one per distinct decision key, asked in its first state
        reps, group, _ = _groups(_hash(n, tc, c), (n, tc, c))
        gid = []
        dkeys = zip(n[reps].tolist(), tc[reps].tolist(), c[reps].tolist(), strict=True)
        for r, dkey in zip(reps.tolist(), dkeys, strict=True):
            i = memo.get(dkey)
            if i is None:
                decide(a + r, dkey)
                i = memo[dkey]
            gid.append(i)
        ids = np.array(gid, dtype=np.int64)[group]
        layer_ids.append(ids)
        # children of the continuing states, by state then in the order of their shape's kids
        shape = np.array(id_shape, dtype=np.int64)[ids]
        src = np.nonzero(shape >= 0)[0]
        if not len(src):
            break
        sh = shape[src]
        lens = np.array(sh_len, dtype=np.int64)[sh]
        first_edge = np.cumsum(lens) - lens
        row = np.repeat(np.array(sh_start, dtype=np.int64)[sh] - first_edge, lens) + np.arange(int(lens.sum()))
        src = np.repeat(src, lens)
        sh = np.repeat(sh, lens)
        lvl = np.array(sh_lvl, dtype=np.int64)[sh]
        shift = _BITS * (lvl - 1)
        n_t = np.array(kid_t, dtype=np.int64)[row]
        n2 = n[src] + (np.array(sh_m, dtype=np.int64)[sh] << shift)
        t2 = t[src] + (n_t << shift)
        tc_src = tc[src]
        tc_here = tc_src >> shift & _MASK
        tc2 = tc_src + ((np.minimum(tc_here + n_t, 2) - tc_here) << shift)
        marker = np.where(np.array(sh_tit, dtype=bool)[sh], np.array(kid_marker, dtype=np.int64)[row], c[src] % W - 1)
        c2 = lvl * W + marker + 1
        # merge equal children, then look them up among the known states
        first, group, uh = _groups(_hash(n2, t2, c2), (n2, t2, c2))
        at = np.minimum(np.searchsorted(known_h, uh), len(known_h) - 1)
        found = known_h[at] == uh
        target = np.where(found, known_i[at], 0)
        old = target[found]
        fr = first[found]
        all_n, all_t, all_c = (np.concatenate(x) for x in (cols_n, cols_t, cols_c))
        if not (np.array_equal(all_n[old], n2[fr]) and np.array_equal(all_t[old], t2[fr])
                and np.array_equal(all_c[old], c2[fr])):
            raise _Collision
        new = first[~found]
        target[~found] = np.arange(b, b + len(new))
        e_src.append(a + src)
        e_t.append(n_t)
        e_g.append(np.array(kid_g, dtype=np.int64)[row])
        e_to.append(target[group])
        order = np.argsort(uh[~found], kind="stable")
        ins = np.searchsorted(known_h, uh[~found][order])
        known_h = np.insert(known_h, ins, uh[~found][order])
        known_i = np.insert(known_i, ins, np.arange(b, b + len(new))[order])
        parent.extend((a + src[new]).tolist())
        batches.extend([kid_batch[r] for r in row[new].tolist()])
        n, t, tc, c = n2[new], t2[new], tc2[new], c2[new]
        cols_n.append(n)
        cols_t.append(t)
        cols_tc.append(tc)
        cols_c.append(c)
        a, b = b, b + len(new)

    ids = np.concatenate(layer_ids)
    shape_list = sorted(shapes, key=shapes.__getitem__)
    return _finish(
        design,
        distinct=distinct,
        ids=ids,
        shape=np.array(id_shape, dtype=np.int64)[ids],
        shape_list=shape_list,
        edges=tuple(np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in (e_src, e_t, e_g, e_to)),
        n_packed=np.concatenate(cols_n),
        t_packed=np.concatenate(cols_t),
        decisions=[distinct[i] for i in ids.tolist()],
        calls=len(distinct),
        parent=parent,
        batches=batches,
    )


@lru_cache(maxsize=32)
def _cached_graph(design: Design) -> StateGraph:
    if _BITS * design.n_levels <= 62:  # packed counts fit an int64
        try:
            return _build_fast(design)
        except _Collision:  # two states share a 64-bit hash: never seen, but then the loop decides
            pass
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
    # The batch probabilities (#DLT, #G, P), P != 0, of each kind (level, size, branch on G) of batch.
    max_add = g.succ.shape[1] - 1
    code = np.where(g.stop, -1, (g.level * (max_add + 1) + g.add) * 2 + g.branch_g)
    kinds, kind = np.unique(code, return_inverse=True)
    kind = kind.reshape(-1)
    cells: list[tuple[int, int, float]] = []
    start, length = [], []
    for c in kinds.tolist():
        probs = []
        if c >= 0:
            b, lvl, m = c % 2, c // 2 // (max_add + 1), c // 2 % (max_add + 1)
            p_t = p[lvl - 1]
            p_g = (1.0 - p_t) * q[lvl - 1] if b else 0.0
            probs = [x for x in _batch_probabilities(m, p_t, p_g) if x[2] != 0.0]
        start.append(len(cells))
        length.append(len(probs))
        cells.extend(probs)
    cell = np.array(cells, dtype=np.float64).reshape(-1, 3)
    cell_t, cell_g, cell_p = cell[:, 0].astype(np.int64), cell[:, 1].astype(np.int64), cell[:, 2]
    kind_start, kind_len = np.array(start, dtype=np.int64)[kind], np.array(length, dtype=np.int64)[kind]
    # Mass flows along the edges in topological order. A batch adds >= 1 subject, so the states with the
    # same number of subjects (a run of `topo`) send their mass only to later runs: each run is one
    # vectorised step. np.add.at adds in the order given, i.e. state by state in `topo` order and batch
    # outcome by outcome -- the order, and so the floating-point sums, of the plain loop over states.
    topo = g.topo
    runs = np.flatnonzero(np.diff(g.n.sum(axis=1)[topo])) + 1
    mass = np.zeros(g.size)
    mass[0] = 1.0
    select_arr = np.zeros(L + 1)
    terminal_states: list[np.ndarray] = []
    terminal_mass: list[np.ndarray] = []
    for states in np.split(topo, runs):
        w = mass[states]
        live = w != 0.0
        states, w = states[live], w[live]
        ends = g.stop[states]
        if ends.any():
            np.add.at(select_arr, g.level[states[ends]], w[ends])
            terminal_states.append(states[ends])
            terminal_mass.append(w[ends])
        states, w = states[~ends], w[~ends]
        if len(states):
            lens = kind_len[states]
            row = np.repeat(kind_start[states] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
            src = np.repeat(states, lens)
            np.add.at(mass, g.succ[src, cell_t[row], cell_g[row]], np.repeat(w, lens) * cell_p[row])
    select = select_arr.tolist()
    total = sum(select)
    assert abs(total - 1.0) < 1e-12, f"path probabilities sum to {total!r}, not 1"
    idx = np.concatenate(terminal_states) if terminal_states else np.zeros(0, dtype=np.int64)
    wts = np.concatenate(terminal_mass) if terminal_mass else np.zeros(0)
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
