"""``arena train``: AlphaZero on Ray. Self-play actors feed a replay-buffer actor; the learner, in the
driver process, trains on uniform samples, publishes weights every ``publish_every`` steps and writes
checkpoints that ``--resume`` continues from.

    run_dir/config.json          the TrainConfig, as run
    run_dir/metrics.jsonl        one JSON line per progress tick and per gauntlet
    run_dir/checkpoints/*.pt     weights, optimizer, learner step, config, RNG states, compute
                                 (agents.common.checkpoint: atomic, safe to load)
    run_dir/replay.npz           the replay buffer, saved with every checkpoint (atomic)

With no ``address``, ``ray.init()`` starts a local Ray instance sized to the machine; ``address="auto"``
or ``ray://host:port`` joins an existing cluster, and the same code scales out.
"""

import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict

import numpy as np
import ray
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.alphazero.actors import REPLAY, WEIGHTS, ReplayActor, SelfPlayWorker, WeightStore, pinned_here, weights_blob
from agents.alphazero.config import TrainConfig
from agents.alphazero.evaluate import elo_difference, gate, gauntlet, snapshot
from agents.alphazero.learner import train_step
from agents.alphazero.network import forward_flops, new_net
from agents.common import checkpoint, cluster
from agents.common.config import dumps
from agents.common.files import atomic_write
from envs.core import make_batch


# -- checkpoints ------------------------------------------------------------------------------------

def save_checkpoint(run_dir, net, opt, step, cfg, rng, compute=None):
    """Write the run's checkpoint at learner ``step`` (``compute``: the totals; none: all zero)."""
    compute = compute or checkpoint.zero_compute("positions")
    return checkpoint.save(run_dir, step, kind="alphazero", trainer="train", config=asdict(cfg), model=net.args,
                           weights=net.state_dict(), optimizer=opt.state_dict(), rng=checkpoint.rng_state(rng),
                           compute=compute, keep=cfg.keep_checkpoints)


def load_checkpoint(path, cfg):
    """The checkpoint to resume ``cfg`` from; refused when it is another game, size or network."""
    ck = checkpoint.load(path, kind="alphazero")
    old = TrainConfig.from_dict(ck["config"])
    have = (old.game, old.size, old.network, old.permute_squares)
    want = (cfg.game, cfg.size, cfg.network, cfg.permute_squares)
    if have != want:
        raise ValueError(f"checkpoint {path} is for game/size/network/permute_squares {have}, not {want}")
    return ck


# -- the run ----------------------------------------------------------------------------------------

