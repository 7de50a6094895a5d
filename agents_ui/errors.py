"""Every error leaves as JSON with a clear message: {"error": code, "message": text}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import HubError
from hub.ports import RejectedMessage

logger = logging.getLogger(__name__)


# On every API answer: a browser must not guess another type for it (a JSON body holding customer
# text rendered as HTML), and nothing may keep a copy of it (it holds customers' data).
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": code, "message": message, **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse(
            error_body("invalid", "; ".join(problems) or "invalid request", details=problems), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RejectedMessage)
    async def _rejected(_: Request, exc: RejectedMessage) -> JSONResponse:
        return JSONResponse(error_body("invalid", str(exc)), status_code=422)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the client sent: on PostgreSQL a number beyond the column's
        # range or a NUL character in text, on SQLite an integer beyond 64 bits. That is bad input,
        # not a crash; the transaction was rolled back, so nothing was half-written.
        logger.info("refused a value the database cannot store: %s", exc.__class__.__name__)
        return JSONResponse(
            error_body("invalid", "a value in this request cannot be stored: a number is out of range "
                       "or a text contains a NUL character"),
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse(
            error_body("internal", "the hub hit an internal error; nothing was lost, try again"), status_code=500
        )
