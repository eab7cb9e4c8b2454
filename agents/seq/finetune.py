"""``arena finetune``: policy-gradient fine-tuning of the GPT on game outcomes (GRPO).

    arena finetune --config configs/seq_rl_othello8.yaml --init runs/seq_othello8 [--run-dir runs/x]
    arena finetune --config configs/seq_rl_othello8.yaml --init none      # RL from scratch, same model

Each step plays ``groups x group_size`` games at once. A group shares an opening (``opening_plies``
random plies), an opponent drawn from the pool and the learner's colour, so the games of a group differ
only by sampling, and GRPO's advantage is a game's result minus its group's mean, over the group's
standard deviation. The loss is ``-A * log pi(move)`` over the learner's moves (the policy masked to
legal moves, at ``temperature``) plus ``kl_coef`` times the exact KL(pi || pi_ref) to the frozen start
at those positions (skipped for ``--init none``). One update per batch: on-policy, no ratio. The raw
model's legality (is its unmasked top-1 legal?) is logged per step as ``illegal_rate``.

Opponents: ``self`` (both sides are the learner; both sides' moves are trained on), ``snapshot`` (a
frozen copy refreshed every ``snapshot_every`` steps) and any batched arena spec (``random``,
``greedy``, ``mcts:rollouts=N``, ``az:CKPT,sims=N``). Compute is counted: games, model forward passes
(one per position scored, in play and in training), tokens trained on, and reward events (games
learned from).
"""

import copy
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.common import checkpoint
from agents.common.device import resolve as resolve_device
from agents.common.tokenizer import Tokenizer, is_move
from agents.players import make_baseline, random_openings
from agents.seq.decode import Decoder, choose_moves
from agents.seq.gpt import GPT, PRESETS, GPTConfig
from agents.seq.legal import replay_prefixes
from agents.seq.load import checkpoint_data, checkpoint_tokenizer, load_gpt
from envs.core import check_board, make_batch


