"""The one config of ``arena study`` (the comparison of pretraining + RL with AlphaZero). Loaded from YAML (``configs/study_*.yaml``),
overridable with ``--set key=value``, written to the study directory (``study.json``) and checked on resume.

The arms, what each trains, and from what (``DEPENDS``):

    az                    AlphaZero from scratch (rated with its search and without: the policy head alone)
    az_permuted           control (b): the same, with the board squares reshuffled in the input planes
    seq_random            the GPT pretrained on uniformly random transcripts
    seq_random_permuted   control (a): the same games with the move-token ids reshuffled
    seq_expert            the GPT pretrained on fresh self-play games of arm ``az`` (behaviour cloning)
    rl_random             seq_random fine-tuned by RL (GRPO) on win/loss
    rl_random_permuted    seq_random_permuted fine-tuned the same way (control (a) after RL)
    rl_expert             seq_expert fine-tuned the same way
    rl_scratch            the same GPT trained by RL alone, from random weights
    seq_engine            the GPT pretrained on a real engine's games (``engine``, gtp-rhino by default)
    rl_engine             seq_engine fine-tuned the same way
    az_boot               AlphaGo's recipe: the AlphaZero net bootstrapped on the engine's games (supervised
                          moves and results), then self-play

Equal compute is equal wall-clock on the same machine (``budget: wallclock``) or equal estimated FLOPs
(``budget: flops``): ``az``, ``az_permuted``, ``az_boot`` and ``rl_scratch`` get the whole budget; a
pretrained arm gets ``pretrain_share`` of it and its RL arm the rest, so pretraining + RL costs what
AlphaZero costs. ``seq_expert`` also stands on all of ``az`` and on the expert games, and the engine arms
on the engine's games; the report counts those separately.

``seeds: [0, 1, 2]`` runs the whole study once per seed (``OUT/seed_S/``, each with its own datasets,
arms, tournament and report) and writes a report across seeds at ``OUT``.
"""

from dataclasses import dataclass

ARMS = ("az", "az_permuted", "seq_random", "seq_random_permuted", "seq_expert", "rl_random", "rl_random_permuted",
        "rl_expert", "rl_scratch", "seq_engine", "rl_engine", "az_boot")
DEPENDS = {"seq_expert": "az", "rl_random": "seq_random", "rl_random_permuted": "seq_random_permuted",
           "rl_expert": "seq_expert", "rl_engine": "seq_engine"}
BUDGETS = ("wallclock", "flops")
PARALLEL = ("auto", "ray", "serial")


