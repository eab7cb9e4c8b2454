"""Batched MCTS: B games searched at once, one evaluator call per simulation for all B leaves.

    from agents.search.mcts import MCTS, SearchConfig
    from agents.search.evaluators import RolloutEvaluator, observe
    mcts = MCTS(RolloutEvaluator(seed=1), SearchConfig(simulations=200), seed=1)
    result = mcts.search(games)        # games: an envs.core batch; it is not modified
    games.step(result.action)

Each simulation: ``tree.select`` walks every game's tree to a new leaf (Numba, no game rules), the
leaf states are rebuilt by replaying the path's actions (from the root, or from the parent's cached
state where a state is a few bytes, as in Othello), the evaluator sees the leaves that need it (new and
unfinished, of the games searched) in one call, and ``tree.expand_backup`` expands and backs up. Replaying from the root copies the root's superko table
too, so Go's positional superko is exact inside the tree.

Root policies (``SearchConfig.root``): ``"puct"`` (AlphaZero: PUCT with FPU reduction, Dirichlet noise
at the root, action by visit counts with a temperature) and ``"gumbel"`` (Gumbel AlphaZero: Gumbel-top-k
with sequential halving at the root, deterministic improved-policy selection inside, completed-Q
policy target), which stays sound at 8-32 simulations.
"""

from dataclasses import asdict, dataclass

import numpy as np

from agents.search import tree as T
from agents.search.evaluators import RolloutEvaluator, observe
from agents.search.streams import draw

CACHE_STATE_BYTES = 64  # cache per-node states when a state is at most this many bytes (Othello: 24)


