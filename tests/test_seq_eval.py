"""Fresh random games for pretraining (no game repeats, validation stays held out, resumes draw the same
games), ``arena seq-eval`` and the shipped ``seq:`` model's file."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from agents.common import transcripts as T
from agents.common.tokenizer import Tokenizer, is_move
from agents.seq.legal import legal_targets
from agents.seq.pretrain import PretrainConfig, pretrain


def quiet(*a, **k):
    pass


def dataset(tmp_path, games=1500, source="random"):
    tok = Tokenizer("othello", 6)
    out = str(tmp_path / f"d_{source.replace(':', '_')}")
    T.write_dataset(out, tok, T.random_source("othello", 6, games, 0), source, 0, 0.1, progress=False)
    return T.Dataset(out)


def side_of(rows, val_fraction):
    d = T.digests(rows.astype(np.uint8))
    return np.where(d % T.SPLIT < int(round(val_fraction * T.SPLIT)), "val", "train")


def test_fresh_games_are_legal_seeded_and_on_their_side_of_the_split(tmp_path):
    data = dataset(tmp_path)
    fresh = T.FreshGames.training_side(data, seed=3)
    a, b = fresh.sample(7, 200), fresh.sample(7, 200)
    assert a.shape == (200, data.tokenizer.max_len) and a.dtype == np.int64
    assert (a == b).all()  # a pure function of (seed, step): a resumed run draws the same games
    assert not {r.tobytes() for r in fresh.sample(8, 200)} & {r.tobytes() for r in a}  # the next step's are others
    assert (side_of(a, 0.1) == "train").all()
    val = T.FreshGames(data.tokenizer, 3, 0.1, side="val").sample(0, 100)
    assert (side_of(val, 0.1) == "val").all()
    # Every game is complete and legal: replaying it, each move is in the legal set after its prefix.
    legal = legal_targets(data.tokenizer, a)
    nxt = a[:, 1:]
    ok = np.take_along_axis(legal[:, :-1], nxt[..., None], -1)[..., 0]
    assert ok[is_move(nxt)].all()
    assert (legal[np.arange(len(a)), is_move(a).sum(1)] == 0).all()  # nothing legal after the last move
    with pytest.raises(ValueError, match="side must be"):
        T.FreshGames(data.tokenizer, 0, side="test")


FRESH = dict(preset="tiny", batch_size=32, lr=3e-3, warmup_steps=10, max_steps=60, eval_every=30, eval_games=100,
             checkpoint_every=30, seed=1, target="legal_set", fresh_games=True)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    """A tiny GPT pretrained for 60 steps on fresh games, none read from the stored training games:
    ``(config, run directory, its last evaluation)``."""
    tmp = tmp_path_factory.mktemp("fresh")
    data = dataset(tmp)
    cfg = PretrainConfig(data=data.path, **FRESH)
    sample = T.Dataset.sample

    def stored(*a, **k):
        raise AssertionError("a fresh-games run read the stored training games")

    T.Dataset.sample = stored
    try:
        last = pretrain(cfg, str(tmp / "a"), log=quiet, progress=False)
    finally:
        T.Dataset.sample = sample
    return cfg, tmp / "a", last


def test_pretraining_on_fresh_games_learns_and_resumes_identically(fresh_run, tmp_path):
    cfg, run, last = fresh_run
    assert last["legal_error"] < 0.6  # from about 1.0 untrained
    # The same run resumed from its step-30 checkpoint draws the same games: the same weights at step 60.
    shutil.copytree(run, tmp_path / "b")
    os.remove(tmp_path / "b" / "checkpoints" / "step_00000060.pt")
    again = pretrain(cfg, str(tmp_path / "b"), resume=True, log=quiet, progress=False)
    assert abs(again["val_loss"] - last["val_loss"]) < 1e-4
    with pytest.raises(ValueError, match="fresh_games=True, not fresh_games=False"):
        pretrain(dataclasses.replace(cfg, fresh_games=False), str(tmp_path / "b"), resume=True, log=quiet,
                 progress=False)
    with pytest.raises(ValueError, match="fresh games are uniformly random"):
        other = dataset(tmp_path, 300, "selfplay:runs/x")
        pretrain(dataclasses.replace(cfg, data=other.path, target="next_token"), str(tmp_path / "c"), log=quiet,
                 progress=False)


def test_seq_eval_command_and_a_shipped_gpt_file(fresh_run, tmp_path):
    run = fresh_run[1]
    cmd = [sys.executable, "-m", "arena.cli"]
    p = subprocess.run(cmd + ["seq-eval", "--agent", f"seq:{run}", "--games", "60", "--seed", "2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep["games"] == 60 and rep["step"] == 60 and rep["prefixes"] > 60 * 20
    assert 0 <= rep["legal_error"] < 0.8 and rep["probe_majority"] < rep["probe_linear"] <= 1
    assert 0 <= rep["probe_linear_layer"] <= 2 and "probe_mlp" not in rep
    from agents.seq.evaluate import seq_eval

    again = seq_eval(str(run), 60, 2, log=quiet)  # the same seed: the same games and probes
    assert again["legal_error"] == rep["legal_error"] and again["probe_linear"] == rep["probe_linear"]
    assert seq_eval(str(run), 60, 3, log=quiet)["prefixes"] != rep["prefixes"]
    for bad, msg in ((["--agent", "greedy"], "a sequence model is seq:CHECKPOINT"),
                     (["--agent", "seq:run", "--games", "3"], "at least 10")):
        q = subprocess.run(cmd + ["seq-eval", *bad], capture_output=True, text=True, timeout=120)
        assert q.returncode != 0 and msg in q.stderr and "Traceback" not in q.stderr
    # A GPT exported as a model file (weights only) plays and evaluates like its checkpoint.
    out = tmp_path / "models" / "g.pt"
    e = subprocess.run(cmd + ["export", "--ckpt", str(run), "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert e.returncode == 0, e.stderr
    from agents.common import checkpoint

    ck = checkpoint.load(str(out), kind="gpt")
    assert ck["optimizer"] == {} and ck["meta"]["knowledge"].startswith("transcripts:")
    assert os.path.getsize(out) < os.path.getsize(checkpoint.latest(str(run)))


def test_seq_othello8_names_the_shipped_file():
    from arena.specs import MODELS, make_agent, seq_path

    assert seq_path("runs/x") == "runs/x"
    if not os.path.exists(os.path.join(MODELS, "othello8_gpt.pt")):
        with pytest.raises(ValueError, match="no shipped net 'othello8'.*othello8_gpt.pt is not there"):
            make_agent("seq:othello8", "othello", 8)
        return
    assert seq_path("othello8") == os.path.join(MODELS, "othello8_gpt.pt")
    agent = make_agent("seq:othello8", "othello", 8)
    assert (agent.tok.game, agent.tok.size) == ("othello", 8)
    # seq:othello8_2h is its first two hours of pretraining, where the studies start; the shipped model went
    # on from it, and its compute counts those two hours.
    from agents.common import checkpoint

    assert seq_path("othello8_2h") == os.path.join(MODELS, "othello8_gpt_2h.pt")
    first, last = (checkpoint.load(seq_path(n), kind="gpt") for n in ("othello8_2h", "othello8"))
    assert first["compute"]["seconds"] == pytest.approx(7410, abs=60)  # configs/study_othello8_scale.yaml's P
    assert checkpoint.total_compute(last)["trained"] >= first["compute"]["trained"] + last["compute"]["trained"]
    # seq:othello8_rhino: the same GPT on gtp-rhino's stored games for the same budget (the scale study's
    # engine_pretrained), told apart by its knowledge.
    rhino = checkpoint.load(seq_path("othello8_rhino"), kind="gpt")
    assert rhino["meta"]["knowledge"] == "transcripts: datasets/othello8_rhino20k"
    assert rhino["compute"]["seconds"] == pytest.approx(7410, rel=0.05)
    # seq:othello8_rl: that GPT after the scale study's 45 minutes of GRPO (rl_engine at RL seed 1), the best
    # GPT player; its file names where it started, and its weights moved from there.
    rl = checkpoint.load(seq_path("othello8_rl"), kind="gpt")
    assert rl["meta"]["knowledge"] == "fine-tuned on outcomes"
    assert rl["meta"]["init"]["init"] == "models/othello8_gpt_rhino.pt"
    assert rl["compute"]["seconds"] == pytest.approx(45 * 60, rel=0.02) and rl["compute"]["reward_events"] > 0
    assert rl["model"] == rhino["model"]
    assert any(not rl["weights"][k].equal(rhino["weights"][k]) for k in rhino["weights"])
    from envs.game import Game

    player, game = make_agent("seq:othello8_rl", "othello", 8), Game("othello", 8)
    for _ in range(6):  # its own moves for both sides, each legal where it is played
        move = int(player.act(game)[0])
        assert move in game.legal_actions()
        game.play(move)
