"""``arena train``: AlphaZero. Self-play (Ray actors, or with ``workers: 0`` this process, without Ray)
feeds a replay buffer; the learner, in this process, trains on uniform samples, publishes weights every
``publish_every`` steps and writes checkpoints that ``--resume`` continues from.

    run_dir/config.json          the TrainConfig, as run      (the run's plumbing: agents.common.run)
    run_dir/metrics.jsonl        one JSON line per progress tick and per gauntlet
    run_dir/checkpoints/*.pt     weights, optimizer, learner step, config, every random stream, compute
                                 (agents.common.checkpoint: atomic, safe to load)
    run_dir/replay.npz           the replay buffer and its sampling stream, saved with every checkpoint
    run_dir/selfplay.npz         the weights self-play plays with (under gating, the gate's best), the
                                 previous gauntlet's net and, in-process, the games in flight

Checkpoints (with the buffer) are written every ``checkpoint_every`` learner steps, every
``save_minutes`` of wall-clock (before learning starts too) and at every stop, so a resume keeps every
game played. ``minutes`` is the budget of the whole run, resumes included. With ``workers: 0`` (no Ray)
self-play and learning take turns by counts alone, so on the CPU a run is a function of its config and
seed, and a run stopped and resumed ends with the same weights as the run uninterrupted. With no
``address`` a local Ray instance sized to the machine is started; ``address="auto"``, ``HOST:PORT`` or
``ray://host:port`` joins an existing cluster (agents.common.cluster), and the same code scales out.
"""

import os
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from agents.alphazero.bootstrap import bootstrap
from agents.alphazero.config import TrainConfig
from agents.alphazero.evaluate import elo_difference, gate, gauntlet, net_evaluator, snapshot
from agents.alphazero.inference import resolve_device
from agents.alphazero.learner import train_step
from agents.alphazero.network import forward_flops, new_net
from agents.alphazero.sources import LocalSelfPlay, load_state, save_state
from agents.common import checkpoint, cluster
from agents.common.config import dumps
from agents.common.export import origin
from agents.common.run import Run, clock, differences, lr_at


# -- checkpoints ------------------------------------------------------------------------------------

def save_checkpoint(run_dir, net, opt, step, cfg, rng, compute=None, meta=None):
    """Write an AlphaZero checkpoint of ``net`` outside a run (tests, benchmarks, tools): learner ``step``,
    ``compute`` totals (none: all zero), ``meta`` where the weights started (see :func:`origin`)."""
    compute = compute or checkpoint.zero_compute("positions")
    return checkpoint.save(run_dir, step, kind="alphazero", trainer="train", config=asdict(cfg), model=net.args,
                           weights=net.state_dict(), optimizer=opt.state_dict(), rng=checkpoint.rng_state(rng),
                           compute=compute, keep=cfg.keep_checkpoints, meta=meta or {})


def load_checkpoint(path, cfg, warm=False):
    """The checkpoint to resume ``cfg`` from (or, ``warm``, to start a new run from); refused with one
    line when it is another game, size or network, or (a resume, not a ``warm`` start) has the auxiliary
    heads where ``cfg`` has none or the reverse."""
    ck = checkpoint.load(path, kind="alphazero")
    check_compatible(ck, cfg, warm)
    return ck


SHAPE = ("game", "size", "network", "permute_squares", "inputs", "gpool")  # what the weights' shapes follow


def check_compatible(ck, cfg, warm=False):
    old = TrainConfig.from_dict(ck["config"])
    # A warm start may add Go's aids to a plain net (warm_start says how); everything else must match.
    grows = warm and old.inputs in ("basic", cfg.inputs) and cfg.gpool >= old.gpool
    keys = [k for k in SHAPE if not (grows and k in ("inputs", "gpool"))]
    differences(ck["path"], {k: getattr(old, k) for k in keys}, {k: getattr(cfg, k) for k in keys})
    if not warm and old.aux() != cfg.aux():
        raise ValueError(f"checkpoint {ck['path']} was trained {'with' if old.aux() else 'without'} the auxiliary "
                         f"heads (ownership_weight/score_weight): resume it with the same, or warm-start a new run "
                         f"from it (--set init=...)")
    if not warm and (ck.get("state") or {}).get("bootstrap"):  # stopped in its engine bootstrap: go on alike
        keys = ("init_epochs", "batch_size", "lr")
        differences(ck["path"], {k: getattr(old, k) for k in keys}, {k: getattr(cfg, k) for k in keys},
                    "its engine bootstrap stopped part-way and goes on only with the same passes, batch and lr")
    if not warm and (old.init, old.init_transcripts) != (cfg.init, cfg.init_transcripts):
        raise ValueError(f"checkpoint {ck['path']} started from init={old.init!r} init_transcripts="
                         f"{old.init_transcripts!r}, not init={cfg.init!r} init_transcripts={cfg.init_transcripts!r}: "
                         f"resume it with the same start, or choose another --run-dir")


