"""The policy/value net run by one of several inference backends, checked against eager fp32 first.

    ev = NetEvaluator(net, "auto", sample=sample_positions("othello", 8, 256))
    ev.evaluate(obs, mask, leaves)    # the search's evaluator (agents.search.evaluators)
    ev.refresh(recent_obs)            # after the net's weights changed: rebuild and re-check
    ev.backend                        # the backend in use, e.g. "onnx-int8": name it to build the same elsewhere
    ev.report                         # {"backend", "top1_agreement", "value_mae", "agrees", ...}

Backends (all run the same weights; ``obs float32[B, C, N, N] -> logits float32[B, A], value float32[B]``):

    torch       eager PyTorch, fp32: the reference every other backend is checked against
    compile     torch.compile (Inductor), fp32
    bf16        torch.compile under bf16 autocast
    onnx        ONNX Runtime, fp32 (CPU; the legacy TorchScript exporter, batch axis dynamic)
    onnx-int8   ONNX Runtime, int8 trunk convolutions: static QDQ quantisation (onnxruntime.quantization),
                weights per channel, activations calibrated (99.999th percentile) on recent positions
    auto        the fastest backend that agrees with fp32 on the sample (:func:`agreement`)

A backend agrees with fp32 when it makes fp32's decisions: its top-1 move (over the legal moves) is
fp32's on at least ``MIN_TOP1`` of the decisive positions, those where fp32's best move leads its second
by ``TIE_MARGIN`` logits or more (on a near-tie either move is as good, and the last bits of any
arithmetic may swap them); its choices give up on average at most ``MAX_REGRET`` of fp32's probability
(fp32's probability of its own best move minus that of the backend's choice; the average, not the worst
case, which grows with the sample and is reported beside it); and the value MAE is at most
``MAX_VALUE_MAE``. Plain top-1 agreement over every position is reported beside them.

The check runs before a backend is used and again on every :meth:`NetEvaluator.refresh` (int8
re-calibrates then). The backend is chosen once, at construction, and kept:

- ``auto`` checks and times its candidates (at the batch size the search will use) and takes the fastest
  that agrees; eager torch always agrees, so there is always one. ``report["candidates"]`` keeps every
  candidate's figures. It is made once: timings differ between processes and runs, and backends differ
  in the last float bits, so a player that chose again in every process (each tournament worker) or at
  every refresh could play other games at another worker count, or change backend mid-run. Another
  process builds the same player by naming ``ev.backend`` instead of ``auto`` (for an arena spec,
  ``arena.specs.resolve_spec``).
- A backend named explicitly that cannot run, or disagrees with fp32 on the sample, is refused with a
  one-line ``ValueError`` giving its figures: it would be a silent change of player.
- At a later refresh (a training run's new weights), a backend, named or chosen by ``auto``, that stops
  agreeing (or fails to rebuild) is replaced for good by its fp32 sibling (``FALLBACK``: int8 by ONNX
  fp32) when that agrees, else by eager torch, with one log line of its figures:
  a run must not die hours in over its inference backend, nor switch back and forth. An evaluator built
  mid-run from a training run's weights (a gauntlet's) passes ``strict=False`` to be treated the same.
"""

import contextlib
import copy
import io
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from agents.common.device import resolve
from agents.search.evaluators import Evaluator
from envs.core import make_batch

BACKENDS = ("torch", "compile", "bf16", "onnx", "onnx-int8")
CHOICES = BACKENDS + ("auto",)
# The bars, checked against 400-game int8-vs-fp32 matches of the shipped nets (configs/tournament_int8_vs_
# fp32*.yaml; docs/benchmarks.md): 8x8 Othello, int8 99.9% of decisive top-1 moves, 0.00008 of fp32's
# probability given up on average, -4 Elo [-38, +31]; 9x9 Go, 97.9% to 99.4% of decisive moves on
# samples of 236 to 942 decisive positions, 0.0002 to 0.0004 given up (its worst single position 0.02
# to 0.08), +19 Elo [-15, +53]. Neither loses strength beyond noise, so both pass, with room for the
# sampling noise of a 256-position check (about 1% at these rates); a backend that swaps more than three
# decisive moves in a hundred does not.
MIN_TOP1, MAX_VALUE_MAE = 0.97, 0.02
TIE_MARGIN, MAX_REGRET = 0.05, 0.001
# What ``auto`` times, per device. On CPU the torch.compile variants are left out: on this project's
# 2-core AVX-512 machine they cost 10-35 s to build in every worker and ran slower than ONNX Runtime fp32
# (``arena bench selfplay`` measures all five). ONNX Runtime here is its CPU build, so CUDA has torch only.
AUTO_CANDIDATES = {"cpu": ("onnx-int8", "onnx", "torch"), "cuda": ("bf16", "compile", "torch")}
# Where a backend that stops agreeing mid-run falls back to (eager torch when it has none, or that one fails).
FALLBACK = {"onnx-int8": "onnx", "bf16": "compile"}


