"""The plumbing of a training run, written once for the three trainers (``arena train``, ``arena pretrain``,
``arena finetune``), so that each trainer's own file is only its loop.

    run = Run(run_dir, "pretrain", "gpt", cfg, resume=True)   # seeds numpy and torch from cfg.seed
    ck = run.resume_from(check)          # the checkpoint dict to continue, or None (see below)
    run.start(extras)                    # config.json, metrics.jsonl, TensorBoard; the clock starts
    with run.signals():                  # SIGINT/SIGTERM ask the loop to stop; the final save still runs
        while not run.stopping(step):
            lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.max_steps)
            ...
            run.count(trained=..., forward_passes=...)
        run.save(step, model=..., weights=..., optimizer=..., meta=...)
    run.close()

The run directory (every file written atomically or appended line by line)::

    RUN/config.json          {"trainer", "config", ...extras}: the config as run, with the model's arguments
    RUN/metrics.jsonl        one JSON line per row (:meth:`Run.metric`), resumes appended
    RUN/tensorboard/         the same scalars for TensorBoard
    RUN/checkpoints/*.pt     agents.common.checkpoint: weights, optimizer, step, config, compute, the run's streams

What a resume guarantees. A run directory with checkpoints is continued only with ``resume``; the newest
checkpoint must be the same trainer's, and ``check(ck)`` names every other way the run must agree with it
(game, network, data, tokenizer, start checkpoint, ...): each disagreement is a one-line ``ValueError``
before anything is written. The budget (``minutes``, ``max_steps``, ``max_flops``) is the whole run's,
resumes included, for every trainer: the wall-clock seconds and the compute spent so far are read back from
the checkpoint. Every random stream a trainer draws from is saved with every checkpoint: the run's own
(``run.rng`` and torch's) in the checkpoint itself, and what a trainer keeps beside it in files of its
own (AlphaZero's replay buffer and self-play); other draws come from per-game streams, a function of the
seeds the run's own stream drew (agents.match). So a run stopped
(a signal, a spent budget) and resumed draws exactly what the uninterrupted run would have: on the CPU
with fixed threads (and for AlphaZero ``inference=torch`` and ``workers: 0``) the two end with the same
weights, bit for bit. Work is scheduled by counts (steps, games, moves), never by the clock; the clock
only decides when a ``minutes`` budget is spent, and when to print and save.
"""

import contextlib
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict

import numpy as np
import torch

from agents.common import checkpoint
from agents.common.files import atomic_write

REASONS = ("stopped by a signal", "max_steps reached", "max_flops reached", "budget spent")


