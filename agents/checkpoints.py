"""A run directory's checkpoint files, the one layout every trainer (``train``, ``pretrain``, ``finetune``)
writes: ``RUN/checkpoints/step_XXXXXXXX.pt``, each written atomically, zero-padded so that name order is
step order."""

import os


def latest(run_dir):
    """The newest checkpoint in ``run_dir/checkpoints``, or None."""
    d = os.path.join(run_dir, "checkpoints")
    files = sorted(f for f in os.listdir(d) if f.endswith(".pt")) if os.path.isdir(d) else []
    return os.path.join(d, files[-1]) if files else None


def prune(ckpt_dir, keep):
    """Remove all but the ``keep`` newest checkpoints in ``ckpt_dir``; ``keep = 0`` keeps every one."""
    files = sorted(f for f in os.listdir(ckpt_dir) if f.endswith(".pt"))
    for f in files[:-keep] if keep else []:
        os.remove(os.path.join(ckpt_dir, f))