@dataclass(frozen=True)
class FinetuneConfig:
    game: str = "othello"
    """Game, for ``--init none`` (an initial checkpoint brings its own)."""
    size: int = 8
    """Board size, for ``--init none``."""
    preset: str = "small"
    """GPT preset, for ``--init none``."""
    opponents: tuple[str, ...] = ("self", "snapshot", "greedy")
    """The pool, drawn uniformly per group: self, snapshot, or a batched arena spec."""
    groups: int = 8
    """Groups per step."""
    group_size: int = 8
    """Games per group (GRPO's group)."""
    opening_plies: int = 2
    """Random plies that open each group's games."""
    temperature: float = 1.0
    """Sampling temperature of the learner in play."""
    lr: float = 1e-4
    """Adam learning rate (constant after a short warmup)."""
    warmup_steps: int = 10
    """Linear warmup."""
    kl_coef: float = 0.05
    """Weight of KL(pi || pi_ref) to the initial model."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    steps: int = 200
    """Updates (or stop at ``minutes``)."""
    minutes: float = 0.0
    """Wall-clock budget; 0 = none."""
    max_flops: float = 0.0
    """FLOP budget of this run (play and training, ``compute.flops``; a fine-tuned start's own are not
    counted); 0 = none. The run stops at whichever of ``steps``, ``minutes`` and ``max_flops`` comes first."""
    snapshot_every: int = 20
    """Steps between refreshes of the ``snapshot`` opponent."""
    eval_every: int = 20
    """Steps between evaluations (temperature 0, legal moves only, from fixed random openings of
    ``opening_plies`` plies with both colours) against ``eval_opponents``."""
    eval_opponents: tuple[str, ...] = ("greedy", "random")
    """Fixed opponents of the evaluations."""
    eval_games: int = 64
    """Games per evaluation opponent (colours alternate)."""
    checkpoint_every: int = 20
    """Steps between checkpoints."""
    threads: int = 0
    """CPU threads for torch; 0 = torch's default."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when PyTorch sees a GPU): the learner, its reference and its
    snapshot, in play and in the update (bf16 autocast on CUDA)."""
    seed: int = 0
    """Seeds openings, sampling and the pool."""

    def __post_init__(self):
        check_board(self.game, self.size)
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
        if self.group_size < 2:
            raise ValueError("group_size must be at least 2 (advantages are relative to the group)")
        if not self.opponents:
            raise ValueError("opponents must name at least one opponent")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive (sampling is what GRPO compares)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.max_flops < 0:
            raise ValueError(f"max_flops must be 0 (no limit) or positive, got {self.max_flops}")


# -- batched play ----------------------------------------------------------------------------------------

def play_batch(learner, tok, opponents, learner_colour, openings, temperature, rng, counts, snapshot=None,
               game_kwargs=None):
    """Play B games; ``opponents[b]`` is "self", "snapshot" or an Agent. Returns (histories, results from
    black's view float[B], decisions: list of (b, token position, id) for every learner move)."""
    B = len(opponents)
    g = make_batch(tok.game, B, tok.size, **(game_kwargs or {}))
    decoders = {"learner": Decoder(learner, tok, B, counts)}
    if any(o == "snapshot" for o in opponents):
        decoders["snapshot"] = Decoder(snapshot, tok, B, counts)
    hist = [[] for _ in range(B)]
    for k in range(max((len(m) for m in openings), default=0)):  # the openings' k-th moves, together
        idx = np.array([b for b, m in enumerate(openings) if len(m) > k], np.int64)
        a = np.array([openings[b][k] for b in idx], np.int64)
        act = np.full(B, -1, np.int64)
        act[idx] = a
        g.step_where(act >= 0, act)
        for b, x in zip(idx, a):
            hist[b].append(int(x))
        for d in decoders.values():
            d.feed(idx, a)
    is_self = np.array([o == "self" for o in opponents])
    is_snapshot = np.array([o == "snapshot" for o in opponents])
    agents = [(o, np.array([x is o for x in opponents])) for o in {id(o): o for o in opponents
                                                                    if not isinstance(o, str)}.values()]
    decisions = []
    while not g.terminal.all():
        mask = g.legal_mask()
        side = g.to_play
        act = np.full(B, -1, np.int64)
        live = ~g.terminal
        learner_turn = live & (is_self | (side == learner_colour))
        for who, which in (("learner", learner_turn), ("snapshot", live & ~learner_turn & is_snapshot)):
            idx = np.flatnonzero(which)
            if idx.size:
                a, ids = choose_moves(decoders[who], idx, mask[idx], temperature if who == "learner" else 1.0,
                                      rng, counts)
                act[idx] = a
                if who == "learner":
                    for j, b in enumerate(idx):
                        if ids[j] >= 0:
                            decisions.append((b, decoders[who].position(b), int(ids[j])))
        for agent, plays in agents:
            idx = np.flatnonzero(live & ~learner_turn & plays)
            if idx.size:
                act[idx] = agent.act(g.take(idx))
        g.step_where(live, act)  # finished games take no action
        idx = np.flatnonzero(live)
        for b in idx:
            hist[b].append(int(act[b]))
        for d in decoders.values():
            d.feed(idx, act[idx])
    return hist, g.reward().astype(np.float64), decisions


def new_openings(tok, n, plies, rng):
    """``n`` random openings of ``plies`` plies (agents.players.random_openings), as action lists."""
    return random_openings(tok.game, tok.size, n, plies, rng)[0]


# -- the update ------------------------------------------------------------------------------------------

def grpo_loss(model, ref, tok, hist, decisions, adv, temperature, kl_coef, counts):
    """Mean over learner decisions ``(game b, token position t, chosen id)`` of ``-adv * log pi`` plus
    ``kl_coef`` x KL(pi || ref), both masked to the legal moves of each position (recomputed by replaying
    the games with the rules)."""
    rows_b = sorted({d[0] for d in decisions})
    seqs = {b: tok.encode(hist[b]) for b in rows_b}
    T = max(len(s) for s in seqs.values())
    x = np.zeros((len(rows_b), T), np.int64)
    for i, b in enumerate(rows_b):
        x[i, : len(seqs[b])] = seqs[b]
    dev = next(model.parameters()).device
    legal = torch.from_numpy(replay_prefixes(tok, x)).to(dev)  # [R, T, V]
    row_of = {b: i for i, b in enumerate(rows_b)}
    r_idx = torch.as_tensor([row_of[d[0]] for d in decisions], device=dev)
    t_idx = torch.as_tensor([d[1] for d in decisions], device=dev)
    ids = torch.as_tensor([d[2] for d in decisions], device=dev)
    a = torch.as_tensor(np.asarray(adv), dtype=torch.float32, device=dev)
    xt = torch.from_numpy(x).to(dev)
    with torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
        logits = model(xt)[r_idx, t_idx].float() / temperature
    mask = legal[r_idx, t_idx]
    logp = torch.log_softmax(logits.masked_fill(~mask, -1e9), -1)
    pg = -(a * logp.gather(1, ids[:, None]).squeeze(1)).mean()
    counts["forward_positions"] += int(x.shape[0] * x.shape[1])
    counts["tokens_trained"] += int(is_move(torch.from_numpy(x)).sum())
    kl = torch.zeros((), device=dev)
    if ref is not None and kl_coef > 0:
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
            ref_logp = torch.log_softmax((ref(xt)[r_idx, t_idx].float() / temperature).masked_fill(~mask, -1e9), -1)
        counts["forward_positions"] += int(x.shape[0] * x.shape[1])
        p = logp.exp()
        kl = (p * (logp - ref_logp)).masked_fill(~mask, 0.0).sum(-1).mean()
    entropy = -(logp.exp() * logp).masked_fill(~mask, 0.0).sum(-1).mean()
    return pg + kl_coef * kl, {"pg": pg.item(), "kl": kl.item(), "entropy": entropy.item()}


def group_advantages(rewards, groups, group_size):
    r = rewards.reshape(groups, group_size)
    return ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-6)).reshape(-1)


