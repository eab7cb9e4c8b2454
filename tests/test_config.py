"""Config loading: YAML plus --set overrides into one frozen dataclass, with one-line errors."""

import dataclasses

import pytest

from agents.common.config import dumps, load_config
from agents.alphazero.config import TrainConfig


def test_yaml_and_overrides(tmp_path):
    cfg = load_config(TrainConfig, "configs/othello6_az.yaml", ["simulations=8", "anchors=random,greedy",
                                                              "full_search_prob=0.25"])
    assert cfg.size == 6 and cfg.simulations == 8 and cfg.anchors == ("random", "greedy")
    assert cfg.full_search_prob == 0.25
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.size = 8
    assert '"simulations": 8' in dumps(cfg)


@pytest.mark.parametrize("text,sets,match", [
    ("sizee: 6\n", [], "unknown key 'sizee'"),
    ("size: six\n", [], "size must be an integer"),
    ("game: chess\n", [], "game must be"),
    ("- a\n- b\n", [], "must be a mapping"),
    ("size: [1\n", [], "malformed YAML"),
    ("", ["simulations"], "key=value"),
    ("", ["nope=1"], "unknown key 'nope'"),
    ("", ["network=b99c1"], "unknown network preset"),
])
def test_bad_configs_are_one_line_errors(tmp_path, text, sets, match):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        load_config(TrainConfig, p, sets)
    assert "\n" not in str(e.value)


def test_missing_file():
    with pytest.raises(ValueError, match="cannot read config"):
        load_config(TrainConfig, "configs/nope.yaml")


def test_every_shipped_config_loads():
    import glob

    paths = sorted(glob.glob("configs/*_az.yaml"))
    assert len(paths) >= 5
    for p in paths:
        cfg = load_config(TrainConfig, p)
        assert cfg.game in ("othello", "go")


def test_every_shipped_tournament_config_loads():
    import glob

    from arena.tournament import TournamentConfig

    paths = sorted(glob.glob("configs/tournament_*.yaml"))
    assert len(paths) >= 3
    for p in paths:
        cfg = load_config(TournamentConfig, p)
        assert len(cfg.roster()) >= 2 and cfg.anchor in cfg.roster(), p  # a match has two


def test_every_shipped_sequence_config_loads():
    import glob

    from agents.seq.finetune import FinetuneConfig
    from agents.seq.pretrain import PretrainConfig

    pre = sorted(p for p in glob.glob("configs/seq_*.yaml") if not p.startswith("configs/seq_rl_"))
    rl = sorted(glob.glob("configs/seq_rl_*.yaml"))
    assert len(pre) >= 2 and len(rl) >= 2
    for p in pre:
        assert load_config(PretrainConfig, p).data.startswith("data/"), p
    for p in rl:
        assert load_config(FinetuneConfig, p).opponents, p
