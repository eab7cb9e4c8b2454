"""KataGo's auxiliary targets as an option of ``arena train``: the final owner of every point and the
final score margin, from the side to move. The owners agree with the rules' own count, the buffer turns
them to the side to move, the learner transforms them with their sample's symmetry, and a run trains,
checkpoints and resumes with the heads (and refuses to resume without them)."""

import numpy as np
import pytest
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.learner import augment, train_step
from agents.alphazero.network import PolicyValueNet
from agents.alphazero.replay import ReplayBuffer
from agents.alphazero.selfplay import GameRecord, SelfPlay
from agents.alphazero.train import train
from agents.common import checkpoint
from agents.search.evaluators import UniformEvaluator
from agents.search.mcts import SearchConfig
from envs.core import GoBatch, make_batch


@pytest.mark.parametrize("game,size", [("othello", 6), ("go", 7)])
def test_ownership_sums_to_the_rules_count_on_finished_random_games(game, size):
    g = make_batch(game, 64, size, seed=3)
    g.random_playouts()
    for b in range(64):
        own = g.ownership(b)
        assert own.dtype == np.int8 and own.shape == (size, size) and set(np.unique(own)) <= {-1, 0, 1}
        count = g.area_score(b) if game == "go" else g.score(b)
        assert int(own.sum()) == count


def test_go_ownership_of_a_picture():
    # Black owns the left region, white the right; the middle point touches both: nobody's.
    g = GoBatch.from_text("""
        . X . O .
        X X . O O
        . X . O .
        X X . O O
        . X . O .
    """)
    own = g.ownership(0)
    assert own[:, :2].tolist() == [[1, 1]] * 5 and own[:, 3:].tolist() == [[-1, -1]] * 5
    assert own[:, 2].tolist() == [0] * 5


def test_selfplay_records_carry_final_ownership_and_margin():
    sp = SelfPlay(UniformEvaluator(), "othello", 4, games_in_flight=4, search=SearchConfig(simulations=4), seed=1)
    for rec in sp.play(4):
        assert rec.ownership.shape == (16,) and int(rec.ownership.sum()) == rec.margin
        assert np.sign(rec.margin) == rec.result


def test_replay_turns_aux_targets_to_the_side_to_move_and_saves_them(tmp_path):
    T = 3
    rec = GameRecord(obs=np.zeros((T, 3, 4, 4), np.uint8), policy=np.full((T, 17), 1 / 17, np.float32),
                     to_play=np.array([0, 1, 0], np.int8), full=np.ones(T, bool), result=1.0, resigned=False,
                     false_resign=False, moves=np.zeros(T, np.int64),
                     ownership=np.array([1] * 10 + [-1] * 4 + [0] * 2, np.int8), margin=6.0)
    buf = ReplayBuffer(10, (3, 4, 4), 17)
    buf.add_game(rec)
    assert buf.ownership[:3].sum(1).tolist() == [6, -6, 6] and buf.score[:3].tolist() == [6 / 16, -6 / 16, 6 / 16]
    obs, pol, val, own, score = buf.sample(5, np.random.default_rng(0), aux=True)
    assert own.shape == (5, 16) and score.shape == (5,)
    assert len(buf.sample(5, np.random.default_rng(0))) == 3
    buf.save(str(tmp_path / "r.npz"))
    back = ReplayBuffer.load(str(tmp_path / "r.npz"))
    assert np.array_equal(back.ownership[:3], buf.ownership[:3]) and np.array_equal(back.score[:3], buf.score[:3])
    # A buffer saved before these targets existed loads with zeros for them.
    with np.load(str(tmp_path / "r.npz")) as d:
        np.savez(str(tmp_path / "old.npz"), **{k: d[k] for k in ("obs", "policy", "value", "meta")})
    old = ReplayBuffer.load(str(tmp_path / "old.npz"))
    assert old.size == 3 and not old.ownership.any()


def test_ownership_targets_follow_their_samples_symmetry():
    rng = np.random.default_rng(0)
    own = rng.integers(-1, 2, size=(32, 36)).astype(np.int8)
    obs = np.zeros((32, 3, 6, 6), np.float32)
    obs[:, 0] = own.reshape(32, 6, 6)  # plane 0 carries the targets: they must stay equal
    pol = rng.random((32, 37)).astype(np.float32)
    o, _, t = augment(obs, pol, np.random.default_rng(1), own)
    assert np.array_equal(o[:, 0], t) and not np.array_equal(t, own.reshape(32, 6, 6).astype(np.float32))


def test_train_step_learns_the_aux_targets():
    torch.manual_seed(0)
    net = PolicyValueNet(3, 4, blocks=1, channels=16, aux=True)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 2, size=(64, 3, 4, 4)).astype(np.float32)
    own = (obs[:, 0] - obs[:, 1]).reshape(64, 16).astype(np.int8)  # a function of the board
    score = own.sum(1).astype(np.float32) / 16
    pol, val = np.full((64, 17), 1 / 17, np.float32), np.zeros(64, np.float32)
    first = train_step(net, opt, obs, pol, val, rng, aux=(own, score), ownership_weight=1.0, score_weight=1.0)
    for _ in range(60):
        last = train_step(net, opt, obs, pol, val, rng, aux=(own, score), ownership_weight=1.0, score_weight=1.0)
    assert last["ownership_loss"] < 0.3 * first["ownership_loss"] and last["score_loss"] < 0.3 * first["score_loss"]


def test_a_run_with_the_heads_trains_resumes_and_warm_starts(tmp_path):
    base = dict(game="othello", size=4, network="b4c64", workers=0, games_in_flight=8, simulations=4,
                cheap_simulations=2, min_replay=40, batch_size=32, eval_every=0, inference="torch", minutes=10,
                warmup_steps=2)
    cfg = TrainConfig(**base, ownership_weight=1.0, score_weight=0.5, max_steps=6)
    train(cfg, str(tmp_path / "aux"), log=lambda *a: None)
    ck = checkpoint.load(str(tmp_path / "aux"), kind="alphazero")
    assert ck["model"]["aux"] and any(k.startswith("ownership.") for k in ck["weights"])
    rows = [__import__("json").loads(x) for x in open(tmp_path / "aux" / "metrics.jsonl")]
    assert any("ownership_loss" in r for r in rows)
    with pytest.raises(ValueError, match="trained with the auxiliary heads"):
        train(TrainConfig(**base, max_steps=8), str(tmp_path / "aux"), resume=True, log=lambda *a: None)
    train(TrainConfig(**base, ownership_weight=1.0, score_weight=0.5, max_steps=8), str(tmp_path / "aux"),
          resume=True, log=lambda *a: None)
    assert checkpoint.load(str(tmp_path / "aux"), kind="alphazero")["step"] == 8
    # A plain net warm-starts a run with the heads (they start fresh), and the reverse drops them.
    train(TrainConfig(**base, max_steps=2), str(tmp_path / "plain"), log=lambda *a: None)
    train(TrainConfig(**base, ownership_weight=1.0, init=str(tmp_path / "plain"), max_steps=2),
          str(tmp_path / "warm"), log=lambda *a: None)
    train(TrainConfig(**base, init=str(tmp_path / "aux"), max_steps=2), str(tmp_path / "back"), log=lambda *a: None)
    assert "aux" not in checkpoint.load(str(tmp_path / "back"), kind="alphazero")["model"]
