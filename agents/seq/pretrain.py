"""``arena pretrain``: next-token pretraining of the GPT on a transcript dataset.

    arena pretrain --config configs/seq_othello8.yaml [--set key=value] [--run-dir runs/x] [--resume]

AdamW with linear warmup and cosine decay, gradient clipping, a progress bar, metrics to
``run_dir/metrics.jsonl`` and TensorBoard, and atomic checkpoints (weights, optimizer, step, config,
model config, RNG state) every ``checkpoint_every`` steps, at the end and on SIGINT/SIGTERM. Runs on
the GPU when one is present, on the CPU otherwise.

Every evaluation reports, on held-out games: next-token loss and accuracy, and the legal-move error
rate as Othello-GPT defines it (the top-1 prediction after every prefix of a game, illegal = error).
Step 0 is the untrained baseline.
"""

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.common import checkpoint
from agents.common.device import resolve as resolve_device
from agents.common.tokenizer import PAD, is_move
from agents.common.transcripts import Dataset, FreshGames
from agents.seq.gpt import GPT, PRESETS, GPTConfig
from agents.seq.legal import evaluate, legal_targets
from agents.seq.load import load_gpt


@dataclass(frozen=True)
class PretrainConfig:
    data: str = "data/othello8_random"
    """Transcript dataset directory (``arena transcripts``)."""
    fresh_games: bool = False
    """Train on uniformly random games made on the fly in Numba instead of the stored train games (a
    ``random`` dataset only; its val games stay held out, since a fresh game whose digest falls on the
    validation side of the split is dropped). No game repeats however long the run."""
    preset: str = "small"
    """GPT size: tiny, small, othello_gpt (agents.gpt.PRESETS)."""
    dropout: float = 0.0
    """Dropout (Othello-GPT used 0.1 with 20M games; with fewer, each step sees fresh games anyway)."""
    batch_size: int = 64
    """Games per step."""
    lr: float = 1e-3
    """Peak learning rate."""
    warmup_steps: int = 200
    """Linear warmup."""
    max_steps: int = 20_000
    """Steps of the cosine schedule (the run stops here or at ``minutes``)."""
    minutes: float = 0.0
    """Wall-clock budget; 0 = none."""
    max_flops: float = 0.0
    """FLOP budget (forward + backward, ``compute.flops``); 0 = none. The run stops at whichever of
    ``max_steps``, ``minutes`` and ``max_flops`` comes first; the schedule follows ``max_steps``."""
    weight_decay: float = 0.1
    """AdamW weight decay on matrices (not on biases, LayerNorms or embeddings' positions)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    eval_every: int = 500
    """Steps between evaluations on held-out games."""
    eval_games: int = 500
    """Held-out games per evaluation (every prefix of each is scored)."""
    checkpoint_every: int = 1000
    """Steps between checkpoints."""
    keep_checkpoints: int = 3
    """Newest checkpoints kept; 0 keeps every one (the study rates them along the way)."""
    device: str = "auto"
    """``auto`` (cuda when present), ``cpu`` or ``cuda``."""
    threads: int = 0
    """CPU threads for torch; 0 = torch's default."""
    target: str = "next_token"
    """``next_token``: cross-entropy to the recorded next move (Othello-GPT's objective, any source).
    ``legal_set``: cross-entropy to the uniform distribution over the legal moves after each prefix. For
    ``random`` transcripts that uniform distribution *is* the data's true next-token distribution (the
    generator drew each move uniformly from the legal ones), so this is the expected value of the
    next-token loss: the same minimiser with far less gradient noise (Rao-Blackwellisation). It needs the
    rules engine to compute the sets, so it is refused for any other source."""
    seed: int = 0
    """Seeds the model and the batches."""

    def __post_init__(self):
        if self.target not in ("next_token", "legal_set"):
            raise ValueError(f"target must be next_token or legal_set, got {self.target!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        for k in ("batch_size", "max_steps", "eval_every", "eval_games", "checkpoint_every"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be at least 1")
        if self.max_flops < 0:
            raise ValueError(f"max_flops must be 0 (no limit) or positive, got {self.max_flops}")
        if self.keep_checkpoints < 0:
            raise ValueError(f"keep_checkpoints must be 0 (all) or more, got {self.keep_checkpoints}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


# -- checkpoints ------------------------------------------------------------------------------------------

def compute_of(stats, flops_tok):
    """Pretraining's compute in the checkpoint schema: a token trained on is one forward pass, and a
    forward plus backward pass costs about three forward passes."""
    return {"seconds": round(stats["seconds"], 1), "reward_events": 0, "games": 0, "positions": 0,
            "trained": stats["tokens"], "trained_unit": "tokens", "forward_passes": stats["tokens"],
            "flops": int(3 * flops_tok * stats["tokens"])}


def save(run_dir, model, opt, step, cfg, rng, stats, tokenizer):
    return checkpoint.save(run_dir, step, kind="gpt", trainer="pretrain", config=asdict(cfg),
                           model=model.cfg.to_dict(), weights=model.state_dict(), optimizer=opt.state_dict(),
                           rng=checkpoint.rng_state(rng), compute=compute_of(stats, model.flops_per_token()),
                           meta={"tokenizer": tokenizer.describe(), "games_read": stats["games"]},
                           keep=cfg.keep_checkpoints)


# -- the run ----------------------------------------------------------------------------------------------

def train_loss(logits, x, tok, target):
    """Mean loss over the predicted positions. ``logits: float[B, T-1, V]`` after each prefix of
    ``x: uint8/int64[B, T]``. ``next_token``: cross-entropy to ``x[:, 1:]``. ``legal_set``: cross-entropy to
    the uniform distribution over the legal ids after each prefix (see PretrainConfig.target)."""
    if target == "next_token":
        y = x[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).long(),
                               ignore_index=PAD)
    legal = torch.from_numpy(legal_targets(tok, x.cpu().numpy())[:, :-1]).to(logits.device)
    n = legal.sum(-1)
    has = n > 0  # positions after the game's end predict nothing
    logp = F.log_softmax(logits.float(), -1)
    per_pos = -(logp * legal).sum(-1)[has] / n[has]
    return per_pos.mean()


