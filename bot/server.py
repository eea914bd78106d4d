"""The one aiohttp server every route is served by, API on or off: request ids, the access log, the body limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from adapters.http import REQUEST_ID, REQUEST_ID_HEADER, HttpApi, HttpConfig, create_api
from adapters.web import WebPages, loggable_path
from engine import InterviewEngine, SessionView

logger = logging.getLogger(__name__)

# A client may pass its own request id for tracing; anything else gets a fresh one.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def create_app(
    engine: InterviewEngine,
    config: HttpConfig,
    *,
    version: str,
    routes: Iterable[web.RouteDef] = (),
    pages: WebPages | None = None,
    report_url: Callable[[SessionView], str | None] | None = None,
) -> web.Application:
    """The server `run` serves: the interview API unless [http] enabled is false, the web pages, and the chat
    adapters' routes. `report_url` makes the report's private link for the API's report responses."""
    api = create_api(engine, config, version=version, report_url=report_url) if config.enabled else None
    return create_server(config, routes=routes, api=api, pages=pages)


def create_server(
    config: HttpConfig,
    *,
    routes: Iterable[web.RouteDef] = (),
    api: HttpApi | None = None,
    pages: WebPages | None = None,
) -> web.Application:
    """The root application: request ids, the access log and the body limit around `routes`, the `api` and the web
    `pages`."""
    middlewares: list[Middleware] = [request_context_middleware]
    if api is not None:
        # Inside the request context, so its error bodies carry the id and the log line their status; outside the
        # body limit, so a refused body gets the API's JSON 413.
        middlewares.append(api.error_middleware)
    if pages is not None:
        # Inside the API's error middleware, so a page's 404 is the pages' own, not the API's JSON.
        middlewares.append(pages.middleware)
    middlewares.append(body_limit_middleware)
    # client_max_size bounds request.read(), .post() and .json() on every route; streaming readers count for themselves.
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=middlewares)
    app.on_response_prepare.append(_echo_request_id)
    if api is not None:
        app.add_subapp(api.mount, api.app)
        app.router.add_routes(api.routes)
    if pages is not None:
        app.router.add_routes(pages.routes())
    app.router.add_routes(routes)
    return app


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its id and log one line when it is done: id, method, path, status, time."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request[REQUEST_ID] = incoming if CLIENT_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    started = time.perf_counter()
    status = 500  # what aiohttp answers for any other exception
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # raised, it is the response aiohttp sends
        _close_if_body_held_back(request, exc)
        status = exc.status
        raise
    else:
        _close_if_body_held_back(request, response)
        status = response.status
        return response
    finally:
        logger.info(
            "request_id=%s %s %s -> %d %.1fms",
            request[REQUEST_ID],
            request.method,
            _printable(loggable_path(request.path)),
            status,
            (time.perf_counter() - started) * 1000,
        )


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a body declared over the limit before any of it is read; client_max_size catches undeclared ones."""
    declared = request.content_length
    if declared is not None and declared > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=request.client_max_size, actual_size=declared)
    return await handler(request)


def _close_if_body_held_back(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 413 and request.headers.get(hdrs.EXPECT) and not response.prepared:
        # The client holds its body back for a 100 Continue it will not get: tell it to close the connection, so
        # the server neither waits for that body nor takes a next request for it.
        response.force_close()


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


def _printable(text: str) -> str:
    """`text` with backslashes and non-printable characters escaped, so a decoded %0A cannot forge a log line."""
    return "".join(ch if ch.isprintable() and ch != "\\" else ascii(ch)[1:-1] for ch in text)