@dataclass(frozen=True)
class SearchConfig:
    """One search's settings; every field is validated on construction."""

    simulations: int = 64
    """Simulations per search (new ones: a reused subtree adds its visits to them)."""
    root: str = "puct"
    """Root policy: ``"puct"`` or ``"gumbel"``."""
    c_puct: float = 1.25
    """PUCT exploration constant."""
    fpu_reduction: float = 0.25
    """Unvisited actions are valued at the node's mean value minus this times sqrt(visited prior mass)."""
    dirichlet_alpha: float = 0.3
    """Dirichlet concentration of the root noise (PUCT)."""
    dirichlet_fraction: float = 0.0
    """Weight of the Dirichlet noise in the root priors; 0 (the default, for play) turns it off;
    AlphaZero self-play uses 0.25."""
    temperature: float = 0.0
    """PUCT move choice: 0 picks the most visited action (first on ties), T > 0 samples from
    policy ** (1 / T). Gumbel ignores it: its exploration is the Gumbel noise."""
    max_considered: int = 16
    """Gumbel: actions sampled at the root for sequential halving."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the root Gumbel noise; 0 gives a deterministic search for evaluation."""
    c_visit: float = 50.0
    """Gumbel: sigma(q) = (c_visit + max N) * c_scale * q."""
    c_scale: float = 1.0
    """Gumbel: see c_visit."""
    reuse_tree: bool = False
    """Keep the chosen subtree between moves (:meth:`MCTS.advance`); PUCT only."""
    leaves_per_call: int = 1
    """Leaves of one game's tree evaluated per evaluator call: above 1, that many selections are made one
    after another under virtual loss (each leaves a loss on its path, so the next looks elsewhere; one that
    runs into a leaf of the same round still waiting for its value is dropped) and their leaves evaluated
    together. A single game's search then calls the net with K positions instead of one (a GPU, or eager
    torch, is several times faster per position at a batch than at one); the search is then close to, not
    the same as, one leaf at a time. Gumbel's root keeps its schedule (its visits count the pending ones)."""
    cache_states: str = "auto"
    """``"yes"``: store every node's state; ``"no"``: replay paths from the root; ``"auto"``: store
    them when a state is at most 64 bytes (Othello), replay otherwise (Go). Tree-only at B = 64:
    Go replays 1.4x faster than it caches (5 KB rows); Othello measured the same either way."""

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"SearchConfig: {msg}")

        if not isinstance(self.simulations, (int, np.integer)) or self.simulations < 0:
            bad(f"simulations must be a non-negative integer, got {self.simulations!r}")
        if self.root not in ("puct", "gumbel"):
            bad(f"root must be 'puct' or 'gumbel', got {self.root!r}")
        for name in ("c_puct", "fpu_reduction", "dirichlet_fraction", "temperature", "gumbel_scale",
                     "c_visit", "c_scale"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                bad(f"{name} must be a finite number >= 0, got {v!r}")
        if self.dirichlet_fraction > 1:
            bad(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if not self.dirichlet_alpha > 0:
            bad(f"dirichlet_alpha must be > 0, got {self.dirichlet_alpha!r}")
        if not isinstance(self.max_considered, (int, np.integer)) or self.max_considered < 1:
            bad(f"max_considered must be a positive integer, got {self.max_considered!r}")
        if not isinstance(self.leaves_per_call, (int, np.integer)) or self.leaves_per_call < 1:
            bad(f"leaves_per_call must be a positive integer, got {self.leaves_per_call!r}")
        if self.reuse_tree and self.leaves_per_call > 1:
            bad("reuse_tree works with one leaf per call only")
        if self.reuse_tree and self.root == "gumbel":
            bad("reuse_tree works with the PUCT root only (sequential halving starts from an empty root)")
        if self.cache_states not in ("auto", "yes", "no"):
            bad(f"cache_states must be 'auto', 'yes' or 'no', got {self.cache_states!r}")


@dataclass
class SearchResult:
    """What one search returns for each of the B games (finished games: zeros and action -1)."""

    visits: np.ndarray  # int32[B, A] root child visit counts
    policy: np.ndarray  # float32[B, A] improved policy: the training target
    q: np.ndarray       # float32[B, A] root child mean values, root's view (0 where unvisited)
    value: np.ndarray   # float32[B] root value, side to move's view
    action: np.ndarray  # int64[B] the chosen action


def dirichlet_noise(rng, mask, alpha):
    """``float64[B, A]``: a Dirichlet(alpha) sample over each row's legal actions (0 elsewhere). ``rng``: a
    numpy Generator, or :class:`~agents.search.streams.GameStreams` (rows with a legal action draw from
    their own streams)."""
    g = draw(rng, mask.any(axis=1), lambda r, n: r.gamma(alpha, size=(n, mask.shape[1])), mask.shape) * mask
    total = g.sum(axis=1, keepdims=True)
    return g / np.where(total > 0, total, 1.0)


def choose_actions(policy, temperature, rng, active):
    """``int64[B]``: argmax of ``policy`` (first on ties) at temperature 0, else a sample from
    ``policy ** (1 / temperature)``; -1 for inactive games. ``rng``: a numpy Generator, or
    :class:`~agents.search.streams.GameStreams` (the active games draw from their own streams)."""
    out = np.argmax(policy, axis=1).astype(np.int64)
    if temperature > 0:
        p = np.power(policy.astype(np.float64), 1.0 / temperature)
        cdf = np.cumsum(p, axis=1)
        u = draw(rng, active, lambda r, n: r.random(n), (policy.shape[0],)) * cdf[:, -1]
        out = np.minimum((cdf <= u[:, None]).sum(axis=1), policy.shape[1] - 1).astype(np.int64)
    out[~active] = -1
    return out


class MCTS:
    """Batched search with one evaluator; see the module docstring.

    ``evaluator`` answers ``evaluate(obs, mask, leaves) -> (priors float32[B, A], values float32[B])``
    (see :mod:`agents.search.evaluators`); ``seed`` drives the root noise and temperature sampling, unless
    a search is handed per-game streams (:meth:`search`).
    """

    def __init__(self, evaluator, config=None, seed=0, **overrides):
        base = config if config is not None else SearchConfig()
        self.config = SearchConfig(**{**asdict(base), **overrides}) if overrides else base
        self.evaluator = evaluator
        self.rng = np.random.default_rng(seed)
        self.tree = None
        self._shape = None
        self._last = None  # a copy of the last search's roots, advanced by advance() (tree reuse)
        self._last_ok = None

    # -- public ------------------------------------------------------------------------------------
    def reconfigure(self, config):
        """Search with ``config`` from the next call on (e.g. another simulation count); the tree is
        reallocated to its size and no earlier tree is reused. The random stream carries on."""
        self.config = config
        self._shape = self._last = self._last_ok = None

    def search(self, games, which=None, streams=None):
        """Search every unfinished game of ``games`` (an ``envs.core`` batch, left unchanged), or only
        those where ``which: bool[B]`` is true (the others get action -1), keeping one tree allocation
        for a batch whose searched subset changes from move to move.

        ``streams``: :class:`~agents.search.streams.GameStreams`, one per game of ``games``. The root noise,
        the temperature sampling and a :class:`RolloutEvaluator`'s rollouts then draw each game's numbers
        from its own stream (only for the games searched), so a game's search is the same in a batch of
        any size or company as alone; without them they come from this search's ``seed`` and the
        evaluator's own streams, as before."""
        cfg = self.config
        rng = self.rng if streams is None else streams
        self._prepare(games)
        t, bsz, na = self.tree, games.batch_size, games.num_actions
        active = ~games.terminal if which is None else ~games.terminal & np.asarray(which, np.bool_)
        kind = T.PUCT if cfg.root == "puct" else T.GUMBEL

        fresh = active & ~self._reusable(games)
        T.reset_roots(t, fresh)
        leaves = games.take(np.arange(bsz))
        zeros = np.zeros(bsz, np.int32)
        if fresh.any():
            self._evaluate_and_expand(leaves, active & fresh, zeros, fresh, streams)
        if self._cached:
            T.scatter_rows(games.i16, games.u64, zeros, active, self.node_i16, self.node_u64)
        raw_root_priors = None
        if cfg.root == "puct" and cfg.dirichlet_fraction > 0:
            raw_root_priors = t.children_prior[:, T.ROOT].copy()  # restored below: a reused root is noised once
            noise = dirichlet_noise(rng, games.legal_mask() & active[:, None], cfg.dirichlet_alpha)
            T.mix_root_noise(t, active, noise, cfg.dirichlet_fraction)
        if cfg.root == "gumbel":
            t.root_gumbel[:] = 0.0
            if cfg.gumbel_scale:
                t.root_gumbel[:] = cfg.gumbel_scale * draw(rng, active, lambda r, n: r.gumbel(size=(n, na)), (bsz, na))

        root_i16, root_u64 = games.i16.copy(), games.u64.copy()
        if cfg.leaves_per_call > 1:
            self._simulate_many(games, active, kind, root_i16, root_u64, streams)
        for sim in range(cfg.simulations if cfg.leaves_per_call == 1 else 0):
            T.select(t, active, kind, sim, self._schedule, cfg.max_considered, cfg.c_puct, cfg.fpu_reduction,
                     cfg.c_visit, cfg.c_scale, self._paths, self._depth, self._leaf, self._base, self._is_new)
            if self._cached:
                T.gather_rows(self.node_i16, self.node_u64, self._base, leaves.i16, leaves.u64)
                start = self._depth - self._is_new
            else:
                leaves.i16[:] = root_i16
                leaves.u64[:] = root_u64
                start = zeros
            games.K.apply_paths(leaves.i16, leaves.u64, self._paths, start, self._depth, games.geo)
            self._evaluate_and_expand(leaves, active, self._leaf, self._is_new, streams)

        visits = np.zeros((bsz, na), np.int32)
        q = np.zeros((bsz, na), np.float32)
        policy = np.zeros((bsz, na), np.float32)
        value = np.zeros(bsz, np.float32)
        action = np.full(bsz, -1, np.int64)
        T.root_outputs(t, active, kind, cfg.c_visit, cfg.c_scale, visits, q, policy, value, action)
        if cfg.root == "puct":
            action = choose_actions(policy, cfg.temperature, rng, active)
        if raw_root_priors is not None:
            t.children_prior[:, T.ROOT] = raw_root_priors
        leaves.i16[:], leaves.u64[:] = root_i16, root_u64
        self._last, self._last_ok = leaves, active
        return SearchResult(visits, policy, q, value, action)

    def advance(self, actions):
        """Tree reuse: ``actions: int[B]`` (-1 for none) were played from the kept roots; keep each
        game's chosen subtree. Call it for every move played, the opponent's too. The next search
        checks that its position is the kept root (it is never assumed) and starts afresh where not."""
        if self.tree is None or not self.config.reuse_tree or self._last is None:
            return
        a = np.asarray(actions, np.int64).reshape(-1)
        play = self._last_ok & (a >= 0)
        a = np.where(play, a, -1)
        T.reroot(self.tree, a, self.node_i16, self.node_u64)
        last = self._last
        last.K.apply_paths(last.i16, last.u64, a.astype(np.int32)[:, None], np.zeros(a.size, np.int32),
                           play.astype(np.int32), last.geo)
        self._last_ok = play & ~last.terminal

    def reset(self):
        """Forget every tree (tree reuse starts over)."""
        self._last = None

    def principal_variation(self, b=0, first=None, max_length=None):
        """Game ``b``'s expected line in the last search's tree, read from the tree arrays: from the root,
        ``first`` (e.g. the action the search chose: a Gumbel root plays its sequential-halving winner,
        which need not be the most visited) or else the most visited child, then at each node below the
        most visited child (the first slot, the lowest action, on ties), while that child has visits.
        ``[(action, visits)]``, at most ``max_length`` long; ``[]`` before any search or for a game
        that was not searched. A later search overwrites the tree."""
        t = self.tree
        if t is None or t.num_nodes[b] == 0:
            return []
        line, node = [], T.ROOT
        limit = int(t.num_nodes[b]) if max_length is None else min(int(max_length), int(t.num_nodes[b]))
        while len(line) < limit and not t.terminal[b, node]:
            m = int(t.num_children[b, node])
            kids = t.children_index[b, node, :m]
            visits = np.where(kids >= 0, t.node_visits[b, np.maximum(kids, 0)], 0)
            if first is not None and node == T.ROOT:
                slots = np.flatnonzero(t.children_action[b, node, :m] == first)
                k = int(slots[0]) if slots.size else -1
            else:
                k = int(np.argmax(visits)) if m else -1
            if k < 0 or visits[k] == 0:
                if first is not None and node == T.ROOT:
                    line.append((int(first), 0))  # chosen without a visit (no simulations)
                break
            line.append((int(t.children_action[b, node, k]), int(visits[k])))
            node = int(kids[k])
        return line

    # -- internals ---------------------------------------------------------------------------------
    def _prepare(self, games):
        cfg = self.config
        f, g = games.i16.shape[1], games.u64.shape[1]
        cache = cfg.cache_states == "yes" or (cfg.cache_states == "auto" and 2 * f + 8 * g <= CACHE_STATE_BYTES)
        cap = (2 if cfg.reuse_tree else 1) * cfg.simulations + 1
        shape = (games.game, games.size, games.batch_size, cap, cache)
        if shape == self._shape:
            return
        bsz, na = games.batch_size, games.num_actions
        self.tree = T.allocate(bsz, cap, na)
        self._cached = cache
        self.node_i16 = np.zeros((bsz, cap if cache else 0, f), np.int16)
        self.node_u64 = np.zeros((bsz, cap if cache else 0, g), np.uint64)
        self._paths = np.zeros((bsz, cap), np.int32)
        self._depth = np.zeros(bsz, np.int32)
        self._leaf = np.zeros(bsz, np.int32)
        self._base = np.zeros(bsz, np.int32)
        self._is_new = np.zeros(bsz, np.bool_)
        self._schedule = T.considered_visit_schedule(cfg.max_considered, cfg.simulations)
        self._shape = shape
        self._last = None

    def _reusable(self, games):
        """``bool[B]``: games whose kept tree's root is exactly this position and leaves room for this
        search's simulations (a tree reused again and again can outgrow the capacity: it starts over)."""
        last = self._last
        if not self.config.reuse_tree or last is None:
            return np.zeros(games.batch_size, np.bool_)
        same = (last.i16 == games.i16).all(axis=1) & (last.u64 == games.u64).all(axis=1)
        room = self.tree.num_nodes + self.config.simulations <= self.tree.parent.shape[1]
        return self._last_ok & same & (self.tree.num_nodes > 0) & room

    def _evaluate_and_expand(self, leaves, active, leaf, is_new, streams=None):
        # Only the leaves that need it go to the evaluator: new, unfinished leaves of searched games. The
        # rest (games outside ``which``, finished games, terminal or revisited leaves) are never evaluated,
        # so network positions count the simulations actually run. They are compacted into one smaller
        # batch and the results scattered back.
        mask = leaves.legal_mask()
        bsz, na = mask.shape
        need = np.flatnonzero(active & is_new & ~leaves.terminal & (leaf >= 0))
        priors = np.zeros((bsz, na), np.float32)
        values = np.zeros(bsz, np.float32)
        if need.size:
            sub = leaves if need.size == bsz else leaves.take(need)
            obs = observe(self.evaluator, sub)
            if streams is not None and isinstance(self.evaluator, RolloutEvaluator):
                p, v = self._rollouts(streams.take(need), obs, mask[need], sub)
            else:
                p, v = self.evaluator.evaluate(obs, mask[need], sub)
            p = np.asarray(p, np.float32)
            v = np.asarray(v, np.float32).reshape(-1)
            if p.shape != (need.size, na) or v.shape != (need.size,):
                raise ValueError(f"evaluator returned priors {p.shape} and values {v.shape}; "
                                 f"expected ({need.size}, {na}) and ({need.size},)")
            priors[need], values[need] = p, v
        T.expand_backup(self.tree, active, leaf, is_new, mask, priors, values, leaves.to_play.astype(np.int8),
                        leaves.terminal, leaves.reward_to_play())
        if self._cached:
            T.scatter_rows(leaves.i16, leaves.u64, leaf, is_new, self.node_i16, self.node_u64)

    def _simulate_many(self, games, active, kind, root_i16, root_u64, streams):
        # ``leaves_per_call`` selections per game under virtual loss, then one evaluation of all their
        # leaves (SearchConfig.leaves_per_call), until every active game has made its simulations.
        cfg, t = self.config, self.tree
        bsz, K = games.batch_size, cfg.leaves_per_call
        rows = np.repeat(np.arange(bsz), K)  # row b * K + j: selection j of game b
        leaves = games.take(rows)
        paths = np.zeros((bsz * K, t.parent.shape[1]), np.int32)
        depth, leaf = np.zeros(bsz * K, np.int32), np.zeros(bsz * K, np.int32)
        is_new, valid = np.zeros(bsz * K, np.bool_), np.zeros(bsz * K, np.bool_)
        done = np.zeros(bsz, np.int64)
        while True:
            todo = active & (done < cfg.simulations)
            if not todo.any():
                return
            want = np.minimum(K, cfg.simulations - done)
            T.select_many(t, todo, want, done, kind, self._schedule, cfg.max_considered, cfg.c_puct,
                          cfg.fpu_reduction, cfg.c_visit, cfg.c_scale, paths, depth, leaf, is_new, valid)
            leaves.i16[:], leaves.u64[:] = root_i16[rows], root_u64[rows]
            games.K.apply_paths(leaves.i16, leaves.u64, paths, np.zeros(bsz * K, np.int32), depth, games.geo)
            mask = leaves.legal_mask()
            need = np.flatnonzero(valid & is_new & ~leaves.terminal)
            priors = np.zeros((bsz * K, games.num_actions), np.float32)
            values = np.zeros(bsz * K, np.float32)
            if need.size:
                sub = leaves.take(need)
                obs = observe(self.evaluator, sub)
                if streams is not None and isinstance(self.evaluator, RolloutEvaluator):
                    p, v = self._rollouts(streams.take(rows[need]), obs, mask[need], sub)
                else:
                    p, v = self.evaluator.evaluate(obs, mask[need], sub)
                priors[need], values[need] = np.asarray(p, np.float32), np.asarray(v, np.float32).reshape(-1)
            T.expand_backup_many(t, valid, leaf, is_new, mask, priors, values, leaves.to_play.astype(np.int8),
                                 leaves.terminal, leaves.reward_to_play())
            done += np.bincount(rows[valid], minlength=bsz)

    def _rollouts(self, streams, obs, mask, sub):
        # A RolloutEvaluator draws row i of a call from its kept stream i (its ``rng: uint64[R]``, advanced
        # in place). Lent the stream words of the games these leaves belong to for the call, it plays each
        # game's rollouts from that game's stream, whatever row the compaction gave the leaf; its own
        # streams are put back untouched.
        ev = self.evaluator
        kept, ev.rng = ev.rng, streams.words
        try:
            out = ev.evaluate(obs, mask, sub)
            streams.words = ev.rng[: len(streams)]
        finally:
            ev.rng = kept
        return out
