"""Checkpoint load time of the format we chose (a ``torch.save`` archive read with
``torch.load(weights_only=True)``, agents.common.checkpoint) against the other safe choice, safetensors
for the tensors plus a JSON sidecar for the rest, measured in the same run (safetensors when installed:
``pip install safetensors``), for an AlphaZero net and a GPT, each with its optimizer state.

Prints one JSON object: per model, the file size and the best loads/s of each format over ``--seconds``;
``ratio_ours_vs_safetensors`` divides the first by the second (below 1: ours is slower).

    python -m benchmarks.checkpoint_load [--seconds 2]   (also: arena bench checkpoint)
"""

import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict

import numpy as np
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.train import save_checkpoint
from agents.common import checkpoint
from agents.seq.gpt import GPT, GPTConfig
from agents.seq.pretrain import PretrainConfig
from agents.common.tokenizer import Tokenizer
from benchmarks import standalone
from benchmarks.env_throughput import best_rate


def files(d):
    """An 8x8 b6c64 AlphaZero checkpoint and a ``small`` GPT checkpoint, with optimizer state."""
    cfg = TrainConfig(game="othello", size=8, network="b6c64")
    net = new_net(cfg)
    opt = torch.optim.AdamW(net.parameters())
    net(torch.zeros(2, 3, 8, 8))[1].sum().backward()
    opt.step()  # fills the optimizer's state, as a real checkpoint holds it
    az = save_checkpoint(os.path.join(d, "az"), net, opt, 1, cfg, np.random.default_rng(0))
    tok = Tokenizer("othello", 8)
    model = GPT(GPTConfig.preset("small", tok.vocab_size, tok.max_len))
    gopt = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    gopt.step()
    gpt = checkpoint.save(os.path.join(d, "gpt"), 1, kind="gpt", trainer="pretrain", config=asdict(PretrainConfig()),
                          model=model.cfg.to_dict(), weights=model.state_dict(), optimizer=gopt.state_dict(),
                          rng=checkpoint.rng_state(np.random.default_rng(0)), compute=checkpoint.zero_compute("tokens"),
                          meta={"tokenizer": tok.describe()})
    return {"alphazero_b6c64_8x8": az, "gpt_small_8x8": gpt}


def to_safetensors(ck, path):
    """The checkpoint's tensors in a safetensors file, everything else in ``path.json``."""
    from safetensors.torch import save_file

    tensors, rest = {}, {}

    def split(obj, key):
        if isinstance(obj, torch.Tensor):
            tensors[key] = obj.clone().contiguous()  # tied weights: safetensors stores no shared memory
            return {"__tensor__": key}
        if isinstance(obj, dict):
            return {str(k): split(v, f"{key}.{k}") for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [split(v, f"{key}.{i}") for i, v in enumerate(obj)]
        return obj

    rest = split(ck, "ck")
    save_file(tensors, path)
    with open(path + ".json", "w") as f:
        json.dump(rest, f)


def load_safetensors(path):
    from safetensors.torch import load_file

    tensors = load_file(path)
    with open(path + ".json") as f:
        rest = json.load(f)

    def join(obj):
        if isinstance(obj, dict):
            return tensors[obj["__tensor__"]] if set(obj) == {"__tensor__"} else {k: join(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [join(v) for v in obj]
        return obj

    return join(rest)


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench checkpoint``'s."""
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")


def run(args):
    """Measure, print the JSON object and return it."""
    torch.set_num_threads(1)
    out = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__, "threads": 1}
    with tempfile.TemporaryDirectory() as d:
        for name, path in files(d).items():
            ours = best_rate(lambda: (checkpoint.load(path), 1)[1], args.seconds)
            row = {"bytes": os.path.getsize(path), "ours_loads_per_s": round(ours, 1), "ours_ms": round(1000 / ours, 2)}
            try:
                import safetensors  # noqa: F401  (optional: the comparison is skipped without it)

                st = path + ".safetensors"
                to_safetensors(checkpoint.load(path), st)
                rate = best_rate(lambda: (load_safetensors(st), 1)[1], args.seconds)
                row.update(safetensors_bytes=os.path.getsize(st) + os.path.getsize(st + ".json"),
                           safetensors_loads_per_s=round(rate, 1), ratio_ours_vs_safetensors=round(ours / rate, 3))
            except ImportError:
                row["safetensors"] = "not installed (pip install safetensors)"
            out[name] = row
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
