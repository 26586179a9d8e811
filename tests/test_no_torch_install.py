"""The serving install works without torch (what the Dockerfile relies on).

There is no docker daemon here, so this builds the same thing another way: a fresh venv
(no system site-packages), ``pip install ".[metrics,postgres]"`` (the base dependencies and
the small metrics and postgres extras, as the image), then a one-shot generation with the
shipped models. Where no package index can be reached, it is skipped with pip's reason (any
other install failure fails the test).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "exported_models"
# what pip prints when it cannot reach a package index (connection refused, no DNS, no route)
UNREACHABLE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)
INSTALL_TIMEOUT = 600  # a cold install on a slow machine; an offline one gives up far sooner


def _run(
    cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        cmd,
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def unreachable_index(pip_output: str) -> str | None:
    """pip's line saying that a package index could not be reached, or None."""
    for line in pip_output.splitlines():
        if any(sign in line for sign in UNREACHABLE):
            return line.strip()[:300]
    return None


def pip_install(python: str, args: list[str], cwd: Path, env: dict[str, str] | None = None):
    """``pip install`` (not quiet: its connection warnings tell offline from broken); skips
    the test, with pip's reason, when the failure is that no package index can be reached."""
    # short socket timeout and few retries, so that an offline machine fails fast
    cmd = [python, "-m", "pip", "install", "--timeout", "20", "--retries", "2", *args]
    try:
        done = _run(cmd, cwd, INSTALL_TIMEOUT, env)
    except subprocess.TimeoutExpired as exc:
        output = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        if reason := unreachable_index(output):
            pytest.skip(f"no package index reachable: {reason}")
        raise
    if done.returncode != 0 and (reason := unreachable_index(done.stderr)):
        pytest.skip(f"no package index reachable: {reason}")
    return done


def test_offline_pip_failures_skip_and_others_fail(tmp_path: Path) -> None:
    """Real pip runs: an index on a closed loopback port skips; an empty, reachable index
    (a package that does not exist) is a failure, not a skip."""
    python = sys.executable
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_NO_CACHE_DIR": "1"}
    closed = {**offline, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    with pytest.raises(pytest.skip.Exception, match=r"no package index reachable: .*refused"):
        pip_install(python, ["--dry-run", "no-such-package-xyz"], tmp_path, closed)
    empty = tmp_path / "index"
    empty.mkdir()
    reachable = {**offline, "PIP_INDEX_URL": empty.as_uri()}
    try:
        done = pip_install(python, ["--dry-run", "no-such-package-xyz"], tmp_path, reachable)
    except pytest.skip.Exception as exc:
        pytest.fail(f"a reachable index was taken for an offline one: {exc}")
    assert done.returncode != 0 and "No matching distribution" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
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

    # what the Dockerfile installs (tests/test_dockerfile.py checks its line): two extras
    install = pip_install(python, [f"{src}[metrics,postgres]"], tmp_path)
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
    metrics = _run(  # metrics_port and a postgresql:// db_url work: the config accepts them
        [
            python,
            "-c",
            "import bot.discord.metrics, bot.storage.postgres; "
            "from bot.config import Secret, Settings, check; "
            "print(check(Settings(metrics_port=9100, db_url=Secret('postgresql://u@h/db'))))",
        ],
        work,
        60,
    )
    assert (metrics.returncode, metrics.stdout.strip()) == (0, "[]"), metrics.stderr[-3000:]

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
