"""One interface for every player (OpenSpiel's Bot): the arena never asks what kind of player it runs.

    agent.act(games) -> int64[B]     one action per game of an ``envs.core`` batch (or an
                                     ``envs.game.Game``); -1 for finished games; games unchanged
    agent.act(games, streams=s)      the same, each game's random draws from its own stream
                                     (``agents.search.streams.GameStreams``; batch players only)
    agent.reset(seed=None)           a new match: forget per-game state, optionally reseed

Every agent takes a ``seed``; the same seed and the same positions give the same actions. A player that
acts on batches (``plays_batches``) also takes per-game streams: game b's moves are then those it would
get alone after ``reset(seed_b)``, whatever the size and company of its batch. Here too:
the baseline players (random, greedy, rollout MCTS) and the parser of their specs (``make_baseline``),
:class:`SingleGameAgent` for players that see one game at a time (an external GTP engine), the two ways a
player ends a game without a move (:class:`Resign`, :class:`AgentError`), random openings and score
intervals (``wilson``). Matches between agents are played by agents.match.
"""

import math
from dataclasses import asdict

import numpy as np

from agents.search.evaluators import RolloutEvaluator, UniformEvaluator, observe
from agents.search.mcts import MCTS, SearchConfig, choose_actions
from agents.search.streams import draw
from envs.core import make_batch


def as_batch(games):
    """Accept an ``envs.core`` batch or an ``envs.game.Game`` (a batch of one underneath)."""
    return getattr(games, "batch", games)


def random_argmax(scores, mask, rng):
    """``int64[B]``: per row, a uniformly random index among the maximal ``scores`` where ``mask``;
    -1 for rows with no legal entry. ``rng``: a numpy Generator, or ``GameStreams`` (one per row)."""
    s = np.where(mask, scores.astype(np.float64), -np.inf)
    best = s.max(axis=1, keepdims=True)
    ties = mask & (s == best)
    noise = draw(rng, mask.any(axis=1), lambda r, n: r.random((n, s.shape[1])), s.shape)
    out = np.argmax(np.where(ties, noise, -1.0), axis=1).astype(np.int64)
    out[~mask.any(axis=1)] = -1
    return out


class AgentError(Exception):
    """A player could not answer (an external engine that timed out, crashed or refused): the match engine
    (agents.match) records the game as that side's forfeit, with this message as the reason."""


class Resign(Exception):
    """A player resigned (agents.match records the game as that side's loss)."""


