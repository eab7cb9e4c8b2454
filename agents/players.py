"""One interface for every player (OpenSpiel's Bot): the arena never asks what kind of player it runs.

    agent.act(games) -> int64[B]     one action per game of an ``envs.core`` batch (or an
                                     ``envs.game.Game``); -1 for finished games; games unchanged
    agent.reset(seed=None)           a new match: forget per-game state, optionally reseed

Every agent takes a ``seed``; the same seed and the same positions give the same actions.
"""

from dataclasses import asdict

import numpy as np

from agents.evaluators import RolloutEvaluator, UniformEvaluator
from agents.mcts import MCTS, SearchConfig


def as_batch(games):
    """Accept an ``envs.core`` batch or an ``envs.game.Game`` (a batch of one underneath)."""
    return getattr(games, "batch", games)


def random_argmax(scores, mask, rng):
    """``int64[B]``: per row, a uniformly random index among the maximal ``scores`` where ``mask``;
    -1 for rows with no legal entry."""
    s = np.where(mask, scores.astype(np.float64), -np.inf)
    best = s.max(axis=1, keepdims=True)
    ties = mask & (s == best)
    noise = rng.random(s.shape)
    out = np.argmax(np.where(ties, noise, -1.0), axis=1).astype(np.int64)
    out[~mask.any(axis=1)] = -1
    return out


class Agent:
    name = "agent"

    def __init__(self, seed=0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def act(self, games):
        raise NotImplementedError

    def reset(self, seed=None):
        if seed is not None:
            self.seed = seed
        self.rng = np.random.default_rng(self.seed)

    def __repr__(self):
        return self.name


class RandomAgent(Agent):
    """A uniformly random legal move (pass only where the rules allow it)."""

    name = "random"

    def act(self, games):
        g = as_batch(games)
        mask = g.legal_mask()
        return random_argmax(np.zeros(mask.shape), mask, self.rng)


class GreedyAgent(Agent):
    """The move that wins most at once: Othello, most discs flipped; Go, most stones captured (it
    passes only when nothing else is legal). Ties are broken at random with the agent's seed."""

    name = "greedy"

    def act(self, games):
        g = as_batch(games)
        gains = g.move_gains()
        mask = gains >= 0
        if g.game == "go":
            board = mask[:, :-1].any(axis=1)
            mask[board, -1] = False  # never pass while a board move exists
        return random_argmax(gains, mask, self.rng)


class MCTSAgent(Agent):
    """Batched MCTS with any evaluator; with the default random-rollout evaluator it is the classic
    pure-MCTS baseline (``MCTSAgent(simulations=200)``). Extra keywords go to :class:`SearchConfig`."""

    def __init__(self, evaluator=None, simulations=200, seed=0, config=None, **search):
        super().__init__(seed)
        self.evaluator = evaluator if evaluator is not None else RolloutEvaluator(seed=seed)
        self.config = SearchConfig(**{**(asdict(config) if config else {}), "simulations": simulations, **search})
        self.mcts = MCTS(self.evaluator, self.config, seed=seed)
        kind = {RolloutEvaluator: "rollouts", UniformEvaluator: "uniform"}.get(type(self.evaluator), "net")
        self.name = f"mcts({kind},{simulations}{',gumbel' if self.config.root == 'gumbel' else ''})"

    def act(self, games):
        return self.mcts.search(as_batch(games)).action

    def reset(self, seed=None):
        super().reset(seed)
        if isinstance(self.evaluator, RolloutEvaluator):
            self.evaluator = RolloutEvaluator(self.evaluator.rollouts, seed=self.seed)
        self.mcts = MCTS(self.evaluator, self.config, seed=self.seed)


class PolicyAgent(Agent):
    """The evaluator's prior alone, no search: the argmax legal move at ``temperature`` 0, else a sample
    from ``prior ** (1 / temperature)``. With a network evaluator this is "the net without search"."""

    def __init__(self, evaluator, temperature=0.0, seed=0, name="policy"):
        super().__init__(seed)
        self.evaluator, self.temperature, self.name = evaluator, float(temperature), name

    def act(self, games):
        from agents.mcts import choose_actions

        g = as_batch(games)
        mask = g.legal_mask()
        priors, _ = self.evaluator.evaluate(g.observation(), mask, g)
        priors = np.where(mask, priors, 0.0) + mask * 1e-12  # a legal move even if the net gives it 0
        return choose_actions(priors, self.temperature, self.rng, mask.any(axis=1))
