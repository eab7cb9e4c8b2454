"""A tournament's results: ratings table (markdown, CSV, JSON), pairwise scores, likelihood of
superiority, a PNG of ratings with 95% error bars, game records and the HTML viewer."""

import csv
import os

from agents.common.files import write_json
from arena.tournament import ratings as R
from arena.tournament.config import TournamentConfig
from arena.tournament.records import write_records
from arena.tournament.results import read_games
from arena.tournament.viewer import write_viewer


def rate(cfg, games):
    names = list(cfg.roster())
    triples = [(g["black"], g["white"], g["result"]) for g in games]
    fitres = R.fit(triples, names, cfg.anchor, cfg.anchor_rating, cfg.prior_draws)
    st = {n: [0.0, 0, 0] for n in names}  # score, games, forfeits
    pair = {}
    for g in games:
        b, w, s = g["black"], g["white"], g["result"]
        st[b][0] += s
        st[w][0] += 1 - s
        st[b][1] += 1
        st[w][1] += 1
        if g["reason"].startswith("forfeit"):
            st[b if g["reason"].startswith("forfeit: black") else w][2] += 1
        for x, y, sx in ((b, w, s), (w, b, 1 - s)):
            e = pair.setdefault((x, y), [0.0, 0])
            e[0] += sx
            e[1] += 1
    rows = []
    for n in sorted(names, key=lambda n: -fitres["ratings"][n]):
        r, se = fitres["ratings"][n], fitres["stderr"][n]
        rows.append({"player": n, "spec": cfg.roster()[n], "elo": round(r, 1), "ci95_low": round(r - 1.96 * se, 1),
                     "ci95_high": round(r + 1.96 * se, 1), "stderr": round(se, 1), "games": st[n][1],
                     "score": round(st[n][0] / st[n][1], 3) if st[n][1] else None, "forfeits": st[n][2]})
    order = [r["player"] for r in rows]
    return {"rows": rows, "order": order, "pairwise": {f"{x}|{y}": v for (x, y), v in pair.items()},
            "los": {f"{x}|{y}": round(R.los(fitres, x, y), 4) for x in order for y in order if x != y},
            "first_mover": fitres.get("first_mover"), "anchor": cfg.anchor, "anchor_rating": cfg.anchor_rating,
            "prior_draws": cfg.prior_draws, "games": len(games), "fit": fitres}


def markdown(rep):
    fm = rep["first_mover"]
    lines = [f"Elo by maximum likelihood (Bradley-Terry), {rep['anchor']} = {rep['anchor_rating']:g}, "
             f"{rep['games']} games, {rep['prior_draws']:g} virtual draw(s) per pair; first mover "
             f"{fm[0]:+.0f} ± {1.96 * fm[1]:.0f} Elo.", "",
             "| rank | player | Elo | 95% CI | games | score | forfeits |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rep["rows"], 1):
        ci = "anchor" if r["player"] == rep["anchor"] else f"[{r['ci95_low']:.0f}, {r['ci95_high']:.0f}]"
        score = f"{100 * r['score']:.1f}%" if r["score"] is not None else "-"
        lines.append(f"| {i} | {r['player']} | {r['elo']:.0f} | {ci} | {r['games']} | {score} | {r['forfeits']} |")
    order = rep["order"]
    lines += ["", "Score of the row player against the column player (games):", "",
              "| | " + " | ".join(order) + " |", "|---" * (len(order) + 1) + "|"]
    for x in order:
        cells = []
        for y in order:
            e = rep["pairwise"].get(f"{x}|{y}")
            cells.append("" if x == y else "-" if not e else f"{100 * e[0] / e[1]:.0f}% ({e[1]})")
        lines.append(f"| {x} | " + " | ".join(cells) + " |")
    lines += ["", "Likelihood of superiority, P(row stronger than column):", "",
              "| | " + " | ".join(order) + " |", "|---" * (len(order) + 1) + "|"]
    for x in order:
        lines.append(f"| {x} | " + " | ".join("" if x == y else f"{rep['los'][f'{x}|{y}']:.2f}" for y in order) + " |")
    return "\n".join(lines)


def plot(rep, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rep["rows"][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    y = range(len(rows))
    elo = [r["elo"] for r in rows]
    err = [[r["elo"] - r["ci95_low"] for r in rows], [r["ci95_high"] - r["elo"] for r in rows]]
    ax.errorbar(elo, list(y), xerr=err, fmt="o", capsize=4, color="#1f5fa8")
    ax.set_yticks(list(y), [r["player"] for r in rows])
    ax.axvline(rep["anchor_rating"], color="#999", lw=0.8, ls="--")
    ax.set_xlabel(f"Elo ({rep['anchor']} = {rep['anchor_rating']:g}), 95% CI")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def write_outputs(cfg, out, games, openings, log=print):
    rep = rate(cfg, games)
    md = markdown(rep)
    with open(os.path.join(out, "ratings.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(out, "ratings.csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rep["rows"][0]))
        w.writeheader()
        w.writerows(rep["rows"])
    os.replace(os.path.join(out, "ratings.csv.tmp"), os.path.join(out, "ratings.csv"))
    write_json(os.path.join(out, "ratings.json"), {k: v for k, v in rep.items() if k != "fit"} | {"cov": rep["fit"]["cov"]})
    plot(rep, os.path.join(out, "ratings.png"), f"{cfg.game} {cfg.size}x{cfg.size}: {rep['games']} games")
    write_records(cfg, out, games)
    write_viewer(out, cfg.game, cfg.size, games, cfg.komi_value())
    log(md)
    log(f"\nwrote {out}/ratings.{{md,csv,json,png}}, records and {out}/viewer.html")
    return rep


def rewrite_outputs(out, log=print):
    """Rebuild the outputs of results directory ``out`` from its log (``arena ratings``), playing nothing:
    the games in ``games.jsonl`` between players of the roster in ``tournament.json``."""
    cfg = TournamentConfig.from_results(out)
    games = [g for g in read_games(out) if g["black"] in cfg.roster() and g["white"] in cfg.roster()]
    return write_outputs(cfg, out, games, None, log=log)
