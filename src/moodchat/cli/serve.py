"""``moodchat serve``: run the HTTP service (FastAPI on uvicorn).

Contract: the command's options are generated from ``ServerSettings`` (one ``--flag`` per
field, its description as help); a flag that is given overrides the ``MOODCHAT_*``
environment variable, which overrides the default. It builds ``create_app(settings)`` and
hands it to ``uvicorn.run``; the model loads in the background (``/healthz`` says when).
With ``--ray`` it deploys the same app as model replicas on Ray Serve instead
(``moodchat.scale.serve``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable

import click

from moodchat.cli.base import main, user_errors
from moodchat.server.settings import UVICORN_IO, ServerSettings, default_text


def _click_type(annotation) -> tuple[object, bool]:
    """(click type, is_flag) for a settings field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _click_type(args[0])
    if origin is typing.Literal:
        return click.Choice([str(a) for a in args]), False
    if annotation is bool:
        return bool, True
    return {int: int, float: float}.get(annotation, str), False


def settings_options(fn: Callable) -> Callable:
    """One click option per ``ServerSettings`` field (default None: not given)."""
    for name, field in reversed(list(ServerSettings.model_fields.items())):
        kind, is_flag = _click_type(field.annotation)
        flag = name.replace("_", "-")
        default = default_text(field) and f" [default: {default_text(field)}]"
        help_text = f"{field.description}{default} (env MOODCHAT_{name.upper()})"
        decls = [f"--{flag}/--no-{flag}"] if is_flag else [f"--{flag}"]
        fn = click.option(
            *decls, name, type=None if is_flag else kind, default=None, help=help_text
        )(fn)
    return fn


@main.command()
@settings_options
@user_errors
def serve(**flags) -> None:
    """Serve the sentiment + empathetic reply API over HTTP (OpenAI-compatible too)."""
    import uvicorn
    from pydantic import ValidationError

    from moodchat.engine.hardware import limit_malloc_arenas
    from moodchat.server import create_app

    limit_malloc_arenas()  # before the server's threads exist: ~18 MiB less peak RSS
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = ServerSettings(**given)
    except ValidationError as err:
        raise click.UsageError(_settings_error(err)) from None
    if settings.ray:
        _serve_on_ray(settings)
        return
    app = create_app(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, **UVICORN_IO
    )


def _serve_on_ray(settings: ServerSettings) -> None:
    try:
        from moodchat.scale.serve import serve_on_ray
    except ImportError as err:
        raise click.UsageError(
            f"--ray needs the ray extra (pip install 'moodchat[ray]'): {err}"
        ) from None
    serve_on_ray(settings)


def _settings_error(err) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"invalid setting {where}: {first.get('msg')}"
