"""A slow, plain-Python PUCT search: one game, node objects, recursion-free. It exists to check the
Numba search (tests compare visit counts for the same seed) and as the baseline of the MCTS benchmark.

It shares no code with ``agents.search.tree``; it follows the same written rules (see ``tree.puct_slot`` and
``tree.expand_backup``) with the same float64 arithmetic in the same order, so results agree exactly.
"""

import math

import numpy as np

from agents.search.evaluators import observe


class Node:
    __slots__ = ("to_play", "terminal", "raw_value", "visits", "value_sum", "actions", "priors", "children")

    def __init__(self, to_play, terminal, raw_value):
        self.to_play = to_play
        self.terminal = terminal
        self.raw_value = raw_value
        self.visits = 0
        self.value_sum = 0.0
        self.actions = []   # legal actions, ascending
        self.priors = []    # float32 priors as Python floats
        self.children = []  # Node or None per legal action

    def q_of(self, child):
        v = child.value_sum / child.visits
        return v if child.to_play == self.to_play else -v


def _evaluate(evaluator, game):
    """Evaluate a batch of one game; returns (mask[A], priors[A], value, terminal value)."""
    mask = game.legal_mask()
    obs = observe(evaluator, game)
    priors, values = evaluator.evaluate(obs, mask, game)
    exact = float(game.reward_to_play()[0])
    return mask[0], np.asarray(priors, np.float32)[0], float(np.float32(values[0])), exact


def _make_node(evaluator, game):
    mask, priors, value, exact = _evaluate(evaluator, game)
    terminal = bool(game.terminal[0])
    node = Node(int(game.to_play[0]), terminal, exact if terminal else value)
    legal = [int(a) for a in np.flatnonzero(mask)]
    total = 0.0
    for a in legal:
        total += max(float(priors[a]), 0.0)
    scale = 1.0 / total if total > 0 else 0.0
    for a in legal:
        p = max(float(priors[a]), 0.0) * scale if total > 0 else 1.0 / len(legal)
        node.actions.append(a)
        node.priors.append(float(np.float32(p)))
        node.children.append(None)
    return node


def _select(node, c_puct, fpu_reduction):
    mass = 0.0
    for p, ch in zip(node.priors, node.children):
        if ch is not None and ch.visits > 0:
            mass += p
    fpu = node.value_sum / node.visits - fpu_reduction * math.sqrt(mass)
    coef = c_puct * math.sqrt(float(node.visits))
    best, best_k = -math.inf, -1
    for k, (p, ch) in enumerate(zip(node.priors, node.children)):
        if ch is None or ch.visits == 0:
            u = fpu + coef * p
        else:
            u = node.q_of(ch) + coef * p / (1 + ch.visits)
        if u > best:
            best, best_k = u, k
    return best_k


def _backup(path, value):
    v = value
    for i in range(len(path) - 1, -1, -1):
        node = path[i]
        node.visits += 1
        node.value_sum += v
        if i > 0 and path[i - 1].to_play != node.to_play:
            v = -v


def puct_search(game, evaluator, simulations, c_puct=1.25, fpu_reduction=0.25, root_noise=None,
                dirichlet_fraction=0.0):
    """Search game 0 of ``game`` (an ``envs.core`` batch of one, left unchanged).

    ``root_noise: float64[A]`` by action is mixed into the root priors with ``dirichlet_fraction``.
    Returns ``(visits int32[A], root Node)``.
    """
    root = _make_node(evaluator, game)
    _backup([root], root.raw_value)
    if root_noise is not None and dirichlet_fraction > 0:
        f = dirichlet_fraction
        root.priors = [float(np.float32((1.0 - f) * p + f * float(root_noise[a])))
                       for a, p in zip(root.actions, root.priors)]
    for _ in range(simulations):
        if root.terminal:
            break
        node, state, path = root, game.copy(), [root]
        while True:
            if node.terminal:
                break
            k = _select(node, c_puct, fpu_reduction)
            state.step([node.actions[k]])
            child = node.children[k]
            if child is None:
                child = node.children[k] = _make_node(evaluator, state)
                path.append(child)
                break
            node = child
            path.append(node)
        _backup(path, path[-1].raw_value)
    visits = np.zeros(game.num_actions, np.int32)
    for a, ch in zip(root.actions, root.children):
        if ch is not None:
            visits[a] = ch.visits
    return visits, root
