"""``moodchat serve --ray``: the same HTTP service with N model replicas on Ray Serve.

Contract:
- ``moodchat_application(settings)`` builds one Serve application of two deployments:
  ``MoodchatModel``, the replicas, each a normal moodchat server (``create_app``) around
  its own loaded ``Assistant`` with ``settings.threads`` threads (default 1 here), that
  many CPUs reserved,
  and its ``--parallel`` sequences; and ``MoodchatFront``, the HTTP ingress, which holds no
  model and relays every request to a replica through a streaming handle call
  (``moodchat.scale.forward``). So the routes, SSE order, OpenAI compatibility, API key,
  limits, sessions and metrics are the plain server's, answered by whichever replica the
  request lands on (``/metrics`` is that replica's).
- A replica is ready only once its model is loaded (it loads in the constructor), so no
  request reaches one that is still loading. It runs its app's own lifespan, so when
  Serve stops it the webhook is flushed and the session store closed, then the model is
  freed. A replica that dies is replaced by Serve; its
  in-flight requests end cleanly: a JSON 503 ``replica_unavailable`` before the answer
  started, an error event in a stream that had (the front's contract).
- Replicas: ``settings.replicas`` fixed, or, with ``settings.max_replicas`` above it,
  autoscaled between the two with ``parallel`` ongoing requests as each replica's target.
  Each replica takes up to ``parallel + max_queue + max_sentiment_concurrency +
  max_sentiment_queue`` requests at once, so its own gates still give the 429s.
- Sessions are per-replica stores unless shared: with more than one replica, give
  ``database_url`` (PostgreSQL) or a ``db_path`` every replica can open (one machine).
- ``serve_on_ray(settings)`` joins or starts the cluster (``settings.ray_address``), starts
  Serve's HTTP proxy on ``host:port``, deploys the application and blocks until
  interrupted, then deletes the application. Importing this module imports Ray; nothing in
  the serving path imports it.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from ray import serve

from moodchat.scale.forward import FrontApp, run_asgi
from moodchat.server.settings import ServerSettings

log = logging.getLogger("moodchat.scale")

APP_NAME = "moodchat"
MODEL_DEPLOYMENT = "MoodchatModel"
FRONT_DEPLOYMENT = "MoodchatFront"
FRONT_MAX_ONGOING = 10_000  # the front only relays; the replicas' gates bound the work
REPLICA_HEADER = b"x-moodchat-replica"


class ModelReplica:
    """One Serve replica: a loaded ``Assistant`` behind the plain moodchat app."""

    async def __init__(self, settings: dict) -> None:
        from moodchat.assistant import Assistant
        from moodchat.engine.hardware import limit_malloc_arenas
        from moodchat.server import create_app

        limit_malloc_arenas()
        self.settings = ServerSettings(**settings)
        self._resources = AsyncExitStack()
        bot = Assistant.load(self.settings.options())
        self._resources.callback(bot.close)
        self.app = create_app(self.settings, assistant=bot)
        # the app's own lifespan: at shutdown it flushes the webhook and closes the sessions
        await self._resources.enter_async_context(self.app.router.lifespan_context(self.app))
        self.replica_id = serve.get_replica_context().replica_id.to_full_id_str()

    async def handle(self, record: dict) -> AsyncIterator[dict]:
        """Run one relayed request; yield its ASGI messages (see ``forward.run_asgi``)."""
        async for message in run_asgi(self.app, record):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (REPLICA_HEADER, self.replica_id.encode())]
                message = {**message, "headers": headers}
            yield message

    async def __del__(self) -> None:
        """Serve's shutdown of the replica: the app's lifespan ends, then the model is freed."""
        await self._resources.aclose()


class Front:
    """The HTTP ingress: relays each request to a model replica (``forward.FrontApp``)."""

    def __init__(self, model, max_body_bytes: int, retry_after_s: int) -> None:
        self.streaming = model.options(stream=True)
        self.limits = (max_body_bytes, retry_after_s)

    def __serve_build_asgi_app__(self) -> FrontApp:
        # called by Serve on each front replica, after the constructor
        return FrontApp(self._open_stream, *self.limits)

    def _open_stream(self, record: dict):
        return self.streaming.handle.remote(record)


def replica_options(settings: ServerSettings) -> dict:
    """The ``serve.deployment`` options of the model replicas."""
    per_replica = (
        settings.parallel + settings.max_queue
        + settings.max_sentiment_concurrency + settings.max_sentiment_queue
    )  # fmt: skip
    options: dict = {
        "name": MODEL_DEPLOYMENT,
        "ray_actor_options": {"num_cpus": settings.threads},
        "max_ongoing_requests": per_replica,
        "health_check_period_s": 2,
        "graceful_shutdown_timeout_s": 5,
    }
    if settings.max_replicas and settings.max_replicas > settings.replicas:
        options["autoscaling_config"] = {
            "min_replicas": settings.replicas,
            "max_replicas": settings.max_replicas,
            "target_ongoing_requests": settings.parallel,
        }
    else:
        options["num_replicas"] = settings.replicas
    return options


def moodchat_application(settings: ServerSettings):
    """The Serve application: the model replicas and the relaying front."""
    settings = settings.model_copy(update={"threads": settings.threads or 1})
    model = serve.deployment(ModelReplica).options(**replica_options(settings))
    front = serve.deployment(serve.ingress()(Front)).options(
        name=FRONT_DEPLOYMENT,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=FRONT_MAX_ONGOING,
    )
    limits = (settings.max_body_bytes, settings.retry_after_s)
    return front.bind(model.bind(settings.model_dump()), *limits)


def start_serve(settings: ServerSettings) -> None:
    """Join or start the cluster, start Serve's proxy on host:port, deploy, wait for ready."""
    import ray

    ray.init(address=settings.ray_address, ignore_reinit_error=True, log_to_driver=False)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(moodchat_application(settings), name=APP_NAME, route_prefix="/")


def serve_on_ray(settings: ServerSettings) -> None:
    """Serve until interrupted (``moodchat serve --ray``); SIGTERM stops it like Ctrl-C."""
    import ray

    if settings.replicas > 1 and not settings.database_url:
        log.warning(
            "%d replicas keep sessions in SQLite at db_path: shared on one machine only; "
            "give --database-url to share them across machines",
            settings.replicas,
        )
    signal.signal(signal.SIGTERM, _interrupt)
    start_serve(settings)
    log.warning("moodchat on Ray Serve at http://%s:%d", settings.host, settings.port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP_NAME)
        serve.shutdown()
        ray.shutdown()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
