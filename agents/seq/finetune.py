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

Two terms that keep the world model while RL changes the policy, both off by default: ``legal_coef``
times the legal-move loss (the raw model's probability mass off the legal moves, as -log of the mass on
them, at every position of the step's games: under the legal mask nothing else rewards legality), and
``mix_coef`` times the next-token loss on ``mix_batch`` games of a transcript dataset (``mix_data``), a
mixed pretraining batch.

Opponents: ``self`` (both sides are the learner; both sides' moves are trained on), ``snapshot`` (a
frozen copy refreshed every ``snapshot_every`` steps) and any batched arena spec (``random``,
``greedy``, ``mcts:rollouts=N``, ``az:CKPT,sims=N``). Compute is counted: games, model forward passes
(one per position scored, in play and in training), tokens trained on, and reward events (games
learned from).
"""

import copy
import json
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm import tqdm

from agents.common.device import resolve as resolve_device
from agents.common.run import Run, clock, differences, lr_at
from agents.common.tokenizer import Tokenizer, is_move
from agents.common.transcripts import Dataset
from agents.match import play
from agents.players import make_baseline, random_openings
from agents.seq.agent import SeqAgent
from agents.seq.gpt import GPT, PRESETS, GPTConfig
from agents.seq.legal import replay_prefixes
from agents.seq.load import checkpoint_data, checkpoint_tokenizer, load_gpt
from agents.seq.pretrain import train_loss
from envs.core import check_board

MIX_STREAM = 0x313C  # the mixed batch's own stream: (seed, step, this), so turning it on leaves RL's draws alone
# What a resume may change (as arena pretrain's RESUME_KEYS, the other way round): the budget, the evaluations,
# the checkpoints' spacing and where it runs. Every other field is what the run learns from and must match.
RESUME_FREE = ("steps", "minutes", "max_flops", "eval_every", "eval_opponents", "eval_games", "checkpoint_every",
               "keep_checkpoints", "threads", "device")


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
    legal_coef: float = 0.0
    """Weight of the legal-move loss: -log of the raw (unmasked, temperature 1) model's probability mass on
    the legal moves, averaged over every position of the step's games that has one (both sides' moves). 0: off."""
    mix_data: str = ""
    """A transcript dataset (``arena transcripts``, the model's tokenizer) for a mixed pretraining batch."""
    mix_coef: float = 0.0
    """Weight of the next-token loss on ``mix_batch`` of ``mix_data``'s training games per step. 0: off."""
    mix_batch: int = 64
    """Games of ``mix_data`` per step."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    steps: int = 200
    """Updates (or stop at ``minutes``)."""
    minutes: float = 0.0
    """Wall-clock budget of the whole run, resumes included; 0 = none."""
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
    keep_checkpoints: int = 0
    """Newest checkpoints kept; 0 keeps every one (the study rates them along the way)."""
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
        if self.keep_checkpoints < 0:
            raise ValueError(f"keep_checkpoints must be 0 (all) or more, got {self.keep_checkpoints}")
        if self.legal_coef < 0 or self.mix_coef < 0 or self.mix_batch < 1:
            raise ValueError("legal_coef and mix_coef must be 0 (off) or positive, and mix_batch at least 1")
        if bool(self.mix_coef) != bool(self.mix_data):
            raise ValueError("a mixed pretraining batch needs both mix_data (a dataset) and mix_coef (its weight)")


# -- batched play (agents.match) ---------------------------------------------------------------------------

class Learner(SeqAgent):
    """The model being trained, as a player that keeps its decisions: ``(game, token position, id, side)``
    for every move it chose (a forced Othello pass is none), the side being the one that moved."""

    def __init__(self, model, tok, temperature, counts):
        super().__init__((model, tok), temperature, counts=counts, name="learner")
        self.decisions = []

    def start_match(self, n):
        super().start_match(n)
        self.decisions = []

    def chose(self, dec, rows, ids, sides):
        for r, i, side in zip(rows, ids, sides):
            if i >= 0:
                self.decisions.append((int(r), dec.position(int(r)), int(i), int(side)))


def play_batch(model, tok, opponents, learner_colour, openings, temperature, seeds, counts, snapshot=None,
               game_kwargs=None):
    """Play ``B = len(opponents)`` games through the match engine; ``opponents[b]`` is "self" (the learner
    on both sides), "snapshot" (the frozen copy, sampling at temperature 1) or an Agent, and the learner
    plays ``learner_colour`` (0 black). Game b opens with ``openings[b]`` (actions) and draws from its
    own streams, seeded by ``seeds[b]``. Returns (histories, results from black's view float[B],
    decisions: the learner's ``(b, token position, id, side)``)."""
    B = len(opponents)
    learner = Learner(model, tok, temperature, counts)
    snap = SeqAgent((snapshot, tok), 1.0, counts=counts, name="snapshot") if "snapshot" in opponents else None
    others = [learner if o == "self" else snap if o == "snapshot" else o for o in opponents]
    black, white = ([learner] * B, others) if learner_colour == 0 else (others, [learner] * B)
    hist, rew = [None] * B, np.zeros(B)
    for b, rec in play(black, white, tok.game, tok.size, openings, seeds, **(game_kwargs or {})):
        hist[b], rew[b] = rec["history"], 2 * rec["result"] - 1
    return hist, rew, learner.decisions


def new_openings(tok, n, plies, rng):
    """``n`` random openings of ``plies`` plies (agents.players.random_openings), as action lists."""
    return random_openings(tok.game, tok.size, n, plies, rng)[0]


# -- the update ------------------------------------------------------------------------------------------

def grpo_loss(model, ref, tok, hist, decisions, adv, temperature, kl_coef, counts, legal_coef=0.0):
    """Mean over learner decisions ``(game b, token position t, chosen id)`` of ``-adv * log pi`` plus
    ``kl_coef`` x KL(pi || ref), both masked to the legal moves of each position (recomputed by replaying
    the games with the rules), plus ``legal_coef`` x the legal-move loss (:func:`legal_loss`) over every
    position of those games. Returns ``(loss, {"pg", "kl", "entropy"[, "legal"]})``."""
    rows_b = sorted({d[0] for d in decisions})
    seqs = {b: tok.encode(hist[b]) for b in rows_b}
    T = max(len(s) for s in seqs.values())
    x = np.zeros((len(rows_b), T), np.int64)
    for i, b in enumerate(rows_b):
        x[i, : len(seqs[b])] = seqs[b]
    dev = next(model.parameters()).device
    legal = torch.from_numpy(replay_prefixes(tok, x)).to(dev)  # [R, T, V]
    row_of = {b: i for i, b in enumerate(rows_b)}
    r_idx = torch.as_tensor([row_of[d[0]] for d in decisions], device=dev)  # decisions: (b, t, id[, side])
    t_idx = torch.as_tensor([d[1] for d in decisions], device=dev)
    ids = torch.as_tensor([d[2] for d in decisions], device=dev)
    a = torch.as_tensor(np.asarray(adv), dtype=torch.float32, device=dev)
    xt = torch.from_numpy(x).to(dev)
    with torch.autocast("cuda", torch.bfloat16, enabled=dev.type == "cuda"):
        every = model(xt)  # [R, T, V]: after each prefix of each game
    logits = every[r_idx, t_idx].float() / temperature
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
    info = {"pg": pg.item(), "kl": kl.item(), "entropy": entropy.item()}
    loss = pg + kl_coef * kl
    if legal_coef > 0:  # off: the loss is exactly what it was
        lg = legal_loss(every.float(), legal)
        info["legal"] = lg.item()
        loss = loss + legal_coef * lg
    return loss, info


def legal_loss(logits, legal):
    """The legal-move loss: mean over positions with a legal move of ``-log sum_{legal} softmax(logits)``, the
    raw model's probability mass off the legal moves in log form (0 when it puts none there). ``logits:
    float[R, T, V]`` after each prefix, ``legal: bool[R, T, V]`` (agents.seq.legal.replay_prefixes)."""
    has = legal.any(-1)  # a position after the game's end has none
    # -1e9, not -inf: a row with no legal id must stay finite, or its (unused) gradient is NaN.
    off = torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~legal, -1e9), -1)
    return off[has].mean() if has.any() else logits.sum() * 0.0


