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
from dataclasses import asdict

import numpy as np
import torch
import yaml
from tqdm import tqdm

from agents.common import checkpoint
from agents.common.config import load_config
from agents.common.files import read_json, write_json
from agents.common.transcripts import Dataset, lists_to_batch
from agents.seq.legal import evaluate, legal_targets
from agents.seq.load import checkpoint_tokenizer, load_gpt
from agents.seq.pretrain import PretrainConfig
from agents.seq.probe import probe
from arena.study.report import write_report

DONE_MINUTES = 0.05  # an arm within 3 s of its budget has spent it


def cli(*args):
    return [sys.executable, "-m", "arena.cli", *map(str, args)]


def sets(items):
    return [x for item in items for x in ("--set", item)]


# -- the plan ------------------------------------------------------------------------------------------

class Study:
    def __init__(self, cfg, out):
        self.cfg, self.out = cfg, out
        self.data = {k: os.path.join(out, "data", k) for k in ("random", "random_permuted", "expert")}

    def arm_dir(self, arm):
        return os.path.join(self.out, arm)

    def preset(self):
        return load_config(PretrainConfig, self.cfg.pretrain_config, self.cfg.pretrain_set).preset

    def stages(self):
        """``[(name, kind)]`` in the order they run; kinds: data, az, pretrain, finetune."""
        arms, out = self.cfg.arms, []
        if any(a.startswith(("seq_", "rl_")) for a in arms):
            out.append(("data_random", "data"))  # also the held-out games every sequence model is measured on
        if "seq_random_permuted" in arms:
            out.append(("data_random_permuted", "data"))
        out += [(a, "az") for a in ("az", "az_permuted") if a in arms]
        if "seq_expert" in arms:
            out.append(("data_expert", "data"))
        out += [(a, "pretrain") for a in arms if a.startswith("seq_")]
        out += [(a, "finetune") for a in arms if a.startswith("rl_")]
        return out

    def command(self, name, kind, minutes):
        """The stage's command line; ``minutes`` is what is left of a training arm's budget."""
        c, n = self.cfg, self.cfg.size
        if kind == "data":
            key = name[len("data_"):]
            base = ["transcripts", "--game", "othello", "--size", n, "--seed", c.seed, "--out", self.data[key]]
            if key == "expert":
                return cli(*base, "--source", f"selfplay:{self.arm_dir('az')}", "--games", c.expert_games,
                           "--simulations", c.expert_simulations)
            perm = ["--permute", c.permute_seed] if key == "random_permuted" else []
            return cli(*base, "--games", c.random_games, *perm)
        budget = [f"minutes={minutes:.3f}", f"seed={c.seed}"]
        steps = [f"max_steps={c.max_steps}"] if c.max_steps else []
        if kind == "az":  # arena train counts its budget across resumes itself: it gets the whole
            budget = [f"minutes={c.budget(name):.3f}", f"seed={c.seed}"]
            perm = [f"permute_squares={c.permute_seed}"] if name == "az_permuted" else []
            return cli("train", "--config", c.az_config, "--run-dir", self.arm_dir(name), "--resume",
                       *sets([f"game={c.game}", f"size={n}", *c.az_set, *budget, *steps, "keep_checkpoints=0", *perm]))
        if kind == "pretrain":
            data = self.data[{"seq_random": "random", "seq_random_permuted": "random_permuted",
                              "seq_expert": "expert"}[name]]
            return cli("pretrain", "--config", c.pretrain_config, "--run-dir", self.arm_dir(name), "--resume",
                       *sets([*c.pretrain_set, f"data={data}", *budget, *steps, "keep_checkpoints=0",
                              f"threads={c.threads}"]))
        init = "none" if name == "rl_scratch" else self.arm_dir("seq_" + name[len("rl_"):])
        # The budget (or max_steps), not the config's step count, ends an RL arm; from scratch it is the
        # pretrained arms' GPT.
        return cli("finetune", "--config", c.finetune_config, "--init", init, "--run-dir", self.arm_dir(name),
                   "--resume", *sets([f"game={c.game}", f"size={n}", f"preset={self.preset()}", *c.finetune_set,
                                      *budget, f"steps={c.max_steps or 100000000}", f"threads={c.threads}"]))

    def left_minutes(self, arm):
        """What is left of an arm's budget: 0 once it is spent or the arm has taken ``max_steps`` steps."""
        path = checkpoint.latest(self.arm_dir(arm))
        if path is None:
            return self.cfg.budget(arm)
        ck = checkpoint.load(path)
        if self.cfg.max_steps and ck["step"] >= self.cfg.max_steps:
            return 0.0
        return self.cfg.budget(arm) - ck["compute"]["seconds"] / 60


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
    want = json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as the file reads back
    if have is not None and have != want:
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        raise ValueError(f"{out} holds a study with another config (differs in: {', '.join(diff)}); rerun it "
                         f"with the same config to resume, or choose another --out")
    write_json(os.path.join(out, "study.json"), asdict(cfg))


