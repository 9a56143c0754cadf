"""``nerflow serve``: NER model folders behind HTTP, loaded once, concurrent requests batched.

Routes: ``POST /predict`` (one text or a list, JSON in and out, ``nerflow predict``'s
records), ``GET /health`` (the models, their entity types, the limits and batching
counters) and ``GET /`` (a self-contained page that highlights entities by type).

The server library is aiohttp: a maintained asyncio HTTP server (aio-libs, releases
every few months, a C-accelerated HTTP parser) in one package with no ASGI server beside
it. Its ``client_max_size`` bounds every body before it is read (413), and its
``AppRunner``/``SockSite`` serve a socket we bind ourselves, so ``--port 0`` works and the
address is known before the first request. FastAPI or Starlette would need uvicorn as
well for the same three routes; none of their extras (validation models, OpenAPI) is
used here.

Batching: each request's texts go into an asyncio queue; one worker takes every queued
request (those that arrived while the model ran the previous call) and those arriving
within ``batch_wait_ms`` more (default 0, see :class:`~nerflow.serving.settings.Batching`),
up to ``max_batch_texts`` texts, and runs ONE :func:`nerflow.inference.annotate.annotate`
call for all of them in a worker thread (inference blocks; one thread, so requests never
compete for the CPU cores). Without batching the worker runs one call per request.

Every error reaches the client as JSON ``{"error": "..."}`` with a 4xx status (5xx for a
failure of the model itself, logged with its traceback on the server, never sent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from nerflow.data.user_texts import InputText
from nerflow.errors import UserError
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.serving.batching import Annotator, Batcher
from nerflow.serving.requests import RequestError, parse_request
from nerflow.serving.settings import Batching, Limits

LOG = logging.getLogger("nerflow.serve")


class ServeError(ValueError, UserError):
    """A model folder the server cannot serve, or an address it cannot listen on (exit
    code 2, one line)."""


# --------------------------------------------------------------------------- application


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(
        obj, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False)
    )


def _json_errors(limits: Limits) -> Any:
    """A middleware: every error as JSON ``{"error": ...}``; a traceback only in the
    server's log."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as error:
            return _json({"error": str(error)}, error.status)
        except web.HTTPRequestEntityTooLarge:
            message = f"the body is larger than the limit of {limits.max_body_bytes} bytes"
            return _json({"error": message}, 413)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            message = f"{error.reason}: {request.method} {request.path}"
            response = _json({"error": message}, error.status)
            if "Allow" in error.headers:  # 405: the methods the route takes
                response.headers["Allow"] = error.headers["Allow"]
            return response
        except asyncio.CancelledError:
            raise
        except Exception:
            LOG.exception("%s %s failed", request.method, request.path)
            message = "internal error: the prediction failed (see the server log)"
            return _json({"error": message}, 500)

    return middleware


PAGE = "page.html"


def create_app(
    annotator: Annotator,
    info: dict[str, Any],
    limits: Limits = Limits(),  # noqa: B008 (frozen)
    batching: Batching = Batching(),  # noqa: B008 (frozen)
) -> web.Application:
    """The application: ``annotator`` behind :class:`Batcher`; ``info`` (models, entity
    types) is shown by ``/health`` and the page."""
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[_json_errors(limits)])
    batcher = Batcher(annotator, batching)
    page = resources.files("nerflow.serving").joinpath(PAGE).read_text(encoding="utf-8")

    async def predict(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > limits.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limits.max_body_bytes, actual_size=request.content_length
            )
        texts, single = parse_request(await request.read(), limits)
        outputs = await batcher.submit(texts)
        return _json(outputs[0] if single else outputs)

    async def health(_request: web.Request) -> web.Response:
        return _json(
            {
                "status": "ok",
                **info,
                "limits": asdict(limits),
                "batching": asdict(batching),
                "counters": asdict(batcher.counters),
            }
        )

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def lifecycle(_app: web.Application):  # type: ignore[no-untyped-def]
        await batcher.start()
        yield
        await batcher.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/predict", predict)
    app.router.add_get("/health", health)
    app.router.add_get("/", index)
    return app


# --------------------------------------------------------------------------- models


def model_annotator(
    model_dirs: Sequence[str | Path],
    device: str = "auto",
    max_len: int | None = None,
    stride: int | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
    min_votes: int | None = None,
    threads: int | None = None,
) -> tuple[Annotator, dict[str, Any]]:
    """NER model folders loaded once (several: an ensemble; PyTorch or exported folders,
    :func:`nerflow.inference.annotate.load_predictors`), as an :data:`Annotator`, and what
    ``/health`` says of them. A folder of another task is a :class:`ServeError`."""
    from nerflow.inference.annotate import annotate, load_predictors
    from nerflow.tasks.registry import task_of_folder
    from nerflow.text.tagging import label_types

    for folder in model_dirs:
        if not Path(folder).is_dir():
            raise ServeError(f"{folder}: no such model folder")
        task = task_of_folder(folder)
        if task.name != "ner":
            raise ServeError(
                f"{folder}: a {task.name} model folder; nerflow serve serves NER model "
                "folders (use nerflow predict for this one)"
            )
    predictors = load_predictors(model_dirs, device, max_len, stride, threads)

    def annotator(texts: list[InputText]) -> list[dict[str, Any]]:
        return list(annotate(predictors, texts, batch_size=batch_size, min_votes=min_votes))

    info = {"task": "ner", "models": [str(folder) for folder in model_dirs]}
    return annotator, {**info, "types": label_types(predictors[0].labels)}


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(app: web.Application, sock: socket.socket, ready: Callable[[str], Any]) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        ready(url_of(sock))
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def serve(
    app: web.Application, sock: socket.socket, ready: Callable[[str], Any] | None = None
) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C, SIGTERM); ``ready(url)`` is
    called once it accepts requests (default: a line on stderr)."""

    def announce(url: str) -> None:
        print(f"nerflow serve: listening on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)

    logging.basicConfig(level=logging.INFO, format="nerflow serve: %(levelname)s %(message)s")
    asyncio.run(_serve(app, sock, ready or announce))
    print("nerflow serve: stopped", file=sys.stderr, flush=True)