# -- the run -----------------------------------------------------------------------------------------------

def baseline_opponent(spec, game, size, seed):
    """The default opponent factory: the baseline players (random, greedy, mcts:N). The command line
    hands in the arena's, which also builds ``az:`` and ``gtp:`` players."""
    return make_baseline(spec, seed=seed)


def build_opponent(spec, tok, seed, make_opponent=baseline_opponent):
    if spec in ("self", "snapshot"):
        return spec
    return make_opponent(spec, tok.game, tok.size, seed)


def evaluate(model, tok, specs, games, seed, counts, opening_plies=2, make_opponent=baseline_opponent):
    """Win rate (draws half) of the model at temperature 0 against each spec. Games start from
    ``games / 2`` random openings of ``opening_plies`` plies (the same ones at every evaluation), each
    played with both colours: two deterministic players would otherwise replay one game."""
    out = {}
    rng = np.random.default_rng(seed)
    n = games // 2
    openings = new_openings(tok, n, opening_plies, np.random.default_rng([seed, 1]))
    for spec in specs:
        opp = build_opponent(spec, tok, seed, make_opponent)
        score = 0.0
        for colour in (0, 1):
            hist, rew, _ = play_batch(model, tok, [opp] * n, colour, openings, 0.0, rng, counts)
            mine = rew if colour == 0 else -rew
            score += float(((mine > 0) + 0.5 * (mine == 0)).sum())
        out[spec] = score / (2 * (games // 2))
    return out


def compute_of(counts, flops_tok):
    """Fine-tuning's compute in the checkpoint schema: ``forward_positions`` already holds the training
    forwards; a trained token adds a backward pass of about two forward passes."""
    return {"seconds": round(counts["seconds"], 1), "reward_events": counts["reward_events"], "games": counts["games"],
            "positions": counts["positions"], "trained": counts["tokens_trained"], "trained_unit": "tokens",
            "forward_passes": counts["forward_positions"],
            "flops": int(flops_tok * (counts["forward_positions"] + 2 * counts["tokens_trained"]))}


def finetune(cfg, init, run_dir, resume=False, log=print, progress=True, make_opponent=baseline_opponent):
    """Run GRPO; returns the last evaluation. ``make_opponent(spec, game, size, seed)`` builds the pool's
    and the evaluations' players other than ``self`` and ``snapshot`` (default: the baselines)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)
    if init == "none":
        tok = Tokenizer(cfg.game, cfg.size)
        model = GPT(GPTConfig.preset(cfg.preset, tok.vocab_size, tok.max_len)).to(device)
        ref = None
        init_info = {"init": "none", "tokenizer": tok.describe(), "data": None}
    else:
        model, ck = load_gpt(init, device)
        tok = checkpoint_tokenizer(ck)
        ref = copy.deepcopy(model).eval()
        init_info = {"init": init, "init_step": ck["step"], "tokenizer": tok.describe(), "data": checkpoint_data(ck)}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step = 0
    counts = {"games": 0, "positions": 0, "forward_positions": 0, "tokens_trained": 0, "reward_events": 0,
              "seconds": 0.0}
    ck_path = checkpoint.latest(run_dir) if resume else None
    if ck_path:
        ck = checkpoint.load(ck_path, kind="gpt")
        model.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step, counts = ck["step"], ck["meta"]["counts"]
        checkpoint.restore_rng(rng, ck["rng"])
        log(f"finetune: resumed {ck_path} at step {step}")
    elif checkpoint.latest(run_dir):
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue, or choose --run-dir")
    snapshot = copy.deepcopy(model).eval()
    pool = [build_opponent(s, tok, cfg.seed + i, make_opponent) for i, s in enumerate(cfg.opponents)]
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"finetune": asdict(cfg), **init_info, "gpt": model.cfg.to_dict()}, f, indent=2)

    flops_tok = model.flops_per_token()

    def save():
        return checkpoint.save(run_dir, step, kind="gpt", trainer="finetune", config=asdict(cfg),
                               model=model.cfg.to_dict(), weights=model.state_dict(), optimizer=opt.state_dict(),
                               rng=checkpoint.rng_state(rng), compute=compute_of(counts, flops_tok),
                               meta={"tokenizer": tok.describe(), "init": init_info, "counts": counts})

    def do_eval():
        # Measurement, not training: its games stay out of the compute (and out of a FLOP budget), as
        # AlphaZero's gauntlets do.
        wins = evaluate(model, tok, cfg.eval_opponents, cfg.eval_games, cfg.seed + 7, dict(counts),
                        cfg.opening_plies, make_opponent)
        m = {"step": step, "eval": wins, **counts}
        metrics.write(json.dumps(m) + "\n")
        metrics.flush()
        return m

    stop = {"now": False}
    handlers = {s: signal.signal(s, lambda *a: stop.__setitem__("now", True)) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.monotonic()  # the budget and the seconds counted both include the evaluations
    deadline = t0 + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    last = do_eval() if step == 0 else None
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    try:
        while step < cfg.steps and not stop["now"] and time.monotonic() < deadline and not (
                cfg.max_flops and compute_of(counts, flops_tok)["flops"] >= cfg.max_flops):
            G, S = cfg.groups, cfg.group_size
            opens = new_openings(tok, G, cfg.opening_plies, rng)
            which = rng.integers(0, len(pool), G)
            colours = rng.integers(0, 2, G)
            opponents = [pool[which[i]] for i in range(G) for _ in range(S)]
            model.eval()
            per_colour = {}
            for colour in (0, 1):  # the learner's colour is per group; play each colour's groups together
                gi = [i for i in range(G) if colours[i] == colour]
                if not gi:
                    continue
                rows = [i * S + j for i in gi for j in range(S)]
                hist, rew, dec = play_batch(model, tok, [opponents[r] for r in rows], colour,
                                            [opens[r // S] for r in rows], cfg.temperature, rng, counts, snapshot)
                per_colour[colour] = (rows, hist, rew, dec)
            hist_all, rew_all, dec_all = [None] * (G * S), np.zeros(G * S), []
            learner_view = np.zeros(G * S)
            for colour, (rows, hist, rew, dec) in per_colour.items():
                for j, r in enumerate(rows):
                    hist_all[r], rew_all[r] = hist[j], rew[j]
                    learner_view[r] = rew[j] if colour == 0 else -rew[j]
                for b, t, i in dec:
                    dec_all.append((rows[b], t, i))
            # Self-play: a black move is rewarded with black's result, a white move with white's.
            adv_black = group_advantages(rew_all, G, S)
            adv_learner = group_advantages(learner_view, G, S)
            adv = np.array([(-adv_black[b] if _mover_is_white(tok, hist_all[b], t) else adv_black[b])
                            if opponents[b] == "self" else adv_learner[b] for b, t, _ in dec_all])
            counts["games"] += G * S
            counts["positions"] += sum(len(h) for h in hist_all)
            counts["reward_events"] += G * S
            model.train()
            for g in opt.param_groups:
                g["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
            loss, info = grpo_loss(model, ref, tok, hist_all, dec_all, adv, cfg.temperature, cfg.kl_coef, counts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            names = np.repeat(np.array(cfg.opponents)[which], S)
            wins = {o: float((learner_view[names == o] > 0).mean()) for o in cfg.opponents if (names == o).any()}
            row = {"step": step, "loss": loss.item(), **info, "train_win": wins,
                   "illegal_rate": counts.get("raw_illegal", 0) / max(1, counts.get("raw_decisions", 0)), **counts}
            counts["raw_illegal"] = counts["raw_decisions"] = 0  # the rate is per step
            metrics.write(json.dumps(row) + "\n")
            bar.update(1)
            bar.set_postfix(kl=f"{info['kl']:.3f}", ent=f"{info['entropy']:.2f}", illegal=f"{100 * row['illegal_rate']:.1f}%",
                            eval=" ".join(f"{k}:{100 * v:.0f}%" for k, v in (last or {}).get("eval", {}).items()))
            if step % cfg.snapshot_every == 0:
                snapshot.load_state_dict(model.state_dict())
            if step % cfg.eval_every == 0 or step % cfg.checkpoint_every == 0:
                now = time.monotonic()  # wall-clock so far, evaluations included, in what is evaluated and saved
                counts["seconds"], t0 = counts["seconds"] + now - t0, now
            if step % cfg.eval_every == 0:
                last = do_eval()
            if step % cfg.checkpoint_every == 0:
                save()
    finally:
        bar.close()
        counts["seconds"] += time.monotonic() - t0
        for s, h in handlers.items():
            signal.signal(s, h)
    if last is None or last["step"] != step:
        last = do_eval()
    path = save()
    metrics.close()
    log(f"finetune: step {step}, " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in last["eval"].items())
        + f"; {counts['games']} games, checkpoint {path}")
    return last


def _mover_is_white(tok, history, t):
    """Whether the move predicted at token position ``t`` (the t-th board move, 0-based) was white's."""
    k = -1
    for i, a in enumerate(history):
        if tok.game == "othello" and a == tok.size * tok.size:
            continue
        k += 1
        if k == t:
            return i % 2 == 1
    raise ValueError("token position beyond the game")
