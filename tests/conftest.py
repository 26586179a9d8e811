"""Shared fixtures: tiny trained-and-exported models for every product."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_corpora import build_tiny_models

# the request-log database fixtures (``db``: each storage test on SQLite and on PostgreSQL)
pytest_plugins = ["tests.storage_db"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS = REPO_ROOT / "exported_models"


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lovecraft, poems, names, fables: .onnx + .json + artefacts, trained for seconds."""
    prebuilt = os.environ.get("LSTM_TINY_MODELS")
    if prebuilt:  # built once by bench/mutation.py for its thousands of test sessions
        return Path(prebuilt)
    return build_tiny_models(tmp_path_factory.mktemp("tiny"))
