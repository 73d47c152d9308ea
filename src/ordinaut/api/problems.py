"""problem+json (RFC 9457) for every error, mapped in this one place."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ordinaut.core.errors import OrdinautError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("ordinaut.api")


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://ordinaut.dev/problems/{code or status}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": getattr(request.state, "request_id", None),
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [part for part in err.get("loc", ()) if part not in ("function-after",)]
        msg = str(err.get("msg", "invalid"))
        out.append({"loc": loc, "msg": msg, "type": err.get("type")})
    return out


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrdinautError)
    async def _domain(request: Request, exc: OrdinautError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request.failed", code=exc.code, error=exc.message)
        headers: dict[str, str] | None = getattr(exc, "headers", None)
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return problem_response(
            request,
            exc.status,
            exc.title,
            exc.message,
            [e.as_dict() for e in exc.errors],
            exc.code,
            headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return problem_response(request, 422, "Validation failed", detail, errors, "invalid_input")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {
            404: "Not found",
            405: "Method not allowed",
            413: "Payload too large",
            429: "Too many requests",
        }.get(exc.status_code, "Error")
        return problem_response(
            request, exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.crashed", error=repr(exc))
        return problem_response(
            request, 500, "Internal error", "an unexpected error occurred; see the server log"
        )
