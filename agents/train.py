"""``arena train``: AlphaZero on Ray. Self-play actors feed a replay-buffer actor; the learner, in the
driver process, trains on uniform samples, publishes weights every ``publish_every`` steps and writes
checkpoints that ``--resume`` continues from.

    run_dir/config.json          the TrainConfig, as run
    run_dir/metrics.jsonl        one JSON line per progress tick and per gauntlet
    run_dir/checkpoints/*.pt     weights, optimizer, learner step, config, RNG states (atomic writes)
    run_dir/replay.npz           the replay buffer, saved with every checkpoint (atomic)

With no ``address``, ``ray.init()`` starts a local Ray instance sized to the machine; ``address="auto"``
or ``ray://host:port`` joins an existing cluster, and the same code scales out.
"""

import io
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict

import numpy as np
import ray
import torch

from agents.checkpoints import latest, prune
from agents.config import dumps
from agents.evaluators import TorchEvaluator
from agents.learner import train_step
from agents.match import anchor_agent, net_agent, play_match
from agents.mcts import SearchConfig
from agents.network import forward_flops, from_preset
from agents.replay import ReplayBuffer
from agents.selfplay import SelfPlay
from agents.train_config import TrainConfig
from envs.core import make_batch


def game_kwargs(cfg):
    return {"komi": None if cfg.komi < 0 else cfg.komi} if cfg.game == "go" else {}


def new_net(cfg):
    shape = make_batch(cfg.game, 1, cfg.size, **game_kwargs(cfg)).obs_shape
    return from_preset(cfg.network, shape[0], cfg.size, cfg.permute_squares)


def weights_blob(net):
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


# -- actors -----------------------------------------------------------------------------------------

@ray.remote
class WeightStore:
    """The newest published weights, as bytes, with a version number (the learner step)."""

    def __init__(self):
        self.version, self.blob = -1, None

    def put(self, version, blob):
        self.version, self.blob = version, blob

    def get(self, have):
        return (self.version, self.blob) if self.version > have else (have, None)


@ray.remote
class ReplayActor:
    def __init__(self, capacity, obs_shape, num_actions, seed, path=None):
        self.buf = ReplayBuffer.load(path) if path and os.path.exists(path) else ReplayBuffer(capacity, obs_shape, num_actions)
        self.rng = np.random.default_rng(seed)

    def add(self, records):
        for r in records:
            self.buf.add_game(r)
        return self.stats()

    def sample(self, n):
        return self.buf.sample(n, self.rng)

    def stats(self):
        return {"size": self.buf.size, "added": self.buf.added, "games": self.buf.games}

    def save(self, path):
        self.buf.save(path)


@ray.remote(num_cpus=1)
class SelfPlayWorker:
    """Runs ``games_in_flight`` games at once; each ``run`` call plays until ``games`` more finish,
    pushes them to the replay actor and reports. Weights are pulled from the store before each call."""

    def __init__(self, cfg_dict, worker_id, store, replay):
        torch.set_num_threads(1)
        cfg = TrainConfig(**cfg_dict)
        self.store, self.replay, self.version = store, replay, -1
        self.net = new_net(cfg)
        search = SearchConfig(simulations=cfg.simulations, root=cfg.root, dirichlet_alpha=cfg.dirichlet_alpha,
                              dirichlet_fraction=cfg.dirichlet_fraction if cfg.root == "puct" else 0.0)
        self.evaluator = TorchEvaluator(self.net)
        sp = SelfPlay(self.evaluator, cfg.game, cfg.size, cfg.games_in_flight, search,
                      seed=cfg.seed * 1000 + worker_id, cheap_simulations=cfg.cheap_simulations,
                      full_search_prob=cfg.full_search_prob, temperature_moves=cfg.temperature_moves,
                      resign_threshold=cfg.resign_threshold, no_resign_fraction=cfg.no_resign_fraction,
                      **game_kwargs(cfg))
        self.games = sp.play(sys.maxsize)

    def run(self, games):
        version, blob = ray.get(self.store.get.remote(self.version))
        if blob is not None:
            self.net.load_state_dict(torch.load(io.BytesIO(blob)))
            self.version = version
        t = time.perf_counter()
        f0 = self.evaluator.forward_positions
        records = [next(self.games) for _ in range(games)]
        stats = ray.get(self.replay.add.remote(records))
        return {"games": games, "positions": int(sum(len(r.moves) for r in records)),
                "false_resign": int(sum(r.false_resign for r in records)), "seconds": time.perf_counter() - t,
                "forward_positions": self.evaluator.forward_positions - f0,
                "version": self.version, **{"replay_" + k: v for k, v in stats.items()}}


