"""The policy/value ResNet (AlphaZero's shape) used as the search's network evaluator.

    net = PolicyValueNet(in_planes=3, size=8, blocks=6, channels=64)   # or from_preset("b6c64", 3, 8)
    logits, value = net(obs)      # obs float32[B, C, N, N] -> logits [B, N*N+1], value [B] in [-1, 1]

Input planes are the environments' side-to-move-relative observations (``inputs``: the set the net
reads, envs.core: ``basic`` or Go's ``features``); the policy head covers every board point plus pass;
masking of illegal actions is the evaluator's job (agents.search.evaluators). ``gpool``: every third
residual block is a global-pooling block (KataGo, Wu 2019, arXiv:1902.10565, section 3.4), which lets
whole-board facts (who is ahead, where a fight is) reach every point within one block.
"""

import numpy as np
import torch
from torch import nn

from envs.core import make_batch

PRESETS = {"b4c64": (4, 64), "b6c64": (6, 64), "b6c96": (6, 96), "b10c128": (10, 128)}


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class GlobalPoolBlock(ResBlock):
    """A residual block whose first convolution also feeds ``g`` pooled channels: their board mean and
    maximum, through a linear layer, become a per-channel bias of the block's middle (KataGo's global
    pooling bias). Shapes as ResBlock: ``(B, c, N, N) -> (B, c, N, N)``."""

    def __init__(self, c, g=16):
        super().__init__(c)
        self.gconv = nn.Conv2d(c, g, 3, padding=1, bias=False)
        self.gbn = nn.BatchNorm2d(g)
        self.glin = nn.Linear(2 * g, c)

    def forward(self, x):
        g = torch.relu(self.gbn(self.gconv(x)))  # (B, g, N, N)
        # Global pools (not mean/amax over a flattened axis): ONNX Runtime's shape inference, which int8
        # quantisation runs first, cannot follow ReduceMax's shapes into the concatenation.
        pooled = torch.cat([nn.functional.adaptive_avg_pool2d(g, 1), nn.functional.adaptive_max_pool2d(g, 1)], 1)
        bias = self.glin(pooled.flatten(1))  # (B, c)
        h = torch.relu(self.bn1(self.conv1(x)) + bias[:, :, None, None])
        return torch.relu(x + self.bn2(self.conv2(h)))


def square_permutation(size, seed):
    """``int64[size * size]``: the fixed reshuffle of the board squares that ``permute_squares=seed`` uses."""
    return torch.from_numpy(np.random.default_rng([seed, 0x5C7]).permutation(size * size))


class PolicyValueNet(nn.Module):
    def __init__(self, in_planes, size, blocks=6, channels=64, permute_squares=-1, aux=False, inputs="basic",
                 gpool=False):
        super().__init__()
        self.args = dict(in_planes=in_planes, size=size, blocks=blocks, channels=channels,
                         permute_squares=permute_squares)
        # Each only when not the default, so that the nets written before it existed load unchanged.
        if aux:
            self.args["aux"] = True
        if inputs != "basic":
            self.args["inputs"] = inputs
        if gpool:
            self.args["gpool"] = True
        self.inputs = inputs
        # The study's control: with a seed, the input planes' squares are reshuffled by a fixed permutation
        # before the first convolution, so 3x3 neighbourhoods no longer are board neighbourhoods. The
        # policy still indexes actions canonically; its linear layer can learn any order.
        self.register_buffer("perm", square_permutation(size, permute_squares) if permute_squares >= 0 else None,
                             persistent=False)
        n2 = size * size
        self.stem = nn.Sequential(nn.Conv2d(in_planes, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.trunk = nn.Sequential(*[GlobalPoolBlock(channels) if gpool and i % 3 == 2 else ResBlock(channels)
                                     for i in range(blocks)])
        self.policy = nn.Sequential(nn.Conv2d(channels, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                                    nn.Flatten(), nn.Linear(2 * n2, n2 + 1))
        self.value = nn.Sequential(nn.Conv2d(channels, 1, 1, bias=False), nn.BatchNorm2d(1), nn.ReLU(),
                                   nn.Flatten(), nn.Linear(n2, 64), nn.ReLU(), nn.Linear(64, 1), nn.Tanh())
        if aux:
            # KataGo's auxiliary targets, many bits per game instead of one outcome: the final owner of
            # every point, and the final score margin, both from the side to move.
            self.ownership = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Tanh())
            self.score = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1))

    def features(self, x):
        if self.perm is not None:
            B, C, N, _ = x.shape
            x = x.flatten(2)[:, :, self.perm].reshape(B, C, N, N)
        return self.trunk(self.stem(x))  # (B, C, N, N)

    def forward(self, x):
        h = self.features(x)
        return self.policy(h), self.value(h).squeeze(1)  # (B, A), (B,)

    def forward_aux(self, x):
        """``(logits [B, A], value [B], ownership [B, N, N] in [-1, 1], score [B])``: the auxiliary heads
        too (a net built with ``aux=True``); the score is the margin divided by the number of points."""
        h = self.features(x)
        return self.policy(h), self.value(h).squeeze(1), self.ownership(h).squeeze(1), self.score(h).squeeze(1)


def from_preset(name, in_planes, size, permute_squares=-1, aux=False, inputs="basic", gpool=False):
    """A network of a named size (``b6c64``: 6 residual blocks of 64 channels); the rest: see
    PolicyValueNet."""
    if name not in PRESETS:
        raise ValueError(f"unknown network preset {name!r}; choose one of {sorted(PRESETS)}")
    blocks, channels = PRESETS[name]
    return PolicyValueNet(in_planes, size, blocks, channels, permute_squares, aux, inputs, gpool)


def new_net(cfg):
    """The untrained network a ``TrainConfig`` names (its game's input planes for ``inputs``, size,
    preset, ``permute_squares``, global pooling, and the auxiliary heads when their loss weights are on)."""
    shape = make_batch(cfg.game, 1, cfg.size, **cfg.game_kwargs()).input_shape(cfg.inputs)
    return from_preset(cfg.network, shape[0], cfg.size, cfg.permute_squares, cfg.aux(), cfg.inputs, cfg.gpool)


def forward_flops(net):
    """Multiply-adds x 2 of one position's forward pass through ``net`` (convolutions and linear layers;
    normalisations and activations are left out as small)."""
    n2 = net.args["size"] ** 2
    total = 0
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            total += 2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] * n2 // m.groups
        elif isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features
    return total
