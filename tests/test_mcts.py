"""Batched MCTS: invariants, agreement with the plain-Python PUCT, known answers from the exact solver,
the Gumbel sequential-halving schedule, tree reuse, the evaluator interface and the agents."""

import functools

import numpy as np
import pytest

from agents.search import tree as T
from agents.search.evaluators import Evaluator, RolloutEvaluator, TorchEvaluator, UniformEvaluator
from agents.search.mcts import MCTS, SearchConfig
from agents.search.reference import puct_search
from agents.players import GreedyAgent, MCTSAgent, RandomAgent
from agents.search.solver import solve
from envs.core import GoBatch, OthelloBatch, make_batch


class HashEvaluator(Evaluator):
    """Deterministic, batch-independent priors and values from an integer hash of each leaf's state,
    so that any row's output is bit-identical whatever the batch around it."""

    needs_observation = False

    def evaluate(self, obs, mask, leaves):
        out_p = np.zeros(mask.shape, np.float32)
        out_v = np.zeros(mask.shape[0], np.float32)
        for b in range(mask.shape[0]):
            h = hash((leaves.i16[b].tobytes(), leaves.u64[b].tobytes())) & 0xFFFFFFFF
            r = np.random.default_rng(h)
            out_p[b] = r.random(mask.shape[1]).astype(np.float32)
            out_v[b] = np.float32(r.uniform(-0.9, 0.9))
        return out_p, out_v


def random_positions(game, size, batch, plies, seed):
    g = make_batch(game, batch, size, seed=seed)
    for _ in range(plies):
        live = np.flatnonzero(~g.terminal)
        if live.size == 0:
            break
        sub = g.take(live)
        sub.step(sub.random_actions())
        g.put(live, sub)
    return g


# -- invariants -----------------------------------------------------------------------------------

@pytest.mark.parametrize("game,size", [("othello", 8), ("othello", 6), ("go", 9), ("go", 5)])
@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_visits_sum_to_simulations_and_outputs_are_sane(game, size, root):
    g = random_positions(game, size, 5, 6, seed=1)
    before = (g.i16.copy(), g.u64.copy())
    r = MCTS(RolloutEvaluator(seed=2), simulations=40, root=root, seed=3).search(g)
    assert (g.i16 == before[0]).all() and (g.u64 == before[1]).all()  # the batch is not modified
    mask = g.legal_mask()
    live = ~g.terminal
    assert (r.visits.sum(axis=1)[live] == 40).all()
    assert (r.visits[~mask] == 0).all()
    assert np.allclose(r.policy[live].sum(axis=1), 1.0, atol=1e-5)
    assert (r.policy[~mask] == 0).all()
    assert mask[np.arange(5)[live], r.action[live]].all()
    assert (np.abs(r.value) <= 1).all()


def test_finished_games_are_skipped():
    g = OthelloBatch(3, size=4)
    sub = g.take([1])
    while not sub.terminal[0]:
        sub.step(sub.random_actions())
    g.put([1], sub)
    r = MCTS(UniformEvaluator(), simulations=10).search(g)
    assert r.action[1] == -1 and r.visits[1].sum() == 0
    assert r.visits[0].sum() == 10 and r.visits[2].sum() == 10


# -- the plain-Python reference -------------------------------------------------------------------

@pytest.mark.parametrize("game,size", [("othello", 8), ("othello", 6), ("go", 9), ("go", 5)])
def test_numba_puct_matches_plain_python_with_noise(game, size):
    """B games at once against one reference search per game: identical visit counts, with a
    state-dependent evaluator, FPU reduction and Dirichlet noise drawn from the same seed."""
    g = random_positions(game, size, 4, 5, seed=7)
    cfg = dict(c_puct=1.5, fpu_reduction=0.3, dirichlet_fraction=0.25, dirichlet_alpha=0.5)
    r = MCTS(HashEvaluator(), simulations=120, seed=11, **cfg).search(g)
    noise = np.random.default_rng(11).gamma(0.5, size=(4, g.num_actions)) * g.legal_mask()
    noise /= np.maximum(noise.sum(axis=1, keepdims=True), 1e-300)
    for b in np.flatnonzero(~g.terminal):
        visits, root = puct_search(g.take([b]), HashEvaluator(), 120, c_puct=1.5, fpu_reduction=0.3,
                                   root_noise=noise[b], dirichlet_fraction=0.25)
        assert (visits == r.visits[b]).all(), (b, visits[visits > 0], r.visits[b][r.visits[b] > 0])
        assert abs(root.value_sum / root.visits - r.value[b]) < 1e-6