@dataclass(frozen=True)
class StudyConfig:
    # -- the game and the arms -------------------------------------------------------------------------
    game: str = "othello"
    """Only ``othello`` for now (the sequence model's transcripts and probes are Othello's)."""
    size: int = 6
    """Board size (4, 6 or 8)."""
    arms: tuple[str, ...] = ARMS
    """The arms to run (see the module docstring); an arm needs the arm it starts from."""
    seed: int = 0
    """Seeds every arm, dataset, evaluation and the tournament (when ``seeds`` is empty)."""
    seeds: tuple[int, ...] = ()
    """Run the study once per seed, in ``OUT/seed_S/``, and report the mean and spread across seeds;
    empty: one run with ``seed``, in ``OUT``."""
    permute_seed: int = 1
    """Seed of both controls' fixed permutations (move ids; board squares)."""
    # -- budgets ---------------------------------------------------------------------------------------
    budget: str = "wallclock"
    """What equal compute means: ``wallclock`` (every arm gets ``minutes``) or ``flops`` (every arm gets
    ``flops`` estimated FLOPs, and ``minutes`` is only its wall-clock cap)."""
    minutes: float = 6.0
    """The matched wall-clock budget of an arm: AlphaZero, pretraining + RL, RL from scratch (the cap under
    ``budget: flops``)."""
    flops: float = 0.0
    """The matched FLOP budget of an arm under ``budget: flops`` (forward + backward estimates, the
    checkpoints' ``compute.flops``)."""
    pretrain_share: float = 0.5
    """The share of ``minutes`` a pretrained arm spends pretraining; its RL arm gets the rest."""
    max_steps: int = 0
    """0: an arm ends when its wall-clock budget is spent (equal compute). N > 0: it also ends after N of its
    own steps (learner, pretraining or RL steps), whichever comes first: a count that a busy machine cannot
    change, for tests and for step-matched comparisons."""
    random_games: int = 200_000
    """Uniformly random games generated for ``seq_random`` (cheap: Numba, seconds)."""
    expert_games: int = 3_000
    """Self-play games of the trained ``az`` generated for ``seq_expert`` (costly: a search per move)."""
    expert_simulations: int = 8
    """Simulations of the expert's Gumbel search per move."""
    engine: str = "gtp:gtp-rhino"
    """The real engine whose games teach ``seq_engine`` and bootstrap ``az_boot`` (``arena transcripts
    --source``)."""
    engine_levels: str = "1-3"
    """Its levels, mixed in one round robin (``arena transcripts --levels``)."""
    engine_games: int = 2_000
    """Engine games generated for the engine arms."""
    # -- the arms' own configs (each overridden by its ``*_set`` items, then by the study's budget) -----
    az_config: str = "configs/othello6_az.yaml"
    """``arena train`` config of the AlphaZero arms."""
    az_set: tuple[str, ...] = ()
    """``key=value`` overrides of it (a YAML mapping works too)."""
    pretrain_config: str = "configs/seq_demo6.yaml"
    """``arena pretrain`` config of the pretrained arms (its ``data`` is replaced by the study's)."""
    pretrain_set: tuple[str, ...] = ()
    """``key=value`` overrides of it."""
    finetune_config: str = "configs/seq_rl_demo6.yaml"
    """``arena finetune`` config of the RL arms."""
    finetune_set: tuple[str, ...] = ()
    """``key=value`` overrides of it."""
    # -- measurement -----------------------------------------------------------------------------------
    checkpoints: int = 3
    """Checkpoints of each arm rated in the tournament, evenly spaced in wall-clock, the last included."""
    anchors: tuple[str, ...] = ("random=random", "greedy=greedy", "mcts200=mcts:rollouts=200")
    """Fixed players of the tournament (``NAME=SPEC``); the first is the rating anchor (Elo 0). Add
    ``rhino=gtp:...`` on 8x8 (see configs/study_othello8.yaml)."""
    az_sims: int = 32
    """Simulations of AlphaZero's search when it plays in the tournament (it also plays with 0)."""
    games: int = 8
    """Tournament games per pair (colours alternate over ``games / 2`` openings)."""
    opening_plies: int = 2
    """Random plies of a tournament opening."""
    workers: int = 2
    """Tournament games at once (Ray tasks)."""
    target_win_rate: float = 0.6
    """Sample efficiency: games of RL until the evaluation against greedy first reaches this win rate."""
    eval_games: int = 500
    """Held-out games for each sequence model's legal-move error and board probes."""
    threads: int = 2
    """CPU threads of the training arms (torch)."""
    parallel: str = "auto"
    """``auto``: the arms that do not wait on each other run at once as Ray tasks (``threads`` CPUs each)
    when a Ray cluster is given (``RAY_ADDRESS`` or ``--address``) with room for two of them, else one
    after another; ``ray``: as Ray tasks on this machine too; ``serial``: one after another. (Not on/off:
    YAML reads those as booleans.)"""

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"StudyConfig: {msg}")

        if self.game != "othello":
            bad(f"game must be 'othello' (the sequence model's probes are Othello's), got {self.game!r}")
        if self.size not in (4, 6, 8):
            bad(f"size must be 4, 6 or 8, got {self.size}")
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            bad(f"unknown arm(s) {unknown}; arms are {', '.join(ARMS)}")
        for arm in self.arms:
            if arm in DEPENDS and DEPENDS[arm] not in self.arms:
                bad(f"arm {arm} starts from arm {DEPENDS[arm]}: add it to arms")
        if self.minutes <= 0 or not 0 < self.pretrain_share < 1:
            bad("minutes must be positive and pretrain_share strictly between 0 and 1")
        if self.budget not in BUDGETS:
            bad(f"budget must be one of {', '.join(BUDGETS)}, got {self.budget!r}")
        if self.budget == "flops" and self.flops <= 0:
            bad("budget: flops needs flops, the FLOP budget of an arm (e.g. 1e14)")
        if self.parallel not in PARALLEL:
            bad(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        if len(set(self.seeds)) != len(self.seeds):
            bad(f"seeds must differ, got {list(self.seeds)}")
        if any(a in self.arms for a in ("seq_engine", "az_boot")) and not self.engine.startswith("gtp:"):
            bad(f"engine must be gtp:COMMAND, got {self.engine!r}")
        for k in ("random_games", "expert_games", "expert_simulations", "engine_games", "checkpoints", "games",
                  "eval_games", "threads"):
            if getattr(self, k) < 1:
                bad(f"{k} must be at least 1, got {getattr(self, k)}")
        if self.games % 2:
            bad(f"games must be even (each opening is played with both colours), got {self.games}")
        if self.max_steps < 0:
            bad(f"max_steps must be 0 (budget only) or more, got {self.max_steps}")
        if self.az_sims < 1 or not 0 < self.target_win_rate <= 1 or self.workers < 0:
            bad("az_sims must be >= 1, target_win_rate in (0, 1] and workers >= 0")
        if not self.anchors:
            bad("anchors must name at least one player (the first is the rating anchor)")

    def share(self, arm):
        """The share of the matched budget an arm's own training gets."""
        if arm.startswith("seq_"):
            return self.pretrain_share
        if arm.startswith("rl_") and arm != "rl_scratch":
            return 1 - self.pretrain_share
        return 1.0

    def arm_minutes(self, arm):
        """Wall-clock minutes of an arm's own training (its cap under ``budget: flops``)."""
        return self.minutes * self.share(arm)

    def arm_flops(self, arm):
        """FLOPs of an arm's own training under ``budget: flops``; 0 under ``wallclock``."""
        return self.flops * self.share(arm) if self.budget == "flops" else 0.0

    def seed_runs(self):
        """The seeds of the runs: ``seeds``, or ``(seed,)``."""
        return tuple(self.seeds) or (self.seed,)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
