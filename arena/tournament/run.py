"""Tournaments: round-robin or gauntlet, games in batches and in parallel as Ray tasks, resumable, rated at the end.

    arena tournament --config configs/tournament_othello8.yaml --out runs/tour8

The results directory holds:
    tournament.json     the config (a rerun must agree with it; new players or more games are added), and
                        ``resolved``: each player's spec as built, ``inference=auto`` replaced by the backend chosen
    openings.json       the opening move lists (when ``openings`` > 0)
    games.jsonl         one line per finished game, appended as it ends; a rerun skips those games
    ratings.{md,csv,json,png}, records (sgf/ or transcripts.txt), viewer.html   written at the end

Each game has a stable id ``A|B|k`` (A < B by name, k-th game of the pair; A is black in even k) and a
seed derived from the config's seed and that id.

Games are played in batches: each pair's games, in order, are cut into chunks of ``batch_games``, and a
chunk's games advance together in one ``envs.core`` batch, each player acting once per ply on all the
games where it is to move (arena.match.driver.play_games, over agents.match). A chunk is one Ray task (or,
with ``workers: 0``, one batch in this process), and its records come back and are appended as its games
end. A pair with a player that sees one game at a time (``gtp:`` engines: ``SingleGameAgent``) is played
one game per task, as ``arena.match.driver.play_game``; ``seq:`` models play batches like the others.

What stays the same: every side of every game draws its random numbers from its own stream, seeded from
the game's seed (agents.search.streams), so the baseline players (random, greedy, mcts rollouts) play the
same games at any ``batch_games``, in any company, with any number of workers, and as ``play_game`` would
alone. A network's forward pass can differ in the last float bits with its batch size, so games with an
``az:`` player are fixed by the chunking, which depends on the config only (``batch_games``; every chunk
runs torch on one thread wherever it runs): the number of workers never changes them. A net player under
``inference=auto`` chooses its backend once, in the driver, by timing; the workers and any resume are sent
the spec naming that backend (``resolved``), never timing again. On a resume, a chunk
with an ``az:`` player that was cut off part-way is played again whole, its finished games not recorded
twice, so those games too are the uninterrupted run's. External engines are as deterministic as their own
flags make them.
"""

import os
import zlib
from contextlib import contextmanager
from dataclasses import asdict

import torch
from tqdm import tqdm

from agents.common import cluster
from agents.common.files import read_json, write_json
from agents.match import balanced_openings
from agents.players import is_baseline
from arena.match.driver import play_game, play_games
from arena.specs import make_agent
from arena.tournament.config import TournamentConfig
from arena.tournament.report import write_outputs
from arena.tournament.results import append_game, read_games
from envs.game import Game

_AGENTS = {}  # per process (the driver or a Ray worker): agents are built once and reset per game
# Per process: (name, spec, game, size, komi) -> the spec that player is built from, as it resolved in the
# driver (resolve_players); a spec not here is built as it is.
_RESOLVED = {}


# -- the schedule ----------------------------------------------------------------------------------------

def make_openings(cfg):
    """``cfg.openings`` distinct random openings (lists of moves in notation), the most balanced first
    among those within ``cfg.balance`` of even by a rollout search; deterministic in ``cfg.seed``
    (agents.match.balanced_openings, the openings of every match)."""
    ops = balanced_openings(cfg.game, cfg.size, cfg.openings, cfg.opening_plies, cfg.seed, cfg.balance, **_komi(cfg))
    g = Game(cfg.game, cfg.size, **_komi(cfg))
    return [[g.move_str(a) for a in o] for o in ops]


def _komi(cfg):
    return {"komi": cfg.komi_value()} if cfg.game == "go" else {}


def game_seed(cfg, gid):
    return zlib.crc32(f"{cfg.seed}|{gid}".encode()) & 0x7FFFFFFF


