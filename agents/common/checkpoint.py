"""The one checkpoint format of every trainer (``arena train``, ``pretrain``, ``finetune``): where the files
go, how they are written, how they are read, and the compute they record.

    RUN/checkpoints/step_XXXXXXXX.pt     zero-padded, so that name order is step order; written atomically

A checkpoint is a ``torch.save`` archive of plain containers only (dicts, lists, strings, numbers,
tensors), read back with ``torch.load(weights_only=True)``, whose unpickler rebuilds nothing but those:

    format      "selfplay-arena-checkpoint"          version   2
    kind        "alphazero" | "gpt"                   trainer   "train" | "pretrain" | "finetune"
    step        int, the trainer's step               config    the trainer's config as a dict
    model       the model's constructor arguments     weights   the state dict (tensors)
    optimizer   the optimizer's state dict            rng       {"numpy": bit generator state, "torch": uint8 tensor}
    compute     COMPUTE below, every key filled       meta      trainer extras (tokenizer, init, ...)
    state       what else a resume needs to go on exactly (e.g. the frozen opponent's weights); optional,
                left out of exported model files

A model file can therefore never run code when it is loaded: a file with a pickled object in it (a
``__reduce__`` payload, or a layout written before version 2, which pickled configs freely) is refused
with one line, and nothing in it runs. ``arena convert-checkpoint`` (``agents.common.convert``) turns
trusted files of the earlier layout into this one.
"""

import os
import pickle
import zipfile

import torch

FORMAT = "selfplay-arena-checkpoint"
VERSION = 2
KINDS = ("alphazero", "gpt")
TRAINERS = ("train", "pretrain", "finetune")

COMPUTE = {
    "seconds": "wall-clock seconds of training, resumes summed, evaluations included",
    "reward_events": "game outcomes the learner learned from (self-play or RL games; 0 for pretraining)",
    "games": "games the trainer played to make its data (0 for pretraining, which reads a dataset)",
    "positions": "positions of those games",
    "trained": "samples the learner trained on: positions (AlphaZero) or tokens (the GPT)",
    "trained_unit": "'positions' or 'tokens'",
    "forward_passes": "positions the network evaluated: search leaves, play, and every trained sample",
    "flops": "forward passes and backward passes in FLOPs (a backward pass costs about two forward passes)",
}
CONVERT_HINT = "if you trust the file, convert it with: arena convert-checkpoint FILE OUT.pt (it unpickles)"


def compute_record(**values):
    """A ``compute`` dict with exactly the keys of :data:`COMPUTE` (a missing or unknown key is a bug)."""
    if set(values) != set(COMPUTE):
        raise KeyError(f"compute needs exactly {sorted(COMPUTE)}; got {sorted(values)}")
    return {k: values[k] for k in COMPUTE}


def zero_compute(unit):
    """The compute of a trainer that has not trained yet; ``unit``: ``"positions"`` or ``"tokens"``."""
    return {**{k: 0 for k in COMPUTE}, "seconds": 0.0, "trained_unit": unit}


def total_compute(ck):
    """The compute behind a loaded checkpoint's weights: its own ``compute`` plus the compute of the file its
    run warm-started from, where the trainer records it (``meta.init.compute``: ``arena pretrain``'s and
    ``arena train``'s ``init``, which record that file's own total, so a chain of continuations adds up). Elsewhere the
    checkpoint's own: an RL run's start is counted by whoever knows the start (``arena study``)."""
    own = ck["compute"]
    init = (ck.get("meta") or {}).get("init")
    before = init.get("compute") if isinstance(init, dict) else None
    if not before:
        return dict(own)
    return {k: v if k == "trained_unit" else v + before.get(k, 0) for k, v in own.items()}


# -- where they are ---------------------------------------------------------------------------------------

def _files(d):
    """The checkpoint file names in directory ``d``, oldest first (none when ``d`` is not a directory)."""
    return sorted(f for f in os.listdir(d) if f.endswith(".pt")) if os.path.isdir(d) else []


def _newest(d):
    files = _files(d)
    return os.path.join(d, files[-1]) if files else None


