"""Go's own input features (``inputs: features``) against the pure-Python reference, and a net that reads
them, with global pooling and the auxiliary heads, through training, resume, int8 and play."""

import numpy as np
import pytest
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.evaluate import load_net, net_evaluator
from agents.alphazero.network import from_preset
from agents.alphazero.train import train
from arena.specs import make_agent
from envs.core import GoBatch, make_batch
from envs.game import Game
from envs.reference import GoRef


def reference_planes(ref, last, before):
    """Planes 4-9 of ``features`` from GoRef's flood fill and the moves the test played."""
    n = ref.n
    out = np.zeros((6, n, n), np.float32)
    for r in range(n):
        for c in range(n):
            if ref.board[r][c]:
                libs = len(ref._chain(ref.board, r, c)[1])
                out[min(libs, 3) - 1, r, c] = 1.0
    for k, a in ((3, last), (4, before)):
        if a is not None and a < n * n:
            out[k, a // n, a % n] = 1.0
    out[5] = 1.0 if last == n * n else 0.0
    return out


@pytest.mark.parametrize("size", [5, 7])
def test_features_match_the_reference_along_random_games(size):
    B = 6
    g = make_batch("go", B, size, seed=3)
    refs = [GoRef(size) for _ in range(B)]
    last, before = [None] * B, [None] * B
    rng = np.random.default_rng(size)
    checked = 0
    while not g.terminal.all():
        f = g.observation("features")
        assert f.shape == (B, 10, size, size)
        np.testing.assert_array_equal(f[:, :4], g.observation())
        for b in range(B):
            if not g.terminal[b]:
                np.testing.assert_array_equal(f[b, 4:], reference_planes(refs[b], last[b], before[b]))
                checked += 1
        mask = g.legal_mask()
        # Mostly board moves, so that chains grow, touch and get captured before two passes end the game.
        weights = mask * np.where(np.arange(size * size + 1) == size * size, 0.02, 1.0)
        actions = np.array([rng.choice(len(w), p=w / w.sum()) if w.any() else -1 for w in weights])
        g.step_where(~g.terminal, actions)
        for b in np.flatnonzero(actions >= 0):
            refs[b].step(int(actions[b]))
            last[b], before[b] = int(actions[b]), last[b]
    assert checked > 100


def test_liberty_planes_of_a_picture():
    g = GoBatch.from_text("""
        . X O . .
        X O . . .
        . . . . .
        . . . X X
        . . . X .
    """)
    f = g.observation("features")[0]
    assert f[4].nonzero() == (np.array([0]), np.array([1]))  # X at B5: one liberty (A5)
    assert sorted(zip(*f[5].nonzero())) == [(0, 2), (1, 0), (1, 1)]  # two liberties each
    assert sorted(zip(*f[6].nonzero())) == [(3, 3), (3, 4), (4, 3)]  # the three-stone chain: 4 liberties
    assert not f[7:].any()  # set up stone by stone: no last move, no pass


def test_last_moves_survive_a_game_replayed_from_its_transcript():
    game = Game("go", 5)
    for m in ("C3", "D4", "pass"):
        game.play(game.batch.parse_move(m))
    f = game.batch.observation("features")[0]
    assert f[9].all() and not f[7].any()  # the last move was a pass: no point marked
    assert f[8, 1, 3] == 1.0  # the one before: D4 (row 1 from the top, column D)
    again = Game.from_transcript(game.transcript(), "go", 5)
    np.testing.assert_array_equal(again.batch.observation("features"), game.batch.observation("features"))


def test_othello_offers_no_features_and_configs_say_so():
    with pytest.raises(ValueError, match="othello offers the input sets basic, not 'features'"):
        make_batch("othello", 1, 8).observation("features")
    with pytest.raises(ValueError, match="inputs must be one of basic for othello"):
        TrainConfig(game="othello", size=8, inputs="features")


def test_global_pooling_net_exports_to_int8_and_agrees():
    torch.manual_seed(0)
    net = from_preset("b6c64", 10, 5, inputs="features", gpool=True).eval()
    assert net.args["inputs"] == "features" and net.args["gpool"]
    assert sum(type(m).__name__ == "GlobalPoolBlock" for m in net.modules()) == 2
    ev = net_evaluator(net, "go", 5, "onnx-int8", batch=16)
    assert ev.backend == "onnx-int8" and ev.inputs == "features"
    # The evaluator reads its own planes from the leaves: a search hands it the batch, not basic planes.
    g = make_batch("go", 3, 5)
    p, v = ev.evaluate(ev_obs := g.observation("features"), g.legal_mask(), g)
    assert ev_obs.shape[1] == 10 and p.shape == (3, 26) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_a_features_run_trains_resumes_refuses_a_change_and_plays(tmp_path):
    base = dict(game="go", size=5, network="b4c64", workers=0, games_in_flight=8, simulations=4,
                cheap_simulations=2, min_replay=40, batch_size=32, eval_every=0, inference="torch", minutes=10,
                warmup_steps=2, inputs="features", gpool=True, ownership_weight=1.0, score_weight=1.0)
    run = str(tmp_path / "run")
    train(TrainConfig(**base, max_steps=4), run, log=lambda *a: None)
    train(TrainConfig(**base, max_steps=6), run, resume=True, log=lambda *a: None)
    net, cfg, ck = load_net(run)
    assert ck["step"] == 6 and cfg.inputs == "features" and net.args["gpool"]
    with pytest.raises(ValueError, match="inputs"):
        train(TrainConfig(**{**base, "inputs": "basic"}, max_steps=8), run, resume=True, log=lambda *a: None)
    # The net plays through the agent spec every tool uses, on a game the referee keeps.
    agent = make_agent(f"az:{run},sims=8", "go", 5)
    game = Game("go", 5)
    for _ in range(6):
        game.play(int(agent.act(game.batch)[0]))
    assert len(game.history) == 6


def test_a_plain_net_warm_starts_a_run_with_the_aids_as_the_same_function(tmp_path):
    base = dict(game="go", size=5, network="b4c64", workers=0, games_in_flight=8, simulations=4,
                cheap_simulations=2, min_replay=40, batch_size=32, eval_every=0, inference="torch", minutes=10,
                warmup_steps=2)
    plain = str(tmp_path / "plain")
    train(TrainConfig(**base, max_steps=2), plain, log=lambda *a: None)
    aids = TrainConfig(**base, inputs="features", gpool=True, ownership_weight=1.0, init=plain, max_steps=0)
    from agents.alphazero.network import new_net
    from agents.alphazero.train import load_checkpoint, warm_start

    grown = new_net(aids)
    warm_start(grown, load_checkpoint(plain, aids, warm=True)["weights"], plain)
    old, _, _ = load_net(plain)
    g = make_batch("go", 16, 5, seed=1)
    for _ in range(7):
        g.step_where(~g.terminal, g.random_actions())
    with torch.no_grad():
        a = old(torch.from_numpy(g.observation()))
        b = grown.eval()(torch.from_numpy(g.observation("features")))
    torch.testing.assert_close(a, b)
    # A resume, unlike a warm start, cannot add them: refused in one line.
    with pytest.raises(ValueError, match="inputs='features'"):
        load_checkpoint(plain, TrainConfig(**base, inputs="features"), warm=False)
