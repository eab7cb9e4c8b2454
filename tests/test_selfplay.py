"""Self-play records, the replay buffer and the learner step (the pieces under `arena train`)."""

import numpy as np
import pytest
import torch

from agents.search.evaluators import TorchEvaluator
from agents.alphazero.learner import augment, train_step
from agents.search.mcts import SearchConfig
from agents.alphazero.network import PolicyValueNet
from agents.alphazero.replay import ReplayBuffer
from agents.alphazero.selfplay import SelfPlay
from envs import symmetry
from envs.core import OthelloBatch


def tiny_net(size=4, planes=3):
    torch.manual_seed(0)
    return PolicyValueNet(planes, size, blocks=1, channels=8)


@pytest.mark.parametrize("root", ["gumbel", "puct"])
def test_selfplay_records_are_replayable_games(root):
    search = SearchConfig(simulations=8, root=root, dirichlet_fraction=0.25 if root == "puct" else 0.0)
    sp = SelfPlay(TorchEvaluator(tiny_net()), "othello", 4, games_in_flight=4, search=search, seed=1,
                  full_search_prob=0.5, cheap_simulations=2)
    records = list(sp.play(6))
    assert len(records) == 6
    for rec in records:
        g = OthelloBatch(1, size=4)
        for t, a in enumerate(rec.moves):
            assert (g.observation()[0] == rec.obs[t]).all() and g.to_play[0] == rec.to_play[t]
            assert abs(rec.policy[t].sum() - 1) < 1e-5 and (rec.policy[t][~g.legal_mask()[0]] == 0).all()
            g.step([a])
        assert g.terminal[0] and g.reward()[0] == rec.result
        assert set(rec.value_targets()) <= {-1.0, 0.0, 1.0}
    full = np.concatenate([r.full for r in records])
    assert 0 < full.mean() < 1  # playout-cap randomization mixes full and cheap searches


def test_same_seed_same_selfplay():
    def run():
        sp = SelfPlay(TorchEvaluator(tiny_net()), "othello", 4, games_in_flight=3, seed=5,
                      search=SearchConfig(simulations=4, root="gumbel"))
        return [r.moves.tolist() for r in sp.play(4)]

    assert run() == run()


def test_resignation_ends_games_and_no_resign_games_play_on():
    sp = SelfPlay(TorchEvaluator(tiny_net()), "othello", 4, games_in_flight=4, seed=2, resign_threshold=1.0,
                  no_resign_fraction=0.5, search=SearchConfig(simulations=4, root="gumbel"))
    records = list(sp.play(12))
    resigned = [r for r in records if r.resigned]
    assert resigned and len(resigned) < len(records)
    for r in resigned:
        assert len(r.moves) == 1 and r.result == (-1.0 if r.to_play[0] == 0 else 1.0)


def test_replay_buffer_window_sampling_and_atomic_roundtrip(tmp_path):
    sp = SelfPlay(TorchEvaluator(tiny_net()), "othello", 4, games_in_flight=2, seed=3,
                  search=SearchConfig(simulations=4, root="gumbel"))
    buf = ReplayBuffer(20, (3, 4, 4), 17)
    stored = sum(buf.add_game(r) for r in sp.play(5))
    assert buf.added == stored and buf.size == min(20, stored) and buf.games == 5
    obs, pol, val = buf.sample(8, np.random.default_rng(0))
    assert obs.shape == (8, 3, 4, 4) and pol.shape == (8, 17) and val.shape == (8,)
    path = tmp_path / "replay.npz"
    buf.save(path)
    back = ReplayBuffer.load(path)
    assert (back.obs[: back.size] == buf.obs[: buf.size]).all() and back.next == buf.next
    assert not (tmp_path / "replay.npz.tmp").exists()
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read replay buffer"):
        ReplayBuffer.load(path)


