"""``console``, ``generate`` and ``run`` accept and refuse the same configs, with the same
message and exit status (2), as real processes (``run`` against the fake Discord)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from training.random_model import export_random_model

from .botharness import bot_env, bot_subprocess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A char-level model 'bard' and a word-level model 'lore'."""
    directory = tmp_path_factory.mktemp("models")
    export_random_model(directory, "bard")
    export_random_model(directory, "lore", level="word")
    return directory


async def exit_and_errors(args: list[str], env: dict[str, str], log: Path) -> tuple[int, list[str]]:
    async with bot_subprocess(args, env, log) as process:
        code = await process.wait(90)
    return code, [line for line in process.output().splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ("bard", "story", "commands[0] (tales): kind story needs a word-level model"),
        ("lore", "prose", "commands[0] (tales): kind prose needs a char-level model"),
        ("nosuch", "prose", "commands[0] (tales): model 'nosuch' is not loaded (loaded: bard"),
    ],
)
async def test_console_generate_and_run_refuse_a_command_its_model_cannot_serve(
    fake: FakeDiscord, models: Path, tmp_path: Path, model: str, kind: str, message: str
) -> None:
    """console --config and generate printed spaced-out letters for a story command on a char
    model (and ran a prose command on a word model) and exited 0; run refused, exiting 1."""
    config = tmp_path / "bot.toml"
    config.write_text(f'[[commands]]\nname = "tales"\nmodel = "{model}"\nkind = "{kind}"\n')
    env = bot_env(fake, models, tmp_path / "r.db", {"BOT_CONFIG": str(config)})
    front_ends = (["console"], ["generate", "tales", "--prompt", "the fox"], ["run"])
    results = await asyncio.gather(
        *(exit_and_errors(args, env, tmp_path / f"{args[0]}.log") for args in front_ends)
    )
    for args, (code, errors) in zip(front_ends, results, strict=True):
        assert code == 2, (args, errors)
        assert len(errors) == 1 and errors[0].startswith(f"error: {config}: {message}"), errors
    assert len({tuple(errors) for _, errors in results}) == 1  # word for word the same
    assert not (tmp_path / "r.db").exists()  # run stopped before opening the request log
