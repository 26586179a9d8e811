"""The serving install works without torch (what the Dockerfile relies on).

There is no docker daemon here, so this builds the same thing another way: a fresh venv
(no system site-packages), ``pip install .`` of the project's base dependencies only, then
a one-shot generation with the shipped models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "exported_models"


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_fresh_venv_serves_without_torch(tmp_path: Path) -> None:
    assert (SHIPPED / "lovecraft.json").is_file(), "exported_models/ has no lovecraft model"
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "bot", src / "bot", ignore=shutil.ignore_patterns("__pycache__"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = str(env_dir / "bin" / "python")

    install = _run([python, "-m", "pip", "install", "--quiet", str(src)], tmp_path, 150)
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"  # not the repo: `bot` must come from the installed package
    work.mkdir()
    probe = _run(
        [
            python,
            "-c",
            "import importlib.util as u, bot; print(u.find_spec('torch'), bot.__file__)",
        ],
        work,
        60,
    )
    assert probe.returncode == 0, probe.stderr
    torch_spec, bot_file = probe.stdout.split()
    assert torch_spec == "None", "torch is installed in the serving venv"
    assert str(env_dir) in bot_file

    out = _run(
        [
            python,
            "-m",
            "bot",
            "generate",
            "lovecraft",
            "--prompt",
            "The door",
            "--seed",
            "1",
            "--length",
            "80",
            "--json",
            "--models-dir",
            str(SHIPPED),
        ],
        work,
        60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["text"].startswith("The door") and len(result["text"]) > len("The door")
