"""Inference backends against eager fp32, ``auto``'s choice, and training without Ray (``workers: 0``),
with its budget across resumes and the replay buffer kept on every stop."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from agents.alphazero import inference
from agents.alphazero.inference import NetEvaluator, agreement, resolve_device, sample_positions
from agents.alphazero.network import PolicyValueNet
from agents.common import checkpoint

pytest.importorskip("onnxruntime")


def small_net(size=6, seed=0):
    torch.manual_seed(seed)
    net = PolicyValueNet(3, size, blocks=2, channels=16)
    for m in net.modules():  # batch norms with real statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def test_sample_positions_are_real_and_deterministic():
    obs, mask = sample_positions("othello", 6, 64, seed=3)
    again, _ = sample_positions("othello", 6, 64, seed=3)
    assert obs.shape == (64, 3, 6, 6) and mask.shape == (64, 37) and np.array_equal(obs, again)
    plies = obs[:, :2].sum(axis=(1, 2, 3)) - 4  # discs on the board beyond the start's four
    assert plies.min() == 0 and plies.max() > 16  # from the start to late in the game
    # The legal plane of the observation and the mask agree (pass aside).
    assert np.array_equal(obs[:, 2].reshape(64, -1) > 0, mask[:, :36])


@pytest.mark.parametrize("name", ["onnx", "onnx-int8"])
def test_onnx_backends_agree_with_fp32_and_follow_new_weights(name):
    net = small_net()
    sample = sample_positions("othello", 6, 256, seed=1)
    ev = NetEvaluator(net, name, sample=sample)
    r = ev.report
    assert r["backend"] == name and r["positions"] == 256
    ref = inference.TorchRunner(net)(sample[0])
    out = ev.run(sample[0])
    exact = agreement(*out, *ref, sample[1])
    if name == "onnx":  # the same arithmetic up to rounding
        assert exact["top1_agreement"] == 1.0 and exact["value_mae"] < 1e-5
    else:
        assert exact["value_mae"] < 0.05 and exact["top1_agreement"] > 0.8
    assert (r["top1_agreement"], r["value_mae"]) == (exact["top1_agreement"], exact["value_mae"])
    # New weights: the runner still serves the old graph until refresh re-exports (and re-calibrates).
    net.load_state_dict(small_net(seed=7).state_dict())
    stale = agreement(*ev.run(sample[0]), *inference.TorchRunner(net)(sample[0]), sample[1])
    ev.refresh()
    fresh = agreement(*ev.run(sample[0]), *inference.TorchRunner(net)(sample[0]), sample[1])
    assert fresh["value_mae"] < stale["value_mae"]
    assert ev.report["value_mae"] == fresh["value_mae"]


def test_evaluator_priors_are_masked_distributions():
    net = small_net()
    obs, mask = sample_positions("othello", 6, 32, seed=2)
    for name in ("torch", "onnx"):
        priors, values = NetEvaluator(net, name, sample=(obs, mask)).evaluate(obs, mask, None)
        assert priors.dtype == np.float32 and priors.shape == mask.shape
        assert np.all(priors[~mask] == 0) and np.allclose(priors.sum(1), 1, atol=1e-5)
        assert np.all(np.abs(values) <= 1)


def test_auto_takes_the_fastest_backend_that_agrees(monkeypatch):
    """A fast backend that gets moves wrong is timed, reported and passed over; the choice and every
    candidate's figures are in the report and the log line."""
    class Wrong(inference.TorchRunner):
        def __call__(self, obs):
            logits, value = super().__call__(obs)
            return -logits, value  # the worst move first

    class Slow(inference.TorchRunner):
        def __call__(self, obs):
            import time
            time.sleep(0.05)  # far slower than any timing noise
            return super().__call__(obs)

    builders = {"fast-wrong": lambda net, device: Wrong(net), "slow-right": lambda net, device: Slow(net)}
    monkeypatch.setitem(inference.AUTO_CANDIDATES, "cpu", ("fast-wrong", "slow-right", "torch"))
    monkeypatch.setattr(inference, "build", lambda name, net, device="cpu": builders[name](net, device))
    lines = []
    ev = NetEvaluator(small_net(), "auto", sample=sample_positions("othello", 6, 64, seed=0), log=lines.append)
    c = ev.report["candidates"]
    assert not c["fast-wrong"]["agrees"] and c["fast-wrong"]["top1_agreement"] < 0.5
    assert c["slow-right"]["agrees"] and c["torch"]["agrees"]
    assert c["torch"]["positions_per_s"] > c["slow-right"]["positions_per_s"]
    assert ev.report["backend"] == "torch" and ev.report["agrees"]
    assert len(lines) == 1 and "inference auto on cpu: torch" in lines[0] and "fast-wrong" in lines[0]


