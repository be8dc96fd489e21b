"""Session-store fixtures: every backend-agnostic store test runs on SQLite and PostgreSQL.

``postgres`` (tests/conftest.py): one throwaway PostgreSQL server for the test session.
``make_store``: opens a store of the parametrized backend on one database per test; call
it again to reopen the same database (a restart), with ``rule`` / ``on_escalate``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_store(backend, request, tmp_path):
    opened = []
    if backend == "sqlite":
        from moodchat.sessions.store import SqliteSessionStore

        path = tmp_path / "db" / "moodchat.db"

        def opener(**kw):
            return SqliteSessionStore(path, **kw)
    else:
        from moodchat.sessions.postgres import PostgresSessionStore

        url = request.getfixturevalue("postgres").new_database()

        def opener(**kw):
            return PostgresSessionStore(url, **kw)

    def make(**kw):
        store = opener(**kw)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
