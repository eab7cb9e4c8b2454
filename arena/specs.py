"""Agent specs: one short string names any player of the arena.

    random                         uniformly random legal move
    greedy                         most discs flipped / stones captured now (seeded ties)
    mcts:rollouts=200              pure MCTS: 200 simulations, each valued by one random rollout
                                   (options: per_leaf=K rollouts per leaf, root=puct|gumbel, c_puct=X;
                                   ``mcts:200`` is short for rollouts=200)
    az:PATH,sims=64                an AlphaZero training checkpoint with a deterministic Gumbel search
                                   (sims=0: the policy head alone, temp=T to sample; root=puct for PUCT);
                                   PATH may be a run directory: its newest checkpoint
    seq:PATH,temp=0                the sequence model (a GPT checkpoint or run directory) playing its
                                   next-token prediction, masked to legal moves (legal_only=false: an
                                   illegal prediction forfeits); temp=T samples
    gtp:COMMAND                    an external GTP engine, e.g. gtp:/usr/games/gnugo --mode gtp --level 1

``make_agent(spec, game, size, komi, seed)`` builds it; a bad spec is a ``ValueError`` naming it and the
accepted forms. Every agent is reset with the game's seed before each game.
"""

from agents.evaluators import RolloutEvaluator, TorchEvaluator
from agents.players import GreedyAgent, MCTSAgent, PolicyAgent, RandomAgent

FORMS = "random, greedy, mcts:rollouts=N, az:CHECKPOINT[,sims=N], seq:CHECKPOINT[,temp=T], gtp:COMMAND"


def split_options(spec, text, allowed):
    """``'a=1,b=x'`` -> ``{'a': '1', 'b': 'x'}``, every key in ``allowed``."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        if "=" not in item:
            raise ValueError(f"bad agent spec {spec!r}: option {item!r} is not key=value")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in allowed:
            raise ValueError(f"bad agent spec {spec!r}: unknown option {k!r} (known: {', '.join(allowed)})")
        out[k] = v
    return out


def number(spec, key, value, cast=int, low=0):
    try:
        v = cast(value)
    except ValueError:
        raise ValueError(f"bad agent spec {spec!r}: {key} must be a number, got {value!r}") from None
    if v < low:
        raise ValueError(f"bad agent spec {spec!r}: {key} must be at least {low}, got {v}")
    return v


def make_agent(spec, game="othello", size=8, komi=None, seed=0, move_timeout=30.0):
    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    if kind == "random" and not rest:
        return RandomAgent(seed)
    if kind == "greedy" and not rest:
        return GreedyAgent(seed)
    if kind == "mcts":
        if rest.strip().isdigit():
            rest = f"rollouts={rest.strip()}"
        o = split_options(spec, rest, ("rollouts", "per_leaf", "root", "c_puct"))
        sims = number(spec, "rollouts", o.get("rollouts", "200"), low=1)
        per_leaf = number(spec, "per_leaf", o.get("per_leaf", "1"), low=1)
        search = {"root": o.get("root", "puct")}
        if "c_puct" in o:
            search["c_puct"] = number(spec, "c_puct", o["c_puct"], float)
        agent = MCTSAgent(RolloutEvaluator(per_leaf, seed=seed), simulations=sims, seed=seed, **search)
        agent.name = spec
        return agent
    if kind == "az":
        path, _, opts = rest.partition(",")
        if not path:
            raise ValueError(f"bad agent spec {spec!r}: az needs a checkpoint path (az:runs/x/ckpt.pt,sims=64)")
        o = split_options(spec, opts, ("sims", "root", "temp"))
        import os

        from agents.evaluate import load_net
        from agents.checkpoints import latest

        if os.path.isdir(path):  # a run directory: its newest checkpoint
            found = latest(path)
            if found is None:
                raise ValueError(f"bad agent spec {spec!r}: no checkpoints in {path}/checkpoints")
            path = found
        net, cfg, _ = load_net(path)
        if (cfg.game, cfg.size) != (game, size):
            raise ValueError(f"{path} was trained on {cfg.game} {cfg.size}x{cfg.size}, not {game} {size}x{size}")
        sims = number(spec, "sims", o.get("sims", "64"))
        ev = TorchEvaluator(net)
        if sims == 0:
            return PolicyAgent(ev, number(spec, "temp", o.get("temp", "0"), float), seed=seed, name=spec)
        root = o.get("root", "gumbel")
        kw = {"root": "gumbel", "gumbel_scale": 0.0} if root == "gumbel" else {"root": root}
        agent = MCTSAgent(ev, simulations=sims, seed=seed, **kw)
        agent.name = spec
        return agent
    if kind == "seq":
        path, _, opts = rest.partition(",")
        if not path:
            raise ValueError(f"bad agent spec {spec!r}: seq needs a checkpoint path (seq:runs/x,temp=0)")
        o = split_options(spec, opts, ("temp", "legal_only"))
        legal_only = o.get("legal_only", "true").lower()
        if legal_only not in ("true", "false"):
            raise ValueError(f"bad agent spec {spec!r}: legal_only must be true or false")
        from agents.seq_agent import SeqAgent

        agent = SeqAgent(path, number(spec, "temp", o.get("temp", "0"), float), legal_only == "true", seed=seed,
                         name=spec)
        if (agent.tok.game, agent.tok.size) != (game, size):
            raise ValueError(f"{path} was trained on {agent.tok.game} {agent.tok.size}x{agent.tok.size}, not "
                             f"{game} {size}x{size}")
        return agent
    if kind == "gtp":
        if not rest.strip():
            raise ValueError(f"bad agent spec {spec!r}: gtp needs a command (gtp:/usr/games/gnugo --mode gtp)")
        from arena.gtp import GTPAgent

        return GTPAgent(rest.strip(), game, size, komi=komi, move_timeout=move_timeout, seed=seed, name=spec)
    raise ValueError(f"unknown agent spec {spec!r}; use one of: {FORMS}")
