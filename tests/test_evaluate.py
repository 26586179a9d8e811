"""training.evaluate and training.model_card on the tiny exported models."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import string
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.engine.bundle import ModelBundle
from bot.engine.ngrams import ngram_hashes, words_for_ngrams
from tests.tiny_corpora import TINY_TAILS
from training import (
    card_names,
    card_quality,
    card_sections,
    card_sources,
    eval_names,
    eval_stats,
    evaluate,
    model_card,
)
from training.data import Corpus, Document, encode_documents
from training.eval_loss import load_training_corpus
from training.evaluate import EvaluationError, Options
from training.report import Report

MODELS = ("fables", "lovecraft", "names", "poems")
ARGS = ["--samples", "4", "--temperatures", "0.8", "1.0", "--replies", "5", "--seed", "3"]
ARGS += ["--no-progress"]

SOURCES_MD = """# Corpora

## prose/ — tiny stories

- **Source:** written by tests/tiny_corpora.py, prose edition.
- **Licence:** test data, no rights reserved.
- **Size:** small.

## poems/ — tiny poems

### Licence

Tiny poems are in the public domain
by construction.

## names/ — tiny names

### english.txt — syllables

- **Source:** random syllables.
- **Licence:** none needed.

## fables/ — tiny fables

- **Licence:** the fox's own.
"""


@pytest.fixture(scope="module")
def reports(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    assert evaluate.main(["--models-dir", str(tiny_models_dir), "--out", str(out), *ARGS]) == 0
    return out


def load(reports: Path, name: str) -> dict:
    return json.loads((reports / f"{name}.json").read_text("utf-8"))


def test_report_files_appear(reports: Path) -> None:
    for name in MODELS:
        report = load(reports, name)
        assert report["model"] == name
        assert report["figures"], name
        for file in report["figures"].values():
            assert file is not None and (reports / file).stat().st_size > 1000, (name, file)
    assert {p.name for p in reports.glob("*.png")} >= {
        "lovecraft.letters.png",
        "lovecraft.word_lengths.png",
        "lovecraft.wordcloud.png",
        "poems.wordcloud.png",
        "names.name_lengths.png",
    }


def test_heldout_loss_through_ort_matches_the_trainer(reports: Path, tiny_models_dir: Path) -> None:
    for name in MODELS:
        held = load(reports, name)["heldout"]
        meta = json.loads((tiny_models_dir / f"{name}.json").read_text("utf-8"))
        assert held["nats_per_token"] == pytest.approx(
            meta["training"]["validation_loss_nats"], abs=1e-4
        )
        assert held["bits_per_token"] == pytest.approx(held["nats_per_token"] / np.log(2))
        assert held["tokens"] == meta["corpus"]["validation_tokens"]


def test_contiguous_tail_measured_where_the_model_was_trained_with_one(
    reports: Path, tiny_models_dir: Path
) -> None:
    for name in MODELS:
        report = load(reports, name)
        tail = report["heldout_tail"]
        if name not in TINY_TAILS:
            assert tail is None, name
            continue
        bundle = ModelBundle.load(tiny_models_dir / f"{name}.json")
        corpus = load_training_corpus(bundle)
        stream = encode_documents(corpus.tail, list(bundle.meta.vocab), bundle.meta.special_tokens)
        assert tail["documents"] == len(corpus.tail) >= 1
        assert tail["tokens"] == stream.size
        assert tail["fraction"] == TINY_TAILS[name]
        assert 0 < tail["nats_per_token"] < np.log(len(bundle.meta.vocab))
        assert tail["nats_per_token"] != pytest.approx(report["heldout"]["nats_per_token"])
        assert tail["bits_per_token"] == pytest.approx(tail["nats_per_token"] / np.log(2))


def test_text_reports_hold_every_statistic(reports: Path) -> None:
    for name in ("lovecraft", "poems", "fables"):
        report = load(reports, name)
        assert [r["temperature"] for r in report["temperatures"]] == [0.8, 1.0]
        for row in report["temperatures"]:
            assert row["samples"] == 4
            assert 0.0 <= row["real_word_rate"] <= 1.0
            assert 0.0 <= row["letter_tv"] <= 1.0
            assert sum(row["word_length_counts"]) == row["words"] > 0
            assert set(row["suffix_per_10k"]) == {"ing", "ed", "tion"}
        assert len(report["examples"]["0.8"]) == 4
        assert report["heldout_text"]["real_word_rate"] > 0.5
        assert report["baselines"][0]["nats_per_token"] > 0
    poems = load(reports, "poems")
    assert 0.0 <= poems["temperatures"][0]["copied_4gram_share"] <= 1.0
    assert poems["temperatures"][0]["mean_lines"] > 0
    assert [t["target"] for t in poems["targets"]][:2] == [
        "copied word 4-grams at T=0.8",
        "doubled words at T=0",
    ]
    fables = load(reports, "fables")
    assert 0.0 <= fables["temperatures"][0]["grammatical_continuations"] <= 1.0
    assert all(e.startswith("[") for e in fables["examples"]["0.8"])
    lovecraft = load(reports, "lovecraft")
    assert lovecraft["prompts"]["words"] == 3 and poems["prompts"]["words"] == 0
    assert all(
        e.startswith(f"[{p}]")
        for e, p in zip(lovecraft["examples"]["0.8"], lovecraft["prompts"]["first"], strict=True)
    )
    names = [t["target"] for t in lovecraft["targets"]]
    assert names[:2] == ["held-out loss (nats/char)", "real words at T=0.8"]
    assert sum("at a sentence end" in n for n in names) == 1  # at the default temperature
    assert lovecraft["targets"][0]["met"] is (lovecraft["heldout"]["nats_per_token"] <= 1.30)


def word_4grams(text: str) -> set[tuple[str, ...]]:
    """Distinct word 4-grams as tuples: the shared word definition, counted without hashes."""
    words = words_for_ngrams(text)
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def resample(bundle: ModelBundle, starts: list[list[int]], temperature: float) -> list[str]:
    """The report's samples again: sample i at T is seeded by (seed, T, i) (see ARGS)."""
    ids, _ = evaluate.sample_batch(
        bundle,
        starts,
        evaluate.params_at(bundle, temperature),
        evaluate.make_rngs(3, temperature, len(starts)),
        bundle.meta.sampling.max_tokens,
        desc="",
        progress=False,
    )
    return [bundle.tokenizer.decode(s) for s in ids]


