"""``arena study``: pretraining + RL versus AlphaZero on one game, at matched compute, in one arena.

    arena study --config configs/study_othello6.yaml [--out runs/study_othello6] [--set key=value]
    arena study --report-only runs/study_othello6          # rebuild report.md/.html from the logs

The study is a list of stages, each a command of this CLI run as a child process with its output in
``OUT/logs/STAGE.log`` and its exact command line kept in ``OUT/stages.json`` (and the report):
datasets (``arena transcripts``), the arms (``arena train``, ``arena pretrain``, ``arena finetune``, see
arena.study.config), then, in this process, the measurements of every sequence model (legal-move error,
board probes: ``OUT/measure.json``), a tournament of every arm's checkpoints along the way with the
anchors (``arena tournament``, ``OUT/tournament/``), with ``ladder`` an ``arena ladder`` of every arm's
final player (``OUT/ladder/``; arena.study.measure) and the report (arena.study.report, arena.study.scale).
Inputs made beforehand (a pretrained GPT, an engine dataset, an AlphaZero run) are checked first
(arena.study.inputs).

``rl_scratch`` with ``rl_scratch_total`` is one run in two stages: ``rl_scratch`` to R (it ends with a save
at R, where it is rated), then ``rl_scratch_total`` resumes the same directory to P + R.

Nothing is lost: a finished stage is recorded and skipped on a rerun; an interrupted one (Ctrl-C, SIGTERM,
a kill) resumes from its last checkpoint with what is left of its wall-clock budget, so a rerun of the
same command finishes the study. A rerun with a different config, or with a trainer config file, the
pretrained GPT or the engine dataset changed since the first start, is refused (study.json records them).
"""

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, replace

from tqdm import tqdm

from agents.common import checkpoint
from agents.common.config import load_config
from agents.common.files import read_json, write_json
from agents.seq.pretrain import PretrainConfig
from arena.study.child import cli, run_child, tail
from arena.study.config import BEST_VAL, DEPENDS, GIVEN, RESOLVED, VIEW_OF, StudyConfig
from arena.study.inputs import check_inputs, engine_games_short, resolved, resolved_changes
from arena.study.measure import best_checkpoint, ladders, measure, tournament
from arena.study.measure import inventory, pick  # noqa: F401 (re-exported)
from arena.study.rated import ANCHORS, combine, rate_anchors, rate_run
from arena.study.report import write_report

DONE_MINUTES = 0.05  # an arm within 3 s of its budget has spent it


def held_out(games):
    """The validation share of a recorded dataset of ``games``: 5%, or 20 games where that is more."""
    return f"{min(0.5, max(0.05, 20 / games)):.3g}"


def sets(items):
    return [x for item in items for x in ("--set", item)]


# -- the plan ------------------------------------------------------------------------------------------

