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
