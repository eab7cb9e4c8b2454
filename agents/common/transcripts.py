"""Transcript datasets for the sequence model: compact token shards, a manifest, memory-mapped reads.

    arena transcripts --game othello --source random --games 1000000 --out data/othello8_random

A dataset directory holds
    manifest.json          game, size, source, seed, counts (generated, duplicates, train, val), the
                           tokenizer, the split rule and the shard list
    train_00000.npy ...    token ids ``[n, max_len]`` (uint8 up to 256 ids), BOS first, PAD after the end
    val_00000.npy ...      the held-out games
    train_00000_results.npy ...   (sources that know them: engine games, tournaments) float32 ``[n]``,
                           black's score per game (1 win, 0.5 draw, 0 loss), row for row with the shard

Games are deduplicated (an 8-byte BLAKE2b digest of the token row) and split deterministically by that
digest: a game is in validation when ``digest % 10000 < val_fraction * 10000``, whatever the order or
the source it came from. Sources here: uniformly random games (as Othello-GPT) and WTHOR ``.wtb`` files
(the French Othello federation's game database). Any other source is handed in by the caller as batches
(``lists_to_batch`` of its games, with their results when known): ``arena.transcripts`` adds a training
run's self-play (``agents.alphazero.selfplay.selfplay_games``), a tournament's games
(``arena.tournament.results.tournament_games``) and engine games over GTP (``arena.engine_games``).

The format is shared by the sequence model (pretraining reads the tokens) and AlphaZero (the engine
bootstrap, agents.alphazero.bootstrap, replays the games and learns the moves and the results).
"""

import hashlib
import json
import os
import time

import numpy as np
from tqdm import tqdm

from agents.common.files import write_json
from agents.common.tokenizer import Tokenizer, is_move
from envs.core import make_batch
from envs.replay import with_passes

SPLIT = 10_000


# -- sources: each yields (actions int16[B, L] padded with -1, lengths int32[B]) batches ------------------

def random_source(game, size, games, seed, batch=50_000, **game_kwargs):
    """Uniformly random legal moves at every ply, generated in Numba."""
    done, k = 0, 0
    while done < games:
        b = min(batch, games - done)
        g = make_batch(game, b, size, seed=seed * 1_000_003 + k, **game_kwargs)
        yield g.random_games(2 * size * size + 8)
        done += b
        k += 1


def lists_to_batch(games, results=None):
    """Games as lists of actions -> ``(actions int16[B, L] padded with -1, lengths int32[B])``, plus
    ``results float32[B]`` (black's score) when ``results`` are given."""
    L = max((len(a) for a in games), default=1)
    out = np.full((len(games), max(L, 1)), -1, np.int16)
    for i, a in enumerate(games):
        out[i, : len(a)] = a
    batch = out, np.array([len(a) for a in games], np.int32)
    if results is None:
        return batch
    if len(results) != len(games):
        raise ValueError(f"{len(games)} games but {len(results)} results")
    return (*batch, np.asarray(results, np.float32))


