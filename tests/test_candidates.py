"""training/candidates.py: the ship gate both ways, and the whole run on CPU at toy sizes."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from bot.engine.contract import load_metadata
from tests.tiny_corpora import write_prose
from training.candidates import (
    Gate,
    Measured,
    judge,
    main,
    ship_or_print,
    shipped_name,
    split_mismatch,
)
from training.config import TrainConfig
from training.export import export
from training.train import train

SPLIT = {"validation_fraction": 0.25, "tail_fraction": 0.1}
TINY = {  # shared by the shipped model and the candidate; the candidate is wider
    "corpus_kind": "prose",
    "embedding_size": 8,
    "layers": 1,
    "dropout": 0.0,
    "batch_size": 4,
    "seq_len": 16,
    "eval_batch_size": 2,
    "warmup_steps": 2,
    "epochs": 0.5,
    "eval_every": 10,
    "threads": 1,
    "progress": False,
    **SPLIT,
}


# ---------------------------------------------------------------------------------------------
# The gate


def test_gate_passes_at_both_thresholds() -> None:
    assert Gate().verdict(0.03, 1000.0) == (True, "ship")
    assert Gate().verdict(0.2, 3000.0) == (True, "ship")


def test_gate_fails_on_loss() -> None:
    passes, why = Gate().verdict(0.0299, 3000.0)
    assert not passes and why == "tail gain +0.0299 < 0.03"
    assert Gate().verdict(-0.1, 3000.0)[0] is False  # worse than shipped
    assert Gate().verdict(None, 3000.0) == (False, "no contiguous tail to compare on")


def test_gate_fails_on_speed() -> None:
    passes, why = Gate().verdict(0.05, 999.0)
    assert not passes and why == "int8 999 tokens/s < 1,000"
    passes, why = Gate().verdict(0.05, None)
    assert not passes and "no int8 copy" in why


def test_gate_names_every_reason_and_takes_its_thresholds() -> None:
    passes, why = Gate().verdict(0.01, 500.0)
    assert not passes and why == "tail gain +0.0100 < 0.03; int8 500 tokens/s < 1,000"
    assert Gate(min_gain=0.005, min_tokens_per_s=400).verdict(0.01, 500.0) == (True, "ship")


def test_a_candidate_competes_with_the_model_its_file_name_starts_with() -> None:
    assert shipped_name(Path("training/configs/candidates/lovecraft_2x768.toml")) == "lovecraft"
    assert shipped_name(Path("poems.toml")) == "poems"


def test_only_the_best_passing_candidate_of_each_model_ships(tmp_path: Path) -> None:
    rows = [
        {"label": "a_big", "against": "a", "tail": 1.10, "passes": True, "checkpoint": "ck1"},
        {"label": "a_wide", "against": "a", "tail": 1.05, "passes": True, "checkpoint": "ck2"},
        {"label": "a_deep", "against": "a", "tail": 1.00, "passes": False, "checkpoint": "ck3"},
        {"label": "b_wide", "against": "b", "tail": 1.00, "passes": False, "checkpoint": "ck4"},
    ]
    lines = ship_or_print(rows, tmp_path, ship=False)
    assert lines[0] == (
        f"to ship a_wide as a: python -m training.export ck2 --name a --out {tmp_path} "
        "--quantize int8"
    )
    assert "bench.engine" in lines[1] and len(lines) == 2
    assert ship_or_print(rows[2:], tmp_path, ship=False) == [
        "nothing passes the gate: the shipped models stay"
    ]


# ---------------------------------------------------------------------------------------------
# The whole run, toy sizes on CPU


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 'shipped' lovecraft (1x12, int8 copy) in its models folder."""
    root = tmp_path_factory.mktemp("candidates")
    corpus = write_prose(root / "corpus")
    config = TrainConfig(
        name="lovecraft", corpus_path=str(corpus), hidden_size=12, out_dir=str(root / "runs"),
        **TINY,
    )  # fmt: skip
    export(train(config), "lovecraft", root / "models", quantize="int8")
    return root / "models"


