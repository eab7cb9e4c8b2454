"""The engine bootstrap (AlphaGo's supervised start, an explicit option): before self-play, the net learns
an outside engine's moves and its games' results from a transcript dataset that has them.

    arena transcripts --game go --source gtp:gnugo --levels 1,4,7 --games 3000 --out data/go9_gnugo
    arena train --config configs/go9_az.yaml --init-transcripts data/go9_gnugo

``positions`` replays every game through the batched rules (envs.core) and keeps each position where
the side to move had a choice: its observation, the move played (the policy target, one-hot) and the
game's result from the side to move (the value target). ``bootstrap`` trains ``init_epochs`` passes over
the dataset's train split with the learner's own step (a random symmetry per sample, policy
cross-entropy plus value MSE, the learning rate decaying by a cosine to 10%) and, after each pass, measures
the held-out split: top-1 agreement with the engine's move over the legal moves, and value MSE. The
weights of the pass with the lowest held-out loss are kept (the value head overfits first: a game's
positions share one result). Its summary goes into the run's checkpoints and metrics, so every net
that starts this way says so, and from how many engine games.
"""

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from agents.alphazero.learner import train_step
from agents.common.run import lr_at
from agents.common.transcripts import Dataset
from envs.core import make_batch
from envs.replay import replay


def positions(data, cfg, split):
    """The ``split`` games of ``data`` (a Dataset) as training positions, game by game in row order:
    ``obs uint8[P, C, N, N]``,
    ``action int64[P]``, ``value float32[P]`` (the result from the side to move), ``legal bool[P, A]``,
    and counts (games, positions, games without a result, games cut short by a move our rules refuse)."""
    tok = data.tokenizer
    if (tok.game, tok.size) != (cfg.game, cfg.size):
        raise ValueError(f"{data.path} holds {tok.game} {tok.size}x{tok.size} games; this run is {cfg.game} "
                         f"{cfg.size}x{cfg.size}")
    rows, results = data.rows(split), data.results(split)
    games = [tok.decode(r) for r in rows]
    counts = {"games": len(games), "positions": 0, "no_result": 0, "cut_short": 0}
    B = len(games)
    g = make_batch(cfg.game, max(B, 1), cfg.size, **cfg.game_kwargs())
    A = g.num_actions
    moves = np.full((max(B, 1), max((len(m) for m in games), default=0) + 1), -1, np.int64)
    for b, m in enumerate(games):
        moves[b, : len(m)] = m
    lengths = np.array([len(m) for m in games] or [0])
    obs, act, player, legal_out, game_of = [], [], [], [], []
    # envs.replay plays Othello's implied passes (transcripts leave them out; Go's passes are written).
    for p in replay(g, moves, lengths):
        counts["cut_short"] += int(p.refused.sum())
        idx = np.flatnonzero((p.move >= 0) & (p.legal.sum(1) > 1))  # the side to move had a choice
        if idx.size:
            obs.append(g.observation(cfg.inputs)[idx].astype(np.uint8))
            act.append(p.move[idx])
            player.append(g.to_play[idx].copy())
            legal_out.append(p.legal[idx])
            game_of.append(idx)
    # Black's score per game: the recorded result (a resignation counts), else the end of the replay.
    black = results.copy() if results is not None else np.full(B, np.nan, np.float32)
    ended = g.reward()[:B]
    missing = np.isnan(black)
    black[missing & g.terminal[:B]] = (ended[missing & g.terminal[:B]] + 1) / 2
    counts["no_result"] = int(np.isnan(black).sum())
    if not obs:
        empty = np.zeros((0, *g.input_shape(cfg.inputs)), np.uint8)
        return empty, np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, A), bool), counts
    obs, act, player = np.concatenate(obs), np.concatenate(act), np.concatenate(player)
    legal_out, game_of = np.concatenate(legal_out), np.concatenate(game_of)
    v = 2 * black[game_of] - 1  # black's view in [-1, 1]
    z = np.where(player == 0, v, -v).astype(np.float32)
    keep = np.flatnonzero(~np.isnan(z))
    keep = keep[np.argsort(game_of[keep], kind="stable")]  # game by game, each in the order of its plies
    counts["positions"] = int(keep.size)
    return obs[keep], act[keep], z[keep], legal_out[keep], counts


def one_hot(actions, num_actions):
    out = np.zeros((len(actions), num_actions), np.float32)
    out[np.arange(len(actions)), actions] = 1.0
    return out


@torch.no_grad()
def held_out(net, obs, act, z, legal, device, batch=1024):
    """``{"top1", "policy_loss", "value_mse"}`` of ``net`` on held-out positions (no symmetry)."""
    net.eval()
    hits, pl, vm = 0, 0.0, 0.0
    for i in range(0, len(obs), batch):
        x = torch.from_numpy(obs[i: i + batch].astype(np.float32)).to(device)
        logits, v = net(x)
        logits, v = logits.float().cpu(), v.float().cpu()
        a = torch.from_numpy(act[i: i + batch])
        pl += F.cross_entropy(logits, a, reduction="sum").item()
        masked = logits.masked_fill(~torch.from_numpy(legal[i: i + batch]), -torch.inf)
        hits += (masked.argmax(1) == a).sum().item()
        vm += ((v - torch.from_numpy(z[i: i + batch])) ** 2).sum().item()
    n = max(len(obs), 1)
    return {"top1": round(hits / n, 4), "policy_loss": round(pl / n, 4), "value_mse": round(vm / n, 4)}


