"""The one checkpoint format: every entry point that reads a model file refuses a pickle payload (and the
payload never runs), refuses the earlier layout with the way to convert it, and answers every other bad
file with one ``arena: error:`` line naming it."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.train import save_checkpoint
from agents.common import checkpoint
from agents.common import transcripts as T
from agents.common.tokenizer import Tokenizer
from agents.seq.finetune import FinetuneConfig, finetune
from arena.cli import main


class Payload:
    """Unpickling this calls ``open(path, "w")``: the marker file appears if the payload ever runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def arena(capsys, *argv):
    """``arena ARGV`` in this process: (exit code, stderr)."""
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def one_error_line(err, *needles):
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("arena: error:"), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def az_checkpoint(run_dir, size=6, step=3):
    cfg = TrainConfig(game="othello", size=size, network="b4c64")
    net = new_net(cfg)
    return save_checkpoint(str(run_dir), net, torch.optim.SGD(net.parameters(), lr=0.1), step, cfg,
                           np.random.default_rng(0))


def gpt_run(tmp_path):
    """A tiny random-transcript dataset and a GPT fine-tuned from scratch for one step on 4x4."""
    cfg = FinetuneConfig(game="othello", size=4, preset="tiny", groups=2, group_size=2, steps=1, eval_every=1,
                         eval_games=2, eval_opponents=("random",), opponents=("random",), checkpoint_every=1)
    finetune(cfg, "none", str(tmp_path / "gpt"), log=lambda *a: None, progress=False)
    return str(tmp_path / "gpt")


@pytest.fixture
def evil(tmp_path):
    """``(path of a checkpoint-shaped file with a pickle payload, marker path)``."""
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil" / "checkpoints" / "step_00000001.pt"
    path.parent.mkdir(parents=True)
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "kind": "alphazero",
                "weights": Payload(marker)}, path)
    assert not marker.exists()
    return path, marker


def test_a_pickle_payload_is_refused_everywhere_and_never_runs(tmp_path, capsys, evil):
    path, marker = evil
    run = path.parent.parent
    data = str(tmp_path / "data")
    T.write_dataset(data, Tokenizer("othello", 4), T.random_source("othello", 4, 60, seed=0), "random", 0, 0.2,
                    progress=False)
    attempts = [
        ("eval", "--ckpt", path, "--games", 2),
        ("eval", "--ckpt", run, "--games", 2),  # a run directory: its newest checkpoint
        ("tournament", "--player", f"a=az:{path},sims=2", "--player", "random", "--set", "size=6", "--set", "games=2",
         "--set", "workers=0", "--out", tmp_path / "t"),
        ("tournament", "--player", f"s=seq:{path}", "--player", "random", "--set", "size=6", "--set", "games=2",
         "--set", "workers=0", "--out", tmp_path / "t2"),
        ("train", "--config", "configs/othello6_az.yaml", "--run-dir", run, "--resume"),
        ("pretrain", "--config", "configs/seq_demo6.yaml", "--set", f"data={data}", "--run-dir", run, "--resume"),
        ("finetune", "--config", "configs/seq_rl_demo6.yaml", "--init", "none", "--set", "size=4", "--run-dir", run,
         "--resume"),
        ("finetune", "--config", "configs/seq_rl_demo6.yaml", "--init", path, "--run-dir", tmp_path / "ft"),
        ("gtp", "--game", "othello", "--size", "6", "--agent", f"az:{run}"),
        ("play", "--game", "othello", "--size", "6", "--agent", f"seq:{run}"),
    ]
    for argv in attempts:
        rc, err = arena(capsys, *argv)
        assert rc == 2, (argv, err)
        one_error_line(err, str(path), "refused", "pickled", "nothing in it was run")
        assert not marker.exists(), argv
    assert not (tmp_path / "t").exists() and not (tmp_path / "t2").exists()  # nothing written for a bad spec
    # The study reads every arm's checkpoints (budget spent, inventory): refused there too.
    from arena.study.config import StudyConfig
    from arena.study.run import Study, inventory

    study = Study(StudyConfig(arms=("az",)), str(tmp_path / "study"))
    os.makedirs(tmp_path / "study", exist_ok=True)
    os.symlink(run, tmp_path / "study" / "az")
    for read in (lambda: study.left_minutes("az"), lambda: inventory(study)):
        with pytest.raises(ValueError, match="refused: it holds pickled Python objects"):
            read()
    assert not marker.exists()
    # The control: the payload is real, and an unpickling load runs it.
    try:
        torch.load(path, weights_only=False)
    except Exception:
        pass
    assert marker.exists()


def test_every_bad_model_file_gets_one_line(tmp_path, capsys):
    good = az_checkpoint(tmp_path / "run")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(open(good, "rb").read()[:5000])
    cases = [(empty, "is empty"), (text, "not a checkpoint"), (trunc, "not a checkpoint"),
             (tmp_path / "missing.pt", "no checkpoint at"), (tmp_path / "emptydir", "no checkpoints")]
    os.makedirs(tmp_path / "emptydir")
    for path, msg in cases:
        rc, err = arena(capsys, "eval", "--ckpt", path, "--games", 2)
        assert rc == 2
        one_error_line(err, str(path), msg)
    # A zip that is damaged inside, not just cut short.
    raw = bytearray(open(good, "rb").read())
    i = raw.find(b"data.pkl")
    raw[i + 60:i + 400] = bytes(340)
    (tmp_path / "damaged.pt").write_bytes(bytes(raw))
    rc, err = arena(capsys, "eval", "--ckpt", tmp_path / "damaged.pt", "--games", 2)
    assert rc == 2 and err.count("\n") == 1 and "damaged.pt" in err
    # Another game or size: refused by name; a GPT where a net is wanted, and the reverse.
    rc, err = arena(capsys, "gtp", "--game", "othello", "--size", "8", "--agent", f"az:{good}")
    one_error_line(err, "trained on othello 6x6, not othello 8x8")
    gpt = gpt_run(tmp_path)
    rc, err = arena(capsys, "eval", "--ckpt", gpt, "--games", 2)
    one_error_line(err, "holds a gpt checkpoint, not an AlphaZero net")
    rc, err = arena(capsys, "probe", "--ckpt", tmp_path / "run", "--games", 10)
    one_error_line(err, "holds a alphazero checkpoint, not a GPT")
    # The good file, given as its run directory, plays.
    rc, _ = arena(capsys, "eval", "--ckpt", tmp_path / "run", "--against", "random", "--games", 2, "--simulations", 2)
    assert rc == 0