def resolve_device(device):
    """``"cpu"`` or ``"cuda"`` for a ``device`` option (agents.common.device)."""
    return resolve(device)


def check_backend(name):
    if name not in CHOICES:
        raise ValueError(f"inference must be one of {', '.join(CHOICES)}, got {name!r}")
    return name


def sample_positions(game, size, n=256, seed=0, inputs="basic", **game_kwargs):
    """``(obs float32[n, C, N, N], mask bool[n, A])``: positions of uniformly random games, every ply
    from the start to the end equally likely (``n`` games, each cut at a random ply), as the input set
    ``inputs`` (a net's ``inputs``); deterministic in ``seed``. The check's sample before any self-play
    position exists."""
    g = make_batch(game, n, size, seed=seed, **game_kwargs)
    rng = np.random.default_rng([seed, 0x5A3])
    stop = rng.integers(0, size * size - 3, size=n)
    obs = np.zeros((n, *g.input_shape(inputs)), np.float32)
    mask, taken = np.zeros((n, g.num_actions), bool), np.zeros(n, bool)
    for ply in range(2 * size * size + 2):
        take = ~taken & ((g.ply >= stop) | g.terminal)
        if take.any():
            o, m = g.observation(inputs), g.legal_mask()
            obs[take], mask[take], taken[take] = o[take], m[take], True
        if taken.all():
            break
        m = g.legal_mask()
        action = np.where(m.any(1), np.argmax(rng.random(m.shape) * m, axis=1), -1)
        g.step_where(~g.terminal, action)
    return obs, mask


# -- the backends ------------------------------------------------------------------------------------

class TorchRunner:
    """Eager or compiled PyTorch, fp32 or under bf16 autocast, on ``device``. The net is updated in place
    by its owner; a compiled graph reads the new weights without recompiling."""

    def __init__(self, net, device="cpu", compile=False, bf16=False):
        self.net, self.device, self.bf16 = net.to(device).eval(), torch.device(device), bf16
        self.fn = torch.compile(self.net, dynamic=True) if compile else self.net

    def refresh(self, calibration):
        pass

    def __call__(self, obs):
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            logits, value = self.fn(torch.from_numpy(obs).to(self.device))
        return logits.float().cpu().numpy(), value.float().reshape(-1).cpu().numpy()


