"""Shared plumbing of the products: option checks, prompt cleaning, characters out of the
vocabulary, the cut mark. The run of a request is :mod:`bot.generators.skeleton`'s."""

from __future__ import annotations

import secrets
import unicodedata

from bot.engine.contract import ModelMetadata
from bot.engine.sampling import SamplingParams
from bot.engine.tokenizer import Tokenizer
from bot.generators.base import Generation, GenerationResult, InvalidRequest
from bot.products import SEED, TEMPERATURE, TOP_K, TOP_P

MAX_PROMPT_CHARS = 1000  # longer prompts keep their last 1000 characters
CUT_MARK = "…"  # ends a reply cut at a word boundary (never model text: see primer_text)


async def collect(generation: Generation) -> GenerationResult:
    """Run a generation to the end and return its result."""
    async for _ in generation:
        pass
    assert generation.result is not None
    return generation.result


def resolve_seed(seed: int | None) -> int:
    """The given seed (checked), or a fresh random one the user can reuse."""
    if seed is None:
        return secrets.randbits(32)
    return SEED.check(seed)


def sampling_params(
    meta: ModelMetadata,
    temperature: float | None,
    *,
    repeat_limit: int,
    top_k: int | None = None,
    top_p: float | None = None,
) -> SamplingParams:
    """The model's default sampling settings, with the user's choices where given."""
    temperature, top_k, top_p = (
        TEMPERATURE.check(temperature),
        TOP_K.check(top_k),
        TOP_P.check(top_p),
    )
    return SamplingParams(
        temperature=float(meta.sampling.temperature if temperature is None else temperature),
        top_k=meta.sampling.top_k if top_k is None else top_k,
        top_p=float(meta.sampling.top_p if top_p is None else top_p),
        repeat_limit=repeat_limit,
    )


def clean_prompt(text: str, max_chars: int = MAX_PROMPT_CHARS) -> tuple[str, list[str]]:
    """Normalise user text: line breaks kept, tabs to spaces, other control characters removed,
    leading whitespace stripped; over ``max_chars`` keeps the end. Returns (text, notes)."""
    if not isinstance(text, str):
        raise InvalidRequest("The prompt must be text.")
    notes: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    kept = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")
    if len(kept) != len(text):
        notes.append("Control characters were removed from the prompt.")
    kept = kept.lstrip()
    if len(kept) > max_chars:
        kept = kept[-max_chars:]
        notes.append(f"The prompt was long, so only its last {max_chars} characters were used.")
    return kept, notes


def encode_chars(tokenizer: Tokenizer, text: str) -> tuple[list[int], list[str]]:
    """Char ids for ``text``; a character missing from the vocabulary is tried in the other
    case, then left out. Returns (ids, distinct left-out characters)."""
    ids: list[int] = []
    missing: list[str] = []
    for ch in text:
        token_id = None
        for variant in (ch, ch.lower(), ch.upper()):
            candidate = tokenizer.index.get(variant)
            if (
                len(variant) == 1
                and candidate is not None
                and candidate not in tokenizer.special_ids
            ):
                token_id = candidate
                break
        if token_id is None:
            if ch not in missing:
                missing.append(ch)
        else:
            ids.append(token_id)
    return ids, missing


def oov_note(missing: list[str], model: str, action: str) -> str:
    shown = " ".join(repr(ch)[1:-1] if ch.isprintable() else repr(ch) for ch in missing[:20])
    more = f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""
    return f"Not in the {model} model's vocabulary ({action}): {shown}{more}"


def primer_text(output: str) -> str:
    """What Continue primes a model with: the text of a reply as the model wrote it, without
    the cut mark a generator adds (no model's vocabulary has it)."""
    return output.removesuffix(CUT_MARK).rstrip(" ")
