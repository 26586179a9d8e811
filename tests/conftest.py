"""Shared fixtures: tiny trained-and-exported models for every product."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_corpora import build_tiny_models
from training.random_model import export_random_model

# the request-log database fixtures (``db``: each storage test on SQLite and on PostgreSQL);
# the corpus fetch's fixture sources and their local server (``sources``, ``server``)
pytest_plugins = ["tests.storage_db", "tests.corpus_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS = REPO_ROOT / "exported_models"


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lovecraft, poems, names, fables: .onnx + .json + artefacts, trained for seconds."""
    prebuilt = os.environ.get("LSTM_TINY_MODELS")
    if prebuilt:  # built once by bench/mutation.py for its thousands of test sessions
        return Path(prebuilt)
    return build_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def bard_and_lore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-weight models exported in a moment: 'bard' (character level, with an accepted
    int8 copy) and 'lore' (word level), for tests of what loads them rather than their text."""
    directory = tmp_path_factory.mktemp("models")
    export_random_model(directory, "bard", int8=True)
    export_random_model(directory, "lore", level="word")
    return directory