def bootstrap(cfg, net, opt, rng, device="cpu", log=print, stop=None, partial=None):
    """Train ``net`` on ``cfg.init_transcripts`` (see the module docstring). Returns ``(summary, None)`` when
    done, the summary that the run records: dataset, source, games, positions, steps, seconds, and the
    held-out figures per pass. ``stop()`` true (a signal, the budget) ends it after the current step and
    returns ``(None, partial)``: plain containers and tensors for the checkpoint, from which a call with
    ``partial=`` (the weights, optimizer and ``rng`` restored with it) goes on exactly where it stopped."""
    t0 = time.time()
    data = Dataset(cfg.init_transcripts)
    if data.results("train") is None:
        log(f"{cfg.init_transcripts}: no recorded results; the value targets come from the games that "
            f"reached their end")
    obs, act, z, _, counts = positions(data, cfg, "train")
    vobs, vact, vz, vlegal, vcounts = positions(data, cfg, "val")
    if len(obs) == 0:
        raise ValueError(f"{cfg.init_transcripts}: no position with a result to learn from")
    steps_per_epoch = max(1, math.ceil(len(obs) / cfg.batch_size))
    epochs = max(1, math.ceil(cfg.init_epochs))
    total = max(1, round(cfg.init_epochs * steps_per_epoch))
    log(f"engine bootstrap from {cfg.init_transcripts} ({data.manifest['source']}): {counts['games']} games, "
        f"{len(obs)} positions to learn ({vcounts['games']} games, {len(vobs)} positions held out); {total} "
        f"steps of {cfg.batch_size} ({cfg.init_epochs:g} passes)")
    best, best_loss, passes, step, samples, last = None, math.inf, [], 0, 0, time.time()
    first_epoch, first_k, losses, before, spent = 0, 0, [], None, 0.0
    if partial:  # go on where a stop left it: the epoch's order is drawn again from the stream it came from
        first_epoch, first_k, step, samples = partial["epoch"], partial["k"], partial["step"], partial["samples"]
        passes, losses, spent = list(partial["passes"]), list(partial["losses"]), partial["seconds"]
        best, best_loss = partial["best"], partial["best_loss"]
        before = partial["order_rng"]
        log(f"engine bootstrap: going on from step {step}/{total}")
    step0 = step
    for epoch in range(first_epoch, epochs):
        if before is not None:  # the stream as it was before this epoch's order, then as it was at the stop
            now, rng.bit_generator.state, order_rng = rng.bit_generator.state, before, before
            order = rng.permutation(len(obs))
            rng.bit_generator.state, before = now, None
        else:
            order_rng = rng.bit_generator.state
            order = rng.permutation(len(obs))
            losses = []
        for k in range(first_k if epoch == first_epoch else 0, steps_per_epoch):
            if step >= total:
                break
            if stop is not None and stop():
                return None, {"epoch": epoch, "k": k, "step": step, "samples": samples, "passes": passes,
                              "losses": losses, "best": best, "best_loss": best_loss, "order_rng": order_rng,
                              "seconds": round(spent + time.time() - t0, 1)}
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg.lr, 0, total)
            idx = order[k * cfg.batch_size: (k + 1) * cfg.batch_size]
            losses.append(train_step(net, opt, obs[idx].astype(np.float32), one_hot(act[idx], net.args["size"] ** 2 + 1),
                                     z[idx], rng, device=device)["loss"])
            step += 1
            samples += len(idx)
            if time.time() - last > 10:
                el = time.time() - t0
                log(f"bootstrap step {step}/{total}: loss {np.mean(losses[-50:]):.3f} | "
                    f"{((step - step0) / el):.2f} steps/s, ~{int((total - step) * el / max(step - step0, 1))}s left")
                last = time.time()
        row = {"pass": epoch + 1, "steps": step,
               "train_loss": round(float(np.mean(losses)), 4) if losses else None}
        if len(vobs):
            row.update(held_out(net, vobs, vact, vz, vlegal, device))
            loss = row["policy_loss"] + row["value_mse"]
            if loss < best_loss:
                best, best_loss = copy.deepcopy(net.state_dict()), loss
        passes.append(row)
        log(f"bootstrap pass {epoch + 1}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "pass"))
        if step >= total:
            break
    kept = len(passes)
    if best is not None:
        net.load_state_dict(best)
        kept = 1 + min(range(len(passes)), key=lambda i: passes[i]["policy_loss"] + passes[i]["value_mse"])
    summary = {"dataset": cfg.init_transcripts, "source": data.manifest["source"], "games": counts["games"],
               "positions": len(obs), "held_out_games": vcounts["games"], "held_out_positions": len(vobs),
               "no_result": counts["no_result"], "cut_short": counts["cut_short"], "steps": step,
               "samples": samples, "kept_pass": kept, "passes": passes,
               "engine_compute": data.manifest.get("compute", {}), "seconds": round(spent + time.time() - t0, 1)}
    log(f"engine bootstrap done in {summary['seconds']:.0f}s: kept the weights after pass {kept}")
    return summary, None
