"""A GPT for move sequences, readable top to bottom: token and learned position embeddings,
pre-LayerNorm blocks (causal self-attention, MLP), a final LayerNorm and an output layer tied to
the token embedding.

    model = GPT(GPTConfig.preset("tiny", vocab_size=62, block_size=61))
    logits = model(ids)                  # ids int64[B, T] -> logits float32[B, T, V]
    logits, resid = model(ids, return_residuals=True)   # resid: [layers + 1] tensors [B, T, d_model]

Presets: ``tiny`` for tests (2 layers, d 64), ``compact`` (6 layers, d 128) and ``small`` (4 layers,
d 256) for about an hour on a CPU,
``othello_gpt`` for a lent GPU (Othello-GPT's 8 layers, 8 heads, d 512).
"""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

PRESETS = {
    "tiny": {"n_layer": 2, "n_head": 2, "d_model": 64},
    "compact": {"n_layer": 6, "n_head": 4, "d_model": 128},
    "small": {"n_layer": 4, "n_head": 4, "d_model": 256},
    "othello_gpt": {"n_layer": 8, "n_head": 8, "d_model": 512},
}


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    """Token ids (agents.common.tokenizer: PAD, BOS, the squares, Go's PASS)."""
    block_size: int
    """Longest sequence, BOS included."""
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    dropout: float = 0.0
    """Dropout on attention, residual and embedding outputs (Othello-GPT used 0.1)."""

    @classmethod
    def preset(cls, name, vocab_size, block_size, dropout=0.0):
        if name not in PRESETS:
            raise ValueError(f"unknown GPT preset {name!r}; known: {', '.join(PRESETS)}")
        return cls(vocab_size=vocab_size, block_size=block_size, dropout=dropout, **PRESETS[name])

    def to_dict(self):
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by n_head {cfg.n_head}")
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # [B, T, C] -> [B, heads, T, C / heads]
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))

    def step(self, x, K, V, idx, pos, every):
        """One new token for each of n games. ``x: float[n, C]`` (normalised), written at position
        ``pos: int64[n]`` of games ``idx: int64[n]`` in this layer's cache ``K, V: float[B, heads, T, C / heads]``;
        attends to that game's positions ``<= pos``. ``every``: idx is ``0..B-1`` in order, so the cache is
        read as a view. Returns ``float[n, C]``."""
        n, C = x.shape
        H = self.n_head
        q, k, v = (t.view(n, H, 1, C // H) for t in self.qkv(x).split(C, dim=1))
        K[idx, :, pos] = k[:, :, 0]
        V[idx, :, pos] = v[:, :, 0]
        T = int(pos.max()) + 1  # read only the positions written so far
        if every:
            keys, vals = K[:, :, :T], V[:, :, :T]  # a view, no copy
        else:
            keys, vals = K[idx, :, :T], V[idx, :, :T]
        seen = torch.arange(T, device=x.device)[None, :] <= pos[:, None]  # [n, T]
        y = F.scaled_dot_product_attention(q, keys, vals, attn_mask=seen[:, None, None, :])
        return self.proj(y.reshape(n, C))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model), nn.Dropout(cfg.dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))  # pre-LayerNorm: the residual stream itself is never normalised
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids, return_residuals=False):
        B, T = ids.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.cfg.block_size}")
        x = self.drop(self.tok(ids) + self.pos(torch.arange(T, device=ids.device)))
        resid = [x]
        for blk in self.blocks:
            x = blk(x)
            resid.append(x)
        logits = self.head(self.ln_f(x))
        return (logits, resid) if return_residuals else logits

    def new_cache(self, batch):
        """A key/value cache for incremental decoding of ``batch`` sequences: ``{"k", "v": float[layers,
        batch, heads, block_size, d_model / heads], "length": int64[batch]}``."""
        c = self.cfg
        p = self.tok.weight
        shape = (c.n_layer, batch, c.n_head, c.block_size, c.d_model // c.n_head)
        return {"k": p.new_zeros(shape), "v": p.new_zeros(shape),
                "length": torch.zeros(batch, dtype=torch.long, device=p.device)}

    @torch.no_grad()
    def decode(self, cache, idx, ids):
        """Append token ``ids: int64[n]`` to sequences ``idx: int64[n]`` of ``cache`` (:meth:`new_cache`);
        returns the logits after it, ``float[n, vocab]``. Equal to ``forward`` on the whole sequence at its
        last position, at the cost of one token (eval mode: no dropout)."""
        pos = cache["length"][idx]
        if int(pos.max()) >= self.cfg.block_size:
            raise ValueError(f"sequence longer than block_size {self.cfg.block_size}")
        x = self.tok(ids) + self.pos(pos)
        n = len(idx)
        every = n == len(cache["length"]) and bool((idx == torch.arange(n, device=idx.device)).all())
        for layer, blk in enumerate(self.blocks):
            x = x + blk.attn.step(blk.ln1(x), cache["k"][layer], cache["v"][layer], idx, pos, every)
            x = x + blk.mlp(blk.ln2(x))
        cache["length"][idx] += 1
        return self.head(self.ln_f(x))

    def num_params(self):
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once

    def flops_per_token(self):
        """Forward FLOPs per token, about 2 * parameters + attention (Kaplan et al.'s estimate)."""
        c = self.cfg
        return 2 * self.num_params() + 2 * c.n_layer * c.block_size * c.d_model
