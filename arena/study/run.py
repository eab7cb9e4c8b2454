"""``arena study``: pretraining + RL versus AlphaZero on one game, at matched compute, in one arena.

    arena study --config configs/study_othello6.yaml [--out runs/study_othello6] [--set key=value]
    arena study --report-only runs/study_othello6          # rebuild report.md/.html from the logs

The study is a list of stages, each a command of this CLI run as a child process with its output in
``OUT/logs/STAGE.log`` and its exact command line kept in ``OUT/stages.json`` (and the report):
datasets (``arena transcripts``), the arms (``arena train``, ``arena pretrain``, ``arena finetune``, see
arena.study.config), then, in this process, the measurements of every sequence model (legal-move error,
board probes: ``OUT/measure.json``), a tournament of every arm's checkpoints along the way with the
anchors (``arena tournament``, ``OUT/tournament/``) and the report (arena.study.report).

Nothing is lost: a finished stage is recorded and skipped on a rerun; an interrupted one (Ctrl-C, SIGTERM,
a kill) resumes from its last checkpoint with what is left of its wall-clock budget, so a rerun of the
same command finishes the study. A rerun with a different config is refused.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace

import numpy as np
import torch
import yaml
from tqdm import tqdm

from agents.common import checkpoint
from agents.common.config import load_config
from agents.common.files import read_json, write_json
from agents.common.tokenizer import Tokenizer
from agents.common.transcripts import Dataset, FreshGames, lists_to_batch
from agents.seq.legal import evaluate, legal_targets
from agents.seq.load import checkpoint_tokenizer, load_gpt
from agents.seq.pretrain import PretrainConfig
from agents.seq.probe import probe
from arena.study.config import DEPENDS, StudyConfig
from arena.study.report import write_report

DONE_MINUTES = 0.05  # an arm within 3 s of its budget has spent it


def cli(*args):
    return [sys.executable, "-m", "arena.cli", *map(str, args)]


def held_out(games):
    """The validation share of a recorded dataset of ``games``: 5%, or 20 games where that is more."""
    return f"{min(0.5, max(0.05, 20 / games)):.3g}"


def sets(items):
    return [x for item in items for x in ("--set", item)]


# -- the plan ------------------------------------------------------------------------------------------

class Study:
    """One seed's study in ``out``: its datasets, arms and their commands."""

    def __init__(self, cfg, out):
        self.cfg, self.out = cfg, out
        self.data = {k: os.path.join(out, "data", k) for k in ("random", "random_permuted", "expert", "engine")}

    def arm_dir(self, arm):
        return os.path.join(self.out, arm)

    def preset(self):
        return load_config(PretrainConfig, self.cfg.pretrain_config, self.cfg.pretrain_set).preset

    def stages(self):
        """``[(name, kind)]`` in the order they run one after another; kinds: data, az, pretrain, finetune."""
        arms, out = self.cfg.arms, []
        if any(a.startswith(("seq_", "rl_")) for a in arms):
            out.append(("data_random", "data"))  # also the held-out games every sequence model is measured on
        if "seq_random_permuted" in arms:
            out.append(("data_random_permuted", "data"))
        if any(a in arms for a in ("seq_engine", "az_boot")):
            out.append(("data_engine", "data"))
        out += [(a, "az") for a in ("az", "az_permuted", "az_boot") if a in arms]
        if "seq_expert" in arms:
            out.append(("data_expert", "data"))
        out += [(a, "pretrain") for a in arms if a.startswith("seq_")]
        out += [(a, "finetune") for a in arms if a.startswith("rl_")]
        return out

    @staticmethod
    def needs(name):
        """The stages a stage starts from (run before it, or at once when they are done)."""
        data = {"data_expert": ["az"], "seq_random": ["data_random"], "seq_random_permuted": ["data_random_permuted"],
                "seq_expert": ["data_expert"], "seq_engine": ["data_engine"], "az_boot": ["data_engine"]}
        return ([DEPENDS[name]] if name in DEPENDS else []) + data.get(name, [])

    def command(self, name, kind):
        """The stage's command line (a training arm's is the same at every resume: its trainer counts what
        it has spent)."""
        c, n = self.cfg, self.cfg.size
        if kind == "data":
            key = name[len("data_"):]
            base = ["transcripts", "--game", "othello", "--size", n, "--seed", c.seed, "--out", self.data[key]]
            # A recorded dataset holds out 5% of its games, or 20 on average where 5% would be fewer: the
            # split is by hash, and a few hundred games at 5% can leave none out.
            if key == "expert":
                return cli(*base, "--source", f"selfplay:{self.arm_dir('az')}", "--games", c.expert_games,
                           "--simulations", c.expert_simulations, "--val-fraction", held_out(c.expert_games))
            if key == "engine":
                return cli(*base, "--source", c.engine, "--levels", c.engine_levels, "--games", c.engine_games,
                           "--workers", c.workers, "--val-fraction", held_out(c.engine_games))
            perm = ["--permute", c.permute_seed] if key == "random_permuted" else []
            return cli(*base, "--games", c.random_games, *perm)
        flops = [f"max_flops={c.arm_flops(name)!r}"] if c.budget == "flops" else []
        # Every trainer counts its budget across resumes itself (agents.common.run): each gets the whole.
        budget = [f"minutes={c.arm_minutes(name):.3f}", f"seed={c.seed}", *flops]
        steps = [f"max_steps={c.max_steps}"] if c.max_steps else []
        if kind == "az":
            extra = [f"permute_squares={c.permute_seed}"] if name == "az_permuted" else []
            if name == "az_boot":
                extra = [f"init_transcripts={self.data['engine']}"]
            return cli("train", "--config", c.az_config, "--run-dir", self.arm_dir(name), "--resume",
                       *sets([f"game={c.game}", f"size={n}", *c.az_set, *budget, *steps, "keep_checkpoints=0", *extra]))
        if kind == "pretrain":
            key = {"seq_random": "random", "seq_random_permuted": "random_permuted", "seq_expert": "expert",
                   "seq_engine": "engine"}[name]
            # Recorded play has no legal-set target and no fresh games: its arms learn the moves as played.
            recorded = ["target=next_token", "fresh_games=false"] if key in ("expert", "engine") else []
            return cli("pretrain", "--config", c.pretrain_config, "--run-dir", self.arm_dir(name), "--resume",
                       *sets([*c.pretrain_set, f"data={self.data[key]}", *recorded, *budget, *steps,
                              "keep_checkpoints=0", f"threads={c.threads}"]))
        init = "none" if name == "rl_scratch" else self.arm_dir("seq_" + name[len("rl_"):])
        # The budget (or max_steps), not the config's step count, ends an RL arm; from scratch it is the
        # pretrained arms' GPT.
        return cli("finetune", "--config", c.finetune_config, "--init", init, "--run-dir", self.arm_dir(name),
                   "--resume", *sets([f"game={c.game}", f"size={n}", f"preset={self.preset()}", *c.finetune_set,
                                      *budget, f"steps={c.max_steps or 100000000}", f"threads={c.threads}"]))

    def left_minutes(self, arm):
        """What is left of an arm's wall-clock budget (or cap): 0 once it is spent, once the arm has taken
        ``max_steps`` steps, or, under ``budget: flops``, once it has spent its FLOPs."""
        c = self.cfg
        path = checkpoint.latest(self.arm_dir(arm))
        if path is None:
            return c.arm_minutes(arm)
        ck = checkpoint.load(path)
        own = ck["config"].get("steps" if ck["trainer"] == "finetune" else "max_steps") or 0
        if (c.max_steps and ck["step"] >= c.max_steps) or (own and ck["step"] >= own):
            return 0.0  # the study's or the arm's own step count ended it
        if c.budget == "flops" and ck["compute"]["flops"] >= c.arm_flops(arm):
            return 0.0
        return c.arm_minutes(arm) - ck["compute"]["seconds"] / 60


