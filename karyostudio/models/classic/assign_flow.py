"""The joint class assignment as a min-cost flow over 24 classes: fast for any number of objects.

:mod:`karyostudio.models.classic.assign` states the problem with one Hungarian column per
*slot* (expected copies of a class, then its 1st, 2nd, ... extra copy). For a normal cell that
is a 46 x 70 matrix, but the extra slots grow with the cell (24 more columns per object beyond
46) and every max-marginal is a fresh solve: a debris field of 1,000 specks made a
1,000 x 23,000 matrix solved 2,000 times and never finished.

The same problem is a transportation problem: every object sends one unit to a class, and
class c's k-th unit costs ``marginal(c, k)`` (0 for expected copies, ``j * extra_copy_cost`` for
the j-th extra one, at most ``capacity[c]`` units). Because those costs rise with k, the slots
of one class collapse into a single class node, and everything that matters happens on a
graph of 24 class nodes and a sink:

- class a -> class b: move one member j of a to b, cost min_j (lp[j, a] - lp[j, b]);
- class a -> sink: a takes one more unit, cost marginal(a, count_a + 1);
- sink -> class b: b gives up one unit, cost -marginal(b, count_b).

Objects are added one at a time along the shortest path to the sink (successive shortest
paths, as the Hungarian method itself does row by row), so the assignment stays optimal for
the objects added so far. With the final assignment optimal, the graph has no negative cycle,
and forbidding object i its class c costs exactly the cheapest cycle through "i leaves c":
``lp[i, c] + min_{c' != c} (-lp[i, c'] + D[c', c])`` with D the all-pairs shortest paths of the
class graph. So all max-marginals come from one Floyd-Warshall pass on 25 nodes instead of N
solves. Work: O(N * (N/24 * 24 + 25^2)) for the assignment, O(N * 24) for the marginals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-9  # improvements smaller than this are float noise (keeps paths simple)


@dataclass(frozen=True)
class FlowSolution:
    """An optimal assignment of one hypothesis and what forbidding each object its class costs."""

    classes: np.ndarray  # (N,) class index of each object
    total: float  # total cost (-sum of log-probabilities + extra-copy penalties - fill bonuses), prior excluded
    forbid_delta: np.ndarray  # (N,) added cost of the best assignment with object i out of classes[i]


def _marginal(expected: np.ndarray, capacity: np.ndarray, extra_cost, units: np.ndarray,
              fill_bonus: float = 0.0) -> np.ndarray:
    """Cost of the ``units``-th unit of every class (inf beyond capacity): ``-fill_bonus`` for an
    expected copy, ``j * extra_cost`` for the j-th extra one. Never decreasing in ``units``, which
    is what lets one class node stand for all its slots."""
    extra = np.maximum(units - expected, 0).astype(np.float64) * extra_cost
    cost = np.where(units <= expected, -float(fill_bonus), extra)
    return np.where(units > capacity, np.inf, cost)


def solve_flow(cost: np.ndarray, expected: np.ndarray, capacity: np.ndarray, extra_cost,
               fill_bonus: float = 0.0) -> FlowSolution:
    """Optimal assignment of N objects to K classes for ``cost`` (N, K) = -log-probabilities.

    ``expected`` (K,) copies of each class each earn ``fill_bonus``, the j-th copy beyond them
    costs ``j * extra_cost`` (a number, or one per class), and a class takes at most
    ``capacity`` (K,) objects (sum >= N). A "no chromosome" class is one with nothing expected,
    no extra cost and room for every object.
    """
    n, k = cost.shape
    sink = k
    extra_cost = np.broadcast_to(np.asarray(extra_cost, dtype=np.float64), (k,))
    if int(capacity.sum()) < n:
        raise ValueError(f"{n} objects but room for only {int(capacity.sum())}")
    gain = -cost  # log-probabilities
    classes = np.full(n, -1, dtype=np.int64)
    count = np.zeros(k, dtype=np.int64)
    move = np.full((k, k), np.inf)  # move[a, b]: cheapest member of a to move to b
    mover = np.full((k, k), -1, dtype=np.int64)

    def refresh(a: int) -> None:
        members = np.flatnonzero(classes == a)
        if len(members) == 0:
            move[a], mover[a] = np.inf, -1
            return
        delta = gain[members, a][:, None] - gain[members]  # cost of moving each member to each class
        best = np.argmin(delta, axis=0)
        move[a] = delta[best, np.arange(k)]
        mover[a] = members[best]
        move[a, a], mover[a, a] = np.inf, -1

    for i in range(n):
        add = _marginal(expected, capacity, extra_cost, count + 1, fill_bonus)
        dist, succ = add.copy(), np.full(k, sink, dtype=np.int64)
        for _ in range(k + 1):  # Bellman-Ford to the sink over the class graph
            through = move + dist[None, :]
            nxt = np.argmin(through, axis=1)
            cand = through[np.arange(k), nxt]
            better = cand < dist - _EPS
            if not better.any():
                break
            dist[better], succ[better] = cand[better], nxt[better]
        first = int(np.argmin(cost[i] + dist))
        classes[i] = first
        changed = [first]
        node = first
        for _ in range(k):  # follow the path: each class on it hands one member on
            nxt = int(succ[node])
            if nxt == sink:
                break
            j = int(mover[node, nxt])
            classes[j] = nxt
            changed.append(nxt)
            node = nxt
        count[node] += 1
        for a in set(changed):
            refresh(a)

    count = np.bincount(classes, minlength=k)
    extra = np.maximum(count - expected, 0)
    total = (float(cost[np.arange(n), classes].sum()) + float((extra_cost * (extra * (extra + 1) // 2)).sum())
             - fill_bonus * float(np.minimum(count, expected).sum()))
    return FlowSolution(classes, total, _forbid_deltas(gain, classes, count, move, expected, capacity, extra_cost,
                                                       fill_bonus))


def _forbid_deltas(gain: np.ndarray, classes: np.ndarray, count: np.ndarray, move: np.ndarray,
                   expected: np.ndarray, capacity: np.ndarray, extra_cost: np.ndarray,
                   fill_bonus: float) -> np.ndarray:
    """For each object, the extra cost of the best assignment that keeps it out of its class."""
    k = len(count)
    sink = k
    graph = np.full((k + 1, k + 1), np.inf)
    graph[:k, :k] = move
    graph[:k, sink] = _marginal(expected, capacity, extra_cost, count + 1, fill_bonus)
    last = _marginal(expected, capacity, extra_cost, count, fill_bonus)
    graph[sink, :k] = np.where(count > 0, -last, np.inf)
    np.fill_diagonal(graph, 0.0)
    for via in range(k + 1):  # Floyd-Warshall (no negative cycles: the assignment is optimal)
        graph = np.minimum(graph, graph[:, via:via + 1] + graph[via:via + 1, :])
    back = graph[:k, :k]  # back[c', c]: cheapest way to refill class c after an object arrived in c'
    n = len(classes)
    detour = -gain + back[:, classes].T  # (N, 24): object i goes to c' instead, the rest adapts
    detour[np.arange(n), classes] = np.inf
    return gain[np.arange(n), classes] + detour.min(axis=1)