def latest(run_dir):
    """The newest checkpoint in ``run_dir/checkpoints``, or None."""
    return _newest(os.path.join(run_dir, "checkpoints"))


def prune(ckpt_dir, keep):
    """Remove all but the ``keep`` newest checkpoints in ``ckpt_dir``; ``keep = 0`` keeps every one."""
    for f in _files(ckpt_dir)[:-keep] if keep else []:
        os.remove(os.path.join(ckpt_dir, f))


def resolve(path):
    """A checkpoint file from ``path``: the file itself, or the newest checkpoint of a run directory (or
    of a ``checkpoints`` directory). One-line ``ValueError`` when there is none."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    found = latest(path) or _newest(path)  # a run directory, or perhaps the checkpoints directory itself
    if found is None:
        raise ValueError(f"{path} is a directory with no checkpoints (no checkpoints/step_*.pt in it)")
    return found


# -- writing ----------------------------------------------------------------------------------------------

def rng_state(np_rng):
    """The RNG states a resume restores: numpy's bit generator (a dict of ints) and torch's (a tensor)."""
    return {"numpy": np_rng.bit_generator.state, "torch": torch.get_rng_state()}


def restore_rng(np_rng, state):
    np_rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])


def write(path, *, step, kind, trainer, config, model, weights, optimizer, rng, compute, meta=None, state=None):
    """Write one checkpoint to ``path`` atomically (temporary file, then rename). ``config``, ``model``,
    ``meta`` and ``state`` must be plain containers (a tuple or an object would not read back)."""
    if kind not in KINDS or trainer not in TRAINERS:
        raise ValueError(f"unknown checkpoint kind {kind!r} or trainer {trainer!r}")
    payload = {"format": FORMAT, "version": VERSION, "kind": kind, "trainer": trainer, "step": int(step),
               "config": config, "model": model, "weights": weights, "optimizer": optimizer, "rng": rng,
               "compute": compute_record(**compute), "meta": meta or {}, "state": state or {}}
    torch.save(payload, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


def save(run_dir, step, keep=0, **fields):
    """Write ``RUN/checkpoints/step_XXXXXXXX.pt`` (:func:`write`'s fields) and keep the ``keep`` newest
    (0: all); returns the path."""
    d = os.path.join(run_dir, "checkpoints")
    os.makedirs(d, exist_ok=True)
    path = write(os.path.join(d, f"step_{int(step):08d}.pt"), step=step, **fields)
    prune(d, keep)
    return path


# -- reading ----------------------------------------------------------------------------------------------

def load(path, kind=None, map_location="cpu"):
    """The checkpoint at ``path`` (a file, or a run directory: its newest) as a dict, read without
    unpickling any object, with ``path`` set to the file it was read from. ``kind``: ``"alphazero"`` or ``"gpt"`` to insist on. Anything else (missing,
    empty, truncated, not a checkpoint, a pickle payload, the earlier layout, the wrong kind) is a
    ``ValueError`` of one line naming the file."""
    path = resolve(path)
    if not os.path.exists(path):
        raise ValueError(f"no checkpoint at {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty, not a checkpoint")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a checkpoint (not a PyTorch archive; truncated, or another kind of file)")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: refused: it holds pickled Python objects, which a model file must never "
                         f"contain; nothing in it was run ({CONVERT_HINT})") from None
    except Exception as e:  # a damaged archive: torch's own message is several lines of internals
        raise ValueError(f"{path} is truncated or corrupt ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(f"{path} is not a selfplay-arena checkpoint of version {VERSION} (written by an older "
                         f"version, or by something else); {CONVERT_HINT}")
    if ck.get("version") != VERSION:
        raise ValueError(f"{path} is checkpoint version {ck.get('version')!r}; this selfplay-arena reads {VERSION}")
    if kind is not None and ck["kind"] != kind:
        want = {"alphazero": "an AlphaZero net (arena train)", "gpt": "a GPT (arena pretrain or finetune)"}[kind]
        raise ValueError(f"{path} holds a {ck['kind']} checkpoint, not {want}")
    ck["path"] = path
    ck.setdefault("state", {})  # files written before the slot existed
    return ck