@pytest.mark.parametrize("game,size", [("othello", 6), ("go", 5)])
def test_numba_puct_matches_plain_python_with_rollouts(game, size):
    g = random_positions(game, size, 1, 4, seed=5)
    r = MCTS(RolloutEvaluator(seed=9), simulations=300).search(g)
    visits, _ = puct_search(g, RolloutEvaluator(seed=9), 300)
    assert (visits == r.visits[0]).all()


# -- known answers from the exact solver ----------------------------------------------------------

@functools.lru_cache(maxsize=1)
def othello_endgames():
    """6x6 positions (seeded random play down to 7 empty squares) with at least three legal moves
    of which the solver finds exactly one winning."""
    found = []
    for seed in range(200):
        g = OthelloBatch(1, size=6, seed=seed)
        while not g.terminal[0] and 32 - g.ply[0] > 7:
            g.step(g.random_actions())
        if g.terminal[0]:
            continue
        sol = solve(g)
        wins = [a for a, v in sol.items() if v == 1]
        if len(sol) >= 3 and len(wins) == 1:
            found.append((g, wins[0]))
        if len(found) == 4:
            return found
    raise AssertionError("the generator found too few endgames")


# 5x5 Go, komi 0.5, 6 plies before the 2*N*N cap ends the game: captures decide it. Each position was
# found by seeded random play and is re-solved exactly here; one move wins, at least three others lose.
GO_PROBLEMS = [
    ("""O O O . X
        O O O O X
        O . O X X
        O O O X .
        O O O X .""", "D5"),
    ("""O O O . O
        O O X O O
        O O X X .
        . . O O X
        O O X X .""", "B2"),
    ("""X X X X .
        X X X X X
        O O X X X
        O X . X X
        . O X X X""", "A1"),
]


def go_problem(text):
    g = GoBatch.from_text(text, to_play="black", komi=0.5)
    g.i16[0, 2] = 2 * 25 - 6  # PLY: six plies left before the cap
    return g


def test_search_finds_the_winning_othello_move():
    """PUCT only: Gumbel's interior rule values unvisited replies at v_mix, the prior-weighted mean of
    the visited ones, and so, with uniform priors and rollout values, rarely tries a new reply once one
    looks better than the mean; on these endgames it then misses refutations (it is built for learned
    priors; its root and target are tested below and on the Go problems)."""
    for g, win in othello_endgames():
        r = MCTS(RolloutEvaluator(4, seed=1), simulations=3000).search(g)
        assert r.action[0] == win, (g.render(), win, r.visits[0])
        assert r.q[0, win] > 0


@pytest.mark.parametrize("text,move", GO_PROBLEMS)
@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_search_finds_the_winning_go_move(text, move, root):
    g = go_problem(text)
    sol = solve(g)
    win = g.parse_move(move)
    assert sol[win] == 1 and sorted(sol.values()).count(1) == 1 and len(sol) >= 4
    r = MCTS(RolloutEvaluator(seed=1), simulations=2000, root=root, gumbel_scale=0.0).search(g)
    assert r.action[0] == win, (g.render(), r.visits[0])


def test_value_sign_is_the_side_to_move():
    """Values are from the view of the side to move: a won position is positive for its mover, and
    after the winning move the same search from the loser's side is negative. A move that ends the
    game with a win is valued exactly +1."""
    for g, win in othello_endgames()[:2]:
        r = MCTS(RolloutEvaluator(seed=3), simulations=1500).search(g)
        assert r.value[0] > 0.3 and r.q[0, win] > 0.3
        after = g.copy().step([win])
        r2 = MCTS(RolloutEvaluator(seed=3), simulations=1500).search(after)
        assert r2.value[0] < -0.3
    # White's a1 flips b1 and fills the board: 16-0 at once.
    w = OthelloBatch.from_text("""
        . X O O
        O O O O
        O O O O
        O O O O""", to_play="white")
    rw = MCTS(UniformEvaluator(), simulations=5).search(w)
    assert w.move_str(rw.action[0]) == "a1" and rw.q[0, rw.action[0]] == 1.0


