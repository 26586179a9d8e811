"""The model card's sample quality by temperature: the notes that explain the columns, the
table of text models (prose, poems, stories) or of names, then the names' plausibility part
(``card_names``) or the replies part (``card_replies``)."""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.contract import ModelMetadata
from bot.engine.kinds import CorpusKind
from training.card_format import NOT_APPLICABLE, num, pct, table
from training.card_names import plausibility_lines
from training.card_replies import reply_lines
from training.report import NameResults, Report, TextResults, TextStats

NAMES_NOTE = (
    "Shown: the names of the batch that /name would "
    "show (finished, of a sensible length, in one script, new, distinct when case-folded, "
    "and opening as some exported name of the same style does), with the share of them "
    "that are novel and that repeat; /name shows them capitalized. Raw novel: not in "
    "any of the corpus's name lists; raw duplicates: "
    "share of the batch repeating an earlier name; odd openings: names whose first two "
    "letters (a Han name: its first character) open no training name of the style "
    '("sshley"), in the raw batch and among the names shown; held-out reinvented: '
    "share of the batch that are held-out names absent from training, a sign of fit; "
    "length TV: total variation distance to the training names' length distribution "
    "(0 = identical)."
)
TEXT_NOTE = (
    "Real words: seen in the training split. TV: total variation distance to the "
    "training split's distribution (0 = identical). The held-out row is human text "
    "the model never saw, scored the same way."
)
WORDS_NOTE = (
    "Seam bigram seen: the first new token follows the last seed word as "
    "somewhere in the training fables; grammatical: the first five bigrams from "
    "the seam all occur in training (a simple bigram check, not a parser). Real "
    "words here: tokens other than the unknown token, which stands for words too "
    "rare to be in the vocabulary and is dropped from the shown text."
)


def quality_section(meta: ModelMetadata, report: Report) -> list[str]:
    """### Sample quality by temperature."""
    lines = ["### Sample quality by temperature", ""]
    if isinstance(report.results, NameResults):
        names = report.results
        lines.append(
            f"{names.temperatures[0].samples} seeded names per style and temperature "
            f"({report.sampling_note}). {NAMES_NOTE}"
        )
        return [*lines, "", *names_table(names), *plausibility_lines(names)]
    text = report.results
    lines.append(
        f"{report.samples} seeded samples per temperature ({report.sampling_note}). {TEXT_NOTE}"
    )
    prompts = text.prompts
    if meta.corpus.kind == CorpusKind.PROSE:
        lines.append(
            f"As in the bot, every sample continues a prompt: the first "
            f"{prompts.words} words of a sentence from a held-out story "
            f'(e.g. "{prompts.first[0]}"), for up to '
            f"{prompts.max_tokens} characters; only the continuation is scored."
        )
    if meta.corpus.kind == CorpusKind.WORDS:
        lines.append(
            f"Each sample adds {prompts.max_tokens} tokens to "
            f"{prompts.words} consecutive words taken from a held-out fable. {WORDS_NOTE}"
        )
    lines.append("")
    return [
        *lines,
        *text_table(report.kind, text),
        *reply_lines(report.summary.level, report.replies),
    ]


def text_table(kind: CorpusKind, text: TextResults) -> list[str]:
    """The temperature table of prose, poems and stories, with the held-out text row."""
    header = ["T", "real words", "letter TV", "word-length TV", "mean word length"]
    header += ["-ing / -ed / -tion per 10k", '"the"', "words / sentence"]
    extra_header, extra_cells = _KIND_COLUMNS.get(kind, ((), lambda r: []))

    def cells(label: str, r: TextStats) -> list[str]:
        s = r.suffix_per_10k
        row = [label, pct(r.real_word_rate), num(r.letter_tv), num(r.word_length_tv)]
        row += [
            num(r.mean_word_length, 2),
            " / ".join(num(s[k], 0) for k in ("ing", "ed", "tion")),
        ]
        row += [pct(r.the_share), num(r.mean_sentence_words, 1)]
        return row + extra_cells(r)

    rows = [cells(f"{r.temperature:g}", r.stats) for r in text.temperatures]
    rows.append(cells("held-out text", text.heldout_text))
    return table([*header, *extra_header], rows)


def _poem_cells(r: TextStats) -> list[str]:
    poem = r.poem
    assert poem is not None, "a poems report has the poem shape"
    row = [pct(poem.copied_4gram_share), num(poem.mean_lines, 1), num(poem.mean_stanzas, 1)]
    row += [num(poem.mean_lines_per_stanza, 1), num(poem.mean_words_per_line, 1)]
    return [*row, optional(r.ended_share)]


def _story_cells(r: TextStats) -> list[str]:
    row = [optional(r.seam_bigram_seen), optional(r.bigram_seen_rate)]
    return [*row, optional(r.grammatical_continuations)]


# the columns a corpus kind adds to the temperature table, and their cells
_KIND_COLUMNS: dict[CorpusKind, tuple[tuple[str, ...], Callable[[TextStats], list[str]]]] = {
    CorpusKind.POEMS: (
        ("copied 4-grams", "lines", "stanzas", "lines / stanza", "words / line", "ended"),
        _poem_cells,
    ),
    CorpusKind.WORDS: (("seam bigram seen", "bigrams seen", "grammatical"), _story_cells),
}


def optional(share: float | None) -> str:
    """A share that only some rows have (the held-out text has no ``ended``)."""
    return NOT_APPLICABLE if share is None else pct(share)


def names_table(names: NameResults) -> list[str]:
    """The temperature table of names: one row per temperature and style."""
    header = ["T", "style", "shown (novel, repeats)", "raw novel", "raw duplicates"]
    header += ["odd openings: raw (shown)", "held-out reinvented", "empty"]
    header += ["mean length (training)"]
    header += ["length TV"]
    rows = [
        [
            f"{r.temperature:g}",
            r.style,
            f"{r.shown} ({pct(r.shown_novelty)}, {pct(r.shown_duplicates)})"
            if r.shown is not None
            else NOT_APPLICABLE,
            pct(r.novelty),
            pct(r.duplicates),
            f"{pct(r.implausible_openings)} ({pct(r.shown_implausible_openings)})",
            pct(r.heldout_reinvented),
            pct(r.empty_share),
            f"{num(r.mean_length, 2)} ({num(r.train_mean_length, 2)})",
            num(r.length_tv),
        ]
        for r in names.temperatures
    ]
    return table(header, rows)