def warm_start(net, weights, path):
    """Load ``weights`` into ``net``; auxiliary heads that only one of them has start fresh or are dropped.
    A plain net grows into one with Go's aids as the same function: the input features' first planes are
    the plain planes, so the stem's new input channels start at zero, and a global-pooling block starts as
    the plain block it replaces (its pooled bias at zero)."""
    weights, own = dict(weights), net.state_dict()
    stem = "stem.0.weight"
    if stem in weights and weights[stem].shape[1] < own[stem].shape[1]:
        grown = torch.zeros_like(own[stem])
        grown[:, : weights[stem].shape[1]] = weights[stem]
        weights[stem] = grown
    missing, unexpected = net.load_state_dict(weights, strict=False)
    pooling = [k for k in missing if k.split(".")[2:3] in (["gconv"], ["gbn"], ["glin"])]
    with torch.no_grad():
        for k in pooling:
            if ".glin." in k:
                net.get_parameter(k).zero_()
    other = [k for k in missing + unexpected if not k.startswith(("ownership.", "score.")) and k not in pooling]
    if other:
        raise ValueError(f"{path}: the weights do not fit this network (e.g. {other[0]})")


# -- the run ----------------------------------------------------------------------------------------

def make_optimizer(cfg, net):
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)


def train(cfg, run_dir, address=None, resume=False, log=print, halt=None):
    """Train until ``cfg.minutes`` (the run's total, resumes included), ``cfg.max_steps`` or
    ``cfg.max_flops`` are spent, or SIGINT/SIGTERM (or ``halt(step)``, a caller's stop, true), checkpointing
    on the way and at the end; returns ``(net, learner step)``. Nothing is written before the checkpoint to
    resume from is read and checked, and the Ray cluster (if any) is reached."""
    torch.set_num_threads(1)
    run = Run(run_dir, "train", "alphazero", cfg, resume, log, halt=halt)  # seeds torch before the net exists
    device = resolve_device(cfg.device)
    net = new_net(cfg).to(device)
    opt = make_optimizer(cfg, net)
    run.per_forward = forward_flops(net)
    ck = run.resume_from(lambda ck: check_compatible(ck, cfg))
    step, meta = 0, {}  # meta: where the weights came from (origin)
    if ck:
        net.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step, meta = ck["step"], ck.get("meta") or {}
        log(f"resumed from {ck['path']} at learner step {step}: {clock(run.seconds())} of the {cfg.minutes:g}-minute "
            f"budget spent, {clock(run.budget_left())} left")
    if run.stopping(step):
        log(f"nothing to do: {run.stop_reason}" + (" (raise it with --set minutes=...)"
                                                   if run.stop_reason == "budget spent" else ""))
        return net, step
    if not ck and cfg.init:  # a warm start: read and checked, like everything that can be refused, before any write
        start_from = load_checkpoint(cfg.init, cfg, warm=True)
        warm_start(net, start_from["weights"], start_from["path"])
        # Its compute with that of the nets it went on from: a chain of warm starts adds up (total_compute).
        meta["init"] = {"path": start_from["path"], "step": start_from["step"], "meta": start_from.get("meta") or {},
                        "compute": checkpoint.total_compute(start_from)}
        log(f"warm start from {start_from['path']} (its learner step {start_from['step']}, "
            f"{origin(meta['init']['meta'])}); optimizer, replay buffer and counters start fresh")
    # The inference backend, resolved once for the whole run, so that self-play, its workers and the gauntlets
    # never time candidates of their own. A resume goes on with the one its checkpoint recorded (the one in
    # use when it was saved), unless the config now names another; a named backend that disagrees with fp32
    # is refused here.
    backend, resolved = (ck or {}).get("state", {}).get("inference"), None
    if backend is None or cfg.inference != ck["config"].get("inference"):
        resolved = net_evaluator(net, cfg.game, cfg.size, cfg.inference, device, batch=cfg.games_in_flight,
                                 seed=cfg.seed, **cfg.game_kwargs())
        backend = resolved.backend
    replay_path, state_path = os.path.join(run_dir, "replay.npz"), os.path.join(run_dir, "selfplay.npz")
    saved, games = load_state(state_path, step, log) if ck else ({}, None)
    started = False
    if cfg.workers > 0:
        # One namespace per driver: the actors are named in it (workers find the store and the buffer by
        # name; tests find and kill workers, selfplay-<i>, by name).
        started = cluster.connect(address, namespace=f"selfplay-arena-{os.getpid()}")
    source = None
    try:
        run.start({"model": net.args})
        log(dumps(cfg))
        partial = (ck or {}).get("state", {}).get("bootstrap")
        if cfg.init_transcripts and (not ck or partial):
            # Before any self-play worker exists: they would play with the untrained weights meanwhile. A signal
            # or the budget stops it with a checkpoint (learner step 0) that a resume goes on from exactly.
            with run.signals():
                boot, partial_now = bootstrap(cfg, net, opt, run.rng, device, log, partial=partial,
                                              stop=lambda: run.stopping(0))
            done_before = (partial or {}).get("samples", 0)  # already in the compute a resume restored
            new = (boot or partial_now)["samples"] - done_before
            run.count(trained=new, forward_passes=new)
            if boot is None:
                path = run.save(0, model=net.args, weights=net.state_dict(), optimizer=opt.state_dict(), meta=meta,
                                state={"inference": backend, "bootstrap": partial_now})
                log(f"engine bootstrap stopped at step {partial_now['step']} ({run.stop_reason}): checkpoint {path}; "
                    f"a resume goes on from there")
                return net, 0
            meta["bootstrap"] = boot
            run.metric({"step": 0, "bootstrap": meta["bootstrap"]}, scalars={})
            path = run.save(0, model=net.args, weights=net.state_dict(), optimizer=opt.state_dict(), meta=meta,
                            state={"inference": backend})
            log(f"checkpoint {path} (after the engine bootstrap; a resume starts self-play from it)")
        if resolved is not None:
            run.metric({"step": step, "inference": resolved.report}, scalars={})
            log(f"{resolved.describe()}; the run plays with {backend}")
        else:
            log(f"inference: the run plays with {backend}, as its checkpoint recorded")
        state = {"inference": backend}
        cfg = replace(cfg, inference=backend)
        # The weights self-play plays with: the last published (under gating, the gate's best), the same
        # as the learner's at the start; and the previous gauntlet's net, an anchor that moves with training.
        playing = snapshot(net)
        if "playing" in saved:
            playing.load_state_dict(saved["playing"])
        earlier = None
        if "earlier" in saved:
            earlier = snapshot(net)
            earlier.load_state_dict(saved["earlier"])
        if cfg.workers == 0:
            source = LocalSelfPlay(cfg, playing, device, replay_path if ck else None, log=log, step=step, games=games)
            where = f"in this process on {device}"
        else:
            from agents.alphazero.actors import RaySelfPlay  # Ray only here: with workers 0 it need not be installed

            source = RaySelfPlay(cfg, playing, step, replay_path if ck and os.path.exists(replay_path) else None, log=log)
            where = f"on {cfg.workers} Ray worker(s)"
        loop(cfg, run, net, opt, source, playing, earlier, step, meta, state, device, where, replay_path, state_path)
    finally:
        if source is not None:
            source.close()
        run.close()
        if started:
            import ray  # connected above, so installed

            ray.shutdown()
    return net, run.step