class OnnxRunner:
    """The net exported to ONNX and run by ONNX Runtime on CPU with torch's thread count; ``int8``: static
    QDQ quantisation calibrated on the positions given to :meth:`refresh` (re-exported each time, so it
    always runs the net's current weights)."""

    def __init__(self, net, device="cpu", int8=False):
        # On CPU whatever ``device`` says (this ONNX Runtime has no CUDA provider): a net on the GPU is
        # exported from a CPU copy.
        import onnxruntime  # here: the other backends run without it

        self.ort, self.net, self.int8, self.session = onnxruntime, net, int8, None

    def refresh(self, calibration):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "net.onnx")
            x = torch.from_numpy(calibration[:1])
            net = self.net if next(self.net.parameters()).device.type == "cpu" else copy.deepcopy(self.net).cpu()
            with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation each time
                warnings.simplefilter("ignore")
                torch.onnx.export(net.eval(), x, path, input_names=["obs"], output_names=["logits", "value"],
                                  dynamic_axes={"obs": {0: "B"}, "logits": {0: "B"}, "value": {0: "B"}},
                                  dynamo=False)
            if self.int8:
                path = self._quantise(path, calibration, tmp)
            opts = self.ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = torch.get_num_threads(), 1
            # No spinning between calls: on a small machine the learner and the search share the cores.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            self.session = self.ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def _quantise(self, path, calibration, tmp):
        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Batches(CalibrationDataReader):
            # One batch of every calibration position: the percentile calibrator stacks its batches'
            # outputs, and batches of unequal size (96 positions: 64 and 32) cannot be stacked.
            def __init__(self):
                self.it = iter([{"obs": np.ascontiguousarray(calibration, np.float32)}])

            def get_next(self):
                return next(self.it, None)

        pre, out = os.path.join(tmp, "pre.onnx"), os.path.join(tmp, "int8.onnx")
        quant_pre_process(path, pre)  # folds batch norms into the convolutions before they are quantised
        # The residual trunk's convolutions only (nearly all the work), activations calibrated by the
        # 99.999th percentile. On a trained 8x8 b6c64 net, 512 random-game positions, top-1 agreement with
        # fp32 was 97.2% with every convolution and min-max calibration, 99.2% like this; the stem and
        # the heads' convolutions stay fp32.
        keep = [n.name for n in onnx.load(pre).graph.node
                if n.op_type == "Conv" and n.name.startswith(("/stem", "/policy", "/value"))]
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrator prints its progress
            quantize_static(pre, out, Batches(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Conv"],
                            nodes_to_exclude=keep, calibrate_method=CalibrationMethod.Percentile)
        return out

    def __call__(self, obs):
        logits, value = self.session.run(None, {"obs": np.ascontiguousarray(obs, np.float32)})
        return logits, value.reshape(-1)


def build(name, net, device="cpu"):
    """The runner of backend ``name`` for ``net`` (call ``refresh(calibration)`` before the first use)."""
    if name == "torch":
        return TorchRunner(net, device)
    if name in ("compile", "bf16"):
        return TorchRunner(net, device, compile=True, bf16=name == "bf16")
    if name in ("onnx", "onnx-int8"):
        return OnnxRunner(net, device, int8=name == "onnx-int8")
    raise ValueError(f"unknown inference backend {name!r}; choose one of {', '.join(BACKENDS)}")


def agreement(logits, value, ref_logits, ref_value, mask):
    """How one backend's outputs agree with the fp32 reference's on the same positions (``logits
    float32[K, A]``, ``value float32[K]``, ``mask bool[K, A]``; rows with no legal move are left out):
    ``top1_agreement`` over every position, ``top1_decisive`` over the ``decisive`` positions (fp32's best
    legal move leads its second by ``TIE_MARGIN`` logits or more; a lone legal move is decisive),
    ``mean_regret`` and ``max_regret`` (the fp32 probability its choices give up, on average and at worst),
    ``value_mae``, and ``agrees`` (the module docstring)."""
    rows = mask.any(1)
    z = np.where(mask, logits, -np.inf)[rows]
    ref = np.where(mask, ref_logits, -np.inf)[rows]
    mae = float(np.abs(value - ref_value).mean()) if len(value) else 0.0
    if not rows.any():
        return {"top1_agreement": 1.0, "top1_decisive": 1.0, "decisive": 0, "mean_regret": 0.0, "max_regret": 0.0,
                "value_mae": round(mae, 5), "agrees": mae <= MAX_VALUE_MAE}
    a, b = z.argmax(1), ref.argmax(1)
    top2 = np.sort(ref, axis=1)[:, -2:]
    with np.errstate(invalid="ignore"):  # a lone legal move: its lead over -inf is inf
        decisive = (top2[:, 1] - top2[:, 0]) >= TIE_MARGIN
    p = np.exp(ref - ref.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    regret = p[np.arange(len(b)), b] - p[np.arange(len(a)), a]
    top1, sure = float((a == b).mean()), float((a == b)[decisive].mean()) if decisive.any() else 1.0
    mean = float(regret.mean())
    return {"top1_agreement": round(top1, 4), "top1_decisive": round(sure, 4), "decisive": int(decisive.sum()),
            "mean_regret": round(mean, 6), "max_regret": round(float(regret.max()), 5), "value_mae": round(mae, 5),
            "agrees": sure >= MIN_TOP1 and mean <= MAX_REGRET and mae <= MAX_VALUE_MAE}


def figures(c):
    """One agreement (:func:`agreement`) in words, with the bars it is held to."""
    return (f"top-1 agreement {c['top1_agreement']:.1%} ({c['top1_decisive']:.1%} of the {c['decisive']} "
            f"decisive positions, needs >= {MIN_TOP1:.0%}), probability given up {c['mean_regret']:.5f} on "
            f"average (needs <= {MAX_REGRET}; at worst {c['max_regret']:.4f}), value MAE {c['value_mae']:.4f} "
            f"(needs <= {MAX_VALUE_MAE})")


def speed(run, obs, batch, seconds=0.25):
    """Positions per second of ``run`` at ``batch`` positions per call (the sample tiled to size)."""
    x = np.ascontiguousarray(np.resize(obs, (batch, *obs.shape[1:])), np.float32)
    run(x)  # warm-up (and compilation)
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        run(x)
        calls += 1
    return calls * batch / (time.perf_counter() - t0)


# -- the evaluator ---------------------------------------------------------------------------------

def _why(e):
    """One line for an exception: its type and the first line of its message."""
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else type(e).__name__


class NetEvaluator(Evaluator):
    """The search's evaluator for a policy/value net under an ``inference`` backend (module docstring).

    ``sample``: ``(obs float32[K, C, N, N], mask bool[K, A])`` positions to check (and calibrate) on;
    ``batch``: the batch size to time ``auto``'s candidates at (the search's games in flight). ``report``
    holds the backend in use and its agreement, plus every candidate's figures under ``auto``;
    ``backend`` names the backend in use (pass it as ``inference`` to build the same one elsewhere without
    timing); ``log(line)`` hears the choice and any fall-back. Under ``auto`` a candidate that fails to
    build is reported and left out; a named backend that cannot build, or that disagrees with fp32 on
    ``sample``, is a one-line ``ValueError``. ``strict=False`` is for an evaluator built mid-run from a
    training run's weights (a gauntlet's): a named backend that cannot run or disagrees on them falls back
    to eager torch with one log line, as at a later refresh (one that cannot build is still refused)."""

    def __init__(self, net, inference="torch", device="cpu", sample=None, batch=64, log=None, strict=True):
        self.net, self.inference, self.device = net, check_backend(inference), resolve_device(device)
        self.inputs = getattr(net, "inputs", "basic")
        self.strict = strict
        self.forward_positions = 0  # positions evaluated, search leaves included (compute accounting)
        self.log = log or (lambda line: None)
        self.reference = TorchRunner(net, self.device)
        names = AUTO_CANDIDATES[self.device] if inference == "auto" else (inference,)
        self.runners, self.failed, self.speeds = {}, {}, {}
        for name in names:
            try:
                self.runners[name] = self.reference if name == "torch" else build(name, net, self.device)
            except Exception as e:  # e.g. no C++ compiler for Inductor, no onnxruntime
                self.failed[name] = _why(e)
        if not self.runners:
            raise ValueError(f"inference backend {inference!r} cannot run here: {self.failed[inference]}")
        self.sample_batch = batch
        self.run, self.report, self.sample, self.backend = None, {}, None, None
        if sample is None:  # nothing to check on: only the reference itself may run
            if inference != "torch":
                raise ValueError(f"inference {inference!r} needs sample positions to be checked against fp32 on")
            self.run, self.backend = self.reference, "torch"
            self.report = {"inference": "torch", "device": self.device, "backend": "torch", "top1_agreement": 1.0,
                           "value_mae": 0.0, "agrees": True, "positions": 0}
            return
        self.refresh(sample)

    def refresh(self, sample=None):
        """After the net's weights changed: rebuild the backend in use and check it against fp32 on
        ``sample`` (kept from the last call when None). The first call chooses the backend (under
        ``auto``, by timing); later calls never switch, except to eager torch, for good, when the
        backend in use stops agreeing. Returns ``report``."""
        if sample is not None:
            self.sample = (np.ascontiguousarray(sample[0], np.float32), np.asarray(sample[1], bool))
        if self.sample is None:
            return self.report  # eager torch without a sample: nothing to rebuild or check
        obs, mask = self.sample
        ref = self.reference(obs)
        if self.backend is None:
            self._choose(obs, mask, ref)
        elif self.run is not self.reference:
            self._recheck(obs, mask, ref)
        else:  # eager torch is the reference itself: nothing can disagree
            self.report["positions"] = len(obs)
        return self.report

    def _check(self, runner, obs, mask, ref):
        runner.refresh(obs)  # re-export, re-calibrate: the runner now serves the net's current weights
        return agreement(*runner(obs), *ref, mask)

    def _choose(self, obs, mask, ref):
        # The first check: every candidate checked (and under ``auto`` timed), one chosen for good.
        checks = {}
        for name, runner in list(self.runners.items()):
            try:
                checks[name] = self._check(runner, obs, mask, ref)
                if self.inference == "auto" and len(self.runners) > 1:
                    self.speeds[name] = speed(runner, obs, self.sample_batch)
            except Exception as e:
                self.failed[name] = _why(e)
                del self.runners[name]
        fallback = None
        if self.inference != "auto":
            c = checks.get(self.inference, {"error": self.failed.get(self.inference), "agrees": False})
            if self.strict and "error" in c:
                raise ValueError(f"inference backend {self.inference!r} cannot run here: {c['error']}")
            if self.strict and not c["agrees"]:
                raise ValueError(f"inference {self.inference!r} on {self.device} disagrees with fp32 on {len(obs)} "
                                 f"positions: {figures(c)}; use inference=torch")
            best = self.inference if c["agrees"] else "torch"
            if not c["agrees"]:
                fallback = {"backend": self.inference, **{k: v for k, v in c.items() if k != "agrees"}}
        else:
            # Eager torch is the reference, so it always agrees: there is always a choice.
            agreeing = [n for n in checks if checks[n]["agrees"]]
            best = max(agreeing or ["torch"], key=lambda n: self.speeds.get(n, 0.0))
        checks.setdefault("torch", agreement(*ref, *ref, mask))
        # The others are never run again: their sessions and compiled graphs go.
        self.runners = {best: self.runners.get(best, self.reference)}
        self.run, self.backend = self.runners[best], best
        self.report = {"inference": self.inference, "device": self.device, "backend": best, **checks[best],
                       "positions": len(obs)}
        if self.inference == "auto":
            self.report["candidates"] = {n: {**c, "positions_per_s": round(self.speeds.get(n, 0.0))}
                                         for n, c in checks.items()}
        if fallback:
            self.report["fallback"] = fallback
        if self.failed:
            self.report["failed"] = dict(self.failed)
        self.log(self.describe())

    def _recheck(self, obs, mask, ref):
        name = self.backend
        try:
            c = self._check(self.run, obs, mask, ref)
        except Exception as e:
            c = {"error": _why(e), "agrees": False}
        if c["agrees"]:
            self.report.update(**c, positions=len(obs))
            return
        # New weights the backend no longer runs faithfully (int8 ranges, a failed export): its fp32
        # sibling (int8's is ONNX fp32, which has no ranges to calibrate) or eager torch from here on, rather
        # than a run that stops hours in or that switches to and fro.
        fallback = {"backend": name, **{k: v for k, v in c.items() if k != "agrees"}}
        alt = FALLBACK.get(name)
        if alt is not None:
            try:
                runner = build(alt, self.net, self.device)
                c = self._check(runner, obs, mask, ref)
                if c["agrees"]:
                    self.run, self.backend, self.runners = runner, alt, {alt: runner}
                    self.report.update(backend=alt, **c, positions=len(obs), fallback=fallback)
                    self.log(self.describe())
                    return
            except Exception:  # no ONNX Runtime after all: eager torch below
                pass
        self.run, self.backend, self.runners = self.reference, "torch", {"torch": self.reference}
        self.report.update(backend="torch", **agreement(*ref, *ref, mask), positions=len(obs), fallback=fallback)
        self.log(self.describe())

    def describe(self):
        """One line: the backend in use and how it agrees with fp32 (and what it fell back from)."""
        r = self.report
        line = (f"inference {r['inference']} on {r['device']}: {r['backend']} (top-1 agreement "
                f"{r['top1_agreement']:.1%}, value MAE {r['value_mae']:.4f} on {r['positions']} positions)")
        if "fallback" in r:
            f = r["fallback"]
            line += (f"; {f['backend']} fell back to it for good: "
                     + (f"it failed ({f['error']})" if "error" in f else f"it disagrees with fp32 ({figures(f)})"))
        if "candidates" in r:
            line += "; candidates " + ", ".join(
                f"{n} {c['positions_per_s']}/s" + ("" if c.get("agrees") else f" (disagrees: {figures(c)})")
                for n, c in r["candidates"].items())
        for n, why in r.get("failed", {}).items():
            line += f"; {n} unavailable ({why})"
        return line

    def evaluate(self, obs, mask, leaves):
        logits, value = self.run(np.ascontiguousarray(obs, np.float32))
        self.forward_positions += len(obs)
        z = np.where(mask, logits, -np.inf)
        with np.errstate(invalid="ignore"):  # rows without a legal move (finished games) become zeros
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z, dtype=np.float32)
            p /= p.sum(axis=1, keepdims=True)
        return np.nan_to_num(p), value.astype(np.float32)