def read_wthor(path):
    """Games of a WTHOR ``.wtb`` file as lists of 8x8 actions. The layout (the federation's published
    WTHOR format): a 16-byte header (game count at bytes 4-7, little-endian; board size at byte 12, 0 or
    8 for 8x8), then 68-byte records whose last 60 bytes are the moves as 10*row+col (11..88), 0 as
    padding; passes are not stored."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16:
        raise ValueError(f"{path}: not a WTHOR file (shorter than its 16-byte header)")
    n = int.from_bytes(data[4:8], "little")
    board = data[12]
    if board not in (0, 8):
        raise ValueError(f"{path}: board size byte {board}; only 8x8 WTHOR files are supported")
    if len(data) < 16 + 68 * n:
        raise ValueError(f"{path}: header says {n} games but the file holds {(len(data) - 16) // 68}")
    games = []
    for i in range(n):
        rec = data[16 + 68 * i: 16 + 68 * (i + 1)]
        moves = []
        for byte in rec[8:68]:
            if byte == 0:
                break
            r, c = divmod(byte, 10)
            if not (1 <= r <= 8 and 1 <= c <= 8):
                raise ValueError(f"{path}: game {i + 1} has an invalid move byte {byte}")
            moves.append((r - 1) * 8 + (c - 1))
        games.append(moves)
    return games


def wthor_source(paths):
    """WTHOR games with the forced passes (which the files leave out) put back by replaying them."""
    for path in paths:
        games = read_wthor(path)
        if not games:
            yield lists_to_batch(games)
            continue
        moves, lengths = lists_to_batch(games)
        actions, n, written = with_passes(make_batch("othello", len(games), 8), moves, lengths)
        bad = np.flatnonzero(written < lengths)
        if bad.size:  # n counts what was played before the refused move, its implied pass included
            raise ValueError(f"{path}: game {bad[0] + 1} has an illegal move at ply {n[bad[0]] + 1}")
        yield actions, n


# -- writing and reading ---------------------------------------------------------------------------------

def digests(ids):
    """``uint64[B]``: an 8-byte BLAKE2b digest of each token row."""
    return np.array([int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") for r in ids],
                    np.uint64)


def write_dataset(out, tok, batches, source, seed, val_fraction=0.05, shard_games=1_000_000, total=None,
                  progress=True, compute=None):
    """Tokenize, deduplicate, split and write ``batches`` to ``out``; returns the manifest. A batch is
    ``(actions, lengths)`` or, from a source that knows the results, ``(actions, lengths, results)``
    (black's score per game), and then every shard gets its results file. Shards and the manifest are
    written atomically; the manifest is written last, so a dataset without one is unfinished. The
    manifest records the wall-clock seconds and ``compute`` (a dict the source filled, if any)."""
    if os.path.exists(os.path.join(out, "manifest.json")):
        raise ValueError(f"{out} already holds a dataset (manifest.json); choose another --out or remove it")
    os.makedirs(out, exist_ok=True)
    seen = set()
    pending = {"train": [], "val": []}  # (token rows, results) pairs not yet in a shard
    shards = {"train": [], "val": []}
    counts = {"generated": 0, "duplicates": 0, "train": 0, "val": 0, "tokens_train": 0, "tokens_val": 0}
    t0 = time.monotonic()
    bar = tqdm(total=total, unit="game", disable=not progress, dynamic_ncols=True)
    with_results = None  # fixed by the first batch: a dataset has results for every game or for none

    def save(name, arr):
        tmp = os.path.join(out, name + ".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, os.path.join(out, name))

    def flush(split, final=False):
        rows = pending[split]
        while rows and (final or sum(len(r) for r, _ in rows) >= shard_games):
            arr, res = np.concatenate([r for r, _ in rows]), np.concatenate([x for _, x in rows])
            name = f"{split}_{len(shards[split]):05d}.npy"
            save(name, arr[:shard_games])
            shard = {"file": name, "games": len(arr[:shard_games])}
            if with_results:
                shard["results"] = name.replace(".npy", "_results.npy")
                save(shard["results"], res[:shard_games])
            shards[split].append(shard)
            rows = [(arr[shard_games:], res[shard_games:])] if len(arr) > shard_games else []
            if final and not rows:
                break
        pending[split] = rows

    # Dedup and split by the canonical (unpermuted) ids: a permuted-token control holds the very same
    # games, split the same way, as the dataset it controls for.
    canon = Tokenizer(tok.game, tok.size) if tok.permutation is not None else tok
    for batch in batches:
        actions, lengths = batch[:2]
        if with_results is None:
            with_results = len(batch) == 3
        elif with_results != (len(batch) == 3):
            raise ValueError("a source gave results for some batches and not for others")
        results = batch[2] if with_results else np.full(len(lengths), np.nan, np.float32)
        ids = tok.encode_batch(actions, lengths)
        d = digests(ids if canon is tok else canon.encode_batch(actions, lengths))
        fresh = np.zeros(len(ids), bool)
        for i, x in enumerate(d.tolist()):
            if x not in seen:
                seen.add(x)
                fresh[i] = True
        counts["generated"] += len(ids)
        counts["duplicates"] += int((~fresh).sum())
        is_val = (d % SPLIT) < int(round(val_fraction * SPLIT))
        for split, which in (("train", fresh & ~is_val), ("val", fresh & is_val)):
            if which.any():
                pending[split].append((ids[which], results[which]))
                counts[split] += int(which.sum())
                counts["tokens_" + split] += int(is_move(ids[which]).sum())
            flush(split)
        bar.update(len(ids))
    bar.close()
    flush("train", True)
    flush("val", True)
    manifest = {"game": tok.game, "size": tok.size, "source": source, "seed": seed, "counts": counts,
                "tokenizer": tok.describe(), "val_fraction": val_fraction,
                "split": f"blake2b-8 digest of the unpermuted token row % {SPLIT} < {int(round(val_fraction * SPLIT))} is val",
                "results": bool(with_results), "shards": shards, "seconds": round(time.monotonic() - t0, 1),
                "compute": compute or {}}
    write_json(os.path.join(out, "manifest.json"), manifest)
    return manifest


class FreshGames:
    """Uniformly random games made on the fly in Numba, on one side of the split rule of every dataset
    here (``digest % SPLIT < val_fraction * SPLIT`` is validation). A pretraining run on the ``train``
    side never sees a game twice (1M stored games are 57M tokens, a few CPU-hours of training), and no
    game on the ``val`` side is ever trained on, by it or by a run on a stored random dataset, so
    ``arena seq-eval`` scores held-out games. ``sample(step, n)`` is a pure function of ``(seed, step)``:
    a resumed run draws the same games."""

    def __init__(self, tok, seed, val_fraction=0.05, side="train"):
        if side not in ("train", "val"):
            raise ValueError(f"side must be train or val, got {side!r}")
        self.tok, self.canon = tok, Tokenizer(tok.game, tok.size)  # the split reads unpermuted ids
        self.val_cut, self.side, self.seed = int(round(val_fraction * SPLIT)), side, int(seed)

    @classmethod
    def training_side(cls, dataset, seed):
        """Fresh training games for a ``random`` dataset (its tokenizer, its split)."""
        m = dataset.manifest
        if m.get("source") != "random":
            raise ValueError(f"{dataset.path}: fresh games are uniformly random; this dataset's source is "
                             f"{m.get('source')!r}")
        return cls(dataset.tokenizer, seed, m.get("val_fraction", 0.05), "train")

    def sample(self, step, n):
        """``int64[n, max_len]`` fresh rows for ``step`` (token ids of ``tok``)."""
        out, got, k = [], 0, 0
        keep_share = 1 - self.val_cut / SPLIT if self.side == "train" else self.val_cut / SPLIT
        while got < n:
            b = int((n - got) / max(keep_share, 1e-3) * 1.1) + 8  # spare games for the other side's share
            key = np.random.SeedSequence([0xF5E, self.seed, int(step), k]).generate_state(1, np.uint64)[0]
            actions, lengths = make_batch(self.tok.game, b, self.tok.size, seed=int(key)).random_games(
                2 * self.tok.size ** 2 + 8)
            is_val = (digests(self.canon.encode_batch(actions, lengths)) % SPLIT) < self.val_cut
            keep = is_val if self.side == "val" else ~is_val
            out.append(self.tok.encode_batch(actions[keep], lengths[keep]))
            got += int(keep.sum())
            k += 1
        return np.concatenate(out)[:n].astype(np.int64)


class Dataset:
    """A written dataset: ``train`` and ``val`` as lists of memory-mapped ``[n, max_len]`` arrays."""

    def __init__(self, path):
        mp = os.path.join(path, "manifest.json")
        if not os.path.exists(mp):
            raise ValueError(f"{path} is not a transcript dataset (no manifest.json; unfinished or wrong path)")
        with open(mp) as f:
            self.manifest = json.load(f)
        self.path = path
        self.tokenizer = Tokenizer(self.manifest["game"], self.manifest["size"],
                                   permutation=self.manifest["tokenizer"].get("permutation"))
        self.train = [np.load(os.path.join(path, s["file"]), mmap_mode="r") for s in self.manifest["shards"]["train"]]
        self.val = [np.load(os.path.join(path, s["file"]), mmap_mode="r") for s in self.manifest["shards"]["val"]]

    def results(self, name):
        """``float32[n]``: black's score in each game of a split, in row order (``rows``), or None when the
        dataset's source did not record results."""
        shards = self.manifest["shards"][name]
        if not self.manifest.get("results"):
            return None
        out = [np.load(os.path.join(self.path, s["results"])) for s in shards]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def split(self, name):
        return self.train if name == "train" else self.val

    def count(self, name):
        return sum(len(a) for a in self.split(name))

    def sample(self, name, n, rng):
        """``int64[n, max_len]`` rows drawn uniformly from a split."""
        arrs = self.split(name)
        sizes = np.array([len(a) for a in arrs])
        if sizes.sum() == 0:
            raise ValueError(f"{self.path}: the {name} split is empty")
        flat = rng.integers(0, sizes.sum(), n)
        which = np.searchsorted(np.cumsum(sizes), flat, side="right")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return np.stack([arrs[w][f - starts[w]] for w, f in zip(which, flat)]).astype(np.int64)

    def rows(self, name, limit=None):
        """The first ``limit`` rows of a split, in order, as ``int64``."""
        out, left = [], limit if limit is not None else float("inf")
        for a in self.split(name):
            if left <= 0:
                break
            take = a[: int(min(left, len(a)))]
            out.append(np.asarray(take, np.int64))
            left -= len(take)
        return np.concatenate(out) if out else np.zeros((0, self.tokenizer.max_len), np.int64)