def mix_loss(model, rows, tok, counts):
    """The mixed pretraining batch's loss: next-token cross-entropy on ``rows: int64[B, T]`` (stored games in
    the model's ids), counted as forward passes and trained tokens."""
    x = torch.from_numpy(rows).to(next(model.parameters()).device)
    with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
        logits = model(x[:, :-1]).float()
    n = int(is_move(x[:, 1:]).sum())
    counts["forward_positions"] += n
    counts["tokens_trained"] += n
    return train_loss(logits, x, tok, "next_token")


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
    n = games // 2
    openings = new_openings(tok, n, opening_plies, np.random.default_rng([seed, 1]))
    for spec in specs:
        opp = build_opponent(spec, tok, seed, make_opponent)
        score = 0.0
        for colour in (0, 1):
            _, rew, _ = play_batch(model, tok, [opp] * n, colour, openings, 0.0,
                                   [seed * 100_003 + 2 * k + colour for k in range(n)], counts)
            mine = rew if colour == 0 else -rew
            score += float(((mine > 0) + 0.5 * (mine == 0)).sum())
        out[spec] = score / (2 * n)
    return out


def finetune(cfg, init, run_dir, resume=False, log=print, progress=True, make_opponent=baseline_opponent, halt=None):
    """Run GRPO; returns the last evaluation. ``make_opponent(spec, game, size, seed)`` builds the pool's
    and the evaluations' players other than ``self`` and ``snapshot`` (default: the baselines);
    ``halt(step)``: a caller's stop (as a signal). The run's plumbing is agents.common.run's: ``minutes``
    is the whole run's, resumes included, and a resume must name the same ``--init`` (the KL reference and
    the tokenizer come from it) and may change no field but those of ``RESUME_FREE``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(run_dir, "finetune", "gpt", cfg, resume, log, unit="tokens", steps_field="steps", halt=halt)
    device = resolve_device(cfg.device)
    if init == "none":
        tok = Tokenizer(cfg.game, cfg.size)
        model = GPT(GPTConfig.preset(cfg.preset, tok.vocab_size, tok.max_len)).to(device)  # seeded by Run
        ref = None
        init_info = {"init": "none", "tokenizer": tok.describe(), "data": None}
    else:
        model, start = load_gpt(init, device)
        tok = checkpoint_tokenizer(start)
        ref = copy.deepcopy(model).eval()
        init_info = {"init": init, "init_path": start["path"], "init_step": start["step"], "tokenizer": tok.describe(),
                     "data": checkpoint_data(start)}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run.per_forward = model.flops_per_token()
    mix = Dataset(cfg.mix_data) if cfg.mix_coef > 0 else None
    if mix is not None and mix.tokenizer.describe() != tok.describe():
        raise ValueError(f"mix_data {cfg.mix_data} is tokenized as {mix.tokenizer.describe()}, not as the model "
                         f"({tok.describe()})")

    def check(ck):
        # The start as the file it resolved to: a run directory that has moved on since is another start.
        was = ck["meta"].get("init") or {}
        key = "init_path" if "init_path" in was else "init"
        differences(ck["path"], {key: was.get(key), "init_step": was.get("init_step")},
                    {key: init_info.get(key, init_info["init"]), "init_step": init_info.get("init_step")},
                    f"its KL reference and tokenizer come from --init: resume with --init {was.get(key)}, or "
                    f"choose another --run-dir")
        differences(ck["path"], {"tokenizer": ck["meta"].get("tokenizer")}, {"tokenizer": tok.describe()})
        differences(ck["path"], ck["model"], model.cfg.to_dict(), "the GPT's shape (preset) must match")
        # A checkpoint written before a field existed ran with its default; tuples and lists compare alike.
        keys = [f for f in fields(FinetuneConfig) if f.name not in RESUME_FREE]
        was = json.loads(json.dumps({f.name: ck["config"].get(f.name, f.default) for f in keys}))
        differences(ck["path"], was, json.loads(json.dumps({f.name: getattr(cfg, f.name) for f in keys})),
                    "a resume may change only the budget (steps, minutes, max_flops), the evaluations, "
                    "checkpoint_every, keep_checkpoints, threads and device: resume with the same, or choose "
                    "another --run-dir")
    ck = run.resume_from(check)
    step = 0
    snapshot = copy.deepcopy(model).eval()  # the frozen opponent, refreshed every snapshot_every steps
    if ck:
        model.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        snapshot.load_state_dict(ck["state"].get("snapshot", ck["weights"]))
        step = ck["step"]
        log(f"finetune: resumed {ck['path']} at step {step}: {clock(run.seconds())} spent")
    pool = [build_opponent(s, tok, cfg.seed + i, make_opponent) for i, s in enumerate(cfg.opponents)]
    run.start({**init_info, "gpt": model.cfg.to_dict()})

    def totals():  # the counters metrics rows have always carried, under their names
        c = run.totals()
        return {"games": c["games"], "positions": c["positions"], "reward_events": c["reward_events"],
                "forward_positions": c["forward_passes"], "tokens_trained": c["trained"], "seconds": c["seconds"]}

    def save():
        return run.save(step, model=model.cfg.to_dict(), weights=model.state_dict(), optimizer=opt.state_dict(),
                        meta={"tokenizer": tok.describe(), "init": init_info}, state={"snapshot": snapshot.state_dict()})

    def do_eval():
        # Measurement, not training: its games stay out of the compute (and out of a FLOP budget), as
        # AlphaZero's gauntlets do.
        wins = evaluate(model, tok, cfg.eval_opponents, cfg.eval_games, cfg.seed + 7, {"forward_positions": 0},
                        cfg.opening_plies, make_opponent)
        m = {"step": step, "eval": wins, **totals()}
        run.metric(m, scalars=wins, prefix="eval/")
        return m

    last = do_eval() if step == 0 else None
    bar = tqdm(total=run.bar_total(), initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    with run.signals():
        try:
            while not run.stopping(step):
                G, S = cfg.groups, cfg.group_size
                counts = {"forward_positions": 0, "tokens_trained": 0, "raw_illegal": 0, "raw_decisions": 0}
                opens = new_openings(tok, G, cfg.opening_plies, run.rng)
                which = run.rng.integers(0, len(pool), G)
                colours = run.rng.integers(0, 2, G)
                seeds = run.rng.integers(0, 2**31 - 1, G * S)
                opponents = [pool[which[i]] for i in range(G) for _ in range(S)]
                model.eval()
                hist_all, learner_view, dec_all = [None] * (G * S), np.zeros(G * S), []
                rew_all = np.zeros(G * S)
                for colour in (0, 1):  # the learner's colour is per group; play each colour's groups together
                    rows = [i * S + j for i in range(G) if colours[i] == colour for j in range(S)]
                    if not rows:
                        continue
                    hist, rew, dec = play_batch(model, tok, [opponents[r] for r in rows], colour,
                                                [opens[r // S] for r in rows], cfg.temperature,
                                                [seeds[r] for r in rows], counts, snapshot)
                    for j, r in enumerate(rows):
                        hist_all[r], rew_all[r] = hist[j], rew[j]
                        learner_view[r] = rew[j] if colour == 0 else -rew[j]
                    dec_all += [(rows[b], t, i, side) for b, t, i, side in dec]
                # Self-play: a black move is rewarded with black's result, a white move with white's.
                adv_black = group_advantages(rew_all, G, S)
                adv_learner = group_advantages(learner_view, G, S)
                adv = np.array([(-adv_black[b] if side == 1 else adv_black[b]) if opponents[b] == "self"
                                else adv_learner[b] for b, _, _, side in dec_all])
                model.train()
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, cfg.lr, cfg.warmup_steps)
                loss, info = grpo_loss(model, ref, tok, hist_all, dec_all, adv, cfg.temperature, cfg.kl_coef, counts,
                                       cfg.legal_coef)
                if mix is not None:
                    rows = mix.sample("train", cfg.mix_batch, np.random.default_rng([cfg.seed, step, MIX_STREAM]))
                    m = mix_loss(model, rows, tok, counts)
                    info["mix"] = m.item()
                    loss = loss + cfg.mix_coef * m
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                run.count(games=G * S, positions=sum(len(h) for h in hist_all), reward_events=G * S,
                          forward_passes=counts["forward_positions"], trained=counts["tokens_trained"])
                names = np.repeat(np.array(cfg.opponents)[which], S)
                wins = {o: float((learner_view[names == o] > 0).mean()) for o in cfg.opponents if (names == o).any()}
                row = {"step": step, "loss": loss.item(), **info, "train_win": wins,
                       "illegal_rate": counts["raw_illegal"] / max(1, counts["raw_decisions"]), **totals()}
                keys = ("loss", "pg", "kl", "entropy", "illegal_rate", "legal", "mix")
                run.metric(row, scalars={k: row[k] for k in keys if k in row})
                bar.update(1)
                bar.set_postfix(kl=f"{info['kl']:.3f}", ent=f"{info['entropy']:.2f}", eta=run.eta(step),
                                illegal=f"{100 * row['illegal_rate']:.1f}%",
                                eval=" ".join(f"{k}:{100 * v:.0f}%" for k, v in (last or {}).get("eval", {}).items()))
                if step % cfg.snapshot_every == 0:
                    snapshot.load_state_dict(model.state_dict())
                last = run.periodic(step, do_eval, save) or last
        finally:
            bar.close()
            last, path = run.end(step, last, do_eval, save)
    log(f"finetune: step {step}, " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in last["eval"].items())
        + f"; {run.compute['games']} games, checkpoint {path} ({run.stop_reason or 'stopping'})")
    return last