# -- running -------------------------------------------------------------------------------------------

def run_child(cmd, log_path, what):
    """Run ``cmd`` with its output appended to ``log_path``; a SIGTERM to the study is passed on, and
    the child is waited for (it checkpoints) before the study stops. An interrupted child raises
    KeyboardInterrupt; a failed one a ValueError naming ``what`` with the end of its log."""
    with open(log_path, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

        def forward(signum, frame):
            proc.send_signal(signum)
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, forward)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.wait()
            raise
        finally:
            signal.signal(signal.SIGTERM, old)
    if rc in (130, -signal.SIGINT, -signal.SIGTERM):
        raise KeyboardInterrupt
    if rc != 0:
        raise ValueError(f"{what} failed (exit {rc}); the end of {log_path}:\n" + tail(log_path))


def tail(path, lines=6):
    with open(path, errors="replace") as f:
        text = f.read().replace("\r", "\n").splitlines()
    return "\n".join([x for x in text if x.strip() and "%|" not in x][-lines:])


def check_config(cfg, out):
    have = read_json(os.path.join(out, "study.json"))
    if have is not None:  # a study written before a field existed has that field's default
        try:
            have = json.loads(json.dumps(asdict(type(cfg).from_dict(have))))
        except (TypeError, ValueError):
            pass  # unreadable as a config: reported as different below
    want = json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as the file reads back
    if have is not None and have != want:
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        raise ValueError(f"{out} holds a study with another config (differs in: {', '.join(diff)}); rerun it "
                         f"with the same config to resume, or choose another --out")
    write_json(os.path.join(out, "study.json"), asdict(cfg))