def lr_at(cfg, step):
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.max_steps <= 0:
        return cfg.lr
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def train(cfg, run_dir, address=None, resume=False, log=print):
    """Train until ``cfg.minutes`` or ``cfg.max_steps`` (or SIGINT/SIGTERM), checkpointing on the way
    and at the end; returns ``(net, learner step)``. Nothing is written before the checkpoint to resume
    from is read and the Ray cluster is reached."""
    torch.set_num_threads(1)
    net = new_net(cfg)
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    step = 0  # learner steps
    # Compute totals over the run, resumes included (agents.common.checkpoint.COMPUTE): reward events and
    # games are the self-play games whose outcome was trained on; forward passes count every network
    # evaluation in self-play search and every sample trained (gauntlets and gates are measurement, not
    # training, and are left out); seconds are the wall-clock of training, resumes summed.
    compute = checkpoint.zero_compute("positions")
    per_position = forward_flops(net)

    def totals():  # a trained sample is a forward pass plus a backward pass of about two forward passes
        return {**compute, "seconds": round(compute["seconds"] + time.time() - start, 1),
                "flops": int((compute["forward_passes"] + 2 * compute["trained"]) * per_position)}
    ckpt = checkpoint.latest(run_dir) if resume else None
    if resume and ckpt is None:
        log(f"no checkpoint in {run_dir}/checkpoints: starting fresh")
    if ckpt:
        ck = load_checkpoint(ckpt, cfg)
        net.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        compute.update(ck["compute"])
        checkpoint.restore_rng(rng, ck["rng"])
        log(f"resumed from {ckpt} at learner step {step}")
    # One namespace per driver: the actors are named in it (workers find the store and the buffer by name;
    # tests find and kill workers, selfplay-<i>, by name).
    started = cluster.connect(address, namespace=f"selfplay-arena-{os.getpid()}")
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    atomic_write(os.path.join(run_dir, "config.json"), dumps(cfg))
    log(dumps(cfg))
    probe = make_batch(cfg.game, 1, cfg.size, **cfg.game_kwargs())
    replay_path = os.path.join(run_dir, "replay.npz")
    replay = ReplayActor.options(name=REPLAY, **pinned_here()).remote(
        cfg.replay_capacity, probe.obs_shape, probe.num_actions, cfg.seed, replay_path if ckpt else None)
    store = WeightStore.options(name=WEIGHTS, **pinned_here()).remote()
    ray.get(store.put.remote(step, weights_blob(net)))
    workers = [SelfPlayWorker.options(name=f"selfplay-{i}", max_restarts=-1).remote(asdict(cfg), i)
               for i in range(cfg.workers)]
    chunk = max(1, cfg.games_in_flight // 4)
    pending = {w.run.remote(chunk): i for i, w in enumerate(workers)}

    stop = {"flag": False}
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        old_handlers = {s: signal.signal(s, lambda *_: stop.update(flag=True)) for s in (signal.SIGINT, signal.SIGTERM)}
    metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    board = SummaryWriter(os.path.join(run_dir, "tensorboard"))  # TensorBoard next to the JSONL
    best = snapshot(net)  # the weights self-play uses under gating
    earlier = None  # the net of the previous gauntlet: an anchor that moves with training
    elo = {}
    start = time.time()
    at_start, at_start_step = dict(compute), step  # this process's rates are measured from here
    last_tick, losses = time.time(), []
    stats = ray.get(replay.stats.remote())
    pids = {}  # worker index -> the pid of the process that reported last

    def progress():
        """One progress line: to the log, to metrics.jsonl (with the compute totals) and TensorBoard."""
        el = max(time.time() - start, 1e-9)
        loss = {k: float(np.mean([x[k] for x in losses])) for k in losses[0]} if losses else {}
        games = compute["reward_events"] - at_start["reward_events"]
        positions = compute["positions"] - at_start["positions"]
        line = {"step": step, "minutes": round(el / 60, 2), "games": games, "positions": positions,
                "games_per_s": round(games / el, 2), "positions_per_s": round(positions / el, 1),
                "steps_per_s": round((step - at_start_step) / el, 2), "replay": stats["size"], **loss}
        metrics.write(json.dumps({**line, "compute": totals()}) + "\n")
        metrics.flush()
        for k, v in line.items():
            board.add_scalar(f"train/{k}", v, step)
        if elo:
            line["elo"] = ",".join(f"{k}{v:+d}" for k, v in elo.items())
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items()))
    try:
        while not stop["flag"] and time.time() - start < cfg.minutes * 60 and not (cfg.max_steps and step >= cfg.max_steps):
            ready, _ = ray.wait(list(pending), timeout=0)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    r = ray.get(ref)
                    stats = {"size": r["replay_size"], "added": r["replay_added"]}
                    compute["reward_events"] += r["games"]
                    compute["games"] += r["games"]
                    compute["positions"] += r["positions"]
                    compute["forward_passes"] += r["forward_positions"]
                    if pids.get(i) != r["pid"]:  # a first report, or one from a restarted worker
                        log(f"self-play worker {i} (pid {r['pid']}) delivered {r['games']} games")
                        pids[i] = r["pid"]
                except ray.exceptions.RayError as e:
                    log(f"self-play worker {i} failed ({type(e).__name__}); Ray restarts it and play goes on")
                pending[workers[i].run.remote(chunk)] = i
            if stats["size"] < cfg.min_replay or compute["trained"] > cfg.max_samples_per_position * stats["added"]:
                time.sleep(0.05)
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            obs, pol, val = ray.get(replay.sample.remote(cfg.batch_size))
            losses.append(train_step(net, opt, obs, pol, val, rng))
            step += 1
            compute["trained"] += cfg.batch_size
            compute["forward_passes"] += cfg.batch_size
            if step % cfg.publish_every == 0 and cfg.gating == "latest":
                ray.get(store.put.remote(step, weights_blob(net)))
            if step % cfg.checkpoint_every == 0:
                save_checkpoint(run_dir, net, opt, step, cfg, rng, totals())
                ray.get(replay.save.remote(replay_path))
            if cfg.eval_every and step % cfg.eval_every == 0:
                scores = gauntlet(cfg, net, step, earlier)
                earlier = snapshot(net)
                elo = {k: round(elo_difference(v, cfg.eval_games)) for k, v in scores.items()}
                row = {"step": step, "gauntlet": scores, "elo_vs_anchor": elo, "compute": totals()}
                if cfg.gating == "gate":
                    row["gate_score"] = gate(cfg, net, best, step)
                    row["promoted"] = row["gate_score"] >= cfg.gate_score
                    if row["promoted"]:
                        best = snapshot(net)
                        ray.get(store.put.remote(step, weights_blob(net)))
                metrics.write(json.dumps(row) + "\n")
                for k, v in scores.items():
                    board.add_scalar(f"gauntlet/{k}", v, step)
                log(f"step {step} gauntlet: " + ", ".join(f"{k} {v:.0%} ({elo[k]:+d} Elo)" for k, v in scores.items())
                    + (f"; gate {row['gate_score']:.0%} {'promoted' if row['promoted'] else 'kept'}"
                       if cfg.gating == "gate" else ""))
            if time.time() - last_tick > 10:
                progress()
                last_tick, losses = time.time(), []
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        progress()  # the run's last figures, however short it was
        if step > 0:
            path = save_checkpoint(run_dir, net, opt, step, cfg, rng, totals())
            ray.get(replay.save.remote(replay_path))
            log(f"checkpoint {path}")
        metrics.close()
        board.close()
        for actor in (*workers, replay, store):  # a later run in this process starts with fresh names
            ray.kill(actor, no_restart=True)
        if started:
            ray.shutdown()
    return net, step
