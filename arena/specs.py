"""Agent specs: one short string names any player of the arena.

    random                         uniformly random legal move
    greedy                         most discs flipped / stones captured now (seeded ties)
    mcts:rollouts=200              pure MCTS: 200 simulations, each valued by one random rollout
                                   (options: per_leaf=K rollouts per leaf, root=puct|gumbel, c_puct=X;
                                   ``mcts:200`` is short for rollouts=200)
    az:othello8, az:go9            the nets shipped in models/ (othello8.pt, go9.pt, go9_boot.pt,
    az:go9_boot, az:othello8_boot  othello8_boot.pt), with 400 simulations and inference=auto unless the
                                   spec says otherwise
    az:PATH,sims=64                an AlphaZero training checkpoint with a deterministic Gumbel search
                                   (sims=0: the policy head alone, temp=T to sample; root=puct for PUCT;
                                   inference=torch|compile|bf16|onnx|onnx-int8|auto, device=cpu|cuda|auto;
                                   time=SECONDS: as many simulations as a move of that long holds here,
                                   instead of sims; leaves=K: K leaves of the tree per network call, under
                                   virtual loss); PATH may be a run directory: its newest checkpoint
    seq:othello8, seq:othello8_2h  the GPTs shipped in models/ (othello8_gpt.pt; othello8_gpt_2h.pt: its
    seq:othello8_rhino             first two hours of pretraining, where the studies start;
    seq:othello8_rl                othello8_gpt_rhino.pt: the same GPT on gtp-rhino's games;
                                   othello8_gpt_rl.pt: that one after 45 minutes of GRPO)
    seq:PATH,temp=0                the sequence model (a GPT checkpoint or run directory) playing its
                                   next-token prediction, masked to legal moves (legal_only=false: an
                                   illegal prediction forfeits); temp=T samples; device=cpu|cuda|auto
    gtp:COMMAND                    an external GTP engine, e.g. gtp:/usr/games/gnugo --mode gtp --level 1

The first three are agents.players' baselines; this module adds the trained nets and external engines
on top. ``make_agent(spec, game, size, komi, seed)`` builds any of them; a bad spec, or a model file that
cannot be read or is for another game or size, is a ``ValueError`` of one line. Every agent is reset
with the game's seed before each game.

An ``az:`` spec under ``inference=auto`` or ``time=`` names a choice made by timing in the process that
builds it; ``resolve_spec`` (or a built agent's ``resolved_spec``) names the backend chosen and the
simulations a move's time holds instead (``time=0.5`` becomes ``sims=N``), so that other processes (a
tournament's workers, a resume) build the same player without timing again: its games are then the same
wherever they are played.
"""

import os
import time
from dataclasses import replace

from agents.alphazero.evaluate import load_net, net_evaluator
from agents.alphazero.inference import CHOICES
from agents.common.device import DEVICES, resolve as resolve_device
from agents.players import BASELINE_FORMS, MCTSAgent, PolicyAgent, is_baseline, make_baseline, number, split_options
from agents.seq.agent import SeqAgent
from arena.gtp import GTPAgent
from envs.game import Game

# The nets shipped in the repository's models/ directory, by the name an ``az:`` spec gives them.
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
SHIPPED = {"othello8": ("othello", 8), "othello8_boot": ("othello", 8), "go9": ("go", 9), "go9_boot": ("go", 9)}
SHIPPED_SEQ = {"othello8": "othello8_gpt", "othello8_2h": "othello8_gpt_2h",  # seq:NAME -> models/FILE.pt
               "othello8_rhino": "othello8_gpt_rhino", "othello8_rl": "othello8_gpt_rl"}
SHIPPED_SIMS = 400  # b6c64 at batch 1 on one core: ~0.8 s a move in eager fp32, ~0.3 s under onnx (arena bench mcts)

# Every spec form, for the one-line refusal of an unknown spec: the shipped names come from the maps above.
FORMS = (f"{BASELINE_FORMS}, az:CHECKPOINT[,sims=N], {', '.join('az:' + n for n in SHIPPED)}, "
         f"seq:CHECKPOINT[,temp=T], {', '.join('seq:' + n for n in SHIPPED_SEQ)}, gtp:COMMAND")