def test_a_backend_that_cannot_build_is_reported_and_left_out(monkeypatch):
    def broken(name, net, device="cpu"):
        raise RuntimeError("no compiler here")

    monkeypatch.setitem(inference.AUTO_CANDIDATES, "cpu", ("compile", "torch"))
    monkeypatch.setattr(inference, "build", broken)
    ev = NetEvaluator(small_net(), "auto", sample=sample_positions("othello", 6, 32, seed=0))
    assert ev.report["backend"] == "torch"
    assert "no compiler here" in ev.report["failed"]["compile"] and "compile unavailable" in ev.describe()
    with pytest.raises(ValueError, match="cannot run here"):
        NetEvaluator(small_net(), "compile", sample=sample_positions("othello", 6, 32, seed=0))


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="inference must be one of"):
        NetEvaluator(small_net(), "tensorrt")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda")
    assert resolve_device("auto") in ("cpu", "cuda")


def test_cli_restates_the_backends():
    from arena.cli import INFERENCE

    assert INFERENCE == inference.CHOICES


# -- training without Ray ------------------------------------------------------------------------------

TINY = ["size=4", "games_in_flight=8", "simulations=4", "cheap_simulations=2", "batch_size=32", "publish_every=5",
        "checkpoint_every=10", "eval_every=0", "warmup_steps=5", "replay_capacity=5000", "workers=0"]

NO_RAY = """
import sys
sys.modules["ray"] = None  # importing Ray anywhere now fails: this run must not need it
from agents.common.config import load_config
from agents.alphazero.config import TrainConfig
from agents.alphazero.train import train
cfg = load_config(TrainConfig, "configs/othello6_az.yaml", sys.argv[2:])
train(cfg, sys.argv[1], resume=True)
"""