def test_augment_is_a_consistent_symmetry():
    rng = np.random.default_rng(0)
    g = OthelloBatch(5, size=6)
    g.step(g.random_actions())
    obs = g.observation()
    pol = g.legal_mask().astype(np.float32)
    a_obs, a_pol = augment(obs, pol, rng)
    # The legal plane of the observation moves exactly as the policy vector does.
    assert (a_obs[:, 2].reshape(5, -1) == a_pol[:, :36]).all()
    assert any(not np.array_equal(a_obs[i], obs[i]) for i in range(5))
    assert symmetry.NUM_SYMMETRIES == 8


def test_train_step_fits_a_fixed_batch():
    net = tiny_net(6)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    g = OthelloBatch(32, size=6)
    obs = g.observation()
    pol = g.legal_mask().astype(np.float32)
    pol /= pol.sum(axis=1, keepdims=True)
    val = np.ones(32, np.float32)
    first = train_step(net, opt, obs, pol, val, rng)["loss"]
    for _ in range(60):
        last = train_step(net, opt, obs, pol, val, rng)["loss"]
    assert last < 0.5 * first


def test_square_permuted_network_is_the_plain_network_on_permuted_planes(tmp_path):
    """The study's spatial control: ``permute_squares`` reshuffles the input planes' squares by a fixed,
    seeded permutation before the first convolution, and the checkpoint's config rebuilds it."""
    from agents.alphazero.evaluate import load_net
    from agents.alphazero.train import save_checkpoint
    from agents.alphazero.network import square_permutation
    from agents.alphazero.network import new_net
    from agents.alphazero.config import TrainConfig

    torch.manual_seed(0)
    plain = PolicyValueNet(3, 6, blocks=1, channels=8).eval()
    perm = PolicyValueNet(3, 6, blocks=1, channels=8, permute_squares=4).eval()
    perm.load_state_dict(plain.state_dict())  # the permutation is not a weight: same keys
    x = torch.randn(5, 3, 6, 6)
    p = square_permutation(6, 4)
    assert sorted(p.tolist()) == list(range(36)) and (p != torch.arange(36)).any()
    shuffled = x.flatten(2)[:, :, p].reshape(5, 3, 6, 6)
    for a, b in zip(perm(x), plain(shuffled)):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(perm(x)[0], plain(x)[0])
    cfg = TrainConfig(game="othello", size=6, network="b4c64", permute_squares=4)
    net = new_net(cfg)
    ck = save_checkpoint(str(tmp_path), net, torch.optim.SGD(net.parameters(), lr=0.1), 0, cfg, np.random.default_rng(0))
    loaded, lcfg, _ = load_net(ck)
    assert lcfg.permute_squares == 4 and torch.equal(loaded.perm, p)
    assert new_net(TrainConfig(game="othello", size=6)).perm is None
    from agents.alphazero.train import load_checkpoint

    with pytest.raises(ValueError, match="permute_squares"):  # resuming it as the plain net is refused
        load_checkpoint(ck, TrainConfig(game="othello", size=6, network="b4c64"))
    with pytest.raises(ValueError, match="permute_squares"):
        TrainConfig(permute_squares=-2)


def test_forward_flops_counts_convolutions_and_linear_layers():
    from agents.alphazero.network import forward_flops

    # stem 2*3*8*9*16, two residual convs 2*(2*8*8*9*16), policy 2*8*2*16 + 2*32*17, value 2*8*16 + 2*16*64 + 2*64
    assert forward_flops(PolicyValueNet(3, 4, blocks=1, channels=8)) == 6912 + 36864 + 512 + 1088 + 256 + 2048 + 128


def test_torch_evaluator_counts_forward_positions():
    ev = TorchEvaluator(tiny_net())
    ev.evaluate(np.zeros((5, 3, 4, 4), np.float32), np.ones((5, 17), bool), None)
    ev.evaluate(np.zeros((2, 3, 4, 4), np.float32), np.ones((2, 17), bool), None)
    assert ev.forward_positions == 7


# -- known answers: value targets and the learner step ------------------------------------------------------

def _record(to_play, result, moves=None):
    from agents.alphazero.selfplay import GameRecord

    T = len(to_play)
    return GameRecord(obs=np.zeros((T, 3, 4, 4), np.uint8), policy=np.full((T, 17), 1 / 17, np.float32),
                      to_play=np.array(to_play, np.int8), full=np.ones(T, bool), result=float(result),
                      resigned=False, false_resign=False,
                      moves=np.array(moves if moves is not None else [0] * T, np.int64))


