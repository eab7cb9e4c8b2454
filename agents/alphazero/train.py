"""``arena train``: AlphaZero. Self-play (Ray actors, or with ``workers: 0`` this process, without Ray)
feeds a replay buffer; the learner, in this process, trains on uniform samples, publishes weights every
``publish_every`` steps and writes checkpoints that ``--resume`` continues from.

    run_dir/config.json          the TrainConfig, as run
    run_dir/metrics.jsonl        one JSON line per progress tick and per gauntlet
    run_dir/checkpoints/*.pt     weights, optimizer, learner step, config, RNG states, compute
                                 (agents.common.checkpoint: atomic, safe to load)
    run_dir/replay.npz           the replay buffer, saved with every checkpoint (atomic)

Checkpoints (with the buffer) are written every ``checkpoint_every`` learner steps, every
``save_minutes`` of wall-clock (before learning starts too) and at every stop, so a resume keeps every
game played. ``minutes`` is the budget of the whole run, resumes included. With no ``address`` a local
Ray instance sized to the machine is started; ``address="auto"``, ``HOST:PORT`` or ``ray://host:port``
joins an existing cluster (agents.common.cluster), and the same code scales out.
"""

import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.alphazero.bootstrap import bootstrap
from agents.alphazero.config import TrainConfig
from agents.alphazero.evaluate import elo_difference, gate, gauntlet, snapshot
from agents.alphazero.inference import resolve_device
from agents.alphazero.learner import train_step
from agents.alphazero.network import forward_flops, new_net
from agents.alphazero.sources import LocalSelfPlay
from agents.common import checkpoint, cluster
from agents.common.config import dumps
from agents.common.files import atomic_write


# -- checkpoints ------------------------------------------------------------------------------------

def save_checkpoint(run_dir, net, opt, step, cfg, rng, compute=None, meta=None):
    """Write the run's checkpoint at learner ``step`` (``compute``: the totals; none: all zero). ``meta``
    says where the weights started: ``bootstrap`` (the engine bootstrap's summary) and ``init`` (a warm
    start: its file, step and its own origin); neither means zero-knowledge."""
    compute = compute or checkpoint.zero_compute("positions")
    return checkpoint.save(run_dir, step, kind="alphazero", trainer="train", config=asdict(cfg), model=net.args,
                           weights=net.state_dict(), optimizer=opt.state_dict(), rng=checkpoint.rng_state(rng),
                           compute=compute, keep=cfg.keep_checkpoints, meta=meta or {})


def origin(meta):
    """``"zero-knowledge"`` or how the weights were bootstrapped, from a checkpoint's ``meta``."""
    while meta:
        if meta.get("bootstrap"):
            b = meta["bootstrap"]
            return f"bootstrapped from {b['games']} games of {b['source']}"
        meta = (meta.get("init") or {}).get("meta")
    return "zero-knowledge"


def load_checkpoint(path, cfg, warm=False):
    """The checkpoint to resume ``cfg`` from; refused when it is another game, size or network, or (a
    resume, not a ``warm`` start) has the auxiliary heads where ``cfg`` has none or the reverse."""
    ck = checkpoint.load(path, kind="alphazero")
    old = TrainConfig.from_dict(ck["config"])
    have = (old.game, old.size, old.network, old.permute_squares)
    want = (cfg.game, cfg.size, cfg.network, cfg.permute_squares)
    if have != want:
        raise ValueError(f"checkpoint {path} is for game/size/network/permute_squares {have}, not {want}")
    if not warm and old.aux() != cfg.aux():
        raise ValueError(f"checkpoint {path} was trained {'with' if old.aux() else 'without'} the auxiliary heads "
                         f"(ownership_weight/score_weight): resume it with the same, or warm-start a new run "
                         f"from it (--set init=...)")
    return ck


def warm_start(net, weights, path):
    """Load ``weights`` into ``net``; auxiliary heads that only one of them has start fresh or are dropped."""
    missing, unexpected = net.load_state_dict(weights, strict=False)
    other = [k for k in missing + unexpected if not k.startswith(("ownership.", "score."))]
    if other:
        raise ValueError(f"{path}: the weights do not fit this network (e.g. {other[0]})")


# -- the run ----------------------------------------------------------------------------------------