class Agent:
    name = "agent"
    plays_batches = True
    """Acts on a whole ``envs.core`` batch at once and takes per-game ``streams``; False for players
    that see one ``envs.game.Game`` at a time (:class:`SingleGameAgent`)."""
    needs_history = False
    """A batch player that reads the moves played (the sequence model): the match engine calls
    ``start_match(n)`` once and hands every ``act`` the games' ``histories`` and their ``ids`` in the match."""

    def __init__(self, seed=0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def act(self, games, streams=None):
        raise NotImplementedError

    def _rng(self, streams):
        return self.rng if streams is None else streams

    def reset(self, seed=None):
        if seed is not None:
            self.seed = seed
        self.rng = np.random.default_rng(self.seed)

    def __repr__(self):
        return self.name


class RandomAgent(Agent):
    """A uniformly random legal move (pass only where the rules allow it)."""

    name = "random"

    def act(self, games, streams=None):
        g = as_batch(games)
        mask = g.legal_mask()
        return random_argmax(np.zeros(mask.shape), mask, self._rng(streams))


class GreedyAgent(Agent):
    """The move that wins most at once: Othello, most discs flipped; Go, most stones captured (it
    passes only when nothing else is legal). Ties are broken at random with the agent's seed."""

    name = "greedy"

    def act(self, games, streams=None):
        g = as_batch(games)
        gains = g.move_gains()
        mask = gains >= 0
        if g.game == "go":
            board = mask[:, :-1].any(axis=1)
            mask[board, -1] = False  # never pass while a board move exists
        return random_argmax(gains, mask, self._rng(streams))


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

    last_search = None
    """The :class:`~agents.search.mcts.SearchResult` of the last ``act`` (root visits, improved policy,
    Q and value per game, the actions chosen), for whoever shows the search (``arena serve``); None
    before the first ``act`` and after ``reset``."""

    def act(self, games, streams=None):
        self.last_search = self.mcts.search(as_batch(games), streams=streams)
        return self.last_search.action

    def principal_variation(self, b=0, max_length=None):
        """The line the last ``act`` expects in game ``b``: ``[(action, visits)]``, the action it chose
        first, then the most visited child at each node of its tree (:meth:`MCTS.principal_variation`)."""
        if self.last_search is None or self.last_search.action[b] < 0:
            return []
        return self.mcts.principal_variation(b, first=int(self.last_search.action[b]), max_length=max_length)

    def reset(self, seed=None):
        super().reset(seed)
        if isinstance(self.evaluator, RolloutEvaluator):
            self.evaluator = RolloutEvaluator(self.evaluator.rollouts, seed=self.seed)
        self.mcts = MCTS(self.evaluator, self.config, seed=self.seed)
        self.last_search = None


class PolicyAgent(Agent):
    """The evaluator's prior alone, no search: the argmax legal move at ``temperature`` 0, else a sample
    from ``prior ** (1 / temperature)``. With a network evaluator this is "the net without search"."""

    def __init__(self, evaluator, temperature=0.0, seed=0, name="policy"):
        super().__init__(seed)
        self.evaluator, self.temperature, self.name = evaluator, float(temperature), name

    def evaluate(self, games):
        """``(priors float64[B, A], values float32[B])``: the evaluator's prior over each game's legal
        moves (0 elsewhere, summing to 1 over the legal ones) and its value for the side to move."""
        priors, values, _ = self._priors(as_batch(games))
        total = priors.sum(axis=1, keepdims=True)
        return priors / np.where(total > 0, total, 1.0), np.asarray(values, np.float32).reshape(-1)

    def act(self, games, streams=None):
        priors, _, mask = self._priors(as_batch(games))
        return choose_actions(priors, self.temperature, self._rng(streams), mask.any(axis=1))

    def _priors(self, g):
        mask = g.legal_mask()
        priors, values = self.evaluator.evaluate(observe(self.evaluator, g), mask, g)
        priors = np.where(mask, priors, 0.0) + mask * 1e-12  # a legal move even if the net gives it 0
        return priors, values, mask


class SingleGameAgent(Agent):
    """A player that reads one ``envs.game.Game`` at a time (it needs the move history). The preamble
    every such player shares is here: a finished game gets -1 and a forced pass (the only legal action)
    is played without asking; otherwise :meth:`choose` names the move."""

    plays_batches = False

    def act(self, games, streams=None):
        if streams is not None:
            raise TypeError(f"{self.name} plays one game at a time with its own seed; it takes no streams")
        if not hasattr(games, "history"):
            raise TypeError(f"{self.name} plays one envs.game.Game at a time (it reads the move history)")
        g = games
        if g.terminal:
            return np.array([-1], np.int64)
        legal = g.legal_actions()
        if legal == [g.size * g.size]:
            return np.array(legal, np.int64)  # a forced pass: nothing to ask
        return np.array([self.choose(g, legal)], np.int64)

    def choose(self, game, legal):
        """The action to play in ``game`` (unfinished, with a choice among ``legal``)."""
        raise NotImplementedError


# -- baseline specs -----------------------------------------------------------------------------------------

BASELINE_FORMS = "random, greedy, mcts:rollouts=N[,per_leaf=K,root=puct|gumbel,c_puct=X] (mcts:N for short)"


def split_options(spec, text, allowed):
    """``'a=1,b=x'`` -> ``{'a': '1', 'b': 'x'}``, every key in ``allowed``."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        if "=" not in item:
            raise ValueError(f"bad agent spec {spec!r}: option {item!r} is not key=value")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in allowed:
            raise ValueError(f"bad agent spec {spec!r}: unknown option {k!r} (known: {', '.join(allowed)})")
        out[k] = v
    return out


def number(spec, key, value, cast=int, low=0):
    """``value`` as a ``cast`` of at least ``low``; a one-line ``ValueError`` naming the spec otherwise."""
    try:
        v = cast(value)
    except ValueError:
        raise ValueError(f"bad agent spec {spec!r}: {key} must be a number, got {value!r}") from None
    if v < low:
        raise ValueError(f"bad agent spec {spec!r}: {key} must be at least {low}, got {v}")
    return v


def is_baseline(spec):
    return str(spec).strip().partition(":")[0] in ("random", "greedy", "mcts")


def make_baseline(spec, seed=0, forms=BASELINE_FORMS):
    """A baseline player from its spec: ``random``, ``greedy`` or ``mcts:rollouts=N`` (pure MCTS with N
    simulations, each valued by ``per_leaf`` random rollouts). These act on whole batches of games.
    ``forms``: the accepted forms the error for an unknown spec lists."""
    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    if kind == "random" and not rest:
        return RandomAgent(seed)
    if kind == "greedy" and not rest:
        return GreedyAgent(seed)
    if kind == "mcts":
        if rest.strip().isdigit():
            rest = f"rollouts={rest.strip()}"
        o = split_options(spec, rest, ("rollouts", "per_leaf", "root", "c_puct"))
        sims = number(spec, "rollouts", o.get("rollouts", "200"), low=1)
        per_leaf = number(spec, "per_leaf", o.get("per_leaf", "1"), low=1)
        search = {"root": o.get("root", "puct")}
        if "c_puct" in o:
            search["c_puct"] = number(spec, "c_puct", o["c_puct"], float)
        agent = MCTSAgent(RolloutEvaluator(per_leaf, seed=seed), simulations=sims, seed=seed, **search)
        agent.name = spec
        return agent
    raise ValueError(f"unknown agent spec {spec!r}; use one of: {forms}")


# -- matches ------------------------------------------------------------------------------------------------

def random_openings(game, size, n, plies, rng, seed=0, **game_kwargs):
    """``n`` random openings of ``plies`` uniformly random legal moves (Go: no passes while a board move
    exists), drawn with ``rng``: ``(moves, batch)``, the actions of each (a game that ends early keeps
    fewer) and the ``envs.core`` batch of the positions they reach. Tournaments and GRPO open with them."""
    g = make_batch(game, n, size, seed=seed, **game_kwargs)
    moves = [[] for _ in range(n)]
    for _ in range(plies):
        mask = g.legal_mask()
        if game == "go":
            mask[:, -1] &= ~mask[:, :-1].any(axis=1)  # no passes in an opening
        act = np.array([rng.choice(np.flatnonzero(m)) if m.any() else -1 for m in mask], np.int64)
        live = ~g.terminal
        act[~live] = -1
        g.step_where(live, act)  # finished games take no action
        for b in np.flatnonzero(live):
            moves[b].append(int(act[b]))
    return moves, g


def wilson(successes, n, z=1.96):
    """95% Wilson score interval of a proportion (draws count as half a success)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)