def test_forced_pass_inside_the_tree_keeps_the_signs():
    """Black cannot move and must pass; white then fills a1 and wins 16-0. The pass node is valued 0
    by the uniform evaluator on its first visit and +1 for white (its side to move) on the 7 visits
    that reach the finished game, so black's Q of the pass is exactly -7/8."""
    g = OthelloBatch.from_text("""
        . X O O
        O O O O
        O O O O
        O O O O""", to_play="black")
    for root in ("puct", "gumbel"):
        m = MCTS(UniformEvaluator(), simulations=8, root=root)
        r = m.search(g)
        assert g.move_str(r.action[0]) == "pass" and r.visits[0, 16] == 8
        assert r.q[0, 16] == -0.875
        t = m.tree
        child = t.children_index[0, 0, 0]
        assert t.to_play[0, child] == 1 and t.node_value_sum[0, child] / t.node_visits[0, child] == 0.875
        grandchild = t.children_index[0, child, 0]
        assert t.terminal[0, grandchild] and t.raw_value[0, grandchild] == -1.0  # black's view: lost


# -- Gumbel ---------------------------------------------------------------------------------------

def test_sequential_halving_schedule():
    assert T.considered_visit_schedule(4, 8)[4].tolist() == [0, 0, 0, 0, 1, 1, 2, 2]
    assert T.considered_visit_schedule(4, 16)[4].tolist() == [0] * 4 + [1] * 4 + [2, 2, 3, 3, 4, 4, 5, 5]
    assert T.considered_visit_schedule(1, 5)[1].tolist() == [0, 1, 2, 3, 4]
    # 16 actions, 64 simulations: 4 phases of 16 simulations (16 x 1 visit, 8 x 2, 4 x 4, 2 x 8)
    row = T.considered_visit_schedule(16, 64)[16].tolist()
    assert row[:16] == [0] * 16
    assert row[16:32] == [1] * 8 + [2] * 8
    assert row[32:48] == [3] * 4 + [4] * 4 + [5] * 4 + [6] * 4
    assert row[48:] == [v for v in range(7, 15) for _ in range(2)]
    # 3 actions (2 phases): 3 x 1 visit, then the best 2 share the rest
    assert T.considered_visit_schedule(3, 9)[3].tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("sims,expected", [(4, [1, 1, 1, 1]), (8, [3, 3, 1, 1]), (16, [6, 6, 2, 2])])
def test_gumbel_uniform_reproduces_sequential_halving(sims, expected):
    """Othello's start has 4 moves. With uniform priors and zero values every score is the Gumbel noise,
    so the survivors of each halving are the actions with the largest noise."""
    g = OthelloBatch(6, size=8)
    m = MCTS(UniformEvaluator(), simulations=sims, root="gumbel", max_considered=4, seed=5)
    r = m.search(g)
    legal = np.flatnonzero(g.legal_mask()[0])
    for b in range(6):
        noise = m.tree.root_gumbel[b, legal]
        order = legal[np.argsort(-noise, kind="stable")]
        assert r.visits[b, order].tolist() == expected
        assert r.action[b] == order[0]


def test_gumbel_policy_target_is_a_distribution_favouring_good_moves():
    for g, win in othello_endgames()[:2]:
        r = MCTS(RolloutEvaluator(seed=2), simulations=64, root="gumbel", seed=1).search(g)
        assert abs(r.policy[0].sum() - 1) < 1e-5
        assert r.policy[0].argmax() == win


# -- tree reuse, determinism, configuration ------------------------------------------------------

def test_tree_reuse_keeps_the_subtree_and_checks_the_position():
    g = OthelloBatch(2, size=6)
    m = MCTS(RolloutEvaluator(seed=1), simulations=100, reuse_tree=True)
    r1 = m.search(g)
    g.step(r1.action)
    m.advance(r1.action)
    reply = RandomAgent(3).act(g)
    g.step(reply)
    m.advance(reply)
    kept = np.where(m.tree.num_nodes > 0, m.tree.node_visits[:, 0], 0)
    r2 = m.search(g)
    assert (kept > 0).any()
    expected = np.where(kept > 0, kept + 100, 101)  # a fresh root is expanded once, then 100 more
    assert (m.tree.node_visits[:, 0] == expected).all()
    assert (r2.visits.sum(axis=1) == expected - 1).all()
    # A position the tree was not told about gets a fresh tree.
    g.step(r2.action)
    r3 = m.search(g)
    assert (r3.visits.sum(axis=1) == 100).all()