def run_study(cfg, out, log=print, command=None):
    """Run (or resume) every stage, then measure, rate and report. Returns the report's summary dict."""
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    check_config(cfg, out)
    if command:
        write_json(os.path.join(out, "command.json"), {"command": command})
    study = Study(cfg, out)
    state_path = os.path.join(out, "stages.json")
    state = read_json(state_path, {})
    plan = study.stages()
    log(f"study {out}: {len(plan)} training stages, then measurements, a tournament and the report; "
        f"{sum(cfg.budget(a) for a, k in plan if k != 'data'):.1f} min of arm budgets (logs in {out}/logs)")
    bar = tqdm(total=len(plan) + 2, unit="stage", dynamic_ncols=True, initial=sum(s in state for s, _ in plan))
    try:
        for name, kind in plan:
            if name in state:
                continue
            bar.set_description(name)
            t0 = time.time()
            if kind == "data":
                path = study.data[name[len("data_"):]]
                if os.path.isdir(path) and not os.path.exists(os.path.join(path, "manifest.json")):
                    shutil.rmtree(path)  # an unfinished dataset (the manifest is written last): make it again
                left = None
            else:
                left = study.left_minutes(name)
            cmd = study.command(name, kind, max(left or 0, 0))
            ran = left is None or left > DONE_MINUTES
            logf = os.path.join(out, "logs", f"{name}.log")
            if ran:
                run_child(cmd, logf, f"stage {name}")
            if left is not None and checkpoint.latest(study.arm_dir(name)) is None:
                raise ValueError(f"arm {name} wrote no checkpoint within its budget of {cfg.budget(name):.2f} min "
                                 f"(start-up took it all?): raise minutes; see {out}/logs/{name}.log")
            # The command as a user types it; a training arm's minutes are its budget (a resume gets what is left).
            shown = study.command(name, kind, cfg.budget(name)) if left is not None else cmd
            state[name] = {"command": ["arena", *shown[3:]], "budget_minutes": None if left is None else cfg.budget(name),
                           "seconds": round(time.time() - t0, 1)}
            write_json(state_path, state)
            log(f"\nstage {name} done in {(time.time() - t0) / 60:.1f} min: "
                + (tail(logf, 1) if ran else "its budget was already spent"))
            bar.update(1)
        bar.set_description("measure")
        if "measure" not in state:
            t0 = time.time()
            measure(study, log)
            state["measure"] = {"seconds": round(time.time() - t0, 1)}
            write_json(state_path, state)
        bar.update(1)
        bar.set_description("tournament")
        tournament(study, state, log)
        write_json(state_path, state)
        bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        raise KeyboardInterrupt(f"study interrupted; rerun the same command to resume ({out}/stages.json)") from None
    bar.close()
    return write_report(out, log=log)


# -- checkpoints and their compute -------------------------------------------------------------------

def checkpoint_compute(ck):
    """One checkpoint's own training compute, in the study's units, straight from the checkpoint's
    ``compute`` (agents.common.checkpoint.COMPUTE, the same keys for every trainer)."""
    c = ck["compute"]
    return {"seconds": c["seconds"], "forward": c["forward_passes"], "flops": c["flops"],
            "reward_events": c["reward_events"], "games": c["games"], "trained": c["trained"]}


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
    manifest = read_json(os.path.join(study.data["expert"], "manifest.json"))
    if manifest:
        c = manifest.get("compute", {})
        inv["data_expert"] = {"seconds": manifest.get("seconds", 0.0), "forward": c.get("forward_positions", 0),
                              "flops": c.get("flops", 0), "games": manifest["counts"]["generated"],
                              "reward_events": 0, "trained": 0}
    return inv


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
    write_json(os.path.join(study.out, "inventory.json"), {"checkpoints": inv, "players": meta})
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