def old_layouts(tmp_path):
    """Checkpoints as the three trainers wrote them before version 2 (pickles of free objects)."""
    cfg = TrainConfig(game="othello", size=6, network="b4c64")
    net = new_net(cfg)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rng = np.random.default_rng(5)
    az = tmp_path / "old_az.pt"
    torch.save({"weights": net.state_dict(), "optimizer": opt.state_dict(), "step": 40, "samples": 1280,
                "config": dataclasses.asdict(cfg), "compute": {"reward_events": 30, "positions": 900,
                "forward_positions": 20000, "seconds": 61.5, "samples_trained": 1280, "flops": 123},
                "net_args": net.args, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, az)
    run = gpt_run(tmp_path)
    ck = checkpoint.load(run)
    gpt = tmp_path / "old_gpt.pt"
    torch.save({"kind": "gpt", "weights": ck["weights"], "optimizer": ck["optimizer"], "step": 9,
                "config": {"data": None, "preset": "tiny"}, "gpt": ck["model"], "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "stats": {"tokens": 5000, "games": 400, "seconds": 12.0},
                "tokenizer": ck["meta"]["tokenizer"]}, gpt)
    return net, az, gpt


def test_the_earlier_layout_is_refused_with_the_converter_named_and_converts(tmp_path, capsys):
    net, az, gpt = old_layouts(tmp_path)
    rc, err = arena(capsys, "eval", "--ckpt", az, "--games", 2)
    one_error_line(err, str(az), "arena convert-checkpoint")
    rc, out_err = arena(capsys, "convert-checkpoint", az, tmp_path / "new_az.pt")
    assert rc == 0, out_err
    ck = checkpoint.load(tmp_path / "new_az.pt", kind="alphazero")
    assert ck["step"] == 40 and ck["trainer"] == "train"
    assert ck["compute"] == {"seconds": 61.5, "reward_events": 30, "games": 30, "positions": 900, "trained": 1280,
                             "trained_unit": "positions", "forward_passes": 21280, "flops": 123}
    for k, v in net.state_dict().items():
        assert torch.equal(ck["weights"][k], v)
    assert ck["rng"]["numpy"] == np.random.default_rng(5).bit_generator.state
    rc, _ = arena(capsys, "eval", "--ckpt", tmp_path / "new_az.pt", "--against", "random", "--games", 2,
                  "--simulations", 2)
    assert rc == 0
    rc, err = arena(capsys, "convert-checkpoint", gpt, tmp_path / "new_gpt.pt")
    assert rc == 0, err
    g = checkpoint.load(tmp_path / "new_gpt.pt", kind="gpt")
    assert g["trainer"] == "pretrain" and g["compute"]["trained"] == 5000 and g["meta"]["games_read"] == 400
    from agents.seq.agent import SeqAgent
    from agents.seq.gpt import GPT, GPTConfig
    from envs.game import Game

    # The converted GPT plays its own weights: the same as the net the old file was made from, by hand.
    src = checkpoint.load(tmp_path / "gpt")
    for k, v in src["weights"].items():
        assert torch.equal(g["weights"][k], v)
    ref = GPT(GPTConfig(**src["model"]))
    ref.load_state_dict(src["weights"])
    ref.eval()
    tok = Tokenizer("othello", 4)
    agent, game = SeqAgent(str(tmp_path / "new_gpt.pt")), Game("othello", 4)
    for _ in range(4):
        with torch.no_grad():
            logits = ref(torch.tensor([tok.encode(game.history)]))[0, -1]  # after the whole history
        ids = [int(tok.action_to_id[a]) for a in game.legal_actions() if a != 16]
        want = int(tok.id_to_action[max(ids, key=lambda i: logits[i].item())]) if ids else 16  # 16: a forced pass
        assert agent.act(game)[0] == want
        game.play(want)
    # Refusals: converting onto itself, onto an existing file, or a file already converted.
    rc, err = arena(capsys, "convert-checkpoint", az, az)
    one_error_line(err, "another name")
    rc, err = arena(capsys, "convert-checkpoint", tmp_path / "new_az.pt", tmp_path / "again.pt")
    one_error_line(err, "already in the current format")


def test_the_converter_help_says_it_unpickles():
    from arena.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["convert-checkpoint"].format_help()
    assert "UNSAFE" in text and "unpickl" in text and "trust" in text


def test_only_the_converter_unpickles():
    """No ``weights_only=False`` anywhere in the package but the converter."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for pkg in ("envs", "agents", "arena", "benchmarks"):
        for dirpath, _, files in os.walk(os.path.join(root, pkg)):
            for f in files:
                if f.endswith(".py") and "weights_only=False" in open(os.path.join(dirpath, f)).read():
                    found.append(os.path.relpath(os.path.join(dirpath, f), root))
    assert found == [os.path.join("agents", "common", "convert.py")]