class Stages:
    """One seed's stages as they run: ``state`` (``OUT/stages.json``) records the finished ones."""

    def __init__(self, study):
        self.study = study
        self.path = os.path.join(study.out, "stages.json")
        self.state = read_json(self.path, {})
        self.plan = study.stages()

    def start(self, name, kind):
        """``(command, log file, left)``, or ``(None, log file, left)`` for an arm whose budget is spent;
        ``left`` is None for a dataset."""
        study = self.study
        if kind == "data":
            path = study.data[name[len("data_"):]]
            if os.path.isdir(path) and not os.path.exists(os.path.join(path, "manifest.json")):
                shutil.rmtree(path)  # an unfinished dataset (the manifest is written last): make it again
            left = None
            if os.path.exists(os.path.join(path, "manifest.json")):  # finished, but stopped before it was recorded
                return None, os.path.join(study.out, "logs", f"{name}.log"), None
        else:
            left = study.left_minutes(name)
        cmd = study.command(name, kind)
        logf = os.path.join(study.out, "logs", f"{name}.log")
        return (cmd if left is None or left > DONE_MINUTES else None), logf, left

    def finish(self, name, kind, left, t0, ran, log):
        study, cfg = self.study, self.study.cfg
        if left is not None and checkpoint.latest(study.arm_dir(name)) is None:
            raise ValueError(f"arm {name} wrote no checkpoint within its budget of {cfg.arm_minutes(name):.2f} min "
                             f"(start-up took it all?): raise minutes; see {study.out}/logs/{name}.log")
        # The command as a user types it; a training arm's minutes are its budget (a resume gets what is left).
        shown = study.command(name, kind)
        self.state[name] = {"command": ["arena", *shown[3:]],
                            "budget_minutes": None if left is None else cfg.arm_minutes(name),
                            "budget_flops": cfg.arm_flops(name) or None if left is not None else None,
                            "seconds": round(time.time() - t0, 1)}
        write_json(self.path, self.state)
        logf = os.path.join(study.out, "logs", f"{name}.log")
        log(f"\nstage {name}{seed_tag(study)} done in {(time.time() - t0) / 60:.1f} min: "
            + (tail(logf, 1) if ran else "its budget was already spent"))


def seed_tag(study):
    return f" (seed {study.cfg.seed})" if os.path.basename(study.out).startswith("seed_") else ""


