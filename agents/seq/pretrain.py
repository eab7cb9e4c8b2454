"""``arena pretrain``: next-token pretraining of the GPT on a transcript dataset.

    arena pretrain --config configs/seq_othello8.yaml [--set key=value] [--run-dir runs/x] [--resume]

AdamW with linear warmup and cosine decay, gradient clipping, a progress bar, metrics to
``run_dir/metrics.jsonl`` and TensorBoard, and atomic checkpoints (weights, optimizer, step, config,
model config, every random stream) every ``checkpoint_every`` steps, at the end and on SIGINT/SIGTERM
(the run's plumbing: agents.common.run; ``minutes`` is the whole run's, resumes included, and a run
stopped and resumed ends where the uninterrupted one does). Runs on the GPU when one is present, on the
CPU otherwise.

Every evaluation reports, on held-out games: next-token loss and accuracy, and the legal-move error
rate as Othello-GPT defines it (the top-1 prediction after every prefix of a game, illegal = error).
Step 0 is the untrained baseline.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from agents.common import checkpoint
from agents.common.device import resolve as resolve_device
from agents.common.run import Run, clock, differences, lr_at
from agents.common.tokenizer import PAD, is_move
from agents.common.transcripts import Dataset, FreshGames
from agents.seq.gpt import GPT, PRESETS, GPTConfig
from agents.seq.legal import evaluate, legal_targets

# What a resume must agree with the checkpoint on (its data, its model, what it learns).
RESUME_KEYS = ("data", "preset", "fresh_games", "target", "dropout", "init")


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
    """Wall-clock budget of the whole run, resumes included; 0 = none."""
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
    init: str = ""
    """A GPT checkpoint or model file (``models/othello8_gpt.pt``) whose weights start the run, of the same
    preset and tokenizer: pretraining goes on from it with a fresh optimizer and this config's schedule
    (a warm start, as ``arena train``'s ``init``: the counters start at zero and the file's compute is
    recorded in ``meta.init``; ``agents.common.checkpoint.total_compute`` adds the two). Empty: random
    weights."""
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


# -- the run ----------------------------------------------------------------------------------------------

def warm_start(model, path, tok):
    """Load the GPT weights of the checkpoint or model file ``path`` into ``model``; returns ``{path, step,
    compute}`` of the file for the run's record (``compute``: all that is behind its weights, its own warm
    start's included). Refused in one line when the file is no GPT, another
    preset or another tokenizer."""
    ck = checkpoint.load(path, kind="gpt")
    differences(path, {"model": ck["model"], "tokenizer": ck["meta"].get("tokenizer")},
                {"model": model.cfg.to_dict(), "tokenizer": tok.describe()},
                "warm-start from a GPT of this preset and this dataset's tokenizer")
    model.load_state_dict(ck["weights"])
    return {"path": path, "step": ck["step"], "compute": checkpoint.total_compute(ck)}


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


def make_optimizer(model, cfg):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("pos.")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("pos."))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))


def pretrain(cfg, run_dir, resume=False, log=print, progress=True, halt=None):
    """Train; returns the last evaluation's metrics. ``halt(step)``: a caller's stop (as a signal)."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = Dataset(cfg.data)
    tok = data.tokenizer
    if data.count("train") == 0 or data.count("val") == 0:
        raise ValueError(f"{cfg.data}: needs both train and val games (has {data.count('train')} and "
                         f"{data.count('val')})")
    if cfg.target == "legal_set" and data.manifest.get("source") != "random":
        raise ValueError(f"target legal_set is the true next-token distribution only for random transcripts; "
                         f"{cfg.data} has source {data.manifest.get('source')!r}: use target next_token")
    run = Run(run_dir, "pretrain", "gpt", cfg, resume, log, unit="tokens", halt=halt)  # seeds before the model
    model = GPT(GPTConfig.preset(cfg.preset, tok.vocab_size, tok.max_len, cfg.dropout)).to(device)
    opt = make_optimizer(model, cfg)
    run.per_forward = model.flops_per_token()

    def check(ck):
        differences(ck["path"], {k: ck["config"].get(k, PretrainConfig.__dataclass_fields__[k].default)
                                 for k in RESUME_KEYS}, {k: getattr(cfg, k) for k in RESUME_KEYS},
                    "resume with the same, or choose another --run-dir")
        differences(ck["path"], {"tokenizer": ck["meta"].get("tokenizer")}, {"tokenizer": tok.describe()},
                    f"{cfg.data}'s tokenizer changed since")
    ck = run.resume_from(check)
    step, games_read, init = 0, 0, None
    if ck:
        model.load_state_dict(ck["weights"])
        opt.load_state_dict(ck["optimizer"])
        step, games_read, init = ck["step"], ck["meta"]["games_read"], ck["meta"].get("init")
        log(f"pretrain: resumed {ck['path']} at step {step}: {clock(run.seconds())} spent")
    elif cfg.init:  # checked before anything is written
        init = warm_start(model, cfg.init, tok)
        log(f"pretrain: warm start from {cfg.init} (its step {init['step']}, {clock(init['compute']['seconds'])} "
            f"of training); optimizer and counters start fresh")
    run.start({"gpt": model.cfg.to_dict(), "dataset": data.manifest})
    log(f"pretrain: {model.num_params():,} parameters ({cfg.preset}), {data.count('train'):,} train / "
        f"{data.count('val'):,} val games, device {device}")
    fresh = FreshGames.training_side(data, cfg.seed) if cfg.fresh_games else None
    val_rows = data.rows("val", cfg.eval_games)
    legal = legal_targets(tok, val_rows)

    def save():
        return run.save(step, model=model.cfg.to_dict(), weights=model.state_dict(), optimizer=opt.state_dict(),
                        meta={"tokenizer": tok.describe(), "games_read": games_read,
                              **({"init": init} if init else {})})

    def do_eval():
        t = run.totals()
        m = {"step": step, **evaluate(model, val_rows, legal, device), "tokens": t["trained"], "games": games_read,
             "seconds": t["seconds"], "flops": t["flops"]}
        run.metric(m, scalars={k: m[k] for k in ("val_loss", "val_acc", "legal_error")})
        return m

    last = do_eval() if step == 0 else None
    if last:
        log(f"pretrain: {'the warm start' if init else 'untrained baseline'}: legal-move error {100 * last['legal_error']:.2f}%, "
            f"val loss {last['val_loss']:.3f}")
    bar = tqdm(total=run.bar_total(), initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    model.train()
    with run.signals():
        try:
            while not run.stopping(step):
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.max_steps)
                rows = fresh.sample(step, cfg.batch_size) if fresh else data.sample("train", cfg.batch_size, run.rng)
                x = torch.from_numpy(rows).to(device)
                with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):  # the weights stay fp32
                    logits = model(x[:, :-1]).float()
                loss = train_loss(logits, x, tok, cfg.target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                tokens = int(is_move(x[:, 1:]).sum())
                run.count(trained=tokens, forward_passes=tokens)
                games_read += cfg.batch_size
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}", eta=run.eta(step),
                                    legal_err=f"{100 * last['legal_error']:.2f}%" if last else "-")
                    run.scalars({"train_loss": loss.item()}, step)
                last = run.periodic(step, do_eval, save) or last
        finally:
            bar.close()
            last, path = run.end(step, last, do_eval, save)
    log(f"pretrain: step {step}, legal-move error {100 * last['legal_error']:.3f}%, val loss "
        f"{last['val_loss']:.3f}, accuracy {100 * last['val_acc']:.1f}%; checkpoint {path} "
        f"({run.stop_reason or 'stopping'})")
    return last