def schedule(cfg):
    """Every game of the tournament as a job dict (id, black, white, pair, k, opening, seed)."""
    jobs = []
    for a, b in cfg.pairs():
        for k in range(cfg.games):
            black, white = (a, b) if k % 2 == 0 else (b, a)
            gid = f"{a}|{b}|{k}"
            jobs.append({"id": gid, "black": black, "white": white, "pair": [a, b], "k": k,
                         "opening": (k // 2) % cfg.openings if cfg.openings else -1, "seed": game_seed(cfg, gid)})
    return jobs


# -- playing -------------------------------------------------------------------------------------------

def agent_for(cfg, name):
    spec = cfg.roster()[name]
    spec = _RESOLVED.get((name, spec, cfg.game, cfg.size, cfg.komi), spec)
    key = (name, spec, cfg.game, cfg.size, cfg.komi)
    if key not in _AGENTS:
        _AGENTS[key] = make_agent(spec, cfg.game, cfg.size, cfg.komi_value(), seed=0, move_timeout=cfg.move_timeout,
                                  batch=cfg.batch_games)
    return _AGENTS[key]


def resolve_players(cfg, pinned=None):
    """Build every player, from ``pinned[name]`` where given (the spec a first run resolved, for a
    resume), and return ``{name: spec}``, the spec each was built as with ``inference=auto`` replaced by
    the backend chosen (arena.specs.resolve_spec). Until :func:`close_agents` this process builds each
    player from that spec; :func:`run_parallel` hands the mapping to the workers."""
    out = {}
    for name, spec in cfg.roster().items():
        key = (name, spec, cfg.game, cfg.size, cfg.komi)
        if name in (pinned or {}):
            _RESOLVED[key] = pinned[name]
        built = _RESOLVED.get(key, spec)
        out[name] = getattr(agent_for(cfg, name), "resolved_spec", built)
        if out[name] != built:  # auto chose just now: the agent is kept under the spec naming its choice
            _AGENTS[(name, out[name], *key[2:])] = _AGENTS.pop((name, built, *key[2:]))
        _RESOLVED[key] = out[name]
    return out


def chunks(cfg, jobs):
    """``jobs`` (in schedule order) cut into the batches they are played in: each pair's games in order,
    ``cfg.batch_games`` at a time, or one at a time where a player sees one game at a time. A function of
    the config alone, so a game's batch never depends on the workers or on what is left to play."""
    by_pair = {}
    for j in jobs:
        by_pair.setdefault(tuple(j["pair"]), []).append(j)
    out = []
    for (a, b), pair in by_pair.items():
        n = cfg.batch_games if agent_for(cfg, a).plays_batches and agent_for(cfg, b).plays_batches else 1
        out += [pair[i: i + n] for i in range(0, len(pair), n)]
    return out


def batch_exact(cfg, chunk):
    """Whether the chunk's games are the same in any batch (baseline players only; see the module docstring)."""
    return all(is_baseline(cfg.roster()[name]) for name in chunk[0]["pair"])


def run_job(cfg, job, openings):
    """Play one scheduled game; returns the job with the game's record merged in."""
    opening = openings[job["opening"]] if job["opening"] >= 0 else []
    rec = play_game(agent_for(cfg, job["black"]), agent_for(cfg, job["white"]), cfg.game, cfg.size,
                    cfg.komi_value(), opening=opening, seed=job["seed"])
    return {**job, **rec, "opening_moves": len(opening)}


@contextmanager
def one_thread():
    # Torch on one thread wherever a chunk runs (a worker or this process): the same arithmetic everywhere,
    # and in a worker the other workers are the parallelism.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_chunk(cfg, chunk, openings):
    """Play a chunk of games (see :func:`chunks`); yields each game's record, merged into its job, as it ends."""
    with one_thread():
        if len(chunk) == 1:
            yield run_job(cfg, chunk[0], openings)
            return
        opening = [openings[j["opening"]] if j["opening"] >= 0 else [] for j in chunk]
        for i, rec in play_games([agent_for(cfg, j["black"]) for j in chunk],
                                 [agent_for(cfg, j["white"]) for j in chunk], cfg.game, cfg.size,
                                 cfg.komi_value(), opening, [j["seed"] for j in chunk]):
            yield {**chunk[i], **rec, "opening_moves": len(opening[i])}


def close_agents():
    for agent in _AGENTS.values():
        if hasattr(agent, "close"):
            agent.close()
    _AGENTS.clear()
    _RESOLVED.clear()


def _remote_chunk(cfg_dict, chunk, openings, resolved):
    cfg = TournamentConfig.from_dict(cfg_dict)
    _RESOLVED.update({(name, spec, cfg.game, cfg.size, cfg.komi): resolved[name]
                      for name, spec in cfg.roster().items() if name in resolved})
    yield from run_chunk(cfg, chunk, openings)


# -- the results directory -------------------------------------------------------------------------------

def config_dict(cfg):
    d = asdict(cfg)
    d["players"] = list(d["players"])
    return d


def check_resume(cfg, out):
    """Refuse a results directory made by a different tournament; returns the finished games."""
    if os.path.exists(os.path.join(out, "tournament.json")):
        old_cfg = TournamentConfig.from_results(out)
        for key in ("game", "size", "komi", "openings", "opening_plies", "balance", "seed"):
            if getattr(old_cfg, key) != getattr(cfg, key):
                raise ValueError(f"{out} holds a tournament with {key}={getattr(old_cfg, key)!r}, not "
                                 f"{getattr(cfg, key)!r}: use another --out or the same config")
        for name, spec in cfg.roster().items():
            if old_cfg.roster().get(name, spec) != spec:
                raise ValueError(f"{out}: player {name!r} was {old_cfg.roster()[name]!r} there, now {spec!r}; "
                                 f"give the new one another name")
    return read_games(out)


def standings(games, names):
    """``{name: (score, games)}`` over finished games."""
    s = {n: [0.0, 0] for n in names}
    for g in games:
        if g["black"] in s and g["white"] in s:
            s[g["black"]][0] += g["result"]
            s[g["white"]][0] += 1 - g["result"]
            s[g["black"]][1] += 1
            s[g["white"]][1] += 1
    return s


def live_line(games, names):
    s = standings(games, names)
    order = sorted(names, key=lambda n: -(s[n][0] / s[n][1]) if s[n][1] else 0)
    return " ".join(f"{n} {100 * s[n][0] / s[n][1]:.0f}%" for n in order if s[n][1])


def run_tournament(cfg, out, address=None, progress=True, log=print):
    """Play every game not yet in ``out/games.jsonl``, then write ratings, records and the viewer.
    Returns the rating report dict. Every spec is built (and every engine started) before anything is
    written, so a typo leaves ``out`` as it was."""
    done = check_resume(cfg, out)
    names = list(cfg.roster())
    try:  # a bad spec, model file or engine command fails now, in one line
        # A resume builds its players as the first run resolved them (check_resume: same specs).
        resolved = resolve_players(cfg, read_json(os.path.join(out, "tournament.json"), {}).get("resolved", {}))
        for name in names:
            agent = agent_for(cfg, name)
            if hasattr(agent, "check"):
                agent.check()
    except Exception:
        close_agents()
        raise
    opath = os.path.join(out, "openings.json")
    openings = make_openings(cfg)
    if read_json(opath, openings) != openings:
        raise ValueError(f"{opath} differs from the openings this config makes; use another --out")
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "tournament.json"), {**config_dict(cfg), "resolved": resolved})
    write_json(opath, openings)
    finished = {g["id"] for g in done}
    todo = [j for j in schedule(cfg) if j["id"] not in finished]
    # A chunk cut off part-way plays what it has left, or, where its games depend on the batch (a net
    # player), all of it again with its finished games left unrecorded.
    work = []
    for chunk in chunks(cfg, schedule(cfg)):
        left = [j for j in chunk if j["id"] not in finished]
        if left:
            work.append(left if batch_exact(cfg, chunk) else chunk)
    games = [g for g in done if g["black"] in names and g["white"] in names]
    log(f"tournament: {len(names)} players, {len(cfg.pairs())} pairs, {len(todo)} games to play "
        f"({len(finished)} already in {out}/games.jsonl)")
    bar = tqdm(total=len(todo), disable=not progress or not todo, unit="game", dynamic_ncols=True)

    def record(rec):
        if rec["id"] in finished:  # a game replayed with its chunk, or sent again by a retried task
            return
        finished.add(rec["id"])
        append_game(out, rec)
        games.append(rec)
        bar.update(1)
        bar.set_postfix_str(live_line(games, names), refresh=False)

    try:
        if cfg.workers == 0 or not work:
            for chunk in work:
                for rec in run_chunk(cfg, chunk, openings):
                    record(rec)
        else:
            run_parallel(cfg, work, openings, record, address, resolved)
    finally:
        bar.close()
        close_agents()
    return write_outputs(cfg, out, games, openings, log=log)


def run_parallel(cfg, work, openings, record, address=None, resolved=None):
    """Each chunk of ``work`` as a Ray task that streams its games back as they end (a generator task);
    ``record`` gets each game once. ``resolved``: ``{name: spec}`` the workers build the players from
    (:func:`resolve_players`); the config's specs otherwise."""
    import ray  # here, not at the top: a tournament with workers 0 never pays for importing Ray

    started = cluster.connect(address, namespace=f"arena-tournament-{os.getpid()}", num_cpus=cfg.workers)
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_remote_chunk)
        cfg_ref, open_ref = ray.put(config_dict(cfg)), ray.put(openings)
        pending = [task.remote(cfg_ref, chunk, open_ref, resolved or {}) for chunk in work]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                ref = next(ready[0])
            except StopIteration:  # the chunk is done
                continue
            pending.append(ready[0])
            try:
                rec = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # an agent's error in a worker: one line, games kept
                cause = e.cause if getattr(e, "cause", None) is not None else e
                raise ValueError(f"a game failed in a worker: {type(cause).__name__}: {cause}") from None
            record(rec)
    finally:
        if started:
            ray.shutdown()
