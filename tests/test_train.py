"""`arena train` end to end on tiny settings: a run as a user starts it, a SIGKILL followed by --resume,
and a self-play actor killed in the middle of training."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from agents.common import checkpoint

TINY = ["size=4", "games_in_flight=8", "simulations=4", "cheap_simulations=2", "min_replay=60", "batch_size=32",
        "publish_every=5", "checkpoint_every=10", "eval_every=0", "warmup_steps=5", "replay_capacity=5000",
        "inference=torch"]  # auto re-checks at every publication: tests/test_inference.py covers it


def arena_train(run_dir, *sets, resume=False, **popen):
    args = [sys.executable, "-m", "arena.cli", "train", "--config", "configs/othello6_az.yaml", "--run-dir",
            str(run_dir)]
    for s in (*TINY, *sets):
        args += ["--set", s]
    if resume:
        args.append("--resume")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen)


def newest_step(run_dir):
    d = run_dir / "checkpoints"
    files = sorted(f for f in os.listdir(d) if f.endswith(".pt")) if d.is_dir() else []
    return int(files[-1][5:13]) if files else 0


def test_train_runs_and_writes_everything(tmp_path):
    p = arena_train(tmp_path, "minutes=5", "max_steps=40", "eval_every=20", "eval_games=4", "anchors=random,greedy",
                    "eval_simulations=4", "gating=gate", "gate_games=4", "optimizer=sgd")
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    assert json.loads((tmp_path / "config.json").read_text())["config"]["size"] == 4
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("positions_per_s" in x for x in lines)
    gauntlets = [x for x in lines if "gauntlet" in x]
    assert len(gauntlets) >= 2 and set(gauntlets[0]["gauntlet"]) == {"random", "greedy"}
    assert set(gauntlets[1]["gauntlet"]) == {"random", "greedy", "previous"}  # the earlier checkpoint
    assert all("gate_score" in x and "promoted" in x for x in gauntlets)
    assert any((tmp_path / "tensorboard").iterdir())
    ck = checkpoint.load(tmp_path)
    assert ck["step"] > 0 and ck["config"]["size"] == 4 and "optimizer" in ck
    c = ck["compute"]  # the accounting: every search evaluation and every trained sample counted
    assert c["reward_events"] == c["games"] > 0 and c["positions"] > c["reward_events"]
    assert c["trained"] == 32 * ck["step"] and c["trained_unit"] == "positions"
    assert c["forward_passes"] > c["positions"] + c["trained"] and c["flops"] > 0
    assert any("compute" in x for x in lines)
    assert (tmp_path / "replay.npz").exists()
    # A second run into the same directory without --resume is refused with one line.
    r = arena_train(tmp_path, "minutes=5")
    out, _ = r.communicate(timeout=120)
    assert r.returncode == 2 and out.strip().startswith("arena: error:") and "--resume" in out


def test_sigkill_then_resume_continues(tmp_path):
    p = arena_train(tmp_path, "minutes=30")
    deadline = time.time() + 240  # a guard on the wait: the verdict is the step count below
    while newest_step(tmp_path) < 20 and time.time() < deadline:
        time.sleep(1)
    os.killpg(p.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    p.wait(timeout=30)
    killed_at = newest_step(tmp_path)
    assert killed_at >= 20
    from agents.alphazero.replay import ReplayBuffer

    saved = checkpoint.load(tmp_path)
    buf = ReplayBuffer.load(tmp_path / "replay.npz")
    # A resume with nothing left to do (its step budget is spent) says so and writes nothing.
    r = arena_train(tmp_path, f"max_steps={killed_at}", "minutes=30", resume=True)
    out, _ = r.communicate(timeout=300)
    assert r.returncode == 0, out
    assert f"at learner step {killed_at}" in out and "nothing to do: max_steps reached" in out
    assert newest_step(tmp_path) == killed_at
    # A resume trains on from there: 10 more steps, which at 2 samples per position stored need fresh
    # self-play games (a count, not a time window).
    assert 32 * (killed_at + 10) > 2 * buf.added
    r = arena_train(tmp_path, "minutes=30", f"max_steps={killed_at + 10}", "max_samples_per_position=2", resume=True)
    out, _ = r.communicate(timeout=300)
    assert r.returncode == 0, out
    assert f"at learner step {killed_at}" in out
    assert newest_step(tmp_path) == killed_at + 10
    # The replay buffer came back whole and grew after the old games: every stored position, policy target
    # and value, and its counters.
    buf2 = ReplayBuffer.load(tmp_path / "replay.npz")
    n = buf.size
    assert n > 0 and buf2.size > n and buf2.added - buf.added == buf2.size - n and buf2.games > buf.games
    assert np.array_equal(buf2.obs[:n], buf.obs[:n]) and np.array_equal(buf2.policy[:n], buf.policy[:n])
    assert np.array_equal(buf2.value[:n], buf.value[:n]) and buf2.next == (buf.next + buf2.size - n) % buf.capacity
    after = checkpoint.load(tmp_path)["compute"]  # totals carry over the resume, the seconds included
    before = saved["compute"]
    assert after["trained"] == before["trained"] + 32 * 10
    assert after["forward_passes"] > before["forward_passes"] and after["games"] > before["games"]
    assert after["seconds"] > before["seconds"]


def test_a_killed_selfplay_actor_is_restarted(tmp_path):
    import ray

    from agents.common.config import load_config
    from agents.alphazero.train import train
    from agents.alphazero.config import TrainConfig

    # 40 learner steps at 2 samples per stored position need more games than the first worker delivers
    # before it is killed: the run ends by a step count once the restarted worker has played.
    cfg = load_config(TrainConfig, "configs/othello6_az.yaml",
                      TINY + ["minutes=5", "max_steps=40", "max_samples_per_position=2", "inference=auto"])
    lines = []
    result = {}
    t = threading.Thread(target=lambda: result.update(out=train(cfg, str(tmp_path), log=lines.append)))
    t.start()
    try:
        deadline = time.time() + 120
        while not any(x.startswith("self-play worker 0 (pid ") for x in lines) and time.time() < deadline:
            time.sleep(0.2)
        actor = ray.get_actor("selfplay-0", namespace=f"selfplay-arena-{os.getpid()}")
        ray.kill(actor, no_restart=False)
        killed = len(lines)
        t.join(timeout=300)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert any("worker 0 failed" in x for x in lines[killed:])
    reports = [(i, x) for i, x in enumerate(lines) if x.startswith("self-play worker 0 (pid ")]
    pid = lambda x: int(x.split("(pid ")[1].split(")")[0])  # noqa: E731
    first = [pid(x) for i, x in reports if i < killed]
    later = [(pid(x), int(x.split("(")[2].split()[0])) for i, x in reports if i >= killed]
    assert first and later, lines
    # A new process (another pid) played after the kill (its report counts the positions it searched).
    assert all(p != first[-1] for p, _ in later) and all(n > 0 for _, n in later)
    assert result["out"][1] == 40
