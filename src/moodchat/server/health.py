"""Operations endpoints: ``GET /healthz`` and ``GET /metrics``.

Contract: ``/healthz`` needs no API key and answers 200 ``{"status": "ok", ...}`` only
once the model is loaded and warmed; before that 503 ``{"status": "loading"}`` and after
a failed load 503 ``{"status": "failed", "error": ...}`` (both with Retry-After).
``/metrics`` is the Prometheus text format of ``moodchat.server.metrics``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from moodchat.server.state import server_state

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 once the model is ready to answer, else 503."""
    state = server_state(request)
    if state.assistant is not None:
        gates = state.gates
        return JSONResponse(
            {
                "status": "ok",
                "chat": {"active": gates["chat"].active, "waiting": gates["chat"].waiting},
                "sentiment": {
                    "active": gates["sentiment"].active,
                    "waiting": gates["sentiment"].waiting,
                },
            }
        )
    body = (
        {"status": "failed", "error": state.load_error}
        if state.load_error
        else {"status": "loading"}
    )
    retry = str(state.settings.retry_after_s)
    return JSONResponse(body, status_code=503, headers={"Retry-After": retry})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    data, content_type = server_state(request).metrics.render()
    return Response(data, media_type=content_type)
