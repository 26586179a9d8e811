"""The training benchmark runs end to end on a tiny corpus (a smoke test, not a timing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench import train_efficiency
from tests.tiny_corpora import write_prose


def test_benchmark_scores_both_models_on_the_same_held_out_text(tmp_path: Path) -> None:
    corpus = write_prose(tmp_path / "corpus", stories=6)
    out = tmp_path / "result.json"
    # evaluation rows and length as the bench scores (8 x 128): the two figures must agree
    trainer = ["batch_size=4", "seq_len=128", "eval_batch_size=8", "eval_every=5"]
    trainer += ["warmup_steps=2", "lr=0.02"]  # learn enough in seconds for the check to bite
    args = ["--corpus", str(corpus), "--minutes", "0.1", "--clock", "cpu"]
    args += ["--hidden", "16", "--embedding", "8"]
    args += ["--tail", "0.2", "--validation-fraction", "0.25", "--plain-batch", "4"]
    args += [arg for setting in trainer for arg in ("--set", setting)]
    assert train_efficiency.main([*args, "--out", str(out)]) == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["chars"]["tail"] > 0 and result["chars"]["heldout"] > 0
    for name in ("trainer", "plain"):
        assert result[name]["steps"] > 0
        for split in ("heldout_random", "heldout_tail"):
            assert 0 < result[name][split] < math.log(60)  # below a uniform guess
    # the trainer was scored on its own held-out documents: the figure it tracked itself
    trainer_score = result["trainer"]["heldout_random"]
    assert trainer_score < 3.3  # learnt: a uniform guess over the ~40 characters is 3.7
    assert abs(trainer_score - result["trainer"]["own_heldout"]) < 1e-4
