"""The sequence model's data and pretraining: tokenizer, random-game kernel, datasets (dedup, split,
shards, WTHOR), the GPT, the legal-move error rate and a tiny pretraining run with resume."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from agents.common import checkpoint
from agents.common import transcripts as T
from agents.common.tokenizer import BOS, PAD, Tokenizer
from agents.seq.gpt import GPT, GPTConfig
from agents.seq.legal import legal_targets
from agents.seq.pretrain import PretrainConfig, pretrain
from envs.core import make_batch
from envs.game import Game


def quiet(*a, **k):
    pass


def random_games(game, size, n, seed=0):
    return make_batch(game, n, size, seed=seed).random_games(2 * size * size + 8)


# -- tokenizer and the random-game kernel ------------------------------------------------------------------

@pytest.mark.parametrize("game, size, vocab", [("othello", 8, 62), ("othello", 6, 34), ("go", 9, 84), ("go", 5, 28)])
def test_tokenizer_vocab_and_round_trip(game, size, vocab):
    tok = Tokenizer(game, size)
    assert tok.vocab_size == vocab  # Othello-GPT's 60 squares (+ PAD, BOS); Go adds PASS
    acts, lens = random_games(game, size, 200, seed=1)
    ids = tok.encode_batch(acts, lens)
    assert ids.dtype == np.uint8 and ids.shape == (200, tok.max_len)
    for i in range(200):
        history = acts[i, : lens[i]].tolist()
        row = tok.encode(history)
        assert row[0] == BOS and (ids[i, : len(row)] == row).all() and (ids[i, len(row):] == PAD).all()
        board_moves = [a for a in history if game == "go" or a != size * size]
        assert tok.decode(ids[i]) == board_moves
        if game == "othello":  # the passes a transcript leaves out come back by replay
            from envs import notation

            g = Game.from_transcript(notation.othello_transcript(board_moves, size), "othello", size)
            assert g.history == history and g.terminal


def test_random_games_kernel_plays_legal_complete_seeded_games():
    for game, size in (("othello", 8), ("go", 9), ("go", 5)):
        a1, l1 = random_games(game, size, 300, seed=4)
        a2, l2 = random_games(game, size, 300, seed=4)
        assert (a1 == a2).all() and (l1 == l2).all()
        for i in range(300):
            g = Game(game, size).play_all(a1[i, : l1[i]].tolist())
            assert g.terminal and (a1[i, l1[i]:] == -1).all()


def test_permuted_tokenizer_is_a_relabelling():
    tok = Tokenizer("othello", 8)
    perm = np.random.default_rng(0).permutation(60)
    ptok = Tokenizer("othello", 8, permutation=perm)
    acts, lens = random_games("othello", 8, 20)
    a, b = tok.encode_batch(acts, lens), ptok.encode_batch(acts, lens)
    assert not (a == b).all()
    for i in range(20):
        assert tok.decode(a[i]) == ptok.decode(b[i])
    with pytest.raises(ValueError, match="permutation must reorder"):
        Tokenizer("othello", 8, permutation=[0, 0, 1])


# -- datasets ----------------------------------------------------------------------------------------------

def test_dataset_dedups_splits_by_hash_and_shards(tmp_path):
    tok = Tokenizer("othello", 6)
    acts, lens = random_games("othello", 6, 3000, seed=2)
    twice = [(acts, lens), (acts[:500], lens[:500])]  # 500 exact duplicates
    m = T.write_dataset(str(tmp_path / "a"), tok, iter(twice), "random", 2, 0.1, shard_games=700, progress=False)
    c = m["counts"]
    assert c["generated"] == 3500 and c["duplicates"] >= 500 and c["train"] + c["val"] == 3500 - c["duplicates"]
    assert 0.05 < c["val"] / (c["train"] + c["val"]) < 0.15
    assert [s["games"] for s in m["shards"]["train"]][:-1] == [700] * (len(m["shards"]["train"]) - 1)
    ds = T.Dataset(str(tmp_path / "a"))
    assert ds.count("train") == c["train"] and isinstance(ds.train[0], np.memmap)
    # The split depends on the game alone: reversed order, other shards, same membership.
    m2 = T.write_dataset(str(tmp_path / "b"), tok, iter([(acts[::-1], lens[::-1])]), "random", 2, 0.1,
                         progress=False)
    ds2 = T.Dataset(str(tmp_path / "b"))
    key = lambda d: {r.tobytes() for r in d.rows("val")}
    assert key(ds) == key(ds2) and m2["counts"]["val"] == c["val"]
    assert not (key(ds) & {r.tobytes() for r in ds.rows("train")})
    rows = ds.sample("train", 64, np.random.default_rng(0))
    assert rows.shape == (64, tok.max_len) and (rows[:, 0] == BOS).all()
    with pytest.raises(ValueError, match="already holds a dataset"):
        T.write_dataset(str(tmp_path / "a"), tok, iter(twice), "random", 2, progress=False)
    with pytest.raises(ValueError, match="not a transcript dataset"):
        T.Dataset(str(tmp_path))


def write_wtb(path, games):
    header = bytes([20, 26, 11, 23]) + len(games).to_bytes(4, "little") + (0).to_bytes(2, "little") \
        + (2026).to_bytes(2, "little") + bytes([8, 0, 0, 0])
    recs = b""
    for moves in games:
        body = bytes(10 * (a // 8 + 1) + (a % 8 + 1) for a in moves if a != 64)
        recs += (1).to_bytes(2, "little") * 3 + bytes([32, 32]) + body + bytes(60 - len(body))
    with open(path, "wb") as f:
        f.write(header + recs)


def test_wthor_reader_restores_passes(tmp_path):
    acts, lens = random_games("othello", 8, 30, seed=5)
    games = [acts[i, : lens[i]].tolist() for i in range(30)]
    write_wtb(tmp_path / "x.wtb", games)
    assert T.read_wthor(tmp_path / "x.wtb") == [[a for a in g if a != 64] for g in games]
    (batch, blens), = list(T.wthor_source([tmp_path / "x.wtb"]))
    assert [batch[i, : blens[i]].tolist() for i in range(30)] == games  # forced passes put back
    (tmp_path / "bad.wtb").write_bytes(b"\x00" * 8)
    with pytest.raises(ValueError, match="not a WTHOR file"):
        T.read_wthor(tmp_path / "bad.wtb")
    data = bytearray((tmp_path / "x.wtb").read_bytes())
    data[16 + 8] = 99
    (tmp_path / "corrupt.wtb").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="invalid move byte 99"):
        T.read_wthor(tmp_path / "corrupt.wtb")


def test_tournament_games_become_a_dataset(tmp_path):
    from arena.tournament import TournamentConfig, run_tournament, tournament_games

    cfg = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy"), games=6, workers=0)
    run_tournament(cfg, str(tmp_path / "t"), progress=False, log=quiet)
    m = T.write_dataset(str(tmp_path / "d"), Tokenizer("othello", 6), tournament_games(
                        str(tmp_path / "t"), "othello", 6), "tournament", 0, 0.5, progress=False)
    assert m["counts"]["generated"] == 6 and m["results"]
    # Each game's result travels with its row: replayed from the tokens, the final position agrees.
    ds = T.Dataset(str(tmp_path / "d"))
    tok = ds.tokenizer
    checked = 0
    for split in ("train", "val"):
        for row, res in zip(ds.rows(split), ds.results(split)):
            g = Game("othello", 6)
            for a in tok.decode(row):
                if g.legal_actions() == [36]:
                    g.play(36)
                g.play(a)
            assert g.terminal and res == {1: 1.0, 0: 0.5, -1: 0.0}[int(np.sign(g.final_margin()))]
            checked += 1
    assert checked == m["counts"]["train"] + m["counts"]["val"]
    with pytest.raises(ValueError, match="holds othello 6x6 games, not othello 8x8"):
        list(tournament_games(str(tmp_path / "t"), "othello", 8))


# -- the model ------------------------------------------------------------------------------------------------

def test_gpt_is_causal_tied_and_exposes_residuals():
    torch.manual_seed(0)
    m = GPT(GPTConfig.preset("tiny", 62, 61)).eval()
    x = torch.randint(2, 62, (3, 20))
    y = x.clone()
    y[:, 12] = (y[:, 12] + 1 - 2) % 60 + 2
    la, lb = m(x), m(y)
    assert torch.allclose(la[:, :12], lb[:, :12], atol=1e-5) and not torch.allclose(la[:, 12:], lb[:, 12:])
    assert m.head.weight is m.tok.weight
    logits, resid = m(x, return_residuals=True)
    assert logits.shape == (3, 20, 62) and len(resid) == 3 and resid[0].shape == (3, 20, 64)
    with pytest.raises(ValueError, match="longer than block_size"):
        m(torch.zeros((1, 62), dtype=torch.long))
    with pytest.raises(ValueError, match="unknown GPT preset"):
        GPTConfig.preset("huge", 62, 61)


def test_cached_decoding_equals_the_full_forward_on_ragged_batches():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=30, block_size=12, n_layer=2, n_head=2, d_model=32)).eval()
    x = torch.randint(2, 30, (5, 12))
    full = m(x)
    cache = m.new_cache(5)
    fed = [0] * 5
    rng = np.random.default_rng(1)
    while min(fed) < 12:  # each round feeds a random subset of the unfinished sequences
        idx = np.array([b for b in range(5) if fed[b] < 12 and rng.random() < 0.6], np.int64)
        if not idx.size:
            continue
        out = m.decode(cache, torch.from_numpy(idx), x[idx, [fed[b] for b in idx]])
        for j, b in enumerate(idx):
            assert torch.allclose(out[j], full[b, fed[b]], atol=1e-5)
            fed[b] += 1
    with pytest.raises(ValueError, match="block_size"):
        m.decode(cache, torch.tensor([0]), torch.tensor([3]))


def test_legal_targets_match_the_rules():
    tok = Tokenizer("othello", 6)
    acts, lens = random_games("othello", 6, 40, seed=9)
    rows = tok.encode_batch(acts, lens).astype(np.int64)
    legal = legal_targets(tok, rows)
    for i in range(40):
        g = Game("othello", 6)
        board = [a for a in acts[i, : lens[i]] if a != 36]
        for t in range(len(board) + 1):
            if g.legal_actions() == [36]:
                g.play(36)
            want = set() if g.terminal else {int(tok.action_to_id[a]) for a in g.legal_actions()}
            assert set(np.flatnonzero(legal[i, t]).tolist()) == want
            if t < len(board):
                g.play(int(board[t]))
        assert g.terminal


# -- pretraining --------------------------------------------------------------------------------------------

def test_tiny_pretraining_learns_legal_moves_and_resumes(tmp_path):
    tok = Tokenizer("othello", 6)
    T.write_dataset(str(tmp_path / "d"), tok, T.random_source("othello", 6, 4000, 0), "random", 0, 0.05,
                    progress=False)
    cfg = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=32, lr=3e-3, warmup_steps=10,
                         max_steps=120, eval_every=60, eval_games=100, checkpoint_every=60, seed=1)
    run = str(tmp_path / "run")
    last = pretrain(cfg, run, log=quiet, progress=False)
    lines = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))]
    assert [m["step"] for m in lines] == [0, 60, 120]
    assert lines[0]["legal_error"] > 0.9  # the untrained baseline
    assert last["legal_error"] < 0.7 * lines[0]["legal_error"]  # about 0.5 here, from 1.0
    assert lines[-1]["tokens"] > 0 and lines[-1]["games"] == 120 * 32
    with pytest.raises(ValueError, match="already has checkpoints"):
        pretrain(cfg, run, log=quiet, progress=False)
    import dataclasses

    log = []
    pretrain(dataclasses.replace(cfg, max_steps=150), run, resume=True, log=log.append, progress=False)
    assert any("resumed" in x and "at step 120" in x for x in log)
    ck = sorted(os.listdir(os.path.join(run, "checkpoints")))
    assert ck[-1] == "step_00000150.pt"
    # A warm start from that run: its first evaluation is the start's own, the schedule and counters are new,
    # and the start is recorded; another preset is refused in one line before anything is written.
    warm = dataclasses.replace(cfg, init=run, max_steps=10, eval_every=10)
    log = []
    pretrain(warm, str(tmp_path / "warm"), log=log.append, progress=False)
    rows = [json.loads(x) for x in open(os.path.join(tmp_path, "warm", "metrics.jsonl"))]
    ended = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))][-1]
    assert ended["step"] == 150 and rows[0]["step"] == 0 and rows[0]["legal_error"] == ended["legal_error"]
    assert rows[-1]["games"] == 10 * 32 and any("warm start from" in x for x in log)
    assert checkpoint.load(str(tmp_path / "warm"))["meta"]["init"]["step"] == 150
    # The compute behind a continued GPT counts the run it continued, and a continuation of a continuation
    # counts both (what arena study measures a given GPT's pretraining by).
    first, second = checkpoint.load(run), checkpoint.load(str(tmp_path / "warm"))
    total = checkpoint.total_compute(second)
    for key in ("seconds", "trained", "flops", "forward_passes"):
        assert total[key] == first["compute"][key] + second["compute"][key] > second["compute"][key]
    assert checkpoint.total_compute(first) == first["compute"]
    pretrain(dataclasses.replace(warm, init=str(tmp_path / "warm")), str(tmp_path / "warm2"), log=quiet,
             progress=False)
    third = checkpoint.load(str(tmp_path / "warm2"))
    assert checkpoint.total_compute(third)["trained"] == total["trained"] + third["compute"]["trained"]
    with pytest.raises(ValueError, match="was trained with model=.*warm-start from a GPT of this preset") as e:
        pretrain(dataclasses.replace(warm, preset="small"), str(tmp_path / "w2"), log=quiet, progress=False)
    assert "\n" not in str(e.value) and not os.path.exists(tmp_path / "w2" / "config.json")


def test_legal_set_loss_is_the_expected_next_token_loss():
    """For uniformly random games the next move is uniform over the legal ones, so the average next-token
    loss over many games that share a prefix equals the legal-set loss there (Rao-Blackwellisation). The
    first moves share few prefixes, so 4000 games estimate the expectation well at positions 0-2."""
    from agents.seq.pretrain import train_loss

    tok = Tokenizer("othello", 6)
    acts, lens = random_games("othello", 6, 4000, seed=3)
    x = torch.from_numpy(tok.encode_batch(acts, lens).astype(np.int64))[:, :4]
    torch.manual_seed(0)
    logits = torch.randn(1, 3, tok.vocab_size).expand(len(x), 3, tok.vocab_size)  # prefix-blind but fixed
    logits = logits + 2.0 * torch.nn.functional.one_hot(x[:, :3], tok.vocab_size)  # and prefix-dependent
    for t in range(1, 4):  # both losses average positions 0..t-1 of every game
        mc = train_loss(logits[:, :t], x[:, : t + 1], tok, "next_token").item()
        rb = train_loss(logits[:, :t], x[:, : t + 1], tok, "legal_set").item()
        assert abs(mc - rb) < 0.03 * rb, (t, mc, rb)


def test_legal_set_target_learns_and_is_refused_for_recorded_play(tmp_path):
    tok = Tokenizer("othello", 6)
    T.write_dataset(str(tmp_path / "d"), tok, T.random_source("othello", 6, 3000, 0), "random", 0, 0.05,
                    progress=False)
    cfg = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=32, lr=3e-3, warmup_steps=10,
                         max_steps=60, eval_every=60, eval_games=100, checkpoint_every=60, seed=1,
                         target="legal_set")
    last = pretrain(cfg, str(tmp_path / "run"), log=quiet, progress=False)
    assert last["legal_error"] < 0.6
    T.write_dataset(str(tmp_path / "s"), tok, T.random_source("othello", 6, 300, 0), "selfplay:runs/x", 0, 0.1,
                    progress=False)
    import dataclasses

    with pytest.raises(ValueError, match="only for random transcripts"):
        pretrain(dataclasses.replace(cfg, data=str(tmp_path / "s")), str(tmp_path / "run2"), log=quiet,
                 progress=False)
    with pytest.raises(ValueError, match="target must be"):
        PretrainConfig(target="soft")


def test_permuted_token_control_holds_the_same_games_and_trains_alike(tmp_path):
    """The nominal-token control: a dataset with reshuffled move ids holds the same games in the same split,
    its tokenizer travels with it (legal sets, checkpoints, the player), and a model learns it as well."""
    from agents.seq.agent import SeqAgent

    d0, d1 = str(tmp_path / "plain"), str(tmp_path / "perm")
    T.write_dataset(d0, Tokenizer("othello", 6), T.random_source("othello", 6, 3000, 0), "random", 0, 0.05,
                    progress=False)
    T.write_dataset(d1, Tokenizer.permuted("othello", 6, 5), T.random_source("othello", 6, 3000, 0), "random", 0,
                    0.05, progress=False)
    a, b = T.Dataset(d0), T.Dataset(d1)
    assert a.manifest["counts"] == b.manifest["counts"]
    assert b.tokenizer.permutation is not None and b.tokenizer.permutation == Tokenizer.permuted("othello", 6, 5).permutation
    ra, rb = a.rows("val", 200), b.rows("val", 200)
    assert not (ra == rb).all()
    assert all(a.tokenizer.decode(x) == b.tokenizer.decode(y) for x, y in zip(ra, rb))
    la, lb = legal_targets(a.tokenizer, ra), legal_targets(b.tokenizer, rb)
    acts_a = np.where(la, a.tokenizer.id_to_action[None, None, :], -9)
    acts_b = np.where(lb, b.tokenizer.id_to_action[None, None, :], -9)
    assert (np.sort(acts_a, -1) == np.sort(acts_b, -1)).all()  # the same legal moves, other ids
    errors = []
    for d in (d0, d1):
        cfg = PretrainConfig(data=d, preset="tiny", batch_size=32, lr=3e-3, warmup_steps=10, max_steps=80,
                             eval_every=80, eval_games=100, checkpoint_every=80, seed=1)
        errors.append(pretrain(cfg, d + "_run", log=quiet, progress=False)["legal_error"])
    assert errors[1] < 0.75 and abs(errors[0] - errors[1]) < 0.15, errors
    agent = SeqAgent(d1 + "_run", temperature=1.0, seed=2)
    assert agent.tok.permutation == b.tokenizer.permutation
    g = Game("othello", 6)
    while not g.terminal:
        g.play(int(agent.act(g)[0]))


def test_cli_transcripts_and_pretrain_errors(tmp_path):
    arena = [sys.executable, "-m", "arena.cli"]
    out = str(tmp_path / "d")
    p = subprocess.run(arena + ["transcripts", "--game", "go", "--size", "5", "--games", "300", "--out", out],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert info["generated"] == 300 and info["tokenizer"]["pass"] == "token"
    p = subprocess.run(arena + ["transcripts", "--game", "othello", "--size", "6", "--games", "200", "--permute", "3",
                                "--out", out + "p"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["tokenizer"]["permutation"] == \
        Tokenizer.permuted("othello", 6, 3).permutation
    p = subprocess.run(arena + ["transcripts", "--source", "nope", "--out", out + "x"], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2 and "unknown --source 'nope'" in p.stderr
    p = subprocess.run(arena + ["pretrain", "--set", f"data={tmp_path}/none"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and "is not a transcript dataset" in p.stderr and "Traceback" not in p.stderr


# -- probes ------------------------------------------------------------------------------------------------------

def test_probe_reads_an_encoded_board_and_not_noise():
    from agents.seq.probe import fit_probe

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (3000, 16))
    onehot = np.eye(3)[y].reshape(3000, 48)
    feats = onehot @ rng.normal(size=(48, 64)) + 0.01 * rng.normal(size=(3000, 64))  # linearly encoded
    acc = fit_probe(feats[:2400], y[:2400], feats[2400:], y[2400:], 16, "linear", epochs=20)
    assert acc > 0.97
    noise = rng.normal(size=(3000, 32))
    acc = fit_probe(noise[:2400], y[:2400], noise[2400:], y[2400:], 16, "mlp", epochs=5)
    assert acc < 0.40  # three balanced classes: chance is 1/3


def _replayed_boards(tok, row):
    """``[(cells int8[N*N], black to move next)]`` after each prefix of ``row`` that ends in BOS or a move,
    by replaying it with Game (an implied pass is played: the side to move next is the one that can)."""
    g, out = Game(tok.game, tok.size), []
    for t, i in enumerate(row):
        if t > 0:
            if i < 2:
                break
            g.play(int(tok.id_to_action[i]))
        if not g.terminal and g.legal_actions() == [tok.size ** 2]:
            g.play(tok.size ** 2)
        out.append((g.cells().reshape(-1), g.to_play == 0))
    return out


def test_probe_command_on_a_tiny_model(tmp_path):
    tok = Tokenizer("othello", 6)
    T.write_dataset(str(tmp_path / "d"), tok, T.random_source("othello", 6, 1500, 0), "random", 0, 0.1,
                    progress=False)
    cfg = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=16, max_steps=20, eval_every=20,
                         eval_games=20, checkpoint_every=20, warmup_steps=5)
    pretrain(cfg, str(tmp_path / "run"), log=quiet, progress=False)
    p = subprocess.run([sys.executable, "-m", "arena.cli", "probe", "--ckpt", str(tmp_path / "run"), "--games", "60",
                        "--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(rep["results"]) == {"linear/relative", "mlp/relative", "linear/absolute", "mlp/absolute"}
    # Known answers from a replay of the same held-out games with Game: the positions (BOS and every move),
    # the test fifth (whole games), and the majority-class baseline of each labelling.
    rows = T.Dataset(str(tmp_path / "d")).rows("val", 60)
    labels, game_of = {"relative": [], "absolute": []}, []
    for b, row in enumerate(rows):
        for cells, black_next in _replayed_boards(tok, row):
            mine = 1 if black_next else -1
            labels["relative"].append(np.select([cells == 0, cells == mine], [0, 1], 2))
            labels["absolute"].append(np.select([cells == 0, cells == 1], [0, 1], 2))
            game_of.append(b)
    test = np.array(game_of) % 5 == 0
    assert (rep["games"], rep["positions"], rep["test_positions"]) == (len(rows), len(game_of), int(test.sum()))
    for name, y in labels.items():
        y = np.array(y)
        maj = [np.bincount(y[~test, s], minlength=3).argmax() for s in range(36)]
        assert rep["majority"][name] == pytest.approx((y[test] == maj).mean(), abs=1e-12)
    # Every accuracy (in full in probe.json; printed to 4 places) is a count of squares over the test
    # positions, for each of the 3 layers.
    full = json.load(open(tmp_path / "run" / "probe" / "probe.json"))["results"]
    squares = rep["test_positions"] * 36
    assert all(len(v) == 3 and all(abs(a * squares - round(a * squares)) < 1e-6 for a in v) for v in full.values())
    assert {k: [round(a, 4) for a in v] for k, v in full.items()} == rep["results"]
    assert os.path.getsize(tmp_path / "run" / "probe" / "probe.png") > 0


# -- the agent -------------------------------------------------------------------------------------------------

def test_seq_agent_plays_legal_games_and_raw_mode_forfeits(tmp_path):
    from arena.match import play_game
    from arena.specs import make_agent

    tok = Tokenizer("othello", 6)
    T.write_dataset(str(tmp_path / "d"), tok, T.random_source("othello", 6, 800, 0), "random", 0, 0.1,
                    progress=False)
    cfg = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=16, max_steps=5, eval_every=5,
                         eval_games=10, checkpoint_every=5, warmup_steps=2)
    run = str(tmp_path / "run")
    pretrain(cfg, run, log=quiet, progress=False)
    rnd = make_agent("random", "othello", 6)
    for spec in (f"seq:{run}", f"seq:{run},temp=1"):
        agent = make_agent(spec, "othello", 6, seed=3)
        for k in range(4):  # masked to legal moves: every game ends normally, forced passes included
            r = play_game(agent, rnd, "othello", 6, seed=k)
            assert r["reason"] == "end" and r["plies"] >= 10
    a1, a2 = (make_agent(f"seq:{run},temp=1", "othello", 6, seed=5) for _ in range(2))
    assert play_game(a1, rnd, "othello", 6, seed=1)["moves"] == play_game(a2, rnd, "othello", 6, seed=1)["moves"]
    raw = make_agent(f"seq:{run},legal_only=false", "othello", 6)
    reasons = {play_game(raw, rnd, "othello", 6, seed=k)["reason"].split(" move")[0] for k in range(6)}
    assert "forfeit: black: illegal" in reasons  # a 5-step model predicts illegal squares
    with pytest.raises(ValueError, match="was trained on othello 6x6, not othello 8x8"):
        make_agent(f"seq:{run}", "othello", 8)
    with pytest.raises(ValueError, match="legal_only must be true or false"):
        make_agent(f"seq:{run},legal_only=maybe", "othello", 6)


# -- RL fine-tuning --------------------------------------------------------------------------------------------

def test_group_advantages_and_self_play_mover():
    from agents.seq.finetune import group_advantages, play_batch

    r = np.array([1, -1, 1, 1, 0, 0, 0, 0], float)
    a = group_advantages(r, 2, 4)
    assert abs(a[:4].mean()) < 1e-9 and (a[4:] == 0).all() and a[0] > 0 > a[1]
    # In self-play every decision names the side that moved: the t-th token is the t-th board move of the
    # game, played at ply k, by black when k is even. 4x4 Othello games pass often, so the sides do not
    # simply alternate with t.
    torch.manual_seed(0)
    tok = Tokenizer("othello", 4)
    model = GPT(GPTConfig.preset("tiny", tok.vocab_size, tok.max_len))
    hist, _, dec = play_batch(model, tok, ["self"] * 16, 0, [[]] * 16, 1.0, list(range(16)),
                              {"forward_positions": 0})
    passes = 0
    for b, t, i, side in dec:
        board = [(k, x) for k, x in enumerate(hist[b]) if x != 16]
        k, x = board[t]
        assert tok.action_to_id[x] == i and side == k % 2
        passes += t % 2 != k % 2
    assert passes > 0  # some decision came after a pass


def test_grpo_step_moves_probability_toward_positive_advantage():
    from agents.seq.finetune import grpo_loss

    torch.manual_seed(0)
    tok = Tokenizer("othello", 6)
    model = GPT(GPTConfig.preset("tiny", tok.vocab_size, tok.max_len))
    g = Game("othello", 6)
    first = g.legal_actions()
    good, bad = int(tok.action_to_id[first[0]]), int(tok.action_to_id[first[1]])
    hist = [[first[0]], [first[1]]]
    decisions = [(0, 0, good), (1, 0, bad)]
    counts = {"forward_positions": 0, "tokens_trained": 0}

    def prob(i):
        with torch.no_grad():
            return torch.softmax(model(torch.tensor([[BOS]]))[0, 0], -1)[i].item()

    p_good, p_bad = prob(good), prob(bad)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(5):
        loss, info = grpo_loss(model, None, tok, hist, decisions, np.array([1.0, -1.0]), 1.0, 0.0, counts)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert prob(good) > p_good and prob(bad) < p_bad
    assert counts["tokens_trained"] == 10 and info["kl"] == 0.0


def test_finetune_runs_counts_compute_and_resumes(tmp_path):
    import dataclasses

    from agents.seq.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(game="othello", size=6, preset="tiny", opponents=("self", "snapshot", "random"), groups=3,
                         group_size=2, steps=4, eval_every=2, eval_games=8, checkpoint_every=2, snapshot_every=2,
                         eval_opponents=("random",))
    run = str(tmp_path / "rl")
    last = finetune(cfg, "none", run, log=quiet, progress=False)
    assert last["step"] == 4
    # The last evaluation scored the saved step-4 weights: replayed from the checkpoint, the same games
    # give the same score, a whole number of half points over its 8 games.
    from agents.seq.finetune import evaluate
    from agents.seq.load import checkpoint_tokenizer, load_gpt

    model, ck = load_gpt(run)
    assert ck["step"] == 4
    again = evaluate(model.eval(), checkpoint_tokenizer(ck), cfg.eval_opponents, cfg.eval_games, cfg.seed + 7,
                     {"forward_positions": 0}, cfg.opening_plies)
    assert again == last["eval"] and (2 * cfg.eval_games * last["eval"]["random"]).is_integer()
    rows = [json.loads(x) for x in open(os.path.join(run, "metrics.jsonl"))]
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert train[-1]["games"] == 4 * 6 == train[-1]["reward_events"]
    assert train[-1]["forward_positions"] > train[-1]["tokens_trained"] > 0
    assert all(r["kl"] == 0 for r in train)  # --init none: no reference
    assert all(0 <= r["illegal_rate"] <= 1 for r in train) and train[0]["illegal_rate"] > 0.5  # untrained
    with pytest.raises(ValueError, match="already has checkpoints"):
        finetune(cfg, "none", run, log=quiet, progress=False)
    # A resume may change only the budget, the evaluations, the checkpoints, threads and device (as arena
    # pretrain's RESUME_KEYS): anything the run learns from, named in one line.
    for field, value in (("lr", 2e-4), ("opponents", ("self", "random")), ("legal_coef", 0.1), ("seed", 1)):
        with pytest.raises(ValueError, match=rf"{field}=.* not {field}=.*a resume may change only the budget") as e:
            finetune(dataclasses.replace(cfg, steps=6, **{field: value}), "none", run, resume=True, log=quiet,
                     progress=False)
        assert "\n" not in str(e.value)
    log = []
    finetune(dataclasses.replace(cfg, steps=6, minutes=30.0, eval_every=3, eval_games=4, checkpoint_every=3,
                                 keep_checkpoints=1, threads=1), "none", run, resume=True, log=log.append,
             progress=False)
    assert any("at step 4" in x for x in log) and checkpoint.load(run)["step"] == 6
    assert os.listdir(os.path.join(run, "checkpoints")) == ["step_00000006.pt"]  # keep_checkpoints=1
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        FinetuneConfig(group_size=1)


def test_selfplay_source_plays_a_runs_net(tmp_path):
    from agents.alphazero.config import TrainConfig
    from agents.alphazero.network import new_net
    from agents.alphazero.selfplay import selfplay_games
    from agents.alphazero.train import save_checkpoint

    cfg = TrainConfig(game="othello", size=6, network="b4c64")
    os.makedirs(tmp_path / "run" / "checkpoints")
    net = new_net(cfg)
    save_checkpoint(str(tmp_path / "run"), net, torch.optim.SGD(net.parameters(), lr=0.1), 3, cfg,
                    np.random.default_rng(0))
    batches = list(selfplay_games(str(tmp_path / "run"), "othello", 6, 6, seed=1, simulations=4))
    acts, lens = T.lists_to_batch(batches[0])
    assert len(lens) == 6
    for i in range(6):
        assert Game("othello", 6).play_all(acts[i, : lens[i]].tolist()).terminal
    with pytest.raises(ValueError, match="was trained on othello 6x6, not othello 8x8"):
        list(selfplay_games(str(tmp_path / "run"), "othello", 8, 2, seed=1))


# -- known answers: legal-move error, probe labels, GRPO's KL term ----------------------------------------------

def _replayed_legal_ids(tok, row):
    """``list[set]``: the legal ids after each prefix ``row[:t+1]``, by replaying the row with Game (forced
    passes played in between; empty once the game is over or the row has ended)."""
    n = tok.size
    g = Game(tok.game, n)
    out = []
    for t, i in enumerate(row):
        if t > 0:
            if i < 2 or g.terminal:  # PAD (or a stray BOS): the record has ended
                out.extend(set() for _ in range(len(row) - t))
                break
            g.play(int(tok.id_to_action[i]))
        if not g.terminal and g.legal_actions() == [n * n]:
            g.play(n * n)  # a forced pass has no token
        out.append(set() if g.terminal else {int(tok.action_to_id[a]) for a in g.legal_actions()})
    return out


class _StubModel:
    """``model(ids [B, T]) -> logits [B, T, V]`` whose top-1 after prefix ``ids[b, :t+1]`` is ``pick(row
    prefix) -> id``."""

    def __init__(self, vocab, pick):
        self.vocab, self.pick = vocab, pick

    def __call__(self, x):
        B, T = x.shape
        out = torch.zeros(B, T, self.vocab)
        for b in range(B):
            row = x[b].tolist()
            for t in range(T):
                out[b, t, self.pick(row[: t + 1])] = 5.0
        return out


def test_legal_move_error_known_answers():
    from agents.seq.legal import evaluate

    tok = Tokenizer("othello", 6)
    e4 = Game("othello", 6).parse("e4")
    acts, lens = random_games("othello", 6, 80, seed=7)
    acts, lens = acts[acts[:, 0] == e4][:12], lens[acts[:, 0] == e4][:12]  # games that open with e4
    assert len(lens) == 12
    rows = tok.encode_batch(acts, lens).astype(np.int64)
    rows = np.concatenate([rows, rows[:2, :]])  # and two records cut mid-game
    rows[-2, 6:] = PAD
    rows[-1, 11:] = PAD
    legal = legal_targets(tok, rows)
    truth = [_replayed_legal_ids(tok, r) for r in rows]
    for b in range(len(rows)):  # the rules' legal sets, prefix by prefix
        assert [set(np.flatnonzero(legal[b, t]).tolist()) for t in range(rows.shape[1])] == truth[b]
    # Every move of a record was played from a prefix with a legal move. After the last move of a whole
    # game nothing is legal; a record cut mid-game still has a legal move to predict after its last one.
    # So the prefixes scored are the moves, plus one per cut record.
    scored = int((rows[:, 1:] >= 2).sum()) + 2
    first = int(tok.action_to_id[e4])  # legal at the first move, occupied ever after
    assert first in truth[0][0]
    res = evaluate(_StubModel(tok.vocab_size, lambda p: first), rows, legal, "cpu", batch=5)
    assert res["prefixes"] == scored
    assert res["legal_error"] == pytest.approx((scored - len(rows)) / scored, abs=1e-12)
    # A corner: legal at some prefixes and not others; the count comes from the replayed legal sets.
    a1 = int(tok.action_to_id[0])
    ok = sum(a1 in truth[b][t] for b in range(len(rows)) for t in range(rows.shape[1] - 1))
    assert 0 < ok < scored
    res = evaluate(_StubModel(tok.vocab_size, lambda p: a1), rows, legal, "cpu")
    assert res["legal_error"] == pytest.approx((scored - ok) / scored, abs=1e-12)
    # Always a legal move (the largest legal id, whatever was played): no error. BOS or PAD: all errors.
    oracle = {tuple(r[: t + 1]): truth[b][t] for b, r in enumerate(rows.tolist()) for t in range(len(r))}
    res = evaluate(_StubModel(tok.vocab_size, lambda p: max(oracle[tuple(p)] or {PAD})), rows, legal, "cpu")
    assert res["legal_error"] == 0.0 and res["prefixes"] == scored
    for special in (BOS, PAD):
        res = evaluate(_StubModel(tok.vocab_size, lambda p, s=special: s), rows, legal, "cpu")
        assert res["legal_error"] == 1.0 and res["prefixes"] == scored


def _board(size, black, white):
    """``int64[N*N]`` absolute labels (0 empty, 1 black, 2 white) from squares in Othello notation."""
    g = Game("othello", size)
    out = np.zeros(size * size, np.int64)
    out[[g.parse(s) for s in black.split()]] = 1
    out[[g.parse(s) for s in white.split()]] = 2
    return out


def test_probe_labels_known_answer():
    from agents.seq.probe import collect

    torch.manual_seed(0)
    # 8x8: f5 d6 c3, worked by hand. f5 flips e5; d6 flips d5; c3 flips d4 (diagonal c3-d4-e5).
    tok8 = Tokenizer("othello", 8)
    ids8 = [int(tok8.action_to_id[Game("othello", 8).parse(m)]) for m in ("f5", "d6", "c3")]
    row8 = np.array([[BOS, *ids8, PAD, PAD]], np.int64)
    boards = [  # (absolute board, side to move next)
        (_board(8, "e4 d5", "d4 e5"), "black"),
        (_board(8, "e4 d5 e5 f5", "d4"), "white"),
        (_board(8, "e4 e5 f5", "d4 d5 d6"), "black"),
        (_board(8, "c3 d4 e4 e5 f5", "d5 d6"), "white"),
    ]
    # 4x4: after b1 c1 d1 a3 c4 d3 d4 (black's d4 last) white has no move: the implied pass makes black
    # the side to move next, although black just moved.
    tok4 = Tokenizer("othello", 4)
    g4 = Game("othello", 4)
    moves4 = ["b1", "c1", "d1", "a3", "c4", "d3", "d4"]
    row4 = np.array([[BOS, *[int(tok4.action_to_id[g4.parse(m)]) for m in moves4], PAD]], np.int64)
    boards4 = [(_board(4, "b1 c1 d1 b2 c2 c3 c4 d4", "a3 b3 d3"), "black")]
    g4.play_all(moves4)  # the hand-worked board agrees with the rules engine
    assert g4.to_play == 1 and g4.legal_actions() == [16]  # white to move, and white can only pass
    assert (np.select([g4.cells().reshape(-1) == 1, g4.cells().reshape(-1) == -1], [1, 2], 0) == boards4[0][0]).all()
    for tok, row, want, at in ((tok8, row8, boards, [0, 1, 2, 3]), (tok4, row4, boards4, [7])):
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=tok.max_len, n_layer=1, n_head=2, d_model=16))
        x, labels, game_of = collect(model, tok, row)
        live = int((row[0, 1:] >= 2).sum()) + 1  # BOS and every move; the PADs are not prefixes
        assert x.shape == (2, live, 16) and (game_of == 0).all()
        for t, (absolute, mover) in zip(at, want):
            assert labels["absolute"][t].tolist() == absolute.tolist(), t
            mine, theirs = (1, 2) if mover == "black" else (2, 1)
            relative = np.select([absolute == mine, absolute == theirs], [1, 2], 0)
            assert labels["relative"][t].tolist() == relative.tolist(), t
    # The 4x4 case by name: black's discs are "mine" there, white's "theirs".
    b1, a3 = g4.parse("b1"), g4.parse("a3")
    assert labels["relative"][7][b1] == 1 and labels["relative"][7][a3] == 2


def test_grpo_kl_term_known_answer():
    import copy

    from agents.seq.finetune import grpo_loss

    tok = Tokenizer("othello", 6)
    cfg = GPTConfig.preset("tiny", tok.vocab_size, tok.max_len)
    torch.manual_seed(0)
    model = GPT(cfg)
    torch.manual_seed(1)
    ref = GPT(cfg).eval()
    with torch.no_grad():  # sharper policies than the 0.02-scale init, so the KL is far from 0
        model.tok.weight.mul_(40.0)
        ref.tok.weight.mul_(40.0)
    acts, lens = random_games("othello", 6, 3, seed=11)
    hist = [acts[i, : lens[i]].tolist() for i in range(3)]
    enc = [tok.encode(h) for h in hist]
    decisions = [(0, 0, int(enc[0][1])), (0, 5, int(enc[0][6])), (2, 3, int(enc[2][4])), (2, 17, int(enc[2][18])),
                 (0, 9, int(enc[0][10]))]  # game 1 has no decision: its row is left out
    adv = np.array([0.5, -1.0, 2.0, -0.3, 1.2])
    temperature, kl_coef = 0.7, 0.3
    counts = {"forward_positions": 0, "tokens_trained": 0}

    # Independently: each decision's own prefix through both models, softmax over the replayed legal ids.
    kls, pgs = [], []
    with torch.no_grad():
        for (b, t, i), a in zip(decisions, adv):
            legal = sorted(_replayed_legal_ids(tok, enc[b])[t])
            assert i in legal and len(legal) >= 2
            prefix = torch.as_tensor(enc[b][: t + 1], dtype=torch.long)[None]
            lp = torch.log_softmax(model(prefix)[0, t, legal].double() / temperature, -1)
            lq = torch.log_softmax(ref(prefix)[0, t, legal].double() / temperature, -1)
            kls.append(float((lp.exp() * (lp - lq)).sum()))
            pgs.append(float(-a * lp[legal.index(i)]))
    kl_expected, pg_expected = float(np.mean(kls)), float(np.mean(pgs))
    assert kl_expected > 0.05

    loss, info = grpo_loss(model, ref, tok, hist, decisions, adv, temperature, kl_coef, counts)
    assert info["kl"] > 0
    assert info["kl"] == pytest.approx(kl_expected, abs=1e-5)
    assert info["pg"] == pytest.approx(pg_expected, abs=1e-5)
    assert loss.item() == pytest.approx(info["pg"] + kl_coef * info["kl"], abs=1e-5)
    assert loss.requires_grad
    # The reverse direction, KL(ref || pi), is another number: the test tells them apart.
    with torch.no_grad():
        rev = []
        for b, t, i in decisions:
            legal = sorted(_replayed_legal_ids(tok, enc[b])[t])
            prefix = torch.as_tensor(enc[b][: t + 1], dtype=torch.long)[None]
            lp = torch.log_softmax(model(prefix)[0, t, legal].double() / temperature, -1)
            lq = torch.log_softmax(ref(prefix)[0, t, legal].double() / temperature, -1)
            rev.append(float((lq.exp() * (lq - lp)).sum()))
    assert abs(np.mean(rev) - kl_expected) > 1e-3

    same, info_same = grpo_loss(model, copy.deepcopy(model).eval(), tok, hist, decisions, adv, temperature, kl_coef,
                                counts)
    assert abs(info_same["kl"]) < 1e-6 and info_same["pg"] == pytest.approx(pg_expected, abs=1e-5)
    assert same.item() == pytest.approx(info_same["pg"], abs=1e-5)


# -- what keeps the world model during RL: the legal-move loss and a mixed pretraining batch ------------------

def test_grpo_legal_loss_is_the_illegal_mass_and_its_gradient_removes_it():
    """legal_coef adds -log(the raw model's mass on the legal ids), averaged over every position of the games
    that has a legal move; off (0) the loss is unchanged; its gradient alone moves mass onto legal moves."""
    from agents.seq.finetune import grpo_loss

    tok = Tokenizer("othello", 6)
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", tok.vocab_size, tok.max_len))
    with torch.no_grad():
        model.tok.weight.mul_(20.0)  # a sharp policy with a lot of mass off the legal moves
    acts, lens = random_games("othello", 6, 2, seed=3)
    hist = [acts[i, : lens[i]].tolist() for i in range(2)]
    enc = [tok.encode(h) for h in hist]
    decisions = [(0, 0, int(enc[0][1])), (1, 4, int(enc[1][5]))]
    counts = {"forward_positions": 0, "tokens_trained": 0}
    adv = np.array([1.0, -0.5])

    # Independently: each prefix of each game through the model, softmax over every id, mass on the legal ones.
    T_ = max(len(e) for e in enc)
    rows = np.zeros((2, T_), np.int64)
    for i, e in enumerate(enc):
        rows[i, : len(e)] = e
    legal = legal_targets(tok, rows)
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(rows)).double(), -1).numpy()
    has = legal.any(-1)
    expected = float(np.mean(-np.log((p * legal).sum(-1)[has])))
    assert expected > 0.5

    off, info_off = grpo_loss(model, None, tok, hist, decisions, adv, 1.0, 0.0, counts)
    on, info_on = grpo_loss(model, None, tok, hist, decisions, adv, 1.0, 0.0, counts, legal_coef=0.3)
    assert "legal" not in info_off and info_on["legal"] == pytest.approx(expected, abs=1e-5)
    assert on.item() == pytest.approx(off.item() + 0.3 * expected, abs=1e-5)
    # The legal loss's gradient alone (no advantage): the illegal mass falls; without it nothing moves.
    zero, _ = grpo_loss(model, None, tok, hist, decisions, np.zeros(2), 1.0, 0.0, counts)
    zero.backward()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(5):
        loss, info = grpo_loss(model, None, tok, hist, decisions, np.zeros(2), 1.0, 0.0, counts, legal_coef=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, after = grpo_loss(model, None, tok, hist, decisions, np.zeros(2), 1.0, 0.0, counts, legal_coef=1.0)
    assert after["legal"] < 0.8 * expected


def test_mixed_pretraining_batch_adds_the_next_token_loss(tmp_path):
    """mix_coef adds the next-token cross-entropy on stored games (counted as trained tokens), off by default;
    its gradient lowers that loss; a finetune run with it logs it and trains on more tokens."""
    from agents.seq.finetune import FinetuneConfig, finetune, mix_loss

    tok = Tokenizer("othello", 6)
    data = str(tmp_path / "data")
    T.write_dataset(data, tok, T.random_source("othello", 6, 300, 1), "random", 1, progress=False)
    rows = T.Dataset(data).sample("train", 16, np.random.default_rng(0))
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", tok.vocab_size, tok.max_len))
    counts = {"forward_positions": 0, "tokens_trained": 0}
    loss = mix_loss(model, rows, tok, counts)
    x = torch.from_numpy(rows)
    y, logits = x[:, 1:], model(x[:, :-1])
    real = y != PAD
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[real], y[real]).item(), abs=1e-5)
    assert counts["tokens_trained"] == counts["forward_positions"] == int(real.sum())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(5):
        opt.zero_grad()
        mix_loss(model, rows, tok, counts).backward()
        opt.step()
    assert mix_loss(model, rows, tok, counts).item() < loss.item()

    base = dict(game="othello", size=6, preset="tiny", opponents=("random",), groups=2, group_size=2, steps=2,
                eval_every=100, eval_games=2, checkpoint_every=100, eval_opponents=("random",))
    plain = finetune(FinetuneConfig(**base), "none", str(tmp_path / "a"), log=quiet, progress=False)
    mixed = finetune(FinetuneConfig(**base, mix_data=data, mix_coef=0.5, mix_batch=8, legal_coef=0.1), "none",
                     str(tmp_path / "b"), log=quiet, progress=False)
    ra, rb = ([json.loads(x) for x in open(tmp_path / d / "metrics.jsonl") if '"loss"' in x] for d in "ab")
    assert "mix" not in ra[-1] and "legal" not in ra[-1] and rb[-1]["mix"] > 0 and rb[-1]["legal"] > 0
    # The mixed batch draws from its own stream: after two steps the run's own stream (openings, opponents,
    # colours, game seeds) is where the plain run's is. Had it drawn from run.rng, it would be further on.
    ka, kb = (checkpoint.load(str(tmp_path / d)) for d in "ab")
    assert ka["step"] == kb["step"] == 2 and ka["rng"]["numpy"] == kb["rng"]["numpy"]
    assert ka["rng"]["numpy"] != checkpoint.rng_state(np.random.default_rng(0))["numpy"]  # it did draw
    assert rb[-1]["tokens_trained"] > ra[-1]["tokens_trained"]
    assert plain["step"] == mixed["step"] == 2
    with pytest.raises(ValueError, match="needs both mix_data"):
        FinetuneConfig(mix_coef=0.5)
