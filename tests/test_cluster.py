"""A real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a second node,
each with its own resources). Self-play workers and tournament games can only run on the second node
(the head has no CPU); that node is removed mid-run and another is added, and the run goes on, finishes
and resumes. The learner's state actors (weight store, replay buffer) stay on the driver's node."""

import dataclasses
import os
import threading
import time

import pytest

from agents.common import checkpoint
from agents.common.config import load_config

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

TINY = ["size=4", "games_in_flight=8", "simulations=4", "cheap_simulations=2", "min_replay=60", "batch_size=32",
        "publish_every=5", "checkpoint_every=10", "eval_every=0", "warmup_steps=5", "replay_capacity=5000",
        "max_samples_per_position=2", "minutes=5", "inference=torch"]


def wait_for(pred, what, timeout=180):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    node = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c, node
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def test_cluster_training_rides_out_a_lost_node_and_resumes(tmp_path, cluster):
    from agents.alphazero.config import TrainConfig
    from agents.alphazero.train import train

    c, node = cluster
    cfg = load_config(TrainConfig, "configs/othello6_az.yaml", TINY + ["max_steps=40"])
    lines, result = [], {}
    t = threading.Thread(target=lambda: result.update(out=train(cfg, str(tmp_path), address=c.address,
                                                                log=lines.append)))
    t.start()
    reports = lambda: [x for x in lines if x.startswith("self-play worker 0 (pid ")]  # noqa: E731
    try:
        wait_for(lambda: reports(), "the first self-play games from the second node")
        c.remove_node(node)  # the only node with a CPU: every self-play worker was there
        wait_for(lambda: any("worker 0 failed" in x for x in lines), "the lost worker to be reported")
        c.add_node(num_cpus=1)
        wait_for(lambda: len(reports()) >= 2, "a worker restarted on the new node")
        t.join(timeout=300)
    finally:
        if t.is_alive():
            t.join(timeout=60)
    assert not t.is_alive() and result["out"][1] == 40  # the learner rode it out and finished its steps
    first, second = (int(x.split("(pid ")[1].split(")")[0]) for x in reports()[:2])
    assert first != second
    assert checkpoint.load(tmp_path)["step"] == 40 and os.path.exists(tmp_path / "replay.npz")
    # The same run resumes cleanly on the cluster.
    more = load_config(TrainConfig, "configs/othello6_az.yaml", TINY + ["max_steps=50"])
    log = []
    _, step = train(more, str(tmp_path), address=c.address, resume=True, log=log.append)
    assert step == 50 and any("at learner step 40" in x for x in log)


def test_cluster_tournament_rides_out_a_lost_node_with_the_same_games(tmp_path, cluster):
    from arena.tournament import TournamentConfig, read_games, run_tournament

    c, node = cluster
    cfg = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy", "m=mcts:rollouts=30"),
                           games=6, openings=3, opening_plies=2, workers=1, seed=4)
    out = str(tmp_path / "on_cluster")
    result = {}
    # Joined here, so that this thread can ask the head about its nodes whenever the tournament's games end
    # (the tournament then plays on this connection rather than one of its own).
    ray.init(address=c.address, log_to_driver=False)
    t = threading.Thread(target=lambda: result.update(rep=run_tournament(cfg, out, address=c.address,
                                                                         progress=False, log=lambda *a: None)))
    t.start()
    wait_for(lambda: len(read_games(out)) >= 2, "the first games")
    c.remove_node(node)
    # The replacement joins once the head has marked the lost node dead (an event, not a pause).
    wait_for(lambda: not any(n["NodeID"] == node.node_id and n["Alive"] for n in ray.nodes()),
             "the head to mark the lost node dead")
    c.add_node(num_cpus=1)
    t.join(timeout=300)
    assert not t.is_alive() and result["rep"]["games"] == 18
    here = str(tmp_path / "here")
    run_tournament(dataclasses.replace(cfg, workers=0), here, progress=False, log=lambda *a: None)
    key = lambda d: {g["id"]: (g["moves"], g["result"]) for g in read_games(d)}  # noqa: E731
    assert key(out) == key(here)


def test_an_unreachable_cluster_is_one_line_without_rays_retries(monkeypatch):
    from agents.common import cluster

    # "Within seconds" as events: one TCP probe, bounded by the timeout given, and never a call to
    # ray.init (whose own retries last minutes).
    probes, inits = [], []
    real = cluster.socket.create_connection
    monkeypatch.setattr(cluster.socket, "create_connection",
                        lambda address, timeout=None: probes.append((address, timeout)) or real(address, timeout))
    monkeypatch.setattr(ray, "init", lambda *a, **k: inits.append((a, k)))
    with pytest.raises(ValueError, match="no Ray cluster answers at 127.0.0.1:9") as e:
        cluster.connect("127.0.0.1:9", timeout=3)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        cluster.connect("nonsense")
    assert probes == [(("127.0.0.1", 9), 3)] and inits == []