def test_report_figures_recomputed_from_the_samples(reports: Path, tiny_models_dir: Path) -> None:
    """The poems' copied 4-gram share and the prose's real-word rate, counted again here
    from the same samples and the training split."""
    poems = ModelBundle.load(tiny_models_dir / "poems.json")
    train = evaluate.load_training_corpus(poems).train
    train_grams = set().union(*(word_4grams(doc.text) for doc in train))
    report = load(reports, "poems")
    opening = [poems.tokenizer.eos_id, poems.tokenizer.bos_id]
    for row in report["temperatures"]:
        texts = resample(poems, [opening] * 4, row["temperature"])
        assert [t[: evaluate.EXAMPLE_CHARS] for t in texts] == (
            report["examples"][f"{row['temperature']:g}"]
        )
        grams = set().union(*(word_4grams(t) for t in texts))
        assert grams  # the premise: there is something to count
        assert row["copied_4gram_share"] == pytest.approx(len(grams & train_grams) / len(grams))

    lovecraft = ModelBundle.load(tiny_models_dir / "lovecraft.json")
    train = evaluate.load_training_corpus(lovecraft).train
    vocabulary = {w for doc in train for w in words_for_ngrams(doc.text)}
    train_letters = letter_shares("".join(doc.text for doc in train))
    report = load(reports, "lovecraft")
    tok = lovecraft.tokenizer
    starts = [[tok.eos_id, tok.bos_id, *tok.encode(p).ids] for p in report["prompts"]["first"]]
    for row in report["temperatures"]:
        texts = resample(lovecraft, starts, row["temperature"])
        words = [w for t in texts for w in words_for_ngrams(t)]
        assert row["words"] == len(words) > 0
        real = sum(w in vocabulary for w in words) / len(words)
        assert row["real_word_rate"] == pytest.approx(real)
        sample_letters = letter_shares("".join(texts))
        distance = sum(abs(sample_letters[a] - train_letters[a]) for a in string.ascii_lowercase)
        assert row["letter_tv"] == pytest.approx(distance / 2)


