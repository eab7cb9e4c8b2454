"""A trained GPT back from its checkpoint (read safely by agents.common.checkpoint), with the tokenizer
it was trained with.

    model, ck = load_gpt("runs/seq_othello8")      # a checkpoint file, or a run directory: its newest
    tok = checkpoint_tokenizer(ck)
"""

from agents.common import checkpoint
from agents.common.tokenizer import Tokenizer
from agents.seq.gpt import GPT, GPTConfig


def load_gpt(path, device="cpu"):
    """``(model, checkpoint)`` from a pretraining or fine-tuning checkpoint; one-line errors."""
    ck = checkpoint.load(path, kind="gpt")  # on CPU: a resume restores torch's RNG from it, a CPU tensor
    try:
        model = GPT(GPTConfig(**ck["model"]))
        model.load_state_dict(ck["weights"])
    except (TypeError, KeyError, RuntimeError, ValueError) as e:
        raise ValueError(f"{ck['path']}: the weights do not fit the GPT its config names "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    return model.to(device), ck


def checkpoint_tokenizer(ck):
    """The tokenizer a GPT checkpoint was trained with (its ``meta["tokenizer"]``)."""
    desc = ck["meta"]["tokenizer"]
    return Tokenizer(desc["game"], desc["size"], permutation=desc.get("permutation"))


def checkpoint_data(ck):
    """The transcript dataset a GPT checkpoint learned from (a fine-tuned one: its start's), or None."""
    return ck["config"].get("data") if ck["trainer"] == "pretrain" else ck["meta"]["init"].get("data")
