"""``arena serve``: the page in a real headless Chromium (Playwright for Python driving Debian's
``/usr/bin/chromium``), the HTTP API's answers to bad input and failing agents, determinism, recorded
games, and the players' accessors the page reads (a search's principal variation, a sequence model's
distribution). One server, started as a user starts it (``arena serve --port 0``, a subprocess), serves
every test of the file.

The browser test skips, saying why, when Chromium or Playwright is missing, and fails under ``CI=true``
(CI installs both: ``.ci/engines`` and the ``dev`` extra)."""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import asdict

import numpy as np
import pytest

from envs.game import Game
from tests.conftest import IN_CI, need

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = f"{sys.executable} {os.path.join(ROOT, 'tests', 'fake_gtp.py')}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
AZ = "az:othello8,sims=16,inference=torch"  # the shipped net, few simulations, a fixed backend: fast and exact
HANG = 3  # seconds: the move limit of the game whose engine hangs


# -- the server ------------------------------------------------------------------------------------------------

def results_dir(path):
    """A small tournament results directory: two random 6x6 Othello games, as ``arena tournament`` writes them."""
    from arena.tournament.config import TournamentConfig

    os.makedirs(path)
    cfg = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy"), games=2)
    with open(os.path.join(path, "tournament.json"), "w") as f:
        json.dump(asdict(cfg), f)
    rng = np.random.default_rng(1)
    with open(os.path.join(path, "games.jsonl"), "w") as f:
        for k in range(2):
            g = Game("othello", 6)
            while not g.terminal:
                g.play(int(rng.choice(g.legal_actions())))
            m = g.final_margin()
            rec = {"id": f"random|greedy|{k}", "pair": ["random", "greedy"], "k": k, "black": "random",
                   "white": "greedy", "result": 1.0 if m > 0 else 0.0 if m < 0 else 0.5, "margin": m, "reason": "end",
                   "moves": [g.move_str(a) for a in g.history], "plies": len(g.history), "opening_moves": 0}
            f.write(json.dumps(rec) + "\n")
        f.write('{"id": "torn')  # a killed run's last line: read around, never rewritten by the server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    games = tmp_path_factory.mktemp("games")
    results_dir(str(games / "ladder_x"))
    log_path = games.parent / "serve.log"  # a file, not a pipe: nothing the server writes can block it
    with open(log_path, "w") as log:
        p = subprocess.Popen([sys.executable, "-m", "arena.cli", "serve", "--port", "0", "--seed", "5", "--games",
                              str(games), "--move-timeout", "120"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline, m = time.monotonic() + 120, None
    while time.monotonic() < deadline and p.poll() is None and not m:
        time.sleep(0.2)
        m = re.search(r"http://\S+/", log_path.read_text())
    if not m:
        p.kill()
        pytest.fail(f"arena serve did not start: {log_path.read_text()[-2000:]}")
    yield m.group(0).rstrip("/"), str(games)
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


def call(url, method, path, body=None, raw=None, headers=None, chunked=False):
    """``(status, content type, text)`` of one request; ``body`` is sent as JSON, ``raw`` as it is."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    h = {"Content-Type": "application/json"} if body is not None or raw is not None else {}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    try:
        c.request(method, path, body=data, headers=h, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode()
    finally:
        c.close()


def ok(url, method, path, body=None):
    status, _, text = call(url, method, path, body)
    assert status in (200, 201), f"{method} {path}: {status} {text[:300]}"
    return json.loads(text)


def refused(url, method, path, status, says, **kw):
    """The request gets ``status`` and one line of JSON, ``{"error": ...}``, containing ``says``."""
    got, ctype, text = call(url, method, path, **kw)
    assert got == status, f"{method} {path}: expected {status}, got {got}: {text[:300]}"
    assert ctype.startswith("application/json") and "\n" not in text.strip(), text[:300]
    err = json.loads(text)
    assert list(err) == ["error"] and "\n" not in err["error"] and says in err["error"], err
    return err["error"]


# -- the page in a real browser --------------------------------------------------------------------------------

def playwright_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        msg = "Playwright for Python is not installed (pip install -e '.[dev]'; no browser download needed)"
        if IN_CI:
            pytest.fail(f"{msg}, and CI=true requires it")
        pytest.skip(f"{msg}: test skipped")
    return sync_playwright


def test_page_plays_shows_the_search_and_refuses_an_illegal_click_in_headless_chromium(server):
    need(CHROMIUM, "Chromium", "chromium")
    sync_playwright = playwright_or_skip()
    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 850})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_selector("#p-game option", state="attached")
            page.fill("#p-agent", AZ)
            page.select_option("#p-colour", "black")
            page.click("#p-new")
            page.wait_for_selector("#board rect.cell.legal")
            assert sorted(page.eval_on_selector_all("#board rect.cell.legal", "es => es.map(e => e.dataset.move)")) == \
                ["c4", "d3", "e6", "f5"]
            gid = page.evaluate("sessionStorage.getItem('arena-serve-play')")

            page.click('#board rect.cell[data-move="a1"]')  # not a legal move: refused, nothing played
            page.wait_for_selector("#error:not([hidden])")
            assert "illegal move a1" in page.inner_text("#error")
            assert page.get_attribute("#board", "data-ply") == "0"

            page.click('#board rect.cell[data-move="f5"]')
            page.wait_for_function("document.getElementById('board').dataset.ply === '2'", timeout=60_000)
            st = ok(url, "GET", f"/api/games/{gid}")
            reply = st["moves"][1]
            assert st["moves"][0] == "f5" and page.is_hidden("#error")
            board = st["boards"][2]  # the DOM's stones are the server's board
            for colour, mark in (("black", "x"), ("white", "o")):
                drawn = page.eval_on_selector_all(f"#board circle.stone.{colour}", "es => es.map(e => e.dataset.move)")
                assert sorted(drawn) == sorted(st["names"][i] for i, c in enumerate(board) if c == mark)
            assert reply in page.eval_on_selector_all("#board circle.stone.white", "es => es.map(e => e.dataset.move)")

            # the heat-map of the reply's search: its visit shares, on the squares it searched
            heat = dict(page.eval_on_selector_all("#board rect.heat",
                                                  "es => es.map(e => [e.dataset.move, +e.dataset.share])"))
            think = st["thinking"]["1"]
            assert think["kind"] == "search" and think["simulations"] == 16 and think["move"] == reply
            assert heat == pytest.approx(think["heat"]) and reply in heat
            assert sum(heat.values()) == pytest.approx(1, abs=1e-3)
            assert set(heat) <= set(Game("othello", 8).play("f5").legal_moves())
            win = float(page.inner_text("#t-win").rstrip("%"))
            assert 0 <= win <= 100 and win == pytest.approx(100 * think["win"], abs=0.6)
            assert page.inner_text("#t-line").split()[0] == reply

            # an analysis of the person's position: the heat-map moves to it
            page.click("#p-analyse")
            page.wait_for_selector("#t-body >> text=Analysis by")
            st = ok(url, "GET", f"/api/games/{gid}")
            heat = page.eval_on_selector_all("#board rect.heat", "es => es.map(e => e.dataset.move)")
            assert heat and set(heat) <= set(st["legal"]) and st["analysis"]["2"]["side"] == "black"

            page.click("#p-undo")  # the person's move and the reply go back
            page.wait_for_function("document.getElementById('board').dataset.ply === '0'")
            assert len(page.query_selector_all("#board rect.cell.legal")) == 4

            # a second tab has its own game: two agents, move by move, to the end
            watch = browser.new_page()
            watch.on("pageerror", lambda e: errors.append(str(e)))
            watch.goto(url + "/")
            watch.wait_for_selector("#p-game option", state="attached")
            watch.click("#tabs button[data-tab=watch]")
            watch.select_option("#w-game", "othello:6")
            watch.fill("#w-black", "greedy")
            watch.fill("#w-white", "random")
            watch.select_option("#w-delay", "0")
            watch.click("#w-start")
            watch.wait_for_selector("#result", timeout=60_000)
            wid = watch.evaluate("sessionStorage.getItem('arena-serve-watch')")
            w = ok(url, "GET", f"/api/games/{wid}")
            assert wid != gid and w["over"] and watch.inner_text("#result") == w["result"]
            assert watch.get_attribute("#board", "data-ply") == str(w["ply"])
            assert ok(url, "GET", f"/api/games/{gid}")["ply"] == 0  # the first tab's game is untouched
            assert not errors, errors
        finally:
            browser.close()


# -- the HTTP API ----------------------------------------------------------------------------------------------

def test_bad_input_gets_a_4xx_with_one_line_of_json_and_the_server_stays_up(server):
    url, _ = server
    gid = ok(url, "POST", "/api/games", {"game": "othello", "size": 8, "black": "human", "white": "greedy"})["id"]
    g = f"/api/games/{gid}"
    refused(url, "POST", g + "/move", 400, "illegal move a1: not legal here", body={"move": "a1"})
    refused(url, "POST", g + "/move", 400, "out of range", body={"move": 999})
    refused(url, "POST", g + "/move", 400, "not a move", body={"move": "z99"})
    refused(url, "POST", g + "/move", 400, "pass is not allowed here", body={"move": "pass"})
    refused(url, "POST", g + "/move", 400, "move must be", body={"move": [1, 2]})
    refused(url, "POST", g + "/move", 400, '{"move": MOVE}', body={"mvoe": "f5"})
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b'{"move": ')
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b"\xff\xfe")
    refused(url, "POST", g + "/move", 400, "must be a JSON object", raw=b'["f5"]')
    refused(url, "POST", g + "/step", 409, "a person plays black")
    refused(url, "POST", "/api/games", 400, "unknown game 'chess'", body={"game": "chess"})
    refused(url, "POST", "/api/games", 400, "unknown size '13' for go", body={"game": "go", "size": 13})
    refused(url, "POST", "/api/games", 400, "unknown size '7' for othello", body={"size": 7})
    refused(url, "POST", "/api/games", 400, "komi applies to Go only", body={"komi": 6.5})
    refused(url, "POST", "/api/games", 400, "unknown agent spec 'bogus:1'", body={"white": "bogus:1"})
    refused(url, "POST", "/api/games", 400, "bad agent spec", body={"white": "az:othello8,sims=x"})
    refused(url, "POST", "/api/games", 400, "trained on othello 8x8", body={"size": 6, "white": "seq:othello8"})
    refused(url, "POST", "/api/games", 400, "at most 100000 simulations", body={"white": "mcts:rollouts=1000000"})
    refused(url, "POST", "/api/games", 400, "unknown field 'colour'", body={"colour": "black"})
    refused(url, "POST", "/api/games", 400, "GTP engine", body={"white": "gtp:/nonexistent/engine --gtp"})
    refused(url, "POST", "/api/games", 413, "request body over 64 KiB", raw=b"x" * 100_000)
    refused(url, "POST", "/api/games", 413, "request body over 64 KiB", raw=iter([b" " * 40_000] * 3), chunked=True)
    refused(url, "POST", "/api/games", 415, "must be JSON", raw=b"{}", headers={"Content-Type": "text/plain"})
    refused(url, "POST", "/api/games", 403, "cross-site", body={}, headers={"Origin": "http://evil.example"})
    refused(url, "GET", "/api/info", 400, "bad Host header", headers={"Host": "evil.example"})
    refused(url, "GET", "/api/games/nope", 404, "no game 'nope'")
    refused(url, "POST", "/api/games/nope/move", 404, "no game 'nope'", body={"move": "f5"})
    refused(url, "PUT", "/api/games", 405, "PUT is not allowed")
    refused(url, "GET", "/nothing/here", 404, "not found")
    refused(url, "GET", "/static/../../pyproject.toml", 404, "not found")
    refused(url, "GET", "/static/%2e%2e/%2e%2e/pyproject.toml", 404, "not found")
    refused(url, "GET", "/api/records/games?dir=../..", 404, "no results directory")
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=x", 400, "i must be")
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=7", 404, "no game '7'")

    # still up, and the game is where it was
    assert ok(url, "GET", "/api/info")["games"] == {"othello": [8, 6], "go": [9, 7, 5]}
    assert ok(url, "POST", g + "/move", {"move": "f5"})["ply"] == 1
    st = ok(url, "POST", g + "/step", None)
    assert st["ply"] == 2 and st["thinking"] == {}  # greedy shows no thinking
    refused(url, "POST", g + "/analyse", 409, "no agent in this game shows its thinking")
    assert call(url, "GET", "/")[0] == 200 and call(url, "GET", "/static/app.js")[0] == 200


def test_a_failing_agent_forfeits_with_a_message_and_never_hangs(server):
    url, _ = server
    refused(url, "POST", "/api/games", 400, "move_timeout must be", body={"move_timeout": 500})
    for mode, says in (("crash", "forfeits"), ("sleep", f"within {HANG}")):
        body = {"black": "human", "white": f"gtp:{FAKE} {mode}", "move_timeout": HANG}
        gid = ok(url, "POST", "/api/games", body)["id"]
        ok(url, "POST", f"/api/games/{gid}/move", {"move": "d3"})
        t0 = time.monotonic()
        st = ok(url, "POST", f"/api/games/{gid}/step")
        assert time.monotonic() - t0 < HANG + 10
        assert st["over"] and st["reason"] == "forfeit" and st["winner"] == "black" and st["result"] == "B+F"
        assert says in st["message"] and "white" in st["message"], st["message"]
        refused(url, "POST", f"/api/games/{gid}/move", 409, "the game is over", body={"move": "c3"})
        assert not ok(url, "POST", f"/api/games/{gid}/undo")["over"]  # undo takes the forfeit back
        ok(url, "DELETE", f"/api/games/{gid}")
    assert ok(url, "GET", "/api/info")["seed"] == 5


def test_same_seed_and_moves_give_the_same_replies(server):
    url, _ = server

    def play(seed, undo=False, replaces=None):
        body = {"black": "human", "white": "mcts:rollouts=24", "seed": seed}
        gid = ok(url, "POST", "/api/games", {**body, **({"replaces": replaces} if replaces else {})})["id"]
        st = None
        for k in range(3):
            st = ok(url, "GET", f"/api/games/{gid}")
            ok(url, "POST", f"/api/games/{gid}/move", {"move": st["legal"][0]})
            st = ok(url, "POST", f"/api/games/{gid}/step")
            if undo and k == 1:  # take it back and play it again: the same reply
                again = st["moves"][-1]
                ok(url, "POST", f"/api/games/{gid}/undo")
                ok(url, "POST", f"/api/games/{gid}/move", {"move": st["moves"][-2]})
                st = ok(url, "POST", f"/api/games/{gid}/step")
                assert st["moves"][-1] == again
        return gid, st["moves"]

    first, a = play(11)
    second, b = play(11, undo=True, replaces=first)  # the tab's new game takes over the old one's agent
    assert b == a and len(a) == 6
    refused(url, "GET", f"/api/games/{first}", 404, "no game")  # replaced: dropped
    assert any(play(s)[1] != a for s in (12, 13, 14))  # another seed, other rollouts (not all alike)


def test_go_pass_resign_and_sgf(server):
    url, _ = server
    st = ok(url, "POST", "/api/games", {"game": "go", "size": 5, "komi": 3.5, "black": "human", "white": "greedy"})
    gid = st["id"]
    assert st["komi"] == 3.5 and "pass" in st["legal"] and len(st["names"]) == 26
    ok(url, "POST", f"/api/games/{gid}/move", {"move": "pass"})
    st = ok(url, "POST", f"/api/games/{gid}/step")
    assert st["ply"] == 2 and st["waiting"] == "human"
    st = ok(url, "POST", f"/api/games/{gid}/resign")
    assert st["over"] and st["result"] == "W+R" and st["reason"] == "resign"
    status, ctype, sgf = call(url, "GET", f"/api/games/{gid}/record")
    assert status == 200 and ctype.startswith("application/x-go-sgf")
    g = Game.from_sgf(sgf)
    assert g.history == st["actions"] and "RE[W+R]" in sgf and "KM[3.5]" in sgf and "PB[human]" in sgf
    oth = ok(url, "POST", "/api/games", {"black": "human", "white": "greedy"})["id"]
    ok(url, "POST", f"/api/games/{oth}/move", {"move": "f5"})
    moves = ok(url, "POST", f"/api/games/{oth}/step")["moves"]
    status, ctype, text = call(url, "GET", f"/api/games/{oth}/record")
    assert status == 200 and text == "".join(moves) + "\n"


def test_recorded_games_of_the_games_directory(server):
    url, games = server
    dirs = ok(url, "GET", "/api/records")["directories"]
    assert dirs == [{"name": "ladder_x", "game": "othello", "size": 6, "games": 2}]
    listed = ok(url, "GET", "/api/records/games?dir=ladder_x")["games"]
    assert [g["id"] for g in listed] == ["random|greedy|0", "random|greedy|1"]
    one = ok(url, "GET", "/api/records/game?dir=ladder_x&i=1")
    g = Game("othello", 6).play_all(one["moves"])
    assert len(one["boards"]) == len(one["actions"]) + 1 and one["actions"] == g.history
    assert one["boards"][-1].count("x") == int((g.cells() == 1).sum())
    with open(os.path.join(games, "ladder_x", "games.jsonl")) as f:
        assert f.read().endswith('{"id": "torn')  # read, not repaired: a tournament may still be writing it


# -- the accessors the page reads ------------------------------------------------------------------------------

def test_principal_variation_follows_the_most_visited_children():
    from agents.players import MCTSAgent

    g = Game("othello", 6)
    agent = MCTSAgent(simulations=64, seed=3)
    a = int(agent.act(g)[0])
    pv = agent.principal_variation()
    visits = agent.last_search.visits[0]
    assert pv[0] == (a, int(visits[a])) and a == int(np.argmax(visits))
    assert all(n1 >= n2 for (_, n1), (_, n2) in zip(pv, pv[1:])) and len(pv) >= 3
    g.play_all([m for m, _ in pv])  # a line of legal moves
    assert agent.principal_variation(max_length=2) == pv[:2]
    agent.reset()
    assert agent.principal_variation() == [] and agent.last_search is None


def test_sequence_model_distribution_matches_its_move():
    from arena.specs import make_agent

    agent = make_agent("seq:othello8", "othello", 8)
    g = Game("othello", 8).play_all(["f5", "d6", "c3"])
    a = int(agent.act(g)[0])
    p = agent.distribution(g)
    legal = g.legal_actions()
    assert p.sum() == pytest.approx(1) and set(np.flatnonzero(p)) <= set(legal) and int(np.argmax(p)) == a
    raw = agent.distribution(g, legal_only=False)
    assert raw.sum() == pytest.approx(1, abs=1e-5) and raw[legal].sum() <= 1 + 1e-6