def letter_shares(text: str) -> dict[str, float]:
    """Share of each letter a-z among the text's letters a-z, case folded."""
    counts = Counter(ch for ch in text.lower() if "a" <= ch <= "z")
    total = sum(counts.values())
    return {a: counts[a] / total for a in string.ascii_lowercase}


def test_poem_statistics_on_constructed_poems() -> None:
    reference = eval_stats.TextReference(
        vocabulary=frozenset(),
        letters=np.zeros(26, np.int64),
        word_lengths=np.zeros(16, np.int64),
        train_hashes=ngram_hashes("The sea is dark tonight, and the wind is cold."),
        train_bigrams=set(),
        cloud_words=[],
    )
    share = lambda texts: evaluate.poem_statistics(texts, reference).copied_4gram_share  # noqa: E731
    assert share(["the sea is dark\ntonight and the wind"]) == 1.0  # all training 4-grams
    assert share(["purple frogs sing loudly at noon"]) == 0.0
    # [the wind is cold] copied; [wind is cold and], [is cold and bright] new; pooled with
    # [purple frogs sing loudly]: 1 of 4
    assert share(["The wind is cold and bright", "purple frogs sing loudly"]) == 0.25
    stats = evaluate.poem_statistics(["one two\nthree four five\n\nsix"], reference)
    assert (stats.mean_lines, stats.mean_stanzas, stats.mean_words_per_line) == (3, 2, 2)


def test_names_report_per_style(reports: Path) -> None:
    report = load(reports, "names")
    rows = report["temperatures"]
    assert {(r["temperature"], r["style"]) for r in rows} == {
        (t, s) for t in (0.8, 1.0) for s in ("english", "gulong", "jinyong")
    }
    for row in rows:
        assert row["samples"] == eval_names.NAMES_BATCH
        assert 0.0 <= row["novelty"] <= 1.0 and 0.0 <= row["duplicates"] < 1.0
        assert sum(row["length_counts"]) == round(row["samples"] * (1 - row["empty_share"]))
    examples = report["examples"]["0.8"]
    assert sorted(examples) == ["english", "gulong", "jinyong"]
    assert all(name and "<" not in name for names in examples.values() for name in names)
    assert len(report["targets"]) == 9  # shown novel, shown repeats, openings: 3 styles at 0.8