def test_value_targets_known_answer_from_each_movers_view():
    # Seven plies, black first, with two forced white passes (action 16 on 4x4). Players alternate every
    # ply, passes included: black moves at plies 0, 2, 4, 6 and white at 1, 3, 5 whatever was played.
    to_play = [0, 1, 0, 1, 0, 1, 0]
    moves = [1, 2, 3, 16, 8, 16, 14]  # white passes at ply 3, then again at ply 5
    black_wins = _record(to_play, +1.0, moves).value_targets()
    assert black_wins.dtype == np.float32
    assert black_wins.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]
    white_wins = _record(to_play, -1.0, moves).value_targets()
    assert white_wins.tolist() == [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    assert _record(to_play, 0.0, moves).value_targets().tolist() == [0.0] * 7
    # An even-length game ending on white's move: the last target is white's view.
    assert _record([0, 1, 0, 1], -1.0).value_targets().tolist() == [-1.0, 1.0, -1.0, 1.0]
    # The target follows to_play, not the index (a record whose first mover is white).
    assert _record([1, 0, 1], +1.0).value_targets().tolist() == [-1.0, 1.0, -1.0]


def _random_finished_game(size, seed):
    from envs.game import Game

    rng = np.random.default_rng(seed)
    g = Game("othello", size)
    movers = []
    while not g.terminal:
        movers.append(g.to_play)
        g.play(int(rng.choice(g.legal_actions())))
    return g, movers


def test_value_targets_of_real_games_match_the_final_disc_count():
    """Random 6x6 games played to the end: the target of every ply is +1 when its mover ends with more
    discs, -1 with fewer, 0 level, counted from the final board (independently of reward())."""
    seen = set()
    for seed in range(40):
        g, movers = _random_finished_game(6, seed)
        n = g.size * g.size
        to_play = [i % 2 for i in range(len(g.history))]
        assert movers == to_play  # players alternate every ply, passes included
        cells = g.cells()
        black, white = int((cells == 1).sum()), int((cells == -1).sum())
        result = float(np.sign(black - white))
        assert g.reward() == result
        rec = _record(to_play, result, g.history)
        mine = np.array([black if p == 0 else white for p in to_play])
        theirs = np.array([white if p == 0 else black for p in to_play])
        assert rec.value_targets().tolist() == np.sign(mine - theirs).astype(np.float32).tolist()
        seen.add(result)
        if n in g.history[:-1]:
            seen.add("pass")
        if {1.0, -1.0, "pass"} <= seen:
            break
    assert {1.0, -1.0, "pass"} <= seen  # both winners and a mid-game pass were covered


def test_selfplay_value_targets_match_the_final_disc_count():
    sp = SelfPlay(TorchEvaluator(tiny_net()), "othello", 4, games_in_flight=4, seed=1,
                  search=SearchConfig(simulations=4, root="gumbel"))
    signs = set()
    for rec in sp.play(8):
        g = OthelloBatch(1, size=4)
        for a in rec.moves:
            g.step([a])
        cells = g.cells(0)
        black, white = int((cells == 1).sum()), int((cells == -1).sum())
        mover = np.where(rec.to_play == 0, black - white, white - black)
        assert rec.value_targets().tolist() == np.sign(mover).astype(np.float32).tolist()
        assert rec.to_play.tolist() == [i % 2 for i in range(len(rec.moves))]
        signs.add(float(np.sign(black - white)))
    assert {1.0, -1.0} <= signs


class _FixedSymmetries:
    """An rng stand-in for augment: sample i gets symmetry ks[i]."""

    def __init__(self, ks):
        self.ks = np.asarray(ks)

    def integers(self, low, high, size):
        assert (low, high) == (0, symmetry.NUM_SYMMETRIES)
        return self.ks[:size]


def test_augment_known_answer_policy_moves_with_the_board():
    n = 6
    r, c = 0, 2  # off both axes and both diagonals: its 8 images are distinct
    a = r * n + c
    obs = np.zeros((8, 3, n, n), np.float32)
    obs[:, 0, r, c] = 1.0
    pol = np.zeros((8, n * n + 1), np.float32)
    pol[:, a] = 0.75
    pol[:, n * n] = 0.25  # pass
    a_obs, a_pol = augment(obs, pol, _FixedSymmetries(range(8)))
    # rot90 counter-clockwise sends (r, c) to (n-1-c, r); the mirror then sends (i, j) to (i, n-1-j).
    expect = {}
    rr, cc = r, c
    for k in range(4):
        expect[k] = (rr, cc)
        expect[k + 4] = (rr, n - 1 - cc)
        rr, cc = n - 1 - cc, rr
    for k in range(8):
        er, ec = expect[k]
        assert a_obs[k, 0, er, ec] == 1.0 and a_obs[k].sum() == 1.0, k
        assert a_pol[k, er * n + ec] == 0.75 and a_pol[k, n * n] == 0.25 and a_pol[k].sum() == 1.0, k
    assert len({expect[k] for k in range(8)}) == 8


def _asymmetric_positions(count, size=6, seed=0):
    """Observations of distinct positions none of which is a symmetry image of itself or of another, each
    with one legal move chosen as its policy target (so augment's targets are consistent)."""
    g = OthelloBatch(64, size=size, seed=seed)
    for _ in range(4):
        g.step(g.random_actions())
    obs, legal = g.observation(), g.legal_mask()
    keep, seen = [], set()
    for b in range(64):
        images = [symmetry.apply_board(obs[b], k).tobytes() for k in range(8)]
        if len(set(images)) < 8 or seen & set(images) or not legal[b, :-1].any():
            continue
        seen |= set(images)
        keep.append(b)
        if len(keep) == count:
            break
    assert len(keep) == count
    obs, legal = obs[keep], legal[keep]
    rng = np.random.default_rng(seed)
    pol = np.zeros((count, size * size + 1), np.float32)
    for i in range(count):
        pol[i, rng.choice(np.flatnonzero(legal[i, :-1]))] = 1.0
    return obs, pol


def test_train_step_fits_known_targets_and_value_sign_matters():
    """Eight asymmetric positions with one-hot policy targets and +-1 value targets: repeated train_steps
    on the batch (random symmetries included) drive both losses down, the policy head learns the target
    moves and the value head the targets' signs; with the value targets negated it learns the opposite."""
    count = 8
    obs, pol = _asymmetric_positions(count)
    z = np.where(np.arange(count) % 2 == 0, 1.0, -1.0).astype(np.float32)

    def fit(value):
        torch.manual_seed(0)
        net = PolicyValueNet(3, 6, blocks=1, channels=16)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        rng = np.random.default_rng(0)
        first = train_step(net, opt, obs, pol, value, rng)
        hist = [train_step(net, opt, obs, pol, value, rng) for _ in range(150)]
        last = {k: float(np.mean([h[k] for h in hist[-10:]])) for k in first}
        assert all(abs(h["loss"] - h["policy_loss"] - h["value_loss"]) < 1e-4 for h in hist)
        with torch.no_grad():  # batch statistics, on the unaugmented positions
            logits, v = net(torch.from_numpy(obs))
        return first, last, logits.numpy(), v.numpy()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: one thread is faster, and immune to a busy machine
    try:
        fits = [(target, *fit(target)) for target in (z, -z)]
    finally:
        torch.set_num_threads(threads)
    for target, first, last, logits, v in fits:
        assert first["value_loss"] > 0.5 and first["policy_loss"] > 3.0  # untrained: v near 0, uniform policy
        assert last["policy_loss"] < 0.2 * first["policy_loss"], (first, last)
        assert last["value_loss"] < 0.3 * first["value_loss"], (first, last)
        assert (logits.argmax(1) == pol.argmax(1)).all()  # the policy head learned the target moves
        assert (np.sign(v) == target).all(), (target, v)  # and the value head the targets' direction
