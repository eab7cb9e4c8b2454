"""The ``device`` option every trainer and player takes: ``auto``, ``cpu`` or ``cuda``.

    resolve("auto")  -> "cuda" when PyTorch sees a GPU, else "cpu"
    resolve("cuda")  -> "cuda", or a one-line ValueError on a machine without one
"""

DEVICES = ("auto", "cpu", "cuda")


def resolve(device):
    import torch  # here: the config modules that list DEVICES load without torch

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but PyTorch sees no GPU (torch.cuda.is_available() is "
                         f"False; this torch is {torch.__version__}); use device: cpu or auto")
    return device
