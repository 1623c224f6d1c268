"""Shared fixtures: where the real clips live, and small generated audio."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_data_dir() -> pathlib.Path:
    """../shared/data beside the checkout, or $KWS_SHARED_DATA. Missing is an error, never a skip."""
    path = pathlib.Path(os.environ.get("KWS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "speech_commands_test_v0.02_dev").is_dir():
        raise RuntimeError(f"real test data not found at {path}: the tests need ../shared/data "
                           "beside the checkout (or KWS_SHARED_DATA pointing at it)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    return shared_data_dir()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
