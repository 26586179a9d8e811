"""Corpus loading: cleaning per kind, document-level splits, vocabularies, clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_corpora import write_fables, write_names, write_poems, write_prose
from training.data import (
    BOS,
    EOS,
    NEWLINE,
    CorpusError,
    batchify,
    build_vocab,
    clean_prose,
    encode_documents,
    is_prose_like,
    load_corpus,
    read_documents,
)


@pytest.mark.parametrize(
    ("kind", "writer"),
    [
        ("prose", write_prose),
        ("poems", write_poems),
        ("names", write_names),
        ("words", write_fables),
    ],
)
def test_split_is_deterministic_and_document_disjoint(tmp_path: Path, kind: str, writer) -> None:
    path = writer(tmp_path)
    a = load_corpus(kind, path, seed=7, validation_fraction=0.25)
    b = load_corpus(kind, path, seed=7, validation_fraction=0.25)
    c = load_corpus(kind, path, seed=8, validation_fraction=0.25)
    assert [d.text for d in a.validation] == [d.text for d in b.validation]
    assert [d.text for d in a.validation] != [d.text for d in c.validation]
    train_ids = {id(d) for d in a.train}
    assert not train_ids & {id(d) for d in a.validation}
    assert a.validation and a.train
    assert len(a.sha256) == 64 and a.bytes > 0


@pytest.mark.parametrize(
    ("kind", "writer"),
    [("prose", write_prose), ("names", write_names), ("words", write_fables)],
)
def test_tail_is_the_end_of_the_file_order_and_leaves_the_random_split_alone(
    tmp_path: Path, kind: str, writer
) -> None:
    path = writer(tmp_path)
    plain = load_corpus(kind, path, seed=7, validation_fraction=0.2)
    cut = load_corpus(kind, path, seed=7, validation_fraction=0.2, tail_fraction=0.25)
    texts = lambda docs: [d.text for d in docs]  # noqa: E731
    assert texts(cut.validation) == texts(plain.validation)  # same random held-out documents
    assert cut.tail and not set(texts(cut.tail)) & set(texts(cut.train))
    assert sorted(texts(cut.train) + texts(cut.tail)) == sorted(texts(plain.train))
    order = read_documents(kind, sorted(path.glob("*.txt")), Counter())  # file order
    for style in {d.style for d in order}:
        rest = [d.text for d in order if d.style == style and d.text not in texts(plain.validation)]
        tail = [d.text for d in cut.tail if d.style == style]
        assert tail and rest[-len(tail) :] == tail, style  # the end of that style's file order
        share = sum(map(len, tail)) / sum(map(len, rest))
        assert 0.1 < share < 0.5, (style, share)
    assert cut.documents == plain.documents


def test_no_tail_unless_asked_and_too_few_documents_refused(tmp_path: Path) -> None:
    assert load_corpus("prose", write_prose(tmp_path / "a")).tail == []
    with pytest.raises(CorpusError, match="at least 3 documents"):
        load_corpus("prose", write_prose(tmp_path / "b", stories=2), tail_fraction=0.1)


def test_names_are_held_out_per_style_and_cleaned(tmp_path: Path) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "english.txt").write_text("anna\n\nbob\nanna\ncarl\ndora\n")
    (folder / "jinyong.txt").write_text("张无忌\n郭靖\n黄蓉\n杨过\n")
    corpus = load_corpus("names", folder, validation_fraction=0.25)
    assert corpus.dropped == {"blank lines": 1, "duplicates": 1}
    assert {d.style for d in corpus.validation} == {"english", "jinyong"}
    vocab, special = build_vocab(corpus)
    assert special.styles == {"english": "<english>", "jinyong": "<jinyong>"}
    stream = encode_documents(corpus.train[:1], vocab, special)
    doc = corpus.train[0]
    assert stream[0] == vocab.index(special.styles[doc.style])
    assert stream[-1] == vocab.index(EOS)
    assert len(stream) == len(doc.text) + 2


def test_prose_like_poems_are_dropped_and_counted(tmp_path: Path) -> None:
    prose = " ".join(["word"] * 200)
    path = tmp_path / "poems.txt"
    path.write_text(
        "++++\nshort line\nanother line\n++++\nsecond poem\nends here\n"
        f"++++\n{prose}\nend\n++++\nonly one line\n"
    )
    corpus = load_corpus("poems", path, validation_fraction=0.0)
    assert corpus.dropped == {"prose-like": 1, "too short": 1}
    assert is_prose_like(prose) and not is_prose_like("a b c\nd e f")


def test_prose_cleaning_normalises_quotes_and_whitespace() -> None:
    assert clean_prose("“Hello”  it’s\t me—\n\n\nNew  para ") == '"Hello" it\'s me--\nNew para'


def test_word_vocab_by_frequency_with_min_count(tmp_path: Path) -> None:
    corpus = load_corpus("words", write_fables(tmp_path), validation_fraction=0.2)
    vocab, special = build_vocab(corpus, min_count=2)
    assert vocab[:4] == [special.unknown, BOS, EOS, NEWLINE]
    assert "the" in vocab and "," in vocab
    stream = encode_documents(corpus.validation, vocab, special)
    assert (stream == vocab.index(NEWLINE)).any()


def test_duplicate_fables_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "fables"
    folder.mkdir()
    (folder / "a.txt").write_text("++++\nThe Cat\n\nThe cat ran.\n++++\nThe Dog\n\nThe dog sat.\n")
    (folder / "b.txt").write_text("the cat\nthe cat ran .\n")  # same words, other formatting
    corpus = load_corpus("words", folder, validation_fraction=0.5)
    assert corpus.documents == 2
    assert corpus.dropped == {"duplicate fables": 1}


def test_missing_path_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="nowhere"):
        load_corpus("prose", tmp_path / "nowhere")


def test_empty_corpus_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("   \n\n")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus("prose", tmp_path)


def test_undecodable_bytes_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine text\n")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(CorpusError, match=r"bad\.txt.*UTF-8"):
        load_corpus("prose", tmp_path)


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="unknown corpus kind"):
        load_corpus("tweets", write_prose(tmp_path))


def test_corpus_too_small_for_sequence_length() -> None:
    with pytest.raises(CorpusError, match=r"too few.*seq"):
        batchify(np.arange(100), batch_size=8, seq_len=64, source="tiny.txt")