# -- checkpoints ------------------------------------------------------------------------------------

def save_checkpoint(run_dir, net, opt, step, cfg, rng, samples, compute=None):
    path = os.path.join(run_dir, "checkpoints", f"step_{step:08d}.pt")
    tmp = path + ".tmp"
    torch.save({"weights": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "samples": samples,
                "config": asdict(cfg), "compute": compute or {},
                "net_args": net.args, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)
    prune(os.path.dirname(path), cfg.keep_checkpoints)
    return path


def load_checkpoint(path, cfg):
    try:
        ck = torch.load(path, weights_only=False)
    except Exception as e:  # a truncated or foreign file: one clear line
        raise ValueError(f"cannot read checkpoint {path}: {e}") from None
    old = ck.get("config", {})
    have = (old.get("game"), old.get("size"), old.get("network"), old.get("permute_squares", -1))
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


def snapshot(cfg, net):
    copy = new_net(cfg)
    copy.load_state_dict(net.state_dict())
    return copy.eval()


def gauntlet(cfg, net, step, earlier=None):
    """The current net against every anchor, and against ``earlier`` (the net of the previous
    gauntlet, as anchor ``previous``) when given; returns {anchor: score in [0, 1]}."""
    eval_net = snapshot(cfg, net)
    opponents = [(spec, anchor_agent(spec, seed=step + i)) for i, spec in enumerate(cfg.anchors)]
    if earlier is not None:
        opponents.append(("previous", net_agent(earlier, cfg.eval_simulations, seed=step - 1)))
    out = {}
    for i, (name, agent) in enumerate(opponents):
        s = play_match(net_agent(eval_net, cfg.eval_simulations, seed=step + i), agent,
                       cfg.game, cfg.size, cfg.eval_games, seed=cfg.seed + step + i, **game_kwargs(cfg))
        out[name] = float((s + 1).mean() / 2)
    return out


def elo_difference(score, games):
    """Elo difference implied by a match score, clipped to what ``games`` games can show."""
    p = min(max(score, 0.5 / games), 1 - 0.5 / games)
    return 400.0 * math.log10(p / (1 - p))


def gate(cfg, net, best, step):
    """Score of the candidate ``net`` against the ``best`` weights (the ones self-play uses)."""
    s = play_match(net_agent(snapshot(cfg, net), cfg.eval_simulations, seed=step),
                   net_agent(best, cfg.eval_simulations, seed=step + 1), cfg.game, cfg.size, cfg.gate_games,
                   seed=cfg.seed + step, **game_kwargs(cfg))
    return float((s + 1).mean() / 2)


def train(cfg, run_dir, address=None, resume=False, log=print):
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    torch.set_num_threads(1)
    net = new_net(cfg)
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    step = samples = 0  # learner steps; positions sampled (the learner waits when it gets ahead of self-play)
    # Compute totals over the run, resumes included (issue 7's accounting): reward events are the games whose
    # outcome self-play produced; forward positions count every network evaluation in self-play search
    # (gauntlets and gates are measurement, not training, and are left out).
    # Samples trained on are ``samples`` itself; seconds are the wall-clock of training, resumes summed.
    compute = {"reward_events": 0, "positions": 0, "forward_positions": 0, "seconds": 0.0}
    per_position = forward_flops(net)

    def totals():  # a training sample costs about 3 forward passes (forward + backward)
        return {**compute, "seconds": round(compute["seconds"] + time.time() - start, 1), "samples_trained": samples,
                "flops": int((compute["forward_positions"] + 3 * samples) * per_position)}
    ckpt = latest(run_dir) if resume else None
    if resume and ckpt is None:
        log(f"no checkpoint in {run_dir}/checkpoints: starting fresh")
    if ckpt:
        ck = load_checkpoint(ckpt, cfg)
        net.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step, samples = ck["step"], ck.get("samples", 0)
        compute.update({k: ck.get("compute", {}).get(k, 0) for k in compute})
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ckpt} at learner step {step}")
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write(dumps(cfg))
    log(dumps(cfg))

    # One namespace per driver: actors are named selfplay-<i> in it (tests find and kill them by name).
    ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
             namespace=f"selfplay-arena-{os.getpid()}")
    probe = make_batch(cfg.game, 1, cfg.size, **game_kwargs(cfg))
    replay_path = os.path.join(run_dir, "replay.npz")
    replay = ReplayActor.remote(cfg.replay_capacity, probe.obs_shape, probe.num_actions, cfg.seed,
                                replay_path if ckpt else None)
    store = WeightStore.remote()
    ray.get(store.put.remote(step, weights_blob(net)))
    workers = [SelfPlayWorker.options(name=f"selfplay-{i}", max_restarts=-1).remote(asdict(cfg), i, store, replay)
               for i in range(cfg.workers)]
    chunk = max(1, cfg.games_in_flight // 4)
    pending = {w.run.remote(chunk): i for i, w in enumerate(workers)}

    stop = {"flag": False}
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        old_handlers = {s: signal.signal(s, lambda *_: stop.update(flag=True)) for s in (signal.SIGINT, signal.SIGTERM)}
    metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    try:  # TensorBoard next to the JSONL when the package is installed (it is a dependency)
        from torch.utils.tensorboard import SummaryWriter

        board = SummaryWriter(os.path.join(run_dir, "tensorboard"))
    except ImportError:
        board = None
    best = snapshot(cfg, net)  # the weights self-play uses under gating
    earlier = None  # the net of the previous gauntlet: an anchor that moves with training
    elo = {}
    start = time.time()
    at_start = dict(compute)  # this process's rates are measured from here
    last_tick, losses = time.time(), []
    stats = ray.get(replay.stats.remote())
    try:
        while not stop["flag"] and time.time() - start < cfg.minutes * 60 and not (cfg.max_steps and step >= cfg.max_steps):
            ready, _ = ray.wait(list(pending), timeout=0)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    r = ray.get(ref)
                    stats = {"size": r["replay_size"], "added": r["replay_added"]}
                    compute["reward_events"] += r["games"]
                    compute["positions"] += r["positions"]
                    compute["forward_positions"] += r["forward_positions"]
                except ray.exceptions.RayError as e:
                    log(f"self-play worker {i} failed ({type(e).__name__}); Ray restarts it and play goes on")
                pending[workers[i].run.remote(chunk)] = i
            if stats["size"] < cfg.min_replay or samples > cfg.max_samples_per_position * stats["added"]:
                time.sleep(0.05)
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            obs, pol, val = ray.get(replay.sample.remote(cfg.batch_size))
            losses.append(train_step(net, opt, obs, pol, val, rng))
            step += 1
            samples += cfg.batch_size
            if step % cfg.publish_every == 0 and cfg.gating == "latest":
                ray.get(store.put.remote(step, weights_blob(net)))
            if step % cfg.checkpoint_every == 0:
                save_checkpoint(run_dir, net, opt, step, cfg, rng, samples, totals())
                ray.get(replay.save.remote(replay_path))
            if cfg.eval_every and step % cfg.eval_every == 0:
                scores = gauntlet(cfg, net, step, earlier)
                earlier = snapshot(cfg, net)
                elo = {k: round(elo_difference(v, cfg.eval_games)) for k, v in scores.items()}
                row = {"step": step, "gauntlet": scores, "elo_vs_anchor": elo, "compute": totals()}
                if cfg.gating == "gate":
                    row["gate_score"] = gate(cfg, net, best, step)
                    row["promoted"] = row["gate_score"] >= cfg.gate_score
                    if row["promoted"]:
                        best = snapshot(cfg, net)
                        ray.get(store.put.remote(step, weights_blob(net)))
                metrics.write(json.dumps(row) + "\n")
                if board:
                    for k, v in scores.items():
                        board.add_scalar(f"gauntlet/{k}", v, step)
                log(f"step {step} gauntlet: " + ", ".join(f"{k} {v:.0%} ({elo[k]:+d} Elo)" for k, v in scores.items())
                    + (f"; gate {row['gate_score']:.0%} {'promoted' if row['promoted'] else 'kept'}"
                       if cfg.gating == "gate" else ""))
            if time.time() - last_tick > 10:
                el = time.time() - start
                loss = {k: float(np.mean([x[k] for x in losses])) for k in losses[0]} if losses else {}
                games = compute["reward_events"] - at_start["reward_events"]
                positions = compute["positions"] - at_start["positions"]
                line = {"step": step, "minutes": round(el / 60, 2), "games": games, "positions": positions,
                        "games_per_s": round(games / el, 2), "positions_per_s": round(positions / el, 1),
                        "steps_per_s": round(step / el, 2), "replay": stats["size"], **loss}
                metrics.write(json.dumps({**line, "compute": totals()}) + "\n")
                metrics.flush()
                if board:
                    for k, v in line.items():
                        board.add_scalar(f"train/{k}", v, step)
                if elo:
                    line["elo"] = ",".join(f"{k}{v:+d}" for k, v in elo.items())
                log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items()))
                last_tick, losses = time.time(), []
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if step > 0:
            path = save_checkpoint(run_dir, net, opt, step, cfg, rng, samples, totals())
            ray.get(replay.save.remote(replay_path))
            log(f"checkpoint {path}")
        metrics.close()
        if board:
            board.close()
    return net, step
