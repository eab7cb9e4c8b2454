"""Inference backends against eager fp32, ``auto``'s choice (made once, named in specs and tournaments so
other processes build the same backend), and training without Ray (``workers: 0``), with its budget across
resumes and the replay buffer kept on every stop. Timing is replaced by fixed figures wherever a result
depends on it, and runs stop on counts (steps, FLOPs), never on the clock."""

import dataclasses
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
from envs.game import Game

pytest.importorskip("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class Fake(inference.TorchRunner):
    """Eager torch with a speed set by the test (``rate`` positions/s, read by :func:`fake_speeds`), a count of
    its rebuilds, and, while ``wrong``, its moves reversed (the worst first): a backend that disagrees."""

    def __init__(self, net, rate, wrong=False):
        super().__init__(net)
        self.rate, self.wrong, self.refreshes = rate, wrong, 0

    def refresh(self, calibration):
        self.refreshes += 1

    def __call__(self, obs):
        logits, value = super().__call__(obs)
        return (-logits if self.wrong else logits), value


def fake_speeds(monkeypatch, **runners):
    """``auto``'s candidates on CPU become ``runners`` (name -> Fake) and eager torch, timed by a count, not a
    clock: each runner's speed is its ``rate`` (torch's 100/s). Returns the list of names ``speed`` was
    called for."""
    timed = []

    def speed(run, obs, batch):
        name = next((n for n, r in runners.items() if r is run), "torch")
        timed.append(name)
        return getattr(run, "rate", 100.0)

    monkeypatch.setitem(inference.AUTO_CANDIDATES, "cpu", (*runners, "torch"))
    monkeypatch.setattr(inference, "build", lambda name, net, device="cpu": runners[name])
    monkeypatch.setattr(inference, "speed", speed)
    return timed


def test_auto_takes_the_fastest_backend_that_agrees(monkeypatch):
    """A faster backend that gets moves wrong is timed, reported and passed over for the fastest that
    agrees (here not eager torch); the choice and every candidate's figures are in the report and the log line."""
    net = small_net()
    fake_speeds(monkeypatch, **{"fast-wrong": Fake(net, 300, wrong=True), "right": Fake(net, 200)})
    lines = []
    ev = NetEvaluator(net, "auto", sample=sample_positions("othello", 6, 64, seed=0), log=lines.append)
    c = ev.report["candidates"]
    assert not c["fast-wrong"]["agrees"] and c["fast-wrong"]["top1_agreement"] < 0.5
    assert c["right"]["agrees"] and c["torch"]["agrees"]
    assert [c[n]["positions_per_s"] for n in ("fast-wrong", "right", "torch")] == [300, 200, 100]
    assert ev.backend == ev.report["backend"] == "right" and ev.report["agrees"]
    assert len(lines) == 1 and "inference auto on cpu: right" in lines[0] and "fast-wrong 300/s (disagrees" in lines[0]


def test_auto_chooses_once_and_falls_back_to_torch_for_good(monkeypatch):
    """Later refreshes re-check the chosen backend only: no timing, no rebuild of the others, no switch to
    a faster one that has come to agree; when the chosen one stops agreeing, eager torch, for good, in one
    log line with its figures."""
    net = small_net()
    fast, right = Fake(net, 300, wrong=True), Fake(net, 200)
    timed = fake_speeds(monkeypatch, fast=fast, right=right)
    lines = []
    ev = NetEvaluator(net, "auto", sample=sample_positions("othello", 6, 64, seed=0), log=lines.append)
    assert ev.backend == "right" and sorted(timed) == ["fast", "right", "torch"] and len(lines) == 1
    chosen = dict(ev.report["candidates"])
    fast.wrong = False  # now the fastest that agrees: a re-choosing evaluator would switch to it
    for seed in (1, 2, 3):
        net.load_state_dict(small_net(seed=seed).state_dict())
        r = ev.refresh(sample_positions("othello", 6, 64, seed=seed))
        assert r["backend"] == "right" and r["agrees"] and r["candidates"] == chosen
    assert len(timed) == 3 and fast.refreshes == 1 and right.refreshes == 4 and len(lines) == 1
    right.wrong = True  # new weights the chosen backend no longer runs faithfully
    r = ev.refresh()
    assert ev.backend == r["backend"] == "torch" and ev.run is ev.reference and r["agrees"]
    assert r["fallback"]["backend"] == "right" and r["fallback"]["top1_agreement"] < 0.5
    assert len(lines) == 2 and "\n" not in lines[1] and "right fell back to it for good" in lines[1]
    assert f"top-1 agreement {r['fallback']['top1_agreement']:.1%}" in lines[1]
    right.wrong = False  # agreeing again changes nothing: the fall-back is for good
    assert ev.refresh()["backend"] == "torch" and right.refreshes == 5 and len(timed) == 3 and len(lines) == 2


def test_a_resolved_backend_is_built_by_name_without_timing(monkeypatch):
    """``auto``'s choice, named, builds the same backend in another evaluator (another process) without
    timing anything, and it evaluates exactly as the chosen one."""
    net = small_net()
    sample = sample_positions("othello", 6, 64, seed=0)
    first = NetEvaluator(net, "auto", sample=sample)
    assert first.backend in inference.AUTO_CANDIDATES["cpu"]
    timed = []
    monkeypatch.setattr(inference, "speed", lambda *a: timed.append(a) or 1.0)
    again = NetEvaluator(net, first.backend, sample=sample)
    assert timed == [] and again.backend == first.backend and "candidates" not in again.report
    for a, b in zip(first.evaluate(*sample, None), again.evaluate(*sample, None)):
        assert np.array_equal(a, b)


def test_a_named_backend_that_disagrees_is_refused_then_falls_back_on_new_weights(monkeypatch):
    """At construction a named backend below the bar is a one-line error with its figures; a named backend
    that stops agreeing after new weights (a training refresh) falls back to eager torch with one log line."""
    net = small_net()
    sample = sample_positions("othello", 6, 64, seed=0)
    monkeypatch.setattr(inference, "MIN_TOP1", 1.01)  # not even fp32 ONNX can clear it
    with pytest.raises(ValueError) as e:
        NetEvaluator(net, "onnx", sample=sample)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("inference 'onnx' on cpu disagrees with fp32 on 64 positions")
    assert "top-1 agreement 100.0% (100.0% of the " in msg and "decisive positions, needs >= 101%)" in msg
    assert "value MAE 0.0000 (needs <= 0.02)" in msg and "probability given up 0.00000 on average (needs <= 0.001" in msg
    # Built mid-run from a training run's weights (strict=False): eager torch instead, in one log line.
    lines = []
    ev = NetEvaluator(net, "onnx", sample=sample, log=lines.append, strict=False)
    f = ev.report["fallback"]
    assert ev.backend == "torch" and (f["backend"], f["top1_agreement"]) == ("onnx", 1.0) and f["value_mae"] < 1e-4
    assert len(lines) == 1 and "onnx fell back to it for good: it disagrees with fp32 (top-1 agreement 100.0%" in lines[0]
    monkeypatch.setattr(inference, "MIN_TOP1", 0.99)
    lines = []
    ev = NetEvaluator(net, "onnx", sample=sample, log=lines.append)
    assert ev.backend == "onnx" and len(lines) == 1
    monkeypatch.setattr(inference, "MIN_TOP1", 1.01)
    r = ev.refresh()  # not raised: a run must not die hours in
    assert ev.backend == r["backend"] == "torch" and r["inference"] == "onnx" and r["fallback"]["backend"] == "onnx"
    assert len(lines) == 2 and "onnx fell back to it for good" in lines[1] and "top-1 agreement 100.0%" in lines[1]


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
    from arena.commands.alphazero import INFERENCE

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


# Learning never starts: more positions than any of these runs plays.
NEVER_LEARNS = ("replay_capacity=100000", "min_replay=100000")


def selfplay_flops(positions):
    """The FLOPs of ``positions`` forward passes of the net that ``TINY`` trains: a budget that self-play alone
    spends after a number of evaluations (each full-search move of the 8 games in flight is about 40)."""
    from agents.alphazero.config import TrainConfig
    from agents.alphazero.network import forward_flops, new_net
    from agents.common.config import load_config

    cfg = load_config(TrainConfig, os.path.join(ROOT, "configs", "othello6_az.yaml"), TINY)
    return positions * forward_flops(new_net(cfg))


def run_no_ray(run_dir, *sets):
    r = subprocess.run([sys.executable, "-c", NO_RAY, str(run_dir), *TINY, *sets], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_workers_0_trains_in_process_without_ray_and_logs_its_backend(tmp_path):
    out = run_no_ray(tmp_path, "min_replay=60", "max_steps=20", "inference=auto")
    # auto is resolved once, at the start, and recorded; self-play then builds that backend by name.
    assert "in this process on cpu" in out and "inference auto on cpu: " in out and "the run plays with " in out
    backend = out.split("the run plays with ")[1].split()[0]
    assert f"self-play: inference {backend} on cpu: {backend}" in out
    ck = checkpoint.load(tmp_path)
    rows = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
    assert rows[0]["inference"]["inference"] == "auto" and rows[0]["inference"]["backend"] == backend
    assert set(rows[0]["inference"]["candidates"]) == {"onnx-int8", "onnx", "torch"}
    now = rows[-1]["inference"]["0"]
    assert now["inference"] == backend and now["agrees"]
    # The checkpoint keeps the backend in use when it was saved (int8 may have fallen back to ONNX fp32 as
    # the weights moved), which a resume goes on with.
    assert ck["step"] == 20 and ck["state"]["inference"] == now["backend"]
    assert now["backend"] in (backend, inference.FALLBACK.get(backend), "torch")
    assert rows[-1]["compute"]["games"] > 0 and rows[-1]["compute"]["trained"] == 20 * 32
    # A FLOP budget of half what those 20 steps cost ends the same run earlier, once it is spent.
    half = checkpoint.load(tmp_path)["compute"]["flops"] / 2
    out = run_no_ray(tmp_path / "flops", "min_replay=60", "max_steps=1000", "inference=auto", f"max_flops={half!r}")
    assert "max_flops reached" in out
    ck = checkpoint.load(tmp_path / "flops")
    assert ck["compute"]["flops"] >= half and ck["step"] < 20
    # A new run warm-started from this one begins with its weights, and nothing else of it.
    out = run_no_ray(tmp_path / "warm", *NEVER_LEARNS, f"max_flops={selfplay_flops(200)}", "inference=torch",
                     f"init={tmp_path}")
    assert "warm start from" in out
    first, warm = checkpoint.load(tmp_path), checkpoint.load(tmp_path / "warm")
    assert warm["step"] == 0 and warm["compute"]["trained"] == 0
    assert all(torch.equal(first["weights"][k], warm["weights"][k]) for k in first["weights"])


def test_a_stop_before_learning_keeps_the_games_and_the_budget_spans_resumes(tmp_path):
    # Learning never starts, and every stop is decided by a count: a FLOP budget that self-play alone spends
    # (minutes, at their default, only guard). The stop still saves the buffer and the counters, at learner
    # step 0, and the resume carries on from them.
    out = run_no_ray(tmp_path, *NEVER_LEARNS, f"max_flops={selfplay_flops(1000)}", "inference=torch")
    assert "filling" in out and "max_flops reached" in out
    ck = checkpoint.load(tmp_path)
    from agents.alphazero.replay import ReplayBuffer
    kept = ReplayBuffer.load(tmp_path / "replay.npz")
    assert ck["step"] == 0 and ck["compute"]["games"] == kept.games > 0
    # The run's clock as the checkpoint carries it: two minutes spent (written, not waited for).
    ck["compute"]["seconds"] = 120.0
    checkpoint.write(ck["path"], **{k: ck[k] for k in ("step", "kind", "trainer", "config", "model", "weights",
                                                       "optimizer", "rng", "compute", "meta")})
    out = run_no_ray(tmp_path, *NEVER_LEARNS, f"max_flops={selfplay_flops(2000)}", "inference=torch")
    assert "at learner step 0" in out and "max_flops reached" in out
    again = ReplayBuffer.load(tmp_path / "replay.npz")
    ck = checkpoint.load(tmp_path)
    assert again.games > kept.games and ck["compute"]["flops"] >= selfplay_flops(2000)
    assert ck["compute"]["seconds"] >= 120.0  # this run's seconds added to the resumed run's
    # Two minutes are spent: a one-minute budget does nothing more and says how to raise it.
    out = run_no_ray(tmp_path, *NEVER_LEARNS, "minutes=1", "inference=torch")
    assert "--set minutes=" in out and ReplayBuffer.load(tmp_path / "replay.npz").games == again.games


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
    # Its default, auto, resolved: the spec names the backend chosen here, which builds without timing.
    assert agent.evaluator.backend in inference.AUTO_CANDIDATES["cpu"]
    assert agent.resolved_spec == f"az:othello8,inference={agent.evaluator.backend}" and agent.name == "az:othello8"
    named = make_agent("az:othello8,sims=8,inference=torch", "othello", 8)
    assert named.config.simulations == 8 and named.resolved_spec == "az:othello8,sims=8,inference=torch"
    with pytest.raises(ValueError, match="trained on othello 8x8, not go 9x9"):
        make_agent("az:othello8", "go", 9)
    go = make_agent("az:go9,inference=torch", "go", 9)  # auto's timing is covered by othello8 above
    assert go.config.simulations == SHIPPED_SIMS
    with pytest.raises(ValueError, match="trained on go 9x9, not go 7x7"):
        make_agent("az:go9", "go", 7)
    assert go.evaluator.net.inputs == "features"  # the zero-knowledge net, with Go's own input planes
    boot = make_agent("az:go9_boot,inference=torch", "go", 9)  # the bootstrapped one, four plain planes
    assert boot.config.simulations == SHIPPED_SIMS and boot.resolved_spec == "az:go9_boot,inference=torch"
    assert boot.evaluator.net.inputs == "basic" and boot.act(Game("go", 9))[0] in range(82)
    ob = make_agent("az:othello8_boot,inference=torch", "othello", 8)  # AlphaGo's recipe on 8x8 Othello
    start = Game("othello", 8)
    assert ob.resolved_spec == "az:othello8_boot,inference=torch" and ob.act(start)[0] in start.legal_actions()


def test_a_shipped_net_answers_over_gtp():
    """``az:go9`` served by ``arena gtp`` (az:othello8 is built by name above, and over GTP it is the same
    server code): a vertex for black, then another for white (not on black's stone)."""
    import re

    from arena.gtp import GTPEngine

    vertex = r"[A-HJ][1-9]|PASS"
    eng = GTPEngine(f"{sys.executable} -m arena.cli gtp --game go --size 9 --agent az:go9,sims=16,inference=torch",
                    timeout=120)
    try:
        eng.send("boardsize 9")
        eng.send("clear_board")
        black = eng.send("genmove b").upper()
        white = eng.send("genmove w").upper()
    finally:
        eng.close()
    assert re.fullmatch(vertex, black) and re.fullmatch(vertex, white)
    assert white != black or black == "PASS"


# -- auto resolved once per player, in specs and tournaments ----------------------------------------------

RATES = {"onnx": 300.0, "onnx-int8": 200.0, "torch": 100.0}  # positions/s: fp32 ONNX "fastest", by decree


def decreed_speeds(monkeypatch):
    """Timing in this process becomes a table (``RATES``), so ``auto`` chooses fp32 ONNX here, by a rule,
    not a race. Ray workers do not see the patch: there ``auto`` would time for real."""
    def speed(run, obs, batch):
        if isinstance(run, inference.OnnxRunner):
            return RATES["onnx-int8" if run.int8 else "onnx"]
        return RATES["torch"]

    monkeypatch.setattr(inference, "speed", speed)


@pytest.fixture(scope="module")
def az_ckpt(tmp_path_factory):
    """An untrained 6x6 Othello AlphaZero checkpoint."""
    from dataclasses import asdict

    from agents.alphazero.config import TrainConfig
    from agents.alphazero.network import new_net

    d = tmp_path_factory.mktemp("net")
    cfg = TrainConfig(game="othello", size=6, network="b4c64")
    torch.manual_seed(0)
    net = new_net(cfg)
    checkpoint.save(str(d), 1, kind="alphazero", trainer="train", config=asdict(cfg), model=net.args,
                    weights=net.state_dict(), optimizer={}, rng={}, compute=checkpoint.zero_compute("positions"))
    return str(d)


def test_resolve_spec_names_autos_choice_and_leaves_every_other_spec(monkeypatch, az_ckpt):
    from arena import specs

    decreed_speeds(monkeypatch)
    spec = f"az:{az_ckpt},sims=4,inference=auto,device=cpu"
    assert specs.resolve_spec(spec, "othello", 6) == f"az:{az_ckpt},sims=4,inference=onnx,device=cpu"
    agent = specs.make_agent(spec, "othello", 6)
    assert agent.resolved_spec == f"az:{az_ckpt},sims=4,inference=onnx,device=cpu" and agent.name == spec
    assert agent.evaluator.report["candidates"]["onnx"]["positions_per_s"] == 300
    # A shipped net's default is auto: it resolves too, its option appended.
    assert specs.resolve_spec("az:othello8", "othello", 8) == "az:othello8,inference=onnx"
    assert specs.resolve_spec(" az:othello8,sims=8 ", "othello", 8) == "az:othello8,sims=8,inference=onnx"

    # Every other spec comes back as it is, without anything being built.
    def no_build(*a, **k):
        raise AssertionError("resolve_spec built an agent for a spec with nothing to resolve")

    monkeypatch.setattr(specs, "make_agent", no_build)
    for other in ("random", "greedy", "mcts:rollouts=8", f"az:{az_ckpt},sims=4", f"az:{az_ckpt},inference=onnx-int8",
                  "az:othello8,inference=torch", "seq:othello8", "gtp:/usr/games/gnugo --mode gtp"):
        assert specs.resolve_spec(other, "othello", 6) == other
    with pytest.raises(ValueError, match="unknown option 'speed'"):
        specs.resolve_spec(f"az:{az_ckpt},speed=9", "othello", 6)


def test_a_timed_az_player_resolves_to_the_simulations_its_time_holds(monkeypatch, az_ckpt):
    from arena import specs

    # A clock that says 0.8 s passed over the four timed searches of 4 simulations: 20 simulations a
    # second, so time=0.5 holds 10. The clock is the test's, so the answer is exact.
    ticks = iter([0.0, 0.8])
    monkeypatch.setattr(specs.time, "perf_counter", lambda: next(ticks))
    agent = specs.make_agent(f"az:{az_ckpt},sims=4,time=0.5,inference=torch", "othello", 6)
    assert agent.config.simulations == 10 and agent.mcts.config.simulations == 10
    assert agent.resolved_spec == f"az:{az_ckpt},sims=10,inference=torch"
    assert specs.make_agent(agent.resolved_spec, "othello", 6).config.simulations == 10  # no timing again
    ticks = iter([0.0, 1e-9])  # a machine fast beyond belief still gets a tree it can hold
    assert specs.make_agent(f"az:{az_ckpt},sims=4,time=9", "othello", 6).config.simulations == specs.MAX_TIMED_SIMS
    with pytest.raises(ValueError, match="sims=0 has none"):
        specs.make_agent(f"az:{az_ckpt},sims=0,time=1", "othello", 6)
    with pytest.raises(ValueError, match="time must be a number"):
        specs.make_agent(f"az:{az_ckpt},time=soon", "othello", 6)


def test_an_auto_player_plays_the_same_games_at_any_worker_count(tmp_path, monkeypatch, az_ckpt):
    """The driver resolves ``auto`` once and sends the workers the backend it chose (the decreed table
    chooses fp32 ONNX here; a worker timing for itself could choose another): the games at 2 workers are
    those at none, tournament.json records the backend beside the user's spec, and a rerun resumes. The
    players are given as bare specs: a name that is its spec keeps its name."""
    from arena.tournament import TournamentConfig, read_games, run_tournament

    decreed_speeds(monkeypatch)
    user = f"az:{az_ckpt},sims=4,inference=auto"
    cfg = TournamentConfig(game="othello", size=6, players=("random", user), games=4, batch_games=2,
                           openings=2, opening_plies=2, balance=1.0, workers=0, seed=5)
    played = {}
    for workers in (0, 2):
        out = str(tmp_path / f"w{workers}")
        run_tournament(dataclasses.replace(cfg, workers=workers), out, progress=False, log=lambda *a: None)
        rec = json.load(open(os.path.join(out, "tournament.json")))
        assert rec["players"] == ["random", user]
        assert rec["resolved"] == {"random": "random", user: f"az:{az_ckpt},sims=4,inference=onnx"}
        played[workers] = {g["id"]: {k: v for k, v in g.items() if k != "seconds"} for g in read_games(out)}
    assert len(played[0]) == 4 and played[2] == played[0]
    # The same user config resumes (nothing left to play), and keeps the recorded choice without timing.
    monkeypatch.setattr(inference, "speed", lambda *a: pytest.fail("a resume timed auto's candidates again"))
    lines = []
    run_tournament(cfg, str(tmp_path / "w0"), progress=False, log=lines.append)
    assert "0 games to play (4 already" in lines[0]


def test_agreement_is_judged_on_decisions_not_near_ties():
    # 40 positions of three legal moves (the fourth action illegal): one near-tie (fp32's two best 0.02
    # apart), and 13 each of two clear leads and a lone legal move.
    tie = [[1.0, 1.02, -1, 9]]
    clear = [[2.0, 0.0, 0.0, 9], [0.0, 3.0, 0.0, 9], [0.0, 0.5, 0.0, 0]] * 13
    ref = np.array(tie + clear, np.float32)
    mask = np.array([[1, 1, 1, 0]] + [[1, 1, 1, 0], [1, 1, 1, 0], [0, 1, 0, 0]] * 13, bool)
    value = np.zeros(40, np.float32)
    # A backend that swaps the near-tie only: 39 of 40 top-1 moves, every decisive one, and it gives up
    # exactly p(1.02) - p(1.0) of fp32's probability there, a 40th of that on average.
    swap_tie = ref.copy()
    swap_tie[0, :2] = [1.02, 1.0]
    c = inference.agreement(swap_tie, value, ref, value, mask)
    p = np.exp([1.0, 1.02, -1.0]) / np.exp([1.0, 1.02, -1.0]).sum()
    assert c["top1_agreement"] == 0.975 and c["top1_decisive"] == 1.0 and c["decisive"] == 39
    assert c["max_regret"] == round(float(p[1] - p[0]), 5) and c["mean_regret"] == round(float(p[1] - p[0]) / 40, 6)
    assert c["agrees"]
    # One that swaps a single clear decision is refused, however close its values: 38 of 39 decisive
    # moves is under 99%.
    swap_clear = ref.copy()
    swap_clear[1, :2] = [0.0, 2.0]
    c = inference.agreement(swap_clear, value, ref, value, mask)
    q = np.exp([2.0, 0.0, 0.0]) / np.exp([2.0, 0.0, 0.0]).sum()
    assert c["top1_decisive"] == round(38 / 39, 4) and c["max_regret"] == round(float(q[0] - q[1]), 5)
    assert not c["agrees"]
    # Near-ties swapped everywhere add up: the decisions all agree, but the average given up passes the bar.
    many = np.array(tie * 40, np.float32)
    swapped = many.copy()
    swapped[:, :2] = [1.02, 1.0]
    c = inference.agreement(swapped, value, many, value, np.array([[1, 1, 1, 0]] * 40, bool))
    assert c["decisive"] == 0 and c["top1_decisive"] == 1.0 and c["mean_regret"] > inference.MAX_REGRET
    assert not c["agrees"]
    # And the value check still holds on its own.
    c = inference.agreement(ref, value + 0.03, ref, value, mask)
    assert c["top1_decisive"] == 1.0 and c["max_regret"] == 0.0 and not c["agrees"]


def test_a_backend_that_stops_agreeing_falls_back_to_its_fp32_sibling(monkeypatch):
    """int8 that stops agreeing mid-run falls back to ONNX fp32 (when that agrees), not all the way to eager
    torch; a sibling that disagrees too leaves eager torch."""
    net = small_net()
    int8, fp32 = Fake(net, 300), Fake(net, 200)
    fake_speeds(monkeypatch, **{"onnx-int8": int8, "onnx": fp32})
    lines = []
    ev = NetEvaluator(net, "auto", sample=sample_positions("othello", 6, 64, seed=0), log=lines.append)
    assert ev.backend == "onnx-int8"
    int8.wrong = True
    r = ev.refresh()
    assert ev.backend == r["backend"] == "onnx" and ev.run is fp32 and r["agrees"]
    assert r["fallback"]["backend"] == "onnx-int8" and "onnx-int8 fell back to it for good" in lines[-1]
    fp32.wrong = True  # and when the sibling stops agreeing too (it has no sibling): eager torch
    assert ev.refresh()["backend"] == "torch" and ev.run is ev.reference


def test_int8_recalibrates_on_any_number_of_positions():
    """A resumed run's first re-check calibrates on the few recent positions it has (96 here, not a
    multiple of a calibration batch): int8 rebuilds on them instead of failing and falling back for good."""
    from agents.alphazero.evaluate import load_net

    net, _, _ = load_net("models/othello8.pt")
    obs, mask = sample_positions("othello", 8, 256, seed=0)
    ev = NetEvaluator(net, "onnx-int8", sample=(obs, mask), strict=False)
    for n in (96, 33):
        r = ev.refresh((obs[:n], mask[:n]))
        assert ev.backend == "onnx-int8" and "fallback" not in r and r["positions"] == n
