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

The scale study (configs/study_othello8_scale.yaml, docs/study.md) adds, beside those arms:

    seq_pretrained        a GPT pretrained beforehand (``pretrained``, e.g. models/othello8_gpt.pt), as a player;
                          not trained here: its pretraining compute is the file's own ``compute``
    rl_pretrained         it fine-tuned by RL (GRPO)
    rl_scratch_total      the ``rl_scratch`` run carried on to the total budget P + R: a second stage that resumes
                          that run (its own stage ends at R with a save; the RL schedule is constant after
                          warmup), rated at P + R as this arm, at R as rl_scratch

and staged budgets: ``pretrain_minutes`` P for every pretraining arm, ``rl_minutes`` R for every RL arm
(``rl_scratch`` included), P + R for AlphaZero's arms. ``rl_seeds`` runs each RL arm once per seed from the
same pretrained start (``OUT/ARM_sS``, played as ``ARM_sS``); ``variants`` adds RL arms that differ from
one by finetune overrides (a stronger KL, the legal-move loss, a mixed pretraining batch). ``seq_engine``
(``BEST_VAL``) is rated, and ``rl_engine`` starts, at its checkpoint of lowest validation loss. In that study
``seq_engine``/``rl_engine`` are what the issue calls ``sl_expert``/``rl_expert`` (the GPT on gtp-rhino's
games, before and after RL): the names stay, so that ``rl_expert`` keeps its meaning here (RL from the GPT
cloned from AlphaZero's self-play).
"""

import re
from dataclasses import dataclass

ARMS = ("az", "az_permuted", "seq_random", "seq_random_permuted", "seq_expert", "rl_random", "rl_random_permuted",
        "rl_expert", "rl_scratch", "seq_engine", "rl_engine", "az_boot")
"""The arms of the classic study (and the default of ``arms``)."""
SCALE_ARMS = ("seq_pretrained", "rl_pretrained", "rl_scratch_total")
"""The scale study's own arms (see the module docstring)."""
ALL_ARMS = ARMS + SCALE_ARMS
DEPENDS = {"seq_expert": "az", "rl_random": "seq_random", "rl_random_permuted": "seq_random_permuted",
           "rl_expert": "seq_expert", "rl_engine": "seq_engine", "rl_pretrained": "seq_pretrained"}
VIEW_OF = {"rl_scratch_total": "rl_scratch"}
"""An arm that is another arm's run carried on to a later budget: its stage resumes that run's directory."""
BEST_VAL = ("seq_engine",)
"""Pretraining arms on a finite stored dataset (seen many times over in P): rated, and started from by their RL
arm, at the checkpoint with the lowest validation loss that their run recorded, not at the newest."""
RESOLVED = "resolved"
"""The key of study.json that holds what the config names but does not contain (arena.study.inputs.resolved)."""
GIVEN = {"seq_pretrained": "pretrained", "seq_engine": "engine_pretrained", "az_boot": "az_boot_net"}
"""Arms read from a file, not trained here: arm -> the config key naming the file (``seq_engine`` and
``az_boot`` only when their key names one; :meth:`StudyConfig.given`)."""
VARIANT = re.compile(r"^rl_[a-z0-9_]+$")
SEED_SUFFIX = re.compile(r"_s\d+$")
BUDGETS = ("wallclock", "flops")
PARALLEL = ("auto", "ray", "serial")


@dataclass(frozen=True)
class RunSpec:
    """One run of the study: a training stage, or an arm read from elsewhere (``seq_pretrained``, ``az``
    from ``az_run``, the ``rl_scratch_total`` view). Its name is its directory under OUT and its player's."""
    name: str
    """``ARM``, or ``LABEL_sS`` for an RL arm with ``rl_seeds``."""
    arm: str
    """The arm it is (a variant's base arm): its budget, start and kind."""
    label: str
    """What its RL seeds share: the arm, or the variant's name."""
    seed: int
    """Its trainer's seed."""
    sets: tuple[str, ...] = ()
    """A variant's ``arena finetune`` overrides."""


@dataclass(frozen=True)
class StudyConfig:
    # -- the game and the arms -------------------------------------------------------------------------
    game: str = "othello"
    """Only ``othello`` for now (the sequence model's transcripts and probes are Othello's)."""
    size: int = 6
    """Board size (4, 6 or 8)."""
    arms: tuple[str, ...] = ARMS
    """The arms to run (see the module docstring; ``ALL_ARMS``); an arm needs the arm it starts from."""
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
    pretrain_minutes: float = 0.0
    """Staged budgets (with ``rl_minutes``): P, the wall-clock minutes of every pretraining arm (``seq_*``),
    to match ``pretrained``'s own (the shipped GPT's ``compute.seconds`` is 7,410 s, 123.5 min)."""
    rl_minutes: float = 0.0
    """Staged budgets: R, the minutes of every RL arm, ``rl_scratch`` and variants included; AlphaZero's arms and
    ``rl_scratch_total`` get P + R. 0: the share rule of ``minutes`` and ``pretrain_share`` (then
    ``minutes`` is ignored)."""
    rl_seeds: tuple[int, ...] = ()
    """Seeds of the RL stage: every RL arm runs once per seed (``OUT/ARM_sS``) from the same pretrained start,
    which runs once; the verdicts pair the arms seed by seed. Empty: each RL arm once, with ``seed``. Not with
    ``seeds``."""
    pretrained: str = ""
    """A GPT file pretrained beforehand (``models/othello8_gpt.pt``): arm ``seq_pretrained`` and
    ``rl_pretrained``'s start. Its pretraining is not run again; its compute is the file's."""
    engine_pretrained: str = ""
    """A GPT file pretrained beforehand on the engine dataset (``engine_data``) for arm ``seq_engine``: its
    player and ``rl_engine``'s start, not trained here; its compute is the file's. Empty: the study
    pretrains ``seq_engine`` for P."""
    engine_data: str = ""
    """An engine dataset made beforehand (``arena transcripts --source gtp:...``, e.g. in the background
    while the other arms train) for the engine arms; empty: the study makes ``engine_games`` itself."""
    az_run: str = ""
    """An ``arena train`` run directory to take arm ``az`` from instead of training it: its checkpoints up to
    the matched budget (``compute.seconds``, or ``compute.flops`` under ``budget: flops``); the newest of them,
    the one nearest to it but not beyond, is ``az``'s player, pinned in ``stages.json`` at the study's first
    start (the run must have passed the budget by then). Empty: train ``az``."""
    rate_as_trained: bool = False
    """Measure and rate each run as soon as it is trained (and the given ones first), while its checkpoints
    are on this machine: its legal-move error and probes, ``games`` games a pair between its rated checkpoints
    and every anchor (the anchors meet each other once, first; runs do not meet each other), and its ladder.
    Everything the report needs is then in small files (``OUT/rated/RUN/``, the runs' metrics, logs): the
    study's directory without its checkpoints and datasets goes on from any copy of it, on another machine
    too, as long as every run still to train can reach its start (a given file, or a run trained there).
    The ratings come from one fit over all those games."""
    az_boot_net: str = ""
    """An AlphaZero net file (``arena export``) trained beforehand as arm ``az_boot``: bootstrapped on the
    engine dataset, then self-play, for P + R (its ``compute``, warm starts included: a run that outlives one
    machine goes on by ``arena train --set init=FILE``, and the chain adds up). Empty: the study trains it."""
    variants: tuple[str, ...] = ()
    """Extra RL arms, ``NAME=ARM key=value ...``: ARM's RL stage again with those ``arena finetune``
    overrides on top of ``finetune_set`` (a YAML mapping ``rl_pretrained_kl: rl_pretrained kl_coef=0.2``
    is one). NAME starts with ``rl_``; it gets ARM's budget, start and seeds."""
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
    measure_along: bool = False
    """Also measure the legal-move error and the linear probe at every rated checkpoint of every RL run
    (what RL does to the world model along the way), not only at the end."""
    ladder: str = ""
    """An ``arena ladder`` engine (``gtp-rhino``) that every arm's final player climbs after the tournament
    (``OUT/ladder/PLAYER``); empty: no ladder."""
    ladder_levels: str = "1-3"
    """The ladder's levels, weakest first."""
    ladder_games: int = 100
    """Ladder games per level, colours alternating."""
    ladder_stop_below: float = 0.05
    """A ladder stops after the first level its player scores under this (the levels above would score no
    better); 0.25 is ``arena ladder``'s default."""
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
        unknown = [a for a in self.arms if a not in ALL_ARMS]
        if unknown or not self.arms:
            bad(f"unknown arm(s) {unknown}; arms are {', '.join(ALL_ARMS)}")
        if len(set(self.arms)) != len(self.arms):
            bad(f"arms are listed twice: {sorted(a for a in set(self.arms) if self.arms.count(a) > 1)}")
        for arm in self.arms:
            if arm in DEPENDS and DEPENDS[arm] not in self.arms:
                bad(f"arm {arm} starts from arm {DEPENDS[arm]}: add it to arms")
            if arm in VIEW_OF and VIEW_OF[arm] not in self.arms:
                bad(f"arm {arm} is arm {VIEW_OF[arm]}'s run carried on: add it to arms")
        if "seq_pretrained" in self.arms and not self.pretrained:
            bad("arm seq_pretrained needs pretrained: a GPT file (models/othello8_gpt.pt)")
        for arm, key in GIVEN.items():
            if getattr(self, key) and arm not in self.arms and arm != "seq_pretrained":  # an unused `pretrained`: as before
                bad(f"{key} is arm {arm}'s: add {arm} to arms (or leave {key} empty)")
        if self.pretrain_minutes < 0 or self.rl_minutes < 0 or (self.pretrain_minutes > 0) != (self.rl_minutes > 0):
            bad(f"staged budgets need both pretrain_minutes and rl_minutes positive (or both 0), got "
                f"{self.pretrain_minutes} and {self.rl_minutes}")
        if "rl_scratch_total" in self.arms and not self.staged():
            bad("arm rl_scratch_total needs staged budgets (pretrain_minutes and rl_minutes)")
        if len(set(self.rl_seeds)) != len(self.rl_seeds):
            bad(f"rl_seeds must differ, got {list(self.rl_seeds)}")
        if self.seeds and self.rl_seeds:  # every seed's study would run the same RL seeds again
            bad("seeds and rl_seeds together would rerun the same RL seeds in every seed's study: use seeds (the "
                "whole study per seed) or rl_seeds (the RL stage per seed over one pretraining)")
        names = set(ALL_ARMS)
        for item in self.variants:
            name, arm, sets = parse_variant(item)
            if not VARIANT.match(name) or SEED_SUFFIX.search(name) or name in names:
                bad(f"variant {item!r}: its name must start with rl_, use a-z, 0-9 and _, not end in _sN and be "
                    f"new (write NAME=ARM key=value ...)")
            if arm not in self.arms or not arm.startswith("rl_") or arm in VIEW_OF:
                bad(f"variant {name}: {arm!r} is not an RL arm of arms")
            if not sets or any("=" not in x for x in sets):
                bad(f"variant {name}: give its finetune overrides as key=value after the arm, got {item!r}")
            names.add(name)
        if self.ladder_games < 1 or not 0 < self.ladder_stop_below <= 1:
            bad("ladder_games must be at least 1 and ladder_stop_below in (0, 1]")
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

    def given(self, arm):
        """The file an arm is read from instead of trained (``pretrained``, ``engine_pretrained``), or ""."""
        return getattr(self, GIVEN[arm]) if arm in GIVEN and arm in self.arms else ""

    def staged(self):
        """Whether the budgets are staged (``pretrain_minutes`` P and ``rl_minutes`` R)."""
        return self.rl_minutes > 0

    def total_minutes(self):
        """The matched whole: AlphaZero's minutes (P + R when staged, else ``minutes``)."""
        return self.pretrain_minutes + self.rl_minutes if self.staged() else self.minutes

    def share(self, arm):
        """The share of the matched whole an arm's own training gets."""
        if self.staged():
            if arm.startswith("seq_"):
                return self.pretrain_minutes / self.total_minutes()
            if arm.startswith("rl_") and arm not in VIEW_OF:
                return self.rl_minutes / self.total_minutes()
            return 1.0  # AlphaZero's arms and rl_scratch_total: P + R
        if arm.startswith("seq_"):
            return self.pretrain_share
        if arm.startswith("rl_") and arm != "rl_scratch":
            return 1 - self.pretrain_share
        return 1.0

    def arm_minutes(self, arm):
        """Wall-clock minutes of an arm's own training (its cap under ``budget: flops``): the budget it is
        rated at."""
        return self.total_minutes() * self.share(arm)

    def arm_flops(self, arm):
        """FLOPs of an arm's own training under ``budget: flops``; 0 under ``wallclock``."""
        return self.flops * self.share(arm) if self.budget == "flops" else 0.0

    def budget_text(self):
        """The budgets in words, for the reports."""
        if self.staged():
            return (f"staged: pretraining P = {self.pretrain_minutes:g} min, RL R = {self.rl_minutes:g} min for every "
                    f"RL arm (RL from scratch included), AlphaZero P + R = {self.total_minutes():g} min"
                    + (f"; FLOPs in the same shares of {self.flops:.3g}" if self.budget == "flops" else ""))
        if self.budget == "wallclock":
            return f"{self.minutes:g} min of wall-clock per arm"
        return f"{self.flops:.3g} estimated FLOPs per arm (at most {self.minutes:g} min of wall-clock)"

    def runs(self):
        """``[RunSpec]``: every arm, each RL arm (and variant) once per RL seed."""
        out = []
        for label, arm, sets in [(a, a, ()) for a in self.arms] + [parse_variant(v) for v in self.variants]:
            if arm.startswith("rl_") and self.rl_seeds:
                out += [RunSpec(f"{label}_s{s}", arm, label, s, sets) for s in self.rl_seeds]
            else:
                out.append(RunSpec(label, arm, label, self.seed, sets))
        return out

    def seed_runs(self):
        """The seeds of the runs: ``seeds``, or ``(seed,)``."""
        return tuple(self.seeds) or (self.seed,)

    def rl_seed_runs(self):
        """The RL seeds the verdicts pair (``rl_seeds``, or ``(seed,)``)."""
        return tuple(self.rl_seeds) or (self.seed,)

    @classmethod
    def from_dict(cls, d):
        """The config back from study.json (lists become tuples; its ``resolved`` record is not config)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != RESOLVED})


def parse_variant(item):
    """``"NAME=ARM key=value ..."`` -> ``(NAME, ARM, (key=value, ...))``."""
    name, _, rest = str(item).partition("=")
    words = rest.split()
    return name.strip(), (words[0] if words else ""), tuple(words[1:])