class Study:
    """One seed's study in ``out``: its datasets, runs (arena.study.config.RunSpec: an arm, or an RL arm at
    one of ``rl_seeds``) and their commands."""

    def __init__(self, cfg, out):
        self.cfg, self.out = cfg, out
        self.data = {k: os.path.join(out, "data", k) for k in ("random", "random_permuted", "expert", "engine")}
        if cfg.engine_data:
            self.data["engine"] = cfg.engine_data  # made beforehand: no stage makes it
        self.runs = {r.name: r for r in cfg.runs()}
        # The run directories a view's stage carries on (rl_scratch_sS when rl_scratch_total is an arm).
        self.carried = {self.run_dir(n) for n, r in self.runs.items() if r.arm in VIEW_OF}

    def arm_dir(self, name):
        """The directory a run trains in, ``OUT/NAME``."""
        return os.path.join(self.out, name)

    def run_dir(self, name):
        """Where a run's checkpoints are: its own directory; for a view (``rl_scratch_total``) the run it
        carries on; for ``az`` with ``az_run`` that run; for ``seq_pretrained`` the file."""
        r = self.runs.get(name)
        if r is None:
            return self.arm_dir(name)
        if self.cfg.given(r.arm):
            return self.cfg.given(r.arm)
        if r.arm in VIEW_OF:
            return self.arm_dir(VIEW_OF[r.arm] + name[len(r.arm):])  # rl_scratch_total_s1 -> rl_scratch_s1
        if r.arm == "az" and self.cfg.az_run:
            return self.cfg.az_run
        return self.arm_dir(name)

    def trains(self, name):
        """Whether a run is trained by a stage of this study (not read from a file or another study's run)."""
        r = self.runs[name]
        return not self.cfg.given(r.arm) and not (r.arm == "az" and self.cfg.az_run)

    def carried_on(self, name):
        """Whether a run's directory is carried on past its own budget by a view's stage: its own checkpoints
        are those its stage wrote (arena.study.measure.run_rows)."""
        return self.runs[name].arm not in VIEW_OF and self.run_dir(name) in self.carried

    def az_pin(self):
        """``az``'s checkpoint in ``az_run``, pinned at the first start (stages.json), or None."""
        return read_json(os.path.join(self.out, "stages.json"), {}).get("az_run")

    def start_path(self, arm):
        """What an RL arm's ``--init`` is: the given file, a ``BEST_VAL`` run's checkpoint of lowest validation
        loss (arena.study.measure.best_checkpoint), or a pretraining run's directory (its newest)."""
        if self.cfg.given(arm):
            return self.cfg.given(arm)
        best = best_checkpoint(self.arm_dir(arm)) if arm in BEST_VAL else None
        return best["path"] if best else self.arm_dir(arm)

    def preset(self):
        return load_config(PretrainConfig, self.cfg.pretrain_config, self.cfg.pretrain_set).preset

    def stages(self):
        """``[(name, kind)]`` in the order they run one after another; kinds: data, az, pretrain, finetune."""
        arms, out = self.cfg.arms, []
        if any(a.startswith(("seq_", "rl_")) for a in arms):
            out.append(("data_random", "data"))  # also the held-out games every sequence model is measured on
        if "seq_random_permuted" in arms:
            out.append(("data_random_permuted", "data"))
        if any(a in arms for a in ("seq_engine", "az_boot")) and not self.cfg.engine_data:
            out.append(("data_engine", "data"))
        out += [(a, "az") for a in ("az", "az_permuted", "az_boot") if a in arms and self.trains(a)]
        if "seq_expert" in arms:
            out.append(("data_expert", "data"))
        out += [(a, "pretrain") for a in arms if a.startswith("seq_") and self.trains(a)]
        rl = [name for name, r in self.runs.items() if r.arm.startswith("rl_") and self.trains(name)]
        out += [(name, "finetune") for name in rl if self.runs[name].arm not in VIEW_OF]
        return out + [(name, "finetune") for name in rl if self.runs[name].arm in VIEW_OF]  # after the runs they resume

    @staticmethod
    def needs(name):
        """The stages an arm's stage starts from (run before it, or at once when they are done)."""
        data = {"data_expert": ["az"], "seq_random": ["data_random"], "seq_random_permuted": ["data_random_permuted"],
                "seq_expert": ["data_expert"], "seq_engine": ["data_engine"], "az_boot": ["data_engine"]}
        return ([DEPENDS[name]] if name in DEPENDS else []) + data.get(name, [])

    def stage_needs(self, name):
        """:meth:`needs` of a stage of this study: an RL run at one of ``rl_seeds`` (or a variant) needs
        what its arm needs; a view's stage, the run it resumes (rl_scratch_total_s1: rl_scratch_s1)."""
        r = self.runs.get(name)
        if r is not None and r.arm in VIEW_OF:
            return [VIEW_OF[r.arm] + name[len(r.arm):]]
        return self.needs(r.arm if r is not None else name)

    def stage_minutes(self, name):
        """The wall-clock minutes (the cap under ``budget: flops``) a training stage runs for: its arm's
        (a variant's is its base arm's; ``rl_scratch``'s is R, and ``rl_scratch_total``'s stage carries that
        run on to P + R)."""
        return self.cfg.arm_minutes(self.runs[name].arm)

    def stage_flops(self, name):
        return self.cfg.arm_flops(self.runs[name].arm)

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
        run = self.runs[name]
        flops = [f"max_flops={self.stage_flops(name)!r}"] if c.budget == "flops" else []
        # Every trainer counts its budget across resumes itself (agents.common.run): each gets the whole.
        budget = [f"minutes={self.stage_minutes(name):.3f}", f"seed={run.seed}", *flops]
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
        start = DEPENDS.get(run.arm)
        init = "none" if start is None else self.start_path(start)
        # The budget (or max_steps), not the config's step count, ends an RL arm; from scratch it is the
        # pretrained arms' GPT. A variant's overrides come after the study's own. A view's stage resumes the
        # run it carries on: the same command but for its budget. ``$OUT`` in a variant's overrides is the
        # study's directory (mix_data=$OUT/data/random: the study's own random games).
        own = [x.replace("$OUT", self.out) for x in run.sets]
        return cli("finetune", "--config", c.finetune_config, "--init", init, "--run-dir", self.run_dir(name),
                   "--resume", *sets([f"game={c.game}", f"size={n}", f"preset={self.preset()}", *c.finetune_set,
                                      *own, *budget, f"steps={c.max_steps or 100000000}",
                                      f"threads={c.threads}"]))

    def left_minutes(self, name):
        """What is left of a stage's wall-clock budget (or cap): 0 once it is spent, once the run has taken
        ``max_steps`` steps, or, under ``budget: flops``, once it has spent its FLOPs."""
        c = self.cfg
        path = checkpoint.latest(self.run_dir(name))
        if path is None:
            return self.stage_minutes(name)
        ck = checkpoint.load(path)
        own = ck["config"].get("steps" if ck["trainer"] == "finetune" else "max_steps") or 0
        if (c.max_steps and ck["step"] >= c.max_steps) or (own and ck["step"] >= own):
            return 0.0  # the study's or the arm's own step count ended it
        if c.budget == "flops" and ck["compute"]["flops"] >= self.stage_flops(name):
            return 0.0
        return self.stage_minutes(name) - ck["compute"]["seconds"] / 60