def shipped_model(name, file=None):
    """The path of shipped net ``name`` (``models/FILE.pt``, FILE = name unless given); a one-line
    ``ValueError`` when it is not there."""
    path = os.path.join(MODELS, f"{file or name}.pt")
    if not os.path.exists(path):
        raise ValueError(f"no shipped net {name!r}: {path} is not there (this checkout has "
                         f"{', '.join(sorted(f for f in os.listdir(MODELS) if f.endswith('.pt'))) or 'none'})"
                         if os.path.isdir(MODELS) else f"no shipped net {name!r}: there is no {MODELS} directory")
    return path


def seq_path(path):
    """A ``seq:`` spec's checkpoint: a shipped model's file for its name (``othello8``), else the path."""
    return shipped_model(path, SHIPPED_SEQ[path]) if path in SHIPPED_SEQ else path


def seq_spec(spec):
    """``seq:PATH[,temp=T,legal_only=B,device=D]`` -> (checkpoint path, {option: text}), the shipped
    model's file for a name; a one-line ``ValueError`` for any other spec."""
    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    path, _, opts = rest.partition(",")
    if kind != "seq" or not path:
        raise ValueError(f"bad agent spec {spec!r}: a sequence model is seq:CHECKPOINT (a GPT checkpoint or run "
                         f"directory, e.g. seq:runs/x,temp=0) or seq:othello8")
    return seq_path(path), split_options(spec, opts, ("temp", "legal_only", "device"))


def az_options(spec):
    """``az:PATH[,option=value...]`` -> (checkpoint path, {option: text}) with a shipped net's defaults
    (its file for its name, ``SHIPPED_SIMS`` simulations, ``inference=auto``); one-line ``ValueError``s."""
    kind, _, rest = spec.partition(":")
    path, _, opts = rest.partition(",")
    if kind != "az" or not path:
        raise ValueError(f"bad agent spec {spec!r}: az needs a checkpoint path (az:runs/x/ckpt.pt,sims=64)")
    o = split_options(spec, opts, ("sims", "root", "temp", "inference", "device", "time", "leaves"))
    if path in SHIPPED:  # a net of models/: full strength at under a second a move on one core by default
        return shipped_model(path), {"sims": str(SHIPPED_SIMS), "inference": "auto", **o}
    return path, o


# A search of ``time=`` seconds holds at most this many simulations (the tree is preallocated to it).
MAX_TIMED_SIMS = 20_000


def simulations_in(agent, seconds, game, size, cfg, moves=4):
    """The simulations ``agent``'s search (an MCTSAgent) makes in ``seconds`` on this machine: timed over
    ``moves`` searches of the opening of a game it plays, after one search that compiles and builds what
    it needs. At least 1, at most ``MAX_TIMED_SIMS``."""
    g = Game(game, size, **cfg.game_kwargs())
    agent.act(g)
    sims, t0 = 0, time.perf_counter()
    for _ in range(moves):
        if g.terminal:
            break
        g.play(int(agent.act(g)[0]))
        sims += agent.config.simulations
    rate = sims / max(time.perf_counter() - t0, 1e-9)
    return int(min(MAX_TIMED_SIMS, max(1, rate * seconds)))


def without_option(spec, key):
    """``spec`` without its option ``key``."""
    head, _, opts = spec.partition(",")
    return ",".join([head, *(t.strip() for t in opts.split(",") if t.strip() and t.split("=", 1)[0].strip() != key)])


def with_option(spec, key, value):
    """``spec`` with its option ``key`` set to ``value``: in place where the spec gives it, else appended."""
    head, _, opts = spec.partition(",")
    items = [t.strip() for t in opts.split(",") if t.strip()]
    found = [t.split("=", 1)[0].strip() == key for t in items]
    items = [f"{key}={value}" if f else t for t, f in zip(items, found)] + ([] if any(found) else [f"{key}={value}"])
    return ",".join([head, *items])


def resolve_spec(spec, game="othello", size=8, komi=None, seed=0):
    """``spec`` with ``inference=auto`` (given, or a shipped net's default) replaced by the backend the
    agent chooses here, e.g. ``az:othello8`` -> ``az:othello8,inference=onnx-int8``, and ``time=S`` by the
    simulations a move of S seconds holds here (``sims=N``); every other spec
    unchanged, without building anything. Players built from the result elsewhere (a tournament's
    workers, a resume) run that backend without timing again (agents.alphazero.inference). An agent
    already built by :func:`make_agent` carries the same string as ``resolved_spec``."""
    spec = str(spec).strip()
    if spec.partition(":")[0] != "az":
        return spec
    o = az_options(spec)[1]
    if o.get("inference", "torch") != "auto" and "time" not in o:
        return spec
    agent = make_agent(spec, game, size, komi, seed=seed)
    return agent.resolved_spec