def test_tree_reuse_never_outgrows_the_capacity_and_noises_a_root_once():
    """Searching one position again and again with reuse grows its tree by the simulations each time;
    past the capacity the search starts over instead of writing beyond the arrays. The root keeps its
    raw priors between searches, so Dirichlet noise is never mixed into noise."""
    g = OthelloBatch(2, size=6)
    m = MCTS(RolloutEvaluator(seed=1), simulations=20, reuse_tree=True, dirichlet_fraction=0.25)
    m.search(g)
    m_root = m.tree.num_children[:, 0].copy()  # slots past num_children are never written: not compared
    raw = [m.tree.children_prior[b, 0, : m_root[b]].copy() for b in range(2)]
    cap = m.tree.parent.shape[1]
    for _ in range(5):
        r = m.search(g)
        assert (m.tree.num_nodes <= cap).all()
        assert g.legal_mask()[np.arange(2), r.action].all()
        assert (m.tree.num_children[:, 0] == m_root).all()
        for b in range(2):
            assert (m.tree.children_prior[b, 0, : m_root[b]] == raw[b]).all()


def test_tree_reuse_gives_legal_results_for_go_superko():
    g = GoBatch(2, size=5)
    m = MCTS(RolloutEvaluator(seed=1), simulations=60, reuse_tree=True)
    for _ in range(6):
        r = m.search(g)
        assert g.legal_mask()[np.arange(2), r.action].all()
        g.step(r.action)
        m.advance(r.action)


def test_same_seed_same_search():
    g = random_positions("othello", 8, 3, 4, seed=2)
    kw = dict(simulations=50, dirichlet_fraction=0.25, temperature=1.0)
    a = MCTS(RolloutEvaluator(seed=4), seed=8, **kw).search(g)
    b = MCTS(RolloutEvaluator(seed=4), seed=8, **kw).search(g)
    assert (a.visits == b.visits).all() and (a.action == b.action).all()
    c = MCTS(RolloutEvaluator(seed=4), seed=8, simulations=50, root="gumbel").search(g)
    d = MCTS(RolloutEvaluator(seed=4), seed=8, simulations=50, root="gumbel").search(g)
    assert (c.visits == d.visits).all() and (c.action == d.action).all()


@pytest.mark.parametrize("bad", [dict(root="alphabeta"), dict(simulations=-1), dict(c_puct=float("nan")),
                                 dict(dirichlet_fraction=2), dict(root="gumbel", reuse_tree=True),
                                 dict(max_considered=0), dict(cache_states="maybe")])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="SearchConfig"):
        SearchConfig(**bad)


def test_state_caching_does_not_change_the_search():
    g = random_positions("othello", 8, 3, 3, seed=4)
    a = MCTS(HashEvaluator(), simulations=80, cache_states="yes").search(g)
    b = MCTS(HashEvaluator(), simulations=80, cache_states="no").search(g)
    assert (a.visits == b.visits).all()


# -- evaluators -----------------------------------------------------------------------------------

def test_torch_network_evaluator():
    torch = pytest.importorskip("torch")

    class Tiny(torch.nn.Module):
        def __init__(self, c, n):
            super().__init__()
            self.conv = torch.nn.Conv2d(c, 4, 3, padding=1)
            self.pi = torch.nn.Linear(4 * n * n, n * n + 1)
            self.v = torch.nn.Linear(4 * n * n, 1)

        def forward(self, x):
            h = torch.relu(self.conv(x)).flatten(1)
            return self.pi(h), torch.tanh(self.v(h)).squeeze(1)

    torch.manual_seed(0)
    g = random_positions("go", 5, 3, 3, seed=1)
    ev = TorchEvaluator(Tiny(4, 5))
    priors, values = ev.evaluate(g.observation(), g.legal_mask(), g)
    assert priors.shape == (3, 26) and values.shape == (3,)
    assert np.allclose(priors.sum(axis=1), 1, atol=1e-5) and (priors[~g.legal_mask()] == 0).all()
    for root in ("puct", "gumbel"):
        r = MCTS(ev, simulations=16, root=root).search(g)
        assert (r.visits.sum(axis=1) == 16).all()