def loop(cfg, run, net, opt, source, playing, earlier, step, meta, state, device, where, replay_path, state_path):
    """The learner's loop (``train``'s phases after the setup): self-play and learning take turns by the
    counts of positions added and sampled, gauntlets and gates every ``eval_every`` steps, checkpoints on
    the way and at the end. ``cfg.inference`` is the resolved backend; ``state`` goes in every checkpoint.
    ``run.step`` holds the learner step when it returns."""
    log = run.log
    stats = source.stats()
    log(f"self-play: {cfg.games_in_flight} games in flight {where}; learner on {device}; learning starts at "
        f"{cfg.min_replay} positions (replay holds {stats['size']}); {run.eta(step)}")
    # The engine bootstrap's samples were the engine's positions, not the buffer's: they count in the compute
    # but not against the sample-reuse cap, which would otherwise hold the learner back after a bootstrap.
    boot_samples = (meta.get("bootstrap") or {}).get("samples", 0)
    elo, inference, losses, moves = {}, {}, [], 0  # inference: worker -> its backend's last check
    at_start, at_start_step, at_start_added = dict(run.compute), step, stats["added"]
    start = time.monotonic()

    def progress():
        """One progress line: to the log, to metrics.jsonl (with the compute totals) and TensorBoard."""
        el = max(time.monotonic() - start, 1e-9)
        loss = {k: float(np.mean([x[k] for x in losses])) for k in losses[0]} if losses else {}
        games = run.compute["reward_events"] - at_start["reward_events"]
        positions = run.compute["positions"] - at_start["positions"]
        line = {"step": step, "minutes": round(el / 60, 2), "games": games, "positions": positions,
                "games_per_s": round(games / el, 2), "positions_per_s": round(positions / el, 1),
                "moves_per_s": round(moves / el, 1), "steps_per_s": round((step - at_start_step) / el, 2),
                "replay": stats["size"], **loss}
        if cfg.progressive_steps:
            line["simulations"] = cfg.simulations_at(step)
        run.metric({**line, "inference": inference, "compute": run.totals()}, scalars=line, prefix="train/")
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items())
        if stats["size"] < cfg.min_replay:
            # Positions reach the buffer only as games end: count those searched in unfinished games too.
            searched = moves * cfg.full_search_prob
            waiting = max(0.0, searched - (stats["added"] - at_start_added))
            eta = clock((cfg.min_replay - stats["size"] - waiting) / (searched / el)) if searched else "?"
            text += f" | filling {stats['size']}/{cfg.min_replay}, learning in ~{eta}"
        if elo:
            text += " elo=" + ",".join(f"{k}{v:+d}" for k, v in elo.items())
        log(f"{text} | {run.eta(step)}")

    def save(why):
        state["inference"] = source.backend() or state["inference"]  # after a fall-back, the one in use
        path = run.save(step, model=net.args, weights=net.state_dict(), optimizer=opt.state_dict(), meta=meta,
                        state=state)
        source.save(replay_path)
        nets = {"playing": playing, **({"earlier": earlier} if earlier is not None else {})}
        save_state(state_path, step, nets, source.state() if hasattr(source, "state") else None)
        log(f"checkpoint {path} ({why}; replay buffer of {stats['size']} positions saved with it)")

    with run.signals():
        try:
            while not run.stopping(step):
                learn = stats["size"] >= cfg.min_replay and \
                    run.compute["trained"] - boot_samples <= cfg.max_samples_per_position * stats["added"]
                for r in source.poll(wait=not learn):
                    run.count(reward_events=r["games"], games=r["games"], positions=r["positions"],
                              forward_passes=r["forward_positions"])
                    moves += r["moves"]
                    inference[str(r["worker"])] = r["inference"]
                stats = source.stats()
                if run.due("progress", 10 if step or time.monotonic() - start > 30 else 3):
                    progress()  # every 3 s in the first half minute: something shows from the start
                    losses = []
                if run.due("save", cfg.save_minutes * 60):
                    save(f"every {cfg.save_minutes:g} minutes")
                if not learn:
                    continue
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.max_steps)
                obs, pol, val, *aux = source.sample(cfg.batch_size, cfg.aux())
                losses.append(train_step(net, opt, obs, pol, val, run.rng, device=device, aux=aux or None,
                                         ownership_weight=cfg.ownership_weight, score_weight=cfg.score_weight))
                step += 1
                run.count(trained=cfg.batch_size, forward_passes=cfg.batch_size)
                if step % cfg.publish_every == 0 and cfg.gating == "latest":
                    source.publish(step, net)
                    playing.load_state_dict(net.state_dict())
                if step % cfg.checkpoint_every == 0:
                    save(f"every {cfg.checkpoint_every} steps")
                    run.reset_due("save")
                if cfg.eval_every and step % cfg.eval_every == 0:
                    elo, earlier = evaluate_step(cfg, run, net, playing, source, step, earlier)
        finally:
            run.step = step
            try:
                progress()  # the run's last figures, however short it was
            except Exception as e:  # e.g. a full disk: the checkpoint below matters more
                log(f"could not write the last progress line ({type(e).__name__}: {e})")
            save(run.stop_reason or "stopping")  # a second Ctrl-C during it is caught by run.signals


