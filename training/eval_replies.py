"""Replies as users get them: do they end at a sentence end, double words, loop?

Per text model and temperature (0, 0.5, 0.8, 1 and the model's default), ``count`` seeded
replies drawn with the bot's own loop at its default options: prose and stories continue
held-out openings by the product's default ``length`` under the same ending rule
(:mod:`bot.engine.ending`) and word guard (:mod:`bot.engine.guard`) the bot serves with;
poems write the default number of lines. Measured on the text a user reads:

- sentence-end share: replies whose text ends with ``.``, ``!`` or ``?`` (closing quotes or
  brackets after it allowed); the target (>= 98%) is checked at the model's default
  temperature;
- doubled-word share: words equal to the word just before them (only spaces between);
- looping share: replies in which some word 4-gram occurs three times or more.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.engine.bundle import ModelBundle
from bot.engine.decode import Row, generate
from bot.engine.ending import EndRule, Marks
from bot.engine.guard import Lexicon
from bot.engine.kinds import CorpusKind, KindName, Level
from bot.engine.ngrams import words_for_ngrams
from bot.engine.tokenizer import detokenize_words, split_words
from bot.products import KINDS
from training.data import Corpus
from training.eval_stats import make_rngs, params_at, prose_prompts, story_seeds, target
from training.report import Replies, ReplyRow, Target

REPLY_TEMPERATURES = (0.0, 0.5, 0.8, 1.0)
SENTENCE_END_MIN = 0.98
DOUBLED_WORDS_MAX = 0.001
LOOPING_MAX = 0.01
LOOP_REPEATS = 3  # a word 4-gram this often in one reply: the reply loops
SALT = 25  # reply seeds differ from the samples' seeds at the same temperature
POEM_TOKENS_PER_LINE = 60
_ENDED = re.compile(r"[.!?][\"')\]”’]*\s*$")


def ends_sentence(text: str) -> bool:
    return bool(_ENDED.search(text))


def doubled_words(text: str) -> tuple[int, int]:
    """(words equal to the token just before them, words) of ``text``."""
    tokens = split_words(text)
    words = sum(1 for t in tokens if t[:1].isalpha())
    doubled = sum(1 for a, b in itertools.pairwise(tokens) if a == b and a[:1].isalpha())
    return doubled, words


def loops(text: str) -> bool:
    """Whether some word 4-gram occurs ``LOOP_REPEATS`` times or more."""
    words = words_for_ngrams(text)
    grams = Counter(tuple(words[i : i + 4]) for i in range(len(words) - 3))
    return bool(grams) and max(grams.values()) >= LOOP_REPEATS


def reply_statistics(texts: Sequence[str], *, sentences: bool) -> dict[str, Any]:
    doubled = words = 0
    for text in texts:
        d, w = doubled_words(text)
        doubled, words = doubled + d, words + w
    return {
        "replies": len(texts),
        "sentence_end_share": sum(map(ends_sentence, texts)) / len(texts) if sentences else None,
        "doubled_word_share": doubled / words if words else None,
        "looping_share": sum(map(loops, texts)) / len(texts),
        "mean_words": words / len(texts),
    }


def _poem_lines(text: str, lines: int) -> str:
    """The first ``lines`` non-empty lines, as the poem product keeps them."""
    kept = [line for line in text.split("\n") if line.strip()][:lines]
    return "\n".join(kept)


def reply_length(bundle: ModelBundle) -> int:
    """The default ``length`` of the product that continues text with this model."""
    kind = KindName.STORY if bundle.meta.level == Level.WORD else KindName.PROSE
    return KINDS[kind].option("length").default


def draw_replies(
    bundle: ModelBundle, corpus: Corpus, count: int, temperature: float, seed: int, progress: bool
) -> list[str]:
    """``count`` replies' generated text (prompts left out) as the bot shows it."""
    tokenizer = bundle.tokenizer
    word_level = bundle.meta.level == Level.WORD
    opening = [tokenizer.eos_id, tokenizer.bos_id]
    rule: EndRule | None = None
    lines = KINDS[KindName.POEM].option("lines").default
    if corpus.kind == CorpusKind.POEMS:
        starts, max_tokens = [opening] * count, lines * POEM_TOKENS_PER_LINE
    else:
        rule = EndRule(Marks.of(tokenizer), reply_length(bundle))
        prompts = (
            [" ".join(s) for s in story_seeds(corpus, count, seed)]
            if word_level
            else prose_prompts(corpus, count, seed)
        )
        starts = [[*opening, *tokenizer.encode(p).ids] for p in prompts]
        max_tokens = 3 * rule.length + 10  # the rule ends every reply first
    eos = tokenizer.eos_id
    lexicon = Lexicon.of(tokenizer)
    rngs = make_rngs(seed, temperature, count, salt=SALT)
    params = params_at(bundle, temperature)
    rows = [
        Row(np.asarray(s, np.int64), params, rng, max_tokens, frozenset({eos}), lexicon, rule)
        for s, rng in zip(starts, rngs, strict=True)
    ]
    desc = f"{bundle.name} replies T={temperature:g}"
    with tqdm(total=max_tokens, desc=desc, disable=not progress, leave=False) as bar:
        generate(bundle, rows, on_step=bar.update)
    texts = []
    for row in rows:
        if row.ending is None:
            ids = row.history[:-1] if row.history[-1] == eos else row.history
            texts.append(_poem_lines(tokenizer.decode(ids), lines))
            continue
        kept, cut = row.ending.final(end_of_document=row.history[-1] == eos)
        ids = row.ending.tokens[:kept]
        text = (
            detokenize_words([tokenizer.token_text(i) for i in ids])
            if word_level
            else tokenizer.decode(ids)
        )
        texts.append(text + ("…" if cut else ""))
    return texts


def evaluate_replies(
    bundle: ModelBundle, corpus: Corpus, count: int, seed: int, progress: bool
) -> Replies:
    """The reply measures per temperature, with a few examples at the default temperature."""
    default = bundle.meta.sampling.temperature
    temperatures = sorted({*REPLY_TEMPERATURES, default})
    sentences = corpus.kind != CorpusKind.POEMS
    rows, examples = [], []
    for temperature in temperatures:
        texts = draw_replies(bundle, corpus, count, temperature, seed, progress)
        stats = reply_statistics(texts, sentences=sentences)
        rows.append(ReplyRow(temperature=temperature, **stats))
        if temperature == default:
            examples = texts[:2]
    doubled, words = map(sum, zip(*(doubled_words(d.text) for d in corpus.validation), strict=True))
    return Replies(
        count=count,
        default_temperature=default,
        length=reply_length(bundle) if sentences else None,
        rows=rows,
        examples=examples,
        heldout_doubled_word_share=doubled / words if words else None,
    )


def reply_targets(replies: Replies) -> list[Target]:
    """The reply targets (``human``: held-out text's doubled words)."""
    out = []
    human = replies.heldout_doubled_word_share
    for row in replies.rows:
        t = f"T={row.temperature:g}"
        share = row.sentence_end_share
        if row.temperature == replies.default_temperature and share is not None:
            name = f"replies ending at a sentence end at {t} (default)"
            out.append(target(name, share, ">=", SENTENCE_END_MIN))
        out.append(
            target(f"doubled words at {t}", row.doubled_word_share, "<=", DOUBLED_WORDS_MAX, human)
        )
        out.append(target(f"looping replies at {t}", row.looping_share, "<=", LOOPING_MAX))
    return out