def test_evaluator_with_wrong_shapes_is_a_clear_error():
    class Broken(Evaluator):
        needs_observation = False

        def evaluate(self, obs, mask, leaves):
            return np.ones((1, 3), np.float32), np.zeros(1, np.float32)

    with pytest.raises(ValueError, match="evaluator returned"):
        MCTS(Broken(), simulations=2).search(OthelloBatch(2))


# -- agents ---------------------------------------------------------------------------------------

def test_agents_play_legal_moves_and_are_seeded():
    g = random_positions("go", 9, 4, 10, seed=3)
    for agent in (RandomAgent(1), GreedyAgent(1), MCTSAgent(simulations=20, seed=1)):
        a = agent.act(g)
        assert g.legal_mask()[np.arange(4), a].all()
        agent.reset()
        assert (agent.act(g) == a).all()


def test_greedy_takes_the_most_flips_and_the_biggest_capture():
    g = OthelloBatch.from_text("""
        . . . . . .
        . . . . . .
        . X O O O .
        . . O . . .
        . . O . . .
        . . . . . .""")
    assert g.move_str(GreedyAgent(0).act(g)[0]) == "f3"  # flips three in a row
    go = GoBatch.from_text("""
        . X O O .
        . X O O X
        . . X X .
        . . . . .
        . . . . .""", komi=0.5)
    assert go.move_str(GreedyAgent(0).act(go)[0]) == "E5"  # captures four


def test_mcts_beats_random_on_6x6_othello():
    g = OthelloBatch(8, size=6, seed=2)
    mcts, rnd = MCTSAgent(simulations=100, seed=1), RandomAgent(seed=2)
    mcts_is_black = np.arange(8) % 2 == 0
    while not g.terminal.all():
        live = np.flatnonzero(~g.terminal)
        sub = g.take(live)
        a = np.where((sub.to_play == 0) == mcts_is_black[live], mcts.act(sub), rnd.act(sub))
        g.put(live, sub.step(a))
    score = np.where(mcts_is_black, g.reward(), -g.reward())
    assert (score > 0).sum() >= 7


@pytest.mark.slow
@pytest.mark.parametrize("root,rollouts", [("puct", 4), ("gumbel", 16)])
def test_search_solves_sixteen_harder_othello_endgames(root, rollouts):
    """9 empty squares, one winning move among at least three: 16 positions found by seeded random play
    and the exact solver. Both roots find every win at 5000 simulations (Gumbel with 16 rollouts per
    leaf, so that its halving compares less noisy estimates). About a minute and a half."""
    found = []
    for seed in range(1000, 1600):
        g = OthelloBatch(1, size=6, seed=seed)
        while not g.terminal[0] and 32 - g.ply[0] > 9:
            g.step(g.random_actions())
        if not g.terminal[0]:
            sol = solve(g)
            wins = [a for a, v in sol.items() if v == 1]
            if len(sol) >= 3 and len(wins) == 1:
                found.append((g, wins[0]))
        if len(found) == 16:
            break
    assert len(found) == 16
    for g, win in found:
        r = MCTS(RolloutEvaluator(rollouts, seed=1), simulations=5000, root=root, gumbel_scale=0.0).search(g)
        assert r.action[0] == win, (g.render(), win, r.visits[0])


class CountingEvaluator(UniformEvaluator):
    """Uniform priors and value 0, counting the rows it is asked for."""

    needs_observation = True

    def __init__(self):
        self.rows = 0

    def evaluate(self, obs, mask, leaves):
        assert obs.shape[0] == mask.shape[0] == leaves.batch_size
        self.rows += mask.shape[0]
        return super().evaluate(obs, mask, leaves)


@pytest.mark.parametrize("game,size,root", [("othello", 6, "puct"), ("othello", 4, "gumbel"), ("go", 5, "puct")])
def test_only_new_unfinished_leaves_of_searched_games_are_evaluated(game, size, root):
    """The evaluator sees exactly one row per non-terminal node each search creates in the games it
    searches: none for games outside ``which``, finished games, terminal or revisited leaves."""
    g = make_batch(game, 16, size, seed=3)
    rng = np.random.default_rng(0)
    plies = np.linspace(0, 3 * size * size, 16).astype(int)  # a mix of early, late and finished games
    for t in range(plies.max()):
        act = np.array([rng.choice(np.flatnonzero(m)) if m.any() else -1 for m in g.legal_mask()])
        g.step_where((t < plies) & ~g.terminal, act)
    assert g.terminal.any() and not g.terminal.all()
    ev = CountingEvaluator()
    mcts = MCTS(ev, SearchConfig(simulations=24, root=root))
    which = np.arange(16) % 4 == 0  # a quarter of the games, as playout-cap randomization searches them
    for w in (which, ~which, None):
        ev.rows = 0
        mcts.search(g, w)
        active = ~g.terminal & (np.ones(16, bool) if w is None else w)
        t = mcts.tree
        # Nodes this search created (a slot stays empty when a simulation ends at a known terminal node).
        made = [(t.node_visits[b, : t.num_nodes[b]] > 0) & ~t.terminal[b, : t.num_nodes[b]] for b in np.flatnonzero(active)]
        expected = sum(int(m.sum()) for m in made)
        assert ev.rows == expected <= int(active.sum()) * 25