# -- running -------------------------------------------------------------------------------------------

def check_config(cfg, out, inputs):
    """Refuse a rerun in ``out`` with another config, or with other ``inputs`` (arena.study.inputs.resolved:
    the trainer configs' contents, the given GPT's and engine dataset's fingerprints) than its first start;
    then write both to study.json."""
    have = read_json(os.path.join(out, "study.json"))
    was = have.pop(RESOLVED, None) if isinstance(have, dict) else None
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
    changed = resolved_changes(was or {}, inputs)
    if changed:
        raise ValueError(f"{out} was started with other inputs than these: {changed}; restore them to resume, or "
                         f"choose another --out")
    write_json(os.path.join(out, "study.json"), {**asdict(cfg), RESOLVED: {**(was or {}), **inputs}})


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
            manifest = read_json(os.path.join(path, "manifest.json"))
            if name == "data_engine" and manifest and engine_games_short(manifest, study.cfg.engine_games):
                manifest = None  # written from the games finished when a stop came: play the rest, write it again
            if os.path.isdir(path) and manifest is None:
                # An unfinished dataset (the manifest is written last): make it again. The engine's games log
                # (OUT/data/engine/games) is kept: arena transcripts plays only the games it lacks.
                for f in os.listdir(path):
                    if not (name == "data_engine" and f == "games"):
                        p = os.path.join(path, f)
                        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
            left = None
            if manifest is not None:  # finished, but stopped before it was recorded
                return None, os.path.join(study.out, "logs", f"{name}.log"), None
        else:
            left = study.left_minutes(name)
            start = DEPENDS.get(study.runs[name].arm) if kind == "finetune" else None
            if start and study.trains(start) and checkpoint.latest(study.run_dir(start)) is None:
                key = GIVEN.get(start)
                raise ValueError(f"{name} starts from {start}, which has no checkpoint at {study.run_dir(start)} "
                                 f"(trained on another machine?): " + (f"give it as {key}: FILE (arena export) in a "
                                                                       f"new study, or " if key else "")
                                 + f"delete {start}'s entries in {study.out}/stages.json to train it again")
        cmd = study.command(name, kind)
        logf = os.path.join(study.out, "logs", f"{name}.log")
        return (cmd if left is None or left > DONE_MINUTES else None), logf, left

    def data_missing(self, name):
        """Whether a dataset recorded as made is not here (a copy of the study without its datasets): it is
        made again, the same games from the same seed."""
        return not os.path.exists(os.path.join(self.study.data[name[len("data_"):]], "manifest.json"))

    def rate(self, names, log):
        """With ``rate_as_trained``: the anchors' games once, then each run of ``names`` not rated yet
        (arena.study.rated), each recorded in the state as ``rate:NAME`` when done."""
        for name in [ANCHORS, *names] if names else []:
            key = f"rate:{name}"
            if key in self.state:
                continue
            t0 = time.time()
            if name == ANCHORS:
                rate_anchors(self.study, log)
            else:
                rate_run(self.study, name, self.state, lambda: write_json(self.path, self.state), log)
            self.state[key] = {"seconds": round(time.time() - t0, 1)}
            write_json(self.path, self.state)

    def finish(self, name, kind, left, t0, ran, log):
        study = self.study
        if left is not None and checkpoint.latest(study.run_dir(name)) is None:
            raise ValueError(f"arm {name} wrote no checkpoint within its budget of {study.stage_minutes(name):.2f} "
                             f"min (start-up took it all?): raise minutes; see {study.out}/logs/{name}.log")
        # The command as a user types it; a training arm's minutes are its budget (a resume gets what is left).
        shown = study.command(name, kind)
        self.state[name] = {"command": ["arena", *shown[3:]],
                            "budget_minutes": None if left is None else study.stage_minutes(name),
                            "budget_flops": study.stage_flops(name) or None if left is not None else None,
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
    if cfg.parallel == "serial" or cfg.rate_as_trained:  # rated as trained: each run right after its stage
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
    studies = seed_studies(cfg, out)
    # A given input that cannot serve fails now, not hours in; az from az_run is pinned at the first start.
    pin = check_inputs(cfg, log, pinned=studies[0].az_pin())
    inputs = resolved(cfg)
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    check_config(cfg, out, inputs)
    if command:
        write_json(os.path.join(out, "command.json"), {"command": command})
    runs = []
    for study in studies:
        if study.out != out:
            os.makedirs(os.path.join(study.out, "logs"), exist_ok=True)
            check_config(study.cfg, study.out, inputs)
            if command:
                write_json(os.path.join(study.out, "command.json"), {"command": command})
        runs.append(Stages(study))
        if pin and runs[-1].state.get("az_run") != pin:
            runs[-1].state["az_run"] = pin
            write_json(runs[-1].path, runs[-1].state)
    n_train = sum(len(r.plan) for r in runs)
    unit = "GFLOPs" if cfg.budget == "flops" else "min"
    first = runs[0].study
    per_seed = sum((first.stage_flops(a) / 1e9 if cfg.budget == "flops" else first.stage_minutes(a))
                   for a, k in runs[0].plan if k != "data")
    log(f"study {out}: {len(runs)} seed(s) x {len(runs[0].plan)} training stages, then measurements, a tournament "
        f"and a report per seed; {per_seed:.4g} {unit} of arm budgets per seed (logs in */logs)")
    after = 3 if cfg.ladder else 2  # measure, tournament (and the ladders) per seed
    bar = tqdm(total=n_train + after * len(runs), unit="stage", dynamic_ncols=True,
               initial=sum(s in r.state for r in runs for s, _ in r.plan))
    try:
        if use_parallel(cfg, address, log):
            run_parallel(runs, cfg.threads, bar, log)
        else:
            for r in runs:
                given = [n for n in r.study.runs if not r.study.trains(n)] if cfg.rate_as_trained else []
                for name, kind in r.plan:
                    if kind != "data" and given:
                        r.rate(given, log)  # the given runs first, once the datasets are there
                        given = []
                    if name in r.state and not (kind == "data" and r.data_missing(name)):
                        r.rate([name] if kind != "data" and cfg.rate_as_trained else [], log)
                        continue
                    bar.set_description(name + seed_tag(r.study))
                    t0 = time.time()
                    cmd, logf, left = r.start(name, kind)
                    if cmd:
                        run_child(cmd, logf, f"stage {name}{seed_tag(r.study)}")
                    r.finish(name, kind, left, t0, cmd is not None, log)
                    bar.update(1)
                    r.rate([name] if kind != "data" and cfg.rate_as_trained else [], log)
                if given:  # a plan of datasets alone
                    r.rate(given, log)
        summary = None
        for r in runs:
            if cfg.rate_as_trained:
                combine(r.study, r.state, log)
                write_json(r.path, r.state)
                bar.update(after)
                summary = write_report(r.study.out, log=log)
                continue
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
            if cfg.ladder:
                bar.set_description("ladders" + seed_tag(r.study))
                ladders(r.study, r.state, lambda r=r: write_json(r.path, r.state), log)
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
                if all(n in r.state for n in r.study.stage_needs(name) if n in dict(r.plan)):
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


