"""Settings: one class feeds env vars, CLI flags and docs; ``moodchat serve`` is thin."""

from __future__ import annotations

from click.testing import CliRunner

from moodchat.cli import main
from moodchat.server.settings import ServerSettings, settings_table
from moodchat.server.state import server_state


def test_defaults():
    s = ServerSettings()
    assert (s.host, s.port, s.api_key, s.max_tokens) == ("127.0.0.1", 8000, None, 128)


def test_parallel_is_sized_for_the_machine_and_reaches_the_engine(monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert ServerSettings().parallel == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert ServerSettings().parallel == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert ServerSettings().parallel == 2
    monkeypatch.setenv("MOODCHAT_PARALLEL", "3")
    assert ServerSettings().parallel == 3 and ServerSettings().options().parallel == 3
    assert "`min(4, max(2, CPU count))`" in settings_table()
    result = CliRunner().invoke(main, ["serve", "--parallel", "5"])
    assert result.exit_code == 2 and "parallel" in result.output


def test_the_chat_gate_admits_parallel_replies(make_app):
    gate = server_state(make_app(parallel=3, max_queue=1)).gates["chat"]
    assert (gate.limit, gate.queue) == (3, 1)


def test_env_vars_are_read(monkeypatch):
    monkeypatch.setenv("MOODCHAT_PORT", "9001")
    monkeypatch.setenv("MOODCHAT_API_KEY", "k")
    monkeypatch.setenv("MOODCHAT_MAX_QUEUE", "3")
    s = ServerSettings()
    assert (s.port, s.api_key, s.max_queue) == (9001, "k", 3)
    assert ServerSettings(port=9002).port == 9002  # explicit values win


def test_every_field_is_documented():
    for name, field in ServerSettings.model_fields.items():
        assert field.description, name
    table = settings_table()
    assert "`--max-body-bytes`" in table and "`MOODCHAT_REQUEST_TIMEOUT_S`" in table


def test_serve_help_lists_every_setting():
    out = CliRunner().invoke(main, ["serve", "--help"]).output
    for name in ServerSettings.model_fields:
        assert "--" + name.replace("_", "-") in out, name


def test_serve_feeds_flags_over_env_into_the_app(monkeypatch):
    import uvicorn

    seen = {}

    def fake_run(app, host, port, log_level, http, loop):
        seen.update(app=app, host=host, port=port, http=http, loop=loop)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("MOODCHAT_MAX_QUEUE", "5")
    monkeypatch.setenv("MOODCHAT_PORT", "1234")
    monkeypatch.setenv("MOODCHAT_DB_PATH", ":memory:")
    result = CliRunner().invoke(
        main, ["serve", "--port", "8123", "--api-key", "abc", "--no-auto-pull"]
    )
    assert result.exit_code == 0, result.output
    settings = server_state(seen["app"]).settings
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert (seen["http"], seen["loop"]) == ("h11", "asyncio")  # not uvloop/httptools
    assert (settings.api_key, settings.max_queue, settings.auto_pull) == ("abc", 5, False)


def test_serve_refuses_bad_values():
    result = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and "port" in result.output
    result = CliRunner().invoke(main, ["serve", "--backend", "tpu"])
    assert result.exit_code == 2


def test_model_settings_become_the_one_load_recipe(monkeypatch):
    monkeypatch.setenv("MOODCHAT_SENTIMENT_PROMPT", "v4-fewshot")
    s = ServerSettings(model="m.gguf", threads=2, chat_prompt="v3-friend", sentiment_adapter="none")
    options = s.options()
    assert (options.model, options.backend, options.threads, options.auto_pull) == (
        "m.gguf",
        "llama",
        2,
        True,
    )
    assert options.roles.sentiment_prompt == "v4-fewshot"  # from the environment
    assert options.roles.chat_prompt == "v3-friend" and options.roles.sentiment_adapter == "none"
