"""Error answers: every failure leaves the server as ``{"error": {...}}`` JSON.

Contract: ``ApiError`` is what routes raise on purpose (status, code, message, optional
Retry-After). ``install_error_handlers(app)`` maps ``ApiError``, ``MoodchatError``
(``InputError`` -> 422), request validation (bad JSON or invalid UTF-8 -> 400, wrong
shape or types -> 422), Starlette HTTP errors (404, 405, ...) and anything unexpected
(500, logged, no traceback in the body) to the same shape, which is also OpenAI's:
``{"error": {"message", "type", "code", "param"}}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from moodchat.errors import InputError, MoodchatError
from moodchat.server.state import server_state

log = logging.getLogger("moodchat.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error answer a route chooses to give."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.param = param

    def body(self) -> dict:
        """The JSON body of this error."""
        return error_body(self.status, self.code, self.message, self.param)


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict:
    """``{"error": {...}}`` for a status, code and message."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def error_response(err: ApiError) -> JSONResponse:
    """A JSON response for ``err`` with its Retry-After header when it has one."""
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def from_moodchat_error(err: MoodchatError, retry_after: int) -> ApiError:
    """The HTTP answer for a ``MoodchatError`` raised by the model layer."""
    if isinstance(err, InputError):
        return ApiError(422, err.code, str(err))
    return ApiError(503, err.code, str(err), retry_after=retry_after)


def _validation_error(exc: RequestValidationError) -> ApiError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    where = ".".join(loc) or "body"
    if kind in ("json_invalid", "json_type") or "decode" in kind:
        return ApiError(400, "invalid_json", f"request body is not valid JSON: {first.get('msg')}")
    msg = first.get("msg", "invalid request")
    if not loc and kind == "missing":
        return ApiError(422, "invalid_body", "request body is empty: send a JSON object")
    if not loc:
        msg = f"{msg} (send a JSON object with Content-Type: application/json)"
    return ApiError(422, "invalid_body", f"{where}: {msg}", param=where if loc else None)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the ``{"error": ...}`` shape."""
    retry = server_state(app).settings.retry_after_s

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(MoodchatError)
    async def _moodchat(_: Request, exc: MoodchatError) -> JSONResponse:
        return error_response(from_moodchat_error(exc, retry))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        err = ApiError(exc.status_code, code, str(exc.detail))
        response = error_response(err)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(ApiError(500, "internal_error", "internal server error"))