def seed_studies(cfg, out):
    """``[Study]``: one in ``out`` itself, or one per seed in ``out/seed_S`` (each with its own study.json,
    so ``--report-only`` rebuilds any of them)."""
    if not cfg.seeds:
        return [Study(cfg, out)]
    return [Study(replace(cfg, seed=s, seeds=()), os.path.join(out, f"seed_{s}")) for s in cfg.seeds]


def use_parallel(cfg, address, log=print):
    """Whether the stages run at once as Ray tasks (``StudyConfig.parallel``)."""
    if cfg.parallel == "serial":
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if cfg.parallel == "auto" and not address:
        return False  # one machine: one stage after another, each with the whole machine
    from agents.common.cluster import connect
    import ray

    connect(address, namespace=f"study-{os.getpid()}")
    cpus = ray.cluster_resources().get("CPU", 0)
    largest = max((n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if largest < cfg.threads:
        raise ValueError(f"no node of the Ray cluster has {cfg.threads} CPUs for a stage (the largest has "
                         f"{largest:g}): lower threads, or run with parallel: serial")
    if cfg.parallel == "auto" and cpus < 2 * cfg.threads:
        log(f"study: the Ray cluster has {cpus:g} CPUs, room for fewer than two arms of {cfg.threads} threads: "
            f"one stage after another")
        return False
    log(f"study: stages that do not wait on each other run at once as Ray tasks ({cpus:g} CPUs, {cfg.threads} "
        f"per stage)")
    return True


def run_study(cfg, out, log=print, command=None, address=None):
    """Run (or resume) every stage of every seed, then measure, rate and report each seed and, with
    ``seeds``, the seeds together. Returns the (last) report's summary dict."""
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    check_config(cfg, out)
    if command:
        write_json(os.path.join(out, "command.json"), {"command": command})
    studies = seed_studies(cfg, out)
    runs = []
    for study in studies:
        if study.out != out:
            os.makedirs(os.path.join(study.out, "logs"), exist_ok=True)
            check_config(study.cfg, study.out)
            if command:
                write_json(os.path.join(study.out, "command.json"), {"command": command})
        runs.append(Stages(study))
    n_train = sum(len(r.plan) for r in runs)
    unit = "GFLOPs" if cfg.budget == "flops" else "min"
    per_seed = sum((cfg.arm_flops(a) / 1e9 if cfg.budget == "flops" else cfg.arm_minutes(a))
                   for a, k in runs[0].plan if k != "data")
    log(f"study {out}: {len(runs)} seed(s) x {len(runs[0].plan)} training stages, then measurements, a tournament "
        f"and a report per seed; {per_seed:.4g} {unit} of arm budgets per seed (logs in */logs)")
    bar = tqdm(total=n_train + 2 * len(runs), unit="stage", dynamic_ncols=True,
               initial=sum(s in r.state for r in runs for s, _ in r.plan))
    try:
        if use_parallel(cfg, address, log):
            run_parallel(runs, cfg.threads, bar, log)
        else:
            for r in runs:
                for name, kind in r.plan:
                    if name in r.state:
                        continue
                    bar.set_description(name + seed_tag(r.study))
                    t0 = time.time()
                    cmd, logf, left = r.start(name, kind)
                    if cmd:
                        run_child(cmd, logf, f"stage {name}{seed_tag(r.study)}")
                    r.finish(name, kind, left, t0, cmd is not None, log)
                    bar.update(1)
        summary = None
        for r in runs:
            bar.set_description("measure" + seed_tag(r.study))
            if "measure" not in r.state:
                t0 = time.time()
                measure(r.study, log)
                r.state["measure"] = {"seconds": round(time.time() - t0, 1)}
                write_json(r.path, r.state)
            bar.update(1)
            bar.set_description("tournament" + seed_tag(r.study))
            tournament(r.study, r.state, log)
            write_json(r.path, r.state)
            bar.update(1)
            summary = write_report(r.study.out, log=log)
    except KeyboardInterrupt:
        bar.close()
        raise KeyboardInterrupt(f"study interrupted; rerun the same command to resume ({out})") from None
    bar.close()
    if cfg.seeds:
        from arena.study.seeds import write_seed_report

        summary = write_seed_report(out, log=log)
    return summary


def rebuild_report(out):
    """Rewrite a study's reports from its logs, running nothing (``arena study --report-only``): each
    seed's and the one across seeds, or the one report of a study without seeds."""
    saved = read_json(os.path.join(out, "study.json"))
    seeds = StudyConfig.from_dict(saved).seeds if saved else ()
    for s in seeds:
        write_report(os.path.join(out, f"seed_{s}"))
    if not seeds:
        return write_report(out)
    from arena.study.seeds import write_seed_report

    return write_seed_report(out)


def _stage_task(cmd, log_path, cwd):
    """A stage as a Ray task: its command on the node the task landed on (the study directory must be on
    a file system every node shares). An interrupted task stops its child, which checkpoints."""
    with open(log_path, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            return proc.wait()
        except BaseException:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise


def run_parallel(runs, threads, bar, log):
    """Every stage of every seed as a Ray task of ``threads`` CPUs, each once the stages it starts from are
    done, as many at once as the cluster has room for."""
    import ray

    task = ray.remote(num_cpus=threads, max_retries=0)(_stage_task)
    waiting = [(r, name, kind) for r in runs for name, kind in r.plan if name not in r.state]
    running = {}
    try:
        while waiting or running:
            for item in list(waiting):
                r, name, kind = item
                if all(n in r.state for n in Study.needs(name) if n in dict(r.plan)):
                    waiting.remove(item)
                    t0 = time.time()
                    cmd, logf, left = r.start(name, kind)
                    if cmd is None:
                        r.finish(name, kind, left, t0, False, log)
                        bar.update(1)
                        continue
                    running[task.remote(cmd, os.path.abspath(logf), os.getcwd())] = (r, name, kind, left, t0, logf)
            if not running:
                if waiting:
                    raise ValueError(f"stages {[n for _, n, _ in waiting]} wait on stages that are not planned")
                break
            done, _ = ray.wait(list(running), num_returns=1)
            r, name, kind, left, t0, logf = running.pop(done[0])
            rc = ray.get(done[0])
            if rc in (130, -signal.SIGINT, -signal.SIGTERM):
                raise KeyboardInterrupt
            if rc != 0:
                raise ValueError(f"stage {name}{seed_tag(r.study)} failed (exit {rc}); the end of {logf}:\n"
                                 + tail(logf))
            r.finish(name, kind, left, t0, True, log)
            bar.update(1)
    finally:
        for ref in running:
            ray.cancel(ref)  # KeyboardInterrupt in the task: it stops its child, which checkpoints


# -- checkpoints and their compute -------------------------------------------------------------------

def checkpoint_compute(ck):
    """One checkpoint's own training compute, in the study's units, straight from the checkpoint's
    ``compute`` (agents.common.checkpoint.COMPUTE, the same keys for every trainer)."""
    c = ck["compute"]
    return {"seconds": c["seconds"], "forward": c["forward_passes"], "flops": c["flops"],
            "reward_events": c["reward_events"], "games": c["games"], "trained": c["trained"],
            "positions": c.get("positions", 0)}


def feedback_of(ck):
    """What an arm's training targets were, for the report's bits of feedback: the trainer and its
    target; AlphaZero's simulations per full search, the share of moves searched in full (the trained
    ones, under playout-cap randomization), its auxiliary heads and an engine bootstrap's positions and
    games."""
    cfg, meta = ck["config"], ck.get("meta") or {}
    if ck["trainer"] == "pretrain":
        return {"target": cfg.get("target", "next_token")}
    if ck["trainer"] == "finetune":
        return {"target": "outcome"}
    boot = meta.get("bootstrap") or {}
    return {"target": "search", "simulations": cfg["simulations"], "full_share": cfg.get("full_search_prob", 1.0),
            "aux": bool(cfg.get("ownership_weight", 0)),
            "bootstrap_positions": boot.get("positions", 0), "bootstrap_games": boot.get("games", 0)}


def mean_legal_moves(game, size, games=300, seed=0):
    """The mean number of legal moves over the positions of uniformly random games (a position with a
    move to choose), measured with the rules kernels: the size of the choice a policy target spreads over."""
    tok = Tokenizer(game, size)
    rows = FreshGames(tok, seed).sample(0, games)
    n = legal_targets(tok, rows).sum(-1)
    return float(n[n > 0].mean())


def inventory(study):
    """``{arm: [{path, step, **compute}]}`` over every checkpoint of every arm, oldest first, plus the
    expert dataset's cost under ``data_expert``."""
    inv = {}
    for arm in study.cfg.arms:
        d = os.path.join(study.arm_dir(arm), "checkpoints")
        rows = []
        for f in sorted(x for x in os.listdir(d) if x.endswith(".pt")) if os.path.isdir(d) else []:
            ck = checkpoint.load(os.path.join(d, f))
            rows.append({"path": os.path.join(d, f), "step": ck["step"], **checkpoint_compute(ck)})
        inv[arm] = rows
    for key in ("expert", "engine"):  # what the expert and engine datasets cost to make
        manifest = read_json(os.path.join(study.data[key], "manifest.json"))
        if manifest:
            c = manifest.get("compute", {})
            inv[f"data_{key}"] = {"seconds": manifest.get("seconds", 0.0), "forward": c.get("forward_positions", 0),
                                  "flops": c.get("flops", 0), "games": manifest["counts"]["generated"],
                                  "reward_events": 0, "trained": 0}
    return inv


def feedback(study, inv):
    """``{arm: feedback_of(its final checkpoint)}`` and the game's ``mean_legal_moves``."""
    out = {arm: feedback_of(checkpoint.load(inv[arm][-1]["path"])) for arm in study.cfg.arms if inv.get(arm)}
    out["mean_legal_moves"] = mean_legal_moves(study.cfg.game, study.cfg.size)
    return out


def pick(rows, k):
    """``k`` checkpoints evenly spaced in wall-clock, the last included (fewer if fewer exist)."""
    if not rows:
        return []
    end = rows[-1]["seconds"]
    chosen = []
    for i in range(1, k + 1):
        target = end * i / k
        best = min(rows, key=lambda r: abs(r["seconds"] - target))
        if best not in chosen:
            chosen.append(best)
    if rows[-1] not in chosen:
        chosen.append(rows[-1])
    return sorted(chosen, key=lambda r: r["seconds"])


def players(study, inv):
    """``({name: spec}, {name: (arm, search, checkpoint row)}, focus)``: anchors, then each arm's chosen
    checkpoints (``arm@PCT`` along the way, ``arm`` at the end; AlphaZero also ``*_nosearch``). The focus,
    which meets everyone, is the anchors and every arm's final player."""
    cfg = study.cfg
    roster, meta, focus = {}, {}, []
    for item in cfg.anchors:
        name, _, spec = item.partition("=")
        name, spec = (name.strip(), spec.strip()) if spec else (item.strip(), item.strip())
        roster[name] = spec
        focus.append(name)
    for arm in cfg.arms:
        chosen = pick(inv.get(arm, []), cfg.checkpoints)
        for row in chosen:
            final = row is chosen[-1]
            tag = "" if final else f"@{round(100 * row['seconds'] / max(chosen[-1]['seconds'], 1e-9))}"
            variants = [(arm, f"sims={cfg.az_sims}"), (f"{arm}_nosearch", "sims=0")] if arm.startswith("az") \
                else [(arm, None)]
            for base, opt in variants:
                name = base + tag
                roster[name] = f"az:{row['path']},{opt}" if opt else f"seq:{row['path']},temp=0"
                meta[name] = {"arm": base, "search": opt != "sims=0" if opt else False, "final": final, **row}
                if final:
                    focus.append(name)
    return roster, meta, focus


# -- measurements and the tournament -----------------------------------------------------------------

def held_out_rows(study, key, tok, games):
    """Held-out games of dataset ``key`` re-encoded in ``tok``'s ids (a permuted model reads its own)."""
    path = study.data[key]
    if not os.path.exists(os.path.join(path, "manifest.json")):
        return None
    data = Dataset(path)
    rows = data.rows("val", games)
    if tok.permutation == data.tokenizer.permutation:
        return rows
    actions, lengths = lists_to_batch([data.tokenizer.decode(r) for r in rows])
    return tok.encode_batch(actions, lengths).astype(np.int64)


def measure(study, log=print):
    """Legal-move error on held-out random and expert games and linear board probes on the random ones,
    for every sequence model's final checkpoint; ``OUT/measure.json``."""
    torch.set_num_threads(study.cfg.threads)
    out = {}
    for arm in study.cfg.arms:
        if arm.startswith("az"):
            continue
        model, ck = load_gpt(study.arm_dir(arm))
        tok = checkpoint_tokenizer(ck)
        row = {"step": ck["step"]}
        held = {key: held_out_rows(study, key, tok, study.cfg.eval_games) for key in ("random", "expert")}
        for key, rows in held.items():
            if rows is not None:
                m = evaluate(model, rows, legal_targets(tok, rows), "cpu")
                row[f"legal_error_{key}"] = m["legal_error"]
                row[f"val_loss_{key}"] = m["val_loss"]
        rep = probe(study.arm_dir(arm), kinds=("linear",), rows=held["random"], log=lambda *_: None,
                    out=os.path.join(study.out, "probes", arm))
        for name in ("relative", "absolute"):
            accs = rep["results"][f"linear/{name}"]
            row[f"probe_{name}"] = max(accs)
            row[f"probe_{name}_layer"] = int(max(range(len(accs)), key=accs.__getitem__))
            row[f"probe_{name}_majority"] = rep["majority"][name]
        out[arm] = row
        log(f"measure {arm}: legal error {100 * row['legal_error_random']:.1f}% (random games), linear probe "
            f"{100 * row['probe_relative']:.1f}% (layer {row['probe_relative_layer']})")
    write_json(os.path.join(study.out, "measure.json"), out)
    return out


def tournament(study, state, log=print):
    """Rate every chosen checkpoint with the anchors (a gauntlet whose focus is the anchors and every
    arm's final player), resumably, through ``arena tournament``."""
    cfg = study.cfg
    out = os.path.join(study.out, "tournament")
    if "tournament" in state and os.path.exists(os.path.join(out, "ratings.json")):
        return
    inv = inventory(study)
    roster, meta, focus = players(study, inv)
    write_json(os.path.join(study.out, "inventory.json"), {"checkpoints": inv, "players": meta,
                                                           "feedback": feedback(study, inv)})
    tcfg = {"game": cfg.game, "size": cfg.size, "players": roster, "mode": "gauntlet", "focus": ",".join(focus),
            "games": cfg.games, "openings": cfg.games // 2, "opening_plies": cfg.opening_plies, "balance": 1.0,
            "anchor": focus[0], "workers": cfg.workers, "seed": cfg.seed}
    path = os.path.join(study.out, "tournament.yaml")
    with open(path, "w") as f:
        f.write("# Written by arena study: every arm's checkpoints along the way and the anchors.\n")
        yaml.safe_dump(tcfg, f, sort_keys=False)
    cmd = cli("tournament", "--config", path, "--out", out)
    t0 = time.time()
    run_child(cmd, os.path.join(study.out, "logs", "tournament.log"), "the tournament")
    state["tournament"] = {"command": ["arena", *cmd[3:]], "seconds": round(time.time() - t0, 1)}
    log(f"\ntournament done in {(time.time() - t0) / 60:.1f} min: {len(roster)} players")

