"""``arena convert-checkpoint``: turn a checkpoint of the layout written before checkpoint version 2 (a
pickle of free Python objects) into the safe format of agents.common.checkpoint.

    arena convert-checkpoint OLD.pt NEW.pt

UNSAFE BY NATURE: reading the old layout means unpickling it, and unpickling a file can run any code
the file's author put in it. This is the one place in selfplay-arena that does so, and only when a
person asks for it by name: use it only on files you made yourself or otherwise trust. The new file
loads without unpickling anything, so it is safe to share.

The three earlier layouts (all with ``weights``, ``optimizer``, ``step``, ``config``):
    arena train      ``net_args``, ``samples``, ``compute`` {reward_events, positions, forward_positions
                     (search only), samples_trained, seconds, flops}, ``rng``, ``torch_rng``
    arena pretrain   ``kind: gpt``, ``gpt``, ``stats`` {tokens, games, seconds}, ``tokenizer``, ``rng``, ``torch_rng``
    arena finetune   ``kind: gpt``, ``gpt``, ``counts`` {games, forward_positions, tokens_trained,
                     reward_events, seconds}, ``tokenizer``, ``init``, ``rng`` (no torch state)
"""

import json
import os

import torch

from agents.common import checkpoint


def _plain(x):
    """Configs back to plain containers (tuples became lists on the way to JSON anyway)."""
    return json.loads(json.dumps(x))


def gpt_flops_per_token(gpt, weights):
    """Forward FLOPs per token of a GPT with constructor arguments ``gpt`` and state dict ``weights``:
    agents.seq.gpt's ``GPT.flops_per_token`` (2 * parameters + attention), read off the checkpoint because
    this module sits below the sequence model. The output layer is tied to the token embedding, so its
    weight is counted once (the GPT has no buffers: every other entry is a parameter)."""
    params = sum(w.numel() for k, w in weights.items() if k != "head.weight")
    return 2 * params + 2 * gpt["n_layer"] * gpt["block_size"] * gpt["d_model"]


def convert(src, dst):
    """Read ``src`` (old layout, unpickled: trusted files only) and write ``dst`` in the safe format;
    returns a one-line description."""
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("give the converted file another name than the original")
    if os.path.exists(dst):
        raise ValueError(f"{dst} exists; choose another output name")
    try:
        ck = torch.load(src, map_location="cpu", weights_only=False)  # the one unpickling load: see the docstring
    except FileNotFoundError:
        raise ValueError(f"no file at {src}") from None
    except Exception as e:
        raise ValueError(f"cannot read {src}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(ck, dict) or "weights" not in ck or "config" not in ck:
        raise ValueError(f"{src} is not a selfplay-arena checkpoint of the earlier layout")
    if ck.get("format") == checkpoint.FORMAT:
        raise ValueError(f"{src} is already in the current format")
    torch_rng = ck.get("torch_rng", torch.get_rng_state())
    common = {"step": ck["step"], "weights": ck["weights"], "optimizer": ck["optimizer"],
              "rng": {"numpy": ck["rng"], "torch": torch_rng}}
    if "net_args" in ck:  # arena train
        c = ck.get("compute", {})
        trained = c.get("samples_trained", ck.get("samples", 0))
        fwd = c.get("forward_positions", 0) + trained
        compute = {"seconds": c.get("seconds", 0.0), "reward_events": c.get("reward_events", 0),
                   "games": c.get("reward_events", 0), "positions": c.get("positions", 0), "trained": trained,
                   "trained_unit": "positions", "forward_passes": fwd, "flops": c.get("flops", 0)}
        payload = dict(kind="alphazero", trainer="train", config=_plain(ck["config"]), model=_plain(ck["net_args"]),
                       compute=compute, meta={})
    elif ck.get("kind") == "gpt":
        fpt = gpt_flops_per_token(ck["gpt"], ck["weights"])
        tokenizer = ck.get("tokenizer")
        if tokenizer is None and ck["config"].get("data"):  # early pretraining runs kept it in the dataset
            with open(os.path.join(ck["config"]["data"], "manifest.json")) as f:
                tokenizer = json.load(f)["tokenizer"]
        if "counts" in ck:  # arena finetune
            n = ck["counts"]
            counts = {"games": n["games"], "positions": n.get("positions", 0), "forward_positions": n["forward_positions"],
                      "tokens_trained": n["tokens_trained"], "reward_events": n["reward_events"], "seconds": n["seconds"]}
            compute = {"seconds": n["seconds"], "reward_events": n["reward_events"], "games": n["games"],
                       "positions": counts["positions"], "trained": n["tokens_trained"], "trained_unit": "tokens",
                       "forward_passes": n["forward_positions"],
                       "flops": int(fpt * (n["forward_positions"] + 2 * n["tokens_trained"]))}
            config = {k: v for k, v in _plain(ck["config"]).items() if k != "data"}
            payload = dict(kind="gpt", trainer="finetune", config=config, model=_plain(ck["gpt"]), compute=compute,
                           meta={"tokenizer": _plain(tokenizer),
                                 "init": {**_plain(ck.get("init", {})), "data": ck["config"].get("data")},
                                 "counts": counts})
        else:  # arena pretrain
            s = ck["stats"]
            compute = {"seconds": s["seconds"], "reward_events": 0, "games": 0, "positions": 0, "trained": s["tokens"],
                       "trained_unit": "tokens", "forward_passes": s["tokens"], "flops": int(3 * fpt * s["tokens"])}
            payload = dict(kind="gpt", trainer="pretrain", config=_plain(ck["config"]), model=_plain(ck["gpt"]),
                           compute=compute, meta={"tokenizer": _plain(tokenizer), "games_read": s["games"]})
    else:
        raise ValueError(f"{src} is not a selfplay-arena checkpoint of the earlier layout")
    checkpoint.write(dst, **common, **payload)
    checkpoint.load(dst)  # proves the result reads back safely
    return f"converted {src} ({payload['trainer']}, step {ck['step']}) to {dst}"