def test_rollout_streams_carry_on_across_batch_sizes():
    """Rollouts draw from one kept stream per row whatever the size of the batch handed in, so two calls
    on the same leaves give fresh rollouts rather than a replay of the first."""
    g = make_batch("othello", 8, 6, seed=1)
    ev = RolloutEvaluator(1, seed=5)
    mask = g.legal_mask()
    _, v1 = ev.evaluate(None, mask, g)
    sub = g.take(np.arange(3))
    _, v2 = ev.evaluate(None, mask[:3], sub)
    _, v3 = ev.evaluate(None, mask, g)
    assert ev.rng.shape[0] >= 8
    fresh = RolloutEvaluator(1, seed=5)
    _, w1 = fresh.evaluate(None, mask, g)
    assert np.array_equal(v1, w1)  # the same seed, the same first rollouts
    many = [ev.evaluate(None, mask, g)[1] for _ in range(6)]
    assert any(not np.array_equal(v1, m) for m in many + [v3])  # later calls are new rollouts


# -- many leaves per evaluator call (virtual loss) ---------------------------------------------------

@pytest.mark.parametrize("root", ["puct", "gumbel"])
@pytest.mark.parametrize("k", [4, 16])
def test_many_leaves_per_call_keep_the_tree_whole_and_batch_the_evaluator(root, k):
    """Every virtual loss is taken back: each expanded node's visits are one plus its children's, the root
    holds exactly the simulations, every simulation made its one evaluation or revisited a terminal
    node; and the evaluator is called with up to k leaves of one game at a time."""
    calls = []

    class Counting(UniformEvaluator):
        def evaluate(self, obs, mask, leaves):
            calls.append(len(mask))
            return super().evaluate(obs, mask, leaves)

    g = OthelloBatch(3, size=6, seed=2)
    for _ in range(6):
        g.step(g.random_actions())
    m = MCTS(Counting(), SearchConfig(simulations=96, root=root, leaves_per_call=k), seed=1)
    r = m.search(g)
    t = m.tree
    assert (t.node_visits[:, 0] == 97).all() and (r.visits.sum(1) == 96).all()
    for b in range(3):
        for n in range(1, t.num_nodes[b]):
            kids = [c for c in t.children_index[b, n, :t.num_children[b, n]] if c >= 0]
            if not t.terminal[b, n]:
                assert t.node_visits[b, n] == 1 + sum(t.node_visits[b, c] for c in kids), (b, n)
    # The root's evaluation first, then rounds of up to 3 games x k leaves: far fewer calls than the 96
    # one leaf at a time needs, and no call larger than a round.
    assert calls[0] == 3 and max(calls) <= 3 * k and 96 // k <= len(calls) - 1 < 96
    assert sum(calls) == t.num_nodes.sum() - (t.terminal & (t.parent >= 0)).sum()  # every new, unfinished leaf


@pytest.mark.parametrize("text,move", GO_PROBLEMS)
@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_many_leaves_per_call_still_find_the_winning_go_move(text, move, root):
    g = go_problem(text)
    r = MCTS(RolloutEvaluator(seed=1), simulations=2000, root=root, gumbel_scale=0.0, leaves_per_call=8).search(g)
    assert r.action[0] == g.parse_move(move), (g.render(), r.visits[0])


def test_many_leaves_per_call_find_the_winning_othello_move():
    for g, win in othello_endgames():
        r = MCTS(RolloutEvaluator(4, seed=1), simulations=3000, leaves_per_call=8).search(g)
        assert r.action[0] == win, (g.render(), win, r.visits[0])