def lr_at(cfg, step):
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(model, cfg):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("pos.")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("pos."))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))


def pretrain(cfg, run_dir, resume=False, log=print, progress=True):
    """Train; returns the last evaluation's metrics."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = Dataset(cfg.data)
    tok = data.tokenizer
    if data.count("train") == 0 or data.count("val") == 0:
        raise ValueError(f"{cfg.data}: needs both train and val games (has {data.count('train')} and "
                         f"{data.count('val')})")
    os.makedirs(run_dir, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = GPT(GPTConfig.preset(cfg.preset, tok.vocab_size, tok.max_len, cfg.dropout)).to(device)
    opt = make_optimizer(model, cfg)
    step, stats = 0, {"tokens": 0, "games": 0, "seconds": 0.0}
    ck_path = checkpoint.latest(run_dir) if resume else None
    if resume and ck_path is None:
        log(f"pretrain: nothing to resume in {run_dir}; starting afresh")
    if ck_path:
        _, ck = load_gpt(ck_path, device)
        old = ck["config"]
        if (old["data"], old["preset"], old.get("fresh_games", False)) != (cfg.data, cfg.preset, cfg.fresh_games):
            raise ValueError(f"{ck_path} was trained with data={old['data']} preset={old['preset']} "
                             f"fresh_games={old.get('fresh_games', False)}, not data={cfg.data} preset={cfg.preset} "
                             f"fresh_games={cfg.fresh_games}")
        model.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        stats = {"tokens": ck["compute"]["trained"], "games": ck["meta"]["games_read"],
                 "seconds": ck["compute"]["seconds"]}
        checkpoint.restore_rng(rng, ck["rng"])
        log(f"pretrain: resumed {ck_path} at step {step}")
    elif checkpoint.latest(run_dir):
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue, or choose --run-dir")
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"pretrain": asdict(cfg), "gpt": model.cfg.to_dict(), "dataset": data.manifest}, f, indent=2)
    log(f"pretrain: {model.num_params():,} parameters ({cfg.preset}), {data.count('train'):,} train / "
        f"{data.count('val'):,} val games, device {device}")
    if cfg.target == "legal_set" and data.manifest.get("source") != "random":
        raise ValueError(f"target legal_set is the true next-token distribution only for random transcripts; "
                         f"{cfg.data} has source {data.manifest.get('source')!r}: use target next_token")
    fresh = FreshGames.training_side(data, cfg.seed) if cfg.fresh_games else None
    val_rows = data.rows("val", cfg.eval_games)
    legal = legal_targets(tok, val_rows)
    tb = SummaryWriter(os.path.join(run_dir, "tensorboard"))
    metrics_f = open(os.path.join(run_dir, "metrics.jsonl"), "a")
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.monotonic()  # the budget and the seconds counted both include the evaluations
    deadline = t0 + cfg.minutes * 60 if cfg.minutes > 0 else float("inf")
    flops_tok = model.flops_per_token()

    def do_eval():
        m = {"step": step, **evaluate(model, val_rows, legal, device), **stats,
             "flops": 3 * flops_tok * stats["tokens"]}  # forward + backward ~ 3x forward
        metrics_f.write(json.dumps(m) + "\n")
        metrics_f.flush()
        for k in ("val_loss", "val_acc", "legal_error"):
            tb.add_scalar(k, m[k], step)
        return m

    last = do_eval() if step == 0 else None
    if last:
        log(f"pretrain: untrained baseline: legal-move error {100 * last['legal_error']:.2f}%, "
            f"val loss {last['val_loss']:.3f}")
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    model.train()
    try:
        while step < cfg.max_steps and not stop["now"] and time.monotonic() < deadline and not (
                cfg.max_flops and 3 * flops_tok * stats["tokens"] >= cfg.max_flops):
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step)
            rows = fresh.sample(step, cfg.batch_size) if fresh else data.sample("train", cfg.batch_size, rng)
            x = torch.from_numpy(rows).to(device)
            with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):  # the weights stay fp32
                logits = model(x[:, :-1]).float()
            y = x[:, 1:]
            loss = train_loss(logits, x, tok, cfg.target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            stats["tokens"] += int(is_move(y).sum())
            stats["games"] += cfg.batch_size
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", legal_err=f"{100 * last['legal_error']:.2f}%" if last else "-")
                tb.add_scalar("train_loss", loss.item(), step)
            if step % cfg.eval_every == 0 or step % cfg.checkpoint_every == 0:
                now = time.monotonic()  # wall-clock so far, evaluations included, in what is evaluated and saved
                stats["seconds"], t0 = stats["seconds"] + now - t0, now
            if step % cfg.eval_every == 0:
                last = do_eval()
            if step % cfg.checkpoint_every == 0:
                save(run_dir, model, opt, step, cfg, rng, stats, tok)
    finally:
        bar.close()
        stats["seconds"] += time.monotonic() - t0
        for s, h in old_handlers.items():
            signal.signal(s, h)
    if last is None or last["step"] != step:
        last = do_eval()
    path = save(run_dir, model, opt, step, cfg, rng, stats, tok)
    metrics_f.close()
    tb.close()
    log(f"pretrain: step {step}, legal-move error {100 * last['legal_error']:.3f}%, val loss "
        f"{last['val_loss']:.3f}, accuracy {100 * last['val_acc']:.1f}%; checkpoint {path}")
    return last