def lr_at(step, peak, warmup, total=0, floor=0.1):
    """The learning rate at ``step``: linear warmup over ``warmup`` steps, then a cosine from ``peak``
    down to ``floor * peak`` at step ``total`` (held there after it); ``total = 0``: constant after the
    warmup."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if total <= 0:
        return peak
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def clock(seconds):
    """``1h05m`` / ``4m30s`` / ``12s``."""
    seconds = max(0, int(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def flops_of(forward_passes, trained, per_forward):
    """FLOPs of ``forward_passes`` forward passes plus ``trained`` samples trained on, each a forward
    pass (already among ``forward_passes``) and a backward pass of about two forward passes;
    ``per_forward``: FLOPs of one forward pass of one position (AlphaZero) or one token (the GPT)."""
    return int((forward_passes + 2 * trained) * per_forward)


def refuse_unresumed(run_dir, resume):
    """A run directory with checkpoints is continued only when asked (checked before anything is written)."""
    if checkpoint.latest(run_dir) and not resume:
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue it, or choose --run-dir")


def differences(path, old, new, hint=""):
    """A one-line ``ValueError`` when the dicts ``old`` (what the checkpoint at ``path`` recorded) and
    ``new`` (what this run asks for) disagree on any key of ``new``."""
    bad = [k for k in new if old.get(k) != new[k]]
    if bad:
        was = ", ".join(f"{k}={old.get(k)!r}" for k in bad)
        now = ", ".join(f"{k}={new[k]!r}" for k in bad)
        raise ValueError(f"{path} was trained with {was}, not {now}" + (f": {hint}" if hint else ""))


class Run:
    """One training run in ``run_dir`` (module docstring). ``trainer``: ``train`` | ``pretrain`` |
    ``finetune`` (the checkpoint's ``trainer``); ``kind``: ``alphazero`` | ``gpt``; ``cfg``: the trainer's
    frozen config, with ``seed``, ``minutes``, ``max_flops`` and ``steps_field`` (the name of its step
    budget: ``max_steps`` or ``steps``); ``unit``: what one trained sample is, ``positions`` or ``tokens``;
    ``halt(step)``: a caller's stop (true ends the run before that step, as a signal does)."""

    def __init__(self, run_dir, trainer, kind, cfg, resume=False, log=print, unit="positions",
                 steps_field="max_steps", halt=None):
        self.dir, self.trainer, self.kind, self.cfg, self.resume, self.log = run_dir, trainer, kind, cfg, resume, log
        self.halt = halt  # halt(step) -> bool: a caller's stop, as a signal would (tests stop runs part-way)
        self.step = 0  # the trainer's step when its loop ended
        self.max_steps = int(getattr(cfg, steps_field))
        # The streams first: anything built after this (a network's initial weights) is a function of the seed.
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)  # the trainer's main stream
        self.compute = checkpoint.zero_compute(unit)
        self.per_forward = 0.0  # FLOPs of one forward pass of one sample, for ``compute["flops"]``
        self.stop_reason = None
        self._stop = False
        self._t0 = None  # when this process's clock started (:meth:`start`)
        self._spent = 0.0  # seconds spent before it, resumes summed
        self._metrics = self._board = None
        self._due = {}  # name -> when :meth:`due` last said yes

    # -- streams and resume ---------------------------------------------------------------------------

    def rng_state(self):
        return checkpoint.rng_state(self.rng)

    def resume_from(self, check=None):
        """The newest checkpoint of the run directory as a dict, or None for a new run. Refused with one
        line: checkpoints without ``resume``; another trainer's or kind's checkpoint; whatever
        ``check(ck)`` raises (it compares the checkpoint's config and meta with this run's: call
        :func:`differences`). On a resume the compute, the seconds spent and the run's streams are restored."""
        path = checkpoint.latest(self.dir)
        if path is None:
            if self.resume:
                self.log(f"{self.trainer}: no checkpoint in {self.dir}/checkpoints: starting fresh")
            return None
        refuse_unresumed(self.dir, self.resume)
        ck = checkpoint.load(path, kind=self.kind)
        if ck["trainer"] != self.trainer:
            raise ValueError(f"{path} was written by arena {ck['trainer']}, not arena {self.trainer}: choose "
                             f"another --run-dir")
        if check is not None:
            check(ck)
        self.compute.update(ck["compute"])
        self._spent = float(ck["compute"]["seconds"])
        checkpoint.restore_rng(self.rng, ck["rng"])
        return ck

    # -- the directory, metrics and the clock ------------------------------------------------------

    def start(self, extras=None):
        """Write ``config.json`` (the config and ``extras``), open the metrics and start the clock. Call it
        once the checkpoint is read and everything that can be refused has been checked."""
        os.makedirs(os.path.join(self.dir, "checkpoints"), exist_ok=True)
        atomic_write(os.path.join(self.dir, "config.json"),
                     json.dumps({"trainer": self.trainer, "config": asdict(self.cfg), **(extras or {})}, indent=2))
        from torch.utils.tensorboard import SummaryWriter  # here: importing it costs a second

        self._metrics = open(os.path.join(self.dir, "metrics.jsonl"), "a")
        self._board = SummaryWriter(os.path.join(self.dir, "tensorboard"))
        self._t0 = time.monotonic()

    def seconds(self):
        """Wall-clock seconds of the whole run so far, resumes summed (evaluations included)."""
        return self._spent + (time.monotonic() - self._t0 if self._t0 is not None else 0.0)

    def budget_left(self):
        """Seconds left of the ``minutes`` budget (inf without one)."""
        return self.cfg.minutes * 60 - self.seconds() if self.cfg.minutes > 0 else math.inf

    def totals(self):
        """The compute so far, in the checkpoint's schema (agents.common.checkpoint.COMPUTE)."""
        c = self.compute
        return {**c, "seconds": round(self.seconds(), 1), "flops": flops_of(c["forward_passes"], c["trained"],
                                                                              self.per_forward)}

    def count(self, **amounts):
        """Add to the compute counters (``trained``, ``forward_passes``, ``games``, ...)."""
        for k, v in amounts.items():
            self.compute[k] += v

    def metric(self, row, scalars=None, step=None, prefix=""):
        """Append ``row`` to metrics.jsonl and ``scalars`` (default: the row's numbers) to TensorBoard."""
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()
        self.scalars(row if scalars is None else scalars, row.get("step", 0) if step is None else step, prefix)

    def scalars(self, values, step, prefix=""):
        """``values``' numbers to TensorBoard only (per-step curves too dense for metrics.jsonl)."""
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self._board.add_scalar(f"{prefix}{k}", v, step)

    def bar_total(self):
        """The progress bar's total: the step budget when it is the only one, else None (a count and a rate).
        Where ``minutes`` or ``max_flops`` may end the run first, a bar over the steps would show an ETA
        for steps the run never takes; :meth:`eta` (the bar's ``eta=``) gives the budget that binds."""
        return None if self.cfg.minutes > 0 or self.cfg.max_flops else self.max_steps

    def eta(self, step):
        """``"12m30s left"``: what is left of the budget that binds first. The wall-clock budget's part is
        exact; the steps and FLOPs budgets are paced by this process's progress since its first call."""
        now, flops = time.monotonic(), self.totals()["flops"]
        if getattr(self, "_eta_start", None) is None:
            self._eta_start = (now, step, flops)
        t0, step0, flops0 = self._eta_start
        el = now - t0
        budgets = []  # (done, seconds left or None while unknown)
        if self.cfg.minutes > 0:
            budgets.append((self.budget_left() <= 0, max(0.0, self.budget_left())))
        for total, now_, start in ((self.max_steps, step, step0), (self.cfg.max_flops, flops, flops0)):
            if total:
                pace = (now_ - start) / el if el > 1 else 0.0
                budgets.append((now_ >= total, (total - now_) / pace if pace > 0 else None))
        if not budgets:
            return "no budget"
        if any(done for done, _ in budgets):
            return "done"
        known = [left for _, left in budgets if left is not None]
        return f"{clock(min(known))} left" if known else "? left"

    def due(self, name, seconds):
        """Whether ``seconds`` of wall-clock have passed since this last said yes for ``name`` (or since
        :meth:`start`): the clock decides when to print and when to save, never what is played or learned."""
        now = time.monotonic()
        if now - self._due.setdefault(name, self._t0 if self._t0 is not None else now) < seconds:
            return False
        self._due[name] = now
        return True

    def reset_due(self, name):
        """Count ``name``'s interval from now (e.g. a save made for another reason)."""
        self._due[name] = time.monotonic()

    # -- stopping -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def signals(self):
        """A context in which SIGINT and SIGTERM ask the loop to stop (:meth:`stopping` turns true) instead
        of killing it; a second signal during the final save is caught the same way, so it cannot cut the
        save short. Installed from the main thread only (Python delivers signals there); elsewhere (a
        thread of a test or a server) it does nothing."""
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.signal(s, lambda *_: self.request_stop()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)

    def request_stop(self):
        """Stop at the next :meth:`stopping` check (a signal, or a caller that wants the run to end)."""
        self._stop = True

    def stopping(self, step):
        """Whether the loop must end before ``step``'s work: a signal, ``max_steps``, ``max_flops`` or the
        ``minutes`` budget (the whole run's). The reason is kept in ``stop_reason``."""
        why = None
        if self._stop or (self.halt is not None and self.halt(step)):
            why = REASONS[0]
        elif self.max_steps and step >= self.max_steps:
            why = REASONS[1]
        elif self.cfg.max_flops and self.totals()["flops"] >= self.cfg.max_flops:
            why = REASONS[2]
        elif self.budget_left() <= 0:
            why = REASONS[3]
        self.stop_reason = why
        return why is not None

    # -- saving -------------------------------------------------------------------------------------

    def save(self, step, *, model, weights, optimizer, meta=None, state=None, keep=None):
        """Write the checkpoint at ``step`` (agents.common.checkpoint) with the config, the compute so far
        and the run's streams (``state``: the trainer's other resume state, e.g. a frozen opponent's
        weights); keeps ``cfg.keep_checkpoints`` newest unless ``keep`` says otherwise. Returns its path."""
        keep = getattr(self.cfg, "keep_checkpoints", 0) if keep is None else keep
        return checkpoint.save(self.dir, step, keep=keep, kind=self.kind, trainer=self.trainer,
                               config=asdict(self.cfg), model=model, weights=weights, optimizer=optimizer,
                               rng=self.rng_state(), compute=self.totals(), meta=meta or {}, state=state)

    def periodic(self, step, evaluate, save):
        """After ``step``: ``evaluate()`` every ``cfg.eval_every`` steps (its result returned, else None) and
        ``save()`` every ``cfg.checkpoint_every``."""
        out = evaluate() if step % self.cfg.eval_every == 0 else None
        if step % self.cfg.checkpoint_every == 0:
            save()
        return out

    def end(self, step, last, evaluate, save):
        """The end of a loop, however it ended (call it inside :meth:`signals`, so that a second signal
        cannot cut the save): the final checkpoint first, then an evaluation unless ``last`` is of ``step``
        (one that fails is logged: the checkpoint is what matters, and the loop's own error, if any, goes
        on), the metrics closed. Returns ``(the last evaluation, the checkpoint's path)``."""
        path = save()
        try:
            if last is None or last["step"] != step:
                last = evaluate()
        except Exception as e:
            self.log(f"{self.trainer}: the final evaluation failed ({type(e).__name__}: {e}); {path} is saved")
        finally:
            self.close()
        return last, path

    def close(self):
        for f in (self._metrics, self._board):
            if f is not None:
                f.close()
        self._metrics = self._board = None