def run_no_ray(run_dir, *sets):
    r = subprocess.run([sys.executable, "-c", NO_RAY, str(run_dir), *TINY, *sets], capture_output=True, text=True,
                       timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_workers_0_trains_in_process_without_ray_and_logs_its_backend(tmp_path):
    out = run_no_ray(tmp_path, "min_replay=60", "max_steps=20", "inference=auto")
    assert "in this process on cpu" in out and "self-play: inference auto on cpu: " in out
    assert checkpoint.load(tmp_path)["step"] == 20
    rows = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
    assert rows[-1]["inference"]["0"]["inference"] == "auto" and rows[-1]["inference"]["0"]["agrees"]
    assert rows[-1]["compute"]["games"] > 0 and rows[-1]["compute"]["trained"] == 20 * 32
    # A FLOP budget of half what those 20 steps cost ends the same run earlier, once it is spent.
    half = checkpoint.load(tmp_path)["compute"]["flops"] / 2
    out = run_no_ray(tmp_path / "flops", "min_replay=60", "max_steps=1000", "inference=auto", f"max_flops={half!r}")
    assert "max_flops reached" in out
    ck = checkpoint.load(tmp_path / "flops")
    assert ck["compute"]["flops"] >= half and ck["step"] < 20
    # A new run warm-started from this one begins with its weights, and nothing else of it.
    out = run_no_ray(tmp_path / "warm", "min_replay=5000", "minutes=0.05", "inference=torch", f"init={tmp_path}")
    assert "warm start from" in out
    first, warm = checkpoint.load(tmp_path), checkpoint.load(tmp_path / "warm")
    assert warm["step"] == 0 and warm["compute"]["trained"] == 0
    assert all(torch.equal(first["weights"][k], warm["weights"][k]) for k in first["weights"])


def test_a_stop_before_learning_keeps_the_games_and_the_budget_spans_resumes(tmp_path):
    # Learning never starts (min_replay above what a few seconds give): the stop still saves the buffer
    # and the counters, at learner step 0, and the resume carries on from them.
    out = run_no_ray(tmp_path, "min_replay=5000", "minutes=0.05", "inference=torch")
    assert "filling" in out and "budget spent" in out
    ck = checkpoint.load(tmp_path)
    from agents.alphazero.replay import ReplayBuffer
    kept = ReplayBuffer.load(tmp_path / "replay.npz")
    assert ck["step"] == 0 and ck["compute"]["games"] == kept.games > 0
    out = run_no_ray(tmp_path, "min_replay=5000", "minutes=0.1", "inference=torch")
    assert "at learner step 0" in out and "budget spent, " in out
    again = ReplayBuffer.load(tmp_path / "replay.npz")
    assert again.games > kept.games and checkpoint.load(tmp_path)["compute"]["seconds"] >= 5.5
    # The budget is spent: a resume with the same minutes does nothing and says how to raise it.
    out = run_no_ray(tmp_path, "min_replay=5000", "minutes=0.1", "inference=torch")
    assert "--set minutes=" in out


def test_az_spec_takes_inference_and_device(tmp_path):
    from dataclasses import asdict

    from agents.alphazero.config import TrainConfig
    from agents.alphazero.network import new_net
    from arena.specs import make_agent

    cfg = TrainConfig(size=4, network="b4c64", min_replay=10)
    net = new_net(cfg)
    checkpoint.save(str(tmp_path), 1, kind="alphazero", trainer="train", config=asdict(cfg), model=net.args,
                    weights=net.state_dict(), optimizer={}, rng={}, compute=checkpoint.zero_compute("positions"))
    agent = make_agent(f"az:{tmp_path},sims=4,inference=onnx,device=cpu", "othello", 4)
    assert agent.evaluator.report["backend"] == "onnx" and agent.evaluator.report["agrees"]
    from envs.core import make_batch
    assert agent.act(make_batch("othello", 3, 4)).shape == (3,)
    with pytest.raises(ValueError, match="inference must be one of"):
        make_agent(f"az:{tmp_path},inference=fast", "othello", 4)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            make_agent(f"az:{tmp_path},device=cuda", "othello", 4)


def test_eager_torch_needs_no_sample_and_matches_the_torch_evaluator():
    from agents.search.evaluators import TorchEvaluator

    net = small_net()
    obs, mask = sample_positions("othello", 6, 16, seed=4)
    ev = NetEvaluator(net, "torch")
    assert ev.report["backend"] == "torch" and ev.refresh()["agrees"]
    p, v = ev.evaluate(obs, mask, None)
    p2, v2 = TorchEvaluator(net).evaluate(obs, mask, None)
    assert np.allclose(p, p2, atol=1e-6) and np.allclose(v, v2, atol=1e-6)
    with pytest.raises(ValueError, match="needs sample positions"):
        NetEvaluator(net, "onnx")


def test_shipped_nets_by_name():
    from arena.specs import SHIPPED_SIMS, make_agent

    agent = make_agent("az:othello8", "othello", 8)
    assert agent.config.simulations == SHIPPED_SIMS and agent.evaluator.report["inference"] == "auto"
    assert make_agent("az:othello8,sims=8,inference=torch", "othello", 8).config.simulations == 8
    with pytest.raises(ValueError, match="trained on othello 8x8, not go 9x9"):
        make_agent("az:othello8", "go", 9)
    go = make_agent("az:go9,inference=torch", "go", 9)  # auto's timing is covered by othello8 above
    assert go.config.simulations == SHIPPED_SIMS
    with pytest.raises(ValueError, match="trained on go 9x9, not go 7x7"):
        make_agent("az:go9", "go", 7)


def test_shipped_nets_answer_over_gtp():
    import sys

    from arena.gtp import GTPEngine

    # Go's: az:othello8 is built by name above, and over GTP it is the same server code.
    for game, size, vertex in (("go", 9, r"[A-HJ][1-9]|PASS"),):
        eng = GTPEngine(f"{sys.executable} -m arena.cli gtp --game {game} --size {size} --agent az:{game}{size},sims=16,"
                        "inference=torch",
                        timeout=120)
        try:
            if game == "go":
                eng.send(f"boardsize {size}")
                eng.send("clear_board")
            import re
            assert re.fullmatch(vertex, eng.send("genmove b").upper())
        finally:
            eng.close()
