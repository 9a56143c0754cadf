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
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from nerflow.data.records import Record
from nerflow.data.user_texts import InputError, InputText, input_text
from nerflow.errors import UserError
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.serving.settings import Batching, Limits

LOG = logging.getLogger("nerflow.serve")

Annotator = Callable[[list[InputText]], list[dict[str, Any]]]
"""Blocking: the output objects of ``texts`` (:meth:`InputText.output`), in order."""


class ServeError(ValueError, UserError):
    """A model folder the server cannot serve, or an address it cannot listen on (exit
    code 2, one line)."""


class RequestError(Exception):
    """A request the server refuses: its HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- requests


def _kind(value: Any) -> str:
    """What a JSON value is, in words: ``a number``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {int: "a number", float: "a number", str: "a string", list: "a list"}
    return kinds.get(type(value), "an object")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_request(body: bytes, limits: Limits) -> tuple[list[InputText], bool]:
    """The texts of a ``/predict`` body and whether it held one text (``{"text": ...}``,
    other fields kept, id 0 unless given) rather than a list (``{"texts": [...]}``: strings,
    or objects with a string ``text``; ids default to their index), as ``nerflow predict``
    reads JSON lines. Raises :class:`RequestError` (400 or 413)."""
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
        json.dumps(obj, ensure_ascii=False).encode("utf-8")  # what the answer will hold
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8") from None
    except UnicodeEncodeError:
        raise RequestError(400, "the body holds a lone surrogate (\\ud800-\\udfff)") from None
    except json.JSONDecodeError as error:
        raise RequestError(400, f"the body is not JSON: {error.msg} at char {error.pos}") from None
    except RecursionError:
        raise RequestError(400, "the body is not JSON: nested too deeply") from None
    except ValueError as error:
        raise RequestError(400, f"the body is not JSON: {error}") from None
    usage = "the body must be a JSON object with 'text' (a string) or 'texts' (a list)"
    if not isinstance(obj, dict):
        raise RequestError(400, f"{usage}, not {_kind(obj)}")
    if "text" in obj and "texts" in obj:
        raise RequestError(400, f"{usage}, not both")
    if "texts" in obj:
        items = obj["texts"]
        if not isinstance(items, list):
            raise RequestError(400, f"'texts' must be a list, not {_kind(items)}")
        if len(items) > limits.max_texts:
            raise RequestError(
                413, f"{len(items)} texts in one request; the limit is {limits.max_texts}"
            )
        texts = [_item(item, index) for index, item in enumerate(items)]
        single = False
    elif "text" in obj:
        if not isinstance(obj["text"], str):
            raise RequestError(400, f"'text' must be a string, not {_kind(obj['text'])}")
        texts = [_checked(obj, 1, "the body")]
        single = True
    else:
        raise RequestError(400, f"missing field 'text' or 'texts': {usage}")
    for index, text in enumerate(texts):
        if len(text.record.text) > limits.max_text_chars:
            where = "'text'" if single else f"texts[{index}]"
            raise RequestError(
                413,
                f"{where}: {len(text.record.text)} characters; the limit is "
                f"{limits.max_text_chars} per text",
            )
    return texts, single


def _item(item: Any, index: int) -> InputText:
    where = f"texts[{index}]"
    if isinstance(item, str):
        return InputText(index + 1, {"text": item}, Record(id=index, text=item))
    if isinstance(item, dict) and "text" in item and not isinstance(item["text"], str):
        raise RequestError(400, f"{where}: 'text' must be a string, not {_kind(item['text'])}")
    if not isinstance(item, dict):
        what = "a string or an object with a string 'text'"
        raise RequestError(400, f"{where}: must be {what}, not {_kind(item)}")
    return _checked(item, index + 1, where)


def _checked(obj: dict[str, Any], number: int, where: str) -> InputText:
    try:
        return input_text(obj, number, where)
    except InputError as error:
        raise RequestError(400, str(error)) from None


# --------------------------------------------------------------------------- batching


@dataclass
class _Job:
    texts: list[InputText]
    future: asyncio.Future[list[dict[str, Any]]]


@dataclass
class Counters:
    """What the server did since it started (``/health``)."""

    requests: int = 0
    texts: int = 0
    model_calls: int = 0
    failed_calls: int = 0
    largest_call: int = 0


@dataclass
class Batcher:
    """The queue between request handlers and the model (see the module docstring)."""

    annotator: Annotator
    batching: Batching
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nerflow-model")
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[InputText]) -> list[dict[str, Any]]:
        """The output objects of ``texts``, once a model call that holds them is done."""
        self.counters.requests += 1
        self.counters.texts += len(texts)
        if not texts:
            return []
        job = _Job(texts, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        carried: _Job | None = None
        while True:
            first = carried if carried is not None else await self._queue.get()
            carried = None
            jobs, count = [first], len(first.texts)
            if self.batching.enabled:
                deadline = time.monotonic() + self.batching.wait_ms / 1000
                while count < self.batching.max_texts:
                    job = await self._next(deadline)
                    if job is None:
                        break
                    if count + len(job.texts) > self.batching.max_texts:
                        carried = job  # the first of the next call
                        break
                    jobs.append(job)
                    count += len(job.texts)
            await self._call([job for job in jobs if not job.future.done()])

    async def _next(self, deadline: float) -> _Job | None:
        """The next queued job, waiting until ``deadline`` at most."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), remaining)
        except TimeoutError:
            return None

    async def _call(self, jobs: list[_Job]) -> None:
        """One model call for ``jobs``; if it fails, each job alone (so one bad request
        fails only itself)."""
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        loop = asyncio.get_running_loop()
        self.counters.model_calls += 1
        self.counters.largest_call = max(self.counters.largest_call, len(texts))
        try:
            outputs = await loop.run_in_executor(self._executor, self.annotator, texts)
        except Exception as error:
            self.counters.failed_calls += 1
            if len(jobs) > 1:
                for job in jobs:
                    await self._call([job])
                return
            LOG.exception("prediction failed on %d text(s)", len(texts))
            if not jobs[0].future.done():
                jobs[0].future.set_exception(error)
            return
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            if not job.future.done():  # a client that left is not answered
                job.future.set_result(outputs[start:end])
            start = end


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