def lr_at(cfg, step):
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.max_steps <= 0:
        return cfg.lr
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def clock(seconds):
    """``1h05m`` / ``4m30s`` / ``12s``."""
    seconds = max(0, int(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def train(cfg, run_dir, address=None, resume=False, log=print):
    """Train until ``cfg.minutes`` (the run's total, resumes included) or ``cfg.max_steps`` are spent, or
    SIGINT/SIGTERM, checkpointing on the way and at the end; returns ``(net, learner step)``. Nothing is
    written before the checkpoint to resume from is read and the Ray cluster (if any) is reached."""
    torch.set_num_threads(1)
    device = resolve_device(cfg.device)
    net = new_net(cfg).to(device)
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

    def flops(c):  # a trained sample is a forward pass plus a backward pass of about two forward passes
        return int((c["forward_passes"] + 2 * c["trained"]) * per_position)

    def totals():
        return {**compute, "seconds": round(compute["seconds"] + time.time() - start, 1), "flops": flops(compute)}
    ckpt = checkpoint.latest(run_dir) if resume else None
    if resume and ckpt is None:
        log(f"no checkpoint in {run_dir}/checkpoints: starting fresh")
    meta = {}  # where the weights came from (save_checkpoint)
    if ckpt:
        ck = load_checkpoint(ckpt, cfg)
        net.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        compute.update(ck["compute"])
        checkpoint.restore_rng(rng, ck["rng"])
        meta = ck.get("meta") or {}
    else:
        if cfg.init:
            start_from = load_checkpoint(cfg.init, cfg, warm=True)
            warm_start(net, start_from["weights"], start_from["path"])
            meta["init"] = {"path": start_from["path"], "step": start_from["step"], "meta": start_from.get("meta") or {}}
            log(f"warm start from {start_from['path']} (its learner step {start_from['step']}, "
                f"{origin(meta['init']['meta'])}); optimizer, replay buffer and counters start fresh")
        if cfg.init_transcripts:
            # Before any self-play worker exists: they would play with the untrained weights meanwhile.
            meta["bootstrap"] = bootstrap(cfg, net, opt, rng, device, log)
            compute["trained"] += meta["bootstrap"]["samples"]
            compute["forward_passes"] += meta["bootstrap"]["samples"]
            compute["seconds"] += meta["bootstrap"]["seconds"]
            path = save_checkpoint(run_dir, net, opt, 0, cfg, rng, {**compute, "flops": flops(compute)}, meta)
            log(f"checkpoint {path} (after the engine bootstrap; a resume starts self-play from it)")
    # The engine bootstrap's samples were the engine's positions, not the buffer's: they count in the compute
    # but not against the sample-reuse cap, which would otherwise hold the learner back after a bootstrap.
    boot_samples = (meta.get("bootstrap") or {}).get("samples", 0)
    budget = cfg.minutes * 60 - compute["seconds"]  # what this process may spend
    if ckpt:
        log(f"resumed from {ckpt} at learner step {step}: {clock(compute['seconds'])} of the {cfg.minutes:g}-minute "
            f"budget spent, {clock(budget)} left" + ("" if budget > 0 else " (raise it with --set minutes=...)"))
    if budget <= 0:
        return net, step
    replay_path = os.path.join(run_dir, "replay.npz")
    resume_replay = replay_path if ckpt and os.path.exists(replay_path) else None
    started = False
    if cfg.workers == 0:
        source = LocalSelfPlay(cfg, net, device, resume_replay, log=log, step=step)
        where = f"in this process on {device}"
    else:
        # One namespace per driver: the actors are named in it (workers find the store and the buffer by
        # name; tests find and kill workers, selfplay-<i>, by name). Ray is imported only here: with
        # workers 0 the trainer runs where Ray is not installed.
        started = cluster.connect(address, namespace=f"selfplay-arena-{os.getpid()}")
        from agents.alphazero.actors import RaySelfPlay
        try:
            source = RaySelfPlay(cfg, net, step, resume_replay, log=log)
        except BaseException:
            if started:  # nothing else will shut the instance this run started
                import ray
                ray.shutdown()
            raise
        where = f"on {cfg.workers} Ray worker(s)"
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    atomic_write(os.path.join(run_dir, "config.json"), dumps(cfg))
    log(dumps(cfg))
    stats = source.stats()
    log(f"self-play: {cfg.games_in_flight} games in flight {where}; learner on {device}; learning starts at "
        f"{cfg.min_replay} positions (replay holds {stats['size']}); budget {clock(budget)}")

    stop = {"flag": False}
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        old_handlers = {s: signal.signal(s, lambda *_: stop.update(flag=True)) for s in (signal.SIGINT, signal.SIGTERM)}
    metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    if meta.get("bootstrap") and not ckpt:
        metrics.write(json.dumps({"step": 0, "bootstrap": meta["bootstrap"]}) + "\n")
    board = SummaryWriter(os.path.join(run_dir, "tensorboard"))  # TensorBoard next to the JSONL
    best = snapshot(net)  # the weights self-play uses under gating
    earlier = None  # the net of the previous gauntlet: an anchor that moves with training
    elo = {}
    start = time.time()
    at_start, at_start_step, at_start_added = dict(compute), step, stats["added"]
    last_tick, last_save, losses, moves = start, start, [], 0
    inference = {}  # worker -> the headline of its inference backend's last check

    def progress():
        """One progress line: to the log, to metrics.jsonl (with the compute totals) and TensorBoard."""
        el = max(time.time() - start, 1e-9)
        loss = {k: float(np.mean([x[k] for x in losses])) for k in losses[0]} if losses else {}
        games = compute["reward_events"] - at_start["reward_events"]
        positions = compute["positions"] - at_start["positions"]
        line = {"step": step, "minutes": round(el / 60, 2), "games": games, "positions": positions,
                "games_per_s": round(games / el, 2), "positions_per_s": round(positions / el, 1),
                "moves_per_s": round(moves / el, 1), "steps_per_s": round((step - at_start_step) / el, 2),
                "replay": stats["size"], **loss}
        if cfg.progressive_steps:
            line["simulations"] = cfg.simulations_at(step)
        metrics.write(json.dumps({**line, "inference": inference, "compute": totals()}) + "\n")
        metrics.flush()
        for k, v in line.items():
            board.add_scalar(f"train/{k}", v, step)
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items())
        if stats["size"] < cfg.min_replay:
            # Positions reach the buffer only as games end: count those searched in unfinished games too.
            searched = moves * cfg.full_search_prob
            waiting = max(0.0, searched - (stats["added"] - at_start_added))
            eta = clock((cfg.min_replay - stats["size"] - waiting) / (searched / el)) if searched else "?"
            text += f" | filling {stats['size']}/{cfg.min_replay}, learning in ~{eta}"
        if elo:
            text += " elo=" + ",".join(f"{k}{v:+d}" for k, v in elo.items())
        log(f"{text} | {clock(budget - el)} left")

    def save(why):
        path = save_checkpoint(run_dir, net, opt, step, cfg, rng, totals(), meta)
        source.save(replay_path)
        log(f"checkpoint {path} ({why}; replay buffer of {stats['size']} positions saved with it)")
    try:
        while not stop["flag"] and time.time() - start < budget and not (cfg.max_steps and step >= cfg.max_steps) \
                and not (cfg.max_flops and flops(compute) >= cfg.max_flops):
            learn = stats["size"] >= cfg.min_replay and \
                compute["trained"] - boot_samples <= cfg.max_samples_per_position * stats["added"]
            for r in source.poll(wait=not learn):
                compute["reward_events"] += r["games"]
                compute["games"] += r["games"]
                compute["positions"] += r["positions"]
                compute["forward_passes"] += r["forward_positions"]
                moves += r["moves"]
                inference[str(r["worker"])] = r["inference"]
            stats = source.stats()
            if time.time() - last_tick > (10 if step or time.time() - start > 30 else 3):
                progress()  # every 3 s in the first half minute: something shows from the start
                last_tick, losses = time.time(), []
            if time.time() - last_save > cfg.save_minutes * 60:
                save(f"every {cfg.save_minutes:g} minutes")
                last_save = time.time()
            if not learn:
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            obs, pol, val, *aux = source.sample(cfg.batch_size, cfg.aux())
            losses.append(train_step(net, opt, obs, pol, val, rng, device=device, aux=aux or None,
                                     ownership_weight=cfg.ownership_weight, score_weight=cfg.score_weight))
            step += 1
            compute["trained"] += cfg.batch_size
            compute["forward_passes"] += cfg.batch_size
            if step % cfg.publish_every == 0 and cfg.gating == "latest":
                source.publish(step, net)
            if step % cfg.checkpoint_every == 0:
                save(f"every {cfg.checkpoint_every} steps")
                last_save = time.time()
            if cfg.eval_every and step % cfg.eval_every == 0:
                log(f"step {step}: gauntlet against {', '.join(cfg.anchors)}{', previous' if earlier else ''} "
                    f"({cfg.eval_games} games each)")
                scores = gauntlet(cfg, net, step, earlier)
                earlier = snapshot(net)
                elo = {k: round(elo_difference(v, cfg.eval_games)) for k, v in scores.items()}
                row = {"step": step, "gauntlet": scores, "elo_vs_anchor": elo, "compute": totals()}
                if cfg.gating == "gate":
                    row["gate_score"] = gate(cfg, net, best, step)
                    row["promoted"] = row["gate_score"] >= cfg.gate_score
                    if row["promoted"]:
                        best = snapshot(net)
                        source.publish(step, net)
                metrics.write(json.dumps(row) + "\n")
                for k, v in scores.items():
                    board.add_scalar(f"gauntlet/{k}", v, step)
                log(f"step {step} gauntlet: " + ", ".join(f"{k} {v:.0%} ({elo[k]:+d} Elo)" for k, v in scores.items())
                    + (f"; gate {row['gate_score']:.0%} {'promoted' if row['promoted'] else 'kept'}"
                       if cfg.gating == "gate" else ""))
    finally:
        try:
            progress()  # the run's last figures, however short it was
        except Exception as e:  # e.g. a full disk: the checkpoint below matters more
            log(f"could not write the last progress line ({type(e).__name__}: {e})")
        why = "stopped by a signal" if stop["flag"] else "max_steps reached" if cfg.max_steps and step >= cfg.max_steps \
            else "max_flops reached" if cfg.max_flops and flops(compute) >= cfg.max_flops \
            else "budget spent" if time.time() - start >= budget else "stopping"
        try:
            save(why)  # a second Ctrl-C during it is still caught by our handler: the save finishes
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            metrics.close()
            board.close()
            source.close()
            if started:
                import ray  # connected above, so installed
                ray.shutdown()
    return net, step