def test_names_figures_recomputed_from_the_samples(reports: Path, tiny_models_dir: Path) -> None:
    """Novelty, duplicates and empty share at T=0.8, counted again from the same names; the
    names shown are those /name shows: finished, 2 to 12 characters, not in the exported
    list, one script, opening as an exported name of the style does, distinct."""
    bundle = ModelBundle.load(tiny_models_dir / "names.json")
    corpus = evaluate.load_training_corpus(bundle)
    known = {doc.text.casefold() for doc in corpus.train + corpus.validation}
    listed = set((tiny_models_dir / "names.names.txt").read_text("utf-8").split())
    by_style = json.loads((tiny_models_dir / "names.names_by_style.json").read_text("utf-8"))
    tok = bundle.tokenizer
    report = load(reports, "names")
    rows = [row for row in report["temperatures"] if row["temperature"] == 0.8]
    assert len(rows) == 3
    for row in rows:
        style, count = row["style"], row["samples"]
        ids, ended = evaluate.sample_batch(
            bundle,
            [[tok.eos_id, tok.style_id(style)]] * count,
            evaluate.params_at(bundle, 0.8),
            evaluate.make_rngs(3, 0.8, count, salt=zlib.crc32(style.encode())),
            bundle.meta.sampling.max_tokens,
            desc="",
            progress=False,
        )
        decoded = [tok.decode(s).strip() for s in ids]
        names = [name for name in decoded if name]
        assert names[: len(report["examples"]["0.8"][style])] == report["examples"]["0.8"][style]
        assert row["empty_share"] == pytest.approx(1 - len(names) / count)
        novel = sum(name.casefold() not in known for name in names)
        assert row["novelty"] == pytest.approx(novel / len(names))
        assert row["duplicates"] == pytest.approx(1 - len(set(names)) / len(names))
        train = [d.text.casefold() for d in corpus.train if d.style == style]

        def opening(name: str) -> str:  # Han names by their first character (the surname's)
            return name[: 1 if "\u3400" <= name[0] <= "\u9fff" else 2]

        def odd_share(batch: list[str], names_of: list[str]) -> float:
            judged = [n.casefold() for n in batch if len(n) >= 2]
            openings = {opening(t) for t in names_of if len(t) >= 2}
            return sum(opening(n) not in openings for n in judged) / len(judged)

        def mixed(name: str) -> bool:
            return len({"\u3400" <= ch <= "\u9fff" for ch in name if ch.isalpha()}) > 1

        candidates = [n for n, done in zip(decoded, ended, strict=True) if done]
        plausible = [n for n in candidates if 2 <= len(n) <= 12 and not mixed(n)]
        plausible = [n for n in plausible if not odd_share([n], by_style[style])]
        shown = list(dict.fromkeys(n.casefold() for n in plausible if n.casefold() not in listed))
        assert (row["shown"], row["shown_novelty"], row["shown_duplicates"]) == (len(shown), 1, 0)
        assert row["implausible_openings"] == pytest.approx(odd_share(names, train))
        assert row["shown_implausible_openings"] == pytest.approx(odd_share(shown, train))
        unseen = {d.text.casefold() for d in corpus.validation if d.style == style} - set(train)
        reinvented = sum(n.casefold() in unseen for n in names)
        assert row["heldout_reinvented"] == pytest.approx(reinvented / len(names))


def test_only_reproduces_a_models_numbers(reports: Path, tiny_models_dir: Path, tmp_path: Path):
    """Seeds depend on (seed, T, index) only: one model alone gives the full run's figures."""
    args = ["--models-dir", str(tiny_models_dir), "--out", str(tmp_path), "--only", "poems"]
    assert evaluate.main([*args, *ARGS]) == 0
    alone, full = load(tmp_path, "poems"), load(reports, "poems")
    assert alone["temperatures"] == full["temperatures"]
    assert alone["examples"] == full["examples"]
    assert not (tmp_path / "lovecraft.json").exists()


def test_batched_sampling_does_not_depend_on_the_batch(tiny_models_dir: Path) -> None:
    bundle = ModelBundle.load(tiny_models_dir / "poems.json")
    tok = bundle.tokenizer
    starts = [[tok.eos_id, tok.bos_id], [tok.eos_id, tok.bos_id, *tok.encode("lo").ids]] * 2
    params = evaluate.params_at(bundle, 1.0)
    together, ended = evaluate.sample_batch(
        bundle, starts, params, evaluate.make_rngs(5, 1.0, 4), 60, desc="", progress=False
    )
    alone, _ = evaluate.sample_batch(
        bundle, starts[1:2], params, evaluate.make_rngs(5, 1.0, 4)[1:2], 60, desc="", progress=False
    )
    assert together[1] == alone[0]
    assert together[0] != together[2]  # same start, different seeds
    never = {tok.unknown_id, tok.bos_id}  # as the bot's scheduler
    assert set(bundle.never_sampled.tolist()) == never
    names = ModelBundle.load(tiny_models_dir / "names.json")
    styles = {names.tokenizer.style_id(s) for s in ("english", "gulong", "jinyong")}
    assert styles < set(names.never_sampled.tolist())
    for ids, done in zip(together, ended, strict=True):
        assert tok.eos_id not in ids and not never & set(ids)
        assert done or len(ids) == 60


