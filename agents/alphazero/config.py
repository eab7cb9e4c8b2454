"""The one config of ``arena train`` (AlphaZero on Ray). Loaded from YAML (``configs/*_az.yaml``),
overridable with ``--set key=value``, printed at start, written to the run directory and saved in
every checkpoint. The self-play search's settings are built from it in one place, :meth:`TrainConfig.search`."""

import dataclasses
import math
from dataclasses import dataclass

from agents.alphazero.inference import CHOICES
from agents.alphazero.network import PRESETS
from agents.common.device import DEVICES
from agents.search.mcts import SearchConfig
from envs.core import GAMES, check_board


@dataclass(frozen=True)
class TrainConfig:
    # -- game and network ----------------------------------------------------------------------------
    game: str = "othello"
    """``othello`` or ``go``."""
    size: int = 6
    """Board size (Othello 4/6/8, Go 5/7/9)."""
    komi: float = -1.0
    """Go komi; -1 takes the size's default from envs.go_kernels.DEFAULT_KOMI."""
    network: str = "b4c64"
    """Network preset (agents.network.PRESETS)."""
    permute_squares: int = -1
    """-1: off. Otherwise the seed of a fixed reshuffle of the board squares in the network's input planes,
    the study's control for the convolutions' spatial prior (agents.network.PolicyValueNet)."""
    # -- self-play -------------------------------------------------------------------------------------
    inputs: str = "basic"
    """The input planes the net reads (envs.core): ``basic`` (stones, legal points, side to move) or, for
    Go, ``features`` (liberties 1/2/3+ and the last two moves besides)."""
    gpool: bool = False
    """Global-pooling residual blocks (every third block; agents.alphazero.network)."""
    workers: int = 1
    """Self-play Ray actors; 0 plays in the trainer's own process, without Ray (one GPU, or debugging)."""
    games_in_flight: int = 64
    """Games each worker searches at once (the evaluator batch)."""
    root: str = "gumbel"
    """Root policy: ``gumbel`` (sound at 8-32 simulations) or ``puct``."""
    simulations: int = 16
    """Simulations of a full search."""
    progressive_steps: int = 0
    """MiniZero's progressive simulation (Wu et al. 2023, arXiv:2310.11305): over the first this many
    learner steps the full search's simulations start at ``progressive_start`` and double at equal
    intervals up to ``simulations`` (a young net's values are worth little search; the games come
    faster). Workers switch when new weights reach them. 0 keeps ``simulations`` throughout."""
    progressive_start: int = 4
    """The full search's simulations at learner step 0 under ``progressive_steps``."""
    cheap_simulations: int = 4
    """Simulations of a cheap search (KataGo playout-cap randomization); not trained on."""
    full_search_prob: float = 1.0
    """Probability that a move gets a full search; 1 turns playout-cap randomization off."""
    temperature_moves: int = 8
    """PUCT: sample moves from the visit distribution for this many plies, then play the best."""
    dirichlet_fraction: float = 0.25
    """PUCT: weight of the root Dirichlet noise in self-play."""
    dirichlet_alpha: float = 0.5
    """PUCT: Dirichlet concentration."""
    resign_threshold: float = -1.0
    """Resign when the searched value falls below this; -1 never resigns."""
    no_resign_fraction: float = 0.1
    """Games that never resign, to measure false resignations."""
    inference: str = "auto"
    """How self-play and gauntlets run the net: ``torch`` (eager fp32), ``compile``, ``bf16``, ``onnx``,
    ``onnx-int8`` or ``auto``, the fastest that agrees with fp32 (agents.alphazero.inference)."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when PyTorch sees a GPU): the learner (bf16 autocast on CUDA)
    and the self-play search (with ``workers: 0`` in this process; Ray workers share the cluster's GPUs
    when it has any). The ONNX backends run on CPU whatever this says."""
    # -- replay and learner -----------------------------------------------------------------------------
    replay_capacity: int = 100_000
    """Positions kept (a window over the newest)."""
    min_replay: int = 2_000
    """Positions stored before the learner starts."""
    batch_size: int = 256
    """Learner batch."""
    optimizer: str = "adamw"
    """``adamw``, or ``sgd`` (momentum 0.9, Nesterov), as AlphaZero used."""
    lr: float = 2e-3
    """Peak learning rate (linear warmup, then cosine decay to 10% when max_steps is set)."""
    warmup_steps: int = 100
    """Learning-rate warmup."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    max_samples_per_position: float = 8.0
    """The learner waits for self-play when it has sampled this many times the positions added."""
    publish_every: int = 50
    """Learner steps between weight publications to the workers."""
    checkpoint_every: int = 200
    """Learner steps between checkpoints (also written on SIGINT/SIGTERM and at the end)."""
    keep_checkpoints: int = 5
    """Newest checkpoints kept; 0 keeps every one (the study rates them along the way)."""
    ownership_weight: float = 0.0
    """Loss weight of the auxiliary ownership head (KataGo): the final owner of every point, from the
    side to move (Othello: the final discs; Go: the Tromp-Taylor area), as mean squared error per point.
    0 leaves the head out of the net. A net with either auxiliary head cannot resume a run without."""
    score_weight: float = 0.0
    """Loss weight of the auxiliary score head: the final margin from the side to move (Othello: discs;
    Go: area after komi) over the number of points, as mean squared error. 0 leaves the head out."""
    # -- evaluation -------------------------------------------------------------------------------------
    eval_every: int = 500
    """Learner steps between gauntlets against the anchors; 0 disables."""
    eval_games: int = 40
    """Games per anchor in a gauntlet (colours alternate)."""
    anchors: tuple[str, ...] = ("random", "greedy", "mcts:200")
    """Fixed opponents of the gauntlet (``random``, ``greedy``, ``mcts:N``); from the second gauntlet on,
    the net of the previous gauntlet plays too, as ``previous``."""
    eval_simulations: int = 32
    """Simulations of the trained net's search in gauntlets (Gumbel root, no noise)."""
    gating: str = "latest"
    """``latest``: self-play always uses the newest published weights (AlphaZero, OpenSpiel). ``gate``:
    at each gauntlet the candidate also plays ``gate_games`` against the weights self-play uses, and
    replaces them only with a score of at least ``gate_score`` (AlphaGo Zero, Leela Zero)."""
    gate_games: int = 40
    """Games of a gating match (colours alternate)."""
    gate_score: float = 0.55
    """Score the candidate needs to replace the self-play weights."""
    # -- run ----------------------------------------------------------------------------------------------
    minutes: float = 30.0
    """Wall-clock budget of the whole run, resumes included; the run checkpoints and stops when it is
    spent (``--resume --set minutes=...`` raises it)."""
    save_minutes: float = 5.0
    """Wall-clock minutes between saves of the replay buffer with a checkpoint (learner step 0 included),
    besides those every ``checkpoint_every`` steps and at every stop."""
    max_steps: int = 0
    """Stop after this many learner steps; 0 means no limit."""
    max_flops: float = 0.0
    """Stop once the run's estimated FLOPs (self-play search and training, ``compute.flops``) reach this;
    0 means no limit. A FLOP budget, where ``minutes`` stays the wall-clock cap."""
    init: str = ""
    """Weights to start a new run from (a checkpoint file or run directory of the same game, size and
    network, e.g. ``models/othello8.pt``): a warm start with a fresh optimizer, replay buffer and counters.
    Ignored when the run resumes from its own checkpoint."""
    init_transcripts: str = ""
    """A transcript dataset with results (``arena transcripts --source gtp:...``): before self-play, the
    net learns its moves and results (agents.alphazero.bootstrap, AlphaGo's supervised start). The run's
    checkpoints record it: the net is then bootstrapped, not zero-knowledge. Ignored on a resume."""
    init_epochs: float = 4.0
    """Passes over ``init_transcripts``; the weights of the pass with the lowest held-out loss are kept."""
    seed: int = 0
    """Seeds self-play, the learner and evaluation."""

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"TrainConfig: {msg}")

        if self.game not in ("othello", "go"):
            bad(f"game must be 'othello' or 'go', got {self.game!r}")
        try:
            check_board(self.game, self.size)
        except ValueError as e:
            bad(str(e))
        if self.network not in PRESETS:
            bad(f"unknown network preset {self.network!r}; choose one of {sorted(PRESETS)}")
        offered = GAMES[self.game].inputs
        if self.inputs not in offered:
            bad(f"inputs must be one of {', '.join(offered)} for {self.game}, got {self.inputs!r}")
        if self.permute_squares < -1:
            bad(f"permute_squares must be -1 (off) or a seed >= 0, got {self.permute_squares}")
        if self.root not in ("gumbel", "puct"):
            bad(f"root must be 'gumbel' or 'puct', got {self.root!r}")
        if self.workers < 0:
            bad(f"workers must be 0 (self-play in this process) or more, got {self.workers}")
        if self.inference not in CHOICES:
            bad(f"inference must be one of {', '.join(CHOICES)}, got {self.inference!r}")
        if self.device not in DEVICES:
            bad(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for name in ("games_in_flight", "simulations", "cheap_simulations", "replay_capacity",
                     "batch_size", "publish_every", "checkpoint_every", "eval_games", "eval_simulations"):
            if getattr(self, name) < 1:
                bad(f"{name} must be at least 1, got {getattr(self, name)}")
        start_ok = 2 <= self.progressive_start <= self.simulations
        if self.progressive_steps < 0 or (self.progressive_steps and not start_ok):
            bad(f"progressive_steps must be >= 0 and progressive_start in [2, simulations={self.simulations}], "
                f"got {self.progressive_steps} and {self.progressive_start}")
        if self.optimizer not in ("adamw", "sgd"):
            bad(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.gating not in ("latest", "gate"):
            bad(f"gating must be 'latest' or 'gate', got {self.gating!r}")
        if self.gating == "gate" and self.eval_every < 1:
            bad("gating 'gate' needs eval_every > 0 (the gate is played at each gauntlet)")
        if not 0 < self.full_search_prob <= 1:
            bad(f"full_search_prob must be in (0, 1], got {self.full_search_prob}")
        if self.min_replay < 1:
            bad(f"min_replay must be at least 1 (the learner samples from the buffer), got {self.min_replay}")
        if self.min_replay > self.replay_capacity:
            bad(f"min_replay ({self.min_replay}) exceeds replay_capacity ({self.replay_capacity})")
        if self.keep_checkpoints < 0:
            bad(f"keep_checkpoints must be 0 (all) or more, got {self.keep_checkpoints}")
        if self.ownership_weight < 0 or self.score_weight < 0:
            bad("ownership_weight and score_weight must be >= 0 (0: no such head)")
        if self.init_epochs <= 0:
            bad(f"init_epochs must be positive, got {self.init_epochs}")
        if self.max_flops < 0:
            bad(f"max_flops must be 0 (no limit) or positive, got {self.max_flops}")
        if self.minutes <= 0 or self.lr <= 0 or self.save_minutes <= 0:
            bad("minutes, save_minutes and lr must be positive")
        self.search()  # a search setting out of range fails here, with SearchConfig's message

    def simulations_at(self, step):
        """The full search's simulations for weights of learner ``step`` (``progressive_steps``): the
        doublings from ``progressive_start`` are spread evenly over the steps, e.g. 4, 8, 16 over thirds."""
        if not self.progressive_steps or step >= self.progressive_steps:
            return self.simulations
        stages = 1 + math.ceil(math.log2(self.simulations / self.progressive_start))
        return min(self.simulations, self.progressive_start << (max(step, 0) * stages // self.progressive_steps))

    def search(self, step=None):
        """The self-play search for weights of learner ``step`` (None: the full ``simulations``). Dirichlet
        noise only under the PUCT root; Gumbel explores by its own noise."""
        sims = self.simulations if step is None else self.simulations_at(step)
        return SearchConfig(simulations=sims, root=self.root, dirichlet_alpha=self.dirichlet_alpha,
                            dirichlet_fraction=self.dirichlet_fraction if self.root == "puct" else 0.0)

    def aux(self):
        """Whether the net has the auxiliary heads (either loss weight on)."""
        return self.ownership_weight > 0 or self.score_weight > 0

    def game_kwargs(self):
        """Keywords for ``envs.core.make_batch``: Go's komi (None: the size's default)."""
        return {"komi": None if self.komi < 0 else self.komi} if self.game == "go" else {}

    @classmethod
    def from_dict(cls, d):
        """The config back from its checkpoint or JSON form (lists become the tuples the fields declare);
        unknown keys are a one-line ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        if set(d) - known:
            raise ValueError(f"TrainConfig: unknown keys {sorted(set(d) - known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