def evaluate_step(cfg, run, net, playing, source, step, earlier):
    """The gauntlet at learner ``step`` (and, under gating, the gate: a promoted net becomes ``playing``
    and is published). Returns ``(Elo against each anchor, the net the next gauntlet calls previous)``."""
    run.log(f"step {step}: gauntlet against {', '.join(cfg.anchors)}{', previous' if earlier else ''} "
            f"({cfg.eval_games} games each)")
    scores = gauntlet(cfg, net, step, earlier)
    elo = {k: round(elo_difference(v, cfg.eval_games)) for k, v in scores.items()}
    row = {"step": step, "gauntlet": scores, "elo_vs_anchor": elo, "compute": run.totals()}
    if cfg.gating == "gate":
        row["gate_score"] = gate(cfg, net, playing, step)
        row["promoted"] = row["gate_score"] >= cfg.gate_score
        if row["promoted"]:
            playing.load_state_dict(net.state_dict())
            source.publish(step, net)
    run.metric(row, scalars=scores, prefix="gauntlet/")
    run.log(f"step {step} gauntlet: " + ", ".join(f"{k} {v:.0%} ({elo[k]:+d} Elo)" for k, v in scores.items())
            + (f"; gate {row['gate_score']:.0%} {'promoted' if row['promoted'] else 'kept'}"
               if cfg.gating == "gate" else ""))
    return elo, snapshot(net)