def make_agent(spec, game="othello", size=8, komi=None, seed=0, move_timeout=30.0, batch=1):
    """The agent ``spec`` names (module docstring), with ``resolved_spec``: the spec that builds the same
    player anywhere (:func:`resolve_spec`). ``batch``: the games it will search at once, the batch an
    ``az:`` player's ``inference=auto`` times its candidates at (one game's search evaluates one leaf a
    call: 1 for a single game, a tournament chunk's size in a tournament)."""
    spec = str(spec).strip()
    agent = _make_agent(spec, game, size, komi, seed, move_timeout, batch)
    if not hasattr(agent, "resolved_spec"):
        agent.resolved_spec = spec
    return agent


def _make_agent(spec, game, size, komi, seed, move_timeout, batch):
    kind, _, rest = spec.partition(":")
    if is_baseline(spec):
        return make_baseline(spec, seed=seed, forms=FORMS)
    if kind == "az":
        path, o = az_options(spec)
        sims = number(spec, "sims", o.get("sims", "64"))
        temp = number(spec, "temp", o.get("temp", "0"), float)
        root = o.get("root", "gumbel")
        if root not in ("gumbel", "puct"):
            raise ValueError(f"bad agent spec {spec!r}: root must be gumbel or puct")
        inference, device = o.get("inference", "torch"), o.get("device", "cpu")
        if inference not in CHOICES or device not in DEVICES:
            raise ValueError(f"bad agent spec {spec!r}: inference must be one of {', '.join(CHOICES)} and device "
                             f"one of {', '.join(DEVICES)}")
        net, cfg, _ = load_net(path, game, size)
        ev = net_evaluator(net, game, size, inference, device, batch=max(1, batch), seed=seed, **cfg.game_kwargs())
        if sims == 0:
            agent = PolicyAgent(ev, temp, seed=seed, name=spec)
        else:
            kw = {"root": "gumbel", "gumbel_scale": 0.0} if root == "gumbel" else {"root": root}
            kw["leaves_per_call"] = number(spec, "leaves", o.get("leaves", "1"), low=1)
            agent = MCTSAgent(ev, simulations=sims, seed=seed, **kw)
            agent.name = spec
        resolved = with_option(spec, "inference", ev.backend) if inference == "auto" else spec
        if "time" in o:
            if sims == 0:
                raise ValueError(f"bad agent spec {spec!r}: time= sets the simulations of a search; sims=0 has none")
            agent.config = replace(agent.config, simulations=simulations_in(agent, number(spec, "time", o["time"],
                                                                                        float), game, size, cfg))
            agent.reset()
            resolved = with_option(without_option(resolved, "time"), "sims", agent.config.simulations)
        agent.resolved_spec = resolved
        return agent
    if kind == "seq":
        path, o = seq_spec(spec)
        legal_only = o.get("legal_only", "true").lower()
        if legal_only not in ("true", "false"):
            raise ValueError(f"bad agent spec {spec!r}: legal_only must be true or false")
        if o.get("device", "cpu") not in DEVICES:
            raise ValueError(f"bad agent spec {spec!r}: device must be one of {', '.join(DEVICES)}")
        agent = SeqAgent(path, number(spec, "temp", o.get("temp", "0"), float), legal_only == "true", seed=seed,
                         device=resolve_device(o.get("device", "cpu")), name=spec)
        if (agent.tok.game, agent.tok.size) != (game, size):
            raise ValueError(f"{path} was trained on {agent.tok.game} {agent.tok.size}x{agent.tok.size}, not "
                             f"{game} {size}x{size}")
        return agent
    if kind == "gtp":
        if not rest.strip():
            raise ValueError(f"bad agent spec {spec!r}: gtp needs a command (gtp:/usr/games/gnugo --mode gtp)")
        return GTPAgent(rest.strip(), game, size, komi=komi, move_timeout=move_timeout, seed=seed, name=spec)
    raise ValueError(f"unknown agent spec {spec!r}; use one of: {FORMS}")


def opponent_factory(komi=None, move_timeout=30.0):
    """``make(spec, game, size, seed)`` for trainers that take their opponents from the caller (GRPO's
    pool and evaluations): every arena spec."""
    def make(spec, game, size, seed):
        return make_agent(spec, game, size, komi, seed=seed, move_timeout=move_timeout)
    return make