def test_samples_keep_the_products_repetition_guard(tiny_models_dir: Path) -> None:
    limits = {"poems": 3, "lovecraft": 3, "names": 2, "fables": 2}  # bot/generators/*.py
    for name, limit in limits.items():
        bundle = ModelBundle.load(tiny_models_dir / f"{name}.json")
        params = evaluate.params_at(bundle, 0.3)
        assert params.repeat_limit == limit
        start = [bundle.tokenizer.eos_id, bundle.tokenizer.bos_id]
        samples, _ = evaluate.sample_batch(
            bundle, [start] * 8, params, evaluate.make_rngs(0, 0.3, 8), 80, desc="", progress=False
        )
        for ids in samples:
            runs = [len(list(group)) for _, group in itertools.groupby(ids)]
            assert max(runs, default=0) <= limit, (name, ids)


def test_prose_prompts_are_held_out_sentence_openings() -> None:
    text = "TITLE\nThe cat sat down. A dog ran off! it was late. Big Red Dog here.\nOne more line"
    corpus = Corpus("c", "prose", [], 0, "", [], [Document(text, "a.txt")])
    prompts = evaluate.prose_prompts(corpus, 50, seed=1)
    assert set(prompts) == {"The cat sat", "A dog ran", "One more line"}
    assert prompts == evaluate.prose_prompts(corpus, 50, seed=1)
    empty = Corpus("c", "prose", [], 0, "", [], [Document("no openings here", "a.txt")])
    with pytest.raises(EvaluationError, match="no sentence openings"):
        evaluate.prose_prompts(empty, 3, seed=1)


def test_errors_name_the_problem(tiny_models_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["--models-dir", str(tiny_models_dir), "--out", str(tmp_path), "--only", "nope"]
    assert evaluate.main(args) == 1
    assert "no exported model named nope" in capsys.readouterr().err

    changed = tmp_path / "models"
    changed.mkdir()
    shutil.copy(tiny_models_dir / "poems.onnx", changed)
    meta = json.loads((tiny_models_dir / "poems.json").read_text("utf-8"))
    meta["corpus"]["sha256"] = "0" * 64
    (changed / "poems.json").write_text(json.dumps(meta), "utf-8")
    options = Options(changed, tmp_path, 2, (0.8,), 0, 1, progress=False)
    with pytest.raises(EvaluationError, match="corpus changed since training"):
        evaluate.evaluate_model(changed / "poems.json", options)

    # a broken model is reported and the others are still evaluated
    for suffix in (".json", ".onnx"):
        shutil.copy(tiny_models_dir / f"fables{suffix}", changed)
    args = ["--models-dir", str(changed), "--out", str(tmp_path / "out"), *ARGS]
    assert evaluate.main(args) == 1
    assert "corpus changed since training" in capsys.readouterr().err
    assert (tmp_path / "out" / "fables.json").is_file()
    assert not (tmp_path / "out" / "poems.json").exists()


# ---------------------------------------------------------------------------------------------
# The model card


@pytest.fixture(scope="module")
def card(reports: Path, tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card")
    sources = root / "SOURCES.md"
    sources.write_text(SOURCES_MD, "utf-8")
    out = root / "exported" / "MODEL_CARD.md"
    out.parent.mkdir()
    args = ["--reports", str(reports), "--out", str(out), "--models-dir", str(tiny_models_dir)]
    assert model_card.main([*args, "--sources", str(sources)]) == 0
    return out


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0]: part for part in parts}


