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
    trainer = ["batch_size=4", "seq_len=16", "eval_batch_size=2", "eval_every=20"]
    args = ["--corpus", str(corpus), "--minutes", "0.05", "--hidden", "16", "--embedding", "8"]
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
    assert abs(result["trainer"]["heldout_random"] - result["trainer"]["own_heldout"]) < 0.05
