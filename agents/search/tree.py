"""The search tree as preallocated arrays, and the game-independent Numba kernels that walk it.

Layout (mctx's, with children kept as compact slots): B games, capacity N nodes per game, A actions.
Node 0 is the root; a search of S simulations writes node ``num_nodes + i`` at simulation i (the slot
stays empty when simulation i ends at a terminal node already in the tree), so the tree needs no
allocation while it searches.

    node_visits       int32[B, N]     visits, the node's own expansion included
    node_value_sum    float64[B, N]   sum of backed-up values, from the view of the side to move there
    raw_value         float32[B, N]   evaluator value at expansion (exact result at a terminal), same view
    parent            int32[B, N]     NO_PARENT at the root and in empty slots
    action            int32[B, N]     action leading here from the parent
    to_play           int8[B, N]      0 black, 1 white
    terminal          bool[B, N]
    num_children      int32[B, N]     legal actions at the node
    children_action   int32[B, N, A]  slot k < num_children: the k-th legal action, ascending
    children_index    int32[B, N, A]  slot k: the child node, or UNVISITED
    children_prior    float32[B, N, A]  slot k: prior, normalised over legal actions
    root_gumbel       float64[B, A]   Gumbel noise of the current search, by action (Gumbel root only)
    num_nodes         int32[B]        next free slot

Children are slots over legal actions only, so selection loops over ~10 entries in Othello instead of
65, and ascending slots keep "first action on ties". A child's visits and values are read through
``children_index`` from the node fields, which are small enough to stay in cache; the [B, N, A] fields
are written once, at expansion. Values are from the view of the side to move at the node that owns
them; Q(s, a) from s's view flips the child's sign only when the side to move changes (every action in
our games alternates, passes included, but the sign is read from ``to_play`` instead of assumed).
Everything is float64 so that the plain-Python reference search (``agents.search.reference``) reproduces
the arithmetic exactly.
"""

import math
from typing import NamedTuple

import numba as nb
import numpy as np

ROOT = 0
NO_PARENT = -1
UNVISITED = -1
PUCT, GUMBEL = 0, 1


class Tree(NamedTuple):
    node_visits: np.ndarray
    node_value_sum: np.ndarray
    raw_value: np.ndarray
    parent: np.ndarray
    action: np.ndarray
    to_play: np.ndarray
    terminal: np.ndarray
    num_children: np.ndarray
    children_action: np.ndarray
    children_index: np.ndarray
    children_prior: np.ndarray
    root_gumbel: np.ndarray
    num_nodes: np.ndarray


def allocate(batch_size, capacity, num_actions):
    """An empty tree. Rows are written when a node is created, so ``np.empty`` is enough."""
    b, n, a = batch_size, capacity, num_actions
    return Tree(
        node_visits=np.zeros((b, n), np.int32), node_value_sum=np.zeros((b, n), np.float64),
        raw_value=np.zeros((b, n), np.float32), parent=np.full((b, n), NO_PARENT, np.int32),
        action=np.full((b, n), -1, np.int32), to_play=np.zeros((b, n), np.int8),
        terminal=np.zeros((b, n), np.bool_), num_children=np.zeros((b, n), np.int32),
        children_action=np.empty((b, n, a), np.int32), children_index=np.empty((b, n, a), np.int32),
        children_prior=np.empty((b, n, a), np.float32), root_gumbel=np.zeros((b, a), np.float64),
        num_nodes=np.zeros(b, np.int32))