def test_card_fills_every_field(card: Path, reports: Path) -> None:
    text = card.read_text("utf-8")
    # generated samples may hold any letters; every other field must be filled in
    fields = re.sub(r"### Samples\n.*?(?=### Pictures)", "", text, flags=re.S)
    for bad in (r"\bNone\b", r"\bnan\b", "n/a", "[{}]"):
        assert not re.search(bad, fields), bad
    by_model = sections(text)
    assert sorted(by_model) == sorted(MODELS)
    for name, body in by_model.items():
        report = load(reports, name)
        for heading in (
            "Targets",
            "Data and licence",
            "Architecture and size",
            "Training",
            "Held-out loss and baselines",
            "Sample quality by temperature",
            "Samples",
            "Pictures",
            "Reproduce",
        ):
            assert f"### {heading}\n" in body, (name, heading)
        assert f"{report['heldout']['nats_per_token']:.3f}" in body
        assert "bigram (Witten-Bell)" in body
        assert report["command"] in body
        assert f"training/configs/{name}.toml" in body
        assert "Loss curve" in body and "Licence" in body
    assert "test data, no rights reserved" in by_model["lovecraft"]
    assert "public domain by construction" in by_model["poems"]
    assert "english.txt: **Licence:** none needed." in by_model["names"]
    assert "the fox's own" in by_model["fables"]
    assert "not measured" in by_model["lovecraft"]  # the 2x100 baseline was not run
    for name, body in by_model.items():  # the contiguous tail, where there is one
        tail = load(reports, name)["heldout_tail"]
        assert ("same model, contiguous tail" in body) == (tail is not None), name
        if tail is not None:
            assert f"| {tail['nats_per_token']:.3f} |" in body
            assert f"Contiguous tail: the last {tail['fraction']:.0%}" in body
    summary = text.split("\n## ")[0]
    fables_row = next(line for line in summary.splitlines() if line.startswith("| fables |"))
    assert f"| {load(reports, 'fables')['heldout_tail']['nats_per_token']:.3f} |" in fables_row


def test_card_pictures_are_copied_and_small(card: Path) -> None:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card.read_text("utf-8"))
    assert len(links) == 4 + 4 + 4 + 2  # text models: loss, letters, lengths, cloud; names: 2
    for link in links:
        path = card.parent / link
        assert path.is_file() and path.parent.name == "card", link
        assert path.stat().st_size < 150_000, link


def test_card_states_missed_targets(card: Path, reports: Path) -> None:
    text = card.read_text("utf-8")
    for name in MODELS:
        for target in load(reports, name)["targets"]:
            if target["met"] is False:
                assert f"**Misses the target** {target['target']}" in sections(text)[name]
            elif target["met"]:
                assert f"Meets the target {target['target']}" in sections(text)[name]
    for name in ("lovecraft", "poems"):  # context: the same statistic of human text
        assert "(held-out human text: " in sections(text)[name]


def test_recorded_baseline_appears_in_the_card(
    card: Path, reports: Path, tiny_models_dir: Path, tmp_path: Path
) -> None:
    checkpoint = tiny_models_dir.parent / "runs" / "lovecraft" / "best.safetensors"
    out = tmp_path / "MODEL_CARD.md"
    assert model_card.main(["--record-baseline", str(checkpoint), "--out", str(out)]) == 0
    recorded = json.loads((tmp_path / "card" / "baselines.json").read_text("utf-8"))["lovecraft"]
    meta = json.loads((tiny_models_dir / "lovecraft.json").read_text("utf-8"))
    assert recorded["validation_loss_nats"] == pytest.approx(
        meta["training"]["validation_loss_nats"], abs=1e-4
    )
    args = ["--reports", str(reports), "--out", str(out), "--models-dir", str(tiny_models_dir)]
    assert model_card.main(args) == 0
    lovecraft = sections(out.read_text("utf-8"))["lovecraft"]
    assert "2x32 LSTM, 16-character windows, embedding 16, same trainer" in lovecraft
    assert "not measured" not in lovecraft
    assert "not comparable" not in lovecraft
    assert f"--record-baseline {checkpoint} --baseline-for lovecraft" in lovecraft
    assert "2x32 LSTM" not in sections(out.read_text("utf-8"))["poems"]

    baselines = json.loads((tmp_path / "card" / "baselines.json").read_text("utf-8"))
    baselines["lovecraft"]["split_seed"] += 1
    (tmp_path / "card" / "baselines.json").write_text(json.dumps(baselines), "utf-8")
    assert model_card.main(args) == 0
    assert "not comparable" in sections(out.read_text("utf-8"))["lovecraft"]