def write_candidate(folder: Path, name: str, corpus: str, **settings: object) -> Path:
    values = {**TINY, "corpus_path": corpus, "hidden_size": 24, **settings}
    lines = [f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}"
             for k, v in values.items()]  # fmt: skip
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_run_trains_exports_measures_and_ships(shipped: Path, tmp_path: Path, capsys) -> None:
    shipped = Path(shutil.copytree(shipped, tmp_path / "models"))
    before = load_metadata(shipped / "lovecraft.json")
    corpus = before.training.config["corpus_path"]
    config = write_candidate(tmp_path, "lovecraft_wide", corpus)
    out = tmp_path / "out"
    argv = [str(config), "--models-dir", str(shipped), "--out", str(out), "--device", "cpu"]
    argv += ["--speed-tokens", "20", "--speed-rounds", "1", "--ship"]
    # thresholds every toy model meets, so that the verdict does not hang on its quality
    assert main([*argv, "--min-gain", "-10", "--min-tokens-per-s", "1"]) == 0
    printed = capsys.readouterr().out
    header, reference, candidate = printed.splitlines()[1:4]
    assert header.split()[:3] == ["candidate", "params", "tail"]
    assert reference.startswith("lovecraft (shipped)") and reference.endswith("reference")
    assert candidate.startswith("lovecraft_wide") and candidate.endswith("ship")
    assert "re-measure there" in printed and "shipped lovecraft_wide as lovecraft" in printed

    rows = json.loads((out / "candidates.json").read_text())["rows"]
    ours = next(r for r in rows if r["label"] == "lovecraft_wide")
    ref = next(r for r in rows if r["label"] == "lovecraft (shipped)")
    assert ours["tail_gain"] == pytest.approx(ref["tail"] - ours["tail"])
    assert ours["int8"] and ours["tokens_per_s"] > 0 and ref["tokens_per_s"] > 0
    assert 0 < ours["tail"] < 10 and 0 < ours["random_docs"] < 10
    # shipped: the candidate's weights, under the shipped name, with the int8 copy
    after = load_metadata(shipped / "lovecraft.json")
    assert before.architecture.hidden_size == 12 and after.architecture.hidden_size == 24
    assert after.name == "lovecraft" and "int8" in after.quantized
    assert (shipped / after.quantized["int8"].onnx_file).is_file()  # a new name: the JSON switches
    assert after.training.validation_loss_nats == pytest.approx(
        load_metadata(out / "models" / "lovecraft_wide.json").training.validation_loss_nats
    )


def test_a_candidate_on_another_split_is_not_compared(shipped: Path, tmp_path: Path) -> None:
    meta = load_metadata(shipped / "lovecraft.json")
    assert split_mismatch(meta, meta) is None
    config = {**meta.training.config, "tail_fraction": 0.2}
    other = dataclasses.replace(meta, training=dataclasses.replace(meta.training, config=config))
    assert split_mismatch(other, meta) == "a different split (tail_fraction)"
    corpus = dataclasses.replace(meta.corpus, sha256="0" * 64)
    assert split_mismatch(dataclasses.replace(meta, corpus=corpus), meta) == (
        "a different corpus (sha256)"
    )
    # judged: refused before the gate, whatever its figures
    other_path = tmp_path / "other.json"
    other.write(other_path)
    figures = Measured("lovecraft_x", str(other_path), 1, 1.0, 0.1, True, "ck")
    reference = Measured("lovecraft", str(shipped / "lovecraft.json"), 1, 2.0, 2.0, True)
    rows = judge(
        [Path("lovecraft_x.toml")],
        {"lovecraft_x": figures, "shipped:lovecraft": reference},
        {"lovecraft_x": 5000.0, "shipped:lovecraft": 5000.0},
        Gate(),
    )
    assert rows[1]["verdict"] == "not comparable: a different split (tail_fraction)"
    assert not rows[1].get("passes")


def test_a_failed_candidate_is_reported_and_the_shipped_model_stays(
    shipped: Path, tmp_path: Path, capsys
) -> None:
    before = (shipped / "lovecraft.json").read_bytes()
    config = write_candidate(tmp_path, "lovecraft_bad", str(tmp_path / "no_such_corpus"))
    argv = [str(config), "--models-dir", str(shipped), "--out", str(tmp_path / "out"), "--ship"]
    assert main([*argv, "--speed-tokens", "20", "--speed-rounds", "1"]) == 1
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("lovecraft_bad"))
    assert "failed:" in row
    assert "nothing passes the gate" in printed
    assert (shipped / "lovecraft.json").read_bytes() == before


def test_speed_only_measures_each_shape_beside_the_shipped_model(
    shipped: Path, tmp_path: Path, capsys
) -> None:
    config = write_candidate(tmp_path, "lovecraft_wide", "not/needed/here", layers=2)
    argv = [str(config), "--models-dir", str(shipped), "--speed-only"]
    argv += ["--speed-tokens", "20", "--speed-rounds", "2"]
    assert main([*argv, "--min-tokens-per-s", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    reference, candidate = lines[1], lines[2]
    assert reference.startswith("lovecraft (shipped)") and reference.endswith("reference")
    assert candidate.startswith("lovecraft_wide") and candidate.endswith("(loss not measured)")
    tokens_per_s = re.search(r" ([\d,]+) +speed passes", candidate)  # the int8 tok/s column
    assert tokens_per_s and int(tokens_per_s[1].replace(",", "")) > 0
    assert not (tmp_path / "runs").exists()  # nothing trained
    assert main([*argv, "--min-tokens-per-s", "1e12"]) == 0
    assert "speed fails: below" in capsys.readouterr().out.splitlines()[2]