def considered_visit_schedule(max_considered, num_simulations):
    """``int32[max_considered + 1, S]``: row m gives, for each simulation, the visit count a root action
    must have to be chosen when m actions are considered (sequential halving, Danihelka et al. 2022).

    With m actions and ``ceil(log2 m)`` phases, each phase gives every surviving action
    ``max(1, S // (phases * survivors))`` more visits, then halves the survivors (never below 2).
    Survivors always share one visit count, so the row is that count simulation by simulation.
    """
    s = int(num_simulations)
    table = np.zeros((max_considered + 1, max(s, 1)), np.int32)
    for m in range(max_considered + 1):
        if m <= 1:
            table[m, :s] = np.arange(s)  # a single action takes every simulation
            continue
        phases = math.ceil(math.log2(m))
        seq, level, k = [], 0, m
        while len(seq) < s:
            for _ in range(max(1, s // (phases * k))):
                seq.extend([level] * k)
                level += 1
            k = max(2, k // 2)
        table[m, :s] = seq[:s]
    return table


# -- selection --------------------------------------------------------------------------------------

@nb.njit(cache=True, inline="always")
def child_stats(t, b, s, k):
    """``(visits, Q from s's view)`` of slot k at node s; ``(0, 0.0)`` when unexpanded."""
    c = t.children_index[b, s, k]
    if c < 0 or t.node_visits[b, c] == 0:
        return 0, 0.0
    v = t.node_value_sum[b, c] / t.node_visits[b, c]
    return t.node_visits[b, c], (v if t.to_play[b, c] == t.to_play[b, s] else -v)


@nb.njit(cache=True)
def puct_slot(t, b, s, c_puct, fpu_reduction):
    """AlphaZero's PUCT at node s: argmax over slots of ``Q + (c_puct * sqrt(N(s))) * P / (1 + n)``,
    first maximum on ties. Unvisited actions take the first-play-urgency value: the node's mean value
    minus ``fpu_reduction * sqrt(prior mass already visited)`` (Leela Zero's FPU reduction)."""
    m = t.num_children[b, s]
    visited_mass = 0.0
    for k in range(m):
        c = t.children_index[b, s, k]
        if c >= 0 and t.node_visits[b, c] > 0:
            visited_mass += np.float64(t.children_prior[b, s, k])
    fpu = t.node_value_sum[b, s] / t.node_visits[b, s] - fpu_reduction * math.sqrt(visited_mass)
    coef = c_puct * math.sqrt(np.float64(t.node_visits[b, s]))
    best, best_k = -np.inf, -1
    for k in range(m):
        n, q = child_stats(t, b, s, k)
        if n == 0:
            u = fpu + coef * np.float64(t.children_prior[b, s, k])  # 1 + n is 1: no divide, same value
        else:
            u = q + coef * np.float64(t.children_prior[b, s, k]) / (1 + n)
        if u > best:
            best, best_k = u, k
    return best_k


@nb.njit(cache=True)
def sigma_completed_q(t, b, s, c_visit, c_scale, out):
    """Write ``sigma(completed Q)`` of node s's slots into ``out: float64[A]`` (Gumbel MuZero, eq. 33
    and appendix D): unvisited actions take the mixed value of the raw value and the prior-weighted
    visited Q, and sigma(q) = (c_visit + max N) * c_scale * (q + 1) / 2. Returns total child visits.

    Q is mapped to [0, 1] from the known value range [-1, 1], not by MuZero's min-max over the node's
    children (made for unbounded rewards): min-max stretches a 1e-3 gap between near-equal estimates
    to the full range, so an unvisited action valued just below a visited one is never tried. With
    rollout values that kept the search on a lost line in 6x6 endgames (tests/test_mcts.py)."""
    m = t.num_children[b, s]
    sum_n, max_n, mass, weighted = 0, 0, 0.0, 0.0
    for k in range(m):
        n, q = child_stats(t, b, s, k)
        if n > 0:
            sum_n += n
            max_n = max(max_n, n)
            p = np.float64(t.children_prior[b, s, k])
            mass += p
            weighted += p * q
    v_mix = np.float64(t.raw_value[b, s])
    if sum_n > 0 and mass > 0.0:
        v_mix = (v_mix + sum_n * weighted / mass) / (1 + sum_n)
    scale = (c_visit + max_n) * c_scale * 0.5
    for k in range(m):
        n, q = child_stats(t, b, s, k)
        out[k] = ((q if n > 0 else v_mix) + 1.0) * scale
    return sum_n


@nb.njit(cache=True)
def improved_policy(t, b, s, c_visit, c_scale, out):
    """``out[k]`` = softmax(log prior + sigma(completed Q)) over node s's slots. Returns total child
    visits."""
    m = t.num_children[b, s]
    sum_n = sigma_completed_q(t, b, s, c_visit, c_scale, out)
    top = -np.inf
    for k in range(m):
        p = t.children_prior[b, s, k]
        out[k] = out[k] + math.log(p) if p > 0 else -np.inf
        top = max(top, out[k])
    total = 0.0
    for k in range(m):
        out[k] = math.exp(out[k] - top) if out[k] > -np.inf else 0.0
        total += out[k]
    for k in range(m):
        out[k] /= total
    return sum_n


@nb.njit(cache=True)
def gumbel_interior_slot(t, b, s, c_visit, c_scale, work):
    """Gumbel MuZero's deterministic interior choice: argmax pi'(a) - N(a) / (1 + sum N)."""
    sum_n = improved_policy(t, b, s, c_visit, c_scale, work)
    best, best_k = -np.inf, -1
    for k in range(t.num_children[b, s]):
        n, _ = child_stats(t, b, s, k)
        u = work[k] - n / (1.0 + sum_n)
        if u > best:
            best, best_k = u, k
    return best_k


@nb.njit(cache=True)
def gumbel_root_score(t, b, c_visit, c_scale, work):
    """``work[k]`` = gumbel + log prior + sigma(completed Q) for the root's slots (-inf at prior 0)."""
    sigma_completed_q(t, b, ROOT, c_visit, c_scale, work)
    for k in range(t.num_children[b, ROOT]):
        p = t.children_prior[b, ROOT, k]
        work[k] = work[k] + t.root_gumbel[b, t.children_action[b, ROOT, k]] + math.log(p) if p > 0 else -np.inf


@nb.njit(cache=True)
def gumbel_root_slot(t, b, sim, schedule, max_considered, c_visit, c_scale, work):
    """Sequential halving at the root: among actions whose visit count equals the schedule's value for
    this simulation, the best by gumbel + log prior + sigma(completed Q)."""
    m = t.num_children[b, ROOT]
    target = schedule[min(max_considered, m), sim]
    gumbel_root_score(t, b, c_visit, c_scale, work)
    best, best_k, any_best, any_k = -np.inf, -1, -np.inf, 0
    for k in range(m):
        if work[k] > any_best:
            any_best, any_k = work[k], k
        n, _ = child_stats(t, b, ROOT, k)
        if n == target and work[k] > best:
            best, best_k = work[k], k
    return best_k if best_k >= 0 else any_k  # the fallback only serves a root whose visits left the schedule


@nb.njit(cache=True, inline="always")
def choose_slot(t, b, s, root_kind, sim, schedule, max_considered, c_puct, fpu_reduction, c_visit, c_scale, work):
    """The child slot a selection takes at node ``s`` of game ``b``: PUCT, or Gumbel's rule (the root's
    sequential halving at simulation ``sim``, the deterministic interior rule below it)."""
    if root_kind == PUCT:
        return puct_slot(t, b, s, c_puct, fpu_reduction)
    if s != ROOT:
        return gumbel_interior_slot(t, b, s, c_visit, c_scale, work)
    return gumbel_root_slot(t, b, sim, schedule, max_considered, c_visit, c_scale, work)


@nb.njit(cache=True, inline="always")
def new_child(t, b, s, k):
    """Create the node of slot ``k`` of node ``s`` in game ``b``'s next free slot (``num_nodes``, which the
    caller advances), unexpanded: no children, not terminal, the other side to move from its parent's
    (every action alternates in our games) until its expansion says otherwise. Returns its index."""
    child = t.num_nodes[b]
    t.parent[b, child] = s
    t.action[b, child] = t.children_action[b, s, k]
    t.node_visits[b, child] = 0
    t.node_value_sum[b, child] = 0.0
    t.num_children[b, child] = 0
    t.terminal[b, child] = False
    t.to_play[b, child] = 1 - t.to_play[b, s]
    t.children_index[b, s, k] = child
    return child


@nb.njit(cache=True)
def select(t, active, root_kind, sim, schedule, max_considered, c_puct, fpu_reduction, c_visit, c_scale,
           paths, depth, leaf, base, is_new):
    """One selection in every active game: walk from the root to an unexpanded action (creating its
    node in slot ``num_nodes``) or to a terminal node already in the tree.

    Writes ``paths: int32[B, D]`` (actions from the root), ``depth: int32[B]``, ``leaf: int32[B]`` (the
    new or terminal node), ``is_new: bool[B]`` and ``base: int32[B]`` (the deepest node whose state a
    caller may have cached: the leaf's parent when new, else the leaf itself).
    """
    work = np.empty(t.children_index.shape[2], np.float64)
    for b in range(t.num_nodes.shape[0]):
        depth[b] = 0
        leaf[b] = -1
        is_new[b] = False
        if not active[b]:
            continue
        s = ROOT
        while True:
            if t.terminal[b, s]:
                leaf[b], base[b] = s, s
                t.parent[b, t.num_nodes[b]] = NO_PARENT  # this simulation's slot stays empty
                break
            k = choose_slot(t, b, s, root_kind, sim, schedule, max_considered, c_puct, fpu_reduction, c_visit,
                            c_scale, work)
            paths[b, depth[b]] = t.children_action[b, s, k]
            depth[b] += 1
            child = t.children_index[b, s, k]
            if child == UNVISITED:
                child = new_child(t, b, s, k)
                leaf[b], base[b], is_new[b] = child, s, True
                break
            s = child
        t.num_nodes[b] += 1  # slot num_nodes belongs to this simulation even when it stays empty


# -- expansion and backup ---------------------------------------------------------------------------

@nb.njit(cache=True)
def expand_backup(t, active, leaf, is_new, mask, priors, values, leaf_to_play, leaf_terminal, exact):
    """Expand every new leaf with the evaluator's output and back its value up to the root.

    ``mask: bool[B, A]`` legal actions at the leaf; ``priors: float32[B, A]`` (clipped at 0 and
    renormalised over legal actions here, as ``p * (1 / sum)``, uniform when they sum to 0);
    ``values: float32[B]`` and ``exact: float32[B]`` (the game result where the leaf is terminal) are
    from the view of ``leaf_to_play``. A revisited terminal node backs up its stored exact value.
    """
    for b in range(leaf.shape[0]):
        if not active[b] or leaf[b] < 0:
            continue
        expand_backup_one(t, b, leaf[b], is_new[b], mask[b], priors[b], values[b], leaf_to_play[b],
                          leaf_terminal[b], exact[b])


@nb.njit(cache=True, inline="always")
def expand_backup_one(t, b, node, new, mask, priors, value, to_play, terminal, exact):
    """:func:`expand_backup` for one leaf ``node`` of game ``b`` (``mask``, ``priors``: its rows)."""
    if new:
        t.to_play[b, node] = to_play
        t.terminal[b, node] = terminal
        t.raw_value[b, node] = exact if terminal else value
        total, m = 0.0, 0
        for a in range(mask.shape[0]):
            if mask[a]:
                total += max(np.float64(priors[a]), 0.0)
                t.children_action[b, node, m] = a
                t.children_index[b, node, m] = UNVISITED
                m += 1
        t.num_children[b, node] = m
        scale = 1.0 / total if total > 0 else 0.0
        for k in range(m):
            p = max(np.float64(priors[t.children_action[b, node, k]]), 0.0)
            t.children_prior[b, node, k] = p * scale if total > 0 else 1.0 / m
    v = np.float64(t.raw_value[b, node])
    while node != NO_PARENT:
        t.node_visits[b, node] += 1
        t.node_value_sum[b, node] += v
        p = t.parent[b, node]
        if p != NO_PARENT and t.to_play[b, p] != t.to_play[b, node]:
            v = -v
        node = p


# -- many leaves of one tree per evaluation (virtual loss) ------------------------------------------

@nb.njit(cache=True)
def virtual_loss(t, b, leaf, sign):
    """Add (``sign`` 1) or take back (-1) one virtual loss on the path from game ``b``'s root to ``leaf``:
    a visit at every node, and below the root a loss for the side that chose the node (from the node's own
    view a win where the side to move changes), so that the round's next selections look elsewhere."""
    node = leaf
    while node != NO_PARENT:
        t.node_visits[b, node] += sign
        p = t.parent[b, node]
        if p != NO_PARENT:
            t.node_value_sum[b, node] += sign * (1.0 if t.to_play[b, node] != t.to_play[b, p] else -1.0)
        node = p


@nb.njit(cache=True)
def select_many(t, active, want, sim0, root_kind, schedule, max_considered, c_puct, fpu_reduction, c_visit,
                c_scale, paths, depth, leaf, is_new, valid):
    """Up to ``want[b]`` selections in every active game b before one evaluation of all their leaves.
    Selection j of game b is row ``b * K + j`` (``K = paths.shape[0] // B``) of ``paths: int32[B*K, D]``,
    ``depth``, ``leaf``, ``is_new`` and ``valid``; ``sim0[b]``: the simulations game b has made (the Gumbel
    root's schedule). A selection that runs into a leaf created earlier in the round, still waiting for
    its evaluation, is a collision: ``valid`` false, dropped. Each valid one leaves a virtual loss on its
    path (:func:`virtual_loss`), taken back by :func:`expand_backup_many`. A new leaf's ``to_play`` is
    the other side from its parent's (every action alternates in our games) until its expansion."""
    work = np.empty(t.children_index.shape[2], np.float64)
    B = t.num_nodes.shape[0]
    K = paths.shape[0] // B
    for b in range(B):
        for j in range(K):
            r = b * K + j
            depth[r], leaf[r], is_new[r], valid[r] = 0, -1, False, False
            if not active[b] or j >= want[b]:
                continue
            s = ROOT
            while True:
                if t.terminal[b, s]:
                    leaf[r], valid[r] = s, True
                    break
                if t.num_children[b, s] == 0:  # created this round: its evaluation is still to come
                    break
                k = choose_slot(t, b, s, root_kind, min(sim0[b] + j, schedule.shape[1] - 1), schedule,
                                max_considered, c_puct, fpu_reduction, c_visit, c_scale, work)
                paths[r, depth[r]] = t.children_action[b, s, k]
                depth[r] += 1
                child = t.children_index[b, s, k]
                if child == UNVISITED:
                    child = new_child(t, b, s, k)
                    t.num_nodes[b] += 1
                    leaf[r], is_new[r], valid[r] = child, True, True
                    break
                s = child
            if valid[r]:
                virtual_loss(t, b, leaf[r], 1)


@nb.njit(cache=True)
def expand_backup_many(t, valid, leaf, is_new, mask, priors, values, leaf_to_play, leaf_terminal, exact):
    """Take back the round's virtual losses, then expand every new leaf and back every value up, as
    :func:`expand_backup` (row ``b * K + j`` of the arrays: selection j of game b, :func:`select_many`)."""
    K = leaf.shape[0] // t.num_nodes.shape[0]
    for r in range(leaf.shape[0]):
        if valid[r]:
            virtual_loss(t, r // K, leaf[r], -1)
    for r in range(leaf.shape[0]):
        if valid[r]:
            expand_backup_one(t, r // K, leaf[r], is_new[r], mask[r], priors[r], values[r], leaf_to_play[r],
                              leaf_terminal[r], exact[r])


@nb.njit(cache=True)
def reset_roots(t, which):
    """Empty the trees of games ``which: bool[B]``; the next expansion of slot 0 makes their root."""
    for b in range(which.shape[0]):
        if which[b]:
            t.num_nodes[b] = 1
            t.parent[b, ROOT] = NO_PARENT
            t.node_visits[b, ROOT] = 0
            t.node_value_sum[b, ROOT] = 0.0


@nb.njit(cache=True)
def mix_root_noise(t, active, noise, fraction):
    """Root priors become ``(1 - fraction) * prior + fraction * noise`` (``noise: float64[B, A]`` by
    action), in float64, stored as float32."""
    for b in range(noise.shape[0]):
        if active[b]:
            for k in range(t.num_children[b, ROOT]):
                p = np.float64(t.children_prior[b, ROOT, k])
                t.children_prior[b, ROOT, k] = (1.0 - fraction) * p + fraction * noise[b, t.children_action[b, ROOT, k]]


# -- results and tree reuse ------------------------------------------------------------------------

@nb.njit(cache=True)
def root_outputs(t, active, root_kind, c_visit, c_scale, visits, q, policy, value, action):
    """Per game, by action: root child ``visits`` (int32[B, A]), ``q`` (float32[B, A], root's view, 0
    unvisited), improved ``policy`` (visit shares for PUCT, or the priors when no simulation ran;
    softmax(log prior + sigma(completed Q)) for Gumbel), root ``value`` (mean backed-up value) and,
    for Gumbel, the chosen ``action`` (among the most-visited, the best by gumbel + log prior +
    sigma(Q)); PUCT leaves ``action`` to the caller."""
    work = np.empty(visits.shape[1], np.float64)
    visits[:] = 0
    q[:] = 0.0
    policy[:] = 0.0
    for b in range(visits.shape[0]):
        action[b] = -1
        value[b] = 0.0
        if not active[b]:
            continue
        m = t.num_children[b, ROOT]
        total, most = 0, 0
        for k in range(m):
            n, qa = child_stats(t, b, ROOT, k)
            a = t.children_action[b, ROOT, k]
            visits[b, a] = n
            q[b, a] = qa
            total += n
            most = max(most, n)
        value[b] = t.node_value_sum[b, ROOT] / t.node_visits[b, ROOT]
        if root_kind == PUCT:
            for k in range(m):
                a = t.children_action[b, ROOT, k]
                policy[b, a] = visits[b, a] / total if total > 0 else t.children_prior[b, ROOT, k]
            continue
        improved_policy(t, b, ROOT, c_visit, c_scale, work)
        for k in range(m):
            policy[b, t.children_action[b, ROOT, k]] = work[k]
        gumbel_root_score(t, b, c_visit, c_scale, work)
        best = -np.inf
        for k in range(m):
            a = t.children_action[b, ROOT, k]
            if visits[b, a] == most and work[k] > best:
                best, action[b] = work[k], a


@nb.njit(cache=True)
def reroot(t, actions, node_i16, node_u64):
    """Keep, in every game, the subtree under the root's child ``actions[b]`` as the new tree (tree
    reuse); a game whose action was never expanded (or is -1) gets an empty tree.

    Parents are created before their children, so one pass in creation order finds the subtree, and
    compacting it in that order (new index <= old index) is safe in place and keeps node i older than
    node j for i < j. ``node_i16``/``node_u64`` are per-node cached states (shape [B, N, F]) moved
    along, or empty arrays when states are not cached.
    """
    cap = t.parent.shape[1]
    new_index = np.empty(cap, np.int32)
    cached = node_i16.shape[1] == cap
    for b in range(actions.shape[0]):
        top = -1
        for k in range(t.num_children[b, ROOT] if t.num_nodes[b] > 0 else 0):
            if t.children_action[b, ROOT, k] == actions[b]:
                top = t.children_index[b, ROOT, k]
        if top < 0:
            t.num_nodes[b] = 0
            continue
        count = 0
        for i in range(t.num_nodes[b]):
            new_index[i] = -1
            if i == top or (i > top and t.parent[b, i] >= 0 and new_index[t.parent[b, i]] >= 0):
                new_index[i] = count
                count += 1
        for i in range(top, t.num_nodes[b]):
            j = new_index[i]
            if j < 0:
                continue
            t.node_visits[b, j] = t.node_visits[b, i]
            t.node_value_sum[b, j] = t.node_value_sum[b, i]
            t.raw_value[b, j] = t.raw_value[b, i]
            t.parent[b, j] = NO_PARENT if i == top else new_index[t.parent[b, i]]
            t.action[b, j] = -1 if i == top else t.action[b, i]
            t.to_play[b, j] = t.to_play[b, i]
            t.terminal[b, j] = t.terminal[b, i]
            m = t.num_children[b, i]
            t.num_children[b, j] = m
            for k in range(m):
                ci = t.children_index[b, i, k]
                t.children_index[b, j, k] = new_index[ci] if ci >= 0 else ci
                t.children_action[b, j, k] = t.children_action[b, i, k]
                t.children_prior[b, j, k] = t.children_prior[b, i, k]
            if cached:
                node_i16[b, j] = node_i16[b, i]
                node_u64[b, j] = node_u64[b, i]
        t.num_nodes[b] = count


@nb.njit(cache=True)
def gather_rows(node_i16, node_u64, nodes, i16, u64):
    """Copy the cached state of node ``nodes[b]`` into row b of ``i16``/``u64`` (skips -1)."""
    for b in range(nodes.shape[0]):
        if nodes[b] >= 0:
            i16[b] = node_i16[b, nodes[b]]
            u64[b] = node_u64[b, nodes[b]]


@nb.njit(cache=True)
def scatter_rows(i16, u64, nodes, which, node_i16, node_u64):
    """Store row b of ``i16``/``u64`` as the cached state of node ``nodes[b]`` where ``which[b]``."""
    for b in range(nodes.shape[0]):
        if which[b] and nodes[b] >= 0:
            node_i16[b, nodes[b]] = i16[b]
            node_u64[b, nodes[b]] = u64[b]