def test_card_refuses_missing_or_stale_reports(
    reports: Path, tiny_models_dir: Path, tmp_path: Path, capsys
) -> None:
    args = ["--reports", str(tmp_path), "--out", str(tmp_path / "card.md")]
    assert model_card.main(args) == 1
    assert "no evaluation reports" in capsys.readouterr().err

    stale = load(reports, "poems")
    stale["onnx_sha256"] = "f" * 64  # the model was re-exported after this evaluation
    (tmp_path / "poems.json").write_text(json.dumps(stale), "utf-8")
    assert model_card.main([*args, "--models-dir", str(tiny_models_dir)]) == 1
    assert "evaluated another poems.onnx" in capsys.readouterr().err
    assert not (tmp_path / "card.md").exists()


def test_reports_read_back_as_written(reports: Path) -> None:
    """The typed report holds every field evaluate writes, in its order."""
    for name in MODELS:
        data = load(reports, name)
        again = Report.from_json(data).to_json()
        assert again == data and list(again) == list(data), name
    assert Report.from_json(load(reports, "names")).kind == "names"


def test_an_older_names_report_still_makes_a_card(reports: Path) -> None:
    """A report from before the character check: its figures default, its part is left out."""
    old = load(reports, "names")
    del old["rare_char_examples"]
    for row in old["temperatures"]:
        del row["rare_char_share"], row["shown"]
    for style in old["plausibility"].values():
        for key in [k for k in style if k.startswith(("chars_", "both_"))]:
            del style[key]
    report = Report.from_json(old)
    assert all(row.rare_char_share is None for row in report.names.temperatures)
    assert card_names.char_lines(report.names) == []
    table = "\n".join(card_quality.names_table(report.names))
    assert "| 0.8 | english | – |" in table


def test_a_report_without_a_field_is_refused_by_name(
    reports: Path, tiny_models_dir: Path, tmp_path: Path, capsys
) -> None:
    broken = load(reports, "poems")
    del broken["heldout_text"]["letter_tv"]
    (tmp_path / "poems.json").write_text(json.dumps(broken), "utf-8")
    args = ["--reports", str(tmp_path), "--out", str(tmp_path / "card.md")]
    assert model_card.main([*args, "--models-dir", str(tiny_models_dir)]) == 1
    assert "heldout_text: no field 'letter_tv'" in capsys.readouterr().err


def test_licence_notes_from_the_real_sources_layout() -> None:
    notes = card_sources.licence_notes(SOURCES_MD, "names")
    assert notes == [
        "english.txt: **Source:** random syllables.",
        "english.txt: **Licence:** none needed.",
    ]
    assert card_sources.licence_notes(SOURCES_MD, "missing") == []
    assert card_sources.licence_notes(SOURCES_MD, "prose") == [
        "**Source:** written by tests/tiny_corpora.py, prose edition.",
        "**Licence:** test data, no rights reserved.",
    ]


def test_card_says_when_training_time_is_cpu_time() -> None:
    assert card_sections.clock_note({"budget_clock": "cpu"}) == " of CPU time"
    assert card_sections.clock_note({"budget_clock": "wall"}) == ""
    assert card_sections.clock_note({}) == ""  # metadata from before budget_clock
